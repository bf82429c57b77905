/* cx_pg: a small thread-safe Postgres (libpq) connection pool.
 *
 * Connections are opened lazily, on first use, with TimeZone=UTC. A
 * connection found broken (server restart) is dropped and a new one is
 * opened on the next acquire. While the server is down every call returns
 * CX_ERR_UNAVAILABLE quickly (connect_timeout is short) instead of hanging.
 * SQL only through parameters: there is no API that takes interpolated SQL
 * with values. */
#ifndef CX_PG_H
#define CX_PG_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "cx_status.h"

typedef struct cx_pg_pool cx_pg_pool;

/* Creates a pool of at most `size` connections to `conninfo` (URL or
 * key=value). Does not connect. conninfo is copied. */
cx_status cx_pg_pool_create(cx_pg_pool **out, const char *conninfo, int size);

/* Closes every connection and frees the pool. NULL is fine. */
void cx_pg_pool_destroy(cx_pg_pool *pool);

/* Borrows a connection, connecting if needed. Waits up to timeout_ms for a
 * free slot (CX_ERR_UNAVAILABLE after). Return it with cx_pg_release. */
cx_status cx_pg_acquire(cx_pg_pool *pool, PGconn **out, int timeout_ms);

/* Returns a borrowed connection; broken=true (or a bad connection status)
 * closes it instead of keeping it. */
void cx_pg_release(cx_pg_pool *pool, PGconn *conn, bool broken);

/* Runs one parameterised statement (text parameters, text results) on a
 * borrowed connection. On success (COMMAND_OK/TUPLES_OK) *out is the result
 * the caller PQclear()s. Errors: unique violation -> CX_ERR_CONFLICT,
 * connection failure -> CX_ERR_UNAVAILABLE (and *broken=true), other SQL
 * errors -> CX_ERR_INTERNAL (logged with the SQLSTATE, never the values).
 * `out` may be NULL when no result is needed. */
cx_status cx_pg_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                      PGresult **out, bool *broken);

/* acquire + cx_pg_query + release, retrying once on a fresh connection when
 * the pooled one turned out to be dead before the statement was sent. */
cx_status cx_pg_exec(cx_pg_pool *pool, const char *sql, int nparams, const char *const *params,
                     PGresult **out);

/* Like cx_pg_exec, but the statement is a server-side prepared statement
 * of the session, so Postgres parses and plans it once per connection
 * instead of on every call. `name` must stand for exactly this `sql` for
 * the life of the pool (one name per statement text; names are per
 * connection, so several pools may use the same one). The first call on a
 * connection costs one more round trip: the execution fails with SQLSTATE
 * 26000, then the statement is prepared (PQprepare) and run. Errors and the
 * retry on a dead pooled connection are as for cx_pg_exec. */
cx_status cx_pg_exec_prepared(cx_pg_pool *pool, const char *name, const char *sql, int nparams,
                              const char *const *params, PGresult **out);

/* True when the server answers (SELECT 1). */
bool cx_pg_ping(cx_pg_pool *pool);

#endif
