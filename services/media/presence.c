/* presence.c: live participant counts for room_full without a Redis round
 * trip per join (issue 14).
 *
 * The webhook applies every participant_joined / participant_left to the
 * presence hash in Redis and then, before acknowledging LiveKit, publishes
 * it as the RoomEvent participant.joined / participant.left (source
 * "webhook") on <prefix>.events.room.<id>.<type>. Every copy of media
 * subscribes (plain subscriptions) and keeps a count per room in a
 * direct-mapped table: Redis HLEN is the cold start and the gap filler,
 * the pushed events keep it current (the cx_denylist pattern). A count is
 * trusted only
 *   - once the subscriptions are in place (media_presence_subscribe),
 *   - while no NATS gap happened since its load (cx_natsconn_gaps),
 *   - for MP_RESYNC_MS after its load, which bounds any drift (a leave
 *     applied in Redis, then loaded, then delivered counts twice).
 * A join asks Redis anyway when the count is not trusted or is within the
 * margin of the limit (seats.h), so far from the limit the lagging count
 * cannot change the answer and near it the answer is exactly today's.
 * Joins pushed while a load is in flight are added to what it read (a
 * join counted twice only makes the count high: safe); leaves are not
 * (a leave counted twice would make it low). Other sources of
 * participant.left (rooms' own leave) are ignored: the webhook's event
 * follows when LiveKit drops the participant. */
#include <nats/nats.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/events.pb-c.h"
#include "cx_json.h"
#include "cx_log.h"
#include "cx_natsconn.h"
#include "cx_roomkeys.h"
#include "cx_time.h"
#include "media.h"
#include "seats.h"

#define MP_SLOTS 1024
#define MP_ID_LEN 36
#define MP_RESYNC_MS 10000
#define MP_DRAIN_WAIT_MS 2000

typedef struct mp_slot {
    char room[MP_ID_LEN + 1]; /* lower-case room id; "" free */
    bool known;
    long long count;
    uint64_t gen;   /* bumped when the slot changes room */
    uint64_t joins; /* joins pushed for this room since the slot took it */
    uint64_t gaps;  /* cx_natsconn_gaps() when loaded */
    int64_t loaded_ms;
} mp_slot;

struct media_presence {
    pthread_mutex_t mu;
    cx_redis *redis;
    natsSubscription *subs[2];
    bool live; /* both subscriptions in place */
    mp_slot slots[MP_SLOTS];
};

cx_status media_presence_create(media_presence **out, cx_redis *redis)
{
    media_presence *p = calloc(1, sizeof *p);
    if (!p)
        return CX_ERR_NOMEM;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return CX_ERR_INTERNAL;
    }
    p->redis = redis;
    *out = p;
    return CX_OK;
}

void media_presence_destroy(media_presence *p)
{
    if (!p)
        return;
    media_presence_unsubscribe(p);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* Lower-case copy of id into key; false unless it is MP_ID_LEN long. */
static bool _key(const char *id, char key[MP_ID_LEN + 1])
{
    size_t i = 0;
    for (; id && id[i]; i++) {
        if (i == MP_ID_LEN)
            return false;
        char ch = id[i];
        key[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    key[i] = '\0';
    return i == MP_ID_LEN;
}

static mp_slot *_slot(media_presence *p, const char *key)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *k = key; *k; k++)
        h = (h ^ (uint8_t)*k) * 16777619u;
    return &p->slots[h % MP_SLOTS];
}

/* A pushed presence change of room key (mu held). Untracked rooms are
 * ignored: their first join loads from Redis. */
static void _apply(media_presence *p, const char *key, bool joined)
{
    mp_slot *e = _slot(p, key);
    if (strcmp(e->room, key) != 0)
        return;
    if (joined) {
        e->joins++;
        if (e->known)
            e->count++;
    } else if (e->known && e->count > 0) {
        e->count--;
    }
}

static void _on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    media_presence *p = closure;
    ProtobufCMessage *m = NULL;
    (void)nc;
    (void)sub;
    if (cx_natsmsg_unpack(&calixio__v1__room_event__descriptor, msg, "room event", &m) !=
        CX_OK) {
        natsMsg_Destroy(msg);
        return;
    }
    const Calixio__V1__RoomEvent *e = (const void *)m;
    char key[MP_ID_LEN + 1];
    bool ours = e->source && strcmp(e->source, "webhook") == 0 && e->type;
    if (ours && _key(e->room_id, key)) {
        bool joined = strcmp(e->type, "participant.joined") == 0;
        if (joined || strcmp(e->type, "participant.left") == 0) {
            pthread_mutex_lock(&p->mu);
            _apply(p, key, joined);
            pthread_mutex_unlock(&p->mu);
        }
    }
    protobuf_c_message_free_unpacked(m, NULL);
    natsMsg_Destroy(msg);
}

cx_status media_presence_subscribe(media_presence *p, cx_service *svc)
{
    static const char *const rel[2] = {"events.room.*.participant.joined",
                                       "events.room.*.participant.left"};
    natsConnection *nc = cx_service_conn(svc);
    for (int i = 0; i < 2; i++) {
        char subj[256];
        cx_service_subject(svc, rel[i], subj, sizeof subj);
        natsStatus ns = natsConnection_Subscribe(&p->subs[i], nc, subj, _on_msg, p);
        if (ns != NATS_OK) {
            cx_log_error(NULL, "nats: subscribing %s failed: %s", subj, natsStatus_GetText(ns));
            media_presence_unsubscribe(p);
            return CX_ERR_UNAVAILABLE;
        }
    }
    /* the server has the interest before any count is trusted */
    if (natsConnection_FlushTimeout(nc, 2000) != NATS_OK) {
        cx_log_error(NULL, "nats: presence subscriptions not confirmed");
        media_presence_unsubscribe(p);
        return CX_ERR_UNAVAILABLE;
    }
    pthread_mutex_lock(&p->mu);
    p->live = true;
    pthread_mutex_unlock(&p->mu);
    return CX_OK;
}

void media_presence_unsubscribe(media_presence *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->live = false;
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < 2; i++) {
        natsSubscription *s = p->subs[i];
        if (!s)
            continue;
        if (natsSubscription_Drain(s) != NATS_OK ||
            natsSubscription_WaitForDrainCompletion(s, MP_DRAIN_WAIT_MS) != NATS_OK)
            natsSubscription_Unsubscribe(s);
        natsSubscription_Destroy(s);
        p->subs[i] = NULL;
    }
}

cx_status media_presence_full(media_presence *p, const media_room *room, bool *full)
{
    char key[MP_ID_LEN + 1];
    *full = false;
    if (room->max_participants <= 0)
        return CX_OK;
    bool tracked = _key(room->id, key);
    uint64_t gaps = cx_natsconn_gaps();
    int64_t now = cx_now_ms();
    uint64_t gen = 0, joins0 = 0;
    if (tracked) {
        pthread_mutex_lock(&p->mu);
        mp_slot *e = _slot(p, key);
        bool mine = strcmp(e->room, key) == 0;
        bool known = p->live && mine && e->known && e->gaps == gaps &&
                     now - e->loaded_ms < MP_RESYNC_MS;
        if (!media_seats_must_ask(known, e->count, room->max_participants)) {
            pthread_mutex_unlock(&p->mu);
            return CX_OK;
        }
        if (!mine) { /* the slot changes room: nothing of the old one is kept */
            memcpy(e->room, key, sizeof e->room);
            e->known = false;
            e->joins = 0;
            e->gen++;
        }
        gen = e->gen;
        joins0 = e->joins;
        pthread_mutex_unlock(&p->mu);
    }
    long long n = 0;
    cx_status s = cx_roomkey_presence_count(p->redis, room->livekit_room, &n);
    if (s != CX_OK)
        return s;
    if (tracked) {
        pthread_mutex_lock(&p->mu);
        mp_slot *e = _slot(p, key);
        if (p->live && e->gen == gen && strcmp(e->room, key) == 0) {
            e->count = n + (long long)(e->joins - joins0);
            e->known = true;
            e->gaps = gaps;
            e->loaded_ms = now;
        }
        pthread_mutex_unlock(&p->mu);
    }
    *full = n >= room->max_participants;
    return CX_OK;
}
