/* test_redis: cx_redis against a real redis-server started by stores.sh. */
#include <pthread.h>
#include <stdlib.h>

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

static void *_worker(void *arg)
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
        pthread_create(&th[i], NULL, _worker, NULL);
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
        pthread_create(&th[i], NULL, _worker, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    CX_CHECK_INT(cx_stores_ctl(&st, "restart", "redis"), 0);
    /* At most one failed call, then back to normal. */
    cx_status first = cx_redis_cmd(rd, NULL, "PING");
    CX_CHECK(first == CX_OK || first == CX_ERR_UNAVAILABLE);
    for (int i = 0; i < 8; i++)
        CX_CHECK_INT(cx_redis_cmd(rd, NULL, "PING"), CX_OK);
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
    CX_RUN(test_create_validation);
    cx_redis_destroy(rd);
    cx_stores_stop(&st);
    return CX_DONE();
}
