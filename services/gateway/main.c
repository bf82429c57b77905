/* cx-gateway: the HTTP entry point of Calixio (wiring and the env table).
 *
 * Routes HTTP requests (routes.c) to NATS subjects without a blocked thread
 * per request (http.c + proxy.c). SIGTERM/SIGINT: stop accepting, let
 * in-flight requests finish (bounded by the request timeout), exit 0. */
#include <nats/nats.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cors.h"
#include "cx_daemon.h"
#include "cx_log.h"
#include "events.h"
#include "http.h"
#include "metrics.h"
#include "openapi.h"
#include "proxy.h"
#include "ratelimit.h"
#include "ready.h"
#include "rlsync.h"
#include "routes.h"
#include "static.h"

static cx_daemon_cfg dc;
static char *http_addr, *cors_origins, *web_root, *media_url;
static int64_t req_timeout_ms, retry_after_ms, threads, max_conns, conn_timeout_ms,
    read_timeout_ms, rl_rps, rl_burst, rl_sync_ms;
static int64_t ev_ping_ms, ev_max_age_ms, ev_queue_max, ev_replicas;
static bool trust_proxy, cookie_secure;

static const cx_cfg_var vars[] = {
    CX_DAEMON_VARS(dc),
    {"HTTP_ADDR", CX_CFG_STRING, "127.0.0.1:8080", "listen address host:port", &http_addr, 0, 0,
     false},
    {"GATEWAY_REQUEST_TIMEOUT", CX_CFG_DURATION, "5s",
     "how long a NATS request may take before 504", &req_timeout_ms, 50, 300000, false},
    {"GATEWAY_RETRY_AFTER", CX_CFG_DURATION, "1s",
     "a GET or join without a reply after this long is sent once more (0s: never)",
     &retry_after_ms, 0, 300000, false},
    {"GATEWAY_THREADS", CX_CFG_INT, "0", "HTTP thread pool size (0: number of cores)", &threads,
     0, 256, false},
    {"GATEWAY_MAX_CONNECTIONS", CX_CFG_INT, "16384",
     "open HTTP connections at most (event streams included)", &max_conns, 1, 1000000, false},
    {"GATEWAY_CONNECTION_TIMEOUT", CX_CFG_DURATION, "15s",
     "idle HTTP connection timeout (slow clients are dropped)", &conn_timeout_ms, 1000, 3600000,
     false},
    {"GATEWAY_REQUEST_READ_TIMEOUT", CX_CFG_DURATION, "10s",
     "time a client has to deliver a whole request (slowloris guard)", &read_timeout_ms, 500,
     3600000, false},
    {"CORS_ALLOWED_ORIGINS", CX_CFG_STRING, "http://localhost:5173,http://127.0.0.1:5173",
     "comma-separated allowed origins; * reflects any origin", &cors_origins, 0, 0, false},
    {"RATE_LIMIT_RPS", CX_CFG_INT, "200", "requests per second per client IP (0: no limit)",
     &rl_rps, 0, 1000000, false},
    {"RATE_LIMIT_BURST", CX_CFG_INT, "400", "burst per client IP", &rl_burst, 0, 10000000,
     false},
    {"RATE_LIMIT_SYNC_INTERVAL", CX_CFG_DURATION, "100ms",
     "how often gateway copies tell each other their per-IP takes over NATS, so N copies keep "
     "one limit (0s: each copy limits alone)",
     &rl_sync_ms, 0, 10000, false},
    {"TRUST_PROXY", CX_CFG_BOOL, "false",
     "believe X-Forwarded-For / X-Forwarded-Proto (behind a reverse proxy)", &trust_proxy, 0, 0,
     false},
    {"COOKIE_SECURE", CX_CFG_BOOL, "false",
     "refresh cookie always SameSite=None; Secure (served over TLS)", &cookie_secure, 0, 0,
     false},
    {"WEB_ROOT", CX_CFG_STRING, "auto",
     "web app folder served at / (auto: the web folder the build writes beside cx-gateway; off: none)",
     &web_root, 0, 0, false},
    {"LIVEKIT_PUBLIC_URL", CX_CFG_STRING, "ws://127.0.0.1:7880",
     "LiveKit WebSocket URL handed to clients", &media_url, 0, 0, false},
    {"EVENTS_PING_INTERVAL", CX_CFG_DURATION, "15s",
     "a `: ping` comment on every live event stream this often", &ev_ping_ms, 10, 3600000,
     false},
    {"EVENTS_MAX_AGE", CX_CFG_DURATION, "10m",
     "max age of the JetStream stream of room events: how far back Last-Event-ID replays",
     &ev_max_age_ms, 1000, 86400000, false},
    {"EVENTS_QUEUE_MAX", CX_CFG_INT, "256",
     "frames queued per live event stream; a reader that falls this far behind is closed",
     &ev_queue_max, 4, 100000, false},
    {"EVENTS_REPLICAS", CX_CFG_INT, "1",
     "replicas of the room-event stream (3 on a three-node JetStream cluster)", &ev_replicas, 1,
     5, false},
};

/* Raises the open-file limit to its hard maximum (every connection is a
 * fd) and says so when that still cannot hold GATEWAY_MAX_CONNECTIONS plus
 * the gateway's own descriptors (NATS, Redis, epoll, logs: 64 kept apart). */
static void _raise_nofile(int64_t want_conns)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && (int64_t)rl.rlim_cur < want_conns + 64)
        cx_log_warn(
            NULL,
            "open-file limit %lld is below GATEWAY_MAX_CONNECTIONS %lld + 64: connections "
            "beyond the limit are refused (raise ulimit -n)",
            (long long)rl.rlim_cur, (long long)want_conns);
}

static void _sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits for SIGTERM/SIGINT (blocked in every thread, taken here). */
static int _wait_signal(const sigset_t *set)
{
    int sig = 0;
    while (sigwait(set, &sig) != 0)
        ;
    return sig;
}

int main(int argc, char **argv)
{
    int rc = cx_daemon_init("gateway", argc, argv, vars, CX_NELEM(vars), &dc);
    if (rc >= 0)
        return rc;
    rc = 1;

    /* before any thread exists, so every thread inherits the mask */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    _raise_nofile(max_conns);

    if (gw_n_routes > GW_METRICS_MAX_ROUTES) {
        cx_log_error(NULL, "route table: %d routes, metrics hold %d", gw_n_routes,
                     GW_METRICS_MAX_ROUTES);
        rc = 2;
        goto out_free_config;
    }
    gw_cors cors;
    if (gw_cors_parse(&cors, cors_origins) != CX_OK) {
        cx_log_error(NULL, "config: CORS_ALLOWED_ORIGINS: too many or too long entries");
        rc = 2;
        goto out_free_config;
    }
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? n : 1;
    }
    size_t doc_len = 0;
    char *doc = gw_openapi_build(&doc_len);
    if (!doc)
        goto out_free_config;

    gw_ratelimit *rl = NULL;
    if (gw_ratelimit_create(&rl, rl_rps, rl_burst) != CX_OK)
        goto out_free_doc;
    gw_proxy *px = NULL;
    if (gw_proxy_create(&px, &dc.nats, dc.prefix, req_timeout_ms, retry_after_ms) != CX_OK)
        goto out_free_rl;
    gw_rlsync *rls = NULL;
    if (rl_rps > 0 && rl_sync_ms > 0 &&
        gw_rlsync_create(&rls, gw_proxy_conn(px), dc.prefix, rl, rl_sync_ms) != CX_OK)
        goto out_free_proxy;
    gw_ready *ready = NULL;
    if (gw_ready_create(&ready, px) != CX_OK)
        goto out_free_rls;

    gw_slowguard *guard = NULL;
    if (gw_slowguard_create(&guard, read_timeout_ms, conn_timeout_ms) != CX_OK)
        goto out_free_ready;

    gw_static *web = NULL;
    if (gw_static_open(&web, web_root, media_url) != CX_OK) {
        rc = 2;
        goto out_free_guard;
    }

    gw_events *events = NULL;
    gw_events_cfg ec = {
        .nats = &dc.nats,
        .prefix = dc.prefix,
        .auth = &dc.auth,
        .ping_ms = ev_ping_ms,
        .max_age_ms = ev_max_age_ms,
        .queue_max = ev_queue_max,
        .replicas = (int)ev_replicas,
        .timeout_ms = req_timeout_ms,
    };
    if (gw_events_create(&events, &ec) != CX_OK) {
        rc = 2;
        goto out_free_web;
    }

    gw_http_cfg hc = {
        .addr = http_addr,
        .threads = (unsigned)threads,
        .max_connections = (unsigned)max_conns,
        .connection_timeout_s = (unsigned)((conn_timeout_ms + 999) / 1000),
        .trust_proxy = trust_proxy,
        .cookie_secure = cookie_secure,
        .cors = &cors,
        .rl = rl,
        .px = px,
        .ready = ready,
        .guard = guard,
        .openapi = doc,
        .openapi_len = doc_len,
        .web = web,
        .events = events,
    };
    gw_http *http = NULL;
    if (gw_http_start(&http, &hc) != CX_OK) {
        rc = 2;
        goto out_free_events;
    }
    cx_log_info(NULL, "gateway listening on %s (%lld threads, timeout %lldms)", http_addr,
                (long long)threads, (long long)req_timeout_ms);

    int sig = _wait_signal(&sigs);
    cx_log_info(NULL, "signal %d: draining", sig);
    gw_http_quiesce(http);
    gw_events_close_all(events); /* live streams end now; clients resume elsewhere */
    /* in-flight requests end within the request timeout (timer-enforced) */
    /* (readiness probes may take GW_READY_PING_MS per service) */
    int64_t probe_ms = (int64_t)GW_READY_PING_MS * gw_ready_n_services;
    int64_t waited = 0, limit = (req_timeout_ms > probe_ms ? req_timeout_ms : probe_ms) + 2000;
    while (gw_http_active(http) > 0 && waited < limit) {
        _sleep_ms(10);
        waited += 10;
    }
    if (gw_http_active(http) > 0) /* e.g. a client still uploading: dropped */
        cx_log_warn(NULL, "drain: %d requests still open", gw_http_active(http));
    /* Order matters: a request sent late (a keep-alive connection) may still
     * be suspended with its NATS entry linked. Complete every NATS request
     * and readiness waiter first (no callback runs after these return), let
     * the resumed requests send their answers, and only then free connections. */
    gw_proxy_close_requests(px);
    gw_ready_shutdown(ready);
    for (int i = 0; i < 100 && gw_http_suspended(http) > 0; i++)
        _sleep_ms(10);
    rc = 0;
    gw_http_stop(http);
    cx_log_info(NULL, "gateway stopped");

out_free_events:
    gw_events_destroy(events);
out_free_web:
    gw_static_close(web);
out_free_guard:
    gw_slowguard_destroy(guard);
out_free_ready:
    gw_ready_destroy(ready);
out_free_rls:
    gw_rlsync_destroy(rls);
out_free_proxy:
    gw_proxy_destroy(px);
    nats_CloseAndWait(2000);
out_free_rl:
    gw_ratelimit_destroy(rl);
out_free_doc:
    free(doc);
out_free_config:
    cx_config_free(vars, CX_NELEM(vars));
    return rc;
}
