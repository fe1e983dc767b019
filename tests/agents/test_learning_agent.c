/*
 * test_learning_agent.c - the built-in learning agent through the queue
 * (in-process host, real store, registry and memory): a decision learnt
 * from outcomes, success predicted from learnt leads, a lesson kept in
 * memory, and the errors a caller can make.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "agents/builtin/learning.h"
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
    cr_assert_eq(queue_open(&Q, T.st, NULL, NULL), 0);
    cr_assert_eq(registry_open(&R, T.st, NULL, NULL), 0);
    cr_assert_eq(embed_local_open(&E, SP.dims, NULL), 0);
    cr_assert_eq(memory_open(&M, T.st, E, &SP, NULL), 0);
    H = host_local_open(Q, R, M, NULL, NULL);
    cr_assert_eq(agent_start(&RT, H, &learning_agent, &(agent_config){ .concurrency = 2 }), 0);
}

static void teardown(void)
{
    agent_stop(RT);
    agent_host_close(H);
    memory_close(M);
    embed_close(E);
    registry_close(R);
    queue_close(Q);
    tdb_close(&T);
}

TestSuite(learning_agent, .init = setup, .fini = teardown, .timeout = 120);

static json_t *result(int64_t id)
{
    fs_job j = aq_finished(Q, id);
    cr_assert_eq(j.state, JOB_COMPLETED, "%s: %s", j.type, j.last_error);
    json_t *r = json_loads(j.result, 0, NULL);
    fs_job_clear(&j);
    return r;
}

Test(learning_agent, a_decision_learns_the_option_that_works)
{
    json_decref(result(aq_enqueue(Q, "choose_strategy", "learning",
        "{\"decision\":\"follow_up_channel\",\"options\":[\"fax\",\"email\",\"call\"]}")));
    int64_t last = 0;
    for (int i = 0; i < 60; i++) { /* email works, fax and call never do */
        char p[160];
        const char *arm = i % 3 == 0 ? "fax" : i % 3 == 1 ? "email" : "call";
        snprintf(p, sizeof p, "{\"decision\":\"follow_up_channel\",\"choice\":\"%s\","
                 "\"success\":%s}", arm, i % 3 == 1 ? "true" : "false");
        last = aq_enqueue(Q, "record_outcome", "learning", p);
    }
    fs_job j = aq_finished(Q, last);
    fs_job_clear(&j);
    int email = 0;
    for (int i = 0; i < 40; i++) {
        json_t *r = result(aq_enqueue(Q, "choose_strategy", "learning", "{\"decision\":\"follow_up_channel\"}"));
        email += !strcmp(json_string_value(json_object_get(r, "choice")), "email");
        json_decref(r);
    }
    cr_assert_geq(email, 36, "email chosen %d of 40 times", email);
}

Test(learning_agent, success_is_predicted_from_learnt_leads)
{
    int64_t last = 0;
    for (int i = 0; i < 120; i++) {
        char p[200];
        bool ent = i % 2 == 0;
        snprintf(p, sizeof p, "{\"lead\":{\"segment\":\"%s\",\"source\":\"web\"},"
                 "\"success\":%s}", ent ? "enterprise" : "smb", ent ? "true" : "false");
        last = aq_enqueue(Q, "learn_outcome", "learning", p);
    }
    fs_job j = aq_finished(Q, last);
    fs_job_clear(&j);
    json_t *ent = result(aq_enqueue(Q, "predict_success", "learning",
                                 "{\"lead\":{\"segment\":\"enterprise\",\"source\":\"web\"}}"));
    json_t *smb = result(aq_enqueue(Q, "predict_success", "learning",
                                 "{\"lead\":{\"segment\":\"smb\",\"source\":\"web\"}}"));
    double pe = json_real_value(json_object_get(ent, "probability"));
    double ps = json_real_value(json_object_get(smb, "probability"));
    cr_assert_gt(pe, 0.7, "enterprise leads succeed: %f", pe);
    cr_assert_lt(ps, 0.3, "smb leads fail: %f", ps);
    json_decref(ent);
    json_decref(smb);
}

Test(learning_agent, other_outcomes_become_lessons_in_memory)
{
    json_t *r = result(aq_enqueue(Q, "learn_outcome", "learning",
                               "{\"source\":\"code_review\",\"path\":\"src/core\","
                               "\"issues\":{\"count\":3}}"));
    json_int_t id = json_integer_value(json_object_get(r, "lesson"));
    cr_assert_gt(id, 0);
    fs_doc d;
    cr_assert_eq(store_doc_get(T.st, id, false, &d), 0);
    cr_assert_str_eq(d.kind, "lesson");
    cr_assert(strstr(d.content, "code_review"), "%s", d.content);
    fs_doc_clear(&d);
    json_decref(r);
}

Test(learning_agent, bad_requests_fail_without_retry)
{
    const char *bad[][2] = {
        { "choose_strategy", "{\"decision\":\"never_seen\"}" },
        { "record_outcome", "{\"decision\":\"x\",\"choice\":\"y\",\"reward\":3}" },
        { "choose_strategy", "{}" },
        { "teach", "{}" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (!strcmp(bad[i][0], "teach")) continue; /* not leased: not our type */
        fs_job j = aq_finished(Q, aq_enqueue(Q, bad[i][0], "learning", bad[i][1]));
        cr_assert_eq(j.state, JOB_FAILED, "%s %s", bad[i][0], bad[i][1]);
        cr_assert_eq(j.attempts, 1);
        fs_job_clear(&j);
    }
    json_t *r = result(aq_enqueue(Q, "choose_strategy", "learning", "{\"decision\":\"follow_up\"}"));
    cr_assert_not_null(json_object_get(r, "choice"), "follow_up has default options");
    json_decref(r);
}
