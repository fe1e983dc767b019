/* cluster.c - k-means++ with silhouette-chosen k (see cluster.h). */
#include "memory/cluster.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/xmem.h"

typedef struct kctx {
    const float *x;
    size_t n, d;
    vec_metric m;
    uint64_t rng;
} kctx;

static double rnd(kctx *c)
{
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    return (double)(c->rng >> 11) / 9007199254740992.0;
}

/* A distance >= 0: cosine and l2 as the metric says; inner-product spaces
 * are clustered by l2 (k-means needs a distance, and -dot is not one). */
static double dist(const kctx *c, const float *a, const float *b)
{
    double v = c->m == VEC_IP ? vec_l2sq(a, b, c->d)
                              : vec_distance(c->m, a, b, c->d);
    return v > 0 ? v : 0;
}

static void seed_centres(kctx *c, size_t k, float *cent)
{
    double *best = xmalloc(c->n * sizeof *best);
    size_t first = (size_t)(rnd(c) * (double)c->n);
    memcpy(cent, c->x + first * c->d, c->d * sizeof *cent);
    for (size_t i = 0; i < c->n; i++) best[i] = dist(c, c->x + i * c->d, cent);
    for (size_t j = 1; j < k; j++) {
        double total = 0;
        for (size_t i = 0; i < c->n; i++) total += best[i] * best[i];
        size_t pick = 0;
        if (total > 0) {
            double r = rnd(c) * total;
            for (; pick + 1 < c->n && (r -= best[pick] * best[pick]) > 0; pick++) {}
        } else {
            pick = (size_t)(rnd(c) * (double)c->n);
        }
        float *cj = cent + j * c->d;
        memcpy(cj, c->x + pick * c->d, c->d * sizeof *cj);
        for (size_t i = 0; i < c->n; i++) {
            double v = dist(c, c->x + i * c->d, cj);
            if (v < best[i]) best[i] = v;
        }
    }
    free(best);
}

/* Assigns every point to its nearest centre; returns how many moved. */
static size_t assign(const kctx *c, size_t k, const float *cent, int *a)
{
    size_t moved = 0;
    for (size_t i = 0; i < c->n; i++) {
        int bj = 0;
        double bd = INFINITY;
        for (size_t j = 0; j < k; j++) {
            double v = dist(c, c->x + i * c->d, cent + j * c->d);
            if (v < bd) bd = v, bj = (int)j;
        }
        moved += a[i] != bj;
        a[i] = bj;
    }
    return moved;
}

static void update(const kctx *c, size_t k, float *cent, const int *a)
{
    size_t *count = xcalloc(k, sizeof *count);
    double *sum = xcalloc(k * c->d, sizeof *sum);
    for (size_t i = 0; i < c->n; i++) {
        count[a[i]]++;
        for (size_t t = 0; t < c->d; t++)
            sum[(size_t)a[i] * c->d + t] += c->x[i * c->d + t];
    }
    for (size_t j = 0; j < k; j++) {
        if (!count[j]) continue; /* an empty cluster keeps its centre */
        for (size_t t = 0; t < c->d; t++)
            cent[j * c->d + t] = (float)(sum[j * c->d + t] / (double)count[j]);
        if (c->m == VEC_COSINE) vec_normalize(cent + j * c->d, c->d);
    }
    free(count);
    free(sum);
}

/* One k-means run from a fresh k-means++ seeding.  Returns its inertia
 * (sum of each point's distance to its centre). */
static double run_once(kctx *c, size_t k, int *a)
{
    float *cent = xmalloc(k * c->d * sizeof *cent);
    seed_centres(c, k, cent);
    memset(a, 0xff, c->n * sizeof *a);
    for (int it = 0; it < CLUSTER_MAX_ITER; it++) {
        if (assign(c, k, cent, a) == 0 && it > 0) break;
        update(c, k, cent, a);
    }
    double inertia = 0;
    for (size_t i = 0; i < c->n; i++)
        inertia += dist(c, c->x + i * c->d, cent + (size_t)a[i] * c->d);
    free(cent);
    return inertia;
}

/* The best of CLUSTER_RESTARTS runs (lowest inertia): one seeding can
 * land in a poor local optimum. */
static void run_kmeans(kctx *c, size_t k, int *a)
{
    int *tmp = xmalloc(c->n * sizeof *tmp);
    double best = INFINITY;
    for (int r = 0; r < CLUSTER_RESTARTS; r++) {
        double v = run_once(c, k, tmp);
        if (v < best) {
            best = v;
            memcpy(a, tmp, c->n * sizeof *a);
        }
    }
    free(tmp);
}

/* Mean silhouette over the first min(n, CLUSTER_SAMPLE) points (points are
 * in no particular order, and the caller's seed decides the clusters). */
static double silhouette(const kctx *c, size_t k, const int *a)
{
    size_t n = c->n < CLUSTER_SAMPLE ? c->n : CLUSTER_SAMPLE;
    double *sum = xmalloc(k * sizeof *sum), total = 0;
    size_t *cnt = xmalloc(k * sizeof *cnt);
    for (size_t i = 0; i < n; i++) {
        memset(sum, 0, k * sizeof *sum);
        memset(cnt, 0, k * sizeof *cnt);
        for (size_t j = 0; j < n; j++) {
            if (j == i) continue;
            sum[a[j]] += dist(c, c->x + i * c->d, c->x + j * c->d);
            cnt[a[j]]++;
        }
        if (!cnt[a[i]]) continue; /* a singleton scores 0 */
        double own = sum[a[i]] / (double)cnt[a[i]], other = INFINITY;
        for (size_t j = 0; j < k; j++)
            if ((int)j != a[i] && cnt[j] && sum[j] / (double)cnt[j] < other)
                other = sum[j] / (double)cnt[j];
        double top = own > other ? own : other;
        if (isfinite(other) && top > 0) total += (other - own) / top;
    }
    free(sum);
    free(cnt);
    return total / (double)n;
}

int cluster_kmeans(const float *vecs, size_t n, size_t d, vec_metric m,
                   size_t k, uint64_t seed, cluster_result *out)
{
    if (n == 0 || d == 0 || k > CLUSTER_MAX_K) return FS_EINVAL;
    float *unit = NULL; /* cosine compares directions: unit copies */
    if (m == VEC_COSINE) {
        unit = xmalloc(n * d * sizeof *unit);
        memcpy(unit, vecs, n * d * sizeof *unit);
        for (size_t i = 0; i < n; i++) vec_normalize(unit + i * d, d);
        vecs = unit;
    }
    kctx c = { vecs, n, d, m, seed ? seed : 0x9e3779b97f4a7c15ULL };
    int *a = xmalloc(n * sizeof *a), *best = xmalloc(n * sizeof *best);
    size_t lo = k, hi = k;
    if (k == 0) {
        lo = 2;
        hi = (size_t)sqrt((double)n);
        if (hi > CLUSTER_MAX_AUTO_K) hi = CLUSTER_MAX_AUTO_K;
        if (hi < 2) lo = hi = 1;
    }
    if (hi > n) lo = hi = n;
    double best_s = -2;
    size_t best_k = lo;
    for (size_t kk = lo; kk <= hi; kk++) {
        c.rng = seed ? seed : 0x9e3779b97f4a7c15ULL; /* each k alike */
        run_kmeans(&c, kk, a);
        double s = kk > 1 ? silhouette(&c, kk, a) : 0;
        if (s > best_s) {
            best_s = s;
            best_k = kk;
            memcpy(best, a, n * sizeof *a);
        }
    }
    free(a);
    free(unit);
    *out = (cluster_result){ best_k, best, best_s };
    return 0;
}
