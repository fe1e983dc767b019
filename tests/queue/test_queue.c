/*
 * test_queue.c - queue service semantics (queue.h) with a manual clock:
 * defaults and validation, backoff timing, scheduled jobs, lease expiry and
 * rescue by the tick, dead letters and their retry, idle-worker wake-up,
 * and the no-loss / no-double-run guarantee under 8 concurrent workers.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/fs.h"
#include "queue/queue.h"
#include "support/testdb.h"

static tdb T;
static int64_t NOW = 1000000;
static fs_clock CLK = { fs_clock_manual_now, &NOW };
static queue *Q;

static void setup(void)
{
    tdb_open(&T);
    NOW = 1000000;
    queue_config cfg = queue_config_default();
    cfg.ticker = false;
    cfg.backoff = (fs_backoff){ 1000, 60000, 0 };
    cr_assert_eq(queue_open(&Q, T.st, &CLK, &cfg), 0);
}

static void teardown(void)
{
    queue_close(Q);
    tdb_close(&T);
}

TestSuite(queue, .init = setup, .fini = teardown, .timeout = 120);

static int64_t enqueue(const char *type, const char *target, int priority)
{
    fs_job j = { .type = strdup(type), .target_agent = strdup(target),
                 .priority = priority };
    cr_assert_eq(queue_enqueue(Q, &j, 1, NULL), 0);
    int64_t id = j.id;
    fs_job_clear(&j);
    return id;
}

static fs_job lease1(const char *target, int64_t lease_ms)
{
    queue_lease_req r = { .agent_id = "ag_t", .agent_type = target, .max = 1,
                          .lease_ms = lease_ms };
    fs_job *v;
    size_t n;
    cr_assert_eq(queue_lease(Q, &r, &v, &n), 0);
    cr_assert_eq(n, 1, "expected a job for %s", target);
    fs_job j = v[0];
    free(v);
    return j;
}

static size_t lease_count(const char *target)
{
    queue_lease_req r = { .agent_id = "ag_t", .agent_type = target, .max = 100 };
    fs_job *v;
    size_t n;
    cr_assert_eq(queue_lease(Q, &r, &v, &n), 0);
    fs_jobs_free(v, n);
    return n;
}

Test(queue, applies_defaults)
{
    fs_job j = { .type = strdup("t"), .target_agent = strdup("w") };
    cr_assert_eq(queue_enqueue(Q, &j, 1, NULL), 0);
    cr_assert_eq(j.max_attempts, 25);
    cr_assert_eq(j.timeout_ms, 30000);
    cr_assert_str_eq(j.payload, "{}");
    cr_assert_eq(j.run_at, NOW);
    cr_assert_eq(j.state, JOB_PENDING);
    fs_job_clear(&j);
}

Test(queue, rejects_invalid_jobs_and_stores_nothing)
{
    fs_job v[2] = { { .type = strdup("ok"), .target_agent = strdup("w") },
                    { .type = strdup(""), .target_agent = strdup("w") } };
    cr_assert_eq(queue_enqueue(Q, v, 2, NULL), FS_EINVAL);
    fs_job_clear(&v[1]);
    v[1] = (fs_job){ .type = strdup("t"), .target_agent = strdup("w"),
                     .max_attempts = -1 };
    cr_assert_eq(queue_enqueue(Q, v, 2, NULL), FS_EINVAL);
    cr_assert_eq(lease_count("w"), 0);
    fs_job_clear(&v[0]);
    fs_job_clear(&v[1]);
}

Test(queue, priority_then_oldest)
{
    int64_t a = enqueue("t", "w", 0);
    NOW += 10;
    int64_t b = enqueue("t", "w", 10);
    NOW += 10;
    int64_t c = enqueue("t", "w", 0);
    int64_t order[3] = { b, a, c };
    for (int i = 0; i < 3; i++) {
        fs_job j = lease1("w", 0);
        cr_assert_eq(j.id, order[i], "lease %d", i);
        fs_job_clear(&j);
    }
}

Test(queue, scheduled_job_runs_at_run_at)
{
    fs_job j = { .type = strdup("t"), .target_agent = strdup("w"),
                 .run_at = NOW + 5000 };
    cr_assert_eq(queue_enqueue(Q, &j, 1, NULL), 0);
    cr_assert_eq(j.state, JOB_SCHEDULED);
    NOW += 4999;
    cr_assert_eq(queue_tick(Q), 0);
    cr_assert_eq(lease_count("w"), 0);
    NOW += 1;
    cr_assert_eq(queue_tick(Q), 0);
    fs_job got;
    cr_assert_eq(queue_get(Q, j.id, &got), 0);
    cr_assert_eq(got.state, JOB_PENDING, "the tick promoted it");
    fs_job_clear(&got);
    cr_assert_eq(lease_count("w"), 1);
    fs_job_clear(&j);
}

Test(queue, backoff_doubles_per_attempt_and_dead_letters_at_max)
{
    fs_job j = { .type = strdup("t"), .target_agent = strdup("w"),
                 .max_attempts = 4 };
    cr_assert_eq(queue_enqueue(Q, &j, 1, NULL), 0);
    int64_t id = j.id;
    fs_job_clear(&j);
    int64_t expect[] = { 1000, 2000, 4000 };
    for (int i = 0; i < 4; i++) {
        fs_job l = lease1("w", 0), out;
        cr_assert_eq(l.attempts, i + 1);
        cr_assert_eq(queue_fail(Q, id, l.lease_token, "err", true, &out), 0);
        if (i < 3) {
            cr_assert_eq(out.state, JOB_SCHEDULED);
            cr_assert_eq(out.run_at - NOW, expect[i], "delay after attempt %d", i + 1);
            NOW += expect[i] - 1;
            cr_assert_eq(lease_count("w"), 0, "not before its backoff");
            NOW += 1;
        } else {
            cr_assert_eq(out.state, JOB_FAILED, "dead after max_attempts");
        }
        fs_job_clear(&l);
        fs_job_clear(&out);
    }
    queue_counters c;
    queue_counters_get(Q, &c);
    cr_assert_eq(c.retried, 3);
    cr_assert_eq(c.dead, 1);
}

Test(queue, backoff_jitter_stays_in_range)
{
    fs_backoff b = { 1000, 60000, 0.5 };
    for (int attempt = 1; attempt < 12; attempt++) {
        int64_t base = 1000LL << (attempt - 1);
        if (base > 60000) base = 60000;
        cr_assert_eq(fs_backoff_delay(&b, attempt, 0.0), base);
        int64_t hi = fs_backoff_delay(&b, attempt, 0.999);
        cr_assert(hi >= base && hi < base + base / 2 + 1);
    }
}

Test(queue, dead_job_can_be_retried)
{
    fs_job j = { .type = strdup("t"), .target_agent = strdup("w"),
                 .max_attempts = 1 };
    cr_assert_eq(queue_enqueue(Q, &j, 1, NULL), 0);
    fs_job l = lease1("w", 0), out;
    cr_assert_eq(queue_fail(Q, j.id, l.lease_token, "err", true, &out), 0);
    cr_assert_eq(out.state, JOB_FAILED);
    fs_job_clear(&out);
    cr_assert_eq(queue_retry(Q, j.id, &out), 0);
    cr_assert_eq(out.state, JOB_PENDING);
    cr_assert_eq(out.attempts, 0);
    cr_assert_str_eq(out.last_error, "err", "the last error stays visible");
    fs_job_clear(&out);
    fs_job again = lease1("w", 0);
    cr_assert_eq(again.id, j.id);
    fs_job_clear(&again);
    fs_job_clear(&l);
    fs_job_clear(&j);
}

Test(queue, expired_lease_is_rescued_by_the_tick)
{
    int64_t id = enqueue("t", "w", 0);
    fs_job l = lease1("w", 2000);
    NOW += 1500;
    int64_t exp;
    cr_assert_eq(queue_heartbeat(Q, id, l.lease_token, 2000, &exp), 0);
    cr_assert_eq(exp, NOW + 2000);
    NOW += 2001;
    cr_assert_eq(queue_tick(Q), 0);
    queue_counters c;
    queue_counters_get(Q, &c);
    cr_assert_eq(c.rescued, 1);
    fs_job l2 = lease1("w", 0);
    cr_assert_eq(l2.id, id);
    cr_assert_eq(l2.attempts, 2);
    store_completion old = { id, l.lease_token, NULL };
    cr_assert_eq(queue_complete(Q, &old, 1), 0);
    cr_assert_eq(old.rc, FS_ELEASE, "the expired holder cannot complete");
    store_completion now = { id, l2.lease_token, "{}" };
    cr_assert_eq(queue_complete(Q, &now, 1), 0);
    cr_assert_eq(now.rc, 0);
    fs_job_clear(&l);
    fs_job_clear(&l2);
}

Test(queue, unique_key_is_idempotent)
{
    fs_job a = { .type = strdup("t"), .target_agent = strdup("w"),
                 .unique_key = strdup("order-42") };
    fs_job b = { .type = strdup("t"), .target_agent = strdup("w"),
                 .unique_key = strdup("order-42") };
    bool ex[1];
    cr_assert_eq(queue_enqueue(Q, &a, 1, ex), 0);
    cr_assert_not(ex[0]);
    cr_assert_eq(queue_enqueue(Q, &b, 1, ex), 0);
    cr_assert(ex[0]);
    cr_assert_eq(a.id, b.id);
    queue_counters c;
    queue_counters_get(Q, &c);
    cr_assert_eq(c.enqueued, 1);
    fs_job_clear(&a);
    fs_job_clear(&b);
}

Test(queue, cancel_pending_job)
{
    int64_t id = enqueue("t", "w", 0);
    fs_job out;
    cr_assert_eq(queue_cancel(Q, id, &out), 0);
    cr_assert_eq(out.state, JOB_CANCELLED);
    fs_job_clear(&out);
    cr_assert_eq(lease_count("w"), 0);
    cr_assert_eq(queue_cancel(Q, id, NULL), FS_ESTATE);
}

Test(queue, lease_validates_its_request)
{
    queue_lease_req r = { .agent_type = "w", .max = 0 };
    fs_job *v;
    size_t n;
    cr_assert_eq(queue_lease(Q, &r, &v, &n), FS_EINVAL);
    r.max = 1;
    r.wait_ms = QUEUE_MAX_WAIT_MS + 1;
    cr_assert_eq(queue_lease(Q, &r, &v, &n), FS_EINVAL);
}

/* --- wake-up: an idle worker gets new work at once ------------------- */

typedef struct waiter {
    int64_t got_id;
    int64_t waited_ms;
} waiter;

static void *wait_for_job(void *arg)
{
    waiter *w = arg;
    queue_lease_req r = { .agent_id = "ag_w", .agent_type = "w", .max = 1,
                          .wait_ms = 10000 };
    fs_job *v;
    size_t n;
    int64_t t0 = fs_mono_ms();
    if (queue_lease(Q, &r, &v, &n) == 0 && n == 1) w->got_id = v[0].id;
    w->waited_ms = fs_mono_ms() - t0;
    fs_jobs_free(v, n);
    return NULL;
}

Test(queue, idle_worker_wakes_when_work_arrives)
{
    waiter w = { 0 };
    pthread_t th;
    pthread_create(&th, NULL, wait_for_job, &w);
    usleep(200 * 1000);
    int64_t id = enqueue("t", "w", 0);
    pthread_join(th, NULL);
    cr_assert_eq(w.got_id, id);
    cr_assert(w.waited_ms < 5000, "woken by the enqueue, not the timeout");
}

Test(queue, shutdown_releases_waiters)
{
    waiter w = { 0 };
    pthread_t th;
    pthread_create(&th, NULL, wait_for_job, &w);
    usleep(100 * 1000);
    queue_shutdown(Q);
    pthread_join(th, NULL);
    cr_assert_eq(w.got_id, 0);
    cr_assert(w.waited_ms < 5000);
}

Test(queue, long_poll_returns_empty_when_wait_ends)
{
    queue_lease_req r = { .agent_type = "w", .max = 1, .wait_ms = 150 };
    fs_job *v;
    size_t n;
    int64_t t0 = fs_mono_ms();
    cr_assert_eq(queue_lease(Q, &r, &v, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert(fs_mono_ms() - t0 >= 140);
}

/* --- concurrency: 8 workers, 100,000 jobs, each completed once ------- */

enum { NJOBS = 100000, NWORKERS = 8 };
static _Atomic int runs[NJOBS + 1];
static _Atomic int completed_ok;

static void *worker(void *arg)
{
    char id[16];
    snprintf(id, sizeof id, "ag_%d", (int)(intptr_t)arg);
    queue_lease_req r = { .agent_id = id, .agent_type = "w", .max = 64,
                          .wait_ms = 200 };
    for (;;) {
        fs_job *v;
        size_t n;
        cr_assert_eq(queue_lease(Q, &r, &v, &n), 0);
        if (n == 0) {
            if (atomic_load(&completed_ok) >= NJOBS) break;
            continue;
        }
        store_completion *c = calloc(n, sizeof *c);
        for (size_t i = 0; i < n; i++) {
            cr_assert(v[i].id >= 1 && v[i].id <= NJOBS);
            atomic_fetch_add(&runs[v[i].id], 1);
            c[i] = (store_completion){ v[i].id, v[i].lease_token, "{\"ok\":1}" };
        }
        cr_assert_eq(queue_complete(Q, c, n), 0);
        for (size_t i = 0; i < n; i++)
            if (c[i].rc == 0) atomic_fetch_add(&completed_ok, 1);
        free(c);
        fs_jobs_free(v, n);
    }
    return NULL;
}

Test(queue, eight_workers_drain_100k_jobs_exactly_once, .timeout = 600)
{
    /* Real clock: leases (30 s) comfortably outlive each batch. */
    queue_close(Q);
    queue_config cfg = queue_config_default();
    cr_assert_eq(queue_open(&Q, T.st, NULL, &cfg), 0);
    pthread_t th[NWORKERS];
    for (int i = 0; i < NWORKERS; i++)
        pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
    fs_job *batch = calloc(1000, sizeof *batch);
    for (int b = 0; b < NJOBS / 1000; b++) {
        for (int i = 0; i < 1000; i++)
            batch[i] = (fs_job){ .type = strdup("t"), .target_agent = strdup("w") };
        cr_assert_eq(queue_enqueue(Q, batch, 1000, NULL), 0);
        cr_assert_eq(batch[0].id, b * 1000 + 1, "a fresh database numbers jobs from 1");
        for (int i = 0; i < 1000; i++) fs_job_clear(&batch[i]);
    }
    free(batch);
    for (int i = 0; i < NWORKERS; i++) pthread_join(th[i], NULL);
    cr_assert_eq(atomic_load(&completed_ok), NJOBS);
    for (int i = 1; i <= NJOBS; i++)
        cr_assert_eq(atomic_load(&runs[i]), 1, "job %d ran %d times", i,
                     atomic_load(&runs[i]));
    store_stat *rows;
    size_t n;
    cr_assert_eq(queue_stats(Q, &rows, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(rows[0].state, JOB_COMPLETED);
    cr_assert_eq(rows[0].count, NJOBS);
    store_stats_free(rows, n);
    queue_counters c;
    queue_counters_get(Q, &c);
    cr_assert_eq(c.enqueued, NJOBS);
    cr_assert_eq(c.leased, NJOBS);
    cr_assert_eq(c.completed, NJOBS);
}
