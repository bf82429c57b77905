/* test_media_seats: when a guest join of cx-media asks Redis for the exact
 * live count (services/media/seats.c, issue 14). */
#include "cx_test.h"
#include "seats.h"

static void test_margin(void)
{
    CX_CHECK_INT(media_seats_margin(1), 2);
    CX_CHECK_INT(media_seats_margin(2), 2);
    CX_CHECK_INT(media_seats_margin(29), 2);
    CX_CHECK_INT(media_seats_margin(30), 3);
    CX_CHECK_INT(media_seats_margin(100), 10);
    CX_CHECK_INT(media_seats_margin(1000), 100);
}

static void test_no_limit_never_asks(void)
{
    CX_CHECK(!media_seats_must_ask(false, 0, 0));
    CX_CHECK(!media_seats_must_ask(true, 1000, 0));
    CX_CHECK(!media_seats_must_ask(false, 5, -1));
}

static void test_unknown_always_asks(void)
{
    CX_CHECK(media_seats_must_ask(false, 0, 100));
    CX_CHECK(media_seats_must_ask(false, 0, 1));
    CX_CHECK(media_seats_must_ask(true, -1, 100)); /* a broken count is not known */
}

static void test_far_from_the_limit(void)
{
    CX_CHECK(!media_seats_must_ask(true, 0, 100));
    CX_CHECK(!media_seats_must_ask(true, 89, 100));
    CX_CHECK(!media_seats_must_ask(true, 17, 20));
    CX_CHECK(!media_seats_must_ask(true, 0, 3));
}

static void test_near_or_at_the_limit(void)
{
    CX_CHECK(media_seats_must_ask(true, 90, 100));
    CX_CHECK(media_seats_must_ask(true, 100, 100));
    CX_CHECK(media_seats_must_ask(true, 250, 100)); /* over: still exact */
    CX_CHECK(media_seats_must_ask(true, 18, 20));
    /* small rooms: every join of a room of 2 or less is exact */
    CX_CHECK(media_seats_must_ask(true, 0, 2));
    CX_CHECK(media_seats_must_ask(true, 0, 1));
    CX_CHECK(media_seats_must_ask(true, 1, 3));
}

int main(void)
{
    CX_RUN(test_margin);
    CX_RUN(test_no_limit_never_asks);
    CX_RUN(test_unknown_always_asks);
    CX_RUN(test_far_from_the_limit);
    CX_RUN(test_near_or_at_the_limit);
    return CX_DONE();
}
