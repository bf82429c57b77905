/* cx-rooms: rooms in Postgres and LiveKit (issue 4).
 * Wiring only: the environment table, the stores, the LiveKit client, the
 * endpoint table and the periodic sweep. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/common.pb-c.h"
#include "calixio/v1/media.pb-c.h"
#include "calixio/v1/rooms.pb-c.h"
#include "cx_daemon.h"
#include "cx_log.h"
#include "rooms.h"
#include "chat.h"

static cx_daemon_cfg dc;
static cx_daemon_store_cfg sc;
static char *db_url, *redis_addr;
static char *lk_host, *lk_key, *lk_secret;
static int64_t lk_connect_ms, lk_timeout_ms, lk_attempts, lk_backoff_ms;
static int64_t auto_timeout_ms, default_maxp, max_age_ms, sweep_ms, orphan_grace_ms;
static int64_t pg_pool_size, early_join_ms, pw_opslimit, pw_memlimit;
static char *lk_public_url;
static int64_t token_ttl_ms, waiting_ttl_ms, pw_max_fails, pw_fail_window_ms;

static const cx_cfg_var vars[] = {
    CX_DAEMON_VARS(dc),
    CX_DAEMON_STORE_VARS(sc, "ROOMS"),
    {"DATABASE_URL", CX_CFG_STRING, CX_DEFAULT_DATABASE_URL, "Postgres URL", &db_url, 0, 0,
     true},
    {"REDIS_ADDR", CX_CFG_STRING, CX_DEFAULT_REDIS_ADDR,
     "Redis host:port, or Redis Cluster seeds host:port,host:port,... (presence, revocation deny-list)",
     &redis_addr, 0, 0, false},
    {"LIVEKIT_HOST", CX_CFG_STRING, "",
     "LiveKit server API URL (http(s):// or ws(s)://); empty: LiveKit calls are skipped",
     &lk_host, 0, 0, false},
    {"LIVEKIT_API_KEY", CX_CFG_STRING, "devkey", "LiveKit API key (dev default: devkey)",
     &lk_key, 0, 0, false},
    {"LIVEKIT_API_SECRET", CX_CFG_STRING, "secret",
     "LiveKit API secret (dev default: secret; set it in production)", &lk_secret, 0, 0, true},
    {"LIVEKIT_CONNECT_TIMEOUT", CX_CFG_DURATION, "2s", "connect timeout of one LiveKit call",
     &lk_connect_ms, 1, 60000, false},
    {"LIVEKIT_TIMEOUT", CX_CFG_DURATION, "5s",
     "total time one LiveKit call may take, retries included", &lk_timeout_ms, 1, 120000,
     false},
    {"LIVEKIT_MAX_ATTEMPTS", CX_CFG_INT, "3",
     "attempts of a LiveKit call on 5xx / transport errors", &lk_attempts, 1, 10, false},
    {"LIVEKIT_RETRY_BACKOFF", CX_CFG_DURATION, "100ms",
     "first wait between LiveKit attempts (doubles)", &lk_backoff_ms, 1, 10000, false},
    {"LIVEKIT_ROOM_AUTO_TIMEOUT", CX_CFG_DURATION, "2h",
     "default empty_timeout of LiveKit rooms", &auto_timeout_ms, 1000, 86400000, false},
    {"ROOMS_DEFAULT_MAX_PARTICIPANTS", CX_CFG_INT, "100",
     "max_participants of a room created without one", &default_maxp, 1, 500, false},
    {"ROOM_MAX_AGE", CX_CFG_DURATION, "24h", "rooms active longer than this are ended",
     &max_age_ms, 1000, INT64_C(31622400000), false},
    {"ROOMS_SWEEP_INTERVAL", CX_CFG_DURATION, "30s", "period of the sweep task", &sweep_ms, 100,
     86400000, false},
    {"ROOMS_ORPHAN_GRACE", CX_CFG_DURATION, "60s",
     "age after which a LiveKit cx- room without a live row is deleted", &orphan_grace_ms, 1000,
     86400000, false},
    {"ROOMS_PG_POOL_SIZE", CX_CFG_INT, "8", "Postgres connections of this daemon",
     &pg_pool_size, 1, 256, false},
    {"ROOM_EARLY_JOIN", CX_CFG_DURATION, "10m",
     "how long before scheduled_at others than the host may join a scheduled room",
     &early_join_ms, 0, INT64_C(86400000), false},
    {"ROOM_PASSWORD_OPSLIMIT", CX_CFG_INT, "2", "Argon2id passes of room password hashes",
     &pw_opslimit, 1, 10, false},
    {"ROOM_PASSWORD_MEMLIMIT", CX_CFG_INT, "67108864",
     "Argon2id memory in bytes of room password hashes", &pw_memlimit, 8192,
     INT64_C(1073741824), false},
    /* issue 17: rooms mints the answers of the joins it decides */
    {"LIVEKIT_PUBLIC_URL", CX_CFG_STRING, "ws://127.0.0.1:7880",
     "LiveKit WebSocket URL handed to clients", &lk_public_url, 0, 0, false},
    {"LIVEKIT_TOKEN_TTL", CX_CFG_DURATION, "1h", "lifetime of LiveKit join tokens",
     &token_ttl_ms, 1000, INT64_C(604800000), false},
    {"WAITING_TTL", CX_CFG_DURATION, "10m", "how long a waiting entry waits for a decision",
     &waiting_ttl_ms, 1000, 86400000, false},
    {"ROOM_PASSWORD_MAX_FAILS", CX_CFG_INT, "5",
     "wrong room passwords per room and client before 429", &pw_max_fails, 1, 1000, false},
    {"ROOM_PASSWORD_FAIL_WINDOW", CX_CFG_DURATION, "15m", "window of ROOM_PASSWORD_MAX_FAILS",
     &pw_fail_window_ms, 1000, 86400000, false},
};

/* Endpoints that take more delivery threads than CX_SUBS_PER_ENDPOINT:
 * chat_post waits on Redis and Postgres for each message, so it needs
 * many in flight to reach the chat rate of issue 13 (bench/chat.mjs);
 * they also make its batches (chat_batch.c): 32 measured better than 16. */
#define ROOMS_CHAT_POST_SUBS 32
/* Redis connections: the chat rate limit of those posts, and the rest */
#define ROOMS_REDIS_POOL 8
static const cx_endpoint_subs endpoint_subs[] = {
    {"chat_post", ROOMS_CHAT_POST_SUBS},
};

static const cx_endpoint endpoints[] = {
    {"create", &calixio__v1__create_room_request__descriptor, &calixio__v1__room__descriptor,
     rooms_h_create, CX_AUTH_REQUIRED, false},
    {"list", &calixio__v1__list_rooms_request__descriptor,
     &calixio__v1__list_rooms_reply__descriptor, rooms_h_list, CX_AUTH_REQUIRED, false},
    {"get", &calixio__v1__room_ref__descriptor, &calixio__v1__room__descriptor, rooms_h_get,
     CX_AUTH_REQUIRED, false},
    {"end", &calixio__v1__room_ref__descriptor, &calixio__v1__room__descriptor, rooms_h_end,
     CX_AUTH_REQUIRED, false},
    /* these accept room tokens too: the handlers verify the bearer (access.c) */
    {"participants", &calixio__v1__room_ref__descriptor,
     &calixio__v1__participants_reply__descriptor, rooms_h_participants, CX_AUTH_NONE, false},
    {"update", &calixio__v1__update_room_request__descriptor, &calixio__v1__room__descriptor,
     rooms_h_update, CX_AUTH_NONE, false},
    {"delete", &calixio__v1__room_ref__descriptor, &calixio__v1__empty__descriptor,
     rooms_h_delete, CX_AUTH_NONE, false},
    {"leave", &calixio__v1__room_ref__descriptor, &calixio__v1__empty__descriptor,
     rooms_h_leave, CX_AUTH_NONE, false},
    {"by_code", &calixio__v1__code_ref__descriptor, &calixio__v1__room_by_code__descriptor,
     rooms_h_by_code, CX_AUTH_NONE, false},
    {"start", &calixio__v1__room_ref__descriptor, &calixio__v1__room__descriptor, rooms_h_start,
     CX_AUTH_OPTIONAL, false},
    /* issue 17: who gets in (admit.c, invites.c, waiting.c) */
    {"admit", &calixio__v1__join_request__descriptor, &calixio__v1__join_reply__descriptor,
     rooms_h_admit, CX_AUTH_OPTIONAL, false},
    {"invites_create", &calixio__v1__create_invite_request__descriptor,
     &calixio__v1__invite__descriptor, rooms_h_invite_create, CX_AUTH_NONE, false},
    {"invites_list", &calixio__v1__room_ref__descriptor, &calixio__v1__invite_list__descriptor,
     rooms_h_invite_list, CX_AUTH_NONE, false},
    {"invites_revoke", &calixio__v1__invite_ref__descriptor, &calixio__v1__empty__descriptor,
     rooms_h_invite_revoke, CX_AUTH_NONE, false},
    {"waiting_poll", &calixio__v1__waiting_ref__descriptor,
     &calixio__v1__join_reply__descriptor, rooms_h_waiting_poll, CX_AUTH_NONE, false},
    {"waiting_leave", &calixio__v1__waiting_ref__descriptor, &calixio__v1__empty__descriptor,
     rooms_h_waiting_leave, CX_AUTH_NONE, false},
    {"waiting_list", &calixio__v1__room_ref__descriptor, &calixio__v1__waiting_list__descriptor,
     rooms_h_waiting_list, CX_AUTH_NONE, false},
    {"waiting_approve", &calixio__v1__waiting_ref__descriptor,
     &calixio__v1__waiting_decision__descriptor, rooms_h_waiting_approve, CX_AUTH_NONE, false},
    {"waiting_reject", &calixio__v1__waiting_ref__descriptor,
     &calixio__v1__waiting_decision__descriptor, rooms_h_waiting_reject, CX_AUTH_NONE, false},
    {"remove", &calixio__v1__moderate_request__descriptor, &calixio__v1__empty__descriptor,
     rooms_h_remove, CX_AUTH_NONE, false},
    {"mute", &calixio__v1__moderate_request__descriptor, &calixio__v1__empty__descriptor,
     rooms_h_mute, CX_AUTH_NONE, false},
    {"set_role", &calixio__v1__moderate_request__descriptor,
     &calixio__v1__role_reply__descriptor, rooms_h_role, CX_AUTH_NONE, false},
    /* chat (chat.c): access or room tokens, verified by the handlers */
    {"chat_post", &calixio__v1__post_message_request__descriptor,
     &calixio__v1__chat_message__descriptor, rooms_h_chat_post, CX_AUTH_NONE, false},
    {"chat_list", &calixio__v1__list_messages_request__descriptor,
     &calixio__v1__list_messages_reply__descriptor, rooms_h_chat_list, CX_AUTH_NONE, false},
    {"chat_update", &calixio__v1__update_message_request__descriptor,
     &calixio__v1__chat_message__descriptor, rooms_h_chat_update, CX_AUTH_NONE, false},
    {"chat_delete", &calixio__v1__message_ref__descriptor, &calixio__v1__empty__descriptor,
     rooms_h_chat_delete, CX_AUTH_NONE, false},
};

static cx_status _livekit(rooms_ctx *c)
{
    if (!lk_host[0]) {
        cx_log_warn(NULL,
                    "LIVEKIT_HOST is not set: rooms are kept in Postgres only, "
                    "LiveKit calls (CreateRoom, DeleteRoom, ListParticipants) are skipped");
        return CX_OK;
    }
    if (strcmp(lk_key, "devkey") == 0 && strcmp(lk_secret, "secret") == 0)
        cx_log_warn(NULL, "LiveKit uses the development key pair devkey/secret");
    cx_livekit_opts o = {.host = lk_host,
                         .api_key = lk_key,
                         .api_secret = lk_secret,
                         .connect_timeout_ms = lk_connect_ms,
                         .timeout_ms = lk_timeout_ms,
                         .max_attempts = (int)lk_attempts,
                         .backoff_ms = lk_backoff_ms};
    cx_status s = cx_livekit_create(&c->lk, &o);
    if (s != CX_OK)
        cx_log_error(NULL, "config: LIVEKIT_HOST: \"%s\" is not an http(s):// or ws(s):// URL",
                     lk_host);
    else
        cx_log_info(NULL, "LiveKit server API at %s", cx_livekit_base_url(c->lk));
    return s;
}

static cx_status _serve(rooms_ctx *c)
{
    cx_service_opts o;
    memset(&o, 0, sizeof o);
    cx_daemon_service_opts(&dc, &o);
    o.name = "rooms";
    o.version = "0.1.0";
    o.description = "Calixio rooms (Postgres + LiveKit)";
    o.endpoints = endpoints;
    o.n_endpoints = (int)CX_NELEM(endpoints);
    o.ep_subs = endpoint_subs;
    o.n_ep_subs = (int)CX_NELEM(endpoint_subs);
    o.ctx = c;
    o.revocation = c->redis;
    rooms_listener *bans = NULL, *acct = NULL, *visits = NULL;
    cx_status s = cx_service_create(&c->svc, &o);
    if (s == CX_OK)
        s = cx_service_every(c->svc, sweep_ms, rooms_sweep, c);
    if (s == CX_OK)
        s = rooms_bans_listen(c, &bans);
    if (s == CX_OK)
        s = rooms_account_deleted_listen(c, &acct);
    if (s == CX_OK)
        s = rooms_visits_listen(c, &visits);
    if (s == CX_OK)
        s = cx_service_run(c->svc);
    rooms_unlisten(visits);
    rooms_unlisten(acct);
    rooms_unlisten(bans);
    cx_service_destroy(c->svc);
    c->svc = NULL;
    return s;
}

int main(int argc, char **argv)
{
    int rc = cx_daemon_init("rooms", argc, argv, vars, CX_NELEM(vars), &dc);
    if (rc >= 0) {
        cx_config_free(vars, CX_NELEM(vars));
        return rc;
    }
    rooms_ctx c;
    memset(&c, 0, sizeof c);
    c.default_max_participants = default_maxp;
    c.default_empty_timeout_s = auto_timeout_ms / 1000;
    c.max_age_s = max_age_ms / 1000;
    c.orphan_grace_s = orphan_grace_ms / 1000;
    c.early_join_s = early_join_ms / 1000;
    c.auth = &dc.auth;
    c.pw_opslimit = (uint64_t)pw_opslimit;
    c.pw_memlimit = (size_t)pw_memlimit;
    c.lk_api_key = lk_key;
    c.lk_api_secret = lk_secret;
    c.lk_public_url = lk_public_url;
    c.token_ttl_s = token_ttl_ms / 1000;
    c.waiting_ttl_s = waiting_ttl_ms / 1000;
    c.pw_max_fails = pw_max_fails;
    c.pw_fail_window_s = pw_fail_window_ms / 1000;

    rc = 1;
    cx_daemon_stores st;
    cx_status s = cx_daemon_stores_open(&st, &sc, db_url, (int)pg_pool_size, redis_addr, 2000,
                                        ROOMS_REDIS_POOL);
    if (s != CX_OK)
        goto out_free_config;
    c.pg = st.pg;
    c.redis = st.redis;
    if (chat_batch_create(c.redis, &c.chat) != CX_OK)
        goto out_close_stores;
    if (cx_livekit_global_init() != CX_OK || _livekit(&c) != CX_OK)
        goto out_close_stores;
    cx_log_info(NULL, "rooms starting: empty_timeout %llds, max age %llds, sweep every %lldms",
                (long long)c.default_empty_timeout_s, (long long)c.max_age_s,
                (long long)sweep_ms);
    s = _serve(&c);
    if (s == CX_OK)
        rc = 0;
    else
        cx_log_error(NULL, "rooms stopped: %s", cx_status_code(s));
    cx_livekit_destroy(c.lk);
out_close_stores:
    chat_batch_destroy(c.chat);
    cx_daemon_stores_close(&st);
out_free_config:
    cx_config_free(vars, CX_NELEM(vars));
    return rc;
}
