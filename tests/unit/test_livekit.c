/* test_livekit: LiveKit token claims against the fixed vector of
 * shared/livekit/FACTS.md, grant shapes, and the JSON helpers. */
#include <stdlib.h>
#include <string.h>

#include "cx_jwt.h"
#include "cx_livekit.h"
#include "cx_test.h"

static const char *VECTOR_JWT =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJpc3MiOiJkZXZrZXkiLCJzdWIiOiJhbGljZSIsImV4cCI6MTcwMDAwMzYwMCwibmJmIjoxNzAwMDAwMDAwLCJp"
    "YXQiOjE3MDAwMDAwMDAsIm5hbWUiOiJBbGljZSIsInZpZGVvIjp7InJvb21Kb2luIjp0cnVlLCJyb29tIjoicjEi"
    "LCJjYW5QdWJsaXNoIjp0cnVlLCJjYW5TdWJzY3JpYmUiOnRydWV9fQ."
    "m0HZNhgP-g5DmvUvSYRqr0-Crdudd4ivgkgaTvutDbI";

static const char *VECTOR_PAYLOAD =
    "{\"iss\":\"devkey\",\"sub\":\"alice\",\"exp\":1700003600,\"nbf\":1700000000,"
    "\"iat\":1700000000,\"name\":\"Alice\",\"video\":{\"roomJoin\":true,\"room\":\"r1\","
    "\"canPublish\":true,\"canSubscribe\":true}}";

/* The claims object serialises to exactly the vector's payload bytes. */
static void test_claims_match_vector(void)
{
    cx_lk_grant g = {.room = "r1",
                     .room_join = true,
                     .can_publish = true,
                     .can_subscribe = true};
    json_t *c = cx_lk_claims("devkey", "alice", "Alice", &g, 1700000000, 1700000000,
                             1700003600);
    CX_CHECK(c != NULL);
    char *text = json_dumps(c, JSON_COMPACT);
    CX_CHECK_STR(text, VECTOR_PAYLOAD);
    free(text);
    json_decref(c);
}

/* The vector verifies and carries exactly the claims cx_lk_claims builds;
 * our own signature of them verifies too. (Not byte-identical: libjwt, under
 * cx_jwt_sign, sorts the payload keys, which no verifier cares about.) */
static void test_sign_vector(void)
{
    cx_lk_grant g = {.room = "r1",
                     .room_join = true,
                     .can_publish = true,
                     .can_subscribe = true};
    json_t *c = cx_lk_claims("devkey", "alice", "Alice", &g, 1700000000, 1700000000,
                             1700003600);
    char *tok = NULL;
    CX_CHECK_INT(cx_jwt_sign(c, "secret", 6, &tok), CX_OK);
    json_t *back = NULL, *mine = NULL;
    CX_CHECK_INT(cx_jwt_verify(tok, "secret", 6, 1700000001, 0, &mine), CX_OK);
    CX_CHECK(json_equal(mine, c));
    json_decref(mine);
    CX_CHECK_INT(cx_jwt_verify(VECTOR_JWT, "secret", 6, 1700000001, 0, &back), CX_OK);
    CX_CHECK(json_equal(back, c));
    json_decref(back);
    free(tok);
    json_decref(c);
}

/* cx_lk_token back-dates nbf, sets exp = now + ttl and omits unset grants. */
static void test_token_times_and_grants(void)
{
    cx_lk_grant g = {.room = "cx-1",
                     .room_join = true,
                     .room_admin = true,
                     .can_publish = true,
                     .can_subscribe = true,
                     .can_publish_data = true};
    char *tok = NULL;
    CX_CHECK_INT(cx_lk_token("devkey", "secret", "u1", "Ann", &g, 1800000000, 3600, &tok),
                 CX_OK);
    json_t *c = NULL;
    CX_CHECK_INT(cx_jwt_verify(tok, "secret", 6, 1800000000, 0, &c), CX_OK);
    CX_CHECK_INT(json_integer_value(json_object_get(c, "nbf")), 1800000000 - CX_LK_NBF_SKEW_S);
    CX_CHECK_INT(json_integer_value(json_object_get(c, "iat")), 1800000000);
    CX_CHECK_INT(json_integer_value(json_object_get(c, "exp")), 1800003600);
    CX_CHECK_STR(json_string_value(json_object_get(c, "iss")), "devkey");
    CX_CHECK_STR(json_string_value(json_object_get(c, "sub")), "u1");
    json_t *v = json_object_get(c, "video");
    CX_CHECK(json_is_true(json_object_get(v, "roomAdmin")));
    CX_CHECK(json_is_true(json_object_get(v, "canPublishData")));
    CX_CHECK(json_object_get(v, "roomCreate") == NULL);
    CX_CHECK(json_object_get(v, "roomList") == NULL);
    CX_CHECK_INT(json_object_size(v), 6);
    json_decref(c);
    free(tok);
    /* Wrong secret does not verify. */
    CX_CHECK_INT(cx_lk_token("devkey", "", "u1", NULL, &g, 1, 1, &tok), CX_ERR_INTERNAL);
}

/* A service token carries no sub and only the grant it was given. */
static void test_service_claims(void)
{
    cx_lk_grant g = {.room_create = true};
    json_t *c = cx_lk_claims("k", NULL, NULL, &g, 10, 0, 610);
    char *text = json_dumps(c, JSON_COMPACT);
    CX_CHECK_STR(text, "{\"iss\":\"k\",\"exp\":610,\"nbf\":0,\"iat\":10,"
                       "\"video\":{\"roomCreate\":true}}");
    free(text);
    json_decref(c);
}

static void test_json_helpers(void)
{
    json_t *o = json_loads("{\"joined_at\":\"1795408014\",\"joinedAt\":5,"
                           "\"num\":12,\"bad\":\"12x\",\"nul\":null,\"creationTime\":\"7\"}",
                           0, NULL);
    CX_CHECK_INT(cx_lk_int(cx_lk_get(o, "joined_at", "joinedAt")), 1795408014);
    CX_CHECK_INT(cx_lk_int(cx_lk_get(o, "creation_time", "creationTime")), 7);
    CX_CHECK_INT(cx_lk_int(cx_lk_get(o, "nul", "num")), 12);
    CX_CHECK_INT(cx_lk_int(json_object_get(o, "bad")), 0);
    CX_CHECK(cx_lk_get(o, "missing", "alsomissing") == NULL);
    json_decref(o);
}

/* Hosts: ws(s) rewritten to http(s); junk refused. */
static void test_hosts(void)
{
    cx_livekit_opts o = {.host = "wss://lk.example.com/", .api_key = "k", .api_secret = "s"};
    cx_livekit *lk = NULL;
    CX_CHECK_INT(cx_livekit_create(&lk, &o), CX_OK);
    CX_CHECK_STR(cx_livekit_base_url(lk), "https://lk.example.com");
    cx_livekit_destroy(lk);
    o.host = "ws://127.0.0.1:7880";
    CX_CHECK_INT(cx_livekit_create(&lk, &o), CX_OK);
    CX_CHECK_STR(cx_livekit_base_url(lk), "http://127.0.0.1:7880");
    cx_livekit_destroy(lk);
    o.host = "ftp://x";
    CX_CHECK_INT(cx_livekit_create(&lk, &o), CX_ERR_CONFIG);
    o.host = "http://";
    CX_CHECK_INT(cx_livekit_create(&lk, &o), CX_ERR_CONFIG);
}

/* Nothing listens: the call fails with 503-class status, bounded. */
static void test_unreachable(void)
{
    cx_livekit_opts o = {.host = "http://127.0.0.1:9",
                         .api_key = "k",
                         .api_secret = "s",
                         .timeout_ms = 1500,
                         .max_attempts = 3,
                         .backoff_ms = 50};
    cx_livekit *lk = NULL;
    CX_CHECK_INT(cx_livekit_create(&lk, &o), CX_OK);
    CX_CHECK_INT(cx_livekit_delete_room(lk, "r", NULL), CX_ERR_UNAVAILABLE);
    cx_livekit_destroy(lk);
}

int main(void)
{
    CX_RUN(test_claims_match_vector);
    CX_RUN(test_sign_vector);
    CX_RUN(test_token_times_and_grants);
    CX_RUN(test_service_claims);
    CX_RUN(test_json_helpers);
    CX_RUN(test_hosts);
    CX_RUN(test_unreachable);
    return CX_DONE();
}
