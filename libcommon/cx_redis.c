/* cx_redis: a fixed set of pool slots behind a mutex/condvar (see
 * cx_redis.h). A slot is one cx_redis_conn: one hiredis connection per
 * Redis node it has talked to (a single server is node 0), each
 * (re)connected by the thread that borrowed the slot, outside the pool
 * lock; a connection that reported an error is freed, to be replaced on
 * next use. One-shot commands (cx_redis_cmdv/cmd) borrow a slot for one
 * command; cx_redis_acquire lends one for several, and cx_redis_evalsha
 * runs a script by SHA on it.
 *
 * Redis Cluster: REDIS_ADDR may list several seeds. The first connection
 * asks CLUSTER SLOTS: an answer makes this a cluster client (slot map kept
 * here, under map_mu), "cluster support disabled" a single-server one.
 * Every command is sent RESP-encoded; its key (cx_redis_route_key) picks
 * the slot's node; MOVED updates the map (and marks it for a full refresh
 * before the next command), ASK sends ASKING then the command once to the
 * named node; a lost connection marks the map stale too, so a failover is
 * learnt from the surviving nodes. */
#include "cx_redis.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "cx_log.h"
#include "cx_redis_slot.h"

#define RD_MAX_NODES 32 /* seeds and discovered nodes */
#define RD_MAX_HOPS 5   /* redirections followed for one command */

typedef struct _node {
    char host[256];
    int port;
} _node;

typedef enum _mode { RD_MODE_UNKNOWN = 0, RD_MODE_SINGLE, RD_MODE_CLUSTER } _mode;

struct cx_redis_conn {
    cx_redis *r;
    redisContext *ctx[RD_MAX_NODES]; /* per node index; NULL when not connected */
    bool busy;
    bool borrowed; /* lent by cx_redis_acquire */
    bool lost;     /* borrowed, and a connection failed: no reconnect until released */
};

struct cx_redis {
    pthread_mutex_t mu; /* pool: busy flags */
    pthread_cond_t cv;
    pthread_mutex_t map_mu; /* nodes, nnodes, mode, stale, slot_node */
    _node nodes[RD_MAX_NODES];
    int nnodes, nseeds;
    _mode mode;
    bool stale;
    int16_t slot_node[CX_REDIS_SLOTS]; /* node index, -1 unknown */
    int timeout_ms;
    int size;
    cx_redis_conn *slots; /* size entries */
    char user[128];       /* ACL user ("" = default) */
    char password[256];   /* "" = no AUTH */
};

/* Splits "host:port" (host may be "[v6]"); false when malformed. */
static bool _parse_addr(const char *addr, size_t len, char *host, size_t cap, int *port)
{
    char buf[300];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, addr, len);
    buf[len] = '\0';
    const char *colon = strrchr(buf, ':');
    if (!colon || colon == buf)
        return false;
    const char *h = buf;
    size_t hlen = (size_t)(colon - buf);
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

/* addr: "host:port[,host:port...]" (spaces around entries ignored). */
static bool _parse_seeds(cx_redis *r, const char *addr)
{
    const char *p = addr;
    for (;;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, ",");
        size_t t = n;
        while (t > 0 && p[t - 1] == ' ')
            t--;
        if (r->nnodes == RD_MAX_NODES ||
            !_parse_addr(p, t, r->nodes[r->nnodes].host, sizeof r->nodes[0].host,
                         &r->nodes[r->nnodes].port))
            return false;
        r->nnodes++;
        if (!p[n])
            break;
        p += n + 1;
    }
    r->nseeds = r->nnodes;
    return r->nnodes > 0;
}

cx_status cx_redis_create(cx_redis **out, const char *addr, int timeout_ms, int pool_size)
{
    if (!out || !addr || timeout_ms < 1 || pool_size < 1 || pool_size > 1024)
        return CX_ERR_CONFIG;
    cx_redis *r = calloc(1, sizeof(*r));
    if (!r)
        return CX_ERR_NOMEM;
    cx_status s = CX_ERR_CONFIG;
    if (!_parse_seeds(r, addr)) {
        cx_log_error(NULL,
                     "redis: invalid address (want host:port, or a comma-separated "
                     "list of at most %d cluster seeds)",
                     RD_MAX_NODES);
        goto out_free;
    }
    s = CX_ERR_NOMEM;
    r->slots = calloc((size_t)pool_size, sizeof(*r->slots));
    if (!r->slots)
        goto out_free;
    r->size = pool_size;
    for (int i = 0; i < pool_size; i++)
        r->slots[i].r = r;
    for (int i = 0; i < CX_REDIS_SLOTS; i++)
        r->slot_node[i] = -1;
    r->timeout_ms = timeout_ms;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->map_mu, NULL);
    *out = r;
    return CX_OK;
out_free:
    free(r->slots);
    free(r);
    return s;
}

/* Closes node i's connection of c. */
static void _drop(cx_redis_conn *c, int i)
{
    if (c->ctx[i])
        redisFree(c->ctx[i]);
    c->ctx[i] = NULL;
}

static void _drop_all(cx_redis_conn *c)
{
    for (int i = 0; i < RD_MAX_NODES; i++)
        _drop(c, i);
}

void cx_redis_destroy(cx_redis *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->size; i++)
        _drop_all(&r->slots[i]);
    free(r->slots);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_destroy(&r->map_mu);
    free(r);
}

static struct timeval _tv(int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

static bool _has_conn(const cx_redis_conn *c)
{
    for (int i = 0; i < RD_MAX_NODES; i++)
        if (c->ctx[i])
            return true;
    return false;
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
            if (!c->busy && (!got || (_has_conn(c) && !_has_conn(got))))
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
    c->borrowed = false;
    c->lost = false;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
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
        (password && strlen(password) >= sizeof r->password) ||
        (user && *user && !(password && *password)))
        return CX_ERR_CONFIG;
    pthread_mutex_lock(&r->mu);
    snprintf(r->user, sizeof r->user, "%s", user ? user : "");
    snprintf(r->password, sizeof r->password, "%s", password ? password : "");
    pthread_mutex_unlock(&r->mu);
    return CX_OK;
}

/* ---- nodes and the slot map (map_mu) ---------------------------------- */

static _mode _mode_of(cx_redis *r)
{
    pthread_mutex_lock(&r->map_mu);
    _mode m = r->mode;
    pthread_mutex_unlock(&r->map_mu);
    return m;
}

static void _mark_stale(cx_redis *r)
{
    pthread_mutex_lock(&r->map_mu);
    r->stale = r->mode == RD_MODE_CLUSTER;
    pthread_mutex_unlock(&r->map_mu);
}

/* Index of host:port, appended when new; -1 when the table is full. Under
 * map_mu. */
static int _node_index_locked(cx_redis *r, const char *host, int port)
{
    for (int i = 0; i < r->nnodes; i++)
        if (r->nodes[i].port == port && strcmp(r->nodes[i].host, host) == 0)
            return i;
    if (r->nnodes == RD_MAX_NODES || strlen(host) >= sizeof r->nodes[0].host)
        return -1;
    snprintf(r->nodes[r->nnodes].host, sizeof r->nodes[0].host, "%s", host);
    r->nodes[r->nnodes].port = port;
    return r->nnodes++;
}

static int _node_index(cx_redis *r, const char *host, int port)
{
    pthread_mutex_lock(&r->map_mu);
    int i = _node_index_locked(r, host, port);
    pthread_mutex_unlock(&r->map_mu);
    return i;
}

/* Node of slot (-1: unknown; also for a single server, which is node 0). */
static int _slot_owner(cx_redis *r, int slot)
{
    pthread_mutex_lock(&r->map_mu);
    int i = r->mode == RD_MODE_SINGLE ? 0 : r->slot_node[slot];
    pthread_mutex_unlock(&r->map_mu);
    return i;
}

/* Reads a CLUSTER SLOTS answer given by node `asked` into the map. An entry
 * with an empty or "?" address means the node asked. False when the reply
 * is not such an answer (the map is left as it was). */
static bool _apply_slots(cx_redis *r, const redisReply *rep, int asked)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements == 0)
        return false;
    int16_t *map = malloc(sizeof r->slot_node);
    if (!map)
        return false;
    for (int i = 0; i < CX_REDIS_SLOTS; i++)
        map[i] = -1;
    bool ok = true;
    pthread_mutex_lock(&r->map_mu);
    for (size_t e = 0; e < rep->elements && ok; e++) {
        const redisReply *en = rep->element[e];
        ok = en->type == REDIS_REPLY_ARRAY && en->elements >= 3 &&
             en->element[0]->type == REDIS_REPLY_INTEGER &&
             en->element[1]->type == REDIS_REPLY_INTEGER &&
             en->element[2]->type == REDIS_REPLY_ARRAY && en->element[2]->elements >= 2 &&
             en->element[2]->element[0]->type == REDIS_REPLY_STRING &&
             en->element[2]->element[1]->type == REDIS_REPLY_INTEGER;
        if (!ok)
            break;
        long long lo = en->element[0]->integer, hi = en->element[1]->integer;
        const char *host = en->element[2]->element[0]->str;
        long long port = en->element[2]->element[1]->integer;
        if (!host[0] || strcmp(host, "?") == 0)
            host = r->nodes[asked].host;
        int idx = port >= 1 && port <= 65535 ? _node_index_locked(r, host, (int)port) : -1;
        ok = lo >= 0 && hi < CX_REDIS_SLOTS && lo <= hi && idx >= 0;
        for (long long s = lo; ok && s <= hi; s++)
            map[s] = (int16_t)idx;
    }
    if (ok) {
        memcpy(r->slot_node, map, sizeof r->slot_node);
        r->mode = RD_MODE_CLUSTER;
        r->stale = false;
    }
    pthread_mutex_unlock(&r->map_mu);
    free(map);
    if (!ok)
        cx_log_warn(NULL, "redis: unexpected CLUSTER SLOTS answer ignored");
    return ok;
}

/* On a fresh connection to node i while the mode is unknown: CLUSTER SLOTS
 * tells a cluster (and fills the map) from a single server. */
static void _detect(cx_redis *r, redisContext *ctx, int i)
{
    redisReply *rep = redisCommand(ctx, "CLUSTER SLOTS");
    if (!rep)
        return; /* ctx->err is set: the caller drops it */
    if (rep->type == REDIS_REPLY_ARRAY) {
        if (_apply_slots(r, rep, i))
            cx_log_info(NULL, "redis: cluster mode (%zu slot ranges)", rep->elements);
    } else if (rep->type == REDIS_REPLY_ERROR) {
        pthread_mutex_lock(&r->map_mu);
        if (r->mode == RD_MODE_UNKNOWN &&
            (strstr(rep->str, "cluster support disabled") || r->nseeds == 1)) {
            r->mode = RD_MODE_SINGLE;
            if (!strstr(rep->str, "cluster support disabled"))
                cx_log_warn(NULL, "redis: CLUSTER SLOTS refused (%.80s): single server",
                            rep->str);
        }
        pthread_mutex_unlock(&r->map_mu);
    }
    freeReplyObject(rep);
}

/* Connects node i (timeouts set); NULL on failure (logged). */
static redisContext *_connect(cx_redis *r, int i)
{
    char host[256];
    int port;
    pthread_mutex_lock(&r->map_mu);
    memcpy(host, r->nodes[i].host, sizeof host);
    port = r->nodes[i].port;
    pthread_mutex_unlock(&r->map_mu);
    redisContext *ctx = redisConnectWithTimeout(host, port, _tv(r->timeout_ms));
    if (!ctx || ctx->err) {
        cx_log_warn(NULL, "redis: connect to %s:%d failed: %s", host, port,
                    ctx ? ctx->errstr : "out of memory");
        goto out_free_ctx;
    }
    if (redisSetTimeout(ctx, _tv(r->timeout_ms)) != REDIS_OK) {
        cx_log_warn(NULL, "redis: cannot set timeout: %s", ctx->errstr);
        goto out_free_ctx;
    }
    if (r->password[0] && _auth(r, ctx) != CX_OK)
        goto out_free_ctx;
    if (_mode_of(r) == RD_MODE_UNKNOWN) {
        _detect(r, ctx, i);
        if (ctx->err)
            goto out_free_ctx;
    }
    return ctx;
out_free_ctx:
    if (ctx)
        redisFree(ctx);
    return NULL;
}

/* The connection of c to node i, connected when missing. A one-shot slot
 * also replaces a connection the server closed; a borrowed one keeps what
 * it has (a failure shows in the command) and, once lost, gets nothing. */
static redisContext *_ctx(cx_redis_conn *c, int i)
{
    if (i < 0 || i >= RD_MAX_NODES || c->lost)
        return NULL;
    if (c->ctx[i] && (c->borrowed || _idle_alive(c->ctx[i])))
        return c->ctx[i];
    _drop(c, i);
    c->ctx[i] = _connect(c->r, i);
    return c->ctx[i];
}

static int _nnodes(cx_redis *r)
{
    pthread_mutex_lock(&r->map_mu);
    int n = r->nnodes;
    pthread_mutex_unlock(&r->map_mu);
    return n;
}

/* Any node c can talk to: one it is connected to, else the first that
 * connects (seeds first). -1 when none. */
static int _any_node(cx_redis_conn *c)
{
    int n = _nnodes(c->r);
    for (int i = 0; i < n; i++)
        if (c->ctx[i])
            return i;
    for (int i = 0; i < n && !c->lost; i++)
        if (_ctx(c, i))
            return i;
    return -1;
}

/* Rebuilds the slot map from the first node of c that answers. */
static void _refresh(cx_redis_conn *c)
{
    int n = _nnodes(c->r);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < n; i++) {
            /* connected nodes first, then the others */
            if ((pass == 0) != (c->ctx[i] != NULL))
                continue;
            redisContext *ctx = _ctx(c, i);
            if (!ctx)
                continue;
            redisReply *rep = redisCommand(ctx, "CLUSTER SLOTS");
            if (!rep) {
                _drop(c, i);
                continue;
            }
            bool ok = _apply_slots(c->r, rep, i);
            freeReplyObject(rep);
            if (ok)
                return;
        }
    }
}

/* "MOVED 3999 127.0.0.1:6381" / "ASK ..." -> slot, host, port (an empty
 * host means the node that answered, node `from`). */
static bool _redirect(cx_redis *r, const redisReply *rep, const char *kind, int from, int *slot,
                      char host[256], int *port)
{
    size_t kl = strlen(kind);
    if (rep->type != REDIS_REPLY_ERROR || !rep->str || strncmp(rep->str, kind, kl) != 0 ||
        rep->str[kl] != ' ')
        return false;
    char *end = NULL;
    long s = strtol(rep->str + kl + 1, &end, 10);
    if (!end || *end != ' ' || s < 0 || s >= CX_REDIS_SLOTS)
        return false;
    const char *addr = end + 1;
    if (addr[0] == ':') {
        char full[300];
        pthread_mutex_lock(&r->map_mu);
        snprintf(full, sizeof full, "%s%s", r->nodes[from].host, addr);
        pthread_mutex_unlock(&r->map_mu);
        if (!_parse_addr(full, strlen(full), host, 256, port))
            return false;
    } else if (!_parse_addr(addr, strlen(addr), host, 256, port)) {
        return false;
    }
    *slot = (int)s;
    return true;
}

/* Sends a RESP-encoded command on node i and reads its reply; NULL when
 * the connection failed (it is then closed). */
static redisReply *_roundtrip(cx_redis_conn *c, int i, const char *cmd, size_t len, bool asking)
{
    redisContext *ctx = _ctx(c, i);
    redisReply *rep = NULL;
    if (!ctx)
        return NULL;
    if (asking && redisAppendCommand(ctx, "ASKING") != REDIS_OK)
        goto out_fail;
    if (redisAppendFormattedCommand(ctx, cmd, len) != REDIS_OK)
        goto out_fail;
    if (asking) {
        if (redisGetReply(ctx, (void **)&rep) != REDIS_OK)
            goto out_fail;
        freeReplyObject(rep);
        rep = NULL;
    }
    if (redisGetReply(ctx, (void **)&rep) != REDIS_OK)
        goto out_fail;
    return rep;
out_fail:
    cx_log_warn(NULL, "redis: command failed: %s", ctx->err ? ctx->errstr : "no reply");
    _drop(c, i);
    return NULL;
}

/* Sends a RESP-encoded command where its key lives, following redirections.
 * Returns the reply (any type, error replies included), or NULL when no
 * connection could carry it (then a borrowed c is lost). */
static redisReply *_send(cx_redis_conn *c, const char *cmd, size_t len)
{
    cx_redis *r = c->r;
    const char *key = NULL;
    size_t kl = 0;
    bool keyed = cx_redis_route_key(cmd, len, &key, &kl);
    bool asking = false;
    redisReply *rep = NULL;

    if (c->lost)
        return NULL;
    pthread_mutex_lock(&r->map_mu);
    bool stale = r->stale;
    pthread_mutex_unlock(&r->map_mu);
    if (stale)
        _refresh(c);
    int node = keyed ? _slot_owner(r, cx_redis_key_slot(key, kl)) : -1;
    if (node < 0)
        node = _any_node(c);
    for (int hop = 0; node >= 0 && hop < RD_MAX_HOPS; hop++) {
        int slot, port;
        char host[256];
        rep = _roundtrip(c, node, cmd, len, asking);
        if (!rep)
            break;
        asking = false;
        if (hop + 1 == RD_MAX_HOPS)
            return rep; /* the last redirection is the caller's error */
        if (_redirect(r, rep, "MOVED", node, &slot, host, &port)) {
            /* the slot moved for good: remember it, refresh the rest later */
            int to = _node_index(r, host, port);
            pthread_mutex_lock(&r->map_mu);
            if (to >= 0)
                r->slot_node[slot] = (int16_t)to;
            r->stale = true;
            pthread_mutex_unlock(&r->map_mu);
            if (to < 0)
                return rep;
            freeReplyObject(rep);
            node = to;
            continue;
        }
        if (_redirect(r, rep, "ASK", node, &slot, host, &port)) {
            int to = _node_index(r, host, port);
            if (to < 0)
                return rep;
            freeReplyObject(rep);
            node = to;
            asking = true;
            continue;
        }
        return rep;
    }
    _mark_stale(r);
    if (c->borrowed)
        c->lost = true;
    return NULL;
}

/* Error replies that mean "try again later" rather than a bug. */
static bool _is_error(const redisReply *rep, const char *prefix)
{
    return rep->type == REDIS_REPLY_ERROR && rep->str &&
           strncmp(rep->str, prefix, strlen(prefix)) == 0;
}

static cx_status _error_status(const redisReply *rep)
{
    static const char *const later[] = {"LOADING",     "BUSY",  "TRYAGAIN",
                                        "CLUSTERDOWN", "MOVED", "ASK"};
    for (size_t i = 0; i < sizeof later / sizeof later[0]; i++)
        if (_is_error(rep, later[i]))
            return CX_ERR_UNAVAILABLE;
    return CX_ERR_INTERNAL;
}

/* Maps a reply: NULL -> CX_ERR_UNAVAILABLE, an error reply ->
 * _error_status (freed); otherwise hands it to *out or frees it. */
static cx_status _finish(redisReply *reply, redisReply **out)
{
    if (!reply)
        return CX_ERR_UNAVAILABLE;
    if (reply->type == REDIS_REPLY_ERROR) {
        cx_log_error(NULL, "redis: error reply: %.120s", reply->str ? reply->str : "");
        cx_status s = _error_status(reply);
        freeReplyObject(reply);
        return s;
    }
    if (out)
        *out = reply;
    else
        freeReplyObject(reply);
    return CX_OK;
}

/* Encodes argv and sends it (see _send). */
static redisReply *_sendv(cx_redis_conn *c, int argc, const char **argv, const size_t *argvlen)
{
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (len < 0)
        return NULL;
    redisReply *rep = _send(c, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return rep;
}

/* Drops the connections of c the server closed; true when one is left. */
static bool _prune(cx_redis_conn *c)
{
    bool any = false;
    for (int i = 0; i < RD_MAX_NODES; i++) {
        if (c->ctx[i] && !_idle_alive(c->ctx[i]))
            _drop(c, i);
        any = any || c->ctx[i];
    }
    return any;
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
    if (!_prune(c) && _any_node(c) < 0) {
        _give_slot(r, c);
        return CX_ERR_UNAVAILABLE;
    }
    c->borrowed = true;
    *out = c;
    return CX_OK;
}

void cx_redis_release(cx_redis *r, cx_redis_conn *c, bool broken)
{
    if (!r || !c)
        return;
    if (broken || c->lost)
        _drop_all(c);
    _give_slot(r, c);
}

cx_status cx_redis_conn_cmdv(cx_redis_conn *c, redisReply **out, int argc, const char **argv,
                             const size_t *argvlen)
{
    if (!c || argc < 1 || !argv)
        return CX_ERR_INTERNAL;
    return _finish(_sendv(c, argc, argv, argvlen), out);
}

bool cx_redis_conn_alive(cx_redis_conn *c)
{
    if (!c || c->lost)
        return false;
    if (_prune(c))
        return true;
    c->lost = c->borrowed;
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
    cx_status s = _finish(_sendv(c, argc, argv, argvlen), out);
    _give_slot(r, c);
    return s;
}

cx_status cx_redis_cmd(cx_redis *r, redisReply **out, const char *fmt, ...)
{
    if (!r || !fmt)
        return CX_ERR_INTERNAL;
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (len < 0)
        return CX_ERR_INTERNAL;
    cx_status s = CX_ERR_UNAVAILABLE;
    cx_redis_conn *c = _take_slot(r, r->timeout_ms);
    if (c) {
        s = _finish(_send(c, cmd, (size_t)len), out);
        _give_slot(r, c);
    }
    redisFreeCommand(cmd);
    return s;
}

bool cx_redis_ping(cx_redis *r)
{
    redisReply *reply = NULL;
    if (cx_redis_cmd(r, &reply, "PING") != CX_OK)
        return false;
    bool ok = reply->type == REDIS_REPLY_STATUS && reply->str &&
              strcmp(reply->str, "PONG") == 0;
    freeReplyObject(reply);
    return ok;
}

bool cx_redis_is_cluster(cx_redis *r)
{
    return r && _mode_of(r) == RD_MODE_CLUSTER;
}

/* Node index of master m (masters in the order of the slots they serve),
 * -1 when there is no such master. A single server is master 0 = node 0. */
static int _master_node(cx_redis *r, int m)
{
    int seen[RD_MAX_NODES], n = 0, found = -1;
    pthread_mutex_lock(&r->map_mu);
    if (r->mode != RD_MODE_CLUSTER) {
        found = m == 0 ? 0 : -1;
        goto out_unlock;
    }
    for (int s = 0; s < CX_REDIS_SLOTS && found < 0; s++) {
        int o = r->slot_node[s];
        bool dup = o < 0;
        for (int k = 0; k < n && !dup; k++)
            dup = seen[k] == o;
        if (dup)
            continue;
        if (n == m)
            found = o;
        seen[n++] = o;
    }
out_unlock:
    pthread_mutex_unlock(&r->map_mu);
    return found;
}

int cx_redis_masters(cx_redis *r)
{
    if (!r)
        return 0;
    if (_mode_of(r) == RD_MODE_UNKNOWN) {
        /* the first connection tells a cluster from a single server */
        cx_redis_conn *c = _take_slot(r, r->timeout_ms);
        if (!c)
            return 0;
        int any = _any_node(c);
        _give_slot(r, c);
        if (any < 0)
            return 0;
    }
    int n = 0;
    while (n < RD_MAX_NODES && _master_node(r, n) >= 0)
        n++;
    return n;
}

cx_status cx_redis_cmd_on(cx_redis *r, int master, redisReply **out, const char *fmt, ...)
{
    if (!r || !fmt)
        return CX_ERR_INTERNAL;
    int node = _master_node(r, master);
    if (node < 0)
        return CX_ERR_UNAVAILABLE; /* the map changed, or unknown yet */
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (len < 0)
        return CX_ERR_INTERNAL;
    cx_status s = CX_ERR_UNAVAILABLE;
    cx_redis_conn *c = _take_slot(r, r->timeout_ms);
    if (c) {
        redisReply *rep = _roundtrip(c, node, cmd, (size_t)len, false);
        if (!rep)
            _mark_stale(r);
        s = _finish(rep, out);
        _give_slot(r, c);
    }
    redisFreeCommand(cmd);
    return s;
}

/* Learns sc's SHA with SCRIPT LOAD (once per process) into sha and sc. */
static cx_status _load(cx_redis_conn *c, cx_redis_script *sc, char sha[41])
{
    const char *argv[] = {"SCRIPT", "LOAD", sc->src};
    size_t lens[] = {6, 4, strlen(sc->src)};
    redisReply *rep = _sendv(c, 3, argv, lens);
    if (!rep)
        return CX_ERR_UNAVAILABLE;
    cx_status s = CX_OK;
    if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
        cx_log_error(NULL, "redis: SCRIPT LOAD failed: %.120s",
                     rep->type == REDIS_REPLY_ERROR && rep->str ? rep->str
                                                                : "unexpected reply");
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

#define RD_MAX_SCRIPT_ARGS 64

/* The EVALSHA argument vector of one call (argv[1] is sha, argv[2] nk).
 * Returns argc, or -1 when the call is malformed. */
static int _evalsha_argv(const char **argv, size_t *lens, char sha[41], char nk[16],
                         cx_redis_script *sc, int nkeys, const char *const *keys, int nargs,
                         const char *const *args)
{
    int argc = 0;
    if (!sc || !sc->src || nkeys < 0 || nargs < 0 || nkeys + nargs > RD_MAX_SCRIPT_ARGS ||
        (nkeys && !keys) || (nargs && !args))
        return -1;
    snprintf(nk, 16, "%d", nkeys);
    argv[argc++] = "EVALSHA";
    argv[argc++] = sha;
    argv[argc++] = nk;
    for (int i = 0; i < nkeys; i++)
        argv[argc++] = keys[i];
    for (int i = 0; i < nargs; i++)
        argv[argc++] = args[i];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return argc;
}

/* sc's SHA into sha, loading the script once per process. */
static cx_status _sha_of(cx_redis_conn *c, cx_redis_script *sc, char sha[41])
{
    pthread_mutex_lock(&sc->mu);
    memcpy(sha, sc->sha, 41);
    pthread_mutex_unlock(&sc->mu);
    return sha[0] ? CX_OK : _load(c, sc, sha);
}

cx_status cx_redis_evalsha(cx_redis_conn *c, cx_redis_script *sc, int nkeys,
                           const char *const *keys, int nargs, const char *const *args,
                           redisReply **out)
{
    const char *argv[3 + RD_MAX_SCRIPT_ARGS];
    size_t lens[3 + RD_MAX_SCRIPT_ARGS];
    char nk[16], sha[41];
    cx_status s;

    int argc = c ? _evalsha_argv(argv, lens, sha, nk, sc, nkeys, keys, nargs, args) : -1;
    if (argc < 0)
        return CX_ERR_INTERNAL;
    if ((s = _sha_of(c, sc, sha)) != CX_OK)
        return s;
    lens[1] = 40;

    /* Routed by the first key: on a cluster the script runs on (and, after
     * NOSCRIPT, is cached by) the node of the keys' slot. */
    redisReply *rep = _sendv(c, argc, argv, lens);
    if (rep && _is_error(rep, "NOSCRIPT")) {
        /* Redis restarted (or SCRIPT FLUSH, or a node that never saw it):
         * EVAL runs it and caches it. */
        freeReplyObject(rep);
        argv[0] = "EVAL";
        argv[1] = sc->src;
        lens[0] = 4;
        lens[1] = strlen(sc->src);
        rep = _sendv(c, argc, argv, lens);
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

static void _call_one(cx_redis_conn *c, cx_redis_call *k)
{
    k->status = cx_redis_evalsha(c, k->sc, k->nkeys, k->keys, k->nargs, k->args, &k->reply);
}

/* Appends call k to ctx as EVALSHA; false when it cannot be formatted. */
static bool _append_call(redisContext *ctx, cx_redis_call *k)
{
    const char *argv[3 + RD_MAX_SCRIPT_ARGS];
    size_t lens[3 + RD_MAX_SCRIPT_ARGS];
    char nk[16], sha[41];
    char *cmd = NULL;

    int argc = _evalsha_argv(argv, lens, sha, nk, k->sc, k->nkeys, k->keys, k->nargs, k->args);
    if (argc < 0) {
        k->status = CX_ERR_INTERNAL;
        return false;
    }
    /* no I/O here (commands are queued on ctx): the SHA was learnt before */
    pthread_mutex_lock(&k->sc->mu);
    memcpy(sha, k->sc->sha, 41);
    pthread_mutex_unlock(&k->sc->mu);
    if (!sha[0]) {
        k->status = CX_ERR_INTERNAL;
        return false;
    }
    lens[1] = 40;
    int len = redisFormatCommandArgv(&cmd, argc, argv, lens);
    bool ok = len >= 0 && redisAppendFormattedCommand(ctx, cmd, (size_t)len) == REDIS_OK;
    redisFreeCommand(cmd);
    k->status = ok ? CX_OK : CX_ERR_NOMEM;
    return ok;
}

void cx_redis_evalsha_many(cx_redis_conn *c, cx_redis_call *calls, int n)
{
    bool retry[CX_REDIS_MANY_MAX] = {0};
    redisContext *ctx = NULL;
    int node = -1, sent = 0;

    for (int i = 0; i < n; i++) {
        calls[i].status = CX_ERR_UNAVAILABLE;
        calls[i].reply = NULL;
    }
    if (!c || n <= 0)
        return;
    if (n > CX_REDIS_MANY_MAX) {
        for (int i = 0; i < n; i++)
            calls[i].status = CX_ERR_INTERNAL;
        return;
    }
    pthread_mutex_lock(&c->r->map_mu);
    bool single = c->r->mode == RD_MODE_SINGLE;
    pthread_mutex_unlock(&c->r->map_mu);
    if (single && !c->lost && n > 1 && (node = _any_node(c)) >= 0)
        ctx = _ctx(c, node);
    if (!ctx) { /* a cluster (keys route per call), one call, or no connection yet */
        for (int i = 0; i < n; i++)
            _call_one(c, &calls[i]);
        return;
    }
    /* Every script's SHA first (a SCRIPT LOAD is a round trip of its own,
     * which must not come between queued commands and their replies). */
    for (int i = 0; i < n; i++) {
        char sha[41];
        if (!calls[i].sc || !calls[i].sc->src) {
            calls[i].status = CX_ERR_INTERNAL;
            continue;
        }
        cx_status s = _sha_of(c, calls[i].sc, sha);
        if (s != CX_OK) {
            for (int j = 0; j < n; j++)
                calls[j].status = s;
            return;
        }
    }
    /* Every call formatted into ctx's output buffer; the first read writes
     * them all at once. A call that could not be appended keeps its error
     * status (and nothing after it is sent, so the replies stay in order). */
    while (sent < n && _append_call(ctx, &calls[sent]))
        sent++;
    for (int i = 0; i < sent; i++) {
        redisReply *rep = NULL;
        if (redisGetReply(ctx, (void **)&rep) != REDIS_OK) {
            /* the rest of the replies are lost: those calls may or may not
             * have run, so they answer unavailable (as one lost reply does) */
            cx_log_warn(NULL, "redis: pipelined scripts failed: %s",
                        ctx->err ? ctx->errstr : "no reply");
            _drop(c, node);
            if (c->borrowed)
                c->lost = true;
            for (int j = i; j < sent; j++)
                calls[j].status = CX_ERR_UNAVAILABLE;
            sent = i;
            break;
        }
        if (_is_error(rep, "NOSCRIPT")) {
            retry[i] = true; /* run again, by full text, once the pipe is read */
            freeReplyObject(rep);
        } else if (rep->type == REDIS_REPLY_ERROR) {
            cx_log_error(NULL, "redis: error reply: %.120s", rep->str ? rep->str : "");
            calls[i].status = _error_status(rep);
            freeReplyObject(rep);
        } else {
            calls[i].status = CX_OK;
            calls[i].reply = rep;
        }
    }
    for (int i = 0; i < sent; i++)
        if (retry[i])
            _call_one(c, &calls[i]);
}
