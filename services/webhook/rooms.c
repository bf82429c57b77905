/* rooms.c: which Calixio room a LiveKit room belongs to, cached.
 *
 * Every handled webhook needs the rooms row id of its LiveKit room; asking
 * Postgres each time was one of five store round trips per event. The
 * mapping of a known room never changes (livekit_room is UNIQUE and rooms
 * are not deleted), so a found entry may live for the whole TTL. A "not
 * found" entry must not hide a room created right after: rooms publishes
 * calixio.v1.RoomChanged on <prefix>.events.rooms.created, which drops the
 * entry here, and the TTL bounds the staleness if that event is missed.
 *
 * Direct-mapped: a slot per hash of the name, so memory is fixed and a
 * collision only costs a query. Every slot has a generation an event bumps;
 * a fill whose query started before the event is not stored. */
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/rooms.pb-c.h"
#include "cx_json.h"
#include "cx_log.h"
#include "cx_time.h"
#include "webhook.h"

#define _SLOTS 1024

typedef struct _slot {
    bool used;
    bool found;
    uint64_t gen;
    int64_t expires_ms; /* monotonic */
    char name[WH_MAX_ROOM + 1];
    char id[37];
} _slot;

struct wh_rooms {
    pthread_mutex_t mu;
    cx_pg_pool *pg;
    int64_t ttl_ms;
    natsSubscription *sub;
    _slot slots[_SLOTS];
};

/* FNV-1a of the name. */
static size_t _slot_of(const char *name)
{
    uint32_t h = 2166136261u;
    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 16777619u;
    return h % _SLOTS;
}

cx_status wh_rooms_create(wh_rooms **out, cx_pg_pool *pg, int64_t ttl_ms)
{
    wh_rooms *rc = calloc(1, sizeof *rc);
    if (!rc)
        return CX_ERR_NOMEM;
    pthread_mutex_init(&rc->mu, NULL);
    rc->pg = pg;
    rc->ttl_ms = ttl_ms;
    *out = rc;
    return CX_OK;
}

void wh_rooms_destroy(wh_rooms *rc)
{
    if (!rc)
        return;
    wh_rooms_unsubscribe(rc);
    pthread_mutex_destroy(&rc->mu);
    free(rc);
}

cx_status wh_rooms_get(wh_rooms *rc, const char *livekit_room, bool *found, char room_id[37])
{
    if (rc->ttl_ms <= 0 || strlen(livekit_room) > WH_MAX_ROOM)
        return wh_room_lookup(rc->pg, livekit_room, found, room_id);
    _slot *sl = &rc->slots[_slot_of(livekit_room)];
    pthread_mutex_lock(&rc->mu);
    uint64_t gen = sl->gen;
    if (sl->used && cx_mono_ms() < sl->expires_ms && strcmp(sl->name, livekit_room) == 0) {
        *found = sl->found;
        memcpy(room_id, sl->id, 37);
        pthread_mutex_unlock(&rc->mu);
        return CX_OK;
    }
    pthread_mutex_unlock(&rc->mu);

    int64_t started = cx_mono_ms();
    cx_status s = wh_room_lookup(rc->pg, livekit_room, found, room_id);
    if (s != CX_OK)
        return s;
    pthread_mutex_lock(&rc->mu);
    if (sl->gen == gen) {
        sl->used = true;
        sl->found = *found;
        snprintf(sl->name, sizeof sl->name, "%s", livekit_room);
        memcpy(sl->id, room_id, 37);
        sl->expires_ms = started + rc->ttl_ms;
    }
    pthread_mutex_unlock(&rc->mu);
    return CX_OK;
}

void wh_rooms_invalidate(wh_rooms *rc, const char *livekit_room)
{
    _slot *sl = &rc->slots[_slot_of(livekit_room)];
    pthread_mutex_lock(&rc->mu);
    sl->gen++;
    sl->used = false;
    pthread_mutex_unlock(&rc->mu);
}

static void _on_event(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    wh_rooms *rc = closure;
    ProtobufCMessage *m = NULL;
    (void)nc;
    (void)sub;
    if (cx_pb_unpack(&calixio__v1__room_changed__descriptor,
                     (const uint8_t *)natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg),
                     &m) == CX_OK) {
        const Calixio__V1__RoomChanged *ev = (const void *)m;
        if (ev->room && ev->room->livekit_room) {
            wh_rooms_invalidate(rc, ev->room->livekit_room);
            cx_log_debug(NULL, "room %s %s: webhook room cache entry dropped",
                         ev->room->livekit_room, ev->event ? ev->event : "changed");
        }
        protobuf_c_message_free_unpacked(m, NULL);
    } else {
        cx_log_warn(NULL, "%s: undecodable room event ignored", natsMsg_GetSubject(msg));
    }
    natsMsg_Destroy(msg);
}

cx_status wh_rooms_subscribe(wh_rooms *rc, cx_service *svc)
{
    char subj[256];
    cx_service_subject(svc, "events.rooms.>", subj, sizeof subj);
    natsStatus ns = natsConnection_Subscribe(&rc->sub, cx_service_conn(svc), subj, _on_event, rc);
    if (ns != NATS_OK) {
        cx_log_error(NULL, "nats: subscribing %s failed: %s", subj, natsStatus_GetText(ns));
        return CX_ERR_UNAVAILABLE;
    }
    return CX_OK;
}

void wh_rooms_unsubscribe(wh_rooms *rc)
{
    if (!rc || !rc->sub)
        return;
    natsSubscription_Unsubscribe(rc->sub);
    natsSubscription_Destroy(rc->sub);
    rc->sub = NULL;
}
