/* event.c: LiveKit WebhookEvent (proto3 JSON) -> wh_event.
 *
 * LiveKit marshals with Go protojson: lowerCamelCase names, int64 as
 * strings, enums as names, default values omitted. proto3 JSON parsers must
 * also accept the proto (snake_case) names, int64 as numbers and enums as
 * numbers; unknown fields are ignored. Pure functions (no I/O). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "webhook.h"

/* Latest time accepted (9999-12-31T23:59:59Z); Postgres' to_timestamp and
 * our formatting stay well inside it. */
#define WH_MAX_UNIX 253402300799LL

typedef struct _perr {
    char *buf;
    size_t cap;
} _perr;

static cx_status _fail(_perr *e, const char *field, const char *what)
{
    if (e->buf && e->cap)
        snprintf(e->buf, e->cap, "field \"%s\": %s", field, what);
    return CX_ERR_INVALID_JSON;
}

/* Member `camel` or, failing that, `snake` (NULL for none); JSON null is
 * treated as absent, as proto3 JSON says. */
static json_t *_member(json_t *obj, const char *camel, const char *snake)
{
    json_t *v = json_object_get(obj, camel);
    if (!v && snake)
        v = json_object_get(obj, snake);
    return (v && json_is_null(v)) ? NULL : v;
}

/* Optional sub-message: absent -> *out NULL; not an object -> error. */
static cx_status _object(json_t *obj, const char *name, json_t **out, _perr *e)
{
    json_t *v = obj ? _member(obj, name, NULL) : NULL;
    if (v && !json_is_object(v))
        return _fail(e, name, "expected object");
    *out = v;
    return CX_OK;
}

/* Optional string of at most max bytes; absent -> "". */
static cx_status _string(json_t *obj, const char *camel, const char *snake, size_t max,
                         const char **out, _perr *e)
{
    json_t *v = obj ? _member(obj, camel, snake) : NULL;
    *out = "";
    if (!v)
        return CX_OK;
    if (!json_is_string(v))
        return _fail(e, camel, "expected string");
    if (json_string_length(v) > max)
        return _fail(e, camel, "too long");
    *out = json_string_value(v);
    return CX_OK;
}

/* Decimal string (proto3 JSON int64) with optional sign, whole string. */
static bool _parse_decimal(const char *s, int64_t *out)
{
    const char *p = s;
    if (*p == '-')
        p++;
    if (!*p || strlen(p) > 19)
        return false;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q))
            return false;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno || !end || *end)
        return false;
    *out = v;
    return true;
}

/* Optional unix time in seconds (int64: string or number); absent -> 0 and
 * *has false. Negative or beyond year 9999 is an error. */
static cx_status _time(json_t *obj, const char *camel, const char *snake, int64_t *out,
                       bool *has, _perr *e)
{
    json_t *v = obj ? _member(obj, camel, snake) : NULL;
    int64_t t = 0;
    *out = 0;
    if (has)
        *has = false;
    if (!v)
        return CX_OK;
    if (json_is_integer(v)) {
        t = json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || d != floor(d) || d < 0 || d > (double)WH_MAX_UNIX)
            return _fail(e, camel, "expected integer");
        t = (int64_t)d;
    } else if (json_is_string(v)) {
        if (!_parse_decimal(json_string_value(v), &t))
            return _fail(e, camel, "expected integer");
    } else {
        return _fail(e, camel, "expected integer");
    }
    if (t < 0 || t > WH_MAX_UNIX)
        return _fail(e, camel, "out of range");
    *out = t;
    if (has)
        *has = true;
    return CX_OK;
}

/* ParticipantInfo.Kind as a lowercase name (token style). Accepts the enum
 * name in either case or its number; unknown names/numbers are kept as
 * "other" so a new kind never breaks parsing. */
static cx_status _kind(json_t *p, const char **out, _perr *e)
{
    static const struct {
        int no;
        const char *name;
    } kinds[] = {
        {0, "standard"}, {1, "ingress"},   {2, "egress"}, {3, "sip"},
        {4, "agent"},    {7, "connector"}, {8, "bridge"},
    };
    json_t *v = p ? _member(p, "kind", NULL) : NULL;
    *out = "standard";
    if (!v)
        return CX_OK;
    if (json_is_integer(v)) {
        json_int_t no = json_integer_value(v);
        *out = "other";
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            if (kinds[i].no == no)
                *out = kinds[i].name;
        return CX_OK;
    }
    if (!json_is_string(v))
        return _fail(e, "kind", "expected enum");
    const char *s = json_string_value(v);
    *out = "other";
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcasecmp(s, kinds[i].name) == 0)
            *out = kinds[i].name;
    return CX_OK;
}

/* An enum field kept as its name; a number is mapped through names[]
 * (default names[0] when absent, as Go protojson omits the zero value). */
static cx_status _enum(json_t *obj, const char *field, const char *const *names, size_t n,
                       const char **out, _perr *e)
{
    json_t *v = obj ? _member(obj, field, NULL) : NULL;
    *out = obj ? names[0] : "";
    if (!v)
        return CX_OK;
    if (json_is_integer(v)) {
        json_int_t no = json_integer_value(v);
        *out = (no >= 0 && (size_t)no < n) ? names[no] : "UNKNOWN";
        return CX_OK;
    }
    if (!json_is_string(v))
        return _fail(e, field, "expected enum");
    if (json_string_length(v) > 64)
        return _fail(e, field, "too long");
    *out = json_string_value(v);
    return CX_OK;
}

static wh_type _type_of(const char *ev)
{
    static const struct {
        const char *name;
        wh_type t;
    } map[] = {
        {"room_started", WH_EV_ROOM_STARTED},
        {"room_finished", WH_EV_ROOM_FINISHED},
        {"participant_joined", WH_EV_PARTICIPANT_JOINED},
        {"participant_left", WH_EV_PARTICIPANT_LEFT},
        {"track_published", WH_EV_TRACK_PUBLISHED},
        {"track_unpublished", WH_EV_TRACK_UNPUBLISHED},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(ev, map[i].name) == 0)
            return map[i].t;
    return WH_EV_OTHER;
}

static cx_status _fields(wh_event *ev, _perr *e)
{
    static const char *const states[] = {"JOINING", "JOINED", "ACTIVE", "DISCONNECTED"};
    static const char *const ttypes[] = {"AUDIO", "VIDEO", "DATA"};
    json_t *room = NULL, *part = NULL, *track = NULL;
    cx_status s = _string(ev->root, "event", NULL, WH_MAX_EVENT, &ev->event, e);
    if (s == CX_OK && !ev->event[0])
        s = _fail(e, "event", "required");
    if (s == CX_OK)
        s = _string(ev->root, "id", NULL, WH_MAX_ID, &ev->id, e);
    if (s == CX_OK)
        s = _time(ev->root, "createdAt", "created_at", &ev->created_at, &ev->has_created_at, e);
    if (s == CX_OK)
        s = _object(ev->root, "room", &room, e);
    if (s == CX_OK)
        s = _object(ev->root, "participant", &part, e);
    if (s == CX_OK)
        s = _object(ev->root, "track", &track, e);
    if (s == CX_OK)
        s = _string(room, "name", NULL, WH_MAX_ROOM, &ev->room_name, e);
    if (s == CX_OK)
        s = _string(room, "sid", NULL, WH_MAX_ID, &ev->room_sid, e);
    if (s == CX_OK)
        s = _string(part, "sid", NULL, WH_MAX_ID, &ev->p_sid, e);
    if (s == CX_OK)
        s = _string(part, "identity", NULL, WH_MAX_IDENTITY, &ev->p_identity, e);
    if (s == CX_OK)
        s = _string(part, "name", NULL, WH_MAX_NAME, &ev->p_name, e);
    if (s == CX_OK)
        s = _time(part, "joinedAt", "joined_at", &ev->p_joined_at, NULL, e);
    if (s == CX_OK)
        s = _kind(part, &ev->p_kind, e);
    if (s == CX_OK)
        s = _enum(part, "state", states, 4, &ev->p_state, e);
    if (s == CX_OK)
        s = _string(track, "sid", NULL, WH_MAX_ID, &ev->track_sid, e);
    if (s == CX_OK)
        s = _enum(track, "type", ttypes, 3, &ev->track_type, e);
    return s;
}

cx_status wh_event_parse(const uint8_t *body, size_t len, wh_event *out, char *err,
                         size_t errlen)
{
    _perr e = {err, errlen};
    json_error_t jerr;
    wh_event ev = {0};

    if (err && errlen)
        err[0] = '\0';
    if (len > WH_MAX_BODY)
        return CX_ERR_PAYLOAD_TOO_LARGE;
    /* JSON_REJECT_DUPLICATES: an ambiguous event is not one we act on. */
    ev.root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!ev.root) {
        if (err && errlen)
            snprintf(err, errlen, "malformed JSON: %s", jerr.text);
        return CX_ERR_INVALID_JSON;
    }
    if (!json_is_object(ev.root)) {
        json_decref(ev.root);
        if (err && errlen)
            snprintf(err, errlen, "event must be a JSON object");
        return CX_ERR_INVALID_JSON;
    }
    cx_status s = _fields(&ev, &e);
    if (s != CX_OK) {
        json_decref(ev.root);
        return s;
    }
    ev.type = _type_of(ev.event);
    *out = ev;
    return CX_OK;
}

void wh_event_free(wh_event *ev)
{
    if (!ev)
        return;
    json_decref(ev->root);
    memset(ev, 0, sizeof *ev);
}

bool wh_event_is_recorder(const wh_event *ev)
{
    return strcmp(ev->p_kind, "egress") == 0 || strncmp(ev->p_identity, "EG_", 3) == 0;
}

char *wh_subject_token(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    if (!cap)
        return out;
    for (; s && s[n] && n + 1 < cap; n++) {
        unsigned char c = (unsigned char)s[n];
        out[n] = (c <= 0x20 || c >= 0x7f || c == '.' || c == '*' || c == '>') ? '_' : (char)c;
    }
    if (n == 0 && cap > 1)
        out[n++] = '_';
    out[n] = '\0';
    return out;
}
