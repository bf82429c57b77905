/* routes: the route table of shared/API.md and the path matcher. */
#include "cx_crypto.h"
#include "routes.h"

#include <string.h>

#include "calixio/v1/account.pb-c.h"
#include "calixio/v1/auth.pb-c.h"
#include "calixio/v1/chat.pb-c.h"
#include "calixio/v1/common.pb-c.h"
#include "calixio/v1/history.pb-c.h"
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
    {"GET", "/users/me", "auth.profile_get", D(empty), D(profile), 200, GW_K_EMPTY, GW_F_BEARER,
     NULL, "The caller's profile (name, email, avatar)", "401"},
    {"PATCH", "/users/me", "auth.profile_update", D(update_profile_request), D(profile), 200,
     GW_K_BODY, GW_F_BEARER, NULL, "Change name and/or avatar_url (https, <= 512 bytes)",
     "400 401"},
    {"DELETE", "/users/me", "auth.account_delete", D(delete_account_request), D(empty), 204,
     GW_K_BODY, GW_F_BEARER, NULL,
     "Delete the account (password required): sessions revoked, personal data erased",
     "400 401 429"},
    {"GET", "/users/me/settings", "auth.settings_get", D(empty), D(settings), 200, GW_K_EMPTY,
     GW_F_BEARER, NULL, "The caller's settings (defaults until changed)", "401"},
    {"PATCH", "/users/me/settings", "auth.settings_update", D(settings), D(settings), 200,
     GW_K_BODY, GW_F_BEARER, NULL, "Change some settings; answers all of them", "400 401"},
    {"PUT", "/users/me/settings", "auth.settings_update", D(settings), D(settings), 200,
     GW_K_BODY, GW_F_BEARER, NULL, "As PATCH: absent fields are kept", "400 401"},
    {"GET", "/users/me/video-profiles", "auth.video_profiles_list", D(empty),
     D(video_profile_list), 200, GW_K_EMPTY, GW_F_BEARER, "profiles",
     "The caller's video profiles, oldest first", "401"},
    {"POST", "/users/me/video-profiles", "auth.video_profile_create",
     D(create_video_profile_request), D(video_profile), 201, GW_K_BODY, GW_F_BEARER, NULL,
     "Create a video profile (at most 20; is_default clears the others)", "400 401 409"},
    {"PATCH", "/users/me/video-profiles/{profile_id}", "auth.video_profile_update",
     D(update_video_profile_request), D(video_profile), 200, GW_K_MSG, GW_F_BEARER, NULL,
     "Change a video profile", "400 401 404"},
    {"DELETE", "/users/me/video-profiles/{profile_id}", "auth.video_profile_delete",
     D(video_profile_ref), D(empty), 204, GW_K_MSG, GW_F_BEARER, NULL, "Delete a video profile",
     "401 404"},
    {"POST", "/auth/password", "auth.password_change", D(change_password_request), D(empty),
     204, GW_K_BODY, GW_F_BEARER, NULL, "Change the password; every other session is revoked",
     "400 401 429"},
    {"GET", "/auth/sessions", "auth.sessions_list", D(empty), D(session_list), 200, GW_K_EMPTY,
     GW_F_BEARER, "sessions", "The caller's live sessions (current: this token's)", "401"},
    {"DELETE", "/auth/sessions/{session_id}", "auth.session_revoke", D(session_ref), D(empty),
     204, GW_K_MSG, GW_F_BEARER, NULL, "Revoke one of the caller's sessions", "401 404"},
    {"GET", "/rooms", "rooms.list", D(list_rooms_request), D(list_rooms_reply), 200, GW_K_LIST,
     GW_F_BEARER, "rooms", "The caller's rooms, newest first", "400 401"},
    {"POST", "/rooms", "rooms.create", D(create_room_request), D(room), 201, GW_K_BODY,
     GW_F_BEARER, NULL, "Create a room", "400 401"},
    {"GET", "/rooms/{id}", "rooms.get", D(room_ref), D(room), 200, GW_K_ROOM_REF, GW_F_BEARER,
     NULL, "One room", "401 404"},
    {"POST", "/rooms/{id}/join", "media.join", D(join_request), D(join_reply), 200, GW_K_MSG,
     GW_F_BEARER_OPT | GW_F_REPEATABLE | GW_F_WAITING_202, NULL,
     "Join a room: a LiveKit access token", "400 401 404 409"},
    {"POST", "/rooms/{id}/end", "rooms.end", D(room_ref), D(room), 200, GW_K_ROOM_REF,
     GW_F_BEARER, NULL, "End a room (owner only; ending twice is fine)", "401 403 404"},
    {"GET", "/rooms/{id}/participants", "rooms.participants", D(room_ref),
     D(participants_reply), 200, GW_K_ROOM_REF, GW_F_BEARER, "participants",
     "Live presence in a room (an access token, or a room token of this room)", "401 403 404"},
    {"PATCH", "/rooms/{id}", "rooms.update", D(update_room_request), D(room), 200, GW_K_MSG,
     GW_F_BEARER, NULL, "Change a room (host or moderator; access or room token)",
     "400 401 403 404 409"},
    {"DELETE", "/rooms/{id}", "rooms.delete", D(room_ref), D(empty), 204, GW_K_MSG, GW_F_BEARER,
     NULL, "Delete a room (host): ended first, then gone everywhere", "401 403 404"},
    {"GET", "/rooms/by-code/{code}", "rooms.by_code", D(code_ref), D(room_by_code), 200,
     GW_K_MSG, 0, NULL, "Look a room up by its meeting code (no auth: the code is the link)",
     "404"},
    {"POST", "/rooms/by-code/{code}/join", "media.join", D(join_request), D(join_reply), 200,
     GW_K_MSG, GW_F_BEARER_OPT | GW_F_REPEATABLE | GW_F_WAITING_202, NULL,
     "Join a room by its meeting code", "400 401 404 409"},
    {"POST", "/rooms/{id}/leave", "rooms.leave", D(room_ref), D(empty), 204, GW_K_MSG,
     GW_F_BEARER, NULL, "Leave the room (room token): removed from LiveKit, visit closed",
     "401 403 404"},
    /* issue 17: invites and the waiting room (rooms owns both) */
    {"POST", "/rooms/{id}/invites", "rooms.invites_create", D(create_invite_request), D(invite),
     201, GW_K_MSG, GW_F_BEARER, NULL,
     "Create an invite (host, moderator; moderator invites: host)", "400 401 403 404 409"},
    {"GET", "/rooms/{id}/invites", "rooms.invites_list", D(room_ref), D(invite_list), 200,
     GW_K_MSG, GW_F_BEARER, "invites", "The room's invites, newest first (revoked omitted)",
     "401 403 404"},
    {"DELETE", "/rooms/{id}/invites/{invite_id}", "rooms.invites_revoke", D(invite_ref),
     D(empty), 204, GW_K_MSG, GW_F_BEARER, NULL, "Revoke an invite", "401 403 404"},
    {"GET", "/rooms/{id}/waiting", "rooms.waiting_list", D(room_ref), D(waiting_list), 200,
     GW_K_MSG, GW_F_BEARER, "waiting", "Who waits to get in, oldest first (host, moderator)",
     "401 403 404"},
    {"GET", "/rooms/{id}/waiting/{waiting_id}", "rooms.waiting_poll", D(waiting_ref),
     D(join_reply), 200, GW_K_MSG, GW_F_BEARER, NULL,
     "Poll a waiting entry (waiting token); approved: the join answer", "401 403 404"},
    {"DELETE", "/rooms/{id}/waiting/{waiting_id}", "rooms.waiting_leave", D(waiting_ref),
     D(empty), 204, GW_K_MSG, GW_F_BEARER, NULL,
     "Stop waiting (waiting token): the entry is left", "401 403 404"},
    {"POST", "/rooms/{id}/waiting/{waiting_id}/approve", "rooms.waiting_approve",
     D(waiting_ref), D(waiting_decision), 200, GW_K_MSG, GW_F_BEARER, NULL,
     "Let a waiting party in", "400 401 403 404"},
    {"POST", "/rooms/{id}/waiting/{waiting_id}/reject", "rooms.waiting_reject", D(waiting_ref),
     D(waiting_decision), 200, GW_K_MSG, GW_F_BEARER, NULL,
     "Turn a waiting party away (optional reason it sees)", "400 401 403 404"},
    /* issue 17: moderation (host or moderator; role: host) */
    {"POST", "/rooms/{id}/participants/{identity}/remove", "rooms.remove", D(moderate_request),
     D(empty), 204, GW_K_MSG, GW_F_BEARER, NULL,
     "Remove a participant (LiveKit RemoveParticipant); ban: later joins 403 banned",
     "400 401 403 404 503"},
    {"POST", "/rooms/{id}/participants/{identity}/mute", "rooms.mute", D(moderate_request),
     D(empty), 204, GW_K_MSG, GW_F_BEARER, NULL,
     "Mute a participant's published tracks of a kind (MutePublishedTrack each)",
     "400 401 403 404 503"},
    {"POST", "/rooms/{id}/participants/{identity}/role", "rooms.set_role", D(moderate_request),
     D(role_reply), 200, GW_K_MSG, GW_F_BEARER, NULL,
     "Promote or demote a participant (host; UpdateParticipant)", "400 401 403 404 503"},
    {"GET", "/rooms/{id}/events", NULL, NULL, NULL, 200, GW_K_EVENTS, GW_F_BEARER, NULL,
     "Live events of the room (text/event-stream; room, host access or waiting token, or ?token=)",
     "401 403 404 503"},
    {"GET", "/users/me/calls", "webhook.calls", D(calls_request), D(calls_reply), 200, GW_K_MSG,
     GW_F_BEARER, NULL,
     "The caller's visits, newest first (from inclusive, to exclusive, on joined_at)",
     "400 401"},
    {"GET", "/rooms/{id}/history", "webhook.history", D(room_history_request), D(room_history),
     200, GW_K_MSG, GW_F_BEARER, NULL,
     "Who came to the room and for how long (host, moderator)", "400 401 403 404"},
    {"GET", "/rooms/{id}/audit", "webhook.audit", D(audit_request), D(audit_reply), 200,
     GW_K_MSG, GW_F_BEARER, NULL, "The room's audit log, newest first (host)",
     "400 401 403 404"},
    {"POST", "/rooms/{id}/stats", "webhook.stats_add", D(stats_sample), D(empty), 202, GW_K_MSG,
     GW_F_BEARER, NULL, "A call-quality sample (room token; one per 5 s per participant)",
     "400 401 403 404 429"},
    {"GET", "/rooms/{id}/stats", "webhook.stats_get", D(stats_request), D(stats_reply), 200,
     GW_K_MSG, GW_F_BEARER, NULL, "Call-quality aggregates per participant (host, moderator)",
     "401 403 404"},
    {"POST", "/rooms/{id}/messages", "rooms.chat_post", D(post_message_request),
     D(chat_message), 201, GW_K_MSG, GW_F_BEARER, NULL,
     "Send a chat message (room token, or the host): 1..4000 chars, at most 10 per 10 s",
     "400 401 403 404 409 429"},
    {"GET", "/rooms/{id}/messages", "rooms.chat_list", D(list_messages_request),
     D(list_messages_reply), 200, GW_K_MSG, GW_F_BEARER, NULL,
     "Chat page: the limit latest messages older than before, oldest first", "400 401 403 404"},
    {"PATCH", "/rooms/{id}/messages/{message_id}", "rooms.chat_update",
     D(update_message_request), D(chat_message), 200, GW_K_MSG, GW_F_BEARER, NULL,
     "Edit a chat message (the sender only)", "400 401 403 404 409"},
    {"DELETE", "/rooms/{id}/messages/{message_id}", "rooms.chat_delete", D(message_ref),
     D(empty), 204, GW_K_MSG, GW_F_BEARER, NULL,
     "Delete a chat message (the sender, host or a moderator)", "401 403 404"},
    {"POST", "/livekit/webhook", "webhook.livekit", D(webhook_request), D(webhook_reply), 200,
     GW_K_WEBHOOK, 0, NULL, "LiveKit webhook (signed JWT in Authorization)", "400 401 413 415"},
    {"GET", "/healthz", NULL, NULL, NULL, 200, GW_K_HEALTH, 0, NULL, "Process alive", ""},
    {"GET", "/readyz", NULL, NULL, NULL, 200, GW_K_READY, 0, NULL,
     "NATS connected and every service answering $SRV.PING", "503"},
    {"GET", "/metrics", NULL, NULL, NULL, 200, GW_K_METRICS, 0, NULL,
     "Prometheus metrics (text format)", ""},
    {"GET", "/openapi.json", NULL, NULL, NULL, 200, GW_K_OPENAPI, 0, NULL, "This document", ""},
};
const int gw_n_routes = (int)(sizeof(gw_routes) / sizeof(gw_routes[0]));

#define GW_PATH_SCAN_MAX 1024

/* Path parameter names. A new name is a row here; its routes then only
 * write {name} in their pattern. */
const gw_param_def gw_params[] = {
    {"id", GW_P_UUID, CX_ERR_ROOM_NOT_FOUND, "room id (UUID)"},
    {"code", GW_P_CODE, CX_ERR_ROOM_NOT_FOUND,
     "meeting code: ten letters, any case, with or without dashes (abc-defg-hij)"},
    {"identity", GW_P_IDENTITY, CX_ERR_PARTICIPANT_NOT_FOUND,
     "LiveKit participant identity [A-Za-z0-9_-]{1,64}"},
    {"message_id", GW_P_UUID, CX_ERR_MESSAGE_NOT_FOUND, "chat message id (UUID)"},
    {"waiting_id", GW_P_UUID, CX_ERR_WAITING_NOT_FOUND, "waiting entry id (UUID)"},
    {"invite_id", GW_P_UUID, CX_ERR_INVITE_NOT_FOUND, "invite id (UUID)"},
    {"profile_id", GW_P_UUID, CX_ERR_PROFILE_NOT_FOUND, "video profile id (UUID)"},
    {"session_id", GW_P_UUID, CX_ERR_SESSION_NOT_FOUND, "session id (UUID)"},
};
const int gw_n_params = (int)(sizeof(gw_params) / sizeof(gw_params[0]));

const gw_param_def *gw_param_find(const char *name, size_t len)
{
    for (int i = 0; i < gw_n_params; i++)
        if (strlen(gw_params[i].name) == len && memcmp(gw_params[i].name, name, len) == 0)
            return &gw_params[i];
    return NULL;
}

/* A raw {param} segment of the path, before validation. */
typedef struct _raw_param {
    const gw_param_def *def;
    const char *at;
    size_t len;
} _raw_param;

/* Compares a pattern with a path. Returns true on a match and fills raw[]
 * / *n_raw with the {param} segments (an unknown name never matches). */
static bool _pattern_match(const char *pat, const char *path, size_t plen, _raw_param *raw,
                           int *n_raw)
{
    size_t i = 0;
    *n_raw = 0;
    while (*pat) {
        if (*pat == '{') {
            const char *close = strchr(pat, '}');
            if (!close || *n_raw >= GW_MAX_PARAMS)
                return false;
            const gw_param_def *def = gw_param_find(pat + 1, (size_t)(close - pat - 1));
            if (!def)
                return false;
            size_t start = i;
            while (i < plen && path[i] != '/')
                i++;
            if (i == start)
                return false;
            raw[*n_raw] = (_raw_param){def, path + start, i - start};
            (*n_raw)++;
            pat = close + 1;
            continue;
        }
        if (i >= plen || path[i] != *pat)
            return false;
        i++;
        pat++;
    }
    return i == plen;
}

static bool _ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

/* Validates raw against its type and writes the normalised value into out
 * (GW_PARAM_MAX + 1 bytes). False when malformed. */
static bool _param_norm(const _raw_param *raw, char *out)
{
    const char *v = raw->at;
    size_t n = raw->len, k = 0;
    switch (raw->def->type) {
    case GW_P_UUID:
        if (!cx_uuid_valid(v, n))
            return false;
        for (size_t i = 0; i < n; i++)
            out[i] = (v[i] >= 'A' && v[i] <= 'F') ? (char)(v[i] - 'A' + 'a') : v[i];
        out[n] = '\0';
        return true;
    case GW_P_CODE:
        if (n > 20) /* ten letters, dashes anywhere (as rooms accepts them) */
            return false;
        for (size_t i = 0; i < n; i++) {
            char c = v[i];
            if (c == '-')
                continue;
            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            if (c < 'a' || c > 'z' || k == 10)
                return false;
            out[k++] = c;
        }
        out[k] = '\0';
        return k == 10;
    case GW_P_IDENTITY:
    case GW_P_TOKEN:
        if (n > (raw->def->type == GW_P_IDENTITY ? 64u : (size_t)GW_PARAM_MAX))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!_ident_char(v[i]))
                return false;
        memcpy(out, v, n);
        out[n] = '\0';
        return true;
    }
    return false;
}

/* Fills m->params from raw; false (and m->bad) at the first malformed one. */
static bool _params_fill(gw_match *m, const _raw_param *raw, int n_raw)
{
    m->n_params = 0;
    for (int p = 0; p < n_raw; p++) {
        gw_param *out = &m->params[m->n_params++];
        out->def = raw[p].def;
        if (!_param_norm(&raw[p], out->value)) {
            out->value[0] = '\0';
            m->bad = raw[p].def->not_found;
            return false;
        }
    }
    return true;
}

const char *gw_match_param(const gw_match *m, const char *name)
{
    for (int p = 0; p < m->n_params; p++)
        if (strcmp(m->params[p].def->name, name) == 0)
            return m->params[p].value;
    return NULL;
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
    return gw_route_match_in(gw_routes, gw_n_routes, method, path, m);
}

gw_match_rc gw_route_match_in(const gw_route *table, int n, const char *method,
                              const char *path, gw_match *m)
{
    m->route = -1;
    m->id[0] = '\0';
    m->allow[0] = '\0';
    m->n_params = 0;
    m->bad = CX_OK;
    size_t plen = strnlen(path, GW_PATH_SCAN_MAX + 1);
    if (plen > GW_PATH_SCAN_MAX)
        return GW_MATCH_NOT_FOUND;
    path = _strip_prefix(path, &plen);

    /* the first route of this method whose parameters are well-formed wins;
     * failing that, the first of this method answers its parameter error */
    int hit = -1, bad_hit = -1;
    _raw_param bad_raw[GW_MAX_PARAMS];
    int bad_n = 0;
    for (int r = 0; r < n; r++) {
        _raw_param raw[GW_MAX_PARAMS];
        int n_raw = 0;
        if (!_pattern_match(table[r].pattern, path, plen, raw, &n_raw))
            continue;
        _allow_add(m->allow, sizeof(m->allow), table[r].method);
        if (hit >= 0 || strcmp(table[r].method, method) != 0)
            continue;
        if (_params_fill(m, raw, n_raw)) {
            hit = r;
        } else if (bad_hit < 0) {
            bad_hit = r;
            memcpy(bad_raw, raw, sizeof(raw));
            bad_n = n_raw;
        }
    }
    if (m->allow[0] == '\0')
        return GW_MATCH_NOT_FOUND;
    _allow_add(m->allow, sizeof(m->allow), "OPTIONS");
    if (hit < 0 && bad_hit < 0) {
        m->n_params = 0;
        m->bad = CX_OK;
        return GW_MATCH_METHOD;
    }
    if (hit < 0) {
        m->route = bad_hit;
        m->bad = CX_OK;
        (void)_params_fill(m, bad_raw, bad_n); /* sets m->bad again */
        return GW_MATCH_BAD_ID;
    }
    m->route = hit;
    m->bad = CX_OK;
    const char *id = gw_match_param(m, "id");
    if (id)
        memcpy(m->id, id, GW_UUID_LEN + 1);
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
