/*
 * test_cli_workflow.c - `flowstate workflow ...` without a flowstate
 * server: local validation and graphs of definition files (every problem
 * named, bad JSON and missing files exit 2), and against the canned
 * responder of clitest.h: the requests each subcommand sends (run's
 * inputs as parsed from --input and --inputs), how answers print (a
 * refused register's problems, the status table, the events timeline,
 * run lists), and following a run through a scripted sequence of states
 * (completed exits 0, failed 1 with the error, a failing server 3,
 * --timeout 3).  The live view's two forms are checked directly on a
 * memory stream.  Poll intervals come from FLOWSTATE_POLL_MS, so the
 * followed runs take milliseconds.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/clitest.h"
#include "cli/runview.h"

static void wf_setup(void)
{
    setup();
    setenv("FLOWSTATE_API_KEY", "k", 1);
    setenv("FLOWSTATE_POLL_MS", "1", 1);
    setenv("TZ", "UTC", 1);
    tzset();
}

TestSuite(cli_workflow, .init = wf_setup, .fini = teardown, .timeout = 30);

/* Runs `flowstate workflow <argv...>` captured; returns its exit code. */
static int wf(char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    capture_begin();
    int code = cli_workflow_main(argc, argv);
    capture_end();
    return code;
}
#define WF(...) wf((char *[]){"workflow", __VA_ARGS__, NULL})

/* A file in a fresh folder holding text; the caller frees the path. */
static char *write_temp(const char *name, const char *text)
{
    char dir[] = "/tmp/cli-wf-XXXXXX", *path;
    cr_assert_not_null(mkdtemp(dir));
    cr_assert(asprintf(&path, "%s/%s", dir, name) > 0);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* The JSON body of a recorded request. */
static json_t *request_body(const char *req)
{
    const char *body = strstr(req, "\r\n\r\n");
    cr_assert_not_null(body, "no body in:\n%s", req);
    json_error_t e;
    json_t *v = json_loads(body + 4, 0, &e);
    cr_assert_not_null(v, "body is not JSON (%s):\n%s", e.text, body + 4);
    return v;
}

static const char NIGHTLY[] =
    "{\"name\":\"nightly\",\"version\":2,\"steps\":["
    "{\"id\":\"fetch\",\"agent\":\"crm\",\"job_type\":\"fetch\"},"
    "{\"id\":\"score\",\"agent\":\"scorer\",\"job_type\":\"score\","
    "\"depends_on\":[\"fetch\"]}]}";

static const char CYCLE[] =
    "{\"name\":\"loop\",\"steps\":["
    "{\"id\":\"a\",\"agent\":\"x\",\"job_type\":\"t\",\"depends_on\":[\"b\"]},"
    "{\"id\":\"b\",\"agent\":\"x\",\"job_type\":\"t\",\"depends_on\":[\"a\"]},"
    "{\"id\":\"c\",\"agent\":\"x\",\"job_type\":\"t\","
    "\"depends_on\":[\"nope\"]}]}";

/* A run as GET /v1/runs/42 answers it: state, the run's error (or
 * null), and the two steps' states. */
static char *run_json(const char *state, const char *error,
                      const char *fetch_state, const char *score_state)
{
    char *s, *err = NULL;
    if (error) cr_assert(asprintf(&err, "\"%s\"", error) > 0);
    bool ended = strcmp(state, "running");
    cr_assert(
        asprintf(
            &s,
            "{\"id\":42,\"workflow\":\"nightly\",\"version\":2,\"state\":"
            "\"%s\",\"inputs\":{\"segment\":\"smb\"},\"error\":%s,"
            "\"deadline\":null,\"created_at\":\"2026-01-01T12:00:00Z\","
            "\"updated_at\":\"2026-01-01T12:00:0%dZ\",\"finished_at\":%s,"
            "\"steps\":["
            "{\"id\":\"fetch\",\"agent\":\"crm\",\"job_type\":\"fetch\","
            "\"state\":\"%s\",\"attempts\":1,\"output\":null,\"error\":null,"
            "\"job_id\":7,\"started_at\":\"2026-01-01T12:00:00Z\","
            "\"finished_at\":\"2026-01-01T12:00:02Z\"},"
            "{\"id\":\"score\",\"agent\":\"scorer\",\"job_type\":\"score\","
            "\"state\":\"%s\",\"attempts\":%d,\"output\":null,\"error\":%s,"
            "\"job_id\":null,\"started_at\":\"2026-01-01T12:00:02Z\","
            "\"finished_at\":%s,\"items\":{\"total\":10,\"completed\":%d}}"
            "]}",
            state, err ? err : "null", ended ? 5 : 1,
            ended ? "\"2026-01-01T12:00:05Z\"" : "null", fetch_state,
            score_state, strcmp(score_state, "pending") ? 2 : 0,
            err ? err : "null", ended ? "\"2026-01-01T12:00:05Z\"" : "null",
            ended ? 10 : 3) > 0);
    free(err);
    return s;
}

/* run_json() as a 200 answer. */
static char *run_answer(const char *state, const char *error,
                        const char *fetch_state, const char *score_state)
{
    char *body = run_json(state, error, fetch_state, score_state);
    char *a = answer(200, body);
    free(body);
    return a;
}

/* ---- usage and local checks ---------------------------------------------- */

Test(cli_workflow, help_names_every_subcommand)
{
    static const char *const subs[] = {
        "validate", "register", "list",   "show",  "run",
        "status",   "runs",     "cancel", "retry", "graph",
    };
    cr_assert_eq(WF("--help"), 0);
    for (size_t i = 0; i < sizeof subs / sizeof *subs; i++)
        assert_has(CAP.out_text, subs[i]);
    for (size_t i = 0; i < sizeof subs / sizeof *subs; i++) {
        char *argv[] = {"workflow", (char *)subs[i], "--help", NULL};
        cr_assert_eq(wf(argv), 0, "%s --help", subs[i]);
        char usage[64];
        snprintf(usage, sizeof usage, "usage: flowstate workflow %s ", subs[i]);
        assert_has(CAP.out_text, usage);
        cr_assert_str_empty(CAP.err_text);
    }
    cr_assert_eq(WF("run", "--help"), 0);
    assert_has(CAP.out_text, "examples:");
    assert_has(CAP.out_text, "--input KEY=VALUE");
    cr_assert_eq(WF("frobnicate"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "unknown subcommand 'frobnicate'");
}

Test(cli_workflow, validate_accepts_a_valid_file)
{
    char *path = write_temp("nightly.json", NIGHTLY);
    cr_assert_eq(WF("validate", path), 0, "%s", CAP.err_text);
    assert_has(CAP.out_text, ": valid: workflow nightly version 2, 2 steps\n");
    cr_assert_str_empty(CAP.err_text);
    /* No server involved: unknown agents are not a warning here. */
    cr_assert_null(strstr(CAP.out_text, "warning"));
    cr_assert_eq(WF("validate", path, "--json"), 0);
    cr_assert_str_eq(CAP.out_text, "{\n  \"valid\": true,\n  \"problems\": "
                                   "[]\n}\n");
    free(path);
}

Test(cli_workflow, validate_names_every_problem)
{
    char *path = write_temp("loop.json", CYCLE);
    cr_assert_eq(WF("validate", path), CLI_EXIT_REJECTED);
    assert_has(CAP.out_text, "error    step 'a'  cycle: a -> b -> a\n");
    assert_has(CAP.out_text, "error    step 'c' depends on unknown step "
                             "'nope'\n");
    assert_has(CAP.out_text, "loop.json: not valid: 2 errors, 0 warnings\n");
    cr_assert_eq(WF("validate", path, "--json"), CLI_EXIT_REJECTED);
    json_t *j = json_loads(CAP.out_text, 0, NULL);
    cr_assert_not_null(j);
    cr_assert(json_is_false(json_object_get(j, "valid")));
    cr_assert_eq(json_array_size(json_object_get(j, "problems")), 2);
    json_decref(j);
    free(path);
}

Test(cli_workflow, validate_reads_stdin)
{
    char *path = write_temp("in.json", NIGHTLY);
    cr_assert(freopen(path, "r", stdin));
    cr_assert_eq(WF("validate", "-"), 0);
    assert_has(CAP.out_text, "(stdin): valid: workflow nightly");
    free(path);
}

Test(cli_workflow, validate_bad_json_and_missing_files_exit_2)
{
    char *bad = write_temp("bad.json", "{\"name\": \"x\",\n  \"steps\": [\n}");
    cr_assert_eq(WF("validate", bad), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "flowstate workflow validate: ");
    assert_has(CAP.err_text, "bad.json is not valid JSON: ");
    assert_has(CAP.err_text, "(line 3, column 1)");
    cr_assert_eq(WF("validate", "/nonexistent/flow.json"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text,
               "cannot open /nonexistent/flow.json: No such file");
    cr_assert_eq(WF("validate", "/tmp"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "cannot open /tmp: Is a directory");
    char *list = write_temp("list.json", "[1, 2]");
    cr_assert_eq(WF("validate", list), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "is not a workflow definition");
    cr_assert_eq(WF("validate"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "missing FILE");
    cr_assert_str_empty(CAP.out_text);
    free(bad);
    free(list);
}

Test(cli_workflow, usage_errors_exit_2_before_any_request)
{
    static const struct {
        const char *args[8];
        const char *msg;
    } cases[] = {
        {{"workflow", "run"}, "missing NAME"},
        {{"workflow", "run", "x", "--input", "novalue"},
         "--input: 'novalue' is not key=value"},
        {{"workflow", "run", "x", "--input", "=v"}, "'=v' is not key=value"},
        {{"workflow", "run", "x", "--inputs", "{"},
         "--inputs is not valid "
         "JSON"},
        {{"workflow", "run", "x", "--inputs", "[1]"},
         "--inputs must be a JSON object"},
        {{"workflow", "run", "x", "--inputs", "@/nonexistent/in.json"},
         "cannot open /nonexistent/in.json"},
        {{"workflow", "run", "x", "--timeout", "0"},
         "--timeout: '0' is not a whole number"},
        {{"workflow", "run", "x", "--version", "zero"}, "--version: 'zero'"},
        {{"workflow", "status", "abc"}, "'abc' is not a run id"},
        {{"workflow", "cancel", "0"}, "'0' is not a run id"},
        {{"workflow", "cancel", "1", "--wait"}, "unknown option '--wait'"},
        {{"workflow", "runs", "--state", "done"},
         "--state: 'done' is not one of running, completed, failed, "
         "cancelled"},
        {{"workflow", "graph", "flow.json", "--json"}, "--json: the graph is"},
        {{"workflow", "graph", "flow.json", "--version", "2"},
         "--version is for a registered workflow, not a file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cr_assert_eq(wf((char **)cases[i].args), CLI_EXIT_USAGE, "case %zu", i);
        assert_has(CAP.err_text, cases[i].msg);
        cr_assert_str_empty(CAP.out_text);
    }
}

Test(cli_workflow, graph_prints_text_and_dot_from_a_file)
{
    char *path = write_temp("nightly.json", NIGHTLY);
    cr_assert_eq(WF("graph", path), 0, "%s", CAP.err_text);
    assert_has(CAP.out_text, "workflow nightly (version 2): 2 steps in 2 "
                             "levels\n");
    assert_has(CAP.out_text, "level 0:\n");
    assert_has(CAP.out_text, "level 1:\n");
    assert_has(CAP.out_text, "fetch");
    cr_assert_eq(WF("graph", path, "--dot"), 0);
    assert_has(CAP.out_text, "digraph \"nightly\" {\n");
    assert_has(CAP.out_text, "\"fetch\" -> \"score\"");
    cr_assert_eq(CAP.out_text[strlen(CAP.out_text) - 1], '\n');
    char *loop = write_temp("loop.json", CYCLE);
    cr_assert_eq(WF("graph", loop), CLI_EXIT_REJECTED);
    assert_has(CAP.err_text, "cycle: a -> b -> a");
    assert_has(CAP.err_text, "loop.json is not a valid workflow: 2 errors");
    cr_assert_str_empty(CAP.out_text);
    free(path);
    free(loop);
}

/* ---- against the canned responder ---------------------------------------- */

Test(cli_workflow, graph_of_a_name_fetches_the_registered_definition)
{
    char *body;
    cr_assert(asprintf(&body,
                       "{\"name\":\"nightly\",\"version\":2,\"description\":"
                       "null,\"created_at\":null,\"definition\":%s}",
                       NIGHTLY) > 0);
    responder_start(1, (char *[]){answer(200, body)});
    free(body);
    cr_assert_eq(WF("graph", "nightly", "--version", "2", "--dot"), 0, "%s",
                 CAP.err_text);
    responder_stop();
    assert_has(RESP.requests[0],
               "GET /v1/workflows/nightly?version=2 HTTP/1.1\r\n");
    assert_has(CAP.out_text, "digraph \"nightly\"");
}

Test(cli_workflow, validate_server_asks_the_server)
{
    char *path = write_temp("nightly.json", NIGHTLY);
    responder_start(
        1, (char *[]){answer(
               200, "{\"valid\":true,\"problems\":[{\"severity\":\"warning\","
                    "\"step\":\"score\",\"code\":\"unknown_agent\","
                    "\"message\":\"no agent registered for type 'scorer' "
                    "(first used by step 'score')\"}]}")});
    cr_assert_eq(WF("validate", path, "--server"), 0, "%s", CAP.err_text);
    responder_stop();
    assert_has(RESP.requests[0], "POST /v1/workflows/validate HTTP/1.1\r\n");
    json_t *sent = request_body(RESP.requests[0]);
    json_t *want = json_loads(NIGHTLY, 0, NULL);
    cr_assert(json_equal(sent, want));
    assert_has(CAP.out_text, "warning  no agent registered for type 'scorer' "
                             "(first used by step 'score')\n");
    assert_has(CAP.out_text, "valid: workflow nightly version 2, 2 steps, 1 "
                             "warning\n");
    json_decref(sent);
    json_decref(want);
    free(path);
}

Test(cli_workflow, register_prints_the_name_version_and_warnings)
{
    char *path = write_temp("nightly.json", NIGHTLY);
    responder_start(
        1, (char *[]){answer(
               201, "{\"name\":\"nightly\",\"version\":2,\"description\":null,"
                    "\"created_at\":\"2026-01-01T12:00:00Z\",\"warnings\":["
                    "{\"severity\":\"warning\",\"step\":\"fetch\",\"code\":"
                    "\"unknown_agent\",\"message\":\"no agent registered for "
                    "type 'crm' (first used by step 'fetch')\"}]}")});
    cr_assert_eq(WF("register", path), 0, "%s", CAP.err_text);
    responder_stop();
    assert_has(RESP.requests[0], "POST /v1/workflows HTTP/1.1\r\n");
    cr_assert_str_eq(CAP.out_text, "registered nightly version 2\n");
    assert_has(CAP.err_text, "warning  no agent registered for type 'crm'");
    free(path);
}

Test(cli_workflow, register_refused_prints_the_problems_and_exits_1)
{
    char *path = write_temp("loop.json", CYCLE);
    responder_start(
        2,
        (char *[]){
            answer(400,
                   "{\"error\":{\"code\":\"invalid_workflow\",\"message\":"
                   "\"cycle: a -> b -> a (and more: see problems)\","
                   "\"problems\":[{\"severity\":\"error\",\"step\":\"a\","
                   "\"code\":\"cycle\",\"message\":\"cycle: a -> b -> a\"},"
                   "{\"severity\":\"error\",\"step\":\"c\",\"code\":"
                   "\"unknown_dependency\",\"message\":\"step 'c' depends on "
                   "unknown step 'nope'\"}]}}"),
            answer(409, "{\"error\":{\"code\":\"conflict\",\"message\":"
                        "\"workflow loop version 1 holds another definition; "
                        "register it under a new version\"}}"),
        });
    cr_assert_eq(WF("register", path), CLI_EXIT_REJECTED);
    assert_has(CAP.err_text, "error    step 'a'  cycle: a -> b -> a\n");
    assert_has(CAP.err_text,
               "error    step 'c' depends on unknown step 'nope'\n");
    assert_has(CAP.err_text, "flowstate workflow register: ");
    assert_has(CAP.err_text, "loop.json was refused: 2 errors, 0 warnings");
    cr_assert_str_empty(CAP.out_text);
    cr_assert_eq(WF("register", path), CLI_EXIT_REJECTED);
    assert_has(CAP.err_text, "holds another definition; register it under a "
                             "new version (HTTP 409 conflict)");
    responder_stop();
    free(path);
}

Test(cli_workflow, list_and_show)
{
    responder_start(
        3,
        (char *[]){
            answer(200, "{\"workflows\":[{\"name\":\"nightly\",\"version\":2,"
                        "\"description\":\"scores accounts\",\"created_at\":"
                        "null}]}"),
            answer(200, "{\"workflows\":[]}"),
            answer(200, "{\"name\":\"nightly\",\"version\":2,\"description\":"
                        "null,\"created_at\":\"2026-01-01T12:00:00Z\","
                        "\"definition\":{\"name\":\"nightly\"}}"),
        });
    cr_assert_eq(WF("list"), 0);
    cr_assert_str_eq(CAP.out_text, "NAME     VERSION  CREATED  DESCRIPTION\n"
                                   "nightly        2  -        scores "
                                   "accounts\n");
    cr_assert_eq(WF("list"), 0);
    cr_assert_str_eq(CAP.out_text, "no workflows\n");
    cr_assert_eq(WF("show", "nightly"), 0);
    responder_stop();
    assert_has(RESP.requests[2], "GET /v1/workflows/nightly HTTP/1.1\r\n");
    assert_has(CAP.out_text, "name         nightly\n");
    assert_has(CAP.out_text, "version      2\n");
    assert_has(CAP.out_text, "definition:\n  {\n    \"name\": \"nightly\"\n"
                             "  }\n");
}

Test(cli_workflow, run_sends_parsed_inputs)
{
    char *in = write_temp("in.json", "{\"segment\":\"ent\",\"limit\":5}");
    char *at;
    cr_assert(asprintf(&at, "@%s", in) > 0);
    responder_start(1, (char *[]){answer(201, "{\"id\":42,\"workflow\":"
                                              "\"nightly\",\"version\":2,"
                                              "\"state\":\"running\"}")});
    cr_assert_eq(WF("run", "nightly", "--inputs", at, "--input", "segment=smb",
                    "--input", "limit=100", "--input", "dry=true", "--input",
                    "tags=[\"a\",1]", "--input", "q=\"7\"", "--input",
                    "note=hello world", "--input", "empty=", "--input",
                    "expr=a=b", "--version", "2"),
                 0, "%s", CAP.err_text);
    responder_stop();
    assert_has(RESP.requests[0], "POST /v1/workflows/nightly/runs HTTP/1.1");
    json_t *body = request_body(RESP.requests[0]);
    json_t *want = json_pack("{s:{s:s,s:i,s:b,s:[s,i],s:s,s:s,s:s,s:s},s:i}",
                             "inputs", "segment", "smb", "limit", 100, "dry", 1,
                             "tags", "a", 1, "q", "7", "note", "hello world",
                             "empty", "", "expr", "a=b", "version", 2);
    char *got = json_dumps(body, JSON_SORT_KEYS);
    cr_assert(json_equal(body, want), "body: %s", got);
    cr_assert_str_eq(CAP.out_text,
                     "started run 42 of nightly version 2: running\n");
    free(got);
    json_decref(body);
    json_decref(want);
    free(at);
    free(in);
}

Test(cli_workflow, run_json_prints_the_new_run_only)
{
    responder_start(1, (char *[]){answer(201, "{\"id\":42,\"state\":"
                                              "\"running\"}")});
    cr_assert_eq(WF("run", "nightly", "--json"), 0);
    responder_stop();
    json_t *body = request_body(RESP.requests[0]);
    json_t *want = json_pack("{s:{}}", "inputs");
    cr_assert(json_equal(body, want), "only empty inputs were sent");
    cr_assert_str_eq(CAP.out_text, "{\n  \"id\": 42,\n  \"state\": "
                                   "\"running\"\n}\n");
    json_decref(body);
    json_decref(want);
}

Test(cli_workflow, wait_until_completed_exits_0)
{
    responder_start(
        4, (char *[]){
               answer(201, "{\"id\":42,\"workflow\":\"nightly\",\"version\":2,"
                           "\"state\":\"running\"}"),
               run_answer("running", NULL, "running", "pending"),
               run_answer("running", NULL, "completed", "running"),
               run_answer("completed", NULL, "completed", "completed"),
           });
    cr_assert_eq(WF("run", "nightly", "--wait"), 0, "%s", CAP.err_text);
    responder_stop();
    for (int i = 1; i < 4; i++)
        assert_has(RESP.requests[i], "GET /v1/runs/42 HTTP/1.1\r\n");
    cr_assert_str_eq(CAP.out_text,
                     "started run 42 of nightly version 2: running\n"
                     "STEP   STATE      ATTEMPTS  ELAPSED  ITEMS  ERROR\n"
                     "fetch  completed         1       2s\n"
                     "score  completed         2       3s  10/10\n"
                     "run 42 completed in 5s\n");
    cr_assert_str_empty(CAP.err_text);
}

Test(cli_workflow, wait_until_failed_exits_1_with_the_error)
{
    responder_start(3, (char *[]){
                           answer(201, "{\"id\":42,\"state\":\"running\"}"),
                           run_answer("running", NULL, "completed", "running"),
                           run_answer("failed", "step 'score' failed: boom",
                                      "completed", "failed"),
                       });
    cr_assert_eq(WF("run", "nightly", "--wait"), CLI_EXIT_REJECTED);
    responder_stop();
    assert_has(CAP.out_text, "score  failed            2       3s  10/10  "
                             "step 'score' failed: boom\n");
    assert_has(CAP.out_text, "run 42 failed after 5s\n");
    cr_assert_str_eq(CAP.err_text,
                     "flowstate: run 42 failed: step 'score' failed: boom\n");
}

Test(cli_workflow, watch_prints_only_what_changed)
{
    responder_start(
        5, (char *[]){
               answer(201, "{\"id\":42,\"workflow\":\"nightly\",\"version\":2,"
                           "\"state\":\"running\"}"),
               run_answer("running", NULL, "running", "pending"),
               run_answer("running", NULL, "running", "pending"),
               run_answer("running", NULL, "completed", "running"),
               run_answer("cancelled", "cancelled by a user", "completed",
                          "cancelled"),
           });
    cr_assert_eq(WF("run", "nightly", "--watch"), CLI_EXIT_REJECTED);
    responder_stop();
    /* Each line starts with the local time of the poll ("12:00:01 "). */
    const char *want[] = {
        "started run 42 of nightly version 2: running\n",
        " fetch running (attempt 1)\n",
        " run 42 running\n",
        " fetch completed\n",
        " score running (attempt 2), items 3/10\n",
        " score cancelled (attempt 2), items 10/10: cancelled by a user\n",
        " run 42 cancelled after 5s: cancelled by a user\n",
    };
    const char *at = CAP.out_text;
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const char *hit = strstr(at, want[i]);
        cr_assert_not_null(hit, "expected \"%s\" after:\n%s", want[i], at);
        at = hit + strlen(want[i]);
    }
    cr_assert_str_empty(at);
    /* Nothing for the pending step, nothing for the poll that saw no
     * change: 7 lines in all. */
    size_t lines = 0;
    for (const char *p = CAP.out_text; *p; p++)
        lines += *p == '\n';
    cr_assert_eq(lines, 7, "%s", CAP.out_text);
    assert_has(CAP.err_text, "flowstate: run 42 cancelled: cancelled by a "
                             "user\n");
}

Test(cli_workflow, wait_json_prints_the_ended_run)
{
    responder_start(2,
                    (char *[]){
                        answer(201, "{\"id\":42,\"state\":\"running\"}"),
                        run_answer("completed", NULL, "completed", "completed"),
                    });
    cr_assert_eq(WF("run", "nightly", "--wait", "--json"), 0);
    responder_stop();
    json_t *j = json_loads(CAP.out_text, 0, NULL);
    cr_assert_not_null(j, "one JSON document: %s", CAP.out_text);
    cr_assert_str_eq(json_string_value(json_object_get(j, "state")),
                     "completed");
    cr_assert_eq(json_array_size(json_object_get(j, "steps")), 2);
    json_decref(j);
}

Test(cli_workflow, a_failing_server_while_waiting_exits_3)
{
    responder_start(
        3, (char *[]){
               answer(201, "{\"id\":42,\"state\":\"running\"}"),
               run_answer("running", NULL, "running", "pending"),
               answer(503, "{\"error\":{\"code\":\"unavailable\",\"message\":"
                           "\"shutting down\"}}"),
           });
    cr_assert_eq(WF("run", "nightly", "--wait"), CLI_EXIT_UNREACHABLE);
    responder_stop();
    assert_has(CAP.err_text, "shutting down (HTTP 503 unavailable)");
    assert_has(CAP.err_text, "stopped following run 42 (see 'flowstate "
                             "workflow status 42')");
}

Test(cli_workflow, timeout_stops_waiting_and_exits_3)
{
    /* A poll interval longer than the timeout: one look at once, one when
     * the second is up. */
    setenv("FLOWSTATE_POLL_MS", "5000", 1);
    responder_start(3, (char *[]){
                           answer(201, "{\"id\":42,\"state\":\"running\"}"),
                           run_answer("running", NULL, "running", "pending"),
                           run_answer("running", NULL, "running", "pending"),
                       });
    cr_assert_eq(WF("run", "nightly", "--timeout", "1"), CLI_EXIT_UNREACHABLE);
    responder_stop();
    assert_has(CAP.err_text, "run 42 is still running after 1s; stopped "
                             "waiting");
}

Test(cli_workflow, status_shows_the_run_and_its_steps)
{
    responder_start(1,
                    (char *[]){run_answer("failed", "step 'score' failed: boom",
                                          "completed", "failed")});
    cr_assert_eq(WF("status", "42"), 0);
    responder_stop();
    assert_has(RESP.requests[0], "GET /v1/runs/42 HTTP/1.1\r\n");
    assert_has(CAP.out_text, "run       42\n");
    assert_has(CAP.out_text, "workflow  nightly (version 2)\n");
    assert_has(CAP.out_text, "state     failed\n");
    assert_has(CAP.out_text, "finished  2026-01-01T12:00:05Z (");
    assert_has(CAP.out_text, "took      5s\n");
    assert_has(CAP.out_text, "inputs    {\"segment\":\"smb\"}\n");
    assert_has(CAP.out_text, "error:\n  step 'score' failed: boom\n");
    assert_has(CAP.out_text, "STEP   STATE      ATTEMPTS  ELAPSED  ITEMS  "
                             "ERROR\n"
                             "fetch  completed         1       2s\n"
                             "score  failed            2       3s  10/10  "
                             "step 'score' failed: boom\n");
}

Test(cli_workflow, status_events_prints_the_timeline)
{
    responder_start(
        2, (char *[]){
               run_answer("running", NULL, "completed", "running"),
               answer(200,
                      "{\"events\":["
                      "{\"seq\":1,\"at\":\"2026-01-01T12:00:00Z\",\"type\":"
                      "\"run_started\",\"step\":null},"
                      "{\"seq\":2,\"at\":\"2026-01-01T12:00:01.500Z\",\"type\":"
                      "\"step_started\",\"step\":\"score\",\"item\":3,"
                      "\"attempt\":1},"
                      "{\"seq\":3,\"at\":\"2026-01-01T12:02:05Z\",\"type\":"
                      "\"step_retried\",\"step\":\"score\",\"item\":3,"
                      "\"attempt\":2,\"error\":\"timed out\\nafter 60s\"}]}"),
           });
    cr_assert_eq(WF("status", "42", "--events"), 0);
    responder_stop();
    assert_has(RESP.requests[1],
               "GET /v1/runs/42/events?after=0&limit=1000 HTTP/1.1\r\n");
    assert_has(CAP.out_text,
               "TIME      ELAPSED  EVENT         STEP      ATTEMPT  ERROR\n"
               "12:00:00       0s  run_started\n"
               "12:00:01       2s  step_started  score[3]        1\n"
               "12:02:05    2m05s  step_retried  score[3]        2  timed out "
               "after 60s\n");
}

Test(cli_workflow, status_json_with_events_is_one_document)
{
    responder_start(
        2, (char *[]){
               answer(200, "{\"id\":42,\"state\":\"running\",\"steps\":[]}"),
               answer(200, "{\"events\":[{\"seq\":1,\"type\":"
                           "\"run_started\"}]}"),
           });
    cr_assert_eq(WF("status", "42", "--events", "--json"), 0);
    responder_stop();
    json_t *j = json_loads(CAP.out_text, 0, NULL);
    cr_assert_not_null(j, "%s", CAP.out_text);
    cr_assert_eq(json_array_size(json_object_get(j, "events")), 1);
    json_decref(j);
}

Test(cli_workflow, status_of_a_missing_run_exits_4)
{
    responder_start(1, (char *[]){answer(404, "{\"error\":{\"code\":"
                                              "\"not_found\",\"message\":"
                                              "\"no such run\"}}")});
    cr_assert_eq(WF("status", "9"), CLI_EXIT_NOTFOUND);
    responder_stop();
    assert_has(CAP.err_text, "flowstate: no such run (HTTP 404 not_found)");
}

Test(cli_workflow, runs_lists_and_follows_cursors)
{
    responder_start(
        2,
        (char *[]){
            answer(200, "{\"runs\":[{\"id\":43,\"workflow\":\"nightly\","
                        "\"version\":2,\"state\":\"failed\",\"error\":\"boom\","
                        "\"created_at\":null,\"finished_at\":null}],"
                        "\"next_cursor\":\"43\"}"),
            answer(200, "{\"runs\":[{\"id\":41,\"workflow\":\"nightly\","
                        "\"version\":1,\"state\":\"completed\",\"error\":"
                        "null}],\"next_cursor\":null}"),
        });
    cr_assert_eq(WF("runs", "--workflow", "nightly", "--state", "failed",
                    "--limit", "1", "--all"),
                 0, "%s", CAP.err_text);
    responder_stop();
    assert_has(RESP.requests[0], "GET /v1/runs?workflow=nightly&state=failed"
                                 "&limit=1 HTTP/1.1\r\n");
    assert_has(RESP.requests[1], "GET /v1/runs?workflow=nightly&state=failed"
                                 "&limit=1&cursor=43 HTTP/1.1\r\n");
    cr_assert_str_eq(CAP.out_text,
                     "ID  WORKFLOW  VERSION  STATE      CREATED  TOOK  ERROR\n"
                     "43  nightly         2  failed     -           -  boom\n"
                     "41  nightly         1  completed  -           -\n");
}

Test(cli_workflow, runs_one_page_names_the_next_cursor)
{
    responder_start(1, (char *[]){answer(200, "{\"runs\":[],\"next_cursor\":"
                                              "\"7\"}")});
    cr_assert_eq(WF("runs"), 0);
    responder_stop();
    cr_assert_str_eq(CAP.out_text, "no runs\nmore runs: add --cursor 7 (or "
                                   "--all)\n");
}

Test(cli_workflow, cancel_and_retry)
{
    responder_start(
        4, (char *[]){
               answer(200, "{\"id\":42,\"state\":\"cancelled\"}"),
               answer(409, "{\"error\":{\"code\":\"invalid_state\",\"message\":"
                           "\"cannot cancel a run that is completed\"}}"),
               answer(200, "{\"id\":42,\"state\":\"running\"}"),
               run_answer("completed", NULL, "completed", "completed"),
           });
    cr_assert_eq(WF("cancel", "42"), 0);
    cr_assert_str_eq(CAP.out_text, "cancelled run 42: cancelled\n");
    cr_assert_eq(WF("cancel", "42"), CLI_EXIT_REJECTED);
    assert_has(CAP.err_text, "cannot cancel a run that is completed (HTTP 409 "
                             "invalid_state)");
    cr_assert_eq(WF("retry", "42", "--wait"), 0);
    responder_stop();
    assert_has(RESP.requests[0], "POST /v1/runs/42/cancel HTTP/1.1\r\n");
    assert_has(RESP.requests[2], "POST /v1/runs/42/retry HTTP/1.1\r\n");
    assert_has(RESP.requests[3], "GET /v1/runs/42 HTTP/1.1\r\n");
    assert_has(CAP.out_text, "retried run 42: running\n");
    assert_has(CAP.out_text, "run 42 completed in 5s\n");
}

/* ---- the live view on a memory stream ------------------------------------ */

static json_t *parse(char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    cr_assert_not_null(j);
    free(text);
    return j;
}

Test(cli_workflow, redraw_moves_up_over_the_last_drawing)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    runview *v = runview_new(m, RUNVIEW_REDRAW, (table_style){0});
    json_t *a = parse(run_json("running", NULL, "running", "pending"));
    json_t *b = parse(run_json("running", NULL, "completed", "running"));
    int64_t now = 1767268802000; /* 2026-01-01T12:00:02Z */
    cr_assert(runview_update(v, a, now));
    fflush(m);
    /* Header, table header and two steps: 4 lines, none moved over. */
    cr_assert_null(strstr(buf, "\033[4A"));
    assert_has(buf, "\r\033[Krun 42  nightly v2  running  2s\n");
    assert_has(buf, "\r\033[Kfetch  running         1       2s\n");
    size_t first = len;
    cr_assert(!runview_update(v, a, now + 1000), "elapsed time is no change");
    cr_assert(runview_update(v, b, now + 2000));
    fflush(m);
    cr_assert_eq(strncmp(buf + first, "\033[4A\r\033[K", 8), 0, "%s",
                 buf + first);
    assert_has(buf + first, "\r\033[Kscore  running           2       2s  "
                            "3/10\n");
    cr_assert_eq(strcmp(buf + len - 3, "\033[J"), 0);
    runview_free(v);
    fclose(m);
    free(buf);
    json_decref(a);
    json_decref(b);
}
