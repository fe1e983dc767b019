/*
 * test_quant.c - int8 quantisation (quant.h) and the quantised search
 * (vstore_search_int8): the encoding's error bound, recall@10 >= 0.95
 * against the exact answer after re-scoring on siftsmall and on clustered
 * synthetic 1536-d data (50 Gaussian clusters, 5,000 vectors), a store
 * keeping codes only that re-scores through a fetch callback, filters,
 * and the memory each form takes.
 * (Suite vec_quant, so --filter 'vec*' runs it with the kernels.)
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "memory/quant.h"
#include "memory/vstore.h"
#include "support/vecdata.h"

TestSuite(vec_quant, .timeout = 120);

Test(vec_quant, encode_error_bound)
{
    vd_rng r = {8};
    float v[300], back[300];
    int8_t code[300];
    for (int t = 0; t < 50; t++) {
        double sc = pow(10, (double)(t % 7) - 3);
        for (int i = 0; i < 300; i++)
            v[i] = (float)(vd_gauss(&r) * sc);
        float scale = quant_encode(v, 300, code);
        quant_decode(code, scale, 300, back);
        float amax = 0;
        for (int i = 0; i < 300; i++)
            amax = fmaxf(amax, fabsf(v[i]));
        cr_assert_float_eq(scale, amax / 127, amax * 1e-6);
        for (int i = 0; i < 300; i++) {
            cr_assert(code[i] >= -127 && code[i] <= 127);
            cr_assert_leq(fabsf(back[i] - v[i]), scale * 0.5f * 1.0001f);
        }
    }
    /* the extremes map to +-127, never -128 */
    const float e[3] = {-2, 2, 0};
    cr_assert_float_eq(quant_encode(e, 3, code), 2.0f / 127, 1e-9);
    cr_assert_eq(code[0], -127);
    cr_assert_eq(code[1], 127);
    cr_assert_eq(code[2], 0);
    const float z[2] = {0, 0};
    cr_assert_float_eq(quant_encode(z, 2, code), 0.0f, 0);
    cr_assert_eq(code[0], 0);
}

Test(vec_quant, bytes_per_vector)
{
    cr_assert_eq(quant_float_bytes_per_vector(1536), 6144);
    cr_assert_eq(quant_bytes_per_vector(VEC_COSINE, 1536), 1540);
    cr_assert_eq(quant_bytes_per_vector(VEC_L2, 128), 136);
    cr_assert_eq(quant_float_bytes_per_vector(128), 512);
}

/* Approximate distances track the exact ones (l2: within the bound the
 * per-component error allows). */
Test(vec_quant, approximate_distances)
{
    vd_rng r = {21};
    enum { D = 64, N = 40 };
    float q[D], x[N * D], dist[N];
    int8_t qc[D], xc[N * D];
    float xs[N], xn[N];
    for (int i = 0; i < D; i++)
        q[i] = (float)vd_gauss(&r);
    for (int i = 0; i < N * D; i++)
        x[i] = (float)vd_gauss(&r);
    for (int i = 0; i < N; i++) {
        xs[i] = quant_encode(x + i * D, D, xc + i * D);
        xn[i] = vec_dot(x + i * D, x + i * D, D);
    }
    quant_query qq = {qc, quant_encode(q, D, qc), vec_dot(q, q, D)};
    quant_distance_batch(VEC_L2, &qq, xc, xs, xn, N, D, dist);
    for (int i = 0; i < N; i++) {
        float exact = vec_l2sq(q, x + i * D, D);
        /* |q.x - q'.x'| <= |q||x - x'| + |x'||q - q'|, each error vector at
         * most sqrt(D) * scale / 2 long */
        double bound = 2 * (sqrt(qq.norm2) * sqrt(D) * xs[i] / 2 +
                            sqrt(xn[i]) * 1.01 * sqrt(D) * qq.scale / 2);
        cr_assert_leq(fabs(dist[i] - exact), bound, "row %d", i);
    }
}

/* The same hits, ids and distance bits (vstore_hit has padding, so no
 * memcmp of whole arrays). */
static void assert_same_hits(const vstore_hit *a, const vstore_hit *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(a[i].id, b[i].id, "rank %zu", i);
        cr_assert(memcmp(&a[i].dist, &b[i].dist, 4) == 0,
                  "rank %zu: %.9g vs %.9g", i, a[i].dist, b[i].dist);
    }
}

/* Mean recall@10 of vstore_search_int8 against vstore_search. */
static double int8_recall(vstore *s, const float *queries, size_t nq, size_t d,
                          size_t rescore, vstore_fetch_fn fetch, void *fctx)
{
    double sum = 0;
    for (size_t q = 0; q < nq; q++) {
        vstore_hit ex[10], ap[10];
        size_t ne, na;
        cr_assert_eq(
            vstore_search(s, queries + q * d, d, 10, NULL, NULL, ex, &ne), 0);
        cr_assert_eq(vstore_search_int8(s, queries + q * d, d, 10, rescore,
                                        NULL, NULL, fetch, fctx, ap, &na),
                     0);
        cr_assert_eq(na, ne);
        int64_t fe[10], fa[10];
        for (size_t i = 0; i < 10; i++)
            fe[i] = ex[i].id, fa[i] = ap[i].id;
        sum += vd_recall(fa, na, fe, 10);
        /* re-scored distances are the exact ones */
        if (rescore > 0)
            for (size_t i = 0; i < na; i++)
                for (size_t j = 0; j < ne; j++)
                    if (ap[i].id == ex[j].id)
                        cr_assert(memcmp(&ap[i].dist, &ex[j].dist, 4) == 0);
    }
    return sum / (double)nq;
}

static vstore *filled(const float *base, size_t n, size_t d, vec_metric m)
{
    vstore *s;
    vstore_config c = {.dims = d, .metric = m, .int8 = true};
    cr_assert_eq(vstore_open(&s, &c), 0);
    vstore_reserve(s, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(vstore_add(s, (int64_t)i, base + i * d, d), 0);
    return s;
}

Test(vec_quant, siftsmall_recall)
{
    vd_sift ds;
    vd_sift_load(&ds);
    vstore *s = filled(ds.base, ds.nb, ds.d, VEC_L2);
    double r0 = int8_recall(s, ds.query, ds.nq, ds.d, 0, NULL, NULL);
    double r4 =
        int8_recall(s, ds.query, ds.nq, ds.d, VSTORE_INT8_RESCORE, NULL, NULL);
    cr_log_info("siftsmall int8 recall@10: %.3f without re-scoring, %.3f "
                "re-scoring 4k",
                r0, r4);
    cr_assert_geq(r4, 0.95, "recall@10 %.3f", r4);
    /* against the published ground truth as well */
    double sum = 0;
    for (size_t q = 0; q < ds.nq; q++) {
        vstore_hit h[10];
        size_t n;
        cr_assert_eq(vstore_search_int8(s, ds.query + q * ds.d, ds.d, 10,
                                        VSTORE_INT8_RESCORE, NULL, NULL, NULL,
                                        NULL, h, &n),
                     0);
        int64_t f[10], t[10];
        for (int i = 0; i < 10; i++)
            f[i] = h[i].id, t[i] = ds.truth[q * ds.nt + i];
        sum += vd_recall(f, n, t, 10);
    }
    cr_assert_geq(sum / (double)ds.nq, 0.95);
    vstore_close(s);
    vd_sift_free(&ds);
}

Test(vec_quant, clustered_1536_recall)
{
    enum { N = 5000, NQ = 50, D = 1536, K = 50 };
    float *x = vd_clustered(42, N + NQ, D, K, 1.0);
    vstore *s = filled(x, N, D, VEC_COSINE);
    const float *queries = x + (size_t)N * D;
    double r0 = int8_recall(s, queries, NQ, D, 0, NULL, NULL);
    double r4 = int8_recall(s, queries, NQ, D, VSTORE_INT8_RESCORE, NULL, NULL);
    cr_log_info("clustered 1536-d int8 recall@10: %.3f without re-scoring, "
                "%.3f re-scoring 4k",
                r0, r4);
    cr_assert_geq(r4, 0.95, "recall@10 %.3f", r4);
    vstore_close(s);
    free(x);
}

/* Re-scoring from elsewhere: the float vectors live outside the store. */
typedef struct outside {
    const float *base;
    size_t d, n, calls;
    int64_t fail_id;
} outside;

static int fetch_outside(int64_t id, float *out, void *ctx)
{
    outside *o = ctx;
    o->calls++;
    if (id == o->fail_id) return FS_EIO;
    if (id < 0 || (size_t)id >= o->n) return FS_ENOTFOUND;
    memcpy(out, o->base + (size_t)id * o->d, o->d * sizeof *out);
    return 0;
}

Test(vec_quant, codes_only_rescores_through_fetch)
{
    vd_sift ds;
    vd_sift_load(&ds);
    for (int m = VEC_COSINE; m <= VEC_L2; m++) {
        vstore *both = filled(ds.base, ds.nb, ds.d, (vec_metric)m), *codes;
        vstore_config c = {.dims = ds.d,
                           .metric = (vec_metric)m,
                           .no_floats = true,
                           .int8 = true};
        cr_assert_eq(vstore_open(&codes, &c), 0);
        vstore_reserve(codes, ds.nb); /* as filled(): same slack */
        for (size_t i = 0; i < ds.nb; i++)
            cr_assert_eq(
                vstore_add(codes, (int64_t)i, ds.base + i * ds.d, ds.d), 0);
        outside o = {ds.base, ds.d, ds.nb, 0, -1};
        for (size_t q = 0; q < 10; q++) {
            vstore_hit a[10], b[10];
            size_t na, nb;
            const float *qv = ds.query + q * ds.d;
            cr_assert_eq(vstore_search_int8(both, qv, ds.d, 10, 3, NULL, NULL,
                                            NULL, NULL, a, &na),
                         0);
            cr_assert_eq(vstore_search_int8(codes, qv, ds.d, 10, 3, NULL, NULL,
                                            fetch_outside, &o, b, &nb),
                         0);
            cr_assert_eq(na, nb);
            /* same codes, same candidates, same exact bits */
            assert_same_hits(a, b, na);
        }
        cr_assert_eq(o.calls, 10 * 30);
        /* without fetch it cannot re-score; with rescore 0 it need not */
        vstore_hit h[10];
        size_t n;
        cr_assert_eq(vstore_search_int8(codes, ds.query, ds.d, 10, 3, NULL,
                                        NULL, NULL, NULL, h, &n),
                     FS_EINVAL);
        cr_assert_eq(vstore_search_int8(codes, ds.query, ds.d, 10, 0, NULL,
                                        NULL, NULL, NULL, h, &n),
                     0);
        cr_assert_eq(n, 10);
        /* a fetch error comes back as is */
        o.fail_id = h[0].id;
        cr_assert_eq(vstore_search_int8(codes, ds.query, ds.d, 10, 3, NULL,
                                        NULL, fetch_outside, &o, h, &n),
                     FS_EIO);
        cr_assert_eq(n, 0);
        /* memory: codes only is under a third of floats + codes */
        cr_assert_lt(vstore_memory(codes) * 3, vstore_memory(both) + 1);
        vstore_close(codes);
        vstore_close(both);
    }
    vd_sift_free(&ds);
}

static bool keep_even(int64_t id, void *ctx)
{
    (void)ctx;
    return id % 2 == 0;
}

Test(vec_quant, filtered_and_full_rescore_is_exact)
{
    enum { N = 3000, D = 40 };
    float *x = vd_clustered(7, N + 20, D, 10, 0.5);
    vstore *s = filled(x, N, D, VEC_IP);
    for (size_t q = 0; q < 20; q++) {
        const float *qv = x + (N + q) * D;
        vstore_hit ex[25], ap[25];
        size_t ne, na;
        /* rescore so large every vector is a candidate: exactly exact */
        cr_assert_eq(vstore_search(s, qv, D, 25, keep_even, NULL, ex, &ne), 0);
        cr_assert_eq(vstore_search_int8(s, qv, D, 25, 1000, keep_even, NULL,
                                        NULL, NULL, ap, &na),
                     0);
        cr_assert_eq(na, 25);
        assert_same_hits(ap, ex, ne);
        for (size_t i = 0; i < na; i++)
            cr_assert_eq(ap[i].id % 2, 0);
    }
    /* k beyond the store, bad queries */
    vstore_hit *all = malloc(N * sizeof *all);
    size_t n;
    cr_assert_eq(vstore_search_int8(s, x, D, 1u << 30, 4, NULL, NULL, NULL,
                                    NULL, all, &n),
                 0);
    cr_assert_eq(n, N);
    cr_assert_eq(
        vstore_search_int8(s, x, D, 0, 4, NULL, NULL, NULL, NULL, all, &n),
        FS_EINVAL);
    cr_assert_eq(
        vstore_search_int8(s, x, D - 1, 3, 4, NULL, NULL, NULL, NULL, all, &n),
        FS_EINVAL);
    free(all);
    vstore_close(s);
    /* a store without codes refuses */
    vstore_config c = {.dims = D, .metric = VEC_IP};
    cr_assert_eq(vstore_open(&s, &c), 0);
    vstore_hit h[1];
    cr_assert_eq(
        vstore_search_int8(s, x, D, 1, 4, NULL, NULL, NULL, NULL, h, &n),
        FS_EINVAL);
    vstore_close(s);
    free(x);
}
