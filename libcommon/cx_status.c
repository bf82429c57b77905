/* cx_status.c: the one table from status to HTTP status, API code, message. */
#include "cx_status.h"

#include <string.h>

struct _cx_status_row {
    int http;
    const char *code;
    const char *message;
};

static const struct _cx_status_row _rows[CX_STATUS_COUNT_] = {
    [CX_OK] = {200, "ok", "ok"},
    [CX_ERR_INVALID_JSON] = {400, "invalid_json",
                             "request body is not valid JSON for this route"},
    [CX_ERR_VALIDATION] = {400, "validation_failed", "validation failed"},
    [CX_ERR_BAD_REQUEST] = {400, "bad_request", "bad request"},
    [CX_ERR_REFRESH_REQUIRED] = {400, "refresh_token_required", "refresh token required"},
    [CX_ERR_MISSING_AUTH] = {401, "missing_auth", "missing Authorization header"},
    [CX_ERR_INVALID_AUTH] = {401, "invalid_auth", "Authorization must be \"Bearer <token>\""},
    [CX_ERR_INVALID_TOKEN] = {401, "invalid_token", "invalid or expired token"},
    [CX_ERR_TOKEN_REVOKED] = {401, "token_revoked", "token has been revoked"},
    [CX_ERR_INVALID_CREDENTIALS] = {401, "invalid_credentials", "invalid email or password"},
    [CX_ERR_INVALID_REFRESH] = {401, "invalid_refresh", "invalid refresh token"},
    [CX_ERR_INVALID_WEBHOOK] = {401, "invalid_webhook", "invalid webhook signature"},
    [CX_ERR_FORBIDDEN] = {403, "forbidden", "forbidden"},
    [CX_ERR_ROOM_FORBIDDEN] = {403, "room_forbidden", "only the room owner may do this"},
    [CX_ERR_NOT_FOUND] = {404, "not_found", "not found"},
    [CX_ERR_ROOM_NOT_FOUND] = {404, "room_not_found", "room not found"},
    [CX_ERR_PARTICIPANT_NOT_FOUND] = {404, "participant_not_found",
                                      "participant not in the room"},
    [CX_ERR_MESSAGE_NOT_FOUND] = {404, "message_not_found", "message not found"},
    [CX_ERR_SESSION_NOT_FOUND] = {404, "session_not_found", "session not found"},
    [CX_ERR_PROFILE_NOT_FOUND] = {404, "profile_not_found", "video profile not found"},
    [CX_ERR_WAITING_NOT_FOUND] = {404, "waiting_not_found", "waiting entry not found"},
    [CX_ERR_INVITE_NOT_FOUND] = {404, "invite_not_found", "invite not found"},
    [CX_ERR_METHOD_NOT_ALLOWED] = {405, "method_not_allowed", "method not allowed"},
    [CX_ERR_CONFLICT] = {409, "conflict", "conflict"},
    [CX_ERR_EMAIL_EXISTS] = {409, "email_exists", "email already registered"},
    [CX_ERR_ROOM_ENDED] = {409, "room_ended", "room has ended"},
    [CX_ERR_ROOM_NOT_STARTED] = {409, "room_not_started", "the room has not started yet"},
    [CX_ERR_ROOM_FULL] = {409, "room_full", "the room is full"},
    [CX_ERR_PROFILE_LIMIT] = {409, "profile_limit_reached", "too many video profiles"},
    [CX_ERR_BANNED] = {403, "banned", "you were removed from this room"},
    [CX_ERR_ROOM_LOCKED] = {403, "room_locked", "the room is locked"},
    [CX_ERR_INVITE_REQUIRED] = {403, "room_invite_required", "this room needs an invite"},
    [CX_ERR_PASSWORD_REQUIRED] = {403, "room_password_required", "this room needs a password"},
    [CX_ERR_PASSWORD_INVALID] = {403, "room_password_invalid", "wrong room password"},
    [CX_ERR_INVITE_INVALID] = {403, "invite_invalid", "unknown or revoked invite"},
    [CX_ERR_INVITE_EXPIRED] = {410, "invite_expired", "the invite has expired or is used up"},
    [CX_ERR_PAYLOAD_TOO_LARGE] = {413, "payload_too_large", "request body too large"},
    [CX_ERR_UNSUPPORTED_MEDIA] = {415, "unsupported_media_type", "unsupported content type"},
    [CX_ERR_UNPROCESSABLE] = {422, "unprocessable", "unprocessable request"},
    [CX_ERR_TOO_MANY_ATTEMPTS] = {429, "too_many_attempts",
                                  "too many attempts, try again later"},
    [CX_ERR_TOO_MANY_MESSAGES] = {429, "too_many_messages",
                                  "too many messages, try again later"},
    [CX_ERR_RATE_LIMITED] = {429, "rate_limited", "too many requests"},
    [CX_ERR_INTERNAL] = {500, "internal", "internal error"},
    [CX_ERR_NOMEM] = {500, "internal", "out of memory"},
    [CX_ERR_CONFIG] = {500, "config", "configuration error"},
    [CX_ERR_UPSTREAM] = {502, "upstream_error", "upstream service error"},
    [CX_ERR_UNAVAILABLE] = {503, "unavailable", "service unavailable, try again"},
    [CX_ERR_TIMEOUT] = {504, "timeout", "service did not answer in time"},
};

static const struct _cx_status_row *_row(cx_status s)
{
    if ((int)s < 0 || s >= CX_STATUS_COUNT_ || !_rows[s].code)
        return &_rows[CX_ERR_INTERNAL];
    return &_rows[s];
}

int cx_status_http(cx_status s)
{
    return _row(s)->http;
}

const char *cx_status_code(cx_status s)
{
    return _row(s)->code;
}

const char *cx_status_message(cx_status s)
{
    return _row(s)->message;
}

cx_status cx_status_from_code(const char *code)
{
    if (!code)
        return CX_ERR_INTERNAL;
    for (int i = 0; i < CX_STATUS_COUNT_; i++) {
        /* CX_ERR_NOMEM shares "internal"; the first match wins. */
        if (_rows[i].code && strcmp(_rows[i].code, code) == 0)
            return (cx_status)i;
    }
    return CX_ERR_INTERNAL;
}
