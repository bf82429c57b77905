/* cx_config.c: environment variables through one declarative table. */
#include "cx_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

cx_status cx_int_parse(const char *s, int64_t *out)
{
    char *end = NULL;
    if (!s || !*s || isspace((unsigned char)*s))
        return CX_ERR_CONFIG;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return CX_ERR_CONFIG;
    *out = (int64_t)v;
    return CX_OK;
}

cx_status cx_duration_parse(const char *s, int64_t *out_ms)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    int64_t total = 0;
    const char *p = s;

    if (!s || !*s)
        return CX_ERR_CONFIG;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return CX_ERR_CONFIG;
        int64_t v = 0;
        while (isdigit((unsigned char)*p)) {
            if (v > (INT64_MAX - 9) / 10)
                return CX_ERR_CONFIG;
            v = v * 10 + (*p++ - '0');
        }
        size_t best = 0;
        int64_t mult = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            size_t ul = strlen(units[i].unit);
            /* "ms" must win over "m": take the longest unit that matches
             * and is not followed by another letter. */
            if (strncmp(p, units[i].unit, ul) == 0 && ul > best &&
                !isalpha((unsigned char)p[ul])) {
                best = ul;
                mult = units[i].ms;
            }
        }
        if (!best)
            return CX_ERR_CONFIG; /* bare number or unknown unit */
        if (v > (INT64_MAX - total) / mult)
            return CX_ERR_CONFIG;
        total += v * mult;
        p += best;
    }
    *out_ms = total;
    return CX_OK;
}

static cx_status _load_value(const cx_cfg_var *v, const char *raw, char *err, size_t errlen);

static cx_status _parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return CX_OK;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return CX_OK;
        }
    }
    return CX_ERR_CONFIG;
}

#define CX_CFG_FILE_MAX 65536

/* Reads <NAME>_FILE (a mounted secret): the whole file, one trailing
 * newline (LF or CRLF) removed. *out is malloced; NULL when the variable is
 * not set. */
static cx_status _from_file(const cx_cfg_var *v, char **out, char *err, size_t errlen)
{
    char fvar[128];
    *out = NULL;
    snprintf(fvar, sizeof fvar, "%s_FILE", v->name);
    const char *path = getenv(fvar);
    if (!path || !*path)
        return CX_OK;
    const char *direct = getenv(v->name);
    if (direct && *direct) {
        snprintf(err, errlen, "%s: set either %s or %s, not both", v->name, v->name, fvar);
        return CX_ERR_CONFIG;
    }
    FILE *f = fopen(path, "rb");
    char *buf = f ? malloc(CX_CFG_FILE_MAX + 1) : NULL;
    size_t n = buf ? fread(buf, 1, CX_CFG_FILE_MAX + 1, f) : 0;
    bool bad = !buf || ferror(f) || n > CX_CFG_FILE_MAX || (buf && memchr(buf, '\0', n));
    if (f)
        fclose(f);
    if (bad) {
        snprintf(err, errlen,
                 "%s: cannot read %s (missing, unreadable, binary or over %d bytes)", fvar,
                 path, CX_CFG_FILE_MAX);
        free(buf);
        return CX_ERR_CONFIG;
    }
    if (n && buf[n - 1] == '\n')
        n--;
    if (n && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    *out = buf;
    return CX_OK;
}

static cx_status _load_one(const cx_cfg_var *v, char *err, size_t errlen)
{
    char *from_file = NULL;
    cx_status fs = _from_file(v, &from_file, err, errlen);
    if (fs != CX_OK)
        return fs;
    cx_status s = _load_value(v, from_file ? from_file : getenv(v->name), err, errlen);
    if (from_file) {
        /* a secret: do not leave it in freed memory */
        volatile char *p = from_file;
        while (*p)
            *p++ = '\0';
    }
    free(from_file);
    return s;
}

static cx_status _load_value(const cx_cfg_var *v, const char *raw, char *err, size_t errlen)
{
    const char *src = "value";
    int64_t num = 0;

    if (!raw || !*raw) {
        if (!v->def) {
            snprintf(err, errlen, "%s: required but not set", v->name);
            return CX_ERR_CONFIG;
        }
        raw = v->def;
        src = "default";
    }
    switch (v->type) {
    case CX_CFG_STRING: {
        char *copy = strdup(raw);
        if (!copy)
            return CX_ERR_NOMEM;
        free(*(char **)v->target);
        *(char **)v->target = copy;
        return CX_OK;
    }
    case CX_CFG_BOOL:
        if (_parse_bool(raw, (bool *)v->target) != CX_OK) {
            snprintf(err, errlen, "%s: %s \"%s\" is not a boolean (true/false)", v->name, src,
                     v->secret ? "***" : raw);
            return CX_ERR_CONFIG;
        }
        return CX_OK;
    case CX_CFG_INT:
        if (cx_int_parse(raw, &num) != CX_OK) {
            snprintf(err, errlen, "%s: %s \"%s\" is not an integer", v->name, src,
                     v->secret ? "***" : raw);
            return CX_ERR_CONFIG;
        }
        break;
    case CX_CFG_DURATION:
        if (cx_duration_parse(raw, &num) != CX_OK) {
            snprintf(err, errlen,
                     "%s: %s \"%s\" is not a duration (use e.g. 30s, 15m, 720h, 1h30m)",
                     v->name, src, v->secret ? "***" : raw);
            return CX_ERR_CONFIG;
        }
        break;
    }
    if (v->min < v->max && (num < v->min || num > v->max)) {
        if (v->type == CX_CFG_DURATION)
            snprintf(err, errlen, "%s: \"%s\" is out of range (%lldms..%lldms)", v->name, raw,
                     (long long)v->min, (long long)v->max);
        else
            snprintf(err, errlen, "%s: %lld is out of range (%lld..%lld)", v->name,
                     (long long)num, (long long)v->min, (long long)v->max);
        return CX_ERR_CONFIG;
    }
    *(int64_t *)v->target = num;
    return CX_OK;
}

cx_status cx_config_load(const cx_cfg_var *vars, size_t n, char *err, size_t errlen)
{
    cx_status s = CX_OK;
    if (errlen)
        err[0] = '\0';
    for (size_t i = 0; i < n && s == CX_OK; i++)
        s = _load_one(&vars[i], err, errlen);
    return s;
}

void cx_config_free(const cx_cfg_var *vars, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (vars[i].type == CX_CFG_STRING) {
            free(*(char **)vars[i].target);
            *(char **)vars[i].target = NULL;
        }
    }
}

void cx_config_print_help(FILE *f, const char *prog, const cx_cfg_var *vars, size_t n)
{
    static const char *const tn[] = {"string", "int", "bool", "duration"};
    fprintf(f,
            "%s: settings come from the environment (any NAME may instead be read from\n"
            "the file named by NAME_FILE, e.g. JWT_SECRET_FILE=/run/secrets/jwt)\n\n",
            prog);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  %-28s %-8s default: %-24s %s\n", vars[i].name, tn[vars[i].type],
                !vars[i].def      ? "(required)"
                : !vars[i].def[0] ? "\"\""
                : vars[i].secret && strncmp(vars[i].name, "DATABASE_URL", 12) != 0
                    ? "(set)"
                    : vars[i].def,
                vars[i].help ? vars[i].help : "");
}
