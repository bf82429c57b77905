/* chat.c: the chat routes of a room (API-ROOMS.md "Chat"):
 * rooms.chat_post, rooms.chat_list, rooms.chat_update, rooms.chat_delete.
 * The bearer is verified here (access or room token, access.c); every
 * change is a room event (chat.message, chat.message_updated,
 * chat.message_deleted) on <prefix>.events.room.<room id>.<type>. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/common.pb-c.h"
#include "calixio/v1/events.pb-c.h"
#include "chat.h"
#include "cx_crypto.h"
#include "cx_json.h"
#include "cx_log.h"
#include "cx_text.h"

/* Who acts in the room: from a room token of the room, or the host's
 * access token. */
typedef struct _actor {
    const char *identity, *name, *role, *user_id;
    rooms_role level;
} _actor;

/* Who acts, from a verified bearer: a room token's own claims, or an
 * access token's user with role access_role. */
static void _actor_of(const cx_bearer *b, const char *access_role, _actor *a)
{
    if (b->kind == CX_BEARER_ROOM) {
        a->identity = b->room.identity;
        a->name = b->room.name;
        a->role = b->room.role;
        a->user_id = b->room.user_id;
    } else {
        a->identity = b->caller.user_id;
        a->name = b->caller.username;
        a->role = access_role;
        a->user_id = b->caller.user_id;
    }
}

/* Verifies the bearer, loads the live room and tells who acts. A room
 * token of another room is 403 room_forbidden; an access token that is
 * not the owner's has level NONE (the caller decides). */
static cx_status _enter(rooms_ctx *ctx, cx_req *req, const char *room_id, cx_bearer *b,
                        rooms_row *room, _actor *a)
{
    cx_status s = rooms_bearer(ctx, req, true, b);
    if (s != CX_OK)
        return s;
    if ((s = chat_store_room(ctx->pg, room_id, room)) != CX_OK)
        return s;
    s = rooms_role_in(req, b, room, &a->level);
    if (s != CX_OK) {
        rooms_row_clear(room);
        return s;
    }
    _actor_of(b, a->level == ROOMS_ROLE_HOST ? "host" : "participant", a);
    return CX_OK;
}

/* The trimmed text of a post or edit into a malloced *out; validation
 * errors name the field "text". */
static cx_status _text(cx_req *req, const char *in, char **out)
{
    char *buf = malloc(CHAT_TEXT_MAX_BYTES);
    if (!buf)
        return CX_ERR_NOMEM;
    cx_text_rule tr = cx_text_clean(in, CX_TEXT_MULTILINE, 1, CHAT_TEXT_MAX_CHARS, buf,
                                    CHAT_TEXT_MAX_BYTES);
    if (tr != CX_TEXT_OK) {
        free(buf);
        /* empty or only whitespace: "min" (1..4000 chars), as for names */
        return cx_req_field_error(req, "text",
                                  tr == CX_TEXT_REQUIRED ? "min" : cx_text_rule_name(tr));
    }
    *out = buf;
    return CX_OK;
}

/* A malloced ChatMessage for m (NULL on OOM). */
static Calixio__V1__ChatMessage *_to_msg(const chat_msg *m)
{
    Calixio__V1__ChatMessage *o = malloc(sizeof *o);
    Calixio__V1__ChatSender *snd = malloc(sizeof *snd);
    if (!o || !snd) {
        free(o);
        free(snd);
        return NULL;
    }
    calixio__v1__chat_message__init(o);
    calixio__v1__chat_sender__init(snd);
    o->sender = snd;
    snd->identity = cx_strdup(m->sender_identity);
    snd->name = cx_strdup(m->sender_name);
    snd->role = cx_strdup(m->sender_role);
    o->id = cx_strdup(m->id);
    o->room_id = cx_strdup(m->room_id);
    o->text = cx_strdup(m->text ? m->text : "");
    o->created_at = cx_strdup(m->created_at);
    bool ok = true;
    if (m->edited_at[0] && !(o->edited_at = cx_strdup(m->edited_at)))
        ok = false;
    if (m->reply_to[0] && !(o->reply_to = cx_strdup(m->reply_to)))
        ok = false;
    if (!ok || !snd->identity || !snd->name || !snd->role || !o->id || !o->room_id ||
        !o->text || !o->created_at) {
        protobuf_c_message_free_unpacked(&o->base, NULL);
        return NULL;
    }
    return o;
}

/* Publishes a chat event of room r; msg is borrowed. */
static void _event(rooms_ctx *ctx, const rooms_row *r, const char *type,
                   Calixio__V1__ChatMessage *msg, const char *rid)
{
    Calixio__V1__RoomEvent ev = CALIXIO__V1__ROOM_EVENT__INIT;
    if (!ctx->svc)
        return;
    ev.type = (char *)type;
    ev.room_id = (char *)r->id;
    ev.livekit_room = (char *)r->livekit_room;
    ev.message = msg;
    rooms_publish_event(ctx, &ev, rid);
}

/* Answers m as the reply and publishes it as `type` (m is consumed). */
static cx_status _reply_and_publish(rooms_ctx *ctx, const rooms_row *r, const char *type,
                                    chat_msg *m, const char *rid, ProtobufCMessage **out)
{
    Calixio__V1__ChatMessage *o = _to_msg(m);
    chat_msg_clear(m);
    if (!o)
        return CX_ERR_NOMEM;
    _event(ctx, r, type, o, rid);
    *out = &o->base;
    return CX_OK;
}

/* ---- rate limit ------------------------------------------------------------ */

/* The rate limit key of a sender of room_id (the id lowercased, as
 * Postgres prints it) into key[160]. */
static void _rate_key(const char *room_id, const char *identity, char key[160])
{
    char rid[37];
    size_t i = 0;
    for (; room_id[i] && i + 1 < sizeof rid; i++)
        rid[i] = (char)(room_id[i] >= 'A' && room_id[i] <= 'Z' ? room_id[i] + 32 : room_id[i]);
    rid[i] = '\0';
    snprintf(key, 160, "cx:chat:rate:{%s}:%s", rid, identity);
}

/* ---- post -------------------------------------------------------------- */

/* Who posts, from a verified bearer (room token of any room, or an access
 * token: the owner's is checked against the row in the statement). */
static void _poster(const cx_bearer *b, _actor *a)
{
    _actor_of(b, "host", a); /* only the owner's access token may post */
}

/* POST /rooms/{id}/messages: the sender's rate-limit slot (Redis), then
 * one statement that checks the room and inserts (chat_store_post); the
 * posts that arrive meanwhile share both round trips (chat_batch.c). The answers keep the contract's order (404, 403,
 * 409 ended, 403 banned, 400 text / reply_to, 429, 400 reply_to of
 * another room): a send that is refused anyway runs the statement without
 * its insert. A slot taken for a send the statement then refuses is not
 * given back: only a reply_to of another room can be refused after the
 * slot and still be followed by sends that pass (as before, when the
 * insert checked reply_to after the limit); the other refusals last. */
cx_status rooms_h_chat_post(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                            void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__PostMessageRequest *in = (const void *)in_;
    cx_bearer b;
    _actor a;
    chat_msg m;
    chat_post_facts f;
    char key[160];

    cx_status s = rooms_bearer(ctx, req, true, &b);
    if (s != CX_OK)
        return s;
    if (!in->id || !cx_uuid_valid_str(in->id))
        return CX_ERR_ROOM_NOT_FOUND;
    _poster(&b, &a);
    char *text = malloc(CHAT_TEXT_MAX_BYTES);
    if (!text)
        return CX_ERR_NOMEM;
    cx_text_rule tr = cx_text_clean(in->text, CX_TEXT_MULTILINE, 1, CHAT_TEXT_MAX_CHARS, text,
                                    CHAT_TEXT_MAX_BYTES);
    const char *reply = in->reply_to && in->reply_to[0] ? in->reply_to : NULL;
    bool reply_uuid = !reply || cx_uuid_valid_str(reply);
    bool valid = tr == CX_TEXT_OK && reply_uuid;
    if (valid)
        _rate_key(in->id, a.identity, key);
    chat_new n = {.room_id = in->id,
                  .identity = a.identity,
                  .name = a.name,
                  .role = a.role,
                  .user_id = a.user_id,
                  .text = tr == CX_TEXT_OK ? text : "",
                  .reply_to = reply_uuid ? reply : NULL,
                  .room_token = b.kind == CX_BEARER_ROOM,
                  .token_room = b.kind == CX_BEARER_ROOM ? b.room.room_id : b.caller.user_id,
                  .insert = valid};
    cx_uuid_v4(n.mid);
    chat_post cp = {.in = &n, .f = &f, .out = &m, .rate_key = valid ? key : NULL};
    s = chat_batch_post(ctx->chat, ctx->pg, ctx->redis, &cp);
    free(text);
    long long wait = cp.wait_ms;
    if (s != CX_OK)
        return s;
    if (!f.found)
        return CX_ERR_ROOM_NOT_FOUND;
    if (!f.may)
        return cx_req_fail(req, CX_ERR_ROOM_FORBIDDEN, "%s",
                           b.kind == CX_BEARER_ROOM
                               ? "this room token is for another room"
                               : "post with a room token of this room or as its host");
    if (f.ended)
        return CX_ERR_ROOM_ENDED;
    if (f.banned)
        return cx_req_fail(req, CX_ERR_BANNED, "you were banned from this room");
    if (tr != CX_TEXT_OK) /* empty or only whitespace: "min" (1..4000 chars), as for names */
        return cx_req_field_error(req, "text",
                                  tr == CX_TEXT_REQUIRED ? "min" : cx_text_rule_name(tr));
    if (!reply_uuid)
        return cx_req_field_error(req, "reply_to", "uuid");
    if (wait > 0) {
        req->retry_after = (int)((wait + 999) / 1000);
        return cx_req_fail(req, CX_ERR_TOO_MANY_MESSAGES,
                           "more than %d messages in %d s: try again in %d s", CHAT_RATE_MAX,
                           CHAT_RATE_WINDOW_MS / 1000, req->retry_after);
    }
    if (!f.reply_ok)
        return cx_req_fail(req, cx_req_field_error(req, "reply_to", "same_room"),
                           "reply_to is not a message of this room");
    if (!f.inserted)
        return CX_ERR_INTERNAL;
    rooms_row room;
    memset(&room, 0, sizeof room);
    snprintf(room.id, sizeof room.id, "%s", m.room_id);
    snprintf(room.livekit_room, sizeof room.livekit_room, "%s", f.livekit_room);
    return _reply_and_publish(ctx, &room, "chat.message", &m, req->request_id, out);
}

/* ---- list -------------------------------------------------------------- */

/* May this caller read the room's chat: a room token of the room, the
 * host, or a signed-in user who was in the room. */
static cx_status _may_read(rooms_ctx *ctx, cx_req *req, const cx_bearer *b, const _actor *a,
                           const rooms_row *room)
{
    bool yes = a->level != ROOMS_ROLE_NONE;
    cx_status s = CX_OK;
    if (!yes && b->kind == CX_BEARER_ACCESS)
        s = chat_store_is_reader(ctx->pg, room->id, b->caller.user_id, &yes);
    if (s == CX_OK && !yes)
        s = cx_req_fail(req, CX_ERR_ROOM_FORBIDDEN, "you were not in this room");
    return s;
}

static cx_status _page_reply(chat_msg *v, int n, bool more, ProtobufCMessage **out)
{
    Calixio__V1__ListMessagesReply *r = malloc(sizeof *r);
    if (!r)
        return CX_ERR_NOMEM;
    calixio__v1__list_messages_reply__init(r);
    r->messages = calloc(n > 0 ? (size_t)n : 1, sizeof *r->messages);
    if (!r->messages)
        goto out_free;
    for (int i = 0; i < n; i++) {
        if (!(r->messages[i] = _to_msg(&v[i])))
            goto out_free;
        r->n_messages++;
    }
    if (more && n > 0 && !(r->next_before = cx_strdup(v[0].id)))
        goto out_free;
    *out = &r->base;
    return CX_OK;
out_free:
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return CX_ERR_NOMEM;
}

cx_status rooms_h_chat_list(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                            void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__ListMessagesRequest *in = (const void *)in_;
    cx_bearer b;
    rooms_row room;
    _actor a;
    chat_msg *v = NULL;
    int n = 0;
    bool more = false;
    int limit = in->has_limit ? in->limit : CHAT_LIST_DEFAULT;

    cx_status s = _enter(ctx, req, in->id, &b, &room, &a);
    if (s != CX_OK)
        return s;
    s = _may_read(ctx, req, &b, &a, &room);
    if (s == CX_OK && limit < 1)
        s = cx_req_field_error(req, "limit", "min");
    else if (s == CX_OK && limit > CHAT_LIST_MAX)
        s = cx_req_field_error(req, "limit", "max");
    const char *before = in->before && in->before[0] ? in->before : NULL;
    if (s == CX_OK && before && !cx_uuid_valid_str(before))
        s = cx_req_field_error(req, "before", "uuid");
    if (s == CX_OK)
        s = chat_store_page(ctx->pg, room.id, before, limit, &v, &n, &more);
    if (s == CX_ERR_MESSAGE_NOT_FOUND)
        s = cx_req_fail(req, s, "before is not a message of this room");
    if (s == CX_OK)
        s = _page_reply(v, n, more, out);
    chat_msgs_free(v, n);
    rooms_row_clear(&room);
    return s;
}

/* ---- update / delete ------------------------------------------------------ */

cx_status rooms_h_chat_update(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                              void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__UpdateMessageRequest *in = (const void *)in_;
    cx_bearer b;
    rooms_row room;
    _actor a;
    chat_msg m;
    char *text = NULL;

    cx_status s = _enter(ctx, req, in->id, &b, &room, &a);
    if (s != CX_OK)
        return s;
    if ((s = chat_store_get(ctx->pg, room.id, in->message_id, &m)) != CX_OK)
        goto out_clear;
    bool mine = strcmp(m.sender_identity, a.identity) == 0;
    chat_msg_clear(&m);
    if (!mine)
        s = cx_req_fail(req, CX_ERR_ROOM_FORBIDDEN, "only the sender may edit a message");
    else if (strcmp(room.status, "ended") == 0)
        s = CX_ERR_ROOM_ENDED;
    if (s == CX_OK)
        s = _text(req, in->text, &text);
    if (s == CX_OK)
        s = chat_store_update(ctx->pg, room.id, in->message_id, text, &m);
    if (s == CX_OK)
        s = _reply_and_publish(ctx, &room, "chat.message_updated", &m, req->request_id, out);
out_clear:
    free(text);
    rooms_row_clear(&room);
    return s;
}

cx_status rooms_h_chat_delete(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                              void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__MessageRef *in = (const void *)in_;
    cx_bearer b;
    rooms_row room;
    _actor a;
    chat_msg m;

    cx_status s = _enter(ctx, req, in->id, &b, &room, &a);
    if (s != CX_OK)
        return s;
    if ((s = chat_store_get(ctx->pg, room.id, in->message_id, &m)) != CX_OK)
        goto out_clear;
    bool mine = strcmp(m.sender_identity, a.identity) == 0;
    chat_msg_clear(&m);
    if (!mine && b.kind == CX_BEARER_ROOM && a.level < ROOMS_ROLE_HOST) {
        /* a promotion or demotion after the token was minted wins (policy.c) */
        char stored[16];
        s = rooms_role_stored(ctx->pg, room.id, b.room.identity, stored);
        if (s == CX_OK && stored[0])
            a.level = rooms_role_parse(stored);
        if (s != CX_OK)
            goto out_clear;
    }
    if (!mine && a.level < ROOMS_ROLE_MODERATOR)
        s = cx_req_fail(req, CX_ERR_ROOM_FORBIDDEN,
                        "only the sender, the host or a moderator may delete a message");
    if (s == CX_OK)
        s = chat_store_delete(ctx->pg, room.id, in->message_id);
    if (s == CX_OK) {
        Calixio__V1__ChatMessage gone = CALIXIO__V1__CHAT_MESSAGE__INIT;
        gone.id = (char *)in->message_id;
        gone.room_id = room.id;
        _event(ctx, &room, "chat.message_deleted", &gone, req->request_id);
        cx_log_info(req->request_id, "room %s: message %s deleted by %s", room.id,
                    in->message_id, a.identity);
        Calixio__V1__Empty *e = malloc(sizeof *e);
        if (!e)
            s = CX_ERR_NOMEM;
        else {
            calixio__v1__empty__init(e);
            *out = &e->base;
        }
    }
out_clear:
    rooms_row_clear(&room);
    return s;
}
