/* test_log_status.c: JSON log lines and the status table. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cx_log.h"
#include "cx_status.h"
#include "cx_test.h"
#include "cx_time.h"

static void test_log_line_is_json(void)
{
    char buf[1024];
    cx_log_init("auth", CX_LOG_DEBUG);
    int n = cx_log_format(buf, sizeof buf, CX_LOG_WARN, "req-\"1\"", "bad \"x\"\n\ttab \x01");
    CX_CHECK(n > 0);
    json_t *j = json_loads(buf, 0, NULL);
    CX_CHECK(j != NULL);
    CX_CHECK_STR(json_string_value(json_object_get(j, "level")), "warn");
    CX_CHECK_STR(json_string_value(json_object_get(j, "service")), "auth");
    CX_CHECK_STR(json_string_value(json_object_get(j, "request_id")), "req-\"1\"");
    CX_CHECK_STR(json_string_value(json_object_get(j, "msg")), "bad \"x\"\n\ttab \x01");
    CX_CHECK(json_string_length(json_object_get(j, "ts")) == 24);
    json_decref(j);
    /* no request id: key absent */
    cx_log_format(buf, sizeof buf, CX_LOG_INFO, NULL, "m");
    CX_CHECK(strstr(buf, "request_id") == NULL);
    /* truncation still yields valid JSON */
    char big[3000];
    memset(big, '"', sizeof big - 1);
    big[sizeof big - 1] = 0;
    cx_log_format(buf, 200, CX_LOG_INFO, NULL, big);
    j = json_loads(buf, 0, NULL);
    CX_CHECK(j != NULL);
    json_decref(j);
    CX_CHECK_INT(cx_log_level_parse("error"), CX_LOG_ERROR);
    CX_CHECK_INT(cx_log_level_parse("loud"), -1);
}

static void test_status_table(void)
{
    CX_CHECK_INT(cx_status_http(CX_ERR_EMAIL_EXISTS), 409);
    CX_CHECK_STR(cx_status_code(CX_ERR_EMAIL_EXISTS), "email_exists");
    CX_CHECK_INT(cx_status_http(CX_ERR_REFRESH_REQUIRED), 400);
    CX_CHECK_STR(cx_status_code(CX_ERR_REFRESH_REQUIRED), "refresh_token_required");
    CX_CHECK_INT(cx_status_http(CX_ERR_ROOM_FORBIDDEN), 403);
    CX_CHECK_INT(cx_status_http(CX_ERR_UNAVAILABLE), 503);
    CX_CHECK_INT(cx_status_http(CX_ERR_TIMEOUT), 504);
    CX_CHECK_INT(cx_status_http((cx_status)9999), 500);
    for (int i = 1; i < CX_STATUS_COUNT_; i++) {
        CX_CHECK(cx_status_http((cx_status)i) >= 400);
        CX_CHECK(cx_status_code((cx_status)i)[0] != '\0');
        if (i != CX_ERR_NOMEM)
            CX_CHECK_INT(cx_status_from_code(cx_status_code((cx_status)i)), i);
    }
    CX_CHECK_INT(cx_status_from_code("no_such_code"), CX_ERR_INTERNAL);
}

static void test_time(void)
{
    char out[21];
    cx_time_rfc3339(0, out);
    CX_CHECK_STR(out, "1970-01-01T00:00:00Z");
    cx_time_rfc3339(1795408017, out);
    CX_CHECK_STR(out, "2026-11-23T04:26:57Z");
    CX_CHECK_INT(cx_time_pg_to_rfc3339("2026-11-23 05:11:19.123456+00", out), 0);
    CX_CHECK_STR(out, "2026-11-23T05:11:19Z");
    CX_CHECK_INT(cx_time_pg_to_rfc3339("2026-11-23 05:11:19+00", out), 0);
    CX_CHECK_STR(out, "2026-11-23T05:11:19Z");
    CX_CHECK_INT(cx_time_pg_to_rfc3339("2026-11-23 05:11:19+02", out), -1);
    CX_CHECK_INT(cx_time_pg_to_rfc3339("yesterday", out), -1);
}

/* Runs cx_time_pg_column with stderr captured; returns its status and
 * the log text written meanwhile into log. */
static cx_status pg_column_logged(const char *pg, const char *column, char out[21], char *log,
                                  size_t cap)
{
    FILE *tmp = tmpfile();
    int saved = dup(2);
    log[0] = '\0';
    if (!tmp || saved < 0 || dup2(fileno(tmp), 2) < 0) {
        CX_CHECK(!"cannot capture stderr");
        return CX_ERR_INTERNAL;
    }
    cx_status s = cx_time_pg_column(pg, column, out);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(log, 1, cap - 1, tmp);
    log[n] = '\0';
    fclose(tmp);
    return s;
}

/* One rule for an unparsable database timestamp: a 500 (CX_ERR_INTERNAL)
 * with an error line naming the column, never "" shown as a value. */
static void test_time_pg_column(void)
{
    char out[21], log[1024];
    cx_log_init("unittest", CX_LOG_INFO);
    CX_CHECK_INT(pg_column_logged("2026-11-23 05:11:19.5+00", "rooms.created_at", out, log,
                                  sizeof log),
                 CX_OK);
    CX_CHECK_STR(out, "2026-11-23T05:11:19Z");
    CX_CHECK_STR(log, "");
    const char *bad[] = {
        "infinity", "-infinity", "2026-11-23 05:11:19+02", "2026-11-23 05:11:19+00 BC",
        "",         NULL};
    for (int i = 0; i < 6; i++) {
        memcpy(out, "xxxxxxxxxxxxxxxxxxxx", 21);
        CX_CHECK_INT(pg_column_logged(bad[i], "rooms.ended_at", out, log, sizeof log),
                     CX_ERR_INTERNAL);
        CX_CHECK_INT(cx_status_http(CX_ERR_INTERNAL), 500);
        CX_CHECK_STR(out, "");
        json_t *j = json_loads(log, 0, NULL);
        CX_CHECK(j != NULL);
        CX_CHECK_STR(json_string_value(json_object_get(j, "level")), "error");
        const char *msg = json_string_value(json_object_get(j, "msg"));
        CX_CHECK(msg && strstr(msg, "rooms.ended_at"));
        json_decref(j);
    }
}

int main(void)
{
    CX_RUN(test_log_line_is_json);
    CX_RUN(test_time_pg_column);
    CX_RUN(test_status_table);
    CX_RUN(test_time);
    return CX_DONE();
}
