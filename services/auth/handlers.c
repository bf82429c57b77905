/* The endpoints of the auth daemon (subjects <prefix>.auth.<name>).
 * Business rules live here; SQL in store.c, crypto in password.c, counters
 * in throttle.c, input rules in validate.c. */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "calixio/v1/auth.pb-c.h"
#include "calixio/v1/common.pb-c.h"
#include "cx_crypto.h"
#include "cx_json.h"
#include "cx_log.h"
#include "cx_time.h"

/* ---- register ------------------------------------------------------------ */

cx_status auth_handle_register(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                               void *ctx)
{
    const auth_ctx *c = ctx;
    const Calixio__V1__RegisterRequest *rq = (const Calixio__V1__RegisterRequest *)in;
    char name[AUTH_NAME_MAX_BYTES + 1];
    char email[AUTH_EMAIL_MAX + 1];
    char hash[AUTH_HASH_MAX];
    char id[37];

    cx_status s = auth_validate_register(req, rq->name, rq->email, rq->password, name, email);
    if (s != CX_OK)
        return s;
    s = auth_password_hash(&c->pw, rq->password, strlen(rq->password), hash);
    if (s != CX_OK)
        goto out_wipe;
    s = auth_store_create_user(c->pg, name, email, hash, id);
    if (s != CX_OK)
        goto out_wipe;

    Calixio__V1__RegisterReply *r = malloc(sizeof(*r));
    if (!r) {
        s = CX_ERR_NOMEM;
        goto out_wipe;
    }
    calixio__v1__register_reply__init(r);
    r->user_id = cx_strdup(id);
    if (!r->user_id) {
        free(r);
        s = CX_ERR_NOMEM;
        goto out_wipe;
    }
    cx_log_info(req->request_id, "registered user %s", id);
    *out = &r->base;
out_wipe:
    sodium_memzero(hash, sizeof(hash));
    return s;
}

/* ---- login --------------------------------------------------------------- */

/* Replaces the user's hash when it was made with other parameters. A
 * failure only costs a re-hash on a later login, so it is logged, not
 * returned. */
static void _maybe_rehash(const auth_ctx *c, const cx_req *req, const auth_user *u,
                          const char *pw)
{
    char hash[AUTH_HASH_MAX];
    if (!auth_password_needs_rehash(&c->pw, u->hash))
        return;
    cx_status s = auth_password_hash(&c->pw, pw, strlen(pw), hash);
    if (s == CX_OK)
        s = auth_store_update_hash(c->pg, u->id, u->hash, hash);
    if (s == CX_OK)
        cx_log_info(req->request_id, "re-hashed the password of user %s", u->id);
    else
        cx_log_warn(req->request_id, "re-hash of user %s failed: %s", u->id, cx_status_code(s));
    sodium_memzero(hash, sizeof(hash));
}

/* A new refresh token: *token (AUTH_REFRESH_LEN + 1) and its hex hash. */
static cx_status _new_refresh(char token[AUTH_REFRESH_LEN + 1], char hash_hex[65])
{
    cx_status s = cx_random_token(token, AUTH_REFRESH_LEN + 1, AUTH_REFRESH_BYTES);
    if (s == CX_OK)
        cx_sha256_hex(token, strlen(token), hash_hex);
    return s;
}

/* Checks credentials in constant-ish time: an unknown email verifies the
 * password against the start-up dummy hash, so both failures cost one
 * Argon2id verification. On CX_OK *u is the user. */
static cx_status _check_credentials(const auth_ctx *c, const char *email, const char *pw,
                                    auth_user *u)
{
    cx_status s = auth_store_user_by_email(c->pg, email, u);
    if (s != CX_OK && s != CX_ERR_NOT_FOUND)
        return s;
    bool found = s == CX_OK;
    bool match = auth_password_verify(found ? u->hash : c->dummy_hash, pw, strlen(pw));
    return (found && match) ? CX_OK : CX_ERR_INVALID_CREDENTIALS;
}

static cx_status _login_reply(const auth_ctx *c, const auth_user *u, const char *access,
                              const char *refresh, ProtobufCMessage **out)
{
    Calixio__V1__LoginReply *r = malloc(sizeof(*r));
    if (!r)
        return CX_ERR_NOMEM;
    calixio__v1__login_reply__init(r);
    r->name = cx_strdup(u->name);
    r->user_id = cx_strdup(u->id);
    r->access_token = cx_strdup(access);
    r->token_type = cx_strdup("Bearer");
    r->refresh_token = cx_strdup(refresh);
    r->has_access_ttl = r->has_refresh_ttl = 1;
    r->access_ttl = c->access_ttl_s;
    r->refresh_ttl = c->refresh_ttl_s;
    if (!r->name || !r->user_id || !r->access_token || !r->token_type || !r->refresh_token) {
        protobuf_c_message_free_unpacked(&r->base, NULL);
        return CX_ERR_NOMEM;
    }
    *out = &r->base;
    return CX_OK;
}

cx_status auth_handle_login(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                            void *ctx)
{
    const auth_ctx *c = ctx;
    const Calixio__V1__LoginRequest *rq = (const Calixio__V1__LoginRequest *)in;
    char email[AUTH_EMAIL_MAX + 1];
    char ip[AUTH_IP_MAX + 1], ua[AUTH_UA_MAX + 1];
    char refresh[AUTH_REFRESH_LEN + 1], refresh_hash[65], sid[37], jti[64];
    char *access = NULL;
    auth_user u;

    cx_status s = auth_validate_login(req, rq->email, rq->password, email);
    if (s != CX_OK)
        return s;
    auth_sanitize(req->client_ip, ip, sizeof(ip));
    auth_sanitize(req->user_agent, ua, sizeof(ua));

    /* Reserve the attempt before hashing: a blocked caller costs no
     * Argon2id, and concurrent guesses cannot all pass one check. */
    s = auth_throttle_reserve(c, email, ip, &req->retry_after);
    if (s != CX_OK)
        return s;
    s = _check_credentials(c, email, rq->password, &u);
    if (s == CX_ERR_INVALID_CREDENTIALS)
        cx_log_info(req->request_id, "login failed (ip %s)", ip); /* the reservation stays */
    else if (s != CX_OK && auth_throttle_unjudged(c, email, ip) != CX_OK)
        cx_log_warn(req->request_id, "could not give back a login reservation");
    if (s != CX_OK)
        return s;

    if (auth_throttle_succeeded(c, email, ip) != CX_OK)
        cx_log_warn(req->request_id, "could not clear the failure counter");
    _maybe_rehash(c, req, &u, rq->password);

    s = _new_refresh(refresh, refresh_hash);
    if (s == CX_OK)
        s = auth_store_create_session(c->pg, u.id, ip, ua, c->refresh_ttl_s, refresh_hash, sid);
    if (s == CX_OK)
        s = cx_auth_mint(c->jwt, u.id, u.name, sid, cx_now_s(), c->access_ttl_s, &access, jti);
    if (s == CX_OK)
        s = _login_reply(c, &u, access, refresh, out);
    if (s == CX_OK)
        cx_log_info(req->request_id, "login user %s session %s", u.id, sid);
    free(access);
    sodium_memzero(refresh, sizeof(refresh));
    return s;
}

/* ---- refresh / logout ---------------------------------------------------- */

/* Lifetime of access tokens of a revoked session; cx_auth_revoke_session
 * adds the largest allowed clock leeway itself. */
static int64_t _denylist_ttl(const auth_ctx *c)
{
    return c->access_ttl_s;
}

/* A token rotated longer than the grace ago came back: someone holds a
 * copy. Revoke the whole session inside tx (committed here) and deny-list
 * its access tokens. The revocation is in Postgres first: every running
 * process hears of it at once (event), and when Redis is down the
 * deny-list write is retried (auth_denylist_retry) while services that
 * cannot read Redis ask auth, which reads the session row. */
static cx_status _reuse_detected(const auth_ctx *c, cx_req *req, auth_tx *tx,
                                 const auth_token_row *row)
{
    cx_status s = auth_store_tx_revoke(tx, row->session_id, "reuse");
    cx_status e = auth_store_tx_end(tx, s == CX_OK);
    if (s == CX_OK)
        s = e;
    if (s != CX_OK)
        return s;
    cx_log_warn(req->request_id, "refresh token reuse: session %s of user %s revoked",
                row->session_id, row->user_id);
    s = cx_auth_revoke_committed(c->redis, row->session_id, _denylist_ttl(c));
    if (s != CX_OK) {
        cx_log_error(req->request_id, "deny-listing session %s failed: %s (retried)",
                     row->session_id, cx_status_code(s));
        auth_denylist_retry(c->denylist);
    }
    return CX_ERR_INVALID_REFRESH;
}

/* Common start of refresh and logout: checks the token's shape, opens the
 * transaction with the token locked, and handles every kind of unusable
 * token (the transaction is then closed). On CX_OK the caller owns tx; a
 * token within its reuse grace is usable for both (logout ends the session). */
static cx_status _open_token(const auth_ctx *c, cx_req *req, const char *token, auth_tx *tx,
                             auth_token_row *row, char hash_hex[65])
{
    if (!token || !*token)
        return CX_ERR_REFRESH_REQUIRED;
    if (!auth_refresh_wellformed(token))
        return CX_ERR_INVALID_REFRESH;
    cx_sha256_hex(token, strlen(token), hash_hex);
    cx_status s = auth_store_tx_begin(c->pg, hash_hex, c->reuse_grace_ms, tx, row);
    if (s != CX_OK)
        return s;
    if (row->revoked || row->expired) {
        (void)auth_store_tx_end(tx, false);
        return CX_ERR_INVALID_REFRESH;
    }
    /* Rotated within the grace: two tabs refreshing with one cookie, not
     * a thief; the caller goes on with the same session. */
    if (row->rotated && !row->in_grace)
        return _reuse_detected(c, req, tx, row);
    return CX_OK;
}

static cx_status _refresh_reply(const auth_ctx *c, const auth_token_row *row, int64_t version,
                                const char *access, const char *refresh, ProtobufCMessage **out)
{
    Calixio__V1__RefreshReply *r = malloc(sizeof(*r));
    if (!r)
        return CX_ERR_NOMEM;
    calixio__v1__refresh_reply__init(r);
    r->user_id = cx_strdup(row->user_id);
    r->access_token = cx_strdup(access);
    r->accesstoken = cx_strdup(access);
    r->refresh_token = cx_strdup(refresh);
    r->has_access_ttl = r->has_refresh_ttl = r->has_version = 1;
    r->access_ttl = c->access_ttl_s;
    r->refresh_ttl = c->refresh_ttl_s;
    r->version = version;
    if (!r->user_id || !r->access_token || !r->accesstoken || !r->refresh_token) {
        protobuf_c_message_free_unpacked(&r->base, NULL);
        return CX_ERR_NOMEM;
    }
    *out = &r->base;
    return CX_OK;
}

cx_status auth_handle_refresh(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                              void *ctx)
{
    const auth_ctx *c = ctx;
    const Calixio__V1__RefreshRequest *rq = (const Calixio__V1__RefreshRequest *)in;
    char old_hash[65], refresh[AUTH_REFRESH_LEN + 1], new_hash[65], jti[64];
    char *access = NULL;
    auth_token_row row;
    auth_tx tx;
    int64_t version = 0;

    cx_status s = _open_token(c, req, rq->refresh_token, &tx, &row, old_hash);
    if (s != CX_OK)
        return s;
    s = _new_refresh(refresh, new_hash);
    if (s == CX_OK)
        s = auth_store_tx_rotate(&tx, old_hash, new_hash, row.session_id, c->refresh_ttl_s,
                                 row.in_grace, &version);
    cx_status e = auth_store_tx_end(&tx, s == CX_OK);
    if (s == CX_OK)
        s = e;
    /* Mint only after the commit: a token for a rotation that did not
     * happen must never leave. */
    if (s == CX_OK)
        s = cx_auth_mint(c->jwt, row.user_id, row.username, row.session_id, cx_now_s(),
                         c->access_ttl_s, &access, jti);
    if (s == CX_OK)
        s = _refresh_reply(c, &row, version, access, refresh, out);
    if (s == CX_OK)
        cx_log_info(req->request_id, "refreshed session %s to version %lld%s", row.session_id,
                    (long long)version,
                    row.in_grace ? " (a token rotated within REFRESH_REUSE_GRACE)" : "");
    free(access);
    sodium_memzero(refresh, sizeof(refresh));
    return s;
}

cx_status auth_handle_logout(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                             void *ctx)
{
    const auth_ctx *c = ctx;
    const Calixio__V1__LogoutRequest *rq = (const Calixio__V1__LogoutRequest *)in;
    char hash[65];
    auth_token_row row;
    auth_tx tx;

    cx_status s = _open_token(c, req, rq->refresh_token, &tx, &row, hash);
    if (s != CX_OK)
        return s;
    /* Deny-list first: if Redis is down nothing is revoked and the client
     * can retry the logout (503) instead of keeping live access tokens. */
    s = cx_auth_revoke_session(c->redis, row.session_id, _denylist_ttl(c));
    if (s == CX_OK)
        s = auth_store_tx_revoke(&tx, row.session_id, "logout");
    cx_status e = auth_store_tx_end(&tx, s == CX_OK);
    if (s == CX_OK)
        s = e;
    if (s != CX_OK)
        return s;

    Calixio__V1__Empty *r = malloc(sizeof(*r));
    if (!r)
        return CX_ERR_NOMEM;
    calixio__v1__empty__init(r);
    cx_log_info(req->request_id, "logout: session %s of user %s revoked", row.session_id,
                row.user_id);
    *out = &r->base;
    return CX_OK;
}

/* ---- me ------------------------------------------------------------------ */

cx_status auth_handle_me(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                         void *ctx)
{
    const auth_ctx *c = ctx;
    auth_user u;
    (void)in;

    if (!req->caller.authenticated)
        return CX_ERR_MISSING_AUTH; /* the runtime does not let this happen */
    /* A token whose subject is not one of our ids, or a deleted user. */
    if (!cx_uuid_valid_str(req->caller.user_id))
        return CX_ERR_INVALID_TOKEN;
    cx_status s = auth_store_user_by_id(c->pg, req->caller.user_id, &u);
    if (s == CX_ERR_NOT_FOUND)
        return cx_req_fail(req, CX_ERR_INVALID_TOKEN,
                           "the user of this token no longer exists");
    if (s != CX_OK)
        return s;

    Calixio__V1__User *r = malloc(sizeof(*r));
    if (!r)
        return CX_ERR_NOMEM;
    calixio__v1__user__init(r);
    r->id = cx_strdup(u.id);
    r->name = cx_strdup(u.name);
    r->email = cx_strdup(u.email);
    r->created_at = cx_strdup(u.created_at);
    if (!r->id || !r->name || !r->email || !r->created_at) {
        protobuf_c_message_free_unpacked(&r->base, NULL);
        return CX_ERR_NOMEM;
    }
    sodium_memzero(u.hash, sizeof(u.hash));
    *out = &r->base;
    return CX_OK;
}
