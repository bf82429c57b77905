/* account_deleted.c: the room side of an account deletion (API-ROOMS.md
 * "Account": owned rooms ended and deleted; "Chat": the account's
 * messages stay, sent by "Deleted user"), and rooms_remove, the path of
 * DELETE /rooms/{id} that both share.
 *
 * auth publishes calixio.v1.AccountDeleted on
 * <prefix>.events.user.<user_id>.deleted at least once; every step here is
 * idempotent, so a repeat finds nothing left to do. */
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/account.pb-c.h"
#include "chat.h"
#include "cx_crypto.h"
#include "cx_json.h"
#include "cx_log.h"

#define ROOMS_ACCT_PAGE 50
/* An account owning more rooms than this is finished by the next repeat
 * of the event (auth republishes until its publish succeeded). */
#define ROOMS_ACCT_MAX_ROUNDS 200

cx_status rooms_remove(rooms_ctx *ctx, const char *id, const char *rid, bool *changed)
{
    rooms_row row;
    bool ended = false;
    *changed = false;
    /* ended first, exactly as POST /end does it */
    cx_status s = rooms_store_end(ctx->pg, id, NULL, ctx->lk != NULL, &row, &ended);
    if (s != CX_OK)
        return s;
    if (ended)
        rooms_after_end(ctx, &row, rid);
    s = rooms_store_delete(ctx->pg, id, changed);
    if (s == CX_OK && *changed && rooms_gate_forget(ctx->pg, id) != CX_OK)
        cx_log_warn(rid, "room %s: invites and waiting entries not deleted", id);
    if (s == CX_OK && *changed) {
        cx_log_info(rid, "room %s deleted", row.id);
        if (chat_store_forget_room(ctx->pg, row.id) != CX_OK)
            cx_log_warn(rid, "room %s: its chat could not be deleted", row.id);
        rooms_publish(ctx, "deleted", &row, rid);
    }
    rooms_row_clear(&row);
    return s;
}

/* Ends and deletes every room user_id owns. */
static cx_status _remove_owned(rooms_ctx *ctx, const char *user_id, const char *rid)
{
    cx_status s = CX_OK;
    for (int round = 0; s == CX_OK && round < ROOMS_ACCT_MAX_ROUNDS; round++) {
        rooms_row *rows = NULL;
        int n = 0, done = 0;
        /* deleted rooms leave the list, so the first page is always the next */
        if ((s = rooms_store_list(ctx->pg, user_id, NULL, ROOMS_ACCT_PAGE, 0, &rows, &n)) !=
            CX_OK)
            break;
        for (int i = 0; i < n; i++) {
            bool changed = false;
            cx_status r = rooms_remove(ctx, rows[i].id, rid, &changed);
            if (r == CX_OK || r == CX_ERR_ROOM_NOT_FOUND)
                done++;
            else
                s = r;
        }
        rooms_rows_free(rows, n);
        if (n == 0 || done == 0)
            break;
    }
    return s;
}

static void _on_deleted(rooms_ctx *ctx, const ProtobufCMessage *m, const char *subject)
{
    const Calixio__V1__AccountDeleted *ev = (const void *)m;
    if (!ev->user_id || !cx_uuid_valid_str(ev->user_id)) {
        cx_log_warn(NULL, "%s: AccountDeleted without a user id ignored", subject);
        return;
    }
    cx_status s = _remove_owned(ctx, ev->user_id, NULL);
    if (s == CX_OK)
        s = chat_store_anonymise(ctx->pg, ev->user_id);
    if (s == CX_OK)
        cx_log_info(NULL, "account %s deleted: its rooms deleted, its messages anonymised",
                    ev->user_id);
    else
        cx_log_warn(NULL,
                    "account %s deleted: rooms/chat clean-up failed (%s); the next "
                    "delivery of the event retries",
                    ev->user_id, cx_status_code(s));
}

cx_status rooms_account_deleted_listen(rooms_ctx *ctx, rooms_listener **out)
{
    return rooms_listen(ctx, "events.user.*.deleted", "calixio-rooms-account-deleted",
                        &calixio__v1__account_deleted__descriptor, "AccountDeleted",
                        _on_deleted, out);
}
