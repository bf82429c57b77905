/* cx_jwt: HS256 JSON Web Tokens (libjwt + jansson + libsodium).
 *
 * Verification goes through libjwt (after our own check that the header
 * names HS256). Signing is a straight HMAC-SHA256 with libsodium over the
 * compact claims: libjwt 1.10 re-parses and re-serialises the claims twice
 * on that path, which measured 17.8 us per LiveKit join token against 3 us
 * (bench/token_cost.c) on the hottest route. Both produce the same format:
 * header {"alg":"HS256","typ":"JWT"}, unpadded base64url segments.
 *
 * Only HS256 is accepted: "alg":"none", HS384/HS512, RS*, ES* are refused,
 * as are bad signatures, a missing or non-numeric exp, an exp in the past
 * and an nbf in the future (each allowing `leeway_s` seconds of clock skew). */
#ifndef CX_JWT_H
#define CX_JWT_H

#include <jansson.h>
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
cx_status cx_jwt_verify(const char *token, const char *secret, size_t secret_len,
                        int64_t now, int64_t leeway_s, json_t **out_claims);

/* Reads the unverified payload (e.g. to find `iss` before choosing the
 * secret). *out_claims is a new reference. Never trust its content. */
cx_status cx_jwt_peek(const char *token, json_t **out_claims);

#endif
