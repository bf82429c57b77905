/* hist: call history, audit log and call quality (API-ROOMS.md "History,
 * audit, call quality"), served by the webhook service, which owns the
 * participant history these are built from.
 *
 * hist_access.c  who is calling about a room: room token claims, or the
 *                owner's access token (asked of rooms over NATS)
 * hist_calls.c   calixio.webhook.calls and .history (visits, built by the
 *                triggers of migrations/0009_history.sql)
 * hist_audit.c   the room-event -> audit action table, its consumer and
 *                calixio.webhook.audit
 * hist_stats.c   calixio.webhook.stats_add / stats_get
 * hist_events.c  room changes (owner, name, end) and account deletion
 *                consumers */
#ifndef WH_HIST_H
#define WH_HIST_H

#include <nats/nats.h>

#include "cx_bearer.h"
#include "webhook.h"

/* Who asks about a room. */
typedef struct wh_hist_caller {
    char role[16];                      /* host | moderator | participant | guest */
    char identity[CX_IDENTITY_MAX + 1]; /* room tokens only ("" for access) */
    char name[256];
    char user_id[64]; /* "" for guests */
    bool room_token;
} wh_hist_caller;

/* Verifies req's bearer for room room_id: a room token of that room (else
 * 403 room_forbidden), or an access token, whose holder is the host when
 * rooms.get (asked with the caller's Authorization) names them as owner
 * (403 room_forbidden otherwise; 404 room_not_found when rooms says so).
 * A waiting token is 401 invalid_token. `allowed` is a NULL-terminated
 * list of roles; a role not in it is 403 room_forbidden. */
cx_status wh_hist_caller_for_room(wh_ctx *c, cx_req *req, const char *room_id,
                                  const char *const *allowed, wh_hist_caller *out);

/* A column of r holding extract(epoch ...)::bigint (NULL -> NULL) as a
 * malloced RFC 3339 string. */
char *wh_hist_time(const PGresult *r, int row, int col);

/* malloced copy of column col of row ("" when NULL); NULL when out of memory. */
char *wh_hist_str(const PGresult *r, int row, int col);

/* True for an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)). */
bool wh_hist_rfc3339_valid(const char *s);

/* Handlers (ctx is a wh_ctx). */
cx_status wh_h_calls(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                     void *ctx);
cx_status wh_h_history(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                       void *ctx);
cx_status wh_h_audit(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                     void *ctx);
cx_status wh_h_stats_add(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                         void *ctx);
cx_status wh_h_stats_get(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                         void *ctx);

/* The consumers of hist_audit.c and hist_events.c: queue subscriptions
 * (group calixio-webhook-history) on svc's connection. */
typedef struct wh_hist_subs wh_hist_subs;

/* Subscribes <prefix>.events.room.*.*.* (the RoomEvents, whose types have
 * two tokens; not the whole events.room.>, where the LiveKitEvent this
 * daemon publishes for every webhook would come back to it for nothing),
 * <prefix>.events.rooms.> (room owner/name/end) and
 * <prefix>.events.user.*.deleted. *out owned by the caller
 * (wh_hist_unsubscribe). */
cx_status wh_hist_subscribe(wh_ctx *c, cx_service *svc, wh_hist_subs **out);

/* Drains and frees; NULL is fine. */
void wh_hist_unsubscribe(wh_hist_subs *s);

/* hist_audit.c: stores the audit entry of one RoomEvent (protobuf bytes),
 * when its type is in the action table; others are ignored (CX_OK). */
cx_status wh_audit_store(wh_ctx *c, const void *data, int len);

#endif
