/*
 * test_sched.c - the scheduler service (queue/sched.h).  With a manual
 * clock and sched_tick: fire times, the job each fire enqueues (queue
 * defaults applied), catching up only the latest missed fire, nothing
 * for times before a schedule was stored, disabled schedules, bad
 * definitions skipped, idle workers woken.  With the real clock and the
 * scheduler threads: three schedulers on one database (two on one store
 * handle, one on another) firing "@every 1s" for ~3 s give exactly one
 * job per fire time.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fs.h"
#include "queue/sched.h"
#include "support/testdb.h"

static tdb T;
static int64_t NOW;
static fs_clock CLK = { fs_clock_manual_now, &NOW };
static queue *Q;
static sched *S;

static int64_t at(const char *rfc3339)
{
    int64_t ms = 0;
    cr_assert(fs_time_parse(rfc3339, &ms), "%s", rfc3339);
    return ms;
}

static void setup(void)
{
    tdb_open(&T);
    NOW = at("2024-01-01T00:00:30Z");
    queue_config qc = queue_config_default();
    qc.ticker = false;
    cr_assert_eq(queue_open(&Q, T.st, &CLK, &qc), 0);
    sched_config sc = { .reread_ms = 60000, .thread = false };
    cr_assert_eq(sched_open(&S, T.st, Q, &CLK, &sc), 0);
}

static void teardown(void)
{
    sched_close(S);
    queue_close(Q);
    tdb_close(&T);
}

TestSuite(sched, .init = setup, .fini = teardown, .timeout = 60);

static void put_at(store *st, const char *name, const char *cron,
                   const char *job, bool enabled, int64_t now)
{
    fs_schedule s = { .name = strdup(name), .cron = strdup(cron),
                      .job = strdup(job), .enabled = enabled };
    cr_assert_eq(store_schedule_put(st, &s, now, NULL), 0);
    fs_schedule_clear(&s);
}

#define JOB "{\"type\":\"monitor\",\"target_agent\":\"mon\"," \
            "\"payload\":{\"window\":\"15m\"},\"priority\":3}"

static void put(const char *name, const char *cron, bool enabled)
{
    put_at(T.st, name, cron, JOB, enabled, NOW);
}

/* One tick at time t: returns the jobs fired; *next the next fire. */
static size_t tick_at(const char *t, int64_t *next)
{
    NOW = at(t);
    size_t fired = 99;
    cr_assert_eq(sched_tick(S, &fired, next), 0);
    return fired;
}

/* Every job, newest first. */
static fs_job *jobs(size_t *n)
{
    store_job_filter f = { .state = -1, .limit = 1000 };
    fs_job *all;
    cr_assert_eq(store_job_list(T.st, &f, &all, n), 0);
    return all;
}

static void assert_newest_job_for(const char *fire_time)
{
    size_t n;
    fs_job *all = jobs(&n);
    cr_assert_gt(n, 0);
    char key[64];
    snprintf(key, sizeof key, "cron:mon15:%lld", (long long)at(fire_time));
    cr_assert_str_eq(all[0].unique_key, key);
    cr_assert_eq(all[0].run_at, at(fire_time));
    fs_jobs_free(all, n);
}

Test(sched, fires_at_the_fire_times_and_not_before)
{
    put("mon15", "*/15 * * * *", true);
    int64_t next = 0;
    cr_assert_eq(tick_at("2024-01-01T00:00:30Z", &next), 0);
    cr_assert_eq(next, at("2024-01-01T00:15:00Z"));
    cr_assert_eq(tick_at("2024-01-01T00:14:59.999Z", &next), 0);
    cr_assert_eq(tick_at("2024-01-01T00:15:00Z", &next), 1);
    cr_assert_eq(next, at("2024-01-01T00:30:00Z"));
    assert_newest_job_for("2024-01-01T00:15:00Z");
    cr_assert_eq(tick_at("2024-01-01T00:15:00.500Z", NULL), 0, "once");
    cr_assert_eq(tick_at("2024-01-01T00:30:10Z", &next), 1);
    assert_newest_job_for("2024-01-01T00:30:00Z");
    cr_assert_eq(next, at("2024-01-01T00:45:00Z"));

    size_t n;
    fs_job *all = jobs(&n);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(all[0].type, "monitor");
    cr_assert_str_eq(all[0].target_agent, "mon");
    cr_assert_str_eq(all[0].payload, "{\"window\":\"15m\"}");
    cr_assert_eq(all[0].priority, 3);
    cr_assert_eq(all[0].state, JOB_PENDING);
    queue_config def = queue_config_default();
    cr_assert_eq(all[0].max_attempts, def.default_max_attempts);
    cr_assert_eq(all[0].timeout_ms, def.default_lease_ms);
    fs_jobs_free(all, n);

    fs_schedule s;
    cr_assert_eq(store_schedule_get(T.st, "mon15", &s), 0);
    cr_assert_eq(s.last_fire, at("2024-01-01T00:30:00Z"));
    cr_assert_eq(sched_next_fire(&s, NOW), at("2024-01-01T00:45:00Z"));
    fs_schedule_clear(&s);
}

Test(sched, catches_up_only_the_latest_missed_fire)
{
    put("mon15", "* * * * *", true);
    cr_assert_eq(tick_at("2024-01-01T00:01:00Z", NULL), 1);
    /* Down for three hours: 189 fires missed, one made up. */
    cr_assert_eq(tick_at("2024-01-01T03:10:30Z", NULL), 1);
    assert_newest_job_for("2024-01-01T03:10:00Z");
    cr_assert_eq(tick_at("2024-01-01T03:10:59Z", NULL), 0);
    size_t n;
    fs_job *all = jobs(&n);
    fs_jobs_free(all, n);
    cr_assert_eq(n, 2);
}

Test(sched, a_new_schedule_fires_only_after_it_was_stored)
{
    NOW = at("2024-01-01T15:00:00Z");
    put("mon15", "@daily", true);
    int64_t next = 0;
    cr_assert_eq(tick_at("2024-01-01T15:00:01Z", &next), 0,
                 "not for the midnight before it existed");
    cr_assert_eq(next, at("2024-01-02T00:00:00Z"));
    cr_assert_eq(tick_at("2024-01-02T00:00:00Z", NULL), 1);
}

Test(sched, a_disabled_schedule_never_fires)
{
    put("mon15", "* * * * *", false);
    int64_t next = 1;
    cr_assert_eq(tick_at("2024-01-01T00:05:00Z", &next), 0);
    cr_assert_eq(next, 0, "nothing enabled, nothing next");
    cr_assert_eq(tick_at("2024-01-02T00:00:00Z", NULL), 0);
    fs_schedule s;
    cr_assert_eq(store_schedule_get(T.st, "mon15", &s), 0);
    cr_assert_eq(sched_next_fire(&s, NOW), 0);
    fs_schedule_clear(&s);
    /* Enabled again: from its next fire time on, no catching up. */
    NOW = at("2024-01-02T00:00:30Z");
    put("mon15", "* * * * *", true);
    cr_assert_eq(tick_at("2024-01-02T00:00:59Z", NULL), 0);
    cr_assert_eq(tick_at("2024-01-02T00:01:00Z", NULL), 1);
}

Test(sched, a_replacement_keeps_the_last_fire)
{
    put("mon15", "*/15 * * * *", true);
    cr_assert_eq(tick_at("2024-01-01T00:15:00Z", NULL), 1);
    NOW = at("2024-01-01T00:15:01Z");
    put_at(T.st, "mon15", "*/15 * * * *",
           "{\"type\":\"monitor2\",\"target_agent\":\"mon\"}", true, NOW);
    cr_assert_eq(tick_at("2024-01-01T00:20:00Z", NULL), 0);
    cr_assert_eq(tick_at("2024-01-01T00:30:00Z", NULL), 1);
    size_t n;
    fs_job *all = jobs(&n);
    cr_assert_str_eq(all[0].type, "monitor2");
    fs_jobs_free(all, n);
}

Test(sched, bad_definitions_are_skipped_and_the_rest_fire)
{
    put_at(T.st, "a-bad-cron", "61 * * * *", JOB, true, NOW);
    put_at(T.st, "b-bad-job", "* * * * *", "{\"type\":\"x\"}", true, NOW);
    put_at(T.st, "c-bad-prio", "* * * * *",
           "{\"type\":\"x\",\"target_agent\":\"y\",\"priority\":9999999}",
           true, NOW);
    put("mon15", "* * * * *", true);
    cr_assert_eq(tick_at("2024-01-01T00:01:00Z", NULL), 1);
    assert_newest_job_for("2024-01-01T00:01:00Z");
}

Test(sched, names)
{
    cr_assert(sched_name_ok("a"));
    cr_assert(sched_name_ok("nightly-report_2.v1"));
    cr_assert_not(sched_name_ok(NULL));
    cr_assert_not(sched_name_ok(""));
    cr_assert_not(sched_name_ok("a b"));
    cr_assert_not(sched_name_ok("a/b"));
    cr_assert_not(sched_name_ok("a:b"));
    char name[SCHED_MAX_NAME + 2];
    memset(name, 'x', sizeof name);
    name[SCHED_MAX_NAME] = '\0';
    cr_assert(sched_name_ok(name));
    name[SCHED_MAX_NAME] = 'x';
    name[SCHED_MAX_NAME + 1] = '\0';
    cr_assert_not(sched_name_ok(name));
}

static void *lease_one(void *arg)
{
    (void)arg;
    queue_lease_req r = { .agent_id = "ag_w", .agent_type = "mon", .max = 1,
                          .wait_ms = 10000 };
    fs_job *v = NULL;
    size_t n = 0;
    if (queue_lease(Q, &r, &v, &n) != 0) return NULL;
    char *type = n ? strdup(v[0].type) : NULL;
    fs_jobs_free(v, n);
    return type;
}

Test(sched, a_fire_wakes_an_idle_worker)
{
    put("mon15", "* * * * *", true);
    pthread_t th;
    pthread_create(&th, NULL, lease_one, NULL);
    usleep(200 * 1000); /* the worker is waiting by now */
    int64_t t0 = fs_mono_ms();
    cr_assert_eq(tick_at("2024-01-01T00:01:00Z", NULL), 1);
    char *type;
    pthread_join(th, (void **)&type);
    cr_assert_str_eq(type, "monitor");
    cr_assert_lt(fs_mono_ms() - t0, 5000, "woken, not timed out");
    free(type);
}

/* --- several schedulers, real clock ------------------------------------ */

typedef struct node {
    store *st;
    queue *q;
    sched *s;
} node;

static void node_open(node *n, store *st)
{
    queue_config qc = queue_config_default();
    qc.ticker = false;
    n->st = st;
    cr_assert_eq(queue_open(&n->q, st, NULL, &qc), 0);
    cr_assert_eq(sched_open(&n->s, st, n->q, NULL, NULL), 0);
}

static void node_close(node *n)
{
    sched_close(n->s);
    queue_close(n->q);
}

Test(sched, three_schedulers_on_one_database_never_duplicate)
{
    store *other;
    cr_assert_eq(store_open(&other, T.url, NULL), 0);
    node nodes[3];
    node_open(&nodes[0], T.st);
    node_open(&nodes[1], T.st);
    node_open(&nodes[2], other);
    put_at(T.st, "every", "@every 1s", JOB, true, fs_now(&fs_clock_real));
    for (int i = 0; i < 3; i++) sched_changed(nodes[i].s);
    usleep(3200 * 1000);
    for (int i = 0; i < 3; i++) node_close(&nodes[i]);
    store_close(other);

    size_t n;
    fs_job *all = jobs(&n);
    cr_assert_geq(n, 2, "fired every second for ~3 s, got %zu", n);
    cr_assert_leq(n, 4);
    for (size_t i = 0; i < n; i++) {
        long long t = 0;
        cr_assert_eq(sscanf(all[i].unique_key, "cron:every:%lld", &t), 1);
        cr_assert_eq(t % 1000, 0, "%s", all[i].unique_key);
        cr_assert_eq(all[i].run_at, t);
        for (size_t k = 0; k < i; k++)
            cr_assert_neq(all[k].run_at, t, "two jobs for %lld", t);
    }
    fs_jobs_free(all, n);
}
