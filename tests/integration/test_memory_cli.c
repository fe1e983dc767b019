/*
 * test_memory_cli.c - the real `flowstate memory|search|import`
 * ($FLOWSTATE_BIN, fork + exec) against the real server, with
 * FLOWSTATE_URL pointing at it and --key-file at its key: what a script
 * sees.
 *
 *   add_get_list_rm_round_trip        memory add (text, stdin, --file)
 *                                     -> get -> list (filters, --all)
 *                                     -> rm -> get exits 4; the API agrees
 *   search_finds_the_added_document_first   each mode, filters, --json
 *   import_of_a_folder                a JSONL, a CSV (quoted commas, an
 *                                     embedded newline, CRLF), a .txt:
 *                                     the right count, bad rows skipped and
 *                                     reported with their lines, every
 *                                     document searchable
 *   import_batches_and_strict         --batch 2 sends the same documents;
 *                                     --strict imports nothing from a file
 *                                     with a bad row
 *   bad_input_exits_2_and_sends_nothing
 *   rm_of_a_missing_document_exits_4  and the server stays up
 *
 * The CLI's exit codes are its contract (src/cli/cli.h).  The runner
 * (it_cli, integration/it.h) takes stdin from a file when asked.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "integration/it.h"

TestSuite(integration_memory_cli, .timeout = 120);

/* `memory add ... --json` -> the new id. */
static json_int_t add(th_server *s, const char *text, const char *kind,
                      const char *tag)
{
    it_cli_out r =
        IT_CLI(s, "memory", "add", text, "--kind", kind, "--tag", tag, "--json");
    it_assert_exit(r, 0, "memory add");
    json_t *made = it_cli_json(&r);
    json_int_t id = json_integer_value(json_object_get(made, "id"));
    cr_assert_gt(id, 0, "no id in %s", r.out);
    json_decref(made);
    it_cli_free(&r);
    return id;
}

/* The ids of a --json search, in order. */
static size_t result_ids(const it_cli_out *r, json_int_t *ids, size_t cap)
{
    json_t *doc = it_cli_json(r), *hit;
    size_t i, n = 0;
    json_array_foreach(json_object_get(doc, "results"), i, hit)
    {
        if (n < cap) ids[n++] = json_integer_value(json_object_get(hit, "id"));
    }
    json_decref(doc);
    return n;
}

static const char *str(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "(none)";
}

Test(integration_memory_cli, add_get_list_rm_round_trip)
{
    th_server s;
    th_server_start(&s, NULL);
    it_cli_out r =
        IT_CLI(&s, "memory", "add",
            "Acme asked for a refund of invoice "
            "1042",
            "--kind", "email", "--agent", "billing", "--tag", "vip", "--tag",
            "q3", "--meta", "stage=won", "--importance", "0.75");
    it_assert_exit(r, 0, "memory add");
    json_int_t id = 0;
    cr_assert_eq(sscanf(r.out, "added document %lld", &id), 1, "%s", r.out);
    it_cli_free(&r);

    char *in = it_server_file(&s, "in.txt",
                           "From stdin:\nthe board meeting "
                           "moved to Thursday.\n");
    r = IT_CLI_IN(&s, in, "memory", "add", "-", "--kind", "note", "--json");
    it_assert_exit(r, 0, "memory add -");
    json_t *made = it_cli_json(&r);
    json_int_t id2 = json_integer_value(json_object_get(made, "id"));
    json_decref(made);
    it_cli_free(&r);
    r = IT_CLI(&s, "memory", "add", "--file", in, "--kind", "note");
    it_assert_exit(r, 0, "memory add --file");
    it_cli_free(&r);

    char ids[32];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    r = IT_CLI(&s, "memory", "get", ids, "--json");
    it_assert_exit(r, 0, "memory get --json");
    json_t *doc = it_cli_json(&r);
    it_cli_free(&r);
    cr_assert_str_eq(str(doc, "content"), "Acme asked for a refund of invoice "
                                          "1042");
    cr_assert_str_eq(str(doc, "kind"), "email");
    cr_assert_str_eq(str(doc, "agent"), "billing");
    json_t *want_tags = json_pack("[s,s]", "vip", "q3");
    cr_assert(json_equal(json_object_get(doc, "tags"), want_tags));
    cr_assert_str_eq(str(json_object_get(doc, "metadata"), "stage"), "won");
    cr_assert_float_eq(json_number_value(json_object_get(doc, "importance")),
                       0.75, 1e-6);
    /* The CLI shows what the API has. */
    char path[64];
    snprintf(path, sizeof path, "/v1/memory/%lld", (long long)id);
    json_t *api = it_call(&s, "GET", path, NULL, s.key, 200);
    cr_assert(json_equal(api, doc), "memory get --json differs from the API");

    r = IT_CLI(&s, "memory", "get", ids);
    it_assert_exit(r, 0, "memory get");
    cr_assert(strstr(r.out, "agent       billing"), "%s", r.out);
    cr_assert(strstr(r.out, "content:\n  Acme asked"), "%s", r.out);
    it_cli_free(&r);

    r = IT_CLI(&s, "memory", "list", "--json");
    it_assert_exit(r, 0, "memory list --json");
    json_t *list = it_cli_json(&r);
    it_cli_free(&r);
    json_t *docs = json_object_get(list, "documents");
    cr_assert_eq(json_array_size(docs), 3);
    /* Newest first; the stdin document kept its line breaks. */
    json_t *second = json_array_get(docs, 1);
    cr_assert_eq(json_integer_value(json_object_get(second, "id")), id2);
    cr_assert_str_eq(str(second, "content"), "From stdin:\nthe board meeting "
                                             "moved to Thursday.\n");
    json_decref(list);

    r = IT_CLI(&s, "memory", "list", "--kind", "note", "--limit", "1", "--all",
            "--json");
    it_assert_exit(r, 0, "memory list --kind --all");
    list = it_cli_json(&r);
    cr_assert_eq(json_array_size(json_object_get(list, "documents")), 2);
    json_decref(list);
    it_cli_free(&r);
    r = IT_CLI(&s, "memory", "list", "--tag", "vip");
    it_assert_exit(r, 0, "memory list (table)");
    cr_assert(strstr(r.out, "Acme asked for a refund"), "%s", r.out);
    cr_assert(strstr(r.out, "vip, q3"), "%s", r.out);
    cr_assert(!strstr(r.out, "board meeting"), "%s", r.out);
    it_cli_free(&r);

    r = IT_CLI(&s, "memory", "rm", ids);
    it_assert_exit(r, 0, "memory rm");
    cr_assert(strstr(r.out, "deleted document"), "%s", r.out);
    it_cli_free(&r);
    r = IT_CLI(&s, "memory", "get", ids);
    it_assert_exit(r, 4, "memory get of a deleted document");
    it_cli_free(&r);
    json_decref(it_call(&s, "GET", path, NULL, s.key, 404));

    json_decref(doc);
    json_decref(api);
    json_decref(want_tags);
    free(in);
    th_server_cleanup(&s);
}

/*
 * DELETE /v1/memory/{id} of a document that does not exist once crashed
 * the server (fs_doc_clear() of a record store_doc_get() never filled).
 */
Test(integration_memory_cli, rm_of_a_missing_document_exits_4)
{
    th_server s;
    th_server_start(&s, NULL);
    it_cli_out r = IT_CLI(&s, "memory", "rm", "12345");
    it_assert_exit(r, 4, "memory rm of a missing document");
    it_cli_free(&r);
    r = IT_CLI(&s, "memory", "list");
    it_assert_exit(r, 0, "the server is still up");
    it_cli_free(&r);
    th_server_cleanup(&s);
}

Test(integration_memory_cli, search_finds_the_added_document_first)
{
    th_server s;
    th_server_start(&s, NULL);
    json_int_t refund = add(&s,
                            "Acme Corp asked for a refund of invoice "
                            "1042 after the late delivery",
                            "email", "vip");
    json_int_t meeting = add(&s,
                             "The quarterly sales meeting moved to "
                             "Thursday afternoon",
                             "note", "team");
    json_int_t garden = add(&s,
                            "Tomatoes need full sun and regular "
                            "watering in the garden",
                            "note", "home");
    json_int_t got[8];

    it_cli_out r = IT_CLI(&s, "search", "refund for the Acme invoice", "--json");
    it_assert_exit(r, 0, "search --json");
    cr_assert_geq(result_ids(&r, got, 8), 1);
    cr_assert_eq(got[0], refund, "semantic: %s", r.out);
    it_cli_free(&r);

    r = IT_CLI(&s, "search", "refund for the Acme invoice");
    it_assert_exit(r, 0, "search (table)");
    cr_assert(strstr(r.out, "RANK"), "%s", r.out);
    cr_assert(strstr(r.out, "   1  "), "%s", r.out);
    const char *first = strstr(r.out, "\n") + 1;
    cr_assert(strstr(first, "Acme Corp asked") < strstr(first, "\n"),
              "the first row is not the refund:\n%s", r.out);
    it_cli_free(&r);

    r = IT_CLI(&s, "search", "sales meeting Thursday", "--mode", "hybrid",
            "--json");
    it_assert_exit(r, 0, "search --mode hybrid");
    result_ids(&r, got, 8);
    cr_assert_eq(got[0], meeting, "hybrid: %s", r.out);
    it_cli_free(&r);

    /* Filters: only notes, only the home tag. */
    r = IT_CLI(&s, "search", "refund for the Acme invoice", "--kind", "note",
            "--json");
    it_assert_exit(r, 0, "search --kind");
    size_t n = result_ids(&r, got, 8);
    for (size_t i = 0; i < n; i++)
        cr_assert_neq(got[i], refund, "--kind note returned the email");
    it_cli_free(&r);
    r = IT_CLI(&s, "search", "anything", "--tag", "home", "--json");
    it_assert_exit(r, 0, "search --tag");
    cr_assert_eq(result_ids(&r, got, 8), 1);
    cr_assert_eq(got[0], garden);
    it_cli_free(&r);

    char ids[32], like[64];
    snprintf(ids, sizeof ids, "%lld", (long long)refund);
    r = IT_CLI(&s, "search", "--mode", "similar", "--id", ids, "--json");
    it_assert_exit(r, 0, "search --mode similar");
    n = result_ids(&r, got, 8);
    cr_assert_eq(n, 2, "similar returns the others: %s", r.out);
    cr_assert(got[0] != refund && got[1] != refund);
    it_cli_free(&r);
    snprintf(like, sizeof like, "%lld,%lld", (long long)refund,
             (long long)meeting);
    r = IT_CLI(&s, "search", "--mode", "recommend", "--like", like, "--json");
    it_assert_exit(r, 0, "search --mode recommend");
    cr_assert_eq(result_ids(&r, got, 8), 1);
    cr_assert_eq(got[0], garden, "recommend excludes the examples");
    it_cli_free(&r);

    r = IT_CLI(&s, "search", "--mode", "cluster", "--k", "2");
    /* The server has cluster search: a table; an older one: exit 4. */
    cr_assert(r.code == 0 || r.code == 4, "cluster: exit %d\n%s", r.code,
              r.err);
    if (r.code == 0) cr_assert(strstr(r.out, "CLUSTER"), "%s", r.out);
    it_cli_free(&r);

    snprintf(ids, sizeof ids, "%lld", (long long)999999);
    r = IT_CLI(&s, "search", "--mode", "similar", "--id", ids);
    it_assert_exit(r, 4, "similar to a missing document");
    it_cli_free(&r);
    th_server_cleanup(&s);
}

/* The folder of the import tests: 3 + 2 + 1 documents, 3 bad rows. */
static void write_folder(th_server *s)
{
    free(it_server_file(s, "in/notes.jsonl",
                     "{\"content\":\"Penguins huddle together to survive the "
                     "Antarctic winter\",\"kind\":\"fact\",\"tags\":"
                     "[\"birds\"],\"year\":2021}\n"
                     "\n"
                     "{\"title\":\"Volcanoes\",\"text\":\"Magma rises through "
                     "the crust and erupts as lava\"}\n"
                     "this line is not json\n"
                     "{\"text\":\"Honeybees communicate with a waggle "
                     "dance\"}\n"));
    free(it_server_file(s, "in/crm/leads.csv",
                     "id,name,notes\r\n"
                     "1,\"Smith, Jane\",\"Called about the invoice, wants a "
                     "refund by Friday\"\r\n"
                     "2,Bob,\"First line\r\nsecond line about the "
                     "\"\"premium\"\" plan upgrade\"\r\n"
                     "3,short row\r\n"
                     "4,Eve,\r\n"));
    free(it_server_file(s, "in/crm/readme.txt",
                     "Sourdough bread needs a lively starter and a long cold "
                     "proof.\n"));
    free(it_server_file(s, "in/crm/ignored.log", "not imported"));
}

Test(integration_memory_cli, import_of_a_folder)
{
    th_server s;
    th_server_start(&s, NULL);
    write_folder(&s);
    char dir[400];
    snprintf(dir, sizeof dir, "%s/in", s.dir);

    it_cli_out r = IT_CLI(&s, "import", dir, "--tag", "imported", "--json");
    it_assert_exit(r, 0, "import --json");
    json_t *sum = it_cli_json(&r);
    it_cli_free(&r);
    cr_assert_eq(json_integer_value(json_object_get(sum, "imported")), 6,
                 "imported");
    cr_assert_eq(json_integer_value(json_object_get(sum, "files")), 3);
    cr_assert_eq(json_integer_value(json_object_get(sum, "skipped")), 3);
    cr_assert(json_is_true(json_object_get(sum, "complete")));
    /* The bad rows, named by file and line, in reading order. */
    static const struct {
        const char *file;
        int line;
        const char *reason;
    } skips[] = {
        {"crm/leads.csv", 5, "wrong number of fields"},
        {"crm/leads.csv", 6, "empty content"},
        {"notes.jsonl", 4, "not a JSON object"},
    };
    json_t *list = json_object_get(sum, "skips");
    cr_assert_eq(json_array_size(list), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *sk = json_array_get(list, i);
        cr_assert_str_eq(str(sk, "file"), skips[i].file);
        cr_assert_eq(json_integer_value(json_object_get(sk, "line")),
                     skips[i].line, "skip %zu", i);
        cr_assert_str_eq(str(sk, "reason"), skips[i].reason);
    }
    json_decref(sum);

    /* Every document is there, tagged, and findable by its meaning. */
    json_t *page =
        it_call(&s, "GET", "/v1/memory?tag=imported", NULL, s.key, 200);
    cr_assert_eq(json_array_size(json_object_get(page, "documents")), 6);
    json_decref(page);
    static const struct {
        const char *query, *expect;
    } finds[] = {
        {"penguins antarctic winter", "Penguins huddle"},
        {"volcanoes magma lava", "Volcanoes\n\nMagma rises"},
        {"honeybees waggle dance", "Honeybees communicate"},
        {"invoice refund by Friday", "Called about the invoice, wants a "
                                     "refund"},
        {"premium plan upgrade", "First line\r\nsecond line about the "
                                 "\"premium\" plan"},
        {"sourdough starter", "Sourdough bread"},
    };
    for (size_t i = 0; i < sizeof finds / sizeof *finds; i++) {
        r = IT_CLI(&s, "search", finds[i].query, "--tag", "imported", "--limit",
                "1", "--json");
        it_assert_exit(r, 0, finds[i].query);
        json_t *doc = it_cli_json(&r);
        json_t *hit = json_array_get(json_object_get(doc, "results"), 0);
        cr_assert(hit && !strncmp(str(hit, "content"), finds[i].expect,
                                  strlen(finds[i].expect)),
                  "'%s' found:\n%s", finds[i].query, r.out);
        json_decref(doc);
        it_cli_free(&r);
    }
    /* CSV columns became metadata; JSONL fields kept their meaning. */
    r = IT_CLI(&s, "search", "Smith", "--meta", "name=Smith, Jane", "--json");
    it_assert_exit(r, 0, "search --meta");
    json_t *doc = it_cli_json(&r);
    json_t *hit = json_array_get(json_object_get(doc, "results"), 0);
    cr_assert_not_null(hit, "--meta name=Smith, Jane found nothing");
    json_t *meta = json_object_get(hit, "metadata");
    cr_assert_str_eq(str(meta, "id"), "1");
    cr_assert_str_eq(str(meta, "source"), "crm/leads.csv");
    cr_assert_eq(json_integer_value(json_object_get(meta, "line")), 2);
    json_decref(doc);
    it_cli_free(&r);
    r = IT_CLI(&s, "memory", "list", "--kind", "fact", "--json");
    doc = it_cli_json(&r);
    json_t *fact = json_array_get(json_object_get(doc, "documents"), 0);
    cr_assert_eq(json_integer_value(json_object_get(
                     json_object_get(fact, "metadata"), "year")),
                 2021);
    json_t *tags = json_pack("[s,s]", "imported", "birds");
    cr_assert(json_equal(json_object_get(fact, "tags"), tags));
    json_decref(tags);
    json_decref(doc);
    it_cli_free(&r);

    /* The human summary, and the skips on stderr. */
    r = IT_CLI(&s, "import", dir, "--format", "csv");
    it_assert_exit(r, 0, "import (text output)");
    cr_assert(strstr(r.out, "imported 2 documents from 1 file in "), "%s",
              r.out);
    cr_assert(strstr(r.out, "skipped 2: 1 wrong number of fields, 1 empty "
                            "content"),
              "%s", r.out);
    cr_assert(strstr(r.err, "crm/leads.csv:5: skipped: 2 fields, the header "
                            "has 3"),
              "%s", r.err);
    it_cli_free(&r);
    th_server_cleanup(&s);
}

Test(integration_memory_cli, import_batches_and_strict)
{
    th_server s;
    th_server_start(&s, NULL);
    write_folder(&s);
    char dir[400], jsonl[400];
    snprintf(dir, sizeof dir, "%s/in", s.dir);
    snprintf(jsonl, sizeof jsonl, "%s/in/notes.jsonl", s.dir);

    it_cli_out r = IT_CLI(&s, "import", dir, "--strict");
    it_assert_exit(r, 2, "import --strict of a folder with bad rows");
    cr_assert(strstr(r.err, "3 bad records; nothing was imported"), "%s",
              r.err);
    it_cli_free(&r);
    json_t *page = it_call(&s, "GET", "/v1/memory", NULL, s.key, 200);
    cr_assert_eq(json_array_size(json_object_get(page, "documents")), 0,
                 "--strict imported something");
    json_decref(page);

    r = IT_CLI(&s, "import", jsonl, "--batch", "1", "--agent", "importer",
            "--kind", "k");
    it_assert_exit(r, 0, "import --batch 1");
    cr_assert(strstr(r.out, "imported 3 documents from 1 file"), "%s", r.out);
    it_cli_free(&r);
    page = it_call(&s, "GET", "/v1/memory?agent=importer", NULL, s.key, 200);
    json_t *docs = json_object_get(page, "documents");
    cr_assert_eq(json_array_size(docs), 3);
    /* A record's own kind wins over --kind. */
    cr_assert_str_eq(str(json_array_get(docs, 2), "kind"), "fact");
    cr_assert_str_eq(str(json_array_get(docs, 0), "kind"), "k");
    json_decref(page);
    th_server_cleanup(&s);
}

Test(integration_memory_cli, bad_input_exits_2_and_sends_nothing)
{
    th_server s;
    th_server_start(&s, NULL);
    const char *const cases[][6] = {
        {"memory", "add", NULL},
        {"memory", "add", "x", "--importance", "7", NULL},
        {"memory", "get", "abc", NULL},
        {"memory", "list", "--limit", "0", NULL},
        {"search", NULL},
        {"search", "q", "--mode", "nope", NULL},
        {"search", "--mode", "similar", NULL},
        {"import", "/nonexistent/path", NULL},
        {"import", "x", "--batch", "5000", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        it_cli_out r = it_cli(&s, NULL, cases[i]);
        char what[128];
        snprintf(what, sizeof what, "%s %s %s", cases[i][0],
                 cases[i][1] ? cases[i][1] : "",
                 cases[i][1] && cases[i][2] ? cases[i][2] : "");
        it_assert_exit(r, 2, what);
        cr_assert(r.err[0], "%s: no message on stderr", what);
        it_cli_free(&r);
    }
    json_t *page = it_call(&s, "GET", "/v1/memory", NULL, s.key, 200);
    cr_assert_eq(json_array_size(json_object_get(page, "documents")), 0);
    json_decref(page);
    th_server_cleanup(&s);
}
