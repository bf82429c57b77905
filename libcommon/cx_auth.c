/* cx_auth.c: Calixio access tokens (verify, mint, revoke). */
#include "cx_auth.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx_crypto.h"
#include "cx_denylist.h"
#include "cx_jwt.h"
#include "cx_time.h"
#include "cx_tokcache.h"

#define CX_REVOKED_PREFIX "cx:revoked:sid:"

static bool _copy_claim(json_t *claims, const char *key, char *dst, size_t cap, bool required)
{
    const char *v = json_string_value(json_object_get(claims, key));
    if (!v)
        return !required;
    size_t n = strlen(v);
    if (n == 0 || n >= cap)
        return false;
    memcpy(dst, v, n + 1);
    return true;
}

/* Revocation answers are cached per session id for CX_REVOKED_CACHE_MS so
 * an authenticated request does not pay a Redis round trip each time. A
 * revocation reaches every copy at once through cx_auth_note_revoked (the
 * service runtime feeds it from a NATS event); the cache only bounds how
 * long a lost event could go unseen. A "revoked" entry never expires and
 * is never replaced by a "not revoked" answer for its session; another
 * session hashed to the same slot may evict it (the next verification of
 * the revoked session then asks Redis, or the fallback, again).
 *
 * The event must win over a read that raced it: a verification that asked
 * Redis before the revocation was written may get its "not revoked" answer
 * after the event was noted. Every revocation noted bumps _rc_epoch; a
 * "not revoked" answer is stored only when no revocation was noted since
 * its read began (epoch unchanged), so a stale answer is dropped (and
 * answered as revoked when it concerns the revoked session). */
#define CX_REVOKED_CACHE_SLOTS 4096
#define CX_REVOKED_CACHE_MS 1000

typedef struct _rc_slot {
    char sid[64];
    int64_t until_ms;
    bool revoked;
} _rc_slot;

static _rc_slot _rc[CX_REVOKED_CACHE_SLOTS];
static pthread_mutex_t _rc_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t _rc_epoch; /* revocations noted so far; under _rc_mu */
static cx_auth_revoke_hook _hook;
static void *_hook_arg;
static cx_auth_fallback_fn _fallback;
static void *_fallback_arg;

static _rc_slot *_rc_slot_of(const char *sid)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)sid; *p; p++)
        h = (h ^ *p) * 16777619u;
    return &_rc[h % CX_REVOKED_CACHE_SLOTS];
}

/* Stores an answer read while the epoch was `epoch`. Returns the answer
 * that holds now: a "not revoked" read that raced a revocation of the same
 * session comes back as revoked. */
static bool _rc_store(const char *sid, bool revoked, uint64_t epoch)
{
    if (strlen(sid) >= sizeof _rc[0].sid)
        return revoked;
    pthread_mutex_lock(&_rc_mu);
    _rc_slot *e = _rc_slot_of(sid);
    bool same = strcmp(e->sid, sid) == 0;
    if (revoked) {
        snprintf(e->sid, sizeof e->sid, "%s", sid);
        e->revoked = true;
        e->until_ms = INT64_MAX;
        _rc_epoch++;
    } else if (same && e->revoked) {
        revoked = true; /* the event came while we read */
    } else if (epoch == _rc_epoch) {
        snprintf(e->sid, sizeof e->sid, "%s", sid);
        e->revoked = false;
        e->until_ms = cx_mono_ms() + CX_REVOKED_CACHE_MS;
    }
    pthread_mutex_unlock(&_rc_mu);
    return revoked;
}

/* 1 revoked, 0 not revoked, -1 unknown (ask Redis); *epoch gets the epoch
 * the answer to store later must be checked against. */
static int _rc_lookup(const char *sid, uint64_t *epoch)
{
    int r = -1;
    pthread_mutex_lock(&_rc_mu);
    _rc_slot *e = _rc_slot_of(sid);
    if (strcmp(e->sid, sid) == 0 && cx_mono_ms() < e->until_ms)
        r = e->revoked ? 1 : 0;
    *epoch = _rc_epoch;
    pthread_mutex_unlock(&_rc_mu);
    return r;
}

void cx_auth_note_revoked(const char *session_id)
{
    if (session_id && *session_id) {
        cx_denylist_note(session_id);
        (void)_rc_store(session_id, true, 0);
    }
}

void cx_auth_set_fallback(cx_auth_fallback_fn fn, void *arg)
{
    pthread_mutex_lock(&_rc_mu);
    _fallback = fn;
    _fallback_arg = arg;
    pthread_mutex_unlock(&_rc_mu);
}

void cx_auth_set_revoke_hook(cx_auth_revoke_hook fn, void *arg)
{
    pthread_mutex_lock(&_rc_mu);
    _hook = fn;
    _hook_arg = arg;
    pthread_mutex_unlock(&_rc_mu);
}

/* Asks the fallback (the owner of the sessions) when Redis cannot answer;
 * without one, or when it cannot answer either, the Redis status stays. */
static cx_status _ask_fallback(const char *sid, cx_status redis_status, bool *revoked)
{
    pthread_mutex_lock(&_rc_mu);
    cx_auth_fallback_fn fn = _fallback;
    void *arg = _fallback_arg;
    pthread_mutex_unlock(&_rc_mu);
    if (!fn)
        return redis_status;
    cx_status s = fn(sid, arg);
    if (s != CX_OK && s != CX_ERR_TOKEN_REVOKED)
        return redis_status;
    *revoked = s == CX_ERR_TOKEN_REVOKED;
    return CX_OK;
}

static cx_status _is_revoked(cx_redis *redis, const char *sid)
{
    uint64_t epoch = 0;
    int pushed = cx_denylist_check(redis, sid); /* the pushed copy, once known */
    if (pushed >= 0)
        return pushed ? CX_ERR_TOKEN_REVOKED : CX_OK;
    int cached = _rc_lookup(sid, &epoch);
    if (cached >= 0)
        return cached ? CX_ERR_TOKEN_REVOKED : CX_OK;
    redisReply *r = NULL;
    char key[128];
    bool revoked = false;
    snprintf(key, sizeof key, CX_REVOKED_PREFIX "%s", sid);
    const char *argv[] = {"EXISTS", key};
    cx_status s = cx_redis_cmdv(redis, &r, 2, argv, NULL);
    if (s == CX_OK) {
        revoked = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
        freeReplyObject(r);
    } else if (s == CX_ERR_UNAVAILABLE) {
        s = _ask_fallback(sid, s, &revoked);
    }
    if (s != CX_OK)
        return s;
    revoked = _rc_store(sid, revoked, epoch);
    return revoked ? CX_ERR_TOKEN_REVOKED : CX_OK;
}

/* The verified caller c, unless its session is revoked (redis NULL: no
 * revocation check); *out written only on success. */
static cx_status _revocation_then(cx_redis *redis, const cx_caller *c, cx_caller *out)
{
    if (redis) {
        cx_status s = _is_revoked(redis, c->session_id);
        if (s != CX_OK)
            return s;
    }
    *out = *c;
    return CX_OK;
}

cx_status cx_auth_verify_header(const cx_auth_cfg *cfg, cx_redis *redis,
                                const char *authorization, cx_caller *out)
{
    cx_status s;
    json_t *claims = NULL;
    cx_caller c;

    if (!authorization || !*authorization)
        return CX_ERR_MISSING_AUTH;
    if (strncmp(authorization, "Bearer ", 7) != 0 || !authorization[7] ||
        strchr(authorization + 7, ' '))
        return CX_ERR_INVALID_AUTH;
    const char *tok = authorization + 7;
    size_t tok_len = strlen(tok);
    if (cfg->cache && cx_tokcache_get(cfg->cache, tok, tok_len, cx_now_s(), cfg->leeway_s, &c))
        return _revocation_then(redis, &c, out);
    s = cfg->ring ? cx_jwt_verify_ring(authorization + 7, cfg->ring, cx_now_s(), cfg->leeway_s,
                                       &claims)
                  : cx_jwt_verify(authorization + 7, cfg->secret, strlen(cfg->secret),
                                  cx_now_s(), cfg->leeway_s, &claims);
    if (s != CX_OK)
        return CX_ERR_INVALID_TOKEN;

    memset(&c, 0, sizeof c);
    s = CX_ERR_INVALID_TOKEN;
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    const char *aud = json_string_value(json_object_get(claims, "aud"));
    if (!iss || strcmp(iss, cfg->issuer) != 0 || !aud || strcmp(aud, cfg->audience) != 0)
        goto out;
    if (!_copy_claim(claims, "sub", c.user_id, sizeof c.user_id, true) ||
        !_copy_claim(claims, "username", c.username, sizeof c.username, false) ||
        !_copy_claim(claims, "sid", c.session_id, sizeof c.session_id, true) ||
        !_copy_claim(claims, "jti", c.jti, sizeof c.jti, true))
        goto out;
    json_t *exp = json_object_get(claims, "exp"), *nbf = json_object_get(claims, "nbf");
    c.exp = (int64_t)json_number_value(exp);
    c.authenticated = true;
    if (cfg->cache) /* every check but the time ones and revocation passed */
        cx_tokcache_put(cfg->cache, tok, tok_len, json_number_value(exp), nbf != NULL,
                        json_number_value(nbf), &c);
    s = _revocation_then(redis, &c, out);
out:
    json_decref(claims);
    return s;
}

cx_status cx_auth_mint(const cx_auth_cfg *cfg, const char *user_id, const char *username,
                       const char *session_id, int64_t now, int64_t ttl_s, char **out_token,
                       char out_jti[64])
{
    char jti[37];
    cx_uuid_v4(jti);
    json_t *claims = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "iss",
                               cfg->issuer, "aud", cfg->audience, "sub", user_id, "username",
                               username ? username : "", "sid", session_id, "jti", jti, "iat",
                               (json_int_t)now, "nbf", (json_int_t)now, "exp",
                               (json_int_t)(now + ttl_s));
    if (!claims)
        return CX_ERR_NOMEM;
    cx_status s = cfg->ring ? cx_jwt_sign_key(claims, &cfg->ring->keys[0], out_token)
                            : cx_jwt_sign(claims, cfg->secret, strlen(cfg->secret), out_token);
    json_decref(claims);
    if (s == CX_OK && out_jti)
        memcpy(out_jti, jti, sizeof jti);
    return s;
}

cx_status cx_auth_denylist_put(cx_redis *redis, const char *session_id, int64_t ttl_s)
{
    char key[128], ttl[32];
    snprintf(key, sizeof key, CX_REVOKED_PREFIX "%s", session_id);
    snprintf(ttl, sizeof ttl, "%lld", (long long)(ttl_s > 0 ? ttl_s : 1));
    const char *argv[] = {"SET", key, "1", "EX", ttl};
    cx_status s = cx_redis_cmdv(redis, NULL, 5, argv, NULL);
    return s == CX_OK ? cx_denylist_index_put(redis, session_id, ttl_s > 0 ? ttl_s : 1) : s;
}

/* Notes the revocation here and tells the other processes (the hook). */
static void _announce(const char *session_id)
{
    cx_auth_note_revoked(session_id);
    pthread_mutex_lock(&_rc_mu);
    cx_auth_revoke_hook fn = _hook;
    void *arg = _hook_arg;
    pthread_mutex_unlock(&_rc_mu);
    if (fn)
        fn(session_id, arg);
}

cx_status cx_auth_revoke_session(cx_redis *redis, const char *session_id, int64_t ttl_s)
{
    /* Tokens may still verify for the leeway after exp: keep the entry a
     * little longer than the token lifetime. */
    cx_status s = cx_auth_denylist_put(redis, session_id, ttl_s > 0 ? ttl_s + 300 : 300);
    if (s != CX_OK)
        return s;
    _announce(session_id);
    return CX_OK;
}

cx_status cx_auth_revoke_committed(cx_redis *redis, const char *session_id, int64_t ttl_s)
{
    _announce(session_id);
    return cx_auth_denylist_put(redis, session_id, ttl_s > 0 ? ttl_s + 300 : 300);
}
