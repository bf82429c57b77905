/* test_redis_cluster: key slots (pure), and cx_redis against a real
 * three-master Redis Cluster started by stores.sh (redis-cluster): routing
 * by slot from one seed, scripts on hash-tagged keys, CROSSSLOT, ASK and
 * MOVED while a slot migrates, and recovery after the nodes restart. */
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cx_log.h"
#include "cx_redis.h"
#include "cx_redis_slot.h"
#include "cx_roomkeys.h"
#include "cx_test.h"
#include "cx_test_stores.h"

static cx_stores st;
static int ports[3];

static int _slot(const char *k)
{
    return cx_redis_key_slot(k, strlen(k));
}

static void test_crc16_and_slots(void)
{
    CX_CHECK_INT(cx_redis_crc16("123456789", 9), 0x31C3);
    CX_CHECK_INT(_slot("foo"), 12182); /* CLUSTER KEYSLOT foo */
    CX_CHECK_INT(_slot("{user1000}.following"), _slot("{user1000}.followers"));
    CX_CHECK_INT(_slot("{user1000}.following"), _slot("user1000"));
    CX_CHECK_INT(_slot("foo{}{bar}"), cx_redis_crc16("foo{}{bar}", 10) & 16383);
    CX_CHECK_INT(_slot("foo{{bar}}zap"), _slot("{bar"));
    CX_CHECK_INT(_slot("foo{bar}{zap}"), _slot("bar"));
    CX_CHECK_INT(_slot("cx:presence:{cx-1}"), _slot("cx:webhook:event:{cx-1}:EV_x"));
    CX_CHECK(_slot("cx:presence:{cx-1}") != _slot("cx:presence:{cx-2}"));
}

/* Every key of a room shares its slot; names with no usable tag are refused. */
static void test_roomkeys(void)
{
    char k[96], e[96], room[64];
    int slot = -1;
    for (int kind = 0; kind < CX_RK_N; kind++) {
        CX_CHECK(cx_roomkey(k, sizeof k, (cx_roomkey_kind)kind, "cx-42"));
        CX_CHECK(strncmp(k, "cx:", 3) == 0 && strstr(k, "{cx-42}"));
        if (slot < 0)
            slot = _slot(k);
        CX_CHECK_INT(_slot(k), slot);
        CX_CHECK(cx_roomkey_room(k, strlen(k), (cx_roomkey_kind)kind, room, sizeof room));
        CX_CHECK_STR(room, "cx-42");
    }
    CX_CHECK(cx_roomkey(k, sizeof k, CX_RK_PRESENCE, "cx-42"));
    CX_CHECK_STR(k, "cx:presence:{cx-42}");
    CX_CHECK(cx_roomkey_event(e, sizeof e, "cx-42", "EV_1"));
    CX_CHECK_STR(e, "cx:webhook:event:{cx-42}:EV_1");
    CX_CHECK_INT(_slot(e), slot);
    CX_CHECK(cx_roomkey_event(e, sizeof e, "", "EV_2"));
    CX_CHECK_STR(e, "cx:webhook:event:{}:EV_2");
    /* a name starting with '}' or empty would give an empty tag */
    CX_CHECK(!cx_roomkey(k, sizeof k, CX_RK_TRACKS, "}x"));
    CX_CHECK(!cx_roomkey(k, sizeof k, CX_RK_TRACKS, ""));
    CX_CHECK(!cx_roomkey(k, 8, CX_RK_TRACKS, "cx-42"));
    CX_CHECK_STR(k, "");
    /* a '}' inside the name: all keys still share the tag up to it */
    char a[64], b[64];
    CX_CHECK(cx_roomkey(a, sizeof a, CX_RK_PRESENCE, "r}x"));
    CX_CHECK(cx_roomkey(b, sizeof b, CX_RK_TRACK_TS, "r}x"));
    CX_CHECK_INT(_slot(a), _slot(b));
    CX_CHECK(!cx_roomkey_room("cx:presence:legacy", 18, CX_RK_PRESENCE, room, sizeof room));
    CX_CHECK(!cx_roomkey_room("cx:tracks:{cx-1}", 16, CX_RK_PRESENCE, room, sizeof room));
    CX_CHECK_STR(cx_roomkey_prefix(CX_RK_PRESENCE), "cx:presence:{");
}

/* The key a command given as argv is routed by ("" = none). */
static const char *_route(int argc, const char **argv, char *buf, size_t cap)
{
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, argc, argv, NULL);
    const char *k = NULL;
    size_t n = 0;
    buf[0] = '\0';
    if (len > 0 && cx_redis_route_key(cmd, (size_t)len, &k, &n) && n < cap) {
        memcpy(buf, k, n);
        buf[n] = '\0';
    }
    redisFreeCommand(cmd);
    return buf;
}

static void test_route_key(void)
{
    char b[64];
    const char *get[] = {"GET", "k1"};
    const char *evs[] = {"EVALSHA", "abc", "2", "{t}a", "{t}b", "x"};
    const char *ev0[] = {"EVAL", "return 1", "0", "notakey"};
    const char *ping[] = {"PING"};
    const char *scan[] = {"scan", "0", "MATCH", "x*"};
    const char *del[] = {"DEL", "a", "b"};
    CX_CHECK_STR(_route(2, get, b, sizeof b), "k1");
    CX_CHECK_STR(_route(6, evs, b, sizeof b), "{t}a");
    CX_CHECK_STR(_route(4, ev0, b, sizeof b), "");
    CX_CHECK_STR(_route(1, ping, b, sizeof b), "");
    CX_CHECK_STR(_route(4, scan, b, sizeof b), "");
    CX_CHECK_STR(_route(3, del, b, sizeof b), "a");
    const char *k = NULL;
    size_t n = 0;
    CX_CHECK(!cx_redis_route_key("*2\r\n$3\r\nGET\r\n$9\r\nk1\r\n", 21, &k, &n));
    CX_CHECK(!cx_redis_route_key("garbage", 7, &k, &n));
    CX_CHECK(!cx_redis_resp_arg("*1\r\n$4\r\nPING\r\n", 14, 1, &k, &n));
}

/* A plain connection to cluster node i (no redirection following). */
static redisContext *_node(int i)
{
    struct timeval tv = {2, 0};
    return redisConnectWithTimeout("127.0.0.1", ports[i], tv);
}

static long long _dbsize(int i)
{
    redisContext *c = _node(i);
    long long n = -1;
    redisReply *r = c && !c->err ? redisCommand(c, "DBSIZE") : NULL;
    if (r && r->type == REDIS_REPLY_INTEGER)
        n = r->integer;
    if (r)
        freeReplyObject(r);
    if (c)
        redisFree(c);
    return n;
}

static void _flush_all(void)
{
    for (int i = 0; i < 3; i++) {
        redisContext *c = _node(i);
        redisReply *r = c && !c->err ? redisCommand(c, "FLUSHALL") : NULL;
        if (r)
            freeReplyObject(r);
        if (c)
            redisFree(c);
    }
}

/* One seed is enough: 300 keys over all slots land on all three masters. */
static void test_routes_by_slot_from_one_seed(void)
{
    char seed[32];
    cx_redis *r = NULL;
    _flush_all();
    snprintf(seed, sizeof seed, "127.0.0.1:%d", ports[1]);
    CX_CHECK_INT(cx_redis_create(&r, seed, 2000, 2), CX_OK);
    if (!r)
        return;
    int ok = 0;
    for (int i = 0; i < 300; i++) {
        char k[32], v[32];
        snprintf(k, sizeof k, "key:%d", i);
        snprintf(v, sizeof v, "v%d", i);
        const char *set[] = {"SET", k, v};
        if (cx_redis_cmdv(r, NULL, 3, set, NULL) != CX_OK)
            continue;
        redisReply *g = NULL;
        if (cx_redis_cmd(r, &g, "GET %s", k) == CX_OK) {
            ok += g->type == REDIS_REPLY_STRING && strcmp(g->str, v) == 0;
            freeReplyObject(g);
        }
    }
    CX_CHECK_INT(ok, 300);
    CX_CHECK(cx_redis_is_cluster(r));
    /* SCAN must visit every master to see every key */
    CX_CHECK_INT(cx_redis_masters(r), 3);
    long long scanned = 0;
    for (int m = 0; m < 3; m++) {
        redisReply *sc = NULL;
        CX_CHECK_INT(cx_redis_cmd_on(r, m, &sc, "SCAN 0 MATCH key:* COUNT 1000"), CX_OK);
        if (sc && sc->type == REDIS_REPLY_ARRAY && sc->elements == 2) {
            CX_CHECK_STR(sc->element[0]->str, "0");
            scanned += (long long)sc->element[1]->elements;
        }
        if (sc)
            freeReplyObject(sc);
    }
    CX_CHECK_INT(scanned, 300);
    CX_CHECK_INT(cx_redis_cmd_on(r, 3, NULL, "PING"), CX_ERR_UNAVAILABLE);
    long long a = _dbsize(0), b = _dbsize(1), c = _dbsize(2);
    CX_CHECK(a > 0 && b > 0 && c > 0);
    CX_CHECK_INT(a + b + c, 300);
    CX_CHECK(cx_redis_ping(r));
    cx_redis_destroy(r);
}

static cx_redis_script _two_keys = CX_REDIS_SCRIPT(
    "redis.call('SET', KEYS[1], ARGV[1]) redis.call('SET', KEYS[2], ARGV[1]) "
    "return redis.call('GET', KEYS[2])");

/* Scripts run on the node of their keys' slot (NOSCRIPT there first). */
static void test_scripts_on_hash_tagged_keys(void)
{
    cx_redis *r = NULL;
    CX_CHECK_INT(cx_redis_create(&r, st.redis_cluster_addr, 2000, 2), CX_OK);
    if (!r)
        return;
    for (int room = 0; room < 20; room++) {
        char k1[48], k2[48];
        snprintf(k1, sizeof k1, "cx:presence:{cx-%d}", room);
        snprintf(k2, sizeof k2, "cx:presence-ts:{cx-%d}", room);
        const char *keys[] = {k1, k2}, *args[] = {"x"};
        cx_redis_conn *c = NULL;
        CX_CHECK_INT(cx_redis_acquire(r, &c, 1000), CX_OK);
        if (!c)
            continue;
        redisReply *rep = NULL;
        CX_CHECK_INT(cx_redis_evalsha(c, &_two_keys, 2, keys, 1, args, &rep), CX_OK);
        if (rep) {
            CX_CHECK_STR(rep->str, "x");
            freeReplyObject(rep);
        }
        cx_redis_release(r, c, false);
    }
    /* keys of two slots in one script: Redis refuses (CROSSSLOT) */
    const char *keys[] = {"cx:presence:{cx-1}", "cx:presence:{cx-2}"}, *args[] = {"y"};
    cx_redis_conn *c = NULL;
    CX_CHECK_INT(cx_redis_acquire(r, &c, 1000), CX_OK);
    if (c) {
        CX_CHECK_INT(cx_redis_evalsha(c, &_two_keys, 2, keys, 1, args, NULL), CX_ERR_INTERNAL);
        CX_CHECK(cx_redis_conn_alive(c));
        cx_redis_release(r, c, false);
    }
    cx_redis_destroy(r);
}

/* cx_redis_evalsha_many on a cluster: each call runs on its own keys'
 * node (rooms spread over the three masters), in order, each answered. */
static void test_scripts_many_across_nodes(void)
{
    enum { N = 30 };
    cx_redis *r = NULL;
    cx_redis_conn *c = NULL;
    char k1[N][48], k2[N][48], v[N][16];
    const char *keys[N][2], *args[N][1];
    cx_redis_call calls[N];

    CX_CHECK_INT(cx_redis_create(&r, st.redis_cluster_addr, 2000, 2), CX_OK);
    if (!r)
        return;
    CX_CHECK_INT(cx_redis_acquire(r, &c, 1000), CX_OK);
    for (int i = 0; c && i < N; i++) {
        snprintf(k1[i], sizeof k1[i], "cx:presence:{many-%d}", i);
        snprintf(k2[i], sizeof k2[i], "cx:presence-ts:{many-%d}", i);
        snprintf(v[i], sizeof v[i], "v%d", i);
        keys[i][0] = k1[i];
        keys[i][1] = k2[i];
        args[i][0] = v[i];
        calls[i] = (cx_redis_call){.sc = &_two_keys,
                                   .nkeys = 2,
                                   .keys = keys[i],
                                   .nargs = 1,
                                   .args = args[i]};
    }
    if (c) {
        cx_redis_evalsha_many(c, calls, N);
        for (int i = 0; i < N; i++) {
            CX_CHECK_INT(calls[i].status, CX_OK);
            if (calls[i].reply) {
                CX_CHECK_STR(calls[i].reply->str, v[i]);
                freeReplyObject(calls[i].reply);
            }
        }
        cx_redis_release(r, c, false);
    }
    redisReply *rep = NULL;
    CX_CHECK_INT(cx_redis_cmd(r, &rep, "GET %s", "cx:presence-ts:{many-7}"), CX_OK);
    if (rep) {
        CX_CHECK_STR(rep->str, "v7");
        freeReplyObject(rep);
    }
    cx_redis_destroy(r);
}

/* Runs a command on node i and returns its string/status reply (malloced)
 * or NULL. */
static char *_on(int i, const char *fmt, ...)
{
    redisContext *c = _node(i);
    char *out = NULL;
    if (!c || c->err)
        goto out_free;
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS))
        out = strdup(r->str);
    else if (r && r->type == REDIS_REPLY_ERROR)
        fprintf(stderr, "  node %d: %s\n", i, r->str);
    if (r)
        freeReplyObject(r);
out_free:
    if (c)
        redisFree(c);
    return out;
}

/* The index of the node serving the slot of {m}probe: the only one that
 * answers a GET of it without a redirection. */
static int _owner_of_probe(void)
{
    for (int i = 0; i < 3; i++) {
        redisContext *c = _node(i);
        redisReply *r = c && !c->err ? redisCommand(c, "GET {m}probe") : NULL;
        bool mine = r && r->type != REDIS_REPLY_ERROR;
        if (r)
            freeReplyObject(r);
        if (c)
            redisFree(c);
        if (mine)
            return i;
    }
    return -1;
}

/* A slot moves from node A to node B while the client runs: ASK while it
 * migrates (a new key goes to B), MOVED once it has moved (the old map is
 * corrected), and every command succeeds throughout. */
static void test_ask_and_moved_during_migration(void)
{
    cx_redis *r = NULL;
    _flush_all();
    CX_CHECK_INT(cx_redis_create(&r, st.redis_cluster_addr, 2000, 1), CX_OK);
    if (!r)
        return;
    int slot = _slot("{m}probe");
    int a = _owner_of_probe(), b = (a + 1) % 3;
    CX_CHECK(a >= 0);
    if (a < 0)
        goto out;
    CX_CHECK_INT(cx_redis_cmd(r, NULL, "SET {m}old 1"), CX_OK); /* map learnt; on A */
    char *ida = _on(a, "CLUSTER MYID"), *idb = _on(b, "CLUSTER MYID");
    CX_CHECK(ida && idb);
    free(_on(b, "CLUSTER SETSLOT %d IMPORTING %s", slot, ida));
    free(_on(a, "CLUSTER SETSLOT %d MIGRATING %s", slot, idb));
    /* migrating: A has {m}old, a new key must go to B (ASK + ASKING) */
    CX_CHECK_INT(cx_redis_cmd(r, NULL, "SET {m}new 2"), CX_OK);
    redisReply *g = NULL;
    CX_CHECK_INT(cx_redis_cmd(r, &g, "GET {m}old"), CX_OK);
    if (g) {
        CX_CHECK_STR(g->str, "1");
        freeReplyObject(g);
    }
    /* move the remaining key, then the slot itself */
    char port[8];
    snprintf(port, sizeof port, "%d", ports[b]);
    free(_on(a, "MIGRATE 127.0.0.1 %s %s 0 5000 KEYS {m}old", port, ""));
    for (int i = 0; i < 3; i++)
        free(_on(i, "CLUSTER SETSLOT %d NODE %s", slot, idb));
    /* the client still maps the slot to A: MOVED, then B answers */
    g = NULL;
    CX_CHECK_INT(cx_redis_cmd(r, &g, "GET {m}old"), CX_OK);
    if (g) {
        CX_CHECK_STR(g->str, "1");
        freeReplyObject(g);
    }
    g = NULL;
    CX_CHECK_INT(cx_redis_cmd(r, &g, "GET {m}new"), CX_OK);
    if (g) {
        CX_CHECK_STR(g->str, "2");
        freeReplyObject(g);
    }
    CX_CHECK_INT(_owner_of_probe(), b);
    free(ida);
    free(idb);
out:
    cx_redis_destroy(r);
}

/* All three masters restart: calls fail while they are down, then work
 * again without a new cx_redis. */
static void test_recovers_after_restart(void)
{
    cx_redis *r = NULL;
    CX_CHECK_INT(cx_redis_create(&r, st.redis_cluster_addr, 1000, 2), CX_OK);
    if (!r)
        return;
    CX_CHECK_INT(cx_redis_cmd(r, NULL, "SET {a}x 1"), CX_OK);
    CX_CHECK_INT(cx_stores_ctl(&st, "stop", "redis-cluster"), 0);
    CX_CHECK_INT(cx_redis_cmd(r, NULL, "SET {a}x 1"), CX_ERR_UNAVAILABLE);
    CX_CHECK_INT(cx_stores_ctl(&st, "start", "redis-cluster"), 0);
    int ok = 0;
    long long t0 = cx_stores_now_ms();
    while (ok < 50 && cx_stores_now_ms() - t0 < 10000) {
        char k[32];
        snprintf(k, sizeof k, "after:%d", ok);
        if (cx_redis_cmd(r, NULL, "SET %s 1", k) == CX_OK)
            ok++;
        else
            usleep(50000);
    }
    CX_CHECK_INT(ok, 50);
    cx_redis_destroy(r);
}

static void test_create_validation(void)
{
    cx_redis *x = NULL;
    CX_CHECK_INT(cx_redis_create(&x, "127.0.0.1:1, 127.0.0.1:2 ,[::1]:3", 500, 1), CX_OK);
    cx_redis_destroy(x);
    x = NULL;
    CX_CHECK(cx_redis_create(&x, "127.0.0.1:1,", 500, 1) != CX_OK);
    CX_CHECK(cx_redis_create(&x, ",127.0.0.1:1", 500, 1) != CX_OK);
    CX_CHECK(cx_redis_create(&x, "127.0.0.1:1,nohostport", 500, 1) != CX_OK);
}

int main(void)
{
    cx_log_init("test_redis_cluster", CX_LOG_ERROR);
    signal(SIGPIPE, SIG_IGN);
    CX_RUN(test_crc16_and_slots);
    CX_RUN(test_route_key);
    CX_RUN(test_roomkeys);
    CX_RUN(test_create_validation);
    if (cx_stores_start(&st, "redis-cluster") != 0 ||
        sscanf(st.redis_cluster_addr, "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", &ports[0],
               &ports[1], &ports[2]) != 3) {
        fprintf(stderr, "cannot start a Redis Cluster\n");
        cx_stores_stop(&st);
        return 1;
    }
    CX_RUN(test_routes_by_slot_from_one_seed);
    CX_RUN(test_scripts_on_hash_tagged_keys);
    CX_RUN(test_scripts_many_across_nodes);
    CX_RUN(test_ask_and_moved_during_migration);
    CX_RUN(test_recovers_after_restart);
    cx_stores_stop(&st);
    return CX_DONE();
}
