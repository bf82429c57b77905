/* Login attempt counters in Redis (see auth.h).
 *
 * Keys: cx:auth:fail:email:<sha256 hex of the email> and
 * cx:auth:fail:ip:<sha256 hex of the ip> (hashed so that no address is
 * kept in Redis in clear and key length stays bounded). A counter starts
 * its window with its first reservation. Each script touches one key only,
 * so every key may live in its own Redis Cluster slot.
 *
 * An attempt is reserved before the password is hashed: check-and-count
 * is one script, so concurrent guesses cannot all pass a check made before
 * any of them counted (at most the limit reach the hasher). A failed
 * attempt keeps its reservation (it is the failure count); a successful
 * one releases it (the email's failures are forgotten); an attempt that
 * could not be judged (a store down) gives both back. */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "cx_crypto.h"
#include "cx_log.h"

#define AUTH_KEY_MAX 96

/* Reserves one attempt unless the counter reached ARGV[2]; sets the window
 * ARGV[1] (ms) on the first one (or a key somehow without expiry).
 * Returns {1, count} when reserved, {0, pttl} when the limit is reached. */
static const char _reserve_lua[] =
    "local n = tonumber(redis.call('GET', KEYS[1]) or '0') "
    "if n >= tonumber(ARGV[2]) then return {0, redis.call('PTTL', KEYS[1])} end "
    "n = redis.call('INCR', KEYS[1]) "
    "if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then "
    "redis.call('PEXPIRE', KEYS[1], ARGV[1]) end "
    "return {1, n}";

/* Gives one reservation back (the window's expiry stays). */
static const char _release_lua[] =
    "local n = tonumber(redis.call('GET', KEYS[1]) or '0') "
    "if n <= 1 then redis.call('DEL', KEYS[1]) else redis.call('DECR', KEYS[1]) end "
    "return 0";

static void _key(char out[AUTH_KEY_MAX], const char *kind, const char *value)
{
    char hex[65];
    cx_sha256_hex(value, strlen(value), hex);
    snprintf(out, AUTH_KEY_MAX, "cx:auth:fail:%s:%s", kind, hex);
}

/* Reserves one attempt on a counter: *reserved, or *retry_s = seconds
 * until the blocking counter expires. */
static cx_status _reserve(const auth_ctx *c, const char *kind, const char *value, int64_t max,
                          bool *reserved, int *retry_s)
{
    char key[AUTH_KEY_MAX], window[24], limit[24];
    redisReply *r = NULL;
    _key(key, kind, value);
    snprintf(window, sizeof(window), "%lld", (long long)c->fail_window_s * 1000);
    snprintf(limit, sizeof(limit), "%lld", (long long)max);
    const char *argv[] = {"EVAL", _reserve_lua, "1", key, window, limit};
    cx_status s = cx_redis_cmdv(c->redis, &r, 6, argv, NULL);
    if (s != CX_OK)
        return s;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER ||
        r->element[1]->type != REDIS_REPLY_INTEGER) {
        s = CX_ERR_INTERNAL;
        goto out_free_reply;
    }
    *reserved = r->element[0]->integer == 1;
    if (!*reserved) {
        /* Round up; a key without expiry (never left by our script) would
         * otherwise give 0: report a whole window then. */
        long long pttl = r->element[1]->integer;
        long long secs = pttl > 0 ? (pttl + 999) / 1000 : c->fail_window_s;
        *retry_s = secs < 1 ? 1 : (int)secs;
    }
out_free_reply:
    freeReplyObject(r);
    return s;
}

static cx_status _release(const auth_ctx *c, const char *kind, const char *value)
{
    char key[AUTH_KEY_MAX];
    _key(key, kind, value);
    const char *argv[] = {"EVAL", _release_lua, "1", key};
    return cx_redis_cmdv(c->redis, NULL, 4, argv, NULL);
}

cx_status auth_throttle_reserve(const auth_ctx *c, const char *email, const char *ip,
                                int *retry_after_s)
{
    bool ok = false;
    int retry = 0;
    cx_status s = _reserve(c, "email", email, c->max_fail_email, &ok, &retry);
    if (s != CX_OK || !ok)
        goto out;
    if (ip && *ip) {
        s = _reserve(c, "ip", ip, c->max_fail_ip, &ok, &retry);
        if (s != CX_OK || !ok) {
            /* the ip blocks (or Redis failed): the email's reservation
             * goes back, this attempt never happened */
            if (_release(c, "email", email) != CX_OK)
                cx_log_warn(NULL, "could not give back a login reservation");
            goto out;
        }
    }
out:
    if (s != CX_OK)
        return s;
    if (ok)
        return CX_OK;
    *retry_after_s = retry;
    return CX_ERR_TOO_MANY_ATTEMPTS;
}

cx_status auth_throttle_succeeded(const auth_ctx *c, const char *email, const char *ip)
{
    char key[AUTH_KEY_MAX];
    _key(key, "email", email);
    cx_status s = cx_redis_cmd(c->redis, NULL, "DEL %s", key);
    if (ip && *ip) {
        cx_status s2 = _release(c, "ip", ip);
        if (s == CX_OK)
            s = s2;
    }
    return s;
}

cx_status auth_throttle_unjudged(const auth_ctx *c, const char *email, const char *ip)
{
    cx_status s = _release(c, "email", email);
    if (ip && *ip) {
        cx_status s2 = _release(c, "ip", ip);
        if (s == CX_OK)
            s = s2;
    }
    return s;
}
