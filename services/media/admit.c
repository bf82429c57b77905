/* admit.c: a join that is not a plain open one is decided by rooms
 * (calixio.rooms.admit): rooms owns invites, waiting entries, bans and room
 * roles, so it checks them in the contract's order, counts an invite use
 * atomically and mints the answer. Media forwards the joiner's
 * Authorization, request id and client address, and relays the answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/common.pb-c.h"
#include "cx_json.h"
#include "cx_log.h"
#include "media.h"

#define MEDIA_ADMIT_TIMEOUT_MS 5000

/* The status of an error reply (its Error.code), CX_OK for a plain reply. */
static cx_status _error_of(natsMsg *reply, cx_req *req)
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
        if (e->reason && *e->reason)
            snprintf(req->reason, sizeof req->reason, "%s", e->reason);
        if (e->has_retry_after)
            req->retry_after = (int)e->retry_after;
        protobuf_c_message_free_unpacked(m, NULL);
    }
    return s == CX_ERR_INTERNAL ? CX_ERR_UNAVAILABLE : s;
}

cx_status media_admit(const media_ctx *c, cx_req *req, const Calixio__V1__JoinRequest *in,
                      Calixio__V1__JoinReply **out)
{
    char subj[256];
    natsMsg *m = NULL, *reply = NULL;
    size_t len = 0;
    if (!c->svc)
        return CX_ERR_UNAVAILABLE;
    uint8_t *buf = cx_pb_pack(&in->base, &len);
    if (!buf)
        return CX_ERR_NOMEM;
    cx_service_subject(c->svc, "rooms.admit", subj, sizeof subj);
    natsStatus ns = natsMsg_Create(&m, subj, NULL, (const char *)buf, (int)len);
    free(buf);
    if (ns == NATS_OK && req->request_id[0])
        ns = natsMsgHeader_Set(m, "Calixio-Request-Id", req->request_id);
    if (ns == NATS_OK && req->authorization[0])
        ns = natsMsgHeader_Set(m, "Authorization", req->authorization);
    if (ns == NATS_OK && req->client_ip[0])
        ns = natsMsgHeader_Set(m, "Calixio-Client-Ip", req->client_ip);
    if (ns == NATS_OK)
        ns = natsConnection_RequestMsg(&reply, cx_service_conn(c->svc), m,
                                       MEDIA_ADMIT_TIMEOUT_MS);
    natsMsg_Destroy(m);
    if (ns != NATS_OK) {
        cx_log_warn(req->request_id, "rooms.admit for %s: %s", in->id, natsStatus_GetText(ns));
        return CX_ERR_UNAVAILABLE;
    }
    cx_status s = _error_of(reply, req);
    ProtobufCMessage *pm = NULL;
    if (s == CX_OK && cx_pb_unpack(&calixio__v1__join_reply__descriptor,
                                   (const uint8_t *)natsMsg_GetData(reply),
                                   (size_t)natsMsg_GetDataLength(reply), &pm) != CX_OK)
        s = CX_ERR_UNAVAILABLE;
    natsMsg_Destroy(reply);
    if (s == CX_OK)
        *out = (Calixio__V1__JoinReply *)pm;
    return s;
}
