/* denylist_cost.c: what verifying an access token costs when every request
 * carries another session (issue 14): the per-request Redis path (the
 * deny-list copy not in use: one EXISTS per session, the 1 s cache never
 * hits) against the pushed copy (cx_denylist, loaded once from Redis).
 *
 *   denylist_cost REDIS_ADDR [SESSIONS=20000]
 *
 * Prints "denylist_cost <path> us=<µs per verification>" for both paths
 * (wall clock, one thread). Exit 0 when both ran and refused nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cx_auth.h"
#include "cx_denylist.h"
#include "cx_log.h"
#include "cx_time.h"

static double _now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    static const cx_auth_cfg cfg = {
        "bench-secret-0123456789abcdef", "calixio", "calixio", 30, NULL, NULL};
    cx_redis *rd = NULL;
    int n = argc > 2 ? atoi(argv[2]) : 20000, rc = 1;
    char **hdr = NULL;

    cx_log_init("denylist_cost", CX_LOG_ERROR);
    if (argc < 2 || n <= 0 || cx_redis_create(&rd, argv[1], 2000, 2) != CX_OK) {
        fprintf(stderr, "usage: denylist_cost REDIS_ADDR [SESSIONS]\n");
        return 2;
    }
    hdr = calloc((size_t)n, sizeof *hdr);
    for (int i = 0; hdr && i < n; i++) {
        char sid[32], jti[64], *tok = NULL;
        snprintf(sid, sizeof sid, "bench-sess-%08d", i);
        if (cx_auth_mint(&cfg, "00000000-0000-4000-8000-000000000001", "U", sid, cx_now_s(),
                         600, &tok, jti) != CX_OK)
            goto out;
        size_t len = strlen(tok) + 8;
        hdr[i] = malloc(len);
        if (hdr[i])
            snprintf(hdr[i], len, "Bearer %s", tok);
        free(tok);
        if (!hdr[i])
            goto out;
    }
    if (!hdr)
        goto out;
    rc = 0;
    for (int pushed = 0; pushed < 2; pushed++) {
        cx_caller c;
        int refused = 0;
        cx_denylist_reset();
        cx_denylist_enable(pushed != 0);
        double t0 = _now_s();
        for (int i = 0; i < n; i++)
            refused += cx_auth_verify_header(&cfg, rd, hdr[i], &c) != CX_OK;
        printf("denylist_cost %s us=%.2f\n", pushed ? "pushed-copy" : "redis-per-request",
               (_now_s() - t0) * 1e6 / n);
        if (refused)
            rc = 1;
    }
out:
    for (int i = 0; hdr && i < n; i++)
        free(hdr[i]);
    free(hdr);
    cx_redis_destroy(rd);
    return rc;
}
