/*
 * server.c - libmicrohttpd glue, dispatch, limits, logs and HTTP metrics
 * (see server.h for the life of a request).
 *
 * Threading: MHD runs one thread per connection plus a listener thread.
 * Per-request state (req_ctx) belongs to its connection thread; the only
 * shared state is in http_server and is atomic (counters, histogram).
 *
 * Shutdown (http_stop), in this order:
 *   caller: app->stopping = true   new requests get 503
 *   caller: queue_shutdown()       blocked long-polls return
 *   MHD_quiesce_daemon             no new connections
 *   wait inflight == 0             requests already started finish and
 *                                  their responses are sent (<= drain_ms)
 *   MHD_stop_daemon                idle keep-alive connections closed,
 *                                  threads joined
 * The wait matters: MHD_stop_daemon shuts sockets down under running
 * handlers, so without it an in-flight response could be lost.
 */
#include "http/server.h"

#include <assert.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/xmem.h"

#define MAX_STATUS 600

struct http_server {
    fs_app *app;
    struct MHD_Daemon *d;
    const http_route *routes;
    size_t nroutes;
    int port;
    unsigned max_longpolls;
    int64_t drain_ms;
    atomic_uint longpolls;
    atomic_int inflight;
    fs_histogram duration;
    _Atomic uint64_t codes[MAX_STATUS];
};

/* One request, from the first callback to the completed callback. */
typedef struct req_ctx {
    int64_t start_ns;
    char id[13];
    const http_route *route;
    char *params[HTTP_MAX_PARAMS];
    size_t nparams;
    auth_principal principal;
    http_resp verdict; /* decided before the handler (status != 0) */
    char *body;
    size_t len, cap;
    size_t dropped;    /* bytes discarded past the limit */
    bool too_big, sent;
} req_ctx;

/* Where a pattern matched a path. */
typedef struct seg_match {
    const char *p[HTTP_MAX_PARAMS];
    size_t len[HTTP_MAX_PARAMS];
    size_t n;
    int literals;
} seg_match;

/* --- Responses ---------------------------------------------------------- */

static void resp_body_clear(http_resp *r)
{
    json_decref(r->json);
    free(r->text);
    r->json = NULL;
    r->text = NULL;
    r->text_len = 0;
    r->content_type = NULL;
}

void http_resp_clear(http_resp *r)
{
    resp_body_clear(r);
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    memset(r, 0, sizeof *r);
}

void http_resp_json(http_resp *r, int status, json_t *body)
{
    resp_body_clear(r);
    r->status = status;
    r->json = body;
}

void http_resp_text(http_resp *r, int status, const char *content_type,
                    char *text, size_t len)
{
    resp_body_clear(r);
    r->status = status;
    r->text = text;
    r->text_len = len;
    r->content_type = content_type;
}

void http_resp_header(http_resp *r, const char *name, const char *value)
{
    assert(r->nheaders < HTTP_MAX_HEADERS);
    if (r->nheaders == HTTP_MAX_HEADERS) return;
    r->headers[r->nheaders].name = xstrdup(name);
    r->headers[r->nheaders].value = xstrdup(value);
    r->nheaders++;
}

static json_t *error_v(http_resp *r, int status, const char *code,
                       const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    json_t *err = json_pack("{s:s,s:s}", "code", code, "message", msg);
    if (!err) /* msg was not UTF-8 (it quoted client bytes) */
        err = json_pack("{s:s,s:s}", "code", code, "message", code);
    http_resp_json(r, status, json_pack("{s:o}", "error", err));
    return err;
}

json_t *http_resp_error(http_resp *r, int status, const char *code,
                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *err = error_v(r, status, code, fmt, ap);
    va_end(ap);
    return err;
}

/* The one table from FS_E* codes to HTTP. */
static const struct {
    int rc, status;
    const char *code;
} fail_map[] = {
    { FS_EINVAL, 400, "invalid_request" },
    { FS_ENOTFOUND, 404, "not_found" },
    { FS_ECONFLICT, 409, "conflict" },
    { FS_ELEASE, 409, "lease_lost" },
    { FS_ESTATE, 409, "invalid_state" },
    { FS_EIO, 500, "internal" },
    { FS_EBUSY, 503, "busy" },
    { FS_EAUTH, 401, "unauthorized" },
    { FS_EFORBIDDEN, 403, "forbidden" },
    { FS_ETOOBIG, 413, "body_too_large" },
    { FS_ESHUTDOWN, 503, "shutting_down" },
    { FS_ETIMEDOUT, 503, "timeout" },
    { FS_ELIMIT, 429, "rate_limited" },
    { FS_ECORRUPT, 500, "internal" },
};

json_t *http_resp_fail(http_resp *r, const http_req *req, int rc,
                       const char *fmt, ...)
{
    int status = 500;
    const char *code = "internal";
    for (size_t i = 0; i < sizeof fail_map / sizeof *fail_map; i++)
        if (fail_map[i].rc == rc) {
            status = fail_map[i].status;
            code = fail_map[i].code;
        }
    char detail[256] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof detail, fmt, ap);
        va_end(ap);
    }
    if (status >= 500) {
        log_event(status == 500 ? LOG_ERROR : LOG_INFO, req ? req->id : NULL,
                  0, "%s: %s", detail[0] ? detail : "request failed",
                  fs_strerror(rc));
        if (status == 503) http_resp_header(r, "Retry-After", "1");
        return http_resp_error(r, status, code, "%s (request id %s)",
                               fs_strerror(rc), req ? req->id : "-");
    }
    if (status == 429) http_resp_header(r, "Retry-After", "1");
    if (status == 401) http_resp_header(r, "WWW-Authenticate", "Bearer");
    return http_resp_error(r, status, code, "%s",
                           detail[0] ? detail : fs_strerror(rc));
}

/* --- Request accessors --------------------------------------------------- */

const char *http_query(const http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_header(const http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/* --- Limits and metrics -------------------------------------------------- */

bool http_longpoll_enter(http_server *s)
{
    unsigned n = atomic_fetch_add(&s->longpolls, 1);
    if (n < s->max_longpolls) return true;
    atomic_fetch_sub(&s->longpolls, 1);
    return false;
}

void http_longpoll_leave(http_server *s) { atomic_fetch_sub(&s->longpolls, 1); }

void http_metrics_render(http_server *s, fs_buf *b)
{
    fs_hist_render(b, "flowstate_http_request_duration_seconds",
                   "Time from request start to response queued.", "",
                   &s->duration);
    fs_buf_printf(b, "# HELP flowstate_http_requests_total HTTP responses "
                     "by status code.\n"
                     "# TYPE flowstate_http_requests_total counter\n");
    for (int i = 100; i < MAX_STATUS; i++) {
        uint64_t n = atomic_load_explicit(&s->codes[i], memory_order_relaxed);
        if (n)
            fs_buf_printf(b, "flowstate_http_requests_total{code=\"%d\"} %llu\n",
                          i, (unsigned long long)n);
    }
}

/* --- Routing ------------------------------------------------------------- */

/* Matches path against a pattern of literal and {name} segments. */
static bool route_match(const char *pattern, const char *path, seg_match *m)
{
    const char *a = pattern, *b = path;
    m->n = 0;
    m->literals = 0;
    for (;;) {
        if (*a != '/' || *b != '/') return false;
        a++, b++;
        size_t la = strcspn(a, "/"), lb = strcspn(b, "/");
        if (*a == '{') {
            if (lb == 0 || m->n == HTTP_MAX_PARAMS) return false;
            m->p[m->n] = b;
            m->len[m->n++] = lb;
        } else {
            if (la != lb || memcmp(a, b, la) != 0) return false;
            m->literals++;
        }
        a += la, b += lb;
        if (!*a || !*b) return !*a && !*b;
    }
}

/*
 * Finds the route for method + path (see server.h for precedence).
 * Returns it with *m filled, or NULL: then allow holds the methods the
 * path does accept ("" when the path is unknown).
 */
static const http_route *route_find(const http_server *s, const char *method,
                                    const char *path, seg_match *m,
                                    char *allow, size_t cap)
{
    int best = -1;
    seg_match tmp;
    for (size_t i = 0; i < s->nroutes; i++)
        if (route_match(s->routes[i].pattern, path, &tmp) &&
            tmp.literals > best)
            best = tmp.literals;
    allow[0] = '\0';
    for (size_t i = 0; best >= 0 && i < s->nroutes; i++) {
        const http_route *rt = &s->routes[i];
        if (!route_match(rt->pattern, path, &tmp) || tmp.literals != best)
            continue;
        if (strcmp(rt->method, method) == 0) {
            *m = tmp;
            return rt;
        }
        if (!strstr(allow, rt->method)) {
            size_t used = strlen(allow);
            snprintf(allow + used, cap - used, "%s%s", used ? ", " : "",
                     rt->method);
        }
    }
    return NULL;
}

/* --- The request life ------------------------------------------------------ */

/* A log-safe copy of a client string (decoded path, method): printable
 * ASCII only, cut to fit cap (and at most 160 bytes) with a '~' mark. */
static void safe_path(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    for (; in[i] && i + 4 < cap && i < 160; i++)
        out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
    if (in[i]) out[i++] = '~';
    out[i] = '\0';
}

/*
 * Decides what can be decided from the request line and headers: route,
 * shutdown, credentials.  A refusal is stored in x->verdict.
 */
static void decide(http_server *s, req_ctx *x, struct MHD_Connection *c,
                   const char *url, const char *method)
{
    char allow[128];
    seg_match m;
    if (atomic_load(&s->app->stopping)) {
        http_resp_header(&x->verdict, "Retry-After", "1");
        http_resp_error(&x->verdict, 503, "shutting_down",
                        "the server is shutting down");
        return;
    }
    x->route = route_find(s, method, url, &m, allow, sizeof allow);
    if (!x->route && !allow[0]) {
        http_resp_error(&x->verdict, 404, "not_found", "no such route");
        return;
    }
    if (!x->route) {
        http_resp_header(&x->verdict, "Allow", allow);
        http_resp_error(&x->verdict, 405, "method_not_allowed",
                        "method %s not allowed here; allowed: %s", method,
                        allow);
        return;
    }
    for (size_t i = 0; i < m.n; i++) x->params[i] = xstrndup(m.p[i], m.len[i]);
    x->nparams = m.n;
    if (x->route->flags & HTTP_PUBLIC) return;
    const char *hdr = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_AUTHORIZATION);
    int rc = auth_check(s->app->auth, hdr, &x->principal);
    if (rc == FS_EAUTH) {
        http_resp_header(&x->verdict, "WWW-Authenticate", "Bearer");
        http_resp_error(&x->verdict, 401, "unauthorized",
                        hdr ? "unknown or malformed credentials"
                            : "missing Authorization: Bearer <key>");
    } else if (rc) {
        http_req r = { .id = x->id };
        http_resp_fail(&x->verdict, &r, rc, "authentication");
    } else if (x->principal.role == AUTH_AGENT &&
               !(x->route->flags & HTTP_AGENT)) {
        http_resp_error(&x->verdict, 403, "forbidden",
                        "agent tokens may not call %s %s", method,
                        x->route->pattern);
    }
}

/* Serialises r and queues it on c; observes metrics and logs the line. */
static enum MHD_Result send_resp(http_server *s, struct MHD_Connection *c,
                                 req_ctx *x, const char *method,
                                 const char *url, http_resp *r)
{
    char *data = NULL;
    size_t len = 0;
    const char *ctype = "application/json";
    if (r->json) {
        data = fs_json_dump(r->json, 0);
        if (!data) {
            http_req rq = { .id = x->id };
            http_resp_fail(r, &rq, FS_ECORRUPT, "response not serialisable");
            data = json_dumps(r->json, JSON_COMPACT);
        }
        len = strlen(data);
        data = xrealloc(data, len + 2);
        data[len++] = '\n';
        data[len] = '\0';
    } else if (r->text) {
        data = r->text;
        len = r->text_len;
        ctype = r->content_type ? r->content_type : "text/plain";
        r->text = NULL;
    }
    struct MHD_Response *mr =
        data ? MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(0, (void *)"",
                                               MHD_RESPMEM_PERSISTENT);
    if (!mr) {
        free(data);
        http_resp_clear(r);
        return MHD_NO;
    }
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(mr, "X-Request-Id", x->id);
    for (size_t i = 0; i < r->nheaders; i++)
        MHD_add_response_header(mr, r->headers[i].name, r->headers[i].value);
    int status = r->status;
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, mr);
    MHD_destroy_response(mr);
    http_resp_clear(r);
    x->sent = true;

    double secs = (double)(fs_mono_ns() - x->start_ns) / 1e9;
    fs_hist_observe(&s->duration, secs);
    if (status > 0 && status < MAX_STATUS)
        atomic_fetch_add_explicit(&s->codes[status], 1, memory_order_relaxed);
    char path[168], meth[24];
    safe_path(url, path, sizeof path);
    safe_path(method, meth, sizeof meth);
    log_event(status >= 500 ? LOG_WARN : LOG_INFO, x->id, 0,
              "%s %s %d %zuB %.1fms", meth, path, status, len, secs * 1e3);
    return ok;
}

/* Runs the handler (or the pending verdict) and sends the response. */
static enum MHD_Result finish(http_server *s, struct MHD_Connection *c,
                              req_ctx *x, const char *url, const char *method)
{
    http_resp r = { 0 };
    if (x->verdict.status) {
        r = x->verdict;
        memset(&x->verdict, 0, sizeof x->verdict);
    } else if (x->too_big) {
        http_resp_error(&r, 413, "body_too_large",
                        "request body over the limit of %zu bytes",
                        s->app->body_limit);
    } else {
        http_req req = {
            .app = s->app, .conn = c, .method = method, .path = url,
            .nparams = x->nparams, .body = x->body ? x->body : "",
            .body_len = x->len, .principal = &x->principal, .id = x->id,
        };
        for (size_t i = 0; i < x->nparams; i++) req.params[i] = x->params[i];
        log_set_request(x->id); /* job log lines name the request too */
        x->route->handler(&req, &r);
        log_set_request(NULL);
        if (r.status == 0) {
            http_resp_clear(&r);
            http_resp_fail(&r, &req, FS_EIO, "handler set no response");
        }
    }
    return send_resp(s, c, x, method, url, &r);
}

/* Takes one chunk of body: buffered up to the limit, discarded past it.
 * MHD_NO (close the connection) when a client keeps sending far past it. */
static enum MHD_Result take_body(http_server *s, req_ctx *x, const char *data,
                                 size_t n)
{
    size_t limit = s->app->body_limit;
    if (x->verdict.status || x->too_big || x->len + n > limit) {
        if (!x->too_big && !x->verdict.status) {
            x->too_big = true;
            x->dropped = x->len;
            free(x->body);
            x->body = NULL;
            x->len = x->cap = 0;
        }
        x->dropped += n;
        size_t cap = limit * 4 > (8u << 20) ? limit * 4 : (8u << 20);
        return x->dropped > cap ? MHD_NO : MHD_YES;
    }
    if (x->len + n + 1 > x->cap) {
        x->cap = x->cap ? x->cap : 1024;
        while (x->cap < x->len + n + 1) x->cap *= 2;
        if (x->cap > limit + 1) x->cap = limit + 1;
        x->body = xrealloc(x->body, x->cap);
    }
    memcpy(x->body + x->len, data, n);
    x->len += n;
    x->body[x->len] = '\0';
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    http_server *s = cls;
    req_ctx *x = *con_cls;
    if (!x) {
        x = xcalloc(1, sizeof *x);
        *con_cls = x;
        atomic_fetch_add(&s->inflight, 1);
        x->start_ns = fs_mono_ns();
        fs_random_hex(x->id, 6);
        decide(s, x, c, url, method);
        const char *cl = MHD_lookup_connection_value(
            c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->app->body_limit) {
            if (!x->verdict.status) x->too_big = true;
            return finish(s, c, x, url, method); /* MHD skips the body */
        }
        return MHD_YES;
    }
    if (x->sent) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        return take_body(s, x, upload, n);
    }
    return finish(s, c, x, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)c, (void)toe;
    http_server *s = cls;
    req_ctx *x = *con_cls;
    if (!x) return;
    *con_cls = NULL;
    for (size_t i = 0; i < x->nparams; i++) free(x->params[i]);
    auth_principal_clear(&x->principal);
    http_resp_clear(&x->verdict);
    free(x->body);
    free(x);
    atomic_fetch_sub(&s->inflight, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\r\n")] = '\0';
    log_warn("http: %s", msg);
}

/* --- Start and stop ------------------------------------------------------ */

/* Resolves host:port into *ss.  Errors: FS_EINVAL. */
static int resolve(const char *host, int port, struct sockaddr_storage *ss,
                   socklen_t *sslen)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC,
                              .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *res = NULL;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    int e = getaddrinfo(host, portstr, &hints, &res);
    if (e != 0 || !res) {
        log_error("http: cannot resolve host '%s': %s", host, gai_strerror(e));
        return FS_EINVAL;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int http_start(http_server **out, fs_app *app, const http_config *cfg)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (cfg->port < 0 || cfg->port > 65535) return FS_EINVAL;
    int rc = resolve(cfg->host ? cfg->host : "127.0.0.1", cfg->port, &ss,
                     &sslen);
    if (rc) return rc;
    http_server *s = xcalloc(1, sizeof *s);
    s->app = app;
    s->routes = cfg->routes;
    s->nroutes = cfg->nroutes;
    s->max_longpolls = cfg->max_longpolls ? cfg->max_longpolls : 512;
    s->drain_ms = cfg->drain_ms ? cfg->drain_ms : 30000;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    app->http = s; /* handlers may run as soon as the daemon starts */
    s->d = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT,
        cfg->max_connections ? cfg->max_connections : 1024u,
        MHD_OPTION_CONNECTION_TIMEOUT, 90u,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (!s->d) {
        log_error("http: cannot listen on %s:%d", cfg->host, cfg->port);
        app->http = NULL;
        free(s);
        return FS_EIO;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : cfg->port;
    *out = s;
    return 0;
}

int http_port(const http_server *s) { return s->port; }

void http_stop(http_server *s)
{
    if (!s) return;
    MHD_socket lfd = MHD_quiesce_daemon(s->d);
    int64_t deadline = fs_mono_ms() + s->drain_ms;
    while (atomic_load(&s->inflight) > 0 && fs_mono_ms() < deadline) {
        struct timespec ts = { 0, 5 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    int left = atomic_load(&s->inflight);
    if (left > 0)
        log_warn("http: stopping with %d request(s) still in flight", left);
    MHD_stop_daemon(s->d);
    if (lfd != MHD_INVALID_SOCKET) close(lfd);
    free(s);
}
