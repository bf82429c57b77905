/* cx_redis: thread-safe Redis access (hiredis) with reconnect, to one
 * server or to a Redis Cluster.
 *
 * A small set of connections, each used by one thread at a time. A
 * connection that fails (I/O error, server restart) is dropped and
 * re-established on the next call; while Redis is down calls return
 * CX_ERR_UNAVAILABLE within the timeout.
 *
 * Cluster: found out on the first connection (CLUSTER SLOTS answers).
 * Each command goes to the node of its key's slot (hash tags honoured;
 * keyless commands to any node), MOVED and ASK redirections are followed,
 * and the slot map is refreshed after a MOVED or a lost node. A command or
 * script whose keys span slots gets Redis' CROSSSLOT error
 * (CX_ERR_INTERNAL): key what belongs together with one hash tag. */
#ifndef CX_REDIS_H
#define CX_REDIS_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "cx_status.h"

typedef struct cx_redis cx_redis;

/* addr is "host:port", or for a cluster a comma-separated list of seed
 * nodes "h1:p1,h2:p2,..." (any one reachable is enough; at most 32 nodes
 * known in all). timeout_ms bounds connect and each command. Does not
 * connect yet. */
cx_status cx_redis_create(cx_redis **out, const char *addr, int timeout_ms, int pool_size);

/* Every connection made from now on starts with AUTH [user] password (Redis
 * ACL users; user "" = the default user). password "" = no AUTH. A user
 * without a password is CX_ERR_CONFIG. Call before the first command. */
cx_status cx_redis_set_auth(cx_redis *r, const char *user, const char *password);

/* NULL is fine. */
void cx_redis_destroy(cx_redis *r);

/* Runs one command given as an argument vector (binary safe). On success
 * *out is the reply the caller frees with freeReplyObject (a Redis error
 * reply, type REDIS_REPLY_ERROR, is CX_ERR_INTERNAL and is freed for you).
 * `out` may be NULL when the reply is not needed. */
cx_status cx_redis_cmdv(cx_redis *r, redisReply **out, int argc, const char **argv,
                        const size_t *argvlen);

/* printf-style like redisCommand ("%s" arguments are binary-safe tokens). */
cx_status cx_redis_cmd(cx_redis *r, redisReply **out, const char *fmt, ...);

/* True when Redis answers PING. */
bool cx_redis_ping(cx_redis *r);

/* True once r has found a cluster (after its first connection). */
bool cx_redis_is_cluster(cx_redis *r);

/* How many servers a node-local command (SCAN) must visit to see every
 * key: the masters of a cluster, 1 for a single server, 0 while Redis
 * cannot be reached (it connects to find out). */
int cx_redis_masters(cx_redis *r);

/* Like cx_redis_cmd, but on master `master` (0 <= master <
 * cx_redis_masters) instead of where a key routes: for SCAN and other
 * commands about one server's keys. No redirection is followed;
 * CX_ERR_UNAVAILABLE when there is no such master (any more). */
cx_status cx_redis_cmd_on(cx_redis *r, int master, redisReply **out, const char *fmt, ...);

/* ---- one borrowed connection for several commands -------------------- */

/* A connection borrowed from the pool; owned by the pool, valid until
 * cx_redis_release. */
typedef struct cx_redis_conn cx_redis_conn;

/* Borrows a connection (waiting up to timeout_ms for a free one; 0 = do not
 * wait) and makes sure it is alive before handing it out: an idle
 * connection the server closed (restart, shutdown) is replaced, connecting
 * within the create-time timeout. So a caller can check that Redis is
 * reachable before it writes elsewhere (on a cluster: one node; the node
 * of a key is reached by the command). CX_ERR_UNAVAILABLE when no
 * connection frees in time or Redis cannot be reached. Give it back with
 * cx_redis_release. */
cx_status cx_redis_acquire(cx_redis *r, cx_redis_conn **out, int timeout_ms);

/* Returns c to r. broken = true closes the connection (the next borrower
 * reconnects); a connection that failed inside a command is closed
 * already. NULL c is fine. */
void cx_redis_release(cx_redis *r, cx_redis_conn *c, bool broken);

/* Like cx_redis_cmdv on the borrowed connection c: a Redis error reply is
 * CX_ERR_INTERNAL (freed for you); a lost connection (or one found dead by
 * cx_redis_conn_alive) is CX_ERR_UNAVAILABLE and c stays closed until
 * released. */
cx_status cx_redis_conn_cmdv(cx_redis_conn *c, redisReply **out, int argc, const char **argv,
                             const size_t *argvlen);

/* Cheap liveness check without a round trip: false when c is closed or the
 * server closed it (an idle connection has nothing to read, so a readable
 * socket means EOF); a dead connection is closed. Use PING through
 * cx_redis_conn_cmdv for a full round-trip check. */
bool cx_redis_conn_alive(cx_redis_conn *c);

/* ---- Lua scripts by SHA ----------------------------------------------- */

/* A Lua script run by SHA. Define as
 *   static cx_redis_script x = CX_REDIS_SCRIPT("return 1");
 * src is borrowed for the program's life; its SHA is learnt once per
 * process (SCRIPT LOAD on first use) and shared by every cx_redis. */
typedef struct cx_redis_script {
    const char *src;
    pthread_mutex_t mu;
    char sha[41]; /* "" until loaded */
} cx_redis_script;
#define CX_REDIS_SCRIPT(source)                 \
    {                                           \
        (source), PTHREAD_MUTEX_INITIALIZER, "" \
    }

/* Runs sc on the borrowed connection c with nkeys keys then nargs
 * arguments (NUL-terminated strings; at most 64 in all): EVALSHA, and on
 * NOSCRIPT (Redis restarted, SCRIPT FLUSH) EVAL of the full text, which
 * caches it again. On success *out (may be NULL) is the reply, freed by
 * the caller with freeReplyObject. Errors: CX_ERR_UNAVAILABLE (connection
 * lost or timed out, c is then closed; Redis answered BUSY or LOADING),
 * CX_ERR_INTERNAL (any other error reply, e.g. a Lua error). On a cluster
 * it runs on the node of keys[0]'s slot: every key must share that slot. */
cx_status cx_redis_evalsha(cx_redis_conn *c, cx_redis_script *sc, int nkeys,
                           const char *const *keys, int nargs, const char *const *args,
                           redisReply **out);

/* One script call of a group run by cx_redis_evalsha_many. keys/args are
 * borrowed; status and reply are set by the run (reply only on CX_OK,
 * then owned by the caller: freeReplyObject). */
typedef struct cx_redis_call {
    cx_redis_script *sc;
    int nkeys;
    const char *const *keys;
    int nargs;
    const char *const *args;
    cx_status status;
    redisReply *reply;
} cx_redis_call;

#define CX_REDIS_MANY_MAX 256 /* calls in one cx_redis_evalsha_many */

/* Runs n (<= CX_REDIS_MANY_MAX) scripts on the borrowed connection c, in
 * order, each as cx_redis_evalsha would (same statuses), but on a single
 * server in ONE pipelined round trip: all EVALSHAs written at once, then
 * the n replies read; calls answered NOSCRIPT run again by full text
 * afterwards. On a cluster (each call routes by its own first key) they
 * run one after another. When the connection fails half-way, every call
 * whose reply was not read is CX_ERR_UNAVAILABLE (it may have run: the
 * scripts must be idempotent, as every retried one is). */
void cx_redis_evalsha_many(cx_redis_conn *c, cx_redis_call *calls, int n);

#endif
