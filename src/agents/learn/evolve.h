/*
 * evolve.h - the decisions behind safe autonomous parameter changes: is a
 * proposed change good enough to apply by itself, and, once applied, has
 * it made things worse?  Pure functions over small structs; the
 * evolution_events log, the stores and the traffic split are the agent's.
 *
 * The life of a change, with the function behind each step:
 *
 *   proposed --learn_evolve_decide()--> MORE_DATA      (validate longer)
 *                                   --> REJECT         (drop it)
 *                                   --> NEEDS_APPROVAL (ask a human)
 *                                   --> APPLY --learn_evolve_monitor_init()
 *   applied --learn_evolve_monitor_observe()--> WATCH    (keep watching)
 *                                           --> KEEP     (horizon reached)
 *                                           --> ROLLBACK (regressed)
 *
 * Metrics.  Higher is better (pass 1 - rate or -mean otherwise).  A
 * sample is a count n, a mean and a per-observation variance: a success
 * rate (learn_evolve_rate: observations in [0, 1]) or any metric with its
 * moments (learn_evolve_moments).  A rate is Agresti-Caffo adjusted - one
 * success and one failure added - so 0/n and n/n still have a variance.
 *
 * Validation (decide): control is the metric without the change (the A
 * side of a traffic split, or the window before it), candidate the metric
 * with it.  lift = candidate mean - control mean, se = sqrt(var_a/n_a +
 * var_b/n_b) (Welch / unpooled two-proportion), z_c the normal quantile of
 * the confidence c, and the one-sided bounds lo = lift - z_c se, hi =
 * lift + z_c se.  Then, in order:
 *   either side under min_n observations   MORE_DATA
 *   lo > margin  (one-sided z-test of lift > margin at level 1 - c)
 *                                           APPLY
 *   hi <= 0      (confidently no better)    REJECT
 *   otherwise    (maybe better, the margin not shown)  NEEDS_APPROVAL
 * So a change that is no better is applied by itself with probability
 * about 1 - c at most (the normal approximation), and a change whose lift
 * is below the margin less often still.
 *
 * Monitoring (monitor): a one-sided CUSUM of log-likelihood ratios (Page
 * 1954) of "the mean regressed to r1 = ref - tolerance" against "it is
 * still ref", where ref is the baseline's lower confidence bound at
 * 1 - alpha (ref = mean - z_{1-alpha} sqrt(var / n); a baseline measured
 * on few observations makes the monitor more tolerant, not jumpier).
 * Each batch of k observations summing to x adds a * x + b * k to S,
 * which is floored at 0; S >= h = ln(horizon / alpha) means ROLLBACK.
 *   rate      exact Bernoulli ratio: a = ln(r1/ref) - ln((1-r1)/(1-ref)),
 *             b = ln((1-r1)/(1-ref)).  For independent observations in
 *             [0, 1] whose mean is at least ref, E[exp(a x + b)] <= 1
 *             (convexity), so exp(sum) from each start is a
 *             supermartingale and P(a false ROLLBACK within the horizon)
 *             <= horizon * e^-h = alpha - given ref is below the true
 *             baseline, which the bound makes so with probability
 *             1 - alpha.
 *   moments   Gaussian ratio with the baseline variance v: a =
 *             -tolerance / v, b = tolerance (ref + r1) / (2 v); the same
 *             bound holds for normal observations, approximately else.
 * A regression to a mean m with a m + b > 0 (any m <= r1 qualifies) is
 * caught after about h / (a m + b) observations, the ratio's drift: for
 * a 0.20 baseline (2,000 trials) falling to 0.10 with the defaults, about
 * 650.  After `horizon`
 * observations with no alarm the verdict is KEEP.  The verdict is final
 * once it is not WATCH.
 */
#ifndef LEARN_EVOLVE_H
#define LEARN_EVOLVE_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define LEARN_EVOLVE_FORMAT 1

typedef enum learn_evolve_verdict {
    LEARN_EVOLVE_MORE_DATA,      /* decide: too few observations yet */
    LEARN_EVOLVE_APPLY,          /* decide: the lift clears the margin */
    LEARN_EVOLVE_NEEDS_APPROVAL, /* decide: not shown to clear it */
    LEARN_EVOLVE_REJECT,         /* decide: confidently no better */
    LEARN_EVOLVE_WATCH,          /* monitor: no regression so far */
    LEARN_EVOLVE_KEEP,           /* monitor: horizon passed, no regression */
    LEARN_EVOLVE_ROLLBACK,       /* monitor: regression detected */
} learn_evolve_verdict;

/* "more_data", "apply", "needs_approval", "reject", "watch", "keep",
 * "rollback" (static). */
const char *learn_evolve_verdict_name(learn_evolve_verdict v);

typedef struct learn_evolve_sample {
    double n;    /* observations */
    double mean; /* per observation */
    double var;  /* per-observation variance */
    bool rate;   /* observations lie in [0, 1] */
} learn_evolve_sample;

/* A success rate, Agresti-Caffo adjusted (successes <= trials). */
learn_evolve_sample learn_evolve_rate(uint64_t successes, uint64_t trials);
/* Any metric from its count, mean and per-observation variance. */
learn_evolve_sample learn_evolve_moments(double n, double mean, double var);

typedef struct learn_evolve_policy {
    double margin;     /* lift needed to apply unattended, >= 0 (0.01) */
    double confidence; /* one-sided, in (0.5, 1) (0.95) */
    double min_n;      /* observations per side before deciding (100) */
} learn_evolve_policy;

learn_evolve_policy learn_evolve_policy_default(void);

typedef struct learn_evolve_decision {
    learn_evolve_verdict verdict; /* MORE_DATA .. REJECT */
    double lift;                  /* candidate mean - control mean */
    double se;                    /* its standard error */
    double lo, hi;                /* one-sided bounds at the confidence */
    double z;                     /* (lift - margin) / se */
} learn_evolve_decision;

/*
 * Validates a change (rules above).  Errors: FS_EINVAL (policy out of
 * range, a sample with n < 0, var < 0 or a value not finite).  OUT: *out.
 */
int learn_evolve_decide(const learn_evolve_sample *control,
                        const learn_evolve_sample *candidate,
                        const learn_evolve_policy *policy,
                        learn_evolve_decision *out);

typedef struct learn_evolve_monitor_cfg {
    double tolerance; /* regression worth a rollback, > 0 (0.05) */
    double alpha;     /* false-rollback bound, in (0, 0.5) (0.01) */
    double horizon;   /* observations watched before KEEP, >= 1 (5000) */
} learn_evolve_monitor_cfg;

learn_evolve_monitor_cfg learn_evolve_monitor_cfg_default(void);

/* A monitor's whole state: plain data, copy it freely. */
typedef struct learn_evolve_monitor {
    double a, b; /* the ratio of one observation x: a * x + b */
    double h;    /* alarm threshold ln(horizon / alpha) */
    double horizon;
    double ref;                   /* the baseline's lower bound */
    double regressed;             /* ref - tolerance */
    double s;                     /* the CUSUM statistic, >= 0 */
    double n, sum;                /* observations so far and their sum */
    learn_evolve_verdict verdict; /* WATCH, KEEP or ROLLBACK */
} learn_evolve_monitor;

/*
 * Starts watching a change applied over `baseline` (the control sample
 * it was validated against).  Errors: FS_EINVAL (cfg out of range, a
 * baseline with n < 1 or zero variance, or - for a rate - no room for the
 * tolerance: ref - tolerance <= 0 or ref >= 1).  OUT: *m.
 */
int learn_evolve_monitor_init(learn_evolve_monitor *m,
                              const learn_evolve_sample *baseline,
                              const learn_evolve_monitor_cfg *cfg);

/*
 * Adds k observations summing to sum (k = 1: one observation; for a rate,
 * successes out of k trials) and updates m->verdict; once it is KEEP or
 * ROLLBACK nothing changes.  Errors: FS_EINVAL (k < 0 or sum not finite).
 */
int learn_evolve_monitor_observe(learn_evolve_monitor *m, double sum, double k);

/* The monitor as {"format":1, "a":..., ..., "verdict":"watch"}; the
 * caller owns the result. */
json_t *learn_evolve_monitor_to_json(const learn_evolve_monitor *m);
/* Reads it back.  Errors: FS_ECORRUPT.  OUT: *m. */
int learn_evolve_monitor_from_json(const json_t *state,
                                   learn_evolve_monitor *m);

#endif
