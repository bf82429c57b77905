/* cx_svcreq: one service asking another over NATS on behalf of a request
 * it serves (media asking rooms.admit, the webhook asking rooms.get).
 *
 * The call forwards the incoming request's identity headers, waits for the
 * reply with a timeout and turns an error reply (header
 * Nats-Service-Error-Code and a calixio.v1.Error body, the error contract
 * of cx_service.h) back into a cx_status, so the caller can return it as
 * its own answer. */
#ifndef CX_SVCREQ_H
#define CX_SVCREQ_H

#include <protobuf-c/protobuf-c.h>

#include "cx_service.h"
#include "cx_status.h"

/* What of the incoming request travels with the call and what of an error
 * reply comes back into it. Calixio-Request-Id and Authorization always
 * travel (when not empty). */
typedef enum cx_svcreq_flags {
    CX_SVCREQ_CLIENT_IP = 1 << 0,   /* forward Calixio-Client-Ip */
    CX_SVCREQ_ERR_MESSAGE = 1 << 1, /* copy Error.message into req->message */
    CX_SVCREQ_ERR_DETAILS = 1 << 2  /* copy Error.reason and retry_after too */
} cx_svcreq_flags;

/* Requests "<prefix>.<rel_subject>" of svc with the protobuf message in and
 * waits at most timeout_ms. On CX_OK and a non-NULL out_desc, *out receives
 * the reply decoded as out_desc: malloced, the caller frees it with
 * protobuf_c_message_free_unpacked. out_desc NULL ignores the reply body
 * (out may then be NULL). *out is written only on success.
 *
 * An error reply returns its Error.code's status (CX_ERR_UNAVAILABLE when
 * it has none or it is an internal error: the other service failed, not
 * this one) and, per flags, fills req's error details. No svc, no reply in
 * time or an undecodable reply is CX_ERR_UNAVAILABLE (logged with
 * req->request_id); in and req are borrowed. */
cx_status cx_svcreq_call(cx_service *svc, const char *rel_subject, cx_req *req, unsigned flags,
                         const ProtobufCMessage *in, const ProtobufCMessageDescriptor *out_desc,
                         int timeout_ms, ProtobufCMessage **out);

#endif
