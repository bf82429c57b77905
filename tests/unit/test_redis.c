/* test_redis: cx_redis against a real redis-server started by stores.sh. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cx_log.h"
#include "cx_redis.h"
#include "cx_test.h"
#include "cx_test_stores.h"

static cx_stores st;
static cx_redis *rd;

static void test_basic_commands(void)
{
    redisReply *r = NULL;
    CX_CHECK(cx_redis_ping(rd));
    CX_CHECK_INT(cx_redis_cmd(rd, NULL, "SET %s %s", "k1", "hello world"), CX_OK);
    CX_CHECK_INT(cx_redis_cmd(rd, &r, "GET %s", "k1"), CX_OK);
    if (r) {
        CX_CHECK_INT(r->type, REDIS_REPLY_STRING);
        CX_CHECK_STR(r->str, "hello world");
        freeReplyObject(r);
    }
    r = NULL;
    CX_CHECK_INT(cx_redis_cmd(rd, &r, "INCRBY %s %d", "ctr", 5), CX_OK);
    if (r) {
        CX_CHECK_INT(r->type, REDIS_REPLY_INTEGER);
        CX_CHECK_INT(r->integer, 5);
        freeReplyObject(r);
    }
    r = NULL;
    CX_CHECK_INT(cx_redis_cmd(rd, &r, "GET %s", "missing"), CX_OK);
    if (r) {
        CX_CHECK_INT(r->type, REDIS_REPLY_NIL);
        freeReplyObject(r);
    }
}

static void test_binary_safe_args(void)
{
    /* Key and value with NUL, CR/LF and spaces, and a RESP-looking value. */
    const char key[] = "bin\0key \r\n";
    const char val[] = "\0\r\n*1\r\n$4\r\nPING\r\n \xff";
    const char *argv[3] = {"SET", key, val};
    size_t lens[3] = {3, sizeof(key) - 1, sizeof(val) - 1};
    CX_CHECK_INT(cx_redis_cmdv(rd, NULL, 3, argv, lens), CX_OK);

    redisReply *r = NULL;
    const char *gargv[2] = {"GET", key};
    size_t glens[2] = {3, sizeof(key) - 1};
    CX_CHECK_INT(cx_redis_cmdv(rd, &r, 2, gargv, glens), CX_OK);
    if (r) {
        CX_CHECK_INT(r->type, REDIS_REPLY_STRING);
        CX_CHECK_INT(r->len, sizeof(val) - 1);
        CX_CHECK(r->len == sizeof(val) - 1 && memcmp(r->str, val, sizeof(val) - 1) == 0);
        freeReplyObject(r);
    }
    /* %b in the printf form is binary safe too. */
    r = NULL;
    CX_CHECK_INT(cx_redis_cmd(rd, &r, "STRLEN %b", key, sizeof(key) - 1), CX_OK);
    if (r) {
        CX_CHECK_INT(r->integer, sizeof(val) - 1);
        freeReplyObject(r);
    }
}

static void test_error_reply(void)
{
    redisReply *r = (redisReply *)0x1;
    CX_CHECK_INT(cx_redis_cmd(rd, NULL, "SET %s %s", "str", "abc"), CX_OK);
    /* WRONGTYPE: an error reply is INTERNAL, freed, *out left alone. */
    CX_CHECK_INT(cx_redis_cmd(rd, &r, "LPUSH %s %s", "str", "x"), CX_ERR_INTERNAL);
    CX_CHECK(r == (redisReply *)0x1);
    const char *argv[1] = {"NOSUCHCOMMAND"};
    CX_CHECK_INT(cx_redis_cmdv(rd, NULL, 1, argv, NULL), CX_ERR_INTERNAL);
    /* The connection stays usable after error replies. */
    CX_CHECK(cx_redis_ping(rd));
}

#define THREADS 6
#define PER_THREAD 200

static void *worker(void *arg)
{
    (void)arg;
    long fails = 0;
    for (int i = 0; i < PER_THREAD; i++)
        if (cx_redis_cmd(rd, NULL, "INCR %s", "shared") != CX_OK)
            fails++;
    return (void *)fails;
}

static void test_concurrent_threads(void)
{
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    long fails = 0;
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(th[i], &r);
        fails += (long)r;
    }
    CX_CHECK_INT(fails, 0);
    redisReply *r = NULL;
    CX_CHECK_INT(cx_redis_cmd(rd, &r, "GET %s", "shared"), CX_OK);
    if (r) {
        CX_CHECK_STR(r->str, "1200");
        freeReplyObject(r);
    }
}

static void test_stop_unavailable_then_recovers(void)
{
    CX_CHECK_INT(cx_stores_ctl(&st, "stop", "redis"), 0);
    for (int i = 0; i < 3; i++) {
        long long t0 = cx_stores_now_ms();
        CX_CHECK_INT(cx_redis_cmd(rd, NULL, "SET %s %s", "k", "v"), CX_ERR_UNAVAILABLE);
        CX_CHECK(cx_stores_now_ms() - t0 < 3000); /* hang guard, not a speed test */
    }
    CX_CHECK(!cx_redis_ping(rd));

    CX_CHECK_INT(cx_stores_ctl(&st, "start", "redis"), 0);
    CX_CHECK(cx_redis_ping(rd));
    redisReply *r = NULL;
    CX_CHECK_INT(cx_redis_cmd(rd, NULL, "SET %s %s", "after", "yes"), CX_OK);
    CX_CHECK_INT(cx_redis_cmd(rd, &r, "GET %s", "after"), CX_OK);
    if (r) {
        CX_CHECK_STR(r->str, "yes");
        freeReplyObject(r);
    }
}

static void test_restart_recovers(void)
{
    /* Fill every slot with a live connection first. */
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    CX_CHECK_INT(cx_stores_ctl(&st, "restart", "redis"), 0);
    /* At most one failed call, then back to normal. */
    cx_status first = cx_redis_cmd(rd, NULL, "PING");
    CX_CHECK(first == CX_OK || first == CX_ERR_UNAVAILABLE);
    for (int i = 0; i < 8; i++)
        CX_CHECK_INT(cx_redis_cmd(rd, NULL, "PING"), CX_OK);
}

/* ---- borrowed connections (cx_redis_acquire/release) ------------------ */

/* CLIENT ID of the connection c (identifies the server-side connection). */
static long long client_id(cx_redis_conn *c)
{
    const char *argv[] = {"CLIENT", "ID"};
    redisReply *r = NULL;
    long long id = -1;
    if (cx_redis_conn_cmdv(c, &r, 2, argv, NULL) == CX_OK) {
        if (r->type == REDIS_REPLY_INTEGER)
            id = r->integer;
        freeReplyObject(r);
    }
    return id;
}

static void test_acquire_several_commands(void)
{
    cx_redis_conn *c = NULL;
    CX_CHECK_INT(cx_redis_acquire(rd, &c, 1000), CX_OK);
    if (!c)
        return;
    long long id = client_id(c);
    CX_CHECK(id > 0);
    const char *set[] = {"SET", "borrowed", "v1"};
    CX_CHECK_INT(cx_redis_conn_cmdv(c, NULL, 3, set, NULL), CX_OK);
    const char *get[] = {"GET", "borrowed"};
    redisReply *r = NULL;
    CX_CHECK_INT(cx_redis_conn_cmdv(c, &r, 2, get, NULL), CX_OK);
    if (r) {
        CX_CHECK_STR(r->str, "v1");
        freeReplyObject(r);
    }
    /* An error reply is CX_ERR_INTERNAL and leaves the connection usable. */
    const char *bad[] = {"LPUSH", "borrowed", "x"};
    CX_CHECK_INT(cx_redis_conn_cmdv(c, NULL, 3, bad, NULL), CX_ERR_INTERNAL);
    CX_CHECK(cx_redis_conn_alive(c));
    /* Every command went over the same connection. */
    CX_CHECK_INT(client_id(c), id);
    CX_CHECK_INT(cx_redis_conn_cmdv(c, NULL, 0, get, NULL), CX_ERR_INTERNAL);
    cx_redis_release(rd, c, false);
    cx_redis_release(rd, NULL, false);
}

static void test_release_keeps_or_closes(void)
{
    cx_redis *one = NULL;
    CX_CHECK_INT(cx_redis_create(&one, st.redis_addr, 1000, 1), CX_OK);
    cx_redis_conn *c = NULL;
    CX_CHECK_INT(cx_redis_acquire(one, &c, 1000), CX_OK);
    long long id = client_id(c);
    CX_CHECK(id > 0);
    cx_redis_release(one, c, false);
    CX_CHECK_INT(cx_redis_acquire(one, &c, 1000), CX_OK);
    CX_CHECK_INT(client_id(c), id); /* kept: same connection */
    cx_redis_release(one, c, true);
    CX_CHECK_INT(cx_redis_acquire(one, &c, 1000), CX_OK);
    long long id2 = client_id(c);
    CX_CHECK(id2 > 0 && id2 != id); /* broken: a new connection */
    /* The one-shot API shares the pool: with the only connection lent out,
     * it cannot get one within the timeout. */
    CX_CHECK_INT(cx_redis_cmd(one, NULL, "PING"), CX_ERR_UNAVAILABLE);
    cx_redis_release(one, c, false);
    CX_CHECK_INT(cx_redis_cmd(one, NULL, "PING"), CX_OK);
    cx_redis_destroy(one);
}

typedef struct {
    cx_redis *r;
    cx_status got;
} waiter;

static void *acquire_waiter(void *arg)
{
    waiter *w = arg;
    cx_redis_conn *c = NULL;
    w->got = cx_redis_acquire(w->r, &c, 5000);
    if (w->got == CX_OK)
        cx_redis_release(w->r, c, false);
    return NULL;
}

static void test_acquire_pool_exhausted(void)
{
    cx_redis_conn *c[3] = {NULL, NULL, NULL}, *extra = NULL;
    for (int i = 0; i < 3; i++)
        CX_CHECK_INT(cx_redis_acquire(rd, &c[i], 1000), CX_OK);
    CX_CHECK_INT(cx_redis_acquire(rd, &extra, 0), CX_ERR_UNAVAILABLE);
    CX_CHECK_INT(cx_redis_acquire(rd, &extra, 200), CX_ERR_UNAVAILABLE);
    CX_CHECK(extra == NULL);
    /* A waiter gets the connection that is given back. */
    waiter w = {rd, CX_ERR_INTERNAL};
    pthread_t th;
    pthread_create(&th, NULL, acquire_waiter, &w);
    struct timespec pause = {0, 100 * 1000000L};
    nanosleep(&pause, NULL);
    cx_redis_release(rd, c[1], false);
    pthread_join(th, NULL);
    CX_CHECK_INT(w.got, CX_OK);
    cx_redis_release(rd, c[0], false);
    cx_redis_release(rd, c[2], false);
}

static void test_alive_while_stopped(void)
{
    cx_redis_conn *c = NULL;
    CX_CHECK_INT(cx_redis_acquire(rd, &c, 1000), CX_OK);
    if (!c)
        return;
    CX_CHECK(cx_redis_conn_alive(c));
    CX_CHECK_INT(cx_stores_ctl(&st, "stop", "redis"), 0);
    /* The server closed the socket: seen without sending anything. */
    CX_CHECK(!cx_redis_conn_alive(c));
    const char *ping[] = {"PING"};
    CX_CHECK_INT(cx_redis_conn_cmdv(c, NULL, 1, ping, NULL), CX_ERR_UNAVAILABLE);
    cx_redis_release(rd, c, false);
    /* While Redis is down, borrowing fails fast (before any other write). */
    for (int i = 0; i < 3; i++) {
        long long t0 = cx_stores_now_ms();
        c = NULL;
        CX_CHECK_INT(cx_redis_acquire(rd, &c, 1000), CX_ERR_UNAVAILABLE);
        CX_CHECK(c == NULL);
        CX_CHECK(cx_stores_now_ms() - t0 < 3000); /* hang guard, not a speed test */
    }
    CX_CHECK_INT(cx_stores_ctl(&st, "start", "redis"), 0);
    CX_CHECK_INT(cx_redis_acquire(rd, &c, 1000), CX_OK);
    if (!c)
        return;
    CX_CHECK(cx_redis_conn_alive(c));
    CX_CHECK_INT(cx_redis_conn_cmdv(c, NULL, 1, ping, NULL), CX_OK);
    cx_redis_release(rd, c, false);
}

static void test_acquire_after_restart_is_alive(void)
{
    /* Leave every slot with an idle connection, then restart Redis: each
     * borrowed connection is replaced before it is handed out, so not even
     * the first command fails. */
    cx_redis_conn *c[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++)
        CX_CHECK_INT(cx_redis_acquire(rd, &c[i], 1000), CX_OK);
    for (int i = 0; i < 3; i++)
        cx_redis_release(rd, c[i], false);
    CX_CHECK_INT(cx_stores_ctl(&st, "restart", "redis"), 0);
    const char *ping[] = {"PING"};
    for (int i = 0; i < 3; i++) {
        c[i] = NULL;
        CX_CHECK_INT(cx_redis_acquire(rd, &c[i], 1000), CX_OK);
        if (c[i])
            CX_CHECK_INT(cx_redis_conn_cmdv(c[i], NULL, 1, ping, NULL), CX_OK);
    }
    for (int i = 0; i < 3; i++)
        cx_redis_release(rd, c[i], false);
}

/* ---- scripts by SHA (cx_redis_evalsha) -------------------------------- */

static cx_redis_script incr_lua = CX_REDIS_SCRIPT(
    "return redis.call('INCRBY', KEYS[1], ARGV[1])");
static cx_redis_script bad_lua = CX_REDIS_SCRIPT("return redis.call('NOSUCHCOMMAND')");

/* Runs incr_lua on key by n with a borrowed connection; -1 on error. */
static long long incr(const char *key, const char *n, cx_status *st_out)
{
    cx_redis_conn *c = NULL;
    long long v = -1;
    cx_status s = cx_redis_acquire(rd, &c, 1000);
    if (s == CX_OK) {
        const char *keys[] = {key};
        const char *args[] = {n};
        redisReply *r = NULL;
        s = cx_redis_evalsha(c, &incr_lua, 1, keys, 1, args, &r);
        if (s == CX_OK) {
            if (r->type == REDIS_REPLY_INTEGER)
                v = r->integer;
            freeReplyObject(r);
        }
        cx_redis_release(rd, c, false);
    }
    if (st_out)
        *st_out = s;
    return v;
}

/* 1 when Redis has the script with this SHA cached, 0 when not, -1 error. */
static int script_exists(const char *sha)
{
    redisReply *r = NULL;
    if (cx_redis_cmd(rd, &r, "SCRIPT EXISTS %s", sha) != CX_OK)
        return -1;
    int v = r->type == REDIS_REPLY_ARRAY && r->elements == 1 ? (int)r->element[0]->integer : -1;
    freeReplyObject(r);
    return v;
}

static void test_evalsha_and_noscript_fallback(void)
{
    cx_status s;
    CX_CHECK_INT(cx_redis_cmd(rd, NULL, "DEL %s", "sc"), CX_OK);
    CX_CHECK_INT(incr("sc", "5", &s), 5);
    CX_CHECK_INT(s, CX_OK);
    CX_CHECK_INT((long long)strlen(incr_lua.sha), 40); /* learnt once */
    CX_CHECK_INT(script_exists(incr_lua.sha), 1);
    char sha[41];
    memcpy(sha, incr_lua.sha, sizeof sha);
    CX_CHECK_INT(incr("sc", "2", &s), 7);

    /* SCRIPT FLUSH: EVALSHA answers NOSCRIPT, the EVAL fallback runs the
     * script exactly once and caches it again under the same SHA. */
    CX_CHECK_INT(cx_redis_cmd(rd, NULL, "SCRIPT FLUSH"), CX_OK);
    CX_CHECK_INT(script_exists(sha), 0);
    CX_CHECK_INT(incr("sc", "3", &s), 10);
    CX_CHECK_INT(s, CX_OK);
    CX_CHECK_STR(incr_lua.sha, sha);
    CX_CHECK_INT(script_exists(sha), 1);

    /* A restart forgets every script (and, without persistence, the key). */
    CX_CHECK_INT(cx_stores_ctl(&st, "restart", "redis"), 0);
    CX_CHECK_INT(script_exists(sha), 0);
    CX_CHECK_INT(cx_redis_cmd(rd, NULL, "SET %s %s", "sc", "100"), CX_OK);
    CX_CHECK_INT(incr("sc", "1", &s), 101);
    CX_CHECK_INT(s, CX_OK);
    CX_CHECK_INT(script_exists(sha), 1);
}

static void test_evalsha_errors(void)
{
    cx_redis_conn *c = NULL;
    CX_CHECK_INT(cx_redis_acquire(rd, &c, 1000), CX_OK);
    if (!c)
        return;
    /* A Lua error is an error reply: CX_ERR_INTERNAL, connection usable. */
    redisReply *r = NULL;
    CX_CHECK_INT(cx_redis_evalsha(c, &bad_lua, 0, NULL, 0, NULL, &r), CX_ERR_INTERNAL);
    CX_CHECK(r == NULL);
    CX_CHECK(cx_redis_conn_alive(c));
    /* Too many arguments, or keys missing, are refused before any I/O. */
    const char *many[65];
    for (int i = 0; i < 65; i++)
        many[i] = "x";
    CX_CHECK_INT(cx_redis_evalsha(c, &incr_lua, 1, many, 64, many, NULL), CX_ERR_INTERNAL);
    CX_CHECK_INT(cx_redis_evalsha(c, &incr_lua, 1, NULL, 0, NULL, NULL), CX_ERR_INTERNAL);
    const char *keys[] = {"sc2"};
    const char *args[] = {"4"};
    CX_CHECK_INT(cx_redis_evalsha(c, &incr_lua, 1, keys, 1, args, NULL), CX_OK);
    /* A connection the server closed: CX_ERR_UNAVAILABLE. */
    CX_CHECK_INT(cx_stores_ctl(&st, "stop", "redis"), 0);
    CX_CHECK_INT(cx_redis_evalsha(c, &incr_lua, 1, keys, 1, args, NULL), CX_ERR_UNAVAILABLE);
    cx_redis_release(rd, c, false);
    CX_CHECK_INT(cx_stores_ctl(&st, "start", "redis"), 0);
    CX_CHECK(cx_redis_ping(rd));
}

/* cx_redis_evalsha_many: n scripts in one pipelined round trip, in order,
 * each with its own status; NOSCRIPT ones run again by full text; a
 * connection lost half-way makes the unread ones unavailable. */
static cx_redis_script append_lua = CX_REDIS_SCRIPT(
    "redis.call('RPUSH', KEYS[1], ARGV[1]) return redis.call('LLEN', KEYS[1])");
static cx_redis_script fresh_lua = CX_REDIS_SCRIPT(
    "redis.call('RPUSH', KEYS[1], ARGV[1]) return 1000 + redis.call('LLEN', KEYS[1]) - 1");

static void test_evalsha_many(void)
{
    enum { N = 100 };
    cx_redis_conn *c = NULL;
    cx_redis_call calls[N];
    char vals[N][16];
    const char *keys[] = {"many"};
    const char *args[N][1];

    CX_CHECK_INT(cx_redis_cmd(rd, NULL, "DEL %s", "many"), CX_OK);
    CX_CHECK_INT(cx_redis_acquire(rd, &c, 1000), CX_OK);
    if (!c)
        return;
    for (int i = 0; i < N; i++) {
        snprintf(vals[i], sizeof vals[i], "%d", i);
        args[i][0] = vals[i];
        calls[i] = (cx_redis_call){.sc = &append_lua,
                                   .nkeys = 1,
                                   .keys = keys,
                                   .nargs = 1,
                                   .args = args[i]};
    }
    /* one of them is a Lua error: only that one fails */
    calls[10].sc = &bad_lua;
    calls[10].nkeys = 0;
    calls[10].nargs = 0;
    cx_redis_evalsha_many(c, calls, N);
    long long want = 0;
    for (int i = 0; i < N; i++) {
        if (i == 10) {
            CX_CHECK_INT(calls[i].status, CX_ERR_INTERNAL);
            CX_CHECK(calls[i].reply == NULL);
            continue;
        }
        CX_CHECK_INT(calls[i].status, CX_OK);
        want++;
        if (calls[i].reply) {
            CX_CHECK_INT(calls[i].reply->type, REDIS_REPLY_INTEGER);
            CX_CHECK_INT(calls[i].reply->integer, want); /* ran in order */
            freeReplyObject(calls[i].reply);
        }
    }
    redisReply *r = NULL;
    CX_CHECK_INT(cx_redis_cmd(rd, &r, "LRANGE %s 0 2", "many"), CX_OK);
    if (r) {
        CX_CHECK_INT((long long)r->elements, 3);
        if (r->elements == 3) {
            CX_CHECK_STR(r->element[0]->str, "0");
            CX_CHECK_STR(r->element[2]->str, "2");
        }
        freeReplyObject(r);
    }
    CX_CHECK(cx_redis_conn_alive(c));

    /* after SCRIPT FLUSH every call answers NOSCRIPT and runs again by
     * text, in order, exactly once */
    CX_CHECK_INT(cx_redis_cmd(rd, NULL, "DEL %s", "many"), CX_OK);
    CX_CHECK_INT(cx_redis_cmd(rd, NULL, "SCRIPT FLUSH"), CX_OK);
    calls[10] = calls[11];
    cx_redis_evalsha_many(c, calls, 20);
    for (int i = 0; i < 20; i++) {
        CX_CHECK_INT(calls[i].status, CX_OK);
        if (calls[i].reply) {
            CX_CHECK_INT(calls[i].reply->integer, i + 1);
            freeReplyObject(calls[i].reply);
        }
    }
    CX_CHECK_INT(script_exists(append_lua.sha), 1);

    /* a script this process never ran, queued after one it knows: its SHA
     * is learnt before anything is queued, so the replies stay in order */
    CX_CHECK_INT(cx_redis_cmd(rd, NULL, "DEL %s", "many"), CX_OK);
    cx_redis_call mixed[3] = {calls[0], calls[1], calls[2]};
    mixed[1].sc = &fresh_lua;
    cx_redis_evalsha_many(c, mixed, 3);
    for (int i = 0; i < 3; i++) {
        CX_CHECK_INT(mixed[i].status, CX_OK);
        if (mixed[i].reply) {
            CX_CHECK_INT(mixed[i].reply->type, REDIS_REPLY_INTEGER);
            CX_CHECK_INT(mixed[i].reply->integer, i == 1 ? 1000 + 1 : i + 1);
            freeReplyObject(mixed[i].reply);
        }
    }

    /* the server gone: every call unavailable, nothing stuck */
    CX_CHECK_INT(cx_stores_ctl(&st, "stop", "redis"), 0);
    cx_redis_evalsha_many(c, calls, 5);
    for (int i = 0; i < 5; i++) {
        CX_CHECK_INT(calls[i].status, CX_ERR_UNAVAILABLE);
        CX_CHECK(calls[i].reply == NULL);
    }
    cx_redis_release(rd, c, false);
    CX_CHECK_INT(cx_stores_ctl(&st, "start", "redis"), 0);
    CX_CHECK(cx_redis_ping(rd));
    /* more than CX_REDIS_MANY_MAX at once is refused */
    CX_CHECK_INT(cx_redis_acquire(rd, &c, 1000), CX_OK);
    if (c) {
        cx_redis_call big[CX_REDIS_MANY_MAX + 1];
        for (int i = 0; i <= CX_REDIS_MANY_MAX; i++)
            big[i] = calls[0];
        cx_redis_evalsha_many(c, big, CX_REDIS_MANY_MAX + 1);
        CX_CHECK_INT(big[0].status, CX_ERR_INTERNAL);
        cx_redis_release(rd, c, false);
    }
}

/* A single server is one master, not a cluster; cx_redis_cmd_on reaches it. */
static void test_single_server_is_one_master(void)
{
    CX_CHECK_INT(cx_redis_masters(rd), 1);
    CX_CHECK(!cx_redis_is_cluster(rd));
    redisReply *r = NULL;
    CX_CHECK_INT(cx_redis_cmd_on(rd, 0, &r, "PING"), CX_OK);
    if (r) {
        CX_CHECK_STR(r->str, "PONG");
        freeReplyObject(r);
    }
    CX_CHECK_INT(cx_redis_cmd_on(rd, 1, NULL, "PING"), CX_ERR_UNAVAILABLE);
}

static void test_create_validation(void)
{
    cx_redis *x = NULL;
    CX_CHECK(cx_redis_create(&x, "nohostport", 500, 1) != CX_OK);
    CX_CHECK(cx_redis_create(&x, "127.0.0.1:99999", 500, 1) != CX_OK);
    CX_CHECK(cx_redis_create(&x, "127.0.0.1:6379", 500, 0) != CX_OK);
    CX_CHECK_INT(cx_redis_create(&x, "[::1]:6379", 500, 1), CX_OK);
    cx_redis_destroy(x);
    cx_redis_destroy(NULL);
}

int main(void)
{
    cx_log_init("test_redis", CX_LOG_WARN);
    signal(SIGPIPE, SIG_IGN); /* as the daemons do (cx_service) */
    if (cx_stores_start(&st, "redis") != 0) {
        fprintf(stderr, "cannot start Redis\n");
        cx_stores_stop(&st);
        return 1;
    }
    if (cx_redis_create(&rd, st.redis_addr, 1000, 3) != CX_OK) {
        cx_stores_stop(&st);
        return 1;
    }
    CX_RUN(test_basic_commands);
    CX_RUN(test_binary_safe_args);
    CX_RUN(test_error_reply);
    CX_RUN(test_concurrent_threads);
    CX_RUN(test_stop_unavailable_then_recovers);
    CX_RUN(test_restart_recovers);
    CX_RUN(test_acquire_several_commands);
    CX_RUN(test_release_keeps_or_closes);
    CX_RUN(test_acquire_pool_exhausted);
    CX_RUN(test_alive_while_stopped);
    CX_RUN(test_acquire_after_restart_is_alive);
    CX_RUN(test_evalsha_and_noscript_fallback);
    CX_RUN(test_evalsha_errors);
    CX_RUN(test_evalsha_many);
    CX_RUN(test_single_server_is_one_master);
    CX_RUN(test_create_validation);
    cx_redis_destroy(rd);
    cx_stores_stop(&st);
    return CX_DONE();
}
