/* http: libmicrohttpd access handler, suspend/resume around NATS. */
#include "http.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "codec.h"
#include "cx_crypto.h"
#include "cx_log.h"
#include "cx_time.h"
#include "headers.h"
#include "metrics.h"
#include "routes.h"
#include "static.h"

/* A body beyond its limit is read and dropped up to this many bytes, so a
 * normal client still gets its 413 on a connection that stays usable; past
 * it (or when Content-Length announces more) the 413 goes out at once and
 * the connection closes. */
#define GW_DISCARD_MAX (8u * 1024u * 1024u)
#define GW_LOG_PATH 200

#define GW_CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

struct gw_http {
    gw_http_cfg cfg;
    struct MHD_Daemon *d;
    atomic_int active;
    atomic_int suspended; /* requests that were suspended, not yet completed */
    atomic_bool draining;
};

typedef enum gw_phase { GW_PH_BODY = 0, GW_PH_WAIT, GW_PH_READY, GW_PH_ANSWERED } gw_phase;

typedef struct gw_req {
    gw_pending pend;    /* NATS request state */
    gw_ready_waiter rw; /* /readyz waiting for a verdict */
    gw_http *h;
    struct MHD_Connection *conn;
    atomic_int phase;
    bool is_ready;         /* waiting on rw rather than pend */
    bool suspended;        /* counted in gw_http.suspended until completed */
    cx_status send_failed; /* CX_OK unless publishing failed */
    bool secure;           /* cookie attributes for TLS */
    gw_match_rc mrc;
    gw_match m;
    const char *url; /* as MHD hands it; valid until completion */
    char method[16];
    char path[GW_LOG_PATH + 1];
    char rid[GW_RID_MAX + 1];
    char ip[GW_IP_MAX];
    int64_t t0_ns;
    char *body;
    size_t len, cap, limit, seen;
    int status;
} gw_req;

/* --- small helpers ---------------------------------------------------------- */

static const char *_hdr(const gw_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

static void _peer_ip(gw_req *r)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(r->ip, sizeof(r->ip), "unknown");
    if (r->h->cfg.trust_proxy && gw_xff_client(_hdr(r, "X-Forwarded-For"), r->ip))
        return;
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, r->ip,
                  sizeof(r->ip));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, r->ip,
                  sizeof(r->ip));
}

/* Queues answer a (consumed) with the headers every answer carries. */
static enum MHD_Result _queue(gw_req *r, gw_answer *a, const char *ctype, const char *allow,
                              bool preflight)
{
    struct MHD_Response *resp;
    if (a->body)
        resp = MHD_create_response_from_buffer(a->len, a->body, MHD_RESPMEM_MUST_FREE);
    else
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        gw_answer_free(a);
        return MHD_NO;
    }
    if (a->body) {
        a->body = NULL; /* now owned by the response */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                ctype ? ctype : "application/json");
    }
    MHD_add_response_header(resp, "X-Request-Id", r->rid);
    const char *origin = _hdr(r, "Origin");
    if (gw_cors_allowed(r->h->cfg.cors, origin)) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(resp, "Access-Control-Allow-Credentials", "true");
        if (preflight) {
            MHD_add_response_header(resp, "Access-Control-Allow-Methods", allow);
            MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                    GW_CORS_ALLOW_HEADERS);
            MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
        } else {
            MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                                    "X-Request-Id, Retry-After");
        }
    }
    MHD_add_response_header(resp, "Vary", "Origin");
    if (allow && *allow)
        MHD_add_response_header(resp, "Allow", allow);
    if (a->set_cookie)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, a->set_cookie);
    if (a->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", a->retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    if (atomic_load(&r->h->draining))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    r->status = a->status;
    atomic_store(&r->phase, GW_PH_ANSWERED);
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)a->status, resp);
    MHD_destroy_response(resp);
    gw_answer_free(a);
    return ret;
}

/* Queues a web app file answer (static.h), consumed, plus the request id. */
static enum MHD_Result _queue_static(gw_req *r, struct MHD_Response *resp, unsigned status)
{
    MHD_add_response_header(resp, "X-Request-Id", r->rid);
    if (atomic_load(&r->h->draining))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    r->status = (int)status;
    atomic_store(&r->phase, GW_PH_ANSWERED);
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result _queue_status(gw_req *r, cx_status s, const char *message)
{
    gw_answer a = {0};
    gw_answer_status(&a, s, message);
    return _queue(r, &a, NULL, NULL, false);
}

/* Counts r among the suspended requests (once; uncounted when completed). */
static void _count_suspended(gw_req *r)
{
    if (!r->suspended) {
        r->suspended = true;
        atomic_fetch_add(&r->h->suspended, 1);
    }
}

/* --- completion callbacks (other threads) ----------------------------------- */

static void _px_done(gw_pending *p)
{
    gw_req *r = GW_CONTAINER(p, gw_req, pend);
    atomic_store(&r->phase, GW_PH_READY);
    MHD_resume_connection(r->conn);
}

static void _ready_done(gw_ready_waiter *w)
{
    gw_req *r = GW_CONTAINER(w, gw_req, rw);
    atomic_store(&r->phase, GW_PH_READY);
    MHD_resume_connection(r->conn);
}

/* --- answers ------------------------------------------------------------------ */

static enum MHD_Result _answer_ready(gw_req *r, unsigned not_ready)
{
    gw_answer a = {0};
    json_t *o;
    if (!not_ready) {
        o = json_pack("{s:s}", "status", "ok");
        a.status = 200;
    } else {
        json_t *list = json_array();
        if (not_ready & GW_READY_NATS)
            json_array_append_new(list, json_string("nats"));
        for (int i = 0; i < gw_ready_n_services; i++)
            if (not_ready & (1u << i))
                json_array_append_new(list, json_string(gw_ready_services[i]));
        o = json_pack("{s:s,s:o}", "status", "unavailable", "not_ready", list);
        a.status = 503;
    }
    a.body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    a.len = a.body ? strlen(a.body) : 0;
    json_decref(o);
    return _queue(r, &a, NULL, NULL, false);
}

static enum MHD_Result _answer_text(gw_req *r, const char *text, size_t len, bool copy,
                                    const char *ctype)
{
    gw_answer a = {.status = 200};
    a.body = copy ? malloc(len + 1) : (char *)text;
    if (!a.body)
        return _queue_status(r, CX_ERR_NOMEM, NULL);
    if (copy)
        memcpy(a.body, text, len + 1);
    a.len = len;
    return _queue(r, &a, ctype, NULL, false);
}

/* GET /rooms/{id}/events (events.h): the bearer from Authorization or
 * ?token= (never logged: the request line is logged without its query),
 * the resume point from Last-Event-ID or ?last_event_id=. */
static enum MHD_Result _events(gw_req *r)
{
    char bearer[GW_AUTH_MAX + 16];
    const char *auth = _hdr(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth && !gw_header_value_ok(auth, GW_AUTH_MAX))
        return _queue_status(r, gw_auth_unusable_status(auth),
                             "the Authorization header is too long or has control bytes");
    if (!auth) {
        const char *tok = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "token");
        if (tok && *tok) {
            if (!gw_header_value_ok(tok, GW_AUTH_MAX - 8))
                return _queue_status(r, CX_ERR_INVALID_TOKEN, NULL);
            snprintf(bearer, sizeof(bearer), "Bearer %s", tok);
            auth = bearer;
        }
    }
    const char *last = _hdr(r, "Last-Event-ID");
    if (!last)
        last = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "last_event_id");
    if (!r->h->cfg.events)
        return _queue_status(r, CX_ERR_UNAVAILABLE, "live events are off");
    struct MHD_Response *resp = NULL;
    cx_status s = gw_events_open(r->h->cfg.events, r->conn, r->m.id, auth, last, r->rid, &resp);
    if (s != CX_OK)
        return _queue_status(r, s, NULL);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    const char *origin = _hdr(r, "Origin");
    if (gw_cors_allowed(r->h->cfg.cors, origin)) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(resp, "Access-Control-Allow-Credentials", "true");
    }
    MHD_add_response_header(resp, "Vary", "Origin");
    return _queue_static(r, resp, 200);
}

static enum MHD_Result _local(gw_req *r, const gw_route *rt)
{
    switch (rt->kind) {
    case GW_K_HEALTH:
        return _answer_text(r, "{\"status\":\"ok\"}", 15, true, NULL);
    case GW_K_METRICS: {
        size_t len = 0;
        char *txt = gw_metrics_render(&len);
        if (!txt)
            return _queue_status(r, CX_ERR_NOMEM, NULL);
        return _answer_text(r, txt, len, false, "text/plain; version=0.0.4; charset=utf-8");
    }
    case GW_K_OPENAPI:
        return _answer_text(r, r->h->cfg.openapi, r->h->cfg.openapi_len, true, NULL);
    case GW_K_EVENTS:
        return _events(r);
    case GW_K_READY: {
        unsigned not_ready = 0;
        if (gw_ready_peek(r->h->cfg.ready, &not_ready))
            return _answer_ready(r, not_ready);
        r->is_ready = true;
        r->rw.done = _ready_done;
        atomic_store(&r->phase, GW_PH_WAIT);
        /* suspend first: the prober may complete the waiter at once */
        _count_suspended(r);
        MHD_suspend_connection(r->conn);
        if (gw_ready_get(r->h->cfg.ready, &r->rw, &not_ready)) {
            r->rw.not_ready = not_ready;
            atomic_store(&r->phase, GW_PH_READY);
            MHD_resume_connection(r->conn);
        }
        return MHD_YES;
    }
    default:
        return _queue_status(r, CX_ERR_INTERNAL, NULL);
    }
}

static enum MHD_Result _answer_reply(gw_req *r)
{
    gw_answer a = {0};
    const gw_route *rt = &gw_routes[r->m.route];
    if (r->send_failed == CX_ERR_PAYLOAD_TOO_LARGE) {
        gw_answer_status(&a, CX_ERR_PAYLOAD_TOO_LARGE,
                         "the request exceeds the NATS message limit");
    } else if (r->send_failed != CX_OK) {
        gw_answer_status(&a, CX_ERR_UNAVAILABLE, "NATS is not reachable");
    } else if (r->pend.outcome == GW_PX_TIMEOUT) {
        gw_metrics_count(GW_M_NATS_TIMEOUT);
        gw_answer_status(&a, CX_ERR_TIMEOUT, "the service did not answer in time");
    } else if (r->pend.outcome == GW_PX_CLOSED) {
        gw_answer_status(&a, CX_ERR_UNAVAILABLE, "the gateway is shutting down");
    } else if (r->pend.outcome == GW_PX_NO_RESPONDERS) {
        gw_metrics_count(GW_M_NATS_NO_RESPONDERS);
        gw_answer_status(&a, CX_ERR_UNAVAILABLE, "no instance of the service is running");
    } else if (r->pend.outcome == GW_PX_REPLY && r->pend.reply) {
        natsMsg *msg = r->pend.reply;
        const char *code = NULL, *text = NULL;
        if (natsMsgHeader_Get(msg, "Nats-Service-Error-Code", &code) != NATS_OK)
            code = NULL;
        if (natsMsgHeader_Get(msg, "Nats-Service-Error", &text) != NATS_OK)
            text = NULL;
        gw_build_answer(rt, code, text, (const uint8_t *)natsMsg_GetData(msg),
                        (size_t)natsMsg_GetDataLength(msg), r->secure, &a);
    } else {
        gw_answer_status(&a, CX_ERR_INTERNAL, NULL);
    }
    gw_pending_clear(&r->pend);
    if (a.status >= 400 && a.status != 503 && a.status != 504)
        cx_log_debug(r->rid, "%s answered %d", rt->subject, a.status);
    return _queue(r, &a, NULL, NULL, false);
}

/* --- dispatch ----------------------------------------------------------------- */

static enum MHD_Result _query_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    gw_query_apply(cls, key, value);
    return MHD_YES;
}

static enum MHD_Result _qargs_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    gw_qargs_add(cls, key, value);
    return MHD_YES;
}

/* Requests safe to process twice, so the proxy may publish them again when
 * no reply comes within GATEWAY_RETRY_AFTER: reads, and join (it only mints
 * a token). Everything else may change state and is sent once. */
static bool _repeatable(const gw_route *rt)
{
    return strcmp(rt->method, "GET") == 0 || (rt->flags & GW_F_REPEATABLE);
}

static enum MHD_Result _proxy(gw_req *r, const gw_route *rt)
{
    gw_answer a = {0};
    gw_query q = {0};
    char cookie[GW_COOKIE_MAX + 1];
    const char *cookie_tok = NULL;
    gw_qargs qa = {0};
    if (rt->kind == GW_K_LIST)
        MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, _query_iter, &q);
    else if (rt->kind == GW_K_MSG && strcmp(rt->method, "GET") == 0)
        MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, _qargs_iter, &qa);
    if ((rt->flags & GW_F_COOKIE_IN) &&
        gw_cookie_get(_hdr(r, "Cookie"), "refresh_token", cookie, sizeof(cookie)) > 0)
        cookie_tok = cookie;
    const char *auth = _hdr(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth && !gw_header_value_ok(auth, GW_AUTH_MAX)) {
        /* present but unusable (too long, control bytes): never "no header" */
        if (rt->flags & (GW_F_BEARER | GW_F_BEARER_OPT))
            return _queue_status(r, gw_auth_unusable_status(auth),
                                 "the Authorization header is too long or has control bytes");
        auth = NULL; /* not forwarded: the route does not read it as a bearer */
    }
    gw_req_in in = {
        .method = r->method,
        .id = r->m.id,
        .match = &r->m,
        .qargs = &qa,
        .body = r->body,
        .body_len = r->len,
        .cookie_token = cookie_tok,
        .query = &q,
        .authorization = auth,
        .content_type = _hdr(r, MHD_HTTP_HEADER_CONTENT_TYPE),
    };
    uint8_t *pb = NULL;
    size_t pb_len = 0;
    if (gw_build_request(rt, &in, &pb, &pb_len, &a) != CX_OK)
        return _queue(r, &a, NULL, NULL, false);
    if (!gw_proxy_connected(r->h->cfg.px) || pb_len > (size_t)INT32_MAX) {
        free(pb);
        return _queue_status(r, CX_ERR_UNAVAILABLE, "NATS is not reachable");
    }
    const char *xfp = _hdr(r, "X-Forwarded-Proto");
    r->secure = r->h->cfg.cookie_secure ||
                (r->h->cfg.trust_proxy && xfp && strcasecmp(xfp, "https") == 0);
    char ua[GW_UA_MAX + 1];
    gw_header_sanitize(_hdr(r, MHD_HTTP_HEADER_USER_AGENT), ua, sizeof(ua));
    gw_px_headers hdrs = {
        .request_id = r->rid,
        .authorization = rt->kind == GW_K_WEBHOOK ? NULL : auth,
        .client_ip = r->ip,
        .user_agent = ua,
    };
    r->pend.done = _px_done;
    r->pend.repeatable = _repeatable(rt);
    atomic_store(&r->phase, GW_PH_WAIT);
    /* suspend first: the reply may come before gw_proxy_send returns */
    _count_suspended(r);
    MHD_suspend_connection(r->conn);
    cx_status st = gw_proxy_send(r->h->cfg.px, &r->pend, rt->subject, pb, (int)pb_len, &hdrs);
    free(pb);
    if (st != CX_OK) {
        r->send_failed = st;
        atomic_store(&r->phase, GW_PH_READY);
        MHD_resume_connection(r->conn);
    }
    return MHD_YES;
}

static enum MHD_Result _dispatch(gw_req *r)
{
    const gw_route *rt = r->m.route >= 0 ? &gw_routes[r->m.route] : NULL;
    bool probe = rt && (rt->kind == GW_K_HEALTH || rt->kind == GW_K_READY ||
                        rt->kind == GW_K_METRICS);
    int retry_after = 1;
    if (!probe && !gw_ratelimit_take(r->h->cfg.rl, r->ip, cx_mono_ms(), &retry_after)) {
        gw_answer a = {0};
        gw_metrics_count(GW_M_RATE_LIMITED);
        gw_answer_status(&a, CX_ERR_RATE_LIMITED, "too many requests, slow down");
        a.retry_after = retry_after;
        return _queue(r, &a, NULL, NULL, false);
    }
    if (strcmp(r->method, "OPTIONS") == 0 && r->mrc != GW_MATCH_NOT_FOUND) {
        gw_answer a = {.status = 204};
        return _queue(r, &a, NULL, r->m.allow, true);
    }
    switch (r->mrc) {
    case GW_MATCH_NOT_FOUND: {
        struct MHD_Response *sr = NULL;
        unsigned ss = 0;
        if (gw_static_answer(r->h->cfg.web, r->conn, r->method, r->url, &sr, &ss))
            return _queue_static(r, sr, ss);
        return _queue_status(r, CX_ERR_NOT_FOUND, "no such route");
    }
    case GW_MATCH_METHOD: {
        gw_answer a = {0};
        gw_answer_status(&a, CX_ERR_METHOD_NOT_ALLOWED, NULL);
        return _queue(r, &a, NULL, r->m.allow, false);
    }
    case GW_MATCH_BAD_ID:
        return _queue_status(r, r->m.bad, NULL);
    case GW_MATCH_OK:
        break;
    }
    if (r->seen > r->limit)
        return _queue_status(r, CX_ERR_PAYLOAD_TOO_LARGE, NULL);
    if (!rt->subject)
        return _local(r, rt);
    return _proxy(r, rt);
}

/* --- libmicrohttpd callbacks ------------------------------------------------- */

static gw_req *_req_new(gw_http *h, struct MHD_Connection *c, const char *url,
                        const char *method)
{
    gw_req *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->h = h;
    r->conn = c;
    r->t0_ns = cx_mono_ns();
    r->url = url;
    snprintf(r->method, sizeof(r->method), "%s", method);
    gw_header_sanitize(url, r->path, sizeof(r->path));
    const char *rid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
    if (gw_request_id_valid(rid))
        snprintf(r->rid, sizeof(r->rid), "%s", rid);
    else
        cx_uuid_v4(r->rid);
    r->mrc = gw_route_match(method, url, &r->m);
    r->limit = gw_route_body_limit(r->m.route);
    _peer_ip(r);
    atomic_fetch_add(&h->active, 1);
    gw_metrics_inflight(1);
    return r;
}

/* First call: a Content-Length far beyond the limit (or one the client
 * waits to be allowed to send) is refused before any body is read. */
static bool _refuse_early(gw_req *r)
{
    const char *cl = _hdr(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl)
        return false;
    unsigned long long n = strtoull(cl, NULL, 10);
    if (n <= r->limit)
        return false;
    const char *expect = _hdr(r, MHD_HTTP_HEADER_EXPECT);
    return n > GW_DISCARD_MAX || (expect && strcasecmp(expect, "100-continue") == 0);
}

static void _take_body(gw_req *r, const char *data, size_t n)
{
    r->seen += n;
    if (r->seen > r->limit) {
        free(r->body);
        r->body = NULL;
        r->len = r->cap = 0;
        return;
    }
    if (r->len + n > r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 1024;
        while (ncap < r->len + n)
            ncap *= 2;
        if (ncap > r->limit)
            ncap = r->limit;
        char *nb = realloc(r->body, ncap);
        if (!nb) { /* treat as too large: the request cannot be served */
            r->seen = r->limit + 1;
            free(r->body);
            r->body = NULL;
            r->len = r->cap = 0;
            return;
        }
        r->body = nb;
        r->cap = ncap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
}

static enum MHD_Result _access(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
    (void)version;
    gw_http *h = cls;
    gw_req *r = *con_cls;
    if (!r) {
        r = _req_new(h, c, url, method);
        if (!r)
            return MHD_NO;
        *con_cls = r;
        if (_refuse_early(r))
            return _queue_status(r, CX_ERR_PAYLOAD_TOO_LARGE, NULL);
        return MHD_YES; /* never answer from the first call: keeps keep-alive */
    }
    switch (atomic_load(&r->phase)) {
    case GW_PH_BODY:
        if (*upload_data_size) {
            _take_body(r, upload_data, *upload_data_size);
            *upload_data_size = 0;
            if (r->seen > GW_DISCARD_MAX)
                return _queue_status(r, CX_ERR_PAYLOAD_TOO_LARGE, NULL);
            return MHD_YES;
        }
        gw_slowguard_received(c); /* fully received: no read deadline while served */
        return _dispatch(r);
    case GW_PH_READY:
        if (r->is_ready)
            return _answer_ready(r, r->rw.not_ready);
        return _answer_reply(r);
    default:
        if (*upload_data_size) /* body after the answer was decided: drop it */
            *upload_data_size = 0;
        return MHD_YES;
    }
}

static void _completed(void *cls, struct MHD_Connection *c, void **con_cls,
                       enum MHD_RequestTerminationCode toe)
{
    gw_http *h = cls;
    gw_req *r = *con_cls;
    if (c)
        gw_slowguard_next(h->cfg.guard, c);
    if (!r)
        return;
    *con_cls = NULL;
    int64_t dur_us = (cx_mono_ns() - r->t0_ns) / 1000;
    if (r->status) {
        gw_metrics_observe(r->m.route, r->status, dur_us);
        cx_log(r->status >= 500 ? CX_LOG_WARN : CX_LOG_INFO, r->rid,
               "http %s %s %d %.3fms ip=%s", r->method, r->path, r->status,
               (double)dur_us / 1000.0, r->ip);
    } else {
        cx_log_info(r->rid, "http %s %s aborted (code %d) ip=%s", r->method, r->path, (int)toe,
                    r->ip);
    }
    gw_pending_clear(&r->pend);
    if (r->suspended)
        atomic_fetch_sub(&h->suspended, 1);
    free(r->body);
    free(r);
    gw_metrics_inflight(-1);
    atomic_fetch_sub(&h->active, 1);
}

static void _mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    cx_log_debug(NULL, "microhttpd: %s", buf);
}

/* --- lifecycle ------------------------------------------------------------------ */

/* Parses "host:port", "[v6]:port" or ":port" into *ss. */
static cx_status _parse_addr(const char *addr, struct sockaddr_storage *ss, bool *v6)
{
    char host[128], port[16];
    const char *colon;
    if (addr[0] == '[') {
        const char *e = strchr(addr, ']');
        if (!e || e[1] != ':' || (size_t)(e - addr - 1) >= sizeof(host))
            return CX_ERR_CONFIG;
        snprintf(host, sizeof(host), "%.*s", (int)(e - addr - 1), addr + 1);
        colon = e + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || (size_t)(colon - addr) >= sizeof(host))
            return CX_ERR_CONFIG;
        snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
    }
    if (strlen(colon + 1) == 0 || strlen(colon + 1) >= sizeof(port))
        return CX_ERR_CONFIG;
    snprintf(port, sizeof(port), "%s", colon + 1);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE},
                    *res = NULL;
    if (getaddrinfo(host[0] ? host : NULL, port, &hints, &res) != 0 || !res)
        return CX_ERR_CONFIG;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return CX_OK;
}

cx_status gw_http_start(gw_http **out, const gw_http_cfg *cfg)
{
    *out = NULL;
    struct sockaddr_storage ss;
    bool v6 = false;
    memset(&ss, 0, sizeof(ss));
    if (_parse_addr(cfg->addr, &ss, &v6) != CX_OK) {
        cx_log_error(NULL, "config: HTTP_ADDR: cannot parse \"%s\" (want host:port)",
                     cfg->addr);
        return CX_ERR_CONFIG;
    }
    gw_http *h = calloc(1, sizeof(*h));
    if (!h)
        return CX_ERR_NOMEM;
    h->cfg = *cfg;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    h->d = MHD_start_daemon(
        flags, 0, NULL, NULL, _access, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)cfg->threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)cfg->connection_timeout_s, MHD_OPTION_NOTIFY_COMPLETED, _completed, h,
        MHD_OPTION_NOTIFY_CONNECTION, gw_slowguard_notify, cfg->guard,
        MHD_OPTION_URI_LOG_CALLBACK, gw_slowguard_uri, cfg->guard, MHD_OPTION_UNESCAPE_CALLBACK,
        gw_static_unescape, NULL, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1, MHD_OPTION_EXTERNAL_LOGGER,
        _mhd_log, NULL, MHD_OPTION_END);
    if (!h->d) {
        cx_log_error(NULL, "http: cannot listen on %s", cfg->addr);
        free(h);
        return CX_ERR_CONFIG;
    }
    *out = h;
    return CX_OK;
}

void gw_http_quiesce(gw_http *h)
{
    atomic_store(&h->draining, true);
    MHD_socket fd = MHD_quiesce_daemon(h->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

int gw_http_active(gw_http *h)
{
    return atomic_load(&h->active);
}

int gw_http_suspended(gw_http *h)
{
    return atomic_load(&h->suspended);
}

void gw_http_stop(gw_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    free(h);
}
