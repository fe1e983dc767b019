/*
 * host_http.c - the agent host behind the HTTP API, for agents in their own
 * process (`flowstate worker --url`): the same operations as host_local,
 * as requests to a Flowstate server.
 *
 * Registration uses the admin key; every later call uses the agent's own
 * token, so the server holds the agent to its own jobs and state.  A host
 * therefore serves one agent: a second registration is FS_ESTATE.  Each
 * call opens its own connection (worker threads and the keeper call at
 * once, and a client handle is single-threaded).  HTTP answers map back
 * to FS_E* codes: 404 -> FS_ENOTFOUND, 409 lease_lost -> FS_ELEASE, 409
 * conflict -> FS_ECONFLICT, 409 otherwise -> FS_ESTATE, 400 -> FS_EINVAL,
 * 401 -> FS_EAUTH, 403 -> FS_EFORBIDDEN, 429 -> FS_ELIMIT, 503 ->
 * FS_EBUSY, anything else or no answer -> FS_EIO.
 */
#include "agents/host_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "core/clock.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/xmem.h"

typedef struct http_host {
    agent_host base;
    char *url, *admin_key, *admin_key_file;
    char *agent_id, *token;
} http_host;

static http_host *H(agent_host *h) { return (http_host *)h; }

static int status_rc(long status, const json_t *body)
{
    const char *code = json_string_value(
        json_object_get(json_object_get(body, "error"), "code"));
    if (status >= 200 && status < 300) return 0;
    switch (status) {
    case 400: return FS_EINVAL;
    case 401: return FS_EAUTH;
    case 403: return FS_EFORBIDDEN;
    case 404: return FS_ENOTFOUND;
    case 409: return code && !strcmp(code, "lease_lost") ? FS_ELEASE
                     : code && !strcmp(code, "conflict") ? FS_ECONFLICT
                                                          : FS_ESTATE;
    case 429: return FS_ELIMIT;
    case 503: return FS_EBUSY;
    default: return FS_EIO;
    }
}

/* One request (body stolen); as the admin or as the agent.  OUT: *out
 * (may be NULL), the JSON answer of a 2xx. */
static int call(http_host *h, bool admin, const char *method, const char *path,
                json_t *body, json_t **out)
{
    client_opts o = { .url = h->url, .timeout_ms = 65000 };
    if (admin) {
        o.key = h->admin_key;
        o.key_file = h->admin_key_file;
    } else {
        o.key = h->token;
    }
    client *c = NULL;
    client_resp r = { 0 };
    int rc = client_open(&c, &o) ? FS_EINVAL : 0;
    if (!rc) rc = client_request(c, method, path, body, &r) ? FS_EIO : 0;
    if (!rc) rc = status_rc(r.status, r.json);
    if (!rc && out) *out = json_incref(r.json ? r.json : json_null());
    client_resp_clear(&r);
    if (c) client_close(c);
    json_decref(body);
    return rc;
}

static int reg_agent(agent_host *h, const char *name, const char *type,
                     const char *const *job_types, char **agent_id)
{
    if (H(h)->token) return FS_ESTATE; /* one agent per host: one token */
    json_t *types = json_array(), *got = NULL;
    for (size_t i = 0; job_types[i]; i++)
        json_array_append_new(types, json_string(job_types[i]));
    int rc = call(H(h), true, "POST", "/v1/agents",
                  json_pack("{s:s,s:s,s:o}", "name", name, "type", type,
                            "job_types", types), &got);
    const char *id = json_string_value(json_object_get(got, "id"));
    const char *token = json_string_value(json_object_get(got, "token"));
    if (!rc && (!id || !token)) rc = FS_EIO;
    if (!rc) {
        H(h)->agent_id = xstrdup(id);
        H(h)->token = xstrdup(token);
        *agent_id = xstrdup(id);
    }
    json_decref(got);
    return rc;
}

static int agent_beat(agent_host *h, const char *agent_id)
{
    char path[160];
    snprintf(path, sizeof path, "/v1/agents/%s/heartbeat", agent_id);
    return call(H(h), false, "POST", path, NULL, NULL);
}

/* A leased job from its JSON (what the runtime needs of it). */
static void job_from(const json_t *o, fs_job *j)
{
    const char *s;
    *j = (fs_job){ .id = json_integer_value(json_object_get(o, "id")),
                   .attempts = (int)json_integer_value(json_object_get(o, "attempts")),
                   .max_attempts = (int)json_integer_value(json_object_get(o, "max_attempts")),
                   .timeout_ms = json_integer_value(json_object_get(o, "timeout_ms")),
                   .parent_id = json_integer_value(json_object_get(o, "parent_id")),
                   .state = JOB_RUNNING };
    if ((s = json_string_value(json_object_get(o, "type")))) j->type = xstrdup(s);
    if ((s = json_string_value(json_object_get(o, "target_agent")))) j->target_agent = xstrdup(s);
    if ((s = json_string_value(json_object_get(o, "lease_token")))) j->lease_token = xstrdup(s);
    j->payload = fs_json_dump(json_object_get(o, "payload"), JSON_ENCODE_ANY);
}

static int lease(agent_host *h, const char *agent_id, const char *type,
                 const char *const *job_types, int64_t lease_ms, int64_t wait_ms,
                 fs_job **jobs, size_t *n)
{
    (void)type;
    json_t *types = json_array(), *got = NULL;
    for (size_t i = 0; job_types[i]; i++)
        json_array_append_new(types, json_string(job_types[i]));
    json_t *body = json_pack("{s:s,s:o,s:i,s:I}", "agent_id", agent_id, "types",
                             types, "max", 1, "wait_ms", (json_int_t)wait_ms);
    if (lease_ms) json_object_set_new(body, "lease_seconds",
                                      json_integer((lease_ms + 999) / 1000));
    int rc = call(H(h), false, "POST", "/v1/jobs/lease", body, &got);
    json_t *list = json_object_get(got, "jobs");
    *n = rc ? 0 : json_array_size(list);
    *jobs = xcalloc(*n ? *n : 1, sizeof **jobs);
    for (size_t i = 0; i < *n; i++) job_from(json_array_get(list, i), &(*jobs)[i]);
    json_decref(got);
    return rc;
}

static int job_beat(agent_host *h, int64_t id, const char *token, int64_t lease_ms)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/jobs/%lld/heartbeat", (long long)id);
    json_t *body = json_pack("{s:s}", "lease_token", token);
    if (lease_ms) json_object_set_new(body, "lease_seconds",
                                      json_integer((lease_ms + 999) / 1000));
    return call(H(h), false, "POST", path, body, NULL);
}

static int complete(agent_host *h, int64_t id, const char *token,
                    const char *result)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/jobs/%lld/complete", (long long)id);
    json_t *r = result ? json_loads(result, JSON_DECODE_ANY, NULL) : NULL;
    return call(H(h), false, "POST", path,
                json_pack("{s:s,s:o}", "lease_token", token, "result",
                          r ? r : json_null()), NULL);
}

static int fail(agent_host *h, int64_t id, const char *token, const char *error,
                bool retry)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/jobs/%lld/fail", (long long)id);
    return call(H(h), false, "POST", path,
                json_pack("{s:s,s:s,s:b}", "lease_token", token, "error", error,
                          "retry", retry), NULL);
}

static int job_create(agent_host *h, fs_job *job)
{
    json_t *payload = json_loads(job->payload ? job->payload : "{}", 0, NULL), *got = NULL;
    json_t *body = json_pack("{s:s,s:s,s:o}", "type", job->type, "target_agent",
                             job->target_agent, "payload",
                             payload ? payload : json_object());
    if (job->parent_id) json_object_set_new(body, "parent_id", json_integer(job->parent_id));
    int rc = call(H(h), false, "POST", "/v1/jobs", body, &got);
    if (!rc) job->id = json_integer_value(json_object_get(got, "id"));
    json_decref(got);
    return rc;
}

static int mem_add(agent_host *h, const char *agent_id, const char *kind,
                   const char *content, const char *metadata, int64_t *id)
{
    json_t *meta = json_loads(metadata ? metadata : "{}", 0, NULL), *got = NULL;
    json_t *body = json_pack("{s:s,s:s,s:o}", "content", content, "agent", agent_id,
                             "metadata", meta ? meta : json_object());
    if (kind) json_object_set_new(body, "kind", json_string(kind));
    int rc = call(H(h), false, "POST", "/v1/memory", body, &got);
    if (!rc) *id = json_integer_value(json_object_get(got, "id"));
    json_decref(got);
    return rc;
}

static int mem_search(agent_host *h, const char *query, size_t limit,
                      json_t **results)
{
    json_t *got = NULL;
    int rc = call(H(h), false, "POST", "/v1/search/semantic",
                  json_pack("{s:s,s:I}", "query", query, "limit", (json_int_t)limit),
                  &got);
    if (!rc) *results = json_incref(json_object_get(got, "results"));
    json_decref(got);
    return rc;
}

static int state_get(agent_host *h, const char *agent_id, json_t **state,
                     int64_t *version)
{
    char path[160];
    json_t *got = NULL;
    snprintf(path, sizeof path, "/v1/agents/%s/state", agent_id);
    int rc = call(H(h), false, "GET", path, NULL, &got);
    if (rc == FS_ENOTFOUND) {
        *state = json_object();
        *version = 0;
        return 0;
    }
    if (!rc) {
        *state = json_incref(json_object_get(got, "state"));
        *version = json_integer_value(json_object_get(got, "version"));
        if (!*state) *state = json_object();
    }
    json_decref(got);
    return rc;
}

static int state_put(agent_host *h, const char *agent_id, const json_t *state,
                     int64_t expected_version, int64_t *version)
{
    char path[160];
    json_t *got = NULL;
    snprintf(path, sizeof path, "/v1/agents/%s/state", agent_id);
    json_t *body = json_pack("{s:O}", "state", state);
    if (expected_version >= 0)
        json_object_set_new(body, "expected_version", json_integer(expected_version));
    int rc = call(H(h), false, "PUT", path, body, &got);
    if (!rc && version) *version = json_integer_value(json_object_get(got, "version"));
    json_decref(got);
    return rc;
}

/* The calls below read or start what is not the agent's own: they go
 * with the admin key the worker was given. */
static int job_get(agent_host *h, int64_t id, fs_job *out)
{
    char path[64];
    json_t *got = NULL;
    snprintf(path, sizeof path, "/v1/jobs/%lld", (long long)id);
    int rc = call(H(h), true, "GET", path, NULL, &got);
    if (!rc) {
        const char *st = json_string_value(json_object_get(got, "state"));
        const char *err = json_string_value(json_object_get(got, "last_error"));
        job_from(got, out);
        free(out->lease_token);
        out->lease_token = NULL;
        if (!st || !job_state_parse(st, &out->state)) out->state = JOB_PENDING;
        json_t *res = json_object_get(got, "result");
        out->result = res && !json_is_null(res) ? fs_json_dump(res, JSON_ENCODE_ANY) : NULL;
        out->last_error = err ? xstrdup(err) : NULL;
    }
    json_decref(got);
    return rc;
}

static int workflows(agent_host *h, json_t **list)
{
    json_t *got = NULL;
    int rc = call(H(h), true, "GET", "/v1/workflows", NULL, &got);
    if (!rc) *list = json_incref(json_object_get(got, "workflows"));
    json_decref(got);
    return rc;
}

static int run_start(agent_host *h, const char *workflow, const json_t *inputs,
                     int64_t *run_id)
{
    char *name = client_escape(workflow), *path = xasprintf("/v1/workflows/%s/runs", name);
    json_t *got = NULL;
    int rc = call(H(h), true, "POST", path,
                  json_pack("{s:O}", "inputs", inputs ? inputs : json_object()), &got);
    if (!rc) *run_id = json_integer_value(json_object_get(got, "id"));
    json_decref(got);
    free(path);
    free(name);
    return rc;
}

static int agents(agent_host *h, json_t **list)
{
    json_t *got = NULL;
    int rc = call(H(h), true, "GET", "/v1/agents", NULL, &got);
    if (!rc) *list = json_incref(json_object_get(got, "agents"));
    json_decref(got);
    return rc;
}

static int report(agent_host *h, json_t **out)
{
    return call(H(h), true, "GET", "/v1/system/report", NULL, out);
}

static int recall_check(agent_host *h, size_t samples, int ef, double *recall)
{
    json_t *got = NULL;
    int rc = call(H(h), true, "POST", "/v1/memory/index/check",
                  json_pack("{s:I,s:i}", "samples", (json_int_t)samples, "ef", ef), &got);
    if (!rc) *recall = json_number_value(json_object_get(got, "recall"));
    json_decref(got);
    return rc;
}

/* The evolution log, with the agent's token: the server signs what it
 * does with the agent's name. */
static int evo_propose(agent_host *h, const json_t *proposal, json_t **out)
{
    return call(H(h), false, "POST", "/v1/evolution", json_deep_copy(proposal), out);
}

static int evo_step(agent_host *h, int64_t id, const char *step,
                    const json_t *body, json_t **out)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/evolution/%lld/%s", (long long)id, step);
    return call(H(h), false, "POST", path, body ? json_deep_copy(body) : json_object(),
                out);
}

static int evo_list(agent_host *h, const char *status, const char *component,
                    json_t **out)
{
    char *c = component ? client_escape(component) : NULL;
    char *path = xasprintf("/v1/evolution?limit=1000%s%s%s%s", status ? "&status=" : "",
                           status ? status : "", c ? "&component=" : "", c ? c : "");
    json_t *got = NULL;
    int rc = call(H(h), false, "GET", path, NULL, &got);
    if (!rc) *out = json_incref(json_object_get(got, "events"));
    json_decref(got);
    free(path);
    free(c);
    return rc;
}

static int evo_settings(agent_host *h, json_t **out)
{
    json_t *got = NULL;
    int rc = call(H(h), false, "GET", "/v1/evolution/settings", NULL, &got);
    if (!rc) *out = json_incref(json_object_get(got, "settings"));
    json_decref(got);
    return rc;
}

static void close_host(agent_host *h)
{
    http_host *x = H(h);
    free(x->url);
    free(x->admin_key);
    free(x->admin_key_file);
    free(x->agent_id);
    if (x->token) memset(x->token, 0, strlen(x->token));
    free(x->token);
    free(x);
}

static const agent_host_ops http_ops = {
    reg_agent, agent_beat, lease, job_beat, complete, fail, job_create,
    mem_add, mem_search, state_get, state_put, job_get, workflows, run_start,
    agents, report, recall_check, evo_propose, evo_step, evo_list,
    evo_settings, close_host,
};

agent_host *host_http_open(const char *url, const char *admin_key,
                           const char *admin_key_file)
{
    http_host *h = xcalloc(1, sizeof *h);
    h->base.ops = &http_ops;
    h->url = url ? xstrdup(url) : NULL;
    h->admin_key = admin_key ? xstrdup(admin_key) : NULL;
    h->admin_key_file = admin_key_file ? xstrdup(admin_key_file) : NULL;
    return &h->base;
}
