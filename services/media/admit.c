/* admit.c: a join that is not a plain open one is decided by rooms
 * (calixio.rooms.admit): rooms owns invites, waiting entries, bans and room
 * roles, so it checks them in the contract's order, counts an invite use
 * atomically and mints the answer. Media forwards the joiner's
 * Authorization, request id and client address, and relays the answer. */
#include "cx_svcreq.h"
#include "media.h"

#define MEDIA_ADMIT_TIMEOUT_MS 5000

cx_status media_admit(const media_ctx *c, cx_req *req, const Calixio__V1__JoinRequest *in,
                      Calixio__V1__JoinReply **out)
{
    ProtobufCMessage *pm = NULL;
    cx_status s = cx_svcreq_call(c->svc, "rooms.admit", req,
                                 CX_SVCREQ_CLIENT_IP | CX_SVCREQ_ERR_DETAILS, &in->base,
                                 &calixio__v1__join_reply__descriptor, MEDIA_ADMIT_TIMEOUT_MS,
                                 &pm);
    if (s == CX_OK)
        *out = (Calixio__V1__JoinReply *)pm;
    return s;
}
