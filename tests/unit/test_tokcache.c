/* test_tokcache.c: the verified-token cache (cx_tokcache) changes no
 * answer of cx_auth_verify_header or cx_bearer_verify (issue 14).
 *
 * The cache on its own: a hit needs the same bytes and live times. Then
 * every token of a set (valid, rotated key with and without kid, forged
 * kid, unknown kid, altered signature, one byte longer, wrong issuer or
 * audience, expired, not yet valid, a room token) is verified three times
 * with a cfg that has a cache, after the valid ones were cached, and
 * each answer must equal the one of the same cfg without a cache. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cx_auth.h"
#include "cx_bearer.h"
#include "cx_jwt.h"
#include "cx_test.h"
#include "cx_time.h"
#include "cx_tokcache.h"

#define CUR "tokcache-current-key-0123456789"
#define OLD "tokcache-previous-key-abcdefghij"

static cx_tokcache cache;

static void test_cache_alone(void)
{
    cx_caller c = {.authenticated = true, .exp = 2000}, got;
    snprintf(c.user_id, sizeof c.user_id, "u1");
    snprintf(c.session_id, sizeof c.session_id, "s1");
    const char *t = "aaaa.bbbb.signature-one";
    cx_tokcache_init(&cache);
    CX_CHECK(!cx_tokcache_get(&cache, t, strlen(t), 1000, 30, &got));
    cx_tokcache_put(&cache, t, strlen(t), 2000, true, 1000, &c);
    memset(&got, 0, sizeof got);
    CX_CHECK(cx_tokcache_get(&cache, t, strlen(t), 1000, 30, &got));
    CX_CHECK_STR(got.user_id, "u1");
    CX_CHECK_STR(got.session_id, "s1");
    CX_CHECK(got.authenticated);
    /* same slot (same last 16 bytes), other bytes: a miss */
    CX_CHECK(!cx_tokcache_get(&cache, "aaab.bbbb.signature-one", strlen(t), 1000, 30, &got));
    /* a prefix or a longer token: a miss */
    CX_CHECK(!cx_tokcache_get(&cache, t, strlen(t) - 1, 1000, 30, &got));
    /* times are checked again on every hit (as cx_jwt_verify does) */
    CX_CHECK(cx_tokcache_get(&cache, t, strlen(t), 2029, 30, &got));
    CX_CHECK(!cx_tokcache_get(&cache, t, strlen(t), 2030, 30, &got));
    CX_CHECK(!cx_tokcache_get(&cache, t, strlen(t), 969, 30, &got)); /* nbf 1000 */
    CX_CHECK(cx_tokcache_get(&cache, t, strlen(t), 970, 30, &got));
    /* too long: never stored */
    char big[CX_TOKCACHE_TOKEN_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cx_tokcache_put(&cache, big, strlen(big), 2000, false, 0, &c);
    CX_CHECK(!cx_tokcache_get(&cache, big, strlen(big), 1000, 30, &got));
    cx_tokcache_destroy(&cache);
}

/* An access token with the given claims, signed by key (kid in the header
 * when with_kid), as "Bearer <token>"; malloced. */
static char *_bearer(const cx_jwt_key *key, bool with_kid, const char *iss, const char *aud,
                     int64_t nbf, int64_t exp)
{
    json_t *cl = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "iss", iss, "aud", aud,
                           "sub", "00000000-0000-4000-8000-000000000001", "username", "unit",
                           "sid", "tokcache-session", "jti", "tokcache-jti", "nbf",
                           (json_int_t)nbf, "exp", (json_int_t)exp);
    char *tok = NULL;
    cx_status s = with_kid ? cx_jwt_sign_key(cl, key, &tok)
                           : cx_jwt_sign(cl, key->secret, key->len, &tok);
    json_decref(cl);
    CX_CHECK_INT(s, CX_OK);
    size_t n = strlen(tok ? tok : "") + 8;
    char *h = malloc(n);
    snprintf(h, n, "Bearer %s", tok ? tok : "");
    free(tok);
    return h;
}

static void test_same_answers(void)
{
    cx_jwt_keyring ring;
    CX_CHECK_INT(cx_jwt_keyring_init(&ring, CUR, OLD), CX_OK);
    cx_auth_cfg plain = {CUR, "calixio", "calixio", 30, &ring, NULL};
    cx_auth_cfg cached = plain;
    cx_tokcache_init(&cache);
    cached.cache = &cache;
    int64_t now = cx_now_s();
    const cx_jwt_key *cur = &ring.keys[0], *old = &ring.keys[1];
    cx_jwt_key forged = *cur, unknown = *cur; /* current secret, another kid */
    memcpy(forged.kid, old->kid, sizeof forged.kid);
    memcpy(unknown.kid, "0123456789abcdef", sizeof unknown.kid);
    cx_jwt_key forged_old = *old; /* previous secret, the current kid */
    memcpy(forged_old.kid, cur->kid, sizeof forged_old.kid);

    char *h[16];
    int n = 0;
    h[n++] = _bearer(cur, true, "calixio", "calixio", now, now + 600);  /* valid */
    h[n++] = _bearer(cur, false, "calixio", "calixio", now, now + 600); /* valid, no kid */
    h[n++] = _bearer(old, true, "calixio", "calixio", now, now + 600);  /* rotated, kid */
    h[n++] = _bearer(old, false, "calixio", "calixio", now, now + 600); /* rotated, no kid */
    h[n++] = _bearer(&forged, true, "calixio", "calixio", now, now + 600);
    h[n++] = _bearer(&forged_old, true, "calixio", "calixio", now, now + 600);
    h[n++] = _bearer(&unknown, true, "calixio", "calixio", now, now + 600);
    h[n++] = _bearer(cur, true, "other", "calixio", now, now + 600);
    h[n++] = _bearer(cur, true, "calixio", "other", now, now + 600);
    h[n++] = _bearer(cur, true, "calixio", CX_ROOM_TOKEN_AUD, now, now + 600);
    h[n++] = _bearer(cur, true, "calixio", "calixio", now - 700, now - 100); /* expired */
    h[n++] = _bearer(cur, true, "calixio", "calixio", now + 100, now + 700); /* not yet */
    h[n++] = _bearer(cur, true, "calixio", "calixio", now - 700, now - 20);  /* in leeway */
    /* the valid token with its signature's last character changed, and
     * with one byte more */
    size_t len = strlen(h[0]);
    h[n] = strdup(h[0]);
    h[n][len - 1] = h[n][len - 1] == 'A' ? 'Q' : 'A';
    n++;
    h[n] = malloc(len + 2);
    snprintf(h[n], len + 2, "%sA", h[0]);
    n++;

    static const unsigned accept[] = {CX_BEARER_ACCESS, CX_BEARER_ACCESS | CX_BEARER_ROOM};
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < n; i++) {
            cx_caller a, b;
            memset(&a, 0, sizeof a);
            memset(&b, 0, sizeof b);
            cx_status sa = cx_auth_verify_header(&plain, NULL, h[i], &a);
            cx_status sb = cx_auth_verify_header(&cached, NULL, h[i], &b);
            if (sa != sb)
                fprintf(stderr, "  token %d round %d: %d vs %d\n", i, round, sa, sb);
            CX_CHECK_INT(sb, sa);
            CX_CHECK(memcmp(&a, &b, sizeof a) == 0);
            for (size_t k = 0; k < sizeof accept / sizeof accept[0]; k++) {
                cx_bearer ba, bb;
                memset(&ba, 0, sizeof ba);
                memset(&bb, 0, sizeof bb);
                CX_CHECK_INT(cx_bearer_verify(&cached, NULL, h[i], accept[k], &bb),
                             cx_bearer_verify(&plain, NULL, h[i], accept[k], &ba));
                CX_CHECK(memcmp(&ba, &bb, sizeof ba) == 0);
            }
        }
    }
    /* the ones that must pass do, the forgeries do not (not an accident of
     * both paths failing alike) */
    cx_caller c;
    CX_CHECK_INT(cx_auth_verify_header(&cached, NULL, h[0], &c), CX_OK);
    CX_CHECK_INT(cx_auth_verify_header(&cached, NULL, h[2], &c), CX_OK);
    CX_CHECK_INT(cx_auth_verify_header(&cached, NULL, h[12], &c), CX_OK);
    for (int i = 4; i <= 7; i++)
        CX_CHECK_INT(cx_auth_verify_header(&cached, NULL, h[i], &c), CX_ERR_INVALID_TOKEN);
    CX_CHECK_INT(cx_auth_verify_header(&cached, NULL, h[13], &c), CX_ERR_INVALID_TOKEN);
    CX_CHECK_INT(cx_auth_verify_header(&cached, NULL, h[14], &c), CX_ERR_INVALID_TOKEN);
    for (int i = 0; i < n; i++)
        free(h[i]);
    cx_tokcache_destroy(&cache);
}

int main(void)
{
    CX_RUN(test_cache_alone);
    CX_RUN(test_same_answers);
    return CX_DONE();
}
