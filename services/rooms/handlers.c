/* handlers.c: rooms.create, rooms.list, rooms.get, rooms.end and
 * rooms.participants. Every endpoint requires a valid bearer (runtime;
 * participants verifies its own: an access token or a room token). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cx_crypto.h"
#include "cx_json.h"
#include "cx_log.h"
#include "cx_text.h"
#include "cx_time.h"
#include "rooms.h"

/* The caller's id is the owner key; tokens from auth always carry a UUID. */
static cx_status _caller(cx_req *req)
{
    if (!req->caller.authenticated || !cx_uuid_valid_str(req->caller.user_id))
        return cx_req_fail(req, CX_ERR_INVALID_TOKEN, "token subject is not a user id");
    return CX_OK;
}

/* The reply for row r; the row is cleared either way. */
static cx_status _room_reply(rooms_row *r, ProtobufCMessage **out)
{
    Calixio__V1__Room *m = rooms_row_to_msg(r);
    rooms_row_clear(r);
    if (!m)
        return CX_ERR_NOMEM;
    *out = &m->base;
    return CX_OK;
}

/* What create adds to the old fields (API-ROOMS.md "Room, extended"):
 * description, access, scheduled_at / scheduled_end_at (parsed into
 * *sched / *send), password. */
static cx_status _validate_create_ext(cx_req *req, const Calixio__V1__CreateRoomRequest *in,
                                      int64_t now, int64_t *sched, int64_t *send)
{
    cx_status s = CX_OK;
    *sched = *send = 0;
    if (in->description && rooms_chars(in->description) > ROOMS_DESCRIPTION_MAX_CHARS)
        s = cx_req_field_error(req, "description", "max");
    if (in->access && strcmp(in->access, "open") != 0 && strcmp(in->access, "knock") != 0 &&
        strcmp(in->access, "invite") != 0)
        s = cx_req_field_error(req, "access", "oneof");
    if (in->scheduled_at) {
        if (!rooms_time_parse(in->scheduled_at, sched))
            s = cx_req_field_error(req, "scheduled_at", "format");
        else if (*sched <= now)
            s = cx_req_field_error(req, "scheduled_at", "future");
        else if (*sched > now + ROOMS_SCHEDULE_MAX_AHEAD_S)
            s = cx_req_field_error(req, "scheduled_at", "max");
    }
    if (in->scheduled_end_at) {
        if (!rooms_time_parse(in->scheduled_end_at, send))
            s = cx_req_field_error(req, "scheduled_end_at", "format");
        else if (*send <= (*sched ? *sched : now))
            s = cx_req_field_error(req, "scheduled_end_at", "after");
    }
    if (in->password) {
        size_t n = rooms_chars(in->password);
        if (n < ROOMS_PASSWORD_MIN_CHARS)
            s = cx_req_field_error(req, "password", "min");
        else if (n > ROOMS_PASSWORD_MAX_CHARS)
            s = cx_req_field_error(req, "password", "max");
    }
    return s;
}

/* Checks a create request; name_out gets the trimmed name (or the
 * default). An empty name stays rule "min" as the contract has it. */
static cx_status _validate_create(cx_req *req, const Calixio__V1__CreateRoomRequest *in,
                                  char name_out[ROOMS_NAME_MAX_CHARS * 4 + 1])
{
    cx_status s = CX_OK;
    snprintf(name_out, ROOMS_NAME_MAX_CHARS * 4 + 1, "%s", ROOMS_DEFAULT_NAME);
    if (in->name) {
        cx_text_rule tr = cx_text_clean(in->name, CX_TEXT_NAME, ROOMS_NAME_MIN_CHARS,
                                        ROOMS_NAME_MAX_CHARS, name_out,
                                        ROOMS_NAME_MAX_CHARS * 4 + 1);
        if (tr != CX_TEXT_OK)
            s = cx_req_field_error(req, "name",
                                   tr == CX_TEXT_REQUIRED ? "min" : cx_text_rule_name(tr));
    }
    if (in->has_max_participants) {
        if (in->max_participants < 1)
            s = cx_req_field_error(req, "max_participants", "min");
        else if (in->max_participants > ROOMS_MAX_PARTICIPANTS)
            s = cx_req_field_error(req, "max_participants", "max");
    }
    if (in->has_empty_timeout) {
        if (in->empty_timeout < 1)
            s = cx_req_field_error(req, "empty_timeout", "min");
        else if (in->empty_timeout > ROOMS_EMPTY_TIMEOUT_MAX_S)
            s = cx_req_field_error(req, "empty_timeout", "max");
    }
    if (in->metadata && strlen(in->metadata) > ROOMS_METADATA_MAX)
        s = cx_req_field_error(req, "metadata", "max");
    return s;
}

/* Creates the LiveKit room first, then inserts the row in one
 * autocommitted statement: no pooled Postgres connection is ever held
 * across the LiveKit HTTP call (issue 19 item 3: slow LiveKit calls starved
 * the pool and every get/list answered 503). There is still never a row
 * without a LiveKit room: if LiveKit fails nothing is inserted; if the
 * insert fails after LiveKit succeeded the LiveKit room is deleted again
 * (and a LiveKit room left behind by a crash in between has no row, which
 * the sweeper's orphan step deletes after ROOMS_ORPHAN_GRACE). A scheduled
 * room gets its LiveKit room when it starts (rooms.start), so LiveKit's
 * room_started cannot mark it active early. */
static cx_status _create(rooms_ctx *ctx, cx_req *req, const rooms_new *n, rooms_row *row)
{
    bool in_livekit = ctx->lk && !n->scheduled_at_s;
    if (in_livekit &&
        cx_livekit_create_room(ctx->lk, n->livekit_room, n->empty_timeout_s,
                               n->max_participants, n->metadata, req->request_id) != CX_OK)
        return cx_req_fail(req, CX_ERR_UNAVAILABLE, "LiveKit could not create the room");
    cx_status s = rooms_store_insert(ctx->pg, n, row);
    if (s != CX_OK && in_livekit) {
        cx_log_error(req->request_id,
                     "room %s: insert failed after LiveKit created %s; deleting it", n->id,
                     n->livekit_room);
        if (cx_livekit_delete_room(ctx->lk, n->livekit_room, req->request_id) != CX_OK)
            cx_log_error(req->request_id,
                         "room %s: LiveKit room %s left behind for the sweeper", n->id,
                         n->livekit_room);
    }
    return s;
}

cx_status rooms_h_create(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                         void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__CreateRoomRequest *in = (const void *)in_;
    char id[37], lk_room[48], name[ROOMS_NAME_MAX_CHARS * 4 + 1];
    char *pw_hash = NULL;
    int64_t sched = 0, send = 0;
    rooms_row row;

    cx_status s = _caller(req);
    if (s == CX_OK)
        s = _validate_create(req, in, name);
    if (s == CX_OK)
        s = _validate_create_ext(req, in, cx_now_s(), &sched, &send);
    if (s == CX_OK && in->password)
        s = rooms_password_hash(ctx, in->password, &pw_hash);
    if (s != CX_OK)
        return s;
    cx_uuid_v4(id);
    snprintf(lk_room, sizeof lk_room, "%s%s", ROOMS_LK_PREFIX, id);
    rooms_new n = {
        .id = id,
        .name = name,
        .owner = req->caller.user_id,
        .description = in->description,
        .access = in->access,
        .metadata = in->metadata,
        .livekit_room = lk_room,
        .password_hash = pw_hash,
        .max_participants = in->has_max_participants ? in->max_participants
                                                     : ctx->default_max_participants,
        .empty_timeout_s = in->has_empty_timeout ? in->empty_timeout
                                                 : ctx->default_empty_timeout_s,
        .locked = in->has_locked && in->locked,
        .scheduled_at_s = sched,
        .scheduled_end_at_s = send,
    };
    s = _create(ctx, req, &n, &row);
    if (pw_hash) {
        sodium_memzero(pw_hash, strlen(pw_hash));
        free(pw_hash);
    }
    if (s != CX_OK)
        return s;
    cx_log_info(req->request_id, "room %s created by %s (livekit %s%s)", row.id,
                row.owner_user_id, row.livekit_room, sched ? ", scheduled" : "");
    rooms_publish(ctx, "created", &row, req->request_id);
    return _room_reply(&row, out);
}

static cx_status _validate_list(cx_req *req, const Calixio__V1__ListRoomsRequest *in,
                                const char **status)
{
    cx_status s = CX_OK;
    *status = NULL;
    if (in->has_limit && in->limit < 1)
        s = cx_req_field_error(req, "limit", "min");
    else if (in->has_limit && in->limit > ROOMS_LIST_MAX)
        s = cx_req_field_error(req, "limit", "max");
    if (in->has_offset && in->offset < 0)
        s = cx_req_field_error(req, "offset", "min");
    if (in->status && in->status[0]) {
        if (strcmp(in->status, "pending") == 0 || strcmp(in->status, "active") == 0 ||
            strcmp(in->status, "ended") == 0)
            *status = in->status;
        else
            s = cx_req_field_error(req, "status", "oneof");
    }
    return s;
}

cx_status rooms_h_list(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                       void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__ListRoomsRequest *in = (const void *)in_;
    const char *status;
    rooms_row *rows = NULL;
    int n = 0;

    cx_status s = _caller(req);
    if (s == CX_OK)
        s = _validate_list(req, in, &status);
    if (s != CX_OK)
        return s;
    s = rooms_store_list(ctx->pg, req->caller.user_id, status,
                         in->has_limit ? in->limit : ROOMS_LIST_DEFAULT,
                         in->has_offset ? in->offset : 0, &rows, &n);
    if (s != CX_OK)
        return s;
    Calixio__V1__ListRoomsReply *m = malloc(sizeof *m);
    if (!m)
        goto out_nomem;
    calixio__v1__list_rooms_reply__init(m);
    m->rooms = calloc(n > 0 ? (size_t)n : 1, sizeof *m->rooms);
    if (!m->rooms)
        goto out_free_msg;
    for (int i = 0; i < n; i++) {
        m->rooms[i] = rooms_row_to_msg(&rows[i]);
        if (!m->rooms[i])
            goto out_free_msg;
        m->n_rooms++;
    }
    rooms_rows_free(rows, n);
    *out = &m->base;
    return CX_OK;
out_free_msg:
    protobuf_c_message_free_unpacked(&m->base, NULL);
out_nomem:
    rooms_rows_free(rows, n);
    return CX_ERR_NOMEM;
}

cx_status rooms_h_get(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                      void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__RoomRef *in = (const void *)in_;
    rooms_row row;
    (void)req; /* any authenticated user may look a room up */
    cx_status s = rooms_store_get(ctx->pg, in->id, &row);
    return s == CX_OK ? _room_reply(&row, out) : s;
}

cx_status rooms_h_end(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                      void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__RoomRef *in = (const void *)in_;
    rooms_row row;
    bool changed = false;

    cx_status s = _caller(req);
    if (s == CX_OK)
        s = rooms_store_end(ctx->pg, in->id, req->caller.user_id, ctx->lk != NULL, &row,
                            &changed);
    if (s != CX_OK)
        return s;
    if (changed) {
        cx_log_info(req->request_id, "room %s ended by its owner", row.id);
        rooms_after_end(ctx, &row, req->request_id);
    }
    return _room_reply(&row, out);
}

cx_status rooms_h_participants(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                               void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__RoomRef *in = (const void *)in_;
    rooms_row row;
    cx_bearer b;
    rooms_role role;
    Calixio__V1__ParticipantsReply *m = NULL;
    /* any account (API.md), or a room token of this very room: a guest
     * without media sees who is here too (API-ROOMS.md "room token") */
    cx_status s = rooms_bearer(ctx, req, true, &b);
    if (s == CX_OK)
        s = rooms_store_get(ctx->pg, in->id, &row);
    if (s == CX_OK) {
        s = rooms_role_in(req, &b, &row, &role);
        if (s == CX_OK)
            s = rooms_participants(ctx, &row, req->request_id, &m);
        rooms_row_clear(&row);
    }
    if (s == CX_OK)
        *out = &m->base;
    return s;
}
