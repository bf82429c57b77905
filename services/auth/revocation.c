/* Revocations that must reach every service even when Redis is down
 * (issue 19 item 5; see auth.h).
 *
 * The session row in Postgres is the truth; the Redis deny-list is how
 * the other services read it quickly. Two mechanisms close the gap while
 * Redis is unreachable:
 *   - deny-list retry: a failed write marks the list dirty; a tick every
 *     second (and once at start-up, in case an earlier copy died with a
 *     write pending) re-writes every session revoked within the access
 *     token lifetime + leeway, with the time it still has to live, until
 *     Redis takes them all. A complete re-write sets the marker key
 *     cx:revoked:written (no expiry); the tick checks it each second, so a
 *     Redis that came back empty (restarted without persistence, flushed)
 *     is filled again too;
 *   - session state: <prefix>.auth.session_state (request body: a session
 *     id; reply "revoked", "active" or "unknown") reads the session row,
 *     for services that cannot ask Redis (cx_auth's fallback, installed by
 *     the service runtime). A session id without a row is "unknown" (the
 *     caller answers 503, as without the fallback): a "revoked" answer is
 *     cached for good, so it is given only for a revoked row. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "cx_crypto.h"
#include "cx_log.h"

#define AUTH_SESSION_STATE "auth.session_state"
#define AUTH_DENYLIST_LEEWAY_S 300 /* as cx_auth_revoke_session adds */
#define AUTH_DENYLIST_MARKER "cx:revoked:written"

cx_status auth_denylist_create(auth_denylist **out)
{
    auth_denylist *d = calloc(1, sizeof(*d));
    if (!d)
        return CX_ERR_NOMEM;
    pthread_mutex_init(&d->mu, NULL);
    d->dirty = true; /* start-up: re-write what a dead copy may have left */
    *out = d;
    return CX_OK;
}

void auth_denylist_destroy(auth_denylist *d)
{
    if (!d)
        return;
    pthread_mutex_destroy(&d->mu);
    free(d);
}

void auth_denylist_retry(auth_denylist *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    d->dirty = true;
    pthread_mutex_unlock(&d->mu);
}

/* Re-writes the deny-list entries of every session revoked recently
 * enough for its access tokens to be alive. CX_OK when Redis took all. */
static cx_status _rewrite(const auth_ctx *c, int *written)
{
    char window[24];
    snprintf(window, sizeof(window), "%lld",
             (long long)(c->access_ttl_s + AUTH_DENYLIST_LEEWAY_S));
    const char *p[] = {window};
    PGresult *r = NULL;
    cx_status s = cx_pg_exec(c->pg,
                             "SELECT id::text, ceil(extract(epoch FROM revoked_at + "
                             "make_interval(secs => $1::bigint) - now()))::bigint "
                             "FROM sessions WHERE revoked_at > now() - "
                             "make_interval(secs => $1::bigint)",
                             1, p, &r);
    if (s != CX_OK)
        return s;
    *written = 0;
    for (int i = 0; i < PQntuples(r) && s == CX_OK; i++) {
        long long left = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        s = cx_auth_denylist_put(c->redis, PQgetvalue(r, i, 0), left > 0 ? left : 1);
        if (s == CX_OK)
            (*written)++;
    }
    PQclear(r);
    if (s == CX_OK)
        s = cx_redis_cmd(c->redis, NULL, "SET %s 1", AUTH_DENYLIST_MARKER);
    return s;
}

/* True when the marker of a complete re-write is gone (or Redis cannot
 * tell): the deny-list may have lost entries. */
static bool _marker_missing(const auth_ctx *c)
{
    redisReply *r = NULL;
    if (cx_redis_cmd(c->redis, &r, "EXISTS %s", AUTH_DENYLIST_MARKER) != CX_OK)
        return true;
    bool missing = r->type != REDIS_REPLY_INTEGER || r->integer != 1;
    freeReplyObject(r);
    return missing;
}

void auth_denylist_tick(void *arg)
{
    const auth_ctx *c = arg;
    auth_denylist *d = c->denylist;
    pthread_mutex_lock(&d->mu);
    bool dirty = d->dirty;
    d->dirty = false; /* a failure meanwhile sets it again */
    pthread_mutex_unlock(&d->mu);
    if (!dirty && !_marker_missing(c))
        return;
    int n = 0;
    cx_status s = _rewrite(c, &n);
    if (s == CX_OK) {
        if (n > 0)
            cx_log_info(NULL, "deny-list: wrote %d revoked session(s) to Redis", n);
        return;
    }
    auth_denylist_retry(d);
    cx_log_debug(NULL, "deny-list: re-write pending (%s)", cx_status_code(s));
}

/* "revoked", "active" or "unknown" for the session id in msg. */
static const char *_state(const auth_ctx *c, natsMsg *msg)
{
    char sid[40];
    int n = natsMsg_GetDataLength(msg);
    if (n <= 0 || n >= (int)sizeof(sid))
        return "unknown";
    memcpy(sid, natsMsg_GetData(msg), (size_t)n);
    sid[n] = '\0';
    if (!cx_uuid_valid_str(sid))
        return "unknown";
    const char *p[] = {sid};
    PGresult *r = NULL;
    if (cx_pg_exec(c->pg, "SELECT revoked_at IS NOT NULL FROM sessions WHERE id = $1::uuid", 1,
                   p, &r) != CX_OK)
        return "unknown";
    const char *st = "unknown";
    if (PQntuples(r) == 1)
        st = PQgetvalue(r, 0, 0)[0] == 't' ? "revoked" : "active";
    PQclear(r);
    return st;
}

static void _on_state(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    const char *reply = natsMsg_GetReply(msg);
    if (reply) {
        const char *st = _state(closure, msg);
        if (natsConnection_PublishString(nc, reply, st) != NATS_OK)
            cx_log_warn(NULL, "session state: reply lost");
    }
    natsMsg_Destroy(msg);
}

cx_status auth_revocation_start(auth_ctx *c, cx_service *svc, natsSubscription **out)
{
    char subj[256];
    cx_service_subject(svc, AUTH_SESSION_STATE, subj, sizeof(subj));
    if (natsConnection_QueueSubscribe(out, cx_service_conn(svc), subj, "calixio-auth",
                                      _on_state, c) != NATS_OK)
        return CX_ERR_UNAVAILABLE;
    return cx_service_every(svc, 1000, auth_denylist_tick, c);
}
