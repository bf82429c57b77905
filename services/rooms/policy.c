/* policy.c: who may do what in a room (API-ROOMS.md "Who is calling",
 * "Invites", "Waiting room", "Moderation"). ONE table, role x action:
 * every room route asks it through rooms_authorize; README "Who gets in"
 * and tests/integration/access.test.mjs mirror it row by row. */
#include <stdio.h>
#include <string.h>

#include "rooms.h"

static const struct {
    rooms_action action;
    rooms_role min_role;
    const char *why; /* the 403 message */
} _policy[ROOMS_ACT_COUNT_] = {
    [ROOMS_ACT_UPDATE] = {ROOMS_ACT_UPDATE, ROOMS_ROLE_MODERATOR,
                          "only the host or a moderator may change the room"},
    [ROOMS_ACT_DELETE] = {ROOMS_ACT_DELETE, ROOMS_ROLE_HOST,
                          "only the host may delete the room"},
    [ROOMS_ACT_INVITE_CREATE] = {ROOMS_ACT_INVITE_CREATE, ROOMS_ROLE_MODERATOR,
                                 "only the host or a moderator may invite"},
    [ROOMS_ACT_INVITE_MODERATOR] = {ROOMS_ACT_INVITE_MODERATOR, ROOMS_ROLE_HOST,
                                    "only the host may create moderator invites"},
    [ROOMS_ACT_INVITE_LIST] = {ROOMS_ACT_INVITE_LIST, ROOMS_ROLE_MODERATOR,
                               "only the host or a moderator may list invites"},
    [ROOMS_ACT_INVITE_REVOKE] = {ROOMS_ACT_INVITE_REVOKE, ROOMS_ROLE_MODERATOR,
                                 "only the host or a moderator may revoke invites"},
    [ROOMS_ACT_WAITING_LIST] = {ROOMS_ACT_WAITING_LIST, ROOMS_ROLE_MODERATOR,
                                "only the host or a moderator may see who waits"},
    [ROOMS_ACT_WAITING_DECIDE] = {ROOMS_ACT_WAITING_DECIDE, ROOMS_ROLE_MODERATOR,
                                  "only the host or a moderator may let people in"},
    [ROOMS_ACT_REMOVE] = {ROOMS_ACT_REMOVE, ROOMS_ROLE_MODERATOR,
                          "only the host or a moderator may remove participants"},
    [ROOMS_ACT_MUTE] = {ROOMS_ACT_MUTE, ROOMS_ROLE_MODERATOR,
                        "only the host or a moderator may mute participants"},
    [ROOMS_ACT_SET_ROLE] = {ROOMS_ACT_SET_ROLE, ROOMS_ROLE_HOST,
                            "only the host may change roles"},
};

rooms_role rooms_policy_min_role(rooms_action a)
{
    if ((int)a < 0 || a >= ROOMS_ACT_COUNT_ || !_policy[a].why)
        return ROOMS_ROLE_HOST + 1; /* unknown action or a missing row: nobody */
    return _policy[a].min_role;
}

cx_status rooms_authorize(rooms_ctx *ctx, cx_req *req, const char *id, rooms_action a,
                          rooms_row *row, rooms_actor *actor)
{
    cx_bearer b;
    memset(actor, 0, sizeof *actor);
    cx_status s = rooms_bearer(ctx, req, true, &b);
    if (s != CX_OK)
        return s;
    if ((s = rooms_store_get(ctx->pg, id, row)) != CX_OK)
        return s;
    s = rooms_role_in(req, &b, row, &actor->role);
    if (s == CX_OK && b.kind == CX_BEARER_ROOM && actor->role != ROOMS_ROLE_HOST) {
        /* a promotion or demotion after the token was minted wins */
        char stored[16];
        s = rooms_role_stored(ctx->pg, row->id, b.room.identity, stored);
        if (s == CX_OK && stored[0])
            actor->role = rooms_role_parse(stored);
    }
    if (s == CX_OK && actor->role < rooms_policy_min_role(a))
        s = cx_req_fail(req, CX_ERR_ROOM_FORBIDDEN, "%s",
                        rooms_policy_min_role(a) > ROOMS_ROLE_HOST ? "nobody may do this"
                                                                   : _policy[a].why);
    if (s != CX_OK) {
        rooms_row_clear(row);
        return s;
    }
    if (b.kind == CX_BEARER_ACCESS) {
        snprintf(actor->user_id, sizeof actor->user_id, "%s", b.caller.user_id);
        snprintf(actor->name, sizeof actor->name, "%s", b.caller.username);
    } else {
        snprintf(actor->identity, sizeof actor->identity, "%s", b.room.identity);
        snprintf(actor->user_id, sizeof actor->user_id, "%s", b.room.user_id);
        snprintf(actor->name, sizeof actor->name, "%s", b.room.name);
    }
    return CX_OK;
}
