/* SQL of the account routes: users (profile, hash, deletion), user_settings,
 * sessions, account_deletions (schema: migrations/0001 and 0006).
 * Parameterised statements only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "cx_daemon.h"
#include "cx_json.h"
#include "cx_time.h"

#define ACCT_PG_WAIT_MS 2000

/* Copies column col of row into out (cap bytes); false when NULL or too long. */
static bool _cell(const PGresult *r, int row, int col, char *out, size_t cap)
{
    if (PQgetisnull(r, row, col))
        return false;
    const char *v = PQgetvalue(r, row, col);
    size_t n = strlen(v);
    if (n >= cap)
        return false;
    memcpy(out, v, n + 1);
    return true;
}

static bool _cell_time(const PGresult *r, int row, int col, char out[21])
{
    return !PQgetisnull(r, row, col) &&
           cx_time_pg_to_rfc3339(PQgetvalue(r, row, col), out) == 0;
}

cx_status acct_tx_begin(cx_pg_pool *pg, auth_tx *tx)
{
    tx->pg = pg;
    tx->conn = NULL;
    tx->broken = false;
    cx_status s = cx_pg_acquire(pg, &tx->conn, ACCT_PG_WAIT_MS);
    if (s != CX_OK)
        return s;
    s = cx_pg_query(tx->conn, "BEGIN", 0, NULL, NULL, &tx->broken);
    if (s != CX_OK) {
        cx_pg_release(pg, tx->conn, tx->broken);
        tx->conn = NULL;
    }
    return s;
}

/* ---- profile --------------------------------------------------------------- */

static cx_status _profile_row(PGresult *r, acct_profile *out)
{
    if (PQntuples(r) == 0)
        return CX_ERR_NOT_FOUND;
    if (!_cell(r, 0, 0, out->id, sizeof(out->id)) ||
        !_cell(r, 0, 1, out->name, sizeof(out->name)) ||
        !_cell(r, 0, 2, out->email, sizeof(out->email)) ||
        !_cell(r, 0, 3, out->avatar_url, sizeof(out->avatar_url)) ||
        !_cell_time(r, 0, 4, out->created_at))
        return CX_ERR_INTERNAL;
    return CX_OK;
}

cx_status acct_store_profile(cx_pg_pool *pg, const char *id, acct_profile *out)
{
    PGresult *r = NULL;
    cx_status s = cx_pg_exec(pg,
                             "SELECT id, name, email, avatar_url, created_at "
                             "FROM users WHERE id = $1::uuid",
                             1, &id, &r);
    if (s != CX_OK)
        return s;
    s = _profile_row(r, out);
    PQclear(r);
    return s;
}

cx_status acct_store_profile_update(cx_pg_pool *pg, const char *id, const char *name,
                                    const char *avatar_url, acct_profile *out)
{
    const char *p[] = {id, name, avatar_url};
    PGresult *r = NULL;
    cx_status s = cx_pg_exec(pg,
                             "UPDATE users SET name = COALESCE($2, name), "
                             "avatar_url = COALESCE($3, avatar_url) WHERE id = $1::uuid "
                             "RETURNING id, name, email, avatar_url, created_at",
                             3, p, &r);
    if (s != CX_OK)
        return s;
    s = _profile_row(r, out);
    PQclear(r);
    return s;
}

/* ---- settings --------------------------------------------------------------- */

/* Column order of every settings statement. */
#define ACCT_SETTINGS_COLS                                                 \
    "microphone_on_join, camera_on_join, video_quality, theme, language, " \
    "camera_device_id, microphone_device_id, speaker_device_id"

static cx_status _settings_row(const PGresult *r, Calixio__V1__Settings *out)
{
    out->has_microphone_on_join = out->has_camera_on_join = 1;
    out->microphone_on_join = PQgetvalue(r, 0, 0)[0] == 't';
    out->camera_on_join = PQgetvalue(r, 0, 1)[0] == 't';
    char **strs[] = {&out->video_quality,
                     &out->theme,
                     &out->language,
                     &out->camera_device_id,
                     &out->microphone_device_id,
                     &out->speaker_device_id};
    for (int i = 0; i < (int)CX_NELEM(strs); i++) {
        *strs[i] = cx_strdup(PQgetvalue(r, 0, 2 + i));
        if (!*strs[i])
            return CX_ERR_NOMEM;
    }
    return CX_OK;
}

cx_status acct_store_settings(cx_pg_pool *pg, const char *user_id, Calixio__V1__Settings *out)
{
    PGresult *r = NULL;
    cx_status s = cx_pg_exec(pg,
                             "SELECT " ACCT_SETTINGS_COLS " FROM user_settings "
                             "WHERE user_id = $1::uuid",
                             1, &user_id, &r);
    if (s != CX_OK)
        return s;
    s = PQntuples(r) == 1 ? _settings_row(r, out) : CX_ERR_NOT_FOUND;
    PQclear(r);
    return s;
}

cx_status acct_store_settings_update(cx_pg_pool *pg, const char *user_id,
                                     const Calixio__V1__Settings *patch,
                                     Calixio__V1__Settings *out)
{
    const char *mic = !patch->has_microphone_on_join ? NULL
                      : patch->microphone_on_join    ? "true"
                                                     : "false";
    const char *cam = !patch->has_camera_on_join ? NULL
                      : patch->camera_on_join    ? "true"
                                                 : "false";
    const char *p[] = {user_id,
                       mic,
                       cam,
                       patch->video_quality,
                       patch->theme,
                       patch->language,
                       patch->camera_device_id,
                       patch->microphone_device_id,
                       patch->speaker_device_id};
    PGresult *r = NULL;
    /* The row is created with the table's defaults if missing, then gets
     * the fields present (COALESCE keeps the others). */
    cx_status s = cx_pg_exec(pg,
                             "INSERT INTO user_settings AS u (user_id) VALUES ($1::uuid) "
                             "ON CONFLICT (user_id) DO UPDATE SET user_id = EXCLUDED.user_id",
                             1, p, NULL);
    if (s == CX_OK)
        s = cx_pg_exec(pg,
                       "UPDATE user_settings SET "
                       "microphone_on_join = COALESCE($2::boolean, microphone_on_join), "
                       "camera_on_join = COALESCE($3::boolean, camera_on_join), "
                       "video_quality = COALESCE($4, video_quality), "
                       "theme = COALESCE($5, theme), language = COALESCE($6, language), "
                       "camera_device_id = COALESCE($7, camera_device_id), "
                       "microphone_device_id = COALESCE($8, microphone_device_id), "
                       "speaker_device_id = COALESCE($9, speaker_device_id), "
                       "updated_at = now() WHERE user_id = $1::uuid "
                       "RETURNING " ACCT_SETTINGS_COLS,
                       9, p, &r);
    if (s != CX_OK)
        return s;
    s = PQntuples(r) == 1 ? _settings_row(r, out) : CX_ERR_INTERNAL;
    PQclear(r);
    return s;
}

/* ---- password change and deletion (inside a transaction) ---------------------- */

cx_status acct_store_tx_lock_user(auth_tx *tx, const char *user_id, bool exclusive)
{
    PGresult *r = NULL;
    cx_status s = cx_pg_query(tx->conn,
                              exclusive ? "SELECT 1 FROM users WHERE id = $1::uuid FOR UPDATE"
                                        : "SELECT 1 FROM users WHERE id = $1::uuid "
                                          "FOR NO KEY UPDATE",
                              1, &user_id, &r, &tx->broken);
    if (s != CX_OK)
        return s;
    s = PQntuples(r) == 1 ? CX_OK : CX_ERR_NOT_FOUND;
    PQclear(r);
    return s;
}

cx_status acct_store_tx_set_hash(auth_tx *tx, const char *user_id, const char *old_hash,
                                 const char *new_hash)
{
    const char *p[] = {user_id, old_hash, new_hash};
    PGresult *r = NULL;
    cx_status s = cx_pg_query(tx->conn,
                              "UPDATE users SET password_hash = $3 "
                              "WHERE id = $1::uuid AND password_hash = $2 RETURNING 1",
                              3, p, &r, &tx->broken);
    if (s != CX_OK)
        return s;
    s = PQntuples(r) == 1 ? CX_OK : CX_ERR_CONFLICT;
    PQclear(r);
    return s;
}

void acct_free_ids(char **ids, int n)
{
    for (int i = 0; ids && i < n; i++)
        free(ids[i]);
    free(ids);
}

/* Copies column 0 of every row of r into a new array of strings. */
static cx_status _ids_of(const PGresult *r, char ***ids, int *n)
{
    int rows = PQntuples(r);
    char **v = calloc((size_t)(rows > 0 ? rows : 1), sizeof(*v));
    if (!v)
        return CX_ERR_NOMEM;
    for (int i = 0; i < rows; i++) {
        v[i] = cx_strdup(PQgetvalue(r, i, 0));
        if (!v[i]) {
            acct_free_ids(v, i);
            return CX_ERR_NOMEM;
        }
    }
    *ids = v;
    *n = rows;
    return CX_OK;
}

cx_status acct_store_tx_revoke_sessions(auth_tx *tx, const char *user_id,
                                        const char *except_sid, const char *reason, char ***ids,
                                        int *n)
{
    const char *p[] = {user_id, except_sid ? except_sid : "", reason};
    PGresult *r = NULL;
    cx_status s = cx_pg_query(tx->conn,
                              "UPDATE sessions SET revoked_at = now(), revoke_reason = $3 "
                              "WHERE user_id = $1::uuid AND revoked_at IS NULL "
                              "AND id::text <> $2 RETURNING id",
                              3, p, &r, &tx->broken);
    if (s != CX_OK)
        return s;
    s = _ids_of(r, ids, n);
    PQclear(r);
    return s;
}

cx_status acct_store_tx_delete_user(auth_tx *tx, const char *user_id, const char *hash,
                                    char deleted_at[21])
{
    const char *p[] = {user_id, hash};
    PGresult *r = NULL;
    /* The FK cascades take sessions, refresh_tokens, user_settings and
     * video_profiles with the row; only the id stays, in the outbox. */
    cx_status s = cx_pg_query(tx->conn,
                              "WITH gone AS (DELETE FROM users WHERE id = $1::uuid "
                              "AND password_hash = $2 RETURNING id) "
                              "INSERT INTO account_deletions (user_id) SELECT id FROM gone "
                              "ON CONFLICT (user_id) DO UPDATE SET published_at = NULL "
                              "RETURNING deleted_at",
                              2, p, &r, &tx->broken);
    if (s != CX_OK)
        return s;
    if (PQntuples(r) != 1)
        s = CX_ERR_CONFLICT; /* the password changed meanwhile */
    else if (!_cell_time(r, 0, 0, deleted_at))
        s = CX_ERR_INTERNAL;
    PQclear(r);
    return s;
}

/* ---- sessions ----------------------------------------------------------------- */

/* One SessionInfo from row i of r (id, created, last used, ip, ua). */
static cx_status _session_info(const PGresult *r, int i, const char *current_sid,
                               Calixio__V1__SessionInfo **out)
{
    char created[21], used[21];
    if (!_cell_time(r, i, 1, created) || !_cell_time(r, i, 2, used))
        return CX_ERR_INTERNAL;
    Calixio__V1__SessionInfo *e = malloc(sizeof(*e));
    if (!e)
        return CX_ERR_NOMEM;
    calixio__v1__session_info__init(e);
    e->id = cx_strdup(PQgetvalue(r, i, 0));
    e->created_at = cx_strdup(created);
    e->last_used_at = cx_strdup(used);
    e->client_ip = cx_strdup(PQgetvalue(r, i, 3));
    e->user_agent = cx_strdup(PQgetvalue(r, i, 4));
    e->has_current = 1;
    e->current = current_sid && strcmp(current_sid, PQgetvalue(r, i, 0)) == 0;
    if (!e->id || !e->created_at || !e->last_used_at || !e->client_ip || !e->user_agent) {
        protobuf_c_message_free_unpacked(&e->base, NULL);
        return CX_ERR_NOMEM;
    }
    *out = e;
    return CX_OK;
}

cx_status acct_store_sessions(cx_pg_pool *pg, const char *user_id, const char *current_sid,
                              Calixio__V1__SessionList *list)
{
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", ACCT_SESSIONS_MAX);
    const char *p[] = {user_id, lim};
    PGresult *r = NULL;
    /* last_used_at is when the session last got a refresh token: its
     * newest refresh_tokens row (login creates the first, every refresh
     * the next), so refresh keeps it current without a write of its own. */
    cx_status s = cx_pg_exec(
        pg,
        "SELECT s.id, s.created_at, u.used, s.client_ip, s.user_agent FROM sessions s "
        "CROSS JOIN LATERAL (SELECT greatest(s.created_at, max(rt.created_at)) AS used "
        "FROM refresh_tokens rt WHERE rt.session_id = s.id) u "
        "WHERE s.user_id = $1::uuid AND s.revoked_at IS NULL AND s.expires_at > now() "
        "ORDER BY u.used DESC, s.id LIMIT $2::int",
        2, p, &r);
    if (s != CX_OK)
        return s;
    int rows = PQntuples(r);
    list->sessions = calloc((size_t)(rows > 0 ? rows : 1), sizeof(*list->sessions));
    if (!list->sessions) {
        s = CX_ERR_NOMEM;
        goto out_clear;
    }
    for (int i = 0; i < rows && s == CX_OK; i++) {
        s = _session_info(r, i, current_sid, &list->sessions[i]);
        if (s == CX_OK)
            list->n_sessions++;
    }
out_clear:
    PQclear(r);
    return s;
}

cx_status acct_store_tx_revoke_one(auth_tx *tx, const char *user_id, const char *sid)
{
    const char *p[] = {user_id, sid};
    PGresult *r = NULL;
    cx_status s = cx_pg_query(
        tx->conn,
        "UPDATE sessions SET revoked_at = now(), revoke_reason = 'revoked' "
        "WHERE id = $2::uuid AND user_id = $1::uuid "
        "AND revoked_at IS NULL AND expires_at > now() RETURNING 1",
        2, p, &r, &tx->broken);
    if (s != CX_OK)
        return s;
    s = PQntuples(r) == 1 ? CX_OK : CX_ERR_SESSION_NOT_FOUND;
    PQclear(r);
    return s;
}

/* ---- account_deletions outbox ----------------------------------------------- */

cx_status acct_store_pending_deletions(cx_pg_pool *pg, int max, char (*ids)[37], char (*at)[21],
                                       int *n)
{
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", max);
    const char *p[] = {lim};
    PGresult *r = NULL;
    *n = 0;
    /* Only rows older than a few seconds: a fresh one is being published
     * by the request that wrote it. */
    cx_status s = cx_pg_exec(pg,
                             "SELECT user_id, deleted_at FROM account_deletions "
                             "WHERE published_at IS NULL "
                             "AND deleted_at < now() - interval '3 seconds' "
                             "ORDER BY deleted_at LIMIT $1::int",
                             1, p, &r);
    if (s != CX_OK)
        return s;
    for (int i = 0; i < PQntuples(r) && i < max; i++)
        if (_cell(r, i, 0, ids[*n], 37) && _cell_time(r, i, 1, at[*n]))
            (*n)++;
    PQclear(r);
    return CX_OK;
}

cx_status acct_store_deletion_published(cx_pg_pool *pg, const char *user_id)
{
    return cx_pg_exec(pg,
                      "UPDATE account_deletions SET published_at = now() "
                      "WHERE user_id = $1::uuid AND published_at IS NULL",
                      1, &user_id, NULL);
}
