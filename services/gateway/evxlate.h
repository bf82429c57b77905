/* evxlate: what one live event (GET /rooms/{id}/events) says and who sees it.
 *
 * Pure: a RoomEvent (events.proto, protobuf) becomes one SSE frame
 * "id: <stream seq>\nevent: <type>\ndata: <one JSON line>\n\n" in the data
 * shape of API-ROOMS.md "Live events", and the audience rules of that
 * table decide, from the caller's token alone, who receives it. The gateway
 * owns no other rule: the services decide what happened. */
#ifndef GW_EVXLATE_H
#define GW_EVXLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cx_status.h"

/* Who follows the stream, from the token it presented. */
typedef enum gw_ev_role {
    GW_EVR_HOST = 0, /* room token role host, or the owner's access token */
    GW_EVR_MODERATOR,
    GW_EVR_PARTICIPANT, /* room token role participant or guest */
    GW_EVR_WAITING      /* waiting token */
} gw_ev_role;

typedef struct gw_ev_caller {
    gw_ev_role role;
    char identity[65];   /* room / waiting token sub ("" for access tokens) */
    char waiting_id[37]; /* waiting tokens */
} gw_ev_caller;

/* Who receives an event type. */
typedef enum gw_ev_aud {
    GW_EVA_MEMBERS = 0, /* participants, moderators, host */
    GW_EVA_EVERYONE,    /* everyone, waiting parties included */
    GW_EVA_STAFF,       /* host, moderators */
    GW_EVA_OWN_WAITING  /* only the waiting party the event names */
} gw_ev_aud;

/* One translated event (frame malloced, owned by the struct). */
typedef struct gw_ev {
    char type[48];
    gw_ev_aud aud;
    bool ends_all;       /* room.ended: every stream closes after it */
    bool ends_named;     /* participant.removed: the named participant's closes */
    bool sets_role;      /* participant.role_changed with a known role: role below */
    gw_ev_role role;     /* the named participant's role from now on */
    char identity[65];   /* participant.*: the participant it names */
    char waiting_id[37]; /* waiting.*: the entry it names */
    char *frame;
    size_t frame_len;
} gw_ev;

/* Translates a RoomEvent (pb, len bytes) with JetStream sequence seq.
 * CX_ERR_NOT_FOUND: a type the contract does not stream (skip it);
 * CX_ERR_BAD_REQUEST: undecodable; CX_ERR_NOMEM. On CX_OK the caller
 * frees with gw_ev_clear. */
cx_status gw_ev_translate(const uint8_t *pb, size_t len, uint64_t seq, gw_ev *out);

void gw_ev_clear(gw_ev *ev);

/* True when caller c receives ev. */
bool gw_ev_visible(const gw_ev *ev, const gw_ev_caller *c);

/* Follows a role change: when ev gives the participant c follows the
 * stream as a new role (a promotion to moderator, a demotion), c's role
 * becomes it, so the audience of later events is the current one. A
 * waiting party is never changed. True when ev named c (its role is now
 * ev's, changed or not). */
bool gw_ev_apply_role(const gw_ev *ev, gw_ev_caller *c);

/* True when c's stream must close after ev was sent to it. */
bool gw_ev_closes(const gw_ev *ev, const gw_ev_caller *c);

/* The role of a room token's role claim (host, moderator, participant,
 * guest); false for anything else. */
bool gw_ev_role_parse(const char *role, gw_ev_role *out);

#endif
