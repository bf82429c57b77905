// CX_FUZZ_SOURCES: services/gateway/routes.c services/gateway/headers.c services/gateway/cors.c services/gateway/codec.c services/gateway/ratelimit.c
/* fuzz_gateway.c: libFuzzer target for the gateway's request handling that
 * runs without libmicrohttpd or NATS: path routing (prefixes, {id} UUIDs,
 * 405 Allow lists), the header parsers (request id, Cookie, X-Forwarded-For,
 * Content-Type, Origin / CORS list), the /rooms query, the request builder
 * (JSON body -> protobuf for every route) and the reply mapper (protobuf or
 * error reply -> JSON answer, cookies).
 *
 * Built by tests/fuzz/run.sh (CMake -DCX_FUZZ=ON, sources from the line
 * above). By hand, from the repository root (needs the generated protobuf
 * headers and sources of any build dir, e.g. build-gateway/gen):
 *
 *   clang -std=c17 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
 *     -fno-sanitize-recover=undefined -Ilibcommon -Ibuild-gateway/gen \
 *     $(pkg-config --cflags jansson libprotobuf-c libsodium libnats) \
 *     tests/fuzz/fuzz_gateway.c services/gateway/routes.c services/gateway/headers.c \
 *     services/gateway/cors.c services/gateway/codec.c services/gateway/ratelimit.c \
 *     libcommon/cx_json.c libcommon/cx_status.c build-gateway/gen/calixio/v1/?*.pb-c.c \
 *     $(pkg-config --libs jansson libprotobuf-c libsodium) -lm -o /tmp/fuzz_gateway
 *   /tmp/fuzz_gateway -max_total_time=30 tests/fuzz/corpus/gateway
 *
 * Input: lines "method\npath\ncookie\nx-forwarded-for\norigin-or-cors-list\n
 * content-type\nx-request-id\nquery\n" then the body (all bytes after the
 * eighth newline; missing lines are empty). Invariants are checked with
 * abort() so a violation is a crash. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx_crypto.h"
#include "../../services/gateway/codec.h"
#include "../../services/gateway/cors.h"
#include "../../services/gateway/headers.h"
#include "../../services/gateway/ratelimit.h"
#include "../../services/gateway/routes.h"

#define CHECK(c)                                                                     \
    do {                                                                             \
        if (!(c)) {                                                                  \
            fprintf(stderr, "invariant failed %s:%d: %s\n", __FILE__, __LINE__, #c); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

#define N_LINES 8

static gw_ratelimit *rl;

/* Splits the input into N_LINES NUL-terminated lines plus the body. */
static void _split(const uint8_t *data, size_t size, char *buf, char *lines[N_LINES],
                   const char **body, size_t *body_len)
{
    memcpy(buf, data, size);
    buf[size] = '\0';
    size_t pos = 0;
    for (int i = 0; i < N_LINES; i++) {
        lines[i] = buf + pos;
        while (pos < size && buf[pos] != '\n')
            pos++;
        if (pos < size)
            buf[pos++] = '\0'; /* past the end: later lines are all "" */
    }
    *body = buf + pos;
    *body_len = size - pos;
}

static void _check_route(const char *method, const char *path)
{
    gw_match m;
    gw_match_rc rc = gw_route_match(method, path, &m);
    if (rc == GW_MATCH_NOT_FOUND) {
        CHECK(m.route == -1 && m.allow[0] == '\0');
        return;
    }
    CHECK(strstr(m.allow, "OPTIONS") != NULL);
    if (rc == GW_MATCH_METHOD) {
        CHECK(m.route == -1);
        return;
    }
    CHECK(m.route >= 0 && m.route < gw_n_routes);
    CHECK(strcmp(gw_routes[m.route].method, method) == 0);
    CHECK(strstr(m.allow, method) != NULL);
    bool has_id = strstr(gw_routes[m.route].pattern, "{id}") != NULL;
    if (rc == GW_MATCH_OK && has_id) {
        CHECK(cx_uuid_valid_str(m.id));
        for (const char *c = m.id; *c; c++)
            CHECK(!(*c >= 'A' && *c <= 'F'));
    }
    if (!has_id)
        CHECK(m.id[0] == '\0');
    CHECK(m.n_params >= 0 && m.n_params <= GW_MAX_PARAMS);
    if (rc == GW_MATCH_BAD_ID)
        CHECK(m.bad != CX_OK && cx_status_http(m.bad) == 404);
    else
        CHECK(m.bad == CX_OK);
    for (int p = 0; rc == GW_MATCH_OK && p < m.n_params; p++) {
        const char *v = m.params[p].value;
        size_t n = strlen(v);
        CHECK(n >= 1 && n <= GW_PARAM_MAX);
        if (m.params[p].def->type == GW_P_UUID)
            CHECK(cx_uuid_valid_str(v));
        if (m.params[p].def->type == GW_P_CODE) {
            CHECK(n == 10);
            for (const char *c = v; *c; c++)
                CHECK(*c >= 'a' && *c <= 'z');
        }
        if (m.params[p].def->type == GW_P_IDENTITY)
            CHECK(n <= 64);
    }
}

static void _check_headers(char *lines[N_LINES])
{
    char out[GW_COOKIE_MAX + 1];
    int n = gw_cookie_get(lines[2], "refresh_token", out, sizeof(out));
    if (n >= 0) {
        CHECK((size_t)n == strlen(out));
        CHECK(gw_cookie_value_ok(out));
    }
    char ip[GW_IP_MAX];
    if (gw_xff_client(lines[3], ip)) {
        unsigned char bin[16];
        CHECK(inet_pton(AF_INET, ip, bin) == 1 || inet_pton(AF_INET6, ip, bin) == 1);
    }
    gw_cors cors;
    if (gw_cors_parse(&cors, lines[4]) == CX_OK) {
        CHECK(cors.n <= GW_CORS_MAX_ORIGINS);
        for (int i = 0; i < cors.n; i++)
            CHECK(gw_cors_allowed(&cors, cors.origins[i]) ||
                  !gw_header_value_ok(cors.origins[i], GW_ORIGIN_MAX));
        if (gw_cors_allowed(&cors, lines[0]))
            CHECK(gw_header_value_ok(lines[0], GW_ORIGIN_MAX));
    }
    (void)gw_ctype_is(lines[5], "application/json");
    if (gw_request_id_valid(lines[6]))
        CHECK(strlen(lines[6]) <= GW_RID_MAX && !strchr(lines[6], ' '));
    char ua[GW_UA_MAX + 1];
    gw_header_sanitize(lines[6], ua, sizeof(ua));
    CHECK(gw_header_value_ok(ua, GW_UA_MAX));
    int ra = 0;
    if (!gw_ratelimit_take(rl, lines[3], 1000, &ra))
        CHECK(ra >= 1);
}

static void _parse_query(char *q, gw_query *out, gw_qargs *qa)
{
    memset(out, 0, sizeof(*out));
    memset(qa, 0, sizeof(*qa));
    for (char *save = NULL, *kv = strtok_r(q, "&", &save); kv;
         kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (eq)
            *eq = '\0';
        gw_query_apply(out, kv, eq ? eq + 1 : NULL);
        gw_qargs_add(qa, kv, eq ? eq + 1 : NULL);
    }
    CHECK(qa->n >= 0 && qa->n <= GW_QARGS_MAX);
    if (out->has_status)
        CHECK(strlen(out->status) <= GW_STATUS_MAX);
}

static void _check_codec(const char *method, const char *path, gw_query *q, const gw_qargs *qa,
                         char *lines[N_LINES], const char *body, size_t body_len)
{
    gw_match m;
    gw_match_rc rc = gw_route_match(method, path, &m);
    int idx = rc == GW_MATCH_OK ? m.route : (int)(body_len % (size_t)gw_n_routes);
    const gw_route *rt = &gw_routes[idx];
    if (!rt->subject)
        return;
    gw_req_in in = {
        .method = rt->method,
        .id = rc == GW_MATCH_OK ? m.id : "00000000-0000-4000-8000-000000000000",
        .match = rc == GW_MATCH_OK ? &m : NULL,
        .qargs = qa,
        .body = body,
        .body_len = body_len,
        .cookie_token = lines[2][0] ? lines[2] : NULL,
        .query = q,
        .authorization = lines[3],
        .content_type = lines[5],
    };
    uint8_t *pb = NULL;
    size_t pb_len = 0;
    gw_answer err = {0};
    cx_status s = gw_build_request(rt, &in, &pb, &pb_len, &err);
    if (s == CX_OK)
        CHECK(pb != NULL && err.body == NULL);
    else
        CHECK(pb == NULL && err.status >= 400 && err.body != NULL);
    free(pb);
    gw_answer_free(&err);

    /* the body as a reply: success form and error form */
    gw_answer a;
    gw_build_answer(rt, NULL, NULL, (const uint8_t *)body, body_len, body_len & 1, &a);
    CHECK(a.status >= 200 && a.status < 600);
    if (a.set_cookie)
        CHECK(strncmp(a.set_cookie, "refresh_token=", 14) == 0 && !strchr(a.set_cookie, '\n'));
    gw_answer_free(&a);
    gw_build_answer(rt, lines[6], lines[7], (const uint8_t *)body, body_len, false, &a);
    CHECK(a.status >= 400 && a.status < 600 && a.body != NULL);
    gw_answer_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!rl && gw_ratelimit_create(&rl, 5, 10) != CX_OK)
        abort();
    if (size > 256 * 1024)
        return 0;
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    char *lines[N_LINES];
    const char *body;
    size_t body_len;
    _split(data, size, buf, lines, &body, &body_len);

    _check_route(lines[0], lines[1]);
    _check_route("GET", lines[1]);
    _check_route("POST", lines[1]);
    (void)cx_uuid_valid_str(lines[1]);
    _check_headers(lines);
    char qcopy[1024];
    snprintf(qcopy, sizeof(qcopy), "%s", lines[7]);
    gw_query q;
    gw_qargs qa;
    _parse_query(qcopy, &q, &qa);
    _check_codec(lines[0], lines[1], &q, &qa, lines, body, body_len);
    free(buf);
    return 0;
}
