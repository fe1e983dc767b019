/*
 * vecdata.h - data for the vector tests: the real siftsmall set (texmex
 * ANN_SIFT10K) from ../shared/data, and deterministic clustered synthetic
 * vectors, plus recall@k.
 *
 * The data folder is $FLOWSTATE_DATA_DIR, else ../shared/data relative to
 * the working directory (scripts/run-tests.sh runs from the repository
 * root).  vd_sift_load skips the current Criterion test, with a message,
 * when the files are absent, and fails it when they are present but bad.
 */
#ifndef VD_VECDATA_H
#define VD_VECDATA_H
#include <stddef.h>
#include <stdint.h>

typedef struct vd_sift {
    float *base, *query; /* nb x d, nq x d */
    int32_t *truth;      /* nq x nt: base ids, nearest first (L2) */
    size_t nb, nq, nt, d;
} vd_sift;

/* The data folder (static string). */
const char *vd_data_dir(void);
/* Loads siftsmall or skips the test (see the top). */
void vd_sift_load(vd_sift *s);
void vd_sift_free(vd_sift *s);

/* A deterministic generator: xorshift64*, and N(0, 1) by Box-Muller. */
typedef struct vd_rng {
    uint64_t s;
} vd_rng;
uint64_t vd_next(vd_rng *r);
double vd_uniform(vd_rng *r); /* [0, 1) */
double vd_gauss(vd_rng *r);

/*
 * Clustered data: nclusters centres drawn from N(0, 1)^d, then n points,
 * each its cluster's centre (round robin) plus N(0, sigma^2)^d noise.
 * Returns n * d floats (caller frees).  Same seed, same data.
 */
float *vd_clustered(uint64_t seed, size_t n, size_t d, size_t nclusters,
                    double sigma);

/* |found[0..k) ∩ truth[0..k)| / k, ids as int64. */
double vd_recall(const int64_t *found, size_t nfound, const int64_t *truth,
                 size_t k);

#endif
