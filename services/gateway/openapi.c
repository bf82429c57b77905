/* openapi: OpenAPI 3.0.3 from gw_routes + protobuf descriptors. */
#include "openapi.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx_status.h"
#include "routes.h"

#define GW_REF_PREFIX "#/components/schemas/"

static json_t *_ref(const char *name)
{
    char buf[160];
    snprintf(buf, sizeof(buf), GW_REF_PREFIX "%s", name);
    return json_pack("{s:s}", "$ref", buf);
}

static void _add_schema(json_t *schemas, const ProtobufCMessageDescriptor *d, const char *name,
                        const char *skip_field);

/* True when pattern has the path parameter {name}. */
static bool _in_path(const char *pattern, const char *name)
{
    char buf[80];
    snprintf(buf, sizeof(buf), "{%s}", name);
    return strstr(pattern, buf) != NULL;
}

static json_t *_scalar(const ProtobufCFieldDescriptor *f, json_t *schemas)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_pack("{s:s,s:s}", "type", "integer", "format", "int32");
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return json_pack("{s:s,s:s}", "type", "integer", "format", "int64");
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_pack("{s:s}", "type", "number");
    case PROTOBUF_C_TYPE_BOOL:
        return json_pack("{s:s}", "type", "boolean");
    case PROTOBUF_C_TYPE_BYTES:
        return json_pack("{s:s,s:s}", "type", "string", "format", "byte");
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *e = f->descriptor;
        json_t *vals = json_array();
        for (unsigned i = 0; e && i < e->n_values; i++)
            json_array_append_new(vals, json_string(e->values[i].name));
        return json_pack("{s:s,s:o}", "type", "string", "enum", vals);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessageDescriptor *m = f->descriptor;
        _add_schema(schemas, m, m->short_name, NULL);
        return _ref(m->short_name);
    }
    default:
        return json_pack("{s:s}", "type", "string");
    }
}

/* Adds components.schemas[name] for d unless present; skip_field is left
 * out, and so is every field named as {param} when skip_field is a pattern
 * (starts with '/'). */
static void _add_schema(json_t *schemas, const ProtobufCMessageDescriptor *d, const char *name,
                        const char *skip_field)
{
    if (json_object_get(schemas, name))
        return;
    json_t *props = json_object();
    json_t *s = json_pack("{s:s,s:o,s:b}", "type", "object", "properties", props,
                          "additionalProperties", 0);
    json_object_set_new(schemas, name, s); /* before recursing: cycles end here */
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (skip_field && strcmp(f->name, skip_field) == 0)
            continue;
        if (skip_field && skip_field[0] == '/' && _in_path(skip_field, f->name))
            continue;
        json_t *v = _scalar(f, schemas);
        if (f->label == PROTOBUF_C_LABEL_REPEATED)
            v = json_pack("{s:s,s:o}", "type", "array", "items", v);
        json_object_set_new(props, f->name, v);
    }
}

static json_t *_json_content(json_t *schema)
{
    return json_pack("{s:{s:o}}", "application/json", "schema", schema);
}

static json_t *_error_response(int status)
{
    char desc[64];
    const char *what = status == 429 ? "rate limited (Retry-After)" : "error";
    snprintf(desc, sizeof(desc), "%d %s", status, what);
    return json_pack("{s:s,s:o}", "description", desc, "content", _json_content(_ref("Error")));
}

/* Success response schema of an API route. */
static json_t *_success_schema(const gw_route *rt, json_t *schemas)
{
    if (rt->array_field) {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
            rt->out, rt->array_field);
        const ProtobufCMessageDescriptor *item = f ? f->descriptor : NULL;
        if (!item)
            return json_pack("{s:s}", "type", "array");
        _add_schema(schemas, item, item->short_name, NULL);
        return json_pack("{s:s,s:o}", "type", "array", "items", _ref(item->short_name));
    }
    const char *skip = (rt->flags & GW_F_COOKIE_SET) ? "refresh_token" : NULL;
    _add_schema(schemas, rt->out, rt->out->short_name, skip);
    return _ref(rt->out->short_name);
}

/* The schema of one path parameter. */
static json_t *_param_schema(const gw_param_def *def)
{
    switch (def->type) {
    case GW_P_UUID:
        return json_pack("{s:s,s:s}", "type", "string", "format", "uuid");
    case GW_P_CODE:
        return json_pack("{s:s,s:s}", "type", "string", "pattern", "^[A-Za-z-]{10,20}$");
    case GW_P_IDENTITY:
        return json_pack("{s:s,s:s}", "type", "string", "pattern", "^[A-Za-z0-9_-]{1,64}$");
    default:
        return json_pack("{s:s,s:s}", "type", "string", "pattern", "^[A-Za-z0-9_-]{1,256}$");
    }
}

static json_t *_params(const gw_route *rt)
{
    json_t *ps = json_array();
    for (const char *p = strchr(rt->pattern, '{'); p; p = strchr(p + 1, '{')) {
        const char *close = strchr(p, '}');
        const gw_param_def *def = close ? gw_param_find(p + 1, (size_t)(close - p - 1)) : NULL;
        if (!def)
            continue;
        json_t *one = json_pack("{s:s,s:s,s:b,s:o}", "name", def->name, "in", "path",
                                "required", 1, "schema", _param_schema(def));
        if (strcmp(def->name, "id") != 0) {
            char desc[200];
            snprintf(desc, sizeof(desc), "%s; malformed: %d %s", def->doc,
                     cx_status_http(def->not_found), cx_status_code(def->not_found));
            json_object_set_new(one, "description", json_string(desc));
        }
        json_array_append_new(ps, one);
    }
    if (rt->kind == GW_K_MSG && strcmp(rt->method, "GET") == 0) {
        for (unsigned i = 0; i < rt->in->n_fields; i++) {
            const ProtobufCFieldDescriptor *f = &rt->in->fields[i];
            if (_in_path(rt->pattern, f->name) || f->label == PROTOBUF_C_LABEL_REPEATED ||
                f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_BYTES)
                continue;
            json_array_append_new(ps, json_pack("{s:s,s:s,s:o}", "name", f->name, "in", "query",
                                                "schema", _scalar(f, NULL)));
        }
    }
    if (rt->kind == GW_K_LIST) {
        json_array_append_new(ps,
                              json_pack("{s:s,s:s,s:{s:s,s:s}}", "name", "limit", "in", "query",
                                        "schema", "type", "integer", "format", "int32"));
        json_array_append_new(ps, json_pack("{s:s,s:s,s:{s:s,s:s}}", "name", "offset", "in",
                                            "query", "schema", "type", "integer", "format",
                                            "int32"));
        json_array_append_new(ps, json_pack("{s:s,s:s,s:{s:s,s:[sss]}}", "name", "status", "in",
                                            "query", "schema", "type", "string", "enum",
                                            "pending", "active", "ended"));
    }
    return ps;
}

static json_t *_request_body(const gw_route *rt, json_t *schemas)
{
    switch (rt->kind) {
    case GW_K_BODY:
        _add_schema(schemas, rt->in, rt->in->short_name, NULL);
        return json_pack("{s:b,s:o}", "required", 0, "content",
                         _json_content(_ref(rt->in->short_name)));
    case GW_K_MSG:
        if (strcmp(rt->method, "GET") == 0)
            return NULL;
        _add_schema(schemas, rt->in, rt->in->short_name, rt->pattern);
        return json_pack("{s:b,s:o}", "required", 0, "content",
                         _json_content(_ref(rt->in->short_name)));
    case GW_K_ROOM_REF:
        if (strcmp(rt->method, "POST") != 0)
            return NULL;
        return json_pack(
            "{s:b,s:o}", "required", 0, "content",
            _json_content(json_pack("{s:s,s:b}", "type", "object", "additionalProperties", 0)));
    case GW_K_WEBHOOK:
        return json_pack("{s:b,s:{s:{s:{s:s}},s:{s:{s:s}}}}", "required", 1, "content",
                         "application/webhook+json", "schema", "type", "object",
                         "application/json", "schema", "type", "object");
    default:
        return NULL;
    }
}

static json_t *_local_responses(const gw_route *rt)
{
    switch (rt->kind) {
    case GW_K_METRICS:
        return json_pack("{s:{s:s,s:{s:{s:{s:s}}}}}", "200", "description",
                         "Prometheus text format", "content", "text/plain", "schema", "type",
                         "string");
    case GW_K_OPENAPI:
        return json_pack("{s:{s:s,s:o}}", "200", "description", "OpenAPI document", "content",
                         _json_content(json_pack("{s:s}", "type", "object")));
    case GW_K_EVENTS:
        return json_pack(
            "{s:{s:s,s:{s:{s:{s:s}}}}}", "200", "description",
            "Server-Sent Events: id (stream sequence), event, data (one JSON line)", "content",
            "text/event-stream", "schema", "type", "string");
    case GW_K_READY:
        return json_pack("{s:{s:s,s:o},s:{s:s,s:o}}", "200", "description", "ready", "content",
                         _json_content(_ref("Status")), "503", "description",
                         "not ready: not_ready names what is missing", "content",
                         _json_content(_ref("Status")));
    default:
        return json_pack("{s:{s:s,s:o}}", "200", "description", "alive", "content",
                         _json_content(_ref("Status")));
    }
}

static json_t *_responses(const gw_route *rt, json_t *schemas)
{
    if (!rt->subject)
        return _local_responses(rt);
    json_t *rs = json_object();
    char code[8];
    snprintf(code, sizeof(code), "%d", rt->status);
    json_t *ok = json_pack("{s:s}", "description", "success");
    if (rt->status != 204)
        json_object_set_new(ok, "content", _json_content(_success_schema(rt, schemas)));
    if (rt->flags & (GW_F_COOKIE_SET | GW_F_COOKIE_CLEAR))
        json_object_set_new(ok, "headers",
                            json_pack("{s:{s:s,s:{s:s}}}", "Set-Cookie", "description",
                                      "refresh_token=...; HttpOnly; Path=/; Max-Age=...; "
                                      "SameSite=Lax (SameSite=None; Secure behind TLS)",
                                      "schema", "type", "string"));
    json_object_set_new(rs, code, ok);
    /* documented errors of the route, then what any proxied route may answer */
    char list[96];
    snprintf(list, sizeof(list), "%s 413 429 503 504", rt->errors ? rt->errors : "");
    char *save = NULL;
    for (char *tok = strtok_r(list, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
        if (!json_object_get(rs, tok))
            json_object_set_new(rs, tok, _error_response(atoi(tok)));
    return rs;
}

static void _op_id(const gw_route *rt, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = rt->method; *p && n + 1 < cap; p++)
        out[n++] = (char)tolower((unsigned char)*p);
    for (const char *p = rt->pattern; *p && n + 1 < cap; p++)
        if (isalnum((unsigned char)*p))
            out[n++] = *p;
        else if (*p == '/' || *p == '{')
            out[n++] = '_';
    out[n] = '\0';
}

static void _add_op(json_t *paths, json_t *schemas, const gw_route *rt)
{
    json_t *item = json_object_get(paths, rt->pattern);
    if (!item) {
        item = json_object();
        json_object_set_new(paths, rt->pattern, item);
    }
    char opid[96], method[8];
    _op_id(rt, opid, sizeof(opid));
    snprintf(method, sizeof(method), "%s", rt->method);
    for (char *p = method; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    json_t *op = json_pack("{s:s,s:s}", "operationId", opid, "summary", rt->summary);
    if (rt->subject)
        json_object_set_new(op, "x-nats-subject", json_string(rt->subject));
    if (rt->kind == GW_K_LIST)
        json_object_set_new(op, "description",
                            json_string("Unknown query parameters are ignored. A limit or "
                                        "offset that is not a decimal 32-bit integer is 400 "
                                        "validation_failed with reason <name>_integer and "
                                        "fields {\"<name>\": \"integer\"}; ranges are "
                                        "checked by the rooms service."));
    if (strstr(rt->pattern, "{id}"))
        json_object_set_new(op, "x-id-validation",
                            json_string("an id that is not a UUID is 404 room_not_found "
                                        "before any NATS traffic"));
    json_t *params = _params(rt);
    if (json_array_size(params))
        json_object_set_new(op, "parameters", params);
    else
        json_decref(params);
    json_t *body = _request_body(rt, schemas);
    if (body)
        json_object_set_new(op, "requestBody", body);
    if (rt->flags & GW_F_BEARER)
        json_object_set_new(op, "security", json_pack("[{s:[]}]", "bearerAuth"));
    else if (rt->flags & GW_F_BEARER_OPT)
        json_object_set_new(op, "security", json_pack("[{},{s:[]}]", "bearerAuth"));
    json_object_set_new(op, "responses", _responses(rt, schemas));
    json_object_set_new(item, method, op);
}

char *gw_openapi_build(size_t *len)
{
    json_t *schemas = json_object();
    json_object_set_new(schemas, "Error",
                        json_pack("{s:s,s:[s],s:{s:{s:s},s:{s:s},s:{s:s},s:{s:s,s:{s:s}}}}",
                                  "type", "object", "required", "error", "properties", "error",
                                  "type", "string", "message", "type", "string", "reason",
                                  "type", "string", "fields", "type", "object",
                                  "additionalProperties", "type", "string"));
    json_object_set_new(schemas, "Status",
                        json_pack("{s:s,s:{s:{s:s},s:{s:s,s:{s:s}}}}", "type", "object",
                                  "properties", "status", "type", "string", "not_ready", "type",
                                  "array", "items", "type", "string"));
    json_t *paths = json_object();
    for (int i = 0; i < gw_n_routes; i++)
        _add_op(paths, schemas, &gw_routes[i]);
    json_t *doc = json_pack(
        "{s:s,s:{s:s,s:s,s:s},s:[{s:s},{s:s},{s:s}],s:o,s:{s:o,s:{s:{s:s,s:s,s:s}}}}",
        "openapi", "3.0.3", "info", "title", "Calixio API", "version", "1.0.0", "description",
        "Every path is also served under /api and /api/v1. Errors are "
        "{error, message[, reason, fields]}; every answer carries X-Request-Id. Behind "
        "TRUST_PROXY=true the client address is the right-most valid X-Forwarded-For entry.",
        "servers", "url", "/", "url", "/api", "url", "/api/v1", "paths", paths, "components",
        "schemas", schemas, "securitySchemes", "bearerAuth", "type", "http", "scheme", "bearer",
        "bearerFormat", "JWT");
    if (!doc)
        return NULL;
    char *txt = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (txt)
        *len = strlen(txt);
    return txt;
}
