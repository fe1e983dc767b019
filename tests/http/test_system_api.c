/*
 * test_system_api.c - the monitoring routes over a real socket: GET
 * /v1/system/report, POST /v1/memory/index/check and PUT
 * /v1/memory/index/ef (admin only, bad input refused, logged as an
 * applied change in the evolution log), and host_http's report,
 * recall_check and evolution ops speaking to the routes.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "agents/host_http.h"
#include "core/fs.h"
#include "support/harness.h"

static th_server S;
static void setup(void) { th_server_start(&S, "--dims 16"); }
static void teardown(void) { th_server_cleanup(&S); }
TestSuite(system_api, .init = setup, .fini = teardown, .timeout = 60);

static json_t *call(const char *m, const char *path, const char *body,
                    const char *key, int want)
{
    int st;
    json_t *j = th_json(&S, m, path, body, key, &st);
    cr_assert_eq(st, want, "%s %s -> %d, want %d", m, path, st, want);
    return j;
}

Test(system_api, report_check_and_ef)
{
    json_decref(call("POST", "/v1/jobs", "{\"type\":\"work\",\"target_agent\":\"x\"}",
                     S.key, 201));
    json_t *a = call("POST", "/v1/agents", "{\"name\":\"w\",\"type\":\"x\"}", S.key, 201);
    const char *token = json_string_value(json_object_get(a, "token"));
    json_t *r = call("GET", "/v1/system/report", NULL, S.key, 200);
    json_t *t = json_array_get(json_object_get(json_object_get(r, "queue"), "types"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(t, "type")), "work");
    cr_assert_eq(json_integer_value(json_object_get(t, "pending")), 1);
    cr_assert(json_is_integer(json_object_get(t, "oldest_pending_age_ms")));
    cr_assert_eq(json_array_size(json_object_get(r, "agents")), 1);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(r, "runs"), "running")), 0);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(r, "memory"), "ef")), 64);
    json_decref(r);
    json_decref(call("GET", "/v1/system/report", NULL, token, 403));

    r = call("POST", "/v1/memory/index/check", "{\"samples\":5,\"ef\":32}", S.key, 200);
    cr_assert_eq(json_real_value(json_object_get(r, "recall")), 1.0); /* empty index */
    json_decref(r);
    json_decref(call("POST", "/v1/memory/index/check", "{\"ef\":0}", S.key, 400));
    json_decref(call("PUT", "/v1/memory/index/ef", "{\"ef\":200}", token, 403));
    json_decref(call("PUT", "/v1/memory/index/ef", "{}", S.key, 400));
    r = call("PUT", "/v1/memory/index/ef", "{\"ef\":200}", S.key, 200);
    cr_assert_eq(json_integer_value(json_object_get(r, "ef")), 200);
    cr_assert(json_integer_value(json_object_get(r, "evolution")) > 0);
    json_decref(r);
    r = call("GET", "/v1/evolution/settings", NULL, S.key, 200);
    json_t *set = json_object_get(json_object_get(r, "settings"), "memory.ef_search");
    cr_assert_eq(json_integer_value(json_object_get(set, "value")), 200);
    json_decref(r);
    json_decref(a);
}

Test(system_api, the_http_host_speaks_to_the_routes)
{
    agent_host *h = host_http_open(S.url, S.key, NULL);
    static const char *const types[] = { "health_check", NULL };
    char *id = NULL;
    cr_assert_eq(h->ops->register_agent(h, "mon", "monitoring", types, &id), 0);
    json_t *r = NULL;
    cr_assert_eq(h->ops->report(h, &r), 0);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(r, "memory"), "ef")), 64);
    json_decref(r);
    double recall = 0;
    cr_assert_eq(h->ops->recall_check(h, 10, 16, &recall), 0);
    cr_assert_eq(recall, 1.0);

    json_t *p = json_pack("{s:s,s:s,s:s,s:{s:i,s:i}}", "type", "parameter_tuning",
                          "component", "memory.ef_search", "description", "wider",
                          "change", "from", 64, "to", 96), *e = NULL;
    cr_assert_eq(h->ops->evolution_propose(h, p, &e), 0);
    cr_assert_str_eq(json_string_value(json_object_get(e, "status")), "proposed");
    cr_assert_str_eq(json_string_value(json_object_get(e, "proposed_by")), "mon");
    int64_t eid = json_integer_value(json_object_get(e, "id"));
    json_decref(e);
    json_object_set_new(json_object_get(p, "change"), "to", json_integer(0));
    cr_assert_eq(h->ops->evolution_propose(h, p, &e), FS_EINVAL, "ef 0 is refused");
    json_decref(p);
    json_t *obs = json_pack("{s:i,s:i}", "sum", 1, "count", 1);
    cr_assert_eq(h->ops->evolution_step(h, eid, "observe", obs, &e), FS_ESTATE);
    json_decref(obs);
    cr_assert_eq(h->ops->evolution_list(h, "proposed", "memory.ef_search", &r), 0);
    cr_assert_eq(json_array_size(r), 1);
    json_decref(r);
    cr_assert_eq(h->ops->evolution_settings(h, &r), 0);
    cr_assert_eq(json_object_size(r), 0, "nothing applied");
    json_decref(r);
    free(id);
    agent_host_close(h);
}
