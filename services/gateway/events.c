/* events: live event streams over JetStream (see events.h). */
#include "events.h"

#include <ctype.h>
#include <errno.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "calixio/v1/rooms.pb-c.h"
#include "cx_bearer.h"
#include "cx_json.h"
#include "cx_log.h"
#include "cx_time.h"
#include "evxlate.h"

#define GW_EV_HELLO "retry: 1000\n: connected\n\n"
#define GW_EV_PING ": ping\n\n"
#define GW_EV_RESET "event: reset\ndata: {}\n\n"

/* One frame, shared by every listener it is queued for. */
typedef struct gw_frame {
    atomic_int refs;
    uint64_t seq; /* JetStream sequence, 0 for comments and reset */
    size_t len;
    char data[];
} gw_frame;

/* A FIFO of frames that grows (doubling) up to max: an idle stream holds
 * a few pointers, not a whole queue. */
typedef struct gw_ring {
    gw_frame **f;
    size_t cap, head, len, max;
} gw_ring;

typedef struct gw_eroom gw_eroom;
typedef struct gw_listener gw_listener;

struct gw_listener {
    gw_events *ev;
    gw_eroom *room;             /* ev->mu */
    gw_listener *rprev, *rnext; /* the room's listeners, ev->mu */
    gw_listener *aprev, *anext; /* every listener, ev->mu */
    struct MHD_Connection *conn;
    gw_ev_caller caller;  /* role: ev->mu (a role change event changes it) */
    uint64_t role_seq;    /* sequence of the role change applied last, ev->mu */
    int64_t exp_ms;       /* token expiry (wall clock) */
    int64_t next_ping_ms; /* monotonic, ev->mu */
    char rid[64];
    char room_id[37];
    pthread_mutex_t mu; /* everything below */
    gw_ring q;          /* frames to send, in order */
    gw_ring hold;       /* live frames that came during the replay */
    bool holding;
    size_t off;        /* bytes of q's first frame already sent */
    uint64_t last_seq; /* highest sequence queued */
    bool suspended, ending, failed;
};

struct gw_eroom {
    gw_events *ev;
    char id[37];
    natsSubscription *sub;
    gw_listener *ls; /* ev->mu */
    int n;
    bool dead;            /* unsubscribed: no more fan-out */
    atomic_bool complete; /* no more callbacks: may be freed */
    gw_eroom *next;       /* ev->rooms or ev->graves */
};

struct gw_events {
    gw_events_cfg cfg;
    char stream[64];
    char subj_all[128];
    natsOptions *opts;
    natsConnection *nc;
    jsCtx *js;
    pthread_mutex_t st_mu; /* stream creation */
    bool stream_ok;
    pthread_mutex_t mu;
    gw_eroom *rooms, *graves;
    gw_listener *all;
    atomic_int n_streams;
    atomic_bool closing; /* gw_events_close_all ran: no new stream */
    pthread_t timer;
    pthread_cond_t cv;
    bool stop;
};

/* --- frames and rings ------------------------------------------------------- */

static gw_frame *_frame(const char *data, size_t len, uint64_t seq)
{
    gw_frame *f = malloc(sizeof(*f) + len);
    if (!f)
        return NULL;
    atomic_init(&f->refs, 1);
    f->seq = seq;
    f->len = len;
    memcpy(f->data, data, len);
    return f;
}

static void _unref(gw_frame *f)
{
    if (f && atomic_fetch_sub(&f->refs, 1) == 1)
        free(f);
}

static bool _ring_push(gw_ring *r, gw_frame *f)
{
    if (r->len == r->cap) {
        if (r->cap >= r->max)
            return false;
        size_t ncap = r->cap ? r->cap * 2 : 4;
        if (ncap > r->max)
            ncap = r->max;
        gw_frame **nf = malloc(ncap * sizeof(*nf));
        if (!nf)
            return false;
        for (size_t i = 0; i < r->len; i++)
            nf[i] = r->f[(r->head + i) % r->cap];
        free(r->f);
        r->f = nf;
        r->cap = ncap;
        r->head = 0;
    }
    atomic_fetch_add(&f->refs, 1);
    r->f[(r->head + r->len) % r->cap] = f;
    r->len++;
    return true;
}

static gw_frame *_ring_pop(gw_ring *r)
{
    if (!r->len)
        return NULL;
    gw_frame *f = r->f[r->head];
    r->head = (r->head + 1) % r->cap;
    r->len--;
    return f;
}

static void _ring_drop(gw_ring *r)
{
    gw_frame *f;
    while ((f = _ring_pop(r)))
        _unref(f);
}

/* --- queueing (any thread) -------------------------------------------------- */

/* Queues f for l (ends: the stream closes after it). Returns true when the
 * caller must resume l->conn (after releasing every lock: the connection
 * stays suspended, hence alive, until then). */
static bool _push(gw_listener *l, gw_frame *f, bool ends)
{
    bool resume = false;
    pthread_mutex_lock(&l->mu);
    if (l->ending || l->failed)
        goto out;
    if (l->holding && f->seq) {
        if (!_ring_push(&l->hold, f))
            l->failed = true;
    } else if (f->seq && f->seq <= l->last_seq) {
        goto out; /* already queued (replay and live overlap) */
    } else if (!_ring_push(&l->q, f)) {
        l->failed = true; /* a reader this far behind is closed */
    } else if (f->seq) {
        l->last_seq = f->seq;
    }
    if (l->failed) {
        _ring_drop(&l->q);
        _ring_drop(&l->hold);
        l->off = 0;
        cx_log_info(l->rid,
                    "events: stream of room %s closed: reader too slow (%zu frames queued)",
                    l->room ? l->room->id : "?", l->q.max);
    } else if (ends) {
        l->ending = true;
    }
    if (l->suspended && (l->failed || l->ending || l->q.len)) {
        l->suspended = false;
        resume = true;
    }
out:
    pthread_mutex_unlock(&l->mu);
    return resume;
}

/* Marks l ending (frames queued are still sent). Same return as _push. */
static bool _end(gw_listener *l)
{
    bool resume = false;
    pthread_mutex_lock(&l->mu);
    l->ending = true;
    if (l->suspended) {
        l->suspended = false;
        resume = true;
    }
    pthread_mutex_unlock(&l->mu);
    return resume;
}

/* A growable list of connections to resume once every lock is released. */
typedef struct gw_resumes {
    struct MHD_Connection **c;
    size_t n, cap;
} gw_resumes;

static void _resume_add(gw_resumes *r, struct MHD_Connection *c)
{
    if (r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 16;
        void *nc = realloc(r->c, ncap * sizeof(*r->c));
        if (!nc) { /* cannot remember it: resume now (no lock of ours is held by MHD) */
            MHD_resume_connection(c);
            return;
        }
        r->c = nc;
        r->cap = ncap;
    }
    r->c[r->n++] = c;
}

static void _resume_all(gw_resumes *r)
{
    for (size_t i = 0; i < r->n; i++)
        MHD_resume_connection(r->c[i]);
    free(r->c);
    memset(r, 0, sizeof(*r));
}

/* --- JetStream ---------------------------------------------------------------- */

static cx_status _ensure_stream(gw_events *ev)
{
    cx_status s = CX_OK;
    pthread_mutex_lock(&ev->st_mu);
    if (ev->stream_ok)
        goto out;
    s = CX_ERR_UNAVAILABLE;
    if (!ev->js || natsConnection_Status(ev->nc) != NATS_CONN_STATUS_CONNECTED)
        goto out;
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char *subjects[1] = {ev->subj_all};
    sc.Name = ev->stream;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.MaxAge = ev->cfg.max_age_ms * 1000000LL;
    sc.Storage = js_FileStorage;
    sc.Replicas = ev->cfg.replicas;
    sc.Discard = js_DiscardOld;
    sc.AllowDirect = true;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus ns = js_AddStream(&si, ev->js, &sc, NULL, &jerr);
    if (ns != NATS_OK && jerr == JSStreamNameExistErr)
        ns = js_UpdateStream(&si, ev->js, &sc, NULL, &jerr);
    jsStreamInfo_Destroy(si);
    if (ns != NATS_OK) {
        cx_log_warn(NULL, "events: JetStream stream %s: %s (error %d)", ev->stream,
                    natsStatus_GetText(ns), (int)jerr);
        goto out;
    }
    cx_log_info(NULL, "events: JetStream stream %s over %s, max age %lldms", ev->stream,
                ev->subj_all, (long long)ev->cfg.max_age_ms);
    ev->stream_ok = true;
    s = CX_OK;
out:
    pthread_mutex_unlock(&ev->st_mu);
    return s;
}

static uint64_t _msg_seq(natsMsg *m)
{
    jsMsgMetaData *md = NULL;
    uint64_t seq = 0;
    if (natsMsg_GetMetaData(&md, m) == NATS_OK && md)
        seq = md->Sequence.Stream;
    jsMsgMetaData_Destroy(md);
    return seq;
}

/* Fan-out: one message of a room's ordered consumer (a NATS pool thread). */
/* Applies a role change to l's caller once, in stream order (the replay and
 * the live path may both see it, the older after the newer). Under ev->mu. */
static void _follow_role(gw_listener *l, const gw_ev *e, uint64_t seq)
{
    if (e->sets_role && seq > l->role_seq && gw_ev_apply_role(e, &l->caller))
        l->role_seq = seq;
}

static void _on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    (void)nc;
    (void)sub;
    gw_eroom *room = closure;
    gw_events *ev = room->ev;
    uint64_t seq = _msg_seq(m);
    gw_ev e;
    cx_status s = gw_ev_translate((const uint8_t *)natsMsg_GetData(m),
                                  (size_t)natsMsg_GetDataLength(m), seq, &e);
    natsMsg_Destroy(m);
    if (s != CX_OK || !seq) {
        if (s == CX_ERR_BAD_REQUEST)
            cx_log_warn(NULL, "events: room %s: undecodable event %llu dropped", room->id,
                        (unsigned long long)seq);
        return;
    }
    gw_frame *f = _frame(e.frame, e.frame_len, seq);
    gw_resumes rs = {0};
    pthread_mutex_lock(&ev->mu);
    for (gw_listener *l = room->dead || !f ? NULL : room->ls; l; l = l->rnext) {
        _follow_role(l, &e, seq);
        if (gw_ev_visible(&e, &l->caller) && _push(l, f, gw_ev_closes(&e, &l->caller)))
            _resume_add(&rs, l->conn);
    }
    pthread_mutex_unlock(&ev->mu);
    _resume_all(&rs);
    _unref(f);
    gw_ev_clear(&e);
}

static void _on_complete(void *closure)
{
    gw_eroom *room = closure;
    atomic_store(&room->complete, true);
}

/* The room of id with its subscription, created when missing (ev->mu held).
 * NULL when NATS refuses. */
static gw_eroom *_room_get(gw_events *ev, const char *id)
{
    for (gw_eroom *r = ev->rooms; r; r = r->next)
        if (strcmp(r->id, id) == 0)
            return r;
    gw_eroom *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->ev = ev;
    snprintf(r->id, sizeof(r->id), "%s", id);
    char subj[160];
    snprintf(subj, sizeof(subj), "%s.events.room.%s.>", ev->cfg.prefix, id);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = ev->stream;
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverNew;
    jsErrCode jerr = 0;
    natsStatus ns = js_Subscribe(&r->sub, ev->js, subj, _on_msg, r, NULL, &so, &jerr);
    if (ns == NATS_OK)
        ns = natsSubscription_SetOnCompleteCB(r->sub, _on_complete, r);
    if (ns != NATS_OK) {
        cx_log_warn(NULL, "events: subscribing %s: %s (error %d)", subj, natsStatus_GetText(ns),
                    (int)jerr);
        if (r->sub) {
            natsSubscription_Unsubscribe(r->sub);
            natsSubscription_Destroy(r->sub);
        }
        free(r);
        return NULL;
    }
    r->next = ev->rooms;
    ev->rooms = r;
    return r;
}

/* Detaches l (ev->mu held). Returns the room when l was its last listener
 * (unlinked from ev->rooms: the caller unsubscribes it without the lock). */
static gw_eroom *_detach(gw_events *ev, gw_listener *l)
{
    gw_eroom *r = l->room, *dead = NULL;
    if (l->aprev)
        l->aprev->anext = l->anext;
    else if (ev->all == l)
        ev->all = l->anext;
    if (l->anext)
        l->anext->aprev = l->aprev;
    if (!r)
        return NULL;
    if (l->rprev)
        l->rprev->rnext = l->rnext;
    else
        r->ls = l->rnext;
    if (l->rnext)
        l->rnext->rprev = l->rprev;
    l->room = NULL;
    if (--r->n == 0) {
        for (gw_eroom **pp = &ev->rooms; *pp; pp = &(*pp)->next)
            if (*pp == r) {
                *pp = r->next;
                break;
            }
        r->dead = true;
        r->next = ev->graves;
        ev->graves = r;
        dead = r;
    }
    return dead;
}

/* Frees the rooms whose subscription completed (ev->mu held). */
static void _reap(gw_events *ev, bool all)
{
    for (gw_eroom **pp = &ev->graves; *pp;) {
        gw_eroom *r = *pp;
        if (all || atomic_load(&r->complete)) {
            *pp = r->next;
            natsSubscription_Destroy(r->sub);
            free(r);
        } else {
            pp = &r->next;
        }
    }
}

/* --- the content callback (MHD threads) ------------------------------------- */

static ssize_t _read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    gw_listener *l = cls;
    size_t n = 0;
    pthread_mutex_lock(&l->mu);
    while (n < max && l->q.len) {
        gw_frame *f = l->q.f[l->q.head];
        size_t k = f->len - l->off;
        if (k > max - n)
            k = max - n;
        memcpy(buf + n, f->data + l->off, k);
        n += k;
        l->off += k;
        if (l->off == f->len) {
            _unref(_ring_pop(&l->q));
            l->off = 0;
        }
    }
    ssize_t ret = (ssize_t)n;
    if (n == 0) {
        if (l->failed) {
            ret = MHD_CONTENT_READER_END_WITH_ERROR;
        } else if (l->ending) {
            ret = MHD_CONTENT_READER_END_OF_STREAM;
        } else {
            /* suspended under our lock: a producer resumes only after it */
            l->suspended = true;
            MHD_suspend_connection(l->conn);
        }
    }
    pthread_mutex_unlock(&l->mu);
    return ret;
}

static void _listener_free(gw_listener *l)
{
    _ring_drop(&l->q);
    _ring_drop(&l->hold);
    free(l->q.f);
    free(l->hold.f);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

/* The response is gone (the connection finished): detach and free. */
static void _done(void *cls)
{
    gw_listener *l = cls;
    gw_events *ev = l->ev;
    pthread_mutex_lock(&ev->mu);
    gw_eroom *dead = _detach(ev, l);
    pthread_mutex_unlock(&ev->mu);
    if (dead && dead->sub)
        natsSubscription_Unsubscribe(dead->sub); /* completes: reaped by the timer */
    atomic_fetch_sub(&ev->n_streams, 1);
    cx_log_info(l->rid, "events: stream of room %s ended", l->room_id);
    _listener_free(l);
}

/* --- the timer: pings and expiry ---------------------------------------------- */

static void *_timer(void *arg)
{
    gw_events *ev = arg;
    int64_t tick = ev->cfg.ping_ms / 4;
    if (tick > 250)
        tick = 250;
    if (tick < 10)
        tick = 10;
    gw_frame *ping = _frame(GW_EV_PING, strlen(GW_EV_PING), 0);
    pthread_mutex_lock(&ev->mu);
    while (!ev->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(tick % 1000) * 1000000L;
        ts.tv_sec += tick / 1000 + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&ev->cv, &ev->mu, &ts);
        if (ev->stop)
            break;
        int64_t mono = cx_mono_ms(), now = cx_now_ms();
        gw_resumes rs = {0};
        for (gw_listener *l = ev->all; l; l = l->anext) {
            bool r = false;
            if (l->exp_ms && now >= l->exp_ms)
                r = _end(l);
            else if (ping && mono >= l->next_ping_ms) {
                l->next_ping_ms = mono + ev->cfg.ping_ms;
                r = _push(l, ping, false);
            }
            if (r)
                _resume_add(&rs, l->conn);
        }
        _reap(ev, false);
        pthread_mutex_unlock(&ev->mu);
        _resume_all(&rs);
        pthread_mutex_lock(&ev->mu);
    }
    pthread_mutex_unlock(&ev->mu);
    _unref(ping);
    return NULL;
}

/* --- opening a stream ------------------------------------------------------- */

/* The host check of an access token: rooms.get with the caller's header
 * (rooms verifies it, revocation included); host when the room's owner is
 * the caller. */
static cx_status _host_check(gw_events *ev, const char *room_id, const char *authorization,
                             const char *user_id, const char *rid)
{
    Calixio__V1__RoomRef ref = CALIXIO__V1__ROOM_REF__INIT;
    ref.id = (char *)room_id;
    size_t len = 0;
    uint8_t *pb = cx_pb_pack(&ref.base, &len);
    char subj[128];
    snprintf(subj, sizeof(subj), "%s.rooms.get", ev->cfg.prefix);
    natsMsg *req = NULL, *rep = NULL;
    cx_status s = CX_ERR_NOMEM;
    if (!pb || natsMsg_Create(&req, subj, NULL, (const char *)pb, (int)len) != NATS_OK)
        goto out;
    natsMsgHeader_Set(req, "Authorization", authorization);
    if (rid && rid[0])
        natsMsgHeader_Set(req, "Calixio-Request-Id", rid);
    s = CX_ERR_UNAVAILABLE;
    if (natsConnection_RequestMsg(&rep, ev->nc, req, ev->cfg.timeout_ms) != NATS_OK)
        goto out;
    const char *code = NULL;
    if (natsMsgHeader_Get(rep, "Nats-Service-Error-Code", &code) == NATS_OK && code) {
        const char *text = NULL;
        natsMsgHeader_Get(rep, "Nats-Service-Error", &text);
        s = strcmp(code, "404") == 0   ? CX_ERR_ROOM_NOT_FOUND
            : strcmp(code, "401") == 0 ? CX_ERR_INVALID_TOKEN
            : strcmp(code, "403") == 0 ? CX_ERR_ROOM_FORBIDDEN
                                       : CX_ERR_UNAVAILABLE;
        goto out;
    }
    Calixio__V1__Room *room = calixio__v1__room__unpack(
        NULL, (size_t)natsMsg_GetDataLength(rep), (const uint8_t *)natsMsg_GetData(rep));
    s = CX_ERR_ROOM_FORBIDDEN;
    if (room && room->owner_user_id && strcmp(room->owner_user_id, user_id) == 0)
        s = CX_OK;
    if (room)
        calixio__v1__room__free_unpacked(room, NULL);
out:
    natsMsg_Destroy(rep);
    natsMsg_Destroy(req);
    free(pb);
    return s;
}

/* The caller of authorization for room_id. */
static cx_status _caller(gw_events *ev, const char *room_id, const char *authorization,
                         const char *rid, gw_ev_caller *c, int64_t *exp_ms)
{
    cx_bearer b;
    memset(c, 0, sizeof(*c));
    cx_status s = cx_bearer_verify(ev->cfg.auth, NULL, authorization,
                                   CX_BEARER_ACCESS | CX_BEARER_ROOM | CX_BEARER_WAITING, &b);
    if (s != CX_OK)
        return s;
    if (b.kind == CX_BEARER_ACCESS) {
        s = _host_check(ev, room_id, authorization, b.caller.user_id, rid);
        if (s != CX_OK)
            return s;
        c->role = GW_EVR_HOST;
        *exp_ms = b.caller.exp * 1000;
        return CX_OK;
    }
    if (strcmp(b.room.room_id, room_id) != 0)
        return CX_ERR_ROOM_FORBIDDEN;
    snprintf(c->identity, sizeof(c->identity), "%s", b.room.identity);
    *exp_ms = b.room.exp * 1000;
    if (b.kind == CX_BEARER_WAITING) {
        c->role = GW_EVR_WAITING;
        snprintf(c->waiting_id, sizeof(c->waiting_id), "%s", b.room.waiting_id);
        return CX_OK;
    }
    return gw_ev_role_parse(b.room.role, &c->role) ? CX_OK : CX_ERR_INVALID_TOKEN;
}

/* Parses a Last-Event-ID: decimal, 1..20 digits. */
static bool _parse_id(const char *s, uint64_t *out)
{
    if (!s || !*s || strlen(s) > 20)
        return false;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return false;
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return true;
}

static bool _queue_text(gw_listener *l, const char *text, uint64_t seq)
{
    gw_frame *f = _frame(text, strlen(text), seq);
    if (!f)
        return false;
    bool ok = _ring_push(&l->q, f);
    _unref(f);
    return ok;
}

/* Queues the events of the room after `after` (l not yet readable by MHD,
 * l->holding set). CX_ERR_NOT_FOUND: reset (older than the stream holds,
 * or more than a queue). */
static cx_status _replay(gw_events *ev, gw_listener *l, const char *room_id, uint64_t after)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    if (js_GetStreamInfo(&si, ev->js, ev->stream, NULL, &jerr) != NATS_OK || !si)
        return CX_ERR_UNAVAILABLE;
    uint64_t first = si->State.FirstSeq, last = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    /* the event named is gone (max age) or the ids are of another stream */
    if (after > last || after < first)
        return CX_ERR_NOT_FOUND;
    char subj[160];
    snprintf(subj, sizeof(subj), "%s.events.room.%s.>", ev->cfg.prefix, room_id);
    uint64_t seq = after + 1;
    for (;;) {
        jsDirectGetMsgOptions o;
        jsDirectGetMsgOptions_Init(&o);
        o.Sequence = seq;
        o.NextBySubject = subj;
        natsMsg *m = NULL;
        natsStatus ns = js_DirectGetMsg(&m, ev->js, ev->stream, NULL, &o);
        if (ns == NATS_NOT_FOUND)
            return CX_OK;
        if (ns != NATS_OK)
            return CX_ERR_UNAVAILABLE;
        const char *hs = NULL;
        uint64_t got = 0;
        if (natsMsgHeader_Get(m, "Nats-Sequence", &hs) != NATS_OK || !_parse_id(hs, &got) ||
            got < seq) {
            natsMsg_Destroy(m);
            return CX_ERR_UNAVAILABLE;
        }
        gw_ev e;
        cx_status s = gw_ev_translate((const uint8_t *)natsMsg_GetData(m),
                                      (size_t)natsMsg_GetDataLength(m), got, &e);
        natsMsg_Destroy(m);
        seq = got + 1;
        bool visible = false, ends = false;
        if (s == CX_OK) {
            pthread_mutex_lock(&ev->mu); /* l->caller: the live path changes it too */
            _follow_role(l, &e, got);
            visible = gw_ev_visible(&e, &l->caller);
            ends = gw_ev_closes(&e, &l->caller);
            pthread_mutex_unlock(&ev->mu);
        }
        if (s != CX_OK || !visible) {
            if (s == CX_OK)
                gw_ev_clear(&e);
            continue;
        }
        gw_frame *f = _frame(e.frame, e.frame_len, got);
        gw_ev_clear(&e);
        if (!f)
            return CX_ERR_NOMEM;
        pthread_mutex_lock(&l->mu);
        bool ok = _ring_push(&l->q, f);
        if (ok)
            l->last_seq = got;
        if (ends)
            l->ending = true;
        pthread_mutex_unlock(&l->mu);
        _unref(f);
        if (!ok)
            return CX_ERR_NOT_FOUND; /* missed more than a queue: refetch */
        if (ends)
            return CX_OK;
    }
}

/* Ends the replay: live frames that came meanwhile follow, without repeats. */
static void _release_hold(gw_listener *l)
{
    pthread_mutex_lock(&l->mu);
    l->holding = false;
    gw_frame *f;
    while ((f = _ring_pop(&l->hold))) {
        if (!l->ending && !l->failed && f->seq > l->last_seq) {
            if (_ring_push(&l->q, f))
                l->last_seq = f->seq;
            else
                l->failed = true;
        }
        _unref(f);
    }
    pthread_mutex_unlock(&l->mu);
}

cx_status gw_events_open(gw_events *ev, struct MHD_Connection *conn, const char *room_id,
                         const char *authorization, const char *last_id, const char *rid,
                         struct MHD_Response **resp)
{
    *resp = NULL;
    gw_ev_caller caller;
    int64_t exp_ms = 0;
    if (!authorization || !*authorization)
        return CX_ERR_MISSING_AUTH;
    if (atomic_load(&ev->closing) ||
        natsConnection_Status(ev->nc) != NATS_CONN_STATUS_CONNECTED)
        return CX_ERR_UNAVAILABLE;
    cx_status s = _caller(ev, room_id, authorization, rid, &caller, &exp_ms);
    if (s != CX_OK)
        return s;
    if (_ensure_stream(ev) != CX_OK)
        return CX_ERR_UNAVAILABLE;
    uint64_t after = 0;
    bool resume = last_id && *last_id;
    if (resume && !_parse_id(last_id, &after))
        resume = false; /* not one of ours: a fresh start, like no id */

    gw_listener *l = calloc(1, sizeof(*l));
    if (!l)
        return CX_ERR_NOMEM;
    l->q.max = l->hold.max = (size_t)ev->cfg.queue_max;
    pthread_mutex_init(&l->mu, NULL);
    l->ev = ev;
    l->conn = conn;
    l->caller = caller;
    l->exp_ms = exp_ms;
    l->holding = resume;
    snprintf(l->rid, sizeof(l->rid), "%s", rid ? rid : "");
    snprintf(l->room_id, sizeof(l->room_id), "%s", room_id);
    _queue_text(l, GW_EV_HELLO, 0);

    pthread_mutex_lock(&ev->mu);
    gw_eroom *room = _room_get(ev, room_id);
    if (room) {
        l->room = room;
        l->rnext = room->ls;
        if (room->ls)
            room->ls->rprev = l;
        room->ls = l;
        room->n++;
        l->anext = ev->all;
        if (ev->all)
            ev->all->aprev = l;
        ev->all = l;
        l->next_ping_ms = cx_mono_ms() + ev->cfg.ping_ms;
        if (atomic_load(&ev->closing)) { /* close_all ran meanwhile: it missed l */
            pthread_mutex_lock(&l->mu);
            l->ending = true;
            pthread_mutex_unlock(&l->mu);
        }
    }
    pthread_mutex_unlock(&ev->mu);
    if (!room) {
        _listener_free(l);
        return CX_ERR_UNAVAILABLE;
    }
    atomic_fetch_add(&ev->n_streams, 1);
    if (resume) {
        s = _replay(ev, l, room_id, after);
        if (s == CX_ERR_NOT_FOUND) {
            pthread_mutex_lock(&l->mu);
            _ring_drop(&l->q);
            l->ending = false;
            _queue_text(l, GW_EV_HELLO, 0);
            _queue_text(l, GW_EV_RESET, 0);
            pthread_mutex_unlock(&l->mu);
            cx_log_info(rid, "events: room %s: id %llu is gone, reset", room_id,
                        (unsigned long long)after);
        } else if (s != CX_OK) {
            cx_log_warn(rid, "events: room %s: replay after %llu failed: %s", room_id,
                        (unsigned long long)after, cx_status_code(s));
        }
        _release_hold(l);
    }
    *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, _read, l, _done);
    if (!*resp) {
        _done(l);
        return CX_ERR_NOMEM;
    }
    cx_log_info(rid, "events: stream of room %s opened (role %d, after %llu)", room_id,
                (int)caller.role, (unsigned long long)after);
    return CX_OK;
}

int gw_events_streams(gw_events *ev)
{
    return ev ? atomic_load(&ev->n_streams) : 0;
}

void gw_events_close_all(gw_events *ev)
{
    if (!ev)
        return;
    gw_resumes rs = {0};
    atomic_store(&ev->closing, true);
    pthread_mutex_lock(&ev->mu);
    for (gw_listener *l = ev->all; l; l = l->anext)
        if (_end(l))
            _resume_add(&rs, l->conn);
    pthread_mutex_unlock(&ev->mu);
    _resume_all(&rs);
}

/* --- lifecycle ------------------------------------------------------------------ */

cx_status gw_events_create(gw_events **out, const gw_events_cfg *cfg)
{
    *out = NULL;
    gw_events *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return CX_ERR_NOMEM;
    ev->cfg = *cfg;
    if (ev->cfg.queue_max < 4)
        ev->cfg.queue_max = 4;
    if (ev->cfg.replicas < 1)
        ev->cfg.replicas = 1;
    size_t i = 0;
    for (const char *p = cfg->prefix; *p && i + 1 < sizeof(ev->stream); p++)
        ev->stream[i++] = isalnum((unsigned char)*p) ? *p : '_';
    snprintf(ev->stream + i, sizeof(ev->stream) - i, "_room_events");
    snprintf(ev->subj_all, sizeof(ev->subj_all), "%s.events.room.>", cfg->prefix);
    pthread_mutex_init(&ev->mu, NULL);
    pthread_mutex_init(&ev->st_mu, NULL);
    pthread_cond_init(&ev->cv, NULL);
    cx_status s = CX_ERR_UNAVAILABLE;
    /* the gateway's NATS user and inbox prefix (its permission rows) */
    if (cx_natsconn_options(&ev->opts, cfg->nats, "calixio-gateway") != CX_OK)
        goto fail;
    /* its own connection name (monitoring tells the two apart), same inbox prefix */
    natsStatus ns = natsOptions_SetName(ev->opts, "calixio-gateway-events");
    if (ns == NATS_OK)
        ns = natsOptions_UseGlobalMessageDelivery(ev->opts, true);
    if (ns == NATS_OK)
        ns = natsOptions_SetRetryOnFailedConnect(ev->opts, true, NULL, NULL);
    if (ns == NATS_OK)
        ns = natsOptions_SetMaxReconnect(ev->opts, -1);
    if (ns == NATS_OK)
        ns = natsConnection_Connect(&ev->nc, ev->opts);
    if (ns != NATS_OK && ns != NATS_NOT_YET_CONNECTED)
        goto fail;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = cfg->timeout_ms;
    if (natsConnection_JetStream(&ev->js, ev->nc, &jo) != NATS_OK)
        goto fail;
    if (pthread_create(&ev->timer, NULL, _timer, ev) != 0)
        goto fail;
    *out = ev;
    return CX_OK;
fail:
    cx_log_error(NULL, "events: cannot set up the NATS connection");
    jsCtx_Destroy(ev->js);
    natsConnection_Destroy(ev->nc);
    natsOptions_Destroy(ev->opts);
    pthread_cond_destroy(&ev->cv);
    pthread_mutex_destroy(&ev->st_mu);
    pthread_mutex_destroy(&ev->mu);
    free(ev);
    return s;
}

void gw_events_destroy(gw_events *ev)
{
    if (!ev)
        return;
    pthread_mutex_lock(&ev->mu);
    ev->stop = true;
    pthread_cond_signal(&ev->cv);
    pthread_mutex_unlock(&ev->mu);
    pthread_join(ev->timer, NULL);
    /* every listener is gone with the HTTP server; rooms left are graves */
    for (gw_eroom *r = ev->rooms; r;) {
        gw_eroom *n = r->next;
        natsSubscription_Unsubscribe(r->sub);
        r->next = ev->graves;
        ev->graves = r;
        r = n;
    }
    ev->rooms = NULL;
    natsConnection_Close(ev->nc);
    pthread_mutex_lock(&ev->mu);
    _reap(ev, true);
    pthread_mutex_unlock(&ev->mu);
    jsCtx_Destroy(ev->js);
    natsConnection_Destroy(ev->nc);
    natsOptions_Destroy(ev->opts);
    pthread_cond_destroy(&ev->cv);
    pthread_mutex_destroy(&ev->st_mu);
    pthread_mutex_destroy(&ev->mu);
    free(ev);
}
