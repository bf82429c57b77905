/* proxy: NATS request/reply without a blocked thread per request. */
#include "proxy.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cx_log.h"
#include "cx_service.h"
#include "cx_time.h"
#include "metrics.h"

#define GW_PX_BUCKETS 4096u
#define GW_PX_TICK_MS 20
#define GW_PX_RETRY_BATCH 64 /* repeat publishes per timer pass */

struct gw_proxy {
    natsOptions *opts;
    natsConnection *nc;
    natsSubscription *sub;
    char inbox[96]; /* "_INBOX.<nuid>" */
    char prefix[64];
    int64_t timeout_ms;
    int64_t retry_ms; /* 0: repeatable requests are not repeated */

    pthread_mutex_t mu;
    pthread_cond_t cond; /* wakes the timer */
    pthread_cond_t idle; /* signalled when `running` drops to 0 */
    gw_pending *buckets[GW_PX_BUCKETS];
    gw_pending *head, *tail;   /* FIFO = deadline order (one timeout for all) */
    gw_pending *rhead, *rtail; /* FIFO = retry order (one budget for all) */
    uint64_t next_token;
    int n_pending;
    int running;  /* done() callbacks unlinked but not returned */
    bool closing; /* gw_proxy_close_requests was called */
    bool stop;
    bool timer_started;
    pthread_t timer;
};

/* --- table (caller holds mu) ------------------------------------------------ */

static void _link(gw_proxy *px, gw_pending *p)
{
    unsigned b = (unsigned)(p->token % GW_PX_BUCKETS);
    p->hnext = px->buckets[b];
    px->buckets[b] = p;
    p->next = NULL;
    p->prev = px->tail;
    if (px->tail)
        px->tail->next = p;
    else
        px->head = p;
    px->tail = p;
    p->linked = true;
    px->n_pending++;
}

static void _rlink(gw_proxy *px, gw_pending *p)
{
    p->rnext = NULL;
    p->rprev = px->rtail;
    if (px->rtail)
        px->rtail->rnext = p;
    else
        px->rhead = p;
    px->rtail = p;
    p->in_retry = true;
}

/* Takes p off the retry queue; returns its second message (caller owns). */
static natsMsg *_runlink(gw_proxy *px, gw_pending *p)
{
    if (!p->in_retry)
        return NULL;
    if (p->rprev)
        p->rprev->rnext = p->rnext;
    else
        px->rhead = p->rnext;
    if (p->rnext)
        p->rnext->rprev = p->rprev;
    else
        px->rtail = p->rprev;
    p->rprev = p->rnext = NULL;
    p->in_retry = false;
    natsMsg *m = p->again;
    p->again = NULL;
    return m;
}

/* Unlinks p from the table, both queues; destroys its unsent second message. */
static void _unlink(gw_proxy *px, gw_pending *p)
{
    natsMsg_Destroy(_runlink(px, p));
    gw_pending **pp = &px->buckets[p->token % GW_PX_BUCKETS];
    while (*pp && *pp != p)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = p->hnext;
    if (p->prev)
        p->prev->next = p->next;
    else
        px->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        px->tail = p->prev;
    p->hnext = p->prev = p->next = NULL;
    p->linked = false;
    px->n_pending--;
}

static gw_pending *_find(gw_proxy *px, uint64_t token)
{
    for (gw_pending *p = px->buckets[token % GW_PX_BUCKETS]; p; p = p->hnext)
        if (p->token == token)
            return p;
    return NULL;
}

/* --- callbacks ---------------------------------------------------------------- */

static bool _token_of(const char *subject, uint64_t *out)
{
    const char *dot = subject ? strrchr(subject, '.') : NULL;
    if (!dot || !dot[1] || strlen(dot + 1) > 20)
        return false;
    uint64_t v = 0;
    for (const char *c = dot + 1; *c; c++) {
        if (*c < '0' || *c > '9')
            return false;
        v = v * 10 + (uint64_t)(*c - '0');
    }
    *out = v;
    return true;
}

/* n done() callbacks counted in `running` have returned. */
static void _done_returned(gw_proxy *px, int n)
{
    pthread_mutex_lock(&px->mu);
    px->running -= n;
    if (px->running == 0)
        pthread_cond_broadcast(&px->idle);
    pthread_mutex_unlock(&px->mu);
}

static void _on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    gw_proxy *px = closure;
    uint64_t token;
    if (!_token_of(natsMsg_GetSubject(msg), &token)) {
        natsMsg_Destroy(msg);
        return;
    }
    pthread_mutex_lock(&px->mu);
    gw_pending *p = _find(px, token);
    if (p) {
        _unlink(px, p);
        px->running++;
    }
    pthread_mutex_unlock(&px->mu);
    if (!p) { /* late reply after a timeout, or a second replier */
        natsMsg_Destroy(msg);
        return;
    }
    if (natsMsg_IsNoResponders(msg)) {
        natsMsg_Destroy(msg);
        p->outcome = GW_PX_NO_RESPONDERS;
    } else {
        p->reply = msg;
        p->outcome = GW_PX_REPLY;
    }
    p->done(p); /* p may be freed from here on */
    _done_returned(px, 1);
}

static void *_timer_main(void *arg)
{
    gw_proxy *px = arg;
    pthread_mutex_lock(&px->mu);
    while (!px->stop) {
        int64_t now = cx_mono_ms();
        gw_pending *expired = NULL, **tail = &expired;
        int n_expired = 0;
        while (px->head && px->head->deadline_ms <= now) {
            gw_pending *p = px->head;
            _unlink(px, p);
            *tail = p;
            tail = &p->next; /* reuse next as the local list link */
            n_expired++;
        }
        natsMsg *again[GW_PX_RETRY_BATCH];
        int n_again = 0;
        while (n_again < GW_PX_RETRY_BATCH && px->rhead && px->rhead->retry_at_ms <= now)
            again[n_again++] = _runlink(px, px->rhead);
        px->running += n_expired;
        gw_px_outcome why = px->closing ? GW_PX_CLOSED : GW_PX_TIMEOUT;
        if (expired || n_again) {
            pthread_mutex_unlock(&px->mu);
            /* the entries stay linked: a reply to either publish completes them */
            for (int i = 0; i < n_again; i++) {
                natsStatus s = natsConnection_PublishMsg(px->nc, again[i]);
                if (s == NATS_OK)
                    gw_metrics_count(GW_M_NATS_RETRY);
                else
                    cx_log_warn(NULL, "nats: repeat publish to %s failed: %s",
                                natsMsg_GetSubject(again[i]), natsStatus_GetText(s));
                natsMsg_Destroy(again[i]);
            }
            while (expired) {
                gw_pending *p = expired;
                expired = p->next;
                p->next = NULL;
                p->outcome = why;
                p->done(p); /* p may be freed from here on */
            }
            if (n_expired)
                _done_returned(px, n_expired);
            pthread_mutex_lock(&px->mu);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += GW_PX_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&px->cond, &px->mu, &ts);
    }
    pthread_mutex_unlock(&px->mu);
    return NULL;
}

/* --- public ------------------------------------------------------------------ */

static cx_status _connect(gw_proxy *px, const cx_natsconn_cfg *nats)
{
    cx_status st = cx_natsconn_open(&px->nc, &px->opts, nats, "calixio-gateway");
    if (st != CX_OK)
        return st;
    natsStatus s;
    natsInbox *inbox = NULL;
    s = natsInbox_Create(&inbox);
    if (s != NATS_OK)
        return CX_ERR_NOMEM;
    /* under the connection's own prefix, the only inbox its NATS user may read */
    char pfx[64];
    snprintf(px->inbox, sizeof(px->inbox), "%s.%s",
             cx_natsconn_inbox_prefix("calixio-gateway", pfx, sizeof pfx),
             (const char *)inbox + strlen("_INBOX."));
    natsInbox_Destroy(inbox);
    char subj[128];
    snprintf(subj, sizeof(subj), "%s.*", px->inbox);
    s = natsConnection_Subscribe(&px->sub, px->nc, subj, _on_reply, px);
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(px->sub, -1, -1);
    if (s != NATS_OK) {
        cx_log_error(NULL, "nats: inbox subscribe failed: %s", natsStatus_GetText(s));
        return CX_ERR_UNAVAILABLE;
    }
    return CX_OK;
}

cx_status gw_proxy_create(gw_proxy **out, const cx_natsconn_cfg *nats, const char *prefix,
                          int64_t timeout_ms, int64_t retry_ms)
{
    *out = NULL;
    gw_proxy *px = calloc(1, sizeof(*px));
    if (!px)
        return CX_ERR_NOMEM;
    snprintf(px->prefix, sizeof(px->prefix), "%s", prefix);
    px->timeout_ms = timeout_ms;
    px->retry_ms = retry_ms > 0 && retry_ms < timeout_ms ? retry_ms : 0;
    px->next_token = 1;
    pthread_mutex_init(&px->mu, NULL);
    pthread_cond_init(&px->idle, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&px->cond, &ca);
    pthread_condattr_destroy(&ca);

    cx_status st = _connect(px, nats);
    if (st != CX_OK)
        goto out_destroy;
    if (pthread_create(&px->timer, NULL, _timer_main, px) != 0) {
        st = CX_ERR_INTERNAL;
        goto out_destroy;
    }
    px->timer_started = true;
    *out = px;
    return CX_OK;

out_destroy:
    gw_proxy_destroy(px);
    return st;
}

/* A request message with the forwarded headers; *out owned by the caller. */
static natsStatus _build(natsMsg **out, const char *subject, const char *reply,
                         const void *data, int len, const gw_px_headers *h)
{
    natsMsg *m = NULL;
    natsStatus s = natsMsg_Create(&m, subject, reply, data, len);
    if (s == NATS_OK && h->request_id && *h->request_id)
        s = natsMsgHeader_Set(m, "Calixio-Request-Id", h->request_id);
    if (s == NATS_OK && h->authorization && *h->authorization)
        s = natsMsgHeader_Set(m, "Authorization", h->authorization);
    if (s == NATS_OK && h->client_ip && *h->client_ip)
        s = natsMsgHeader_Set(m, "Calixio-Client-Ip", h->client_ip);
    if (s == NATS_OK && h->user_agent && *h->user_agent)
        s = natsMsgHeader_Set(m, "Calixio-User-Agent", h->user_agent);
    if (s != NATS_OK) {
        natsMsg_Destroy(m);
        m = NULL;
    }
    *out = m;
    return s;
}

cx_status gw_proxy_send(gw_proxy *px, gw_pending *p, const char *rel, const void *data, int len,
                        const gw_px_headers *h)
{
    if (!gw_proxy_connected(px))
        return CX_ERR_UNAVAILABLE;
    char subject[256], reply[128];
    if ((size_t)snprintf(subject, sizeof(subject), "%s.%s", px->prefix, rel) >= sizeof(subject))
        return CX_ERR_INTERNAL;

    p->outcome = GW_PX_NONE;
    p->reply = NULL;
    p->again = NULL;
    p->in_retry = false;
    pthread_mutex_lock(&px->mu);
    uint64_t token = p->token = px->next_token++;
    pthread_mutex_unlock(&px->mu);
    snprintf(reply, sizeof(reply), "%s.%llu", px->inbox, (unsigned long long)token);

    /* the second message is built now: h points into the caller's request */
    natsMsg *m = NULL, *again = NULL;
    natsStatus s = _build(&m, subject, reply, data, len, h);
    if (s == NATS_OK && p->repeatable && px->retry_ms > 0)
        s = _build(&again, subject, reply, data, len, h);
    if (s != NATS_OK) {
        natsMsg_Destroy(m);
        natsMsg_Destroy(again);
        cx_log_warn(h->request_id, "nats: cannot build the message for %s: %s", subject,
                    natsStatus_GetText(s));
        return CX_ERR_UNAVAILABLE;
    }
    pthread_mutex_lock(&px->mu);
    if (px->closing) {
        pthread_mutex_unlock(&px->mu);
        natsMsg_Destroy(m);
        natsMsg_Destroy(again);
        return CX_ERR_UNAVAILABLE;
    }
    int64_t now = cx_mono_ms();
    p->deadline_ms = now + px->timeout_ms;
    _link(px, p);
    if (again) {
        p->again = again;
        p->retry_at_ms = now + px->retry_ms;
        _rlink(px, p);
    }
    pthread_mutex_unlock(&px->mu);

    s = natsConnection_PublishMsg(px->nc, m);
    natsMsg_Destroy(m);
    if (s == NATS_OK)
        return CX_OK; /* p may already be completed (and freed) */

    cx_log_warn(h->request_id, "nats: publish to %s failed: %s", subject,
                natsStatus_GetText(s));
    pthread_mutex_lock(&px->mu);
    /* looked up by token: if the timer completed p meanwhile, p may be freed */
    bool mine = _find(px, token) == p;
    if (mine)
        _unlink(px, p);
    pthread_mutex_unlock(&px->mu);
    /* not linked any more: the timer already completed it, done was called */
    if (!mine)
        return CX_OK;
    return s == NATS_MAX_PAYLOAD ? CX_ERR_PAYLOAD_TOO_LARGE : CX_ERR_UNAVAILABLE;
}

void gw_pending_clear(gw_pending *p)
{
    if (p->reply) {
        natsMsg_Destroy(p->reply);
        p->reply = NULL;
    }
}

bool gw_proxy_connected(gw_proxy *px)
{
    return px && px->nc && natsConnection_Status(px->nc) == NATS_CONN_STATUS_CONNECTED;
}

natsConnection *gw_proxy_conn(gw_proxy *px)
{
    return px->nc;
}

int gw_proxy_pending(gw_proxy *px)
{
    pthread_mutex_lock(&px->mu);
    int n = px->n_pending;
    pthread_mutex_unlock(&px->mu);
    return n;
}

void gw_proxy_close_requests(gw_proxy *px)
{
    pthread_mutex_lock(&px->mu);
    px->closing = true;
    if (!px->timer_started) { /* nothing can be linked: send needs a created proxy */
        pthread_mutex_unlock(&px->mu);
        return;
    }
    /* the timer completes them (done() outside the lock, counted in running) */
    for (gw_pending *p = px->head; p; p = p->next)
        p->deadline_ms = 0;
    pthread_cond_signal(&px->cond);
    while (px->n_pending > 0 || px->running > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&px->idle, &px->mu, &ts); /* (sends link nothing now) */
    }
    pthread_mutex_unlock(&px->mu);
}

void gw_proxy_destroy(gw_proxy *px)
{
    if (!px)
        return;
    if (px->sub)
        natsSubscription_Unsubscribe(px->sub);
    gw_proxy_close_requests(px);
    if (px->timer_started) {
        pthread_mutex_lock(&px->mu);
        px->stop = true;
        pthread_cond_signal(&px->cond);
        pthread_mutex_unlock(&px->mu);
        pthread_join(px->timer, NULL);
    }
    natsSubscription_Destroy(px->sub);
    if (px->nc) {
        natsConnection_Close(px->nc);
        natsConnection_Destroy(px->nc);
    }
    natsOptions_Destroy(px->opts);
    pthread_cond_destroy(&px->cond);
    pthread_cond_destroy(&px->idle);
    pthread_mutex_destroy(&px->mu);
    free(px);
}
