/*
 * bench_queue.c - queue throughput and latency through the C API on SQLite.
 *
 * For each sync mode (FULL with group commit, then NORMAL) it measures, in
 * one process on one machine:
 *   anchor     raw SQLite inserts of the same rows into the same table,
 *              1000 per transaction (the store's ceiling on this disk);
 *   enqueue    queue_enqueue in batches of 1000;
 *   cycle/T    full cycle (enqueue -> lease -> complete) with T worker
 *              threads leasing and completing batches of 64 while a producer
 *              enqueues batches of 100;
 *   latency    enqueue of one job -> an idle, waiting worker holds it
 *              (p50/p99 over single enqueues).
 * and prints one table.  Ratios against the anchor matter more than the
 * absolute numbers on a noisy machine.
 *
 * usage: bench_queue [--jobs N] [--dir DIR] [--quick]
 * --quick skips the latency runs (used as a race check under TSan).
 */
#include <pthread.h>
#include <sqlite3.h>
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

static int NJOBS = 100000;
static const char *DIR_ = "/tmp";
static bool QUICK;

typedef struct ctx {
    store *st;
    queue *q;
    char path[512];
} ctx;

static void open_ctx(ctx *c, bool sync_normal, const char *tag)
{
    snprintf(c->path, sizeof c->path, "%s/bench-%s-%d.db", DIR_, tag,
             (int)getpid());
    store_options o = { .sync_normal = sync_normal };
    if (store_open(&c->st, c->path, &o) != 0) {
        fprintf(stderr, "cannot open %s\n", c->path);
        exit(1);
    }
    queue_config cfg = queue_config_default();
    queue_open(&c->q, c->st, NULL, &cfg);
}

static void close_ctx(ctx *c)
{
    queue_close(c->q);
    store_close(c->st);
    char p[600];
    const char *sfx[] = { "", "-wal", "-shm" };
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", c->path, sfx[i]);
        unlink(p);
    }
}

static double secs_since(int64_t t0) { return (double)(fs_mono_ns() - t0) / 1e9; }

/* --- anchor: raw SQLite inserts into the jobs table ------------------- */

static double bench_anchor(bool sync_normal)
{
    ctx c;
    open_ctx(&c, sync_normal, "anchor");
    sqlite3 *db;
    sqlite3_open(c.path, &db);
    sqlite3_exec(db, sync_normal ? "PRAGMA synchronous=NORMAL"
                                 : "PRAGMA synchronous=FULL", 0, 0, 0);
    sqlite3_stmt *s;
    sqlite3_prepare_v2(db,
        "INSERT INTO jobs(type,target_agent,payload,priority,run_at,"
        "max_attempts,timeout_ms,state,created_at,updated_at) "
        "VALUES('bench','w','{\"n\":1}',0,?1,25,30000,'pending',?1,?1)",
        -1, &s, NULL);
    int64_t t0 = fs_mono_ns(), now = fs_now(&fs_clock_real);
    for (int i = 0; i < NJOBS; i += 1000) {
        sqlite3_exec(db, "BEGIN", 0, 0, 0);
        for (int k = 0; k < 1000; k++) {
            sqlite3_bind_int64(s, 1, now);
            sqlite3_step(s);
            sqlite3_reset(s);
        }
        sqlite3_exec(db, "COMMIT", 0, 0, 0);
    }
    double r = NJOBS / secs_since(t0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    close_ctx(&c);
    return r;
}

/* --- batch enqueue ---------------------------------------------------- */

static void enqueue_batch(queue *q, int n)
{
    fs_job *v = xcalloc((size_t)n, sizeof *v);
    for (int i = 0; i < n; i++)
        v[i] = (fs_job){ .type = xstrdup("bench"), .target_agent = xstrdup("w"),
                         .payload = xstrdup("{\"n\":1}") };
    if (queue_enqueue(q, v, (size_t)n, NULL) != 0) {
        fprintf(stderr, "enqueue failed\n");
        exit(1);
    }
    fs_jobs_free(v, (size_t)n);
}

static double bench_enqueue(bool sync_normal)
{
    ctx c;
    open_ctx(&c, sync_normal, "enq");
    int64_t t0 = fs_mono_ns();
    for (int i = 0; i < NJOBS; i += 1000) enqueue_batch(c.q, 1000);
    double r = NJOBS / secs_since(t0);
    close_ctx(&c);
    return r;
}

/* --- full cycle ------------------------------------------------------- */

typedef struct cycle {
    queue *q;
    _Atomic int done;
} cycle;

static void *cycle_worker(void *arg)
{
    cycle *cy = arg;
    queue_lease_req r = { .agent_id = "ag_bench", .agent_type = "w",
                          .max = 64, .wait_ms = 100 };
    while (atomic_load(&cy->done) < NJOBS) {
        fs_job *v;
        size_t n;
        if (queue_lease(cy->q, &r, &v, &n) != 0) break;
        if (n == 0) {
            free(v);
            continue;
        }
        store_completion *c = xcalloc(n, sizeof *c);
        for (size_t i = 0; i < n; i++)
            c[i] = (store_completion){ v[i].id, v[i].lease_token, "{\"ok\":1}" };
        queue_complete(cy->q, c, n);
        int ok = 0;
        for (size_t i = 0; i < n; i++) ok += c[i].rc == 0;
        atomic_fetch_add(&cy->done, ok);
        free(c);
        fs_jobs_free(v, n);
    }
    return NULL;
}

static double bench_cycle(bool sync_normal, int threads)
{
    ctx c;
    open_ctx(&c, sync_normal, "cycle");
    cycle cy = { c.q, 0 };
    pthread_t th[16];
    int64_t t0 = fs_mono_ns();
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, cycle_worker, &cy);
    for (int i = 0; i < NJOBS; i += 100) enqueue_batch(c.q, 100);
    for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
    double r = NJOBS / secs_since(t0);
    close_ctx(&c);
    return r;
}

/* --- latency: enqueue -> an idle worker holds the job ----------------- */

enum { LAT_SAMPLES = 1000 };

typedef struct lat {
    queue *q;
    _Atomic int64_t sent_ns;
    double ms[LAT_SAMPLES];
    _Atomic int n;
} lat;

static void *lat_worker(void *arg)
{
    lat *l = arg;
    queue_lease_req r = { .agent_id = "ag_lat", .agent_type = "w", .max = 1,
                          .wait_ms = 5000 };
    while (atomic_load(&l->n) < LAT_SAMPLES) {
        fs_job *v;
        size_t n;
        if (queue_lease(l->q, &r, &v, &n) != 0) break;
        if (n == 1) {
            int i = atomic_load(&l->n);
            l->ms[i] = (double)(fs_mono_ns() - atomic_load(&l->sent_ns)) / 1e6;
            atomic_store(&l->n, i + 1);
            store_completion c = { v[0].id, v[0].lease_token, NULL };
            queue_complete(l->q, &c, 1);
        }
        fs_jobs_free(v, n);
    }
    return NULL;
}

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void bench_latency(bool sync_normal, double *p50, double *p99)
{
    ctx c;
    open_ctx(&c, sync_normal, "lat");
    lat *l = xcalloc(1, sizeof *l);
    l->q = c.q;
    pthread_t th;
    pthread_create(&th, NULL, lat_worker, l);
    for (int i = 0; i < LAT_SAMPLES; i++) {
        usleep(2000); /* the worker is idle and waiting again */
        atomic_store(&l->sent_ns, fs_mono_ns());
        enqueue_batch(c.q, 1);
        while (atomic_load(&l->n) <= i) usleep(50);
    }
    pthread_join(th, NULL);
    int n = atomic_load(&l->n);
    qsort(l->ms, (size_t)n, sizeof *l->ms, dcmp);
    *p50 = l->ms[n / 2];
    *p99 = l->ms[(n * 99) / 100];
    free(l);
    close_ctx(&c);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--jobs") && i + 1 < argc) NJOBS = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc) DIR_ = argv[++i];
        else if (!strcmp(argv[i], "--quick")) QUICK = true;
        else {
            fprintf(stderr, "usage: bench_queue [--jobs N] [--dir DIR] [--quick]\n");
            return 2;
        }
    }
    if (NJOBS < 1000) NJOBS = 1000;
    NJOBS -= NJOBS % 1000;
    log_setup(LOG_WARN, false);
    printf("queue through the C API, SQLite WAL, %d jobs per run\n\n", NJOBS);
    printf("%-8s %-26s %14s %10s\n", "sync", "measure", "value", "vs anchor");
    for (int mode = 0; mode < 2; mode++) {
        bool normal = mode == 1;
        const char *m = normal ? "NORMAL" : "FULL";
        double anchor = bench_anchor(normal);
        printf("%-8s %-26s %10.0f /s %9.2fx\n", m, "anchor: raw inserts", anchor, 1.0);
        double e = bench_enqueue(normal);
        printf("%-8s %-26s %10.0f /s %9.2fx\n", m, "batch enqueue (1000)", e, e / anchor);
        int ts[] = { 1, 2, 4, 8 };
        for (int i = 0; i < 4; i++) {
            double r = bench_cycle(normal, ts[i]);
            char label[64];
            snprintf(label, sizeof label, "full cycle, %d worker%s", ts[i],
                     ts[i] > 1 ? "s" : "");
            printf("%-8s %-26s %10.0f /s %9.2fx\n", m, label, r, r / anchor);
        }
        if (QUICK) continue;
        double p50, p99;
        bench_latency(normal, &p50, &p99);
        printf("%-8s %-26s %10.3f ms\n", m, "enqueue->start p50", p50);
        printf("%-8s %-26s %10.3f ms\n", m, "enqueue->start p99", p99);
        fflush(stdout);
    }
    return 0;
}
