/* hist_events.c: the consumers that keep history in step with the rest of
 * the system, each a queue subscription (one copy of the daemon handles
 * each message; every write is idempotent, so a redelivery is harmless):
 *
 *   <prefix>.events.room.*.*.*        RoomEvent -> audit entry (hist_audit.c)
 *   <prefix>.events.rooms.>           RoomChanged -> history_rooms (owner,
 *                                     name, start, end); an end closes the
 *                                     room's open visits (history_room_seen)
 *   <prefix>.events.user.*.deleted    AccountDeleted -> the name erased
 *                                     from history (history_erase_user)
 *
 * A failed write is tried again (up to 3 times: a deadlock with a webhook
 * batch aborts one of them), then logged; NATS core delivery is at most
 * once, so auth republishes deletions until acknowledged by its own
 * outbox, and a room's end is also applied to a visit that joins later
 * (the trigger). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/account.pb-c.h"
#include "calixio/v1/rooms.pb-c.h"
#include "cx_json.h"
#include "cx_log.h"
#include "hist.h"

#define WH_HISTEV_QUEUE "calixio-webhook-history"
#define WH_HISTEV_DRAIN_WAIT_MS 2000

struct wh_hist_subs {
    wh_ctx *c;
    natsSubscription *audit, *rooms, *users;
};

static cx_status _retry(cx_status (*fn)(wh_ctx *, const void *, int), wh_ctx *c, natsMsg *msg);

static const char *_s(const char *s)
{
    return s && s[0] ? s : NULL;
}

/* True when subject is <prefix>.events.room.<UUID>.<type>: a RoomEvent.
 * The same subject space carries this daemon's LiveKitEvent messages,
 * keyed by the LiveKit room name instead (README "NATS events"). */
static bool _is_room_event(const char *subject)
{
    const char *p = subject ? strstr(subject, ".events.room.") : NULL;
    if (!p)
        return false;
    p += strlen(".events.room.");
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        char ch = p[i];
        if (dash ? ch != '-' : !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
            return false;
    }
    return p[36] == '.';
}

static void _on_room_event(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
    wh_hist_subs *h = arg;
    (void)nc;
    (void)sub;
    if (!_is_room_event(natsMsg_GetSubject(msg))) {
        natsMsg_Destroy(msg);
        return;
    }
    cx_status s = _retry(wh_audit_store, h->c, msg);
    if (s != CX_OK)
        cx_log_warn(NULL, "%s: audit entry not stored: %s", natsMsg_GetSubject(msg),
                    cx_status_code(s));
    natsMsg_Destroy(msg);
}

#define WH_HISTEV_ROOM_SEEN_SQL                                                      \
    "SELECT history_room_seen($1::uuid, NULLIF($2, '')::uuid, $3, $4::timestamptz, " \
    "$5::timestamptz)"

static cx_status _room_seen(wh_ctx *c, const void *data, int len)
{
    ProtobufCMessage *m = NULL;
    PGresult *res = NULL;
    cx_status s = cx_pb_unpack(&calixio__v1__room_changed__descriptor, data, (size_t)len, &m);
    if (s != CX_OK)
        return s;
    const Calixio__V1__RoomChanged *e = (const void *)m;
    const Calixio__V1__Room *r = e->room;
    if (r && _s(r->id) && strlen(r->id) == 36) {
        const char *params[] = {r->id, r->owner_user_id ? r->owner_user_id : "", r->name,
                                _s(r->started_at), _s(r->ended_at)};
        s = cx_pg_exec_prepared(c->pg, "wh_hist_room_seen", WH_HISTEV_ROOM_SEEN_SQL, 5, params,
                                &res);
        PQclear(res);
    }
    protobuf_c_message_free_unpacked(m, NULL);
    return s;
}

/* Runs fn up to WH_HISTEV_ATTEMPTS times while it fails with anything but an
 * undecodable message: a deadlock with a webhook batch (both lock visits
 * and the history_rooms row, see README) aborts one statement, and a
 * consumer's message is not delivered again. */
#define WH_HISTEV_ATTEMPTS 3
static cx_status _retry(cx_status (*fn)(wh_ctx *, const void *, int), wh_ctx *c, natsMsg *msg)
{
    cx_status s = CX_ERR_INTERNAL;
    for (int i = 0; i < WH_HISTEV_ATTEMPTS; i++) {
        s = fn(c, natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
        if (s == CX_OK || s == CX_ERR_INVALID_JSON || s == CX_ERR_BAD_REQUEST)
            break;
    }
    return s;
}

static void _on_rooms(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
    wh_hist_subs *h = arg;
    (void)nc;
    (void)sub;
    cx_status s = _retry(_room_seen, h->c, msg);
    if (s != CX_OK)
        cx_log_warn(NULL, "%s: history room not updated: %s", natsMsg_GetSubject(msg),
                    cx_status_code(s));
    natsMsg_Destroy(msg);
}

static cx_status _erase(wh_ctx *c, const void *data, int len)
{
    ProtobufCMessage *m = NULL;
    PGresult *res = NULL;
    cx_status s = cx_pb_unpack(&calixio__v1__account_deleted__descriptor, data, (size_t)len,
                               &m);
    if (s != CX_OK)
        return s;
    const Calixio__V1__AccountDeleted *e = (const void *)m;
    if (e->user_id && strlen(e->user_id) == 36) {
        const char *params[] = {e->user_id};
        s = cx_pg_exec_prepared(c->pg, "wh_hist_erase", "SELECT history_erase_user($1::uuid)",
                                1, params, &res);
        PQclear(res);
        if (s == CX_OK)
            cx_log_info(NULL, "history: name of deleted account %s erased", e->user_id);
    } else {
        s = CX_ERR_INVALID_JSON;
    }
    protobuf_c_message_free_unpacked(m, NULL);
    return s;
}

static void _on_user(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
    wh_hist_subs *h = arg;
    (void)nc;
    (void)sub;
    cx_status s = _retry(_erase, h->c, msg);
    if (s != CX_OK)
        cx_log_warn(NULL, "%s: account deletion not applied to history: %s",
                    natsMsg_GetSubject(msg), cx_status_code(s));
    natsMsg_Destroy(msg);
}

/* One queue subscription of rel on svc's connection. */
static cx_status _sub(cx_service *svc, const char *rel, natsMsgHandler fn, wh_hist_subs *h,
                      natsSubscription **out)
{
    char subj[256];
    cx_service_subject(svc, rel, subj, sizeof subj);
    natsStatus ns = natsConnection_QueueSubscribe(out, cx_service_conn(svc), subj,
                                                  WH_HISTEV_QUEUE, fn, h);
    if (ns != NATS_OK) {
        cx_log_error(NULL, "nats: subscribing %s failed: %s", subj, natsStatus_GetText(ns));
        return CX_ERR_UNAVAILABLE;
    }
    return CX_OK;
}

cx_status wh_hist_subscribe(wh_ctx *c, cx_service *svc, wh_hist_subs **out)
{
    wh_hist_subs *h = calloc(1, sizeof *h);
    if (!h)
        return CX_ERR_NOMEM;
    h->c = c;
    cx_status s = _sub(svc, "events.rooms.>", _on_rooms, h, &h->rooms);
    /* RoomEvent types have two tokens (room.created, participant.left):
     * this skips the one-token LiveKitEvent subjects (<room>.<event>) this
     * daemon publishes for every webhook. One subscription, so the audit
     * keeps the order of publication (one subscription per type would
     * deliver on as many threads). */
    if (s == CX_OK)
        s = _sub(svc, "events.room.*.*.*", _on_room_event, h, &h->audit);
    if (s == CX_OK)
        s = _sub(svc, "events.user.*.deleted", _on_user, h, &h->users);
    if (s != CX_OK) {
        wh_hist_unsubscribe(h);
        return s;
    }
    *out = h;
    return CX_OK;
}

static void _drop(natsSubscription *sub)
{
    if (!sub)
        return;
    if (natsSubscription_Drain(sub) != NATS_OK ||
        natsSubscription_WaitForDrainCompletion(sub, WH_HISTEV_DRAIN_WAIT_MS) != NATS_OK)
        natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
}

void wh_hist_unsubscribe(wh_hist_subs *h)
{
    if (!h)
        return;
    _drop(h->audit);
    _drop(h->rooms);
    _drop(h->users);
    free(h);
}
