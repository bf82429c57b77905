/* rlsync: rate-limit usage reports between gateway copies over NATS. */
#include "rlsync.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calixio/v1/gateway.pb-c.h"
#include "cx_crypto.h"
#include "cx_log.h"
#include "cx_time.h"

#define GW_RLS_KEY 64       /* as the limiter's keys */
#define GW_RLS_PER_MSG 1024 /* takes per message (~25 KiB) */
#define GW_RLS_MAX_COUNT 1000000u

typedef struct gw_rls_take {
    char key[GW_RLS_KEY];
    uint32_t n;
} gw_rls_take;

struct gw_rlsync {
    natsConnection *nc;
    natsSubscription *sub;
    gw_ratelimit *rl;
    char subject[128];
    char id[37];
    int64_t interval_ms;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    pthread_t thread;
    bool started, stop;
    /* the report being built (reporting thread only) */
    gw_rls_take *takes;
    size_t n, cap;
    bool oom;
};

/* --- receiving ------------------------------------------------------------- */

static void _on_usage(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    gw_rlsync *s = closure;
    Calixio__V1__RateLimitUsage *u = calixio__v1__rate_limit_usage__unpack(
        NULL, (size_t)natsMsg_GetDataLength(msg), (const uint8_t *)natsMsg_GetData(msg));
    natsMsg_Destroy(msg);
    if (!u) {
        cx_log_debug(NULL, "ratelimit sync: undecodable report dropped");
        return;
    }
    if (u->gateway_id && strcmp(u->gateway_id, s->id) == 0)
        goto out_free; /* our own report */
    int64_t now = cx_mono_ms();
    for (size_t i = 0; i < u->n_takes; i++) {
        const Calixio__V1__RateLimitTake *t = u->takes[i];
        if (!t->key || !t->has_count || t->count == 0 ||
            strnlen(t->key, GW_RLS_KEY) >= GW_RLS_KEY)
            continue;
        gw_ratelimit_charge(s->rl, t->key,
                            t->count > GW_RLS_MAX_COUNT ? GW_RLS_MAX_COUNT : t->count, now);
    }
out_free:
    calixio__v1__rate_limit_usage__free_unpacked(u, NULL);
}

/* --- reporting --------------------------------------------------------------- */

/* gw_rl_emit: appends one address's takes (under a limiter shard lock). */
static void _collect(void *ctx, const char *key, uint32_t n)
{
    gw_rlsync *s = ctx;
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 256;
        gw_rls_take *nt = realloc(s->takes, ncap * sizeof(*nt));
        if (!nt) {
            s->oom = true; /* these takes are not reported: the others under-count */
            return;
        }
        s->takes = nt;
        s->cap = ncap;
    }
    snprintf(s->takes[s->n].key, GW_RLS_KEY, "%s", key);
    s->takes[s->n].n = n;
    s->n++;
}

/* Publishes takes[from, from+count) as one RateLimitUsage. */
static natsStatus _publish(gw_rlsync *s, size_t from, size_t count)
{
    Calixio__V1__RateLimitTake items[GW_RLS_PER_MSG];
    Calixio__V1__RateLimitTake *ptrs[GW_RLS_PER_MSG];
    for (size_t i = 0; i < count; i++) {
        calixio__v1__rate_limit_take__init(&items[i]);
        items[i].key = s->takes[from + i].key;
        items[i].has_count = true;
        items[i].count = s->takes[from + i].n;
        ptrs[i] = &items[i];
    }
    Calixio__V1__RateLimitUsage u = CALIXIO__V1__RATE_LIMIT_USAGE__INIT;
    u.gateway_id = s->id;
    u.n_takes = count;
    u.takes = ptrs;
    size_t len = calixio__v1__rate_limit_usage__get_packed_size(&u);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return NATS_NO_MEMORY;
    calixio__v1__rate_limit_usage__pack(&u, buf);
    natsStatus st = natsConnection_Publish(s->nc, s->subject, buf, (int)len);
    free(buf);
    return st;
}

/* Drains the limiter and publishes what it granted since the last report. */
static void _report(gw_rlsync *s)
{
    s->n = 0;
    s->oom = false;
    gw_ratelimit_drain(s->rl, _collect, s);
    if (s->oom)
        cx_log_warn(NULL, "ratelimit sync: out of memory, some takes not reported");
    for (size_t from = 0; from < s->n; from += GW_RLS_PER_MSG) {
        size_t count = s->n - from < GW_RLS_PER_MSG ? s->n - from : GW_RLS_PER_MSG;
        natsStatus st = _publish(s, from, count);
        if (st != NATS_OK) { /* NATS down: every copy limits alone meanwhile */
            cx_log_debug(NULL, "ratelimit sync: publish failed: %s", natsStatus_GetText(st));
            break;
        }
    }
}

static void *_report_main(void *arg)
{
    gw_rlsync *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = ts.tv_nsec + (s->interval_ms % 1000) * 1000000L;
        ts.tv_sec += (time_t)(s->interval_ms / 1000 + ns / 1000000000L);
        ts.tv_nsec = (long)(ns % 1000000000L);
        pthread_cond_timedwait(&s->cond, &s->mu, &ts);
        pthread_mutex_unlock(&s->mu);
        _report(s); /* also once after stop: the last takes are not lost */
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    nats_ReleaseThreadMemory();
    return NULL;
}

/* --- lifecycle ------------------------------------------------------------------ */

cx_status gw_rlsync_create(gw_rlsync **out, natsConnection *nc, const char *prefix,
                           gw_ratelimit *rl, int64_t interval_ms)
{
    *out = NULL;
    gw_rlsync *s = calloc(1, sizeof(*s));
    if (!s)
        return CX_ERR_NOMEM;
    s->nc = nc;
    s->rl = rl;
    s->interval_ms = interval_ms > 0 ? interval_ms : 100;
    cx_uuid_v4(s->id);
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    cx_status st = CX_ERR_INTERNAL;
    if ((size_t)snprintf(s->subject, sizeof(s->subject), "%s.gateway.ratelimit", prefix) >=
        sizeof(s->subject))
        goto out_destroy;
    natsStatus ns = natsConnection_Subscribe(&s->sub, nc, s->subject, _on_usage, s);
    if (ns != NATS_OK) {
        cx_log_error(NULL, "ratelimit sync: subscribe %s failed: %s", s->subject,
                     natsStatus_GetText(ns));
        st = CX_ERR_UNAVAILABLE;
        goto out_destroy;
    }
    if (pthread_create(&s->thread, NULL, _report_main, s) != 0)
        goto out_destroy;
    s->started = true;
    cx_log_info(NULL, "ratelimit sync: sharing takes on %s every %lldms (copy %s)", s->subject,
                (long long)s->interval_ms, s->id);
    *out = s;
    return CX_OK;

out_destroy:
    gw_rlsync_destroy(s);
    return st;
}

void gw_rlsync_destroy(gw_rlsync *s)
{
    if (!s)
        return;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    if (s->sub) {
        /* drained: no _on_usage still runs on s when it is freed */
        if (natsSubscription_Drain(s->sub) == NATS_OK)
            natsSubscription_WaitForDrainCompletion(s->sub, 2000);
        else
            natsSubscription_Unsubscribe(s->sub);
        natsSubscription_Destroy(s->sub);
    }
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    free(s->takes);
    free(s);
}
