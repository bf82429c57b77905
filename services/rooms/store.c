/* store.c: the rooms table (Postgres, parameterised SQL only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx_crypto.h"
#include "cx_log.h"
#include "cx_time.h"
#include "rooms.h"

#define COLS                                                                           \
    "id::text, name, status, created_at, ended_at, owner_user_id::text, "             \
    "max_participants, livekit_room"

static void _copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* Fills r from row i of res (columns as in COLS); an unparsable timestamp
 * is CX_ERR_INTERNAL (cx_time_pg_column logs the column). */
static cx_status _row(const PGresult *res, int i, rooms_row *r)
{
    memset(r, 0, sizeof *r);
    _copy(r->id, sizeof r->id, PQgetvalue(res, i, 0));
    _copy(r->name, sizeof r->name, PQgetvalue(res, i, 1));
    _copy(r->status, sizeof r->status, PQgetvalue(res, i, 2));
    cx_status s = cx_time_pg_column(PQgetvalue(res, i, 3), "rooms.created_at", r->created_at);
    if (s == CX_OK && !PQgetisnull(res, i, 4))
        s = cx_time_pg_column(PQgetvalue(res, i, 4), "rooms.ended_at", r->ended_at);
    _copy(r->owner_user_id, sizeof r->owner_user_id, PQgetvalue(res, i, 5));
    r->max_participants = atoi(PQgetvalue(res, i, 6));
    _copy(r->livekit_room, sizeof r->livekit_room, PQgetvalue(res, i, 7));
    return s;
}

/* Copies all rows of res into a malloced array. */
static cx_status _rows(const PGresult *res, rooms_row **out, int *n)
{
    int cnt = PQntuples(res);
    rooms_row *rows = calloc(cnt > 0 ? (size_t)cnt : 1, sizeof *rows);
    if (!rows)
        return CX_ERR_NOMEM;
    for (int i = 0; i < cnt; i++) {
        if (_row(res, i, &rows[i]) != CX_OK) {
            free(rows);
            return CX_ERR_INTERNAL;
        }
    }
    *out = rows;
    *n = cnt;
    return CX_OK;
}

cx_status rooms_store_insert(PGconn *c, const char *id, const char *name, const char *owner,
                             int64_t max_participants, int64_t empty_timeout_s,
                             const char *metadata, const char *livekit_room, rooms_row *out,
                             bool *broken)
{
    char mp[24], et[24];
    PGresult *res = NULL;
    snprintf(mp, sizeof mp, "%lld", (long long)max_participants);
    snprintf(et, sizeof et, "%lld", (long long)empty_timeout_s);
    const char *p[] = {id, name, owner, mp, et, metadata ? metadata : "", livekit_room};
    cx_status s = cx_pg_query(c,
                              "INSERT INTO rooms (id, name, status, owner_user_id, "
                              "max_participants, empty_timeout, metadata, livekit_room) "
                              "VALUES ($1, $2, 'active', $3, $4, $5, $6, $7) RETURNING " COLS,
                              7, p, &res, broken);
    if (s != CX_OK)
        return s;
    if (PQntuples(res) == 1)
        s = _row(res, 0, out);
    else
        s = CX_ERR_INTERNAL;
    PQclear(res);
    return s;
}

cx_status rooms_store_tx(PGconn *c, const char *verb, bool *broken)
{
    return cx_pg_query(c, verb, 0, NULL, NULL, broken);
}

cx_status rooms_store_get(cx_pg_pool *pg, const char *id, rooms_row *out)
{
    PGresult *res = NULL;
    if (!cx_uuid_valid_str(id))
        return CX_ERR_ROOM_NOT_FOUND;
    const char *p[] = {id};
    cx_status s = cx_pg_exec(pg, "SELECT " COLS " FROM rooms WHERE id = $1", 1, p, &res);
    if (s != CX_OK)
        return s;
    if (PQntuples(res) == 1)
        s = _row(res, 0, out);
    else
        s = CX_ERR_ROOM_NOT_FOUND;
    PQclear(res);
    return s;
}

cx_status rooms_store_end(cx_pg_pool *pg, const char *id, const char *owner, bool pending,
                          rooms_row *out, bool *changed)
{
    PGresult *res = NULL;
    *changed = false;
    if (!cx_uuid_valid_str(id))
        return CX_ERR_ROOM_NOT_FOUND;
    const char *p[] = {id, owner, pending ? "true" : "false"};
    cx_status s = cx_pg_exec(pg,
                             "UPDATE rooms SET status = 'ended', ended_at = now(), "
                             "livekit_delete_pending = $3 "
                             "WHERE id = $1 AND owner_user_id = $2::uuid AND status <> 'ended' "
                             "RETURNING " COLS,
                             3, p, &res);
    if (s != CX_OK)
        return s;
    if (PQntuples(res) == 1) {
        s = _row(res, 0, out);
        *changed = true;
        PQclear(res);
        return s;
    }
    PQclear(res);
    /* Nothing changed: tell apart missing, someone else's and already ended. */
    s = rooms_store_get(pg, id, out);
    if (s != CX_OK)
        return s;
    if (strcmp(out->owner_user_id, owner) != 0)
        return CX_ERR_ROOM_FORBIDDEN;
    return CX_OK;
}

cx_status rooms_store_list(cx_pg_pool *pg, const char *owner, const char *status, int limit,
                           int offset, rooms_row **out, int *n)
{
    char lim[16], off[16];
    PGresult *res = NULL;
    snprintf(lim, sizeof lim, "%d", limit);
    snprintf(off, sizeof off, "%d", offset);
    const char *p[] = {owner, status, lim, off};
    cx_status s = cx_pg_exec(pg,
                             "SELECT " COLS " FROM rooms WHERE owner_user_id = $1::uuid "
                             "AND ($2::text IS NULL OR status = $2) "
                             "ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
                             4, p, &res);
    if (s != CX_OK)
        return s;
    s = _rows(res, out, n);
    PQclear(res);
    return s;
}

cx_status rooms_store_end_old(cx_pg_pool *pg, int64_t max_age_s, bool pending, rooms_row **out,
                              int *n)
{
    char age[24];
    PGresult *res = NULL;
    snprintf(age, sizeof age, "%lld", (long long)max_age_s);
    const char *p[] = {age, pending ? "true" : "false"};
    cx_status s = cx_pg_exec(pg,
                             "UPDATE rooms SET status = 'ended', ended_at = now(), "
                             "livekit_delete_pending = $2 "
                             "WHERE status = 'active' AND "
                             "created_at < now() - make_interval(secs => $1::double precision) "
                             "RETURNING " COLS,
                             2, p, &res);
    if (s != CX_OK)
        return s;
    s = _rows(res, out, n);
    PQclear(res);
    return s;
}

void rooms_free_strv(char **v, int n)
{
    if (!v)
        return;
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

cx_status rooms_store_pending_deletes(cx_pg_pool *pg, int max, char ***out, int *n)
{
    char lim[16];
    PGresult *res = NULL;
    snprintf(lim, sizeof lim, "%d", max);
    const char *p[] = {lim};
    cx_status s = cx_pg_exec(pg,
                             "SELECT livekit_room FROM rooms WHERE livekit_delete_pending "
                             "ORDER BY ended_at LIMIT $1",
                             1, p, &res);
    if (s != CX_OK)
        return s;
    int cnt = PQntuples(res);
    char **v = calloc(cnt > 0 ? (size_t)cnt : 1, sizeof *v);
    if (!v) {
        PQclear(res);
        return CX_ERR_NOMEM;
    }
    for (int i = 0; i < cnt; i++) {
        v[i] = strdup(PQgetvalue(res, i, 0));
        if (!v[i]) {
            rooms_free_strv(v, i);
            PQclear(res);
            return CX_ERR_NOMEM;
        }
    }
    PQclear(res);
    *out = v;
    *n = cnt;
    return CX_OK;
}

cx_status rooms_store_delete_done(cx_pg_pool *pg, const char *livekit_room)
{
    const char *p[] = {livekit_room};
    return cx_pg_exec(pg, "UPDATE rooms SET livekit_delete_pending = false WHERE livekit_room = $1",
                      1, p, NULL);
}

cx_status rooms_store_status_by_lk(cx_pg_pool *pg, const char *livekit_room, char status[8])
{
    PGresult *res = NULL;
    const char *p[] = {livekit_room};
    cx_status s = cx_pg_exec(pg, "SELECT status FROM rooms WHERE livekit_room = $1", 1, p, &res);
    if (s != CX_OK)
        return s;
    _copy(status, 8, PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return CX_OK;
}
