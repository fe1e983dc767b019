/*
 * test_code_agent.c - the built-in code_analyzer agent through the queue
 * (in-process host): a planted C file's metrics and bug, a folder inside
 * the agent's root, a path outside it refused, hot spots ranked, and a
 * note of each result in memory.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agents/builtin/code_analyzer.h"
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
static char ROOT[300];
static mem_space SP = { 64, VEC_COSINE, "local" };

/* Two ifs, a for, a while and two &&: complexity 1 + 6 = 7; a strcpy. */
#define PLANTED                                                               \
    "#include <string.h>\n"                                                   \
    "/* copy a name */\n"                                                     \
    "int copy(char *dst, const char *src, int n)\n"                           \
    "{\n"                                                                     \
    "    if (!dst) return -1;\n"                                              \
    "    for (int i = 0; i < n; i++)\n"                                       \
    "        while (src[i] && dst) break;\n"                                  \
    "    if (n > 0 && src) strcpy(dst, src);\n"                               \
    "    return 0;\n"                                                         \
    "}\n"

static void setup(void)
{
    tdb_open(&T);
    snprintf(ROOT, sizeof ROOT, "%s/code", T.dir);
    cr_assert_eq(mkdir(ROOT, 0755), 0);
    char path[400];
    snprintf(path, sizeof path, "%s/copy.c", ROOT);
    FILE *f = fopen(path, "w");
    fputs(PLANTED, f);
    fclose(f);
    setenv("FLOWSTATE_CODE_ROOT", ROOT, 1);
    cr_assert_eq(queue_open(&Q, T.st, NULL, NULL), 0);
    cr_assert_eq(registry_open(&R, T.st, NULL, NULL), 0);
    cr_assert_eq(embed_local_open(&E, SP.dims, NULL), 0);
    cr_assert_eq(memory_open(&M, T.st, E, &SP, NULL), 0);
    H = host_local_open(Q, R, M, NULL, NULL);
    cr_assert_eq(agent_start(&RT, H, &code_analyzer_agent, NULL), 0);
}

static void teardown(void)
{
    agent_stop(RT);
    agent_host_close(H);
    memory_close(M);
    embed_close(E);
    registry_close(R);
    queue_close(Q);
    unsetenv("FLOWSTATE_CODE_ROOT");
    tdb_close(&T);
}

TestSuite(code_agent, .init = setup, .fini = teardown, .timeout = 120);

static fs_job run(const char *type, json_t *payload)
{
    char *p = json_dumps(payload, JSON_COMPACT);
    json_decref(payload);
    int64_t id = aq_enqueue(Q, type, "code_analyzer", p);
    free(p);
    return aq_finished(Q, id);
}

Test(code_agent, analyze_code_reads_files_given_inline)
{
    fs_job j = run("analyze_code", json_pack("{s:[{s:s,s:s}]}", "files", "path", "copy.c",
                                             "content", PLANTED));
    cr_assert_eq(j.state, JOB_COMPLETED, "%s", j.last_error);
    json_t *r = json_loads(j.result, 0, NULL);
    json_t *file = json_array_get(json_object_get(r, "files"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(file, "language")), "c");
    json_t *fn = json_array_get(json_object_get(file, "functions"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(fn, "name")), "copy");
    cr_assert_eq(json_integer_value(json_object_get(fn, "line")), 3);
    cr_assert_eq(json_integer_value(json_object_get(fn, "complexity")), 7,
                 "1 + if + for + while + && + if + &&");
    cr_assert(strstr(j.result, "strcpy"), "the planted strcpy is found: %s", j.result);
    json_decref(r);
    fs_job_clear(&j);
    store_doc_filter f = { .kind = "code_analysis", .limit = 10 };
    fs_doc *docs;
    size_t n;
    cr_assert_eq(store_doc_list(T.st, &f, false, &docs, &n), 0);
    cr_assert_eq(n, 1, "a note of the analysis is in memory");
    fs_docs_free(docs, n);
}

Test(code_agent, paths_stay_inside_the_root)
{
    fs_job j = run("analyze_code", json_pack("{s:s}", "path", "."));
    cr_assert_eq(j.state, JOB_COMPLETED, "%s", j.last_error);
    cr_assert(strstr(j.result, "copy.c"), "%s", j.result);
    fs_job_clear(&j);
    j = run("analyze_code", json_pack("{s:s}", "path", "../"));
    cr_assert_eq(j.state, JOB_FAILED, "outside the root");
    cr_assert_eq(j.attempts, 1, "not retried");
    fs_job_clear(&j);
}

Test(code_agent, bugs_and_hot_spots)
{
    fs_job j = run("detect_bugs", json_pack("{s:s}", "path", "copy.c"));
    cr_assert_eq(j.state, JOB_COMPLETED, "%s", j.last_error);
    cr_assert(strstr(j.result, "strcpy"), "%s", j.result);
    fs_job_clear(&j);
    j = run("suggest_optimizations", json_pack("{s:s,s:i}", "path", ".", "top", 3));
    cr_assert_eq(j.state, JOB_COMPLETED, "%s", j.last_error);
    json_t *r = json_loads(j.result, 0, NULL);
    json_t *top = json_array_get(json_object_get(r, "hotspots"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(top, "name")), "copy");
    json_decref(r);
    fs_job_clear(&j);
}
