/*
 * test_rng.c - the seeded generator (agents/learn/rng.h): the same seed
 * gives the same sequence, and the uniform, normal, Gamma and Beta draws
 * have the right first two moments (200,000 draws each, tolerances about
 * five standard errors).
 */
#include <criterion/criterion.h>
#include <math.h>

#include "agents/learn/rng.h"

TestSuite(learn_rng, .timeout = 60);

#define N 200000

typedef double (*draw_fn)(learn_rng *r, double a, double b);

static double d_uniform(learn_rng *r, double a, double b)
{
    (void)a, (void)b;
    return learn_rng_uniform(r);
}

static double d_normal(learn_rng *r, double a, double b)
{
    (void)a, (void)b;
    return learn_rng_normal(r);
}

static double d_gamma(learn_rng *r, double a, double b)
{
    (void)b;
    return learn_rng_gamma(r, a);
}

static double d_beta(learn_rng *r, double a, double b)
{
    return learn_rng_beta(r, a, b);
}

/* Checks mean and variance of N draws against the expected ones. */
static void moments(draw_fn f, double a, double b, double mean, double var,
                    double lo, double hi)
{
    learn_rng r;
    learn_rng_seed(&r, 99);
    double s = 0, s2 = 0;
    for (int i = 0; i < N; i++) {
        double x = f(&r, a, b);
        cr_assert(x >= lo && x <= hi, "draw %g out of range", x);
        s += x;
        s2 += x * x;
    }
    double m = s / N, v = s2 / N - m * m;
    double se_m = sqrt(var / N);
    cr_assert_float_eq(m, mean, 5 * se_m + 1e-12, "mean %g (a=%g b=%g)", m, a,
                       b);
    cr_assert_float_eq(v, var, 0.03 * var, "variance %g (a=%g b=%g)", v, a, b);
}

Test(learn_rng, same_seed_same_sequence)
{
    learn_rng a, b, c;
    learn_rng_seed(&a, 0);
    learn_rng_seed(&b, 0);
    learn_rng_seed(&c, 1);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = learn_rng_next(&a);
        cr_assert_eq(x, learn_rng_next(&b));
        differ += x != learn_rng_next(&c);
    }
    cr_assert_eq(differ, 1000);
    learn_rng_seed(&a, 0);
    cr_assert(a.s[0] | a.s[1] | a.s[2] | a.s[3], "seed 0 is a valid state");
}

Test(learn_rng, draws_have_the_right_moments)
{
    moments(d_uniform, 0, 0, 0.5, 1.0 / 12, 0, 1);
    moments(d_normal, 0, 0, 0, 1, -10, 10);
    static const double shapes[] = {0.3, 1, 2.5, 40};
    for (int i = 0; i < 4; i++)
        moments(d_gamma, shapes[i], 0, shapes[i], shapes[i], 0, INFINITY);
    static const double ab[][2] = {{1, 1}, {2, 5}, {0.5, 0.5}, {300, 50}};
    for (int i = 0; i < 4; i++) {
        double a = ab[i][0], b = ab[i][1], s = a + b;
        moments(d_beta, a, b, a / s, a * b / (s * s * (s + 1)), 0, 1);
    }
}
