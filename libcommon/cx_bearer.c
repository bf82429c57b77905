/* cx_bearer.c: see cx_bearer.h. */
#include "cx_bearer.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cx_crypto.h"
#include "cx_jwt.h"
#include "cx_time.h"

bool cx_identity_valid(const char *s)
{
    size_t n = 0;
    if (!s)
        return false;
    for (; s[n]; n++) {
        char c = s[n];
        if (n == CX_IDENTITY_MAX || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                      (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return n > 0;
}

bool cx_role_valid(const char *role)
{
    static const char *const roles[] = {"host", "moderator", "participant", "guest"};
    for (size_t i = 0; role && i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp(role, roles[i]) == 0)
            return true;
    return false;
}

/* Signs the claims of c for audience aud; fills c->jti and c->exp. */
static cx_status _mint(const cx_auth_cfg *cfg, const char *aud, cx_room_claims *c, int64_t now,
                       int64_t ttl_s, char **out)
{
    char jti[37];
    cx_uuid_v4(jti);
    json_t *claims = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "iss",
                               cfg->issuer, "aud", aud, "sub", c->identity, "room", c->room_id,
                               "name", c->name, "role", c->role, "jti", jti, "iat",
                               (json_int_t)now, "nbf", (json_int_t)now, "exp",
                               (json_int_t)(now + ttl_s));
    if (!claims)
        return CX_ERR_NOMEM;
    int rc = 0;
    if (c->user_id[0])
        rc |= json_object_set_new(claims, "uid", json_string(c->user_id));
    if (c->waiting_id[0])
        rc |= json_object_set_new(claims, "wid", json_string(c->waiting_id));
    cx_status s = rc ? CX_ERR_NOMEM
                     : cx_jwt_sign(claims, cfg->secret, strlen(cfg->secret), out);
    json_decref(claims);
    if (s == CX_OK) {
        memcpy(c->jti, jti, sizeof jti);
        c->exp = now + ttl_s;
    }
    return s;
}

cx_status cx_room_token_mint(const cx_auth_cfg *cfg, cx_room_claims *c, int64_t now,
                             int64_t ttl_s, char **out)
{
    if (!cx_identity_valid(c->identity) || !cx_uuid_valid_str(c->room_id) ||
        !cx_role_valid(c->role))
        return CX_ERR_INTERNAL;
    return _mint(cfg, CX_ROOM_TOKEN_AUD, c, now, ttl_s, out);
}

cx_status cx_waiting_token_mint(const cx_auth_cfg *cfg, cx_room_claims *c, int64_t now,
                                int64_t ttl_s, char **out)
{
    if (!cx_identity_valid(c->identity) || !cx_uuid_valid_str(c->room_id) ||
        !cx_uuid_valid_str(c->waiting_id))
        return CX_ERR_INTERNAL;
    return _mint(cfg, CX_WAITING_TOKEN_AUD, c, now, ttl_s, out);
}

/* Copies the string claim key into dst[cap]; absent is "" unless required;
 * empty or too long is false. */
static bool _claim(json_t *claims, const char *key, char *dst, size_t cap, bool required)
{
    const char *v = json_string_value(json_object_get(claims, key));
    dst[0] = '\0';
    if (!v)
        return !required;
    size_t n = strlen(v);
    if ((n == 0 && required) || n >= cap)
        return false;
    memcpy(dst, v, n + 1);
    return true;
}

/* The claims of a verified room or waiting token. */
static cx_status _room_claims(json_t *claims, bool waiting, cx_room_claims *out)
{
    cx_room_claims c;
    memset(&c, 0, sizeof c);
    if (!_claim(claims, "sub", c.identity, sizeof c.identity, true) ||
        !_claim(claims, "room", c.room_id, sizeof c.room_id, true) ||
        !_claim(claims, "name", c.name, sizeof c.name, false) ||
        !_claim(claims, "role", c.role, sizeof c.role, !waiting) ||
        !_claim(claims, "uid", c.user_id, sizeof c.user_id, false) ||
        !_claim(claims, "wid", c.waiting_id, sizeof c.waiting_id, waiting) ||
        !_claim(claims, "jti", c.jti, sizeof c.jti, true))
        return CX_ERR_INVALID_TOKEN;
    if (!cx_identity_valid(c.identity) || !cx_uuid_valid_str(c.room_id) ||
        (!waiting && !cx_role_valid(c.role)) || (waiting && !cx_uuid_valid_str(c.waiting_id)))
        return CX_ERR_INVALID_TOKEN;
    c.exp = (int64_t)json_number_value(json_object_get(claims, "exp"));
    *out = c;
    return CX_OK;
}

cx_status cx_bearer_verify(const cx_auth_cfg *cfg, cx_redis *redis, const char *authorization,
                           unsigned accept, cx_bearer *out)
{
    json_t *claims = NULL;
    cx_bearer b;

    if (!authorization || !*authorization)
        return CX_ERR_MISSING_AUTH;
    if (strncmp(authorization, "Bearer ", 7) != 0 || !authorization[7] ||
        strchr(authorization + 7, ' '))
        return CX_ERR_INVALID_AUTH;
    if (cx_jwt_verify(authorization + 7, cfg->secret, strlen(cfg->secret), cx_now_s(),
                      cfg->leeway_s, &claims) != CX_OK)
        return CX_ERR_INVALID_TOKEN;
    memset(&b, 0, sizeof b);
    cx_status s = CX_ERR_INVALID_TOKEN;
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    const char *aud = json_string_value(json_object_get(claims, "aud"));
    if (!iss || strcmp(iss, cfg->issuer) != 0 || !aud)
        goto out;
    if (strcmp(aud, cfg->audience) == 0) {
        if (!(accept & CX_BEARER_ACCESS))
            goto out;
        b.kind = CX_BEARER_ACCESS;
        /* the access-token rules (claims, revocation) live in cx_auth */
        s = cx_auth_verify_header(cfg, redis, authorization, &b.caller);
    } else if (strcmp(aud, CX_ROOM_TOKEN_AUD) == 0) {
        if (!(accept & CX_BEARER_ROOM))
            goto out;
        b.kind = CX_BEARER_ROOM;
        s = _room_claims(claims, false, &b.room);
    } else if (strcmp(aud, CX_WAITING_TOKEN_AUD) == 0) {
        if (!(accept & CX_BEARER_WAITING))
            goto out;
        b.kind = CX_BEARER_WAITING;
        s = _room_claims(claims, true, &b.room);
    }
    if (s == CX_OK)
        *out = b;
out:
    json_decref(claims);
    return s;
}
