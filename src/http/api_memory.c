/*
 * api_memory.c - memory routes.  For now POST /v1/embeddings: the
 * database's embedder served in the OpenAI format, so existing OpenAI
 * clients and SDKs can use it (point their base URL at /v1 and use a
 * Flowstate key as the API key).
 *
 * Request: {"input": "text" | ["text", ...] (1..2048 non-empty strings),
 *           "model": ignored (the database has one embedder),
 *           "encoding_format": "float" (default) | "base64",
 *           "dimensions": must equal the database's, when given}
 * Answer:  {"object":"list","data":[{"object":"embedding","index":i,
 *           "embedding":[...] | "base64 of little-endian float32"}],
 *           "model": the embedder's version, "usage":{"prompt_tokens",
 *           "total_tokens"}} (tokens as text.h counts words).
 * An embedder failure is 502 "embedder_failed" (504 on a timeout) with
 * the embedder's reason.
 */
#include "http/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/xmem.h"
#include "http/body.h"
#include "memory/embed.h"
#include "memory/text.h"

#define MAX_INPUTS 2048

static char *base64(const void *data, size_t len)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    char *out = xmalloc(4 * ((len + 2) / 3) + 1), *o = out;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < len) v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < len) v |= p[i + 2];
        *o++ = tab[(v >> 18) & 63];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        *o++ = i + 2 < len ? tab[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

static bool count_token(void *ctx, const text_token *t)
{
    (void)t;
    ++*(size_t *)ctx;
    return true;
}

/* The input strings (borrowed from root).  false after a 400. */
static bool read_inputs(json_t *root, http_resp *resp, const char ***texts,
                        size_t **lens, size_t *n)
{
    json_t *in = json_object_get(root, "input");
    json_t *one = json_is_string(in) ? json_pack("[O]", in) : json_incref(in);
    size_t count = json_array_size(one);
    bool ok = json_is_array(one) && count >= 1 && count <= MAX_INPUTS;
    *texts = xcalloc(count ? count : 1, sizeof **texts);
    *lens = xcalloc(count ? count : 1, sizeof **lens);
    for (size_t i = 0; ok && i < count; i++) {
        json_t *v = json_array_get(one, i);
        ok = json_is_string(v) && json_string_length(v) > 0;
        (*texts)[i] = json_string_value(v);
        (*lens)[i] = json_string_length(v);
    }
    json_decref(one); /* the strings stay owned by root */
    if (!ok) {
        json_t *e = http_resp_error(resp, 400, "invalid_field",
                                    "field 'input' must be a non-empty string "
                                    "or an array of 1..%d non-empty strings",
                                    MAX_INPUTS);
        json_object_set_new(e, "field", json_string("input"));
        free(*texts);
        free(*lens);
    }
    *n = count;
    return ok;
}

static bool read_options(fs_app *app, json_t *root, http_resp *resp,
                         bool *b64)
{
    body_in in = { root, "", resp };
    const char *fmt = NULL;
    int64_t dims = 0;
    if (!body_str(&in, "encoding_format", 0, 16, &fmt) ||
        !body_int(&in, "dimensions", 0, 1, 1 << 20, &dims))
        return false;
    if (fmt && strcmp(fmt, "float") && strcmp(fmt, "base64")) {
        body_field_error(&in, "invalid_field", "encoding_format",
                         "must be \"float\" or \"base64\"");
        return false;
    }
    if (dims && (size_t)dims != app->space.dims) {
        body_field_error(&in, "invalid_field", "dimensions",
                         "must be %zu, this database's dimensions",
                         app->space.dims);
        return false;
    }
    *b64 = fmt && !strcmp(fmt, "base64");
    return true;
}

static json_t *vector_json(const float *v, size_t d, bool b64)
{
    if (b64) {
        char *s = base64(v, d * sizeof *v);
        json_t *j = json_string(s);
        free(s);
        return j;
    }
    json_t *arr = json_array();
    char num[32];
    for (size_t k = 0; k < d; k++) {
        /* The shortest decimal that reads back as the same float. */
        snprintf(num, sizeof num, "%.9g", v[k]);
        json_array_append_new(arr, json_real(strtod(num, NULL)));
    }
    return arr;
}

static size_t count_tokens(const char *const *texts, const size_t *lens,
                           size_t n)
{
    text_tokenizer *t;
    size_t total = 0;
    if (text_tokenizer_open(&t, NULL)) return 0;
    for (size_t i = 0; i < n; i++)
        text_tokenize(t, texts[i], lens[i], count_token, &total);
    text_tokenizer_close(t);
    return total;
}

void api_embeddings(http_req *req, http_resp *resp)
{
    fs_app *app = req->app;
    json_t *root = body_parse(req->body, req->body_len, false, resp);
    if (!root) return;
    const char **texts;
    size_t *lens, n, d = app->emb->dims;
    bool b64 = false;
    if (!read_options(app, root, resp, &b64) ||
        !read_inputs(root, resp, &texts, &lens, &n))
        goto free_root;
    float *v = xmalloc(n * d * sizeof *v);
    int rc = embed_texts(app->emb, texts, lens, n, v);
    if (rc == FS_ETIMEDOUT || rc == FS_EIO) {
        http_resp_error(resp, rc == FS_ETIMEDOUT ? 504 : 502, "embedder_failed",
                        "%s", app->emb->error[0] ? app->emb->error
                                                 : fs_strerror(rc));
    } else if (rc) {
        http_resp_fail(resp, req, rc, "embeddings");
    } else {
        json_t *data = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(data, json_pack("{s:s,s:I,s:o}", "object",
                "embedding", "index", (json_int_t)i, "embedding",
                vector_json(v + i * d, d, b64)));
        json_int_t tokens = (json_int_t)count_tokens(texts, lens, n);
        http_resp_json(resp, 200, json_pack("{s:s,s:o,s:s,s:{s:I,s:I}}",
            "object", "list", "data", data, "model", app->emb->version,
            "usage", "prompt_tokens", tokens, "total_tokens", tokens));
    }
    free(v);
    free(texts);
    free(lens);
free_root:
    json_decref(root);
}
