/* chat.h: the chat of a room (API-ROOMS.md "Chat"): the store of
 * messages and readers (chat_store.c), the routes (chat.c), and the room
 * events that keep it in step with the rest of the system (chat_visits.c,
 * account_deleted.c). */
#ifndef ROOMS_CHAT_H
#define ROOMS_CHAT_H

#include <stdbool.h>

#include "calixio/v1/chat.pb-c.h"
#include "calixio/v1/events.pb-c.h"
#include "rooms.h"

#define CHAT_TEXT_MAX_CHARS 4000
#define CHAT_TEXT_MAX_BYTES (CHAT_TEXT_MAX_CHARS * 4 + 1)
#define CHAT_LIST_DEFAULT 50
#define CHAT_LIST_MAX 100
#define CHAT_RATE_MAX 10          /* messages per sender ... */
#define CHAT_RATE_WINDOW_MS 10000 /* ... per this sliding window */
#define CHAT_DELETED_USER "Deleted user"

/* One message row. text is malloced (chat_msg_clear frees it). */
typedef struct chat_msg {
    char id[37];
    char room_id[37];
    char sender_identity[CX_IDENTITY_MAX + 1];
    char sender_name[256];
    char sender_role[16];
    char created_at[21];
    char edited_at[21]; /* "" unless edited */
    char reply_to[37];  /* "" unless a reply */
    char *text;
} chat_msg;

void chat_msg_clear(chat_msg *m);
void chat_msgs_free(chat_msg *v, int n);

/* What a new message is made of (strings borrowed; user_id "" for guests). */
typedef struct chat_new {
    const char *room_id, *identity, *name, *role, *user_id, *text;
    const char *reply_to; /* NULL or "": not a reply */
} chat_new;

/* Inserts a message; *out from RETURNING. A reply_to that is not a live
 * message of the same room is CX_ERR_MESSAGE_NOT_FOUND. A signed-in
 * sender (user_id) is recorded as a reader of the room in the same
 * statement. */
cx_status chat_store_insert(cx_pg_pool *pg, const chat_new *n, chat_msg *out);

/* A live (not deleted) message of room_id: CX_ERR_MESSAGE_NOT_FOUND when
 * absent. */
cx_status chat_store_get(cx_pg_pool *pg, const char *room_id, const char *id, chat_msg *out);

/* New text of a live message (edited_at = now); *out the row after. */
cx_status chat_store_update(cx_pg_pool *pg, const char *room_id, const char *id,
                            const char *text, chat_msg *out);

/* Marks a live message deleted and erases its text. Not live:
 * CX_ERR_MESSAGE_NOT_FOUND. */
cx_status chat_store_delete(cx_pg_pool *pg, const char *room_id, const char *id);

/* The page of room_id: at most limit live messages older than `before` (a
 * message id of the room, deleted ones included; NULL: the latest),
 * oldest first, as a malloced array (*out, *n; chat_msgs_free). *more
 * tells whether older live messages exist. An unknown `before` is
 * CX_ERR_MESSAGE_NOT_FOUND. */
cx_status chat_store_page(cx_pg_pool *pg, const char *room_id, const char *before, int limit,
                          chat_msg **out, int *n, bool *more);

/* The part of a live room chat needs (id, status, owner_user_id,
 * livekit_room; nothing malloced), one prepared statement.
 * CX_ERR_ROOM_NOT_FOUND when absent or deleted. */
cx_status chat_store_room(cx_pg_pool *pg, const char *id, rooms_row *out);

/* Deletes every message and reader of a room (the room is being deleted). */
cx_status chat_store_forget_room(cx_pg_pool *pg, const char *room_id);

/* Records that user_id was in room_id (idempotent). */
cx_status chat_store_add_reader(cx_pg_pool *pg, const char *room_id, const char *user_id);

/* *yes: user_id was in room_id (chat_store_add_reader). */
cx_status chat_store_is_reader(cx_pg_pool *pg, const char *room_id, const char *user_id,
                               bool *yes);

/* The messages of a deleted account: sender name "Deleted user", user id
 * forgotten (idempotent). */
cx_status chat_store_anonymise(cx_pg_pool *pg, const char *user_id);

/* ---- reply.c ---- */

/* Publishes ev (type, room_id, livekit_room and its payload set by the
 * caller; at, at_ms, event_id and request_id filled here) on
 * <prefix>.events.room.<room_id>.<type>. ev is borrowed. */
void rooms_publish_event(rooms_ctx *ctx, Calixio__V1__RoomEvent *ev, const char *rid);

/* ---- account_deleted.c: the path of DELETE /rooms/{id} ---- */

/* Ends the room (as POST /end: event, LiveKit DeleteRoom, presence
 * dropped) unless it is ended, then deletes it: the room.deleted event,
 * its chat gone. *changed: this call deleted it. The caller checked who
 * may. CX_ERR_ROOM_NOT_FOUND when it is gone already. */
cx_status rooms_remove(rooms_ctx *ctx, const char *id, const char *rid, bool *changed);

/* ---- chat.c: the routes ---- */

cx_status rooms_h_chat_post(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                            void *ctx);
cx_status rooms_h_chat_list(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                            void *ctx);
cx_status rooms_h_chat_update(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                              void *ctx);
cx_status rooms_h_chat_delete(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                              void *ctx);

/* ---- listen.c: room-independent events this daemon consumes ---- */

typedef struct rooms_listener rooms_listener;

/* Called on a NATS delivery thread with one message (borrowed). */
typedef void (*rooms_listen_fn)(rooms_ctx *ctx, const uint8_t *data, size_t len,
                                const char *subject);

/* Queue-subscribes <prefix>.<rel> in group `queue` (one copy of the
 * daemon gets each message) on the service's connection. *out is owned
 * by the caller (rooms_unlisten). */
cx_status rooms_listen(rooms_ctx *ctx, const char *rel, const char *queue, rooms_listen_fn fn,
                       rooms_listener **out);

/* Drains (bounded wait for a callback in progress) and frees. NULL is fine. */
void rooms_unlisten(rooms_listener *l);

/* ---- account_deleted.c ---- */

/* Consumes AccountDeleted (<prefix>.events.user.*.deleted): the rooms the
 * user owns are ended and deleted as DELETE /rooms/{id} does, and the
 * user's messages show "Deleted user". Idempotent. */
cx_status rooms_account_deleted_listen(rooms_ctx *ctx, rooms_listener **out);

/* ---- chat_visits.c ---- */

/* Consumes the webhook service's participant_joined room events: a
 * signed-in participant (identity = user id) becomes a reader of the
 * room's chat. */
cx_status rooms_visits_listen(rooms_ctx *ctx, rooms_listener **out);

#endif
