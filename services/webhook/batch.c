/* batch.c: participant_events rows written in groups (group commit).
 *
 * Every accepted join/leave is one row. One INSERT (and its commit) per
 * event cost Postgres more CPU than anything else in the event's path, so
 * rows from requests that arrive together go in ONE statement:
 *
 *   INSERT INTO participant_events (...) SELECT ... FROM unnest($1::text[],
 *   ...) ON CONFLICT (event_id) DO NOTHING
 *
 * No extra thread: a request queues its row and, if fewer than
 * WB_MAX_INFLIGHT statements are in flight, becomes a leader: it takes up to
 * max rows from the queue (its own and those of requests waiting), runs the
 * statement and wakes each of those requests with the statement's result;
 * then it hands the leadership to the first request still queued. Requests
 * arriving while statements run form the next group. Each request returns only when the
 * statement holding its row has committed (or failed: then every row of
 * it failed, as one statement is atomic), so nothing is acknowledged
 * before it is stored. A single request alone is a group of one.
 *
 * After a committed statement the leader also runs the group's Redis part
 * (each row's presence script, prepared by its request) in one pipelined
 * round trip on its own borrowed connection (cx_redis_evalsha_many), in
 * arrival order, before waking its group (the next group's leader is woken
 * first, so the next statement runs meanwhile): a group of 64 costs Redis
 * one read and one write instead of 64 round trips from 64 threads. The order of
 * work per event is unchanged: Postgres committed, then Redis, then the
 * answer. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx_log.h"
#include "webhook.h"

#define WB_NCOLS 8
/* Statements in flight at once. 1 and 2 gave the same rate in A/B runs
 * (4,418 vs 4,461/s, medians of 3), and 1 cost Postgres less (21-25 vs 28-38 us
 * per event: bigger groups), so rows that arrive while a statement runs
 * wait for it and go together in the next one. */
#define WB_MAX_INFLIGHT 1

typedef struct _item {
    const char *v[WB_NCOLS]; /* column values, borrowed from the caller */
    char at[24];
    int64_t created_at;
    wh_rcall *rcall; /* the row's Redis part (NULL: none), run by the leader */
    cx_status s;
    bool done;
    pthread_cond_t cv;
    struct _item *next;
} _item;

struct wh_history {
    pthread_mutex_t mu;
    cx_pg_pool *pg;
    int max;
    int inflight; /* leaders running a statement */
    _item *head;  /* queued, not yet taken by a leader */
    _item *tail;
};

cx_status wh_history_create(wh_history **out, cx_pg_pool *pg, int max_rows)
{
    if (max_rows < 1)
        return CX_ERR_CONFIG;
    wh_history *h = calloc(1, sizeof *h);
    if (!h)
        return CX_ERR_NOMEM;
    pthread_mutex_init(&h->mu, NULL);
    h->pg = pg;
    h->max = max_rows;
    *out = h;
    return CX_OK;
}

void wh_history_destroy(wh_history *h)
{
    if (!h)
        return;
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* Appends s as one double-quoted element of a Postgres array literal
 * (backslash before '"' and '\\'). Returns the new length, or 0 when it
 * does not fit in cap. */
static size_t _elem(char *buf, size_t len, size_t cap, const char *s, bool first)
{
    if (!first) {
        if (len + 1 >= cap)
            return 0;
        buf[len++] = ',';
    }
    if (len + 1 >= cap)
        return 0;
    buf[len++] = '"';
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            if (len + 1 >= cap)
                return 0;
            buf[len++] = '\\';
        }
        if (len + 1 >= cap)
            return 0;
        buf[len++] = *s;
    }
    if (len + 2 >= cap)
        return 0;
    buf[len++] = '"';
    buf[len] = '\0';
    return len;
}

static const char _sql[] =
    "INSERT INTO participant_events (event_id, livekit_room, room_id, event, identity, "
    "participant_sid, name, occurred_at) "
    "SELECT e, r, ri, ev, i, ps, n, to_timestamp(t) "
    "FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], "
    "$7::text[], $8::bigint[]) AS u(e, r, ri, ev, i, ps, n, t) "
    "ON CONFLICT (event_id) DO NOTHING";

/* Row order within a statement: by room and identity, then event time,
 * then event id. So a participant's join goes before its leave when both
 * are in one group (the visit trigger then never sees the leave first),
 * and two statements in flight on any copy take the per-identity advisory
 * locks of the visit trigger and the unique-index locks of shared ids
 * (duplicate deliveries) in the same order. */
static int _by_key(const void *a, const void *b)
{
    const _item *x = *(_item *const *)a, *y = *(_item *const *)b;
    int c = strcmp(x->v[2], y->v[2]);
    if (!c)
        c = strcmp(x->v[4], y->v[4]);
    if (!c)
        c = (x->created_at > y->created_at) - (x->created_at < y->created_at);
    return c ? c : strcmp(x->v[0], y->v[0]);
}

static cx_status _insert(cx_pg_pool *pg, _item *first, int n)
{
    char *arr[WB_NCOLS] = {0};
    size_t cap[WB_NCOLS];
    cx_status s = CX_ERR_NOMEM;
    _item **rows = malloc((size_t)n * sizeof *rows);

    if (!rows)
        return CX_ERR_NOMEM;
    _item *it = first;
    for (int i = 0; i < n; i++, it = it->next)
        rows[i] = it;
    qsort(rows, (size_t)n, sizeof *rows, _by_key);
    for (int c = 0; c < WB_NCOLS; c++) {
        size_t need = 3;
        for (int i = 0; i < n; i++)
            need += 2 * strlen(rows[i]->v[c]) + 3;
        cap[c] = need;
        arr[c] = malloc(need);
        if (!arr[c])
            goto out_free_arrays;
        size_t len = 1;
        arr[c][0] = '{';
        for (int i = 0; i < n; i++) {
            len = _elem(arr[c], len, cap[c], rows[i]->v[c], i == 0);
            if (!len) {
                s = CX_ERR_INTERNAL;
                goto out_free_arrays;
            }
        }
        arr[c][len++] = '}';
        arr[c][len] = '\0';
    }
    s = cx_pg_exec_prepared(pg, "wh_history_batch", _sql, WB_NCOLS, (const char *const *)arr,
                            NULL);
out_free_arrays:
    for (int c = 0; c < WB_NCOLS; c++)
        free(arr[c]);
    free(rows);
    return s;
}

/* The Redis part of the n rows from first on, in arrival order, in one
 * pipelined round trip on the leader's connection rc. */
static void _redis_part(cx_redis_conn *rc, _item *first, int n)
{
    cx_redis_call calls[CX_REDIS_MANY_MAX];
    _item *from = first;

    while (n > 0) { /* in pipelines of at most CX_REDIS_MANY_MAX calls */
        _item *it = from;
        int k = 0, i = 0;
        for (; i < n && k < CX_REDIS_MANY_MAX; i++, it = it->next)
            if (it->rcall)
                calls[k++] = it->rcall->call;
        cx_redis_evalsha_many(rc, calls, k);
        k = 0;
        for (_item *j = from; j != it; j = j->next)
            if (j->rcall) {
                j->rcall->call.status = calls[k].status;
                j->rcall->call.reply = calls[k++].reply;
            }
        from = it;
        n -= i;
    }
}

/* Leader: takes up to h->max queued rows, inserts them, reports back.
 * Called and returns with h->mu held. */
static void _lead(wh_history *h, cx_redis_conn *rc)
{
    h->inflight++;
    _item *first = h->head;
    if (!first) { /* callers only lead a non-empty list */
        h->inflight--;
        return;
    }
    int n = 1;
    _item *last = first;
    for (_item *it = first->next; it && n < h->max; it = it->next) {
        last = it;
        n++;
    }
    h->head = last->next;
    if (!h->head)
        h->tail = NULL;
    pthread_mutex_unlock(&h->mu);

    cx_status s = _insert(h->pg, first, n);

    /* the next group's statement may start while this one's Redis part
     * runs (the scripts compare createdAt, so two groups' scripts may
     * reach Redis in either order) */
    pthread_mutex_lock(&h->mu);
    h->inflight--;
    if (h->head)
        pthread_cond_signal(&h->head->cv); /* the next group's leader */
    pthread_mutex_unlock(&h->mu);
    if (s == CX_OK)
        _redis_part(rc, first, n);

    pthread_mutex_lock(&h->mu);
    _item *it = first;
    for (int i = 0; i < n; i++) {
        _item *next = it->next; /* it may be gone once signalled */
        it->s = s;
        it->done = true;
        pthread_cond_signal(&it->cv);
        it = next;
    }
}

cx_status wh_history_append(wh_history *h, const wh_event *ev, const char *event_id,
                            const char *room_id, cx_redis_conn *rc, wh_rcall *rcall)
{
    /* on the heap: the list shares it with whichever request leads */
    _item *it = calloc(1, sizeof *it);
    if (!it)
        return CX_ERR_NOMEM;
    *it = (_item){.v = {event_id, ev->room_name, room_id, ev->event, ev->p_identity, ev->p_sid,
                        ev->p_name, NULL}};
    snprintf(it->at, sizeof it->at, "%" PRId64, ev->created_at);
    it->created_at = ev->created_at;
    it->v[7] = it->at;
    it->rcall = rcall;
    pthread_cond_init(&it->cv, NULL);

    pthread_mutex_lock(&h->mu);
    if (h->tail)
        h->tail->next = it;
    else
        h->head = it;
    h->tail = it;
    while (!it->done) {
        if (h->inflight < WB_MAX_INFLIGHT && h->head)
            _lead(h, rc); /* maybe not our row: any waiting request may lead */
        else
            pthread_cond_wait(&it->cv, &h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    pthread_cond_destroy(&it->cv);
    cx_status s = it->s;
    free(it);
    return s;
}
