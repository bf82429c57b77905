/* cx-migrate: applies and reverts the SQL migrations of migrations/.
 *
 *   DATABASE_URL=... cx-migrate up | down [N] | status
 *
 * After `up`, the SQL file named by MIGRATIONS_GRANTS (generated from the
 * permission table by tools/cx-perms pg) is applied in one transaction on
 * every run: the grants are declarative and idempotent, so a new table
 * needs one row in deploy/permissions/calixio.tsv, not a migration.
 *
 * Files are NNNN_name.sql, applied in name order; each has a `-- +up` and a
 * `-- +down` section. The version recorded in schema_migrations is the
 * number prefix (NNNN). Each file runs in its own transaction together with
 * its schema_migrations row, and up/down hold a Postgres advisory lock so
 * that concurrent runs (several daemons starting) do not race. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx_log.h"
#include "cx_pg.h"

#define MIG_MAX_FILES 1000
#define MIG_MAX_BYTES (4 * 1024 * 1024)
/* Arbitrary constant shared by every cx-migrate run ("cxmigr" in hex-ish). */
#define MIG_LOCK_KEY "7303791155"

struct migration {
    char *name;    /* file name without .sql, e.g. 0001_users_sessions */
    char *version; /* number prefix, e.g. 0001 */
    char *text;    /* whole file */
    char *up;      /* points into text (NUL-terminated there) */
    char *down;
    bool applied;
    char applied_at[64];
};

struct migset {
    struct migration *m;
    int n;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: cx-migrate up | down [N] | status | --help\n"
               "\n"
               "  up        apply every pending migration, in file-name order\n"
               "  down [N]  revert the last N applied migrations (default 1)\n"
               "  status    list every migration as applied or pending\n"
               "\n"
               "environment:\n"
               "  DATABASE_URL    Postgres URL or key=value conninfo (required)\n"
               "  MIGRATIONS_DIR  directory of NNNN_name.sql files (default ./migrations)\n"
               "  MIGRATIONS_GRANTS  SQL applied after every up, in one transaction\n"
               "                  (tools/cx-perms pg: the grants of the permission table)\n"
               "\n"
               "Each file holds a '-- +up' section and a '-- +down' section. Applied\n"
               "versions are kept in the table schema_migrations. Exit status 1 on failure.\n");
}

static void migset_free(struct migset *set)
{
    for (int i = 0; i < set->n; i++) {
        free(set->m[i].name);
        free(set->m[i].version);
        free(set->m[i].text);
    }
    free(set->m);
    set->m = NULL;
    set->n = 0;
}

/* NNNN_name.sql: at least 4 digits, '_', then [A-Za-z0-9_-]+. */
static bool valid_name(const char *fn, size_t *digits)
{
    size_t len = strlen(fn), d = 0;
    if (len < 5 || strcmp(fn + len - 4, ".sql") != 0)
        return false;
    while (isdigit((unsigned char)fn[d]))
        d++;
    if (d < 4 || fn[d] != '_' || d + 1 >= len - 4)
        return false;
    for (size_t i = d + 1; i < len - 4; i++)
        if (!isalnum((unsigned char)fn[i]) && fn[i] != '_' && fn[i] != '-')
            return false;
    *digits = d;
    return true;
}

/* True when line [s, e) is the marker (ignoring trailing blanks and \r). */
static bool is_marker(const char *s, const char *e, const char *marker)
{
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        e--;
    size_t ml = strlen(marker);
    return (size_t)(e - s) == ml && memcmp(s, marker, ml) == 0;
}

/* Splits m->text into m->up and m->down in place. */
static int split(struct migration *m, const char *path)
{
    char *up = NULL, *down = NULL;
    for (char *line = m->text; *line;) {
        char *eol = strchr(line, '\n');
        char *next = eol ? eol + 1 : line + strlen(line);
        char *end = eol ? eol : next;
        if (is_marker(line, end, "-- +up") || is_marker(line, end, "-- +down")) {
            bool is_up = line[4] == 'u';
            if ((is_up && up) || (!is_up && down)) {
                fprintf(stderr, "cx-migrate: %s: more than one '-- +%s' section\n", path,
                        is_up ? "up" : "down");
                return -1;
            }
            *line = '\0'; /* ends the previous section */
            if (is_up)
                up = next;
            else
                down = next;
        }
        line = next;
    }
    if (!up || !down) {
        fprintf(stderr, "cx-migrate: %s: needs both a '-- +up' and a '-- +down' line\n", path);
        return -1;
    }
    m->up = up;
    m->down = down;
    return 0;
}

/* Reads a whole file (bounded, no NUL bytes); malloced or NULL. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cx-migrate: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(MIG_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, MIG_MAX_BYTES + 1, f) : 0;
    bool bad = !buf || ferror(f) || n > MIG_MAX_BYTES || memchr(buf, '\0', n);
    fclose(f);
    if (bad) {
        fprintf(stderr, "cx-migrate: cannot read %s (unreadable, over %d bytes, or binary)\n",
                path, MIG_MAX_BYTES);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static int cmp_mig(const void *a, const void *b)
{
    return strcmp(((const struct migration *)a)->name, ((const struct migration *)b)->name);
}

/* Loads every NNNN_name.sql of dir, sorted by name. */
static int load(const char *dir, struct migset *set)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cx-migrate: cannot open migrations directory %s: %s\n", dir,
                strerror(errno));
        return -1;
    }
    int rc = 0;
    set->m = calloc(MIG_MAX_FILES, sizeof(*set->m));
    if (!set->m)
        rc = -1;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        size_t digits;
        if (de->d_name[0] == '.' || strlen(de->d_name) < 5 ||
            strcmp(de->d_name + strlen(de->d_name) - 4, ".sql") != 0)
            continue;
        if (!valid_name(de->d_name, &digits)) {
            fprintf(stderr, "cx-migrate: %s/%s: name is not NNNN_name.sql\n", dir, de->d_name);
            rc = -1;
            break;
        }
        if (set->n == MIG_MAX_FILES) {
            fprintf(stderr, "cx-migrate: more than %d migration files\n", MIG_MAX_FILES);
            rc = -1;
            break;
        }
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        struct migration *m = &set->m[set->n];
        m->name = strndup(de->d_name, strlen(de->d_name) - 4);
        m->version = strndup(de->d_name, digits);
        m->text = read_file(path);
        set->n++;
        if (!m->name || !m->version || !m->text || split(m, path) != 0)
            rc = -1;
    }
    closedir(d);
    if (rc == 0) {
        qsort(set->m, (size_t)set->n, sizeof(*set->m), cmp_mig);
        for (int i = 1; i < set->n; i++) {
            if (strcmp(set->m[i].version, set->m[i - 1].version) == 0) {
                fprintf(stderr, "cx-migrate: %s and %s share version %s\n", set->m[i - 1].name,
                        set->m[i].name, set->m[i].version);
                rc = -1;
            }
        }
    }
    if (rc != 0)
        migset_free(set);
    return rc;
}

/* Runs a parameterised statement; prints the error. */
static int query(PGconn *c, const char *sql, int n, const char *const *params, PGresult **out)
{
    bool broken = false;
    cx_status s = cx_pg_query(c, sql, n, params, out, &broken);
    if (s != CX_OK) {
        fprintf(stderr, "cx-migrate: statement failed (%s): %s", cx_status_code(s),
                PQerrorMessage(c));
        return -1;
    }
    return 0;
}

/* Marks the applied ones in set; lists versions applied without a file. */
static int read_applied(PGconn *c, struct migset *set, bool must_exist)
{
    PGresult *res = NULL;
    if (!must_exist) {
        if (query(c, "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL, &res) != 0)
            return -1;
        bool exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
        if (!exists)
            return 0;
    }
    if (query(c,
              "SELECT version, to_char(applied_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
              "FROM schema_migrations ORDER BY version",
              0, NULL, &res) != 0)
        return -1;
    for (int r = 0; r < PQntuples(res); r++) {
        const char *v = PQgetvalue(res, r, 0);
        bool found = false;
        for (int i = 0; i < set->n; i++) {
            if (strcmp(set->m[i].version, v) == 0) {
                set->m[i].applied = true;
                snprintf(set->m[i].applied_at, sizeof(set->m[i].applied_at), "%s",
                         PQgetvalue(res, r, 1));
                found = true;
            }
        }
        if (!found)
            printf("%-40s applied %s (no file for it)\n", v, PQgetvalue(res, r, 1));
    }
    PQclear(res);
    return 0;
}

/* Runs one migration section plus its bookkeeping in one transaction. */
static int run_one(PGconn *c, const struct migration *m, bool up)
{
    const char *params[1] = {m->version};
    if (query(c, "BEGIN", 0, NULL, NULL) != 0)
        return -1;
    /* Our own trusted file, possibly several statements: the one place that
     * sends SQL text without parameters. */
    PGresult *res = PQexec(c, up ? m->up : m->down);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
        fprintf(stderr, "cx-migrate: %s of %s failed: %s", up ? "up" : "down", m->name,
                res ? PQresultErrorMessage(res) : PQerrorMessage(c));
        PQclear(res);
        goto out_rollback;
    }
    PQclear(res);
    if (query(c,
              up ? "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())"
                 : "DELETE FROM schema_migrations WHERE version = $1",
              1, params, NULL) != 0)
        goto out_rollback;
    if (query(c, "COMMIT", 0, NULL, NULL) != 0)
        return -1;
    printf("%s %s\n", up ? "applied " : "reverted", m->name);
    return 0;
out_rollback:
    PQclear(PQexec(c, "ROLLBACK"));
    return -1;
}

/* Applies the grants file (MIGRATIONS_GRANTS) in one transaction. */
static int apply_grants(PGconn *c, const char *path)
{
    char *sql = read_file(path);
    if (!sql)
        return -1;
    int rc = -1;
    if (query(c, "BEGIN", 0, NULL, NULL) != 0)
        goto out_free;
    /* Our own generated file: trusted SQL text, like the migrations. */
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
        fprintf(stderr, "cx-migrate: grants %s failed: %s", path,
                res ? PQresultErrorMessage(res) : PQerrorMessage(c));
        PQclear(res);
        PQclear(PQexec(c, "ROLLBACK"));
        goto out_free;
    }
    PQclear(res);
    if (query(c, "COMMIT", 0, NULL, NULL) != 0)
        goto out_free;
    printf("applied  grants %s\n", path);
    rc = 0;
out_free:
    free(sql);
    return rc;
}

static int cmd_up(PGconn *c, struct migset *set)
{
    if (query(c,
              "CREATE TABLE IF NOT EXISTS schema_migrations ("
              " version text PRIMARY KEY,"
              " applied_at timestamptz NOT NULL DEFAULT now())",
              0, NULL, NULL) != 0)
        return -1;
    if (read_applied(c, set, true) != 0)
        return -1;
    int done = 0;
    for (int i = 0; i < set->n; i++) {
        if (set->m[i].applied)
            continue;
        if (run_one(c, &set->m[i], true) != 0)
            return -1;
        done++;
    }
    if (done == 0)
        printf("nothing to apply: %d migration(s), all applied\n", set->n);
    const char *grants = getenv("MIGRATIONS_GRANTS");
    if (grants && *grants)
        return apply_grants(c, grants);
    return 0;
}

static int cmd_down(PGconn *c, struct migset *set, long count)
{
    if (read_applied(c, set, false) != 0)
        return -1;
    long done = 0;
    for (int i = set->n - 1; i >= 0 && done < count; i--) {
        if (!set->m[i].applied)
            continue;
        if (run_one(c, &set->m[i], false) != 0)
            return -1;
        done++;
    }
    if (done == 0)
        printf("nothing to revert\n");
    return 0;
}

static int cmd_status(PGconn *c, struct migset *set)
{
    if (read_applied(c, set, false) != 0)
        return -1;
    int pending = 0;
    for (int i = 0; i < set->n; i++) {
        const struct migration *m = &set->m[i];
        if (m->applied)
            printf("%-40s applied %s\n", m->name, m->applied_at);
        else
            printf("%-40s pending\n", m->name);
        pending += !m->applied;
    }
    printf("%d applied, %d pending\n", set->n - pending, pending);
    return 0;
}

/* Runs cmd on a connection holding (for up/down) the advisory lock. */
static int with_conn(const char *url, const char *cmd, long count, struct migset *set)
{
    cx_pg_pool *pool = NULL;
    PGconn *c = NULL;
    int rc = -1;
    if (cx_pg_pool_create(&pool, url, 1) != CX_OK) {
        fprintf(stderr, "cx-migrate: DATABASE_URL is not a valid Postgres URL or conninfo\n");
        return -1;
    }
    if (cx_pg_acquire(pool, &c, 5000) != CX_OK) {
        fprintf(stderr,
                "cx-migrate: cannot connect to the database (see the log line above)\n");
        goto out_destroy;
    }
    /* The pool's 5 s statement_timeout suits requests, not migrations. */
    if (query(c, "SET statement_timeout = 0", 0, NULL, NULL) != 0)
        goto out_release;
    bool locking = strcmp(cmd, "status") != 0;
    const char *key[1] = {MIG_LOCK_KEY};
    if (locking && query(c, "SELECT pg_advisory_lock($1::bigint)", 1, key, NULL) != 0)
        goto out_release;
    if (strcmp(cmd, "up") == 0)
        rc = cmd_up(c, set);
    else if (strcmp(cmd, "down") == 0)
        rc = cmd_down(c, set, count);
    else
        rc = cmd_status(c, set);
    if (locking && PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) == PQTRANS_IDLE)
        (void)query(c, "SELECT pg_advisory_unlock($1::bigint)", 1, key, NULL);
out_release:
    /* Never pool it again: the session settings were changed. */
    cx_pg_release(pool, c, true);
out_destroy:
    cx_pg_pool_destroy(pool);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc < 2 || argc > 3 ||
        (strcmp(argv[1], "up") != 0 && strcmp(argv[1], "down") != 0 &&
         strcmp(argv[1], "status") != 0) ||
        (argc == 3 && strcmp(argv[1], "down") != 0)) {
        usage(stderr);
        return 1;
    }
    long count = 1;
    if (argc == 3) {
        char *end = NULL;
        errno = 0;
        count = strtol(argv[2], &end, 10);
        if (errno || !end || *end || end == argv[2] || count < 1 || count > MIG_MAX_FILES) {
            fprintf(stderr, "cx-migrate: down N: N must be a number from 1 to %d\n",
                    MIG_MAX_FILES);
            return 1;
        }
    }
    const char *url = getenv("DATABASE_URL");
    if (!url || !*url) {
        fprintf(stderr, "cx-migrate: DATABASE_URL is not set\n");
        return 1;
    }
    const char *dir = getenv("MIGRATIONS_DIR");
    if (!dir || !*dir)
        dir = "./migrations";
    cx_log_init("cx-migrate", CX_LOG_WARN);

    struct migset set = {0};
    if (load(dir, &set) != 0)
        return 1;
    int rc = with_conn(url, argv[1], count, &set);
    migset_free(&set);
    return rc == 0 ? 0 : 1;
}
