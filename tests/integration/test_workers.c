/*
 * test_workers.c - no job lost, none done twice while its lease holds,
 * with separate worker processes over HTTP:
 *
 *   eight_worker_processes_drain_100k_jobs_exactly_once
 *       100,000 jobs are enqueued in batches of 1000; 8 forked processes,
 *       each its own registered agent of the same type, loop
 *         lease (max 100, wait 500 ms, 60 s lease)
 *           -> append "id n" of every leased job to their own file
 *           -> POST /v1/jobs/complete for the whole batch
 *       until the queue is drained.  The parent then checks that the
 *       files together hold every enqueued id exactly once, each with its
 *       own payload, that every completion item was ok, and that the
 *       server counts 100,000 completed jobs and nothing else.
 *
 * A lease of 60 s is far longer than the run, so no lease expires: a job
 * seen twice would be a job handed out twice while its lease held.
 *
 * The children use libcurl (a fresh handle per request, made after the
 * fork), jansson and write(2), never Criterion, and end with _exit().  Each
 * reports through its exit code (0 = all well) and a summary line at the
 * end of its file.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "integration/it.h"

#define NJOBS 100000
#define ENQUEUE_BATCH 1000
#define NWORKERS 8
#define LEASE_MAX 100
#define ADMIN_KEY "it-workers-admin-key-0123456789abcdef"

TestSuite(integration_workers, .timeout = 240);

/* Child exit codes. */
enum {
    WK_OK = 0,
    WK_REGISTER = 10,
    WK_LEASE = 11,
    WK_COMPLETE = 12,
    WK_ITEM = 13,
    WK_STATS = 14,
    WK_FILE = 15,
};

/* Writes all of buf or returns false. */
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

/* True when no job is pending, scheduled or running. */
static int queue_drained(th_server *s, bool *drained)
{
    int st;
    json_t *r = it_try_json(s, "GET", "/v1/queue/stats", NULL, s->key, &st);
    json_t *states = json_object_get(r, "states");
    if (st != 200 || !states) {
        json_decref(r);
        return WK_STATS;
    }
    *drained = json_integer_value(json_object_get(states, "pending")) == 0 &&
               json_integer_value(json_object_get(states, "scheduled")) == 0 &&
               json_integer_value(json_object_get(states, "running")) == 0;
    json_decref(r);
    return WK_OK;
}

/*
 * Completes the leased jobs in one request.  OUT: *bad (items not ok).
 * Returns WK_OK or WK_COMPLETE (the request itself failed).
 */
static int complete_batch(th_server *s, const char *token, json_t *jobs,
                          size_t *bad)
{
    json_t *items = json_array(), *j;
    size_t i;
    json_array_foreach(jobs, i, j)
    {
        json_array_append_new(
            items,
            json_pack("{s:O,s:O,s:{s:O}}", "id", json_object_get(j, "id"),
                      "lease_token", json_object_get(j, "lease_token"),
                      "result", "n",
                      json_object_get(json_object_get(j, "payload"), "n")));
    }
    json_t *body = json_pack("{s:o}", "jobs", items);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    int st;
    json_t *r = it_try_json(s, "POST", "/v1/jobs/complete", text, token, &st);
    free(text);
    json_t *results = json_object_get(r, "results");
    if (st != 200 || json_array_size(results) != json_array_size(jobs)) {
        json_decref(r);
        return WK_COMPLETE;
    }
    json_array_foreach(results, i, j)
    {
        if (!json_is_true(json_object_get(j, "ok"))) (*bad)++;
    }
    json_decref(r);
    return WK_OK;
}

/* One worker process: register, lease/record/complete until drained. */
static int worker(th_server *s, int w, const char *path)
{
    char name[32], line[256];
    snprintf(name, sizeof name, "worker-%d", w);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return WK_FILE;
    int st;
    json_t *reg = json_pack("{s:s,s:s,s:[s]}", "name", name, "type", "drainer",
                            "job_types", "drain");
    char *text = json_dumps(reg, JSON_COMPACT);
    json_decref(reg);
    json_t *a = it_try_json(s, "POST", "/v1/agents", text, s->key, &st);
    free(text);
    const char *tok = json_string_value(json_object_get(a, "token"));
    if (st != 201 || !tok) return WK_REGISTER;
    char *token = strdup(tok);
    json_decref(a);
    const char *lease = "{\"max\":100,\"wait_ms\":500,\"lease_seconds\":60}";
    size_t leased = 0, bad = 0, rounds = 0;
    int rc = WK_OK;
    char why[160] = "";
    for (;;) {
        json_t *r = it_try_json(s, "POST", "/v1/jobs/lease", lease, token, &st);
        json_t *jobs = json_object_get(r, "jobs");
        if (st != 200 || !json_is_array(jobs)) {
            char *dump = r ? json_dumps(r, JSON_COMPACT) : NULL;
            snprintf(why, sizeof why, " lease answered %d %s", st,
                     dump ? dump : "");
            free(dump);
            json_decref(r);
            rc = WK_LEASE;
            break;
        }
        rounds++;
        if (json_array_size(jobs) == 0) {
            json_decref(r);
            bool drained = false;
            if ((rc = queue_drained(s, &drained)) || drained) break;
            continue;
        }
        size_t cap = json_array_size(jobs) * 48 + 1, len = 0, i;
        char *buf = malloc(cap);
        json_t *j;
        json_array_foreach(jobs, i, j)
        {
            len += (size_t)snprintf(
                buf + len, cap - len, "%lld %lld\n",
                (long long)json_integer_value(json_object_get(j, "id")),
                (long long)json_integer_value(
                    json_object_get(json_object_get(j, "payload"), "n")));
        }
        bool written = write_all(fd, buf, len);
        free(buf);
        leased += json_array_size(jobs);
        rc = written ? complete_batch(s, token, jobs, &bad) : WK_FILE;
        json_decref(r);
        if (rc) break;
    }
    if (rc == WK_OK && bad) rc = WK_ITEM;
    int n =
        snprintf(line, sizeof line, "# leased %zu bad %zu rounds %zu rc %d%s\n",
                 leased, bad, rounds, rc, why);
    write_all(fd, line, n < (int)sizeof line ? (size_t)n : sizeof line - 1);
    close(fd);
    free(token);
    return rc;
}

/* Enqueues NJOBS in batches; OUT: n_of[id] = payload n (ids 1..NJOBS). */
static void enqueue_all(th_server *s, int *n_of)
{
    for (int b = 0; b < NJOBS / ENQUEUE_BATCH; b++) {
        json_t *arr = json_array();
        for (int i = 0; i < ENQUEUE_BATCH; i++)
            json_array_append_new(arr, json_pack("{s:s,s:s,s:{s:i}}", "type",
                                                 "drain", "target_agent",
                                                 "drainer", "payload", "n",
                                                 b * ENQUEUE_BATCH + i));
        json_t *body = json_pack("{s:o}", "jobs", arr);
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        json_t *r = it_call(s, "POST", "/v1/jobs", text, s->key, 201);
        free(text);
        json_t *jobs = json_object_get(r, "jobs"), *j;
        size_t i;
        cr_assert_eq(json_array_size(jobs), ENQUEUE_BATCH);
        json_array_foreach(jobs, i, j)
        {
            json_int_t id = json_integer_value(json_object_get(j, "id"));
            cr_assert(id >= 1 && id <= NJOBS, "job id %lld outside 1..%d",
                      (long long)id, NJOBS);
            cr_assert_eq(n_of[id], -1, "job id %lld given twice",
                         (long long)id);
            n_of[id] = b * ENQUEUE_BATCH + (int)i;
        }
        json_decref(r);
    }
}

/* Reads one worker's file into seen[]; returns how many ids it holds. */
static size_t tally(const char *path, int w, const int *n_of,
                    unsigned char *seen)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "worker %d left no file", w);
    char line[128];
    size_t n = 0;
    bool summary = false;
    while (fgets(line, sizeof line, f)) {
        long long id, pn;
        if (line[0] == '#') {
            summary = true;
            printf("workers: worker %d %s", w, line + 2);
            continue;
        }
        cr_assert_eq(sscanf(line, "%lld %lld", &id, &pn), 2,
                     "worker %d: bad line '%s'", w, line);
        cr_assert(id >= 1 && id <= NJOBS, "worker %d leased unknown job %lld",
                  w, id);
        cr_assert_eq(seen[id], 0,
                     "job %lld was leased twice (again by worker %d) while "
                     "its 60 s lease held",
                     id, w);
        cr_assert_eq(pn, n_of[id],
                     "job %lld arrived with payload n=%lld, "
                     "enqueued with %d",
                     id, pn, n_of[id]);
        seen[id] = 1;
        n++;
    }
    fclose(f);
    cr_assert(summary, "worker %d did not finish its file", w);
    return n;
}

/* Static, not malloc'ed: a failed assertion must not also leak. */
static int N_OF[NJOBS + 1];
static unsigned char SEEN[NJOBS + 1];

/* The summary line a worker wrote last ("" if none). */
static void summary_of(const char *path, char *out, size_t cap)
{
    char line[256];
    FILE *f = fopen(path, "r");
    out[0] = '\0';
    while (f && fgets(line, sizeof line, f))
        if (line[0] == '#') snprintf(out, cap, "%s", line);
    if (f) fclose(f);
}

Test(integration_workers, eight_worker_processes_drain_100k_jobs_exactly_once)
{
    th_server s;
    th_server_start(&s, "env:FLOWSTATE_API_KEY=" ADMIN_KEY);
    cr_assert_str_eq(s.key, ADMIN_KEY);
    for (int i = 0; i <= NJOBS; i++)
        N_OF[i] = -1;
    int64_t t0 = it_mono_ms();
    enqueue_all(&s, N_OF);
    int64_t t1 = it_mono_ms();
    cr_assert_eq(it_state_count(&s, "pending"), NJOBS);

    char paths[NWORKERS][400];
    pid_t pids[NWORKERS];
    fflush(NULL);
    for (int w = 0; w < NWORKERS; w++) {
        snprintf(paths[w], sizeof paths[w], "%s/worker-%d.ids", s.dir, w);
        pids[w] = fork();
        cr_assert_geq(pids[w], 0, "fork: %s", strerror(errno));
        if (pids[w] == 0) _exit(worker(&s, w, paths[w]));
    }
    int codes[NWORKERS];
    for (int w = 0; w < NWORKERS; w++) {
        int st;
        while (waitpid(pids[w], &st, 0) < 0 && errno == EINTR) {
        }
        codes[w] = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    int64_t t2 = it_mono_ms();
    for (int w = 0; w < NWORKERS; w++) {
        char summary[256];
        summary_of(paths[w], summary, sizeof summary);
        cr_assert_eq(codes[w], 0,
                     "worker %d ended with %d (10 register, 11 lease, 12 "
                     "complete request, 13 a completion item not ok, 14 "
                     "stats, 15 file, 128+ signal): %s",
                     w, codes[w], summary);
    }

    size_t total = 0;
    for (int w = 0; w < NWORKERS; w++) {
        total += tally(paths[w], w, N_OF, SEEN);
        unlink(paths[w]);
    }
    for (int id = 1; id <= NJOBS; id++)
        cr_assert(SEEN[id], "job %d was never leased", id);
    cr_assert_eq(total, NJOBS);

    json_t *st = it_call(&s, "GET", "/v1/queue/stats", NULL, s.key, 200);
    json_t *states = json_object_get(st, "states");
    const char *names[] = {"pending", "scheduled", "running", "failed",
                           "cancelled"};
    cr_assert_eq(json_integer_value(json_object_get(states, "completed")),
                 NJOBS, "completed: %s", json_dumps(states, JSON_COMPACT));
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        cr_assert_eq(json_integer_value(json_object_get(states, names[i])), 0,
                     "%s: %s", names[i], json_dumps(states, JSON_COMPACT));
    json_t *c = json_object_get(st, "counters");
    cr_assert_eq(json_integer_value(json_object_get(c, "leased")), NJOBS);
    cr_assert_eq(json_integer_value(json_object_get(c, "completed")), NJOBS);
    cr_assert_eq(json_integer_value(json_object_get(c, "rescued")), 0);
    json_decref(st);
    printf("workers: enqueue %d jobs %lld ms, drain by %d processes %lld ms "
           "(%.0f jobs/s)\n",
           NJOBS, (long long)(t1 - t0), NWORKERS, (long long)(t2 - t1),
           NJOBS * 1000.0 / (double)(t2 - t1 + 1));
    fflush(stdout);
    th_server_cleanup(&s);
}
