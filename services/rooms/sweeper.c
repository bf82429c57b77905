/* sweeper.c: the rooms daemon's periodic task.
 *
 * Every run (all bounded, each step independent of the others):
 *  1. ends rooms active for longer than ROOM_MAX_AGE (event + DeleteRoom owed),
 *     scheduled rooms nobody started within ROOM_MAX_AGE of their time, and
 *     rooms whose scheduled_end_at has come;
 *  2. retries the DeleteRooms still owed (livekit_delete_pending);
 *  3. deletes LiveKit rooms named cx-<id> that have no live row (a create
 *     whose LiveKit call timed out after LiveKit acted, a lost rollback),
 *     once they are older than the orphan grace period;
 *  4. drops the Redis presence of rooms that have ended;
 *  5. settles waiting entries (issue 17): of ended rooms -> rejected
 *     (waiting.rejected), past WAITING_TTL -> expired (waiting.left).
 * Several copies of the daemon may sweep at once: every step is idempotent. */
#include <stdlib.h>
#include <string.h>

#include "cx_crypto.h"
#include "cx_log.h"
#include "cx_roomkeys.h"
#include "cx_time.h"
#include "rooms.h"

#define SWEEP_BATCH 100
#define SWEEP_SCAN_MAX 2000

static void _end_old(rooms_ctx *ctx)
{
    rooms_row *rows = NULL;
    int n = 0;
    if (rooms_store_end_old(ctx->pg, ctx->max_age_s, ctx->lk != NULL, &rows, &n) != CX_OK)
        return;
    for (int i = 0; i < n; i++) {
        cx_log_info(NULL, "room %s ended: active longer than %llds", rows[i].id,
                    (long long)ctx->max_age_s);
        rooms_publish(ctx, "ended", &rows[i], NULL);
        rooms_presence_drop(ctx, rows[i].livekit_room, NULL);
    }
    rooms_rows_free(rows, n);
    rows = NULL;
    n = 0;
    if (rooms_store_end_scheduled(ctx->pg, ctx->max_age_s, ctx->lk != NULL, &rows, &n) != CX_OK)
        return;
    for (int i = 0; i < n; i++) {
        cx_log_info(NULL, "room %s ended: %s", rows[i].id,
                    rows[i].started_at[0] ? "its scheduled end came"
                                          : "nobody started it in time");
        rooms_publish(ctx, "ended", &rows[i], NULL);
        rooms_presence_drop(ctx, rows[i].livekit_room, NULL);
    }
    rooms_rows_free(rows, n);
}

static void _retry_deletes(rooms_ctx *ctx)
{
    char **names = NULL;
    int n = 0;
    if (!ctx->lk || rooms_store_pending_deletes(ctx->pg, SWEEP_BATCH, &names, &n) != CX_OK)
        return;
    for (int i = 0; i < n; i++) {
        if (cx_livekit_delete_room(ctx->lk, names[i], NULL) != CX_OK)
            break; /* LiveKit still down: next run */
        if (rooms_store_delete_done(ctx->pg, names[i]) == CX_OK)
            cx_log_info(NULL, "LiveKit room %s deleted (retried)", names[i]);
    }
    rooms_free_strv(names, n);
}

static void _orphans(rooms_ctx *ctx)
{
    cx_lk_room *rooms = NULL;
    size_t n = 0;
    int64_t now = cx_now_s();
    if (!ctx->lk || cx_livekit_list_rooms(ctx->lk, &rooms, &n, NULL) != CX_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        char status[8];
        const char *name = rooms[i].name;
        if (strncmp(name, ROOMS_LK_PREFIX, strlen(ROOMS_LK_PREFIX)) != 0 ||
            !cx_uuid_valid_str(name + strlen(ROOMS_LK_PREFIX)))
            continue; /* not ours */
        if (rooms[i].creation_time <= 0 || now - rooms[i].creation_time < ctx->orphan_grace_s)
            continue; /* may belong to a create still in flight */
        if (rooms_store_status_by_lk(ctx->pg, name, status) != CX_OK)
            break;
        if (status[0] && strcmp(status, "ended") != 0)
            continue;
        cx_log_warn(NULL, "LiveKit room %s has %s; deleting it", name,
                    status[0] ? "an ended row" : "no row");
        if (cx_livekit_delete_room(ctx->lk, name, NULL) != CX_OK)
            break;
        if (status[0])
            rooms_store_delete_done(ctx->pg, name);
    }
    cx_lk_rooms_free(rooms, n);
}

/* SCANs one Redis server (a cluster master) for presence of ended rooms. */
static void _presence_on(rooms_ctx *ctx, int master)
{
    char cursor[32] = "0";
    int seen = 0;
    do {
        redisReply *r = NULL;
        if (cx_redis_cmd_on(ctx->redis, master, &r, "SCAN %s MATCH %s* COUNT 200", cursor,
                            cx_roomkey_prefix(CX_RK_PRESENCE)) != CX_OK)
            return;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            return;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        const redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++, seen++) {
            char status[8], lk_room[128];
            const redisReply *k = keys->element[i];
            if (k->type != REDIS_REPLY_STRING ||
                !cx_roomkey_room(k->str, k->len, CX_RK_PRESENCE, lk_room, sizeof lk_room))
                continue;
            if (rooms_store_status_by_lk(ctx->pg, lk_room, status) != CX_OK) {
                freeReplyObject(r);
                return;
            }
            if (strcmp(status, "ended") == 0)
                rooms_presence_drop(ctx, lk_room, NULL);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0 && seen < SWEEP_SCAN_MAX);
}

static void _presence(rooms_ctx *ctx)
{
    int n = cx_redis_masters(ctx->redis);
    for (int m = 0; m < n; m++)
        _presence_on(ctx, m);
}

static void _waiting(rooms_ctx *ctx)
{
    rooms_waiting_ev *v = NULL;
    int n = 0;
    if (rooms_waiting_sweep(ctx->pg, SWEEP_BATCH, &v, &n) != CX_OK)
        return;
    for (int i = 0; i < n; i++) {
        bool rejected = strcmp(v[i].status, "rejected") == 0;
        rooms_publish_waiting(ctx, v[i].room_id, v[i].livekit_room,
                              rejected ? "rejected" : "left", v[i].id, v[i].name, v[i].user_id,
                              rejected ? v[i].reason : NULL, NULL);
    }
    free(v);
}

void rooms_sweep(void *arg)
{
    rooms_ctx *ctx = arg;
    _end_old(ctx);
    _retry_deletes(ctx);
    _orphans(ctx);
    _presence(ctx);
    _waiting(ctx);
}
