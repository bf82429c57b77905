/* rooms.c: which Calixio room a LiveKit room belongs to, cached.
 *
 * Every handled webhook needs the rooms row id of its LiveKit room; asking
 * Postgres each time was one of five store round trips per event. The
 * mapping of a known room never changes (livekit_room is UNIQUE and rooms
 * are not deleted); whether it has ended does, once. A "not found" entry
 * must not hide a room created right after, nor an "active" one a room
 * just ended: every change of a room publishes calixio.v1.RoomChanged on
 * <prefix>.events.rooms.<event> (rooms for its own, this daemon for
 * room_started/finished, see wh_room_publish), which drops the entry here;
 * the TTL bounds the staleness if that event is missed.
 *
 * A cx_ttlcache keyed by the LiveKit room name: memory is fixed, a
 * collision only costs a query, and a fill whose query started before the
 * event is not stored. Events arrive through cx_room_events. */
#include <stdlib.h>
#include <string.h>

#include "cx_log.h"
#include "cx_room_events.h"
#include "cx_time.h"
#include "cx_ttlcache.h"
#include "webhook.h"

#define WR_SLOTS 1024

/* The cached value of one LiveKit room. */
typedef struct _entry {
    bool found, ended;
    char id[37];
} _entry;

struct wh_rooms {
    cx_pg_pool *pg;
    cx_ttlcache *map;
    cx_room_events *events;
};

cx_status wh_rooms_create(wh_rooms **out, cx_pg_pool *pg, int64_t ttl_ms)
{
    wh_rooms *rc = calloc(1, sizeof *rc);
    if (!rc)
        return CX_ERR_NOMEM;
    cx_status s = cx_ttlcache_create(&rc->map, WR_SLOTS, WH_MAX_ROOM, sizeof(_entry), ttl_ms);
    if (s != CX_OK)
        goto out_free_rc;
    rc->pg = pg;
    *out = rc;
    return CX_OK;

out_free_rc:
    free(rc);
    return s;
}

void wh_rooms_destroy(wh_rooms *rc)
{
    if (!rc)
        return;
    wh_rooms_unsubscribe(rc);
    cx_ttlcache_destroy(rc->map);
    free(rc);
}

/* A cx_ttlcache_load_fn: the uncached lookup (arg is the wh_rooms). */
static cx_status _load(void *arg, const char *livekit_room, void *value)
{
    wh_rooms *rc = arg;
    _entry *e = value;
    return wh_room_lookup(rc->pg, livekit_room, &e->found, e->id, &e->ended);
}

cx_status wh_rooms_get(wh_rooms *rc, const char *livekit_room, bool *found, char room_id[37],
                       bool *ended)
{
    _entry e;
    memset(&e, 0, sizeof e);
    /* ttl 0 or a name longer than WH_MAX_ROOM: never stored, always loaded. */
    cx_status s = cx_ttlcache_get_or_load(rc->map, livekit_room, &e, _load, rc);
    if (s != CX_OK)
        return s;
    *found = e.found;
    *ended = e.ended;
    memcpy(room_id, e.id, 37);
    return CX_OK;
}

void wh_rooms_invalidate(wh_rooms *rc, const char *livekit_room)
{
    cx_ttlcache_invalidate(rc->map, livekit_room);
}

static void _on_event(const Calixio__V1__RoomChanged *ev, void *arg)
{
    wh_rooms *rc = arg;
    if (ev->room && ev->room->livekit_room) {
        wh_rooms_invalidate(rc, ev->room->livekit_room);
        cx_log_debug(NULL, "room %s %s: webhook room cache entry dropped",
                     ev->room->livekit_room, ev->event ? ev->event : "changed");
    }
}

cx_status wh_rooms_subscribe(wh_rooms *rc, cx_service *svc)
{
    return cx_room_events_subscribe(svc, _on_event, rc, &rc->events);
}

void wh_rooms_unsubscribe(wh_rooms *rc)
{
    if (!rc || !rc->events)
        return;
    cx_room_events_unsubscribe(rc->events);
    rc->events = NULL;
}

void wh_room_publish(cx_service *svc, const char *event, const wh_room_row *row,
                     const char *rid)
{
    char created[21], ended[21];
    if (!svc)
        return;
    Calixio__V1__Room m = CALIXIO__V1__ROOM__INIT;
    cx_time_rfc3339(row->created_at, created);
    m.id = (char *)row->id;
    m.name = (char *)row->name;
    m.status = (char *)row->status;
    m.created_at = created;
    if (row->ended_at) {
        cx_time_rfc3339(row->ended_at, ended);
        m.ended_at = ended;
    }
    m.owner_user_id = (char *)row->owner_user_id;
    m.has_max_participants = 1;
    m.max_participants = row->max_participants;
    m.livekit_room = (char *)row->livekit_room;
    if (cx_room_events_publish(svc, event, &m) != CX_OK)
        cx_log_warn(rid, "room %s: publishing the %s event failed", row->id, event);
}
