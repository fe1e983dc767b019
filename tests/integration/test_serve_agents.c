/*
 * test_serve_agents.c - the built-in agents inside `flowstate serve`
 * (--agents): they register at start and take their jobs through the same
 * queue as everyone; an unknown name is a usage error.  Also in processes
 * of their own: `flowstate worker --url` (over HTTP) and `--db` (on the
 * database itself); and the four shipped workflow templates run to
 * completion on them.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "integration/it.h"

TestSuite(integration_serve_agents, .timeout = 60);

Test(integration_serve_agents, the_coordinator_runs_inside_the_server)
{
    th_server s;
    th_server_start(&s, "--agents all");
    json_t *agents = it_call(&s, "GET", "/v1/agents", NULL, s.key, 200);
    bool found = false;
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(agents, "agents"), i, a)
        found |= !strcmp(json_string_value(json_object_get(a, "type")), "coordinator");
    cr_assert(found, "the coordinator registered itself");
    json_decref(agents);
    json_t *job = it_call(&s, "POST", "/v1/jobs",
                          "{\"type\":\"plan\",\"target_agent\":\"coordinator\","
                          "\"max_attempts\":1,\"payload\":{\"goal\":"
                          "\"check the health and metrics of the system\"}}",
                          s.key, 201);
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld",
             (long long)json_integer_value(json_object_get(job, "id")));
    json_decref(job);
    const char *state = "";
    json_t *got = NULL;
    for (int k = 0; k < 200 && strcmp(state, "completed") && strcmp(state, "failed"); k++) {
        json_decref(got);
        it_sleep_ms(20);
        got = it_call(&s, "GET", path, NULL, s.key, 200);
        state = json_string_value(json_object_get(got, "state"));
    }
    cr_assert_str_eq(state, "completed", "%s",
                     json_string_value(json_object_get(got, "last_error")));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(got, "result"),
                                                       "workflow")),
                     "system_monitoring");
    json_decref(got);
    th_server_cleanup(&s);
}

Test(integration_serve_agents, an_unknown_agent_is_a_usage_error)
{
    char dir[] = "/tmp/fs-agents-XXXXXX", cmd[1024];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd,
             "timeout 20 '%s' serve --db %s/t.db --port 0 --agents coordinator,wizard "
             ">%s/out 2>&1; rc=$?; grep -q \"no built-in agent 'wizard'\" %s/out || rc=99; "
             "rm -rf %s; exit $rc",
             getenv("FLOWSTATE_BIN"), dir, dir, dir, dir);
    int st = system(cmd);
    cr_assert(WIFEXITED(st));
    cr_assert_eq(WEXITSTATUS(st), 2, "usage error naming the agent");
}

/* Enqueues a job for target; waits for it to end.  Returns it (decref). */
static json_t *job_until_done(th_server *s, const char *type, const char *target,
                              const char *payload)
{
    char *body = it_body("{s:s,s:s,s:i,s:o}", "type", type, "target_agent", target,
                         "max_attempts", 1, "payload", json_loads(payload, 0, NULL));
    json_t *job = it_call(s, "POST", "/v1/jobs", body, s->key, 201);
    free(body);
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld",
             (long long)json_integer_value(json_object_get(job, "id")));
    json_decref(job);
    const char *state = "";
    json_t *got = NULL;
    for (int k = 0; k < 500 && strcmp(state, "completed") && strcmp(state, "failed"); k++) {
        json_decref(got);
        it_sleep_ms(20);
        got = it_call(s, "GET", path, NULL, s->key, 200);
        state = json_string_value(json_object_get(got, "state"));
    }
    return got;
}

static const char *jstate(const json_t *job)
{
    return json_string_value(json_object_get(job, "state"));
}

/* Runs `flowstate worker ARGS...` as a child that dies with the test. */
static pid_t worker_spawn(const char *const *args)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test leaves no worker */
        execv(getenv("FLOWSTATE_BIN"), (char *const *)args);
        _exit(127);
    }
    return pid;
}

static void worker_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGTERM stops it cleanly");
}

Test(integration_serve_agents, a_worker_process_runs_the_agents_over_http)
{
    th_server s;
    th_server_start(&s, NULL); /* no agents inside the server */
    pid_t pid = worker_spawn((const char *const[]){ "flowstate", "worker", "--url", s.url,
                                                    "--key-file", s.key_file,
                                                    "--log-level", "warn", NULL });
    json_t *got = job_until_done(&s, "aggregate", "coordinator", "{\"job_ids\":[]}");
    cr_assert_str_eq(jstate(got), "completed", "the worker's coordinator did the job");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(got, "result"),
                                                       "summary")),
                     "0 of 0 parts completed, 0 failed, 0 not done");
    json_decref(got);
    got = job_until_done(&s, "choose_strategy", "learning", "{\"decision\":\"follow_up\"}");
    cr_assert_str_eq(jstate(got), "completed",
                     "a second agent of the worker, with its own token: %s",
                     json_string_value(json_object_get(got, "last_error")));
    json_decref(got);
    worker_stop(pid);
    th_server_cleanup(&s);
}

Test(integration_serve_agents, a_worker_on_the_database_runs_the_agents_without_http)
{
    th_server s;
    th_server_start(&s, NULL); /* no agents inside the server */
    pid_t pid = worker_spawn((const char *const[]){ "flowstate", "worker", "--db", s.db,
                                                    "--agents", "learning,data_processor",
                                                    "--log-level", "warn", NULL });
    json_t *got = job_until_done(&s, "choose_strategy", "learning",
                                 "{\"decision\":\"follow_up\"}");
    cr_assert_str_eq(jstate(got), "completed", "%s",
                     json_string_value(json_object_get(got, "last_error")));
    json_decref(got);
    got = job_until_done(&s, "validate", "data_processor",
                         "{\"records\":[{\"email\":\"a@b.co\"},{\"email\":\"nope\"}],"
                         "\"fields\":{\"email\":{\"type\":\"email\"}}}");
    cr_assert_str_eq(jstate(got), "completed");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(got, "result"),
                                                    "invalid")), 1);
    json_decref(got);
    json_t *agents = it_call(&s, "GET", "/v1/agents", NULL, s.key, 200);
    cr_assert_eq(json_array_size(json_object_get(agents, "agents")), 2,
                 "registered in the shared registry");
    json_decref(agents);
    worker_stop(pid);
    th_server_cleanup(&s);
}

/* Starts a run of template name with inputs; waits for it to end. */
static json_t *run_template(th_server *s, const char *name, const char *inputs)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/workflows/%s/runs", name);
    char *body = it_body("{s:o}", "inputs", json_loads(inputs, 0, NULL));
    json_t *run = it_call(s, "POST", path, body, s->key, 201);
    free(body);
    snprintf(path, sizeof path, "/v1/runs/%lld",
             (long long)json_integer_value(json_object_get(run, "id")));
    json_decref(run);
    for (int k = 0; k < 600; k++) {
        json_t *got = it_call(s, "GET", path, NULL, s->key, 200);
        if (strcmp(json_string_value(json_object_get(got, "state")), "running")) return got;
        json_decref(got);
        it_sleep_ms(50);
    }
    cr_assert_fail("%s did not finish", name);
    return NULL;
}

Test(integration_serve_agents, the_templates_run_on_the_built_in_agents, .timeout = 120)
{
    th_server s;
    char extra[600];
    char dir[] = "/tmp/fs-tpl-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char csv[700];
    snprintf(csv, sizeof csv, "%s/leads.csv", dir);
    FILE *f = fopen(csv, "w");
    fputs("name,email,phone,notes\n"
          "Ada Lovelace,ada@example.com,(555) 010-2030,wants a demo of the dashboard\n"
          "Bob Stone,BOB@example.com ,555.010.4040,asked about invoice refunds\n"
          "Cy Young,cy@example.com,,wants a dashboard demo next week\n", f);
    fclose(f);
    snprintf(extra, sizeof extra, "--agents all env:FLOWSTATE_DATA_ROOT=%s", dir);
    th_server_start(&s, extra);
    json_t *r = run_template(&s, "lead_qualification",
                             "{\"lead\":{\"name\":\"Ada\",\"email\":\"Ada@Example.com\","
                             "\"company\":\"Acme\"},\"segment\":\"enterprise\"}");
    cr_assert_str_eq(json_string_value(json_object_get(r, "state")), "completed", "%s",
                     json_string_value(json_object_get(r, "error")));
    json_decref(r);
    r = run_template(&s, "code_review", "{\"path\":\"src/core\"}");
    cr_assert_str_eq(json_string_value(json_object_get(r, "state")), "completed", "%s",
                     json_string_value(json_object_get(r, "error")));
    json_decref(r);
    r = run_template(&s, "data_processing",
                     "{\"source\":\"leads.csv\",\"required\":[\"email\"]}");
    cr_assert_str_eq(json_string_value(json_object_get(r, "state")), "completed", "%s",
                     json_string_value(json_object_get(r, "error")));
    json_decref(r);
    r = run_template(&s, "system_monitoring", "{\"recall_target\":0.9}");
    cr_assert_str_eq(json_string_value(json_object_get(r, "state")), "completed", "%s",
                     json_string_value(json_object_get(r, "error")));
    size_t i;
    json_t *step;
    json_array_foreach(json_object_get(r, "steps"), i, step)
        cr_assert_str_eq(json_string_value(json_object_get(step, "state")), "completed");
    json_decref(r);
    th_server_cleanup(&s);
    unlink(csv);
    rmdir(dir);
}
