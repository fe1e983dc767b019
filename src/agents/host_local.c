/*
 * host_local.c - the agent host inside the server's process: agents reach
 * the queue, the registry and the memory through the services directly,
 * with the same rules the HTTP API applies (jobs are validated by the
 * queue, documents by the memory service).
 */
#include "agents/host_local.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agents/sysreport.h"
#include "core/clock.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/xmem.h"

typedef struct local_host {
    agent_host base;
    queue *q;
    registry *reg;
    memory *mem;
    workflow *wf;
    evolution *evo;
} local_host;

static local_host *L(agent_host *h) { return (local_host *)h; }

static int reg_agent(agent_host *h, const char *name, const char *type,
                     const char *const *job_types, char **agent_id)
{
    json_t *types = json_array();
    for (size_t i = 0; job_types[i]; i++)
        json_array_append_new(types, json_string(job_types[i]));
    char *types_s = fs_json_dump(types, 0), *token = NULL;
    json_decref(types);
    fs_agent a = { 0 };
    int rc = registry_register(L(h)->reg, name, type, types_s, NULL, &a, &token);
    free(types_s);
    if (token) memset(token, 0, strlen(token)); /* in-process: not needed */
    free(token);
    if (!rc) *agent_id = xstrdup(a.id);
    fs_agent_clear(&a);
    return rc;
}

static int agent_beat(agent_host *h, const char *agent_id)
{
    return registry_heartbeat(L(h)->reg, agent_id);
}

static int lease(agent_host *h, const char *agent_id, const char *type,
                 const char *const *job_types, int64_t lease_ms, int64_t wait_ms,
                 fs_job **jobs, size_t *n)
{
    size_t nt = 0;
    while (job_types[nt]) nt++;
    queue_lease_req r = { .agent_id = agent_id, .agent_type = type,
                          .types = job_types, .ntypes = nt, .max = 1,
                          .lease_ms = lease_ms, .wait_ms = wait_ms };
    return queue_lease(L(h)->q, &r, jobs, n);
}

static int job_beat(agent_host *h, int64_t id, const char *token, int64_t lease_ms)
{
    return queue_heartbeat(L(h)->q, id, token, lease_ms, NULL);
}

static int complete(agent_host *h, int64_t id, const char *token,
                    const char *result)
{
    store_completion c = { id, token, result };
    int rc = queue_complete(L(h)->q, &c, 1);
    return rc ? rc : c.rc;
}

static int fail(agent_host *h, int64_t id, const char *token, const char *error,
                bool retry)
{
    return queue_fail(L(h)->q, id, token, error, retry, NULL);
}

static int job_create(agent_host *h, fs_job *job)
{
    return queue_enqueue(L(h)->q, job, 1, NULL);
}

static int mem_add(agent_host *h, const char *agent_id, const char *kind,
                   const char *content, const char *metadata, int64_t *id)
{
    if (!L(h)->mem) return FS_EINVAL;
    fs_doc d = { .agent = (char *)agent_id, .kind = (char *)kind,
                 .content = (char *)content,
                 .metadata = (char *)(metadata ? metadata : "{}"),
                 .tags = "[]", .importance = 0.5, .parent_ref = -1,
                 .chunk_index = -1 };
    int rc = memory_add(L(h)->mem, &d, 1, NULL);
    if (!rc) *id = d.id;
    return rc;
}

static int mem_search(agent_host *h, const char *query, size_t limit,
                      json_t **results)
{
    if (!L(h)->mem) return FS_EINVAL;
    memory_query mq = { .text = query, .limit = limit, .threshold = -INFINITY };
    memory_hit *hits;
    size_t n;
    int rc = memory_search(L(h)->mem, &mq, &hits, &n, NULL);
    if (rc) return rc;
    *results = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *meta = json_loads(hits[i].doc.metadata ? hits[i].doc.metadata : "{}", 0, NULL);
        json_array_append_new(*results, json_pack("{s:I,s:f,s:s,s:o}",
                              "id", (json_int_t)hits[i].doc.id, "score", hits[i].score,
                              "content", hits[i].doc.content ? hits[i].doc.content : "",
                              "metadata", meta ? meta : json_object()));
    }
    memory_hits_free(hits, n);
    return 0;
}

static int state_get(agent_host *h, const char *agent_id, json_t **state,
                     int64_t *version)
{
    fs_agent_state s = { 0 };
    int rc = registry_state_get(L(h)->reg, agent_id, 0, &s);
    if (rc == FS_ENOTFOUND) {
        *state = json_object();
        *version = 0;
        return 0;
    }
    if (rc) return rc;
    *state = json_loads(s.state, 0, NULL);
    *version = s.version;
    fs_agent_state_clear(&s);
    return *state ? 0 : FS_ECORRUPT;
}

static int state_put(agent_host *h, const char *agent_id, const json_t *state,
                     int64_t expected_version, int64_t *version)
{
    char *text = fs_json_dump(state, 0);
    fs_agent_state s = { 0 };
    int rc = text ? registry_state_put(L(h)->reg, agent_id, text, expected_version, &s)
                  : FS_EINVAL;
    free(text);
    if (!rc && version) *version = s.version;
    fs_agent_state_clear(&s);
    return rc;
}

static int job_get(agent_host *h, int64_t id, fs_job *out)
{
    return queue_get(L(h)->q, id, out);
}

static int workflows(agent_host *h, json_t **list)
{
    fs_workflow *w;
    size_t n;
    if (!L(h)->wf) return FS_EINVAL;
    int rc = workflow_list(L(h)->wf, &w, &n);
    if (rc) return rc;
    *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(*list, json_pack("{s:s,s:i,s:s}", "name", w[i].name,
                              "version", w[i].version, "description",
                              w[i].description ? w[i].description : ""));
    fs_workflows_free(w, n);
    return 0;
}

static int run_start(agent_host *h, const char *name, const json_t *inputs,
                     int64_t *run_id)
{
    fs_run r;
    char err[256];
    if (!L(h)->wf) return FS_EINVAL;
    int rc = workflow_start(L(h)->wf, name, 0, inputs, &r, err, sizeof err);
    if (rc) return rc;
    *run_id = r.id;
    fs_run_clear(&r);
    return 0;
}

static int agents(agent_host *h, json_t **list)
{
    fs_agent *a;
    size_t n;
    int rc = registry_list(L(h)->reg, &a, &n);
    if (rc) return rc;
    *list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *types = json_loads(a[i].job_types ? a[i].job_types : "[]", 0, NULL);
        json_array_append_new(*list, json_pack("{s:s,s:s,s:o,s:s}", "id", a[i].id,
                              "type", a[i].type, "job_types",
                              types ? types : json_array(), "status",
                              registry_status(L(h)->reg, &a[i])));
    }
    fs_agents_free(a, n);
    return 0;
}

static int report(agent_host *h, json_t **out)
{
    return sysreport_build(L(h)->q, L(h)->reg, L(h)->wf, L(h)->mem,
                           fs_now(&fs_clock_real), out);
}

static int recall_check(agent_host *h, size_t samples, int ef, double *recall)
{
    if (!L(h)->mem) return FS_EINVAL;
    return memory_recall_check(L(h)->mem, samples, ef, recall);
}

/* An evolution error: logged with its reason, returned. */
static int evo_rc(int rc, const evolution_err *err)
{
    if (rc) log_warn("evolution: %s%s%s", err->field, *err->field ? " " : "", err->msg);
    return rc;
}

static int evo_propose(agent_host *h, const json_t *proposal, json_t **out)
{
    evolution_err err = { 0 };
    if (!L(h)->evo) return FS_EINVAL;
    return evo_rc(evolution_propose(L(h)->evo, proposal, out, &err), &err);
}

static double num(const json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

static int evo_step(agent_host *h, int64_t id, const char *step,
                    const json_t *body, json_t **out)
{
    evolution *ev = L(h)->evo;
    evolution_err err = { 0 };
    int rc = FS_EINVAL;
    if (!ev) return FS_EINVAL;
    if (!strcmp(step, "validate"))
        rc = evolution_validate(ev, id, body, out, &err);
    else if (!strcmp(step, "observe"))
        rc = evolution_observe(ev, id, num(body, "sum"), num(body, "count"), out,
                               &err);
    else if (!strcmp(step, "check"))
        rc = evolution_check(ev, id, "monitoring", out, &err);
    return evo_rc(rc, &err);
}

static int evo_list(agent_host *h, const char *status, const char *component,
                    json_t **out)
{
    store_evolution_filter f = { .status = status, .component = component,
                                 .limit = 1000 };
    int64_t next;
    if (!L(h)->evo) return FS_EINVAL;
    return evolution_list(L(h)->evo, &f, out, &next);
}

static int evo_settings(agent_host *h, json_t **out)
{
    if (!L(h)->evo) return FS_EINVAL;
    return evolution_settings(L(h)->evo, out);
}

static void close_host(agent_host *h) { free(h); }

static const agent_host_ops local_ops = {
    reg_agent, agent_beat, lease, job_beat, complete, fail, job_create,
    mem_add, mem_search, state_get, state_put, job_get, workflows, run_start,
    agents, report, recall_check, evo_propose, evo_step, evo_list,
    evo_settings, close_host,
};

agent_host *host_local_open(queue *q, registry *reg, memory *mem, workflow *wf,
                            evolution *evo)
{
    local_host *h = xcalloc(1, sizeof *h);
    *h = (local_host){ { &local_ops }, q, reg, mem, wf, evo };
    return &h->base;
}
