/* codec: HTTP request -> NATS request message, and NATS reply -> HTTP
 * answer, for one route. Pure (no MHD, no NATS objects): everything the
 * conversion needs is passed in. */
#ifndef GW_CODEC_H
#define GW_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cx_status.h"
#include "headers.h"
#include "routes.h"

/* What the gateway answers. body is malloced JSON (NULL: no body, e.g. 204);
 * set_cookie a malloced Set-Cookie value or NULL. */
typedef struct gw_answer {
    int status;
    char *body;
    size_t len;
    char *set_cookie;
    int retry_after; /* > 0: Retry-After header */
} gw_answer;

void gw_answer_free(gw_answer *a);

/* Fills a with {"error":code,"message":message} and status. message NULL:
 * the default text of the code. Out of memory leaves body NULL (status kept). */
void gw_answer_error(gw_answer *a, int status, const char *code, const char *message);

/* As gw_answer_error, from a status of the project enum. */
void gw_answer_status(gw_answer *a, cx_status s, const char *message);

/* The query string pairs of a GET request (GW_K_MSG), borrowed. A key seen
 * twice keeps its last value; pairs past GW_QARGS_MAX are dropped. */
#define GW_QARGS_MAX 16
typedef struct gw_qargs {
    int n;
    struct {
        const char *key, *value;
    } kv[GW_QARGS_MAX];
} gw_qargs;

/* Adds one decoded pair (NULL key or value: ignored). */
void gw_qargs_add(gw_qargs *q, const char *key, const char *value);

/* The inputs of a request besides the route. */
typedef struct gw_req_in {
    const char *method;
    const char *id;        /* lowercased {id}, "" when the route has none */
    const gw_match *match; /* GW_K_MSG: the path parameters (NULL: only id) */
    const gw_qargs *qargs; /* GW_K_MSG on GET: the query (NULL: none) */
    const char *body;      /* may be NULL when body_len is 0 */
    size_t body_len;
    const char *cookie_token;  /* refresh_token cookie value, NULL when absent */
    const gw_query *query;     /* GW_K_LIST */
    const char *authorization; /* GW_K_WEBHOOK: the raw header */
    const char *content_type;  /* GW_K_WEBHOOK */
} gw_req_in;

/* Builds the protobuf request of route rt. On CX_OK *out is malloced (caller
 * frees) with *out_len bytes. On error err holds the HTTP answer (400
 * invalid_json / validation_failed, 415, 500) and *out stays NULL. */
cx_status gw_build_request(const gw_route *rt, const gw_req_in *in, uint8_t **out,
                           size_t *out_len, gw_answer *err);

/* Turns a NATS reply of route rt into the answer. err_code is the
 * Nats-Service-Error-Code header (NULL when absent), err_text the
 * Nats-Service-Error header (may be NULL). secure selects the cookie
 * attributes `SameSite=None; Secure` instead of `SameSite=Lax`. A reply that
 * does not decode is 502 upstream_error. */
void gw_build_answer(const gw_route *rt, const char *err_code, const char *err_text,
                     const uint8_t *data, size_t len, bool secure, gw_answer *out);

/* The Set-Cookie value that clears the refresh cookie (malloced). */
char *gw_cookie_clear(bool secure);

#endif
