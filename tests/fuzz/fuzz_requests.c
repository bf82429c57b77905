// CX_FUZZ_SOURCES: services/auth/validate.c services/auth/acct_validate.c services/rooms/store.c services/rooms/reply.c services/rooms/presence.c services/rooms/validate.c services/rooms/code.c services/rooms/manage.c services/rooms/account_deleted.c services/rooms/chat_store.c services/rooms/listen.c services/rooms/access.c services/rooms/policy.c services/rooms/gate_store.c services/rooms/waiting_store.c services/rooms/admit.c services/media/join.c services/media/cache.c services/media/start.c services/media/admit.c services/media/presence.c services/media/seats.c services/webhook/verify.c services/webhook/event.c services/gateway/routes.c
/* fuzz_requests.c: libFuzzer target for every service's request decoding.
 *
 * Built by tests/fuzz/run.sh (CMake -DCX_FUZZ=ON links the sources named on
 * the first line). Each input is decoded, as protobuf binary AND as JSON,
 * into every request message the services accept (RegisterRequest,
 * LoginRequest, RefreshRequest, LogoutRequest, Empty, CreateRoomRequest,
 * ListRoomsRequest, RoomRef, JoinRequest, WebhookRequest, and the account
 * messages UpdateProfileRequest, Settings, CreateVideoProfileRequest,
 * UpdateVideoProfileRequest, ChangePasswordRequest, DeleteAccountRequest),
 * exactly as the
 * cx_service runtime does before a handler runs. Whatever decodes is
 *  - checked: every string field is valid UTF-8 (the decoders promise it:
 *    strings go to JSON, logs and Postgres);
 *  - re-encoded to JSON and decoded again (must succeed);
 *  - handed to the services' pure validation code, whose verdict is compared
 *    with an independent oracle written here from shared/API.md:
 *      auth:    auth_validate_register / auth_validate_login,
 *               auth_refresh_wellformed;
 *      account: the https URL rule (avatar, background image), the
 *               enumerations of settings and video profiles, the profile
 *               name rule (acct_validate.c);
 *      rooms:   the create/list validators (handlers.c is #included so its
 *               file-static validators are reachable), rooms.get on a
 *               non-UUID id (answered without Postgres);
 *      media:   media.join on a non-UUID id (user_name rule, then 404);
 *      webhook: content type, signature (never valid for fuzzed bytes),
 *               event parser;
 *      gateway: route matching of /rooms/{id} agrees with the services'
 *               UUID rule.
 * Any disagreement aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cx_crypto.h"
#include "calixio/v1/account.pb-c.h"
#include "calixio/v1/auth.pb-c.h"
#include "calixio/v1/common.pb-c.h"
#include "calixio/v1/media.pb-c.h"
#include "calixio/v1/rooms.pb-c.h"
#include "calixio/v1/webhook.pb-c.h"
#include "cx_json.h"
#include "cx_text.h"
#include "cx_service.h"

#include "../../services/auth/account.h"
#include "../../services/auth/auth.h"
#include "../../services/gateway/routes.h"
#include "../../services/media/media.h"
#include "../../services/webhook/webhook.h"
/* rooms: the validators are file-static; include the file to reach them
 * (rooms' handlers.c is therefore not in CX_FUZZ_SOURCES). */
#include "../../services/rooms/handlers.c"

#define D(x) (&calixio__v1__##x##__descriptor)

static const ProtobufCMessageDescriptor *const _types[] = {
    D(register_request),
    D(login_request),
    D(refresh_request),
    D(logout_request),
    D(empty),
    D(create_room_request),
    D(list_rooms_request),
    D(room_ref),
    D(join_request),
    D(webhook_request),
    D(update_profile_request),
    D(settings),
    D(create_video_profile_request),
    D(update_video_profile_request),
    D(change_password_request),
    D(delete_account_request),
};

static media_cache *_cache; /* over no Postgres: only non-UUID ids reach it */

static void _die(const char *what, const ProtobufCMessage *m)
{
    char *txt = m ? cx_json_encode(m, NULL) : NULL;
    fprintf(stderr, "fuzz_requests: %s\n  message: %s\n", what, txt ? txt : "(none)");
    free(txt);
    abort();
}

/* Code points of s, or (size_t)-1 when it is not UTF-8. */
static size_t _cps(const char *s)
{
    size_t n = 0;
    if (!auth_utf8_count(s, strlen(s), &n))
        return (size_t)-1;
    return n;
}

/* Every string field of m (all request fields are optional scalars) must
 * be UTF-8: both decoders promise it. */
static void _check_strings(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
            continue;
        const char *s = *(char *const *)(const void *)((const char *)m + f->offset);
        if (s && _cps(s) == (size_t)-1)
            _die("a decoded string field is not UTF-8", m);
    }
}

static void _check_req(const cx_req *req, cx_status s, const ProtobufCMessage *m)
{
    if (req->n_fields < 0 || req->n_fields > CX_REQ_MAX_FIELDS)
        _die("field error count out of range", m);
    if (s == CX_ERR_VALIDATION && req->n_fields == 0)
        _die("validation failure without a field", m);
    if (s == CX_OK && req->n_fields != 0)
        _die("success with field errors", m);
    if (req->n_fields > 0) {
        char want[96];
        snprintf(want, sizeof want, "%s_%s", req->fields[0].field, req->fields[0].rule);
        if (strcmp(req->reason, want) != 0)
            _die("reason is not <first field>_<rule>", m);
    }
}

static bool _space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Trimmed lower-case copy of e (what auth stores), or false when too long. */
static bool _norm_email(const char *e, char *out, size_t cap)
{
    const char *b = e, *x = e + strlen(e);
    while (b < x && _space(*b))
        b++;
    while (x > b && _space(x[-1]))
        x--;
    if ((size_t)(x - b) >= cap)
        return false;
    size_t n = 0;
    for (; b < x; b++)
        out[n++] = (*b >= 'A' && *b <= 'Z') ? (char)(*b - 'A' + 'a') : *b;
    out[n] = '\0';
    return true;
}

/* Independent check of an accepted visible name: no ASCII space at either
 * end, no C0/DEL byte, no C1 (C2 80..9F) and none of the bidi formatting
 * characters (U+202A..202E, U+2066..2069, U+200E/F, U+061C) by their
 * UTF-8 bytes. */
static bool _visible_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || _space(s[0]) || _space(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i], d = i + 1 < n ? (unsigned char)s[i + 1] : 0,
                      e = i + 2 < n ? (unsigned char)s[i + 2] : 0;
        if (c < 0x20 || c == 0x7F || (c == 0xC2 && d >= 0x80 && d <= 0x9F) ||
            (c == 0xD8 && d == 0x9C) ||
            (c == 0xE2 && d == 0x80 && ((e >= 0xAA && e <= 0xAE) || e == 0x8E || e == 0x8F)) ||
            (c == 0xE2 && d == 0x81 && e >= 0xA6 && e <= 0xA9))
            return false;
    }
    return true;
}

static void _auth_register(const Calixio__V1__RegisterRequest *in)
{
    cx_req req = {0};
    char email[AUTH_EMAIL_MAX + 1], name[AUTH_NAME_MAX_BYTES + 1];
    cx_status s = auth_validate_register(&req, in->name, in->email, in->password, name, email);
    _check_req(&req, s, &in->base);
    if (s != CX_OK && s != CX_ERR_VALIDATION)
        _die("register validation: unexpected status", &in->base);
    if (s != CX_OK)
        return;
    /* accepted: the API's rules must hold */
    size_t nc = _cps(name), pl = strlen(in->password);
    if (!_visible_name_ok(name) || nc < 1 || nc > 64 || !strstr(in->name, name))
        _die("register accepted a bad name", &in->base);
    if (pl < AUTH_PASSWORD_MIN || pl > AUTH_PASSWORD_MAX)
        _die("register accepted a bad password length", &in->base);
    char want[AUTH_EMAIL_MAX + 2];
    if (!_norm_email(in->email, want, sizeof want) || strcmp(want, email) != 0)
        _die("register: stored email is not the trimmed lower-case input", &in->base);
    const char *at = strchr(email, '@');
    if (!at || strchr(at + 1, '@') || at == email || !strchr(at + 1, '.') ||
        strpbrk(email, " \"\\;<>,()[]") || strlen(email) > AUTH_EMAIL_MAX)
        _die("register accepted a malformed email", &in->base);
}

static void _auth_login(const Calixio__V1__LoginRequest *in)
{
    cx_req req = {0};
    char email[AUTH_EMAIL_MAX + 1];
    cx_status s = auth_validate_login(&req, in->email, in->password, email);
    _check_req(&req, s, &in->base);
    if (s != CX_OK && s != CX_ERR_VALIDATION)
        _die("login validation: unexpected status", &in->base);
    bool ok = in->password && in->password[0] && strlen(in->password) <= AUTH_PASSWORD_MAX;
    char want[AUTH_EMAIL_MAX + 2];
    ok = ok && in->email && _norm_email(in->email, want, sizeof want) && want[0] &&
         strlen(want) <= AUTH_EMAIL_MAX;
    if (ok != (s == CX_OK))
        _die("login validation disagrees with the rules", &in->base);
    if (s == CX_OK && strcmp(want, email) != 0)
        _die("login: normalised email differs", &in->base);
}

static void _auth_token(const char *t, const ProtobufCMessage *m)
{
    bool wf = auth_refresh_wellformed(t);
    if (!t) {
        if (wf)
            _die("NULL refresh token well-formed", m);
        return;
    }
    bool want = strlen(t) == AUTH_REFRESH_LEN &&
                strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
                    AUTH_REFRESH_LEN;
    if (wf != want)
        _die("refresh token shape check disagrees", m);
    char san[64];
    auth_sanitize(t, san, sizeof san);
    for (const char *p = san; *p; p++)
        if (*p < 0x20 || *p >= 0x7F)
            _die("auth_sanitize left a control byte", m);
}

static void _rooms_create(const Calixio__V1__CreateRoomRequest *in)
{
    cx_req req = {0};
    char name[ROOMS_NAME_MAX_CHARS * 4 + 1];
    cx_status s = _validate_create(&req, in, name);
    _check_req(&req, s, &in->base);
    bool ok = true;
    if (in->name && s == CX_OK) {
        size_t n = _cps(name);
        if (!_visible_name_ok(name) || n < ROOMS_NAME_MIN_CHARS || n > ROOMS_NAME_MAX_CHARS ||
            !strstr(in->name, name))
            _die("rooms.create accepted a bad name", &in->base);
    }
    if (in->name && s != CX_OK && req.n_fields > 0 && strcmp(req.fields[0].field, "name") == 0)
        ok = false; /* refused for its name: checked by cx_text's unit test */
    if (in->has_max_participants)
        ok = ok && in->max_participants >= 1 && in->max_participants <= 500;
    if (in->has_empty_timeout)
        ok = ok && in->empty_timeout >= 1 && in->empty_timeout <= ROOMS_EMPTY_TIMEOUT_MAX_S;
    if (in->metadata)
        ok = ok && strlen(in->metadata) <= ROOMS_METADATA_MAX;
    if (ok != (s == CX_OK))
        _die("rooms.create validation disagrees with the rules", &in->base);
    /* without a valid caller the handler refuses before any I/O */
    cx_req anon = {0};
    rooms_ctx ctx = {0};
    ProtobufCMessage *out = NULL;
    if (rooms_h_create(&anon, &in->base, &out, &ctx) != CX_ERR_INVALID_TOKEN || out)
        _die("rooms.create without a caller did not fail with invalid_token", &in->base);
}

static void _rooms_list(const Calixio__V1__ListRoomsRequest *in)
{
    cx_req req = {0};
    const char *status = NULL;
    cx_status s = _validate_list(&req, in, &status);
    _check_req(&req, s, &in->base);
    bool ok = true;
    if (in->has_limit)
        ok = ok && in->limit >= 1 && in->limit <= ROOMS_LIST_MAX;
    if (in->has_offset)
        ok = ok && in->offset >= 0;
    bool st = in->status && in->status[0];
    if (st)
        ok = ok && (!strcmp(in->status, "pending") || !strcmp(in->status, "active") ||
                    !strcmp(in->status, "ended"));
    if (ok != (s == CX_OK))
        _die("rooms.list validation disagrees with the rules", &in->base);
    if (s == CX_OK && (st ? status != in->status : status != NULL))
        _die("rooms.list status filter wrong", &in->base);
}

/* The gateway's router and the services (cx_uuid_valid) must agree on what
 * a room id is. */
static bool _uuid_agree(const char *id, const ProtobufCMessage *m)
{
    bool r = cx_uuid_valid_str(id);
    if (id && strlen(id) < 900 && !strpbrk(id, "/?#%") && id[0]) {
        char path[1024];
        gw_match gm;
        snprintf(path, sizeof path, "/rooms/%s", id);
        gw_match_rc rc = gw_route_match("GET", path, &gm);
        bool get = rc == GW_MATCH_OK && gm.route >= 0 &&
                   strcmp(gw_routes[gm.route].pattern, "/rooms/{id}") == 0;
        if (get != r)
            _die("gateway and services disagree on a room id", m);
    }
    return r;
}

static void _rooms_ref(const Calixio__V1__RoomRef *in)
{
    if (_uuid_agree(in->id, &in->base))
        return; /* a real id needs Postgres */
    cx_req req = {0};
    rooms_ctx ctx = {0};
    ProtobufCMessage *out = NULL;
    if (rooms_h_get(&req, &in->base, &out, &ctx) != CX_ERR_ROOM_NOT_FOUND || out)
        _die("rooms.get of a non-UUID id is not room_not_found", &in->base);
}

/* True when code (any case, dashes anywhere) is ten letters: a lookup by
 * code then needs Postgres. */
static bool _code_like(const char *code)
{
    size_t k = 0;
    for (const char *p = code; *p; p++) {
        if (*p == '-')
            continue;
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return false;
        k++;
    }
    return k == 10;
}

static void _media_join(const Calixio__V1__JoinRequest *in)
{
    if (_uuid_agree(in->id, &in->base))
        return; /* a real id needs Postgres */
    if (in->code && !in->id && _code_like(in->code))
        return; /* so does a well-formed meeting code */
    cx_req req = {0};
    media_ctx ctx = {.cache = _cache,
                     .api_key = "devkey",
                     .api_secret = "secret",
                     .public_url = "ws://127.0.0.1:7880",
                     .token_ttl_s = 600};
    ProtobufCMessage *out = NULL;
    cx_status s = media_h_join(&req, &in->base, &out, &ctx);
    _check_req(&req, s, &in->base);
    if (out)
        _die("media.join answered for a non-UUID room", &in->base);
    /* the name rule is cx_text's (its unit test covers it) */
    bool name_ok = !in->user_name ||
                   cx_text_check(in->user_name, CX_TEXT_NAME, 1, MEDIA_USER_NAME_MAX_CHARS,
                                 NULL, NULL) == CX_TEXT_OK;
    /* user_name first, then exactly one of id and code (issue 16) */
    cx_status want = !name_ok             ? CX_ERR_VALIDATION
                     : in->code && in->id ? CX_ERR_INVALID_JSON
                                          : CX_ERR_ROOM_NOT_FOUND;
    if (s != want)
        _die("media.join status disagrees with the rules", &in->base);
    if (in->user_name && s == CX_ERR_ROOM_NOT_FOUND) {
        size_t n = _cps(in->user_name);
        if (n > MEDIA_USER_NAME_MAX_CHARS + 64)
            _die("media.join accepted a far too long user_name", &in->base);
    }
}

static void _webhook(const Calixio__V1__WebhookRequest *in)
{
    static const wh_keys keys = {"devkey", "secret"};
    (void)wh_check_content_type(in->content_type);
    const uint8_t *body = in->has_body ? in->body.data : (const uint8_t *)"";
    size_t len = in->has_body ? in->body.len : 0;
    const char *why = NULL;
    /* 1800000000: after every expiry in the seed corpus */
    if (in->authorization &&
        wh_verify(in->authorization, body, len, &keys, 1800000000LL, 30, &why) == CX_OK)
        _die("a fuzzed webhook signature verified", &in->base);
    wh_event ev = {0};
    char err[160];
    if (wh_event_parse(body, len, &ev, err, sizeof err) == CX_OK) {
        if (!ev.event || !ev.event[0] || !ev.room_name || !ev.id)
            _die("parsed event misses mandatory strings", &in->base);
        wh_event_free(&ev);
    }
}

/* ---- account ---------------------------------------------------------------- */

/* The https URL rule from API-ROOMS.md, written again: "https://", a host
 * (no userinfo, not starting with ':' or '.'), at most 512 bytes, no
 * whitespace, control bytes or backslash. */
static bool _url_oracle(const char *u)
{
    size_t n = strlen(u);
    if (n > 512 || n <= 8)
        return false;
    for (size_t i = 0; i < 8; i++)
        if ((u[i] | (i < 5 ? 0x20 : 0)) != "https://"[i])
            return false;
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7F || *p == '\\')
            return false;
    const char *h = u + 8;
    size_t hn = 0;
    while (h[hn] && h[hn] != '/' && h[hn] != '?' && h[hn] != '#') {
        if (h[hn] == '@')
            return false;
        hn++;
    }
    return hn > 0 && h[0] != ':' && h[0] != '.';
}

static void _check_url(const char *field, const char *u, const ProtobufCMessage *m)
{
    cx_req req = {0};
    cx_status s = acct_validate_url(&req, field, u, true);
    _check_req(&req, s, m);
    bool want = !u || !*u || _url_oracle(u);
    if ((s == CX_OK) != want)
        _die("the https URL rule disagrees", m);
    if (s == CX_OK && u && *u && strncasecmp(u, "https://", 8) != 0)
        _die("a non-https URL accepted", m);
}

static void _check_oneof(const char *field, const char *v, const char *const *set,
                         const ProtobufCMessage *m)
{
    cx_req req = {0};
    cx_status s = acct_validate_oneof(&req, field, v, set);
    _check_req(&req, s, m);
    bool in = !v;
    for (const char *const *a = set; v && *a; a++)
        in |= strcmp(*a, v) == 0;
    if ((s == CX_OK) != in)
        _die("an enumeration check disagrees", m);
}

static void _check_pname(const char *v, const ProtobufCMessage *m)
{
    cx_req req = {0};
    cx_status s = acct_validate_profile_name(&req, "name", v);
    _check_req(&req, s, m);
    bool content = false;
    for (const char *p = v; p && *p; p++)
        content |= !_space(*p);
    size_t n = v ? _cps(v) : 0;
    if ((s == CX_OK) != (content && n >= 1 && n <= 40))
        _die("the video profile name rule disagrees", m);
}

static void _account(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    if (d == D(update_profile_request)) {
        const Calixio__V1__UpdateProfileRequest *in = (const void *)m;
        _check_url("avatar_url", in->avatar_url, m);
    } else if (d == D(settings)) {
        const Calixio__V1__Settings *in = (const void *)m;
        _check_oneof("video_quality", in->video_quality, acct_video_qualities, m);
        _check_oneof("theme", in->theme, acct_themes, m);
        _check_oneof("language", in->language, acct_languages, m);
        cx_req req = {0};
        cx_status s = acct_validate_bytes(&req, "camera_device_id", in->camera_device_id, 256);
        if ((s == CX_OK) != (!in->camera_device_id || strlen(in->camera_device_id) <= 256))
            _die("the device id bound disagrees", m);
    } else if (d == D(create_video_profile_request)) {
        const Calixio__V1__CreateVideoProfileRequest *in = (const void *)m;
        _check_pname(in->name, m);
        _check_oneof("background", in->background, acct_backgrounds, m);
        _check_oneof("noise_suppression", in->noise_suppression, acct_noise_levels, m);
        _check_url("background_image_url", in->background_image_url, m);
    } else if (d == D(update_video_profile_request)) {
        const Calixio__V1__UpdateVideoProfileRequest *in = (const void *)m;
        if (in->name)
            _check_pname(in->name, m);
        _check_url("background_image_url", in->background_image_url, m);
    } else if (d == D(change_password_request)) {
        const Calixio__V1__ChangePasswordRequest *in = (const void *)m;
        cx_req req = {0};
        cx_status s = auth_validate_password(&req, "new_password", in->new_password);
        _check_req(&req, s, m);
        size_t pl = in->new_password ? strlen(in->new_password) : 0;
        if ((s == CX_OK) != (pl >= AUTH_PASSWORD_MIN && pl <= AUTH_PASSWORD_MAX))
            _die("the new password rule disagrees", m);
    }
}

static void _dispatch(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    if (d == D(register_request))
        _auth_register((const void *)m);
    else if (d == D(login_request))
        _auth_login((const void *)m);
    else if (d == D(refresh_request))
        _auth_token(((const Calixio__V1__RefreshRequest *)(const void *)m)->refresh_token, m);
    else if (d == D(logout_request))
        _auth_token(((const Calixio__V1__LogoutRequest *)(const void *)m)->refresh_token, m);
    else if (d == D(create_room_request))
        _rooms_create((const void *)m);
    else if (d == D(list_rooms_request))
        _rooms_list((const void *)m);
    else if (d == D(room_ref))
        _rooms_ref((const void *)m);
    else if (d == D(join_request))
        _media_join((const void *)m);
    else if (d == D(webhook_request))
        _webhook((const void *)m);
    else
        _account(m);
}

static void _decoded(ProtobufCMessage *m)
{
    _check_strings(m);
    char *txt = cx_json_encode(m, NULL);
    ProtobufCMessage *again = NULL;
    char err[256];
    if (!txt ||
        cx_json_decode(m->descriptor, txt, strlen(txt), &again, err, sizeof err) != CX_OK)
        _die("the JSON encoding of a decoded request does not decode", m);
    free(txt);
    protobuf_c_message_free_unpacked(again, NULL);
    _dispatch(m);
    protobuf_c_message_free_unpacked(m, NULL);
}

int LLVMFuzzerInitialize(int *argc, char **argv[])
{
    (void)argc;
    (void)argv;
    if (sodium_init() < 0 || media_cache_create(&_cache, NULL, 1000) != CX_OK)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < sizeof _types / sizeof _types[0]; i++) {
        ProtobufCMessage *m = NULL;
        char err[256];
        if (cx_pb_unpack(_types[i], data, size, &m) == CX_OK)
            _decoded(m);
        m = NULL;
        if (cx_json_decode(_types[i], (const char *)data, size, &m, err, sizeof err) == CX_OK)
            _decoded(m);
    }
    return 0;
}
