/* waiting_store.c: waiting entries of knock rooms (room_waiting), SQL
 * parameters only. An entry past expires_at that nobody decided reads as
 * "expired" (no sweeper needed); deciding it is waiting_not_found. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx_crypto.h"
#include "cx_log.h"
#include "cx_time.h"
#include "rooms.h"

#define W_COLS                                                                              \
    "id::text, identity, name, COALESCE(user_id::text, ''), role, "                         \
    "CASE WHEN status = 'waiting' AND expires_at <= now() THEN 'expired' ELSE status END, " \
    "COALESCE(reason, ''), requested_at, answer"

static void _w(const PGresult *res, int i, rooms_waiting *w)
{
    memset(w, 0, sizeof *w);
    snprintf(w->id, sizeof w->id, "%s", PQgetvalue(res, i, 0));
    snprintf(w->identity, sizeof w->identity, "%s", PQgetvalue(res, i, 1));
    snprintf(w->name, sizeof w->name, "%s", PQgetvalue(res, i, 2));
    snprintf(w->user_id, sizeof w->user_id, "%s", PQgetvalue(res, i, 3));
    snprintf(w->role, sizeof w->role, "%s", PQgetvalue(res, i, 4));
    snprintf(w->status, sizeof w->status, "%s", PQgetvalue(res, i, 5));
    snprintf(w->reason, sizeof w->reason, "%s", PQgetvalue(res, i, 6));
    if (cx_time_pg_to_rfc3339(PQgetvalue(res, i, 7), w->requested_at) != 0)
        w->requested_at[0] = '\0';
    w->has_answer = !PQgetisnull(res, i, 8);
}

void rooms_waiting_clear(rooms_waiting *w)
{
    free(w->answer);
    w->answer = NULL;
    w->answer_len = 0;
}

cx_status rooms_waiting_insert(cx_pg_pool *pg, const char *room_id, const char *identity,
                               const char *name, const char *user_id, const char *role,
                               int64_t ttl_s, char wid[37])
{
    char ttl[24];
    cx_uuid_v4(wid);
    snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_s);
    const char *p[] = {wid,  room_id, identity, name, user_id && user_id[0] ? user_id : NULL,
                       role, ttl};
    return cx_pg_exec(pg,
                      "INSERT INTO room_waiting (id, room_id, identity, name, user_id, role, "
                      "expires_at) VALUES ($1, $2, $3, $4, $5::uuid, $6, "
                      "now() + make_interval(secs => $7::bigint))",
                      7, p, NULL);
}

cx_status rooms_waiting_get(cx_pg_pool *pg, const char *room_id, const char *wid,
                            rooms_waiting *out)
{
    PGresult *res = NULL;
    if (!cx_uuid_valid_str(wid))
        return CX_ERR_WAITING_NOT_FOUND;
    const char *p[] = {room_id, wid};
    cx_status s = cx_pg_exec(
        pg, "SELECT " W_COLS " FROM room_waiting WHERE room_id = $1 AND id = $2", 2, p, &res);
    if (s != CX_OK)
        return s;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return CX_ERR_WAITING_NOT_FOUND;
    }
    _w(res, 0, out);
    if (out->has_answer) {
        size_t n = 0;
        unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 8), &n);
        if (!raw) {
            PQclear(res);
            return CX_ERR_NOMEM;
        }
        out->answer = malloc(n ? n : 1);
        if (out->answer)
            memcpy(out->answer, raw, n);
        out->answer_len = n;
        PQfreemem(raw);
        if (!out->answer) {
            PQclear(res);
            return CX_ERR_NOMEM;
        }
    }
    PQclear(res);
    return CX_OK;
}

cx_status rooms_waiting_list(cx_pg_pool *pg, const char *room_id, rooms_waiting **out, int *n)
{
    PGresult *res = NULL;
    const char *p[] = {room_id};
    cx_status s = cx_pg_exec(pg,
                             "SELECT " W_COLS " FROM room_waiting WHERE room_id = $1 AND "
                             "status = 'waiting' AND expires_at > now() "
                             "ORDER BY requested_at, id",
                             1, p, &res);
    if (s != CX_OK)
        return s;
    int cnt = PQntuples(res);
    rooms_waiting *v = calloc(cnt > 0 ? (size_t)cnt : 1, sizeof *v);
    if (!v) {
        PQclear(res);
        return CX_ERR_NOMEM;
    }
    for (int i = 0; i < cnt; i++)
        _w(res, i, &v[i]);
    PQclear(res);
    *out = v;
    *n = cnt;
    return CX_OK;
}

cx_status rooms_waiting_decide(cx_pg_pool *pg, const char *room_id, const char *wid,
                               const char *status, const char *reason, rooms_waiting *out,
                               bool *changed)
{
    PGresult *res = NULL;
    *changed = false;
    if (!cx_uuid_valid_str(wid))
        return CX_ERR_WAITING_NOT_FOUND;
    const char *p[] = {room_id, wid, status, reason && reason[0] ? reason : NULL};
    cx_status s = cx_pg_exec(pg,
                             "UPDATE room_waiting SET status = $3, reason = $4, "
                             "decided_at = now() WHERE room_id = $1 AND id = $2 AND "
                             "status = 'waiting' AND expires_at > now() RETURNING id",
                             4, p, &res);
    if (s != CX_OK)
        return s;
    *changed = PQntuples(res) == 1;
    PQclear(res);
    s = rooms_waiting_get(pg, room_id, wid, out);
    if (s != CX_OK)
        return s;
    /* deciding twice answers the first decision; an expired or left entry
     * cannot be decided */
    if (strcmp(out->status, "approved") != 0 && strcmp(out->status, "rejected") != 0) {
        rooms_waiting_clear(out);
        return CX_ERR_WAITING_NOT_FOUND;
    }
    return CX_OK;
}

cx_status rooms_waiting_set_answer(cx_pg_pool *pg, const char *wid, const uint8_t *buf,
                                   size_t len, bool *stored)
{
    PGresult *res = NULL;
    /* bytea in hex form, bound as text */
    char *hex = malloc(2 * len + 3);
    if (!hex)
        return CX_ERR_NOMEM;
    hex[0] = '\\';
    hex[1] = 'x';
    for (size_t i = 0; i < len; i++)
        snprintf(hex + 2 + 2 * i, 3, "%02x", buf[i]);
    const char *p[] = {wid, hex};
    cx_status s = cx_pg_exec(pg,
                             "UPDATE room_waiting SET answer = $2::bytea WHERE id = $1 AND "
                             "status = 'approved' AND answer IS NULL RETURNING id",
                             2, p, &res);
    free(hex);
    if (s != CX_OK)
        return s;
    *stored = PQntuples(res) == 1;
    PQclear(res);
    return CX_OK;
}

cx_status rooms_waiting_reject_room(cx_pg_pool *pg, const char *room_id, const char *reason,
                                    rooms_waiting **out, int *n)
{
    PGresult *res = NULL;
    const char *p[] = {room_id, reason};
    cx_status s = cx_pg_exec(pg,
                             "UPDATE room_waiting SET status = 'rejected', reason = $2, "
                             "decided_at = now() WHERE room_id = $1 AND status = 'waiting' "
                             "RETURNING " W_COLS,
                             2, p, &res);
    if (s != CX_OK)
        return s;
    /* the stored join answers hold tokens of a room that is over: drop them */
    if (cx_pg_exec(
            pg,
            "UPDATE room_waiting SET answer = NULL WHERE room_id = $1 AND answer IS NOT NULL",
            1, p, NULL) != CX_OK)
        cx_log_warn(NULL, "room %s: stored join answers not cleared", room_id);
    int cnt = PQntuples(res);
    rooms_waiting *v = calloc(cnt > 0 ? (size_t)cnt : 1, sizeof *v);
    if (!v) {
        PQclear(res);
        return CX_ERR_NOMEM;
    }
    for (int i = 0; i < cnt; i++)
        _w(res, i, &v[i]);
    PQclear(res);
    *out = v;
    *n = cnt;
    return CX_OK;
}

cx_status rooms_waiting_sweep(cx_pg_pool *pg, int max, rooms_waiting_ev **out, int *n)
{
    PGresult *res = NULL;
    char lim[16];
    snprintf(lim, sizeof lim, "%d", max);
    const char *p[] = {lim};
    /* one statement: entries of ended rooms are rejected, entries past
     * their time expire; both are answered for their events */
    cx_status s = cx_pg_exec(
        pg,
        "WITH due AS (SELECT w.id, (r.status = 'ended') AS ended FROM room_waiting w "
        "JOIN rooms r ON r.id = w.room_id WHERE w.status = 'waiting' AND "
        "(r.status = 'ended' OR w.expires_at <= now()) LIMIT $1::int FOR UPDATE OF w SKIP LOCKED) "
        "UPDATE room_waiting w SET status = CASE WHEN due.ended THEN 'rejected' ELSE 'expired' END, "
        "reason = CASE WHEN due.ended THEN 'room_ended' ELSE reason END, decided_at = now() "
        "FROM due, rooms r WHERE w.id = due.id AND r.id = w.room_id "
        "RETURNING w.room_id::text, r.livekit_room, w.id::text, w.name, "
        "COALESCE(w.user_id::text, ''), w.status, COALESCE(w.reason, '')",
        1, p, &res);
    if (s != CX_OK)
        return s;
    int cnt = PQntuples(res);
    rooms_waiting_ev *v = calloc(cnt > 0 ? (size_t)cnt : 1, sizeof *v);
    if (!v) {
        PQclear(res);
        return CX_ERR_NOMEM;
    }
    for (int i = 0; i < cnt; i++) {
        snprintf(v[i].room_id, sizeof v[i].room_id, "%s", PQgetvalue(res, i, 0));
        snprintf(v[i].livekit_room, sizeof v[i].livekit_room, "%s", PQgetvalue(res, i, 1));
        snprintf(v[i].id, sizeof v[i].id, "%s", PQgetvalue(res, i, 2));
        snprintf(v[i].name, sizeof v[i].name, "%s", PQgetvalue(res, i, 3));
        snprintf(v[i].user_id, sizeof v[i].user_id, "%s", PQgetvalue(res, i, 4));
        snprintf(v[i].status, sizeof v[i].status, "%s", PQgetvalue(res, i, 5));
        snprintf(v[i].reason, sizeof v[i].reason, "%s", PQgetvalue(res, i, 6));
    }
    PQclear(res);
    *out = v;
    *n = cnt;
    return CX_OK;
}

cx_status rooms_waiting_leave(cx_pg_pool *pg, const char *room_id, const char *wid,
                              rooms_waiting *out, bool *changed)
{
    PGresult *res = NULL;
    *changed = false;
    const char *p[] = {room_id, wid};
    cx_status s = cx_pg_exec(
        pg,
        "UPDATE room_waiting SET status = 'left', decided_at = now() "
        "WHERE room_id = $1 AND id = $2 AND status = 'waiting' RETURNING id",
        2, p, &res);
    if (s != CX_OK)
        return s;
    *changed = PQntuples(res) == 1;
    PQclear(res);
    return rooms_waiting_get(pg, room_id, wid, out);
}
