/* cx_bearer: the three kinds of bearer token of API-ROOMS.md ("Who is
 * calling"), minted and verified in one place.
 *
 *   access token   aud = JWT_AUDIENCE ("calixio"), see cx_auth.h
 *   room token     aud = "calixio-room": one participant in one room;
 *                  sub = LiveKit identity, room, name, role, uid (user id,
 *                  absent for guests), jti, iat, nbf, exp
 *   waiting token  aud = "calixio-waiting": one waiting entry; sub = the
 *                  identity it will join as, room, wid (waiting id), name
 *
 * All are HS256 with JWT_SECRET and iss = JWT_ISSUER; the audience keeps a
 * token of one kind from being accepted where another is required (the
 * access-token check of cx_auth refuses the other two as invalid_token). */
#ifndef CX_BEARER_H
#define CX_BEARER_H

#include <stdbool.h>
#include <stdint.h>

#include "cx_auth.h"
#include "cx_redis.h"
#include "cx_status.h"

#define CX_ROOM_TOKEN_AUD "calixio-room"
#define CX_WAITING_TOKEN_AUD "calixio-waiting"
#define CX_IDENTITY_MAX 64

typedef enum cx_bearer_kind {
    CX_BEARER_ACCESS = 1,
    CX_BEARER_ROOM = 2,
    CX_BEARER_WAITING = 4
} cx_bearer_kind;

/* Claims of a room or waiting token. */
typedef struct cx_room_claims {
    char room_id[37];
    char identity[CX_IDENTITY_MAX + 1];
    char name[256];
    char role[16];       /* host | moderator | participant | guest */
    char user_id[64];    /* "" for guests */
    char waiting_id[37]; /* waiting tokens only */
    char jti[37];
    int64_t exp;
} cx_room_claims;

typedef struct cx_bearer {
    cx_bearer_kind kind;
    cx_caller caller;    /* CX_BEARER_ACCESS */
    cx_room_claims room; /* CX_BEARER_ROOM / CX_BEARER_WAITING */
} cx_bearer;

/* True for a LiveKit identity as the API accepts it: [A-Za-z0-9_-]{1,64}. */
bool cx_identity_valid(const char *s);

/* True for one of the four role names. */
bool cx_role_valid(const char *role);

/* Mints a room token for c (room_id, identity, name, role, user_id; jti
 * and exp are filled in c) living ttl_s from now. *out malloced. */
cx_status cx_room_token_mint(const cx_auth_cfg *cfg, cx_room_claims *c, int64_t now,
                             int64_t ttl_s, char **out);

/* As cx_room_token_mint for a waiting token (c->waiting_id required). */
cx_status cx_waiting_token_mint(const cx_auth_cfg *cfg, cx_room_claims *c, int64_t now,
                                int64_t ttl_s, char **out);

/* Verifies an Authorization header value and tells which kind it is.
 * `accept` is a mask of cx_bearer_kind; a valid token of a kind not in it
 * is CX_ERR_INVALID_TOKEN. Errors as cx_auth_verify_header (access tokens
 * also go through its revocation check; redis may be NULL). *out is
 * written only on success. */
cx_status cx_bearer_verify(const cx_auth_cfg *cfg, cx_redis *redis, const char *authorization,
                           unsigned accept, cx_bearer *out);

#endif
