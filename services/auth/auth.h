/* auth daemon: shared declarations of its files.
 *
 *   main.c      wiring and the environment table
 *   handlers.c  the five endpoints (register, login, refresh, logout, me)
 *   validate.c  input rules (name, email, password, tokens, header values)
 *   password.c  Argon2id hashing through libsodium
 *   throttle.c  login attempt counters in Redis
 *   store.c     SQL on users, sessions and refresh_tokens
 *   revocation.c deny-list retries and the session-state subject
 * The account routes (profile, settings, video profiles, password change,
 * sessions, deletion) are declared in account.h. */

#ifndef AUTH_H
#define AUTH_H

#include <protobuf-c/protobuf-c.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cx_auth.h"
#include "cx_pg.h"
#include "cx_redis.h"
#include "cx_service.h"
#include "cx_status.h"

#define AUTH_NAME_MAX_CHARS 64
#define AUTH_NAME_MAX_BYTES (AUTH_NAME_MAX_CHARS * 4)
#define AUTH_EMAIL_MAX 254
#define AUTH_PASSWORD_MIN 8
#define AUTH_PASSWORD_MAX 1024
#define AUTH_REFRESH_BYTES 32 /* 256 random bits */
#define AUTH_REFRESH_LEN 43   /* unpadded base64url of 32 bytes */
#define AUTH_IP_MAX 64        /* stored client ip, bytes */
#define AUTH_UA_MAX 512       /* stored user agent, bytes */
#define AUTH_HASH_MAX crypto_pwhash_STRBYTES

/* Argon2id cost parameters. */
typedef struct auth_pwparams {
    unsigned long long opslimit;
    size_t memlimit;
} auth_pwparams;

/* Deny-list writes still owed to Redis (revocation.c). */
typedef struct auth_denylist {
    pthread_mutex_t mu;
    bool dirty; /* a write failed (or start-up): re-write on the next tick */
} auth_denylist;

/* Everything the handlers share; built by main.c, read-only afterwards
 * (but for *denylist, which has its own lock). */
typedef struct auth_ctx {
    cx_pg_pool *pg;
    cx_redis *redis;
    const cx_auth_cfg *jwt;
    int64_t access_ttl_s;
    int64_t refresh_ttl_s;
    auth_pwparams pw;
    char dummy_hash[AUTH_HASH_MAX]; /* verified against when the email is unknown */
    int64_t max_fail_email;
    int64_t max_fail_ip;
    int64_t fail_window_s;
    cx_service *svc;        /* set once serving: publishes account events (account.c) */
    int64_t reuse_grace_ms; /* REFRESH_REUSE_GRACE */
    auth_denylist *denylist;
} auth_ctx;

/* ---- handlers.c ---------------------------------------------------------- */
cx_status auth_handle_register(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                               void *ctx);
cx_status auth_handle_login(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                            void *ctx);
cx_status auth_handle_refresh(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                              void *ctx);
cx_status auth_handle_logout(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                             void *ctx);
cx_status auth_handle_me(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                         void *ctx);

/* ---- validate.c ---------------------------------------------------------- */

/* Checks a registration. Every failing field is recorded on req with
 * cx_req_field_error (rules required, email, min, max, and for the name
 * the cx_text rules utf8, control, bidi). On CX_OK name_out holds the
 * trimmed name and email_out the trimmed, lower-cased email. */
cx_status auth_validate_register(cx_req *req, const char *name, const char *email,
                                 const char *password, char name_out[AUTH_NAME_MAX_BYTES + 1],
                                 char email_out[AUTH_EMAIL_MAX + 1]);

/* Checks a login: both fields required and bounded (a malformed email is
 * not an error here: it simply matches no account). On CX_OK email_out holds
 * the normalised email. */
cx_status auth_validate_login(cx_req *req, const char *email, const char *password,
                              char email_out[AUTH_EMAIL_MAX + 1]);

/* The name rule of registration (required, utf8, max 64 code points) and
 * the password rule (required, min 8, max 1024 bytes), for one field; a
 * failure is recorded on req under `field`. CX_OK or CX_ERR_VALIDATION. */
cx_status auth_validate_name(cx_req *req, const char *field, const char *name,
                             char name_out[AUTH_NAME_MAX_BYTES + 1]);
cx_status auth_validate_password(cx_req *req, const char *field, const char *password);

/* True when s is valid UTF-8; *chars gets the number of code points. */
bool auth_utf8_count(const char *s, size_t len, size_t *chars);


/* True when t has the shape of a refresh token (43 base64url characters). */
bool auth_refresh_wellformed(const char *t);

/* Copies a header value into out (at most cap-1 bytes), replacing every byte
 * outside printable ASCII with '?', so it is always storable text. */
void auth_sanitize(const char *in, char *out, size_t cap);

/* ---- password.c ---------------------------------------------------------- */

/* Hashes pw (len bytes) into out (a crypto_pwhash_str string).
 * CX_ERR_NOMEM when libsodium cannot get the memory. */
cx_status auth_password_hash(const auth_pwparams *p, const char *pw, size_t len,
                             char out[AUTH_HASH_MAX]);

/* True when pw matches the stored hash string (any length; a hash that is
 * not a libsodium string never matches). */
bool auth_password_verify(const char *hash, const char *pw, size_t len);

/* True when hash was made with other parameters (or another algorithm)
 * than p and should be replaced. */
bool auth_password_needs_rehash(const auth_pwparams *p, const char *hash);

/* ---- throttle.c ---------------------------------------------------------- */

/* Reserves one login attempt on the email's and the ip's counters, each
 * atomically (check and count in one script), before the password is
 * hashed: CX_OK when both had room (the attempt now counts as a failure
 * until auth_throttle_succeeded / auth_throttle_unjudged gives it back);
 * CX_ERR_TOO_MANY_ATTEMPTS with *retry_after_s = seconds until the
 * blocking counter expires (nothing stays reserved); CX_ERR_UNAVAILABLE
 * when Redis is down. An empty ip is not counted. Window:
 * LOGIN_FAILURE_WINDOW from the first reservation. */
cx_status auth_throttle_reserve(const auth_ctx *c, const char *email, const char *ip,
                                int *retry_after_s);

/* After a successful login: forgets the email's failures and gives the
 * ip's reservation back. */
cx_status auth_throttle_succeeded(const auth_ctx *c, const char *email, const char *ip);

/* After an attempt that could not be judged (a store failed): gives both
 * reservations back. */
cx_status auth_throttle_unjudged(const auth_ctx *c, const char *email, const char *ip);

/* ---- revocation.c -------------------------------------------------------- */

/* *out malloced (auth_denylist_destroy frees it; NULL is fine), dirty. */
cx_status auth_denylist_create(auth_denylist **out);
void auth_denylist_destroy(auth_denylist *d);

/* A deny-list write failed: re-write recent revocations on the next tick
 * until Redis takes them. NULL is ignored. */
void auth_denylist_retry(auth_denylist *d);

/* The tick (arg: the auth_ctx): re-writes when dirty. */
void auth_denylist_tick(void *arg);

/* Queue-subscribes <prefix>.auth.session_state on the service's connection
 * (*out: destroy it after cx_service_run) and registers the tick. */
cx_status auth_revocation_start(auth_ctx *c, cx_service *svc, natsSubscription **out);

/* ---- store.c ------------------------------------------------------------- */

typedef struct auth_user {
    char id[37];
    char name[AUTH_NAME_MAX_BYTES + 1];
    char email[AUTH_EMAIL_MAX + 1];
    char hash[AUTH_HASH_MAX];
    char created_at[21]; /* RFC 3339 */
} auth_user;

/* Inserts a user; *id_out gets its id. CX_ERR_EMAIL_EXISTS on a duplicate. */
cx_status auth_store_create_user(cx_pg_pool *pg, const char *name, const char *email,
                                 const char *hash, char id_out[37]);

/* Loads a user by (normalised) email or id; CX_ERR_NOT_FOUND when absent. */
cx_status auth_store_user_by_email(cx_pg_pool *pg, const char *email, auth_user *out);
cx_status auth_store_user_by_id(cx_pg_pool *pg, const char *id, auth_user *out);

/* Replaces the password hash if it is still old_hash (a concurrent login
 * may have re-hashed first). */
cx_status auth_store_update_hash(cx_pg_pool *pg, const char *id, const char *old_hash,
                                 const char *new_hash);

/* Creates a session (expires in ttl_s) with its first refresh token, given
 * as the hex SHA-256 of the token. *sid_out gets the session id. */
cx_status auth_store_create_session(cx_pg_pool *pg, const char *user_id, const char *ip,
                                    const char *ua, int64_t ttl_s, const char *token_hash_hex,
                                    char sid_out[37]);

/* A refresh token looked up under a row lock inside a transaction. */
typedef struct auth_token_row {
    char session_id[37];
    char user_id[37];
    char username[AUTH_NAME_MAX_BYTES + 1];
    int64_t version; /* the session's current version */
    bool rotated;    /* superseded already: presenting it again is reuse ... */
    bool in_grace;   /* ... unless it was rotated less than the grace ago */
    bool revoked;
    bool expired;
} auth_token_row;

typedef struct auth_tx {
    cx_pg_pool *pg;
    PGconn *conn;
    bool broken;
} auth_tx;

/* Opens a transaction and locks the refresh token with hash token_hash_hex
 * and its session (SELECT ... FOR UPDATE), so concurrent uses of one token
 * are serialised. row->in_grace tells whether a rotated token was rotated
 * less than grace_ms ago (by the clock after the lock was taken).
 * CX_ERR_INVALID_REFRESH when unknown (the transaction is then already
 * closed). On CX_OK the caller must end it with auth_store_tx_end. */
cx_status auth_store_tx_begin(cx_pg_pool *pg, const char *token_hash_hex, int64_t grace_ms,
                              auth_tx *tx, auth_token_row *row);

/* Inside the transaction: marks the old token rotated, stores the new one
 * with the next version, bumps the session's version and expiry.
 * *version_out gets the new version. With again (a token in its reuse
 * grace) the old token is rotated already: its rotated_at stays (the grace
 * is not extended) and the new token is one more successor. */
cx_status auth_store_tx_rotate(auth_tx *tx, const char *old_hash_hex, const char *new_hash_hex,
                               const char *session_id, int64_t ttl_s, bool again,
                               int64_t *version_out);

/* Inside the transaction: revokes the session with reason. */
cx_status auth_store_tx_revoke(auth_tx *tx, const char *session_id, const char *reason);

/* Commits (commit=true) or rolls back, and returns the connection. A failed
 * commit is returned as its status. */
cx_status auth_store_tx_end(auth_tx *tx, bool commit);

#endif
