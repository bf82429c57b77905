/* history.c: what the webhook daemon keeps in Postgres: the status of the
 * rooms row a LiveKit room belongs to, and the append-only participant
 * history (participant_events, written in groups by batch.c). Parameterised statements only, prepared
 * once per connection (cx_pg_exec_prepared; the names are this file's); every
 * write is idempotent so a retried delivery changes nothing twice. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webhook.h"

cx_status wh_room_lookup(cx_pg_pool *pg, const char *livekit_room, bool *found,
                         char room_id[37], bool *ended)
{
    PGresult *res = NULL;
    const char *params[] = {livekit_room};
    cx_status s = cx_pg_exec_prepared(pg, "wh_room_lookup",
                                      "SELECT id::text, status = 'ended' FROM rooms "
                                      "WHERE livekit_room = $1",
                                      1, params, &res);
    if (s != CX_OK)
        return s;
    *found = PQntuples(res) == 1;
    *ended = *found && strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    if (*found) {
        snprintf(room_id, 37, "%s", PQgetvalue(res, 0, 0));
    } else {
        room_id[0] = '\0';
    }
    PQclear(res);
    return CX_OK;
}

/* The columns of a changed row, in the order _row reads them. */
#define WHI_COLS                                                                    \
    "id::text, name, status, extract(epoch FROM created_at)::bigint, "              \
    "extract(epoch FROM ended_at)::bigint, owner_user_id::text, max_participants, " \
    "livekit_room"

static void _copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* res: zero or one row of WHI_COLS -> *out and *changed. */
static void _row(const PGresult *res, wh_room_row *out, bool *changed)
{
    memset(out, 0, sizeof *out);
    *changed = PQntuples(res) == 1;
    if (!*changed)
        return;
    _copy(out->id, sizeof out->id, PQgetvalue(res, 0, 0));
    _copy(out->name, sizeof out->name, PQgetvalue(res, 0, 1));
    _copy(out->status, sizeof out->status, PQgetvalue(res, 0, 2));
    out->created_at = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
    out->ended_at = PQgetisnull(res, 0, 4) ? 0 : strtoll(PQgetvalue(res, 0, 4), NULL, 10);
    _copy(out->owner_user_id, sizeof out->owner_user_id, PQgetvalue(res, 0, 5));
    out->max_participants = atoi(PQgetvalue(res, 0, 6));
    _copy(out->livekit_room, sizeof out->livekit_room, PQgetvalue(res, 0, 7));
}

/* Runs a prepared UPDATE ... RETURNING WHI_COLS. */
static cx_status _update(cx_pg_pool *pg, const char *name, const char *sql, int n,
                         const char *const *params, wh_room_row *out, bool *changed)
{
    PGresult *res = NULL;
    cx_status s = cx_pg_exec_prepared(pg, name, sql, n, params, &res);
    if (s != CX_OK)
        return s;
    _row(res, out, changed);
    PQclear(res);
    return CX_OK;
}

cx_status wh_room_mark_active(cx_pg_pool *pg, const char *livekit_room, wh_room_row *out,
                              bool *changed)
{
    const char *params[] = {livekit_room};
    return _update(pg, "wh_room_mark_active",
                   "UPDATE rooms SET status = 'active' "
                   "WHERE livekit_room = $1 AND status = 'pending' RETURNING " WHI_COLS,
                   1, params, out, changed);
}

cx_status wh_room_mark_ended(cx_pg_pool *pg, const char *livekit_room, int64_t at,
                             wh_room_row *out, bool *changed)
{
    char ts[24];
    snprintf(ts, sizeof ts, "%" PRId64, at);
    const char *params[] = {livekit_room, ts};
    return _update(pg, "wh_room_mark_ended",
                   "UPDATE rooms SET status = 'ended', ended_at = to_timestamp($2::bigint) "
                   "WHERE livekit_room = $1 AND status <> 'ended' RETURNING " WHI_COLS,
                   2, params, out, changed);
}
