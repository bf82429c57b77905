/* reply.c: room rows to protobuf messages, and room events on NATS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/events.pb-c.h"
#include "cx_crypto.h"
#include "cx_json.h"
#include "cx_log.h"
#include "cx_time.h"
#include "rooms.h"

/* A malloced copy of s, or NULL (and *ok false) when s is set but out of
 * memory; "" stays absent when opt. */
static char *_opt(const char *s, bool *ok)
{
    if (!s || !s[0])
        return NULL;
    char *d = cx_strdup(s);
    if (!d)
        *ok = false;
    return d;
}

Calixio__V1__Room *rooms_row_to_msg(const rooms_row *r)
{
    Calixio__V1__Room *m = malloc(sizeof *m);
    char code[ROOMS_CODE_LEN + 3];
    bool ok = true;
    if (!m)
        return NULL;
    calixio__v1__room__init(m);
    m->id = cx_strdup(r->id);
    m->name = cx_strdup(r->name);
    m->status = cx_strdup(r->status);
    m->created_at = cx_strdup(r->created_at);
    m->ended_at = _opt(r->ended_at, &ok);
    m->owner_user_id = cx_strdup(r->owner_user_id);
    m->has_max_participants = 1;
    m->max_participants = r->max_participants;
    m->livekit_room = cx_strdup(r->livekit_room);
    m->description = cx_strdup(r->description);
    rooms_code_show(r->code, code);
    m->code = cx_strdup(code);
    m->access = cx_strdup(r->access[0] ? r->access : "open");
    m->has_locked = 1;
    m->locked = r->locked;
    m->scheduled_at = _opt(r->scheduled_at, &ok);
    m->started_at = _opt(r->started_at, &ok);
    m->scheduled_end_at = _opt(r->scheduled_end_at, &ok);
    m->metadata = cx_strdup(r->metadata ? r->metadata : "");
    m->has_has_password = 1;
    m->has_password = r->has_password;
    if (!ok || !m->id || !m->name || !m->status || !m->created_at || !m->owner_user_id ||
        !m->livekit_room || !m->description || !m->code || !m->access || !m->metadata) {
        protobuf_c_message_free_unpacked(&m->base, NULL);
        return NULL;
    }
    return m;
}

/* Publishes ev on <prefix>.events.room.<room id>.<type>. */
static void _publish_event(rooms_ctx *ctx, Calixio__V1__RoomEvent *ev, const char *rid)
{
    char rel[128], at[21], event_id[37];
    int64_t now_ms = cx_now_ms();
    cx_time_rfc3339(now_ms / 1000, at);
    cx_uuid_v4(event_id);
    ev->at = at;
    ev->has_at_ms = 1;
    ev->at_ms = now_ms;
    ev->event_id = event_id;
    ev->request_id = (char *)(rid && rid[0] ? rid : NULL);
    snprintf(rel, sizeof rel, "events.room.%s.%s", ev->room_id, ev->type);
    if (cx_service_publish(ctx->svc, rel, &ev->base) != CX_OK)
        cx_log_warn(rid, "room %s: publishing %s failed", ev->room_id, ev->type);
}

void rooms_publish(rooms_ctx *ctx, const char *event, const rooms_row *r, const char *rid)
{
    char rel[64], type[32];
    Calixio__V1__RoomChanged ch = CALIXIO__V1__ROOM_CHANGED__INIT;
    Calixio__V1__RoomEvent ev = CALIXIO__V1__ROOM_EVENT__INIT;
    if (!ctx->svc)
        return;
    ch.event = (char *)event;
    ch.room = rooms_row_to_msg(r);
    if (!ch.room) {
        cx_log_error(rid, "room %s: no memory for the %s event", r->id, event);
        return;
    }
    /* caches first: joins must stop before anything slower */
    snprintf(rel, sizeof rel, "events.rooms.%s", event);
    if (cx_service_publish(ctx->svc, rel, &ch.base) != CX_OK)
        cx_log_warn(rid, "room %s: publishing the %s event failed", r->id, event);
    snprintf(type, sizeof type, "room.%s", event);
    ev.type = type;
    ev.room_id = (char *)r->id;
    ev.livekit_room = (char *)r->livekit_room;
    ev.room = ch.room;
    _publish_event(ctx, &ev, rid);
    protobuf_c_message_free_unpacked(&ch.room->base, NULL);
}

void rooms_publish_left(rooms_ctx *ctx, const rooms_row *r, const char *identity,
                        const char *name, const char *role, const char *user_id,
                        const char *jti, const char *rid)
{
    Calixio__V1__RoomEvent ev = CALIXIO__V1__ROOM_EVENT__INIT;
    Calixio__V1__RoomEventParticipant p = CALIXIO__V1__ROOM_EVENT_PARTICIPANT__INIT;
    if (!ctx->svc)
        return;
    p.identity = (char *)identity;
    p.name = (char *)name;
    p.role = (char *)role;
    p.user_id = (char *)(user_id && user_id[0] ? user_id : NULL);
    p.reason = "left";
    p.token_id = (char *)(jti && jti[0] ? jti : NULL);
    ev.type = "participant.left";
    ev.room_id = (char *)r->id;
    ev.livekit_room = (char *)r->livekit_room;
    ev.participant = &p;
    _publish_event(ctx, &ev, rid);
}

void rooms_publish_event(rooms_ctx *ctx, Calixio__V1__RoomEvent *ev, const char *rid)
{
    if (ctx->svc)
        _publish_event(ctx, ev, rid);
}

void rooms_publish_waiting(rooms_ctx *ctx, const char *room_id, const char *livekit_room,
                           const char *type, const char *wid, const char *name,
                           const char *user_id, const char *reason, const char *rid)
{
    Calixio__V1__RoomEvent ev = CALIXIO__V1__ROOM_EVENT__INIT;
    Calixio__V1__RoomEventWaiting w = CALIXIO__V1__ROOM_EVENT_WAITING__INIT;
    char t[32];
    if (!ctx->svc)
        return;
    snprintf(t, sizeof t, "waiting.%s", type);
    w.id = (char *)wid;
    w.name = (char *)(name && name[0] ? name : NULL);
    w.user_id = (char *)(user_id && user_id[0] ? user_id : NULL);
    w.reason = (char *)(reason && reason[0] ? reason : NULL);
    ev.type = t;
    ev.room_id = (char *)room_id;
    ev.livekit_room = (char *)livekit_room;
    ev.waiting = &w;
    _publish_event(ctx, &ev, rid);
}

void rooms_publish_participant(rooms_ctx *ctx, const rooms_row *r, const char *type,
                               const char *identity, const char *reason, const char *rid)
{
    Calixio__V1__RoomEvent ev = CALIXIO__V1__ROOM_EVENT__INIT;
    Calixio__V1__RoomEventParticipant p = CALIXIO__V1__ROOM_EVENT_PARTICIPANT__INIT;
    if (!ctx->svc)
        return;
    p.identity = (char *)identity;
    p.reason = (char *)reason;
    if (strcmp(type, "participant.role_changed") == 0)
        p.role = (char *)reason;
    ev.type = (char *)type;
    ev.room_id = (char *)r->id;
    ev.livekit_room = (char *)r->livekit_room;
    ev.participant = &p;
    _publish_event(ctx, &ev, rid);
}

void rooms_publish_cache(rooms_ctx *ctx, const rooms_row *r, const char *rid)
{
    Calixio__V1__RoomChanged ch = CALIXIO__V1__ROOM_CHANGED__INIT;
    if (!ctx->svc)
        return;
    ch.event = "updated";
    ch.room = rooms_row_to_msg(r);
    if (!ch.room)
        return;
    if (cx_service_publish(ctx->svc, "events.rooms.updated", &ch.base) != CX_OK)
        cx_log_warn(rid, "room %s: publishing the cache event failed", r->id);
    protobuf_c_message_free_unpacked(&ch.room->base, NULL);
}
