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

#include "cx_status.h"

/* How the request message is built. */
typedef enum gw_kind {
    GW_K_BODY,     /* JSON body decoded against `in` */
    GW_K_EMPTY,    /* calixio.v1.Empty; the body is ignored */
    GW_K_LIST,     /* ListRoomsRequest from the query string */
    GW_K_ROOM_REF, /* RoomRef{id from the path}; body must be empty or {} */
    GW_K_MSG,      /* generic: every {param} of the path and, for GET, the
                     * typed query fill the `in` fields of the same name; the
                     * JSON body (not for GET) fills the rest */
    GW_K_WEBHOOK,  /* WebhookRequest{raw body, Authorization, Content-Type} */
    GW_K_HEALTH,   /* local: GET /healthz */
    GW_K_READY,    /* local: GET /readyz */
    GW_K_METRICS,  /* local: GET /metrics */
    GW_K_OPENAPI,  /* local: GET /openapi.json */
    GW_K_EVENTS    /* local: GET /rooms/{id}/events (events.h) */
} gw_kind;

/* Route flags. */
#define GW_F_COOKIE_IN 0x01u    /* refresh_token falls back to the cookie */
#define GW_F_COOKIE_SET 0x02u   /* move reply.refresh_token into Set-Cookie */
#define GW_F_COOKIE_CLEAR 0x04u /* answer clears the cookie (logout) */
#define GW_F_BEARER 0x08u       /* documentation: Bearer required */
#define GW_F_BEARER_OPT 0x10u   /* documentation: Bearer optional */
#define GW_F_REPEATABLE 0x20u /* safe to publish twice (GATEWAY_RETRY_AFTER); GETs always are */
#define GW_F_WAITING_202 0x40u /* a reply with "status":"waiting" is 202 (joins) */

typedef struct gw_route {
    const char *method;  /* "GET" "POST" "PATCH" "PUT" "DELETE" */
    const char *pattern; /* "/rooms/{id}/join"; each {name} is in gw_params */
    const char *subject; /* relative NATS subject "rooms.get"; NULL: local */
    const ProtobufCMessageDescriptor *in;
    const ProtobufCMessageDescriptor *out;
    int status; /* HTTP status on success; 204 answers no body */
    gw_kind kind;
    unsigned flags;
    const char *array_field; /* answer this repeated field as a bare array */
    const char *summary;     /* OpenAPI summary */
    const char *errors;      /* OpenAPI: documented error statuses, "400 401" */
} gw_route;

extern const gw_route gw_routes[];
extern const int gw_n_routes;

/* What a path parameter may look like. */
typedef enum gw_ptype {
    GW_P_UUID,     /* a UUID, answered lowercased */
    GW_P_CODE,     /* a meeting code: 10 letters, any case, dashes anywhere;
                     * answered as the 10 lowercase letters */
    GW_P_IDENTITY, /* a LiveKit identity [A-Za-z0-9_-]{1,64} */
    GW_P_TOKEN     /* an opaque URL-safe token [A-Za-z0-9_-]{1,256} */
} gw_ptype;

/* One path parameter name: its type and the error a malformed value gets
 * (before any NATS traffic). A name means the same everywhere, so a route
 * row only names its parameters in its pattern. */
typedef struct gw_param_def {
    const char *name; /* "id", "message_id" ... */
    gw_ptype type;
    cx_status not_found; /* e.g. CX_ERR_ROOM_NOT_FOUND */
    const char *doc;     /* OpenAPI description of the parameter */
} gw_param_def;

extern const gw_param_def gw_params[];
extern const int gw_n_params;

/* The definition of parameter `name` (len bytes), NULL when unknown. */
const gw_param_def *gw_param_find(const char *name, size_t len);

#define GW_UUID_LEN 36
#define GW_MAX_PARAMS 4  /* {params} per pattern at most */
#define GW_PARAM_MAX 256 /* longest accepted parameter value */
#define GW_BODY_LIMIT_API (64u * 1024u)
#define GW_BODY_LIMIT_WEBHOOK (1024u * 1024u)

typedef enum gw_match_rc {
    GW_MATCH_OK = 0,
    GW_MATCH_NOT_FOUND, /* no pattern matches the path */
    GW_MATCH_METHOD,    /* the path exists, not with this method */
    GW_MATCH_BAD_ID     /* route found but a {param} is malformed: answer m.bad */
} gw_match_rc;

/* One path parameter of a match; def points into gw_params. */
typedef struct gw_param {
    const gw_param_def *def;
    char value[GW_PARAM_MAX + 1]; /* normalised value (see gw_ptype) */
} gw_param;

typedef struct gw_match {
    int route;                /* index into gw_routes, -1 when none */
    char id[GW_UUID_LEN + 1]; /* lowercased {id} when the route has one */
    char allow[64];           /* "GET, POST, OPTIONS" for the path ("" when unknown) */
    int n_params;             /* path parameters of the route, in pattern order */
    gw_param params[GW_MAX_PARAMS];
    cx_status bad; /* GW_MATCH_BAD_ID: the not-found status to answer */
} gw_match;

/* The value of path parameter `name` of m, NULL when the route has none. */
const char *gw_match_param(const gw_match *m, const char *name);

/* Matches method + path (as MHD hands it: no query string). The prefixes
 * /api and /api/v1 are stripped first. Always fills *m (route -1 unless OK
 * or BAD_ID). The path may be any bytes; only its first 1024 are looked at. */
gw_match_rc gw_route_match(const char *method, const char *path, gw_match *m);

/* As gw_route_match against another table of n routes (tests); m->route
 * indexes that table. */
gw_match_rc gw_route_match_in(const gw_route *table, int n, const char *method,
                              const char *path, gw_match *m);


/* Body limit in bytes of route idx (-1: the API limit). */
size_t gw_route_body_limit(int idx);

/* "GET /rooms/{id}" style label of route idx, "unmatched" for -1. */
const char *gw_route_label_method(int idx);
const char *gw_route_label_pattern(int idx);

#endif
