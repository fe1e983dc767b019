/*
 * test_metrics.c - what operators read: /metrics and the log.
 *
 *   metrics_count_completed_jobs_and_wait_times
 *       after 7 jobs complete (and 2 stay pending), GET /metrics is
 *       Prometheus text (0.0.4): every sample line parses, the job gauges
 *       and counters hold the right numbers, and flowstate_job_wait_seconds
 *       is a histogram with cumulative buckets that counted the 7 leases.
 *   log_has_one_line_per_request_and_no_secrets (text and JSON formats)
 *       with --log-level info, every request made (X-Request-Id of each
 *       response) has exactly one line carrying its request id, method,
 *       path and status; every job has its state changes logged with its
 *       id (the enqueue line with the id of the request that enqueued it);
 *       and neither the admin key, an agent token, a lease token nor a
 *       rejected bearer secret appears anywhere in the log.
 *
 * The log is read after the server stopped (SIGTERM), so every line it
 * was going to write is there.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "integration/it.h"

TestSuite(integration_metrics, .timeout = 60);

#define DONE 7
#define LEFT 2
#define MAX_REQS 64

/* Every request the scenario made, by request id. */
typedef struct req_log {
    char id[64];
    char line[160]; /* "METHOD PATH STATUS" as the log should show it */
} req_log;

typedef struct scenario {
    th_server s;
    it_agent agent;
    req_log reqs[MAX_REQS];
    size_t nreqs;
    size_t enqueue_req; /* index in reqs of the POST /v1/jobs */
    char lease_tokens[DONE][160];
    int64_t job_ids[DONE + LEFT];
} scenario;

/* One request, recorded; status must be expect; returns the JSON body
 * (NULL when it is not JSON, e.g. /metrics) and, if text is given, the raw
 * body (caller frees). */
static json_t *req(scenario *sc, const char *method, const char *path,
                   const char *body, const char *key, int expect, char **text)
{
    th_request rq = {.method = method,
                     .path = path,
                     .body = body,
                     .body_len = body ? strlen(body) : 0,
                     .key = key};
    th_response r;
    th_http_ex(&sc->s, &rq, &r);
    cr_assert_eq(r.status, expect, "%s %s: %d, want %d: %s", method, path,
                 r.status, expect, r.body);
    cr_assert_lt(sc->nreqs, MAX_REQS);
    req_log *l = &sc->reqs[sc->nreqs++];
    cr_assert(th_header(&r, "X-Request-Id", l->id, sizeof l->id),
              "%s %s: no X-Request-Id", method, path);
    cr_assert(l->id[0]);
    snprintf(l->line, sizeof l->line, "%s %s %d", method, path, expect);
    json_t *v = json_loads(r.body, JSON_DECODE_ANY, NULL);
    if (text)
        *text = r.body;
    else
        free(r.body);
    free(r.headers);
    return v;
}

/* Registers an agent, enqueues DONE + LEFT jobs, leases and completes
 * DONE of them. */
static void run_scenario(scenario *sc, const char *extra)
{
    memset(sc, 0, sizeof *sc);
    th_server_start(&sc->s, extra);
    th_server *s = &sc->s;
    json_t *a = req(sc, "POST", "/v1/agents",
                    "{\"name\":\"m-1\",\"type\":\"metered\","
                    "\"job_types\":[\"work\"]}",
                    s->key, 201, NULL);
    snprintf(sc->agent.id, sizeof sc->agent.id, "%s",
             json_string_value(json_object_get(a, "id")));
    snprintf(sc->agent.token, sizeof sc->agent.token, "%s",
             json_string_value(json_object_get(a, "token")));
    json_decref(a);
    json_t *arr = json_array();
    for (int i = 0; i < DONE + LEFT; i++)
        json_array_append_new(arr, json_pack("{s:s,s:s,s:{s:i}}", "type",
                                             i < DONE ? "work" : "idle",
                                             "target_agent", "metered",
                                             "payload", "i", i));
    json_t *body = json_pack("{s:o}", "jobs", arr);
    char *text = json_dumps(body, JSON_COMPACT);
    sc->enqueue_req = sc->nreqs;
    json_t *made = req(sc, "POST", "/v1/jobs", text, s->key, 201, NULL);
    for (int i = 0; i < DONE + LEFT; i++)
        sc->job_ids[i] = json_integer_value(json_object_get(
            json_array_get(json_object_get(made, "jobs"), (size_t)i), "id"));
    json_decref(made);
    json_decref(body);
    free(text);

    json_t *l =
        req(sc, "POST", "/v1/jobs/lease", "{\"max\":50,\"lease_seconds\":30}",
            sc->agent.token, 200, NULL);
    json_t *jobs = json_object_get(l, "jobs");
    cr_assert_eq(json_array_size(jobs), DONE);
    for (size_t i = 0; i < DONE; i++) {
        json_t *j = json_array_get(jobs, i);
        const char *tok = json_string_value(json_object_get(j, "lease_token"));
        snprintf(sc->lease_tokens[i], sizeof sc->lease_tokens[i], "%s", tok);
        char path[64], *b = it_body("{s:s,s:{s:b}}", "lease_token", tok,
                                    "result", "ok", 1);
        snprintf(path, sizeof path, "/v1/jobs/%lld/complete",
                 (long long)json_integer_value(json_object_get(j, "id")));
        json_decref(req(sc, "POST", path, b, sc->agent.token, 200, NULL));
        free(b);
    }
    json_decref(l);
}

/* The value of the sample line "name value" (exact name incl. labels). */
static double sample(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; p && *p;
         p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, name, n) == 0 && p[n] == ' ') return strtod(p + n, NULL);
    cr_assert_fail("no sample %s in /metrics:\n%s", name, text);
    return 0;
}

/* Every line is a comment (# HELP / # TYPE) or "name{labels} number". */
static void assert_prometheus_text(const char *text)
{
    char line[512];
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        cr_assert_lt(len, sizeof line, "overlong metrics line");
        memcpy(line, p, len);
        line[len] = '\0';
        p += len + (p[len] == '\n');
        if (!len) continue;
        if (line[0] == '#') {
            cr_assert(!strncmp(line, "# HELP ", 7) ||
                          !strncmp(line, "# TYPE ", 7),
                      "bad comment line: %s", line);
            continue;
        }
        const char *q = line;
        cr_assert(isalpha((unsigned char)*q) || *q == '_', "bad line: %s",
                  line);
        while (isalnum((unsigned char)*q) || *q == '_' || *q == ':')
            q++;
        if (*q == '{') {
            q = strchr(q, '}');
            cr_assert(q, "unclosed labels: %s", line);
            q++;
        }
        cr_assert_eq(*q, ' ', "no value: %s", line);
        char *end;
        strtod(q + 1, &end);
        cr_assert(end != q + 1 && *end == '\0', "bad value: %s", line);
    }
}

Test(integration_metrics, metrics_count_completed_jobs_and_wait_times)
{
    scenario sc;
    run_scenario(&sc, NULL);
    th_request rq = {.method = "GET", .path = "/metrics", .key = sc.s.key};
    th_response r;
    th_http_ex(&sc.s, &rq, &r);
    cr_assert_eq(r.status, 200, "/metrics: %d %s", r.status, r.body);
    char ctype[128];
    cr_assert(th_header(&r, "Content-Type", ctype, sizeof ctype));
    cr_assert(strstr(ctype, "text/plain") && strstr(ctype, "version=0.0.4"),
              "Content-Type: %s", ctype);
    const char *m = r.body;
    assert_prometheus_text(m);

    cr_assert_eq(sample(m, "flowstate_jobs{state=\"completed\"}"), DONE);
    cr_assert_eq(sample(m, "flowstate_jobs{state=\"pending\"}"), LEFT);
    cr_assert_eq(sample(m, "flowstate_jobs{state=\"running\"}"), 0);
    cr_assert_eq(sample(m, "flowstate_jobs_by_type{type=\"work\","
                           "state=\"completed\"}"),
                 DONE);
    cr_assert_eq(sample(m, "flowstate_leases_active"), 0);
    cr_assert_eq(sample(m, "flowstate_jobs_enqueued_total"), DONE + LEFT);
    cr_assert_eq(sample(m, "flowstate_jobs_leased_total"), DONE);
    cr_assert_eq(sample(m, "flowstate_jobs_completed_total"), DONE);

    cr_assert(strstr(m, "# TYPE flowstate_job_wait_seconds histogram\n"),
              "no wait histogram:\n%s", m);
    cr_assert_eq(sample(m, "flowstate_job_wait_seconds_count"), DONE);
    cr_assert_eq(sample(m, "flowstate_job_wait_seconds_bucket{le=\"+Inf\"}"),
                 DONE);
    cr_assert_geq(sample(m, "flowstate_job_wait_seconds_sum"), 0);
    /* Buckets are cumulative: never decreasing, ending at the count. */
    double prev = 0;
    size_t buckets = 0;
    for (const char *p = strstr(m, "flowstate_job_wait_seconds_bucket{"); p;
         p = strstr(p + 1, "flowstate_job_wait_seconds_bucket{")) {
        double v = strtod(strchr(p, ' ') + 1, NULL);
        cr_assert_geq(v, prev, "bucket counts decrease: %.40s", p);
        prev = v;
        buckets++;
    }
    cr_assert_gt(buckets, 2);
    cr_assert(strstr(m, "# TYPE flowstate_job_run_seconds histogram\n"));
    cr_assert_eq(sample(m, "flowstate_job_run_seconds_count"), DONE);
    cr_assert(strstr(m, "# TYPE flowstate_http_request_duration_seconds "
                        "histogram\n"));
    th_response_free(&r);
    th_server_cleanup(&sc.s);
}

/* One log line, in either format: its request id and job id (if any) and
 * the text to search (the message for JSON, the whole line for text). */
typedef struct log_line {
    char req[64];
    long long job;
    char text[1024];
} log_line;

/* Reads the log line at p (len bytes); false when it does not parse. */
static bool log_parse(const char *p, size_t len, bool json, log_line *l)
{
    memset(l, 0, sizeof *l);
    if (!json) {
        snprintf(l->text, sizeof l->text, "%.*s", (int)len, p);
        const char *r = strstr(l->text, " req="), *j = strstr(l->text, " job=");
        if (r) sscanf(r + 5, "%63[^ ]", l->req);
        if (j) l->job = atoll(j + 5);
        return true;
    }
    json_t *v = json_loadb(p, len, 0, NULL);
    if (!json_is_object(v)) return false;
    const char *r = json_string_value(json_object_get(v, "request_id"));
    const char *m = json_string_value(json_object_get(v, "msg"));
    snprintf(l->req, sizeof l->req, "%s", r ? r : "");
    l->job = json_integer_value(json_object_get(v, "job_id"));
    snprintf(l->text, sizeof l->text, "%s", m ? m : "");
    json_decref(v);
    return true;
}

/* What the log says about the scenario: per request, how many request
 * lines (no job id) carry its id and whether it says "METHOD PATH STATUS";
 * per job, its state-change lines and whether the enqueue one names the
 * request that enqueued it. */
typedef struct log_tally {
    size_t lines[MAX_REQS];
    bool says[MAX_REQS];
    size_t job_lines[DONE + LEFT];
    bool enqueue_has_req[DONE + LEFT];
} log_tally;

static void log_count(const scenario *sc, const char *log, bool json,
                      log_tally *t)
{
    memset(t, 0, sizeof *t);
    for (const char *p = log; *p;) {
        size_t len = strcspn(p, "\n");
        log_line l;
        cr_assert(log_parse(p, len, json, &l), "not a JSON log line: %.*s",
                  (int)len, p);
        p += len + (p[len] == '\n');
        for (size_t i = 0; i < sc->nreqs && !l.job; i++) {
            if (strcmp(l.req, sc->reqs[i].id)) continue;
            char what[200];
            snprintf(what, sizeof what, "%s ", sc->reqs[i].line);
            t->lines[i]++;
            t->says[i] = strstr(l.text, what) != NULL;
        }
        for (int i = 0; i < DONE + LEFT && l.job; i++) {
            if (l.job != sc->job_ids[i]) continue;
            t->job_lines[i]++;
            if (strstr(l.text, "enqueued") &&
                !strcmp(l.req, sc->reqs[sc->enqueue_req].id))
                t->enqueue_has_req[i] = true;
        }
    }
}

/* The checks shared by both log formats. */
static void assert_log(scenario *sc, const char *log, bool json)
{
    log_tally t;
    log_count(sc, log, json, &t);
    for (size_t i = 0; i < sc->nreqs; i++) {
        cr_assert_eq(t.lines[i], 1,
                     "request %s (%s): %zu request lines, want 1:\n%s",
                     sc->reqs[i].id, sc->reqs[i].line, t.lines[i], log);
        cr_assert(t.says[i], "the line of request %s does not say \"%s\":\n%s",
                  sc->reqs[i].id, sc->reqs[i].line, log);
    }
    for (int i = 0; i < DONE + LEFT; i++) {
        size_t want = i < DONE ? 3 : 1; /* enqueued, leased, completed */
        cr_assert_geq(t.job_lines[i], want,
                      "job %lld: fewer than %zu state-change lines:\n%s",
                      (long long)sc->job_ids[i], want, log);
        cr_assert(t.enqueue_has_req[i],
                  "job %lld: no \"enqueued\" line with the request id of "
                  "its POST /v1/jobs:\n%s",
                  (long long)sc->job_ids[i], log);
    }
    cr_assert(!strstr(log, sc->s.key), "the admin key is in the log");
    cr_assert(!strstr(log, sc->agent.token), "an agent token is in the log");
    for (int i = 0; i < DONE; i++)
        cr_assert(!strstr(log, sc->lease_tokens[i]),
                  "a lease token is in the log");
    cr_assert(!strstr(log, "not-the-key-s3cr3t"),
              "a rejected bearer secret is in the log");
}

/* Runs the scenario with the given log format and checks the log. */
static void log_case(bool json)
{
    scenario sc;
    run_scenario(&sc, json ? "--log-level info --log-format json"
                           : "--log-level info");
    /* A wrong key and an agent token where it is not allowed: refused, and
     * neither secret may be logged. */
    json_decref(
        req(&sc, "GET", "/v1/jobs", NULL, "not-the-key-s3cr3t", 401, NULL));
    json_decref(
        req(&sc, "GET", "/v1/queue/stats", NULL, sc.agent.token, 403, NULL));
    json_decref(req(&sc, "GET", "/v1/queue/stats", NULL, sc.s.key, 200, NULL));
    cr_assert_eq(th_server_stop(&sc.s), 0);
    char *log = th_server_log(&sc.s);
    if (json) {
        for (const char *p = log; *p;) {
            size_t len = strcspn(p, "\n");
            json_error_t e;
            json_t *v = json_loadb(p, len, 0, &e);
            cr_assert(json_is_object(v), "not a JSON log line: %.*s", (int)len,
                      p);
            cr_assert(json_is_string(json_object_get(v, "time")) &&
                          json_is_string(json_object_get(v, "level")) &&
                          json_is_string(json_object_get(v, "msg")),
                      "log line without time/level/msg: %.*s", (int)len, p);
            json_decref(v);
            p += len + (p[len] == '\n');
        }
    }
    assert_log(&sc, log, json);
    free(log);
    th_server_cleanup(&sc.s);
}

Test(integration_metrics, log_has_one_line_per_request_and_no_secrets)
{
    log_case(false);
}

Test(integration_metrics, json_log_has_one_line_per_request_and_no_secrets)
{
    log_case(true);
}
