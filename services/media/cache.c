/* cache.c: room rows for joins, cached for at most a second.
 *
 * A cx_ttlcache keyed by the lower-case room id: memory is fixed, a
 * collision only costs a query, and a fill whose query started before a
 * room event is not stored, so an ended room is never brought back from a
 * stale read. Room events arrive through cx_room_events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx_crypto.h"
#include "cx_log.h"
#include "cx_room_events.h"
#include "cx_ttlcache.h"
#include "media.h"

#define CACHE_SLOTS 4096
#define MC_ID_LEN 36

struct media_cache {
    cx_pg_pool *pg;
    cx_ttlcache *rows;
    cx_ttlcache *by_code; /* the same rows keyed by meeting code */
    cx_room_events *events;
};

cx_status media_cache_create(media_cache **out, cx_pg_pool *pg, int64_t ttl_ms)
{
    media_cache *c = calloc(1, sizeof *c);
    if (!c)
        return CX_ERR_NOMEM;
    cx_status s = cx_ttlcache_create(&c->rows, CACHE_SLOTS, MC_ID_LEN, sizeof(media_room),
                                     ttl_ms);
    if (s != CX_OK)
        goto out_free_cache;
    s = cx_ttlcache_create(&c->by_code, CACHE_SLOTS, MEDIA_CODE_LEN, sizeof(media_room),
                           ttl_ms);
    if (s != CX_OK)
        goto out_free_rows;
    c->pg = pg;
    *out = c;
    return CX_OK;

out_free_rows:
    cx_ttlcache_destroy(c->rows);
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
    cx_ttlcache_destroy(c->by_code);
    free(c);
}

static void _copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* Lower-case copy of id into key[MC_ID_LEN + 1]; false when id is longer. */
static bool _key(const char *id, char key[MC_ID_LEN + 1])
{
    size_t i = 0;
    for (; id[i]; i++) {
        if (i == MC_ID_LEN)
            return false;
        char ch = id[i];
        key[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    key[i] = '\0';
    return true;
}

#define MC_COLS                                                                 \
    "SELECT id::text, name, status, owner_user_id::text, livekit_room, code, "  \
    "COALESCE(extract(epoch from scheduled_at)::bigint, 0), max_participants, " \
    "(access <> 'open' OR locked OR has_password OR "                           \
    " EXISTS (SELECT 1 FROM room_bans b WHERE b.room_id = rooms.id) OR "        \
    " EXISTS (SELECT 1 FROM room_roles x WHERE x.room_id = rooms.id)) "         \
    "FROM rooms WHERE deleted_at IS NULL AND "

/* Runs the read-only query sql with one parameter and fills *out. */
static cx_status _load_one(media_cache *c, const char *sql, const char *param, media_room *out)
{
    PGresult *res = NULL;
    const char *p[] = {param};
    cx_status s = cx_pg_exec(c->pg, sql, 1, p, &res);
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
    _copy(out->code, sizeof out->code, PQgetvalue(res, 0, 5));
    out->scheduled_at_s = strtoll(PQgetvalue(res, 0, 6), NULL, 10);
    out->max_participants = (int32_t)strtol(PQgetvalue(res, 0, 7), NULL, 10);
    out->gated = PQgetvalue(res, 0, 8)[0] == 't';
    PQclear(res);
    return CX_OK;
}

/* The read-only queries (cx_ttlcache_load_fn; arg is the cache). */
static cx_status _load(void *arg, const char *id, void *value)
{
    return _load_one(arg, MC_COLS "id = $1", id, value);
}

static cx_status _load_code(void *arg, const char *code, void *value)
{
    return _load_one(arg, MC_COLS "code = $1", code, value);
}

cx_status media_cache_get_by_code(media_cache *c, const char *code, media_room *out)
{
    if (!code || strlen(code) != MEDIA_CODE_LEN)
        return CX_ERR_ROOM_NOT_FOUND;
    return cx_ttlcache_get_or_load(c->by_code, code, out, _load_code, c);
}

cx_status media_cache_get(media_cache *c, const char *id, media_room *out)
{
    char key[MC_ID_LEN + 1];
    if (!cx_uuid_valid_str(id) || !_key(id, key))
        return CX_ERR_ROOM_NOT_FOUND;
    return cx_ttlcache_get_or_load(c->rows, key, out, _load, c);
}

void media_cache_invalidate(media_cache *c, const char *id)
{
    char key[MC_ID_LEN + 1];
    if (_key(id, key))
        cx_ttlcache_invalidate(c->rows, key);
}

static void _on_event(const Calixio__V1__RoomChanged *ev, void *arg)
{
    media_cache *c = arg;
    if (ev->room && ev->room->code) {
        char code[MEDIA_CODE_LEN + 1];
        size_t k = 0;
        for (const char *p = ev->room->code; *p && k < MEDIA_CODE_LEN; p++)
            if (*p != '-')
                code[k++] = *p;
        code[k] = '\0';
        cx_ttlcache_invalidate(c->by_code, code);
    }
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
