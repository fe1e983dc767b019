/*
 * api_worker.c - the worker protocol: lease (long-poll), heartbeat,
 * complete (one or a batch) and fail.
 *
 * Who may touch a job: the holder of its current lease token.  On top of
 * that an agent token may only lease as itself and only touch jobs whose
 * lease_owner is itself (403 otherwise, checked before the write); the
 * token check itself happens in the store, atomically with the write, and
 * a wrong or expired token is 409 "lease_lost".
 *
 * Long-polls hold a connection thread each, so at most max_longpolls
 * (server config) may wait at once; past that a lease with wait_ms > 0
 * gets 429 "rate_limited" and should retry after a moment.  A long-poll
 * in flight when shutdown begins ends like one whose wait ran out: 200
 * with an empty list (graceful shutdown finishes in-flight requests).
 */
#include "http/api.h"

#include <microhttpd.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/json.h"
#include "core/xmem.h"
#include "http/body.h"
#include "queue/queue.h"

#define MAX_TYPES 100
#define MAX_TOKEN 128
#define MAX_ERROR 8192
#define MAX_LEASE_S (QUEUE_MAX_LEASE_MS / 1000)

/*
 * For agent callers: 0 when the job may be touched, FS_ENOTFOUND, or
 * FS_EFORBIDDEN when another agent holds (or held) it.  Admins: always 0
 * (the store checks the token).
 */
static int owner_check(http_req *req, int64_t id)
{
    if (req->principal->role != AUTH_AGENT) return 0;
    fs_job j = { 0 };
    int rc = queue_get(req->app->q, id, &j);
    if (rc == 0 && j.lease_owner && !auth_may_act_as(req->principal,
                                                     j.lease_owner))
        rc = FS_EFORBIDDEN;
    fs_job_clear(&j);
    return rc;
}

/* Maps a per-job worker error to a response. */
static void job_fail_resp(http_req *req, http_resp *resp, int rc)
{
    if (rc == FS_ENOTFOUND)
        http_resp_error(resp, 404, "not_found", "no such job");
    else if (rc == FS_ELEASE)
        http_resp_error(resp, 409, "lease_lost",
                        "the lease token is wrong or the lease has expired");
    else if (rc == FS_EFORBIDDEN)
        http_resp_error(resp, 403, "forbidden",
                        "the job is leased by another agent");
    else
        http_resp_fail(resp, req, rc, "job update");
}

/*
 * Resolves who leases: the agent id from the body or the agent token (an
 * agent may only lease as itself), which must be a registered agent.
 * OUT: *a (the agent record; fs_agent_clear).  false after a 4xx.
 */
static bool lease_agent(http_req *req, http_resp *resp, const char *agent_id,
                        fs_agent *a)
{
    const auth_principal *p = req->principal;
    if (p->role == AUTH_AGENT) {
        if (agent_id && strcmp(agent_id, p->agent.id) != 0) {
            http_resp_error(resp, 403, "forbidden",
                            "an agent token may only lease as its own agent");
            return false;
        }
        agent_id = p->agent.id;
    }
    if (!agent_id) {
        json_t *err = http_resp_error(resp, 400, "missing_field",
                                      "field 'agent_id' is required");
        json_object_set_new(err, "field", json_string("agent_id"));
        return false;
    }
    int rc = registry_get(req->app->reg, agent_id, a);
    if (rc == FS_ENOTFOUND) {
        http_resp_error(resp, 404, "not_found", "no such agent '%s'", agent_id);
        return false;
    }
    if (rc) {
        http_resp_fail(resp, req, rc, "lease: get agent");
        return false;
    }
    return true;
}

/* Collects the strings of a JSON array into out (borrowed). */
static size_t str_list(json_t *arr, const char **out, size_t cap)
{
    size_t i, n = 0;
    json_t *v;
    json_array_foreach(arr, i, v) if (json_is_string(v) && n < cap)
        out[n++] = json_string_value(v);
    return n;
}

/* Is the long-polling client still connected?  A peer that closed or
 * reset shows as POLLRDHUP/POLLHUP/POLLERR on the socket. */
static bool client_connected(void *ctx)
{
    http_req *req = ctx;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return true;
    struct pollfd p = { .fd = ci->connect_fd, .events = POLLRDHUP };
    if (poll(&p, 1, 0) < 0) return true;
    return !(p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* Runs the lease, with the long-poll cap when it may wait. */
static void do_lease(http_req *req, http_resp *resp, queue_lease_req *r)
{
    fs_job *jobs = NULL;
    size_t n = 0;
    bool waiting = r->wait_ms > 0;
    if (waiting && !http_longpoll_enter(req->app->http)) {
        http_resp_fail(resp, req, FS_ELIMIT,
                       "too many waiting leases; retry shortly or use "
                       "wait_ms 0");
        return;
    }
    if (waiting) {
        r->still_wanted = client_connected;
        r->ctx = req;
    }
    int rc = queue_lease(req->app->q, r, &jobs, &n);
    if (waiting) http_longpoll_leave(req->app->http);
    if (rc == FS_ESHUTDOWN) {
        /* In flight when shutdown began (later requests get 503 before
         * reaching here): finish it like a wait that ran out. */
        fs_jobs_free(jobs, n);
        jobs = NULL;
        n = 0;
        rc = 0;
    }
    if (rc) {
        http_resp_fail(resp, req, rc, "lease");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, api_job_json(&jobs[i], true));
    fs_jobs_free(jobs, n);
    http_resp_json(resp, 200, json_pack("{s:o}", "jobs", arr));
}

/* Reads a lease body (see api.h).  Pure (no store): fuzz/fuzz_body.c
 * drives it. */
bool api_lease_read(json_t *o, http_resp *resp, api_lease_args *out)
{
    body_in in = { o, "", resp };
    *out = (api_lease_args){ .max = 1 };
    return body_str(&in, "agent_id", 0, QUEUE_MAX_NAME, &out->agent_id) &&
           body_str_array(&in, "types", 0, MAX_TYPES, QUEUE_MAX_NAME,
                          &out->types) &&
           body_int(&in, "max", 0, 1, QUEUE_MAX_BATCH, &out->max) &&
           body_int(&in, "lease_seconds", 0, 1, MAX_LEASE_S,
                    &out->lease_s) &&
           body_int(&in, "wait_ms", 0, 0, QUEUE_MAX_WAIT_MS, &out->wait_ms);
}

void api_job_lease(http_req *req, http_resp *resp)
{
    json_t *o = body_parse(req->body, req->body_len, true, resp);
    if (!o) return;
    const char *types[MAX_TYPES];
    json_t *agent_types = NULL;
    api_lease_args la;
    fs_agent a = { 0 };
    if (!api_lease_read(o, resp, &la) ||
        !lease_agent(req, resp, la.agent_id, &a))
        goto out;
    size_t ntypes;
    if (la.types) {
        ntypes = str_list(la.types, types, MAX_TYPES);
    } else {
        agent_types = json_loads(a.job_types ? a.job_types : "[]", 0, NULL);
        ntypes = json_is_array(agent_types)
                     ? str_list(agent_types, types, MAX_TYPES)
                     : 0;
    }
    queue_lease_req r = {
        .agent_id = a.id, .agent_type = a.type, .types = types,
        .ntypes = ntypes, .max = (int)la.max, .lease_ms = la.lease_s * 1000,
        .wait_ms = la.wait_ms,
    };
    do_lease(req, resp, &r);
out:
    json_decref(agent_types);
    fs_agent_clear(&a);
    json_decref(o);
}

void api_job_heartbeat(http_req *req, http_resp *resp)
{
    int64_t id, lease_s = 0, expires = 0;
    const char *token = NULL;
    if (!api_job_id(req, resp, &id)) return;
    json_t *o = body_parse(req->body, req->body_len, false, resp);
    if (!o) return;
    body_in in = { o, "", resp };
    if (!body_str(&in, "lease_token", BODY_REQUIRED, MAX_TOKEN, &token) ||
        !body_int(&in, "lease_seconds", 0, 1, MAX_LEASE_S, &lease_s))
        goto out;
    int rc = owner_check(req, id);
    if (rc == 0)
        rc = queue_heartbeat(req->app->q, id, token, lease_s * 1000, &expires);
    if (rc) {
        job_fail_resp(req, resp, rc);
        goto out;
    }
    http_resp_json(resp, 200,
                   json_pack("{s:I,s:o}", "id", (json_int_t)id,
                             "lease_expires_at", api_time(expires)));
out:
    json_decref(o);
}

/* Dumps a result value as JSON text (NULL when absent). */
static char *result_text(json_t *v)
{
    return v ? fs_json_dump(v, JSON_ENCODE_ANY) : NULL;
}

void api_job_complete(http_req *req, http_resp *resp)
{
    int64_t id;
    const char *token = NULL;
    json_t *result = NULL;
    char *text = NULL;
    fs_job j = { 0 };
    if (!api_job_id(req, resp, &id)) return;
    json_t *o = body_parse(req->body, req->body_len, false, resp);
    if (!o) return;
    body_in in = { o, "", resp };
    if (!body_str(&in, "lease_token", BODY_REQUIRED, MAX_TOKEN, &token) ||
        !body_any(&in, "result", &result))
        goto out;
    text = result_text(result);
    int rc = owner_check(req, id);
    if (rc == 0) {
        store_completion item = { .id = id, .lease_token = token,
                                  .result = text };
        rc = queue_complete(req->app->q, &item, 1);
        if (rc == 0) rc = item.rc;
    }
    if (rc == 0) rc = queue_get(req->app->q, id, &j);
    if (rc) {
        job_fail_resp(req, resp, rc);
        goto out;
    }
    http_resp_json(resp, 200, api_job_json(&j, false));
out:
    fs_job_clear(&j);
    free(text);
    json_decref(o);
}

void api_job_fail(http_req *req, http_resp *resp)
{
    int64_t id;
    const char *token = NULL, *error = NULL;
    bool retry = true;
    fs_job j = { 0 };
    if (!api_job_id(req, resp, &id)) return;
    json_t *o = body_parse(req->body, req->body_len, false, resp);
    if (!o) return;
    body_in in = { o, "", resp };
    if (!body_str(&in, "lease_token", BODY_REQUIRED, MAX_TOKEN, &token) ||
        !body_str(&in, "error", 0, MAX_ERROR, &error) ||
        !body_bool(&in, "retry", 0, &retry))
        goto out;
    int rc = owner_check(req, id);
    if (rc == 0)
        rc = queue_fail(req->app->q, id, token, error ? error : "failed",
                        retry, &j);
    if (rc) {
        job_fail_resp(req, resp, rc);
        goto out;
    }
    http_resp_json(resp, 200, api_job_json(&j, false));
out:
    fs_job_clear(&j);
    json_decref(o);
}

/* One batch item's outcome as {"id","ok"[,"error"]}. */
static json_t *item_result(int64_t id, int rc)
{
    if (rc == 0) return json_pack("{s:I,s:b}", "id", (json_int_t)id, "ok", 1);
    const char *code = rc == FS_ENOTFOUND    ? "not_found"
                       : rc == FS_ELEASE     ? "lease_lost"
                       : rc == FS_EFORBIDDEN ? "forbidden"
                                             : "internal";
    return json_pack("{s:I,s:b,s:{s:s,s:s}}", "id", (json_int_t)id, "ok", 0,
                     "error", "code", code, "message", fs_strerror(rc));
}

/*
 * Reads every batch item (all before any write; see api.h).
 * OUT: *items, *n (items[i].result owned, free it).  false after a 400.
 * Pure (no store): fuzz/fuzz_body.c drives it.
 */
bool api_completions_read(json_t *o, http_resp *resp,
                          store_completion **items, size_t *n)
{
    body_in top = { o, "", resp };
    json_t *arr = NULL;
    *items = NULL;
    *n = 0;
    if (!body_array(&top, "jobs", BODY_REQUIRED, 1, QUEUE_MAX_BATCH, &arr))
        return false;
    *n = json_array_size(arr);
    *items = xcalloc(*n, sizeof **items);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        char where[32];
        json_t *jo = json_array_get(arr, i), *result = NULL;
        int64_t id = 0;
        const char *token = NULL;
        snprintf(where, sizeof where, "jobs[%zu]", i);
        if (!json_is_object(jo)) {
            body_field_error(&top, "invalid_field", where,
                             "must be a JSON object");
            return false;
        }
        strcat(where, ".");
        body_in in = { jo, where, resp };
        if (!body_int(&in, "id", BODY_REQUIRED, 1, INT64_MAX, &id) ||
            !body_str(&in, "lease_token", BODY_REQUIRED, MAX_TOKEN, &token) ||
            !body_any(&in, "result", &result))
            return false;
        (*items)[i] = (store_completion){ .id = id, .lease_token = token,
                                          .result = result_text(result) };
    }
    return true;
}

void api_jobs_complete(http_req *req, http_resp *resp)
{
    json_t *o = body_parse(req->body, req->body_len, false, resp);
    if (!o) return;
    store_completion *items = NULL, *todo = NULL;
    size_t n = 0, ntodo = 0;
    if (!api_completions_read(o, resp, &items, &n)) goto out;
    todo = xcalloc(n, sizeof *todo);
    for (size_t i = 0; i < n; i++) items[i].rc = owner_check(req, items[i].id);
    for (size_t i = 0; i < n; i++)
        if (items[i].rc == 0) todo[ntodo++] = items[i];
    int rc = ntodo ? queue_complete(req->app->q, todo, ntodo) : 0;
    if (rc) {
        http_resp_fail(resp, req, rc, "batch complete");
        goto out;
    }
    json_t *results = json_array();
    for (size_t i = 0, t = 0; i < n; i++) {
        int item_rc = items[i].rc ? items[i].rc : todo[t++].rc;
        json_array_append_new(results, item_result(items[i].id, item_rc));
    }
    http_resp_json(resp, 200, json_pack("{s:o}", "results", results));
out:
    for (size_t i = 0; items && i < n; i++) free((char *)items[i].result);
    free(items);
    free(todo);
    json_decref(o);
}
