/* test_bearer: the three bearer kinds (libcommon/cx_bearer.c): room and
 * waiting tokens round-trip, each kind is refused where it is not
 * accepted, and access tokens still go through cx_auth. */
#include "cx_test.h"

#include <stdlib.h>
#include <string.h>

#include "cx_bearer.h"
#include "cx_time.h"

static const cx_auth_cfg cfg = {"unit-secret-0123456789", "calixio", "calixio", 30, NULL, NULL};
#define ROOM "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

static char *_hdr(const char *tok)
{
    char *h = malloc(strlen(tok) + 8);
    strcpy(h, "Bearer ");
    strcat(h, tok);
    return h;
}

static void test_room_token_round_trip(void)
{
    cx_room_claims c = {0};
    strcpy(c.room_id, ROOM);
    strcpy(c.identity, "guest-abc_DEF-1");
    strcpy(c.name, "Ann");
    strcpy(c.role, "guest");
    char *tok = NULL;
    CX_CHECK_INT(cx_room_token_mint(&cfg, &c, cx_now_s(), 600, &tok), CX_OK);
    CX_CHECK(c.jti[0] != '\0');
    char *h = _hdr(tok);
    cx_bearer b;
    CX_CHECK_INT(cx_bearer_verify(&cfg, NULL, h, CX_BEARER_ROOM, &b), CX_OK);
    CX_CHECK_INT(b.kind, CX_BEARER_ROOM);
    CX_CHECK_STR(b.room.room_id, ROOM);
    CX_CHECK_STR(b.room.identity, "guest-abc_DEF-1");
    CX_CHECK_STR(b.room.name, "Ann");
    CX_CHECK_STR(b.room.role, "guest");
    CX_CHECK_STR(b.room.user_id, "");
    CX_CHECK_STR(b.room.jti, c.jti);
    /* a room token is no access token, nor a waiting token */
    CX_CHECK_INT(cx_bearer_verify(&cfg, NULL, h, CX_BEARER_ACCESS | CX_BEARER_WAITING, &b),
                 CX_ERR_INVALID_TOKEN);
    cx_caller caller;
    CX_CHECK_INT(cx_auth_verify_header(&cfg, NULL, h, &caller), CX_ERR_INVALID_TOKEN);
    /* another secret */
    cx_auth_cfg other = cfg;
    other.secret = "another-secret-0123456789";
    CX_CHECK_INT(cx_bearer_verify(&other, NULL, h, CX_BEARER_ROOM, &b), CX_ERR_INVALID_TOKEN);
    free(h);
    free(tok);
    /* expired */
    CX_CHECK_INT(cx_room_token_mint(&cfg, &c, cx_now_s() - 7200, 600, &tok), CX_OK);
    h = _hdr(tok);
    CX_CHECK_INT(cx_bearer_verify(&cfg, NULL, h, CX_BEARER_ROOM, &b), CX_ERR_INVALID_TOKEN);
    free(h);
    free(tok);
}

static void test_waiting_and_access(void)
{
    cx_room_claims c = {0};
    strcpy(c.room_id, ROOM);
    strcpy(c.identity, "guest-1");
    strcpy(c.waiting_id, "1a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
    char *tok = NULL;
    CX_CHECK_INT(cx_waiting_token_mint(&cfg, &c, cx_now_s(), 600, &tok), CX_OK);
    char *h = _hdr(tok);
    cx_bearer b;
    CX_CHECK_INT(cx_bearer_verify(&cfg, NULL, h, CX_BEARER_WAITING, &b), CX_OK);
    CX_CHECK_STR(b.room.waiting_id, c.waiting_id);
    CX_CHECK_INT(cx_bearer_verify(&cfg, NULL, h, CX_BEARER_ROOM, &b), CX_ERR_INVALID_TOKEN);
    free(h);
    free(tok);

    char jti[64];
    CX_CHECK_INT(cx_auth_mint(&cfg, "2a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "Bo", "sid-1",
                              cx_now_s(), 600, &tok, jti),
                 CX_OK);
    h = _hdr(tok);
    CX_CHECK_INT(cx_bearer_verify(&cfg, NULL, h, CX_BEARER_ACCESS, &b), CX_OK);
    CX_CHECK_INT(b.kind, CX_BEARER_ACCESS);
    CX_CHECK_STR(b.caller.username, "Bo");
    CX_CHECK_INT(cx_bearer_verify(&cfg, NULL, h, CX_BEARER_ROOM, &b), CX_ERR_INVALID_TOKEN);
    free(h);
    free(tok);

    CX_CHECK_INT(cx_bearer_verify(&cfg, NULL, NULL, CX_BEARER_ROOM, &b), CX_ERR_MISSING_AUTH);
    CX_CHECK_INT(cx_bearer_verify(&cfg, NULL, "Basic x", CX_BEARER_ROOM, &b),
                 CX_ERR_INVALID_AUTH);
    CX_CHECK_INT(cx_bearer_verify(&cfg, NULL, "Bearer a.b.c", CX_BEARER_ROOM, &b),
                 CX_ERR_INVALID_TOKEN);
}

static void test_mint_refuses_bad_claims(void)
{
    cx_room_claims c = {0};
    char *tok = NULL;
    strcpy(c.room_id, ROOM);
    strcpy(c.identity, "bad identity");
    strcpy(c.role, "guest");
    CX_CHECK(cx_room_token_mint(&cfg, &c, cx_now_s(), 600, &tok) != CX_OK);
    strcpy(c.identity, "ok");
    strcpy(c.role, "admin");
    CX_CHECK(cx_room_token_mint(&cfg, &c, cx_now_s(), 600, &tok) != CX_OK);
    CX_CHECK(tok == NULL);
    CX_CHECK(cx_identity_valid("A_b-9"));
    CX_CHECK(!cx_identity_valid(""));
    char longid[80];
    memset(longid, 'a', 65);
    longid[65] = '\0';
    CX_CHECK(!cx_identity_valid(longid));
    longid[64] = '\0';
    CX_CHECK(cx_identity_valid(longid));
}

int main(void)
{
    CX_RUN(test_room_token_round_trip);
    CX_RUN(test_waiting_and_access);
    CX_RUN(test_mint_refuses_bad_claims);
    return CX_DONE();
}
