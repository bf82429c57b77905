/* cx_daemon: what every daemon's main() shares.
 *
 * Each daemon has one table of environment variables; the variables every
 * daemon reads come from CX_DAEMON_VARS so they are declared once:
 *
 *   static cx_daemon_cfg dc;
 *   static char *db_url;
 *   static const cx_cfg_var vars[] = {
 *       CX_DAEMON_VARS(dc),
 *       { "DATABASE_URL", CX_CFG_STRING, CX_DEFAULT_DATABASE_URL, "Postgres", &db_url },
 *   };
 *   int rc = cx_daemon_init("auth", argc, argv, vars, CX_NELEM(vars), &dc);
 *   if (rc >= 0) return rc;     // --help printed (0) or bad config (2)
 */
#ifndef CX_DAEMON_H
#define CX_DAEMON_H

#include <stdint.h>

#include "cx_auth.h"
#include "cx_tokcache.h"
#include "cx_config.h"
#include "cx_natsconn.h"
#include "cx_pg.h"
#include "cx_redis.h"
#include "cx_service.h"

#define CX_NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define CX_DEFAULT_DATABASE_URL "postgres://postgres@127.0.0.1:5432/calixio?sslmode=disable"
#define CX_DEFAULT_REDIS_ADDR "127.0.0.1:6379"

typedef struct cx_daemon_cfg {
    cx_natsconn_cfg nats; /* NATS_URL, credentials, TLS */
    char *prefix;
    char *log_level;
    char *jwt_secret;
    char *jwt_previous; /* JWT_PREVIOUS_SECRETS: still verify, never sign */
    cx_jwt_keyring jwt_ring;
    char *jwt_issuer;
    char *jwt_audience;
    int64_t jwt_leeway_ms;
    int64_t subs;         /* queue subscriptions per endpoint */
    int64_t pool_threads; /* worker threads for pooled endpoints */
    int64_t pool_queue;   /* queued pooled requests before 503 */
    cx_auth_cfg auth;     /* filled by cx_daemon_init from the fields above */
    cx_tokcache tokcache; /* auth.cache: verified access tokens (cx_tokcache.h) */
} cx_daemon_cfg;

#define CX_DAEMON_VARS(c)                                                                       \
    CX_NATSCONN_VARS((c).nats),                                                                 \
        {"CALIXIO_SUBJECT_PREFIX",                                                              \
         CX_CFG_STRING,                                                                         \
         "calixio",                                                                             \
         "prefix of every NATS subject (several deployments on one NATS)",                      \
         &(c).prefix,                                                                           \
         0,                                                                                     \
         0,                                                                                     \
         false},                                                                                \
        {"LOG_LEVEL", CX_CFG_STRING, "info", "debug, info, warn or error", &(c).log_level, 0,   \
         0,           false},                                                                   \
        {"JWT_SECRET",                                                                          \
         CX_CFG_STRING,                                                                         \
         NULL,                                                                                  \
         "HS256 secret of Calixio access tokens (required)",                                    \
         &(c).jwt_secret,                                                                       \
         0,                                                                                     \
         0,                                                                                     \
         true},                                                                                 \
        {"JWT_PREVIOUS_SECRETS",                                                                \
         CX_CFG_STRING,                                                                         \
         "",                                                                                    \
         "comma-separated earlier JWT_SECRETs: their tokens still verify (key rotation)",       \
         &(c).jwt_previous,                                                                     \
         0,                                                                                     \
         0,                                                                                     \
         true},                                                                                 \
        {"JWT_ISSUER", CX_CFG_STRING, "calixio", "iss of access tokens", &(c).jwt_issuer, 0, 0, \
         false},                                                                                \
        {"JWT_AUDIENCE",                                                                        \
         CX_CFG_STRING,                                                                         \
         "calixio",                                                                             \
         "aud of access tokens",                                                                \
         &(c).jwt_audience,                                                                     \
         0,                                                                                     \
         0,                                                                                     \
         false},                                                                                \
        {"JWT_LEEWAY",                                                                          \
         CX_CFG_DURATION,                                                                       \
         "30s",                                                                                 \
         "clock skew allowed when verifying tokens",                                            \
         &(c).jwt_leeway_ms,                                                                    \
         0,                                                                                     \
         300000,                                                                                \
         false},                                                                                \
        {"CX_SUBS_PER_ENDPOINT",                                                                \
         CX_CFG_INT,                                                                            \
         "2",                                                                                   \
         "NATS delivery threads per endpoint",                                                  \
         &(c).subs,                                                                             \
         1,                                                                                     \
         64,                                                                                    \
         false},                                                                                \
        {"CX_POOL_THREADS", CX_CFG_INT, "2", "worker threads for CPU-heavy endpoints",          \
         &(c).pool_threads, 1,          64,  false},                                            \
    {                                                                                           \
        "CX_POOL_QUEUE", CX_CFG_INT, "64", "queued CPU-heavy requests before answering 503",    \
            &(c).pool_queue, 1, 100000, false                                                   \
    }

/* Handles --help / -h (prints the table, returns 0), initialises logging
 * (service name = name) and libsodium, loads and validates the table
 * (prints "config: <NAME>: <problem>" as a log line and returns 2 on
 * error). Refuses a JWT_SECRET that is empty or "change-me". Returns -1
 * when the daemon should go on. */
int cx_daemon_init(const char *name, int argc, char **argv, const cx_cfg_var *vars, size_t n,
                   cx_daemon_cfg *c);

/* A daemon's own store credentials (least privilege, issue 12). Rows:
 *   CX_DAEMON_STORE_VARS(sc, "MEDIA") -> MEDIA_DATABASE_URL, REDIS_USER,
 *   REDIS_PASSWORD (each also as *_FILE). */
typedef struct cx_daemon_store_cfg {
    char *own_db_url;     /* <NAME>_DATABASE_URL: the daemon's own role; "" = DATABASE_URL */
    char *redis_user;     /* REDIS_USER: ACL user; "" = default user */
    char *redis_password; /* REDIS_PASSWORD */
} cx_daemon_store_cfg;

#define CX_DAEMON_STORE_VARS(c, NAME)                                                          \
    {NAME "_DATABASE_URL",                                                                     \
     CX_CFG_STRING,                                                                            \
     "",                                                                                       \
     "Postgres URL of this daemon's own role (empty: DATABASE_URL, with a warning)",           \
     &(c).own_db_url,                                                                          \
     0,                                                                                        \
     0,                                                                                        \
     true},                                                                                    \
        {"REDIS_USER",                                                                         \
         CX_CFG_STRING,                                                                        \
         "",                                                                                   \
         "Redis ACL user of this daemon (empty: default user)",                                \
         &(c).redis_user,                                                                      \
         0,                                                                                    \
         0,                                                                                    \
         false},                                                                               \
    {                                                                                          \
        "REDIS_PASSWORD", CX_CFG_STRING, "",                                                   \
            "password of REDIS_USER (or REDIS_PASSWORD_FILE)", &(c).redis_password, 0, 0, true \
    }

/* The stores a daemon talks to. Both connect lazily (on first use). */
typedef struct cx_daemon_stores {
    cx_pg_pool *pg;
    cx_redis *redis;
} cx_daemon_stores;

/* Creates the Postgres pool (pg_size connections to sc->own_db_url, or to
 * db_url with a warning when that is empty) and the Redis handle
 * (redis_size connections to redis_addr as sc->redis_user,
 * redis_timeout_ms per command). sc may be NULL (db_url, default user). A
 * bad value is logged as "config: DATABASE_URL: ..." or "config:
 * REDIS_ADDR: ..."; on error nothing stays allocated. Close with
 * cx_daemon_stores_close. */
cx_status cx_daemon_stores_open(cx_daemon_stores *st, const cx_daemon_store_cfg *sc,
                                const char *db_url, int pg_size, const char *redis_addr,
                                int redis_timeout_ms, int redis_size);

/* Frees what cx_daemon_stores_open created; safe on a zeroed struct. */
void cx_daemon_stores_close(cx_daemon_stores *st);

/* Fills the NATS/auth parts of service options from the common config. */
void cx_daemon_service_opts(const cx_daemon_cfg *c, cx_service_opts *o);

#endif
