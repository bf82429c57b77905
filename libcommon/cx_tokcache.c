/* cx_tokcache.c: see cx_tokcache.h. */
#include "cx_tokcache.h"

#include <sodium.h>
#include <string.h>

#include "cx_jwt.h"

/* Only a slot in use (len != 0: the others are free whatever they hold) is
 * written, so the table of a fresh cache in static or calloc'd memory is
 * only read: its pages stay the shared zero page, out of every daemon's
 * private memory (~200 KiB) until tokens arrive. */
void cx_tokcache_init(cx_tokcache *c)
{
    for (size_t i = 0; i < CX_TOKCACHE_SLOTS; i++)
        if (c->slot[i].len)
            memset(&c->slot[i], 0, sizeof c->slot[i]);
    pthread_mutex_init(&c->mu, NULL);
}

void cx_tokcache_destroy(cx_tokcache *c)
{
    pthread_mutex_destroy(&c->mu);
    sodium_memzero(c->slot, sizeof c->slot);
}

/* FNV-1a over the last (at most) 16 bytes: the signature's, which differ
 * between any two tokens. The token is the caller's input, not a secret. */
static cx_tokcache_slot *_slot(cx_tokcache *c, const char *token, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = len > 16 ? len - 16 : 0; i < len; i++)
        h = (h ^ (unsigned char)token[i]) * 16777619u;
    return &c->slot[h % CX_TOKCACHE_SLOTS];
}

bool cx_tokcache_get(cx_tokcache *c, const char *token, size_t len, int64_t now,
                     int64_t leeway_s, cx_caller *out)
{
    if (len == 0 || len > CX_TOKCACHE_TOKEN_MAX)
        return false;
    pthread_mutex_lock(&c->mu);
    const cx_tokcache_slot *e = _slot(c, token, len);
    bool hit = e->len == len && sodium_memcmp(e->token, token, len) == 0 &&
               cx_jwt_times_ok(e->exp, e->has_nbf, e->nbf, now, leeway_s);
    if (hit)
        *out = e->caller;
    pthread_mutex_unlock(&c->mu);
    return hit;
}

void cx_tokcache_put(cx_tokcache *c, const char *token, size_t len, double exp, bool has_nbf,
                     double nbf, const cx_caller *caller)
{
    if (len == 0 || len > CX_TOKCACHE_TOKEN_MAX)
        return;
    pthread_mutex_lock(&c->mu);
    cx_tokcache_slot *e = _slot(c, token, len);
    memcpy(e->token, token, len);
    e->len = len;
    e->exp = exp;
    e->has_nbf = has_nbf;
    e->nbf = nbf;
    e->caller = *caller;
    pthread_mutex_unlock(&c->mu);
}
