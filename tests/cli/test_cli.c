/*
 * test_cli.c - the client commands without a flowstate server: option
 * parsing and its errors (exit 2 with a message), local payload and time
 * validation, key and URL resolution, table layout and truncation, the
 * formatting helpers, and the HTTP client against a canned one-shot HTTP
 * responder on loopback (status -> exit code mapping, error printing, the
 * Authorization header, cursor following, unreachable and silent servers).
 *
 * Each Criterion test runs in its own process, so tests freely set the
 * environment and redirect stdin/stdout/stderr (capture and the canned
 * responder are in clitest.h, shared with the memory command tests).
 * End-to-end tests against the real server live with the integration
 * harness in tests/support/.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/clifmt.h"
#include "cli/cliopt.h"
#include "cli/clitest.h"
#include "cli/table.h"
#include "core/fs.h"

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 30);

/* ---- option parsing --------------------------------------------------- */

Test(cli, int_parser_takes_whole_numbers_in_range_only)
{
    int64_t v;
    cr_assert(cliopt_int("42", 0, 100, &v) && v == 42);
    cr_assert(cliopt_int("-5", -10, 10, &v) && v == -5);
    cr_assert(cliopt_int("9223372036854775807", 0, INT64_MAX, &v));
    cr_assert(!cliopt_int("9223372036854775808", 0, INT64_MAX, &v));
    cr_assert(!cliopt_int("", 0, 100, &v));
    cr_assert(!cliopt_int(" 5", 0, 100, &v));
    cr_assert(!cliopt_int("+5", 0, 100, &v));
    cr_assert(!cliopt_int("5x", 0, 100, &v));
    cr_assert(!cliopt_int("1e3", 0, 10000, &v));
    cr_assert(!cliopt_int("101", 0, 100, &v));
    cr_assert(!cliopt_int("-", 0, 100, &v));
}

Test(cli, unknown_flag_exits_2_naming_it)
{
    cr_assert_eq(RUN("job", "list", "--bogus"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "flowstate job list: unknown option '--bogus'");
    assert_has(CAP.err_text, "Try 'flowstate job list --help'");
    cr_assert_str_empty(CAP.out_text);
    cr_assert_eq(RUN("queue", "stats", "--bogus=1"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "unknown option '--bogus'");
    cr_assert_eq(RUN("agent", "list", "-x"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "unknown option '-x'");
}

Test(cli, bad_number_exits_2)
{
    cr_assert_eq(RUN("job", "list", "--limit", "ten"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--limit: 'ten' is not a whole number from 1 "
                             "to 1000");
    cr_assert_eq(RUN("job", "list", "--limit=0"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--limit: '0'");
    cr_assert_eq(
        RUN("job", "enqueue", "t", "--to", "a", "--priority", "99999999999"),
        CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--priority");
    cr_assert_eq(RUN("job", "enqueue", "t", "--to", "a", "--max-attempts", "0"),
                 CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--max-attempts");
}

Test(cli, negative_numbers_are_values_not_options)
{
    /* Parsing succeeds; the run then stops at the missing key (exit 2),
     * which proves --priority took -5. */
    cr_assert_eq(RUN("job", "enqueue", "t", "--to", "a", "--priority", "-5",
                     "--key-file", "/nonexistent/k"),
                 CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "no API key");
}

Test(cli, missing_values_and_arguments_exit_2)
{
    cr_assert_eq(RUN("job", "enqueue", "t", "--to"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--to needs a value");
    cr_assert_eq(RUN("job", "enqueue", "t", "--to", "--json"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--to needs a value");
    cr_assert_eq(RUN("job", "enqueue", "--to", "a"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "missing TYPE");
    cr_assert_eq(RUN("job", "enqueue", "t"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "missing --to TARGET_AGENT");
    cr_assert_eq(RUN("job", "show"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "flowstate job show: missing ID");
    cr_assert_eq(RUN("job", "show", "1", "2"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "unexpected argument '2'");
    cr_assert_eq(RUN("queue", "stats", "extra"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "unexpected argument 'extra'");
    cr_assert_eq(RUN("job", "list", "--json=yes"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--json takes no value");
}

Test(cli, bad_ids_and_states_exit_2)
{
    cr_assert_eq(RUN("job", "show", "abc"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "'abc' is not a job id");
    cr_assert_eq(RUN("job", "cancel", "0"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "'0' is not a job id");
    cr_assert_eq(RUN("job", "retry", "-3"), CLI_EXIT_USAGE);
    cr_assert_eq(RUN("job", "list", "--state", "done"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--state: 'done' is not one of pending");
    cr_assert_eq(RUN("agent", "show", ""), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "the agent ID is empty");
}

Test(cli, help_on_every_command_exits_0)
{
    static const char *const cmds[][2] = {
        {"job", "enqueue"}, {"job", "list"},    {"job", "show"},
        {"job", "cancel"},  {"job", "retry"},   {"agent", "list"},
        {"agent", "show"},  {"queue", "stats"},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        char want[64];
        snprintf(want, sizeof want, "usage: flowstate %s %s", cmds[i][0],
                 cmds[i][1]);
        cr_assert_eq(RUN((char *)cmds[i][0], (char *)cmds[i][1], "--help"), 0,
                     "%s %s --help", cmds[i][0], cmds[i][1]);
        assert_has(CAP.out_text, want);
        assert_has(CAP.out_text, "--key-file FILE");
        assert_has(CAP.out_text, "exit codes:");
        cr_assert_str_empty(CAP.err_text);
        cr_assert_eq(RUN((char *)cmds[i][0], (char *)cmds[i][1], "-h"), 0);
    }
    const char *groups[] = {"job", "agent", "queue"};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(RUN((char *)groups[i], "--help"), 0);
        assert_has(CAP.out_text, "subcommands:");
    }
}

Test(cli, help_wins_over_other_mistakes)
{
    cr_assert_eq(RUN("job", "enqueue", "--bogus", "--limit", "x", "--help"), 0);
    assert_has(CAP.out_text, "usage: flowstate job enqueue TYPE --to");
    cr_assert_str_empty(CAP.err_text);
}

Test(cli, group_without_or_with_unknown_subcommand_exits_2)
{
    cr_assert_eq(RUN("job"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "missing subcommand");
    assert_has(CAP.err_text, "enqueue");
    cr_assert_eq(RUN("agent", "delete"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "unknown subcommand 'delete'");
    cr_assert_eq(RUN("job", "--json", "list"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "options go after the subcommand");
}

/* ---- local validation of enqueue -------------------------------------- */

Test(cli, bad_payload_json_exits_2_before_any_request)
{
    /* No key and no server: only local validation can produce this. */
    cr_assert_eq(
        RUN("job", "enqueue", "t", "--to", "a", "--payload", "{\"a\":"),
        CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--payload is not valid JSON");
    cr_assert_eq(
        RUN("job", "enqueue", "t", "--to", "a", "--payload", "{} trailing"),
        CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--payload is not valid JSON");
    cr_assert_eq(
        RUN("job", "enqueue", "t", "--to", "a", "--payload", "{'single':1}"),
        CLI_EXIT_USAGE);
    cr_assert_eq(RUN("job", "enqueue", "t", "--to", "a", "--payload", "[1, 2]"),
                 CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--payload must be a JSON object");
    cr_assert_eq(RUN("job", "enqueue", "t", "--to", "a", "--payload", "42"),
                 CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--payload must be a JSON object");
}

Test(cli, payload_file_errors_exit_2)
{
    char path[] = "/tmp/cli-payload-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, "[1, 2,", 6), 6);
    close(fd);
    cr_assert_eq(
        RUN("job", "enqueue", "t", "--to", "a", "--payload-file", path),
        CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "is not valid JSON");
    assert_has(CAP.err_text, path);
    cr_assert_eq(RUN("job", "enqueue", "t", "--to", "a", "--payload-file",
                     "/nonexistent/p.json"),
                 CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "cannot open /nonexistent/p.json");
    cr_assert_eq(
        RUN("job", "enqueue", "t", "--to", "a", "--payload-file", "/tmp"),
        CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "cannot open /tmp: Is a directory");
    cr_assert_eq(RUN("job", "enqueue", "t", "--to", "a", "--payload", "{}",
                     "--payload-file", path),
                 CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "not both");
    unlink(path);
}

Test(cli, payload_from_stdin_is_validated)
{
    char path[] = "/tmp/cli-stdin-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_eq(write(fd, "nope", 4), 4);
    close(fd);
    cr_assert(freopen(path, "r", stdin));
    cr_assert_eq(RUN("job", "enqueue", "t", "--to", "a", "--payload-file", "-"),
                 CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--payload-file (stdin) is not valid JSON");
    unlink(path);
}

Test(cli, bad_times_and_names_exit_2)
{
    cr_assert_eq(
        RUN("job", "enqueue", "t", "--to", "a", "--run-at", "tomorrow"),
        CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--run-at: 'tomorrow' is not an RFC 3339 time");
    cr_assert_eq(RUN("job", "enqueue", "t", "--to", "a", "--run-at",
                     "2030-01-01T00:00:00Z", "--delay", "5"),
                 CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--run-at or --delay, not both");
    cr_assert_eq(RUN("job", "enqueue", "", "--to", "a"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "TYPE is empty");
    char long_name[300];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    cr_assert_eq(RUN("job", "enqueue", "t", "--to", long_name), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--to is longer than 200 bytes");
}

/* ---- settings: key and URL -------------------------------------------- */

Test(cli, missing_key_file_exits_2_with_advice)
{
    cr_assert_eq(RUN("job", "list", "--key-file", "/nonexistent/key"),
                 CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "no API key: cannot read /nonexistent/key");
    assert_has(CAP.err_text, "FLOWSTATE_API_KEY");
    setenv("FLOWSTATE_KEY_FILE", "/nonexistent/env-key", 1);
    cr_assert_eq(RUN("queue", "stats"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "/nonexistent/env-key");
}

Test(cli, empty_key_file_exits_2)
{
    char path[] = "/tmp/cli-key-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_eq(write(fd, " \n\n", 3), 3);
    close(fd);
    cr_assert_eq(RUN("job", "list", "--key-file", path), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "is empty");
    unlink(path);
}

Test(cli, url_without_scheme_exits_2)
{
    cr_assert_eq(RUN("job", "list", "--key", "k", "--url", "localhost:8080"),
                 CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "bad server URL 'localhost:8080'");
    setenv("FLOWSTATE_URL", "ftp://x", 1);
    cr_assert_eq(RUN("job", "list", "--key", "k"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "bad server URL 'ftp://x'");
}

Test(cli, unreachable_server_exits_3)
{
    /* Nothing listens on loopback port 1: connection refused at once. */
    cr_assert_eq(
        RUN("job", "list", "--key", "k", "--url", "http://127.0.0.1:1/"),
        CLI_EXIT_UNREACHABLE);
    assert_has(CAP.err_text, "cannot reach flowstate at http://127.0.0.1:1:");
    assert_has(CAP.err_text, "is `flowstate serve` running?");
    setenv("FLOWSTATE_URL", "http://127.0.0.1:1", 1);
    setenv("FLOWSTATE_API_KEY", "k", 1);
    cr_assert_eq(RUN("queue", "stats"), CLI_EXIT_UNREACHABLE);
}

Test(cli, key_file_is_trimmed_and_sent_as_bearer)
{
    char path[] = "/tmp/cli-key-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_eq(write(fd, "fs_admin_123\r\n\n", 15), 15);
    close(fd);
    responder_start(1, (char *[]){answer(200, "{\"status\":\"ok\"}")});
    cr_assert_eq(RUN("job", "show", "7", "--key-file", path, "--json"), 0);
    responder_stop();
    assert_has(RESP.requests[0], "GET /v1/jobs/7 HTTP/1.1\r\n");
    assert_has(RESP.requests[0], "Authorization: Bearer fs_admin_123\r\n");
    cr_assert_str_eq(CAP.out_text, "{\n  \"status\": \"ok\"\n}\n");
    unlink(path);
}

Test(cli, key_beside_flowstate_db_is_found)
{
    /* serve writes its key beside the database: the CLI looks there when
     * ./flowstate.key is absent (so run from an empty folder). */
    char dir[] = "/tmp/cli-db-XXXXXX", cwd[] = "/tmp/cli-cwd-XXXXXX";
    char path[64], db[64];
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_not_null(mkdtemp(cwd));
    cr_assert_eq(chdir(cwd), 0);
    snprintf(path, sizeof path, "%s/flowstate.key", dir);
    snprintf(db, sizeof db, "%s/x.db", dir);
    FILE *f = fopen(path, "w");
    fputs("fsk_beside\n", f);
    fclose(f);
    setenv("FLOWSTATE_DB", db, 1);
    responder_start(1, (char *[]){answer(200, "{\"agents\":[]}")});
    cr_assert_eq(RUN("agent", "list"), 0);
    responder_stop();
    assert_has(RESP.requests[0], "Authorization: Bearer fsk_beside\r\n");
    unlink(path);
    rmdir(dir);
    rmdir(cwd);
}

Test(cli, key_flag_beats_environment)
{
    setenv("FLOWSTATE_API_KEY", "from-env", 1);
    responder_start(1, (char *[]){answer(200, "{\"agents\":[]}")});
    cr_assert_eq(RUN("agent", "list", "--key", "from-flag"), 0);
    responder_stop();
    assert_has(RESP.requests[0], "Authorization: Bearer from-flag\r\n");
    cr_assert_str_eq(CAP.out_text, "no agents\n");
}

Test(cli, server_error_is_printed_with_status_and_code)
{
    setenv("FLOWSTATE_API_KEY", "k", 1);
    responder_start(
        1, (char *[]){answer(409, "{\"error\":{\"code\":\"state\",\"message\":"
                                  "\"job 5 is completed\"}}")});
    cr_assert_eq(RUN("job", "cancel", "5"), CLI_EXIT_REJECTED);
    responder_stop();
    assert_has(RESP.requests[0], "POST /v1/jobs/5/cancel HTTP/1.1\r\n");
    cr_assert_str_eq(CAP.err_text,
                     "flowstate: job 5 is completed (HTTP 409 state)\n");
    cr_assert_str_empty(CAP.out_text);
}

Test(cli, not_found_exits_4_and_5xx_exits_3)
{
    setenv("FLOWSTATE_API_KEY", "k", 1);
    responder_start(
        2, (char *[]){
               answer(404,
                      "{\"error\":{\"code\":\"not_found\",\"message\":\"no job "
                      "9\"}}"),
               answer(503, "shutting down"),
           });
    cr_assert_eq(RUN("job", "show", "9"), CLI_EXIT_NOTFOUND);
    assert_has(CAP.err_text, "flowstate: no job 9 (HTTP 404 not_found)");
    cr_assert_eq(RUN("job", "show", "9"), CLI_EXIT_UNREACHABLE);
    assert_has(CAP.err_text,
               "flowstate: the server answered HTTP 503: shutting down");
    responder_stop();
}

Test(cli, enqueue_sends_the_body_it_was_given)
{
    setenv("FLOWSTATE_API_KEY", "k", 1);
    responder_start(
        1, (char *[]){answer(
               201,
               "{\"id\":12,\"type\":\"email.send\",\"target_agent\":\"mailer\","
               "\"state\":\"pending\"}")});
    cr_assert_eq(RUN("job", "enqueue", "email.send", "--to", "mailer",
                     "--payload", "{\"to\": \"a@b.c\"}", "--priority", "5",
                     "--max-attempts", "3", "--unique-key", "u1", "--timeout",
                     "60", "--run-at", "2030-01-02T03:04:05+01:00"),
                 0);
    responder_stop();
    const char *req = RESP.requests[0];
    assert_has(req, "POST /v1/jobs HTTP/1.1\r\n");
    assert_has(req, "\"type\":\"email.send\"");
    assert_has(req, "\"target_agent\":\"mailer\"");
    assert_has(req, "\"payload\":{\"to\":\"a@b.c\"}");
    assert_has(req, "\"priority\":5");
    assert_has(req, "\"max_attempts\":3");
    assert_has(req, "\"unique_key\":\"u1\"");
    assert_has(req, "\"timeout_ms\":60000");
    assert_has(req, "\"run_at\":\"2030-01-02T02:04:05.000Z\"");
    cr_assert_str_eq(CAP.out_text,
                     "enqueued job 12 (email.send for mailer): pending\n");
}

Test(cli, enqueue_of_an_existing_unique_key_says_so)
{
    setenv("FLOWSTATE_API_KEY", "k", 1);
    responder_start(
        1, (char *[]){answer(
               200, "{\"id\":3,\"unique_key\":\"u1\",\"state\":\"running\"}")});
    cr_assert_eq(RUN("job", "enqueue", "t", "--to", "a", "--unique-key", "u1"),
                 0);
    responder_stop();
    cr_assert_str_eq(CAP.out_text,
                     "job 3 already exists with unique key 'u1': running\n");
}

Test(cli, list_all_follows_cursors_into_one_document)
{
    setenv("FLOWSTATE_API_KEY", "k", 1);
    responder_start(
        2, (char *[]){
               answer(200, "{\"jobs\":[{\"id\":2}],\"next_cursor\":\"c 1\"}"),
               answer(200, "{\"jobs\":[{\"id\":1}],\"next_cursor\":null}"),
           });
    cr_assert_eq(RUN("job", "list", "--all", "--json", "--state", "failed",
                     "--type", "a&b", "--limit", "1"),
                 0);
    responder_stop();
    assert_has(RESP.requests[0],
               "GET /v1/jobs?state=failed&type=a%26b&limit=1 HTTP/1.1");
    assert_has(RESP.requests[1],
               "GET /v1/jobs?state=failed&type=a%26b&limit=1&cursor=c%201 ");
    json_t *doc = json_loads(CAP.out_text, 0, NULL);
    cr_assert(doc, "not one JSON document:\n%s", CAP.out_text);
    cr_assert_eq(json_array_size(json_object_get(doc, "jobs")), 2);
    cr_assert(json_is_null(json_object_get(doc, "next_cursor")));
    json_decref(doc);
}

Test(cli, list_without_all_points_at_the_next_page)
{
    setenv("FLOWSTATE_API_KEY", "k", 1);
    responder_start(
        1,
        (char *[]){answer(
            200,
            "{\"jobs\":[{\"id\":2,\"state\":\"failed\",\"type\":\"t\","
            "\"target_agent\":\"a\",\"priority\":0,\"attempts\":3,"
            "\"max_attempts\":3,\"run_at\":null,\"updated_at\":null,"
            "\"last_error\":\"boom\\nat line 2\"}],\"next_cursor\":\"c1\"}")});
    cr_assert_eq(RUN("job", "list"), 0);
    responder_stop();
    cr_assert_str_eq(CAP.out_text,
                     "ID  STATE   TYPE  TARGET  PRI  TRIES  RUN AT  UPDATED  "
                     "LAST ERROR\n"
                     " 2  failed  t     a         0    3/3  -       -        "
                     "boom at line 2\n"
                     "more jobs: add --cursor c1 (or --all)\n");
}

Test(cli, a_silent_server_times_out)
{
    responder_start(1, (char *[]){NULL});
    client *c;
    client_opts o = {.key = "k", .timeout_ms = 300};
    cr_assert_eq(client_open(&c, &o), 0);
    client_resp r;
    capture_begin();
    int rc = client_request(c, "GET", "/v1/health", NULL, &r);
    capture_end();
    client_close(c);
    cr_assert_eq(rc, FS_EIO);
    assert_has(CAP.err_text, "no answer from flowstate at http://127.0.0.1:");
    responder_stop();
}

/* ---- client helpers --------------------------------------------------- */

Test(cli, status_maps_to_exit_code)
{
    cr_assert_eq(client_exit_code(200), CLI_EXIT_OK);
    cr_assert_eq(client_exit_code(201), CLI_EXIT_OK);
    cr_assert_eq(client_exit_code(400), CLI_EXIT_REJECTED);
    cr_assert_eq(client_exit_code(401), CLI_EXIT_REJECTED);
    cr_assert_eq(client_exit_code(409), CLI_EXIT_REJECTED);
    cr_assert_eq(client_exit_code(429), CLI_EXIT_REJECTED);
    cr_assert_eq(client_exit_code(404), CLI_EXIT_NOTFOUND);
    cr_assert_eq(client_exit_code(500), CLI_EXIT_UNREACHABLE);
    cr_assert_eq(client_exit_code(503), CLI_EXIT_UNREACHABLE);
    cr_assert_eq(client_exit_code(302), CLI_EXIT_UNREACHABLE);
}

Test(cli, escape_and_query_building)
{
    char *e = client_escape("ag_1 a/b?c=d&é");
    cr_assert_str_eq(e, "ag_1%20a%2Fb%3Fc%3Dd%26%C3%A9");
    free(e);
    char *path = strdup("/v1/jobs");
    client_query_add(&path, "state", NULL);
    cr_assert_str_eq(path, "/v1/jobs");
    client_query_add(&path, "type", "x y");
    client_query_add(&path, "limit", "5");
    cr_assert_str_eq(path, "/v1/jobs?type=x%20y&limit=5");
    free(path);
}

/* ---- tables ----------------------------------------------------------- */

/* Prints t with style into a fresh string. */
static char *render(const table *t, table_style style)
{
    char *buf;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    table_print(t, f, style);
    fclose(f);
    return buf;
}

Test(cli, table_widths_come_from_the_content)
{
    table *t = table_new(3, (const char *[]){"ID", "NAME", "N"});
    table_set_align(t, 2, TABLE_RIGHT);
    table_add(t, (const char *[]){"1", "alpha", "5"});
    table_add(t, (const char *[]){"1234", NULL, "12345"});
    table_add(t, (const char *[]){"7", "", ""});
    char *s = render(t, (table_style){0});
    cr_assert_str_eq(s, "ID    NAME       N\n"
                        "1     alpha      5\n"
                        "1234  -      12345\n"
                        "7\n");
    free(s);
    table_free(t);
}

Test(cli, table_cuts_long_cells_with_an_ellipsis)
{
    table *t = table_new(2, (const char *[]){"K", "VALUE"});
    table_set_max(t, 1, 8);
    table_add(t, (const char *[]){"a", "short"});
    table_add(t, (const char *[]){"b", "exactly8"});
    table_add(t, (const char *[]){"c", "much longer than eight"});
    table_add(t, (const char *[]){"d", "ééééééééé"}); /* 9 code points */
    char *s = render(t, (table_style){0});
    cr_assert_str_eq(s, "K  VALUE\n"
                        "a  short\n"
                        "b  exactly8\n"
                        "c  much lo\xe2\x80\xa6\n"
                        "d  ééééééé\xe2\x80\xa6\n");
    free(s);
    table_free(t);
}

Test(cli, table_fits_a_terminal_width_cutting_only_cuttable_columns)
{
    table *t = table_new(3, (const char *[]){"NAME", "DESCRIPTION", "ID"});
    table_set_max(t, 0, 100);
    table_set_max(t, 1, 100);
    /* ID has no limit: it is never cut. */
    table_add(
        t, (const char *[]){"abcdefghijkl", "0123456789012345678", "id-1234"});
    char *s = render(t, (table_style){.width = 33});
    /* 12 + 2 + 19 + 2 + 7 = 42 > 33: the widest shrinks first, then both. */
    cr_assert_str_eq(s, "NAME         DESCRIPTION  ID\n"
                        "abcdefghij\xe2\x80\xa6  0123456789\xe2\x80\xa6  "
                        "id-1234\n");
    free(s);
    s = render(t, (table_style){.width = 5}); /* floors: header widths */
    cr_assert_str_eq(s, "NAME  DESCRIPTION  ID\n"
                        "abc\xe2\x80\xa6  0123456789\xe2\x80\xa6  id-1234\n");
    free(s);
    table_free(t);
}

Test(cli, table_cells_stay_on_one_line)
{
    table *t = table_new(2, NULL);
    table_add(t, (const char *[]){"ctl", "a\nb\tc\x7f"
                                         "d"});
    table_add(t, (const char *[]){"bad", "x\xff\xc3y"});
    char *s = render(t, (table_style){0});
    cr_assert_str_eq(s, "ctl  a b c d\n"
                        "bad  x??y\n");
    free(s);
    table_free(t);
}

Test(cli, table_rule_and_colour)
{
    table *t = table_new(2, (const char *[]){"A", "B"});
    table_add(t, (const char *[]){"x", "1"});
    table_add_rule(t);
    table_add(t, (const char *[]){"total", "1"});
    char *s = render(t, (table_style){0});
    cr_assert_str_eq(s, "A      B\n"
                        "x      1\n"
                        "-----  -\n"
                        "total  1\n");
    free(s);
    s = render(t, (table_style){.colour = true});
    assert_has(s, "\033[1mA\033[0m      \033[1mB\033[0m\n");
    free(s);
    table_free(t);
}

Test(cli, table_style_is_plain_off_a_terminal)
{
    FILE *f = tmpfile();
    table_style st = table_style_for(f);
    cr_assert(!st.colour);
    cr_assert_eq(st.width, 0);
    fclose(f);
}

/* ---- formatting ------------------------------------------------------- */

Test(cli, spans_and_ages_use_one_unit)
{
    char buf[CLIFMT_CELL];
    clifmt_span(0, buf, sizeof buf);
    cr_assert_str_eq(buf, "0s");
    clifmt_span(59999, buf, sizeof buf);
    cr_assert_str_eq(buf, "59s");
    clifmt_span(60000, buf, sizeof buf);
    cr_assert_str_eq(buf, "1m");
    clifmt_span(3 * 3600 * 1000 + 5, buf, sizeof buf);
    cr_assert_str_eq(buf, "3h");
    clifmt_span(47LL * 3600 * 1000, buf, sizeof buf);
    cr_assert_str_eq(buf, "47h");
    clifmt_span(3LL * 86400 * 1000, buf, sizeof buf);
    cr_assert_str_eq(buf, "3d");

    int64_t now = 1700000000000; /* 2023-11-14T22:13:20Z */
    json_t *past = json_string("2023-11-14T22:13:17Z");
    json_t *future = json_string("2023-11-14T22:18:20.000Z");
    json_t *junk = json_string("yesterday");
    cr_assert_str_eq(clifmt_age(past, now, buf, sizeof buf), "3s ago");
    cr_assert_str_eq(clifmt_age(future, now, buf, sizeof buf), "in 5m");
    cr_assert_str_eq(clifmt_age(junk, now, buf, sizeof buf), "yesterday");
    cr_assert_str_eq(clifmt_age(json_null(), now, buf, sizeof buf), "-");
    cr_assert_str_eq(clifmt_age(NULL, now, buf, sizeof buf), "-");
    json_decref(past);
    json_decref(future);
    json_decref(junk);
}

Test(cli, json_values_as_cells)
{
    json_t *v = json_loads("{\"s\":\"x\",\"n\":5,\"b\":true,\"z\":null,"
                           "\"a\":[\"p\",\"q\"],\"m\":[1,\"p\"],"
                           "\"o\":{\"k\":1},\"e\":[]}",
                           0, NULL);
    const char *keys[] = {"s", "n", "b", "z", "a", "m", "o", "e", "absent"};
    const char *want[] = {"x",         "5",         "true", "-", "p, q",
                          "[1,\"p\"]", "{\"k\":1}", "-",    "-"};
    for (size_t i = 0; i < 9; i++) {
        char *cell = clifmt_value(json_object_get(v, keys[i]));
        cr_assert_str_eq(cell, want[i], "key %s", keys[i]);
        free(cell);
    }
    json_decref(v);
}

Test(cli, json_blocks_are_indented)
{
    char *buf;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    json_t *v = json_pack("{s:i}", "a", 1);
    clifmt_json_block(f, v, 2);
    clifmt_text_block(f, "one\ntwo\n", 4);
    fclose(f);
    cr_assert_str_eq(buf, "  {\n    \"a\": 1\n  }\n    one\n    two\n");
    json_decref(v);
    free(buf);
}
