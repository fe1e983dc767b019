/*
 * prob.h - the distribution functions the learning library tests and
 * reports with: the standard normal's CDF and quantile, and the Beta
 * distribution's CDF and quantile.
 *
 * How:
 *   normal CDF       0.5 * erfc(-x / sqrt 2) (C99 libm)
 *   normal quantile  bisection of that CDF on [-40, 40] to the last bit
 *   Beta CDF         the regularized incomplete beta I_x(a, b) by its
 *                    continued fraction (modified Lentz), evaluated
 *                    directly where it converges fast (x < (a+1)/(a+b+2))
 *                    and through I_x(a,b) = 1 - I_{1-x}(b,a) elsewhere;
 *                    the fraction needs O(sqrt(max(a, b))) terms
 *   Beta quantile    bisection of the CDF on [0, 1] (55 halvings: the
 *                    bracket narrows below 3e-17)
 * All pure and deterministic.  Accuracy is about 1e-12 absolute, plenty
 * for credible intervals and test thresholds.
 */
#ifndef LEARN_PROB_H
#define LEARN_PROB_H

/* P(Z <= x) for a standard normal Z. */
double learn_prob_normal_cdf(double x);
/* The x with P(Z <= x) = p; p in (0, 1) (asserted). */
double learn_prob_normal_quantile(double p);
/* P(X <= x) for X ~ Beta(a, b); a, b > 0 (asserted); x clamped to [0, 1]. */
double learn_prob_beta_cdf(double x, double a, double b);
/* The x with P(X <= x) = p; p in [0, 1], a, b > 0 (asserted). */
double learn_prob_beta_quantile(double p, double a, double b);

#endif
