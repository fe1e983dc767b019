/*
 * api_memory.c - memory routes: documents (POST/GET/DELETE /v1/memory),
 * semantic search (POST /v1/search/semantic) and POST /v1/embeddings, the
 * database's embedder served in the OpenAI format, so existing OpenAI
 * clients and SDKs can use it (point their base URL at /v1 and use a
 * Flowstate key as the API key).
 *
 * Documents: {"content" (required),"kind","agent","metadata":{},"tags":[],
 * "importance":0.5,"embedding":[...]} -> 201 {"id"}; {"documents":[...]}
 * -> 201 {"ids":[...]}, all or nothing.  An agent token writes documents
 * owned by its agent (another "agent" is 403) and reads all: the memory
 * is shared.
 *
 * Search: {"query":"..." | "vector":[...], "limit":10, "threshold":0.2,
 * "filter":{"agent","kind","tags":[...],"metadata":{k:v},"since","until"}}
 * -> {"results":[{"id","score","content","metadata",...}]}; an unknown
 * filter field is a 400, never silently ignored.  "rank":{"importance":w,
 * "recency":w,"half_life_hours":24} turns on memory ranking: score =
 * relevance + w_i * importance + w_r * 0.5^(age / half-life), and each
 * result then also carries its "relevance".  Hybrid takes the same
 * with "query" required, "fusion":"rrf" (the default: reciprocal rank,
 * "rrf_k" 60) or "convex" (min-max normalised scores, weighted), and
 * "weights":{"vector","text"} (1, 1); each result also carries its
 * "vector_rank" and "text_rank".
 *
 * Embeddings:
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
#include "core/json.h"
#include "core/xmem.h"
#include "http/body.h"
#include "memory/cluster.h"
#include "memory/embed.h"
#include "memory/memory.h"
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

/* --- documents -------------------------------------------------------- */

#define MAX_TAGS 64
#define MAX_NAME 200

static json_t *doc_json(const fs_doc *d)
{
    json_t *o = json_pack("{s:I,s:s,s:f}", "id", (json_int_t)d->id, "content",
                          d->content ? d->content : "", "importance",
                          d->importance);
    json_object_set_new(o, "agent", d->agent ? json_string(d->agent) : json_null());
    json_object_set_new(o, "kind", d->kind ? json_string(d->kind) : json_null());
    json_object_set_new(o, "metadata", api_json_text(d->metadata));
    json_object_set_new(o, "tags", api_json_text(d->tags));
    json_object_set_new(o, "embedder", d->embedder_version
                                           ? json_string(d->embedder_version)
                                           : json_null());
    json_object_set_new(o, "created_at", api_time(d->created_at));
    json_object_set_new(o, "updated_at", api_time(d->updated_at));
    return o;
}

/* A number in [lo, hi] (not a boolean). */
static bool body_num(const body_in *in, const char *field, double lo,
                     double hi, double *out)
{
    json_t *v = json_object_get(in->obj, field);
    if (!v || json_is_null(v)) return true;
    if (!json_is_number(v) || json_number_value(v) < lo ||
        json_number_value(v) > hi) {
        body_field_error(in, "invalid_field", field,
                         "must be a number between %g and %g", lo, hi);
        return false;
    }
    *out = json_number_value(v);
    return true;
}

/* A vector of numbers; OUT: *vec (caller frees) and *dims. */
static bool body_vector(const body_in *in, const char *field, float **vec,
                        size_t *dims)
{
    json_t *arr = json_object_get(in->obj, field);
    *vec = NULL;
    *dims = 0;
    if (!arr || json_is_null(arr)) return true;
    size_t n = json_array_size(arr);
    if (!json_is_array(arr) || n == 0 || n > SPACE_MAX_DIMS) {
        body_field_error(in, "invalid_field", field,
                         "must be an array of 1..%d numbers", SPACE_MAX_DIMS);
        return false;
    }
    *vec = xmalloc(n * sizeof **vec);
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(arr, i);
        if (!json_is_number(x)) {
            body_field_error(in, "invalid_field", field, "must hold numbers only");
            free(*vec);
            *vec = NULL;
            return false;
        }
        (*vec)[i] = (float)json_number_value(x);
    }
    *dims = n;
    return true;
}

/* Reads one document from o into d (strings owned by d). */
static bool read_doc(http_req *req, json_t *o, const char *where,
                     http_resp *resp, fs_doc *d)
{
    body_in in = { o, where, resp };
    const char *content = NULL, *kind = NULL, *agent = NULL;
    json_t *meta = NULL, *tags = NULL;
    memset(d, 0, sizeof *d);
    d->importance = 0.5;
    d->parent_ref = d->chunk_index = -1;
    if (!json_is_object(o)) {
        http_resp_error(resp, 400, "invalid_json", "a document must be an object");
        return false;
    }
    if (!body_str(&in, "content", BODY_REQUIRED, MEMORY_MAX_CONTENT, &content) ||
        !body_str(&in, "kind", 0, MAX_NAME, &kind) ||
        !body_str(&in, "agent", 0, MAX_NAME, &agent) ||
        !body_obj(&in, "metadata", 0, &meta) ||
        !body_str_array(&in, "tags", 0, MAX_TAGS, MAX_NAME, &tags) ||
        !body_num(&in, "importance", 0, 1, &d->importance) ||
        !body_vector(&in, "embedding", &d->embedding, &d->dims))
        return false;
    if (req->principal->role == AUTH_AGENT) {
        if (agent && !api_require_self(req, resp, agent)) return false;
        agent = req->principal->agent.id;
    }
    d->content = xstrdup(content);
    d->kind = xstrdup(kind);
    d->agent = xstrdup(agent);
    d->metadata = meta ? fs_json_dump(meta, 0) : xstrdup("{}");
    d->tags = tags ? fs_json_dump(tags, 0) : xstrdup("[]");
    return true;
}

/* Maps a memory_add/search failure to a response. */
static void memory_fail(http_req *req, http_resp *resp, int rc,
                        const char *why, const char *what)
{
    if (why && (rc == FS_EIO || rc == FS_ETIMEDOUT))
        http_resp_error(resp, rc == FS_ETIMEDOUT ? 504 : 502, "embedder_failed",
                        "%s", why);
    else if (rc == FS_EINVAL)
        http_resp_error(resp, 400, "invalid_field",
                        "%s: empty content, importance outside 0..1, or an "
                        "embedding that is not %zu finite numbers", what,
                        req->app->space.dims);
    else if (rc == FS_ETOOBIG)
        http_resp_error(resp, 413, "body_too_large", "%s: content too large",
                        what);
    else
        http_resp_fail(resp, req, rc, "%s", what);
}

void api_memory_add(http_req *req, http_resp *resp)
{
    json_t *root = body_parse(req->body, req->body_len, false, resp);
    if (!root) return;
    json_t *list = json_object_get(root, "documents");
    bool batch = list != NULL;
    size_t n = batch ? json_array_size(list) : 1;
    if (batch && (!json_is_array(list) || n == 0 || n > MEMORY_MAX_BATCH)) {
        json_t *e = http_resp_error(resp, 400, "invalid_field", "field "
            "'documents' must be an array of 1..%d documents", MEMORY_MAX_BATCH);
        json_object_set_new(e, "field", json_string("documents"));
        json_decref(root);
        return;
    }
    fs_doc *docs = xcalloc(n, sizeof *docs);
    size_t got = 0;
    for (; got < n; got++) {
        char where[48] = "";
        if (batch) snprintf(where, sizeof where, "documents[%zu].", got);
        if (!read_doc(req, batch ? json_array_get(list, got) : root, where,
                      resp, &docs[got])) {
            fs_doc_clear(&docs[got]);
            goto out;
        }
    }
    const char *why;
    int rc = memory_add(req->app->mem, docs, n, &why);
    if (rc) {
        memory_fail(req, resp, rc, why, "cannot add");
    } else if (batch) {
        json_t *ids = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(ids, json_integer(docs[i].id));
        http_resp_json(resp, 201, json_pack("{s:o}", "ids", ids));
    } else {
        http_resp_json(resp, 201, json_pack("{s:I}", "id", (json_int_t)docs[0].id));
    }
out:
    fs_docs_free(docs, got);
    json_decref(root);
}

static bool doc_id(http_req *req, http_resp *resp, int64_t *id)
{
    const char *s = req->nparams ? req->params[0] : "";
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v <= 0 || strspn(s, "0123456789") != strlen(s)) {
        http_resp_error(resp, 404, "not_found", "no such document");
        return false;
    }
    *id = v;
    return true;
}

void api_memory_get(http_req *req, http_resp *resp)
{
    int64_t id;
    fs_doc d;
    if (!doc_id(req, resp, &id)) return;
    int rc = store_doc_get(req->app->st, id, false, &d);
    if (rc) {
        http_resp_fail(resp, req, rc, "no such document");
        return;
    }
    http_resp_json(resp, 200, doc_json(&d));
    fs_doc_clear(&d);
}

/* Applies the patch fields present in o to d.  OUT: *content, whether the
 * content (or the vector) changes.  false after a 400. */
static bool apply_patch(http_req *req, json_t *o, http_resp *resp, fs_doc *d,
                        bool *content)
{
    body_in in = { o, "", resp };
    const char *text = NULL, *kind = NULL;
    json_t *meta = NULL, *tags = NULL;
    float *vec = NULL;
    size_t dims = 0;
    if (!json_is_object(o) ||
        !body_str(&in, "content", 0, MEMORY_MAX_CONTENT, &text) ||
        !body_str(&in, "kind", 0, MAX_NAME, &kind) ||
        !body_obj(&in, "metadata", 0, &meta) ||
        !body_str_array(&in, "tags", 0, MAX_TAGS, MAX_NAME, &tags) ||
        !body_num(&in, "importance", 0, 1, &d->importance) ||
        !body_vector(&in, "embedding", &vec, &dims)) {
        if (!json_is_object(o))
            http_resp_error(resp, 400, "invalid_json", "the body must be an object");
        return false;
    }
    if (json_object_get(o, "agent") && req->principal->role != AUTH_ADMIN) {
        http_resp_error(resp, 403, "forbidden", "only an admin may change the "
                        "owner of a document");
        free(vec);
        return false;
    }
    const char *agent = NULL;
    if (!body_str(&in, "agent", 0, MAX_NAME, &agent)) {
        free(vec);
        return false;
    }
#define REPLACE(field, value) \
    do { free(d->field); d->field = (value); } while (0)
    if (agent) REPLACE(agent, xstrdup(agent));
    if (kind) REPLACE(kind, xstrdup(kind));
    if (meta) REPLACE(metadata, fs_json_dump(meta, 0));
    if (tags) REPLACE(tags, fs_json_dump(tags, 0));
    *content = vec || (text && strcmp(text, d->content) != 0);
    if (text) REPLACE(content, xstrdup(text));
    if (vec) {
        REPLACE(embedding, vec);
        d->dims = dims;
    }
#undef REPLACE
    return true;
}

/* PATCH /v1/memory/{id}: the fields given replace the stored ones;
 * new content is re-chunked and re-embedded. */
void api_memory_patch(http_req *req, http_resp *resp)
{
    int64_t id;
    fs_doc d;
    if (!doc_id(req, resp, &id)) return;
    json_t *root = body_parse(req->body, req->body_len, false, resp);
    if (!root) return;
    int rc = store_doc_get(req->app->st, id, false, &d);
    if (rc || d.parent_id) {
        if (!rc) fs_doc_clear(&d);
        http_resp_fail(resp, req, rc ? rc : FS_ENOTFOUND, "no such document");
        goto out;
    }
    bool content = false;
    const char *why = NULL;
    if (req->principal->role == AUTH_AGENT &&
        (!d.agent || !api_require_self(req, resp, d.agent))) {
        if (!d.agent) http_resp_error(resp, 403, "forbidden",
                                      "only an admin may change this document");
    } else if (apply_patch(req, root, resp, &d, &content)) {
        rc = memory_update(req->app->mem, &d, content, &why);
        if (rc) {
            memory_fail(req, resp, rc, why, "cannot update");
        } else {
            fs_doc_clear(&d);
            rc = store_doc_get(req->app->st, id, false, &d);
            if (rc) http_resp_fail(resp, req, rc, "no such document");
            else http_resp_json(resp, 200, doc_json(&d));
        }
    }
    fs_doc_clear(&d);
out:
    json_decref(root);
}

void api_memory_delete(http_req *req, http_resp *resp)
{
    int64_t id;
    fs_doc d = { 0 }; /* cleared below whether or not the get found it */
    if (!doc_id(req, resp, &id)) return;
    int rc = store_doc_get(req->app->st, id, false, &d);
    if (!rc && req->principal->role == AUTH_AGENT &&
        (!d.agent || !api_require_self(req, resp, d.agent))) {
        if (!d.agent) http_resp_error(resp, 403, "forbidden",
                                      "only an admin may delete this document");
        fs_doc_clear(&d);
        return;
    }
    fs_doc_clear(&d);
    if (!rc) rc = memory_delete(req->app->mem, id);
    if (rc) {
        http_resp_fail(resp, req, rc, "no such document");
        return;
    }
    http_resp_json(resp, 200, json_pack("{s:I,s:b}", "id", (json_int_t)id,
                                        "deleted", 1));
}

void api_memory_list(http_req *req, http_resp *resp)
{
    int64_t limit = 50, cursor = 0;
    store_doc_filter f = { .agent = http_query(req, "agent"),
                           .kind = http_query(req, "kind") };
    const char *tag = http_query(req, "tag");
    if (tag) {
        f.tags = &tag;
        f.ntags = 1;
    }
    if (!body_query_int(resp, "limit", http_query(req, "limit"), 1,
                        MEMORY_MAX_BATCH, &limit) ||
        !body_query_int(resp, "cursor", http_query(req, "cursor"), 1,
                        INT64_MAX, &cursor))
        return;
    f.limit = (int)limit + 1;
    f.before_id = cursor;
    fs_doc *docs;
    size_t n;
    int rc = store_doc_list(req->app->st, &f, false, &docs, &n);
    if (rc) {
        http_resp_fail(resp, req, rc, "list documents");
        return;
    }
    size_t shown = n > (size_t)limit ? (size_t)limit : n;
    json_t *arr = json_array(), *next = json_null();
    for (size_t i = 0; i < shown; i++) json_array_append_new(arr, doc_json(&docs[i]));
    if (n > shown) {
        char buf[24];
        snprintf(buf, sizeof buf, "%lld", (long long)docs[shown - 1].id);
        json_decref(next);
        next = json_string(buf);
    }
    fs_docs_free(docs, n);
    http_resp_json(resp, 200, json_pack("{s:o,s:o}", "documents", arr,
                                        "next_cursor", next));
}

/* --- semantic search -------------------------------------------------- */

typedef struct filter_buf {
    store_doc_filter f;
    const char *tags[MAX_TAGS];
    const char *keys[16], *values[16];
    char *owned[16]; /* number/bool metadata values as text */
    size_t nowned;
} filter_buf;

static void filter_free(filter_buf *fb)
{
    for (size_t i = 0; i < fb->nowned; i++) free(fb->owned[i]);
}

static bool read_meta_filter(body_in *in, json_t *meta, filter_buf *fb)
{
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v) {
        if (fb->f.nmeta == 16 || strpbrk(k, "\"\\")) {
            body_field_error(in, "invalid_field", "metadata",
                             "at most 16 keys, without quotes or backslashes");
            return false;
        }
        const char *text = json_string_value(v);
        if (!text && (json_is_number(v) || json_is_boolean(v))) {
            char *t = fs_json_dump(v, JSON_ENCODE_ANY);
            fb->owned[fb->nowned++] = t;
            text = json_is_true(v) ? "1" : json_is_false(v) ? "0" : t;
        }
        if (!text) {
            body_field_error(in, "invalid_field", "metadata",
                             "values must be strings, numbers or booleans");
            return false;
        }
        fb->keys[fb->f.nmeta] = k;
        fb->values[fb->f.nmeta++] = text;
    }
    fb->f.meta_keys = fb->keys;
    fb->f.meta_values = fb->values;
    return true;
}

/* Reads "filter"; unknown fields are refused. */
static bool read_filter(json_t *root, http_resp *resp, filter_buf *fb)
{
    static const char *known[] = { "agent", "kind", "tags", "metadata",
                                   "since", "until" };
    memset(fb, 0, sizeof *fb);
    json_t *o = json_object_get(root, "filter");
    if (!o || json_is_null(o)) return true;
    body_in in = { o, "filter.", resp };
    if (!json_is_object(o)) {
        body_in top = { root, "", resp };
        body_field_error(&top, "invalid_field", "filter", "must be an object");
        return false;
    }
    json_t *tags = NULL, *meta = NULL;
    if (!body_only_fields(&in, known, sizeof known / sizeof *known)) return false;
    if (!body_str(&in, "agent", 0, MAX_NAME, &fb->f.agent) ||
        !body_str(&in, "kind", 0, MAX_NAME, &fb->f.kind) ||
        !body_str_array(&in, "tags", 0, MAX_TAGS, MAX_NAME, &tags) ||
        !body_obj(&in, "metadata", 0, &meta) ||
        !body_time(&in, "since", 0, &fb->f.since) ||
        !body_time(&in, "until", 0, &fb->f.until))
        return false;
    for (size_t i = 0; i < json_array_size(tags); i++)
        fb->tags[i] = json_string_value(json_array_get(tags, i));
    fb->f.tags = fb->tags;
    fb->f.ntags = json_array_size(tags);
    return !meta || read_meta_filter(&in, meta, fb);
}

static json_t *hit_json(const memory_hit *h)
{
    json_t *o = doc_json(&h->doc);
    json_object_set_new(o, "score", json_real(h->score));
    if (h->relevance != h->score)
        json_object_set_new(o, "relevance", json_real(h->relevance));
    if (h->chunk >= 0) {
        json_object_set_new(o, "chunk", json_integer(h->chunk));
        json_object_set_new(o, "matched", json_string(h->matched ? h->matched : ""));
    }
    return o;
}

typedef struct search_req {
    memory_query q;
    memory_hybrid_opts o;
    float *vec;
    filter_buf fb;
} search_req;

/* Reads the fields both search kinds share; hybrid adds rrf_k/weights and
 * requires text. */
static bool read_search(json_t *root, http_resp *resp, bool hybrid,
                        search_req *s)
{
    body_in in = { root, "", resp };
    int64_t limit = 10, ef = 0;
    json_t *w = NULL;
    s->q = (memory_query){ .limit = 10, .threshold = -1e30 };
    bool ok = body_str(&in, "query", 0, MEMORY_MAX_CONTENT, &s->q.text) &&
              body_int(&in, "ef_search", 0, 1, 100000, &ef) &&
              body_vector(&in, "vector", &s->vec, &s->q.dims) &&
              body_int(&in, "limit", 0, 1, MEMORY_MAX_BATCH, &limit) &&
              body_num(&in, "threshold", -1e30, 1e30, &s->q.threshold) &&
              read_filter(root, resp, &s->fb);
    json_t *rank = NULL;
    if (ok && !hybrid) ok = body_obj(&in, "rank", 0, &rank);
    if (ok && rank) {
        static const char *known[] = { "importance", "recency",
                                       "half_life_hours" };
        body_in rin = { rank, "rank.", resp };
        ok = body_only_fields(&rin, known, 3) &&
             body_num(&rin, "importance", 0, 1e6, &s->q.w_importance) &&
             body_num(&rin, "recency", 0, 1e6, &s->q.w_recency) &&
             body_num(&rin, "half_life_hours", 1e-6, 1e9, &s->q.half_life_hours);
    }
    const char *fusion = NULL;
    if (ok && hybrid)
        ok = body_num(&in, "rrf_k", 1e-9, 1e9, &s->o.rrf_k) &&
             body_obj(&in, "weights", 0, &w) &&
             body_str(&in, "fusion", 0, 16, &fusion);
    if (ok && fusion && strcmp(fusion, "rrf") && strcmp(fusion, "convex")) {
        http_resp_error(resp, 400, "invalid_field", "'fusion' must be \"rrf\" or \"convex\"");
        ok = false;
    }
    s->o.fusion = fusion && !strcmp(fusion, "convex") ? FUSION_CONVEX : FUSION_RRF;
    if (ok && w) {
        body_in win = { w, "weights.", resp };
        ok = body_num(&win, "vector", 0, 1e9, &s->o.w_vector) &&
             body_num(&win, "text", 0, 1e9, &s->o.w_text);
    }
    if (ok && (hybrid ? !s->q.text || s->vec : !s->q.text == !s->vec)) {
        http_resp_error(resp, 400, "missing_field", hybrid
                        ? "hybrid search needs 'query' (text)"
                        : "give exactly one of 'query' (text) or 'vector'");
        ok = false;
    }
    s->q.vector = s->vec;
    s->q.ef = (int)ef;
    s->q.limit = (size_t)limit;
    s->q.filter = &s->fb.f;
    return ok;
}

static void search(http_req *req, http_resp *resp, bool hybrid)
{
    json_t *root = body_parse(req->body, req->body_len, false, resp);
    if (!root) return;
    search_req s = { 0 };
    if (read_search(root, resp, hybrid, &s)) {
        memory_hit *hits;
        size_t n;
        const char *why;
        int rc = hybrid ? memory_hybrid(req->app->mem, &s.q, &s.o, &hits, &n, &why)
                        : memory_search(req->app->mem, &s.q, &hits, &n, &why);
        if (rc) {
            memory_fail(req, resp, rc, why, "cannot search");
        } else {
            json_t *arr = json_array();
            for (size_t i = 0; i < n; i++) {
                json_t *h = hit_json(&hits[i]);
                if (hybrid) {
                    json_object_set_new(h, "vector_rank", hits[i].vector_rank
                        ? json_integer(hits[i].vector_rank) : json_null());
                    json_object_set_new(h, "text_rank", hits[i].text_rank
                        ? json_integer(hits[i].text_rank) : json_null());
                }
                json_array_append_new(arr, h);
            }
            memory_hits_free(hits, n);
            http_resp_json(resp, 200, json_pack("{s:o}", "results", arr));
        }
    }
    filter_free(&s.fb);
    free(s.vec);
    json_decref(root);
}

void api_search_semantic(http_req *req, http_resp *resp)
{
    search(req, resp, false);
}

/* An array of 0..MEMORY_MAX_BATCH positive document ids.  OUT: *ids
 * (caller frees), *n. */
static bool read_ids(const body_in *in, const char *field, int64_t **ids,
                     size_t *n)
{
    json_t *arr = json_object_get(in->obj, field);
    *ids = NULL;
    *n = 0;
    if (!arr || json_is_null(arr)) return true;
    size_t count = json_array_size(arr);
    if (!json_is_array(arr) || count > MEMORY_MAX_BATCH) goto bad;
    *ids = xmalloc((count ? count : 1) * sizeof **ids);
    for (size_t i = 0; i < count; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_integer(v) || json_integer_value(v) <= 0) goto bad;
        (*ids)[(*n)++] = json_integer_value(v);
    }
    return true;
bad:
    free(*ids);
    *ids = NULL;
    body_field_error(in, "invalid_field", field,
                     "must be an array of at most %d document ids",
                     MEMORY_MAX_BATCH);
    return false;
}

/* similar: {"id"}; recommend: {"positive":[...],"negative":[...]}; both
 * with limit, threshold and filter. */
static void by_example(http_req *req, http_resp *resp, bool similar)
{
    json_t *root = body_parse(req->body, req->body_len, false, resp);
    if (!root) return;
    body_in in = { root, "", resp };
    search_req s = { .q.threshold = -1e30 };
    int64_t id = 0, *pos = NULL, *neg = NULL;
    size_t npos = 0, nneg = 0;
    int64_t limit = 10;
    bool ok = body_int(&in, "limit", 0, 1, MEMORY_MAX_BATCH, &limit) &&
              body_num(&in, "threshold", -1e30, 1e30, &s.q.threshold) &&
              read_filter(root, resp, &s.fb) &&
              (similar ? body_int(&in, "id", BODY_REQUIRED, 1, INT64_MAX, &id)
                       : read_ids(&in, "positive", &pos, &npos) &&
                             read_ids(&in, "negative", &neg, &nneg));
    if (ok && !similar && npos == 0) {
        body_field_error(&in, "missing_field", "positive",
                         "needs at least one document id");
        ok = false;
    }
    if (ok) {
        memory_hit *hits;
        size_t n;
        s.q.limit = (size_t)limit;
        s.q.filter = &s.fb.f;
        int rc = similar ? memory_similar(req->app->mem, &s.q, id, &hits, &n)
                         : memory_recommend(req->app->mem, &s.q, pos, npos,
                                            neg, nneg, &hits, &n);
        if (rc == FS_ENOTFOUND) {
            http_resp_error(resp, 404, "not_found", "an example document "
                            "does not exist");
        } else if (rc) {
            memory_fail(req, resp, rc, NULL, "cannot search");
        } else {
            json_t *arr = json_array();
            for (size_t i = 0; i < n; i++) json_array_append_new(arr, hit_json(&hits[i]));
            memory_hits_free(hits, n);
            http_resp_json(resp, 200, json_pack("{s:o}", "results", arr));
        }
    }
    filter_free(&s.fb);
    free(pos);
    free(neg);
    json_decref(root);
}

void api_search_similar(http_req *req, http_resp *resp)
{
    by_example(req, resp, true);
}

void api_search_recommend(http_req *req, http_resp *resp)
{
    by_example(req, resp, false);
}

void api_search_hybrid(http_req *req, http_resp *resp)
{
    search(req, resp, true);
}

/* --- clusters --------------------------------------------------------- */

static json_t *cluster_json(const memory_cluster *c)
{
    json_t *terms = json_array(), *members = json_array();
    for (size_t j = 0; j < c->nterms; j++)
        json_array_append_new(terms, json_string(c->terms[j]));
    for (size_t i = 0; i < c->nmembers; i++)
        json_array_append_new(members, json_integer(c->members[i]));
    return json_pack("{s:s,s:o,s:o,s:I}", "label", c->label, "terms", terms,
                     "members", members, "size", (json_int_t)c->nmembers);
}

/* {"k"?: 1..256 (absent: chosen by silhouette), "filter"?,
 *  "max_documents"?: 1..5000} -> {"clusters":[{"label","terms","members",
 *  "size"}],"k","silhouette"}, largest cluster first. */
void api_search_cluster(http_req *req, http_resp *resp)
{
    json_t *root = body_parse(req->body, req->body_len, true, resp);
    if (!root) return;
    body_in in = { root, "", resp };
    int64_t k = 0, max = 0;
    filter_buf fb = { 0 };
    if (body_int(&in, "k", 0, 1, CLUSTER_MAX_K, &k) &&
        body_int(&in, "max_documents", 0, 1, MEMORY_CLUSTER_MAX_DOCS, &max) &&
        read_filter(root, resp, &fb)) {
        memory_cluster *c;
        size_t n;
        double sil;
        int rc = memory_cluster_docs(req->app->mem, &fb.f, (size_t)k,
                                     (size_t)max, &c, &n, &sil);
        if (rc) {
            http_resp_fail(resp, req, rc, "cluster");
        } else {
            json_t *arr = json_array();
            for (size_t i = 0; i < n; i++) json_array_append_new(arr, cluster_json(&c[i]));
            memory_clusters_free(c, n);
            http_resp_json(resp, 200, json_pack("{s:o,s:I,s:f}", "clusters", arr,
                                                "k", (json_int_t)n, "silhouette", sil));
        }
    }
    filter_free(&fb);
    json_decref(root);
}

/* POST /v1/memory/consolidate {"threshold":0.95,"filter":{…},"dry_run":false}
 * -> {"merges":[{"survivor","merged","similarity"}],"count"}. */
void api_memory_consolidate(http_req *req, http_resp *resp)
{
    json_t *root = body_parse(req->body, req->body_len, true, resp);
    if (!root) return;
    body_in in = { root, "", resp };
    double threshold = 0.95;
    bool dry = false;
    filter_buf fb = { 0 };
    if (body_num(&in, "threshold", 0, 1, &threshold) &&
        body_bool(&in, "dry_run", 0, &dry) && read_filter(root, resp, &fb)) {
        memory_merge *mg;
        size_t n;
        int rc = memory_consolidate(req->app->mem, &fb.f, threshold, dry, &mg, &n);
        if (rc) {
            http_resp_fail(resp, req, rc, "consolidate");
        } else {
            json_t *arr = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, json_pack("{s:I,s:I,s:f}", "survivor",
                    (json_int_t)mg[i].survivor, "merged", (json_int_t)mg[i].merged,
                    "similarity", mg[i].similarity));
            free(mg);
            http_resp_json(resp, 200, json_pack("{s:o,s:I,s:b}", "merges", arr,
                                                "count", (json_int_t)n, "dry_run", dry));
        }
    }
    filter_free(&fb);
    json_decref(root);
}
