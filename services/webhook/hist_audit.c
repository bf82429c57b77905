/* hist_audit.c: the audit log of a room, from its room events.
 *
 * Every RoomEvent on <prefix>.events.room.> reaches one copy of this
 * daemon (queue group); the table below says which become an audit entry
 * and how. A new action is one row. The entry is stored once per event id
 * (ON CONFLICT DO NOTHING), so a repeated delivery changes nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/events.pb-c.h"
#include "calixio/v1/history.pb-c.h"
#include "cx_daemon.h"
#include "cx_json.h"
#include "cx_log.h"
#include "hist.h"
#include "hist_sql.h"

#define WH_AUDIT_MAX 100

/* What an event's participant is to the entry. */
typedef enum _target {
    WH_AUDIT_T_NONE = 0,   /* no target (room.*) */
    WH_AUDIT_T_PARTICIPANT /* the participant's identity */
} _target;

/* Flags of a row. */
#define WH_AUDIT_F_NOT_SELF 0x01u      /* skipped when the actor is the target (own message) */
#define WH_AUDIT_F_VISIT_REMOVED 0x02u /* the target's latest visit ended as "removed" */
#define WH_AUDIT_F_VISIT_ROLE 0x04u    /* the target's latest visit takes participant.role */

typedef struct _action {
    const char *type;   /* RoomEvent.type */
    const char *reason; /* only when participant.reason equals this; NULL: any */
    const char *action; /* the audit action */
    _target target;
    unsigned flags;
} _action;

/* The contract's actions (API-ROOMS.md "History, audit, call quality"). */
static const _action _actions[] = {
    {"room.created", NULL, "room.created", WH_AUDIT_T_NONE, 0},
    {"room.updated", NULL, "room.updated", WH_AUDIT_T_NONE, 0},
    {"room.ended", NULL, "room.ended", WH_AUDIT_T_NONE, 0},
    {"room.deleted", NULL, "room.deleted", WH_AUDIT_T_NONE, 0},
    {"participant.left", "removed", "participant.removed", WH_AUDIT_T_PARTICIPANT,
     WH_AUDIT_F_VISIT_REMOVED},
    {"participant.removed", NULL, "participant.removed", WH_AUDIT_T_PARTICIPANT,
     WH_AUDIT_F_VISIT_REMOVED},
    {"participant.muted", NULL, "participant.muted", WH_AUDIT_T_PARTICIPANT, 0},
    {"participant.role_changed", NULL, "participant.role_changed", WH_AUDIT_T_PARTICIPANT,
     WH_AUDIT_F_VISIT_ROLE},
    {"invite.created", NULL, "invite.created", WH_AUDIT_T_NONE, 0},
    {"invite.revoked", NULL, "invite.revoked", WH_AUDIT_T_NONE, 0},
    {"waiting.approved", NULL, "waiting.approved", WH_AUDIT_T_PARTICIPANT, 0},
    {"waiting.rejected", NULL, "waiting.rejected", WH_AUDIT_T_PARTICIPANT, 0},
    {"chat.message_deleted", NULL, "chat.message_deleted", WH_AUDIT_T_PARTICIPANT,
     WH_AUDIT_F_NOT_SELF},
};

static const _action *_find(const Calixio__V1__RoomEvent *e)
{
    const char *reason = e->participant && e->participant->reason ? e->participant->reason : "";
    for (size_t i = 0; i < CX_NELEM(_actions); i++)
        if (e->type && strcmp(_actions[i].type, e->type) == 0 &&
            (!_actions[i].reason || strcmp(_actions[i].reason, reason) == 0))
            return &_actions[i];
    return NULL;
}

static const char *_s(const char *s)
{
    return s && s[0] ? s : NULL;
}

/* s when it is a UUID in canonical lowercase form, else NULL. */
static const char *_uuid(const char *s)
{
    if (!s || strlen(s) != 36)
        return NULL;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-'
                 : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return NULL;
    }
    return s;
}

#define WH_AUDIT_INSERT_SQL                                                                \
    "INSERT INTO audit_entries (room_id, event_id, at, actor_identity, actor_user_id, "    \
    "actor_name, action, target, reason, role) VALUES ($1::uuid, $2, "                     \
    "to_timestamp($3::bigint / 1000.0), COALESCE($4, ''), $5::uuid, "                      \
    "CASE WHEN EXISTS (SELECT 1 FROM history_deleted_users d WHERE d.user_id = $5::uuid) " \
    "THEN 'Deleted user' ELSE COALESCE($6, '') END, $7, "                                  \
    "COALESCE($8, ''), COALESCE($9, ''), COALESCE($10, '')) ON CONFLICT (event_id) DO NOTHING"

#define WH_AUDIT_REMOVED_SQL                                                        \
    "UPDATE visits SET leave_reason = 'removed' WHERE id = (SELECT id FROM visits " \
    "WHERE room_id = $1::uuid AND identity = $2 AND joined_at IS NOT NULL "         \
    "ORDER BY joined_at DESC, id DESC LIMIT 1) AND (left_at IS NULL OR closed_by = 'event')"

#define WH_AUDIT_ROLE_SQL                                                                     \
    "UPDATE visits SET role = $3 WHERE id = (SELECT id FROM visits WHERE room_id = $1::uuid " \
    "AND identity = $2 AND joined_at IS NOT NULL ORDER BY joined_at DESC, id DESC LIMIT 1)"

cx_status wh_audit_store(wh_ctx *c, const void *data, int len)
{
    ProtobufCMessage *m = NULL;
    char at[24];
    PGresult *res = NULL;
    cx_status s = cx_pb_unpack(&calixio__v1__room_event__descriptor, data, (size_t)len, &m);
    if (s != CX_OK)
        return s;
    const Calixio__V1__RoomEvent *e = (const void *)m;
    const _action *a = _find(e);
    const Calixio__V1__RoomEventParticipant *p = e->participant, *act = e->actor;
    if (!a || !_uuid(e->room_id) || !_s(e->event_id) || !e->has_at_ms)
        goto out_free; /* not audited */
    const char *target = a->target == WH_AUDIT_T_PARTICIPANT && p ? _s(p->identity) : NULL;
    /* the actor: the event's when it says; else the room's owner for room
     * changes (only the host and moderators change a room) */
    const char *aid = act ? _s(act->identity) : NULL;
    const char *auid = act ? _uuid(act->user_id) : NULL;
    const char *aname = act ? _s(act->name) : NULL;
    if (!act && e->room && a->target == WH_AUDIT_T_NONE)
        auid = _uuid(e->room->owner_user_id);
    if ((a->flags & WH_AUDIT_F_NOT_SELF) && aid && target && strcmp(aid, target) == 0)
        goto out_free;
    snprintf(at, sizeof at, "%lld", (long long)e->at_ms);
    const char *params[] = {e->room_id,
                            e->event_id,
                            at,
                            aid,
                            auid,
                            aname,
                            a->action,
                            target,
                            p ? _s(p->reason) : NULL,
                            p ? _s(p->role) : NULL};
    s = cx_pg_exec_prepared(c->pg, "wh_audit_insert", WH_AUDIT_INSERT_SQL, 10, params, &res);
    PQclear(res);
    res = NULL;
    if (s == CX_OK && (a->flags & WH_AUDIT_F_VISIT_REMOVED) && target) {
        const char *vp[] = {e->room_id, target};
        s = cx_pg_exec_prepared(c->pg, "wh_audit_removed", WH_AUDIT_REMOVED_SQL, 2, vp, &res);
        PQclear(res);
    }
    if (s == CX_OK && (a->flags & WH_AUDIT_F_VISIT_ROLE) && target && p && p->role &&
        (strcmp(p->role, "moderator") == 0 || strcmp(p->role, "participant") == 0)) {
        const char *vp[] = {e->room_id, target, p->role};
        s = cx_pg_exec_prepared(c->pg, "wh_audit_role", WH_AUDIT_ROLE_SQL, 3, vp, &res);
        PQclear(res);
    }
out_free:
    protobuf_c_message_free_unpacked(m, NULL);
    return s;
}

/* ---- GET /rooms/{id}/audit ------------------------------------------------ */

/* col of row, malloced, or NULL (left absent) when "" or SQL NULL. */
static bool _optional(const PGresult *r, int row, int col, char **dst)
{
    if (PQgetisnull(r, row, col) || !PQgetvalue(r, row, col)[0])
        return true;
    return (*dst = cx_strdup(PQgetvalue(r, row, col))) != NULL;
}

static cx_status _entry(const PGresult *r, int i, Calixio__V1__AuditEntry **out)
{
    Calixio__V1__AuditEntry *e = calloc(1, sizeof *e);
    Calixio__V1__AuditActor *a = calloc(1, sizeof *a);
    if (!e || !a) {
        free(e);
        free(a);
        return CX_ERR_NOMEM;
    }
    calixio__v1__audit_entry__init(e);
    calixio__v1__audit_actor__init(a);
    *out = e;
    e->actor = a;
    e->at = wh_hist_time(r, i, 1);
    a->name = wh_hist_str(r, i, 4);
    e->action = wh_hist_str(r, i, 5);
    bool ok = e->at && a->name && e->action && _optional(r, i, 2, &a->identity) &&
              _optional(r, i, 3, &a->user_id) && _optional(r, i, 6, &e->target);
    if (ok && (PQgetvalue(r, i, 7)[0] || PQgetvalue(r, i, 8)[0])) {
        Calixio__V1__AuditDetails *d = calloc(1, sizeof *d);
        if (!d)
            return CX_ERR_NOMEM;
        calixio__v1__audit_details__init(d);
        e->details = d;
        ok = _optional(r, i, 7, &d->reason) && _optional(r, i, 8, &d->role);
    }
    return ok ? CX_OK : CX_ERR_NOMEM;
}

cx_status wh_h_audit(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                     void *ctx)
{
    static const char *const allowed[] = {"host", NULL};
    wh_ctx *c = ctx;
    const Calixio__V1__AuditRequest *in = (const void *)in_;
    wh_hist_caller who;
    char lim[12], cur[24];
    long long after = 0;
    int n = 0;
    PGresult *res = NULL;

    cx_status s = wh_hist_caller_for_room(c, req, in->id, allowed, &who);
    if (s != CX_OK)
        return s;
    if (in->has_limit && (in->limit < 1 || in->limit > WH_AUDIT_MAX))
        return cx_req_field_error(req, "limit", in->limit < 1 ? "min" : "max");
    bool has_cursor = in->cursor && in->cursor[0];
    if (has_cursor &&
        (strlen(in->cursor) > 24 || sscanf(in->cursor, "a1.%lld%n", &after, &n) != 1 ||
         in->cursor[n] != '\0' || after < 0))
        return cx_req_field_error(req, "cursor", "invalid");
    int want = in->has_limit ? in->limit : WH_AUDIT_DEFAULT;
    snprintf(lim, sizeof lim, "%d", want + 1);
    snprintf(cur, sizeof cur, "%lld", after);
    const char *params[] = {in->id, has_cursor ? cur : NULL, lim};
    if ((s = cx_pg_exec_prepared(c->pg, "wh_audit_list", WH_AUDIT_LIST_SQL, 3, params, &res)) !=
        CX_OK)
        return s;
    int rows = PQntuples(res), shown = rows > want ? want : rows;
    Calixio__V1__AuditReply *m = calloc(1, sizeof *m);
    bool ok = m != NULL;
    if (ok) {
        calixio__v1__audit_reply__init(m);
        ok = (m->entries = calloc((size_t)(shown ? shown : 1), sizeof *m->entries)) != NULL;
    }
    for (int i = 0; ok && i < shown; i++) {
        ok = _entry(res, i, &m->entries[i]) == CX_OK;
        m->n_entries = (size_t)i + 1;
    }
    if (ok && rows > want) {
        char buf[40];
        snprintf(buf, sizeof buf, "a1.%s", PQgetvalue(res, shown - 1, 0));
        ok = (m->next_cursor = cx_strdup(buf)) != NULL;
    }
    PQclear(res);
    if (!ok) {
        if (m)
            protobuf_c_message_free_unpacked(&m->base, NULL);
        return CX_ERR_NOMEM;
    }
    *out = &m->base;
    return CX_OK;
}
