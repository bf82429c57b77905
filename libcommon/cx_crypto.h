/* cx_crypto: libsodium helpers. Call cx_crypto_init() once before use. */
#ifndef CX_CRYPTO_H
#define CX_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cx_status.h"

cx_status cx_crypto_init(void);

/* Writes a URL-safe base64 (no padding) encoding of nbytes random bytes into
 * out (NUL-terminated). outlen must be >= cx_b64url_len(nbytes) + 1. */
cx_status cx_random_token(char *out, size_t outlen, size_t nbytes);

/* Length of the unpadded base64url encoding of n bytes. */
size_t cx_b64url_len(size_t n);

/* Writes 2*nbytes lowercase hex characters of random bytes plus NUL. */
cx_status cx_random_hex(char *out, size_t outlen, size_t nbytes);

/* Random UUID v4 in canonical form into out[37]. */
void cx_uuid_v4(char out[37]);

/* True when s[0..len) is a UUID in canonical 8-4-4-4-12 hex form (either
 * case). NULL is false. */
bool cx_uuid_valid(const char *s, size_t len);

/* cx_uuid_valid for a NUL-terminated string; NULL is false. */
bool cx_uuid_valid_str(const char *s);

/* SHA-256 of data. */
void cx_sha256(const void *data, size_t len, uint8_t out[32]);

/* Standard base64 (with '=' padding) of SHA-256(data) into out[45]. */
void cx_sha256_b64(const void *data, size_t len, char out[45]);

/* Lowercase hex of SHA-256(data) into out[65]. */
void cx_sha256_hex(const void *data, size_t len, char out[65]);

/* Constant-time comparison of two buffers of length n. */
bool cx_ct_equal(const void *a, const void *b, size_t n);

/* Constant-time comparison of two NUL-terminated strings (time depends on
 * the lengths only). NULLs compare unequal. */
bool cx_ct_streq(const char *a, const char *b);

/* Standard base64 encode (padded) into a malloced string (caller frees). */
char *cx_b64_encode(const void *data, size_t len);

/* base64url (no padding) encode into a malloced string (caller frees). */
char *cx_b64url_encode(const void *data, size_t len);

#endif
