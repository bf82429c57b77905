/* cx_json: descriptor-driven JSON <-> protobuf codec. See cx_json.h.
 *
 * The codec walks protobuf-c's message descriptors: each field descriptor
 * says where the value lives in the C struct (offset), where its presence
 * flag / count / oneof case lives (quantifier_offset), and for messages and
 * enums which descriptor describes the value. Decoded messages are built with
 * malloc in exactly the layout protobuf_c_message_free_unpacked(m, NULL)
 * frees, and are kept consistent at every step so that a failure half way
 * through is cleaned up by that same call. */
#include "cx_json.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEMBER_AT(msg, off) ((void *)((char *)(msg) + (off)))
#define CMEMBER_AT(msg, off) ((const void *)((const char *)(msg) + (off)))

/* Longest field path kept for error messages ("rooms[3].name"). */
#define PATH_CAP 256

struct dec {
    char *err;
    size_t errlen;
    char path[PATH_CAP];
};

/* ---- errors and field paths ------------------------------------------------ */

static cx_status json_err(struct dec *dc, cx_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static cx_status json_err(struct dec *dc, cx_status st, const char *fmt, ...)
{
    va_list ap;

    if (dc->err && dc->errlen) {
        va_start(ap, fmt);
        vsnprintf(dc->err, dc->errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

/* Error about the field at the current path: `field "<path>": <what>`. */
static cx_status ferr(struct dec *dc, cx_status st, const char *what)
{
    return json_err(dc, st, "field \"%s\": %s", dc->path, what);
}

/* Appends ".name" (or "name" at the root) to the path; returns the old
 * length for path_pop. Over-long paths are truncated, never overflowed. */
static size_t path_push_name(struct dec *dc, const char *name)
{
    size_t old = strlen(dc->path);

    snprintf(dc->path + old, sizeof dc->path - old, old ? ".%s" : "%s", name);
    return old;
}

static size_t path_push_index(struct dec *dc, size_t i)
{
    size_t old = strlen(dc->path);

    snprintf(dc->path + old, sizeof dc->path - old, "[%zu]", i);
    return old;
}

static void path_pop(struct dec *dc, size_t old)
{
    dc->path[old] = '\0';
}

/* ---- UTF-8 and base64 ------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid.
 * Rejects overlong forms, surrogates and code points above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len, i;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t k;

    while (n) {
        k = utf8_seq(p, n);
        if (!k)
            return false;
        p += k;
        n -= k;
    }
    return true;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of one base64 digit (standard or URL-safe alphabet), -1 if none. */
static int b64_digit(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Decodes base64 text (padding optional, but correct if present; unused
 * trailing bits must be zero). Returns false on malformed input or OOM
 * (*oom tells which). *out is malloced (NULL when the result is empty). */
static bool b64_decode(const char *s, size_t n, uint8_t **out, size_t *out_len, bool *oom)
{
    size_t pad = 0, full, rem, i, o = 0;
    uint8_t *buf;
    uint32_t acc = 0;
    int bits = 0, d;

    *oom = false;
    if (n % 4 == 0 && n >= 4) {
        if (s[n - 1] == '=')
            pad++;
        if (pad && s[n - 2] == '=')
            pad++;
    }
    full = n - pad;
    rem = full % 4;
    if (rem == 1)
        return false;
    buf = NULL;
    if (full) {
        buf = malloc(full / 4 * 3 + 3);
        if (!buf) {
            *oom = true;
            return false;
        }
    }
    for (i = 0; i < full; i++) {
        d = b64_digit((unsigned char)s[i]);
        if (d < 0)
            goto out_free_buf;
        acc = (acc << 6) | (uint32_t)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* padding, if any, must fill the last quantum exactly */
    if (pad && (4 - rem) % 4 != pad)
        goto out_free_buf;
    if (acc != 0) /* non-canonical: leftover bits set */
        goto out_free_buf;
    *out = buf;
    *out_len = o;
    return true;

out_free_buf:
    free(buf);
    return false;
}

/* Standard base64 with padding of p[0..n) into out (room for
 * (n + 2) / 3 * 4 bytes); returns the length written. */
static size_t b64_encode(const uint8_t *p, size_t n, char *out)
{
    size_t i, o = 0;
    uint32_t v;

    for (i = 0; i + 2 < n; i += 3) {
        v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (i < n) {
        v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    return o;
}

/* ---- decoding: scalars ---------------------------------------------------------- */

/* Parses an optional '-' and 1..20 decimal digits, nothing else. */
static bool parse_decimal(const char *s, bool *neg, uint64_t *mag)
{
    uint64_t v = 0;
    unsigned dgt;

    *neg = (*s == '-');
    if (*neg)
        s++;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        dgt = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - dgt) / 10)
            return false;
        v = v * 10 + dgt;
    }
    *mag = v;
    return true;
}

/* An integer in [lo, hi] from a JSON integer, an integral real or a decimal
 * string. */
static cx_status get_int(struct dec *dc, const json_t *v, int64_t lo, int64_t hi, int64_t *out)
{
    bool neg;
    uint64_t mag;
    double d;

    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < lo || i > hi)
            return ferr(dc, CX_ERR_INVALID_JSON, "integer out of range");
        *out = i;
        return CX_OK;
    }
    if (json_is_real(v)) {
        d = json_real_value(v);
        if (d != trunc(d))
            return ferr(dc, CX_ERR_INVALID_JSON, "expected integer, got a fraction");
        /* (double)hi + 1 is exact or rounds to 2^63 for INT64_MAX */
        if (d < (double)lo || d >= (double)hi + 1.0)
            return ferr(dc, CX_ERR_INVALID_JSON, "integer out of range");
        *out = (int64_t)d;
        return CX_OK;
    }
    if (json_is_string(v)) {
        if (!parse_decimal(json_string_value(v), &neg, &mag))
            return ferr(dc, CX_ERR_INVALID_JSON, "expected integer");
        if (neg ? mag > (uint64_t)INT64_MAX + 1 : mag > (uint64_t)INT64_MAX)
            return ferr(dc, CX_ERR_INVALID_JSON, "integer out of range");
        if (neg)
            *out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
        else
            *out = (int64_t)mag;
        if (*out < lo || *out > hi)
            return ferr(dc, CX_ERR_INVALID_JSON, "integer out of range");
        return CX_OK;
    }
    return ferr(dc, CX_ERR_INVALID_JSON, "expected integer");
}

/* As get_int for unsigned values in [0, hi]. */
static cx_status get_uint(struct dec *dc, const json_t *v, uint64_t hi, uint64_t *out)
{
    bool neg;
    uint64_t mag;
    double d;

    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || (uint64_t)i > hi)
            return ferr(dc, CX_ERR_INVALID_JSON, "integer out of range");
        *out = (uint64_t)i;
        return CX_OK;
    }
    if (json_is_real(v)) {
        d = json_real_value(v);
        if (d != trunc(d))
            return ferr(dc, CX_ERR_INVALID_JSON, "expected integer, got a fraction");
        if (d < 0 || d >= (double)hi + 1.0)
            return ferr(dc, CX_ERR_INVALID_JSON, "integer out of range");
        *out = (uint64_t)d;
        return CX_OK;
    }
    if (json_is_string(v)) {
        if (!parse_decimal(json_string_value(v), &neg, &mag))
            return ferr(dc, CX_ERR_INVALID_JSON, "expected integer");
        if ((neg && mag != 0) || mag > hi)
            return ferr(dc, CX_ERR_INVALID_JSON, "integer out of range");
        *out = mag;
        return CX_OK;
    }
    return ferr(dc, CX_ERR_INVALID_JSON, "expected integer");
}

/* A number, or one of the strings "NaN", "Infinity", "-Infinity". */
static cx_status get_double(struct dec *dc, const json_t *v, double *out)
{
    const char *s;

    if (json_is_number(v)) {
        *out = json_number_value(v);
        return CX_OK;
    }
    if (json_is_string(v)) {
        s = json_string_value(v);
        if (strcmp(s, "NaN") == 0) {
            *out = NAN;
            return CX_OK;
        }
        if (strcmp(s, "Infinity") == 0) {
            *out = INFINITY;
            return CX_OK;
        }
        if (strcmp(s, "-Infinity") == 0) {
            *out = -INFINITY;
            return CX_OK;
        }
    }
    return ferr(dc, CX_ERR_INVALID_JSON, "expected number");
}

static cx_status get_enum(struct dec *dc, const ProtobufCEnumDescriptor *ed, const json_t *v,
                          int32_t *out)
{
    const ProtobufCEnumValue *ev = NULL;

    if (json_is_string(v))
        ev = protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(v));
    else if (json_is_integer(v) && json_integer_value(v) >= INT32_MIN &&
             json_integer_value(v) <= INT32_MAX)
        ev = protobuf_c_enum_descriptor_get_value(ed, (int)json_integer_value(v));
    else
        return ferr(dc, CX_ERR_INVALID_JSON, "expected enum name");
    if (!ev)
        return ferr(dc, CX_ERR_INVALID_JSON, "unknown enum value");
    *out = ev->value;
    return CX_OK;
}

static cx_status get_string(struct dec *dc, const json_t *v, char **out)
{
    size_t n;
    char *s;

    if (!json_is_string(v))
        return ferr(dc, CX_ERR_INVALID_JSON, "expected string");
    n = json_string_length(v);
    /* jansson may hold NULs (JSON_ALLOW_NUL, json_stringn); C strings can't */
    if (memchr(json_string_value(v), '\0', n))
        return ferr(dc, CX_ERR_INVALID_JSON, "string contains a NUL character");
    s = malloc(n + 1);
    if (!s)
        return json_err(dc, CX_ERR_NOMEM, "out of memory");
    memcpy(s, json_string_value(v), n + 1);
    *out = s;
    return CX_OK;
}

static cx_status get_bytes(struct dec *dc, const json_t *v, ProtobufCBinaryData *out)
{
    uint8_t *data = NULL;
    size_t len = 0;
    bool oom;

    if (!json_is_string(v))
        return ferr(dc, CX_ERR_INVALID_JSON, "expected base64 string");
    if (!b64_decode(json_string_value(v), json_string_length(v), &data, &len, &oom))
        return oom ? json_err(dc, CX_ERR_NOMEM, "out of memory")
                   : ferr(dc, CX_ERR_INVALID_JSON, "invalid base64");
    out->data = data;
    out->len = len;
    return CX_OK;
}

/* ---- decoding: fields and messages ------------------------------------------------ */

static cx_status decode_msg(struct dec *dc, const ProtobufCMessageDescriptor *d,
                            const json_t *obj, int depth, ProtobufCMessage **out);

/* Decodes one value of field f (one element, for repeated fields) into dst.
 * On failure nothing is stored in dst. */
static cx_status decode_one(struct dec *dc, const ProtobufCFieldDescriptor *f, const json_t *v,
                            void *dst, int depth)
{
    cx_status st = CX_OK;
    int64_t i;
    uint64_t u;
    double d;

    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if ((st = get_int(dc, v, INT32_MIN, INT32_MAX, &i)) == CX_OK)
            *(int32_t *)dst = (int32_t)i;
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if ((st = get_int(dc, v, INT64_MIN, INT64_MAX, &i)) == CX_OK)
            *(int64_t *)dst = i;
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if ((st = get_uint(dc, v, UINT32_MAX, &u)) == CX_OK)
            *(uint32_t *)dst = (uint32_t)u;
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if ((st = get_uint(dc, v, UINT64_MAX, &u)) == CX_OK)
            *(uint64_t *)dst = u;
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        if ((st = get_double(dc, v, &d)) != CX_OK)
            break;
        if (isfinite(d) && fabs(d) > FLT_MAX)
            return ferr(dc, CX_ERR_INVALID_JSON, "number out of range");
        *(float *)dst = (float)d;
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        if ((st = get_double(dc, v, &d)) == CX_OK)
            *(double *)dst = d;
        break;
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v))
            return ferr(dc, CX_ERR_INVALID_JSON, "expected boolean");
        *(protobuf_c_boolean *)dst = json_is_true(v);
        break;
    case PROTOBUF_C_TYPE_ENUM:
        st = get_enum(dc, f->descriptor, v, (int32_t *)dst);
        break;
    case PROTOBUF_C_TYPE_STRING:
        st = get_string(dc, v, (char **)dst);
        break;
    case PROTOBUF_C_TYPE_BYTES:
        st = get_bytes(dc, v, (ProtobufCBinaryData *)dst);
        break;
    case PROTOBUF_C_TYPE_MESSAGE:
        if (!json_is_object(v))
            return ferr(dc, CX_ERR_INVALID_JSON, "expected object");
        if (depth + 1 > CX_JSON_MAX_DEPTH)
            return ferr(dc, CX_ERR_INVALID_JSON, "nesting too deep");
        st = decode_msg(dc, f->descriptor, v, depth + 1, (ProtobufCMessage **)dst);
        break;
    default:
        return ferr(dc, CX_ERR_INVALID_JSON, "unsupported field type");
    }
    return st;
}

/* Size of one element of a repeated field's C array. */
static size_t elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default: /* 32-bit integers, enums, float */
        return 4;
    }
}

/* A JSON array into a repeated field. The count is raised only after each
 * element is stored, so free_unpacked sees a consistent array on failure. */
static cx_status decode_repeated(struct dec *dc, ProtobufCMessage *m,
                                 const ProtobufCFieldDescriptor *f, const json_t *v, int depth)
{
    size_t n, i, esz = elem_size(f->type), mark;
    size_t *count = MEMBER_AT(m, f->quantifier_offset);
    void **arr = MEMBER_AT(m, f->offset);
    cx_status st;

    if (!json_is_array(v))
        return ferr(dc, CX_ERR_INVALID_JSON, "expected array");
    n = json_array_size(v);
    if (n > CX_JSON_MAX_ARRAY)
        return ferr(dc, CX_ERR_PAYLOAD_TOO_LARGE, "too many array elements");
    if (n == 0)
        return CX_OK;
    *arr = calloc(n, esz);
    if (!*arr)
        return json_err(dc, CX_ERR_NOMEM, "out of memory");
    for (i = 0; i < n; i++) {
        mark = path_push_index(dc, i);
        st = decode_one(dc, f, json_array_get(v, i), (char *)*arr + i * esz, depth);
        path_pop(dc, mark);
        if (st != CX_OK)
            return st;
        (*count)++;
    }
    return CX_OK;
}

static cx_status decode_field(struct dec *dc, ProtobufCMessage *m,
                              const ProtobufCFieldDescriptor *f, const json_t *v, int depth)
{
    uint32_t *oneof_case;
    cx_status st;

    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return decode_repeated(dc, m, f, v, depth);
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        oneof_case = MEMBER_AT(m, f->quantifier_offset);
        if (*oneof_case != 0 && *oneof_case != f->id)
            return ferr(dc, CX_ERR_INVALID_JSON, "another field of its oneof is already set");
        st = decode_one(dc, f, v, MEMBER_AT(m, f->offset), depth);
        if (st == CX_OK)
            *oneof_case = f->id;
        return st;
    }
    st = decode_one(dc, f, v, MEMBER_AT(m, f->offset), depth);
    if (st == CX_OK && f->label == PROTOBUF_C_LABEL_OPTIONAL &&
        f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)MEMBER_AT(m, f->quantifier_offset) = 1;
    return st;
}

/* Every required field must have a non-null value in obj. */
static cx_status check_required(struct dec *dc, const ProtobufCMessageDescriptor *d,
                                const json_t *obj)
{
    const json_t *v;
    size_t mark;
    unsigned i;

    for (i = 0; i < d->n_fields; i++) {
        if (d->fields[i].label != PROTOBUF_C_LABEL_REQUIRED)
            continue;
        v = json_object_get(obj, d->fields[i].name);
        if (!v || json_is_null(v)) {
            mark = path_push_name(dc, d->fields[i].name);
            ferr(dc, CX_ERR_INVALID_JSON, "required");
            path_pop(dc, mark);
            return CX_ERR_INVALID_JSON;
        }
    }
    return CX_OK;
}

/* Decodes the JSON object obj (already type-checked) at nesting depth
 * `depth` (the root is 1) into a new message of type d. */
static cx_status decode_msg(struct dec *dc, const ProtobufCMessageDescriptor *d,
                            const json_t *obj, int depth, ProtobufCMessage **out)
{
    const ProtobufCFieldDescriptor *f;
    ProtobufCMessage *m;
    const char *key;
    json_t *v;
    size_t mark;
    cx_status st = CX_OK;

    m = malloc(d->sizeof_message);
    if (!m)
        return json_err(dc, CX_ERR_NOMEM, "out of memory");
    protobuf_c_message_init(d, m);
    json_object_foreach((json_t *)obj, key, v)
    {
        mark = path_push_name(dc, key);
        f = protobuf_c_message_descriptor_get_field_by_name(d, key);
        if (!f)
            st = json_err(dc, CX_ERR_INVALID_JSON, "unknown field \"%s\"", dc->path);
        else if (!json_is_null(v)) /* null means absent */
            st = decode_field(dc, m, f, v, depth);
        path_pop(dc, mark);
        if (st != CX_OK)
            goto out_free_msg;
    }
    st = check_required(dc, d, obj);
    if (st != CX_OK)
        goto out_free_msg;
    *out = m;
    return CX_OK;

out_free_msg:
    protobuf_c_message_free_unpacked(m, NULL);
    return st;
}

/* Decodes a parsed JSON object into a new message; see cx_json.h. */
cx_status cx_json_decode_value(const ProtobufCMessageDescriptor *d, const json_t *obj,
                               ProtobufCMessage **out, char *err, size_t errlen)
{
    struct dec dc = {.err = err, .errlen = errlen};

    if (err && errlen)
        err[0] = '\0';
    if (!d || !out)
        return json_err(&dc, CX_ERR_INTERNAL, "bad arguments");
    if (!obj || !json_is_object(obj))
        return json_err(&dc, CX_ERR_INVALID_JSON, "body is not a JSON object");
    return decode_msg(&dc, d, obj, 1, out);
}

/* Parses and decodes len bytes of JSON; see cx_json.h. */
cx_status cx_json_decode(const ProtobufCMessageDescriptor *d, const char *json, size_t len,
                         ProtobufCMessage **out, char *err, size_t errlen)
{
    struct dec dc = {.err = err, .errlen = errlen};
    json_error_t jerr;
    json_t *root;
    cx_status st;

    if (err && errlen)
        err[0] = '\0';
    if (len > CX_JSON_MAX_INPUT)
        return json_err(&dc, CX_ERR_PAYLOAD_TOO_LARGE, "body larger than %d bytes",
                        CX_JSON_MAX_INPUT);
    if (len == 0) {
        root = json_object();
    } else {
        if (!json)
            return json_err(&dc, CX_ERR_INTERNAL, "bad arguments");
        root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (!root && json_error_code(&jerr) != json_error_out_of_memory)
            return json_err(&dc, CX_ERR_INVALID_JSON, "malformed JSON at line %d column %d: %s",
                            jerr.line, jerr.column, jerr.text);
    }
    if (!root)
        return json_err(&dc, CX_ERR_NOMEM, "out of memory");
    st = cx_json_decode_value(d, root, out, err, errlen);
    json_decref(root);
    return st;
}

/* ---- encoding ------------------------------------------------------------------------ */

/* A real as jansson holds it; NaN and the infinities as the strings the
 * decoder accepts back. */
static json_t *double_json(double d)
{
    if (isnan(d))
        return json_string("NaN");
    if (isinf(d))
        return json_string(d > 0 ? "Infinity" : "-Infinity");
    return json_real(d);
}

/* Whether the non-repeated field f is present in m (see cx_json.h rules). */
static bool present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const void *p = CMEMBER_AT(m, f->offset);

    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        if (*(const uint32_t *)CMEMBER_AT(m, f->quantifier_offset) != f->id)
            return false;
    }
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return *(const void *const *)p != NULL;
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        /* like protobuf-c's packer: an untouched default is not "set" */
        return *(const void *const *)p != NULL && (f->label != PROTOBUF_C_LABEL_OPTIONAL ||
                                                   *(const void *const *)p != f->default_value);
    }
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return true;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL) /* scalars and bytes: has_ flag */
        return *(const protobuf_c_boolean *)CMEMBER_AT(m, f->quantifier_offset);
    return true; /* required, proto3 implicit presence */
}

/* ---- encoding -----------------------------------------------------------------
 *
 * Straight to text, into one growing buffer (a tree of a node per field,
 * dumped by jansson, was ~21 % malloc and free and ~13 % jansson of the
 * gateway's profile for a reply of 50 chat messages), in the form jansson
 * dumps with JSON_COMPACT: members in field-number order, strings escaped
 * as jansson escapes them, reals formatted by jansson itself. A tree, where
 * a caller needs one, is that text parsed (cx_json_encode_value). */

struct wbuf {
    char *p;
    size_t n, cap;
    bool oom;
};

/* Room for n more bytes (and the final NUL) at b->p + b->n; NULL once out
 * of memory (b->oom stays set). */
static char *wb_reserve(struct wbuf *b, size_t n)
{
    if (b->oom)
        return NULL;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return NULL;
        }
        b->p = q;
        b->cap = cap;
    }
    return b->p + b->n;
}

static void wb_put(struct wbuf *b, const char *s, size_t n)
{
    char *dst = wb_reserve(b, n);
    if (dst) {
        memcpy(dst, s, n);
        b->n += n;
    }
}

#define WB_LIT(b, lit) wb_put((b), (lit), sizeof(lit) - 1)

/* s[0..n) as a JSON string: quoted, escaped as jansson escapes (", \, and
 * control characters; short forms for \b \f \n \r \t), invalid UTF-8
 * replaced by U+FFFD, one per invalid byte (text that is not valid UTF-8
 * is only possible from a handler bug: decoders validate). */
static void wb_string(struct wbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    /* written as a backslash and the letter below it */
    static const char short_esc[] = "\"\\\b\f\n\r\t", short_letter[] = "\"\\bfnrt";
    size_t i = 0, run = 0, k;
    char esc[6];

    WB_LIT(b, "\"");
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            run++;
            continue;
        }
        wb_put(b, s + i - run, run);
        run = 0;
        if (c >= 0x80) {
            k = utf8_seq((const unsigned char *)s + i, n - i);
            if (k) {
                wb_put(b, s + i, k);
                i += k;
            } else {
                WB_LIT(b, "\xEF\xBF\xBD");
                i++;
            }
            continue;
        }
        i++;
        const char *q = c ? strchr(short_esc, c) : NULL;
        esc[0] = '\\';
        if (q) {
            esc[1] = short_letter[q - short_esc];
            wb_put(b, esc, 2);
        } else {
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            wb_put(b, esc, 6);
        }
    }
    wb_put(b, s + i - run, run);
    WB_LIT(b, "\"");
}

static void wb_int(struct wbuf *b, long long v)
{
    char num[24];
    int k = snprintf(num, sizeof num, "%lld", v);
    wb_put(b, num, (size_t)k);
}

static void wb_real(struct wbuf *b, double d)
{
    char num[64];
    json_t *v = double_json(d);
    size_t k = v ? json_dumpb(v, num, sizeof num, JSON_COMPACT | JSON_ENCODE_ANY) : 0;
    json_decref(v);
    if (k == 0 || k > sizeof num)
        b->oom = true;
    else
        wb_put(b, num, k);
}

static void wb_b64(struct wbuf *b, const uint8_t *p, size_t n)
{
    WB_LIT(b, "\"");
    char *dst = wb_reserve(b, (n + 2) / 3 * 4);
    if (dst)
        b->n += b64_encode(p, n, dst);
    WB_LIT(b, "\"");
}

static void wb_msg(struct wbuf *b, const ProtobufCMessage *m);

/* One value of field f (one element, for repeated fields). */
static void wb_one(struct wbuf *b, const ProtobufCFieldDescriptor *f, const void *p)
{
    const ProtobufCEnumValue *ev;
    const ProtobufCBinaryData *bd;
    const char *str;
    char num[24];
    uint64_t u;

    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        wb_int(b, *(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        wb_int(b, (long long)*(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        wb_int(b, *(const uint32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        u = *(const uint64_t *)p;
        if (u <= (uint64_t)INT64_MAX) {
            wb_int(b, (long long)u);
        } else {
            int k = snprintf(num, sizeof num, "%" PRIu64, u);
            wb_string(b, num, (size_t)k);
        }
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        wb_real(b, *(const float *)p);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        wb_real(b, *(const double *)p);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        if (*(const protobuf_c_boolean *)p)
            WB_LIT(b, "true");
        else
            WB_LIT(b, "false");
        break;
    case PROTOBUF_C_TYPE_ENUM:
        ev = protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int32_t *)p);
        if (ev)
            wb_string(b, ev->name, strlen(ev->name));
        else
            wb_int(b, *(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_STRING:
        str = *(const char *const *)p ? *(const char *const *)p : "";
        wb_string(b, str, strlen(str));
        break;
    case PROTOBUF_C_TYPE_BYTES:
        bd = p;
        wb_b64(b, bd->data, bd->data ? bd->len : 0);
        break;
    case PROTOBUF_C_TYPE_MESSAGE:
        if (*(const ProtobufCMessage *const *)p)
            wb_msg(b, *(const ProtobufCMessage *const *)p);
        else
            WB_LIT(b, "{}");
        break;
    default:
        WB_LIT(b, "null");
        break;
    }
}

static void wb_msg(struct wbuf *b, const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    bool first = true;

    WB_LIT(b, "{");
    for (unsigned i = 0; i < d->n_fields && !b->oom; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        bool rep = f->label == PROTOBUF_C_LABEL_REPEATED;
        if (!rep && !present(m, f))
            continue;
        if (!first)
            WB_LIT(b, ",");
        first = false;
        wb_string(b, f->name, strlen(f->name));
        WB_LIT(b, ":");
        if (!rep) {
            wb_one(b, f, CMEMBER_AT(m, f->offset));
            continue;
        }
        size_t n = *(const size_t *)CMEMBER_AT(m, f->quantifier_offset),
               esz = elem_size(f->type);
        const char *arr = *(const char *const *)CMEMBER_AT(m, f->offset);
        WB_LIT(b, "[");
        for (size_t k = 0; arr && k < n; k++) {
            if (k)
                WB_LIT(b, ",");
            wb_one(b, f, arr + k * esz);
        }
        WB_LIT(b, "]");
    }
    WB_LIT(b, "}");
}

/* Encodes m as compact JSON text (malloced, caller frees); see cx_json.h. */
char *cx_json_encode(const ProtobufCMessage *m, size_t *len_out)
{
    struct wbuf b = {0};

    if (!m)
        return NULL;
    wb_msg(&b, m);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    b.p[b.n] = '\0'; /* wb_put always leaves room for it */
    if (len_out)
        *len_out = b.n;
    return b.p;
}

/* Encodes m as a new JSON object; see cx_json.h. */
json_t *cx_json_encode_value(const ProtobufCMessage *m)
{
    size_t n = 0;
    char *txt = cx_json_encode(m, &n);
    json_t *v = txt ? json_loadb(txt, n, 0, NULL) : NULL;

    free(txt);
    return v;
}

/* ---- protobuf binary ---------------------------------------------------------------------- */

/* Packs m into a malloced buffer (never NULL for a valid message, even when
 * empty); NULL on OOM. Caller frees. */
uint8_t *cx_pb_pack(const ProtobufCMessage *m, size_t *len_out)
{
    size_t n;
    uint8_t *buf;

    if (!m)
        return NULL;
    n = protobuf_c_message_get_packed_size(m);
    buf = malloc(n ? n : 1);
    if (!buf)
        return NULL;
    protobuf_c_message_pack(m, buf);
    if (len_out)
        *len_out = n;
    return buf;
}

static bool pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    unsigned shift;

    for (shift = 0; shift < 70 && *p < end; shift += 7) {
        v |= (uint64_t)(**p & 0x7F) << shift;
        if (!(*(*p)++ & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* Pre-scan of the wire format before protobuf-c sees it: bounds message
 * nesting (protobuf-c recurses without a limit, and a self-referencing type
 * could exhaust the stack) and requires string fields to be UTF-8 without
 * NUL (they end up in JSON, logs and Postgres). */
static bool pb_scan(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
                    int depth)
{
    const uint8_t *end = p + len;
    const ProtobufCFieldDescriptor *f;
    uint64_t key, n;

    while (p < end) {
        if (!pb_varint(&p, end, &key) || key >> 3 == 0 || key >> 3 > UINT32_MAX)
            return false;
        switch (key & 7) {
        case 0:
            if (!pb_varint(&p, end, &n))
                return false;
            break;
        case 1:
            if (end - p < 8)
                return false;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return false;
            p += 4;
            break;
        case 2:
            if (!pb_varint(&p, end, &n) || n > (uint64_t)(end - p))
                return false;
            f = protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3));
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
                (depth + 1 > CX_JSON_MAX_DEPTH || !pb_scan(f->descriptor, p, n, depth + 1)))
                return false;
            if (f && f->type == PROTOBUF_C_TYPE_STRING &&
                (memchr(p, '\0', n) || !utf8_valid((const char *)p, n)))
                return false;
            p += n;
            break;
        default: /* groups are not supported by protobuf-c either */
            return false;
        }
    }
    return true;
}

/* Unpacks protobuf binary into a new message; see cx_json.h. */
cx_status cx_pb_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
                       ProtobufCMessage **out)
{
    ProtobufCMessage *m;
    static const uint8_t empty[1];

    if (!d || !out || (!buf && len))
        return CX_ERR_INTERNAL;
    if (!buf)
        buf = empty;
    if (!pb_scan(d, buf, len, 1))
        return CX_ERR_BAD_REQUEST;
    m = protobuf_c_message_unpack(d, NULL, len, buf);
    if (!m)
        return CX_ERR_BAD_REQUEST;
    *out = m;
    return CX_OK;
}

/* malloc'ed copy of s (NULL for NULL or on OOM); caller frees. */
char *cx_strdup(const char *s)
{
    size_t n;
    char *c;

    if (!s)
        return NULL;
    n = strlen(s) + 1;
    c = malloc(n);
    if (c)
        memcpy(c, s, n);
    return c;
}
