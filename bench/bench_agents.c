/*
 * bench_agents.c - the agent runtime's dispatch overhead (job leased ->
 * handler called -> result stored) beside bare queue cycles in the same
 * process on SQLite (synchronous=FULL): N no-op jobs done by
 *
 *   bare     W threads looping queue_lease(max 1) -> queue_complete
 *   agent    one agent with W worker threads (agents/runtime.h) on the
 *            in-process host, its handler returning {"ok":true}
 *
 * The runtime leases one job at a time, so the bare loop does too.
 *
 * usage: bench_agents [--jobs N] [--workers W] [--dir DIR]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agents/host_local.h"
#include "agents/runtime.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/xmem.h"

static int NJOBS = 20000, WORKERS = 2;
static const char *DIR_ = "/tmp";

typedef struct env {
    store *st;
    queue *q;
    registry *reg;
    char path[512];
    atomic_long done;
    atomic_bool stop;
} env;

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_agents: %s: %d\n", what, rc);
    exit(1);
}

static void env_open(env *e, const char *tag)
{
    memset(e, 0, sizeof *e);
    snprintf(e->path, sizeof e->path, "%s/bench-agents-%s-%d.db", DIR_, tag, (int)getpid());
    int rc;
    if ((rc = store_open(&e->st, e->path, &(store_options){ 0 }))) die("store", rc);
    queue_config qc = queue_config_default();
    if ((rc = queue_open(&e->q, e->st, NULL, &qc))) die("queue", rc);
    if ((rc = registry_open(&e->reg, e->st, NULL, NULL))) die("registry", rc);
    for (int i = 0; i < NJOBS; i += 1000) {
        int n = NJOBS - i < 1000 ? NJOBS - i : 1000;
        fs_job *jobs = xcalloc((size_t)n, sizeof *jobs);
        for (int k = 0; k < n; k++)
            jobs[k] = (fs_job){ .type = xstrdup("noop"), .target_agent = xstrdup("bench") };
        if ((rc = queue_enqueue(e->q, jobs, (size_t)n, NULL))) die("enqueue", rc);
        fs_jobs_free(jobs, (size_t)n);
    }
}

static void env_close(env *e)
{
    registry_close(e->reg);
    queue_close(e->q);
    store_close(e->st);
    const char *suffix[] = { "", "-wal", "-shm" };
    for (int i = 0; i < 3; i++) {
        char *f = xasprintf("%s%s", e->path, suffix[i]);
        unlink(f);
        free(f);
    }
}

static void *bare_worker(void *arg)
{
    env *e = arg;
    queue_lease_req r = { .agent_id = "ag_bare", .agent_type = "bench", .max = 1,
                          .wait_ms = 100 };
    while (!atomic_load(&e->stop)) {
        fs_job *jobs;
        size_t n;
        if (queue_lease(e->q, &r, &jobs, &n)) break;
        for (size_t i = 0; i < n; i++) {
            store_completion c = { jobs[i].id, jobs[i].lease_token, "{\"ok\":true}" };
            if (queue_complete(e->q, &c, 1) || c.rc) die("complete", c.rc);
            atomic_fetch_add(&e->done, 1);
        }
        fs_jobs_free(jobs, n);
    }
    return NULL;
}

static double bare(void)
{
    env e;
    env_open(&e, "bare");
    pthread_t t[64];
    int64_t t0 = fs_mono_ns();
    for (int i = 0; i < WORKERS; i++) pthread_create(&t[i], NULL, bare_worker, &e);
    while (atomic_load(&e.done) < NJOBS) usleep(500);
    double s = (double)(fs_mono_ns() - t0) / 1e9;
    atomic_store(&e.stop, true);
    for (int i = 0; i < WORKERS; i++) pthread_join(t[i], NULL);
    env_close(&e);
    return s;
}

static int noop(agent_ctx *c, const json_t *payload, json_t **result)
{
    (void)c;
    (void)payload;
    *result = json_pack("{s:b}", "ok", 1);
    return 0;
}

static const char *const TYPES[] = { "noop", NULL };
static const agent_def NOOP = { "bench", TYPES, NULL, noop, NULL };

static double agent(void)
{
    env e;
    env_open(&e, "agent");
    agent_host *h = host_local_open(e.q, e.reg, NULL, NULL, NULL);
    agent_runtime *rt;
    int64_t t0 = fs_mono_ns();
    int rc = agent_start(&rt, h, &NOOP, &(agent_config){ .concurrency = WORKERS });
    if (rc) die("agent_start", rc);
    agent_counters c;
    do {
        usleep(500);
        agent_counters_get(rt, &c);
    } while (c.completed < (uint64_t)NJOBS);
    double s = (double)(fs_mono_ns() - t0) / 1e9;
    agent_stop(rt);
    agent_host_close(h);
    env_close(&e);
    return s;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--jobs") && i + 1 < argc) NJOBS = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--workers") && i + 1 < argc) WORKERS = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc) DIR_ = argv[++i];
        else {
            fprintf(stderr, "usage: bench_agents [--jobs N] [--workers W] [--dir DIR]\n");
            return 2;
        }
    }
    if (NJOBS < 1 || WORKERS < 1 || WORKERS > 64) return 2;
    log_setup(LOG_WARN, false);
    double b = bare(), a = agent();
    printf("agent dispatch vs bare queue cycles (SQLite, synchronous=FULL, %d jobs, "
           "%d worker threads, one job per lease)\n\n", NJOBS, WORKERS);
    printf("%-36s %10s %12s %12s\n", "case", "seconds", "jobs/s", "us/job");
    printf("%-36s %10.3f %12.0f %12.1f\n", "bare: lease -> complete", b, NJOBS / b,
           b / NJOBS * 1e6);
    printf("%-36s %10.3f %12.0f %12.1f\n", "agent: lease -> handler -> complete", a,
           NJOBS / a, a / NJOBS * 1e6);
    printf("\nagent / bare: %.2fx (dispatch overhead %.1f us/job)\n", a / b,
           (a - b) / NJOBS * 1e6);
    return 0;
}
