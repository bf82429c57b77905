/* test_config.c: environment table, durations, integers, booleans. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cx_config.h"
#include "cx_test.h"

static void test_durations(void)
{
    int64_t ms = -1;
    CX_CHECK_INT(cx_duration_parse("30s", &ms), CX_OK);
    CX_CHECK_INT(ms, 30000);
    CX_CHECK_INT(cx_duration_parse("15m", &ms), CX_OK);
    CX_CHECK_INT(ms, 900000);
    CX_CHECK_INT(cx_duration_parse("720h", &ms), CX_OK);
    CX_CHECK_INT(ms, 720LL * 3600 * 1000);
    CX_CHECK_INT(cx_duration_parse("1h30m", &ms), CX_OK);
    CX_CHECK_INT(ms, 5400000);
    CX_CHECK_INT(cx_duration_parse("250ms", &ms), CX_OK);
    CX_CHECK_INT(ms, 250);
    CX_CHECK_INT(cx_duration_parse("2d", &ms), CX_OK);
    CX_CHECK_INT(ms, 2 * 86400000LL);
    ms = 7;
    CX_CHECK_INT(cx_duration_parse("10", &ms), CX_ERR_CONFIG); /* bare number */
    CX_CHECK_INT(cx_duration_parse("10x", &ms), CX_ERR_CONFIG);
    CX_CHECK_INT(cx_duration_parse("-5s", &ms), CX_ERR_CONFIG);
    CX_CHECK_INT(cx_duration_parse("", &ms), CX_ERR_CONFIG);
    CX_CHECK_INT(cx_duration_parse("5 s", &ms), CX_ERR_CONFIG);
    CX_CHECK_INT(cx_duration_parse("s", &ms), CX_ERR_CONFIG);
    CX_CHECK_INT(cx_duration_parse("10mins", &ms), CX_ERR_CONFIG);
    CX_CHECK_INT(cx_duration_parse("99999999999999999999h", &ms), CX_ERR_CONFIG);
    CX_CHECK_INT(cx_duration_parse("9999999999999999h", &ms), CX_ERR_CONFIG);
    CX_CHECK_INT(ms, 7); /* untouched on error */
}

static void test_ints(void)
{
    int64_t v = 0;
    CX_CHECK_INT(cx_int_parse("42", &v), CX_OK);
    CX_CHECK_INT(v, 42);
    CX_CHECK_INT(cx_int_parse("-3", &v), CX_OK);
    CX_CHECK_INT(v, -3);
    CX_CHECK_INT(cx_int_parse("4x", &v), CX_ERR_CONFIG);
    CX_CHECK_INT(cx_int_parse(" 4", &v), CX_ERR_CONFIG);
    CX_CHECK_INT(cx_int_parse("99999999999999999999", &v), CX_ERR_CONFIG);
}

static char *s_url;
static int64_t s_ttl, s_n;
static bool s_flag;
static char *s_secret;
static const cx_cfg_var vars[] = {
    {"CXT_URL", CX_CFG_STRING, "nats://default", "url", &s_url, 0, 0, false},
    {"CXT_TTL", CX_CFG_DURATION, "10m", "ttl", &s_ttl, 1000, 3600000, false},
    {"CXT_N", CX_CFG_INT, "4", "n", &s_n, 1, 10, false},
    {"CXT_FLAG", CX_CFG_BOOL, "false", "flag", &s_flag, 0, 0, false},
    {"CXT_SECRET", CX_CFG_STRING, NULL, "required secret", &s_secret, 0, 0, true},
};

static void test_table(void)
{
    char err[256];
    unsetenv("CXT_URL");
    unsetenv("CXT_TTL");
    unsetenv("CXT_N");
    unsetenv("CXT_FLAG");
    unsetenv("CXT_SECRET");
    CX_CHECK_INT(cx_config_load(vars, 5, err, sizeof err), CX_ERR_CONFIG);
    CX_CHECK_STR(err, "CXT_SECRET: required but not set");

    setenv("CXT_SECRET", "hunter2-very-secret", 1);
    CX_CHECK_INT(cx_config_load(vars, 5, err, sizeof err), CX_OK);
    CX_CHECK_STR(s_url, "nats://default");
    CX_CHECK_INT(s_ttl, 600000);
    CX_CHECK_INT(s_n, 4);
    CX_CHECK(!s_flag);

    setenv("CXT_URL", "nats://a,nats://b", 1);
    setenv("CXT_FLAG", "yes", 1);
    CX_CHECK_INT(cx_config_load(vars, 5, err, sizeof err), CX_OK);
    CX_CHECK_STR(s_url, "nats://a,nats://b");
    CX_CHECK(s_flag);

    setenv("CXT_TTL", "10x", 1);
    CX_CHECK_INT(cx_config_load(vars, 5, err, sizeof err), CX_ERR_CONFIG);
    CX_CHECK(strstr(err, "CXT_TTL") == err);
    CX_CHECK(strstr(err, "not a duration") != NULL);
    setenv("CXT_TTL", "2h", 1);
    CX_CHECK_INT(cx_config_load(vars, 5, err, sizeof err), CX_ERR_CONFIG);
    CX_CHECK(strstr(err, "out of range") != NULL);
    setenv("CXT_TTL", "5m", 1);
    setenv("CXT_N", "11", 1);
    CX_CHECK_INT(cx_config_load(vars, 5, err, sizeof err), CX_ERR_CONFIG);
    CX_CHECK(strstr(err, "CXT_N: 11 is out of range") == err);
    setenv("CXT_N", "3", 1);
    setenv("CXT_FLAG", "maybe", 1);
    CX_CHECK_INT(cx_config_load(vars, 5, err, sizeof err), CX_ERR_CONFIG);
    CX_CHECK(strstr(err, "CXT_FLAG") == err);
    setenv("CXT_FLAG", "0", 1);
    CX_CHECK_INT(cx_config_load(vars, 5, err, sizeof err), CX_OK);
    /* a secret's value never shows up in an error message */
    CX_CHECK(strstr(err, "hunter2") == NULL);
    cx_config_free(vars, 5);
    CX_CHECK(s_url == NULL && s_secret == NULL);
}

/* NAME_FILE: the value comes from a file (mounted secret), one trailing
 * newline dropped; NAME and NAME_FILE together, or an unreadable file, fail. */
static void test_files(void)
{
    char path[] = "/tmp/cx-test-config-XXXXXX";
    int fd = mkstemp(path);
    CX_CHECK(fd >= 0);
    if (fd < 0)
        return;
    CX_CHECK_INT(write(fd, "s3cret from file\r\n", 18), 18);
    close(fd);
    static char *sec;
    static const cx_cfg_var vars[] = {
        {"CX_T_SECRET", CX_CFG_STRING, NULL, "a secret", &sec, 0, 0, true},
    };
    char err[256];
    unsetenv("CX_T_SECRET");
    setenv("CX_T_SECRET_FILE", path, 1);
    CX_CHECK_INT(cx_config_load(vars, 1, err, sizeof err), CX_OK);
    CX_CHECK_STR(sec, "s3cret from file");
    setenv("CX_T_SECRET", "direct", 1);
    CX_CHECK_INT(cx_config_load(vars, 1, err, sizeof err), CX_ERR_CONFIG);
    CX_CHECK(strstr(err, "not both") != NULL);
    unsetenv("CX_T_SECRET");
    setenv("CX_T_SECRET_FILE", "/nonexistent/secret", 1);
    CX_CHECK_INT(cx_config_load(vars, 1, err, sizeof err), CX_ERR_CONFIG);
    CX_CHECK(strstr(err, "CX_T_SECRET_FILE: cannot read") != NULL);
    unsetenv("CX_T_SECRET_FILE");
    cx_config_free(vars, 1);
    unlink(path);
}

int main(void)
{
    CX_RUN(test_durations);
    CX_RUN(test_ints);
    CX_RUN(test_table);
    CX_RUN(test_files);
    return CX_DONE();
}
