/*
 * test_workflow_cli.c - `flowstate workflow` end to end: the real CLI
 * ($FLOWSTATE_BIN) against the real server, with a worker thread of the
 * test answering the steps' jobs over HTTP.
 *
 *   validate_names_each_problem   a cycle and an unknown dependency, exit 1;
 *                                 a good file exits 0
 *   register_run_wait_status      register, run --wait --json (exit 0, the
 *                                 outputs there), status --events, graph
 *   a_failing_run_exits_1         run --wait of a workflow whose step fails
 *                                 for good exits 1 and says why
 *
 * The worker thread only uses it_try_json (no Criterion calls) and records
 * what it did; the test thread asserts.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "integration/it.h"

TestSuite(integration_workflow_cli, .timeout = 120);

typedef struct worker {
    th_server *s;
    it_agent ag;
    atomic_bool stop;
    atomic_int done, failed;
    pthread_t t;
} worker;

/* Answers each job: type "fail" fails it for good, any other completes it
 * with {"doubled": 2 * input.n}. */
static void *work(void *arg)
{
    worker *w = arg;
    while (!atomic_load(&w->stop)) {
        int st;
        json_t *r = it_try_json(w->s, "POST", "/v1/jobs/lease",
                                "{\"max\":10,\"wait_ms\":200}", w->ag.token, &st);
        size_t i;
        json_t *job;
        json_array_foreach(json_object_get(r, "jobs"), i, job) {
            const char *type = json_string_value(json_object_get(job, "type"));
            const char *token = json_string_value(json_object_get(job, "lease_token"));
            char path[96];
            json_int_t id = json_integer_value(json_object_get(job, "id"));
            bool fail = type && !strcmp(type, "fail");
            snprintf(path, sizeof path, "/v1/jobs/%lld/%s", (long long)id,
                     fail ? "fail" : "complete");
            json_int_t n = json_integer_value(
                json_object_get(json_object_get(job, "payload"), "n"));
            char *body = fail ? it_body("{s:s,s:s,s:b}", "lease_token", token,
                                        "error", "the lead has no e-mail", "retry", 0)
                              : it_body("{s:s,s:{s:I}}", "lease_token", token,
                                        "result", "doubled", 2 * n);
            json_decref(it_try_json(w->s, "POST", path, body, w->ag.token, &st));
            free(body);
            atomic_fetch_add(fail ? &w->failed : &w->done, 1);
        }
        json_decref(r);
    }
    return NULL;
}

static void worker_start(worker *w, th_server *s)
{
    w->s = s;
    it_register(s, "cli-worker", "t", NULL, &w->ag);
    atomic_store(&w->stop, false);
    pthread_create(&w->t, NULL, work, w);
}

static void worker_stop(worker *w)
{
    atomic_store(&w->stop, true);
    pthread_join(w->t, NULL);
}

#define GOOD                                                                   \
    "{\"name\":\"double\",\"inputs\":{\"n\":{\"default\":1}},\"steps\":["      \
    "{\"id\":\"a\",\"agent\":\"t\",\"job_type\":\"dbl\","                      \
    "\"input\":{\"n\":\"{{inputs.n}}\"}},"                                      \
    "{\"id\":\"b\",\"agent\":\"t\",\"job_type\":\"dbl\",\"depends_on\":[\"a\"]," \
    "\"input\":{\"n\":\"{{steps.a.output.doubled}}\"}}]}"

Test(integration_workflow_cli, validate_names_each_problem)
{
    th_server s;
    th_server_start(&s, NULL);
    char *bad = it_server_file(&s, "bad.json",
        "{\"name\":\"loop\",\"steps\":["
        "{\"id\":\"a\",\"agent\":\"t\",\"job_type\":\"x\",\"depends_on\":[\"b\"]},"
        "{\"id\":\"b\",\"agent\":\"t\",\"job_type\":\"x\",\"depends_on\":[\"a\"]},"
        "{\"id\":\"c\",\"agent\":\"t\",\"job_type\":\"x\",\"depends_on\":[\"nope\"]}]}");
    char *good = it_server_file(&s, "good.json", GOOD);
    it_cli_out r = IT_CLI(&s, "workflow", "validate", bad);
    it_assert_exit(r, 1, "validate of a bad definition");
    char *all = NULL;
    cr_assert(asprintf(&all, "%s%s", r.out, r.err) > 0);
    cr_assert(strstr(all, "a -> b -> a"), "the cycle is printed:\n%s", all);
    cr_assert(strstr(all, "nope"), "the unknown dependency is named:\n%s", all);
    free(all);
    it_cli_free(&r);
    r = IT_CLI(&s, "workflow", "register", bad);
    it_assert_exit(r, 1, "the server refuses it too");
    it_cli_free(&r);
    r = IT_CLI(&s, "workflow", "validate", good);
    it_assert_exit(r, 0, "validate of a good definition");
    it_cli_free(&r);
    free(bad);
    free(good);
    th_server_cleanup(&s);
}

Test(integration_workflow_cli, register_run_wait_status)
{
    th_server s;
    th_server_start(&s, NULL);
    char *good = it_server_file(&s, "good.json", GOOD);
    it_cli_out r = IT_CLI(&s, "workflow", "register", good);
    it_assert_exit(r, 0, "register");
    it_cli_free(&r);
    worker w = { 0 };
    worker_start(&w, &s);
    r = IT_CLI(&s, "workflow", "run", "double", "--input", "n=5", "--wait", "--json");
    it_assert_exit(r, 0, "run --wait of a run that completes");
    json_t *run = it_cli_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(run, "state")), "completed");
    json_int_t id = json_integer_value(json_object_get(run, "id"));
    json_decref(run);
    it_cli_free(&r);
    worker_stop(&w);
    cr_assert_eq(atomic_load(&w.done), 2, "two steps, two jobs");
    char path[64];
    snprintf(path, sizeof path, "/v1/runs/%lld", (long long)id);
    json_t *got = it_call(&s, "GET", path, NULL, s.key, 200);
    json_t *b = json_array_get(json_object_get(got, "steps"), 1);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(b, "output"), "doubled")),
                 20, "5 doubled twice");
    json_decref(got);
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    r = IT_CLI(&s, "workflow", "status", ids, "--events");
    it_assert_exit(r, 0, "status --events");
    cr_assert(strstr(r.out, "run_started") && strstr(r.out, "run_completed"),
              "the timeline:\n%s", r.out);
    it_cli_free(&r);
    r = IT_CLI(&s, "workflow", "graph", good, "--dot");
    it_assert_exit(r, 0, "graph --dot");
    cr_assert(!strncmp(r.out, "digraph", 7) && strstr(r.out, "->"), "%s", r.out);
    it_cli_free(&r);
    free(good);
    th_server_cleanup(&s);
}

Test(integration_workflow_cli, a_failing_run_exits_1)
{
    th_server s;
    th_server_start(&s, NULL);
    char *def = it_server_file(&s, "fails.json",
        "{\"name\":\"fails\",\"steps\":[{\"id\":\"check\",\"agent\":\"t\","
        "\"job_type\":\"fail\"}]}");
    it_cli_out r = IT_CLI(&s, "workflow", "register", def);
    it_assert_exit(r, 0, "register");
    it_cli_free(&r);
    worker w = { 0 };
    worker_start(&w, &s);
    r = IT_CLI(&s, "workflow", "run", "fails", "--wait");
    it_assert_exit(r, 1, "run --wait of a run that fails");
    cr_assert(strstr(r.err, "the lead has no e-mail") || strstr(r.out, "the lead has no e-mail"),
              "the error is shown:\nstdout:\n%s\nstderr:\n%s", r.out, r.err);
    it_cli_free(&r);
    worker_stop(&w);
    free(def);
    th_server_cleanup(&s);
}
