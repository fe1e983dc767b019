/* bandit.c - Thompson-sampling bandits with context buckets (bandit.h). */
#include "agents/learn/bandit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agents/learn/prob.h"
#include "core/fs.h"
#include "core/xmem.h"

/* One arm's Beta posterior and its raw counts. */
typedef struct post {
    double alpha, beta, reward;
    uint64_t pulls;
} post;

typedef struct bucket {
    char key[LEARN_BANDIT_MAX_NAME + 1];
    uint64_t n; /* outcomes recorded here: the sum of the arms' pulls */
    post p[LEARN_BANDIT_MAX_ARMS];
} bucket;

typedef struct decision {
    char name[LEARN_BANDIT_MAX_NAME + 1];
    learn_bandit_opts opts;
    size_t narms;
    char arm[LEARN_BANDIT_MAX_ARMS][LEARN_BANDIT_MAX_NAME + 1];
    post p[LEARN_BANDIT_MAX_ARMS]; /* decision-wide, pooled over contexts */
    bucket **ctx;                  /* sorted by key */
    size_t nctx;
} decision;

struct learn_bandit {
    decision *d[LEARN_BANDIT_MAX_DECISIONS];
    size_t n;
};

static const post PRIOR = {1, 1, 0, 0};

learn_bandit_opts learn_bandit_opts_default(void)
{
    return (learn_bandit_opts){.discount = 1, .min_context = 20};
}

learn_bandit *learn_bandit_new(void)
{
    return xcalloc(1, sizeof(learn_bandit));
}

static void decision_free(decision *d)
{
    for (size_t i = 0; i < d->nctx; i++)
        free(d->ctx[i]);
    free(d->ctx);
    free(d);
}

void learn_bandit_free(learn_bandit *b)
{
    if (!b) return;
    for (size_t i = 0; i < b->n; i++)
        decision_free(b->d[i]);
    free(b);
}

/* 0, FS_EINVAL (NULL, empty, not UTF-8) or FS_ETOOBIG.  UTF-8 is judged
 * by jansson, so every accepted name can be written by to_json. */
static int check_name(const char *s)
{
    if (!s || !*s) return FS_EINVAL;
    size_t len = strnlen(s, LEARN_BANDIT_MAX_NAME + 1);
    if (len > LEARN_BANDIT_MAX_NAME) return FS_ETOOBIG;
    json_t *j = json_stringn(s, len);
    if (!j) return FS_EINVAL;
    json_decref(j);
    return 0;
}

/* The decision named `name`, or NULL; OUT: *at its slot, if at != NULL. */
static decision *find_decision(const learn_bandit *b, const char *name,
                               size_t *at)
{
    for (size_t i = 0; name && i < b->n; i++) {
        if (strcmp(b->d[i]->name, name) != 0) continue;
        if (at) *at = i;
        return b->d[i];
    }
    return NULL;
}

static int find_arm(const decision *d, const char *arm)
{
    for (size_t i = 0; arm && i < d->narms; i++)
        if (strcmp(d->arm[i], arm) == 0) return (int)i;
    return -1;
}

/* Binary search of the sorted buckets: where key is, or would go. */
static size_t bucket_pos(const decision *d, const char *key, bool *found)
{
    size_t lo = 0, hi = d->nctx;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(d->ctx[mid]->key, key);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* The bucket of context (NULL for none, "" or not yet seen). */
static bucket *find_bucket(const decision *d, const char *context)
{
    bool found;
    if (!context || !*context) return NULL;
    size_t at = bucket_pos(d, context, &found);
    return found ? d->ctx[at] : NULL;
}

/* The bucket of key, created with the prior if new.  Errors: as
 * check_name, FS_ELIMIT.  OUT: *out. */
static int get_bucket(decision *d, const char *key, bucket **out)
{
    bool found;
    size_t at = bucket_pos(d, key, &found);
    if (found) {
        *out = d->ctx[at];
        return 0;
    }
    int err = check_name(key);
    if (err) return err;
    if (d->nctx == LEARN_BANDIT_MAX_CONTEXTS) return FS_ELIMIT;
    bucket *k = xmalloc(sizeof *k);
    strcpy(k->key, key);
    k->n = 0;
    for (size_t i = 0; i < d->narms; i++)
        k->p[i] = PRIOR;
    d->ctx = xrealloc(d->ctx, (d->nctx + 1) * sizeof *d->ctx);
    memmove(d->ctx + at + 1, d->ctx + at, (d->nctx - at) * sizeof *d->ctx);
    d->ctx[at] = k;
    d->nctx++;
    *out = k;
    return 0;
}

int learn_bandit_add_decision(learn_bandit *b, const char *name,
                              const learn_bandit_opts *opts)
{
    learn_bandit_opts o = opts ? *opts : learn_bandit_opts_default();
    int err = check_name(name);
    if (err) return err;
    if (!(o.discount > 0 && o.discount <= 1)) return FS_EINVAL;
    if (find_decision(b, name, NULL)) return FS_ECONFLICT;
    if (b->n == LEARN_BANDIT_MAX_DECISIONS) return FS_ELIMIT;
    decision *d = xcalloc(1, sizeof *d);
    strcpy(d->name, name);
    d->opts = o;
    b->d[b->n++] = d;
    return 0;
}

int learn_bandit_remove_decision(learn_bandit *b, const char *name)
{
    size_t at;
    decision *d = find_decision(b, name, &at);
    if (!d) return FS_ENOTFOUND;
    decision_free(d);
    memmove(b->d + at, b->d + at + 1, (b->n - at - 1) * sizeof *b->d);
    b->n--;
    return 0;
}

int learn_bandit_add_arm(learn_bandit *b, const char *name, const char *arm)
{
    int err = check_name(arm);
    if (err) return err;
    decision *d = find_decision(b, name, NULL);
    if (!d) return FS_ENOTFOUND;
    if (find_arm(d, arm) >= 0) return FS_ECONFLICT;
    if (d->narms == LEARN_BANDIT_MAX_ARMS) return FS_ELIMIT;
    strcpy(d->arm[d->narms], arm);
    d->p[d->narms] = PRIOR;
    for (size_t i = 0; i < d->nctx; i++)
        d->ctx[i]->p[d->narms] = PRIOR;
    d->narms++;
    return 0;
}

/* Drops entry a of an array of n posteriors, keeping the order. */
static void drop_post(post *p, size_t n, size_t a)
{
    memmove(p + a, p + a + 1, (n - a - 1) * sizeof *p);
}

int learn_bandit_remove_arm(learn_bandit *b, const char *name, const char *arm)
{
    decision *d = find_decision(b, name, NULL);
    if (!d) return FS_ENOTFOUND;
    int a = find_arm(d, arm);
    if (a < 0) return FS_ENOTFOUND;
    memmove(d->arm[a], d->arm[a + 1],
            (d->narms - (size_t)a - 1) * sizeof d->arm[0]);
    drop_post(d->p, d->narms, (size_t)a);
    for (size_t i = 0; i < d->nctx; i++) {
        d->ctx[i]->n -= d->ctx[i]->p[a].pulls;
        drop_post(d->ctx[i]->p, d->narms, (size_t)a);
    }
    d->narms--;
    return 0;
}

int learn_bandit_choose(const learn_bandit *b, const char *name,
                        const char *context, learn_rng *rng,
                        learn_bandit_choice *out)
{
    const decision *d = find_decision(b, name, NULL);
    if (!d) return FS_ENOTFOUND;
    if (d->narms == 0) return FS_ESTATE;
    if (context &&
        strnlen(context, LEARN_BANDIT_MAX_NAME + 1) > LEARN_BANDIT_MAX_NAME)
        return FS_ETOOBIG;
    const bucket *k = find_bucket(d, context);
    out->from_context = k && k->n >= d->opts.min_context;
    const post *p = out->from_context ? k->p : d->p;
    size_t best = 0;
    for (size_t i = 0; i < d->narms; i++) {
        out->sampled[i] = learn_rng_beta(rng, p[i].alpha, p[i].beta);
        if (out->sampled[i] > out->sampled[best]) best = i;
    }
    strcpy(out->arm, d->arm[best]);
    out->index = best;
    out->narms = d->narms;
    return 0;
}

/* Discounts every arm's evidence by g, then adds reward r to arm a. */
static void update(post *p, size_t narms, size_t a, double r, double g)
{
    if (g < 1)
        for (size_t i = 0; i < narms; i++) {
            p[i].alpha = 1 + g * (p[i].alpha - 1);
            p[i].beta = 1 + g * (p[i].beta - 1);
        }
    p[a].alpha += r;
    p[a].beta += 1 - r;
    p[a].reward += r;
    p[a].pulls++;
}

int learn_bandit_record(learn_bandit *b, const char *name, const char *context,
                        const char *arm, double reward)
{
    decision *d = find_decision(b, name, NULL);
    if (!d) return FS_ENOTFOUND;
    int a = find_arm(d, arm);
    if (a < 0) return FS_ENOTFOUND;
    if (!(reward >= 0 && reward <= 1)) return FS_EINVAL;
    bucket *k = NULL;
    if (context && *context) {
        int err = get_bucket(d, context, &k);
        if (err) return err;
    }
    update(d->p, d->narms, (size_t)a, reward, d->opts.discount);
    if (k) {
        update(k->p, d->narms, (size_t)a, reward, d->opts.discount);
        k->n++;
    }
    return 0;
}

static void arm_stats(const char *name, const post *p,
                      learn_bandit_arm_stats *s)
{
    strcpy(s->name, name);
    s->pulls = p->pulls;
    s->reward = p->reward;
    s->alpha = p->alpha;
    s->beta = p->beta;
    s->mean = p->alpha / (p->alpha + p->beta);
    s->lo = learn_prob_beta_quantile(0.025, p->alpha, p->beta);
    s->hi = learn_prob_beta_quantile(0.975, p->alpha, p->beta);
}

int learn_bandit_stats(const learn_bandit *b, const char *name,
                       const char *context,
                       learn_bandit_arm_stats out[LEARN_BANDIT_MAX_ARMS],
                       size_t *narms)
{
    const decision *d = find_decision(b, name, NULL);
    if (!d) return FS_ENOTFOUND;
    const bucket *k = find_bucket(d, context);
    if (context && *context && !k) return FS_ENOTFOUND;
    const post *p = k ? k->p : d->p;
    for (size_t i = 0; i < d->narms; i++)
        arm_stats(d->arm[i], &p[i], &out[i]);
    *narms = d->narms;
    return 0;
}

static json_t *post_tuple(const post *p)
{
    return json_pack("[f,f,I,f]", p->alpha, p->beta, (json_int_t)p->pulls,
                     p->reward);
}

static json_t *decision_json(const decision *d)
{
    json_t *arms = json_array(), *ctx = json_array();
    for (size_t i = 0; i < d->narms; i++)
        json_array_append_new(
            arms,
            json_pack("{s:s, s:f, s:f, s:I, s:f}", "name", d->arm[i], "alpha",
                      d->p[i].alpha, "beta", d->p[i].beta, "pulls",
                      (json_int_t)d->p[i].pulls, "reward", d->p[i].reward));
    for (size_t c = 0; c < d->nctx; c++) {
        json_t *ps = json_array();
        for (size_t i = 0; i < d->narms; i++)
            json_array_append_new(ps, post_tuple(&d->ctx[c]->p[i]));
        json_array_append_new(
            ctx, json_pack("{s:s, s:o}", "key", d->ctx[c]->key, "arms", ps));
    }
    return json_pack("{s:s, s:f, s:I, s:o, s:o}", "name", d->name, "discount",
                     d->opts.discount, "min_context",
                     (json_int_t)d->opts.min_context, "arms", arms, "contexts",
                     ctx);
}

json_t *learn_bandit_to_json(const learn_bandit *b)
{
    json_t *ds = json_array();
    for (size_t i = 0; i < b->n; i++)
        json_array_append_new(ds, decision_json(b->d[i]));
    return json_pack("{s:i, s:o}", "format", LEARN_BANDIT_FORMAT, "decisions",
                     ds);
}

/* Could these counts have produced this posterior?  Evidence and reward
 * can only be at most the pulls (less when discounted); the slack covers
 * rounding in the sums. */
static bool post_ok(const post *p, json_int_t pulls)
{
    if (pulls < 0 || pulls > (json_int_t)1 << 53) return false;
    double most = (double)pulls * (1 + 1e-9) + 1e-9;
    return isfinite(p->alpha) && isfinite(p->beta) && p->alpha >= 1 &&
           p->beta >= 1 && p->alpha + p->beta - 2 <= most && p->reward >= 0 &&
           p->reward <= most;
}

static int load_bucket(decision *d, json_t *cj)
{
    const char *key;
    json_t *ps, *pj;
    bucket *k;
    bool dup;
    size_t i;
    if (json_unpack(cj, "{s:s, s:o}", "key", &key, "arms", &ps) ||
        !json_is_array(ps) || json_array_size(ps) != d->narms)
        return FS_ECORRUPT;
    bucket_pos(d, key, &dup);
    if (dup || get_bucket(d, key, &k)) return FS_ECORRUPT;
    json_array_foreach(ps, i, pj) {
        post p;
        json_int_t pulls;
        if (json_unpack(pj, "[F,F,I,F!]", &p.alpha, &p.beta, &pulls,
                        &p.reward) ||
            !post_ok(&p, pulls))
            return FS_ECORRUPT;
        p.pulls = (uint64_t)pulls;
        k->p[i] = p;
        k->n += p.pulls;
    }
    return 0;
}

static int load_arm(learn_bandit *b, decision *d, json_t *aj)
{
    const char *name;
    post p;
    json_int_t pulls;
    if (json_unpack(aj, "{s:s, s:F, s:F, s:I, s:F}", "name", &name, "alpha",
                    &p.alpha, "beta", &p.beta, "pulls", &pulls, "reward",
                    &p.reward) ||
        !post_ok(&p, pulls) || learn_bandit_add_arm(b, d->name, name))
        return FS_ECORRUPT;
    p.pulls = (uint64_t)pulls;
    d->p[d->narms - 1] = p;
    return 0;
}

static int load_decision(learn_bandit *b, json_t *dj)
{
    const char *name;
    learn_bandit_opts o;
    json_int_t minc;
    json_t *arms, *ctx, *j;
    size_t i;
    if (json_unpack(dj, "{s:s, s:F, s:I, s:o, s:o}", "name", &name, "discount",
                    &o.discount, "min_context", &minc, "arms", &arms,
                    "contexts", &ctx) ||
        !json_is_array(arms) || !json_is_array(ctx) || minc < 0 ||
        minc > UINT32_MAX)
        return FS_ECORRUPT;
    o.min_context = (uint32_t)minc;
    if (learn_bandit_add_decision(b, name, &o)) return FS_ECORRUPT;
    decision *d = b->d[b->n - 1];
    json_array_foreach(arms, i, j) {
        if (load_arm(b, d, j)) return FS_ECORRUPT;
    }
    json_array_foreach(ctx, i, j) {
        if (load_bucket(d, j)) return FS_ECORRUPT;
    }
    return 0;
}

int learn_bandit_from_json(const json_t *state, learn_bandit **out)
{
    json_int_t format;
    json_t *ds, *dj;
    size_t i;
    if (json_unpack((json_t *)state, "{s:I, s:o}", "format", &format,
                    "decisions", &ds) ||
        format != LEARN_BANDIT_FORMAT || !json_is_array(ds))
        return FS_ECORRUPT;
    learn_bandit *b = learn_bandit_new();
    json_array_foreach(ds, i, dj) {
        if (load_decision(b, dj)) goto corrupt;
    }
    *out = b;
    return 0;
corrupt:
    learn_bandit_free(b);
    return FS_ECORRUPT;
}
