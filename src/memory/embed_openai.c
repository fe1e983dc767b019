/*
 * embed_openai.c - embeddings from any OpenAI-compatible endpoint over
 * libcurl: POST {url}/embeddings {"model","input":[...]} and read
 * {"data":[{"index":i,"embedding":[...]}]}.
 *
 * Texts go in batches of cfg.batch.  A request that fails with 429, a 5xx
 * or a network error (including a timeout) is retried up to max_retries
 * times after an exponential backoff with jitter, or after the server's
 * Retry-After when it gives one (capped by max_backoff_ms).  Any other
 * failure, and every malformed answer, fails the call with a message in
 * e->error naming what was wrong: HTTP status and the start of a non-JSON
 * body (an HTML error page), a missing "data", an index out of range or
 * repeated, a vector of the wrong length or with a non-number.  The key is
 * sent only in the Authorization header and never appears in a message.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/backoff.h"
#include "core/fs.h"
#include "core/metrics.h"
#include "core/rand.h"
#include "core/xmem.h"
#include "memory/embed.h"
#include "memory/vec.h"

#define MAX_REPLY (64u << 20)

typedef struct openai {
    embedder base;
    embed_openai_config cfg;
    char *url, *model, *key; /* owned copies */
} openai;

typedef struct reply {
    fs_buf body;
    long retry_after_ms; /* -1: none given */
} reply;

static void fail(openai *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->base.error, sizeof o->base.error, fmt, ap);
    va_end(ap);
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    reply *r = ud;
    if (r->body.len + sz * n > MAX_REPLY) return 0; /* aborts the transfer */
    fs_buf_printf(&r->body, "%.*s", (int)(sz * n), p);
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    reply *r = ud;
    size_t len = sz * n;
    if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        char *end;
        double secs = strtod(p + 12, &end);
        if (end != p + 12 && secs >= 0) r->retry_after_ms = (long)(secs * 1000);
    }
    return len;
}

/* One POST.  OUT: *status (0 for a network error), r.  curl error text
 * goes to o->base.error.  Returns curl's code. */
static CURLcode post(openai *o, const char *body, long *status, reply *r)
{
    CURL *h = curl_easy_init();
    char url[2048], auth[1100];
    snprintf(url, sizeof url, "%s/embeddings", o->url);
    struct curl_slist *hdr = curl_slist_append(NULL,
                                               "Content-Type: application/json");
    if (o->key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", o->key);
        hdr = curl_slist_append(hdr, auth);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, o->cfg.timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    CURLcode rc = curl_easy_perform(h);
    *status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    else fail(o, "embedding endpoint %s: %s", o->url, curl_easy_strerror(rc));
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return rc;
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

static bool retryable(long status)
{
    return status == 0 || status == 429 || status >= 500;
}

/* Describes a non-2xx or non-JSON reply. */
static void describe(openai *o, long status, const reply *r)
{
    const char *b = r->body.data ? r->body.data : "";
    char start[81];
    size_t k = 0;
    for (; b[k] && k < 80; k++)
        start[k] = (b[k] == '\n' || b[k] == '\r') ? ' ' : b[k];
    start[k] = '\0';
    fail(o, "embedding endpoint answered HTTP %ld with %s: %s", status,
         status >= 200 && status < 300 ? "a body that is not JSON" : "an error",
         start);
}

/* Embeds one batch with retries. */
static int embed_batch(openai *o, const char *const *texts, const size_t *lens,
                       size_t n, float *out)
{
    char *body = request_body(o, texts, lens, n);
    if (!body) {
        fail(o, "a text is not valid UTF-8");
        return FS_EINVAL;
    }
    fs_backoff bo = { 250, o->cfg.max_backoff_ms, 0.5 };
    int rc = FS_EIO;
    for (int attempt = 0;; attempt++) {
        reply r = { { 0 }, -1 };
        long status;
        CURLcode net = post(o, body, &status, &r);
        json_t *root = status >= 200 && status < 300
                           ? json_loadb(r.body.data ? r.body.data : "",
                                        r.body.len, 0, NULL)
                           : NULL;
        if (status && !root) describe(o, status, &r);
        bool done = root && read_vectors(o, root, n, out);
        json_decref(root);
        rc = done ? 0 : net == CURLE_OPERATION_TIMEDOUT ? FS_ETIMEDOUT : FS_EIO;
        bool again = !done && retryable(status) && attempt < o->cfg.max_retries;
        long wait = r.retry_after_ms >= 0
                        ? r.retry_after_ms
                        : (long)fs_backoff_delay(&bo, attempt + 1, fs_rand01());
        if (wait > o->cfg.max_backoff_ms) wait = o->cfg.max_backoff_ms;
        fs_buf_free(&r.body);
        if (!again) break;
        struct timespec ts = { wait / 1000, (wait % 1000) * 1000000 };
        nanosleep(&ts, NULL);
    }
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
    size_t ul = strlen(o->url);
    while (ul > 0 && o->url[ul - 1] == '/') o->url[--ul] = '\0';
    o->model = xstrdup(cfg->model);
    o->key = xstrdup(cfg->key);
    o->base = (embedder){ &openai_ops, "openai",
                          xasprintf("openai:%s:%zu", cfg->model, cfg->dims),
                          cfg->dims, "" };
    *out = &o->base;
    return 0;
}
