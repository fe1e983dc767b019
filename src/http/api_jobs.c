/*
 * api_jobs.c - jobs for admins: enqueue (one or a batch), list with a
 * cursor, show, cancel, retry.
 *
 * Enqueue validates every field of every item before anything is stored
 * and then hands the whole batch to queue_enqueue, which stores it in one
 * transaction: a batch is all or nothing.  A single job whose unique_key
 * already exists answers 200 with the stored job instead of 201.
 *
 * Listing is newest first; next_cursor is the last id returned (as a
 * string) when more jobs match, and the next page asks for ids below it;
 * one extra row is fetched to know that.
 */
#include "http/api.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/json.h"
#include "core/xmem.h"
#include "http/body.h"
#include "queue/queue.h"

#define LIST_DEFAULT 50

/* See api.h. */
bool api_job_read(const body_in *in, fs_job *j)
{
    const char *type = NULL, *target = NULL, *ukey = NULL;
    json_t *payload = NULL;
    int64_t prio = 0, run_at = 0, max_att = 0, timeout = 0, parent = 0;
    if (!body_str(in, "type", BODY_REQUIRED, QUEUE_MAX_NAME, &type) ||
        !body_str(in, "target_agent", BODY_REQUIRED, QUEUE_MAX_NAME,
                  &target) ||
        !body_obj(in, "payload", 0, &payload) ||
        !body_int(in, "priority", 0, -QUEUE_MAX_PRIORITY, QUEUE_MAX_PRIORITY,
                  &prio) ||
        !body_time(in, "run_at", 0, &run_at) ||
        !body_int(in, "max_attempts", 0, 1, QUEUE_MAX_ATTEMPTS, &max_att) ||
        !body_str(in, "unique_key", 0, QUEUE_MAX_NAME, &ukey) ||
        !body_int(in, "timeout_ms", 0, 1, QUEUE_MAX_LEASE_MS, &timeout) ||
        !body_int(in, "parent_id", 0, 1, INT64_MAX, &parent))
        return false;
    memset(j, 0, sizeof *j);
    j->type = xstrdup(type);
    j->target_agent = xstrdup(target);
    j->payload = payload ? fs_json_dump(payload, 0) : NULL;
    j->priority = (int)prio;
    j->run_at = run_at;
    j->max_attempts = (int)max_att;
    j->unique_key = xstrdup(ukey);
    j->timeout_ms = timeout;
    j->parent_id = parent;
    return true;
}

/*
 * Reads the jobs of a request: {"jobs":[…]} (batch) or one job object.
 * OUT: *jobs and *n (fs_jobs_free), *batch.  false after a 400.
 * Pure (no store): fuzz/fuzz_body.c drives it.
 */
bool api_jobs_read(json_t *o, http_resp *resp, fs_job **jobs, size_t *n,
                   bool *batch)
{
    body_in top = { o, "", resp };
    json_t *arr = NULL;
    *jobs = NULL;
    *n = 0;
    *batch = json_object_get(o, "jobs") != NULL;
    if (!*batch) {
        *jobs = xcalloc(1, sizeof **jobs);
        *n = 1;
        return api_job_read(&top, &(*jobs)[0]);
    }
    if (!body_array(&top, "jobs", BODY_REQUIRED, 1, QUEUE_MAX_BATCH, &arr))
        return false;
    size_t count = json_array_size(arr);
    *jobs = xcalloc(count, sizeof **jobs);
    *n = 0;
    for (size_t i = 0; i < count; i++) {
        char where[32], item[32];
        snprintf(where, sizeof where, "jobs[%zu].", i);
        json_t *jo = json_array_get(arr, i);
        if (!json_is_object(jo)) {
            snprintf(item, sizeof item, "jobs[%zu]", i);
            body_field_error(&top, "invalid_field", item,
                             "must be a JSON object");
            return false;
        }
        body_in in = { jo, where, resp };
        if (!api_job_read(&in, &(*jobs)[i])) return false;
        (*n)++;
    }
    return true;
}

void api_job_enqueue(http_req *req, http_resp *resp)
{
    json_t *o = body_parse(req->body, req->body_len, false, resp);
    if (!o) return;
    fs_job *jobs = NULL;
    size_t n = 0;
    bool batch = false, *existed = NULL;
    if (!api_jobs_read(o, resp, &jobs, &n, &batch)) goto out;
    existed = xcalloc(n, sizeof *existed);
    int rc = queue_enqueue(req->app->q, jobs, n, existed);
    if (rc) {
        http_resp_fail(resp, req, rc, "enqueue");
        goto out;
    }
    if (!batch) {
        http_resp_json(resp, existed[0] ? 200 : 201,
                       api_job_json(&jobs[0], false));
        goto out;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, api_job_json(&jobs[i], false));
    http_resp_json(resp, 201, json_pack("{s:o}", "jobs", arr));
out:
    free(existed);
    fs_jobs_free(jobs, n);
    json_decref(o);
}

/* A string query parameter of at most QUEUE_MAX_NAME bytes (or absent). */
static bool query_name(http_req *req, http_resp *resp, const char *name,
                       const char **out)
{
    const char *v = http_query(req, name);
    if (v && (!*v || strlen(v) > QUEUE_MAX_NAME)) {
        json_t *err = http_resp_error(resp, 400, "invalid_field",
                                      "query parameter '%s' must be a "
                                      "non-empty string of at most %d bytes",
                                      name, QUEUE_MAX_NAME);
        json_object_set_new(err, "field", json_string(name));
        return false;
    }
    *out = v;
    return true;
}

/* Builds a list filter from the query string.  false after a 400. */
static bool list_filter(http_req *req, http_resp *resp, store_job_filter *f)
{
    int64_t limit = LIST_DEFAULT, cursor = 0, parent = 0;
    const char *state = http_query(req, "state");
    job_state st;
    *f = (store_job_filter){ .state = -1 };
    if (state && !job_state_parse(state, &st)) {
        json_t *err = http_resp_error(
            resp, 400, "invalid_field",
            "query parameter 'state' must be one of pending, scheduled, "
            "running, completed, failed, cancelled");
        json_object_set_new(err, "field", json_string("state"));
        return false;
    }
    if (state) f->state = (int)st;
    if (!query_name(req, resp, "type", &f->type) ||
        !query_name(req, resp, "target_agent", &f->target_agent) ||
        !body_query_int(resp, "parent_id", http_query(req, "parent_id"), 1,
                        INT64_MAX, &parent) ||
        !body_query_int(resp, "limit", http_query(req, "limit"), 1,
                        QUEUE_MAX_BATCH, &limit) ||
        !body_query_int(resp, "cursor", http_query(req, "cursor"), 1,
                        INT64_MAX, &cursor))
        return false;
    f->parent_id = parent;
    f->before_id = cursor;
    f->limit = (int)limit;
    return true;
}

void api_job_list(http_req *req, http_resp *resp)
{
    store_job_filter f;
    fs_job *jobs = NULL;
    size_t n = 0;
    if (!list_filter(req, resp, &f)) return;
    int limit = f.limit;
    f.limit = limit + 1; /* one more row tells whether a next page exists */
    int rc = queue_list(req->app->q, &f, &jobs, &n);
    if (rc) {
        http_resp_fail(resp, req, rc, "list jobs");
        return;
    }
    json_t *arr = json_array(), *next = json_null();
    size_t shown = n > (size_t)limit ? (size_t)limit : n;
    for (size_t i = 0; i < shown; i++)
        json_array_append_new(arr, api_job_json(&jobs[i], false));
    if (n > shown) {
        char buf[24];
        snprintf(buf, sizeof buf, "%lld", (long long)jobs[shown - 1].id);
        json_decref(next);
        next = json_string(buf);
    }
    fs_jobs_free(jobs, n);
    http_resp_json(resp, 200,
                   json_pack("{s:o,s:o}", "jobs", arr, "next_cursor", next));
}

/* Runs one by-id action and answers with the job or the mapped error. */
static void job_action(http_req *req, http_resp *resp,
                       int (*fn)(queue *, int64_t, fs_job *), const char *what)
{
    int64_t id;
    fs_job j = { 0 };
    if (!api_job_id(req, resp, &id)) return;
    int rc = fn(req->app->q, id, &j);
    if (rc == FS_ENOTFOUND) {
        http_resp_error(resp, 404, "not_found", "no such job");
    } else if (rc == FS_ESTATE) {
        fs_job cur = { 0 };
        bool known = queue_get(req->app->q, id, &cur) == 0;
        json_t *err = http_resp_error(resp, 409, "invalid_state",
                                      "cannot %s a job that is %s", what,
                                      known ? job_state_name(cur.state)
                                            : "in this state");
        if (known)
            json_object_set_new(err, "state",
                                json_string(job_state_name(cur.state)));
        fs_job_clear(&cur);
    } else if (rc) {
        http_resp_fail(resp, req, rc, "%s job", what);
    } else {
        http_resp_json(resp, 200, api_job_json(&j, false));
    }
    fs_job_clear(&j);
}

void api_job_get(http_req *req, http_resp *resp)
{
    job_action(req, resp, queue_get, "get");
}

void api_job_cancel(http_req *req, http_resp *resp)
{
    job_action(req, resp, queue_cancel, "cancel");
}

void api_job_retry(http_req *req, http_resp *resp)
{
    job_action(req, resp, queue_retry, "retry");
}
