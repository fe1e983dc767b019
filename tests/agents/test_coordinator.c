/*
 * test_coordinator.c - the built-in coordinator agent over the in-process
 * host with the real queue, registry and workflow service: plan picks the
 * shipped template a goal describes and starts it; delegate routes a task
 * to the agent type that takes it; aggregate reports on child jobs.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "agents/builtin/coordinator.h"
#include "agents/host_local.h"
#include "core/fs.h"
#include "support/agentq.h"
#include "support/testdb.h"

static tdb T;
static queue *Q;
static registry *R;
static workflow *W;
static agent_host *H;
static agent_runtime *RT;

static void setup(void)
{
    tdb_open(&T);
    cr_assert_eq(queue_open(&Q, T.st, NULL, NULL), 0);
    cr_assert_eq(registry_open(&R, T.st, NULL, NULL), 0);
    workflow_config wc = { .thread = true };
    cr_assert_eq(workflow_open(&W, T.st, Q, NULL, &wc), 0);
    cr_assert_gt(workflow_install_templates(W), 0);
    H = host_local_open(Q, R, NULL, W, NULL);
    cr_assert_eq(agent_start(&RT, H, &coordinator_agent, NULL), 0);
}

static void teardown(void)
{
    agent_stop(RT);
    agent_host_close(H);
    workflow_close(W);
    registry_close(R);
    queue_close(Q);
    tdb_close(&T);
}

TestSuite(coordinator, .init = setup, .fini = teardown, .timeout = 60);

Test(coordinator, plan_starts_the_workflow_a_goal_describes)
{
    int64_t id = aq_enqueue(Q, "plan", "coordinator",
                         "{\"goal\":\"review the source code in src/core and find bugs\","
                         "\"inputs\":{\"path\":\"src/core\"}}");
    fs_job j = aq_finished(Q, id);
    cr_assert_eq(j.state, JOB_COMPLETED, "%s", j.last_error);
    json_t *r = json_loads(j.result, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(r, "workflow")), "code_review");
    fs_run run;
    cr_assert_eq(workflow_run_get(W, json_integer_value(json_object_get(r, "run_id")),
                                  &run, NULL, NULL), 0);
    cr_assert_str_eq(run.workflow, "code_review");
    cr_assert(strstr(run.inputs, "src/core"), "%s", run.inputs);
    fs_run_clear(&run);
    json_decref(r);
    fs_job_clear(&j);
    id = aq_enqueue(Q, "plan", "coordinator", "{\"goal\":\"qualify the new lead from Acme\","
                                        "\"inputs\":{\"lead\":{\"name\":\"Ada\"}}}");
    j = aq_finished(Q, id);
    cr_assert_eq(j.state, JOB_COMPLETED, "%s", j.last_error);
    cr_assert(strstr(j.result, "\"lead_qualification\""), "%s", j.result);
    fs_job_clear(&j);
    id = aq_enqueue(Q, "plan", "coordinator", "{\"goal\":\"zzqx wvv\"}");
    j = aq_finished(Q, id);
    cr_assert_eq(j.state, JOB_FAILED);
    cr_assert(strstr(j.last_error, "no workflow matches"), "%s", j.last_error);
    fs_job_clear(&j);
}

Test(coordinator, delegate_routes_a_task_to_the_agent_that_takes_it)
{
    fs_agent a;
    char *token;
    cr_assert_eq(registry_register(R, "dp", "data_processor",
                                   "[\"validate\",\"normalize\",\"dedupe\"]", NULL, &a,
                                   &token), 0);
    fs_agent_clear(&a);
    free(token);
    int64_t id = aq_enqueue(Q, "delegate", "coordinator",
                         "{\"task\":\"normalize\",\"payload\":{\"records\":[]}}");
    fs_job j = aq_finished(Q, id);
    cr_assert_eq(j.state, JOB_COMPLETED, "%s", j.last_error);
    json_t *r = json_loads(j.result, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(r, "target")), "data_processor");
    fs_job child;
    cr_assert_eq(queue_get(Q, json_integer_value(json_object_get(r, "job_id")), &child), 0);
    cr_assert_str_eq(child.type, "normalize");
    cr_assert_str_eq(child.payload, "{\"records\":[]}");
    cr_assert_eq(child.parent_id, id);
    fs_job_clear(&child);
    json_decref(r);
    fs_job_clear(&j);
    id = aq_enqueue(Q, "delegate", "coordinator", "{\"task\":\"launch_rocket\"}");
    j = aq_finished(Q, id);
    cr_assert_eq(j.state, JOB_FAILED);
    cr_assert(strstr(j.last_error, "no registered agent takes 'launch_rocket'"), "%s",
              j.last_error);
    fs_job_clear(&j);
}

Test(coordinator, aggregate_reports_on_child_jobs)
{
    int64_t done = aq_enqueue(Q, "x", "worker", NULL), bad = aq_enqueue(Q, "x", "worker", NULL);
    int64_t waiting = aq_enqueue(Q, "x", "worker", NULL);
    queue_lease_req lr = { .agent_id = "ag_w", .agent_type = "worker", .max = 2 };
    fs_job *got;
    size_t n;
    cr_assert_eq(queue_lease(Q, &lr, &got, &n), 0);
    cr_assert_eq(n, 2);
    store_completion c = { done, got[0].id == done ? got[0].lease_token : got[1].lease_token,
                           "{\"score\":0.8}" };
    cr_assert_eq(queue_complete(Q, &c, 1), 0);
    const char *bad_token = got[0].id == bad ? got[0].lease_token : got[1].lease_token;
    cr_assert_eq(queue_fail(Q, bad, bad_token, "no e-mail", false, NULL), 0);
    fs_jobs_free(got, n);
    char payload[128];
    snprintf(payload, sizeof payload, "{\"job_ids\":[%lld,%lld,%lld]}", (long long)done,
             (long long)bad, (long long)waiting);
    fs_job j = aq_finished(Q, aq_enqueue(Q, "aggregate", "coordinator", payload));
    cr_assert_eq(j.state, JOB_COMPLETED, "%s", j.last_error);
    json_t *r = json_loads(j.result, 0, NULL);
    cr_assert_eq(json_integer_value(json_object_get(r, "completed")), 1);
    cr_assert_eq(json_integer_value(json_object_get(r, "failed")), 1);
    cr_assert_eq(json_integer_value(json_object_get(r, "pending")), 1);
    cr_assert_str_eq(json_string_value(json_object_get(r, "summary")),
                     "1 of 3 parts completed, 1 failed, 1 not done");
    json_t *first = json_array_get(json_object_get(r, "results"), 0);
    cr_assert(json_real_value(json_object_get(json_object_get(first, "result"), "score")) == 0.8);
    json_decref(r);
    fs_job_clear(&j);
}
