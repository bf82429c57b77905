/* auth daemon, the account routes of API-ROOMS.md ("Account").
 *
 *   account.c        profile (users/me), password change, account deletion
 *   settings.c       users/me/settings
 *   profiles.c       users/me/video-profiles
 *   sessions.c       auth/sessions
 *   acct_validate.c  input rules of these routes (pure)
 *   acct_store.c     SQL on users, user_settings, sessions, account_deletions
 *   profiles_store.c SQL on video_profiles
 *   acct_events.c    the account-deleted event and its outbox
 *
 * Every handler needs an access token (CX_AUTH_REQUIRED): the account is
 * req->caller.user_id, the current session req->caller.session_id (the
 * access token's sid claim). */
#ifndef AUTH_ACCOUNT_H
#define AUTH_ACCOUNT_H

#include "auth.h"
#include "calixio/v1/account.pb-c.h"
#include "calixio/v1/common.pb-c.h"

#define ACCT_URL_MAX 512          /* avatar_url, background_image_url, bytes */
#define ACCT_DEVICE_MAX 256       /* settings device ids, bytes */
#define ACCT_PROFILE_NAME_MAX 40  /* video profile name, code points */
#define ACCT_PROFILES_MAX 20      /* video profiles per account */
#define ACCT_SESSIONS_MAX 200     /* live sessions listed at most (most recent use first) */
#define ACCT_OUTBOX_EVERY_MS 5000 /* period of the account-deleted republish task */

/* ---- handlers (account.c, settings.c, profiles.c, sessions.c) ----------- */
cx_status acct_handle_profile_get(cx_req *req, const ProtobufCMessage *in,
                                  ProtobufCMessage **out, void *ctx);
cx_status acct_handle_profile_update(cx_req *req, const ProtobufCMessage *in,
                                     ProtobufCMessage **out, void *ctx);
cx_status acct_handle_password(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                               void *ctx);
cx_status acct_handle_delete(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                             void *ctx);
cx_status acct_handle_settings_get(cx_req *req, const ProtobufCMessage *in,
                                   ProtobufCMessage **out, void *ctx);
cx_status acct_handle_settings_update(cx_req *req, const ProtobufCMessage *in,
                                      ProtobufCMessage **out, void *ctx);
cx_status acct_handle_vp_list(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                              void *ctx);
cx_status acct_handle_vp_create(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                                void *ctx);
cx_status acct_handle_vp_update(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                                void *ctx);
cx_status acct_handle_vp_delete(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                                void *ctx);
cx_status acct_handle_sessions_list(cx_req *req, const ProtobufCMessage *in,
                                    ProtobufCMessage **out, void *ctx);
cx_status acct_handle_session_revoke(cx_req *req, const ProtobufCMessage *in,
                                     ProtobufCMessage **out, void *ctx);

/* A new Empty reply in *out (every 204 route). */
cx_status acct_empty_reply(ProtobufCMessage **out);

/* CX_OK when the runtime verified a token whose subject is one of our ids;
 * CX_ERR_INVALID_TOKEN otherwise. */
cx_status acct_caller_ok(const cx_req *req);

/* ---- acct_validate.c ------------------------------------------------------ */

/* An https URL of at most ACCT_URL_MAX bytes: "https://" (scheme in any
 * case), a non-empty host, no whitespace, control bytes or backslashes.
 * "" is accepted when allow_empty (it removes the URL). Records rule
 * "https" or "max" on field. */
cx_status acct_validate_url(cx_req *req, const char *field, const char *url, bool allow_empty);

/* v (when not NULL) must be one of the NULL-terminated list; rule "oneof". */
cx_status acct_validate_oneof(cx_req *req, const char *field, const char *v,
                              const char *const *allowed);

/* A string of at most max bytes (rule "max"); NULL passes. */
cx_status acct_validate_bytes(cx_req *req, const char *field, const char *v, size_t max);

/* A video profile name: 1..40 code points with some non-space (rules
 * "required", "utf8", "max"). */
cx_status acct_validate_profile_name(cx_req *req, const char *field, const char *v);

extern const char *const acct_backgrounds[];     /* none blur image */
extern const char *const acct_noise_levels[];    /* off low medium high */
extern const char *const acct_video_qualities[]; /* auto 1080p 720p 480p 360p */
extern const char *const acct_themes[];          /* system light dark */
extern const char *const acct_languages[];       /* en ru */

/* ---- acct_store.c -------------------------------------------------------- */

/* Opens a transaction on a pooled connection (end it with
 * auth_store_tx_end). */
cx_status acct_tx_begin(cx_pg_pool *pg, auth_tx *tx);

typedef struct acct_profile {
    char id[37];
    char name[AUTH_NAME_MAX_BYTES + 1];
    char email[AUTH_EMAIL_MAX + 1];
    char avatar_url[ACCT_URL_MAX + 1];
    char created_at[21];
} acct_profile;

/* Loads the profile of user id; CX_ERR_NOT_FOUND when absent. */
cx_status acct_store_profile(cx_pg_pool *pg, const char *id, acct_profile *out);

/* Sets name and/or avatar_url (NULL: kept) and loads the result. */
cx_status acct_store_profile_update(cx_pg_pool *pg, const char *id, const char *name,
                                    const char *avatar_url, acct_profile *out);

/* Fills out (a malloced message the caller frees with
 * protobuf_c_message_free_unpacked) with the stored settings;
 * CX_ERR_NOT_FOUND when the user never changed one (defaults apply). */
cx_status acct_store_settings(cx_pg_pool *pg, const char *user_id, Calixio__V1__Settings *out);

/* Upserts the fields present in patch (absent ones kept) and loads the
 * whole result into out. */
cx_status acct_store_settings_update(cx_pg_pool *pg, const char *user_id,
                                     const Calixio__V1__Settings *patch,
                                     Calixio__V1__Settings *out);

/* Inside tx: locks the user's row; CX_ERR_NOT_FOUND when it is gone.
 * exclusive (FOR UPDATE) also holds off new sessions (their foreign key
 * check waits): for deletion; otherwise FOR NO KEY UPDATE serialises the
 * account's own writers (video profiles) without blocking logins. */
cx_status acct_store_tx_lock_user(auth_tx *tx, const char *user_id, bool exclusive);

/* Inside tx: replaces the password hash if it is still old_hash
 * (CX_ERR_CONFLICT otherwise). */
cx_status acct_store_tx_set_hash(auth_tx *tx, const char *user_id, const char *old_hash,
                                 const char *new_hash);

/* Inside tx: marks revoked (reason) every unrevoked session of user_id but
 * except_sid (NULL: all of them) and returns their ids: *ids is a malloced
 * array of *n malloced strings (acct_free_ids). */
cx_status acct_store_tx_revoke_sessions(auth_tx *tx, const char *user_id,
                                        const char *except_sid, const char *reason, char ***ids,
                                        int *n);
void acct_free_ids(char **ids, int n);

/* Inside tx: deletes the user if its hash is still hash (sessions, refresh
 * tokens, settings and video profiles go with it) and records the
 * deletion in account_deletions; *deleted_at (RFC 3339) is its time. */
cx_status acct_store_tx_delete_user(auth_tx *tx, const char *user_id, const char *hash,
                                    char deleted_at[21]);

/* The live sessions of user_id, most recently used first (at most
 * ACCT_SESSIONS_MAX); current marks current_sid. Appends to list (its
 * entries malloced, as the runtime frees them). */
cx_status acct_store_sessions(cx_pg_pool *pg, const char *user_id, const char *current_sid,
                              Calixio__V1__SessionList *list);

/* Marks session sid of user_id revoked if it is live; CX_ERR_SESSION_NOT_FOUND
 * when it is not one (unknown, another account's, revoked or expired). */
cx_status acct_store_tx_revoke_one(auth_tx *tx, const char *user_id, const char *sid);

/* The outbox of account-deleted events: up to max unpublished deletions
 * (user ids and times into the arrays), and marking one published. */
cx_status acct_store_pending_deletions(cx_pg_pool *pg, int max, char (*ids)[37], char (*at)[21],
                                       int *n);
cx_status acct_store_deletion_published(cx_pg_pool *pg, const char *user_id);

/* ---- profiles_store.c ------------------------------------------------------ */

/* The user's video profiles, oldest first, appended to list. */
cx_status acct_store_vp_list(cx_pg_pool *pg, const char *user_id,
                             Calixio__V1__VideoProfileList *list);

/* Creates a profile (at most ACCT_PROFILES_MAX per user: CX_ERR_CONFLICT
 * beyond, with req->message set); with is_default the others are cleared.
 * *out is a new malloced VideoProfile. */
cx_status acct_store_vp_create(cx_pg_pool *pg, cx_req *req, const char *user_id,
                               const Calixio__V1__CreateVideoProfileRequest *in,
                               Calixio__V1__VideoProfile **out);

/* Applies the present fields of patch to the user's profile, validating
 * the merged profile (image needs a URL); CX_ERR_PROFILE_NOT_FOUND when
 * it is not one of the user's. *out is a new malloced VideoProfile. */
cx_status acct_store_vp_update(cx_pg_pool *pg, cx_req *req, const char *user_id,
                               const Calixio__V1__UpdateVideoProfileRequest *patch,
                               Calixio__V1__VideoProfile **out);

/* Deletes one profile; CX_ERR_PROFILE_NOT_FOUND when not the user's. */
cx_status acct_store_vp_delete(cx_pg_pool *pg, const char *user_id, const char *profile_id);

/* ---- acct_events.c ----------------------------------------------------------- */

/* Publishes AccountDeleted on <prefix>.events.user.<user_id>.deleted,
 * flushes, and marks the outbox row published. Failures are logged; the
 * periodic task retries. */
void acct_publish_deleted(const auth_ctx *c, const char *request_id, const char *user_id,
                          const char *deleted_at);

/* Periodic task (cx_service_every, arg = auth_ctx): republishes deletions
 * whose event was not yet seen out. */
void acct_outbox_tick(void *arg);

#endif
