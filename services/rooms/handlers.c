/* handlers.c: rooms.create, rooms.list, rooms.get, rooms.end and
 * rooms.participants. Every endpoint requires a valid bearer (runtime). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx_crypto.h"
#include "cx_json.h"
#include "cx_log.h"
#include "cx_text.h"
#include "rooms.h"

/* The caller's id is the owner key; tokens from auth always carry a UUID. */
static cx_status _caller(cx_req *req)
{
    if (!req->caller.authenticated ||
        !cx_uuid_valid_str(req->caller.user_id))
        return cx_req_fail(req, CX_ERR_INVALID_TOKEN, "token subject is not a user id");
    return CX_OK;
}

static cx_status _room_reply(const rooms_row *r, ProtobufCMessage **out)
{
    Calixio__V1__Room *m = rooms_row_to_msg(r);
    if (!m)
        return CX_ERR_NOMEM;
    *out = &m->base;
    return CX_OK;
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

/* Inserts the row in a transaction, creates the LiveKit room, and commits
 * only when LiveKit said yes: no row without a LiveKit room. If the commit
 * fails after LiveKit succeeded, the LiveKit room is deleted again. Without
 * LiveKit there is nothing to wait for: one autocommitted INSERT (a third
 * of the round trips). */
static cx_status _create(rooms_ctx *ctx, cx_req *req, const char *id, const char *name,
                         int64_t maxp, int64_t empty_s, const char *metadata,
                         const char *lk_room, rooms_row *row)
{
    PGconn *c = NULL;
    bool broken = false;
    cx_status s = cx_pg_acquire(ctx->pg, &c, ROOMS_PG_WAIT_MS);
    if (s != CX_OK)
        return s;
    if (!ctx->lk) {
        s = rooms_store_insert(c, id, name, req->caller.user_id, maxp, empty_s, metadata,
                               lk_room, row, &broken);
        goto out_release;
    }
    s = rooms_store_tx(c, "BEGIN", &broken);
    if (s != CX_OK)
        goto out_release;
    s = rooms_store_insert(c, id, name, req->caller.user_id, maxp, empty_s, metadata, lk_room,
                           row, &broken);
    if (s != CX_OK)
        goto out_rollback;
    s = cx_livekit_create_room(ctx->lk, lk_room, empty_s, maxp, metadata, req->request_id);
    if (s != CX_OK) {
        cx_req_fail(req, CX_ERR_UNAVAILABLE, "LiveKit could not create the room");
        s = CX_ERR_UNAVAILABLE;
        goto out_rollback;
    }
    s = rooms_store_tx(c, "COMMIT", &broken);
    if (s != CX_OK) {
        cx_log_error(req->request_id, "room %s: commit failed after LiveKit created %s; deleting it",
                     id, lk_room);
        if (cx_livekit_delete_room(ctx->lk, lk_room, req->request_id) != CX_OK)
            cx_log_error(req->request_id, "room %s: LiveKit room %s left behind for the sweeper",
                         id, lk_room);
    }
    goto out_release;
out_rollback:
    if (!broken)
        rooms_store_tx(c, "ROLLBACK", &broken);
out_release:
    cx_pg_release(ctx->pg, c, broken);
    return s;
}

cx_status rooms_h_create(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                         void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__CreateRoomRequest *in = (const void *)in_;
    char id[37], lk_room[48], name[ROOMS_NAME_MAX_CHARS * 4 + 1];
    rooms_row row;

    cx_status s = _caller(req);
    if (s == CX_OK)
        s = _validate_create(req, in, name);
    if (s != CX_OK)
        return s;
    int64_t maxp = in->has_max_participants ? in->max_participants
                                            : ctx->default_max_participants;
    int64_t empty_s = in->has_empty_timeout ? in->empty_timeout : ctx->default_empty_timeout_s;
    cx_uuid_v4(id);
    snprintf(lk_room, sizeof lk_room, "%s%s", ROOMS_LK_PREFIX, id);
    s = _create(ctx, req, id, name, maxp, empty_s,
                in->metadata, lk_room, &row);
    if (s != CX_OK)
        return s;
    cx_log_info(req->request_id, "room %s created by %s (livekit %s)", row.id,
                row.owner_user_id, row.livekit_room);
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
    free(rows);
    *out = &m->base;
    return CX_OK;
out_free_msg:
    protobuf_c_message_free_unpacked(&m->base, NULL);
out_nomem:
    free(rows);
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
        /* Tell caches first: joins must stop before anything slower. */
        rooms_publish(ctx, "ended", &row, req->request_id);
        if (ctx->lk) {
            if (cx_livekit_delete_room(ctx->lk, row.livekit_room, req->request_id) == CX_OK)
                rooms_store_delete_done(ctx->pg, row.livekit_room);
            else
                cx_log_warn(req->request_id,
                            "room %s: LiveKit DeleteRoom failed; the sweeper retries it", row.id);
        }
        rooms_presence_drop(ctx, row.livekit_room, req->request_id);
    }
    return _room_reply(&row, out);
}

cx_status rooms_h_participants(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                               void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__RoomRef *in = (const void *)in_;
    rooms_row row;
    Calixio__V1__ParticipantsReply *m = NULL;
    cx_status s = rooms_store_get(ctx->pg, in->id, &row);
    if (s == CX_OK)
        s = rooms_participants(ctx, &row, req->request_id, &m);
    if (s == CX_OK)
        *out = &m->base;
    return s;
}
