/* test_pg: cx_pg pool against a real PostgreSQL started by stores.sh. */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "cx_log.h"
#include "cx_pg.h"
#include "cx_test.h"
#include "cx_test_stores.h"

static cx_stores st;
static cx_pg_pool *pool;
static cx_pg_pool *prep; /* size 1: every call uses the same session */

/* Runs sql with one optional parameter; returns the first value (static). */
static const char *scalar(const char *sql, const char *param)
{
    static char buf[512];
    PGresult *res = NULL;
    const char *p[1] = {param};
    buf[0] = '\0';
    if (cx_pg_exec(pool, sql, param ? 1 : 0, param ? p : NULL, &res) != CX_OK)
        return NULL;
    if (PQntuples(res) > 0)
        snprintf(buf, sizeof(buf), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return buf;
}

static void test_params_verbatim(void)
{
    CX_CHECK_INT(cx_pg_exec(pool, "CREATE TABLE t (id serial PRIMARY KEY, v text UNIQUE)", 0,
                            NULL, NULL),
                 CX_OK);
    const char *evil = "x'); DROP TABLE t; -- \\ \"$1\" %s \xc3\xa9";
    const char *p[1] = {evil};
    PGresult *res = NULL;
    CX_CHECK_INT(cx_pg_exec(pool, "INSERT INTO t (v) VALUES ($1) RETURNING v", 1, p, &res),
                 CX_OK);
    if (res) {
        CX_CHECK_INT(PQntuples(res), 1);
        CX_CHECK_STR(PQgetvalue(res, 0, 0), evil);
        PQclear(res);
    }
    CX_CHECK_STR(scalar("SELECT count(*) FROM t WHERE v = $1", evil), "1");
    CX_CHECK_STR(scalar("SELECT to_regclass('t') IS NOT NULL", NULL), "t");
}

static void test_unique_violation_is_conflict(void)
{
    const char *p[1] = {"dup@example.com"};
    CX_CHECK_INT(cx_pg_exec(pool, "INSERT INTO t (v) VALUES ($1)", 1, p, NULL), CX_OK);
    CX_CHECK_INT(cx_pg_exec(pool, "INSERT INTO t (v) VALUES ($1)", 1, p, NULL),
                 CX_ERR_CONFLICT);
    CX_CHECK_STR(scalar("SELECT count(*) FROM t WHERE v = $1", "dup@example.com"), "1");
}

/* Runs one failing statement with stderr captured into buf. */
static cx_status capture_failure(const char *sql, const char *param, char *buf, size_t cap)
{
    char path[] = "/tmp/cx-test-log-XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(2);
    fflush(stderr);
    dup2(fd, 2);
    const char *p[1] = {param};
    cx_status s = cx_pg_exec(pool, sql, 1, p, NULL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, buf, cap - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return s;
}

static void test_other_errors_internal_logged_without_values(void)
{
    char log[4096];
    cx_status s = capture_failure("SELECT $1::uuid", "secret-value-4711", log, sizeof(log));
    CX_CHECK_INT(s, CX_ERR_INTERNAL);
    CX_CHECK(strstr(log, "22P02") != NULL);
    CX_CHECK(strstr(log, "invalid input syntax") != NULL);
    CX_CHECK(strstr(log, "secret-value-4711") == NULL);

    s = capture_failure("SELECT * FROM no_such_table WHERE x = $1", "secret-2", log,
                        sizeof(log));
    CX_CHECK_INT(s, CX_ERR_INTERNAL);
    CX_CHECK(strstr(log, "42P01") != NULL);
    CX_CHECK(strstr(log, "secret-2") == NULL);
    /* The pool is still fine after SQL errors. */
    CX_CHECK(cx_pg_ping(pool));
}

static void test_session_settings(void)
{
    CX_CHECK_STR(scalar("SHOW TimeZone", NULL), "UTC");
    CX_CHECK_STR(scalar("SHOW statement_timeout", NULL), "5s");
    CX_CHECK_STR(scalar("SELECT to_char('2024-01-02 03:04:05+02'::timestamptz, 'HH24')", NULL),
                 "01");
}

static void test_keyword_conninfo(void)
{
    /* Same server, key=value form, with the caller's own connect_timeout
     * and options: ours are added, theirs kept. */
    const char *port = strrchr(st.database_url, ':');
    char ci[256];
    snprintf(ci, sizeof(ci),
             "host=127.0.0.1 port=%d dbname=calixio user=postgres connect_timeout=3 "
             "options='-c application_name=kvtest'",
             atoi(port + 1));
    cx_pg_pool *p2 = NULL;
    CX_CHECK_INT(cx_pg_pool_create(&p2, ci, 2), CX_OK);
    PGresult *res = NULL;
    CX_CHECK_INT(cx_pg_exec(p2,
                            "SELECT current_setting('application_name'), "
                            "current_setting('TimeZone')",
                            0, NULL, &res),
                 CX_OK);
    if (res) {
        CX_CHECK_STR(PQgetvalue(res, 0, 0), "kvtest");
        CX_CHECK_STR(PQgetvalue(res, 0, 1), "UTC");
        PQclear(res);
    }
    cx_pg_pool_destroy(p2);
    CX_CHECK(cx_pg_pool_create(&p2, "host='unterminated", 1) != CX_OK);
    CX_CHECK(cx_pg_pool_create(&p2, ci, 0) != CX_OK);
}

static void test_acquire_timeout_and_reuse(void)
{
    cx_pg_pool *p1 = NULL;
    PGconn *a = NULL, *b = NULL;
    CX_CHECK_INT(cx_pg_pool_create(&p1, st.database_url, 1), CX_OK);
    CX_CHECK_INT(cx_pg_acquire(p1, &a, 1000), CX_OK);
    CX_CHECK_INT(cx_pg_acquire(p1, &b, 200), CX_ERR_UNAVAILABLE);
    PGresult *res = NULL;
    bool broken = true;
    CX_CHECK_INT(cx_pg_query(a, "SELECT pg_backend_pid()", 0, NULL, &res, &broken), CX_OK);
    CX_CHECK(!broken);
    char pid1[32] = "";
    if (res) {
        snprintf(pid1, sizeof(pid1), "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    cx_pg_release(p1, a, false);
    /* Released healthy: the same backend serves the next borrower. */
    CX_CHECK_INT(cx_pg_acquire(p1, &a, 1000), CX_OK);
    CX_CHECK_INT(cx_pg_query(a, "SELECT pg_backend_pid()", 0, NULL, &res, &broken), CX_OK);
    if (res) {
        CX_CHECK_STR(PQgetvalue(res, 0, 0), pid1);
        PQclear(res);
    }
    /* Released inside a transaction: it must not be handed out again. */
    CX_CHECK_INT(cx_pg_query(a, "BEGIN", 0, NULL, NULL, &broken), CX_OK);
    cx_pg_release(p1, a, false);
    CX_CHECK_INT(cx_pg_acquire(p1, &a, 1000), CX_OK);
    CX_CHECK_INT(cx_pg_query(a, "SELECT pg_backend_pid()", 0, NULL, &res, &broken), CX_OK);
    if (res) {
        CX_CHECK(strcmp(PQgetvalue(res, 0, 0), pid1) != 0);
        PQclear(res);
    }
    cx_pg_release(p1, a, false);
    cx_pg_pool_destroy(p1);
}

/* Count of the session's prepared statements called name (on prep's one
 * connection). */
static int prepared_count(const char *name)
{
    PGresult *res = NULL;
    const char *p[1] = {name};
    int n = -1;
    if (cx_pg_exec(prep, "SELECT count(*) FROM pg_prepared_statements WHERE name = $1", 1, p,
                   &res) == CX_OK) {
        n = atoi(PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    return n;
}

static void test_prepared(void)
{
    static const char ins[] = "INSERT INTO t (v) VALUES ($1) RETURNING v";
    CX_CHECK_INT(cx_pg_pool_create(&prep, st.database_url, 1), CX_OK);
    CX_CHECK_INT(prepared_count("t_ins"), 0);
    const char *evil = "prep'); DROP TABLE t; -- $1 \xc3\xa9";
    const char *p[1] = {evil};
    PGresult *res = NULL;
    CX_CHECK_INT(cx_pg_exec_prepared(prep, "t_ins", ins, 1, p, &res), CX_OK);
    if (res) {
        CX_CHECK_INT(PQntuples(res), 1);
        CX_CHECK_STR(PQgetvalue(res, 0, 0), evil);
        PQclear(res);
    }
    /* Prepared on the session now, and reused (not prepared twice). */
    CX_CHECK_INT(prepared_count("t_ins"), 1);
    const char *p2[1] = {"prep-2"};
    CX_CHECK_INT(cx_pg_exec_prepared(prep, "t_ins", ins, 1, p2, NULL), CX_OK);
    CX_CHECK_INT(prepared_count("t_ins"), 1);
    CX_CHECK_STR(scalar("SELECT count(*) FROM t WHERE v IN ('prep-2', $1)", evil), "2");
    /* Same statement on the 3-connection pool: every session prepares its own. */
    for (int i = 0; i < 6; i++) {
        char v[32];
        snprintf(v, sizeof v, "prep-pool-%d", i);
        const char *pv[1] = {v};
        CX_CHECK_INT(cx_pg_exec_prepared(pool, "t_ins", ins, 1, pv, NULL), CX_OK);
    }
    CX_CHECK_STR(scalar("SELECT count(*) FROM t WHERE v LIKE $1", "prep-pool-%"), "6");
    /* Errors map as for cx_pg_exec; the session stays usable. */
    CX_CHECK_INT(cx_pg_exec_prepared(prep, "t_ins", ins, 1, p2, NULL), CX_ERR_CONFLICT);
    CX_CHECK_INT(cx_pg_exec_prepared(prep, "t_bad", "SELECT * FROM no_such_table WHERE x = $1",
                                     1, p2, NULL),
                 CX_ERR_INTERNAL);
    CX_CHECK_INT(cx_pg_exec_prepared(prep, "", ins, 1, p2, NULL), CX_ERR_INTERNAL);
    CX_CHECK_INT(cx_pg_exec_prepared(prep, NULL, ins, 1, p2, NULL), CX_ERR_INTERNAL);
    CX_CHECK_INT(cx_pg_exec_prepared(NULL, "t_ins", ins, 1, p2, NULL), CX_ERR_INTERNAL);
    CX_CHECK_INT(prepared_count("t_bad"), 0);
    CX_CHECK_INT(prepared_count("t_ins"), 1);
    /* test_concurrent_threads counts sessions: close this one. */
    cx_pg_pool_destroy(prep);
    prep = NULL;
}

#define THREADS 8
#define PER_THREAD 40

static void *worker(void *arg)
{
    long id = (long)arg, fails = 0;
    for (int i = 0; i < PER_THREAD; i++) {
        char v[64];
        snprintf(v, sizeof(v), "thread-%ld-%d", id, i);
        const char *p[1] = {v};
        if (i % 2 == 0) {
            if (cx_pg_exec(pool, "INSERT INTO t (v) VALUES ($1)", 1, p, NULL) != CX_OK)
                fails++;
            continue;
        }
        /* Odd rows through an explicit transaction on a borrowed conn. */
        PGconn *c = NULL;
        bool broken = false;
        if (cx_pg_acquire(pool, &c, 10000) != CX_OK) {
            fails++;
            continue;
        }
        if (cx_pg_query(c, "BEGIN", 0, NULL, NULL, &broken) != CX_OK ||
            cx_pg_query(c, "INSERT INTO t (v) VALUES ($1)", 1, p, NULL, &broken) != CX_OK ||
            cx_pg_query(c, "COMMIT", 0, NULL, NULL, &broken) != CX_OK)
            fails++;
        cx_pg_release(pool, c, broken);
    }
    return (void *)fails;
}

static void test_concurrent_threads(void)
{
    pthread_t th[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, worker, (void *)i);
    long fails = 0;
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(th[i], &r);
        fails += (long)r;
    }
    CX_CHECK_INT(fails, 0);
    CX_CHECK_STR(scalar("SELECT count(*) FROM t WHERE v LIKE 'thread-%'", NULL), "320");
    /* The pool (size 3) never opened more than 3 sessions. */
    const char *n = scalar(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND backend_type = 'client backend'",
        NULL);
    CX_CHECK(n && atoi(n) >= 1 && atoi(n) <= 3);
}

static void test_restart_recovers(void)
{
    CX_CHECK(cx_pg_ping(pool));
    /* prep's session has t_ins prepared; after the restart it is gone. */
    CX_CHECK_INT(cx_pg_pool_create(&prep, st.database_url, 1), CX_OK);
    const char *pb[1] = {"prep-before-restart"};
    CX_CHECK_INT(cx_pg_exec_prepared(prep, "t_ins", "INSERT INTO t (v) VALUES ($1) RETURNING v",
                                     1, pb, NULL),
                 CX_OK);
    CX_CHECK_INT(prepared_count("t_ins"), 1);
    CX_CHECK_INT(cx_stores_ctl(&st, "restart", "pg"), 0);
    /* At most one failed call, then back to normal on fresh connections. */
    cx_status first = cx_pg_exec(pool, "SELECT count(*) FROM t", 0, NULL, NULL);
    CX_CHECK(first == CX_OK || first == CX_ERR_UNAVAILABLE);
    CX_CHECK_INT(cx_pg_exec(pool, "SELECT count(*) FROM t", 0, NULL, NULL), CX_OK);
    CX_CHECK_STR(scalar("SELECT count(*) FROM t WHERE v = $1", "dup@example.com"), "1");
    /* A prepared statement is prepared again on the new session. */
    const char *pv[1] = {"prep-after-restart"};
    cx_status ps = cx_pg_exec_prepared(
        prep, "t_ins", "INSERT INTO t (v) VALUES ($1) RETURNING v", 1, pv, NULL);
    CX_CHECK(ps == CX_OK || ps == CX_ERR_UNAVAILABLE);
    if (ps != CX_OK)
        CX_CHECK_INT(cx_pg_exec_prepared(prep, "t_ins",
                                         "INSERT INTO t (v) VALUES ($1) RETURNING v", 1, pv,
                                         NULL),
                     CX_OK);
    CX_CHECK_STR(scalar("SELECT count(*) FROM t WHERE v = $1", "prep-after-restart"), "1");
    CX_CHECK_INT(prepared_count("t_ins"), 1);
    /* Every pooled connection was replaced, not just one. */
    for (int i = 0; i < 6; i++)
        CX_CHECK_INT(cx_pg_exec(pool, "SELECT 1", 0, NULL, NULL), CX_OK);
}

static void test_stopped_is_unavailable_fast(void)
{
    PGconn *held = NULL;
    CX_CHECK_INT(cx_pg_acquire(pool, &held, 1000), CX_OK);
    CX_CHECK_INT(cx_stores_ctl(&st, "stop", "pg"), 0);

    /* A connection borrowed before the stop reports the loss. */
    bool broken = false;
    if (held) {
        CX_CHECK_INT(cx_pg_query(held, "SELECT 1", 0, NULL, NULL, &broken), CX_ERR_UNAVAILABLE);
        CX_CHECK(broken);
        cx_pg_release(pool, held, broken);
    }
    for (int i = 0; i < 3; i++) {
        long long t0 = cx_stores_now_ms();
        CX_CHECK_INT(cx_pg_exec(pool, "SELECT 1", 0, NULL, NULL), CX_ERR_UNAVAILABLE);
        CX_CHECK(cx_stores_now_ms() - t0 < 3000); /* hang guard, not a speed test */
    }
    PGconn *c = NULL;
    CX_CHECK_INT(cx_pg_acquire(pool, &c, 1000), CX_ERR_UNAVAILABLE);
    CX_CHECK(!cx_pg_ping(pool));

    CX_CHECK_INT(cx_stores_ctl(&st, "start", "pg"), 0);
    CX_CHECK(cx_pg_ping(pool));
    CX_CHECK_STR(scalar("SELECT count(*) FROM t WHERE v = $1", "dup@example.com"), "1");
}

int main(void)
{
    cx_log_init("test_pg", CX_LOG_WARN);
    if (cx_stores_start(&st, "pg") != 0) {
        fprintf(stderr, "cannot start PostgreSQL\n");
        cx_stores_stop(&st);
        return 1;
    }
    if (cx_pg_pool_create(&pool, st.database_url, 3) != CX_OK) {
        cx_stores_stop(&st);
        return 1;
    }
    CX_RUN(test_params_verbatim);
    CX_RUN(test_unique_violation_is_conflict);
    CX_RUN(test_other_errors_internal_logged_without_values);
    CX_RUN(test_session_settings);
    CX_RUN(test_keyword_conninfo);
    CX_RUN(test_acquire_timeout_and_reuse);
    CX_RUN(test_prepared);
    CX_RUN(test_concurrent_threads);
    CX_RUN(test_restart_recovers);
    CX_RUN(test_stopped_is_unavailable_fast);
    cx_pg_pool_destroy(prep);
    cx_pg_pool_destroy(pool);
    cx_stores_stop(&st);
    return CX_DONE();
}
