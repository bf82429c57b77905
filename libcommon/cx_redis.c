/* cx_redis: a fixed set of hiredis connections behind a mutex/condvar
 * (see cx_redis.h). Each slot holds a connection or NULL; a slot is
 * (re)connected by the thread that borrows it, outside the lock, and a
 * connection that reported an error is freed, to be replaced on next use. */
#include "cx_redis.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "cx_log.h"

struct cx_redis {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char host[256];
    int port;
    int timeout_ms;
    int size;
    redisContext **conns; /* size entries, NULL when not connected */
    bool *busy;           /* size entries */
};

/* Splits "host:port" (host may be "[v6]"); false when malformed. */
static bool _parse_addr(const char *addr, char *host, size_t cap, int *port)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr)
        return false;
    const char *h = addr;
    size_t hlen = (size_t)(colon - addr);
    if (h[0] == '[' && hlen >= 2 && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= cap)
        return false;
    char *end = NULL;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || !end || *end || end == colon + 1 || p < 1 || p > 65535)
        return false;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (int)p;
    return true;
}

cx_status cx_redis_create(cx_redis **out, const char *addr, int timeout_ms, int pool_size)
{
    if (!out || !addr || timeout_ms < 1 || pool_size < 1 || pool_size > 1024)
        return CX_ERR_CONFIG;
    cx_redis *r = calloc(1, sizeof(*r));
    if (!r)
        return CX_ERR_NOMEM;
    cx_status s = CX_ERR_CONFIG;
    if (!_parse_addr(addr, r->host, sizeof(r->host), &r->port)) {
        cx_log_error(NULL, "redis: invalid address (want host:port)");
        goto out_free;
    }
    s = CX_ERR_NOMEM;
    r->conns = calloc((size_t)pool_size, sizeof(*r->conns));
    r->busy = calloc((size_t)pool_size, sizeof(*r->busy));
    if (!r->conns || !r->busy)
        goto out_free;
    r->size = pool_size;
    r->timeout_ms = timeout_ms;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&r->mu, NULL);
    *out = r;
    return CX_OK;
out_free:
    free(r->conns);
    free(r->busy);
    free(r);
    return s;
}

void cx_redis_destroy(cx_redis *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->size; i++)
        if (r->conns[i])
            redisFree(r->conns[i]);
    free(r->conns);
    free(r->busy);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static struct timeval _tv(int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

/* Borrows a slot within timeout_ms; returns its index or -1. */
static int _take_slot(cx_redis *r)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += r->timeout_ms / 1000;
    dl.tv_nsec += (long)(r->timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    int idx = -1;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        /* Prefer a connected slot, so idle connections get reused. */
        for (int i = 0; i < r->size; i++) {
            if (!r->busy[i] && (idx < 0 || (r->conns[i] && !r->conns[idx])))
                idx = i;
        }
        if (idx >= 0)
            break;
        if (pthread_cond_timedwait(&r->cv, &r->mu, &dl) == ETIMEDOUT)
            break;
    }
    if (idx >= 0)
        r->busy[idx] = true;
    pthread_mutex_unlock(&r->mu);
    return idx;
}

static void _give_slot(cx_redis *r, int idx)
{
    pthread_mutex_lock(&r->mu);
    r->busy[idx] = false;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* An idle connection has nothing to read (no pub/sub here): readable means
 * the server closed it, so it is dropped before a command is sent on it. */
static bool _idle_alive(redisContext *c)
{
    if (c->err)
        return false;
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    return poll(&pfd, 1, 0) == 0;
}

/* Makes sure slot idx has a working connection. */
static cx_status _ensure_conn(cx_redis *r, int idx)
{
    redisContext *c = r->conns[idx];
    if (c && _idle_alive(c))
        return CX_OK;
    if (c)
        redisFree(c);
    r->conns[idx] = NULL;
    c = redisConnectWithTimeout(r->host, r->port, _tv(r->timeout_ms));
    if (!c || c->err) {
        cx_log_warn(NULL, "redis: connect to %s:%d failed: %s", r->host, r->port,
                    c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return CX_ERR_UNAVAILABLE;
    }
    if (redisSetTimeout(c, _tv(r->timeout_ms)) != REDIS_OK) {
        cx_log_warn(NULL, "redis: cannot set timeout: %s", c->errstr);
        redisFree(c);
        return CX_ERR_UNAVAILABLE;
    }
    r->conns[idx] = c;
    return CX_OK;
}

/* Checks a reply of slot idx; frees a broken connection. */
static cx_status _finish(cx_redis *r, int idx, redisReply *reply, redisReply **out)
{
    redisContext *c = r->conns[idx];
    if (!reply) {
        cx_log_warn(NULL, "redis: command failed: %s", c->err ? c->errstr : "no reply");
        redisFree(c);
        r->conns[idx] = NULL;
        return CX_ERR_UNAVAILABLE;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        cx_log_error(NULL, "redis: error reply: %.120s", reply->str ? reply->str : "");
        freeReplyObject(reply);
        return CX_ERR_INTERNAL;
    }
    if (out)
        *out = reply;
    else
        freeReplyObject(reply);
    return CX_OK;
}

cx_status cx_redis_cmdv(cx_redis *r, redisReply **out, int argc, const char **argv,
                        const size_t *argvlen)
{
    if (!r || argc < 1 || !argv)
        return CX_ERR_INTERNAL;
    int idx = _take_slot(r);
    if (idx < 0)
        return CX_ERR_UNAVAILABLE;
    cx_status s = _ensure_conn(r, idx);
    if (s == CX_OK) {
        redisReply *reply = redisCommandArgv(r->conns[idx], argc, argv, argvlen);
        s = _finish(r, idx, reply, out);
    }
    _give_slot(r, idx);
    return s;
}

cx_status cx_redis_cmd(cx_redis *r, redisReply **out, const char *fmt, ...)
{
    if (!r || !fmt)
        return CX_ERR_INTERNAL;
    int idx = _take_slot(r);
    if (idx < 0)
        return CX_ERR_UNAVAILABLE;
    cx_status s = _ensure_conn(r, idx);
    if (s == CX_OK) {
        va_list ap;
        va_start(ap, fmt);
        redisReply *reply = redisvCommand(r->conns[idx], fmt, ap);
        va_end(ap);
        s = _finish(r, idx, reply, out);
    }
    _give_slot(r, idx);
    return s;
}

bool cx_redis_ping(cx_redis *r)
{
    redisReply *reply = NULL;
    if (cx_redis_cmd(r, &reply, "PING") != CX_OK)
        return false;
    bool ok = reply->type == REDIS_REPLY_STATUS && reply->str && strcmp(reply->str, "PONG") == 0;
    freeReplyObject(reply);
    return ok;
}
