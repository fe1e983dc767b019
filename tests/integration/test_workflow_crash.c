/*
 * test_workflow_crash.c - workflow runs survive kill -9 of the server and
 * of the workers, black box (issue 4):
 *
 *   fifty_runs_survive_kill_9_of_server_and_workers
 *       "crashflow" is a diamond with a fan-out:
 *
 *            +--> b --+
 *         a -+--> c --+--> d --+--> f
 *            +--> e[0..4] -----+        (e: for_each over a's list)
 *
 *       every step's output a deterministic function of its input, so the
 *       test knows each run's right outputs; retries max 3 with backoff
 *       from 100 ms, timeout_ms 2000 per attempt (a killed worker's job
 *       times out and is retried quickly).  A starter process starts 50
 *       runs in bursts of 10 every 5 s; 3 worker processes (each its own
 *       agent of type "crunch") lease, sleep 20-120 ms (the work), append
 *       "RUN STEP ITEM ATTEMPT JOBID" to their own file (one write(2),
 *       before completing) and complete with the output.  Meanwhile, on a
 *       seeded schedule (the seed is printed; FS_WFCRASH_SEED=N replays
 *       one), the server is SIGKILLed 2-3 times and restarted on the same
 *       database (down 0.1-2.5 s: leases run out meanwhile), and workers
 *       are SIGKILLed 6-10 times and replaced by new processes (new
 *       agents), each kill within 2.5 s of a burst, while there is work.
 *       After 26 s everything is let finish (about 30 s in all).
 *
 *       Checked: the database holds exactly the 50 runs (a start cut by a
 *       kill is found again by its seed, never made twice), every one
 *       completed with the right output at every step; in the workers'
 *       files every job id ran at most once (max_attempts 1), and each
 *       (run, step, item) ran at most retries.max + 1 times, its job ids
 *       being distinct attempts; on the server, each (run, step, item) has
 *       at most retries.max + 1 jobs, attempts 1..k with one job each, each
 *       created only after the one before had finished (never two live at
 *       once), none leased more than once, none left unfinished; and the
 *       server, stopped with SIGTERM, exits 0 (no leak after all that).
 *
 * The children (starter, workers) use libcurl, jansson and write(2) only,
 * never Criterion, and end with _exit(); they find the restarted server's
 * new port in its port file.  The server is killed and restarted from the
 * test thread only.  No threads: forking while a thread holds a lock is
 * not a risk taken here.
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
#include <sys/wait.h>
#include <unistd.h>

#include "integration/it.h"

#define NRUNS 50
#define NITEMS 5
#define NSTEPS 6 /* a b c d e f: their indexes in the stable order */
#define RETRIES 3
#define NWORKERS 3
#define BURST 10 /* runs started at once */
#define BURST_EVERY_MS 5000
#define CHAOS_MS 26000
#define FINISH_MS 45000 /* after the chaos, for every run to finish */
#define SEED0 1000      /* run k has input seed SEED0 + k */
#define ADMIN_KEY "it-wfcrash-admin-key-0123456789abcdef"

TestSuite(integration_workflow_crash, .timeout = 300);

static const char *const STEP_ID[NSTEPS] = {"a", "b", "c", "d", "e", "f"};

#define RETRY_SPEC                                                             \
    "'retries':{'max':3,'backoff':'exponential','initial_ms':100,"             \
    "'max_ms':400},'timeout_ms':2000"

static const char DEF[] =
    "{'name':'crashflow','inputs':{'seed':{}},'steps':["
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

/* --- the outputs ---------------------------------------------------------- */

static json_int_t iget(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/*
 * A worker's answer to job type t with payload p (the engine's rendering
 * of the step's input), or NULL when the payload is not what the step
 * sends.
 *   a {seed}      -> {n: 7 seed + 1, items: [10 seed + k, k < 5]}
 *   b {n}         -> {v: 2n + 3}
 *   c {n}         -> {v: n^2 mod 1000003}
 *   d {b, c}      -> {v: 31b + c}
 *   e {i, n}      -> {w: i^2 + n}
 *   f {d, e, seed}-> {total: d + sum (k+1) e[k].w, seed}
 */
static json_t *compute(const char *t, const json_t *p)
{
    if (!json_is_object(p) || !t || strlen(t) != 1) return NULL;
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

/* The outputs a run of this seed must show, step by step (computed from
 * the definition's formulas, independently of the engine). */
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

static uint64_t rnd_next(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static long rnd_range(uint64_t *s, long lo, long hi) /* [lo, hi] */
{
    return lo + (long)(rnd_next(s) % (uint64_t)(hi - lo + 1));
}

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

/* One line, with one write(2) (so a SIGKILL never leaves half of it). */
static bool put_line(int fd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static bool put_line(int fd, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    return n > 0 && n < (int)sizeof line && write_all(fd, line, (size_t)n);
}

/* Points s at the port in its port file (the server may have restarted
 * on another port).  false while there is none (the server is down). */
static bool refresh_port(th_server *s)
{
    char buf[32] = "";
    int fd = open(s->port_file, O_RDONLY);
    if (fd < 0) return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    int port = n > 0 ? atoi(buf) : 0;
    if (port <= 0) return false;
    s->port = port;
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", port);
    return true;
}

/* A request that waits out the server being down: retries on no answer
 * (and 503) for up to 20 s.  JSON or NULL; *status as th_http sets it. */
static json_t *call_patiently(th_server *s, const char *method,
                              const char *path, const char *body,
                              const char *key, int *status)
{
    int64_t give_up = it_mono_ms() + 20000;
    for (;;) {
        json_t *r = it_try_json(s, method, path, body, key, status);
        if ((*status != 0 && *status != 503) || it_mono_ms() > give_up)
            return r;
        json_decref(r);
        it_sleep_ms(50);
        refresh_port(s);
    }
}

/* --- the starter ---------------------------------------------------------- */

enum { ST_OK = 0, ST_FILE = 20, ST_START = 21, ST_LIST = 22 };

/* The id of the run with input seed, from the run list; 0 when none. */
static int64_t find_run(th_server *s, json_int_t seed, int *status)
{
    json_t *r =
        call_patiently(s, "GET", "/v1/runs?workflow=crashflow&limit=1000", NULL,
                       ADMIN_KEY, status);
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
 * Starts run k (seed SEED0 + k) at BURST_EVERY_MS * (k / BURST) from t0,
 * for k < NRUNS, and writes "k id how" lines (how: 201, or "found" when
 * the answer was lost to a kill and the run turned up in the list, or
 * "again" when it had not been made and was started again).
 */
static int starter(th_server s, const char *path, int64_t t0)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return ST_FILE;
    for (int k = 0; k < NRUNS; k++) {
        int64_t at = t0 + (int64_t)BURST_EVERY_MS * (k / BURST);
        if (at > it_mono_ms()) it_sleep_ms((long)(at - it_mono_ms()));
        json_int_t seed = SEED0 + k;
        char body[64];
        snprintf(body, sizeof body, "{\"inputs\":{\"seed\":%lld}}",
                 (long long)seed);
        const char *how = "201";
        int64_t id = 0;
        while (!id) {
            int st;
            refresh_port(&s);
            json_t *r = it_try_json(&s, "POST", "/v1/workflows/crashflow/runs",
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
            /* no answer: was it made before the kill? */
            id = find_run(&s, seed, &st);
            if (st != 200) {
                close(fd);
                return ST_LIST;
            }
            how = id ? "found" : "again";
        }
        put_line(fd, "%d %lld %s\n", k, (long long)id, how);
    }
    put_line(fd, "# done\n");
    close(fd);
    return ST_OK;
}

/* --- the workers ---------------------------------------------------------- */

enum {
    WK_FILE = 10,
    WK_REGISTER = 11,
    WK_LEASE = 12,
    WK_BADJOB = 13,
    WK_COMPLETE = 14
};

/* Completes one job, waiting out a server restart.  Returns 200 (done),
 * 409/404 (the lease was lost: the attempt failed meanwhile), or another
 * status (an error). */
static int complete_patiently(th_server *s, const char *token, json_int_t id,
                              const char *lease_token, json_t *result)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld/complete", (long long)id);
    json_t *b =
        json_pack("{s:s,s:O}", "lease_token", lease_token, "result", result);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    int st;
    json_decref(call_patiently(s, "POST", path, body, token, &st));
    free(body);
    return st;
}

/*
 * One worker process: registers agent wk-GEN of type crunch, then leases
 * (up to 3, long-polling 1 s, each job's own 2 s lease), and for each job:
 * sleeps 20-120 ms (the work), appends "RUN STEP ITEM ATTEMPT JOBID",
 * completes.  A completion answered 409/404 is noted as a line "lost
 * JOBID": the lease ran out (the attempt failed), or an earlier try had
 * gone through but its answer was cut by a kill.  Runs until killed.
 */
static int worker(th_server s, int gen, const char *path, uint64_t rs)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return WK_FILE;
    char reg[96];
    snprintf(reg, sizeof reg, "{\"name\":\"wk-%d\",\"type\":\"crunch\"}", gen);
    int st;
    refresh_port(&s);
    json_t *a = call_patiently(&s, "POST", "/v1/agents", reg, ADMIN_KEY, &st);
    const char *tok = json_string_value(json_object_get(a, "token"));
    if (st != 201 || !tok) {
        put_line(fd, "# register answered %d\n", st);
        return WK_REGISTER;
    }
    char token[256];
    snprintf(token, sizeof token, "%s", tok);
    json_decref(a);
    put_line(fd, "# worker %d up\n", gen);
    for (;;) {
        json_t *r = call_patiently(&s, "POST", "/v1/jobs/lease",
                                   "{\"max\":3,\"wait_ms\":1000}", token, &st);
        json_t *jobs = json_object_get(r, "jobs"), *j;
        if (st != 200 || !json_is_array(jobs)) {
            put_line(fd, "# lease answered %d\n", st);
            json_decref(r);
            return WK_LEASE;
        }
        size_t i;
        json_array_foreach(jobs, i, j)
        {
            const char *key =
                json_string_value(json_object_get(j, "unique_key"));
            long long run, rev;
            int step, item, att;
            json_int_t id = iget(j, "id");
            json_t *out = compute(json_string_value(json_object_get(j, "type")),
                                  json_object_get(j, "payload"));
            if (!key || !out ||
                sscanf(key, "wf/%lld/%d/%d/%d/%lld", &run, &step, &item, &att,
                       &rev) != 5) {
                char *dump = json_dumps(j, JSON_COMPACT);
                put_line(fd, "# bad job %.200s\n", dump ? dump : "?");
                return WK_BADJOB;
            }
            it_sleep_ms(rnd_range(&rs, 20, 120));
            put_line(fd, "%lld %d %d %d %lld\n", run, step, item, att,
                     (long long)id);
            st = complete_patiently(
                &s, token, id,
                json_string_value(json_object_get(j, "lease_token")), out);
            json_decref(out);
            if (st == 409 || st == 404) {
                put_line(fd, "lost %lld\n", (long long)id);
            } else if (st != 200) {
                put_line(fd, "# complete of %lld answered %d\n", (long long)id,
                         st);
                json_decref(r);
                return WK_COMPLETE;
            }
        }
        json_decref(r);
    }
}

/* --- the parent's bookkeeping --------------------------------------------- */

#define MAX_WORKERS 32 /* generations, over the whole test */

typedef struct crew {
    th_server *s;
    uint64_t seed;
    pid_t pid[MAX_WORKERS]; /* by generation; 0 once reaped */
    int exit_code[MAX_WORKERS];
    int ngen;
    int live[NWORKERS]; /* the generation in each slot */
    int killed;
} crew;

static void worker_path(const th_server *s, int gen, char *out, size_t cap)
{
    snprintf(out, cap, "%s/worker-%d.log", s->dir, gen);
}

/* Forks generation ngen into slot. */
static void crew_spawn(crew *c, int slot)
{
    cr_assert_lt(c->ngen, MAX_WORKERS);
    int gen = c->ngen++;
    char path[400];
    worker_path(c->s, gen, path, sizeof path);
    uint64_t rs = c->seed ^ (0x51ed27a3ULL * (uint64_t)(gen + 1));
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) _exit(worker(*c->s, gen, path, rs));
    c->pid[gen] = pid;
    c->live[slot] = gen;
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

/* A worker that ended on its own is an error: fails with its file's
 * last words. */
static void crew_check(crew *c)
{
    for (int g = 0; g < c->ngen; g++) {
        if (!c->pid[g]) continue;
        int code = wait_code(c->pid[g], WNOHANG);
        if (code < 0) continue;
        c->pid[g] = 0;
        char path[400];
        worker_path(c->s, g, path, sizeof path);
        FILE *f = fopen(path, "r");
        char line[300], last[300] = "";
        while (f && fgets(line, sizeof line, f))
            if (line[0] == '#') snprintf(last, sizeof last, "%s", line);
        if (f) fclose(f);
        cr_assert_fail(
            "worker %d exited by itself with %d (10 file, 11 register, "
            "12 lease, 13 a job with a payload its step never sends, "
            "14 complete): %s",
            g, code, last);
    }
}

static void crew_kill(crew *c, int slot)
{
    int g = c->live[slot];
    kill(c->pid[g], SIGKILL);
    wait_code(c->pid[g], 0);
    c->pid[g] = 0;
    c->killed++;
}

/* --- reading the results -------------------------------------------------- */

typedef struct exec_rec {
    int64_t run, job;
    int step, item, attempt;
} exec_rec;

typedef struct tally {
    exec_rec *ex;
    size_t n, cap;
    size_t lost;
} tally;

static void read_worker(const char *path, int gen, tally *t)
{
    FILE *f = fopen(path, "r");
    if (!f) return; /* killed before it opened the file */
    char line[300];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        long long run, job;
        int step, item, att;
        char tail;
        if (!strncmp(line, "lost ", 5)) {
            t->lost++;
            continue;
        }
        cr_assert_eq(sscanf(line, "%lld %d %d %d %lld%c", &run, &step, &item,
                            &att, &job, &tail),
                     6, "worker %d: bad line '%s'", gen, line);
        cr_assert_eq(tail, '\n', "worker %d: cut line '%s'", gen, line);
        if (t->n == t->cap) {
            t->cap = t->cap ? 2 * t->cap : 1024;
            t->ex = realloc(t->ex, t->cap * sizeof *t->ex);
        }
        t->ex[t->n++] = (exec_rec){run, job, step, item, att};
    }
    fclose(f);
}

static int cmp_exec(const void *a, const void *b)
{
    const exec_rec *x = a, *y = b;
    if (x->run != y->run) return x->run < y->run ? -1 : 1;
    if (x->step != y->step) return x->step - y->step;
    if (x->item != y->item) return x->item - y->item;
    if (x->attempt != y->attempt) return x->attempt - y->attempt;
    return (x->job > y->job) - (x->job < y->job);
}

static int cmp_job(const void *a, const void *b)
{
    const exec_rec *x = a, *y = b;
    return (x->job > y->job) - (x->job < y->job);
}

/* A job as the server keeps it. */
typedef struct job_rec {
    int64_t id, run;
    int step, item, attempt, attempts;
    char state[16];
    char created[40], finished[40];
} job_rec;

static int cmp_jobrec(const void *a, const void *b)
{
    const job_rec *x = a, *y = b;
    if (x->run != y->run) return x->run < y->run ? -1 : 1;
    if (x->step != y->step) return x->step - y->step;
    if (x->item != y->item) return x->item - y->item;
    return x->attempt - y->attempt;
}

static const char *sget(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

/* Every job on the server (all are the workflow's). */
static job_rec *all_jobs(th_server *s, size_t *n)
{
    size_t cap = 1024;
    job_rec *v = malloc(cap * sizeof *v);
    char path[128], cursor[32] = "";
    *n = 0;
    for (;;) {
        snprintf(path, sizeof path, "/v1/jobs?limit=1000%s%s",
                 cursor[0] ? "&cursor=" : "", cursor);
        json_t *page = it_call(s, "GET", path, NULL, s->key, 200), *j;
        size_t i;
        json_array_foreach(json_object_get(page, "jobs"), i, j)
        {
            if (*n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
            job_rec *r = &v[(*n)++];
            long long run, rev;
            cr_assert_eq(sscanf(sget(j, "unique_key"), "wf/%lld/%d/%d/%d/%lld",
                                &run, &r->step, &r->item, &r->attempt, &rev),
                         5, "job %lld has no workflow key",
                         (long long)iget(j, "id"));
            r->id = iget(j, "id");
            r->run = run;
            r->attempts = (int)iget(j, "attempts");
            snprintf(r->state, sizeof r->state, "%s", sget(j, "state"));
            snprintf(r->created, sizeof r->created, "%s",
                     sget(j, "created_at"));
            snprintf(r->finished, sizeof r->finished, "%s",
                     sget(j, "finished_at"));
        }
        const char *next =
            json_string_value(json_object_get(page, "next_cursor"));
        snprintf(cursor, sizeof cursor, "%s", next ? next : "");
        json_decref(page);
        if (!next) break;
    }
    return v;
}

/* --- the schedule --------------------------------------------------------- */

typedef struct event {
    int64_t at;  /* ms after the start */
    bool server; /* kill the server, else a worker */
} event;

static int cmp_event(const void *a, const void *b)
{
    const event *x = a, *y = b;
    return (x->at > y->at) - (x->at < y->at);
}

/*
 * Kills while there is work: each at a burst's start + up to 2.5 s (a
 * burst keeps the workers busy for about 3 s).  2-3 server kills, each in
 * its own burst (from the very start of the burst: a start may be cut),
 * and 6-10 worker kills.  Returns how many events.
 */
static int plan(uint64_t *rs, event *ev)
{
    int nbursts = NRUNS / BURST, ns = (int)rnd_range(rs, 2, 3);
    int nw = (int)rnd_range(rs, 6, 10), n = 0;
    bool used[NRUNS / BURST] = {false};
    for (int i = 0; i < ns; i++) {
        int b;
        do
            b = (int)rnd_range(rs, 0, nbursts - 1);
        while (used[b]);
        used[b] = true;
        ev[n++] =
            (event){(int64_t)b * BURST_EVERY_MS + rnd_range(rs, 0, 2500), true};
    }
    for (int i = 0; i < nw; i++)
        ev[n++] = (event){rnd_range(rs, 0, nbursts - 1) * BURST_EVERY_MS +
                              rnd_range(rs, 200, 2500),
                          false};
    qsort(ev, (size_t)n, sizeof *ev, cmp_event);
    return n;
}

/* --- the test ------------------------------------------------------------- */

static uint64_t test_seed(void)
{
    const char *env = getenv("FS_WFCRASH_SEED");
    if (env && *env) return strtoull(env, NULL, 10);
    return (uint64_t)it_mono_ms() ^ ((uint64_t)getpid() << 20);
}

/* Waits for every run to leave "running"; returns how many still run. */
static size_t wait_finished(th_server *s, int64_t deadline)
{
    for (;;) {
        json_t *r = it_call(
            s, "GET", "/v1/runs?workflow=crashflow&state=running&limit=1000",
            NULL, s->key, 200);
        size_t n = json_array_size(json_object_get(r, "runs"));
        json_decref(r);
        if (n == 0 || it_mono_ms() > deadline) return n;
        it_sleep_ms(200);
    }
}

/* The starter's "k id how" lines: ids[k], and how many were recovered. */
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

/* Every run completed with the right output at every step. */
static void check_runs(th_server *s, const int64_t *ids)
{
    json_t *list = it_call(s, "GET", "/v1/runs?workflow=crashflow&limit=1000",
                           NULL, s->key, 200);
    json_t *runs = json_object_get(list, "runs"), *r;
    cr_assert_eq(json_array_size(runs), NRUNS,
                 "%zu runs in the database, %d were started (one made twice?)",
                 json_array_size(runs), NRUNS);
    bool seen[NRUNS] = {false};
    size_t i;
    json_array_foreach(runs, i, r)
    {
        json_int_t k = iget(json_object_get(r, "inputs"), "seed") - SEED0;
        cr_assert(k >= 0 && k < NRUNS && !seen[k], "run %lld has seed %lld",
                  (long long)iget(r, "id"), (long long)(k + SEED0));
        seen[k] = true;
        cr_assert_eq(iget(r, "id"), ids[k],
                     "seed %lld: run %lld, started as %lld",
                     (long long)(k + SEED0), (long long)iget(r, "id"),
                     (long long)ids[k]);
    }
    json_decref(list);
    for (int k = 0; k < NRUNS; k++) {
        char path[64];
        snprintf(path, sizeof path, "/v1/runs/%lld?items=1", (long long)ids[k]);
        json_t *run = it_call(s, "GET", path, NULL, s->key, 200);
        cr_assert_str_eq(sget(run, "state"), "completed",
                         "run %lld (seed %d): %s, "
                         "error %s",
                         (long long)ids[k], SEED0 + k, sget(run, "state"),
                         sget(run, "error"));
        json_t *want = expected_outputs(SEED0 + k), *st;
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

typedef struct exec_stats {
    size_t executions, tasks, reruns, max_per_task;
} exec_stats;

/* The workers' files: each job once, each task within its retries, its
 * jobs distinct attempts. */
static exec_stats check_executions(tally *t, const int64_t *ids)
{
    exec_stats es = {.executions = t->n};
    qsort(t->ex, t->n, sizeof *t->ex, cmp_job);
    for (size_t i = 1; i < t->n; i++)
        cr_assert_neq(
            t->ex[i].job, t->ex[i - 1].job,
            "job %lld ran twice (run %lld step %s item %d attempt %d)",
            (long long)t->ex[i].job, (long long)t->ex[i].run,
            STEP_ID[t->ex[i].step], t->ex[i].item, t->ex[i].attempt);
    qsort(t->ex, t->n, sizeof *t->ex, cmp_exec);
    for (size_t i = 0; i < t->n;) {
        size_t j = i + 1;
        const exec_rec *a = &t->ex[i];
        bool ours = false;
        for (int k = 0; k < NRUNS; k++)
            ours |= ids[k] == a->run;
        cr_assert(ours, "a job of run %lld, which was never started",
                  (long long)a->run);
        cr_assert(a->step >= 0 && a->step < NSTEPS, "step %d", a->step);
        while (j < t->n && t->ex[j].run == a->run && t->ex[j].step == a->step &&
               t->ex[j].item == a->item) {
            cr_assert_neq(
                t->ex[j].attempt, t->ex[j - 1].attempt,
                "run %lld step %s item %d: jobs %lld and %lld are both "
                "attempt %d",
                (long long)a->run, STEP_ID[a->step], a->item,
                (long long)t->ex[j - 1].job, (long long)t->ex[j].job,
                t->ex[j].attempt);
            j++;
        }
        size_t runs = j - i;
        cr_assert_leq(runs, RETRIES + 1,
                      "run %lld step %s item %d ran %zu times (retries.max %d)",
                      (long long)a->run, STEP_ID[a->step], a->item, runs,
                      RETRIES);
        cr_assert_leq(t->ex[j - 1].attempt, RETRIES + 1);
        es.tasks++;
        es.reruns += runs - 1;
        if (runs > es.max_per_task) es.max_per_task = runs;
        i = j;
    }
    return es;
}

typedef struct job_stats {
    size_t jobs, completed, failed, cancelled, retried_tasks;
} job_stats;

/* The server's jobs: one per attempt, attempts 1..k, each made after the
 * one before had finished, each leased at most once, none unfinished. */
static job_stats check_jobs(th_server *s)
{
    size_t n;
    job_rec *v = all_jobs(s, &n);
    job_stats js = {.jobs = n};
    qsort(v, n, sizeof *v, cmp_jobrec);
    for (size_t i = 0; i < n; i++) {
        job_rec *j = &v[i];
        cr_assert_leq(j->attempts, 1,
                      "job %lld was leased %d times (max_attempts 1)",
                      (long long)j->id, j->attempts);
        js.completed += !strcmp(j->state, "completed");
        js.failed += !strcmp(j->state, "failed");
        js.cancelled += !strcmp(j->state, "cancelled");
        cr_assert(!strcmp(j->state, "completed") ||
                      !strcmp(j->state, "failed") ||
                      !strcmp(j->state, "cancelled"),
                  "job %lld (run %lld step %s item %d attempt %d) is still %s",
                  (long long)j->id, (long long)j->run, STEP_ID[j->step],
                  j->item, j->attempt, j->state);
        bool first = i == 0 || v[i - 1].run != j->run ||
                     v[i - 1].step != j->step || v[i - 1].item != j->item;
        if (first) {
            cr_assert_eq(j->attempt, 1,
                         "run %lld step %s item %d: first job is "
                         "attempt %d",
                         (long long)j->run, STEP_ID[j->step], j->item,
                         j->attempt);
            continue;
        }
        job_rec *p = &v[i - 1];
        cr_assert_eq(j->attempt, p->attempt + 1,
                     "run %lld step %s item %d: attempt %d after attempt %d "
                     "(jobs %lld, %lld)",
                     (long long)j->run, STEP_ID[j->step], j->item, j->attempt,
                     p->attempt, (long long)p->id, (long long)j->id);
        cr_assert_leq(j->attempt, RETRIES + 1,
                      "run %lld step %s item %d: attempt %d (retries.max %d)",
                      (long long)j->run, STEP_ID[j->step], j->item, j->attempt,
                      RETRIES);
        cr_assert_str_neq(
            p->state, "completed",
            "run %lld step %s item %d: attempt %d was made although "
            "attempt %d (job %lld) completed",
            (long long)j->run, STEP_ID[j->step], j->item, j->attempt,
            p->attempt, (long long)p->id);
        /* never two live at once: the next attempt was made once the one
         * before had finished (same clock, same format: text order is time
         * order) */
        cr_assert(
            p->finished[0] && strcmp(j->created, p->finished) >= 0,
            "run %lld step %s item %d: job %lld (attempt %d) was made at %s, "
            "while job %lld (attempt %d) was live until %s",
            (long long)j->run, STEP_ID[j->step], j->item, (long long)j->id,
            j->attempt, j->created, (long long)p->id, p->attempt,
            p->finished[0] ? p->finished : "(never finished)");
        js.retried_tasks += j->attempt == 2;
    }
    free(v);
    return js;
}

Test(integration_workflow_crash,
     fifty_runs_survive_kill_9_of_server_and_workers)
{
    uint64_t seed = test_seed(), rs = seed;
    printf("workflow crash: seed %llu (FS_WFCRASH_SEED=%llu replays the "
           "schedule)\n",
           (unsigned long long)seed, (unsigned long long)seed);
    fflush(stdout);
    th_server s;
    th_server_start(&s, "env:FLOWSTATE_API_KEY=" ADMIN_KEY);
    char *def = strdup(DEF);
    for (char *p = def; *p; p++)
        if (*p == '\'') *p = '"';
    json_decref(it_call(&s, "POST", "/v1/workflows", def, s.key, 201));
    free(def);

    event ev[16];
    int nev = plan(&rs, ev);
    crew c = {.s = &s, .seed = rnd_next(&rs)};
    for (int w = 0; w < NWORKERS; w++)
        crew_spawn(&c, w);
    int64_t t0 = it_mono_ms();
    char starts[400];
    snprintf(starts, sizeof starts, "%s/starts.log", s.dir);
    fflush(NULL);
    pid_t sp = fork();
    cr_assert_geq(sp, 0, "fork: %s", strerror(errno));
    if (sp == 0) _exit(starter(s, starts, t0));

    int server_kills = 0, starter_code = -1;
    int64_t down_ms = 0;
    for (int e = 0; e < nev; e++) {
        while (it_mono_ms() < t0 + ev[e].at) {
            it_sleep_ms(20);
            crew_check(&c);
        }
        int st;
        json_t *stats =
            it_try_json(&s, "GET", "/v1/queue/stats", NULL, s.key, &st);
        json_t *states = json_object_get(stats, "states");
        json_int_t held = iget(states, "running"),
                   waiting = iget(states, "pending");
        json_decref(stats);
        if (ev[e].server) {
            th_server_kill(&s);
            int64_t t_kill = it_mono_ms();
            it_sleep_ms(rnd_range(&rs, 100, 2500)); /* down for a while */
            th_server_restart(&s);
            down_ms += it_mono_ms() - t_kill;
            server_kills++;
            printf("workflow crash: %5.1f s: server killed (%lld jobs leased, "
                   "%lld "
                   "pending), back after %lld ms\n",
                   (double)(t_kill - t0) / 1000, (long long)held,
                   (long long)waiting, (long long)(it_mono_ms() - t_kill));
        } else {
            int slot = (int)rnd_range(&rs, 0, NWORKERS - 1), gen = c.live[slot];
            crew_kill(&c, slot);
            printf(
                "workflow crash: %5.1f s: worker %d killed (%lld jobs leased, "
                "%lld pending)",
                (double)(it_mono_ms() - t0) / 1000, gen, (long long)held,
                (long long)waiting);
            it_sleep_ms(rnd_range(&rs, 0, 500));
            crew_spawn(&c, slot);
            printf(", worker %d started\n", c.ngen - 1);
        }
        fflush(stdout);
    }
    while (it_mono_ms() < t0 + CHAOS_MS) {
        it_sleep_ms(20);
        crew_check(&c);
    }
    starter_code = wait_code(sp, 0);
    int64_t t_chaos = it_mono_ms();
    size_t unfinished = wait_finished(&s, t_chaos + FINISH_MS);
    int64_t t_done = it_mono_ms();
    crew_check(&c);
    for (int w = 0; w < NWORKERS; w++)
        crew_kill(&c, w);
    c.killed -= NWORKERS; /* the end of the test is not a crash */

    cr_assert_eq(starter_code, 0,
                 "the starter ended with %d (20 file, 21 a start "
                 "refused, 22 the run list refused)",
                 starter_code);
    int64_t ids[NRUNS] = {0};
    int found = 0, again = 0;
    read_starts(starts, ids, &found, &again);
    cr_assert_eq(unfinished, 0,
                 "%zu runs still running %d s after the chaos ended",
                 unfinished, FINISH_MS / 1000);
    check_runs(&s, ids);

    tally t = {0};
    for (int g = 0; g < c.ngen; g++) {
        char path[400];
        worker_path(&s, g, path, sizeof path);
        read_worker(path, g, &t);
    }
    exec_stats es = check_executions(&t, ids);
    job_stats js = check_jobs(&s);
    cr_assert_eq(es.tasks, (size_t)NRUNS * (NSTEPS - 1 + NITEMS),
                 "tasks executed: %zu", es.tasks);
    cr_assert_leq(es.executions, js.jobs);
    free(t.ex);

    printf("workflow crash: %d runs, chaos %d s with %d server kills (down "
           "%lld ms in all) and %d worker kills (%d worker processes); all "
           "done %.1f s after the chaos\n",
           NRUNS, CHAOS_MS / 1000, server_kills, (long long)down_ms, c.killed,
           c.ngen, (double)(t_done - t_chaos) / 1000);
    printf(
        "workflow crash: %zu executions of %zu tasks: %zu re-runs (at most %zu "
        "per task), %zu completions answered 409 (lease lost, or done before a "
        "kill cut the answer); %zu jobs: %zu completed, %zu failed, %zu "
        "cancelled; %zu tasks retried; starts cut by a kill: %d found made, "
        "%d made again\n",
        es.executions, es.tasks, es.reruns, es.max_per_task, t.lost, js.jobs,
        js.completed, js.failed, js.cancelled, js.retried_tasks, found, again);
    fflush(stdout);
    int code = th_server_stop(&s);
    char *log = th_server_log(&s);
    size_t len = strlen(log);
    cr_assert_eq(code, 0, "the server exited with %d after SIGTERM:\n%s", code,
                 log + (len > 6000 ? len - 6000 : 0));
    free(log);
    th_server_cleanup(&s);
}
