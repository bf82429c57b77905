/* rlsync: one per-IP rate limit across gateway copies, without a store
 * round trip per request.
 *
 * Each copy keeps its local token buckets (ratelimit.h) and decides every
 * request alone. Every interval it publishes what it granted per address
 * since the last report (calixio.v1.RateLimitUsage, protobuf) on
 * `<prefix>.gateway.ratelimit`, and it charges the reports of the other
 * copies to its own buckets. N copies therefore grant together about one
 * limit: what they can over-grant is what the others took during one
 * interval plus the NATS latency, and it is paid back (the buckets go
 * negative) in the following interval. NATS down: each copy limits alone. */
#ifndef GW_RLSYNC_H
#define GW_RLSYNC_H

#include <nats/nats.h>
#include <stdint.h>

#include "cx_status.h"
#include "ratelimit.h"

typedef struct gw_rlsync gw_rlsync;

/* Subscribes `<prefix>.gateway.ratelimit` on nc (borrowed, must outlive
 * the sync) and starts the reporting thread (every interval_ms). rl is
 * borrowed. *out NULL on error. */
cx_status gw_rlsync_create(gw_rlsync **out, natsConnection *nc, const char *prefix,
                           gw_ratelimit *rl, int64_t interval_ms);

/* Sends a last report, stops the thread, unsubscribes, frees. NULL is fine. */
void gw_rlsync_destroy(gw_rlsync *s);

#endif
