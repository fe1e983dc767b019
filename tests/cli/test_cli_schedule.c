/*
 * test_cli_schedule.c - `flowstate schedule add|list|rm` without a
 * server: every local check (exit 2 naming the problem, before any
 * request; a bad cron in cron_parse's own words), the option parser's
 * two positional arguments, and against the canned responder of
 * clitest.h the request each command sends and how it prints the answer.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/clitest.h"

TestSuite(cli_schedule, .init = setup, .fini = teardown, .timeout = 30);

/* The JSON body of a recorded request. */
static json_t *request_body(const char *req)
{
    const char *body = strstr(req, "\r\n\r\n");
    cr_assert_not_null(body, "no body in:\n%s", req);
    json_t *v = json_loads(body + 4, 0, NULL);
    cr_assert_not_null(v, "body is not JSON:\n%s", body + 4);
    return v;
}

#define STORED                                                               \
    "{\"name\":\"nightly\",\"cron\":\"0 2 * * *\",\"enabled\":true,"         \
    "\"job\":{\"type\":\"report\",\"target_agent\":\"reporter\"},"           \
    "\"next_fire_at\":\"2099-01-01T02:00:00.000Z\",\"last_fire_at\":null}"

Test(cli_schedule, add_sends_the_schedule_and_prints_a_line)
{
    setenv("FLOWSTATE_API_KEY", "k", 1);
    responder_start(1, (char *[]){answer(201, STORED)});
    cr_assert_eq(RUN("schedule", "add", "nightly", "0 2 * * *", "--type",
                     "report", "--target", "reporter", "--payload",
                     "{\"depth\":2}", "--priority", "5", "--max-attempts",
                     "3", "--timeout", "60"),
                 0, "%s", CAP.err_text);
    responder_stop();
    assert_has(RESP.requests[0], "POST /v1/schedules HTTP/1.1\r\n");
    json_t *body = request_body(RESP.requests[0]);
    json_t *want = json_pack(
        "{s:s,s:s,s:b,s:{s:s,s:s,s:{s:i},s:i,s:i,s:i}}", "name", "nightly",
        "cron", "0 2 * * *", "enabled", 1, "job", "type", "report",
        "target_agent", "reporter", "payload", "depth", 2, "priority", 5,
        "max_attempts", 3, "timeout_ms", 60000);
    cr_assert(json_equal(body, want), "body: %s",
              strstr(RESP.requests[0], "\r\n\r\n"));
    json_decref(body);
    json_decref(want);
    assert_has(CAP.out_text, "added schedule nightly (0 2 * * *): report for "
                             "reporter, next at 2099-01-01T02:00:00.000Z (in ");
}

Test(cli_schedule, add_again_says_replaced_and_disabled_sends_false)
{
    setenv("FLOWSTATE_API_KEY", "k", 1);
    responder_start(
        1, (char *[]){answer(200, "{\"name\":\"learn\",\"cron\":\"@every "
                                  "30m\",\"enabled\":false,\"job\":{\"type\":"
                                  "\"learn\",\"target_agent\":\"l\"},"
                                  "\"next_fire_at\":null}")});
    cr_assert_eq(RUN("schedule", "add", "--type", "learn", "learn",
                     "--target=l", "@every 30m", "--disabled"),
                 0, "%s", CAP.err_text);
    responder_stop();
    json_t *body = request_body(RESP.requests[0]);
    cr_assert(json_is_false(json_object_get(body, "enabled")));
    cr_assert_str_eq(json_string_value(json_object_get(body, "cron")),
                     "@every 30m", "positionals in order among options");
    cr_assert_eq(json_object_size(json_object_get(body, "job")), 2);
    json_decref(body);
    cr_assert_str_eq(CAP.out_text, "replaced schedule learn (@every 30m): "
                                   "learn for l, disabled\n");
}

Test(cli_schedule, add_checks_everything_before_a_request)
{
    static const struct {
        char *argv[12];
        const char *msg;
    } cases[] = {
        {{"schedule", "add", "n", "0 25 * * *", "--type", "t", "--target",
          "a"},
         "flowstate schedule add: CRON '0 25 * * *': field 2 (hour): 25 is "
         "out of 0-23\n"},
        {{"schedule", "add", "n", "@every 0s", "--type", "t", "--target", "a"},
         "flowstate schedule add: CRON '@every 0s': @every 0s: the period "
         "must be from 1s to 366d\n"},
        {{"schedule", "add", "bad name", "@daily", "--type", "t", "--target",
          "a"},
         "flowstate schedule add: NAME 'bad name' must be 1-100 letters, "
         "digits, '.', '_' or '-'\n"},
        {{"schedule", "add", "n", "@daily", "--target", "a"},
         "flowstate schedule add: missing --type TYPE (the job type)\n"},
        {{"schedule", "add", "n", "@daily", "--type", "t"},
         "flowstate schedule add: missing --target AGENT (an agent type or "
         "id)\n"},
        {{"schedule", "add", "n", "@daily", "--type", "t", "--target", "a",
          "--payload", "[1]"},
         "flowstate schedule add: --payload must be a JSON object, like "
         "{\"window\": \"1h\"}\n"},
        {{"schedule", "add", "n", "@daily", "--type", "t", "--target", "a",
          "--payload", "{"},
         "flowstate schedule add: --payload must be a JSON object, like "
         "{\"window\": \"1h\"}\n"},
        {{"schedule", "add", "n", "--type", "t", "--target", "a"},
         "flowstate schedule add: missing CRON\n"
         "Try 'flowstate schedule add --help'.\n"},
        {{"schedule", "add", "--type", "t"},
         "flowstate schedule add: missing NAME\n"
         "Try 'flowstate schedule add --help'.\n"},
        {{"schedule", "add", "n", "@daily", "extra", "--type", "t"},
         "flowstate schedule add: unexpected argument 'extra'\n"
         "Try 'flowstate schedule add --help'.\n"},
        {{"schedule", "add", "n", "@daily", "--type", "t", "--target", "a",
          "--priority", "x"},
         "flowstate schedule add: --priority: 'x' is not a whole number from "
         "-1000000 to 1000000\nTry 'flowstate schedule add --help'.\n"},
        {{"schedule", "rm", "a/b"},
         "flowstate schedule rm: NAME 'a/b' must be 1-100 letters, digits, "
         "'.', '_' or '-'\n"},
        {{"schedule", "rm"},
         "flowstate schedule rm: missing NAME\n"
         "Try 'flowstate schedule rm --help'.\n"},
    };
    setenv("FLOWSTATE_API_KEY", "k", 1);
    setenv("FLOWSTATE_URL", "http://127.0.0.1:9", 1); /* never reached */
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cr_expect_eq(run((char **)cases[i].argv), CLI_EXIT_USAGE, "case %zu",
                     i);
        cr_expect_str_eq(CAP.err_text, cases[i].msg, "case %zu", i);
        cr_expect_str_eq(CAP.out_text, "", "case %zu", i);
    }
}

Test(cli_schedule, list_prints_a_table_or_the_json)
{
    setenv("FLOWSTATE_API_KEY", "k", 1);
    const char *doc =
        "{\"schedules\":[" STORED ",{\"name\":\"paused\",\"cron\":\"@hourly\","
        "\"enabled\":false,\"job\":{\"type\":\"x\",\"target_agent\":\"y\"},"
        "\"next_fire_at\":null,\"last_fire_at\":null}]}";
    responder_start(2, (char *[]){answer(200, doc), answer(200, doc)});
    cr_assert_eq(RUN("schedule", "list"), 0, "%s", CAP.err_text);
    assert_has(RESP.requests[0], "GET /v1/schedules HTTP/1.1\r\n");
    assert_has(CAP.out_text, "NAME     CRON       JOB                 "
                             "ENABLED  NEXT FIRE  LAST FIRE\n");
    assert_has(CAP.out_text, "nightly  0 2 * * *  report -> reporter  yes "
                             "     in ");
    assert_has(CAP.out_text, "paused   @hourly    x -> y              no  "
                             "     -          -\n");
    cr_assert_eq(RUN("schedule", "list", "--json"), 0);
    responder_stop();
    json_t *printed = json_loads(CAP.out_text, 0, NULL);
    json_t *sent = json_loads(doc, 0, NULL);
    cr_assert(json_equal(printed, sent), "%s", CAP.out_text);
    json_decref(printed);
    json_decref(sent);
}

Test(cli_schedule, list_says_when_there_are_none)
{
    setenv("FLOWSTATE_API_KEY", "k", 1);
    responder_start(1, (char *[]){answer(200, "{\"schedules\":[]}")});
    cr_assert_eq(RUN("schedule", "list"), 0);
    responder_stop();
    cr_assert_str_eq(CAP.out_text, "no schedules\n");
}

Test(cli_schedule, rm_deletes_and_maps_404)
{
    setenv("FLOWSTATE_API_KEY", "k", 1);
    responder_start(
        2, (char *[]){answer(204, ""),
                      answer(404, "{\"error\":{\"code\":\"not_found\","
                                  "\"message\":\"no such schedule\"}}")});
    cr_assert_eq(RUN("schedule", "rm", "nightly"), 0, "%s", CAP.err_text);
    assert_has(RESP.requests[0], "DELETE /v1/schedules/nightly HTTP/1.1\r\n");
    cr_assert_str_eq(CAP.out_text, "removed schedule nightly\n");
    cr_assert_eq(RUN("schedule", "rm", "nightly"), CLI_EXIT_NOTFOUND);
    responder_stop();
    assert_has(CAP.err_text, "no such schedule");
}

Test(cli_schedule, help_shows_the_cron_forms_and_examples)
{
    cr_assert_eq(RUN("schedule", "add", "--help"), 0);
    assert_has(CAP.out_text, "usage: flowstate schedule add NAME CRON --type "
                             "TYPE --target AGENT [options]");
    assert_has(CAP.out_text, "@every");
    assert_has(CAP.out_text, "examples:");
    assert_has(CAP.out_text, "flowstate schedule add nightly-report");
    cr_assert_eq(RUN("schedule", "--help"), 0);
    assert_has(CAP.out_text, "add      NAME CRON");
    assert_has(CAP.out_text, "rm       NAME");
    cr_assert_eq(RUN("schedule"), CLI_EXIT_USAGE);
}
