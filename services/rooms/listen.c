/* listen.c: queue subscriptions of the rooms daemon to other services'
 * events (see chat.h). */
#include <nats/nats.h>
#include <stdlib.h>

#include "chat.h"
#include "cx_log.h"
#include "cx_natsconn.h"

#define ROOMS_LISTEN_DRAIN_MS 2000

struct rooms_listener {
    rooms_ctx *ctx;
    const ProtobufCMessageDescriptor *d;
    const char *what;
    rooms_listen_fn fn;
    natsSubscription *sub;
};

static void _on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    rooms_listener *l = closure;
    ProtobufCMessage *m = NULL;
    (void)nc;
    (void)sub;
    if (cx_natsmsg_unpack(l->d, msg, l->what, &m) == CX_OK) {
        l->fn(l->ctx, m, natsMsg_GetSubject(msg));
        protobuf_c_message_free_unpacked(m, NULL);
    }
    natsMsg_Destroy(msg);
}

cx_status rooms_listen(rooms_ctx *ctx, const char *rel, const char *queue,
                       const ProtobufCMessageDescriptor *d, const char *what,
                       rooms_listen_fn fn, rooms_listener **out)
{
    char subj[256];
    rooms_listener *l = calloc(1, sizeof *l);
    if (!l)
        return CX_ERR_NOMEM;
    l->ctx = ctx;
    l->d = d;
    l->what = what;
    l->fn = fn;
    cx_service_subject(ctx->svc, rel, subj, sizeof subj);
    natsStatus ns = natsConnection_QueueSubscribe(&l->sub, cx_service_conn(ctx->svc), subj,
                                                  queue, _on_msg, l);
    if (ns != NATS_OK) {
        cx_log_error(NULL, "nats: subscribing %s failed: %s", subj, natsStatus_GetText(ns));
        free(l);
        return CX_ERR_UNAVAILABLE;
    }
    *out = l;
    return CX_OK;
}

void rooms_unlisten(rooms_listener *l)
{
    if (!l)
        return;
    if (natsSubscription_Drain(l->sub) != NATS_OK ||
        natsSubscription_WaitForDrainCompletion(l->sub, ROOMS_LISTEN_DRAIN_MS) != NATS_OK)
        natsSubscription_Unsubscribe(l->sub);
    natsSubscription_Destroy(l->sub);
    free(l);
}
