/* cx_ttlcache.c: see cx_ttlcache.h. Slot metadata, keys and values live in
 * three arrays allocated once at create. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cx_time.h"
#include "cx_ttlcache.h"

typedef struct ttl_slot {
    bool used;
    uint64_t gen;
    int64_t expires_ms; /* monotonic */
} ttl_slot;

struct cx_ttlcache {
    pthread_mutex_t mu;
    size_t n;
    size_t key_max;
    size_t value_size;
    int64_t ttl_ms;
    ttl_slot *slots;
    char *keys;            /* n * (key_max + 1) */
    unsigned char *values; /* n * value_size */
};

/* FNV-1a of key; SIZE_MAX when the key is too long to be cached. */
static size_t slot_of(const cx_ttlcache *c, const char *key)
{
    uint32_t h = 2166136261u;
    size_t len = 0;
    for (; *key; key++, len++) {
        if (len == c->key_max)
            return SIZE_MAX;
        h = (h ^ (unsigned char)*key) * 16777619u;
    }
    return h % c->n;
}

static char *key_at(cx_ttlcache *c, size_t i)
{
    return c->keys + i * (c->key_max + 1);
}

static unsigned char *value_at(cx_ttlcache *c, size_t i)
{
    return c->values + i * c->value_size;
}

cx_status cx_ttlcache_create(cx_ttlcache **out, size_t slots, size_t key_max, size_t value_size,
                             int64_t ttl_ms)
{
    if (slots == 0 || value_size == 0 || key_max == 0 || key_max > 65536)
        return CX_ERR_INTERNAL;
    cx_ttlcache *c = calloc(1, sizeof *c);
    if (!c)
        return CX_ERR_NOMEM;
    c->slots = calloc(slots, sizeof *c->slots);
    if (!c->slots)
        goto out_free_cache;
    c->keys = calloc(slots, key_max + 1);
    if (!c->keys)
        goto out_free_slots;
    c->values = calloc(slots, value_size);
    if (!c->values)
        goto out_free_keys;
    if (pthread_mutex_init(&c->mu, NULL) != 0)
        goto out_free_values;
    c->n = slots;
    c->key_max = key_max;
    c->value_size = value_size;
    c->ttl_ms = ttl_ms;
    *out = c;
    return CX_OK;

out_free_values:
    free(c->values);
out_free_keys:
    free(c->keys);
out_free_slots:
    free(c->slots);
out_free_cache:
    free(c);
    return CX_ERR_NOMEM;
}

void cx_ttlcache_destroy(cx_ttlcache *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c->values);
    free(c->keys);
    free(c->slots);
    free(c);
}

bool cx_ttlcache_get(cx_ttlcache *c, const char *key, void *out_value,
                     cx_ttlcache_ticket *ticket)
{
    size_t i = c->ttl_ms > 0 ? slot_of(c, key) : SIZE_MAX;
    if (i == SIZE_MAX) {
        if (ticket)
            *ticket = (cx_ttlcache_ticket){.slot = SIZE_MAX};
        return false;
    }
    ttl_slot *sl = &c->slots[i];
    pthread_mutex_lock(&c->mu);
    int64_t now = cx_mono_ms();
    if (sl->used && now < sl->expires_ms && strcmp(key_at(c, i), key) == 0) {
        memcpy(out_value, value_at(c, i), c->value_size);
        pthread_mutex_unlock(&c->mu);
        return true;
    }
    if (ticket)
        *ticket = (cx_ttlcache_ticket){.slot = i, .gen = sl->gen, .started_ms = now};
    pthread_mutex_unlock(&c->mu);
    return false;
}

bool cx_ttlcache_put(cx_ttlcache *c, const char *key, const void *value,
                     const cx_ttlcache_ticket *ticket)
{
    size_t i = ticket->slot;
    /* The ticket must be for this key's slot (a mismatched one stores
     * nothing rather than an entry under the wrong slot). */
    if (i == SIZE_MAX || i >= c->n || slot_of(c, key) != i)
        return false;
    ttl_slot *sl = &c->slots[i];
    bool stored = false;
    pthread_mutex_lock(&c->mu);
    if (sl->gen == ticket->gen) {
        sl->used = true;
        sl->expires_ms = ticket->started_ms + c->ttl_ms;
        strcpy(key_at(c, i), key); /* fits: slot_of checked the length */
        memcpy(value_at(c, i), value, c->value_size);
        stored = true;
    }
    pthread_mutex_unlock(&c->mu);
    return stored;
}

cx_status cx_ttlcache_get_or_load(cx_ttlcache *c, const char *key, void *out_value,
                                  cx_ttlcache_load_fn load, void *arg)
{
    cx_ttlcache_ticket t;
    if (cx_ttlcache_get(c, key, out_value, &t))
        return CX_OK;
    cx_status s = load(arg, key, out_value);
    if (s == CX_OK)
        cx_ttlcache_put(c, key, out_value, &t);
    return s;
}

void cx_ttlcache_invalidate(cx_ttlcache *c, const char *key)
{
    size_t i = slot_of(c, key);
    if (i == SIZE_MAX)
        return;
    pthread_mutex_lock(&c->mu);
    c->slots[i].gen++;
    c->slots[i].used = false;
    pthread_mutex_unlock(&c->mu);
}
