/*
 * test_bandit.c - Thompson-sampling bandits (agents/learn/bandit.h).
 *
 * The claim, in a simulated environment: five arms with hidden
 * success rates 0.05/0.10/0.15/0.20/0.30 and seeded randomness (the
 * bandit's draws and the environment's outcomes from separate
 * generators), averaged over SEEDS runs of 4,000 outcomes each:
 *   - "after 2,000 outcomes the bandit picks the best arm >= 90% of the
 *     time": of the 500 choices made right after the first 2,000 outcomes
 *     (choices 2,001..2,500), at least 90% are the 0.30 arm;
 *   - "cumulative regret grows sub-linearly": the expected regret
 *     R(T) = sum over choices of (0.30 - rate of the chosen arm) has
 *     R(4000) < 1.6 R(2000), and R(T)/T falls at T = 500, 1000, 2000,
 *     4000.
 * Also: contexts learn different best arms, a bucket is used only after
 * min_context outcomes, discounting follows a change of the best arm,
 * fractional rewards, arm and decision management, limits, statistics,
 * and the JSON state (round trip gives identical choices; corrupt input
 * is refused, never crashes).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/learn/bandit.h"
#include "core/fs.h"
#include "core/json.h"

TestSuite(learn_bandit, .timeout = 120);

#define SEEDS 20
#define T_MAX 4000
#define NARMS 5

static const double RATES[NARMS] = {0.05, 0.10, 0.15, 0.20, 0.30};
static const char *const ARMS[NARMS] = {"a05", "a10", "a15", "a20", "a30"};

static learn_bandit *five_arms(const char *decision, const learn_bandit_opts *o)
{
    learn_bandit *b = learn_bandit_new();
    cr_assert_eq(learn_bandit_add_decision(b, decision, o), 0);
    for (int i = 0; i < NARMS; i++)
        cr_assert_eq(learn_bandit_add_arm(b, decision, ARMS[i]), 0);
    return b;
}

/* One choose + record against hidden rates; returns the arm chosen. */
static size_t step(learn_bandit *b, const char *context, const double *rate,
                   learn_rng *pick, learn_rng *env)
{
    learn_bandit_choice c;
    cr_assert_eq(learn_bandit_choose(b, "d", context, pick, &c), 0);
    double r = learn_rng_uniform(env) < rate[c.index] ? 1 : 0;
    cr_assert_eq(learn_bandit_record(b, "d", context, c.arm, r), 0);
    return c.index;
}

Test(learn_bandit, picks_best_arm_with_sublinear_regret)
{
    static const int at[4] = {500, 1000, 2000, 4000};
    double regret[4] = {0}, best_share = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        learn_bandit *b = five_arms("d", NULL);
        learn_rng pick, env;
        learn_rng_seed(&pick, seed);
        learn_rng_seed(&env, seed + 1000);
        double r = 0;
        int best = 0, k = 0;
        for (int t = 1; t <= T_MAX; t++) {
            size_t a = step(b, NULL, RATES, &pick, &env);
            r += RATES[NARMS - 1] - RATES[a];
            if (t > 2000 && t <= 2500) best += a == NARMS - 1;
            if (t == at[k]) regret[k++] += r / SEEDS;
        }
        best_share += best / 500.0 / SEEDS;
        learn_bandit_free(b);
    }
    cr_log_info("best arm share in choices 2001..2500: %.3f; regret "
                "%.1f %.1f %.1f %.1f",
                best_share, regret[0], regret[1], regret[2], regret[3]);
    cr_assert_geq(best_share, 0.90);
    cr_assert_lt(regret[3], 1.6 * regret[2]);
    for (int i = 1; i < 4; i++)
        cr_assert_lt(regret[i] / at[i], regret[i - 1] / at[i - 1]);
}

Test(learn_bandit, contexts_learn_their_own_best_arm)
{
    static const double smb[NARMS] = {0.30, 0.10, 0.10, 0.10, 0.05};
    static const double ent[NARMS] = {0.05, 0.10, 0.10, 0.10, 0.30};
    learn_bandit *b = five_arms("d", NULL);
    learn_rng pick, env;
    learn_rng_seed(&pick, 7);
    learn_rng_seed(&env, 8);
    int hits[2] = {0};
    for (int t = 0; t < 6000; t++) {
        bool s = t % 2 == 0;
        size_t a = step(b, s ? "smb" : "ent", s ? smb : ent, &pick, &env);
        if (t >= 5000) hits[s] += a == (s ? 0u : NARMS - 1u);
    }
    cr_assert_geq(hits[1], 450, "smb picks a05 (its best): %d/500", hits[1]);
    cr_assert_geq(hits[0], 450, "ent picks a30 (its best): %d/500", hits[0]);
    learn_bandit_arm_stats st[LEARN_BANDIT_MAX_ARMS];
    size_t n;
    cr_assert_eq(learn_bandit_stats(b, "d", "smb", st, &n), 0);
    cr_assert_eq(n, NARMS);
    cr_assert_gt(st[0].lo, st[4].hi, "smb: a05 clearly above a30");
    cr_assert_eq(learn_bandit_stats(b, "d", "ent", st, &n), 0);
    cr_assert_gt(st[4].lo, st[0].mean);
    uint64_t pooled = 0, per_ctx = 0;
    cr_assert_eq(learn_bandit_stats(b, "d", NULL, st, &n), 0);
    for (size_t i = 0; i < n; i++)
        pooled += st[i].pulls;
    cr_assert_eq(pooled, 6000, "every outcome is also decision-wide");
    const char *ctxs[2] = {"smb", "ent"};
    for (int c = 0; c < 2; c++) {
        cr_assert_eq(learn_bandit_stats(b, "d", ctxs[c], st, &n), 0);
        for (size_t i = 0; i < n; i++)
            per_ctx += st[i].pulls;
    }
    cr_assert_eq(per_ctx, 6000);
    cr_assert_eq(learn_bandit_stats(b, "d", "mid", st, &n), FS_ENOTFOUND);
    learn_bandit_free(b);
}

Test(learn_bandit, a_bucket_is_used_after_min_context_outcomes)
{
    learn_bandit_opts o = learn_bandit_opts_default();
    o.min_context = 5;
    learn_bandit *b = five_arms("d", &o);
    learn_rng r;
    learn_rng_seed(&r, 1);
    learn_bandit_choice c;
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(learn_bandit_choose(b, "d", "smb", &r, &c), 0);
        cr_assert_not(c.from_context, "after %d outcomes", i);
        cr_assert_eq(learn_bandit_record(b, "d", "smb", "a30", 1), 0);
    }
    cr_assert_eq(learn_bandit_choose(b, "d", "smb", &r, &c), 0);
    cr_assert(c.from_context);
    cr_assert_eq(learn_bandit_choose(b, "d", "", &r, &c), 0);
    cr_assert_not(c.from_context);
    cr_assert_eq(learn_bandit_choose(b, "d", NULL, &r, &c), 0);
    cr_assert_not(c.from_context);
    cr_assert_eq(c.narms, NARMS);
    for (size_t i = 0; i < c.narms; i++)
        cr_assert(c.sampled[i] >= 0 && c.sampled[i] <= 1);
    cr_assert_str_eq(c.arm, ARMS[c.index]);
    for (size_t i = 0; i < c.narms; i++)
        cr_assert_leq(c.sampled[i], c.sampled[c.index]);
    learn_bandit_free(b);
}

/* Share of choices 2,501..3,000 that pick arm 0, whose rate rises from
 * 0.1 to 0.3 at outcome 2,000 while arm 1 falls from 0.3 to 0.1. */
static double share_after_switch(double discount)
{
    learn_bandit_opts o = {discount, 20};
    double share = 0;
    for (uint64_t seed = 1; seed <= 10; seed++) {
        learn_bandit *b = learn_bandit_new();
        learn_bandit_add_decision(b, "d", &o);
        learn_bandit_add_arm(b, "d", "x");
        learn_bandit_add_arm(b, "d", "y");
        learn_rng pick, env;
        learn_rng_seed(&pick, seed);
        learn_rng_seed(&env, seed + 99);
        double before[2] = {0.1, 0.3}, after[2] = {0.3, 0.1};
        for (int t = 1; t <= 3000; t++) {
            size_t a = step(b, NULL, t <= 2000 ? before : after, &pick, &env);
            if (t > 2500) share += (a == 0) / 500.0 / 10;
        }
        learn_bandit_free(b);
    }
    return share;
}

Test(learn_bandit, discount_follows_a_change_of_the_best_arm)
{
    double fixed = share_after_switch(1), forgetting = share_after_switch(0.99);
    cr_log_info("after the switch: %.3f stationary, %.3f discounted", fixed,
                forgetting);
    cr_assert_geq(forgetting, 0.8);
    cr_assert_gt(forgetting, fixed + 0.4);
}

Test(learn_bandit, fractional_rewards_and_discount_arithmetic)
{
    learn_bandit_opts o = {0.5, 0};
    learn_bandit *b = learn_bandit_new();
    learn_bandit_add_decision(b, "d", &o);
    learn_bandit_add_arm(b, "d", "x");
    learn_bandit_add_arm(b, "d", "y");
    cr_assert_eq(learn_bandit_record(b, "d", NULL, "x", 0.25), 0);
    cr_assert_eq(learn_bandit_record(b, "d", NULL, "y", 1), 0);
    learn_bandit_arm_stats st[LEARN_BANDIT_MAX_ARMS];
    size_t n;
    cr_assert_eq(learn_bandit_stats(b, "d", NULL, st, &n), 0);
    /* x: 1.25/1.75, then halved evidence: 1.125/1.375 */
    cr_assert_float_eq(st[0].alpha, 1.125, 1e-12);
    cr_assert_float_eq(st[0].beta, 1.375, 1e-12);
    cr_assert_float_eq(st[1].alpha, 2, 1e-12);
    cr_assert_float_eq(st[1].beta, 1, 1e-12);
    cr_assert_eq(st[0].pulls, 1);
    cr_assert_float_eq(st[0].reward, 0.25, 1e-12);
    cr_assert_eq(learn_bandit_record(b, "d", NULL, "x", 1.5), FS_EINVAL);
    cr_assert_eq(learn_bandit_record(b, "d", NULL, "x", -0.1), FS_EINVAL);
    cr_assert_eq(learn_bandit_record(b, "d", NULL, "x", NAN), FS_EINVAL);
    cr_assert_eq(learn_bandit_stats(b, "d", NULL, st, &n), 0);
    cr_assert_eq(st[0].pulls, 1, "nothing changed on error");
    learn_bandit_free(b);
}

Test(learn_bandit, stats_give_a_credible_interval)
{
    learn_bandit *b = five_arms("d", NULL);
    learn_bandit_arm_stats st[LEARN_BANDIT_MAX_ARMS];
    size_t n;
    cr_assert_eq(learn_bandit_stats(b, "d", NULL, st, &n), 0);
    cr_assert_float_eq(st[0].mean, 0.5, 1e-12);
    cr_assert_float_eq(st[0].lo, 0.025, 1e-9, "Beta(1,1) is uniform");
    cr_assert_float_eq(st[0].hi, 0.975, 1e-9);
    for (int i = 0; i < 200; i++)
        learn_bandit_record(b, "d", NULL, "a30", i % 5 == 0 ? 1 : 0);
    cr_assert_eq(learn_bandit_stats(b, "d", NULL, st, &n), 0);
    cr_assert_str_eq(st[4].name, "a30");
    cr_assert_float_eq(st[4].mean, 41.0 / 202, 1e-12);
    cr_assert(st[4].lo < st[4].mean && st[4].mean < st[4].hi);
    cr_assert_lt(st[4].hi - st[4].lo, 0.12);
    cr_assert_gt(st[4].lo, 0.14);
    cr_assert_lt(st[4].hi, 0.27);
    learn_bandit_free(b);
}

Test(learn_bandit, arms_and_decisions_come_and_go)
{
    learn_bandit *b = five_arms("d", NULL);
    learn_rng r;
    learn_rng_seed(&r, 3);
    for (int i = 0; i < 30; i++) {
        learn_bandit_record(b, "d", "smb", "a20", 1);
        learn_bandit_record(b, "d", "smb", "a05", 0);
    }
    cr_assert_eq(learn_bandit_remove_arm(b, "d", "a10"), 0);
    cr_assert_eq(learn_bandit_remove_arm(b, "d", "a10"), FS_ENOTFOUND);
    cr_assert_eq(learn_bandit_add_arm(b, "d", "new"), 0);
    learn_bandit_arm_stats st[LEARN_BANDIT_MAX_ARMS];
    size_t n;
    cr_assert_eq(learn_bandit_stats(b, "d", "smb", st, &n), 0);
    cr_assert_eq(n, 5);
    const char *order[5] = {"a05", "a15", "a20", "a30", "new"};
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(st[i].name, order[i]);
    cr_assert_eq(st[2].pulls, 30, "a20 keeps its posterior in the bucket");
    cr_assert_float_eq(st[2].alpha, 31, 1e-12);
    cr_assert_eq(st[4].pulls, 0);
    cr_assert_float_eq(st[4].alpha, 1, 0);
    /* the bucket still counts 60 outcomes after a10 (0 pulls) left */
    learn_bandit_choice c;
    cr_assert_eq(learn_bandit_choose(b, "d", "smb", &r, &c), 0);
    cr_assert(c.from_context);
    cr_assert_eq(learn_bandit_add_decision(b, "e", NULL), 0);
    cr_assert_eq(learn_bandit_choose(b, "e", NULL, &r, &c), FS_ESTATE);
    cr_assert_eq(learn_bandit_remove_decision(b, "d"), 0);
    cr_assert_eq(learn_bandit_choose(b, "d", NULL, &r, &c), FS_ENOTFOUND);
    cr_assert_eq(learn_bandit_remove_decision(b, "d"), FS_ENOTFOUND);
    cr_assert_eq(learn_bandit_record(b, "e", NULL, "x", 1), FS_ENOTFOUND);
    learn_bandit_free(b);
}

Test(learn_bandit, names_and_limits)
{
    learn_bandit *b = learn_bandit_new();
    char name[LEARN_BANDIT_MAX_NAME + 2];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    cr_assert_eq(learn_bandit_add_decision(b, name, NULL), FS_ETOOBIG);
    name[LEARN_BANDIT_MAX_NAME] = '\0';
    cr_assert_eq(learn_bandit_add_decision(b, name, NULL), 0);
    cr_assert_eq(learn_bandit_add_decision(b, name, NULL), FS_ECONFLICT);
    cr_assert_eq(learn_bandit_add_decision(b, "", NULL), FS_EINVAL);
    cr_assert_eq(learn_bandit_add_decision(b, NULL, NULL), FS_EINVAL);
    cr_assert_eq(learn_bandit_add_decision(b, "bad\xff", NULL), FS_EINVAL);
    cr_assert_eq(learn_bandit_add_decision(b, "r\xc3\xa9gion", NULL), 0);
    learn_bandit_opts o = {0, 1};
    cr_assert_eq(learn_bandit_add_decision(b, "x", &o), FS_EINVAL);
    o.discount = 1.01;
    cr_assert_eq(learn_bandit_add_decision(b, "x", &o), FS_EINVAL);
    for (int i = 2; i < LEARN_BANDIT_MAX_DECISIONS; i++) {
        char d[16];
        snprintf(d, sizeof d, "d%d", i);
        cr_assert_eq(learn_bandit_add_decision(b, d, NULL), 0);
    }
    cr_assert_eq(learn_bandit_add_decision(b, "one_more", NULL), FS_ELIMIT);
    for (int i = 0; i < LEARN_BANDIT_MAX_ARMS; i++) {
        char a[16];
        snprintf(a, sizeof a, "arm%d", i);
        cr_assert_eq(learn_bandit_add_arm(b, "d2", a), 0);
    }
    cr_assert_eq(learn_bandit_add_arm(b, "d2", "arm64"), FS_ELIMIT);
    cr_assert_eq(learn_bandit_add_arm(b, "d2", "arm0"), FS_ECONFLICT);
    cr_assert_eq(learn_bandit_add_arm(b, "nope", "arm0"), FS_ENOTFOUND);
    for (int i = 0; i < LEARN_BANDIT_MAX_CONTEXTS; i++) {
        char k[16];
        snprintf(k, sizeof k, "ctx%03d", LEARN_BANDIT_MAX_CONTEXTS - i);
        cr_assert_eq(learn_bandit_record(b, "d2", k, "arm3", 1), 0);
    }
    cr_assert_eq(learn_bandit_record(b, "d2", "ctx999", "arm3", 1), FS_ELIMIT);
    cr_assert_eq(learn_bandit_record(b, "d2", "ctx001", "arm3", 1), 0);
    cr_assert_eq(learn_bandit_record(b, "d2", "\xff", "arm3", 1), FS_EINVAL);
    cr_assert_eq(learn_bandit_record(b, "d2", name, "arm3", 1), FS_ELIMIT);
    name[LEARN_BANDIT_MAX_NAME] = 'n';
    cr_assert_eq(learn_bandit_record(b, "d2", name, "arm3", 1), FS_ETOOBIG);
    learn_rng r;
    learn_rng_seed(&r, 1);
    learn_bandit_choice c;
    cr_assert_eq(learn_bandit_choose(b, "d2", name, &r, &c), FS_ETOOBIG);
    learn_bandit_arm_stats st[LEARN_BANDIT_MAX_ARMS];
    size_t n;
    cr_assert_eq(learn_bandit_stats(b, "d2", NULL, st, &n), 0);
    cr_assert_eq(n, LEARN_BANDIT_MAX_ARMS);
    cr_assert_eq(st[3].pulls, LEARN_BANDIT_MAX_CONTEXTS + 1,
                 "the refused records changed nothing");
    learn_bandit_free(b);
}

/* to_json, printed and parsed again, then from_json. */
static learn_bandit *through_text(const learn_bandit *b, char **text)
{
    json_t *j = learn_bandit_to_json(b);
    cr_assert_not_null(j);
    *text = fs_json_dump(j, JSON_SORT_KEYS);
    json_decref(j);
    json_t *back = json_loads(*text, 0, NULL);
    cr_assert_not_null(back);
    learn_bandit *c;
    cr_assert_eq(learn_bandit_from_json(back, &c), 0);
    json_decref(back);
    return c;
}

static learn_bandit *trained(void)
{
    learn_bandit_opts o = {0.995, 10};
    learn_bandit *b = five_arms("d", &o);
    learn_bandit_add_decision(b, "delay", NULL);
    learn_bandit_add_arm(b, "delay", "1d");
    learn_bandit_add_arm(b, "delay", "3d");
    learn_rng pick, env;
    learn_rng_seed(&pick, 11);
    learn_rng_seed(&env, 12);
    const char *ctx[3] = {NULL, "smb", "ent"};
    for (int t = 0; t < 900; t++)
        step(b, ctx[t % 3], RATES, &pick, &env);
    learn_bandit_record(b, "delay", "ent", "3d", 0.7);
    return b;
}

Test(learn_bandit, json_round_trip_gives_identical_choices)
{
    learn_bandit *a = trained();
    char *text1, *text2;
    learn_bandit *b = through_text(a, &text1);
    learn_bandit *c = through_text(b, &text2);
    cr_assert_str_eq(text1, text2);
    cr_assert(strstr(text1, "\"format\":1"));
    learn_rng ra, rb, env;
    learn_rng_seed(&ra, 5);
    learn_rng_seed(&rb, 5);
    learn_rng_seed(&env, 6);
    const char *ctx[3] = {"smb", NULL, "ent"};
    for (int t = 0; t < 1000; t++) {
        learn_bandit_choice ca, cb;
        cr_assert_eq(learn_bandit_choose(a, "d", ctx[t % 3], &ra, &ca), 0);
        cr_assert_eq(learn_bandit_choose(b, "d", ctx[t % 3], &rb, &cb), 0);
        cr_assert_eq(ca.index, cb.index, "choice %d", t);
        cr_assert_eq(ca.from_context, cb.from_context);
        cr_assert_eq(
            memcmp(ca.sampled, cb.sampled, ca.narms * sizeof *ca.sampled), 0);
        double r = learn_rng_uniform(&env) < RATES[ca.index] ? 1 : 0;
        learn_bandit_record(a, "d", ctx[t % 3], ca.arm, r);
        learn_bandit_record(b, "d", ctx[t % 3], cb.arm, r);
    }
    free(text1);
    free(text2);
    char *ta, *tb;
    learn_bandit *a2 = through_text(a, &ta), *b2 = through_text(b, &tb);
    cr_assert_str_eq(ta, tb);
    free(ta);
    free(tb);
    learn_bandit_free(a);
    learn_bandit_free(b);
    learn_bandit_free(c);
    learn_bandit_free(a2);
    learn_bandit_free(b2);
}

Test(learn_bandit, corrupt_state_is_refused)
{
    static const char *const bad[] = {
        "[]",
        "{\"format\":2,\"decisions\":[]}",
        "{\"format\":1}",
        "{\"format\":1,\"decisions\":{}}",
        "{\"format\":1,\"decisions\":[{\"name\":\"d\"}]}",
        "{\"format\":1,\"decisions\":[{\"name\":\"\",\"discount\":1,"
        "\"min_context\":0,\"arms\":[],\"contexts\":[]}]}",
        "{\"format\":1,\"decisions\":[{\"name\":\"d\",\"discount\":0,"
        "\"min_context\":0,\"arms\":[],\"contexts\":[]}]}",
        "{\"format\":1,\"decisions\":[{\"name\":\"d\",\"discount\":1,"
        "\"min_context\":-1,\"arms\":[],\"contexts\":[]}]}",
        "{\"format\":1,\"decisions\":[{\"name\":\"d\",\"discount\":1,"
        "\"min_context\":0,\"arms\":[{\"name\":\"x\",\"alpha\":0.5,"
        "\"beta\":1,\"pulls\":0,\"reward\":0}],\"contexts\":[]}]}",
        "{\"format\":1,\"decisions\":[{\"name\":\"d\",\"discount\":1,"
        "\"min_context\":0,\"arms\":[{\"name\":\"x\",\"alpha\":9,"
        "\"beta\":1,\"pulls\":2,\"reward\":2}],\"contexts\":[]}]}",
        "{\"format\":1,\"decisions\":[{\"name\":\"d\",\"discount\":1,"
        "\"min_context\":0,\"arms\":[{\"name\":\"x\",\"alpha\":1,"
        "\"beta\":1,\"pulls\":0,\"reward\":0},{\"name\":\"x\",\"alpha\":1,"
        "\"beta\":1,\"pulls\":0,\"reward\":0}],\"contexts\":[]}]}",
        "{\"format\":1,\"decisions\":[{\"name\":\"d\",\"discount\":1,"
        "\"min_context\":0,\"arms\":[{\"name\":\"x\",\"alpha\":1,"
        "\"beta\":1,\"pulls\":0,\"reward\":0}],\"contexts\":[{\"key\":"
        "\"k\",\"arms\":[]}]}]}",
        "{\"format\":1,\"decisions\":[{\"name\":\"d\",\"discount\":1,"
        "\"min_context\":0,\"arms\":[{\"name\":\"x\",\"alpha\":1,"
        "\"beta\":1,\"pulls\":0,\"reward\":0}],\"contexts\":[{\"key\":"
        "\"k\",\"arms\":[[1,1,0,0]]},{\"key\":\"k\",\"arms\":[[1,1,0,0]]}"
        "]}]}",
        "{\"format\":1,\"decisions\":[{\"name\":\"d\",\"discount\":1,"
        "\"min_context\":0,\"arms\":[{\"name\":\"x\",\"alpha\":1,"
        "\"beta\":1,\"pulls\":0,\"reward\":0}],\"contexts\":[{\"key\":"
        "\"k\",\"arms\":[[1,1,0,0,5]]}]}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *j = json_loads(bad[i], 0, NULL);
        cr_assert_not_null(j, "case %zu parses as JSON", i);
        learn_bandit *b = NULL;
        cr_assert_eq(learn_bandit_from_json(j, &b), FS_ECORRUPT, "case %zu", i);
        cr_assert_null(b);
        json_decref(j);
    }
}

/* Random byte edits of a valid state: each is refused or loads into a
 * bandit that works (under ASan/UBSan: no crash, no leak). */
Test(learn_bandit, mutated_state_never_crashes)
{
    learn_bandit *a = trained();
    json_t *j = learn_bandit_to_json(a);
    char *text = fs_json_dump(j, 0);
    json_decref(j);
    learn_bandit_free(a);
    size_t len = strlen(text);
    learn_rng r;
    learn_rng_seed(&r, 42);
    static const char alphabet[] = "0123456789-.e\"[]{},:x ";
    int loaded = 0;
    for (int i = 0; i < 3000; i++) {
        char *m = strdup(text);
        for (int k = 0; k < 1 + i % 3; k++)
            m[learn_rng_next(&r) % len] =
                alphabet[learn_rng_next(&r) % (sizeof alphabet - 1)];
        json_t *mj = json_loads(m, 0, NULL);
        learn_bandit *b = NULL;
        if (mj && learn_bandit_from_json(mj, &b) == 0) {
            loaded++;
            learn_bandit_choice c;
            learn_bandit_choose(b, "d", "smb", &r, &c);
            json_t *back = learn_bandit_to_json(b);
            cr_assert_not_null(back);
            json_decref(back);
            learn_bandit_free(b);
        }
        json_decref(mj);
        free(m);
    }
    cr_log_info("%d of 3000 mutants loaded", loaded);
    free(text);
}
