/* cx_service.c: the NATS service runtime (endpoints, error contract,
 * $SRV discovery, worker pool, drain). */
#include "cx_service.h"

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "calixio/v1/common.pb-c.h"
#include "cx_crypto.h"
#include "cx_denylist.h"
#include "cx_json.h"
#include "cx_log.h"
#include "cx_time.h"

#define CX_MAX_SUBS 64
#define CX_MAX_TICKS 8
#define CX_DRAIN_TIMEOUT_MS 10000
#define CX_REVOKED_EVENT CX_DENYLIST_EVENT

typedef struct ep_state {
    cx_service *svc;
    const cx_endpoint *ep;
    char subject[256];
    natsSubscription *subs[CX_MAX_SUBS];
    int nsubs;
    pthread_mutex_t mu; /* guards the counters: $SRV.STATS reads them from another thread */
    uint64_t num_requests;
    uint64_t num_errors;
    int64_t processing_ns;
    char last_error[320];
} ep_state;

typedef struct job {
    ep_state *es;
    natsMsg *msg;
} job;

typedef struct tick {
    int64_t every_ms;
    int64_t next_ms;
    void (*fn)(void *);
    void *arg;
} tick;

struct cx_service {
    const cx_service_opts *o;
    natsOptions *nopts;
    natsConnection *nc;
    char id[32];
    char micro_name[80];
    char queue[80];
    char started[40];
    ep_state *eps;
    natsSubscription *srv_subs[9];
    int n_srv_subs;
    natsSubscription *revoked_sub; /* <prefix>.events.auth.revoked */

    /* bounded worker pool for pooled endpoints */
    pthread_t *workers;
    int nworkers;
    pthread_mutex_t qmu;
    pthread_cond_t qcv;
    job *queue_buf;
    int qcap, qhead, qlen, busy;
    bool qstop;

    tick ticks[CX_MAX_TICKS];
    int nticks;

    volatile sig_atomic_t stop; /* set by cx_service_stop: this service only */
};

/* A signal stops the whole process, so it is the one process-wide flag: it
 * is only ever set (never reset by a create), and every service's run loop
 * reads it beside its own stop flag. */
static volatile sig_atomic_t signalled;

static void on_signal(int sig)
{
    (void)sig;
    signalled = 1;
}

void cx_service_stop(cx_service *s)
{
    s->stop = 1;
}

/* ---- request context helpers ------------------------------------------- */

cx_status cx_req_field_error(cx_req *req, const char *field, const char *rule)
{
    if (req->n_fields == 0)
        snprintf(req->reason, sizeof req->reason, "%s_%s", field, rule);
    if (req->n_fields < CX_REQ_MAX_FIELDS) {
        snprintf(req->fields[req->n_fields].field, sizeof req->fields[0].field, "%s", field);
        snprintf(req->fields[req->n_fields].rule, sizeof req->fields[0].rule, "%s", rule);
        req->n_fields++;
    }
    return CX_ERR_VALIDATION;
}

cx_status cx_req_fail(cx_req *req, cx_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req->message, sizeof req->message, fmt, ap);
    va_end(ap);
    return s;
}

static const char *hdr(natsMsg *m, const char *key)
{
    const char *v = NULL;
    if (natsMsgHeader_Get(m, key, &v) != NATS_OK || !v)
        return "";
    return v;
}

/* ---- replies ------------------------------------------------------------ */

/* Publishes one reply. Returns the first failure of building the message,
 * setting a header or publishing: a reply whose error headers could not be
 * set is not sent at all (without them it would read as a success). */
static natsStatus publish_reply(cx_service *s, const char *reply, const void *data, size_t len,
                                cx_status st, const char *errmsg, bool json)
{
    natsMsg *m = NULL;
    char code[8];

    if (len > INT_MAX)
        return NATS_MAX_PAYLOAD;
    natsStatus ns = natsMsg_Create(&m, reply, NULL, (const char *)data, (int)len);
    if (ns == NATS_OK && st != CX_OK) {
        snprintf(code, sizeof code, "%d", cx_status_http(st));
        ns = natsMsgHeader_Set(m, "Nats-Service-Error-Code", code);
        if (ns == NATS_OK)
            ns = natsMsgHeader_Set(m, "Nats-Service-Error", errmsg);
    }
    if (ns == NATS_OK && json)
        ns = natsMsgHeader_Set(m, "Content-Type", "application/json");
    if (ns == NATS_OK)
        ns = natsConnection_PublishMsg(s->nc, m);
    natsMsg_Destroy(m);
    return ns;
}

/* Encodes m as JSON or protobuf; malloced buffer into *buf. */
static cx_status encode(const ProtobufCMessage *m, bool json, void **buf, size_t *len)
{
    *buf = json ? (void *)cx_json_encode(m, len) : (void *)cx_pb_pack(m, len);
    return *buf ? CX_OK : CX_ERR_NOMEM;
}

/* Answers st per the error contract; returns the publish status (a body
 * that cannot be encoded is NATS_NO_MEMORY). */
static natsStatus reply_error(cx_service *s, const char *reply, const cx_req *req, cx_status st,
                              bool json)
{
    Calixio__V1__Error e = CALIXIO__V1__ERROR__INIT;
    Calixio__V1__FieldViolation fv[CX_REQ_MAX_FIELDS];
    Calixio__V1__FieldViolation *fvp[CX_REQ_MAX_FIELDS];
    void *buf = NULL;
    size_t len = 0;
    natsStatus ns = NATS_NO_MEMORY;

    e.code = (char *)cx_status_code(st);
    e.message = (char *)(req->message[0] ? req->message : cx_status_message(st));
    if (req->reason[0])
        e.reason = (char *)req->reason;
    for (int i = 0; i < req->n_fields; i++) {
        calixio__v1__field_violation__init(&fv[i]);
        fv[i].field = (char *)req->fields[i].field;
        fv[i].rule = (char *)req->fields[i].rule;
        fvp[i] = &fv[i];
    }
    e.n_fields = (size_t)req->n_fields;
    e.fields = fvp;
    if (req->retry_after > 0) {
        e.has_retry_after = 1;
        e.retry_after = req->retry_after;
    }
    if (encode(&e.base, json, &buf, &len) == CX_OK)
        ns = publish_reply(s, reply, buf, len, st, e.message, json);
    free(buf);
    return ns;
}

/* Sends the answer for st (the encoded reply on CX_OK, else the error
 * contract). A reply that cannot be sent is an error of the request: st
 * becomes CX_ERR_INTERNAL with a message naming the cause (so $SRV.STATS
 * counts it and the log shows it), and when the success reply was the
 * one that failed (e.g. larger than the server's max_payload) the caller
 * still gets a 500 instead of waiting for its timeout. */
static cx_status answer(cx_service *s, const char *reply, cx_req *req, cx_status st,
                        const void *buf, size_t len, bool json)
{
    natsStatus ns;
    if (!reply || !*reply)
        return st;
    if (st == CX_OK) {
        ns = publish_reply(s, reply, buf, len, CX_OK, NULL, json);
        if (ns == NATS_OK)
            return CX_OK;
        st = CX_ERR_INTERNAL;
        snprintf(req->message, sizeof req->message, "reply not sent: %s",
                 natsStatus_GetText(ns));
        if (reply_error(s, reply, req, st, json) == NATS_OK)
            return st;
    } else {
        ns = reply_error(s, reply, req, st, json);
        if (ns == NATS_OK)
            return st;
        char why[sizeof req->message];
        snprintf(why, sizeof why, "%s", req->message[0] ? req->message : cx_status_message(st));
        snprintf(req->message, sizeof req->message, "error reply not sent (%s): %.120s",
                 natsStatus_GetText(ns), why);
    }
    cx_log_error(req->request_id, "%s: reply to %s lost: %s", req->subject, reply,
                 natsStatus_GetText(ns));
    return CX_ERR_INTERNAL;
}

/* ---- the request path ---------------------------------------------------- */

static void count(ep_state *es, int64_t dt_ns, cx_status st, const cx_req *req)
{
    pthread_mutex_lock(&es->mu);
    es->num_requests++;
    es->processing_ns += dt_ns;
    if (st != CX_OK) {
        es->num_errors++;
        snprintf(es->last_error, sizeof es->last_error, "%d:%s", cx_status_http(st),
                 req->message[0] ? req->message : cx_status_message(st));
    }
    pthread_mutex_unlock(&es->mu);
}

static cx_status decode(const ep_state *es, natsMsg *msg, bool json, cx_req *req,
                        ProtobufCMessage **in)
{
    const char *data = natsMsg_GetData(msg);
    size_t len = (size_t)natsMsg_GetDataLength(msg);
    char err[200];

    if (!data)
        data = "";
    if (!json)
        return cx_pb_unpack(es->ep->in, (const uint8_t *)data, len, in);
    cx_status st = cx_json_decode(es->ep->in, data, len, in, err, sizeof err);
    if (st != CX_OK)
        snprintf(req->message, sizeof req->message, "%s", err);
    return st;
}

static cx_status authenticate(cx_service *s, const cx_endpoint *ep, cx_req *req)
{
    if (ep->auth == CX_AUTH_NONE)
        return CX_OK;
    if (ep->auth == CX_AUTH_OPTIONAL && !req->authorization[0])
        return CX_OK;
    if (!s->o->auth)
        return CX_ERR_INTERNAL;
    return cx_auth_verify_header(s->o->auth, s->o->revocation, req->authorization,
                                 &req->caller);
}

static void handle(ep_state *es, natsMsg *msg)
{
    cx_service *s = es->svc;
    const cx_endpoint *ep = es->ep;
    int64_t t0 = cx_mono_ns();
    ProtobufCMessage *in = NULL, *out = NULL;
    cx_req req;
    void *buf = NULL;
    size_t len = 0;
    const char *reply = natsMsg_GetReply(msg);
    bool json = strncmp(hdr(msg, "Content-Type"), "application/json", 16) == 0;

    memset(&req, 0, sizeof req);
    req.subject = natsMsg_GetSubject(msg);
    req.request_id = hdr(msg, "Calixio-Request-Id");
    req.authorization = hdr(msg, "Authorization");
    req.client_ip = hdr(msg, "Calixio-Client-Ip");
    req.user_agent = hdr(msg, "Calixio-User-Agent");

    cx_status st = decode(es, msg, json, &req, &in);
    if (st == CX_OK)
        st = authenticate(s, ep, &req);
    if (st == CX_OK) {
        st = ep->fn(&req, in, &out, s->o->ctx);
        if (st == CX_OK && (!out || out->descriptor != ep->out)) {
            cx_log_error(req.request_id, "%s: handler returned no reply of the right type",
                         es->subject);
            st = CX_ERR_INTERNAL;
        }
    }
    if (st == CX_OK && encode(out, json, &buf, &len) != CX_OK)
        st = CX_ERR_NOMEM;

    st = answer(s, reply, &req, st, buf, len, json);
    int64_t dt = cx_mono_ns() - t0;
    count(es, dt, st, &req);
    if (st != CX_OK && cx_status_http(st) >= 500)
        cx_log_error(req.request_id, "%s -> %d %s: %s", ep->name, cx_status_http(st),
                     cx_status_code(st), req.message[0] ? req.message : cx_status_message(st));
    else
        cx_log_debug(req.request_id, "%s -> %d %s (%lld us)", ep->name, cx_status_http(st),
                     cx_status_code(st), (long long)(dt / 1000));

    free(buf);
    if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    if (in)
        protobuf_c_message_free_unpacked(in, NULL);
    natsMsg_Destroy(msg);
}

/* ---- worker pool for CPU-heavy endpoints -------------------------------- */

static void *worker(void *arg)
{
    cx_service *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->qmu);
        while (s->qlen == 0 && !s->qstop)
            pthread_cond_wait(&s->qcv, &s->qmu);
        if (s->qlen == 0 && s->qstop) {
            pthread_mutex_unlock(&s->qmu);
            break;
        }
        job j = s->queue_buf[s->qhead];
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qlen--;
        s->busy++;
        pthread_mutex_unlock(&s->qmu);

        handle(j.es, j.msg);

        pthread_mutex_lock(&s->qmu);
        s->busy--;
        pthread_cond_broadcast(&s->qcv);
        pthread_mutex_unlock(&s->qmu);
    }
    nats_ReleaseThreadMemory();
    return NULL;
}

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    ep_state *es = closure;
    cx_service *s = es->svc;
    (void)nc;
    (void)sub;

    if (!es->ep->pooled) {
        handle(es, msg);
        return;
    }
    pthread_mutex_lock(&s->qmu);
    if (s->qlen < s->qcap && !s->qstop) {
        s->queue_buf[(s->qhead + s->qlen) % s->qcap] = (job){es, msg};
        s->qlen++;
        pthread_cond_signal(&s->qcv);
        pthread_mutex_unlock(&s->qmu);
        return;
    }
    pthread_mutex_unlock(&s->qmu);

    /* Queue full: answer 503 now rather than let a burst stall everything. */
    cx_req req;
    memset(&req, 0, sizeof req);
    req.request_id = hdr(msg, "Calixio-Request-Id");
    snprintf(req.message, sizeof req.message, "%s is busy, try again", s->micro_name);
    const char *reply = natsMsg_GetReply(msg);
    bool json = strncmp(hdr(msg, "Content-Type"), "application/json", 16) == 0;
    req.subject = natsMsg_GetSubject(msg);
    cx_status st = answer(s, reply, &req, CX_ERR_UNAVAILABLE, NULL, 0, json);
    count(es, 0, st, &req);
    cx_log_warn(req.request_id, "%s: worker queue full (%d), answered 503", es->ep->name,
                s->qcap);
    natsMsg_Destroy(msg);
}

/* ---- $SRV discovery (ADR-32, shape as nats.go micro) -------------------- */

enum { SRV_PING, SRV_INFO, SRV_STATS };
static const char *const srv_verbs[] = {"PING", "INFO", "STATS"};
static const char *const srv_types[] = {"io.nats.micro.v1.ping_response",
                                        "io.nats.micro.v1.info_response",
                                        "io.nats.micro.v1.stats_response"};

typedef struct srv_closure {
    cx_service *s;
    int verb;
} srv_closure;

static srv_closure srv_closures[64][3];
static int srv_closure_slot;
static pthread_mutex_t srv_slot_mu = PTHREAD_MUTEX_INITIALIZER;

static json_t *srv_body(cx_service *s, int verb)
{
    const cx_service_opts *o = s->o;
    json_t *b = json_object();
    json_object_set_new(b, "type", json_string(srv_types[verb]));
    json_object_set_new(b, "name", json_string(s->micro_name));
    json_object_set_new(b, "id", json_string(s->id));
    json_object_set_new(b, "version", json_string(o->version ? o->version : "0.1.0"));
    json_object_set_new(b, "metadata", json_pack("{s:s}", "lang", "c"));
    if (verb == SRV_PING)
        return b;
    if (verb == SRV_INFO)
        json_object_set_new(b, "description",
                            json_string(o->description ? o->description : ""));
    else
        json_object_set_new(b, "started", json_string(s->started));
    json_t *eps = json_array();
    for (int i = 0; i < o->n_endpoints; i++) {
        ep_state *es = &s->eps[i];
        json_t *e = json_object();
        json_object_set_new(e, "name", json_string(es->ep->name));
        json_object_set_new(e, "subject", json_string(es->subject));
        json_object_set_new(e, "queue_group", json_string(s->queue));
        if (verb == SRV_INFO) {
            json_object_set_new(e, "metadata", json_null());
        } else {
            pthread_mutex_lock(&es->mu);
            uint64_t n = es->num_requests;
            json_object_set_new(e, "num_requests", json_integer((json_int_t)n));
            json_object_set_new(e, "num_errors", json_integer((json_int_t)es->num_errors));
            json_object_set_new(e, "last_error", json_string(es->last_error));
            json_object_set_new(e, "processing_time", json_integer(es->processing_ns));
            json_object_set_new(e, "average_processing_time",
                                json_integer(n ? es->processing_ns / (int64_t)n : 0));
            pthread_mutex_unlock(&es->mu);
        }
        json_array_append_new(eps, e);
    }
    json_object_set_new(b, "endpoints", eps);
    return b;
}

static void on_srv(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    srv_closure *c = closure;
    const char *reply = natsMsg_GetReply(msg);
    (void)sub;
    if (reply && *reply) {
        json_t *b = srv_body(c->s, c->verb);
        char *text = b ? json_dumps(b, JSON_COMPACT) : NULL;
        natsStatus ns = text ? natsConnection_Publish(nc, reply, text, (int)strlen(text))
                             : NATS_NO_MEMORY;
        if (ns != NATS_OK)
            cx_log_error(NULL, "%s: $SRV.%s reply lost: %s", c->s->micro_name,
                         srv_verbs[c->verb], natsStatus_GetText(ns));
        free(text);
        json_decref(b);
    }
    natsMsg_Destroy(msg);
}

/* ---- lifecycle ---------------------------------------------------------------- */

const char *cx_service_subject(const cx_service *s, const char *rel, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s.%s", s->o->prefix ? s->o->prefix : "calixio", rel);
    return buf;
}

natsConnection *cx_service_conn(cx_service *s)
{
    return s->nc;
}

cx_status cx_service_publish(cx_service *s, const char *rel, const ProtobufCMessage *m)
{
    char subj[512];
    size_t len = 0;
    uint8_t *buf = cx_pb_pack(m, &len);
    if (!buf)
        return CX_ERR_NOMEM;
    natsStatus ns = natsConnection_Publish(s->nc, cx_service_subject(s, rel, subj, sizeof subj),
                                           buf, (int)len);
    free(buf);
    return ns == NATS_OK ? CX_OK : CX_ERR_UNAVAILABLE;
}

cx_status cx_service_every(cx_service *s, int64_t every_ms, void (*fn)(void *), void *arg)
{
    if (s->nticks >= CX_MAX_TICKS || every_ms <= 0)
        return CX_ERR_INTERNAL;
    s->ticks[s->nticks++] = (tick){every_ms, cx_mono_ms() + every_ms, fn, arg};
    return CX_OK;
}

static cx_status subscribe_srv(cx_service *s)
{
    int slot;
    pthread_mutex_lock(&srv_slot_mu);
    slot = srv_closure_slot < 64 ? srv_closure_slot++ : -1;
    pthread_mutex_unlock(&srv_slot_mu);
    if (slot < 0)
        return CX_ERR_INTERNAL;
    for (int v = 0; v < 3; v++) {
        char subj[3][256];
        srv_closures[slot][v] = (srv_closure){s, v};
        snprintf(subj[0], sizeof subj[0], "$SRV.%s", srv_verbs[v]);
        snprintf(subj[1], sizeof subj[1], "$SRV.%s.%s", srv_verbs[v], s->micro_name);
        snprintf(subj[2], sizeof subj[2], "$SRV.%s.%s.%s", srv_verbs[v], s->micro_name, s->id);
        for (int k = 0; k < 3; k++) {
            if (natsConnection_Subscribe(&s->srv_subs[s->n_srv_subs], s->nc, subj[k], on_srv,
                                         &srv_closures[slot][v]) != NATS_OK)
                return CX_ERR_UNAVAILABLE;
            s->n_srv_subs++;
        }
    }
    return CX_OK;
}

/* Every copy of every service hears revocations (plain subscription). */
static void on_revoked(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    char sid[64];
    int n = natsMsg_GetDataLength(msg);
    (void)nc;
    (void)sub;
    (void)closure;
    if (n > 0 && n < (int)sizeof sid) {
        memcpy(sid, natsMsg_GetData(msg), (size_t)n);
        sid[n] = '\0';
        cx_auth_note_revoked(sid);
    }
    natsMsg_Destroy(msg);
}

static void publish_revoked(const char *sid, void *arg)
{
    cx_service *s = arg;
    char subj[256];
    natsStatus ns = natsConnection_Publish(
        s->nc, cx_service_subject(s, CX_REVOKED_EVENT, subj, sizeof subj), sid,
        (int)strlen(sid));
    /* Other copies then learn of it only from the deny-list store. */
    if (ns != NATS_OK)
        cx_log_error(NULL, "%s: revocation event not published: %s", s->micro_name,
                     natsStatus_GetText(ns));
}

/* cx_auth's fallback when Redis cannot answer: auth reads the session
 * row (<prefix>.auth.session_state, reply "revoked" / "active"). */
#define CX_SESSION_STATE "auth.session_state"
#define CX_SESSION_STATE_TIMEOUT_MS 1000

static cx_status ask_auth(const char *sid, void *arg)
{
    cx_service *s = arg;
    char subj[256];
    natsMsg *reply = NULL;
    if (natsConnection_Request(&reply, s->nc,
                               cx_service_subject(s, CX_SESSION_STATE, subj, sizeof subj), sid,
                               (int)strlen(sid), CX_SESSION_STATE_TIMEOUT_MS) != NATS_OK)
        return CX_ERR_UNAVAILABLE;
    const char *d = natsMsg_GetData(reply);
    int n = natsMsg_GetDataLength(reply);
    cx_status st = CX_ERR_UNAVAILABLE;
    if (n == 7 && memcmp(d, "revoked", 7) == 0)
        st = CX_ERR_TOKEN_REVOKED;
    else if (n == 6 && memcmp(d, "active", 6) == 0)
        st = CX_OK;
    natsMsg_Destroy(reply);
    return st;
}

static cx_status subscribe_revocations(cx_service *s)
{
    char subj[256];
    if (!s->o->revocation)
        return CX_OK;
    if (natsConnection_Subscribe(&s->revoked_sub, s->nc,
                                 cx_service_subject(s, CX_REVOKED_EVENT, subj, sizeof subj),
                                 on_revoked, NULL) != NATS_OK)
        return CX_ERR_UNAVAILABLE;
    /* the server has the subscription before the pushed copy is loaded,
     * so no revocation falls between the load and the push */
    if (natsConnection_FlushTimeout(s->nc, 2000) == NATS_OK)
        cx_denylist_enable(true);
    else /* safe (Redis per request, as before), only slower */
        cx_log_warn(NULL, "%s: revocation subscription not confirmed: deny-list copy not used",
                    s->micro_name);
    cx_auth_set_revoke_hook(publish_revoked, s);
    cx_auth_set_fallback(ask_auth, s);
    return CX_OK;
}

/* The delivery threads of endpoint ep: its cx_endpoint_subs entry when
 * that is more than per, else per. */
static int endpoint_subs(const cx_service_opts *o, const cx_endpoint *ep, int per)
{
    if (ep->pooled)
        return 1;
    for (int i = 0; o->ep_subs && i < o->n_ep_subs; i++)
        if (strcmp(o->ep_subs[i].name, ep->name) == 0 && o->ep_subs[i].subs > per)
            return o->ep_subs[i].subs > CX_MAX_SUBS ? CX_MAX_SUBS : o->ep_subs[i].subs;
    return per;
}

static cx_status subscribe_endpoints(cx_service *s)
{
    const cx_service_opts *o = s->o;
    int per = o->subs_per_endpoint > 0 ? o->subs_per_endpoint : 2;
    if (per > CX_MAX_SUBS)
        per = CX_MAX_SUBS;
    for (int i = 0; i < o->n_endpoints; i++) {
        ep_state *es = &s->eps[i];
        int n = endpoint_subs(o, &o->endpoints[i], per);
        for (int k = 0; k < n; k++) {
            natsSubscription *sub = NULL;
            if (natsConnection_QueueSubscribe(&sub, s->nc, es->subject, s->queue, on_msg, es) !=
                NATS_OK)
                return CX_ERR_UNAVAILABLE;
            es->subs[es->nsubs++] = sub;
            if (natsSubscription_SetPendingLimits(sub, 65536, 64 * 1024 * 1024) != NATS_OK)
                return CX_ERR_UNAVAILABLE;
        }
    }
    return CX_OK;
}

cx_status cx_service_create(cx_service **out, const cx_service_opts *o)
{
    cx_status st = CX_ERR_NOMEM;
    cx_service *s = calloc(1, sizeof *s);
    char subj[256];

    if (!s)
        return CX_ERR_NOMEM;
    s->o = o;
    pthread_mutex_init(&s->qmu, NULL);
    pthread_cond_init(&s->qcv, NULL);
    snprintf(s->micro_name, sizeof s->micro_name, "calixio-%s", o->name);
    snprintf(s->queue, sizeof s->queue, "calixio-%s", o->name);
    if (cx_random_token(s->id, sizeof s->id, 16) != CX_OK)
        goto out_fail;
    {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        size_t k = strftime(s->started, sizeof s->started, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(s->started + k, sizeof s->started - k, ".%09ldZ", ts.tv_nsec);
    }
    s->eps = calloc((size_t)o->n_endpoints, sizeof *s->eps);
    if (!s->eps)
        goto out_fail;
    for (int i = 0; i < o->n_endpoints; i++) {
        s->eps[i].svc = s;
        s->eps[i].ep = &o->endpoints[i];
        pthread_mutex_init(&s->eps[i].mu, NULL);
        snprintf(s->eps[i].subject, sizeof s->eps[i].subject, "%s",
                 cx_service_subject(s, o->name, subj, sizeof subj));
        size_t l = strlen(s->eps[i].subject);
        snprintf(s->eps[i].subject + l, sizeof s->eps[i].subject - l, ".%s",
                 o->endpoints[i].name);
    }
    s->qcap = o->pool_queue > 0 ? o->pool_queue : 64;
    s->queue_buf = calloc((size_t)s->qcap, sizeof *s->queue_buf);
    int want = o->pool_threads > 0 ? o->pool_threads : 2;
    s->workers = calloc((size_t)want, sizeof *s->workers);
    if (!s->queue_buf || !s->workers)
        goto out_fail;
    for (int i = 0; i < want; i++) {
        int err = pthread_create(&s->workers[i], NULL, worker, s);
        if (err != 0) {
            cx_log_error(NULL, "%s: worker thread %d of %d not started: %s", s->micro_name,
                         i + 1, want, strerror(err));
            st = CX_ERR_NOMEM;
            goto out_fail;
        }
        s->nworkers = i + 1; /* only started threads are joined */
    }

    cx_natsconn_cfg url_only = {.url = (char *)o->nats_url};
    st = cx_natsconn_open(&s->nc, &s->nopts, o->nats ? o->nats : &url_only, s->micro_name);
    if (st != CX_OK)
        goto out_fail;
    st = subscribe_revocations(s);
    if (st == CX_OK)
        st = subscribe_endpoints(s);
    if (st == CX_OK)
        st = subscribe_srv(s);
    if (st != CX_OK)
        goto out_fail;
    cx_log_info(NULL, "%s %s up: id %s, %d endpoints on %s.%s.*", s->micro_name,
                o->version ? o->version : "", s->id, o->n_endpoints,
                o->prefix ? o->prefix : "calixio", o->name);
    *out = s;
    return CX_OK;
out_fail:
    cx_service_destroy(s);
    return st;
}

static void run_ticks(cx_service *s)
{
    int64_t now = cx_mono_ms();
    for (int i = 0; i < s->nticks; i++) {
        if (now >= s->ticks[i].next_ms) {
            s->ticks[i].fn(s->ticks[i].arg);
            s->ticks[i].next_ms = cx_mono_ms() + s->ticks[i].every_ms;
        }
    }
}

/* Stops the pool after the queued jobs are done. */
static void stop_pool(cx_service *s)
{
    pthread_mutex_lock(&s->qmu);
    s->qstop = true;
    pthread_cond_broadcast(&s->qcv);
    pthread_mutex_unlock(&s->qmu);
    for (int i = 0; i < s->nworkers; i++)
        pthread_join(s->workers[i], NULL);
    s->nworkers = 0;
}

cx_status cx_service_run(cx_service *s)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    while (!s->stop && !signalled) {
        run_ticks(s);
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    cx_log_info(NULL, "%s: draining", s->micro_name);
    /* Discovery goes first so nobody finds a copy that is leaving. */
    for (int i = 0; i < s->n_srv_subs; i++)
        natsSubscription_Unsubscribe(s->srv_subs[i]);
    /* Drain needs the server to confirm the unsubscribe; without a
     * connection there is nothing in flight to finish, so just stop. The
     * whole drain is bounded so SIGTERM never turns into a hang. */
    bool connected = natsConnection_Status(s->nc) == NATS_CONN_STATUS_CONNECTED;
    int64_t deadline = cx_mono_ms() + CX_DRAIN_TIMEOUT_MS;
    for (int i = 0; i < s->o->n_endpoints; i++)
        for (int k = 0; k < s->eps[i].nsubs; k++) {
            if (!connected || natsSubscription_Drain(s->eps[i].subs[k]) != NATS_OK)
                natsSubscription_Unsubscribe(s->eps[i].subs[k]);
        }
    for (int i = 0; connected && i < s->o->n_endpoints; i++)
        for (int k = 0; k < s->eps[i].nsubs; k++) {
            int64_t left = deadline - cx_mono_ms();
            if (left > 0 && natsSubscription_IsValid(s->eps[i].subs[k]))
                natsSubscription_WaitForDrainCompletion(s->eps[i].subs[k], left);
        }
    stop_pool(s); /* pooled requests already queued are answered */
    natsStatus ns = natsConnection_FlushTimeout(s->nc, 2000);
    if (ns != NATS_OK)
        cx_log_warn(NULL, "%s: final flush failed (%s): replies still buffered are lost",
                    s->micro_name, natsStatus_GetText(ns));
    cx_log_info(NULL, "%s: drained, exiting", s->micro_name);
    return CX_OK;
}

void cx_service_destroy(cx_service *s)
{
    if (!s)
        return;
    stop_pool(s);
    if (s->revoked_sub) {
        cx_denylist_enable(false);
        cx_auth_set_revoke_hook(NULL, NULL);
        cx_auth_set_fallback(NULL, NULL);
    }
    if (s->nc)
        natsConnection_Close(s->nc);
    natsSubscription_Destroy(s->revoked_sub);
    for (int i = 0; i < s->n_srv_subs; i++)
        natsSubscription_Destroy(s->srv_subs[i]);
    for (int i = 0; s->eps && i < s->o->n_endpoints; i++) {
        for (int k = 0; k < s->eps[i].nsubs; k++)
            natsSubscription_Destroy(s->eps[i].subs[k]);
        pthread_mutex_destroy(&s->eps[i].mu);
    }
    natsConnection_Destroy(s->nc);
    natsOptions_Destroy(s->nopts);
    free(s->eps);
    free(s->queue_buf);
    free(s->workers);
    pthread_mutex_destroy(&s->qmu);
    pthread_cond_destroy(&s->qcv);
    free(s);
}
