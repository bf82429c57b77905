/* cx_log: one JSON object per line on stderr.
 *
 *   {"ts":"2026-11-23T05:11:19.123Z","level":"info","service":"auth",
 *    "request_id":"...","msg":"..."}
 *
 * The message is formatted printf-style and JSON-escaped. Never pass a
 * secret (password, token, API secret) to these functions. Thread-safe: a
 * line is written with one write(2). */
#ifndef CX_LOG_H
#define CX_LOG_H

typedef enum cx_log_level {
    CX_LOG_DEBUG = 0,
    CX_LOG_INFO,
    CX_LOG_WARN,
    CX_LOG_ERROR
} cx_log_level;

/* Sets the service name printed on every line and the minimum level.
 * `service` is copied. Call once at start-up, before other threads. */
void cx_log_init(const char *service, cx_log_level min_level);

/* Parses "debug", "info", "warn", "error"; returns -1 when unknown. */
int cx_log_level_parse(const char *s);

/* Writes one line. request_id may be NULL. */
void cx_log(cx_log_level level, const char *request_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Formats one line into buf (without the newline); returns the length it
 * needed, like snprintf. Exposed for tests. */
int cx_log_format(char *buf, int cap, cx_log_level level, const char *request_id,
                  const char *msg);

#define cx_log_debug(rid, ...) cx_log(CX_LOG_DEBUG, (rid), __VA_ARGS__)
#define cx_log_info(rid, ...) cx_log(CX_LOG_INFO, (rid), __VA_ARGS__)
#define cx_log_warn(rid, ...) cx_log(CX_LOG_WARN, (rid), __VA_ARGS__)
#define cx_log_error(rid, ...) cx_log(CX_LOG_ERROR, (rid), __VA_ARGS__)

#endif
