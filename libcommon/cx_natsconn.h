/* cx_natsconn: the one place that turns NATS settings into a connection.
 *
 * Every daemon (through cx_service) and the gateway's proxy build their
 * natsOptions here: the server list of NATS_URL, the credentials
 * (NATS_USER/NATS_PASSWORD, NATS_NKEY_SEED_FILE, NATS_CREDS), TLS
 * (NATS_TLS_CA/CERT/KEY), reconnect policy, a per-daemon inbox prefix
 * (so each user may be limited to its own replies) and the connection
 * callbacks. No credential ever reaches a log: URLs are logged through
 * cx_natsconn_redact. */
#ifndef CX_NATSCONN_H
#define CX_NATSCONN_H

#include <nats/nats.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "cx_config.h"
#include "cx_status.h"

typedef struct cx_natsconn_cfg {
    char *url;            /* NATS_URL: comma-separated server list */
    char *user;           /* NATS_USER */
    char *password;       /* NATS_PASSWORD (or NATS_PASSWORD_FILE) */
    char *nkey_seed_file; /* NATS_NKEY_SEED_FILE: file holding an "SU..." user seed */
    char *creds;          /* NATS_CREDS: a .creds file (user JWT + seed) */
    char *tls_ca;         /* NATS_TLS_CA: CA bundle; set: TLS required */
    char *tls_cert;       /* NATS_TLS_CERT: client certificate (with NATS_TLS_KEY) */
    char *tls_key;        /* NATS_TLS_KEY */
} cx_natsconn_cfg;

/* Rows of a daemon's env table for a cx_natsconn_cfg (see cx_daemon.h). */
#define CX_NATSCONN_VARS(c)                                                                   \
    {"NATS_URL",                                                                              \
     CX_CFG_STRING,                                                                           \
     "nats://127.0.0.1:4222",                                                                 \
     "NATS server URL(s), comma-separated",                                                   \
     &(c).url,                                                                                \
     0,                                                                                       \
     0,                                                                                       \
     false},                                                                                  \
        {"NATS_USER", CX_CFG_STRING,                                                          \
         "",          "NATS user of this daemon (with NATS_PASSWORD)",                        \
         &(c).user,   0,                                                                      \
         0,           false},                                                                 \
        {"NATS_PASSWORD",                                                                     \
         CX_CFG_STRING,                                                                       \
         "",                                                                                  \
         "password of NATS_USER (or NATS_PASSWORD_FILE)",                                     \
         &(c).password,                                                                       \
         0,                                                                                   \
         0,                                                                                   \
         true},                                                                               \
        {"NATS_NKEY_SEED_FILE",                                                               \
         CX_CFG_STRING,                                                                       \
         "",                                                                                  \
         "file with this daemon's NATS nkey user seed",                                       \
         &(c).nkey_seed_file,                                                                 \
         0,                                                                                   \
         0,                                                                                   \
         false},                                                                              \
        {"NATS_CREDS",                                                                        \
         CX_CFG_STRING,                                                                       \
         "",                                                                                  \
         "NATS .creds file (user JWT and seed)",                                              \
         &(c).creds,                                                                          \
         0,                                                                                   \
         0,                                                                                   \
         false},                                                                              \
        {"NATS_TLS_CA",                                                                       \
         CX_CFG_STRING,                                                                       \
         "",                                                                                  \
         "CA file to verify the NATS server (turns TLS on)",                                  \
         &(c).tls_ca,                                                                         \
         0,                                                                                   \
         0,                                                                                   \
         false},                                                                              \
        {"NATS_TLS_CERT",                                                                     \
         CX_CFG_STRING,                                                                       \
         "",                                                                                  \
         "client certificate for NATS (with NATS_TLS_KEY)",                                   \
         &(c).tls_cert,                                                                       \
         0,                                                                                   \
         0,                                                                                   \
         false},                                                                              \
    {                                                                                         \
        "NATS_TLS_KEY", CX_CFG_STRING, "", "private key file of NATS_TLS_CERT", &(c).tls_key, \
            0, 0, false                                                                       \
    }

/* Builds the options of a connection named name ("calixio-auth"). At most
 * one of user/password, nkey seed file and creds may be set. The inbox
 * prefix is "_INBOX.<name>". Problems are logged as "config: NATS_...: ..."
 * and returned as CX_ERR_CONFIG; *out (caller destroys) is written only on
 * success. */
cx_status cx_natsconn_options(natsOptions **out, const cx_natsconn_cfg *c, const char *name);

/* Options plus connect: *nc and *opts (both the caller's to destroy) are
 * written on success. A server that is not reachable yet is not an error
 * (the connection retries in the background, logged as a warning). */
cx_status cx_natsconn_open(natsConnection **nc, natsOptions **opts, const cx_natsconn_cfg *c,
                           const char *name);

/* Writes urls into buf with every "user:password@" / "token@" part replaced
 * by "***@". Always NUL-terminates (truncates when cap is too small). */
void cx_natsconn_redact(const char *urls, char *buf, size_t cap);

/* The inbox prefix of a connection named name: "_INBOX.<name>". */
const char *cx_natsconn_inbox_prefix(const char *name, char *buf, size_t cap);

/* Derives the public key ("U...") of a user nkey seed ("SU..."). Exposed
 * for tests. CX_ERR_CONFIG for anything that is not a valid user seed. */
cx_status cx_natsconn_nkey_public(const char *seed, char *pub, size_t cap);

/* How many gaps the pushed messages of this process's connections have had
 * so far: every disconnect, reconnect and slow-consumer drop adds one. A
 * copy of pushed state (e.g. media's live presence counts) loaded when this
 * read n is trusted only while it still reads n. Safe from any thread. */
uint64_t cx_natsconn_gaps(void);

/* Decodes the data of a received message as a d message. On CX_OK *out is
 * the caller's (protobuf_c_message_free_unpacked); an undecodable one is
 * logged once ("<subject>: undecodable <what> ignored") and
 * CX_ERR_BAD_REQUEST returned. msg stays the caller's either way. */
cx_status cx_natsmsg_unpack(const ProtobufCMessageDescriptor *d, natsMsg *msg, const char *what,
                            ProtobufCMessage **out);

#endif
