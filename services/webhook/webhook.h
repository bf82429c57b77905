/* webhook: internal interfaces of the LiveKit webhook daemon.
 *
 * verify.c  content type + signature check (no I/O, callable from a fuzzer)
 * event.c   event JSON -> wh_event (no I/O, callable from a fuzzer)
 * presence.c Redis scripts: live presence, track counts, each with the
 *           de-duplication by event id in the same atomic script
 * history.c Postgres: rooms row lookup/status, participant_events rows
 * rooms.c   livekit_room -> room id cache, invalidated by room events
 * handler.c the calixio.webhook.livekit endpoint, tying the above together
 * main.c    env table and wiring */
#ifndef WH_WEBHOOK_H
#define WH_WEBHOOK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <pthread.h>

#include "cx_pg.h"
#include "cx_redis.h"
#include "cx_roomkeys.h"
#include "cx_service.h"
#include "cx_status.h"

/* Largest body accepted (LiveKit events are a few KiB). */
#define WH_MAX_BODY (1024 * 1024)
/* Largest Authorization value looked at (a webhook JWT is ~300 bytes). */
#define WH_MAX_AUTH 4096

/* Limits on the strings an event may carry (longer: 400 invalid_json). */
#define WH_MAX_ID 128
#define WH_MAX_EVENT 64
#define WH_MAX_ROOM 256
#define WH_MAX_IDENTITY 512
#define WH_MAX_NAME 1024

/* ---- verify.c --------------------------------------------------------- */

/* What a webhook token must be signed with: iss must equal api_key and the
 * HMAC key is secret. Both borrowed. */
typedef struct wh_keys {
    const char *api_key;
    const char *secret;
} wh_keys;

/* CX_OK when ct's media type (before any ';', trimmed, case-insensitive) is
 * application/webhook+json or application/json; CX_ERR_UNSUPPORTED_MEDIA
 * otherwise (also for NULL/empty). */
cx_status wh_check_content_type(const char *ct);

/* Verifies a LiveKit webhook signature before anything is parsed:
 * `authorization` is the bare JWT LiveKit sends (a "Bearer " prefix is NOT
 * accepted, as neither official receiver accepts it), HS256 with the secret
 * of the key named in `iss`, exp/nbf checked at `now` with `leeway_s`, and
 * the `sha256` claim equal to the standard base64 SHA-256 of exactly
 * body[0..len). Any failure is CX_ERR_INVALID_WEBHOOK; when `why` is not
 * NULL it receives a short static reason for the log (never secret). */
cx_status wh_verify(const char *authorization, const uint8_t *body, size_t len,
                    const wh_keys *keys, int64_t now, int64_t leeway_s, const char **why);

/* ---- event.c ---------------------------------------------------------- */

typedef enum wh_type {
    WH_EV_OTHER = 0, /* accepted and ignored */
    WH_EV_ROOM_STARTED,
    WH_EV_ROOM_FINISHED,
    WH_EV_PARTICIPANT_JOINED,
    WH_EV_PARTICIPANT_LEFT,
    WH_EV_TRACK_PUBLISHED,
    WH_EV_TRACK_UNPUBLISHED
} wh_type;

/* One parsed LiveKit WebhookEvent, reduced to what Calixio uses. Every
 * string is borrowed from `root` (never NULL: "" when absent) and lives as
 * long as the event; free with wh_event_free. */
typedef struct wh_event {
    json_t *root;
    wh_type type;
    const char *id;     /* "" when the event has no id */
    const char *event;  /* never "" after a successful parse */
    int64_t created_at; /* unix seconds; 0 when absent */
    bool has_created_at;
    const char *room_name;
    const char *room_sid;
    const char *p_sid;
    const char *p_identity;
    const char *p_name;
    int64_t p_joined_at; /* unix seconds; 0 when absent */
    const char *p_kind;  /* lowercase kind name: "standard", "egress", ... */
    const char *p_state; /* "JOINING", "ACTIVE", ... */
    const char *track_sid;
    const char *track_type; /* "AUDIO", "VIDEO", "DATA" */
} wh_event;

/* Parses body[0..len) as a LiveKit WebhookEvent in proto3 JSON: camelCase
 * or snake_case keys, int64 as strings or numbers, enums as names or
 * numbers, unknown fields ignored, null = absent. Errors:
 * CX_ERR_INVALID_JSON (not JSON, not an object, missing/empty `event`, a
 * used field of the wrong type or too long; reason in err),
 * CX_ERR_PAYLOAD_TOO_LARGE (len > WH_MAX_BODY), CX_ERR_NOMEM.
 * On success *out owns a reference to the parsed document. */
cx_status wh_event_parse(const uint8_t *body, size_t len, wh_event *out, char *err,
                         size_t errlen);

/* Releases what wh_event_parse kept; safe on a zeroed or freed event. */
void wh_event_free(wh_event *ev);

/* True for participants that are not people (egress recorders): kind
 * egress or an identity starting with "EG_". */
bool wh_event_is_recorder(const wh_event *ev);

/* Writes a NATS-subject-safe copy of s into out[cap]: bytes outside
 * printable ASCII and '.', '*', '>' become '_'; empty becomes "_";
 * truncated to cap-1 bytes. Returns out. */
char *wh_subject_token(const char *s, char *out, size_t cap);

/* ---- Redis (libcommon cx_redis) ----------------------------------------- */

/* The daemon's own cx_redis has one connection per concurrent request: a
 * request borrows one with cx_redis_acquire (checked alive) BEFORE it
 * writes Postgres, so a Redis outage stores nothing anywhere, holds it
 * across its Postgres statement, and runs one script on it by SHA
 * (cx_redis_evalsha). This bounds connect, each command and the wait for a
 * free connection. */
#define WH_REDIS_TIMEOUT_MS 2000

/* ---- presence.c (Redis state; every script also de-duplicates) -------- */

/* What a state script did. With an event id, the script first looks at
 * cx:webhook:event:<id>: "done" -> WH_R_DUP and nothing changes; any other
 * value (an older copy's in-progress claim) -> WH_R_BUSY and nothing
 * changes; absent -> the change is applied (or found older than the
 * current state) and the id is set "done" for dedup_ttl_s, atomically. */
typedef enum wh_result {
    WH_R_DUP = 0,     /* a repeat: nothing changed */
    WH_R_APPLIED = 1, /* state changed; id marked done */
    WH_R_OLDER = 2,   /* older than the current state: ignored; id marked done */
    WH_R_BUSY = 3     /* another delivery holds the id: answer 503 */
} wh_result;

/* Per-call settings shared by the scripts: the event id ("" = no
 * de-duplication), how long a done id is remembered, the state TTL. */
typedef struct wh_ttls {
    int64_t dedup_s;
    int64_t state_s;
} wh_ttls;

/* Only the de-duplication: marks the id done (ignored events, room_started
 * and recorders after their Postgres part). ev->id must not be "". */
cx_status wh_mark_done(cx_redis_conn *c, const wh_event *ev, const wh_ttls *t, wh_result *res);

/* The Redis part of a participant event (participant_joined/left:
 * presence of the identity unless a newer event for it, or a newer
 * room_finished, was applied), prepared to run later with the
 * others of its Postgres group (batch.c: one pipelined round trip for the
 * group): the presence script, or only the de-duplication (mark_only: an
 * ended room; ev->id must not be ""). Holds copies of every key and
 * argument; ev must outlive it. */
#define WH_RKEY_MAX (CX_ROOMKEY_MAX(WH_MAX_ROOM) + WH_MAX_ID)
#define WH_RCALL_KEYS 6  /* the dedup key + a script's keys */
#define WH_RCALL_ARGS 10 /* the dedup arguments + a script's arguments */

/* Every Redis key of one room's state, plus the event time and state TTL
 * as script arguments (the room scripts take them in different orders). */
typedef struct wh_room_keys {
    char presence[WH_RKEY_MAX], presence_ts[WH_RKEY_MAX], tracks[WH_RKEY_MAX],
        track_ts[WH_RKEY_MAX], finished[WH_RKEY_MAX];
    char ts[24], ttl[24];
} wh_room_keys;

typedef struct wh_rcall {
    cx_redis_call call;
    const char *keys[WH_RCALL_KEYS], *args[WH_RCALL_ARGS];
    char dedup[WH_RKEY_MAX], dttl[24];
    wh_room_keys k;
    char *value; /* the presence JSON (joins), malloced */
} wh_rcall;

cx_status wh_rcall_prepare(wh_rcall *rc, const wh_event *ev, const wh_ttls *t, bool mark_only);

/* What the run of rc did (rc->call.status, else the script's answer);
 * frees the reply and rc->value. Call once per prepared rc, run or not. */
cx_status wh_rcall_finish(wh_rcall *rc, wh_result *res);

/* track_published/unpublished: per-identity track counts (idempotent per
 * track sid, never below 0, older events ignored). */
cx_status wh_tracks_apply(cx_redis_conn *c, const wh_event *ev, const wh_ttls *t,
                          wh_result *res);

/* room_finished: drops every presence/track key of the room and remembers
 * the finish time for WH_FINISH_GUARD_S, so that a participant event older
 * than it, still in flight, is ignored (later ones find the room ended in
 * Postgres and never reach the presence scripts). */
#define WH_FINISH_GUARD_S 600
cx_status wh_room_clear(cx_redis_conn *c, const wh_event *ev, const wh_ttls *t, wh_result *res);

/* ---- history.c (Postgres; prepared statements) ------------------------ */

/* Looks up the Calixio room of a LiveKit room: *found, room_id (uuid text)
 * when found, and *ended when its status is 'ended'. Uncached: see rooms.c. */
cx_status wh_room_lookup(cx_pg_pool *pg, const char *livekit_room, bool *found,
                         char room_id[37], bool *ended);

/* A rooms row as a status change returned it (times in unix seconds, 0 =
 * NULL), for the room event. */
typedef struct wh_room_row {
    char id[37], name[256], status[16], owner_user_id[37], livekit_room[WH_MAX_ROOM + 1];
    int64_t created_at, ended_at;
    int max_participants;
} wh_room_row;

/* room_started: status -> 'active' unless already ended. *changed tells
 * whether a row changed, and then *out is that row. */
cx_status wh_room_mark_active(cx_pg_pool *pg, const char *livekit_room, wh_room_row *out,
                              bool *changed);

/* room_finished: status -> 'ended', ended_at = to_timestamp(at), unless
 * already ended; *changed and *out as above. */
cx_status wh_room_mark_ended(cx_pg_pool *pg, const char *livekit_room, int64_t at,
                             wh_room_row *out, bool *changed);

/* Publishes calixio.v1.RoomChanged{event, row} on
 * <prefix>.events.rooms.<event>, as the rooms daemon does for its own
 * changes, so every cache of rooms (media's, ours) drops the room at once.
 * svc NULL: nothing. Best effort (logged): the change is committed. */
void wh_room_publish(cx_service *svc, const char *event, const wh_room_row *row,
                     const char *rid);

/* ---- batch.c (participant_events rows, group commit) ------------------ */

/* Rows of concurrent requests are inserted together: one statement of up
 * to max_rows rows (see batch.c). */
typedef struct wh_history wh_history;

cx_status wh_history_create(wh_history **out, cx_pg_pool *pg, int max_rows);

/* NULL is fine; no append may be in progress. */
void wh_history_destroy(wh_history *h);

/* Appends a join/leave row (ON CONFLICT (event_id) DO NOTHING) and returns
 * once the statement holding it has committed, with that statement's
 * status. event_id is the event's id, or "body-sha256:<hex>" when it has
 * none; room_id is the rooms row's id. All strings are borrowed for the
 * call. rcall (may be NULL) is the event's Redis part: after a successful
 * statement the group's leader runs every rcall of the group in one
 * pipelined round trip on its own borrowed connection rc (each caller
 * passes the connection it holds), so rcall->call tells its outcome; after
 * a failed statement none runs. */
cx_status wh_history_append(wh_history *h, const wh_event *ev, const char *event_id,
                            const char *room_id, cx_redis_conn *rc, wh_rcall *rcall);

/* handler.c: a participant event's row (row_id) and, once its group has
 * committed, its Redis part (presence, or only the id when the room has
 * ended) on the caller's borrowed connection rc; *res as the script said. */
struct wh_ctx;
cx_status wh_store_participant(struct wh_ctx *c, cx_redis_conn *rc, const wh_event *ev,
                               const char *row_id, const char *room_id, bool ended,
                               wh_result *res);

/* ---- rooms.c (LiveKit room -> Calixio room id, cached) ---------------- */

/* The livekit_room -> rooms.id mapping, kept in memory for ttl_ms (found or
 * not). The mapping of a found room never changes (livekit_room is unique
 * and rooms are not deleted); "not found" is dropped as soon as rooms
 * publishes <prefix>.events.rooms.created for it, and lapses after ttl_ms
 * otherwise. ttl_ms 0 disables the cache. */
typedef struct wh_rooms wh_rooms;

cx_status wh_rooms_create(wh_rooms **out, cx_pg_pool *pg, int64_t ttl_ms);

/* Unsubscribes and frees; NULL is fine. */
void wh_rooms_destroy(wh_rooms *rc);

/* Like wh_room_lookup, through the cache (an "ended" room event drops the
 * entry, so *ended is stale at most until that event arrives). */
cx_status wh_rooms_get(wh_rooms *rc, const char *livekit_room, bool *found, char room_id[37],
                       bool *ended);

/* Forgets what is known about livekit_room. */
void wh_rooms_invalidate(wh_rooms *rc, const char *livekit_room);

/* Subscribes to <prefix>.events.rooms.> on svc's connection. */
cx_status wh_rooms_subscribe(wh_rooms *rc, cx_service *svc);

/* Drops the subscription (before the service is destroyed). */
void wh_rooms_unsubscribe(wh_rooms *rc);

/* ---- handler.c -------------------------------------------------------- */

typedef struct wh_ctx {
    wh_keys keys;
    int64_t leeway_s;
    int64_t presence_ttl_s;
    int64_t dedup_ttl_s;
    cx_redis *redis;
    cx_pg_pool *pg;
    wh_rooms *rooms;
    wh_history *history;
    _Atomic(cx_service *) svc; /* set after cx_service_create; NULL: no publish */
    const cx_auth_cfg *auth;   /* bearer verification of the history routes (hist.h) */
} wh_ctx;

/* The calixio.webhook.livekit handler (ctx is a wh_ctx). */
cx_status wh_handle_livekit(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                            void *ctx);

#endif
