/* ratelimit: a token bucket per client IP, in memory (one gateway copy).
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

void gw_ratelimit_destroy(gw_ratelimit *rl);

#endif
