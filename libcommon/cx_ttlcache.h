/* cx_ttlcache: a fixed-size, thread-safe cache of small values keyed by
 * string, each entry living at most a TTL.
 *
 * Direct-mapped: a key goes to the slot of its FNV-1a hash, so memory is
 * fixed at create time and a collision only replaces the older entry (the
 * caller then pays one more load). Values are blobs of a fixed size, copied
 * in and out (the cache never holds pointers of the caller).
 *
 * Loads race with invalidations: every slot has a generation that
 * cx_ttlcache_invalidate bumps. A miss hands out a ticket holding the
 * generation seen and the time the load started; cx_ttlcache_put stores
 * only if the generation is unchanged, so a value read before an
 * invalidation (e.g. a row that an event says has changed) is never stored.
 * An entry expires ttl_ms after its load STARTED, so nothing served is
 * older than ttl_ms.
 *
 * Keys are compared byte for byte (callers that want case-insensitive keys
 * normalise them first). Every function is safe from any thread; one
 * mutex guards the whole cache and is never held during a load. */
#ifndef CX_TTLCACHE_H
#define CX_TTLCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cx_status.h"

typedef struct cx_ttlcache cx_ttlcache;

/* What a miss hands to cx_ttlcache_put; opaque to callers. */
typedef struct cx_ttlcache_ticket {
    size_t slot; /* SIZE_MAX: nothing may be stored (key too long, ttl 0) */
    uint64_t gen;
    int64_t started_ms; /* monotonic */
} cx_ttlcache_ticket;

/* Creates a cache of `slots` (> 0) entries, each holding a key of at most
 * key_max bytes (longer keys are never cached: always a miss) and a value of
 * value_size (> 0) bytes, for ttl_ms (<= 0: nothing is ever stored, every
 * get is a miss). *out is owned by the caller: cx_ttlcache_destroy.
 * CX_ERR_NOMEM, or CX_ERR_INTERNAL on bad sizes. */
cx_status cx_ttlcache_create(cx_ttlcache **out, size_t slots, size_t key_max, size_t value_size,
                             int64_t ttl_ms);

/* Frees the cache; NULL is fine. No other call may be in progress. */
void cx_ttlcache_destroy(cx_ttlcache *c);

/* Hit (true): copies the live value of key into out_value[value_size].
 * Miss (false): out_value is untouched and *ticket (may be NULL) receives
 * what a later cx_ttlcache_put of the loaded value needs. key is borrowed. */
bool cx_ttlcache_get(cx_ttlcache *c, const char *key, void *out_value,
                     cx_ttlcache_ticket *ticket);

/* Stores value[value_size] for key, replacing whatever the slot held, unless
 * the slot was invalidated since the miss that gave `ticket` (then it is a
 * no-op and returns false). Expires ttl_ms after ticket->started_ms. key
 * and value are copied. Returns true when stored. */
bool cx_ttlcache_put(cx_ttlcache *c, const char *key, const void *value,
                     const cx_ttlcache_ticket *ticket);

/* Fills out_value[value_size] for key from the cache, else by calling
 * load(arg, key, out_value) without any lock held and storing the result
 * when it returns CX_OK (errors are returned and never cached). */
typedef cx_status (*cx_ttlcache_load_fn)(void *arg, const char *key, void *out_value);
cx_status cx_ttlcache_get_or_load(cx_ttlcache *c, const char *key, void *out_value,
                                  cx_ttlcache_load_fn load, void *arg);

/* Drops the entry of key's slot (whichever key it holds: a collision only
 * costs a reload) and makes any load of that slot in progress not stored.
 * key is borrowed; a key too long to be cached is a no-op. */
void cx_ttlcache_invalidate(cx_ttlcache *c, const char *key);

#endif
