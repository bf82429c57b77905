/* presence.c: webhook state in Redis.
 *
 * Keys (all per LiveKit room name, with the name as Redis Cluster hash tag
 * so one script may touch them all, see cx_roomkeys.h; the rooms daemon
 * reads cx:presence:{*}):
 *   cx:webhook:event:{<room>}:<id> "done" once the event is stored (dedup);
 *                              an older copy's "pending" claim means "busy"
 *   cx:presence:{<room>}       HASH identity -> {"identity","name","sid",
 *                              "joined_at" (unix s),"kind","ts" (createdAt)}
 *   cx:presence-ts:{<room>}    HASH identity -> createdAt of the last applied
 *                              participant event (out-of-order guard)
 *   cx:tracks:{<room>}         HASH identity -> published track count
 *   cx:track-ts:{<room>}       HASH track sid -> "<createdAt>:<p|u>"
 *   cx:room-finished:{<room>}  createdAt of the newest room_finished applied
 *                              (WH_FINISH_GUARD_S; everything else of the
 *                              room is deleted by room_finished)
 * Every change runs in one Lua script (atomic) that also does the
 * de-duplication by event id, compares createdAt so an older event never
 * overwrites newer state, and refreshes the TTL of the room's keys so a lost
 * participant_left cannot leave a ghost forever. Scripts run by SHA
 * (cx_redis_evalsha). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx_log.h"
#include "cx_roomkeys.h"
#include "webhook.h"


/* Every state script is one body wrapped in the de-duplication, so that
 * "apply the event" and "remember its id as done" are one atomic step.
 * KEYS[1] is cx:webhook:event:{<room>}:<id>, ARGV[1] "1" (de-duplicate) or "0" (an
 * event without id), ARGV[2] the dedup TTL. The body sees its own keys and
 * arguments as K[1..] and A[1..] and returns 1 (applied) or 2 (older than
 * the current state). The wrapper returns 0 for a repeat and 3 while
 * another delivery holds the id ("pending", an in-progress claim of an
 * older copy of the daemon). */
#define WP_WRAP(body)                                                                \
    "local K, A = {}, {}\n"                                                          \
    "for i = 2, #KEYS do K[i - 1] = KEYS[i] end\n"                                   \
    "for i = 3, #ARGV do A[i - 2] = ARGV[i] end\n"                                   \
    "local function apply()\n" body "end\n"                                          \
    "if ARGV[1] == '1' then\n"                                                       \
    "  local v = redis.call('GET', KEYS[1])\n"                                       \
    "  if v == 'done' then return 0 end\n"                                           \
    "  if v then return 3 end\n"                                                     \
    "end\n"                                                                          \
    "local r = apply()\n"                                                            \
    "if ARGV[1] == '1' then redis.call('SET', KEYS[1], 'done', 'EX', ARGV[2]) end\n" \
    "return r\n"

static cx_redis_script _mark_lua = CX_REDIS_SCRIPT(WP_WRAP("return 1\n"));

/* K presence, presence-ts, tracks, room-finished;
 * A op (join|leave), identity, ts, value, sid, ttl */
static cx_redis_script _presence_lua = CX_REDIS_SCRIPT(
    WP_WRAP("local ts = tonumber(A[3])\n"
            "local fin = redis.call('GET', K[4])\n"
            "if fin and ts < tonumber(fin) then return 2 end\n"
            "local last = redis.call('HGET', K[2], A[2])\n"
            "if last and ts < tonumber(last) then return 2 end\n"
            "if A[1] == 'join' then\n"
            "  redis.call('HSET', K[1], A[2], A[4])\n"
            "else\n"
            "  local cur = redis.call('HGET', K[1], A[2])\n"
            "  if cur and A[5] ~= '' then\n"
            "    local ok, o = pcall(cjson.decode, cur)\n"
            "    if ok and type(o) == 'table' and type(o.sid) == 'string' and o.sid ~= ''\n"
            "       and o.sid ~= A[5] then return 2 end\n" /* leave of an older session */
            "  end\n"
            "  redis.call('HDEL', K[1], A[2])\n"
            "  redis.call('HDEL', K[3], A[2])\n"
            "end\n"
            "redis.call('HSET', K[2], A[2], A[3])\n"
            "for i = 1, 3 do redis.call('EXPIRE', K[i], A[6]) end\n"
            "return 1\n"));

/* K tracks, track-ts, room-finished, presence, presence-ts;
 * A op (pub|unpub), identity, track sid, ts, ttl */
static cx_redis_script _tracks_lua = CX_REDIS_SCRIPT(
    WP_WRAP("local ts = tonumber(A[4])\n"
            "local fin = redis.call('GET', K[3])\n"
            "if fin and ts < tonumber(fin) then return 2 end\n"
            "local pts = redis.call('HGET', K[5], A[2])\n"
            "if pts and ts < tonumber(pts) and redis.call('HEXISTS', K[4], A[2]) == 0 then\n"
            "  return 2\n" /* the participant left after this event */
            "end\n"
            "local was = false\n"
            "local old = redis.call('HGET', K[2], A[3])\n"
            "if old then\n"
            "  local ots, st = string.match(old, '^(%d+):(%a)$')\n"
            "  if ots and ts < tonumber(ots) then return 2 end\n"
            "  was = (st == 'p')\n"
            "end\n"
            "local now = (A[1] == 'pub')\n"
            "redis.call('HSET', K[2], A[3], A[4] .. ':' .. (now and 'p' or 'u'))\n"
            "if now and not was then\n"
            "  redis.call('HINCRBY', K[1], A[2], 1)\n"
            "elseif was and not now then\n"
            "  local c = tonumber(redis.call('HGET', K[1], A[2]) or '0')\n"
            "  if c <= 1 then redis.call('HDEL', K[1], A[2])\n"
            "  else redis.call('HINCRBY', K[1], A[2], -1) end\n"
            "end\n"
            "redis.call('EXPIRE', K[1], A[5])\n"
            "redis.call('EXPIRE', K[2], A[5])\n"
            "return 1\n"));

/* K presence, presence-ts, tracks, track-ts, room-finished; A ts, guard ttl.
 * The room is over: all of its state goes, whatever its times (Calixio
 * never reopens an ended room); only the finish time stays, briefly. */
static cx_redis_script _finish_lua = CX_REDIS_SCRIPT(
    WP_WRAP("local fin = redis.call('GET', K[5])\n"
            "if not fin or tonumber(A[1]) > tonumber(fin) then\n"
            "  redis.call('SET', K[5], A[1], 'EX', A[2])\n"
            "end\n"
            "redis.call('DEL', K[1], K[2], K[3], K[4])\n"
            "return 1\n"));

static bool _room_keys_of(wh_room_keys *k, const wh_event *ev, const wh_ttls *t)
{
    bool ok = cx_roomkey(k->presence, sizeof k->presence, CX_RK_PRESENCE, ev->room_name) &&
              cx_roomkey(k->presence_ts, sizeof k->presence_ts, CX_RK_PRESENCE_TS,
                         ev->room_name) &&
              cx_roomkey(k->tracks, sizeof k->tracks, CX_RK_TRACKS, ev->room_name) &&
              cx_roomkey(k->track_ts, sizeof k->track_ts, CX_RK_TRACK_TS, ev->room_name) &&
              cx_roomkey(k->finished, sizeof k->finished, CX_RK_FINISHED, ev->room_name);
    snprintf(k->ts, sizeof k->ts, "%" PRId64, ev->created_at);
    snprintf(k->ttl, sizeof k->ttl, "%" PRId64, t->state_s);
    if (!ok)
        cx_log_error(NULL, "webhook: room name %.64s gives no Redis key", ev->room_name);
    return ok;
}

/* The script's answer (an integer wh_result) from a reply; frees it. */
static cx_status _answer(redisReply *rep, wh_result *res)
{
    long long v = 0;
    if (rep->type != REDIS_REPLY_INTEGER) {
        cx_log_error(NULL, "webhook: state script answered type %d, not an integer", rep->type);
        freeReplyObject(rep);
        return CX_ERR_INTERNAL;
    }
    v = rep->integer;
    freeReplyObject(rep);
    if (v < WH_R_DUP || v > WH_R_BUSY) {
        cx_log_error(NULL, "webhook: state script answered %lld", v);
        return CX_ERR_INTERNAL;
    }
    *res = (wh_result)v;
    return CX_OK;
}

/* rc as a call of sc for ev: the de-duplication key and arguments in front
 * of the script's own keys[0..nkeys) and args[0..nargs) (borrowed: they
 * must live as long as rc, e.g. in rc->k). */
static cx_status _init(wh_rcall *rc, cx_redis_script *sc, const wh_event *ev, const wh_ttls *t,
                       int nkeys, const char *const *keys, int nargs, const char *const *args)
{
    memset(&rc->call, 0, sizeof rc->call);
    if (nkeys + 1 > WH_RCALL_KEYS || nargs + 2 > WH_RCALL_ARGS)
        return CX_ERR_INTERNAL;
    if (!cx_roomkey_event(rc->dedup, sizeof rc->dedup, ev->room_name, ev->id))
        return CX_ERR_INTERNAL;
    snprintf(rc->dttl, sizeof rc->dttl, "%" PRId64, t->dedup_s);
    rc->keys[0] = rc->dedup;
    rc->args[0] = ev->id[0] ? "1" : "0";
    rc->args[1] = rc->dttl;
    for (int i = 0; i < nkeys; i++)
        rc->keys[i + 1] = keys[i];
    for (int i = 0; i < nargs; i++)
        rc->args[i + 2] = args[i];
    rc->call = (cx_redis_call){.sc = sc,
                               .nkeys = nkeys + 1,
                               .keys = rc->keys,
                               .nargs = nargs + 2,
                               .args = rc->args};
    return CX_OK;
}

/* Runs a prepared rc now, alone, on c. */
static cx_status _run(cx_redis_conn *c, wh_rcall *rc, cx_status prepared, wh_result *res)
{
    if (prepared == CX_OK)
        cx_redis_evalsha_many(c, &rc->call, 1);
    else
        rc->call.status = prepared;
    return wh_rcall_finish(rc, res);
}

cx_status wh_mark_done(cx_redis_conn *c, const wh_event *ev, const wh_ttls *t, wh_result *res)
{
    wh_rcall rc = {.value = NULL};
    return _run(c, &rc, _init(&rc, &_mark_lua, ev, t, 0, NULL, 0, NULL), res);
}

/* The presence value stored for a joined participant: malloced JSON text. */
static char *_presence_value(const wh_event *ev)
{
    int64_t joined = ev->p_joined_at ? ev->p_joined_at : ev->created_at;
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:I}", "identity", ev->p_identity, "name",
                          ev->p_name, "sid", ev->p_sid, "joined_at", (json_int_t)joined, "kind",
                          ev->p_kind, "ts", (json_int_t)ev->created_at);
    if (!o)
        return NULL;
    char *txt = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return txt;
}

cx_status wh_rcall_prepare(wh_rcall *rc, const wh_event *ev, const wh_ttls *t, bool mark_only)
{
    bool join = ev->type == WH_EV_PARTICIPANT_JOINED;

    rc->value = NULL;
    if (mark_only)
        return _init(rc, &_mark_lua, ev, t, 0, NULL, 0, NULL);
    memset(&rc->call, 0, sizeof rc->call);
    if (!_room_keys_of(&rc->k, ev, t))
        return CX_ERR_INTERNAL;
    if (join && !(rc->value = _presence_value(ev)))
        return CX_ERR_NOMEM;
    const char *keys[] = {rc->k.presence, rc->k.presence_ts, rc->k.tracks, rc->k.finished};
    const char *args[] = {join ? "join" : "leave",    ev->p_identity, rc->k.ts,
                          rc->value ? rc->value : "", ev->p_sid,      rc->k.ttl};
    return _init(rc, &_presence_lua, ev, t, 4, keys, 6, args);
}

cx_status wh_rcall_finish(wh_rcall *rc, wh_result *res)
{
    cx_status s = rc->call.status;
    free(rc->value);
    rc->value = NULL;
    if (s == CX_OK && rc->call.reply)
        s = _answer(rc->call.reply, res);
    else if (s == CX_OK) /* never run */
        s = CX_ERR_INTERNAL;
    else if (rc->call.reply)
        freeReplyObject(rc->call.reply);
    rc->call.reply = NULL;
    return s;
}

cx_status wh_tracks_apply(cx_redis_conn *c, const wh_event *ev, const wh_ttls *t,
                          wh_result *res)
{
    wh_rcall rc = {.value = NULL};
    if (!_room_keys_of(&rc.k, ev, t))
        return CX_ERR_INTERNAL;
    const char *keys[] = {rc.k.tracks, rc.k.track_ts, rc.k.finished, rc.k.presence,
                          rc.k.presence_ts};
    const char *args[] = {ev->type == WH_EV_TRACK_PUBLISHED ? "pub" : "unpub", ev->p_identity,
                          ev->track_sid, rc.k.ts, rc.k.ttl};
    return _run(c, &rc, _init(&rc, &_tracks_lua, ev, t, 5, keys, 5, args), res);
}

cx_status wh_room_clear(cx_redis_conn *c, const wh_event *ev, const wh_ttls *t, wh_result *res)
{
    wh_rcall rc = {.value = NULL};
    char guard[24];
    if (!_room_keys_of(&rc.k, ev, t))
        return CX_ERR_INTERNAL;
    snprintf(guard, sizeof guard, "%d", WH_FINISH_GUARD_S);
    const char *keys[] = {rc.k.presence, rc.k.presence_ts, rc.k.tracks, rc.k.track_ts,
                          rc.k.finished};
    const char *args[] = {rc.k.ts, guard};
    return _run(c, &rc, _init(&rc, &_finish_lua, ev, t, 5, keys, 2, args), res);
}
