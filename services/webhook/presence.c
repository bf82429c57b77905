/* presence.c: webhook state in Redis.
 *
 * Keys (all per LiveKit room name; the rooms daemon reads cx:presence:*):
 *   cx:webhook:event:<id>      "pending" while processed, then "done" (dedup)
 *   cx:presence:<room>         HASH identity -> {"identity","name","sid",
 *                              "joined_at" (unix s),"kind","ts" (createdAt)}
 *   cx:presence-ts:<room>      HASH identity -> createdAt of the last applied
 *                              participant event (out-of-order guard)
 *   cx:tracks:<room>           HASH identity -> published track count
 *   cx:track-ts:<room>         HASH track sid -> "<createdAt>:<p|u>"
 *   cx:room-finished:<room>    createdAt of the newest room_finished applied
 * Every change runs in one Lua script (atomic), compares createdAt so an
 * older event never overwrites newer state, and refreshes the TTL of the
 * room's keys so a lost participant_left cannot leave a ghost forever. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx_log.h"
#include "webhook.h"

#define _KEY_MAX (32 + WH_MAX_ROOM + WH_MAX_ID)

static const char _claim_lua[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if v == 'done' then return 0 end\n"
    "if v then return 2 end\n"
    "redis.call('SET', KEYS[1], 'pending', 'EX', ARGV[1])\n"
    "return 1\n";

static const char _release_lua[] =
    "if redis.call('GET', KEYS[1]) == 'pending' then redis.call('DEL', KEYS[1]) end\n"
    "return 1\n";

/* KEYS presence, presence-ts, tracks, room-finished;
 * ARGV op (join|leave), identity, ts, value, sid, ttl */
static const char _presence_lua[] =
    "local ts = tonumber(ARGV[3])\n"
    "local fin = redis.call('GET', KEYS[4])\n"
    "if fin and ts < tonumber(fin) then return 0 end\n"
    "local last = redis.call('HGET', KEYS[2], ARGV[2])\n"
    "if last and ts < tonumber(last) then return 0 end\n"
    "if ARGV[1] == 'join' then\n"
    "  redis.call('HSET', KEYS[1], ARGV[2], ARGV[4])\n"
    "else\n"
    "  local cur = redis.call('HGET', KEYS[1], ARGV[2])\n"
    "  if cur and ARGV[5] ~= '' then\n"
    "    local ok, o = pcall(cjson.decode, cur)\n"
    "    if ok and type(o) == 'table' and type(o.sid) == 'string' and o.sid ~= ''\n"
    "       and o.sid ~= ARGV[5] then return 0 end\n" /* leave of an older session */
    "  end\n"
    "  redis.call('HDEL', KEYS[1], ARGV[2])\n"
    "  redis.call('HDEL', KEYS[3], ARGV[2])\n"
    "end\n"
    "redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])\n"
    "for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[6]) end\n"
    "return 1\n";

/* KEYS tracks, track-ts, room-finished, presence, presence-ts;
 * ARGV op (pub|unpub), identity, track sid, ts, ttl */
static const char _tracks_lua[] =
    "local ts = tonumber(ARGV[4])\n"
    "local fin = redis.call('GET', KEYS[3])\n"
    "if fin and ts < tonumber(fin) then return 0 end\n"
    "local pts = redis.call('HGET', KEYS[5], ARGV[2])\n"
    "if pts and ts < tonumber(pts) and redis.call('HEXISTS', KEYS[4], ARGV[2]) == 0 then\n"
    "  return 0\n" /* the participant left after this event */
    "end\n"
    "local was = false\n"
    "local old = redis.call('HGET', KEYS[2], ARGV[3])\n"
    "if old then\n"
    "  local ots, st = string.match(old, '^(%d+):(%a)$')\n"
    "  if ots and ts < tonumber(ots) then return 0 end\n"
    "  was = (st == 'p')\n"
    "end\n"
    "local now = (ARGV[1] == 'pub')\n"
    "redis.call('HSET', KEYS[2], ARGV[3], ARGV[4] .. ':' .. (now and 'p' or 'u'))\n"
    "if now and not was then\n"
    "  redis.call('HINCRBY', KEYS[1], ARGV[2], 1)\n"
    "elseif was and not now then\n"
    "  local c = tonumber(redis.call('HGET', KEYS[1], ARGV[2]) or '0')\n"
    "  if c <= 1 then redis.call('HDEL', KEYS[1], ARGV[2])\n"
    "  else redis.call('HINCRBY', KEYS[1], ARGV[2], -1) end\n"
    "end\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[5])\n"
    "redis.call('EXPIRE', KEYS[2], ARGV[5])\n"
    "return 1\n";

/* KEYS presence, presence-ts, tracks, track-ts, room-finished; ARGV ts, ttl */
static const char _finish_lua[] =
    "local ts = tonumber(ARGV[1])\n"
    "local fin = redis.call('GET', KEYS[5])\n"
    "if not fin or ts > tonumber(fin) then\n"
    "  redis.call('SET', KEYS[5], ARGV[1], 'EX', ARGV[2])\n"
    "end\n"
    "local p = redis.call('HGETALL', KEYS[2])\n"
    "for i = 1, #p, 2 do\n"
    "  if tonumber(p[i + 1]) <= ts then\n"
    "    redis.call('HDEL', KEYS[1], p[i])\n"
    "    redis.call('HDEL', KEYS[2], p[i])\n"
    "    redis.call('HDEL', KEYS[3], p[i])\n"
    "  end\n"
    "end\n"
    "if redis.call('HLEN', KEYS[2]) == 0 then\n"
    "  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])\n"
    "end\n"
    "local t = redis.call('HGETALL', KEYS[4])\n"
    "for i = 1, #t, 2 do\n"
    "  local tt = tonumber(string.match(t[i + 1], '^(%d+):'))\n"
    "  if not tt or tt <= ts then redis.call('HDEL', KEYS[4], t[i]) end\n"
    "end\n"
    "return 1\n";

/* Runs EVAL script with nkeys keys followed by args (all NUL-terminated).
 * *ret gets the integer result when ret is not NULL. */
static cx_status _eval(cx_redis *r, const char *script, int nkeys, const char *const *keys,
                       int nargs, const char *const *args, long long *ret)
{
    const char *argv[16];
    size_t lens[16];
    char nk[16];
    int argc = 0;

    if (3 + nkeys + nargs > 16)
        return CX_ERR_INTERNAL;
    snprintf(nk, sizeof nk, "%d", nkeys);
    argv[argc++] = "EVAL";
    argv[argc++] = script;
    argv[argc++] = nk;
    for (int i = 0; i < nkeys; i++)
        argv[argc++] = keys[i];
    for (int i = 0; i < nargs; i++)
        argv[argc++] = args[i];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);

    redisReply *rep = NULL;
    cx_status s = cx_redis_cmdv(r, &rep, argc, argv, lens);
    if (s != CX_OK)
        return s;
    if (rep->type != REDIS_REPLY_INTEGER) {
        s = CX_ERR_INTERNAL;
        goto out_free_reply;
    }
    if (ret)
        *ret = rep->integer;
out_free_reply:
    freeReplyObject(rep);
    return s;
}

static void _key(char *buf, size_t cap, const char *kind, const char *name)
{
    snprintf(buf, cap, "cx:%s:%s", kind, name);
}

cx_status wh_dedup_claim(cx_redis *r, const char *id, int64_t pending_ttl_s, wh_claim *out)
{
    char key[_KEY_MAX], ttl[24];
    long long v = 0;
    _key(key, sizeof key, "webhook:event", id);
    snprintf(ttl, sizeof ttl, "%" PRId64, pending_ttl_s);
    const char *keys[] = {key};
    const char *args[] = {ttl};
    cx_status s = _eval(r, _claim_lua, 1, keys, 1, args, &v);
    if (s == CX_OK)
        *out = v == 1 ? WH_CLAIM_NEW : v == 0 ? WH_CLAIM_DONE : WH_CLAIM_BUSY;
    return s;
}

cx_status wh_dedup_done(cx_redis *r, const char *id, int64_t ttl_s)
{
    char key[_KEY_MAX], ttl[24];
    _key(key, sizeof key, "webhook:event", id);
    snprintf(ttl, sizeof ttl, "%" PRId64, ttl_s);
    const char *argv[] = {"SET", key, "done", "EX", ttl};
    size_t lens[5];
    for (int i = 0; i < 5; i++)
        lens[i] = strlen(argv[i]);
    return cx_redis_cmdv(r, NULL, 5, argv, lens);
}

void wh_dedup_release(cx_redis *r, const char *id)
{
    char key[_KEY_MAX];
    _key(key, sizeof key, "webhook:event", id);
    const char *keys[] = {key};
    if (_eval(r, _release_lua, 1, keys, 0, NULL, NULL) != CX_OK)
        cx_log_warn(NULL, "webhook: could not release in-progress marker of %s "
                          "(it expires by itself)", id);
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

cx_status wh_presence_apply(cx_redis *r, const wh_event *ev, int64_t ttl_s, bool *applied)
{
    char kp[_KEY_MAX], kts[_KEY_MAX], ktr[_KEY_MAX], kfin[_KEY_MAX];
    char ts[24], ttl[24];
    long long v = 0;
    bool join = ev->type == WH_EV_PARTICIPANT_JOINED;
    char *value = join ? _presence_value(ev) : NULL;
    if (join && !value)
        return CX_ERR_NOMEM;

    _key(kp, sizeof kp, "presence", ev->room_name);
    _key(kts, sizeof kts, "presence-ts", ev->room_name);
    _key(ktr, sizeof ktr, "tracks", ev->room_name);
    _key(kfin, sizeof kfin, "room-finished", ev->room_name);
    snprintf(ts, sizeof ts, "%" PRId64, ev->created_at);
    snprintf(ttl, sizeof ttl, "%" PRId64, ttl_s);
    const char *keys[] = {kp, kts, ktr, kfin};
    const char *args[] = {join ? "join" : "leave", ev->p_identity, ts, value ? value : "",
                          ev->p_sid, ttl};
    cx_status s = _eval(r, _presence_lua, 4, keys, 6, args, &v);
    if (s == CX_OK && applied)
        *applied = v == 1;
    free(value);
    return s;
}

cx_status wh_tracks_apply(cx_redis *r, const wh_event *ev, int64_t ttl_s, bool *applied)
{
    char ktr[_KEY_MAX], ktt[_KEY_MAX], kfin[_KEY_MAX], kp[_KEY_MAX], kts[_KEY_MAX];
    char ts[24], ttl[24];
    long long v = 0;

    _key(ktr, sizeof ktr, "tracks", ev->room_name);
    _key(ktt, sizeof ktt, "track-ts", ev->room_name);
    _key(kfin, sizeof kfin, "room-finished", ev->room_name);
    _key(kp, sizeof kp, "presence", ev->room_name);
    _key(kts, sizeof kts, "presence-ts", ev->room_name);
    snprintf(ts, sizeof ts, "%" PRId64, ev->created_at);
    snprintf(ttl, sizeof ttl, "%" PRId64, ttl_s);
    const char *keys[] = {ktr, ktt, kfin, kp, kts};
    const char *args[] = {ev->type == WH_EV_TRACK_PUBLISHED ? "pub" : "unpub", ev->p_identity,
                          ev->track_sid, ts, ttl};
    cx_status s = _eval(r, _tracks_lua, 5, keys, 5, args, &v);
    if (s == CX_OK && applied)
        *applied = v == 1;
    return s;
}

cx_status wh_room_clear(cx_redis *r, const wh_event *ev, int64_t ttl_s)
{
    char kp[_KEY_MAX], kts[_KEY_MAX], ktr[_KEY_MAX], ktt[_KEY_MAX], kfin[_KEY_MAX];
    char ts[24], ttl[24];

    _key(kp, sizeof kp, "presence", ev->room_name);
    _key(kts, sizeof kts, "presence-ts", ev->room_name);
    _key(ktr, sizeof ktr, "tracks", ev->room_name);
    _key(ktt, sizeof ktt, "track-ts", ev->room_name);
    _key(kfin, sizeof kfin, "room-finished", ev->room_name);
    snprintf(ts, sizeof ts, "%" PRId64, ev->created_at);
    snprintf(ttl, sizeof ttl, "%" PRId64, ttl_s);
    const char *keys[] = {kp, kts, ktr, ktt, kfin};
    const char *args[] = {ts, ttl};
    return _eval(r, _finish_lua, 5, keys, 2, args, NULL);
}
