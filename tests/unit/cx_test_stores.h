/* cx_test_stores.h: unit tests that need real servers start them with
 * tests/harness/stores.sh in a private temp dir (found via CX_SOURCE_DIR,
 * which ctest sets), read DIR/env, and stop + delete everything at the end.
 *
 *   cx_stores st;
 *   if (cx_stores_start(&st, "pg redis") != 0) return 1;
 *   ... st.database_url, st.redis_addr ...
 *   cx_stores_ctl(&st, "restart", "pg");
 *   cx_stores_stop(&st);
 */
#ifndef CX_TEST_STORES_H
#define CX_TEST_STORES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct cx_stores {
    char dir[64];
    char script[1024];
    char what[64];
    char database_url[256];
    char redis_addr[64];
    char nats_url[128];
    char redis_cluster_addr[128]; /* "redis-cluster": the three seeds */
} cx_stores;

/* Runs `stores.sh cmd DIR what`; 0 on success. */
__attribute__((unused)) static int cx_stores_ctl(cx_stores *st, const char *cmd,
                                                 const char *what)
{
    char line[1400];
    snprintf(line, sizeof(line), "'%s' %s '%s' %s >/dev/null", st->script, cmd, st->dir, what);
    int rc = system(line);
    if (rc != 0)
        fprintf(stderr, "  stores.sh %s %s failed (%d)\n", cmd, what, rc);
    return rc == 0 ? 0 : -1;
}

__attribute__((unused)) static void cx_stores_copy_val(char *dst, size_t cap, const char *line,
                                                       const char *key)
{
    size_t kl = strlen(key);
    if (strncmp(line, key, kl) == 0 && line[kl] == '=') {
        const char *v = line + kl + 1;
        size_t n = strcspn(v, "\r\n");
        if (n >= cap)
            n = cap - 1; /* a truncated value fails the test visibly */
        memcpy(dst, v, n);
        dst[n] = '\0';
    }
}

/* Starts the given stores ("pg redis", "nats", ...) in a new temp dir. */
__attribute__((unused)) static int cx_stores_start(cx_stores *st, const char *what)
{
    memset(st, 0, sizeof(*st));
    const char *src = getenv("CX_SOURCE_DIR");
    snprintf(st->script, sizeof(st->script), "%s/tests/harness/stores.sh", src ? src : ".");
    snprintf(st->what, sizeof(st->what), "%s", what);
    snprintf(st->dir, sizeof(st->dir), "/tmp/cx-unit-XXXXXX");
    if (!mkdtemp(st->dir)) {
        perror("mkdtemp");
        return -1;
    }
    chmod(st->dir, 0755); /* Postgres runs as user postgres */
    if (cx_stores_ctl(st, "start", what) != 0)
        return -1;
    char path[128], line[512];
    snprintf(path, sizeof(path), "%s/env", st->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        cx_stores_copy_val(st->database_url, sizeof(st->database_url), line, "DATABASE_URL");
        cx_stores_copy_val(st->redis_addr, sizeof(st->redis_addr), line, "REDIS_ADDR");
        cx_stores_copy_val(st->nats_url, sizeof(st->nats_url), line, "NATS_URL");
        cx_stores_copy_val(st->redis_cluster_addr, sizeof(st->redis_cluster_addr), line,
                           "REDIS_CLUSTER_ADDR");
    }
    fclose(f);
    return 0;
}

/* Stops what cx_stores_start started and deletes the temp dir. */
__attribute__((unused)) static void cx_stores_stop(cx_stores *st)
{
    if (!st->dir[0])
        return;
    cx_stores_ctl(st, "stop", st->what);
    char line[128];
    snprintf(line, sizeof(line), "rm -rf '%s'", st->dir);
    if (system(line) != 0)
        fprintf(stderr, "  could not remove %s\n", st->dir);
    st->dir[0] = '\0';
}

/* Monotonic milliseconds, for hang guards (not speed assertions). */
__attribute__((unused)) static long long cx_stores_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
