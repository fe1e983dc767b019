/*
 * vbench.h - the vector index benchmark behind `flowstate bench vectors`:
 * a data set (fvecs/ivecs files, or clustered synthetic vectors), its exact
 * answer, and one timed row per index and ef_search.
 *
 * Data flow (each step a function; the CLI in src/cli/cli_bench.c drives
 * them, and runs FAISS's driver bench/faiss_bench.cpp beside them):
 *
 *   vbench_load / vbench_synthetic --> [data] --vbench_truth--> [with truth]
 *        (truth from an L2 .ivecs,                 |      (exact scan, when
 *         or none yet)                             |       none was given)
 *                                                  v
 *                        vbench_write (fvecs + ivecs, for FAISS), vbench_run
 *                                                  |
 *                                                  v
 *                     rows: exact, exact-int8, hnsw at each ef_search
 *
 * Measurement protocol (faiss_bench.cpp follows it too, so rows compare):
 *   - build: the time to add every base vector (an HNSW build uses
 *     `threads` threads; the flat stores are filled by one);
 *   - search: one thread, one query per call, the queries in order and
 *     round robin, each call timed alone (CLOCK_MONOTONIC); a row stops
 *     once every query ran once and `seconds` passed, or at 5 x seconds
 *     (slow exact scans of large sets then cover a prefix of the queries);
 *   - qps = calls / summed call time; p50/p99 over those calls;
 *   - recall@10 = |found ∩ truth[:10]| / 10, averaged over the queries of
 *     the first pass;
 *   - bytes_per_vector = what the index allocated / n (ids and id map
 *     included; for exact-int8 the codes only: its re-scoring floats are
 *     fetched from elsewhere, as the document store does in Flowstate).
 *
 * Rows (index names are the JSON contract of issue 3):
 *   exact       vstore_search, float32, AVX2+FMA kernels when the CPU has
 *               them (vec_impl());
 *   exact-int8  vstore_search_int8 over int8 codes only, re-scoring
 *               VSTORE_INT8_RESCORE x k candidates exactly (the flat int8
 *               scan: there is no int8 HNSW);
 *   hnsw        hnsw_search at each ef_search (M, ef_construction given).
 *
 * Ownership: a vbench_data owns its arrays (vbench_data_free); rows are
 * returned in a fresh array the caller frees.
 */
#ifndef VBENCH_H
#define VBENCH_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "memory/vec.h"

#define VBENCH_K 10
#define VBENCH_ERRLEN 512

typedef struct vbench_data {
    float *base, *query; /* n x d, nq x d, as given (not normalised) */
    int64_t *truth;      /* nq x VBENCH_K base ids, nearest first; or NULL */
    size_t n, nq, d;
    vec_metric metric;
} vbench_data;

typedef struct vbench_row {
    char index[16]; /* "exact", "exact-int8", "hnsw" (FAISS: "flat", ...) */
    int ef;         /* ef_search; 0 for the rows without one */
    double recall, qps;
    double p50_us, p99_us; /* NaN when not per query (FAISS flat-batch) */
    double build_s, bytes_per_vector;
    size_t queries; /* queries behind the recall */
} vbench_row;

typedef struct vbench_params {
    int M, ef_construction; /* HNSW build (hnsw.h ranges) */
    const int *efs;         /* ef_search values, one hnsw row each */
    size_t nefs;
    int threads;    /* HNSW build threads (searches always use one) */
    double seconds; /* per row (see the top) */
    FILE *progress; /* a line per step, or NULL */
} vbench_params;

/*
 * Reads base and queries (.fvecs) and, when truth_path is not NULL and
 * metric is VEC_L2, the ground truth (.ivecs, taken as L2 nearest first,
 * the texmex convention; under ip or cosine it is not read and ds->truth
 * stays NULL for vbench_truth).  Checks that the sets fit: same d, at
 * least VBENCH_K base vectors and one query, one truth row per query of at
 * least VBENCH_K ids in [0, n).  OUT: *ds (vbench_data_free).
 * Errors: FS_ENOTFOUND (a file is missing), FS_EIO, FS_ECORRUPT (a bad
 * file), FS_EINVAL (files that do not fit together); why holds one line
 * naming the file, and nothing is left allocated.
 */
int vbench_load(vbench_data *ds, const char *base_path, const char *query_path,
                const char *truth_path, vec_metric metric, char *why,
                size_t whycap);

/*
 * Clustered Gaussian data, deterministic in seed: `clusters` centres drawn
 * from N(0, 1)^d, then n base vectors and nq queries (generated as points
 * n..n+nq-1), point i being centre i % clusters plus N(0, sigma^2)^d noise.
 * ds->truth stays NULL.  Errors: FS_EINVAL (n < VBENCH_K, nq, d or
 * clusters 0, d over 65536, sigma not positive).
 */
int vbench_synthetic(vbench_data *ds, size_t n, size_t d, size_t nq,
                     size_t clusters, double sigma, uint64_t seed,
                     vec_metric metric);

/*
 * Computes ds->truth by an exact scan (cache-blocked, `threads` threads
 * over the queries): the VBENCH_K nearest under ds->metric, ties by the
 * smaller id, the same distances as vstore_search.  Replaces any truth.
 */
void vbench_truth(vbench_data *ds, int threads);

/*
 * Writes dir/base.fvecs, dir/queries.fvecs and dir/truth.ivecs (VBENCH_K
 * ids per query; needs ds->truth), creating dir when missing.
 * Errors: FS_EIO, with why naming the file.
 */
int vbench_write(const vbench_data *ds, const char *dir, char *why,
                 size_t whycap);

/* Writes the truth alone as .ivecs (path replaced).  Errors: FS_EIO. */
int vbench_write_truth(const vbench_data *ds, const char *path);

/*
 * Runs our rows on ds (which needs its truth): exact, exact-int8, then
 * hnsw at each p->efs.  OUT: *rows (caller frees), *nrows = 2 + p->nefs.
 * Errors: FS_EINVAL when a vector is refused (NaN/Inf, or all zeros under
 * cosine for HNSW) or a parameter is out of range; why says which.
 */
int vbench_run(const vbench_data *ds, const vbench_params *p, vbench_row **rows,
               size_t *nrows, char *why, size_t whycap);

void vbench_data_free(vbench_data *ds);

/* One row as a JSON object on one line, the contract's fields only:
 * {"index","ef_search" (null for 0),"recall_at_10","qps","p50_us",
 * "p99_us" (null for NaN),"build_s","bytes_per_vector"}. */
void vbench_row_json(FILE *out, const vbench_row *r);

/* The reverse, for rows printed by faiss_bench: false when a field is
 * missing or of the wrong type. */
bool vbench_row_parse(const json_t *obj, vbench_row *r);

#endif
