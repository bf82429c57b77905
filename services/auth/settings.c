/* GET /users/me/settings and PATCH / PUT /users/me/settings (same partial
 * meaning: absent fields are kept). The defaults of a user who never
 * changed anything are the column defaults of user_settings, repeated in
 * the table below (a test compares both). */
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "cx_json.h"
#include "cx_log.h"

static const struct {
    bool microphone_on_join, camera_on_join;
    const char *video_quality, *theme, *language;
} _defaults = {true, true, "auto", "system", "en"};

/* Fills s with the defaults (strings malloced). */
static cx_status _fill_defaults(Calixio__V1__Settings *s)
{
    s->has_microphone_on_join = s->has_camera_on_join = 1;
    s->microphone_on_join = _defaults.microphone_on_join;
    s->camera_on_join = _defaults.camera_on_join;
    s->video_quality = cx_strdup(_defaults.video_quality);
    s->theme = cx_strdup(_defaults.theme);
    s->language = cx_strdup(_defaults.language);
    s->camera_device_id = cx_strdup("");
    s->microphone_device_id = cx_strdup("");
    s->speaker_device_id = cx_strdup("");
    if (!s->video_quality || !s->theme || !s->language || !s->camera_device_id ||
        !s->microphone_device_id || !s->speaker_device_id)
        return CX_ERR_NOMEM;
    return CX_OK;
}

/* Every rule of a settings patch; all failures are reported together. */
static cx_status _validate(cx_req *req, const Calixio__V1__Settings *p)
{
    bool bad = false;
    bad |= acct_validate_oneof(req, "video_quality", p->video_quality, acct_video_qualities) !=
           CX_OK;
    bad |= acct_validate_oneof(req, "theme", p->theme, acct_themes) != CX_OK;
    bad |= acct_validate_oneof(req, "language", p->language, acct_languages) != CX_OK;
    bad |= acct_validate_bytes(req, "camera_device_id", p->camera_device_id, ACCT_DEVICE_MAX) !=
           CX_OK;
    bad |= acct_validate_bytes(req, "microphone_device_id", p->microphone_device_id,
                               ACCT_DEVICE_MAX) != CX_OK;
    bad |= acct_validate_bytes(req, "speaker_device_id", p->speaker_device_id,
                               ACCT_DEVICE_MAX) != CX_OK;
    return bad ? CX_ERR_VALIDATION : CX_OK;
}

/* Runs the read (patch NULL) or the update, into a new reply. */
static cx_status _settings(const auth_ctx *c, cx_req *req, const Calixio__V1__Settings *patch,
                           ProtobufCMessage **out)
{
    Calixio__V1__Settings *r = malloc(sizeof(*r));
    if (!r)
        return CX_ERR_NOMEM;
    calixio__v1__settings__init(r);
    cx_status s = patch ? acct_store_settings_update(c->pg, req->caller.user_id, patch, r)
                        : acct_store_settings(c->pg, req->caller.user_id, r);
    if (s == CX_ERR_NOT_FOUND && !patch)
        s = _fill_defaults(r);
    if (s != CX_OK) {
        protobuf_c_message_free_unpacked(&r->base, NULL);
        return s;
    }
    *out = &r->base;
    return CX_OK;
}

cx_status acct_handle_settings_get(cx_req *req, const ProtobufCMessage *in,
                                   ProtobufCMessage **out, void *ctx)
{
    (void)in;
    cx_status s = acct_caller_ok(req);
    return s == CX_OK ? _settings(ctx, req, NULL, out) : s;
}

cx_status acct_handle_settings_update(cx_req *req, const ProtobufCMessage *in,
                                      ProtobufCMessage **out, void *ctx)
{
    const Calixio__V1__Settings *p = (const Calixio__V1__Settings *)in;
    cx_status s = acct_caller_ok(req);
    if (s == CX_OK)
        s = _validate(req, p);
    if (s == CX_OK)
        s = _settings(ctx, req, p, out);
    if (s == CX_OK)
        cx_log_info(req->request_id, "settings of user %s updated", req->caller.user_id);
    return s;
}
