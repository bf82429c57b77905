/* Login failure counters in Redis (see auth.h).
 *
 * Keys: cx:auth:fail:email:<sha256 hex of the email> and
 * cx:auth:fail:ip:<sha256 hex of the ip> (hashed so that no address is
 * kept in Redis in clear and key length stays bounded). A counter starts
 * its window with its first failure; increment and expiry are one Lua
 * script, so a counter can never be left without an expiry. */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "cx_crypto.h"
#include "cx_log.h"

#define AUTH_KEY_MAX 96

/* INCR, and on the first failure of a window (or a key somehow without
 * expiry) set the window. Returns the new count. */
static const char _incr_lua[] =
    "local n = redis.call('INCR', KEYS[1]) "
    "if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then "
    "redis.call('PEXPIRE', KEYS[1], ARGV[1]) end "
    "return n";

/* Returns {count, pttl} of a counter. */
static const char _peek_lua[] =
    "local n = tonumber(redis.call('GET', KEYS[1]) or '0') "
    "return {n, redis.call('PTTL', KEYS[1])}";

static void _key(char out[AUTH_KEY_MAX], const char *kind, const char *value)
{
    char hex[65];
    cx_sha256_hex(value, strlen(value), hex);
    snprintf(out, AUTH_KEY_MAX, "cx:auth:fail:%s:%s", kind, hex);
}

/* Reads one counter: *blocked when it reached max, *retry_s its TTL. */
static cx_status _peek(const auth_ctx *c, const char *kind, const char *value, int64_t max,
                       bool *blocked, int *retry_s)
{
    char key[AUTH_KEY_MAX];
    redisReply *r = NULL;
    _key(key, kind, value);
    cx_status s = cx_redis_cmd(c->redis, &r, "EVAL %s 1 %s", _peek_lua, key);
    if (s != CX_OK)
        return s;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_INTEGER) {
        s = CX_ERR_INTERNAL;
        goto out_free_reply;
    }
    long long n = r->element[0]->integer, pttl = r->element[1]->integer;
    *blocked = n >= max;
    if (*blocked) {
        /* Round up; a key without expiry (never left by our script) would
         * otherwise give 0: report a whole window then. */
        long long secs = pttl > 0 ? (pttl + 999) / 1000 : c->fail_window_s;
        *retry_s = secs < 1 ? 1 : (int)secs;
    }
out_free_reply:
    freeReplyObject(r);
    return s;
}

cx_status auth_throttle_check(const auth_ctx *c, const char *email, const char *ip,
                              int *retry_after_s)
{
    bool blocked = false;
    int retry = 0;
    cx_status s = _peek(c, "email", email, c->max_fail_email, &blocked, &retry);
    if (s == CX_OK && !blocked && ip && *ip)
        s = _peek(c, "ip", ip, c->max_fail_ip, &blocked, &retry);
    if (s != CX_OK)
        return s;
    if (!blocked)
        return CX_OK;
    *retry_after_s = retry;
    return CX_ERR_TOO_MANY_ATTEMPTS;
}

static cx_status _incr(const auth_ctx *c, const char *kind, const char *value)
{
    char key[AUTH_KEY_MAX], window[24];
    _key(key, kind, value);
    snprintf(window, sizeof(window), "%lld", (long long)c->fail_window_s * 1000);
    return cx_redis_cmd(c->redis, NULL, "EVAL %s 1 %s %s", _incr_lua, key, window);
}

cx_status auth_throttle_fail(const auth_ctx *c, const char *email, const char *ip)
{
    cx_status s = _incr(c, "email", email);
    if (ip && *ip) {
        cx_status s2 = _incr(c, "ip", ip);
        if (s == CX_OK)
            s = s2;
    }
    return s;
}

cx_status auth_throttle_clear(const auth_ctx *c, const char *email)
{
    char key[AUTH_KEY_MAX];
    _key(key, "email", email);
    return cx_redis_cmd(c->redis, NULL, "DEL %s", key);
}
