/* SQL of the auth daemon: users, sessions, refresh_tokens (schema in
 * migrations/0001_users_sessions.sql). Parameterised statements only.
 * Refresh tokens are identified by the hex SHA-256 of the token, decoded to
 * bytea by Postgres. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "cx_log.h"
#include "cx_time.h"

#define AUTH_PG_WAIT_MS 2000

/* Copies column col of row 0 into out (cap bytes); false when it does not
 * fit or is NULL. */
static bool _col(const PGresult *r, int col, char *out, size_t cap)
{
    if (PQgetisnull(r, 0, col))
        return false;
    const char *v = PQgetvalue(r, 0, col);
    size_t n = strlen(v);
    if (n >= cap)
        return false;
    memcpy(out, v, n + 1);
    return true;
}

static bool _col_bool(const PGresult *r, int col)
{
    return !PQgetisnull(r, 0, col) && PQgetvalue(r, 0, col)[0] == 't';
}

static int64_t _col_i64(const PGresult *r, int col)
{
    return PQgetisnull(r, 0, col) ? 0 : strtoll(PQgetvalue(r, 0, col), NULL, 10);
}

cx_status auth_store_create_user(cx_pg_pool *pg, const char *name, const char *email,
                                 const char *hash, char id_out[37])
{
    const char *p[] = {name, email, hash};
    PGresult *r = NULL;
    cx_status s = cx_pg_exec(pg,
                             "INSERT INTO users (name, email, password_hash) "
                             "VALUES ($1, $2, $3) RETURNING id",
                             3, p, &r);
    if (s == CX_ERR_CONFLICT)
        return CX_ERR_EMAIL_EXISTS; /* users_email_key is the only unique index */
    if (s != CX_OK)
        return s;
    if (PQntuples(r) != 1 || !_col(r, 0, id_out, 37))
        s = CX_ERR_INTERNAL;
    PQclear(r);
    return s;
}

/* Runs a one-parameter user SELECT and fills out from its single row. */
static cx_status _user_query(cx_pg_pool *pg, const char *sql, const char *param, auth_user *out)
{
    PGresult *r = NULL;
    cx_status s = cx_pg_exec(pg, sql, 1, &param, &r);
    if (s != CX_OK)
        return s;
    if (PQntuples(r) == 0) {
        s = CX_ERR_NOT_FOUND;
        goto out_clear;
    }
    if (!_col(r, 0, out->id, sizeof(out->id)) || !_col(r, 1, out->name, sizeof(out->name)) ||
        !_col(r, 2, out->email, sizeof(out->email)) ||
        cx_time_pg_column(PQgetvalue(r, 0, 4), "users.created_at", out->created_at) != CX_OK) {
        s = CX_ERR_INTERNAL;
        goto out_clear;
    }
    /* A hash longer than libsodium's strings cannot verify: keep it empty. */
    if (!_col(r, 3, out->hash, sizeof(out->hash)))
        out->hash[0] = '\0';
out_clear:
    PQclear(r);
    return s;
}

cx_status auth_store_user_by_email(cx_pg_pool *pg, const char *email, auth_user *out)
{
    return _user_query(pg,
                       "SELECT id, name, email, password_hash, created_at "
                       "FROM users WHERE email = $1",
                       email, out);
}

cx_status auth_store_user_by_id(cx_pg_pool *pg, const char *id, auth_user *out)
{
    return _user_query(pg,
                       "SELECT id, name, email, password_hash, created_at "
                       "FROM users WHERE id = $1::uuid",
                       id, out);
}

cx_status auth_store_update_hash(cx_pg_pool *pg, const char *id, const char *old_hash,
                                 const char *new_hash)
{
    const char *p[] = {id, old_hash, new_hash};
    return cx_pg_exec(pg,
                      "UPDATE users SET password_hash = $3 "
                      "WHERE id = $1::uuid AND password_hash = $2",
                      3, p, NULL);
}

cx_status auth_store_create_session(cx_pg_pool *pg, const char *user_id, const char *ip,
                                    const char *ua, int64_t ttl_s, const char *token_hash_hex,
                                    char sid_out[37])
{
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%lld", (long long)ttl_s);
    const char *p[] = {user_id, ip, ua, ttl, token_hash_hex};
    PGresult *r = NULL;
    /* One statement: the session and its first token exist together or not
     * at all. */
    cx_status s = cx_pg_exec(
        pg,
        "WITH s AS (INSERT INTO sessions (user_id, client_ip, user_agent, expires_at) "
        "VALUES ($1::uuid, $2, $3, now() + make_interval(secs => $4::bigint)) "
        "RETURNING id, version) "
        "INSERT INTO refresh_tokens (token_hash, session_id, version) "
        "SELECT decode($5, 'hex'), id, version FROM s RETURNING session_id",
        5, p, &r);
    if (s != CX_OK)
        return s;
    if (PQntuples(r) != 1 || !_col(r, 0, sid_out, 37))
        s = CX_ERR_INTERNAL;
    PQclear(r);
    return s;
}

cx_status auth_store_tx_begin(cx_pg_pool *pg, const char *token_hash_hex, int64_t grace_ms,
                              auth_tx *tx, auth_token_row *row)
{
    PGresult *r = NULL;
    char grace[24];
    snprintf(grace, sizeof(grace), "%lld", (long long)grace_ms);
    const char *p[] = {token_hash_hex, grace};
    tx->pg = pg;
    tx->conn = NULL;
    tx->broken = false;
    cx_status s = cx_pg_acquire(pg, &tx->conn, AUTH_PG_WAIT_MS);
    if (s != CX_OK)
        return s;
    s = cx_pg_query(tx->conn, "BEGIN", 0, NULL, NULL, &tx->broken);
    if (s != CX_OK)
        goto out_release;
    /* Both rows are locked: a second transaction presenting the same token
     * waits here and then sees rotated_at of the committed first one. The
     * grace is judged by clock_timestamp(), not now() (the transaction's
     * start, which may be before that rotation committed). */
    s = cx_pg_query(
        tx->conn,
        "SELECT s.id, s.user_id, u.name, s.version, rt.rotated_at IS NOT NULL, "
        "s.revoked_at IS NOT NULL, s.expires_at <= now(), "
        "rt.rotated_at > clock_timestamp() - make_interval(secs => $2::bigint / 1000.0) "
        "FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id "
        "JOIN users u ON u.id = s.user_id "
        "WHERE rt.token_hash = decode($1, 'hex') FOR UPDATE OF rt, s",
        2, p, &r, &tx->broken);
    if (s != CX_OK)
        goto out_release;
    if (PQntuples(r) != 1) {
        s = CX_ERR_INVALID_REFRESH;
        goto out_clear;
    }
    if (!_col(r, 0, row->session_id, sizeof(row->session_id)) ||
        !_col(r, 1, row->user_id, sizeof(row->user_id)) ||
        !_col(r, 2, row->username, sizeof(row->username))) {
        s = CX_ERR_INTERNAL;
        goto out_clear;
    }
    row->version = _col_i64(r, 3);
    row->rotated = _col_bool(r, 4);
    row->revoked = _col_bool(r, 5);
    row->expired = _col_bool(r, 6);
    row->in_grace = row->rotated && _col_bool(r, 7);
    PQclear(r);
    return CX_OK;
out_clear:
    PQclear(r);
out_release:
    /* Releasing a connection inside a transaction closes it, which is a
     * rollback; do it explicitly to keep the connection. */
    if (!tx->broken && tx->conn)
        (void)cx_pg_query(tx->conn, "ROLLBACK", 0, NULL, NULL, &tx->broken);
    cx_pg_release(pg, tx->conn, tx->broken);
    tx->conn = NULL;
    return s;
}

cx_status auth_store_tx_rotate(auth_tx *tx, const char *old_hash_hex, const char *new_hash_hex,
                               const char *session_id, int64_t ttl_s, bool again,
                               int64_t *version_out)
{
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%lld", (long long)ttl_s);
    const char *p[] = {old_hash_hex, session_id, ttl, new_hash_hex, again ? "t" : "f"};
    PGresult *r = NULL;
    cx_status s = cx_pg_query(
        tx->conn,
        "WITH old AS (UPDATE refresh_tokens SET rotated_at = COALESCE(rotated_at, now()) "
        "WHERE token_hash = decode($1, 'hex') AND (rotated_at IS NULL OR $5::boolean) "
        "RETURNING 1), "
        "sess AS (UPDATE sessions SET version = version + 1, "
        "expires_at = now() + make_interval(secs => $3::bigint) "
        "WHERE id = $2::uuid AND EXISTS (SELECT 1 FROM old) RETURNING id, version) "
        "INSERT INTO refresh_tokens (token_hash, session_id, version) "
        "SELECT decode($4, 'hex'), id, version FROM sess RETURNING version",
        5, p, &r, &tx->broken);
    if (s != CX_OK)
        return s;
    /* No row: the token was rotated meanwhile (cannot happen under the lock,
     * but never hand out a second successor). */
    if (PQntuples(r) != 1)
        s = CX_ERR_INVALID_REFRESH;
    else
        *version_out = _col_i64(r, 0);
    PQclear(r);
    return s;
}

cx_status auth_store_tx_revoke(auth_tx *tx, const char *session_id, const char *reason)
{
    const char *p[] = {session_id, reason};
    return cx_pg_query(tx->conn,
                       "UPDATE sessions SET revoked_at = now(), revoke_reason = $2 "
                       "WHERE id = $1::uuid AND revoked_at IS NULL",
                       2, p, NULL, &tx->broken);
}

cx_status auth_store_tx_end(auth_tx *tx, bool commit)
{
    cx_status s = CX_OK;
    if (!tx->conn)
        return CX_ERR_INTERNAL;
    if (!tx->broken)
        s = cx_pg_query(tx->conn, commit ? "COMMIT" : "ROLLBACK", 0, NULL, NULL, &tx->broken);
    else
        s = CX_ERR_UNAVAILABLE;
    cx_pg_release(tx->pg, tx->conn, tx->broken);
    tx->conn = NULL;
    return commit ? s : CX_OK;
}
