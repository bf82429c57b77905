/* cors: the allowed-origin list (CORS_ALLOWED_ORIGINS) and its check. Pure. */
#ifndef GW_CORS_H
#define GW_CORS_H

#include <stdbool.h>

#include "cx_status.h"

#define GW_CORS_MAX_ORIGINS 64
#define GW_ORIGIN_MAX 256

typedef struct gw_cors {
    bool any; /* "*" in the list: reflect any origin */
    int n;
    char origins[GW_CORS_MAX_ORIGINS][GW_ORIGIN_MAX + 1];
} gw_cors;

#define GW_CORS_ALLOW_HEADERS \
    "Authorization, Content-Type, Accept, X-Requested-With, X-Request-Id"

/* Parses a comma-separated list (spaces around entries ignored, empty
 * entries skipped, a trailing '/' on an origin dropped). CX_ERR_CONFIG when
 * there are too many entries or one is too long. */
cx_status gw_cors_parse(gw_cors *c, const char *list);

/* True when origin (the request's Origin header, may be NULL) is allowed and
 * may be reflected: exact (case-sensitive) match, or the list has "*" and
 * the origin is a sane header value. */
bool gw_cors_allowed(const gw_cors *c, const char *origin);

#endif
