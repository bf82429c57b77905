/* cache.c: room rows for joins, cached for at most a second.
 *
 * Direct-mapped: a slot per hash of the room id, so memory is fixed and a
 * collision only costs a query. Every slot has a generation that an event
 * bumps; a fill that raced with an event (query started before it) is not
 * stored, so an ended room is never brought back from a stale read. */
#include <nats/nats.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cx_crypto.h"
#include "calixio/v1/rooms.pb-c.h"
#include "cx_json.h"
#include "cx_log.h"
#include "cx_time.h"
#include "media.h"

#define CACHE_SLOTS 4096

typedef struct _slot {
    bool used;
    uint64_t gen;
    int64_t expires_ms;   /* monotonic */
    media_room room;
} _slot;

struct media_cache {
    pthread_mutex_t mu;
    cx_pg_pool *pg;
    int64_t ttl_ms;
    natsSubscription *sub;
    _slot slots[CACHE_SLOTS];
};

/* FNV-1a over the lowercase id. */
static size_t _slot_of(const char *id)
{
    uint32_t h = 2166136261u;
    for (; *id; id++) {
        unsigned char c = (unsigned char)*id;
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        h = (h ^ c) * 16777619u;
    }
    return h % CACHE_SLOTS;
}

cx_status media_cache_create(media_cache **out, cx_pg_pool *pg, int64_t ttl_ms)
{
    media_cache *c = calloc(1, sizeof *c);
    if (!c)
        return CX_ERR_NOMEM;
    pthread_mutex_init(&c->mu, NULL);
    c->pg = pg;
    c->ttl_ms = ttl_ms;
    *out = c;
    return CX_OK;
}

void media_cache_destroy(media_cache *c)
{
    if (!c)
        return;
    media_cache_unsubscribe(c);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void _copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* The read-only query. */
static cx_status _load(cx_pg_pool *pg, const char *id, media_room *out)
{
    PGresult *res = NULL;
    const char *p[] = {id};
    cx_status s = cx_pg_exec(pg,
                             "SELECT id::text, name, status, owner_user_id::text, livekit_room "
                             "FROM rooms WHERE id = $1",
                             1, p, &res);
    if (s != CX_OK)
        return s;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return CX_ERR_ROOM_NOT_FOUND;
    }
    _copy(out->id, sizeof out->id, PQgetvalue(res, 0, 0));
    _copy(out->name, sizeof out->name, PQgetvalue(res, 0, 1));
    _copy(out->status, sizeof out->status, PQgetvalue(res, 0, 2));
    _copy(out->owner_user_id, sizeof out->owner_user_id, PQgetvalue(res, 0, 3));
    _copy(out->livekit_room, sizeof out->livekit_room, PQgetvalue(res, 0, 4));
    PQclear(res);
    return CX_OK;
}

cx_status media_cache_get(media_cache *c, const char *id, media_room *out)
{
    if (!cx_uuid_valid_str(id))
        return CX_ERR_ROOM_NOT_FOUND;
    _slot *sl = &c->slots[_slot_of(id)];
    pthread_mutex_lock(&c->mu);
    uint64_t gen = sl->gen;
    if (sl->used && cx_mono_ms() < sl->expires_ms && strcasecmp(sl->room.id, id) == 0) {
        *out = sl->room;
        pthread_mutex_unlock(&c->mu);
        return CX_OK;
    }
    pthread_mutex_unlock(&c->mu);

    int64_t started = cx_mono_ms();
    cx_status s = _load(c->pg, id, out);
    if (s != CX_OK)
        return s;
    pthread_mutex_lock(&c->mu);
    if (sl->gen == gen) {
        sl->used = true;
        sl->room = *out;
        sl->expires_ms = started + c->ttl_ms;
    }
    pthread_mutex_unlock(&c->mu);
    return CX_OK;
}

void media_cache_invalidate(media_cache *c, const char *id)
{
    _slot *sl = &c->slots[_slot_of(id)];
    pthread_mutex_lock(&c->mu);
    sl->gen++;
    sl->used = false;
    pthread_mutex_unlock(&c->mu);
}

static void _on_event(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    media_cache *c = closure;
    ProtobufCMessage *m = NULL;
    (void)nc;
    (void)sub;
    if (cx_pb_unpack(&calixio__v1__room_changed__descriptor,
                     (const uint8_t *)natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg),
                     &m) == CX_OK) {
        const Calixio__V1__RoomChanged *ev = (const void *)m;
        if (ev->room && ev->room->id) {
            media_cache_invalidate(c, ev->room->id);
            cx_log_debug(NULL, "room %s %s: cache entry dropped", ev->room->id,
                         ev->event ? ev->event : "changed");
        }
        protobuf_c_message_free_unpacked(m, NULL);
    } else {
        cx_log_warn(NULL, "%s: undecodable room event ignored", natsMsg_GetSubject(msg));
    }
    natsMsg_Destroy(msg);
}

cx_status media_cache_subscribe(media_cache *c, cx_service *svc)
{
    char subj[256];
    cx_service_subject(svc, "events.rooms.>", subj, sizeof subj);
    natsStatus ns = natsConnection_Subscribe(&c->sub, cx_service_conn(svc), subj, _on_event, c);
    if (ns != NATS_OK) {
        cx_log_error(NULL, "nats: subscribing %s failed: %s", subj, natsStatus_GetText(ns));
        return CX_ERR_UNAVAILABLE;
    }
    return CX_OK;
}

void media_cache_unsubscribe(media_cache *c)
{
    if (!c || !c->sub)
        return;
    natsSubscription_Unsubscribe(c->sub);
    natsSubscription_Destroy(c->sub);
    c->sub = NULL;
}
