/*
 * test_embed_openai.c - the OpenAI-compatible embedder against a real HTTP
 * server on loopback (support/fakehttp.h) that speaks /v1/embeddings and
 * can be told to misbehave: wrong dimensions, missing fields, an HTML error
 * page, 429 with Retry-After, 5xx, slowness past the timeout.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/fs.h"
#include "memory/embed.h"
#include "memory/vec.h"
#include "support/fakehttp.h"

#define D 8

/* How the server answers (besides fakehttp's FH_* modes). */
enum { WRONG_DIMS = FH_CUSTOM, NO_DATA, BAD_INDEX, NAN_VALUE };

static fakehttp S;

/* A valid answer for the request body: vector i is (i+1, 0, 0, ...). */
static char *ok_reply(const char *req, int dims, bool bad_index, bool nan)
{
    json_t *r = json_loads(req, 0, NULL);
    size_t n = json_array_size(json_object_get(r, "input"));
    json_decref(r);
    json_t *data = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array();
        for (int k = 0; k < dims; k++)
            json_array_append_new(v, k == 0 ? json_real((double)i + 1)
                                            : json_real(0));
        if (nan) json_array_set_new(v, 1, json_string("NaN"));
        json_array_append_new(data, json_pack("{s:s,s:i,s:o}", "object",
            "embedding", "index", bad_index ? 0 : (int)(n - 1 - i), "embedding", v));
    }
    json_t *out = json_pack("{s:s,s:o,s:s}", "object", "list", "data", data,
                            "model", "m");
    char *s = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    return s;
}

static void respond(fakehttp *s, int mode, const char *req, fh_reply *r)
{
    (void)s;
    switch (mode) {
    case WRONG_DIMS: r->body = ok_reply(req, D - 1, false, false); break;
    case BAD_INDEX: r->body = ok_reply(req, D, true, false); break;
    case NAN_VALUE: r->body = ok_reply(req, D, false, true); break;
    case NO_DATA: r->body = strdup("{\"object\":\"list\"}"); break;
    default: r->body = ok_reply(req, D, false, false); break;
    }
}

static void start(int n, const int *script)
{
    fh_start(&S, respond, n, script);
}

static embedder *open_at(long timeout_ms, int retries)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/", S.port);
    embed_openai_config c = { .url = url, .model = "test-model",
                              .key = "sk-secret", .dims = D, .batch = 2,
                              .timeout_ms = timeout_ms, .max_retries = retries,
                              .max_backoff_ms = 2000 };
    embedder *e;
    cr_assert_eq(embed_openai_open(&e, &c), 0);
    return e;
}

static int embed3(embedder *e, float *out)
{
    const char *t[3] = { "a", "bb", "ccc" };
    size_t l[3] = { 1, 2, 3 };
    return embed_texts(e, t, l, 3, out);
}

Test(embed_openai, batches_orders_by_index_and_normalises, .timeout = 30)
{
    start(0, NULL);
    embedder *e = open_at(5000, 0);
    float v[3 * D];
    cr_assert_eq(embed3(e, v), 0, "%s", e->error);
    cr_assert_eq(S.served, 2, "3 texts in batches of 2");
    for (int i = 0; i < 3; i++) {
        cr_assert_float_eq(v[i * D], 1.0f, 1e-6, "normalised, in input order");
    }
    cr_assert_str_eq(S.last_auth, "Bearer sk-secret");
    json_t *req = json_loads(S.last_body, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(req, "model")), "test-model");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(req, "input"), 0)), "ccc");
    json_decref(req);
    embed_close(e);
}

Test(embed_openai, malformed_answers_fail_with_a_clear_message, .timeout = 30)
{
    struct { int m; const char *says; } cases[] = {
        { WRONG_DIMS, "dimensions" }, { NO_DATA, "\"data\"" },
        { FH_HTML_502, "HTTP 502" }, { BAD_INDEX, "index" },
        { NAN_VALUE, "non-number" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        start(1, &cases[i].m);
        embedder *e = open_at(5000, 0);
        float v[3 * D];
        cr_assert_eq(embed3(e, v), FS_EIO, "case %zu", i);
        cr_assert(strstr(e->error, cases[i].says), "case %zu: %s", i, e->error);
        cr_assert_null(strstr(e->error, "sk-secret"), "never the key");
        embed_close(e);
        fh_stop(&S);
    }
}

Test(embed_openai, retries_honour_retry_after_then_succeed, .timeout = 30)
{
    int script[] = { FH_RATE_LIMITED, FH_ERR_500 };
    start(2, script);
    embedder *e = open_at(5000, 3);
    const char *t[1] = { "x" };
    size_t l[1] = { 1 };
    float v[D];
    int64_t t0 = fs_mono_ms();
    cr_assert_eq(embed_texts(e, t, l, 1, v), 0, "%s", e->error);
    cr_assert_eq(S.served, 3, "429, 500, then the answer");
    cr_assert_geq(fs_mono_ms() - t0, 1000, "waited the Retry-After second");
    embed_close(e);
}

Test(embed_openai, gives_up_after_max_retries, .timeout = 30)
{
    int script[] = { FH_ERR_500, FH_ERR_500, FH_ERR_500, FH_ERR_500 };
    start(4, script);
    embedder *e = open_at(5000, 2);
    float v[3 * D];
    cr_assert_eq(embed3(e, v), FS_EIO);
    cr_assert_eq(S.served, 3, "one try and two retries");
    cr_assert(strstr(e->error, "HTTP 500"), "%s", e->error);
    embed_close(e);
}

Test(embed_openai, a_slow_endpoint_times_out, .timeout = 30)
{
    int script[] = { FH_SLOW };
    start(1, script);
    embedder *e = open_at(300, 0);
    float v[3 * D];
    cr_assert_eq(embed3(e, v), FS_ETIMEDOUT, "%s", e->error);
    embed_close(e);
}

Test(embed_openai, unreachable_endpoint_fails_cleanly, .timeout = 30)
{
    start(0, NULL);
    fh_stop(&S);
    embedder *e = open_at(2000, 0);
    float v[3 * D];
    cr_assert_eq(embed3(e, v), FS_EIO);
    cr_assert(strstr(e->error, "embedding endpoint"), "%s", e->error);
    embed_close(e);
}
