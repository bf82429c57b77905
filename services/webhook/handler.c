/* handler.c: calixio.webhook.livekit.
 *
 * Order of work, so nothing is stored for a request that is not genuine and
 * nothing is acknowledged that was not stored:
 *   content type (415) -> size (413) -> signature (401) -> JSON (400)
 *   -> claim the event id in Redis (a repeat: 200, nothing changes)
 *   -> rooms row (unknown room: 200, ignored) -> Postgres -> Redis
 *   -> publish on NATS -> mark the id done.
 * A store failure releases the claim and answers 503 so LiveKit retries;
 * every write is idempotent, so a retry after a partial failure is safe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calixio/v1/webhook.pb-c.h"
#include "cx_crypto.h"
#include "cx_json.h"
#include "cx_log.h"
#include "cx_time.h"
#include "webhook.h"

/* How long an in-progress claim blocks other deliveries of the same id if
 * this copy dies mid-way. LiveKit retries 4 times after 1, 2, 4 and 8 s
 * (go-retryablehttp defaults), so the claim must lapse before the last
 * retry (t = 15 s). Should it lapse while a slow delivery is still being
 * processed, a concurrent repeat is harmless: every write is idempotent. */
#define WH_PENDING_TTL_S 8

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
#define _SET(field, v) m.field = (v)[0] ? (char *)(v) : NULL
    _SET(id, ev->id);
    _SET(event, ev->event);
    _SET(livekit_room, ev->room_name);
    _SET(room_id, room_id);
    _SET(identity, ev->p_identity);
    _SET(participant_sid, ev->p_sid);
    _SET(name, ev->p_name);
    _SET(track_sid, ev->track_sid);
#undef _SET
    m.has_created_at = 1;
    m.created_at = ev->created_at;

    char room_tok[WH_MAX_ROOM + 1], ev_tok[WH_MAX_EVENT + 1], rel[2 * WH_MAX_ROOM];
    snprintf(rel, sizeof rel, "events.room.%s.%s",
             wh_subject_token(ev->room_name, room_tok, sizeof room_tok),
             wh_subject_token(ev->event, ev_tok, sizeof ev_tok));
    if (cx_service_publish(svc, rel, &m.base) != CX_OK)
        cx_log_warn(req->request_id, "webhook: could not publish %s", rel);
}

/* Applies one verified, parsed, claimed event to the stores. *handled is
 * false when it was accepted but ignored (unknown type/room). */
static cx_status _apply(wh_ctx *c, const cx_req *req, const wh_event *ev,
                        const uint8_t *body, size_t len, bool *handled)
{
    char room_id[37] = "";
    bool found = false, applied = false;
    cx_status s = CX_OK;

    *handled = false;
    if (ev->type == WH_EV_OTHER || !ev->room_name[0])
        return CX_OK;
    s = wh_room_lookup(c->pg, ev->room_name, &found, room_id);
    if (s != CX_OK || !found)
        return s;

    switch (ev->type) {
    case WH_EV_ROOM_STARTED:
        s = wh_room_mark_active(c->pg, ev->room_name);
        break;
    case WH_EV_ROOM_FINISHED:
        s = wh_room_mark_ended(c->pg, ev->room_name, ev->created_at);
        if (s == CX_OK)
            s = wh_room_clear(c->redis, ev, c->presence_ttl_s);
        break;
    case WH_EV_PARTICIPANT_JOINED:
    case WH_EV_PARTICIPANT_LEFT:
        if (!ev->p_identity[0] || wh_event_is_recorder(ev))
            break; /* recorders are not people; no identity: nothing to key */
        {
            char synth[16 + 65] = "body-sha256:";
            if (!ev->id[0])
                cx_sha256_hex(body, len, synth + strlen(synth));
            s = wh_history_append(c->pg, ev, ev->id[0] ? ev->id : synth, room_id);
        }
        if (s == CX_OK)
            s = wh_presence_apply(c->redis, ev, c->presence_ttl_s, &applied);
        break;
    case WH_EV_TRACK_PUBLISHED:
    case WH_EV_TRACK_UNPUBLISHED:
        if (ev->p_identity[0] && ev->track_sid[0])
            s = wh_tracks_apply(c->redis, ev, c->presence_ttl_s, &applied);
        break;
    default:
        break;
    }
    if (s != CX_OK)
        return s;
    *handled = true;
    if (_is_participant(ev->type) || _is_track(ev->type))
        cx_log_debug(req->request_id, "webhook: %s %s in %s: %s", ev->event, ev->p_identity,
                     ev->room_name, applied ? "applied" : "older than current state");
    _publish(c, req, ev, room_id);
    return CX_OK;
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
    wh_claim claim = WH_CLAIM_NEW;
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
        return cx_req_fail(req, CX_ERR_INVALID_WEBHOOK, "webhook signature verification failed");
    }
    s = wh_event_parse(body ? body : (const uint8_t *)"", len, &ev, err, sizeof err);
    if (s != CX_OK)
        return cx_req_fail(req, s, "%s", err[0] ? err : "invalid webhook event");
    if (!ev.has_created_at)
        ev.created_at = cx_now_s(); /* LiveKit always sets it; be defensive */

    if (ev.id[0]) {
        s = wh_dedup_claim(c->redis, ev.id, WH_PENDING_TTL_S, &claim);
        if (s != CX_OK)
            goto out_free_event;
        if (claim == WH_CLAIM_DONE) {
            cx_log_info(req->request_id, "webhook: duplicate %s %s ignored", ev.event, ev.id);
            goto out_reply;
        }
        if (claim == WH_CLAIM_BUSY) {
            s = cx_req_fail(req, CX_ERR_UNAVAILABLE, "event %s is being processed", ev.id);
            goto out_free_event;
        }
    }
    s = _apply(c, req, &ev, body, len, &handled);
    if (s != CX_OK)
        goto out_release;
    if (ev.id[0] && wh_dedup_done(c->redis, ev.id, c->dedup_ttl_s) != CX_OK)
        /* Stored already and every write is idempotent: a redelivery only
         * repeats the NATS event. */
        cx_log_warn(req->request_id, "webhook: could not mark %s done", ev.id);
    cx_log_info(req->request_id, "webhook: %s %s room=%s %s", ev.event, ev.id, ev.room_name,
                handled ? "handled" : "ignored");
out_reply:
    s = _reply_ok(out);
    goto out_free_event;
out_release:
    cx_log_warn(req->request_id, "webhook: %s %s not stored (%s), LiveKit will retry", ev.event,
                ev.id, cx_status_code(s));
    if (ev.id[0])
        wh_dedup_release(c->redis, ev.id);
out_free_event:
    wh_event_free(&ev);
    return s;
}
