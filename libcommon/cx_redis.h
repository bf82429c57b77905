/* cx_redis: thread-safe Redis access (hiredis) with reconnect.
 *
 * A small set of connections, each used by one thread at a time. A
 * connection that fails (I/O error, server restart) is dropped and
 * re-established on the next call; while Redis is down calls return
 * CX_ERR_UNAVAILABLE within the timeout. */
#ifndef CX_REDIS_H
#define CX_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "cx_status.h"

typedef struct cx_redis cx_redis;

/* addr is "host:port". timeout_ms bounds connect and each command. Does not
 * connect yet. */
cx_status cx_redis_create(cx_redis **out, const char *addr, int timeout_ms, int pool_size);

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

#endif
