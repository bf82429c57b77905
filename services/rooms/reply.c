/* reply.c: room rows to protobuf messages, and room events on NATS. */
#include <stdio.h>
#include <stdlib.h>

#include "cx_json.h"
#include "cx_log.h"
#include "rooms.h"

Calixio__V1__Room *rooms_row_to_msg(const rooms_row *r)
{
    Calixio__V1__Room *m = malloc(sizeof *m);
    if (!m)
        return NULL;
    calixio__v1__room__init(m);
    m->id = cx_strdup(r->id);
    m->name = cx_strdup(r->name);
    m->status = cx_strdup(r->status);
    m->created_at = cx_strdup(r->created_at);
    if (r->ended_at[0])
        m->ended_at = cx_strdup(r->ended_at);
    m->owner_user_id = cx_strdup(r->owner_user_id);
    m->has_max_participants = 1;
    m->max_participants = r->max_participants;
    m->livekit_room = cx_strdup(r->livekit_room);
    if (!m->id || !m->name || !m->status || !m->created_at || !m->owner_user_id ||
        !m->livekit_room || (r->ended_at[0] && !m->ended_at)) {
        protobuf_c_message_free_unpacked(&m->base, NULL);
        return NULL;
    }
    return m;
}

void rooms_publish(rooms_ctx *ctx, const char *event, const rooms_row *r, const char *rid)
{
    char rel[64];
    Calixio__V1__RoomChanged ev = CALIXIO__V1__ROOM_CHANGED__INIT;
    if (!ctx->svc)
        return;
    ev.event = (char *)event;
    ev.room = rooms_row_to_msg(r);
    if (!ev.room) {
        cx_log_error(rid, "room %s: no memory for the %s event", r->id, event);
        return;
    }
    snprintf(rel, sizeof rel, "events.rooms.%s", event);
    if (cx_service_publish(ctx->svc, rel, &ev.base) != CX_OK)
        cx_log_warn(rid, "room %s: publishing the %s event failed", r->id, event);
    protobuf_c_message_free_unpacked(&ev.room->base, NULL);
}
