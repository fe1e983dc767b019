/*
 * test_schedules_api.c - periodic jobs over HTTP, black box: the real
 * `flowstate serve` (tests/support/harness.h) with its scheduler thread.
 * Create, replace (200, last fire kept), list, get, delete (204, then
 * 404); every bad input a 400 naming its field, with cron_parse's own
 * words for a bad expression; admin only; and "@every 1s" enqueuing jobs
 * within about two seconds while a disabled twin enqueues none.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "integration/it.h"
#include "support/harness.h"

static th_server srv;

static void setup(void)
{
    th_server_start(&srv, NULL);
}
/* A clean SIGTERM exit: under ASan/UBSan a leak or undefined behaviour in
 * the server fails the test that caused it. */
static void teardown(void)
{
    if (srv.pid > 0) cr_expect_eq(th_server_stop(&srv), 0, "server exit");
    th_server_cleanup(&srv);
}

TestSuite(schedules_api, .init = setup, .fini = teardown, .timeout = 120);

static const char *sget(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

#define MONITOR                                                                \
    "{\"name\":\"monitor\",\"cron\":\"*/5 * * * *\",\"job\":{\"type\":"        \
    "\"monitor.check\",\"target_agent\":\"mon\",\"payload\":{\"w\":5}}}"

Test(schedules_api, create_replace_list_get_delete)
{
    json_t *s = it_call(&srv, "POST", "/v1/schedules", MONITOR, srv.key, 201);
    cr_assert_str_eq(sget(s, "name"), "monitor");
    cr_assert_str_eq(sget(s, "cron"), "*/5 * * * *");
    cr_assert(json_is_true(json_object_get(s, "enabled")), "enabled default");
    json_t *want = json_pack("{s:s,s:s,s:{s:i}}", "type", "monitor.check",
                             "target_agent", "mon", "payload", "w", 5);
    cr_assert(json_equal(json_object_get(s, "job"), want));
    json_decref(want);
    cr_assert(json_is_null(json_object_get(s, "last_fire_at")));
    int64_t next = 0, now = fs_now(&fs_clock_real);
    cr_assert(fs_time_parse(sget(s, "next_fire_at"), &next));
    cr_assert(next > now - 1000 && next <= now + 5 * 60000, "within 5 min");
    cr_assert_eq(next % (5 * 60000), 0, "on a multiple of five minutes");
    char *created = strdup(sget(s, "created_at"));
    json_decref(s);

    s = it_call(&srv, "POST", "/v1/schedules",
                "{\"name\":\"monitor\",\"cron\":\"@daily\",\"enabled\":false,"
                "\"job\":{\"type\":\"monitor.deep\",\"target_agent\":\"mon\","
                "\"priority\":7,\"max_attempts\":2,\"timeout_ms\":5000}}",
                srv.key, 200);
    cr_assert_str_eq(sget(s, "cron"), "@daily");
    cr_assert(json_is_false(json_object_get(s, "enabled")));
    cr_assert(json_is_null(json_object_get(s, "next_fire_at")), "disabled");
    cr_assert_str_eq(sget(s, "created_at"), created, "kept on replace");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(s, "job"),
                                                    "max_attempts")),
                 2);
    json_decref(s);
    free(created);

    json_decref(it_call(&srv, "POST", "/v1/schedules",
                        "{\"name\":\"a-first\",\"cron\":\"0 0 1 1 *\",\"job\":"
                        "{\"type\":\"t\",\"target_agent\":\"w\"}}",
                        srv.key, 201));
    json_t *list = it_call(&srv, "GET", "/v1/schedules", NULL, srv.key, 200);
    json_t *arr = json_object_get(list, "schedules");
    cr_assert_eq(json_array_size(arr), 2);
    cr_assert_str_eq(sget(json_array_get(arr, 0), "name"), "a-first");
    cr_assert_str_eq(sget(json_array_get(arr, 1), "name"), "monitor");
    json_decref(list);

    s = it_call(&srv, "GET", "/v1/schedules/monitor", NULL, srv.key, 200);
    cr_assert_str_eq(sget(json_object_get(s, "job"), "type"), "monitor.deep");
    json_decref(s);

    int status;
    char *body = th_http(&srv, "DELETE", "/v1/schedules/monitor", NULL, srv.key,
                         &status);
    cr_assert_eq(status, 204);
    cr_assert_str_eq(body, "", "204 has no body");
    free(body);
    json_t *e =
        it_call(&srv, "GET", "/v1/schedules/monitor", NULL, srv.key, 404);
    cr_assert_str_eq(sget(json_object_get(e, "error"), "code"), "not_found");
    json_decref(e);
    json_decref(
        it_call(&srv, "DELETE", "/v1/schedules/monitor", NULL, srv.key, 404));
    json_decref(
        it_call(&srv, "GET", "/v1/schedules/no%20such", NULL, srv.key, 404));
}

Test(schedules_api, bad_input_is_a_400_naming_the_field)
{
    static const struct {
        const char *body, *code, *field, *msg;
    } cases[] = {
        {"{\"name\":\"m\",\"cron\":\"0 25 * * *\",\"job\":{\"type\":\"t\","
         "\"target_agent\":\"w\"}}",
         "invalid_field", "cron",
         "field 'cron' is not a cron expression: field 2 (hour): 25 is out "
         "of 0-23"},
        {"{\"name\":\"m\",\"cron\":\"* * * *\",\"job\":{\"type\":\"t\","
         "\"target_agent\":\"w\"}}",
         "invalid_field", "cron",
         "field 'cron' is not a cron expression: expected 5 fields (minute "
         "hour day-of-month month day-of-week), got 4"},
        {"{\"name\":\"m\",\"cron\":\"@every 0s\",\"job\":{\"type\":\"t\","
         "\"target_agent\":\"w\"}}",
         "invalid_field", "cron",
         "field 'cron' is not a cron expression: @every 0s: the period must "
         "be from 1s to 366d"},
        {"{\"name\":\"m\",\"cron\":\"0 0 30 2 *\",\"job\":{\"type\":\"t\","
         "\"target_agent\":\"w\"}}",
         "invalid_field", "cron",
         "field 'cron' never fires (no such date in the next 5 years)"},
        {"{\"name\":\"m\",\"job\":{\"type\":\"t\",\"target_agent\":\"w\"}}",
         "missing_field", "cron", NULL},
        {"{\"cron\":\"@daily\",\"job\":{}}", "missing_field", "name", NULL},
        {"{\"name\":\"a b\",\"cron\":\"@daily\",\"job\":{}}", "invalid_field",
         "name",
         "field 'name' may hold only letters, digits, '.', '_' and '-'"},
        {"{\"name\":\"m\",\"cron\":\"@daily\"}", "missing_field", "job", NULL},
        {"{\"name\":\"m\",\"cron\":\"@daily\",\"job\":[]}", "invalid_field",
         "job", NULL},
        {"{\"name\":\"m\",\"cron\":\"@daily\",\"job\":{\"target_agent\":"
         "\"w\"}}",
         "missing_field", "job.type", NULL},
        {"{\"name\":\"m\",\"cron\":\"@daily\",\"job\":{\"type\":\"t\","
         "\"target_agent\":\"w\",\"priority\":9999999}}",
         "invalid_field", "job.priority", NULL},
        {"{\"name\":\"m\",\"cron\":\"@daily\",\"job\":{\"type\":\"t\","
         "\"target_agent\":\"w\",\"run_at\":\"2030-01-01T00:00:00Z\"}}",
         "unknown_field", "job.run_at", NULL},
        {"{\"name\":\"m\",\"cron\":\"@daily\",\"job\":{\"type\":\"t\","
         "\"target_agent\":\"w\"},\"enabled\":\"yes\"}",
         "invalid_field", "enabled", NULL},
        {"{\"name\":\"m\",\"cron\":\"@daily\",\"job\":{\"type\":\"t\","
         "\"target_agent\":\"w\"},\"when\":1}",
         "unknown_field", "when", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *r =
            it_call(&srv, "POST", "/v1/schedules", cases[i].body, srv.key, 400);
        json_t *e = json_object_get(r, "error");
        cr_expect_str_eq(sget(e, "code"), cases[i].code, "%s", cases[i].body);
        cr_expect_str_eq(sget(e, "field"), cases[i].field, "%s", cases[i].body);
        if (cases[i].msg)
            cr_expect_str_eq(sget(e, "message"), cases[i].msg, "%s",
                             cases[i].body);
        json_decref(r);
    }
    json_t *list = it_call(&srv, "GET", "/v1/schedules", NULL, srv.key, 200);
    cr_assert_eq(json_array_size(json_object_get(list, "schedules")), 0,
                 "nothing stored by a bad request");
    json_decref(list);
}

Test(schedules_api, admin_key_only)
{
    json_decref(it_call(&srv, "GET", "/v1/schedules", NULL, NULL, 401));
    it_agent a;
    it_register(&srv, "m", "mon", NULL, &a);
    json_decref(it_call(&srv, "POST", "/v1/schedules", MONITOR, a.token, 403));
    json_decref(it_call(&srv, "GET", "/v1/schedules", NULL, a.token, 403));
    json_decref(
        it_call(&srv, "DELETE", "/v1/schedules/monitor", NULL, a.token, 403));
}

/* The jobs of type `type`, as the job list shows them. */
static json_t *jobs_of(const char *type)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/jobs?type=%s&limit=100", type);
    json_t *doc = it_call(&srv, "GET", path, NULL, srv.key, 200);
    json_t *jobs = json_incref(json_object_get(doc, "jobs"));
    json_decref(doc);
    return jobs;
}

Test(schedules_api, every_second_produces_jobs_within_two_seconds)
{
    json_decref(it_call(&srv, "POST", "/v1/schedules",
                        "{\"name\":\"off\",\"cron\":\"@every 1s\",\"enabled\":"
                        "false,\"job\":{\"type\":\"tick.off\",\"target_agent\":"
                        "\"w\"}}",
                        srv.key, 201));
    json_decref(it_call(&srv, "POST", "/v1/schedules",
                        "{\"name\":\"tick\",\"cron\":\"@every 1s\",\"job\":"
                        "{\"type\":\"tick\",\"target_agent\":\"w\",\"payload\":"
                        "{\"n\":1}}}",
                        srv.key, 201));
    int64_t deadline = fs_mono_ms() + 2500;
    json_t *jobs = NULL;
    do {
        json_decref(jobs);
        usleep(100 * 1000);
        jobs = jobs_of("tick");
    } while (json_array_size(jobs) < 1 && fs_mono_ms() < deadline);
    cr_assert_geq(json_array_size(jobs), 1, "no job within 2.5 s");
    json_t *j = json_array_get(jobs, 0);
    cr_assert_eq(strncmp(sget(j, "unique_key"), "cron:tick:", 10), 0, "%s",
                 sget(j, "unique_key"));
    cr_assert_eq(
        json_integer_value(json_object_get(json_object_get(j, "payload"), "n")),
        1);
    cr_assert_str_eq(sget(j, "state"), "pending");
    json_decref(jobs);

    json_t *s = it_call(&srv, "GET", "/v1/schedules/tick", NULL, srv.key, 200);
    cr_assert(json_is_string(json_object_get(s, "last_fire_at")));
    json_decref(s);
    jobs = jobs_of("tick.off");
    cr_assert_eq(json_array_size(jobs), 0, "a disabled schedule fired");
    json_decref(jobs);
}
