/*
 * memory.h - the MemoryService: agents' shared documents, embedded,
 * chunked, stored and searchable by meaning.
 *
 * Adding a document: long content (over chunk_size bytes) is stored whole
 * as a parent and split into overlapping chunks that point at it; every
 * piece that is searched (a short document, or each chunk) is embedded
 * (unless the caller brought a vector) and the batch is stored in one
 * transaction; only then does the in-memory vector index learn the new
 * vectors.  The store is the truth: at open the index is rebuilt from it,
 * so a crash between the two can never leave search wrong after a restart.
 *
 * Searching: the query (text, embedded with the same embedder, or a vector)
 * goes to the HNSW index (hnsw.h: the graph, or an exact scan when a filter
 * is selective); chunk hits are reported as their parent document, best
 * chunk first.
 *
 * The index is kept in a file beside the database (vfile.h): saved at
 * close with the store's memory epoch, loaded at open only when intact and
 * current, else rebuilt from the store.
 *
 * Several processes on one database: each write also appends to the
 * store's document change log (store_doc_changes), and memory_catch_up
 * applies what other processes wrote since the last catch-up to this
 * index (a vector added or replaced, or removed).  With sync_ms a thread
 * does that whenever the store's memory epoch moved, checking every
 * sync_ms, so another process's document is found here within about
 * sync_ms plus the time to apply it; it also drops change rows older than
 * an hour.  The index file is then saved only when nothing was written
 * during the last catch-up, else the next open rebuilds.
 *
 * Thread safety: every call may run concurrently; the index is guarded by
 * a read-write lock (searches share it, writes take it alone).
 */
#ifndef MEMORY_H
#define MEMORY_H
#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/model.h"
#include "memory/embed.h"
#include "memory/hnsw.h"
#include "memory/space.h"
#include "store/store.h"

#define MEMORY_MAX_CONTENT (10u << 20) /* bytes per document */
#define MEMORY_MAX_BATCH 1000

typedef struct memory memory;

typedef struct memory_config {
    size_t chunk_size;    /* bytes; 0 = 2000 */
    size_t chunk_overlap; /* bytes; 0 = 200; < chunk_size */
    const char *index_path; /* the HNSW index file (vfile.h); NULL = none */
    hnsw_params hnsw;     /* zeros = hnsw.h defaults */
    int build_threads;    /* rebuild threads; 0 = 2 */
    const fs_clock *clk;  /* document times; NULL = the real clock */
    int64_t sync_ms;      /* > 0: a thread catches up with the documents
                             other processes write, checking this often */
} memory_config;

/* Applies the document writes of other processes since the last call
 * (see the top).  OUT: *applied (may be NULL), the changes applied.
 * Errors: the store's. */
int memory_catch_up(memory *m, size_t *applied);

/* Opens the service over st and emb (both borrowed) in space sp, and
 * builds the vector index from the stored embeddings.  Errors: FS_EIO. */
int memory_open(memory **out, store *st, embedder *emb, const mem_space *sp,
                const memory_config *cfg);
void memory_close(memory *m);

/*
 * Adds n documents atomically.  In: content (required), agent, kind,
 * metadata, tags, importance, and optionally embedding/dims (then the
 * document is not chunked).  OUT: docs[i].id (the parent's id when
 * chunked), created_at.  Errors: FS_EINVAL (empty or oversized content,
 * wrong dimensions, non-finite vector, importance outside 0..1; nothing
 * stored), FS_ETOOBIG, the embedder's errors (message in *why, which may
 * be NULL), FS_EIO.
 */
int memory_add(memory *m, fs_doc *docs, size_t n, const char **why);

/*
 * Replaces document d->id's fields with d's (the caller merges a patch into
 * the stored record first).  With content true, d's content (and, if
 * given, its embedding) is new: it is re-chunked and re-embedded, and the
 * index swaps the old vectors for the new ones.  Errors: as memory_add,
 * and FS_ENOTFOUND.
 */
int memory_update(memory *m, fs_doc *d, bool content, const char **why);

/* Deletes a document and its chunks from the store and the index. */
int memory_delete(memory *m, int64_t id);

typedef struct memory_query {
    const char *text;          /* or: */
    const float *vector;
    size_t dims;
    size_t limit;              /* 1..1000 */
    double threshold;          /* minimum score; -INFINITY for none */
    const store_doc_filter *filter; /* may be NULL; limit/cursor ignored */
    int ef;                    /* HNSW beam width; 0 = the index default */
    /* Memory ranking (off when both weights are 0): score = relevance
     * + w_importance * importance + w_recency * 0.5^(age / half-life). */
    double w_importance, w_recency;
    double half_life_hours;    /* 0 = 24 */
    int64_t now;               /* ms; 0 = the real clock */
    const int64_t *exclude;    /* documents never returned (and their chunks) */
    size_t nexclude;
} memory_query;

typedef struct memory_hit {
    fs_doc doc;                /* the document (a chunk's parent) */
    double score;              /* relevance, or the ranked score */
    double relevance;          /* vec_score of the best matching piece */
    int chunk;                 /* index of the best chunk, -1 = whole doc */
    char *matched;             /* the matching chunk's text, or NULL */
    int vector_rank, text_rank; /* hybrid: 1-based ranks, 0 = not ranked */
} memory_hit;

void memory_hits_free(memory_hit *h, size_t n);

/* Semantic search.  OUT: *out (best first), *n.  Errors: FS_EINVAL (no
 * query, wrong dimensions), the embedder's errors, FS_EIO. */
int memory_search(memory *m, const memory_query *q, memory_hit **out,
                  size_t *n, const char **why);

typedef enum memory_fusion { FUSION_RRF, FUSION_CONVEX } memory_fusion;

typedef struct memory_hybrid_opts {
    memory_fusion fusion;      /* FUSION_RRF (the default) or FUSION_CONVEX */
    double rrf_k;              /* reciprocal-rank constant: 0 = 60 */
    double w_vector, w_text;   /* weights of the two rankings: 0,0 = 1,1 */
} memory_hybrid_opts;

/*
 * Hybrid search: the semantic ranking (as memory_search) and the BM25
 * ranking (store_doc_text_search) of q->text, each over the same filter,
 * fused by
 *   - reciprocal rank (FUSION_RRF): score = w_v / (k + rank_v) + w_t / (k + rank_t);
 *   - convex combination (FUSION_CONVEX): each ranking's scores min-max
 *     normalised to [0, 1] over its candidates, score = (w_v * v + w_t * t)
 *     / (w_v + w_t)
 * a ranking a document is missing from adding nothing.  Chunks count as
 * their parent in both.  OUT as memory_search, with the two ranks set.
 */
int memory_hybrid(memory *m, const memory_query *q,
                  const memory_hybrid_opts *o, memory_hit **out, size_t *n,
                  const char **why);

/*
 * The vector that stands for document id: its own embedding, or for a
 * chunked document the normalised mean of its chunks'.  OUT: out[dims].
 * Errors: FS_ENOTFOUND, FS_EINVAL (a document without any vector).
 */
int memory_vector_of(memory *m, int64_t id, float *out);

/*
 * "More like these, less like those" (Rocchio): the query vector is
 * mean(positive) - 0.5 * mean(negative) over the documents' vectors, and
 * the examples themselves are never returned.  q->text/vector are ignored.
 * Errors: FS_EINVAL (no positive example), FS_ENOTFOUND (an unknown id).
 */
int memory_recommend(memory *m, const memory_query *q, const int64_t *pos,
                     size_t npos, const int64_t *neg, size_t nneg,
                     memory_hit **out, size_t *n);

/* Documents like id (recommend with one positive example). */
static inline int memory_similar(memory *m, const memory_query *q, int64_t id,
                                 memory_hit **out, size_t *n)
{ return memory_recommend(m, q, &id, 1, NULL, 0, out, n); }

typedef struct memory_cluster {
    char *label;        /* the top terms joined by ", " */
    char **terms;       /* the cluster's most characteristic words */
    size_t nterms;
    int64_t *members;   /* document ids, newest first */
    size_t nmembers;
} memory_cluster;

#define MEMORY_CLUSTER_TERMS 5
#define MEMORY_CLUSTER_MAX_DOCS 5000

/*
 * Clusters the top-level documents passing f (at most max_docs, newest
 * first; 0 = MEMORY_CLUSTER_MAX_DOCS) by their vectors with k-means++
 * (cluster.h; k = 0 picks k by silhouette) and labels each cluster with
 * its characteristic words (topics.h).  Clusters come largest first.
 * OUT: *out, *n, *silhouette.  Errors: FS_EINVAL (bad k), FS_EIO.
 */
int memory_cluster_docs(memory *m, const store_doc_filter *f, size_t k,
                        size_t max_docs, memory_cluster **out, size_t *n,
                        double *silhouette);
void memory_clusters_free(memory_cluster *c, size_t n);

typedef struct memory_merge {
    int64_t survivor;
    int64_t merged;       /* folded into survivor and deleted */
    double similarity;
} memory_merge;

/*
 * Consolidation: every pair of top-level documents passing f whose
 * similarity is >= threshold is merged into the older one (the survivor
 * keeps its content; tags are united, importance is the larger, metadata
 * keys it lacks are added) and the newer one is deleted.  dry_run only
 * reports.  OUT: *out (caller frees), *n.  Errors: FS_EINVAL (threshold
 * outside 0..1), FS_EIO.
 */
int memory_consolidate(memory *m, const store_doc_filter *f, double threshold,
                       bool dry_run, memory_merge **out, size_t *n);

#define MEMORY_MAX_EF 10000

/* The beam width (HNSW ef_search) of a query that gives none: at open the
 * config's hnsw.ef_search (64 when 0).  memory_set_ef changes it for
 * every later search, safely while searches run.  Errors: FS_EINVAL for
 * ef outside 1..MEMORY_MAX_EF. */
int memory_ef(memory *m);
int memory_set_ef(memory *m, int ef);

/*
 * Index health: takes up to `samples` (0..MEMORY_MAX_BATCH) indexed vectors
 * at random as queries and compares the graph's top 10 at beam ef with the
 * exact top 10 of hnsw_search_exact.  OUT: *recall, the mean recall@10
 * (1.0 when the index holds 10 vectors or fewer, or samples is 0).  Costs
 * one exact scan per sample plus one to list the ids (under the read lock,
 * taken per sample).  Errors: FS_EINVAL (ef outside 1..MEMORY_MAX_EF,
 * samples too large).
 */
int memory_recall_check(memory *m, size_t samples, int ef, double *recall);

/* Vectors in the index. */
size_t memory_indexed(memory *m);
/* Whether the index was loaded from its file at open (not rebuilt). */
bool memory_index_loaded(memory *m);

#endif
