/* Input rules of the auth daemon (see auth.h). Pure functions: no I/O. */
#include <string.h>

#include "auth.h"
#include "cx_text.h"

bool auth_utf8_count(const char *s, size_t len, size_t *chars)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, n = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t extra;
        unsigned int cp;
        if (c < 0x80) {
            i++;
            n++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            extra = 1;
            cp = c & 0x1Fu;
        } else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2;
            cp = c & 0x0Fu;
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3;
            cp = c & 0x07u;
        } else {
            return false;
        }
        if (len - i <= extra)
            return false;
        for (size_t k = 1; k <= extra; k++) {
            if ((p[i + k] & 0xC0u) != 0x80u)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3Fu);
        }
        /* Overlong forms, surrogates and values above U+10FFFF. */
        if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += extra + 1;
        n++;
    }
    if (chars)
        *chars = n;
    return true;
}

static bool _is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Trims ASCII whitespace and lower-cases ASCII letters into out. Returns
 * the result's length, or AUTH_EMAIL_MAX + 1 when it would not fit (out is
 * then empty). */
static size_t _normalise_email(const char *in, char out[AUTH_EMAIL_MAX + 1])
{
    const char *b = in, *e = in + strlen(in);
    while (b < e && _is_space(*b))
        b++;
    while (e > b && _is_space(e[-1]))
        e--;
    size_t n = (size_t)(e - b);
    out[0] = '\0';
    if (n > AUTH_EMAIL_MAX)
        return AUTH_EMAIL_MAX + 1;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[n] = '\0';
    return n;
}

/* One DNS label: 1..63 bytes of letters, digits, '-' or non-ASCII (IDN in
 * UTF-8), not starting or ending with '-'. */
static bool _label_ok(const char *l, size_t n)
{
    if (n < 1 || n > 63 || l[0] == '-' || l[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)l[i];
        if (!(c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

/* A deliberately simple check of a normalised address: local@domain.tld,
 * one '@', a printable local part of 1..64 bytes without the characters
 * that need quoting, and a domain of at least two valid labels whose last
 * has two or more characters. */
static bool _email_ok(const char *e, size_t n)
{
    if (!auth_utf8_count(e, n, NULL))
        return false;
    const char *at = memchr(e, '@', n);
    if (!at || memchr(at + 1, '@', n - (size_t)(at - e) - 1))
        return false;
    size_t local_n = (size_t)(at - e);
    if (local_n < 1 || local_n > 64 || e[0] == '.' || at[-1] == '.')
        return false;
    for (size_t i = 0; i < local_n; i++) {
        unsigned char c = (unsigned char)e[i];
        if (c <= 0x20 || c == 0x7F || strchr("\"(),:;<>[\\]", c) ||
            (c == '.' && i + 1 < local_n && e[i + 1] == '.'))
            return false;
    }
    const char *d = at + 1, *end = e + n;
    int labels = 0;
    size_t last_n = 0;
    while (d <= end) {
        const char *dot = memchr(d, '.', (size_t)(end - d));
        const char *le = dot ? dot : end;
        if (!_label_ok(d, (size_t)(le - d)))
            return false;
        labels++;
        last_n = (size_t)(le - d);
        if (!dot)
            break;
        d = dot + 1;
    }
    return labels >= 2 && last_n >= 2;
}

/* Records one failed rule on req and remembers that something failed. */
static void _fail(cx_req *req, const char *field, const char *rule, bool *bad)
{
    (void)cx_req_field_error(req, field, rule);
    *bad = true;
}

cx_status auth_validate_name(cx_req *req, const char *field, const char *name,
                             char name_out[AUTH_NAME_MAX_BYTES + 1])
{
    bool bad = false;
    /* The name people see: trimmed, no control or bidi characters. */
    cx_text_rule tr = cx_text_clean(name, CX_TEXT_NAME, 1, AUTH_NAME_MAX_CHARS, name_out,
                                    AUTH_NAME_MAX_BYTES + 1);
    if (tr != CX_TEXT_OK)
        _fail(req, field, cx_text_rule_name(tr), &bad);
    return bad ? CX_ERR_VALIDATION : CX_OK;
}

cx_status auth_validate_password(cx_req *req, const char *field, const char *password)
{
    bool bad = false;
    size_t pn = password ? strlen(password) : 0;
    if (pn == 0)
        _fail(req, field, "required", &bad);
    else if (pn < AUTH_PASSWORD_MIN)
        _fail(req, field, "min", &bad);
    else if (pn > AUTH_PASSWORD_MAX)
        _fail(req, field, "max", &bad);
    return bad ? CX_ERR_VALIDATION : CX_OK;
}

cx_status auth_validate_register(cx_req *req, const char *name, const char *email,
                                 const char *password, char name_out[AUTH_NAME_MAX_BYTES + 1],
                                 char email_out[AUTH_EMAIL_MAX + 1])
{
    bool bad = false;

    if (auth_validate_name(req, "name", name, name_out) != CX_OK)
        bad = true;

    size_t en = email ? _normalise_email(email, email_out) : 0;
    if (!email || en == 0)
        _fail(req, "email", "required", &bad);
    else if (en > AUTH_EMAIL_MAX)
        _fail(req, "email", "max", &bad);
    else if (!_email_ok(email_out, en))
        _fail(req, "email", "email", &bad);

    if (auth_validate_password(req, "password", password) != CX_OK)
        bad = true;

    return bad ? CX_ERR_VALIDATION : CX_OK;
}

cx_status auth_validate_login(cx_req *req, const char *email, const char *password,
                              char email_out[AUTH_EMAIL_MAX + 1])
{
    bool bad = false;
    size_t en = email ? _normalise_email(email, email_out) : 0;
    if (!email || en == 0)
        _fail(req, "email", "required", &bad);
    else if (en > AUTH_EMAIL_MAX)
        _fail(req, "email", "max", &bad);

    size_t pn = password ? strlen(password) : 0;
    if (pn == 0)
        _fail(req, "password", "required", &bad);
    else if (pn > AUTH_PASSWORD_MAX)
        _fail(req, "password", "max", &bad);

    return bad ? CX_ERR_VALIDATION : CX_OK;
}

bool auth_refresh_wellformed(const char *t)
{
    if (!t || strlen(t) != AUTH_REFRESH_LEN)
        return false;
    for (const char *p = t; *p; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

void auth_sanitize(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    if (cap == 0)
        return;
    for (; in && *in && n + 1 < cap; in++) {
        unsigned char c = (unsigned char)*in;
        out[n++] = (c >= 0x20 && c < 0x7F) ? (char)c : '?';
    }
    out[n] = '\0';
}
