/* test_jwt_strict.c: every refusal of the strict HS256 verifier (cx_jwt_verify,
 * cx_jwt_verify_ring), each next to a token that differs only in the refused
 * detail and is accepted, so a refusal is never an accident of the forgery. */
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "cx_crypto.h"
#include "cx_jwt.h"
#include "cx_test.h"

#define KEY "strict-test-key"
#define NOW 1700000000LL

/* base64url of n bytes, unpadded; malloced. */
static char *b64(const char *s, size_t n)
{
    return cx_b64url_encode(s, n);
}

/* hseg.pseg.<HMAC(key, hseg.pseg)> with the segments given already encoded. */
static char *sign_raw(const char *hseg, const char *pseg, const char *key)
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    size_t n = strlen(hseg) + strlen(pseg) + 2;
    char *in = malloc(n);
    snprintf(in, n, "%s.%s", hseg, pseg);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, strlen(key));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)in, strlen(in));
    crypto_auth_hmacsha256_final(&st, mac);
    char *sig = b64((const char *)mac, sizeof mac);
    size_t m = n + strlen(sig) + 1;
    char *tok = malloc(m);
    snprintf(tok, m, "%s.%s", in, sig);
    free(in);
    free(sig);
    return tok;
}

/* A token for a JSON header and payload, signed with key. */
static char *forge(const char *header, const char *payload, const char *key)
{
    char *h = b64(header, strlen(header));
    char *p = b64(payload, strlen(payload));
    char *t = sign_raw(h, p, key);
    free(h);
    free(p);
    return t;
}

static cx_status verify(const char *tok)
{
    json_t *c = NULL;
    cx_status s = cx_jwt_verify(tok, KEY, strlen(KEY), NOW, 5, &c);
    CX_CHECK((s == CX_OK) == (c != NULL));
    json_decref(c);
    return s;
}

#define GOOD_H "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define GOOD_P "{\"sub\":\"x\",\"exp\":1700000060}"

static void test_header_refusals(void)
{
    static const struct {
        const char *header;
        cx_status want;
    } cases[] = {
        {GOOD_H, CX_OK},
        {"{\"alg\":\"HS256\"}", CX_OK},                           /* typ is optional */
        {"{\"typ\":\"jwt\",\"alg\":\"HS256\"}", CX_OK},           /* any case, any order */
        {"{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":7}", CX_OK}, /* odd kid: no kid */
        {"{\"alg\":\"none\",\"typ\":\"JWT\"}", CX_ERR_INVALID_TOKEN},
        {"{\"alg\":\"hs256\"}", CX_ERR_INVALID_TOKEN},
        {"{\"alg\":\"HS384\"}", CX_ERR_INVALID_TOKEN},
        {"{\"alg\":\"HS512\"}", CX_ERR_INVALID_TOKEN},
        {"{\"alg\":\"RS256\"}", CX_ERR_INVALID_TOKEN},
        {"{\"alg\":\"ES256\"}", CX_ERR_INVALID_TOKEN},
        {"{\"alg\":[\"HS256\"]}", CX_ERR_INVALID_TOKEN},
        {"{\"alg\":\"HS256\\u0000\"}", CX_ERR_INVALID_TOKEN},
        {"{\"typ\":\"JWT\"}", CX_ERR_INVALID_TOKEN},                   /* no alg */
        {"{\"alg\":\"HS256\",\"typ\":\"JWS\"}", CX_ERR_INVALID_TOKEN}, /* other typ */
        {"{\"alg\":\"HS256\",\"typ\":1}", CX_ERR_INVALID_TOKEN},
        {"{\"alg\":\"HS256\",\"alg\":\"HS256\"}", CX_ERR_INVALID_TOKEN}, /* duplicate */
        {"{\"alg\":\"none\",\"alg\":\"HS256\"}", CX_ERR_INVALID_TOKEN},
        {"[\"HS256\"]", CX_ERR_INVALID_TOKEN},
        {"\"HS256\"", CX_ERR_INVALID_TOKEN},
        {"{\"alg\":\"HS256\"", CX_ERR_INVALID_TOKEN}, /* truncated JSON */
        {"{\"alg\":\"HS256\"} x", CX_ERR_INVALID_TOKEN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = forge(cases[i].header, GOOD_P, KEY);
        cx_status s = verify(t);
        if (s != cases[i].want)
            fprintf(stderr, "  header case %zu: %s\n", i, cases[i].header);
        CX_CHECK_INT(s, cases[i].want);
        free(t);
    }
}

static void test_payload_refusals(void)
{
    static const struct {
        const char *payload;
        cx_status want;
    } cases[] = {
        {GOOD_P, CX_OK},
        {"{\"exp\":1700000060,\"nbf\":1700000004}", CX_OK}, /* nbf within leeway */
        {"{\"exp\":1699999996}", CX_OK},                    /* exp within leeway */
        {"{\"exp\":1700000060.5}", CX_OK},
        {"{\"exp\":1699999995}", CX_ERR_INVALID_TOKEN}, /* expired (leeway 5) */
        {"{\"exp\":1700000060,\"nbf\":1700000006}", CX_ERR_INVALID_TOKEN}, /* not yet */
        {"{\"exp\":1700000060,\"nbf\":\"0\"}", CX_ERR_INVALID_TOKEN},
        {"{\"exp\":1700000060,\"nbf\":null}", CX_ERR_INVALID_TOKEN},
        {"{\"sub\":\"x\"}", CX_ERR_INVALID_TOKEN},          /* no exp */
        {"{\"exp\":\"1700000060\"}", CX_ERR_INVALID_TOKEN}, /* string exp */
        {"{\"exp\":null}", CX_ERR_INVALID_TOKEN},
        {"{\"exp\":true}", CX_ERR_INVALID_TOKEN},
        {"{\"exp\":1,\"exp\":1700000060}", CX_ERR_INVALID_TOKEN}, /* duplicate */
        {"[1700000060]", CX_ERR_INVALID_TOKEN},
        {"1700000060", CX_ERR_INVALID_TOKEN},
        {"{\"exp\":1700000060", CX_ERR_INVALID_TOKEN},
        {"{\"exp\":1700000060}{}", CX_ERR_INVALID_TOKEN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = forge(GOOD_H, cases[i].payload, KEY);
        cx_status s = verify(t);
        if (s != cases[i].want)
            fprintf(stderr, "  payload case %zu: %s\n", i, cases[i].payload);
        CX_CHECK_INT(s, cases[i].want);
        free(t);
    }
}

/* Replaces the signature segment of tok with sig (a new token). */
static char *with_sig(const char *tok, const char *sig)
{
    size_t keep = (size_t)(strrchr(tok, '.') - tok) + 1;
    char *t = malloc(keep + strlen(sig) + 1);
    memcpy(t, tok, keep);
    strcpy(t + keep, sig);
    return t;
}

static void test_form_refusals(void)
{
    char *good = forge(GOOD_H, GOOD_P, KEY);
    CX_CHECK_INT(verify(good), CX_OK);
    const char *sig = strrchr(good, '.') + 1;
    CX_CHECK_INT(strlen(sig), 43);

    /* the signature: other key, one bit, padding, wrong length, other alphabet,
     * a non-canonical last character (same bytes, non-zero trailing bits) */
    char *t = forge(GOOD_H, GOOD_P, "another-key");
    CX_CHECK_INT(verify(t), CX_ERR_INVALID_TOKEN);
    free(t);
    char buf[128];
    snprintf(buf, sizeof buf, "%s", sig);
    buf[0] = buf[0] == 'A' ? 'B' : 'A';
    t = with_sig(good, buf);
    CX_CHECK_INT(verify(t), CX_ERR_INVALID_TOKEN);
    free(t);
    snprintf(buf, sizeof buf, "%s=", sig);
    t = with_sig(good, buf);
    CX_CHECK_INT(verify(t), CX_ERR_INVALID_TOKEN);
    free(t);
    snprintf(buf, sizeof buf, "%.42s", sig);
    t = with_sig(good, buf);
    CX_CHECK_INT(verify(t), CX_ERR_INVALID_TOKEN);
    free(t);
    snprintf(buf, sizeof buf, "%sA", sig);
    t = with_sig(good, buf);
    CX_CHECK_INT(verify(t), CX_ERR_INVALID_TOKEN);
    free(t);
    snprintf(buf, sizeof buf, "%s", sig);
    for (char *c = buf; *c; c++)
        *c = *c == '-' ? '+' : *c == '_' ? '/' : *c;
    t = with_sig(good, buf);
    CX_CHECK_INT(verify(t), strcmp(buf, sig) == 0 ? CX_OK : CX_ERR_INVALID_TOKEN);
    free(t);
    {
        /* last of 43 characters carries 2 bits of padding that must be 0 */
        static const char alpha[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        snprintf(buf, sizeof buf, "%s", sig);
        int v = (int)(strchr(alpha, buf[42]) - alpha);
        buf[42] = alpha[v | 1];
        t = with_sig(good, buf);
        CX_CHECK_INT(verify(t), CX_ERR_INVALID_TOKEN);
        free(t);
    }
    t = with_sig(good, "");
    CX_CHECK_INT(verify(t), CX_ERR_INVALID_TOKEN);
    free(t);

    /* the header and payload segments: padding, whitespace, other alphabet,
     * a non-canonical spelling of the same bytes (signed correctly) */
    char *h = b64(GOOD_H, strlen(GOOD_H));
    char *p = b64(GOOD_P, strlen(GOOD_P));
    char seg[256];
    snprintf(seg, sizeof seg, "%s=", p);
    t = sign_raw(h, seg, KEY);
    CX_CHECK_INT(verify(t), CX_ERR_INVALID_TOKEN);
    free(t);
    snprintf(seg, sizeof seg, "%s=", h);
    t = sign_raw(seg, p, KEY);
    CX_CHECK_INT(verify(t), CX_ERR_INVALID_TOKEN);
    free(t);
    snprintf(seg, sizeof seg, " %s", p);
    t = sign_raw(h, seg, KEY);
    CX_CHECK_INT(verify(t), CX_ERR_INVALID_TOKEN);
    free(t);
    snprintf(seg, sizeof seg, "%s+", p);
    t = sign_raw(h, seg, KEY);
    CX_CHECK_INT(verify(t), CX_ERR_INVALID_TOKEN);
    free(t);
    snprintf(seg, sizeof seg, "%sA", p); /* length 1 mod 4 after the segment */
    if (strlen(seg) % 4 == 1) {
        t = sign_raw(h, seg, KEY);
        CX_CHECK_INT(verify(t), CX_ERR_INVALID_TOKEN);
        free(t);
    }
    t = sign_raw(h, "", KEY);
    CX_CHECK_INT(verify(t), CX_ERR_INVALID_TOKEN);
    free(t);
    t = sign_raw("", p, KEY);
    CX_CHECK_INT(verify(t), CX_ERR_INVALID_TOKEN);
    free(t);

    /* shape: segments missing or extra, empty, NULL, too long */
    snprintf(buf, sizeof buf, "%s.%s", h, p);
    CX_CHECK_INT(verify(buf), CX_ERR_INVALID_TOKEN);
    size_t n = strlen(good) + 8;
    char *extra = malloc(n);
    snprintf(extra, n, "%s.", good);
    CX_CHECK_INT(verify(extra), CX_ERR_INVALID_TOKEN);
    snprintf(extra, n, "%s.%s", good, sig);
    CX_CHECK_INT(verify(extra), CX_ERR_INVALID_TOKEN);
    free(extra);
    CX_CHECK_INT(verify(""), CX_ERR_INVALID_TOKEN);
    CX_CHECK_INT(verify(".."), CX_ERR_INVALID_TOKEN);
    CX_CHECK_INT(verify("garbage"), CX_ERR_INVALID_TOKEN);
    CX_CHECK_INT(verify(NULL), CX_ERR_INVALID_TOKEN);
    json_t *c = NULL;
    CX_CHECK_INT(cx_jwt_verify(good, KEY, 0, NOW, 5, &c), CX_ERR_INVALID_TOKEN);
    CX_CHECK_INT(cx_jwt_verify(good, NULL, 3, NOW, 5, &c), CX_ERR_INVALID_TOKEN);
    CX_CHECK(c == NULL);
    {
        /* a correctly signed token over the 8192-character limit */
        size_t big = 9000;
        char *pl = malloc(big + 64);
        int k = snprintf(pl, big + 64, "{\"exp\":1700000060,\"pad\":\"");
        memset(pl + k, 'a', big);
        strcpy(pl + k + big, "\"}");
        t = forge(GOOD_H, pl, KEY);
        CX_CHECK(strlen(t) > 8192);
        CX_CHECK_INT(verify(t), CX_ERR_INVALID_TOKEN);
        free(t);
        free(pl);
    }
    free(h);
    free(p);
    free(good);
}

/* The ring: a kid selects exactly one key, an unknown kid none, no kid
 * every key in order; the fast path for our own kid header agrees with
 * the JSON path for the same header spelled differently. */
static void test_ring(void)
{
    cx_jwt_keyring ring;
    CX_CHECK_INT(cx_jwt_keyring_init(&ring, "key-new", "key-old"), CX_OK);
    json_t *claims = json_pack("{s:s, s:I}", "sub", "x", "exp", (json_int_t)(NOW + 60));
    char *tn = NULL, *c1 = NULL;
    CX_CHECK_INT(cx_jwt_sign_key(claims, &ring.keys[1], &tn), CX_OK); /* kid of key-old */
    json_t *out = NULL;
    CX_CHECK_INT(cx_jwt_verify_ring(tn, &ring, NOW, 5, &out), CX_OK);
    json_decref(out);
    out = NULL;

    char hdr[160];
    /* same kid, keys in another order: JSON path */
    snprintf(hdr, sizeof hdr, "{\"kid\":\"%s\",\"typ\":\"JWT\",\"alg\":\"HS256\"}",
             ring.keys[1].kid);
    c1 = forge(hdr, GOOD_P, "key-old");
    CX_CHECK_INT(cx_jwt_verify_ring(c1, &ring, NOW, 5, &out), CX_OK);
    json_decref(out);
    out = NULL;
    free(c1);
    /* a kid naming key-new on a token signed by key-old: only key-new is tried */
    snprintf(hdr, sizeof hdr, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             ring.keys[0].kid);
    c1 = forge(hdr, GOOD_P, "key-old");
    CX_CHECK_INT(cx_jwt_verify_ring(c1, &ring, NOW, 5, &out), CX_ERR_INVALID_TOKEN);
    free(c1);
    /* an unknown kid (upper-case hex is another kid) */
    snprintf(hdr, sizeof hdr, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             "ABCDEF0123456789");
    c1 = forge(hdr, GOOD_P, "key-old");
    CX_CHECK_INT(cx_jwt_verify_ring(c1, &ring, NOW, 5, &out), CX_ERR_INVALID_TOKEN);
    free(c1);
    /* no kid: every key, in order */
    c1 = forge(GOOD_H, GOOD_P, "key-old");
    CX_CHECK_INT(cx_jwt_verify_ring(c1, &ring, NOW, 5, &out), CX_OK);
    json_decref(out);
    out = NULL;
    free(c1);
    c1 = forge(GOOD_H, GOOD_P, "key-gone");
    CX_CHECK_INT(cx_jwt_verify_ring(c1, &ring, NOW, 5, &out), CX_ERR_INVALID_TOKEN);
    free(c1);
    /* a valid signature does not rescue a bad header or an expired payload */
    snprintf(hdr, sizeof hdr, "{\"alg\":\"HS512\",\"kid\":\"%s\"}", ring.keys[1].kid);
    c1 = forge(hdr, GOOD_P, "key-old");
    CX_CHECK_INT(cx_jwt_verify_ring(c1, &ring, NOW, 5, &out), CX_ERR_INVALID_TOKEN);
    free(c1);
    CX_CHECK_INT(cx_jwt_verify_ring(tn, &ring, NOW + 100, 5, &out), CX_ERR_INVALID_TOKEN);
    CX_CHECK_INT(cx_jwt_verify_ring(NULL, &ring, NOW, 5, &out), CX_ERR_INVALID_TOKEN);
    CX_CHECK(out == NULL);
    free(tn);
    json_decref(claims);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    CX_RUN(test_header_refusals);
    CX_RUN(test_payload_refusals);
    CX_RUN(test_form_refusals);
    CX_RUN(test_ring);
    return CX_DONE();
}
