/* routes: the gateway's route table and path matching.
 *
 * The table is the single description of the HTTP surface: the access
 * handler, /metrics labels and /openapi.json are all derived from it.
 * Everything here is pure (no MHD, no NATS) so the fuzz target can call it. */
#ifndef GW_ROUTES_H
#define GW_ROUTES_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

/* How the request message is built. */
typedef enum gw_kind {
    GW_K_BODY,      /* JSON body decoded against `in` */
    GW_K_EMPTY,     /* calixio.v1.Empty; the body is ignored */
    GW_K_LIST,      /* ListRoomsRequest from the query string */
    GW_K_ROOM_REF,  /* RoomRef{id from the path}; body must be empty or {} */
    GW_K_JOIN,      /* JoinRequest from the body, id from the path */
    GW_K_WEBHOOK,   /* WebhookRequest{raw body, Authorization, Content-Type} */
    GW_K_HEALTH,    /* local: GET /healthz */
    GW_K_READY,     /* local: GET /readyz */
    GW_K_METRICS,   /* local: GET /metrics */
    GW_K_OPENAPI    /* local: GET /openapi.json */
} gw_kind;

/* Route flags. */
#define GW_F_COOKIE_IN    0x01u /* refresh_token falls back to the cookie */
#define GW_F_COOKIE_SET   0x02u /* move reply.refresh_token into Set-Cookie */
#define GW_F_COOKIE_CLEAR 0x04u /* answer clears the cookie (logout) */
#define GW_F_BEARER       0x08u /* documentation: Bearer required */
#define GW_F_BEARER_OPT   0x10u /* documentation: Bearer optional */

typedef struct gw_route {
    const char *method;       /* "GET" / "POST" */
    const char *pattern;      /* "/rooms/{id}/join"; at most one {id} */
    const char *subject;      /* relative NATS subject "rooms.get"; NULL: local */
    const ProtobufCMessageDescriptor *in;
    const ProtobufCMessageDescriptor *out;
    int status;               /* HTTP status on success */
    gw_kind kind;
    unsigned flags;
    const char *array_field;  /* answer this repeated field as a bare array */
    const char *summary;      /* OpenAPI summary */
    const char *errors;       /* OpenAPI: documented error statuses, "400 401" */
} gw_route;

extern const gw_route gw_routes[];
extern const int gw_n_routes;

#define GW_UUID_LEN 36
#define GW_BODY_LIMIT_API (64u * 1024u)
#define GW_BODY_LIMIT_WEBHOOK (1024u * 1024u)

typedef enum gw_match_rc {
    GW_MATCH_OK = 0,
    GW_MATCH_NOT_FOUND,   /* no pattern matches the path */
    GW_MATCH_METHOD,      /* the path exists, not with this method */
    GW_MATCH_BAD_ID       /* route found but {id} is not a UUID */
} gw_match_rc;

typedef struct gw_match {
    int route;                   /* index into gw_routes, -1 when none */
    char id[GW_UUID_LEN + 1];    /* lowercased {id} when the route has one */
    char allow[64];              /* "GET, POST, OPTIONS" for the path ("" when unknown) */
} gw_match;

/* Matches method + path (as MHD hands it: no query string). The prefixes
 * /api and /api/v1 are stripped first. Always fills *m (route -1 unless OK
 * or BAD_ID). The path may be any bytes; only its first 1024 are looked at. */
gw_match_rc gw_route_match(const char *method, const char *path, gw_match *m);


/* Body limit in bytes of route idx (-1: the API limit). */
size_t gw_route_body_limit(int idx);

/* "GET /rooms/{id}" style label of route idx, "unmatched" for -1. */
const char *gw_route_label_method(int idx);
const char *gw_route_label_pattern(int idx);

#endif
