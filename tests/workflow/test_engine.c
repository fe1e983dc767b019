/*
 * test_engine.c - the workflow engine (workflow.h, wfrun.h) over a real
 * store and queue with a manual clock: the test plays the worker (leases
 * jobs for agent type "t", answers them through a handler, completes or
 * fails them) and runs the engine by hand (workflow_process).
 *
 * Ordering (diamond, chain, fan-out, for_each, when), outputs passed
 * downstream, retries with backoff, per-attempt and workflow timeouts,
 * on_failure modes, cancel, retry from the failed step, and a restart of
 * the service between a job's completion and the engine seeing it.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "queue/queue.h"
#include "support/testdb.h"
#include "workflow/templates.h"
#include "workflow/workflow.h"

static tdb T;
static int64_t NOW = 1000000;
static fs_clock CLK = { fs_clock_manual_now, &NOW };
static queue *Q;
static workflow *W;

static void open_services(void)
{
    queue_config qc = queue_config_default();
    qc.ticker = false;
    cr_assert_eq(queue_open(&Q, T.st, &CLK, &qc), 0);
    workflow_config wc = { .lease_ms = 30000 };
    cr_assert_eq(workflow_open(&W, T.st, Q, &CLK, &wc), 0);
}

static void close_services(void)
{
    workflow_close(W);
    queue_close(Q);
}

static void setup(void)
{
    tdb_open(&T);
    NOW = 1000000;
    open_services();
}

static void teardown(void)
{
    close_services();
    tdb_close(&T);
}

TestSuite(workflow, .init = setup, .fini = teardown, .timeout = 300);

/* A definition written with ' for " (readable C literals). */
static json_t *def(const char *text)
{
    char *s = strdup(text);
    for (char *p = s; *p; p++)
        if (*p == '\'') *p = '"';
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    cr_assert(j, "bad test JSON: %s in %s", e.text, s);
    free(s);
    return j;
}

static void reg(const char *text)
{
    json_t *d = def(text), *problems = NULL;
    int rc = workflow_register(W, d, NULL, NULL, &problems);
    char *p = json_dumps(problems, 0);
    cr_assert_eq(rc, 0, "register: %s", p);
    free(p);
    json_decref(problems);
    json_decref(d);
}

static int64_t start(const char *name, const char *inputs)
{
    json_t *in = inputs ? def(inputs) : NULL;
    fs_run r;
    char err[256] = "";
    cr_assert_eq(workflow_start(W, name, 0, in, &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r.state, RUN_RUNNING);
    int64_t id = r.id;
    fs_run_clear(&r);
    json_decref(in);
    return id;
}

/* The worker's answer to a job: a result (JSON text, owned) or NULL to
 * fail it with *error (static). */
typedef char *(*handler_fn)(const fs_job *j, const char **error);

/* Echoes: {"type":T,"input":PAYLOAD}. */
static char *echo(const fs_job *j, const char **error)
{
    (void)error;
    json_t *o = json_pack("{s:s,s:o}", "type", j->type, "input",
                          json_loads(j->payload, 0, NULL));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static char LOG[1 << 16]; /* job types in lease order, space-separated */

/* The agent types the test worker serves: "t", and the built-in agents'
 * the templates name. */
static const char *const AGENTS[] = { "t", "code_analyzer", "data_processor",
                                      "monitoring", "learning", "coordinator" };

/* Leases every job that is due (up to 1000 per agent type), answers each;
 * false when there was none. */
static bool work_once(handler_fn h, size_t *nleased)
{
    size_t total = 0;
    for (size_t a = 0; a < sizeof AGENTS / sizeof *AGENTS; a++) {
        queue_lease_req r = { .agent_id = "ag_t", .agent_type = AGENTS[a],
                              .max = 1000 };
        fs_job *jobs;
        size_t n;
        cr_assert_eq(queue_lease(Q, &r, &jobs, &n), 0);
        total += n;
        for (size_t i = 0; i < n; i++) {
            strncat(LOG, jobs[i].type, sizeof LOG - strlen(LOG) - 2);
            strcat(LOG, " ");
            const char *error = "boom";
            char *res = h(&jobs[i], &error);
            if (res) {
                store_completion c = { jobs[i].id, jobs[i].lease_token, res };
                cr_assert_eq(queue_complete(Q, &c, 1), 0);
                cr_assert_eq(c.rc, 0);
            } else {
                cr_assert_eq(queue_fail(Q, jobs[i].id, jobs[i].lease_token,
                                        error, true, NULL), 0);
            }
            free(res);
        }
        fs_jobs_free(jobs, n);
    }
    if (nleased) *nleased = total;
    return total > 0;
}

static fs_run run_get(int64_t id, fs_run_task **t, size_t *n)
{
    fs_run r;
    cr_assert_eq(workflow_run_get(W, id, &r, t, n), 0);
    return r;
}

static run_state state_of(int64_t id)
{
    fs_run r = run_get(id, NULL, NULL);
    run_state s = r.state;
    fs_run_clear(&r);
    return s;
}

/* Work and process until the run ends or nothing moves. */
static run_state drive(int64_t id, handler_fn h)
{
    for (int round = 0; round < 5000; round++) {
        cr_assert_eq(workflow_process(W), 0);
        run_state s = state_of(id);
        if (s != RUN_RUNNING) return s;
        if (!work_once(h, NULL)) {
            cr_assert_eq(workflow_process(W), 0);
            return state_of(id);
        }
    }
    cr_assert_fail("run %lld never ended", (long long)id);
    return RUN_FAILED;
}

/* The task of step index s (item -1); a step never scheduled has no
 * stored task: it reads as pending. */
static fs_run_task *task(fs_run_task *t, size_t n, int s)
{
    static fs_run_task pending = { .state = TASK_PENDING, .item = -1 };
    for (size_t i = 0; i < n; i++)
        if (t[i].step == s && t[i].item < 0) return &t[i];
    return &pending;
}

static json_t *output(int64_t id, int s)
{
    fs_run_task *t;
    size_t n;
    fs_run r = run_get(id, &t, &n);
    json_t *o = json_loads(task(t, n, s)->output, JSON_DECODE_ANY, NULL);
    fs_run_clear(&r);
    fs_run_tasks_free(t, n);
    return o;
}

static size_t count_events(int64_t id, const char *type)
{
    fs_run_event *e;
    size_t n, k = 0;
    cr_assert_eq(workflow_events(W, id, 0, 10000, &e, &n), 0);
    for (size_t i = 0; i < n; i++) k += !strcmp(e[i].type, type);
    fs_run_events_free(e, n);
    return k;
}

/* --- ordering and data ----------------------------------------------------- */

Test(workflow, diamond_runs_in_order_and_passes_outputs)
{
    LOG[0] = 0;
    reg("{'name':'diamond','inputs':{'who':{'default':'acme'}},'steps':["
        "{'id':'a','agent':'t','job_type':'A','input':{'who':'{{inputs.who}}'}},"
        "{'id':'b','agent':'t','job_type':'B','depends_on':['a'],"
        " 'input':{'from_a':'{{steps.a.output.input.who}}'}},"
        "{'id':'c','agent':'t','job_type':'C','depends_on':['a']},"
        "{'id':'d','agent':'t','job_type':'D','depends_on':['b','c'],"
        " 'input':{'b':'{{steps.b.output}}','text':'b said {{steps.b.output.input.from_a}}'}}]}");
    int64_t id = start("diamond", "{'who':'globex'}");
    size_t n;
    work_once(echo, &n);
    cr_assert_eq(n, 1, "only a is ready at first");
    cr_assert_eq(workflow_process(W), 0);
    work_once(echo, &n);
    cr_assert_eq(n, 2, "b and c are leased together: they run in parallel");
    cr_assert_eq(drive(id, echo), RUN_COMPLETED);
    cr_assert_str_eq(LOG, "A B C D ");
    json_t *d = output(id, 3), *in = json_object_get(d, "input");
    cr_assert_str_eq(json_string_value(json_object_get(in, "text")), "b said globex");
    json_t *b_out = json_object_get(in, "b"); /* b's whole output, as an object */
    cr_assert(json_is_object(b_out), "a whole output is passed with its type");
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(b_out, "input"), "from_a")), "globex");
    json_decref(d);
    cr_assert_eq(count_events(id, "run_started"), 1);
    cr_assert_eq(count_events(id, "step_completed"), 4);
    cr_assert_eq(count_events(id, "run_completed"), 1);
}

Test(workflow, when_false_skips_the_step_and_dependents_see_null)
{
    reg("{'name':'w','inputs':{'tier':{'default':'smb'}},'steps':["
        "{'id':'a','agent':'t','job_type':'A','when':'inputs.tier == \\'enterprise\\''},"
        "{'id':'b','agent':'t','job_type':'B','depends_on':['a'],"
        " 'input':{'a':'{{steps.a.output}}'}}]}");
    int64_t id = start("w", NULL);
    cr_assert_eq(drive(id, echo), RUN_COMPLETED);
    fs_run_task *t;
    size_t n;
    fs_run r = run_get(id, &t, &n);
    cr_assert_eq(task(t, n, 0)->state, TASK_SKIPPED);
    cr_assert_eq(task(t, n, 0)->attempts, 0, "a skipped step never runs");
    cr_assert_eq(task(t, n, 1)->state, TASK_COMPLETED);
    cr_assert(strstr(task(t, n, 1)->output, "\"a\":null"), "%s", task(t, n, 1)->output);
    fs_run_clear(&r);
    fs_run_tasks_free(t, n);
    cr_assert_eq(count_events(id, "step_skipped"), 1);
}

static char *list_then_square(const fs_job *j, const char **error)
{
    (void)error;
    if (!strcmp(j->type, "LIST")) {
        json_t *items = json_array();
        for (int i = 0; i < 500; i++) json_array_append_new(items, json_integer(i));
        json_t *o = json_pack("{s:o}", "items", items);
        char *s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        return s;
    }
    json_t *p = json_loads(j->payload, 0, NULL);
    json_int_t x = json_integer_value(json_object_get(p, "x"));
    json_decref(p);
    json_t *o = json_pack("{s:I}", "sq", x * x);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

Test(workflow, for_each_fans_out_500_jobs_and_collects_in_order)
{
    reg("{'name':'fan','steps':["
        "{'id':'list','agent':'t','job_type':'LIST'},"
        "{'id':'sq','agent':'t','job_type':'SQ','depends_on':['list'],"
        " 'for_each':'{{steps.list.output.items}}','input':{'x':'{{item}}'}},"
        "{'id':'sum','agent':'t','job_type':'SUM','depends_on':['sq'],"
        " 'input':{'all':'{{steps.sq.output}}'}}]}");
    int64_t id = start("fan", NULL);
    work_once(list_then_square, NULL);
    cr_assert_eq(workflow_process(W), 0);
    size_t n;
    work_once(list_then_square, &n);
    cr_assert_eq(n, 500, "every item at once");
    cr_assert_eq(drive(id, list_then_square), RUN_COMPLETED);
    json_t *out = output(id, 1);
    cr_assert_eq(json_array_size(out), 500);
    for (size_t i = 0; i < 500; i++)
        cr_assert_eq(json_integer_value(json_object_get(json_array_get(out, i), "sq")),
                     (json_int_t)(i * i), "item %zu in order", i);
    json_decref(out);
}

Test(workflow, chain_of_1000_and_fan_out_of_1000)
{
    json_t *chain = json_pack("{s:s,s:[]}", "name", "chain", "steps");
    json_t *fan = json_pack("{s:s,s:[]}", "name", "wide", "steps");
    for (int i = 0; i < 1000; i++) {
        char id[16], prev[16];
        snprintf(id, sizeof id, "s%d", i);
        snprintf(prev, sizeof prev, "s%d", i - 1);
        json_t *s = json_pack("{s:s,s:s,s:s}", "id", id, "agent", "t", "job_type", "N");
        if (i) json_object_set_new(s, "depends_on", json_pack("[s]", prev));
        json_array_append_new(json_object_get(chain, "steps"), s);
        json_array_append_new(json_object_get(fan, "steps"),
                              json_pack("{s:s,s:s,s:s}", "id", id, "agent", "t",
                                        "job_type", "N"));
    }
    json_t *problems;
    cr_assert_eq(workflow_register(W, chain, NULL, NULL, &problems), 0);
    json_decref(problems);
    cr_assert_eq(workflow_register(W, fan, NULL, NULL, &problems), 0);
    json_decref(problems);
    json_decref(chain);
    json_decref(fan);
    int64_t c = start("chain", NULL);
    size_t n;
    for (int i = 0; i < 1000; i++) {
        work_once(echo, &n);
        cr_assert_eq(n, 1, "a chain runs one step at a time (step %d)", i);
        cr_assert_eq(workflow_process(W), 0);
    }
    cr_assert_eq(state_of(c), RUN_COMPLETED);
    int64_t f = start("wide", NULL);
    work_once(echo, &n);
    cr_assert_eq(n, 1000, "all 1,000 independent steps are out at once");
    cr_assert_eq(workflow_process(W), 0);
    cr_assert_eq(state_of(f), RUN_COMPLETED);
}

/* --- failures ------------------------------------------------------------------- */

static int FAILS_LEFT;

static char *flaky(const fs_job *j, const char **error)
{
    if (!strcmp(j->type, "FLAKY") && FAILS_LEFT > 0) {
        FAILS_LEFT--;
        *error = "flaky";
        return NULL;
    }
    return echo(j, error);
}

Test(workflow, retries_back_off_per_step_then_succeed)
{
    reg("{'name':'r','steps':[{'id':'f','agent':'t','job_type':'FLAKY',"
        "'retries':{'max':3,'backoff':'fixed','initial_ms':5000}}]}");
    FAILS_LEFT = 2;
    int64_t id = start("r", NULL);
    size_t n;
    work_once(flaky, &n);
    cr_assert_eq(n, 1);
    cr_assert_eq(workflow_process(W), 0);
    work_once(flaky, &n);
    cr_assert_eq(n, 0, "the retry waits out its backoff");
    NOW += 4999;
    work_once(flaky, &n);
    cr_assert_eq(n, 0, "still waiting");
    NOW += 1;
    work_once(flaky, &n);
    cr_assert_eq(n, 1, "due after 5000 ms");
    cr_assert_eq(workflow_process(W), 0);
    NOW += 5000;
    cr_assert_eq(drive(id, flaky), RUN_COMPLETED);
    cr_assert_eq(count_events(id, "step_retried"), 2);
    fs_run_task *t;
    size_t nt;
    fs_run r = run_get(id, &t, &nt);
    cr_assert_eq(task(t, nt, 0)->attempts, 3);
    fs_run_clear(&r);
    fs_run_tasks_free(t, nt);
}

Test(workflow, a_step_failing_for_good_fails_the_run_and_cancels_the_rest)
{
    reg("{'name':'ff','steps':[{'id':'slow','agent':'t','job_type':'SLOW'},"
        "{'id':'bad','agent':'t','job_type':'FLAKY','retries':{'max':1,'backoff':'fixed','initial_ms':10}},"
        "{'id':'after','agent':'t','job_type':'AFTER','depends_on':['slow','bad']}]}");
    FAILS_LEFT = 100;
    int64_t id = start("ff", NULL);
    queue_lease_req lr = { .agent_id = "ag_t", .agent_type = "t", .max = 1,
                           .types = (const char *[]){ "SLOW" }, .ntypes = 1 };
    fs_job *slow;
    size_t n;
    cr_assert_eq(queue_lease(Q, &lr, &slow, &n), 0);
    cr_assert_eq(n, 1, "slow is taken and held");
    work_once(flaky, NULL);
    cr_assert_eq(workflow_process(W), 0);
    NOW += 10;
    work_once(flaky, NULL);
    cr_assert_eq(workflow_process(W), 0);
    fs_run_task *t;
    size_t nt;
    fs_run r = run_get(id, &t, &nt);
    cr_assert_eq(r.state, RUN_FAILED);
    cr_assert(strstr(r.error, "step bad failed: flaky"), "%s", r.error);
    cr_assert_eq(task(t, nt, 1)->attempts, 2, "1 retry allowed: 2 attempts");
    cr_assert_eq(task(t, nt, 0)->state, TASK_CANCELLED);
    cr_assert_eq(task(t, nt, 2)->state, TASK_PENDING, "never started");
    fs_job j;
    cr_assert_eq(queue_get(Q, slow[0].id, &j), 0);
    cr_assert_eq(j.state, JOB_CANCELLED, "the running job was cancelled");
    store_completion c = { slow[0].id, slow[0].lease_token, "{}" };
    cr_assert_eq(queue_complete(Q, &c, 1), 0);
    cr_assert_neq(c.rc, 0, "its worker can no longer complete it");
    fs_job_clear(&j);
    fs_jobs_free(slow, n);
    fs_run_clear(&r);
    fs_run_tasks_free(t, nt);
}

Test(workflow, an_attempt_past_its_timeout_is_cancelled_and_retried)
{
    reg("{'name':'to','steps':[{'id':'s','agent':'t','job_type':'S','timeout_ms':500,"
        "'retries':{'max':1,'backoff':'fixed','initial_ms':100}}]}");
    int64_t id = start("to", NULL);
    queue_lease_req lr = { .agent_id = "ag_t", .agent_type = "t", .max = 1,
                           .lease_ms = 60000 }; /* a worker that heartbeats on */
    fs_job *held;
    size_t n;
    cr_assert_eq(queue_lease(Q, &lr, &held, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(workflow_process(W), 0);
    NOW += 499;
    cr_assert_eq(workflow_process(W), 0);
    cr_assert_eq(count_events(id, "step_timed_out"), 0);
    NOW += 1;
    cr_assert_eq(workflow_process(W), 0);
    cr_assert_eq(count_events(id, "step_timed_out"), 1);
    fs_job j;
    cr_assert_eq(queue_get(Q, held[0].id, &j), 0);
    cr_assert_eq(j.state, JOB_CANCELLED);
    fs_job_clear(&j);
    fs_jobs_free(held, n);
    NOW += 100;
    cr_assert_eq(drive(id, echo), RUN_COMPLETED);
    cr_assert_eq(count_events(id, "step_retried"), 1);
}

Test(workflow, the_workflow_timeout_fails_the_run)
{
    reg("{'name':'wt','timeout_ms':1000,'steps':[{'id':'s','agent':'t','job_type':'S'}]}");
    int64_t id = start("wt", NULL);
    NOW += 1000;
    cr_assert_eq(workflow_process(W), 0);
    fs_run r = run_get(id, NULL, NULL);
    cr_assert_eq(r.state, RUN_FAILED);
    cr_assert(strstr(r.error, "timed out"), "%s", r.error);
    fs_run_clear(&r);
    cr_assert_eq(count_events(id, "run_timed_out"), 1);
}

Test(workflow, on_failure_continue_goes_on)
{
    reg("{'name':'cont','steps':[{'id':'a','agent':'t','job_type':'FLAKY','on_failure':'continue'},"
        "{'id':'b','agent':'t','job_type':'B','depends_on':['a'],'input':{'a':'{{steps.a.output}}'}}]}");
    FAILS_LEFT = 1;
    int64_t id = start("cont", NULL);
    cr_assert_eq(drive(id, flaky), RUN_COMPLETED);
    fs_run_task *t;
    size_t n;
    fs_run r = run_get(id, &t, &n);
    cr_assert_eq(task(t, n, 0)->state, TASK_FAILED);
    cr_assert_str_eq(task(t, n, 0)->error, "flaky");
    cr_assert_eq(task(t, n, 1)->state, TASK_COMPLETED);
    fs_run_clear(&r);
    fs_run_tasks_free(t, n);
}

Test(workflow, on_failure_compensate_runs_the_compensation_then_fails)
{
    LOG[0] = 0;
    reg("{'name':'saga','steps':[{'id':'book','agent':'t','job_type':'BOOK'},"
        "{'id':'pay','agent':'t','job_type':'FLAKY','depends_on':['book'],"
        " 'on_failure':'compensate','compensate':'unbook'},"
        "{'id':'unbook','agent':'t','job_type':'UNBOOK','depends_on':['book'],"
        " 'input':{'booking':'{{steps.book.output.type}}'}}]}");
    FAILS_LEFT = 1;
    int64_t id = start("saga", NULL);
    cr_assert_eq(drive(id, flaky), RUN_FAILED);
    cr_assert_str_eq(LOG, "BOOK FLAKY UNBOOK ");
    fs_run r = run_get(id, NULL, NULL);
    cr_assert(strstr(r.error, "step pay failed") && strstr(r.error, "unbook"), "%s", r.error);
    fs_run_clear(&r);
    json_t *o = output(id, 2); /* unbook: book 0, pay 1, unbook 2 */
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(o, "input"),
                                                       "booking")), "BOOK");
    json_decref(o);
}

/* --- cancel, retry, restart ----------------------------------------------------- */

Test(workflow, cancel_stops_running_jobs_and_starts_nothing_new)
{
    reg("{'name':'c','steps':[{'id':'a','agent':'t','job_type':'A'},"
        "{'id':'b','agent':'t','job_type':'B','depends_on':['a']}]}");
    int64_t id = start("c", NULL);
    queue_lease_req lr = { .agent_id = "ag_t", .agent_type = "t", .max = 1 };
    fs_job *held;
    size_t n;
    cr_assert_eq(queue_lease(Q, &lr, &held, &n), 0);
    fs_run r;
    cr_assert_eq(workflow_cancel(W, id, &r), 0);
    cr_assert_eq(r.state, RUN_CANCELLED);
    fs_run_clear(&r);
    cr_assert_eq(workflow_cancel(W, id, NULL), FS_ESTATE);
    store_completion c = { held[0].id, held[0].lease_token, "{}" };
    cr_assert_eq(queue_complete(Q, &c, 1), 0);
    cr_assert_neq(c.rc, 0, "the cancelled job cannot complete");
    fs_jobs_free(held, n);
    cr_assert_eq(workflow_process(W), 0);
    cr_assert_eq(work_once(echo, &n), false, "nothing new was started");
    cr_assert_eq(count_events(id, "run_cancelled"), 1);
}

Test(workflow, retry_resumes_from_the_failed_step)
{
    LOG[0] = 0;
    reg("{'name':'rt','steps':[{'id':'a','agent':'t','job_type':'A'},"
        "{'id':'b','agent':'t','job_type':'FLAKY','depends_on':['a']},"
        "{'id':'c','agent':'t','job_type':'C','depends_on':['b']}]}");
    FAILS_LEFT = 1;
    int64_t id = start("rt", NULL);
    cr_assert_eq(drive(id, flaky), RUN_FAILED);
    cr_assert_eq(workflow_retry(W, 999999, NULL), FS_ENOTFOUND);
    fs_run r;
    cr_assert_eq(workflow_retry(W, id, &r), 0);
    cr_assert_eq(r.state, RUN_RUNNING);
    fs_run_clear(&r);
    cr_assert_eq(workflow_retry(W, id, NULL), FS_ESTATE, "only a failed run");
    cr_assert_eq(drive(id, flaky), RUN_COMPLETED);
    cr_assert_str_eq(LOG, "A FLAKY FLAKY C ", "a ran once; b again; then c");
    cr_assert_eq(count_events(id, "run_retried"), 1);
}

Test(workflow, a_restart_between_completion_and_the_engine_loses_nothing)
{
    reg("{'name':'rs','steps':[{'id':'a','agent':'t','job_type':'A'},"
        "{'id':'b','agent':'t','job_type':'B','depends_on':['a']}]}");
    int64_t id = start("rs", NULL);
    size_t n;
    work_once(echo, &n); /* a completes; the engine has not looked yet */
    cr_assert_eq(n, 1);
    close_services();
    tdb_reopen(&T);
    open_services(); /* opening applies the waiting signals */
    work_once(echo, &n);
    cr_assert_eq(n, 1, "b was scheduled after the restart");
    cr_assert_eq(drive(id, echo), RUN_COMPLETED);
    cr_assert_eq(count_events(id, "step_completed"), 2);
}

Test(workflow, bad_inputs_and_unknown_workflows_are_refused)
{
    reg("{'name':'in','inputs':{'need':{}},'steps':[{'id':'a','agent':'t','job_type':'A'}]}");
    fs_run r;
    char err[256] = "";
    cr_assert_eq(workflow_start(W, "nope", 0, NULL, &r, err, sizeof err), FS_ENOTFOUND);
    cr_assert_eq(workflow_start(W, "in", 0, NULL, &r, err, sizeof err), FS_EINVAL);
    cr_assert(strstr(err, "need"), "%s", err);
    json_t *bad = def("{'need':1,'extra':2}");
    cr_assert_eq(workflow_start(W, "in", 0, bad, &r, err, sizeof err), FS_EINVAL);
    cr_assert(strstr(err, "extra"), "%s", err);
    json_decref(bad);
    fs_run *runs;
    store_run_filter f = { .state = -1, .limit = 10 };
    size_t n;
    cr_assert_eq(workflow_runs(W, &f, &runs, &n), 0);
    cr_assert_eq(n, 0, "nothing half-stored");
    fs_runs_free(runs, n);
}

/* --- the templates that ship ----------------------------------------------------- */

/* A stand-in for the built-in agents: echoes, and scores leads 0.9. */
static char *stand_in(const fs_job *j, const char **error)
{
    if (!strcmp(j->type, "predict_success")) return strdup("{\"probability\":0.9}");
    return echo(j, error);
}

Test(workflow, every_shipped_template_registers_and_runs)
{
    cr_assert_geq(wf_ntemplates, 4);
    cr_assert_eq(workflow_install_templates(W), (int)wf_ntemplates);
    cr_assert_eq(workflow_install_templates(W), 0, "a second install adds nothing");
    const char *inputs[][2] = {
        { "code_review", "{'path':'src/core'}" },
        { "data_processing", "{'source':'leads.csv','required':['email']}" },
        { "system_monitoring", NULL },
        { "lead_qualification", "{'lead':{'name':'Ada','company':'Acme'}}" },
    };
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) {
        LOG[0] = 0;
        int64_t id = start(inputs[i][0], inputs[i][1]);
        cr_assert_eq(drive(id, stand_in), RUN_COMPLETED, "%s", inputs[i][0]);
        fs_run r = run_get(id, NULL, NULL);
        json_t *tj = NULL;
        for (size_t k = 0; k < wf_ntemplates && !tj; k++)
            if (!strcmp(wf_templates[k].name, inputs[i][0]))
                tj = json_loads(wf_templates[k].json, 0, NULL);
        cr_assert_eq(r.version, json_integer_value(json_object_get(tj, "version")),
                     "the run records the template version");
        json_decref(tj);
        fs_run_clear(&r);
        cr_assert_eq(count_events(id, "step_skipped"), 0, "%s: %s", inputs[i][0], LOG);
    }
}

Test(workflow, a_fan_out_wider_than_one_change_is_stored_in_parts)
{
    json_t *fan = json_pack("{s:s,s:[]}", "name", "wider", "steps");
    for (int i = 0; i < 2500; i++) {
        char id[16];
        snprintf(id, sizeof id, "s%d", i);
        json_array_append_new(json_object_get(fan, "steps"),
                              json_pack("{s:s,s:s,s:s}", "id", id, "agent", "t",
                                        "job_type", "N"));
    }
    json_t *problems;
    cr_assert_eq(workflow_register(W, fan, NULL, NULL, &problems), 0);
    json_decref(problems);
    json_decref(fan);
    int64_t id = start("wider", NULL); /* 1000 + 1000 + 500 jobs, 3 commits */
    cr_assert_eq(count_events(id, "step_scheduled"), 2500);
    size_t n, total = 0;
    for (int i = 0; i < 3; i++) { /* the worker leases 1000 at a time */
        work_once(echo, &n);
        total += n;
    }
    cr_assert_eq(total, 2500, "every step has its job once start returns");
    cr_assert_eq(drive(id, echo), RUN_COMPLETED);
    cr_assert_eq(count_events(id, "step_completed"), 2500);
}
