/* cx_lktoken.c: LiveKit access tokens (claims and HS256 signing).
 *
 * Kept apart from the Twirp client (cx_livekit.c) so a daemon that only
 * mints tokens (media) does not link libcurl and its dependencies. */
#include <stdbool.h>
#include <string.h>

#include "cx_jwt.h"
#include "cx_livekit.h"

static int _set_true(json_t *o, const char *k, bool on)
{
    return on ? json_object_set_new(o, k, json_true()) : 0;
}

json_t *cx_lk_claims(const char *api_key, const char *identity, const char *name,
                     const cx_lk_grant *g, int64_t iat, int64_t nbf, int64_t exp)
{
    json_t *c = json_object();
    json_t *v = json_object();
    int rc = 0;
    if (!c || !v)
        goto out_free;
    rc |= json_object_set_new(c, "iss", json_string(api_key ? api_key : ""));
    if (identity)
        rc |= json_object_set_new(c, "sub", json_string(identity));
    rc |= json_object_set_new(c, "exp", json_integer(exp));
    rc |= json_object_set_new(c, "nbf", json_integer(nbf));
    rc |= json_object_set_new(c, "iat", json_integer(iat));
    if (name)
        rc |= json_object_set_new(c, "name", json_string(name));
    if (g) {
        rc |= _set_true(v, "roomCreate", g->room_create);
        rc |= _set_true(v, "roomList", g->room_list);
        rc |= _set_true(v, "roomJoin", g->room_join);
        rc |= _set_true(v, "roomAdmin", g->room_admin);
        if (g->room)
            rc |= json_object_set_new(v, "room", json_string(g->room));
        rc |= _set_true(v, "canPublish", g->can_publish);
        rc |= _set_true(v, "canSubscribe", g->can_subscribe);
        rc |= _set_true(v, "canPublishData", g->can_publish_data);
    }
    rc |= json_object_set(c, "video", v);
    if (rc != 0)
        goto out_free;
    json_decref(v);
    return c;
out_free:
    json_decref(v);
    json_decref(c);
    return NULL;
}

cx_status cx_lk_token(const char *api_key, const char *api_secret, const char *identity,
                      const char *name, const cx_lk_grant *g, int64_t now, int64_t ttl_s,
                      char **out_token)
{
    if (!api_key || !api_secret || !*api_secret || ttl_s <= 0)
        return CX_ERR_INTERNAL;
    json_t *claims = cx_lk_claims(api_key, identity, name, g, now, now - CX_LK_NBF_SKEW_S,
                                  now + ttl_s);
    if (!claims)
        return CX_ERR_NOMEM;
    cx_status s = cx_jwt_sign(claims, api_secret, strlen(api_secret), out_token);
    json_decref(claims);
    return s;
}
