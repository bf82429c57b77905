/* slowguard: cuts connections that take too long to deliver a request.
 *
 * libmicrohttpd's connection timeout only measures inactivity, so a client
 * that trickles one header byte a second ("slowloris") would hold its
 * connection forever. The guard gives every request a deadline: from the
 * moment the connection opens, or its request line arrives, until the
 * request is completely received (the access handler's final call). A
 * reaper thread shuts down (shutdown(2), never close(2): libmicrohttpd owns
 * the socket) connections past their deadline; libmicrohttpd then sees the
 * socket fail and closes it itself. A connection idle between two requests
 * of a keep-alive connection gets idle_ms more before the deadline counts. */
#ifndef GW_SLOWGUARD_H
#define GW_SLOWGUARD_H

#include <microhttpd.h>
#include <stdint.h>

#include "cx_status.h"

typedef struct gw_slowguard gw_slowguard;

/* limit_ms: time allowed to deliver one request; idle_ms: extra allowance
 * before the next request of a keep-alive connection starts. Starts the
 * reaper thread. */
cx_status gw_slowguard_create(gw_slowguard **out, int64_t limit_ms, int64_t idle_ms);

/* Stops the reaper. Call after the HTTP server is stopped. NULL is fine. */
void gw_slowguard_destroy(gw_slowguard *g);

/* MHD_OPTION_NOTIFY_CONNECTION callback (cls = the guard). */
void gw_slowguard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                         enum MHD_ConnectionNotificationCode code);

/* MHD_OPTION_URI_LOG_CALLBACK (cls = the guard): a request line arrived.
 * Returns NULL (no request context is created here). */
void *gw_slowguard_uri(void *cls, const char *uri, struct MHD_Connection *c);

/* The request on c was received completely: no deadline while it is served. */
void gw_slowguard_received(struct MHD_Connection *c);

/* The request on c was answered: the connection may carry another one. */
void gw_slowguard_next(gw_slowguard *g, struct MHD_Connection *c);

/* Connections cut so far (for metrics and tests). */
uint64_t gw_slowguard_cut(const gw_slowguard *g);

#endif
