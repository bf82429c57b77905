/* ready: the /readyz verdict, computed off the HTTP threads.
 *
 * Ready means: NATS connected and every service (auth, rooms, media,
 * webhook) answers `$SRV.PING.calixio-<svc>` within a short timeout. A
 * verdict is cached for GW_READY_CACHE_MS; a request that finds it stale
 * registers a waiter and is completed by the probe thread once a fresh
 * verdict exists, so no HTTP thread ever waits on NATS. */
#ifndef GW_READY_H
#define GW_READY_H

#include <stdbool.h>

#include "cx_status.h"
#include "proxy.h"

#define GW_READY_CACHE_MS 1000
#define GW_READY_PING_MS 500

/* Bit per service in a not-ready mask; GW_READY_NATS when NATS is down. */
extern const char *const gw_ready_services[];
extern const int gw_ready_n_services;
#define GW_READY_NATS (1u << 31)

typedef struct gw_ready_waiter gw_ready_waiter;
struct gw_ready_waiter {
    void (*done)(gw_ready_waiter *w); /* called on the probe thread */
    unsigned not_ready;               /* the verdict, valid in done() */
    gw_ready_waiter *next;            /* private */
};

typedef struct gw_ready gw_ready;

cx_status gw_ready_create(gw_ready **out, gw_proxy *px);

/* When a fresh verdict is cached: writes it to *not_ready and returns true
 * (w untouched). Otherwise queues w (done() comes later, exactly once) and
 * returns false. */
bool gw_ready_get(gw_ready *r, gw_ready_waiter *w, unsigned *not_ready);

/* Writes the cached verdict to *not_ready and returns true when it is
 * fresh; false otherwise (nothing queued). */
bool gw_ready_peek(gw_ready *r, unsigned *not_ready);

/* Stops the probe thread; queued waiters complete first (their done() has
 * returned when this returns). Afterwards gw_ready_get/peek answer "NATS
 * not ready" at once and queue nothing. Idempotent; NULL is fine. */
void gw_ready_shutdown(gw_ready *r);

/* gw_ready_shutdown, then frees r. NULL is fine. */
void gw_ready_destroy(gw_ready *r);

#endif
