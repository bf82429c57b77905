/* cx_svcreq.c: a NATS request to another Calixio service on behalf of the
 * request being served (see cx_svcreq.h). */
#include "cx_svcreq.h"

#include <stdio.h>
#include <stdlib.h>

#include "calixio/v1/common.pb-c.h"
#include "cx_json.h"
#include "cx_log.h"

/* The status of an error reply (its Error.code), CX_OK for a plain reply;
 * fills req's error details per flags. */
static cx_status _error_of(natsMsg *reply, cx_req *req, unsigned flags)
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
        if ((flags & (CX_SVCREQ_ERR_MESSAGE | CX_SVCREQ_ERR_DETAILS)) && e->message &&
            *e->message)
            snprintf(req->message, sizeof req->message, "%s", e->message);
        if ((flags & CX_SVCREQ_ERR_DETAILS) && e->reason && *e->reason)
            snprintf(req->reason, sizeof req->reason, "%s", e->reason);
        if ((flags & CX_SVCREQ_ERR_DETAILS) && e->has_retry_after)
            req->retry_after = (int)e->retry_after;
        protobuf_c_message_free_unpacked(m, NULL);
    }
    return s == CX_ERR_INTERNAL ? CX_ERR_UNAVAILABLE : s;
}

/* Sets header name to v unless v is NULL or empty. */
static natsStatus _forward(natsMsg *m, const char *name, const char *v)
{
    return v && v[0] ? natsMsgHeader_Set(m, name, v) : NATS_OK;
}

cx_status cx_svcreq_call(cx_service *svc, const char *rel_subject, cx_req *req, unsigned flags,
                         const ProtobufCMessage *in, const ProtobufCMessageDescriptor *out_desc,
                         int timeout_ms, ProtobufCMessage **out)
{
    char subj[256];
    natsMsg *m = NULL, *reply = NULL;
    size_t len = 0;
    if (!svc)
        return CX_ERR_UNAVAILABLE;
    uint8_t *buf = cx_pb_pack(in, &len);
    if (!buf)
        return CX_ERR_NOMEM;
    cx_service_subject(svc, rel_subject, subj, sizeof subj);
    natsStatus ns = natsMsg_Create(&m, subj, NULL, (const char *)buf, (int)len);
    free(buf);
    if (ns == NATS_OK)
        ns = _forward(m, "Calixio-Request-Id", req->request_id);
    if (ns == NATS_OK)
        ns = _forward(m, "Authorization", req->authorization);
    if (ns == NATS_OK && (flags & CX_SVCREQ_CLIENT_IP))
        ns = _forward(m, "Calixio-Client-Ip", req->client_ip);
    if (ns == NATS_OK)
        ns = natsConnection_RequestMsg(&reply, cx_service_conn(svc), m, timeout_ms);
    natsMsg_Destroy(m);
    if (ns != NATS_OK) {
        cx_log_warn(req->request_id, "%s: %s", rel_subject, natsStatus_GetText(ns));
        return CX_ERR_UNAVAILABLE;
    }
    cx_status s = _error_of(reply, req, flags);
    ProtobufCMessage *pm = NULL;
    if (s == CX_OK && out_desc &&
        cx_pb_unpack(out_desc, (const uint8_t *)natsMsg_GetData(reply),
                     (size_t)natsMsg_GetDataLength(reply), &pm) != CX_OK) {
        cx_log_warn(req->request_id, "%s: undecodable reply", rel_subject);
        s = CX_ERR_UNAVAILABLE;
    }
    natsMsg_Destroy(reply);
    if (s == CX_OK && out_desc)
        *out = pm;
    return s;
}
