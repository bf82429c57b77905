/* cx_crypto.c: libsodium helpers. */
#include "cx_crypto.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cx_status cx_crypto_init(void)
{
    return sodium_init() < 0 ? CX_ERR_INTERNAL : CX_OK;
}

size_t cx_b64url_len(size_t n)
{
    return (n / 3) * 4 + (n % 3 ? n % 3 + 1 : 0);
}

cx_status cx_random_token(char *out, size_t outlen, size_t nbytes)
{
    unsigned char buf[256];
    if (nbytes == 0 || nbytes > sizeof buf || outlen < cx_b64url_len(nbytes) + 1)
        return CX_ERR_INTERNAL;
    randombytes_buf(buf, nbytes);
    sodium_bin2base64(out, outlen, buf, nbytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(buf, sizeof buf);
    return CX_OK;
}

cx_status cx_random_hex(char *out, size_t outlen, size_t nbytes)
{
    unsigned char buf[128];
    if (nbytes == 0 || nbytes > sizeof buf || outlen < 2 * nbytes + 1)
        return CX_ERR_INTERNAL;
    randombytes_buf(buf, nbytes);
    sodium_bin2hex(out, outlen, buf, nbytes);
    return CX_OK;
}

void cx_uuid_v4(char out[37])
{
    unsigned char b[16];
    randombytes_buf(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}

bool cx_uuid_valid(const char *s, size_t len)
{
    if (!s || len != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        char c = s[i];
        bool dash = (i == 8 || i == 13 || i == 18 || i == 23);
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (dash ? c != '-' : !hex)
            return false;
    }
    return true;
}

bool cx_uuid_valid_str(const char *s)
{
    return s && cx_uuid_valid(s, strlen(s));
}

void cx_sha256(const void *data, size_t len, uint8_t out[32])
{
    crypto_hash_sha256(out, (const unsigned char *)data, len);
}

void cx_sha256_b64(const void *data, size_t len, char out[45])
{
    uint8_t h[32];
    cx_sha256(data, len, h);
    sodium_bin2base64(out, 45, h, sizeof h, sodium_base64_VARIANT_ORIGINAL);
}

void cx_sha256_hex(const void *data, size_t len, char out[65])
{
    uint8_t h[32];
    cx_sha256(data, len, h);
    sodium_bin2hex(out, 65, h, sizeof h);
}

bool cx_ct_equal(const void *a, const void *b, size_t n)
{
    return sodium_memcmp(a, b, n) == 0;
}

bool cx_ct_streq(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    size_t la = strlen(a), lb = strlen(b);
    /* Compare hashes so the time does not depend on where they differ,
     * nor leak the secret's length through an early exit. */
    uint8_t ha[32], hb[32];
    cx_sha256(a, la, ha);
    cx_sha256(b, lb, hb);
    return (sodium_memcmp(ha, hb, 32) == 0) & (la == lb);
}

static char *b64(const void *data, size_t len, int variant)
{
    size_t cap = sodium_base64_encoded_len(len, variant);
    char *s = malloc(cap);
    if (s)
        sodium_bin2base64(s, cap, (const unsigned char *)data, len, variant);
    return s;
}

char *cx_b64_encode(const void *data, size_t len)
{
    return b64(data, len, sodium_base64_VARIANT_ORIGINAL);
}

char *cx_b64url_encode(const void *data, size_t len)
{
    return b64(data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}
