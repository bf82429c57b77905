/* cx_livekit: LiveKit access tokens and a Twirp RoomService client.
 *
 * Tokens: HS256 JWTs signed with the API secret (cx_jwt_sign), claims
 * iss = API key, sub = identity, name, nbf, iat, exp and a `video` grant in
 * which only the fields that are set appear (booleans as JSON true).
 *
 * Client: POST {host}/twirp/livekit.RoomService/<Method> with a JSON body
 * and a fresh 10-minute service token per call carrying the grant the
 * method needs (CreateRoom/DeleteRoom: roomCreate; ListRooms: roomList;
 * per-room methods: roomAdmin + room). Each call is bounded: connect
 * timeout per attempt and one total budget for all attempts; 5xx (not
 * 501), 429 and transport errors are retried with doubling backoff until
 * the attempts or the budget run out. Thread-safe: every call uses its own
 * curl handle. */
#ifndef CX_LIVEKIT_H
#define CX_LIVEKIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cx_status.h"

/* Seconds nbf is back-dated against clock skew between us and LiveKit. */
#define CX_LK_NBF_SKEW_S 10
/* Lifetime of the per-call service tokens (as the official SDKs). */
#define CX_LK_SERVICE_TTL_S 600

/* A `video` grant. Unset booleans and a NULL room are left out. */
typedef struct cx_lk_grant {
    const char *room;
    bool room_create, room_list, room_join, room_admin;
    bool can_publish, can_subscribe, can_publish_data;
} cx_lk_grant;

/* Builds the claims object of a LiveKit token with the times given
 * explicitly (for tests with fixed vectors). identity and name may be NULL
 * (left out). Key order: iss, sub, exp, nbf, iat, name, video. Returns a new
 * reference (caller json_decref()s) or NULL on OOM. */
json_t *cx_lk_claims(const char *api_key, const char *identity, const char *name,
                     const cx_lk_grant *g, int64_t iat, int64_t nbf, int64_t exp);

/* Mints a token valid from now - CX_LK_NBF_SKEW_S to now + ttl_s.
 * *out_token is malloced (caller frees); written only on success. */
cx_status cx_lk_token(const char *api_key, const char *api_secret, const char *identity,
                      const char *name, const cx_lk_grant *g, int64_t now, int64_t ttl_s,
                      char **out_token);

typedef struct cx_livekit cx_livekit;

typedef struct cx_livekit_opts {
    const char *host; /* http(s):// or ws(s):// (rewritten), no path needed */
    const char *api_key;
    const char *api_secret;
    int64_t connect_timeout_ms; /* per attempt */
    int64_t timeout_ms;         /* total budget of one call, all attempts included */
    int max_attempts;           /* >= 1 */
    int64_t backoff_ms;         /* first wait between attempts, doubled each time */
} cx_livekit_opts;

/* Calls curl_global_init once; call from main() before threads start.
 * cx_livekit_create calls it too. */
cx_status cx_livekit_global_init(void);

/* Creates a client; strings are copied. A host not starting with http://,
 * https://, ws:// or wss:// is CX_ERR_CONFIG. */
cx_status cx_livekit_create(cx_livekit **out, const cx_livekit_opts *o);

/* NULL is fine. */
void cx_livekit_destroy(cx_livekit *lk);

/* The http(s) base URL in use (borrowed). */
const char *cx_livekit_base_url(const cx_livekit *lk);

/* One Twirp call. `grant_room` is the room for roomAdmin-scoped methods and
 * NULL otherwise; the grant is chosen from `method`. `req` (borrowed) is
 * the JSON body. On CX_OK *out (may be NULL if unwanted) is the parsed
 * response object (new reference). Errors: CX_ERR_UNAVAILABLE (transport,
 * timeout, 5xx, 429 after retries), CX_ERR_NOT_FOUND (Twirp not_found),
 * CX_ERR_UPSTREAM (other refusals: 4xx, 501, a non-JSON answer). Every
 * failure is logged with the method, HTTP status and Twirp code/msg. */
cx_status cx_livekit_call(cx_livekit *lk, const char *method, const char *grant_room,
                          const json_t *req, json_t **out, const char *request_id);

/* CreateRoom{name, emptyTimeout, maxParticipants, metadata}. metadata may be
 * NULL or "" (left out). */
cx_status cx_livekit_create_room(cx_livekit *lk, const char *name, int64_t empty_timeout_s,
                                 int64_t max_participants, const char *metadata,
                                 const char *request_id);

/* DeleteRoom{room}. A room LiveKit does not know is CX_OK (already gone). */
cx_status cx_livekit_delete_room(cx_livekit *lk, const char *name, const char *request_id);

typedef struct cx_lk_room {
    char *name;
    char *sid;
    int64_t creation_time; /* unix seconds, 0 when absent */
    int64_t num_participants;
} cx_lk_room;

/* ListRooms{} (all rooms). *out is a malloced array of *n rooms, free with
 * cx_lk_rooms_free. */
cx_status cx_livekit_list_rooms(cx_livekit *lk, cx_lk_room **out, size_t *n,
                                const char *request_id);
void cx_lk_rooms_free(cx_lk_room *r, size_t n);

typedef struct cx_lk_participant {
    char *identity;
    char *name;
    char *sid;
    int64_t joined_at;               /* unix seconds, 0 when absent */
    bool hidden;                     /* permission.hidden */
    bool egress;                     /* kind EGRESS */
    bool audio, video, screen_share; /* publishes an unmuted track of that kind */
} cx_lk_participant;

/* ListParticipants{room}. Accepts snake_case and camelCase keys, int64 as
 * strings or numbers, kind as name or number. *out malloced array of *n,
 * free with cx_lk_participants_free. A room LiveKit does not know yields
 * CX_OK with no participants. */
cx_status cx_livekit_list_participants(cx_livekit *lk, const char *room,
                                       cx_lk_participant **out, size_t *n,
                                       const char *request_id);
void cx_lk_participants_free(cx_lk_participant *p, size_t n);

/* Reads key `snake` or `camel` of obj (either may be absent). Exposed for
 * tests and for callers parsing other LiveKit answers. */
const json_t *cx_lk_get(const json_t *obj, const char *snake, const char *camel);

/* Reads an int64 given as a JSON number or a decimal string; 0 otherwise. */
int64_t cx_lk_int(const json_t *v);

#endif
