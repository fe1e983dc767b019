/* prob.c - normal and Beta CDFs and quantiles (see prob.h). */
#include "agents/learn/prob.h"

#include <assert.h>
#include <math.h>

#define CF_MAX_TERMS 100000
#define CF_EPS 1e-15
#define TINY 1e-300

double learn_prob_normal_cdf(double x)
{
    return 0.5 * erfc(-x / M_SQRT2);
}

double learn_prob_normal_quantile(double p)
{
    assert(p > 0 && p < 1);
    double lo = -40, hi = 40;
    for (int i = 0; i < 200 && hi - lo > 0; i++) {
        double mid = 0.5 * (lo + hi);
        if (mid == lo || mid == hi) break;
        if (learn_prob_normal_cdf(mid) < p)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* The continued fraction of I_x(a, b) (Numerical Recipes' betacf), by
 * the modified Lentz method; converges fast for x < (a+1)/(a+b+2). */
static double beta_cf(double x, double a, double b)
{
    double c = 1, d = 1 - (a + b) * x / (a + 1);
    if (fabs(d) < TINY) d = TINY;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= CF_MAX_TERMS; m++) {
        for (int odd = 0; odd < 2; odd++) {
            double num =
                odd ? -(a + m) * (a + b + m) * x /
                          ((a + 2 * m) * (a + 2 * m + 1))
                    : m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
            d = 1 + num * d;
            if (fabs(d) < TINY) d = TINY;
            c = 1 + num / c;
            if (fabs(c) < TINY) c = TINY;
            d = 1 / d;
            h *= d * c;
            if (odd && fabs(d * c - 1) < CF_EPS) return h;
        }
    }
    return h;
}

double learn_prob_beta_cdf(double x, double a, double b)
{
    assert(a > 0 && b > 0);
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    double lfront =
        lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    if (x < (a + 1) / (a + b + 2)) return exp(lfront) * beta_cf(x, a, b) / a;
    return 1 - exp(lfront) * beta_cf(1 - x, b, a) / b;
}

double learn_prob_beta_quantile(double p, double a, double b)
{
    assert(p >= 0 && p <= 1 && a > 0 && b > 0);
    double lo = 0, hi = 1;
    for (int i = 0; i < 55; i++) {
        double mid = 0.5 * (lo + hi);
        if (learn_prob_beta_cdf(mid, a, b) < p)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}
