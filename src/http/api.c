/*
 * api.c - the route table and the JSON renderers the handlers share.
 *
 * Order in the table does not decide matches (server.c prefers the pattern
 * with more literal segments), but keeping the literal routes before the
 * {id} ones reads the way matching works.
 */
#include "http/api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

const http_route api_routes[] = {
    { "GET", "/v1/health", api_health, HTTP_PUBLIC },
    { "GET", "/metrics", api_metrics, 0 },
    { "GET", "/v1/queue/stats", api_queue_stats, 0 },
    { "GET", "/v1/system/report", api_system_report, 0 },

    { "POST", "/v1/agents", api_agent_create, 0 },
    { "GET", "/v1/agents", api_agent_list, 0 },
    { "GET", "/v1/agents/{id}", api_agent_get, HTTP_AGENT },
    { "POST", "/v1/agents/{id}/heartbeat", api_agent_heartbeat, HTTP_AGENT },
    { "GET", "/v1/agents/{id}/state", api_state_get, HTTP_AGENT },
    { "PUT", "/v1/agents/{id}/state", api_state_put, HTTP_AGENT },
    { "GET", "/v1/agents/{id}/state/versions", api_state_versions,
      HTTP_AGENT },

    { "POST", "/v1/jobs", api_job_enqueue, HTTP_AGENT }, /* agents delegate */
    { "GET", "/v1/jobs", api_job_list, 0 },
    { "POST", "/v1/jobs/lease", api_job_lease, HTTP_AGENT },
    { "POST", "/v1/jobs/complete", api_jobs_complete, HTTP_AGENT },
    { "GET", "/v1/jobs/{id}", api_job_get, 0 },
    { "POST", "/v1/jobs/{id}/cancel", api_job_cancel, 0 },
    { "POST", "/v1/jobs/{id}/retry", api_job_retry, 0 },
    { "POST", "/v1/jobs/{id}/heartbeat", api_job_heartbeat, HTTP_AGENT },
    { "POST", "/v1/jobs/{id}/complete", api_job_complete, HTTP_AGENT },
    { "POST", "/v1/jobs/{id}/fail", api_job_fail, HTTP_AGENT },

    { "POST", "/v1/memory", api_memory_add, HTTP_AGENT },
    { "GET", "/v1/memory", api_memory_list, HTTP_AGENT },
    { "GET", "/v1/memory/{id}", api_memory_get, HTTP_AGENT },
    { "DELETE", "/v1/memory/{id}", api_memory_delete, HTTP_AGENT },
    { "PATCH", "/v1/memory/{id}", api_memory_patch, HTTP_AGENT },
    { "POST", "/v1/memory/consolidate", api_memory_consolidate, 0 },
    { "POST", "/v1/memory/index/check", api_index_check, 0 },
    { "PUT", "/v1/memory/index/ef", api_index_ef, 0 },

    { "POST", "/v1/workflows", api_workflow_register, 0 },
    { "GET", "/v1/workflows", api_workflow_list, 0 },
    { "POST", "/v1/workflows/validate", api_workflow_validate, 0 },
    { "GET", "/v1/workflows/{name}", api_workflow_get, 0 },
    { "POST", "/v1/workflows/{name}/runs", api_run_start, 0 },
    { "GET", "/v1/runs", api_run_list, 0 },
    { "GET", "/v1/runs/{id}", api_run_get, 0 },
    { "GET", "/v1/runs/{id}/events", api_run_events, 0 },
    { "POST", "/v1/runs/{id}/cancel", api_run_cancel, 0 },
    { "POST", "/v1/runs/{id}/retry", api_run_retry, 0 },

    { "POST", "/v1/schedules", api_schedule_put, 0 },
    { "GET", "/v1/schedules", api_schedule_list, 0 },
    { "GET", "/v1/schedules/{name}", api_schedule_get, 0 },
    { "DELETE", "/v1/schedules/{name}", api_schedule_delete, 0 },

    { "GET", "/v1/evolution", api_evolution_list, HTTP_AGENT },
    { "POST", "/v1/evolution", api_evolution_propose, HTTP_AGENT },
    { "GET", "/v1/evolution/settings", api_evolution_settings, HTTP_AGENT },
    { "GET", "/v1/evolution/{id}", api_evolution_get, HTTP_AGENT },
    { "POST", "/v1/evolution/{id}/validate", api_evolution_validate,
      HTTP_AGENT },
    { "POST", "/v1/evolution/{id}/observe", api_evolution_observe, HTTP_AGENT },
    { "POST", "/v1/evolution/{id}/check", api_evolution_check, HTTP_AGENT },
    { "POST", "/v1/evolution/{id}/approve", api_evolution_approve, 0 },
    { "POST", "/v1/evolution/{id}/reject", api_evolution_reject, 0 },
    { "POST", "/v1/evolution/{id}/rollback", api_evolution_rollback, 0 },

    { "POST", "/v1/search/semantic", api_search_semantic, HTTP_AGENT },
    { "POST", "/v1/search/hybrid", api_search_hybrid, HTTP_AGENT },
    { "POST", "/v1/search/similar", api_search_similar, HTTP_AGENT },
    { "POST", "/v1/search/recommend", api_search_recommend, HTTP_AGENT },
    { "POST", "/v1/search/cluster", api_search_cluster, HTTP_AGENT },
    { "POST", "/v1/embeddings", api_embeddings, HTTP_AGENT },
};
const size_t api_nroutes = sizeof api_routes / sizeof *api_routes;

json_t *api_time(int64_t ms)
{
    if (!ms) return json_null();
    char buf[40];
    fs_time_format(ms, buf, sizeof buf);
    return json_string(buf);
}

json_t *api_json_text(const char *text)
{
    if (!text) return json_null();
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    if (!v) v = json_string(text);
    return v ? v : json_null();
}

/* json_string(s), or null for NULL. */
static json_t *str_or_null(const char *s)
{
    json_t *v = s ? json_string(s) : NULL;
    return v ? v : json_null();
}

json_t *api_job_json(const fs_job *j, bool leased)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(j->id));
    json_object_set_new(o, "type", str_or_null(j->type));
    json_object_set_new(o, "target_agent", str_or_null(j->target_agent));
    json_object_set_new(o, "payload", api_json_text(j->payload ? j->payload
                                                               : "{}"));
    json_object_set_new(o, "priority", json_integer(j->priority));
    json_object_set_new(o, "run_at", api_time(j->run_at));
    json_object_set_new(o, "attempts", json_integer(j->attempts));
    json_object_set_new(o, "max_attempts", json_integer(j->max_attempts));
    json_object_set_new(o, "timeout_ms", json_integer(j->timeout_ms));
    json_object_set_new(o, "unique_key", str_or_null(j->unique_key));
    json_object_set_new(o, "state", json_string(job_state_name(j->state)));
    json_object_set_new(o, "result", api_json_text(j->result));
    json_object_set_new(o, "last_error", str_or_null(j->last_error));
    json_object_set_new(o, "parent_id",
                        j->parent_id ? json_integer(j->parent_id) : json_null());
    json_object_set_new(o, "lease_owner", str_or_null(j->lease_owner));
    json_object_set_new(o, "lease_expires_at", api_time(j->lease_expires));
    json_object_set_new(o, "started_at", api_time(j->started_at));
    json_object_set_new(o, "created_at", api_time(j->created_at));
    json_object_set_new(o, "updated_at", api_time(j->updated_at));
    json_object_set_new(o, "finished_at", api_time(j->finished_at));
    if (leased) {
        json_object_set_new(o, "attempt", json_integer(j->attempts));
        json_object_set_new(o, "lease_token", str_or_null(j->lease_token));
    }
    return o;
}

json_t *api_agent_json(registry *reg, const fs_agent *a)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", str_or_null(a->id));
    json_object_set_new(o, "name", str_or_null(a->name));
    json_object_set_new(o, "type", str_or_null(a->type));
    json_object_set_new(o, "job_types",
                        api_json_text(a->job_types ? a->job_types : "[]"));
    json_object_set_new(o, "metadata",
                        api_json_text(a->metadata ? a->metadata : "{}"));
    json_object_set_new(o, "status", json_string(registry_status(reg, a)));
    json_object_set_new(o, "created_at", api_time(a->created_at));
    json_object_set_new(o, "last_heartbeat", api_time(a->last_heartbeat));
    json_object_set_new(o, "state_version", json_integer(a->state_version));
    return o;
}

bool api_path_id(http_req *req, http_resp *resp, const char *what, int64_t *id)
{
    const char *s = req->nparams ? req->params[0] : "";
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v <= 0 ||
        strspn(s, "0123456789") != strlen(s)) {
        http_resp_error(resp, 404, "not_found", "no such %s", what);
        return false;
    }
    *id = v;
    return true;
}

bool api_job_id(http_req *req, http_resp *resp, int64_t *id)
{
    return api_path_id(req, resp, "job", id);
}

bool api_require_self(http_req *req, http_resp *resp, const char *agent_id)
{
    if (auth_may_act_as(req->principal, agent_id)) return true;
    http_resp_error(resp, 403, "forbidden",
                    "an agent token may only act on its own agent");
    return false;
}
