/*
 * test_learning_evolution.c - learning and monitoring agents around the
 * evolution log, through the queue (in-process host, real store): outcomes
 * with hidden success rates lead `evolve` to propose the best follow-up,
 * which the log validates and applies; choose_strategy then makes that
 * choice; when the applied choice turns harmful (its success rate drops
 * to nothing) the outcomes the learning agent reports let the monitoring
 * agent's health_check detect the regression and roll it back, and the
 * decision goes back to sampling.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "agents/builtin/learning.h"
#include "agents/builtin/monitoring.h"
#include "agents/host_local.h"
#include "agents/learn/rng.h"
#include "core/fs.h"
#include "evolution/evolution.h"
#include "support/agentq.h"
#include "support/testdb.h"

static tdb T;
static queue *Q;
static registry *R;
static evolution *EV;
static agent_host *H;
static agent_runtime *LEARN, *MON;

static void setup(void)
{
    tdb_open(&T);
    cr_assert_eq(queue_open(&Q, T.st, NULL, NULL), 0);
    cr_assert_eq(registry_open(&R, T.st, NULL, NULL), 0);
    evolution_config ec = evolution_config_default();
    cr_assert_eq(evolution_open(&EV, T.st, &fs_clock_real, &ec), 0);
    H = host_local_open(Q, R, NULL, NULL, EV);
    cr_assert_eq(agent_start(&LEARN, H, &learning_agent, &(agent_config){ .concurrency = 2 }),
                 0);
    cr_assert_eq(agent_start(&MON, H, &monitoring_agent, NULL), 0);
}

static void teardown(void)
{
    agent_stop(MON);
    agent_stop(LEARN);
    agent_host_close(H);
    evolution_close(EV);
    registry_close(R);
    queue_close(Q);
    tdb_close(&T);
}

TestSuite(learning_evolution, .init = setup, .fini = teardown, .timeout = 240);

static json_t *run(const char *type, const char *target, const char *payload)
{
    fs_job j = aq_finished(Q, aq_enqueue(Q, type, target, payload));
    cr_assert_eq(j.state, JOB_COMPLETED, "%s: %s", type, j.last_error);
    json_t *r = json_loads(j.result, 0, NULL);
    fs_job_clear(&j);
    return r;
}

static const char *const ARMS[] = { "email_today", "call_today", "email_in_3_days",
                                    "no_follow_up" };

/* Records n outcomes of arm (index) at success rate p, waiting for all. */
static void outcomes(int arm, double p, int n, learn_rng *rng)
{
    int64_t ids[400];
    cr_assert_leq(n, 400);
    for (int i = 0; i < n; i++) {
        char pl[160];
        snprintf(pl, sizeof pl,
                 "{\"decision\":\"follow_up\",\"choice\":\"%s\",\"success\":%s}",
                 ARMS[arm], learn_rng_uniform(rng) < p ? "true" : "false");
        ids[i] = aq_enqueue(Q, "record_outcome", "learning", pl);
    }
    for (int i = 0; i < n; i++) {
        fs_job j = aq_finished(Q, ids[i]);
        cr_assert_eq(j.state, JOB_COMPLETED, "%s", j.last_error);
        fs_job_clear(&j);
    }
}

static const char *choice(void)
{
    static char buf[64];
    json_t *r = run("choose_strategy", "learning", "{\"decision\":\"follow_up\",\"explore\":0}");
    snprintf(buf, sizeof buf, "%s/%s", json_string_value(json_object_get(r, "choice")),
             json_string_value(json_object_get(r, "policy")));
    json_decref(r);
    return buf;
}

Test(learning_evolution, the_best_follow_up_is_applied_then_rolled_back_when_it_turns_harmful)
{
    static const double rate[] = { 0.10, 0.40, 0.20, 0.05 };
    learn_rng rng;
    learn_rng_seed(&rng, 2026);
    cr_assert_str_eq(choice() + strcspn(choice(), "/"), "/explore");
    for (int a = 0; a < 4; a++) outcomes(a, rate[a], 300, &rng);

    json_t *r = run("evolve", "learning", "{}");
    json_t *d = json_array_get(json_object_get(r, "decisions"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(d, "best")), "call_today");
    cr_assert_str_eq(json_string_value(json_object_get(d, "action")), "proposed");
    cr_assert_str_eq(json_string_value(json_object_get(d, "status")), "applied");
    int64_t id = json_integer_value(json_object_get(d, "evolution"));
    json_decref(r);
    cr_assert_str_eq(choice(), "call_today/applied");
    r = run("evolve", "learning", "{}");
    d = json_array_get(json_object_get(r, "decisions"), 0);
    cr_assert(strstr(json_string_value(json_object_get(d, "action")), "none"));
    json_decref(r);

    /* the phone line breaks: calls stop working */
    const char *status = "applied";
    int seen = 0;
    while (!strcmp(status, "applied") && seen < 2000) {
        outcomes(1, 0.0, 100, &rng);
        seen += 100;
        r = run("health_check", "monitoring", "{\"recall_samples\":0}");
        json_t *rolled = json_object_get(json_object_get(r, "evolution"), "rolled_back");
        if (json_array_size(rolled)) {
            cr_assert_eq(json_integer_value(json_array_get(rolled, 0)), id);
            status = "rolled_back";
        }
        json_decref(r);
    }
    cr_assert_str_eq(status, "rolled_back", "after %d bad outcomes", seen);
    cr_assert_leq(seen, 600, "caught after %d bad outcomes", seen);
    json_t *e = NULL;
    cr_assert_eq(evolution_get(EV, id, &e), 0);
    cr_assert_str_eq(json_string_value(json_object_get(e, "status")), "rolled_back");
    cr_assert_eq(json_number_value(json_object_get(json_object_get(e, "observed"), "n")),
                 seen, "every outcome of the applied choice was reported");
    json_decref(e);
    cr_assert_str_eq(choice() + strcspn(choice(), "/"), "/explore");
}

Test(learning_evolution, too_few_outcomes_propose_nothing)
{
    learn_rng rng;
    learn_rng_seed(&rng, 1);
    outcomes(0, 0.5, 30, &rng);
    json_t *r = run("evolve", "learning", "{\"decision\":\"follow_up\"}");
    json_t *d = json_array_get(json_object_get(r, "decisions"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(d, "action")), "more data");
    json_decref(r);
    fs_job j = aq_finished(Q, aq_enqueue(Q, "evolve", "learning", "{\"decision\":\"nope\"}"));
    cr_assert_eq(j.state, JOB_FAILED);
    fs_job_clear(&j);
    json_t *list = NULL;
    int64_t next;
    store_evolution_filter f = { .limit = 10 };
    cr_assert_eq(evolution_list(EV, &f, &list, &next), 0);
    cr_assert_eq(json_array_size(list), 0);
    json_decref(list);
}
