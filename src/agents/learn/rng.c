/* rng.c - xoshiro256** and the draws built on it (see rng.h). */
#include "agents/learn/rng.h"

#include <assert.h>
#include <math.h>

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void learn_rng_seed(learn_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

uint64_t learn_rng_next(learn_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double learn_rng_uniform(learn_rng *r)
{
    return (double)(learn_rng_next(r) >> 11) * 0x1.0p-53;
}

double learn_rng_normal(learn_rng *r)
{
    double u1 = 1.0 - learn_rng_uniform(r); /* (0, 1]: log is finite */
    double u2 = learn_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* Marsaglia & Tsang: a squeezed rejection from a transformed normal. */
static double gamma_ge1(learn_rng *r, double shape)
{
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = learn_rng_normal(r), v = 1.0 + c * x;
        if (v <= 0) continue;
        v = v * v * v;
        double u = learn_rng_uniform(r), x2 = x * x;
        if (u < 1.0 - 0.0331 * x2 * x2) return d * v;
        if (u > 0 && log(u) < 0.5 * x2 + d * (1.0 - v + log(v))) return d * v;
    }
}

double learn_rng_gamma(learn_rng *r, double shape)
{
    assert(shape > 0);
    if (shape >= 1) return gamma_ge1(r, shape);
    double g = gamma_ge1(r, shape + 1.0);
    return g * pow(1.0 - learn_rng_uniform(r), 1.0 / shape);
}

double learn_rng_beta(learn_rng *r, double a, double b)
{
    double x = learn_rng_gamma(r, a), y = learn_rng_gamma(r, b);
    return x + y > 0 ? x / (x + y) : 0.5; /* both underflowed: tiny shapes */
}
