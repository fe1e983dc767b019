/*
 * test_workflow_api.c - workflow definitions and runs over HTTP, black
 * box: each test starts the real `flowstate serve` (tests/support/
 * harness.h) and plays both the client and the worker (an agent leasing
 * and completing the steps' jobs with its token, from the test thread).
 *
 *   definitions      register (201 + Location), list (with the four
 *                    templates), get (latest, ?version=), idempotent
 *                    re-register, 409 for another definition under a
 *                    taken version
 *   validation       a table of bad definitions, each refused with 400
 *                    invalid_workflow naming its problem (code, step,
 *                    words of the message), the same problem from
 *                    /v1/workflows/validate, nothing stored; several
 *                    problems come back together; unknown agent types
 *                    warn (201) until an agent of that type registers
 *   runs             start (201, 404, 400 inputs), a diamond with a
 *                    for_each run by the test worker to completion
 *                    (steps, attempts, outputs, an ordered event
 *                    timeline with RFC 3339 times), listing with filters
 *                    and a cursor, cancel (and 409 again), engine
 *                    retries of failed attempts, retry of a failed run
 *                    that re-runs only what failed, attempt timeouts,
 *                    401 without a key, 403 with an agent token
 *   parallelism      four independent steps are leased in one batch and
 *                    all run at once; two agents each hold one at once
 *
 * The worker's answers are a deterministic function of each job's type
 * and payload (answer()), so the outputs a run shows are checkable.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "integration/it.h"
#include "support/harness.h"

static th_server srv;

static void setup(void)
{
    th_server_start(&srv, NULL);
}

/* Every test ends with a clean SIGTERM exit, so a leak or undefined
 * behaviour in the server fails the test that caused it. */
static void teardown(void)
{
    if (srv.pid > 0) {
        int code = th_server_stop(&srv);
        if (code != 0) {
            char *log = th_server_log(&srv);
            cr_expect_eq(code, 0, "server exit %d; stderr:\n%s", code, log);
            free(log);
        }
    }
    th_server_cleanup(&srv);
}

TestSuite(workflow_api, .init = setup, .fini = teardown, .timeout = 120);

/* The end of every test: SIGTERM, and the server must exit 0 (an
 * assertion in .fini is reported but does not fail the test). */
static void stop_clean(void)
{
    int code = th_server_stop(&srv);
    char *log = th_server_log(&srv);
    cr_assert_eq(code, 0, "server exit %d; stderr:\n%s", code, log);
    free(log);
}

/* --- helpers -------------------------------------------------------------- */

static json_t *req(const char *method, const char *path, const char *body,
                   int want)
{
    return it_call(&srv, method, path, body, srv.key, want);
}

static const char *sget(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static json_int_t iget(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static const char *err_code(const json_t *o)
{
    return sget(json_object_get(o, "error"), "code");
}

/* Readable C literals: ' stands for ". */
static char *dq(const char *text)
{
    char *s = strdup(text);
    for (char *p = s; *p; p++)
        if (*p == '\'') *p = '"';
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    cr_assert(j, "bad test JSON: %s in %s", e.text, s);
    json_decref(j);
    return s;
}

/* POST /v1/workflows with def (' for "); returns the answer. */
static json_t *post_def(const char *def, int want)
{
    char *body = dq(def);
    json_t *r = req("POST", "/v1/workflows", body, want);
    free(body);
    return r;
}

static void reg_def(const char *def)
{
    json_decref(post_def(def, 201));
}

static void agent(const char *name, const char *type, it_agent *out)
{
    it_register(&srv, name, type, NULL, out);
}

/* The problem of this code (and step, when step is not NULL) whose
 * message contains needle, or NULL. */
static json_t *find_problem(json_t *problems, const char *code,
                            const char *step, const char *needle)
{
    size_t i;
    json_t *p;
    json_array_foreach(problems, i, p)
    {
        const char *c = sget(p, "code"), *m = sget(p, "message");
        const char *st = sget(p, "step");
        if (!c || strcmp(c, code)) continue;
        if (step && (!st || strcmp(st, step))) continue;
        if (needle && (!m || !strstr(m, needle))) continue;
        return p;
    }
    return NULL;
}

static char *dumps(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static int64_t start_run(const char *name, const char *inputs)
{
    char path[256], *body = dq(inputs ? inputs : "{}");
    snprintf(path, sizeof path, "/v1/workflows/%s/runs", name);
    json_t *r = req("POST", path, body, 201);
    cr_assert_str_eq(sget(r, "state"), "running");
    cr_assert_str_eq(sget(r, "workflow"), name);
    int64_t id = iget(r, "id");
    cr_assert_gt(id, 0);
    json_decref(r);
    free(body);
    return id;
}

static json_t *get_run(int64_t id, const char *query)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/runs/%lld%s", (long long)id,
             query ? query : "");
    return req("GET", path, NULL, 200);
}

/* The entry of steps[] with this id. */
static json_t *run_step(json_t *run, const char *id)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(run, "steps"), i, s)
    {
        if (!strcmp(sget(s, "id"), id)) return s;
    }
    cr_assert_fail("run has no step '%s'", id);
    return NULL;
}

static json_t *events_of(int64_t id, const char *query)
{
    char path[160];
    snprintf(path, sizeof path, "/v1/runs/%lld/events%s", (long long)id,
             query ? query : "");
    json_t *r = req("GET", path, NULL, 200);
    json_t *ev = json_incref(json_object_get(r, "events"));
    cr_assert(json_is_array(ev));
    json_decref(r);
    return ev;
}

/* The attempt number in a job's unique key "wf/RUN/STEP/ITEM/ATTEMPT/REV". */
static int key_attempt(const json_t *job)
{
    long long run, rev;
    int step, item, attempt;
    const char *k = sget(job, "unique_key");
    cr_assert(k && sscanf(k, "wf/%lld/%d/%d/%d/%lld", &run, &step, &item,
                          &attempt, &rev) == 5,
              "job key '%s' is not a workflow key", k ? k : "(none)");
    return attempt;
}

/* --- the test worker ------------------------------------------------------ */

/*
 * The deterministic answer to a job:
 *   seed   {"n":N}        -> {"n":N, "list":[N, N+1, N+2]}
 *   double {"x":X}        -> {"v":2X}
 *   square {"x":X}        -> {"v":X*X}
 *   sum    {"a":A,"b":B}  -> {"v":A+B}
 *   other                 -> {"echo":PAYLOAD}
 */
static json_t *answer(const char *type, const json_t *p)
{
    json_int_t n = iget(p, "n"), x = iget(p, "x");
    if (!strcmp(type, "seed"))
        return json_pack("{s:I,s:[I,I,I]}", "n", n, "list", n, n + 1, n + 2);
    if (!strcmp(type, "double")) return json_pack("{s:I}", "v", 2 * x);
    if (!strcmp(type, "square")) return json_pack("{s:I}", "v", x * x);
    if (!strcmp(type, "sum"))
        return json_pack("{s:I}", "v", iget(p, "a") + iget(p, "b"));
    return json_pack("{s:O}", "echo", p);
}

/* Leases up to max jobs as ag (waiting up to wait_ms); the answer's
 * "jobs" array (new reference). */
static json_t *lease(const it_agent *ag, int max, int wait_ms)
{
    char *body = it_body("{s:i,s:i}", "max", max, "wait_ms", wait_ms);
    json_t *r = it_call(&srv, "POST", "/v1/jobs/lease", body, ag->token, 200);
    json_t *jobs = json_incref(json_object_get(r, "jobs"));
    cr_assert(json_is_array(jobs));
    json_decref(r);
    free(body);
    return jobs;
}

/* Completes job with result (stolen).  lost_ok: a 409 lease_lost (the
 * engine cancelled the job: its run failed) is accepted too.  Returns
 * true when the job completed. */
static bool complete_ex(const it_agent *ag, const json_t *job, json_t *result,
                        bool lost_ok)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/jobs/%lld/complete",
             (long long)iget(job, "id"));
    json_t *b = json_pack("{s:s,s:o}", "lease_token", sget(job, "lease_token"),
                          "result", result);
    char *body = dumps(b);
    int st;
    json_t *r = it_try_json(&srv, "POST", path, body, ag->token, &st);
    bool lost = st == 409 && r && !strcmp(err_code(r), "lease_lost");
    char *text = dumps(r);
    cr_assert(st == 200 || (lost && lost_ok), "POST %s: %d %s", path, st, text);
    if (st == 200) cr_assert_str_eq(sget(r, "state"), "completed");
    free(text);
    json_decref(r);
    json_decref(b);
    free(body);
    return !lost;
}

static void complete(const it_agent *ag, const json_t *job, json_t *result)
{
    complete_ex(ag, job, result, false);
}

static void fail_job(const it_agent *ag, const json_t *job, const char *why)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/jobs/%lld/fail",
             (long long)iget(job, "id"));
    char *body = it_body("{s:s,s:s,s:b}", "lease_token",
                         sget(job, "lease_token"), "error", why, "retry", 1);
    json_t *r = it_call(&srv, "POST", path, body, ag->token, 200);
    /* max_attempts 1: a failed attempt is final for the queue; the
     * engine makes the next attempt a new job */
    cr_assert_str_eq(sget(r, "state"), "failed");
    json_decref(r);
    free(body);
}

/* Decides a job's fate: true = fail it with *why. */
typedef bool (*fail_fn)(const json_t *job, const char **why);

static bool never_fail(const json_t *job, const char **why)
{
    (void)job;
    (void)why;
    return false;
}

static const char *run_state(int64_t id)
{
    static char state[32];
    json_t *r = get_run(id, NULL);
    snprintf(state, sizeof state, "%s", sget(r, "state"));
    json_decref(r);
    return state;
}

/*
 * Works as ag until run id is no longer running (or 30 s pass): leases,
 * answers every job (answer(), or a failure when fails says so).  Every
 * job leased is appended to seen (when not NULL).  Returns the run's
 * final state (static).
 */
static const char *work(const it_agent *ag, int64_t id, fail_fn fails,
                        json_t *seen)
{
    int64_t deadline = it_mono_ms() + 30000;
    const char *st;
    while (!strcmp(st = run_state(id), "running")) {
        cr_assert_lt(it_mono_ms(), deadline,
                     "run %lld still running after 30 s", (long long)id);
        json_t *jobs = lease(ag, 10, 200), *j;
        size_t i;
        const char *why = NULL;
        /* the answers first, then the failures (a failure that fails the
         * run cancels the jobs still out) */
        json_array_foreach(jobs, i, j)
        {
            if (seen) json_array_append(seen, j);
            if (!fails(j, &why))
                complete_ex(
                    ag, j,
                    answer(sget(j, "type"), json_object_get(j, "payload")),
                    true);
        }
        json_array_foreach(jobs, i, j) if (fails(j, &why)) fail_job(ag, j, why);
        json_decref(jobs);
    }
    return st;
}

/* Waits until run id leaves "running" (someone else works it). */
static const char *wait_run(int64_t id, const char *want)
{
    int64_t deadline = it_mono_ms() + 15000;
    const char *st;
    while (strcmp(st = run_state(id), want) && it_mono_ms() < deadline)
        it_sleep_ms(20);
    return st;
}

/* --- definitions ---------------------------------------------------------- */

#define DIAMOND                                                                \
    "{'name':'diamond','description':'a, then b and c, then d; e per item',"   \
    " 'inputs':{'n':{'description':'the seed'}},"                              \
    " 'steps':["                                                               \
    "  {'id':'a','agent':'calc','job_type':'seed',"                            \
    "   'input':{'n':'{{inputs.n}}'}},"                                        \
    "  {'id':'b','agent':'calc','job_type':'double','depends_on':['a'],"       \
    "   'input':{'x':'{{steps.a.output.n}}'}},"                                \
    "  {'id':'c','agent':'calc','job_type':'square','depends_on':['a'],"       \
    "   'input':{'x':'{{steps.a.output.n}}'}},"                                \
    "  {'id':'d','agent':'calc','job_type':'sum','depends_on':['b','c'],"      \
    "   'input':{'a':'{{steps.b.output.v}}','b':'{{steps.c.output.v}}'}},"     \
    "  {'id':'e','agent':'calc','job_type':'square','depends_on':['a'],"       \
    "   'for_each':'{{steps.a.output.list}}','input':{'x':'{{item}}'}}]}"

static const char *const TEMPLATES[] = {"code_review", "data_processing",
                                        "lead_qualification",
                                        "system_monitoring"};

/* Checks GET /v1/workflows holds the templates plus extra (NULL-ended),
 * and nothing else. */
static void expect_listed(const char *const *extra)
{
    json_t *r = req("GET", "/v1/workflows", NULL, 200);
    json_t *list = json_object_get(r, "workflows");
    size_t want = 4;
    for (size_t k = 0; extra && extra[k]; k++)
        want++;
    cr_assert_eq(json_array_size(list), want, "workflows: %s", dumps(list));
    for (size_t k = 0; k < want; k++) {
        const char *name = k < 4 ? TEMPLATES[k] : extra[k - 4];
        bool found = false;
        size_t i;
        json_t *w;
        json_array_foreach(list, i, w) found |= !strcmp(sget(w, "name"), name);
        cr_assert(found, "'%s' is not listed: %s", name, dumps(list));
    }
    json_decref(r);
}

Test(workflow_api, register_list_get)
{
    expect_listed(NULL); /* the templates, registered at start */

    char *body = dq(DIAMOND);
    th_request rq = {.method = "POST",
                     .path = "/v1/workflows",
                     .body = body,
                     .body_len = strlen(body),
                     .key = srv.key};
    th_response resp;
    th_http_ex(&srv, &rq, &resp);
    cr_assert_eq(resp.status, 201, "register: %d %s", resp.status, resp.body);
    char loc[256];
    cr_assert(th_header(&resp, "Location", loc, sizeof loc), "no Location");
    cr_assert_str_eq(loc, "/v1/workflows/diamond");
    json_t *r = json_loads(resp.body, 0, NULL);
    cr_assert_str_eq(sget(r, "name"), "diamond");
    cr_assert_eq(iget(r, "version"), 1);
    cr_assert(json_is_array(json_object_get(r, "warnings")));
    json_decref(r);
    th_response_free(&resp);

    const char *mine[] = {"diamond", NULL};
    expect_listed(mine);

    json_t *w = req("GET", "/v1/workflows/diamond", NULL, 200);
    cr_assert_str_eq(sget(w, "name"), "diamond");
    cr_assert_eq(iget(w, "version"), 1);
    cr_assert_str_eq(sget(w, "description"),
                     "a, then b and c, then d; e per item");
    json_t *def = json_object_get(w, "definition");
    json_t *steps = json_object_get(def, "steps");
    cr_assert_eq(json_array_size(steps), 5);
    const char *ids[] = {"a", "b", "c", "d", "e"};
    for (size_t i = 0; i < 5; i++)
        cr_assert_str_eq(sget(json_array_get(steps, i), "id"), ids[i]);
    json_t *d = json_array_get(steps, 3);
    json_t *want = json_pack("[s,s]", "b", "c");
    cr_assert(json_equal(json_object_get(d, "depends_on"), want));
    json_decref(want);
    cr_assert_str_eq(sget(json_array_get(steps, 4), "for_each"),
                     "{{steps.a.output.list}}");
    json_decref(w);

    /* the same again: idempotent */
    r = req("POST", "/v1/workflows", body, 201);
    cr_assert_eq(iget(r, "version"), 1);
    json_decref(r);
    expect_listed(mine);

    /* another definition under version 1: 409 */
    r = post_def("{'name':'diamond','steps':[{'id':'only','agent':'calc',"
                 "'job_type':'seed'}]}",
                 409);
    cr_assert_str_eq(err_code(r), "conflict");
    json_decref(r);
    w = req("GET", "/v1/workflows/diamond", NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(
                     json_object_get(w, "definition"), "steps")),
                 5, "the 409 changed the stored definition");
    json_decref(w);

    /* version 2 is the latest; version 1 stays readable */
    reg_def("{'name':'diamond','version':2,'steps':[{'id':'only',"
            "'agent':'calc','job_type':'seed'}]}");
    w = req("GET", "/v1/workflows/diamond", NULL, 200);
    cr_assert_eq(iget(w, "version"), 2);
    json_decref(w);
    w = req("GET", "/v1/workflows/diamond?version=1", NULL, 200);
    cr_assert_eq(iget(w, "version"), 1);
    cr_assert_eq(json_array_size(json_object_get(
                     json_object_get(w, "definition"), "steps")),
                 5);
    json_decref(w);
    r = req("GET", "/v1/workflows", NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(r, "workflows")), 5,
                 "one entry per workflow (its latest version)");
    json_decref(r);
    json_decref(req("GET", "/v1/workflows/diamond?version=3", NULL, 404));
    json_decref(req("GET", "/v1/workflows/nope", NULL, 404));
    json_decref(req("GET", "/v1/workflows/diamond?version=zero", NULL, 400));
    free(body);
    stop_clean();
}

/* --- validation ----------------------------------------------------------- */

#define S(id) "'id':'" id "','agent':'calc','job_type':'j'"

typedef struct bad_case {
    const char *what;
    const char *def; /* ' for " */
    const char *code;
    const char *step;   /* the problem's step, or NULL for none */
    const char *needle; /* in its message */
} bad_case;

/* clang-format off */
static const bad_case BAD[] = {
    { "two-step cycle", "{'name':'bad','steps':[{" S("a") ",'depends_on':['b']},"
      "{" S("b") ",'depends_on':['a']}]}", "cycle", "a", "cycle: a -> b -> a" },
    { "three-step cycle", "{'name':'bad','steps':[{" S("a") ",'depends_on':['c']},"
      "{" S("b") ",'depends_on':['a']},{" S("c") ",'depends_on':['b']}]}",
      "cycle", "a", "a -> b -> c -> a" },
    { "a cycle behind a good step", "{'name':'bad','steps':[{" S("ok") "},"
      "{" S("x") ",'depends_on':['ok','y']},{" S("y") ",'depends_on':['x']}]}",
      "cycle", "x", "x -> y -> x" },
    { "a step waiting for itself", "{'name':'bad','steps':[{" S("a")
      ",'depends_on':['a']}]}", "cycle", "a", "a -> a" },
    { "unknown dependency", "{'name':'bad','steps':[{" S("a") "},{" S("b")
      ",'depends_on':['a','ghost']}]}", "unknown_dependency", "b", "'ghost'" },
    { "duplicate id", "{'name':'bad','steps':[{" S("a") "},{" S("b") "},{" S("a")
      "}]}", "duplicate_id", "a", "duplicate step id 'a'" },
    { "reference to a sibling", "{'name':'bad','steps':[{" S("a") "},"
      "{" S("b") ",'depends_on':['a']},{" S("c") ",'depends_on':['a'],"
      "'input':{'v':'{{steps.b.output}}'}}]}", "not_upstream", "c",
      "'b' is not upstream" },
    { "reference to a downstream step", "{'name':'bad','steps':[{" S("a")
      ",'input':{'v':'{{steps.b.output.x}}'}},{" S("b") ",'depends_on':['a']}]}",
      "not_upstream", "a", "'b' is not upstream" },
    { "reference to its own output", "{'name':'bad','steps':[{" S("a")
      ",'input':'{{steps.a.output}}'}]}", "not_upstream", "a", "its own output" },
    { "when on a step not upstream", "{'name':'bad','steps':[{" S("a") "},{" S("b")
      ",'when':'steps.a.output.x > 1'}]}", "not_upstream", "b", "when uses" },
    { "for_each over a step not upstream", "{'name':'bad','steps':[{" S("a")
      "},{" S("b") ",'for_each':'{{steps.a.output.l}}'}]}", "not_upstream", "b",
      "for_each uses" },
    { "undeclared input", "{'name':'bad','inputs':{'n':{}},'steps':[{" S("a")
      ",'input':{'v':'{{inputs.nope}}'}}]}", "unknown_variable", "a",
      "no input 'nope'" },
    { "unknown root", "{'name':'bad','steps':[{" S("a")
      ",'input':['x {{secrets.key}} y']}]}", "unknown_variable", "a",
      "{{secrets.key}}" },
    { "no such step", "{'name':'bad','steps':[{" S("a")
      ",'input':{'v':'{{steps.zz.output}}'}}]}", "unknown_variable", "a",
      "no step 'zz'" },
    { "step without output", "{'name':'bad','steps':[{" S("a") "},{" S("b")
      ",'depends_on':['a'],'input':'{{steps.a.result}}'}]}", "unknown_variable",
      "b", "{{steps.ID.output}}" },
    { "item outside for_each", "{'name':'bad','steps':[{" S("a")
      ",'input':{'v':'{{item}}'}}]}", "unknown_variable", "a", "for_each" },
    { "run.name", "{'name':'bad','steps':[{" S("a")
      ",'input':{'v':'{{run.name}}'}}]}", "unknown_variable", "a", "run.id" },
    { "undeclared input in when", "{'name':'bad','steps':[{" S("a")
      ",'when':'inputs.mode == 1'}]}", "unknown_variable", "a", "'mode'" },
    { "retries.max negative", "{'name':'bad','steps':[{" S("a")
      ",'retries':{'max':-1}}]}", "bad_retries", "a", "retries.max" },
    { "retries.max over 100", "{'name':'bad','steps':[{" S("a")
      ",'retries':{'max':101}}]}", "bad_retries", "a", "from 0 to 100" },
    { "retries.max a string", "{'name':'bad','steps':[{" S("a")
      ",'retries':{'max':'3'}}]}", "bad_retries", "a", "retries.max" },
    { "unknown backoff", "{'name':'bad','steps':[{" S("a")
      ",'retries':{'max':2,'backoff':'linear'}}]}", "bad_retries", "a",
      "'linear'" },
    { "negative initial_ms", "{'name':'bad','steps':[{" S("a")
      ",'retries':{'initial_ms':-5}}]}", "bad_retries", "a", "initial_ms" },
    { "max_ms below initial_ms", "{'name':'bad','steps':[{" S("a")
      ",'retries':{'initial_ms':500,'max_ms':100}}]}", "bad_retries", "a",
      "max_ms 100 is below initial_ms 500" },
    { "retries not an object", "{'name':'bad','steps':[{" S("a")
      ",'retries':3}]}", "bad_retries", "a", "must be an object" },
    { "timeout 0", "{'name':'bad','steps':[{" S("a") ",'timeout_ms':0}]}",
      "bad_timeout", "a", "timeout_ms" },
    { "timeout negative", "{'name':'bad','steps':[{" S("a") ",'timeout_ms':-1}]}",
      "bad_timeout", "a", "timeout_ms" },
    { "timeout over 24 h", "{'name':'bad','steps':[{" S("a")
      ",'timeout_ms':86400001}]}", "bad_timeout", "a", "86400000" },
    { "timeout a string", "{'name':'bad','steps':[{" S("a")
      ",'timeout_ms':'1000'}]}", "bad_timeout", "a", "timeout_ms" },
    { "timeout a fraction", "{'name':'bad','steps':[{" S("a")
      ",'timeout_ms':1.5}]}", "bad_timeout", "a", "timeout_ms" },
    { "workflow timeout 0", "{'name':'bad','timeout_ms':0,'steps':[{" S("a")
      "}]}", "bad_timeout", NULL, "the workflow's timeout_ms" },
    { "workflow timeout over 30 days", "{'name':'bad','timeout_ms':2592000001,"
      "'steps':[{" S("a") "}]}", "bad_timeout", NULL, "2592000000" },
    /* and the other codes of wfdef.h, briefly */
    { "no steps", "{'name':'bad','steps':[]}", "missing_field", NULL, "steps" },
    { "no job_type", "{'name':'bad','steps':[{'id':'a','agent':'calc'}]}",
      "missing_field", "a", "job_type" },
    { "a typo'd field", "{'name':'bad','steps':[{" S("a") ",'depend_on':['x']}]}",
      "unknown_field", "a", "did you mean 'depends_on'" },
    { "a bad step id", "{'name':'bad','steps':[{" S("a b") "}]}", "bad_value",
      NULL, "'a b'" },
    { "a bad condition", "{'name':'bad','steps':[{" S("a") ",'when':'1 <'}]}",
      "bad_condition", "a", "column" },
    { "a bad for_each", "{'name':'bad','steps':[{" S("a")
      ",'for_each':'not a reference'}]}", "bad_for_each", "a", NULL },
    { "a bad template", "{'name':'bad','steps':[{" S("a")
      ",'input':{'v':'{{ inputs.x'}}]}", "bad_template", "a", "without" },
    { "an unknown on_failure", "{'name':'bad','steps':[{" S("a")
      ",'on_failure':'shrug'}]}", "bad_on_failure", "a", "shrug" },
    { "an unknown compensation", "{'name':'bad','steps':[{" S("a")
      ",'on_failure':'compensate','compensate':'undo'}]}",
      "unknown_compensation", "a", "undo" },
    { "a step depending on a compensation", "{'name':'bad','steps':[{" S("a")
      ",'on_failure':{'compensate':'undo'}},{" S("undo") "},{" S("b")
      ",'depends_on':['undo']}]}", "bad_compensation", "b", NULL },
};
/* clang-format on */

/* One bad definition through register and validate. */
static void check_bad(const bad_case *c)
{
    char *body = dq(c->def);
    int status;
    json_t *r =
        it_try_json(&srv, "POST", "/v1/workflows", body, srv.key, &status);
    char *text = dumps(r);
    cr_assert_eq(status, 400, "%s: register answered %d %s", c->what, status,
                 text);
    json_t *err = json_object_get(r, "error");
    cr_assert_str_eq(sget(err, "code"), "invalid_workflow", "%s: %s", c->what,
                     text);
    cr_assert(sget(err, "message") && *sget(err, "message"), "%s: no message",
              c->what);
    json_t *problems = json_object_get(err, "problems");
    json_t *p = find_problem(problems, c->code, c->step, c->needle);
    cr_assert(p, "%s: no problem %s (step %s, message with \"%s\") in %s",
              c->what, c->code, c->step ? c->step : "null",
              c->needle ? c->needle : "", text);
    cr_assert_str_eq(sget(p, "severity"), "error", "%s: %s", c->what, text);
    if (!c->step)
        cr_assert(json_is_null(json_object_get(p, "step")), "%s: step %s",
                  c->what, text);
    free(text);

    /* /validate says the same and stores nothing either */
    json_t *v = req("POST", "/v1/workflows/validate", body, 200);
    cr_assert(json_is_false(json_object_get(v, "valid")), "%s: valid", c->what);
    cr_assert(json_equal(json_object_get(v, "problems"), problems),
              "%s: validate found other problems: %s", c->what,
              dumps(json_object_get(v, "problems")));
    json_decref(v);
    json_decref(r);
    free(body);
}

Test(workflow_api, every_validation_problem_is_named)
{
    for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++)
        check_bad(&BAD[i]);
    json_decref(req("GET", "/v1/workflows/bad", NULL, 404));
    expect_listed(NULL);
    stop_clean();
}

Test(workflow_api, several_problems_come_back_together)
{
    const char *def =
        "{'name':'many','timeout_ms':-3,'steps':["
        " {" S(
            "a") ",'depends_on':['c'],'retries':{'max':500}},"
                 " {" S(
                     "b") ",'depends_on':['a']},"
                          " {" S(
                              "c") ",'depends_on':['b']},"
                                   " {" S(
                                       "d") ",'depends_on':['nowhere'],'"
                                            "timeout_ms':0},"
                                            " {" S(
                                                "e") ",'input':{'x':'{{inputs."
                                                     "missing}}','y':'{{steps."
                                                     "f.output}}'}},"
                                                     " {" S("f") "},"
                                                                 " {" S(
                                                                     "d") "}]}";
    json_t *r = post_def(def, 400);
    json_t *err = json_object_get(r, "error");
    cr_assert_str_eq(sget(err, "code"), "invalid_workflow");
    json_t *problems = json_object_get(err, "problems");
    char *text = dumps(problems);
    struct {
        const char *code, *step, *needle;
    } want[] = {
        {"cycle", "a", "a -> b -> c -> a"},
        {"bad_retries", "a", "retries.max"},
        {"unknown_dependency", "d", "'nowhere'"},
        {"bad_timeout", "d", "timeout_ms"},
        {"bad_timeout", NULL, "the workflow's timeout_ms"},
        {"unknown_variable", "e", "'missing'"},
        {"not_upstream", "e", "'f' is not upstream"},
        {"duplicate_id", "d", "'d'"},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        cr_assert(
            find_problem(problems, want[i].code, want[i].step, want[i].needle),
            "no %s (%s) among %s", want[i].code, want[i].needle, text);
    cr_assert(strstr(sget(err, "message"), "and more"),
              "the message does not say there is more: %s",
              sget(err, "message"));
    json_t *v = post_def(def, 400);
    cr_assert(
        json_equal(json_object_get(json_object_get(v, "error"), "problems"),
                   problems),
        "the same definition drew other problems the second time");
    json_decref(v);
    char *body = dq(def);
    v = req("POST", "/v1/workflows/validate", body, 200);
    cr_assert(json_is_false(json_object_get(v, "valid")));
    cr_assert(json_equal(json_object_get(v, "problems"), problems),
              "validate: %s", dumps(json_object_get(v, "problems")));
    json_decref(v);
    free(body);
    free(text);
    json_decref(r);
    json_decref(req("GET", "/v1/workflows/many", NULL, 404));
    stop_clean();
}

Test(workflow_api, unknown_agent_type_warns_until_one_registers)
{
    const char *def =
        "{'name':'ghostly','steps':[{'id':'a','agent':'phantom',"
        "'job_type':'j'},{'id':'b','agent':'phantom','job_type':'j',"
        "'depends_on':['a']},{'id':'c','agent':'calc','job_type':'j'}]}";
    /* no agent at all */
    json_t *r = post_def(def, 201);
    json_t *w = json_object_get(r, "warnings");
    cr_assert_eq(json_array_size(w), 2, "one warning per agent type: %s",
                 dumps(w));
    json_t *p = find_problem(w, "unknown_agent", "a", "'phantom'");
    cr_assert(p, "warnings: %s", dumps(w));
    cr_assert_str_eq(sget(p, "severity"), "warning");
    cr_assert(find_problem(w, "unknown_agent", "c", "'calc'"));
    json_decref(r);

    /* an agent of type calc: only phantom warns */
    it_agent calc, phantom;
    agent("calc-1", "calc", &calc);
    char *body = dq(def);
    json_t *v = req("POST", "/v1/workflows/validate", body, 200);
    cr_assert(json_is_true(json_object_get(v, "valid")));
    cr_assert_eq(json_array_size(json_object_get(v, "problems")), 1, "%s",
                 dumps(v));
    cr_assert(find_problem(json_object_get(v, "problems"), "unknown_agent", "a",
                           "'phantom'"));
    json_decref(v);

    /* and with phantom registered, no warning (re-registering is fine) */
    agent("phantom-1", "phantom", &phantom);
    r = req("POST", "/v1/workflows", body, 201);
    cr_assert_eq(json_array_size(json_object_get(r, "warnings")), 0, "%s",
                 dumps(r));
    json_decref(r);
    v = req("POST", "/v1/workflows/validate", body, 200);
    cr_assert(json_is_true(json_object_get(v, "valid")));
    cr_assert_eq(json_array_size(json_object_get(v, "problems")), 0, "%s",
                 dumps(v));
    json_decref(v);
    free(body);
    stop_clean();
}

Test(workflow_api, validate_stores_nothing)
{
    it_agent calc;
    agent("calc-1", "calc", &calc);
    char *body = dq(DIAMOND);
    json_t *v = req("POST", "/v1/workflows/validate", body, 200);
    json_t *want = json_pack("{s:b,s:[]}", "valid", 1, "problems");
    cr_assert(json_equal(v, want), "validate: %s", dumps(v));
    json_decref(want);
    json_decref(v);
    free(body);
    json_decref(req("GET", "/v1/workflows/diamond", NULL, 404));
    expect_listed(NULL);
    json_t *r = req("POST", "/v1/workflows/validate", "{not json", 400);
    cr_assert_str_eq(err_code(r), "invalid_json");
    json_decref(r);
    r = req("POST", "/v1/workflows", "[1,2]", 400);
    json_decref(r);
    stop_clean();
}

/* --- runs ----------------------------------------------------------------- */

Test(workflow_api, run_start_errors)
{
    reg_def(DIAMOND);
    json_t *r = req("POST", "/v1/workflows/nope/runs", "{}", 404);
    cr_assert_str_eq(err_code(r), "not_found");
    json_decref(r);
    r = req("POST", "/v1/workflows/diamond/runs",
            "{\"inputs\":{\"n\":1},"
            "\"version\":7}",
            404);
    json_decref(r);

    struct {
        const char *body, *needle;
    } bad[] = {
        {"{\"inputs\":{\"n\":1,\"bogus\":2}}", "'bogus'"},
        {"{\"inputs\":{}}", "missing input 'n'"},
        {"{}", "missing input 'n'"},
        {"{\"inputs\":{\"m\":1}}", "unknown input 'm'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        r = req("POST", "/v1/workflows/diamond/runs", bad[i].body, 400);
        json_t *e = json_object_get(r, "error");
        cr_assert_str_eq(sget(e, "code"), "invalid_field", "%s", bad[i].body);
        cr_assert_str_eq(sget(e, "field"), "inputs");
        cr_assert(strstr(sget(e, "message"), bad[i].needle), "%s: %s",
                  bad[i].body, sget(e, "message"));
        json_decref(r);
    }
    json_decref(
        req("POST", "/v1/workflows/diamond/runs", "{\"inputs\":[1]}", 400));
    json_decref(
        req("POST", "/v1/workflows/diamond/runs", "{\"input\":{}}", 400));
    json_decref(req("POST", "/v1/workflows/diamond/runs",
                    "{\"inputs\":{\"n\":1},"
                    "\"version\":0}",
                    400));
    r = req("GET", "/v1/runs", NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(r, "runs")), 0,
                 "a refused start left a run: %s", dumps(r));
    json_decref(r);
    json_decref(req("GET", "/v1/runs/999", NULL, 404));
    json_decref(req("GET", "/v1/runs/abc", NULL, 404));
    json_decref(req("GET", "/v1/runs/999/events", NULL, 404));
    json_decref(req("POST", "/v1/runs/999/cancel", NULL, 404));
    json_decref(req("POST", "/v1/runs/999/retry", NULL, 404));
    stop_clean();
}

/* "YYYY-MM-DDTHH:MM:SS[.fff](Z|+hh:mm)", RFC 3339. */
static bool rfc3339(const char *s)
{
    regex_t re;
    int rc = regcomp(&re,
                     "^[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:"
                     "[0-6][0-9](\\.[0-9]+)?(Z|[+-][0-2][0-9]:[0-5][0-9])$",
                     REG_EXTENDED | REG_NOSUB);
    cr_assert_eq(rc, 0);
    bool ok = s && regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

/* The position in ev of the first event of type (and step, item) at or
 * after from; -1 when none. */
static int ev_find(json_t *ev, int from, const char *type, const char *step,
                   int item)
{
    for (size_t i = (size_t)from; i < json_array_size(ev); i++) {
        json_t *e = json_array_get(ev, i);
        json_t *it = json_object_get(e, "item");
        if (strcmp(sget(e, "type"), type)) continue;
        if (step && (!sget(e, "step") || strcmp(sget(e, "step"), step)))
            continue;
        if (!step && sget(e, "step")) continue;
        if ((item < 0 && it) || (item >= 0 && iget(e, "item") != item))
            continue;
        return (int)i;
    }
    return -1;
}

static int ev_count(json_t *ev, const char *type, const char *step)
{
    int n = 0;
    size_t i;
    json_t *e;
    json_array_foreach(ev, i, e)
    {
        const char *st = sget(e, "step");
        n += !strcmp(sget(e, "type"), type) &&
             (!step || (st && !strcmp(st, step)));
    }
    return n;
}

/* The timeline of a completed run: ordered, well-formed, each step
 * scheduled -> started -> completed, dependents after their dependencies. */
static void check_timeline(json_t *ev, const char *const *steps, size_t nsteps)
{
    char *text = dumps(ev);
    size_t n = json_array_size(ev);
    cr_assert_geq(n, 2, "%s", text);
    cr_assert_str_eq(sget(json_array_get(ev, 0), "type"), "run_started", "%s",
                     text);
    cr_assert_str_eq(sget(json_array_get(ev, n - 1), "type"), "run_completed",
                     "%s", text);
    json_int_t seq = 0;
    const char *at = "";
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(ev, i);
        cr_assert_gt(iget(e, "seq"), seq, "seq goes back at %zu: %s", i, text);
        seq = iget(e, "seq");
        cr_assert(rfc3339(sget(e, "at")), "event %zu: 'at' %s is not RFC 3339",
                  i, sget(e, "at"));
        /* same format and zone throughout: text order is time order */
        cr_assert_geq(strcmp(sget(e, "at"), at), 0, "time goes back at %zu: %s",
                      i, text);
        at = sget(e, "at");
    }
    for (size_t s = 0; s < nsteps; s++) {
        int sch = ev_find(ev, 0, "step_scheduled", steps[s], -1);
        int done = ev_find(ev, 0, "step_completed", steps[s], -1);
        cr_assert(sch > 0 && done > sch,
                  "step %s: scheduled %d completed %d: %s", steps[s], sch, done,
                  text);
    }
    free(text);
}

Test(workflow_api, diamond_runs_to_completion)
{
    it_agent calc;
    agent("calc-1", "calc", &calc);
    reg_def(DIAMOND);
    char *body = dq("{'inputs':{'n':5}}");
    th_request rq = {.method = "POST",
                     .path = "/v1/workflows/diamond/runs",
                     .body = body,
                     .body_len = strlen(body),
                     .key = srv.key};
    th_response resp;
    th_http_ex(&srv, &rq, &resp);
    cr_assert_eq(resp.status, 201, "%d %s", resp.status, resp.body);
    json_t *r = json_loads(resp.body, 0, NULL);
    int64_t id = iget(r, "id");
    cr_assert_str_eq(sget(r, "state"), "running");
    char loc[64], want_loc[64];
    snprintf(want_loc, sizeof want_loc, "/v1/runs/%lld", (long long)id);
    cr_assert(th_header(&resp, "Location", loc, sizeof loc));
    cr_assert_str_eq(loc, want_loc);
    json_t *in = json_pack("{s:i}", "n", 5);
    cr_assert(json_equal(json_object_get(r, "inputs"), in));
    json_decref(in);
    json_decref(r);
    th_response_free(&resp);
    free(body);

    /* before any work: a scheduled, the rest pending */
    json_t *run = get_run(id, NULL);
    cr_assert_str_eq(sget(run_step(run, "a"), "state"), "scheduled");
    cr_assert_gt(iget(run_step(run, "a"), "job_id"), 0);
    cr_assert_str_eq(sget(run_step(run, "d"), "state"), "pending");
    cr_assert_str_eq(sget(run_step(run, "d"), "agent"), "calc");
    cr_assert_str_eq(sget(run_step(run, "d"), "job_type"), "sum");
    json_decref(run);

    json_t *seen = json_array();
    cr_assert_str_eq(work(&calc, id, never_fail, seen), "completed");
    cr_assert_eq(json_array_size(seen), 7,
                 "4 steps + 3 items, each leased once: %s", dumps(seen));

    run = get_run(id, "?items=1");
    cr_assert_str_eq(sget(run, "state"), "completed");
    cr_assert(rfc3339(sget(run, "finished_at")));
    cr_assert(json_is_null(json_object_get(run, "error")));
    const char *expect[][2] = {
        {"a", "{\"n\":5,\"list\":[5,6,7]}"},
        {"b", "{\"v\":10}"},
        {"c", "{\"v\":25}"},
        {"d", "{\"v\":35}"},
        {"e", "[{\"v\":25},{\"v\":36},{\"v\":49}]"},
    };
    for (size_t i = 0; i < 5; i++) {
        json_t *s = run_step(run, expect[i][0]);
        json_t *want = json_loads(expect[i][1], 0, NULL);
        cr_assert_str_eq(sget(s, "state"), "completed", "step %s",
                         expect[i][0]);
        cr_assert(json_equal(json_object_get(s, "output"), want),
                  "step %s: output %s, want %s", expect[i][0],
                  dumps(json_object_get(s, "output")), expect[i][1]);
        cr_assert(rfc3339(sget(s, "started_at")) &&
                      rfc3339(sget(s, "finished_at")),
                  "step %s: times", expect[i][0]);
        if (strcmp(expect[i][0], "e")) cr_assert_eq(iget(s, "attempts"), 1);
        json_decref(want);
    }
    json_t *e = run_step(run, "e");
    json_t *counts = json_pack("{s:i,s:i}", "completed", 3, "total", 3);
    cr_assert(json_equal(json_object_get(e, "items"), counts), "items: %s",
              dumps(json_object_get(e, "items")));
    json_decref(counts);
    json_t *items = json_object_get(e, "item_tasks");
    cr_assert_eq(json_array_size(items), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *t = json_array_get(items, i);
        cr_assert_str_eq(sget(t, "state"), "completed");
        cr_assert_eq(iget(t, "attempts"), 1);
        cr_assert_eq(iget(json_object_get(t, "output"), "v"),
                     (json_int_t)((5 + i) * (5 + i)));
    }
    /* b and c only started after a finished; d after both */
    cr_assert_geq(strcmp(sget(run_step(run, "b"), "started_at"),
                         sget(run_step(run, "a"), "finished_at")),
                  0);
    cr_assert_geq(strcmp(sget(run_step(run, "d"), "started_at"),
                         sget(run_step(run, "c"), "finished_at")),
                  0);
    json_decref(run);

    /* the timeline */
    json_t *ev = events_of(id, NULL);
    const char *steps[] = {"a", "b", "c", "d", "e"};
    check_timeline(ev, steps, 5);
    int a_done = ev_find(ev, 0, "step_completed", "a", -1);
    int d_sched = ev_find(ev, 0, "step_scheduled", "d", -1);
    cr_assert_gt(ev_find(ev, 0, "step_scheduled", "b", -1), a_done);
    cr_assert_gt(d_sched, ev_find(ev, 0, "step_completed", "b", -1));
    cr_assert_gt(d_sched, ev_find(ev, 0, "step_completed", "c", -1));
    for (int i = 0; i < 3; i++) {
        int st = ev_find(ev, 0, "step_started", "e", i);
        int done = ev_find(ev, 0, "step_completed", "e", i);
        cr_assert(st > a_done && done > st, "item %d: started %d completed %d",
                  i, st, done);
    }
    json_t *fan = json_array_get(ev, ev_find(ev, 0, "step_scheduled", "e", -1));
    cr_assert_eq(iget(fan, "items"), 3, "e's fan-out: %s", dumps(fan));
    cr_assert_eq(ev_count(ev, "step_retried", NULL), 0);

    /* paging: ?after=SEQ&limit=N gives the same events in pieces */
    json_t *all = json_array();
    json_int_t after = 0;
    for (;;) {
        char q[64];
        snprintf(q, sizeof q, "?after=%lld&limit=4", (long long)after);
        json_t *page = events_of(id, q);
        cr_assert_leq(json_array_size(page), 4);
        json_array_extend(all, page);
        size_t n = json_array_size(page);
        if (n) after = iget(json_array_get(page, n - 1), "seq");
        json_decref(page);
        if (n < 4) break;
    }
    cr_assert(json_equal(all, ev), "paged events differ");
    json_decref(all);
    json_decref(ev);
    json_decref(seen);
    json_decref(req("GET", "/v1/runs/1/events?limit=0", NULL, 400));
    stop_clean();
}

Test(workflow_api, list_runs_filters_and_cursor)
{
    reg_def("{'name':'w1','steps':[{'id':'a','agent':'idle','job_type':'j'}]}");
    reg_def("{'name':'w2','steps':[{'id':'a','agent':'idle','job_type':'j'}]}");
    int64_t ids[5];
    for (int i = 0; i < 5; i++)
        ids[i] = start_run(i < 3 ? "w1" : "w2", NULL);
    char path[64];
    snprintf(path, sizeof path, "/v1/runs/%lld/cancel", (long long)ids[1]);
    json_decref(req("POST", path, NULL, 200));

    struct {
        const char *q;
        size_t n;
        const char *wf, *state;
    } cases[] = {
        {"", 5, NULL, NULL},
        {"?workflow=w1", 3, "w1", NULL},
        {"?workflow=w2", 2, "w2", NULL},
        {"?workflow=w1&state=cancelled", 1, "w1", "cancelled"},
        {"?workflow=w2&state=cancelled", 0, NULL, NULL},
        {"?state=running", 4, NULL, "running"},
        {"?state=completed", 0, NULL, NULL},
        {"?workflow=nope", 0, NULL, NULL},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char p[128];
        snprintf(p, sizeof p, "/v1/runs%s", cases[c].q);
        json_t *r = req("GET", p, NULL, 200);
        json_t *runs = json_object_get(r, "runs"), *run;
        cr_assert_eq(json_array_size(runs), cases[c].n, "%s: %s", cases[c].q,
                     dumps(runs));
        cr_assert(json_is_null(json_object_get(r, "next_cursor")));
        size_t i;
        json_int_t prev = INT64_MAX;
        json_array_foreach(runs, i, run)
        {
            if (cases[c].wf)
                cr_assert_str_eq(sget(run, "workflow"), cases[c].wf);
            if (cases[c].state)
                cr_assert_str_eq(sget(run, "state"), cases[c].state);
            cr_assert_lt(iget(run, "id"), prev, "%s: not newest first",
                         cases[c].q);
            prev = iget(run, "id");
        }
        json_decref(r);
    }

    /* pages of 2 by the cursor: every run once */
    bool got[5] = {false};
    char cursor[32] = "";
    int pages = 0;
    for (;;) {
        char p[128];
        snprintf(p, sizeof p, "/v1/runs?limit=2%s%s",
                 cursor[0] ? "&cursor=" : "", cursor);
        json_t *r = req("GET", p, NULL, 200), *run;
        size_t i;
        pages++;
        json_array_foreach(json_object_get(r, "runs"), i, run)
        {
            bool known = false;
            for (int k = 0; k < 5; k++)
                if (iget(run, "id") == ids[k]) {
                    cr_assert(!got[k], "run %lld on two pages",
                              (long long)ids[k]);
                    got[k] = known = true;
                }
            cr_assert(known);
        }
        const char *next = sget(r, "next_cursor");
        snprintf(cursor, sizeof cursor, "%s", next ? next : "");
        json_decref(r);
        if (!next) break;
        cr_assert_lt(pages, 5);
    }
    cr_assert_eq(pages, 3);
    for (int k = 0; k < 5; k++)
        cr_assert(got[k], "run %d never listed", k);
    snprintf(path, sizeof path, "/v1/runs?workflow=w1&limit=1&cursor=%lld",
             (long long)ids[2]);
    json_t *r = req("GET", path, NULL, 200);
    cr_assert_eq(iget(json_array_get(json_object_get(r, "runs"), 0), "id"),
                 ids[1]);
    json_decref(r);

    json_decref(req("GET", "/v1/runs?state=bogus", NULL, 400));
    json_decref(req("GET", "/v1/runs?limit=0", NULL, 400));
    json_decref(req("GET", "/v1/runs?cursor=x", NULL, 400));
    stop_clean();
}

Test(workflow_api, cancel_stops_the_run_and_its_jobs)
{
    it_agent calc;
    agent("calc-1", "calc", &calc);
    reg_def(DIAMOND);
    int64_t id = start_run("diamond", "{'inputs':{'n':2}}");
    json_t *jobs = lease(&calc, 10, 2000);
    cr_assert_eq(json_array_size(jobs), 1);
    json_t *held = json_array_get(jobs, 0);
    cr_assert_str_eq(sget(held, "type"), "seed");
    char path[96];
    snprintf(path, sizeof path, "/v1/runs/%lld/cancel", (long long)id);
    json_t *r = req("POST", path, NULL, 200);
    cr_assert_str_eq(sget(r, "state"), "cancelled");
    cr_assert(rfc3339(sget(r, "finished_at")));
    json_decref(r);

    /* the step's job is cancelled: the worker's answer is refused */
    json_t *run = get_run(id, NULL);
    json_t *a = run_step(run, "a");
    cr_assert_str_eq(sget(a, "state"), "cancelled");
    cr_assert_str_eq(sget(run_step(run, "b"), "state"), "pending");
    char jp[64];
    snprintf(jp, sizeof jp, "/v1/jobs/%lld", (long long)iget(held, "id"));
    json_t *job = req("GET", jp, NULL, 200);
    cr_assert_str_eq(sget(job, "state"), "cancelled");
    json_decref(job);
    json_decref(run);
    snprintf(jp, sizeof jp, "/v1/jobs/%lld/complete",
             (long long)iget(held, "id"));
    char *body = it_body("{s:s,s:{}}", "lease_token", sget(held, "lease_token"),
                         "result");
    r = it_call(&srv, "POST", jp, body, calc.token, 409);
    cr_assert_str_eq(err_code(r), "lease_lost");
    json_decref(r);
    free(body);
    json_decref(jobs);

    /* again: 409, with the state */
    r = req("POST", path, NULL, 409);
    cr_assert_str_eq(err_code(r), "invalid_state");
    cr_assert_str_eq(sget(json_object_get(r, "error"), "state"), "cancelled");
    json_decref(r);
    it_sleep_ms(300);
    cr_assert_str_eq(run_state(id), "cancelled");
    jobs = lease(&calc, 10, 0);
    cr_assert_eq(json_array_size(jobs), 0, "a cancelled run made jobs: %s",
                 dumps(jobs));
    json_decref(jobs);
    json_t *ev = events_of(id, NULL);
    cr_assert_str_eq(sget(json_array_get(ev, json_array_size(ev) - 1), "type"),
                     "run_cancelled");
    cr_assert_eq(ev_count(ev, "run_cancelled", NULL), 1);
    json_decref(ev);

    /* a completed run cannot be cancelled either */
    int64_t id2 = start_run("diamond", "{'inputs':{'n':1}}");
    cr_assert_str_eq(work(&calc, id2, never_fail, NULL), "completed");
    snprintf(path, sizeof path, "/v1/runs/%lld/cancel", (long long)id2);
    r = req("POST", path, NULL, 409);
    cr_assert_str_eq(sget(json_object_get(r, "error"), "state"), "completed");
    json_decref(r);
    snprintf(path, sizeof path, "/v1/runs/%lld/retry", (long long)id2);
    json_decref(req("POST", path, NULL, 409));
    stop_clean();
}

/* Fails job type "double" (step b) on its first two attempts. */
static bool fail_b_twice(const json_t *job, const char **why)
{
    *why = "b is flaky";
    return !strcmp(sget(job, "type"), "double") && key_attempt(job) <= 2;
}

Test(workflow_api, failed_attempts_are_retried_as_new_jobs)
{
    it_agent calc;
    agent("calc-1", "calc", &calc);
    reg_def("{'name':'flaky','steps':["
            "{'id':'a','agent':'calc','job_type':'seed','input':{'n':3}},"
            "{'id':'b','agent':'calc','job_type':'double','depends_on':['a'],"
            " 'input':{'x':'{{steps.a.output.n}}'},"
            " 'retries':{'max':2,'backoff':'fixed','initial_ms':100}}]}");
    int64_t id = start_run("flaky", NULL);
    json_t *seen = json_array();
    cr_assert_str_eq(work(&calc, id, fail_b_twice, seen), "completed");
    json_t *run = get_run(id, NULL);
    json_t *b = run_step(run, "b");
    cr_assert_eq(iget(b, "attempts"), 3);
    cr_assert_eq(iget(json_object_get(b, "output"), "v"), 6);
    cr_assert_eq(iget(run_step(run, "a"), "attempts"), 1);
    /* three jobs for b, attempts 1, 2, 3, each leased once */
    int attempts[4] = {0};
    json_int_t ids[4] = {0};
    size_t i;
    json_t *j;
    json_array_foreach(seen, i, j)
    {
        if (strcmp(sget(j, "type"), "double")) continue;
        int a = key_attempt(j);
        cr_assert(a >= 1 && a <= 3);
        attempts[a]++;
        ids[a] = iget(j, "id");
        cr_assert_eq(iget(j, "max_attempts"), 1);
        cr_assert_eq(iget(j, "attempt"), 1);
    }
    cr_assert(attempts[1] == 1 && attempts[2] == 1 && attempts[3] == 1);
    cr_assert(ids[1] != ids[2] && ids[2] != ids[3] && ids[1] != ids[3]);
    cr_assert_eq(iget(b, "job_id"), ids[3]);
    json_t *ev = events_of(id, NULL);
    cr_assert_eq(ev_count(ev, "step_retried", "b"), 2);
    int r1 = ev_find(ev, 0, "step_retried", "b", -1);
    json_t *e = json_array_get(ev, r1);
    cr_assert_eq(iget(e, "delay_ms"), 100, "%s", dumps(e));
    cr_assert_eq(iget(e, "attempt"), 2);
    cr_assert_str_eq(sget(e, "error"), "b is flaky");
    cr_assert_str_eq(sget(json_array_get(ev, json_array_size(ev) - 1), "type"),
                     "run_completed");
    json_decref(ev);
    json_decref(run);
    json_decref(seen);
    stop_clean();
}

/* Fails every job of type "double". */
static bool fail_b(const json_t *job, const char **why)
{
    *why = "b is broken";
    return !strcmp(sget(job, "type"), "double");
}

Test(workflow_api, retry_of_a_failed_run_reruns_only_what_failed)
{
    it_agent calc;
    agent("calc-1", "calc", &calc);
    reg_def(DIAMOND);
    int64_t id = start_run("diamond", "{'inputs':{'n':4}}");
    json_t *seen = json_array();
    cr_assert_str_eq(work(&calc, id, fail_b, seen), "failed");
    json_t *run = get_run(id, NULL);
    cr_assert(strstr(sget(run, "error"), "b"), "error: %s", sget(run, "error"));
    cr_assert(strstr(sget(run, "error"), "b is broken"), "error: %s",
              sget(run, "error"));
    cr_assert_str_eq(sget(run_step(run, "a"), "state"), "completed");
    cr_assert_str_eq(sget(run_step(run, "b"), "state"), "failed");
    cr_assert_str_eq(sget(run_step(run, "d"), "state"), "pending");
    json_int_t a_job = iget(run_step(run, "a"), "job_id");
    json_decref(run);
    size_t before = json_array_size(seen);

    char path[96];
    snprintf(path, sizeof path, "/v1/runs/%lld/retry", (long long)id);
    json_t *r = req("POST", path, NULL, 200);
    cr_assert_str_eq(sget(r, "state"), "running");
    cr_assert(json_is_null(json_object_get(r, "error")));
    json_decref(r);
    r = req("POST", path, NULL, 409); /* running: nothing to retry */
    cr_assert_str_eq(err_code(r), "invalid_state");
    json_decref(r);

    cr_assert_str_eq(work(&calc, id, never_fail, seen), "completed");
    run = get_run(id, NULL);
    const char *outs[][2] = {{"a", "{\"n\":4,\"list\":[4,5,6]}"},
                             {"b", "{\"v\":8}"},
                             {"c", "{\"v\":16}"},
                             {"d", "{\"v\":24}"}};
    for (size_t i = 0; i < 4; i++) {
        json_t *want = json_loads(outs[i][1], 0, NULL);
        json_t *s = run_step(run, outs[i][0]);
        cr_assert(json_equal(json_object_get(s, "output"), want), "%s: %s",
                  outs[i][0], dumps(json_object_get(s, "output")));
        json_decref(want);
    }
    cr_assert_eq(iget(run_step(run, "a"), "job_id"), a_job, "a ran again");
    cr_assert_eq(iget(run_step(run, "a"), "attempts"), 1);
    /* after the retry only b and d were leased (c and e had completed) */
    size_t i;
    json_t *j;
    int b = 0, d = 0;
    json_array_foreach(seen, i, j)
    {
        if (i < before) continue;
        const char *t = sget(j, "type");
        cr_assert(!strcmp(t, "double") || !strcmp(t, "sum"),
                  "a completed step's job ran again after the retry: %s",
                  dumps(j));
        b += !strcmp(t, "double");
        d += !strcmp(t, "sum");
    }
    cr_assert(b == 1 && d == 1, "b %d, d %d after the retry", b, d);
    json_decref(run);

    json_t *ev = events_of(id, NULL);
    int failed = ev_find(ev, 0, "run_failed", NULL, -1);
    int retried = ev_find(ev, 0, "run_retried", NULL, -1);
    cr_assert(failed > 0 && retried > failed, "failed %d retried %d", failed,
              retried);
    cr_assert_eq(ev_count(ev, "step_scheduled", "a"), 1);
    cr_assert_eq(ev_count(ev, "step_scheduled", "c"), 1);
    cr_assert_eq(ev_count(ev, "step_scheduled", "b"), 2);
    cr_assert_str_eq(sget(json_array_get(ev, json_array_size(ev) - 1), "type"),
                     "run_completed");
    json_decref(ev);
    json_decref(seen);
    stop_clean();
}

Test(workflow_api, cancelled_run_can_be_retried)
{
    it_agent calc;
    agent("calc-1", "calc", &calc);
    reg_def(DIAMOND);
    int64_t id = start_run("diamond", "{'inputs':{'n':3}}");
    char path[96];
    snprintf(path, sizeof path, "/v1/runs/%lld/cancel", (long long)id);
    json_decref(req("POST", path, NULL, 200));
    snprintf(path, sizeof path, "/v1/runs/%lld/retry", (long long)id);
    json_t *r = req("POST", path, NULL, 200);
    cr_assert_str_eq(sget(r, "state"), "running");
    json_decref(r);
    cr_assert_str_eq(work(&calc, id, never_fail, NULL), "completed");
    json_t *run = get_run(id, NULL);
    cr_assert_eq(iget(json_object_get(run_step(run, "d"), "output"), "v"), 15);
    json_decref(run);
    stop_clean();
}

Test(workflow_api, attempt_timeout_makes_a_new_job)
{
    it_agent calc;
    agent("calc-1", "calc", &calc);
    reg_def(
        "{'name':'slow','steps':[{'id':'a','agent':'calc','job_type':'seed',"
        "'input':{'n':1},'timeout_ms':400,"
        "'retries':{'max':1,'backoff':'fixed','initial_ms':0}}]}");
    int64_t id = start_run("slow", NULL);
    json_t *first = lease(&calc, 1, 2000);
    cr_assert_eq(json_array_size(first), 1);
    cr_assert_eq(key_attempt(json_array_get(first, 0)), 1);
    /* hold it past its timeout: attempt 2 comes as another job */
    json_t *second = lease(&calc, 1, 5000);
    cr_assert_eq(json_array_size(second), 1,
                 "no second attempt after the timeout");
    json_t *j1 = json_array_get(first, 0), *j2 = json_array_get(second, 0);
    cr_assert_eq(key_attempt(j2), 2);
    cr_assert_neq(iget(j1, "id"), iget(j2, "id"));
    /* the late answer to attempt 1 is refused */
    char jp[96];
    snprintf(jp, sizeof jp, "/v1/jobs/%lld/complete",
             (long long)iget(j1, "id"));
    char *body = it_body("{s:s,s:{s:i}}", "lease_token",
                         sget(j1, "lease_token"), "result", "late", 1);
    json_t *r = it_call(&srv, "POST", jp, body, calc.token, 409);
    json_decref(r);
    free(body);
    complete(&calc, j2, json_pack("{s:i}", "n", 2));
    cr_assert_str_eq(wait_run(id, "completed"), "completed");
    json_t *run = get_run(id, NULL);
    json_t *a = run_step(run, "a");
    cr_assert_eq(iget(a, "attempts"), 2);
    cr_assert_eq(iget(json_object_get(a, "output"), "n"), 2);
    json_decref(run);
    json_t *ev = events_of(id, NULL);
    cr_assert_eq(ev_count(ev, "step_timed_out", "a"), 1, "%s", dumps(ev));
    json_decref(ev);
    json_decref(first);
    json_decref(second);

    /* out of retries: the run fails, naming the timeout */
    int64_t id2 = start_run("slow", NULL);
    json_t *jobs = lease(&calc, 1, 2000);
    json_decref(jobs);
    jobs = lease(&calc, 1, 5000);
    cr_assert_eq(json_array_size(jobs), 1);
    json_decref(jobs);
    cr_assert_str_eq(wait_run(id2, "failed"), "failed");
    run = get_run(id2, NULL);
    cr_assert(strstr(sget(run, "error"), "timed out"), "%s",
              sget(run, "error"));
    json_decref(run);
    stop_clean();
}

Test(workflow_api, auth_is_required)
{
    reg_def(DIAMOND);
    int64_t id = start_run("diamond", "{'inputs':{'n':1}}");
    it_agent calc;
    agent("calc-1", "calc", &calc);
    char runp[64], evp[64], cancelp[64], retryp[64];
    snprintf(runp, sizeof runp, "/v1/runs/%lld", (long long)id);
    snprintf(evp, sizeof evp, "/v1/runs/%lld/events", (long long)id);
    snprintf(cancelp, sizeof cancelp, "/v1/runs/%lld/cancel", (long long)id);
    snprintf(retryp, sizeof retryp, "/v1/runs/%lld/retry", (long long)id);
    char *def = dq(DIAMOND);
    struct {
        const char *m, *p, *body;
    } routes[] = {
        {"POST", "/v1/workflows", def},
        {"GET", "/v1/workflows", NULL},
        {"POST", "/v1/workflows/validate", def},
        {"GET", "/v1/workflows/diamond", NULL},
        {"POST", "/v1/workflows/diamond/runs", "{\"inputs\":{\"n\":1}}"},
        {"GET", "/v1/runs", NULL},
        {"GET", runp, NULL},
        {"GET", evp, NULL},
        {"POST", cancelp, NULL},
        {"POST", retryp, NULL},
    };
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        int st;
        json_t *r = it_try_json(&srv, routes[i].m, routes[i].p, routes[i].body,
                                NULL, &st);
        cr_assert_eq(st, 401, "%s %s without a key: %d", routes[i].m,
                     routes[i].p, st);
        cr_assert_str_eq(err_code(r), "unauthorized");
        json_decref(r);
        r = it_try_json(&srv, routes[i].m, routes[i].p, routes[i].body,
                        "fsk_not_a_key", &st);
        cr_assert_eq(st, 401, "%s %s with a wrong key: %d", routes[i].m,
                     routes[i].p, st);
        json_decref(r);
        r = it_try_json(&srv, routes[i].m, routes[i].p, routes[i].body,
                        calc.token, &st);
        cr_assert_eq(st, 403, "%s %s with an agent token: %d", routes[i].m,
                     routes[i].p, st);
        json_decref(r);
    }
    free(def);
    /* nothing happened */
    cr_assert_str_eq(run_state(id), "running");
    json_t *r = req("GET", "/v1/runs", NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(r, "runs")), 1);
    json_decref(r);
    stop_clean();
}

/* --- parallelism ---------------------------------------------------------- */

#define FOUR                                                                   \
    "{'name':'four','steps':["                                                 \
    "{'id':'p1','agent':'par','job_type':'square','input':{'x':1}},"           \
    "{'id':'p2','agent':'par','job_type':'square','input':{'x':2}},"           \
    "{'id':'p3','agent':'par','job_type':'square','input':{'x':3}},"           \
    "{'id':'p4','agent':'par','job_type':'square','input':{'x':4}},"           \
    "{'id':'total','agent':'par','job_type':'sum',"                            \
    " 'depends_on':['p1','p2','p3','p4'],"                                     \
    " 'input':{'a':'{{steps.p1.output.v}}','b':'{{steps.p4.output.v}}'}}]}"

static int count_state(json_t *run, const char *state)
{
    int n = 0;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(run, "steps"), i, s) n +=
        !strcmp(sget(s, "state"), state);
    return n;
}

Test(workflow_api, independent_steps_run_at_once)
{
    it_agent par;
    agent("par-1", "par", &par);
    reg_def(FOUR);
    int64_t id = start_run("four", NULL);
    /* one lease of 4 gets all four before any is complete */
    json_t *jobs = lease(&par, 4, 2000);
    cr_assert_eq(json_array_size(jobs), 4,
                 "one lease got %zu of the 4 "
                 "independent steps",
                 json_array_size(jobs));
    json_int_t xs = 0;
    size_t i;
    json_t *j;
    json_array_foreach(jobs, i, j) xs |=
        1 << iget(json_object_get(j, "payload"), "x");
    cr_assert_eq(xs, 0x1e, "the four jobs are not p1..p4");
    /* the engine sees all four running at once */
    int64_t deadline = it_mono_ms() + 5000;
    json_t *run;
    for (;;) {
        run = get_run(id, NULL);
        if (count_state(run, "running") == 4) break;
        cr_assert_lt(it_mono_ms(), deadline, "never 4 running: %s", dumps(run));
        json_decref(run);
        it_sleep_ms(20);
    }
    cr_assert_str_eq(sget(run_step(run, "total"), "state"), "pending");
    json_decref(run);
    json_array_foreach(jobs, i, j)
        complete(&par, j, answer("square", json_object_get(j, "payload")));
    json_decref(jobs);
    cr_assert_str_eq(work(&par, id, never_fail, NULL), "completed");
    run = get_run(id, NULL);
    cr_assert_eq(iget(json_object_get(run_step(run, "total"), "output"), "v"),
                 17);
    /* every p's interval overlaps every other's */
    const char *p[] = {"p1", "p2", "p3", "p4"};
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            cr_assert_lt(strcmp(sget(run_step(run, p[a]), "started_at"),
                                sget(run_step(run, p[b]), "finished_at")),
                         0, "%s started after %s finished", p[a], p[b]);
    json_decref(run);
    stop_clean();
}

Test(workflow_api, two_workers_hold_two_steps_at_once)
{
    it_agent w1, w2;
    agent("par-1", "par", &w1);
    agent("par-2", "par", &w2);
    reg_def(FOUR);
    int64_t id = start_run("four", NULL);
    json_t *a = lease(&w1, 1, 2000), *b = lease(&w2, 1, 2000);
    cr_assert_eq(json_array_size(a), 1);
    cr_assert_eq(json_array_size(b), 1);
    json_t *ja = json_array_get(a, 0), *jb = json_array_get(b, 0);
    cr_assert_neq(iget(ja, "id"), iget(jb, "id"));
    cr_assert_neq(strcmp(sget(ja, "lease_owner"), sget(jb, "lease_owner")), 0);
    int64_t deadline = it_mono_ms() + 5000;
    json_t *run;
    for (;;) {
        run = get_run(id, NULL);
        if (count_state(run, "running") == 2) break;
        cr_assert_lt(it_mono_ms(), deadline, "never 2 running: %s", dumps(run));
        json_decref(run);
        it_sleep_ms(20);
    }
    json_decref(run);
    /* each completes its own; the other's job is not theirs */
    char jp[96];
    snprintf(jp, sizeof jp, "/v1/jobs/%lld/complete",
             (long long)iget(jb, "id"));
    char *body =
        it_body("{s:s,s:{}}", "lease_token", sget(jb, "lease_token"), "result");
    json_decref(it_call(&srv, "POST", jp, body, w1.token, 403));
    free(body);
    complete(&w1, ja, answer("square", json_object_get(ja, "payload")));
    complete(&w2, jb, answer("square", json_object_get(jb, "payload")));
    json_decref(a);
    json_decref(b);
    cr_assert_str_eq(work(&w1, id, never_fail, NULL), "completed");
    stop_clean();
}
