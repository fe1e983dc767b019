/*
 * test_python_agent.c - external agents in Python, through the client in
 * clients/python/flowstate_agent.py (standard library only), against the
 * real server on loopback:
 *
 *   a_python_agent_processes_jobs_and_outlives_its_handlers
 *       tests/integration/python_agent_test.py (one worker thread) runs as
 *       a child process with the server's URL and admin key in its
 *       environment; it registers itself and then:
 *         echo jobs complete with their results;
 *         a handler that raises fails its job with the exception's text
 *           (retried while attempts remain), FatalJobError without retry;
 *         a handler that hangs past its job's timeout_ms fails it "timed
 *           out after 1.5 s", and the next jobs still complete (the stuck
 *           worker thread was replaced);
 *         a job cancelled mid-handler raises job.cancelled (its lease
 *           heartbeat gets 409);
 *         memory add/search, a delegated job (parent_id set) and
 *           versioned state work from inside handlers;
 *         SIGTERM while a handler hangs: exit 0 within 5 s, the job handed
 *           back ("worker shutting down") instead of left leased.
 *
 *   the_example_agent_enriches_leads
 *       clients/python/example_agent.py --url --key-file normalises a
 *       lead, stores its memory note, fails a lead without an e-mail for
 *       good, and stops on SIGTERM with exit 0.
 *
 * Skipped when no python3 is on PATH (scripts/setup.sh test installs it).
 * The Python child dies with the test (PR_SET_PDEATHSIG); its output is in
 * the server's folder (py.log) and shown when a check fails.
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

#define AGENT_SCRIPT "tests/integration/python_agent_test.py"
#define EXAMPLE_SCRIPT "clients/python/example_agent.py"
#define JOB_WAIT_MS 15000
#define STOP_WITHIN_MS 5000

TestSuite(integration_python, .timeout = 60);

typedef struct py_agent {
    pid_t pid;      /* 0 once reaped */
    int status;     /* exit code once reaped, or 128 + signal */
    char log[400];  /* stdout and stderr */
} py_agent;

/* The first executable python3 on PATH, into out; false when none. */
static bool find_python(char *out, size_t cap)
{
    const char *path = getenv("PATH");
    char *copy = strdup(path && *path ? path : "/usr/bin:/bin"), *save;
    bool found = false;
    for (char *d = strtok_r(copy, ":", &save); d && !found;
         d = strtok_r(NULL, ":", &save)) {
        snprintf(out, cap, "%s/python3", *d ? d : ".");
        found = access(out, X_OK) == 0;
    }
    free(copy);
    return found;
}

/* rel (a path in the source tree) made absolute: the tree is found above
 * $FLOWSTATE_BIN (BUILD/flowstate), else it is the working folder. */
static void tree_path(char *out, size_t cap, const char *rel)
{
    const char *bin = getenv("FLOWSTATE_BIN");
    char dir[512];
    snprintf(dir, sizeof dir, "%s", bin ? bin : "");
    for (int up = 0; up < 5; up++) {
        char *slash = strrchr(dir, '/');
        if (!slash) break;
        *slash = '\0';
        snprintf(out, cap, "%s/%s", dir, rel);
        if (access(out, R_OK) == 0) return;
    }
    snprintf(out, cap, "%s", rel);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return strdup("");
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)(len > 0 ? len : 0) + 1);
    size_t n = fread(buf, 1, (size_t)(len > 0 ? len : 0), f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* The python3 to run, or the test is skipped. */
static void need_python(char *python, size_t cap)
{
    if (!find_python(python, cap))
        cr_skip_test("python3 is not on PATH (scripts/setup.sh test "
                     "installs it): the Python agent client is not tested");
}

/*
 * Starts `PYTHON SCRIPT ARGS...` (args NULL-terminated, may be NULL) with
 * FLOWSTATE_URL = the server and, when admin_env, FLOWSTATE_API_KEY = its
 * admin key.
 */
static void py_start(py_agent *p, th_server *s, const char *python,
                     const char *script, bool admin_env,
                     const char *const *args)
{
    char path[600];
    tree_path(path, sizeof path, script);
    cr_assert_eq(access(path, R_OK), 0, "%s: %s", path, strerror(errno));
    snprintf(p->log, sizeof p->log, "%s/py.log", s->dir);
    const char *argv[16] = { python, path };
    int argc = 2;
    for (; args && *args && argc < 15; args++)
        argv[argc++] = *args;
    argv[argc] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        setenv("FLOWSTATE_URL", s->url, 1);
        if (admin_env)
            setenv("FLOWSTATE_API_KEY", s->key, 1);
        else
            unsetenv("FLOWSTATE_API_KEY");
        unsetenv("FLOWSTATE_KEY_FILE");
        unsetenv("FLOWSTATE_AGENT_ID");
        unsetenv("FLOWSTATE_AGENT_TOKEN");
        /* No __pycache__ in the source tree. */
        setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
        setenv("PYTHONUNBUFFERED", "1", 1);
        execv(python, (char *const *)argv);
        _exit(127);
    }
    p->pid = pid;
    p->status = -1;
}

/* Reaps the child if it has exited; true when it is still running. */
static bool py_alive(py_agent *p)
{
    int st;
    if (!p->pid) return false;
    if (waitpid(p->pid, &st, WNOHANG) != p->pid) return true;
    p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    p->pid = 0;
    return false;
}

/* SIGTERM, then waits up to within_ms (SIGKILL after that).  Returns the
 * exit status, or -1 when it had to be killed.  OUT: *took_ms. */
static int py_stop(py_agent *p, int64_t within_ms, int64_t *took_ms)
{
    int64_t t0 = it_mono_ms();
    if (p->pid) kill(p->pid, SIGTERM);
    while (py_alive(p) && it_mono_ms() - t0 < within_ms)
        it_sleep_ms(10);
    *took_ms = it_mono_ms() - t0;
    if (!p->pid) return p->status;
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
    return -1;
}

/* Fails the test with the message, the agent's output and the end of the
 * server's log (in static storage: a failed test leaks nothing). */
static void py_fail(th_server *s, py_agent *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
static void py_fail(th_server *s, py_agent *p, const char *fmt, ...)
{
    static char msg[32768];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *out = slurp(p->log), *log = th_server_log(s);
    size_t len = strlen(log);
    if (n >= 0 && (size_t)n < sizeof msg)
        snprintf(msg + n, sizeof msg - (size_t)n,
                 "\npython agent output:\n%s\nserver stderr (end):\n%s", out,
                 log + (len > 2000 ? len - 2000 : 0));
    free(out);
    free(log);
    cr_assert_fail("%s", msg);
    abort(); /* not reached */
}

/* Enqueues a job (admin key); returns its id. */
static int64_t enqueue(th_server *s, char *body)
{
    json_t *j = it_call(s, "POST", "/v1/jobs", body, s->key, 201);
    int64_t id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    free(body);
    cr_assert_gt(id, 0);
    return id;
}

/* Polls job id until it is in `state` (the agent must stay alive);
 * returns the job (caller decrefs). */
static json_t *wait_job(th_server *s, py_agent *p, int64_t id,
                        const char *state)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%" PRId64, id);
    int64_t until = it_mono_ms() + JOB_WAIT_MS;
    for (;;) {
        json_t *j = it_call(s, "GET", path, NULL, s->key, 200);
        const char *st = json_string_value(json_object_get(j, "state"));
        if (st && strcmp(st, state) == 0) return j;
        bool gave_up = !py_alive(p) || it_mono_ms() > until;
        char *text = gave_up ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (gave_up) {
            static char job[4096];
            snprintf(job, sizeof job, "%s", text);
            free(text);
            py_fail(s, p, "job %" PRId64 " is not %s (agent %s): %s", id,
                    state, p->pid ? "running" : "exited", job);
        }
        it_sleep_ms(20);
    }
}

static const char *jstr(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "(null)";
}

static json_int_t jint(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

/* Enqueues echo {n}, waits for it and checks its result. */
static void echo(th_server *s, py_agent *p, int n, char *agent_id, size_t cap)
{
    int64_t id = enqueue(s, it_body("{s:s,s:s,s:{s:i}}", "type", "echo",
                                    "target_agent", "pyagent", "payload", "n",
                                    n));
    json_t *j = wait_job(s, p, id, "completed");
    json_t *r = json_object_get(j, "result");
    cr_assert_eq(jint(r, "n"), n);
    cr_assert_eq(jint(r, "doubled"), 2 * n);
    cr_assert_eq(jint(r, "attempt"), 1);
    cr_assert_str_neq(jstr(r, "agent"), "(null)");
    if (agent_id) snprintf(agent_id, cap, "%s", jstr(r, "agent"));
    json_decref(j);
}

/* A job that fails for good: checks its error and attempts. */
static void expect_failed(th_server *s, py_agent *p, int64_t id,
                          const char *error, int attempts)
{
    json_t *j = wait_job(s, p, id, "failed");
    cr_assert_str_eq(jstr(j, "last_error"), error, "job %" PRId64, id);
    cr_assert_eq(jint(j, "attempts"), attempts, "job %" PRId64, id);
    json_decref(j);
}

/* A job enqueued and seen running (leased by the agent). */
static int64_t running_job(th_server *s, py_agent *p, char *body)
{
    int64_t id = enqueue(s, body);
    json_decref(wait_job(s, p, id, "running"));
    return id;
}

/* The delegate, remember and count jobs: the helpers inside handlers. */
static void handler_helpers(th_server *s, py_agent *p)
{
    int64_t del = enqueue(s, it_body("{s:s,s:s,s:{s:i}}", "type", "delegate",
                                     "target_agent", "pyagent", "payload",
                                     "n", 9));
    json_t *j = wait_job(s, p, del, "completed");
    int64_t child = jint(json_object_get(j, "result"), "child");
    json_decref(j);
    cr_assert_gt(child, del);
    j = wait_job(s, p, child, "completed");
    cr_assert_eq(jint(j, "parent_id"), del, "the child's parent is the job");
    cr_assert_eq(jint(json_object_get(j, "result"), "doubled"), 18);
    json_decref(j);

    int64_t mem = enqueue(s, it_body("{s:s,s:s,s:{s:s}}", "type", "remember",
                                     "target_agent", "pyagent", "payload",
                                     "text", "Acme asked for a refund"));
    j = wait_job(s, p, mem, "completed");
    json_t *r = json_object_get(j, "result");
    cr_assert_gt(jint(r, "id"), 0);
    cr_assert(json_is_true(json_object_get(r, "found")),
              "memory_search finds what memory_add stored");
    json_decref(j);

    json_int_t version = 0;
    for (int i = 1; i <= 2; i++) {
        int64_t id = enqueue(s, it_body("{s:s,s:s}", "type", "count",
                                        "target_agent", "pyagent"));
        j = wait_job(s, p, id, "completed");
        r = json_object_get(j, "result");
        cr_assert_eq(jint(r, "count"), i);
        if (version) cr_assert_eq(jint(r, "version"), version + 1);
        version = jint(r, "version");
        json_decref(j);
    }
}

/* Cancels a running "watch" job; its handler sees job.cancelled and
 * records it in the agent's state, which we poll. */
static void cancel_seen(th_server *s, py_agent *p, const char *agent_id)
{
    int64_t id = running_job(s, p, it_body("{s:s,s:s,s:i}", "type", "watch",
                                           "target_agent", "pyagent",
                                           "timeout_ms", 1500));
    char path[300];
    snprintf(path, sizeof path, "/v1/jobs/%" PRId64 "/cancel", id);
    json_decref(it_call(s, "POST", path, "", s->key, 200));
    snprintf(path, sizeof path, "/v1/agents/%s/state", agent_id);
    for (int64_t until = it_mono_ms() + JOB_WAIT_MS;; it_sleep_ms(20)) {
        int st;
        json_t *v = it_try_json(s, "GET", path, NULL, s->key, &st);
        json_t *state = json_object_get(v, "state");
        bool seen = st == 200 && jint(state, "cancelled") == id;
        if (seen)
            cr_assert_str_eq(jstr(state, "reason"), "lease lost");
        json_decref(v);
        if (seen) break;
        if (!py_alive(p) || it_mono_ms() > until)
            py_fail(s, p, "the handler of cancelled job %" PRId64
                          " never saw job.cancelled", id);
    }
}

Test(integration_python,
     a_python_agent_processes_jobs_and_outlives_its_handlers)
{
    char python[512];
    need_python(python, sizeof python);
    th_server s;
    th_server_start(&s, NULL);
    py_agent p;
    py_start(&p, &s, python, AGENT_SCRIPT, true, NULL);
    char agent_id[128];
    for (int n = 1; n <= 3; n++)
        echo(&s, &p, n, agent_id, sizeof agent_id);

    /* A crash, with and without retry: the worker lives on. */
    expect_failed(&s, &p,
                  enqueue(&s, it_body("{s:s,s:s,s:{s:i},s:i}", "type",
                                      "crash", "target_agent", "pyagent",
                                      "payload", "lead", 7, "max_attempts",
                                      1)),
                  "RuntimeError: boom on lead 7", 1);
    expect_failed(&s, &p,
                  enqueue(&s, it_body("{s:s,s:s}", "type", "fatal",
                                      "target_agent", "pyagent")),
                  "bad input: no e-mail", 1);
    echo(&s, &p, 4, NULL, 0);

    /* A hang past the job's timeout: failed, and the only worker thread
     * is replaced, so later jobs still run. */
    int64_t t0 = it_mono_ms();
    expect_failed(&s, &p,
                  enqueue(&s, it_body("{s:s,s:s,s:i,s:i}", "type", "hang",
                                      "target_agent", "pyagent", "timeout_ms",
                                      1500, "max_attempts", 1)),
                  "timed out after 1.5 s", 1);
    cr_assert_geq(it_mono_ms() - t0, 1400, "not before its timeout");
    echo(&s, &p, 5, NULL, 0);

    cancel_seen(&s, &p, agent_id);
    handler_helpers(&s, &p);

    /* SIGTERM while a handler hangs: the job is handed back, exit 0. */
    int64_t hung = running_job(&s, &p,
                               it_body("{s:s,s:s}", "type", "hang",
                                       "target_agent", "pyagent"));
    int64_t took;
    int rc = py_stop(&p, STOP_WITHIN_MS, &took);
    if (rc != 0)
        py_fail(&s, &p, "SIGTERM: exit %d after %" PRId64 " ms (-1: killed "
                        "after %d ms)", rc, took, STOP_WITHIN_MS);
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%" PRId64, hung);
    json_t *j = it_call(&s, "GET", path, NULL, s.key, 200);
    const char *st = jstr(j, "state");
    cr_assert(strcmp(st, "pending") == 0 || strcmp(st, "scheduled") == 0,
              "the unfinished job goes back to the queue, not %s", st);
    cr_assert_str_eq(jstr(j, "last_error"), "worker shutting down");
    json_decref(j);
    th_server_cleanup(&s);
}

Test(integration_python, the_example_agent_enriches_leads)
{
    char python[512];
    need_python(python, sizeof python);
    th_server s;
    th_server_start(&s, NULL);
    py_agent p;
    py_start(&p, &s, python, EXAMPLE_SCRIPT, false,
             (const char *const[]){ "--url", s.url, "--key-file", s.key_file,
                                    "--concurrency", "2", NULL });
    int64_t id = enqueue(&s, it_body(
        "{s:s,s:s,s:{s:s,s:s,s:s}}", "type", "enrich_lead", "target_agent",
        "enricher", "payload", "name", " jane   DOE ", "email",
        "  Jane.Doe@Example.COM ", "phone", "(555) 010-2030"));
    int64_t bad = enqueue(&s, it_body("{s:s,s:s,s:{s:s}}", "type",
                                      "enrich_lead", "target_agent",
                                      "enricher", "payload", "email", "nope"));
    json_t *j = wait_job(&s, &p, id, "completed");
    json_t *r = json_object_get(j, "result");
    cr_assert_str_eq(jstr(r, "name"), "Jane Doe");
    cr_assert_str_eq(jstr(r, "email"), "jane.doe@example.com");
    cr_assert_str_eq(jstr(r, "domain"), "example.com");
    cr_assert_str_eq(jstr(r, "company"), "Example");
    cr_assert_str_eq(jstr(r, "phone"), "+15550102030");
    char path[64];
    snprintf(path, sizeof path, "/v1/memory/%" JSON_INTEGER_FORMAT,
             jint(r, "memory_id"));
    json_decref(j);
    json_t *doc = it_call(&s, "GET", path, NULL, s.key, 200);
    cr_assert(strstr(jstr(doc, "content"), "<jane.doe@example.com>"),
              "the memory note: %s", jstr(doc, "content"));
    json_decref(doc);

    expect_failed(&s, &p, bad, "lead has no valid e-mail: 'nope'", 1);

    int64_t took;
    int rc = py_stop(&p, STOP_WITHIN_MS, &took);
    if (rc != 0)
        py_fail(&s, &p, "SIGTERM: exit %d after %" PRId64 " ms", rc, took);
    th_server_cleanup(&s);
}
