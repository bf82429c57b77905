/* access.c: who is calling a room route (API-ROOMS.md "Who is calling").
 * The runtime does not verify the bearer of the endpoints that accept a
 * room token (CX_AUTH_NONE): cx_bearer tells the kinds apart here. */
#include <string.h>

#include "rooms.h"

rooms_role rooms_role_parse(const char *r)
{
    if (strcmp(r, "host") == 0)
        return ROOMS_ROLE_HOST;
    if (strcmp(r, "moderator") == 0)
        return ROOMS_ROLE_MODERATOR;
    if (strcmp(r, "participant") == 0)
        return ROOMS_ROLE_PARTICIPANT;
    return ROOMS_ROLE_GUEST;
}

const char *rooms_role_name(rooms_role r)
{
    static const char *const names[] = {"", "guest", "participant", "moderator", "host"};
    return (int)r >= 0 && r <= ROOMS_ROLE_HOST ? names[r] : "";
}

cx_status rooms_bearer(rooms_ctx *ctx, cx_req *req, bool allow_room_token, cx_bearer *b)
{
    unsigned accept = CX_BEARER_ACCESS | (allow_room_token ? CX_BEARER_ROOM : 0);
    cx_status s = cx_bearer_verify(ctx->auth, ctx->redis, req->authorization, accept, b);
    if (s == CX_OK && b->kind == CX_BEARER_ACCESS)
        req->caller = b->caller;
    return s;
}

cx_status rooms_role_in(cx_req *req, const cx_bearer *b, const rooms_row *r, rooms_role *role)
{
    *role = ROOMS_ROLE_NONE;
    if (b->kind == CX_BEARER_ACCESS) {
        if (strcmp(b->caller.user_id, r->owner_user_id) == 0)
            *role = ROOMS_ROLE_HOST;
        return CX_OK;
    }
    if (strcmp(b->room.room_id, r->id) != 0)
        return cx_req_fail(req, CX_ERR_ROOM_FORBIDDEN, "this room token is for another room");
    *role = rooms_role_parse(b->room.role);
    return CX_OK;
}
