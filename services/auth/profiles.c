/* /users/me/video-profiles: list, create, patch, delete (see account.h).
 * Rules: name 1..40, background none|blur|image, background_image_url an
 * https URL (required for image), noise_suppression off|low|medium|high,
 * at most ACCT_PROFILES_MAX per account, at most one is_default (setting
 * one clears the others). */
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "cx_crypto.h"
#include "cx_log.h"

/* The rules of each field present; `creating` makes name, background and
 * noise_suppression required. */
static cx_status _validate(cx_req *req, bool creating, const char *name, const char *bg,
                           const char *url, const char *noise)
{
    bool bad = false;
    if (creating || name)
        bad |= acct_validate_profile_name(req, "name", name) != CX_OK;
    if (creating && !bg)
        bad |= cx_req_field_error(req, "background", "required") != CX_OK;
    else
        bad |= acct_validate_oneof(req, "background", bg, acct_backgrounds) != CX_OK;
    bad |= acct_validate_url(req, "background_image_url", url, true) != CX_OK;
    if (creating && !noise)
        bad |= cx_req_field_error(req, "noise_suppression", "required") != CX_OK;
    else
        bad |= acct_validate_oneof(req, "noise_suppression", noise, acct_noise_levels) != CX_OK;
    if (!bad && creating && strcmp(bg, "image") == 0 && (!url || !*url))
        bad |= cx_req_field_error(req, "background_image_url", "required") != CX_OK;
    return bad ? CX_ERR_VALIDATION : CX_OK;
}

cx_status acct_handle_vp_list(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                              void *ctx)
{
    const auth_ctx *c = ctx;
    (void)in;
    cx_status s = acct_caller_ok(req);
    if (s != CX_OK)
        return s;
    Calixio__V1__VideoProfileList *r = malloc(sizeof(*r));
    if (!r)
        return CX_ERR_NOMEM;
    calixio__v1__video_profile_list__init(r);
    s = acct_store_vp_list(c->pg, req->caller.user_id, r);
    if (s != CX_OK) {
        protobuf_c_message_free_unpacked(&r->base, NULL);
        return s;
    }
    *out = &r->base;
    return CX_OK;
}

cx_status acct_handle_vp_create(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                                void *ctx)
{
    const auth_ctx *c = ctx;
    const Calixio__V1__CreateVideoProfileRequest *rq =
        (const Calixio__V1__CreateVideoProfileRequest *)in;
    Calixio__V1__VideoProfile *v = NULL;
    cx_status s = acct_caller_ok(req);
    if (s == CX_OK)
        s = _validate(req, true, rq->name, rq->background, rq->background_image_url,
                      rq->noise_suppression);
    if (s == CX_OK)
        s = acct_store_vp_create(c->pg, req, req->caller.user_id, rq, &v);
    if (s == CX_ERR_NOT_FOUND)
        s = cx_req_fail(req, CX_ERR_INVALID_TOKEN, "the user of this token no longer exists");
    if (s != CX_OK)
        return s;
    cx_log_info(req->request_id, "video profile %s created for user %s", v->id,
                req->caller.user_id);
    *out = &v->base;
    return CX_OK;
}

cx_status acct_handle_vp_update(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                                void *ctx)
{
    const auth_ctx *c = ctx;
    const Calixio__V1__UpdateVideoProfileRequest *rq =
        (const Calixio__V1__UpdateVideoProfileRequest *)in;
    Calixio__V1__VideoProfile *v = NULL;
    cx_status s = acct_caller_ok(req);
    if (s != CX_OK)
        return s;
    if (!cx_uuid_valid_str(rq->profile_id))
        return CX_ERR_PROFILE_NOT_FOUND;
    s = _validate(req, false, rq->name, rq->background, rq->background_image_url,
                  rq->noise_suppression);
    if (s == CX_OK)
        s = acct_store_vp_update(c->pg, req, req->caller.user_id, rq, &v);
    if (s != CX_OK)
        return s;
    *out = &v->base;
    return CX_OK;
}

cx_status acct_handle_vp_delete(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                                void *ctx)
{
    const auth_ctx *c = ctx;
    const Calixio__V1__VideoProfileRef *rq = (const Calixio__V1__VideoProfileRef *)in;
    cx_status s = acct_caller_ok(req);
    if (s != CX_OK)
        return s;
    if (!cx_uuid_valid_str(rq->profile_id))
        return CX_ERR_PROFILE_NOT_FOUND;
    s = acct_store_vp_delete(c->pg, req->caller.user_id, rq->profile_id);
    return s == CX_OK ? acct_empty_reply(out) : s;
}
