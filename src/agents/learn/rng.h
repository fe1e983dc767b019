/*
 * rng.h - the learning library's seeded random numbers: xoshiro256** for
 * the bits, and the draws Thompson sampling needs (uniform, normal, Gamma,
 * Beta).
 *
 * Everything is a pure function of the seed: the same seed gives the same
 * sequence on every run, so a choice can be replayed and a test is exact.
 * learn_rng_seed() expands a 64-bit seed into the 256-bit state with
 * splitmix64 (as xoshiro's authors advise; any seed, 0 included, gives a
 * valid non-zero state).
 *
 * Draws:
 *   uniform   the top 53 bits of a step, scaled: [0, 1)
 *   normal    Box-Muller, one cosine draw per call (no cached pair, so
 *             the sequence never depends on an earlier odd call)
 *   gamma     Marsaglia & Tsang (2000) for shape >= 1, with its squeeze;
 *             shape < 1 boosts: Gamma(a) = Gamma(a+1) * U^(1/a)
 *   beta      X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b)
 *
 * The struct is public so callers can keep one on the stack; it is not
 * thread-safe (one per thread or per call).
 */
#ifndef LEARN_RNG_H
#define LEARN_RNG_H
#include <stdint.h>

typedef struct learn_rng {
    uint64_t s[4];
} learn_rng;

void learn_rng_seed(learn_rng *r, uint64_t seed);
/* The next 64 random bits. */
uint64_t learn_rng_next(learn_rng *r);
/* A uniform double in [0, 1). */
double learn_rng_uniform(learn_rng *r);
/* A standard normal draw. */
double learn_rng_normal(learn_rng *r);
/* A Gamma(shape, 1) draw; shape > 0 (asserted). */
double learn_rng_gamma(learn_rng *r, double shape);
/* A Beta(a, b) draw in [0, 1]; a, b > 0 (asserted). */
double learn_rng_beta(learn_rng *r, double a, double b);

#endif
