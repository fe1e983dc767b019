/*
 * test_embeddings.c - POST /v1/embeddings in the OpenAI format, over a real
 * socket: float and base64 answers, batches, bad input; and Flowstate's own
 * OpenAI client (embed_openai) pointed at a Flowstate server gets exactly
 * the vectors the local embedder makes in process.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "memory/embed.h"
#include "memory/vec.h"
#include "support/harness.h"

#define D 64

static th_server S;
static void setup(void) { th_server_start(&S, "--dims 64"); }
static void teardown(void) { th_server_cleanup(&S); }
TestSuite(embeddings, .init = setup, .fini = teardown, .timeout = 60);

static json_t *post(const char *body, int want)
{
    int st;
    json_t *j = th_json(&S, "POST", "/v1/embeddings", body, S.key, &st);
    cr_assert_eq(st, want, "status %d for %s", st, body);
    return j;
}

Test(embeddings, openai_format_float_and_base64)
{
    json_t *r = post("{\"input\":[\"refund the invoice\",\"pipeline review\"],"
                     "\"model\":\"anything\"}", 200);
    cr_assert_str_eq(json_string_value(json_object_get(r, "object")), "list");
    json_t *data = json_object_get(r, "data");
    cr_assert_eq(json_array_size(data), 2);
    json_t *e0 = json_array_get(data, 0);
    cr_assert_eq(json_integer_value(json_object_get(e0, "index")), 0);
    json_t *vec = json_object_get(e0, "embedding");
    cr_assert_eq(json_array_size(vec), D);
    double norm = 0;
    for (size_t k = 0; k < D; k++) {
        double x = json_number_value(json_array_get(vec, k));
        norm += x * x;
    }
    cr_assert_float_eq(norm, 1.0, 1e-4, "unit vectors");
    cr_assert(json_integer_value(json_object_get(json_object_get(r, "usage"),
                                                 "prompt_tokens")) == 5);
    json_decref(r);
    r = post("{\"input\":\"refund the invoice\",\"encoding_format\":\"base64\"}", 200);
    const char *b64 = json_string_value(json_object_get(
        json_array_get(json_object_get(r, "data"), 0), "embedding"));
    cr_assert_not_null(b64);
    cr_assert_eq(strlen(b64), 4 * ((D * 4 + 2) / 3), "64 float32 in base64");
    json_decref(r);
}

Test(embeddings, bad_input_gets_400_naming_the_field)
{
    const char *bad[] = { "{}", "{\"input\":\"\"}", "{\"input\":[]}",
                          "{\"input\":[1,2,3]}", "{\"input\":[\"a\",null]}",
                          "{\"input\":\"a\",\"dimensions\":1536}",
                          "{\"input\":\"a\",\"encoding_format\":\"hex\"}" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *r = post(bad[i], 400);
        cr_assert_not_null(json_object_get(json_object_get(r, "error"), "field"),
                           "%s", bad[i]);
        json_decref(r);
    }
    int st;
    free(th_http(&S, "POST", "/v1/embeddings", "{\"input\":\"a\"}", NULL, &st));
    cr_assert_eq(st, 401, "needs a key like every route");
}

Test(embeddings, our_openai_client_against_our_server_matches_local)
{
    char url[96];
    snprintf(url, sizeof url, "%s/v1", S.url);
    embed_openai_config c = { .url = url, .model = "flowstate", .key = S.key,
                              .dims = D, .timeout_ms = 10000 };
    embedder *remote, *local;
    cr_assert_eq(embed_openai_open(&remote, &c), 0);
    cr_assert_eq(embed_local_open(&local, D, NULL), 0);
    const char *t[2] = { "Customer asks for a refund", "Renewal call with Acme" };
    size_t l[2] = { strlen(t[0]), strlen(t[1]) };
    float a[2 * D], b[2 * D];
    cr_assert_eq(embed_texts(remote, t, l, 2, a), 0, "%s", remote->error);
    cr_assert_eq(embed_texts(local, t, l, 2, b), 0);
    /* The server's store is empty, so IDF is flat on both sides. */
    for (int i = 0; i < 2 * D; i++) cr_assert_float_eq(a[i], b[i], 1e-6);
    embed_close(remote);
    embed_close(local);
}
