/* http: the libmicrohttpd server of the gateway.
 *
 * Internal epoll polling with a thread pool; a request never holds a thread
 * while it waits for NATS: its connection is suspended, the request is
 * published asynchronously (proxy.h) and the connection is resumed by the
 * reply, the timeout timer or the readiness prober. Responses are only
 * queued from a later call of the access handler than the first one of a
 * request (libmicrohttpd 0.9.75 drops keep-alive otherwise). */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "cors.h"
#include "events.h"
#include "cx_status.h"
#include "proxy.h"
#include "ratelimit.h"
#include "ready.h"
#include "slowguard.h"
#include "static.h"

typedef struct gw_http_cfg {
    const char *addr; /* "127.0.0.1:8080", "[::1]:8080", ":8080" */
    unsigned threads; /* thread pool size (>= 1) */
    unsigned max_connections;
    unsigned connection_timeout_s;
    bool trust_proxy;    /* X-Forwarded-For / X-Forwarded-Proto believed */
    bool cookie_secure;  /* always SameSite=None; Secure */
    const gw_cors *cors; /* borrowed, outlives the server */
    gw_ratelimit *rl;    /* borrowed */
    gw_proxy *px;        /* borrowed */
    gw_ready *ready;     /* borrowed */
    gw_slowguard *guard; /* borrowed: request read deadlines */
    const char *openapi; /* borrowed document text */
    size_t openapi_len;
    const gw_static *web; /* borrowed: the web app's files, NULL when off */
    gw_events *events;    /* borrowed: GET /rooms/{id}/events */
} gw_http_cfg;

typedef struct gw_http gw_http;

/* Starts listening. cfg (and what it points to) must outlive the server. */
cx_status gw_http_start(gw_http **out, const gw_http_cfg *cfg);

/* Stops accepting connections; answers from now on carry Connection: close. */
void gw_http_quiesce(gw_http *h);

/* Requests currently being served (received, not yet completed). */
int gw_http_active(gw_http *h);

/* Requests whose connection was suspended (waiting for NATS or readiness)
 * and that have not completed yet (answer not fully sent). */
int gw_http_suspended(gw_http *h);

/* Stops the server. No connection may be suspended without a pending
 * resume (libmicrohttpd aborts then): complete every NATS request
 * (gw_proxy_close_requests) and readiness waiter (gw_ready_shutdown) first.
 * NULL is fine. */
void gw_http_stop(gw_http *h);

#endif
