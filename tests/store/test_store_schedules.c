/*
 * test_store_schedules.c - the schedule part of the store contract
 * (store.h, "Schedules"), backend-agnostic through tdb_open: definitions
 * (put keeps last_fire, replace says so, list by name, delete), and the
 * fire: one job per fire time, with the unique key cron:NAME:FIRE_AT,
 * never for a disabled schedule or an older instant, and exactly one when
 * threads on two store handles fire the same instants at once.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "support/testdb.h"

static tdb T;
static void setup(void) { tdb_open(&T); }
static void teardown(void) { tdb_close(&T); }

TestSuite(store_schedules, .init = setup, .fini = teardown, .timeout = 60);

#define JOB "{\"type\":\"report\",\"target_agent\":\"w\"}"

/* Stores a definition at now.  Returns whether one was replaced. */
static bool put(store *st, const char *name, const char *cron, bool enabled,
                int64_t now)
{
    fs_schedule s = { .name = strdup(name), .cron = strdup(cron),
                      .job = strdup(JOB), .enabled = enabled };
    bool existed = true;
    cr_assert_eq(store_schedule_put(st, &s, now, &existed), 0);
    cr_assert_eq(s.updated_at, now);
    fs_schedule_clear(&s);
    return existed;
}

static fs_job job(void)
{
    return (fs_job){ .type = strdup("report"), .target_agent = strdup("w"),
                     .max_attempts = 3, .timeout_ms = 1000 };
}

/* Fires name at fire_at.  Returns *fired; the job's id in *id. */
static bool fire(store *st, const char *name, int64_t fire_at, int64_t *id)
{
    fs_job j = job();
    bool fired = true;
    cr_assert_eq(store_schedule_fire(st, name, fire_at, &j, fire_at + 5,
                                     &fired), 0);
    if (id) *id = fired ? j.id : 0;
    fs_job_clear(&j);
    return fired;
}

static size_t job_count(void)
{
    store_job_filter f = { .state = -1, .limit = 1000 };
    fs_job *all;
    size_t n;
    cr_assert_eq(store_job_list(T.st, &f, &all, &n), 0);
    fs_jobs_free(all, n);
    return n;
}

Test(store_schedules, put_get_list_replace_delete)
{
    cr_assert_not(put(T.st, "b-nightly", "0 2 * * *", true, 1000));
    cr_assert_not(put(T.st, "a.monitor", "*/5 * * * *", false, 2000));
    fs_schedule s;
    cr_assert_eq(store_schedule_get(T.st, "b-nightly", &s), 0);
    cr_assert_str_eq(s.name, "b-nightly");
    cr_assert_str_eq(s.cron, "0 2 * * *");
    cr_assert_str_eq(s.job, JOB);
    cr_assert(s.enabled);
    cr_assert_eq(s.last_fire, 0);
    cr_assert_eq(s.created_at, 1000);
    cr_assert_eq(s.updated_at, 1000);
    fs_schedule_clear(&s);

    fs_schedule *all;
    size_t n;
    cr_assert_eq(store_schedule_list(T.st, &all, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(all[0].name, "a.monitor", "by name");
    cr_assert_not(all[0].enabled);
    cr_assert_str_eq(all[1].name, "b-nightly");
    fs_schedules_free(all, n);

    cr_assert(put(T.st, "b-nightly", "0 3 * * *", false, 5000), "replaced");
    cr_assert_eq(store_schedule_get(T.st, "b-nightly", &s), 0);
    cr_assert_str_eq(s.cron, "0 3 * * *");
    cr_assert_not(s.enabled);
    cr_assert_eq(s.created_at, 1000, "created_at kept");
    cr_assert_eq(s.updated_at, 5000);
    fs_schedule_clear(&s);

    cr_assert_eq(store_schedule_delete(T.st, "b-nightly"), 0);
    cr_assert_eq(store_schedule_delete(T.st, "b-nightly"), FS_ENOTFOUND);
    cr_assert_eq(store_schedule_get(T.st, "b-nightly", &s), FS_ENOTFOUND);
    cr_assert_eq(store_schedule_list(T.st, &all, &n), 0);
    cr_assert_eq(n, 1);
    fs_schedules_free(all, n);
}

Test(store_schedules, put_refuses_missing_fields)
{
    fs_schedule s = { .name = strdup("x"), .cron = strdup("@daily") };
    cr_assert_eq(store_schedule_put(T.st, &s, 1, NULL), FS_EINVAL);
    fs_schedule_clear(&s);
}

Test(store_schedules, fire_enqueues_once_per_instant_with_the_key)
{
    put(T.st, "rep", "@every 1m", true, 1000);
    int64_t id = 0;
    cr_assert(fire(T.st, "rep", 60000, &id));
    fs_job j;
    cr_assert_eq(store_job_get(T.st, id, &j), 0);
    cr_assert_str_eq(j.unique_key, "cron:rep:60000");
    cr_assert_str_eq(j.type, "report");
    cr_assert_eq(j.state, JOB_PENDING);
    cr_assert_eq(j.max_attempts, 3);
    fs_job_clear(&j);

    cr_assert_not(fire(T.st, "rep", 60000, NULL), "same instant again");
    cr_assert_not(fire(T.st, "rep", 30000, NULL), "an older instant");
    cr_assert_eq(job_count(), 1);
    cr_assert(fire(T.st, "rep", 120000, NULL));
    cr_assert_eq(job_count(), 2);

    fs_schedule s;
    cr_assert_eq(store_schedule_get(T.st, "rep", &s), 0);
    cr_assert_eq(s.last_fire, 120000);
    cr_assert_eq(s.updated_at, 1000, "a fire is not a change of definition");
    fs_schedule_clear(&s);
    put(T.st, "rep", "@every 5m", true, 130000);
    cr_assert_eq(store_schedule_get(T.st, "rep", &s), 0);
    cr_assert_eq(s.last_fire, 120000, "a replacement keeps last_fire");
    fs_schedule_clear(&s);
}

Test(store_schedules, fire_skips_disabled_and_fails_on_unknown)
{
    put(T.st, "off", "@every 1m", false, 1000);
    cr_assert_not(fire(T.st, "off", 60000, NULL));
    cr_assert_eq(job_count(), 0);
    fs_job j = job();
    bool fired = true;
    cr_assert_eq(store_schedule_fire(T.st, "nope", 60000, &j, 60000, &fired),
                 FS_ENOTFOUND);
    cr_assert_not(fired);
    fs_job_clear(&j);
}

/* A schedule deleted and made again under its name starts with no
 * last_fire, but the key of an instant already enqueued still holds. */
Test(store_schedules, the_unique_key_holds_across_recreation)
{
    put(T.st, "again", "@every 1m", true, 1000);
    cr_assert(fire(T.st, "again", 60000, NULL));
    cr_assert_eq(store_schedule_delete(T.st, "again"), 0);
    put(T.st, "again", "@every 1m", true, 1000);
    cr_assert_not(fire(T.st, "again", 60000, NULL));
    cr_assert_eq(job_count(), 1);
    fs_schedule s;
    cr_assert_eq(store_schedule_get(T.st, "again", &s), 0);
    cr_assert_eq(s.last_fire, 60000);
    fs_schedule_clear(&s);
}

Test(store_schedules, schedules_survive_a_reopen)
{
    put(T.st, "kept", "0 0 * * *", true, 1000);
    tdb_reopen(&T);
    fs_schedule s;
    cr_assert_eq(store_schedule_get(T.st, "kept", &s), 0);
    cr_assert_str_eq(s.cron, "0 0 * * *");
    fs_schedule_clear(&s);
}

#define RACERS 4
#define INSTANTS 40

typedef struct racer {
    store *st;
    int fired;
} racer;

/* Fires the same instants as every other racer. */
static void *race(void *arg)
{
    racer *r = arg;
    for (int k = 1; k <= INSTANTS; k++) {
        fs_job j = job();
        bool fired = false;
        int rc = store_schedule_fire(r->st, "race", k * 1000LL, &j,
                                     k * 1000LL, &fired);
        if (rc == 0 && fired) r->fired++;
        fs_job_clear(&j);
        if (rc) return "fire failed";
    }
    return NULL;
}

Test(store_schedules, concurrent_fires_on_two_handles_enqueue_one_job_each)
{
    store *other;
    cr_assert_eq(store_open(&other, T.url, NULL), 0);
    put(T.st, "race", "@every 1s", true, 0);
    racer r[RACERS];
    pthread_t th[RACERS];
    for (int i = 0; i < RACERS; i++) {
        r[i] = (racer){ i % 2 ? other : T.st, 0 };
        pthread_create(&th[i], NULL, race, &r[i]);
    }
    int total = 0;
    for (int i = 0; i < RACERS; i++) {
        void *err;
        pthread_join(th[i], &err);
        cr_expect_null(err, "racer %d: %s", i, (char *)err);
        total += r[i].fired;
    }
    store_close(other);
    cr_assert_eq(total, INSTANTS, "each instant fired exactly once");
    store_job_filter f = { .state = -1, .limit = 1000 };
    fs_job *all;
    size_t n;
    cr_assert_eq(store_job_list(T.st, &f, &all, &n), 0);
    cr_assert_eq(n, INSTANTS);
    bool seen[INSTANTS + 1] = { false };
    for (size_t i = 0; i < n; i++) {
        long long at = 0;
        cr_assert_eq(sscanf(all[i].unique_key, "cron:race:%lld", &at), 1);
        int k = (int)(at / 1000);
        cr_assert(at % 1000 == 0 && k >= 1 && k <= INSTANTS && !seen[k], "%s",
                  all[i].unique_key);
        seen[k] = true;
    }
    fs_jobs_free(all, n);
}
