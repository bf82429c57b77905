/* cx_livekit.c: LiveKit access tokens and the Twirp RoomService client. */
#include "cx_livekit.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cx_jwt.h"
#include "cx_log.h"
#include "cx_time.h"

#define CX_LK_MAX_RESPONSE (4 * 1024 * 1024)
#define CX_LK_URL_MAX 1024

struct cx_livekit {
    char *base; /* http(s)://host[:port] without trailing slash */
    char *api_key;
    char *api_secret;
    int64_t connect_timeout_ms;
    int64_t timeout_ms;
    int max_attempts;
    int64_t backoff_ms;
};

/* ---- client set-up --------------------------------------------------------- */

static pthread_once_t _curl_once = PTHREAD_ONCE_INIT;
static CURLcode _curl_rc = CURLE_OK;

static void _curl_init(void)
{
    _curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

cx_status cx_livekit_global_init(void)
{
    pthread_once(&_curl_once, _curl_init);
    return _curl_rc == CURLE_OK ? CX_OK : CX_ERR_INTERNAL;
}

/* Rewrites ws(s):// to http(s):// and drops trailing slashes; malloced. */
static char *_base_url(const char *host)
{
    const char *scheme, *rest;
    if (strncmp(host, "http://", 7) == 0) {
        scheme = "http://", rest = host + 7;
    } else if (strncmp(host, "https://", 8) == 0) {
        scheme = "https://", rest = host + 8;
    } else if (strncmp(host, "ws://", 5) == 0) {
        scheme = "http://", rest = host + 5;
    } else if (strncmp(host, "wss://", 6) == 0) {
        scheme = "https://", rest = host + 6;
    } else {
        return NULL;
    }
    size_t n = strlen(rest);
    while (n > 0 && rest[n - 1] == '/')
        n--;
    if (n == 0 || n > 512)
        return NULL;
    char *out = malloc(strlen(scheme) + n + 1);
    if (!out)
        return NULL;
    sprintf(out, "%s%.*s", scheme, (int)n, rest);
    return out;
}

cx_status cx_livekit_create(cx_livekit **out, const cx_livekit_opts *o)
{
    if (!o || !o->host || !o->api_key || !o->api_secret || !*o->api_secret)
        return CX_ERR_CONFIG;
    if (cx_livekit_global_init() != CX_OK)
        return CX_ERR_INTERNAL;
    cx_livekit *lk = calloc(1, sizeof *lk);
    if (!lk)
        return CX_ERR_NOMEM;
    lk->base = _base_url(o->host);
    if (!lk->base) {
        free(lk);
        return CX_ERR_CONFIG;
    }
    lk->api_key = strdup(o->api_key);
    lk->api_secret = strdup(o->api_secret);
    if (!lk->api_key || !lk->api_secret) {
        cx_livekit_destroy(lk);
        return CX_ERR_NOMEM;
    }
    lk->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 2000;
    lk->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000;
    lk->max_attempts = o->max_attempts > 0 ? o->max_attempts : 3;
    lk->backoff_ms = o->backoff_ms > 0 ? o->backoff_ms : 100;
    *out = lk;
    return CX_OK;
}

void cx_livekit_destroy(cx_livekit *lk)
{
    if (!lk)
        return;
    free(lk->base);
    free(lk->api_key);
    free(lk->api_secret);
    free(lk);
}

const char *cx_livekit_base_url(const cx_livekit *lk)
{
    return lk->base;
}

/* ---- one HTTP exchange ------------------------------------------------------ */

typedef struct _buf {
    char *data;
    size_t len;
    bool overflow;
} _buf;

static size_t _on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    _buf *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > CX_LK_MAX_RESPONSE) {
        b->overflow = true;
        return 0;
    }
    char *p = realloc(b->data, b->len + n + 1);
    if (!p)
        return 0;
    memcpy(p + b->len, ptr, n);
    b->len += n;
    p[b->len] = '\0';
    b->data = p;
    return n;
}

/* The grant a RoomService method needs (FACTS.md §2). */
static void _grant_for(const char *method, const char *room, cx_lk_grant *g)
{
    memset(g, 0, sizeof *g);
    if (strcmp(method, "CreateRoom") == 0 || strcmp(method, "DeleteRoom") == 0) {
        g->room_create = true;
    } else if (strcmp(method, "ListRooms") == 0) {
        g->room_list = true;
    } else {
        g->room_admin = true;
        g->room = room;
    }
}

typedef struct _attempt {
    long http; /* 0: transport error */
    CURLcode curl;
    _buf body;
} _attempt;

/* Sends one POST with at most budget_ms; fills a->http/curl/body. */
static cx_status _post(cx_livekit *lk, const char *url, const char *token, const char *body,
                       int64_t budget_ms, _attempt *a)
{
    cx_status s = CX_ERR_NOMEM;
    char auth[8192];
    struct curl_slist *hdrs = NULL, *h;
    CURL *c = curl_easy_init();
    if (!c)
        return CX_ERR_NOMEM;
    if (snprintf(auth, sizeof auth, "Authorization: Bearer %s", token) >= (int)sizeof auth) {
        s = CX_ERR_INTERNAL;
        goto out_cleanup;
    }
    if (!(h = curl_slist_append(hdrs, "Content-Type: application/json")))
        goto out_cleanup;
    hdrs = h;
    if (!(h = curl_slist_append(hdrs, auth)))
        goto out_free_headers;
    hdrs = h;
    if (!(h = curl_slist_append(hdrs, "Expect:")))
        goto out_free_headers;
    hdrs = h;
    int64_t conn_ms = lk->connect_timeout_ms < budget_ms ? lk->connect_timeout_ms : budget_ms;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(conn_ms > 0 ? conn_ms : 1));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(budget_ms > 0 ? budget_ms : 1));
    curl_easy_setopt(c, CURLOPT_USERAGENT, "calixio/0.1");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, _on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a->body);
    a->curl = curl_easy_perform(c);
    if (a->curl == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->http);
    s = CX_OK;
out_free_headers:
    curl_slist_free_all(hdrs);
out_cleanup:
    curl_easy_cleanup(c);
    return s;
}

static bool _retryable(const _attempt *a)
{
    if (a->curl != CURLE_OK)
        return !a->body.overflow;
    return a->http == 429 || (a->http >= 500 && a->http != 501);
}

/* Copies printable ASCII of s (at most cap-1 bytes) so logs stay one line. */
static void _printable(char *dst, size_t cap, const char *s, size_t len)
{
    size_t j = 0;
    for (size_t i = 0; i < len && j + 1 < cap; i++)
        dst[j++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : ' ';
    dst[j] = '\0';
}

/* Describes a failed attempt: Twirp {code,msg} when the body has them. */
static void _describe(const _attempt *a, char *code, size_t ccap, char *msg, size_t mcap)
{
    snprintf(code, ccap, "%s", "");
    snprintf(msg, mcap, "%s", "");
    if (a->curl != CURLE_OK) {
        snprintf(code, ccap, "transport");
        snprintf(msg, mcap, "%s",
                 a->body.overflow ? "response too large" : curl_easy_strerror(a->curl));
        return;
    }
    json_t *e = a->body.data ? json_loadb(a->body.data, a->body.len, 0, NULL) : NULL;
    const char *c = json_string_value(json_object_get(e, "code"));
    const char *m = json_string_value(json_object_get(e, "msg"));
    if (c)
        _printable(code, ccap, c, strlen(c));
    if (m)
        _printable(msg, mcap, m, strlen(m));
    else if (!e && a->body.data)
        _printable(msg, mcap, a->body.data, a->body.len);
    json_decref(e);
}

static void _sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Maps the final failed attempt to a status. */
static cx_status _status_of(const _attempt *a, const char *code)
{
    if (a->curl != CURLE_OK || a->http == 429 || (a->http >= 500 && a->http != 501))
        return CX_ERR_UNAVAILABLE;
    if (a->http == 404 && strcmp(code, "not_found") == 0)
        return CX_ERR_NOT_FOUND;
    return CX_ERR_UPSTREAM;
}

cx_status cx_livekit_call(cx_livekit *lk, const char *method, const char *grant_room,
                          const json_t *req, json_t **out, const char *request_id)
{
    cx_status s;
    char url[CX_LK_URL_MAX];
    char *token = NULL, *body = NULL;
    cx_lk_grant g;
    _attempt a;
    int64_t deadline = cx_mono_ms() + lk->timeout_ms;
    int64_t backoff = lk->backoff_ms;

    if (snprintf(url, sizeof url, "%s/twirp/livekit.RoomService/%s", lk->base, method) >=
        (int)sizeof url)
        return CX_ERR_INTERNAL;
    body = json_dumps(req, JSON_COMPACT);
    if (!body)
        return CX_ERR_NOMEM;
    _grant_for(method, grant_room, &g);
    for (int attempt = 1;; attempt++) {
        char code[64], msg[256];
        int64_t left = deadline - cx_mono_ms();
        memset(&a, 0, sizeof a);
        /* A fresh token per attempt: a retry after a long stall must not
         * carry a token minted before it. */
        s = cx_lk_token(lk->api_key, lk->api_secret, NULL, NULL, &g, cx_now_s(),
                        CX_LK_SERVICE_TTL_S, &token);
        if (s != CX_OK)
            goto out_free_body;
        s = _post(lk, url, token, body, left, &a);
        free(token);
        token = NULL;
        if (s != CX_OK)
            goto out_free_attempt;
        if (a.curl == CURLE_OK && a.http >= 200 && a.http < 300)
            break;
        _describe(&a, code, sizeof code, msg, sizeof msg);
        left = deadline - cx_mono_ms();
        bool again = _retryable(&a) && attempt < lk->max_attempts && left > backoff;
        cx_log(again ? CX_LOG_WARN : CX_LOG_ERROR, request_id,
               "livekit %s: HTTP %ld %s: %s (attempt %d/%d%s)", method, a.http, code, msg,
               attempt, lk->max_attempts, again ? ", retrying" : "");
        if (!again) {
            s = _status_of(&a, code);
            goto out_free_attempt;
        }
        free(a.body.data);
        _sleep_ms(backoff);
        backoff *= 2;
    }
    json_t *resp = json_loadb(a.body.data ? a.body.data : "{}", a.body.data ? a.body.len : 2, 0,
                              NULL);
    if (!json_is_object(resp)) {
        cx_log_error(request_id, "livekit %s: HTTP %ld with a body that is not a JSON object",
                     method, a.http);
        json_decref(resp);
        s = CX_ERR_UPSTREAM;
        goto out_free_attempt;
    }
    if (out)
        *out = resp;
    else
        json_decref(resp);
    s = CX_OK;
out_free_attempt:
    free(a.body.data);
out_free_body:
    free(body);
    return s;
}

/* ---- typed calls ----------------------------------------------------------- */

cx_status cx_livekit_create_room(cx_livekit *lk, const char *name, int64_t empty_timeout_s,
                                 int64_t max_participants, const char *metadata,
                                 const char *request_id)
{
    json_t *req = json_object();
    int rc = 0;
    if (!req)
        return CX_ERR_NOMEM;
    rc |= json_object_set_new(req, "name", json_string(name));
    if (empty_timeout_s > 0)
        rc |= json_object_set_new(req, "emptyTimeout", json_integer(empty_timeout_s));
    if (max_participants > 0)
        rc |= json_object_set_new(req, "maxParticipants", json_integer(max_participants));
    if (metadata && *metadata)
        rc |= json_object_set_new(req, "metadata", json_string(metadata));
    cx_status s = rc ? CX_ERR_NOMEM
                     : cx_livekit_call(lk, "CreateRoom", NULL, req, NULL, request_id);
    json_decref(req);
    return s;
}

cx_status cx_livekit_delete_room(cx_livekit *lk, const char *name, const char *request_id)
{
    json_t *req = json_pack("{s:s}", "room", name);
    if (!req)
        return CX_ERR_NOMEM;
    cx_status s = cx_livekit_call(lk, "DeleteRoom", NULL, req, NULL, request_id);
    json_decref(req);
    return s == CX_ERR_NOT_FOUND ? CX_OK : s;
}

const json_t *cx_lk_get(const json_t *obj, const char *snake, const char *camel)
{
    const json_t *v = json_object_get(obj, snake);
    if (!v || json_is_null(v))
        v = json_object_get(obj, camel);
    return json_is_null(v) ? NULL : v;
}

int64_t cx_lk_int(const json_t *v)
{
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_real(v))
        return (int64_t)json_real_value(v);
    const char *s = json_string_value(v);
    if (!s || !*s)
        return 0;
    char *end;
    long long n = strtoll(s, &end, 10);
    return *end ? 0 : (int64_t)n;
}

static char *_dup_str(const json_t *v)
{
    const char *s = json_string_value(v);
    return strdup(s ? s : "");
}

cx_status cx_livekit_list_rooms(cx_livekit *lk, cx_lk_room **out, size_t *n,
                                const char *request_id)
{
    json_t *req = json_object(), *resp = NULL;
    if (!req)
        return CX_ERR_NOMEM;
    cx_status s = cx_livekit_call(lk, "ListRooms", NULL, req, &resp, request_id);
    json_decref(req);
    if (s != CX_OK)
        return s;
    const json_t *arr = json_object_get(resp, "rooms");
    size_t cnt = json_is_array(arr) ? json_array_size(arr) : 0;
    cx_lk_room *r = calloc(cnt ? cnt : 1, sizeof *r);
    if (!r) {
        json_decref(resp);
        return CX_ERR_NOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < cnt; i++) {
        const json_t *o = json_array_get(arr, i);
        if (!json_is_object(o))
            continue;
        r[k].name = _dup_str(json_object_get(o, "name"));
        r[k].sid = _dup_str(json_object_get(o, "sid"));
        r[k].creation_time = cx_lk_int(cx_lk_get(o, "creation_time", "creationTime"));
        r[k].num_participants = cx_lk_int(cx_lk_get(o, "num_participants", "numParticipants"));
        k++;
        if (!r[k - 1].name || !r[k - 1].sid) {
            cx_lk_rooms_free(r, k);
            json_decref(resp);
            return CX_ERR_NOMEM;
        }
    }
    json_decref(resp);
    *out = r;
    *n = k;
    return CX_OK;
}

void cx_lk_rooms_free(cx_lk_room *r, size_t n)
{
    if (!r)
        return;
    for (size_t i = 0; i < n; i++) {
        free(r[i].name);
        free(r[i].sid);
    }
    free(r);
}

static bool _is_egress(const json_t *kind)
{
    if (json_is_integer(kind))
        return json_integer_value(kind) == 2; /* ParticipantInfo.Kind EGRESS */
    const char *k = json_string_value(kind);
    return k && strcasecmp(k, "EGRESS") == 0;
}

/* What a participant publishes, from its tracks (TrackInfo: type AUDIO=0
 * (protojson may omit it) | VIDEO=1, source SCREEN_SHARE=3 |
 * SCREEN_SHARE_AUDIO=4, as names or numbers); muted tracks do not count. */
static bool _enum_is(const json_t *v, const char *name, json_int_t num, bool absent)
{
    if (!v)
        return absent;
    if (json_is_integer(v))
        return json_integer_value(v) == num;
    return json_is_string(v) && strcmp(json_string_value(v), name) == 0;
}

static void _tracks(const json_t *o, cx_lk_participant *p)
{
    size_t i;
    const json_t *t;
    json_array_foreach(json_object_get(o, "tracks"), i, t)
    {
        if (json_is_true(json_object_get(t, "muted")))
            continue;
        const json_t *type = json_object_get(t, "type"), *src = json_object_get(t, "source");
        bool share = _enum_is(src, "SCREEN_SHARE", 3, false) ||
                     _enum_is(src, "SCREEN_SHARE_AUDIO", 4, false);
        if (_enum_is(type, "VIDEO", 1, false)) {
            if (share)
                p->screen_share = true;
            else
                p->video = true;
        } else if (_enum_is(type, "AUDIO", 0, true) && !share) {
            p->audio = true;
        }
    }
}

cx_status cx_livekit_list_participants(cx_livekit *lk, const char *room,
                                       cx_lk_participant **out, size_t *n,
                                       const char *request_id)
{
    json_t *req = json_pack("{s:s}", "room", room), *resp = NULL;
    if (!req)
        return CX_ERR_NOMEM;
    cx_status s = cx_livekit_call(lk, "ListParticipants", room, req, &resp, request_id);
    json_decref(req);
    if (s == CX_ERR_NOT_FOUND) {
        resp = json_object();
        s = resp ? CX_OK : CX_ERR_NOMEM;
    }
    if (s != CX_OK)
        return s;
    const json_t *arr = json_object_get(resp, "participants");
    size_t cnt = json_is_array(arr) ? json_array_size(arr) : 0;
    cx_lk_participant *p = calloc(cnt ? cnt : 1, sizeof *p);
    if (!p) {
        json_decref(resp);
        return CX_ERR_NOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < cnt; i++) {
        const json_t *o = json_array_get(arr, i);
        if (!json_is_object(o) || !json_string_value(json_object_get(o, "identity")))
            continue;
        const json_t *perm = json_object_get(o, "permission");
        p[k].identity = _dup_str(json_object_get(o, "identity"));
        p[k].name = _dup_str(json_object_get(o, "name"));
        p[k].sid = _dup_str(json_object_get(o, "sid"));
        p[k].joined_at = cx_lk_int(cx_lk_get(o, "joined_at", "joinedAt"));
        p[k].hidden = json_is_true(json_object_get(perm, "hidden"));
        p[k].egress = _is_egress(json_object_get(o, "kind"));
        _tracks(o, &p[k]);
        k++;
        if (!p[k - 1].identity || !p[k - 1].name || !p[k - 1].sid) {
            cx_lk_participants_free(p, k);
            json_decref(resp);
            return CX_ERR_NOMEM;
        }
    }
    json_decref(resp);
    *out = p;
    *n = k;
    return CX_OK;
}

void cx_lk_participants_free(cx_lk_participant *p, size_t n)
{
    if (!p)
        return;
    for (size_t i = 0; i < n; i++) {
        free(p[i].identity);
        free(p[i].name);
        free(p[i].sid);
    }
    free(p);
}
