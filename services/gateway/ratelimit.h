/* ratelimit: a token bucket per client IP, in memory.
 *
 * Several gateway copies share one limit by telling each other what they
 * took (rlsync.h): every local take is counted until gw_ratelimit_drain
 * hands it out, and the takes of other copies are charged with
 * gw_ratelimit_charge, so each copy's buckets see the consumption of all.
 *
 * Buckets live in a fixed number of shards, each a small hash table with a
 * mutex; a shard that is full evicts buckets that have refilled (they carry
 * no state), then its least recently used one, so memory stays bounded
 * whatever the number of client addresses. No MHD, no NATS. */
#ifndef GW_RATELIMIT_H
#define GW_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "cx_status.h"

typedef struct gw_ratelimit gw_ratelimit;

/* rps tokens per second, burst bucket size. rps == 0 disables limiting
 * (gw_ratelimit_take then always allows). *out NULL on error. */
cx_status gw_ratelimit_create(gw_ratelimit **out, int64_t rps, int64_t burst);

/* Takes one token for ip at monotonic time now_ms. Returns true when
 * allowed; otherwise false and *retry_after_s (>= 1) says when one token
 * will be there. ip is any string (bounded to 63 bytes). Thread-safe. */
bool gw_ratelimit_take(gw_ratelimit *rl, const char *ip, int64_t now_ms, int *retry_after_s);

/* Charges n tokens taken by another gateway copy for ip (the bucket may go
 * negative, down to -burst: what was over-granted is paid back by waiting).
 * No-op when limiting is off. Thread-safe. */
void gw_ratelimit_charge(gw_ratelimit *rl, const char *ip, uint32_t n, int64_t now_ms);

/* Called by gw_ratelimit_drain for each address with local takes since the
 * last drain; key is borrowed (valid during the call only). The call holds a
 * shard lock: copy and return. */
typedef void (*gw_rl_emit)(void *ctx, const char *key, uint32_t n);

/* Hands every address's local takes since the last drain to emit and resets
 * them. Takes forgotten with an evicted bucket are lost (the bucket was full
 * again, or the least recently used of a full shard). Thread-safe. */
void gw_ratelimit_drain(gw_ratelimit *rl, gw_rl_emit emit, void *ctx);

void gw_ratelimit_destroy(gw_ratelimit *rl);

#endif
