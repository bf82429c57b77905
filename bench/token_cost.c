/* token_cost.c: what one LiveKit join token costs to mint in cx-media's path
 * (cx_lk_token: jansson claims + libjwt + OpenSSL), what verifying a Calixio
 * access token costs (cx_jwt_verify), and, for comparison, the same HS256
 * token built directly (snprintf claims, libsodium base64url and
 * HMAC-SHA256 with the key state prepared once), and a bearer header
 * verified again without and with the verified-token cache.
 *
 *   token_cost [ITERATIONS=20000]
 *
 * Prints one line per measure: "token_cost <what> us=<µs per call>".
 * Exit 0 when it ran. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "cx_auth.h"
#include "cx_jwt.h"
#include "cx_livekit.h"
#include "cx_tokcache.h"

static double _now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The direct way: one snprintf of the claims, base64url, one HMAC from a
 * state keyed once. Returns the token length, 0 on overflow. */
static size_t _direct_token(const crypto_auth_hmacsha256_state *keyed, const char *identity,
                            const char *room, int64_t now, char *out, size_t cap)
{
    static const char hdr[] =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"; /* {"alg":"HS256","typ":"JWT"} */
    char claims[512];
    int n = snprintf(
        claims, sizeof claims,
        "{\"iss\":\"devkey\",\"sub\":\"%s\",\"exp\":%lld,\"nbf\":%lld,\"iat\":%lld,"
        "\"name\":\"Bench Guest\",\"video\":{\"room\":\"%s\",\"roomJoin\":true,"
        "\"canPublish\":true,\"canSubscribe\":true,\"canPublishData\":true}}",
        identity, (long long)(now + 3600), (long long)(now - 10), (long long)now, room);
    if (n < 0 || (size_t)n >= sizeof claims)
        return 0;
    size_t hl = sizeof hdr - 1;
    size_t need =
        hl + 1 +
        sodium_base64_ENCODED_LEN((size_t)n, sodium_base64_VARIANT_URLSAFE_NO_PADDING) + 1 + 44;
    if (need > cap)
        return 0;
    memcpy(out, hdr, hl);
    out[hl] = '.';
    sodium_bin2base64(out + hl + 1, cap - hl - 1, (const unsigned char *)claims, (size_t)n,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t signed_len = strlen(out);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st = *keyed;
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)out, signed_len);
    crypto_auth_hmacsha256_final(&st, mac);
    out[signed_len] = '.';
    sodium_bin2base64(out + signed_len + 1, cap - signed_len - 1, mac, sizeof mac,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return strlen(out);
}

/* 4. cx_auth_verify_header of one access token sent again and again (a
 * client's bearer), without and with the verified-token cache (issue 14;
 * no revocation check here: denylist_cost measures that). */
static int _access_header(int iters, int64_t now)
{
    static cx_tokcache cache;
    cx_jwt_keyring ring;
    char *tok = NULL, jti[64], hdr[1024];
    if (cx_jwt_keyring_init(&ring, "bench-access-secret-0123456789", NULL) != CX_OK)
        return 1;
    cx_auth_cfg cfg = {"bench-access-secret-0123456789", "calixio", "calixio", 30, &ring, NULL};
    if (cx_auth_mint(&cfg, "00000000-0000-4000-8000-000000000001", "Bench User",
                     "00000000-0000-4000-8000-0000000000aa", now, 3600, &tok, jti) != CX_OK)
        return 1;
    snprintf(hdr, sizeof hdr, "Bearer %s", tok);
    free(tok);
    cx_tokcache_init(&cache);
    for (int cached = 0; cached < 2; cached++) {
        cfg.cache = cached ? &cache : NULL;
        cx_caller c;
        double t0 = _now_s();
        for (int i = 0; i < iters; i++)
            if (cx_auth_verify_header(&cfg, NULL, hdr, &c) != CX_OK)
                return 1;
        printf("token_cost access_header_%s us=%.2f\n", cached ? "cached" : "uncached",
               (_now_s() - t0) * 1e6 / iters);
    }
    cx_tokcache_destroy(&cache);
    return 0;
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 20000;
    if (iters < 1 || sodium_init() < 0)
        return 2;
    const char *room = "cx-9a1f3c52-0d7e-4e0b-9b8e-3f2a61c0d4aa";
    const char *identity = "guest-0123456789abcdef0123456789abcdef";
    int64_t now = (int64_t)time(NULL);
    cx_lk_grant g = {.room = room,
                     .room_join = true,
                     .can_publish = true,
                     .can_subscribe = true,
                     .can_publish_data = true};

    /* 1. cx_lk_token, as cx-media mints */
    double t0 = _now_s();
    char *tok = NULL;
    for (int i = 0; i < iters; i++) {
        free(tok);
        tok = NULL;
        if (cx_lk_token("devkey", "secret", identity, "Bench Guest", &g, now, 3600, &tok) !=
            CX_OK) {
            fprintf(stderr, "token_cost: cx_lk_token failed\n");
            return 1;
        }
    }
    double lk_us = (_now_s() - t0) * 1e6 / iters;
    printf("token_cost cx_lk_token us=%.2f\n", lk_us);

    /* 2. cx_jwt_verify of that token, as the runtime verifies a bearer */
    t0 = _now_s();
    for (int i = 0; i < iters; i++) {
        json_t *claims = NULL;
        if (cx_jwt_verify(tok, "secret", 6, now, 30, &claims) != CX_OK) {
            fprintf(stderr, "token_cost: cx_jwt_verify failed\n");
            free(tok);
            return 1;
        }
        json_decref(claims);
    }
    printf("token_cost cx_jwt_verify us=%.2f\n", (_now_s() - t0) * 1e6 / iters);
    free(tok);

    /* 3. the direct HS256 token */
    crypto_auth_hmacsha256_state keyed;
    crypto_auth_hmacsha256_init(&keyed, (const unsigned char *)"secret", 6);
    char buf[1024];
    t0 = _now_s();
    size_t len = 0;
    for (int i = 0; i < iters; i++)
        len = _direct_token(&keyed, identity, room, now, buf, sizeof buf);
    if (len == 0)
        return 1;
    printf("token_cost direct_hs256 us=%.2f\n", (_now_s() - t0) * 1e6 / iters);
    return _access_header(iters, now);
}
