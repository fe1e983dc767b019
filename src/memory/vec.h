/*
 * vec.h - float32 vector kernels: dot product, squared L2, norms, and the
 * distance used by every index.
 *
 * Distances are "smaller is closer" so every index sorts the same way:
 *   VEC_COSINE  1 - dot(a, b)   (vectors are stored L2-normalised)
 *   VEC_IP      -dot(a, b)
 *   VEC_L2      squared Euclidean distance
 * Scores shown to users are derived from distances by vec_score().
 *
 * The kernels pick an implementation once, at first use: AVX2+FMA when the
 * CPU has it, a portable scalar loop otherwise (vec_impl() names it).
 * FLOWSTATE_SIMD=scalar in the environment forces the scalar loop.  Both
 * give the same results within float rounding.
 *
 * Within one implementation a pair of vectors always gets the same bits:
 * the batch kernels add in exactly the order of the one-pair kernels, so a
 * distance from an exact scan equals vec_distance() on the same pair.
 *
 * The int8 kernels (for quant.h) work on codes in [-127, 127] (never -128)
 * and are exact: both implementations return the same integer.
 */
#ifndef VEC_H
#define VEC_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { VEC_COSINE, VEC_IP, VEC_L2 } vec_metric;

/* "cosine", "ip", "l2"; parse returns false for an unknown name. */
const char *vec_metric_name(vec_metric m);
bool vec_metric_parse(const char *s, vec_metric *out);

float vec_dot(const float *a, const float *b, size_t d);
float vec_l2sq(const float *a, const float *b, size_t d);
/* Scales v to unit length; returns its former norm (0 leaves v as is). */
float vec_normalize(float *v, size_t d);
/* The distance of m between a and b (see the top). */
float vec_distance(vec_metric m, const float *a, const float *b, size_t d);
/* A user-facing similarity from a distance: cosine and ip give the dot
 * product; l2 gives 1 / (1 + sqrt(dist)). */
float vec_score(vec_metric m, float dist);
/* true when every component is finite (no NaN or Inf). */
bool vec_finite(const float *v, size_t d);

/* "avx2+fma" or "scalar": the kernels in use. */
const char *vec_impl(void);

/*
 * Chooses the kernels: "scalar", "avx2+fma", or "auto" (what first use
 * does: FLOWSTATE_SIMD=scalar gives scalar, otherwise AVX2+FMA when the
 * CPU has both).  For tests and benchmarks; call it while no other thread
 * is inside a kernel.  Errors: FS_EINVAL for an unknown name or for
 * "avx2+fma" on a CPU without it (the choice is then unchanged).
 */
int vec_select(const char *impl);

/*
 * The distance of m from q to each of n vectors stored one after another
 * in base (n * d floats).  OUT: dist[0..n).  The same values, bit for bit,
 * as n calls of vec_distance(m, q, base + i * d, d): the exact scan's hot
 * loop, without a call per vector.
 */
void vec_distance_batch(vec_metric m, const float *q, const float *base,
                        size_t n, size_t d, float *dist);

/*
 * Dot product of two int8 code vectors, exact.  Codes must lie in
 * [-127, 127] and d must not exceed VEC_I8_MAX_DIMS (so the int32 sum
 * cannot overflow).
 */
#define VEC_I8_MAX_DIMS 131072
int32_t vec_dot_i8(const int8_t *a, const int8_t *b, size_t d);
/* vec_dot_i8 of q with each of n codes stored one after another in base
 * (n * d bytes).  OUT: dot[0..n). */
void vec_dot_i8_batch(const int8_t *q, const int8_t *base, size_t n, size_t d,
                      int32_t *dot);

#endif
