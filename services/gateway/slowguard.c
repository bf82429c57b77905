/* slowguard.c: a deadline per request, enforced by a reaper thread. */
#include "slowguard.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "cx_log.h"
#include "cx_time.h"

#define GW_REAP_EVERY_MS 200

typedef struct _conn {
    struct _conn *prev, *next;
    gw_slowguard *g;
    int fd;
    int64_t deadline_ms; /* INT64_MAX while a received request is served */
} _conn;

struct gw_slowguard {
    int64_t limit_ms, idle_ms;
    pthread_mutex_t mu; /* guards the list and every deadline */
    pthread_cond_t cv;
    _conn head; /* sentinel of a circular list */
    bool stop;
    pthread_t reaper;
    atomic_uint_fast64_t cut;
};

static void *_reap(void *arg)
{
    gw_slowguard *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += GW_REAP_EVERY_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
        int64_t now = cx_mono_ms();
        for (_conn *c = g->head.next; c != &g->head; c = c->next) {
            if (now <= c->deadline_ms)
                continue;
            /* The entry leaves the list (under this lock) before libmicrohttpd
             * closes the socket, so fd still belongs to this connection. */
            shutdown(c->fd, SHUT_RDWR);
            c->deadline_ms = INT64_MAX;
            atomic_fetch_add(&g->cut, 1);
            cx_log_info(NULL, "http: connection cut: request not received within %lldms",
                        (long long)g->limit_ms);
        }
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

cx_status gw_slowguard_create(gw_slowguard **out, int64_t limit_ms, int64_t idle_ms)
{
    gw_slowguard *g = calloc(1, sizeof *g);
    if (!g)
        return CX_ERR_NOMEM;
    g->limit_ms = limit_ms;
    g->idle_ms = idle_ms;
    g->head.next = g->head.prev = &g->head;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    if (pthread_create(&g->reaper, NULL, _reap, g) != 0) {
        pthread_mutex_destroy(&g->mu);
        pthread_cond_destroy(&g->cv);
        free(g);
        return CX_ERR_INTERNAL;
    }
    *out = g;
    return CX_OK;
}

void gw_slowguard_destroy(gw_slowguard *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    g->stop = true;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->reaper, NULL);
    /* entries left (none once the server stopped) are freed defensively */
    for (_conn *c = g->head.next, *n; c != &g->head; c = n) {
        n = c->next;
        free(c);
    }
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g);
}

void gw_slowguard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                         enum MHD_ConnectionNotificationCode code)
{
    gw_slowguard *g = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
            c, MHD_CONNECTION_INFO_CONNECTION_FD);
        _conn *e = ci ? calloc(1, sizeof *e) : NULL;
        if (!e)
            return; /* unguarded, still bounded by the idle timeout */
        e->g = g;
        e->fd = ci->connect_fd;
        pthread_mutex_lock(&g->mu);
        e->deadline_ms = cx_mono_ms() + g->limit_ms;
        e->next = g->head.next;
        e->prev = &g->head;
        g->head.next->prev = e;
        g->head.next = e;
        pthread_mutex_unlock(&g->mu);
        *socket_context = e;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        _conn *e = *socket_context;
        if (!e)
            return;
        pthread_mutex_lock(&g->mu);
        e->prev->next = e->next;
        e->next->prev = e->prev;
        pthread_mutex_unlock(&g->mu);
        free(e);
        *socket_context = NULL;
    }
}

static _conn *_entry(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void _set(_conn *e, int64_t deadline_ms)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->g->mu);
    e->deadline_ms = deadline_ms;
    pthread_mutex_unlock(&e->g->mu);
}

void *gw_slowguard_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    gw_slowguard *g = cls;
    (void)uri;
    _set(_entry(c), cx_mono_ms() + g->limit_ms);
    return NULL;
}

void gw_slowguard_received(struct MHD_Connection *c)
{
    _set(_entry(c), INT64_MAX);
}

void gw_slowguard_next(gw_slowguard *g, struct MHD_Connection *c)
{
    _set(_entry(c), cx_mono_ms() + g->idle_ms + g->limit_ms);
}

uint64_t gw_slowguard_cut(const gw_slowguard *g)
{
    return atomic_load(&g->cut);
}
