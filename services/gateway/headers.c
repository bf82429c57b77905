/* headers: pure, bounded parsers for client-supplied header values. */
#include "headers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool gw_request_id_valid(const char *s)
{
    if (!s)
        return false;
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n >= GW_RID_MAX || c <= 0x20 || c >= 0x7f || c == '"' || c == '\\')
            return false;
    }
    return n > 0;
}

/* RFC 6265 cookie-octet. */
static bool _cookie_octet(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a) ||
           (c >= 0x3c && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

bool gw_cookie_value_ok(const char *s)
{
    if (!s)
        return false;
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= GW_COOKIE_MAX || !_cookie_octet((unsigned char)s[n]))
            return false;
    return n > 0;
}

int gw_cookie_get(const char *header, const char *name, char *out, size_t cap)
{
    if (!header || !name || cap == 0)
        return -1;
    size_t nlen = strlen(name);
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *k = p;
        while (*p && *p != '=' && *p != ';')
            p++;
        size_t klen = (size_t)(p - k);
        while (klen && (k[klen - 1] == ' ' || k[klen - 1] == '\t'))
            klen--;
        if (*p != '=') /* a bare token without value */
            continue;
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        const char *v = p;
        while (*p && *p != ';')
            p++;
        size_t vlen = (size_t)(p - v);
        while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
            vlen--;
        if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
            v++;
            vlen -= 2;
        }
        if (klen != nlen || strncmp(k, name, nlen) != 0)
            continue;
        if (vlen == 0 || vlen >= cap)
            return -1;
        for (size_t i = 0; i < vlen; i++)
            if (!_cookie_octet((unsigned char)v[i]))
                return -1;
        memcpy(out, v, vlen);
        out[vlen] = '\0';
        return (int)vlen;
    }
    return -1;
}

/* Parses one address candidate of length n into canonical text. */
static bool _ip_canon(const char *s, size_t n, char out[GW_IP_MAX])
{
    char buf[GW_IP_MAX + 2];
    if (n == 0 || n >= sizeof(buf))
        return false;
    /* "[v6]" and "[v6]:port" forms */
    if (s[0] == '[') {
        const char *e = memchr(s, ']', n);
        if (!e)
            return false;
        s++;
        n = (size_t)(e - s);
        if (n == 0 || n >= sizeof(buf))
            return false;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    unsigned char bin[16];
    if (inet_pton(AF_INET, buf, bin) == 1)
        return inet_ntop(AF_INET, bin, out, GW_IP_MAX) != NULL;
    if (inet_pton(AF_INET6, buf, bin) == 1)
        return inet_ntop(AF_INET6, bin, out, GW_IP_MAX) != NULL;
    /* "a.b.c.d:port" */
    char *colon = strchr(buf, ':');
    if (colon && !strchr(colon + 1, ':')) {
        *colon = '\0';
        if (inet_pton(AF_INET, buf, bin) == 1)
            return inet_ntop(AF_INET, bin, out, GW_IP_MAX) != NULL;
    }
    return false;
}

bool gw_xff_client(const char *xff, char out[GW_IP_MAX])
{
    if (!xff)
        return false;
    size_t len = strnlen(xff, 4096);
    if (len >= 4096)
        return false;
    size_t end = len;
    while (end > 0) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        size_t a = start, b = end;
        while (a < b && (xff[a] == ' ' || xff[a] == '\t'))
            a++;
        while (b > a && (xff[b - 1] == ' ' || xff[b - 1] == '\t'))
            b--;
        if (_ip_canon(xff + a, b - a, out))
            return true;
        end = start ? start - 1 : 0;
    }
    return false;
}

bool gw_ctype_is(const char *ct, const char *want)
{
    if (!ct)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = 0;
    while (ct[n] && ct[n] != ';' && ct[n] != ' ' && ct[n] != '\t')
        n++;
    size_t i = n;
    while (ct[i] == ' ' || ct[i] == '\t')
        i++;
    if (ct[i] != '\0' && ct[i] != ';')
        return false;
    return n == strlen(want) && strncasecmp(ct, want, n) == 0;
}

bool gw_header_value_ok(const char *s, size_t max)
{
    if (!s)
        return false;
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n >= max || (c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

cx_status gw_auth_unusable_status(const char *authorization)
{
    if (authorization && strncmp(authorization, "Bearer ", 7) == 0)
        return CX_ERR_INVALID_TOKEN;
    return CX_ERR_INVALID_AUTH;
}

void gw_header_sanitize(const char *s, char *out, size_t cap)
{
    size_t i = 0;
    if (cap == 0)
        return;
    for (; s && s[i] && i + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    out[i] = '\0';
}

/* Strict decimal int32: optional '-', digits only, no overflow. */
static bool _parse_i32(const char *s, int32_t *out)
{
    if (!s || !*s || strlen(s) > 12)
        return false;
    const char *p = s;
    if (*p == '-')
        p++;
    if (!*p)
        return false;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return false;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < INT32_MIN || v > INT32_MAX)
        return false;
    *out = (int32_t)v;
    return true;
}

static void _query_bad(gw_query *q, const char *field, const char *rule)
{
    if (!q->bad_field) {
        q->bad_field = field;
        q->bad_rule = rule;
    }
}

void gw_query_apply(gw_query *q, const char *key, const char *value)
{
    if (!key || !value || !*value)
        return;
    if (strcmp(key, "limit") == 0) {
        if (_parse_i32(value, &q->limit))
            q->has_limit = true;
        else
            _query_bad(q, "limit", "integer");
    } else if (strcmp(key, "offset") == 0) {
        if (_parse_i32(value, &q->offset))
            q->has_offset = true;
        else
            _query_bad(q, "offset", "integer");
    } else if (strcmp(key, "status") == 0) {
        size_t n = strlen(value);
        if (n > GW_STATUS_MAX || !gw_header_value_ok(value, GW_STATUS_MAX)) {
            _query_bad(q, "status", "max");
            return;
        }
        memcpy(q->status, value, n + 1);
        q->has_status = true;
    }
}
