/* cx_redis: a fixed set of hiredis connections behind a mutex/condvar
 * (see cx_redis.h). Each slot holds a connection or NULL; a slot is
 * (re)connected by the thread that borrows it, outside the lock, and a
 * connection that reported an error is freed, to be replaced on next use.
 * One-shot commands (cx_redis_cmdv/cmd) borrow a slot for one command;
 * cx_redis_acquire lends one for several, and cx_redis_evalsha runs a
 * script by SHA on it. */
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

struct cx_redis_conn {
    redisContext *ctx; /* NULL when not connected */
    bool busy;
};

struct cx_redis {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char host[256];
    int port;
    int timeout_ms;
    int size;
    cx_redis_conn *slots; /* size entries */
    char user[128];       /* ACL user ("" = default) */
    char password[256];   /* "" = no AUTH */
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
    r->slots = calloc((size_t)pool_size, sizeof(*r->slots));
    if (!r->slots)
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
    free(r->slots);
    free(r);
    return s;
}

void cx_redis_destroy(cx_redis *r)
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

/* Borrows a free slot within timeout_ms (0: no wait), preferring a
 * connected one so idle connections get reused; NULL on timeout. */
static cx_redis_conn *_take_slot(cx_redis *r, int timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    cx_redis_conn *got = NULL;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        for (int i = 0; i < r->size; i++) {
            cx_redis_conn *c = &r->slots[i];
            if (!c->busy && (!got || (c->ctx && !got->ctx)))
                got = c;
        }
        if (got || timeout_ms <= 0)
            break;
        if (pthread_cond_timedwait(&r->cv, &r->mu, &dl) == ETIMEDOUT)
            break;
    }
    if (got)
        got->busy = true;
    pthread_mutex_unlock(&r->mu);
    return got;
}

static void _give_slot(cx_redis *r, cx_redis_conn *c)
{
    pthread_mutex_lock(&r->mu);
    c->busy = false;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Closes a connection that failed; the next borrower reconnects. */
static void _drop(cx_redis_conn *c)
{
    if (c->ctx)
        redisFree(c->ctx);
    c->ctx = NULL;
}

/* An idle connection has nothing to read (no pub/sub here): readable means
 * the server closed it, so it is dropped before a command is sent on it. */
static bool _idle_alive(redisContext *ctx)
{
    if (ctx->err)
        return false;
    struct pollfd pfd = {.fd = ctx->fd, .events = POLLIN};
    return poll(&pfd, 1, 0) == 0;
}

/* AUTH [user] password on a fresh connection; the password is never logged. */
static cx_status _auth(cx_redis *r, redisContext *ctx)
{
    const char *argv[3] = {"AUTH", r->user[0] ? r->user : r->password, r->password};
    int argc = r->user[0] ? 3 : 2;
    redisReply *rep = redisCommandArgv(ctx, argc, argv, NULL);
    cx_status s = CX_OK;
    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        cx_log_warn(NULL, "redis: AUTH as %s refused: %.80s", r->user[0] ? r->user : "default",
                    rep ? rep->str : ctx->errstr);
        s = CX_ERR_UNAVAILABLE;
    }
    if (rep)
        freeReplyObject(rep);
    return s;
}

cx_status cx_redis_set_auth(cx_redis *r, const char *user, const char *password)
{
    if (!r || (user && strlen(user) >= sizeof r->user) ||
        (password && strlen(password) >= sizeof r->password) || (user && *user && !(password && *password)))
        return CX_ERR_CONFIG;
    pthread_mutex_lock(&r->mu);
    snprintf(r->user, sizeof r->user, "%s", user ? user : "");
    snprintf(r->password, sizeof r->password, "%s", password ? password : "");
    pthread_mutex_unlock(&r->mu);
    return CX_OK;
}

/* Makes sure the borrowed slot c has a working connection. */
static cx_status _ensure_conn(cx_redis *r, cx_redis_conn *c)
{
    if (c->ctx && _idle_alive(c->ctx))
        return CX_OK;
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
    if (r->password[0] && _auth(r, ctx) != CX_OK)
        goto out_free_ctx;
    c->ctx = ctx;
    return CX_OK;
out_free_ctx:
    if (ctx)
        redisFree(ctx);
    return CX_ERR_UNAVAILABLE;
}

/* Sends argv on c and reads the reply (any type, error replies included).
 * NULL: c was closed already, or the connection failed and is now closed. */
static redisReply *_raw_cmdv(cx_redis_conn *c, int argc, const char **argv,
                             const size_t *argvlen)
{
    if (!c->ctx)
        return NULL;
    redisReply *reply = redisCommandArgv(c->ctx, argc, argv, argvlen);
    if (!reply) {
        cx_log_warn(NULL, "redis: command failed: %s",
                    c->ctx->err ? c->ctx->errstr : "no reply");
        _drop(c);
    }
    return reply;
}

/* Maps a reply of c: NULL -> CX_ERR_UNAVAILABLE, an error reply ->
 * CX_ERR_INTERNAL (freed); otherwise hands it to *out or frees it. */
static cx_status _finish(redisReply *reply, redisReply **out)
{
    if (!reply)
        return CX_ERR_UNAVAILABLE;
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

cx_status cx_redis_acquire(cx_redis *r, cx_redis_conn **out, int timeout_ms)
{
    if (!r || !out)
        return CX_ERR_INTERNAL;
    cx_redis_conn *c = _take_slot(r, timeout_ms);
    if (!c) {
        cx_log_warn(NULL, "redis: no free connection within %d ms", timeout_ms);
        return CX_ERR_UNAVAILABLE;
    }
    cx_status s = _ensure_conn(r, c);
    if (s != CX_OK) {
        _give_slot(r, c);
        return s;
    }
    *out = c;
    return CX_OK;
}

void cx_redis_release(cx_redis *r, cx_redis_conn *c, bool broken)
{
    if (!r || !c)
        return;
    if (broken)
        _drop(c);
    _give_slot(r, c);
}

cx_status cx_redis_conn_cmdv(cx_redis_conn *c, redisReply **out, int argc, const char **argv,
                             const size_t *argvlen)
{
    if (!c || argc < 1 || !argv)
        return CX_ERR_INTERNAL;
    return _finish(_raw_cmdv(c, argc, argv, argvlen), out);
}

bool cx_redis_conn_alive(cx_redis_conn *c)
{
    if (!c || !c->ctx)
        return false;
    if (_idle_alive(c->ctx))
        return true;
    _drop(c);
    return false;
}

cx_status cx_redis_cmdv(cx_redis *r, redisReply **out, int argc, const char **argv,
                        const size_t *argvlen)
{
    if (!r || argc < 1 || !argv)
        return CX_ERR_INTERNAL;
    cx_redis_conn *c = _take_slot(r, r->timeout_ms);
    if (!c)
        return CX_ERR_UNAVAILABLE;
    cx_status s = _ensure_conn(r, c);
    if (s == CX_OK)
        s = _finish(_raw_cmdv(c, argc, argv, argvlen), out);
    _give_slot(r, c);
    return s;
}

cx_status cx_redis_cmd(cx_redis *r, redisReply **out, const char *fmt, ...)
{
    if (!r || !fmt)
        return CX_ERR_INTERNAL;
    cx_redis_conn *c = _take_slot(r, r->timeout_ms);
    if (!c)
        return CX_ERR_UNAVAILABLE;
    cx_status s = _ensure_conn(r, c);
    if (s == CX_OK) {
        va_list ap;
        va_start(ap, fmt);
        redisReply *reply = redisvCommand(c->ctx, fmt, ap);
        va_end(ap);
        if (!reply) {
            cx_log_warn(NULL, "redis: command failed: %s",
                        c->ctx->err ? c->ctx->errstr : "no reply");
            _drop(c);
        }
        s = _finish(reply, out);
    }
    _give_slot(r, c);
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

static bool _is_error(const redisReply *rep, const char *prefix)
{
    return rep->type == REDIS_REPLY_ERROR && rep->str &&
           strncmp(rep->str, prefix, strlen(prefix)) == 0;
}

/* Error replies that mean "try again later" rather than a bug. */
static cx_status _error_status(const redisReply *rep)
{
    return _is_error(rep, "LOADING") || _is_error(rep, "BUSY") ? CX_ERR_UNAVAILABLE
                                                               : CX_ERR_INTERNAL;
}

/* Learns sc's SHA with SCRIPT LOAD (once per process) into sha and sc. */
static cx_status _load(cx_redis_conn *c, cx_redis_script *sc, char sha[41])
{
    const char *argv[] = {"SCRIPT", "LOAD", sc->src};
    size_t lens[] = {6, 4, strlen(sc->src)};
    redisReply *rep = _raw_cmdv(c, 3, argv, lens);
    if (!rep)
        return CX_ERR_UNAVAILABLE;
    cx_status s = CX_OK;
    if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
        cx_log_error(NULL, "redis: SCRIPT LOAD failed: %.120s",
                     rep->type == REDIS_REPLY_ERROR && rep->str ? rep->str : "unexpected reply");
        s = _error_status(rep);
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

#define _MAX_SCRIPT_ARGS 64

cx_status cx_redis_evalsha(cx_redis_conn *c, cx_redis_script *sc, int nkeys,
                           const char *const *keys, int nargs, const char *const *args,
                           redisReply **out)
{
    const char *argv[3 + _MAX_SCRIPT_ARGS];
    size_t lens[3 + _MAX_SCRIPT_ARGS];
    char nk[16], sha[41];
    int argc = 0;
    cx_status s;

    if (!c || !sc || !sc->src || nkeys < 0 || nargs < 0 || nkeys + nargs > _MAX_SCRIPT_ARGS ||
        (nkeys && !keys) || (nargs && !args))
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

    redisReply *rep = _raw_cmdv(c, argc, argv, lens);
    if (rep && _is_error(rep, "NOSCRIPT")) {
        /* Redis restarted (or SCRIPT FLUSH): EVAL runs it and caches it. */
        freeReplyObject(rep);
        argv[0] = "EVAL";
        argv[1] = sc->src;
        lens[0] = 4;
        lens[1] = strlen(sc->src);
        rep = _raw_cmdv(c, argc, argv, lens);
    }
    if (!rep)
        return CX_ERR_UNAVAILABLE;
    if (rep->type == REDIS_REPLY_ERROR) {
        cx_log_error(NULL, "redis: error reply: %.120s", rep->str ? rep->str : "");
        s = _error_status(rep);
        freeReplyObject(rep);
        return s;
    }
    if (out)
        *out = rep;
    else
        freeReplyObject(rep);
    return CX_OK;
}
