/* GET /auth/sessions and DELETE /auth/sessions/{session_id} (see
 * account.h). The current session is the sid claim of the caller's access
 * token. Revoking one goes the way of logout: deny-list first (its access
 * tokens answer 401 token_revoked in every service), then the row, in one
 * transaction that Redis being down rolls back (503). */
#include <stdlib.h>

#include "account.h"
#include "cx_crypto.h"
#include "cx_log.h"

cx_status acct_handle_sessions_list(cx_req *req, const ProtobufCMessage *in,
                                    ProtobufCMessage **out, void *ctx)
{
    const auth_ctx *c = ctx;
    (void)in;
    cx_status s = acct_caller_ok(req);
    if (s != CX_OK)
        return s;
    Calixio__V1__SessionList *r = malloc(sizeof(*r));
    if (!r)
        return CX_ERR_NOMEM;
    calixio__v1__session_list__init(r);
    s = acct_store_sessions(c->pg, req->caller.user_id, req->caller.session_id, r);
    if (s != CX_OK) {
        protobuf_c_message_free_unpacked(&r->base, NULL);
        return s;
    }
    *out = &r->base;
    return CX_OK;
}

cx_status acct_handle_session_revoke(cx_req *req, const ProtobufCMessage *in,
                                     ProtobufCMessage **out, void *ctx)
{
    const auth_ctx *c = ctx;
    const Calixio__V1__SessionRef *rq = (const Calixio__V1__SessionRef *)in;
    auth_tx tx;
    cx_status s = acct_caller_ok(req);
    if (s != CX_OK)
        return s;
    if (!cx_uuid_valid_str(rq->session_id))
        return CX_ERR_SESSION_NOT_FOUND;
    s = acct_tx_begin(c->pg, &tx);
    if (s != CX_OK)
        return s;
    /* The row first (it says whether the session is the caller's), the
     * deny-list before the commit. */
    s = acct_store_tx_revoke_one(&tx, req->caller.user_id, rq->session_id);
    if (s == CX_OK)
        s = cx_auth_revoke_session(c->redis, rq->session_id, c->access_ttl_s);
    cx_status e = auth_store_tx_end(&tx, s == CX_OK);
    if (s == CX_OK)
        s = e;
    if (s != CX_OK)
        return s;
    cx_log_info(req->request_id, "session %s of user %s revoked", rq->session_id,
                req->caller.user_id);
    return acct_empty_reply(out);
}
