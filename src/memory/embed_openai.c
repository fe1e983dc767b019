/*
 * embed_openai.c - embeddings from any OpenAI-compatible endpoint over
 * libcurl: POST {url}/embeddings {"model","input":[...]} and read
 * {"data":[{"index":i,"embedding":[...]}]}.
 *
 * Texts go in batches of cfg.batch, each one core/oai.h POST: it retries
 * 429, 5xx and network errors with backoff (Retry-After honoured) and
 * describes HTTP errors and non-JSON answers.  Every malformed answer
 * fails the call with a message in e->error naming what was wrong: a
 * missing "data", an index out of range or repeated, a vector of the wrong
 * length or with a non-number.  The key is sent only in the Authorization
 * header and never appears in a message.
 */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/oai.h"
#include "core/xmem.h"
#include "memory/embed.h"
#include "memory/vec.h"

typedef struct openai {
    embedder base;
    embed_openai_config cfg;
    char *url, *model, *key; /* owned copies */
    oai_endpoint ep;         /* over the copies */
} openai;

static void fail(openai *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->base.error, sizeof o->base.error, fmt, ap);
    va_end(ap);
}

/* Reads a reply's vectors into out (n texts).  false with o->base.error. */
static bool read_vectors(openai *o, json_t *root, size_t n, float *out)
{
    size_t dims = o->base.dims;
    json_t *data = json_object_get(root, "data");
    if (!json_is_array(data) || json_array_size(data) != n) {
        fail(o, "embedding endpoint: \"data\" must be an array of %zu items",
             n);
        return false;
    }
    bool *seen = xcalloc(n, sizeof *seen);
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++) {
        json_t *item = json_array_get(data, i);
        json_t *idx = json_object_get(item, "index");
        json_t *emb = json_object_get(item, "embedding");
        size_t at = json_is_integer(idx) ? (size_t)json_integer_value(idx) : i;
        if ((idx && !json_is_integer(idx)) || at >= n || seen[at]) {
            fail(o, "embedding endpoint: item %zu has a bad or repeated "
                    "\"index\"", i);
            ok = false;
        } else if (!json_is_array(emb) || json_array_size(emb) != dims) {
            fail(o, "embedding endpoint: item %zu has %zu dimensions, want "
                    "%zu", i, json_is_array(emb) ? json_array_size(emb) : 0,
                 dims);
            ok = false;
        }
        for (size_t k = 0; ok && k < dims; k++) {
            json_t *v = json_array_get(emb, k);
            double x = json_number_value(v);
            if (!json_is_number(v) || !isfinite(x)) {
                fail(o, "embedding endpoint: item %zu holds a non-number", i);
                ok = false;
            }
            out[at * dims + k] = (float)x;
        }
        if (ok) seen[at] = true;
    }
    free(seen);
    return ok;
}

static char *request_body(openai *o, const char *const *texts,
                          const size_t *lens, size_t n)
{
    json_t *input = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(input, json_stringn(texts[i], lens[i]));
    json_t *req = json_pack("{s:s,s:o}", "model", o->model, "input", input);
    if (o->cfg.send_dimensions)
        json_object_set_new(req, "dimensions", json_integer((json_int_t)o->base.dims));
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    return body;
}

/* Embeds one batch (oai_post does the retries). */
static int embed_batch(openai *o, const char *const *texts, const size_t *lens,
                       size_t n, float *out)
{
    char *body = request_body(o, texts, lens, n);
    if (!body) {
        fail(o, "a text is not valid UTF-8");
        return FS_EINVAL;
    }
    json_t *root;
    int rc = oai_post(&o->ep, "/embeddings", body, &root, o->base.error,
                      sizeof o->base.error);
    if (!rc && !read_vectors(o, root, n, out)) rc = FS_EIO;
    json_decref(root);
    free(body);
    return rc;
}

static int openai_embed(embedder *e, const char *const *texts,
                        const size_t *lens, size_t n, float *out)
{
    openai *o = (openai *)e;
    e->error[0] = '\0';
    for (size_t i = 0; i < n; i += o->cfg.batch) {
        size_t k = n - i < o->cfg.batch ? n - i : o->cfg.batch;
        int rc = embed_batch(o, texts + i, lens + i, k, out + i * e->dims);
        if (rc) return rc;
    }
    for (size_t i = 0; i < n; i++) vec_normalize(out + i * e->dims, e->dims);
    return 0;
}

static void openai_close(embedder *e)
{
    openai *o = (openai *)e;
    free(o->url);
    free(o->model);
    if (o->key) memset(o->key, 0, strlen(o->key));
    free(o->key);
    free((char *)o->base.version);
    free(o);
}

static const embedder_ops openai_ops = { openai_embed, openai_close };

int embed_openai_open(embedder **out, const embed_openai_config *cfg)
{
    if (!cfg->url || !*cfg->url || !cfg->model || !*cfg->model ||
        cfg->dims == 0)
        return FS_EINVAL;
    openai *o = xcalloc(1, sizeof *o);
    o->cfg = *cfg;
    if (!o->cfg.batch) o->cfg.batch = 64;
    if (!o->cfg.timeout_ms) o->cfg.timeout_ms = 30000;
    if (o->cfg.max_retries < 0) o->cfg.max_retries = 5;
    if (!o->cfg.max_backoff_ms) o->cfg.max_backoff_ms = 30000;
    o->url = xstrdup(cfg->url);
    o->model = xstrdup(cfg->model);
    o->key = xstrdup(cfg->key);
    o->ep = (oai_endpoint){ o->url, o->key, "embedding endpoint",
                            o->cfg.timeout_ms, o->cfg.max_retries,
                            o->cfg.max_backoff_ms };
    o->base = (embedder){ &openai_ops, "openai",
                          xasprintf("openai:%s:%zu", cfg->model, cfg->dims),
                          cfg->dims, "" };
    *out = &o->base;
    return 0;
}
