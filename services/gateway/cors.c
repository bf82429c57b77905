/* cors: allowed origins. */
#include "cors.h"

#include <string.h>

#include "headers.h"

cx_status gw_cors_parse(gw_cors *c, const char *list)
{
    memset(c, 0, sizeof(*c));
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *s = p;
        while (*p && *p != ',')
            p++;
        size_t n = (size_t)(p - s);
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n > 1 && s[n - 1] == '/')
            n--;
        if (n == 0)
            continue;
        if (n == 1 && s[0] == '*') {
            c->any = true;
            continue;
        }
        if (n > GW_ORIGIN_MAX || c->n >= GW_CORS_MAX_ORIGINS)
            return CX_ERR_CONFIG;
        memcpy(c->origins[c->n], s, n);
        c->origins[c->n][n] = '\0';
        c->n++;
    }
    return CX_OK;
}

bool gw_cors_allowed(const gw_cors *c, const char *origin)
{
    if (!origin || !*origin || !gw_header_value_ok(origin, GW_ORIGIN_MAX))
        return false;
    if (c->any)
        return true;
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->origins[i], origin) == 0)
            return true;
    return false;
}
