/*
 * test_prob.c - normal and Beta distribution functions
 * (agents/learn/prob.h) against closed forms and known values.
 */
#include <criterion/criterion.h>
#include <math.h>

#include "agents/learn/prob.h"

TestSuite(learn_prob, .timeout = 60);

Test(learn_prob, normal_cdf_and_quantile)
{
    cr_assert_float_eq(learn_prob_normal_cdf(0), 0.5, 1e-15);
    cr_assert_float_eq(learn_prob_normal_cdf(1.959963984540054), 0.975, 1e-13);
    cr_assert_float_eq(learn_prob_normal_quantile(0.95), 1.6448536269514722,
                       1e-12);
    cr_assert_float_eq(learn_prob_normal_quantile(0.99), 2.3263478740408408,
                       1e-12);
    cr_assert_float_eq(learn_prob_normal_quantile(0.025), -1.959963984540054,
                       1e-12);
    cr_assert_float_eq(learn_prob_normal_quantile(1e-10), -6.361340902404056,
                       1e-9);
}

Test(learn_prob, beta_cdf_closed_forms)
{
    for (double x = 0.05; x < 1; x += 0.1) {
        cr_assert_float_eq(learn_prob_beta_cdf(x, 1, 1), x, 1e-13);
        cr_assert_float_eq(learn_prob_beta_cdf(x, 3, 1), pow(x, 3), 1e-13);
        cr_assert_float_eq(learn_prob_beta_cdf(x, 1, 4), 1 - pow(1 - x, 4),
                           1e-13);
        /* I_x(2,2) = 3x^2 - 2x^3 */
        cr_assert_float_eq(learn_prob_beta_cdf(x, 2, 2),
                           3 * x * x - 2 * x * x * x, 1e-13);
        cr_assert_float_eq(learn_prob_beta_cdf(x, 7.5, 2.25),
                           1 - learn_prob_beta_cdf(1 - x, 2.25, 7.5), 1e-13);
    }
    cr_assert_eq(learn_prob_beta_cdf(-1, 2, 3), 0);
    cr_assert_eq(learn_prob_beta_cdf(2, 2, 3), 1);
}

Test(learn_prob, beta_quantile_inverts_the_cdf)
{
    static const double ab[][2] = {{1, 1},    {2, 9},       {0.5, 0.5},
                                   {41, 163}, {3000, 1000}, {2e6, 5e5}};
    static const double ps[] = {0.001, 0.025, 0.5, 0.975, 0.999};
    for (int i = 0; i < 6; i++)
        for (int k = 0; k < 5; k++) {
            double a = ab[i][0], b = ab[i][1];
            double x = learn_prob_beta_quantile(ps[k], a, b);
            cr_assert_float_eq(learn_prob_beta_cdf(x, a, b), ps[k], 1e-9,
                               "Beta(%g,%g) p=%g", a, b, ps[k]);
        }
    cr_assert_float_eq(learn_prob_beta_quantile(0.5, 1, 3),
                       1 - pow(0.5, 1.0 / 3), 1e-12);
    /* a large posterior is nearly normal */
    double a = 3000, b = 1000, m = a / (a + b);
    double sd = sqrt(a * b / ((a + b) * (a + b) * (a + b + 1)));
    cr_assert_float_eq(learn_prob_beta_quantile(0.975, a, b),
                       m + 1.959963984540054 * sd, 2e-4);
}
