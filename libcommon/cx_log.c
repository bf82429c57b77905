/* cx_log.c: JSON lines on stderr, one write(2) per line. */
#include "cx_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char log_service[64] = "calixio";
static cx_log_level log_min = CX_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void cx_log_init(const char *service, cx_log_level min_level)
{
    snprintf(log_service, sizeof log_service, "%s", service ? service : "calixio");
    log_min = min_level;
}

int cx_log_level_parse(const char *s)
{
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

/* Appends s JSON-escaped to buf[*n..cap); stops silently when full. Bytes
 * >= 0x80 are copied as they are (the text is ours and UTF-8). */
static void esc(char *buf, int cap, int *n, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (; s && *s && *n < cap - 7; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[(*n)++] = '\\';
            buf[(*n)++] = (char)c;
        } else if (c == '\n') {
            buf[(*n)++] = '\\';
            buf[(*n)++] = 'n';
        } else if (c < 0x20 || c == 0x7f) {
            *n += snprintf(buf + *n, 7, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
        } else {
            buf[(*n)++] = (char)c;
        }
    }
}

static void lit(char *buf, int cap, int *n, const char *s)
{
    for (; *s && *n < cap - 1; s++)
        buf[(*n)++] = *s;
}

int cx_log_format(char *buf, int cap, cx_log_level level, const char *request_id,
                  const char *msg)
{
    struct timeval tv;
    struct tm tm;
    char ts[40];
    int n = 0;

    if (cap < 64)
        return -1;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t k = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + k, sizeof ts - k, ".%03dZ", (int)(tv.tv_usec / 1000));

    lit(buf, cap, &n, "{\"ts\":\"");
    lit(buf, cap, &n, ts);
    lit(buf, cap, &n, "\",\"level\":\"");
    lit(buf, cap, &n, level_names[level < 0 || level > 3 ? 1 : level]);
    lit(buf, cap, &n, "\",\"service\":\"");
    esc(buf, cap, &n, log_service);
    if (request_id && *request_id) {
        lit(buf, cap, &n, "\",\"request_id\":\"");
        esc(buf, cap, &n, request_id);
    }
    lit(buf, cap, &n, "\",\"msg\":\"");
    esc(buf, cap, &n, msg);
    lit(buf, cap, &n, "\"}");
    buf[n] = '\0';
    return n;
}

void cx_log(cx_log_level level, const char *request_id, const char *fmt, ...)
{
    char msg[2048];
    char line[4608];
    va_list ap;

    if (level < log_min)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int n = cx_log_format(line, (int)sizeof line - 1, level, request_id, msg);
    if (n < 0)
        return;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
