/*
 * quant.h - int8 scalar quantisation of float32 vectors, to cut the memory
 * of a vector index about four-fold; the candidates it finds are re-scored
 * exactly with the float vectors (vstore_search_int8).
 *
 * Scheme: one scale per vector, symmetric, no offset:
 *     scale = max_i |v_i| / 127,   code_i = round(v_i / scale) in [-127, 127]
 * so v_i ~ scale * code_i with an error of at most scale / 2 per component.
 * Approximate distances between a query q and a stored x, both encoded:
 *     dot(q, x) ~ scale_q * scale_x * sum_i qcode_i * xcode_i   (exact int32)
 *     cosine    1 - dot;   ip   -dot
 *     l2        |q|^2 + |x|^2 - 2 dot, the squared norms kept exactly as
 *               floats, so only the cross term carries quantisation error.
 *
 * Why per vector and not per dimension (per-dimension min/max, as FAISS's
 * SQ8): per-vector scales need no training pass and never go stale as
 * vectors arrive and leave one at a time - each code depends only on its
 * own vector, so an insert never re-encodes the others; embedding
 * components are roughly alike in range, so a per-dimension range buys
 * little there; and the error that does remain is removed by exact
 * re-scoring of a few times k candidates.  (For data whose dimensions
 * differ widely in range, a per-dimension range would rank better before
 * re-scoring; SIFT's recall@10 after re-scoring is measured in the tests.)
 * -128 is never produced, which the AVX2 kernel relies on (vec.h).
 *
 * Memory per vector (d dimensions), codes vs the float form:
 *     float32     4d bytes
 *     int8        d + 4 (scale) bytes, + 4 (|x|^2) for l2
 * e.g. d = 1536: 6144 vs 1540 (cosine); d = 128: 512 vs 136 (l2).
 */
#ifndef QUANT_H
#define QUANT_H
#include <stddef.h>
#include <stdint.h>

#include "memory/vec.h"

/*
 * Encodes v (d finite floats) into code[0..d).  Returns the scale (0 for
 * the zero vector, whose codes are all 0).
 */
float quant_encode(const float *v, size_t d, int8_t *code);

/* The float vector a code stands for: out[i] = scale * code[i]. */
void quant_decode(const int8_t *code, float scale, size_t d, float *out);

/* One encoded query: its codes (d bytes, owned by the caller), its scale,
 * and for l2 its exact squared norm. */
typedef struct quant_query {
    const int8_t *code;
    float scale;
    float norm2;
} quant_query;

/*
 * Approximate distances of metric m from q to n stored vectors: codes
 * (n * d bytes, one row each), scales[n], and for l2 norm2[n] (ignored,
 * may be NULL, otherwise).  OUT: dist[0..n).  Uses vec_dot_i8_batch;
 * d <= VEC_I8_MAX_DIMS.
 */
void quant_distance_batch(vec_metric m, const quant_query *q,
                          const int8_t *codes, const float *scales,
                          const float *norm2, size_t n, size_t d, float *dist);

/* Bytes one vector takes in each form (see the top). */
size_t quant_bytes_per_vector(vec_metric m, size_t d);
size_t quant_float_bytes_per_vector(size_t d);

#endif
