/* nats_floor.c: the NATS floor of this box, a nats.c requester/replier pair
 * with many requests in flight.
 *
 *   nats_floor -s NATS_URL [-window 64] [-size 200] [-d 10] [-warmup 2]
 *              [-subj bench.floor]
 *
 * Forks a replier process (one queue subscription, SendAsap, echoes the
 * payload to the reply subject), then runs the requester in this process:
 * `window` requests in flight, each an async publish with its own reply
 * subject <inbox>.<slot> under one wildcard inbox subscription; a reply
 * immediately re-issues the request of its slot. Latency is the round trip
 * per request (CLOCK_MONOTONIC, publish to reply callback). After `warmup`
 * seconds it measures for `d` seconds and prints one line:
 *
 *   nats_floor window=64 size=200 seconds=10.00 requests=N rps=R p50_us=A p99_us=B errors=E
 *
 * errors = requests still unanswered 2 s after the end. Exit status is 0 when
 * it could run (whatever the figures), 1 when it could not. */
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#define MAX_WINDOW 4096

typedef struct floor_state {
    natsConnection *nc;
    const char *subj;
    char inbox[64];
    char *payload;
    int size;
    int window;
    int64_t sent_at[MAX_WINDOW];
    _Atomic int phase; /* 0 warm-up, 1 measuring, 2 stopping */
    _Atomic int64_t done_measured;
    _Atomic int64_t outstanding;
    _Atomic int64_t pub_errors;
    uint32_t *lat_ns; /* written by the delivery thread only */
    size_t lat_len, lat_cap;
} floor_state;

static int64_t _now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static volatile sig_atomic_t _replier_stop;

static void _on_term(int sig)
{
    (void)sig;
    _replier_stop = 1;
}

static void _echo(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    (void)closure;
    const char *reply = natsMsg_GetReply(msg);
    if (reply)
        natsConnection_Publish(nc, reply, natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
}

/* The child: replies until SIGTERM. */
static int _run_replier(const char *url, const char *subj)
{
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetURL(o, url);
    if (s == NATS_OK)
        s = natsOptions_SetSendAsap(o, true);
    if (s == NATS_OK)
        s = natsConnection_Connect(&nc, o);
    if (s == NATS_OK)
        s = natsConnection_QueueSubscribe(&sub, nc, subj, "q", _echo, NULL);
    if (s == NATS_OK)
        s = natsConnection_Flush(nc);
    if (s != NATS_OK) {
        fprintf(stderr, "nats_floor replier: %s\n", natsStatus_GetText(s));
        return 1;
    }
    while (!_replier_stop)
        pause();
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(o);
    nats_Close();
    return 0;
}

static void _issue(floor_state *st, int slot)
{
    char reply[96];
    snprintf(reply, sizeof reply, "%s.%d", st->inbox, slot);
    st->sent_at[slot] = _now_ns();
    atomic_fetch_add(&st->outstanding, 1);
    natsStatus s = natsConnection_PublishRequest(st->nc, st->subj, reply, st->payload,
                                                 st->size);
    if (s != NATS_OK) {
        atomic_fetch_add(&st->outstanding, -1);
        atomic_fetch_add(&st->pub_errors, 1);
    }
}

static void _on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    floor_state *st = closure;
    int64_t now = _now_ns();
    const char *dot = strrchr(natsMsg_GetSubject(msg), '.');
    int slot = dot ? atoi(dot + 1) : -1;
    natsMsg_Destroy(msg);
    if (slot < 0 || slot >= st->window)
        return;
    atomic_fetch_add(&st->outstanding, -1);
    int phase = atomic_load(&st->phase);
    if (phase == 1) {
        if (st->lat_len == st->lat_cap) {
            size_t cap = st->lat_cap ? st->lat_cap * 2 : 1 << 20;
            uint32_t *p = realloc(st->lat_ns, cap * sizeof *p);
            if (!p)
                return;
            st->lat_ns = p;
            st->lat_cap = cap;
        }
        int64_t d = now - st->sent_at[slot];
        st->lat_ns[st->lat_len++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
        atomic_fetch_add(&st->done_measured, 1);
    }
    if (phase != 2)
        _issue(st, slot);
}

static int _cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void _sleep_s(double s)
{
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Waits until something answers on subj (the replier is subscribed). */
static natsStatus _wait_replier(natsConnection *nc, const char *subj)
{
    natsStatus s = NATS_TIMEOUT;
    for (int i = 0; i < 100; i++) {
        natsMsg *r = NULL;
        s = natsConnection_RequestString(&r, nc, subj, "ping", 500);
        natsMsg_Destroy(r);
        if (s == NATS_OK)
            return s;
        _sleep_s(0.05);
    }
    return s;
}

static int _run_requester(floor_state *st, const char *url, double warmup, double dur)
{
    natsOptions *o = NULL;
    natsSubscription *sub = NULL;
    char wildcard[80];
    snprintf(st->inbox, sizeof st->inbox, "_INBOX.floor.%ld", (long)getpid());
    snprintf(wildcard, sizeof wildcard, "%s.*", st->inbox);
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetURL(o, url);
    if (s == NATS_OK)
        s = natsOptions_SetSendAsap(o, true);
    if (s == NATS_OK)
        s = natsConnection_Connect(&st->nc, o);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&sub, st->nc, wildcard, _on_reply, st);
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(sub, -1, -1);
    if (s == NATS_OK)
        s = _wait_replier(st->nc, st->subj);
    if (s != NATS_OK) {
        fprintf(stderr, "nats_floor requester: %s\n", natsStatus_GetText(s));
        natsSubscription_Destroy(sub);
        natsConnection_Destroy(st->nc);
        natsOptions_Destroy(o);
        return 1;
    }
    for (int i = 0; i < st->window; i++)
        _issue(st, i);
    _sleep_s(warmup);
    int64_t t0 = _now_ns();
    atomic_store(&st->phase, 1);
    _sleep_s(dur);
    atomic_store(&st->phase, 2);
    int64_t t1 = _now_ns();
    for (int i = 0; i < 200 && atomic_load(&st->outstanding) > 0; i++)
        _sleep_s(0.01);
    int64_t errors = atomic_load(&st->outstanding) + atomic_load(&st->pub_errors);
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);

    double secs = (double)(t1 - t0) / 1e9;
    int64_t n = atomic_load(&st->done_measured);
    double p50 = 0, p99 = 0;
    if (st->lat_len > 0) {
        qsort(st->lat_ns, st->lat_len, sizeof *st->lat_ns, _cmp_u32);
        p50 = st->lat_ns[(size_t)(0.50 * (double)(st->lat_len - 1))] / 1e3;
        p99 = st->lat_ns[(size_t)(0.99 * (double)(st->lat_len - 1))] / 1e3;
    }
    printf("nats_floor window=%d size=%d seconds=%.2f requests=%lld rps=%.0f p50_us=%.1f "
           "p99_us=%.1f errors=%lld\n",
           st->window, st->size, secs, (long long)n, (double)n / secs, p50, p99,
           (long long)errors);
    fflush(stdout);
    natsConnection_Destroy(st->nc);
    natsOptions_Destroy(o);
    return 0;
}

int main(int argc, char **argv)
{
    const char *url = NULL, *subj = "bench.floor";
    int window = 64, size = 200;
    double dur = 10, warmup = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-s"))
            url = argv[i + 1];
        else if (!strcmp(argv[i], "-window"))
            window = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-size"))
            size = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-d"))
            dur = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "-warmup"))
            warmup = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "-subj"))
            subj = argv[i + 1];
    }
    if (!url || window < 1 || window > MAX_WINDOW || size < 1 || size > (1 << 20) || dur <= 0 ||
        warmup < 0) {
        fprintf(stderr,
                "usage: %s -s NATS_URL [-window 64] [-size 200] [-d 10] "
                "[-warmup 2] [-subj S]\n",
                argv[0]);
        return 2;
    }
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 1;
    }
    if (child == 0) {
        struct sigaction act = {.sa_handler = _on_term};
        sigaction(SIGTERM, &act, NULL);
        _exit(_run_replier(url, subj));
    }
    floor_state *st = calloc(1, sizeof *st);
    int rc = 1;
    if (st && (st->payload = malloc((size_t)size))) {
        memset(st->payload, 'x', (size_t)size);
        st->size = size;
        st->window = window;
        st->subj = subj;
        rc = _run_requester(st, url, warmup, dur);
    }
    kill(child, SIGTERM);
    int wst = 0;
    waitpid(child, &wst, 0);
    if (st) {
        free(st->payload);
        free(st->lat_ns);
        free(st);
    }
    nats_Close();
    return rc;
}
