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
    /* who may post: a room token of room_id (room_token true, token_room its
     * `room` claim) or the owner's access token (token_room: the caller's
     * user id) */
    bool room_token;
    const char *token_room;
    bool insert;  /* false: only the checks (an answer that is an error anyway) */
    char mid[37]; /* the new message's id (UUID), chosen by the caller */
} chat_new;

/* What a post found, in the contract's order of answers. */
typedef struct chat_post_facts {
    bool found;    /* the room exists and is not deleted */
    bool may;      /* the token is of this room, or the access token the owner's */
    bool ended;    /* room status "ended" */
    bool banned;   /* a room token whose identity or user is banned */
    bool reply_ok; /* no reply_to, or a live message of the room */
    bool inserted; /* the message was stored: *out filled */
    char livekit_room[48];
} chat_post_facts;

/* One post of a chat_store_post batch: in and where its answer goes. */
typedef struct chat_post {
    const chat_new *in; /* borrowed; room_id a valid UUID, mid its new message id */
    chat_post_facts *f;
    chat_msg *out; /* holds memory only when f->inserted */
    /* the sender's rate limit (chat_batch.c): rate_key NULL skips it; wait_ms
     * 0 when this send was admitted (and counted), else the ms until the
     * oldest send leaves the window: then nothing is inserted */
    const char *rate_key;
    long long wait_ms;
} chat_post;

/* One round trip for n posts of POST /rooms/{id}/messages (n >= 1): for
 * each, checks the room (live, the caller's, not banned, reply_to of this
 * room) and, when every check passes and in->insert, inserts the message
 * (*out from RETURNING; a signed-in sender, user_id, is recorded as a
 * reader of the room in the same statement; a sender whose account is gone
 * is stored as "Deleted user"). One statement, one commit: all or none of
 * the inserts. On failure no *out holds memory. */
cx_status chat_store_post(cx_pg_pool *pg, chat_post *v, int n);

/* ---- chat_batch.c: group commit of posts ---- */

/* Posts that arrive while others are being stored wait and are stored
 * together, in one chat_store_post (at most CHAT_BATCH_MAX, at most
 * CHAT_BATCH_LEADERS batches in flight): one round trip and one commit for
 * many messages. One leader makes the biggest batches: measured, 1 beats 2
 * (bench/RESULTS.md "Chat throughput"). The caller's thread does the work (no thread of its own).
 * A failed batch is retried one post at a time, so one bad post fails
 * alone. */
#define CHAT_BATCH_MAX 64
#define CHAT_BATCH_LEADERS 1
typedef struct chat_batch chat_batch;

/* redis (borrowed, may be NULL: no limit) keeps the senders' windows.
 * *out owned by the caller (chat_batch_destroy). CX_ERR_NOMEM. */
cx_status chat_batch_create(cx_redis *redis, chat_batch **out);

/* Frees b (no post may be in progress). NULL is fine. */
void chat_batch_destroy(chat_batch *b);

/* Takes p's rate-limit slot (when p->rate_key) and stores it through b
 * (b NULL: alone, at once, with redis). The slots of a batch are taken
 * together too: one script run per room of the batch. Redis down: admitted
 * (chat is stored in Postgres; the limit is a guard, not a record), with a
 * warning. */
cx_status chat_batch_post(chat_batch *b, cx_pg_pool *pg, cx_redis *redis, chat_post *p);

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

/* Called on a NATS delivery thread with one decoded message (borrowed). */
typedef void (*rooms_listen_fn)(rooms_ctx *ctx, const ProtobufCMessage *m, const char *subject);

/* Queue-subscribes <prefix>.<rel> in group `queue` (one copy of the
 * daemon gets each message) on the service's connection; each message is
 * decoded as a d message (`what` names it in the log line of one that
 * does not decode, which is dropped) and passed to fn. *out is owned by
 * the caller (rooms_unlisten). */
cx_status rooms_listen(rooms_ctx *ctx, const char *rel, const char *queue,
                       const ProtobufCMessageDescriptor *d, const char *what,
                       rooms_listen_fn fn, rooms_listener **out);

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

/* ---- moderation.c ---- */

/* Removes a banned identity again as soon as its participant_joined
 * webhook event arrives (the same events as above, in queue group
 * calixio-rooms-bans). *out NULL when LiveKit is not configured. Start
 * after the service exists, stop (rooms_unlisten) before it goes. */
cx_status rooms_bans_listen(rooms_ctx *ctx, rooms_listener **out);

#endif
