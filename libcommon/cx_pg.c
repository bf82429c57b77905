/* cx_pg: a small thread-safe libpq connection pool (see cx_pg.h).
 *
 * The conninfo (URL or key=value) is parsed once with PQconninfoParse into
 * keyword/value arrays; safety settings the caller did not give are added
 * (connect_timeout, tcp_user_timeout) and the server options gain
 * TimeZone=UTC and a statement_timeout, so that no call can hang for long.
 * Connections are opened lazily, outside the pool lock. */
#include "cx_pg.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cx_log.h"

/* Server-side options added to every connection. */
#define CX_PG_SESSION_OPTS "-c TimeZone=UTC -c statement_timeout=5000"

struct cx_pg_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int size; /* most connections, borrowed + idle */
    int busy; /* borrowed (or being connected) */
    int nidle;
    PGconn **idle;     /* size entries, nidle used (a stack) */
    const char **keys; /* NULL-terminated, for PQconnectdbParams */
    const char **vals; /* both own their strings */
};

static void free_params(cx_pg_pool *p)
{
    if (p->vals) {
        for (int i = 0; p->keys && p->keys[i]; i++) {
            free((char *)p->keys[i]);
            free((char *)p->vals[i]);
        }
    }
    free(p->keys);
    free(p->vals);
    p->keys = NULL;
    p->vals = NULL;
}

/* Appends key=val to the arrays (both copied). */
static cx_status add_param(cx_pg_pool *p, int *n, const char *key, const char *val)
{
    p->keys[*n] = strdup(key);
    p->vals[*n] = strdup(val);
    if (!p->keys[*n] || !p->vals[*n]) {
        free((char *)p->keys[*n]);
        free((char *)p->vals[*n]);
        p->keys[*n] = p->vals[*n] = NULL;
        return CX_ERR_NOMEM;
    }
    (*n)++;
    p->keys[*n] = p->vals[*n] = NULL;
    return CX_OK;
}

/* Builds p->keys/p->vals from conninfo plus our defaults. */
static cx_status build_params(cx_pg_pool *p, const char *conninfo)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    if (!opts) {
        /* err may quote the conninfo (and a password): do not log it. */
        cx_log_error(NULL, "pg: invalid DATABASE_URL / conninfo");
        PQfreemem(err);
        return CX_ERR_CONFIG;
    }
    int count = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        count++;
    cx_status s = CX_ERR_NOMEM;
    p->keys = calloc((size_t)count + 4, sizeof(*p->keys));
    p->vals = calloc((size_t)count + 4, sizeof(*p->vals));
    if (!p->keys || !p->vals)
        goto out_free_opts;
    int n = 0;
    bool have_ct = false, have_tut = false, have_opts = false;
    s = CX_OK;
    for (PQconninfoOption *o = opts; o->keyword && s == CX_OK; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "connect_timeout") == 0)
            have_ct = true;
        if (strcmp(o->keyword, "tcp_user_timeout") == 0)
            have_tut = true;
        if (strcmp(o->keyword, "options") == 0) {
            /* Ours come last so they win over the caller's. */
            size_t len = strlen(o->val) + sizeof(CX_PG_SESSION_OPTS) + 2;
            char *merged = malloc(len);
            if (!merged) {
                s = CX_ERR_NOMEM;
                break;
            }
            snprintf(merged, len, "%s %s", o->val, CX_PG_SESSION_OPTS);
            s = add_param(p, &n, "options", merged);
            free(merged);
            have_opts = true;
            continue;
        }
        s = add_param(p, &n, o->keyword, o->val);
    }
    if (s == CX_OK && !have_ct)
        s = add_param(p, &n, "connect_timeout", "2");
    if (s == CX_OK && !have_tut)
        s = add_param(p, &n, "tcp_user_timeout", "10000");
    if (s == CX_OK && !have_opts)
        s = add_param(p, &n, "options", CX_PG_SESSION_OPTS);
out_free_opts:
    PQconninfoFree(opts);
    PQfreemem(err);
    if (s != CX_OK)
        free_params(p);
    return s;
}

cx_status cx_pg_pool_create(cx_pg_pool **out, const char *conninfo, int size)
{
    if (!out || !conninfo || size < 1 || size > 1024)
        return CX_ERR_CONFIG;
    cx_pg_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return CX_ERR_NOMEM;
    cx_status s = CX_ERR_NOMEM;
    p->size = size;
    p->idle = calloc((size_t)size, sizeof(*p->idle));
    if (!p->idle)
        goto out_free_pool;
    s = build_params(p, conninfo);
    if (s != CX_OK)
        goto out_free_pool;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&p->mu, NULL);
    *out = p;
    return CX_OK;
out_free_pool:
    free(p->idle);
    free(p);
    return s;
}

void cx_pg_pool_destroy(cx_pg_pool *pool)
{
    if (!pool)
        return;
    for (int i = 0; i < pool->nidle; i++)
        PQfinish(pool->idle[i]);
    free_params(pool);
    free(pool->idle);
    pthread_cond_destroy(&pool->cv);
    pthread_mutex_destroy(&pool->mu);
    free(pool);
}

/* Server notices go to our log, not raw to stderr. */
static void notice(void *arg, const char *message)
{
    (void)arg;
    char msg[200];
    snprintf(msg, sizeof(msg), "%s", message);
    msg[strcspn(msg, "\n")] = '\0';
    cx_log_debug(NULL, "pg: server notice: %s", msg);
}

/* Opens a new connection; NULL (logged) when the server is not there. */
static PGconn *pg_connect(cx_pg_pool *p)
{
    PGconn *c = PQconnectdbParams(p->keys, p->vals, 0);
    if (c && PQstatus(c) == CONNECTION_OK) {
        PQsetNoticeProcessor(c, notice, NULL);
        return c;
    }
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", c ? PQerrorMessage(c) : "out of memory");
    msg[strcspn(msg, "\n")] = '\0';
    cx_log_warn(NULL, "pg: connect failed: %s", msg);
    PQfinish(c);
    return NULL;
}

/* An idle connection must have nothing to read. Readable means the server
 * closed it (restart: a WARNING then EOF) or sent something unexpected:
 * either way it is dropped rather than trusted with a statement whose fate
 * could then not be known. Dropping a healthy one now and then is cheap. */
static bool idle_alive(PGconn *c)
{
    if (PQstatus(c) != CONNECTION_OK)
        return false;
    struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
    if (pfd.fd < 0)
        return false;
    return poll(&pfd, 1, 0) == 0;
}

/* Absolute CLOCK_MONOTONIC deadline timeout_ms from now. */
static struct timespec deadline(int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Takes a slot; *conn is an idle connection or NULL (connect one). */
static cx_status take_slot(cx_pg_pool *p, PGconn **conn, int timeout_ms)
{
    struct timespec dl = deadline(timeout_ms < 0 ? 0 : timeout_ms);
    cx_status s = CX_OK;
    pthread_mutex_lock(&p->mu);
    while (p->busy >= p->size) {
        int rc = pthread_cond_timedwait(&p->cv, &p->mu, &dl);
        if (rc == ETIMEDOUT && p->busy >= p->size) {
            s = CX_ERR_UNAVAILABLE;
            break;
        }
    }
    if (s == CX_OK) {
        p->busy++;
        *conn = p->nidle > 0 ? p->idle[--p->nidle] : NULL;
    }
    pthread_mutex_unlock(&p->mu);
    return s;
}

static void give_slot(cx_pg_pool *p, PGconn *keep)
{
    pthread_mutex_lock(&p->mu);
    p->busy--;
    if (keep)
        p->idle[p->nidle++] = keep;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Like cx_pg_acquire; *fresh tells whether the connection was just opened. */
static cx_status acquire(cx_pg_pool *pool, PGconn **out, int timeout_ms, bool *fresh)
{
    PGconn *c = NULL;
    cx_status s = take_slot(pool, &c, timeout_ms);
    if (s != CX_OK) {
        cx_log_warn(NULL, "pg: no free connection within %d ms", timeout_ms);
        return s;
    }
    *fresh = false;
    if (c && !idle_alive(c)) {
        cx_log_info(NULL, "pg: dropping a dead pooled connection");
        PQfinish(c);
        c = NULL;
    }
    if (!c) {
        c = pg_connect(pool);
        *fresh = true;
    }
    if (!c) {
        give_slot(pool, NULL);
        return CX_ERR_UNAVAILABLE;
    }
    *out = c;
    return CX_OK;
}

cx_status cx_pg_acquire(cx_pg_pool *pool, PGconn **out, int timeout_ms)
{
    bool fresh;
    if (!pool || !out)
        return CX_ERR_INTERNAL;
    return acquire(pool, out, timeout_ms, &fresh);
}

void cx_pg_release(cx_pg_pool *pool, PGconn *conn, bool broken)
{
    if (!pool || !conn)
        return;
    /* A connection left inside a transaction or mid-query is not reusable. */
    if (!broken &&
        (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE))
        broken = true;
    if (broken) {
        PQfinish(conn);
        conn = NULL;
    }
    give_slot(pool, conn);
}

/* True when an error SQLSTATE means the session is gone. */
static bool sqlstate_is_conn_loss(const char *st)
{
    if (!st)
        return false;
    return strncmp(st, "08", 2) == 0 || strcmp(st, "57P01") == 0 || strcmp(st, "57P02") == 0 ||
           strcmp(st, "57P03") == 0;
}

/* Copies msg into buf; for data exceptions (class 22) text in double
 * quotes, which is where Postgres echoes the offending input, is hidden. */
static void redacted(char *buf, size_t cap, const char *msg, const char *st)
{
    bool hide = st && strncmp(st, "22", 2) == 0;
    bool inq = false;
    size_t n = 0;
    for (const char *m = msg ? msg : ""; *m && *m != '\n' && n + 4 < cap; m++) {
        if (hide && *m == '"') {
            inq = !inq;
            if (inq) {
                memcpy(buf + n, "\"…", 4);
                n += 4;
                continue;
            }
        }
        if (!inq)
            buf[n++] = *m;
    }
    buf[n] = '\0';
}

/* Maps a failed result (or NULL) to a status, logging without values. */
static cx_status classify(PGconn *conn, const PGresult *res, const char *sql, bool *broken)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (PQstatus(conn) != CONNECTION_OK || sqlstate_is_conn_loss(st) || !res) {
        char msg[200];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
        msg[strcspn(msg, "\n")] = '\0';
        cx_log_warn(NULL, "pg: connection lost: %s", msg);
        *broken = true;
        return CX_ERR_UNAVAILABLE;
    }
    if (st && strcmp(st, "23505") == 0)
        return CX_ERR_CONFLICT;
    char msg[200];
    redacted(msg, sizeof(msg), PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), st);
    cx_log_error(NULL, "pg: statement failed: sqlstate=%s msg=%s sql=%.80s", st ? st : "?", msg,
                 sql);
    return CX_ERR_INTERNAL;
}

/* Collects the (last) result of what was just sent: the first error,
 * else the last result. */
static PGresult *collect(PGconn *conn)
{
    PGresult *last = NULL, *r;
    while ((r = PQgetResult(conn)) != NULL) {
        if (last && PQresultStatus(last) == PGRES_FATAL_ERROR) {
            PQclear(r);
            continue;
        }
        PQclear(last);
        last = r;
    }
    return last;
}

/* True when res says the named prepared statement does not exist on this
 * session (SQLSTATE 26000, invalid_sql_statement_name). */
static bool not_prepared(const PGresult *res)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return st && strcmp(st, "26000") == 0;
}

/* Sends the statement and collects its (last) result. *sent tells whether
 * the statement may have reached the server. With a name, the statement is
 * executed as the session's prepared statement `name`, prepared from sql
 * first when the session does not have it yet. */
static PGresult *run(PGconn *conn, const char *name, const char *sql, int nparams,
                     const char *const *params, bool *sent)
{
    *sent = false;
    if (!name) {
        if (!PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0))
            return NULL;
        *sent = true;
        return collect(conn);
    }
    if (!PQsendQueryPrepared(conn, name, nparams, params, NULL, NULL, 0))
        return NULL;
    *sent = true;
    PGresult *res = collect(conn);
    if (!not_prepared(res))
        return res;
    /* First use on this session (autocommit: the failed Bind aborted
     * nothing): prepare it, then run it. */
    PQclear(res);
    res = PQprepare(conn, name, sql, nparams, NULL);
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
        return res;
    PQclear(res);
    if (!PQsendQueryPrepared(conn, name, nparams, params, NULL, NULL, 0))
        return NULL;
    return collect(conn);
}

static cx_status query(PGconn *conn, const char *name, const char *sql, int nparams,
                       const char *const *params, PGresult **out, bool *broken, bool *sent)
{
    bool dummy = false;
    if (!broken)
        broken = &dummy;
    *broken = false;
    if (!conn || !sql || nparams < 0 || (nparams > 0 && !params))
        return CX_ERR_INTERNAL;
    PGresult *res = run(conn, name, sql, nparams, params, sent);
    ExecStatusType es = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    cx_status s;
    if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK) {
        if (out) {
            *out = res;
            res = NULL;
        }
        s = CX_OK;
    } else {
        s = classify(conn, res, sql, broken);
    }
    PQclear(res);
    return s;
}

cx_status cx_pg_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                      PGresult **out, bool *broken)
{
    bool sent;
    return query(conn, NULL, sql, nparams, params, out, broken, &sent);
}

/* cx_pg_exec and cx_pg_exec_prepared: name NULL runs sql unprepared. */
static cx_status exec(cx_pg_pool *pool, const char *name, const char *sql, int nparams,
                      const char *const *params, PGresult **out)
{
    if (!pool)
        return CX_ERR_INTERNAL;
    cx_status s = CX_ERR_UNAVAILABLE;
    for (int attempt = 0; attempt < 2; attempt++) {
        PGconn *c = NULL;
        bool fresh = false, broken = false, sent = false;
        s = acquire(pool, &c, 5000, &fresh);
        if (s != CX_OK)
            return s;
        s = query(c, name, sql, nparams, params, out, &broken, &sent);
        cx_pg_release(pool, c, broken);
        /* Retry only when the statement cannot have run: a reused
         * connection that failed before the statement went out. */
        if (!(broken && !fresh && !sent))
            break;
    }
    return s;
}

cx_status cx_pg_exec(cx_pg_pool *pool, const char *sql, int nparams, const char *const *params,
                     PGresult **out)
{
    return exec(pool, NULL, sql, nparams, params, out);
}

cx_status cx_pg_exec_prepared(cx_pg_pool *pool, const char *name, const char *sql, int nparams,
                              const char *const *params, PGresult **out)
{
    if (!name || !name[0])
        return CX_ERR_INTERNAL;
    return exec(pool, name, sql, nparams, params, out);
}

bool cx_pg_ping(cx_pg_pool *pool)
{
    PGresult *res = NULL;
    if (cx_pg_exec(pool, "SELECT 1", 0, NULL, &res) != CX_OK)
        return false;
    bool ok = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "1") == 0;
    PQclear(res);
    return ok;
}
