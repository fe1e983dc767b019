/*
 * test_api.c - the HTTP/JSON API, black box: each test starts the real
 * `flowstate serve` on a free loopback port (tests/support/harness.h) and
 * speaks HTTP to it over a socket.
 *
 * One test per route group, then the bad-input table: every case must get
 * its status and error code, and GET /v1/queue/stats, the job list and the
 * agent list must be byte-for-byte what they were before it.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support/harness.h"

static th_server srv;

static void setup(void) { th_server_start(&srv, NULL); }
/* Every test ends with a clean SIGTERM exit: under ASan/UBSan a leak or
 * undefined behaviour in the server fails the test that caused it. */
static void teardown(void)
{
    if (srv.pid > 0) {
        int code = th_server_stop(&srv);
        if (code != 0) {
            char *log = th_server_log(&srv);
            cr_expect_eq(code, 0, "server exit %d; stderr:\n%s", code, log);
            free(log);
        }
    }
    th_server_cleanup(&srv);
}

TestSuite(http, .init = setup, .fini = teardown, .timeout = 120);

/* --- helpers ---------------------------------------------------------------- */

/* Request expecting a status; returns the parsed JSON body (or NULL). */
static json_t *req(const char *method, const char *path, const char *body,
                   const char *key, int want)
{
    int status;
    char *text = th_http(&srv, method, path, body, key, &status);
    cr_assert_eq(status, want, "%s %s: want %d, got %d: %s", method, path,
                 want, status, text);
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    free(text);
    return v;
}

static const char *sget(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static json_int_t iget(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static const char *err_code(json_t *o)
{
    return sget(json_object_get(o, "error"), "code");
}

/* Registers an agent; OUT: id and token (caller frees). */
static void agent_new(const char *name, const char *type, const char *types,
                      char **id, char **token)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"type\":\"%s\",\"job_types\":%s}", name, type,
             types);
    json_t *a = req("POST", "/v1/agents", body, srv.key, 201);
    *id = strdup(sget(a, "id"));
    *token = strdup(sget(a, "token"));
    json_decref(a);
}

/* Enqueues one job; returns its id. */
static json_int_t job_new(const char *type, const char *target)
{
    char body[512];
    snprintf(body, sizeof body, "{\"type\":\"%s\",\"target_agent\":\"%s\"}",
             type, target);
    json_t *j = req("POST", "/v1/jobs", body, srv.key, 201);
    json_int_t id = iget(j, "id");
    json_decref(j);
    return id;
}

/* Leases one job with key (an agent token); OUT: lease token (caller
 * frees).  Returns the job id. */
static json_int_t lease_one(const char *key, const char *body, char **token)
{
    json_t *r = req("POST", "/v1/jobs/lease", body, key, 200);
    json_t *jobs = json_object_get(r, "jobs");
    cr_assert_eq(json_array_size(jobs), 1, "lease got %zu jobs",
                 json_array_size(jobs));
    json_t *j = json_array_get(jobs, 0);
    *token = strdup(sget(j, "lease_token"));
    json_int_t id = iget(j, "id");
    json_decref(r);
    return id;
}

/* --- health, auth, routing ------------------------------------------------- */

Test(http, health_needs_no_key_and_reports_version)
{
    th_request rq = { .method = "GET", .path = "/v1/health" };
    th_response r;
    th_http_ex(&srv, &rq, &r);
    cr_assert_eq(r.status, 200);
    json_t *h = json_loads(r.body, 0, NULL);
    cr_assert_str_eq(sget(h, "status"), "ok");
    cr_assert_str_eq(sget(h, "version"), "0.1.0");
    cr_assert_str_eq(sget(h, "store"), "sqlite");
    cr_assert(json_is_integer(json_object_get(h, "uptime_s")));
    char id[64], ctype[64];
    cr_assert(th_header(&r, "X-Request-Id", id, sizeof id));
    cr_assert_geq(strlen(id), 8);
    cr_assert(th_header(&r, "Content-Type", ctype, sizeof ctype));
    cr_assert_str_eq(ctype, "application/json");
    json_decref(h);
    th_response_free(&r);
}

Test(http, admin_key_file_is_0600_and_fsk_prefixed)
{
    struct stat st;
    cr_assert_eq(stat(srv.key_file, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(strncmp(srv.key, "fsk_", 4), 0);
    cr_assert_eq(strlen(srv.key), 52);
}

Test(http, auth_401_without_or_with_a_wrong_key)
{
    th_request rq = { .method = "GET", .path = "/v1/jobs" };
    th_response r;
    th_http_ex(&srv, &rq, &r);
    cr_assert_eq(r.status, 401);
    char www[64];
    cr_assert(th_header(&r, "WWW-Authenticate", www, sizeof www));
    cr_assert_str_eq(www, "Bearer");
    th_response_free(&r);

    json_t *e = req("GET", "/v1/jobs", NULL, "fsk_wrong", 401);
    cr_assert_str_eq(err_code(e), "unauthorized");
    json_decref(e);
    e = req("GET", "/v1/jobs", NULL, "fsa_0000", 401);
    cr_assert_str_eq(err_code(e), "unauthorized");
    json_decref(e);
    const char *basic[] = { "Authorization: Basic Zm9vOmJhcg==", NULL };
    th_request rb = { .method = "GET", .path = "/v1/jobs" };
    memcpy(rb.headers, basic, sizeof basic);
    th_http_ex(&srv, &rb, &r);
    cr_assert_eq(r.status, 401);
    th_response_free(&r);
    json_decref(req("GET", "/v1/jobs", NULL, srv.key, 200));
}

Test(http, agent_token_403_on_admin_routes)
{
    char *id, *tok;
    agent_new("w1", "worker", "[]", &id, &tok);
    json_t *e = req("GET", "/v1/agents", NULL, tok, 403);
    cr_assert_str_eq(err_code(e), "forbidden");
    json_decref(e);
    json_decref(req("GET", "/v1/jobs", NULL, tok, 403));
    json_decref(req("GET", "/v1/queue/stats", NULL, tok, 403));
    json_decref(req("GET", "/metrics", NULL, tok, 403));
    json_decref(req("POST", "/v1/jobs/1/cancel", NULL, tok, 403));
    /* but its own record is fine, and it may hand work to other agents */
    json_decref(req("POST", "/v1/jobs", "{\"type\":\"a\",\"target_agent\":\"b\"}",
                    tok, 201));
    char path[128];
    snprintf(path, sizeof path, "/v1/agents/%s", id);
    json_t *a = req("GET", path, NULL, tok, 200);
    cr_assert_str_eq(sget(a, "id"), id);
    json_decref(a);
    free(id);
    free(tok);
}

Test(http, unknown_route_404_wrong_method_405_with_allow)
{
    json_t *e = req("GET", "/v1/nope", NULL, srv.key, 404);
    cr_assert_str_eq(err_code(e), "not_found");
    json_decref(e);
    th_request rq = { .method = "DELETE", .path = "/v1/jobs", .key = srv.key };
    th_response r;
    th_http_ex(&srv, &rq, &r);
    cr_assert_eq(r.status, 405);
    char allow[64];
    cr_assert(th_header(&r, "Allow", allow, sizeof allow));
    cr_assert(strstr(allow, "GET") && strstr(allow, "POST"), "Allow: %s", allow);
    th_response_free(&r);
    /* a literal segment beats {id}: GET /v1/jobs/lease is 405, not 404 */
    e = req("GET", "/v1/jobs/lease", NULL, srv.key, 405);
    cr_assert_str_eq(err_code(e), "method_not_allowed");
    json_decref(e);
    json_decref(req("GET", "/v1/jobs/abc", NULL, srv.key, 404));
    json_decref(req("GET", "/v1/jobs/999", NULL, srv.key, 404));
}

Test(http, body_over_limit_413_with_and_without_expect)
{
    size_t n = (1u << 20) + 100;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[n] = '\0';
    big[0] = '{';
    big[n - 1] = '}';
    const char *noexpect[] = { "Expect:", NULL };
    for (int mode = 0; mode < 3; mode++) {
        th_request rq = { .method = "POST", .path = "/v1/jobs", .body = big,
                          .body_len = n, .key = srv.key, .chunked = mode == 2 };
        if (mode == 1) memcpy(rq.headers, noexpect, sizeof noexpect);
        th_response r;
        th_http_ex(&srv, &rq, &r);
        cr_assert_eq(r.status, 413, "mode %d: %d %s", mode, r.status, r.body);
        json_t *e = json_loads(r.body, 0, NULL);
        cr_assert_str_eq(err_code(e), "body_too_large");
        json_decref(e);
        th_response_free(&r);
    }
    free(big);
    /* the server is still fine */
    json_decref(req("GET", "/v1/health", NULL, NULL, 200));
}

/* --- agents ------------------------------------------------------------------ */

Test(http, agents_register_list_get_heartbeat)
{
    json_t *a = req("POST", "/v1/agents",
                    "{\"name\":\"mailer\",\"type\":\"email\",\"job_types\":"
                    "[\"send\",\"bounce\"],\"metadata\":{\"zone\":\"eu\"}}",
                    srv.key, 201);
    const char *id = sget(a, "id");
    cr_assert_eq(strncmp(id, "ag_", 3), 0);
    cr_assert_eq(strncmp(sget(a, "token"), "fsa_", 4), 0);
    cr_assert_str_eq(sget(a, "name"), "mailer");
    cr_assert_str_eq(sget(a, "type"), "email");
    cr_assert_eq(json_array_size(json_object_get(a, "job_types")), 2);
    cr_assert_str_eq(sget(json_object_get(a, "metadata"), "zone"), "eu");
    cr_assert_str_eq(sget(a, "status"), "online");
    cr_assert(json_is_string(json_object_get(a, "created_at")));
    cr_assert(json_is_string(json_object_get(a, "last_heartbeat")));

    json_t *l = req("GET", "/v1/agents", NULL, srv.key, 200);
    json_t *agents = json_object_get(l, "agents");
    cr_assert_eq(json_array_size(agents), 1);
    cr_assert_str_eq(sget(json_array_get(agents, 0), "id"), id);
    cr_assert_null(json_object_get(json_array_get(agents, 0), "token"));
    json_decref(l);

    char path[128];
    snprintf(path, sizeof path, "/v1/agents/%s", id);
    json_t *g = req("GET", path, NULL, srv.key, 200);
    cr_assert_str_eq(sget(g, "name"), "mailer");
    cr_assert_null(json_object_get(g, "token"));
    json_decref(g);
    snprintf(path, sizeof path, "/v1/agents/%s/heartbeat", id);
    g = req("POST", path, NULL, sget(a, "token"), 200);
    cr_assert_str_eq(sget(g, "id"), id);
    json_decref(g);
    json_decref(req("GET", "/v1/agents/ag_nope", NULL, srv.key, 404));
    json_decref(req("POST", "/v1/agents/ag_nope/heartbeat", NULL, srv.key, 404));

    json_t *e = req("POST", "/v1/agents", "{\"type\":\"x\"}", srv.key, 400);
    cr_assert_str_eq(err_code(e), "missing_field");
    cr_assert_str_eq(sget(json_object_get(e, "error"), "field"), "name");
    json_decref(e);
    json_decref(a);
}

Test(http, agent_state_versions_and_409_on_stale_version)
{
    char *id, *tok, *id2, *tok2, path[160], vpath[160];
    agent_new("learner", "learning", "[]", &id, &tok);
    agent_new("other", "learning", "[]", &id2, &tok2);
    snprintf(path, sizeof path, "/v1/agents/%s/state", id);
    snprintf(vpath, sizeof vpath, "/v1/agents/%s/state/versions", id);

    json_t *e = req("GET", path, NULL, tok, 404); /* no state yet */
    cr_assert_str_eq(err_code(e), "not_found");
    json_decref(e);
    json_t *s = req("PUT", path, "{\"state\":{\"w\":1},\"expected_version\":0}",
                    tok, 200);
    cr_assert_eq(iget(s, "version"), 1);
    cr_assert_str_eq(sget(s, "agent_id"), id);
    json_decref(s);
    s = req("PUT", path, "{\"state\":{\"w\":2},\"expected_version\":1}", tok, 200);
    cr_assert_eq(iget(s, "version"), 2);
    json_decref(s);
    e = req("PUT", path, "{\"state\":{\"w\":3},\"expected_version\":1}", tok, 409);
    cr_assert_str_eq(err_code(e), "version_conflict");
    cr_assert_eq(iget(json_object_get(e, "error"), "current_version"), 2);
    json_decref(e);

    /* If-Match carries the version too */
    const char *im[] = { "If-Match: \"1\"", NULL };
    th_request rq = { .method = "PUT", .path = path,
                      .body = "{\"state\":{\"w\":3}}", .key = tok };
    rq.body_len = strlen(rq.body);
    memcpy(rq.headers, im, sizeof im);
    th_response r;
    th_http_ex(&srv, &rq, &r);
    cr_assert_eq(r.status, 409, "%s", r.body);
    th_response_free(&r);
    im[0] = "If-Match: \"2\"";
    memcpy(rq.headers, im, sizeof im);
    th_http_ex(&srv, &rq, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    th_response_free(&r);
    /* no version at all: unconditional */
    json_decref(req("PUT", path, "{\"state\":{\"w\":4}}", srv.key, 200));

    s = req("GET", path, NULL, tok, 200);
    cr_assert_eq(iget(s, "version"), 4);
    cr_assert_eq(iget(json_object_get(s, "state"), "w"), 4);
    json_decref(s);
    char v1[200];
    snprintf(v1, sizeof v1, "%s?version=1", path);
    s = req("GET", v1, NULL, tok, 200);
    cr_assert_eq(iget(json_object_get(s, "state"), "w"), 1);
    json_decref(s);
    snprintf(v1, sizeof v1, "%s?version=9", path);
    json_decref(req("GET", v1, NULL, tok, 404));

    s = req("GET", vpath, NULL, tok, 200);
    json_t *vs = json_object_get(s, "versions");
    cr_assert_eq(json_array_size(vs), 4);
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_array_get(vs, i);
        cr_assert_eq(iget(v, "version"), (json_int_t)i + 1);
        cr_assert_eq(iget(json_object_get(v, "state"), "w"), (json_int_t)i + 1);
        cr_assert(json_is_string(json_object_get(v, "created_at")));
    }
    json_decref(s);

    /* another agent's token may not read or write it */
    json_decref(req("GET", path, NULL, tok2, 403));
    json_decref(req("PUT", path, "{\"state\":{}}", tok2, 403));
    json_decref(req("GET", vpath, NULL, tok2, 403));
    free(id), free(tok), free(id2), free(tok2);
}

/* --- jobs -------------------------------------------------------------------- */

Test(http, job_enqueue_and_get_render_the_contract)
{
    json_t *j = req("POST", "/v1/jobs",
                    "{\"type\":\"email\",\"target_agent\":\"mailer\","
                    "\"payload\":{\"to\":\"a@b\"},\"priority\":5,"
                    "\"max_attempts\":3,\"timeout_ms\":5000}",
                    srv.key, 201);
    json_int_t id = iget(j, "id");
    cr_assert_gt(id, 0);
    cr_assert_str_eq(sget(j, "state"), "pending");
    json_decref(j);
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld", (long long)id);
    j = req("GET", path, NULL, srv.key, 200);
    cr_assert_eq(iget(j, "id"), id);
    cr_assert_str_eq(sget(j, "type"), "email");
    cr_assert_str_eq(sget(j, "target_agent"), "mailer");
    cr_assert(json_is_object(json_object_get(j, "payload")));
    cr_assert_str_eq(sget(json_object_get(j, "payload"), "to"), "a@b");
    cr_assert_eq(iget(j, "priority"), 5);
    cr_assert_eq(iget(j, "attempts"), 0);
    cr_assert_eq(iget(j, "max_attempts"), 3);
    cr_assert_eq(iget(j, "timeout_ms"), 5000);
    const char *run_at = sget(j, "run_at");
    cr_assert(run_at && strlen(run_at) == 24 && run_at[23] == 'Z', "%s", run_at);
    const char *nulls[] = { "unique_key", "result", "last_error", "parent_id",
                            "lease_owner", "lease_expires_at", "started_at",
                            "finished_at" };
    for (size_t i = 0; i < sizeof nulls / sizeof *nulls; i++)
        cr_assert(json_is_null(json_object_get(j, nulls[i])), "%s", nulls[i]);
    cr_assert(json_is_string(json_object_get(j, "created_at")));
    cr_assert(json_is_string(json_object_get(j, "updated_at")));
    cr_assert_null(json_object_get(j, "lease_token"));
    json_decref(j);

    j = req("POST", "/v1/jobs",
            "{\"type\":\"later\",\"target_agent\":\"x\","
            "\"run_at\":\"2099-01-01T00:00:00Z\",\"parent_id\":1}",
            srv.key, 201);
    cr_assert_str_eq(sget(j, "state"), "scheduled");
    cr_assert_str_eq(sget(j, "run_at"), "2099-01-01T00:00:00.000Z");
    cr_assert_eq(iget(j, "parent_id"), 1);
    json_decref(j);
}

Test(http, reals_keep_their_shortest_form)
{
    int status;
    char *r = th_http(&srv, "POST", "/v1/jobs",
                      "{\"type\":\"t\",\"target_agent\":\"x\",\"payload\":"
                      "{\"a\":0.1,\"b\":3.14,\"c\":-2.5e-300,\"d\":1}}",
                      srv.key, &status);
    cr_assert_eq(status, 201, "%s", r);
    cr_assert(strstr(r, "\"payload\":{\"a\":0.1,\"b\":3.14,\"c\":-2.5e-300,"
                        "\"d\":1}"), "%s", r);
    json_t *j = json_loads(r, 0, NULL);
    cr_assert_eq(json_real_value(json_object_get(json_object_get(j, "payload"),
                                                 "a")), 0.1);
    json_decref(j);
    free(r);
}

Test(http, unique_key_returns_200_with_the_same_job)
{
    const char *body = "{\"type\":\"t\",\"target_agent\":\"x\","
                       "\"unique_key\":\"order-42\"}";
    json_t *a = req("POST", "/v1/jobs", body, srv.key, 201);
    json_t *b = req("POST", "/v1/jobs", body, srv.key, 200);
    cr_assert_eq(iget(a, "id"), iget(b, "id"));
    cr_assert_str_eq(sget(b, "unique_key"), "order-42");
    json_decref(a);
    json_decref(b);
    json_t *l = req("GET", "/v1/jobs", NULL, srv.key, 200);
    cr_assert_eq(json_array_size(json_object_get(l, "jobs")), 1);
    json_decref(l);
}

Test(http, batch_enqueue_is_all_or_nothing)
{
    json_t *r = req("POST", "/v1/jobs",
                    "{\"jobs\":[{\"type\":\"a\",\"target_agent\":\"x\"},"
                    "{\"type\":\"b\",\"target_agent\":\"x\",\"priority\":2},"
                    "{\"type\":\"c\",\"target_agent\":\"y\"}]}",
                    srv.key, 201);
    json_t *jobs = json_object_get(r, "jobs");
    cr_assert_eq(json_array_size(jobs), 3);
    cr_assert_str_eq(sget(json_array_get(jobs, 1), "type"), "b");
    json_decref(r);
    json_t *e = req("POST", "/v1/jobs",
                    "{\"jobs\":[{\"type\":\"a\",\"target_agent\":\"x\"},"
                    "{\"type\":\"b\",\"target_agent\":\"x\",\"priority\":\"hi\"}]}",
                    srv.key, 400);
    cr_assert_str_eq(err_code(e), "invalid_field");
    cr_assert_str_eq(sget(json_object_get(e, "error"), "field"),
                     "jobs[1].priority");
    json_decref(e);
    json_t *l = req("GET", "/v1/jobs", NULL, srv.key, 200);
    cr_assert_eq(json_array_size(json_object_get(l, "jobs")), 3);
    json_decref(l);
}

Test(http, job_list_filters_and_cursor_pages)
{
    json_int_t ids[7];
    for (int i = 0; i < 7; i++) ids[i] = job_new(i % 2 ? "odd" : "even", "x");
    char path[128], cursor[32] = "";
    int seen = 0;
    for (int page = 0; page < 10; page++) {
        snprintf(path, sizeof path, "/v1/jobs?limit=3%s%s",
                 cursor[0] ? "&cursor=" : "", cursor);
        json_t *l = req("GET", path, NULL, srv.key, 200);
        json_t *jobs = json_object_get(l, "jobs");
        for (size_t i = 0; i < json_array_size(jobs); i++, seen++)
            cr_assert_eq(iget(json_array_get(jobs, i), "id"), ids[6 - seen],
                         "newest first");
        json_t *next = json_object_get(l, "next_cursor");
        if (json_is_null(next)) {
            json_decref(l);
            break;
        }
        cr_assert(json_is_string(next));
        snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
        json_decref(l);
    }
    cr_assert_eq(seen, 7);

    json_t *l = req("GET", "/v1/jobs?type=odd", NULL, srv.key, 200);
    cr_assert_eq(json_array_size(json_object_get(l, "jobs")), 3);
    json_decref(l);
    l = req("GET", "/v1/jobs?state=pending&target_agent=x", NULL, srv.key, 200);
    cr_assert_eq(json_array_size(json_object_get(l, "jobs")), 7);
    json_decref(l);
    l = req("GET", "/v1/jobs?state=completed", NULL, srv.key, 200);
    cr_assert_eq(json_array_size(json_object_get(l, "jobs")), 0);
    cr_assert(json_is_null(json_object_get(l, "next_cursor")));
    json_decref(l);
    json_t *e = req("GET", "/v1/jobs?limit=1001", NULL, srv.key, 400);
    cr_assert_str_eq(sget(json_object_get(e, "error"), "field"), "limit");
    json_decref(e);
}

Test(http, cancel_and_retry_with_409_when_not_allowed)
{
    json_int_t id = job_new("t", "x");
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld/retry", (long long)id);
    json_t *e = req("POST", path, NULL, srv.key, 409);
    cr_assert_str_eq(err_code(e), "invalid_state");
    json_decref(e);
    snprintf(path, sizeof path, "/v1/jobs/%lld/cancel", (long long)id);
    json_t *j = req("POST", path, NULL, srv.key, 200);
    cr_assert_str_eq(sget(j, "state"), "cancelled");
    json_decref(j);
    e = req("POST", path, NULL, srv.key, 409);
    cr_assert_str_eq(err_code(e), "invalid_state");
    json_decref(e);
    snprintf(path, sizeof path, "/v1/jobs/%lld/retry", (long long)id);
    j = req("POST", path, NULL, srv.key, 200);
    cr_assert_str_eq(sget(j, "state"), "pending");
    cr_assert_eq(iget(j, "attempts"), 0);
    json_decref(j);
    json_decref(req("POST", "/v1/jobs/424242/cancel", NULL, srv.key, 404));
}

Test(http, queue_stats_counts_every_state)
{
    job_new("a", "x");
    job_new("a", "x");
    job_new("b", "x");
    json_t *s = req("GET", "/v1/queue/stats", NULL, srv.key, 200);
    json_t *st = json_object_get(s, "states");
    const char *names[] = { "pending", "scheduled", "running", "completed",
                            "failed", "cancelled" };
    for (int i = 0; i < 6; i++)
        cr_assert(json_is_integer(json_object_get(st, names[i])), "%s", names[i]);
    cr_assert_eq(iget(st, "pending"), 3);
    json_t *types = json_object_get(s, "types");
    cr_assert_eq(json_array_size(types), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *t = json_array_get(types, i);
        cr_assert_eq(iget(t, "pending"),
                     strcmp(sget(t, "type"), "a") == 0 ? 2 : 1);
        cr_assert(json_is_integer(json_object_get(t, "oldest_pending_age_ms")));
    }
    cr_assert_eq(iget(json_object_get(s, "counters"), "enqueued"), 3);
    json_decref(s);
}

Test(http, metrics_are_prometheus_text)
{
    job_new("a", "x");
    json_decref(req("GET", "/v1/health", NULL, NULL, 200));
    th_request rq = { .method = "GET", .path = "/metrics", .key = srv.key };
    th_response r;
    th_http_ex(&srv, &rq, &r);
    cr_assert_eq(r.status, 200);
    char ctype[80];
    cr_assert(th_header(&r, "Content-Type", ctype, sizeof ctype));
    cr_assert(strstr(ctype, "text/plain") && strstr(ctype, "version=0.0.4"));
    const char *want[] = {
        "flowstate_jobs{state=\"pending\"} 1",
        "flowstate_jobs{state=\"failed\"} 0",
        "flowstate_jobs_by_type{type=\"a\",state=\"pending\"} 1",
        "flowstate_leases_active 0",
        "flowstate_jobs_enqueued_total 1",
        "flowstate_jobs_leased_total 0",
        "flowstate_jobs_completed_total",
        "flowstate_jobs_failed_total",
        "flowstate_jobs_retried_total",
        "flowstate_jobs_dead_total",
        "flowstate_jobs_rescued_total",
        "flowstate_jobs_cancelled_total",
        "flowstate_queue_waiters 0",
        "flowstate_job_wait_seconds_bucket{le=\"+Inf\"}",
        "flowstate_job_run_seconds_count",
        "flowstate_http_request_duration_seconds_count",
        "flowstate_http_requests_total{code=\"200\"}",
        "flowstate_http_requests_total{code=\"201\"} 1",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        cr_assert(strstr(r.body, want[i]), "missing %s in\n%s", want[i], r.body);
    th_response_free(&r);
}

/* --- worker protocol --------------------------------------------------------- */

Test(http, lease_heartbeat_complete_with_lease_tokens)
{
    char *id, *tok, *lt, path[96];
    agent_new("w", "worker", "[\"resize\"]", &id, &tok);
    job_new("other", "worker"); /* not in its job_types */
    json_int_t jid = job_new("resize", "worker");
    json_t *r = req("POST", "/v1/jobs/lease",
                    "{\"max\":10,\"lease_seconds\":30,\"wait_ms\":0}", tok, 200);
    json_t *jobs = json_object_get(r, "jobs");
    cr_assert_eq(json_array_size(jobs), 1, "types default to job_types");
    json_t *j = json_array_get(jobs, 0);
    cr_assert_eq(iget(j, "id"), jid);
    cr_assert_eq(iget(j, "attempt"), 1);
    cr_assert_str_eq(sget(j, "state"), "running");
    cr_assert_str_eq(sget(j, "lease_owner"), id);
    cr_assert(json_is_string(json_object_get(j, "lease_expires_at")));
    lt = strdup(sget(j, "lease_token"));
    json_decref(r);

    /* GET never shows the lease token */
    snprintf(path, sizeof path, "/v1/jobs/%lld", (long long)jid);
    j = req("GET", path, NULL, srv.key, 200);
    cr_assert_null(json_object_get(j, "lease_token"));
    json_decref(j);

    char body[256];
    snprintf(path, sizeof path, "/v1/jobs/%lld/heartbeat", (long long)jid);
    snprintf(body, sizeof body, "{\"lease_token\":\"%s\",\"lease_seconds\":60}", lt);
    j = req("POST", path, body, tok, 200);
    cr_assert_eq(iget(j, "id"), jid);
    cr_assert(json_is_string(json_object_get(j, "lease_expires_at")));
    json_decref(j);
    json_t *e = req("POST", path, "{\"lease_token\":\"nope\"}", tok, 409);
    cr_assert_str_eq(err_code(e), "lease_lost");
    json_decref(e);

    snprintf(path, sizeof path, "/v1/jobs/%lld/complete", (long long)jid);
    snprintf(body, sizeof body,
             "{\"lease_token\":\"%s\",\"result\":{\"w\":640,\"h\":480}}", lt);
    j = req("POST", path, body, tok, 200);
    cr_assert_str_eq(sget(j, "state"), "completed");
    cr_assert_eq(iget(json_object_get(j, "result"), "w"), 640);
    cr_assert(json_is_string(json_object_get(j, "finished_at")));
    cr_assert_null(json_object_get(j, "lease_token"));
    json_decref(j);
    e = req("POST", path, body, tok, 409); /* twice: the lease is gone */
    cr_assert_str_eq(err_code(e), "lease_lost");
    json_decref(e);
    free(id), free(tok), free(lt);
}

Test(http, fail_dead_letters_or_retries)
{
    char *id, *tok, *lt, path[96], body[256];
    agent_new("w", "worker", "[]", &id, &tok);
    json_int_t jid = job_new("t", "worker");
    cr_assert_eq(lease_one(tok, "{}", &lt), jid);
    snprintf(path, sizeof path, "/v1/jobs/%lld/fail", (long long)jid);
    snprintf(body, sizeof body,
             "{\"lease_token\":\"%s\",\"error\":\"boom\",\"retry\":false}", lt);
    json_t *j = req("POST", path, body, tok, 200);
    cr_assert_str_eq(sget(j, "state"), "failed");
    cr_assert_str_eq(sget(j, "last_error"), "boom");
    json_decref(j);
    free(lt);

    snprintf(path, sizeof path, "/v1/jobs/%lld/retry", (long long)jid);
    json_decref(req("POST", path, NULL, srv.key, 200));
    cr_assert_eq(lease_one(tok, "{}", &lt), jid);
    snprintf(path, sizeof path, "/v1/jobs/%lld/fail", (long long)jid);
    snprintf(body, sizeof body, "{\"lease_token\":\"%s\",\"error\":\"again\"}", lt);
    j = req("POST", path, body, tok, 200);
    cr_assert_str_eq(sget(j, "state"), "scheduled", "retry defaults to true");
    cr_assert_eq(iget(j, "attempts"), 1);
    json_decref(j);
    free(id), free(tok), free(lt);
}

Test(http, batch_complete_reports_each_item)
{
    char *id, *tok;
    agent_new("w", "worker", "[]", &id, &tok);
    for (int i = 0; i < 3; i++) job_new("t", "worker");
    json_t *r = req("POST", "/v1/jobs/lease", "{\"max\":3}", tok, 200);
    json_t *jobs = json_object_get(r, "jobs");
    cr_assert_eq(json_array_size(jobs), 3);
    json_t *items = json_array();
    for (size_t i = 0; i < 3; i++) {
        json_t *j = json_array_get(jobs, i);
        json_array_append_new(
            items, json_pack("{s:I,s:s,s:i}", "id", iget(j, "id"), "lease_token",
                             i == 1 ? "wrong" : sget(j, "lease_token"),
                             "result", (int)i));
    }
    json_array_append_new(items, json_pack("{s:i,s:s}", "id", 9999,
                                           "lease_token", "x"));
    json_t *batch = json_pack("{s:o}", "jobs", items);
    char *body = json_dumps(batch, JSON_COMPACT);
    json_decref(batch);
    json_t *c = req("POST", "/v1/jobs/complete", body, tok, 200);
    json_t *res = json_object_get(c, "results");
    cr_assert_eq(json_array_size(res), 4);
    cr_assert(json_is_true(json_object_get(json_array_get(res, 0), "ok")));
    cr_assert(json_is_false(json_object_get(json_array_get(res, 1), "ok")));
    cr_assert_str_eq(err_code(json_array_get(res, 1)), "lease_lost");
    cr_assert(json_is_true(json_object_get(json_array_get(res, 2), "ok")));
    cr_assert_str_eq(err_code(json_array_get(res, 3)), "not_found");
    json_t *s = req("GET", "/v1/queue/stats", NULL, srv.key, 200);
    cr_assert_eq(iget(json_object_get(s, "states"), "completed"), 2);
    cr_assert_eq(iget(json_object_get(s, "states"), "running"), 1);
    json_decref(s);
    json_decref(c);
    free(body);
    json_decref(r);
    free(id), free(tok);
}

Test(http, admin_lease_needs_a_registered_agent_id)
{
    char *id, *tok, body[160];
    agent_new("w", "worker", "[]", &id, &tok);
    job_new("t", "worker");
    json_t *e = req("POST", "/v1/jobs/lease", "{}", srv.key, 400);
    cr_assert_str_eq(err_code(e), "missing_field");
    json_decref(e);
    e = req("POST", "/v1/jobs/lease", "{\"agent_id\":\"ag_ghost\"}", srv.key, 404);
    cr_assert_str_eq(err_code(e), "not_found");
    json_decref(e);
    snprintf(body, sizeof body, "{\"agent_id\":\"%s\",\"types\":[\"t\"]}", id);
    json_t *r = req("POST", "/v1/jobs/lease", body, srv.key, 200);
    cr_assert_eq(json_array_size(json_object_get(r, "jobs")), 1);
    cr_assert_str_eq(sget(json_array_get(json_object_get(r, "jobs"), 0),
                          "lease_owner"), id);
    json_decref(r);
    free(id), free(tok);
}

typedef struct poll_arg {
    const char *tok;
    int status;
    size_t njobs;
    double secs;
} poll_arg;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *long_poll(void *p)
{
    poll_arg *a = p;
    double t0 = now_s();
    int status;
    json_t *r = th_json(&srv, "POST", "/v1/jobs/lease", "{\"wait_ms\":10000}",
                        a->tok, &status);
    a->secs = now_s() - t0;
    a->status = status;
    a->njobs = json_array_size(json_object_get(r, "jobs"));
    json_decref(r);
    return NULL;
}

Test(http, long_poll_wakes_when_work_arrives_and_ends_empty)
{
    char *id, *tok;
    agent_new("w", "worker", "[]", &id, &tok);
    double t0 = now_s();
    json_t *r = req("POST", "/v1/jobs/lease", "{\"wait_ms\":300}", tok, 200);
    cr_assert_eq(json_array_size(json_object_get(r, "jobs")), 0);
    cr_assert_geq(now_s() - t0, 0.25);
    json_decref(r);

    poll_arg a = { .tok = tok };
    pthread_t th;
    pthread_create(&th, NULL, long_poll, &a);
    struct timespec ts = { 0, 300 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    job_new("t", "worker");
    pthread_join(th, NULL);
    cr_assert_eq(a.status, 200);
    cr_assert_eq(a.njobs, 1);
    cr_assert_lt(a.secs, 5.0, "woken, not timed out (%.2fs)", a.secs);
    free(id), free(tok);
}

Test(http, too_many_waiting_long_polls_get_429)
{
    th_server_cleanup(&srv);
    th_server_start(&srv, "--max-long-polls 1");
    char *id, *tok;
    agent_new("w", "worker", "[]", &id, &tok);
    poll_arg a = { .tok = tok };
    pthread_t th;
    pthread_create(&th, NULL, long_poll, &a);
    struct timespec ts = { 0, 300 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    json_t *e = req("POST", "/v1/jobs/lease", "{\"wait_ms\":1000}", tok, 429);
    cr_assert_str_eq(err_code(e), "rate_limited");
    json_decref(e);
    /* a lease that does not wait is still served */
    json_decref(req("POST", "/v1/jobs/lease", "{\"wait_ms\":0}", tok, 200));
    job_new("t", "worker"); /* releases the waiting one */
    pthread_join(th, NULL);
    cr_assert_eq(a.status, 200);
    cr_assert_eq(a.njobs, 1);
    free(id), free(tok);
}

/* --- lifecycle -------------------------------------------------------------- */

Test(http, restart_keeps_jobs_and_the_admin_key)
{
    json_int_t id = job_new("t", "x");
    char key[160];
    snprintf(key, sizeof key, "%s", srv.key);
    cr_assert_eq(th_server_stop(&srv), 0, "clean exit on SIGTERM");
    th_server_restart(&srv);
    cr_assert_str_eq(srv.key, key);
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld", (long long)id);
    json_decref(req("GET", path, NULL, srv.key, 200));
    char out[400];
    snprintf(out, sizeof out, "%s/stdout.log", srv.dir);
    FILE *f = fopen(out, "r");
    char all[2048] = "";
    size_t n = fread(all, 1, sizeof all - 1, f);
    all[n] = '\0';
    fclose(f);
    cr_assert(strstr(all, "admin key written to"), "%s", all);
    cr_assert(strstr(all, "(created earlier)"), "%s", all);
    cr_assert(strstr(all, "flowstate listening on http://127.0.0.1:"), "%s", all);
}

Test(http, banner_is_printed_before_the_port_file_says_ready)
{
    /* Scripts take the port file as "listening"; the URL and the key's
     * location must be on stdout by then.  A race: the harness polls too
     * slowly to see it, so spawn the server here and poll tightly. */
    char port[400], out[400], db[400];
    snprintf(port, sizeof port, "%s/port2", srv.dir);
    snprintf(out, sizeof out, "%s/stdout2.log", srv.dir);
    snprintf(db, sizeof db, "%s/t2.db", srv.dir);
    for (int i = 0; i < 30; i++) {
        unlink(port);
        pid_t pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            dup2(fd, 1);
            unsetenv("FLOWSTATE_API_KEY");
            const char *bin = getenv("FLOWSTATE_BIN");
            execl(bin, bin, "serve", "--db", db, "--port", "0", "--port-file",
                  port, "--key-file", srv.key_file, "--log-level", "warn",
                  (char *)NULL);
            _exit(127);
        }
        while (access(port, F_OK) != 0) {
            cr_assert_eq(waitpid(pid, NULL, WNOHANG), 0, "server died");
            struct timespec ts = { 0, 100 * 1000 };
            nanosleep(&ts, NULL);
        }
        char buf[2048] = "";
        FILE *f = fopen(out, "r");
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        buf[n] = '\0';
        if (f) fclose(f);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        cr_assert(strstr(buf, "flowstate listening on"),
                  "start %d: the port file is there, the banner is not", i);
    }
}

Test(http, existing_key_file_is_never_overwritten)
{
    char key[160], path[400];
    snprintf(key, sizeof key, "%s", srv.key);
    cr_assert_eq(th_server_stop(&srv), 0);
    const char *db[] = { "t.db", "t.db-wal", "t.db-shm" };
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", srv.dir, db[i]);
        unlink(path);
    }
    th_server_restart(&srv); /* fresh database, old key file */
    cr_assert_str_eq(srv.key, key, "the key file was rewritten");
    json_decref(req("GET", "/v1/jobs", NULL, key, 200));
    char *log = th_server_log(&srv);
    cr_assert(strstr(log, "not overwriting"), "%s", log);
    free(log);
}

/* Runs `flowstate serve` on dir with key file kf and no env key, for at
 * most 10 s.  Returns its exit code (137 when it had to be killed).
 * OUT: *err, its stderr (caller frees). */
static int serve_once(const char *dir, const char *kf, char **err)
{
    char cmd[2048], path[400];
    snprintf(cmd, sizeof cmd,
             "env -u FLOWSTATE_API_KEY -u FLOWSTATE_DB -u FLOWSTATE_KEY_FILE "
             "timeout -s KILL 10 '%s' serve --db '%s/t.db' --port 0 "
             "--port-file '%s/port' --key-file '%s' >/dev/null 2>'%s/err'",
             getenv("FLOWSTATE_BIN"), dir, dir, kf, dir);
    int st = system(cmd);
    snprintf(path, sizeof path, "%s/err", dir);
    FILE *f = fopen(path, "r");
    *err = calloc(1, 8192);
    if (f) {
        size_t n = fread(*err, 1, 8191, f);
        (*err)[n] = '\0';
        fclose(f);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

Test(http, key_file_open_to_others_is_never_adopted)
{
    const mode_t modes[] = { 0644, 0620 };
    const char *key = "fsk_0123456789abcdef0123456789abcdef0123456789abcdef\n";
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        char dir[256], kf[300], *err, back[128] = "";
        snprintf(dir, sizeof dir, "%s/fs-keyfile-XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        cr_assert_not_null(mkdtemp(dir));
        snprintf(kf, sizeof kf, "%s/key", dir);
        FILE *f = fopen(kf, "w");
        fputs(key, f);
        fclose(f);
        chmod(kf, modes[i]); /* whatever the umask */
        int code = serve_once(dir, kf, &err);
        cr_expect_eq(code, 1, "mode %04o: exit %d; stderr:\n%s",
                     (unsigned)modes[i], code, err);
        cr_expect(strstr(err, kf) && strstr(err, "0600"),
                  "mode %04o: the refusal names the file and the fix:\n%s",
                  (unsigned)modes[i], err);
        f = fopen(kf, "r");
        cr_assert(f && fgets(back, sizeof back, f));
        fclose(f);
        cr_expect_str_eq(back, key, "the key file was changed");
        free(err);
        char rm[300];
        snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
        cr_assert_eq(system(rm), 0);
    }
}

Test(http, sigterm_lets_a_waiting_lease_answer)
{
    char *id, *tok;
    agent_new("w", "worker", "[]", &id, &tok);
    poll_arg a = { .tok = tok };
    pthread_t th;
    pthread_create(&th, NULL, long_poll, &a);
    struct timespec ts = { 0, 300 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    cr_assert_eq(th_server_stop(&srv), 0);
    pthread_join(th, NULL);
    cr_assert_eq(a.status, 200, "the in-flight long-poll got its answer");
    cr_assert_eq(a.njobs, 0, "like a wait that ran out");
    cr_assert_lt(a.secs, 5.0);
    free(id), free(tok);
}

Test(http, client_strings_cannot_forge_log_lines)
{
    th_server_cleanup(&srv);
    th_server_start(&srv, "--log-level info");
    /* job lines quote the type and target the client chose */
    json_decref(req("POST", "/v1/jobs",
                    "{\"type\":\"t\\n2030-01-01T00:00:00.000Z error FORGED\","
                    "\"target_agent\":\"w\\r\\u001b[2Jx\"}",
                    srv.key, 201));
    char *log = th_server_log(&srv);
    cr_assert(strstr(log, "job enqueued"), "%s", log);
    for (char *line = log, *end; (end = strchr(line, '\n')); line = end + 1) {
        cr_assert(line[0] == '2' && line[4] == '-' && line[10] == 'T',
                  "a line that does not start with a time:\n%.*s\n--- log:\n%s",
                  (int)(end - line), line, log);
        cr_assert(strncmp(line, "2030-", 5) != 0, "a forged line:\n%s", log);
        for (char *p = line; p < end; p++)
            cr_assert((unsigned char)*p >= 0x20, "control byte 0x%02x in: %.*s",
                      (unsigned char)*p, (int)(end - line), line);
    }
    free(log);
}

Test(http, env_api_key_is_the_admin_key)
{
    th_server_cleanup(&srv);
    th_server_start(&srv, "env:FLOWSTATE_API_KEY=test-key-0123456789abcdef");
    cr_assert_str_eq(srv.key, "test-key-0123456789abcdef");
    json_decref(req("GET", "/v1/jobs", NULL, srv.key, 200));
    json_decref(req("GET", "/v1/jobs", NULL, "test-key-0123456789abcdeX", 401));
    struct stat st;
    cr_assert_neq(stat(srv.key_file, &st), 0, "no key file written");
}

/* --- bad input: right 4xx, database unchanged ------------------------------ */

/* Everything observable about the database, as one string. */
static char *snapshot(void)
{
    int s1, s2, s3;
    char *stats = th_http(&srv, "GET", "/v1/queue/stats", NULL, srv.key, &s1);
    char *jobs = th_http(&srv, "GET", "/v1/jobs?limit=1000", NULL, srv.key, &s2);
    char *agents = th_http(&srv, "GET", "/v1/agents", NULL, srv.key, &s3);
    cr_assert(s1 == 200 && s2 == 200 && s3 == 200);
    /* drop what moves with the clock alone: agent status, queue ages */
    json_t *a = json_loads(agents, 0, NULL), *st = json_loads(stats, 0, NULL);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(a, "agents"), i, v)
        json_object_del(v, "status");
    json_array_foreach(json_object_get(st, "types"), i, v)
        json_object_del(v, "oldest_pending_age_ms");
    char *adump = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
    char *sdump = json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(a);
    json_decref(st);
    size_t n = strlen(sdump) + strlen(jobs) + strlen(adump) + 4;
    char *all = malloc(n);
    snprintf(all, n, "%s\n%s\n%s", sdump, jobs, adump);
    free(stats), free(jobs), free(agents), free(adump), free(sdump);
    return all;
}

typedef struct bad_case {
    const char *name;
    const char *method;
    const char *path;  /* {job} = A's leased job id, {agent} = agent A's id */
    const char *body;  /* same substitutions; NULL = no body */
    int key;           /* 0 none, 1 admin, 2 agent A, 3 agent B, 4 wrong */
    int status;
    const char *code;
} bad_case;

/* A job whose payload nests depth + 2 levels deep. */
static char *deep_json(int depth)
{
    const char *head =
        "{\"type\":\"a\",\"target_agent\":\"b\",\"payload\":{\"k\":";
    size_t n = strlen(head);
    char *s = malloc(n + (size_t)depth * 2 + 4);
    strcpy(s, head);
    for (int i = 0; i < depth; i++) s[n++] = '[';
    for (int i = 0; i < depth; i++) s[n++] = ']';
    s[n++] = '}';
    s[n++] = '}';
    s[n] = '\0';
    return s;
}

/* Copies tmpl replacing {job} and {agent}.  Caller frees. */
static char *subst(const char *tmpl, const char *job, const char *agent)
{
    size_t cap = strlen(tmpl) + 256, n = 0;
    char *out = malloc(cap);
    for (const char *p = tmpl; *p;) {
        const char *rep = NULL;
        if (strncmp(p, "{job}", 5) == 0) rep = job, p += 5;
        else if (strncmp(p, "{agent}", 7) == 0) rep = agent, p += 7;
        if (rep) {
            n += (size_t)sprintf(out + n, "%s", rep);
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    return out;
}

Test(http, bad_input_gets_the_right_4xx_and_changes_nothing)
{
    char *ida, *toka, *idb, *tokb, *lt;
    agent_new("a", "worker", "[]", &ida, &toka);
    agent_new("b", "worker", "[]", &idb, &tokb);
    json_int_t jid = job_new("t", "worker");
    cr_assert_eq(lease_one(toka, "{}", &lt), jid);
    job_new("u", "worker"); /* pending, for leases that must not take it */
    char jids[32];
    snprintf(jids, sizeof jids, "%lld", (long long)jid);
    char *deep = deep_json(100);
    char *longtype = malloc(300);
    strcpy(longtype, "{\"type\":\"");
    memset(longtype + 9, 'x', 201);
    strcpy(longtype + 210, "\",\"target_agent\":\"b\"}");
    char *big = malloc((1u << 20) + 200);
    strcpy(big, "{\"type\":\"a\",\"target_agent\":\"b\",\"payload\":{\"k\":\"");
    size_t bl = strlen(big);
    memset(big + bl, 'x', 1u << 20);
    strcpy(big + bl + (1u << 20), "\"}}");

    const bad_case cases[] = {
        { "malformed", "POST", "/v1/jobs", "{", 1, 400, "invalid_json" },
        { "truncated", "POST", "/v1/jobs",
          "{\"type\":\"a\",\"target_agent\":\"b\"", 1, 400, "invalid_json" },
        { "not an object", "POST", "/v1/jobs", "[1,2]", 1, 400, "invalid_json" },
        { "empty body", "POST", "/v1/jobs", "", 1, 400, "invalid_json" },
        { "duplicate key", "POST", "/v1/jobs",
          "{\"type\":\"a\",\"type\":\"b\",\"target_agent\":\"x\"}", 1, 400,
          "invalid_json" },
        { "invalid utf-8", "POST", "/v1/jobs",
          "{\"type\":\"\xc3\x28\",\"target_agent\":\"b\"}", 1, 400,
          "invalid_json" },
        { "100-deep nesting", "POST", "/v1/jobs", deep, 1, 400, "invalid_json" },
        { "huge real", "POST", "/v1/jobs",
          "{\"type\":\"a\",\"target_agent\":\"b\",\"priority\":1e400}", 1, 400,
          "invalid_json" },
        { "huge integer", "POST", "/v1/jobs",
          "{\"type\":\"a\",\"target_agent\":\"b\",\"priority\":"
          "99999999999999999999}", 1, 400, "invalid_json" },
        { "priority out of range", "POST", "/v1/jobs",
          "{\"type\":\"a\",\"target_agent\":\"b\",\"priority\":1000001}", 1, 400,
          "invalid_field" },
        { "float for int", "POST", "/v1/jobs",
          "{\"type\":\"a\",\"target_agent\":\"b\",\"max_attempts\":2.5}", 1, 400,
          "invalid_field" },
        { "bool for int", "POST", "/v1/jobs",
          "{\"type\":\"a\",\"target_agent\":\"b\",\"priority\":true}", 1, 400,
          "invalid_field" },
        { "string for int", "POST", "/v1/jobs",
          "{\"type\":\"a\",\"target_agent\":\"b\",\"timeout_ms\":\"5\"}", 1, 400,
          "invalid_field" },
        { "number for string", "POST", "/v1/jobs",
          "{\"type\":7,\"target_agent\":\"b\"}", 1, 400, "invalid_field" },
        { "missing type", "POST", "/v1/jobs", "{\"target_agent\":\"b\"}", 1,
          400, "missing_field" },
        { "payload not object", "POST", "/v1/jobs",
          "{\"type\":\"a\",\"target_agent\":\"b\",\"payload\":\"x\"}", 1, 400,
          "invalid_field" },
        { "bad run_at", "POST", "/v1/jobs",
          "{\"type\":\"a\",\"target_agent\":\"b\",\"run_at\":\"tomorrow\"}", 1,
          400, "invalid_field" },
        { "type too long", "POST", "/v1/jobs", longtype, 1, 400,
          "invalid_field" },
        { "batch bad item", "POST", "/v1/jobs",
          "{\"jobs\":[{\"type\":\"a\",\"target_agent\":\"b\"},{\"type\":\"a\"}]}",
          1, 400, "missing_field" },
        { "batch empty", "POST", "/v1/jobs", "{\"jobs\":[]}", 1, 400,
          "invalid_field" },
        { "oversized body", "POST", "/v1/jobs", big, 1, 413, "body_too_large" },
        { "unknown route", "GET", "/v1/nothing", NULL, 1, 404, "not_found" },
        { "unknown method", "DELETE", "/v1/jobs", NULL, 1, 405,
          "method_not_allowed" },
        { "no key", "POST", "/v1/jobs",
          "{\"type\":\"a\",\"target_agent\":\"b\"}", 0, 401, "unauthorized" },
        { "wrong key", "POST", "/v1/jobs",
          "{\"type\":\"a\",\"target_agent\":\"b\"}", 4, 401, "unauthorized" },
        { "agent lists every job", "GET", "/v1/jobs", NULL, 2, 403, "forbidden" },
        { "agent B completes A's job", "POST", "/v1/jobs/{job}/complete",
          "{\"lease_token\":\"whatever\",\"result\":{}}", 3, 403, "forbidden" },
        { "batch complete item without token", "POST", "/v1/jobs/complete",
          "{\"jobs\":[{\"id\":{job}}]}", 3, 400, "missing_field" },
        { "agent B heartbeats A's job", "POST", "/v1/jobs/{job}/heartbeat",
          "{\"lease_token\":\"whatever\"}", 3, 403, "forbidden" },
        { "agent B fails A's job", "POST", "/v1/jobs/{job}/fail",
          "{\"lease_token\":\"whatever\"}", 3, 403, "forbidden" },
        { "agent B leases as A", "POST", "/v1/jobs/lease",
          "{\"agent_id\":\"{agent}\"}", 3, 403, "forbidden" },
        { "agent B writes A's state", "PUT", "/v1/agents/{agent}/state",
          "{\"state\":{}}", 3, 403, "forbidden" },
        { "agent B heartbeats A", "POST", "/v1/agents/{agent}/heartbeat", NULL, 3,
          403, "forbidden" },
        { "wrong lease token", "POST", "/v1/jobs/{job}/complete",
          "{\"lease_token\":\"nope\"}", 2, 409, "lease_lost" },
        { "lease max 0", "POST", "/v1/jobs/lease", "{\"max\":0}", 2, 400,
          "invalid_field" },
        { "lease wait too long", "POST", "/v1/jobs/lease",
          "{\"wait_ms\":60001}", 2, 400, "invalid_field" },
        { "lease unknown agent", "POST", "/v1/jobs/lease",
          "{\"agent_id\":\"ag_ghost\"}", 1, 404, "not_found" },
        { "state not object", "PUT", "/v1/agents/{agent}/state",
          "{\"state\":[1]}", 2, 400, "invalid_field" },
        { "state stale version", "PUT", "/v1/agents/{agent}/state",
          "{\"state\":{},\"expected_version\":5}", 2, 409, "version_conflict" },
        { "agent job_types not strings", "POST", "/v1/agents",
          "{\"name\":\"n\",\"type\":\"t\",\"job_types\":[1]}", 1, 400,
          "invalid_field" },
        { "agent metadata not object", "POST", "/v1/agents",
          "{\"name\":\"n\",\"type\":\"t\",\"metadata\":3}", 1, 400,
          "invalid_field" },
        { "list limit 0", "GET", "/v1/jobs?limit=0", NULL, 1, 400,
          "invalid_field" },
        { "list bad state", "GET", "/v1/jobs?state=bogus", NULL, 1, 400,
          "invalid_field" },
        { "cancel bad id", "POST", "/v1/jobs/abc/cancel", NULL, 1, 404,
          "not_found" },
        { "cancel unknown id", "POST", "/v1/jobs/99999/cancel", NULL, 1, 404,
          "not_found" },
    };
    char *before = snapshot();
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const bad_case *c = &cases[i];
        char *path = subst(c->path, jids, ida);
        char *body = c->body ? subst(c->body, jids, ida) : NULL;
        const char *keys[] = { NULL, srv.key, toka, tokb,
                               "fsk_000000000000000000000000000000000000000000000000" };
        th_request rq = { .method = c->method, .path = path, .body = body,
                          .body_len = body ? strlen(body) : 0,
                          .key = keys[c->key] };
        th_response r;
        th_http_ex(&srv, &rq, &r);
        cr_expect_eq(r.status, c->status, "case '%s': status %d, want %d: %s",
                     c->name, r.status, c->status, r.body);
        json_t *e = json_loads(r.body, 0, NULL);
        const char *code = err_code(e);
        cr_expect(code && strcmp(code, c->code) == 0,
                  "case '%s': code %s, want %s", c->name, code ? code : "(none)",
                  c->code);
        json_decref(e);
        th_response_free(&r);
        free(body);
        free(path);
        char *after = snapshot();
        cr_assert_str_eq(after, before, "case '%s' changed the database",
                         c->name);
        free(after);
    }
    /* the batch form answers 200 but refuses the foreign item */
    char *body = subst("{\"jobs\":[{\"id\":{job},\"lease_token\":\"x\"}]}",
                       jids, ida);
    json_t *r = req("POST", "/v1/jobs/complete", body, tokb, 200);
    cr_assert_str_eq(err_code(json_array_get(json_object_get(r, "results"), 0)),
                     "forbidden");
    json_decref(r);
    free(body);
    char *after = snapshot();
    cr_assert_str_eq(after, before, "batch complete changed the database");
    free(after);
    free(before);
    free(deep), free(longtype), free(big);
    free(ida), free(toka), free(idb), free(tokb), free(lt);
}
