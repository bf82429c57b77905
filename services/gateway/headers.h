/* headers: pure parsers for what a client sends (request id, cookies,
 * X-Forwarded-For, Content-Type, the /rooms query). No MHD, no NATS: the fuzz
 * target calls these directly. Every function bounds what it reads. */
#ifndef GW_HEADERS_H
#define GW_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cx_status.h"

#define GW_RID_MAX 128     /* longest accepted X-Request-Id */
#define GW_COOKIE_MAX 1024 /* longest accepted refresh_token cookie value */
#define GW_UA_MAX 256      /* Calixio-User-Agent is truncated to this */
#define GW_AUTH_MAX 8192   /* longer Authorization headers are not forwarded */
#define GW_IP_MAX 46       /* INET6_ADDRSTRLEN */
#define GW_STATUS_MAX 32   /* longest ?status= value */

/* True when s (NUL-terminated) is a sane client request id: 1..GW_RID_MAX
 * bytes, each printable ASCII without space, quote or backslash. */
bool gw_request_id_valid(const char *s);

/* Finds cookie `name` in a Cookie header value. Copies its value into out
 * (cap bytes incl. NUL) and returns its length; -1 when absent, empty,
 * longer than cap-1, or containing a byte outside the cookie-octet set. */
int gw_cookie_get(const char *header, const char *name, char *out, size_t cap);

/* True when every byte of s is a cookie-octet (RFC 6265) and 1 <= len <= GW_COOKIE_MAX. */
bool gw_cookie_value_ok(const char *s);

/* The client address from an X-Forwarded-For value: the right-most entry
 * that parses as an IPv4/IPv6 address (the one our trusted proxy appended).
 * Writes it in canonical form into out[GW_IP_MAX]; false when none. */
bool gw_xff_client(const char *xff, char out[GW_IP_MAX]);

/* True when the media type of Content-Type value ct (parameters and case
 * ignored, surrounding spaces ignored) equals want. NULL ct is false. */
bool gw_ctype_is(const char *ct, const char *want);

/* True when s may be forwarded as a NATS header value: no control bytes
 * (CR, LF, NUL...), at most max bytes. */
bool gw_header_value_ok(const char *s, size_t max);

/* The 401 for an Authorization value that gw_header_value_ok refused (too
 * long or with control bytes): CX_ERR_INVALID_TOKEN when it has the
 * "Bearer " form, CX_ERR_INVALID_AUTH otherwise, as libcommon's bearer
 * parser would have answered. Never CX_ERR_MISSING_AUTH: the header is there. */
cx_status gw_auth_unusable_status(const char *authorization);

/* Copies s into out (cap incl. NUL), replacing bytes outside printable ASCII
 * by '?' and truncating. */
void gw_header_sanitize(const char *s, char *out, size_t cap);

/* The /rooms query: limit, offset, status. */
typedef struct gw_query {
    bool has_limit, has_offset, has_status;
    int32_t limit, offset;
    char status[GW_STATUS_MAX + 1];
    const char *bad_field; /* first field that failed ("limit"...), NULL if none */
    const char *bad_rule;  /* "integer" or "max" */
} gw_query;

/* Applies one decoded query pair. Unknown keys are ignored; an empty or
 * NULL value means "absent". A limit/offset that is not a decimal int32, or
 * a status longer than GW_STATUS_MAX, records bad_field (the first only). */
void gw_query_apply(gw_query *q, const char *key, const char *value);

#endif
