/* cx_daemon.c: start-up shared by every daemon. */
#include "cx_daemon.h"

#include <stdio.h>
#include <string.h>

#include "cx_crypto.h"
#include "cx_log.h"

int cx_daemon_init(const char *name, int argc, char **argv, const cx_cfg_var *vars, size_t n,
                   cx_daemon_cfg *c)
{
    char err[512];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cx_config_print_help(stdout, argv[0], vars, n);
            return 0;
        }
    }
    cx_log_init(name, CX_LOG_INFO);
    if (cx_crypto_init() != CX_OK) {
        cx_log_error(NULL, "libsodium failed to initialise");
        return 2;
    }
    if (cx_config_load(vars, n, err, sizeof err) != CX_OK) {
        cx_log_error(NULL, "config: %s", err);
        return 2;
    }
    int lvl = cx_log_level_parse(c->log_level);
    if (lvl < 0) {
        cx_log_error(NULL, "config: LOG_LEVEL: \"%s\" is not one of debug, info, warn, error",
                     c->log_level);
        return 2;
    }
    cx_log_init(name, (cx_log_level)lvl);
    if (!c->jwt_secret || !*c->jwt_secret || strcmp(c->jwt_secret, "change-me") == 0) {
        cx_log_error(NULL,
                     "config: JWT_SECRET: must be set to a real secret (not \"change-me\")");
        return 2;
    }
    if (cx_jwt_keyring_init(&c->jwt_ring, c->jwt_secret, c->jwt_previous) != CX_OK) {
        cx_log_error(NULL, "config: JWT_PREVIOUS_SECRETS: at most %d keys in all",
                     CX_JWT_MAX_KEYS);
        return 2;
    }
    cx_log_info(NULL, "access tokens: signing key kid %s, %d previous key(s) still verify",
                c->jwt_ring.keys[0].kid, c->jwt_ring.n - 1);
    c->auth.ring = &c->jwt_ring;
    c->auth.secret = c->jwt_secret;
    c->auth.issuer = c->jwt_issuer;
    c->auth.audience = c->jwt_audience;
    c->auth.leeway_s = c->jwt_leeway_ms / 1000;
    cx_tokcache_init(&c->tokcache);
    c->auth.cache = &c->tokcache;
    return -1;
}

cx_status cx_daemon_stores_open(cx_daemon_stores *st, const cx_daemon_store_cfg *sc,
                                const char *db_url, int pg_size, const char *redis_addr,
                                int redis_timeout_ms, int redis_size)
{
    st->pg = NULL;
    st->redis = NULL;
    if (sc && sc->own_db_url && *sc->own_db_url)
        db_url = sc->own_db_url;
    else
        cx_log_warn(NULL, "config: no <daemon>_DATABASE_URL set: using DATABASE_URL, shared by "
                          "every daemon (one role for all; see README \"Security model\")");
    cx_status s = cx_pg_pool_create(&st->pg, db_url, pg_size);
    if (s != CX_OK) {
        cx_log_error(NULL, "config: DATABASE_URL: cannot be used (%s)", cx_status_code(s));
        return s;
    }
    s = cx_redis_create(&st->redis, redis_addr, redis_timeout_ms, redis_size);
    if (s != CX_OK) {
        cx_log_error(NULL, "config: REDIS_ADDR: cannot be used (%s)", cx_status_code(s));
        cx_daemon_stores_close(st);
        return s;
    }
    if (sc && sc->redis_password && *sc->redis_password)
        s = cx_redis_set_auth(st->redis, sc->redis_user, sc->redis_password);
    else if (sc && sc->redis_user && *sc->redis_user)
        s = CX_ERR_CONFIG;
    if (s != CX_OK) {
        cx_log_error(NULL, "config: REDIS_USER / REDIS_PASSWORD: a user needs its password");
        cx_daemon_stores_close(st);
    }
    return s;
}

void cx_daemon_stores_close(cx_daemon_stores *st)
{
    cx_redis_destroy(st->redis);
    cx_pg_pool_destroy(st->pg);
    st->redis = NULL;
    st->pg = NULL;
}

void cx_daemon_service_opts(const cx_daemon_cfg *c, cx_service_opts *o)
{
    o->nats_url = c->nats.url;
    o->nats = &c->nats;
    o->prefix = c->prefix;
    o->auth = &c->auth;
    o->subs_per_endpoint = (int)c->subs;
    o->pool_threads = (int)c->pool_threads;
    o->pool_queue = (int)c->pool_queue;
}
