/*
 * test_vstore.c - the flat store and its exact search (vstore.h):
 *  - hand-checked orders for each metric on tiny 2-d data;
 *  - siftsmall: top 10 of all 100 queries equal the published L2 ground
 *    truth exactly, under each kernel implementation;
 *  - filtered search equals brute force over the filtered subset,
 *    including filters that keep fewer than k (or no) vectors;
 *  - remove (swap-remove): a removed id never comes back, moved vectors
 *    keep their ids, and the hash map survives churn against a model;
 *  - refusals: wrong dimensions, NaN/Inf, overflowing norms, duplicates,
 *    k = 0, bad configurations.
 * (Suite vec_store, so --filter 'vec*' runs it with the kernels.)
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "memory/vstore.h"
#include "support/vecdata.h"

TestSuite(vec_store, .timeout = 120);

static vstore *open_store(size_t d, vec_metric m)
{
    vstore *s;
    vstore_config c = {.dims = d, .metric = m};
    cr_assert_eq(vstore_open(&s, &c), 0);
    return s;
}

static void add(vstore *s, int64_t id, float x, float y)
{
    float v[2] = {x, y};
    cr_assert_eq(vstore_add(s, id, v, 2), 0);
}

static size_t search(vstore *s, float x, float y, size_t k, vstore_hit *out)
{
    float q[2] = {x, y};
    size_t n;
    cr_assert_eq(vstore_search(s, q, 2, k, NULL, NULL, out, &n), 0);
    return n;
}

/*
 * Four points; query (2, 0.1).  Reasoned by hand:
 *  l2: squared distances id1 (1,0): 1 + 0.01 = 1.01; id2 (1,1): 1 + 0.81
 *      = 1.81; id3 (0,1): 4 + 0.81 = 4.81; id4 (-1,0): 9 + 0.01 = 9.01.
 *  ip: dots 2, 2.1, 0.1, -2 -> order id2, id1, id3, id4.
 *  cosine: angle of the query is ~2.9 degrees: id1 (0 deg), id2 (45),
 *      id3 (90), id4 (180); distance of id1 = 1 - 2/|q| with |q| =
 *      sqrt(4.01).
 */
Test(vec_store, hand_checked_orders)
{
    vstore_hit h[4];
    vstore *s = open_store(2, VEC_L2);
    add(s, 1, 1, 0), add(s, 2, 1, 1), add(s, 3, 0, 1), add(s, 4, -1, 0);
    cr_assert_eq(search(s, 2, 0.1f, 10, h), 4);
    const int64_t l2[4] = {1, 2, 3, 4};
    const float l2d[4] = {1.01f, 1.81f, 4.81f, 9.01f};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(h[i].id, l2[i]);
        cr_assert_float_eq(h[i].dist, l2d[i], 1e-5);
    }
    vstore_close(s);

    s = open_store(2, VEC_IP);
    add(s, 1, 1, 0), add(s, 2, 1, 1), add(s, 3, 0, 1), add(s, 4, -1, 0);
    cr_assert_eq(search(s, 2, 0.1f, 3, h), 3);
    cr_assert_eq(h[0].id, 2);
    cr_assert_float_eq(h[0].dist, -2.1f, 1e-6);
    cr_assert_eq(h[1].id, 1);
    cr_assert_eq(h[2].id, 3);
    vstore_close(s);

    s = open_store(2, VEC_COSINE);
    add(s, 1, 5, 0), add(s, 2, 3, 3), add(s, 3, 0, 0.5f), add(s, 4, -7, 0);
    cr_assert_eq(search(s, 2, 0.1f, 4, h), 4);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(h[i].id, i + 1);
    cr_assert_float_eq(h[0].dist, 1 - 2 / sqrt(4.01), 1e-6);
    cr_assert_float_eq(h[3].dist, 1 + 2 / sqrt(4.01), 1e-6);
    cr_assert_float_eq(vec_score(VEC_COSINE, h[0].dist), 2 / sqrt(4.01), 1e-6);
    /* stored normalised; the query's length does not matter */
    const float *g = vstore_get(s, 2);
    cr_assert_float_eq(g[0], sqrtf(0.5f), 1e-6);
    cr_assert_float_eq(g[1], sqrtf(0.5f), 1e-6);
    vstore_hit h2[4];
    cr_assert_eq(search(s, 200, 10, 4, h2), 4);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(h2[i].id, h[i].id);
    vstore_close(s);
}

Test(vec_store, ties_break_by_id_and_k_caps)
{
    vstore *s = open_store(2, VEC_L2);
    /* four points at the same distance 1 from the origin */
    add(s, 40, 1, 0), add(s, 10, 0, 1), add(s, 30, -1, 0), add(s, 20, 0, -1);
    vstore_hit h[4];
    cr_assert_eq(search(s, 0, 0, 3, h), 3);
    cr_assert_eq(h[0].id, 10);
    cr_assert_eq(h[1].id, 20);
    cr_assert_eq(h[2].id, 30);
    cr_assert_eq(search(s, 0, 0, 1000000, h), 4);
    vstore_close(s);
    s = open_store(2, VEC_L2);
    cr_assert_eq(search(s, 0, 0, 5, h), 0);
    vstore_close(s);
}

/* The ground truth of siftsmall, exactly, for all 100 queries at k = 10. */
static void sift_exact(const char *impl)
{
    if (vec_select(impl) != 0) cr_skip_test("this CPU cannot run %s", impl);
    vd_sift ds;
    vd_sift_load(&ds);
    vstore *s = open_store(ds.d, VEC_L2);
    vstore_reserve(s, ds.nb);
    for (size_t i = 0; i < ds.nb; i++)
        cr_assert_eq(vstore_add(s, (int64_t)i, ds.base + i * ds.d, ds.d), 0);
    cr_assert_eq(vstore_count(s), ds.nb);
    for (size_t q = 0; q < ds.nq; q++) {
        vstore_hit h[10];
        size_t n;
        cr_assert_eq(
            vstore_search(s, ds.query + q * ds.d, ds.d, 10, NULL, NULL, h, &n),
            0);
        cr_assert_eq(n, 10);
        for (size_t i = 0; i < 10; i++) {
            cr_assert_eq(h[i].id, ds.truth[q * ds.nt + i],
                         "%s query %zu rank %zu: %lld, truth %d", impl, q, i,
                         (long long)h[i].id, ds.truth[q * ds.nt + i]);
            float want =
                vec_l2sq(ds.query + q * ds.d, ds.base + h[i].id * ds.d, ds.d);
            cr_assert(memcmp(&want, &h[i].dist, 4) == 0);
        }
    }
    vstore_close(s);
    vd_sift_free(&ds);
}

Test(vec_store, siftsmall_exact_avx2)
{
    sift_exact("avx2+fma");
}

Test(vec_store, siftsmall_exact_scalar)
{
    sift_exact("scalar");
}

/* ---- filters ------------------------------------------------------ */

typedef struct filt {
    int64_t mod, rem; /* keep ids with id % mod == rem */
    size_t calls;
} filt;

static bool keep_mod(int64_t id, void *ctx)
{
    filt *f = ctx;
    f->calls++;
    return id % f->mod == f->rem;
}

static const float *BF_BASE;
static size_t BF_D;
static const float *BF_Q;
static vec_metric BF_M;

/* Brute force: all ids the filter keeps, by (distance, id). */
static int cmp_bf(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    float dx = vec_distance(BF_M, BF_Q, BF_BASE + x * BF_D, BF_D);
    float dy = vec_distance(BF_M, BF_Q, BF_BASE + y * BF_D, BF_D);
    if (dx != dy) return dx < dy ? -1 : 1;
    return x < y ? -1 : x > y;
}

static size_t brute(vec_metric m, const float *base, size_t n, size_t d,
                    const float *q, filt *f, int64_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!f || (int64_t)i % f->mod == f->rem) out[k++] = (int64_t)i;
    BF_BASE = base, BF_D = d, BF_Q = q, BF_M = m;
    qsort(out, k, sizeof *out, cmp_bf);
    return k;
}

/* Filtered exact search = brute force on the filtered subset, for each
 * metric, on siftsmall (with its many equal integer distances, so the
 * id tie-break matters), for filters keeping 1/3, 1/1000 and none. */
Test(vec_store, filtered_equals_brute_force)
{
    vd_sift ds;
    vd_sift_load(&ds);
    int64_t *want = malloc(ds.nb * sizeof *want);
    const filt filters[] = {{3, 1, 0}, {1000, 7, 0}, {20000, 15000, 0}};
    for (int m = VEC_COSINE; m <= VEC_L2; m++) {
        vstore *s = open_store(ds.d, (vec_metric)m);
        /* cosine: the brute force works on the normalised base */
        float *base = malloc(ds.nb * ds.d * sizeof *base);
        for (size_t i = 0; i < ds.nb; i++) {
            cr_assert_eq(vstore_add(s, (int64_t)i, ds.base + i * ds.d, ds.d),
                         0);
            memcpy(base + i * ds.d, vstore_get(s, (int64_t)i), ds.d * 4);
        }
        for (size_t fi = 0; fi < 3; fi++)
            for (size_t q = 0; q < 20; q++) {
                float qv[128];
                memcpy(qv, ds.query + q * ds.d, sizeof qv);
                if (m == VEC_COSINE) vec_normalize(qv, ds.d);
                filt f = filters[fi];
                size_t nw =
                    brute((vec_metric)m, base, ds.nb, ds.d, qv, &f, want);
                vstore_hit h[10];
                size_t n;
                cr_assert_eq(vstore_search(s, ds.query + q * ds.d, ds.d, 10,
                                           keep_mod, &f, h, &n),
                             0);
                cr_assert_eq(n, nw < 10 ? nw : 10, "filter %zu: %zu of %zu", fi,
                             n, nw);
                for (size_t i = 0; i < n; i++)
                    cr_assert_eq(h[i].id, want[i],
                                 "%s filter %zu query %zu rank %zu",
                                 vec_metric_name((vec_metric)m), fi, q, i);
                /* the filter is asked only about candidates, once each */
                cr_assert_leq(f.calls, ds.nb);
            }
        free(base);
        vstore_close(s);
    }
    free(want);
    vd_sift_free(&ds);
}

/* ---- remove ------------------------------------------------------- */

static bool find(const vstore_hit *h, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (h[i].id == id) return true;
    return false;
}

Test(vec_store, remove_then_search_never_returns_it)
{
    enum { N = 1500, D = 24 };
    vd_rng r = {99};
    float *v = malloc(N * D * sizeof *v);
    int64_t ids[N];
    for (size_t i = 0; i < N * D; i++)
        v[i] = (float)vd_gauss(&r);
    vstore *s = open_store(D, VEC_L2);
    for (int i = 0; i < N; i++) {
        /* large, negative and clustered ids */
        ids[i] = (i % 3 == 0) ? -(int64_t)i : ((int64_t)i << 33) + 17;
        cr_assert_eq(vstore_add(s, ids[i], v + i * D, D), 0);
    }
    bool gone[N] = {false};
    for (int i = 0; i < N; i += 2) { /* remove every other, in a shuffle */
        int j = (int)((unsigned)(i * 7919) % N) & ~1;
        if (gone[j]) continue;
        cr_assert_eq(vstore_remove(s, ids[j]), 0);
        cr_assert_eq(vstore_remove(s, ids[j]), FS_ENOTFOUND);
        gone[j] = true;
    }
    size_t left = 0;
    for (int i = 0; i < N; i++)
        left += !gone[i];
    cr_assert_eq(vstore_count(s), left);
    vstore_hit h[30];
    size_t n;
    for (int i = 0; i < N; i++) {
        cr_assert_eq(vstore_contains(s, ids[i]), !gone[i]);
        cr_assert_eq(vstore_get(s, ids[i]) == NULL, gone[i]);
        cr_assert_eq(vstore_search(s, v + i * D, D, 30, NULL, NULL, h, &n), 0);
        cr_assert_eq(n, 30);
        if (gone[i]) {
            for (int j = 0; j < 30; j++) {
                size_t k = 0;
                while (ids[k] != h[j].id)
                    k++;
                cr_assert_not(gone[k], "removed id %lld returned",
                              (long long)h[j].id);
            }
        } else { /* a moved vector still answers to its own id */
            cr_assert_eq(h[0].id, ids[i]);
            cr_assert_float_eq(h[0].dist, 0.0f, 0);
            cr_assert_arr_eq(vstore_get(s, ids[i]), v + i * D, D * 4);
        }
    }
    /* adding a removed id again works; adding a present one conflicts */
    for (int i = 0; i < N; i++) {
        int rc = vstore_add(s, ids[i], v + i * D, D);
        cr_assert_eq(rc, gone[i] ? 0 : FS_ECONFLICT);
    }
    cr_assert_eq(vstore_count(s), N);
    cr_assert_eq(vstore_search(s, v, D, 5, NULL, NULL, h, &n), 0);
    cr_assert(find(h, n, ids[0]));
    vstore_close(s);
    free(v);
}

/* Random adds and removes of colliding ids against a plain model; every
 * slot iterated maps back to itself. */
Test(vec_store, churn_against_model)
{
    enum { IDS = 700, OPS = 20000 };
    vstore *s = open_store(2, VEC_IP);
    bool in[IDS] = {false};
    size_t count = 0;
    vd_rng r = {1234};
    for (int op = 0; op < OPS; op++) {
        int i = (int)(vd_next(&r) % IDS);
        int64_t id = (int64_t)i * 1024; /* same low bits: long probe runs */
        float v[2] = {(float)i, 1};
        if (in[i]) {
            cr_assert_eq(vstore_remove(s, id), 0);
            count--;
        } else {
            cr_assert_eq(vstore_add(s, id, v, 2), 0);
            count++;
        }
        in[i] = !in[i];
        cr_assert_eq(vstore_count(s), count);
        if (op % 997 == 0)
            for (int j = 0; j < IDS; j++) {
                cr_assert_eq(vstore_contains(s, (int64_t)j * 1024), in[j]);
                const float *g = vstore_get(s, (int64_t)j * 1024);
                if (in[j]) cr_assert_float_eq(g[0], (float)j, 0);
            }
    }
    for (size_t slot = 0; slot < vstore_count(s); slot++) {
        int64_t id = vstore_id_at(s, slot);
        cr_assert(in[id / 1024]);
        cr_assert_eq(vstore_vector_at(s, slot), vstore_get(s, id));
    }
    cr_assert_gt(vstore_memory(s), vstore_count(s) * (8 + 8));
    vstore_close(s);
}

/* ---- refusals ----------------------------------------------------- */

Test(vec_store, rejects_bad_vectors_and_queries)
{
    vstore *s = open_store(3, VEC_COSINE);
    const float ok[3] = {1, 2, 3};
    float bad[3] = {1, NAN, 3};
    cr_assert_eq(vstore_add(s, 1, ok, 3), 0);
    cr_assert_eq(vstore_add(s, 1, ok, 3), FS_ECONFLICT);
    cr_assert_eq(vstore_add(s, 2, ok, 2), FS_EINVAL);
    cr_assert_eq(vstore_add(s, 2, ok, 4), FS_EINVAL);
    cr_assert_eq(vstore_add(s, 2, bad, 3), FS_EINVAL);
    bad[1] = INFINITY;
    cr_assert_eq(vstore_add(s, 2, bad, 3), FS_EINVAL);
    bad[1] = -INFINITY;
    cr_assert_eq(vstore_add(s, 2, bad, 3), FS_EINVAL);
    const float big[3] = {1e30f, 1e30f, 1}; /* |v|^2 overflows */
    cr_assert_eq(vstore_add(s, 2, big, 3), FS_EINVAL);
    cr_assert_eq(vstore_count(s), 1);
    cr_assert_not(vstore_contains(s, 2));
    /* a zero vector is accepted: distance 1 from everything */
    const float zero[3] = {0};
    cr_assert_eq(vstore_add(s, 3, zero, 3), 0);

    vstore_hit h[2];
    size_t n = 77;
    cr_assert_eq(vstore_search(s, ok, 3, 0, NULL, NULL, h, &n), FS_EINVAL);
    cr_assert_eq(n, 0);
    cr_assert_eq(vstore_search(s, ok, 2, 1, NULL, NULL, h, &n), FS_EINVAL);
    bad[1] = NAN;
    cr_assert_eq(vstore_search(s, bad, 3, 1, NULL, NULL, h, &n), FS_EINVAL);
    cr_assert_eq(vstore_search(s, ok, 3, 2, NULL, NULL, h, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(h[0].id, 1);
    cr_assert_float_eq(h[0].dist, 0.0f, 1e-6);
    cr_assert_eq(h[1].id, 3);
    cr_assert_float_eq(h[1].dist, 1.0f, 0);
    cr_assert_eq(vstore_remove(s, 42), FS_ENOTFOUND);
    vstore_close(s);
}

Test(vec_store, rejects_bad_configs)
{
    vstore *s = (vstore *)1;
    vstore_config c = {.dims = 0, .metric = VEC_L2};
    cr_assert_eq(vstore_open(&s, &c), FS_EINVAL);
    cr_assert_null(s);
    c.dims = VSTORE_MAX_DIMS + 1;
    cr_assert_eq(vstore_open(&s, &c), FS_EINVAL);
    c.dims = 4;
    c.metric = (vec_metric)9;
    cr_assert_eq(vstore_open(&s, &c), FS_EINVAL);
    c.metric = VEC_IP;
    c.no_floats = true; /* and no codes: nothing to store */
    cr_assert_eq(vstore_open(&s, &c), FS_EINVAL);
    c.int8 = true;
    cr_assert_eq(vstore_open(&s, &c), 0);
    float v[4] = {1, 2, 3, 4};
    vstore_hit h[1];
    size_t n;
    cr_assert_eq(vstore_add(s, 1, v, 4), 0);
    cr_assert_null(vstore_get(s, 1)); /* no floats kept */
    cr_assert(vstore_contains(s, 1));
    cr_assert_eq(vstore_search(s, v, 4, 1, NULL, NULL, h, &n), FS_EINVAL);
    vstore_close(s);
    vstore_close(NULL);
}
