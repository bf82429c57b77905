/* metrics: atomic counters and their Prometheus rendering. */
#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routes.h"

#define GW_MAX_ROUTES GW_METRICS_MAX_ROUTES
#define GW_ROUTE_SLOTS (GW_MAX_ROUTES + 1) /* last: unmatched */

static const int _codes[] = {200, 201, 204, 400, 401, 403, 404, 405, 409, 413,
                             415, 422, 429, 431, 500, 502, 503, 504, 0 /* other */};
#define GW_N_CODES ((int)(sizeof(_codes) / sizeof(_codes[0])))

static const double _bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define GW_N_BOUNDS ((int)(sizeof(_bounds) / sizeof(_bounds[0])))

static _Atomic uint64_t _requests[GW_ROUTE_SLOTS][GW_N_CODES];
static _Atomic uint64_t _other_status[GW_ROUTE_SLOTS][600]; /* exact code when "other" */
static _Atomic uint64_t _hist[GW_ROUTE_SLOTS][GW_N_BOUNDS + 1];
static _Atomic uint64_t _sum_us[GW_ROUTE_SLOTS];
static _Atomic int64_t _inflight;
static _Atomic uint64_t _counters[GW_M_COUNTERS_];

static int _slot(int route)
{
    return (route >= 0 && route < gw_n_routes && route < GW_MAX_ROUTES) ? route : GW_MAX_ROUTES;
}

void gw_metrics_observe(int route, int status, int64_t dur_us)
{
    int r = _slot(route);
    int c = GW_N_CODES - 1;
    for (int i = 0; i < GW_N_CODES - 1; i++)
        if (_codes[i] == status) {
            c = i;
            break;
        }
    if (c == GW_N_CODES - 1 && status >= 100 && status < 600)
        atomic_fetch_add(&_other_status[r][status], 1);
    else
        atomic_fetch_add(&_requests[r][c], 1);
    if (dur_us < 0)
        dur_us = 0;
    double s = (double)dur_us / 1e6;
    int b = GW_N_BOUNDS;
    for (int i = 0; i < GW_N_BOUNDS; i++)
        if (s <= _bounds[i]) {
            b = i;
            break;
        }
    atomic_fetch_add(&_hist[r][b], 1);
    atomic_fetch_add(&_sum_us[r], (uint64_t)dur_us);
}

void gw_metrics_inflight(int delta)
{
    atomic_fetch_add(&_inflight, delta);
}

void gw_metrics_count(gw_counter c)
{
    if (c >= 0 && c < GW_M_COUNTERS_)
        atomic_fetch_add(&_counters[c], 1);
}

typedef struct _buf {
    char *p;
    size_t len, cap;
    int oom;
} _buf;

static void _printf(_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void _printf(_buf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = b->cap * 2 + (size_t)n;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
}

static void _labels(_buf *b, int r)
{
    if (r == GW_MAX_ROUTES)
        _printf(b, "method=\"\",route=\"unmatched\"");
    else
        _printf(b, "method=\"%s\",route=\"%s\"", gw_routes[r].method, gw_routes[r].pattern);
}

static void _render_requests(_buf *b)
{
    _printf(b, "# HELP calixio_gateway_http_requests_total HTTP requests by route and status.\n"
               "# TYPE calixio_gateway_http_requests_total counter\n");
    for (int r = 0; r < GW_ROUTE_SLOTS; r++) {
        if (r != GW_MAX_ROUTES && r >= gw_n_routes)
            continue;
        for (int c = 0; c < GW_N_CODES - 1; c++) {
            uint64_t v = atomic_load(&_requests[r][c]);
            if (!v && c > 0)
                continue; /* keep one zero series per route so every route is listed */
            _printf(b, "calixio_gateway_http_requests_total{");
            _labels(b, r);
            _printf(b, ",status=\"%d\"} %llu\n", _codes[c], (unsigned long long)v);
        }
        for (int s = 100; s < 600; s++) {
            uint64_t v = atomic_load(&_other_status[r][s]);
            if (!v)
                continue;
            _printf(b, "calixio_gateway_http_requests_total{");
            _labels(b, r);
            _printf(b, ",status=\"%d\"} %llu\n", s, (unsigned long long)v);
        }
    }
}

static void _render_hist(_buf *b)
{
    _printf(b, "# HELP calixio_gateway_http_request_duration_seconds Time from the first byte "
               "of a request to its answer.\n"
               "# TYPE calixio_gateway_http_request_duration_seconds histogram\n");
    for (int r = 0; r < GW_ROUTE_SLOTS; r++) {
        if (r != GW_MAX_ROUTES && r >= gw_n_routes)
            continue;
        uint64_t cum = 0;
        for (int i = 0; i <= GW_N_BOUNDS; i++) {
            cum += atomic_load(&_hist[r][i]);
            _printf(b, "calixio_gateway_http_request_duration_seconds_bucket{");
            _labels(b, r);
            if (i < GW_N_BOUNDS)
                _printf(b, ",le=\"%g\"} %llu\n", _bounds[i], (unsigned long long)cum);
            else
                _printf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
        }
        _printf(b, "calixio_gateway_http_request_duration_seconds_sum{");
        _labels(b, r);
        _printf(b, "} %.6f\n", (double)atomic_load(&_sum_us[r]) / 1e6);
        _printf(b, "calixio_gateway_http_request_duration_seconds_count{");
        _labels(b, r);
        _printf(b, "} %llu\n", (unsigned long long)cum);
    }
}

char *gw_metrics_render(size_t *len)
{
    _buf b = {.cap = 16384};
    b.p = malloc(b.cap);
    if (!b.p)
        return NULL;
    b.p[0] = '\0';
    _render_requests(&b);
    _render_hist(&b);
    _printf(
        &b,
        "# HELP calixio_gateway_http_requests_in_flight Requests being served.\n"
        "# TYPE calixio_gateway_http_requests_in_flight gauge\n"
        "calixio_gateway_http_requests_in_flight %lld\n"
        "# HELP calixio_gateway_nats_timeouts_total NATS requests that timed out (504).\n"
        "# TYPE calixio_gateway_nats_timeouts_total counter\n"
        "calixio_gateway_nats_timeouts_total %llu\n"
        "# HELP calixio_gateway_nats_no_responders_total NATS requests nobody served (503).\n"
        "# TYPE calixio_gateway_nats_no_responders_total counter\n"
        "calixio_gateway_nats_no_responders_total %llu\n"
        "# HELP calixio_gateway_rate_limited_total Requests refused by the rate limit.\n"
        "# TYPE calixio_gateway_rate_limited_total counter\n"
        "calixio_gateway_rate_limited_total %llu\n"
        "# HELP calixio_gateway_nats_retries_total Repeatable requests published again "
        "after GATEWAY_RETRY_AFTER without a reply.\n"
        "# TYPE calixio_gateway_nats_retries_total counter\n"
        "calixio_gateway_nats_retries_total %llu\n",
        (long long)atomic_load(&_inflight),
        (unsigned long long)atomic_load(&_counters[GW_M_NATS_TIMEOUT]),
        (unsigned long long)atomic_load(&_counters[GW_M_NATS_NO_RESPONDERS]),
        (unsigned long long)atomic_load(&_counters[GW_M_RATE_LIMITED]),
        (unsigned long long)atomic_load(&_counters[GW_M_NATS_RETRY]));
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
