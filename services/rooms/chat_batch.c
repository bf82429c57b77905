/* chat_batch.c: group commit of chat posts (see chat.h). A post queues
 * itself; a thread whose post is queued becomes a leader when fewer than
 * CHAT_BATCH_LEADERS batches are in flight: it takes up to CHAT_BATCH_MAX
 * queued posts (its own or others'), stores them in one statement, marks
 * them done and wakes the waiters. Alone on a quiet server a post is
 * stored at once (a batch of one); under load the posts that came during
 * a round trip share the next one. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "cx_crypto.h"
#include "cx_log.h"

/* ---- rate limit ------------------------------------------------------------ */

/* A sliding log per sender: the timestamps (Redis TIME, ms) of the sends
 * of the last window, for every key given (the same key twice counts
 * twice, in order). Returns per key 0 when the send is admitted (logged as
 * ARGV[3]:<n>), else the milliseconds until the oldest one leaves the
 * window. */
static cx_redis_script _rate_script = CX_REDIS_SCRIPT(
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local win = tonumber(ARGV[1])\n"
    "local max = tonumber(ARGV[2])\n"
    "local out = {}\n"
    "for i, k in ipairs(KEYS) do\n"
    "  redis.call('ZREMRANGEBYSCORE', k, '-inf', now - win)\n"
    "  if redis.call('ZCARD', k) >= max then\n"
    "    local first = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')\n"
    "    local wait = tonumber(first[2]) + win - now\n"
    "    if wait < 1 then wait = 1 end\n"
    "    out[i] = wait\n"
    "  else\n"
    "    redis.call('ZADD', k, now, ARGV[3] .. ':' .. i)\n"
    "    redis.call('PEXPIRE', k, win)\n"
    "    out[i] = 0\n"
    "  end\n"
    "end\n"
    "return out\n");

/* Keys per script run: cx_redis_evalsha takes at most 64 keys + args. */
#define RATE_KEYS_MAX 60

/* The hash tag ("{room}") of a rate key: the keys of one run must share
 * their slot on a cluster. */
static size_t _tag(const char *key, const char **tag)
{
    const char *a = strchr(key, '{');
    const char *z = a ? strchr(a, '}') : NULL;
    *tag = a ? a : key;
    return z ? (size_t)(z - a) : strlen(key);
}

/* Runs the script for the k keys of v (all with one tag). */
static void _rate_run(cx_redis *redis, chat_post **v, int k)
{
    char win[16], max[16], nonce[37];
    const char *keys[RATE_KEYS_MAX];
    cx_redis_conn *c = NULL;
    redisReply *rep = NULL;
    snprintf(win, sizeof win, "%d", CHAT_RATE_WINDOW_MS);
    snprintf(max, sizeof max, "%d", CHAT_RATE_MAX);
    cx_uuid_v4(nonce);
    const char *args[] = {win, max, nonce};
    for (int i = 0; i < k; i++)
        keys[i] = v[i]->rate_key;
    cx_status s = cx_redis_acquire(redis, &c, 500);
    if (s == CX_OK)
        s = cx_redis_evalsha(c, &_rate_script, k, keys, 3, args, &rep);
    cx_redis_release(redis, c, false);
    bool ok = s == CX_OK && rep && rep->type == REDIS_REPLY_ARRAY && (int)rep->elements == k;
    if (!ok)
        cx_log_warn(NULL, "chat rate limit unavailable (%s): %d message(s) admitted",
                    s == CX_OK ? "bad reply" : cx_status_code(s), k);
    for (int i = 0; i < k; i++)
        v[i]->wait_ms = ok && rep->element[i]->type == REDIS_REPLY_INTEGER
                            ? rep->element[i]->integer
                            : 0;
    freeReplyObject(rep);
}

/* Takes the slots of the n posts of v that have a rate key: one run per
 * tag (room), RATE_KEYS_MAX keys at most each. */
static void _rate(cx_redis *redis, chat_post *const *v, int n)
{
    bool done[CHAT_BATCH_MAX] = {false};
    chat_post *run[RATE_KEYS_MAX];
    for (int i = 0; i < n; i++) {
        v[i]->wait_ms = 0;
        if (!v[i]->rate_key || !redis)
            done[i] = true;
    }
    for (int i = 0; i < n; i++) {
        if (done[i])
            continue;
        const char *ti, *tj;
        size_t li = _tag(v[i]->rate_key, &ti);
        int k = 0;
        for (int j = i; j < n && k < RATE_KEYS_MAX; j++) {
            size_t lj = done[j] ? 0 : _tag(v[j]->rate_key, &tj);
            if (!done[j] && lj == li && memcmp(ti, tj, li) == 0) {
                run[k++] = v[j];
                done[j] = true;
            }
        }
        _rate_run(redis, run, k);
    }
}

/* ---- group commit ------------------------------------------------------------ */

typedef struct chat_item {
    chat_post *p;
    cx_status s;
    bool done;
    struct chat_item *next;
} chat_item;

struct chat_batch {
    cx_redis *redis; /* borrowed */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    chat_item *head, *tail; /* queued, not yet taken */
    int leaders;            /* batches in flight */
};

cx_status chat_batch_create(cx_redis *redis, chat_batch **out)
{
    chat_batch *b = calloc(1, sizeof *b);
    if (!b)
        return CX_ERR_NOMEM;
    b->redis = redis;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    *out = b;
    return CX_OK;
}

void chat_batch_destroy(chat_batch *b)
{
    if (!b)
        return;
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

/* Takes the rate-limit slots of the k taken items, then stores them:
 * together, or one by one when the batch failed (so that one bad post
 * fails alone). Called without b->mu. */
static void _store(cx_pg_pool *pg, cx_redis *redis, chat_item **it, int k)
{
    chat_post v[CHAT_BATCH_MAX];
    chat_post *pv[CHAT_BATCH_MAX];
    for (int i = 0; i < k; i++)
        pv[i] = it[i]->p;
    _rate(redis, pv, k);
    for (int i = 0; i < k; i++)
        v[i] = *it[i]->p;
    cx_status s = chat_store_post(pg, v, k);
    for (int i = 0; i < k; i++)
        it[i]->s = s;
    if (s == CX_OK || k == 1)
        return;
    for (int i = 0; i < k; i++)
        it[i]->s = chat_store_post(pg, it[i]->p, 1);
}

cx_status chat_batch_post(chat_batch *b, cx_pg_pool *pg, cx_redis *redis, chat_post *p)
{
    if (!b) {
        _rate(redis, &p, 1);
        return chat_store_post(pg, p, 1);
    }
    /* on the heap: the queue is shared, and the waiter frees it when done */
    chat_item *me = calloc(1, sizeof *me);
    if (!me)
        return CX_ERR_NOMEM;
    me->p = p;
    me->s = CX_ERR_INTERNAL;
    pthread_mutex_lock(&b->mu);
    if (b->tail)
        b->tail->next = me;
    else
        b->head = me;
    b->tail = me;
    while (!me->done) {
        if (b->leaders >= CHAT_BATCH_LEADERS || !b->head) {
            pthread_cond_wait(&b->cv, &b->mu);
            continue;
        }
        chat_item *take[CHAT_BATCH_MAX];
        int k = 0;
        while (b->head && k < CHAT_BATCH_MAX) {
            take[k++] = b->head;
            b->head = b->head->next;
        }
        if (!b->head)
            b->tail = NULL;
        b->leaders++;
        pthread_mutex_unlock(&b->mu);
        _store(pg, b->redis, take, k);
        pthread_mutex_lock(&b->mu);
        for (int i = 0; i < k; i++)
            take[i]->done = true; /* the waiter owns it again once it sees this */
        b->leaders--;
        pthread_cond_broadcast(&b->cv);
    }
    pthread_mutex_unlock(&b->mu);
    cx_status s = me->s;
    free(me);
    return s;
}
