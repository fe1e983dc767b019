/*
 * quant.c - per-vector symmetric int8 quantisation (see quant.h for the
 * scheme, its error and why it is per vector).  The integer dot products
 * come from vec.c's kernels (AVX2 or scalar, chosen there); this file only
 * encodes and turns integer dots into distances.
 */
#include "memory/quant.h"

#include <assert.h>
#include <math.h>

float quant_encode(const float *v, size_t d, int8_t *code)
{
    float amax = 0;
    for (size_t i = 0; i < d; i++) {
        float a = fabsf(v[i]);
        if (a > amax) amax = a;
    }
    if (!(amax > 0)) {
        for (size_t i = 0; i < d; i++)
            code[i] = 0;
        return 0;
    }
    float scale = amax / 127.0f, inv = 127.0f / amax;
    for (size_t i = 0; i < d; i++) {
        /* |v[i] * inv| <= 127 up to rounding; clamp before converting. */
        float c = nearbyintf(v[i] * inv);
        if (c > 127.0f) c = 127.0f;
        if (c < -127.0f) c = -127.0f;
        code[i] = (int8_t)c;
    }
    return scale;
}

void quant_decode(const int8_t *code, float scale, size_t d, float *out)
{
    for (size_t i = 0; i < d; i++)
        out[i] = scale * (float)code[i];
}

/* Rows per call of the int8 kernel: bounds the int32 buffer on the stack. */
#define QUANT_BLOCK 256

void quant_distance_batch(vec_metric m, const quant_query *q,
                          const int8_t *codes, const float *scales,
                          const float *norm2, size_t n, size_t d, float *dist)
{
    assert(d <= VEC_I8_MAX_DIMS);
    int32_t dot[QUANT_BLOCK];
    for (size_t b = 0; b < n; b += QUANT_BLOCK) {
        size_t nb = n - b < QUANT_BLOCK ? n - b : QUANT_BLOCK;
        vec_dot_i8_batch(q->code, codes + b * d, nb, d, dot);
        for (size_t i = 0; i < nb; i++) {
            float ip = q->scale * scales[b + i] * (float)dot[i];
            switch (m) {
            case VEC_COSINE:
                dist[b + i] = 1.0f - ip;
                break;
            case VEC_IP:
                dist[b + i] = -ip;
                break;
            case VEC_L2:
                dist[b + i] = q->norm2 + norm2[b + i] - 2.0f * ip;
                break;
            }
        }
    }
}

size_t quant_bytes_per_vector(vec_metric m, size_t d)
{
    return d + sizeof(float) + (m == VEC_L2 ? sizeof(float) : 0);
}

size_t quant_float_bytes_per_vector(size_t d)
{
    return d * sizeof(float);
}
