/* static: the web app's files (WEB_ROOT), served by the gateway.
 *
 * Only GET and HEAD requests whose path no API route owns reach it: a path
 * whose first segment is the first segment of any route pattern (auth,
 * rooms, livekit, healthz, ...) or "api" is never a file, so the API keeps
 * every path it has. App screens live under /app/... and meeting links
 * under /j/...; such a path that is not a file is answered with index.html
 * (client-side routing). Paths are whitelisted ([A-Za-z0-9._-] segments, no
 * segment starting with '.', no empty segment) and opened with
 * openat2(RESOLVE_BENEATH), so nothing outside the root is ever served,
 * through "..", encodings, backslashes or symlinks. Directories are never
 * listed. Every answer carries the Content-Security-Policy, nosniff and
 * cache headers (files under /vendor/ carry versioned names: immutable;
 * everything else no-cache with an ETag, 304 on If-None-Match). A client
 * that accepts gzip gets "<file>.gz" when the build wrote one beside it. */
#ifndef GW_STATIC_H
#define GW_STATIC_H

#include <microhttpd.h>
#include <stdbool.h>

#include "cx_status.h"

typedef struct gw_static gw_static;

/* Opens the web root. root: a directory; "auto": the "web" folder beside
 * the running executable (what the build writes), silently off when there
 * is none; "off": off. media_url: the LiveKit WebSocket URL the browser
 * connects to (added to connect-src; ws(s):// or http(s)://). *out is NULL
 * when serving is off. Fails (CX_ERR_CONFIG, logged) on a root that is not
 * a directory or a media URL that cannot go in a CSP header. */
cx_status gw_static_open(gw_static **out, const char *root, const char *media_url);

/* NULL is fine. */
void gw_static_close(gw_static *s);

/* Answers method + url (as libmicrohttpd hands it, already percent-decoded)
 * from the web root. True when it did: *resp (caller queues and destroys it)
 * and *status (200 or 304) are set. False when the path is not a file of
 * the web app (the caller answers its usual 404); s NULL is always false. */
bool gw_static_answer(const gw_static *s, struct MHD_Connection *c, const char *method,
                      const char *url, struct MHD_Response **resp, unsigned *status);

/* libmicrohttpd unescape callback (MHD_OPTION_UNESCAPE_CALLBACK) for the
 * path and the query: decodes %HH as the default one does, but a value
 * holding an encoded NUL ("%00") is replaced by "\x7f", which no route,
 * file or typed query accepts, instead of being cut short at the NUL
 * ("/index.html%00.png" is not "/index.html"). */
size_t gw_static_unescape(void *cls, struct MHD_Connection *c, char *s);

#endif
