/* cx_jwt.c: HS256 JWTs with libjwt 1.10, claims as jansson values. */
#include "cx_jwt.h"

#include <jwt.h>
#include <stdbool.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define CX_JWT_MAX_LEN 8192

/* base64url("{\"alg\":\"HS256\",\"typ\":\"JWT\"}"), the one header we emit. */
static const char _hs256_header_b64[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/* Signs with the base64url header hdr (NUL-terminated). */
static cx_status _sign(const json_t *claims, const char *hdr, const char *secret,
                       size_t secret_len, char **out_token);

cx_status cx_jwt_sign(const json_t *claims, const char *secret, size_t secret_len,
                      char **out_token)
{
    return _sign(claims, _hs256_header_b64, secret, secret_len, out_token);
}

cx_status cx_jwt_sign_key(const json_t *claims, const cx_jwt_key *key, char **out_token)
{
    char hdr[128], b64[192];
    if (!key || !key->secret)
        return CX_ERR_INTERNAL;
    int n = snprintf(hdr, sizeof hdr, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
                     key->kid);
    if (n < 0 || (size_t)n >= sizeof hdr)
        return CX_ERR_INTERNAL;
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)hdr, (size_t)n,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return _sign(claims, b64, key->secret, key->len, out_token);
}

static cx_status _sign(const json_t *claims, const char *hdr, const char *secret,
                       size_t secret_len, char **out_token)
{
    cx_status s = CX_ERR_NOMEM;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    char *payload = NULL, *tok = NULL;

    if (!json_is_object(claims) || !secret || secret_len == 0)
        return CX_ERR_INTERNAL;
    payload = json_dumps(claims, JSON_COMPACT);
    if (!payload)
        return CX_ERR_NOMEM;
    size_t plen = strlen(payload);
    size_t hlen = strlen(hdr);
    size_t p64 = sodium_base64_encoded_len(plen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t s64 = sodium_base64_encoded_len(sizeof mac,
                                           sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    tok = malloc(hlen + 1 + p64 + 1 + s64);
    if (!tok)
        goto out_free_payload;
    memcpy(tok, hdr, hlen);
    tok[hlen] = '.';
    sodium_bin2base64(tok + hlen + 1, p64, (const unsigned char *)payload, plen,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t input_len = strlen(tok);
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, secret_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)tok, input_len);
    crypto_auth_hmacsha256_final(&st, mac);
    tok[input_len] = '.';
    sodium_bin2base64(tok + input_len + 1, s64, mac, sizeof mac,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    *out_token = tok;
    s = CX_OK;
out_free_payload:
    free(payload);
    return s;
}

/* Decodes one base64url segment of the token into a new JSON value. */
static json_t *_segment_json(const char *seg, size_t len)
{
    unsigned char buf[CX_JWT_MAX_LEN];
    size_t out_len = 0;
    if (len == 0 || len > sizeof buf)
        return NULL;
    if (sodium_base642bin(buf, sizeof buf - 1, seg, len, NULL, &out_len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return NULL;
    return json_loadb((const char *)buf, out_len, JSON_REJECT_DUPLICATES, NULL);
}

/* Checks the header says exactly HS256 before libjwt sees the token, so
 * "alg":"none" and every other algorithm are refused whatever the library
 * would do with them. */
static bool _header_is_hs256(const char *token)
{
    const char *dot = strchr(token, '.');
    if (!dot)
        return false;
    json_t *h = _segment_json(token, (size_t)(dot - token));
    const char *alg = h ? json_string_value(json_object_get(h, "alg")) : NULL;
    bool ok = alg && strcmp(alg, "HS256") == 0;
    json_decref(h);
    return ok;
}

static bool _num(const json_t *v, double *out)
{
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return true;
}

cx_status cx_jwt_verify(const char *token, const char *secret, size_t secret_len, int64_t now,
                        int64_t leeway_s, json_t **out_claims)
{
    cx_status s = CX_ERR_INVALID_TOKEN;
    jwt_t *jwt = NULL;
    char *grants = NULL;
    json_t *claims = NULL;
    double exp, nbf;

    if (!token || !secret || secret_len == 0 || strlen(token) > CX_JWT_MAX_LEN)
        return CX_ERR_INVALID_TOKEN;
    if (!_header_is_hs256(token))
        return CX_ERR_INVALID_TOKEN;
    if (jwt_decode(&jwt, token, (const unsigned char *)secret, (int)secret_len) != 0 || !jwt)
        goto out;
    if (jwt_get_alg(jwt) != JWT_ALG_HS256)
        goto out_free_jwt;
    grants = jwt_get_grants_json(jwt, NULL);
    if (!grants)
        goto out_free_jwt;
    claims = json_loads(grants, 0, NULL);
    if (!json_is_object(claims))
        goto out_free_claims;
    if (!_num(json_object_get(claims, "exp"), &exp) || (double)now >= exp + (double)leeway_s)
        goto out_free_claims;
    if (json_object_get(claims, "nbf")) {
        if (!_num(json_object_get(claims, "nbf"), &nbf) || nbf > (double)(now + leeway_s))
            goto out_free_claims;
    }
    *out_claims = claims;
    claims = NULL;
    s = CX_OK;
out_free_claims:
    json_decref(claims);
    free(grants);
out_free_jwt:
    jwt_free(jwt);
out:
    return s;
}

/* ---- key ring ------------------------------------------------------------- */

static void _kid_of(const char *secret, size_t len, char out[CX_JWT_KID_LEN + 1])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)secret, len);
    sodium_bin2hex(out, CX_JWT_KID_LEN + 1, h, CX_JWT_KID_LEN / 2);
}

static cx_status _ring_add(cx_jwt_keyring *r, const char *secret, size_t len)
{
    while (len && (*secret == ' ' || *secret == '\t')) {
        secret++;
        len--;
    }
    while (len && (secret[len - 1] == ' ' || secret[len - 1] == '\t'))
        len--;
    if (len == 0)
        return CX_OK;
    if (r->n >= CX_JWT_MAX_KEYS)
        return CX_ERR_CONFIG;
    cx_jwt_key *k = &r->keys[r->n++];
    k->secret = secret;
    k->len = len;
    _kid_of(secret, len, k->kid);
    return CX_OK;
}

cx_status cx_jwt_keyring_init(cx_jwt_keyring *r, const char *current, const char *previous_csv)
{
    memset(r, 0, sizeof *r);
    if (!current || !*current || _ring_add(r, current, strlen(current)) != CX_OK || r->n != 1)
        return CX_ERR_CONFIG;
    for (const char *p = previous_csv; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (_ring_add(r, p, len) != CX_OK)
            return CX_ERR_CONFIG;
        p += len + (comma ? 1 : 0);
    }
    return CX_OK;
}

const cx_jwt_key *cx_jwt_keyring_select(const cx_jwt_keyring *r, const char *kid, int *tries)
{
    *tries = 0;
    if (!r || r->n == 0)
        return NULL;
    if (!kid) {
        *tries = r->n;
        return &r->keys[0];
    }
    for (int i = 0; i < r->n; i++) {
        if (strlen(kid) == CX_JWT_KID_LEN &&
            sodium_memcmp(kid, r->keys[i].kid, CX_JWT_KID_LEN) == 0) {
            *tries = 1;
            return &r->keys[i];
        }
    }
    return NULL;
}

bool cx_jwt_header_kid(const char *token, char *out, size_t cap)
{
    const char *dot = token ? strchr(token, '.') : NULL;
    if (!dot || cap == 0)
        return false;
    json_t *h = _segment_json(token, (size_t)(dot - token));
    const char *kid = h ? json_string_value(json_object_get(h, "kid")) : NULL;
    bool ok = kid && strlen(kid) < cap;
    if (ok)
        snprintf(out, cap, "%s", kid);
    json_decref(h);
    return ok;
}

cx_status cx_jwt_verify_ring(const char *token, const cx_jwt_keyring *r, int64_t now,
                             int64_t leeway_s, json_t **out_claims)
{
    char kid[64];
    int tries = 0;
    if (!token || strlen(token) > CX_JWT_MAX_LEN)
        return CX_ERR_INVALID_TOKEN;
    const cx_jwt_key *k = cx_jwt_keyring_select(
        r, cx_jwt_header_kid(token, kid, sizeof kid) ? kid : NULL, &tries);
    cx_status s = CX_ERR_INVALID_TOKEN;
    for (int i = 0; k && i < tries && s != CX_OK; i++, k++)
        s = cx_jwt_verify(token, k->secret, k->len, now, leeway_s, out_claims);
    return s;
}

cx_status cx_jwt_peek(const char *token, json_t **out_claims)
{
    if (!token || strlen(token) > CX_JWT_MAX_LEN)
        return CX_ERR_INVALID_TOKEN;
    const char *a = strchr(token, '.');
    const char *b = a ? strchr(a + 1, '.') : NULL;
    if (!b)
        return CX_ERR_INVALID_TOKEN;
    json_t *c = _segment_json(a + 1, (size_t)(b - a - 1));
    if (!json_is_object(c)) {
        json_decref(c);
        return CX_ERR_INVALID_TOKEN;
    }
    *out_claims = c;
    return CX_OK;
}
