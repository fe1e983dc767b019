/*
 * test_evolution_api.c - the evolution log over HTTP and through the CLI,
 * black box on the real `flowstate serve`: a proposal settles by its
 * samples (applied, validated, rejected), a person approves, rejects and
 * rolls back (admin only; 409 for a step the status forbids or a stale
 * change), agents propose signed with their name, observe and check;
 * list filters and pages; settings follow the latest applied change and
 * an applied ef_search survives a restart; bad input is a 400 naming the
 * field; `flowstate evolution list|show|settings|approve|rollback`.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "integration/it.h"
#include "support/harness.h"

static th_server S;
static void setup(void) { th_server_start(&S, "--dims 16"); }
static void teardown(void)
{
    if (S.pid > 0) cr_expect_eq(th_server_stop(&S), 0, "server exit");
    th_server_cleanup(&S);
}
TestSuite(evolution_api, .init = setup, .fini = teardown, .timeout = 120);

static const char *sget(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int64_t iget(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* A follow_up change a -> b with control k1/n1 and candidate k2/n2. */
static char *proposal(const char *from, const char *to, int k1, int n1, int k2, int n2)
{
    return it_body("{s:s,s:s,s:s,s:{s:s,s:s},s:{s:i,s:i},s:{s:i,s:i}}", "type",
                   "parameter_tuning", "component", "learning.follow_up",
                   "description", "switch", "change", "from", from, "to", to,
                   "metrics_before", "successes", k1, "trials", n1, "metrics_after",
                   "successes", k2, "trials", n2);
}

static json_t *propose(const char *body, const char *key, int want)
{
    return it_call(&S, "POST", "/v1/evolution", body, key, want);
}

Test(evolution_api, proposals_settle_by_their_samples)
{
    char *b = proposal("a", "b", 40, 400, 120, 400);
    json_t *e = propose(b, S.key, 201);
    cr_assert_str_eq(sget(e, "status"), "applied");
    cr_assert_str_eq(sget(e, "proposed_by"), "api");
    json_decref(e);
    free(b);
    b = proposal("b", "c", 400, 2000, 430, 2000);
    e = propose(b, S.key, 201);
    cr_assert_str_eq(sget(e, "status"), "validated");
    int64_t waiting = iget(e, "id");
    json_decref(e);
    free(b);
    b = proposal("b", "d", 400, 1000, 200, 1000);
    e = propose(b, S.key, 201);
    cr_assert_str_eq(sget(e, "status"), "rejected");
    json_decref(e);
    free(b);

    json_t *s = it_call(&S, "GET", "/v1/evolution/settings", NULL, S.key, 200);
    cr_assert_str_eq(sget(json_object_get(json_object_get(s, "settings"),
                                          "learning.follow_up"), "value"), "b");
    json_decref(s);

    char path[64];
    snprintf(path, sizeof path, "/v1/evolution/%lld/approve", (long long)waiting);
    e = it_call(&S, "POST", path, "{\"note\":\"ship it\"}", S.key, 200);
    cr_assert_str_eq(sget(e, "status"), "applied");
    json_t *last = json_array_get(json_object_get(e, "history"),
                                  json_array_size(json_object_get(e, "history")) - 1);
    cr_assert_str_eq(sget(last, "note"), "ship it");
    cr_assert_str_eq(sget(last, "by"), "api");
    json_decref(e);
    json_decref(it_call(&S, "POST", path, "{}", S.key, 409)); /* applied now */

    /* list: filters and pages */
    json_t *l = it_call(&S, "GET", "/v1/evolution?status=applied", NULL, S.key, 200);
    cr_assert_eq(json_array_size(json_object_get(l, "events")), 2);
    json_decref(l);
    l = it_call(&S, "GET", "/v1/evolution?limit=2", NULL, S.key, 200);
    cr_assert_eq(json_array_size(json_object_get(l, "events")), 2);
    cr_assert_str_eq(sget(l, "next_cursor"), "2");
    json_decref(l);
    l = it_call(&S, "GET", "/v1/evolution?cursor=2", NULL, S.key, 200);
    cr_assert_eq(json_array_size(json_object_get(l, "events")), 1);
    cr_assert(json_is_null(json_object_get(l, "next_cursor")));
    json_decref(l);
}

Test(evolution_api, rollback_is_a_persons_and_only_of_the_latest_change)
{
    char *b = proposal("a", "b", 40, 400, 120, 400);
    json_t *e = propose(b, S.key, 201);
    free(b);
    int64_t first = iget(e, "id");
    json_decref(e);
    b = proposal("b", "c", 40, 400, 120, 400);
    e = propose(b, S.key, 201);
    free(b);
    int64_t second = iget(e, "id");
    json_decref(e);
    it_agent ag;
    it_register(&S, "learner", "learning", NULL, &ag);
    char path[64];
    snprintf(path, sizeof path, "/v1/evolution/%lld/rollback", (long long)second);
    json_decref(it_call(&S, "POST", path, "{}", ag.token, 403));
    snprintf(path, sizeof path, "/v1/evolution/%lld/rollback", (long long)first);
    json_t *err = it_call(&S, "POST", path, "{}", S.key, 409);
    cr_assert(strstr(sget(json_object_get(err, "error"), "message"), "came after it"));
    json_decref(err);
    snprintf(path, sizeof path, "/v1/evolution/%lld/rollback", (long long)second);
    e = it_call(&S, "POST", path, "{\"note\":\"worse\"}", S.key, 200);
    cr_assert_str_eq(sget(e, "status"), "rolled_back");
    cr_assert_str_eq(sget(e, "reason"), "worse");
    json_decref(e);
    json_t *s = it_call(&S, "GET", "/v1/evolution/settings", NULL, S.key, 200);
    cr_assert_str_eq(sget(json_object_get(json_object_get(s, "settings"),
                                          "learning.follow_up"), "value"), "b");
    json_decref(s);
    /* a stale proposal (from "a", but the value is "b") cannot be approved */
    b = it_body("{s:s,s:s,s:s,s:{s:s,s:s}}", "type", "parameter_tuning", "component",
                "learning.follow_up", "description", "old idea", "change", "from", "a",
                "to", "z");
    e = propose(b, S.key, 201);
    free(b);
    cr_assert_str_eq(sget(e, "status"), "proposed");
    snprintf(path, sizeof path, "/v1/evolution/%lld/approve", (long long)iget(e, "id"));
    json_decref(e);
    err = it_call(&S, "POST", path, "{}", S.key, 409);
    cr_assert_str_eq(sget(json_object_get(err, "error"), "code"), "conflict");
    json_decref(err);
}

Test(evolution_api, agents_propose_observe_and_check)
{
    it_agent ag;
    it_register(&S, "learner", "learning", NULL, &ag);
    char *b = it_body("{s:s,s:s,s:s,s:s,s:{s:s,s:s},s:{s:i,s:i},s:{s:i,s:i}}", "type",
                      "parameter_tuning", "component", "learning.follow_up",
                      "description", "switch", "proposed_by", "someone else", "change",
                      "from", "a", "to", "b", "metrics_before", "successes", 600,
                      "trials", 2000, "metrics_after", "successes", 900, "trials", 2000);
    json_t *e = propose(b, ag.token, 201);
    free(b);
    cr_assert_str_eq(sget(e, "proposed_by"), "learner", "signed by the agent");
    cr_assert_str_eq(sget(e, "status"), "applied");
    char path[64];
    snprintf(path, sizeof path, "/v1/evolution/%lld/observe", (long long)iget(e, "id"));
    json_decref(it_call(&S, "POST", path, "{\"count\":0,\"sum\":0}", ag.token, 400));
    json_decref(it_call(&S, "POST", path, "{\"count\":1}", ag.token, 400));
    json_decref(it_call(&S, "POST", path, "{\"count\":500,\"sum\":0}", ag.token, 200));
    snprintf(path, sizeof path, "/v1/evolution/%lld/check", (long long)iget(e, "id"));
    json_t *c = it_call(&S, "POST", path, NULL, ag.token, 200);
    cr_assert_str_eq(sget(c, "status"), "rolled_back", "500 failures after a 30%% base");
    cr_assert(strstr(sget(c, "reason"), "regressed"));
    json_t *h = json_object_get(c, "history");
    cr_assert_str_eq(sget(json_array_get(h, json_array_size(h) - 1), "by"), "learner");
    json_decref(c);
    json_decref(e);
    json_decref(it_call(&S, "GET", "/v1/evolution/999", NULL, ag.token, 404));
    json_decref(it_call(&S, "GET", "/v1/evolution/x", NULL, ag.token, 404));
}

Test(evolution_api, bad_input_is_a_400_naming_the_field)
{
    const struct {
        const char *body, *field;
    } bad[] = {
        { "{\"type\":\"magic\",\"component\":\"x\",\"description\":\"d\"}", "type" },
        { "{\"type\":\"parameter_tuning\",\"component\":\"a b\",\"description\":\"d\","
          "\"change\":{\"to\":1}}", "component" },
        { "{\"type\":\"parameter_tuning\",\"component\":\"x\",\"description\":\"d\"}",
          "change" },
        { "{\"type\":\"parameter_tuning\",\"component\":\"x\",\"change\":{\"to\":1}}",
          "description" },
        { "{\"type\":\"parameter_tuning\",\"component\":\"x\",\"description\":\"d\","
          "\"change\":{\"to\":1},\"metrics_before\":{\"successes\":1,\"trials\":2}}",
          "metrics_after" },
        { "{\"type\":\"parameter_tuning\",\"component\":\"memory.ef_search\","
          "\"description\":\"d\",\"change\":{\"to\":0}}", "change" },
        { "{\"type\":\"anomaly_response\",\"component\":\"x\",\"description\":\"d\","
          "\"extra\":1}", "extra" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *e = propose(bad[i].body, S.key, 400);
        cr_assert_str_eq(sget(json_object_get(e, "error"), "field"), bad[i].field,
                         "case %zu", i);
        json_decref(e);
    }
    json_decref(propose("not json", S.key, 400));
    json_decref(it_call(&S, "GET", "/v1/evolution?status=done", NULL, S.key, 400));
    json_decref(it_call(&S, "GET", "/v1/evolution?type=x", NULL, S.key, 400));
    json_decref(it_call(&S, "GET", "/v1/evolution", NULL, NULL, 401));
    json_t *l = it_call(&S, "GET", "/v1/evolution", NULL, S.key, 200);
    cr_assert_eq(json_array_size(json_object_get(l, "events")), 0, "nothing stored");
    json_decref(l);
}

Test(evolution_api, an_applied_ef_search_survives_a_restart)
{
    json_decref(it_call(&S, "PUT", "/v1/memory/index/ef", "{\"ef\":123}", S.key, 200));
    th_server_restart(&S);
    json_t *r = it_call(&S, "GET", "/v1/system/report", NULL, S.key, 200);
    cr_assert_eq(iget(json_object_get(r, "memory"), "ef"), 123);
    json_decref(r);
    json_t *l = it_call(&S, "GET", "/v1/evolution?component=memory.ef_search", NULL,
                        S.key, 200);
    json_t *e = json_array_get(json_object_get(l, "events"), 0);
    char path[64];
    snprintf(path, sizeof path, "/v1/evolution/%lld/rollback", (long long)iget(e, "id"));
    json_decref(l);
    json_decref(it_call(&S, "POST", path, "{}", S.key, 200));
    r = it_call(&S, "GET", "/v1/system/report", NULL, S.key, 200);
    cr_assert_eq(iget(json_object_get(r, "memory"), "ef"), 64, "back to the default");
    json_decref(r);
}

Test(evolution_api, the_cli_lists_shows_approves_and_rolls_back)
{
    char *b = proposal("a", "b", 400, 2000, 430, 2000);
    json_decref(propose(b, S.key, 201));
    free(b);
    it_cli_out r = IT_CLI(&S, "evolution", "list");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "validated"), "%s", r.out);
    cr_assert(strstr(r.out, "a -> b"), "%s", r.out);
    it_cli_free(&r);
    r = IT_CLI(&S, "evolution", "show", "1");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "validation       needs_approval: lift"), "%s", r.out);
    cr_assert(strstr(r.out, "history:"), "%s", r.out);
    it_cli_free(&r);
    r = IT_CLI(&S, "evolution", "approve", "1", "--note", "go");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "approved entry 1: applied\n");
    it_cli_free(&r);
    r = IT_CLI(&S, "evolution", "settings");
    cr_assert(strstr(r.out, "learning.follow_up  b "), "%s", r.out);
    it_cli_free(&r);
    r = IT_CLI(&S, "evolution", "approve", "1");
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "invalid_state"), "%s", r.err);
    it_cli_free(&r);
    r = IT_CLI(&S, "evolution", "rollback", "1");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "rolled back entry 1: rolled_back\n");
    it_cli_free(&r);
    r = IT_CLI(&S, "evolution", "list", "--status", "rolled_back", "--json");
    json_t *doc = it_cli_json(&r);
    cr_assert_eq(json_array_size(json_object_get(doc, "events")), 1);
    json_decref(doc);
    it_cli_free(&r);
    r = IT_CLI(&S, "evolution", "show", "0");
    cr_assert_eq(r.code, 2);
    it_cli_free(&r);
}
