/* evxlate: RoomEvent -> SSE frame, audience rules (see evxlate.h). */
#include "evxlate.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/events.pb-c.h"
#include "cx_json.h"

/* How the data of a type is built when the publisher sent no data_json. */
typedef enum gw_ev_shape {
    GW_EVS_JSON = 0,  /* data_json only (chat.*, waiting.*): nothing else known */
    GW_EVS_ROOM,      /* the Room after the change */
    GW_EVS_PRESENCE,  /* {identity, name, joined_at?} */
    GW_EVS_ROLE,      /* {identity, role?} */
    GW_EVS_WAITING,   /* from RoomEventWaiting: {id, name} / {id, reason?} / {id, status} */
    GW_EVS_MESSAGE,   /* the ChatMessage (the contract's Message) */
    GW_EVS_MESSAGE_ID /* {id} of the message */
} gw_ev_shape;

typedef struct gw_ev_def {
    const char *type;
    gw_ev_aud aud;
    gw_ev_shape shape;
    bool ends_all, ends_named;
    bool sets_role; /* the named participant's stream follows its new role */
} gw_ev_def;

/* API-ROOMS.md "Live events", one row per type. */
static const gw_ev_def defs[] = {
    {"chat.message", GW_EVA_MEMBERS, GW_EVS_MESSAGE, false, false, false},
    {"chat.message_updated", GW_EVA_MEMBERS, GW_EVS_MESSAGE, false, false, false},
    {"chat.message_deleted", GW_EVA_MEMBERS, GW_EVS_MESSAGE_ID, false, false, false},
    {"participant.joined", GW_EVA_MEMBERS, GW_EVS_PRESENCE, false, false, false},
    {"participant.left", GW_EVA_MEMBERS, GW_EVS_PRESENCE, false, false, false},
    {"participant.removed", GW_EVA_MEMBERS, GW_EVS_ROLE, false, true, false},
    {"participant.role_changed", GW_EVA_MEMBERS, GW_EVS_ROLE, false, false, true},
    {"room.updated", GW_EVA_MEMBERS, GW_EVS_ROOM, false, false, false},
    {"room.ended", GW_EVA_EVERYONE, GW_EVS_ROOM, true, false, false},
    {"waiting.requested", GW_EVA_STAFF, GW_EVS_WAITING, false, false, false},
    {"waiting.left", GW_EVA_STAFF, GW_EVS_WAITING, false, false, false},
    /* rooms sends the join answer in data_json; {id, status} only when its mint failed */
    {"waiting.approved", GW_EVA_OWN_WAITING, GW_EVS_WAITING, false, false, false},
    {"waiting.rejected", GW_EVA_OWN_WAITING, GW_EVS_WAITING, false, false, false},
};

static const gw_ev_def *_def(const char *type)
{
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
        if (type && strcmp(defs[i].type, type) == 0)
            return &defs[i];
    return NULL;
}

static void _set_str(json_t *o, const char *k, const char *v)
{
    if (v && v[0])
        json_object_set_new(o, k, json_string(v));
}

/* The data object of e for shape sh (new reference, NULL: none/no memory). */
static json_t *_data(const Calixio__V1__RoomEvent *e, gw_ev_shape sh)
{
    if (e->data_json && e->data_json[0]) {
        json_error_t err;
        json_t *d = json_loads(e->data_json, JSON_REJECT_DUPLICATES, &err);
        if (d && (json_is_object(d) || json_is_array(d)))
            return d;
        json_decref(d);
        return NULL;
    }
    const Calixio__V1__RoomEventParticipant *p = e->participant;
    json_t *o = NULL;
    switch (sh) {
    case GW_EVS_ROOM:
        return e->room ? cx_json_encode_value(&e->room->base) : NULL;
    case GW_EVS_PRESENCE:
        if (!p || !p->identity)
            return NULL;
        o = json_object();
        _set_str(o, "identity", p->identity);
        json_object_set_new(o, "name", json_string(p->name ? p->name : ""));
        if (strcmp(e->type, "participant.joined") == 0)
            _set_str(o, "joined_at", e->at);
        return o;
    case GW_EVS_ROLE:
        if (!p || !p->identity)
            return NULL;
        o = json_object();
        _set_str(o, "identity", p->identity);
        _set_str(o, "role", p->role);
        return o;
    case GW_EVS_WAITING:
        if (!e->waiting || !e->waiting->id)
            return NULL;
        o = json_object();
        _set_str(o, "id", e->waiting->id);
        if (strcmp(e->type, "waiting.rejected") == 0)
            _set_str(o, "reason", e->waiting->reason);
        else if (strcmp(e->type, "waiting.approved") == 0)
            json_object_set_new(o, "status", json_string("approved"));
        else
            json_object_set_new(o, "name",
                                json_string(e->waiting->name ? e->waiting->name : ""));
        return o;
    case GW_EVS_MESSAGE:
        return e->message ? cx_json_encode_value(&e->message->base) : NULL;
    case GW_EVS_MESSAGE_ID:
        if (!e->message || !e->message->id)
            return NULL;
        o = json_object();
        _set_str(o, "id", e->message->id);
        return o;
    case GW_EVS_JSON:
        break;
    }
    return NULL;
}

cx_status gw_ev_translate(const uint8_t *pb, size_t len, uint64_t seq, gw_ev *out)
{
    memset(out, 0, sizeof(*out));
    Calixio__V1__RoomEvent *e = calixio__v1__room_event__unpack(NULL, len, pb);
    if (!e)
        return CX_ERR_BAD_REQUEST;
    cx_status s = CX_ERR_NOT_FOUND;
    const gw_ev_def *d = _def(e->type);
    json_t *data = d ? _data(e, d->shape) : NULL;
    char *txt = data ? json_dumps(data, JSON_COMPACT) : NULL;
    if (!d || !data)
        goto out;
    s = CX_ERR_NOMEM;
    if (!txt)
        goto out;
    snprintf(out->type, sizeof(out->type), "%s", d->type);
    out->aud = d->aud;
    out->ends_all = d->ends_all;
    out->ends_named = d->ends_named;
    if (e->participant && e->participant->identity)
        snprintf(out->identity, sizeof(out->identity), "%s", e->participant->identity);
    out->sets_role = d->sets_role && out->identity[0] && e->participant &&
                     gw_ev_role_parse(e->participant->role, &out->role);
    const char *wid = e->waiting_id ? e->waiting_id : e->waiting ? e->waiting->id : NULL;
    if (wid)
        snprintf(out->waiting_id, sizeof(out->waiting_id), "%s", wid);
    size_t cap = strlen(txt) + strlen(d->type) + 64;
    out->frame = malloc(cap);
    if (!out->frame)
        goto out;
    int n = snprintf(out->frame, cap, "id: %llu\nevent: %s\ndata: %s\n\n",
                     (unsigned long long)seq, d->type, txt);
    out->frame_len = n > 0 ? (size_t)n : 0;
    s = CX_OK;
out:
    free(txt);
    json_decref(data);
    calixio__v1__room_event__free_unpacked(e, NULL);
    return s;
}

void gw_ev_clear(gw_ev *ev)
{
    free(ev->frame);
    memset(ev, 0, sizeof(*ev));
}

bool gw_ev_visible(const gw_ev *ev, const gw_ev_caller *c)
{
    switch (ev->aud) {
    case GW_EVA_EVERYONE:
        return true;
    case GW_EVA_MEMBERS:
        return c->role != GW_EVR_WAITING;
    case GW_EVA_STAFF:
        return c->role == GW_EVR_HOST || c->role == GW_EVR_MODERATOR;
    case GW_EVA_OWN_WAITING:
        return c->role == GW_EVR_WAITING && c->waiting_id[0] &&
               strcmp(c->waiting_id, ev->waiting_id) == 0;
    }
    return false;
}

bool gw_ev_apply_role(const gw_ev *ev, gw_ev_caller *c)
{
    if (!ev->sets_role || c->role == GW_EVR_WAITING || !c->identity[0] ||
        strcmp(c->identity, ev->identity) != 0)
        return false;
    c->role = ev->role;
    return true;
}

bool gw_ev_closes(const gw_ev *ev, const gw_ev_caller *c)
{
    if (ev->ends_all)
        return true;
    return ev->ends_named && c->identity[0] && strcmp(c->identity, ev->identity) == 0;
}

static const struct {
    const char *name;
    gw_ev_role role;
} roles[] = {
    {"host", GW_EVR_HOST},
    {"moderator", GW_EVR_MODERATOR},
    {"participant", GW_EVR_PARTICIPANT},
    {"guest", GW_EVR_PARTICIPANT},
};

bool gw_ev_role_parse(const char *role, gw_ev_role *out)
{
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
        if (role && strcmp(roles[i].name, role) == 0) {
            *out = roles[i].role;
            return true;
        }
    return false;
}
