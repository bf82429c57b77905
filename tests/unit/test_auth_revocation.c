/* test_auth_revocation: the revocation cache of cx_auth (issue 19 items 5
 * and 7) against a real Redis:
 *   - a "not revoked" answer read before a revocation event, and stored
 *     after it, must not win over the event (Redis is paused with CLIENT
 *     PAUSE so the read is in flight while the event is noted);
 *   - with Redis down, the fallback answers (revoked / not revoked), and
 *     without one verification is 503 (unavailable). */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cx_auth.h"
#include "cx_log.h"
#include "cx_test.h"
#include "cx_test_stores.h"
#include "cx_time.h"

static cx_stores st;
static cx_redis *rd;
static const cx_auth_cfg cfg = {
    "unit-test-secret-0123456789", "calixio", "calixio", 30, NULL, NULL};

static void _sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* "Bearer <token>" for session sid into out. */
static void _header(const char *sid, char *out, size_t cap)
{
    char *tok = NULL, jti[64];
    CX_CHECK_INT(cx_auth_mint(&cfg, "00000000-0000-4000-8000-000000000001", "Unit", sid,
                              cx_now_s(), 600, &tok, jti),
                 CX_OK);
    snprintf(out, cap, "Bearer %s", tok ? tok : "");
    free(tok);
}

typedef struct _verify_job {
    const char *header;
    cx_status result;
} _verify_job;

static void *_verify_thread(void *arg)
{
    _verify_job *j = arg;
    cx_caller c;
    j->result = cx_auth_verify_header(&cfg, rd, j->header, &c);
    return NULL;
}

static void test_event_wins_over_a_racing_read(void)
{
    char h[1024];
    cx_caller c;
    _header("race-session-1", h, sizeof h);
    /* Redis holds every command for 600 ms: the verification below reads
     * "not revoked" (nothing is written), but only after the event. */
    const char *pause[] = {"CLIENT", "PAUSE", "600", "ALL"};
    CX_CHECK_INT(cx_redis_cmdv(rd, NULL, 4, pause, NULL), CX_OK);
    _verify_job j = {h, CX_ERR_INTERNAL};
    pthread_t t;
    CX_CHECK_INT(pthread_create(&t, NULL, _verify_thread, &j), 0);
    _sleep_ms(200); /* the EXISTS is sent and waits in Redis */
    cx_auth_note_revoked("race-session-1");
    pthread_join(t, NULL);
    /* the racing verification itself learns of the event ... */
    CX_CHECK_INT(j.result, CX_ERR_TOKEN_REVOKED);
    /* ... and above all the stale "not revoked" was not cached */
    CX_CHECK_INT(cx_auth_verify_header(&cfg, rd, h, &c), CX_ERR_TOKEN_REVOKED);
}

static void test_stale_read_of_another_session_is_not_cached(void)
{
    /* A read that raced some revocation is answered but not cached; the
     * next verification asks Redis again and sees the deny-list entry. */
    char h[1024];
    cx_caller c;
    _header("race-session-2", h, sizeof h);
    const char *pause[] = {"CLIENT", "PAUSE", "600", "ALL"};
    CX_CHECK_INT(cx_redis_cmdv(rd, NULL, 4, pause, NULL), CX_OK);
    _verify_job j = {h, CX_ERR_INTERNAL};
    pthread_t t;
    CX_CHECK_INT(pthread_create(&t, NULL, _verify_thread, &j), 0);
    _sleep_ms(200);
    cx_auth_note_revoked("race-session-other");
    pthread_join(t, NULL);
    CX_CHECK_INT(j.result, CX_OK);
    CX_CHECK_INT(cx_auth_denylist_put(rd, "race-session-2", 60), CX_OK);
    CX_CHECK_INT(cx_auth_verify_header(&cfg, rd, h, &c), CX_ERR_TOKEN_REVOKED);
}

static void test_cached_answer_without_race(void)
{
    /* No race: "not revoked" is cached (the deny-list written behind the
     * cache's back is seen only after the cache expires, ~1 s). */
    char h[1024];
    cx_caller c;
    _header("plain-session-1", h, sizeof h);
    CX_CHECK_INT(cx_auth_verify_header(&cfg, rd, h, &c), CX_OK);
    CX_CHECK_INT(cx_auth_denylist_put(rd, "plain-session-1", 60), CX_OK);
    CX_CHECK_INT(cx_auth_verify_header(&cfg, rd, h, &c), CX_OK);
    _sleep_ms(1100);
    CX_CHECK_INT(cx_auth_verify_header(&cfg, rd, h, &c), CX_ERR_TOKEN_REVOKED);
}

static int _fallback_calls;
static cx_status _fallback(const char *sid, void *arg)
{
    (void)arg;
    _fallback_calls++;
    if (strcmp(sid, "fb-revoked") == 0)
        return CX_ERR_TOKEN_REVOKED;
    if (strcmp(sid, "fb-active") == 0)
        return CX_OK;
    return CX_ERR_UNAVAILABLE;
}

static void test_fallback_while_redis_is_down(void)
{
    char hr[1024], ha[1024], hu[1024], hn[1024];
    cx_caller c;
    _header("fb-revoked", hr, sizeof hr);
    _header("fb-active", ha, sizeof ha);
    _header("fb-unknown", hu, sizeof hu);
    _header("fb-none", hn, sizeof hn);
    CX_CHECK_INT(cx_stores_ctl(&st, "stop", "redis"), 0);
    CX_CHECK_INT(cx_auth_verify_header(&cfg, rd, hn, &c), CX_ERR_UNAVAILABLE); /* no fallback */
    cx_auth_set_fallback(_fallback, NULL);
    CX_CHECK_INT(cx_auth_verify_header(&cfg, rd, hr, &c), CX_ERR_TOKEN_REVOKED);
    CX_CHECK_INT(cx_auth_verify_header(&cfg, rd, ha, &c), CX_OK);
    CX_CHECK_INT(cx_auth_verify_header(&cfg, rd, hu, &c), CX_ERR_UNAVAILABLE);
    int calls = _fallback_calls;
    /* answers are cached like Redis's */
    CX_CHECK_INT(cx_auth_verify_header(&cfg, rd, hr, &c), CX_ERR_TOKEN_REVOKED);
    CX_CHECK_INT(_fallback_calls, calls);
    /* a revocation committed while Redis is down: noted here at once,
     * the Redis write fails (the caller retries it) */
    char hc[1024];
    _header("committed-session", hc, sizeof hc);
    CX_CHECK_INT(cx_auth_revoke_committed(rd, "committed-session", 60), CX_ERR_UNAVAILABLE);
    CX_CHECK_INT(cx_auth_verify_header(&cfg, rd, hc, &c), CX_ERR_TOKEN_REVOKED);
    cx_auth_set_fallback(NULL, NULL);
    CX_CHECK_INT(cx_stores_ctl(&st, "start", "redis"), 0);
    /* the retried write lands once Redis is back */
    cx_status s = CX_ERR_UNAVAILABLE;
    for (int i = 0; i < 50 && s != CX_OK; i++) {
        s = cx_auth_denylist_put(rd, "committed-session", 60);
        if (s != CX_OK)
            _sleep_ms(100);
    }
    CX_CHECK_INT(s, CX_OK);
}

int main(void)
{
    cx_log_init("test_auth_revocation", CX_LOG_WARN);
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
    CX_RUN(test_event_wins_over_a_racing_read);
    CX_RUN(test_stale_read_of_another_session_is_not_cached);
    CX_RUN(test_cached_answer_without_race);
    CX_RUN(test_fallback_while_redis_is_down);
    cx_redis_destroy(rd);
    cx_stores_stop(&st);
    return CX_DONE();
}
