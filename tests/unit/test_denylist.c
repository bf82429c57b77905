/* test_denylist: the pushed copy of the revoked sessions (cx_denylist,
 * issue 14) against a real Redis: not trusted before it is enabled and
 * loaded, trusted without asking Redis once loaded, loaded again after a
 * gap, a cold start sees what Redis holds, a Redis that cannot answer at
 * start leaves the copy unknown (verification fails closed), and a copy
 * too big to hold is not trusted. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cx_auth.h"
#include "cx_denylist.h"
#include "cx_log.h"
#include "cx_test.h"
#include "cx_test_stores.h"
#include "cx_time.h"

static cx_stores st;
static cx_redis *rd;
static const cx_auth_cfg cfg = {
    "unit-test-secret-0123456789", "calixio", "calixio", 30, NULL, NULL};

static void _header(const char *sid, char *out, size_t cap)
{
    char *tok = NULL, jti[64];
    CX_CHECK_INT(cx_auth_mint(&cfg, "00000000-0000-4000-8000-000000000001", "Unit", sid,
                              cx_now_s(), 600, &tok, jti),
                 CX_OK);
    snprintf(out, cap, "Bearer %s", tok ? tok : "");
    free(tok);
}

/* A deny-list entry written behind the copy's back (no push). */
static void _redis_only(const char *sid)
{
    CX_CHECK_INT(cx_auth_denylist_put(rd, sid, 60), CX_OK);
}

static void test_not_trusted_until_enabled_and_loaded(void)
{
    cx_denylist_reset();
    _redis_only("dl-a");
    CX_CHECK_INT(cx_denylist_check(rd, "dl-a"), -1); /* no subscription: never trusted */
    cx_denylist_note("dl-pushed");
    CX_CHECK_INT(cx_denylist_check(rd, "dl-pushed"), -1);
    cx_denylist_enable(true);
    CX_CHECK_INT(cx_denylist_check(NULL, "dl-a"), -1); /* enabled, not loaded */
    CX_CHECK_INT(cx_denylist_check(rd, "dl-a"), 1);    /* loaded from the index */
    CX_CHECK_INT(cx_denylist_check(rd, "dl-pushed"), 1);
    CX_CHECK_INT(cx_denylist_check(rd, "dl-never"), 0);
}

static void test_trusted_copy_needs_no_redis(void)
{
    char h[1024];
    cx_caller c;
    /* written to Redis after the load, without a push: the trusted copy
     * does not ask Redis, so it answers "not revoked" ... */
    _redis_only("dl-behind");
    CX_CHECK_INT(cx_denylist_check(rd, "dl-behind"), 0);
    /* ... until the push arrives */
    cx_denylist_note("dl-behind");
    CX_CHECK_INT(cx_denylist_check(rd, "dl-behind"), 1);
    _header("dl-behind", h, sizeof h);
    CX_CHECK_INT(cx_auth_verify_header(&cfg, rd, h, &c), CX_ERR_TOKEN_REVOKED);
    /* with Redis stopped the copy still answers both ways */
    _header("dl-fine", h, sizeof h);
    CX_CHECK_INT(cx_stores_ctl(&st, "stop", "redis"), 0);
    CX_CHECK_INT(cx_auth_verify_header(&cfg, rd, h, &c), CX_OK);
    CX_CHECK_INT(cx_denylist_check(rd, "dl-a"), 1);
    CX_CHECK_INT(cx_stores_ctl(&st, "start", "redis"), 0);
}

static void test_gap_reloads(void)
{
    _redis_only("dl-gap"); /* revoked while the push was not heard */
    CX_CHECK_INT(cx_denylist_check(rd, "dl-gap"), 0);
    cx_denylist_invalidate(); /* NATS reconnected */
    CX_CHECK_INT(cx_denylist_check(NULL, "dl-gap"), -1);
    CX_CHECK_INT(cx_denylist_check(rd, "dl-gap"), 1);
    /* pushed entries survive the reload even when Redis lacks them */
    CX_CHECK_INT(cx_denylist_check(rd, "dl-pushed"), 1);
}

static void test_cold_start_and_redis_down_at_start(void)
{
    char h[1024];
    cx_caller c;
    cx_denylist_reset(); /* a restarted process */
    cx_denylist_enable(true);
    CX_CHECK_INT(cx_denylist_check(rd, "dl-gap"), 1);
    CX_CHECK_INT(cx_denylist_check(rd, "dl-pushed"), 0); /* was only pushed */

    cx_denylist_reset();
    cx_denylist_enable(true);
    CX_CHECK_INT(cx_stores_ctl(&st, "stop", "redis"), 0);
    CX_CHECK_INT(cx_denylist_check(rd, "dl-gap"), -1);
    _header("dl-other", h, sizeof h);
    /* not known and Redis cannot answer, no fallback: 503, not "allowed" */
    CX_CHECK_INT(cx_auth_verify_header(&cfg, rd, h, &c), CX_ERR_UNAVAILABLE);
    CX_CHECK_INT(cx_stores_ctl(&st, "start", "redis"), 0);
}

static void test_too_many_is_not_trusted(void)
{
    char sid[32];
    cx_denylist_reset();
    cx_denylist_enable(true);
    CX_CHECK_INT(cx_denylist_check(rd, "x"), 0);
    for (int i = 0; i <= CX_DENYLIST_MAX; i++) {
        snprintf(sid, sizeof sid, "many-%d", i);
        cx_denylist_note(sid);
    }
    CX_CHECK_INT(cx_denylist_check(NULL, "many-1"), -1);
    CX_CHECK_INT(cx_denylist_check(NULL, "x"), -1);
    cx_denylist_reset();
}

int main(void)
{
    cx_log_init("test_denylist", CX_LOG_WARN);
    signal(SIGPIPE, SIG_IGN);
    if (cx_stores_start(&st, "redis") != 0) {
        fprintf(stderr, "cannot start Redis\n");
        cx_stores_stop(&st);
        return 1;
    }
    if (cx_redis_create(&rd, st.redis_addr, 3000, 2) != CX_OK) {
        cx_stores_stop(&st);
        return 1;
    }
    CX_RUN(test_not_trusted_until_enabled_and_loaded);
    CX_RUN(test_trusted_copy_needs_no_redis);
    CX_RUN(test_gap_reloads);
    CX_RUN(test_cold_start_and_redis_down_at_start);
    CX_RUN(test_too_many_is_not_trusted);
    cx_redis_destroy(rd);
    cx_stores_stop(&st);
    return CX_DONE();
}
