/*
 * cluster.h - k-means++ over a set of vectors, with k chosen by silhouette
 * when not given.
 *
 * Seeding is k-means++ (each next centre drawn with probability
 * proportional to its squared distance from the nearest centre chosen so
 * far), then Lloyd iterations until no point moves (or CLUSTER_MAX_ITER);
 * the best of CLUSTER_RESTARTS such runs (lowest inertia) is kept.
 * Distances are those of the metric (vec.h); for cosine the centroids are
 * re-normalised.  With k = 0, every k in 2..min(CLUSTER_MAX_AUTO_K,
 * sqrt(n)) is tried and the one with the best mean silhouette wins (the
 * silhouette is computed on at most CLUSTER_SAMPLE points).  Deterministic
 * for a given seed.
 */
#ifndef CLUSTER_H
#define CLUSTER_H
#include <stddef.h>
#include <stdint.h>

#include "memory/vec.h"

#define CLUSTER_MAX_ITER 100
#define CLUSTER_RESTARTS 8
#define CLUSTER_MAX_AUTO_K 12
#define CLUSTER_SAMPLE 1000
#define CLUSTER_MAX_K 256

typedef struct cluster_result {
    size_t k;
    int *assign;       /* n cluster numbers 0..k-1 (caller frees) */
    double silhouette; /* mean silhouette of the result, -1..1 */
} cluster_result;

/*
 * Clusters n vectors of d floats (row-major; not modified).  k = 0 picks
 * k by silhouette; k > n is lowered to n.  Errors: FS_EINVAL (n == 0,
 * k > CLUSTER_MAX_K).
 */
int cluster_kmeans(const float *vecs, size_t n, size_t d, vec_metric m,
                   size_t k, uint64_t seed, cluster_result *out);

#endif
