/*
 * bench_pgqueue.c - the queue's full cycle across processes on PostgreSQL,
 * beside the same cycle on SQLite and beside pgbench on the same cluster.
 *
 * One run: a fresh database (PostgreSQL: CREATE DATABASE on the server of
 * --url; SQLite: a new file in --dir); P worker processes, each with its
 * own store and queue (woken as in `serve`: LISTEN/NOTIFY on PostgreSQL,
 * the newest id polled every 50 ms on SQLite), lease batches of B jobs
 * (one statement) and complete them (one statement), while the parent
 * enqueues N jobs in batches of B; the run ends when the workers' shared
 * counter reaches N.
 * jobs/s = N / (time from the first enqueue to the last completion).
 * Every run is checked: the store must count N completed jobs after it.
 * A call that finds SQLite's write lock taken past the busy timeout
 * (FS_EBUSY, with several processes on one file) is made again.
 *
 * The anchor is pgbench's simple-update transactions (-N: one UPDATE, one
 * SELECT, one INSERT per transaction) with P clients for 5 s on the same
 * cluster in the same run: what this machine's PostgreSQL commits.  A job
 * costs about three statements (enqueue, lease, complete) shared by B
 * jobs, so jobs/s above pgbench's tps shows the batching at work.
 *
 * usage: bench_pgqueue --url postgres://USER@HOST:PORT/DB [--dir DIR]
 *                      [--jobs N] [--pgbench PATH]
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/xmem.h"
#include "queue/queue.h"
#include "store/store.h"

static int NJOBS = 100000;
static const char *URL, *DIR_ = "/tmp";
static const char *PGBENCH = "/usr/lib/postgresql/15/bin/pgbench";

/* The URL of database `db` on the server of URL (the path replaced). */
static char *db_url(const char *db)
{
    const char *slash = strchr(URL + strlen("postgres://"), '/');
    size_t host = slash ? (size_t)(slash - URL) : strlen(URL);
    return xasprintf("%.*s/%s", (int)host, URL, db);
}

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* Runs sql on the server's maintenance database; exits on failure. */
static void admin(const char *sql)
{
    PGconn *c = PQconnectdb(URL);
    PQsetNoticeProcessor(c, quiet, NULL);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "bench_pgqueue: %s: %s", sql, PQerrorMessage(c));
        exit(1);
    }
    PQclear(r);
    PQfinish(c);
}

static store *open_store(const char *where)
{
    store *st;
    if (store_open(&st, where, NULL)) {
        fprintf(stderr, "bench_pgqueue: cannot open %s\n", where);
        exit(1);
    }
    return st;
}

/* watch: wake waiting leases when another process enqueues (serve's
 * setting: LISTEN/NOTIFY on PostgreSQL, the newest id polled on SQLite). */
static queue *open_queue(store *st, bool watch)
{
    queue *q;
    queue_config cfg = queue_config_default();
    cfg.ticker = false;
    cfg.watch = watch;
    if (queue_open(&q, st, NULL, &cfg)) exit(1);
    return q;
}

/* What the processes of a run share (an anonymous shared mapping). */
typedef struct shared {
    _Atomic int done;       /* jobs completed */
    _Atomic int64_t end_ns; /* when the last one was */
} shared;

/* A worker process: lease B, complete B, until `done` reaches NJOBS. */
static void worker(const char *where, int batch, shared *sh)
{
    store *st = open_store(where);
    queue *q = open_queue(st, true);
    char id[32];
    snprintf(id, sizeof id, "ag_bench_%d", (int)getpid());
    queue_lease_req r = { .agent_id = id, .agent_type = "w", .max = batch,
                          .wait_ms = 1000 };
    store_completion *c = xcalloc((size_t)batch, sizeof *c);
    while (atomic_load(&sh->done) < NJOBS) {
        fs_job *v;
        size_t n;
        int rc = queue_lease(q, &r, &v, &n);
        if (rc == FS_EBUSY) continue; /* SQLite: the write lock stayed taken */
        if (rc) _exit(3);
        for (size_t i = 0; i < n; i++)
            c[i] = (store_completion){ v[i].id, v[i].lease_token, "{\"ok\":1}" };
        while (n && (rc = queue_complete(q, c, n)) == FS_EBUSY) {}
        if (rc) _exit(4);
        int ok = 0;
        for (size_t i = 0; i < n; i++) ok += c[i].rc == 0;
        if (ok && atomic_fetch_add(&sh->done, ok) + ok >= NJOBS)
            atomic_store(&sh->end_ns, fs_mono_ns());
        fs_jobs_free(v, n);
    }
    _exit(0); /* no cleanup: the parent owns the database */
}

static void enqueue(queue *q, int n)
{
    fs_job *v = xcalloc((size_t)n, sizeof *v);
    for (int i = 0; i < n; i++)
        v[i] = (fs_job){ .type = xstrdup("bench"), .target_agent = xstrdup("w"),
                         .payload = xstrdup("{\"n\":1}") };
    int rc;
    while ((rc = queue_enqueue(q, v, (size_t)n, NULL)) == FS_EBUSY) {}
    if (rc) exit(1);
    fs_jobs_free(v, (size_t)n);
}

/* Completed jobs in the store (the run's check). */
static int64_t completed(store *st)
{
    store_stat *rows;
    size_t n;
    int64_t total = 0;
    if (store_job_stats(st, &rows, &n)) return -1;
    for (size_t i = 0; i < n; i++)
        if (rows[i].state == JOB_COMPLETED) total += rows[i].count;
    store_stats_free(rows, n);
    return total;
}

/* One run on `where` (created by the caller).  Returns jobs/s. */
static double cycle(const char *where, int procs, int batch)
{
    store *st = open_store(where); /* migrates before the workers start */
    queue *q = open_queue(st, false);
    shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) exit(1);
    atomic_init(&sh->done, 0);
    atomic_init(&sh->end_ns, 0);
    pid_t pids[8];
    int64_t t0 = fs_mono_ns();
    for (int i = 0; i < procs; i++)
        if ((pids[i] = fork()) == 0) worker(where, batch, sh);
    for (int i = 0; i < NJOBS; i += batch) enqueue(q, NJOBS - i < batch ? NJOBS - i : batch);
    int bad = 0;
    for (int i = 0; i < procs; i++) {
        int stt;
        waitpid(pids[i], &stt, 0);
        bad |= !WIFEXITED(stt) || WEXITSTATUS(stt);
    }
    /* the last completion, not the workers' exit (a lease wait may end
     * up to its wait_ms later) */
    double rate = NJOBS / ((double)(atomic_load(&sh->end_ns) - t0) / 1e9);
    int64_t got = completed(st);
    if (bad || got != NJOBS) {
        fprintf(stderr, "bench_pgqueue: a run ended with %" PRId64 " of %d jobs "
                "completed%s\n", got, NJOBS, bad ? " and a worker failing" : "");
        exit(1);
    }
    munmap(sh, sizeof *sh);
    queue_close(q);
    store_close(st);
    return rate;
}

static double cycle_pg(int procs, int batch)
{
    char name[64], sql[128];
    snprintf(name, sizeof name, "fs_bench_%d_%d_%d", (int)getpid(), procs, batch);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    admin(sql);
    char *url = db_url(name);
    double r = cycle(url, procs, batch);
    free(url);
    snprintf(sql, sizeof sql, "DROP DATABASE %s", name);
    admin(sql);
    return r;
}

static double cycle_sqlite(int procs, int batch)
{
    char *path = xasprintf("%s/bench-pgq-%d-%d-%d.db", DIR_, (int)getpid(), procs,
                           batch);
    double r = cycle(path, procs, batch);
    static const char *const ext[] = { "", "-wal", "-shm" };
    for (size_t i = 0; i < 3; i++) {
        char *f = xasprintf("%s%s", path, ext[i]);
        unlink(f);
        free(f);
    }
    free(path);
    return r;
}

/* pgbench -N with `clients` clients for 5 s on its own database: tps. */
static double pgbench(int clients)
{
    static bool ready;
    char *url = db_url("fs_bench_pgbench"), cmd[1024];
    if (!ready) {
        admin("DROP DATABASE IF EXISTS fs_bench_pgbench");
        admin("CREATE DATABASE fs_bench_pgbench");
        snprintf(cmd, sizeof cmd, "'%s' -i -q -s 4 '%s' >/dev/null 2>&1", PGBENCH, url);
        if (system(cmd) != 0) {
            fprintf(stderr, "bench_pgqueue: pgbench -i failed (%s)\n", PGBENCH);
            exit(1);
        }
        ready = true;
    }
    snprintf(cmd, sizeof cmd, "'%s' -n -N -c %d -j %d -T 5 '%s' 2>/dev/null", PGBENCH,
             clients, clients, url);
    free(url);
    FILE *p = popen(cmd, "r");
    char line[256];
    double tps = 0;
    while (p && fgets(line, sizeof line, p))
        if (!strncmp(line, "tps = ", 6)) tps = strtod(line + 6, NULL);
    if (!p || pclose(p) != 0 || tps <= 0) {
        fprintf(stderr, "bench_pgqueue: pgbench run failed\n");
        exit(1);
    }
    return tps;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--url") && i + 1 < argc) URL = argv[++i];
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc) DIR_ = argv[++i];
        else if (!strcmp(argv[i], "--jobs") && i + 1 < argc) NJOBS = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--pgbench") && i + 1 < argc) PGBENCH = argv[++i];
        else URL = NULL, i = argc;
    }
    if (!URL || strncmp(URL, "postgres://", 11) || NJOBS < 1000) {
        fprintf(stderr, "usage: bench_pgqueue --url postgres://USER@HOST:PORT/DB "
                        "[--dir DIR] [--jobs N>=1000] [--pgbench PATH]\n");
        return 2;
    }
    log_setup(LOG_WARN, false);
    signal(SIGPIPE, SIG_IGN);
    static const int procs[] = { 1, 2, 4 }, batches[] = { 16, 64, 256 };
    printf("queue full cycle across processes, %d jobs a run (enqueue -> lease -> "
           "complete)\n\n", NJOBS);
    printf("%-6s %-6s %12s %12s %12s %12s\n", "procs", "batch", "postgres/s",
           "sqlite/s", "pgbench tps", "pg/pgbench");
    for (int i = 0; i < 3; i++) {
        double tps = pgbench(procs[i]);
        for (int k = 0; k < 3; k++) {
            double pg = cycle_pg(procs[i], batches[k]);
            double sq = cycle_sqlite(procs[i], batches[k]);
            printf("%-6d %-6d %12.0f %12.0f %12.0f %11.2fx\n", procs[i], batches[k], pg,
                   sq, tps, pg / tps);
            fflush(stdout);
        }
    }
    admin("DROP DATABASE IF EXISTS fs_bench_pgbench");
    return 0;
}
