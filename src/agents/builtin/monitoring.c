/*
 * monitoring.c - the `monitoring` agent: watches the system through the
 * host's report (agents/sysreport.h), raises alerts and tunes the vector
 * index.  Meant to run on a schedule (e.g. health_check every minute).
 *
 *   health_check {"pending_age_ms":60000,"recall_samples":20,"recall_min":0.9}
 *       -> {"status":"ok"|"warning"|"critical","findings":[{"severity",
 *           "component","message"}],"rescued","alerts":[ids]}
 *       Findings: stale or offline agents (warning), running workflow runs
 *       past their deadline (critical), job types whose oldest pending job
 *       waits over pending_age_ms (warning; 10x: critical), dead-lettered
 *       jobs (warning), the index's recall@10 at its current ef below
 *       recall_min (warning; recall_samples 0 skips it).  Expired leases
 *       are rescued by the queue's ticker: counters.rescued is reported
 *       (an info finding when non-zero).
 *   check_metrics {"alpha":0.1,"z":3,"min_observations":10}
 *       -> {"metrics":[{"name","value","mean","sd","z","anomaly"}],
 *           "anomalies":n,"alerts":[ids]}
 *       Per job type: "depth:<type>" (pending + scheduled) and
 *       "failure_rate:<type>" (failed / (completed + failed)).  Each metric
 *       keeps an EWMA mean and variance in the agent's versioned state
 *       ({"metrics":{name:{"n","mean","var"}}}, written over the version
 *       read, read again on a conflict).  A value is an anomaly when the
 *       metric has min_observations and z = (value - mean) / sd >= z (a
 *       rise: depth and failures going down are good news); z is capped
 *       at +-1000 (a change after a perfectly flat history).
 *   optimize_performance {"recall_target":0.95,"samples":50,"candidates":[…]}
 *       -> {"ef_before","ef_after","recall","met","measured":[{"ef","recall"}],
 *           "change":{"setting":"ef_search","from","to","evolution":id,
 *           "status"}|null}
 *       Measures recall@10 at the current ef and at each candidate ef
 *       (default 16, 32, 64, 96, 128, 192, 256, 512, ascending) until one
 *       meets the target, and proposes that one (else the best measured)
 *       to the evolution log as memory.ef_search: under the rule "recall
 *       reaches the target" when it does, else on its lift in recall.
 *       The log applies it (ef_after) or leaves it for approval.
 *
 * Watching changes: health_check also reports the index's recall to an
 * applied change of memory.ef_search and asks the log to check every
 * watched change ("evolution":{"watched","rolled_back":[ids]}); the log
 * rolls back one whose metric regressed, and that is a warning finding.
 *
 * Alerts: every warning or critical finding and every anomaly becomes a
 * memory document of kind "alert" (content: the message; metadata
 * {"component","severity","source"}); a critical one also becomes a
 * `plan` job for the coordinator, goal "respond to alert: <message>" with
 * inputs {"component","severity","message"} (it runs whatever workflow
 * matches the goal, and fails as planned when none does).  Alerts are
 * raised on every check that sees the condition: de-duplicating them is
 * the reader's business (by component and time).
 */
#include "agents/builtin/monitoring.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/json.h"
#include "core/xmem.h"

#define STATE_TRIES 8
#define Z_CAP 1000.0
#define MAX_SAMPLES 1000
#define MAX_EF 10000

/* --- findings and alerts ---------------------------------------------- */

static void finding(json_t *list, const char *severity, const char *component,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void finding(json_t *list, const char *severity, const char *component,
                    const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "severity", severity,
                                          "component", component, "message", msg));
}

/* The finding f as an alert: a memory document, and for a critical one a
 * plan job for the coordinator.  Failures are logged, not fatal (the
 * check's result still lists the finding).  Appends the document's id. */
static void alert(agent_ctx *c, const json_t *f, const char *source, json_t *ids)
{
    const char *sev = json_string_value(json_object_get(f, "severity"));
    const char *comp = json_string_value(json_object_get(f, "component"));
    const char *msg = json_string_value(json_object_get(f, "message"));
    json_t *meta = json_pack("{s:s,s:s,s:s}", "component", comp, "severity", sev,
                             "source", source);
    char *meta_s = fs_json_dump(meta, 0);
    int64_t id;
    int rc = agent_memory_add(c, "alert", msg, meta_s, &id);
    if (rc) agent_log(c, LOG_WARN, "cannot store the alert: %s", fs_strerror(rc));
    else json_array_append_new(ids, json_integer(id));
    free(meta_s);
    json_decref(meta);
    if (strcmp(sev, "critical")) return;
    char goal[600];
    snprintf(goal, sizeof goal, "respond to alert: %s", msg);
    json_t *plan = json_pack("{s:s,s:{s:s,s:s,s:s}}", "goal", goal, "inputs",
                             "component", comp, "severity", sev, "message", msg);
    if ((rc = agent_job_create(c, "plan", "coordinator", plan, NULL)))
        agent_log(c, LOG_WARN, "cannot hand the alert to the coordinator: %s",
                  fs_strerror(rc));
    json_decref(plan);
}

/* Every warning or critical finding as an alert.  OUT: the alert ids. */
static json_t *raise_alerts(agent_ctx *c, const json_t *findings, const char *source)
{
    json_t *ids = json_array(), *f;
    size_t i;
    json_array_foreach(findings, i, f) {
        const char *sev = json_string_value(json_object_get(f, "severity"));
        if (!strcmp(sev, "warning") || !strcmp(sev, "critical")) alert(c, f, source, ids);
    }
    return ids;
}

/* --- health_check ----------------------------------------------------- */

static int64_t num(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static void check_agents(const json_t *agents, json_t *out)
{
    size_t i;
    json_t *a;
    json_array_foreach(agents, i, a) {
        const char *status = json_string_value(json_object_get(a, "status"));
        if (!status || !strcmp(status, "online")) continue;
        char comp[160];
        snprintf(comp, sizeof comp, "agent:%s",
                 json_string_value(json_object_get(a, "id")));
        finding(out, "warning", comp, "agent %s (%s) is %s: no heartbeat for %lld ms",
                json_string_value(json_object_get(a, "name")),
                json_string_value(json_object_get(a, "type")), status,
                (long long)num(a, "last_heartbeat_age_ms"));
    }
}

static void check_queue(const json_t *types, int64_t max_age, json_t *out)
{
    size_t i;
    json_t *t;
    json_array_foreach(types, i, t) {
        const char *type = json_string_value(json_object_get(t, "type"));
        char comp[260];
        snprintf(comp, sizeof comp, "queue:%s", type);
        json_t *age = json_object_get(t, "oldest_pending_age_ms");
        if (json_is_integer(age) && json_integer_value(age) > max_age)
            finding(out, json_integer_value(age) > 10 * max_age ? "critical" : "warning",
                    comp, "the oldest pending '%s' job has waited %lld ms (%lld pending)",
                    type, (long long)json_integer_value(age),
                    (long long)num(t, "pending"));
        if (num(t, "failed") > 0)
            finding(out, "warning", comp, "%lld '%s' jobs failed for good",
                    (long long)num(t, "failed"), type);
    }
}

static void check_runs(const json_t *runs, json_t *out)
{
    size_t i;
    json_t *id;
    json_array_foreach(json_object_get(runs, "overdue"), i, id) {
        char comp[64];
        snprintf(comp, sizeof comp, "run:%lld", (long long)json_integer_value(id));
        finding(out, "critical", comp, "workflow run %lld is past its deadline",
                (long long)json_integer_value(id));
    }
}

/* Recall@10 at the index's current ef, as a finding when under min.
 * OUT: *recall (-1 when not measured), *trials (the top-10 slots
 * compared: 10 per query, the queries capped by the vectors there are). */
static void check_index(agent_ctx *c, const json_t *mem, int64_t samples,
                        double min, json_t *out, double *recall, double *trials)
{
    int ef = (int)num(mem, "ef");
    int64_t vectors = num(mem, "vectors");
    *recall = -1;
    *trials = 10.0 * (double)(samples < vectors ? samples : vectors);
    if (!json_is_object(mem) || samples <= 0) return;
    int rc = agent_recall_check(c, (size_t)samples, ef, recall);
    if (rc) {
        *recall = -1;
        finding(out, "warning", "memory:index", "cannot check the index's recall: %s",
                fs_strerror(rc));
    } else if (*recall < min) {
        finding(out, "warning", "memory:index",
                "index recall@10 is %.3f at ef %d (below %.3f): run optimize_performance",
                *recall, ef, min);
    }
}

/* Watches the applied changes of the evolution log: reports the index's
 * recall to a change of memory.ef_search, then has the log check every
 * watched change against its monitor; a rolled-back one is a warning.
 * OUT: *watched; the ids rolled back appended to rolled. */
static void check_evolution(agent_ctx *c, double recall, double trials,
                            json_t *out, json_t *rolled, int *watched)
{
    json_t *list = NULL, *e;
    size_t i;
    *watched = 0;
    if (agent_evolution_list(c, "applied", NULL, &list)) return;
    json_array_foreach(list, i, e) {
        const char *v = json_string_value(
            json_object_get(json_object_get(e, "monitor"), "verdict"));
        const char *comp = json_string_value(json_object_get(e, "component"));
        int64_t id = json_integer_value(json_object_get(e, "id"));
        json_t *after = NULL;
        if (!v || strcmp(v, "watch")) continue;
        (*watched)++;
        if (!strcmp(comp, "memory.ef_search") && recall >= 0 && trials > 0) {
            json_t *obs = json_pack("{s:f,s:f}", "sum", round(recall * trials),
                                    "count", trials);
            agent_evolution_step(c, id, "observe", obs, NULL);
            json_decref(obs);
        }
        if (agent_evolution_step(c, id, "check", NULL, &after)) continue;
        if (!strcmp(json_string_value(json_object_get(after, "status")), "rolled_back")) {
            finding(out, "warning", comp, "change #%lld rolled back: %s", (long long)id,
                    json_string_value(json_object_get(after, "reason")));
            json_array_append_new(rolled, json_integer(id));
        }
        json_decref(after);
    }
    json_decref(list);
}

static const char *overall(const json_t *findings)
{
    const char *status = "ok";
    size_t i;
    json_t *f;
    json_array_foreach(findings, i, f) {
        const char *sev = json_string_value(json_object_get(f, "severity"));
        if (!strcmp(sev, "critical")) return "critical";
        if (!strcmp(sev, "warning")) status = "warning";
    }
    return status;
}

static int health_check(agent_ctx *c, const json_t *p, json_t **result)
{
    json_int_t max_age = 60000, samples = 20;
    double min = 0.9;
    if (json_unpack((json_t *)p, "{s?I,s?I,s?F}", "pending_age_ms", &max_age,
                    "recall_samples", &samples, "recall_min", &min) ||
        max_age < 1 || samples < 0 || samples > MAX_SAMPLES)
        return agent_error_final(c, "pending_age_ms (>= 1), recall_samples (0..%d) "
                                 "and recall_min must be numbers", MAX_SAMPLES);
    json_t *rep;
    int rc = agent_report(c, &rep);
    if (rc) return agent_error(c, "cannot read the system report: %s", fs_strerror(rc));
    json_t *findings = json_array(), *queue = json_object_get(rep, "queue");
    json_int_t rescued = num(json_object_get(queue, "counters"), "rescued");
    check_agents(json_object_get(rep, "agents"), findings);
    check_runs(json_object_get(rep, "runs"), findings);
    check_queue(json_object_get(queue, "types"), max_age, findings);
    double recall, trials;
    int watched;
    json_t *rolled = json_array();
    check_index(c, json_object_get(rep, "memory"), samples, min, findings, &recall,
                &trials);
    check_evolution(c, recall, trials, findings, rolled, &watched);
    if (rescued > 0)
        finding(findings, "info", "queue:leases",
                "%lld expired leases rescued since start", (long long)rescued);
    json_t *alerts = raise_alerts(c, findings, "health_check");
    *result = json_pack("{s:s,s:o,s:I,s:o,s:{s:i,s:o}}", "status", overall(findings),
                        "findings", findings, "rescued", rescued, "alerts", alerts,
                        "evolution", "watched", watched, "rolled_back", rolled);
    json_decref(rep);
    return 0;
}

/* --- check_metrics ---------------------------------------------------- */

typedef struct ewma_opts {
    double alpha, z;
    json_int_t min_n;
} ewma_opts;

/* Scores value against the metric's history in state (then folds it in)
 * and appends {"name","value","mean","sd","z","anomaly"} to out. */
static bool observe(json_t *state, const char *name, double value,
                    const ewma_opts *o, json_t *out)
{
    json_t *m = json_object_get(state, name);
    json_int_t n = num(m, "n");
    double mean = json_number_value(json_object_get(m, "mean"));
    double var = json_number_value(json_object_get(m, "var"));
    double sd = sqrt(var > 0 ? var : 0), diff = value - mean;
    double z = n == 0 ? 0 : sd > 1e-9 ? diff / sd : diff > 0 ? Z_CAP : diff < 0 ? -Z_CAP : 0;
    if (z > Z_CAP) z = Z_CAP;
    if (z < -Z_CAP) z = -Z_CAP;
    bool anomaly = n >= o->min_n && z >= o->z;
    json_array_append_new(out, json_pack("{s:s,s:f,s:f,s:f,s:f,s:b}", "name", name,
                                         "value", value, "mean", mean, "sd", sd,
                                         "z", z, "anomaly", anomaly));
    if (n == 0) {
        mean = value;
        var = 0;
    } else { /* West/Finch: the exponentially weighted mean and variance */
        double incr = o->alpha * diff;
        mean += incr;
        var = (1 - o->alpha) * (var + diff * incr);
    }
    json_object_set_new(state, name, json_pack("{s:I,s:f,s:f}", "n", n + 1, "mean",
                                               mean, "var", var));
    return anomaly;
}

/* Every metric of the report through observe.  OUT: findings for the
 * anomalies; returns the metric rows. */
static json_t *score(const json_t *rep, json_t *metrics, const ewma_opts *o,
                     json_t *findings)
{
    json_t *rows = json_array(), *t;
    size_t i;
    json_array_foreach(json_object_get(json_object_get(rep, "queue"), "types"), i, t) {
        const char *type = json_string_value(json_object_get(t, "type"));
        double done = (double)(num(t, "completed") + num(t, "failed"));
        double vals[2] = { (double)(num(t, "pending") + num(t, "scheduled")),
                           done > 0 ? (double)num(t, "failed") / done : 0 };
        const char *kinds[2] = { "depth", "failure_rate" };
        for (int k = 0; k < 2; k++) {
            char name[260];
            snprintf(name, sizeof name, "%s:%s", kinds[k], type);
            if (!observe(metrics, name, vals[k], o, rows)) continue;
            json_t *r = json_array_get(rows, json_array_size(rows) - 1);
            char comp[260];
            snprintf(comp, sizeof comp, "queue:%s", type);
            finding(findings, "warning", comp, "%s is %g, usually %.3g (z %.1f)", name,
                    vals[k], json_number_value(json_object_get(r, "mean")),
                    json_number_value(json_object_get(r, "z")));
        }
    }
    return rows;
}

static int check_metrics(agent_ctx *c, const json_t *p, json_t **result)
{
    ewma_opts o = { 0.1, 3, 10 };
    if (json_unpack((json_t *)p, "{s?F,s?F,s?I}", "alpha", &o.alpha, "z", &o.z,
                    "min_observations", &o.min_n) ||
        !(o.alpha > 0 && o.alpha <= 1) || !(o.z > 0) || o.min_n < 1)
        return agent_error_final(c, "alpha must be in (0, 1], z > 0, "
                                 "min_observations >= 1");
    json_t *rep;
    int rc = agent_report(c, &rep);
    if (rc) return agent_error(c, "cannot read the system report: %s", fs_strerror(rc));
    for (int tries = 0; tries < STATE_TRIES; tries++) {
        json_t *state, *findings = json_array(), *rows;
        int64_t version;
        if ((rc = agent_state_get(c, &state, &version))) {
            json_decref(findings);
            break;
        }
        json_t *metrics = json_object_get(state, "metrics");
        if (!json_is_object(metrics)) json_object_set_new(state, "metrics", json_object());
        rows = score(rep, json_object_get(state, "metrics"), &o, findings);
        rc = agent_state_put(c, state, version, NULL);
        json_decref(state);
        if (!rc) {
            size_t n = json_array_size(findings);
            json_t *alerts = raise_alerts(c, findings, "check_metrics");
            *result = json_pack("{s:o,s:I,s:o}", "metrics", rows, "anomalies",
                                (json_int_t)n, "alerts", alerts);
        } else {
            json_decref(rows);
        }
        json_decref(findings);
        if (rc != FS_ECONFLICT) break; /* else another job wrote first: again */
    }
    json_decref(rep);
    if (rc == FS_ECONFLICT) return agent_error(c, "state: kept changing under us");
    return rc ? agent_error(c, "state: %s", fs_strerror(rc)) : 0;
}

/* --- optimize_performance ----------------------------------------------- */

static const int DEFAULT_EFS[] = { 16, 32, 64, 96, 128, 192, 256, 512 };

static int cmp_int(const void *a, const void *b)
{
    return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

/* The candidate beams, ascending.  OUT: efs (at most 32), *n. */
static int candidates(agent_ctx *c, const json_t *list, int *efs, size_t *n)
{
    *n = 0;
    if (!list) {
        memcpy(efs, DEFAULT_EFS, sizeof DEFAULT_EFS);
        *n = sizeof DEFAULT_EFS / sizeof *DEFAULT_EFS;
        return 0;
    }
    size_t i;
    json_t *v;
    if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > 32)
        return agent_error_final(c, "candidates must be an array of 1..32 integers");
    json_array_foreach(list, i, v) {
        json_int_t ef = json_integer_value(v);
        if (!json_is_integer(v) || ef < 1 || ef > MAX_EF)
            return agent_error_final(c, "candidates[%zu] must be an integer in 1..%d", i,
                                     MAX_EF);
        efs[(*n)++] = (int)ef;
    }
    qsort(efs, *n, sizeof *efs, cmp_int);
    return 0;
}

/* A recall measured over trials top-10 slots, as a rate sample. */
static json_t *recall_sample(double recall, double trials)
{
    return json_pack("{s:f,s:f}", "successes", round(recall * trials), "trials",
                     trials);
}

/* Proposes ef_search before -> best to the evolution log: under the
 * target rule when best meets it, else on the lift in recall.  OUT:
 * *entry. */
static int propose_ef(agent_ctx *c, int before, int best, double r0, double r1,
                      double target, bool met, double trials, json_t **entry)
{
    char desc[200];
    snprintf(desc, sizeof desc,
             "ef_search %d -> %d: recall@10 %.3f -> %.3f (target %.3f)", before,
             best, r0, r1, target);
    json_t *p = json_pack("{s:s,s:s,s:s,s:{s:i,s:i},s:o,s:o}", "type",
                          "parameter_tuning", "component", "memory.ef_search",
                          "description", desc, "change", "from", before, "to", best,
                          "metrics_before", recall_sample(r0, trials),
                          "metrics_after", recall_sample(r1, trials));
    if (met) json_object_set_new(p, "require", json_pack("{s:f}", "min", target));
    int rc = agent_evolution_propose(c, p, entry);
    json_decref(p);
    return rc;
}

/* Measures recall at each candidate until one meets the target.  OUT:
 * measured, *best and its recall, *met, *r0 (recall at before). */
static int measure(agent_ctx *c, const int *efs, size_t n, int before,
                   int64_t samples, double target, json_t *measured, int *best,
                   double *best_recall, bool *met, double *r0)
{
    int rc = agent_recall_check(c, (size_t)samples, before, r0);
    if (rc) return agent_error(c, "recall at ef %d: %s", before, fs_strerror(rc));
    *best = before;
    *best_recall = *r0;
    *met = false;
    for (size_t i = 0; i < n && !*met && !agent_cancelled(c); i++) {
        double r;
        if ((rc = agent_recall_check(c, (size_t)samples, efs[i], &r)))
            return agent_error(c, "recall at ef %d: %s", efs[i], fs_strerror(rc));
        json_array_append_new(measured, json_pack("{s:i,s:f}", "ef", efs[i], "recall", r));
        *met = r >= target;
        if (*met || r > *best_recall) {
            *best_recall = r;
            *best = efs[i];
        }
    }
    return 0;
}

static int optimize(agent_ctx *c, const json_t *p, json_t **result)
{
    double target = 0.95, r0 = 0, best_recall = 0;
    json_int_t samples = 50;
    json_t *list = NULL, *rep = NULL, *entry = NULL;
    int efs[32], best = 0;
    size_t n;
    bool met = false;
    if (json_unpack((json_t *)p, "{s?F,s?I,s?o}", "recall_target", &target, "samples",
                    &samples, "candidates", &list) ||
        !(target > 0 && target <= 1) || samples < 1 || samples > MAX_SAMPLES)
        return agent_error_final(c, "recall_target must be in (0, 1], samples in 1..%d",
                                 MAX_SAMPLES);
    int rc = candidates(c, list, efs, &n);
    if (rc) return rc;
    if ((rc = agent_report(c, &rep)))
        return agent_error(c, "cannot read the system report: %s", fs_strerror(rc));
    json_t *mem = json_object_get(rep, "memory");
    int before = (int)num(mem, "ef");
    int64_t vectors = num(mem, "vectors");
    json_decref(rep);
    if (before < 1) return agent_error_final(c, "this host has no vector memory");
    double trials = 10.0 * (double)(samples < vectors ? samples : vectors);
    json_t *measured = json_array();
    rc = measure(c, efs, n, before, samples, target, measured, &best, &best_recall,
                 &met, &r0);
    if (!rc && best != before && trials > 0 &&
        (rc = propose_ef(c, before, best, r0, best_recall, target, met, trials, &entry)))
        rc = agent_error(c, "cannot propose ef_search %d: %s", best, fs_strerror(rc));
    if (rc) {
        json_decref(measured);
        return rc;
    }
    const char *status = entry ? json_string_value(json_object_get(entry, "status")) : NULL;
    bool applied = status && !strcmp(status, "applied");
    agent_log(c, LOG_INFO, "ef_search %d -> %d proposed (recall %.3f, target %.3f): %s",
              before, best, best_recall, target, status ? status : "no change");
    json_t *change = entry ? json_pack("{s:s,s:i,s:i,s:O,s:s}", "setting", "ef_search",
                                       "from", before, "to", best, "evolution",
                                       json_object_get(entry, "id"), "status", status)
                           : json_null();
    json_decref(entry);
    *result = json_pack("{s:i,s:i,s:f,s:b,s:o,s:o}", "ef_before", before, "ef_after",
                        applied ? best : before, "recall", best_recall, "met", met,
                        "measured", measured, "change", change);
    return 0;
}

static int handle(agent_ctx *c, const json_t *payload, json_t **result)
{
    const char *type = agent_job(c)->type;
    if (!json_is_object(payload)) return agent_error_final(c, "the payload must be an object");
    if (!strcmp(type, "health_check")) return health_check(c, payload, result);
    if (!strcmp(type, "check_metrics")) return check_metrics(c, payload, result);
    if (!strcmp(type, "optimize_performance")) return optimize(c, payload, result);
    return agent_error_final(c, "monitoring does not take '%s' jobs", type);
}

static const char *const JOB_TYPES[] = { "health_check", "check_metrics",
                                         "optimize_performance", NULL };

const agent_def monitoring_agent = { "monitoring", JOB_TYPES, NULL, handle, NULL };
