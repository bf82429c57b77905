/* rooms.h: the rooms daemon's shared types (store rows, context) and the
 * functions its files offer each other. */
#ifndef ROOMS_H
#define ROOMS_H

#include <stdbool.h>
#include <stdint.h>

#include "calixio/v1/media.pb-c.h"
#include "calixio/v1/rooms.pb-c.h"
#include "cx_bearer.h"
#include "cx_livekit.h"
#include "cx_pg.h"
#include "cx_redis.h"
#include "cx_service.h"

#define ROOMS_NAME_MAX_CHARS 64
#define ROOMS_NAME_MIN_CHARS 2
#define ROOMS_DEFAULT_NAME "Room"
#define ROOMS_METADATA_MAX (64 * 1024)
#define ROOMS_MAX_PARTICIPANTS 500
#define ROOMS_EMPTY_TIMEOUT_MAX_S 86400
#define ROOMS_LIST_DEFAULT 50
#define ROOMS_LIST_MAX 100
#define ROOMS_LK_PREFIX "cx-"
#define ROOMS_PG_WAIT_MS 2000
#define ROOMS_DESCRIPTION_MAX_CHARS 500
#define ROOMS_PASSWORD_MIN_CHARS 4
#define ROOMS_PASSWORD_MAX_CHARS 64
#define ROOMS_SCHEDULE_MAX_AHEAD_S (366 * 86400)
#define ROOMS_CODE_LEN 10
#define ROOMS_CODE_ATTEMPTS 5

/* One row of the rooms table, as text ready for the reply. */
typedef struct rooms_row {
    char id[37];
    char name[ROOMS_NAME_MAX_CHARS * 4 + 1];
    char status[8];
    char created_at[21];
    char ended_at[21]; /* "" unless ended */
    char owner_user_id[37];
    int32_t max_participants;
    char livekit_room[48];
    char description[ROOMS_DESCRIPTION_MAX_CHARS * 4 + 1];
    char code[ROOMS_CODE_LEN + 1]; /* ten letters, stored without dashes */
    char access[8];                /* open | knock | invite */
    bool locked;
    char scheduled_at[21];     /* "" unless scheduled */
    char started_at[21];       /* "" until first active */
    char scheduled_end_at[21]; /* "" unless set */
    int64_t scheduled_at_s;    /* unix seconds, 0 unless scheduled */
    bool has_password;
    int64_t empty_timeout_s;
    char *metadata; /* malloced ("" when none): rooms_row_clear frees it */
} rooms_row;

/* Frees what a filled row owns (metadata); the row may be reused. */
void rooms_row_clear(rooms_row *r);

/* Frees an array of n rows from the store. NULL is fine. */
void rooms_rows_free(rooms_row *rows, int n);

typedef struct rooms_ctx {
    cx_pg_pool *pg;
    cx_redis *redis;
    cx_livekit *lk;  /* NULL when LIVEKIT_HOST is unset: LiveKit calls skipped */
    cx_service *svc; /* set after cx_service_create, for events */
    int64_t default_max_participants;
    int64_t default_empty_timeout_s;
    int64_t max_age_s;       /* ROOM_MAX_AGE */
    int64_t orphan_grace_s;  /* LiveKit rooms without a live row older than this go */
    int64_t early_join_s;    /* ROOM_EARLY_JOIN */
    const cx_auth_cfg *auth; /* JWT settings: room tokens are verified in handlers */
    uint64_t pw_opslimit;    /* Argon2id of room passwords */
    size_t pw_memlimit;
    /* issue 17: rooms mints the answer of the joins it decides */
    const char *lk_api_key, *lk_api_secret, *lk_public_url;
    int64_t token_ttl_s;      /* LIVEKIT_TOKEN_TTL, as media */
    int64_t waiting_ttl_s;    /* WAITING_TTL */
    int64_t pw_max_fails;     /* ROOM_PASSWORD_MAX_FAILS per room and client */
    int64_t pw_fail_window_s; /* ROOM_PASSWORD_FAIL_WINDOW */
    struct chat_batch *chat;  /* group commit of chat posts (chat_batch.c); NULL: none */
} rooms_ctx;

/* ---- store.c: SQL, parameters only ---- */


/* What a new room is made of (strings borrowed). */
typedef struct rooms_new {
    const char *id, *name, *owner, *description, *access, *metadata, *livekit_room;
    const char *password_hash; /* NULL: no password */
    int64_t max_participants, empty_timeout_s;
    bool locked;
    int64_t scheduled_at_s;     /* 0: not scheduled (the room is active at once) */
    int64_t scheduled_end_at_s; /* 0: none */
} rooms_new;

/* Inserts a room (one autocommitted statement) with a fresh random code,
 * retrying on the rare code collision; fills *out from RETURNING. */
cx_status rooms_store_insert(cx_pg_pool *pg, const rooms_new *n, rooms_row *out);

/* Deletes the row of a create that failed afterwards (compensation). */
cx_status rooms_store_forget(cx_pg_pool *pg, const char *id);

/* A patch: has_* / non-NULL fields are set, the rest kept. */
typedef struct rooms_patch {
    const char *name, *description, *access, *metadata;
    const char *password_hash; /* non-NULL: set; "" removes the password */
    bool has_locked, locked;
    bool has_max_participants;
    int64_t max_participants;
    bool has_scheduled_at;
    int64_t scheduled_at_s;
    bool has_scheduled_end_at;
    int64_t scheduled_end_at_s;
    char name_buf[ROOMS_NAME_MAX_CHARS * 4 + 1]; /* the trimmed name `name` points at */
} rooms_patch;

/* Applies p to a live room that is not ended; *out is the row after.
 * CX_ERR_ROOM_NOT_FOUND, CX_ERR_ROOM_ENDED, CX_ERR_CONFLICT (scheduled_at
 * while not pending). */
cx_status rooms_store_update(cx_pg_pool *pg, const char *id, const rooms_patch *p,
                             rooms_row *out);

/* Marks a room deleted (it must be ended already). *changed: this call. */
cx_status rooms_store_delete(cx_pg_pool *pg, const char *id, bool *changed);

/* Loads a live room by its code (ten lowercase letters). */
cx_status rooms_store_get_by_code(cx_pg_pool *pg, const char *code, rooms_row *out);

/* pending -> active with started_at = now (no-op if already active);
 * *changed tells whether this call started it. Ended: CX_ERR_ROOM_ENDED. */
cx_status rooms_store_start(cx_pg_pool *pg, const char *id, rooms_row *out, bool *changed);

/* Ends scheduled rooms nobody started within max_age_s of their time, and
 * rooms whose scheduled_end_at has come; *out malloced rows ended. */
cx_status rooms_store_end_scheduled(cx_pg_pool *pg, int64_t max_age_s, bool pending,
                                    rooms_row **out, int *n);

/* Loads one live (not deleted) room by id: CX_ERR_ROOM_NOT_FOUND when absent. */
cx_status rooms_store_get(cx_pg_pool *pg, const char *id, rooms_row *out);

/* Ends the room if `owner` owns it (owner NULL: whoever owns it) and it is not ended yet, marking
 * livekit_delete_pending = pending. *changed tells whether this call ended
 * it. Not found -> CX_ERR_ROOM_NOT_FOUND; other owner -> CX_ERR_ROOM_FORBIDDEN;
 * already ended -> CX_OK with *changed = false and the row. */
cx_status rooms_store_end(cx_pg_pool *pg, const char *id, const char *owner, bool pending,
                          rooms_row *out, bool *changed);

/* Lists owner's rooms newest first; status may be NULL. *out is a malloced
 * array of *n rows (rooms_rows_free). */
cx_status rooms_store_list(cx_pg_pool *pg, const char *owner, const char *status, int limit,
                           int offset, rooms_row **out, int *n);

/* Ends every room active for more than max_age_s (since it started);
 * *out malloced rows ended (rooms_rows_free). */
cx_status rooms_store_end_old(cx_pg_pool *pg, int64_t max_age_s, bool pending, rooms_row **out,
                              int *n);

/* LiveKit room names (malloced array of malloced strings) still owing a
 * DeleteRoom, at most `max`. */
cx_status rooms_store_pending_deletes(cx_pg_pool *pg, int max, char ***out, int *n);

/* Clears livekit_delete_pending of the room with that LiveKit name. */
cx_status rooms_store_delete_done(cx_pg_pool *pg, const char *livekit_room);

/* Status of the room with that LiveKit name into status[8] ("" when no row). */
cx_status rooms_store_status_by_lk(cx_pg_pool *pg, const char *livekit_room, char status[8]);

void rooms_free_strv(char **v, int n);

/* ---- reply.c: rows to messages ---- */

/* A malloced Room message for the row (NULL on OOM). */
Calixio__V1__Room *rooms_row_to_msg(const rooms_row *r);

/* Publishes the change of a room: the RoomEvent of record on
 * <prefix>.events.room.<id>.room.<event> (events.proto), and the
 * RoomChanged{event, room} that room caches listen to on
 * <prefix>.events.rooms.<event>. event: created | updated | started |
 * ended | deleted. */
void rooms_publish(rooms_ctx *ctx, const char *event, const rooms_row *r, const char *rid);

/* Publishes participant.left for identity of room r (the webhook service
 * closes the visit in history). */
void rooms_publish_left(rooms_ctx *ctx, const rooms_row *r, const char *identity,
                        const char *name, const char *role, const char *user_id,
                        const char *jti, const char *rid);

/* ---- code.c: meeting codes ---- */

/* Ten random lowercase letters (libsodium) into out[11]. */
void rooms_code_random(char out[ROOMS_CODE_LEN + 1]);

/* Normalises a code (any case, dashes anywhere) into out[11]; false when
 * it is not ten letters. */
bool rooms_code_norm(const char *in, char out[ROOMS_CODE_LEN + 1]);

/* "abcdefghij" -> "abc-defg-hij" into out[13]. */
void rooms_code_show(const char *code, char out[ROOMS_CODE_LEN + 3]);

/* ---- validate.c: request fields ---- */

/* Parses RFC 3339 ("2026-12-01T10:00:00Z", "+02:00" offsets, optional
 * fraction) into unix seconds; false when malformed. */
bool rooms_time_parse(const char *s, int64_t *out);

/* Number of UTF-8 code points in s. */
size_t rooms_chars(const char *s);

/* Argon2id hash of a room password into a malloced string (*out). */
cx_status rooms_password_hash(const rooms_ctx *ctx, const char *pw, char **out);

/* ---- access.c: who is calling ---- */

typedef enum rooms_role {
    ROOMS_ROLE_NONE = 0,
    ROOMS_ROLE_GUEST,
    ROOMS_ROLE_PARTICIPANT,
    ROOMS_ROLE_MODERATOR,
    ROOMS_ROLE_HOST
} rooms_role;

/* "host" -> ROOMS_ROLE_HOST ...; anything else is GUEST. */
rooms_role rooms_role_parse(const char *r);

/* The name of a role ("host" ...; NONE is ""). */
const char *rooms_role_name(rooms_role r);

/* Verifies the Authorization header of a room route: an access token, or
 * a room token when allow_room_token (else a room token is 401
 * invalid_token). No header 401 missing_auth, bad token 401 invalid_token.
 * An access token also fills req->caller. */
cx_status rooms_bearer(rooms_ctx *ctx, cx_req *req, bool allow_room_token, cx_bearer *b);

/* The role of bearer b in room r: the owner's access token is host, any
 * other access token NONE; a room token has its own role, and a room token
 * of another room is 403 room_forbidden. */
cx_status rooms_role_in(cx_req *req, const cx_bearer *b, const rooms_row *r, rooms_role *role);

/* ---- presence.c ---- */

/* Live participants of a room: Redis presence, reconciled against LiveKit
 * ListParticipants when LiveKit is configured (LiveKit's list wins). */
cx_status rooms_participants(rooms_ctx *ctx, const rooms_row *room, const char *rid,
                             Calixio__V1__ParticipantsReply **out);

/* Deletes the presence hash of a LiveKit room (best effort). */
void rooms_presence_drop(rooms_ctx *ctx, const char *livekit_room, const char *rid);

/* ---- sweeper.c ---- */

/* The periodic task (cx_service_every): ends old rooms, retries pending
 * DeleteRooms, deletes orphan LiveKit rooms, drops presence of ended rooms. */
void rooms_sweep(void *arg);

/* ---- handlers.c ---- */

cx_status rooms_h_create(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                         void *ctx);
cx_status rooms_h_list(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                       void *ctx);
cx_status rooms_h_get(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                      void *ctx);
cx_status rooms_h_end(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                      void *ctx);
cx_status rooms_h_participants(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                               void *ctx);

/* ---- manage.c ---- */

cx_status rooms_h_update(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                         void *ctx);
cx_status rooms_h_delete(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                         void *ctx);
cx_status rooms_h_by_code(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                          void *ctx);
cx_status rooms_h_start(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                        void *ctx);
cx_status rooms_h_leave(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                        void *ctx);

/* Ends a room the caller may end (changed: this call ended it): event,
 * LiveKit DeleteRoom (retried by the sweeper), presence dropped. Shared by
 * end, delete and the sweeper. */
void rooms_after_end(rooms_ctx *ctx, const rooms_row *r, const char *rid);

/* ---- issue 17: who gets in (policy.c, admit.c, gate_store.c, invites.c,
 * waiting.c) ---- */

#define ROOMS_INVITE_CODE_BYTES 24 /* 192 random bits, 32 base64url chars */
#define ROOMS_INVITE_LABEL_MAX_CHARS 64
#define ROOMS_INVITE_EXPIRES_MIN_S 60
#define ROOMS_INVITE_EXPIRES_MAX_S 2592000
#define ROOMS_INVITE_MAX_USES 10000
#define ROOMS_REASON_MAX_CHARS 200
#define ROOMS_WAITING_TOKEN_GRACE_S 600 /* a waiting token outlives its entry by this */

/* What a route may do; one row each in policy.c. */
typedef enum rooms_action {
    ROOMS_ACT_UPDATE = 0,
    ROOMS_ACT_DELETE,
    ROOMS_ACT_INVITE_CREATE,
    ROOMS_ACT_INVITE_MODERATOR,
    ROOMS_ACT_INVITE_LIST,
    ROOMS_ACT_INVITE_REVOKE,
    ROOMS_ACT_WAITING_LIST,
    ROOMS_ACT_WAITING_DECIDE,
    ROOMS_ACT_REMOVE,
    ROOMS_ACT_MUTE,
    ROOMS_ACT_SET_ROLE,
    ROOMS_ACT_COUNT_
} rooms_action;

/* The one role x action table: the least role that may do `a`. */
rooms_role rooms_policy_min_role(rooms_action a);

/* Who acts (for events and the audit log). */
typedef struct rooms_actor {
    char identity[CX_IDENTITY_MAX + 1]; /* "" for an access token */
    char user_id[64];                   /* "" for guests */
    char name[256];
    rooms_role role;
} rooms_actor;

/* Every room route that acts on room `id`: verifies the bearer (access or
 * room token; a waiting token is 401 invalid_token), loads the live room
 * (*row, clear it after), finds the caller's role and checks it against
 * the policy table (403 room_forbidden). *actor filled on success. */
cx_status rooms_authorize(rooms_ctx *ctx, cx_req *req, const char *id, rooms_action a,
                          rooms_row *row, rooms_actor *actor);

/* An invite row (the code itself is never stored). */
typedef struct rooms_invite {
    char id[37];
    char label[ROOMS_INVITE_LABEL_MAX_CHARS * 4 + 1];
    char role[16];
    char expires_at[21]; /* "" unless set */
    int32_t max_uses;    /* 0 unless set */
    int32_t uses;
    char created_at[21];
    bool revoked, usable;
} rooms_invite;

/* The invite of room_id with that code: CX_OK when usable,
 * CX_ERR_INVITE_INVALID (unknown, another room's, revoked),
 * CX_ERR_INVITE_EXPIRED (past expires_at or used up); *out filled when
 * the invite exists. */
cx_status rooms_invite_peek(cx_pg_pool *pg, const char *room_id, const char *code,
                            rooms_invite *out);

/* Counts one use atomically; CX_ERR_INVITE_EXPIRED when none is left. */
cx_status rooms_invite_use(cx_pg_pool *pg, const char *invite_id);

/* Inserts an invite (expires_in_s / max_uses 0: none). */
cx_status rooms_invite_insert(cx_pg_pool *pg, const char *room_id, const char *code,
                              const char *label, const char *role, int64_t expires_in_s,
                              int32_t max_uses, const char *created_by, rooms_invite *out);

/* The room's invites that are not revoked, newest first; *out malloced. */
cx_status rooms_invite_list(cx_pg_pool *pg, const char *room_id, rooms_invite **out, int *n);

/* Revokes; CX_ERR_INVITE_NOT_FOUND when the room has no such invite
 * (revoking twice is CX_OK with *changed false). */
cx_status rooms_invite_revoke(cx_pg_pool *pg, const char *room_id, const char *invite_id,
                              bool *changed);

/* Whether identity (or the account user_id, may be "") is banned. */
cx_status rooms_ban_check(cx_pg_pool *pg, const char *room_id, const char *identity,
                          const char *user_id, bool *banned);

/* Bans identity (and user_id when not ""). Idempotent. */
cx_status rooms_ban_add(cx_pg_pool *pg, const char *room_id, const char *identity,
                        const char *user_id);

/* The role given to identity in a room ("" none) into role[16]. */
cx_status rooms_role_stored(cx_pg_pool *pg, const char *room_id, const char *identity,
                            char role[16]);

/* Keeps the role of identity (user_id may be "") in a room (upsert). */
cx_status rooms_role_store(cx_pg_pool *pg, const char *room_id, const char *identity,
                           const char *user_id, const char *role);

/* Every role given in a room (room_roles), for the participants list. */
typedef struct rooms_roles {
    int n;
    char (*identity)[CX_IDENTITY_MAX + 1];
    char (*role)[16];
} rooms_roles;
cx_status rooms_roles_load(cx_pg_pool *pg, const char *room_id, rooms_roles *out);
const char *rooms_roles_find(const rooms_roles *rr, const char *identity); /* NULL: none */
void rooms_roles_free(rooms_roles *rr);

/* Appends one moderation act to room_audit (details_json may be NULL). */
cx_status rooms_audit_add(cx_pg_pool *pg, const char *room_id, const rooms_actor *a,
                          const char *action, const char *target, const char *details_json);

/* Deletes a room's invites and waiting entries (DELETE /rooms/{id}). */
cx_status rooms_gate_forget(cx_pg_pool *pg, const char *room_id);

/* Publishes waiting.<type> (requested | left | approved | rejected). */
void rooms_publish_waiting(rooms_ctx *ctx, const char *room_id, const char *livekit_room,
                           const char *type, const char *wid, const char *name,
                           const char *user_id, const char *reason, const char *rid);

/* A pending room becomes active now (LiveKit CreateRoom, then the row,
 * then room.started); a room that is active already is left alone. */
cx_status rooms_start_now(rooms_ctx *ctx, cx_req *req, const char *id);

/* A waiting entry; status reads "expired" once past its time. */
typedef struct rooms_waiting {
    char id[37];
    char identity[CX_IDENTITY_MAX + 1];
    char name[256];
    char user_id[37]; /* "" for guests */
    char role[16];
    char status[10]; /* waiting | approved | rejected | expired | left */
    char reason[ROOMS_REASON_MAX_CHARS * 4 + 1];
    char requested_at[21];
    bool has_answer;
    uint8_t *answer; /* the packed JoinReply minted at the first poll (get only) */
    size_t answer_len;
} rooms_waiting;

/* Frees what rooms_waiting_get filled (the answer). */
void rooms_waiting_clear(rooms_waiting *w);

/* A new waiting entry living ttl_s; its id into wid. */
cx_status rooms_waiting_insert(cx_pg_pool *pg, const char *room_id, const char *identity,
                               const char *name, const char *user_id, const char *role,
                               int64_t ttl_s, char wid[37]);

/* One entry of room_id (CX_ERR_WAITING_NOT_FOUND); clear it after. */
cx_status rooms_waiting_get(cx_pg_pool *pg, const char *room_id, const char *wid,
                            rooms_waiting *out);

/* Entries still waiting, oldest first; *out malloced (no answers). */
cx_status rooms_waiting_list(cx_pg_pool *pg, const char *room_id, rooms_waiting **out, int *n);

/* approved | rejected, once: *changed tells whether this call decided;
 * a decided entry answers its first decision, an expired one
 * CX_ERR_WAITING_NOT_FOUND. *out is the entry after (clear it). */
cx_status rooms_waiting_decide(cx_pg_pool *pg, const char *room_id, const char *wid,
                               const char *status, const char *reason, rooms_waiting *out,
                               bool *changed);

/* The waiting party gives up: waiting -> left (*changed); any other
 * state is left alone. *out is the entry after (clear it). */
cx_status rooms_waiting_leave(cx_pg_pool *pg, const char *room_id, const char *wid,
                              rooms_waiting *out, bool *changed);

/* Stores the minted answer of an approved entry unless one is there
 * already (*stored false: read the stored one). */
cx_status rooms_waiting_set_answer(cx_pg_pool *pg, const char *wid, const uint8_t *buf,
                                   size_t len, bool *stored);

/* Every entry still waiting in a room that ended: rejected with reason;
 * *out malloced, the entries rejected (for their events). */
cx_status rooms_waiting_reject_room(cx_pg_pool *pg, const char *room_id, const char *reason,
                                    rooms_waiting **out, int *n);

/* An entry the sweeper settled: rejected (its room ended) or expired. */
typedef struct rooms_waiting_ev {
    char room_id[37], livekit_room[48], id[37];
    char name[256], user_id[37], status[10];
    char reason[ROOMS_REASON_MAX_CHARS * 4 + 1];
} rooms_waiting_ev;

/* Settles at most max entries: of ended rooms -> rejected (reason
 * room_ended), past expires_at -> expired. *out malloced. */
cx_status rooms_waiting_sweep(cx_pg_pool *pg, int max, rooms_waiting_ev **out, int *n);

/* The Argon2id hash of the room's password into *out (malloced; NULL when
 * the room has none). */
cx_status rooms_store_password_hash(cx_pg_pool *pg, const char *id, char **out);

/* The 200 join answer for who in room r (LiveKit token + room token). */
cx_status rooms_mint_join(rooms_ctx *ctx, const rooms_row *r, const char *identity,
                          const char *name, const char *role, const char *user_id,
                          Calixio__V1__JoinReply **out);

cx_status rooms_h_waiting_poll(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                               void *ctx);
cx_status rooms_h_waiting_leave(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                                void *ctx);
cx_status rooms_h_waiting_list(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                               void *ctx);
cx_status rooms_h_waiting_approve(cx_req *req, const ProtobufCMessage *in,
                                  ProtobufCMessage **out, void *ctx);
cx_status rooms_h_waiting_reject(cx_req *req, const ProtobufCMessage *in,
                                 ProtobufCMessage **out, void *ctx);

/* Publishes participant.<removed|muted|role_changed> for identity of r
 * (participant.reason: removed / banned, the kind, or the new role). */
void rooms_publish_participant(rooms_ctx *ctx, const rooms_row *r, const char *type,
                               const char *identity, const char *reason, const char *rid);

/* Only the RoomChanged "updated" that room caches (media) listen to: a ban
 * or a room role makes a room gated without changing the Room. */
void rooms_publish_cache(rooms_ctx *ctx, const rooms_row *r, const char *rid);

/* moderation.c */
cx_status rooms_h_remove(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                         void *ctx);
cx_status rooms_h_mute(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                       void *ctx);
cx_status rooms_h_role(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                       void *ctx);

cx_status rooms_h_admit(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                        void *ctx);
cx_status rooms_h_invite_create(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                                void *ctx);
cx_status rooms_h_invite_list(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                              void *ctx);
cx_status rooms_h_invite_revoke(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                                void *ctx);

#endif
