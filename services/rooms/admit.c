/* admit.c: rooms.admit — the joins media does not decide on its fast path
 * (a gated room: knock / invite, locked, a password, bans or room roles;
 * or any join carrying an invite). API-ROOMS.md "Joining, extended": the
 * checks run in the contract's order (404, room_ended, banned,
 * room_not_started, room_locked, invite_invalid / invite_expired,
 * room_invite_required, room_password_*, room_full, 202 waiting, 200); an
 * invite use is counted (atomically) only when the answer is 200 or 202.
 * Media forwards the joiner's Authorization (CX_AUTH_OPTIONAL fills
 * req->caller) and Calixio-Client-Ip (password throttling). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx_crypto.h"
#include "cx_join.h"
#include "cx_json.h"
#include "cx_livekit.h"
#include "cx_log.h"
#include "cx_time.h"
#include "cx_roomkeys.h"
#include "rooms.h"

#define ADMIT_NAME_MAX_CHARS 36
#define ADMIT_SECRET_MAX 256
#define ADMIT_DEFAULT_GUEST "Guest"
#define ADMIT_KEY_MAX 160

/* The joiner as the join will make it. */
typedef struct admit_who {
    char identity[CX_IDENTITY_MAX + 1];
    char user_id[64];
    char name[256];
    rooms_role role;
} admit_who;

/* ---- password throttling: per room and client, as logins ---------------- */

static const char _incr_lua[] = "local n = redis.call('INCR', KEYS[1]) "
                                "if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then "
                                "redis.call('PEXPIRE', KEYS[1], ARGV[1]) end "
                                "return n";

static void _pw_key(char out[ADMIT_KEY_MAX], const char *room_id, const cx_req *req,
                    const admit_who *w)
{
    char hex[65];
    const char *client = req->client_ip && req->client_ip[0] ? req->client_ip
                         : w->user_id[0]                     ? w->user_id
                                                             : "unknown";
    cx_sha256_hex(client, strlen(client), hex);
    snprintf(out, ADMIT_KEY_MAX, "cx:roompw:fail:%s:%s", room_id, hex);
}

/* 429 with Retry-After once the counter reached the limit. */
static cx_status _pw_blocked(rooms_ctx *ctx, cx_req *req, const char *key)
{
    redisReply *r = NULL;
    const char *argv[] = {"EVAL",
                          "return {tonumber(redis.call('GET', KEYS[1]) or '0'), "
                          "redis.call('PTTL', KEYS[1])}",
                          "1", key};
    cx_status s = cx_redis_cmdv(ctx->redis, &r, 4, argv, NULL);
    if (s != CX_OK)
        return s;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->integer >= ctx->pw_max_fails) {
        long long ms = r->element[1]->integer;
        req->retry_after = ms > 0 ? (int)((ms + 999) / 1000) : (int)ctx->pw_fail_window_s;
        s = CX_ERR_TOO_MANY_ATTEMPTS;
    }
    freeReplyObject(r);
    return s;
}

static void _pw_fail(rooms_ctx *ctx, const char *key, const char *rid)
{
    char win[24];
    redisReply *r = NULL;
    snprintf(win, sizeof win, "%lld", (long long)ctx->pw_fail_window_s * 1000);
    const char *argv[] = {"EVAL", _incr_lua, "1", key, win};
    if (cx_redis_cmdv(ctx->redis, &r, 5, argv, NULL) != CX_OK)
        cx_log_warn(rid, "room password failure not counted (Redis)");
    else
        freeReplyObject(r);
}

/* room_password_required / _invalid / too_many_attempts, or CX_OK. */
static cx_status _password(rooms_ctx *ctx, cx_req *req, const rooms_row *r, const admit_who *w,
                           const char *given)
{
    char key[ADMIT_KEY_MAX];
    char *hash = NULL;
    if (!given || !given[0])
        return CX_ERR_PASSWORD_REQUIRED;
    _pw_key(key, r->id, req, w);
    cx_status s = _pw_blocked(ctx, req, key);
    if (s != CX_OK)
        return s;
    if ((s = rooms_store_password_hash(ctx->pg, r->id, &hash)) != CX_OK)
        return s;
    if (!hash) /* removed meanwhile */
        return CX_OK;
    bool ok = crypto_pwhash_str_verify(hash, given, strlen(given)) == 0;
    free(hash);
    if (ok)
        return CX_OK;
    _pw_fail(ctx, key, req->request_id);
    return CX_ERR_PASSWORD_INVALID;
}

/* ---- the joiner ---------------------------------------------------------- */

static cx_status _who(rooms_ctx *ctx, cx_req *req, const Calixio__V1__JoinRequest *in,
                      const rooms_row *r, admit_who *w)
{
    memset(w, 0, sizeof *w);
    if (req->caller.authenticated) {
        snprintf(w->identity, sizeof w->identity, "%s", req->caller.user_id);
        snprintf(w->user_id, sizeof w->user_id, "%s", req->caller.user_id);
        snprintf(w->name, sizeof w->name, "%s", req->caller.username);
        if (strcmp(req->caller.user_id, r->owner_user_id) == 0) {
            w->role = ROOMS_ROLE_HOST;
            return CX_OK;
        }
        w->role = ROOMS_ROLE_PARTICIPANT;
        char stored[16];
        cx_status s = rooms_role_stored(ctx->pg, r->id, w->identity, stored);
        if (s == CX_OK && stored[0])
            w->role = rooms_role_parse(stored);
        return s;
    }
    char hex[33];
    cx_status s = cx_random_hex(hex, sizeof hex, 16);
    if (s != CX_OK)
        return s;
    snprintf(w->identity, sizeof w->identity, "guest-%s", hex);
    snprintf(w->name, sizeof w->name, "%s",
             in->user_name ? in->user_name : ADMIT_DEFAULT_GUEST);
    w->role = ROOMS_ROLE_GUEST;
    return CX_OK;
}

static cx_status _validate(cx_req *req, const Calixio__V1__JoinRequest *in)
{
    if (in->user_name) {
        size_t n = rooms_chars(in->user_name);
        if (n < 1)
            return cx_req_field_error(req, "user_name", "min");
        if (n > ADMIT_NAME_MAX_CHARS)
            return cx_req_field_error(req, "user_name", "max");
    }
    if (in->password && strlen(in->password) > ADMIT_SECRET_MAX)
        return cx_req_field_error(req, "password", "max");
    if (in->invite && (!in->invite[0] || strlen(in->invite) > ADMIT_SECRET_MAX))
        return CX_ERR_INVITE_INVALID;
    return CX_OK;
}

/* Live participants from the webhook's presence hash; fails open. */
static bool _full(rooms_ctx *ctx, const rooms_row *r, const char *rid)
{
    long long n = 0;
    if (!ctx->redis || r->max_participants <= 0)
        return false;
    if (cx_roomkey_presence_count(ctx->redis, r->livekit_room, &n) != CX_OK) {
        cx_log_warn(rid, "room %s: presence unknown; room_full not checked", r->id);
        return false;
    }
    return n >= r->max_participants;
}

/* ---- answers ------------------------------------------------------------- */

cx_status rooms_mint_join(rooms_ctx *ctx, const rooms_row *r, const char *identity,
                          const char *name, const char *role, const char *user_id,
                          Calixio__V1__JoinReply **out)
{
    const cx_join_keys k = {.auth = ctx->auth,
                            .lk_api_key = ctx->lk_api_key,
                            .lk_api_secret = ctx->lk_api_secret,
                            .lk_public_url = ctx->lk_public_url,
                            .token_ttl_s = ctx->token_ttl_s};
    const cx_join_room jr = {.id = r->id, .name = r->name, .livekit_room = r->livekit_room};
    return cx_join_mint(&k, &jr, identity, name, role, user_id, out);
}

/* The 202 answer: a waiting entry and its token. */
static cx_status _wait(rooms_ctx *ctx, cx_req *req, const rooms_row *r, const admit_who *w,
                       Calixio__V1__JoinReply **out)
{
    char wid[37];
    char *wt = NULL;
    cx_room_claims rc;
    const char *role = rooms_role_name(w->role);
    cx_status s = rooms_waiting_insert(ctx->pg, r->id, w->identity, w->name, w->user_id, role,
                                       ctx->waiting_ttl_s, wid);
    if (s != CX_OK)
        return s;
    memset(&rc, 0, sizeof rc);
    snprintf(rc.room_id, sizeof rc.room_id, "%s", r->id);
    snprintf(rc.identity, sizeof rc.identity, "%s", w->identity);
    snprintf(rc.name, sizeof rc.name, "%s", w->name);
    snprintf(rc.role, sizeof rc.role, "%s", role);
    snprintf(rc.user_id, sizeof rc.user_id, "%s", w->user_id);
    snprintf(rc.waiting_id, sizeof rc.waiting_id, "%s", wid);
    s = cx_waiting_token_mint(ctx->auth, &rc, cx_now_s(),
                              ctx->waiting_ttl_s + ROOMS_WAITING_TOKEN_GRACE_S, &wt);
    if (s != CX_OK)
        return s;
    Calixio__V1__JoinReply *m = malloc(sizeof *m);
    if (!m) {
        free(wt);
        return CX_ERR_NOMEM;
    }
    calixio__v1__join_reply__init(m);
    m->status = cx_strdup("waiting");
    m->waiting_id = cx_strdup(wid);
    m->waiting_token = wt;
    m->room_id = cx_strdup(r->id);
    m->room_name = cx_strdup(r->name);
    m->has_expires_in = 1;
    m->expires_in = ctx->waiting_ttl_s;
    if (!m->status || !m->waiting_id || !m->room_id || !m->room_name) {
        protobuf_c_message_free_unpacked(&m->base, NULL);
        return CX_ERR_NOMEM;
    }
    cx_log_info(req->request_id, "room %s: %s waits (%s)", r->id, w->identity, wid);
    rooms_publish_waiting(ctx, r->id, r->livekit_room, "requested", wid, w->name, w->user_id,
                          NULL, req->request_id);
    *out = m;
    return CX_OK;
}

/* Every check of the join table, in its order, up to the answer. */
static cx_status _decide(rooms_ctx *ctx, cx_req *req, const Calixio__V1__JoinRequest *in,
                         const rooms_row *r, admit_who *w, Calixio__V1__JoinReply **out)
{
    rooms_invite inv;
    bool banned = false, host = w->role == ROOMS_ROLE_HOST;
    cx_status s, inv_s = CX_OK;

    if (strcmp(r->status, "ended") == 0)
        return CX_ERR_ROOM_ENDED;
    if (!host &&
        (s = rooms_ban_check(ctx->pg, r->id, w->identity, w->user_id, &banned)) != CX_OK)
        return s;
    if (banned)
        return CX_ERR_BANNED;
    if (!host && strcmp(r->status, "pending") == 0 &&
        cx_now_s() < r->scheduled_at_s - ctx->early_join_s)
        return CX_ERR_ROOM_NOT_STARTED;
    bool has_inv = in->invite && !host;
    if (has_inv) {
        inv_s = rooms_invite_peek(ctx->pg, r->id, in->invite, &inv);
        if (inv_s != CX_OK && inv_s != CX_ERR_INVITE_INVALID && inv_s != CX_ERR_INVITE_EXPIRED)
            return inv_s;
    }
    bool inv_ok = has_inv && inv_s == CX_OK;
    if (inv_ok && strcmp(inv.role, "moderator") == 0 && w->role < ROOMS_ROLE_MODERATOR)
        w->role = ROOMS_ROLE_MODERATOR;
    else if (inv_ok && w->role == ROOMS_ROLE_GUEST)
        w->role = ROOMS_ROLE_PARTICIPANT; /* an invite holder is a participant */
    bool staff = w->role >= ROOMS_ROLE_MODERATOR;
    if (r->locked && !staff)
        return CX_ERR_ROOM_LOCKED;
    if (has_inv && inv_s != CX_OK)
        return inv_s;
    if (strcmp(r->access, "invite") == 0 && !staff && !inv_ok)
        return CX_ERR_INVITE_REQUIRED;
    if (r->has_password && !host && !inv_ok &&
        (s = _password(ctx, req, r, w, in->password)) != CX_OK)
        return s;
    if (!host && _full(ctx, r, req->request_id))
        return CX_ERR_ROOM_FULL;
    bool waits = strcmp(r->access, "knock") == 0 && !staff && !inv_ok;
    if (inv_ok && (s = rooms_invite_use(ctx->pg, inv.id)) != CX_OK)
        return s; /* the last use went to a racing join: 410 */
    if (waits)
        return _wait(ctx, req, r, w, out);
    if (strcmp(r->status, "pending") == 0 && (s = rooms_start_now(ctx, req, r->id)) != CX_OK)
        return s;
    if (inv_ok && w->role == ROOMS_ROLE_MODERATOR && strcmp(inv.role, "moderator") == 0)
        (void)rooms_role_store(ctx->pg, r->id, w->identity, w->user_id, "moderator");
    else if (inv_ok && w->role == ROOMS_ROLE_PARTICIPANT && !w->user_id[0])
        /* an invite holder without an account has a guest-... identity:
         * the participants list tells its role from room_roles */
        (void)rooms_role_store(ctx->pg, r->id, w->identity, NULL, "participant");
    return rooms_mint_join(ctx, r, w->identity, w->name, rooms_role_name(w->role), w->user_id,
                           out);
}

cx_status rooms_h_admit(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                        void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__JoinRequest *in = (const void *)in_;
    rooms_row row;
    admit_who w;
    Calixio__V1__JoinReply *m = NULL;

    cx_status s = _validate(req, in);
    if (s != CX_OK)
        return s;
    if ((s = rooms_store_get(ctx->pg, in->id, &row)) != CX_OK)
        return s;
    s = _who(ctx, req, in, &row, &w);
    if (s == CX_OK)
        s = _decide(ctx, req, in, &row, &w, &m);
    if (s != CX_OK && s != CX_ERR_NOMEM && s != CX_ERR_UNAVAILABLE)
        cx_log_info(req->request_id, "room %s: join of %s refused: %s", row.id, w.identity,
                    cx_status_code(s));
    rooms_row_clear(&row);
    if (s == CX_OK)
        *out = &m->base;
    return s;
}
