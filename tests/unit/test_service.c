/* test_service.c: the NATS service runtime against a real nats-server:
 * JSON and protobuf requests, the error contract, bearer verification,
 * the bounded worker pool, $SRV discovery and drain on stop. */
#include <jansson.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "calixio/v1/common.pb-c.h"
#include "calixio/v1/rooms.pb-c.h"
#include "cx_auth.h"
#include "cx_crypto.h"
#include "cx_json.h"
#include "cx_log.h"
#include "cx_service.h"
#include "cx_test.h"
#include "cx_time.h"

static char g_dir[] = "/tmp/cx-test-service-XXXXXX";
static char g_url[128];
static natsConnection *g_nc;
static cx_service *g_svc;
static pthread_t g_thread;

#define BIG_REPLY (3 * 1024 * 1024)

static cx_status echo(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                      void *ctx)
{
    const Calixio__V1__RoomRef *r = (const Calixio__V1__RoomRef *)in;
    (void)ctx;
    if (!r->id)
        return cx_req_field_error(req, "id", "required");
    if (strcmp(r->id, "boom") == 0)
        return CX_ERR_INTERNAL;
    if (strcmp(r->id, "slow") == 0)
        usleep(300 * 1000);
    Calixio__V1__RoomRef *o = malloc(sizeof *o);
    calixio__v1__room_ref__init(o);
    if (strcmp(r->id, "big") == 0) {
        /* a reply above the server's max_payload (2 MiB in stores.sh) */
        o->id = malloc(BIG_REPLY + 1);
        memset(o->id, 'b', BIG_REPLY);
        o->id[BIG_REPLY] = '\0';
    } else {
        o->id = cx_strdup(r->id);
    }
    *out = &o->base;
    return CX_OK;
}

static cx_status whoami(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                        void *ctx)
{
    (void)in;
    (void)ctx;
    Calixio__V1__RoomRef *o = malloc(sizeof *o);
    calixio__v1__room_ref__init(o);
    o->id = cx_strdup(req->caller.authenticated ? req->caller.user_id : "guest");
    *out = &o->base;
    return CX_OK;
}

static cx_status heavy(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                       void *ctx)
{
    usleep(200 * 1000);
    return echo(req, in, out, ctx);
}

static const cx_endpoint g_eps[] = {
    {"echo", &calixio__v1__room_ref__descriptor, &calixio__v1__room_ref__descriptor, echo,
     CX_AUTH_NONE, false},
    {"whoami", &calixio__v1__empty__descriptor, &calixio__v1__room_ref__descriptor, whoami,
     CX_AUTH_REQUIRED, false},
    {"maybe", &calixio__v1__empty__descriptor, &calixio__v1__room_ref__descriptor, whoami,
     CX_AUTH_OPTIONAL, false},
    {"heavy", &calixio__v1__room_ref__descriptor, &calixio__v1__room_ref__descriptor, heavy,
     CX_AUTH_NONE, true},
};

static const cx_auth_cfg g_auth = {"unit-secret", "calixio", "calixio", 5, NULL, NULL};
static cx_service_opts g_opts = {
    .name = "unittest",
    .version = "1.2.3",
    .description = "runtime under test",
    .prefix = "cxt",
    .endpoints = g_eps,
    .n_endpoints = 4,
    .auth = &g_auth,
    .subs_per_endpoint = 2,
    .pool_threads = 1,
    .pool_queue = 1,
};

static void *run_thread(void *arg)
{
    cx_service_run(arg ? arg : g_svc);
    return NULL;
}

/* Sends a request; returns the reply (caller destroys) or NULL. */
static natsMsg *request(const char *subj, const char *body, bool json, const char *authz)
{
    natsMsg *m = NULL, *r = NULL;
    natsMsg_Create(&m, subj, NULL, body, (int)strlen(body));
    if (json)
        natsMsgHeader_Set(m, "Content-Type", "application/json");
    if (authz)
        natsMsgHeader_Set(m, "Authorization", authz);
    natsMsgHeader_Set(m, "Calixio-Request-Id", "rid-1");
    natsConnection_RequestMsg(&r, g_nc, m, 3000);
    natsMsg_Destroy(m);
    return r;
}

static const char *hdr(natsMsg *m, const char *k)
{
    const char *v = NULL;
    return natsMsgHeader_Get(m, k, &v) == NATS_OK ? v : NULL;
}

static void test_json_roundtrip(void)
{
    natsMsg *r = request("cxt.unittest.echo", "{\"id\":\"abc\"}", true, NULL);
    CX_CHECK(r != NULL);
    if (!r)
        return;
    CX_CHECK(hdr(r, "Nats-Service-Error-Code") == NULL);
    CX_CHECK_STR(natsMsg_GetData(r), "{\"id\":\"abc\"}");
    natsMsg_Destroy(r);
}

static void test_protobuf_roundtrip(void)
{
    Calixio__V1__RoomRef in = CALIXIO__V1__ROOM_REF__INIT;
    in.id = "pb-id";
    size_t len = 0;
    uint8_t *buf = cx_pb_pack(&in.base, &len);
    natsMsg *r = NULL;
    natsConnection_Request(&r, g_nc, "cxt.unittest.echo", buf, (int)len, 3000);
    free(buf);
    CX_CHECK(r != NULL);
    if (!r)
        return;
    ProtobufCMessage *out = NULL;
    CX_CHECK_INT(cx_pb_unpack(&calixio__v1__room_ref__descriptor,
                              (const uint8_t *)natsMsg_GetData(r),
                              (size_t)natsMsg_GetDataLength(r), &out),
                 CX_OK);
    if (out) {
        CX_CHECK_STR(((Calixio__V1__RoomRef *)out)->id, "pb-id");
        protobuf_c_message_free_unpacked(out, NULL);
    }
    natsMsg_Destroy(r);
}

static void test_validation_error(void)
{
    natsMsg *r = request("cxt.unittest.echo", "{}", true, NULL);
    CX_CHECK(r != NULL);
    if (!r)
        return;
    CX_CHECK_STR(hdr(r, "Nats-Service-Error-Code"), "400");
    CX_CHECK_STR(hdr(r, "Nats-Service-Error"), "validation failed");
    json_t *j = json_loads(natsMsg_GetData(r), 0, NULL);
    CX_CHECK_STR(json_string_value(json_object_get(j, "code")), "validation_failed");
    CX_CHECK_STR(json_string_value(json_object_get(j, "reason")), "id_required");
    json_t *f = json_array_get(json_object_get(j, "fields"), 0);
    CX_CHECK_STR(json_string_value(json_object_get(f, "field")), "id");
    CX_CHECK_STR(json_string_value(json_object_get(f, "rule")), "required");
    json_decref(j);
    natsMsg_Destroy(r);
}

static void test_bad_json_and_internal(void)
{
    natsMsg *r = request("cxt.unittest.echo", "{\"nope\":1}", true, NULL);
    CX_CHECK(r && hdr(r, "Nats-Service-Error-Code") &&
             strcmp(hdr(r, "Nats-Service-Error-Code"), "400") == 0);
    CX_CHECK(r && strstr(natsMsg_GetData(r), "invalid_json") &&
             strstr(natsMsg_GetData(r), "nope"));
    natsMsg_Destroy(r);
    r = request("cxt.unittest.echo", "{\"id\":\"boom\"}", true, NULL);
    CX_CHECK(r && hdr(r, "Nats-Service-Error-Code") &&
             strcmp(hdr(r, "Nats-Service-Error-Code"), "500") == 0);
    natsMsg_Destroy(r);
    /* protobuf garbage is a 400, not a crash */
    r = request("cxt.unittest.echo", "\xff\xff\xff", false, NULL);
    CX_CHECK(r && hdr(r, "Nats-Service-Error-Code") &&
             strcmp(hdr(r, "Nats-Service-Error-Code"), "400") == 0);
    natsMsg_Destroy(r);
}

static void check_auth(const char *authz, const char *want_code, const char *want_body)
{
    natsMsg *r = request("cxt.unittest.whoami", "{}", true, authz);
    CX_CHECK(r != NULL);
    if (!r)
        return;
    const char *code = hdr(r, "Nats-Service-Error-Code");
    if (want_code) {
        CX_CHECK(code && strcmp(code, want_code) == 0);
    } else {
        CX_CHECK(code == NULL);
    }
    if (!strstr(natsMsg_GetData(r), want_body)) {
        fprintf(stderr, "  body %s lacks %s\n", natsMsg_GetData(r), want_body);
        CX_CHECK(0);
    }
    natsMsg_Destroy(r);
}

static void test_bearer(void)
{
    char *tok = NULL, jti[64], authz[2048];
    CX_CHECK_INT(cx_auth_mint(&g_auth, "user-1", "Ann", "sess-1", cx_now_s(), 60, &tok, jti),
                 CX_OK);
    snprintf(authz, sizeof authz, "Bearer %s", tok);
    check_auth(authz, NULL, "user-1");
    check_auth(NULL, "401", "missing_auth");
    check_auth("Basic abc", "401", "invalid_auth");
    check_auth("Bearer not.a.token", "401", "invalid_token");
    authz[strlen(authz) - 2] ^= 1; /* tamper with the signature */
    check_auth(authz, "401", "invalid_token");
    free(tok);
    /* expired beyond the leeway */
    CX_CHECK_INT(cx_auth_mint(&g_auth, "user-1", "Ann", "sess-1", cx_now_s() - 100, 60, &tok,
                              jti),
                 CX_OK);
    snprintf(authz, sizeof authz, "Bearer %s", tok);
    check_auth(authz, "401", "invalid_token");
    free(tok);
    /* optional auth: absent is a guest, present and bad is 401 */
    natsMsg *r = request("cxt.unittest.maybe", "{}", true, NULL);
    CX_CHECK(r && strstr(natsMsg_GetData(r), "guest"));
    natsMsg_Destroy(r);
    r = request("cxt.unittest.maybe", "{}", true, "Bearer x.y.z");
    CX_CHECK(r && hdr(r, "Nats-Service-Error-Code") &&
             strcmp(hdr(r, "Nats-Service-Error-Code"), "401") == 0);
    natsMsg_Destroy(r);
}

/* One worker, queue of one: a burst gets some 503s instead of waiting. */
static void test_pool_full_is_503(void)
{
    natsSubscription *sub = NULL;
    char inbox[64];
    snprintf(inbox, sizeof inbox, "_INBOX.pooltest");
    natsConnection_SubscribeSync(&sub, g_nc, inbox);
    for (int i = 0; i < 6; i++)
        natsConnection_PublishRequestString(g_nc, "cxt.unittest.heavy", inbox, "");
    natsConnection_Flush(g_nc);
    int ok = 0, busy = 0;
    for (int i = 0; i < 6; i++) {
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, sub, 3000) != NATS_OK)
            break;
        const char *c = hdr(m, "Nats-Service-Error-Code");
        if (c && strcmp(c, "503") == 0)
            busy++;
        else
            ok++; /* empty RoomRef: validation error 400 is also an answer from a worker */
        natsMsg_Destroy(m);
    }
    CX_CHECK(busy >= 1);
    CX_CHECK(ok >= 1);
    CX_CHECK_INT(ok + busy, 6);
    natsSubscription_Destroy(sub);
}

static void test_srv_discovery(void)
{
    natsMsg *r = NULL;
    CX_CHECK(natsConnection_RequestString(&r, g_nc, "$SRV.INFO.calixio-unittest", "", 2000) ==
             NATS_OK);
    if (!r)
        return;
    json_t *j = json_loads(natsMsg_GetData(r), 0, NULL);
    CX_CHECK_STR(json_string_value(json_object_get(j, "type")),
                 "io.nats.micro.v1.info_response");
    CX_CHECK_STR(json_string_value(json_object_get(j, "name")), "calixio-unittest");
    CX_CHECK_STR(json_string_value(json_object_get(j, "version")), "1.2.3");
    json_t *eps = json_object_get(j, "endpoints");
    CX_CHECK_INT(json_array_size(eps), 4);
    CX_CHECK_STR(json_string_value(json_object_get(json_array_get(eps, 0), "subject")),
                 "cxt.unittest.echo");
    CX_CHECK_STR(json_string_value(json_object_get(json_array_get(eps, 0), "queue_group")),
                 "calixio-unittest");
    const char *id = json_string_value(json_object_get(j, "id"));
    char subj[256];
    snprintf(subj, sizeof subj, "$SRV.STATS.calixio-unittest.%s", id ? id : "x");
    json_decref(j);
    natsMsg_Destroy(r);

    r = NULL;
    CX_CHECK(natsConnection_RequestString(&r, g_nc, subj, "", 2000) == NATS_OK);
    if (!r)
        return;
    j = json_loads(natsMsg_GetData(r), 0, NULL);
    CX_CHECK_STR(json_string_value(json_object_get(j, "type")),
                 "io.nats.micro.v1.stats_response");
    json_t *e0 = json_array_get(json_object_get(j, "endpoints"), 0);
    CX_CHECK(json_integer_value(json_object_get(e0, "num_requests")) >= 5);
    CX_CHECK(json_integer_value(json_object_get(e0, "num_errors")) >= 3);
    CX_CHECK(json_is_string(json_object_get(e0, "last_error")));
    CX_CHECK(json_integer_value(json_object_get(e0, "processing_time")) > 0);
    json_t *e1 = json_array_get(json_object_get(j, "endpoints"), 1);
    const char *le = json_string_value(json_object_get(e1, "last_error"));
    CX_CHECK(le && strncmp(le, "401:", 4) == 0);
    json_decref(j);
    natsMsg_Destroy(r);

    r = NULL;
    CX_CHECK(natsConnection_RequestString(&r, g_nc, "$SRV.PING", "", 2000) == NATS_OK);
    CX_CHECK(r && strstr(natsMsg_GetData(r), "io.nats.micro.v1.ping_response"));
    natsMsg_Destroy(r);
}

/* Returns endpoint ep's entry of $SRV.STATS of the service under test
 * (a new reference, NULL when there was no answer). */
static json_t *endpoint_stats(int ep)
{
    natsMsg *r = NULL;
    if (natsConnection_RequestString(&r, g_nc, "$SRV.STATS.calixio-unittest", "", 2000) !=
        NATS_OK)
        return NULL;
    json_t *j = json_loads(natsMsg_GetData(r), 0, NULL);
    natsMsg_Destroy(r);
    json_t *e = json_incref(json_array_get(json_object_get(j, "endpoints"), ep));
    json_decref(j);
    return e;
}

/* A success reply the server refuses (above max_payload) is not a success:
 * the caller gets a 500 instead of a timeout, and $SRV.STATS counts it as
 * an error with the cause. (The old runtime ignored the publish result:
 * no answer at all, and the request counted as served.) */
static void test_lost_reply_is_an_error(void)
{
    json_t *before = endpoint_stats(0);
    CX_CHECK(before != NULL);
    json_int_t errs0 = json_integer_value(json_object_get(before, "num_errors"));
    json_int_t reqs0 = json_integer_value(json_object_get(before, "num_requests"));
    json_decref(before);

    natsMsg *r = request("cxt.unittest.echo", "{\"id\":\"big\"}", true, NULL);
    CX_CHECK(r != NULL);
    CX_CHECK(r && hdr(r, "Nats-Service-Error-Code") &&
             strcmp(hdr(r, "Nats-Service-Error-Code"), "500") == 0);
    CX_CHECK(r && strstr(natsMsg_GetData(r), "reply not sent"));
    natsMsg_Destroy(r);

    /* the runtime counts right after replying: give it a moment */
    json_t *after = NULL;
    for (int i = 0; i < 20; i++) {
        json_decref(after);
        after = endpoint_stats(0);
        if (json_integer_value(json_object_get(after, "num_requests")) > reqs0)
            break;
        usleep(20 * 1000);
    }
    CX_CHECK(after != NULL);
    CX_CHECK_INT(json_integer_value(json_object_get(after, "num_requests")), reqs0 + 1);
    CX_CHECK_INT(json_integer_value(json_object_get(after, "num_errors")), errs0 + 1);
    const char *le = json_string_value(json_object_get(after, "last_error"));
    CX_CHECK(le && strncmp(le, "500:reply not sent: ", 20) == 0);
    if (le)
        printf("  last_error after an oversized reply: %s\n", le);
    json_decref(after);
}

/* Two services in one process: stopping one leaves the other serving, and
 * creating one does not undo a stop asked of another. (The old runtime had
 * one process-global stop flag: stopping the second service also drained
 * the first.) */
static const cx_endpoint g_eps2[] = {
    {"echo", &calixio__v1__room_ref__descriptor, &calixio__v1__room_ref__descriptor, echo,
     CX_AUTH_NONE, false},
};

static void test_two_services_stop_separately(void)
{
    cx_service_opts o2 = {
        .name = "second",
        .version = "1.0.0",
        .description = "second service",
        .prefix = "cxt",
        .nats_url = g_url,
        .endpoints = g_eps2,
        .n_endpoints = 1,
    };
    cx_service *b = NULL;
    pthread_t tb;
    CX_CHECK_INT(cx_service_create(&b, &o2), CX_OK);
    if (!b)
        return;
    CX_CHECK_INT(pthread_create(&tb, NULL, run_thread, b), 0);
    usleep(100 * 1000);
    natsMsg *r = request("cxt.second.echo", "{\"id\":\"two\"}", true, NULL);
    CX_CHECK(r && strcmp(natsMsg_GetData(r), "{\"id\":\"two\"}") == 0);
    natsMsg_Destroy(r);

    cx_service_stop(b);
    pthread_join(tb, NULL);
    cx_service_destroy(b);
    usleep(200 * 1000); /* the first service's loop polls every 50 ms */

    r = request("cxt.unittest.echo", "{\"id\":\"one\"}", true, NULL);
    CX_CHECK(r != NULL);
    CX_CHECK(r && strcmp(natsMsg_GetData(r), "{\"id\":\"one\"}") == 0);
    natsMsg_Destroy(r);
    r = NULL;
    CX_CHECK_INT(natsConnection_RequestString(&r, g_nc, "cxt.second.echo", "", 1000),
                 NATS_NO_RESPONDERS);
    natsMsg_Destroy(r);
}

/* A request in flight when the service is told to stop is still answered. */
static void test_drain_finishes_inflight(void)
{
    natsSubscription *sub = NULL;
    natsConnection_SubscribeSync(&sub, g_nc, "_INBOX.draintest");
    natsConnection_PublishRequestString(g_nc, "cxt.unittest.echo", "_INBOX.draintest", "");
    /* JSON would need a header; send protobuf: id "slow" */
    Calixio__V1__RoomRef in = CALIXIO__V1__ROOM_REF__INIT;
    in.id = "slow";
    size_t len = 0;
    uint8_t *buf = cx_pb_pack(&in.base, &len);
    natsConnection_PublishRequest(g_nc, "cxt.unittest.echo", "_INBOX.draintest", buf, (int)len);
    free(buf);
    natsConnection_Flush(g_nc);
    usleep(50 * 1000);
    cx_service_stop(g_svc);
    int got_slow = 0;
    for (int i = 0; i < 2; i++) {
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, sub, 3000) != NATS_OK)
            break;
        if (memmem(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), "slow", 4))
            got_slow = 1;
        natsMsg_Destroy(m);
    }
    CX_CHECK(got_slow);
    pthread_join(g_thread, NULL);
    /* after the drain nobody serves the subject any more */
    natsMsg *r = NULL;
    CX_CHECK_INT(natsConnection_RequestString(&r, g_nc, "cxt.unittest.echo", "", 1000),
                 NATS_NO_RESPONDERS);
    natsMsg_Destroy(r);
    natsSubscription_Destroy(sub);
}

int main(void)
{
    char cmd[512];
    const char *src = getenv("CX_SOURCE_DIR");
    cx_log_init("unittest", CX_LOG_WARN);
    cx_crypto_init();
    if (!src || !mkdtemp(g_dir)) {
        fprintf(stderr, "CX_SOURCE_DIR not set or mkdtemp failed\n");
        return 1;
    }
    snprintf(cmd, sizeof cmd, "%s/tests/harness/stores.sh start %s nats >/dev/null", src,
             g_dir);
    if (system(cmd) != 0)
        return 1;
    snprintf(cmd, sizeof cmd, "%s/nats.port", g_dir);
    FILE *f = fopen(cmd, "r");
    int port = 0;
    if (!f || fscanf(f, "%d", &port) != 1)
        return 1;
    fclose(f);
    snprintf(g_url, sizeof g_url, "nats://127.0.0.1:%d", port);
    g_opts.nats_url = g_url;

    if (natsConnection_ConnectTo(&g_nc, g_url) != NATS_OK)
        return 1;
    CX_CHECK_INT(cx_service_create(&g_svc, &g_opts), CX_OK);
    pthread_create(&g_thread, NULL, run_thread, NULL);
    usleep(100 * 1000);

    CX_RUN(test_json_roundtrip);
    CX_RUN(test_protobuf_roundtrip);
    CX_RUN(test_validation_error);
    CX_RUN(test_bad_json_and_internal);
    CX_RUN(test_bearer);
    CX_RUN(test_pool_full_is_503);
    CX_RUN(test_srv_discovery);
    CX_RUN(test_lost_reply_is_an_error);
    CX_RUN(test_two_services_stop_separately);
    CX_RUN(test_drain_finishes_inflight);

    cx_service_destroy(g_svc);
    natsConnection_Destroy(g_nc);
    nats_CloseAndWait(2000);
    snprintf(cmd, sizeof cmd, "%s/tests/harness/stores.sh stop %s; rm -rf %s", src, g_dir,
             g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup failed\n");
    return CX_DONE();
}
