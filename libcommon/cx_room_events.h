/* cx_room_events: the rooms service's change events, for daemons that
 * keep room data in memory.
 *
 * rooms publishes a calixio.v1.RoomChanged (protobuf binary) on
 * <prefix>.events.rooms.<event> whenever a room is created or changes.
 * This subscribes to <prefix>.events.rooms.> on a service's connection
 * (plain subscription: every copy of a daemon receives every event) and
 * hands each decoded event to a callback; undecodable messages are logged
 * and dropped. cx_room_events_publish sends one. */
#ifndef CX_ROOM_EVENTS_H
#define CX_ROOM_EVENTS_H

#include "calixio/v1/rooms.pb-c.h"
#include "cx_service.h"
#include "cx_status.h"

typedef struct cx_room_events cx_room_events;

/* Called on a NATS delivery thread (one at a time for a subscription), so
 * it must be thread-safe with respect to the rest of the daemon and
 * quick. ev and everything in it are borrowed for the call only. */
typedef void (*cx_room_event_fn)(const Calixio__V1__RoomChanged *ev, void *arg);

/* Subscribes; fn(ev, arg) for every event until cx_room_events_unsubscribe.
 * arg is borrowed and must outlive the subscription. *out is owned by the
 * caller. CX_ERR_UNAVAILABLE when NATS refuses (logged), CX_ERR_NOMEM. */
cx_status cx_room_events_subscribe(cx_service *svc, cx_room_event_fn fn, void *arg,
                                   cx_room_events **out);

/* Stops the subscription, waiting (bounded) for a callback in progress to
 * return, and frees it. Call before the service is destroyed and before
 * whatever arg points to is freed. NULL is fine. */
void cx_room_events_unsubscribe(cx_room_events *re);

/* Publishes RoomChanged{event, room} on <prefix>.events.rooms.<event>
 * (event: created, ended, updated; a NATS-subject-safe token). Every path
 * that changes a room's state, in any daemon, publishes through this, so
 * every cache sees every change. room is borrowed. CX_ERR_UNAVAILABLE when
 * the publish fails, CX_ERR_INTERNAL for bad arguments. */
cx_status cx_room_events_publish(cx_service *svc, const char *event,
                                 const Calixio__V1__Room *room);

#endif
