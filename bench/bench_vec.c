/*
 * bench_vec.c - the exact vector scan and the int8 scan, one thread.
 *
 * Two data sets, each with k = 10:
 *   siftsmall   10,000 x 128, l2 (../shared/data/siftsmall; recall against
 *               the file's ground truth);
 *   synthetic   20,000 x 1536, cosine, 50 Gaussian clusters, 100 queries
 *               from the same clusters (recall against the exact scan,
 *               computed before the timed rows).
 * Rows, each in the same process on the same data:
 *   exact            vstore_search with the scalar kernels, then AVX2+FMA
 *                    (the scalar row is the anchor);
 *   int8             vstore_search_int8 without re-scoring;
 *   int8+rescore     re-scoring VSTORE_INT8_RESCORE * k candidates from
 *                    the float copy in the store;
 *   int8 codes only  the store keeps only codes; the candidates' floats
 *                    come through the fetch callback (here from an array
 *                    standing in for the document store), so memory is
 *                    what the codes take.
 * Columns: queries/s, p50/p99 latency, recall@10, and bytes per vector:
 * the vector forms kept ("vectors") and everything the store allocated,
 * ids and hash map included, divided by n ("all").
 * Each row runs the queries round robin for --seconds (at least 10).
 *
 * usage: bench_vec [--data DIR] [--n N] [--seconds S]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/xmem.h"
#include "memory/fvecs.h"
#include "memory/quant.h"
#include "memory/vec.h"
#include "memory/vstore.h"

#define K 10

static double SECONDS = 1.0;

typedef struct dataset {
    const char *name;
    vec_metric metric;
    float *base, *query;
    size_t n, nq, d;
    int64_t *truth; /* nq x K; from the file, or from an exact scan */
    bool truth_given;
} dataset;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- data ---------------------------------------------------------- */

static bool load_sift(const char *dir, dataset *ds)
{
    char p[1024], why[FVECS_ERRLEN];
    size_t d2, nt, nq2;
    int32_t *gt;
    snprintf(p, sizeof p, "%s/siftsmall/siftsmall_base.fvecs", dir);
    if (fvecs_read(p, 0, &ds->base, &ds->n, &ds->d, why, sizeof why) != 0)
        goto fail;
    snprintf(p, sizeof p, "%s/siftsmall/siftsmall_query.fvecs", dir);
    if (fvecs_read(p, 0, &ds->query, &ds->nq, &d2, why, sizeof why) != 0)
        goto fail;
    snprintf(p, sizeof p, "%s/siftsmall/siftsmall_groundtruth.ivecs", dir);
    if (ivecs_read(p, 0, &gt, &nq2, &nt, why, sizeof why) != 0) goto fail;
    if (d2 != ds->d || nq2 != ds->nq || nt < K) {
        snprintf(why, sizeof why, "siftsmall files disagree");
        goto fail;
    }
    ds->truth = xmalloc(ds->nq * K * sizeof *ds->truth);
    for (size_t q = 0; q < ds->nq; q++)
        for (size_t i = 0; i < K; i++)
            ds->truth[q * K + i] = gt[q * nt + i];
    free(gt);
    ds->name = "siftsmall";
    ds->metric = VEC_L2;
    ds->truth_given = true;
    return true;
fail:
    fprintf(stderr, "bench_vec: skipping siftsmall: %s\n", why);
    return false;
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

/* Fills x[0..n) with N(0, 1) (Box-Muller, both outputs). */
static void gauss(uint64_t *s, float *x, size_t n)
{
    for (size_t i = 0; i < n; i += 2) {
        double u = (double)(rng_next(s) >> 11) * 0x1.0p-53;
        double v = (double)(rng_next(s) >> 11) * 0x1.0p-53;
        double r = sqrt(-2.0 * log(1.0 - u));
        x[i] = (float)(r * cos(2 * M_PI * v));
        if (i + 1 < n) x[i + 1] = (float)(r * sin(2 * M_PI * v));
    }
}

/* n + nq points round robin over 50 centres: centre + N(0, 1) noise. */
static void make_synthetic(dataset *ds, size_t n, size_t nq, size_t d)
{
    enum { CLUSTERS = 50 };
    uint64_t s = 0x5eed1536;
    float *c = xmalloc(CLUSTERS * d * sizeof *c);
    float *x = xmalloc((n + nq) * d * sizeof *x);
    gauss(&s, c, CLUSTERS * d);
    gauss(&s, x, (n + nq) * d);
    for (size_t i = 0; i < n + nq; i++)
        for (size_t j = 0; j < d; j++)
            x[i * d + j] += c[(i % CLUSTERS) * d + j];
    free(c);
    ds->name = "synthetic";
    ds->metric = VEC_COSINE;
    ds->base = x;
    ds->query = xmalloc(nq * d * sizeof *x);
    memcpy(ds->query, x + n * d, nq * d * sizeof *x);
    ds->n = n;
    ds->nq = nq;
    ds->d = d;
    ds->truth = xmalloc(nq * K * sizeof *ds->truth);
    ds->truth_given = false;
}

/* ---- one row ------------------------------------------------------- */

typedef enum { R_EXACT, R_INT8, R_INT8_RESCORE, R_CODES_ONLY } row_kind;

static int fetch_array(int64_t id, float *out, void *ctx)
{
    const dataset *ds = ctx;
    memcpy(out, ds->base + (size_t)id * ds->d, ds->d * sizeof *out);
    return 0;
}

static vstore *build(const dataset *ds, bool floats, bool int8)
{
    vstore *s;
    vstore_config c = {.dims = ds->d,
                       .metric = ds->metric,
                       .no_floats = !floats,
                       .int8 = int8};
    if (vstore_open(&s, &c) != 0) abort();
    vstore_reserve(s, ds->n);
    for (size_t i = 0; i < ds->n; i++)
        if (vstore_add(s, (int64_t)i, ds->base + i * ds->d, ds->d) != 0)
            abort();
    return s;
}

static double recall(const vstore_hit *h, size_t n, const int64_t *truth)
{
    size_t hit = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < K; j++)
            if (h[i].id == truth[j]) {
                hit++;
                break;
            }
    return (double)hit / K;
}

/* Runs one row and prints it; returns its queries/s. */
static double run_row(dataset *ds, vstore *s, row_kind kind, const char *label,
                      size_t vec_bytes)
{
    size_t cap = 1 << 16;
    double *lat = xmalloc(cap * sizeof *lat), rsum = 0;
    size_t runs = 0;
    double t0 = now();
    while (runs < 10 || now() - t0 < SECONDS) {
        size_t q = runs % ds->nq;
        const float *qv = ds->query + q * ds->d;
        vstore_hit h[K];
        size_t n;
        double a = now();
        int rc;
        switch (kind) {
        case R_EXACT:
            rc = vstore_search(s, qv, ds->d, K, NULL, NULL, h, &n);
            break;
        case R_INT8:
            rc = vstore_search_int8(s, qv, ds->d, K, 0, NULL, NULL, NULL, NULL,
                                    h, &n);
            break;
        default:
            rc = vstore_search_int8(s, qv, ds->d, K, VSTORE_INT8_RESCORE, NULL,
                                    NULL, fetch_array, ds, h, &n);
            break;
        }
        double b = now();
        if (rc != 0) abort();
        if (runs == cap) lat = xrealloc(lat, (cap *= 2) * sizeof *lat);
        lat[runs] = b - a;
        if (runs < ds->nq) rsum += recall(h, n, ds->truth + q * K);
        runs++;
    }
    double total = 0;
    for (size_t i = 0; i < runs; i++)
        total += lat[i];
    qsort(lat, runs, sizeof *lat, cmp_double);
    double qps = (double)runs / total;
    size_t nr = runs < ds->nq ? runs : ds->nq;
    printf("%-20s %-9s %10.0f %9.0f %9.0f %9.3f %9zu %9zu\n", label, vec_impl(),
           qps, lat[runs / 2] * 1e6, lat[(runs * 99) / 100] * 1e6,
           rsum / (double)nr, vec_bytes, vstore_memory(s) / ds->n);
    free(lat);
    return qps;
}

static void bench(dataset *ds)
{
    printf("\n%s: %zu x %zu, %s, %zu queries, k = %d, one thread\n", ds->name,
           ds->n, ds->d, vec_metric_name(ds->metric), ds->nq, K);
    printf("%-20s %-9s %10s %9s %9s %9s %9s %9s\n", "index", "kernels",
           "queries/s", "p50 us", "p99 us", "recall@10", "B/vec", "B/vec all");
    size_t fb = quant_float_bytes_per_vector(ds->d);
    size_t qb = quant_bytes_per_vector(ds->metric, ds->d);

    vstore *s = build(ds, true, false);
    if (!ds->truth_given) /* synthetic: the exact scan is the truth */
        for (size_t q = 0; q < ds->nq; q++) {
            vstore_hit h[K];
            size_t nh;
            if (vstore_search(s, ds->query + q * ds->d, ds->d, K, NULL, NULL, h,
                              &nh) != 0 ||
                nh != K)
                abort();
            for (size_t i = 0; i < K; i++)
                ds->truth[q * K + i] = h[i].id;
        }
    bool have_avx2 = vec_select("avx2+fma") == 0;
    double fast = 0, slow;
    if (have_avx2) fast = run_row(ds, s, R_EXACT, "exact", fb);
    vec_select("scalar");
    slow = run_row(ds, s, R_EXACT, "exact (anchor)", fb);
    vstore_close(s);
    vec_select("auto");

    s = build(ds, true, true);
    run_row(ds, s, R_INT8, "int8", fb + qb);
    double qi = run_row(ds, s, R_INT8_RESCORE, "int8+rescore", fb + qb);
    vstore_close(s);
    s = build(ds, false, true);
    run_row(ds, s, R_CODES_ONLY, "int8 codes only", qb);
    vstore_close(s);
    if (have_avx2)
        printf("avx2+fma / scalar exact scan: %.2fx; int8+rescore / exact "
               "avx2: %.2fx; codes only: %.1f%% of float bytes\n",
               fast / slow, qi / fast, 100.0 * (double)qb / (double)fb);
}

int main(int argc, char **argv)
{
    const char *dir = "../shared/data";
    size_t n = 20000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
            n = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            SECONDS = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_vec [--data DIR] [--n N] "
                            "[--seconds S]\n");
            return 2;
        }
    }
    printf("vector scan, exact and int8; kernels available: %s\n", vec_impl());
    dataset sift = {0}, syn = {0};
    if (load_sift(dir, &sift)) bench(&sift);
    make_synthetic(&syn, n, 100, 1536);
    bench(&syn);
    dataset *all[2] = {&sift, &syn};
    for (int i = 0; i < 2; i++) {
        free(all[i]->base);
        free(all[i]->query);
        free(all[i]->truth);
    }
    return 0;
}
