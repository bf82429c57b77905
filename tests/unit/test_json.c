/* Unit tests for libcommon/cx_json.c (JSON <-> protobuf codec, pb pack/unpack).
 * Uses the test-only proto/calixio/v1/testing.proto for type coverage and the
 * service protos for the exact texts of the API contract. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/auth.pb-c.h"
#include "calixio/v1/common.pb-c.h"
#include "calixio/v1/media.pb-c.h"
#include "calixio/v1/rooms.pb-c.h"
#include "calixio/v1/testing.pb-c.h"
#include "cx_json.h"
#include "cx_test.h"

#define PROBE (&calixio__v1__codec_probe__descriptor)
#define STRICT (&calixio__v1__probe_strict__descriptor)

typedef Calixio__V1__CodecProbe Probe;

static char err[512];
static int sentinel_obj;
#define SENTINEL ((ProtobufCMessage *)(void *)&sentinel_obj)

/* Decodes s (strlen) and expects success; NULL (and a failed check) if not. */
static ProtobufCMessage *dec_ok(const ProtobufCMessageDescriptor *d, const char *s)
{
    ProtobufCMessage *m = NULL;
    cx_status st = cx_json_decode(d, s, strlen(s), &m, err, sizeof err);

    if (st != CX_OK) {
        fprintf(stderr, "    decode of %.200s failed: %d %s\n", s, (int)st, err);
        CX_CHECK(st == CX_OK);
        return NULL;
    }
    CX_CHECK(m != NULL);
    return m;
}

/* Decodes n bytes and expects status `want` with an error text containing
 * `want_err` (exact match when want_exact); *out must stay untouched. */
static int dec_fail_n(const ProtobufCMessageDescriptor *d, const char *s, size_t n,
                      cx_status want, const char *want_err, int want_exact)
{
    ProtobufCMessage *m = SENTINEL;
    cx_status st = cx_json_decode(d, s, n, &m, err, sizeof err);
    int ok = st == want && m == SENTINEL &&
             (want_exact ? strcmp(err, want_err) == 0 : strstr(err, want_err) != NULL);

    if (!ok) {
        fprintf(stderr, "    input %.120s: got status %d err '%s', want %d '%s'\n", s, (int)st,
                err, (int)want, want_err);
        if (st == CX_OK && m != SENTINEL)
            protobuf_c_message_free_unpacked(m, NULL);
    }
    return ok;
}

#define FAIL_EXACT(d, s, st, e) CX_CHECK(dec_fail_n((d), (s), strlen(s), (st), (e), 1))
#define FAIL_HAS(d, s, st, e) CX_CHECK(dec_fail_n((d), (s), strlen(s), (st), (e), 0))

/* Encodes m, compares with want, frees the text. */
static void check_enc(const ProtobufCMessage *m, const char *want, int line)
{
    size_t n = 0;
    char *txt = cx_json_encode(m, &n);

    if (!txt || strcmp(txt, want) != 0 || n != strlen(want))
        fprintf(stderr, "    line %d:\n    got:  %s\n    want: %s\n", line,
                txt ? txt : "(null)", want);
    CX_CHECK(txt && strcmp(txt, want) == 0 && n == strlen(want));
    free(txt);
}
#define CHECK_ENC(m, want) check_enc((const ProtobufCMessage *)(m), (want), __LINE__)

/* Decode `in`, encode, compare with `out` (in itself if out is NULL). */
static void roundtrip(const ProtobufCMessageDescriptor *d, const char *in, const char *out,
                      int line)
{
    ProtobufCMessage *m = dec_ok(d, in);

    if (!m) {
        fprintf(stderr, "    (roundtrip at line %d)\n", line);
        return;
    }
    check_enc(m, out ? out : in, line);
    protobuf_c_message_free_unpacked(m, NULL);
}
#define ROUNDTRIP(d, in, out) roundtrip((d), (in), (out), __LINE__)

/* All repeated fields of an otherwise empty CodecProbe (always emitted). */
#define EMPTY_REPEATED                                                             \
    "\"r_int32\":[],\"r_int64\":[],\"r_uint64\":[],\"r_double\":[],\"r_bool\":[]," \
    "\"r_string\":[],\"r_bytes\":[],\"r_enum\":[],\"r_leaf\":[],\"r_packed\":[]"

static const char full_probe[] =
    "{\"f_int32\":-2147483648,\"f_sint32\":-5,\"f_sfixed32\":2147483647,"
    "\"f_int64\":-9223372036854775808,\"f_sint64\":9223372036854775807,\"f_sfixed64\":-1,"
    "\"f_uint32\":4294967295,\"f_fixed32\":7,\"f_uint64\":\"18446744073709551615\","
    "\"f_fixed64\":9223372036854775807,\"f_float\":1.5,\"f_double\":-0.25,\"f_bool\":true,"
    "\"f_string\":\"h\xc3\xa9llo \\\"q\\\" \xe2\x9c\x93\",\"f_bytes\":\"AAEC/w==\","
    "\"f_enum\":\"PROBE_COLOR_NEGATIVE\",\"leaf\":{\"label\":\"x\",\"weight\":3},"
    "\"child\":{\"f_int32\":1," EMPTY_REPEATED "},"
    "\"r_int32\":[1,-2],\"r_int64\":[9007199254740993,-1],\"r_uint64\":[0,\"18446744073709551615\"],"
    "\"r_double\":[0.5,2.0],\"r_bool\":[false,true],\"r_string\":[\"a\",\"\"],"
    "\"r_bytes\":[\"\",\"Zm9v\"],\"r_enum\":[\"PROBE_COLOR_RED\",\"PROBE_COLOR_UNSPECIFIED\"],"
    "\"r_leaf\":[{\"label\":\"l0\"},{\"weight\":-1}],\"r_packed\":[-1,0,1],"
    "\"f_default\":\"set\"}";

static void test_roundtrip_every_type(void)
{
    Probe *p = (Probe *)dec_ok(PROBE, full_probe);

    if (!p)
        return;
    CX_CHECK(p->has_f_int32 && p->f_int32 == INT32_MIN);
    CX_CHECK(p->has_f_sint32 && p->f_sint32 == -5);
    CX_CHECK(p->has_f_sfixed32 && p->f_sfixed32 == INT32_MAX);
    CX_CHECK(p->has_f_int64 && p->f_int64 == INT64_MIN);
    CX_CHECK(p->has_f_sint64 && p->f_sint64 == INT64_MAX);
    CX_CHECK(p->has_f_sfixed64 && p->f_sfixed64 == -1);
    CX_CHECK(p->has_f_uint32 && p->f_uint32 == UINT32_MAX);
    CX_CHECK(p->has_f_fixed32 && p->f_fixed32 == 7);
    CX_CHECK(p->has_f_uint64 && p->f_uint64 == UINT64_MAX);
    CX_CHECK(p->has_f_fixed64 && p->f_fixed64 == (uint64_t)INT64_MAX);
    CX_CHECK(p->has_f_float && p->f_float == 1.5f);
    CX_CHECK(p->has_f_double && p->f_double == -0.25);
    CX_CHECK(p->has_f_bool && p->f_bool == 1);
    CX_CHECK_STR(p->f_string, "h\xc3\xa9llo \"q\" \xe2\x9c\x93");
    CX_CHECK(p->has_f_bytes && p->f_bytes.len == 4 &&
             memcmp(p->f_bytes.data, "\x00\x01\x02\xff", 4) == 0);
    CX_CHECK(p->has_f_enum && p->f_enum == CALIXIO__V1__PROBE_COLOR__PROBE_COLOR_NEGATIVE);
    CX_CHECK(p->leaf && p->leaf->label && strcmp(p->leaf->label, "x") == 0 &&
             p->leaf->has_weight && p->leaf->weight == 3);
    CX_CHECK(p->child && p->child->has_f_int32 && p->child->f_int32 == 1 && !p->child->child);
    CX_CHECK(p->n_r_int32 == 2 && p->r_int32[0] == 1 && p->r_int32[1] == -2);
    /* 2^53 + 1: exact only if integers never pass through a double */
    CX_CHECK(p->n_r_int64 == 2 && p->r_int64[0] == 9007199254740993LL && p->r_int64[1] == -1);
    CX_CHECK(p->n_r_uint64 == 2 && p->r_uint64[0] == 0 && p->r_uint64[1] == UINT64_MAX);
    CX_CHECK(p->n_r_double == 2 && p->r_double[0] == 0.5 && p->r_double[1] == 2.0);
    CX_CHECK(p->n_r_bool == 2 && !p->r_bool[0] && p->r_bool[1]);
    CX_CHECK(p->n_r_string == 2 && strcmp(p->r_string[0], "a") == 0 && p->r_string[1][0] == 0);
    CX_CHECK(p->n_r_bytes == 2 && p->r_bytes[0].len == 0 && p->r_bytes[1].len == 3 &&
             memcmp(p->r_bytes[1].data, "foo", 3) == 0);
    CX_CHECK(p->n_r_enum == 2 && p->r_enum[0] == 1 && p->r_enum[1] == 0);
    CX_CHECK(p->n_r_leaf == 2 && strcmp(p->r_leaf[0]->label, "l0") == 0 &&
             !p->r_leaf[0]->has_weight && p->r_leaf[1]->has_weight &&
             p->r_leaf[1]->weight == -1 && !p->r_leaf[1]->label);
    CX_CHECK(p->n_r_packed == 3 && p->r_packed[0] == -1 && p->r_packed[2] == 1);
    CX_CHECK_STR(p->f_default, "set");
    /* re-encoding gives the same text byte for byte */
    CHECK_ENC(p, full_probe);
    protobuf_c_message_free_unpacked(&p->base, NULL);
}

static void test_encode_from_struct(void)
{
    Probe p = CALIXIO__V1__CODEC_PROBE__INIT;
    Calixio__V1__ProbeLeaf leaf = CALIXIO__V1__PROBE_LEAF__INIT;
    int32_t ints[] = {3, 4};
    uint8_t raw[] = {0xfb, 0xff};

    /* nothing set: only the repeated fields, and not the untouched default */
    CHECK_ENC(&p, "{" EMPTY_REPEATED "}");
    /* values without their has_ flag are not written */
    p.f_int32 = 5;
    p.f_bool = 1;
    p.f_int64 = 7;
    CHECK_ENC(&p, "{" EMPTY_REPEATED "}");
    p.has_f_int32 = p.has_f_bool = p.has_f_int64 = 1;
    p.f_bool = 0;
    p.f_int64 = 1700000000000LL;
    p.f_string = "s";
    p.has_f_bytes = 1;
    p.f_bytes.data = raw;
    p.f_bytes.len = 2;
    p.has_f_enum = 1;
    p.f_enum = (Calixio__V1__ProbeColor)99; /* not a declared value: number */
    p.leaf = &leaf;
    p.n_r_int32 = 2;
    p.r_int32 = ints;
    CHECK_ENC(&p,
              "{\"f_int32\":5,\"f_int64\":1700000000000,\"f_bool\":false,\"f_string\":\"s\","
              "\"f_bytes\":\"+/8=\",\"f_enum\":99,\"leaf\":{},\"r_int32\":[3,4],"
              "\"r_int64\":[],\"r_uint64\":[],\"r_double\":[],\"r_bool\":[],\"r_string\":[],"
              "\"r_bytes\":[],\"r_enum\":[],\"r_leaf\":[],\"r_packed\":[]}");
    /* encode_value gives an object with the same members */
    json_t *o = cx_json_encode_value(&p.base);
    CX_CHECK(json_is_object(o));
    CX_CHECK(json_integer_value(json_object_get(o, "f_int64")) == 1700000000000LL);
    CX_CHECK(json_object_get(o, "f_double") == NULL);
    json_decref(o);
}

static void test_contract_texts(void)
{
    Calixio__V1__Room room = CALIXIO__V1__ROOM__INIT;
    Calixio__V1__Room room2 = CALIXIO__V1__ROOM__INIT;
    Calixio__V1__Room *rooms[] = {&room, &room2};
    Calixio__V1__ListRoomsReply list = CALIXIO__V1__LIST_ROOMS_REPLY__INIT;
    Calixio__V1__RefreshReply rr = CALIXIO__V1__REFRESH_REPLY__INIT;
    Calixio__V1__JoinReply jr = CALIXIO__V1__JOIN_REPLY__INIT;
    Calixio__V1__JoinState js = CALIXIO__V1__JOIN_STATE__INIT;
    Calixio__V1__Error e = CALIXIO__V1__ERROR__INIT;
    Calixio__V1__FieldViolation fv = CALIXIO__V1__FIELD_VIOLATION__INIT;
    Calixio__V1__FieldViolation *fvs[] = {&fv};
    Calixio__V1__Empty empty = CALIXIO__V1__EMPTY__INIT;

    room.id = "r1";
    room.name = "Standup";
    room.status = "active";
    room.created_at = "2024-01-02T03:04:05Z";
    room.owner_user_id = "u1";
    room.has_max_participants = 1;
    room.max_participants = 10;
    room.livekit_room = "lk-r1";
    /* ended_at unset: omitted */
    CHECK_ENC(&room, "{\"id\":\"r1\",\"name\":\"Standup\",\"status\":\"active\","
                     "\"created_at\":\"2024-01-02T03:04:05Z\",\"owner_user_id\":\"u1\","
                     "\"max_participants\":10,\"livekit_room\":\"lk-r1\"}");
    room2.id = "r2";
    room2.status = "ended";
    room2.ended_at = "2024-01-03T00:00:00Z";
    list.n_rooms = 2;
    list.rooms = rooms;
    CHECK_ENC(&list,
              "{\"rooms\":[{\"id\":\"r1\",\"name\":\"Standup\",\"status\":\"active\","
              "\"created_at\":\"2024-01-02T03:04:05Z\",\"owner_user_id\":\"u1\","
              "\"max_participants\":10,\"livekit_room\":\"lk-r1\"},"
              "{\"id\":\"r2\",\"status\":\"ended\",\"ended_at\":\"2024-01-03T00:00:00Z\"}]}");
    list.n_rooms = 0;
    list.rooms = NULL;
    CHECK_ENC(&list, "{\"rooms\":[]}");

    rr.user_id = "u";
    rr.access_token = "tok";
    rr.accesstoken = "tok"; /* protoc-c lowercases the C name */
    rr.has_access_ttl = rr.has_refresh_ttl = rr.has_version = 1;
    rr.access_ttl = 900;
    rr.refresh_ttl = 2592000;
    rr.version = 3;
    CHECK_ENC(&rr, "{\"user_id\":\"u\",\"access_token\":\"tok\",\"accessToken\":\"tok\","
                   "\"access_ttl\":900,\"refresh_ttl\":2592000,\"version\":3}");
    /* both spellings are distinct keys on input too */
    ROUNDTRIP(&calixio__v1__refresh_reply__descriptor,
              "{\"accessToken\":\"a\",\"access_token\":\"b\"}",
              "{\"access_token\":\"b\",\"accessToken\":\"a\"}");

    jr.room_id = "r1";
    jr.token = "t";
    jr.has_expires_in = 1;
    jr.expires_in = 3600;
    js.mode = "conference";
    jr.state = &js;
    CHECK_ENC(&jr, "{\"room_id\":\"r1\",\"token\":\"t\",\"expires_in\":3600,"
                   "\"state\":{\"mode\":\"conference\"}}");

    e.code = "validation_failed";
    fv.field = "email";
    fv.rule = "email";
    e.n_fields = 1;
    e.fields = fvs;
    e.has_retry_after = 1;
    e.retry_after = 0;
    CHECK_ENC(
        &e,
        "{\"code\":\"validation_failed\",\"fields\":[{\"field\":\"email\",\"rule\":\"email\"}],"
        "\"retry_after\":0}");
    CHECK_ENC(&empty, "{}");
}

static void test_unknown_fields(void)
{
    FAIL_EXACT(&calixio__v1__login_request__descriptor, "{\"email\":\"a@b.c\",\"foo\":1}",
               CX_ERR_INVALID_JSON, "unknown field \"foo\"");
    /* even with a null value, and names are case sensitive */
    FAIL_EXACT(&calixio__v1__login_request__descriptor, "{\"foo\":null}", CX_ERR_INVALID_JSON,
               "unknown field \"foo\"");
    FAIL_EXACT(&calixio__v1__login_request__descriptor, "{\"Email\":\"x\"}",
               CX_ERR_INVALID_JSON, "unknown field \"Email\"");
    FAIL_EXACT(&calixio__v1__refresh_request__descriptor, "{\"refreshToken\":\"x\"}",
               CX_ERR_INVALID_JSON, "unknown field \"refreshToken\"");
    FAIL_EXACT(&calixio__v1__empty__descriptor, "{\"a\":{}}", CX_ERR_INVALID_JSON,
               "unknown field \"a\"");
    /* nested: the path names where the key is */
    FAIL_EXACT(PROBE, "{\"leaf\":{\"bogus\":1}}", CX_ERR_INVALID_JSON,
               "unknown field \"leaf.bogus\"");
    FAIL_EXACT(PROBE, "{\"r_leaf\":[{},{\"zz\":1}]}", CX_ERR_INVALID_JSON,
               "unknown field \"r_leaf[1].zz\"");
    FAIL_EXACT(PROBE, "{\"child\":{\"child\":{\"nope\":true}}}", CX_ERR_INVALID_JSON,
               "unknown field \"child.child.nope\"");
}

static void test_wrong_types(void)
{
    const ProtobufCMessageDescriptor *lr = &calixio__v1__list_rooms_request__descriptor;

    FAIL_EXACT(lr, "{\"limit\":\"abc\"}", CX_ERR_INVALID_JSON,
               "field \"limit\": expected integer");
    FAIL_EXACT(lr, "{\"limit\":true}", CX_ERR_INVALID_JSON,
               "field \"limit\": expected integer");
    FAIL_EXACT(lr, "{\"limit\":[1]}", CX_ERR_INVALID_JSON, "field \"limit\": expected integer");
    FAIL_EXACT(lr, "{\"limit\":{}}", CX_ERR_INVALID_JSON, "field \"limit\": expected integer");
    FAIL_EXACT(lr, "{\"status\":5}", CX_ERR_INVALID_JSON, "field \"status\": expected string");
    FAIL_EXACT(lr, "{\"status\":false}", CX_ERR_INVALID_JSON,
               "field \"status\": expected string");
    FAIL_EXACT(PROBE, "{\"f_bool\":1}", CX_ERR_INVALID_JSON,
               "field \"f_bool\": expected boolean");
    FAIL_EXACT(PROBE, "{\"f_bool\":\"true\"}", CX_ERR_INVALID_JSON,
               "field \"f_bool\": expected boolean");
    FAIL_EXACT(PROBE, "{\"leaf\":[]}", CX_ERR_INVALID_JSON, "field \"leaf\": expected object");
    FAIL_EXACT(PROBE, "{\"leaf\":\"x\"}", CX_ERR_INVALID_JSON,
               "field \"leaf\": expected object");
    FAIL_EXACT(PROBE, "{\"r_int32\":5}", CX_ERR_INVALID_JSON,
               "field \"r_int32\": expected array");
    FAIL_EXACT(PROBE, "{\"r_leaf\":{}}", CX_ERR_INVALID_JSON,
               "field \"r_leaf\": expected array");
    FAIL_EXACT(PROBE, "{\"r_int32\":[1,\"x\"]}", CX_ERR_INVALID_JSON,
               "field \"r_int32[1]\": expected integer");
    FAIL_EXACT(PROBE, "{\"r_string\":[\"a\",null]}", CX_ERR_INVALID_JSON,
               "field \"r_string[1]\": expected string");
    FAIL_EXACT(PROBE, "{\"r_leaf\":[{\"weight\":\"x\"}]}", CX_ERR_INVALID_JSON,
               "field \"r_leaf[0].weight\": expected integer");
    FAIL_EXACT(PROBE, "{\"f_double\":\"1.5\"}", CX_ERR_INVALID_JSON,
               "field \"f_double\": expected number");
    FAIL_EXACT(PROBE, "{\"f_float\":true}", CX_ERR_INVALID_JSON,
               "field \"f_float\": expected number");
    FAIL_EXACT(PROBE, "{\"f_bytes\":5}", CX_ERR_INVALID_JSON,
               "field \"f_bytes\": expected base64 string");
    FAIL_EXACT(PROBE, "{\"f_enum\":1.5}", CX_ERR_INVALID_JSON,
               "field \"f_enum\": expected enum name");
}

static void test_integer_rules(void)
{
    Probe *p;

    FAIL_EXACT(PROBE, "{\"f_int32\":2147483648}", CX_ERR_INVALID_JSON,
               "field \"f_int32\": integer out of range");
    FAIL_EXACT(PROBE, "{\"f_int32\":-2147483649}", CX_ERR_INVALID_JSON,
               "field \"f_int32\": integer out of range");
    FAIL_EXACT(PROBE, "{\"f_sfixed32\":\"2147483648\"}", CX_ERR_INVALID_JSON,
               "field \"f_sfixed32\": integer out of range");
    FAIL_EXACT(PROBE, "{\"f_uint32\":-1}", CX_ERR_INVALID_JSON,
               "field \"f_uint32\": integer out of range");
    FAIL_EXACT(PROBE, "{\"f_uint32\":4294967296}", CX_ERR_INVALID_JSON,
               "field \"f_uint32\": integer out of range");
    FAIL_EXACT(PROBE, "{\"f_uint64\":-1}", CX_ERR_INVALID_JSON,
               "field \"f_uint64\": integer out of range");
    FAIL_EXACT(PROBE, "{\"f_uint64\":\"-1\"}", CX_ERR_INVALID_JSON,
               "field \"f_uint64\": integer out of range");
    FAIL_EXACT(PROBE, "{\"f_fixed64\":\"18446744073709551616\"}", CX_ERR_INVALID_JSON,
               "field \"f_fixed64\": expected integer"); /* does not fit 64 bits at all */
    FAIL_EXACT(PROBE, "{\"f_int64\":\"9223372036854775808\"}", CX_ERR_INVALID_JSON,
               "field \"f_int64\": integer out of range");
    FAIL_EXACT(PROBE, "{\"f_int64\":\"-9223372036854775809\"}", CX_ERR_INVALID_JSON,
               "field \"f_int64\": integer out of range");
    FAIL_EXACT(PROBE, "{\"f_int64\":1e300}", CX_ERR_INVALID_JSON,
               "field \"f_int64\": integer out of range");
    FAIL_EXACT(PROBE, "{\"f_uint64\":1.8446744073709552e19}", CX_ERR_INVALID_JSON,
               "field \"f_uint64\": integer out of range");
    FAIL_EXACT(PROBE, "{\"f_int64\":9223372036854775807.0}", CX_ERR_INVALID_JSON,
               "field \"f_int64\": integer out of range"); /* the double is 2^63 */
    /* a JSON integer beyond 64 bits is refused by the parser */
    FAIL_HAS(PROBE, "{\"f_int64\":9223372036854775808}", CX_ERR_INVALID_JSON, "malformed JSON");
    /* fractions */
    FAIL_EXACT(PROBE, "{\"f_int32\":1.5}", CX_ERR_INVALID_JSON,
               "field \"f_int32\": expected integer, got a fraction");
    FAIL_EXACT(PROBE, "{\"f_uint64\":0.1}", CX_ERR_INVALID_JSON,
               "field \"f_uint64\": expected integer, got a fraction");
    FAIL_EXACT(PROBE, "{\"f_int64\":-1e-3}", CX_ERR_INVALID_JSON,
               "field \"f_int64\": expected integer, got a fraction");
    FAIL_EXACT(PROBE, "{\"f_int64\":\"1.5\"}", CX_ERR_INVALID_JSON,
               "field \"f_int64\": expected integer");
    /* decimal strings: digits with an optional '-', nothing else */
    FAIL_EXACT(PROBE, "{\"f_int64\":\"\"}", CX_ERR_INVALID_JSON,
               "field \"f_int64\": expected integer");
    FAIL_EXACT(PROBE, "{\"f_int64\":\"-\"}", CX_ERR_INVALID_JSON,
               "field \"f_int64\": expected integer");
    FAIL_EXACT(PROBE, "{\"f_int64\":\" 1\"}", CX_ERR_INVALID_JSON,
               "field \"f_int64\": expected integer");
    FAIL_EXACT(PROBE, "{\"f_int64\":\"+1\"}", CX_ERR_INVALID_JSON,
               "field \"f_int64\": expected integer");
    FAIL_EXACT(PROBE, "{\"f_int64\":\"12a\"}", CX_ERR_INVALID_JSON,
               "field \"f_int64\": expected integer");
    FAIL_EXACT(PROBE, "{\"f_int64\":\"0x10\"}", CX_ERR_INVALID_JSON,
               "field \"f_int64\": expected integer");

    p = (Probe *)dec_ok(PROBE,
                        "{\"f_int64\":\"9007199254740993\",\"f_int32\":\"-42\","
                        "\"f_uint64\":\"18446744073709551615\",\"f_uint32\":\"4294967295\","
                        "\"f_sint64\":\"-9223372036854775808\",\"f_sint32\":1e3,"
                        "\"f_fixed64\":1e19,\"f_fixed32\":-0.0,\"f_sfixed64\":\"007\"}");
    if (p) {
        CX_CHECK(p->f_int64 == 9007199254740993LL);
        CX_CHECK(p->f_int32 == -42);
        CX_CHECK(p->f_uint64 == UINT64_MAX);
        CX_CHECK(p->f_uint32 == UINT32_MAX);
        CX_CHECK(p->f_sint64 == INT64_MIN);
        CX_CHECK(p->f_sint32 == 1000);
        CX_CHECK(p->f_fixed64 == 10000000000000000000ULL);
        CX_CHECK(p->has_f_fixed32 && p->f_fixed32 == 0);
        CX_CHECK(p->f_sfixed64 == 7);
        /* re-encoded as numbers, except uint64 beyond int64 (decimal string) */
        CHECK_ENC(p,
                  "{\"f_int32\":-42,\"f_sint32\":1000,\"f_int64\":9007199254740993,"
                  "\"f_sint64\":-9223372036854775808,\"f_sfixed64\":7,\"f_uint32\":4294967295,"
                  "\"f_fixed32\":0,\"f_uint64\":\"18446744073709551615\","
                  "\"f_fixed64\":\"10000000000000000000\"," EMPTY_REPEATED "}");
        protobuf_c_message_free_unpacked(&p->base, NULL);
    }
}

static void test_floats(void)
{
    Probe *p = (Probe *)dec_ok(PROBE, "{\"f_float\":\"NaN\",\"f_double\":\"-Infinity\","
                                      "\"r_double\":[\"Infinity\",1,1e-300,0.1]}");

    if (p) {
        CX_CHECK(p->has_f_float && isnan(p->f_float));
        CX_CHECK(p->has_f_double && isinf(p->f_double) && p->f_double < 0);
        CX_CHECK(p->n_r_double == 4 && isinf(p->r_double[0]) && p->r_double[1] == 1.0 &&
                 p->r_double[2] == 1e-300 && p->r_double[3] == 0.1);
        protobuf_c_message_free_unpacked(&p->base, NULL);
    }
    ROUNDTRIP(PROBE, "{\"f_float\":\"Infinity\",\"f_double\":\"NaN\"}",
              "{\"f_float\":\"Infinity\",\"f_double\":\"NaN\"," EMPTY_REPEATED "}");
    /* 0.1 survives a text round trip exactly */
    p = (Probe *)dec_ok(PROBE, "{\"f_double\":0.1,\"f_float\":0.1}");
    if (p) {
        char *txt = cx_json_encode(&p->base, NULL);
        Probe *q = txt ? (Probe *)dec_ok(PROBE, txt) : NULL;
        CX_CHECK(q && q->f_double == 0.1 && q->f_float == 0.1f);
        if (q)
            protobuf_c_message_free_unpacked(&q->base, NULL);
        free(txt);
        protobuf_c_message_free_unpacked(&p->base, NULL);
    }
    FAIL_EXACT(PROBE, "{\"f_float\":1e39}", CX_ERR_INVALID_JSON,
               "field \"f_float\": number out of range");
    FAIL_EXACT(PROBE, "{\"f_double\":\"nan\"}", CX_ERR_INVALID_JSON,
               "field \"f_double\": expected number");
    FAIL_HAS(PROBE, "{\"f_double\":1e400}", CX_ERR_INVALID_JSON, "malformed JSON");
}

static void test_base64(void)
{
    static const char *vec[][2] = {{"", ""},
                                   {"f", "Zg=="},
                                   {"fo", "Zm8="},
                                   {"foo", "Zm9v"},
                                   {"foob", "Zm9vYg=="},
                                   {"fooba", "Zm9vYmE="},
                                   {"foobar", "Zm9vYmFy"}};
    static const char *bad[] = {"A",    "AAA*", "AAEC/w=", "A===",  "QR==",  "AA==AA==",
                                "====", "Zg=",  "Zm9v\n",  "Zm 9v", "Zg===", "Zh=="};
    char in[80], want[200];
    size_t i;
    Probe *p;

    for (i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        snprintf(in, sizeof in, "{\"f_bytes\":\"%s\"}", vec[i][1]);
        p = (Probe *)dec_ok(PROBE, in);
        if (!p)
            continue;
        CX_CHECK(p->has_f_bytes && p->f_bytes.len == strlen(vec[i][0]));
        CX_CHECK(p->f_bytes.len == 0 ||
                 memcmp(p->f_bytes.data, vec[i][0], p->f_bytes.len) == 0);
        snprintf(want, sizeof want, "{\"f_bytes\":\"%s\"," EMPTY_REPEATED "}", vec[i][1]);
        CHECK_ENC(p, want);
        protobuf_c_message_free_unpacked(&p->base, NULL);
    }
    /* unpadded and URL-safe input is accepted; output is standard, padded */
    ROUNDTRIP(PROBE, "{\"f_bytes\":\"AAEC_w\"}",
              "{\"f_bytes\":\"AAEC/w==\"," EMPTY_REPEATED "}");
    ROUNDTRIP(PROBE, "{\"f_bytes\":\"-_8\"}", "{\"f_bytes\":\"+/8=\"," EMPTY_REPEATED "}");
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(in, sizeof in, "{\"f_bytes\":\"%s\"}", bad[i]);
        if (strchr(bad[i], '\n'))
            snprintf(in, sizeof in, "{\"f_bytes\":\"Zm9v\\n\"}");
        FAIL_EXACT(PROBE, in, CX_ERR_INVALID_JSON, "field \"f_bytes\": invalid base64");
    }
    FAIL_EXACT(PROBE, "{\"r_bytes\":[\"Zg==\",\"@@@@\"]}", CX_ERR_INVALID_JSON,
               "field \"r_bytes[1]\": invalid base64");
}

static void test_enums(void)
{
    Probe *p = (Probe *)dec_ok(
        PROBE, "{\"f_enum\":\"PROBE_COLOR_RED\",\"r_enum\":[2,-3,\"PROBE_COLOR_GREEN\"]}");

    if (p) {
        CX_CHECK(p->has_f_enum && p->f_enum == CALIXIO__V1__PROBE_COLOR__PROBE_COLOR_RED);
        CX_CHECK(p->n_r_enum == 3 && p->r_enum[0] == 2 && p->r_enum[1] == -3 &&
                 p->r_enum[2] == 2);
        CHECK_ENC(
            p,
            "{\"f_enum\":\"PROBE_COLOR_RED\",\"r_int32\":[],\"r_int64\":[],\"r_uint64\":[],"
            "\"r_double\":[],\"r_bool\":[],\"r_string\":[],\"r_bytes\":[],"
            "\"r_enum\":[\"PROBE_COLOR_GREEN\",\"PROBE_COLOR_NEGATIVE\",\"PROBE_COLOR_GREEN\"],"
            "\"r_leaf\":[],\"r_packed\":[]}");
        protobuf_c_message_free_unpacked(&p->base, NULL);
    }
    FAIL_EXACT(PROBE, "{\"f_enum\":\"PROBE_COLOR_BLUE\"}", CX_ERR_INVALID_JSON,
               "field \"f_enum\": unknown enum value");
    FAIL_EXACT(PROBE, "{\"f_enum\":\"probe_color_red\"}", CX_ERR_INVALID_JSON,
               "field \"f_enum\": unknown enum value");
    FAIL_EXACT(PROBE, "{\"f_enum\":7}", CX_ERR_INVALID_JSON,
               "field \"f_enum\": unknown enum value");
    FAIL_EXACT(PROBE, "{\"f_enum\":4294967297}", CX_ERR_INVALID_JSON,
               "field \"f_enum\": expected enum name");
    FAIL_EXACT(PROBE, "{\"r_enum\":[1,\"X\"]}", CX_ERR_INVALID_JSON,
               "field \"r_enum[1]\": unknown enum value");
    FAIL_EXACT(PROBE, "{\"f_enum\":true}", CX_ERR_INVALID_JSON,
               "field \"f_enum\": expected enum name");
}

static void test_null_is_absent(void)
{
    Probe *p = (Probe *)dec_ok(PROBE, "{\"f_int32\":null,\"f_string\":null,\"leaf\":null,"
                                      "\"r_int32\":null,\"f_bytes\":null,\"f_bool\":null,"
                                      "\"f_default\":null}");

    if (!p)
        return;
    CX_CHECK(!p->has_f_int32 && !p->f_string && !p->leaf && p->n_r_int32 == 0 && !p->r_int32);
    CX_CHECK(!p->has_f_bytes && !p->has_f_bool);
    CX_CHECK_STR(p->f_default, "dflt"); /* the proto default, untouched */
    CHECK_ENC(p, "{" EMPTY_REPEATED "}");
    protobuf_c_message_free_unpacked(&p->base, NULL);
}

static void test_empty_input(void)
{
    ProtobufCMessage *m = NULL;
    Calixio__V1__LoginRequest *lr;

    CX_CHECK(cx_json_decode(&calixio__v1__login_request__descriptor, NULL, 0, &m, err,
                            sizeof err) == CX_OK);
    lr = (Calixio__V1__LoginRequest *)m;
    CX_CHECK(lr && !lr->email && !lr->password);
    if (m) {
        CHECK_ENC(m, "{}");
        protobuf_c_message_free_unpacked(m, NULL);
    }
    ROUNDTRIP(&calixio__v1__login_request__descriptor, "{}", NULL);
    ROUNDTRIP(&calixio__v1__login_request__descriptor, " \n\t{ } \r\n", "{}");
    FAIL_HAS(&calixio__v1__login_request__descriptor, "   ", CX_ERR_INVALID_JSON,
             "malformed JSON");
    /* required fields are still required in an empty body */
    CX_CHECK(dec_fail_n(STRICT, "", 0, CX_ERR_INVALID_JSON, "field \"key\": required", 1));
}

static void test_root_must_be_object(void)
{
    static const char *bad[] = {"[]", "5", "\"s\"", "null", "true", "[{\"email\":\"x\"}]"};
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        FAIL_EXACT(&calixio__v1__login_request__descriptor, bad[i], CX_ERR_INVALID_JSON,
                   "body is not a JSON object");
    FAIL_HAS(&calixio__v1__login_request__descriptor, "{", CX_ERR_INVALID_JSON,
             "malformed JSON");
    FAIL_HAS(&calixio__v1__login_request__descriptor, "{\"email\":}", CX_ERR_INVALID_JSON,
             "malformed JSON");
    FAIL_HAS(&calixio__v1__login_request__descriptor, "{} x", CX_ERR_INVALID_JSON,
             "malformed JSON");
    FAIL_HAS(&calixio__v1__login_request__descriptor, "{}{}", CX_ERR_INVALID_JSON,
             "malformed JSON");
    FAIL_HAS(&calixio__v1__login_request__descriptor, "{'email':'x'}", CX_ERR_INVALID_JSON,
             "malformed JSON");
    /* a NUL byte inside the given length is not the end of the text */
    CX_CHECK(dec_fail_n(&calixio__v1__login_request__descriptor, "{}\0", 3, CX_ERR_INVALID_JSON,
                        "malformed JSON", 0));
}

/* {"child":{"child":...{}...}} with k nested objects below the root. */
static char *nested_children(int k, const char *innermost)
{
    size_t n = (size_t)k * 12 + strlen(innermost) + 4;
    char *s = malloc(n), *w = s;
    int i;

    if (!s)
        return NULL;
    w += sprintf(w, "{");
    for (i = 0; i < k; i++)
        w += sprintf(w, "\"child\":{");
    w += sprintf(w, "%s", innermost);
    for (i = 0; i <= k; i++)
        *w++ = '}';
    *w = '\0';
    return s;
}

static void test_depth_limit(void)
{
    char *ok = nested_children(CX_JSON_MAX_DEPTH - 1, "\"f_int32\":9");
    char *deep = nested_children(CX_JSON_MAX_DEPTH, "");
    char *leafy = nested_children(CX_JSON_MAX_DEPTH - 1, "\"leaf\":{}");
    Probe *p;
    int levels = 0;

    if (!ok || !deep || !leafy) {
        CX_CHECK(!"oom");
        goto out;
    }
    p = (Probe *)dec_ok(PROBE, ok);
    if (p) {
        Probe *c = p;
        while (c->child) {
            c = c->child;
            levels++;
        }
        CX_CHECK(levels == CX_JSON_MAX_DEPTH - 1 && c->f_int32 == 9);
        protobuf_c_message_free_unpacked(&p->base, NULL);
    }
    CX_CHECK(
        dec_fail_n(PROBE, deep, strlen(deep), CX_ERR_INVALID_JSON, "\": nesting too deep", 0));
    CX_CHECK(strncmp(err, "field \"child.child.child.", 25) == 0);
    CX_CHECK(dec_fail_n(PROBE, leafy, strlen(leafy), CX_ERR_INVALID_JSON,
                        ".leaf\": nesting too deep", 0));
out:
    free(ok);
    free(deep);
    free(leafy);
}

/* {"r_int32":[0,0,...]} with n elements. */
static char *int_array(size_t n)
{
    char *s = malloc(n * 2 + 16), *w = s;
    size_t i;

    if (!s)
        return NULL;
    w += sprintf(w, "{\"r_int32\":[");
    for (i = 0; i < n; i++)
        w += sprintf(w, i ? ",%zu" : "%zu", i % 10);
    strcpy(w, "]}");
    return s;
}

static void test_array_limit(void)
{
    char *ok = int_array(CX_JSON_MAX_ARRAY), *big = int_array(CX_JSON_MAX_ARRAY + 1);
    Probe *p;

    if (!ok || !big) {
        CX_CHECK(!"oom");
        goto out;
    }
    p = (Probe *)dec_ok(PROBE, ok);
    CX_CHECK(p && p->n_r_int32 == CX_JSON_MAX_ARRAY && p->r_int32[CX_JSON_MAX_ARRAY - 1] == 9);
    if (p)
        protobuf_c_message_free_unpacked(&p->base, NULL);
    CX_CHECK(dec_fail_n(PROBE, big, strlen(big), CX_ERR_PAYLOAD_TOO_LARGE,
                        "field \"r_int32\": too many array elements", 1));
out:
    free(ok);
    free(big);
}

static void test_size_limit(void)
{
    size_t n = CX_JSON_MAX_INPUT;
    char *s = malloc(n + 2);
    Probe *p;
    ProtobufCMessage *m = SENTINEL;

    if (!s) {
        CX_CHECK(!"oom");
        return;
    }
    /* exactly the limit: accepted */
    memcpy(s, "{\"f_string\":\"", 13);
    memset(s + 13, 'a', n - 15);
    memcpy(s + n - 2, "\"}", 3);
    CX_CHECK(strlen(s) == n);
    p = (Probe *)dec_ok(PROBE, s);
    CX_CHECK(p && p->f_string && strlen(p->f_string) == n - 15);
    if (p)
        protobuf_c_message_free_unpacked(&p->base, NULL);
    /* one byte more: refused before parsing */
    memcpy(s + n - 2, "a\"}", 4);
    CX_CHECK(cx_json_decode(PROBE, s, n + 1, &m, err, sizeof err) == CX_ERR_PAYLOAD_TOO_LARGE);
    CX_CHECK(m == SENTINEL);
    CX_CHECK(strstr(err, "larger than") != NULL);
    free(s);
}

static void test_invalid_utf8(void)
{
    const ProtobufCMessageDescriptor *d = &calixio__v1__login_request__descriptor;

    FAIL_HAS(d, "{\"email\":\"\xff\"}", CX_ERR_INVALID_JSON, "malformed JSON");
    FAIL_HAS(d, "{\"email\":\"\xc0\xaf\"}", CX_ERR_INVALID_JSON,
             "malformed JSON"); /* overlong */
    FAIL_HAS(d, "{\"email\":\"\xed\xa0\x80\"}", CX_ERR_INVALID_JSON,
             "malformed JSON"); /* surrogate */
    FAIL_HAS(d, "{\"email\":\"\xe2\x9c\"}", CX_ERR_INVALID_JSON,
             "malformed JSON"); /* truncated */
    FAIL_HAS(d, "{\"\xff\":1}", CX_ERR_INVALID_JSON, "malformed JSON");
    FAIL_HAS(d, "{\"email\":\"\\ud800\"}", CX_ERR_INVALID_JSON, "malformed JSON");
    FAIL_HAS(d, "{\"email\":\"a\\u0000b\"}", CX_ERR_INVALID_JSON, "malformed JSON");
    /* escaped and raw valid non-ASCII text are fine; output is raw UTF-8 */
    ROUNDTRIP(d, "{\"email\":\"\\u00e9\\ud83d\\ude00\"}",
              "{\"email\":\"\xc3\xa9\xf0\x9f\x98\x80\"}");
}

static void test_duplicate_keys(void)
{
    FAIL_HAS(&calixio__v1__login_request__descriptor, "{\"email\":\"a\",\"email\":\"b\"}",
             CX_ERR_INVALID_JSON, "duplicate");
    FAIL_HAS(PROBE, "{\"leaf\":{\"weight\":1,\"weight\":1}}", CX_ERR_INVALID_JSON, "duplicate");
}

static void test_required_and_oneof(void)
{
    Calixio__V1__ProbeStrict *s;
    Calixio__V1__ProbeStrict st = CALIXIO__V1__PROBE_STRICT__INIT;

    FAIL_EXACT(STRICT, "{}", CX_ERR_INVALID_JSON, "field \"key\": required");
    FAIL_EXACT(STRICT, "{\"key\":\"k\"}", CX_ERR_INVALID_JSON, "field \"count\": required");
    FAIL_EXACT(STRICT, "{\"key\":\"k\",\"count\":null}", CX_ERR_INVALID_JSON,
               "field \"count\": required");
    s = (Calixio__V1__ProbeStrict *)dec_ok(STRICT,
                                           "{\"count\":0,\"key\":\"k\",\"as_text\":\"t\"}");
    if (s) {
        CX_CHECK(s->choice_case == CALIXIO__V1__PROBE_STRICT__CHOICE_AS_TEXT);
        CX_CHECK_STR(s->as_text, "t");
        CHECK_ENC(s, "{\"key\":\"k\",\"count\":0,\"as_text\":\"t\"}");
        protobuf_c_message_free_unpacked(&s->base, NULL);
    }
    ROUNDTRIP(STRICT, "{\"key\":\"k\",\"count\":2,\"as_leaf\":{\"label\":\"z\"}}", NULL);
    ROUNDTRIP(STRICT, "{\"key\":\"k\",\"count\":2,\"as_text\":null,\"as_number\":5}",
              "{\"key\":\"k\",\"count\":2,\"as_number\":5}");
    FAIL_EXACT(STRICT, "{\"key\":\"k\",\"count\":1,\"as_text\":\"t\",\"as_number\":5}",
               CX_ERR_INVALID_JSON,
               "field \"as_number\": another field of its oneof is already set");
    /* the string set first must be freed on that failure (ASan checks) */
    FAIL_EXACT(STRICT, "{\"key\":\"k\",\"count\":1,\"as_leaf\":{},\"as_text\":\"t\"}",
               CX_ERR_INVALID_JSON,
               "field \"as_text\": another field of its oneof is already set");
    /* required scalars are written even when zero; oneof only the set member */
    st.key = "a";
    CHECK_ENC(&st, "{\"key\":\"a\",\"count\":0}");
    st.choice_case = CALIXIO__V1__PROBE_STRICT__CHOICE_AS_NUMBER;
    st.as_number = -4;
    CHECK_ENC(&st, "{\"key\":\"a\",\"count\":0,\"as_number\":-4}");
}

static void test_errors_free_partial_messages(void)
{
    /* failures deep inside arrays of messages, after strings, bytes and
     * sub-messages were allocated: ASan's leak check is the assertion */
    FAIL_HAS(PROBE,
             "{\"f_string\":\"s\",\"f_bytes\":\"Zm9v\",\"leaf\":{\"label\":\"l\"},"
             "\"r_string\":[\"a\",\"b\"],\"r_bytes\":[\"Zg==\"],"
             "\"r_leaf\":[{\"label\":\"x\"},{\"label\":\"y\",\"weight\":1.5}]}",
             CX_ERR_INVALID_JSON, "field \"r_leaf[1].weight\"");
    FAIL_HAS(PROBE, "{\"child\":{\"f_string\":\"a\",\"child\":{\"r_string\":[\"q\",3]}}}",
             CX_ERR_INVALID_JSON, "field \"child.child.r_string[1]\": expected string");
    /* no err buffer: still fails cleanly */
    ProtobufCMessage *m = SENTINEL;
    CX_CHECK(cx_json_decode(PROBE, "{\"x\":1}", 7, &m, NULL, 0) == CX_ERR_INVALID_JSON);
    CX_CHECK(m == SENTINEL);
    char tiny[8];
    CX_CHECK(cx_json_decode(PROBE, "{\"x\":1}", 7, &m, tiny, sizeof tiny) ==
             CX_ERR_INVALID_JSON);
    CX_CHECK(strlen(tiny) == sizeof tiny - 1);
}

static void test_decode_value(void)
{
    json_t *o = json_pack("{s:s, s:I}", "email", "a@b.c", "password", (json_int_t)5);
    json_t *nul = json_pack("{s:s%}", "email", "a\0b", (size_t)3);
    json_t *arr = json_array();
    ProtobufCMessage *m = SENTINEL;

    /* wrong type: password is a string */
    CX_CHECK(cx_json_decode_value(&calixio__v1__login_request__descriptor, o, &m, err,
                                  sizeof err) == CX_ERR_INVALID_JSON);
    CX_CHECK_STR(err, "field \"password\": expected string");
    json_object_set_new(o, "password", json_string("secret"));
    CX_CHECK(cx_json_decode_value(&calixio__v1__login_request__descriptor, o, &m, err,
                                  sizeof err) == CX_OK);
    if (m != SENTINEL) {
        CX_CHECK_STR(((Calixio__V1__LoginRequest *)m)->password, "secret");
        protobuf_c_message_free_unpacked(m, NULL);
    }
    m = SENTINEL;
    CX_CHECK(cx_json_decode_value(&calixio__v1__login_request__descriptor, nul, &m, err,
                                  sizeof err) == CX_ERR_INVALID_JSON);
    CX_CHECK_STR(err, "field \"email\": string contains a NUL character");
    CX_CHECK(cx_json_decode_value(&calixio__v1__login_request__descriptor, arr, &m, err,
                                  sizeof err) == CX_ERR_INVALID_JSON);
    CX_CHECK_STR(err, "body is not a JSON object");
    CX_CHECK(cx_json_decode_value(&calixio__v1__login_request__descriptor, NULL, &m, err,
                                  sizeof err) == CX_ERR_INVALID_JSON);
    CX_CHECK(m == SENTINEL);
    json_decref(o);
    json_decref(nul);
    json_decref(arr);
}

static void test_encode_bad_utf8_string(void)
{
    Calixio__V1__User u = CALIXIO__V1__USER__INIT;

    u.name = "a\xff"
             "b\xc3";
    CHECK_ENC(&u, "{\"name\":\"a\xef\xbf\xbd"
                  "b\xef\xbf\xbd\"}");
}

static void test_pack_unpack(void)
{
    Probe *p = (Probe *)dec_ok(PROBE, full_probe);
    ProtobufCMessage *m = NULL;
    uint8_t *buf;
    size_t n = 0;

    if (!p)
        return;
    buf = cx_pb_pack(&p->base, &n);
    CX_CHECK(buf && n > 50);
    CX_CHECK(cx_pb_unpack(PROBE, buf, n, &m) == CX_OK);
    if (m) {
        CHECK_ENC(m, full_probe);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    /* every strict prefix of the buffer that cuts a field fails cleanly or
     * decodes a valid (shorter) message: never crashes or leaks */
    for (size_t k = 0; k < n; k++) {
        m = NULL;
        if (cx_pb_unpack(PROBE, buf, k, &m) == CX_OK)
            protobuf_c_message_free_unpacked(m, NULL);
    }
    m = SENTINEL;
    CX_CHECK(cx_pb_unpack(PROBE, buf, n - 1, &m) ==
             CX_ERR_BAD_REQUEST); /* cut in r_packed/f_default */
    CX_CHECK(m == SENTINEL);
    free(buf);
    protobuf_c_message_free_unpacked(&p->base, NULL);

    /* an empty message packs to zero bytes and unpacks from them */
    Calixio__V1__Empty e = CALIXIO__V1__EMPTY__INIT;
    buf = cx_pb_pack(&e.base, &n);
    CX_CHECK(buf && n == 0);
    free(buf);
    m = NULL;
    CX_CHECK(cx_pb_unpack(&calixio__v1__empty__descriptor, NULL, 0, &m) == CX_OK && m);
    protobuf_c_message_free_unpacked(m, NULL);
    /* Room <-> pb <-> JSON */
    Calixio__V1__Room r = CALIXIO__V1__ROOM__INIT;
    r.id = "r9";
    r.has_max_participants = 1;
    r.max_participants = 500;
    buf = cx_pb_pack(&r.base, &n);
    m = NULL;
    CX_CHECK(buf && cx_pb_unpack(&calixio__v1__room__descriptor, buf, n, &m) == CX_OK);
    if (m) {
        CHECK_ENC(m, "{\"id\":\"r9\",\"max_participants\":500}");
        protobuf_c_message_free_unpacked(m, NULL);
    }
    free(buf);
}

static void expect_unpack_fail(const ProtobufCMessageDescriptor *d, const uint8_t *b, size_t n,
                               int line)
{
    ProtobufCMessage *m = SENTINEL;
    cx_status st = cx_pb_unpack(d, b, n, &m);

    if (st != CX_ERR_BAD_REQUEST || m != SENTINEL)
        fprintf(stderr, "    unpack at line %d: status %d\n", line, (int)st);
    CX_CHECK(st == CX_ERR_BAD_REQUEST && m == SENTINEL);
    if (st == CX_OK && m != SENTINEL)
        protobuf_c_message_free_unpacked(m, NULL);
}
#define UNPACK_FAIL(d, ...)                               \
    do {                                                  \
        static const uint8_t b_[] = {__VA_ARGS__};        \
        expect_unpack_fail((d), b_, sizeof b_, __LINE__); \
    } while (0)

static void test_unpack_garbage(void)
{
    ProtobufCMessage *m = NULL;
    uint8_t *deep;
    size_t cap = 300000 * 6, at, len, k;

    UNPACK_FAIL(PROBE, 0xff, 0xff, 0xff);
    UNPACK_FAIL(PROBE, 0x00);                    /* field number 0 */
    UNPACK_FAIL(PROBE, 0x72, 0x05, 'a');         /* f_string length beyond the end */
    UNPACK_FAIL(PROBE, 0x72, 0x01, 0xff);        /* f_string not UTF-8 */
    UNPACK_FAIL(PROBE, 0x72, 0x03, 'a', 0, 'b'); /* f_string with NUL */
    UNPACK_FAIL(PROBE, 0x8a, 0x01, 0x02, 0x0a);  /* leaf (17) holding a cut field */
    UNPACK_FAIL(PROBE, 0x08);                    /* f_int32 without a value */
    UNPACK_FAIL(PROBE, 0x0b, 0x0c);              /* groups */
    UNPACK_FAIL(PROBE, 0x09, 1, 2, 3);           /* fixed64 cut */
    UNPACK_FAIL(PROBE, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
    UNPACK_FAIL(&calixio__v1__probe_strict__descriptor, 0x10, 0x01); /* required key missing */
    UNPACK_FAIL(&calixio__v1__room__descriptor, 0x0a, 0x02, 0xc3, 0x28);
    /* unknown fields are kept by protobuf-c and ignored by the JSON encoder */
    static const uint8_t unk[] = {0xa0, 0x06, 0x01, 0x08, 0x07};
    CX_CHECK(cx_pb_unpack(PROBE, unk, sizeof unk, &m) == CX_OK);
    if (m) {
        CX_CHECK(((Probe *)m)->f_int32 == 7);
        CHECK_ENC(m, "{\"f_int32\":7," EMPTY_REPEATED "}");
        protobuf_c_message_free_unpacked(m, NULL);
    }
    /* 300000 nested `child` messages (field 18, tag bytes 0x92 0x01) must be
     * refused without recursing that deep; CX_JSON_MAX_DEPTH levels pass */
    deep = malloc(cap);
    if (!deep) {
        CX_CHECK(!"oom");
        return;
    }
    for (int levels = 0; levels < 3; levels++) {
        size_t want = levels == 0   ? CX_JSON_MAX_DEPTH - 1
                      : levels == 1 ? CX_JSON_MAX_DEPTH
                                    : 300000;
        at = cap;
        len = 0;
        for (k = 0; k < want; k++) {
            uint8_t v[10];
            size_t vn = 0, x = len;
            do {
                v[vn++] = (uint8_t)((x & 0x7f) | (x > 0x7f ? 0x80 : 0));
                x >>= 7;
            } while (x);
            at -= vn;
            memcpy(deep + at, v, vn);
            at -= 2;
            deep[at] = 0x92;
            deep[at + 1] = 0x01;
            len = cap - at;
        }
        m = NULL;
        if (levels == 0) {
            CX_CHECK(cx_pb_unpack(PROBE, deep + at, len, &m) == CX_OK);
            protobuf_c_message_free_unpacked(m, NULL);
        } else {
            expect_unpack_fail(PROBE, deep + at, len, __LINE__);
        }
    }
    free(deep);
}

static void test_strdup(void)
{
    const char *src = "hello";
    char *c = cx_strdup(src);

    CX_CHECK(cx_strdup(NULL) == NULL);
    CX_CHECK(c && c != src && strcmp(c, src) == 0);
    free(c);
    c = cx_strdup("");
    CX_CHECK(c && c[0] == '\0');
    free(c);
}

/* cx_json_encode writes the text directly, in the form jansson dumps with
 * JSON_COMPACT (before 5899bd9 it dumped a tree built per field; the same
 * probes gave the same bytes both ways then). Its text, parsed and dumped
 * again by jansson (what cx_json_encode_value and its callers see), must
 * come back byte for byte. Pseudo-random probes (fixed seed): every scalar
 * type at edge and random values, strings of random bytes (controls,
 * quotes, backslashes, valid and invalid UTF-8), bytes, enums known and
 * unknown, nested and repeated messages, oneof and required fields. */
static uint64_t rnd_state = 0x9E3779B97F4A7C15u;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

static char *rnd_text(void)
{
    static const char *const pieces[] = {"a",
                                         "\"",
                                         "\\",
                                         "/",
                                         "\n",
                                         "\t",
                                         "\b",
                                         "\f",
                                         "\r",
                                         "\x01",
                                         "\x1f",
                                         "\x7f",
                                         "\xc3\xa9",
                                         "\xe2\x80\xa8",
                                         "\xf0\x9f\x98\x80",
                                         "\xc3",
                                         "\xff",
                                         "\xed\xa0\x80",
                                         "\xe2\x82",
                                         " ",
                                         "{",
                                         "\xef\xbf\xbd"};
    size_t n = rnd() % 12;
    char *t = calloc(1, n * 4 + 1);
    for (size_t i = 0; t && i < n; i++) {
        if (rnd() % 3 == 0) {
            size_t at = strlen(t);
            t[at] = (char)(1 + rnd() % 255); /* any byte but NUL */
            t[at + 1] = '\0';
        } else {
            strcat(t, pieces[rnd() % (sizeof pieces / sizeof *pieces)]);
        }
    }
    return t;
}

static double rnd_double(void)
{
    static const double edge[] = {0.0,
                                  -0.0,
                                  1.0,
                                  -1.5,
                                  0.1,
                                  1e300,
                                  -1e-300,
                                  3.0e20,
                                  123456789.0,
                                  5e-324,
                                  1.7976931348623157e308};
    switch (rnd() % 4) {
    case 0:
        return edge[rnd() % (sizeof edge / sizeof *edge)];
    case 1:
        return NAN;
    case 2:
        return (rnd() & 1) ? INFINITY : -INFINITY;
    default: {
        uint64_t u = rnd();
        double d;
        memcpy(&d, &u, sizeof d);
        return isnan(d) ? 2.5 : d;
    }
    }
}

static ProtobufCBinaryData rnd_bytes(void)
{
    ProtobufCBinaryData b = {rnd() % 7, NULL};
    b.data = malloc(b.len ? b.len : 1);
    for (size_t i = 0; b.data && i < b.len; i++)
        b.data[i] = (uint8_t)rnd();
    return b;
}

/* p->field: 0..max-1 elements made by gen (an expression of the loop). */
#define RND_REP(field, max, gen)                                 \
    do {                                                         \
        p->n_##field = rnd() % (max);                            \
        p->field = calloc(p->n_##field + 1, sizeof *p->field);   \
        for (size_t i_ = 0; p->field && i_ < p->n_##field; i_++) \
            p->field[i_] = (gen);                                \
    } while (0)

static Probe *rnd_probe(int depth)
{
    Probe *p = calloc(1, sizeof *p);
    calixio__v1__codec_probe__init(p);
    uint64_t mask = rnd();
#define RB(k) ((mask >> (k)) & 1)
    if (RB(0))
        p->has_f_int32 = 1, p->f_int32 = (int32_t)rnd();
    if (RB(1))
        p->has_f_sint32 = 1, p->f_sint32 = (rnd() & 1) ? INT32_MIN : (int32_t)rnd();
    if (RB(2))
        p->has_f_sfixed32 = 1, p->f_sfixed32 = (int32_t)rnd();
    if (RB(3))
        p->has_f_int64 = 1, p->f_int64 = (rnd() & 1) ? INT64_MIN : (int64_t)rnd();
    if (RB(4))
        p->has_f_sint64 = 1, p->f_sint64 = (int64_t)rnd();
    if (RB(5))
        p->has_f_sfixed64 = 1, p->f_sfixed64 = INT64_MAX;
    if (RB(6))
        p->has_f_uint32 = 1, p->f_uint32 = (uint32_t)rnd();
    if (RB(7))
        p->has_f_fixed32 = 1, p->f_fixed32 = UINT32_MAX;
    if (RB(8))
        p->has_f_uint64 = 1, p->f_uint64 = rnd(); /* both sides of INT64_MAX */
    if (RB(9))
        p->has_f_fixed64 = 1, p->f_fixed64 = (uint64_t)INT64_MAX + (rnd() & 1);
    if (RB(10))
        p->has_f_float = 1, p->f_float = (float)rnd_double();
    if (RB(11))
        p->has_f_double = 1, p->f_double = rnd_double();
    if (RB(12))
        p->has_f_bool = 1, p->f_bool = rnd() & 1;
    if (RB(13))
        p->f_string = rnd_text();
    if (RB(14))
        p->has_f_bytes = 1, p->f_bytes = rnd_bytes();
    if (RB(15))
        p->has_f_enum = 1, p->f_enum = (Calixio__V1__ProbeColor)((int)(rnd() % 6) - 3);
    if (RB(16)) {
        p->leaf = calloc(1, sizeof *p->leaf);
        calixio__v1__probe_leaf__init(p->leaf);
        p->leaf->label = rnd_text();
    }
    if (RB(17) && depth < 3)
        p->child = rnd_probe(depth + 1);
    if (RB(18))
        RND_REP(r_string, 4, rnd_text());
    if (RB(19))
        RND_REP(r_double, 4, rnd_double());
    if (RB(20))
        RND_REP(r_uint64, 3, rnd());
    if (RB(21))
        RND_REP(r_bytes, 3, rnd_bytes());
    if (RB(22)) {
        p->n_r_leaf = rnd() % 3;
        p->r_leaf = calloc(p->n_r_leaf + 1, sizeof *p->r_leaf);
        for (size_t i = 0; i < p->n_r_leaf; i++) {
            p->r_leaf[i] = calloc(1, sizeof *p->r_leaf[i]);
            calixio__v1__probe_leaf__init(p->r_leaf[i]);
            if (rnd() & 1)
                p->r_leaf[i]->has_weight = 1, p->r_leaf[i]->weight = (int32_t)rnd();
        }
    }
    if (RB(23))
        RND_REP(r_bool, 3, rnd() & 1);
    if (RB(24))
        RND_REP(r_enum, 3, (Calixio__V1__ProbeColor)((int)(rnd() % 8) - 4));
    if (RB(25))
        p->f_default = rnd_text();
#undef RB
    return p;
}

#undef RND_REP

/* Counts (and shows the first 3) messages whose text differs from the
 * dump of its parsed tree. rnd_probe's messages are freed by protobuf-c's own
 * free: every pointer is malloced, the default string never pointed at. */
static void check_same_as_tree(const ProtobufCMessage *m, int *mismatches)
{
    size_t n = 0;
    char *direct = cx_json_encode(m, &n);
    json_t *tree = cx_json_encode_value(m);
    char *ref = tree ? json_dumps(tree, JSON_COMPACT) : NULL;
    if (!direct || !ref || strcmp(direct, ref) != 0 || n != strlen(ref)) {
        if ((*mismatches)++ < 3)
            fprintf(stderr, "    direct: %s\n    tree:   %s\n", direct ? direct : "(null)",
                    ref ? ref : "(null)");
    }
    free(direct);
    free(ref);
    json_decref(tree);
}

static void test_encode_text_is_canonical(void)
{
    int mismatches = 0;
    for (int i = 0; i < 3000; i++) {
        Probe *p = rnd_probe(0);
        check_same_as_tree(&p->base, &mismatches);
        protobuf_c_message_free_unpacked(&p->base, NULL);
    }
    for (int i = 0; i < 300; i++) {
        Calixio__V1__ProbeStrict st = CALIXIO__V1__PROBE_STRICT__INIT;
        Calixio__V1__ProbeLeaf leaf = CALIXIO__V1__PROBE_LEAF__INIT;
        char *key = rnd_text(), *txt = rnd_text();
        st.key = key;
        st.count = (int32_t)rnd();
        switch (rnd() % 4) {
        case 0:
            break;
        case 1:
            st.choice_case = CALIXIO__V1__PROBE_STRICT__CHOICE_AS_TEXT, st.as_text = txt;
            break;
        case 2:
            st.choice_case = CALIXIO__V1__PROBE_STRICT__CHOICE_AS_NUMBER,
            st.as_number = (int64_t)rnd();
            break;
        default:
            st.choice_case = CALIXIO__V1__PROBE_STRICT__CHOICE_AS_LEAF, st.as_leaf = &leaf;
            break;
        }
        check_same_as_tree(&st.base, &mismatches);
        free(key);
        free(txt);
    }
    CX_CHECK_INT(mismatches, 0);
}

int main(void)
{
    CX_RUN(test_roundtrip_every_type);
    CX_RUN(test_encode_from_struct);
    CX_RUN(test_contract_texts);
    CX_RUN(test_unknown_fields);
    CX_RUN(test_wrong_types);
    CX_RUN(test_integer_rules);
    CX_RUN(test_floats);
    CX_RUN(test_base64);
    CX_RUN(test_enums);
    CX_RUN(test_null_is_absent);
    CX_RUN(test_empty_input);
    CX_RUN(test_root_must_be_object);
    CX_RUN(test_depth_limit);
    CX_RUN(test_array_limit);
    CX_RUN(test_size_limit);
    CX_RUN(test_invalid_utf8);
    CX_RUN(test_duplicate_keys);
    CX_RUN(test_required_and_oneof);
    CX_RUN(test_errors_free_partial_messages);
    CX_RUN(test_decode_value);
    CX_RUN(test_encode_bad_utf8_string);
    CX_RUN(test_encode_text_is_canonical);
    CX_RUN(test_pack_unpack);
    CX_RUN(test_unpack_garbage);
    CX_RUN(test_strdup);
    return CX_DONE();
}
