/* webhook: internal interfaces of the LiveKit webhook daemon.
 *
 * verify.c  content type + signature check (no I/O, callable from a fuzzer)
 * event.c   event JSON -> wh_event (no I/O, callable from a fuzzer)
 * presence.c Redis: de-duplication, live presence, track counts
 * history.c Postgres: rooms row lookup/status, participant_events rows
 * handler.c the calixio.webhook.livekit endpoint, tying the above together
 * main.c    env table and wiring */
#ifndef WH_WEBHOOK_H
#define WH_WEBHOOK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cx_pg.h"
#include "cx_redis.h"
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
    const char *id;          /* "" when the event has no id */
    const char *event;       /* never "" after a successful parse */
    int64_t created_at;      /* unix seconds; 0 when absent */
    bool has_created_at;
    const char *room_name;
    const char *room_sid;
    const char *p_sid;
    const char *p_identity;
    const char *p_name;
    int64_t p_joined_at;     /* unix seconds; 0 when absent */
    const char *p_kind;      /* lowercase kind name: "standard", "egress", ... */
    const char *p_state;     /* "JOINING", "ACTIVE", ... */
    const char *track_sid;
    const char *track_type;  /* "AUDIO", "VIDEO", "DATA" */
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

/* ---- presence.c (Redis) ----------------------------------------------- */

typedef enum wh_claim {
    WH_CLAIM_NEW = 1,       /* the caller now owns the in-progress marker */
    WH_CLAIM_DONE = 0,      /* already fully processed: a duplicate */
    WH_CLAIM_BUSY = 2       /* another delivery is processing it right now */
} wh_claim;

/* Atomically claims event `id` for processing (marker with pending_ttl_s so
 * a crashed copy cannot block it forever). */
cx_status wh_dedup_claim(cx_redis *r, const char *id, int64_t pending_ttl_s, wh_claim *out);

/* Marks `id` as fully processed for ttl_s seconds. */
cx_status wh_dedup_done(cx_redis *r, const char *id, int64_t ttl_s);

/* Removes our in-progress marker (only if it is still "pending") so a
 * retry is processed. Best effort. */
void wh_dedup_release(cx_redis *r, const char *id);

/* Applies a participant_joined/left to the presence hashes of the event's
 * room unless a newer event for that identity (or a newer room_finished)
 * was already applied. *applied tells whether state changed. */
cx_status wh_presence_apply(cx_redis *r, const wh_event *ev, int64_t ttl_s, bool *applied);

/* Applies track_published/unpublished to the per-identity track counts
 * (idempotent per track sid, never below 0, older events ignored). */
cx_status wh_tracks_apply(cx_redis *r, const wh_event *ev, int64_t ttl_s, bool *applied);

/* room_finished: removes presence/track state not newer than the event and
 * remembers the finish time so older participant events are ignored. */
cx_status wh_room_clear(cx_redis *r, const wh_event *ev, int64_t ttl_s);

/* ---- history.c (Postgres) --------------------------------------------- */

/* Looks up the Calixio room of a LiveKit room: *found, and room_id (uuid
 * text) when found. */
cx_status wh_room_lookup(cx_pg_pool *pg, const char *livekit_room, bool *found,
                         char room_id[37]);

/* Appends a join/leave row (ON CONFLICT (event_id) DO NOTHING). event_id is
 * the event's id, or "body-sha256:<hex>" when it has none. room_id may be
 * NULL. */
cx_status wh_history_append(cx_pg_pool *pg, const wh_event *ev, const char *event_id,
                            const char *room_id);

/* room_started: status -> 'active' unless already ended. */
cx_status wh_room_mark_active(cx_pg_pool *pg, const char *livekit_room);

/* room_finished: status -> 'ended', ended_at = to_timestamp(at), unless
 * already ended. */
cx_status wh_room_mark_ended(cx_pg_pool *pg, const char *livekit_room, int64_t at);

/* ---- handler.c -------------------------------------------------------- */

typedef struct wh_ctx {
    wh_keys keys;
    int64_t leeway_s;
    int64_t presence_ttl_s;
    int64_t dedup_ttl_s;
    cx_redis *redis;
    cx_pg_pool *pg;
    _Atomic(cx_service *) svc; /* set after cx_service_create; NULL: no publish */
} wh_ctx;

/* The calixio.webhook.livekit handler (ctx is a wh_ctx). */
cx_status wh_handle_livekit(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                            void *ctx);

#endif
