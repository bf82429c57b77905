/* media.h: the media daemon's room cache and join handler. */
#ifndef MEDIA_H
#define MEDIA_H

#include <stdbool.h>
#include <stdint.h>

#include "calixio/v1/media.pb-c.h"
#include "cx_auth.h"
#include "cx_pg.h"
#include "cx_redis.h"
#include "cx_service.h"

#define MEDIA_NAME_MAX_BYTES 257
#define MEDIA_USER_NAME_MAX_CHARS 36
#define MEDIA_DEFAULT_GUEST_NAME "Guest"
#define MEDIA_PG_WAIT_MS 2000
#define MEDIA_CODE_LEN 10
#define MEDIA_START_TIMEOUT_MS 3000

/* What a join needs to know about a room. */
typedef struct media_room {
    char id[37];
    char name[MEDIA_NAME_MAX_BYTES];
    char status[8];
    char owner_user_id[37];
    char livekit_room[48];
    char code[MEDIA_CODE_LEN + 1];
    int64_t scheduled_at_s; /* 0 unless scheduled */
    int32_t max_participants;
    bool gated; /* not a plain open room: rooms decides the join (issue 17) */
} media_room;

typedef struct media_cache media_cache;

/* A direct-mapped cache of room rows over a read-only query of the rooms
 * table (a cx_ttlcache keyed by the lower-case id). Entries live at most
 * ttl_ms (<= 1000) and are dropped at once by room events; a row read
 * before an event is not stored. Every function but create/destroy is safe
 * from any thread. pg is borrowed and must outlive the cache. */
cx_status media_cache_create(media_cache **out, cx_pg_pool *pg, int64_t ttl_ms);
void media_cache_destroy(media_cache *c);

/* Fills *out for room id: from the cache, else from Postgres.
 * CX_ERR_ROOM_NOT_FOUND when there is no such room (or id is not a UUID);
 * CX_ERR_UNAVAILABLE while Postgres is down. */
cx_status media_cache_get(media_cache *c, const char *id, media_room *out);

/* As media_cache_get for a meeting code (ten lowercase letters), through
 * a second cache keyed by code. */
cx_status media_cache_get_by_code(media_cache *c, const char *code, media_room *out);

/* Drops the entry of room id (no-op when absent). */
void media_cache_invalidate(media_cache *c, const char *id);

/* Subscribes to <prefix>.events.rooms.> on the service's connection;
 * every RoomChanged received invalidates its room. */
cx_status media_cache_subscribe(media_cache *c, cx_service *svc);

/* Unsubscribes (before the service is destroyed). NULL-safe. */
void media_cache_unsubscribe(media_cache *c);

/* ---- presence.c: live counts for room_full (issue 14) ---- */

typedef struct media_presence media_presence;

/* A table of live participant counts kept current by the webhook's pushed
 * participant.joined / participant.left events, with Redis (the presence
 * hash, HLEN) as cold start and gap filler; see presence.c. redis is
 * borrowed and must outlive it. *out owned by the caller. */
cx_status media_presence_create(media_presence **out, cx_redis *redis);
void media_presence_destroy(media_presence *p); /* NULL-safe; unsubscribes */

/* Subscribes to <prefix>.events.room.*.participant.{joined,left} on the
 * service's connection; counts are trusted only from then on.
 * CX_ERR_UNAVAILABLE when NATS refuses. */
cx_status media_presence_subscribe(media_presence *p, cx_service *svc);

/* Unsubscribes (before the service is destroyed); counts are no longer
 * trusted. NULL-safe. */
void media_presence_unsubscribe(media_presence *p);

/* *full: room already holds max_participants live participants. Asks Redis
 * only when the local count is unknown or near the limit (seats.h);
 * CX_ERR_UNAVAILABLE when it had to and Redis could not tell. Safe from
 * any thread. */
cx_status media_presence_full(media_presence *p, const media_room *room, bool *full);

typedef struct media_ctx {
    media_cache *cache;
    const char *api_key;
    const char *api_secret;
    const char *public_url;
    int64_t token_ttl_s;
    int64_t early_join_s;     /* ROOM_EARLY_JOIN */
    const cx_auth_cfg *auth;  /* room tokens are signed with these settings */
    media_presence *presence; /* live presence counts (room_full) */
    cx_service *svc;          /* set after cx_service_create: rooms.start requests */
} media_ctx;

/* ---- start.c ---- */

/* Asks rooms (calixio.rooms.start) to start the pending room id for this
 * joiner, forwarding its Authorization and request id. The error of the
 * rooms reply is returned as is (room_not_started, room_ended, ...). */
cx_status media_start_room(const media_ctx *c, cx_req *req, const char *id);

/* Asks rooms (calixio.rooms.admit) to decide a join of a gated room (access
 * knock/invite, locked, a password, bans or room roles) or a join with an
 * invite: in is the request with id set; the reply (200 or waiting) or the
 * error of rooms is returned as is. *out malloced. */
cx_status media_admit(const media_ctx *c, cx_req *req, const Calixio__V1__JoinRequest *in,
                      Calixio__V1__JoinReply **out);


/* media.join: JoinRequest -> JoinReply (CX_AUTH_OPTIONAL). */
cx_status media_h_join(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                       void *ctx);

#endif
