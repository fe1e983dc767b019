/*
 * vec.c - float32 kernels (see vec.h).  The scalar versions are the
 * reference; SIMD versions chosen at run time must match them.
 */
#include "memory/vec.h"

#include <math.h>
#include <string.h>

static const char *const metric_names[] = { "cosine", "ip", "l2" };

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

float vec_dot(const float *a, const float *b, size_t d)
{
    float s = 0;
    for (size_t i = 0; i < d; i++) s += a[i] * b[i];
    return s;
}

float vec_l2sq(const float *a, const float *b, size_t d)
{
    float s = 0;
    for (size_t i = 0; i < d; i++) {
        float t = a[i] - b[i];
        s += t * t;
    }
    return s;
}

float vec_normalize(float *v, size_t d)
{
    float n = sqrtf(vec_dot(v, v, d));
    if (n > 0)
        for (size_t i = 0; i < d; i++) v[i] /= n;
    return n;
}

float vec_distance(vec_metric m, const float *a, const float *b, size_t d)
{
    switch (m) {
    case VEC_COSINE: return 1.0f - vec_dot(a, b, d);
    case VEC_IP: return -vec_dot(a, b, d);
    case VEC_L2: return vec_l2sq(a, b, d);
    }
    return 0;
}

float vec_score(vec_metric m, float dist)
{
    switch (m) {
    case VEC_COSINE: return 1.0f - dist;
    case VEC_IP: return -dist;
    case VEC_L2: return 1.0f / (1.0f + sqrtf(dist > 0 ? dist : 0));
    }
    return 0;
}

bool vec_finite(const float *v, size_t d)
{
    for (size_t i = 0; i < d; i++)
        if (!isfinite(v[i])) return false;
    return true;
}

const char *vec_impl(void) { return "scalar"; }
