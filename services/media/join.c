/* join.c: media.join — a LiveKit access token for one room.
 *
 * With a valid bearer the identity is the user id and the name the user's
 * name; without one the caller is a guest "guest-<32 hex>" named by
 * user_name (default "Guest"). An invalid bearer never reaches here (the
 * runtime answers 401). The grant covers that room only: roomJoin,
 * canPublish, canSubscribe, canPublishData, plus roomAdmin for the owner. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/media.pb-c.h"
#include "cx_crypto.h"
#include "cx_json.h"
#include "cx_livekit.h"
#include "cx_text.h"
#include "cx_time.h"
#include "media.h"

static cx_status _reply(const media_ctx *c, const media_room *r, const char *identity,
                        char *token, Calixio__V1__JoinReply **out)
{
    Calixio__V1__JoinReply *m = malloc(sizeof *m);
    Calixio__V1__JoinState *st = malloc(sizeof *st);
    if (!m || !st) {
        free(m);
        free(st);
        free(token);
        return CX_ERR_NOMEM;
    }
    calixio__v1__join_reply__init(m);
    calixio__v1__join_state__init(st);
    m->state = st;
    st->mode = cx_strdup("conference");
    m->token = token;
    m->room_id = cx_strdup(r->id);
    m->room_name = cx_strdup(r->name);
    m->livekit_room = cx_strdup(r->livekit_room);
    m->has_expires_in = 1;
    m->expires_in = c->token_ttl_s;
    m->url = cx_strdup(c->public_url);
    m->identity = cx_strdup(identity);
    if (!st->mode || !m->room_id || !m->room_name || !m->livekit_room || !m->url ||
        !m->identity) {
        protobuf_c_message_free_unpacked(&m->base, NULL);
        return CX_ERR_NOMEM;
    }
    *out = m;
    return CX_OK;
}

cx_status media_h_join(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                       void *ctx_)
{
    const media_ctx *c = ctx_;
    const Calixio__V1__JoinRequest *in = (const void *)in_;
    media_room room;
    char identity[64], uname[MEDIA_USER_NAME_MAX_CHARS * 4 + 1];
    const char *name;
    char *token = NULL;

    if (in->user_name) {
        /* trimmed; empty stays rule "min" as the contract has it */
        cx_text_rule tr = cx_text_clean(in->user_name, CX_TEXT_NAME, 1,
                                        MEDIA_USER_NAME_MAX_CHARS, uname, sizeof uname);
        if (tr != CX_TEXT_OK)
            return cx_req_field_error(req, "user_name",
                                      tr == CX_TEXT_REQUIRED ? "min" : cx_text_rule_name(tr));
    }
    cx_status s = media_cache_get(c->cache, in->id, &room);
    if (s != CX_OK)
        return s;
    if (strcmp(room.status, "ended") == 0)
        return CX_ERR_ROOM_ENDED;

    bool owner = false;
    if (req->caller.authenticated) {
        snprintf(identity, sizeof identity, "%s", req->caller.user_id);
        name = req->caller.username;
        owner = strcmp(req->caller.user_id, room.owner_user_id) == 0;
    } else {
        char hex[33];
        s = cx_random_hex(hex, sizeof hex, 16);
        if (s != CX_OK)
            return s;
        snprintf(identity, sizeof identity, "guest-%s", hex);
        name = in->user_name ? uname : MEDIA_DEFAULT_GUEST_NAME;
    }
    cx_lk_grant g = {.room = room.livekit_room, .room_join = true, .room_admin = owner,
                     .can_publish = true, .can_subscribe = true, .can_publish_data = true};
    s = cx_lk_token(c->api_key, c->api_secret, identity, name, &g, cx_now_s(), c->token_ttl_s,
                    &token);
    if (s != CX_OK)
        return s;
    Calixio__V1__JoinReply *m = NULL;
    s = _reply(c, &room, identity, token, &m);
    if (s == CX_OK)
        *out = &m->base;
    return s;
}
