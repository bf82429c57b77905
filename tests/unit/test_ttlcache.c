/* test_ttlcache: cx_ttlcache hits, misses, expiry, invalidation racing a
 * load, collisions and concurrent use. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cx_test.h"
#include "cx_ttlcache.h"

typedef struct val {
    char key[32];
    int n;
} val;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A loader that counts its calls and returns {key, calls}. */
typedef struct loader {
    atomic_int calls;
    cx_status fail;          /* returned instead of CX_OK when set */
    cx_ttlcache *invalidate; /* when set: invalidates key mid-load */
} loader;

static cx_status load(void *arg, const char *key, void *out)
{
    loader *l = arg;
    int n = atomic_fetch_add(&l->calls, 1) + 1;
    if (l->invalidate)
        cx_ttlcache_invalidate(l->invalidate, key);
    if (l->fail != CX_OK)
        return l->fail;
    val *v = out;
    snprintf(v->key, sizeof v->key, "%s", key);
    v->n = n;
    return CX_OK;
}

static void test_miss_then_hit(void)
{
    cx_ttlcache *c = NULL;
    CX_CHECK_INT(cx_ttlcache_create(&c, 64, 31, sizeof(val), 60000), CX_OK);
    val v;
    cx_ttlcache_ticket t;
    memset(&v, 0, sizeof v);
    CX_CHECK(!cx_ttlcache_get(c, "a", &v, &t));
    CX_CHECK_INT(v.n, 0); /* untouched on a miss */
    val in = {"a", 7};
    CX_CHECK(cx_ttlcache_put(c, "a", &in, &t));
    CX_CHECK(cx_ttlcache_get(c, "a", &v, NULL));
    CX_CHECK_STR(v.key, "a");
    CX_CHECK_INT(v.n, 7);
    CX_CHECK(!cx_ttlcache_get(c, "A", &v, NULL)); /* keys are byte-exact */
    CX_CHECK(!cx_ttlcache_get(c, "b", &v, NULL));

    loader l = {0};
    CX_CHECK_INT(cx_ttlcache_get_or_load(c, "k1", &v, load, &l), CX_OK);
    CX_CHECK_INT(cx_ttlcache_get_or_load(c, "k1", &v, load, &l), CX_OK);
    CX_CHECK_INT(atomic_load(&l.calls), 1);
    CX_CHECK_STR(v.key, "k1");
    CX_CHECK_INT(v.n, 1);
    cx_ttlcache_destroy(c);
}

static void test_errors_not_cached(void)
{
    cx_ttlcache *c = NULL;
    CX_CHECK_INT(cx_ttlcache_create(&c, 64, 31, sizeof(val), 60000), CX_OK);
    val v;
    loader l = {.fail = CX_ERR_UNAVAILABLE};
    CX_CHECK_INT(cx_ttlcache_get_or_load(c, "x", &v, load, &l), CX_ERR_UNAVAILABLE);
    l.fail = CX_OK;
    CX_CHECK_INT(cx_ttlcache_get_or_load(c, "x", &v, load, &l), CX_OK);
    CX_CHECK_INT(atomic_load(&l.calls), 2);
    CX_CHECK_INT(v.n, 2);
    cx_ttlcache_destroy(c);
}

static void test_expiry(void)
{
    cx_ttlcache *c = NULL;
    CX_CHECK_INT(cx_ttlcache_create(&c, 64, 31, sizeof(val), 40), CX_OK);
    val v, in = {"e", 1};
    cx_ttlcache_ticket t;
    CX_CHECK(!cx_ttlcache_get(c, "e", &v, &t));
    CX_CHECK(cx_ttlcache_put(c, "e", &in, &t));
    sleep_ms(100);
    CX_CHECK(!cx_ttlcache_get(c, "e", &v, NULL));

    /* The TTL counts from the start of the load: a load slower than the
     * TTL is stored but never served. */
    CX_CHECK(!cx_ttlcache_get(c, "s", &v, &t));
    sleep_ms(100);
    in.n = 2;
    CX_CHECK(cx_ttlcache_put(c, "s", &in, &t));
    CX_CHECK(!cx_ttlcache_get(c, "s", &v, NULL));
    cx_ttlcache_destroy(c);
}

static void test_ttl_zero_disables(void)
{
    cx_ttlcache *c = NULL;
    CX_CHECK_INT(cx_ttlcache_create(&c, 64, 31, sizeof(val), 0), CX_OK);
    val v;
    loader l = {0};
    CX_CHECK_INT(cx_ttlcache_get_or_load(c, "z", &v, load, &l), CX_OK);
    CX_CHECK_INT(cx_ttlcache_get_or_load(c, "z", &v, load, &l), CX_OK);
    CX_CHECK_INT(atomic_load(&l.calls), 2);
    cx_ttlcache_destroy(c);
}

static void test_long_key_not_cached(void)
{
    cx_ttlcache *c = NULL;
    CX_CHECK_INT(cx_ttlcache_create(&c, 64, 4, sizeof(val), 60000), CX_OK);
    val v;
    loader l = {0};
    CX_CHECK_INT(cx_ttlcache_get_or_load(c, "abcd", &v, load, &l), CX_OK);
    CX_CHECK_INT(cx_ttlcache_get_or_load(c, "abcd", &v, load, &l), CX_OK);
    CX_CHECK_INT(atomic_load(&l.calls), 1); /* 4 bytes: fits */
    CX_CHECK_INT(cx_ttlcache_get_or_load(c, "abcde", &v, load, &l), CX_OK);
    CX_CHECK_INT(cx_ttlcache_get_or_load(c, "abcde", &v, load, &l), CX_OK);
    CX_CHECK_INT(atomic_load(&l.calls), 3);
    CX_CHECK_STR(v.key, "abcde");
    cx_ttlcache_invalidate(c, "abcde"); /* no-op, no crash */
    CX_CHECK(cx_ttlcache_get(c, "abcd", &v, NULL));
    cx_ttlcache_destroy(c);
}

static void test_invalidate(void)
{
    cx_ttlcache *c = NULL;
    CX_CHECK_INT(cx_ttlcache_create(&c, 64, 31, sizeof(val), 60000), CX_OK);
    val v, in = {"i", 1};
    cx_ttlcache_ticket t;
    CX_CHECK(!cx_ttlcache_get(c, "i", &v, &t));
    CX_CHECK(cx_ttlcache_put(c, "i", &in, &t));
    cx_ttlcache_invalidate(c, "i");
    CX_CHECK(!cx_ttlcache_get(c, "i", &v, NULL));
    cx_ttlcache_invalidate(c, "never-stored"); /* no-op */
    cx_ttlcache_destroy(c);
}

static void test_invalidate_during_load(void)
{
    cx_ttlcache *c = NULL;
    CX_CHECK_INT(cx_ttlcache_create(&c, 64, 31, sizeof(val), 60000), CX_OK);
    val v, in = {"r", 1};
    cx_ttlcache_ticket t;
    /* miss -> (load running) -> invalidation -> the stale value is dropped */
    CX_CHECK(!cx_ttlcache_get(c, "r", &v, &t));
    cx_ttlcache_invalidate(c, "r");
    CX_CHECK(!cx_ttlcache_put(c, "r", &in, &t));
    CX_CHECK(!cx_ttlcache_get(c, "r", &v, NULL));

    /* same through get_or_load: the value is still returned to the caller
     * that loaded it, but the next get loads again */
    loader l = {.invalidate = c};
    CX_CHECK_INT(cx_ttlcache_get_or_load(c, "r", &v, load, &l), CX_OK);
    CX_CHECK_INT(v.n, 1);
    CX_CHECK(!cx_ttlcache_get(c, "r", &v, NULL));
    l.invalidate = NULL;
    CX_CHECK_INT(cx_ttlcache_get_or_load(c, "r", &v, load, &l), CX_OK);
    CX_CHECK_INT(v.n, 2);
    CX_CHECK(cx_ttlcache_get(c, "r", &v, NULL));

    /* a ticket taken after the invalidation stores normally */
    cx_ttlcache_invalidate(c, "r");
    CX_CHECK(!cx_ttlcache_get(c, "r", &v, &t));
    CX_CHECK(cx_ttlcache_put(c, "r", &in, &t));
    CX_CHECK(cx_ttlcache_get(c, "r", &v, NULL));
    cx_ttlcache_destroy(c);
}

static void test_collision_replaces(void)
{
    cx_ttlcache *c = NULL;
    /* one slot: every key collides */
    CX_CHECK_INT(cx_ttlcache_create(&c, 1, 31, sizeof(val), 60000), CX_OK);
    val v, a = {"a", 1}, b = {"b", 2};
    cx_ttlcache_ticket t;
    CX_CHECK(!cx_ttlcache_get(c, "a", &v, &t));
    CX_CHECK(cx_ttlcache_put(c, "a", &a, &t));
    CX_CHECK(!cx_ttlcache_get(c, "b", &v, &t));
    CX_CHECK(cx_ttlcache_put(c, "b", &b, &t));
    CX_CHECK(!cx_ttlcache_get(c, "a", &v, NULL)); /* replaced */
    CX_CHECK(cx_ttlcache_get(c, "b", &v, NULL));
    CX_CHECK_STR(v.key, "b");
    CX_CHECK_INT(v.n, 2);
    /* invalidating a colliding key drops the slot (only costs a reload) */
    cx_ttlcache_invalidate(c, "a");
    CX_CHECK(!cx_ttlcache_get(c, "b", &v, NULL));
    /* a ticket of another slot's key is refused */
    cx_ttlcache *c2 = NULL;
    CX_CHECK_INT(cx_ttlcache_create(&c2, 1024, 31, sizeof(val), 60000), CX_OK);
    int stored_elsewhere = 0;
    for (int i = 0; i < 50; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        CX_CHECK(!cx_ttlcache_get(c2, "base", &v, &t));
        stored_elsewhere += cx_ttlcache_put(c2, k, &a, &t);
    }
    CX_CHECK(stored_elsewhere < 50);
    cx_ttlcache_destroy(c2);
    cx_ttlcache_destroy(c);
}

/* Many threads: every value served must be the one of its key, and a key
 * invalidated after its last load must not be served afterwards. */
#define THREADS 8
#define ITERS 20000
#define KEYS 40

typedef struct shared {
    cx_ttlcache *c;
    loader l;
    atomic_int bad;
} shared;

static void *worker(void *arg)
{
    shared *sh = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed;
    for (int i = 0; i < ITERS; i++) {
        char k[16];
        snprintf(k, sizeof k, "key-%d", rand_r(&seed) % KEYS);
        val v;
        memset(&v, 0, sizeof v);
        if (rand_r(&seed) % 8 == 0) {
            cx_ttlcache_invalidate(sh->c, k);
            continue;
        }
        if (cx_ttlcache_get_or_load(sh->c, k, &v, load, &sh->l) != CX_OK ||
            strcmp(v.key, k) != 0)
            atomic_fetch_add(&sh->bad, 1);
    }
    return NULL;
}

static void test_many_threads(void)
{
    shared sh = {0};
    /* fewer slots than keys: collisions too */
    CX_CHECK_INT(cx_ttlcache_create(&sh.c, 16, 31, sizeof(val), 60000), CX_OK);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        CX_CHECK_INT(pthread_create(&th[i], NULL, worker, &sh), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    CX_CHECK_INT(atomic_load(&sh.bad), 0);
    CX_CHECK(atomic_load(&sh.l.calls) > 0);
    /* after everything, an invalidation still wins */
    val v;
    for (int i = 0; i < KEYS; i++) {
        char k[16];
        snprintf(k, sizeof k, "key-%d", i);
        cx_ttlcache_invalidate(sh.c, k);
        CX_CHECK(!cx_ttlcache_get(sh.c, k, &v, NULL));
    }
    cx_ttlcache_destroy(sh.c);
}

static void test_bad_create(void)
{
    cx_ttlcache *c = NULL;
    CX_CHECK(cx_ttlcache_create(&c, 0, 31, sizeof(val), 1000) != CX_OK);
    CX_CHECK(cx_ttlcache_create(&c, 8, 31, 0, 1000) != CX_OK);
    CX_CHECK(c == NULL);
    cx_ttlcache_destroy(NULL);
}

int main(void)
{
    CX_RUN(test_miss_then_hit);
    CX_RUN(test_errors_not_cached);
    CX_RUN(test_expiry);
    CX_RUN(test_ttl_zero_disables);
    CX_RUN(test_long_key_not_cached);
    CX_RUN(test_invalidate);
    CX_RUN(test_invalidate_during_load);
    CX_RUN(test_collision_replaces);
    CX_RUN(test_many_threads);
    CX_RUN(test_bad_create);
    return CX_DONE();
}
