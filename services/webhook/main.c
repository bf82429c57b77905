/* cx-webhook: LiveKit webhooks -> presence (Redis), history and room status
 * (Postgres), events on NATS (issue 5). Wiring only: the environment table,
 * the stores, the endpoint table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/webhook.pb-c.h"
#include "cx_daemon.h"
#include "cx_log.h"
#include "calixio/v1/common.pb-c.h"
#include "calixio/v1/history.pb-c.h"
#include "hist.h"
#include "leave.h"
#include "webhook.h"

static cx_daemon_cfg dc;
static cx_daemon_store_cfg sc;
static char *db_url, *redis_addr;
static char *lk_key, *lk_secret, *lk_webhook_secret;
static int64_t leeway_ms, presence_ttl_ms, dedup_ttl_ms, pg_pool_size, concurrency;
static int64_t room_cache_ms, batch_rows;

static const cx_cfg_var vars[] = {
    CX_DAEMON_VARS(dc),
    CX_DAEMON_STORE_VARS(sc, "WEBHOOK"),
    {"DATABASE_URL", CX_CFG_STRING, CX_DEFAULT_DATABASE_URL, "Postgres URL", &db_url, 0, 0,
     true},
    {"REDIS_ADDR", CX_CFG_STRING, CX_DEFAULT_REDIS_ADDR,
     "Redis host:port, or Redis Cluster seeds host:port,host:port,... (presence, webhook de-duplication)",
     &redis_addr, 0, 0, false},
    {"LIVEKIT_API_KEY", CX_CFG_STRING, "devkey",
     "LiveKit API key; a webhook token's iss must name it", &lk_key, 0, 0, false},
    {"LIVEKIT_API_SECRET", CX_CFG_STRING, "secret",
     "LiveKit API secret (signs webhooks unless LIVEKIT_WEBHOOK_SECRET is set)", &lk_secret, 0,
     0, true},
    {"LIVEKIT_WEBHOOK_SECRET", CX_CFG_STRING, "",
     "secret of the webhook key, when it differs from LIVEKIT_API_SECRET", &lk_webhook_secret,
     0, 0, true},
    {"WEBHOOK_LEEWAY", CX_CFG_DURATION, "30s", "clock skew allowed on webhook token exp/nbf",
     &leeway_ms, 0, 300000, false},
    {"PRESENCE_TTL", CX_CFG_DURATION, "6h",
     "presence keys expire when no event refreshed them this long", &presence_ttl_ms, 60000,
     INT64_C(2592000000), false},
    {"WEBHOOK_DEDUP_TTL", CX_CFG_DURATION, "24h", "how long an event id is remembered",
     &dedup_ttl_ms, 60000, INT64_C(2592000000), false},
    {"WEBHOOK_CONCURRENCY", CX_CFG_INT, "64",
     "webhooks one copy handles at once (NATS delivery threads; also its Redis "
     "connections); used instead of CX_SUBS_PER_ENDPOINT",
     &concurrency, 1, 256, false},
    {"WEBHOOK_PG_POOL_SIZE", CX_CFG_INT, "8",
     "Postgres connections of this daemon (history rows go in groups, one statement at a "
     "time)",
     &pg_pool_size, 1, 256, false},
    {"WEBHOOK_BATCH_ROWS", CX_CFG_INT, "64",
     "most participant_events rows written by one INSERT (rows of concurrent webhooks "
     "are committed together; 1: one statement per event)",
     &batch_rows, 1, 1000, false},
    {"WEBHOOK_ROOM_CACHE_TTL", CX_CFG_DURATION, "2s",
     "how long a LiveKit room -> room id lookup is reused (0: not cached); a room "
     "created meanwhile is seen at once via its rooms event",
     &room_cache_ms, 0, 60000, false},
};

static const cx_endpoint endpoints[] = {
    {"livekit", &calixio__v1__webhook_request__descriptor,
     &calixio__v1__webhook_reply__descriptor, wh_handle_livekit, CX_AUTH_NONE, false},
    /* history, audit, call quality (hist.h): the handlers verify the bearer */
    {"calls", &calixio__v1__calls_request__descriptor, &calixio__v1__calls_reply__descriptor,
     wh_h_calls, CX_AUTH_NONE, false},
    {"history", &calixio__v1__room_history_request__descriptor,
     &calixio__v1__room_history__descriptor, wh_h_history, CX_AUTH_NONE, false},
    {"audit", &calixio__v1__audit_request__descriptor, &calixio__v1__audit_reply__descriptor,
     wh_h_audit, CX_AUTH_NONE, false},
    {"stats_add", &calixio__v1__stats_sample__descriptor, &calixio__v1__empty__descriptor,
     wh_h_stats_add, CX_AUTH_NONE, false},
    {"stats_get", &calixio__v1__stats_request__descriptor,
     &calixio__v1__stats_reply__descriptor, wh_h_stats_get, CX_AUTH_NONE, false},
};

/* Delivery threads per endpoint. The history, audit and call-quality
 * endpoints wait on the Postgres pool (WEBHOOK_PG_POOL_SIZE, 8): more
 * threads than WH_READ_SUBS only cost memory. With WEBHOOK_CONCURRENCY (64)
 * threads each, an idle cx-webhook had 405 threads and 5.2 MiB of private
 * memory (issue 14). 0: WEBHOOK_CONCURRENCY (the livekit ingest). */
#define WH_READ_SUBS 4
static const int endpoint_subs[CX_NELEM(endpoints)] = {
    0, WH_READ_SUBS, WH_READ_SUBS, WH_READ_SUBS, WH_READ_SUBS, WH_READ_SUBS};

static cx_status _serve(wh_ctx *c)
{
    cx_service_opts o;
    cx_service *svc = NULL;
    wh_leave *leave = NULL;
    wh_hist_subs *hist = NULL;
    memset(&o, 0, sizeof(o));
    cx_daemon_service_opts(&dc, &o);
    o.name = "webhook";
    o.version = "0.1.0";
    o.description = "Calixio LiveKit webhooks: presence, participant history, room status";
    o.endpoints = endpoints;
    o.n_endpoints = (int)CX_NELEM(endpoints);
    o.ctx = c;
    o.subs_per_endpoint = (int)concurrency;
    o.endpoint_subs = endpoint_subs;
    cx_status s = cx_service_create(&svc, &o);
    if (s == CX_OK)
        s = wh_rooms_subscribe(c->rooms, svc);
    if (s == CX_OK)
        s = wh_leave_subscribe(c, svc, &leave);
    if (s == CX_OK)
        s = wh_hist_subscribe(c, svc, &hist);
    if (s == CX_OK) {
        atomic_store(&c->svc, svc);
        s = cx_service_run(svc);
        atomic_store(&c->svc, NULL);
    }
    wh_hist_unsubscribe(hist);
    wh_leave_unsubscribe(leave);
    wh_rooms_unsubscribe(c->rooms);
    cx_service_destroy(svc);
    return s;
}

int main(int argc, char **argv)
{
    int rc = cx_daemon_init("webhook", argc, argv, vars, CX_NELEM(vars), &dc);
    if (rc >= 0) {
        cx_config_free(vars, CX_NELEM(vars));
        return rc;
    }

    wh_ctx c;
    memset(&c, 0, sizeof(c));
    atomic_init(&c.svc, NULL);
    c.keys.api_key = lk_key;
    c.keys.secret = lk_webhook_secret[0] ? lk_webhook_secret : lk_secret;
    c.leeway_s = leeway_ms / 1000;
    c.presence_ttl_s = presence_ttl_ms / 1000;
    c.dedup_ttl_s = dedup_ttl_ms / 1000;
    c.auth = &dc.auth;

    rc = 1;
    if (!lk_key[0] || !c.keys.secret[0]) {
        cx_log_error(NULL, "config: LIVEKIT_API_KEY/LIVEKIT_API_SECRET: must not be empty");
        goto out_free_config;
    }
    if (strcmp(c.keys.secret, "secret") == 0)
        cx_log_warn(NULL, "webhook: using LiveKit's development secret; set "
                          "LIVEKIT_API_SECRET or LIVEKIT_WEBHOOK_SECRET in production");
    /* One Redis connection per concurrent request: a request holds its
     * connection across its Postgres statement. */
    cx_daemon_stores st;
    cx_status s = cx_daemon_stores_open(&st, &sc, db_url, (int)pg_pool_size, redis_addr,
                                        WH_REDIS_TIMEOUT_MS, (int)concurrency);
    if (s != CX_OK)
        goto out_free_config;
    c.pg = st.pg;
    c.redis = st.redis;
    s = wh_rooms_create(&c.rooms, c.pg, room_cache_ms);
    if (s != CX_OK)
        goto out_close_stores;
    s = wh_history_create(&c.history, c.pg, (int)batch_rows);
    if (s != CX_OK)
        goto out_destroy_rooms;
    cx_log_info(NULL,
                "webhook starting: key %s, leeway %llds, presence ttl %llds, dedup ttl %llds, "
                "concurrency %lld, room cache %lldms",
                c.keys.api_key, (long long)c.leeway_s, (long long)c.presence_ttl_s,
                (long long)c.dedup_ttl_s, (long long)concurrency, (long long)room_cache_ms);
    s = _serve(&c);
    if (s == CX_OK)
        rc = 0;
    else
        cx_log_error(NULL, "webhook stopped: %s", cx_status_code(s));
    wh_history_destroy(c.history);
out_destroy_rooms:
    wh_rooms_destroy(c.rooms);
out_close_stores:
    cx_daemon_stores_close(&st);
out_free_config:
    cx_config_free(vars, CX_NELEM(vars));
    return rc;
}
