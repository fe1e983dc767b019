/*
 * test_vec.c - the kernels of vec.h: distances of each metric on tiny
 * hand-computed vectors (under every implementation), AVX2 against the
 * scalar reference on random vectors of every length 1..1537, batch
 * kernels equal to the one-pair kernels bit for bit, masked tails that
 * never read past the end (a guard page), the int8 kernel exact, and the
 * choice of implementation (FLOWSTATE_SIMD, vec_select).
 *
 * Criterion runs each test in its own process, so vec_select() in one
 * test does not leak into another.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/fs.h"
#include "memory/vec.h"
#include "support/vecdata.h"

static bool have_avx2(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* The implementations this CPU can run. */
static const char *impls[2];
static size_t nimpls(void)
{
    impls[0] = "scalar";
    impls[1] = "avx2+fma";
    return have_avx2() ? 2 : 1;
}

TestSuite(vec, .timeout = 60);

Test(vec, metric_names)
{
    vec_metric m;
    cr_assert(vec_metric_parse("cosine", &m) && m == VEC_COSINE);
    cr_assert(vec_metric_parse("ip", &m) && m == VEC_IP);
    cr_assert(vec_metric_parse("l2", &m) && m == VEC_L2);
    cr_assert_not(vec_metric_parse("L2", &m));
    cr_assert_not(vec_metric_parse("", &m));
    cr_assert_str_eq(vec_metric_name(VEC_L2), "l2");
    cr_assert_str_eq(vec_metric_name((vec_metric)7), "unknown");
}

Test(vec, hand_computed_distances)
{
    /* a.b = 4 - 10 + 18 = 12; |a-b|^2 = 9 + 49 + 9 = 67;
     * |a|^2 = 14, |b|^2 = 77, cos = 12 / sqrt(1078). */
    const float a[3] = {1, 2, 3}, b[3] = {4, -5, 6};
    for (size_t i = 0; i < nimpls(); i++) {
        cr_assert_eq(vec_select(impls[i]), 0);
        cr_assert_str_eq(vec_impl(), impls[i]);
        cr_assert_float_eq(vec_dot(a, b, 3), 12.0f, 0);
        cr_assert_float_eq(vec_l2sq(a, b, 3), 67.0f, 0);
        cr_assert_float_eq(vec_distance(VEC_IP, a, b, 3), -12.0f, 0);
        cr_assert_float_eq(vec_distance(VEC_L2, a, b, 3), 67.0f, 0);
        float na[3], nb[3];
        memcpy(na, a, sizeof a);
        memcpy(nb, b, sizeof b);
        cr_assert_float_eq(vec_normalize(na, 3), sqrtf(14), 1e-6);
        cr_assert_float_eq(vec_normalize(nb, 3), sqrtf(77), 1e-5);
        cr_assert_float_eq(vec_distance(VEC_COSINE, na, nb, 3),
                           1.0 - 12.0 / sqrt(1078.0), 1e-6);
        /* A vector is at cosine distance 0 from itself, L2 0. */
        cr_assert_float_eq(vec_distance(VEC_COSINE, na, na, 3), 0.0f, 1e-6);
        cr_assert_float_eq(vec_distance(VEC_L2, a, a, 3), 0.0f, 0);
    }
}

Test(vec, scores)
{
    cr_assert_float_eq(vec_score(VEC_COSINE, 0.25f), 0.75f, 1e-7);
    cr_assert_float_eq(vec_score(VEC_IP, -3.0f), 3.0f, 0);
    cr_assert_float_eq(vec_score(VEC_L2, 9.0f), 0.25f, 1e-7);
    cr_assert_float_eq(vec_score(VEC_L2, -1e-7f), 1.0f, 0);
}

Test(vec, normalize_and_finite)
{
    float z[4] = {0}, v[2] = {3, 4};
    cr_assert_float_eq(vec_normalize(z, 4), 0.0f, 0);
    for (int i = 0; i < 4; i++)
        cr_assert_float_eq(z[i], 0.0f, 0);
    cr_assert_float_eq(vec_normalize(v, 2), 5.0f, 1e-6);
    cr_assert_float_eq(v[0], 0.6f, 1e-7);
    cr_assert_float_eq(v[1], 0.8f, 1e-7);
    float bad[3] = {1, NAN, 2};
    cr_assert_not(vec_finite(bad, 3));
    bad[1] = INFINITY;
    cr_assert_not(vec_finite(bad, 3));
    bad[1] = -INFINITY;
    cr_assert_not(vec_finite(bad, 3));
    bad[1] = 1e38f;
    cr_assert(vec_finite(bad, 3));
    cr_assert(vec_finite(bad, 0));
}

/* Random floats in [-1, 1). */
static void fill(vd_rng *r, float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(vd_uniform(r) * 2 - 1);
}

/*
 * Every length 1..1537 (1536: text-embedding-3-small), at an odd offset
 * so the loads are unaligned: AVX2 and scalar agree within a bound on
 * float summation error, relative to sum |a_i b_i| (dot) or to the sum
 * itself (l2, all terms positive); both are close to a double reference.
 */
Test(vec, avx2_agrees_with_scalar)
{
    if (!have_avx2()) cr_skip_test("this CPU has no AVX2+FMA");
    const size_t maxd = 1537;
    float *a = malloc((maxd + 1) * sizeof *a), *b = malloc((maxd + 1) * 4);
    vd_rng r = {7};
    for (size_t d = 1; d <= maxd; d++) {
        fill(&r, a + 1, d);
        fill(&r, b + 1, d);
        double ref = 0, mag = 0, l2ref = 0;
        for (size_t i = 1; i <= d; i++) {
            ref += (double)a[i] * b[i];
            mag += fabs((double)a[i] * b[i]);
            double t = (double)a[i] - b[i];
            l2ref += t * t;
        }
        float sd[2], sl[2];
        for (int k = 0; k < 2; k++) {
            cr_assert_eq(vec_select(k ? "avx2+fma" : "scalar"), 0);
            sd[k] = vec_dot(a + 1, b + 1, d);
            sl[k] = vec_l2sq(a + 1, b + 1, d);
        }
        double tol = 1e-5 * mag + 1e-30, ltol = 1e-5 * l2ref + 1e-30;
        cr_assert_leq(fabs(sd[0] - sd[1]), tol, "dot d=%zu: %.9g vs %.9g", d,
                      sd[0], sd[1]);
        cr_assert_leq(fabs(sl[0] - sl[1]), ltol, "l2 d=%zu: %.9g vs %.9g", d,
                      sl[0], sl[1]);
        for (int k = 0; k < 2; k++) {
            cr_assert_leq(fabs(sd[k] - ref), tol, "d=%zu", d);
            cr_assert_leq(fabs(sl[k] - l2ref), ltol, "d=%zu", d);
        }
    }
    free(a);
    free(b);
}

/* The batch kernels give the one-pair kernels' bits, for each metric and
 * implementation, with n odd (the AVX2 batch pairs rows). */
Test(vec, batch_equals_single)
{
    const size_t dims[] = {1, 7, 8, 9, 31, 32, 33, 100, 128, 1536};
    const size_t n = 13;
    vd_rng r = {11};
    for (size_t i = 0; i < nimpls(); i++) {
        cr_assert_eq(vec_select(impls[i]), 0);
        for (size_t di = 0; di < sizeof dims / sizeof *dims; di++) {
            size_t d = dims[di];
            float *q = malloc(d * 4), *base = malloc(n * d * 4);
            float dist[13];
            fill(&r, q, d);
            fill(&r, base, n * d);
            for (int m = VEC_COSINE; m <= VEC_L2; m++) {
                vec_distance_batch((vec_metric)m, q, base, n, d, dist);
                for (size_t j = 0; j < n; j++) {
                    float one = vec_distance((vec_metric)m, q, base + j * d, d);
                    cr_assert(memcmp(&one, &dist[j], 4) == 0,
                              "%s %s d=%zu row %zu: %.9g vs %.9g", impls[i],
                              vec_metric_name((vec_metric)m), d, j, one,
                              dist[j]);
                }
            }
            free(q);
            free(base);
        }
    }
}

/*
 * Vectors that end exactly at a page that cannot be read: a kernel that
 * loads past d (a tail not masked) dies with SIGSEGV.
 */
Test(vec, tails_stay_inside)
{
    long pg = sysconf(_SC_PAGESIZE);
    char *mem = mmap(NULL, 3 * (size_t)pg, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(mem, MAP_FAILED);
    cr_assert_eq(mprotect(mem + 2 * pg, (size_t)pg, PROT_NONE), 0);
    char *end = mem + 2 * pg;
    vd_rng r = {3};
    for (size_t i = 0; i < nimpls(); i++) {
        cr_assert_eq(vec_select(impls[i]), 0);
        for (size_t d = 1; d <= 70; d++) {
            float *a = (float *)end - d, *b = (float *)(end - pg) - d;
            fill(&r, a, d);
            fill(&r, b, d);
            float dist[2];
            (void)vec_dot(a, b, d);
            (void)vec_l2sq(b, a, d);
            /* two rows ending at the guard page */
            float *two = (float *)end - 2 * d;
            fill(&r, two, 2 * d);
            vec_distance_batch(VEC_L2, b, two, 2, d, dist);
            vec_distance_batch(VEC_IP, b, two, 2, d, dist);
            int8_t *ca = (int8_t *)end - d, *cb = (int8_t *)(end - pg) - d;
            memset(ca, 1, d);
            memset(cb, -1, d);
            cr_assert_eq(vec_dot_i8(cb, ca, d), -(int32_t)d);
            int32_t dots[4];
            int8_t *four = (int8_t *)end - 4 * d;
            memset(four, 2, 4 * d);
            vec_dot_i8_batch(cb, four, 4, d, dots);
            for (int k = 0; k < 4; k++)
                cr_assert_eq(dots[k], -2 * (int32_t)d);
        }
    }
    munmap(mem, 3 * (size_t)pg);
}

/* int8: exact integers, the same from both implementations, including
 * the extremes +-127 at every length up to 1537. */
Test(vec, int8_dot_exact)
{
    const size_t maxd = 1537;
    int8_t *a = malloc(maxd * 5), *b = malloc(maxd * 5);
    int32_t got[5];
    vd_rng r = {5};
    for (size_t d = 1; d <= maxd; d += (d < 80 ? 1 : 37)) {
        for (size_t i = 0; i < 5 * d; i++) {
            a[i] = (int8_t)((int)(vd_next(&r) % 255) - 127);
            b[i] = (int8_t)((int)(vd_next(&r) % 255) - 127);
        }
        if (d > 2) a[0] = b[0] = 127, a[1] = -127, b[1] = 127;
        int64_t want[5];
        for (int k = 0; k < 5; k++) {
            want[k] = 0;
            for (size_t i = 0; i < d; i++)
                want[k] += (int64_t)a[i] * b[k * d + i];
        }
        for (size_t m = 0; m < nimpls(); m++) {
            cr_assert_eq(vec_select(impls[m]), 0);
            cr_assert_eq(vec_dot_i8(a, b, d), want[0], "%s d=%zu", impls[m], d);
            vec_dot_i8_batch(a, b, 5, d, got);
            for (int k = 0; k < 5; k++)
                cr_assert_eq(got[k], want[k], "%s d=%zu row %d", impls[m], d,
                             k);
        }
    }
    /* The worst case the contract allows: every product 127 * 127. */
    size_t d = 4096;
    int8_t *x = malloc(d), *y = malloc(d);
    memset(x, 127, d);
    memset(y, -127, d);
    for (size_t m = 0; m < nimpls(); m++) {
        cr_assert_eq(vec_select(impls[m]), 0);
        cr_assert_eq(vec_dot_i8(x, x, d), 127 * 127 * 4096);
        cr_assert_eq(vec_dot_i8(x, y, d), -127 * 127 * 4096);
        cr_assert_eq(vec_dot_i8(y, y, d), 127 * 127 * 4096);
    }
    free(x);
    free(y);
    free(a);
    free(b);
}

Test(vec, select_and_env)
{
    cr_assert_eq(vec_select("sse9"), FS_EINVAL);
    cr_assert_eq(vec_select("scalar"), 0);
    cr_assert_str_eq(vec_impl(), "scalar");
    if (have_avx2()) {
        cr_assert_eq(vec_select("avx2+fma"), 0);
        cr_assert_str_eq(vec_impl(), "avx2+fma");
    } else {
        cr_assert_eq(vec_select("avx2+fma"), FS_EINVAL);
        cr_assert_str_eq(vec_impl(), "scalar");
    }
    setenv("FLOWSTATE_SIMD", "scalar", 1);
    cr_assert_eq(vec_select("auto"), 0);
    cr_assert_str_eq(vec_impl(), "scalar");
    unsetenv("FLOWSTATE_SIMD");
    cr_assert_eq(vec_select("auto"), 0);
    cr_assert_str_eq(vec_impl(), have_avx2() ? "avx2+fma" : "scalar");
}

/* The choice made at first use (this test's process has made none yet). */
Test(vec, env_forces_scalar_at_first_use)
{
    setenv("FLOWSTATE_SIMD", "scalar", 1);
    cr_assert_str_eq(vec_impl(), "scalar");
}
