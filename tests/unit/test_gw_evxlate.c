/* test_gw_evxlate: live event translation and audience rules (evxlate.h). */
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/events.pb-c.h"
#include "cx_test.h"
#include "evxlate.h"

/* Packs ev and translates it with sequence seq. */
static cx_status _xlate(Calixio__V1__RoomEvent *ev, uint64_t seq, gw_ev *out)
{
    size_t len = calixio__v1__room_event__get_packed_size(ev);
    uint8_t *buf = malloc(len ? len : 1);
    calixio__v1__room_event__pack(ev, buf);
    cx_status s = gw_ev_translate(buf, len, seq, out);
    free(buf);
    return s;
}

static const gw_ev_caller host = {GW_EVR_HOST, "", ""};
static const gw_ev_caller mod = {GW_EVR_MODERATOR, "mod-1", ""};
static const gw_ev_caller part = {GW_EVR_PARTICIPANT, "p-1", ""};
static const gw_ev_caller wait_a = {GW_EVR_WAITING, "w-a",
                                    "11111111-1111-4111-8111-111111111111"};
static const gw_ev_caller wait_b = {GW_EVR_WAITING, "w-b",
                                    "22222222-2222-4222-8222-222222222222"};

static void test_room_frame(void)
{
    Calixio__V1__RoomEvent ev = CALIXIO__V1__ROOM_EVENT__INIT;
    Calixio__V1__Room room = CALIXIO__V1__ROOM__INIT;
    room.id = "r1";
    room.name = "line\nbreak";
    room.status = "ended";
    ev.type = "room.ended";
    ev.room_id = "r1";
    ev.room = &room;
    gw_ev e;
    CX_CHECK_INT(_xlate(&ev, 42, &e), CX_OK);
    CX_CHECK(strncmp(e.frame, "id: 42\nevent: room.ended\ndata: {", 32) == 0);
    CX_CHECK(strstr(e.frame, "\"name\":\"line\\nbreak\"") != NULL); /* one data line */
    CX_CHECK(strcmp(e.frame + e.frame_len - 3, "}\n\n") == 0);
    CX_CHECK(gw_ev_visible(&e, &wait_a) && gw_ev_visible(&e, &part));
    CX_CHECK(gw_ev_closes(&e, &part) && gw_ev_closes(&e, &wait_a));
    gw_ev_clear(&e);
}

static void test_audiences(void)
{
    Calixio__V1__RoomEvent ev = CALIXIO__V1__ROOM_EVENT__INIT;
    gw_ev e;
    ev.room_id = "r1";
    ev.type = "waiting.requested";
    ev.data_json = "{\"id\":\"x\",\"name\":\"W\"}";
    CX_CHECK_INT(_xlate(&ev, 1, &e), CX_OK);
    CX_CHECK(gw_ev_visible(&e, &host) && gw_ev_visible(&e, &mod));
    CX_CHECK(!gw_ev_visible(&e, &part) && !gw_ev_visible(&e, &wait_a));
    gw_ev_clear(&e);
    ev.type = "waiting.approved";
    ev.waiting_id = "11111111-1111-4111-8111-111111111111";
    CX_CHECK_INT(_xlate(&ev, 2, &e), CX_OK);
    CX_CHECK(gw_ev_visible(&e, &wait_a));
    CX_CHECK(!gw_ev_visible(&e, &wait_b) && !gw_ev_visible(&e, &host) &&
             !gw_ev_visible(&e, &part));
    gw_ev_clear(&e);
    ev.type = "chat.message";
    ev.waiting_id = NULL;
    CX_CHECK_INT(_xlate(&ev, 3, &e), CX_OK);
    CX_CHECK(gw_ev_visible(&e, &part) && gw_ev_visible(&e, &host) &&
             !gw_ev_visible(&e, &wait_a));
    gw_ev_clear(&e);
    ev.data_json = "not json";
    CX_CHECK_INT(_xlate(&ev, 4, &e), CX_ERR_NOT_FOUND);
    ev.type = "room.created"; /* not a streamed type */
    ev.data_json = NULL;
    CX_CHECK_INT(_xlate(&ev, 5, &e), CX_ERR_NOT_FOUND);
}

static void test_removed(void)
{
    Calixio__V1__RoomEvent ev = CALIXIO__V1__ROOM_EVENT__INIT;
    Calixio__V1__RoomEventParticipant p = CALIXIO__V1__ROOM_EVENT_PARTICIPANT__INIT;
    gw_ev e;
    p.identity = "p-1";
    ev.type = "participant.removed";
    ev.room_id = "r1";
    ev.participant = &p;
    CX_CHECK_INT(_xlate(&ev, 9, &e), CX_OK);
    CX_CHECK(strstr(e.frame, "data: {\"identity\":\"p-1\"}\n\n") != NULL);
    CX_CHECK(gw_ev_closes(&e, &part) && !gw_ev_closes(&e, &mod) && !gw_ev_closes(&e, &host));
    gw_ev_clear(&e);
    ev.type = "participant.joined";
    p.name = "Pat";
    ev.at = "2026-12-01T10:00:00Z";
    CX_CHECK_INT(_xlate(&ev, 10, &e), CX_OK);
    CX_CHECK(strstr(e.frame, "\"joined_at\":\"2026-12-01T10:00:00Z\"") != NULL);
    CX_CHECK(!gw_ev_closes(&e, &part));
    gw_ev_clear(&e);
    uint8_t junk[] = {0xff, 0xff, 0xff};
    CX_CHECK_INT(gw_ev_translate(junk, sizeof junk, 1, &e), CX_ERR_BAD_REQUEST);
}

static void test_role_follow(void)
{
    Calixio__V1__RoomEvent ev = CALIXIO__V1__ROOM_EVENT__INIT;
    Calixio__V1__RoomEventParticipant p = CALIXIO__V1__ROOM_EVENT_PARTICIPANT__INIT;
    gw_ev e, knock;
    gw_ev_caller me = part, other = mod, waiting = wait_a;
    p.identity = "p-1";
    p.role = "moderator";
    ev.type = "participant.role_changed";
    ev.room_id = "r1";
    ev.participant = &p;
    CX_CHECK_INT(_xlate(&ev, 11, &e), CX_OK);
    CX_CHECK(e.sets_role && e.role == GW_EVR_MODERATOR);
    Calixio__V1__RoomEvent k = CALIXIO__V1__ROOM_EVENT__INIT;
    k.type = "waiting.requested";
    k.room_id = "r1";
    k.data_json = "{\"id\":\"x\",\"name\":\"W\"}";
    CX_CHECK_INT(_xlate(&k, 12, &knock), CX_OK);
    CX_CHECK(!gw_ev_visible(&knock, &me));
    /* promoted: the staff events reach it from now on; others unchanged */
    CX_CHECK(gw_ev_apply_role(&e, &me) && me.role == GW_EVR_MODERATOR);
    CX_CHECK(gw_ev_visible(&knock, &me));
    CX_CHECK(!gw_ev_apply_role(&e, &other) && other.role == GW_EVR_MODERATOR);
    strcpy(waiting.identity, "p-1"); /* a waiting party is never promoted by an event */
    CX_CHECK(!gw_ev_apply_role(&e, &waiting) && waiting.role == GW_EVR_WAITING);
    gw_ev_clear(&e);
    /* demoted back */
    p.role = "participant";
    CX_CHECK_INT(_xlate(&ev, 13, &e), CX_OK);
    CX_CHECK(gw_ev_apply_role(&e, &me) && me.role == GW_EVR_PARTICIPANT);
    CX_CHECK(!gw_ev_visible(&knock, &me));
    gw_ev_clear(&e);
    /* an unknown role changes nothing */
    p.role = "admin";
    CX_CHECK_INT(_xlate(&ev, 14, &e), CX_OK);
    CX_CHECK(!e.sets_role && !gw_ev_apply_role(&e, &me) && me.role == GW_EVR_PARTICIPANT);
    gw_ev_clear(&e);
    /* other types never set a role */
    ev.type = "participant.removed";
    p.role = "host";
    CX_CHECK_INT(_xlate(&ev, 15, &e), CX_OK);
    CX_CHECK(!e.sets_role && !gw_ev_apply_role(&e, &me));
    gw_ev_clear(&e);
    gw_ev_clear(&knock);
}

static void test_roles(void)
{
    gw_ev_role r;
    CX_CHECK(gw_ev_role_parse("guest", &r) && r == GW_EVR_PARTICIPANT);
    CX_CHECK(gw_ev_role_parse("moderator", &r) && r == GW_EVR_MODERATOR);
    CX_CHECK(!gw_ev_role_parse("admin", &r) && !gw_ev_role_parse(NULL, &r));
}

int main(void)
{
    CX_RUN(test_room_frame);
    CX_RUN(test_audiences);
    CX_RUN(test_removed);
    CX_RUN(test_role_follow);
    CX_RUN(test_roles);
    return CX_DONE();
}
