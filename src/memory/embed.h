/*
 * embed.h - embedders: text in, float32 vectors of a fixed dimension out.
 *
 * An embedder is a struct of function pointers behind an opaque handle
 * (like the store), so the memory service does not care whether vectors
 * come from the built-in offline `local` embedder or from an
 * OpenAI-compatible HTTP endpoint.  Every vector an embedder returns is
 * L2-normalised (or all zeros for text with no tokens).
 */
#ifndef EMBED_H
#define EMBED_H
#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

typedef struct embedder embedder;

typedef struct embedder_ops {
    /* Embeds n texts (lens[i] bytes each) into out[i * dims ...].
     * Errors: FS_EINVAL, FS_EIO (remote embedders), FS_ETIMEDOUT. */
    int (*embed)(embedder *e, const char *const *texts, const size_t *lens,
                 size_t n, float *out);
    void (*close)(embedder *e);
} embedder_ops;

/* Every embedder's handle starts with this. */
struct embedder {
    const embedder_ops *ops;
    const char *name;    /* "local", "openai" */
    const char *version; /* changes whenever its vectors would change */
    size_t dims;
    char error[256];     /* why the last embed call failed ("" if it did not) */
};

static inline int embed_texts(embedder *e, const char *const *texts,
                              const size_t *lens, size_t n, float *out)
{ return e->ops->embed(e, texts, lens, n, out); }

static inline void embed_close(embedder *e)
{ if (e) e->ops->close(e); }

/*
 * Corpus statistics for IDF: the number of documents, and how many contain
 * a term (a stemmed word from text.h).  The memory service keeps them; a
 * NULL source means every term weighs the same.
 */
typedef struct embed_stats {
    double (*doc_count)(void *ctx);
    double (*doc_freq)(void *ctx, const char *term, size_t len);
    void *ctx;
} embed_stats;

/*
 * The built-in offline embedder (see embed_local.c): deterministic, no model
 * file.  dims >= 8.  stats may be NULL (borrowed; must outlive e).
 * Errors: FS_EINVAL.
 */
int embed_local_open(embedder **out, size_t dims, const embed_stats *stats);

/* An OpenAI-compatible /v1/embeddings endpoint (OpenAI, Ollama, llama.cpp
 * server, vLLM); see embed_openai.c. */
typedef struct embed_openai_config {
    const char *url;        /* base URL, e.g. "https://api.openai.com/v1" */
    const char *model;      /* e.g. "text-embedding-3-small" */
    const char *key;        /* bearer key, NULL for none; never logged */
    size_t dims;            /* expected vector length */
    bool send_dimensions;   /* ask the endpoint for dims ("dimensions") */
    size_t batch;           /* texts per request: 0 = 64 */
    long timeout_ms;        /* per request: 0 = 30000 */
    int max_retries;        /* on 429, 5xx and network errors: 0 = none,
                               -1 = default 5 */
    long max_backoff_ms;    /* cap on one wait, Retry-After included: 0 =
                               30000 */
} embed_openai_config;

/* Errors: FS_EINVAL (missing url/model, dims 0). */
int embed_openai_open(embedder **out, const embed_openai_config *cfg);

/* Wraps inner (owned: closed with the wrapper) with the store's embedding
 * cache (see embed_cache.c); st is borrowed and must outlive it. */
int embed_cached_open(embedder **out, embedder *inner, store *st);

#endif
