/* start.c: what a join asks of others: rooms.start for a pending room
 * (its first allowed join; rooms owns the row and LiveKit). */
#include "calixio/v1/rooms.pb-c.h"
#include "cx_svcreq.h"
#include "media.h"

cx_status media_start_room(const media_ctx *c, cx_req *req, const char *id)
{
    Calixio__V1__RoomRef ref = CALIXIO__V1__ROOM_REF__INIT;
    ref.id = (char *)id;
    return cx_svcreq_call(c->svc, "rooms.start", req, CX_SVCREQ_ERR_MESSAGE, &ref.base, NULL,
                          MEDIA_START_TIMEOUT_MS, NULL);
}
