/* test_jwt.c: HS256 sign/verify and Calixio access tokens. */
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "cx_auth.h"
#include "cx_crypto.h"
#include "cx_jwt.h"
#include "cx_test.h"
#include "cx_time.h"

#define SECRET "secret"

/* Builds header.payload.signature by hand so tests can forge tokens. */
static char *forge(const char *header, const char *payload, const char *key)
{
    char *h = cx_b64url_encode(header, strlen(header));
    char *p = cx_b64url_encode(payload, strlen(payload));
    size_t n = strlen(h) + strlen(p) + 2;
    char *input = malloc(n);
    snprintf(input, n, "%s.%s", h, p);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, strlen(key));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)input, strlen(input));
    crypto_auth_hmacsha256_final(&st, mac);
    char *sig = cx_b64url_encode(mac, sizeof mac);
    size_t m = strlen(input) + strlen(sig) + 2;
    char *tok = malloc(m);
    snprintf(tok, m, "%s.%s", input, sig);
    free(h);
    free(p);
    free(input);
    free(sig);
    return tok;
}

/* The LiveKit FACTS test vector: cx_jwt_verify must verify a token minted elsewhere. */
static void test_known_vector(void)
{
    const char *tok =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJkZXZrZXkiLCJzdWIiOiJhbGljZSIsImV4cCI6MTcwMDAwMzYwMCwibmJmIjoxNzAwMDAwMDAwLCJpYXQiOjE3MDAwMDAwMDAsIm5hbWUiOiJBbGljZSIsInZpZGVvIjp7InJvb21Kb2luIjp0cnVlLCJyb29tIjoicjEiLCJjYW5QdWJsaXNoIjp0cnVlLCJjYW5TdWJzY3JpYmUiOnRydWV9fQ.m0HZNhgP-g5DmvUvSYRqr0-Crdudd4ivgkgaTvutDbI";
    json_t *c = NULL;
    CX_CHECK_INT(cx_jwt_verify(tok, SECRET, 6, 1700000100, 0, &c), CX_OK);
    CX_CHECK_STR(json_string_value(json_object_get(c, "sub")), "alice");
    json_decref(c);
    c = NULL;
    CX_CHECK_INT(cx_jwt_verify(tok, "wrong", 5, 1700000100, 0, &c), CX_ERR_INVALID_TOKEN);
    CX_CHECK_INT(cx_jwt_verify(tok, SECRET, 6, 1700003600, 0, &c),
                 CX_ERR_INVALID_TOKEN);                                     /* expired */
    CX_CHECK_INT(cx_jwt_verify(tok, SECRET, 6, 1700003600, 10, &c), CX_OK); /* leeway */
    json_decref(c);
    c = NULL;
    CX_CHECK_INT(cx_jwt_verify(tok, SECRET, 6, 1699999000, 10, &c),
                 CX_ERR_INVALID_TOKEN); /* nbf */
    CX_CHECK(c == NULL);
}

/* Signing the FACTS payload must give the FACTS token byte for byte. */
static void test_sign_known_vector(void)
{
    const char *payload =
        "{\"iss\":\"devkey\",\"sub\":\"alice\",\"exp\":1700003600,\"nbf\":1700000000,\"iat\":1700000000,\"name\":\"Alice\",\"video\":{\"roomJoin\":true,\"room\":\"r1\",\"canPublish\":true,\"canSubscribe\":true}}";
    const char *want =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJkZXZrZXkiLCJzdWIiOiJhbGljZSIsImV4cCI6MTcwMDAwMzYwMCwibmJmIjoxNzAwMDAwMDAwLCJpYXQiOjE3MDAwMDAwMDAsIm5hbWUiOiJBbGljZSIsInZpZGVvIjp7InJvb21Kb2luIjp0cnVlLCJyb29tIjoicjEiLCJjYW5QdWJsaXNoIjp0cnVlLCJjYW5TdWJzY3JpYmUiOnRydWV9fQ.m0HZNhgP-g5DmvUvSYRqr0-Crdudd4ivgkgaTvutDbI";
    json_t *claims = json_loads(payload, 0, NULL);
    char *tok = NULL;
    CX_CHECK_INT(cx_jwt_sign(claims, SECRET, 6, &tok), CX_OK);
    CX_CHECK_STR(tok, want);
    free(tok);
    json_decref(claims);
}

static void test_sign_then_verify(void)
{
    json_t *claims = json_pack("{s:s, s:I, s:{s:b}}", "iss", "devkey", "exp",
                               (json_int_t)(cx_now_s() + 60), "video", "roomJoin", 1);
    char *tok = NULL;
    CX_CHECK_INT(cx_jwt_sign(claims, SECRET, 6, &tok), CX_OK);
    CX_CHECK(tok && strchr(tok, '=') == NULL); /* unpadded */
    json_t *back = NULL;
    CX_CHECK_INT(cx_jwt_verify(tok, SECRET, 6, cx_now_s(), 0, &back), CX_OK);
    CX_CHECK(json_is_true(json_object_get(json_object_get(back, "video"), "roomJoin")));
    CX_CHECK(json_is_integer(json_object_get(back, "exp")));
    json_decref(back);
    json_decref(claims);
    free(tok);
}

static void test_refused_tokens(void)
{
    json_t *c = NULL;
    long long now = (long long)cx_now_s();
    char payload[256];
    snprintf(payload, sizeof payload, "{\"sub\":\"x\",\"exp\":%lld}", now + 60);

    char *t = forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, SECRET);
    *strrchr(t, '.') = '\0';
    char none[1024];
    snprintf(none, sizeof none, "%s.", t);
    CX_CHECK_INT(cx_jwt_verify(none, SECRET, 6, now, 5, &c), CX_ERR_INVALID_TOKEN);
    free(t);

    t = forge("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", payload, SECRET);
    CX_CHECK_INT(cx_jwt_verify(t, SECRET, 6, now, 5, &c), CX_ERR_INVALID_TOKEN);
    free(t);
    t = forge("{\"alg\":\"RS256\"}", payload, SECRET);
    CX_CHECK_INT(cx_jwt_verify(t, SECRET, 6, now, 5, &c), CX_ERR_INVALID_TOKEN);
    free(t);

    t = forge("{\"alg\":\"HS256\"}", payload, SECRET);
    CX_CHECK_INT(cx_jwt_verify(t, SECRET, 6, now, 5, &c), CX_OK);
    json_decref(c);
    c = NULL;
    /* tampered payload, same signature */
    char *dot = strchr(t, '.');
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    CX_CHECK_INT(cx_jwt_verify(t, SECRET, 6, now, 5, &c), CX_ERR_INVALID_TOKEN);
    free(t);

    t = forge("{\"alg\":\"HS256\"}", "{\"sub\":\"x\"}", SECRET); /* no exp */
    CX_CHECK_INT(cx_jwt_verify(t, SECRET, 6, now, 5, &c), CX_ERR_INVALID_TOKEN);
    free(t);
    t = forge("{\"alg\":\"HS256\"}", "{\"sub\":\"x\",\"exp\":\"9999999999\"}", SECRET);
    CX_CHECK_INT(cx_jwt_verify(t, SECRET, 6, now, 5, &c), CX_ERR_INVALID_TOKEN);
    free(t);
    snprintf(payload, sizeof payload, "{\"exp\":%lld,\"nbf\":%lld}", now + 600, now + 300);
    t = forge("{\"alg\":\"HS256\"}", payload, SECRET); /* not yet valid */
    CX_CHECK_INT(cx_jwt_verify(t, SECRET, 6, now, 5, &c), CX_ERR_INVALID_TOKEN);
    free(t);
    CX_CHECK_INT(cx_jwt_verify("garbage", SECRET, 6, now, 5, &c), CX_ERR_INVALID_TOKEN);
    CX_CHECK_INT(cx_jwt_verify("a.b.c", SECRET, 6, now, 5, &c), CX_ERR_INVALID_TOKEN);
    CX_CHECK_INT(cx_jwt_verify("", SECRET, 6, now, 5, &c), CX_ERR_INVALID_TOKEN);
    CX_CHECK(c == NULL);
}

static void test_access_tokens(void)
{
    cx_auth_cfg cfg = {"calixio-secret", "calixio", "calixio", 5, NULL, NULL};
    char *tok = NULL, jti[64], hdr[2048];
    cx_caller who;
    CX_CHECK_INT(cx_auth_mint(&cfg, "u-1", "Zoë", "s-1", cx_now_s(), 60, &tok, jti), CX_OK);
    snprintf(hdr, sizeof hdr, "Bearer %s", tok);
    memset(&who, 0, sizeof who);
    CX_CHECK_INT(cx_auth_verify_header(&cfg, NULL, hdr, &who), CX_OK);
    CX_CHECK(who.authenticated);
    CX_CHECK_STR(who.user_id, "u-1");
    CX_CHECK_STR(who.username, "Zoë");
    CX_CHECK_STR(who.session_id, "s-1");
    CX_CHECK_STR(who.jti, jti);
    CX_CHECK_INT(cx_auth_verify_header(&cfg, NULL, NULL, &who), CX_ERR_MISSING_AUTH);
    CX_CHECK_INT(cx_auth_verify_header(&cfg, NULL, "", &who), CX_ERR_MISSING_AUTH);
    CX_CHECK_INT(cx_auth_verify_header(&cfg, NULL, tok, &who), CX_ERR_INVALID_AUTH);
    CX_CHECK_INT(cx_auth_verify_header(&cfg, NULL, "Bearer ", &who), CX_ERR_INVALID_AUTH);
    CX_CHECK_INT(cx_auth_verify_header(&cfg, NULL, "bearer x", &who), CX_ERR_INVALID_AUTH);
    cx_auth_cfg other_aud = {"calixio-secret", "calixio", "elsewhere", 5, NULL, NULL};
    CX_CHECK_INT(cx_auth_verify_header(&other_aud, NULL, hdr, &who), CX_ERR_INVALID_TOKEN);
    cx_auth_cfg other_secret = {"another-secret", "calixio", "calixio", 5, NULL, NULL};
    CX_CHECK_INT(cx_auth_verify_header(&other_secret, NULL, hdr, &who), CX_ERR_INVALID_TOKEN);
    free(tok);
}

/* Key rotation: the current key signs with its kid; a previous key still
 * verifies its tokens; a key dropped from the ring is refused; a token
 * without kid (minted before kids) is tried with every key. */
static void test_key_rotation(void)
{
    cx_jwt_keyring old_ring, new_ring, dropped;
    CX_CHECK_INT(cx_jwt_keyring_init(&old_ring, "key-A", NULL), CX_OK);
    CX_CHECK_INT(cx_jwt_keyring_init(&new_ring, "key-B", " key-A , ,key-0"), CX_OK);
    CX_CHECK_INT(new_ring.n, 3);
    CX_CHECK_INT(cx_jwt_keyring_init(&dropped, "key-B", ""), CX_OK);
    CX_CHECK_INT(cx_jwt_keyring_init(&dropped, "", "x"), CX_ERR_CONFIG);
    CX_CHECK_INT(cx_jwt_keyring_init(&dropped, "key-B", "1,2,3,4,5,6,7,8"), CX_ERR_CONFIG);
    CX_CHECK_INT(cx_jwt_keyring_init(&dropped, "key-B", NULL), CX_OK);
    CX_CHECK_STR(old_ring.keys[0].kid, new_ring.keys[1].kid);
    CX_CHECK(strcmp(new_ring.keys[0].kid, new_ring.keys[1].kid) != 0);
    CX_CHECK_INT((long long)strlen(new_ring.keys[0].kid), CX_JWT_KID_LEN);

    cx_auth_cfg a = {"key-A", "calixio", "calixio", 5, &old_ring, NULL};
    cx_auth_cfg b = {"key-B", "calixio", "calixio", 5, &new_ring, NULL};
    cx_auth_cfg d = {"key-B", "calixio", "calixio", 5, &dropped, NULL};
    cx_auth_cfg legacy = {"key-A", "calixio", "calixio", 5, NULL, NULL};
    char *ta = NULL, *tb = NULL, *tl = NULL, jti[64], h[2048], kid[64];
    cx_caller who;
    CX_CHECK_INT(cx_auth_mint(&a, "u", "U", "s", cx_now_s(), 60, &ta, jti), CX_OK);
    CX_CHECK_INT(cx_auth_mint(&b, "u", "U", "s", cx_now_s(), 60, &tb, jti), CX_OK);
    CX_CHECK_INT(cx_auth_mint(&legacy, "u", "U", "s", cx_now_s(), 60, &tl, jti), CX_OK);
    CX_CHECK(cx_jwt_header_kid(tb, kid, sizeof kid));
    CX_CHECK_STR(kid, new_ring.keys[0].kid);
    CX_CHECK(!cx_jwt_header_kid(tl, kid, sizeof kid));
    snprintf(h, sizeof h, "Bearer %s", ta);
    CX_CHECK_INT(cx_auth_verify_header(&b, NULL, h, &who), CX_OK); /* old token, rotated ring */
    CX_CHECK_INT(cx_auth_verify_header(&d, NULL, h, &who),
                 CX_ERR_INVALID_TOKEN); /* key dropped */
    snprintf(h, sizeof h, "Bearer %s", tb);
    CX_CHECK_INT(cx_auth_verify_header(&b, NULL, h, &who), CX_OK);
    CX_CHECK_INT(cx_auth_verify_header(&d, NULL, h, &who), CX_OK);
    CX_CHECK_INT(cx_auth_verify_header(&a, NULL, h, &who),
                 CX_ERR_INVALID_TOKEN); /* unknown kid */
    snprintf(h, sizeof h, "Bearer %s", tl);
    CX_CHECK_INT(cx_auth_verify_header(&b, NULL, h, &who), CX_OK); /* no kid: every key tried */
    CX_CHECK_INT(cx_auth_verify_header(&d, NULL, h, &who), CX_ERR_INVALID_TOKEN);
    int tries = -1;
    CX_CHECK(cx_jwt_keyring_select(&new_ring, "0000000000000000", &tries) == NULL);
    CX_CHECK_INT(tries, 0);
    CX_CHECK(cx_jwt_keyring_select(&new_ring, new_ring.keys[2].kid, &tries) ==
             &new_ring.keys[2]);
    CX_CHECK_INT(tries, 1);
    free(ta);
    free(tb);
    free(tl);
}

static void test_crypto_helpers(void)
{
    char t1[64], t2[64], hex[40], uuid[37], b64[45];
    CX_CHECK_INT(cx_random_token(t1, sizeof t1, 32), CX_OK);
    CX_CHECK_INT(cx_random_token(t2, sizeof t2, 32), CX_OK);
    CX_CHECK_INT(strlen(t1), 43);
    CX_CHECK(strcmp(t1, t2) != 0);
    CX_CHECK(strspn(t1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
             43);
    CX_CHECK_INT(cx_random_token(t1, 10, 32), CX_ERR_INTERNAL);
    CX_CHECK_INT(cx_random_hex(hex, sizeof hex, 16), CX_OK);
    CX_CHECK_INT(strlen(hex), 32);
    cx_uuid_v4(uuid);
    CX_CHECK_INT(strlen(uuid), 36);
    CX_CHECK(uuid[14] == '4' && uuid[8] == '-' && strchr("89ab", uuid[19]));
    cx_sha256_b64("", 0, b64);
    CX_CHECK_STR(b64, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    CX_CHECK(cx_ct_streq("abc", "abc"));
    CX_CHECK(!cx_ct_streq("abc", "abd"));
    CX_CHECK(!cx_ct_streq("abc", "abcd"));
    CX_CHECK(!cx_ct_streq(NULL, "a"));
    CX_CHECK(cx_ct_equal("xyz", "xyz", 3));
    CX_CHECK(!cx_ct_equal("xyz", "xya", 3));
}

int main(void)
{
    cx_crypto_init();
    CX_RUN(test_known_vector);
    CX_RUN(test_sign_known_vector);
    CX_RUN(test_sign_then_verify);
    CX_RUN(test_refused_tokens);
    CX_RUN(test_access_tokens);
    CX_RUN(test_key_rotation);
    CX_RUN(test_crypto_helpers);
    return CX_DONE();
}
