/* cx_roomkeys.c: see cx_roomkeys.h. */
#include "cx_roomkeys.h"

#include <hiredis/hiredis.h>

#include "cx_redis.h"

#include <stdio.h>
#include <string.h>

/* One row per kind: the prefix up to and including the tag's '{'. */
static const char *const _prefix[CX_RK_N] = {
    [CX_RK_PRESENCE] = "cx:presence:{",      [CX_RK_PRESENCE_TS] = "cx:presence-ts:{",
    [CX_RK_TRACKS] = "cx:tracks:{",          [CX_RK_TRACK_TS] = "cx:track-ts:{",
    [CX_RK_FINISHED] = "cx:room-finished:{",
};

static bool _usable(const char *room)
{
    return room && room[0] && room[0] != '}';
}

const char *cx_roomkey_prefix(cx_roomkey_kind kind)
{
    return (unsigned)kind < CX_RK_N ? _prefix[kind] : "";
}

bool cx_roomkey(char *buf, size_t cap, cx_roomkey_kind kind, const char *livekit_room)
{
    if (!buf || !cap)
        return false;
    buf[0] = '\0';
    if ((unsigned)kind >= CX_RK_N || !_usable(livekit_room))
        return false;
    int n = snprintf(buf, cap, "%s%s}", _prefix[kind], livekit_room);
    if (n < 0 || (size_t)n >= cap) {
        buf[0] = '\0';
        return false;
    }
    return true;
}

bool cx_roomkey_event(char *buf, size_t cap, const char *livekit_room, const char *event_id)
{
    if (!buf || !cap)
        return false;
    int n = snprintf(buf, cap, "cx:webhook:event:{%s}:%s",
                     _usable(livekit_room) ? livekit_room : "", event_id ? event_id : "");
    if (n < 0 || (size_t)n >= cap) {
        buf[0] = '\0';
        return false;
    }
    return true;
}

bool cx_roomkey_room(const char *key, size_t len, cx_roomkey_kind kind, char *room, size_t cap)
{
    if (!key || !room || !cap || (unsigned)kind >= CX_RK_N)
        return false;
    size_t pl = strlen(_prefix[kind]);
    /* prefix, at least one byte of name, the closing '}' last */
    if (len < pl + 2 || memcmp(key, _prefix[kind], pl) != 0 || key[len - 1] != '}')
        return false;
    size_t n = len - pl - 1;
    if (n >= cap || memchr(key + pl, '\0', n))
        return false;
    memcpy(room, key + pl, n);
    room[n] = '\0';
    return _usable(room);
}

cx_status cx_roomkey_presence_count(struct cx_redis *r, const char *livekit_room, long long *n)
{
    char key[CX_ROOMKEY_MAX(128)];
    redisReply *rep = NULL;
    if (!r || !cx_roomkey(key, sizeof key, CX_RK_PRESENCE, livekit_room))
        return CX_ERR_UNAVAILABLE;
    const char *argv[] = {"HLEN", key};
    cx_status s = cx_redis_cmdv(r, &rep, 2, argv, NULL);
    if (s != CX_OK)
        return s;
    s = rep->type == REDIS_REPLY_INTEGER ? CX_OK : CX_ERR_UNAVAILABLE;
    if (s == CX_OK)
        *n = rep->integer;
    freeReplyObject(rep);
    return s;
}
