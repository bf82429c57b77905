/* ready: cached readiness verdict with one probe thread. */
#include "ready.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "cx_log.h"
#include "cx_time.h"

const char *const gw_ready_services[] = {"auth", "rooms", "media", "webhook"};
const int gw_ready_n_services = 4;

struct gw_ready {
    gw_proxy *px;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    pthread_t thread;
    bool started, stop, kick;
    int64_t verdict_at_ms; /* 0: none yet */
    unsigned verdict;
    gw_ready_waiter *waiters;
};

/* Pings every service; returns the not-ready mask. Runs on the probe thread. */
static unsigned _probe(gw_ready *r)
{
    if (!gw_proxy_connected(r->px))
        return GW_READY_NATS;
    unsigned mask = 0;
    natsConnection *nc = gw_proxy_conn(r->px);
    for (int i = 0; i < gw_ready_n_services; i++) {
        char subj[64];
        snprintf(subj, sizeof(subj), "$SRV.PING.calixio-%s", gw_ready_services[i]);
        natsMsg *reply = NULL;
        natsStatus s = natsConnection_Request(&reply, nc, subj, NULL, 0, GW_READY_PING_MS);
        if (s != NATS_OK || natsMsg_IsNoResponders(reply))
            mask |= 1u << i;
        natsMsg_Destroy(reply);
    }
    return mask;
}

static void *_probe_main(void *arg)
{
    gw_ready *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->kick && !r->stop)
            pthread_cond_wait(&r->cond, &r->mu);
        if (r->stop && !r->waiters)
            break;
        r->kick = false;
        bool stopping = r->stop;
        pthread_mutex_unlock(&r->mu);
        unsigned mask = stopping ? GW_READY_NATS : _probe(r);
        pthread_mutex_lock(&r->mu);
        r->verdict = mask;
        r->verdict_at_ms = cx_mono_ms();
        gw_ready_waiter *w = r->waiters;
        r->waiters = NULL;
        pthread_mutex_unlock(&r->mu);
        while (w) {
            gw_ready_waiter *next = w->next;
            w->not_ready = mask;
            w->done(w);
            w = next;
        }
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    nats_ReleaseThreadMemory();
    return NULL;
}

cx_status gw_ready_create(gw_ready **out, gw_proxy *px)
{
    *out = NULL;
    gw_ready *r = calloc(1, sizeof(*r));
    if (!r)
        return CX_ERR_NOMEM;
    r->px = px;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cond, NULL);
    if (pthread_create(&r->thread, NULL, _probe_main, r) != 0) {
        gw_ready_destroy(r);
        return CX_ERR_INTERNAL;
    }
    r->started = true;
    *out = r;
    return CX_OK;
}

bool gw_ready_get(gw_ready *r, gw_ready_waiter *w, unsigned *not_ready)
{
    bool fresh;
    pthread_mutex_lock(&r->mu);
    fresh = r->stop ||
            (r->verdict_at_ms && cx_mono_ms() - r->verdict_at_ms < GW_READY_CACHE_MS);
    if (r->stop) {
        *not_ready = GW_READY_NATS; /* shutting down: nobody would complete w */
    } else if (fresh) {
        *not_ready = r->verdict;
    } else {
        w->next = r->waiters;
        r->waiters = w;
        r->kick = true;
        pthread_cond_signal(&r->cond);
    }
    pthread_mutex_unlock(&r->mu);
    return fresh;
}

bool gw_ready_peek(gw_ready *r, unsigned *not_ready)
{
    pthread_mutex_lock(&r->mu);
    bool fresh = r->verdict_at_ms && cx_mono_ms() - r->verdict_at_ms < GW_READY_CACHE_MS;
    if (fresh)
        *not_ready = r->verdict;
    pthread_mutex_unlock(&r->mu);
    return fresh;
}

void gw_ready_shutdown(gw_ready *r)
{
    if (!r || !r->started)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    r->kick = true;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    r->started = false;
}

void gw_ready_destroy(gw_ready *r)
{
    if (!r)
        return;
    gw_ready_shutdown(r);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
