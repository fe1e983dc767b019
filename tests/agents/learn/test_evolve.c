/*
 * test_evolve.c - safe autonomous changes (agents/learn/evolve.h).
 *
 * Validation: a clearly better change applies by itself, a marginal one
 * needs approval, a harmful one is rejected, too little data asks for
 * more; over 400 seeded A/A splits a change no better than control is
 * applied at most about 1 - confidence of the time.  Monitoring: a planted
 * harmful change (success rate 0.20 -> 0.10 after apply) is rolled back in
 * every seed within ROLLBACK_BOUND observations, while a harmless one
 * (still 0.20) or a better one almost never is (false alarms over 200
 * seeds within alpha's bound); the same for a Gaussian metric.  Then the
 * whole life of a planted harmful change: it wins its traffic split, is
 * applied, turns bad (0.10), and is rolled back.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agents/learn/evolve.h"
#include "agents/learn/rng.h"
#include "core/fs.h"
#include "core/json.h"

TestSuite(learn_evolve, .timeout = 120);

#define ROLLBACK_BOUND 1500

static learn_evolve_decision decide(uint64_t sa, uint64_t na, uint64_t sb,
                                    uint64_t nb, double margin)
{
    learn_evolve_sample a = learn_evolve_rate(sa, na),
                        b = learn_evolve_rate(sb, nb);
    learn_evolve_policy p = learn_evolve_policy_default();
    p.margin = margin;
    learn_evolve_decision d;
    cr_assert_eq(learn_evolve_decide(&a, &b, &p, &d), 0);
    return d;
}

Test(learn_evolve, decide_apply_approve_reject_more_data)
{
    learn_evolve_decision d = decide(400, 2000, 600, 2000, 0.02);
    cr_assert_eq(d.verdict, LEARN_EVOLVE_APPLY, "0.20 -> 0.30: %s",
                 learn_evolve_verdict_name(d.verdict));
    cr_assert_float_eq(d.lift, 601.0 / 2002 - 401.0 / 2002, 1e-12);
    cr_assert_gt(d.lo, 0.02);
    cr_assert_gt(d.z, 1.6448536269514722);
    d = decide(400, 2000, 430, 2000, 0.02);
    cr_assert_eq(d.verdict, LEARN_EVOLVE_NEEDS_APPROVAL, "0.20 -> 0.215");
    cr_assert(d.lo <= 0.02 && d.hi > 0);
    d = decide(400, 2000, 410, 2000, 0.0);
    cr_assert_eq(d.verdict, LEARN_EVOLVE_NEEDS_APPROVAL, "0.20 -> 0.205");
    d = decide(400, 2000, 300, 2000, 0.02);
    cr_assert_eq(d.verdict, LEARN_EVOLVE_REJECT, "0.20 -> 0.15");
    cr_assert_leq(d.hi, 0);
    d = decide(10, 50, 30, 50, 0.02);
    cr_assert_eq(d.verdict, LEARN_EVOLVE_MORE_DATA);
    d = decide(0, 500, 0, 500, 0.0);
    cr_assert_eq(d.verdict, LEARN_EVOLVE_NEEDS_APPROVAL, "0/n still decides");
    cr_assert_gt(d.se, 0);
    /* a metric with moments: mean deal size 100 +- 30 */
    learn_evolve_policy p = learn_evolve_policy_default();
    p.margin = 2;
    learn_evolve_sample a = learn_evolve_moments(900, 100, 900),
                        b = learn_evolve_moments(900, 106, 900);
    cr_assert_eq(learn_evolve_decide(&a, &b, &p, &d), 0);
    cr_assert_eq(d.verdict, LEARN_EVOLVE_APPLY);
    b.mean = 103;
    cr_assert_eq(learn_evolve_decide(&a, &b, &p, &d), 0);
    cr_assert_eq(d.verdict, LEARN_EVOLVE_NEEDS_APPROVAL);
    b.mean = 96;
    cr_assert_eq(learn_evolve_decide(&a, &b, &p, &d), 0);
    cr_assert_eq(d.verdict, LEARN_EVOLVE_REJECT);
}

Test(learn_evolve, decide_refuses_bad_input)
{
    learn_evolve_sample a = learn_evolve_rate(10, 100), b = a;
    learn_evolve_policy p = learn_evolve_policy_default();
    learn_evolve_decision d;
    p.confidence = 0.5;
    cr_assert_eq(learn_evolve_decide(&a, &b, &p, &d), FS_EINVAL);
    p = learn_evolve_policy_default();
    p.margin = -0.1;
    cr_assert_eq(learn_evolve_decide(&a, &b, &p, &d), FS_EINVAL);
    p = learn_evolve_policy_default();
    b.var = -1;
    cr_assert_eq(learn_evolve_decide(&a, &b, &p, &d), FS_EINVAL);
    b = learn_evolve_moments(NAN, 1, 1);
    cr_assert_eq(learn_evolve_decide(&a, &b, &p, &d), FS_EINVAL);
    cr_assert_str_eq(learn_evolve_verdict_name(LEARN_EVOLVE_NEEDS_APPROVAL),
                     "needs_approval");
    cr_assert_str_eq(learn_evolve_verdict_name(LEARN_EVOLVE_ROLLBACK),
                     "rollback");
}

/* Successes in n trials at rate p. */
static uint64_t successes(learn_rng *r, double p, uint64_t n)
{
    uint64_t s = 0;
    for (uint64_t i = 0; i < n; i++)
        s += learn_rng_uniform(r) < p;
    return s;
}

Test(learn_evolve, no_better_is_rarely_applied_and_better_usually_is)
{
    learn_rng r;
    learn_rng_seed(&r, 31);
    int applied_same = 0, applied_at_margin = 0, applied_better = 0;
    for (int i = 0; i < 400; i++) {
        uint64_t a = successes(&r, 0.2, 1000);
        applied_same +=
            decide(a, 1000, successes(&r, 0.2, 1000), 1000, 0).verdict ==
            LEARN_EVOLVE_APPLY;
        applied_at_margin +=
            decide(a, 1000, successes(&r, 0.22, 1000), 1000, 0.02).verdict ==
            LEARN_EVOLVE_APPLY;
        applied_better +=
            decide(a, 1000, successes(&r, 0.28, 1000), 1000, 0.02).verdict ==
            LEARN_EVOLVE_APPLY;
    }
    cr_log_info("applied: %d/400 equal, %d/400 at the margin, %d/400 better",
                applied_same, applied_at_margin, applied_better);
    cr_assert_leq(applied_same, 32, "at most ~5%% (+ sampling slack)");
    cr_assert_leq(applied_at_margin, 32);
    cr_assert_geq(applied_better, 320, "0.20 -> 0.28 usually applies");
}

/* Watches a change over a 2,000-trial baseline at 0.20 while the true
 * rate is `rate`; returns the observations until ROLLBACK, or 0 if the
 * horizon passed without one. */
static int watch_rate(learn_rng *r, double rate, bool batched)
{
    learn_evolve_sample base = learn_evolve_rate(successes(r, 0.2, 2000), 2000);
    learn_evolve_monitor_cfg cfg = learn_evolve_monitor_cfg_default();
    learn_evolve_monitor m;
    cr_assert_eq(learn_evolve_monitor_init(&m, &base, &cfg), 0);
    int n = 0, k = batched ? 25 : 1;
    while (m.verdict == LEARN_EVOLVE_WATCH) {
        cr_assert_eq(learn_evolve_monitor_observe(
                         &m, (double)successes(r, rate, (uint64_t)k), k),
                     0);
        n += k;
    }
    return m.verdict == LEARN_EVOLVE_ROLLBACK ? n : 0;
}

Test(learn_evolve, monitor_rolls_back_harm_and_keeps_the_harmless)
{
    learn_rng r;
    learn_rng_seed(&r, 77);
    int worst = 0, total = 0;
    for (int i = 0; i < 50; i++) {
        int n = watch_rate(&r, 0.10, i % 2);
        cr_assert_gt(n, 0, "seed %d: the harmful change is rolled back", i);
        cr_assert_leq(n, ROLLBACK_BOUND, "seed %d: after %d", i, n);
        worst = n > worst ? n : worst;
        total += n;
    }
    int false_alarms = 0, better_alarms = 0;
    for (int i = 0; i < 200; i++) {
        false_alarms += watch_rate(&r, 0.20, i % 2) > 0;
        better_alarms += watch_rate(&r, 0.22, i % 2) > 0;
    }
    cr_log_info("0.20 -> 0.10 rolled back after %d observations on average "
                "(worst %d); false rollbacks %d/200 harmless, %d/200 better",
                total / 50, worst, false_alarms, better_alarms);
    cr_assert_leq(false_alarms, 4, "alpha = 0.01 (+ baseline's 0.01)");
    cr_assert_leq(better_alarms, 2);
}

Test(learn_evolve, monitor_on_a_gaussian_metric)
{
    learn_rng r;
    learn_rng_seed(&r, 5);
    learn_evolve_sample base = learn_evolve_moments(1000, 100, 400);
    learn_evolve_monitor_cfg cfg = {5, 0.01, 3000};
    int alarms = 0;
    for (int i = 0; i < 100; i++) {
        for (int harmful = 0; harmful < 2; harmful++) {
            learn_evolve_monitor m;
            cr_assert_eq(learn_evolve_monitor_init(&m, &base, &cfg), 0);
            double mean = harmful ? 90 : 100;
            while (m.verdict == LEARN_EVOLVE_WATCH)
                learn_evolve_monitor_observe(
                    &m, mean + 20 * learn_rng_normal(&r), 1);
            if (harmful) {
                cr_assert_eq(m.verdict, LEARN_EVOLVE_ROLLBACK);
                cr_assert_leq(m.n, 500);
            } else {
                alarms += m.verdict == LEARN_EVOLVE_ROLLBACK;
                cr_assert(m.verdict != LEARN_EVOLVE_KEEP || m.n == 3000);
            }
        }
    }
    cr_assert_leq(alarms, 3);
}

Test(learn_evolve, monitor_state_is_final_and_round_trips)
{
    learn_evolve_sample base = learn_evolve_rate(200, 1000);
    learn_evolve_monitor_cfg cfg = learn_evolve_monitor_cfg_default();
    learn_evolve_monitor m, back;
    cr_assert_eq(learn_evolve_monitor_init(&m, &base, &cfg), 0);
    cr_assert_float_eq(m.h, log(5000 / 0.01), 1e-12);
    cr_assert_lt(m.ref, base.mean);
    cr_assert_float_eq(m.regressed, m.ref - 0.05, 1e-15);
    cr_assert_eq(learn_evolve_monitor_observe(&m, 30, 100), 0);
    json_t *j = learn_evolve_monitor_to_json(&m);
    char *text = fs_json_dump(j, 0);
    json_decref(j);
    j = json_loads(text, 0, NULL);
    cr_assert_eq(learn_evolve_monitor_from_json(j, &back), 0);
    json_decref(j);
    free(text);
    /* field by field: the padding after verdict is not part of the state */
    const double a[] = { m.a, m.b, m.h, m.horizon, m.ref, m.regressed, m.s, m.n, m.sum };
    const double b[] = { back.a, back.b, back.h, back.horizon, back.ref, back.regressed,
                         back.s, back.n, back.sum };
    cr_assert_eq(memcmp(a, b, sizeof a), 0, "bit for bit");
    cr_assert_eq(m.verdict, back.verdict);
    cr_assert_eq(learn_evolve_monitor_observe(&m, 0, 2000), 0);
    cr_assert_eq(m.verdict, LEARN_EVOLVE_ROLLBACK, "0 of 2000 regressed");
    double s = m.s;
    cr_assert_eq(learn_evolve_monitor_observe(&m, 5000, 5000), 0);
    cr_assert_eq(m.verdict, LEARN_EVOLVE_ROLLBACK, "final");
    cr_assert_eq(m.s, s);
    cr_assert_eq(learn_evolve_monitor_observe(&m, 1, -1), FS_EINVAL);
    learn_evolve_sample tiny = learn_evolve_rate(1, 1000);
    cr_assert_eq(learn_evolve_monitor_init(&m, &tiny, &cfg), FS_EINVAL,
                 "no room below 0.2%% for a 0.05 regression");
    cfg.alpha = 0;
    cr_assert_eq(learn_evolve_monitor_init(&m, &base, &cfg), FS_EINVAL);
    j = json_loads("{\"format\":1,\"a\":1}", 0, NULL);
    cr_assert_eq(learn_evolve_monitor_from_json(j, &back), FS_ECORRUPT);
    json_decref(j);
}

/*
 * The whole life of a planted harmful parameter change: a follow-up
 * variant wins its traffic split (0.20 vs 0.26 over 2,000 trials each) and
 * is applied by itself; after the apply it turns harmful (true rate 0.12,
 * e.g. a novelty effect gone sour) and monitoring rolls it back.
 */
Test(learn_evolve, planted_harmful_change_is_applied_then_rolled_back)
{
    learn_rng r;
    learn_rng_seed(&r, 2026);
    for (int seed = 0; seed < 20; seed++) {
        uint64_t sa = successes(&r, 0.20, 2000), sb = successes(&r, 0.26, 2000);
        learn_evolve_sample a = learn_evolve_rate(sa, 2000),
                            b = learn_evolve_rate(sb, 2000);
        learn_evolve_policy p = learn_evolve_policy_default();
        learn_evolve_decision d;
        cr_assert_eq(learn_evolve_decide(&a, &b, &p, &d), 0);
        cr_assert_eq(d.verdict, LEARN_EVOLVE_APPLY, "seed %d: %s", seed,
                     learn_evolve_verdict_name(d.verdict));
        learn_evolve_monitor m;
        learn_evolve_monitor_cfg cfg = learn_evolve_monitor_cfg_default();
        cr_assert_eq(learn_evolve_monitor_init(&m, &a, &cfg), 0);
        while (m.verdict == LEARN_EVOLVE_WATCH)
            learn_evolve_monitor_observe(&m, learn_rng_uniform(&r) < 0.10, 1);
        cr_assert_eq(m.verdict, LEARN_EVOLVE_ROLLBACK, "seed %d", seed);
        cr_assert_leq(m.n, ROLLBACK_BOUND);
    }
}
