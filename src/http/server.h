/*
 * server.h - the HTTP server under `flowstate serve`: libmicrohttpd, one
 * thread per connection, table-driven dispatch to JSON handlers.
 *
 * A request's life (all in server.c):
 *
 *   first callback      route match (404/405), 503 while stopping, auth
 *        |              (401/403), Content-Length over the limit -> 413 sent
 *        v              at once; otherwise the verdict is kept for later
 *   body callbacks      append to a buffer up to app->body_limit; past it the
 *        |              bytes are discarded (never buffered) and 413 is due
 *        v
 *   last callback       handler(req, resp) unless a verdict is pending,
 *        |              then the response is queued, metrics observed and
 *        v              one log line written
 *   completed callback  per-request memory freed, in-flight count dropped
 *
 * Handlers see an http_req (borrowed; valid during the call) and fill an
 * http_resp: a status and either a json_t body (stolen) or text.  They may
 * block (long-poll leases): each connection has its own thread.
 *
 * Routes are static tables of {method, pattern, handler, flags}; a pattern
 * has literal segments and "{name}" segments captured in req->params in
 * order.  When several patterns match a path, the one with more literal
 * segments wins ("/v1/jobs/lease" beats "/v1/jobs/{id}"); a matching
 * pattern without the request's method gives 405 and an Allow header.
 */
#ifndef HTTP_SERVER_H
#define HTTP_SERVER_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/metrics.h"
#include "http/auth.h"
#include "serve/app.h"

struct MHD_Connection;
typedef struct http_server http_server;

#define HTTP_MAX_PARAMS 4
#define HTTP_MAX_HEADERS 4

/* Route flags. */
enum {
    HTTP_PUBLIC = 1 << 0, /* no Authorization needed */
    HTTP_AGENT = 1 << 1,  /* agent tokens may call it (the handler then
                             checks that the agent acts on its own things);
                             without it only admin keys may */
};

typedef struct http_req {
    fs_app *app;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;                      /* decoded, without the query */
    const char *params[HTTP_MAX_PARAMS];   /* the {…} segments, in order */
    size_t nparams;
    const char *body;                      /* NUL-terminated; "" if none */
    size_t body_len;
    const auth_principal *principal;       /* AUTH_ANON on public routes */
    const char *id;                        /* request id (hex) */
} http_req;

typedef struct http_resp {
    int status;                /* 0 = not set yet */
    json_t *json;              /* owned */
    char *text;                /* owned; used when json is NULL */
    size_t text_len;
    const char *content_type;  /* static string, for text */
    struct {
        char *name, *value;    /* owned */
    } headers[HTTP_MAX_HEADERS];
    size_t nheaders;
} http_resp;

typedef void (*http_handler)(http_req *req, http_resp *resp);

typedef struct http_route {
    const char *method;
    const char *pattern;
    http_handler handler;
    unsigned flags;
} http_route;

typedef struct http_config {
    const char *host;            /* numeric address or name; "127.0.0.1" */
    int port;                    /* 0 = any free port */
    const http_route *routes;    /* static; must outlive the server */
    size_t nroutes;
    unsigned max_connections;    /* 0 = 1024 */
    unsigned max_longpolls;      /* 0 = 512 concurrent waiting leases */
    int64_t drain_ms;            /* wait for in-flight requests on stop:
                                    0 = 30000 */
} http_config;

/*
 * Binds host:port and starts serving app (borrowed; must outlive the
 * server).  Sets app->http before the first request can arrive.
 * Errors: FS_EINVAL (bad host), FS_EIO (cannot bind).
 * OUT: *out, stopped and freed with http_stop().
 */
int http_start(http_server **out, fs_app *app, const http_config *cfg);
/* The port actually bound (useful with port 0). */
int http_port(const http_server *s);
/*
 * Graceful stop: stops accepting, waits up to drain_ms for in-flight
 * requests to finish (callers set app->stopping and wake long-polls
 * first), then closes every connection and frees s.  NULL is a no-op.
 */
void http_stop(http_server *s);

/* Query argument / request header (case-insensitive) or NULL.  The string
 * lives as long as the request. */
const char *http_query(const http_req *req, const char *name);
const char *http_header(const http_req *req, const char *name);

/* --- Response builders (each replaces any body set before) ------------ */

/* Steals body. */
void http_resp_json(http_resp *r, int status, json_t *body);
/* Steals text (malloc'd, len bytes); content_type is a static string. */
void http_resp_text(http_resp *r, int status, const char *content_type,
                    char *text, size_t len);
/* Adds an extra header (both strings copied). At most HTTP_MAX_HEADERS. */
void http_resp_header(http_resp *r, const char *name, const char *value);
/*
 * Sets {"error":{"code":code,"message":…}} with status.  Returns the inner
 * error object (borrowed from r) so callers can add fields such as
 * "field" or "current_version".
 */
json_t *http_resp_error(http_resp *r, int status, const char *code,
                        const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/*
 * The one table from FS_E* codes to (status, code): FS_ENOTFOUND -> 404
 * not_found, FS_ELEASE -> 409 lease_lost, FS_ESTATE -> 409 invalid_state,
 * FS_ECONFLICT -> 409 conflict, FS_ELIMIT -> 429 rate_limited,
 * FS_ESHUTDOWN -> 503 shutting_down, FS_EIO -> 500 internal, ...
 * fmt may be NULL for the code's own text.  5xx messages never carry
 * details to the client; the details are logged.
 */
json_t *http_resp_fail(http_resp *r, const http_req *req, int rc,
                       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void http_resp_clear(http_resp *r);


/* --- Limits and metrics ------------------------------------------------ */

/* Counts a waiting long-poll; false (and not counted) when the cap is
 * reached.  Pair every true with http_longpoll_leave(). */
bool http_longpoll_enter(http_server *s);
void http_longpoll_leave(http_server *s);

/* Appends flowstate_http_request_duration_seconds and
 * flowstate_http_requests_total{code} in Prometheus text. */
void http_metrics_render(http_server *s, fs_buf *b);

#endif
