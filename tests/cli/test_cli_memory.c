/*
 * test_cli_memory.c - `flowstate memory|search|import` without a flowstate
 * server: the option parser's repeatable, real-number and optional
 * positional options, every local check (exit 2 with a message naming the
 * problem, before any request), and against the canned responder of
 * clitest.h: the request each command sends, how it prints the answer,
 * and how import batches documents and takes refused batches apart (a
 * 400 naming documents[K], a 413, a 401 that stops the run).
 *
 * End to end against the real server: tests/integration/test_memory_cli.c.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/clidoc.h"
#include "cli/clifmt.h"
#include "cli/cliopt.h"
#include "cli/clitest.h"

TestSuite(cli_memory, .init = setup, .fini = teardown, .timeout = 30);

/* A fresh folder for files a test writes (removed by the OS's tmp
 * cleaning; tests leave only small files). */
static char *temp_dir(void)
{
    char *d = strdup("/tmp/cli-mem-XXXXXX");
    cr_assert_not_null(mkdtemp(d));
    return d;
}

static char *write_file(const char *dir, const char *name, const char *text,
                        size_t len)
{
    char *path;
    cr_assert(asprintf(&path, "%s/%s", dir, name) > 0);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    mkdir(path, 0755); /* one level of sub-folder is enough here */
    *slash = '/';
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    fclose(f);
    return path;
}

#define WRITE(dir, name, lit) write_file((dir), (name), (lit), sizeof(lit) - 1)

/* The JSON body of a recorded request (fails the test if there is none). */
static json_t *request_body(const char *req)
{
    const char *body = strstr(req, "\r\n\r\n");
    cr_assert_not_null(body, "no body in:\n%s", req);
    json_error_t e;
    json_t *v = json_loads(body + 4, 0, &e);
    cr_assert_not_null(v, "body is not JSON (%s):\n%s", e.text, body + 4);
    return v;
}

/* ---- the option parser's new kinds ------------------------------------- */

Test(cli_memory, real_parser_takes_finite_decimals_in_range)
{
    double v;
    cr_assert(cliopt_real_parse("0.5", 0, 1, &v) && v == 0.5);
    cr_assert(cliopt_real_parse("1", 0, 1, &v) && v == 1);
    cr_assert(cliopt_real_parse("-0.25", -1, 1, &v) && v == -0.25);
    cr_assert(cliopt_real_parse(".5", 0, 1, &v) && v == 0.5);
    cr_assert(cliopt_real_parse("1e-3", 0, 1, &v) && v == 1e-3);
    cr_assert(!cliopt_real_parse("1.5", 0, 1, &v));
    cr_assert(!cliopt_real_parse("", 0, 1, &v));
    cr_assert(!cliopt_real_parse(" 1", 0, 1, &v));
    cr_assert(!cliopt_real_parse("+1", 0, 1, &v));
    cr_assert(!cliopt_real_parse("nan", -1e9, 1e9, &v));
    cr_assert(!cliopt_real_parse("inf", -1e9, 1e9, &v));
    cr_assert(!cliopt_real_parse("0x1p3", 0, 100, &v));
    cr_assert(!cliopt_real_parse("1e999", -1e300, 1e300, &v));
    cr_assert(!cliopt_real_parse("0.5x", 0, 1, &v));
}

Test(cli_memory, repeatable_options_collect_every_value)
{
    /* Parsing succeeds (three tags, two metas); the run stops at the
     * missing key, which proves nothing was refused before it. */
    cr_assert_eq(RUN("memory", "add", "x", "--tag", "a", "--tag=b", "--tag",
                     "c", "--meta", "k=v", "--meta", "k2=v=w", "--key-file",
                     "/nonexistent/k"),
                 CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "no API key");
    char *argv[2 + 2 * (CLIOPT_LIST_MAX + 1) + 1];
    int argc = 0;
    argv[argc++] = "memory";
    argv[argc++] = "add";
    for (int i = 0; i <= CLIOPT_LIST_MAX; i++) {
        argv[argc++] = "--tag";
        argv[argc++] = "t";
    }
    argv[argc] = NULL;
    cr_assert_eq(run(argv), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--tag is given more than 64 times");
}

Test(cli_memory, single_commands_name_themselves_in_messages)
{
    cr_assert_eq(RUN("search", "q", "--bogus"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "flowstate search: unknown option '--bogus'");
    assert_has(CAP.err_text, "Try 'flowstate search --help'.");
    cr_assert_eq(RUN("import"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "flowstate import: missing PATH");
    cr_assert_eq(RUN("search", "a", "b"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "unexpected argument 'b'");
}

Test(cli_memory, help_on_every_memory_command_exits_0)
{
    static const char *const cmds[][3] = {
        {"memory", "add", "usage: flowstate memory add TEXT"},
        {"memory", "get", "usage: flowstate memory get ID"},
        {"memory", "rm", "usage: flowstate memory rm ID"},
        {"memory", "list", "usage: flowstate memory list"},
        {"search", "--help", "usage: flowstate search [\"QUERY\"]"},
        {"import", "--help", "usage: flowstate import PATH"},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        char *argv[] = {(char *)cmds[i][0], (char *)cmds[i][1], "--help", NULL};
        cr_assert_eq(run(argv), 0, "%s %s --help", cmds[i][0], cmds[i][1]);
        assert_has(CAP.out_text, cmds[i][2]);
        assert_has(CAP.out_text, "exit codes:");
        cr_assert_str_empty(CAP.err_text);
    }
    cr_assert_eq(RUN("memory", "--help"), 0);
    assert_has(CAP.out_text, "subcommands:");
    cr_assert_eq(RUN("memory"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "missing subcommand");
}

/* ---- local checks: exit 2 before any request ---------------------------- */

Test(cli_memory, add_needs_exactly_one_content_source)
{
    cr_assert_eq(RUN("memory", "add"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "missing TEXT (or - for stdin, or --file F)");
    cr_assert_eq(RUN("memory", "add", "x", "--file", "/etc/hostname"),
                 CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "give TEXT, - or --file F, not more than one");
    cr_assert_eq(RUN("memory", "add", "--file", "/nonexistent/f"),
                 CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--file: cannot open /nonexistent/f");
    cr_assert_eq(RUN("memory", "add", "--file", "/tmp"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "cannot open /tmp: Is a directory");
    cr_assert_eq(RUN("memory", "add", " \n\t "), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "flowstate memory add: TEXT is empty");
}

Test(cli_memory, add_checks_the_file_it_reads)
{
    char *dir = temp_dir();
    char *bad = WRITE(dir, "latin1.txt", "caf\xe9");
    char *nul = WRITE(dir, "nul.txt", "a\0b");
    cr_assert_eq(RUN("memory", "add", "--file", bad), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "is not UTF-8 text");
    cr_assert_eq(RUN("memory", "add", "--file", nul), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "is not UTF-8 text");
    cr_assert(freopen(bad, "r", stdin));
    cr_assert_eq(RUN("memory", "add", "-"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "(stdin) is not UTF-8 text");
    free(bad);
    free(nul);
    free(dir);
}

Test(cli_memory, add_checks_fields)
{
    cr_assert_eq(RUN("memory", "add", "x", "--importance", "2"),
                 CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--importance: '2' is not a number from 0 to 1");
    cr_assert_eq(RUN("memory", "add", "x", "--importance", "high"),
                 CLI_EXIT_USAGE);
    cr_assert_eq(RUN("memory", "add", "x", "--meta", "novalue"),
                 CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--meta: 'novalue' is not key=value");
    cr_assert_eq(RUN("memory", "add", "x", "--meta", "=v"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--meta: '=v' is not key=value");
    cr_assert_eq(RUN("memory", "add", "x", "--tag", ""), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--tag is empty");
    char long_name[300];
    memset(long_name, 'k', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    cr_assert_eq(RUN("memory", "add", "x", "--kind", long_name),
                 CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--kind is longer than 200 bytes");
    cr_assert_eq(RUN("memory", "add", "x", "--agent", "\xff"), CLI_EXIT_USAGE);
}

Test(cli_memory, ids_and_list_flags_are_checked)
{
    cr_assert_eq(RUN("memory", "get", "abc"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "ID: 'abc' is not a document id");
    cr_assert_eq(RUN("memory", "rm", "0"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "'0' is not a document id");
    cr_assert_eq(RUN("memory", "get"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "missing ID");
    cr_assert_eq(RUN("memory", "list", "--limit", "0"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--limit: '0' is not a whole number from 1 to "
                             "1000");
    cr_assert_eq(RUN("memory", "list", "--kind", ""), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--kind is empty");
}

Test(cli_memory, search_inputs_must_fit_the_mode)
{
    static const struct {
        const char *args[8];
        const char *msg;
    } cases[] = {
        {{"search"}, "missing QUERY (the text to search for)"},
        {{"search", ""}, "QUERY is empty"},
        {{"search", "q", "--mode", "fuzzy"},
         "--mode: 'fuzzy' is not one of semantic, hybrid, similar"},
        {{"search", "q", "--id", "3"},
         "--id is for --mode similar, not semantic"},
        {{"search", "q", "--mode", "similar"},
         "QUERY is for --mode semantic or hybrid, not similar"},
        {{"search", "--mode", "similar"}, "--mode similar needs --id ID"},
        {{"search", "--mode", "similar", "--id", "x"},
         "--id: 'x' is not a document id"},
        {{"search", "--mode", "recommend", "--unlike", "2"},
         "--mode recommend needs at least one --like ID"},
        {{"search", "--mode", "recommend", "--like", "1,x"},
         "--like: 'x' is not a document id"},
        {{"search", "q", "--like", "1"},
         "--like/--unlike is for --mode recommend, not semantic"},
        {{"search", "q", "--mode", "hybrid", "--k", "3"},
         "--k is for --mode cluster, not hybrid"},
        {{"search", "q", "--fusion", "convex"},
         "--fusion is for --mode hybrid, not semantic"},
        {{"search", "q", "--mode", "hybrid", "--fusion", "borda"},
         "--fusion: 'borda' is not one of rrf, convex"},
        {{"search", "q", "--since", "yesterday"},
         "--since: 'yesterday' is not an RFC 3339 time"},
        {{"search", "q", "--meta", "a\"b=1"},
         "the key of 'a\"b=1' may not hold quotes or backslashes"},
        {{"search", "q", "--threshold", "high"},
         "--threshold: 'high' is not a number"},
        {{"search", "q", "--limit", "1001"}, "--limit: '1001'"},
        {{"search", "--mode", "cluster", "--k", "0"}, "--k: '0'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cr_assert_eq(run((char **)cases[i].args), CLI_EXIT_USAGE, "case %zu",
                     i);
        assert_has(CAP.err_text, cases[i].msg);
        cr_assert_str_empty(CAP.out_text);
    }
    char *argv[64] = {"search", "q"};
    int argc = 2;
    for (int i = 0; i < 17; i++) {
        argv[argc++] = "--meta";
        argv[argc++] = "k=v";
    }
    argv[argc] = NULL;
    cr_assert_eq(run(argv), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "at most 16 --meta filters");
}

Test(cli_memory, import_checks_its_input_before_connecting)
{
    char *dir = temp_dir();
    char *odd = WRITE(dir, "data.xml", "<x/>");
    cr_assert_eq(RUN("import", "/nonexistent/folder"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "cannot read /nonexistent/folder: No such file");
    cr_assert_eq(RUN("import", odd), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "cannot tell the format of");
    assert_has(CAP.err_text, "give --format jsonl, csv or text");
    cr_assert_eq(RUN("import", dir), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "no .jsonl, .ndjson, .csv, .txt or .md files in");
    cr_assert_eq(RUN("import", dir, "--format", "xml"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--format: 'xml' is not one of auto, jsonl");
    cr_assert_eq(RUN("import", dir, "--batch", "0"), CLI_EXIT_USAGE);
    cr_assert_eq(RUN("import", dir, "--batch", "1001"), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--batch: '1001' is not a whole number from 1");
    cr_assert_eq(RUN("import", dir, "--content-field", ""), CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "--content-field is empty");
    /* --format text reads any file as text (and --dry-run sends nothing,
     * so no key is needed). */
    cr_assert_eq(RUN("import", odd, "--format", "text", "--dry-run"), 0);
    assert_has(CAP.out_text, "would import 1 document from 1 file");
    free(odd);
    free(dir);
}

Test(cli_memory, import_dry_run_and_strict_read_folders)
{
    char *dir = temp_dir();
    free(WRITE(dir, "a.jsonl", "{\"text\":\"one\"}\n{\"text\":\"two\"}\n"));
    free(WRITE(dir, "sub/b.csv", "id,notes\n1,\"x, y\"\n2\n"));
    free(WRITE(dir, "sub/c.md", "# notes\n"));
    free(WRITE(dir, "sub/skip.log", "not imported"));
    free(WRITE(dir, ".hidden/d.txt", "hidden"));
    cr_assert_eq(RUN("import", dir, "--dry-run"), 0);
    assert_has(CAP.out_text, "would import 4 documents from 3 files");
    assert_has(CAP.out_text, "; skipped 1: 1 wrong number of fields");
    assert_has(CAP.err_text,
               "sub/b.csv:3: skipped: 1 fields, the header has 2");
    cr_assert_eq(RUN("import", dir, "--dry-run", "--format", "csv"), 0);
    assert_has(CAP.out_text, "would import 1 document from 1 file");
    /* --strict: the bad row stops everything before any request. */
    cr_assert_eq(RUN("import", dir, "--strict", "--key-file", "/nonexistent"),
                 CLI_EXIT_USAGE);
    assert_has(CAP.err_text, "1 bad record; nothing was imported (--strict)");
    cr_assert_str_empty(CAP.out_text);
    free(dir);
}

/* ---- against the canned responder ---------------------------------------- */

Test(cli_memory, add_sends_the_document_it_was_given)
{
    setenv("FLOWSTATE_API_KEY", "k", 1);
    responder_start(1, (char *[]){answer(201, "{\"id\":12}")});
    cr_assert_eq(RUN("memory", "add", "Acme wants a refund", "--kind", "email",
                     "--agent", "billing", "--tag", "vip", "--tag", "q3",
                     "--meta", "stage=won", "--meta", "url=a=b", "--importance",
                     "0.75"),
                 0);
    responder_stop();
    assert_has(RESP.requests[0], "POST /v1/memory HTTP/1.1\r\n");
    json_t *body = request_body(RESP.requests[0]);
    json_t *want = json_pack("{s:s,s:s,s:s,s:[s,s],s:{s:s,s:s},s:f}", "content",
                             "Acme wants a refund", "kind", "email", "agent",
                             "billing", "tags", "vip", "q3", "metadata",
                             "stage", "won", "url", "a=b", "importance", 0.75);
    cr_assert(json_equal(body, want), "body: %s",
              strstr(RESP.requests[0], "\r\n\r\n"));
    cr_assert_str_eq(CAP.out_text, "added document 12\n");
    json_decref(body);
    json_decref(want);
}

Test(cli_memory, add_reads_stdin_and_prints_json)
{
    char *dir = temp_dir();
    char *in = WRITE(dir, "in.txt", "line one\nline two\n");
    cr_assert(freopen(in, "r", stdin));
    setenv("FLOWSTATE_API_KEY", "k", 1);
    responder_start(1, (char *[]){answer(201, "{\"id\":3}")});
    cr_assert_eq(RUN("memory", "add", "-", "--json"), 0);
    responder_stop();
    json_t *body = request_body(RESP.requests[0]);
    cr_assert_str_eq(json_string_value(json_object_get(body, "content")),
                     "line one\nline two\n");
    cr_assert_eq(json_object_size(body), 1, "only the content was given");
    cr_assert_str_eq(CAP.out_text, "{\n  \"id\": 3\n}\n");
    json_decref(body);
    free(in);
    free(dir);
}

Test(cli_memory, get_shows_fields_metadata_and_content)
{
    setenv("FLOWSTATE_API_KEY", "k", 1);
    responder_start(
        1,
        (char *[]){answer(
            200,
            "{\"id\":7,\"agent\":\"billing\",\"kind\":null,\"tags\":[\"vip\"],"
            "\"importance\":0.80000000000000004,\"embedder\":\"local-1\","
            "\"metadata\":{\"stage\":\"won\"},\"content\":\"two\\nlines\","
            "\"created_at\":null,\"updated_at\":null}")});
    cr_assert_eq(RUN("memory", "get", "7"), 0);
    responder_stop();
    assert_has(RESP.requests[0], "GET /v1/memory/7 HTTP/1.1\r\n");
    cr_assert_str_eq(CAP.out_text, "id          7\n"
                                   "agent       billing\n"
                                   "kind        -\n"
                                   "tags        vip\n"
                                   "importance  0.8\n"
                                   "embedder    local-1\n"
                                   "created_at  -\n"
                                   "updated_at  -\n"
                                   "metadata:\n"
                                   "  {\n"
                                   "    \"stage\": \"won\"\n"
                                   "  }\n"
                                   "content:\n"
                                   "  two\n"
                                   "  lines\n");
}

Test(cli_memory, rm_deletes_and_a_missing_document_exits_4)
{
    setenv("FLOWSTATE_API_KEY", "k", 1);
    responder_start(
        2, (char *[]){
               answer(200, "{\"id\":5,\"deleted\":true}"),
               answer(404, "{\"error\":{\"code\":\"not_found\",\"message\":"
                           "\"no such document\"}}"),
           });
    cr_assert_eq(RUN("memory", "rm", "5"), 0);
    cr_assert_str_eq(CAP.out_text, "deleted document 5\n");
    cr_assert_eq(RUN("memory", "rm", "5"), CLI_EXIT_NOTFOUND);
    assert_has(CAP.err_text,
               "flowstate: no such document (HTTP 404 not_found)");
    responder_stop();
    assert_has(RESP.requests[0], "DELETE /v1/memory/5 HTTP/1.1\r\n");
}

Test(cli_memory, list_prints_a_table_and_follows_cursors)
{
    setenv("FLOWSTATE_API_KEY", "k", 1);
    responder_start(
        3,
        (char *[]){
            answer(200,
                   "{\"documents\":[{\"id\":9,\"agent\":\"billing\",\"kind\":"
                   "\"email\",\"tags\":[\"vip\",\"q3\"],\"created_at\":null,"
                   "\"content\":\"Acme asked\\nfor  a refund\"},{\"id\":8,"
                   "\"agent\":null,\"kind\":null,\"tags\":[],\"content\":"
                   "\"x\"}],\"next_cursor\":\"8\"}"),
            answer(200, "{\"documents\":[{\"id\":2}],\"next_cursor\":\"2\"}"),
            answer(200, "{\"documents\":[{\"id\":1}],\"next_cursor\":null}"),
        });
    cr_assert_eq(RUN("memory", "list", "--tag", "vip", "--limit", "2"), 0);
    cr_assert_str_eq(CAP.out_text,
                     "ID  AGENT    KIND   TAGS     CREATED  CONTENT\n"
                     " 9  billing  email  vip, q3  -        Acme asked for a "
                     "refund\n"
                     " 8  -        -      -        -        x\n"
                     "more documents: add --cursor 8 (or --all)\n");
    cr_assert_eq(RUN("memory", "list", "--all", "--json", "--cursor", "8"), 0);
    responder_stop();
    assert_has(RESP.requests[0], "GET /v1/memory?tag=vip&limit=2 HTTP/1.1");
    assert_has(RESP.requests[1], "GET /v1/memory?cursor=8 HTTP/1.1");
    assert_has(RESP.requests[2], "GET /v1/memory?cursor=2 HTTP/1.1");
    json_t *doc = json_loads(CAP.out_text, 0, NULL);
    cr_assert_not_null(doc, "not one JSON document:\n%s", CAP.out_text);
    cr_assert_eq(json_array_size(json_object_get(doc, "documents")), 2);
    cr_assert(json_is_null(json_object_get(doc, "next_cursor")));
    json_decref(doc);
}

Test(cli_memory, semantic_search_sends_the_filter_and_prints_ranks)
{
    setenv("FLOWSTATE_API_KEY", "k", 1);
    responder_start(
        1,
        (char *[]){answer(
            200, "{\"results\":[{\"id\":4,\"score\":0.53781,\"content\":"
                 "\"Acme asked for a refund\"},{\"id\":11,\"score\":0.2,"
                 "\"content\":\"long document start\",\"chunk\":3,\"matched\":"
                 "\"the refund\\nclause\"}]}")});
    cr_assert_eq(RUN("search", "refund for Acme", "--limit", "5", "--threshold",
                     "0.1", "--agent", "billing", "--kind", "email", "--tag",
                     "vip", "--meta", "stage=won", "--since",
                     "2026-01-01T00:00:00Z", "--until", "2027-01-01T00:00:00Z"),
                 0);
    responder_stop();
    assert_has(RESP.requests[0], "POST /v1/search/semantic HTTP/1.1\r\n");
    json_t *body = request_body(RESP.requests[0]);
    json_t *want = json_pack(
        "{s:s,s:i,s:f,s:{s:s,s:s,s:[s],s:{s:s},s:s,s:s}}", "query",
        "refund for Acme", "limit", 5, "threshold", 0.1, "filter", "agent",
        "billing", "kind", "email", "tags", "vip", "metadata", "stage", "won",
        "since", "2026-01-01T00:00:00Z", "until", "2027-01-01T00:00:00Z");
    cr_assert(json_equal(body, want), "body: %s",
              strstr(RESP.requests[0], "\r\n\r\n"));
    cr_assert_str_eq(CAP.out_text,
                     "RANK   SCORE  ID  CONTENT\n"
                     "   1  0.5378   4  Acme asked for a refund\n"
                     "   2  0.2000  11  [chunk 3] the refund clause\n");
    json_decref(body);
    json_decref(want);
}

Test(cli_memory, hybrid_similar_and_recommend_bodies)
{
    setenv("FLOWSTATE_API_KEY", "k", 1);
    responder_start(4,
                    (char *[]){
                        answer(200, "{\"results\":[{\"id\":1,\"score\":0.0328,"
                                    "\"content\":\"a\",\"vector_rank\":1,"
                                    "\"text_rank\":null}]}"),
                        answer(200, "{\"results\":[]}"),
                        answer(200, "{\"results\":[]}"),
                        answer(200, "{\"results\":[{\"id\":2,\"score\":1}]}"),
                    });
    cr_assert_eq(RUN("search", "q", "--mode", "hybrid", "--fusion", "convex"), 0);
    cr_assert_str_eq(CAP.out_text, "RANK   SCORE  ID  V.RANK  T.RANK  CONTENT\n"
                                   "   1  0.0328   1       1       -  a\n");
    cr_assert_eq(RUN("search", "--mode", "similar", "--id", "42"), 0);
    cr_assert_str_eq(CAP.out_text, "no results\n");
    cr_assert_eq(RUN("search", "--mode", "recommend", "--like", "1,2", "--like",
                     "3", "--unlike", "4"),
                 0);
    cr_assert_eq(RUN("search", "q", "--json"), 0);
    responder_stop();
    assert_has(RESP.requests[0], "POST /v1/search/hybrid ");
    assert_has(RESP.requests[0], "{\"query\":\"q\",\"fusion\":\"convex\"}");
    assert_has(RESP.requests[1], "POST /v1/search/similar ");
    assert_has(RESP.requests[1], "{\"id\":42}");
    assert_has(RESP.requests[2], "POST /v1/search/recommend ");
    json_t *body = request_body(RESP.requests[2]);
    json_t *want =
        json_pack("{s:[i,i,i],s:[i]}", "positive", 1, 2, 3, "negative", 4);
    cr_assert(json_equal(body, want));
    assert_has(CAP.out_text, "\"results\": [");
    json_decref(body);
    json_decref(want);
}

Test(cli_memory, cluster_search_prints_clusters_or_says_it_is_missing)
{
    setenv("FLOWSTATE_API_KEY", "k", 1);
    responder_start(
        2, (char *[]){
               answer(200, "{\"clusters\":[{\"label\":\"refund, invoice\","
                           "\"terms\":[\"refund\",\"invoice\"],\"members\":"
                           "[3,1],\"size\":2}],\"k\":1,\"silhouette\":0.25}"),
               answer(404, "{\"error\":{\"code\":\"not_found\",\"message\":"
                           "\"no such route\"}}"),
           });
    cr_assert_eq(RUN("search", "--mode", "cluster", "--k", "1", "--kind", "e"),
                 0);
    cr_assert_str_eq(CAP.out_text,
                     "CLUSTER  SIZE  LABEL            TERMS            "
                     "MEMBERS\n"
                     "      1     2  refund, invoice  refund, invoice  3, 1\n"
                     "k = 1, silhouette 0.250\n");
    cr_assert_eq(RUN("search", "--mode", "cluster"), CLI_EXIT_NOTFOUND);
    assert_has(CAP.err_text, "--mode cluster is not available on this server "
                             "yet (POST /v1/search/cluster answered 404)");
    responder_stop();
    json_t *body = request_body(RESP.requests[0]);
    json_t *want = json_pack("{s:i,s:{s:s}}", "k", 1, "filter", "kind", "e");
    cr_assert(json_equal(body, want));
    json_decref(body);
    json_decref(want);
}

/* ---- import against the responder ---------------------------------------- */

static size_t docs_in(const char *req)
{
    json_t *b = request_body(req);
    size_t n = json_array_size(json_object_get(b, "documents"));
    json_decref(b);
    return n;
}

static char *five_docs(char **dir)
{
    *dir = temp_dir();
    return WRITE(*dir, "five.jsonl",
                 "{\"text\":\"d1\"}\n{\"text\":\"d2\"}\n{\"text\":\"d3\"}\n"
                 "{\"text\":\"d4\"}\n{\"text\":\"d5\"}\n");
}

Test(cli_memory, import_sends_batches_of_the_given_size)
{
    char *dir, *path = five_docs(&dir);
    setenv("FLOWSTATE_API_KEY", "k", 1);
    responder_start(3, (char *[]){answer(201, "{\"ids\":[1,2]}"),
                                  answer(201, "{\"ids\":[3,4]}"),
                                  answer(201, "{\"ids\":[5]}")});
    cr_assert_eq(
        RUN("import", path, "--batch", "2", "--kind", "k1", "--tag", "t"), 0);
    responder_stop();
    cr_assert_eq(docs_in(RESP.requests[0]), 2);
    cr_assert_eq(docs_in(RESP.requests[1]), 2);
    cr_assert_eq(docs_in(RESP.requests[2]), 1);
    assert_has(RESP.requests[0], "POST /v1/memory HTTP/1.1");
    json_t *b = request_body(RESP.requests[2]);
    json_t *d = json_array_get(json_object_get(b, "documents"), 0);
    json_t *want =
        json_pack("{s:s,s:s,s:[s],s:{s:s,s:i}}", "content", "d5", "kind", "k1",
                  "tags", "t", "metadata", "source", "five.jsonl", "line", 5);
    cr_assert(json_equal(d, want));
    assert_has(CAP.out_text, "imported 5 documents from 1 file in ");
    cr_assert(!strstr(CAP.out_text, "skipped"), "%s", CAP.out_text);
    json_decref(b);
    json_decref(want);
    free(path);
    free(dir);
}

Test(cli_memory, import_skips_the_document_a_400_names_and_sends_the_rest)
{
    char *dir, *path = five_docs(&dir);
    setenv("FLOWSTATE_API_KEY", "k", 1);
    responder_start(
        3, (char *[]){
               answer(400, "{\"error\":{\"code\":\"invalid_field\",\"message\":"
                           "\"field 'documents[2].content' is bad\",\"field\":"
                           "\"documents[2].content\"}}"),
               answer(201, "{\"ids\":[1,2]}"),
               answer(201, "{\"ids\":[3,4]}"),
           });
    cr_assert_eq(RUN("import", path, "--json"), 0);
    responder_stop();
    cr_assert_eq(docs_in(RESP.requests[0]), 5);
    cr_assert_eq(docs_in(RESP.requests[1]), 2); /* d1, d2 */
    cr_assert_eq(docs_in(RESP.requests[2]), 2); /* d4, d5 */
    assert_has(RESP.requests[2], "\"d4\"");
    json_t *sum = json_loads(CAP.out_text, 0, NULL);
    cr_assert_not_null(sum, "%s", CAP.out_text);
    cr_assert_eq(json_integer_value(json_object_get(sum, "imported")), 4);
    cr_assert_eq(json_integer_value(json_object_get(sum, "skipped")), 1);
    json_t *skip = json_array_get(json_object_get(sum, "skips"), 0);
    cr_assert_eq(json_integer_value(json_object_get(skip, "line")), 3);
    cr_assert_str_eq(json_string_value(json_object_get(skip, "reason")),
                     "refused by the server");
    cr_assert_str_eq(json_string_value(json_object_get(skip, "detail")),
                     "field 'documents[2].content' is bad");
    cr_assert(json_is_true(json_object_get(sum, "complete")));
    json_decref(sum);
    free(path);
    free(dir);
}

Test(cli_memory, import_halves_a_batch_that_is_too_large)
{
    char *dir = temp_dir();
    char *path =
        WRITE(dir, "two.jsonl", "{\"text\":\"a\"}\n{\"text\":\"b\"}\n");
    setenv("FLOWSTATE_API_KEY", "k", 1);
    responder_start(3,
                    (char *[]){
                        answer(413, "{\"error\":{\"code\":\"body_too_large\","
                                    "\"message\":\"too big\"}}"),
                        answer(201, "{\"ids\":[1]}"),
                        answer(413, "{\"error\":{\"code\":\"body_too_large\","
                                    "\"message\":\"too big\"}}"),
                    });
    cr_assert_eq(RUN("import", path), 0);
    responder_stop();
    cr_assert_eq(docs_in(RESP.requests[1]), 1);
    cr_assert_eq(docs_in(RESP.requests[2]), 1);
    assert_has(CAP.out_text, "imported 1 document from 1 file");
    assert_has(CAP.out_text, "; skipped 1: 1 refused by the server");
    assert_has(CAP.err_text, "two.jsonl:2: skipped: larger than the server "
                             "accepts (HTTP 413)");
    free(path);
    free(dir);
}

Test(cli_memory, import_stops_when_the_server_refuses_the_key)
{
    char *dir, *path = five_docs(&dir);
    setenv("FLOWSTATE_API_KEY", "k", 1);
    responder_start(
        2, (char *[]){
               answer(201, "{\"ids\":[1,2]}"),
               answer(401, "{\"error\":{\"code\":\"unauthorized\",\"message\":"
                           "\"bad key\"}}"),
           });
    cr_assert_eq(RUN("import", path, "--batch", "2"), CLI_EXIT_REJECTED);
    responder_stop();
    assert_has(CAP.err_text, "flowstate: bad key (HTTP 401 unauthorized)");
    assert_has(CAP.out_text, "stopped: imported 2 documents from 1 file");
    free(path);
    free(dir);
}

Test(cli_memory, import_of_an_unreachable_server_exits_3)
{
    char *dir, *path = five_docs(&dir);
    cr_assert_eq(
        RUN("import", path, "--key", "k", "--url", "http://127.0.0.1:1"),
        CLI_EXIT_UNREACHABLE);
    assert_has(CAP.err_text, "cannot reach flowstate at http://127.0.0.1:1");
    assert_has(CAP.out_text, "stopped: imported 0 documents");
    free(path);
    free(dir);
}

/* ---- helpers --------------------------------------------------------------
 */

Test(cli_memory, one_line_text)
{
    static const char *const cases[][2] = {
        {"a  b\n\nc\t d", "a b c d"},
        {"  lead and trail \r\n", "lead and trail"},
        {"", ""},
        {" \n ", ""},
        {"caf\xc3\xa9\x01x", "caf\xc3\xa9 x"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *s = clidoc_oneline(cases[i][0]);
        cr_assert_str_eq(s, cases[i][1]);
        free(s);
    }
}

Test(cli_memory, numbers_and_id_lists_as_cells)
{
    json_t *v = json_loads("{\"r\":0.80000000000000004,\"w\":2.0,"
                           "\"ids\":[3,1,20],\"mixed\":[1,2.5]}",
                           0, NULL);
    const char *keys[] = {"r", "w", "ids", "mixed"};
    const char *want[] = {"0.8", "2", "3, 1, 20", "[1,2.5]"};
    for (size_t i = 0; i < 4; i++) {
        char *cell = clifmt_value(json_object_get(v, keys[i]));
        cr_assert_str_eq(cell, want[i], "key %s", keys[i]);
        free(cell);
    }
    json_decref(v);
}
