/* invites.c: POST/GET /rooms/{id}/invites, DELETE .../invites/{invite_id}
 * (API-ROOMS.md "Invites"). The code is 192 random bits (libsodium),
 * base64url: shown once in the create answer, only its SHA-256 is kept. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/common.pb-c.h"
#include "cx_json.h"
#include "cx_log.h"
#include "rooms.h"

static Calixio__V1__Invite *_msg(const rooms_invite *v, const char *code)
{
    Calixio__V1__Invite *m = malloc(sizeof *m);
    if (!m)
        return NULL;
    calixio__v1__invite__init(m);
    m->id = cx_strdup(v->id);
    m->code = code ? cx_strdup(code) : NULL;
    m->label = cx_strdup(v->label);
    m->role = cx_strdup(v->role);
    m->expires_at = v->expires_at[0] ? cx_strdup(v->expires_at) : NULL;
    m->has_max_uses = v->max_uses > 0;
    m->max_uses = v->max_uses;
    m->has_uses = 1;
    m->uses = v->uses;
    m->created_at = cx_strdup(v->created_at);
    if (!m->id || (code && !m->code) || !m->label || !m->role || !m->created_at ||
        (v->expires_at[0] && !m->expires_at)) {
        protobuf_c_message_free_unpacked(&m->base, NULL);
        return NULL;
    }
    return m;
}

static cx_status _validate(cx_req *req, const Calixio__V1__CreateInviteRequest *in)
{
    cx_status s = CX_OK;
    if (in->label && rooms_chars(in->label) > ROOMS_INVITE_LABEL_MAX_CHARS)
        s = cx_req_field_error(req, "label", "max");
    if (in->has_expires_in && in->expires_in < ROOMS_INVITE_EXPIRES_MIN_S)
        s = cx_req_field_error(req, "expires_in", "min");
    else if (in->has_expires_in && in->expires_in > ROOMS_INVITE_EXPIRES_MAX_S)
        s = cx_req_field_error(req, "expires_in", "max");
    if (in->has_max_uses && in->max_uses < 1)
        s = cx_req_field_error(req, "max_uses", "min");
    else if (in->has_max_uses && in->max_uses > ROOMS_INVITE_MAX_USES)
        s = cx_req_field_error(req, "max_uses", "max");
    if (in->role && strcmp(in->role, "participant") != 0 && strcmp(in->role, "moderator") != 0)
        s = cx_req_field_error(req, "role", "oneof");
    return s;
}

cx_status rooms_h_invite_create(cx_req *req, const ProtobufCMessage *in_,
                                ProtobufCMessage **out, void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__CreateInviteRequest *in = (const void *)in_;
    rooms_row row;
    rooms_actor who;
    rooms_invite v;
    uint8_t raw[ROOMS_INVITE_CODE_BYTES];
    char code[ROOMS_INVITE_CODE_BYTES * 2];

    cx_status s = rooms_authorize(ctx, req, in->id, ROOMS_ACT_INVITE_CREATE, &row, &who);
    if (s != CX_OK)
        return s;
    const char *role = in->role ? in->role : "participant";
    s = _validate(req, in);
    if (s == CX_OK && strcmp(role, "moderator") == 0 &&
        who.role < rooms_policy_min_role(ROOMS_ACT_INVITE_MODERATOR))
        s = cx_req_fail(req, CX_ERR_ROOM_FORBIDDEN,
                        "only the host may create moderator invites");
    if (s == CX_OK && strcmp(row.status, "ended") == 0)
        s = CX_ERR_ROOM_ENDED;
    if (s != CX_OK)
        goto out;
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(code, sizeof code, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    s = rooms_invite_insert(ctx->pg, row.id, code, in->label ? in->label : "", role,
                            in->has_expires_in ? in->expires_in : 0,
                            in->has_max_uses ? in->max_uses : 0,
                            who.identity[0] ? who.identity : who.user_id, &v);
    if (s != CX_OK)
        goto out;
    char details[96];
    snprintf(details, sizeof details, "{\"role\":\"%s\"}", role);
    if (rooms_audit_add(ctx->pg, row.id, &who, "invite.created", v.id, details) != CX_OK)
        cx_log_warn(req->request_id, "room %s: audit of invite.created failed", row.id);
    Calixio__V1__Invite *m = _msg(&v, code);
    s = m ? CX_OK : CX_ERR_NOMEM;
    if (m)
        *out = &m->base;
    cx_log_info(req->request_id, "room %s: invite %s created (%s)", row.id, v.id, role);
out:
    sodium_memzero(code, sizeof code);
    rooms_row_clear(&row);
    return s;
}

cx_status rooms_h_invite_list(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                              void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__RoomRef *in = (const void *)in_;
    rooms_row row;
    rooms_actor who;
    rooms_invite *v = NULL;
    int n = 0;

    cx_status s = rooms_authorize(ctx, req, in->id, ROOMS_ACT_INVITE_LIST, &row, &who);
    if (s != CX_OK)
        return s;
    s = rooms_invite_list(ctx->pg, row.id, &v, &n);
    rooms_row_clear(&row);
    if (s != CX_OK)
        return s;
    Calixio__V1__InviteList *l = malloc(sizeof *l);
    if (!l) {
        free(v);
        return CX_ERR_NOMEM;
    }
    calixio__v1__invite_list__init(l);
    l->invites = calloc(n > 0 ? (size_t)n : 1, sizeof *l->invites);
    for (int i = 0; l->invites && i < n; i++) {
        if (!(l->invites[i] = _msg(&v[i], NULL)))
            break;
        l->n_invites++;
    }
    free(v);
    if (!l->invites || (int)l->n_invites != n) {
        protobuf_c_message_free_unpacked(&l->base, NULL);
        return CX_ERR_NOMEM;
    }
    *out = &l->base;
    return CX_OK;
}

cx_status rooms_h_invite_revoke(cx_req *req, const ProtobufCMessage *in_,
                                ProtobufCMessage **out, void *ctx_)
{
    rooms_ctx *ctx = ctx_;
    const Calixio__V1__InviteRef *in = (const void *)in_;
    rooms_row row;
    rooms_actor who;
    bool changed = false;

    cx_status s = rooms_authorize(ctx, req, in->id, ROOMS_ACT_INVITE_REVOKE, &row, &who);
    if (s != CX_OK)
        return s;
    s = rooms_invite_revoke(ctx->pg, row.id, in->invite_id, &changed);
    if (s == CX_OK && !changed) /* as a second DELETE of a room: gone is 404 */
        s = CX_ERR_INVITE_NOT_FOUND;
    if (s == CX_OK && changed &&
        rooms_audit_add(ctx->pg, row.id, &who, "invite.revoked", in->invite_id, NULL) != CX_OK)
        cx_log_warn(req->request_id, "room %s: audit of invite.revoked failed", row.id);
    rooms_row_clear(&row);
    if (s != CX_OK)
        return s;
    Calixio__V1__Empty *e = malloc(sizeof *e);
    if (!e)
        return CX_ERR_NOMEM;
    calixio__v1__empty__init(e);
    *out = &e->base;
    return CX_OK;
}
