/*
 * learning.c - the `learning` agent: turns outcomes and feedback into
 * better decisions (src/agents/learn/ does the statistics).
 *
 *   choose_strategy {"decision","options":[…]?,"context"?}
 *       -> {"decision","choice","from_context","sampled":{arm:draw}}
 *       Thompson sampling over the decision's arms (options add arms; a
 *       decision seen for the first time needs them, except the ones in
 *       DEFAULT_ARMS); context defaults to the lead's segment.
 *   record_outcome  {"decision","choice","reward" in [0,1] | "success"}
 *   predict_success {"lead":{…}|"features":{name:value},"segment"?}
 *       -> {"probability","features"}: online logistic regression over
 *       hashed features (a lead's short text fields as name=value, its
 *       numbers as they are, the e-mail's domain)
 *   learn_outcome   any of: {"decision","choice","reward"|"success"} (the
 *       bandit), {"lead"|"features","success"} (the model); a payload with
 *       neither (e.g. a code review's findings) becomes a "lesson" in memory
 *
 * State (the agent's versioned state): {"bandits":…,"model":…}.  A job
 * reads it, changes it and writes it back over the version it read,
 * starting again when another job wrote first.
 */
#include "agents/builtin/learning.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/learn/bandit.h"
#include "agents/learn/logreg.h"
#include "agents/learn/rng.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/rand.h"
#include "core/xmem.h"

#define STATE_TRIES 8
#define MAX_FEATURES 64
#define MAX_VALUE 64

typedef struct model {
    learn_bandit *bandits;
    learn_logreg *reg;
} model;

static const struct {
    const char *decision;
    const char *arms[5];
} DEFAULT_ARMS[] = {
    { "follow_up", { "email_today", "call_today", "email_in_3_days", "no_follow_up" } },
};

static void model_free(model *m)
{
    learn_bandit_free(m->bandits);
    learn_logreg_free(m->reg);
}

static int model_load(const json_t *state, model *m)
{
    json_t *b = json_object_get(state, "bandits"), *r = json_object_get(state, "model");
    *m = (model){ 0 };
    int rc = b ? learn_bandit_from_json(b, &m->bandits) : 0;
    if (!rc && !b) m->bandits = learn_bandit_new();
    if (!rc) rc = r ? learn_logreg_from_json(r, &m->reg) : learn_logreg_new(NULL, &m->reg);
    if (rc) model_free(m);
    return rc;
}

static json_t *model_json(const model *m)
{
    return json_pack("{s:o,s:o}", "bandits", learn_bandit_to_json(m->bandits), "model",
                     learn_logreg_to_json(m->reg));
}

/* --- features --------------------------------------------------------------- */

typedef struct feats {
    learn_logreg_feature f[MAX_FEATURES];
    char *names[MAX_FEATURES];
    size_t n;
} feats;

static void feat_add(feats *fs, char *name, double value)
{
    if (fs->n == MAX_FEATURES) {
        free(name);
        return;
    }
    for (char *p = name; *p; p++) *p = (char)tolower((unsigned char)*p);
    fs->names[fs->n] = name;
    fs->f[fs->n++] = (learn_logreg_feature){ name, value };
}

static void feats_free(feats *fs)
{
    for (size_t i = 0; i < fs->n; i++) free(fs->names[i]);
}

/* A lead's fields as features; free text (long values) is left out. */
static void lead_features(const json_t *lead, feats *fs)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)lead, k, v) {
        const char *s = json_string_value(v);
        if (json_is_number(v) && isfinite(json_number_value(v)))
            feat_add(fs, xstrdup(k), json_number_value(v));
        else if (json_is_boolean(v))
            feat_add(fs, xasprintf("%s=%s", k, json_is_true(v) ? "yes" : "no"), 1);
        else if (s && strchr(s, '@') && strstr(k, "mail"))
            feat_add(fs, xasprintf("email_domain=%.*s", MAX_VALUE, strchr(s, '@') + 1), 1);
        else if (s && *s && strlen(s) <= MAX_VALUE)
            feat_add(fs, xasprintf("%s=%s", k, s), 1);
    }
}

static void payload_features(const json_t *p, feats *fs)
{
    const json_t *lead = json_object_get(p, "lead"), *given = json_object_get(p, "features");
    const char *segment = json_string_value(json_object_get(p, "segment"));
    if (json_is_object(lead)) lead_features(lead, fs);
    if (json_is_object(given)) lead_features(given, fs);
    if (segment) feat_add(fs, xasprintf("segment=%.*s", MAX_VALUE, segment), 1);
}

/* --- the jobs ------------------------------------------------------------------ */

/* The bandit's context for p: "context", else the lead's segment. */
static const char *context_of(const json_t *p)
{
    const char *c = json_string_value(json_object_get(p, "context"));
    if (!c) c = json_string_value(json_object_get(p, "segment"));
    if (!c) c = json_string_value(json_object_get(json_object_get(p, "lead"), "segment"));
    return c;
}

/* Makes sure decision d exists with the payload's options (or defaults). */
static int ensure_decision(agent_ctx *c, model *m, const char *d, const json_t *options)
{
    int rc = learn_bandit_add_decision(m->bandits, d, NULL);
    bool fresh = rc == 0;
    if (rc && rc != FS_ECONFLICT) return agent_error_final(c, "decision '%s': %s", d, fs_strerror(rc));
    size_t i;
    json_t *o;
    json_array_foreach((json_t *)options, i, o) {
        const char *arm = json_string_value(o);
        rc = arm ? learn_bandit_add_arm(m->bandits, d, arm) : FS_EINVAL;
        if (rc && rc != FS_ECONFLICT)
            return agent_error_final(c, "options[%zu]: %s", i, fs_strerror(rc));
    }
    for (size_t k = 0; fresh && !options && k < sizeof DEFAULT_ARMS / sizeof *DEFAULT_ARMS; k++)
        if (!strcmp(DEFAULT_ARMS[k].decision, d))
            for (size_t a = 0; DEFAULT_ARMS[k].arms[a]; a++)
                learn_bandit_add_arm(m->bandits, d, DEFAULT_ARMS[k].arms[a]);
    return 0;
}

static int choose(agent_ctx *c, model *m, const json_t *p, json_t **out)
{
    const char *d = json_string_value(json_object_get(p, "decision"));
    if (!d) return agent_error_final(c, "choose_strategy needs a \"decision\"");
    int rc = ensure_decision(c, m, d, json_object_get(p, "options"));
    if (rc) return rc;
    learn_rng rng;
    uint64_t seed;
    fs_random_bytes(&seed, sizeof seed);
    learn_rng_seed(&rng, seed);
    learn_bandit_choice ch;
    if ((rc = learn_bandit_choose(m->bandits, d, context_of(p), &rng, &ch)))
        return agent_error_final(c, "decision '%s' has no options: give \"options\"", d);
    json_t *sampled = json_object();
    learn_bandit_arm_stats st[LEARN_BANDIT_MAX_ARMS];
    size_t n;
    if (!learn_bandit_stats(m->bandits, d, NULL, st, &n))
        for (size_t i = 0; i < n && i < ch.narms; i++)
            json_object_set_new(sampled, st[i].name, json_real(ch.sampled[i]));
    *out = json_pack("{s:s,s:s,s:b,s:o}", "decision", d, "choice", ch.arm,
                     "from_context", ch.from_context, "sampled", sampled);
    return 0;
}

/* Records the payload's decision outcome; false when it names none. */
static int record(agent_ctx *c, model *m, const json_t *p, bool *done)
{
    const char *d = json_string_value(json_object_get(p, "decision"));
    const char *arm = json_string_value(json_object_get(p, "choice"));
    json_t *reward = json_object_get(p, "reward"), *success = json_object_get(p, "success");
    *done = d && arm;
    if (!*done) return 0;
    double r = json_is_number(reward) ? json_number_value(reward)
               : json_is_boolean(success) ? json_is_true(success) : NAN;
    if (!(r >= 0 && r <= 1))
        return agent_error_final(c, "an outcome needs \"reward\" in [0, 1] or \"success\"");
    int rc = learn_bandit_record(m->bandits, d, context_of(p), arm, r);
    if (rc == FS_ENOTFOUND)
        return agent_error_final(c, "no arm '%s' in decision '%s'", arm, d);
    return rc ? agent_error(c, "record: %s", fs_strerror(rc)) : 0;
}

static int predict(agent_ctx *c, model *m, const json_t *p, json_t **out)
{
    feats fs = { .n = 0 };
    payload_features(p, &fs);
    double prob;
    int rc = learn_logreg_predict(m->reg, fs.f, fs.n, &prob);
    if (!rc) *out = json_pack("{s:f,s:I}", "probability", prob, "features", (json_int_t)fs.n);
    feats_free(&fs);
    return rc ? agent_error_final(c, "predict: %s", fs_strerror(rc)) : 0;
}

static int learn(agent_ctx *c, model *m, const json_t *p, json_t **out)
{
    bool recorded;
    int rc = record(c, m, p, &recorded);
    if (rc) return rc;
    json_t *success = json_object_get(p, "success");
    bool fitted = json_is_boolean(success) &&
                  (json_object_get(p, "lead") || json_object_get(p, "features"));
    if (fitted) {
        feats fs = { .n = 0 };
        payload_features(p, &fs);
        double before;
        rc = learn_logreg_update(m->reg, fs.f, fs.n, json_is_true(success), &before);
        feats_free(&fs);
        if (rc) return agent_error_final(c, "learn: %s", fs_strerror(rc));
    }
    int64_t lesson = 0;
    if (!recorded && !fitted) {
        char *text = fs_json_dump(p, 0);
        char *note = xasprintf("Outcome to learn from: %.4000s", text ? text : "{}");
        rc = agent_memory_add(c, "lesson", note, NULL, &lesson);
        free(note);
        free(text);
        if (rc) return agent_error(c, "memory: %s", fs_strerror(rc));
    }
    *out = json_pack("{s:b,s:b,s:o}", "recorded", recorded, "model_updated", fitted,
                     "lesson", lesson ? json_integer(lesson) : json_null());
    return 0;
}

/* One attempt at the job over the state as read; OUT: *changed. */
static int apply(agent_ctx *c, model *m, const json_t *p, json_t **out, bool *changed)
{
    const char *type = agent_job(c)->type;
    bool done;
    *changed = true;
    if (!strcmp(type, "choose_strategy")) return choose(c, m, p, out);
    if (!strcmp(type, "record_outcome")) {
        int rc = record(c, m, p, &done);
        if (!rc && !done) rc = agent_error_final(c, "record_outcome needs \"decision\" and \"choice\"");
        if (!rc) *out = json_pack("{s:b}", "recorded", true);
        return rc;
    }
    if (!strcmp(type, "learn_outcome")) return learn(c, m, p, out);
    *changed = false;
    if (!strcmp(type, "predict_success")) return predict(c, m, p, out);
    return agent_error_final(c, "learning does not take '%s' jobs", type);
}

static int handle(agent_ctx *c, const json_t *payload, json_t **result)
{
    if (!json_is_object(payload)) return agent_error_final(c, "the payload must be an object");
    for (int tries = 0; tries < STATE_TRIES; tries++) {
        json_t *state, *out = NULL;
        int64_t version;
        model m;
        bool changed;
        int rc = agent_state_get(c, &state, &version);
        if (rc) return agent_error(c, "state: %s", fs_strerror(rc));
        rc = model_load(state, &m);
        json_decref(state);
        if (rc) return agent_error_final(c, "the stored model is damaged: %s", fs_strerror(rc));
        rc = apply(c, &m, payload, &out, &changed);
        if (!rc && changed) {
            json_t *next = model_json(&m);
            rc = agent_state_put(c, next, version, NULL);
            json_decref(next);
        }
        model_free(&m);
        if (rc == FS_ECONFLICT) { /* another job wrote first: read again */
            json_decref(out);
            continue;
        }
        if (rc) {
            json_decref(out);
            return rc;
        }
        *result = out;
        return 0;
    }
    return agent_error(c, "the state kept changing under this job");
}

static const char *const JOB_TYPES[] = { "choose_strategy", "record_outcome",
                                         "predict_success", "learn_outcome", NULL };

const agent_def learning_agent = { "learning", JOB_TYPES, NULL, handle, NULL };
