/* join.c: media.join — a LiveKit access token and a Calixio room token
 * for one room (by id, or by meeting code).
 *
 * With a valid bearer the identity is the user id and the name the user's
 * name; without one the caller is a guest "guest-<32 hex>" named by
 * user_name (default "Guest"). An invalid bearer never reaches here (the
 * runtime answers 401). The grant covers that room only: roomJoin,
 * canPublish, canSubscribe, canPublishData, plus roomAdmin for the owner.
 * Role: the owner is host, a signed-in user participant, a guest guest.
 * Checks in the contract's order: 404, 409 room_ended, 409
 * room_not_started (pending and too early, but for the host), 409
 * room_full (live presence, but for the host; Redis is asked only near
 * the limit, presence.c). The first allowed join of
 * a pending room asks rooms to start it (one NATS hop, once per room).
 * A gated room (knock/invite, locked, password, bans, room roles) or a join
 * carrying an invite is decided by rooms instead (admit.c, issue 17). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/media.pb-c.h"
#include "cx_bearer.h"
#include "cx_crypto.h"
#include "cx_join.h"
#include "cx_json.h"
#include "cx_livekit.h"
#include "cx_log.h"
#include "cx_text.h"
#include "cx_time.h"
#include "media.h"

/* The room of the request: by id, or by code (exactly one of them). */
static cx_status _room(const media_ctx *c, cx_req *req, const Calixio__V1__JoinRequest *in,
                       media_room *room)
{
    if (in->code && in->id)
        return cx_req_fail(req, CX_ERR_INVALID_JSON, "unknown field \"code\"");
    if (!in->code)
        return media_cache_get(c->cache, in->id, room);
    char code[MEDIA_CODE_LEN + 1];
    size_t k = 0;
    for (const char *p = in->code; *p; p++) { /* any case, dashes anywhere */
        char ch = *p;
        if (ch == '-')
            continue;
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (ch < 'a' || ch > 'z' || k == MEDIA_CODE_LEN)
            return CX_ERR_ROOM_NOT_FOUND;
        code[k++] = ch;
    }
    code[k] = '\0';
    return media_cache_get_by_code(c->cache, code, room);
}

/* The scheduling and capacity rules for a non-host (host: only the start). */
static cx_status _admit(const media_ctx *c, cx_req *req, const media_room *room, bool host)
{
    if (strcmp(room->status, "pending") == 0) {
        if (!host && cx_now_s() < room->scheduled_at_s - c->early_join_s)
            return CX_ERR_ROOM_NOT_STARTED;
        cx_status s = media_start_room(c, req, room->id);
        if (s != CX_OK)
            return s;
    }
    if (host)
        return CX_OK;
    bool full = false;
    /* capacity fails open: LiveKit still enforces max_participants itself */
    if (media_presence_full(c->presence, room, &full) != CX_OK) {
        cx_log_warn(req->request_id, "room %s: presence unknown; room_full not checked",
                    room->id);
        return CX_OK;
    }
    return full ? CX_ERR_ROOM_FULL : CX_OK;
}

cx_status media_h_join(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                       void *ctx_)
{
    const media_ctx *c = ctx_;
    const Calixio__V1__JoinRequest *in = (const void *)in_;
    media_room room;
    cx_room_claims rc;
    char uname[MEDIA_USER_NAME_MAX_CHARS * 4 + 1];
    const char *name, *role;

    if (in->user_name) {
        /* trimmed; empty stays rule "min" as the contract has it */
        cx_text_rule tr = cx_text_clean(in->user_name, CX_TEXT_NAME, 1,
                                        MEDIA_USER_NAME_MAX_CHARS, uname, sizeof uname);
        if (tr != CX_TEXT_OK)
            return cx_req_field_error(req, "user_name",
                                      tr == CX_TEXT_REQUIRED ? "min" : cx_text_rule_name(tr));
    }
    cx_status s = _room(c, req, in, &room);
    if (s != CX_OK)
        return s;
    if (strcmp(room.status, "ended") == 0)
        return CX_ERR_ROOM_ENDED;
    if (in->password && strlen(in->password) > 256)
        return cx_req_field_error(req, "password", "max");
    if (room.gated || in->invite) { /* rooms decides (admit.c); open joins stay here */
        Calixio__V1__JoinRequest fwd = *in;
        Calixio__V1__JoinReply *m = NULL;
        fwd.id = room.id;
        fwd.code = NULL;
        s = media_admit(c, req, &fwd, &m);
        if (s == CX_OK)
            *out = &m->base;
        return s;
    }

    memset(&rc, 0, sizeof rc);
    bool owner = false;
    if (req->caller.authenticated) {
        snprintf(rc.identity, sizeof rc.identity, "%s", req->caller.user_id);
        snprintf(rc.user_id, sizeof rc.user_id, "%s", req->caller.user_id);
        name = req->caller.username;
        owner = strcmp(req->caller.user_id, room.owner_user_id) == 0;
        role = owner ? "host" : "participant";
    } else {
        char hex[33];
        s = cx_random_hex(hex, sizeof hex, 16);
        if (s != CX_OK)
            return s;
        snprintf(rc.identity, sizeof rc.identity, "guest-%s", hex);
        name = in->user_name ? uname : MEDIA_DEFAULT_GUEST_NAME;
        role = "guest";
    }
    if ((s = _admit(c, req, &room, owner)) != CX_OK)
        return s;
    const cx_join_keys k = {.auth = c->auth,
                            .lk_api_key = c->api_key,
                            .lk_api_secret = c->api_secret,
                            .lk_public_url = c->public_url,
                            .token_ttl_s = c->token_ttl_s};
    const cx_join_room jr = {.id = room.id,
                             .name = room.name,
                             .livekit_room = room.livekit_room};
    Calixio__V1__JoinReply *m = NULL;
    s = cx_join_mint(&k, &jr, rc.identity, name, role, rc.user_id, &m);
    if (s == CX_OK)
        *out = &m->base;
    return s;
}
