/* hist_query.c: the first page of the three history routes of issue 18, as
 * the webhook daemon asks Postgres for it: the statements of
 * services/webhook/hist_sql.h (the daemon's own text, prepared under the
 * daemon's names, through cx_pg_exec_prepared, with the parameters of a
 * request that has no from/to/cursor/limit), one connection, one request
 * at a time. The routes' own Postgres cost, without HTTP or NATS
 * (bench/history-http.mjs measures those).
 *
 *   DATABASE_URL=... hist_query USER_ID ROOM_ID AUDIT_ROOM_ID [EXECUTIONS=2000]
 *
 * USER_ID: the user whose calls are paged; ROOM_ID: the room whose history
 * is paged; AUDIT_ROOM_ID: the room whose audit log is paged. Each query
 * runs 50 times unmeasured first (the plan cache settles on its generic or
 * custom plan after 5, as in a long-lived daemon connection), then
 * EXECUTIONS times measured. Prints a markdown table (p50/p99 in ms of one
 * request: every statement the route runs, in order), one line
 * "LIMIT name=history_sql_<query>_p99_ms value=<ms> target=20" per query,
 * then the EXPLAIN (ANALYZE, BUFFERS) of each statement as it is executed
 * after the warm-up (EXPLAIN EXECUTE of the same prepared statement).
 * Exit 0 when it ran; 1 when a statement fails or a first page is not
 * full (limit + 1 rows: the data is too small, or the parameters here no
 * longer match the statement's). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../services/webhook/hist_sql.h"
#include "cx_pg.h"

#define HQ_WARMUP 50
#define HQ_TARGET_MS 20
#define HQ_MAX_PARAMS 6
#define HQ_MAX_STMTS 2

/* Which argument a parameter is: a fixed text, NULL, or an id of argv. */
typedef enum hq_arg { HQ_NULL = 0, HQ_USER, HQ_ROOM, HQ_AUDIT_ROOM, HQ_LIMIT } hq_arg;

typedef struct hq_stmt {
    const char *name; /* the daemon's prepared statement name */
    const char *sql;
    int nparams;
    hq_arg params[HQ_MAX_PARAMS];
    int limit; /* the page size: the daemon asks for one more row */
} hq_stmt;

typedef struct hq_query {
    const char *name;  /* LIMIT name part */
    const char *route; /* for the table */
    hq_stmt stmts[HQ_MAX_STMTS];
    int nstmts;
} hq_query;

/* The routes' first pages, statement by statement, as hist_calls.c and
 * hist_audit.c run them. */
static const hq_query hq_queries[] = {
    {"user_calls",
     "GET /users/me/calls",
     {{"wh_calls",
       WH_CALLS_SQL,
       6,
       {HQ_USER, HQ_NULL, HQ_NULL, HQ_NULL, HQ_NULL, HQ_LIMIT},
       WH_CALLS_DEFAULT}},
     1},
    {"room_history",
     "GET /rooms/{id}/history",
     {{"wh_history_room", WH_CALLS_ROOM_SQL, 1, {HQ_ROOM}, 0},
      {"wh_history_visits",
       WH_CALLS_VISITS_SQL,
       4,
       {HQ_ROOM, HQ_NULL, HQ_NULL, HQ_LIMIT},
       WH_CALLS_VISITS_DEFAULT}},
     2},
    {"room_audit",
     "GET /rooms/{id}/audit",
     {{"wh_audit_list",
       WH_AUDIT_LIST_SQL,
       3,
       {HQ_AUDIT_ROOM, HQ_NULL, HQ_LIMIT},
       WH_AUDIT_DEFAULT}},
     1},
};

typedef struct hq_ids {
    const char *user, *room, *audit_room;
} hq_ids;

/* Fills out[] with the statement's parameters (lim: scratch for the limit). */
static void hq_params(const hq_stmt *st, const hq_ids *ids, char lim[12], const char **out)
{
    snprintf(lim, 12, "%d", st->limit + 1);
    for (int i = 0; i < st->nparams; i++) {
        switch (st->params[i]) {
        case HQ_USER:
            out[i] = ids->user;
            break;
        case HQ_ROOM:
            out[i] = ids->room;
            break;
        case HQ_AUDIT_ROOM:
            out[i] = ids->audit_room;
            break;
        case HQ_LIMIT:
            out[i] = lim;
            break;
        default:
            out[i] = NULL;
            break;
        }
    }
}

static double hq_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* One request: every statement of q, in order. *rows: rows of the last. */
static cx_status hq_run(cx_pg_pool *pg, const hq_query *q, const hq_ids *ids, int *rows)
{
    for (int i = 0; i < q->nstmts; i++) {
        const hq_stmt *st = &q->stmts[i];
        const char *params[HQ_MAX_PARAMS];
        char lim[12];
        PGresult *res = NULL;
        hq_params(st, ids, lim, params);
        cx_status s = cx_pg_exec_prepared(pg, st->name, st->sql, st->nparams, params, &res);
        if (s != CX_OK)
            return s;
        *rows = PQntuples(res);
        PQclear(res);
    }
    return CX_OK;
}

static int hq_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The value at quantile p of sorted v[n] (nearest rank). */
static double hq_quantile(const double *v, int n, double p)
{
    int i = (int)(p * n);
    return v[i < n ? i : n - 1];
}

/* EXPLAIN (ANALYZE, BUFFERS) EXECUTE of st on the pool's one connection
 * (where the warm-up prepared it), the parameters as escaped literals. */
static cx_status hq_explain(cx_pg_pool *pg, const hq_stmt *st, const hq_ids *ids)
{
    PGconn *conn = NULL;
    const char *params[HQ_MAX_PARAMS];
    char lim[12], sql[1024];
    cx_status s = cx_pg_acquire(pg, &conn, 5000);
    if (s != CX_OK)
        return s;
    hq_params(st, ids, lim, params);
    int n = snprintf(sql, sizeof sql, "EXPLAIN (ANALYZE, BUFFERS) EXECUTE %s(", st->name);
    for (int i = 0; i < st->nparams && n > 0 && (size_t)n < sizeof sql; i++) {
        char *lit = params[i] ? PQescapeLiteral(conn, params[i], strlen(params[i])) : NULL;
        n += snprintf(sql + n, sizeof sql - (size_t)n, "%s%s", i ? ", " : "",
                      lit ? lit : "NULL");
        PQfreemem(lit);
    }
    if (n > 0 && (size_t)n < sizeof sql)
        snprintf(sql + n, sizeof sql - (size_t)n, ")");
    PGresult *res = PQexec(conn, sql);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    printf("\n#### %s (%s)\n\n```\n", st->name, ok ? "EXPLAIN (ANALYZE, BUFFERS)" : "failed");
    for (int r = 0; ok && r < PQntuples(res); r++)
        printf("%s\n", PQgetvalue(res, r, 0));
    if (!ok)
        printf("%s", PQerrorMessage(conn));
    PQclear(res);
    /* which plan the cache chose: the daemon's steady state */
    const char *pp[] = {st->name};
    res = PQexecParams(conn,
                       "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                       "WHERE name = $1",
                       1, NULL, pp, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        printf("(plan cache: %s generic, %s custom executions)\n", PQgetvalue(res, 0, 0),
               PQgetvalue(res, 0, 1));
    printf("```\n");
    PQclear(res);
    cx_pg_release(pg, conn, false);
    return ok ? CX_OK : CX_ERR_INTERNAL;
}

/* Warm-up, then execs measured requests: p50 and p99 in ms, rows of the last. */
static cx_status hq_measure(cx_pg_pool *pg, const hq_query *q, const hq_ids *ids, int execs,
                            double *p50, double *p99, int *rows)
{
    double *lat = calloc((size_t)execs, sizeof *lat);
    if (!lat)
        return CX_ERR_NOMEM;
    cx_status s = CX_OK;
    for (int i = 0; s == CX_OK && i < HQ_WARMUP; i++)
        s = hq_run(pg, q, ids, rows);
    for (int i = 0; s == CX_OK && i < execs; i++) {
        double t0 = hq_now_ms();
        s = hq_run(pg, q, ids, rows);
        lat[i] = hq_now_ms() - t0;
    }
    if (s == CX_OK) {
        qsort(lat, (size_t)execs, sizeof *lat, hq_cmp);
        *p50 = hq_quantile(lat, execs, 0.50);
        *p99 = hq_quantile(lat, execs, 0.99);
    }
    free(lat);
    return s;
}

int main(int argc, char **argv)
{
    const char *url = getenv("DATABASE_URL");
    if (argc < 4 || !url || !url[0]) {
        fprintf(stderr, "usage: DATABASE_URL=... hist_query USER_ID ROOM_ID AUDIT_ROOM_ID "
                        "[EXECUTIONS]\n");
        return 2;
    }
    hq_ids ids = {argv[1], argv[2], argv[3]};
    int execs = argc > 4 ? atoi(argv[4]) : 2000;
    if (execs < 1 || execs > 1000000) {
        fprintf(stderr, "hist_query: EXECUTIONS must be 1..1000000\n");
        return 2;
    }
    cx_pg_pool *pg = NULL;
    if (cx_pg_pool_create(&pg, url, 1) != CX_OK) {
        fprintf(stderr, "hist_query: no pool\n");
        return 1;
    }
    enum { NQ = sizeof hq_queries / sizeof hq_queries[0] };
    double p50[NQ], p99[NQ];
    int rows[NQ];
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < NQ; i++) {
        const hq_query *q = &hq_queries[i];
        int full = q->stmts[q->nstmts - 1].limit + 1;
        if (hq_measure(pg, q, &ids, execs, &p50[i], &p99[i], &rows[i]) != CX_OK) {
            fprintf(stderr, "hist_query: %s failed\n", q->name);
            rc = 1;
        } else if (rows[i] != full) {
            /* a first page of the generated data is full (limit + 1 rows): anything
             * else means the parameters no longer match the statement */
            fprintf(stderr, "hist_query: %s returned %d rows, expected %d\n", q->name, rows[i],
                    full);
            rc = 1;
        }
    }
    if (rc == 0) {
        printf("| route (first page, SQL only) | statements | rows | executions | p50 ms | "
               "p99 ms |\n|---|---|---|---|---|---|\n");
        for (size_t i = 0; i < NQ; i++)
            printf("| %s | %d | %d | %d | %.3f | %.3f |\n", hq_queries[i].route,
                   hq_queries[i].nstmts, rows[i], execs, p50[i], p99[i]);
        printf("\n");
        for (size_t i = 0; i < NQ; i++)
            printf("LIMIT name=history_sql_%s_p99_ms value=%.3f target=%d op=lt unit=ms -- %s "
                   "first page in Postgres alone (prepared, p99)\n",
                   hq_queries[i].name, p99[i], HQ_TARGET_MS, hq_queries[i].route);
        for (size_t i = 0; i < NQ; i++) {
            printf("\n### %s\n", hq_queries[i].route);
            for (int j = 0; j < hq_queries[i].nstmts; j++)
                if (hq_explain(pg, &hq_queries[i].stmts[j], &ids) != CX_OK)
                    rc = 1;
        }
    }
    cx_pg_pool_destroy(pg);
    return rc;
}
