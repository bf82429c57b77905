/* validate.c: helpers for request fields (times, lengths, passwords). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rooms.h"

size_t rooms_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* Reads exactly n digits at *p into *v. */
static bool _digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return false;
        *v = *v * 10 + (**p - '0');
    }
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t _days(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool rooms_time_parse(const char *s, int64_t *out)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, se, oh = 0, om = 0, sign = 0;
    const char *p = s;
    if (!s || !_digits(&p, 4, &y) || *p++ != '-' || !_digits(&p, 2, &mo) || *p++ != '-' ||
        !_digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
        return false;
    p++;
    if (!_digits(&p, 2, &h) || *p++ != ':' || !_digits(&p, 2, &mi) || *p++ != ':' ||
        !_digits(&p, 2, &se))
        return false;
    if (*p == '.') { /* a fraction is accepted and dropped */
        p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '+' ? 1 : -1;
        if (!_digits(&p, 2, &oh) || *p++ != ':' || !_digits(&p, 2, &om) || oh > 23 || om > 59)
            return false;
    } else {
        return false;
    }
    if (*p || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
        mi > 59 || se > 60)
        return false;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return false;
    int64_t t = _days(y, mo, d) * 86400 + h * 3600 + mi * 60 + (se == 60 ? 59 : se);
    *out = t - sign * (oh * 3600 + om * 60);
    return true;
}

cx_status rooms_password_hash(const rooms_ctx *ctx, const char *pw, char **out)
{
    char *h = malloc(crypto_pwhash_STRBYTES);
    if (!h)
        return CX_ERR_NOMEM;
    if (crypto_pwhash_str_alg(h, pw, strlen(pw), ctx->pw_opslimit, ctx->pw_memlimit,
                              crypto_pwhash_ALG_ARGON2ID13) != 0) {
        free(h);
        return CX_ERR_NOMEM; /* libsodium fails only when memory is short */
    }
    *out = h;
    return CX_OK;
}
