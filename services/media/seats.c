/* seats.c: see seats.h. */
#include "seats.h"

int32_t media_seats_margin(int32_t max_participants)
{
    int32_t m = max_participants / 10;
    return m > 2 ? m : 2;
}

bool media_seats_must_ask(bool known, long long local_count, int32_t max_participants)
{
    if (max_participants <= 0)
        return false; /* no limit: nothing to check */
    if (!known || local_count < 0)
        return true;
    return local_count >= (long long)max_participants - media_seats_margin(max_participants);
}
