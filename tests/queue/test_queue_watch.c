/*
 * test_queue_watch.c - idle workers in one process woken by jobs another
 * process adds (queue_config.watch over store_jobs_wait), on every
 * backend through tdb_open plus a second store handle: a lease waiting
 * on the second handle's queue returns the job the first one enqueues
 * within a fraction of its wait, and store_jobs_wait itself reports a
 * wake-up only after an insert.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/fs.h"
#include "queue/queue.h"
#include "support/testdb.h"

static tdb T;
static store *OTHER;
static queue *PRODUCER, *CONSUMER;

static void setup(void)
{
    tdb_open(&T);
    cr_assert_eq(store_open(&OTHER, T.url, NULL), 0);
    queue_config cfg = queue_config_default();
    cfg.ticker = false;
    cr_assert_eq(queue_open(&PRODUCER, T.st, NULL, &cfg), 0);
    cfg.watch = true;
    cr_assert_eq(queue_open(&CONSUMER, OTHER, NULL, &cfg), 0);
}

static void teardown(void)
{
    queue_close(CONSUMER);
    queue_close(PRODUCER);
    store_close(OTHER);
    tdb_close(&T);
}

TestSuite(queue_watch, .init = setup, .fini = teardown, .timeout = 60);

typedef struct lease_out {
    size_t n;
    int64_t waited_ms;
} lease_out;

static void *lease_long(void *arg)
{
    lease_out *o = arg;
    queue_lease_req r = { .agent_type = "w", .max = 1, .wait_ms = 8000 };
    fs_job *jobs = NULL;
    int64_t t0 = fs_mono_ms();
    if (queue_lease(CONSUMER, &r, &jobs, &o->n) == 0) fs_jobs_free(jobs, o->n);
    o->waited_ms = fs_mono_ms() - t0;
    return NULL;
}

Test(queue_watch, a_waiting_lease_wakes_for_another_process_job)
{
    lease_out o = { 0 };
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, lease_long, &o), 0);
    struct timespec ts = { 0, 300 * 1000000L };
    nanosleep(&ts, NULL); /* the lease is waiting by now */
    fs_job j = { .type = strdup("x"), .target_agent = strdup("w") };
    cr_assert_eq(queue_enqueue(PRODUCER, &j, 1, NULL), 0);
    fs_job_clear(&j);
    pthread_join(t, NULL);
    cr_assert_eq(o.n, 1, "the job was leased");
    cr_assert_lt(o.waited_ms, 2000, "woken, not timed out: %lld ms",
                 (long long)o.waited_ms);
}

Test(queue_watch, jobs_wait_reports_inserts_only)
{
    int64_t mark = 0;
    bool woke = true;
    cr_assert_eq(store_jobs_wait(T.st, &mark, 100, &woke), 0);
    cr_assert_not(woke, "the first call only takes a position");
    cr_assert_neq(mark, 0);
    cr_assert_eq(store_jobs_wait(T.st, &mark, 200, &woke), 0);
    cr_assert_not(woke, "nothing added");
    fs_job j = { .type = strdup("x"), .target_agent = strdup("w") };
    cr_assert_eq(queue_enqueue(PRODUCER, &j, 1, NULL), 0);
    fs_job_clear(&j);
    cr_assert_eq(store_jobs_wait(T.st, &mark, 2000, &woke), 0);
    cr_assert(woke);
    cr_assert_eq(store_jobs_wait(T.st, &mark, 100, &woke), 0);
    cr_assert_not(woke, "each insert once");
    cr_assert_eq(store_jobs_wait(T.st, &mark, 0, &woke), FS_EINVAL);
}
