/*
 * bandit.h - Thompson-sampling bandits over named strategy choices.
 *
 * A learn_bandit holds up to LEARN_BANDIT_MAX_DECISIONS decisions (e.g.
 * "follow_up_message"), each with up to LEARN_BANDIT_MAX_ARMS named arms
 * (e.g. "short", "long", "case_study").  Every arm has a Beta posterior
 * over its success rate:
 *
 *   prior      Beta(1, 1) (uniform)
 *   record     reward r in [0, 1]: alpha += r, beta += 1 - r (a success
 *              is r = 1, a failure r = 0; a fraction is a partial update)
 *   choose     draw p_i ~ Beta(alpha_i, beta_i) for every arm with the
 *              caller's learn_rng; the largest draw wins (ties: first arm)
 *
 * Contexts.  A record or choose may name a context (a string key such as
 * "smb" or "segment=ent|channel=email"); each (decision, context) keeps
 * its own posteriors, in a bucket created by its first record.  Every
 * record also updates the decision-wide posteriors (pooled over all
 * contexts).  choose() uses a bucket once it holds at least min_context
 * outcomes; before that, or with no context, it uses the decision-wide
 * posteriors (learn_bandit_choice.from_context says which).
 *
 * Discount.  With discount g < 1 (non-stationary rewards), each record
 * first shrinks the evidence of every arm of the posterior set it updates
 * (the decision-wide one, and the bucket's) towards the prior:
 * alpha = 1 + g (alpha - 1), beta = 1 + g (beta - 1) - so old outcomes
 * weigh g^age and an arm left alone grows uncertain again (discounted
 * Thompson sampling, Raj & Kalyani 2017).  The effective memory is about
 * 1 / (1 - g) outcomes.  pulls and reward are never discounted.
 *
 * Cost: choose and record are O(arms) plus a binary search among the
 * decision's contexts; nothing allocates except a record creating a
 * bucket.  Names (decisions, arms, contexts) are 1..LEARN_BANDIT_MAX_NAME
 * bytes of UTF-8.
 *
 * State as JSON (learn_bandit_to_json), so the learning agent can keep it
 * in its versioned state:
 *
 *   {"format":1, "decisions":[{"name":"follow_up_message",
 *     "discount":1, "min_context":20,
 *     "arms":[{"name":"short", "alpha":13, "beta":89, "pulls":100,
 *              "reward":12}, ...],
 *     "contexts":[{"key":"smb", "arms":[[alpha, beta, pulls, reward],
 *                  ...one per arm, in arm order]}, ...]}, ...]}
 *
 * Reals are written as they are; printed with fs_json_dump (shortest
 * exact form) and read back, the state is bit-identical, so the same RNG
 * gives the same choices.
 *
 * Not thread-safe: one owner (the agent's job) at a time.
 */
#ifndef LEARN_BANDIT_H
#define LEARN_BANDIT_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agents/learn/rng.h"

#define LEARN_BANDIT_MAX_DECISIONS 64
#define LEARN_BANDIT_MAX_ARMS 64
#define LEARN_BANDIT_MAX_CONTEXTS 256 /* buckets per decision */
#define LEARN_BANDIT_MAX_NAME 64      /* bytes, without the NUL */
#define LEARN_BANDIT_FORMAT 1

typedef struct learn_bandit learn_bandit;

typedef struct learn_bandit_opts {
    double discount;      /* in (0, 1]; 1 = stationary (1) */
    uint32_t min_context; /* outcomes before a bucket is used (20) */
} learn_bandit_opts;

learn_bandit_opts learn_bandit_opts_default(void);

/* An empty set of decisions; free with learn_bandit_free(). */
learn_bandit *learn_bandit_new(void);
void learn_bandit_free(learn_bandit *b);

/*
 * Adds a decision with no arms; opts NULL = defaults.  Errors: FS_EINVAL
 * (bad name or opts), FS_ETOOBIG (name too long), FS_ECONFLICT (exists),
 * FS_ELIMIT (LEARN_BANDIT_MAX_DECISIONS reached).
 */
int learn_bandit_add_decision(learn_bandit *b, const char *decision,
                              const learn_bandit_opts *opts);
/* Drops a decision and all it learned.  Errors: FS_ENOTFOUND. */
int learn_bandit_remove_decision(learn_bandit *b, const char *decision);

/*
 * Appends an arm with the prior (in every bucket too).  Errors: as
 * add_decision, plus FS_ENOTFOUND (no such decision).
 */
int learn_bandit_add_arm(learn_bandit *b, const char *decision,
                         const char *arm);
/* Drops an arm (in every bucket too); the others keep their order and
 * posteriors.  Errors: FS_ENOTFOUND. */
int learn_bandit_remove_arm(learn_bandit *b, const char *decision,
                            const char *arm);

typedef struct learn_bandit_choice {
    char arm[LEARN_BANDIT_MAX_NAME + 1]; /* the chosen arm's name */
    size_t index;                        /* its position among the arms */
    size_t narms;
    double sampled[LEARN_BANDIT_MAX_ARMS]; /* [0..narms-1]: each arm's draw */
    bool from_context; /* the bucket's posteriors (else decision-wide) */
} learn_bandit_choice;

/*
 * Thompson sampling: one Beta draw per arm from rng, the largest wins.
 * context NULL or "" = none.  Does not change b.  Errors: FS_ENOTFOUND
 * (no such decision), FS_ESTATE (it has no arms), FS_ETOOBIG (context
 * too long).  OUT: *out.
 */
int learn_bandit_choose(const learn_bandit *b, const char *decision,
                        const char *context, learn_rng *rng,
                        learn_bandit_choice *out);

/*
 * Records an outcome: reward in [0, 1] for `arm`, decision-wide and, when
 * context is given, in its bucket (created on first use).  Nothing
 * changes on error.  Errors: FS_ENOTFOUND (decision or arm), FS_EINVAL
 * (reward, or a bad context name), FS_ETOOBIG (context too long),
 * FS_ELIMIT (a new context past LEARN_BANDIT_MAX_CONTEXTS: record it
 * without a context instead).
 */
int learn_bandit_record(learn_bandit *b, const char *decision,
                        const char *context, const char *arm, double reward);

typedef struct learn_bandit_arm_stats {
    char name[LEARN_BANDIT_MAX_NAME + 1];
    uint64_t pulls;     /* outcomes recorded */
    double reward;      /* their sum */
    double alpha, beta; /* the posterior */
    double mean;        /* alpha / (alpha + beta) */
    double lo, hi;      /* equal-tailed 95% credible interval */
} learn_bandit_arm_stats;

/*
 * Per-arm statistics of the decision-wide posteriors (context NULL or "")
 * or of a context's bucket, in arm order.  Errors: FS_ENOTFOUND (no such
 * decision or bucket).  OUT: out[0..*narms-1].
 */
int learn_bandit_stats(const learn_bandit *b, const char *decision,
                       const char *context,
                       learn_bandit_arm_stats out[LEARN_BANDIT_MAX_ARMS],
                       size_t *narms);

/* The whole state in the format above; the caller owns the result. */
json_t *learn_bandit_to_json(const learn_bandit *b);

/*
 * Rebuilds a bandit from learn_bandit_to_json()'s output.  Errors:
 * FS_ECORRUPT (not format 1, wrong shape, a limit or name rule broken, a
 * posterior that its counts cannot produce).  OUT: *out (caller frees).
 */
int learn_bandit_from_json(const json_t *state, learn_bandit **out);

#endif
