/*
 * test_cluster.c - k-means++: well separated blobs are found exactly (up to
 * the numbering), k is chosen by silhouette when not given, and the edge
 * cases (one point, k above n, bad k) behave.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "core/fs.h"
#include "memory/cluster.h"

#define D 16

/* n points in `blobs` tight groups around far-apart centres. */
static float *blobs(size_t n, size_t nblobs, int *truth)
{
    float *x = malloc(n * D * sizeof *x);
    unsigned seed = 7;
    for (size_t i = 0; i < n; i++) {
        size_t b = i % nblobs;
        truth[i] = (int)b;
        for (size_t t = 0; t < D; t++) {
            float centre = t == b ? 10.0f : 0.0f;
            x[i * D + t] = centre + ((float)rand_r(&seed) / RAND_MAX - 0.5f) * 0.5f;
        }
    }
    return x;
}

/* Same partition, whatever the cluster numbers. */
static void same_partition(const int *a, const int *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            cr_assert_eq(a[i] == a[j], b[i] == b[j], "points %zu and %zu", i, j);
}

Test(cluster, finds_separated_blobs_and_their_number)
{
    int truth[300];
    float *x = blobs(300, 4, truth);
    vec_metric ms[2] = { VEC_L2, VEC_COSINE };
    for (int i = 0; i < 2; i++) {
        cluster_result r;
        cr_assert_eq(cluster_kmeans(x, 300, D, ms[i], 0, 1, &r), 0);
        cr_assert_eq(r.k, 4, "k chosen by silhouette (metric %d)", i);
        cr_assert_gt(r.silhouette, 0.8);
        same_partition(r.assign, truth, 300);
        free(r.assign);
    }
    free(x);
}

Test(cluster, a_given_k_is_used_and_edges_hold)
{
    int truth[60];
    float *x = blobs(60, 3, truth);
    cluster_result r;
    cr_assert_eq(cluster_kmeans(x, 60, D, VEC_L2, 3, 5, &r), 0);
    cr_assert_eq(r.k, 3);
    same_partition(r.assign, truth, 60);
    free(r.assign);
    cr_assert_eq(cluster_kmeans(x, 2, D, VEC_L2, 5, 5, &r), 0);
    cr_assert_eq(r.k, 2, "k above n is lowered to n");
    free(r.assign);
    cr_assert_eq(cluster_kmeans(x, 1, D, VEC_L2, 0, 5, &r), 0);
    cr_assert_eq(r.k, 1);
    cr_assert_eq(r.assign[0], 0);
    free(r.assign);
    cr_assert_eq(cluster_kmeans(x, 0, D, VEC_L2, 0, 5, &r), FS_EINVAL);
    cr_assert_eq(cluster_kmeans(x, 60, D, VEC_L2, CLUSTER_MAX_K + 1, 5, &r), FS_EINVAL);
    free(x);
}
