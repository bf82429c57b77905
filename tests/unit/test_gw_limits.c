/* test_gw_limits: the gateway's pure pieces behind issue 19 items 1 and 17:
 * the 401 for an unusable Authorization header, and the rate limiter's
 * usage sharing (drain what this copy took, charge what others took).
 * The gateway sources are compiled into this test directly (they are not
 * part of libcommon). */
#include <stdio.h>
#include <string.h>

#include "../../services/gateway/headers.c"
#include "../../services/gateway/ratelimit.c"
#include "cx_test.h"

typedef struct drained {
    char key[8][64];
    uint32_t n[8];
    int count;
} drained;

static void _emit(void *ctx, const char *key, uint32_t n)
{
    drained *d = ctx;
    if (d->count < 8) {
        snprintf(d->key[d->count], sizeof d->key[0], "%s", key);
        d->n[d->count++] = n;
    }
}

static void test_unusable_auth_status(void)
{
    char big[9 * 1024 + 8];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "Bearer ", 7);
    CX_CHECK(!gw_header_value_ok(big, GW_AUTH_MAX));
    CX_CHECK_INT(gw_auth_unusable_status(big), CX_ERR_INVALID_TOKEN);
    CX_CHECK(!gw_header_value_ok("Bearer ab\x01"
                                 "cd",
                                 GW_AUTH_MAX));
    CX_CHECK_INT(gw_auth_unusable_status("Bearer ab\x01"
                                         "cd"),
                 CX_ERR_INVALID_TOKEN);
    CX_CHECK_INT(gw_auth_unusable_status("Basic \x7f"), CX_ERR_INVALID_AUTH);
    CX_CHECK_INT(gw_auth_unusable_status("bearer x\x02"), CX_ERR_INVALID_AUTH);
}

static void test_drain_reports_local_takes_once(void)
{
    gw_ratelimit *rl = NULL;
    CX_CHECK_INT(gw_ratelimit_create(&rl, 10, 10), CX_OK);
    int ra = 0;
    for (int i = 0; i < 3; i++)
        CX_CHECK(gw_ratelimit_take(rl, "10.0.0.1", 1000, &ra));
    CX_CHECK(gw_ratelimit_take(rl, "10.0.0.2", 1000, &ra));
    drained d = {0};
    gw_ratelimit_drain(rl, _emit, &d);
    CX_CHECK_INT(d.count, 2);
    uint32_t total = 0;
    for (int i = 0; i < d.count; i++) {
        total += d.n[i];
        if (strcmp(d.key[i], "10.0.0.1") == 0)
            CX_CHECK_INT(d.n[i], 3);
        else
            CX_CHECK_STR(d.key[i], "10.0.0.2");
    }
    CX_CHECK_INT(total, 4);
    drained again = {0};
    gw_ratelimit_drain(rl, _emit, &again);
    CX_CHECK_INT(again.count, 0); /* reported once */
    gw_ratelimit_destroy(rl);
}

static void test_charge_consumes_and_is_not_reported(void)
{
    gw_ratelimit *rl = NULL;
    CX_CHECK_INT(gw_ratelimit_create(&rl, 10, 10), CX_OK);
    int ra = 0;
    gw_ratelimit_charge(rl, "10.0.0.9", 8, 1000); /* another copy took 8 of 10 */
    CX_CHECK(gw_ratelimit_take(rl, "10.0.0.9", 1000, &ra));
    CX_CHECK(gw_ratelimit_take(rl, "10.0.0.9", 1000, &ra));
    CX_CHECK(!gw_ratelimit_take(rl, "10.0.0.9", 1000, &ra));
    drained d = {0};
    gw_ratelimit_drain(rl, _emit, &d);
    CX_CHECK_INT(d.count, 1);
    CX_CHECK_INT(d.n[0], 2); /* only what this copy granted */
    /* a debt: charged beyond empty, paid back by waiting */
    gw_ratelimit_charge(rl, "10.0.0.9", 5, 1000);
    CX_CHECK(!gw_ratelimit_take(rl, "10.0.0.9", 1400, &ra)); /* -5 + 4 < 1 */
    CX_CHECK(gw_ratelimit_take(rl, "10.0.0.9", 1600, &ra));  /* -5 + 6 >= 1 */
    /* a huge bogus charge blocks for at most one burst's worth of refill */
    gw_ratelimit_charge(rl, "10.0.0.7", 1000000, 1000);
    CX_CHECK(!gw_ratelimit_take(rl, "10.0.0.7", 2000, &ra));
    CX_CHECK(gw_ratelimit_take(rl, "10.0.0.7", 3100, &ra));
    gw_ratelimit_destroy(rl);
}

static void test_disabled_limiter_ignores_sharing(void)
{
    gw_ratelimit *rl = NULL;
    CX_CHECK_INT(gw_ratelimit_create(&rl, 0, 0), CX_OK);
    int ra = 0;
    gw_ratelimit_charge(rl, "10.0.0.1", 100, 1000);
    CX_CHECK(gw_ratelimit_take(rl, "10.0.0.1", 1000, &ra));
    drained d = {0};
    gw_ratelimit_drain(rl, _emit, &d);
    CX_CHECK_INT(d.count, 0);
    gw_ratelimit_destroy(rl);
}

int main(void)
{
    CX_RUN(test_unusable_auth_status);
    CX_RUN(test_drain_reports_local_takes_once);
    CX_RUN(test_charge_consumes_and_is_not_reported);
    CX_RUN(test_disabled_limiter_ignores_sharing);
    return CX_DONE();
}
