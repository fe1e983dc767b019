/*
 * test_memory_api.c - the memory routes over a real socket: documents in
 * and out, batches all or nothing, semantic search with filters, bad input
 * (unknown filter fields, wrong dimensions, NaN-free checks) with the
 * database unchanged, agent tokens owning what they write, and a restart
 * keeping everything searchable.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "support/harness.h"

static th_server S;
static void setup(void) { th_server_start(&S, "--dims 128"); }
static void teardown(void) { th_server_cleanup(&S); }
TestSuite(memory_api, .init = setup, .fini = teardown, .timeout = 60);

static json_t *call(const char *m, const char *path, const char *body,
                    const char *key, int want)
{
    int st;
    json_t *j = th_json(&S, m, path, body, key, &st);
    cr_assert_eq(st, want, "%s %s -> %d, want %d", m, path, st, want);
    return j;
}

static json_int_t count_docs(void)
{
    json_t *l = call("GET", "/v1/memory?limit=1000", NULL, S.key, 200);
    json_int_t n = (json_int_t)json_array_size(json_object_get(l, "documents"));
    json_decref(l);
    return n;
}

static void corpus(void)
{
    json_decref(call("POST", "/v1/memory",
        "{\"documents\":[{\"content\":\"Acme Corp asked for a refund of invoice 1042\","
        "\"agent\":\"billing\",\"kind\":\"email\",\"tags\":[\"vip\"],"
        "\"metadata\":{\"stage\":\"won\",\"n\":3}},"
        "{\"content\":\"Schedule the onboarding call with Globex\",\"agent\":\"sales\"},"
        "{\"content\":\"Initech renewed the enterprise licence\",\"agent\":\"sales\","
        "\"tags\":[\"vip\"]}]}", S.key, 201));
}

static json_int_t top_id(json_t *r)
{
    return json_integer_value(json_object_get(
        json_array_get(json_object_get(r, "results"), 0), "id"));
}

Test(memory_api, add_get_search_delete)
{
    json_t *r = call("POST", "/v1/memory",
                     "{\"content\":\"The pump warranty covers water damage\","
                     "\"importance\":0.9}", S.key, 201);
    json_int_t id = json_integer_value(json_object_get(r, "id"));
    json_decref(r);
    corpus();
    char path[64];
    snprintf(path, sizeof path, "/v1/memory/%lld", (long long)id);
    r = call("GET", path, NULL, S.key, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r, "content")),
                     "The pump warranty covers water damage");
    cr_assert_str_eq(json_string_value(json_object_get(r, "embedder")), "local-1");
    json_decref(r);
    r = call("POST", "/v1/search/semantic",
             "{\"query\":\"is water damage under warranty\",\"limit\":3}", S.key, 200);
    cr_assert_eq(top_id(r), id);
    json_decref(r);
    json_decref(call("DELETE", path, NULL, S.key, 200));
    json_decref(call("GET", path, NULL, S.key, 404));
    json_decref(call("DELETE", path, NULL, S.key, 404)); /* and stays up */
    json_decref(call("GET", "/v1/memory/2", NULL, S.key, 200));
    r = call("POST", "/v1/search/semantic",
             "{\"query\":\"is water damage under warranty\",\"limit\":10}", S.key, 200);
    json_t *res = json_object_get(r, "results");
    for (size_t i = 0; i < json_array_size(res); i++)
        cr_assert_neq(json_integer_value(json_object_get(json_array_get(res, i), "id")), id,
                      "a deleted document is never returned");
    json_decref(r);
}

Test(memory_api, filters_narrow_the_search)
{
    corpus();
    json_t *r = call("POST", "/v1/search/semantic",
                     "{\"query\":\"refund for Acme\",\"filter\":{\"agent\":\"sales\"}}",
                     S.key, 200);
    json_t *res = json_object_get(r, "results");
    cr_assert_eq(json_array_size(res), 2);
    for (size_t i = 0; i < 2; i++)
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(res, i),
                                                           "agent")), "sales");
    json_decref(r);
    r = call("POST", "/v1/search/semantic",
             "{\"query\":\"anything\",\"filter\":{\"tags\":[\"vip\"],"
             "\"metadata\":{\"n\":3}}}", S.key, 200);
    cr_assert_eq(json_array_size(json_object_get(r, "results")), 1);
    json_decref(r);
}

Test(memory_api, bad_input_is_refused_and_stores_nothing)
{
    corpus();
    json_int_t before = count_docs();
    const char *adds[] = {
        "{}", "{\"content\":\"\"}", "{\"content\":5}",
        "{\"content\":\"x\",\"importance\":2}",
        "{\"content\":\"x\",\"embedding\":[1,2,3]}",
        "{\"content\":\"x\",\"embedding\":[\"a\"]}",
        "{\"content\":\"x\",\"tags\":\"vip\"}",
        "{\"documents\":[{\"content\":\"ok\"},{\"content\":\"\"}]}",
        "{\"documents\":[]}",
    };
    for (size_t i = 0; i < sizeof adds / sizeof *adds; i++)
        json_decref(call("POST", "/v1/memory", adds[i], S.key, 400));
    cr_assert_eq(count_docs(), before, "nothing half-stored");
    const char *searches[] = {
        "{}", "{\"query\":\"a\",\"vector\":[1]}", "{\"vector\":[1,2]}",
        "{\"query\":\"a\",\"limit\":0}", "{\"query\":\"a\",\"limit\":100000}",
        "{\"query\":\"a\",\"filter\":{\"owner\":\"x\"}}",
        "{\"query\":\"a\",\"filter\":{\"since\":\"yesterday\"}}",
    };
    for (size_t i = 0; i < sizeof searches / sizeof *searches; i++)
        json_decref(call("POST", "/v1/search/semantic", searches[i], S.key, 400));
}

Test(memory_api, agent_tokens_write_as_themselves)
{
    json_t *a = call("POST", "/v1/agents",
                     "{\"name\":\"n\",\"type\":\"writer\"}", S.key, 201);
    const char *token = json_string_value(json_object_get(a, "token"));
    const char *agent = json_string_value(json_object_get(a, "id"));
    json_t *r = call("POST", "/v1/memory", "{\"content\":\"my note\"}", token, 201);
    char path[64];
    snprintf(path, sizeof path, "/v1/memory/%lld",
             (long long)json_integer_value(json_object_get(r, "id")));
    json_decref(r);
    r = call("GET", path, NULL, token, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r, "agent")), agent);
    json_decref(r);
    json_decref(call("POST", "/v1/memory",
                     "{\"content\":\"x\",\"agent\":\"someone_else\"}", token, 403));
    corpus();
    json_decref(call("DELETE", "/v1/memory/2", NULL, token, 403));
    json_decref(call("DELETE", path, NULL, token, 200));
    json_decref(a);
}

Test(memory_api, a_restart_keeps_memory_searchable)
{
    corpus();
    th_server_restart(&S);
    json_t *r = call("POST", "/v1/search/semantic",
                     "{\"query\":\"Globex onboarding\",\"limit\":1}", S.key, 200);
    cr_assert_eq(top_id(r), 2);
    json_decref(r);
}

Test(memory_api, hybrid_search_reports_both_ranks)
{
    corpus();
    json_t *r = call("POST", "/v1/search/hybrid",
                     "{\"query\":\"refund for the Acme invoice\",\"limit\":3}",
                     S.key, 200);
    json_t *top = json_array_get(json_object_get(r, "results"), 0);
    cr_assert_eq(json_integer_value(json_object_get(top, "id")), 1);
    cr_assert_eq(json_integer_value(json_object_get(top, "vector_rank")), 1);
    cr_assert_eq(json_integer_value(json_object_get(top, "text_rank")), 1);
    cr_assert_float_eq(json_real_value(json_object_get(top, "score")), 2.0 / 61,
                       1e-9, "reciprocal rank fusion with k = 60");
    json_decref(r);
    r = call("POST", "/v1/search/hybrid",
             "{\"query\":\"refund for the Acme invoice\",\"fusion\":\"convex\"}", S.key, 200);
    top = json_array_get(json_object_get(r, "results"), 0);
    cr_assert_eq(json_integer_value(json_object_get(top, "id")), 1);
    cr_assert_float_eq(json_real_value(json_object_get(top, "score")), 1.0, 1e-9,
                       "convex: the best of both scales to 1");
    json_decref(r);
    const char *bad[] = { "{\"vector\":[1]}", "{\"query\":\"a\",\"rrf_k\":0}",
                          "{\"query\":\"a\",\"fusion\":\"borda\"}",
                          "{\"query\":\"a\",\"weights\":{\"text\":-1}}",
                          "{\"query\":\"a\",\"weights\":[1,2]}" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        json_decref(call("POST", "/v1/search/hybrid", bad[i], S.key, 400));
}

Test(memory_api, similar_and_recommend)
{
    corpus(); /* 1 refund (billing), 2 onboarding, 3 licence renewal */
    json_decref(call("POST", "/v1/memory",
                     "{\"content\":\"Globex wants a refund for invoice 77\"}", S.key, 201));
    json_t *r = call("POST", "/v1/search/similar", "{\"id\":1,\"limit\":2}", S.key, 200);
    json_t *res = json_object_get(r, "results");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(res, 0), "id")), 4,
                 "the other refund");
    for (size_t i = 0; i < json_array_size(res); i++)
        cr_assert_neq(json_integer_value(json_object_get(json_array_get(res, i), "id")), 1);
    json_decref(r);
    r = call("POST", "/v1/search/recommend",
             "{\"positive\":[1],\"negative\":[3],\"limit\":5}", S.key, 200);
    res = json_object_get(r, "results");
    cr_assert_eq(json_array_size(res), 2, "4 documents minus the 2 examples");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(res, 0), "id")), 4);
    json_decref(r);
    json_decref(call("POST", "/v1/search/similar", "{\"id\":999}", S.key, 404));
    json_decref(call("POST", "/v1/search/similar", "{}", S.key, 400));
    json_decref(call("POST", "/v1/search/recommend", "{\"negative\":[1]}", S.key, 400));
    json_decref(call("POST", "/v1/search/recommend", "{\"positive\":[\"x\"]}", S.key, 400));
}

Test(memory_api, cluster_groups_and_labels)
{
    json_decref(call("POST", "/v1/memory", "{\"documents\":["
        "{\"content\":\"Refund requested for invoice overcharge\"},"
        "{\"content\":\"Customer wants a refund for the invoice overcharge\"},"
        "{\"content\":\"Refund the duplicate invoice charge\"},"
        "{\"content\":\"Licence renewal for the enterprise plan\"},"
        "{\"content\":\"Enterprise licence renewal signed\"},"
        "{\"content\":\"Renewal quote for enterprise licence seats\"}]}", S.key, 201));
    json_t *r = call("POST", "/v1/search/cluster", "{\"k\":2}", S.key, 200);
    json_t *cl = json_object_get(r, "clusters");
    cr_assert_eq(json_array_size(cl), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *c = json_array_get(cl, i);
        cr_assert_eq(json_integer_value(json_object_get(c, "size")), 3);
        cr_assert_str_neq(json_string_value(json_object_get(c, "label")), "");
    }
    json_decref(r);
    r = call("POST", "/v1/search/cluster", "", S.key, 200);
    cr_assert_geq(json_array_size(json_object_get(r, "clusters")), 1, "k chosen");
    json_decref(r);
    json_decref(call("POST", "/v1/search/cluster", "{\"k\":0}", S.key, 400));
    json_decref(call("POST", "/v1/search/cluster", "{\"filter\":{\"x\":1}}", S.key, 400));
}

Test(memory_api, ranking_by_importance_and_bad_rank_fields)
{
    json_decref(call("POST", "/v1/memory", "{\"documents\":["
        "{\"content\":\"pricing notes\",\"importance\":0.1},"
        "{\"content\":\"pricing notes\",\"importance\":0.9}]}", S.key, 201));
    json_t *r = call("POST", "/v1/search/semantic",
                     "{\"query\":\"pricing\",\"rank\":{\"importance\":1}}", S.key, 200);
    json_t *top = json_array_get(json_object_get(r, "results"), 0);
    cr_assert_eq(json_integer_value(json_object_get(top, "id")), 2);
    double score = json_real_value(json_object_get(top, "score"));
    double rel = json_real_value(json_object_get(top, "relevance"));
    cr_assert_float_eq(score - rel, 0.9, 1e-6, "relevance + 1 x importance");
    json_decref(r);
    json_decref(call("POST", "/v1/search/semantic",
                     "{\"query\":\"pricing\",\"rank\":{\"bogus\":1}}", S.key, 400));
    json_decref(call("POST", "/v1/search/semantic",
                     "{\"query\":\"pricing\",\"rank\":{\"recency\":-1}}", S.key, 400));
}

Test(memory_api, patch_updates_fields_and_content)
{
    corpus();
    json_t *r = call("PATCH", "/v1/memory/1",
                     "{\"tags\":[\"escalated\"],\"importance\":0.8}", S.key, 200);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(r, "tags"), 0)),
                     "escalated");
    cr_assert_str_eq(json_string_value(json_object_get(r, "content")),
                     "Acme Corp asked for a refund of invoice 1042", "content kept");
    json_decref(r);
    json_decref(call("PATCH", "/v1/memory/1",
                     "{\"content\":\"Warehouse pallets inventory\"}", S.key, 200));
    r = call("POST", "/v1/search/semantic",
             "{\"query\":\"pallets in the warehouse\",\"limit\":1}", S.key, 200);
    cr_assert_eq(top_id(r), 1, "found by the new content");
    json_decref(r);
    json_decref(call("PATCH", "/v1/memory/1", "{\"importance\":7}", S.key, 400));
    json_decref(call("PATCH", "/v1/memory/1", "{\"content\":\"\"}", S.key, 400));
    json_decref(call("PATCH", "/v1/memory/999", "{\"kind\":\"x\"}", S.key, 404));
}

Test(memory_api, consolidate_over_http)
{
    json_decref(call("POST", "/v1/memory", "{\"documents\":["
        "{\"content\":\"Acme asked for a refund of invoice 1042\",\"tags\":[\"a\"]},"
        "{\"content\":\"Acme asked for a refund of invoice 1042.\",\"tags\":[\"b\"]},"
        "{\"content\":\"Something else entirely\"}]}", S.key, 201));
    json_t *r = call("POST", "/v1/memory/consolidate",
                     "{\"threshold\":0.95,\"dry_run\":true}", S.key, 200);
    cr_assert_eq(json_integer_value(json_object_get(r, "count")), 1);
    json_decref(r);
    r = call("POST", "/v1/memory/consolidate", "{\"threshold\":0.95}", S.key, 200);
    json_t *m0 = json_array_get(json_object_get(r, "merges"), 0);
    cr_assert_eq(json_integer_value(json_object_get(m0, "survivor")), 1);
    cr_assert_eq(json_integer_value(json_object_get(m0, "merged")), 2);
    json_decref(r);
    json_decref(call("GET", "/v1/memory/2", NULL, S.key, 404));
    json_decref(call("POST", "/v1/memory/consolidate", "{\"threshold\":3}", S.key, 400));
}
