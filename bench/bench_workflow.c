/*
 * bench_workflow.c - the workflow engine's cost over the bare queue, in one
 * process on SQLite (synchronous=FULL, as served), with worker threads
 * that lease batches of up to 100 jobs and complete them at once (no-op
 * work).  Each engine run is set beside the same work done with plain
 * jobs in the same run:
 *
 *   chain      1,000 steps, each depending on the one before, against
 *              1,000 plain jobs where the worker enqueues the next job as
 *              it completes one;
 *   fan-out    one workflow of 10,000 independent steps, against 10,000
 *              plain jobs enqueued in batches of 1,000;
 *   runs       1,000 runs of a 10-step workflow (a diamond-shaped DAG)
 *              started at once: runs/s, and p50/p99 of each run's time
 *              from start to completion.
 *
 * usage: bench_workflow [--dir DIR] [--workers N] [--chain N] [--fan N]
 *                       [--runs N]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/xmem.h"
#include "queue/queue.h"
#include "store/store.h"
#include "workflow/workflow.h"

static const char *DIR_ = "/tmp";
static int WORKERS = 2, CHAIN = 1000, FAN = 10000, RUNS = 1000;

typedef struct bench {
    store *st;
    queue *q;
    workflow *wf;
    char path[512];
    atomic_bool stop;
    atomic_long done;       /* jobs completed by the workers */
    bool chain_plain;       /* workers enqueue the next plain job */
    atomic_long chain_left; /* plain chain: jobs still to enqueue */
} bench;

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_workflow: %s: %d\n", what, rc);
    exit(1);
}

static void open_bench(bench *b, const char *tag)
{
    memset(b, 0, sizeof *b);
    snprintf(b->path, sizeof b->path, "%s/bench-wf-%s-%d.db", DIR_, tag, (int)getpid());
    int rc;
    if ((rc = store_open(&b->st, b->path, &(store_options){ 0 }))) die("store", rc);
    queue_config qc = queue_config_default();
    if ((rc = queue_open(&b->q, b->st, NULL, &qc))) die("queue", rc);
    workflow_config wc = { .thread = true };
    if ((rc = workflow_open(&b->wf, b->st, b->q, NULL, &wc))) die("workflow", rc);
}

static void close_bench(bench *b)
{
    workflow_close(b->wf);
    queue_close(b->q);
    store_close(b->st);
    const char *suffix[] = { "", "-wal", "-shm" };
    for (int i = 0; i < 3; i++) {
        char *f = xasprintf("%s%s", b->path, suffix[i]);
        unlink(f);
        free(f);
    }
}

static void enqueue_plain(bench *b, int n)
{
    fs_job *jobs = xcalloc((size_t)n, sizeof *jobs);
    for (int i = 0; i < n; i++)
        jobs[i] = (fs_job){ .type = xstrdup("noop"), .target_agent = xstrdup("w") };
    int rc = queue_enqueue(b->q, jobs, (size_t)n, NULL);
    if (rc) die("enqueue", rc);
    fs_jobs_free(jobs, (size_t)n);
}

static void *worker(void *arg)
{
    bench *b = arg;
    queue_lease_req r = { .agent_id = "ag_bench", .agent_type = "w", .max = 100,
                          .wait_ms = 50 };
    store_completion c[100];
    while (!atomic_load(&b->stop)) {
        fs_job *jobs;
        size_t n;
        if (queue_lease(b->q, &r, &jobs, &n)) break;
        for (size_t i = 0; i < n; i++)
            c[i] = (store_completion){ jobs[i].id, jobs[i].lease_token, "{\"ok\":true}" };
        if (n && queue_complete(b->q, c, n)) die("complete", -1);
        atomic_fetch_add(&b->done, (long)n);
        if (n && b->chain_plain && atomic_fetch_sub(&b->chain_left, 1) > 1)
            enqueue_plain(b, 1);
        fs_jobs_free(jobs, n);
    }
    return NULL;
}

static void start_workers(bench *b, pthread_t *t)
{
    atomic_store(&b->stop, false);
    for (int i = 0; i < WORKERS; i++) pthread_create(&t[i], NULL, worker, b);
}

static void stop_workers(bench *b, pthread_t *t)
{
    atomic_store(&b->stop, true);
    for (int i = 0; i < WORKERS; i++) pthread_join(t[i], NULL);
}

static void wait_done(bench *b, long n)
{
    while (atomic_load(&b->done) < n) usleep(200);
}

/* --- workflows ------------------------------------------------------------- */

static void reg(bench *b, json_t *def)
{
    json_t *problems = NULL;
    int rc = workflow_register(b->wf, def, NULL, NULL, &problems);
    if (rc) {
        char *p = json_dumps(problems, 0);
        fprintf(stderr, "bench_workflow: register: %s\n", p);
        exit(1);
    }
    json_decref(problems);
    json_decref(def);
}

static json_t *step(const char *id, const char *dep1, const char *dep2)
{
    json_t *s = json_pack("{s:s,s:s,s:s}", "id", id, "agent", "w", "job_type", "noop");
    json_t *deps = json_array();
    if (dep1) json_array_append_new(deps, json_string(dep1));
    if (dep2) json_array_append_new(deps, json_string(dep2));
    json_object_set_new(s, "depends_on", deps);
    return s;
}

static json_t *linear(const char *name, int n, bool chained)
{
    json_t *steps = json_array();
    for (int i = 0; i < n; i++) {
        char id[16], prev[16];
        snprintf(id, sizeof id, "s%d", i);
        snprintf(prev, sizeof prev, "s%d", i - 1);
        json_array_append_new(steps, step(id, chained && i ? prev : NULL, NULL));
    }
    return json_pack("{s:s,s:o}", "name", name, "steps", steps);
}

/* 10 steps: a -> b1..b4 (parallel) -> c1, c2 -> d -> e -> f. */
static json_t *ten_steps(void)
{
    json_t *steps = json_array();
    json_array_append_new(steps, step("a", NULL, NULL));
    for (int i = 1; i <= 4; i++) {
        char id[8];
        snprintf(id, sizeof id, "b%d", i);
        json_array_append_new(steps, step(id, "a", NULL));
    }
    json_array_append_new(steps, step("c1", "b1", "b2"));
    json_array_append_new(steps, step("c2", "b3", "b4"));
    json_array_append_new(steps, step("d", "c1", "c2"));
    json_array_append_new(steps, step("e", "d", NULL));
    json_array_append_new(steps, step("f", "e", NULL));
    return json_pack("{s:s,s:o}", "name", "ten", "steps", steps);
}

static int64_t start_run(bench *b, const char *name)
{
    fs_run r;
    char err[256];
    int rc = workflow_start(b->wf, name, 0, NULL, &r, err, sizeof err);
    if (rc) die(err, rc);
    int64_t id = r.id;
    fs_run_clear(&r);
    return id;
}

static run_state run_wait(bench *b, int64_t id, int64_t *finished_at)
{
    for (;;) {
        fs_run r;
        if (workflow_run_get(b->wf, id, &r, NULL, NULL)) die("run get", -1);
        run_state s = r.state;
        *finished_at = r.finished_at;
        fs_run_clear(&r);
        if (s != RUN_RUNNING) return s;
        usleep(1000);
    }
}

/* --- the measurements ----------------------------------------------------------- */

static double secs_since(int64_t t0) { return (double)(fs_mono_ns() - t0) / 1e9; }

static double plain_chain(void)
{
    bench b;
    pthread_t t[16];
    open_bench(&b, "pchain");
    b.chain_plain = true;
    atomic_store(&b.chain_left, CHAIN);
    start_workers(&b, t);
    int64_t t0 = fs_mono_ns();
    enqueue_plain(&b, 1);
    wait_done(&b, CHAIN);
    double s = secs_since(t0);
    stop_workers(&b, t);
    close_bench(&b);
    return s;
}

static double plain_fan(void)
{
    bench b;
    pthread_t t[16];
    open_bench(&b, "pfan");
    start_workers(&b, t);
    int64_t t0 = fs_mono_ns();
    for (int i = 0; i < FAN; i += 1000) enqueue_plain(&b, FAN - i < 1000 ? FAN - i : 1000);
    wait_done(&b, FAN);
    double s = secs_since(t0);
    stop_workers(&b, t);
    close_bench(&b);
    return s;
}

static double wf_one(const char *tag, json_t *def, const char *name)
{
    bench b;
    pthread_t t[16];
    int64_t fin;
    open_bench(&b, tag);
    reg(&b, def);
    start_workers(&b, t);
    int64_t t0 = fs_mono_ns();
    int64_t id = start_run(&b, name);
    if (run_wait(&b, id, &fin) != RUN_COMPLETED) die("run did not complete", -1);
    double s = secs_since(t0);
    stop_workers(&b, t);
    close_bench(&b);
    return s;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void many_runs(double *secs, double *p50, double *p99)
{
    bench b;
    pthread_t t[16];
    open_bench(&b, "runs");
    reg(&b, ten_steps());
    start_workers(&b, t);
    int64_t *ids = xmalloc((size_t)RUNS * sizeof *ids);
    int64_t *started = xmalloc((size_t)RUNS * sizeof *started);
    int64_t *lat = xmalloc((size_t)RUNS * sizeof *lat);
    int64_t t0 = fs_mono_ns();
    for (int i = 0; i < RUNS; i++) {
        started[i] = fs_now(&fs_clock_real);
        ids[i] = start_run(&b, "ten");
    }
    for (int i = 0; i < RUNS; i++) {
        int64_t fin;
        if (run_wait(&b, ids[i], &fin) != RUN_COMPLETED) die("run did not complete", -1);
        lat[i] = fin - started[i];
    }
    *secs = secs_since(t0);
    qsort(lat, (size_t)RUNS, sizeof *lat, cmp_i64);
    *p50 = (double)lat[RUNS / 2];
    *p99 = (double)lat[(RUNS * 99) / 100];
    stop_workers(&b, t);
    close_bench(&b);
    free(ids);
    free(started);
    free(lat);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc) DIR_ = argv[++i];
        else if (!strcmp(argv[i], "--workers") && i + 1 < argc) WORKERS = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--chain") && i + 1 < argc) CHAIN = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--fan") && i + 1 < argc) FAN = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) RUNS = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_workflow [--dir DIR] [--workers N] "
                            "[--chain N] [--fan N] [--runs N]\n");
            return 2;
        }
    }
    if (WORKERS < 1 || WORKERS > 16 || CHAIN < 1 || FAN < 1 || RUNS < 1) return 2;
    log_setup(LOG_WARN, false);
    double pc = plain_chain();
    double wc = wf_one("chain", linear("chain", CHAIN, true), "chain");
    double pf = plain_fan();
    double wfan = wf_one("fan", linear("fan", FAN, false), "fan");
    double rs, p50, p99;
    many_runs(&rs, &p50, &p99);
    printf("workflow engine vs bare queue (SQLite, synchronous=FULL, %d worker "
           "threads, batches of <= 100)\n\n", WORKERS);
    printf("%-34s %12s %12s %12s %8s\n", "case", "plain s", "workflow s",
           "per step us", "ratio");
    printf("%-34s %12.3f %12.3f %12.1f %7.2fx\n", "chain of steps (one at a time)",
           pc, wc, wc / CHAIN * 1e6, wc / pc);
    printf("%-34s %12.3f %12.3f %12.1f %7.2fx\n", "fan-out (all at once)", pf, wfan,
           wfan / FAN * 1e6, wfan / pf);
    printf("  (chain %d, fan-out %d)\n\n", CHAIN, FAN);
    printf("%d concurrent runs of a 10-step workflow: %.0f runs/s (%.0f steps/s), "
           "run latency p50 %.0f ms, p99 %.0f ms\n",
           RUNS, RUNS / rs, RUNS * 10 / rs, p50, p99);
    return 0;
}
