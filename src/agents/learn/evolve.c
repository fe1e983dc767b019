/* evolve.c - validate, apply, monitor, roll back (see evolve.h). */
#include "agents/learn/evolve.h"

#include <math.h>
#include <string.h>

#include "agents/learn/prob.h"
#include "core/fs.h"

static const char *const verdict_names[] = {
    [LEARN_EVOLVE_MORE_DATA] = "more_data",
    [LEARN_EVOLVE_APPLY] = "apply",
    [LEARN_EVOLVE_NEEDS_APPROVAL] = "needs_approval",
    [LEARN_EVOLVE_REJECT] = "reject",
    [LEARN_EVOLVE_WATCH] = "watch",
    [LEARN_EVOLVE_KEEP] = "keep",
    [LEARN_EVOLVE_ROLLBACK] = "rollback",
};

#define NVERDICTS (sizeof verdict_names / sizeof *verdict_names)

const char *learn_evolve_verdict_name(learn_evolve_verdict v)
{
    return (size_t)v < NVERDICTS ? verdict_names[v] : "unknown";
}

learn_evolve_sample learn_evolve_rate(uint64_t successes, uint64_t trials)
{
    double n = (double)trials + 2, p = ((double)successes + 1) / n;
    return (learn_evolve_sample){n, p, p * (1 - p), true};
}

learn_evolve_sample learn_evolve_moments(double n, double mean, double var)
{
    return (learn_evolve_sample){n, mean, var, false};
}

learn_evolve_policy learn_evolve_policy_default(void)
{
    return (learn_evolve_policy){
        .margin = 0.01, .confidence = 0.95, .min_n = 100};
}

learn_evolve_monitor_cfg learn_evolve_monitor_cfg_default(void)
{
    return (learn_evolve_monitor_cfg){
        .tolerance = 0.05, .alpha = 0.01, .horizon = 5000};
}

static bool sample_ok(const learn_evolve_sample *s)
{
    return isfinite(s->n) && isfinite(s->mean) && isfinite(s->var) &&
           s->n >= 0 && s->var >= 0;
}

/* The standard error of a sample's mean (0 with no observations). */
static double mean_se(const learn_evolve_sample *s)
{
    return s->n > 0 ? sqrt(s->var / s->n) : 0;
}

static learn_evolve_verdict verdict_of(const learn_evolve_sample *a,
                                       const learn_evolve_sample *b,
                                       const learn_evolve_policy *p,
                                       const learn_evolve_decision *d)
{
    if (a->n < p->min_n || b->n < p->min_n) return LEARN_EVOLVE_MORE_DATA;
    if (d->lo > p->margin) return LEARN_EVOLVE_APPLY;
    if (d->hi <= 0) return LEARN_EVOLVE_REJECT;
    return LEARN_EVOLVE_NEEDS_APPROVAL;
}

int learn_evolve_decide(const learn_evolve_sample *control,
                        const learn_evolve_sample *candidate,
                        const learn_evolve_policy *policy,
                        learn_evolve_decision *out)
{
    const learn_evolve_policy *p = policy;
    if (!sample_ok(control) || !sample_ok(candidate) ||
        !(p->margin >= 0 && isfinite(p->margin)) ||
        !(p->confidence > 0.5 && p->confidence < 1) || !isfinite(p->min_n))
        return FS_EINVAL;
    double sa = mean_se(control), sb = mean_se(candidate);
    double se = sqrt(sa * sa + sb * sb);
    double zc = learn_prob_normal_quantile(p->confidence);
    learn_evolve_decision d = {.lift = candidate->mean - control->mean,
                               .se = se};
    d.lo = d.lift - zc * se;
    d.hi = d.lift + zc * se;
    d.z = se > 0 ? (d.lift - p->margin) / se
                 : (d.lift > p->margin ? INFINITY : -INFINITY);
    d.verdict = verdict_of(control, candidate, p, &d);
    *out = d;
    return 0;
}

static bool cfg_ok(const learn_evolve_monitor_cfg *c)
{
    return c->tolerance > 0 && isfinite(c->tolerance) && c->alpha > 0 &&
           c->alpha < 0.5 && c->horizon >= 1 && isfinite(c->horizon);
}

/* The per-observation log-likelihood ratio of mean r1 against ref, as
 * a * x + b: Bernoulli for a rate, Gaussian with variance v otherwise. */
static int set_ratio(learn_evolve_monitor *m, bool rate, double v)
{
    double r0 = m->ref, r1 = m->regressed;
    if (!rate) {
        m->a = (r1 - r0) / v;
        m->b = (r0 - r1) * (r0 + r1) / (2 * v);
        return 0;
    }
    if (!(r1 > 0) || !(r0 < 1)) return FS_EINVAL;
    m->b = log((1 - r1) / (1 - r0));
    m->a = log(r1 / r0) - m->b;
    return 0;
}

int learn_evolve_monitor_init(learn_evolve_monitor *m,
                              const learn_evolve_sample *baseline,
                              const learn_evolve_monitor_cfg *cfg)
{
    if (!cfg_ok(cfg) || !sample_ok(baseline) || baseline->n < 1 ||
        !(baseline->var > 0))
        return FS_EINVAL;
    double z = learn_prob_normal_quantile(1 - cfg->alpha);
    learn_evolve_monitor t = {
        .h = log(cfg->horizon / cfg->alpha),
        .horizon = cfg->horizon,
        .ref = baseline->mean - z * mean_se(baseline),
        .verdict = LEARN_EVOLVE_WATCH,
    };
    t.regressed = t.ref - cfg->tolerance;
    int err = set_ratio(&t, baseline->rate, baseline->var);
    if (err) return err;
    *m = t;
    return 0;
}

int learn_evolve_monitor_observe(learn_evolve_monitor *m, double sum, double k)
{
    if (!(k >= 0) || !isfinite(k) || !isfinite(sum)) return FS_EINVAL;
    if (m->verdict != LEARN_EVOLVE_WATCH) return 0;
    m->s = fmax(0, m->s + m->a * sum + m->b * k);
    m->n += k;
    m->sum += sum;
    if (m->s >= m->h)
        m->verdict = LEARN_EVOLVE_ROLLBACK;
    else if (m->n >= m->horizon)
        m->verdict = LEARN_EVOLVE_KEEP;
    return 0;
}

json_t *learn_evolve_monitor_to_json(const learn_evolve_monitor *m)
{
    return json_pack("{s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, "
                     "s:s}",
                     "format", LEARN_EVOLVE_FORMAT, "a", m->a, "b", m->b, "h",
                     m->h, "horizon", m->horizon, "ref", m->ref, "regressed",
                     m->regressed, "s", m->s, "n", m->n, "sum", m->sum,
                     "verdict", learn_evolve_verdict_name(m->verdict));
}

/* The monitor verdict named v (WATCH, KEEP, ROLLBACK), or -1. */
static int monitor_verdict(const char *v)
{
    for (int i = LEARN_EVOLVE_WATCH; i <= LEARN_EVOLVE_ROLLBACK; i++)
        if (strcmp(verdict_names[i], v) == 0) return i;
    return -1;
}

int learn_evolve_monitor_from_json(const json_t *state, learn_evolve_monitor *m)
{
    json_int_t format;
    const char *v;
    double f[9];
    if (json_unpack((json_t *)state,
                    "{s:I, s:F, s:F, s:F, s:F, s:F, s:F, s:F, s:F, s:F, s:s}",
                    "format", &format, "a", &f[0], "b", &f[1], "h", &f[2],
                    "horizon", &f[3], "ref", &f[4], "regressed", &f[5], "s",
                    &f[6], "n", &f[7], "sum", &f[8], "verdict", &v) ||
        format != LEARN_EVOLVE_FORMAT || monitor_verdict(v) < 0)
        return FS_ECORRUPT;
    for (int i = 0; i < 9; i++)
        if (!isfinite(f[i])) return FS_ECORRUPT;
    if (f[2] <= 0 || f[3] < 1 || f[6] < 0 || f[7] < 0) return FS_ECORRUPT;
    *m = (learn_evolve_monitor){
        f[0], f[1], f[2], f[3], f[4],
        f[5], f[6], f[7], f[8], (learn_evolve_verdict)monitor_verdict(v)};
    return 0;
}
