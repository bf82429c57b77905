/* leave.h: the webhook service's consumer of participant.left room events
 * (POST /rooms/{id}/leave, published by rooms): the visit is closed in
 * history and the presence entry dropped even when LiveKit sends no
 * participant_left webhook afterwards. */
#ifndef WH_LEAVE_H
#define WH_LEAVE_H

#include "webhook.h"

typedef struct wh_leave wh_leave;

/* Queue-subscribes (one copy of the daemon handles each event) to
 * <prefix>.events.room.*.participant.left on svc's connection. c is
 * borrowed and must outlive the subscription. *out owned by the caller. */
cx_status wh_leave_subscribe(wh_ctx *c, cx_service *svc, wh_leave **out);

/* Drains and frees (before the service is destroyed); NULL is fine. */
void wh_leave_unsubscribe(wh_leave *l);

#endif
