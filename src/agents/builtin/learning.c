/*
 * learning.c - the `learning` agent: turns outcomes and feedback into
 * better decisions (src/agents/learn/ does the statistics).
 *
 *   choose_strategy {"decision","options":[…]?,"context"?,"explore"?}
 *       -> {"decision","choice","from_context","sampled":{arm:draw},
 *           "policy":"applied"|"explore"}
 *       Thompson sampling over the decision's arms (options add arms; a
 *       decision seen for the first time needs them, except the ones in
 *       DEFAULT_ARMS); context defaults to the lead's segment.  Once the
 *       evolution log has applied a choice for the decision (component
 *       "learning.<decision>"), that choice is made except for a share
 *       `explore` (0.2) of the jobs, which keep sampling.
 *   record_outcome  {"decision","choice","reward" in [0,1] | "success"}
 *       An outcome of the applied choice is also reported to its entry in
 *       the log (observe), where the monitoring agent's checks watch it.
 *   predict_success {"lead":{…}|"features":{name:value},"segment"?}
 *       -> {"probability","features"}: online logistic regression over
 *       hashed features (a lead's short text fields as name=value, its
 *       numbers as they are, the e-mail's domain)
 *   learn_outcome   any of: {"decision","choice","reward"|"success"} (the
 *       bandit), {"lead"|"features","success"} (the model); a payload with
 *       neither (e.g. a code review's findings) becomes a "lesson" in memory
 *   evolve {"decision"?,"min_trials"?:100}
 *       -> {"decisions":[{"decision","applied","best","action","evolution",
 *           "status"}]}
 *       Per decision: its best arm by posterior mean (among arms with
 *       min_trials outcomes) against the applied one - or, with none
 *       applied, against the other arms pooled - proposed to the evolution
 *       log as a parameter_tuning of "learning.<decision>" with both
 *       samples; the log validates it and applies it when it clears the
 *       margin.  One open proposal per decision: a proposed one for the
 *       same arm is validated again on fresh counts, any other waits.
 *
 * State (the agent's versioned state): {"bandits":…,"model":…}.  A job
 * reads it, changes it and writes it back over the version it read,
 * starting again after a short random pause when another job wrote first
 * (up to STATE_TRIES times).  The evolution log's settings are read once
 * a job.
 */
#include "agents/builtin/learning.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agents/learn/bandit.h"
#include "agents/learn/logreg.h"
#include "agents/learn/rng.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/rand.h"
#include "core/xmem.h"

#define STATE_TRIES 32
#define DEFAULT_EXPLORE 0.2 /* share of choices still explored */
#define DEFAULT_MIN_TRIALS 100
#define MAX_FEATURES 64
#define MAX_VALUE 64

typedef struct model {
    learn_bandit *bandits;
    learn_logreg *reg;
    /* An outcome of a decision's applied choice, reported to its
     * evolution entry once the state is written (0: none). */
    int64_t observe_event;
    double observe_reward;
    /* The evolution log's settings, read once a job (borrowed; NULL when
     * the host has none). */
    const json_t *settings;
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

/* The applied choice of decision d ("learning.<d>" in the evolution
 * log's settings), if it is one of its arms.  OUT: arm (a buffer of
 * LEARN_BANDIT_MAX_NAME + 1), *event (0 when there is none). */
static void champion(const model *m, const char *d, char *arm, int64_t *event)
{
    char comp[LEARN_BANDIT_MAX_NAME + 16];
    snprintf(comp, sizeof comp, "learning.%s", d);
    *event = 0;
    *arm = 0;
    json_t *set = json_object_get(m->settings, comp);
    const char *v = json_string_value(json_object_get(set, "value"));
    learn_bandit_arm_stats st[LEARN_BANDIT_MAX_ARMS];
    size_t n = 0;
    if (v && !learn_bandit_stats(m->bandits, d, NULL, st, &n))
        for (size_t i = 0; i < n; i++)
            if (!strcmp(st[i].name, v)) {
                snprintf(arm, LEARN_BANDIT_MAX_NAME + 1, "%s", v);
                *event = json_integer_value(json_object_get(set, "event"));
            }
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
    double explore = DEFAULT_EXPLORE;
    json_t *e = json_object_get(p, "explore");
    if (e && (!json_is_number(e) || !(json_number_value(e) >= 0 && json_number_value(e) <= 1)))
        return agent_error_final(c, "explore must be a number in [0, 1]");
    if (e) explore = json_number_value(e);
    char best[LEARN_BANDIT_MAX_NAME + 1];
    int64_t event;
    champion(m, d, best, &event);
    bool exploit = event && learn_rng_uniform(&rng) >= explore;
    json_t *sampled = json_object();
    learn_bandit_arm_stats st[LEARN_BANDIT_MAX_ARMS];
    size_t n;
    if (!learn_bandit_stats(m->bandits, d, NULL, st, &n))
        for (size_t i = 0; i < n && i < ch.narms; i++)
            json_object_set_new(sampled, st[i].name, json_real(ch.sampled[i]));
    *out = json_pack("{s:s,s:s,s:b,s:o,s:s}", "decision", d, "choice",
                     exploit ? best : ch.arm, "from_context", ch.from_context,
                     "sampled", sampled, "policy", exploit ? "applied" : "explore");
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
    int rc = ensure_decision(c, m, d, NULL); /* a default decision's first outcome */
    if (rc) return rc;
    rc = learn_bandit_record(m->bandits, d, context_of(p), arm, r);
    if (rc == FS_ENOTFOUND)
        return agent_error_final(c, "no arm '%s' in decision '%s'", arm, d);
    if (rc) return agent_error(c, "record: %s", fs_strerror(rc));
    char best[LEARN_BANDIT_MAX_NAME + 1];
    champion(m, d, best, &m->observe_event);
    if (strcmp(best, arm)) m->observe_event = 0; /* only the applied arm's */
    m->observe_reward = r;
    return 0;
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

/* A lesson kept is knowledge acquired: logged in the evolution log as a
 * record (no setting changes). */
static int log_lesson(agent_ctx *c, int64_t id, const char *text)
{
    char desc[300];
    snprintf(desc, sizeof desc, "lesson #%lld kept in memory: %.200s", (long long)id,
             text ? text : "{}");
    json_t *p = json_pack("{s:s,s:s,s:s}", "type", "knowledge_acquisition", "component",
                          "memory.lessons", "description", desc), *entry = NULL;
    int rc = agent_evolution_propose(c, p, &entry);
    json_decref(p);
    json_decref(entry);
    return rc == FS_EINVAL ? 0 : rc; /* a host without the log */
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
        if (!rc) rc = log_lesson(c, lesson, text);
        free(text);
        if (rc) return agent_error(c, "memory: %s", fs_strerror(rc));
    }
    *out = json_pack("{s:b,s:b,s:o}", "recorded", recorded, "model_updated", fitted,
                     "lesson", lesson ? json_integer(lesson) : json_null());
    return 0;
}

/* --- evolve: proposing a decision's applied choice ---------------------- */

static json_t *rate(uint64_t pulls, double reward)
{
    return json_pack("{s:f,s:I}", "successes", round(reward), "trials", (json_int_t)pulls);
}

/* The open entry (proposed or validated) of component, or NULL. */
static json_t *open_entry(agent_ctx *c, const char *component)
{
    static const char *const open[] = { "validated", "proposed" };
    for (size_t i = 0; i < 2; i++) {
        json_t *list = NULL;
        if (agent_evolution_list(c, open[i], component, &list)) continue;
        json_t *e = json_incref(json_array_get(list, 0));
        json_decref(list);
        if (e) return e;
    }
    return NULL;
}

/* Proposes decision d's best arm st[b] over the applied one (cur, "" for
 * none) with the control sample, or validates the open proposal again.
 * Adds "action", "evolution" and "status" to r. */
static void evolve_propose(agent_ctx *c, const char *d, const char *cur,
                           const learn_bandit_arm_stats *best, uint64_t cpulls,
                           double creward, json_t *r)
{
    char comp[LEARN_BANDIT_MAX_NAME + 16];
    snprintf(comp, sizeof comp, "learning.%s", d);
    json_t *open = open_entry(c, comp), *entry = NULL;
    json_t *samples = json_pack("{s:o,s:o}", "metrics_before", rate(cpulls, creward),
                                "metrics_after", rate(best->pulls, best->reward));
    const char *to = json_string_value(json_object_get(json_object_get(open, "change"), "to"));
    const char *action;
    int rc = 0;
    if (open && (strcmp(json_string_value(json_object_get(open, "status")), "proposed") ||
                 !to || strcmp(to, best->name))) {
        action = "waiting"; /* one open change per decision */
        entry = json_incref(open);
    } else if (open) {
        action = "validated again";
        rc = agent_evolution_step(c, json_integer_value(json_object_get(open, "id")),
                                  "validate", samples, &entry);
    } else {
        char desc[400];
        snprintf(desc, sizeof desc, "%s: choose %s (%.1f%% of %llu) over %s (%.1f%% of %llu)",
                 d, best->name, 100.0 * best->reward / (double)best->pulls,
                 (unsigned long long)best->pulls, *cur ? cur : "the other choices",
                 100.0 * creward / (double)cpulls, (unsigned long long)cpulls);
        json_t *p = json_pack("{s:s,s:s,s:s,s:{s:o,s:s}}", "type", "parameter_tuning",
                              "component", comp, "description", desc, "change", "from",
                              *cur ? json_string(cur) : json_null(), "to", best->name);
        json_object_update(p, samples);
        action = "proposed";
        rc = agent_evolution_propose(c, p, &entry);
        json_decref(p);
    }
    if (rc) action = fs_strerror(rc);
    json_object_set_new(r, "action", json_string(action));
    json_object_set_new(r, "evolution", json_incref(json_object_get(entry, "id")
                                                         ? json_object_get(entry, "id")
                                                         : json_null()));
    json_object_set_new(r, "status", json_incref(json_object_get(entry, "status")
                                                     ? json_object_get(entry, "status")
                                                     : json_null()));
    json_decref(entry);
    json_decref(open);
    json_decref(samples);
}

/* One decision: its best arm (by posterior mean, among those with
 * min_trials outcomes) against the applied one, or with none applied
 * against the other arms pooled. */
static json_t *evolve_one(agent_ctx *c, const model *m, const char *d, double min_trials)
{
    learn_bandit_arm_stats st[LEARN_BANDIT_MAX_ARMS];
    size_t n = 0, b = SIZE_MAX;
    char cur[LEARN_BANDIT_MAX_NAME + 1];
    int64_t event;
    learn_bandit_stats(m->bandits, d, NULL, st, &n);
    champion(m, d, cur, &event);
    for (size_t i = 0; i < n; i++)
        if ((double)st[i].pulls >= min_trials && (b == SIZE_MAX || st[i].mean > st[b].mean))
            b = i;
    json_t *r = json_pack("{s:s,s:o,s:o}", "decision", d, "applied",
                          *cur ? json_string(cur) : json_null(), "best",
                          b == SIZE_MAX ? json_null() : json_string(st[b].name));
    uint64_t cpulls = 0;
    double creward = 0;
    for (size_t i = 0; b != SIZE_MAX && i < n; i++)
        if (*cur ? !strcmp(st[i].name, cur) : i != b) {
            cpulls += st[i].pulls;
            creward += st[i].reward;
        }
    if (b == SIZE_MAX || (double)cpulls < min_trials)
        json_object_set_new(r, "action", json_string("more data"));
    else if (*cur && !strcmp(st[b].name, cur))
        json_object_set_new(r, "action", json_string("none: the applied choice is the best"));
    else
        evolve_propose(c, d, cur, &st[b], cpulls, creward, r);
    return r;
}

/* evolve {"decision"?, "min_trials"?}: every decision (or the one). */
static int evolve(agent_ctx *c, model *m, const json_t *p, json_t **out)
{
    const char *only = json_string_value(json_object_get(p, "decision"));
    json_t *mt = json_object_get(p, "min_trials");
    double min_trials = mt ? json_number_value(mt) : DEFAULT_MIN_TRIALS;
    if (mt && (!json_is_number(mt) || !(min_trials >= 1)))
        return agent_error_final(c, "min_trials must be a number >= 1");
    json_t *all = learn_bandit_to_json(m->bandits), *d, *list = json_array();
    size_t i;
    json_array_foreach(json_object_get(all, "decisions"), i, d) {
        const char *name = json_string_value(json_object_get(d, "name"));
        if (!only || !strcmp(only, name))
            json_array_append_new(list, evolve_one(c, m, name, min_trials));
    }
    json_decref(all);
    if (only && json_array_size(list) == 0) {
        json_decref(list);
        return agent_error_final(c, "no decision '%s'", only);
    }
    *out = json_pack("{s:o}", "decisions", list);
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
    if (!strcmp(type, "evolve")) return evolve(c, m, p, out);
    return agent_error_final(c, "learning does not take '%s' jobs", type);
}

/* Reports the recorded outcome of an applied choice to its entry (the
 * monitoring agent's health_check has the log check it). */
static void observe(agent_ctx *c, const model *m)
{
    json_t *o = json_pack("{s:f,s:f}", "sum", m->observe_reward, "count", 1.0);
    int rc = agent_evolution_step(c, m->observe_event, "observe", o, NULL);
    if (rc && rc != FS_ESTATE) /* ESTATE: rolled back meanwhile */
        agent_log(c, LOG_WARN, "cannot report the outcome to change #%lld: %s",
                  (long long)m->observe_event, fs_strerror(rc));
    json_decref(o);
}

/* After a lost race for the state: a short random pause, longer with each
 * try, so two jobs writing the same state stop colliding. */
static void back_off(int tries)
{
    uint32_t r;
    fs_random_bytes(&r, sizeof r);
    struct timespec ts = { 0, (long)(r % (1000u * (uint32_t)(tries + 1))) * 1000L };
    nanosleep(&ts, NULL);
}

/* One attempt at the job over the state as read, written back over the
 * version read.  FS_ECONFLICT: another job wrote first. */
static int attempt(agent_ctx *c, const json_t *payload, const json_t *settings,
                   json_t **out)
{
    json_t *state;
    int64_t version;
    model m;
    bool changed;
    int rc = agent_state_get(c, &state, &version);
    if (rc) return agent_error(c, "state: %s", fs_strerror(rc));
    rc = model_load(state, &m);
    json_decref(state);
    if (rc) return agent_error_final(c, "the stored model is damaged: %s", fs_strerror(rc));
    m.settings = settings;
    rc = apply(c, &m, payload, out, &changed);
    if (!rc && changed) {
        json_t *next = model_json(&m);
        rc = agent_state_put(c, next, version, NULL);
        json_decref(next);
    }
    if (!rc && m.observe_event) observe(c, &m);
    model_free(&m);
    return rc;
}

static int handle(agent_ctx *c, const json_t *payload, json_t **result)
{
    if (!json_is_object(payload)) return agent_error_final(c, "the payload must be an object");
    json_t *settings = NULL;
    if (agent_evolution_settings(c, &settings)) settings = NULL; /* none: no log */
    int rc = FS_ECONFLICT;
    for (int tries = 0; tries < STATE_TRIES && rc == FS_ECONFLICT; tries++) {
        json_t *out = NULL;
        if (tries) back_off(tries);
        rc = attempt(c, payload, settings, &out);
        if (rc) json_decref(out);
        else *result = out;
    }
    json_decref(settings);
    if (rc == FS_ECONFLICT) return agent_error(c, "the state kept changing under this job");
    return rc;
}

static const char *const JOB_TYPES[] = { "choose_strategy", "record_outcome",
                                         "predict_success", "learn_outcome", "evolve",
                                         NULL };

const agent_def learning_agent = { "learning", JOB_TYPES, NULL, handle, NULL };
