/*
 * test_runtime.c - the agent runtime (agents/runtime.h) over the in-process
 * host: a real store, queue, registry and memory, agents of test types.
 *
 * Jobs done by several workers with results stored; a handler's error
 * fails its job (retried unless final); a payload that is not JSON; a
 * cancelled job's handler sees agent_cancelled; agent_stop hands back a
 * job whose handler outlives the grace period; the context's memory,
 * state and job creation; agent_llm without and with an LLM (a loopback
 * fake).
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "agents/host_local.h"
#include "agents/llm.h"
#include "agents/runtime.h"
#include "core/clock.h"
#include "core/fs.h"
#include "memory/embed.h"
#include "support/fakehttp.h"
#include "support/testdb.h"

static tdb T;
static queue *Q;
static registry *R;
static embedder *E;
static memory *M;
static agent_host *H;
static mem_space SP = { 64, VEC_COSINE, "local" };

static void setup(void)
{
    tdb_open(&T);
    queue_config qc = queue_config_default();
    qc.tick_max_ms = 50;
    cr_assert_eq(queue_open(&Q, T.st, NULL, &qc), 0);
    cr_assert_eq(registry_open(&R, T.st, NULL, NULL), 0);
    cr_assert_eq(embed_local_open(&E, SP.dims, NULL), 0);
    cr_assert_eq(memory_open(&M, T.st, E, &SP, NULL), 0);
    H = host_local_open(Q, R, M, NULL, NULL);
}

static void teardown(void)
{
    agent_host_close(H);
    memory_close(M);
    embed_close(E);
    registry_close(R);
    queue_close(Q);
    tdb_close(&T);
}

TestSuite(agent_runtime, .init = setup, .fini = teardown, .timeout = 60);

static int64_t enqueue(const char *type, const char *payload, int max_attempts)
{
    fs_job j = { .type = strdup(type), .target_agent = strdup("tester"),
                 .payload = payload ? strdup(payload) : NULL,
                 .max_attempts = max_attempts };
    cr_assert_eq(queue_enqueue(Q, &j, 1, NULL), 0);
    int64_t id = j.id;
    fs_job_clear(&j);
    return id;
}

static fs_job wait_state(int64_t id, job_state want)
{
    fs_job j = { 0 };
    for (int i = 0; i < 1000; i++) {
        fs_job_clear(&j);
        cr_assert_eq(queue_get(Q, id, &j), 0);
        if (j.state == want) return j;
        usleep(10000);
    }
    cr_assert_fail("job %lld is %s, not %s", (long long)id, job_state_name(j.state),
                   job_state_name(want));
    return j;
}

/* --- test agents ------------------------------------------------------------- */

static int echo(agent_ctx *c, const json_t *payload, json_t **result)
{
    if (json_is_object(payload) && json_object_get(payload, "fail"))
        return json_is_true(json_object_get(payload, "final"))
                   ? agent_error_final(c, "bad input: %s", "no e-mail")
                   : agent_error(c, "the CRM answered 503");
    *result = json_pack("{s:O,s:I}", "echo", payload, "job", (json_int_t)agent_job(c)->id);
    return 0;
}

static const char *const ECHO_TYPES[] = { "echo", NULL };
static const agent_def ECHO = { "tester", ECHO_TYPES, NULL, echo, NULL };

Test(agent_runtime, workers_do_jobs_and_store_results)
{
    int64_t ids[20];
    for (int i = 0; i < 20; i++) {
        char p[32];
        snprintf(p, sizeof p, "{\"n\":%d}", i);
        ids[i] = enqueue("echo", p, 3);
    }
    agent_runtime *rt;
    cr_assert_eq(agent_start(&rt, H, &ECHO, &(agent_config){ .concurrency = 4 }), 0);
    for (int i = 0; i < 20; i++) {
        fs_job j = wait_state(ids[i], JOB_COMPLETED);
        json_t *r = json_loads(j.result, 0, NULL);
        cr_assert_eq(json_integer_value(json_object_get(json_object_get(r, "echo"), "n")), i);
        cr_assert_eq(json_integer_value(json_object_get(r, "job")), ids[i]);
        json_decref(r);
        fs_job_clear(&j);
    }
    fs_agent a;
    cr_assert_eq(registry_get(R, agent_id(rt), &a), 0, "the agent registered itself");
    cr_assert_str_eq(a.type, "tester");
    fs_agent_clear(&a);
    agent_counters c;
    agent_counters_get(rt, &c);
    cr_assert_eq(c.completed, 20);
    agent_stop(rt);
}

Test(agent_runtime, a_handler_error_fails_the_job_and_final_ones_are_not_retried)
{
    int64_t again = enqueue("echo", "{\"fail\":true}", 3);
    int64_t final = enqueue("echo", "{\"fail\":true,\"final\":true}", 3);
    int64_t bad = enqueue("echo", "{not json", 3);
    agent_runtime *rt;
    cr_assert_eq(agent_start(&rt, H, &ECHO, NULL), 0);
    fs_job j = wait_state(again, JOB_SCHEDULED);
    cr_assert_str_eq(j.last_error, "the CRM answered 503");
    fs_job_clear(&j);
    j = wait_state(final, JOB_FAILED);
    cr_assert_str_eq(j.last_error, "bad input: no e-mail");
    cr_assert_eq(j.attempts, 1, "a final error is not retried");
    fs_job_clear(&j);
    j = wait_state(bad, JOB_FAILED);
    cr_assert_str_eq(j.last_error, "the payload is not JSON");
    fs_job_clear(&j);
    agent_stop(rt);
}

/* Loops until cancelled (at most 10 s). */
static atomic_int SAW_CANCEL;

static int patient(agent_ctx *c, const json_t *payload, json_t **result)
{
    (void)payload;
    (void)result;
    for (int i = 0; i < 1000 && !agent_cancelled(c); i++) usleep(10000);
    atomic_store(&SAW_CANCEL, agent_cancelled(c));
    return agent_error(c, "stopped");
}

static const char *const SLOW_TYPES[] = { "slow", NULL };
static const agent_def PATIENT = { "tester", SLOW_TYPES, NULL, patient, NULL };

Test(agent_runtime, a_cancelled_job_raises_the_handlers_flag)
{
    int64_t id = enqueue("slow", NULL, 1);
    agent_runtime *rt;
    atomic_store(&SAW_CANCEL, 0);
    cr_assert_eq(agent_start(&rt, H, &PATIENT, &(agent_config){ .lease_ms = 300 }), 0);
    fs_job j = wait_state(id, JOB_RUNNING);
    fs_job_clear(&j);
    cr_assert_eq(queue_cancel(Q, id, NULL), 0);
    for (int i = 0; i < 300 && !atomic_load(&SAW_CANCEL); i++) usleep(10000);
    cr_assert(atomic_load(&SAW_CANCEL), "the keeper saw the lease go and told the handler");
    agent_counters c;
    for (int i = 0; i < 100; i++) {
        agent_counters_get(rt, &c);
        if (c.lost) break;
        usleep(10000);
    }
    cr_assert_eq(c.lost, 1, "its outcome was refused: the job was cancelled");
    agent_stop(rt);
}

static int stubborn(agent_ctx *c, const json_t *payload, json_t **result)
{
    (void)c;
    (void)payload;
    usleep(800000); /* ignores cancellation */
    *result = json_string("late");
    return 0;
}

static const agent_def STUBBORN = { "tester", SLOW_TYPES, NULL, stubborn, NULL };

Test(agent_runtime, stop_hands_back_a_job_still_running_after_the_grace)
{
    int64_t id = enqueue("slow", NULL, 5);
    agent_runtime *rt;
    cr_assert_eq(agent_start(&rt, H, &STUBBORN, &(agent_config){ .grace_ms = 100 }), 0);
    fs_job j = wait_state(id, JOB_RUNNING);
    fs_job_clear(&j);
    agent_stop(rt);
    cr_assert_eq(queue_get(Q, id, &j), 0);
    cr_assert_neq(j.state, JOB_RUNNING, "the lease came back at once");
    cr_assert_neq(j.state, JOB_COMPLETED, "the late result was refused");
    cr_assert_str_eq(j.last_error, "worker shutting down");
    fs_job_clear(&j);
}

static int helpful(agent_ctx *c, const json_t *payload, json_t **result)
{
    int64_t doc, child, v1, v2;
    json_t *state, *hits;
    const char *lead = json_string_value(json_object_get(payload, "lead"));
    char note[128], query[64];
    snprintf(note, sizeof note, "%s asked for a refund of invoice 1042", lead);
    snprintf(query, sizeof query, "%s refund", lead);
    int rc = agent_memory_add(c, "note", note, "{\"source\":\"test\"}", &doc);
    if (!rc) rc = agent_memory_search(c, query, 3, &hits);
    if (rc) return agent_error(c, "memory: %s", fs_strerror(rc));
    json_t *first = json_array_get(hits, 0);
    bool found = json_integer_value(json_object_get(first, "id")) == doc;
    json_decref(hits);
    if (!found) return agent_error(c, "search did not find the note");
    rc = agent_job_create(c, "follow_up", "coordinator", payload, &child);
    if (!rc) rc = agent_state_get(c, &state, &v1);
    if (rc) return agent_error(c, "job/state: %s", fs_strerror(rc));
    json_object_set_new(state, "seen", json_integer(json_integer_value(
                                           json_object_get(state, "seen")) + 1));
    rc = agent_state_put(c, state, v1, &v2);
    json_decref(state);
    if (rc) return agent_error(c, "state put: %s", fs_strerror(rc));
    *result = json_pack("{s:I,s:I,s:I}", "doc", (json_int_t)doc, "child",
                        (json_int_t)child, "version", (json_int_t)v2);
    return 0;
}

static const char *const HELP_TYPES[] = { "help", NULL };
static const agent_def HELPFUL = { "tester", HELP_TYPES, NULL, helpful, NULL };

Test(agent_runtime, handlers_reach_memory_state_and_other_agents)
{
    int64_t a = enqueue("help", "{\"lead\":\"acme\"}", 1);
    int64_t b = enqueue("help", "{\"lead\":\"globex\"}", 1);
    agent_runtime *rt;
    cr_assert_eq(agent_start(&rt, H, &HELPFUL, NULL), 0);
    fs_job ja = wait_state(a, JOB_COMPLETED), jb = wait_state(b, JOB_COMPLETED);
    json_t *ra = json_loads(ja.result, 0, NULL), *rb = json_loads(jb.result, 0, NULL);
    cr_assert_eq(json_integer_value(json_object_get(ra, "version")), 1);
    cr_assert_eq(json_integer_value(json_object_get(rb, "version")), 2,
                 "the second job read the first one's state");
    fs_job child;
    cr_assert_eq(queue_get(Q, json_integer_value(json_object_get(ra, "child")), &child), 0);
    cr_assert_eq(child.parent_id, a, "the child job points at its parent");
    cr_assert_str_eq(child.target_agent, "coordinator");
    cr_assert_str_eq(child.payload, "{\"lead\":\"acme\"}");
    fs_doc d;
    cr_assert_eq(store_doc_get(T.st, json_integer_value(json_object_get(ra, "doc")), false, &d), 0);
    cr_assert_str_eq(d.agent, agent_id(rt), "the document is owned by the agent");
    fs_doc_clear(&d);
    fs_job_clear(&child);
    json_decref(ra);
    json_decref(rb);
    fs_job_clear(&ja);
    fs_job_clear(&jb);
    agent_stop(rt);
}

Test(agent_runtime, bad_definitions_are_refused)
{
    agent_runtime *rt;
    agent_def none = { "tester", ECHO_TYPES, NULL, NULL, NULL };
    cr_assert_eq(agent_start(&rt, H, &none, NULL), FS_EINVAL, "no handler");
    const char *const empty[] = { NULL };
    agent_def no_types = { "tester", empty, NULL, echo, NULL };
    cr_assert_eq(agent_start(&rt, H, &no_types, NULL), FS_EINVAL, "no job types");
    cr_assert_eq(agent_start(&rt, H, &ECHO, &(agent_config){ .concurrency = 65 }),
                 FS_EINVAL);
}

/* Answers the job's question "q" through the agent's LLM. */
static int asker(agent_ctx *c, const json_t *payload, json_t **result)
{
    char *answer;
    int rc = agent_llm(c, "Be brief.",
                       json_string_value(json_object_get(payload, "q")), &answer);
    if (rc) return rc;
    *result = json_pack("{s:s}", "answer", answer);
    free(answer);
    return 0;
}

static const char *const ASK_TYPES[] = { "ask", NULL };
static const agent_def ASKER = { "tester", ASK_TYPES, NULL, asker, NULL };

/* A chat completion answering "re: " and the user message. */
static void llm_answer(fakehttp *s, int mode, const char *body, fh_reply *r)
{
    (void)s;
    (void)mode;
    json_t *req = json_loads(body, 0, NULL);
    const char *q = json_string_value(json_object_get(
        json_array_get(json_object_get(req, "messages"), 1), "content"));
    char text[128];
    snprintf(text, sizeof text, "re: %s", q ? q : "?");
    json_t *out = json_pack("{s:[{s:{s:s,s:s}}]}", "choices", "message", "role",
                            "assistant", "content", text);
    r->body = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    json_decref(req);
}

Test(agent_runtime, handlers_ask_the_llm_when_one_is_configured)
{
    int64_t id = enqueue("ask", "{\"q\":\"why?\"}", 1);
    agent_runtime *rt;
    cr_assert_eq(agent_start(&rt, H, &ASKER, NULL), 0);
    fs_job j = wait_state(id, JOB_FAILED);
    cr_assert_str_eq(j.last_error, "no LLM is configured (set FLOWSTATE_LLM_URL)");
    fs_job_clear(&j);
    agent_stop(rt);

    static fakehttp S;
    fh_start(&S, llm_answer, 0, NULL);
    llm *l;
    cr_assert_eq(llm_open(&l, &(llm_config){ .url = S.url, .model = "m" }), 0);
    id = enqueue("ask", "{\"q\":\"why?\"}", 1);
    cr_assert_eq(agent_start(&rt, H, &ASKER, &(agent_config){ .llm = l }), 0);
    j = wait_state(id, JOB_COMPLETED);
    cr_assert_str_eq(j.result, "{\"answer\":\"re: why?\"}");
    fs_job_clear(&j);
    agent_stop(rt);
    llm_close(l);
    fh_stop(&S);
}
