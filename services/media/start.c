/* start.c: what a join asks of others: rooms.start for a pending room
 * (its first allowed join; rooms owns the row and LiveKit), and the live
 * presence count from the webhook's Redis hash (room_full). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/common.pb-c.h"
#include "calixio/v1/rooms.pb-c.h"
#include "cx_json.h"
#include "cx_log.h"
#include "cx_roomkeys.h"
#include "media.h"

/* The status of an error reply: its Error.code when it has one. */
static cx_status _reply_status(natsMsg *reply, cx_req *req)
{
    const char *code = NULL;
    if (natsMsgHeader_Get(reply, "Nats-Service-Error-Code", &code) != NATS_OK || !code)
        return CX_OK;
    ProtobufCMessage *m = NULL;
    cx_status s = CX_ERR_UNAVAILABLE;
    if (cx_pb_unpack(&calixio__v1__error__descriptor, (const uint8_t *)natsMsg_GetData(reply),
                     (size_t)natsMsg_GetDataLength(reply), &m) == CX_OK) {
        const Calixio__V1__Error *e = (const void *)m;
        if (e->code && *e->code)
            s = cx_status_from_code(e->code);
        if (e->message && *e->message)
            snprintf(req->message, sizeof req->message, "%s", e->message);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    return s == CX_ERR_INTERNAL ? CX_ERR_UNAVAILABLE : s;
}

cx_status media_start_room(const media_ctx *c, cx_req *req, const char *id)
{
    char subj[256];
    natsMsg *m = NULL, *reply = NULL;
    Calixio__V1__RoomRef ref = CALIXIO__V1__ROOM_REF__INIT;
    size_t len = 0;
    if (!c->svc)
        return CX_ERR_UNAVAILABLE;
    ref.id = (char *)id;
    uint8_t *buf = cx_pb_pack(&ref.base, &len);
    if (!buf)
        return CX_ERR_NOMEM;
    cx_service_subject(c->svc, "rooms.start", subj, sizeof subj);
    natsStatus ns = natsMsg_Create(&m, subj, NULL, (const char *)buf, (int)len);
    free(buf);
    if (ns == NATS_OK && req->request_id[0])
        ns = natsMsgHeader_Set(m, "Calixio-Request-Id", req->request_id);
    if (ns == NATS_OK && req->authorization[0])
        ns = natsMsgHeader_Set(m, "Authorization", req->authorization);
    if (ns == NATS_OK)
        ns = natsConnection_RequestMsg(&reply, cx_service_conn(c->svc), m,
                                       MEDIA_START_TIMEOUT_MS);
    natsMsg_Destroy(m);
    if (ns != NATS_OK) {
        cx_log_warn(req->request_id, "rooms.start for %s: %s", id, natsStatus_GetText(ns));
        return CX_ERR_UNAVAILABLE;
    }
    cx_status s = _reply_status(reply, req);
    natsMsg_Destroy(reply);
    return s;
}

cx_status media_presence_count(const media_ctx *c, const char *livekit_room, long long *n)
{
    return cx_roomkey_presence_count(c->redis, livekit_room, n);
}
