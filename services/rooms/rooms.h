/* rooms.h: the rooms daemon's shared types (store rows, context) and the
 * functions its files offer each other. */
#ifndef ROOMS_H
#define ROOMS_H

#include <stdbool.h>
#include <stdint.h>

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
    char ended_at[21];          /* "" unless ended */
    char owner_user_id[37];
    int32_t max_participants;
    char livekit_room[48];
    char description[ROOMS_DESCRIPTION_MAX_CHARS * 4 + 1];
    char code[ROOMS_CODE_LEN + 1];   /* ten letters, stored without dashes */
    char access[8];                  /* open | knock | invite */
    bool locked;
    char scheduled_at[21];           /* "" unless scheduled */
    char started_at[21];             /* "" until first active */
    char scheduled_end_at[21];       /* "" unless set */
    int64_t scheduled_at_s;          /* unix seconds, 0 unless scheduled */
    bool has_password;
    int64_t empty_timeout_s;
    char *metadata;                  /* malloced ("" when none): rooms_row_clear frees it */
} rooms_row;

/* Frees what a filled row owns (metadata); the row may be reused. */
void rooms_row_clear(rooms_row *r);

/* Frees an array of n rows from the store. NULL is fine. */
void rooms_rows_free(rooms_row *rows, int n);

typedef struct rooms_ctx {
    cx_pg_pool *pg;
    cx_redis *redis;
    cx_livekit *lk;             /* NULL when LIVEKIT_HOST is unset: LiveKit calls skipped */
    cx_service *svc;            /* set after cx_service_create, for events */
    int64_t default_max_participants;
    int64_t default_empty_timeout_s;
    int64_t max_age_s;          /* ROOM_MAX_AGE */
    int64_t orphan_grace_s;     /* LiveKit rooms without a live row older than this go */
    int64_t early_join_s;       /* ROOM_EARLY_JOIN */
    const cx_auth_cfg *auth;    /* JWT settings: room tokens are verified in handlers */
    uint64_t pw_opslimit;       /* Argon2id of room passwords */
    size_t pw_memlimit;
} rooms_ctx;

/* ---- store.c: SQL, parameters only ---- */


/* What a new room is made of (strings borrowed). */
typedef struct rooms_new {
    const char *id, *name, *owner, *description, *access, *metadata, *livekit_room;
    const char *password_hash;  /* NULL: no password */
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
    const char *password_hash;  /* non-NULL: set; "" removes the password */
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

typedef enum rooms_role { ROOMS_ROLE_NONE = 0, ROOMS_ROLE_GUEST, ROOMS_ROLE_PARTICIPANT,
                          ROOMS_ROLE_MODERATOR, ROOMS_ROLE_HOST } rooms_role;

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

#endif
