/* history.c: what the webhook daemon keeps in Postgres: the status of the
 * rooms row a LiveKit room belongs to, and the append-only participant
 * history (participant_events, written in groups by batch.c). Parameterised statements only, prepared
 * once per connection (cx_pg_exec_prepared; the names are this file's); every
 * write is idempotent so a retried delivery changes nothing twice. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "webhook.h"

cx_status wh_room_lookup(cx_pg_pool *pg, const char *livekit_room, bool *found,
                         char room_id[37])
{
    PGresult *res = NULL;
    const char *params[] = {livekit_room};
    cx_status s = cx_pg_exec_prepared(pg, "wh_room_lookup",
                                      "SELECT id::text FROM rooms WHERE livekit_room = $1", 1,
                                      params, &res);
    if (s != CX_OK)
        return s;
    *found = PQntuples(res) == 1;
    if (*found) {
        snprintf(room_id, 37, "%s", PQgetvalue(res, 0, 0));
    } else {
        room_id[0] = '\0';
    }
    PQclear(res);
    return CX_OK;
}

cx_status wh_room_mark_active(cx_pg_pool *pg, const char *livekit_room)
{
    const char *params[] = {livekit_room};
    return cx_pg_exec_prepared(pg, "wh_room_mark_active",
                      "UPDATE rooms SET status = 'active' "
                      "WHERE livekit_room = $1 AND status = 'pending'",
                      1, params, NULL);
}

cx_status wh_room_mark_ended(cx_pg_pool *pg, const char *livekit_room, int64_t at)
{
    char ts[24];
    snprintf(ts, sizeof ts, "%" PRId64, at);
    const char *params[] = {livekit_room, ts};
    return cx_pg_exec_prepared(pg, "wh_room_mark_ended",
                      "UPDATE rooms SET status = 'ended', ended_at = to_timestamp($2::bigint) "
                      "WHERE livekit_room = $1 AND status <> 'ended'",
                      2, params, NULL);
}
