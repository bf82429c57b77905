/* test_migrate: runs the built cx-migrate binary (next to this test in the
 * build dir) against a real PostgreSQL started by stores.sh, with a copy of
 * the repository's first three migrations (a fixed set, so files added
 * later do not change the figures below), with broken extra files and, last,
 * with the whole migrations/ directory (gaps in the numbering included). */
#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cx_log.h"
#include "cx_pg.h"
#include "cx_test.h"
#include "cx_test_stores.h"

extern char **environ;

static cx_stores st;
static cx_pg_pool *pool;
static char tool[1024];
static char repo_migrations[1024]; /* the fixed copy of 0001..0003 */
static char repo_all[1024];        /* the repository's migrations/ */
static char out[16384];            /* stdout + stderr of the last run */

/* Starts cx-migrate with args (NULL-terminated, without argv[0]);
 * returns its pid, output into fd. */
static pid_t t_spawn(const char *const *args, int fd)
{
    char *argv[8] = {tool};
    for (int i = 0; i < 6 && args[i]; i++)
        argv[i + 1] = (char *)args[i];
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 1);
    posix_spawn_file_actions_adddup2(&fa, fd, 2);
    pid_t pid = -1;
    if (posix_spawn(&pid, tool, &fa, NULL, argv, environ) != 0)
        pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

static int t_wait(pid_t pid)
{
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Runs cx-migrate to completion; exit code, output in `out`. */
static int migrate(const char *a1, const char *a2)
{
    const char *args[3] = {a1, a2, NULL};
    char path[] = "/tmp/cx-migrate-out-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    int rc = t_wait(t_spawn(args, fd));
    ssize_t n = pread(fd, out, sizeof(out) - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    return rc;
}

static const char *scalar(const char *sql)
{
    static char buf[256];
    PGresult *res = NULL;
    buf[0] = '\0';
    if (cx_pg_exec(pool, sql, 0, NULL, &res) != CX_OK)
        return "(error)";
    if (PQntuples(res) > 0)
        snprintf(buf, sizeof(buf), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return buf;
}

static bool table_exists(const char *name)
{
    PGresult *res = NULL;
    const char *p[1] = {name};
    bool yes = false;
    if (cx_pg_exec(pool, "SELECT to_regclass($1) IS NOT NULL", 1, p, &res) == CX_OK) {
        yes = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
    }
    return yes;
}

static void test_usage_and_bad_args(void)
{
    CX_CHECK_INT(migrate("--help", NULL), 0);
    CX_CHECK(strstr(out, "usage: cx-migrate") != NULL);
    CX_CHECK_INT(migrate("sideways", NULL), 1);
    CX_CHECK(strstr(out, "usage") != NULL);
    CX_CHECK_INT(migrate("down", "0"), 1);
    CX_CHECK_INT(migrate("down", "x"), 1);
    CX_CHECK_INT(migrate("up", "3"), 1);
    char *saved = strdup(getenv("DATABASE_URL"));
    unsetenv("DATABASE_URL");
    CX_CHECK_INT(migrate("up", NULL), 1);
    CX_CHECK(strstr(out, "DATABASE_URL is not set") != NULL);
    /* Nothing listens there: a clear failure, not a hang. */
    setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:1/calixio", 1);
    CX_CHECK_INT(migrate("status", NULL), 1);
    CX_CHECK(strstr(out, "cannot connect") != NULL);
    setenv("DATABASE_URL", saved, 1);
    free(saved);
}

static void test_status_before_any(void)
{
    CX_CHECK_INT(migrate("status", NULL), 0);
    CX_CHECK(strstr(out, "0001_users_sessions") != NULL);
    CX_CHECK(strstr(out, "0 applied, 3 pending") != NULL);
    /* status does not create anything */
    CX_CHECK(!table_exists("schema_migrations"));
}

static void test_up_applies_all(void)
{
    CX_CHECK_INT(migrate("up", NULL), 0);
    CX_CHECK(strstr(out, "applied  0001_users_sessions") != NULL);
    CX_CHECK(strstr(out, "applied  0003_participant_history") != NULL);
    CX_CHECK(table_exists("users"));
    CX_CHECK(table_exists("refresh_tokens"));
    CX_CHECK(table_exists("rooms"));
    CX_CHECK(table_exists("participant_events"));
    CX_CHECK_STR(scalar("SELECT string_agg(version, ',' ORDER BY version) "
                        "FROM schema_migrations"),
                 "0001,0002,0003");
}

static void test_up_again_is_noop(void)
{
    char before[256];
    snprintf(before, sizeof(before), "%s",
             scalar("SELECT max(applied_at) FROM schema_migrations"));
    CX_CHECK_INT(migrate("up", NULL), 0);
    CX_CHECK(strstr(out, "nothing to apply") != NULL);
    CX_CHECK(strstr(out, "applied  0") == NULL);
    CX_CHECK_STR(scalar("SELECT count(*) FROM schema_migrations"), "3");
    CX_CHECK_STR(scalar("SELECT max(applied_at) FROM schema_migrations"), before);
}

static void test_status_lists_applied(void)
{
    CX_CHECK_INT(migrate("status", NULL), 0);
    CX_CHECK(strstr(out, "0001_users_sessions") != NULL);
    CX_CHECK(strstr(out, "0002_rooms") != NULL);
    CX_CHECK(strstr(out, "0003_participant_history") != NULL);
    /* No migration line says pending: the only "pending" is the summary. */
    const char *sum = strstr(out, "3 applied, 0 pending");
    CX_CHECK(sum != NULL);
    CX_CHECK(sum && strstr(out, "pending") == sum + strlen("3 applied, 0 "));
}

static void test_down_reverts_last_then_up_reapplies(void)
{
    CX_CHECK_INT(migrate("down", NULL), 0);
    CX_CHECK(strstr(out, "reverted 0003_participant_history") != NULL);
    CX_CHECK(strstr(out, "0002") == NULL);
    CX_CHECK(!table_exists("participant_events"));
    CX_CHECK(table_exists("rooms"));
    CX_CHECK_STR(scalar("SELECT string_agg(version, ',' ORDER BY version) "
                        "FROM schema_migrations"),
                 "0001,0002");
    CX_CHECK_INT(migrate("status", NULL), 0);
    CX_CHECK(strstr(out, "2 applied, 1 pending") != NULL);
    char *line = strstr(out, "0003_participant_history");
    CX_CHECK(line && strncmp(line + strcspn(line, "\n") - 7, "pending", 7) == 0);

    CX_CHECK_INT(migrate("up", NULL), 0);
    CX_CHECK(strstr(out, "applied  0003_participant_history") != NULL);
    CX_CHECK(strstr(out, "0001") == NULL);
    CX_CHECK(table_exists("participant_events"));
}

static void test_down_n(void)
{
    CX_CHECK_INT(migrate("down", "2"), 0);
    CX_CHECK(!table_exists("participant_events"));
    CX_CHECK(!table_exists("rooms"));
    CX_CHECK(table_exists("users"));
    CX_CHECK_STR(scalar("SELECT string_agg(version, ',') FROM schema_migrations"), "0001");
    CX_CHECK_INT(migrate("down", "5"), 0); /* more than applied: all of them */
    CX_CHECK(!table_exists("users"));
    CX_CHECK_STR(scalar("SELECT count(*) FROM schema_migrations"), "0");
    CX_CHECK_INT(migrate("down", NULL), 0);
    CX_CHECK(strstr(out, "nothing to revert") != NULL);
}

static void test_concurrent_up(void)
{
    /* Several daemons' start-up scripts racing: the advisory lock makes one
     * apply everything and the others find nothing to do. */
    const char *args[2] = {"up", NULL};
    pid_t pids[6];
    int fd = open("/dev/null", O_WRONLY);
    for (int i = 0; i < 6; i++)
        pids[i] = t_spawn(args, fd);
    for (int i = 0; i < 6; i++)
        CX_CHECK_INT(t_wait(pids[i]), 0);
    close(fd);
    CX_CHECK_STR(scalar("SELECT string_agg(version, ',' ORDER BY version) "
                        "FROM schema_migrations"),
                 "0001,0002,0003");
    CX_CHECK(table_exists("participant_events"));
}

/* A migrations dir holding the repo's files plus `extra` as 0004_extra.sql. */
static void with_extra(char *dir, const char *extra)
{
    strcpy(dir, "/tmp/cx-mig-XXXXXX");
    CX_CHECK(mkdtemp(dir) != NULL);
    char cmd[2300];
    snprintf(cmd, sizeof(cmd), "cp '%s'/*.sql '%s'/", repo_migrations, dir);
    CX_CHECK_INT(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "%s/0004_extra.sql", dir);
    FILE *f = fopen(cmd, "w");
    CX_CHECK(f != NULL);
    if (f) {
        fputs(extra, f);
        fclose(f);
    }
    setenv("MIGRATIONS_DIR", dir, 1);
}

static void drop_dir(const char *dir)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CX_CHECK_INT(system(cmd), 0);
    setenv("MIGRATIONS_DIR", repo_migrations, 1);
}

static void test_failing_migration_rolls_back(void)
{
    char dir[64];
    with_extra(dir, "-- +up\nCREATE TABLE good4 (x int);\nSELECT no_such_function();\n"
                    "-- +down\nDROP TABLE good4;\n");
    CX_CHECK_INT(migrate("up", NULL), 1);
    CX_CHECK(strstr(out, "0004_extra") != NULL);
    CX_CHECK(strstr(out, "no_such_function") != NULL);
    CX_CHECK(!table_exists("good4"));
    CX_CHECK_STR(scalar("SELECT count(*) FROM schema_migrations"), "3");
    CX_CHECK_INT(migrate("status", NULL), 0);
    CX_CHECK(strstr(out, "3 applied, 1 pending") != NULL);
    drop_dir(dir);

    /* A well-formed fourth file applies and reverts. */
    with_extra(dir, "-- a header comment\n-- +up\nCREATE TABLE good4 (x int);\n"
                    "INSERT INTO good4 VALUES (1);\n-- +down\nDROP TABLE good4;\n");
    CX_CHECK_INT(migrate("up", NULL), 0);
    CX_CHECK(table_exists("good4"));
    CX_CHECK_INT(migrate("down", NULL), 0);
    CX_CHECK(!table_exists("good4"));
    CX_CHECK(table_exists("participant_events"));
    drop_dir(dir);

    /* Missing markers: refused before touching the database. */
    with_extra(dir, "CREATE TABLE nomarkers (x int);\n");
    CX_CHECK_INT(migrate("up", NULL), 1);
    CX_CHECK(strstr(out, "-- +up") != NULL);
    CX_CHECK(!table_exists("nomarkers"));
    drop_dir(dir);

    setenv("MIGRATIONS_DIR", "/nonexistent/dir", 1);
    CX_CHECK_INT(migrate("status", NULL), 1);
    CX_CHECK(strstr(out, "/nonexistent/dir") != NULL);
    setenv("MIGRATIONS_DIR", repo_migrations, 1);
}

/* Every file of migrations/ applies on top of the first three, and all of
 * them revert. */
static void test_repo_migrations_all_up_down(void)
{
    char pat[1100], num[16], want[64];
    glob_t g;
    snprintf(pat, sizeof(pat), "%s/[0-9][0-9][0-9][0-9]_*.sql", repo_all);
    CX_CHECK_INT(glob(pat, 0, NULL, &g), 0);
    size_t n = g.gl_pathc;
    globfree(&g);
    CX_CHECK(n >= 3);
    snprintf(num, sizeof(num), "%zu", n);
    setenv("MIGRATIONS_DIR", repo_all, 1);
    CX_CHECK_INT(migrate("up", NULL), 0);
    CX_CHECK_STR(scalar("SELECT count(*) FROM schema_migrations"), num);
    snprintf(want, sizeof(want), "%zu applied, 0 pending", n);
    CX_CHECK_INT(migrate("status", NULL), 0);
    CX_CHECK(strstr(out, want) != NULL);
    CX_CHECK_INT(migrate("down", num), 0);
    CX_CHECK_STR(scalar("SELECT count(*) FROM schema_migrations"), "0");
    CX_CHECK(!table_exists("users"));
    CX_CHECK_INT(migrate("up", NULL), 0);
    CX_CHECK_STR(scalar("SELECT count(*) FROM schema_migrations"), num);
    setenv("MIGRATIONS_DIR", repo_migrations, 1);
}

/* MIGRATIONS_GRANTS: applied after every up (idempotent, one transaction);
 * a failing grants file changes nothing and fails the run. */
static void test_grants_after_up(void)
{
    char path[] = "/tmp/cx-mig-grants-XXXXXX";
    int fd = mkstemp(path);
    CX_CHECK(fd >= 0);
    if (fd < 0)
        return;
    const char *sql = "COMMENT ON TABLE users IS 'granted';\n";
    CX_CHECK_INT(write(fd, sql, strlen(sql)), (long long)strlen(sql));
    close(fd);
    setenv("MIGRATIONS_GRANTS", path, 1);
    CX_CHECK_INT(migrate("up", NULL), 0);
    CX_CHECK(strstr(out, "applied  grants") != NULL);
    CX_CHECK_STR(scalar("SELECT obj_description('users'::regclass)"), "granted");
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("COMMENT ON TABLE users IS 'half';\nSELECT no_such_function();\n", f);
        fclose(f);
    }
    CX_CHECK_INT(migrate("up", NULL), 1);
    CX_CHECK_STR(scalar("SELECT obj_description('users'::regclass)"), "granted");
    unsetenv("MIGRATIONS_GRANTS");
    unlink(path);
}

int main(void)
{
    cx_log_init("test_migrate", CX_LOG_WARN);
    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return 1;
    self[n] = '\0';
    snprintf(tool, sizeof(tool), "%s/cx-migrate", dirname(self));
    if (access(tool, X_OK) != 0) {
        fprintf(stderr, "cx-migrate not built at %s\n", tool);
        return 1;
    }
    const char *src = getenv("CX_SOURCE_DIR");
    /* The first three migrations, frozen: the assertions above count them
     * (later files, such as 0004_roles, are covered by
     * test_repo_migrations_all_up_down and tests/integration/privilege.test.mjs). */
    snprintf(repo_all, sizeof(repo_all), "%s/migrations", src ? src : ".");
    snprintf(repo_migrations, sizeof(repo_migrations), "/tmp/cx-mig-base-XXXXXX");
    if (!mkdtemp(repo_migrations))
        return 1;
    char cp[4400];
    snprintf(cp, sizeof(cp), "cp '%s'/0001_*.sql '%s'/0002_*.sql '%s'/0003_*.sql '%s'/",
             repo_all, repo_all, repo_all, repo_migrations);
    if (system(cp) != 0)
        return 1;
    if (cx_stores_start(&st, "pg") != 0) {
        fprintf(stderr, "cannot start PostgreSQL\n");
        cx_stores_stop(&st);
        return 1;
    }
    setenv("DATABASE_URL", st.database_url, 1);
    setenv("MIGRATIONS_DIR", repo_migrations, 1);
    if (cx_pg_pool_create(&pool, st.database_url, 2) != CX_OK) {
        cx_stores_stop(&st);
        return 1;
    }
    CX_RUN(test_usage_and_bad_args);
    CX_RUN(test_status_before_any);
    CX_RUN(test_up_applies_all);
    CX_RUN(test_up_again_is_noop);
    CX_RUN(test_status_lists_applied);
    CX_RUN(test_down_reverts_last_then_up_reapplies);
    CX_RUN(test_down_n);
    CX_RUN(test_concurrent_up);
    CX_RUN(test_failing_migration_rolls_back);
    CX_RUN(test_repo_migrations_all_up_down);
    CX_RUN(test_grants_after_up);
    cx_pg_pool_destroy(pool);
    drop_dir(repo_migrations);
    cx_stores_stop(&st);
    return CX_DONE();
}
