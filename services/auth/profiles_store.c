/* SQL of video profiles (migrations/0006_accounts.sql). Creation and
 * update run in a transaction that first locks the owner's users row (or
 * the profile row), so the per-account limit and "one default" hold under
 * concurrent requests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "cx_json.h"
#include "cx_log.h"
#include "cx_time.h"

#define ACCT_VP_COLS                                                              \
    "id, name, background, background_image_url, noise_suppression, is_default, " \
    "created_at, updated_at"

/* A new VideoProfile from row i of r (ACCT_VP_COLS order). */
static cx_status _vp_row(const PGresult *r, int i, Calixio__V1__VideoProfile **out)
{
    char created[21], updated[21];
    if (cx_time_pg_to_rfc3339(PQgetvalue(r, i, 6), created) != 0 ||
        cx_time_pg_to_rfc3339(PQgetvalue(r, i, 7), updated) != 0)
        return CX_ERR_INTERNAL;
    Calixio__V1__VideoProfile *v = malloc(sizeof(*v));
    if (!v)
        return CX_ERR_NOMEM;
    calixio__v1__video_profile__init(v);
    v->id = cx_strdup(PQgetvalue(r, i, 0));
    v->name = cx_strdup(PQgetvalue(r, i, 1));
    v->background = cx_strdup(PQgetvalue(r, i, 2));
    v->noise_suppression = cx_strdup(PQgetvalue(r, i, 4));
    v->created_at = cx_strdup(created);
    v->updated_at = cx_strdup(updated);
    bool ok = v->id && v->name && v->background && v->noise_suppression && v->created_at &&
              v->updated_at;
    /* the URL is answered only when there is one */
    if (ok && PQgetvalue(r, i, 3)[0]) {
        v->background_image_url = cx_strdup(PQgetvalue(r, i, 3));
        ok = v->background_image_url != NULL;
    }
    v->has_is_default = 1;
    v->is_default = PQgetvalue(r, i, 5)[0] == 't';
    if (!ok) {
        protobuf_c_message_free_unpacked(&v->base, NULL);
        return CX_ERR_NOMEM;
    }
    *out = v;
    return CX_OK;
}

cx_status acct_store_vp_list(cx_pg_pool *pg, const char *user_id,
                             Calixio__V1__VideoProfileList *list)
{
    PGresult *r = NULL;
    cx_status s = cx_pg_exec(pg,
                             "SELECT " ACCT_VP_COLS " FROM video_profiles "
                             "WHERE user_id = $1::uuid ORDER BY created_at, id",
                             1, &user_id, &r);
    if (s != CX_OK)
        return s;
    int rows = PQntuples(r);
    list->profiles = calloc((size_t)(rows > 0 ? rows : 1), sizeof(*list->profiles));
    if (!list->profiles)
        s = CX_ERR_NOMEM;
    for (int i = 0; i < rows && s == CX_OK; i++) {
        s = _vp_row(r, i, &list->profiles[i]);
        if (s == CX_OK)
            list->n_profiles++;
    }
    PQclear(r);
    return s;
}

/* Inside tx: clears is_default on the user's other profiles. */
static cx_status _clear_default(auth_tx *tx, const char *user_id, const char *keep_id)
{
    const char *p[] = {user_id, keep_id ? keep_id : ""};
    return cx_pg_query(tx->conn,
                       "UPDATE video_profiles SET is_default = false, updated_at = now() "
                       "WHERE user_id = $1::uuid AND is_default AND id::text <> $2",
                       2, p, NULL, &tx->broken);
}

/* Inside tx: the number of profiles of the user (its row is locked). */
static cx_status _count(auth_tx *tx, const char *user_id, int *n)
{
    PGresult *r = NULL;
    cx_status s = cx_pg_query(tx->conn,
                              "SELECT count(*) FROM video_profiles WHERE user_id = $1::uuid", 1,
                              &user_id, &r, &tx->broken);
    if (s != CX_OK)
        return s;
    *n = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return CX_OK;
}

/* Runs a statement returning one profile row into *out (none: nf). */
static cx_status _one(auth_tx *tx, const char *sql, int np, const char *const *p, cx_status nf,
                      Calixio__V1__VideoProfile **out)
{
    PGresult *r = NULL;
    cx_status s = cx_pg_query(tx->conn, sql, np, p, &r, &tx->broken);
    if (s != CX_OK)
        return s;
    s = PQntuples(r) == 1 ? _vp_row(r, 0, out) : nf;
    PQclear(r);
    return s;
}

cx_status acct_store_vp_create(cx_pg_pool *pg, cx_req *req, const char *user_id,
                               const Calixio__V1__CreateVideoProfileRequest *in,
                               Calixio__V1__VideoProfile **out)
{
    auth_tx tx;
    int n = 0;
    bool def = in->has_is_default && in->is_default;
    const char *p[] = {user_id,
                       in->name,
                       in->background,
                       in->background_image_url ? in->background_image_url : "",
                       in->noise_suppression,
                       def ? "true" : "false"};
    cx_status s = acct_tx_begin(pg, &tx);
    if (s != CX_OK)
        return s;
    s = acct_store_tx_lock_user(&tx, user_id, false);
    if (s == CX_OK)
        s = _count(&tx, user_id, &n);
    if (s == CX_OK && n >= ACCT_PROFILES_MAX)
        s = cx_req_fail(req, CX_ERR_PROFILE_LIMIT, "at most %d video profiles per account",
                        ACCT_PROFILES_MAX);
    if (s == CX_OK && def)
        s = _clear_default(&tx, user_id, NULL);
    if (s == CX_OK)
        s = _one(
            &tx,
            "INSERT INTO video_profiles (user_id, name, background, background_image_url, "
            "noise_suppression, is_default) VALUES ($1::uuid, $2, $3, $4, $5, $6::boolean) "
            "RETURNING " ACCT_VP_COLS,
            6, p, CX_ERR_INTERNAL, out);
    cx_status e = auth_store_tx_end(&tx, s == CX_OK);
    if (s == CX_OK && e != CX_OK) {
        protobuf_c_message_free_unpacked(&(*out)->base, NULL);
        *out = NULL;
        s = e;
    }
    return s;
}

/* Inside tx: the merged profile must still be valid (an image background
 * needs its URL). */
static cx_status _merged_ok(cx_req *req, const Calixio__V1__VideoProfile *cur,
                            const Calixio__V1__UpdateVideoProfileRequest *patch)
{
    const char *bg = patch->background ? patch->background : cur->background;
    const char *url = patch->background_image_url ? patch->background_image_url
                      : cur->background_image_url ? cur->background_image_url
                                                  : "";
    if (strcmp(bg, "image") == 0 && !*url)
        return cx_req_field_error(req, "background_image_url", "required");
    return CX_OK;
}

cx_status acct_store_vp_update(cx_pg_pool *pg, cx_req *req, const char *user_id,
                               const Calixio__V1__UpdateVideoProfileRequest *patch,
                               Calixio__V1__VideoProfile **out)
{
    auth_tx tx;
    Calixio__V1__VideoProfile *cur = NULL;
    const char *def = !patch->has_is_default ? NULL : patch->is_default ? "true" : "false";
    const char *p[] = {user_id,
                       patch->profile_id,
                       patch->name,
                       patch->background,
                       patch->background_image_url,
                       patch->noise_suppression,
                       def};
    cx_status s = acct_tx_begin(pg, &tx);
    if (s != CX_OK)
        return s;
    /* the owner first (as create does): two "make me default" requests
     * then run one after the other and leave exactly one default */
    s = acct_store_tx_lock_user(&tx, user_id, false);
    if (s == CX_ERR_NOT_FOUND)
        s = CX_ERR_PROFILE_NOT_FOUND;
    if (s == CX_OK)
        s = _one(&tx,
                 "SELECT " ACCT_VP_COLS " FROM video_profiles "
                 "WHERE id = $2::uuid AND user_id = $1::uuid FOR UPDATE",
                 2, p, CX_ERR_PROFILE_NOT_FOUND, &cur);
    if (s == CX_OK)
        s = _merged_ok(req, cur, patch);
    if (s == CX_OK && patch->has_is_default && patch->is_default)
        s = _clear_default(&tx, user_id, patch->profile_id);
    if (s == CX_OK)
        s = _one(&tx,
                 "UPDATE video_profiles SET name = COALESCE($3, name), "
                 "background = COALESCE($4, background), "
                 "background_image_url = COALESCE($5, background_image_url), "
                 "noise_suppression = COALESCE($6, noise_suppression), "
                 "is_default = COALESCE($7::boolean, is_default), updated_at = now() "
                 "WHERE id = $2::uuid AND user_id = $1::uuid RETURNING " ACCT_VP_COLS,
                 7, p, CX_ERR_PROFILE_NOT_FOUND, out);
    cx_status e = auth_store_tx_end(&tx, s == CX_OK);
    if (s == CX_OK && e != CX_OK) {
        protobuf_c_message_free_unpacked(&(*out)->base, NULL);
        *out = NULL;
        s = e;
    }
    if (cur)
        protobuf_c_message_free_unpacked(&cur->base, NULL);
    return s;
}

cx_status acct_store_vp_delete(cx_pg_pool *pg, const char *user_id, const char *profile_id)
{
    const char *p[] = {user_id, profile_id};
    PGresult *r = NULL;
    cx_status s = cx_pg_exec(pg,
                             "DELETE FROM video_profiles WHERE id = $2::uuid "
                             "AND user_id = $1::uuid RETURNING 1",
                             2, p, &r);
    if (s != CX_OK)
        return s;
    s = PQntuples(r) == 1 ? CX_OK : CX_ERR_PROFILE_NOT_FOUND;
    PQclear(r);
    return s;
}
