/* hist_stats.c: call-quality samples (POST /rooms/{id}/stats, room token)
 * and their per-participant aggregates (GET, host or moderator).
 *
 * One sample per 5 s per participant is kept: the first sample takes a
 * Redis key cx:hist:stats:<room>:<identity> with NX and a 5 s expiry; while
 * it exists further samples are 429 with Retry-After. Bounds are checked
 * before the key is taken, so a refused sample does not use the slot. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/common.pb-c.h"
#include "calixio/v1/history.pb-c.h"
#include "cx_daemon.h"
#include "cx_json.h"
#include "hist.h"

#define WH_STATS_SAMPLE_EVERY_MS 5000

/* One bounded number of a sample: the table of the rules. */
typedef struct _bound {
    const char *field;
    double min, max;
    bool required;
} _bound;

static const _bound _bounds[] = {
    {"rtt_ms", 0, 60000, true},
    {"jitter_ms", 0, 60000, true},
    {"packet_loss_pct", 0, 100, true},
    {"bitrate_kbps", 0, 1000000, false},
};

static cx_status _check(cx_req *req, const Calixio__V1__StatsSample *in)
{
    const bool has[] = {in->has_rtt_ms, in->has_jitter_ms, in->has_packet_loss_pct,
                        in->has_bitrate_kbps};
    const double v[] = {in->rtt_ms, in->jitter_ms, in->packet_loss_pct,
                        (double)in->bitrate_kbps};
    for (size_t i = 0; i < CX_NELEM(_bounds); i++) {
        if (!has[i]) {
            if (_bounds[i].required)
                cx_req_field_error(req, _bounds[i].field, "required");
            continue;
        }
        if (!isfinite(v[i]) || v[i] < _bounds[i].min)
            cx_req_field_error(req, _bounds[i].field, "min");
        else if (v[i] > _bounds[i].max)
            cx_req_field_error(req, _bounds[i].field, "max");
    }
    return req->n_fields ? CX_ERR_VALIDATION : CX_OK;
}

/* Takes the 5 s slot of (room, identity); CX_ERR_RATE_LIMITED (with
 * req->retry_after) when it is taken. */
static cx_status _slot(wh_ctx *c, cx_req *req, const char *room_id, const char *identity)
{
    char key[160], ms[16];
    redisReply *r = NULL;
    snprintf(key, sizeof key, "cx:hist:stats:%s:%s", room_id, identity);
    snprintf(ms, sizeof ms, "%d", WH_STATS_SAMPLE_EVERY_MS);
    const char *argv[] = {"SET", key, "1", "NX", "PX", ms};
    cx_status s = cx_redis_cmdv(c->redis, &r, 6, argv, NULL);
    if (s != CX_OK)
        return s;
    bool taken = r->type == REDIS_REPLY_NIL;
    freeReplyObject(r);
    if (!taken)
        return CX_OK;
    long long left = WH_STATS_SAMPLE_EVERY_MS;
    const char *pargv[] = {"PTTL", key};
    if (cx_redis_cmdv(c->redis, &r, 2, pargv, NULL) == CX_OK) {
        if (r->type == REDIS_REPLY_INTEGER && r->integer > 0)
            left = r->integer;
        freeReplyObject(r);
    }
    req->retry_after = (int)((left + 999) / 1000);
    return cx_req_fail(req, CX_ERR_RATE_LIMITED, "at most one sample per 5 s per participant");
}

#define WH_STATS_INSERT_SQL                                                           \
    "INSERT INTO call_stats (room_id, identity, user_id, name, rtt_ms, jitter_ms, "   \
    "packet_loss_pct, bitrate_kbps) VALUES ($1::uuid, $2, NULLIF($3, '')::uuid, "     \
    "CASE WHEN EXISTS (SELECT 1 FROM history_deleted_users d WHERE d.user_id = "      \
    "NULLIF($3, '')::uuid) THEN 'Deleted user' ELSE $4 END, $5::float8, $6::float8, " \
    "$7::float8, $8::int)"

cx_status wh_h_stats_add(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                         void *ctx)
{
    wh_ctx *c = ctx;
    const Calixio__V1__StatsSample *in = (const void *)in_;
    cx_bearer b;
    char rtt[32], jit[32], loss[32], br[16];
    PGresult *res = NULL;

    cx_status s = cx_bearer_verify(c->auth, c->redis, req->authorization, CX_BEARER_ROOM, &b);
    if (s != CX_OK)
        return s;
    if (!in->id || strcmp(in->id, b.room.room_id) != 0)
        return cx_req_fail(req, CX_ERR_ROOM_FORBIDDEN, "this room token is for another room");
    if ((s = _check(req, in)) != CX_OK)
        return s;
    if ((s = _slot(c, req, b.room.room_id, b.room.identity)) != CX_OK)
        return s;
    snprintf(rtt, sizeof rtt, "%.17g", in->rtt_ms);
    snprintf(jit, sizeof jit, "%.17g", in->jitter_ms);
    snprintf(loss, sizeof loss, "%.17g", in->packet_loss_pct);
    snprintf(br, sizeof br, "%d", (int)in->bitrate_kbps);
    /* a user id in a room token is the account's (media sets it); guests have none */
    const char *params[] = {b.room.room_id,
                            b.room.identity,
                            b.room.user_id,
                            b.room.name,
                            rtt,
                            jit,
                            loss,
                            in->has_bitrate_kbps ? br : NULL};
    if ((s = cx_pg_exec_prepared(c->pg, "wh_stats_insert", WH_STATS_INSERT_SQL, 8, params,
                                 &res)) != CX_OK)
        return s;
    PQclear(res);
    Calixio__V1__Empty *m = calloc(1, sizeof *m);
    if (!m)
        return CX_ERR_NOMEM;
    calixio__v1__empty__init(m);
    *out = &m->base;
    return CX_OK;
}

#define WH_STATS_AGG_SQL                                                 \
    "SELECT identity, (array_agg(name ORDER BY id DESC))[1], count(*), " \
    "percentile_cont(0.5) WITHIN GROUP (ORDER BY rtt_ms), "              \
    "percentile_cont(0.95) WITHIN GROUP (ORDER BY rtt_ms), "             \
    "percentile_cont(0.5) WITHIN GROUP (ORDER BY jitter_ms), "           \
    "percentile_cont(0.95) WITHIN GROUP (ORDER BY jitter_ms), "          \
    "avg(packet_loss_pct), max(packet_loss_pct) "                        \
    "FROM call_stats WHERE room_id = $1::uuid GROUP BY identity ORDER BY identity"

/* Rounds to 2 decimals (what a client shows). */
static double _r2(const char *v)
{
    return round(strtod(v, NULL) * 100.0) / 100.0;
}

static cx_status _participant(const PGresult *r, int i, Calixio__V1__ParticipantStats **out)
{
    Calixio__V1__ParticipantStats *p = calloc(1, sizeof *p);
    if (!p)
        return CX_ERR_NOMEM;
    calixio__v1__participant_stats__init(p);
    *out = p;
    p->identity = wh_hist_str(r, i, 0);
    p->name = wh_hist_str(r, i, 1);
    p->has_samples = 1;
    p->samples = atoi(PQgetvalue(r, i, 2));
    p->rtt_ms = calloc(1, sizeof *p->rtt_ms);
    p->jitter_ms = calloc(1, sizeof *p->jitter_ms);
    p->packet_loss_pct = calloc(1, sizeof *p->packet_loss_pct);
    if (!p->identity || !p->name || !p->rtt_ms || !p->jitter_ms || !p->packet_loss_pct)
        return CX_ERR_NOMEM;
    calixio__v1__percentiles__init(p->rtt_ms);
    calixio__v1__percentiles__init(p->jitter_ms);
    calixio__v1__loss_summary__init(p->packet_loss_pct);
    p->rtt_ms->has_p50 = p->rtt_ms->has_p95 = 1;
    p->jitter_ms->has_p50 = p->jitter_ms->has_p95 = 1;
    p->packet_loss_pct->has_avg = p->packet_loss_pct->has_max = 1;
    p->rtt_ms->p50 = _r2(PQgetvalue(r, i, 3));
    p->rtt_ms->p95 = _r2(PQgetvalue(r, i, 4));
    p->jitter_ms->p50 = _r2(PQgetvalue(r, i, 5));
    p->jitter_ms->p95 = _r2(PQgetvalue(r, i, 6));
    p->packet_loss_pct->avg = _r2(PQgetvalue(r, i, 7));
    p->packet_loss_pct->max = _r2(PQgetvalue(r, i, 8));
    return CX_OK;
}

cx_status wh_h_stats_get(cx_req *req, const ProtobufCMessage *in_, ProtobufCMessage **out,
                         void *ctx)
{
    static const char *const allowed[] = {"host", "moderator", NULL};
    wh_ctx *c = ctx;
    const Calixio__V1__StatsRequest *in = (const void *)in_;
    wh_hist_caller who;
    PGresult *res = NULL;
    cx_status s = wh_hist_caller_for_room(c, req, in->id, allowed, &who);
    if (s != CX_OK)
        return s;
    const char *params[] = {in->id};
    if ((s = cx_pg_exec_prepared(c->pg, "wh_stats_agg", WH_STATS_AGG_SQL, 1, params, &res)) !=
        CX_OK)
        return s;
    int n = PQntuples(res);
    Calixio__V1__StatsReply *m = calloc(1, sizeof *m);
    bool ok = m != NULL;
    if (ok) {
        calixio__v1__stats_reply__init(m);
        ok = (m->participants = calloc((size_t)(n ? n : 1), sizeof *m->participants)) != NULL;
    }
    for (int i = 0; ok && i < n; i++) {
        ok = _participant(res, i, &m->participants[i]) == CX_OK;
        m->n_participants = (size_t)i + 1;
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
