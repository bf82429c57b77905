/* store.c: the rooms table (Postgres, parameterised SQL only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx_crypto.h"
#include "cx_log.h"
#include "cx_time.h"
#include "rooms.h"

#define COLS                                                                             \
    "id::text, name, status, created_at, ended_at, owner_user_id::text, "                \
    "max_participants, livekit_room, description, code, access, locked, "                \
    "scheduled_at, started_at, scheduled_end_at, "                                       \
    "COALESCE(extract(epoch from scheduled_at)::bigint, 0), password_hash IS NOT NULL, " \
    "empty_timeout, metadata"
#define LIVE "deleted_at IS NULL"

void rooms_row_clear(rooms_row *r)
{
    free(r->metadata);
    r->metadata = NULL;
}

void rooms_rows_free(rooms_row *rows, int n)
{
    for (int i = 0; rows && i < n; i++)
        rooms_row_clear(&rows[i]);
    free(rows);
}

static void _copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* A nullable timestamptz column as RFC 3339 into out[21] (NULL: ""); an
 * unparsable value is CX_ERR_INTERNAL (cx_time_pg_column logs the column). */
static cx_status _ts(const PGresult *res, int i, int col, const char *name, char out[21])
{
    out[0] = '\0';
    if (PQgetisnull(res, i, col))
        return CX_OK;
    return cx_time_pg_column(PQgetvalue(res, i, col), name, out);
}

/* Fills r from row i of res (columns as in COLS). CX_ERR_INTERNAL on an
 * unparsable timestamp, CX_ERR_NOMEM when the metadata cannot be copied (r
 * is then clear of heap memory). */
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
    _copy(r->description, sizeof r->description, PQgetvalue(res, i, 8));
    _copy(r->code, sizeof r->code, PQgetvalue(res, i, 9));
    _copy(r->access, sizeof r->access, PQgetvalue(res, i, 10));
    r->locked = PQgetvalue(res, i, 11)[0] == 't';
    if (s == CX_OK)
        s = _ts(res, i, 12, "rooms.scheduled_at", r->scheduled_at);
    if (s == CX_OK)
        s = _ts(res, i, 13, "rooms.started_at", r->started_at);
    if (s == CX_OK)
        s = _ts(res, i, 14, "rooms.scheduled_end_at", r->scheduled_end_at);
    r->scheduled_at_s = strtoll(PQgetvalue(res, i, 15), NULL, 10);
    r->has_password = PQgetvalue(res, i, 16)[0] == 't';
    r->empty_timeout_s = strtoll(PQgetvalue(res, i, 17), NULL, 10);
    if (s != CX_OK)
        return s;
    r->metadata = strdup(PQgetvalue(res, i, 18));
    return r->metadata ? CX_OK : CX_ERR_NOMEM;
}

/* The single row of res into out (RETURNING / a lookup): `none` when there
 * is no row. */
static cx_status _one(const PGresult *res, rooms_row *out, cx_status none)
{
    if (PQntuples(res) != 1)
        return none;
    return _row(res, 0, out);
}

/* Copies all rows of res into a malloced array. */
static cx_status _rows(const PGresult *res, rooms_row **out, int *n)
{
    int cnt = PQntuples(res);
    rooms_row *rows = calloc(cnt > 0 ? (size_t)cnt : 1, sizeof *rows);
    if (!rows)
        return CX_ERR_NOMEM;
    for (int i = 0; i < cnt; i++) {
        cx_status st = _row(res, i, &rows[i]);
        if (st != CX_OK) {
            rooms_rows_free(rows, i + 1);
            return st;
        }
    }
    *out = rows;
    *n = cnt;
    return CX_OK;
}

/* unix seconds as a bound parameter ("" stays NULL through NULLIF) */
static void _epoch(char buf[24], int64_t v)
{
    if (v)
        snprintf(buf, 24, "%lld", (long long)v);
    else
        buf[0] = '\0';
}

cx_status rooms_store_insert(cx_pg_pool *pg, const rooms_new *n, rooms_row *out)
{
    char mp[24], et[24], sched[24], send[24], code[ROOMS_CODE_LEN + 1];
    snprintf(mp, sizeof mp, "%lld", (long long)n->max_participants);
    snprintf(et, sizeof et, "%lld", (long long)n->empty_timeout_s);
    _epoch(sched, n->scheduled_at_s);
    _epoch(send, n->scheduled_end_at_s);
    cx_status s = CX_ERR_CONFLICT;
    for (int attempt = 0; attempt < ROOMS_CODE_ATTEMPTS && s == CX_ERR_CONFLICT; attempt++) {
        PGresult *res = NULL;
        rooms_code_random(code);
        const char *p[] = {n->id,
                           n->name,
                           n->owner,
                           mp,
                           et,
                           n->metadata ? n->metadata : "",
                           n->livekit_room,
                           n->description ? n->description : "",
                           n->access ? n->access : "open",
                           n->locked ? "true" : "false",
                           sched,
                           send,
                           n->password_hash,
                           code};
        /* a scheduled room waits (pending); any other is active from now */
        s = cx_pg_exec(pg,
                       "INSERT INTO rooms (id, name, status, owner_user_id, max_participants, "
                       "empty_timeout, metadata, livekit_room, description, access, locked, "
                       "scheduled_at, scheduled_end_at, password_hash, code, started_at) "
                       "VALUES ($1, $2, CASE WHEN $11 = '' THEN 'active' ELSE 'pending' END, "
                       "$3, $4, $5, $6, $7, $8, $9, $10, "
                       "to_timestamp(NULLIF($11, '')::bigint), "
                       "to_timestamp(NULLIF($12, '')::bigint), $13, $14, "
                       "CASE WHEN $11 = '' THEN now() END) "
                       "ON CONFLICT (code) WHERE " LIVE " DO NOTHING RETURNING " COLS,
                       14, p, &res);
        if (s != CX_OK)
            return s;
        s = _one(res, out, CX_ERR_CONFLICT); /* no row: the code was taken */
        PQclear(res);
    }
    return s;
}

cx_status rooms_store_forget(cx_pg_pool *pg, const char *id)
{
    const char *p[] = {id};
    return cx_pg_exec(pg, "DELETE FROM rooms WHERE id = $1", 1, p, NULL);
}

cx_status rooms_store_get(cx_pg_pool *pg, const char *id, rooms_row *out)
{
    PGresult *res = NULL;
    if (!cx_uuid_valid_str(id))
        return CX_ERR_ROOM_NOT_FOUND;
    const char *p[] = {id};
    cx_status s = cx_pg_exec_prepared(
        pg, "rooms_get", "SELECT " COLS " FROM rooms WHERE id = $1 AND " LIVE, 1, p, &res);
    if (s != CX_OK)
        return s;
    s = _one(res, out, CX_ERR_ROOM_NOT_FOUND);
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
                             "WHERE id = $1 AND ($2::uuid IS NULL OR owner_user_id = $2::uuid) "
                             "AND status <> 'ended' AND " LIVE " RETURNING " COLS,
                             3, p, &res);
    if (s != CX_OK)
        return s;
    if (PQntuples(res) == 1) {
        s = _row(res, 0, out);
        *changed = s == CX_OK;
        PQclear(res);
        return s;
    }
    PQclear(res);
    /* Nothing changed: tell apart missing, someone else's and already ended. */
    s = rooms_store_get(pg, id, out);
    if (s != CX_OK)
        return s;
    if (owner && strcmp(out->owner_user_id, owner) != 0) {
        rooms_row_clear(out);
        return CX_ERR_ROOM_FORBIDDEN;
    }
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
                             "AND ($2::text IS NULL OR status = $2) AND " LIVE " "
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
                             "(CASE WHEN scheduled_at IS NULL THEN created_at "
                             "ELSE COALESCE(started_at, created_at) END) < "
                             "now() - make_interval(secs => $1::double precision) "
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
    return cx_pg_exec(pg,
                      "UPDATE rooms SET livekit_delete_pending = false WHERE livekit_room = $1",
                      1, p, NULL);
}

cx_status rooms_store_status_by_lk(cx_pg_pool *pg, const char *livekit_room, char status[8])
{
    PGresult *res = NULL;
    const char *p[] = {livekit_room};
    cx_status s = cx_pg_exec(pg, "SELECT status FROM rooms WHERE livekit_room = $1", 1, p,
                             &res);
    if (s != CX_OK)
        return s;
    _copy(status, 8, PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return CX_OK;
}

cx_status rooms_store_update(cx_pg_pool *pg, const char *id, const rooms_patch *p,
                             rooms_row *out)
{
    char mp[24] = "", sched[24] = "", send[24] = "";
    PGresult *res = NULL;
    if (!cx_uuid_valid_str(id))
        return CX_ERR_ROOM_NOT_FOUND;
    if (p->has_max_participants)
        snprintf(mp, sizeof mp, "%lld", (long long)p->max_participants);
    if (p->has_scheduled_at)
        _epoch(sched, p->scheduled_at_s);
    if (p->has_scheduled_end_at)
        _epoch(send, p->scheduled_end_at_s);
    const char *v[] = {id,
                       p->name,
                       p->description,
                       p->access,
                       p->has_locked ? (p->locked ? "true" : "false") : NULL,
                       p->has_max_participants ? mp : NULL,
                       p->metadata,
                       p->has_scheduled_at ? sched : NULL,
                       p->has_scheduled_end_at ? send : NULL,
                       p->password_hash};
    /* One statement: the row is changed only when live, not ended, and
     * (for scheduled_at) still pending; otherwise the status before tells
     * which rule failed (NULL: no such room). */
    cx_status s = cx_pg_exec(
        pg,
        "WITH cur AS (SELECT status FROM rooms WHERE id = $1 AND " LIVE "), "
        "upd AS (UPDATE rooms SET "
        "name = COALESCE($2, name), description = COALESCE($3, description), "
        "access = COALESCE($4, access), locked = COALESCE($5::boolean, locked), "
        "max_participants = COALESCE($6::integer, max_participants), "
        "metadata = COALESCE($7, metadata), "
        "scheduled_at = CASE WHEN $8::text IS NULL THEN scheduled_at "
        "  ELSE to_timestamp(NULLIF($8, '')::bigint) END, "
        "scheduled_end_at = CASE WHEN $9::text IS NULL THEN scheduled_end_at "
        "  ELSE to_timestamp(NULLIF($9, '')::bigint) END, "
        "password_hash = CASE WHEN $10::text IS NULL THEN password_hash "
        "  ELSE NULLIF($10, '') END "
        "WHERE id = $1 AND " LIVE " AND status <> 'ended' "
        "AND ($8::text IS NULL OR status = 'pending') RETURNING 1) "
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM upd) THEN 'ok' "
        "ELSE (SELECT status FROM cur) END",
        10, v, &res);
    if (s != CX_OK)
        return s;
    const char *what = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0)
                                                                      : NULL;
    s = !what                        ? CX_ERR_ROOM_NOT_FOUND
        : strcmp(what, "ok") == 0    ? CX_OK
        : strcmp(what, "ended") == 0 ? CX_ERR_ROOM_ENDED
                                     : CX_ERR_CONFLICT; /* scheduled_at of a started room */
    PQclear(res);
    if (s != CX_OK)
        return s;
    return rooms_store_get(pg, id, out);
}

cx_status rooms_store_delete(cx_pg_pool *pg, const char *id, bool *changed)
{
    PGresult *res = NULL;
    *changed = false;
    if (!cx_uuid_valid_str(id))
        return CX_ERR_ROOM_NOT_FOUND;
    const char *p[] = {id};
    cx_status s = cx_pg_exec(pg,
                             "UPDATE rooms SET deleted_at = now() WHERE id = $1 AND " LIVE
                             " AND status = 'ended' RETURNING id",
                             1, p, &res);
    if (s != CX_OK)
        return s;
    *changed = PQntuples(res) == 1;
    PQclear(res);
    return *changed ? CX_OK : CX_ERR_ROOM_NOT_FOUND;
}

cx_status rooms_store_get_by_code(cx_pg_pool *pg, const char *code, rooms_row *out)
{
    PGresult *res = NULL;
    const char *p[] = {code};
    cx_status s = cx_pg_exec_prepared(pg, "rooms_get_code",
                                      "SELECT " COLS " FROM rooms WHERE code = $1 AND " LIVE, 1,
                                      p, &res);
    if (s != CX_OK)
        return s;
    s = _one(res, out, CX_ERR_ROOM_NOT_FOUND);
    PQclear(res);
    return s;
}

cx_status rooms_store_start(cx_pg_pool *pg, const char *id, rooms_row *out, bool *changed)
{
    PGresult *res = NULL;
    *changed = false;
    if (!cx_uuid_valid_str(id))
        return CX_ERR_ROOM_NOT_FOUND;
    const char *p[] = {id};
    cx_status s = cx_pg_exec(pg,
                             "UPDATE rooms SET status = 'active', started_at = now() "
                             "WHERE id = $1 AND " LIVE
                             " AND status = 'pending' RETURNING " COLS,
                             1, p, &res);
    if (s != CX_OK)
        return s;
    if (PQntuples(res) == 1) {
        s = _row(res, 0, out);
        *changed = s == CX_OK;
        PQclear(res);
        return s;
    }
    PQclear(res);
    s = rooms_store_get(pg, id, out);
    if (s == CX_OK && strcmp(out->status, "ended") == 0) {
        rooms_row_clear(out);
        return CX_ERR_ROOM_ENDED;
    }
    return s;
}

cx_status rooms_store_end_scheduled(cx_pg_pool *pg, int64_t max_age_s, bool pending,
                                    rooms_row **out, int *n)
{
    char age[24];
    PGresult *res = NULL;
    snprintf(age, sizeof age, "%lld", (long long)max_age_s);
    const char *p[] = {age, pending ? "true" : "false"};
    cx_status s = cx_pg_exec(pg,
                             "UPDATE rooms SET status = 'ended', ended_at = now(), "
                             "livekit_delete_pending = $2 AND status = 'active' "
                             "WHERE " LIVE " AND ((status = 'pending' AND scheduled_at < "
                             "now() - make_interval(secs => $1::double precision)) OR "
                             "(status <> 'ended' AND scheduled_end_at <= now())) "
                             "RETURNING " COLS,
                             2, p, &res);
    if (s != CX_OK)
        return s;
    s = _rows(res, out, n);
    PQclear(res);
    return s;
}
