/* rooms.h: the rooms daemon's shared types (store rows, context) and the
 * functions its files offer each other. */
#ifndef ROOMS_H
#define ROOMS_H

#include <stdbool.h>
#include <stdint.h>

#include "calixio/v1/rooms.pb-c.h"
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
} rooms_row;

typedef struct rooms_ctx {
    cx_pg_pool *pg;
    cx_redis *redis;
    cx_livekit *lk;             /* NULL when LIVEKIT_HOST is unset: LiveKit calls skipped */
    cx_service *svc;            /* set after cx_service_create, for events */
    int64_t default_max_participants;
    int64_t default_empty_timeout_s;
    int64_t max_age_s;          /* ROOM_MAX_AGE */
    int64_t orphan_grace_s;     /* LiveKit rooms without a live row older than this go */
} rooms_ctx;

/* ---- store.c: SQL, parameters only ---- */


/* Inserts a new active room on a connection inside a transaction the
 * caller opened; fills *out from RETURNING. */
cx_status rooms_store_insert(PGconn *c, const char *id, const char *name, const char *owner,
                             int64_t max_participants, int64_t empty_timeout_s,
                             const char *metadata, const char *livekit_room, rooms_row *out,
                             bool *broken);

/* Runs BEGIN / COMMIT / ROLLBACK on c. */
cx_status rooms_store_tx(PGconn *c, const char *verb, bool *broken);

/* Loads one room by id: CX_ERR_ROOM_NOT_FOUND when absent. */
cx_status rooms_store_get(cx_pg_pool *pg, const char *id, rooms_row *out);

/* Ends the room if `owner` owns it and it is not ended yet, marking
 * livekit_delete_pending = pending. *changed tells whether this call ended
 * it. Not found -> CX_ERR_ROOM_NOT_FOUND; other owner -> CX_ERR_ROOM_FORBIDDEN;
 * already ended -> CX_OK with *changed = false and the row. */
cx_status rooms_store_end(cx_pg_pool *pg, const char *id, const char *owner, bool pending,
                          rooms_row *out, bool *changed);

/* Lists owner's rooms newest first; status may be NULL. *out is a malloced
 * array of *n rows (caller frees). */
cx_status rooms_store_list(cx_pg_pool *pg, const char *owner, const char *status, int limit,
                           int offset, rooms_row **out, int *n);

/* Ends every room active for more than max_age_s; *out malloced rows ended. */
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

/* Publishes RoomChanged{event, room} on <prefix>.events.rooms.<event>. */
void rooms_publish(rooms_ctx *ctx, const char *event, const rooms_row *r, const char *rid);

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

#endif
