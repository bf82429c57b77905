/* proxy: asynchronous NATS request/reply for the gateway.
 *
 * One connection, one wildcard inbox subscription `_INBOX.<nuid>.*`; every
 * request gets the reply subject `_INBOX.<nuid>.<token>` and a pending entry
 * (embedded in the caller's request state) in a hash table. The inbox
 * callback looks the token up, unlinks the entry and calls its `done`
 * callback; a timer thread does the same with GW_PX_TIMEOUT for entries older
 * than the timeout. Exactly one of them wins (unlinking happens under the
 * table lock), so `done` runs exactly once per successful gw_proxy_send.
 * No thread ever blocks waiting for a reply.
 *
 * A request marked `repeatable` (safe to process twice: reads, joins) that
 * has no reply after the retry budget is published once more with the same
 * reply subject; the queue group usually hands it to another copy (a copy
 * killed with the first delivery is gone from the group by then). The first
 * reply wins; the other one finds no entry and is dropped. The timeout still
 * counts from the first publish. */
#ifndef GW_PROXY_H
#define GW_PROXY_H

#include <nats/nats.h>
#include <stdbool.h>
#include <stdint.h>

#include "cx_natsconn.h"
#include "cx_status.h"

typedef enum gw_px_outcome {
    GW_PX_NONE = 0,
    GW_PX_REPLY,         /* pend->reply holds the reply (owned by the entry) */
    GW_PX_TIMEOUT,       /* nobody answered within the timeout */
    GW_PX_NO_RESPONDERS, /* nobody subscribes to the subject */
    GW_PX_CLOSED         /* cut short by gw_proxy_close_requests (shutdown) */
} gw_px_outcome;

typedef struct gw_pending gw_pending;
struct gw_pending {
    /* set by the caller before gw_proxy_send */
    void (*done)(gw_pending *p); /* called once, on a NATS or timer thread */
    bool repeatable;             /* may be published twice (see above) */
    /* results, valid in and after done() */
    gw_px_outcome outcome;
    natsMsg *reply; /* GW_PX_REPLY: owned, free with gw_pending_clear */
    /* private */
    uint64_t token;
    int64_t deadline_ms;
    gw_pending *hnext, *prev, *next;
    bool linked;
    natsMsg *again; /* the second publish, owned while queued */
    int64_t retry_at_ms;
    gw_pending *rprev, *rnext; /* retry queue (FIFO = retry time order) */
    bool in_retry;
};

/* Headers forwarded with a request; NULL/"" values are not sent. */
typedef struct gw_px_headers {
    const char *request_id;
    const char *authorization;
    const char *client_ip;
    const char *user_agent;
} gw_px_headers;

typedef struct gw_proxy gw_proxy;

/* Connects (retrying in the background when NATS is not there yet: requests
 * then fail fast with CX_ERR_UNAVAILABLE), subscribes the inbox and starts
 * the timer thread. prefix is the subject prefix ("calixio"). retry_ms is
 * the budget after which a repeatable request is published again (0, or a
 * value >= timeout_ms: never). */
cx_status gw_proxy_create(gw_proxy **out, const cx_natsconn_cfg *nats, const char *prefix,
                          int64_t timeout_ms, int64_t retry_ms);

/* Publishes data to "<prefix>.<rel>" with headers h and the entry's reply
 * subject. On CX_OK, p->done will be called exactly once, possibly before
 * this function returns. On error (NATS not connected: CX_ERR_UNAVAILABLE;
 * message beyond the server's max_payload: CX_ERR_PAYLOAD_TOO_LARGE) done is
 * never called. */
cx_status gw_proxy_send(gw_proxy *px, gw_pending *p, const char *rel, const void *data, int len,
                        const gw_px_headers *h);

/* Releases what the outcome holds (the reply message). */
void gw_pending_clear(gw_pending *p);

/* True when the connection is currently connected. */
bool gw_proxy_connected(gw_proxy *px);

/* The connection (borrowed), e.g. for readiness pings. */
natsConnection *gw_proxy_conn(gw_proxy *px);

/* Number of requests waiting for an answer. */
int gw_proxy_pending(gw_proxy *px);

/* Shutdown, first step: from now on gw_proxy_send fails with
 * CX_ERR_UNAVAILABLE; every pending entry completes now with GW_PX_CLOSED.
 * Returns when no entry is linked and no done() callback of this proxy is
 * still running, so the callers' request states may be freed afterwards.
 * Idempotent. */
void gw_proxy_close_requests(gw_proxy *px);

/* gw_proxy_close_requests, then stops the timer thread, closes the
 * subscription and the connection and frees px. NULL is fine. */
void gw_proxy_destroy(gw_proxy *px);

#endif
