/* cache.c: room rows for joins, cached for at most a second.
 *
 * A cx_ttlcache keyed by the lower-case room id: memory is fixed, a
 * collision only costs a query, and a fill whose query started before a
 * room event is not stored, so an ended room is never brought back from a
 * stale read. Room events arrive through cx_room_events. */
#include <stdio.h>
#include <stdlib.h>

#include "cx_crypto.h"
#include "cx_log.h"
#include "cx_room_events.h"
#include "cx_ttlcache.h"
#include "media.h"

#define CACHE_SLOTS 4096
#define _ID_LEN 36

struct media_cache {
    cx_pg_pool *pg;
    cx_ttlcache *rows;
    cx_room_events *events;
};

cx_status media_cache_create(media_cache **out, cx_pg_pool *pg, int64_t ttl_ms)
{
    media_cache *c = calloc(1, sizeof *c);
    if (!c)
        return CX_ERR_NOMEM;
    cx_status s = cx_ttlcache_create(&c->rows, CACHE_SLOTS, _ID_LEN, sizeof(media_room), ttl_ms);
    if (s != CX_OK)
        goto out_free_cache;
    c->pg = pg;
    *out = c;
    return CX_OK;

out_free_cache:
    free(c);
    return s;
}

void media_cache_destroy(media_cache *c)
{
    if (!c)
        return;
    media_cache_unsubscribe(c);
    cx_ttlcache_destroy(c->rows);
    free(c);
}

static void _copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* Lower-case copy of id into key[_ID_LEN + 1]; false when id is longer. */
static bool _key(const char *id, char key[_ID_LEN + 1])
{
    size_t i = 0;
    for (; id[i]; i++) {
        if (i == _ID_LEN)
            return false;
        char ch = id[i];
        key[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    key[i] = '\0';
    return true;
}

/* The read-only query (a cx_ttlcache_load_fn; arg is the cache). */
static cx_status _load(void *arg, const char *id, void *value)
{
    media_cache *c = arg;
    media_room *out = value;
    PGresult *res = NULL;
    const char *p[] = {id};
    cx_status s = cx_pg_exec(c->pg,
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
    char key[_ID_LEN + 1];
    if (!cx_uuid_valid_str(id) || !_key(id, key))
        return CX_ERR_ROOM_NOT_FOUND;
    return cx_ttlcache_get_or_load(c->rows, key, out, _load, c);
}

void media_cache_invalidate(media_cache *c, const char *id)
{
    char key[_ID_LEN + 1];
    if (_key(id, key))
        cx_ttlcache_invalidate(c->rows, key);
}

static void _on_event(const Calixio__V1__RoomChanged *ev, void *arg)
{
    media_cache *c = arg;
    if (ev->room && ev->room->id) {
        media_cache_invalidate(c, ev->room->id);
        cx_log_debug(NULL, "room %s %s: cache entry dropped", ev->room->id,
                     ev->event ? ev->event : "changed");
    }
}

cx_status media_cache_subscribe(media_cache *c, cx_service *svc)
{
    return cx_room_events_subscribe(svc, _on_event, c, &c->events);
}

void media_cache_unsubscribe(media_cache *c)
{
    if (!c || !c->events)
        return;
    cx_room_events_unsubscribe(c->events);
    c->events = NULL;
}
