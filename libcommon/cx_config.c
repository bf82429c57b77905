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
            return CX_ERR_CONFIG;  /* bare number or unknown unit */
        if (v > (INT64_MAX - total) / mult)
            return CX_ERR_CONFIG;
        total += v * mult;
        p += best;
    }
    *out_ms = total;
    return CX_OK;
}

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

static cx_status _load_one(const cx_cfg_var *v, char *err, size_t errlen)
{
    const char *raw = getenv(v->name);
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
    fprintf(f, "%s: settings come from the environment\n\n", prog);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  %-28s %-8s default: %-24s %s\n", vars[i].name, tn[vars[i].type],
                !vars[i].def ? "(required)"
                : !vars[i].def[0] ? "\"\""
                : vars[i].secret && strncmp(vars[i].name, "DATABASE_URL", 12) != 0 ? "(set)"
                : vars[i].def,
                vars[i].help ? vars[i].help : "");
}
