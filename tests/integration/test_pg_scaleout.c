/*
 * test_pg_scaleout.c - scale-out on one PostgreSQL (issue 6), black box:
 *
 *   two_servers_four_workers_drain_100k_jobs_and_200_runs
 *       Two `flowstate serve` processes, A and B, share one database (a
 *       database of the test's own on the server FLOWSTATE_TEST_DB names).
 *       100,000 "drain" jobs (priority -1, payload {n}) are enqueued in
 *       batches of 1000, alternately through A and B.  Then 4 worker
 *       processes start, 2 per server, each its own agent of type
 *       "crunch", and a starter process starts 200 runs of "scaleflow"
 *       (the diamond with a fan-out of test_workflow_crash.c: a, then b,
 *       c and e[0..4] in parallel, d after b and c, f after d and e; each
 *       step's output a function of its input, so the test knows every
 *       run's right outputs), 20 every second, even runs through A, odd
 *       ones through B.  Step jobs have priority 0, so workers take them
 *       before the drain jobs and the runs go on during the drain.
 *
 *       A worker loops: lease up to 100 jobs (10 s leases, long-polling
 *       500 ms), append "L id n started expires key" for each (one
 *       write(2) before completing), complete the batch in one request with the
 *       right result, append "C id ok" for each item.  A request that gets
 *       no answer (its server is gone) is sent again, to the other server.
 *
 *       Midway (40% of the drain done) B is killed with SIGKILL and not
 *       restarted: the survivor must take over everything B held - runs B
 *       was driving, leases its workers got in answers the kill cut (they
 *       expire after 10 s and A's ticker rescues them), completions sent
 *       but never answered (sent again to A: a completion already stored
 *       answers "not ok", anything else completes).  B's two workers fail
 *       over to A.  (Restarting B would hide part of this: a restarted
 *       engine rescans every running run at start.)  At 60% one of A's
 *       workers is killed with SIGKILL and replaced by a new process (a
 *       new agent); that worker takes 300 ms over each batch, so the kill
 *       finds it holding leases: those jobs come back when their leases
 *       expire and other workers take them.
 *
 *       Checked at the end: every drain job's id was given once by an
 *       enqueue and is completed, with its own payload and the result
 *       computed from it (read back from the server), nothing is pending,
 *       scheduled or running, and the server counts exactly 100,000
 *       completed drain jobs; in the workers' files every drain job was
 *       leased, with its own payload; no job was leased again while a
 *       lease of it held (a job's next lease starts only after the one
 *       before expired); no item was completed twice; no step job was
 *       leased twice (each has max_attempts 1) and no attempt of a step
 *       had two jobs (the two engines never both scheduled it), every one
 *       of the 2,000 steps and items was leased; the database holds
 *       exactly the 200 runs, each completed with the right output at
 *       every step.  The drain's throughput (jobs/s, kills included) is
 *       printed.
 *
 * Skipped unless FLOWSTATE_TEST_DB is a postgres:// URL (run-tests.sh's
 * PostgreSQL pass sets it).  The children (starter, workers) use libcurl,
 * jansson and write(2) only, never Criterion, and end with _exit(); no
 * threads.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "integration/it.h"
#include "support/testdb.h"

#define NJOBS 100000
#define ENQ_BATCH 1000
#define MAXID 400000 /* job ids stay under this (100k + step jobs) */
#define NRUNS 200
#define BURST 20
#define BURST_EVERY_MS 1000
#define NITEMS 5
#define NSTEPS 6
#define RETRIES 3
#define NWORKERS 4
#define MAX_GEN 8
#define LEASE_S 10
#define SEED0 5000
#define DEADLINE_MS 240000 /* drain and runs, from the workers' start */
#define ADMIN_KEY "it-pgscale-admin-key-0123456789abcdef"

TestSuite(pg_scaleout, .timeout = 420);

#define RETRY_SPEC                                                             \
    "'retries':{'max':3,'backoff':'exponential','initial_ms':100,"             \
    "'max_ms':400},'timeout_ms':10000"

static const char DEF[] =
    "{'name':'scaleflow','inputs':{'seed':{}},'steps':["
    "{'id':'a','agent':'crunch','job_type':'a',"
    " 'input':{'seed':'{{inputs.seed}}'}," RETRY_SPEC "},"
    "{'id':'b','agent':'crunch','job_type':'b','depends_on':['a'],"
    " 'input':{'n':'{{steps.a.output.n}}'}," RETRY_SPEC "},"
    "{'id':'c','agent':'crunch','job_type':'c','depends_on':['a'],"
    " 'input':{'n':'{{steps.a.output.n}}'}," RETRY_SPEC "},"
    "{'id':'d','agent':'crunch','job_type':'d','depends_on':['b','c'],"
    " 'input':{'b':'{{steps.b.output.v}}','c':'{{steps.c.output.v}}'}"
    "," RETRY_SPEC "},"
    "{'id':'e','agent':'crunch','job_type':'e','depends_on':['a'],"
    " 'for_each':'{{steps.a.output.items}}',"
    " 'input':{'i':'{{item}}','n':'{{steps.a.output.n}}'}," RETRY_SPEC "},"
    "{'id':'f','agent':'crunch','job_type':'f','depends_on':['d','e'],"
    " 'input':{'d':'{{steps.d.output.v}}','e':'{{steps.e.output}}',"
    "  'seed':'{{inputs.seed}}'}," RETRY_SPEC "}]}";

/* --- the outputs (as in test_workflow_crash.c) ---------------------------- */

static json_int_t iget(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static const char *sget(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

/*
 * A worker's answer to job type t with payload p, or NULL when the
 * payload is not what the step sends:
 *   drain {n}     -> {n}
 *   a {seed}      -> {n: 7 seed + 1, items: [10 seed + k, k < 5]}
 *   b {n}         -> {v: 2n + 3}
 *   c {n}         -> {v: n^2 mod 1000003}
 *   d {b, c}      -> {v: 31b + c}
 *   e {i, n}      -> {w: i^2 + n}
 *   f {d, e, seed}-> {total: d + sum (k+1) e[k].w, seed}
 */
static json_t *compute(const char *t, const json_t *p)
{
    if (!json_is_object(p) || !t) return NULL;
    if (!strcmp(t, "drain"))
        return json_is_integer(json_object_get(p, "n"))
                   ? json_pack("{s:I}", "n", iget(p, "n"))
                   : NULL;
    if (strlen(t) != 1) return NULL;
    switch (t[0]) {
    case 'a': {
        json_t *s = json_object_get(p, "seed");
        if (!json_is_integer(s)) return NULL;
        json_int_t seed = json_integer_value(s);
        json_t *items = json_array();
        for (int k = 0; k < NITEMS; k++)
            json_array_append_new(items, json_integer(10 * seed + k));
        return json_pack("{s:I,s:o}", "n", 7 * seed + 1, "items", items);
    }
    case 'b':
        if (!json_is_integer(json_object_get(p, "n"))) return NULL;
        return json_pack("{s:I}", "v", 2 * iget(p, "n") + 3);
    case 'c':
        if (!json_is_integer(json_object_get(p, "n"))) return NULL;
        return json_pack("{s:I}", "v", iget(p, "n") * iget(p, "n") % 1000003);
    case 'd':
        if (!json_is_integer(json_object_get(p, "b")) ||
            !json_is_integer(json_object_get(p, "c")))
            return NULL;
        return json_pack("{s:I}", "v", 31 * iget(p, "b") + iget(p, "c"));
    case 'e':
        if (!json_is_integer(json_object_get(p, "i")) ||
            !json_is_integer(json_object_get(p, "n")))
            return NULL;
        return json_pack("{s:I}", "w",
                         iget(p, "i") * iget(p, "i") + iget(p, "n"));
    case 'f': {
        json_t *e = json_object_get(p, "e");
        if (!json_is_integer(json_object_get(p, "d")) || !json_is_array(e) ||
            json_array_size(e) != NITEMS)
            return NULL;
        json_int_t total = iget(p, "d");
        for (size_t k = 0; k < NITEMS; k++) {
            json_t *w = json_object_get(json_array_get(e, k), "w");
            if (!json_is_integer(w)) return NULL;
            total += (json_int_t)(k + 1) * json_integer_value(w);
        }
        return json_pack("{s:I,s:I}", "total", total, "seed", iget(p, "seed"));
    }
    }
    return NULL;
}

/* The outputs a run of this seed must show, step by step. */
static json_t *expected_outputs(json_int_t seed)
{
    json_t *pa = json_pack("{s:I}", "seed", seed);
    json_t *a = compute("a", pa);
    json_int_t n = iget(a, "n");
    json_t *pn = json_pack("{s:I}", "n", n);
    json_t *b = compute("b", pn), *c = compute("c", pn);
    json_t *pd = json_pack("{s:I,s:I}", "b", iget(b, "v"), "c", iget(c, "v"));
    json_t *d = compute("d", pd);
    json_t *e = json_array();
    for (int k = 0; k < NITEMS; k++) {
        json_t *pe = json_pack("{s:I,s:I}", "i", 10 * seed + k, "n", n);
        json_array_append_new(e, compute("e", pe));
        json_decref(pe);
    }
    json_t *pf =
        json_pack("{s:I,s:O,s:I}", "d", iget(d, "v"), "e", e, "seed", seed);
    json_t *f = compute("f", pf);
    json_t *all = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}", "a", a, "b", b, "c", c,
                            "d", d, "e", e, "f", f);
    json_decref(pa);
    json_decref(pn);
    json_decref(pd);
    json_decref(pf);
    return all;
}

/* --- helpers for the children --------------------------------------------- */

static bool write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* One line, with one write(2) (a SIGKILL never leaves half of it). */
static bool put_line(int fd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static bool put_line(int fd, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    return n > 0 && n < (int)sizeof line && write_all(fd, line, (size_t)n);
}

/* The two servers as a child sees them; `cur` is the one it talks to. */
typedef struct pair {
    th_server s[2];
    int cur;
} pair;

/*
 * A request to the current server; on no answer (the server is gone) or
 * 503, the other server is tried, back and forth for up to 30 s.  JSON or
 * NULL; *status as th_http sets it.  OUT: *switched, the request went
 * unanswered at least once (it may have been carried out).
 */
static json_t *call_any(pair *p, const char *method, const char *path,
                        const char *body, const char *key, int *status,
                        bool *switched)
{
    int64_t give_up = it_mono_ms() + 30000;
    for (;;) {
        json_t *r = it_try_json(&p->s[p->cur], method, path, body, key, status);
        if ((*status != 0 && *status != 503) || it_mono_ms() > give_up)
            return r;
        json_decref(r);
        if (switched) *switched = true;
        p->cur = 1 - p->cur;
        it_sleep_ms(50);
    }
}

/* --- the starter ---------------------------------------------------------- */

enum { ST_OK = 0, ST_FILE = 20, ST_START = 21, ST_LIST = 22 };

/* The id of the run with this seed, from the run list; 0 when none. */
static int64_t find_run(pair *p, json_int_t seed, int *status)
{
    json_t *r = call_any(p, "GET", "/v1/runs?workflow=scaleflow&limit=1000",
                         NULL, ADMIN_KEY, status, NULL);
    int64_t id = 0;
    size_t i;
    json_t *run;
    json_array_foreach(json_object_get(r, "runs"), i, run)
    {
        if (iget(json_object_get(run, "inputs"), "seed") == seed)
            id = iget(run, "id");
    }
    json_decref(r);
    return id;
}

/*
 * Starts run k (seed SEED0 + k) BURST_EVERY_MS * (k / BURST) after t0,
 * through server k % 2 (the other one once a server has gone silent),
 * and writes "k id how": 201, "found" (the answer was cut by a kill and
 * the run is in the list) or "again" (it was not made: started again,
 * through the other server).
 */
static int starter(pair p, const char *path, int64_t t0)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return ST_FILE;
    bool gone[2] = {false, false}; /* gave no answer once: not asked again */
    for (int k = 0; k < NRUNS; k++) {
        int64_t at = t0 + (int64_t)BURST_EVERY_MS * (k / BURST);
        if (at > it_mono_ms()) it_sleep_ms((long)(at - it_mono_ms()));
        json_int_t seed = SEED0 + k;
        char body[64];
        snprintf(body, sizeof body, "{\"inputs\":{\"seed\":%lld}}",
                 (long long)seed);
        const char *how = "201";
        int64_t id = 0;
        p.cur = gone[k % 2] ? 1 - k % 2 : k % 2;
        for (;;) {
            int st;
            json_t *r =
                it_try_json(&p.s[p.cur], "POST", "/v1/workflows/scaleflow/runs",
                            body, ADMIN_KEY, &st);
            if (st == 201) id = iget(r, "id");
            json_decref(r);
            if (st == 201 && id > 0) break;
            if (st != 0 && st != 503) {
                put_line(fd, "# start of seed %lld answered %d\n",
                         (long long)seed, st);
                close(fd);
                return ST_START;
            }
            /* no answer: was it made before the kill?  (A commit the dead
             * server had sent lands within moments: wait a little.) */
            it_sleep_ms(500);
            gone[p.cur] = true;
            p.cur = 1 - p.cur;
            id = find_run(&p, seed, &st);
            if (st != 200) {
                close(fd);
                return ST_LIST;
            }
            if (id) {
                how = "found";
                break;
            }
            how = "again";
        }
        put_line(fd, "%d %lld %s\n", k, (long long)id, how);
    }
    put_line(fd, "# done\n");
    close(fd);
    return ST_OK;
}

/* --- the workers ---------------------------------------------------------- */

enum {
    WK_OK = 0,
    WK_FILE = 10,
    WK_REGISTER = 11,
    WK_LEASE = 12,
    WK_BADJOB = 13,
    WK_COMPLETE = 14
};

/* "L id n started expires key" for every leased job (n: -1 for a step
 * job; key: its unique key, "-" for none), in one write. */
static bool note_leases(int fd, json_t *jobs)
{
    size_t cap = json_array_size(jobs) * 256 + 1, len = 0, i;
    char *buf = malloc(cap);
    json_t *j;
    json_array_foreach(jobs, i, j)
    {
        json_t *n = json_object_get(json_object_get(j, "payload"), "n");
        const char *key = sget(j, "unique_key");
        int w = snprintf(
            buf + len, cap - len, "L %lld %lld %.40s %.40s %.60s\n",
            (long long)iget(j, "id"),
            !strcmp(sget(j, "type"), "drain") ? (long long)json_integer_value(n)
                                              : -1LL,
            sget(j, "started_at"), sget(j, "lease_expires_at"),
            *key ? key : "-");
        len += w > 0 ? (size_t)w : 0;
    }
    bool ok = write_all(fd, buf, len);
    free(buf);
    return ok;
}

/*
 * Completes the batch in one request (sent again, to the other server,
 * when unanswered) and writes "C id ok" for each item, ok being 1, 0, or
 * 2 for "not ok after an unanswered try" (that try may have stored it).
 */
static int complete_all(pair *p, const char *token, json_t *jobs, int fd,
                        char *why, size_t whylen)
{
    json_t *items = json_array(), *j;
    size_t i;
    json_array_foreach(jobs, i, j)
    {
        json_t *out = compute(sget(j, "type"), json_object_get(j, "payload"));
        if (!out) {
            char *dump = json_dumps(j, JSON_COMPACT);
            snprintf(why, whylen, " bad job %.120s", dump ? dump : "?");
            free(dump);
            json_decref(items);
            return WK_BADJOB;
        }
        json_array_append_new(
            items, json_pack("{s:O,s:O,s:o}", "id", json_object_get(j, "id"),
                             "lease_token", json_object_get(j, "lease_token"),
                             "result", out));
    }
    json_t *body = json_pack("{s:o}", "jobs", items);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    int st;
    bool cut = false;
    json_t *r =
        call_any(p, "POST", "/v1/jobs/complete", text, token, &st, &cut);
    free(text);
    json_t *results = json_object_get(r, "results");
    if (st != 200 || json_array_size(results) != json_array_size(jobs)) {
        snprintf(why, whylen, " complete answered %d", st);
        json_decref(r);
        return WK_COMPLETE;
    }
    size_t cap = json_array_size(jobs) * 32 + 1, len = 0;
    char *buf = malloc(cap);
    json_array_foreach(results, i, j)
    {
        int ok = json_is_true(json_object_get(j, "ok")) ? 1 : cut ? 2 : 0;
        len += (size_t)snprintf(buf + len, cap - len, "C %lld %d\n",
                                (long long)iget(json_array_get(jobs, i), "id"),
                                ok);
    }
    bool written = write_all(fd, buf, len);
    free(buf);
    json_decref(r);
    return written ? WK_OK : WK_FILE;
}

/* One worker process: agent wk-GEN of type crunch, home server `home`;
 * runs until the stop file exists and a lease comes back empty.  Each
 * batch's work takes work_ms (between noting the leases and completing). */
static int worker(pair p, int gen, const char *path, const char *stop,
                  int work_ms)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return WK_FILE;
    char reg[96], why[200] = "";
    snprintf(reg, sizeof reg, "{\"name\":\"wk-%d\",\"type\":\"crunch\"}", gen);
    int st, rc = WK_OK;
    json_t *a = call_any(&p, "POST", "/v1/agents", reg, ADMIN_KEY, &st, NULL);
    const char *tok = json_string_value(json_object_get(a, "token"));
    if (st != 201 || !tok) {
        put_line(fd, "# register answered %d\n", st);
        close(fd);
        return WK_REGISTER;
    }
    char token[256];
    snprintf(token, sizeof token, "%s", tok);
    json_decref(a);
    put_line(fd, "# worker %d up on server %d\n", gen, p.cur);
    char lease[96];
    snprintf(lease, sizeof lease,
             "{\"max\":100,\"wait_ms\":500,\"lease_seconds\":%d}", LEASE_S);
    size_t leased = 0, rounds = 0;
    for (;;) {
        json_t *r =
            call_any(&p, "POST", "/v1/jobs/lease", lease, token, &st, NULL);
        json_t *jobs = json_object_get(r, "jobs");
        if (st != 200 || !json_is_array(jobs)) {
            snprintf(why, sizeof why, " lease answered %d", st);
            json_decref(r);
            rc = WK_LEASE;
            break;
        }
        rounds++;
        if (json_array_size(jobs) == 0) {
            json_decref(r);
            if (access(stop, F_OK) == 0) break;
            continue;
        }
        leased += json_array_size(jobs);
        bool noted = note_leases(fd, jobs);
        if (noted && work_ms) it_sleep_ms(work_ms);
        rc = noted ? complete_all(&p, token, jobs, fd, why, sizeof why)
                   : WK_FILE;
        json_decref(r);
        if (rc) break;
    }
    put_line(fd, "# leased %zu rounds %zu on server %d rc %d%s\n", leased,
             rounds, p.cur, rc, why);
    close(fd);
    return rc;
}

/* --- the parent's bookkeeping --------------------------------------------- */

typedef struct crew {
    pair p;
    char dir[256], stop[300];
    pid_t pid[MAX_GEN]; /* by generation; 0 once reaped */
    int ngen;
} crew;

static void worker_path(const crew *c, int gen, char *out, size_t cap)
{
    snprintf(out, cap, "%s/worker-%d.log", c->dir, gen);
}

static void crew_spawn(crew *c, int home, int work_ms)
{
    cr_assert_lt(c->ngen, MAX_GEN);
    int gen = c->ngen++;
    char path[400];
    worker_path(c, gen, path, sizeof path);
    pair p = c->p;
    p.cur = home;
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test leaves none */
        _exit(worker(p, gen, path, c->stop, work_ms));
    }
    c->pid[gen] = pid;
}

static int wait_code(pid_t pid, int options)
{
    int st;
    pid_t got;
    while ((got = waitpid(pid, &st, options)) < 0 && errno == EINTR) {
    }
    if (got != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void last_words(const crew *c, int g, char *out, size_t cap)
{
    char path[400], line[300];
    worker_path(c, g, path, sizeof path);
    FILE *f = fopen(path, "r");
    out[0] = '\0';
    while (f && fgets(line, sizeof line, f))
        if (line[0] == '#') snprintf(out, cap, "%s", line);
    if (f) fclose(f);
}

/* A worker that ended on its own before the stop is an error. */
static void crew_check(crew *c)
{
    for (int g = 0; g < c->ngen; g++) {
        if (!c->pid[g]) continue;
        int code = wait_code(c->pid[g], WNOHANG);
        if (code < 0) continue;
        c->pid[g] = 0;
        char last[300];
        last_words(c, g, last, sizeof last);
        cr_assert_fail("worker %d exited by itself with %d (10 file, 11 "
                       "register, 12 lease, 13 a job it cannot compute, 14 "
                       "complete): %s",
                       g, code, last);
    }
}

/* The drain jobs' completed count, and whether the queue holds nothing
 * pending, scheduled or running (asked of server s). */
static json_int_t drain_done(th_server *s, bool *idle)
{
    json_t *st = it_call(s, "GET", "/v1/queue/stats", NULL, s->key, 200);
    json_t *states = json_object_get(st, "states"), *t;
    json_int_t done = 0;
    size_t i;
    json_array_foreach(json_object_get(st, "types"), i, t)
    {
        if (!strcmp(sget(t, "type"), "drain")) done = iget(t, "completed");
    }
    if (idle)
        *idle = iget(states, "pending") == 0 &&
                iget(states, "scheduled") == 0 && iget(states, "running") == 0;
    json_decref(st);
    return done;
}

static size_t runs_running(th_server *s)
{
    json_t *r = it_call(s, "GET",
                        "/v1/runs?workflow=scaleflow&state=running&limit=1000",
                        NULL, s->key, 200);
    size_t n = json_array_size(json_object_get(r, "runs"));
    json_decref(r);
    return n;
}

/* --- enqueue and the results ---------------------------------------------- */

/* Static, not malloc'ed: a failed assertion must not also leak. */
static int N_OF[MAXID];           /* drain job id -> payload n, or -1 */
static unsigned char DONE[MAXID]; /* ok completions seen */
static unsigned char LEASED[MAXID];

static void enqueue_all(th_server *srv)
{
    for (int b = 0; b < NJOBS / ENQ_BATCH; b++) {
        json_t *arr = json_array();
        for (int i = 0; i < ENQ_BATCH; i++)
            json_array_append_new(
                arr, json_pack("{s:s,s:s,s:i,s:{s:i}}", "type", "drain",
                               "target_agent", "crunch", "priority", -1,
                               "payload", "n", b * ENQ_BATCH + i));
        json_t *body = json_pack("{s:o}", "jobs", arr);
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        json_t *r =
            it_call(&srv[b % 2], "POST", "/v1/jobs", text, ADMIN_KEY, 201);
        free(text);
        json_t *jobs = json_object_get(r, "jobs"), *j;
        size_t i;
        cr_assert_eq(json_array_size(jobs), ENQ_BATCH);
        json_array_foreach(jobs, i, j)
        {
            json_int_t id = iget(j, "id");
            cr_assert(id >= 1 && id < MAXID, "job id %lld", (long long)id);
            cr_assert_eq(N_OF[id], -1, "job id %lld given twice",
                         (long long)id);
            N_OF[id] = b * ENQ_BATCH + (int)i;
        }
        json_decref(r);
    }
}

typedef struct lease_rec {
    int64_t id;
    int n;
    char started[32], expires[32];
    int64_t run; /* a step job's run, step, item and attempt (its key) */
    int step, item, attempt;
} lease_rec;

typedef struct tally {
    lease_rec *l;
    size_t nl, cap;
    size_t completions, not_ok, cut_not_ok;
} tally;

static void read_worker(const char *path, int gen, tally *t)
{
    FILE *f = fopen(path, "r");
    if (!f) return; /* killed before it opened the file */
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') {
            printf("pg scaleout: worker %d: %s", gen, line + 2);
            continue;
        }
        long long id, n;
        int ok;
        char tail;
        if (line[0] == 'C') {
            cr_assert_eq(sscanf(line, "C %lld %d%c", &id, &ok, &tail), 3,
                         "worker %d: bad line '%s'", gen, line);
            cr_assert(id >= 1 && id < MAXID && tail == '\n',
                      "worker %d: bad line '%s'", gen, line);
            t->completions++;
            if (ok == 1) {
                cr_assert_eq(DONE[id], 0, "job %lld was completed twice", id);
                DONE[id] = 1;
            } else if (ok == 2) {
                t->cut_not_ok++;
            } else {
                t->not_ok++;
            }
            continue;
        }
        if (t->nl == t->cap) {
            t->cap = t->cap ? 2 * t->cap : 65536;
            t->l = realloc(t->l, t->cap * sizeof *t->l);
        }
        lease_rec *r = &t->l[t->nl];
        char key[64];
        cr_assert_eq(sscanf(line, "L %lld %lld %31s %31s %63s%c", &id, &n,
                            r->started, r->expires, key, &tail),
                     6, "worker %d: bad line '%s'", gen, line);
        cr_assert(id >= 1 && id < MAXID && tail == '\n',
                  "worker %d: bad line '%s'", gen, line);
        r->id = id;
        r->n = (int)n;
        long long run, rev;
        r->run = 0;
        if (n < 0) {
            cr_assert_eq(sscanf(key, "wf/%lld/%d/%d/%d/%lld", &run, &r->step,
                                &r->item, &r->attempt, &rev),
                         5, "worker %d: job %lld has no workflow key: %s", gen,
                         id, key);
            r->run = run;
        }
        t->nl++;
    }
    fclose(f);
}

static int cmp_lease(const void *a, const void *b)
{
    const lease_rec *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return strcmp(x->started, y->started);
}

typedef struct lease_stats {
    size_t drain_leases, step_leases, releases, tasks, retried;
} lease_stats;

/* Step leases first, by (run, step, item, attempt); drain leases after. */
static int cmp_task(const void *a, const void *b)
{
    const lease_rec *x = a, *y = b;
    if ((x->run == 0) != (y->run == 0)) return x->run == 0 ? 1 : -1;
    if (x->run != y->run) return x->run < y->run ? -1 : 1;
    if (x->step != y->step) return x->step - y->step;
    if (x->item != y->item) return x->item - y->item;
    return x->attempt - y->attempt;
}

/* Each attempt of a step is one job: two jobs of one (run, step, item,
 * attempt) would be two engines scheduling the same attempt.  Counts the
 * tasks and those that took more than one attempt. */
static void check_attempts(tally *t, lease_stats *ls)
{
    qsort(t->l, t->nl, sizeof *t->l, cmp_task);
    for (size_t i = 0; i < t->nl && t->l[i].run; i++) {
        lease_rec *r = &t->l[i], *p = i ? &t->l[i - 1] : NULL;
        bool same_task =
            p && p->run == r->run && p->step == r->step && p->item == r->item;
        if (!same_task) {
            ls->tasks++;
            continue;
        }
        cr_assert_neq(p->attempt, r->attempt,
                      "run %lld step %d item %d: jobs %lld and %lld are both "
                      "attempt %d",
                      (long long)r->run, r->step, r->item, (long long)p->id,
                      (long long)r->id, r->attempt);
        ls->retried += r->attempt == 2;
    }
}

/* Every drain job leased with its payload, none leased while a lease of
 * it held, no step job leased twice.  (Whether each was completed is the
 * server's to say: a killed worker may have completed jobs it never got
 * to note.) */
static lease_stats check_leases(tally *t)
{
    lease_stats ls = {0};
    qsort(t->l, t->nl, sizeof *t->l, cmp_lease);
    for (size_t i = 0; i < t->nl; i++) {
        lease_rec *r = &t->l[i];
        bool drain = N_OF[r->id] >= 0;
        if (drain) {
            ls.drain_leases++;
            cr_assert_eq(r->n, N_OF[r->id],
                         "job %lld leased with payload n=%d, enqueued with %d",
                         (long long)r->id, r->n, N_OF[r->id]);
        } else {
            ls.step_leases++;
            cr_assert_eq(r->n, -1, "job %lld: a drain job nobody enqueued",
                         (long long)r->id);
        }
        if (i == 0 || t->l[i - 1].id != r->id) continue;
        lease_rec *p = &t->l[i - 1];
        ls.releases++;
        cr_assert(drain, "step job %lld was leased twice (max_attempts 1)",
                  (long long)r->id);
        cr_assert(strcmp(r->started, p->expires) >= 0,
                  "job %lld was leased at %s while its lease until %s held",
                  (long long)r->id, r->started, p->expires);
    }
    for (size_t i = 0; i < t->nl; i++)
        LEASED[t->l[i].id] = 1;
    for (int id = 1; id < MAXID; id++)
        cr_assert(N_OF[id] < 0 || LEASED[id], "drain job %d was never leased",
                  id);
    return ls;
}

/* The starter's "k id how" lines. */
static void read_starts(const char *path, int64_t *ids, int *found, int *again)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "the starter left no file");
    char line[200], how[16];
    bool done = false;
    while (fgets(line, sizeof line, f)) {
        int k;
        long long id;
        if (line[0] == '#') {
            done |= !strcmp(line, "# done\n");
            cr_assert(done, "starter: %s", line);
            continue;
        }
        cr_assert_eq(sscanf(line, "%d %lld %15s", &k, &id, how), 3,
                     "starter: %s", line);
        cr_assert(k >= 0 && k < NRUNS && !ids[k], "starter: %s", line);
        ids[k] = id;
        *found += !strcmp(how, "found");
        *again += !strcmp(how, "again");
    }
    fclose(f);
    cr_assert(done, "the starter did not finish");
}

/* Exactly the runs started, each completed with the right outputs. */
static void check_runs(th_server *s, const int64_t *ids)
{
    json_t *list = it_call(s, "GET", "/v1/runs?workflow=scaleflow&limit=1000",
                           NULL, s->key, 200);
    json_t *runs = json_object_get(list, "runs"), *r;
    cr_assert_eq(json_array_size(runs), NRUNS,
                 "%zu runs in the database, %d were started",
                 json_array_size(runs), NRUNS);
    size_t i;
    json_array_foreach(runs, i, r)
    {
        json_int_t k = iget(json_object_get(r, "inputs"), "seed") - SEED0;
        cr_assert(k >= 0 && k < NRUNS, "run %lld has seed %lld",
                  (long long)iget(r, "id"), (long long)(k + SEED0));
        cr_assert_eq(iget(r, "id"), ids[k],
                     "seed %lld: run %lld, started as %lld",
                     (long long)(k + SEED0), (long long)iget(r, "id"),
                     (long long)ids[k]);
    }
    json_decref(list);
    for (int k = 0; k < NRUNS; k++) {
        char path[64];
        snprintf(path, sizeof path, "/v1/runs/%lld?items=1", (long long)ids[k]);
        json_t *run = it_call(s, "GET", path, NULL, s->key, 200), *st;
        cr_assert_str_eq(sget(run, "state"), "completed",
                         "run %lld (seed %d): %s, error %s", (long long)ids[k],
                         SEED0 + k, sget(run, "state"), sget(run, "error"));
        json_t *want = expected_outputs(SEED0 + k);
        json_array_foreach(json_object_get(run, "steps"), i, st)
        {
            const char *id = sget(st, "id");
            json_t *w = json_object_get(want, id);
            cr_assert(w, "run %lld: unknown step %s", (long long)ids[k], id);
            cr_assert_str_eq(sget(st, "state"), "completed");
            char *got = json_dumps(json_object_get(st, "output"),
                                   JSON_COMPACT | JSON_SORT_KEYS);
            char *exp = json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS);
            cr_assert(json_equal(json_object_get(st, "output"), w),
                      "run %lld (seed %d) step %s: output %s, want %s",
                      (long long)ids[k], SEED0 + k, id, got, exp);
            free(got);
            free(exp);
            cr_assert_leq(iget(st, "attempts"), RETRIES + 1);
        }
        cr_assert_eq(json_array_size(json_object_get(run, "steps")), NSTEPS);
        json_decref(want);
        json_decref(run);
    }
}

/* The server's final counts: 100,000 drain jobs completed, nothing left. */
static void check_stats(th_server *s)
{
    json_t *st = it_call(s, "GET", "/v1/queue/stats", NULL, s->key, 200);
    json_t *states = json_object_get(st, "states"), *t;
    char *dump = json_dumps(st, JSON_COMPACT);
    const char *left[] = {"pending", "scheduled", "running"};
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(iget(states, left[i]), 0, "%s: %s", left[i], dump);
    size_t i;
    bool seen = false;
    json_array_foreach(json_object_get(st, "types"), i, t)
    {
        if (strcmp(sget(t, "type"), "drain")) continue;
        seen = true;
        cr_assert_eq(iget(t, "completed"), NJOBS, "drain: %s", dump);
        cr_assert_eq(iget(t, "failed") + iget(t, "cancelled"), 0, "drain: %s",
                     dump);
    }
    cr_assert(seen, "no drain jobs: %s", dump);
    free(dump);
    json_decref(st);
}

/* Every drain job, read back page by page: completed, with its own
 * payload and the result computed from it (a batch completion's results
 * went to the right jobs). */
static void check_results(th_server *s)
{
    char path[128], cursor[32] = "";
    size_t n = 0;
    for (;;) {
        snprintf(path, sizeof path, "/v1/jobs?type=drain&limit=1000%s%s",
                 cursor[0] ? "&cursor=" : "", cursor);
        json_t *page = it_call(s, "GET", path, NULL, s->key, 200), *j;
        size_t i;
        json_array_foreach(json_object_get(page, "jobs"), i, j)
        {
            json_int_t id = iget(j, "id");
            cr_assert(id >= 1 && id < MAXID && N_OF[id] >= 0,
                      "drain job %lld was never enqueued", (long long)id);
            cr_assert_str_eq(sget(j, "state"), "completed", "job %lld",
                             (long long)id);
            cr_assert_eq(iget(json_object_get(j, "payload"), "n"), N_OF[id],
                         "job %lld: payload", (long long)id);
            cr_assert_eq(iget(json_object_get(j, "result"), "n"), N_OF[id],
                         "job %lld: result %s", (long long)id,
                         json_dumps(json_object_get(j, "result"), 0));
            n++;
        }
        const char *next =
            json_string_value(json_object_get(page, "next_cursor"));
        snprintf(cursor, sizeof cursor, "%s", next ? next : "");
        json_decref(page);
        if (!next) break;
    }
    cr_assert_eq(n, NJOBS, "%zu drain jobs on the server", n);
}

/* --- the test ------------------------------------------------------------- */

static void start_on(th_server *s, const char *url)
{
    char extra[512];
    snprintf(extra, sizeof extra, "env:FLOWSTATE_API_KEY=%s --db %s", ADMIN_KEY,
             url);
    th_server_start(s, extra);
}

Test(pg_scaleout, two_servers_four_workers_drain_100k_jobs_and_200_runs)
{
    if (!tdb_is_postgres())
        cr_skip_test("FLOWSTATE_TEST_DB is not a postgres:// URL "
                     "(scripts/run-tests.sh runs this in its PostgreSQL pass)");
    tdb db;
    tdb_open(&db); /* a database of the test's own, migrated */
    crew c = {.ngen = 0};
    start_on(&c.p.s[0], db.url);
    start_on(&c.p.s[1], db.url);
    th_server *A = &c.p.s[0], *B = &c.p.s[1];
    snprintf(c.dir, sizeof c.dir, "%s", db.dir);
    snprintf(c.stop, sizeof c.stop, "%s/stop", db.dir);
    char *def = strdup(DEF);
    for (char *p = def; *p; p++)
        if (*p == '\'') *p = '"';
    json_decref(it_call(A, "POST", "/v1/workflows", def, ADMIN_KEY, 201));
    free(def);

    for (int i = 0; i < MAXID; i++)
        N_OF[i] = -1;
    int64_t t0 = it_mono_ms();
    enqueue_all(c.p.s);
    int64_t t1 = it_mono_ms();

    /* worker 0, the one killed, works 300 ms on each batch: the kill finds
     * it holding leases (they come back when they expire) */
    for (int w = 0; w < NWORKERS; w++)
        crew_spawn(&c, w / 2, w == 0 ? 300 : 0);
    char starts[400];
    snprintf(starts, sizeof starts, "%s/starts.log", db.dir);
    fflush(NULL);
    pid_t sp = fork();
    cr_assert_geq(sp, 0, "fork: %s", strerror(errno));
    if (sp == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        _exit(starter(c.p, starts, it_mono_ms()));
    }

    bool server_killed = false, worker_killed = false, idle = false;
    int starter_code = -1;
    int64_t t_kill = 0, t_wkill = 0;
    json_int_t done = 0, done_at_kill = 0;
    for (;;) {
        it_sleep_ms(100);
        crew_check(&c);
        if (starter_code < 0) starter_code = wait_code(sp, WNOHANG);
        done = drain_done(A, &idle);
        if (!server_killed && done >= NJOBS * 4 / 10) {
            th_server_kill(B);
            server_killed = true;
            t_kill = it_mono_ms();
            done_at_kill = done;
            printf("pg scaleout: %.1f s: server B killed (%lld drain jobs "
                   "done)\n",
                   (double)(t_kill - t1) / 1000, (long long)done);
        }
        if (!worker_killed && done >= NJOBS * 6 / 10) {
            kill(c.pid[0], SIGKILL);
            wait_code(c.pid[0], 0);
            c.pid[0] = 0;
            crew_spawn(&c, 0, 0);
            worker_killed = true;
            t_wkill = it_mono_ms();
            printf("pg scaleout: %.1f s: worker 0 killed, worker %d "
                   "started\n",
                   (double)(t_wkill - t1) / 1000, c.ngen - 1);
        }
        fflush(stdout);
        if (done == NJOBS && idle && starter_code >= 0 && runs_running(A) == 0)
            break;
        cr_assert_lt(it_mono_ms() - t1, DEADLINE_MS,
                     "not finished after %d s: %lld drain jobs done, queue "
                     "idle %d, starter %d, %zu runs running",
                     DEADLINE_MS / 1000, (long long)done, idle, starter_code,
                     runs_running(A));
    }
    int64_t t2 = it_mono_ms();
    cr_assert_eq(starter_code, 0,
                 "the starter ended with %d (20 file, 21 a start refused, 22 "
                 "the run list refused)",
                 starter_code);
    int fd = open(c.stop, O_WRONLY | O_CREAT, 0644);
    cr_assert_geq(fd, 0);
    close(fd);
    for (int g = 0; g < c.ngen; g++) {
        if (!c.pid[g]) continue;
        int code = wait_code(c.pid[g], 0);
        c.pid[g] = 0;
        char last[300];
        last_words(&c, g, last, sizeof last);
        cr_assert_eq(code, 0, "worker %d ended with %d: %s", g, code, last);
    }

    check_stats(A);
    int64_t t3 = it_mono_ms();
    check_results(A);
    printf("pg scaleout: 100,000 results read back in %lld ms\n",
           (long long)(it_mono_ms() - t3));
    tally t = {0};
    for (int g = 0; g < c.ngen; g++) {
        char path[400];
        worker_path(&c, g, path, sizeof path);
        read_worker(path, g, &t);
    }
    lease_stats ls = check_leases(&t);
    check_attempts(&t, &ls);
    free(t.l);
    cr_assert_eq(ls.tasks, (size_t)NRUNS * (NSTEPS - 1 + NITEMS),
                 "%zu step tasks were leased", ls.tasks);
    int64_t ids[NRUNS] = {0};
    int found = 0, again = 0;
    read_starts(starts, ids, &found, &again);
    check_runs(A, ids);

    printf("pg scaleout: enqueue %d jobs through 2 servers %lld ms (%.0f "
           "jobs/s); drain of %d jobs and %d runs by %d worker processes "
           "%lld ms: %.0f jobs/s, kills and the wait for the killed "
           "worker's leases to expire included; %.0f jobs/s before the "
           "first kill (server B killed at %.1f s, a worker at %.1f s)\n",
           NJOBS, (long long)(t1 - t0), NJOBS * 1000.0 / (double)(t1 - t0 + 1),
           NJOBS, NRUNS, NWORKERS, (long long)(t2 - t1),
           NJOBS * 1000.0 / (double)(t2 - t1 + 1),
           (double)done_at_kill * 1000.0 / (double)(t_kill - t1 + 1),
           (double)(t_kill - t1) / 1000, (double)(t_wkill - t1) / 1000);
    printf("pg scaleout: %zu drain leases, %zu step leases (%zu tasks, %zu "
           "retried), %zu leased again after their lease expired; %zu "
           "completions: %zu not ok (lease lost), %zu not ok after an "
           "unanswered try; starts cut by the kill: %d found made, %d made "
           "again\n",
           ls.drain_leases, ls.step_leases, ls.tasks, ls.retried, ls.releases,
           t.completions, t.not_ok, t.cut_not_ok, found, again);
    fflush(stdout);
    int code = th_server_stop(A);
    char *log = th_server_log(A);
    size_t len = strlen(log);
    cr_assert_eq(code, 0, "server A exited with %d after SIGTERM:\n%s", code,
                 log + (len > 6000 ? len - 6000 : 0));
    free(log);
    th_server_cleanup(A);
    th_server_cleanup(B);
    tdb_close(&db);
}
