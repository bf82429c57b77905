/* chat_store.c: chat_messages and chat_readers (migrations/0008_chat.sql),
 * parameterised SQL only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "chat.h"
#include "cx_crypto.h"
#include "cx_time.h"

#define MCOLS                                                                          \
    "id::text, room_id::text, sender_identity, sender_name, sender_role, created_at, " \
    "edited_at, COALESCE(reply_to::text, ''), text"

void chat_msg_clear(chat_msg *m)
{
    free(m->text);
    m->text = NULL;
}

void chat_msgs_free(chat_msg *v, int n)
{
    for (int i = 0; v && i < n; i++)
        chat_msg_clear(&v[i]);
    free(v);
}

static void _copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* Fills m from row i of res, the MCOLS columns starting at column c; m
 * holds no heap memory on failure. */
static cx_status _row_at(const PGresult *res, int i, int c, chat_msg *m)
{
    memset(m, 0, sizeof *m);
    _copy(m->id, sizeof m->id, PQgetvalue(res, i, c + 0));
    _copy(m->room_id, sizeof m->room_id, PQgetvalue(res, i, c + 1));
    _copy(m->sender_identity, sizeof m->sender_identity, PQgetvalue(res, i, c + 2));
    _copy(m->sender_name, sizeof m->sender_name, PQgetvalue(res, i, c + 3));
    _copy(m->sender_role, sizeof m->sender_role, PQgetvalue(res, i, c + 4));
    cx_status s = cx_time_pg_column(PQgetvalue(res, i, c + 5), "chat_messages.created_at",
                                    m->created_at);
    if (s == CX_OK && !PQgetisnull(res, i, c + 6))
        s = cx_time_pg_column(PQgetvalue(res, i, c + 6), "chat_messages.edited_at",
                              m->edited_at);
    _copy(m->reply_to, sizeof m->reply_to, PQgetvalue(res, i, c + 7));
    if (s != CX_OK)
        return s;
    m->text = strdup(PQgetvalue(res, i, c + 8));
    return m->text ? CX_OK : CX_ERR_NOMEM;
}

/* Fills m from row i of res (columns as in MCOLS). */
static cx_status _row(const PGresult *res, int i, chat_msg *m)
{
    return _row_at(res, i, 0, m);
}

/* The single row of res, or `none`. */
static cx_status _one(const PGresult *res, chat_msg *out, cx_status none)
{
    return PQntuples(res) == 1 ? _row(res, 0, out) : none;
}

/* The post statement's columns before the message's MCOLS. */
#define POST_FACTS 8

/* The batch as a JSON array for json_to_recordset (malloced text). */
static char *_post_json(const chat_post *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++) {
        const chat_new *p = v[i].in;
        json_t *o = json_pack(
            "{s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b}", "i", i, "mid", p->mid, "room",
            p->room_id, "ident", p->identity, "name", p->name ? p->name : "", "role", p->role,
            "uid", p->user_id ? p->user_id : "", "txt", p->text ? p->text : "", "reply",
            p->reply_to ? p->reply_to : "", "kind", p->room_token ? "room" : "access", "troom",
            p->token_room ? p->token_room : "", "ins", p->insert && v[i].wait_ms <= 0);
        if (!o || json_array_append_new(a, o) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    char *txt = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return txt;
}

/* Fills post v from row i of the post statement's result. */
static cx_status _post_row(const PGresult *res, int i, chat_post *v)
{
    chat_post_facts *f = v->f;
    memset(f, 0, sizeof *f);
    f->found = PQgetvalue(res, i, 1)[0] == 't';
    f->may = PQgetvalue(res, i, 2)[0] == 't';
    f->ended = PQgetvalue(res, i, 3)[0] == 't';
    f->banned = PQgetvalue(res, i, 4)[0] == 't';
    f->reply_ok = PQgetvalue(res, i, 5)[0] == 't';
    _copy(f->livekit_room, sizeof f->livekit_room, PQgetvalue(res, i, 6));
    if (PQgetvalue(res, i, 7)[0] != 't')
        return CX_OK;
    cx_status s = _row_at(res, i, POST_FACTS, v->out);
    f->inserted = s == CX_OK;
    return s;
}

cx_status chat_store_post(cx_pg_pool *pg, chat_post *v, int n)
{
    PGresult *res = NULL;
    char *batch = _post_json(v, n);
    if (!batch)
        return CX_ERR_NOMEM;
    const char *p[] = {batch, CHAT_DELETED_USER};
    /* every check and the insert in one statement: x is the batch, ok each
     * post with its checks (the ban for room tokens only: the host cannot
     * be banned), ins inserts those that pass, rd records the readers */
    cx_status s = cx_pg_exec_prepared(
        pg, "chat_post",
        "WITH x AS (SELECT * FROM json_to_recordset($1::json) AS x(i int, mid uuid, room uuid, "
        "ident text, name text, role text, uid text, txt text, reply text, kind text, "
        "troom text, ins bool)), "
        "ok AS (SELECT x.*, r.status, r.livekit_room, "
        "CASE WHEN x.kind = 'room' THEN r.id::text = lower(x.troom) "
        "ELSE r.owner_user_id::text = lower(x.troom) END AS may, "
        "x.kind = 'room' AND EXISTS (SELECT 1 FROM room_bans b WHERE b.room_id = r.id AND "
        "(b.identity = x.ident OR b.user_id = NULLIF(x.uid, '')::uuid)) AS banned, "
        "x.reply = '' OR EXISTS (SELECT 1 FROM chat_messages m WHERE "
        "m.id = NULLIF(x.reply, '')::uuid AND m.room_id = r.id AND m.deleted_at IS NULL) "
        "AS reply_ok FROM x JOIN rooms r ON r.id = x.room AND r.deleted_at IS NULL), "
        "ins AS (INSERT INTO chat_messages (id, room_id, sender_identity, sender_name, "
        "sender_role, sender_user_id, text, reply_to) "
        "SELECT ok.mid, ok.room, ok.ident, CASE WHEN d.user_id IS NULL THEN ok.name ELSE $2 "
        "END, ok.role, CASE WHEN d.user_id IS NULL THEN NULLIF(ok.uid, '')::uuid END, ok.txt, "
        "NULLIF(ok.reply, '')::uuid FROM ok LEFT JOIN chat_deleted_users d ON "
        "d.user_id = NULLIF(ok.uid, '')::uuid WHERE ok.ins AND ok.may AND "
        "ok.status <> 'ended' AND NOT ok.banned AND ok.reply_ok ORDER BY ok.i "
        "RETURNING " MCOLS "), "
        "rd AS (INSERT INTO chat_readers (room_id, user_id) SELECT DISTINCT ok.room, "
        "ok.uid::uuid FROM ok WHERE ok.uid <> '' AND EXISTS (SELECT 1 FROM ins WHERE "
        "ins.id = ok.mid::text) AND NOT EXISTS (SELECT 1 FROM chat_deleted_users WHERE "
        "user_id = ok.uid::uuid) ON CONFLICT DO NOTHING) "
        "SELECT x.i, ok.room IS NOT NULL, ok.may, ok.status = 'ended', ok.banned, ok.reply_ok, "
        "ok.livekit_room, ins.id IS NOT NULL, ins.* FROM x LEFT JOIN ok ON ok.i = x.i "
        "LEFT JOIN ins ON ins.id = x.mid::text ORDER BY x.i",
        2, p, &res);
    free(batch);
    if (s != CX_OK)
        return s;
    if (PQntuples(res) != n)
        s = CX_ERR_INTERNAL;
    int done = 0;
    for (; s == CX_OK && done < n; done++)
        s = _post_row(res, done, &v[done]);
    if (s != CX_OK) /* none holds memory on failure */
        for (int i = 0; i < done; i++)
            if (v[i].f->inserted) {
                chat_msg_clear(v[i].out);
                v[i].f->inserted = false;
            }
    PQclear(res);
    return s;
}

cx_status chat_store_get(cx_pg_pool *pg, const char *room_id, const char *id, chat_msg *out)
{
    PGresult *res = NULL;
    if (!cx_uuid_valid_str(id))
        return CX_ERR_MESSAGE_NOT_FOUND;
    const char *p[] = {room_id, id};
    cx_status s = cx_pg_exec_prepared(pg, "chat_get",
                                      "SELECT " MCOLS
                                      " FROM chat_messages WHERE room_id = $1::uuid "
                                      "AND id = $2::uuid AND deleted_at IS NULL",
                                      2, p, &res);
    if (s != CX_OK)
        return s;
    s = _one(res, out, CX_ERR_MESSAGE_NOT_FOUND);
    PQclear(res);
    return s;
}

cx_status chat_store_update(cx_pg_pool *pg, const char *room_id, const char *id,
                            const char *text, chat_msg *out)
{
    PGresult *res = NULL;
    const char *p[] = {room_id, id, text};
    cx_status s = cx_pg_exec(
        pg,
        "UPDATE chat_messages SET text = $3, edited_at = now() "
        "WHERE room_id = $1::uuid AND id = $2::uuid AND deleted_at IS NULL "
        "RETURNING " MCOLS,
        3, p, &res);
    if (s != CX_OK)
        return s;
    s = _one(res, out, CX_ERR_MESSAGE_NOT_FOUND);
    PQclear(res);
    return s;
}

cx_status chat_store_delete(cx_pg_pool *pg, const char *room_id, const char *id)
{
    PGresult *res = NULL;
    const char *p[] = {room_id, id};
    cx_status s = cx_pg_exec(
        pg,
        "UPDATE chat_messages SET deleted_at = now(), text = '' "
        "WHERE room_id = $1::uuid AND id = $2::uuid AND deleted_at IS NULL "
        "RETURNING id",
        2, p, &res);
    if (s != CX_OK)
        return s;
    s = PQntuples(res) == 1 ? CX_OK : CX_ERR_MESSAGE_NOT_FOUND;
    PQclear(res);
    return s;
}

/* The seq of message `id` of the room into buf[24]. */
static cx_status _seq_of(cx_pg_pool *pg, const char *room_id, const char *id, char buf[24])
{
    PGresult *res = NULL;
    if (!cx_uuid_valid_str(id))
        return CX_ERR_MESSAGE_NOT_FOUND;
    const char *p[] = {room_id, id};
    cx_status s = cx_pg_exec_prepared(pg, "chat_seq",
                                      "SELECT seq FROM chat_messages WHERE room_id = $1::uuid "
                                      "AND id = $2::uuid",
                                      2, p, &res);
    if (s != CX_OK)
        return s;
    if (PQntuples(res) == 1)
        _copy(buf, 24, PQgetvalue(res, 0, 0));
    else
        s = CX_ERR_MESSAGE_NOT_FOUND;
    PQclear(res);
    return s;
}

cx_status chat_store_page(cx_pg_pool *pg, const char *room_id, const char *before, int limit,
                          chat_msg **out, int *n, bool *more)
{
    char seq[24], lim[16];
    PGresult *res = NULL;
    cx_status s = CX_OK;
    if (before && (s = _seq_of(pg, room_id, before, seq)) != CX_OK)
        return s;
    snprintf(lim, sizeof lim, "%d", limit + 1); /* one more tells whether older ones exist */
    const char *p[] = {room_id, before ? seq : NULL, lim};
    /* newest first along the room's index whatever the statistics
     * (migration 0012 says why it is a function) */
    s = cx_pg_exec_prepared(pg, "chat_page",
                            "SELECT * FROM cx_chat_page($1::uuid, $2::bigint, $3::int)", 3, p,
                            &res);
    if (s != CX_OK)
        return s;
    int cnt = PQntuples(res);
    *more = cnt > limit;
    if (*more)
        cnt = limit;
    chat_msg *v = calloc(cnt > 0 ? (size_t)cnt : 1, sizeof *v);
    if (!v) {
        s = CX_ERR_NOMEM;
        goto out_clear;
    }
    /* newest first from SQL, oldest first in the page */
    for (int i = 0; i < cnt && s == CX_OK; i++)
        if ((s = _row(res, i, &v[cnt - 1 - i])) != CX_OK)
            break;
    if (s != CX_OK) {
        chat_msgs_free(v, cnt);
        goto out_clear;
    }
    *out = v;
    *n = cnt;
out_clear:
    PQclear(res);
    return s;
}

cx_status chat_store_forget_room(cx_pg_pool *pg, const char *room_id)
{
    const char *p[] = {room_id};
    cx_status s = cx_pg_exec(pg,
                             "WITH r AS (DELETE FROM chat_readers WHERE room_id = $1::uuid) "
                             "DELETE FROM chat_messages WHERE room_id = $1::uuid",
                             1, p, NULL);
    return s;
}

cx_status chat_store_add_reader(cx_pg_pool *pg, const char *room_id, const char *user_id)
{
    const char *p[] = {room_id, user_id};
    return cx_pg_exec(
        pg,
        "INSERT INTO chat_readers (room_id, user_id) SELECT $1::uuid, $2::uuid "
        "WHERE EXISTS (SELECT 1 FROM rooms WHERE id = $1::uuid AND deleted_at IS NULL) "
        "ON CONFLICT DO NOTHING",
        2, p, NULL);
}

cx_status chat_store_is_reader(cx_pg_pool *pg, const char *room_id, const char *user_id,
                               bool *yes)
{
    PGresult *res = NULL;
    *yes = false;
    if (!cx_uuid_valid_str(user_id))
        return CX_OK;
    const char *p[] = {room_id, user_id};
    cx_status s = cx_pg_exec(pg,
                             "SELECT 1 FROM chat_readers WHERE room_id = $1::uuid AND "
                             "user_id = $2::uuid",
                             2, p, &res);
    if (s != CX_OK)
        return s;
    *yes = PQntuples(res) == 1;
    PQclear(res);
    return CX_OK;
}

cx_status chat_store_anonymise(cx_pg_pool *pg, const char *user_id)
{
    const char *p[] = {user_id, CHAT_DELETED_USER};
    if (!cx_uuid_valid_str(user_id))
        return CX_ERR_BAD_REQUEST;
    return cx_pg_exec(pg,
                      "WITH r AS (DELETE FROM chat_readers WHERE user_id = $1::uuid), "
                      "d AS (INSERT INTO chat_deleted_users (user_id) VALUES ($1::uuid) "
                      "ON CONFLICT DO NOTHING) "
                      "UPDATE chat_messages SET sender_name = $2, sender_user_id = NULL "
                      "WHERE sender_user_id = $1::uuid",
                      2, p, NULL);
}

cx_status chat_store_room(cx_pg_pool *pg, const char *id, rooms_row *out)
{
    PGresult *res = NULL;
    memset(out, 0, sizeof *out);
    if (!id || !cx_uuid_valid_str(id))
        return CX_ERR_ROOM_NOT_FOUND;
    const char *p[] = {id};
    cx_status s = cx_pg_exec_prepared(
        pg, "chat_room",
        "SELECT id::text, status, owner_user_id::text, livekit_room "
        "FROM rooms WHERE id = $1::uuid AND deleted_at IS NULL",
        1, p, &res);
    if (s != CX_OK)
        return s;
    if (PQntuples(res) == 1) {
        _copy(out->id, sizeof out->id, PQgetvalue(res, 0, 0));
        _copy(out->status, sizeof out->status, PQgetvalue(res, 0, 1));
        _copy(out->owner_user_id, sizeof out->owner_user_id, PQgetvalue(res, 0, 2));
        _copy(out->livekit_room, sizeof out->livekit_room, PQgetvalue(res, 0, 3));
    } else {
        s = CX_ERR_ROOM_NOT_FOUND;
    }
    PQclear(res);
    return s;
}
