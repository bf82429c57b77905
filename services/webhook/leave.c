/* leave.c: see leave.h. The event becomes the participant_left a webhook
 * would have been: one participant_events row (event id
 * "calixio-leave:<room token jti>", so leaving twice closes the visit
 * once) and the same presence script as a webhook, with the leave's time
 * as its ordering stamp (a later participant_joined still wins). */
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/events.pb-c.h"
#include "cx_json.h"
#include "cx_log.h"
#include "cx_natsconn.h"
#include "leave.h"

#define WL_DRAIN_WAIT_MS 2000

struct wh_leave {
    wh_ctx *c;
    natsSubscription *sub;
};

/* Stores the leave of ev (a participant.left RoomEvent). */
static cx_status _apply(wh_ctx *c, const Calixio__V1__RoomEvent *e)
{
    const Calixio__V1__RoomEventParticipant *p = e->participant;
    char id[WH_MAX_ID];
    if (!p || !p->identity || !p->identity[0] || !e->room_id || !e->livekit_room ||
        strlen(e->livekit_room) >= WH_MAX_ROOM)
        return CX_ERR_INVALID_JSON;
    snprintf(id, sizeof id, "calixio-leave:%s", p->token_id ? p->token_id : e->event_id);
    wh_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = WH_EV_PARTICIPANT_LEFT;
    ev.id = id;
    ev.event = "participant_left";
    ev.created_at = e->has_at_ms ? e->at_ms / 1000 : 0;
    ev.has_created_at = e->has_at_ms;
    ev.room_name = e->livekit_room;
    ev.room_sid = "";
    ev.p_sid = "";
    ev.p_identity = p->identity;
    ev.p_name = p->name ? p->name : "";
    ev.p_kind = "standard";
    ev.p_state = "DISCONNECTED";
    ev.track_sid = "";
    ev.track_type = "";

    cx_redis_conn *rc = NULL;
    wh_result res;
    cx_status s = cx_redis_acquire(c->redis, &rc, WH_REDIS_TIMEOUT_MS);
    if (s != CX_OK)
        return s;
    s = wh_store_participant(c, rc, &ev, id, e->room_id, false, &res);
    cx_redis_release(c->redis, rc, false);
    return s;
}

static void _on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    wh_leave *l = closure;
    ProtobufCMessage *m = NULL;
    (void)nc;
    (void)sub;
    if (cx_natsmsg_unpack(&calixio__v1__room_event__descriptor, msg, "room event", &m) ==
        CX_OK) {
        const Calixio__V1__RoomEvent *e = (const void *)m;
        /* our own webhook-derived events: the visit is already closed */
        bool ours = e->source && strcmp(e->source, "webhook") == 0;
        cx_status s = ours ? CX_OK : _apply(l->c, e);
        if (ours)
            ;
        else if (s != CX_OK)
            cx_log_warn(e->request_id, "room %s: leave of %s not stored: %s",
                        e->room_id ? e->room_id : "?",
                        e->participant && e->participant->identity ? e->participant->identity
                                                                   : "?",
                        cx_status_code(s));
        else
            cx_log_debug(e->request_id, "room %s: leave of %s stored", e->room_id,
                         e->participant->identity);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    natsMsg_Destroy(msg);
}

cx_status wh_leave_subscribe(wh_ctx *c, cx_service *svc, wh_leave **out)
{
    char subj[256];
    wh_leave *l = calloc(1, sizeof *l);
    if (!l)
        return CX_ERR_NOMEM;
    l->c = c;
    cx_service_subject(svc, "events.room.*.participant.left", subj, sizeof subj);
    natsStatus ns = natsConnection_QueueSubscribe(&l->sub, cx_service_conn(svc), subj,
                                                  "calixio-webhook-leave", _on_msg, l);
    if (ns != NATS_OK) {
        cx_log_error(NULL, "nats: subscribing %s failed: %s", subj, natsStatus_GetText(ns));
        free(l);
        return CX_ERR_UNAVAILABLE;
    }
    *out = l;
    return CX_OK;
}

void wh_leave_unsubscribe(wh_leave *l)
{
    if (!l)
        return;
    if (natsSubscription_Drain(l->sub) != NATS_OK ||
        natsSubscription_WaitForDrainCompletion(l->sub, WL_DRAIN_WAIT_MS) != NATS_OK)
        natsSubscription_Unsubscribe(l->sub);
    natsSubscription_Destroy(l->sub);
    free(l);
}
