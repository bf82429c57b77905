/* cx_join.c: the answer to an allowed join (see cx_join.h). */
#include "cx_join.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx_bearer.h"
#include "cx_json.h"
#include "cx_livekit.h"
#include "cx_time.h"

/* A JoinReply over the two tokens, which it takes over (freed on failure
 * too). */
static cx_status _reply(const cx_join_keys *k, const cx_join_room *r, const char *identity,
                        const char *role, char *token, char *room_token,
                        Calixio__V1__JoinReply **out)
{
    Calixio__V1__JoinReply *m = malloc(sizeof *m);
    Calixio__V1__JoinState *st = malloc(sizeof *st);
    if (!m || !st) {
        free(m);
        free(st);
        free(token);
        free(room_token);
        return CX_ERR_NOMEM;
    }
    calixio__v1__join_reply__init(m);
    calixio__v1__join_state__init(st);
    m->state = st;
    st->mode = cx_strdup("conference");
    m->token = token;
    m->room_token = room_token;
    m->room_id = cx_strdup(r->id);
    m->room_name = cx_strdup(r->name);
    m->livekit_room = cx_strdup(r->livekit_room);
    m->has_expires_in = 1;
    m->expires_in = k->token_ttl_s;
    m->url = cx_strdup(k->lk_public_url);
    m->identity = cx_strdup(identity);
    m->role = cx_strdup(role);
    if (!st->mode || !m->room_id || !m->room_name || !m->livekit_room || !m->url ||
        !m->identity || !m->role) {
        protobuf_c_message_free_unpacked(&m->base, NULL);
        return CX_ERR_NOMEM;
    }
    *out = m;
    return CX_OK;
}

cx_status cx_join_mint(const cx_join_keys *k, const cx_join_room *r, const char *identity,
                       const char *name, const char *role, const char *user_id,
                       Calixio__V1__JoinReply **out)
{
    cx_room_claims rc;
    char *token = NULL, *room_token = NULL;
    cx_lk_grant g = {.room = r->livekit_room,
                     .room_join = true,
                     .room_admin = strcmp(role, "host") == 0,
                     .can_publish = true,
                     .can_subscribe = true,
                     .can_publish_data = true};
    int64_t now = cx_now_s();
    cx_status s = cx_lk_token(k->lk_api_key, k->lk_api_secret, identity, name, &g, now,
                              k->token_ttl_s, &token);
    if (s != CX_OK)
        return s;
    memset(&rc, 0, sizeof rc);
    snprintf(rc.room_id, sizeof rc.room_id, "%s", r->id);
    snprintf(rc.identity, sizeof rc.identity, "%s", identity);
    snprintf(rc.name, sizeof rc.name, "%s", name);
    snprintf(rc.role, sizeof rc.role, "%s", role);
    snprintf(rc.user_id, sizeof rc.user_id, "%s", user_id ? user_id : "");
    if ((s = cx_room_token_mint(k->auth, &rc, now, k->token_ttl_s, &room_token)) != CX_OK) {
        free(token);
        return s;
    }
    return _reply(k, r, identity, role, token, room_token, out);
}
