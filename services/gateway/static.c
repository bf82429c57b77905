/* static: the web app's files under WEB_ROOT (see static.h). */
#include "static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cx_log.h"
#include "routes.h"

#define GW_STATIC_PATH_MAX 512
#define GW_CSP_MAX 1024

struct gw_static {
    int root_fd;          /* O_PATH directory */
    char csp[GW_CSP_MAX]; /* Content-Security-Policy value */
};

/* What each served extension is; any other extension is not served. */
static const struct {
    const char *ext;
    const char *type;
} _types[] = {
    {"html", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"webmanifest", "application/manifest+json"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"webp", "image/webp"},
    {"ico", "image/x-icon"},
    {"woff2", "font/woff2"},
    {"txt", "text/plain; charset=utf-8"},
};

/* Cache policy by path prefix (first match); the build writes only
 * versioned file names under /vendor/. */
static const struct {
    const char *prefix;
    const char *cache;
} _cache[] = {
    {"/vendor/", "public, max-age=31536000, immutable"},
    {"/", "no-cache"},
};

/* First path segments of client-side routes: answered with index.html
 * when they name no file. */
static const char *const _spa[] = {"app", "j"};

/* Headers every static answer carries besides the CSP. */
static const struct {
    const char *name;
    const char *value;
} _fixed[] = {
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "same-origin"},
    {"X-Frame-Options", "DENY"},
    {"Cross-Origin-Opener-Policy", "same-origin"},
    {"Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self)"},
};

#define GW_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* --- the policy -------------------------------------------------------------- */

static bool _csp_safe(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f || c == ';' || c == ',' || c == '\'' || c == '"')
            return false;
    }
    return true;
}

/* Writes "scheme://authority" of the media URL and its http(s) twin. */
static cx_status _media_origins(const char *url, char *out, size_t cap)
{
    static const struct {
        const char *scheme, *twin;
    } map[] = {{"ws://", "http://"},
               {"wss://", "https://"},
               {"http://", "ws://"},
               {"https://", "wss://"}};
    if (!url || !*url) {
        out[0] = '\0';
        return CX_OK;
    }
    for (size_t i = 0; i < GW_NELEM(map); i++) {
        size_t sl = strlen(map[i].scheme);
        if (strncmp(url, map[i].scheme, sl) != 0)
            continue;
        const char *auth = url + sl;
        size_t al = strcspn(auth, "/?#");
        char host[256];
        if (al == 0 || al >= sizeof(host))
            return CX_ERR_CONFIG;
        memcpy(host, auth, al);
        host[al] = '\0';
        if (!_csp_safe(host))
            return CX_ERR_CONFIG;
        int n = snprintf(out, cap, " %s%s %s%s", map[i].scheme, host, map[i].twin, host);
        return (n > 0 && (size_t)n < cap) ? CX_OK : CX_ERR_CONFIG;
    }
    return CX_ERR_CONFIG;
}

static cx_status _build_csp(gw_static *s, const char *media_url)
{
    char media[600];
    if (_media_origins(media_url, media, sizeof(media)) != CX_OK)
        return CX_ERR_CONFIG;
    int n = snprintf(s->csp, sizeof(s->csp),
                     "default-src 'none'; script-src 'self'; style-src 'self'; "
                     "img-src 'self' data: blob: https:; media-src 'self' blob: mediastream:; "
                     "font-src 'self'; manifest-src 'self'; connect-src 'self'%s; "
                     "base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
                     "object-src 'none'",
                     media);
    return (n > 0 && (size_t)n < sizeof(s->csp)) ? CX_OK : CX_ERR_CONFIG;
}

/* --- lifecycle --------------------------------------------------------------- */

/* "auto": <directory of the executable>/web. False when unknown. */
static bool _auto_root(char *out, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return false;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return false;
    *slash = '\0';
    int w = snprintf(out, cap, "%s/web", exe);
    return w > 0 && (size_t)w < cap;
}

cx_status gw_static_open(gw_static **out, const char *root, const char *media_url)
{
    *out = NULL;
    char autodir[PATH_MAX];
    bool is_auto = root && strcmp(root, "auto") == 0;
    if (!root || !*root || strcmp(root, "off") == 0) {
        cx_log_info(NULL, "web app: off (WEB_ROOT=off)");
        return CX_OK;
    }
    if (is_auto) {
        if (!_auto_root(autodir, sizeof(autodir)))
            return CX_OK;
        root = autodir;
    }
    gw_static *s = calloc(1, sizeof(*s));
    if (!s)
        return CX_ERR_NOMEM;
    if (_build_csp(s, media_url) != CX_OK) {
        cx_log_error(NULL, "config: LIVEKIT_PUBLIC_URL: not a ws(s):// or http(s):// URL "
                           "that can go in a Content-Security-Policy");
        free(s);
        return CX_ERR_CONFIG;
    }
    s->root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (s->root_fd < 0) {
        free(s);
        if (is_auto) {
            cx_log_info(NULL, "web app: off (no %s)", root);
            return CX_OK;
        }
        cx_log_error(NULL, "config: WEB_ROOT: \"%s\" is not a directory (%s)", root,
                     strerror(errno));
        return CX_ERR_CONFIG;
    }
    cx_log_info(NULL, "web app: serving %s at /", root);
    *out = s;
    return CX_OK;
}

void gw_static_close(gw_static *s)
{
    if (!s)
        return;
    close(s->root_fd);
    free(s);
}

/* --- paths ------------------------------------------------------------------- */

static bool _seg_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

/* Does the API own paths starting with this first segment? Derived from
 * the route table, so a new route family is never shadowed by a file. */
static bool _api_namespace(const char *seg, size_t len)
{
    if (len == 3 && memcmp(seg, "api", 3) == 0)
        return true;
    for (int i = 0; i < gw_n_routes; i++) {
        const char *p = gw_routes[i].pattern + 1;
        size_t pl = strcspn(p, "/");
        if (pl == len && memcmp(p, seg, len) == 0)
            return true;
    }
    return false;
}

/* Checks url and writes the path relative to the root into rel ("" for
 * "/"); *spa is set when the first segment is a client-side route. A
 * trailing slash is allowed only for "/" and client-side routes. */
static bool _rel_path(const char *url, char *rel, size_t cap, bool *spa, bool *dir_slash)
{
    *spa = false;
    *dir_slash = false;
    size_t n = strnlen(url, GW_STATIC_PATH_MAX + 1);
    if (n == 0 || n > GW_STATIC_PATH_MAX || n >= cap || url[0] != '/')
        return false;
    const char *p = url + 1;
    size_t first = strcspn(p, "/");
    if (first && _api_namespace(p, first))
        return false;
    for (size_t i = 0; i < GW_NELEM(_spa); i++)
        if (strlen(_spa[i]) == first && memcmp(p, _spa[i], first) == 0)
            *spa = true;
    const char *seg = p;
    for (const char *q = p;; q++) {
        if (*q == '/' || *q == '\0') {
            size_t sl = (size_t)(q - seg);
            if (sl == 0 && !(*q == '\0' && (q == p || *spa)))
                return false; /* "//", or a trailing slash */
            if (sl > 0 && seg[0] == '.')
                return false; /* "..", ".", dotfiles */
            if (*q == '\0') {
                *dir_slash = sl == 0;
                break;
            }
            seg = q + 1;
        } else if (!_seg_char(*q)) {
            return false; /* backslash, NUL-truncation leftovers, controls, ... */
        }
    }
    memcpy(rel, p, n); /* n - 1 bytes + NUL */
    return true;
}

static const char *_type_of(const char *rel)
{
    const char *slash = strrchr(rel, '/');
    const char *base = slash ? slash + 1 : rel;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base)
        return NULL;
    for (size_t i = 0; i < GW_NELEM(_types); i++)
        if (strcmp(dot + 1, _types[i].ext) == 0)
            return _types[i].type;
    return NULL;
}

/* Opens rel beneath the root: a regular file, never through a symlink
 * that leaves the root, never a magic link. -1 otherwise. */
static int _open_beneath(const gw_static *s, const char *rel, struct stat *st)
{
    struct open_how how = {
        .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    int fd = (int)syscall(SYS_openat2, s->root_fd, rel, &how, sizeof(how));
    if (fd < 0)
        return -1;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* --- answers ------------------------------------------------------------------ */

static bool _etag_matches(const char *inm, const char *etag)
{
    if (!inm)
        return false;
    if (strcmp(inm, "*") == 0)
        return true;
    size_t el = strlen(etag);
    for (const char *p = inm; (p = strstr(p, etag)) != NULL; p += el) {
        bool start = p == inm || p[-1] == ' ' || p[-1] == ',' || p[-1] == '/';
        bool end = p[el] == '\0' || p[el] == ',' || p[el] == ' ';
        if (start && end)
            return true;
    }
    return false;
}

/* Does Accept-Encoding allow gzip? ("gzip" as a token, not with q=0) */
static bool _accepts_gzip(const char *ae)
{
    for (const char *p = ae; p && (p = strstr(p, "gzip")) != NULL; p += 4) {
        bool start = p == ae || p[-1] == ' ' || p[-1] == ',';
        const char *e = p + 4;
        while (*e == ' ')
            e++;
        if (!start || (*e != '\0' && *e != ',' && *e != ';'))
            continue;
        if (*e != ';')
            return true;
        const char *q = strstr(e, "q=");
        const char *next = strchr(e, ',');
        if (!q || (next && q > next))
            return true;
        return strtod(q + 2, NULL) > 0.0;
    }
    return false;
}

/* Swaps *fd and *st for the precompressed "<file>.gz" beside file (what the
 * build writes for text assets), when there is one. */
static bool _try_gz(const gw_static *s, const char *file, int *fd, struct stat *st)
{
    char gz[GW_STATIC_PATH_MAX + 4];
    struct stat gst;
    if (snprintf(gz, sizeof(gz), "%s.gz", file) >= (int)sizeof(gz))
        return false;
    int gfd = _open_beneath(s, gz, &gst);
    if (gfd < 0)
        return false;
    close(*fd);
    *fd = gfd;
    *st = gst;
    return true;
}

static void _headers(const gw_static *s, struct MHD_Response *r, const char *url,
                     const char *etag, const char *type, bool gz)
{
    const char *cache = "no-cache";
    for (size_t i = 0; i < GW_NELEM(_cache); i++)
        if (strncmp(url, _cache[i].prefix, strlen(_cache[i].prefix)) == 0) {
            cache = _cache[i].cache;
            break;
        }
    if (type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache);
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    if (gz)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    MHD_add_response_header(r, "Content-Security-Policy", s->csp);
    for (size_t i = 0; i < GW_NELEM(_fixed); i++)
        MHD_add_response_header(r, _fixed[i].name, _fixed[i].value);
}

bool gw_static_answer(const gw_static *s, struct MHD_Connection *c, const char *method,
                      const char *url, struct MHD_Response **resp, unsigned *status)
{
    *resp = NULL;
    if (!s || (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0))
        return false;
    char rel[GW_STATIC_PATH_MAX + 1];
    bool spa = false, dir_slash = false;
    if (!_rel_path(url, rel, sizeof(rel), &spa, &dir_slash))
        return false;
    const char *type = rel[0] && !dir_slash ? _type_of(rel) : NULL;
    struct stat st;
    int fd = -1;
    const char *file = rel;
    if (type)
        fd = _open_beneath(s, rel, &st);
    if (fd < 0 && (rel[0] == '\0' || (spa && (!type || dir_slash)))) {
        type = "text/html; charset=utf-8";
        url = "/index.html";
        file = "index.html";
        fd = _open_beneath(s, file, &st);
    }
    if (fd < 0)
        return false;
    bool gz = _accepts_gzip(MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                        MHD_HTTP_HEADER_ACCEPT_ENCODING)) &&
              _try_gz(s, file, &fd, &st);
    char etag[64];
    snprintf(etag, sizeof(etag), "\"%llx-%llx%s\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
                 (unsigned long long)st.st_mtim.tv_nsec,
             gz ? "-gz" : "");
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (_etag_matches(inm, etag)) {
        close(fd);
        *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        *status = MHD_HTTP_NOT_MODIFIED;
        type = NULL;
    } else {
        *resp = MHD_create_response_from_fd((size_t)st.st_size, fd); /* owns fd */
        if (!*resp)
            close(fd);
        *status = MHD_HTTP_OK;
    }
    if (!*resp)
        return false;
    _headers(s, *resp, url, etag, type, gz);
    return true;
}

size_t gw_static_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    size_t n = MHD_http_unescape(s);
    if (strlen(s) == n)
        return n;
    s[0] = '\x7f'; /* the input held "%00": at least 3 bytes */
    s[1] = '\0';
    return 1;
}
