/* hist_access.c: who is calling about a room, and the small column
 * helpers of the hist_* files. The webhook service does not read the rooms
 * service's tables: an access token's holder is the host when rooms.get
 * (asked with that same Authorization, so rooms applies its own rules,
 * deleted rooms included) names them as the owner. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/common.pb-c.h"
#include "calixio/v1/rooms.pb-c.h"
#include "cx_json.h"
#include "cx_log.h"
#include "cx_svcreq.h"
#include "cx_time.h"
#include "hist.h"

#define WH_ACCESS_ROOMS_TIMEOUT_MS 2000

/* Asks rooms.get for room_id with req's Authorization; *owner receives the
 * owner's user id. */
static cx_status _room_owner(wh_ctx *c, cx_req *req, const char *room_id, char owner[64])
{
    Calixio__V1__RoomRef ref = CALIXIO__V1__ROOM_REF__INIT;
    ProtobufCMessage *rm = NULL;
    ref.id = (char *)room_id;
    cx_status s = cx_svcreq_call(atomic_load(&c->svc), "rooms.get", req, 0, &ref.base,
                                 &calixio__v1__room__descriptor, WH_ACCESS_ROOMS_TIMEOUT_MS,
                                 &rm);
    if (s == CX_OK) {
        const Calixio__V1__Room *r = (const void *)rm;
        snprintf(owner, 64, "%s", r->owner_user_id ? r->owner_user_id : "");
        protobuf_c_message_free_unpacked(rm, NULL);
    }
    return s;
}

static bool _allowed(const char *role, const char *const *allowed)
{
    for (int i = 0; allowed[i]; i++)
        if (strcmp(role, allowed[i]) == 0)
            return true;
    return false;
}

cx_status wh_hist_caller_for_room(wh_ctx *c, cx_req *req, const char *room_id,
                                  const char *const *allowed, wh_hist_caller *out)
{
    cx_bearer b;
    wh_hist_caller w;
    memset(&w, 0, sizeof w);
    if (!room_id)
        return CX_ERR_ROOM_NOT_FOUND;
    cx_status s = cx_bearer_verify(c->auth, c->redis, req->authorization,
                                   CX_BEARER_ACCESS | CX_BEARER_ROOM, &b);
    if (s != CX_OK)
        return s;
    if (b.kind == CX_BEARER_ROOM) {
        if (strcmp(b.room.room_id, room_id) != 0)
            return cx_req_fail(req, CX_ERR_ROOM_FORBIDDEN,
                               "this room token is for another room");
        snprintf(w.role, sizeof w.role, "%s", b.room.role);
        snprintf(w.identity, sizeof w.identity, "%s", b.room.identity);
        snprintf(w.name, sizeof w.name, "%s", b.room.name);
        snprintf(w.user_id, sizeof w.user_id, "%s", b.room.user_id);
        w.room_token = true;
    } else {
        char owner[64];
        if ((s = _room_owner(c, req, room_id, owner)) != CX_OK)
            return s;
        if (strcmp(owner, b.caller.user_id) != 0)
            return cx_req_fail(req, CX_ERR_ROOM_FORBIDDEN, "only the room's host may do this");
        snprintf(w.role, sizeof w.role, "host");
        snprintf(w.user_id, sizeof w.user_id, "%s", b.caller.user_id);
        snprintf(w.name, sizeof w.name, "%s", b.caller.username);
    }
    if (!_allowed(w.role, allowed))
        return cx_req_fail(req, CX_ERR_ROOM_FORBIDDEN, "the %s role may not do this", w.role);
    *out = w;
    return CX_OK;
}

char *wh_hist_time(const PGresult *r, int row, int col)
{
    char t[21];
    if (PQgetisnull(r, row, col))
        return NULL;
    cx_time_rfc3339(strtoll(PQgetvalue(r, row, col), NULL, 10), t);
    return cx_strdup(t);
}

char *wh_hist_str(const PGresult *r, int row, int col)
{
    return cx_strdup(PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

/* n digits at s. */
static bool _digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

bool wh_hist_rfc3339_valid(const char *s)
{
    if (!s || strlen(s) < 20 || !_digits(s, 4) || s[4] != '-' || !_digits(s + 5, 2) ||
        s[7] != '-' || !_digits(s + 8, 2) || (s[10] != 'T' && s[10] != 't') ||
        !_digits(s + 11, 2) || s[13] != ':' || !_digits(s + 14, 2) || s[16] != ':' ||
        !_digits(s + 17, 2))
        return false;
    int mo = atoi(s + 5), d = atoi(s + 8), h = atoi(s + 11), mi = atoi(s + 14),
        se = atoi(s + 17);
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = atoi(s);
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h > 23 || mi > 59 || se > 59)
        return false;
    const char *p = s + 19;
    if (*p == '.') {
        int n = 0;
        for (p++; isdigit((unsigned char)*p) && n < 9; p++)
            n++;
        if (n == 0)
            return false;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
        return true;
    return (*p == '+' || *p == '-') && _digits(p + 1, 2) && p[3] == ':' && _digits(p + 4, 2) &&
           p[6] == '\0';
}
