/* cx_time: clocks and RFC 3339 formatting. */
#ifndef CX_TIME_H
#define CX_TIME_H

#include <stdint.h>

#include "cx_status.h"

/* Wall clock, unix seconds / milliseconds. */
int64_t cx_now_s(void);
int64_t cx_now_ms(void);
/* Monotonic clock in nanoseconds / milliseconds. */
int64_t cx_mono_ns(void);
int64_t cx_mono_ms(void);

/* Formats unix seconds as "2026-11-23T05:11:19Z" into out[21]. */
void cx_time_rfc3339(int64_t unix_s, char out[21]);

/* Formats a Postgres timestamptz text (as returned in text mode with
 * TimeZone=UTC, e.g. "2026-11-23 05:11:19.123+00") as RFC 3339 without
 * fraction into out[21]. Returns 0 on success, -1 when unparsable. */
int cx_time_pg_to_rfc3339(const char *pg, char out[21]);

/* The one rule for a timestamp read from the database: converts the
 * timestamptz text pg of `column` (e.g. "rooms.created_at") as
 * cx_time_pg_to_rfc3339 does. A value that does not parse (NULL included:
 * test PQgetisnull first for nullable columns) is a defect of the data or
 * the session set-up, never shown to a client as "": it logs an error
 * naming the column and returns CX_ERR_INTERNAL (a 500); out is then "". */
cx_status cx_time_pg_column(const char *pg, const char *column, char out[21]);

#endif
