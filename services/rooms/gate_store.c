/* gate_store.c: invites, bans and room roles in Postgres (0007_access.sql),
 * parameterised SQL only. Invite codes are never stored: only their
 * SHA-256 (a code is 192 random bits, so a fast hash is enough). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx_crypto.h"
#include "cx_time.h"
#include "rooms.h"

#define INV_COLS                                                         \
    "id::text, label, role, expires_at, max_uses, uses, created_at, "    \
    "(revoked_at IS NULL), (expires_at IS NULL OR expires_at > now()), " \
    "(max_uses IS NULL OR uses < max_uses)"

static void _ts(const PGresult *res, int i, int col, char out[21])
{
    out[0] = '\0';
    if (!PQgetisnull(res, i, col) && cx_time_pg_to_rfc3339(PQgetvalue(res, i, col), out) != 0)
        out[0] = '\0';
}

static void _inv(const PGresult *res, int i, rooms_invite *v)
{
    memset(v, 0, sizeof *v);
    snprintf(v->id, sizeof v->id, "%s", PQgetvalue(res, i, 0));
    snprintf(v->label, sizeof v->label, "%s", PQgetvalue(res, i, 1));
    snprintf(v->role, sizeof v->role, "%s", PQgetvalue(res, i, 2));
    _ts(res, i, 3, v->expires_at);
    v->max_uses = PQgetisnull(res, i, 4) ? 0 : atoi(PQgetvalue(res, i, 4));
    v->uses = atoi(PQgetvalue(res, i, 5));
    _ts(res, i, 6, v->created_at);
    v->revoked = PQgetvalue(res, i, 7)[0] != 't';
    v->usable = !v->revoked && PQgetvalue(res, i, 8)[0] == 't' &&
                PQgetvalue(res, i, 9)[0] == 't';
}

/* The code's hash as a bytea parameter in hex form (\x...) into out[67]. */
static void _code_param(const char *code, char out[67])
{
    uint8_t h[32];
    cx_sha256(code, strlen(code), h);
    out[0] = '\\';
    out[1] = 'x';
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 + 2 * i, 3, "%02x", h[i]);
}

cx_status rooms_invite_peek(cx_pg_pool *pg, const char *room_id, const char *code,
                            rooms_invite *out)
{
    char hp[67];
    PGresult *res = NULL;
    _code_param(code, hp);
    const char *p[] = {room_id, hp};
    cx_status s = cx_pg_exec(pg,
                             "SELECT " INV_COLS " FROM room_invites "
                             "WHERE room_id = $1 AND code_hash = $2::bytea",
                             2, p, &res);
    if (s != CX_OK)
        return s;
    if (PQntuples(res) != 1)
        s = CX_ERR_INVITE_INVALID; /* unknown, or another room's */
    else {
        _inv(res, 0, out);
        s = out->revoked ? CX_ERR_INVITE_INVALID : out->usable ? CX_OK : CX_ERR_INVITE_EXPIRED;
    }
    PQclear(res);
    return s;
}

cx_status rooms_invite_use(cx_pg_pool *pg, const char *invite_id)
{
    PGresult *res = NULL;
    const char *p[] = {invite_id};
    /* one statement: the row lock makes racing uses of the last one
     * serialise, the second sees uses = max_uses and changes nothing */
    cx_status s = cx_pg_exec(
        pg,
        "UPDATE room_invites SET uses = uses + 1 WHERE id = $1 "
        "AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) "
        "AND (max_uses IS NULL OR uses < max_uses) RETURNING id",
        1, p, &res);
    if (s != CX_OK)
        return s;
    s = PQntuples(res) == 1 ? CX_OK : CX_ERR_INVITE_EXPIRED;
    PQclear(res);
    return s;
}

cx_status rooms_invite_insert(cx_pg_pool *pg, const char *room_id, const char *code,
                              const char *label, const char *role, int64_t expires_in_s,
                              int32_t max_uses, const char *created_by, rooms_invite *out)
{
    char id[37], hp[67], exp[24] = "", mu[16] = "";
    PGresult *res = NULL;
    cx_uuid_v4(id);
    _code_param(code, hp);
    if (expires_in_s > 0)
        snprintf(exp, sizeof exp, "%lld", (long long)expires_in_s);
    if (max_uses > 0)
        snprintf(mu, sizeof mu, "%d", max_uses);
    const char *p[] = {id, room_id, hp, label, role, exp, mu, created_by};
    cx_status s = cx_pg_exec(
        pg,
        "INSERT INTO room_invites (id, room_id, code_hash, label, role, expires_at, max_uses, "
        "created_by) VALUES ($1, $2, $3::bytea, $4, $5, "
        "now() + make_interval(secs => NULLIF($6, '')::bigint), NULLIF($7, '')::int, $8) "
        "RETURNING " INV_COLS,
        8, p, &res);
    if (s != CX_OK)
        return s;
    if (PQntuples(res) == 1)
        _inv(res, 0, out);
    else
        s = CX_ERR_INTERNAL;
    PQclear(res);
    return s;
}

cx_status rooms_invite_list(cx_pg_pool *pg, const char *room_id, rooms_invite **out, int *n)
{
    PGresult *res = NULL;
    const char *p[] = {room_id};
    cx_status s = cx_pg_exec(pg,
                             "SELECT " INV_COLS " FROM room_invites WHERE room_id = $1 "
                             "AND revoked_at IS NULL ORDER BY created_at DESC, id DESC",
                             1, p, &res);
    if (s != CX_OK)
        return s;
    int cnt = PQntuples(res);
    rooms_invite *v = calloc(cnt > 0 ? (size_t)cnt : 1, sizeof *v);
    if (!v) {
        PQclear(res);
        return CX_ERR_NOMEM;
    }
    for (int i = 0; i < cnt; i++)
        _inv(res, i, &v[i]);
    PQclear(res);
    *out = v;
    *n = cnt;
    return CX_OK;
}

cx_status rooms_invite_revoke(cx_pg_pool *pg, const char *room_id, const char *invite_id,
                              bool *changed)
{
    PGresult *res = NULL;
    if (!cx_uuid_valid_str(invite_id))
        return CX_ERR_INVITE_NOT_FOUND;
    const char *p[] = {room_id, invite_id};
    /* the CTE sees the row before the update: revoking twice is 204 */
    cx_status s = cx_pg_exec(
        pg,
        "WITH cur AS (SELECT revoked_at FROM room_invites WHERE room_id = $1 "
        "AND id = $2), upd AS (UPDATE room_invites SET revoked_at = now() "
        "WHERE room_id = $1 AND id = $2 AND revoked_at IS NULL RETURNING id) "
        "SELECT (SELECT count(*) FROM cur), (SELECT count(*) FROM upd)",
        2, p, &res);
    if (s != CX_OK)
        return s;
    if (atoi(PQgetvalue(res, 0, 0)) == 0)
        s = CX_ERR_INVITE_NOT_FOUND;
    *changed = atoi(PQgetvalue(res, 0, 1)) == 1;
    PQclear(res);
    return s;
}

cx_status rooms_ban_check(cx_pg_pool *pg, const char *room_id, const char *identity,
                          const char *user_id, bool *banned)
{
    PGresult *res = NULL;
    const char *p[] = {room_id, identity, user_id && user_id[0] ? user_id : NULL};
    cx_status s = cx_pg_exec(pg,
                             "SELECT EXISTS (SELECT 1 FROM room_bans WHERE room_id = $1 AND "
                             "(identity = $2 OR user_id = $3::uuid))",
                             3, p, &res);
    if (s != CX_OK)
        return s;
    *banned = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return CX_OK;
}

cx_status rooms_ban_add(cx_pg_pool *pg, const char *room_id, const char *identity,
                        const char *user_id)
{
    const char *p[] = {room_id, identity, user_id && user_id[0] ? user_id : NULL};
    return cx_pg_exec(pg,
                      "INSERT INTO room_bans (room_id, identity, user_id) "
                      "VALUES ($1, $2, $3::uuid) ON CONFLICT (room_id, identity) DO NOTHING",
                      3, p, NULL);
}

cx_status rooms_role_stored(cx_pg_pool *pg, const char *room_id, const char *identity,
                            char role[16])
{
    PGresult *res = NULL;
    role[0] = '\0';
    const char *p[] = {room_id, identity};
    cx_status s = cx_pg_exec(
        pg, "SELECT role FROM room_roles WHERE room_id = $1 AND identity = $2", 2, p, &res);
    if (s != CX_OK)
        return s;
    if (PQntuples(res) == 1)
        snprintf(role, 16, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return CX_OK;
}

cx_status rooms_role_store(cx_pg_pool *pg, const char *room_id, const char *identity,
                           const char *user_id, const char *role)
{
    const char *p[] = {room_id, identity, user_id && user_id[0] ? user_id : NULL, role};
    return cx_pg_exec(pg,
                      "INSERT INTO room_roles (room_id, identity, user_id, role) "
                      "VALUES ($1, $2, $3::uuid, $4) "
                      "ON CONFLICT (room_id, identity) DO UPDATE SET role = EXCLUDED.role",
                      4, p, NULL);
}

cx_status rooms_audit_add(cx_pg_pool *pg, const char *room_id, const rooms_actor *a,
                          const char *action, const char *target, const char *details_json)
{
    const char *p[] = {room_id,
                       a->identity[0] ? a->identity : NULL,
                       a->user_id[0] ? a->user_id : NULL,
                       a->name,
                       action,
                       target,
                       details_json};
    return cx_pg_exec(pg,
                      "INSERT INTO room_audit (room_id, actor_identity, actor_user_id, "
                      "actor_name, action, target, details) "
                      "VALUES ($1, $2, $3::uuid, $4, $5, $6, $7::jsonb)",
                      7, p, NULL);
}

cx_status rooms_gate_forget(cx_pg_pool *pg, const char *room_id)
{
    const char *p[] = {room_id};
    cx_status s = cx_pg_exec(pg, "DELETE FROM room_invites WHERE room_id = $1", 1, p, NULL);
    if (s == CX_OK)
        s = cx_pg_exec(pg, "DELETE FROM room_waiting WHERE room_id = $1", 1, p, NULL);
    return s;
}

cx_status rooms_store_password_hash(cx_pg_pool *pg, const char *id, char **out)
{
    PGresult *res = NULL;
    *out = NULL;
    const char *p[] = {id};
    cx_status s = cx_pg_exec(pg, "SELECT password_hash FROM rooms WHERE id = $1", 1, p, &res);
    if (s != CX_OK)
        return s;
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) &&
        !(*out = strdup(PQgetvalue(res, 0, 0))))
        s = CX_ERR_NOMEM;
    PQclear(res);
    return s;
}

cx_status rooms_roles_load(cx_pg_pool *pg, const char *room_id, rooms_roles *out)
{
    PGresult *res = NULL;
    memset(out, 0, sizeof *out);
    const char *p[] = {room_id};
    cx_status s = cx_pg_exec(pg, "SELECT identity, role FROM room_roles WHERE room_id = $1", 1,
                             p, &res);
    if (s != CX_OK)
        return s;
    int n = PQntuples(res);
    out->identity = calloc(n > 0 ? (size_t)n : 1, sizeof *out->identity);
    out->role = calloc(n > 0 ? (size_t)n : 1, sizeof *out->role);
    if (!out->identity || !out->role) {
        PQclear(res);
        rooms_roles_free(out);
        return CX_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++) {
        snprintf(out->identity[i], sizeof out->identity[i], "%s", PQgetvalue(res, i, 0));
        snprintf(out->role[i], sizeof out->role[i], "%s", PQgetvalue(res, i, 1));
    }
    out->n = n;
    PQclear(res);
    return CX_OK;
}

const char *rooms_roles_find(const rooms_roles *rr, const char *identity)
{
    for (int i = 0; i < rr->n; i++)
        if (strcmp(rr->identity[i], identity) == 0)
            return rr->role[i];
    return NULL;
}

void rooms_roles_free(rooms_roles *rr)
{
    free(rr->identity);
    free(rr->role);
    memset(rr, 0, sizeof *rr);
}
