/*
 * api_workflows.c - workflow definitions and runs over HTTP.
 *
 *   POST /v1/workflows                 register a definition -> 201, or 400
 *                                      {"error":{"code":"invalid_workflow",
 *                                      "message","problems":[...]}}, 409 when
 *                                      that name and version hold another
 *   POST /v1/workflows/validate        {"valid":bool,"problems":[...]}
 *   GET  /v1/workflows                 the latest version of each
 *   GET  /v1/workflows/{name}          a definition (?version=N)
 *   POST /v1/workflows/{name}/runs     {"inputs":{...},"version":N} -> 201 run
 *   GET  /v1/runs                      ?workflow=&state=&limit=&cursor=
 *   GET  /v1/runs/{id}                 state, and each step's state,
 *                                      attempts, output, error, items
 *   GET  /v1/runs/{id}/events          ?after=SEQ&limit=N, oldest first
 *   POST /v1/runs/{id}/cancel|retry
 *
 * Validation warnings (an agent type nobody has registered) come back in
 * "warnings" of the 201 answer; they never refuse a definition.
 */
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/xmem.h"
#include "http/api.h"
#include "http/body.h"
#include "serve/app.h"
#include "workflow/wfdef.h"
#include "workflow/workflow.h"

#define RUNS_DEFAULT 50
#define RUNS_MAX 1000
#define EVENTS_DEFAULT 1000
#define EVENTS_MAX 10000

/* The agent types registered, NULL-terminated, or NULL when none. */
static const char **known_agents(registry *reg)
{
    fs_agent *a;
    size_t n;
    if (registry_list(reg, &a, &n) || n == 0) return NULL;
    const char **types = xcalloc(n + 1, sizeof *types);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t j = 0; j < k && !seen; j++) seen = !strcmp(types[j], a[i].type);
        if (!seen) types[k++] = xstrdup(a[i].type);
    }
    fs_agents_free(a, n);
    return types;
}

static void known_free(const char **types)
{
    for (size_t i = 0; types && types[i]; i++) free((char *)types[i]);
    free(types);
}

/* Splits problems into errors and warnings.  New references. */
static void split_problems(json_t *problems, json_t **errors, json_t **warnings)
{
    *errors = json_array();
    *warnings = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(problems, i, p) {
        const char *sev = json_string_value(json_object_get(p, "severity"));
        json_array_append(sev && !strcmp(sev, "warning") ? *warnings : *errors, p);
    }
}

static void invalid(http_resp *resp, json_t *problems)
{
    json_t *errors, *warnings;
    split_problems(problems, &errors, &warnings);
    json_t *first = json_array_get(errors, 0);
    const char *msg = json_string_value(json_object_get(first, "message"));
    size_t n = json_array_size(errors);
    json_t *err = http_resp_error(resp, 400, "invalid_workflow",
                                  "%s%s", msg ? msg : "invalid workflow",
                                  n > 1 ? " (and more: see problems)" : "");
    json_object_set_new(err, "problems", problems);
    json_decref(errors);
    json_decref(warnings);
}

static json_t *workflow_json(const fs_workflow *w, bool with_definition)
{
    json_t *j = json_pack("{s:s,s:i,s:o,s:o}", "name", w->name, "version",
                          w->version, "description",
                          w->description ? json_string(w->description) : json_null(),
                          "created_at", api_time(w->created_at));
    if (with_definition)
        json_object_set_new(j, "definition", api_json_text(w->definition));
    return j;
}

void api_workflow_register(http_req *req, http_resp *resp)
{
    json_t *o = body_parse(req->body, req->body_len, false, resp);
    if (!o) return;
    const char **known = known_agents(req->app->reg);
    json_t *problems = NULL;
    fs_workflow w = { 0 };
    int rc = workflow_register(req->app->wf, o, known, &w, &problems);
    if (rc == FS_EINVAL) {
        invalid(resp, problems);
        problems = NULL;
    } else if (rc == FS_ECONFLICT) {
        json_t *v = json_object_get(o, "version");
        http_resp_error(resp, 409, "conflict",
                        "workflow %s version %lld holds another definition; "
                        "register it under a new version",
                        json_string_value(json_object_get(o, "name")),
                        v ? (long long)json_integer_value(v) : 1LL);
    } else if (rc) {
        http_resp_fail(resp, req, rc, "register workflow");
    } else {
        json_t *j = workflow_json(&w, false), *errors, *warnings;
        split_problems(problems, &errors, &warnings);
        json_object_set_new(j, "warnings", warnings);
        json_decref(errors);
        char *loc = xasprintf("/v1/workflows/%s", w.name);
        http_resp_header(resp, "Location", loc);
        free(loc);
        http_resp_json(resp, 201, j);
    }
    json_decref(problems);
    fs_workflow_clear(&w);
    known_free(known);
    json_decref(o);
}

void api_workflow_validate(http_req *req, http_resp *resp)
{
    json_t *o = body_parse(req->body, req->body_len, false, resp);
    if (!o) return;
    const char **known = known_agents(req->app->reg);
    json_t *problems = NULL;
    int rc = workflow_validate(o, known, &problems);
    http_resp_json(resp, 200, json_pack("{s:b,s:o}", "valid", rc == 0,
                                        "problems", problems));
    known_free(known);
    json_decref(o);
}

void api_workflow_list(http_req *req, http_resp *resp)
{
    fs_workflow *list;
    size_t n;
    int rc = workflow_list(req->app->wf, &list, &n);
    if (rc) {
        http_resp_fail(resp, req, rc, "list workflows");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, workflow_json(&list[i], false));
    fs_workflows_free(list, n);
    http_resp_json(resp, 200, json_pack("{s:o}", "workflows", arr));
}

/* ?version=N (0 = the latest).  false after a 400. */
static bool query_version(http_req *req, http_resp *resp, int *version)
{
    int64_t v = 0;
    if (!body_query_int(resp, "version", http_query(req, "version"), 1,
                        INT32_MAX, &v))
        return false;
    *version = (int)v;
    return true;
}

void api_workflow_get(http_req *req, http_resp *resp)
{
    int version;
    fs_workflow w;
    if (!query_version(req, resp, &version)) return;
    int rc = workflow_get(req->app->wf, req->params[0], version, &w);
    if (rc == FS_ENOTFOUND) {
        http_resp_error(resp, 404, "not_found", "no such workflow");
        return;
    }
    if (rc) {
        http_resp_fail(resp, req, rc, "get workflow");
        return;
    }
    http_resp_json(resp, 200, workflow_json(&w, true));
    fs_workflow_clear(&w);
}

/* --- runs ----------------------------------------------------------------- */

static json_t *task_json(const fs_run_task *t)
{
    json_t *j = json_pack("{s:s,s:i,s:o,s:o,s:o,s:o}",
                          "state", task_state_name(t->state),
                          "attempts", t->attempts,
                          "output", api_json_text(t->output),
                          "error", t->error ? json_string(t->error) : json_null(),
                          "started_at", api_time(t->started_at),
                          "finished_at", api_time(t->finished_at));
    json_object_set_new(j, "job_id", t->job_id ? json_integer(t->job_id) : json_null());
    return j;
}

/* The steps of a run: one entry per definition step (a step never
 * scheduled has no stored task: pending), for_each items counted by state
 * (and listed with ?items=1).  t is ordered by (step, item). */
static json_t *steps_json(const wfdef *def, const fs_run_task *t, size_t n,
                          bool items)
{
    json_t *steps = json_array();
    size_t k = 0;
    for (int s = 0; s < (int)wfdef_nsteps(def); s++) {
        const wfdef_step *d = wfdef_step_at(def, s);
        while (k < n && t[k].step < s) k++;
        fs_run_task none = { .step = s, .item = -1, .items = -1 };
        const fs_run_task *m = k < n && t[k].step == s && t[k].item < 0 ? &t[k] : &none;
        json_t *j = task_json(m);
        json_object_set_new(j, "id", json_string(d->id));
        json_object_set_new(j, "agent", json_string(d->agent));
        json_object_set_new(j, "job_type", json_string(d->job_type));
        if (m->items >= 0) {
            json_t *counts = json_object(), *list = items ? json_array() : NULL;
            for (size_t i = k + 1; i < n && t[i].step == s; i++) {
                const char *name = task_state_name(t[i].state);
                json_object_set_new(counts, name, json_integer(
                    json_integer_value(json_object_get(counts, name)) + 1));
                if (list) json_array_append_new(list, task_json(&t[i]));
            }
            json_object_set_new(counts, "total", json_integer(m->items));
            json_object_set_new(j, "items", counts);
            if (list) json_object_set_new(j, "item_tasks", list);
        }
        json_array_append_new(steps, j);
    }
    return steps;
}

static json_t *run_json(const fs_run *r)
{
    return json_pack("{s:I,s:s,s:i,s:s,s:o,s:o,s:o,s:o,s:o,s:o}",
                     "id", (json_int_t)r->id, "workflow", r->workflow,
                     "version", r->version, "state", run_state_name(r->state),
                     "inputs", api_json_text(r->inputs),
                     "error", r->error ? json_string(r->error) : json_null(),
                     "deadline", api_time(r->deadline),
                     "created_at", api_time(r->created_at),
                     "updated_at", api_time(r->updated_at),
                     "finished_at", api_time(r->finished_at));
}

void api_run_start(http_req *req, http_resp *resp)
{
    json_t *o = body_parse(req->body, req->body_len, true, resp), *inputs = NULL;
    if (!o) return;
    body_in in = { o, "", resp };
    int64_t version = 0;
    static const char *known[] = { "inputs", "version" };
    if (!body_only_fields(&in, known, 2) || !body_obj(&in, "inputs", 0, &inputs) ||
        !body_int(&in, "version", 0, 1, INT32_MAX, &version))
        goto out;
    fs_run run;
    char err[512] = "";
    int rc = workflow_start(req->app->wf, req->params[0], (int)version, inputs,
                            &run, err, sizeof err);
    if (rc == FS_ENOTFOUND) {
        http_resp_error(resp, 404, "not_found", "no such workflow");
    } else if (rc == FS_EINVAL) {
        json_t *e = http_resp_error(resp, 400, "invalid_field", "inputs: %s", err);
        json_object_set_new(e, "field", json_string("inputs"));
    } else if (rc) {
        http_resp_fail(resp, req, rc, "start run");
    } else {
        char *loc = xasprintf("/v1/runs/%lld", (long long)run.id);
        http_resp_header(resp, "Location", loc);
        free(loc);
        http_resp_json(resp, 201, run_json(&run));
        fs_run_clear(&run);
    }
out:
    json_decref(o);
}

/* Parses the {id} path parameter as a run id.  false after a 404. */
static bool run_id(http_req *req, http_resp *resp, int64_t *id)
{
    return api_path_id(req, resp, "run", id);
}

void api_run_get(http_req *req, http_resp *resp)
{
    int64_t id;
    fs_run r;
    fs_run_task *t = NULL;
    size_t n = 0;
    const wfdef *def;
    if (!run_id(req, resp, &id)) return;
    int rc = workflow_run_get(req->app->wf, id, &r, &t, &n);
    if (rc == FS_ENOTFOUND) {
        http_resp_error(resp, 404, "not_found", "no such run");
        return;
    }
    if (!rc && (rc = workflow_def(req->app->wf, r.workflow, r.version, &def)))
        fs_run_clear(&r);
    if (rc) {
        fs_run_tasks_free(t, n);
        http_resp_fail(resp, req, rc, "get run");
        return;
    }
    const char *items = http_query(req, "items");
    json_t *j = run_json(&r);
    json_object_set_new(j, "steps", steps_json(def, t, n, items && !strcmp(items, "1")));
    fs_run_clear(&r);
    fs_run_tasks_free(t, n);
    http_resp_json(resp, 200, j);
}

void api_run_list(http_req *req, http_resp *resp)
{
    int64_t limit = RUNS_DEFAULT, cursor = 0;
    const char *state = http_query(req, "state");
    run_state st;
    store_run_filter f = { .workflow = http_query(req, "workflow"), .state = -1 };
    if (state && !run_state_parse(state, &st)) {
        json_t *e = http_resp_error(resp, 400, "invalid_field",
                                    "query parameter 'state' must be one of "
                                    "running, completed, failed, cancelled");
        json_object_set_new(e, "field", json_string("state"));
        return;
    }
    if (!body_query_int(resp, "limit", http_query(req, "limit"), 1, RUNS_MAX, &limit) ||
        !body_query_int(resp, "cursor", http_query(req, "cursor"), 1, INT64_MAX, &cursor))
        return;
    if (state) f.state = (int)st;
    f.before_id = cursor;
    f.limit = (int)limit + 1;
    fs_run *runs;
    size_t n;
    int rc = workflow_runs(req->app->wf, &f, &runs, &n);
    if (rc) {
        http_resp_fail(resp, req, rc, "list runs");
        return;
    }
    size_t shown = n > (size_t)limit ? (size_t)limit : n;
    json_t *arr = json_array(), *next = json_null();
    for (size_t i = 0; i < shown; i++) json_array_append_new(arr, run_json(&runs[i]));
    if (n > shown) {
        json_decref(next);
        next = json_sprintf("%lld", (long long)runs[shown - 1].id);
    }
    fs_runs_free(runs, n);
    http_resp_json(resp, 200, json_pack("{s:o,s:o}", "runs", arr, "next_cursor", next));
}

void api_run_events(http_req *req, http_resp *resp)
{
    int64_t id, after = 0, limit = EVENTS_DEFAULT;
    if (!run_id(req, resp, &id) ||
        !body_query_int(resp, "after", http_query(req, "after"), 0, INT64_MAX, &after) ||
        !body_query_int(resp, "limit", http_query(req, "limit"), 1, EVENTS_MAX, &limit))
        return;
    fs_run r;
    int rc = workflow_run_get(req->app->wf, id, &r, NULL, NULL);
    if (rc == FS_ENOTFOUND) {
        http_resp_error(resp, 404, "not_found", "no such run");
        return;
    }
    fs_run_clear(&r);
    fs_run_event *ev = NULL;
    size_t n = 0;
    if (!rc) rc = workflow_events(req->app->wf, id, after, (int)limit, &ev, &n);
    if (rc) {
        http_resp_fail(resp, req, rc, "run events");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_pack("{s:I,s:o,s:s,s:o}", "seq", (json_int_t)ev[i].seq,
                              "at", api_time(ev[i].at), "type", ev[i].type,
                              "step", ev[i].step ? json_string(ev[i].step) : json_null());
        if (ev[i].item >= 0) json_object_set_new(e, "item", json_integer(ev[i].item));
        if (ev[i].attempt) json_object_set_new(e, "attempt", json_integer(ev[i].attempt));
        if (ev[i].error) json_object_set_new(e, "error", json_string(ev[i].error));
        if (ev[i].data) {
            json_t *data = json_loads(ev[i].data, 0, NULL);
            json_object_update(e, data); /* copies: data is still ours */
            json_decref(data);
        }
        json_array_append_new(arr, e);
    }
    fs_run_events_free(ev, n);
    http_resp_json(resp, 200, json_pack("{s:o}", "events", arr));
}

static void run_action(http_req *req, http_resp *resp,
                       int (*fn)(workflow *, int64_t, fs_run *), const char *what)
{
    int64_t id;
    fs_run r;
    if (!run_id(req, resp, &id)) return;
    int rc = fn(req->app->wf, id, &r);
    if (rc == FS_ENOTFOUND) {
        http_resp_error(resp, 404, "not_found", "no such run");
    } else if (rc == FS_ESTATE) {
        fs_run cur;
        bool known = workflow_run_get(req->app->wf, id, &cur, NULL, NULL) == 0;
        json_t *e = http_resp_error(resp, 409, "invalid_state",
                                    "cannot %s a run that is %s", what,
                                    known ? run_state_name(cur.state) : "in this state");
        if (known) {
            json_object_set_new(e, "state", json_string(run_state_name(cur.state)));
            fs_run_clear(&cur);
        }
    } else if (rc) {
        http_resp_fail(resp, req, rc, "%s run", what);
    } else {
        http_resp_json(resp, 200, run_json(&r));
        fs_run_clear(&r);
    }
}

void api_run_cancel(http_req *req, http_resp *resp)
{
    run_action(req, resp, workflow_cancel, "cancel");
}

void api_run_retry(http_req *req, http_resp *resp)
{
    run_action(req, resp, workflow_retry, "retry");
}
