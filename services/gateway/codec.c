/* codec: route-driven JSON/protobuf conversion for the gateway. */
#include "codec.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/common.pb-c.h"
#include "calixio/v1/media.pb-c.h"
#include "calixio/v1/rooms.pb-c.h"
#include "calixio/v1/webhook.pb-c.h"
#include "cx_json.h"

void gw_answer_free(gw_answer *a)
{
    free(a->body);
    free(a->set_cookie);
    memset(a, 0, sizeof(*a));
}

/* Dumps obj (consumed) compactly into a->body. */
static void _set_json(gw_answer *a, json_t *obj)
{
    free(a->body);
    a->body = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    a->len = a->body ? strlen(a->body) : 0;
    json_decref(obj);
}

void gw_answer_error(gw_answer *a, int status, const char *code, const char *message)
{
    a->status = status;
    if (!message)
        message = cx_status_message(cx_status_from_code(code));
    json_t *o = json_object();
    if (o) {
        json_object_set_new(o, "error", json_string(code));
        json_object_set_new(o, "message", json_string(message));
    }
    _set_json(a, o);
}

void gw_answer_status(gw_answer *a, cx_status s, const char *message)
{
    gw_answer_error(a, cx_status_http(s), cx_status_code(s),
                    message ? message : cx_status_message(s));
}

/* True when the body is empty or only whitespace. */
static bool _blank(const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != ' ' && b[i] != '\t' && b[i] != '\r' && b[i] != '\n')
            return false;
    return true;
}

/* Decodes the body against d (blank body: empty message). */
static cx_status _decode(const ProtobufCMessageDescriptor *d, const gw_req_in *in,
                         ProtobufCMessage **msg, gw_answer *err)
{
    char why[256] = "";
    size_t n = _blank(in->body, in->body_len) ? 0 : in->body_len;
    cx_status s = cx_json_decode(d, n ? in->body : "", n, msg, why, sizeof(why));
    if (s == CX_OK)
        return CX_OK;
    gw_answer_status(err, s, why[0] ? why : NULL);
    return s;
}

/* The string field `name` of m, as a pointer to its slot (NULL if none). */
static char **_str_slot(ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
        m->descriptor, name);
    if (!f || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
        return NULL;
    return (char **)((char *)m + f->offset);
}

static cx_status _set_str(ProtobufCMessage *m, const char *name, const char *v)
{
    char **slot = _str_slot(m, name);
    if (!slot)
        return CX_ERR_INTERNAL;
    char *dup = strdup(v);
    if (!dup)
        return CX_ERR_NOMEM;
    free(*slot);
    *slot = dup;
    return CX_OK;
}

static cx_status _pack(const ProtobufCMessage *m, uint8_t **out, size_t *out_len,
                       gw_answer *err)
{
    *out = cx_pb_pack(m, out_len);
    if (*out)
        return CX_OK;
    gw_answer_status(err, CX_ERR_NOMEM, NULL);
    return CX_ERR_NOMEM;
}

/* err = 400 validation_failed with message, reason <field>_<rule> and
 * fields {field: rule}. */
static void _validation(gw_answer *err, const char *field, const char *rule, const char *msg)
{
    gw_answer_status(err, CX_ERR_VALIDATION, msg);
    json_t *o = json_loads(err->body ? err->body : "{}", 0, NULL);
    if (o) {
        char reason[96];
        snprintf(reason, sizeof(reason), "%s_%s", field, rule);
        json_object_set_new(o, "reason", json_string(reason));
        json_t *f = json_object();
        json_object_set_new(f, field, json_string(rule));
        json_object_set_new(o, "fields", f);
        _set_json(err, o);
    }
}

static cx_status _build_list(const gw_req_in *in, uint8_t **out, size_t *out_len,
                             gw_answer *err)
{
    const gw_query *q = in->query;
    if (q && q->bad_field) {
        char msg[96];
        snprintf(msg, sizeof(msg), "query parameter %s: %s", q->bad_field,
                 strcmp(q->bad_rule, "integer") == 0 ? "expected an integer" : "too long");
        _validation(err, q->bad_field, q->bad_rule, msg);
        return CX_ERR_VALIDATION;
    }
    Calixio__V1__ListRoomsRequest r = CALIXIO__V1__LIST_ROOMS_REQUEST__INIT;
    if (q) {
        r.has_limit = q->has_limit;
        r.limit = q->limit;
        r.has_offset = q->has_offset;
        r.offset = q->offset;
        r.status = q->has_status ? (char *)q->status : NULL;
    }
    return _pack(&r.base, out, out_len, err);
}

static cx_status _build_webhook(const gw_req_in *in, uint8_t **out, size_t *out_len,
                                gw_answer *err)
{
    if (!gw_ctype_is(in->content_type, "application/webhook+json") &&
        !gw_ctype_is(in->content_type, "application/json")) {
        gw_answer_status(err, CX_ERR_UNSUPPORTED_MEDIA,
                         "expected Content-Type application/webhook+json");
        return CX_ERR_UNSUPPORTED_MEDIA;
    }
    Calixio__V1__WebhookRequest w = CALIXIO__V1__WEBHOOK_REQUEST__INIT;
    w.has_body = 1;
    w.body.data = (uint8_t *)(in->body_len ? in->body : "");
    w.body.len = in->body_len;
    w.authorization = (char *)in->authorization;
    w.content_type = (char *)in->content_type;
    return _pack(&w.base, out, out_len, err);
}

void gw_qargs_add(gw_qargs *q, const char *key, const char *value)
{
    if (!key || !value)
        return;
    for (int i = 0; i < q->n; i++)
        if (strcmp(q->kv[i].key, key) == 0) {
            q->kv[i].value = value;
            return;
        }
    if (q->n < GW_QARGS_MAX) {
        q->kv[q->n].key = key;
        q->kv[q->n].value = value;
        q->n++;
    }
}

/* The value of path parameter `name` for this request, NULL when none. */
static const char *_path_value(const gw_req_in *in, const char *name)
{
    if (in->match)
        return gw_match_param(in->match, name);
    return (strcmp(name, "id") == 0 && in->id && *in->id) ? in->id : NULL;
}

/* Longest query value the gateway forwards. */
#define GW_QVALUE_MAX 1024

/* One query value as the JSON value of field f; NULL with *rule set when it
 * does not fit the field's type. */
static json_t *_query_value(const ProtobufCFieldDescriptor *f, const char *v, const char **rule)
{
    size_t n = strlen(v);
    if (n > GW_QVALUE_MAX || !gw_header_value_ok(v, GW_QVALUE_MAX)) {
        *rule = "max";
        return NULL;
    }
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        const char *p = v + (*v == '-');
        bool ok = *p != '\0' && n <= 20;
        for (; ok && *p; p++)
            ok = *p >= '0' && *p <= '9';
        *rule = "integer";
        return ok ? json_loads(v, JSON_DECODE_ANY, NULL) : NULL;
    }
    case PROTOBUF_C_TYPE_BOOL:
        *rule = "boolean";
        if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
            return json_true();
        if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
            return json_false();
        return NULL;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_ENUM:
        *rule = "max";
        return json_string(v); /* NULL for invalid UTF-8 */
    default:
        *rule = "max";
        return NULL;
    }
}

/* GET: the message from the path parameters and the typed query; unknown
 * query keys are ignored, a path field cannot come from the query. */
static cx_status _build_get(const gw_route *rt, const gw_req_in *in, ProtobufCMessage **m,
                            gw_answer *err)
{
    json_t *o = json_object();
    if (!o)
        goto out_nomem;
    for (int i = 0; in->qargs && i < in->qargs->n; i++) {
        const char *key = in->qargs->kv[i].key, *val = in->qargs->kv[i].value;
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
            rt->in, key);
        if (!f || !*val || f->label == PROTOBUF_C_LABEL_REPEATED ||
            f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_BYTES ||
            _path_value(in, f->name))
            continue;
        const char *rule = "max";
        json_t *v = _query_value(f, val, &rule);
        if (!v) {
            char msg[160];
            snprintf(msg, sizeof(msg), "query parameter %s: %s", f->name,
                     strcmp(rule, "integer") == 0   ? "expected an integer"
                     : strcmp(rule, "boolean") == 0 ? "expected true or false"
                                                    : "too long");
            _validation(err, f->name, rule, msg);
            json_decref(o);
            return CX_ERR_VALIDATION;
        }
        json_object_set_new(o, f->name, v);
    }
    char *txt = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!txt)
        goto out_nomem;
    char why[256] = "";
    cx_status s = cx_json_decode(rt->in, txt, strlen(txt), m, why, sizeof(why));
    free(txt);
    if (s != CX_OK)
        gw_answer_status(err, s, why[0] ? why : NULL);
    return s;
out_nomem:
    gw_answer_status(err, CX_ERR_NOMEM, NULL);
    return CX_ERR_NOMEM;
}

/* GW_K_MSG: path parameters (and the GET query, or the JSON body) fill the
 * request message; a path field in the body is an unknown field. */
static cx_status _build_msg(const gw_route *rt, const gw_req_in *in, ProtobufCMessage **m,
                            gw_answer *err)
{
    cx_status s = strcmp(in->method, "GET") == 0 ? _build_get(rt, in, m, err)
                                                 : _decode(rt->in, in, m, err);
    if (s != CX_OK)
        return s;
    for (unsigned i = 0; i < rt->in->n_fields; i++) {
        const char *name = rt->in->fields[i].name;
        const char *v = _path_value(in, name);
        if (!v)
            continue;
        char **slot = _str_slot(*m, name);
        if (slot && *slot) { /* path values come from the path only */
            char msg[96];
            snprintf(msg, sizeof(msg), "unknown field \"%s\"", name);
            gw_answer_status(err, CX_ERR_INVALID_JSON, msg);
            s = CX_ERR_INVALID_JSON;
            break;
        }
        if ((s = _set_str(*m, name, v)) != CX_OK) {
            gw_answer_status(err, s, NULL);
            break;
        }
    }
    if (s != CX_OK) {
        protobuf_c_message_free_unpacked(*m, NULL);
        *m = NULL;
    }
    return s;
}

cx_status gw_build_request(const gw_route *rt, const gw_req_in *in, uint8_t **out,
                           size_t *out_len, gw_answer *err)
{
    *out = NULL;
    ProtobufCMessage *m = NULL;
    cx_status s = CX_OK;
    switch (rt->kind) {
    case GW_K_LIST:
        return _build_list(in, out, out_len, err);
    case GW_K_WEBHOOK:
        return _build_webhook(in, out, out_len, err);
    case GW_K_EMPTY: {
        Calixio__V1__Empty e = CALIXIO__V1__EMPTY__INIT;
        return _pack(&e.base, out, out_len, err);
    }
    case GW_K_ROOM_REF: {
        if (strcmp(in->method, "GET") != 0) { /* POST .../end: `{}` or nothing */
            if ((s = _decode(&calixio__v1__empty__descriptor, in, &m, err)) != CX_OK)
                return s;
            protobuf_c_message_free_unpacked(m, NULL);
        }
        Calixio__V1__RoomRef ref = CALIXIO__V1__ROOM_REF__INIT;
        ref.id = (char *)in->id;
        return _pack(&ref.base, out, out_len, err);
    }
    case GW_K_MSG:
        if ((s = _build_msg(rt, in, &m, err)) != CX_OK)
            return s;
        break;
    case GW_K_BODY:
        if ((s = _decode(rt->in, in, &m, err)) != CX_OK)
            return s;
        break;
    default:
        gw_answer_status(err, CX_ERR_INTERNAL, NULL);
        return CX_ERR_INTERNAL;
    }

    if (rt->flags & GW_F_COOKIE_IN) {
        char **tok = _str_slot(m, "refresh_token");
        if (tok && (!*tok || !**tok) && in->cookie_token && *in->cookie_token &&
            (s = _set_str(m, "refresh_token", in->cookie_token)) != CX_OK) {
            gw_answer_status(err, s, NULL);
            goto out_free_msg;
        }
    }
    s = _pack(m, out, out_len, err);
out_free_msg:
    protobuf_c_message_free_unpacked(m, NULL);
    return s;
}

/* --- replies ------------------------------------------------------------------ */

static const struct {
    int status;
    const char *code;
} _generic[] = {
    {400, "bad_request"},       {401, "invalid_auth"},           {403, "forbidden"},
    {404, "not_found"},         {405, "method_not_allowed"},     {409, "conflict"},
    {413, "payload_too_large"}, {415, "unsupported_media_type"}, {422, "unprocessable"},
    {429, "rate_limited"},      {502, "upstream_error"},         {503, "unavailable"},
    {504, "timeout"},
};

static const char *_generic_code(int status)
{
    for (size_t i = 0; i < sizeof(_generic) / sizeof(_generic[0]); i++)
        if (_generic[i].status == status)
            return _generic[i].code;
    return "internal";
}

static int _parse_status(const char *s)
{
    int v = 0, n = 0;
    for (; n < 4 && s[n]; n++) {
        if (s[n] < '0' || s[n] > '9')
            return 500;
        v = v * 10 + (s[n] - '0');
    }
    if (n == 0 || s[n] || v < 400 || v > 599)
        return 500;
    return v;
}

static void _error_answer(const char *err_code, const char *err_text, const uint8_t *data,
                          size_t len, gw_answer *a)
{
    int status = _parse_status(err_code);
    ProtobufCMessage *m = NULL;
    const Calixio__V1__Error *e = NULL;
    if (len && cx_pb_unpack(&calixio__v1__error__descriptor, data, len, &m) == CX_OK)
        e = (const Calixio__V1__Error *)m;
    const char *code = (e && e->code && *e->code) ? e->code : _generic_code(status);
    const char *msg = (e && e->message && *e->message) ? e->message
                      : (err_text && *err_text)        ? err_text
                                                : cx_status_message(cx_status_from_code(code));
    json_t *o = json_object();
    if (o) {
        json_object_set_new(o, "error", json_string(code));
        json_object_set_new(o, "message", json_string(msg));
        if (e && e->reason && *e->reason)
            json_object_set_new(o, "reason", json_string(e->reason));
        if (e && e->n_fields) {
            json_t *f = json_object();
            for (size_t i = 0; f && i < e->n_fields; i++) {
                const Calixio__V1__FieldViolation *v = e->fields[i];
                if (v && v->field && v->rule)
                    json_object_set_new(f, v->field, json_string(v->rule));
            }
            json_object_set_new(o, "fields", f);
        }
    }
    a->status = status;
    if (e && e->has_retry_after && e->retry_after > 0)
        a->retry_after = e->retry_after;
    _set_json(a, o);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
}

static char *_cookie(const char *token, long long max_age, bool have_age, bool secure)
{
    char buf[GW_COOKIE_MAX + 160];
    const char *site = secure ? "SameSite=None; Secure" : "SameSite=Lax";
    if (have_age)
        snprintf(buf, sizeof(buf), "refresh_token=%s; HttpOnly; Path=/; Max-Age=%lld; %s",
                 token, max_age, site);
    else
        snprintf(buf, sizeof(buf), "refresh_token=%s; HttpOnly; Path=/; %s", token, site);
    return strdup(buf);
}

char *gw_cookie_clear(bool secure)
{
    return _cookie("", 0, true, secure);
}

/* Moves refresh_token from the reply object into a Set-Cookie value. */
static bool _take_cookie(json_t *o, bool secure, gw_answer *a)
{
    json_t *t = json_object_get(o, "refresh_token");
    if (!t)
        return true;
    const char *tok = json_string_value(t);
    if (!tok || !gw_cookie_value_ok(tok))
        return false;
    json_t *ttl = json_object_get(o, "refresh_ttl");
    a->set_cookie = _cookie(tok, ttl ? (long long)json_integer_value(ttl) : 0,
                            json_is_integer(ttl), secure);
    json_object_del(o, "refresh_token");
    return a->set_cookie != NULL;
}

void gw_build_answer(const gw_route *rt, const char *err_code, const char *err_text,
                     const uint8_t *data, size_t len, bool secure, gw_answer *out)
{
    memset(out, 0, sizeof(*out));
    if (err_code) {
        _error_answer(err_code, err_text, data, len, out);
        return;
    }
    ProtobufCMessage *m = NULL;
    if (cx_pb_unpack(rt->out, data, len, &m) != CX_OK) {
        gw_answer_status(out, CX_ERR_UPSTREAM, "the service sent an unreadable reply");
        return;
    }
    if (rt->flags & GW_F_COOKIE_CLEAR) {
        out->status = rt->status;
        out->set_cookie = gw_cookie_clear(secure);
        goto out_free_msg;
    }
    if (rt->status == 204) { /* no body, whatever the reply carried */
        out->status = 204;
        goto out_free_msg;
    }
    if (!(rt->flags & (GW_F_COOKIE_SET | GW_F_WAITING_202)) && !rt->array_field) {
        /* the reply as it is: its JSON text written directly, no tree */
        out->status = rt->status;
        out->body = cx_json_encode(m, &out->len);
        if (!out->body)
            goto out_nomem;
        goto out_free_msg;
    }
    json_t *o = cx_json_encode_value(m);
    if (!o)
        goto out_nomem;
    if ((rt->flags & GW_F_COOKIE_SET) && !_take_cookie(o, secure, out)) {
        json_decref(o);
        gw_answer_status(out, CX_ERR_UPSTREAM, "the service sent an unusable refresh token");
        goto out_free_msg;
    }
    if (rt->array_field) {
        json_t *arr = json_object_get(o, rt->array_field);
        json_t *keep = arr ? json_incref(arr) : json_array();
        json_decref(o);
        o = keep;
    }
    out->status = rt->status;
    if (rt->flags & GW_F_WAITING_202) {
        const char *st = json_string_value(json_object_get(o, "status"));
        if (st && strcmp(st, "waiting") == 0)
            out->status = 202;
    }
    _set_json(out, o);
    if (!out->body)
        goto out_nomem;
    goto out_free_msg;

out_nomem:
    free(out->set_cookie);
    out->set_cookie = NULL;
    gw_answer_status(out, CX_ERR_NOMEM, NULL);
out_free_msg:
    protobuf_c_message_free_unpacked(m, NULL);
}
