/* cx_json: descriptor-driven JSON <-> protobuf codec (protobuf-c + jansson).
 *
 * One codec for the gateway and every service. JSON keys are the proto field
 * names (snake_case, exactly as declared). Rules:
 *  - decode: the input must be a JSON object; an unknown key is an error
 *    naming it; a wrong type is an error naming the field; numbers for
 *    int32/int64/uint32/uint64 (a decimal string is also accepted, as in
 *    proto3 JSON), fractional or out-of-range numbers are rejected; bool
 *    only true/false; enums by value name (or number); bytes as standard
 *    base64; repeated fields as arrays; nested messages as objects; `null`
 *    means "absent". Strings must be valid UTF-8 (jansson checks).
 *    Limits: input bytes (CX_JSON_MAX_INPUT unless given), nesting depth
 *    (CX_JSON_MAX_DEPTH) and array length (CX_JSON_MAX_ARRAY).
 *  - encode: fields in declaration order; a scalar is written only when its
 *    has_ flag is set, a string/bytes/message only when set (non-NULL /
 *    has_); repeated fields are always written (possibly []). int64 values
 *    are written as JSON numbers (the API contract uses numbers).
 *
 * Decoded messages are allocated with malloc in the layout
 * protobuf_c_message_free_unpacked(msg, NULL) expects; free them with it. */
#ifndef CX_JSON_H
#define CX_JSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "cx_status.h"

#define CX_JSON_MAX_INPUT (1024 * 1024)
#define CX_JSON_MAX_DEPTH 32
#define CX_JSON_MAX_ARRAY 10000

/* Decodes len bytes of JSON text into a new message of type d.
 * len 0 (empty body) decodes to an empty message.
 * Errors: CX_ERR_INVALID_JSON (with a reason in err, e.g.
 * "unknown field \"foo\"" or "field \"limit\": expected integer"),
 * CX_ERR_PAYLOAD_TOO_LARGE, CX_ERR_NOMEM. *out written only on success. */
cx_status cx_json_decode(const ProtobufCMessageDescriptor *d, const char *json, size_t len,
                         ProtobufCMessage **out, char *err, size_t errlen);

/* As cx_json_decode, from an already parsed object (borrowed). */
cx_status cx_json_decode_value(const ProtobufCMessageDescriptor *d, const json_t *obj,
                               ProtobufCMessage **out, char *err, size_t errlen);

/* Encodes m as a new JSON object (caller json_decref()s); NULL on OOM. */
json_t *cx_json_encode_value(const ProtobufCMessage *m);

/* Encodes m as compact JSON text: malloced, NUL-terminated, *len_out set
 * (may be NULL). NULL on OOM. */
char *cx_json_encode(const ProtobufCMessage *m, size_t *len_out);

/* Packs m in protobuf binary form: malloced buffer, *len_out set. */
uint8_t *cx_pb_pack(const ProtobufCMessage *m, size_t *len_out);

/* Unpacks protobuf binary into a new message of type d (validated by
 * protobuf-c); CX_ERR_INVALID_JSON is not used: a bad buffer is
 * CX_ERR_BAD_REQUEST. Free with protobuf_c_message_free_unpacked. */
cx_status cx_pb_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
                       ProtobufCMessage **out);

/* malloc'ed copy of s (NULL stays NULL); for filling reply messages. */
char *cx_strdup(const char *s);

#endif
