/*
 * test_cli_e2e.c - the real `flowstate` CLI ($FLOWSTATE_BIN, fork + exec)
 * against the real server, with FLOWSTATE_URL pointing at it and
 * --key-file at its key: what a script sees.
 *
 *   enqueue_show_list_round_trip     job enqueue --json -> job show --json
 *                                    -> job list --json agree with the API
 *   cancel_of_a_finished_job_exits_1 (and of a pending one exits 0)
 *   show_of_a_missing_job_exits_4
 *   unreachable_url_exits_3
 *   bad_flags_exit_2
 *   queue_stats_and_agent_list_exit_0
 *
 * Exit codes are the CLI's contract (src/cli/cli.h): 0 ok, 1 rejected
 * (4xx), 2 usage, 3 unreachable or 5xx, 4 not found.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "integration/it.h"

TestSuite(integration_cli, .timeout = 60);

static const char *str(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "(none)";
}

Test(integration_cli, enqueue_show_list_round_trip)
{
    th_server s;
    th_server_start(&s, NULL);
    it_cli_out r = IT_CLI(&s, "job", "enqueue", "e2e.send", "--to", "mailer",
                    "--payload", "{\"to\":\"ana@example.com\",\"n\":7}",
                    "--priority", "5", "--unique-key", "e2e-1", "--json");
    it_assert_exit(r, 0, "job enqueue --json");
    json_t *made = it_cli_json(&r);
    json_int_t id = json_integer_value(json_object_get(made, "id"));
    cr_assert_gt(id, 0, "no id in %s", r.out);
    cr_assert_str_eq(str(made, "state"), "pending");
    it_cli_free(&r);

    char ids[32];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    r = IT_CLI(&s, "job", "show", ids, "--json");
    it_assert_exit(r, 0, "job show --json");
    json_t *shown = it_cli_json(&r);
    it_cli_free(&r);
    json_t *want = json_pack("{s:s,s:i}", "to", "ana@example.com", "n", 7);
    cr_assert_eq(json_integer_value(json_object_get(shown, "id")), id);
    cr_assert_str_eq(str(shown, "type"), "e2e.send");
    cr_assert_str_eq(str(shown, "target_agent"), "mailer");
    cr_assert_str_eq(str(shown, "unique_key"), "e2e-1");
    cr_assert_str_eq(str(shown, "state"), "pending");
    cr_assert_eq(json_integer_value(json_object_get(shown, "priority")), 5);
    cr_assert(json_equal(json_object_get(shown, "payload"), want),
              "payload did not round-trip");

    /* The CLI shows what the API has. */
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld", (long long)id);
    json_t *api = it_call(&s, "GET", path, NULL, s.key, 200);
    cr_assert(json_equal(json_object_get(api, "payload"), want));
    cr_assert_str_eq(str(api, "created_at"), str(shown, "created_at"));

    /* The same unique key again: the existing job, not a new one. */
    r = IT_CLI(&s, "job", "enqueue", "e2e.send", "--to", "mailer", "--unique-key",
            "e2e-1", "--json");
    it_assert_exit(r, 0, "job enqueue (same unique key)");
    json_t *again = it_cli_json(&r);
    cr_assert_eq(json_integer_value(json_object_get(again, "id")), id);
    it_cli_free(&r);

    r = IT_CLI(&s, "job", "enqueue", "e2e.other", "--to", "mailer", "--json");
    it_assert_exit(r, 0, "second job enqueue");
    json_t *second = it_cli_json(&r);
    it_cli_free(&r);

    r = IT_CLI(&s, "job", "list", "--json");
    it_assert_exit(r, 0, "job list --json");
    json_t *list = it_cli_json(&r), *jobs = json_object_get(list, "jobs"), *j;
    it_cli_free(&r);
    cr_assert_eq(json_array_size(jobs), 2, "job list: %zu jobs",
                 json_array_size(jobs));
    size_t i;
    bool found = false;
    json_array_foreach(jobs, i, j)
    {
        if (json_integer_value(json_object_get(j, "id")) == id) {
            found = true;
            cr_assert(json_equal(json_object_get(j, "payload"), want));
        }
    }
    cr_assert(found, "job %lld not in job list", (long long)id);
    /* Newest first. */
    cr_assert_eq(
        json_integer_value(json_object_get(json_array_get(jobs, 0), "id")),
        json_integer_value(json_object_get(second, "id")));

    /* Human output names the job too. */
    r = IT_CLI(&s, "job", "show", ids);
    it_assert_exit(r, 0, "job show (table)");
    cr_assert(strstr(r.out, "e2e.send"), "job show: %s", r.out);
    it_cli_free(&r);
    r = IT_CLI(&s, "job", "list", "--state", "pending");
    it_assert_exit(r, 0, "job list (table)");
    cr_assert(strstr(r.out, "e2e.other"), "job list: %s", r.out);
    it_cli_free(&r);

    json_decref(made);
    json_decref(shown);
    json_decref(want);
    json_decref(api);
    json_decref(again);
    json_decref(second);
    json_decref(list);
    th_server_cleanup(&s);
}

Test(integration_cli, cancel_of_a_finished_job_exits_1)
{
    th_server s;
    th_server_start(&s, NULL);
    it_agent a;
    it_register(&s, "e2e-worker", "e2e", "finish-me", &a);
    json_t *j = it_call(&s, "POST", "/v1/jobs",
                        "{\"type\":\"finish-me\",\"target_agent\":\"e2e\"}",
                        s.key, 201);
    json_int_t id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    json_t *l = it_call(&s, "POST", "/v1/jobs/lease",
                        "{\"max\":1,\"lease_seconds\":30}", a.token, 200);
    json_t *leased = json_array_get(json_object_get(l, "jobs"), 0);
    cr_assert_eq(json_integer_value(json_object_get(leased, "id")), id);
    char *body = it_body("{s:s,s:{}}", "lease_token",
                         str(leased, "lease_token"), "result");
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld/complete", (long long)id);
    json_decref(it_call(&s, "POST", path, body, a.token, 200));
    free(body);
    json_decref(l);

    char ids[32];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    it_cli_out r = IT_CLI(&s, "job", "cancel", ids);
    it_assert_exit(r, 1, "job cancel of a completed job");
    cr_assert(r.err[0], "job cancel said nothing on stderr");
    it_cli_free(&r);
    r = IT_CLI(&s, "job", "show", ids, "--json");
    it_assert_exit(r, 0, "job show");
    json_t *shown = it_cli_json(&r);
    cr_assert_str_eq(str(shown, "state"), "completed");
    json_decref(shown);
    it_cli_free(&r);

    /* A pending job can be cancelled. */
    j = it_call(&s, "POST", "/v1/jobs",
                "{\"type\":\"later\",\"target_agent\":\"e2e\"}", s.key, 201);
    snprintf(ids, sizeof ids, "%lld",
             (long long)json_integer_value(json_object_get(j, "id")));
    json_decref(j);
    r = IT_CLI(&s, "job", "cancel", ids);
    it_assert_exit(r, 0, "job cancel of a pending job");
    it_cli_free(&r);
    r = IT_CLI(&s, "job", "show", ids, "--json");
    shown = it_cli_json(&r);
    cr_assert_str_eq(str(shown, "state"), "cancelled");
    json_decref(shown);
    it_cli_free(&r);
    th_server_cleanup(&s);
}

Test(integration_cli, show_of_a_missing_job_exits_4)
{
    th_server s;
    th_server_start(&s, NULL);
    it_cli_out r = IT_CLI(&s, "job", "show", "999999");
    it_assert_exit(r, 4, "job show 999999");
    it_cli_free(&r);
    r = IT_CLI(&s, "job", "cancel", "999999");
    it_assert_exit(r, 4, "job cancel 999999");
    it_cli_free(&r);
    th_server_cleanup(&s);
}

/* A loopback port that refuses connections: bound, never listening. */
static int closed_port(int *fd)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(*fd, 0);
    cr_assert_eq(bind(*fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(getsockname(*fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

Test(integration_cli, unreachable_url_exits_3)
{
    th_server s;
    th_server_start(&s, NULL);
    int fd;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", closed_port(&fd));
    it_cli_out r = IT_CLI(&s, "job", "list", "--url", url);
    it_assert_exit(r, 3, "job list --url (nothing listening)");
    cr_assert(r.err[0], "no message on stderr");
    it_cli_free(&r);
    r = IT_CLI(&s, "queue", "stats", "--url", url);
    it_assert_exit(r, 3, "queue stats --url (nothing listening)");
    it_cli_free(&r);
    close(fd);
    th_server_cleanup(&s);
}

Test(integration_cli, bad_flags_exit_2)
{
    th_server s;
    th_server_start(&s, NULL);
    const char *const cases[][4] = {
        {"job", "list", "--no-such-flag", NULL},
        {"job", "show", "not-a-number", NULL},
        {"job", "enqueue", "t", NULL}, /* no --to */
        {"queue", "stats", "--bogus", NULL},
        {"agent", "list", "-x", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        it_cli_out r = it_cli(&s, NULL, cases[i]);
        char what[128];
        snprintf(what, sizeof what, "%s %s %s", cases[i][0], cases[i][1],
                 cases[i][2]);
        it_assert_exit(r, 2, what);
        cr_assert(r.err[0], "%s: no message on stderr", what);
        it_cli_free(&r);
    }
    /* Nothing reached the server. */
    cr_assert_eq(it_state_count(&s, "pending"), 0);
    th_server_cleanup(&s);
}

Test(integration_cli, queue_stats_and_agent_list_exit_0)
{
    th_server s;
    th_server_start(&s, NULL);
    it_agent a;
    it_register(&s, "e2e-lister", "e2e", NULL, &a);
    json_decref(it_call(&s, "POST", "/v1/jobs",
                        "{\"type\":\"counted\",\"target_agent\":\"e2e\"}",
                        s.key, 201));

    it_cli_out r = IT_CLI(&s, "queue", "stats");
    it_assert_exit(r, 0, "queue stats");
    cr_assert(strstr(r.out, "counted"), "queue stats: %s", r.out);
    it_cli_free(&r);
    r = IT_CLI(&s, "queue", "stats", "--json");
    it_assert_exit(r, 0, "queue stats --json");
    json_t *st = it_cli_json(&r);
    cr_assert_eq(json_integer_value(
                     json_object_get(json_object_get(st, "states"), "pending")),
                 1);
    json_decref(st);
    it_cli_free(&r);

    r = IT_CLI(&s, "agent", "list");
    it_assert_exit(r, 0, "agent list");
    cr_assert(strstr(r.out, "e2e-lister"), "agent list: %s", r.out);
    it_cli_free(&r);
    r = IT_CLI(&s, "agent", "list", "--json");
    it_assert_exit(r, 0, "agent list --json");
    json_t *ag = it_cli_json(&r);
    json_t *first = json_array_get(json_object_get(ag, "agents"), 0);
    cr_assert_str_eq(str(first, "id"), a.id);
    cr_assert(!json_object_get(first, "token"), "agent list shows a token");
    cr_assert(!strstr(r.out, a.token), "agent list prints the token");
    json_decref(ag);
    it_cli_free(&r);
    r = IT_CLI(&s, "agent", "show", a.id);
    it_assert_exit(r, 0, "agent show");
    cr_assert(strstr(r.out, "e2e-lister"), "agent show: %s", r.out);
    it_cli_free(&r);
    th_server_cleanup(&s);
}
