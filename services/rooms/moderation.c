/* moderation.c: POST /rooms/{id}/participants/{identity}/remove | mute |
 * role (API-ROOMS.md "Moderation") through the LiveKit server API, and the
 * enforcement of bans on participant_joined webhooks. Every act is a room
 * event (participant.removed / .muted / .role_changed) and a room_audit
 * row. Who may act is the policy table (policy.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/common.pb-c.h"
#include "calixio/v1/webhook.pb-c.h"
#include "chat.h"
#include "cx_crypto.h"
#include "cx_json.h"
#include "cx_log.h"
#include "rooms.h"

static cx_status _empty(ProtobufCMessage **out)
{
    Calixio__V1__Empty *e = malloc(sizeof *e);
    if (!e)
        return CX_ERR_NOMEM;
    calixio__v1__empty__init(e);
    *out = &e->base;
    return CX_OK;
}

/* The common start of the three routes: the table, a valid identity, a
 * live room, and a target that is not the host (nobody moderates the host). */
static cx_status _begin(rooms_ctx *ctx, cx_req *req, const Calixio__V1__ModerateRequest *in,
                        rooms_action a, rooms_row *row, rooms_actor *who)
{
    cx_status s = rooms_authorize(ctx, req, in->id, a, row, who);
    if (s != CX_OK)
        return s;
    if (!in->identity || !cx_identity_valid(in->identity) || strcmp(row->status, "active") != 0)
        s = CX_ERR_PARTICIPANT_NOT_FOUND;
    else if (strcmp(in->identity, row->owner_user_id) == 0)
        s = cx_req_fail(req, CX_ERR_ROOM_FORBIDDEN, "the host cannot be moderated");
    else if (!ctx->lk)
        s = cx_req_fail(req, CX_ERR_UNAVAILABLE, "LiveKit is not configured");
    if (s != CX_OK)
        rooms_row_clear(row);
    return s;
}

/* A LiveKit per-room call; not_found is participant_not_found. */
static cx_status _lk(rooms_ctx *ctx, cx_req *req, const rooms_row *r, const char *method,
                     json_t *body, json_t **resp)
{
    if (!body)
        return CX_ERR_NOMEM;
    cx_status s = cx_livekit_call(ctx->lk, method, r->livekit_room, body, resp,
                                  req->request_id);
    json_decref(body);
    if (s == CX_ERR_NOT_FOUND)
        return CX_ERR_PARTICIPANT_NOT_FOUND;
    if (s != CX_OK && s != CX_ERR_NOMEM)
        return cx_req_fail(req, CX_ERR_UNAVAILABLE, "LiveKit %s failed", method);
    return s;
}

/* Event + audit row of one act. */
static void _record(rooms_ctx *ctx, const rooms_row *r, const rooms_actor *who,
                    const char *type, const char *identity, const char *reason,
                    const char *details, const char *rid)
{
    rooms_publish_participant(ctx, r, type, identity, reason, rid);
    if (rooms_audit_add(ctx->pg, r->id, who, type, identity, details) != CX_OK)
        cx_log_warn(rid, "room %s: audit of %s failed", r->id, type);
}

/* A signed-in user's identity is the user id (media and admit): ban the
 * account too. */
static const char *_user_of(const char *identity)
{
    return cx_uuid_valid_str(identity) ? identity : NULL;
}

cx_status rooms_h_remove(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                         void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__ModerateRequest *in = (const void *)in_;
    rooms_row row;
    rooms_actor who;
    if (in->kind || in->role)
        return cx_req_fail(req, CX_ERR_INVALID_JSON, "unknown field \"%s\"",
                           in->kind ? "kind" : "role");
    cx_status s = _begin(ctx, req, in, ROOMS_ACT_REMOVE, &row, &who);
    if (s != CX_OK)
        return s;
    bool ban = in->has_ban && in->ban;
    s = _lk(ctx, req, &row, "RemoveParticipant",
            json_pack("{s:s,s:s}", "room", row.livekit_room, "identity", in->identity), NULL);
    if (s == CX_OK && ban &&
        (s = rooms_ban_add(ctx->pg, row.id, in->identity, _user_of(in->identity))) == CX_OK)
        rooms_publish_cache(ctx, &row, req->request_id); /* media: the room is gated now */
    if (s == CX_OK) {
        cx_log_info(req->request_id, "room %s: %s removed%s", row.id, in->identity,
                    ban ? " and banned" : "");
        _record(ctx, &row, &who, "participant.removed", in->identity,
                ban ? "banned" : "removed", ban ? "{\"ban\":true}" : "{\"ban\":false}",
                req->request_id);
    }
    rooms_row_clear(&row);
    return s == CX_OK ? _empty(out) : s;
}

/* ---- mute ---------------------------------------------------------------- */

/* A track's type as LiveKit answers it (name or number; AUDIO = 0 may be
 * left out by protojson). */
static bool _is_audio(json_t *t)
{
    json_t *ty = json_object_get(t, "type");
    if (!ty)
        return true;
    if (json_is_integer(ty))
        return json_integer_value(ty) == 0;
    return json_is_string(ty) && strcmp(json_string_value(ty), "AUDIO") == 0;
}

static bool _is_video(json_t *t)
{
    json_t *ty = json_object_get(t, "type");
    if (json_is_integer(ty))
        return json_integer_value(ty) == 1;
    return json_is_string(ty) && strcmp(json_string_value(ty), "VIDEO") == 0;
}

/* The participant `identity` of a ListParticipants answer (borrowed). */
static json_t *_find(json_t *resp, const char *identity)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(resp, "participants"), i, p)
    {
        const char *id = json_string_value(json_object_get(p, "identity"));
        if (id && strcmp(id, identity) == 0)
            return p;
    }
    return NULL;
}

cx_status rooms_h_mute(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                       void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__ModerateRequest *in = (const void *)in_;
    rooms_row row;
    rooms_actor who;
    json_t *resp = NULL;
    if (in->has_ban || in->role)
        return cx_req_fail(req, CX_ERR_INVALID_JSON, "unknown field \"%s\"",
                           in->role ? "role" : "ban");
    if (!in->kind)
        return cx_req_field_error(req, "kind", "required");
    bool audio = strcmp(in->kind, "audio") == 0, video = strcmp(in->kind, "video") == 0;
    if (!audio && !video && strcmp(in->kind, "all") != 0)
        return cx_req_field_error(req, "kind", "oneof");
    cx_status s = _begin(ctx, req, in, ROOMS_ACT_MUTE, &row, &who);
    if (s != CX_OK)
        return s;
    s = _lk(ctx, req, &row, "ListParticipants", json_pack("{s:s}", "room", row.livekit_room),
            &resp);
    json_t *p = s == CX_OK ? _find(resp, in->identity) : NULL;
    if (s == CX_OK && !p)
        s = CX_ERR_PARTICIPANT_NOT_FOUND;
    int n = 0;
    size_t i;
    json_t *t;
    if (s == CX_OK) {
        json_array_foreach(json_object_get(p, "tracks"), i, t)
        {
            const char *sid = json_string_value(json_object_get(t, "sid"));
            if (!sid || (audio && !_is_audio(t)) || (video && !_is_video(t)))
                continue;
            s = _lk(ctx, req, &row, "MutePublishedTrack",
                    json_pack("{s:s,s:s,s:s,s:b}", "room", row.livekit_room, "identity",
                              in->identity, "track_sid", sid, "muted", 1),
                    NULL);
            if (s == CX_ERR_PARTICIPANT_NOT_FOUND) /* unpublished meanwhile */
                s = CX_OK;
            if (s != CX_OK)
                break;
            n++;
        }
    }
    json_decref(resp);
    if (s == CX_OK) {
        char details[64];
        snprintf(details, sizeof details, "{\"kind\":\"%s\",\"tracks\":%d}", in->kind, n);
        cx_log_info(req->request_id, "room %s: %s muted (%s, %d tracks)", row.id, in->identity,
                    in->kind, n);
        _record(ctx, &row, &who, "participant.muted", in->identity, in->kind, details,
                req->request_id);
    }
    rooms_row_clear(&row);
    return s == CX_OK ? _empty(out) : s;
}

/* ---- role ---------------------------------------------------------------- */

cx_status rooms_h_role(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                       void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__ModerateRequest *in = (const void *)in_;
    rooms_row row;
    rooms_actor who;
    if (in->has_ban || in->kind)
        return cx_req_fail(req, CX_ERR_INVALID_JSON, "unknown field \"%s\"",
                           in->kind ? "kind" : "ban");
    if (!in->role)
        return cx_req_field_error(req, "role", "required");
    bool mod = strcmp(in->role, "moderator") == 0;
    if (!mod && strcmp(in->role, "participant") != 0)
        return cx_req_field_error(req, "role", "oneof");
    cx_status s = _begin(ctx, req, in, ROOMS_ACT_SET_ROLE, &row, &who);
    if (s != CX_OK)
        return s;
    char meta[64];
    snprintf(meta, sizeof meta, "{\"role\":\"%s\"}", in->role);
    /* the permissions of the role (API-ROOMS.md "Joining, extended"): both
     * publish and subscribe; a moderator may also update metadata */
    s = _lk(ctx, req, &row, "UpdateParticipant",
            json_pack("{s:s,s:s,s:s,s:{s:b,s:b,s:b,s:b}}", "room", row.livekit_room, "identity",
                      in->identity, "metadata", meta, "permission", "can_subscribe", 1,
                      "can_publish", 1, "can_publish_data", 1, "can_update_metadata", mod),
            NULL);
    if (s == CX_OK && (s = rooms_role_store(ctx->pg, row.id, in->identity,
                                            _user_of(in->identity), in->role)) == CX_OK) {
        rooms_publish_cache(ctx, &row, req->request_id);
        _record(ctx, &row, &who, "participant.role_changed", in->identity, in->role, NULL,
                req->request_id);
    }
    rooms_row_clear(&row);
    if (s != CX_OK)
        return s;
    Calixio__V1__RoleReply *m = malloc(sizeof *m);
    if (!m)
        return CX_ERR_NOMEM;
    calixio__v1__role_reply__init(m);
    m->identity = cx_strdup(in->identity);
    m->role = cx_strdup(in->role);
    if (!m->identity || !m->role) {
        protobuf_c_message_free_unpacked(&m->base, NULL);
        return CX_ERR_NOMEM;
    }
    *out = &m->base;
    return CX_OK;
}

/* ---- bans on late participant_joined webhooks ----------------------------- */

/* The Calixio room id of a LiveKit room name "cx-<uuid>" into id[37]. */
static bool _room_of(const char *lk_room, char id[37])
{
    size_t pl = strlen(ROOMS_LK_PREFIX);
    if (!lk_room || strncmp(lk_room, ROOMS_LK_PREFIX, pl) != 0 ||
        !cx_uuid_valid_str(lk_room + pl))
        return false;
    snprintf(id, 37, "%s", lk_room + pl);
    return true;
}

static void _enforce(rooms_ctx *ctx, const ProtobufCMessage *m, const char *subject)
{
    const Calixio__V1__LiveKitEvent *e = (const void *)m;
    (void)subject;
    char id[37];
    bool banned = false;
    rooms_row row;
    rooms_actor sys;
    const char *rid = e->id;
    if (!e->identity || !(e->room_id ? snprintf(id, sizeof id, "%s", e->room_id) > 0
                                     : _room_of(e->livekit_room, id)))
        return;
    if (rooms_ban_check(ctx->pg, id, e->identity, _user_of(e->identity), &banned) != CX_OK ||
        !banned)
        return;
    if (rooms_store_get(ctx->pg, id, &row) != CX_OK)
        return;
    json_t *body = json_pack("{s:s,s:s}", "room", row.livekit_room, "identity", e->identity);
    cx_status s = body ? cx_livekit_call(ctx->lk, "RemoveParticipant", row.livekit_room, body,
                                         NULL, rid)
                       : CX_ERR_NOMEM;
    json_decref(body);
    if (s == CX_OK || s == CX_ERR_NOT_FOUND) {
        memset(&sys, 0, sizeof sys);
        snprintf(sys.name, sizeof sys.name, "calixio");
        cx_log_info(rid, "room %s: banned %s turned up again and was removed", row.id,
                    e->identity);
        _record(ctx, &row, &sys, "participant.removed", e->identity, "banned",
                "{\"ban\":true,\"enforced\":true}", rid);
    } else {
        cx_log_warn(rid, "room %s: banned %s could not be removed (%s)", row.id, e->identity,
                    cx_status_code(s));
    }
    rooms_row_clear(&row);
}

cx_status rooms_bans_listen(rooms_ctx *ctx, rooms_listener **out)
{
    *out = NULL;
    if (!ctx->lk)
        return CX_OK; /* nothing to enforce with */
    /* the webhook service publishes every stored webhook event there
     * (LiveKitEvent); one rooms copy (queue group) acts on each */
    return rooms_listen(ctx, "events.room.*.participant_joined", "calixio-rooms-bans",
                        &calixio__v1__live_kit_event__descriptor, "LiveKitEvent", _enforce,
                        out);
}
