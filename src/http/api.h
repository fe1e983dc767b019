/*
 * api.h - the HTTP/JSON API of Flowstate: the route table and its handlers.
 *
 * One handler per route, spread by topic over api_system.c (health,
 * metrics, queue stats), api_agents.c (registry and versioned state),
 * api_jobs.c (enqueue, list, show, cancel, retry), api_worker.c (the
 * worker protocol: lease, heartbeat, complete, fail), api_memory.c
 * (documents and search), api_workflows.c (definitions and runs),
 * api_schedules.c (periodic jobs) and api_evolution.c (the evolution
 * log).  api.c holds the table and the JSON renderers they share.
 * Handlers follow server.h: they read an http_req and fill an http_resp,
 * never touching MHD.
 *
 * The JSON contract (field names are frozen; extending is fine) is
 * exercised route by route in tests/http/test_api.c; the README's API
 * section walks through it.  Rules every handler keeps:
 *  - validate the whole request before the first write, so a bad request
 *    leaves the database unchanged;
 *  - errors are {"error":{"code","message"}} from http_resp_error/_fail;
 *  - lease tokens appear only in lease responses; agent tokens only in
 *    the registration response.
 */
#ifndef HTTP_API_H
#define HTTP_API_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/model.h"
#include "http/server.h"


extern const http_route api_routes[];
extern const size_t api_nroutes;

/* api_system.c */
void api_health(http_req *req, http_resp *resp);
void api_metrics(http_req *req, http_resp *resp);
void api_queue_stats(http_req *req, http_resp *resp);
void api_system_report(http_req *req, http_resp *resp);
void api_index_check(http_req *req, http_resp *resp);
void api_index_ef(http_req *req, http_resp *resp);

/* api_agents.c */
void api_agent_create(http_req *req, http_resp *resp);
void api_agent_list(http_req *req, http_resp *resp);
void api_agent_get(http_req *req, http_resp *resp);
void api_agent_heartbeat(http_req *req, http_resp *resp);
void api_state_get(http_req *req, http_resp *resp);
void api_state_put(http_req *req, http_resp *resp);
void api_state_versions(http_req *req, http_resp *resp);

/* api_jobs.c */
void api_job_enqueue(http_req *req, http_resp *resp);
void api_job_list(http_req *req, http_resp *resp);
void api_job_get(http_req *req, http_resp *resp);
void api_job_cancel(http_req *req, http_resp *resp);
void api_job_retry(http_req *req, http_resp *resp);

/* api_worker.c */
void api_job_lease(http_req *req, http_resp *resp);
void api_job_heartbeat(http_req *req, http_resp *resp);
void api_job_complete(http_req *req, http_resp *resp);
void api_job_fail(http_req *req, http_resp *resp);
void api_jobs_complete(http_req *req, http_resp *resp);

/* api_memory.c */
void api_embeddings(http_req *req, http_resp *resp);
void api_memory_add(http_req *req, http_resp *resp);
void api_memory_list(http_req *req, http_resp *resp);
void api_memory_get(http_req *req, http_resp *resp);
void api_memory_delete(http_req *req, http_resp *resp);
void api_memory_patch(http_req *req, http_resp *resp);
void api_memory_consolidate(http_req *req, http_resp *resp);
void api_search_semantic(http_req *req, http_resp *resp);
void api_search_hybrid(http_req *req, http_resp *resp);
void api_search_similar(http_req *req, http_resp *resp);
void api_search_recommend(http_req *req, http_resp *resp);
void api_search_cluster(http_req *req, http_resp *resp);

/* api_workflows.c */
void api_workflow_register(http_req *req, http_resp *resp);
void api_workflow_validate(http_req *req, http_resp *resp);
void api_workflow_list(http_req *req, http_resp *resp);
void api_workflow_get(http_req *req, http_resp *resp);
void api_run_start(http_req *req, http_resp *resp);
void api_run_list(http_req *req, http_resp *resp);
void api_run_get(http_req *req, http_resp *resp);
void api_run_events(http_req *req, http_resp *resp);
void api_run_cancel(http_req *req, http_resp *resp);
void api_run_retry(http_req *req, http_resp *resp);

/* api_evolution.c */
void api_evolution_list(http_req *req, http_resp *resp);
void api_evolution_propose(http_req *req, http_resp *resp);
void api_evolution_settings(http_req *req, http_resp *resp);
void api_evolution_get(http_req *req, http_resp *resp);
void api_evolution_validate(http_req *req, http_resp *resp);
void api_evolution_observe(http_req *req, http_resp *resp);
void api_evolution_check(http_req *req, http_resp *resp);
void api_evolution_approve(http_req *req, http_resp *resp);
void api_evolution_reject(http_req *req, http_resp *resp);
void api_evolution_rollback(http_req *req, http_resp *resp);

/* api_schedules.c */
void api_schedule_put(http_req *req, http_resp *resp);
void api_schedule_list(http_req *req, http_resp *resp);
void api_schedule_get(http_req *req, http_resp *resp);
void api_schedule_delete(http_req *req, http_resp *resp);

/* --- Request readers ------------------------------------------------------ */
/*
 * The parse-and-validate step of each handler that takes a body, split out
 * so fuzz/fuzz_body.c drives exactly what the handlers run without a server:
 * each reads a parsed body o (borrowed) and touches neither the store nor
 * the request.  Each returns true, or false after writing the 400 into
 * resp (as body.h's helpers do).  Borrowed pointers live as long as o.
 */

/* api_jobs.c: one job object, in->obj (the fields of POST /v1/jobs), into
 * j (strings copied; clear with fs_job_clear).  false after a 400 naming
 * the field. */
struct body_in;
bool api_job_read(const struct body_in *in, fs_job *j);

/* api_jobs.c: POST /v1/jobs, {"jobs":[…]} (batch) or one job object.
 * OUT: *jobs and *n (free with fs_jobs_free, also after false), *batch. */
bool api_jobs_read(json_t *o, http_resp *resp, fs_job **jobs, size_t *n,
                   bool *batch);

/* api_worker.c: POST /v1/jobs/lease.  Absent fields keep the defaults
 * (max 1, lease_s 0, wait_ms 0). */
typedef struct api_lease_args {
    const char *agent_id; /* borrowed; NULL when absent */
    json_t *types;        /* borrowed array of strings; NULL when absent */
    int64_t max, lease_s, wait_ms;
} api_lease_args;
bool api_lease_read(json_t *o, http_resp *resp, api_lease_args *out);

/* api_worker.c: POST /v1/jobs/complete, {"jobs":[{"id","lease_token",
 * "result"}…]}.  OUT: *items, *n (items[i].result owned: free each, then
 * items, also after false; .rc left 0 for the owner check). */
bool api_completions_read(json_t *o, http_resp *resp,
                          store_completion **items, size_t *n);

/* api_agents.c: POST /v1/agents. */
typedef struct api_agent_args {
    const char *name, *type; /* borrowed */
    json_t *job_types;       /* borrowed; NULL when absent */
    json_t *metadata;        /* borrowed object; NULL when absent */
} api_agent_args;
bool api_agent_read(json_t *o, http_resp *resp, api_agent_args *out);

/* api_agents.c: PUT /v1/agents/{id}/state.  if_match_value: the If-Match
 * header (NULL when absent).  OUT: *state (borrowed), *expected
 * (untouched when neither If-Match nor expected_version gives one). */
bool api_state_read(json_t *o, const char *if_match_value, http_resp *resp,
                    json_t **state, int64_t *expected);

/* --- Shared helpers (api.c) ---------------------------------------------- */

/* RFC 3339 string, or null for 0.  New reference. */
json_t *api_time(int64_t ms);
/* Stored JSON text embedded as JSON; null for NULL.  Text that does not
 * parse (never expected) is embedded as a string.  New reference. */
json_t *api_json_text(const char *text);
/* A job as JSON.  leased adds "attempt" and "lease_token" (lease responses
 * only).  New reference. */
json_t *api_job_json(const fs_job *j, bool leased);
/* An agent as JSON (never its token); status from the registry. */
json_t *api_agent_json(registry *reg, const fs_agent *a);

/* Parses the {id} path parameter as an id (> 0).  false after a 404 "no
 * such <what>". */
bool api_path_id(http_req *req, http_resp *resp, const char *what, int64_t *id);
/* api_path_id for a job. */
bool api_job_id(http_req *req, http_resp *resp, int64_t *id);
/* false after a 403 unless the caller is an admin or agent_id itself. */
bool api_require_self(http_req *req, http_resp *resp, const char *agent_id);

#endif
