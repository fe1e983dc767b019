/*
 * vec.c - float32 and int8 kernels (see vec.h).
 *
 * Two implementations sit behind one table of function pointers:
 *
 *   scalar    plain loops, the reference; runs anywhere.
 *   avx2+fma  8 floats (or 32 int8) per instruction, compiled with
 *             __attribute__((target("avx2,fma"))) so the rest of the
 *             program needs no -mavx2 and still runs on older CPUs.
 *
 * Selection happens once, at first use (kern()): FLOWSTATE_SIMD=scalar
 * forces the scalar table, otherwise __builtin_cpu_supports("avx2") and
 * ("fma") decide.  The pointer to the chosen table is atomic; a race at
 * first use only makes two threads compute the same answer.  vec_select()
 * re-chooses (tests and benchmarks compare the two in one process).
 *
 * Summation order of the float kernels, which vec.h promises is the same
 * in the one-pair and the batch versions:
 *   scalar    left to right, one accumulator.
 *   avx2+fma  chunk c (floats 8c .. 8c+7) goes into accumulator c % 4
 *             (four independent FMA chains, for instruction-level
 *             parallelism); the last d % 8 floats are a masked chunk that
 *             goes where the next chunk would; the result is
 *             hsum((acc0 + acc1) + (acc2 + acc3)).  rows_avx2() is the only
 *             code doing this; the batch runs it on two rows at once so
 *             each chunk of the query is loaded once for both.
 */
#include "memory/vec.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"

#if defined(__x86_64__) || defined(__i386__)
#define VEC_HAVE_AVX2 1
#include <immintrin.h>
#endif

static const char *const metric_names[] = {"cosine", "ip", "l2"};

const char *vec_metric_name(vec_metric m)
{
    return (unsigned)m <= VEC_L2 ? metric_names[m] : "unknown";
}

bool vec_metric_parse(const char *s, vec_metric *out)
{
    for (int i = 0; i <= VEC_L2; i++)
        if (strcmp(s, metric_names[i]) == 0) {
            *out = (vec_metric)i;
            return true;
        }
    return false;
}

/* ---- the table ---------------------------------------------------- */

typedef struct kernels {
    const char *name;
    float (*dot)(const float *a, const float *b, size_t d);
    float (*l2sq)(const float *a, const float *b, size_t d);
    void (*dot_batch)(const float *q, const float *base, size_t n, size_t d,
                      float *out);
    void (*l2sq_batch)(const float *q, const float *base, size_t n, size_t d,
                       float *out);
    int32_t (*dot_i8)(const int8_t *a, const int8_t *b, size_t d);
    void (*dot_i8_batch)(const int8_t *q, const int8_t *base, size_t n,
                         size_t d, int32_t *out);
} kernels;

/* ---- scalar ------------------------------------------------------- */

static float dot_scalar(const float *a, const float *b, size_t d)
{
    float s = 0;
    for (size_t i = 0; i < d; i++)
        s += a[i] * b[i];
    return s;
}

static float l2sq_scalar(const float *a, const float *b, size_t d)
{
    float s = 0;
    for (size_t i = 0; i < d; i++) {
        float t = a[i] - b[i];
        s += t * t;
    }
    return s;
}

static void dot_batch_scalar(const float *q, const float *base, size_t n,
                             size_t d, float *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = dot_scalar(q, base + i * d, d);
}

static void l2sq_batch_scalar(const float *q, const float *base, size_t n,
                              size_t d, float *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = l2sq_scalar(q, base + i * d, d);
}

static int32_t dot_i8_scalar(const int8_t *a, const int8_t *b, size_t d)
{
    int32_t s = 0;
    for (size_t i = 0; i < d; i++)
        s += (int32_t)a[i] * b[i];
    return s;
}

static void dot_i8_batch_scalar(const int8_t *q, const int8_t *base, size_t n,
                                size_t d, int32_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = dot_i8_scalar(q, base + i * d, d);
}

static const kernels k_scalar = {
    .name = "scalar",
    .dot = dot_scalar,
    .l2sq = l2sq_scalar,
    .dot_batch = dot_batch_scalar,
    .l2sq_batch = l2sq_batch_scalar,
    .dot_i8 = dot_i8_scalar,
    .dot_i8_batch = dot_i8_batch_scalar,
};

/* ---- AVX2 + FMA --------------------------------------------------- */

#ifdef VEC_HAVE_AVX2
#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE inline __attribute__((always_inline))

typedef enum { OP_DOT, OP_L2 } kop;

AVX2 static INLINE float hsum8(__m256 v)
{
    __m128 s =
        _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2 static INLINE __m256 step(kop op, __m256 q, __m256 x, __m256 acc)
{
    if (op == OP_DOT) return _mm256_fmadd_ps(q, x, acc);
    __m256 t = _mm256_sub_ps(x, q);
    return _mm256_fmadd_ps(t, t, acc);
}

/*
 * The one float kernel: op between q and each of R (1 or 2) rows stored
 * one after another at x, in the order described at the top.
 * OUT: out[0..R).  R is a constant after inlining and every loop below
 * is unrolled, so acc lives in registers.  The last d % 32 floats go
 * through one masked block of four chunks: chunk j of it lands in acc j,
 * as it would in a full block, and lanes past d add 0 * 0 (no change).
 */
AVX2 static INLINE void rows_avx2(kop op, int R, const float *q, const float *x,
                                  size_t d, float *out)
{
    __m256 acc[2][4];
#pragma GCC unroll 2
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
            acc[r][j] = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= d; i += 32)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            __m256 qv = _mm256_loadu_ps(q + i + 8 * j);
#pragma GCC unroll 2
            for (int r = 0; r < R; r++)
                acc[r][j] = step(op, qv, _mm256_loadu_ps(x + r * d + i + 8 * j),
                                 acc[r][j]);
        }
    if (i < d) {
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        int left = (int)(d - i);
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            __m256i m =
                _mm256_cmpgt_epi32(_mm256_set1_epi32(left - 8 * j), lane);
            __m256 qv = _mm256_maskload_ps(q + i + 8 * j, m);
#pragma GCC unroll 2
            for (int r = 0; r < R; r++)
                acc[r][j] =
                    step(op, qv, _mm256_maskload_ps(x + r * d + i + 8 * j, m),
                         acc[r][j]);
        }
    }
#pragma GCC unroll 2
    for (int r = 0; r < R; r++)
        out[r] = hsum8(_mm256_add_ps(_mm256_add_ps(acc[r][0], acc[r][1]),
                                     _mm256_add_ps(acc[r][2], acc[r][3])));
}

AVX2 static float dot_avx2(const float *a, const float *b, size_t d)
{
    float r;
    rows_avx2(OP_DOT, 1, a, b, d, &r);
    return r;
}

AVX2 static float l2sq_avx2(const float *a, const float *b, size_t d)
{
    float r;
    rows_avx2(OP_L2, 1, a, b, d, &r);
    return r;
}

AVX2 static void dot_batch_avx2(const float *q, const float *base, size_t n,
                                size_t d, float *out)
{
    size_t i = 0;
    for (; i + 2 <= n; i += 2)
        rows_avx2(OP_DOT, 2, q, base + i * d, d, out + i);
    if (i < n) rows_avx2(OP_DOT, 1, q, base + i * d, d, out + i);
}

AVX2 static void l2sq_batch_avx2(const float *q, const float *base, size_t n,
                                 size_t d, float *out)
{
    size_t i = 0;
    for (; i + 2 <= n; i += 2)
        rows_avx2(OP_L2, 2, q, base + i * d, d, out + i);
    if (i < n) rows_avx2(OP_L2, 1, q, base + i * d, d, out + i);
}

AVX2 static INLINE int32_t hsum8i(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v),
                              _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/*
 * int8 dot of q with R (1..4) rows at x.  maddubs multiplies unsigned by
 * signed bytes, so q's magnitude goes in as unsigned and its sign moves
 * onto the row (sign_epi8); with codes in [-127, 127] each pair of
 * products fits int16 (2 * 127 * 127 < 32767) and madd_epi16 by ones
 * widens them to int32.  The last d % 32 bytes are added one by one.
 */
AVX2 static INLINE void rows_i8_avx2(int R, const int8_t *q, const int8_t *x,
                                     size_t d, int32_t *out)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[4];
    for (int r = 0; r < R; r++)
        acc[r] = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        __m256i qv = _mm256_loadu_si256((const __m256i *)(q + i));
        __m256i uq = _mm256_abs_epi8(qv);
        for (int r = 0; r < R; r++) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)(x + r * d + i));
            __m256i p = _mm256_maddubs_epi16(uq, _mm256_sign_epi8(xv, qv));
            acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(p, ones));
        }
    }
    for (int r = 0; r < R; r++) {
        int32_t s = hsum8i(acc[r]);
        for (size_t k = i; k < d; k++)
            s += (int32_t)q[k] * x[r * d + k];
        out[r] = s;
    }
}

AVX2 static int32_t dot_i8_avx2(const int8_t *a, const int8_t *b, size_t d)
{
    int32_t r;
    rows_i8_avx2(1, a, b, d, &r);
    return r;
}

AVX2 static void dot_i8_batch_avx2(const int8_t *q, const int8_t *base,
                                   size_t n, size_t d, int32_t *out)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        rows_i8_avx2(4, q, base + i * d, d, out + i);
    for (; i < n; i++)
        rows_i8_avx2(1, q, base + i * d, d, out + i);
}

static const kernels k_avx2 = {
    .name = "avx2+fma",
    .dot = dot_avx2,
    .l2sq = l2sq_avx2,
    .dot_batch = dot_batch_avx2,
    .l2sq_batch = l2sq_batch_avx2,
    .dot_i8 = dot_i8_avx2,
    .dot_i8_batch = dot_i8_batch_avx2,
};

static bool cpu_has_avx2(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
static bool cpu_has_avx2(void)
{
    return false;
}
#endif

/* ---- selection ---------------------------------------------------- */

static _Atomic(const kernels *) active;

static const kernels *choose_auto(void)
{
    const char *env = getenv("FLOWSTATE_SIMD");
    if (env && strcmp(env, "scalar") == 0) return &k_scalar;
#ifdef VEC_HAVE_AVX2
    if (cpu_has_avx2()) return &k_avx2;
#endif
    return &k_scalar;
}

/* The kernels in use, chosen on the first call. */
static inline const kernels *kern(void)
{
    const kernels *k = atomic_load_explicit(&active, memory_order_acquire);
    if (__builtin_expect(k == NULL, 0)) {
        k = choose_auto();
        atomic_store_explicit(&active, k, memory_order_release);
    }
    return k;
}

int vec_select(const char *impl)
{
    const kernels *k;
    if (strcmp(impl, "auto") == 0)
        k = choose_auto();
    else if (strcmp(impl, "scalar") == 0)
        k = &k_scalar;
#ifdef VEC_HAVE_AVX2
    else if (strcmp(impl, k_avx2.name) == 0 && cpu_has_avx2())
        k = &k_avx2;
#endif
    else
        return FS_EINVAL;
    atomic_store_explicit(&active, k, memory_order_release);
    return 0;
}

const char *vec_impl(void)
{
    return kern()->name;
}

/* ---- the public kernels ------------------------------------------- */

float vec_dot(const float *a, const float *b, size_t d)
{
    return kern()->dot(a, b, d);
}

float vec_l2sq(const float *a, const float *b, size_t d)
{
    return kern()->l2sq(a, b, d);
}

float vec_normalize(float *v, size_t d)
{
    float n = sqrtf(vec_dot(v, v, d));
    if (n > 0)
        for (size_t i = 0; i < d; i++)
            v[i] /= n;
    return n;
}

float vec_distance(vec_metric m, const float *a, const float *b, size_t d)
{
    switch (m) {
    case VEC_COSINE:
        return 1.0f - vec_dot(a, b, d);
    case VEC_IP:
        return -vec_dot(a, b, d);
    case VEC_L2:
        return vec_l2sq(a, b, d);
    }
    return 0;
}

void vec_distance_batch(vec_metric m, const float *q, const float *base,
                        size_t n, size_t d, float *dist)
{
    const kernels *k = kern();
    if (m == VEC_L2) {
        k->l2sq_batch(q, base, n, d, dist);
        return;
    }
    k->dot_batch(q, base, n, d, dist);
    if (m == VEC_COSINE)
        for (size_t i = 0; i < n; i++)
            dist[i] = 1.0f - dist[i];
    else
        for (size_t i = 0; i < n; i++)
            dist[i] = -dist[i];
}

float vec_score(vec_metric m, float dist)
{
    switch (m) {
    case VEC_COSINE:
        return 1.0f - dist;
    case VEC_IP:
        return -dist;
    case VEC_L2:
        return 1.0f / (1.0f + sqrtf(dist > 0 ? dist : 0));
    }
    return 0;
}

bool vec_finite(const float *v, size_t d)
{
    for (size_t i = 0; i < d; i++)
        if (!isfinite(v[i])) return false;
    return true;
}

int32_t vec_dot_i8(const int8_t *a, const int8_t *b, size_t d)
{
    return kern()->dot_i8(a, b, d);
}

void vec_dot_i8_batch(const int8_t *q, const int8_t *base, size_t n, size_t d,
                      int32_t *dot)
{
    kern()->dot_i8_batch(q, base, n, d, dot);
}
