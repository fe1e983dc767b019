/*
 * test_crash.c - crash safety of the real server, black box:
 *
 *   acked_enqueues_survive_kill_9
 *       4 threads enqueue as fast as they can (single jobs and batches of
 *       50, every job with its own unique_key); the server is SIGKILLed in
 *       the middle of the burst and restarted on the same database.  Every
 *       job whose POST was answered 201 must be there, unchanged; the only
 *       other jobs allowed are those of the one request per thread that was
 *       in flight at the kill, and of those all or none (a batch is one
 *       transaction).
 *   killed_workers_leases_come_back
 *       a worker process leases 10 jobs for 2 s and is SIGKILLed; another
 *       agent, long-polling, gets exactly those 10 back once the lease has
 *       expired (not before), at attempt 2, and completes them; the dead
 *       worker's tokens are refused.
 *   sigterm_is_graceful
 *       SIGTERM with a 20 s long-poll in flight and batch enqueues racing
 *       the shutdown: the long-poll answers at once (200, empty), each
 *       batch gets 201, 503 or a closed connection (never another 5xx), the
 *       server exits 0, and after a restart the database holds every job
 *       enqueued before, every batch answered 201 and nothing of the
 *       others.
 *
 * Threads only call th_http (a fresh curl handle per call) and never
 * cr_assert; the test thread checks what they recorded after joining them.
 * The server is started, stopped and restarted from the test thread only
 * (its parent-death signal is tied to the thread that forked it).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "integration/it.h"

TestSuite(integration_crash, .timeout = 120);

/* ---- acked enqueues survive kill -9 ----------------------------------- */

#define BURST_THREADS 4
#define BURST_BATCH 50
#define BURST_KILL_AFTER_MS 1500

enum { J_UNSENT, J_ACKED, J_INFLIGHT };

typedef struct burst_job {
    int64_t id; /* server id when acked */
    char state; /* J_* */
    bool seen;  /* found in the database after the restart */
} burst_job;

typedef struct burster {
    th_server *s;
    int tid;
    atomic_bool *stop;
    burst_job *jobs; /* indexed by sequence number */
    size_t njobs, cap;
    size_t requests, acked_requests;
    size_t inflight_first, inflight_count; /* the request cut by the kill */
    int bad_status; /* a status other than 201 or 0, if any */
    char bad_body[256];
} burster;

static void burst_key(char *buf, size_t cap, int tid, size_t seq)
{
    snprintf(buf, cap, "crash-t%d-%zu", tid, seq);
}

/* The JSON of job seq of thread tid (one item of a request). */
static json_t *burst_item(int tid, size_t seq)
{
    char key[64];
    burst_key(key, sizeof key, tid, seq);
    return json_pack("{s:s,s:s,s:{s:s,s:I},s:s}", "type", "burst",
                     "target_agent", "nobody", "payload", "k", key, "n",
                     (json_int_t)seq, "unique_key", key);
}

/* Records the ids of an acked request; false when the answer is odd. */
static bool burst_ack(burster *b, size_t first, size_t count, json_t *resp)
{
    json_t *arr = count > 1 ? json_object_get(resp, "jobs") : NULL;
    if (count > 1 && json_array_size(arr) != count) return false;
    for (size_t i = 0; i < count; i++) {
        json_t *j = count > 1 ? json_array_get(arr, i) : resp;
        json_int_t id = json_integer_value(json_object_get(j, "id"));
        char key[64];
        burst_key(key, sizeof key, b->tid, first + i);
        const char *got = json_string_value(json_object_get(j, "unique_key"));
        if (id <= 0 || !got || strcmp(got, key) != 0) return false;
        b->jobs[first + i].id = id;
        b->jobs[first + i].state = J_ACKED;
    }
    return true;
}

static void *burst_main(void *arg)
{
    burster *b = arg;
    for (size_t r = 0; !atomic_load(b->stop); r++) {
        size_t count = r % 10 == 9 ? BURST_BATCH : 1, first = b->njobs;
        if (first + count > b->cap) {
            b->cap = (first + count) * 2;
            b->jobs = realloc(b->jobs, b->cap * sizeof *b->jobs);
        }
        memset(&b->jobs[first], 0, count * sizeof *b->jobs);
        b->njobs += count;
        json_t *body;
        if (count == 1) {
            body = burst_item(b->tid, first);
        } else {
            body = json_object();
            json_t *arr = json_array();
            for (size_t i = 0; i < count; i++)
                json_array_append_new(arr, burst_item(b->tid, first + i));
            json_object_set_new(body, "jobs", arr);
        }
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        int status;
        char *resp =
            th_http(b->s, "POST", "/v1/jobs", text, b->s->key, &status);
        free(text);
        b->requests++;
        json_t *v = status == 201 ? json_loads(resp, 0, NULL) : NULL;
        if (status == 201 && v && burst_ack(b, first, count, v)) {
            b->acked_requests++;
            json_decref(v);
            free(resp);
            continue;
        }
        json_decref(v);
        /* Not acknowledged: the request the kill cut (or one sent after
         * it).  Anything but a dropped connection is a server error. */
        for (size_t i = 0; i < count; i++)
            b->jobs[first + i].state = J_INFLIGHT;
        b->inflight_first = first;
        b->inflight_count = count;
        if (status != 0) {
            b->bad_status = status;
            snprintf(b->bad_body, sizeof b->bad_body, "%s", resp);
        }
        free(resp);
        break;
    }
    return NULL;
}

/* Looks a database job up among the recorded ones by its unique key. */
static burst_job *burst_find(burster *bs, const char *key)
{
    int tid;
    size_t seq;
    char tail;
    if (!key || sscanf(key, "crash-t%d-%zu%c", &tid, &seq, &tail) != 2 ||
        tid < 0 || tid >= BURST_THREADS || seq >= bs[tid].njobs)
        return NULL;
    return &bs[tid].jobs[seq];
}

/* Checks one job as the server shows it against what was sent. */
static void burst_check_job(json_t *j, int tid, size_t seq)
{
    char key[64];
    burst_key(key, sizeof key, tid, seq);
    json_t *want = json_pack("{s:s,s:I}", "k", key, "n", (json_int_t)seq);
    cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "burst");
    cr_assert_str_eq(json_string_value(json_object_get(j, "unique_key")), key);
    cr_assert(json_equal(json_object_get(j, "payload"), want),
              "job %s: payload changed", key);
    json_decref(want);
}

/* Lists every job in the database, marks it seen, checks it is known;
 * returns how many there are. */
static size_t burst_scan_db(th_server *s, burster *bs)
{
    size_t total = 0;
    char path[128], cursor[32] = "";
    for (;;) {
        snprintf(path, sizeof path, "/v1/jobs?limit=1000%s%s",
                 cursor[0] ? "&cursor=" : "", cursor);
        json_t *page = it_call(s, "GET", path, NULL, s->key, 200);
        json_t *arr = json_object_get(page, "jobs"), *j;
        size_t i;
        json_array_foreach(arr, i, j)
        {
            const char *key =
                json_string_value(json_object_get(j, "unique_key"));
            burst_job *bj = burst_find(bs, key);
            cr_assert(bj, "job in the database that no thread sent: %s",
                      key ? key : "(no key)");
            cr_assert(bj->state != J_UNSENT, "job %s was never sent", key);
            cr_assert(!bj->seen, "job %s is there twice", key);
            bj->seen = true;
            int tid;
            size_t seq;
            sscanf(key, "crash-t%d-%zu", &tid, &seq);
            burst_check_job(j, tid, seq);
            if (bj->state == J_ACKED)
                cr_assert_eq(json_integer_value(json_object_get(j, "id")),
                             bj->id, "job %s has another id", key);
            total++;
        }
        const char *next =
            json_string_value(json_object_get(page, "next_cursor"));
        snprintf(cursor, sizeof cursor, "%s", next ? next : "");
        json_decref(page);
        if (!next) break;
    }
    return total;
}

/* GET /v1/jobs/{id} for one acked job. */
static void burst_get(th_server *s, burster *b, size_t seq)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%" PRId64, b->jobs[seq].id);
    json_t *j = it_call(s, "GET", path, NULL, s->key, 200);
    burst_check_job(j, b->tid, seq);
    json_decref(j);
}

Test(integration_crash, acked_enqueues_survive_kill_9)
{
    th_server s;
    th_server_start(&s, NULL);
    atomic_bool stop;
    atomic_init(&stop, false);
    burster bs[BURST_THREADS];
    pthread_t th[BURST_THREADS];
    memset(bs, 0, sizeof bs);
    for (int t = 0; t < BURST_THREADS; t++) {
        bs[t] = (burster){.s = &s, .tid = t, .stop = &stop};
        cr_assert_eq(pthread_create(&th[t], NULL, burst_main, &bs[t]), 0);
    }
    it_sleep_ms(BURST_KILL_AFTER_MS);
    th_server_kill(&s); /* the threads are mid-request */
    atomic_store(&stop, true);
    for (int t = 0; t < BURST_THREADS; t++)
        pthread_join(th[t], NULL);

    size_t acked = 0, inflight = 0, requests = 0;
    for (int t = 0; t < BURST_THREADS; t++) {
        cr_assert_eq(bs[t].bad_status, 0,
                     "thread %d: enqueue answered %d before the kill: %s", t,
                     bs[t].bad_status, bs[t].bad_body);
        for (size_t i = 0; i < bs[t].njobs; i++)
            acked += bs[t].jobs[i].state == J_ACKED;
        inflight += bs[t].inflight_count;
        requests += bs[t].requests;
    }
    cr_assert_gt(acked, 100, "only %zu jobs acknowledged before the kill",
                 acked);

    th_server_restart(&s);
    size_t in_db = burst_scan_db(&s, bs);

    size_t inflight_kept = 0;
    for (int t = 0; t < BURST_THREADS; t++) {
        burster *b = &bs[t];
        for (size_t i = 0; i < b->njobs; i++)
            if (b->jobs[i].state == J_ACKED)
                cr_assert(b->jobs[i].seen,
                          "acknowledged job crash-t%d-%zu (id %" PRId64
                          ") is lost after kill -9",
                          t, i, b->jobs[i].id);
        size_t kept = 0;
        for (size_t i = 0; i < b->inflight_count; i++)
            kept += b->jobs[b->inflight_first + i].seen;
        cr_assert(kept == 0 || kept == b->inflight_count,
                  "thread %d: %zu of the %zu jobs of the request cut by the "
                  "kill were stored (half-written batch)",
                  t, kept, b->inflight_count);
        inflight_kept += kept;
    }
    cr_assert_eq(in_db, acked + inflight_kept,
                 "the database holds %zu jobs; %zu acknowledged + %zu in "
                 "flight",
                 in_db, acked, inflight_kept);
    cr_assert_eq(it_state_count(&s, "pending"), (int64_t)in_db);

    /* Read back by id: the jobs acked just before the kill (the ones at
     * risk) and a spread sample of the rest. */
    size_t got = 0;
    for (int t = 0; t < BURST_THREADS; t++) {
        burster *b = &bs[t];
        size_t tail = b->inflight_count ? b->inflight_first : b->njobs;
        for (size_t i = 0; i < tail; i++)
            if (b->jobs[i].state == J_ACKED &&
                (i + 200 >= tail || i % 97 == 0)) {
                burst_get(&s, b, i);
                got++;
            }
    }
    printf("crash: %zu requests, %zu jobs acknowledged, %zu in flight at "
           "the kill (%zu of them stored), %zu read back by id\n",
           requests, acked, inflight, inflight_kept, got);
    fflush(stdout);
    for (int t = 0; t < BURST_THREADS; t++)
        free(bs[t].jobs);
    th_server_cleanup(&s);
}

/* ---- a killed worker's leases come back -------------------------------- */

#define LEASE_S 2

typedef struct leased {
    int64_t id;
    char token[160];
} leased;

/* Child: lease 10 jobs as agent a for LEASE_S seconds, report them on fd
 * as "id token" lines, then hang until killed.  Never returns. */
static void lease_child(th_server *s, const it_agent *a, const char *body,
                        int fd)
{
    int status;
    json_t *r =
        it_try_json(s, "POST", "/v1/jobs/lease", body, a->token, &status);
    if (status != 200 || !r) _exit(10);
    json_t *arr = json_object_get(r, "jobs"), *j;
    size_t i;
    json_array_foreach(arr, i, j)
    {
        dprintf(fd, "%lld %s\n",
                (long long)json_integer_value(json_object_get(j, "id")),
                json_string_value(json_object_get(j, "lease_token")));
    }
    close(fd);
    for (;;)
        pause();
}

/* Reads the child's lines until EOF. */
static size_t read_leases(int fd, leased *out, size_t cap)
{
    char buf[8192];
    size_t len = 0;
    ssize_t n;
    while ((n = read(fd, buf + len, sizeof buf - 1 - len)) != 0) {
        if (n < 0 && errno == EINTR) continue;
        cr_assert_gt(n, 0, "read from the worker: %s", strerror(errno));
        len += (size_t)n;
    }
    buf[len] = '\0';
    size_t count = 0;
    for (char *save, *line = strtok_r(buf, "\n", &save); line && count < cap;
         line = strtok_r(NULL, "\n", &save)) {
        long long id;
        cr_assert_eq(sscanf(line, "%lld %159s", &id, out[count].token), 2);
        out[count++].id = id;
    }
    return count;
}

static bool has_id(const leased *v, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].id == id) return true;
    return false;
}

/* Completes jobs (id + token) as agent a in one batch; all must be ok. */
static void complete_all(th_server *s, const it_agent *a, const leased *v,
                         size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:I,s:s,s:{s:b}}", "id",
                                             (json_int_t)v[i].id, "lease_token",
                                             v[i].token, "result", "ok", 1));
    json_t *body = json_pack("{s:o}", "jobs", arr);
    char *text = json_dumps(body, JSON_COMPACT);
    json_t *r = it_call(s, "POST", "/v1/jobs/complete", text, a->token, 200);
    json_t *res = json_object_get(r, "results"), *it;
    size_t i;
    cr_assert_eq(json_array_size(res), n);
    json_array_foreach(res, i, it) cr_assert(
        json_is_true(json_object_get(it, "ok")), "complete of job %lld: %s",
        (long long)v[i].id, json_dumps(it, JSON_COMPACT));
    json_decref(r);
    json_decref(body);
    free(text);
}

/* Leases as a, appending to out; returns how many came. */
static size_t lease_into(th_server *s, const it_agent *a, int wait_ms,
                         leased *out, size_t have, size_t cap,
                         int expect_attempt)
{
    char *body = it_body("{s:i,s:i,s:i}", "max", 100, "lease_seconds", 60,
                         "wait_ms", wait_ms);
    json_t *r = it_call(s, "POST", "/v1/jobs/lease", body, a->token, 200);
    json_t *arr = json_object_get(r, "jobs"), *j;
    size_t i;
    json_array_foreach(arr, i, j)
    {
        cr_assert_lt(have, cap, "more jobs leased than exist");
        out[have].id = json_integer_value(json_object_get(j, "id"));
        snprintf(out[have].token, sizeof out[have].token, "%s",
                 json_string_value(json_object_get(j, "lease_token")));
        cr_assert_eq(json_integer_value(json_object_get(j, "attempt")),
                     expect_attempt, "job %lld: attempt",
                     (long long)out[have].id);
        have++;
    }
    size_t n = json_array_size(arr);
    json_decref(r);
    free(body);
    return n;
}

/* POST /v1/jobs/{id}/VERB with an old token as key; returns the status
 * and the error code. */
static int old_token_call(th_server *s, const char *verb, const leased *l,
                          const char *key, char *code, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld/%s", (long long)l->id, verb);
    char *body = it_body("{s:s}", "lease_token", l->token);
    int status;
    json_t *r = it_try_json(s, "POST", path, body, key, &status);
    const char *c =
        json_string_value(json_object_get(json_object_get(r, "error"), "code"));
    snprintf(code, cap, "%s", c ? c : "");
    json_decref(r);
    free(body);
    return status;
}

Test(integration_crash, killed_workers_leases_come_back)
{
    th_server s;
    th_server_start(&s, NULL);
    it_agent dead, live;
    it_register(&s, "doomed", "cruncher", "crunch", &dead);
    it_register(&s, "rescuer", "cruncher", "crunch", &live);
    json_t *arr = json_array();
    for (int i = 0; i < 20; i++)
        json_array_append_new(arr, json_pack("{s:s,s:s,s:{s:i}}", "type",
                                             "crunch", "target_agent",
                                             "cruncher", "payload", "i", i));
    json_t *jobs = json_pack("{s:o}", "jobs", arr);
    char *text = json_dumps(jobs, JSON_COMPACT);
    json_decref(it_call(&s, "POST", "/v1/jobs", text, s.key, 201));
    json_decref(jobs);
    free(text);

    char *body = it_body("{s:i,s:i,s:i}", "max", 10, "lease_seconds", LEASE_S,
                         "wait_ms", 0);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    int64_t t_before = it_mono_ms();
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        lease_child(&s, &dead, body, fds[1]);
    }
    close(fds[1]);
    leased held[10];
    size_t nheld = read_leases(fds[0], held, 10);
    int64_t t_leased = it_mono_ms();
    close(fds[0]);
    kill(pid, SIGKILL);
    int wst;
    cr_assert_eq(waitpid(pid, &wst, 0), pid);
    cr_assert(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL,
              "the worker died on its own (status %d) before the kill", wst);
    free(body);
    cr_assert_eq(nheld, 10, "the worker leased %zu jobs, not 10", nheld);

    /* The other 10 are free at once; none of the dead worker's. */
    leased other[20];
    size_t nother = lease_into(&s, &live, 0, other, 0, 20, 1);
    cr_assert_eq(nother, 10);
    for (size_t i = 0; i < nother; i++)
        cr_assert(!has_id(held, nheld, other[i].id),
                  "job %lld came back while its lease held",
                  (long long)other[i].id);
    complete_all(&s, &live, other, nother);

    /* Long-poll until the dead worker's jobs come back. */
    leased back[20];
    size_t nback = 0;
    int64_t t_first = 0, deadline = t_leased + LEASE_S * 1000 + 3000;
    while (nback < nheld && it_mono_ms() < deadline) {
        size_t n = lease_into(&s, &live, 1000, back, nback, 20, 2);
        if (n && !t_first) t_first = it_mono_ms();
        nback += n;
    }
    int64_t t_all = it_mono_ms();
    cr_assert_eq(nback, nheld,
                 "%zu of the killed worker's %zu jobs came back within "
                 "%d s + 3 s",
                 nback, nheld, LEASE_S);
    cr_assert_geq(t_first, t_before + LEASE_S * 1000 - 100,
                  "jobs came back %lld ms after the lease began, before its "
                  "%d s were over",
                  (long long)(t_first - t_before), LEASE_S);
    cr_assert_leq(t_all, deadline);
    for (size_t i = 0; i < nback; i++)
        cr_assert(has_id(held, nheld, back[i].id),
                  "job %lld was not the dead worker's", (long long)back[i].id);

    /* The dead worker's tokens are refused, with the admin key (the store
     * checks the token) and with its own agent token (no longer the lease
     * owner). */
    for (size_t i = 0; i < nheld; i++) {
        char code[64];
        int st =
            old_token_call(&s, "complete", &held[i], s.key, code, sizeof code);
        cr_assert(st == 409 && !strcmp(code, "lease_lost"),
                  "old token, complete: %d %s", st, code);
        st =
            old_token_call(&s, "heartbeat", &held[i], s.key, code, sizeof code);
        cr_assert(st == 409 && !strcmp(code, "lease_lost"),
                  "old token, heartbeat: %d %s", st, code);
        st = old_token_call(&s, "complete", &held[i], dead.token, code,
                            sizeof code);
        cr_assert(st == 403 || (st == 409 && !strcmp(code, "lease_lost")),
                  "dead agent, old token: %d %s", st, code);
    }
    complete_all(&s, &live, back, nback);
    for (size_t i = 0; i < nheld; i++) {
        char code[64];
        int st =
            old_token_call(&s, "complete", &held[i], s.key, code, sizeof code);
        cr_assert(st == 409 && !strcmp(code, "lease_lost"),
                  "old token after completion: %d %s", st, code);
        char path[64];
        snprintf(path, sizeof path, "/v1/jobs/%lld", (long long)held[i].id);
        json_t *j = it_call(&s, "GET", path, NULL, s.key, 200);
        cr_assert_str_eq(json_string_value(json_object_get(j, "state")),
                         "completed");
        cr_assert_eq(json_integer_value(json_object_get(j, "attempts")), 2);
        json_decref(j);
    }
    cr_assert_eq(it_state_count(&s, "completed"), 20);
    printf("lease rescue: first jobs back %lld-%lld ms after the %d s lease "
           "began, all %lld ms\n",
           (long long)(t_first - t_leased), (long long)(t_first - t_before),
           LEASE_S, (long long)(t_all - t_before));
    fflush(stdout);
    th_server_cleanup(&s);
}

/* ---- SIGTERM is graceful ------------------------------------------------ */

typedef struct longpoll {
    th_server *s;
    const it_agent *a;
    int status;
    char body[512];
    int64_t done_at;
} longpoll;

static void *longpoll_main(void *arg)
{
    longpoll *lp = arg;
    char body[] = "{\"max\":10,\"lease_seconds\":30,\"wait_ms\":20000}";
    char *r = th_http(lp->s, "POST", "/v1/jobs/lease", body, lp->a->token,
                      &lp->status);
    lp->done_at = it_mono_ms();
    snprintf(lp->body, sizeof lp->body, "%s", r);
    free(r);
    return NULL;
}

#define HAMMER_BATCH 20

/* Enqueues batches of HAMMER_BATCH "hammer" jobs across the shutdown;
 * status[r] is what batch r was answered (payload {"r": r}). */
typedef struct hammer {
    th_server *s;
    atomic_bool *stop;
    int *status;
    size_t n, cap;
    size_t ok, unavailable, closed, other;
    int other_status;
    char other_body[256];
} hammer;

static char *hammer_batch(size_t r)
{
    json_t *arr = json_array();
    for (int i = 0; i < HAMMER_BATCH; i++) {
        char key[64];
        snprintf(key, sizeof key, "term-%zu-%d", r, i);
        json_array_append_new(arr, json_pack("{s:s,s:s,s:{s:I},s:s}", "type",
                                             "hammer", "target_agent",
                                             "elsewhere", "payload", "r",
                                             (json_int_t)r, "unique_key", key));
    }
    json_t *body = json_pack("{s:o}", "jobs", arr);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
}

/* Sends batches until told to stop or the server is long gone. */
static void *hammer_main(void *arg)
{
    hammer *h = arg;
    while (!atomic_load(h->stop) && h->closed < 50) {
        int st;
        char *body = hammer_batch(h->n);
        char *r = th_http(h->s, "POST", "/v1/jobs", body, h->s->key, &st);
        free(body);
        if (h->n == h->cap) {
            h->cap = h->cap ? h->cap * 2 : 256;
            h->status = realloc(h->status, h->cap * sizeof *h->status);
        }
        h->status[h->n++] = st;
        if (st == 201) {
            h->ok++;
        } else if (st == 503) {
            h->unavailable++;
        } else if (st == 0) {
            h->closed++;
        } else {
            h->other++;
            h->other_status = st;
            snprintf(h->other_body, sizeof h->other_body, "%s", r);
        }
        free(r);
    }
    return NULL;
}

/* After the restart: a batch answered 201 is all there, any other is not
 * there at all.  Returns how many hammer jobs are stored. */
static size_t hammer_check(th_server *s, const hammer *h)
{
    size_t *count = calloc(h->n + 1, sizeof *count), total = 0;
    char path[128], cursor[32] = "";
    for (;;) {
        snprintf(path, sizeof path, "/v1/jobs?type=hammer&limit=1000%s%s",
                 cursor[0] ? "&cursor=" : "", cursor);
        json_t *page = it_call(s, "GET", path, NULL, s->key, 200), *j;
        size_t i;
        json_array_foreach(json_object_get(page, "jobs"), i, j)
        {
            json_int_t r = json_integer_value(
                json_object_get(json_object_get(j, "payload"), "r"));
            cr_assert(r >= 0 && (size_t)r < h->n, "unknown hammer job");
            count[r]++;
            total++;
        }
        const char *next =
            json_string_value(json_object_get(page, "next_cursor"));
        snprintf(cursor, sizeof cursor, "%s", next ? next : "");
        json_decref(page);
        if (!next) break;
    }
    for (size_t r = 0; r < h->n; r++) {
        size_t want = h->status[r] == 201 ? HAMMER_BATCH : 0;
        cr_assert_eq(count[r], want,
                     "batch %zu was answered %d but %zu of its %d jobs are "
                     "stored",
                     r, h->status[r], count[r], HAMMER_BATCH);
    }
    free(count);
    return total;
}

/* Waits until n workers are blocked in a long-poll (stats counters). */
static void wait_waiters(th_server *s, int n)
{
    int64_t deadline = it_mono_ms() + 10000;
    for (;;) {
        json_t *st = it_call(s, "GET", "/v1/queue/stats", NULL, s->key, 200);
        json_int_t w = json_integer_value(
            json_object_get(json_object_get(st, "counters"), "waiters"));
        json_decref(st);
        if (w >= n) return;
        cr_assert_lt(it_mono_ms(), deadline, "the long-poll never blocked");
        it_sleep_ms(10);
    }
}

Test(integration_crash, sigterm_is_graceful)
{
    th_server s;
    th_server_start(&s, NULL);
    it_agent idle;
    it_register(&s, "idle", "sleeper", "never-enqueued", &idle);
    int64_t ids[5];
    for (int i = 0; i < 5; i++) {
        char *b = it_body("{s:s,s:s,s:{s:i}}", "type", "kept", "target_agent",
                          "elsewhere", "payload", "i", i);
        json_t *j = it_call(&s, "POST", "/v1/jobs", b, s.key, 201);
        ids[i] = json_integer_value(json_object_get(j, "id"));
        json_decref(j);
        free(b);
    }

    longpoll lp = {.s = &s, .a = &idle};
    atomic_bool stop;
    atomic_init(&stop, false);
    hammer h = {.s = &s, .stop = &stop};
    pthread_t tl, th;
    cr_assert_eq(pthread_create(&tl, NULL, longpoll_main, &lp), 0);
    wait_waiters(&s, 1);
    cr_assert_eq(pthread_create(&th, NULL, hammer_main, &h), 0);
    it_sleep_ms(100); /* the hammer is going */

    int64_t t_term = it_mono_ms();
    int code = th_server_stop(&s);
    int64_t t_exit = it_mono_ms();
    pthread_join(tl, NULL);
    atomic_store(&stop, true);
    pthread_join(th, NULL);

    cr_assert_eq(code, 0, "the server exited with %d after SIGTERM", code);
    cr_assert_lt(t_exit - t_term, 5000, "shutdown took %lld ms",
                 (long long)(t_exit - t_term));
    cr_assert_lt(lp.done_at - t_term, 5000,
                 "the 20 s long-poll ended %lld ms after SIGTERM",
                 (long long)(lp.done_at - t_term));
    cr_assert_eq(h.other, 0,
                 "a request during shutdown got %d (only 503 or a closed "
                 "connection allowed): %s",
                 h.other_status, h.other_body);
    cr_assert_gt(h.ok, 0);

    th_server_restart(&s);
    for (int i = 0; i < 5; i++) {
        char path[64];
        snprintf(path, sizeof path, "/v1/jobs/%" PRId64, ids[i]);
        json_t *j = it_call(&s, "GET", path, NULL, s.key, 200);
        cr_assert_str_eq(json_string_value(json_object_get(j, "state")),
                         "pending");
        cr_assert_eq(json_integer_value(
                         json_object_get(json_object_get(j, "payload"), "i")),
                     i);
        json_decref(j);
    }
    size_t stored = hammer_check(&s, &h);
    cr_assert_eq(it_state_count(&s, "pending"), (int64_t)(5 + stored));
    printf("sigterm: shutdown %lld ms; concurrent batch enqueues: %zu 201, "
           "%zu 503, %zu closed\n",
           (long long)(t_exit - t_term), h.ok, h.unavailable, h.closed);
    free(h.status);
    fflush(stdout);
    /* Issue 2, graceful shutdown: "finish in-flight requests": a long-poll
     * in flight at SIGTERM ends like one whose wait ran out, 200 with an
     * empty list (checked last so a failure here still shows the rest). */
    json_t *got = json_loads(lp.body, 0, NULL);
    cr_assert(lp.status == 200 &&
                  json_array_size(json_object_get(got, "jobs")) == 0 &&
                  json_is_array(json_object_get(got, "jobs")),
              "the in-flight long-poll got %d %s (want 200 {\"jobs\":[]})",
              lp.status, lp.body);
    json_decref(got);
    th_server_cleanup(&s);
}
