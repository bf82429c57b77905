/* cx-media: LiveKit join tokens (issue 4). Wiring only: the environment
 * table, the room cache over Postgres, the room-event and presence-event
 * subscriptions and the endpoint table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/media.pb-c.h"
#include "cx_daemon.h"
#include "cx_log.h"
#include "media.h"

static cx_daemon_cfg dc;
static cx_daemon_store_cfg sc;
static char *db_url, *redis_addr;
static char *lk_key, *lk_secret, *lk_public_url;
static int64_t token_ttl_ms, cache_ttl_ms, pg_pool_size, early_join_ms;

static const cx_cfg_var vars[] = {
    CX_DAEMON_VARS(dc),
    CX_DAEMON_STORE_VARS(sc, "MEDIA"),
    {"DATABASE_URL", CX_CFG_STRING, CX_DEFAULT_DATABASE_URL,
     "Postgres URL (read-only use of the rooms table)", &db_url, 0, 0, true},
    {"REDIS_ADDR", CX_CFG_STRING, CX_DEFAULT_REDIS_ADDR,
     "Redis host:port, or Redis Cluster seeds host:port,host:port,... (revocation deny-list)",
     &redis_addr, 0, 0, false},
    {"LIVEKIT_API_KEY", CX_CFG_STRING, "devkey", "LiveKit API key (dev default: devkey)",
     &lk_key, 0, 0, false},
    {"LIVEKIT_API_SECRET", CX_CFG_STRING, "secret",
     "LiveKit API secret (dev default: secret; set it in production)", &lk_secret, 0, 0, true},
    {"LIVEKIT_PUBLIC_URL", CX_CFG_STRING, "ws://127.0.0.1:7880",
     "LiveKit WebSocket URL handed to clients", &lk_public_url, 0, 0, false},
    {"LIVEKIT_TOKEN_TTL", CX_CFG_DURATION, "1h", "lifetime of LiveKit join tokens",
     &token_ttl_ms, 1000, INT64_C(604800000), false},
    {"MEDIA_ROOM_CACHE_TTL", CX_CFG_DURATION, "500ms",
     "how long a room row is reused for joins (at most 1s)", &cache_ttl_ms, 1, 1000, false},
    {"MEDIA_PG_POOL_SIZE", CX_CFG_INT, "8", "Postgres connections of this daemon",
     &pg_pool_size, 1, 256, false},
    {"ROOM_EARLY_JOIN", CX_CFG_DURATION, "10m",
     "how long before scheduled_at others than the host may join a scheduled room",
     &early_join_ms, 0, INT64_C(86400000), false},
};

static const cx_endpoint endpoints[] = {
    {"join", &calixio__v1__join_request__descriptor, &calixio__v1__join_reply__descriptor,
     media_h_join, CX_AUTH_OPTIONAL, false},
};

static cx_status _serve(media_ctx *c, cx_redis *redis)
{
    cx_service_opts o;
    cx_service *svc = NULL;
    memset(&o, 0, sizeof o);
    cx_daemon_service_opts(&dc, &o);
    /* join is CPU-only on a cache hit: a second delivery thread per copy
     * only adds wake-ups (measured 155 -> 128 us of CPU per join with one).
     * Scale media by copies; CX_SUBS_PER_ENDPOINT still wins when set. */
    if (!getenv("CX_SUBS_PER_ENDPOINT"))
        o.subs_per_endpoint = 1;
    o.name = "media";
    o.version = "0.1.0";
    o.description = "Calixio LiveKit join tokens";
    o.endpoints = endpoints;
    o.n_endpoints = (int)CX_NELEM(endpoints);
    o.ctx = c;
    o.revocation = redis;
    cx_status s = cx_service_create(&svc, &o);
    c->svc = svc;
    if (s == CX_OK)
        s = media_cache_subscribe(c->cache, svc);
    if (s == CX_OK)
        s = media_presence_subscribe(c->presence, svc);
    if (s == CX_OK)
        s = cx_service_run(svc);
    media_presence_unsubscribe(c->presence);
    media_cache_unsubscribe(c->cache);
    c->svc = NULL;
    cx_service_destroy(svc);
    return s;
}

int main(int argc, char **argv)
{
    int rc = cx_daemon_init("media", argc, argv, vars, CX_NELEM(vars), &dc);
    if (rc >= 0) {
        cx_config_free(vars, CX_NELEM(vars));
        return rc;
    }
    rc = 1;
    if (!lk_key[0] || !lk_secret[0]) {
        cx_log_error(NULL, "config: LIVEKIT_API_KEY / LIVEKIT_API_SECRET: must not be empty");
        goto out_free_config;
    }
    if (strcmp(lk_key, "devkey") == 0 && strcmp(lk_secret, "secret") == 0)
        cx_log_warn(NULL, "LiveKit uses the development key pair devkey/secret");
    media_ctx c = {.api_key = lk_key,
                   .api_secret = lk_secret,
                   .public_url = lk_public_url,
                   .token_ttl_s = token_ttl_ms / 1000,
                   .early_join_s = early_join_ms / 1000,
                   .auth = &dc.auth};
    cx_daemon_stores st;
    cx_status s = cx_daemon_stores_open(&st, &sc, db_url, (int)pg_pool_size, redis_addr, 2000,
                                        4);
    if (s != CX_OK)
        goto out_free_config;
    s = media_presence_create(&c.presence, st.redis);
    if (s != CX_OK)
        goto out_close_stores;
    s = media_cache_create(&c.cache, st.pg, cache_ttl_ms);
    if (s != CX_OK)
        goto out_free_presence;
    cx_log_info(NULL, "media starting: token ttl %llds, room cache %lldms, url %s",
                (long long)c.token_ttl_s, (long long)cache_ttl_ms, lk_public_url);
    s = _serve(&c, st.redis);
    if (s == CX_OK)
        rc = 0;
    else
        cx_log_error(NULL, "media stopped: %s", cx_status_code(s));
    media_cache_destroy(c.cache);
out_free_presence:
    media_presence_destroy(c.presence);
out_close_stores:
    cx_daemon_stores_close(&st);
out_free_config:
    cx_config_free(vars, CX_NELEM(vars));
    return rc;
}
