/* manage.c: rooms.update (PATCH), rooms.delete (DELETE), rooms.by_code,
 * rooms.start (media asks at the first allowed join of a pending room) and
 * rooms.leave (room token). API-ROOMS.md "Room, extended", "Meeting codes",
 * "Joining, extended", "Moderation" (leave). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/common.pb-c.h"
#include "cx_json.h"
#include "cx_log.h"
#include "cx_time.h"
#include "cx_text.h"
#include "rooms.h"
#include "chat.h"

static cx_status _empty_reply(ProtobufCMessage **out)
{
    Calixio__V1__Empty *e = malloc(sizeof *e);
    if (!e)
        return CX_ERR_NOMEM;
    calixio__v1__empty__init(e);
    *out = &e->base;
    return CX_OK;
}

static cx_status _room_reply(rooms_row *r, ProtobufCMessage **out)
{
    Calixio__V1__Room *m = rooms_row_to_msg(r);
    rooms_row_clear(r);
    if (!m)
        return CX_ERR_NOMEM;
    *out = &m->base;
    return CX_OK;
}

void rooms_after_end(rooms_ctx *ctx, const rooms_row *r, const char *rid)
{
    /* Tell caches first: joins must stop before anything slower. */
    rooms_publish(ctx, "ended", r, rid);
    if (ctx->lk && r->started_at[0]) {
        if (cx_livekit_delete_room(ctx->lk, r->livekit_room, rid) == CX_OK)
            rooms_store_delete_done(ctx->pg, r->livekit_room);
        else
            cx_log_warn(rid, "room %s: LiveKit DeleteRoom failed; the sweeper retries it",
                        r->id);
    }
    rooms_presence_drop(ctx, r->livekit_room, rid);
    /* issue 17: whoever still waits is turned away */
    rooms_waiting *w = NULL;
    int n = 0;
    if (rooms_waiting_reject_room(ctx->pg, r->id, "room_ended", &w, &n) != CX_OK) {
        cx_log_warn(rid, "room %s: waiting entries not rejected", r->id);
        return;
    }
    for (int i = 0; i < n; i++)
        rooms_publish_waiting(ctx, r->id, r->livekit_room, "rejected", w[i].id, w[i].name,
                              w[i].user_id, w[i].reason, rid);
    free(w);
}

/* ---- update -------------------------------------------------------------- */

/* Checks the patch against the contract and the current row; fills *p. */
static cx_status _validate_patch(cx_req *req, const Calixio__V1__UpdateRoomRequest *in,
                                 const rooms_row *cur, int64_t now, rooms_patch *p)
{
    cx_status s = CX_OK;
    memset(p, 0, sizeof *p);
    if (in->name) {
        /* the rule of create: trimmed, no control or bidi characters */
        cx_text_rule tr = cx_text_clean(in->name, CX_TEXT_NAME, ROOMS_NAME_MIN_CHARS,
                                        ROOMS_NAME_MAX_CHARS, p->name_buf, sizeof p->name_buf);
        if (tr != CX_TEXT_OK)
            s = cx_req_field_error(req, "name",
                                   tr == CX_TEXT_REQUIRED ? "min" : cx_text_rule_name(tr));
        p->name = p->name_buf;
    }
    if (in->description) {
        if (rooms_chars(in->description) > ROOMS_DESCRIPTION_MAX_CHARS)
            s = cx_req_field_error(req, "description", "max");
        p->description = in->description;
    }
    if (in->access) {
        if (strcmp(in->access, "open") != 0 && strcmp(in->access, "knock") != 0 &&
            strcmp(in->access, "invite") != 0)
            s = cx_req_field_error(req, "access", "oneof");
        p->access = in->access;
    }
    p->has_locked = in->has_locked;
    p->locked = in->locked;
    if (in->has_max_participants) {
        if (in->max_participants < 1)
            s = cx_req_field_error(req, "max_participants", "min");
        else if (in->max_participants > ROOMS_MAX_PARTICIPANTS)
            s = cx_req_field_error(req, "max_participants", "max");
        p->has_max_participants = true;
        p->max_participants = in->max_participants;
    }
    if (in->metadata) {
        if (strlen(in->metadata) > ROOMS_METADATA_MAX)
            s = cx_req_field_error(req, "metadata", "max");
        p->metadata = in->metadata;
    }
    if (in->scheduled_at) {
        p->has_scheduled_at = true;
        if (!rooms_time_parse(in->scheduled_at, &p->scheduled_at_s))
            s = cx_req_field_error(req, "scheduled_at", "format");
        else if (p->scheduled_at_s <= now)
            s = cx_req_field_error(req, "scheduled_at", "future");
        else if (p->scheduled_at_s > now + ROOMS_SCHEDULE_MAX_AHEAD_S)
            s = cx_req_field_error(req, "scheduled_at", "max");
    }
    if (in->scheduled_end_at) {
        int64_t after = p->has_scheduled_at ? p->scheduled_at_s
                        : strcmp(cur->status, "pending") == 0 && cur->scheduled_at_s
                            ? cur->scheduled_at_s
                            : now;
        p->has_scheduled_end_at = true;
        if (!rooms_time_parse(in->scheduled_end_at, &p->scheduled_end_at_s))
            s = cx_req_field_error(req, "scheduled_end_at", "format");
        else if (p->scheduled_end_at_s <= after)
            s = cx_req_field_error(req, "scheduled_end_at", "after");
    }
    if (in->password && in->password[0]) {
        size_t n = rooms_chars(in->password);
        if (n < ROOMS_PASSWORD_MIN_CHARS)
            s = cx_req_field_error(req, "password", "min");
        else if (n > ROOMS_PASSWORD_MAX_CHARS)
            s = cx_req_field_error(req, "password", "max");
    }
    return s;
}

/* True when the patch changes nothing. */
static bool _patch_empty(const Calixio__V1__UpdateRoomRequest *in)
{
    return !in->name && !in->description && !in->access && !in->has_locked &&
           !in->has_max_participants && !in->metadata && !in->scheduled_at &&
           !in->scheduled_end_at && !in->password;
}

/* Pushes changed metadata to LiveKit (best effort: the row is the truth;
 * a room LiveKit does not have yet gets it at CreateRoom). */
static void _metadata_to_livekit(rooms_ctx *ctx, const rooms_row *r, const char *rid)
{
    if (!ctx->lk || strcmp(r->status, "active") != 0)
        return;
    json_t *req = json_pack("{s:s,s:s}", "room", r->livekit_room, "metadata",
                            r->metadata ? r->metadata : "");
    if (!req)
        return;
    cx_status s = cx_livekit_call(ctx->lk, "UpdateRoomMetadata", r->livekit_room, req, NULL,
                                  rid);
    json_decref(req);
    if (s != CX_OK && s != CX_ERR_NOT_FOUND)
        cx_log_warn(rid, "room %s: LiveKit UpdateRoomMetadata failed (%s)", r->id,
                    cx_status_code(s));
}

cx_status rooms_h_update(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                         void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__UpdateRoomRequest *in = (const void *)in_;
    rooms_actor who;
    rooms_row cur, row;
    rooms_patch p;
    char *pw_hash = NULL;

    /* the role x action table (policy.c) */
    cx_status s = rooms_authorize(ctx, req, in->id, ROOMS_ACT_UPDATE, &cur, &who);
    if (s != CX_OK)
        return s;
    if (strcmp(cur.status, "ended") == 0)
        s = CX_ERR_ROOM_ENDED;
    if (s == CX_OK && _patch_empty(in))
        return _room_reply(&cur, out);
    if (s == CX_OK)
        s = _validate_patch(req, in, &cur, cx_now_s(), &p);
    if (s == CX_OK && in->password && in->password[0])
        s = rooms_password_hash(ctx, in->password, &pw_hash);
    rooms_row_clear(&cur);
    if (s != CX_OK)
        return s;
    p.password_hash = pw_hash ? pw_hash : (in->password ? "" : NULL);
    s = rooms_store_update(ctx->pg, in->id, &p, &row);
    if (pw_hash) {
        sodium_memzero(pw_hash, strlen(pw_hash));
        free(pw_hash);
    }
    if (s == CX_ERR_CONFLICT)
        return cx_req_fail(req, CX_ERR_CONFLICT,
                           "scheduled_at can only change while the room is pending");
    if (s != CX_OK)
        return s;
    cx_log_info(req->request_id, "room %s updated", row.id);
    rooms_publish(ctx, "updated", &row, req->request_id);
    if (in->metadata)
        _metadata_to_livekit(ctx, &row, req->request_id);
    return _room_reply(&row, out);
}

/* ---- delete -------------------------------------------------------------- */

cx_status rooms_h_delete(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                         void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__RoomRef *in = (const void *)in_;
    rooms_actor who;
    rooms_row row;
    bool changed = false;

    /* the role x action table (policy.c) */
    cx_status s = rooms_authorize(ctx, req, in->id, ROOMS_ACT_DELETE, &row, &who);
    if (s != CX_OK)
        return s;
    rooms_row_clear(&row);
    /* ended first, then deleted with its invites, waiting entries and chat
     * (account_deleted.c: the path account deletion takes too) */
    s = rooms_remove(ctx, in->id, req->request_id, &changed);
    return s == CX_OK ? _empty_reply(out) : s;
}

/* ---- by code -------------------------------------------------------------- */

cx_status rooms_h_by_code(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                          void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__CodeRef *in = (const void *)in_;
    char code[ROOMS_CODE_LEN + 1];
    rooms_row row;
    (void)req; /* no auth: the code is the link */
    if (!rooms_code_norm(in->code, code))
        return CX_ERR_ROOM_NOT_FOUND;
    cx_status s = rooms_store_get_by_code(ctx->pg, code, &row);
    if (s != CX_OK)
        return s;
    Calixio__V1__RoomByCode *m = malloc(sizeof *m);
    if (!m)
        goto out_nomem;
    calixio__v1__room_by_code__init(m);
    m->room_id = cx_strdup(row.id);
    m->name = cx_strdup(row.name);
    m->status = cx_strdup(row.status);
    m->access = cx_strdup(row.access);
    m->has_locked = 1;
    m->locked = row.locked;
    m->scheduled_at = row.scheduled_at[0] ? cx_strdup(row.scheduled_at) : NULL;
    if (!m->room_id || !m->name || !m->status || !m->access ||
        (row.scheduled_at[0] && !m->scheduled_at)) {
        protobuf_c_message_free_unpacked(&m->base, NULL);
        goto out_nomem;
    }
    rooms_row_clear(&row);
    *out = &m->base;
    return CX_OK;
out_nomem:
    rooms_row_clear(&row);
    return CX_ERR_NOMEM;
}

/* ---- start ---------------------------------------------------------------- */

/* rooms.start: the first allowed join of a pending room makes it active.
 * Media asks (forwarding the joiner's Authorization); the timing rule is
 * checked here again, so a direct NATS caller cannot start a room early:
 * the owner always may, anyone else from scheduled_at - ROOM_EARLY_JOIN. */
cx_status rooms_h_start(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                        void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__RoomRef *in = (const void *)in_;
    rooms_row row;

    cx_status s = rooms_store_get(ctx->pg, in->id, &row);
    if (s != CX_OK)
        return s;
    if (strcmp(row.status, "ended") == 0) {
        rooms_row_clear(&row);
        return CX_ERR_ROOM_ENDED;
    }
    if (strcmp(row.status, "pending") != 0)
        return _room_reply(&row, out);
    bool host = req->caller.authenticated &&
                strcmp(req->caller.user_id, row.owner_user_id) == 0;
    if (!host && cx_now_s() < row.scheduled_at_s - ctx->early_join_s) {
        rooms_row_clear(&row);
        return CX_ERR_ROOM_NOT_STARTED;
    }
    rooms_row_clear(&row);
    if ((s = rooms_start_now(ctx, req, in->id)) != CX_OK)
        return s;
    if ((s = rooms_store_get(ctx->pg, in->id, &row)) != CX_OK)
        return s;
    return _room_reply(&row, out);
}

cx_status rooms_start_now(rooms_ctx *ctx, cx_req *req, const char *id)
{
    rooms_row row;
    bool changed = false;
    cx_status s = rooms_store_get(ctx->pg, id, &row);
    if (s != CX_OK)
        return s;
    /* LiveKit first (no pooled connection held across it), then the row */
    if (strcmp(row.status, "pending") == 0 && ctx->lk &&
        cx_livekit_create_room(ctx->lk, row.livekit_room, row.empty_timeout_s,
                               row.max_participants, row.metadata, req->request_id) != CX_OK) {
        rooms_row_clear(&row);
        return cx_req_fail(req, CX_ERR_UNAVAILABLE, "LiveKit could not create the room");
    }
    rooms_row_clear(&row);
    s = rooms_store_start(ctx->pg, id, &row, &changed);
    if (s != CX_OK)
        return s;
    if (changed) {
        cx_log_info(req->request_id, "room %s started", row.id);
        rooms_publish(ctx, "started", &row, req->request_id);
    }
    rooms_row_clear(&row);
    return CX_OK;
}

/* ---- leave ---------------------------------------------------------------- */

cx_status rooms_h_leave(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                        void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__RoomRef *in = (const void *)in_;
    cx_bearer b;
    rooms_row row;

    cx_status s = cx_bearer_verify(ctx->auth, ctx->redis, req->authorization, CX_BEARER_ROOM,
                                   &b);
    if (s != CX_OK)
        return s;
    if (!in->id || strcmp(b.room.room_id, in->id) != 0) {
        if ((s = rooms_store_get(ctx->pg, in->id, &row)) != CX_OK)
            return s;
        rooms_row_clear(&row);
        return cx_req_fail(req, CX_ERR_ROOM_FORBIDDEN, "this room token is for another room");
    }
    if ((s = rooms_store_get(ctx->pg, in->id, &row)) != CX_OK)
        return s;
    if (ctx->lk && strcmp(row.status, "active") == 0) {
        json_t *body = json_pack("{s:s,s:s}", "room", row.livekit_room, "identity",
                                 b.room.identity);
        s = body ? cx_livekit_call(ctx->lk, "RemoveParticipant", row.livekit_room, body, NULL,
                                   req->request_id)
                 : CX_ERR_NOMEM;
        json_decref(body);
        if (s == CX_ERR_NOT_FOUND) /* already gone from LiveKit: leaving twice */
            s = CX_OK;
        if (s != CX_OK) {
            rooms_row_clear(&row);
            return cx_req_fail(req, s == CX_ERR_NOMEM ? s : CX_ERR_UNAVAILABLE,
                               "LiveKit could not remove the participant");
        }
    }
    /* the webhook service closes the visit from this event, with or
     * without a participant_left webhook after it */
    rooms_publish_left(ctx, &row, b.room.identity, b.room.name, b.room.role, b.room.user_id,
                       b.room.jti, req->request_id);
    cx_log_info(req->request_id, "room %s: %s left", row.id, b.room.identity);
    rooms_row_clear(&row);
    return _empty_reply(out);
}
