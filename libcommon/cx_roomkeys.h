/* cx_roomkeys: the Redis keys of one LiveKit room's live state, shared by
 * the daemon that writes them (webhook) and the one that reads them (rooms).
 *
 * Every key of a room carries the room name as a Redis Cluster hash tag,
 *   <prefix>{<livekit_room>}[:<suffix>]
 * so all keys of one room live in one slot and a Lua script may touch them
 * together on a cluster. The prefixes (cx:presence:, ...) are the ones the
 * per-service Redis ACLs grant. A name that is empty or starts with '}'
 * would give an empty tag (Redis then hashes the whole key, so the keys of
 * that room would spread over slots): such names are refused. Calixio's own
 * LiveKit rooms are cx-<uuid>. */
#ifndef CX_ROOMKEYS_H
#define CX_ROOMKEYS_H

#include <stdbool.h>

#include "cx_status.h"
#include <stddef.h>

typedef enum cx_roomkey_kind {
    CX_RK_PRESENCE = 0, /* HASH identity -> presence JSON */
    CX_RK_PRESENCE_TS,  /* HASH identity -> createdAt of the last participant event */
    CX_RK_TRACKS,       /* HASH identity -> published track count */
    CX_RK_TRACK_TS,     /* HASH track sid -> "<createdAt>:<p|u>" */
    CX_RK_FINISHED,     /* createdAt of the newest room_finished (short-lived guard) */
    CX_RK_N
} cx_roomkey_kind;

/* Largest key written (prefix, braces, a room name of max_room bytes). */
#define CX_ROOMKEY_MAX(max_room) (40 + (max_room))

/* Writes the key of `kind` for livekit_room into buf[cap]. False (buf "")
 * when the name gives no usable tag (see above) or does not fit. */
bool cx_roomkey(char *buf, size_t cap, cx_roomkey_kind kind, const char *livekit_room);

/* The de-duplication key of a webhook event of that room,
 * cx:webhook:event:{<room>}:<id>, so that a script marking the id done
 * runs in the room's slot. An unusable room name (events of no room) gives
 * cx:webhook:event:{}:<id>: Redis hashes that whole key, fine for a script
 * of that one key. False when it does not fit. */
bool cx_roomkey_event(char *buf, size_t cap, const char *livekit_room, const char *event_id);

/* The room name inside a key of `kind` (key[0..len)), copied into
 * room[cap]; false when key is not such a key or the name does not fit. */
bool cx_roomkey_room(const char *key, size_t len, cx_roomkey_kind kind, char *room, size_t cap);

/* The number of live participants of livekit_room (HLEN of its presence
 * hash, kept by the webhook service) into *n. CX_ERR_UNAVAILABLE when
 * Redis cannot answer or the name gives no key. */
struct cx_redis;
cx_status cx_roomkey_presence_count(struct cx_redis *r, const char *livekit_room, long long *n);

/* The key prefix of `kind` ("cx:presence:{", ...), e.g. for SCAN MATCH. */
const char *cx_roomkey_prefix(cx_roomkey_kind kind);

#endif
