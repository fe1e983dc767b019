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
 * Both give the same results within float rounding.
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

#endif
