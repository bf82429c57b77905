/* cx_time.c: clocks and RFC 3339 formatting. */
#include "cx_time.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cx_log.h"

int64_t cx_now_s(void)
{
    return (int64_t)time(NULL);
}

int64_t cx_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cx_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t cx_mono_ms(void)
{
    return cx_mono_ns() / 1000000;
}

void cx_time_rfc3339(int64_t unix_s, char out[21])
{
    struct tm tm;
    time_t t = (time_t)unix_s;
    gmtime_r(&t, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int cx_time_pg_to_rfc3339(const char *pg, char out[21])
{
    int y, mo, d, h, mi, s;
    if (!pg || strlen(pg) < 19)
        return -1;
    if (sscanf(pg, "%4d-%2d-%2d%*1[ T]%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &s) != 6)
        return -1;
    /* With the session TimeZone=UTC the text carries +00; anything else is
     * not what cx_pg sets up and is refused rather than mis-reported. */
    const char *tz = pg + 19;
    if (*tz == '.')
        while (*++tz >= '0' && *tz <= '9')
            ;
    if (*tz && strcmp(tz, "+00") != 0 && strcmp(tz, "Z") != 0 && strcmp(tz, "+00:00") != 0)
        return -1;
    if (y < 0 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 ||
        mi < 0 || mi > 59 || s < 0 || s > 60)
        return -1;
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, h, mi, s);
    memcpy(out, tmp, 21);
    return 0;
}

cx_status cx_time_pg_column(const char *pg, const char *column, char out[21])
{
    if (cx_time_pg_to_rfc3339(pg, out) == 0)
        return CX_OK;
    out[0] = '\0';
    /* A timestamp is not a secret; 40 bytes are enough to see what came. */
    cx_log_error(NULL, "timestamp column %s: unparsable value \"%.40s\"", column,
                 pg ? pg : "(null)");
    return CX_ERR_INTERNAL;
}
