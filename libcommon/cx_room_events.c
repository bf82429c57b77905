/* cx_room_events.c: see cx_room_events.h. */
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx_json.h"
#include "cx_log.h"
#include "cx_natsconn.h"
#include "cx_room_events.h"

/* How long unsubscribing waits for a callback in progress. */
#define RE_DRAIN_WAIT_MS 2000

struct cx_room_events {
    natsSubscription *sub;
    cx_room_event_fn fn;
    void *arg;
};

static void _on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    cx_room_events *re = closure;
    ProtobufCMessage *m = NULL;
    (void)nc;
    (void)sub;
    if (cx_natsmsg_unpack(&calixio__v1__room_changed__descriptor, msg, "room event", &m) ==
        CX_OK) {
        re->fn((const Calixio__V1__RoomChanged *)m, re->arg);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    natsMsg_Destroy(msg);
}

cx_status cx_room_events_subscribe(cx_service *svc, cx_room_event_fn fn, void *arg,
                                   cx_room_events **out)
{
    char subj[256];
    cx_room_events *re = calloc(1, sizeof *re);
    if (!re)
        return CX_ERR_NOMEM;
    re->fn = fn;
    re->arg = arg;
    cx_service_subject(svc, "events.rooms.>", subj, sizeof subj);
    natsStatus ns = natsConnection_Subscribe(&re->sub, cx_service_conn(svc), subj, _on_msg, re);
    if (ns != NATS_OK) {
        cx_log_error(NULL, "nats: subscribing %s failed: %s", subj, natsStatus_GetText(ns));
        goto out_free_re;
    }
    *out = re;
    return CX_OK;

out_free_re:
    free(re);
    return CX_ERR_UNAVAILABLE;
}

void cx_room_events_unsubscribe(cx_room_events *re)
{
    if (!re)
        return;
    /* Drain lets a callback in progress finish before re is freed; when the
     * connection cannot drain (closed, down), a plain unsubscribe. */
    if (natsSubscription_Drain(re->sub) != NATS_OK ||
        natsSubscription_WaitForDrainCompletion(re->sub, RE_DRAIN_WAIT_MS) != NATS_OK)
        natsSubscription_Unsubscribe(re->sub);
    natsSubscription_Destroy(re->sub);
    free(re);
}

cx_status cx_room_events_publish(cx_service *svc, const char *event,
                                 const Calixio__V1__Room *room)
{
    char rel[64];
    if (!svc || !event || !event[0] || strpbrk(event, ".*> ") || !room)
        return CX_ERR_INTERNAL;
    int n = snprintf(rel, sizeof rel, "events.rooms.%s", event);
    if (n < 0 || (size_t)n >= sizeof rel)
        return CX_ERR_INTERNAL;
    Calixio__V1__RoomChanged ev = CALIXIO__V1__ROOM_CHANGED__INIT;
    ev.event = (char *)event;
    ev.room = (Calixio__V1__Room *)room; /* only read by the packer */
    return cx_service_publish(svc, rel, &ev.base);
}
