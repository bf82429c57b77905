/* cx_natsconn.c: natsOptions from the NATS_* settings, in one place. */
#include "cx_natsconn.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx_denylist.h"
#include "cx_json.h"
#include "cx_log.h"

#define CX_NATS_MAX_SERVERS 32

static bool _set(const char *s)
{
    return s && *s;
}

void cx_natsconn_redact(const char *urls, char *buf, size_t cap)
{
    size_t o = 0;
    const char *p = urls ? urls : "";

    if (!cap)
        return;
    while (*p && o + 1 < cap) {
        /* one list element: [scheme://][userinfo@]host... up to ',' */
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *host = p;
        const char *scheme = strstr(p, "://");
        if (scheme && scheme < end)
            host = scheme + 3;
        const char *at = NULL;
        for (const char *q = host; q < end && *q != '/'; q++)
            if (*q == '@')
                at = q; /* the last '@' ends the userinfo */
        size_t head = (size_t)(host - p);
        const char *rest = at ? at + 1 : host;
        int n = snprintf(buf + o, cap - o, "%.*s%s%.*s", (int)head, p, at ? "***@" : "",
                         (int)(end - rest), rest);
        if (n < 0)
            break;
        o += (size_t)n < cap - o ? (size_t)n : cap - o - 1;
        p = end;
        if (*p == ',' && o + 1 < cap) {
            buf[o++] = ',';
            p++;
        } else if (*p == ',') {
            break;
        }
    }
    buf[o] = '\0';
}

const char *cx_natsconn_inbox_prefix(const char *name, char *buf, size_t cap)
{
    const char *n = name && *name ? name : "calixio";
    size_t room = cap > 8 ? cap - 8 : 0;
    if (cap)
        snprintf(buf, cap, "_INBOX.%.*s", (int)(strlen(n) < room ? strlen(n) : room), n);
    return buf;
}

/* ---- nkeys: base32 + crc16 (XMODEM), as the NATS nkeys format defines ---- */

static const char _b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static uint16_t _crc16(const unsigned char *d, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(d[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (uint16_t)((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

static int _b32_decode(const char *s, unsigned char *out, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (; *s; s++) {
        const char *c = strchr(_b32, *s);
        if (!c || !*s)
            return -1;
        acc = (acc << 5) | (uint32_t)(c - _b32);
        bits += 5;
        if (bits >= 8) {
            if (n >= cap)
                return -1;
            out[n++] = (unsigned char)(acc >> (bits - 8));
            bits -= 8;
        }
    }
    return (int)n;
}

static void _b32_encode(const unsigned char *d, size_t n, char *out)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | d[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = _b32[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = _b32[(acc << (5 - bits)) & 31];
    out[o] = '\0';
}

cx_status cx_natsconn_nkey_public(const char *seed, char *pub, size_t cap)
{
    enum { PREFIX_SEED = 18 << 3, PREFIX_USER = 20 << 3 };
    unsigned char raw[64], pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    unsigned char enc[35];
    cx_status st = CX_ERR_CONFIG;

    int n = seed ? _b32_decode(seed, raw, sizeof raw) : -1;
    if (n != 36 || cap < 57)
        goto out;
    uint16_t crc = (uint16_t)(raw[34] | (raw[35] << 8));
    if (_crc16(raw, 34) != crc || (raw[0] & 248) != PREFIX_SEED ||
        (((raw[0] & 7) << 5) | ((raw[1] & 248) >> 3)) != PREFIX_USER)
        goto out;
    if (crypto_sign_seed_keypair(pk, sk, raw + 2) != 0)
        goto out;
    enc[0] = PREFIX_USER;
    memcpy(enc + 1, pk, 32);
    crc = _crc16(enc, 33);
    enc[33] = (unsigned char)(crc & 0xff);
    enc[34] = (unsigned char)(crc >> 8);
    _b32_encode(enc, sizeof enc, pub);
    st = CX_OK;
out:
    sodium_memzero(raw, sizeof raw);
    sodium_memzero(sk, sizeof sk);
    return st;
}

/* Reads the first non-empty line of a seed file (or the seed block of a
 * creds-style file) into buf. */
static cx_status _read_seed(const char *path, char *buf, size_t cap)
{
    char line[256];
    cx_status st = CX_ERR_CONFIG;
    FILE *f = fopen(path, "r");
    if (!f)
        return CX_ERR_CONFIG;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *t = line;
        while (*t == ' ' || *t == '\t')
            t++;
        size_t len = strlen(t);
        if (t[0] == 'S' && t[1] == 'U' && len < cap) {
            memcpy(buf, t, len + 1);
            st = CX_OK;
            break;
        }
    }
    sodium_memzero(line, sizeof line);
    fclose(f);
    return st;
}

/* ---- connection callbacks ---------------------------------------------- */

static atomic_uint_fast64_t _gaps;

uint64_t cx_natsconn_gaps(void)
{
    return (uint64_t)atomic_load(&_gaps);
}

static void _on_disconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    atomic_fetch_add(&_gaps, 1);
    cx_denylist_invalidate(); /* pushed revocations may be missed from now */
    cx_log_warn(NULL, "nats: disconnected (%s)", (const char *)closure);
}

static void _on_reconnected(natsConnection *nc, void *closure)
{
    char url[256] = "", safe[256];
    natsConnection_GetConnectedUrl(nc, url, sizeof url);
    cx_natsconn_redact(url, safe, sizeof safe);
    sodium_memzero(url, sizeof url);
    atomic_fetch_add(&_gaps, 1);
    cx_denylist_invalidate(); /* reload what was pushed while away */
    cx_log_info(NULL, "nats: reconnected to %s (%s)", safe, (const char *)closure);
}

static void _on_nats_error(natsConnection *nc, natsSubscription *sub, natsStatus err,
                           void *closure)
{
    const char *subj = sub ? natsSubscription_GetSubject(sub) : NULL;
    const char *last = NULL;
    (void)nc;
    if (err == NATS_NOT_PERMITTED)
        natsConnection_GetLastError(nc, &last);
    if (err == NATS_SLOW_CONSUMER)
        atomic_fetch_add(&_gaps, 1); /* some pushed message was dropped */
    if (err == NATS_SLOW_CONSUMER && subj && strstr(subj, CX_DENYLIST_EVENT))
        cx_denylist_invalidate(); /* a dropped message may be a revocation */
    cx_log_error(NULL, "nats: async error: %s%s%s%s%s (%s)", natsStatus_GetText(err),
                 subj ? " on " : "", subj ? subj : "", last ? ": " : "", last ? last : "",
                 (const char *)closure);
}

/* Returns a copy of name that lives as long as the process. libnats calls
 * the connection callbacks on its own thread, possibly after the object
 * that created the connection was freed, so their closure must not point
 * into it. A handful of names per process at most. */
static const char *_intern(const char *name)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static char names[16][80];
    static int n;
    const char *r = "calixio";
    pthread_mutex_lock(&mu);
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i], name) == 0) {
            r = names[i];
            goto out;
        }
    }
    if (n < 16) {
        snprintf(names[n], sizeof names[n], "%s", name);
        r = names[n++];
    }
out:
    pthread_mutex_unlock(&mu);
    return r;
}

static cx_status _fail(const char *var, const char *what)
{
    cx_log_error(NULL, "config: %s: %s", var, what);
    return CX_ERR_CONFIG;
}

static cx_status _set_credentials(natsOptions *o, const cx_natsconn_cfg *c)
{
    int kinds = _set(c->user) + _set(c->nkey_seed_file) + _set(c->creds);
    natsStatus ns = NATS_OK;

    if (kinds > 1)
        return _fail("NATS_USER", "set only one of NATS_USER, NATS_NKEY_SEED_FILE, NATS_CREDS");
    if (_set(c->password) && !_set(c->user))
        return _fail("NATS_PASSWORD", "set without NATS_USER");
    if (_set(c->user))
        ns = natsOptions_SetUserInfo(o, c->user, c->password ? c->password : "");
    if (_set(c->nkey_seed_file)) {
        char seed[128], pub[64];
        cx_status st = _read_seed(c->nkey_seed_file, seed, sizeof seed);
        if (st == CX_OK)
            st = cx_natsconn_nkey_public(seed, pub, sizeof pub);
        sodium_memzero(seed, sizeof seed);
        if (st != CX_OK)
            return _fail("NATS_NKEY_SEED_FILE", "no valid user nkey seed (SU...) in the file");
        ns = natsOptions_SetNKeyFromSeed(o, pub, c->nkey_seed_file);
    }
    if (_set(c->creds))
        ns = natsOptions_SetUserCredentialsFromFiles(o, c->creds, NULL);
    if (ns != NATS_OK)
        return _fail(_set(c->creds) ? "NATS_CREDS" : "NATS_USER", natsStatus_GetText(ns));
    return CX_OK;
}

static cx_status _set_tls(natsOptions *o, const cx_natsconn_cfg *c)
{
    natsStatus ns = NATS_OK;
    bool tls = _set(c->tls_ca) || _set(c->tls_cert);

    if (_set(c->tls_cert) != _set(c->tls_key))
        return _fail("NATS_TLS_CERT", "NATS_TLS_CERT and NATS_TLS_KEY go together");
    if (!tls)
        return CX_OK;
    ns = natsOptions_SetSecure(o, true);
    if (ns == NATS_OK && _set(c->tls_ca))
        ns = natsOptions_LoadCATrustedCertificates(o, c->tls_ca);
    if (ns != NATS_OK)
        return _fail("NATS_TLS_CA", natsStatus_GetText(ns));
    if (_set(c->tls_cert))
        ns = natsOptions_LoadCertificatesChain(o, c->tls_cert, c->tls_key);
    if (ns != NATS_OK)
        return _fail("NATS_TLS_CERT", natsStatus_GetText(ns));
    return CX_OK;
}

static int _split_servers(char *copy, const char **servers)
{
    int n = 0;
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t && n < CX_NATS_MAX_SERVERS;
         t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        if (*t)
            servers[n++] = t;
    }
    return n;
}

cx_status cx_natsconn_options(natsOptions **out, const cx_natsconn_cfg *c, const char *name)
{
    natsOptions *o = NULL;
    const char *servers[CX_NATS_MAX_SERVERS];
    char inbox[128];
    cx_status st = CX_ERR_CONFIG;
    char *copy = strdup(c && c->url ? c->url : "");

    if (!copy)
        return CX_ERR_NOMEM;
    if (natsOptions_Create(&o) != NATS_OK) {
        st = CX_ERR_NOMEM;
        goto out_free;
    }
    name = _intern(name ? name : "calixio");
    int n = _split_servers(copy, servers);
    if (n == 0) {
        st = _fail("NATS_URL", "no server URL");
        goto out_free;
    }
    natsStatus ns = natsOptions_SetServers(o, servers, n);
    if (ns == NATS_OK)
        ns = natsOptions_SetName(o, name);
    if (ns == NATS_OK)
        ns = natsOptions_SetCustomInboxPrefix(o, cx_natsconn_inbox_prefix(name, inbox,
                                                                          sizeof inbox));
    if (ns == NATS_OK)
        ns = natsOptions_SetMaxReconnect(o, -1);
    if (ns == NATS_OK)
        ns = natsOptions_SetReconnectWait(o, 250);
    if (ns == NATS_OK)
        ns = natsOptions_SetSendAsap(o, true);
    if (ns == NATS_OK)
        ns = natsOptions_SetTimeout(o, 2000);
    if (ns == NATS_OK)
        ns = natsOptions_SetPingInterval(o, 5000);
    if (ns == NATS_OK)
        ns = natsOptions_SetMaxPingsOut(o, 2);
    if (ns == NATS_OK)
        ns = natsOptions_SetRetryOnFailedConnect(o, true, NULL, NULL);
    if (ns == NATS_OK)
        ns = natsOptions_SetDisconnectedCB(o, _on_disconnected, (void *)name);
    if (ns == NATS_OK)
        ns = natsOptions_SetReconnectedCB(o, _on_reconnected, (void *)name);
    if (ns == NATS_OK)
        ns = natsOptions_SetErrorHandler(o, _on_nats_error, (void *)name);
    if (ns != NATS_OK) {
        st = _fail("NATS_URL", natsStatus_GetText(ns));
        goto out_free;
    }
    st = _set_credentials(o, c);
    if (st == CX_OK)
        st = _set_tls(o, c);
    if (st != CX_OK)
        goto out_free;
    free(copy);
    *out = o;
    return CX_OK;
out_free:
    free(copy);
    natsOptions_Destroy(o);
    return st;
}

cx_status cx_natsconn_open(natsConnection **nc, natsOptions **opts, const cx_natsconn_cfg *c,
                           const char *name)
{
    natsOptions *o = NULL;
    natsConnection *conn = NULL;
    char safe[512];
    cx_status st = cx_natsconn_options(&o, c, name);

    if (st != CX_OK)
        return st;
    cx_natsconn_redact(c->url, safe, sizeof safe);
    cx_log_info(NULL, "nats: connecting to %s (%s)", safe, name);
    natsStatus ns = natsConnection_Connect(&conn, o);
    if (ns == NATS_NOT_YET_CONNECTED) {
        cx_log_warn(NULL, "nats: %s not reachable yet, retrying in the background", safe);
    } else if (ns != NATS_OK) {
        natsConnection_Destroy(conn);
        natsOptions_Destroy(o);
        cx_log_error(NULL, "nats: connect to %s failed: %s", safe, natsStatus_GetText(ns));
        return CX_ERR_UNAVAILABLE;
    }
    *nc = conn;
    *opts = o;
    return CX_OK;
}

cx_status cx_natsmsg_unpack(const ProtobufCMessageDescriptor *d, natsMsg *msg, const char *what,
                            ProtobufCMessage **out)
{
    cx_status s = cx_pb_unpack(d, (const uint8_t *)natsMsg_GetData(msg),
                               (size_t)natsMsg_GetDataLength(msg), out);
    if (s != CX_OK) {
        cx_log_warn(NULL, "%s: undecodable %s ignored", natsMsg_GetSubject(msg), what);
        return CX_ERR_BAD_REQUEST;
    }
    return CX_OK;
}
