// libFuzzer target for libcommon/cx_json.c. Needs no CX_FUZZ_SOURCES line:
// cx_json.c is in cxcommon, so `tests/fuzz/run.sh 30` (CMake -DCX_FUZZ=ON)
// builds and runs it too. Stand-alone build (from the repo root, after a
// cmake build has generated build/gen/):
//   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE -I libcommon -I build/gen -o build/fuzz_json tests/fuzz/fuzz_json.c libcommon/cx_json.c build/gen/calixio/v1/*.pb-c.c -lprotobuf-c -ljansson -lm
// Run (new inputs go to the first directory; keep the seeds read-only):
//   mkdir -p /tmp/fuzz_json_corpus
//   build/fuzz_json -max_total_time=30 -max_len=4096 /tmp/fuzz_json_corpus tests/fuzz/corpus/json/
//
/* Each input is decoded as JSON into several message types; whatever decodes
 * is re-encoded, the text decoded again and re-encoded (it must be identical),
 * and packed/unpacked to protobuf binary (re-encoding must again be identical).
 * The same bytes are also fed to cx_pb_unpack as protobuf binary for each
 * type, and what unpacks is encoded to JSON. Any mismatch aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/auth.pb-c.h"
#include "calixio/v1/common.pb-c.h"
#include "calixio/v1/media.pb-c.h"
#include "calixio/v1/rooms.pb-c.h"
#include "calixio/v1/testing.pb-c.h"
#include "calixio/v1/webhook.pb-c.h"
#include "cx_json.h"

static const ProtobufCMessageDescriptor *const types[] = {
    &calixio__v1__codec_probe__descriptor,      &calixio__v1__probe_strict__descriptor,
    &calixio__v1__list_rooms_reply__descriptor, &calixio__v1__refresh_reply__descriptor,
    &calixio__v1__join_reply__descriptor,       &calixio__v1__error__descriptor,
    &calixio__v1__webhook_request__descriptor,  &calixio__v1__empty__descriptor,
};

static void _die(const char *what, const char *a, const char *b)
{
    fprintf(stderr, "fuzz_json: %s\n  first:  %s\n  second: %s\n", what, a ? a : "(null)",
            b ? b : "(null)");
    abort();
}

/* JSON text of m; aborts on failure (inputs are tiny, OOM is a bug here). */
static char *_enc(const ProtobufCMessage *m)
{
    size_t n = 0;
    char *txt = cx_json_encode(m, &n);

    if (!txt || strlen(txt) != n)
        _die("encode failed", txt, NULL);
    return txt;
}

static void _json_roundtrip(const ProtobufCMessageDescriptor *d, const uint8_t *data,
                            size_t size)
{
    ProtobufCMessage *m = NULL, *m2 = NULL, *m3 = NULL;
    char err[256], *t1, *t2, *t3;
    uint8_t *pb;
    size_t pblen = 0;
    cx_status st;

    if (cx_json_decode(d, (const char *)data, size, &m, err, sizeof err) != CX_OK)
        return;
    t1 = _enc(m);
    st = cx_json_decode(d, t1, strlen(t1), &m2, err, sizeof err);
    if (st != CX_OK)
        _die("re-decoding the encoder's own output failed", t1, err);
    t2 = _enc(m2);
    if (strcmp(t1, t2) != 0)
        _die("JSON round trip changed the text", t1, t2);
    pb = cx_pb_pack(m2, &pblen);
    if (!pb)
        _die("pack failed", t1, NULL);
    if (cx_pb_unpack(d, pb, pblen, &m3) != CX_OK)
        _die("unpacking our own pack failed", t1, NULL);
    t3 = _enc(m3);
    if (strcmp(t1, t3) != 0)
        _die("protobuf round trip changed the text", t1, t3);
    free(t3);
    free(pb);
    free(t2);
    free(t1);
    protobuf_c_message_free_unpacked(m3, NULL);
    protobuf_c_message_free_unpacked(m2, NULL);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void _pb_input(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t size)
{
    ProtobufCMessage *m = NULL;
    char *txt;

    if (cx_pb_unpack(d, data, size, &m) != CX_OK)
        return;
    txt = _enc(m);
    free(txt);
    protobuf_c_message_free_unpacked(m, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t i;

    for (i = 0; i < sizeof types / sizeof types[0]; i++) {
        _json_roundtrip(types[i], data, size);
        _pb_input(types[i], data, size);
    }
    return 0;
}
