/* cx_tokcache: verified access tokens, so a bearer sent again (a client
 * reuses its access token for its whole lifetime) skips the base64
 * decoding, the HMAC and the JSON parse of cx_auth_verify_header.
 *
 * An entry is put only after the token passed every check of the full
 * verification that does not depend on the time (form, header, kid and
 * key, signature, iss, aud, the claims), under the one cx_auth_cfg the
 * cache is attached to (its keys never change while it runs). A hit needs
 * the same token byte for byte (compared in constant time, lengths first)
 * and passes the time checks again (cx_jwt_times_ok, with the caller's
 * now and leeway); a token whose exp or nbf does not hold is a miss and
 * goes through the full verification, which refuses it the same way. So
 * the cache changes no answer: revocation is checked after it, on every
 * request, as before.
 *
 * Direct-mapped (slot from a hash of the token's last bytes, i.e. its
 * signature), fixed size, no allocation; a collision replaces the older
 * entry. Tokens longer than CX_TOKCACHE_TOKEN_MAX are never cached. Safe
 * from any thread (one mutex). */
#ifndef CX_TOKCACHE_H
#define CX_TOKCACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cx_auth.h"

#define CX_TOKCACHE_SLOTS 256
#define CX_TOKCACHE_TOKEN_MAX 640

typedef struct cx_tokcache_slot {
    size_t len; /* 0: free */
    char token[CX_TOKCACHE_TOKEN_MAX];
    double exp;
    bool has_nbf;
    double nbf;
    cx_caller caller;
} cx_tokcache_slot;

typedef struct cx_tokcache {
    pthread_mutex_t mu;
    cx_tokcache_slot slot[CX_TOKCACHE_SLOTS];
} cx_tokcache;

/* Empties c and readies its mutex. */
void cx_tokcache_init(cx_tokcache *c);
void cx_tokcache_destroy(cx_tokcache *c);

/* true and *out filled when token (len bytes) is cached and its times hold
 * at now with leeway_s; false otherwise (*out untouched). */
bool cx_tokcache_get(cx_tokcache *c, const char *token, size_t len, int64_t now,
                     int64_t leeway_s, cx_caller *out);

/* Remembers token (len bytes), verified, with its exp / nbf claims and the
 * caller read from it; a token too long is not stored. */
void cx_tokcache_put(cx_tokcache *c, const char *token, size_t len, double exp, bool has_nbf,
                     double nbf, const cx_caller *caller);

#endif
