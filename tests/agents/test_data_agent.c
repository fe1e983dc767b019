/*
 * test_data_agent.c - the built-in data_processor agent through the queue
 * (in-process host): planted bad rows named, planted duplicates grouped,
 * records ingested into memory, two kinds of record found as two
 * clusters, a lead enriched, a source outside the data folder refused.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agents/builtin/data_processor.h"
#include "agents/host_local.h"
#include "core/fs.h"
#include "memory/embed.h"
#include "support/agentq.h"
#include "support/testdb.h"

static tdb T;
static queue *Q;
static registry *R;
static embedder *E;
static memory *M;
static agent_host *H;
static agent_runtime *RT;
static mem_space SP = { 64, VEC_COSINE, "local" };

static void setup(void)
{
    tdb_open(&T);
    setenv("FLOWSTATE_DATA_ROOT", T.dir, 1);
    cr_assert_eq(queue_open(&Q, T.st, NULL, NULL), 0);
    cr_assert_eq(registry_open(&R, T.st, NULL, NULL), 0);
    cr_assert_eq(embed_local_open(&E, SP.dims, NULL), 0);
    cr_assert_eq(memory_open(&M, T.st, E, &SP, NULL), 0);
    H = host_local_open(Q, R, M, NULL, NULL);
    cr_assert_eq(agent_start(&RT, H, &data_processor_agent, NULL), 0);
}

static void teardown(void)
{
    agent_stop(RT);
    agent_host_close(H);
    memory_close(M);
    embed_close(E);
    registry_close(R);
    queue_close(Q);
    unsetenv("FLOWSTATE_DATA_ROOT");
    tdb_close(&T);
}

TestSuite(data_agent, .init = setup, .fini = teardown, .timeout = 120);

static fs_job run(const char *type, const char *payload)
{
    return aq_finished(Q, aq_enqueue(Q, type, "data_processor", payload));
}

/* Whether v's JSON text holds needle. */
static bool holds(const json_t *v, const char *needle)
{
    char *s = json_dumps(v, 0);
    bool yes = s && strstr(s, needle);
    free(s);
    return yes;
}

static json_t *ok(const char *type, const char *payload)
{
    fs_job j = run(type, payload);
    cr_assert_eq(j.state, JOB_COMPLETED, "%s: %s", type, j.last_error);
    json_t *r = json_loads(j.result, 0, NULL);
    fs_job_clear(&j);
    return r;
}

/* Rows 1 and 3 are Ada (the same e-mail once cased differently); row 2
 * has a bad e-mail and no name. */
#define LEADS                                                                 \
    "[{\"name\":\"Ada Lovelace\",\"email\":\"ada@example.com\",\"phone\":\"(555) 010-2030\"}," \
    "{\"name\":\"\",\"email\":\"bob@\",\"phone\":\"\"},"                     \
    "{\"name\":\"Ada Lovelace\",\"email\":\" ADA@Example.com \",\"phone\":\"\"}]"

Test(data_agent, validate_names_each_bad_row_and_dedupe_groups_the_twins)
{
    json_t *v = ok("validate", "{\"records\":" LEADS ",\"fields\":{"
                   "\"name\":{\"type\":\"string\",\"required\":true},"
                   "\"email\":{\"type\":\"email\",\"required\":true}}}");
    cr_assert_eq(json_integer_value(json_object_get(v, "invalid")), 1, "only row 1 is bad");
    json_t *bad = json_object_get(v, "records_with_errors");
    cr_assert_eq(json_integer_value(json_array_get(bad, 0)), 1);
    json_decref(v);
    json_t *d = ok("dedupe", "{\"records\":" LEADS ",\"keys\":[\"email\",\"name\"]}");
    json_t *g = json_array_get(json_object_get(d, "groups"), 0);
    cr_assert_eq(json_array_size(json_object_get(d, "groups")), 1);
    cr_assert_eq(json_integer_value(json_object_get(g, "survivor")), 0,
                 "row 0 has the phone: the most complete");
    cr_assert_eq(json_array_size(json_object_get(g, "members")), 2);
    json_decref(d);
}

Test(data_agent, ingest_then_find_patterns)
{
    json_t *r = ok("ingest", "{\"kind\":\"lead\",\"records\":" LEADS "}");
    cr_assert_eq(json_integer_value(json_object_get(r, "added")), 3);
    json_decref(r);
    store_doc_filter f = { .kind = "lead", .limit = 10 };
    fs_doc *docs;
    size_t n;
    cr_assert_eq(store_doc_list(T.st, &f, false, &docs, &n), 0);
    cr_assert_eq(n, 3);
    fs_docs_free(docs, n);
    r = ok("identify_patterns", "{\"k\":2,\"records\":["
           "{\"note\":\"invoice refund overdue payment\"},{\"note\":\"refund the overdue invoice\"},"
           "{\"note\":\"payment of invoice is overdue\"},{\"note\":\"demo of the dashboard product\"},"
           "{\"note\":\"product demo and dashboard tour\"},{\"note\":\"dashboard demo for the team\"}]}");
    json_t *clusters = json_object_get(r, "clusters");
    cr_assert_eq(json_array_size(clusters), 2);
    for (size_t i = 0; i < 2; i++)
        cr_assert_eq(json_integer_value(json_object_get(json_array_get(clusters, i), "size")), 3);
    cr_assert(holds(r, "dashboard"), "a cluster is labelled by its words");
    json_decref(r);
}

Test(data_agent, enrich_and_sources)
{
    json_t *r = ok("enrich", "{\"lead\":{\"email\":\" Ada@Example.COM \"},\"score\":{\"probability\":0.8}}");
    cr_assert_str_eq(json_string_value(json_object_get(r, "email")), "ada@example.com");
    cr_assert(json_object_get(r, "score"));
    json_decref(r);
    char path[400];
    snprintf(path, sizeof path, "%s/leads.csv", T.dir);
    FILE *f = fopen(path, "w");
    fputs("name,email\nAda,ada@example.com\nBob,bob@\n", f);
    fclose(f);
    r = ok("profile", "{\"source\":\"leads.csv\"}");
    cr_assert(holds(r, "email"), "the file's columns are profiled");
    json_decref(r);
    fs_job j = run("profile", "{\"source\":\"/etc/passwd\"}");
    cr_assert_eq(j.state, JOB_FAILED, "outside the data folder");
    fs_job_clear(&j);
}
