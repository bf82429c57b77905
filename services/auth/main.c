/* cx-auth: accounts, access tokens, refresh sessions (issue 3).
 * Wiring only: the environment table, the stores, the endpoint table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "auth.h"
#include "calixio/v1/auth.pb-c.h"
#include "calixio/v1/common.pb-c.h"
#include "cx_crypto.h"
#include "cx_daemon.h"
#include "cx_log.h"

/* The defaults below are libsodium's INTERACTIVE limits, spelled out for
 * the table (it takes strings); checked at compile time. */
_Static_assert(crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE == 2, "PASSWORD_OPSLIMIT default");
_Static_assert(crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE == 67108864,
               "PASSWORD_MEMLIMIT default");

static cx_daemon_cfg dc;
static cx_daemon_store_cfg sc;
static char *db_url;
static char *redis_addr;
static int64_t access_ttl_ms, refresh_ttl_ms, fail_window_ms, reuse_grace_ms;
static int64_t opslimit, memlimit, max_fail_email, max_fail_ip, pg_pool_size;

static const cx_cfg_var vars[] = {
    CX_DAEMON_VARS(dc),
    CX_DAEMON_STORE_VARS(sc, "AUTH"),
    {"DATABASE_URL", CX_CFG_STRING, CX_DEFAULT_DATABASE_URL, "Postgres URL", &db_url, 0, 0,
     true},
    {"REDIS_ADDR", CX_CFG_STRING, CX_DEFAULT_REDIS_ADDR,
     "Redis host:port, or Redis Cluster seeds host:port,host:port,... (throttle counters, revocation deny-list)",
     &redis_addr, 0, 0, false},
    {"ACCESS_TOKEN_TTL", CX_CFG_DURATION, "10m", "lifetime of access tokens", &access_ttl_ms,
     1000, 86400000, false},
    {"REFRESH_TOKEN_TTL", CX_CFG_DURATION, "720h",
     "lifetime of a refresh session (renewed by every refresh)", &refresh_ttl_ms, 1000,
     INT64_C(31622400000), false},
    {"REFRESH_REUSE_GRACE", CX_CFG_DURATION, "30s",
     "a refresh token rotated less than this long ago, presented again, gets a new token of "
     "the same session instead of revoking it (0 turns the grace off)",
     &reuse_grace_ms, 0, 3600000, false},
    {"PASSWORD_OPSLIMIT", CX_CFG_INT, "2", "Argon2id passes (libsodium opslimit)", &opslimit, 1,
     64, false},
    {"PASSWORD_MEMLIMIT", CX_CFG_INT, "67108864",
     "Argon2id memory in bytes (libsodium memlimit)", &memlimit, 8192, INT64_C(4294967296),
     false},
    {"LOGIN_MAX_FAILURES_PER_EMAIL", CX_CFG_INT, "5",
     "failed logins per email within the window before 429", &max_fail_email, 1, 1000000,
     false},
    {"LOGIN_MAX_FAILURES_PER_IP", CX_CFG_INT, "50",
     "failed logins per client ip within the window before 429", &max_fail_ip, 1, 1000000,
     false},
    {"LOGIN_FAILURE_WINDOW", CX_CFG_DURATION, "15m",
     "window of the failure counters (from the first failure)", &fail_window_ms, 1000, 86400000,
     false},
    {"AUTH_PG_POOL_SIZE", CX_CFG_INT, "8", "Postgres connections of this daemon", &pg_pool_size,
     1, 256, false},
};

static const cx_endpoint endpoints[] = {
    {"register", &calixio__v1__register_request__descriptor,
     &calixio__v1__register_reply__descriptor, auth_handle_register, CX_AUTH_NONE, true},
    {"login", &calixio__v1__login_request__descriptor, &calixio__v1__login_reply__descriptor,
     auth_handle_login, CX_AUTH_NONE, true},
    {"refresh", &calixio__v1__refresh_request__descriptor,
     &calixio__v1__refresh_reply__descriptor, auth_handle_refresh, CX_AUTH_NONE, false},
    {"logout", &calixio__v1__logout_request__descriptor, &calixio__v1__empty__descriptor,
     auth_handle_logout, CX_AUTH_NONE, false},
    {"me", &calixio__v1__empty__descriptor, &calixio__v1__user__descriptor, auth_handle_me,
     CX_AUTH_REQUIRED, false},
    /* the account routes (account.h) */
    {"profile_get", &calixio__v1__empty__descriptor, &calixio__v1__profile__descriptor,
     acct_handle_profile_get, CX_AUTH_REQUIRED, false},
    {"profile_update", &calixio__v1__update_profile_request__descriptor,
     &calixio__v1__profile__descriptor, acct_handle_profile_update, CX_AUTH_REQUIRED, false},
    {"settings_get", &calixio__v1__empty__descriptor, &calixio__v1__settings__descriptor,
     acct_handle_settings_get, CX_AUTH_REQUIRED, false},
    {"settings_update", &calixio__v1__settings__descriptor, &calixio__v1__settings__descriptor,
     acct_handle_settings_update, CX_AUTH_REQUIRED, false},
    {"video_profiles_list", &calixio__v1__empty__descriptor,
     &calixio__v1__video_profile_list__descriptor, acct_handle_vp_list, CX_AUTH_REQUIRED,
     false},
    {"video_profile_create", &calixio__v1__create_video_profile_request__descriptor,
     &calixio__v1__video_profile__descriptor, acct_handle_vp_create, CX_AUTH_REQUIRED, false},
    {"video_profile_update", &calixio__v1__update_video_profile_request__descriptor,
     &calixio__v1__video_profile__descriptor, acct_handle_vp_update, CX_AUTH_REQUIRED, false},
    {"video_profile_delete", &calixio__v1__video_profile_ref__descriptor,
     &calixio__v1__empty__descriptor, acct_handle_vp_delete, CX_AUTH_REQUIRED, false},
    {"password_change", &calixio__v1__change_password_request__descriptor,
     &calixio__v1__empty__descriptor, acct_handle_password, CX_AUTH_REQUIRED, true},
    {"sessions_list", &calixio__v1__empty__descriptor, &calixio__v1__session_list__descriptor,
     acct_handle_sessions_list, CX_AUTH_REQUIRED, false},
    {"session_revoke", &calixio__v1__session_ref__descriptor, &calixio__v1__empty__descriptor,
     acct_handle_session_revoke, CX_AUTH_REQUIRED, false},
    {"account_delete", &calixio__v1__delete_account_request__descriptor,
     &calixio__v1__empty__descriptor, acct_handle_delete, CX_AUTH_REQUIRED, true},
};

/* Hash of a random password nobody knows, made with the current
 * parameters: unknown emails verify against it so they cost the same. */
static cx_status _make_dummy(auth_ctx *c)
{
    char pw[48];
    cx_status s = cx_random_token(pw, sizeof(pw), 24);
    if (s == CX_OK)
        s = auth_password_hash(&c->pw, pw, strlen(pw), c->dummy_hash);
    sodium_memzero(pw, sizeof(pw));
    return s;
}

static cx_status _serve(auth_ctx *c)
{
    cx_service_opts o;
    cx_service *svc = NULL;
    natsSubscription *state_sub = NULL;
    memset(&o, 0, sizeof(o));
    cx_daemon_service_opts(&dc, &o);
    o.name = "auth";
    o.version = "0.1.0";
    o.description = "Calixio accounts, access tokens and refresh sessions";
    o.endpoints = endpoints;
    o.n_endpoints = (int)CX_NELEM(endpoints);
    o.ctx = c;
    o.revocation = c->redis;
    cx_status s = cx_service_create(&svc, &o);
    if (s == CX_OK) {
        c->svc = svc;
        s = cx_service_every(svc, ACCT_OUTBOX_EVERY_MS, acct_outbox_tick, c);
    }
    if (s == CX_OK)
        s = auth_revocation_start(c, svc, &state_sub);
    if (s == CX_OK)
        s = cx_service_run(svc);
    /* After the endpoints drained (they may have asked it): no callback
     * may still run when the stores close. */
    if (state_sub && natsSubscription_Drain(state_sub) == NATS_OK)
        natsSubscription_WaitForDrainCompletion(state_sub, 2000);
    else if (state_sub)
        natsSubscription_Unsubscribe(state_sub);
    natsSubscription_Destroy(state_sub);
    c->svc = NULL;
    cx_service_destroy(svc);
    return s;
}

int main(int argc, char **argv)
{
    int rc = cx_daemon_init("auth", argc, argv, vars, CX_NELEM(vars), &dc);
    if (rc >= 0) {
        cx_config_free(vars, CX_NELEM(vars));
        return rc;
    }

    auth_ctx c;
    memset(&c, 0, sizeof(c));
    c.jwt = &dc.auth;
    c.access_ttl_s = access_ttl_ms / 1000;
    c.refresh_ttl_s = refresh_ttl_ms / 1000;
    c.fail_window_s = fail_window_ms / 1000;
    c.reuse_grace_ms = reuse_grace_ms;
    c.pw.opslimit = (unsigned long long)opslimit;
    c.pw.memlimit = (size_t)memlimit;
    c.max_fail_email = max_fail_email;
    c.max_fail_ip = max_fail_ip;

    rc = 1;
    cx_daemon_stores st;
    cx_status s = cx_daemon_stores_open(&st, &sc, db_url, (int)pg_pool_size, redis_addr, 2000,
                                        4);
    if (s != CX_OK)
        goto out_free_config;
    c.pg = st.pg;
    c.redis = st.redis;
    s = auth_denylist_create(&c.denylist);
    if (s != CX_OK)
        goto out_close_stores;
    s = _make_dummy(&c);
    if (s != CX_OK) {
        cx_log_error(NULL, "config: PASSWORD_MEMLIMIT: cannot hash with these limits (%s)",
                     cx_status_code(s));
        goto out_close_stores;
    }
    cx_log_info(NULL,
                "auth starting: access ttl %llds, refresh ttl %llds, argon2id t=%llu m=%zu",
                (long long)c.access_ttl_s, (long long)c.refresh_ttl_s, c.pw.opslimit,
                c.pw.memlimit);
    s = _serve(&c);
    if (s == CX_OK)
        rc = 0;
    else
        cx_log_error(NULL, "auth stopped: %s", cx_status_code(s));
out_close_stores:
    auth_denylist_destroy(c.denylist);
    cx_daemon_stores_close(&st);
out_free_config:
    cx_config_free(vars, CX_NELEM(vars));
    /* Lets libnats' own threads finish before exit (no work left behind
     * them, nothing reported as leaked). */
    nats_CloseAndWait(2000);
    return rc;
}
