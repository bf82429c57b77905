/* handler.c: calixio.webhook.livekit.
 *
 * Order of work, so nothing is stored for a request that is not genuine and
 * nothing is acknowledged that was not stored:
 *   content type (415) -> size (413) -> signature (401) -> JSON (400)
 *   -> rooms row, cached (unknown room: only the id is remembered; 200)
 *   -> borrow a live Redis connection (Redis down: 503, nothing stored)
 *   -> Postgres (idempotent: ON CONFLICT DO NOTHING, conditional UPDATEs);
 *      a room status it changed is published as a room event at once
 *   -> ONE Redis script: de-duplicate by id (a repeat: nothing changes),
 *      apply presence/tracks (createdAt compared), mark the id done (for
 *      joins and leaves run by the group's leader right after the group's
 *      commit, pipelined with the group's other scripts: batch.c)
 *   -> publish on NATS (not for a repeat) -> 200.
 * So a normal event costs one Postgres and one Redis round trip. A store
 * failure answers 503 so LiveKit retries; every write is idempotent, so a
 * retry after a partial failure (Postgres written, Redis not) is safe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/events.pb-c.h"
#include "calixio/v1/webhook.pb-c.h"
#include "cx_crypto.h"
#include "cx_json.h"
#include "cx_log.h"
#include "cx_time.h"
#include "webhook.h"

static bool _is_participant(wh_type t)
{
    return t == WH_EV_PARTICIPANT_JOINED || t == WH_EV_PARTICIPANT_LEFT;
}

static bool _is_track(wh_type t)
{
    return t == WH_EV_TRACK_PUBLISHED || t == WH_EV_TRACK_UNPUBLISHED;
}

/* Publishes ev as calixio.v1.LiveKitEvent on
 * <prefix>.events.room.<room>.<event>. Best effort: the event is stored. */
static void _publish(wh_ctx *c, const cx_req *req, const wh_event *ev, const char *room_id)
{
    cx_service *svc = atomic_load(&c->svc);
    if (!svc)
        return;
    Calixio__V1__LiveKitEvent m = CALIXIO__V1__LIVE_KIT_EVENT__INIT;
#define WHD_SET(field, v) m.field = (v)[0] ? (char *)(v) : NULL
    WHD_SET(id, ev->id);
    WHD_SET(event, ev->event);
    WHD_SET(livekit_room, ev->room_name);
    WHD_SET(room_id, room_id);
    WHD_SET(identity, ev->p_identity);
    WHD_SET(participant_sid, ev->p_sid);
    WHD_SET(name, ev->p_name);
    WHD_SET(track_sid, ev->track_sid);
#undef WHD_SET
    m.has_created_at = 1;
    m.created_at = ev->created_at;

    char room_tok[WH_MAX_ROOM + 1], ev_tok[WH_MAX_EVENT + 1], rel[2 * WH_MAX_ROOM];
    snprintf(rel, sizeof rel, "events.room.%s.%s",
             wh_subject_token(ev->room_name, room_tok, sizeof room_tok),
             wh_subject_token(ev->event, ev_tok, sizeof ev_tok));
    if (cx_service_publish(svc, rel, &m.base) != CX_OK)
        cx_log_warn(req->request_id, "webhook: could not publish %s", rel);
}

/* Publishes a participant_joined / participant_left that changed presence
 * as the RoomEvent participant.joined / participant.left (source "webhook")
 * on <prefix>.events.room.<room_id>.<type>, for the live event streams. */
static void _publish_presence(wh_ctx *c, const cx_req *req, const wh_event *ev,
                              const char *room_id)
{
    cx_service *svc = atomic_load(&c->svc);
    if (!svc || !room_id[0] || !ev->p_identity[0])
        return;
    Calixio__V1__RoomEvent m = CALIXIO__V1__ROOM_EVENT__INIT;
    Calixio__V1__RoomEventParticipant p = CALIXIO__V1__ROOM_EVENT_PARTICIPANT__INIT;
    bool joined = ev->type == WH_EV_PARTICIPANT_JOINED;
    char at[21], event_id[37], rel[128];
    int64_t t = joined && ev->p_joined_at ? ev->p_joined_at : ev->created_at;
    if (t <= 0)
        t = cx_now_ms() / 1000;
    cx_time_rfc3339(t, at);
    cx_uuid_v4(event_id);
    p.identity = (char *)ev->p_identity;
    p.name = (char *)ev->p_name;
    if (!joined)
        p.reason = "left";
    m.type = joined ? "participant.joined" : "participant.left";
    m.room_id = (char *)room_id;
    m.livekit_room = (char *)ev->room_name;
    m.at = at;
    m.has_at_ms = 1;
    m.at_ms = cx_now_ms();
    m.event_id = event_id;
    m.participant = &p;
    m.request_id = (char *)(req->request_id && req->request_id[0] ? req->request_id : NULL);
    m.source = "webhook";
    snprintf(rel, sizeof rel, "events.room.%s.%s", room_id, m.type);
    if (cx_service_publish(svc, rel, &m.base) != CX_OK)
        cx_log_warn(req->request_id, "webhook: could not publish %s", rel);
}

cx_status wh_store_participant(wh_ctx *c, cx_redis_conn *rc, const wh_event *ev,
                               const char *row_id, const char *room_id, bool ended,
                               wh_result *res)
{
    const wh_ttls t = {c->dedup_ttl_s, c->presence_ttl_s};
    wh_rcall rcall;
    /* An ended room has no presence: its keys are gone for good, only the
     * id is remembered (and without an id, nothing). */
    bool redis_part = !ended || ev->id[0];
    cx_status s = redis_part ? wh_rcall_prepare(&rcall, ev, &t, ended) : CX_OK;
    if (s == CX_OK)
        s = wh_history_append(c->history, ev, row_id, room_id, rc, redis_part ? &rcall : NULL);
    if (redis_part) {
        cx_status rs = wh_rcall_finish(&rcall, res);
        if (s == CX_OK)
            s = rs;
    }
    return s;
}

/* Applies one verified, parsed event to the stores: Postgres first, then
 * one Redis script that de-duplicates by id, applies the Redis part and
 * marks the id done, atomically. The Redis connection is borrowed (and
 * checked alive) BEFORE Postgres is written, so a Redis outage stores
 * nothing anywhere; a Postgres failure never reaches Redis. *res tells what
 * the script did; *handled is false when the event was accepted but ignored
 * (unknown type/room: only its id is remembered). */
static cx_status _apply(wh_ctx *c, const wh_event *ev, const uint8_t *body, size_t len,
                        const char *rid, char room_id[37], wh_result *res, bool *handled)
{
    const wh_ttls t = {c->dedup_ttl_s, c->presence_ttl_s};
    bool found = false, ended = false, changed = false;
    wh_room_row row;
    cx_redis_conn *rc = NULL;
    cx_status s;

    *handled = false;
    *res = WH_R_APPLIED;
    room_id[0] = '\0';
    if (ev->type != WH_EV_OTHER && ev->room_name[0]) {
        s = wh_rooms_get(c->rooms, ev->room_name, &found, room_id, &ended);
        if (s != CX_OK)
            return s;
    }
    if (!found && !ev->id[0])
        return CX_OK; /* ignored, and nothing to remember */
    s = cx_redis_acquire(c->redis, &rc, WH_REDIS_TIMEOUT_MS);
    if (s != CX_OK)
        return s;
    if (!found) {
        s = wh_mark_done(rc, ev, &t, res);
        goto out_give;
    }
    *handled = true;
    switch (ev->type) {
    case WH_EV_ROOM_STARTED:
        s = wh_room_mark_active(c->pg, ev->room_name, &row, &changed);
        if (s == CX_OK && changed)
            wh_room_publish(atomic_load(&c->svc), "updated", &row, rid);
        if (s == CX_OK && ev->id[0])
            s = wh_mark_done(rc, ev, &t, res);
        break;
    case WH_EV_ROOM_FINISHED:
        s = wh_room_mark_ended(c->pg, ev->room_name, ev->created_at, &row, &changed);
        /* Published as soon as Postgres has it: a Redis failure below makes
         * LiveKit retry, and the retry changes no row. */
        if (s == CX_OK && changed)
            wh_room_publish(atomic_load(&c->svc), "ended", &row, rid);
        if (s == CX_OK)
            s = wh_room_clear(rc, ev, &t, res);
        break;
    case WH_EV_PARTICIPANT_JOINED:
    case WH_EV_PARTICIPANT_LEFT:
        if (!ev->p_identity[0] || wh_event_is_recorder(ev)) {
            /* recorders are not people; no identity: nothing to key */
            s = ev->id[0] ? wh_mark_done(rc, ev, &t, res) : CX_OK;
            break;
        }
        {
            char synth[16 + 65] = "body-sha256:";
            if (!ev->id[0])
                cx_sha256_hex(body, len, synth + strlen(synth));
            s = wh_store_participant(c, rc, ev, ev->id[0] ? ev->id : synth, room_id, ended,
                                     res);
        }
        break;
    case WH_EV_TRACK_PUBLISHED:
    case WH_EV_TRACK_UNPUBLISHED:
        if (ev->p_identity[0] && ev->track_sid[0] && !ended)
            s = wh_tracks_apply(rc, ev, &t, res);
        else
            s = ev->id[0] ? wh_mark_done(rc, ev, &t, res) : CX_OK;
        break;
    default:
        s = CX_OK;
        break;
    }
out_give:
    cx_redis_release(c->redis, rc, false);
    return s;
}

static cx_status _reply_ok(ProtobufCMessage **out)
{
    Calixio__V1__WebhookReply *r = malloc(sizeof *r);
    if (!r)
        return CX_ERR_NOMEM;
    calixio__v1__webhook_reply__init(r);
    r->status = cx_strdup("ok");
    if (!r->status) {
        free(r);
        return CX_ERR_NOMEM;
    }
    *out = &r->base;
    return CX_OK;
}

cx_status wh_handle_livekit(cx_req *req, const ProtobufCMessage *in, ProtobufCMessage **out,
                            void *ctx)
{
    wh_ctx *c = ctx;
    const Calixio__V1__WebhookRequest *w = (const Calixio__V1__WebhookRequest *)in;
    const uint8_t *body = w->has_body ? w->body.data : NULL;
    size_t len = w->has_body ? w->body.len : 0;
    const char *why = NULL;
    char err[160];
    wh_event ev = {0};
    wh_result res = WH_R_APPLIED;
    char room_id[37];
    bool handled = false;
    cx_status s;

    if (wh_check_content_type(w->content_type) != CX_OK)
        return cx_req_fail(req, CX_ERR_UNSUPPORTED_MEDIA,
                           "content type must be application/webhook+json or application/json");
    if (len > WH_MAX_BODY)
        return cx_req_fail(req, CX_ERR_PAYLOAD_TOO_LARGE, "webhook body exceeds 1 MiB");
    s = wh_verify(w->authorization, body, len, &c->keys, cx_now_s(), c->leeway_s, &why);
    if (s != CX_OK) {
        cx_log_warn(req->request_id, "webhook rejected: %s", why ? why : "invalid");
        return cx_req_fail(req, CX_ERR_INVALID_WEBHOOK,
                           "webhook signature verification failed");
    }
    s = wh_event_parse(body ? body : (const uint8_t *)"", len, &ev, err, sizeof err);
    if (s != CX_OK)
        return cx_req_fail(req, s, "%s", err[0] ? err : "invalid webhook event");
    if (!ev.has_created_at)
        ev.created_at = cx_now_s(); /* LiveKit always sets it; be defensive */

    s = _apply(c, &ev, body, len, req->request_id, room_id, &res, &handled);
    if (s != CX_OK) {
        cx_log_warn(req->request_id, "webhook: %s %s not stored (%s), LiveKit will retry",
                    ev.event, ev.id, cx_status_code(s));
        goto out_free_event;
    }
    if (res == WH_R_BUSY) {
        s = cx_req_fail(req, CX_ERR_UNAVAILABLE, "event %s is being processed", ev.id);
        goto out_free_event;
    }
    if (res == WH_R_DUP) {
        cx_log_info(req->request_id, "webhook: duplicate %s %s ignored", ev.event, ev.id);
    } else {
        if (handled && (_is_participant(ev.type) || _is_track(ev.type)))
            cx_log_debug(req->request_id, "webhook: %s %s in %s: %s", ev.event, ev.p_identity,
                         ev.room_name,
                         res == WH_R_APPLIED ? "applied" : "older than current state");
        if (handled)
            _publish(c, req, &ev, room_id);
        if (handled && res == WH_R_APPLIED && _is_participant(ev.type))
            _publish_presence(c, req, &ev, room_id);
        cx_log_info(req->request_id, "webhook: %s %s room=%s %s", ev.event, ev.id, ev.room_name,
                    handled ? "handled" : "ignored");
    }
    s = _reply_ok(out);
out_free_event:
    wh_event_free(&ev);
    return s;
}
