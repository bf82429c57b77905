/* metrics: request counters by route and status, a latency histogram per
 * route, the in-flight gauge and NATS outcome counters, rendered in the
 * Prometheus text format (version 0.0.4). Lock-free (atomics). */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef enum gw_counter {
    GW_M_NATS_TIMEOUT,
    GW_M_NATS_NO_RESPONDERS,
    GW_M_RATE_LIMITED,
    GW_M_NATS_RETRY, /* repeatable requests published a second time */
    GW_M_COUNTERS_
} gw_counter;

/* Records a finished request: route index (-1 unmatched), HTTP status,
 * duration in microseconds. */
/* Routes with their own counters; main refuses to start with a longer
 * route table (the metrics test lists every route). */
#define GW_METRICS_MAX_ROUTES 128

void gw_metrics_observe(int route, int status, int64_t dur_us);

/* Adds delta to the in-flight gauge. */
void gw_metrics_inflight(int delta);

void gw_metrics_count(gw_counter c);

/* Renders every metric; returns a malloced NUL-terminated text (caller
 * frees) and its length in *len, or NULL on OOM. */
char *gw_metrics_render(size_t *len);

#endif
