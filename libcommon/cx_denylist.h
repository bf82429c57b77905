/* cx_denylist: this process's copy of the revoked sessions, so verifying an
 * access token needs no Redis round trip (issue 14).
 *
 * Every revocation is pushed to every copy on <prefix>.events.auth.revoked
 * (cx_denylist_note). Redis is the cold-start and gap filler: the index
 * key CX_DENYLIST_INDEX (a sorted set: member = session id, score = unix
 * time the entry expires, written next to each cx:revoked:sid:<sid> key by
 * cx_denylist_index_put) is loaded in full
 *   - before the copy is trusted at all (start-up),
 *   - after every gap in the push: NATS disconnected / reconnected, or a
 *     slow-consumer drop (cx_denylist_invalidate),
 *   - every CX_DENYLIST_RESYNC_S seconds while trusted, which bounds how
 *     long a revocation whose event was lost some other way goes unseen.
 * Until a load succeeded after the last gap the copy is not known and
 * cx_denylist_check answers -1: the caller asks Redis per request (and its
 * fallback), failing closed as before. Loads are made by whichever
 * verification finds one due (one at a time, at most one attempt per
 * second while failing); a load that overlapped a gap does not count.
 *
 * Entries noted from a push are kept CX_DENYLIST_PUSH_KEEP_S (longer than
 * any access token lives) or until the index says otherwise, later; the
 * copy holds at most CX_DENYLIST_MAX sessions, beyond which it is not
 * known (per-request Redis again) until entries expire. */
#ifndef CX_DENYLIST_H
#define CX_DENYLIST_H

#include <stdbool.h>
#include <stdint.h>

#include "cx_redis.h"
#include "cx_status.h"

#define CX_DENYLIST_INDEX "cx:revoked:index"
#define CX_DENYLIST_EVENT "events.auth.revoked" /* after <prefix>. */
#define CX_DENYLIST_MAX 8192
#define CX_DENYLIST_RESYNC_S 30
#define CX_DENYLIST_PUSH_KEEP_S 86400

/* A revocation pushed (or made here): refused from now on. */
void cx_denylist_note(const char *session_id);

/* on: a subscription to the pushed revocations is in place (call after
 * it is, flushed), so the copy may be trusted once loaded; off: it is
 * gone, never trusted again until on. Either way a load is due. */
void cx_denylist_enable(bool on);

/* A gap in the push: not trusted until the next full load. */
void cx_denylist_invalidate(void);

/* 1 revoked, 0 not revoked, -1 not known (ask Redis). May load the index
 * from redis first (see above); redis NULL never loads. */
int cx_denylist_check(cx_redis *redis, const char *session_id);

/* Adds session_id to the index until now + ttl_s and drops the expired
 * members. */
cx_status cx_denylist_index_put(cx_redis *redis, const char *session_id, int64_t ttl_s);

/* For tests: forget everything, back to the start-up state. */
void cx_denylist_reset(void);

#endif
