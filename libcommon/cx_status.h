/* cx_status: the one status enum of the project and its table.
 *
 * Every fallible function returns a cx_status. Each status maps to an HTTP
 * status and to the stable `error` string of the API contract
 * (shared/API.md); the table in cx_status.c is the only place that mapping
 * lives. */
#ifndef CX_STATUS_H
#define CX_STATUS_H

typedef enum cx_status {
    CX_OK = 0,
    CX_ERR_INVALID_JSON,          /* 400 invalid_json */
    CX_ERR_VALIDATION,            /* 400 validation_failed */
    CX_ERR_BAD_REQUEST,           /* 400 bad_request */
    CX_ERR_REFRESH_REQUIRED,      /* 400 refresh_token_required */
    CX_ERR_MISSING_AUTH,          /* 401 missing_auth */
    CX_ERR_INVALID_AUTH,          /* 401 invalid_auth */
    CX_ERR_INVALID_TOKEN,         /* 401 invalid_token */
    CX_ERR_TOKEN_REVOKED,         /* 401 token_revoked */
    CX_ERR_INVALID_CREDENTIALS,   /* 401 invalid_credentials */
    CX_ERR_INVALID_REFRESH,       /* 401 invalid_refresh */
    CX_ERR_INVALID_WEBHOOK,       /* 401 invalid_webhook */
    CX_ERR_FORBIDDEN,             /* 403 forbidden */
    CX_ERR_ROOM_FORBIDDEN,        /* 403 room_forbidden */
    CX_ERR_NOT_FOUND,             /* 404 not_found */
    CX_ERR_ROOM_NOT_FOUND,        /* 404 room_not_found */
    CX_ERR_PARTICIPANT_NOT_FOUND, /* 404 participant_not_found */
    CX_ERR_MESSAGE_NOT_FOUND,     /* 404 message_not_found */
    CX_ERR_SESSION_NOT_FOUND,     /* 404 session_not_found */
    CX_ERR_PROFILE_NOT_FOUND,     /* 404 profile_not_found */
    CX_ERR_WAITING_NOT_FOUND,     /* 404 waiting_not_found */
    CX_ERR_INVITE_NOT_FOUND,      /* 404 invite_not_found */
    CX_ERR_METHOD_NOT_ALLOWED,    /* 405 method_not_allowed */
    CX_ERR_CONFLICT,              /* 409 conflict */
    CX_ERR_EMAIL_EXISTS,          /* 409 email_exists */
    CX_ERR_ROOM_ENDED,            /* 409 room_ended */
    CX_ERR_ROOM_NOT_STARTED,      /* 409 room_not_started */
    CX_ERR_ROOM_FULL,             /* 409 room_full */
    CX_ERR_PROFILE_LIMIT,         /* 409 profile_limit_reached */
    /* API-ROOMS.md "Joining, extended" (issue 17) */
    CX_ERR_BANNED,            /* 403 banned */
    CX_ERR_ROOM_LOCKED,       /* 403 room_locked */
    CX_ERR_INVITE_REQUIRED,   /* 403 room_invite_required */
    CX_ERR_PASSWORD_REQUIRED, /* 403 room_password_required */
    CX_ERR_PASSWORD_INVALID,  /* 403 room_password_invalid */
    CX_ERR_INVITE_INVALID,    /* 403 invite_invalid */
    CX_ERR_INVITE_EXPIRED,    /* 410 invite_expired */
    CX_ERR_PAYLOAD_TOO_LARGE, /* 413 payload_too_large */
    CX_ERR_UNSUPPORTED_MEDIA, /* 415 unsupported_media_type */
    CX_ERR_UNPROCESSABLE,     /* 422 unprocessable */
    CX_ERR_TOO_MANY_ATTEMPTS, /* 429 too_many_attempts */
    CX_ERR_TOO_MANY_MESSAGES, /* 429 too_many_messages */
    CX_ERR_RATE_LIMITED,      /* 429 rate_limited */
    CX_ERR_INTERNAL,          /* 500 internal */
    CX_ERR_NOMEM,             /* 500 internal (out of memory) */
    CX_ERR_CONFIG,            /* 500 config (start-up only) */
    CX_ERR_UPSTREAM,          /* 502 upstream_error (LiveKit said no) */
    CX_ERR_UNAVAILABLE,       /* 503 unavailable (store/NATS/LiveKit down) */
    CX_ERR_TIMEOUT,           /* 504 timeout */
    CX_STATUS_COUNT_
} cx_status;

/* HTTP status for s (500 for unknown values). */
int cx_status_http(cx_status s);

/* Stable machine code for s, e.g. "room_not_found". Never NULL. */
const char *cx_status_code(cx_status s);

/* Default human message for s. Never NULL. */
const char *cx_status_message(cx_status s);

/* Inverse of cx_status_code; CX_ERR_INTERNAL for an unknown code. */
cx_status cx_status_from_code(const char *code);

#endif
