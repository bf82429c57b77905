/* The account itself: GET/PATCH /users/me, POST /auth/password and
 * DELETE /users/me (see account.h). */
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "cx_crypto.h"
#include "cx_json.h"
#include "cx_log.h"

cx_status acct_empty_reply(ProtobufCMessage **out)
{
    Calixio__V1__Empty *r = malloc(sizeof(*r));
    if (!r)
        return CX_ERR_NOMEM;
    calixio__v1__empty__init(r);
    *out = &r->base;
    return CX_OK;
}

cx_status acct_caller_ok(const cx_req *req)
{
    if (!req->caller.authenticated || !cx_uuid_valid_str(req->caller.user_id))
        return CX_ERR_INVALID_TOKEN;
    return CX_OK;
}

/* A user that is gone while its token still verifies: as GET /auth/me. */
static cx_status _gone(cx_req *req)
{
    return cx_req_fail(req, CX_ERR_INVALID_TOKEN, "the user of this token no longer exists");
}

/* ---- GET / PATCH /users/me ----------------------------------------------- */

static cx_status _profile_reply(const acct_profile *p, ProtobufCMessage **out)
{
    Calixio__V1__Profile *r = malloc(sizeof(*r));
    if (!r)
        return CX_ERR_NOMEM;
    calixio__v1__profile__init(r);
    r->id = cx_strdup(p->id);
    r->name = cx_strdup(p->name);
    r->email = cx_strdup(p->email);
    r->avatar_url = cx_strdup(p->avatar_url);
    r->created_at = cx_strdup(p->created_at);
    if (!r->id || !r->name || !r->email || !r->avatar_url || !r->created_at) {
        protobuf_c_message_free_unpacked(&r->base, NULL);
        return CX_ERR_NOMEM;
    }
    *out = &r->base;
    return CX_OK;
}

cx_status acct_handle_profile_get(cx_req *req, const ProtobufCMessage *in,
                                  ProtobufCMessage **out, void *ctx)
{
    const auth_ctx *c = ctx;
    acct_profile p;
    (void)in;
    cx_status s = acct_caller_ok(req);
    if (s == CX_OK)
        s = acct_store_profile(c->pg, req->caller.user_id, &p);
    if (s == CX_ERR_NOT_FOUND)
        return _gone(req);
    return s == CX_OK ? _profile_reply(&p, out) : s;
}

cx_status acct_handle_profile_update(cx_req *req, const ProtobufCMessage *in,
                                     ProtobufCMessage **out, void *ctx)
{
    const auth_ctx *c = ctx;
    const Calixio__V1__UpdateProfileRequest *rq = (const Calixio__V1__UpdateProfileRequest *)in;
    acct_profile p;
    bool bad = false;
    cx_status s = acct_caller_ok(req);
    if (s != CX_OK)
        return s;
    char name[AUTH_NAME_MAX_BYTES + 1];
    if (rq->name && auth_validate_name(req, "name", rq->name, name) != CX_OK)
        bad = true;
    if (acct_validate_url(req, "avatar_url", rq->avatar_url, true) != CX_OK)
        bad = true;
    if (bad)
        return CX_ERR_VALIDATION;
    s = acct_store_profile_update(c->pg, req->caller.user_id, rq->name ? name : NULL,
                                  rq->avatar_url, &p);
    if (s == CX_ERR_NOT_FOUND)
        return _gone(req);
    if (s != CX_OK)
        return s;
    cx_log_info(req->request_id, "profile of user %s updated", p.id);
    return _profile_reply(&p, out);
}

/* ---- password checks shared by password change and deletion --------------- */

/* Checks `password` of the caller like a login does: throttled per email
 * and client ip before hashing (429), a miss counted (401
 * invalid_credentials). On CX_OK *u is the user (hash included). */
static cx_status _check_password(const auth_ctx *c, cx_req *req, const char *password,
                                 auth_user *u)
{
    char ip[AUTH_IP_MAX + 1];
    cx_status s = auth_store_user_by_id(c->pg, req->caller.user_id, u);
    if (s == CX_ERR_NOT_FOUND)
        return _gone(req);
    if (s != CX_OK)
        return s;
    auth_sanitize(req->client_ip, ip, sizeof(ip));
    /* reserved before hashing, as a login: the reservation of a miss stays */
    s = auth_throttle_reserve(c, u->email, ip, &req->retry_after);
    if (s != CX_OK)
        return s;
    if (auth_password_verify(u->hash, password, strlen(password))) {
        if (auth_throttle_succeeded(c, u->email, ip) != CX_OK)
            cx_log_warn(req->request_id, "could not clear the failure counter");
        return CX_OK;
    }
    cx_log_info(req->request_id, "wrong current password for user %s (ip %s)", u->id, ip);
    return CX_ERR_INVALID_CREDENTIALS;
}

/* A required password field of at most AUTH_PASSWORD_MAX bytes (no minimum:
 * an old password may predate a rule). */
static cx_status _password_present(cx_req *req, const char *field, const char *pw)
{
    if (!pw || !*pw)
        return cx_req_field_error(req, field, "required");
    if (strlen(pw) > AUTH_PASSWORD_MAX)
        return cx_req_field_error(req, field, "max");
    return CX_OK;
}

/* Deny-lists every session id (their access tokens answer 401
 * token_revoked in every service from now on). The first failure stops
 * (the caller rolls back and answers 503). */
static cx_status _denylist(const auth_ctx *c, char **ids, int n)
{
    for (int i = 0; i < n; i++) {
        cx_status s = cx_auth_revoke_session(c->redis, ids[i], c->access_ttl_s);
        if (s != CX_OK)
            return s;
    }
    return CX_OK;
}

/* ---- POST /auth/password ----------------------------------------------------- */

/* Inside one transaction: the new hash, and every other session revoked
 * (rows and deny-list). Redis down rolls everything back. */
static cx_status _change_password(const auth_ctx *c, cx_req *req, const auth_user *u,
                                  const char *new_hash, int *n_revoked)
{
    auth_tx tx;
    char **ids = NULL;
    int n = 0;
    cx_status s = acct_tx_begin(c->pg, &tx);
    if (s != CX_OK)
        return s;
    s = acct_store_tx_set_hash(&tx, u->id, u->hash, new_hash);
    if (s == CX_OK)
        s = acct_store_tx_revoke_sessions(&tx, u->id, req->caller.session_id, "password_change",
                                          &ids, &n);
    if (s == CX_OK)
        s = _denylist(c, ids, n);
    cx_status e = auth_store_tx_end(&tx, s == CX_OK);
    if (s == CX_OK)
        s = e;
    if (s == CX_ERR_CONFLICT)
        s = cx_req_fail(req, CX_ERR_CONFLICT, "the password was changed meanwhile");
    *n_revoked = n;
    acct_free_ids(ids, n);
    return s;
}

cx_status acct_handle_password(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                               void *ctx)
{
    const auth_ctx *c = ctx;
    const Calixio__V1__ChangePasswordRequest *rq =
        (const Calixio__V1__ChangePasswordRequest *)in;
    char hash[AUTH_HASH_MAX];
    auth_user u;
    int n = 0;
    bool bad = false;

    cx_status s = acct_caller_ok(req);
    if (s != CX_OK)
        return s;
    if (_password_present(req, "current_password", rq->current_password) != CX_OK)
        bad = true;
    if (auth_validate_password(req, "new_password", rq->new_password) != CX_OK)
        bad = true;
    if (bad)
        return CX_ERR_VALIDATION;
    s = _check_password(c, req, rq->current_password, &u);
    if (s != CX_OK)
        goto out_wipe;
    s = auth_password_hash(&c->pw, rq->new_password, strlen(rq->new_password), hash);
    if (s == CX_OK)
        s = _change_password(c, req, &u, hash, &n);
    if (s == CX_OK)
        s = acct_empty_reply(out);
    if (s == CX_OK)
        cx_log_info(req->request_id, "password of user %s changed, %d other session(s) revoked",
                    u.id, n);
out_wipe:
    sodium_memzero(hash, sizeof(hash));
    sodium_memzero(u.hash, sizeof(u.hash));
    return s;
}

/* ---- DELETE /users/me --------------------------------------------------------- */

/* Inside one transaction: the user's row locked, every session revoked and
 * deny-listed, the user deleted (with everything that cascades) and the
 * deletion put in the outbox. */
static cx_status _delete_account(const auth_ctx *c, const auth_user *u, char deleted_at[21],
                                 int *n_revoked)
{
    auth_tx tx;
    char **ids = NULL;
    int n = 0;
    cx_status s = acct_tx_begin(c->pg, &tx);
    if (s != CX_OK)
        return s;
    s = acct_store_tx_lock_user(&tx, u->id, true);
    if (s == CX_OK)
        s = acct_store_tx_revoke_sessions(&tx, u->id, NULL, "account_deleted", &ids, &n);
    if (s == CX_OK)
        s = _denylist(c, ids, n);
    if (s == CX_OK)
        s = acct_store_tx_delete_user(&tx, u->id, u->hash, deleted_at);
    cx_status e = auth_store_tx_end(&tx, s == CX_OK);
    if (s == CX_OK)
        s = e;
    *n_revoked = n;
    acct_free_ids(ids, n);
    return s;
}

cx_status acct_handle_delete(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                             void *ctx)
{
    const auth_ctx *c = ctx;
    const Calixio__V1__DeleteAccountRequest *rq = (const Calixio__V1__DeleteAccountRequest *)in;
    char deleted_at[21];
    auth_user u;
    int n = 0;

    cx_status s = acct_caller_ok(req);
    if (s == CX_OK)
        s = _password_present(req, "password", rq->password);
    if (s != CX_OK)
        return s;
    s = _check_password(c, req, rq->password, &u);
    if (s != CX_OK)
        goto out_wipe;
    s = _delete_account(c, &u, deleted_at, &n);
    if (s == CX_ERR_NOT_FOUND)
        s = _gone(req);
    else if (s == CX_ERR_CONFLICT)
        s = cx_req_fail(req, CX_ERR_CONFLICT, "the password was changed meanwhile");
    if (s != CX_OK)
        goto out_wipe;
    cx_log_info(req->request_id, "account %s deleted, %d session(s) revoked", u.id, n);
    acct_publish_deleted(c, req->request_id, u.id, deleted_at);
    s = acct_empty_reply(out);
out_wipe:
    sodium_memzero(u.hash, sizeof(u.hash));
    return s;
}
