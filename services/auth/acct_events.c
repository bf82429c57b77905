/* The account-deleted event (see account.h and proto account.proto):
 * AccountDeleted on <prefix>.events.user.<user_id>.deleted. The deletion
 * transaction leaves a row in account_deletions; the request publishes
 * right after its commit, and a periodic task publishes again every row
 * whose publish was not confirmed (NATS flush), so a crash or a NATS
 * outage between the commit and the publish loses no event. */
#include <stdio.h>

#include "account.h"
#include "cx_log.h"

#define ACCT_OUTBOX_BATCH 32
#define ACCT_FLUSH_MS 2000

/* Publishes one event and waits until NATS has it; CX_OK then. */
static cx_status _publish(const auth_ctx *c, const char *user_id, const char *deleted_at)
{
    char rel[96];
    if (!c->svc)
        return CX_ERR_UNAVAILABLE;
    Calixio__V1__AccountDeleted ev = CALIXIO__V1__ACCOUNT_DELETED__INIT;
    ev.user_id = (char *)user_id;
    ev.deleted_at = (char *)deleted_at;
    int n = snprintf(rel, sizeof(rel), "events.user.%s.deleted", user_id);
    if (n < 0 || (size_t)n >= sizeof(rel))
        return CX_ERR_INTERNAL;
    cx_status s = cx_service_publish(c->svc, rel, &ev.base);
    if (s == CX_OK &&
        natsConnection_FlushTimeout(cx_service_conn(c->svc), ACCT_FLUSH_MS) != NATS_OK)
        s = CX_ERR_UNAVAILABLE;
    return s;
}

void acct_publish_deleted(const auth_ctx *c, const char *request_id, const char *user_id,
                          const char *deleted_at)
{
    cx_status s = _publish(c, user_id, deleted_at);
    if (s == CX_OK)
        s = acct_store_deletion_published(c->pg, user_id);
    if (s != CX_OK)
        cx_log_warn(request_id, "account-deleted event of %s not confirmed (%s): retried later",
                    user_id, cx_status_code(s));
}

void acct_outbox_tick(void *arg)
{
    const auth_ctx *c = arg;
    char ids[ACCT_OUTBOX_BATCH][37], at[ACCT_OUTBOX_BATCH][21];
    int n = 0;
    if (acct_store_pending_deletions(c->pg, ACCT_OUTBOX_BATCH, ids, at, &n) != CX_OK)
        return; /* Postgres down: the next tick tries again */
    for (int i = 0; i < n; i++) {
        cx_status s = _publish(c, ids[i], at[i]);
        if (s == CX_OK)
            s = acct_store_deletion_published(c->pg, ids[i]);
        if (s != CX_OK) {
            cx_log_warn(NULL, "account-deleted event of %s: %s", ids[i], cx_status_code(s));
            return;
        }
        cx_log_info(NULL, "account-deleted event of %s published from the outbox", ids[i]);
    }
}
