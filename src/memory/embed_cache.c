/*
 * embed_cache.c - an embedder that remembers: wraps another embedder and
 * keeps every vector it makes in the store, keyed by (embedder name,
 * version and dimensions, SHA-256 of the text), so the same text is never
 * embedded twice - across calls, restarts and processes sharing the store.
 *
 * A call looks every text up in one store read, embeds only the misses in
 * one call to the inner embedder, and stores them in one write.  A cached
 * local-embedder vector keeps the IDF weights of when it was first made.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/sha256.h"
#include "core/xmem.h"
#include "memory/embed.h"

typedef struct cached {
    embedder base;
    embedder *inner;
    store *st;
    char key[200];
} cached;

/* Embeds the k misses (their indexes in miss[]) and stores them. */
static int fill_misses(cached *c, const char *const *texts, const size_t *lens,
                       const size_t *miss, size_t k, uint8_t (*hash)[32],
                       float *out)
{
    size_t d = c->base.dims;
    const char **t = xmalloc(k * sizeof *t);
    size_t *l = xmalloc(k * sizeof *l);
    uint8_t(*h)[32] = xmalloc(k * sizeof *h);
    float *v = xmalloc(k * d * sizeof *v);
    for (size_t j = 0; j < k; j++) {
        t[j] = texts[miss[j]];
        l[j] = lens[miss[j]];
        memcpy(h[j], hash[miss[j]], 32);
    }
    int rc = embed_texts(c->inner, t, l, k, v);
    if (rc) {
        snprintf(c->base.error, sizeof c->base.error, "%s", c->inner->error);
        goto out;
    }
    for (size_t j = 0; j < k; j++)
        memcpy(out + miss[j] * d, v + j * d, d * sizeof *v);
    rc = store_cache_put(c->st, c->key, (const uint8_t(*)[32])h, k, d, v,
                         fs_now(&fs_clock_real));
out:
    free(t);
    free(l);
    free(h);
    free(v);
    return rc;
}

static int cached_embed(embedder *e, const char *const *texts,
                        const size_t *lens, size_t n, float *out)
{
    cached *c = (cached *)e;
    e->error[0] = '\0';
    uint8_t(*hash)[32] = xmalloc((n ? n : 1) * sizeof *hash);
    bool *found = xcalloc(n ? n : 1, sizeof *found);
    size_t *miss = xmalloc((n ? n : 1) * sizeof *miss), k = 0;
    for (size_t i = 0; i < n; i++) sha256(texts[i], lens[i], hash[i]);
    int rc = store_cache_get(c->st, c->key, (const uint8_t(*)[32])hash, n,
                             e->dims, out, found);
    if (rc) goto out;
    for (size_t i = 0; i < n; i++)
        if (!found[i]) miss[k++] = i;
    if (k) rc = fill_misses(c, texts, lens, miss, k, hash, out);
out:
    free(hash);
    free(found);
    free(miss);
    return rc;
}

static void cached_close(embedder *e)
{
    cached *c = (cached *)e;
    embed_close(c->inner);
    free(c);
}

static const embedder_ops cached_ops = { cached_embed, cached_close };

int embed_cached_open(embedder **out, embedder *inner, store *st)
{
    cached *c = xcalloc(1, sizeof *c);
    c->inner = inner;
    c->st = st;
    snprintf(c->key, sizeof c->key, "%s:%s:%zu", inner->name, inner->version,
             inner->dims);
    c->base = (embedder){ &cached_ops, inner->name, inner->version,
                          inner->dims, "" };
    *out = &c->base;
    return 0;
}
