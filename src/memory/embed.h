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
#include <stddef.h>

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

#endif
