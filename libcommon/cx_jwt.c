/* cx_jwt.c: HS256 JWTs (libsodium HMAC), claims as jansson values. */
#include "cx_jwt.h"

#include <stdbool.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* ---- strict verification ---------------------------------------------------
 *
 * A token is exactly three non-empty segments "h.p.s" in the base64url
 * alphabet without padding, decoded by libsodium, which also refuses a
 * length of 1 mod 4 and non-zero trailing bits, so each segment has one
 * spelling. The header is a JSON object (no duplicate keys) whose alg is
 * the string "HS256" and whose typ, when present, is "JWT" (any case, as
 * libjwt 1.10 allowed). The signature segment decodes to exactly the 32
 * bytes of HMAC-SHA256(key, "h.p"), compared in constant time; only then
 * is the payload parsed (a JSON object, no duplicate keys) and exp / nbf
 * checked. */

typedef struct _jwt_parts {
    size_t signed_len; /* length of "h.p" */
    const char *payload;
    size_t payload_len;
    unsigned char sig[crypto_auth_hmacsha256_BYTES];
    bool has_kid;
    char kid[64];
} _jwt_parts;

/* The header we mint with a kid: {"alg":"HS256","typ":"JWT","kid":"<16 hex>"};
 * recognised byte for byte so the common case needs no JSON parse. */
static const char _kid_hdr_head[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"";

static bool _hex16(const unsigned char *p)
{
    for (int i = 0; i < CX_JWT_KID_LEN; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return false;
    return true;
}

/* Checks the decoded header; fills the kid (a string kid that fits, as
 * cx_jwt_header_kid reads it). */
static bool _header_ok(const unsigned char *h, size_t n, _jwt_parts *pt)
{
    static const char plain[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    size_t head = sizeof _kid_hdr_head - 1;
    if (n == sizeof plain - 1 && memcmp(h, plain, n) == 0)
        return true;
    if (n == head + CX_JWT_KID_LEN + 2 && memcmp(h, _kid_hdr_head, head) == 0 &&
        _hex16(h + head) && h[n - 2] == '"' && h[n - 1] == '}') {
        memcpy(pt->kid, h + head, CX_JWT_KID_LEN);
        pt->kid[CX_JWT_KID_LEN] = '\0';
        pt->has_kid = true;
        return true;
    }
    json_t *j = json_loadb((const char *)h, n, JSON_REJECT_DUPLICATES, NULL);
    const char *alg = json_string_value(json_object_get(j, "alg"));
    json_t *typ = json_object_get(j, "typ");
    const char *kid = json_string_value(json_object_get(j, "kid"));
    bool ok = json_is_object(j) && alg && strcmp(alg, "HS256") == 0 &&
              (!typ || (json_is_string(typ) && strcasecmp(json_string_value(typ), "JWT") == 0));
    if (ok && kid && strlen(kid) < sizeof pt->kid) {
        snprintf(pt->kid, sizeof pt->kid, "%s", kid);
        pt->has_kid = true;
    }
    json_decref(j);
    return ok;
}

/* Splits and checks the token's form and header; decodes the signature. */
static bool _parse_parts(const char *token, _jwt_parts *pt)
{
    unsigned char hdr[1024];
    size_t n = 0;
    memset(pt, 0, sizeof *pt);
    if (!token)
        return false;
    size_t len = strnlen(token, CX_JWT_MAX_LEN + 1);
    const char *a = memchr(token, '.', len);
    const char *b = a ? memchr(a + 1, '.', len - (size_t)(a + 1 - token)) : NULL;
    if (len > CX_JWT_MAX_LEN || !b || a == token || b == a + 1 || b + 1 == token + len)
        return false;
    const char *sig = b + 1;
    size_t sig_len = len - (size_t)(sig - token);
    if (sodium_base642bin(pt->sig, sizeof pt->sig, sig, sig_len, NULL, &n, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        n != sizeof pt->sig)
        return false;
    if (sodium_base642bin(hdr, sizeof hdr, token, (size_t)(a - token), NULL, &n, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        !_header_ok(hdr, n, pt))
        return false;
    pt->signed_len = (size_t)(b - token);
    pt->payload = a + 1;
    pt->payload_len = (size_t)(b - a - 1);
    return true;
}

static bool _mac_ok(const char *token, const _jwt_parts *pt, const char *secret,
                    size_t secret_len)
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, secret_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)token, pt->signed_len);
    crypto_auth_hmacsha256_final(&st, mac);
    bool ok = sodium_memcmp(mac, pt->sig, sizeof mac) == 0;
    sodium_memzero(&st, sizeof st);
    return ok;
}

static bool _num(const json_t *v, double *out)
{
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return true;
}

bool cx_jwt_times_ok(double exp, bool has_nbf, double nbf, int64_t now, int64_t leeway_s)
{
    /* written as the refusals, so every comparison reads as it always did */
    return !((double)now >= exp + (double)leeway_s) &&
           !(has_nbf && nbf > (double)(now + leeway_s));
}

/* The payload of a token whose signature checked: an object with a live
 * numeric exp and, when present, a numeric nbf not in the future. */
static cx_status _claims(const _jwt_parts *pt, int64_t now, int64_t leeway_s, json_t **out)
{
    double exp, nbf = 0;
    json_t *claims = _segment_json(pt->payload, pt->payload_len);
    json_t *nbf_v = json_object_get(claims, "nbf");
    if (!json_is_object(claims) || !_num(json_object_get(claims, "exp"), &exp) ||
        (nbf_v && !_num(nbf_v, &nbf)) ||
        !cx_jwt_times_ok(exp, nbf_v != NULL, nbf, now, leeway_s)) {
        json_decref(claims);
        return CX_ERR_INVALID_TOKEN;
    }
    *out = claims;
    return CX_OK;
}

cx_status cx_jwt_verify(const char *token, const char *secret, size_t secret_len, int64_t now,
                        int64_t leeway_s, json_t **out_claims)
{
    _jwt_parts pt;
    if (!secret || secret_len == 0 || !_parse_parts(token, &pt) ||
        !_mac_ok(token, &pt, secret, secret_len))
        return CX_ERR_INVALID_TOKEN;
    return _claims(&pt, now, leeway_s, out_claims);
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
    _jwt_parts pt;
    int tries = 0;
    if (!_parse_parts(token, &pt))
        return CX_ERR_INVALID_TOKEN;
    const cx_jwt_key *k = cx_jwt_keyring_select(r, pt.has_kid ? pt.kid : NULL, &tries);
    bool ok = false;
    for (int i = 0; k && i < tries && !ok; i++, k++)
        ok = k->secret && k->len > 0 && _mac_ok(token, &pt, k->secret, k->len);
    return ok ? _claims(&pt, now, leeway_s, out_claims) : CX_ERR_INVALID_TOKEN;
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
