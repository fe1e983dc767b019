/*
 * vstore.h - flat vector storage with exact top-k search, and optionally
 * int8 codes for a quantised scan whose candidates are re-scored exactly.
 *
 * A vstore holds vectors of one dimension d under one metric (vec.h),
 * each under a caller-chosen int64 id (a document or chunk id).  It is
 * the exact answer every other index is measured against, the fallback
 * when a filter is too selective for a graph, and the vector source of
 * the HNSW graph's rebuilds.
 *
 *   vstore_open --> [empty] --vstore_add--> [n vectors] --vstore_close--> gone
 *                               ^      |
 *                               +------+ vstore_add / vstore_remove
 *
 * Storage: vectors live in "slots" 0..n-1, contiguous, so a scan is one
 * pass over one array; a hash map takes an id to its slot.  Removal is a
 * swap-remove: the last slot moves into the hole, so there are no
 * tombstones to skip and memory is always n vectors, at the price that
 * slot numbers are not stable across vstore_remove (ids are).
 *
 * Forms (vstore_config): float32 (exact search, 4d bytes per vector) and/or
 * int8 codes (quant.h, d + 4 or d + 8 bytes).  With both, the float copy
 * serves the re-scoring.  With codes only, the float vectors live
 * elsewhere (the document store, a file) and vstore_search_int8 asks for
 * the few it re-scores through a callback: memory ~ 1/4 of the float form.
 *
 * Cosine vectors are L2-normalised on the way in (the stored copy; the
 * caller's array is not touched), queries too; a zero vector stays zero
 * (distance 1 from everything).  Vectors with a NaN or Inf component, or
 * whose squared norm overflows a float, are refused.
 *
 * Ties in distance are broken by the smaller id, so results do not depend
 * on slot order (i.e. on the history of adds and removes).
 *
 * Threads: no locking inside.  Any number of threads may call the const
 * functions (search, get, count, ...) together; add/remove need the caller
 * to exclude everyone else (e.g. a rwlock around the store).
 */
#ifndef VSTORE_H
#define VSTORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memory/vec.h"

#define VSTORE_MAX_DIMS 65536

typedef struct vstore vstore;

typedef struct vstore_config {
    size_t dims; /* 1..VSTORE_MAX_DIMS */
    vec_metric metric;
    bool no_floats; /* do not keep float32 vectors (needs int8) */
    bool int8;      /* keep int8 codes for vstore_search_int8 */
} vstore_config;

/* One result: smaller dist is closer (vec.h); vec_score() for users. */
typedef struct vstore_hit {
    int64_t id;
    float dist;
} vstore_hit;

/* A filter: true keeps id.  Called only for ids whose distance would
 * enter the current top k, at most once per id per search, in no
 * particular order; it must not touch the vstore. */
typedef bool (*vstore_keep_fn)(int64_t id, void *ctx);

/* The float vector of id as it was added (not normalised), for
 * re-scoring when the vstore keeps no floats: writes dims floats to out.
 * Returns 0, or a negative FS_E* code that the search then returns. */
typedef int (*vstore_fetch_fn)(int64_t id, float *out, void *ctx);

/*
 * Creates an empty store.  OUT: *out (free with vstore_close).
 * Errors: FS_EINVAL (dims 0 or over VSTORE_MAX_DIMS, unknown metric, or
 * no form kept: no_floats without int8).
 */
int vstore_open(vstore **out, const vstore_config *cfg);
void vstore_close(vstore *s);

size_t vstore_dims(const vstore *s);
vec_metric vstore_metric(const vstore *s);
size_t vstore_count(const vstore *s);
bool vstore_contains(const vstore *s, int64_t id);

/* Makes room for n vectors in all, so that many adds do not reallocate. */
void vstore_reserve(vstore *s, size_t n);

/*
 * Adds v (d floats, copied) under id.  Errors: FS_EINVAL (d differs from
 * the store's dims; a NaN or Inf; a squared norm that overflows),
 * FS_ECONFLICT (id already present: remove it first to replace it),
 * FS_ELIMIT (2^32 - 2 vectors already).  On error nothing changes.
 */
int vstore_add(vstore *s, int64_t id, const float *v, size_t d);

/* Removes id (swap-remove, see the top).  Errors: FS_ENOTFOUND. */
int vstore_remove(vstore *s, int64_t id);

/*
 * The stored float vector of id (normalised for cosine), borrowed: valid
 * until the next vstore_add, vstore_remove or vstore_close.  NULL when
 * id is absent or the store keeps no floats.
 */
const float *vstore_get(const vstore *s, int64_t id);

/* Iteration by slot (0 <= slot < vstore_count; order changes on remove):
 * the id in slot, and its float vector (borrowed as vstore_get, NULL
 * without floats). */
int64_t vstore_id_at(const vstore *s, size_t slot);
const float *vstore_vector_at(const vstore *s, size_t slot);

/*
 * Exact top-k: the min(k, matching) stored vectors closest to q (d
 * floats) under the store's metric, among those keep accepts (keep NULL:
 * all), sorted by distance ascending, ties by id.  OUT: out[0..*nout);
 * out must have room for min(k, vstore_count(s)) hits.  The distances
 * are, bit for bit, vec_distance(metric, q', stored) with q' the query as
 * stored (normalised for cosine).  Errors (with *nout = 0): FS_EINVAL
 * (k is 0, d differs, q has a NaN or Inf, or the store keeps no floats).
 */
int vstore_search(const vstore *s, const float *q, size_t d, size_t k,
                  vstore_keep_fn keep, void *keep_ctx, vstore_hit *out,
                  size_t *nout);

/*
 * Quantised top-k: scans the int8 codes for the best k * rescore
 * candidates by approximate distance (quant.h), filtered as above, then
 * re-scores them exactly - from the store's floats when it keeps them,
 * otherwise through fetch - and returns the best min(k, matching) by
 * exact distance, sorted as vstore_search.  rescore 0 skips re-scoring:
 * the approximate distances of the best k come back.  The result equals
 * vstore_search's whenever the true top k are among the candidates.
 * OUT and errors as vstore_search, plus FS_EINVAL when the store keeps no
 * codes, or re-scoring is asked without floats or fetch; an error from
 * fetch is returned as is.
 */
int vstore_search_int8(const vstore *s, const float *q, size_t d, size_t k,
                       size_t rescore, vstore_keep_fn keep, void *keep_ctx,
                       vstore_fetch_fn fetch, void *fetch_ctx, vstore_hit *out,
                       size_t *nout);

/* A rescore factor that reaches recall@10 >= 0.95 on SIFT and on 1536-d
 * embeddings-like data with room to spare (tests/memory/test_quant.c). */
#define VSTORE_INT8_RESCORE 4

/* Bytes the store has allocated now (vectors, codes, ids, hash map). */
size_t vstore_memory(const vstore *s);

#endif
