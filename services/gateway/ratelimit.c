/* ratelimit: sharded token buckets keyed by client IP. */
#include "ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define GW_RL_SHARDS 64
#define GW_RL_SLOTS 256 /* buckets per shard: 16384 addresses tracked at once */
#define GW_RL_KEY 64

typedef struct gw_bucket {
    char key[GW_RL_KEY];
    double tokens;
    int64_t last_ms;
    uint32_t unsent; /* local takes not yet handed to gw_ratelimit_drain */
    bool used;
} gw_bucket;

typedef struct gw_shard {
    pthread_mutex_t mu;
    gw_bucket slots[GW_RL_SLOTS];
} gw_shard;

struct gw_ratelimit {
    double rps, burst;
    gw_shard shards[GW_RL_SHARDS];
};

static uint64_t _hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    size_t n = strnlen(s, GW_RL_KEY - 1);
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

cx_status gw_ratelimit_create(gw_ratelimit **out, int64_t rps, int64_t burst)
{
    *out = NULL;
    gw_ratelimit *rl = calloc(1, sizeof(*rl));
    if (!rl)
        return CX_ERR_NOMEM;
    rl->rps = (double)rps;
    rl->burst = (double)(burst > 0 ? burst : (rps > 0 ? rps : 1));
    for (int i = 0; i < GW_RL_SHARDS; i++)
        pthread_mutex_init(&rl->shards[i].mu, NULL);
    *out = rl;
    return CX_OK;
}

/* Refills b up to now; returns the token count. */
static double _refill(const gw_ratelimit *rl, gw_bucket *b, int64_t now_ms)
{
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * rl->rps / 1000.0;
        if (b->tokens > rl->burst)
            b->tokens = rl->burst;
        b->last_ms = now_ms;
    }
    return b->tokens;
}

/* Finds the bucket of key in shard s, or claims a slot for it. */
static gw_bucket *_slot(const gw_ratelimit *rl, gw_shard *s, const char *key, uint64_t h,
                        int64_t now_ms)
{
    gw_bucket *free_slot = NULL, *oldest = NULL;
    unsigned start = (unsigned)(h >> 8) % GW_RL_SLOTS;
    for (unsigned k = 0; k < GW_RL_SLOTS; k++) {
        gw_bucket *b = &s->slots[(start + k) % GW_RL_SLOTS];
        if (!b->used) {
            if (!free_slot)
                free_slot = b;
            continue;
        }
        if (strncmp(b->key, key, GW_RL_KEY - 1) == 0)
            return b;
        if (!free_slot && !b->unsent && _refill(rl, b, now_ms) >= rl->burst)
            free_slot = b; /* full bucket: forgetting it changes nothing */
        if (!oldest || b->last_ms < oldest->last_ms)
            oldest = b;
    }
    gw_bucket *b = free_slot ? free_slot : oldest;
    memset(b, 0, sizeof(*b));
    strncpy(b->key, key, GW_RL_KEY - 1);
    b->used = true;
    b->tokens = rl->burst;
    b->last_ms = now_ms;
    return b;
}

bool gw_ratelimit_take(gw_ratelimit *rl, const char *ip, int64_t now_ms, int *retry_after_s)
{
    if (!rl || rl->rps <= 0)
        return true;
    const char *key = ip ? ip : "";
    uint64_t h = _hash(key);
    gw_shard *s = &rl->shards[h % GW_RL_SHARDS];
    bool ok;
    pthread_mutex_lock(&s->mu);
    gw_bucket *b = _slot(rl, s, key, h, now_ms);
    double t = _refill(rl, b, now_ms);
    if (t >= 1.0) {
        b->tokens = t - 1.0;
        if (b->unsent < UINT32_MAX)
            b->unsent++;
        ok = true;
    } else {
        double wait_s = (1.0 - t) / rl->rps;
        int ra = (int)wait_s;
        if ((double)ra < wait_s)
            ra++;
        *retry_after_s = ra < 1 ? 1 : ra;
        ok = false;
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

void gw_ratelimit_charge(gw_ratelimit *rl, const char *ip, uint32_t n, int64_t now_ms)
{
    if (!rl || rl->rps <= 0 || n == 0)
        return;
    const char *key = ip ? ip : "";
    uint64_t h = _hash(key);
    gw_shard *s = &rl->shards[h % GW_RL_SHARDS];
    pthread_mutex_lock(&s->mu);
    gw_bucket *b = _slot(rl, s, key, h, now_ms);
    double t = _refill(rl, b, now_ms) - (double)n;
    /* an owed debt is at most one burst: a bogus report cannot block an
     * address for longer than burst/rps seconds */
    b->tokens = t < -rl->burst ? -rl->burst : t;
    pthread_mutex_unlock(&s->mu);
}

void gw_ratelimit_drain(gw_ratelimit *rl, gw_rl_emit emit, void *ctx)
{
    if (!rl || rl->rps <= 0)
        return;
    for (int i = 0; i < GW_RL_SHARDS; i++) {
        gw_shard *s = &rl->shards[i];
        pthread_mutex_lock(&s->mu);
        for (int k = 0; k < GW_RL_SLOTS; k++) {
            gw_bucket *b = &s->slots[k];
            if (b->used && b->unsent) {
                emit(ctx, b->key, b->unsent);
                b->unsent = 0;
            }
        }
        pthread_mutex_unlock(&s->mu);
    }
}

void gw_ratelimit_destroy(gw_ratelimit *rl)
{
    if (!rl)
        return;
    for (int i = 0; i < GW_RL_SHARDS; i++)
        pthread_mutex_destroy(&rl->shards[i].mu);
    free(rl);
}
