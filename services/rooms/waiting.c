/* waiting.c: the waiting room of knock rooms (API-ROOMS.md "Waiting
 * room"): poll and leave (waiting token), list, approve, reject. The
 * approval mints the 200 join answer, stores it with the entry and sends it
 * in the waiting.approved event (to that waiting party only); every poll
 * answers the stored one. When the approval could not mint (LiveKit keys,
 * Postgres), the first poll mints; a racing mint loses the store and
 * answers the winner's, so there is only ever one answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "calixio/v1/common.pb-c.h"
#include "calixio/v1/events.pb-c.h"
#include "cx_json.h"
#include "cx_log.h"
#include "chat.h" /* rooms_publish_event */
#include "rooms.h"

static cx_status _status_reply(const char *status, const char *reason, ProtobufCMessage **out)
{
    Calixio__V1__JoinReply *m = malloc(sizeof *m);
    if (!m)
        return CX_ERR_NOMEM;
    calixio__v1__join_reply__init(m);
    m->status = cx_strdup(status);
    m->reason = reason && reason[0] ? cx_strdup(reason) : NULL;
    if (!m->status || (reason && reason[0] && !m->reason)) {
        protobuf_c_message_free_unpacked(&m->base, NULL);
        return CX_ERR_NOMEM;
    }
    *out = &m->base;
    return CX_OK;
}

/* The stored answer of an approved entry, unpacked. */
static cx_status _stored(const rooms_waiting *w, ProtobufCMessage **out)
{
    ProtobufCMessage *m = NULL;
    if (cx_pb_unpack(&calixio__v1__join_reply__descriptor, w->answer, w->answer_len, &m) !=
        CX_OK)
        return CX_ERR_INTERNAL;
    *out = m;
    return CX_OK;
}

/* Mints the answer of an approved entry once (see the file comment). */
static cx_status _approved(rooms_ctx *ctx, cx_req *req, const rooms_row *r, rooms_waiting *w,
                           ProtobufCMessage **out)
{
    Calixio__V1__JoinReply *m = NULL;
    size_t len = 0;
    bool stored = false;
    if (w->has_answer)
        return _stored(w, out);
    cx_status s = CX_OK;
    if (strcmp(r->status, "pending") == 0)
        s = rooms_start_now(ctx, req, r->id);
    if (s == CX_OK)
        s = rooms_mint_join(ctx, r, w->identity, w->name, w->role, w->user_id, &m);
    if (s != CX_OK)
        return s;
    m->status = cx_strdup("approved");
    uint8_t *buf = m->status ? cx_pb_pack(&m->base, &len) : NULL;
    if (!buf) {
        protobuf_c_message_free_unpacked(&m->base, NULL);
        return CX_ERR_NOMEM;
    }
    s = rooms_waiting_set_answer(ctx->pg, w->id, buf, len, &stored);
    free(buf);
    if (s == CX_OK && !stored) { /* another poll stored first: answer that one */
        protobuf_c_message_free_unpacked(&m->base, NULL);
        rooms_waiting_clear(w);
        s = rooms_waiting_get(ctx->pg, r->id, w->id, w);
        return s == CX_OK ? (w->has_answer ? _stored(w, out) : CX_ERR_INTERNAL) : s;
    }
    if (s != CX_OK) {
        protobuf_c_message_free_unpacked(&m->base, NULL);
        return s;
    }
    *out = &m->base;
    return CX_OK;
}

/* The waiting token of exactly this entry of this room, and the room. */
static cx_status _own_entry(rooms_ctx *ctx, cx_req *req, const Calixio__V1__WaitingRef *in,
                            rooms_row *row)
{
    cx_bearer b;
    cx_status s = cx_bearer_verify(ctx->auth, ctx->redis, req->authorization, CX_BEARER_WAITING,
                                   &b);
    if (s != CX_OK)
        return s;
    if ((s = rooms_store_get(ctx->pg, in->id, row)) != CX_OK)
        return s;
    if (strcmp(b.room.room_id, row->id) != 0 || !in->waiting_id ||
        strcmp(b.room.waiting_id, in->waiting_id) != 0) {
        rooms_row_clear(row);
        return cx_req_fail(req, CX_ERR_ROOM_FORBIDDEN,
                           "this waiting token is for another entry");
    }
    return CX_OK;
}

cx_status rooms_h_waiting_leave(cx_req *req, const ProtobufCMessage *in_,
                                ProtobufCMessage **out, void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__WaitingRef *in = (const void *)in_;
    rooms_row row;
    rooms_waiting w;
    bool changed = false;
    if (in->reason)
        return cx_req_fail(req, CX_ERR_INVALID_JSON, "unknown field \"reason\"");
    cx_status s = _own_entry(ctx, req, in, &row);
    if (s != CX_OK)
        return s;
    s = rooms_waiting_leave(ctx->pg, row.id, in->waiting_id, &w, &changed);
    if (s == CX_OK) {
        if (changed)
            rooms_publish_waiting(ctx, row.id, row.livekit_room, "left", w.id, w.name,
                                  w.user_id, NULL, req->request_id);
        rooms_waiting_clear(&w);
    }
    rooms_row_clear(&row);
    if (s != CX_OK)
        return s;
    Calixio__V1__Empty *e = malloc(sizeof *e);
    if (!e)
        return CX_ERR_NOMEM;
    calixio__v1__empty__init(e);
    *out = &e->base;
    return CX_OK;
}

cx_status rooms_h_waiting_poll(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                               void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__WaitingRef *in = (const void *)in_;
    rooms_row row;
    rooms_waiting w;

    cx_status s = _own_entry(ctx, req, in, &row);
    if (s != CX_OK)
        return s;
    s = rooms_waiting_get(ctx->pg, row.id, in->waiting_id, &w);
    if (s == CX_OK) {
        if (strcmp(w.status, "approved") == 0)
            s = _approved(ctx, req, &row, &w, out);
        else
            s = _status_reply(w.status, w.reason, out);
        rooms_waiting_clear(&w);
    }
    rooms_row_clear(&row);
    return s;
}

cx_status rooms_h_waiting_list(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                               void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__RoomRef *in = (const void *)in_;
    rooms_row row;
    rooms_actor who;
    rooms_waiting *v = NULL;
    int n = 0;

    cx_status s = rooms_authorize(ctx, req, in->id, ROOMS_ACT_WAITING_LIST, &row, &who);
    if (s != CX_OK)
        return s;
    s = rooms_waiting_list(ctx->pg, row.id, &v, &n);
    rooms_row_clear(&row);
    if (s != CX_OK)
        return s;
    Calixio__V1__WaitingList *l = malloc(sizeof *l);
    if (!l) {
        free(v);
        return CX_ERR_NOMEM;
    }
    calixio__v1__waiting_list__init(l);
    l->waiting = calloc(n > 0 ? (size_t)n : 1, sizeof *l->waiting);
    for (int i = 0; l->waiting && i < n; i++) {
        Calixio__V1__WaitingEntry *e = malloc(sizeof *e);
        if (!e)
            break;
        calixio__v1__waiting_entry__init(e);
        l->waiting[l->n_waiting++] = e;
        e->id = cx_strdup(v[i].id);
        e->name = cx_strdup(v[i].name);
        e->user_id = v[i].user_id[0] ? cx_strdup(v[i].user_id) : NULL;
        e->requested_at = cx_strdup(v[i].requested_at);
        if (!e->id || !e->name || !e->requested_at || (v[i].user_id[0] && !e->user_id))
            break;
    }
    bool ok = l->waiting && (int)l->n_waiting == n &&
              (n == 0 || l->waiting[n - 1]->requested_at);
    free(v);
    if (!ok) {
        protobuf_c_message_free_unpacked(&l->base, NULL);
        return CX_ERR_NOMEM;
    }
    *out = &l->base;
    return CX_OK;
}

/* Publishes waiting.approved with the join answer as its data ({id, status
 * "approved", ...the 200 join answer}); only its waiting party receives it
 * (the gateway's audience rule). Without an answer (the mint failed), the
 * event carries {id, status} and the poll mints. */
static void _publish_approved(rooms_ctx *ctx, cx_req *req, const rooms_row *r,
                              const rooms_waiting *w)
{
    ProtobufCMessage *m = NULL;
    Calixio__V1__RoomEvent ev = CALIXIO__V1__ROOM_EVENT__INIT;
    Calixio__V1__RoomEventWaiting we = CALIXIO__V1__ROOM_EVENT_WAITING__INIT;
    rooms_waiting cur = *w;
    char *txt = NULL;
    cur.has_answer = false; /* decide's copy has none: mint (or read the winner's) */
    cur.answer = NULL;
    cur.answer_len = 0;
    if (_approved(ctx, req, r, &cur, &m) == CX_OK) {
        json_t *o = cx_json_encode_value(m);
        if (o && json_object_set_new(o, "id", json_string(w->id)) == 0)
            txt = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    rooms_waiting_clear(&cur);
    if (!txt)
        cx_log_warn(req->request_id, "room %s: waiting %s approved without its answer", r->id,
                    w->id);
    we.id = (char *)w->id;
    ev.type = "waiting.approved";
    ev.room_id = (char *)r->id;
    ev.livekit_room = (char *)r->livekit_room;
    ev.waiting = &we;
    ev.waiting_id = (char *)w->id;
    ev.data_json = txt;
    rooms_publish_event(ctx, &ev, req->request_id);
    free(txt);
}

static cx_status _decide(rooms_ctx *ctx, cx_req *req, const Calixio__V1__WaitingRef *in,
                         const char *status, ProtobufCMessage **out)
{
    rooms_row row;
    rooms_actor who;
    rooms_waiting w;
    bool changed = false;
    bool reject = strcmp(status, "rejected") == 0;

    if (!reject && in->reason)
        return cx_req_fail(req, CX_ERR_INVALID_JSON, "unknown field \"reason\"");
    if (in->reason && rooms_chars(in->reason) > ROOMS_REASON_MAX_CHARS)
        return cx_req_field_error(req, "reason", "max");
    cx_status s = rooms_authorize(ctx, req, in->id, ROOMS_ACT_WAITING_DECIDE, &row, &who);
    if (s != CX_OK)
        return s;
    s = rooms_waiting_decide(ctx->pg, row.id, in->waiting_id, status, in->reason, &w, &changed);
    if (s == CX_OK && changed) {
        if (rooms_audit_add(ctx->pg, row.id, &who,
                            reject ? "waiting.rejected" : "waiting.approved", w.id,
                            NULL) != CX_OK)
            cx_log_warn(req->request_id, "room %s: audit of the decision failed", row.id);
        if (reject)
            rooms_publish_waiting(ctx, row.id, row.livekit_room, "rejected", w.id, w.name,
                                  w.user_id, w.reason, req->request_id);
        else
            _publish_approved(ctx, req, &row, &w);
        cx_log_info(req->request_id, "room %s: waiting %s %s", row.id, w.id, status);
    }
    rooms_row_clear(&row);
    if (s != CX_OK)
        return s;
    Calixio__V1__WaitingDecision *d = malloc(sizeof *d);
    if (d) {
        calixio__v1__waiting_decision__init(d);
        d->id = cx_strdup(w.id);
        d->status = cx_strdup(w.status);
    }
    rooms_waiting_clear(&w);
    if (!d || !d->id || !d->status) {
        if (d)
            protobuf_c_message_free_unpacked(&d->base, NULL);
        return CX_ERR_NOMEM;
    }
    *out = &d->base;
    return CX_OK;
}

cx_status rooms_h_waiting_approve(cx_req *req, const ProtobufCMessage *in,
                                  ProtobufCMessage **out, void *ctx)
{
    return _decide(ctx, req, (const void *)in, "approved", out);
}

cx_status rooms_h_waiting_reject(cx_req *req, const ProtobufCMessage *in,
                                 ProtobufCMessage **out, void *ctx)
{
    return _decide(ctx, req, (const void *)in, "rejected", out);
}
