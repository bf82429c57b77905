// CX_FUZZ_SOURCES: services/webhook/verify.c services/webhook/event.c
/* fuzz_webhook.c: libFuzzer target for the webhook verifier and event parser
 * (services/webhook/verify.c, event.c), outside the normal build.
 *
 * Built by tests/fuzz/run.sh (CMake -DCX_FUZZ=ON, sources from the line
 * above). By hand, from the repository root (needs the generated protobuf
 * headers of any build dir, e.g. build-webhook/gen):
 *
 *   clang -std=c17 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
 *     -fno-sanitize-recover=undefined -Ilibcommon -Ibuild-webhook/gen \
 *     $(pkg-config --cflags jansson libsodium libnats libpq hiredis libprotobuf-c) \
 *     tests/fuzz/fuzz_webhook.c services/webhook/verify.c services/webhook/event.c \
 *     libcommon/cx_jwt.c libcommon/cx_crypto.c \
 *     $(pkg-config --libs jansson libsodium) -o /tmp/fuzz_webhook
 *   /tmp/fuzz_webhook -max_total_time=30 -max_len=8192 tests/fuzz/corpus/webhook
 *
 * Input: "<Authorization>\n<body>" (no newline: all of it is the body).
 * Each input is
 *  1. verified as delivered (must not crash; a fuzzer cannot forge HMACs, so
 *     success is only possible for inputs that carry a token of the seed
 *     corpus, which are expired: success is a bug);
 *  2. signed correctly here and verified again: must succeed, and must fail
 *     with one flipped body byte or another secret;
 *  3. parsed as an event, checking the parser's invariants. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "cx_crypto.h"
#include "cx_jwt.h"
#include "../../services/webhook/webhook.h"

#define NOW 1800000000LL

static const wh_keys keys = {"devkey", "secret"};

static char *_sign(const uint8_t *body, size_t len, const char *secret)
{
    char sha[45], *tok = NULL;
    cx_sha256_b64(body, len, sha);
    json_t *c = json_pack("{s:s, s:I, s:I, s:I, s:s}", "iss", "devkey", "exp",
                          (json_int_t)(NOW + 300), "nbf", (json_int_t)NOW, "iat",
                          (json_int_t)NOW, "sha256", sha);
    if (!c || cx_jwt_sign(c, secret, strlen(secret), &tok) != CX_OK)
        abort();
    json_decref(c);
    return tok;
}

static void _check_event(const wh_event *ev)
{
    const char *strs[] = {ev->id,      ev->event,      ev->room_name, ev->room_sid,
                          ev->p_sid,   ev->p_identity, ev->p_name,    ev->p_kind,
                          ev->p_state, ev->track_sid,  ev->track_type};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (!strs[i])
            abort();
    if (!ev->event[0] || strlen(ev->room_name) > WH_MAX_ROOM || ev->created_at < 0 ||
        ev->p_joined_at < 0)
        abort();
    char tok[WH_MAX_ROOM + 1];
    wh_subject_token(ev->room_name, tok, sizeof tok);
    if (!tok[0] || strpbrk(tok, ". *>"))
        abort();
    (void)wh_event_is_recorder(ev);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sodium_init() < 0)
        abort();
    /* Self-check on the fixed vector of shared/livekit/FACTS.md (devkey/
     * secret, Go-style token minted at 1700000000, valid 300 s). */
    static const char body[] = "{\"event\":\"room_finished\",\"room\":{\"sid\":\"RM_abc\","
                               "\"name\":\"r1\"},\"id\":\"EV_x\",\"createdAt\":\"1700000000\"}";
    static const char tok[] =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJkZXZrZXkiLCJleHAiOjE3MDAwMDAzMDAsIm5iZiI6"
        "MTcwMDAwMDAwMCwiaWF0IjoxNzAwMDAwMDAwLCJzaGEyNTYiOiIvb1p0SE55MFZ5SnZDbUh2NHBnSjZrc2dUZU5i"
        "N0xXemh1UmxBZjZHSW9RPSJ9.W1zXeCAKhdrSzMg4fwWsfpRLOGWzGm1iRbLwg2psp-s";
    size_t n = sizeof body - 1;
    if (n != 98 ||
        wh_verify(tok, (const uint8_t *)body, n, &keys, 1700000000, 30, NULL) != CX_OK ||
        wh_verify(tok, (const uint8_t *)body, n, &keys, 1700000400, 30, NULL) == CX_OK) {
        fprintf(stderr, "fuzz_webhook: FACTS.md webhook vector does not verify\n");
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size < WH_MAX_AUTH ? size : WH_MAX_AUTH);
    const uint8_t *body = nl ? nl + 1 : data;
    size_t blen = nl ? size - (size_t)(nl + 1 - data) : size;
    char *auth = nl ? strndup((const char *)data, (size_t)(nl - data)) : strdup("");
    if (!auth)
        return 0;

    /* 1. as delivered */
    (void)wh_check_content_type(auth);
    if (wh_verify(auth, body, blen, &keys, NOW, 30, NULL) == CX_OK)
        abort();

    /* 2. correctly signed */
    char *tok = _sign(body, blen, "secret");
    if (wh_verify(tok, body, blen, &keys, NOW, 30, NULL) != CX_OK)
        abort();
    if (wh_verify(tok, body, blen, &keys, NOW + 400, 30, NULL) == CX_OK)
        abort(); /* expired */
    if (blen > 0) {
        uint8_t *alt = malloc(blen);
        memcpy(alt, body, blen);
        alt[blen / 2] ^= 0x01;
        if (wh_verify(tok, alt, blen, &keys, NOW, 30, NULL) == CX_OK)
            abort();
        free(alt);
    }
    free(tok);
    tok = _sign(body, blen, "other-secret");
    if (wh_verify(tok, body, blen, &keys, NOW, 30, NULL) == CX_OK)
        abort();
    free(tok);

    /* 3. parse */
    wh_event ev = {0};
    char err[160];
    if (wh_event_parse(body, blen, &ev, err, sizeof err) == CX_OK) {
        _check_event(&ev);
        wh_event_free(&ev);
    } else if (strlen(err) >= sizeof err) {
        abort();
    }
    free(auth);
    return 0;
}
