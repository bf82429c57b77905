/* verify.c: is this request really a webhook from our LiveKit server?
 *
 * Pure functions (no I/O) so the fuzzer can drive them. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "cx_crypto.h"
#include "cx_jwt.h"
#include "webhook.h"

cx_status wh_check_content_type(const char *ct)
{
    if (!ct)
        return CX_ERR_UNSUPPORTED_MEDIA;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    static const char *const ok[] = {"application/webhook+json", "application/json"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (n == strlen(ok[i]) && strncasecmp(ct, ok[i], n) == 0)
            return CX_OK;
    return CX_ERR_UNSUPPORTED_MEDIA;
}

/* True when s is a plausible compact JWS: base64url segments and dots only. */
static bool _jws_charset(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '-' && c != '_' && c != '.')
            return false;
    }
    return true;
}

cx_status wh_verify(const char *authorization, const uint8_t *body, size_t len,
                    const wh_keys *keys, int64_t now, int64_t leeway_s, const char **why)
{
    const char *reason = NULL;
    json_t *claims = NULL;
    char want[45];

    size_t alen = authorization ? strnlen(authorization, WH_MAX_AUTH + 1) : 0;
    if (alen == 0) {
        reason = "missing authorization";
        goto out;
    }
    if (alen > WH_MAX_AUTH || !_jws_charset(authorization, alen)) {
        /* also catches "Bearer <jwt>": LiveKit sends the bare token */
        reason = "authorization is not a bare JWT";
        goto out;
    }
    /* There is one key: verify with its secret straight away (no unverified
     * peek at iss first), then require iss to name it. */
    if (!keys->api_key || !keys->api_key[0] || !keys->secret || !keys->secret[0]) {
        reason = "no webhook key configured";
        goto out;
    }
    if (cx_jwt_verify(authorization, keys->secret, strlen(keys->secret), now, leeway_s,
                      &claims) != CX_OK) {
        reason = "bad signature, algorithm or validity window";
        goto out;
    }
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    if (!iss || !cx_ct_streq(iss, keys->api_key)) {
        reason = "unknown api key (iss)";
        goto out_free_claims;
    }
    const char *got = json_string_value(json_object_get(claims, "sha256"));
    if (!got) {
        reason = "token has no sha256 claim";
        goto out_free_claims;
    }
    cx_sha256_b64(body ? (const void *)body : (const void *)"", body ? len : 0, want);
    if (!cx_ct_streq(got, want))
        reason = "sha256 of body does not match";

out_free_claims:
    json_decref(claims);
out:
    if (why)
        *why = reason;
    return reason ? CX_ERR_INVALID_WEBHOOK : CX_OK;
}
