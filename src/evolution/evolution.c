/*
 * evolution.c - the evolution log's rules (see evolution.h) over the
 * store's evolution_events rows.
 *
 * A row keeps the searchable fields as columns and the rest as one JSON
 * object, `data`: change, metrics_before/after (normalised samples),
 * require, validation (the last verdict), monitor (the CUSUM state),
 * observed (outcomes reported since applied), reason and history (one
 * {"status","at","by","note"} per step).  Each operation is a step
 * function run by `mutate`: read the row, change it, write it at the rev
 * it read, and start again (up to MAX_TRIES) when another writer won.
 */
#include "evolution/evolution.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cond.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/xmem.h"

#define MAX_TRIES 8
#define PAGE 1000
#define MAX_COUNT 1e12 /* observations in one sample or report */

struct evolution {
    store *st;
    const fs_clock *clk;
    evolution_config cfg;
    pthread_mutex_t lock;  /* guards known, stop */
    json_t *known;         /* component -> the value on_change last got */
    pthread_cond_t wake;
    pthread_t refresher;
    bool refreshing, stop;
};

typedef struct entry {
    fs_evolution row;
    json_t *data;
} entry;

static const char *const types[] = { "parameter_tuning",
                                     "knowledge_acquisition",
                                     "anomaly_response", "workflow_change" };
static const char *const statuses[] = { "proposed", "validated", "applied",
                                        "rolled_back", "rejected" };

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (!strcmp(s, list[i])) return true;
    return false;
}

bool evolution_type_ok(const char *s) { return in_list(s, types, 4); }
bool evolution_status_ok(const char *s) { return in_list(s, statuses, 5); }

static int fail(evolution_err *err, int rc, const char *field,
                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    snprintf(err->field, sizeof err->field, "%s", field);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return rc;
}

static void *refresh_main(void *arg);

evolution_config evolution_config_default(void)
{
    return (evolution_config){ .policy = learn_evolve_policy_default(),
                               .monitor = learn_evolve_monitor_cfg_default() };
}

int evolution_open(evolution **out, store *st, const fs_clock *clk,
                   const evolution_config *cfg)
{
    const learn_evolve_policy *p = &cfg->policy;
    if (!(p->margin >= 0) || !(p->confidence > 0.5 && p->confidence < 1) ||
        !(p->min_n >= 1) || !(cfg->monitor.tolerance > 0) ||
        !(cfg->monitor.alpha > 0 && cfg->monitor.alpha < 0.5) ||
        !(cfg->monitor.horizon >= 1))
        return FS_EINVAL;
    evolution *ev = xcalloc(1, sizeof *ev);
    ev->st = st;
    ev->clk = clk;
    ev->cfg = *cfg;
    ev->known = json_object();
    pthread_mutex_init(&ev->lock, NULL);
    fs_cond_init(&ev->wake);
    if (cfg->refresh_ms > 0 && cfg->on_change &&
        pthread_create(&ev->refresher, NULL, refresh_main, ev) == 0)
        ev->refreshing = true;
    *out = ev;
    return 0;
}

void evolution_close(evolution *ev)
{
    if (!ev) return;
    pthread_mutex_lock(&ev->lock);
    ev->stop = true;
    pthread_cond_signal(&ev->wake);
    pthread_mutex_unlock(&ev->lock);
    if (ev->refreshing) pthread_join(ev->refresher, NULL);
    pthread_cond_destroy(&ev->wake);
    pthread_mutex_destroy(&ev->lock);
    json_decref(ev->known);
    free(ev);
}

/* --- rows and their JSON ------------------------------------------------ */

static void entry_clear(entry *e)
{
    fs_evolution_clear(&e->row);
    json_decref(e->data);
    e->data = NULL;
}

/* Takes row into e, parsing its data.  FS_ECORRUPT when it is not an
 * object (the row is cleared then). */
static int entry_take(entry *e, fs_evolution *row)
{
    e->row = *row;
    memset(row, 0, sizeof *row);
    e->data = json_loads(e->row.data, 0, NULL);
    if (json_is_object(e->data)) return 0;
    log_error("evolution: entry %lld has corrupt data", (long long)e->row.id);
    entry_clear(e);
    return FS_ECORRUPT;
}

static int load(evolution *ev, int64_t id, entry *e)
{
    fs_evolution row = { 0 };
    int rc = store_evolution_get(ev->st, id, &row);
    return rc ? rc : entry_take(e, &row);
}

static json_t *time_json(int64_t ms)
{
    if (!ms) return json_null();
    char buf[40];
    fs_time_format(ms, buf, sizeof buf);
    return json_string(buf);
}

static json_t *entry_json(const entry *e)
{
    json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s}", "id",
                          (json_int_t)e->row.id, "type", e->row.type,
                          "component", e->row.component, "description",
                          e->row.description, "proposed_by",
                          e->row.proposed_by, "status", e->row.status);
    json_object_update(o, e->data);
    json_object_set_new(o, "created_at", time_json(e->row.created_at));
    json_object_set_new(o, "updated_at", time_json(e->row.updated_at));
    json_object_set_new(o, "applied_at", time_json(e->row.applied_at));
    json_object_set_new(o, "rev", json_integer(e->row.rev));
    return o;
}

static void set_status(entry *e, const char *status)
{
    free(e->row.status);
    e->row.status = xstrdup(status);
}

static void history_add(evolution *ev, entry *e, const char *status,
                        const char *by, const char *note)
{
    json_t *h = json_object_get(e->data, "history");
    if (!json_is_array(h)) {
        h = json_array();
        json_object_set_new(e->data, "history", h);
    }
    json_t *step = json_pack("{s:s,s:o,s:s}", "status", status, "at",
                             time_json(fs_now(ev->clk)), "by", by);
    if (note) json_object_set_new(step, "note", json_string(note));
    json_array_append_new(h, step);
    set_status(e, status);
}

/* --- settings: the value of a component ---------------------------------- */

/* The latest applied change of component (by applied_at, then id):
 * *id = 0 when none.  OUT: *value (borrowed from *best, which the caller
 * clears), *id. */
static int current(evolution *ev, const char *component, entry *best,
                   int64_t *id)
{
    *id = 0;
    store_evolution_filter f = { .status = "applied", .component = component,
                                 .limit = PAGE };
    for (;;) {
        fs_evolution *rows;
        size_t n;
        int rc = store_evolution_list(ev->st, &f, &rows, &n);
        if (rc) return rc;
        for (size_t i = 0; i < n; i++) {
            json_t *d = json_loads(rows[i].data, 0, NULL);
            bool change = json_object_get(json_object_get(d, "change"), "to");
            json_decref(d);
            if (!change) continue;
            if (*id && (rows[i].applied_at < best->row.applied_at ||
                        (rows[i].applied_at == best->row.applied_at &&
                         rows[i].id < best->row.id)))
                continue;
            entry_clear(best);
            if (entry_take(best, &rows[i]) == 0) *id = best->row.id;
        }
        f.before_id = n ? rows[n - 1].id : 0;
        fs_evolutions_free(rows, n);
        if (n < PAGE) return 0;
    }
}

/* Calls on_change with value (NULL: the default) unless it had it
 * already, and remembers it.  The lock makes a refresh and a step on
 * another thread tell one after the other. */
static void tell(evolution *ev, const char *component, const json_t *value)
{
    pthread_mutex_lock(&ev->lock);
    json_t *had = json_object_get(ev->known, component);
    if (!(had && value ? json_equal(had, value) : had == value)) {
        ev->cfg.on_change(ev->cfg.ctx, component, value);
        if (value) json_object_set_new(ev->known, component, json_deep_copy(value));
        else json_object_del(ev->known, component);
    }
    pthread_mutex_unlock(&ev->lock);
}

/* Tells on_change the value of component now (NULL: its default). */
static void notify(evolution *ev, const char *component)
{
    if (!ev->cfg.on_change) return;
    entry best = { 0 };
    int64_t id;
    int rc = current(ev, component, &best, &id);
    if (rc) {
        log_error("evolution: cannot read %s: %s", component, fs_strerror(rc));
        return;
    }
    tell(ev, component, id ? json_object_get(json_object_get(best.data, "change"), "to")
                           : NULL);
    entry_clear(&best);
}

int evolution_settings(evolution *ev, json_t **out)
{
    json_t *all = json_object();
    store_evolution_filter f = { .status = "applied", .limit = PAGE };
    int rc = 0;
    for (;;) {
        fs_evolution *rows;
        size_t n;
        if ((rc = store_evolution_list(ev->st, &f, &rows, &n))) break;
        for (size_t i = 0; i < n; i++) {
            json_t *d = json_loads(rows[i].data, 0, NULL);
            json_t *to = json_object_get(json_object_get(d, "change"), "to");
            json_t *had = json_object_get(all, rows[i].component);
            int64_t at = json_integer_value(json_object_get(had, "at"));
            if (to && (!had || rows[i].applied_at > at))
                json_object_set_new(all, rows[i].component,
                                    json_pack("{s:O,s:I,s:I}", "value", to,
                                              "event", (json_int_t)rows[i].id,
                                              "at",
                                              (json_int_t)rows[i].applied_at));
            json_decref(d);
        }
        f.before_id = n ? rows[n - 1].id : 0;
        fs_evolutions_free(rows, n);
        if (n < PAGE) break;
    }
    if (rc) {
        json_decref(all);
        return rc;
    }
    const char *k;
    json_t *v;
    json_object_foreach(all, k, v) {
        json_object_set_new(v, "applied_at",
                            time_json(json_integer_value(json_object_get(v, "at"))));
        json_object_del(v, "at");
    }
    *out = all;
    return 0;
}

/* Tells on_change every value that differs from what it last got: the
 * ones set, and the ones gone back to their defaults. */
static int apply_all(evolution *ev)
{
    json_t *all, *gone = json_array(), *v;
    const char *k;
    int rc = evolution_settings(ev, &all);
    if (rc) {
        json_decref(gone);
        return rc;
    }
    json_object_foreach(all, k, v) tell(ev, k, json_object_get(v, "value"));
    pthread_mutex_lock(&ev->lock);
    json_object_foreach(ev->known, k, v)
        if (!json_object_get(all, k)) json_array_append_new(gone, json_string(k));
    pthread_mutex_unlock(&ev->lock);
    size_t i;
    json_array_foreach(gone, i, v) tell(ev, json_string_value(v), NULL);
    json_decref(gone);
    json_decref(all);
    return 0;
}

int evolution_apply_all(evolution *ev)
{
    return ev->cfg.on_change ? apply_all(ev) : 0;
}

static void *refresh_main(void *arg)
{
    evolution *ev = arg;
    pthread_mutex_lock(&ev->lock);
    while (!ev->stop) {
        fs_cond_wait_until(&ev->wake, &ev->lock, fs_mono_ms() + ev->cfg.refresh_ms);
        if (ev->stop) break;
        pthread_mutex_unlock(&ev->lock);
        int rc = apply_all(ev);
        if (rc) log_warn("evolution: cannot read the settings: %s", fs_strerror(rc));
        pthread_mutex_lock(&ev->lock);
    }
    pthread_mutex_unlock(&ev->lock);
    return NULL;
}

/* --- samples and validation ---------------------------------------------- */

static bool num(const json_t *o, const char *k, double *v)
{
    json_t *x = json_object_get(o, k);
    if (!json_is_number(x)) return false;
    *v = json_number_value(x);
    return isfinite(*v);
}

/* Reads a sample object at field (NULL = absent: *norm stays NULL).  OUT:
 * *s, *norm (the normalised JSON, with its mean). */
static int sample_read(const json_t *o, const char *field,
                       learn_evolve_sample *s, json_t **norm,
                       evolution_err *err)
{
    *norm = NULL;
    json_t *x = json_object_get(o, field);
    if (!x || json_is_null(x)) return 0;
    double k, n, mean, var;
    if (json_is_object(x) && num(x, "successes", &k) && num(x, "trials", &n)) {
        if (k < 0 || n < k || n > MAX_COUNT || k != floor(k) || n != floor(n))
            return fail(err, FS_EINVAL, field,
                        "needs whole successes <= trials <= 1e12");
        *s = learn_evolve_rate((uint64_t)k, (uint64_t)n);
        *norm = json_pack("{s:f,s:f,s:f}", "successes", k, "trials", n, "mean",
                          n > 0 ? k / n : 0.0);
        return 0;
    }
    if (json_is_object(x) && num(x, "n", &n) && num(x, "mean", &mean) &&
        num(x, "var", &var)) {
        if (n < 0 || n > MAX_COUNT || var < 0)
            return fail(err, FS_EINVAL, field, "needs 0 <= n <= 1e12 and var >= 0");
        *s = learn_evolve_moments(n, mean, var);
        *norm = json_pack("{s:f,s:f,s:f}", "n", n, "mean", mean, "var", var);
        return 0;
    }
    return fail(err, FS_EINVAL, field,
                "must be {\"successes\",\"trials\"} or {\"n\",\"mean\",\"var\"}");
}

/* Reads both samples of o into data (replacing any there).  OUT: *have
 * (both given).  One without the other is an error. */
static int samples_read(const json_t *o, json_t *data, learn_evolve_sample *a,
                        learn_evolve_sample *b, bool *have, evolution_err *err)
{
    json_t *na, *nb;
    int rc = sample_read(o, "metrics_before", a, &na, err);
    if (!rc && (rc = sample_read(o, "metrics_after", b, &nb, err))) json_decref(na);
    if (rc) return rc;
    if (!na != !nb) {
        json_decref(na);
        json_decref(nb);
        return fail(err, FS_EINVAL, na ? "metrics_after" : "metrics_before",
                    "is needed with the other sample");
    }
    *have = na != NULL;
    if (*have) {
        json_object_set_new(data, "metrics_before", na);
        json_object_set_new(data, "metrics_after", nb);
    }
    return 0;
}

/* The sample stored at data[field], read back. */
static bool sample_of(const json_t *data, const char *field,
                      learn_evolve_sample *s)
{
    json_t *x = json_object_get(data, field);
    double k, n, mean, var;
    if (num(x, "successes", &k) && num(x, "trials", &n)) {
        *s = learn_evolve_rate((uint64_t)k, (uint64_t)n);
        return true;
    }
    if (num(x, "n", &n) && num(x, "mean", &mean) && num(x, "var", &var)) {
        *s = learn_evolve_moments(n, mean, var);
        return true;
    }
    return false;
}

/* The raw mean of a stored sample (what a person reads). */
static double mean_of(const json_t *data, const char *field)
{
    double m = 0;
    num(json_object_get(data, field), "mean", &m);
    return m;
}

/* Judges the entry's samples: the verdict, and data.validation saying
 * why.  No samples: NEEDS_APPROVAL. */
static learn_evolve_verdict judge(evolution *ev, json_t *data)
{
    learn_evolve_sample a, b;
    const learn_evolve_policy *p = &ev->cfg.policy;
    json_t *val;
    learn_evolve_verdict v;
    double min;
    if (!sample_of(data, "metrics_before", &a) ||
        !sample_of(data, "metrics_after", &b)) {
        v = LEARN_EVOLVE_NEEDS_APPROVAL;
        val = json_pack("{s:s}", "reason", "no metrics to validate on");
    } else if (num(json_object_get(data, "require"), "min", &min)) {
        double got = mean_of(data, "metrics_after");
        v = b.n < p->min_n ? LEARN_EVOLVE_MORE_DATA
            : got >= min   ? LEARN_EVOLVE_APPLY
                           : LEARN_EVOLVE_REJECT;
        val = json_pack("{s:s,s:f,s:f}", "rule", "min", "min", min, "value", got);
    } else {
        learn_evolve_decision d;
        if (learn_evolve_decide(&a, &b, p, &d)) d.verdict = LEARN_EVOLVE_REJECT;
        v = d.verdict;
        val = json_pack("{s:s,s:f,s:f,s:f,s:f,s:f,s:f}", "rule", "lift",
                        "lift", d.lift, "se", d.se, "lo", d.lo, "hi", d.hi,
                        "margin", p->margin, "confidence", p->confidence);
    }
    json_object_set_new(val, "verdict",
                        json_string(learn_evolve_verdict_name(v)));
    json_object_set_new(data, "validation", val);
    return v;
}

/* --- applying ------------------------------------------------------------ */

/* Starts the monitor over the baseline (the control, or the candidate
 * under a "require" rule); no baseline or no room for it: no monitor. */
static void monitor_start(evolution *ev, json_t *data)
{
    learn_evolve_sample base;
    const char *field = json_object_get(data, "require") ? "metrics_after"
                                                         : "metrics_before";
    learn_evolve_monitor m;
    json_object_set_new(data, "observed", json_pack("{s:f,s:f}", "n", 0.0,
                                                    "sum", 0.0));
    if (!sample_of(data, field, &base) ||
        learn_evolve_monitor_init(&m, &base, &ev->cfg.monitor)) {
        json_object_del(data, "monitor");
        return;
    }
    json_object_set_new(data, "monitor", learn_evolve_monitor_to_json(&m));
}

/* proposed|validated -> applied, if the component's value is still the
 * change's "from".  Errors: FS_ECONFLICT (stale), store errors. */
static int apply(evolution *ev, entry *e, const char *by, const char *note,
                 evolution_err *err)
{
    json_t *change = json_object_get(e->data, "change");
    if (change) {
        entry best = { 0 };
        int64_t id;
        int rc = current(ev, e->row.component, &best, &id);
        if (rc) return rc;
        json_t *now = id ? json_object_get(json_object_get(best.data, "change"), "to")
                         : NULL;
        json_t *from = json_object_get(change, "from");
        if (now && !json_equal(now, from)) {
            char *v = fs_json_dump(now, JSON_ENCODE_ANY);
            rc = fail(err, FS_ECONFLICT, "change",
                      "is stale: %s is %s now (change #%lld)", e->row.component,
                      v ? v : "?", (long long)id);
            free(v);
        }
        entry_clear(&best);
        if (rc) return rc;
    }
    e->row.applied_at = fs_now(ev->clk);
    monitor_start(ev, e->data);
    history_add(ev, e, "applied", by, note);
    return 0;
}

/* Moves e by the verdict v (from proposing or validating). */
static int settle(evolution *ev, entry *e, learn_evolve_verdict v,
                  evolution_err *err)
{
    switch (v) {
    case LEARN_EVOLVE_MORE_DATA:
        return 0; /* stays proposed */
    case LEARN_EVOLVE_REJECT:
        history_add(ev, e, "rejected", "evolution", "confidently no better");
        return 0;
    case LEARN_EVOLVE_NEEDS_APPROVAL:
        if (json_object_get(e->data, "metrics_after"))
            history_add(ev, e, "validated", "evolution",
                        "not shown to clear the margin: waits for approval");
        return 0;
    default:
        break;
    }
    history_add(ev, e, "validated", "evolution", "clears the margin");
    if (ev->cfg.manual) {
        history_add(ev, e, "validated", "evolution",
                    "applying by itself is off: waits for approval");
        return 0;
    }
    int rc = apply(ev, e, "evolution", "applied by itself", err);
    if (rc != FS_ECONFLICT) return rc;
    history_add(ev, e, "rejected", "evolution", err->msg);
    return 0;
}

/* --- proposing ----------------------------------------------------------- */

static bool component_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > EVOLUTION_MAX_COMPONENT) return false;
    for (; *s; s++)
        if (!strchr("._:/-", *s) && !(*s >= 'a' && *s <= 'z') &&
            !(*s >= 'A' && *s <= 'Z') && !(*s >= '0' && *s <= '9'))
            return false;
    return true;
}

static int text_field(const json_t *o, const char *k, size_t max,
                      const char **out, evolution_err *err)
{
    json_t *x = json_object_get(o, k);
    if (!json_is_string(x) || !json_string_length(x))
        return fail(err, FS_EINVAL, k, "is required (a non-empty string)");
    if (json_string_length(x) > max)
        return fail(err, FS_EINVAL, k, "is longer than %zu bytes", max);
    *out = json_string_value(x);
    return 0;
}

/* The change object: {"from"?, "to"} with values of bounded size. */
static int change_read(const json_t *o, json_t *data, evolution_err *err)
{
    json_t *c = json_object_get(o, "change");
    if (!c || json_is_null(c)) return 0;
    if (!json_is_object(c) || !json_object_get(c, "to"))
        return fail(err, FS_EINVAL, "change", "must be {\"from\", \"to\"}");
    json_t *from = json_object_get(c, "from"), *to = json_object_get(c, "to");
    char *a = fs_json_dump(to, JSON_ENCODE_ANY);
    char *b = from ? fs_json_dump(from, JSON_ENCODE_ANY) : NULL;
    bool big = !a || strlen(a) > EVOLUTION_MAX_VALUE ||
               (b && strlen(b) > EVOLUTION_MAX_VALUE);
    free(a);
    free(b);
    if (big)
        return fail(err, FS_EINVAL, "change", "values must be under %d bytes",
                    EVOLUTION_MAX_VALUE);
    json_object_set_new(data, "change",
                        json_pack("{s:O,s:O}", "from", from ? from : json_null(),
                                  "to", to));
    return 0;
}

static int require_read(const json_t *o, json_t *data, evolution_err *err)
{
    json_t *r = json_object_get(o, "require");
    double min;
    if (!r || json_is_null(r)) return 0;
    if (!json_is_object(r) || !num(r, "min", &min))
        return fail(err, FS_EINVAL, "require", "must be {\"min\": a number}");
    json_object_set_new(data, "require", json_pack("{s:f}", "min", min));
    return 0;
}

static const char *const known[] = { "type",           "component",
                                     "description",    "proposed_by",
                                     "change",         "metrics_before",
                                     "metrics_after",  "require" };

/* The process's own rule for the new value (evolution_config.check). */
static int value_check(evolution *ev, const char *component, json_t *data,
                       evolution_err *err)
{
    json_t *to = json_object_get(json_object_get(data, "change"), "to");
    char why[200] = "";
    if (!to || !ev->cfg.check ||
        !ev->cfg.check(ev->cfg.ctx, component, to, why, sizeof why))
        return 0;
    return fail(err, FS_EINVAL, "change", "cannot set %s: %s", component, why);
}

/* Checks a proposal and fills e (row fields and data). */
static int proposal_read(evolution *ev, const json_t *p, entry *e,
                         bool *samples, evolution_err *err)
{
    const char *type, *component, *desc, *by, *k;
    json_t *v;
    learn_evolve_sample a, b;
    if (!json_is_object(p)) return fail(err, FS_EINVAL, "", "must be an object");
    json_object_foreach((json_t *)p, k, v)
        if (!in_list(k, known, sizeof known / sizeof *known))
            return fail(err, FS_EINVAL, k, "is not a field of a proposal");
    int rc = text_field(p, "type", 64, &type, err);
    if (!rc && !evolution_type_ok(type))
        rc = fail(err, FS_EINVAL, "type",
                  "must be parameter_tuning, knowledge_acquisition, "
                  "anomaly_response or workflow_change");
    if (!rc) rc = text_field(p, "component", EVOLUTION_MAX_COMPONENT, &component, err);
    if (!rc && !component_ok(component))
        rc = fail(err, FS_EINVAL, "component",
                  "may hold only letters, digits and . _ : / -");
    if (!rc) rc = text_field(p, "description", EVOLUTION_MAX_TEXT, &desc, err);
    if (!rc) rc = text_field(p, "proposed_by", 128, &by, err);
    e->data = json_object();
    if (!rc) rc = change_read(p, e->data, err);
    if (!rc) rc = value_check(ev, component, e->data, err);
    if (!rc) rc = require_read(p, e->data, err);
    if (!rc) rc = samples_read(p, e->data, &a, &b, samples, err);
    if (!rc && !strcmp(type, "parameter_tuning") && !json_object_get(e->data, "change"))
        rc = fail(err, FS_EINVAL, "change", "is required for parameter_tuning");
    if (rc) return rc;
    e->row.type = xstrdup(type);
    e->row.component = xstrdup(component);
    e->row.description = xstrdup(desc);
    e->row.proposed_by = xstrdup(by);
    return 0;
}

int evolution_propose(evolution *ev, const json_t *proposal, json_t **out,
                      evolution_err *err)
{
    entry e = { 0 };
    bool samples = false;
    int rc = proposal_read(ev, proposal, &e, &samples, err);
    if (rc) goto done;
    history_add(ev, &e, "proposed", e.row.proposed_by, NULL);
    if (!json_object_get(e.data, "change")) { /* a record of something done */
        e.row.applied_at = fs_now(ev->clk);
        history_add(ev, &e, "applied", e.row.proposed_by, "recorded");
    } else if ((rc = settle(ev, &e, judge(ev, e.data), err))) {
        goto done;
    }
    e.row.data = fs_json_dump(e.data, 0);
    if ((rc = store_evolution_add(ev->st, &e.row, fs_now(ev->clk)))) goto done;
    if (!strcmp(e.row.status, "applied") && json_object_get(e.data, "change"))
        notify(ev, e.row.component);
    *out = entry_json(&e);
done:
    entry_clear(&e);
    return rc;
}

/* --- steps on a stored entry --------------------------------------------- */

typedef int step_fn(evolution *ev, entry *e, void *arg, evolution_err *err);

typedef struct step_arg {
    const char *by, *note;
    const json_t *samples;
    double sum, count;
    bool changed; /* the component's value moved: tell on_change */
} step_arg;

/* Runs step on entry id until its write is not beaten by another. */
static int mutate(evolution *ev, int64_t id, step_fn *step, step_arg *a,
                  json_t **out, evolution_err *err)
{
    for (int tries = 0; tries < MAX_TRIES; tries++) {
        entry e = { 0 };
        a->changed = false;
        memset(err, 0, sizeof *err);
        int rc = load(ev, id, &e);
        if (rc == FS_ENOTFOUND) return fail(err, rc, "", "no such entry");
        if (!rc) rc = step(ev, &e, a, err);
        if (!rc) {
            free(e.row.data);
            e.row.data = fs_json_dump(e.data, 0);
            rc = store_evolution_update(ev->st, &e.row, fs_now(ev->clk));
        }
        if (!rc) {
            if (a->changed) notify(ev, e.row.component);
            *out = entry_json(&e);
        }
        entry_clear(&e);
        if (rc != FS_ECONFLICT || !strcmp(err->field, "change")) return rc;
    }
    return fail(err, FS_EBUSY, "", "the entry kept changing: try again");
}

static bool status_is(const entry *e, const char *s) { return !strcmp(e->row.status, s); }

static int wrong_state(const entry *e, evolution_err *err, const char *what)
{
    return fail(err, FS_ESTATE, "", "entry %lld is %s: %s", (long long)e->row.id,
                e->row.status, what);
}

static int step_validate(evolution *ev, entry *e, void *arg, evolution_err *err)
{
    step_arg *a = arg;
    bool have;
    learn_evolve_sample x, y;
    if (!status_is(e, "proposed"))
        return wrong_state(e, err, "only a proposed entry is validated again");
    int rc = samples_read(a->samples, e->data, &x, &y, &have, err);
    if (rc) return rc;
    if (!have) return fail(err, FS_EINVAL, "metrics_before", "is required");
    rc = settle(ev, e, judge(ev, e->data), err);
    a->changed = !rc && status_is(e, "applied");
    return rc;
}

int evolution_validate(evolution *ev, int64_t id, const json_t *samples,
                       json_t **out, evolution_err *err)
{
    step_arg a = { .samples = samples };
    return mutate(ev, id, step_validate, &a, out, err);
}

static int step_approve(evolution *ev, entry *e, void *arg, evolution_err *err)
{
    step_arg *a = arg;
    if (!status_is(e, "proposed") && !status_is(e, "validated"))
        return wrong_state(e, err, "only a proposed or validated entry is approved");
    int rc = apply(ev, e, a->by, a->note, err);
    a->changed = rc == 0;
    return rc;
}

static int step_reject(evolution *ev, entry *e, void *arg, evolution_err *err)
{
    step_arg *a = arg;
    if (!status_is(e, "proposed") && !status_is(e, "validated"))
        return wrong_state(e, err, "only a proposed or validated entry is rejected");
    history_add(ev, e, "rejected", a->by, a->note);
    return 0;
}

/* applied -> rolled_back, if no later change of the component is over it. */
static int roll_back(evolution *ev, entry *e, step_arg *a, evolution_err *err)
{
    if (!status_is(e, "applied"))
        return wrong_state(e, err, "only an applied entry is rolled back");
    if (json_object_get(e->data, "change")) {
        entry best = { 0 };
        int64_t id;
        int rc = current(ev, e->row.component, &best, &id);
        entry_clear(&best);
        if (rc) return rc;
        if (id != e->row.id)
            return fail(err, FS_ESTATE, "",
                        "change #%lld of %s came after it: roll that back first",
                        (long long)id, e->row.component);
    }
    if (a->note) json_object_set_new(e->data, "reason", json_string(a->note));
    history_add(ev, e, "rolled_back", a->by, a->note);
    a->changed = true;
    return 0;
}

static int step_rollback(evolution *ev, entry *e, void *arg, evolution_err *err)
{
    return roll_back(ev, e, arg, err);
}

static int check_by(const char *by, const char *note, evolution_err *err)
{
    if (!by || !*by || strlen(by) > 128)
        return fail(err, FS_EINVAL, "by", "must be 1..128 bytes");
    if (note && strlen(note) > EVOLUTION_MAX_TEXT)
        return fail(err, FS_EINVAL, "note", "is longer than %d bytes",
                    EVOLUTION_MAX_TEXT);
    return 0;
}

int evolution_approve(evolution *ev, int64_t id, const char *by,
                      const char *note, json_t **out, evolution_err *err)
{
    step_arg a = { .by = by, .note = note };
    int rc = check_by(by, note, err);
    return rc ? rc : mutate(ev, id, step_approve, &a, out, err);
}

int evolution_reject(evolution *ev, int64_t id, const char *by,
                     const char *note, json_t **out, evolution_err *err)
{
    step_arg a = { .by = by, .note = note };
    int rc = check_by(by, note, err);
    return rc ? rc : mutate(ev, id, step_reject, &a, out, err);
}

int evolution_rollback(evolution *ev, int64_t id, const char *by,
                       const char *note, json_t **out, evolution_err *err)
{
    step_arg a = { .by = by, .note = note };
    int rc = check_by(by, note, err);
    return rc ? rc : mutate(ev, id, step_rollback, &a, out, err);
}

/* --- watching ------------------------------------------------------------ */

static int step_observe(evolution *ev, entry *e, void *arg, evolution_err *err)
{
    (void)ev;
    step_arg *a = arg;
    if (!status_is(e, "applied"))
        return wrong_state(e, err, "outcomes are observed only while applied");
    json_t *o = json_object_get(e->data, "observed");
    double n = 0, sum = 0;
    num(o, "n", &n);
    num(o, "sum", &sum);
    json_object_set_new(e->data, "observed",
                        json_pack("{s:f,s:f}", "n", n + a->count, "sum",
                                  sum + a->sum));
    return 0;
}

int evolution_observe(evolution *ev, int64_t id, double sum, double count,
                      json_t **out, evolution_err *err)
{
    if (!isfinite(count) || count <= 0 || count > MAX_COUNT)
        return fail(err, FS_EINVAL, "count", "must be in (0, 1e12]");
    if (!isfinite(sum) || fabs(sum) > 1e15)
        return fail(err, FS_EINVAL, "sum", "must be a finite number");
    step_arg a = { .sum = sum, .count = count };
    return mutate(ev, id, step_observe, &a, out, err);
}

static int step_check(evolution *ev, entry *e, void *arg, evolution_err *err)
{
    step_arg *a = arg;
    learn_evolve_monitor m;
    json_t *mj = json_object_get(e->data, "monitor");
    if (!status_is(e, "applied") || !mj || learn_evolve_monitor_from_json(mj, &m) ||
        m.verdict != LEARN_EVOLVE_WATCH)
        return 0;
    double n = 0, sum = 0;
    json_t *o = json_object_get(e->data, "observed");
    num(o, "n", &n);
    num(o, "sum", &sum);
    if (n > m.n) learn_evolve_monitor_observe(&m, sum - m.sum, n - m.n);
    json_object_set_new(e->data, "monitor", learn_evolve_monitor_to_json(&m));
    if (m.verdict != LEARN_EVOLVE_ROLLBACK) return 0;
    char note[300];
    snprintf(note, sizeof note,
             "regressed: mean %.4g over %.0f outcomes since applied, below "
             "%.4g (the baseline's bound %.4g less the tolerance)",
             m.n > 0 ? m.sum / m.n : 0.0, m.n, m.regressed, m.ref);
    a->note = note;
    int rc = roll_back(ev, e, a, err);
    a->note = NULL;
    if (rc == FS_ESTATE) { /* a later change is over it: record only */
        history_add(ev, e, "applied", a->by, "regressed, but a later change "
                                             "replaced it already");
        rc = 0;
    }
    return rc;
}

int evolution_check(evolution *ev, int64_t id, const char *by, json_t **out,
                    evolution_err *err)
{
    step_arg a = { .by = by };
    int rc = check_by(by, NULL, err);
    return rc ? rc : mutate(ev, id, step_check, &a, out, err);
}

/* --- reading ------------------------------------------------------------- */

int evolution_get(evolution *ev, int64_t id, json_t **out)
{
    entry e = { 0 };
    int rc = load(ev, id, &e);
    if (rc) return rc;
    *out = entry_json(&e);
    entry_clear(&e);
    return 0;
}

int evolution_list(evolution *ev, const store_evolution_filter *f,
                   json_t **list, int64_t *next_cursor)
{
    store_evolution_filter g = *f;
    g.limit = f->limit + 1;
    fs_evolution *rows;
    size_t n;
    int rc = store_evolution_list(ev->st, &g, &rows, &n);
    if (rc) return rc;
    size_t shown = n > (size_t)f->limit ? (size_t)f->limit : n;
    *next_cursor = n > shown ? rows[shown - 1].id : 0;
    json_t *arr = json_array();
    for (size_t i = 0; i < shown; i++) {
        entry e = { 0 };
        if (entry_take(&e, &rows[i]) == 0) json_array_append_new(arr, entry_json(&e));
        entry_clear(&e);
    }
    fs_evolutions_free(rows, n);
    *list = arr;
    return 0;
}
