/* cx_denylist.c: see cx_denylist.h. */
#include "cx_denylist.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx_time.h"

#define CX_DL_SID 64
#define CX_DL_MIN_SLOTS 64

typedef struct _dl_entry {
    char sid[CX_DL_SID]; /* "" = free slot */
    int64_t until_s;
} _dl_entry;

/* Open addressing, linear probing, at most half full; all under _mu. */
static pthread_mutex_t _mu = PTHREAD_MUTEX_INITIALIZER;
static _dl_entry *_tab;
static size_t _cap, _count;
static bool _enabled;         /* a subscription feeds us */
static bool _known;           /* loaded since the last gap */
static bool _loading;         /* one load at a time */
static uint64_t _gen;         /* gaps seen so far */
static int64_t _next_attempt; /* monotonic ms: no load before */
static int64_t _next_resync;  /* monotonic ms: reload when trusted */

static size_t _hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (size_t)h;
}

static _dl_entry *_find(_dl_entry *tab, size_t cap, const char *sid)
{
    for (size_t i = _hash(sid) & (cap - 1);; i = (i + 1) & (cap - 1))
        if (!tab[i].sid[0] || strcmp(tab[i].sid, sid) == 0)
            return &tab[i];
}

/* Inserts into tab (never full: callers keep it at most half full); the
 * later expiry wins. Returns true when the session was new. */
static bool _put(_dl_entry *tab, size_t cap, const char *sid, int64_t until_s)
{
    _dl_entry *e = _find(tab, cap, sid);
    bool fresh = !e->sid[0];
    if (fresh) {
        snprintf(e->sid, sizeof e->sid, "%s", sid);
        e->until_s = until_s;
    } else if (until_s > e->until_s) {
        e->until_s = until_s;
    }
    return fresh;
}

/* A new table for at least need entries holding the live entries of the
 * current one; false when out of memory (the current one stays). */
static bool _rebuild(size_t need, int64_t now_s)
{
    size_t cap = CX_DL_MIN_SLOTS;
    while (cap < 2 * need)
        cap *= 2;
    _dl_entry *t = calloc(cap, sizeof *t);
    if (!t)
        return false;
    size_t n = 0;
    for (size_t i = 0; i < _cap; i++)
        if (_tab[i].sid[0] && _tab[i].until_s > now_s)
            n += _put(t, cap, _tab[i].sid, _tab[i].until_s);
    free(_tab);
    _tab = t;
    _cap = cap;
    _count = n;
    return true;
}

/* Adds one session under _mu; over CX_DENYLIST_MAX (or out of memory) the
 * copy is no longer known. */
static void _add(const char *sid, int64_t until_s, int64_t now_s)
{
    if (strlen(sid) >= CX_DL_SID) {
        _known = false; /* cannot hold it: never answer "not revoked" */
        return;
    }
    if (2 * (_count + 1) > _cap && !_rebuild(_count + 1, now_s)) {
        _known = false;
        return;
    }
    _count += _put(_tab, _cap, sid, until_s);
    if (_count > CX_DENYLIST_MAX)
        _known = false;
}

void cx_denylist_note(const char *session_id)
{
    if (!session_id || !*session_id)
        return;
    int64_t now = cx_now_s();
    pthread_mutex_lock(&_mu);
    _add(session_id, now + CX_DENYLIST_PUSH_KEEP_S, now);
    pthread_mutex_unlock(&_mu);
}

void cx_denylist_invalidate(void)
{
    pthread_mutex_lock(&_mu);
    _known = false;
    _gen++;
    _next_attempt = 0;
    pthread_mutex_unlock(&_mu);
}

void cx_denylist_enable(bool on)
{
    pthread_mutex_lock(&_mu);
    _enabled = on;
    _known = false;
    _gen++;
    _next_attempt = 0;
    pthread_mutex_unlock(&_mu);
}

void cx_denylist_reset(void)
{
    pthread_mutex_lock(&_mu);
    free(_tab);
    _tab = NULL;
    _cap = _count = 0;
    _enabled = _known = _loading = false;
    _gen++;
    _next_attempt = _next_resync = 0;
    pthread_mutex_unlock(&_mu);
}

/* Merges a ZRANGEBYSCORE ... WITHSCORES reply; true when it all fit. */
static bool _merge(const redisReply *r, int64_t now_s)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0 ||
        r->elements / 2 > CX_DENYLIST_MAX)
        return false;
    if (!_rebuild(_count + r->elements / 2, now_s))
        return false;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *m = r->element[i], *sc = r->element[i + 1];
        if (m->type != REDIS_REPLY_STRING || sc->type != REDIS_REPLY_STRING || m->len == 0 ||
            m->len >= CX_DL_SID || memchr(m->str, '\0', m->len))
            return false;
        _put(_tab, _cap, m->str, (int64_t)strtod(sc->str, NULL) + 1);
    }
    _count = 0;
    for (size_t i = 0; i < _cap; i++)
        _count += _tab[i].sid[0] != '\0';
    return _count <= CX_DENYLIST_MAX;
}

/* Loads the index when a load is due (see the header). */
static void _maybe_load(cx_redis *redis)
{
    int64_t mono = cx_mono_ms();
    pthread_mutex_lock(&_mu);
    bool due = _enabled && !_loading && mono >= _next_attempt &&
               (!_known || mono >= _next_resync);
    uint64_t gen = _gen;
    if (due) {
        _loading = true;
        _next_attempt = mono + 1000;
    }
    pthread_mutex_unlock(&_mu);
    if (!due)
        return;

    int64_t now = cx_now_s();
    char min[24], limit[16];
    snprintf(min, sizeof min, "%lld", (long long)now);
    snprintf(limit, sizeof limit, "%d", CX_DENYLIST_MAX + 1);
    const char *argv[] = {"ZRANGEBYSCORE", CX_DENYLIST_INDEX, min, "+inf",
                          "WITHSCORES",    "LIMIT",           "0", limit};
    redisReply *r = NULL;
    cx_status s = cx_redis_cmdv(redis, &r, 8, argv, NULL);

    pthread_mutex_lock(&_mu);
    if (s == CX_OK && _merge(r, now) && gen == _gen && _enabled) {
        _known = true;
        _next_resync = mono + CX_DENYLIST_RESYNC_S * 1000;
    } else if (gen != _gen) {
        _next_attempt = 0; /* a gap during the load: load again at once */
    }
    _loading = false;
    pthread_mutex_unlock(&_mu);
    if (r)
        freeReplyObject(r);
}

int cx_denylist_check(cx_redis *redis, const char *session_id)
{
    if (redis)
        _maybe_load(redis);
    int64_t now = cx_now_s();
    int res = -1;
    pthread_mutex_lock(&_mu);
    if (_known && _enabled) {
        res = 0;
        if (_cap && strlen(session_id) < CX_DL_SID) {
            const _dl_entry *e = _find(_tab, _cap, session_id);
            res = e->sid[0] && e->until_s > now;
        }
    }
    pthread_mutex_unlock(&_mu);
    return res;
}

cx_status cx_denylist_index_put(cx_redis *redis, const char *session_id, int64_t ttl_s)
{
    char until[24], now[24];
    int64_t t = cx_now_s();
    snprintf(until, sizeof until, "%lld", (long long)(t + (ttl_s > 0 ? ttl_s : 1)));
    snprintf(now, sizeof now, "(%lld", (long long)t);
    const char *add[] = {"ZADD", CX_DENYLIST_INDEX, "GT", until, session_id};
    cx_status s = cx_redis_cmdv(redis, NULL, 5, add, NULL);
    if (s == CX_ERR_INTERNAL) { /* Redis < 6.2: no GT */
        const char *plain[] = {"ZADD", CX_DENYLIST_INDEX, until, session_id};
        s = cx_redis_cmdv(redis, NULL, 4, plain, NULL);
    }
    if (s != CX_OK)
        return s;
    const char *trim[] = {"ZREMRANGEBYSCORE", CX_DENYLIST_INDEX, "-inf", now};
    (void)cx_redis_cmdv(redis, NULL, 4, trim,
                        NULL); /* best effort: bounded by readers' LIMIT */
    return CX_OK;
}
