/* seats.h: when a guest join must ask Redis for the exact live count
 * (issue 14). Pure functions, unit-tested (tests/unit/test_media_seats.c). */
#ifndef MEDIA_SEATS_H
#define MEDIA_SEATS_H

#include <stdbool.h>
#include <stdint.h>

/* How far below max_participants the local count must stay for its answer
 * ("not full") to be taken without Redis: max(2, max / 10). It absorbs the
 * lag of the pushed presence events (joins applied in Redis but not yet
 * seen here) and the few counted twice around a load. */
int32_t media_seats_margin(int32_t max_participants);

/* true: the join asks Redis (HLEN) and decides on that exact count. false:
 * the room cannot be full (no limit, or the known local count is below the
 * limit by more than the margin). known: the local count is trusted. */
bool media_seats_must_ask(bool known, long long local_count, int32_t max_participants);

#endif
