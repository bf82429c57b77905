/* rconn.c: the webhook daemon's Redis connections (see webhook.h).
 *
 * A fixed set of slots behind a mutex/condvar. A slot is (re)connected by
 * the thread that borrows it, outside the lock. Before a borrowed
 * connection is handed out it is checked with a zero-timeout poll: an idle
 * connection has nothing to read, so "readable" means the server closed it
 * (restart, shutdown) and it is replaced; if Redis cannot be reached the
 * borrow fails. That check is what lets the handler write Postgres first
 * and still store nothing at all while Redis is down. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "cx_log.h"
#include "webhook.h"

struct wh_rconn {
    redisContext *ctx; /* NULL when not connected */
    bool busy;
};

struct wh_redis {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char host[256];
    int port;
    int timeout_ms;
    int size;
    wh_rconn *slots;
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

cx_status wh_redis_create(wh_redis **out, const char *addr, int timeout_ms, int size)
{
    if (!out || !addr || timeout_ms < 1 || size < 1 || size > 1024)
        return CX_ERR_CONFIG;
    wh_redis *r = calloc(1, sizeof *r);
    if (!r)
        return CX_ERR_NOMEM;
    cx_status s = CX_ERR_CONFIG;
    if (!_parse_addr(addr, r->host, sizeof r->host, &r->port)) {
        cx_log_error(NULL, "redis: invalid address (want host:port)");
        goto out_free;
    }
    s = CX_ERR_NOMEM;
    r->slots = calloc((size_t)size, sizeof *r->slots);
    if (!r->slots)
        goto out_free;
    r->size = size;
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
    free(r->slots);
    free(r);
    return s;
}

void wh_redis_destroy(wh_redis *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->size; i++)
        if (r->slots[i].ctx)
            redisFree(r->slots[i].ctx);
    free(r->slots);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static struct timeval _tv(int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

/* Borrows a free slot within the timeout, preferring a connected one. */
static wh_rconn *_take_slot(wh_redis *r)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += r->timeout_ms / 1000;
    dl.tv_nsec += (long)(r->timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    wh_rconn *got = NULL;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        for (int i = 0; i < r->size; i++) {
            wh_rconn *c = &r->slots[i];
            if (!c->busy && (!got || (c->ctx && !got->ctx)))
                got = c;
        }
        if (got)
            break;
        if (pthread_cond_timedwait(&r->cv, &r->mu, &dl) == ETIMEDOUT)
            break;
    }
    if (got)
        got->busy = true;
    pthread_mutex_unlock(&r->mu);
    return got;
}

void wh_redis_give(wh_redis *r, wh_rconn *c)
{
    if (!r || !c)
        return;
    pthread_mutex_lock(&r->mu);
    c->busy = false;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Closes a connection that failed; the next borrower reconnects. */
static void _drop(wh_rconn *c)
{
    if (c->ctx)
        redisFree(c->ctx);
    c->ctx = NULL;
}

/* An idle connection has nothing to read: readable means closed. */
static bool _idle_alive(redisContext *ctx)
{
    if (ctx->err)
        return false;
    struct pollfd pfd = {.fd = ctx->fd, .events = POLLIN};
    return poll(&pfd, 1, 0) == 0;
}

cx_status wh_redis_take(wh_redis *r, wh_rconn **out)
{
    wh_rconn *c = _take_slot(r);
    if (!c) {
        cx_log_warn(NULL, "redis: no free connection within %d ms", r->timeout_ms);
        return CX_ERR_UNAVAILABLE;
    }
    if (c->ctx && _idle_alive(c->ctx)) {
        *out = c;
        return CX_OK;
    }
    _drop(c);
    redisContext *ctx = redisConnectWithTimeout(r->host, r->port, _tv(r->timeout_ms));
    if (!ctx || ctx->err) {
        cx_log_warn(NULL, "redis: connect to %s:%d failed: %s", r->host, r->port,
                    ctx ? ctx->errstr : "out of memory");
        goto out_free_ctx;
    }
    if (redisSetTimeout(ctx, _tv(r->timeout_ms)) != REDIS_OK) {
        cx_log_warn(NULL, "redis: cannot set timeout: %s", ctx->errstr);
        goto out_free_ctx;
    }
    c->ctx = ctx;
    *out = c;
    return CX_OK;
out_free_ctx:
    if (ctx)
        redisFree(ctx);
    wh_redis_give(r, c);
    return CX_ERR_UNAVAILABLE;
}

/* Sends argv and reads the reply. NULL: the connection failed and was
 * closed. */
static redisReply *_cmd(wh_rconn *c, int argc, const char **argv, const size_t *lens)
{
    if (!c->ctx)
        return NULL;
    redisReply *rep = redisCommandArgv(c->ctx, argc, argv, lens);
    if (!rep) {
        cx_log_warn(NULL, "redis: command failed: %s", c->ctx->err ? c->ctx->errstr : "no reply");
        _drop(c);
    }
    return rep;
}

static bool _is_error(const redisReply *rep, const char *prefix)
{
    return rep->type == REDIS_REPLY_ERROR && rep->str &&
           strncmp(rep->str, prefix, strlen(prefix)) == 0;
}

/* Learns sc's SHA with SCRIPT LOAD (once per process). */
static cx_status _load(wh_rconn *c, wh_script *sc, char sha[41])
{
    const char *argv[] = {"SCRIPT", "LOAD", sc->src};
    size_t lens[] = {6, 4, strlen(sc->src)};
    redisReply *rep = _cmd(c, 3, argv, lens);
    if (!rep)
        return CX_ERR_UNAVAILABLE;
    cx_status s = CX_OK;
    if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
        cx_log_error(NULL, "redis: SCRIPT LOAD failed: %.120s",
                     rep->type == REDIS_REPLY_ERROR && rep->str ? rep->str : "unexpected reply");
        s = _is_error(rep, "LOADING") || _is_error(rep, "BUSY") ? CX_ERR_UNAVAILABLE
                                                                : CX_ERR_INTERNAL;
        goto out_free_reply;
    }
    memcpy(sha, rep->str, 40);
    sha[40] = '\0';
    pthread_mutex_lock(&sc->mu);
    memcpy(sc->sha, sha, 41);
    pthread_mutex_unlock(&sc->mu);
out_free_reply:
    freeReplyObject(rep);
    return s;
}

#define _MAX_ARGS 20

cx_status wh_redis_script(wh_rconn *c, wh_script *sc, int nkeys, const char *const *keys,
                          int nargs, const char *const *args, long long *ret)
{
    const char *argv[_MAX_ARGS];
    size_t lens[_MAX_ARGS];
    char nk[16], sha[41];
    int argc = 0;
    cx_status s;

    if (3 + nkeys + nargs > _MAX_ARGS)
        return CX_ERR_INTERNAL;
    pthread_mutex_lock(&sc->mu);
    memcpy(sha, sc->sha, sizeof sha);
    pthread_mutex_unlock(&sc->mu);
    if (!sha[0] && (s = _load(c, sc, sha)) != CX_OK)
        return s;

    snprintf(nk, sizeof nk, "%d", nkeys);
    argv[argc++] = "EVALSHA";
    argv[argc++] = sha;
    argv[argc++] = nk;
    for (int i = 0; i < nkeys; i++)
        argv[argc++] = keys[i];
    for (int i = 0; i < nargs; i++)
        argv[argc++] = args[i];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);

    redisReply *rep = _cmd(c, argc, argv, lens);
    if (rep && _is_error(rep, "NOSCRIPT")) {
        /* Redis restarted (or SCRIPT FLUSH): EVAL runs it and caches it. */
        freeReplyObject(rep);
        argv[0] = "EVAL";
        argv[1] = sc->src;
        lens[0] = 4;
        lens[1] = strlen(sc->src);
        rep = _cmd(c, argc, argv, lens);
    }
    if (!rep)
        return CX_ERR_UNAVAILABLE;
    s = CX_OK;
    if (rep->type == REDIS_REPLY_INTEGER) {
        if (ret)
            *ret = rep->integer;
    } else if (rep->type == REDIS_REPLY_ERROR) {
        cx_log_error(NULL, "redis: error reply: %.120s", rep->str ? rep->str : "");
        s = _is_error(rep, "LOADING") || _is_error(rep, "BUSY") ? CX_ERR_UNAVAILABLE
                                                                : CX_ERR_INTERNAL;
    } else {
        cx_log_error(NULL, "redis: script answered type %d, not an integer", rep->type);
        s = CX_ERR_INTERNAL;
    }
    freeReplyObject(rep);
    return s;
}
