/* routes: the route table of shared/API.md and the path matcher. */
#include "cx_crypto.h"
#include "routes.h"

#include <string.h>

#include "calixio/v1/auth.pb-c.h"
#include "calixio/v1/common.pb-c.h"
#include "calixio/v1/media.pb-c.h"
#include "calixio/v1/rooms.pb-c.h"
#include "calixio/v1/webhook.pb-c.h"

#define D(x) (&calixio__v1__##x##__descriptor)

const gw_route gw_routes[] = {
    {"POST", "/auth/register", "auth.register", D(register_request), D(register_reply), 201,
     GW_K_BODY, 0, NULL, "Create an account", "400 409"},
    {"POST", "/auth/login", "auth.login", D(login_request), D(login_reply), 200, GW_K_BODY,
     GW_F_COOKIE_SET, NULL, "Log in; the refresh token is set as an HttpOnly cookie",
     "400 401 429"},
    {"POST", "/auth/refresh", "auth.refresh", D(refresh_request), D(refresh_reply), 200,
     GW_K_BODY, GW_F_COOKIE_IN | GW_F_COOKIE_SET, NULL,
     "Rotate the refresh token (cookie or body) and mint an access token", "400 401"},
    {"POST", "/auth/logout", "auth.logout", D(logout_request), D(empty), 204, GW_K_BODY,
     GW_F_COOKIE_IN | GW_F_COOKIE_CLEAR, NULL, "Revoke the session and clear the cookie",
     "400 401"},
    {"GET", "/auth/me", "auth.me", D(empty), D(user), 200, GW_K_EMPTY, GW_F_BEARER, NULL,
     "The caller's account", "401"},
    {"GET", "/rooms", "rooms.list", D(list_rooms_request), D(list_rooms_reply), 200, GW_K_LIST,
     GW_F_BEARER, "rooms", "The caller's rooms, newest first", "400 401"},
    {"POST", "/rooms", "rooms.create", D(create_room_request), D(room), 201, GW_K_BODY,
     GW_F_BEARER, NULL, "Create a room", "400 401"},
    {"GET", "/rooms/{id}", "rooms.get", D(room_ref), D(room), 200, GW_K_ROOM_REF, GW_F_BEARER,
     NULL, "One room", "401 404"},
    {"POST", "/rooms/{id}/join", "media.join", D(join_request), D(join_reply), 200, GW_K_JOIN,
     GW_F_BEARER_OPT, NULL, "Join a room: a LiveKit access token", "400 401 404 409"},
    {"POST", "/rooms/{id}/end", "rooms.end", D(room_ref), D(room), 200, GW_K_ROOM_REF,
     GW_F_BEARER, NULL, "End a room (owner only; ending twice is fine)", "401 403 404"},
    {"GET", "/rooms/{id}/participants", "rooms.participants", D(room_ref),
     D(participants_reply), 200, GW_K_ROOM_REF, GW_F_BEARER, "participants",
     "Live presence in a room", "401 404"},
    {"POST", "/livekit/webhook", "webhook.livekit", D(webhook_request), D(webhook_reply), 200,
     GW_K_WEBHOOK, 0, NULL, "LiveKit webhook (signed JWT in Authorization)", "400 401 413 415"},
    {"GET", "/healthz", NULL, NULL, NULL, 200, GW_K_HEALTH, 0, NULL, "Process alive", ""},
    {"GET", "/readyz", NULL, NULL, NULL, 200, GW_K_READY, 0, NULL,
     "NATS connected and every service answering $SRV.PING", "503"},
    {"GET", "/metrics", NULL, NULL, NULL, 200, GW_K_METRICS, 0, NULL,
     "Prometheus metrics (text format)", ""},
    {"GET", "/openapi.json", NULL, NULL, NULL, 200, GW_K_OPENAPI, 0, NULL,
     "This document", ""},
};
const int gw_n_routes = (int)(sizeof(gw_routes) / sizeof(gw_routes[0]));

#define GW_PATH_SCAN_MAX 1024

/* Compares a pattern with a path. Returns true on a match and points
 * id / id_len at the {id} segment (if the pattern has one). */
static bool _pattern_match(const char *pat, const char *path, size_t plen, const char **id,
                           size_t *id_len)
{
    size_t i = 0;
    *id = NULL;
    *id_len = 0;
    while (*pat) {
        if (strncmp(pat, "{id}", 4) == 0) {
            size_t start = i;
            while (i < plen && path[i] != '/')
                i++;
            if (i == start)
                return false;
            *id = path + start;
            *id_len = i - start;
            pat += 4;
            continue;
        }
        if (i >= plen || path[i] != *pat)
            return false;
        i++;
        pat++;
    }
    return i == plen;
}

/* Strips /api/v1 or /api when followed by '/'. */
static const char *_strip_prefix(const char *path, size_t *plen)
{
    if (*plen >= 8 && strncmp(path, "/api/v1/", 8) == 0) {
        *plen -= 7;
        return path + 7;
    }
    if (*plen >= 5 && strncmp(path, "/api/", 5) == 0) {
        *plen -= 4;
        return path + 4;
    }
    return path;
}

static void _allow_add(char *allow, size_t cap, const char *method)
{
    if (strstr(allow, method))
        return;
    size_t n = strlen(allow);
    size_t need = (n ? 2 : 0) + strlen(method) + 1;
    if (n + need > cap)
        return;
    if (n) {
        allow[n++] = ',';
        allow[n++] = ' ';
    }
    strcpy(allow + n, method);
}

gw_match_rc gw_route_match(const char *method, const char *path, gw_match *m)
{
    m->route = -1;
    m->id[0] = '\0';
    m->allow[0] = '\0';
    size_t plen = strnlen(path, GW_PATH_SCAN_MAX + 1);
    if (plen > GW_PATH_SCAN_MAX)
        return GW_MATCH_NOT_FOUND;
    path = _strip_prefix(path, &plen);

    int hit = -1;
    const char *hit_id = NULL;
    size_t hit_id_len = 0;
    for (int r = 0; r < gw_n_routes; r++) {
        const char *id;
        size_t id_len;
        if (!_pattern_match(gw_routes[r].pattern, path, plen, &id, &id_len))
            continue;
        _allow_add(m->allow, sizeof(m->allow), gw_routes[r].method);
        if (hit < 0 && strcmp(gw_routes[r].method, method) == 0) {
            hit = r;
            hit_id = id;
            hit_id_len = id_len;
        }
    }
    if (m->allow[0] == '\0')
        return GW_MATCH_NOT_FOUND;
    _allow_add(m->allow, sizeof(m->allow), "OPTIONS");
    if (hit < 0)
        return GW_MATCH_METHOD;
    m->route = hit;
    if (hit_id) {
        if (!cx_uuid_valid(hit_id, hit_id_len))
            return GW_MATCH_BAD_ID;
        for (size_t i = 0; i < hit_id_len; i++) {
            char c = hit_id[i];
            m->id[i] = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
        }
        m->id[hit_id_len] = '\0';
    }
    return GW_MATCH_OK;
}

size_t gw_route_body_limit(int idx)
{
    if (idx >= 0 && idx < gw_n_routes && gw_routes[idx].kind == GW_K_WEBHOOK)
        return GW_BODY_LIMIT_WEBHOOK;
    return GW_BODY_LIMIT_API;
}

const char *gw_route_label_method(int idx)
{
    return (idx >= 0 && idx < gw_n_routes) ? gw_routes[idx].method : "";
}

const char *gw_route_label_pattern(int idx)
{
    return (idx >= 0 && idx < gw_n_routes) ? gw_routes[idx].pattern : "unmatched";
}
