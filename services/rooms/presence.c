/* presence.c: who is in a room right now.
 *
 * The webhook daemon keeps a Redis hash per LiveKit room,
 *   cx:presence:{<livekit_room>}  field = identity,
 *   value = {"identity","name","sid","joined_at" (unix s),"kind","ts"},
 * beside the room's other keys (cx_roomkeys.h), all in one cluster slot.
 * With LiveKit configured its ListParticipants answer decides who is present
 * (hidden and egress participants are not people in the room); Redis fills in
 * what LiveKit leaves empty and is the answer when LiveKit is unreachable. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cx_json.h"
#include "cx_log.h"
#include "cx_roomkeys.h"
#include "cx_time.h"
#include "rooms.h"

#define PRESENCE_MAX 2000

typedef struct _entry {
    char *identity, *name, *sid;
    int64_t joined_at;
    bool audio, video, screen_share; /* issue 17: from LiveKit's tracks */
} _entry;

typedef struct _list {
    _entry *v;
    size_t n, cap;
} _list;

static void _list_free(_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].identity);
        free(l->v[i].name);
        free(l->v[i].sid);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

static cx_status _list_add(_list *l, const char *identity, const char *name, const char *sid,
                           int64_t joined_at)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        _entry *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return CX_ERR_NOMEM;
        l->v = v;
        l->cap = cap;
    }
    _entry *e = &l->v[l->n];
    e->identity = strdup(identity);
    e->name = strdup(name ? name : "");
    e->sid = strdup(sid ? sid : "");
    e->joined_at = joined_at;
    e->audio = e->video = e->screen_share = false;
    if (!e->identity || !e->name || !e->sid) {
        free(e->identity);
        free(e->name);
        free(e->sid);
        return CX_ERR_NOMEM;
    }
    l->n++;
    return CX_OK;
}

static const _entry *_find(const _list *l, const char *identity)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].identity, identity) == 0)
            return &l->v[i];
    return NULL;
}

/* Reads the Redis presence hash into l (entries of kind egress skipped). */
static cx_status _from_redis(rooms_ctx *ctx, const char *lk_room, const char *rid, _list *l)
{
    char key[CX_ROOMKEY_MAX(256)];
    redisReply *r = NULL;
    if (!cx_roomkey(key, sizeof key, CX_RK_PRESENCE, lk_room))
        return CX_OK; /* not a name the webhook keys presence for */
    cx_status s = cx_redis_cmd(ctx->redis, &r, "HGETALL %s", key);
    if (s != CX_OK)
        return s;
    if (r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return CX_OK;
    }
    for (size_t i = 0; i + 1 < r->elements && l->n < PRESENCE_MAX; i += 2) {
        const redisReply *v = r->element[i + 1];
        if (v->type != REDIS_REPLY_STRING)
            continue;
        json_t *o = json_loadb(v->str, v->len, 0, NULL);
        const char *identity = json_string_value(json_object_get(o, "identity"));
        const char *kind = json_string_value(json_object_get(o, "kind"));
        if (!identity && r->element[i]->type == REDIS_REPLY_STRING)
            identity = r->element[i]->str;
        if (!json_is_object(o) || !identity || (kind && strcasecmp(kind, "egress") == 0)) {
            if (!json_is_object(o))
                cx_log_warn(rid, "presence %s: a value that is not a JSON object", key);
            json_decref(o);
            continue;
        }
        s = _list_add(l, identity, json_string_value(json_object_get(o, "name")),
                      json_string_value(json_object_get(o, "sid")),
                      cx_lk_int(json_object_get(o, "joined_at")));
        json_decref(o);
        if (s != CX_OK)
            break;
    }
    freeReplyObject(r);
    return s;
}

/* LiveKit's list, with Redis filling empty names/times. */
static cx_status _from_livekit(rooms_ctx *ctx, const char *lk_room, const _list *redis,
                               const char *rid, _list *l)
{
    cx_lk_participant *p = NULL;
    size_t n = 0;
    cx_status s = cx_livekit_list_participants(ctx->lk, lk_room, &p, &n, rid);
    if (s != CX_OK)
        return s;
    for (size_t i = 0; i < n && s == CX_OK && l->n < PRESENCE_MAX; i++) {
        if (p[i].hidden || p[i].egress)
            continue;
        const _entry *e = _find(redis, p[i].identity);
        const char *name = p[i].name[0] || !e ? p[i].name : e->name;
        int64_t joined = p[i].joined_at || !e ? p[i].joined_at : e->joined_at;
        s = _list_add(l, p[i].identity, name, p[i].sid, joined);
        if (s == CX_OK) {
            l->v[l->n - 1].audio = p[i].audio;
            l->v[l->n - 1].video = p[i].video;
            l->v[l->n - 1].screen_share = p[i].screen_share;
        }
    }
    cx_lk_participants_free(p, n);
    return s;
}

static int _by_joined(const void *a, const void *b)
{
    const _entry *x = a, *y = b;
    if (x->joined_at != y->joined_at)
        return x->joined_at < y->joined_at ? -1 : 1;
    return strcmp(x->identity, y->identity);
}

/* The role of a present identity (issue 17): the owner is host, a role
 * given in the room (room_roles) wins, guests are "guest-..." identities. */
static const char *_role(const rooms_row *room, const rooms_roles *rr, const char *identity)
{
    if (strcmp(identity, room->owner_user_id) == 0)
        return "host";
    const char *given = rooms_roles_find(rr, identity);
    if (given)
        return given;
    return strncmp(identity, "guest-", 6) == 0 ? "guest" : "participant";
}

static cx_status _reply(_list *l, const rooms_row *room, const rooms_roles *rr,
                        Calixio__V1__ParticipantsReply **out)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof *l->v, _by_joined);
    Calixio__V1__ParticipantsReply *m = malloc(sizeof *m);
    if (!m)
        return CX_ERR_NOMEM;
    calixio__v1__participants_reply__init(m);
    m->participants = calloc(l->n ? l->n : 1, sizeof *m->participants);
    if (!m->participants)
        goto out_free;
    for (size_t i = 0; i < l->n; i++) {
        char ts[21];
        Calixio__V1__Participant *p = malloc(sizeof *p);
        if (!p)
            goto out_free;
        calixio__v1__participant__init(p);
        m->participants[m->n_participants++] = p;
        cx_time_rfc3339(l->v[i].joined_at, ts);
        p->identity = cx_strdup(l->v[i].identity);
        p->name = cx_strdup(l->v[i].name);
        p->sid = cx_strdup(l->v[i].sid);
        p->joined_at = cx_strdup(ts);
        p->role = cx_strdup(_role(room, rr, l->v[i].identity));
        p->has_audio = p->has_video = p->has_screen_share = 1;
        p->audio = l->v[i].audio;
        p->video = l->v[i].video;
        p->screen_share = l->v[i].screen_share;
        if (!p->identity || !p->name || !p->sid || !p->joined_at || !p->role)
            goto out_free;
    }
    *out = m;
    return CX_OK;
out_free:
    protobuf_c_message_free_unpacked(&m->base, NULL);
    return CX_ERR_NOMEM;
}

cx_status rooms_participants(rooms_ctx *ctx, const rooms_row *room, const char *rid,
                             Calixio__V1__ParticipantsReply **out)
{
    _list redis = {0}, live = {0};
    rooms_roles rr = {0};
    cx_status s = CX_OK, rs = CX_OK;

    /* An ended room has nobody in it, whatever a store still remembers. */
    if (strcmp(room->status, "ended") == 0)
        return _reply(&live, room, &rr, out);
    if ((s = rooms_roles_load(ctx->pg, room->id, &rr)) != CX_OK)
        return s;
    rs = _from_redis(ctx, room->livekit_room, rid, &redis);
    if (rs == CX_ERR_NOMEM) {
        s = rs;
        goto out_free;
    }
    if (ctx->lk) {
        s = _from_livekit(ctx, room->livekit_room, &redis, rid, &live);
        if (s == CX_OK) {
            s = _reply(&live, room, &rr, out);
            goto out_free;
        }
        _list_free(&live);
        cx_log_warn(rid, "room %s: LiveKit participants unavailable, answering from Redis",
                    room->id);
    }
    s = rs == CX_OK ? _reply(&redis, room, &rr, out) : rs;
out_free:
    _list_free(&redis);
    _list_free(&live);
    rooms_roles_free(&rr);
    return s;
}

void rooms_presence_drop(rooms_ctx *ctx, const char *livekit_room, const char *rid)
{
    /* Every key of the room's state (one slot: one DEL), not only the hash;
     * but not the webhook's short-lived room-finished guard (it rejects a
     * late participant event of the finished room and expires by itself):
     * a sweep racing the webhook's room_finished would remove it. */
    char keys[CX_RK_N][CX_ROOMKEY_MAX(256)];
    const char *argv[1 + CX_RK_N] = {"DEL"};
    int argc = 1;
    for (int k = 0; k < CX_RK_N; k++) {
        if (k == CX_RK_FINISHED)
            continue;
        if (!cx_roomkey(keys[k], sizeof keys[k], (cx_roomkey_kind)k, livekit_room))
            return;
        argv[argc++] = keys[k];
    }
    if (cx_redis_cmdv(ctx->redis, NULL, argc, argv, NULL) != CX_OK)
        cx_log_warn(rid, "presence of %s not dropped (Redis); the sweeper retries",
                    livekit_room);
}
