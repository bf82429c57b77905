/* events: GET /rooms/{id}/events, the live event streams of the gateway.
 *
 * Room events are published by the services on
 * <prefix>.events.room.<room_id>.<type>; a JetStream stream (created here,
 * idempotently, when first needed: "<prefix>_room_events", max age
 * EVENTS_MAX_AGE) keeps them, and its sequence numbers are the SSE ids.
 *
 * No thread per stream: each stream is an MHD response whose content
 * callback sends queued frames and suspends the connection when its queue
 * is empty; whoever queues a frame resumes it. One ordered JetStream
 * consumer per room with listeners (on one connection with the shared
 * delivery pool) feeds every listener of that room; a timer thread queues
 * the pings and closes expired streams. A listener's queue holds at most
 * queue_max frames: a reader that falls that far behind is closed and its
 * frames freed, so memory stays bounded.
 *
 * Resume (Last-Event-ID): the missed events of the room are read from the
 * stream (direct get, next by subject) before the response starts, then
 * the live ones follow without gap or repeat. A sequence older than the
 * stream holds answers one `event: reset`. */
#ifndef GW_EVENTS_H
#define GW_EVENTS_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "cx_auth.h"
#include "cx_natsconn.h"
#include "cx_status.h"

typedef struct gw_events_cfg {
    const cx_natsconn_cfg *nats; /* borrowed: the gateway's NATS settings */
    const char *prefix;
    const cx_auth_cfg *auth; /* borrowed: verifies the three bearer kinds */
    int64_t ping_ms;         /* EVENTS_PING_INTERVAL */
    int64_t max_age_ms;      /* EVENTS_MAX_AGE: the stream's max age */
    int64_t queue_max;       /* EVENTS_QUEUE_MAX: frames queued per stream */
    int replicas;            /* EVENTS_REPLICAS: stream replicas (cluster: 3) */
    int64_t timeout_ms;      /* NATS requests (host check, JetStream API) */
} gw_events_cfg;

typedef struct gw_events gw_events;

/* Connects (in the background if NATS is not up yet). cfg strings are
 * borrowed and must outlive the object. */
cx_status gw_events_create(gw_events **out, const gw_events_cfg *cfg);

/* Opens the stream of room_id for the caller (authorization: the header
 * value, or "Bearer <?token=>"; last_id: Last-Event-ID or NULL). On CX_OK
 * *resp is a new response to queue (the caller destroys its reference after
 * queueing). Otherwise the status to answer: 401 for a bad or missing
 * token, 403 for a token of another room or an access token not the host's,
 * 503 when NATS / JetStream cannot serve. Blocks the calling thread for the
 * host check of an access token and the replay of missed events. */
cx_status gw_events_open(gw_events *ev, struct MHD_Connection *conn, const char *room_id,
                         const char *authorization, const char *last_id, const char *rid,
                         struct MHD_Response **resp);

/* Streams open now. */
int gw_events_streams(gw_events *ev);

/* Shutdown, first step: every stream ends (its queued frames are dropped)
 * and every suspended stream is resumed, so the HTTP server can drain. */
void gw_events_close_all(gw_events *ev);

/* Stops the timer, the subscriptions and the connection; frees ev. Call
 * after gw_http_stop. NULL is fine. */
void gw_events_destroy(gw_events *ev);

#endif
