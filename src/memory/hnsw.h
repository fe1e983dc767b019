/*
 * hnsw.h - an HNSW graph index over float32 vectors (Malkov & Yashunin,
 * "Efficient and robust approximate nearest neighbor search using
 * Hierarchical Navigable Small World graphs", TPAMI 2018).
 *
 * The index owns a copy of every vector (cosine vectors are L2-normalised
 * on the way in) in contiguous slots; callers name vectors by int64 ids.
 * Distances are those of vec.h ("smaller is closer").
 *
 * Life of an id:
 *
 *            hnsw_add / hnsw_add_batch          hnsw_remove
 *   absent ----------------------------> LIVE -------------> DELETED slot
 *     ^                                                       (id free again)
 *     +-------------------------------------------------------------+
 *
 * A removed vector's slot stays in the graph as a waypoint (so the graph
 * stays as connected as it was) but is never returned; its id may be added
 * again (it gets a new slot).  hnsw_deleted() counts such slots so the owner
 * can decide when to rebuild.
 *
 * Filtered search never returns fewer than min(k, matching) results: a
 * very selective filter is answered by an exact scan, and a graph search
 * that finds fewer than k matches falls back to one (see hnsw.c).
 *
 * Threads: hnsw_search, hnsw_get, hnsw_contains, hnsw_count, hnsw_deleted,
 * hnsw_memory_bytes, hnsw_stats_get and hnsw_reach_get may run concurrently
 * with each other.
 * hnsw_add, hnsw_add_batch, hnsw_remove, hnsw_reserve and hnsw_close change
 * the index: the caller serialises them against everything else (e.g. with a
 * rwlock: searches take it shared, changes exclusive).  hnsw_add_batch uses
 * its own threads internally.
 */
#ifndef HNSW_H
#define HNSW_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "memory/vec.h"

typedef struct hnsw hnsw;

/* Zero fields take the defaults shown. */
typedef struct hnsw_params {
    int M;               /* links per node on layers >= 1 (16); 2*M on 0 */
    int ef_construction; /* beam width while inserting (200) */
    int ef_search;       /* beam width of a search given ef <= 0 (64) */
    uint64_t seed;       /* level generator seed (0 means 42) */
} hnsw_params;

/* Search counters since hnsw_open (relaxed; for metrics and tests). */
typedef struct hnsw_stats {
    uint64_t searches;       /* hnsw_search calls that ran */
    uint64_t graph;          /* answered by the graph */
    uint64_t scan_selective; /* exact scan chosen up front (selective filter,
                                many deletions, or k >= live count) */
    uint64_t scan_fallback;  /* graph found fewer than k: exact scan after */
} hnsw_stats;

/* Filter: true keeps the vector with this id.  Called from the searching
 * thread, possibly many times per search; must not change the index.
 * Before a filtered graph search, the first HNSW_FILTER_SAMPLE calls
 * estimate how much of the index the filter keeps. */
#define HNSW_FILTER_SAMPLE 256
typedef bool (*hnsw_keep_fn)(int64_t id, void *ctx);

/*
 * Creates an empty index of dims-dimensional vectors under metric m.
 * params may be NULL (all defaults).
 * Errors: FS_EINVAL for dims outside 1..65536, M outside 2..255,
 * ef_construction or ef_search outside 1..100000, or an unknown metric.
 * OUT: *out, freed with hnsw_close.
 */
int hnsw_open(hnsw **out, size_t dims, vec_metric m, const hnsw_params *params);
/* Frees the index and every vector in it.  NULL is fine. */
void hnsw_close(hnsw *h);

/* Room for n vectors in total without reallocation (never shrinks). */
void hnsw_reserve(hnsw *h, size_t n);

/*
 * Inserts a copy of vec (dims floats) under id.
 * Errors: FS_EINVAL when dims differs from the index's, a component is NaN
 * or infinite, or (cosine) the vector is all zeros; FS_ECONFLICT when id is
 * live in the index; FS_ELIMIT past 2^32 - 2 slots.  On error nothing
 * changes.
 */
int hnsw_add(hnsw *h, int64_t id, const float *vec, size_t dims);

/*
 * Inserts n vectors (vecs holds n * dims floats, row i under ids[i]) with
 * `threads` threads (< 1 means 1).  All or nothing: every row is checked
 * first (errors as hnsw_add, and FS_ECONFLICT for an id twice in the batch)
 * and on error nothing is inserted.  With one thread the graph is the one
 * n hnsw_add calls build; with more, the order of links depends on timing.
 */
int hnsw_add_batch(hnsw *h, const int64_t *ids, const float *vecs,
                   size_t dims, size_t n, int threads);

/* Marks id deleted: never returned again.  FS_ENOTFOUND when not live. */
int hnsw_remove(hnsw *h, int64_t id);

/*
 * The k nearest live vectors to query (dims floats) that keep (may be NULL)
 * accepts, nearest first.  ef is the beam width (<= 0: the index's
 * ef_search); it is raised to k when smaller.  Returns min(k, matching)
 * results: fewer than k only when fewer than k live vectors match.
 * Errors: FS_EINVAL for k == 0, dims differing, a non-finite query, or an
 * all-zero query under cosine.
 * OUT: out_ids[0..*n) and, when out_dists is not NULL, out_dists[0..*n)
 * (both arrays hold at least k entries, owned by the caller).
 */
int hnsw_search(hnsw *h, const float *query, size_t dims, size_t k, int ef,
                hnsw_keep_fn keep, void *ctx, int64_t *out_ids,
                float *out_dists, size_t *n);

/* hnsw_search by the exact scan alone (no filter): the true k nearest,
 * for measuring the graph's recall.  Same errors and OUT as hnsw_search. */
int hnsw_search_exact(hnsw *h, const float *query, size_t dims, size_t k,
                      int64_t *out_ids, float *out_dists, size_t *n);

/* Copies the stored vector of id (normalised under cosine) into out (dims
 * floats).  Errors: FS_EINVAL for dims differing, FS_ENOTFOUND. */
int hnsw_get(hnsw *h, int64_t id, float *out, size_t dims);
bool hnsw_contains(hnsw *h, int64_t id);

size_t hnsw_count(hnsw *h);   /* live vectors */
size_t hnsw_deleted(hnsw *h); /* deleted slots still in the graph */
size_t hnsw_dims(hnsw *h);
vec_metric hnsw_metric(hnsw *h);
/* Bytes allocated for vectors, links, ids and the id map. */
size_t hnsw_memory_bytes(hnsw *h);
/* OUT: *st, a snapshot of the search counters. */
void hnsw_stats_get(hnsw *h, hnsw_stats *st);

/* How well linked the graph is (for tests and diagnostics). */
typedef struct hnsw_reach {
    size_t orphans;     /* live vectors no node links to at layer 0, the
                           entry point excepted */
    size_t unreachable; /* live vectors no search can reach: not on any
                           path from the entry point that descends the
                           layers (only an exact scan returns them) */
} hnsw_reach;
/* Walks every link once (O(n M) time, 5 bytes of scratch per node).
 * OUT: *r. */
void hnsw_reach_get(hnsw *h, hnsw_reach *r);

/*
 * Writes the whole index (parameters, vectors, ids, tombstones, links) to
 * f in this machine's byte order; the caller adds framing and a checksum
 * (see vidx.c).  Errors: FS_EIO.  Not concurrent with writers.
 */
int hnsw_save(hnsw *h, FILE *f);
/*
 * Reads an index written by hnsw_save.  Every count, level and link is
 * checked, so a damaged file gives FS_ECORRUPT, never a broken graph.
 * OUT: *out.
 */
int hnsw_load(hnsw **out, FILE *f);

#endif
