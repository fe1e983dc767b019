/*
 * test_monitoring.c - the built-in monitoring agent over the in-process
 * host with the real queue, registry, workflow service and memory:
 * health_check finds a stale agent and an overdue run and turns them into
 * alerts (memory documents of kind "alert", a plan job for the
 * coordinator when critical); check_metrics flags a planted spike after a
 * steady history; optimize_performance picks the smallest ef meeting a
 * recall target on a few hundred random vectors and applies it through
 * the evolution log; a planted harmful ef_search (a change whose claimed
 * recall was a lie) is caught by health_check's recall reports and
 * rolled back, the index's ef restored.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "agents/builtin/monitoring.h"
#include "agents/host_local.h"
#include "core/fs.h"
#include "support/agentq.h"
#include "support/testdb.h"
#include "support/vecdata.h"

#define D 32

static tdb T;
static queue *Q;
static registry *R;
static workflow *W;
static embedder *E;
static memory *M;
static agent_host *H;
static agent_runtime *RT;
static evolution *EV;

/* What serve does: the log's memory.ef_search is the index's beam. */
static void on_change(void *ctx, const char *component, const json_t *value)
{
    (void)ctx;
    if (!strcmp(component, "memory.ef_search"))
        cr_assert_eq(memory_set_ef(M, value ? (int)json_integer_value(value) : 64), 0);
}

static void setup(void)
{
    tdb_open(&T);
    cr_assert_eq(queue_open(&Q, T.st, NULL, NULL), 0);
    registry_config rc = { .stale_after_ms = 300, .offline_after_ms = 600000 };
    cr_assert_eq(registry_open(&R, T.st, NULL, &rc), 0);
    workflow_config wc = { .thread = false };
    cr_assert_eq(workflow_open(&W, T.st, Q, NULL, &wc), 0);
    cr_assert_eq(embed_local_open(&E, D, NULL), 0);
    mem_space sp = { D, VEC_COSINE, "local" };
    memory_config mc = { .hnsw = { .M = 4, .ef_construction = 16 } };
    cr_assert_eq(memory_open(&M, T.st, E, &sp, &mc), 0);
    evolution_config ec = evolution_config_default();
    ec.on_change = on_change;
    cr_assert_eq(evolution_open(&EV, T.st, &fs_clock_real, &ec), 0);
    H = host_local_open(Q, R, M, W, EV);
    agent_config cfg = { .agent_heartbeat_ms = 50 };
    cr_assert_eq(agent_start(&RT, H, &monitoring_agent, &cfg), 0);
}

static void teardown(void)
{
    agent_stop(RT);
    agent_host_close(H);
    evolution_close(EV);
    memory_close(M);
    embed_close(E);
    workflow_close(W);
    registry_close(R);
    queue_close(Q);
    tdb_close(&T);
}

TestSuite(monitoring, .init = setup, .fini = teardown, .timeout = 120);

/* Runs a monitoring job to the end; returns its result (the caller
 * json_decref()s). */
static json_t *run(const char *type, const char *payload)
{
    fs_job j = aq_finished(Q, aq_enqueue(Q, type, "monitoring", payload));
    cr_assert_eq(j.state, JOB_COMPLETED, "%s: %s", type, j.last_error);
    json_t *r = json_loads(j.result, 0, NULL);
    cr_assert_not_null(r);
    fs_job_clear(&j);
    return r;
}

/* The finding of result whose component is comp, or NULL. */
static json_t *finding(json_t *result, const char *comp)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(result, "findings"), i, f)
        if (!strcmp(json_string_value(json_object_get(f, "component")), comp)) return f;
    return NULL;
}

Test(monitoring, health_check_finds_a_stale_agent_and_an_overdue_run)
{
    fs_agent a;
    char *token;
    cr_assert_eq(registry_register(R, "ghost", "scorer", "[\"score\"]", NULL, &a, &token), 0);
    free(token);
    json_t *def = json_loads("{\"name\":\"slow\",\"timeout_ms\":1,\"steps\":[{\"id\":\"a\","
                             "\"agent\":\"nobody\",\"job_type\":\"x\"}]}", 0, NULL);
    json_t *problems = NULL;
    cr_assert_eq(workflow_register(W, def, NULL, NULL, &problems), 0);
    json_decref(problems);
    json_decref(def);
    fs_run r;
    char err[256];
    cr_assert_eq(workflow_start(W, "slow", 0, NULL, &r, err, sizeof err), 0, "%s", err);
    usleep(500 * 1000); /* the ghost goes stale, the run past its deadline */
    json_t *res = run("health_check", "{\"recall_samples\":0}");
    cr_assert_str_eq(json_string_value(json_object_get(res, "status")), "critical");
    char comp[80];
    snprintf(comp, sizeof comp, "agent:%s", a.id);
    json_t *f = finding(res, comp);
    cr_assert_not_null(f, "no finding for the ghost");
    cr_assert(strstr(json_string_value(json_object_get(f, "message")), "stale"));
    snprintf(comp, sizeof comp, "run:%lld", (long long)r.id);
    f = finding(res, comp);
    cr_assert_not_null(f, "no finding for the overdue run");
    cr_assert_str_eq(json_string_value(json_object_get(f, "severity")), "critical");
    cr_assert_geq(json_array_size(json_object_get(res, "alerts")), 2);

    store_doc_filter df = { .kind = "alert", .limit = 100 };
    fs_doc *docs;
    size_t n;
    cr_assert_eq(store_doc_list(T.st, &df, false, &docs, &n), 0);
    cr_assert_eq(n, json_array_size(json_object_get(res, "alerts")));
    bool critical = false;
    for (size_t i = 0; i < n; i++) critical |= strstr(docs[i].metadata, "critical") != NULL;
    cr_assert(critical, "no critical alert in memory");
    fs_docs_free(docs, n);

    store_job_filter jf = { .state = -1, .type = "plan", .target_agent = "coordinator",
                            .limit = 10 };
    fs_job *jobs;
    cr_assert_eq(queue_list(Q, &jf, &jobs, &n), 0);
    cr_assert_eq(n, 1, "one critical finding, one plan job");
    cr_assert(strstr(jobs[0].payload, "respond to alert: workflow run"), "%s",
              jobs[0].payload);
    fs_jobs_free(jobs, n);
    json_decref(res);
    fs_run_clear(&r);
    fs_agent_clear(&a);
}

Test(monitoring, health_check_is_ok_on_a_quiet_system)
{
    json_t *res = run("health_check", "{\"recall_samples\":5}");
    cr_assert_str_eq(json_string_value(json_object_get(res, "status")), "ok", "%s",
                     json_dumps(res, 0));
    cr_assert_eq(json_array_size(json_object_get(res, "alerts")), 0);
    json_decref(res);
}

/* The metric named name in a check_metrics result. */
static json_t *metric(json_t *res, const char *name)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(res, "metrics"), i, m)
        if (!strcmp(json_string_value(json_object_get(m, "name")), name)) return m;
    cr_assert_fail("no metric %s", name);
    return NULL;
}

Test(monitoring, check_metrics_flags_a_spike_after_a_steady_history)
{
    for (int i = 0; i < 3; i++) aq_enqueue(Q, "work", "nobody", NULL);
    for (int i = 0; i < 12; i++) {
        json_t *res = run("check_metrics", "{}");
        json_t *m = metric(res, "depth:work");
        cr_assert_eq(json_real_value(json_object_get(m, "value")), 3.0);
        cr_assert(json_is_false(json_object_get(m, "anomaly")));
        json_decref(res);
    }
    for (int i = 0; i < 40; i++) aq_enqueue(Q, "work", "nobody", NULL);
    json_t *res = run("check_metrics", "{}");
    json_t *m = metric(res, "depth:work");
    cr_assert_eq(json_real_value(json_object_get(m, "value")), 43.0);
    cr_assert_geq(json_real_value(json_object_get(m, "z")), 3.0);
    cr_assert(json_is_true(json_object_get(m, "anomaly")));
    cr_assert_geq(json_integer_value(json_object_get(res, "anomalies")), 1);
    cr_assert_geq(json_array_size(json_object_get(res, "alerts")), 1);
    json_decref(res);

    json_t *state;
    int64_t version;
    fs_agent_state s;
    cr_assert_eq(registry_state_get(R, agent_id(RT), 0, &s), 0);
    version = s.version;
    state = json_loads(s.state, 0, NULL);
    cr_assert_eq(version, 13, "one state version per check");
    json_t *w = json_object_get(json_object_get(state, "metrics"), "depth:work");
    cr_assert_eq(json_integer_value(json_object_get(w, "n")), 13);
    json_decref(state);
    fs_agent_state_clear(&s);
}

/* n random vectors in the memory. */
static void fill(int n)
{
    vd_rng rng = { 99 };
    float v[D];
    for (int i = 0; i < n; i++) {
        for (size_t k = 0; k < D; k++) v[k] = (float)vd_gauss(&rng);
        fs_doc d = { .content = "v", .metadata = "{}", .tags = "[]", .importance = 0.5,
                     .embedding = v, .dims = D };
        cr_assert_eq(memory_add(M, &d, 1, NULL), 0);
    }
}

Test(monitoring, optimize_performance_picks_the_smallest_ef_meeting_the_target)
{
    fill(400);
    cr_assert_eq(memory_set_ef(M, 777), 0);
    json_t *res = run("optimize_performance", "{\"recall_target\":0.95,\"samples\":60}");
    int after = (int)json_integer_value(json_object_get(res, "ef_after"));
    cr_assert_eq(json_integer_value(json_object_get(res, "ef_before")), 777);
    cr_assert_eq(memory_ef(M), after);
    cr_assert(json_is_true(json_object_get(res, "met")));
    cr_assert_geq(json_real_value(json_object_get(res, "recall")), 0.95);
    json_t *measured = json_object_get(res, "measured");
    size_t n = json_array_size(measured);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(measured, n - 1), "ef")),
                 after);
    for (size_t i = 0; i + 1 < n; i++)
        cr_assert_lt(json_real_value(json_object_get(json_array_get(measured, i), "recall")),
                     0.95);
    json_t *change = json_object_get(res, "change");
    cr_assert_str_eq(json_string_value(json_object_get(change, "setting")), "ef_search");
    cr_assert_eq(json_integer_value(json_object_get(change, "from")), 777);
    cr_assert_eq(json_integer_value(json_object_get(change, "to")), after);
    cr_assert_str_eq(json_string_value(json_object_get(change, "status")), "applied");
    json_t *entry = NULL;
    cr_assert_eq(evolution_get(EV, json_integer_value(json_object_get(change, "evolution")),
                               &entry), 0);
    cr_assert_str_eq(json_string_value(json_object_get(entry, "component")),
                     "memory.ef_search");
    cr_assert_str_eq(json_string_value(json_object_get(entry, "proposed_by")), "monitoring");
    json_decref(entry);
    json_decref(res);
}

Test(monitoring, a_harmful_ef_change_is_rolled_back_by_health_checks)
{
    fill(400);
    /* planted: ef 1 "measured" at recall 0.99 - it is far lower */
    json_t *p = json_pack("{s:s,s:s,s:s,s:s,s:{s:i,s:i},s:{s:f},s:{s:i,s:i},"
                          "s:{s:i,s:i}}",
                          "type", "parameter_tuning", "component", "memory.ef_search",
                          "description", "planted", "proposed_by", "test", "change",
                          "from", 64, "to", 1, "require", "min", 0.95, "metrics_before",
                          "successes", 995, "trials", 1000, "metrics_after",
                          "successes", 990, "trials", 1000), *e = NULL;
    evolution_err err = { 0 };
    cr_assert_eq(evolution_propose(EV, p, &e, &err), 0, "%s", err.msg);
    json_decref(p);
    cr_assert_str_eq(json_string_value(json_object_get(e, "status")), "applied");
    int64_t id = json_integer_value(json_object_get(e, "id"));
    json_decref(e);
    cr_assert_eq(memory_ef(M), 1);
    const char *status = "applied";
    int checks = 0;
    while (!strcmp(status, "applied") && checks++ < 20) {
        json_t *res = run("health_check", "{\"recall_samples\":20,\"recall_min\":0}");
        json_t *ev = json_object_get(res, "evolution");
        cr_assert_eq(json_integer_value(json_object_get(ev, "watched")), 1);
        json_decref(res);
        cr_assert_eq(evolution_get(EV, id, &e), 0);
        status = strcmp(json_string_value(json_object_get(e, "status")), "applied")
                     ? "rolled_back" : "applied";
        json_decref(e);
    }
    cr_assert_str_eq(status, "rolled_back", "still applied after %d checks", checks);
    cr_assert_leq(checks, 3);
    cr_assert_eq(memory_ef(M), 64, "the beam is back to its default");
    cr_assert_eq(evolution_get(EV, id, &e), 0);
    cr_assert(strstr(json_string_value(json_object_get(e, "reason")), "regressed"));
    json_decref(e);
}

Test(monitoring, bad_payloads_fail_for_good)
{
    const char *bad[][2] = { { "check_metrics", "{\"alpha\":2}" },
                             { "optimize_performance", "{\"recall_target\":1.5}" },
                             { "optimize_performance", "{\"candidates\":[0]}" },
                             { "health_check", "{\"pending_age_ms\":0}" } };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fs_job j = aq_finished(Q, aq_enqueue(Q, bad[i][0], "monitoring", bad[i][1]));
        cr_assert_eq(j.state, JOB_FAILED, "%s %s", bad[i][0], bad[i][1]);
        fs_job_clear(&j);
    }
}
