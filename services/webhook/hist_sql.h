/* hist_sql.h: the read statements of the history routes (hist_calls.c,
 * hist_audit.c), in a header of their own so that bench/hist_query.c runs
 * exactly the text and parameters the daemon runs (same prepared statement
 * names too): the benchmark cannot drift from the code it measures.
 * Parameters are text, as cx_pg_exec_prepared sends them; NULL where the
 * request has no value (no from/to/cursor). */
#ifndef WH_HIST_SQL_H
#define WH_HIST_SQL_H

/* The page sizes when the request says no limit: a first page. */
#define WH_CALLS_DEFAULT 20         /* /users/me/calls */
#define WH_CALLS_VISITS_DEFAULT 100 /* /rooms/{id}/history */
#define WH_AUDIT_DEFAULT 50         /* /rooms/{id}/audit */

/* GET /users/me/calls ("wh_calls"): $1 user id, $2 from, $3 to (RFC 3339 or
 * NULL), $4/$5 the cursor (joined_at unix us, visit id; NULL on the first
 * page), $6 limit + 1. Index: visits_user_idx. */
#define WH_CALLS_SQL                                                                   \
    "SELECT v.room_id::text, COALESCE(hr.name, ''), "                                  \
    "CASE WHEN v.user_id = hr.owner_user_id THEN 'host' ELSE v.role END, "             \
    "extract(epoch FROM v.joined_at)::bigint, extract(epoch FROM v.left_at)::bigint, " \
    "v.leave_reason, history_visit_seconds(v.joined_at, v.left_at), v.id, "            \
    "((extract(epoch FROM v.joined_at) * 1000000)::numeric)::bigint "                  \
    "FROM visits v LEFT JOIN history_rooms hr ON hr.room_id = v.room_id "              \
    "WHERE v.user_id = $1::uuid AND v.joined_at IS NOT NULL "                          \
    "AND v.joined_at >= COALESCE($2::timestamptz, '-infinity') "                       \
    "AND v.joined_at < COALESCE($3::timestamptz, 'infinity') "                         \
    "AND (v.joined_at, v.id) < (COALESCE('epoch'::timestamptz + $4::bigint * "         \
    "interval '1 microsecond', 'infinity'), COALESCE($5::bigint, 0)) "                 \
    "ORDER BY v.joined_at DESC, v.id DESC LIMIT $6::int"

/* GET /rooms/{id}/history, the visits ("wh_history_visits"): $1 room id,
 * $2/$3 the cursor (NULL on the first page), $4 limit + 1. Index:
 * visits_room_idx. */
#define WH_CALLS_VISITS_SQL                                                            \
    "SELECT v.identity, v.name, v.user_id::text, "                                     \
    "CASE WHEN v.user_id = hr.owner_user_id THEN 'host' ELSE v.role END, "             \
    "extract(epoch FROM v.joined_at)::bigint, extract(epoch FROM v.left_at)::bigint, " \
    "v.leave_reason, history_visit_seconds(v.joined_at, v.left_at), v.id, "            \
    "((extract(epoch FROM v.joined_at) * 1000000)::numeric)::bigint "                  \
    "FROM visits v LEFT JOIN history_rooms hr ON hr.room_id = v.room_id "              \
    "WHERE v.room_id = $1::uuid AND v.joined_at IS NOT NULL "                          \
    "AND (v.joined_at, v.id) < (COALESCE('epoch'::timestamptz + $2::bigint * "         \
    "interval '1 microsecond', 'infinity'), COALESCE($3::bigint, 0)) "                 \
    "ORDER BY v.joined_at DESC, v.id DESC LIMIT $4::int"

/* GET /rooms/{id}/history, the totals ("wh_history_room"): $1 room id. */
#define WH_CALLS_ROOM_SQL                                                                   \
    "SELECT extract(epoch FROM started_at)::bigint, extract(epoch FROM ended_at)::bigint, " \
    "participants, total_seconds FROM history_rooms WHERE room_id = $1::uuid"

/* GET /rooms/{id}/audit ("wh_audit_list"): $1 room id, $2 the cursor (an
 * entry id; NULL on the first page), $3 limit + 1. Newest first is
 * "ORDER BY -id", not "id DESC": only audit_entries_room_newest_idx
 * (room_id, (-id)) provides that order, so the planner cannot walk the
 * primary key backwards filtering on the room instead (migration 0010). */
#define WH_AUDIT_LIST_SQL                                                              \
    "SELECT id, extract(epoch FROM at)::bigint, actor_identity, actor_user_id::text, " \
    "actor_name, action, target, reason, role FROM audit_entries "                     \
    "WHERE room_id = $1::uuid AND -id > -COALESCE($2::bigint, 9223372036854775807) "   \
    "ORDER BY -id LIMIT $3::int"

#endif
