/* chat_visits.c: who may read a room's chat with an access token.
 *
 * API-ROOMS.md lets "a signed-in user with a visit to this room in their
 * history" read it. The visits are the webhook service's (its tables, not
 * ours), so rooms keeps its own record: the webhook service publishes each
 * LiveKit participant_joined as a LiveKitEvent on
 * <prefix>.events.room.<livekit room>.participant_joined, and a signed-in
 * participant's identity is its user id (media mints it so). Each such
 * event adds (room, user) to chat_readers; so does any chat message sent
 * with a room token of a signed-in user (chat_store_insert). */
#include "calixio/v1/webhook.pb-c.h"
#include "chat.h"
#include "cx_crypto.h"
#include "cx_json.h"
#include "cx_log.h"

static void _on_joined(rooms_ctx *ctx, const ProtobufCMessage *m, const char *subject)
{
    const Calixio__V1__LiveKitEvent *ev = (const void *)m;
    (void)subject;
    /* guests ("guest-...") have no account; unknown rooms have no room_id */
    if (ev->room_id && cx_uuid_valid_str(ev->room_id) && ev->identity &&
        cx_uuid_valid_str(ev->identity) &&
        chat_store_add_reader(ctx->pg, ev->room_id, ev->identity) != CX_OK)
        cx_log_warn(ev->id, "room %s: chat reader %s not recorded", ev->room_id, ev->identity);
}

cx_status rooms_visits_listen(rooms_ctx *ctx, rooms_listener **out)
{
    return rooms_listen(ctx, "events.room.*.participant_joined", "calixio-rooms-chat-readers",
                        &calixio__v1__live_kit_event__descriptor, "LiveKitEvent", _on_joined,
                        out);
}
