/* cx_service: the NATS service runtime every daemon uses.
 *
 * A daemon describes its endpoints in a table and calls cx_service_run:
 *
 *   static const cx_endpoint eps[] = {
 *     { "login", &calixio__v1__login_request__descriptor,
 *       &calixio__v1__login_reply__descriptor, handle_login, CX_AUTH_NONE, true },
 *   };
 *
 * For each endpoint the runtime queue-subscribes `<prefix>.<service>.<name>`
 * in the queue group `calixio-<service>` (all copies of a service share it),
 * decodes the request (protobuf, or JSON when the request carries the header
 * `Content-Type: application/json`; the reply is then JSON too), verifies the
 * bearer token from the `Authorization` header (per the endpoint's auth
 * mode), calls the handler, encodes the reply and publishes it to the
 * request's reply subject. Errors are answered per the error contract:
 * headers `Nats-Service-Error-Code` (HTTP-like status) and
 * `Nats-Service-Error` (short message) and a calixio.v1.Error body.
 *
 * It also answers the NATS service protocol ($SRV.PING/INFO/STATS, plain
 * subscriptions) with name `calixio-<service>`, counting requests, errors
 * and processing time per endpoint. On SIGTERM/SIGINT cx_service_run drains
 * the connection (in-flight requests finish) and returns CX_OK. */
#ifndef CX_SERVICE_H
#define CX_SERVICE_H

#include <nats/nats.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#include "cx_auth.h"
#include "cx_natsconn.h"
#include "cx_redis.h"
#include "cx_status.h"

#define CX_REQ_MAX_FIELDS 8

/* What a handler knows about the request it serves. Strings are borrowed
 * for the duration of the handler call ("" when the header was absent). */
typedef struct cx_req {
    const char *subject;
    const char *request_id;    /* Calixio-Request-Id */
    const char *authorization; /* Authorization */
    const char *client_ip;     /* Calixio-Client-Ip */
    const char *user_agent;    /* Calixio-User-Agent */
    cx_caller caller;          /* .authenticated when a valid bearer came */

    /* Error details a handler may fill before returning an error status. */
    char message[256]; /* overrides the status's default message */
    char reason[96];   /* e.g. "email_email" */
    int n_fields;
    struct {
        char field[48];
        char rule[32];
    } fields[CX_REQ_MAX_FIELDS];
    int retry_after; /* seconds, for 429 */
} cx_req;

/* Adds a validation failure (field, rule); the first one also sets
 * reason "<field>_<rule>". Returns CX_ERR_VALIDATION for convenience. */
cx_status cx_req_field_error(cx_req *req, const char *field, const char *rule);

/* Sets req->message printf-style; returns s. */
cx_status cx_req_fail(cx_req *req, cx_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A handler gets the decoded request `in` (owned by the runtime) and, on
 * CX_OK, sets *out to a reply message of the endpoint's out type whose
 * every string/array/sub-message is malloced: the runtime frees it with
 * protobuf_c_message_free_unpacked. On error *out must stay NULL. */
typedef cx_status (*cx_handler_fn)(cx_req *req, const ProtobufCMessage *in,
                                   ProtobufCMessage **out, void *ctx);

typedef enum cx_auth_mode {
    CX_AUTH_NONE = 0, /* Authorization header ignored */
    CX_AUTH_OPTIONAL, /* verified when present: invalid -> 401, absent -> guest */
    CX_AUTH_REQUIRED  /* absent -> 401 missing_auth */
} cx_auth_mode;

typedef struct cx_endpoint {
    const char *name; /* subject token and $SRV endpoint name */
    const ProtobufCMessageDescriptor *in;
    const ProtobufCMessageDescriptor *out;
    cx_handler_fn fn;
    cx_auth_mode auth;
    bool pooled; /* CPU-heavy: run in the bounded worker pool; a full queue is 503 */
} cx_endpoint;

typedef struct cx_service_opts {
    const char *name;    /* "auth": subjects <prefix>.auth.*, micro name calixio-auth */
    const char *version; /* SemVer, e.g. "0.1.0" */
    const char *description;
    const char *nats_url;        /* comma-separated list allowed; used when nats is NULL */
    const cx_natsconn_cfg *nats; /* URL list, credentials, TLS (cx_natsconn.h) */
    const char *prefix;          /* subject prefix, "calixio" */
    const cx_endpoint *endpoints;
    int n_endpoints;
    void *ctx;                /* passed to every handler */
    const cx_auth_cfg *auth;  /* NULL: no endpoint may use CX_AUTH_* other than NONE */
    cx_redis *revocation;     /* deny-list store; NULL skips the check */
    int subs_per_endpoint;    /* parallel delivery threads per endpoint (default 2) */
    const int *endpoint_subs; /* NULL, or per endpoint (n_endpoints entries): fewer
                                 delivery threads for it (0: subs_per_endpoint) */
    int pool_threads;         /* worker threads for pooled endpoints (default 2) */
    int pool_queue;           /* max queued pooled requests (default 64) */
} cx_service_opts;

typedef struct cx_service cx_service;

/* Connects to NATS (with endless reconnect) and subscribes everything.
 * opts and the endpoint table must outlive the service. */
cx_status cx_service_create(cx_service **out, const cx_service_opts *opts);

/* Registers fn to be called every every_ms on a runtime thread (periodic
 * tasks such as expiry sweeps). Call before cx_service_run. */
cx_status cx_service_every(cx_service *s, int64_t every_ms, void (*fn)(void *), void *arg);

/* Serves until SIGTERM/SIGINT (or cx_service_stop), then drains: stops
 * taking new requests, finishes in-flight ones, closes. A reply that
 * cannot be published (or whose headers cannot be set) is counted as an
 * error of its endpoint in $SRV.STATS (num_errors, last_error "500:reply
 * not sent: ...") and logged; when it was a success reply the caller gets
 * a 500 instead. */
cx_status cx_service_run(cx_service *s);

/* Asks cx_service_run of this service (only) to return; other services of
 * the process keep serving. Async-signal-safe. SIGTERM/SIGINT stop every
 * service of the process. */
void cx_service_stop(cx_service *s);

/* The service's NATS connection, e.g. to publish events. Borrowed. */
natsConnection *cx_service_conn(cx_service *s);

/* Full subject for a relative one: "<prefix>.<rel>" into buf. */
const char *cx_service_subject(const cx_service *s, const char *rel, char *buf, size_t cap);

/* Publishes m (protobuf) on "<prefix>.<rel>". */
cx_status cx_service_publish(cx_service *s, const char *rel, const ProtobufCMessage *m);

/* Frees everything; NULL is fine. */
void cx_service_destroy(cx_service *s);

#endif
