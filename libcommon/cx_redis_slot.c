/* cx_redis_slot.c: see cx_redis_slot.h. */
#include "cx_redis_slot.h"

#include <string.h>
#include <strings.h>

uint16_t cx_redis_crc16(const char *buf, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)buf[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

int cx_redis_key_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t rest = len - (size_t)(open - key) - 1;
        const char *close = memchr(open + 1, '}', rest);
        if (close && close > open + 1)
            return cx_redis_crc16(open + 1, (size_t)(close - open - 1)) & (CX_REDIS_SLOTS - 1);
    }
    return cx_redis_crc16(key, len) & (CX_REDIS_SLOTS - 1);
}

/* Reads a decimal number ended by "\r\n" at *p (< end); advances *p past it. */
static bool _number(const char **p, const char *end, long *out)
{
    long v = 0;
    const char *q = *p;
    if (q >= end || *q < '0' || *q > '9')
        return false;
    while (q < end && *q >= '0' && *q <= '9') {
        if (v > 100000000L)
            return false;
        v = v * 10 + (*q++ - '0');
    }
    if (end - q < 2 || q[0] != '\r' || q[1] != '\n')
        return false;
    *p = q + 2;
    *out = v;
    return true;
}

bool cx_redis_resp_arg(const char *cmd, size_t len, int i, const char **arg, size_t *n)
{
    if (!cmd)
        return false;
    const char *p = cmd, *end = cmd + len;
    long argc = 0;
    if (i < 0 || p >= end || *p++ != '*' || !_number(&p, end, &argc) || i >= argc)
        return false;
    for (int k = 0; k <= i; k++) {
        long l = 0;
        if (p >= end || *p++ != '$' || !_number(&p, end, &l) || end - p < l + 2)
            return false;
        if (k == i) {
            *arg = p;
            *n = (size_t)l;
            return true;
        }
        p += l + 2;
    }
    return false;
}

/* Commands that take no key (what this code base sends, and the admin
 * commands a test may send): routed to any node. */
static const char *const _keyless[] = {
    "PING",   "ECHO",      "SCAN",     "SCRIPT",  "CLUSTER", "CLIENT",  "INFO",    "CONFIG",
    "TIME",   "DBSIZE",    "FLUSHALL", "FLUSHDB", "KEYS",    "ACL",     "AUTH",    "HELLO",
    "SELECT", "ASKING",    "READONLY", "COMMAND", "MULTI",   "EXEC",    "DISCARD", "PUBLISH",
    "WAIT",   "RANDOMKEY", "LASTSAVE", "MEMORY",  "LATENCY", "SLOWLOG", "DEBUG",   "FUNCTION",
};

static bool _is(const char *a, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(a, name, n) == 0;
}

bool cx_redis_route_key(const char *cmd, size_t len, const char **key, size_t *n)
{
    const char *name = NULL, *nk = NULL;
    size_t nl = 0, nkl = 0;
    if (!cx_redis_resp_arg(cmd, len, 0, &name, &nl))
        return false;
    for (size_t i = 0; i < sizeof _keyless / sizeof _keyless[0]; i++)
        if (_is(name, nl, _keyless[i]))
            return false;
    if (_is(name, nl, "EVAL") || _is(name, nl, "EVALSHA") || _is(name, nl, "EVAL_RO") ||
        _is(name, nl, "EVALSHA_RO") || _is(name, nl, "FCALL") || _is(name, nl, "FCALL_RO")) {
        if (!cx_redis_resp_arg(cmd, len, 2, &nk, &nkl) || nkl == 0 ||
            (nkl == 1 && nk[0] == '0'))
            return false;
        return cx_redis_resp_arg(cmd, len, 3, key, n);
    }
    return cx_redis_resp_arg(cmd, len, 1, key, n);
}
