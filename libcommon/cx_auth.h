/* cx_auth: Calixio access tokens, shared by every service.
 *
 * Access token claims: sub (user id), username, sid (session id), jti, iat,
 * nbf, exp, iss, aud. Verification checks signature (HS256 only), iss, aud,
 * exp/nbf with leeway, and the revocation deny-list: the pushed copy of
 * cx_denylist.h once it is known (revocation events on NATS subject
 * <prefix>.events.auth.revoked, body = session id, filled from Redis at
 * start and after gaps), else Redis per request (key
 * "cx:revoked:sid:<sid>", set by auth on logout / reuse detection) with a
 * short per-process cache that the same events update at once. */
#ifndef CX_AUTH_H
#define CX_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "cx_jwt.h"
#include "cx_redis.h"
#include "cx_status.h"

typedef struct cx_caller {
    bool authenticated;
    char user_id[64];
    char username[256];
    char session_id[64];
    char jti[64];
    int64_t exp;
} cx_caller;

struct cx_tokcache; /* cx_tokcache.h */

typedef struct cx_auth_cfg {
    const char *secret;   /* JWT_SECRET */
    const char *issuer;   /* "calixio" */
    const char *audience; /* "calixio" */
    int64_t leeway_s;     /* clock skew allowed, e.g. 30 */
    const cx_jwt_keyring
        *ring; /* JWT_SECRET + JWT_PREVIOUS_SECRETS (kid); NULL: secret alone */
    /* verified tokens of this cfg (cx_tokcache.h); NULL: none. The cfg's
     * keys, issuer, audience must not change while a cache is attached. */
    struct cx_tokcache *cache;
} cx_auth_cfg;

/* Verifies an `Authorization` header value ("Bearer <token>").
 * NULL or "" -> CX_ERR_MISSING_AUTH; not "Bearer <x>" -> CX_ERR_INVALID_AUTH;
 * bad token -> CX_ERR_INVALID_TOKEN; revoked -> CX_ERR_TOKEN_REVOKED;
 * Redis down -> the fallback (cx_auth_set_fallback) answers, else
 * CX_ERR_UNAVAILABLE. `redis` may be NULL (no revocation
 * check). *out is written only on success. */
cx_status cx_auth_verify_header(const cx_auth_cfg *cfg, cx_redis *redis,
                                const char *authorization, cx_caller *out);

/* Mints an access token for user/session; *out_token malloced (caller frees),
 * *out_jti filled (>= 37 bytes). */
cx_status cx_auth_mint(const cx_auth_cfg *cfg, const char *user_id, const char *username,
                       const char *session_id, int64_t now, int64_t ttl_s, char **out_token,
                       char out_jti[64]);

/* Adds session_id to the deny-list for ttl_s seconds, marks it revoked in
 * this process at once and calls the revoke hook (which tells the other
 * processes). */
cx_status cx_auth_revoke_session(cx_redis *redis, const char *session_id, int64_t ttl_s);

/* For a revocation already committed in the sessions' store (auth's
 * Postgres): marks it revoked here and calls the revoke hook first, so
 * every running process refuses the session's tokens even when Redis is
 * down, then writes the deny-list like cx_auth_revoke_session. Returns the
 * status of the Redis write: on failure the caller must retry it
 * (cx_auth_denylist_put) until it succeeds. */
cx_status cx_auth_revoke_committed(cx_redis *redis, const char *session_id, int64_t ttl_s);

/* Writes the deny-list entry of session_id with exactly ttl_s seconds to
 * live (no hook, no local note): for retries of a failed write. */
cx_status cx_auth_denylist_put(cx_redis *redis, const char *session_id, int64_t ttl_s);

/* Verification caches "not revoked" per session for up to a second (one
 * Redis round trip less per request); this marks a session revoked in this
 * process's cache immediately (from a revocation event). */
void cx_auth_note_revoked(const char *session_id);

/* Called after every successful cx_auth_revoke_session in this process;
 * the service runtime installs one that publishes the session id on NATS.
 * NULL removes it. */
typedef void (*cx_auth_revoke_hook)(const char *session_id, void *arg);
void cx_auth_set_revoke_hook(cx_auth_revoke_hook fn, void *arg);

/* Asked by verification when Redis cannot answer (CX_ERR_UNAVAILABLE) for a
 * session not in the cache: returns CX_OK (not revoked),
 * CX_ERR_TOKEN_REVOKED, or any other status when it cannot tell either
 * (verification then answers the Redis status, 503). Its answer is cached
 * like Redis's. The service runtime installs one that asks the auth
 * service, which reads the session row. NULL removes it. */
typedef cx_status (*cx_auth_fallback_fn)(const char *session_id, void *arg);
void cx_auth_set_fallback(cx_auth_fallback_fn fn, void *arg);

#endif
