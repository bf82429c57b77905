/* cx_config: settings from the environment, one declarative table per daemon.
 *
 * Each daemon lists its variables once:
 *
 *   static char *db_url; static int64_t ttl_ms;
 *   static const cx_cfg_var vars[] = {
 *     { "DATABASE_URL", CX_CFG_STRING, "postgres://...", "Postgres URL", &db_url },
 *     { "ACCESS_TOKEN_TTL", CX_CFG_DURATION, "10m", "access token lifetime",
 *       &ttl_ms, .min = 1000, .max = 86400000 },
 *   };
 *
 * cx_config_load reads and validates all of them; the first problem is
 * reported in err as "<NAME>: <what was wrong>" and CX_ERR_CONFIG returned.
 * A NULL default means the variable is required. Bounds (min/max) apply to
 * INT (the value) and DURATION (milliseconds) when min < max. */
#ifndef CX_CONFIG_H
#define CX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cx_status.h"

typedef enum cx_cfg_type {
    CX_CFG_STRING,  /* target: char ** (malloced, freed by cx_config_free) */
    CX_CFG_INT,     /* target: int64_t * */
    CX_CFG_BOOL,    /* target: bool * ; 1/0 true/false yes/no on/off */
    CX_CFG_DURATION /* target: int64_t * milliseconds; "30s", "15m", "720h", "1h30m", "250ms" */
} cx_cfg_type;

typedef struct cx_cfg_var {
    const char *name;
    cx_cfg_type type;
    const char *def; /* NULL: required */
    const char *help;
    void *target;
    int64_t min, max; /* checked when min < max */
    bool secret;      /* never printed */
} cx_cfg_var;

/* Loads every variable of the table. On error nothing needs freeing beyond
 * cx_config_free (which is always safe to call). */
cx_status cx_config_load(const cx_cfg_var *vars, size_t n, char *err, size_t errlen);

/* Frees the strings cx_config_load allocated and NULLs the targets. */
void cx_config_free(const cx_cfg_var *vars, size_t n);

/* Prints the table (name, default, help) for --help. */
void cx_config_print_help(FILE *f, const char *prog, const cx_cfg_var *vars, size_t n);

/* Parses a duration such as "15m", "720h", "30s", "1h30m", "250ms" into
 * milliseconds. A bare number, a negative value, an unknown unit or an
 * overflow is CX_ERR_CONFIG. *out is written only on success. */
cx_status cx_duration_parse(const char *s, int64_t *out_ms);

/* Parses a decimal integer strictly (whole string, no overflow). */
cx_status cx_int_parse(const char *s, int64_t *out);

#endif
