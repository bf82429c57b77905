/* test_gateway_router: the gateway's route matcher (typed path parameters,
 * their not-found errors, methods) and the generic request builder
 * (GW_K_MSG: path + typed query for GET, path + JSON body otherwise, 204
 * without a body). Pure code: no MHD, no NATS. */
#include "cx_test.h"

#include <stdlib.h>
#include <string.h>

#include "calixio/v1/common.pb-c.h"
#include "calixio/v1/media.pb-c.h"
#include "calixio/v1/rooms.pb-c.h"
#include "codec.h"
#include "cx_json.h"
#include "routes.h"

#define UUID_UP "0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D"
#define UUID_LO "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

static const gw_route *_route(const char *method, const char *pattern)
{
    for (int i = 0; i < gw_n_routes; i++)
        if (strcmp(gw_routes[i].method, method) == 0 &&
            strcmp(gw_routes[i].pattern, pattern) == 0)
            return &gw_routes[i];
    return NULL;
}

static void test_uuid_param(void)
{
    gw_match m;
    CX_CHECK_INT(gw_route_match("GET", "/api/v1/rooms/" UUID_UP, &m), GW_MATCH_OK);
    CX_CHECK_STR(m.id, UUID_LO);
    CX_CHECK_INT(m.n_params, 1);
    CX_CHECK_STR(gw_match_param(&m, "id"), UUID_LO);
    CX_CHECK(gw_match_param(&m, "code") == NULL);
    CX_CHECK_INT(gw_route_match("GET", "/rooms/not-a-uuid", &m), GW_MATCH_BAD_ID);
    CX_CHECK_INT(m.bad, CX_ERR_ROOM_NOT_FOUND);
    CX_CHECK(m.route >= 0);
    CX_CHECK_INT(gw_route_match("PUT", "/rooms/" UUID_LO, &m), GW_MATCH_METHOD);
    CX_CHECK(strstr(m.allow, "GET") && strstr(m.allow, "OPTIONS"));
    CX_CHECK_INT(gw_route_match("GET", "/rooms//join", &m), GW_MATCH_NOT_FOUND);
    CX_CHECK_INT(gw_route_match("GET", "/nope", &m), GW_MATCH_NOT_FOUND);
}

/* Every {name} of every pattern has a definition, and at most
 * GW_MAX_PARAMS of them. */
static void test_table_params_known(void)
{
    for (int i = 0; i < gw_n_routes; i++) {
        int n = 0;
        for (const char *p = strchr(gw_routes[i].pattern, '{'); p; p = strchr(p + 1, '{')) {
            const char *c = strchr(p, '}');
            CX_CHECK(c != NULL);
            CX_CHECK(c && gw_param_find(p + 1, (size_t)(c - p - 1)) != NULL);
            n++;
        }
        CX_CHECK(n <= GW_MAX_PARAMS);
        const char *meth = gw_routes[i].method;
        CX_CHECK(!strcmp(meth, "GET") || !strcmp(meth, "POST") || !strcmp(meth, "PATCH") ||
                 !strcmp(meth, "PUT") || !strcmp(meth, "DELETE"));
    }
    CX_CHECK(gw_param_find("id", 2) != NULL);
    CX_CHECK(gw_param_find("i", 1) == NULL);
    CX_CHECK_INT(gw_param_find("identity", 8)->not_found, CX_ERR_PARTICIPANT_NOT_FOUND);
}

/* The routes of issue 16 on the real table: codes normalised, malformed
 * ones 404 room_not_found, PATCH/DELETE next to GET. */
static void test_issue16_routes(void)
{
    gw_match m;
    CX_CHECK_INT(gw_route_match("GET", "/rooms/by-code/ABC-DEFG-HIJ", &m), GW_MATCH_OK);
    CX_CHECK_STR(gw_match_param(&m, "code"), "abcdefghij");
    CX_CHECK_STR(m.id, "");
    CX_CHECK_INT(gw_route_match("GET", "/api/rooms/by-code/abcdefghij", &m), GW_MATCH_OK);
    CX_CHECK_INT(gw_route_match("GET", "/rooms/by-code/a-b-c-d-e-f-g-h-i-j", &m), GW_MATCH_OK);
    CX_CHECK_STR(gw_match_param(&m, "code"), "abcdefghij");
    const char *bad[] = {"/rooms/by-code/abcdefghi", "/rooms/by-code/abcdefghijk",
                         "/rooms/by-code/abcdefghi1", "/rooms/by-code/%7Bcode%7D"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CX_CHECK_INT(gw_route_match("GET", bad[i], &m), GW_MATCH_BAD_ID);
        CX_CHECK_INT(m.bad, CX_ERR_ROOM_NOT_FOUND);
    }
    CX_CHECK_INT(gw_route_match("POST", "/rooms/by-code/abcdefghij/join", &m), GW_MATCH_OK);
    CX_CHECK_STR(gw_routes[m.route].subject, "media.join");
    CX_CHECK_INT(gw_route_match("DELETE", "/rooms/" UUID_UP, &m), GW_MATCH_OK);
    CX_CHECK_INT(gw_routes[m.route].status, 204);
    CX_CHECK_INT(gw_route_match("PATCH", "/rooms/" UUID_LO, &m), GW_MATCH_OK);
    CX_CHECK_STR(m.allow, "GET, PATCH, DELETE, OPTIONS");
    CX_CHECK_INT(gw_route_match("POST", "/rooms/" UUID_LO "/leave", &m), GW_MATCH_OK);
}

/* Several typed parameters in one pattern, each with its own error. */
static void test_many_params(void)
{
    static const gw_route t[] = {
        {"PATCH", "/rooms/{id}/messages/{message_id}", "x", NULL, NULL, 200, GW_K_MSG, 0, NULL,
         "", ""},
        {"POST", "/rooms/{id}/participants/{identity}/remove", "x", NULL, NULL, 204, GW_K_MSG,
         0, NULL, "", ""},
        {"DELETE", "/auth/sessions/{session_id}", "x", NULL, NULL, 204, GW_K_MSG, 0, NULL, "",
         ""},
        {"GET", "/users/me/video-profiles/{profile_id}", "x", NULL, NULL, 200, GW_K_MSG, 0,
         NULL, "", ""},
    };
    const int n = (int)(sizeof t / sizeof t[0]);
    gw_match m;
    CX_CHECK_INT(gw_route_match_in(t, n, "PATCH", "/rooms/" UUID_UP "/messages/" UUID_UP, &m),
                 GW_MATCH_OK);
    CX_CHECK_INT(m.n_params, 2);
    CX_CHECK_STR(gw_match_param(&m, "id"), UUID_LO);
    CX_CHECK_STR(gw_match_param(&m, "message_id"), UUID_LO);
    CX_CHECK_INT(gw_route_match_in(t, n, "PATCH", "/rooms/x/messages/" UUID_UP, &m),
                 GW_MATCH_BAD_ID);
    CX_CHECK_INT(m.bad, CX_ERR_ROOM_NOT_FOUND);
    CX_CHECK_INT(gw_route_match_in(t, n, "PATCH", "/rooms/" UUID_UP "/messages/x", &m),
                 GW_MATCH_BAD_ID);
    CX_CHECK_INT(m.bad, CX_ERR_MESSAGE_NOT_FOUND);
    CX_CHECK_INT(gw_route_match_in(t, n, "POST",
                                   "/rooms/" UUID_UP "/participants/guest-Ab_9/remove", &m),
                 GW_MATCH_OK);
    CX_CHECK_STR(gw_match_param(&m, "identity"), "guest-Ab_9");
    char longid[192] = "/rooms/" UUID_UP "/participants/";
    size_t k = strlen(longid);
    memset(longid + k, 'a', 65);
    strcpy(longid + k + 65, "/remove");
    CX_CHECK_INT(gw_route_match_in(t, n, "POST", longid, &m), GW_MATCH_BAD_ID);
    CX_CHECK_INT(m.bad, CX_ERR_PARTICIPANT_NOT_FOUND);
    CX_CHECK_INT(gw_route_match_in(t, n, "POST", "/rooms/" UUID_UP "/participants/a.b/remove",
                                   &m),
                 GW_MATCH_BAD_ID);
    CX_CHECK_INT(gw_route_match_in(t, n, "DELETE", "/auth/sessions/nope", &m), GW_MATCH_BAD_ID);
    CX_CHECK_INT(m.bad, CX_ERR_SESSION_NOT_FOUND);
    CX_CHECK_INT(gw_route_match_in(t, n, "GET", "/users/me/video-profiles/1", &m),
                 GW_MATCH_BAD_ID);
    CX_CHECK_INT(m.bad, CX_ERR_PROFILE_NOT_FOUND);
    CX_CHECK_INT(gw_route_match_in(t, n, "GET", "/auth/sessions/" UUID_LO, &m),
                 GW_MATCH_METHOD);
    CX_CHECK_STR(m.allow, "DELETE, OPTIONS");
}

/* Decodes pb as descriptor d into JSON text (malloced). */
static char *_as_json(const ProtobufCMessageDescriptor *d, const uint8_t *pb, size_t len)
{
    ProtobufCMessage *m = NULL;
    if (cx_pb_unpack(d, pb, len, &m) != CX_OK)
        return NULL;
    size_t n = 0;
    char *txt = cx_json_encode(m, &n);
    protobuf_c_message_free_unpacked(m, NULL);
    return txt;
}

/* A GET route built from path + typed query, with its errors. */
static void test_msg_get_query(void)
{
    const gw_route rt = {"GET",
                         "/rooms/{id}/t",
                         "t",
                         &calixio__v1__list_rooms_request__descriptor,
                         &calixio__v1__empty__descriptor,
                         200,
                         GW_K_MSG,
                         0,
                         NULL,
                         "",
                         ""};
    gw_qargs q = {0};
    gw_qargs_add(&q, "limit", "7");
    gw_qargs_add(&q, "status", "ended");
    gw_qargs_add(&q, "unknown", "x");
    gw_qargs_add(&q, "limit", "9"); /* last wins */
    gw_req_in in = {.method = "GET",
                    .id = UUID_LO,
                    .qargs = &q,
                    .body = "{\"x\":1}",
                    .body_len = 7};
    uint8_t *pb = NULL;
    size_t len = 0;
    gw_answer err = {0};
    CX_CHECK_INT(gw_build_request(&rt, &in, &pb, &len, &err), CX_OK);
    char *txt = _as_json(rt.in, pb, len);
    CX_CHECK_STR(txt, "{\"limit\":9,\"status\":\"ended\"}");
    free(txt);
    free(pb);

    gw_qargs bad = {0};
    gw_qargs_add(&bad, "offset", "1x");
    in.qargs = &bad;
    CX_CHECK_INT(gw_build_request(&rt, &in, &pb, &len, &err), CX_ERR_VALIDATION);
    CX_CHECK(pb == NULL);
    CX_CHECK_INT(err.status, 400);
    CX_CHECK(err.body && strstr(err.body, "\"reason\":\"offset_integer\""));
    CX_CHECK(err.body && strstr(err.body, "\"fields\":{\"offset\":\"integer\"}"));
    gw_answer_free(&err);
}

/* Non-GET: the body fills the rest; a path field in the body is unknown. */
static void test_msg_body(void)
{
    const gw_route *rt = _route("POST", "/rooms/{id}/join");
    CX_CHECK(rt && rt->kind == GW_K_MSG);
    gw_match m;
    CX_CHECK_INT(gw_route_match("POST", "/rooms/" UUID_UP "/join", &m), GW_MATCH_OK);
    gw_req_in in = {.method = "POST",
                    .id = m.id,
                    .match = &m,
                    .body = "{\"user_name\":\"Ann\"}",
                    .body_len = 19};
    uint8_t *pb = NULL;
    size_t len = 0;
    gw_answer err = {0};
    CX_CHECK_INT(gw_build_request(rt, &in, &pb, &len, &err), CX_OK);
    char *txt = _as_json(rt->in, pb, len);
    CX_CHECK_STR(txt, "{\"id\":\"" UUID_LO "\",\"user_name\":\"Ann\"}");
    free(txt);
    free(pb);

    in.body = "{\"id\":\"x\"}";
    in.body_len = strlen(in.body);
    CX_CHECK_INT(gw_build_request(rt, &in, &pb, &len, &err), CX_ERR_INVALID_JSON);
    CX_CHECK(err.body && strstr(err.body, "unknown field \\\"id\\\""));
    gw_answer_free(&err);
    in.body = "{\"nope\":1}";
    in.body_len = strlen(in.body);
    CX_CHECK_INT(gw_build_request(rt, &in, &pb, &len, &err), CX_ERR_INVALID_JSON);
    CX_CHECK_INT(err.status, 400);
    gw_answer_free(&err);
}

/* A 204 route answers no body even when the reply has bytes. */
static void test_204_no_body(void)
{
    const gw_route rt = {"DELETE",
                         "/rooms/{id}",
                         "t",
                         &calixio__v1__room_ref__descriptor,
                         &calixio__v1__empty__descriptor,
                         204,
                         GW_K_MSG,
                         0,
                         NULL,
                         "",
                         ""};
    gw_answer a;
    gw_build_answer(&rt, NULL, NULL, (const uint8_t *)"", 0, false, &a);
    CX_CHECK_INT(a.status, 204);
    CX_CHECK(a.body == NULL && a.len == 0);
    gw_answer_free(&a);
}

/* The account routes: methods per path, their typed parameters and
 * not-found errors, bare-array answers. */
static void test_account_routes(void)
{
    gw_match m;
    CX_CHECK_INT(gw_route_match("DELETE", "/api/users/me", &m), GW_MATCH_OK);
    CX_CHECK_STR(m.allow, "GET, PATCH, DELETE, OPTIONS");
    CX_CHECK_INT(gw_route_match("PUT", "/users/me/settings", &m), GW_MATCH_OK);
    CX_CHECK_STR(m.allow, "GET, PATCH, PUT, OPTIONS");
    CX_CHECK_INT(gw_route_match("POST", "/users/me", &m), GW_MATCH_METHOD);
    CX_CHECK_INT(gw_route_match("PATCH", "/users/me/video-profiles/" UUID_UP, &m), GW_MATCH_OK);
    CX_CHECK_STR(gw_match_param(&m, "profile_id"), UUID_LO);
    CX_CHECK_INT(gw_route_match("DELETE", "/users/me/video-profiles/nope", &m),
                 GW_MATCH_BAD_ID);
    CX_CHECK_INT(m.bad, CX_ERR_PROFILE_NOT_FOUND);
    CX_CHECK_INT(gw_route_match("DELETE", "/auth/sessions/nope", &m), GW_MATCH_BAD_ID);
    CX_CHECK_INT(m.bad, CX_ERR_SESSION_NOT_FOUND);
    CX_CHECK_INT(gw_route_match("GET", "/auth/sessions/" UUID_LO, &m), GW_MATCH_METHOD);
    const gw_route *rt = _route("GET", "/auth/sessions");
    CX_CHECK(rt && rt->array_field && strcmp(rt->array_field, "sessions") == 0);
    rt = _route("GET", "/users/me/video-profiles");
    CX_CHECK(rt && rt->array_field && strcmp(rt->array_field, "profiles") == 0);
    /* a PATCH of a profile takes its id from the path only */
    rt = _route("PATCH", "/users/me/video-profiles/{profile_id}");
    CX_CHECK_INT(gw_route_match("PATCH", "/users/me/video-profiles/" UUID_LO, &m), GW_MATCH_OK);
    gw_req_in in = {.method = "PATCH",
                    .id = m.id,
                    .match = &m,
                    .body = "{\"is_default\":true}",
                    .body_len = 19};
    uint8_t *pb = NULL;
    size_t len = 0;
    gw_answer err = {0};
    CX_CHECK_INT(gw_build_request(rt, &in, &pb, &len, &err), CX_OK);
    char *txt = _as_json(rt->in, pb, len);
    CX_CHECK_STR(txt, "{\"profile_id\":\"" UUID_LO "\",\"is_default\":true}");
    free(txt);
    free(pb);
}

int main(void)
{
    CX_RUN(test_uuid_param);
    CX_RUN(test_table_params_known);
    CX_RUN(test_issue16_routes);
    CX_RUN(test_many_params);
    CX_RUN(test_msg_get_query);
    CX_RUN(test_msg_body);
    CX_RUN(test_204_no_body);
    CX_RUN(test_account_routes);
    return CX_DONE();
}
