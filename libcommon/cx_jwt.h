/* cx_jwt: HS256 JSON Web Tokens (jansson + libsodium).
 *
 * Verification is our own strict parser: exactly three unpadded base64url
 * segments with one spelling each (libsodium's decoder), a header that is
 * a JSON object with "alg":"HS256" (and "typ", when present, "JWT"), a
 * signature of exactly 32 bytes compared in constant time with
 * HMAC-SHA256 over "header.payload", then the payload parsed once with
 * jansson. libjwt 1.10's path (decode, re-serialise, re-parse) measured
 * 16.3 us per bearer check. Signing is a straight HMAC-SHA256 over the
 * compact claims (17.8 us per LiveKit join token through libjwt against
 * 3 us, bench/token_cost.c). Both produce the same format: header
 * {"alg":"HS256","typ":"JWT"}, unpadded base64url segments.
 *
 * Only HS256 is accepted: "alg":"none", HS384/HS512, RS*, ES* are refused,
 * as are bad signatures, duplicate keys in header or payload, a missing or
 * non-numeric exp, an exp in the past and an nbf in the future (each
 * allowing `leeway_s` seconds of clock skew). */
#ifndef CX_JWT_H
#define CX_JWT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cx_status.h"

/* Signs `claims` (a JSON object, not modified) with HS256 and the secret
 * bytes. *out_token is a malloced string the caller frees. Header is
 * {"alg":"HS256","typ":"JWT"}; segments are unpadded base64url. */
cx_status cx_jwt_sign(const json_t *claims, const char *secret, size_t secret_len,
                      char **out_token);

/* Verifies token against the secret at time `now` (unix seconds).
 * On success *out_claims is a new reference the caller json_decref()s.
 * Returns CX_ERR_INVALID_TOKEN for every kind of bad token. */
cx_status cx_jwt_verify(const char *token, const char *secret, size_t secret_len, int64_t now,
                        int64_t leeway_s, json_t **out_claims);

/* The time rule of verification: true when now < exp + leeway_s and, when
 * the token has an nbf, nbf <= now + leeway_s. */
bool cx_jwt_times_ok(double exp, bool has_nbf, double nbf, int64_t now, int64_t leeway_s);

/* ---- key rotation: a kid names the key that signed a token ---------------
 *
 * The current key (JWT_SECRET) signs, with "kid" in the header; previous
 * keys (JWT_PREVIOUS_SECRETS, comma-separated) still verify. A key's kid
 * is the hex of the first 8 bytes of SHA-256(secret): it names the key
 * without configuration and reveals nothing an HMAC token does not. */
#define CX_JWT_MAX_KEYS 8
#define CX_JWT_KID_LEN 16

typedef struct cx_jwt_key {
    const char *secret; /* borrowed: points into the strings given to init */
    size_t len;
    char kid[CX_JWT_KID_LEN + 1];
} cx_jwt_key;

typedef struct cx_jwt_keyring {
    cx_jwt_key keys[CX_JWT_MAX_KEYS]; /* keys[0] signs */
    int n;
} cx_jwt_keyring;

/* Builds the ring from the current secret and a comma-separated list of
 * previous ones (NULL or "" for none; blanks around entries ignored). No
 * copies: the ring borrows both strings, which must outlive it. More than
 * CX_JWT_MAX_KEYS keys, or an empty current secret, is CX_ERR_CONFIG. */
cx_status cx_jwt_keyring_init(cx_jwt_keyring *r, const char *current, const char *previous_csv);

/* The key that may verify a token whose header carries kid: the ring's key
 * with that kid, NULL when none has it (a dropped key). kid NULL (a token
 * minted before kids existed): *tries is set to the number of keys to try
 * in order and keys[0] returned. Kept apart so another verification path
 * can reuse exactly this choice. */
const cx_jwt_key *cx_jwt_keyring_select(const cx_jwt_keyring *r, const char *kid, int *tries);

/* Signs claims with key (header {"alg":"HS256","typ":"JWT","kid":...}). */
cx_status cx_jwt_sign_key(const json_t *claims, const cx_jwt_key *key, char **out_token);

/* Verifies with the key the token's kid selects (see cx_jwt_verify). */
cx_status cx_jwt_verify_ring(const char *token, const cx_jwt_keyring *r, int64_t now,
                             int64_t leeway_s, json_t **out_claims);

/* The kid in token's header into out (cap bytes); false when there is none. */
bool cx_jwt_header_kid(const char *token, char *out, size_t cap);

/* Reads the unverified payload (e.g. to find `iss` before choosing the
 * secret). *out_claims is a new reference. Never trust its content. */
cx_status cx_jwt_peek(const char *token, json_t **out_claims);

#endif
