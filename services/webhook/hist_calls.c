/* hist_calls.c: GET /users/me/calls and GET /rooms/{id}/history.
 *
 * Visits are rows of `visits`, kept by the triggers of
 * migrations/0009_history.sql from every stored participant event (so a
 * repeated, reordered or missing webhook is handled where the rows are
 * written, once). Pages are newest first on (joined_at, id): the cursor is
 * the last row's key, so entries that arrive while a client pages (newer
 * ones, above the first page) never shift a later page: nothing repeats
 * and nothing is skipped. from is inclusive and to exclusive, both on
 * joined_at. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/history.pb-c.h"
#include "cx_json.h"
#include "hist.h"
#include "hist_sql.h"

#define WH_CALLS_PAGE_MAX 100

/* The key of a row as the opaque cursor "v1.<joined_at unix us>.<id>". */
static char *_cursor(const PGresult *r, int row, int us_col, int id_col)
{
    char buf[64];
    snprintf(buf, sizeof buf, "v1.%s.%s", PQgetvalue(r, row, us_col),
             PQgetvalue(r, row, id_col));
    return cx_strdup(buf);
}

/* Parses a cursor of _cursor into its two numbers (as text for the query). */
static bool _cursor_parse(const char *c, char us[24], char id[24])
{
    long long a, b;
    int n = 0;
    if (!c || strlen(c) > 48 || sscanf(c, "v1.%lld.%lld%n", &a, &b, &n) != 2 || c[n] != '\0' ||
        b < 0)
        return false;
    snprintf(us, 24, "%lld", a);
    snprintf(id, 24, "%lld", b);
    return true;
}

/* Checks limit (0 = default) and cursor; fills lim/us/id. */
static cx_status _page(cx_req *req, bool has_limit, int32_t limit, const char *cursor, int def,
                       char lim[12], char us[24], char id[24], bool *has_cursor)
{
    if (has_limit && (limit < 1 || limit > WH_CALLS_PAGE_MAX))
        return cx_req_field_error(req, "limit", limit < 1 ? "min" : "max");
    snprintf(lim, 12, "%d", has_limit ? (int)limit : def);
    *has_cursor = cursor && cursor[0];
    if (*has_cursor && !_cursor_parse(cursor, us, id))
        return cx_req_field_error(req, "cursor", "invalid");
    return CX_OK;
}

/* Sets *dst to a malloced copy of column col, leaving it NULL for SQL NULL. */
static bool _opt(const PGresult *r, int row, int col, char **dst)
{
    if (PQgetisnull(r, row, col))
        return true;
    *dst = cx_strdup(PQgetvalue(r, row, col));
    return *dst != NULL;
}

/* ---- /users/me/calls ------------------------------------------------------- */

static cx_status _calls_reply(const PGresult *r, int want, Calixio__V1__CallsReply **out)
{
    int n = PQntuples(r);
    int shown = n > want ? want : n;
    Calixio__V1__CallsReply *m = calloc(1, sizeof *m);
    if (!m)
        return CX_ERR_NOMEM;
    calixio__v1__calls_reply__init(m);
    m->calls = calloc((size_t)(shown ? shown : 1), sizeof *m->calls);
    bool ok = m->calls != NULL;
    for (int i = 0; ok && i < shown; i++) {
        Calixio__V1__Call *c = calloc(1, sizeof *c);
        if (!(ok = c != NULL))
            break;
        calixio__v1__call__init(c);
        m->calls[m->n_calls++] = c;
        c->room_id = wh_hist_str(r, i, 0);
        c->room_name = wh_hist_str(r, i, 1);
        c->role = wh_hist_str(r, i, 2);
        c->joined_at = wh_hist_time(r, i, 3);
        ok = c->room_id && c->room_name && c->role && c->joined_at;
        if (ok && !PQgetisnull(r, i, 4)) {
            ok = (c->left_at = wh_hist_time(r, i, 4)) != NULL;
            c->has_duration_s = 1;
            c->duration_s = strtoll(PQgetvalue(r, i, 6), NULL, 10);
        }
        ok = ok && _opt(r, i, 5, &c->leave_reason);
    }
    if (ok && n > want)
        ok = (m->next_cursor = _cursor(r, shown - 1, 8, 7)) != NULL;
    if (!ok) {
        protobuf_c_message_free_unpacked(&m->base, NULL);
        return CX_ERR_NOMEM;
    }
    *out = m;
    return CX_OK;
}

cx_status wh_h_calls(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                     void *ctx)
{
    wh_ctx *c = ctx;
    const Calixio__V1__CallsRequest *in = (const void *)in_;
    cx_bearer b;
    char lim[12], us[24], id[24], lim1[12];
    bool has_cursor = false;
    PGresult *res = NULL;

    cx_status s = cx_bearer_verify(c->auth, c->redis, req->authorization, CX_BEARER_ACCESS, &b);
    if (s != CX_OK)
        return s;
    if (in->from && !wh_hist_rfc3339_valid(in->from))
        return cx_req_field_error(req, "from", "rfc3339");
    if (in->to && !wh_hist_rfc3339_valid(in->to))
        return cx_req_field_error(req, "to", "rfc3339");
    if ((s = _page(req, in->has_limit, in->limit, in->cursor, WH_CALLS_DEFAULT, lim, us, id,
                   &has_cursor)) != CX_OK)
        return s;
    int want = atoi(lim);
    snprintf(lim1, sizeof lim1, "%d", want + 1); /* one more: is there a next page? */
    const char *params[] = {b.caller.user_id,       in->from, in->to, has_cursor ? us : NULL,
                            has_cursor ? id : NULL, lim1};
    s = cx_pg_exec_prepared(c->pg, "wh_calls", WH_CALLS_SQL, 6, params, &res);
    if (s != CX_OK)
        return s;
    Calixio__V1__CallsReply *m = NULL;
    s = _calls_reply(res, want, &m);
    PQclear(res);
    if (s == CX_OK)
        *out = &m->base;
    return s;
}

/* ---- /rooms/{id}/history ---------------------------------------------------- */

static cx_status _visit(const PGresult *r, int i, Calixio__V1__Visit **out)
{
    Calixio__V1__Visit *v = calloc(1, sizeof *v);
    if (!v)
        return CX_ERR_NOMEM;
    calixio__v1__visit__init(v);
    *out = v;
    v->identity = wh_hist_str(r, i, 0);
    v->name = wh_hist_str(r, i, 1);
    v->role = wh_hist_str(r, i, 3);
    v->joined_at = wh_hist_time(r, i, 4);
    bool ok = v->identity && v->name && v->role && v->joined_at && _opt(r, i, 2, &v->user_id) &&
              _opt(r, i, 6, &v->leave_reason);
    if (ok && !PQgetisnull(r, i, 5)) {
        ok = (v->left_at = wh_hist_time(r, i, 5)) != NULL;
        v->has_duration_s = 1;
        v->duration_s = strtoll(PQgetvalue(r, i, 7), NULL, 10);
    }
    return ok ? CX_OK : CX_ERR_NOMEM;
}

static cx_status _history_reply(const char *room_id, const PGresult *room, const PGresult *r,
                                int want, Calixio__V1__RoomHistory **out)
{
    int n = PQntuples(r);
    int shown = n > want ? want : n;
    Calixio__V1__RoomHistory *m = calloc(1, sizeof *m);
    if (!m)
        return CX_ERR_NOMEM;
    calixio__v1__room_history__init(m);
    m->room_id = cx_strdup(room_id);
    m->visits = calloc((size_t)(shown ? shown : 1), sizeof *m->visits);
    bool ok = m->room_id && m->visits;
    m->has_participants = m->has_total_minutes = 1;
    if (ok && PQntuples(room) == 1) {
        m->participants = atoi(PQgetvalue(room, 0, 2));
        /* whole minutes with one decimal */
        m->total_minutes = (double)(strtoll(PQgetvalue(room, 0, 3), NULL, 10) * 10 / 60) / 10.0;
        if (!PQgetisnull(room, 0, 0))
            ok = (m->started_at = wh_hist_time(room, 0, 0)) != NULL;
        if (ok && !PQgetisnull(room, 0, 1))
            ok = (m->ended_at = wh_hist_time(room, 0, 1)) != NULL;
    }
    for (int i = 0; ok && i < shown; i++) {
        ok = _visit(r, i, &m->visits[i]) == CX_OK;
        m->n_visits = (size_t)i + 1;
    }
    if (ok && n > want)
        ok = (m->next_cursor = _cursor(r, shown - 1, 9, 8)) != NULL;
    if (!ok) {
        protobuf_c_message_free_unpacked(&m->base, NULL);
        return CX_ERR_NOMEM;
    }
    *out = m;
    return CX_OK;
}

cx_status wh_h_history(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                       void *ctx)
{
    static const char *const allowed[] = {"host", "moderator", NULL};
    wh_ctx *c = ctx;
    const Calixio__V1__RoomHistoryRequest *in = (const void *)in_;
    wh_hist_caller who;
    char lim[12], us[24], id[24], lim1[12];
    bool has_cursor = false;
    PGresult *room = NULL, *res = NULL;

    cx_status s = wh_hist_caller_for_room(c, req, in->id, allowed, &who);
    if (s != CX_OK)
        return s;
    if ((s = _page(req, in->has_limit, in->limit, in->cursor, WH_CALLS_VISITS_DEFAULT, lim, us,
                   id, &has_cursor)) != CX_OK)
        return s;
    int want = atoi(lim);
    snprintf(lim1, sizeof lim1, "%d", want + 1);
    const char *rp[] = {in->id};
    const char *params[] = {in->id, has_cursor ? us : NULL, has_cursor ? id : NULL, lim1};
    s = cx_pg_exec_prepared(c->pg, "wh_history_room", WH_CALLS_ROOM_SQL, 1, rp, &room);
    if (s == CX_OK)
        s = cx_pg_exec_prepared(c->pg, "wh_history_visits", WH_CALLS_VISITS_SQL, 4, params,
                                &res);
    Calixio__V1__RoomHistory *m = NULL;
    if (s == CX_OK)
        s = _history_reply(in->id, room, res, want, &m);
    PQclear(room);
    PQclear(res);
    if (s == CX_OK)
        *out = &m->base;
    return s;
}
