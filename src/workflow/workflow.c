/*
 * workflow.c - the workflow service and its engine thread (see
 * workflow.h for how runs stay durable).
 *
 * Two locks: `lock` guards the definitions and the runs in memory and is
 * held across a transition and its commit; `sig_lock` guards only the
 * wake-up flag, so the queue's listener never waits behind a commit.
 * Runs in memory sit in an array sorted by id (new runs append).
 */
#include "workflow/workflow.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/cond.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/xmem.h"
#include "workflow/templates.h"
#include "workflow/wfdef.h"
#include "workflow/wfrun.h"

#define SIGNAL_BATCH 1000
#define RESCAN_PAGE 200
#define STARTED_DELAY_MS 50
/* How often the engine looks for running runs it does not hold: those
 * another process on the same database left behind when it died (a run
 * stored but not yet started, a step deadline only it was watching). */
#define ADOPT_EVERY_MS 10000

typedef struct def_entry {
    char *name;
    int version;
    wfdef *def;
} def_entry;

struct workflow {
    store *st;
    queue *q;
    fs_clock clk;
    workflow_config cfg;
    wfrun_config rcfg;

    pthread_mutex_t lock;
    def_entry *defs;
    size_t ndefs, capdefs;
    wfrun **runs;            /* running runs, by id ascending */
    size_t nruns, capruns;
    bool rescan;             /* runs may be missing from memory: reload */
    _Atomic size_t nactive;  /* = nruns, read by the listener */

    pthread_mutex_t sig_lock;
    pthread_cond_t wake;
    bool signalled, stop;
    int64_t lazy_at;         /* monotonic ms to look at started jobs, 0 */
    pthread_t thread;
    bool thread_running;
};

/* --- definitions ------------------------------------------------------------ */

/* Caches def (taken) for good: runs borrow it. */
static void def_keep(workflow *w, wfdef *def)
{
    if (w->ndefs == w->capdefs) {
        w->capdefs = w->capdefs ? 2 * w->capdefs : 8;
        w->defs = xrealloc(w->defs, w->capdefs * sizeof *w->defs);
    }
    w->defs[w->ndefs++] = (def_entry){ xstrdup(wfdef_name(def)),
                                       (int)wfdef_version(def), def };
}

static bool def_cached(const workflow *w, const char *name, int version)
{
    for (size_t i = 0; i < w->ndefs; i++)
        if (w->defs[i].version == version && !strcmp(w->defs[i].name, name))
            return true;
    return false;
}

/* The parsed definition of (name, version 0 = latest), cached for good
 * (runs borrow it).  Errors: FS_ENOTFOUND, FS_ECORRUPT, FS_EIO. */
static int def_lookup(workflow *w, const char *name, int version,
                      const wfdef **out)
{
    for (size_t i = 0; version && i < w->ndefs; i++)
        if (w->defs[i].version == version && !strcmp(w->defs[i].name, name)) {
            *out = w->defs[i].def;
            return 0;
        }
    fs_workflow rec;
    int rc = store_workflow_get(w->st, name, version, &rec);
    if (rc) return rc;
    for (size_t i = 0; i < w->ndefs; i++)
        if (w->defs[i].version == rec.version && !strcmp(w->defs[i].name, name)) {
            *out = w->defs[i].def;
            fs_workflow_clear(&rec);
            return 0;
        }
    json_t *j = json_loads(rec.definition, 0, NULL), *problems = NULL;
    wfdef *def = NULL;
    rc = j && wfdef_parse(j, NULL, &def, &problems) == 0 ? 0 : FS_ECORRUPT;
    json_decref(j);
    json_decref(problems);
    if (!rc) {
        def_keep(w, def);
        *out = def;
    } else {
        log_error("workflow: stored definition %s v%d does not parse", name,
                  rec.version);
    }
    fs_workflow_clear(&rec);
    return rc;
}

int workflow_validate(const json_t *def, const char *const *known_agents,
                      json_t **problems)
{
    wfdef *d = NULL;
    int rc = wfdef_parse(def, known_agents, &d, problems);
    wfdef_free(d);
    return rc;
}

int workflow_register(workflow *w, const json_t *def,
                      const char *const *known_agents, fs_workflow *out,
                      json_t **problems)
{
    wfdef *d = NULL;
    int rc = wfdef_parse(def, known_agents, &d, problems);
    if (rc) return rc;
    json_t *canon = wfdef_to_json(d);
    fs_workflow rec = {
        .name = xstrdup(wfdef_name(d)),
        .version = (int)wfdef_version(d),
        .description = wfdef_description(d) ? xstrdup(wfdef_description(d)) : NULL,
        .definition = fs_json_dump(canon, JSON_SORT_KEYS),
    };
    json_decref(canon);
    pthread_mutex_lock(&w->lock);
    rc = store_workflow_put(w->st, &rec, fs_now(&w->clk));
    if (!rc && !def_cached(w, rec.name, rec.version)) {
        def_keep(w, d); /* the stored text is this definition's */
        d = NULL;
    }
    pthread_mutex_unlock(&w->lock);
    wfdef_free(d);
    if (!rc && out) *out = rec;
    else fs_workflow_clear(&rec);
    return rc;
}

int workflow_install_templates(workflow *w)
{
    int added = 0;
    for (size_t i = 0; i < wf_ntemplates; i++) {
        const wf_template *t = &wf_templates[i];
        json_t *j = json_loads(t->json, 0, NULL), *problems = NULL;
        fs_workflow rec = { 0 }, had = { 0 };
        int version = (int)json_integer_value(json_object_get(j, "version"));
        bool known = store_workflow_get(w->st, t->name, version ? version : 1,
                                        &had) == 0;
        int rc = known ? 0 : j ? workflow_register(w, j, NULL, &rec, &problems)
                               : FS_EINVAL;
        if (rc == FS_ECONFLICT)
            log_warn("workflow: template %s differs from the stored one of "
                     "that version; keeping the stored one", t->name);
        else if (rc)
            log_error("workflow: template %s does not register: %s", t->name,
                      fs_strerror(rc));
        added += !known && rc == 0;
        fs_workflow_clear(&rec);
        fs_workflow_clear(&had);
        json_decref(problems);
        json_decref(j);
    }
    return added;
}

int workflow_get(workflow *w, const char *name, int version, fs_workflow *out)
{
    return store_workflow_get(w->st, name, version, out);
}

int workflow_list(workflow *w, fs_workflow **out, size_t *n)
{
    return store_workflow_list(w->st, out, n);
}

int workflow_def(workflow *w, const char *name, int version,
                 const wfdef **out)
{
    pthread_mutex_lock(&w->lock);
    int rc = def_lookup(w, name, version, out);
    pthread_mutex_unlock(&w->lock);
    return rc;
}

int workflow_run_get(workflow *w, int64_t id, fs_run *out,
                     fs_run_task **tasks, size_t *ntasks)
{
    return store_run_get(w->st, id, out, tasks, ntasks);
}

int workflow_runs(workflow *w, const store_run_filter *f, fs_run **out,
                  size_t *n)
{
    return store_run_list(w->st, f, out, n);
}

int workflow_events(workflow *w, int64_t run_id, int64_t after_seq,
                    int limit, fs_run_event **out, size_t *n)
{
    return store_run_events(w->st, run_id, after_seq, limit, out, n);
}

/* --- runs in memory ------------------------------------------------------------ */

static size_t run_pos(const workflow *w, int64_t id)
{
    size_t lo = 0, hi = w->nruns;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (wfrun_record(w->runs[mid])->id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static wfrun *run_find(const workflow *w, int64_t id)
{
    size_t i = run_pos(w, id);
    return i < w->nruns && wfrun_record(w->runs[i])->id == id ? w->runs[i] : NULL;
}

static void run_insert(workflow *w, wfrun *r)
{
    if (w->nruns == w->capruns) {
        w->capruns = w->capruns ? 2 * w->capruns : 64;
        w->runs = xrealloc(w->runs, w->capruns * sizeof *w->runs);
    }
    size_t i = run_pos(w, wfrun_record(r)->id);
    memmove(&w->runs[i + 1], &w->runs[i], (w->nruns - i) * sizeof *w->runs);
    w->runs[i] = r;
    w->nruns++;
    atomic_store(&w->nactive, w->nruns);
}

/* Takes r out of memory (if there) and frees it. */
static void run_drop(workflow *w, wfrun *r)
{
    size_t i = run_pos(w, wfrun_record(r)->id);
    if (i < w->nruns && w->runs[i] == r) {
        memmove(&w->runs[i], &w->runs[i + 1], (w->nruns - i - 1) * sizeof *w->runs);
        w->nruns--;
        atomic_store(&w->nactive, w->nruns);
    }
    wfrun_free(r);
}

/* Loads run id from the store.  running_only: NULL (no error) when the
 * run has finished.  Errors: FS_ENOTFOUND, FS_ECORRUPT, FS_EIO. */
static int run_load(workflow *w, int64_t id, bool running_only, wfrun **out)
{
    fs_run rec;
    fs_run_task *tasks = NULL;
    size_t n = 0;
    *out = NULL;
    int rc = store_run_get(w->st, id, &rec, NULL, NULL);
    if (rc) return rc;
    bool running = rec.state == RUN_RUNNING;
    fs_run_clear(&rec);
    if (!running && running_only) return 0;
    rc = store_run_get(w->st, id, &rec, &tasks, &n);
    if (rc) return rc;
    const wfdef *def;
    rc = def_lookup(w, rec.workflow, rec.version, &def);
    if (rc) {
        fs_run_clear(&rec);
        fs_run_tasks_free(tasks, n);
        return rc == FS_ENOTFOUND ? FS_ECORRUPT : rc;
    }
    return wfrun_load(def, &rec, tasks, n, &w->rcfg, out);
}

/* --- committing --------------------------------------------------------------- */

/* Commits the transitions of the dirty runs among runs[0..n) with the
 * deletion of the given signals, and wakes workers for the new jobs. */
static int commit_once(workflow *w, wfrun **runs, size_t n, const int64_t *done,
                       size_t ndone)
{
    store_run_change *c = xcalloc(n ? n : 1, sizeof *c);
    wfrun **which = xcalloc(n ? n : 1, sizeof *which);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (wfrun_dirty(runs[i])) {
            wfrun_change(runs[i], &c[k]);
            which[k++] = runs[i];
        }
    int rc = k || ndone ? store_run_commit(w->st, c, k, done, ndone,
                                           fs_now(&w->clk))
                        : 0;
    int64_t now = fs_now(&w->clk), later = 0;
    size_t njobs = 0;
    for (size_t i = 0; i < k && !rc; i++) {
        njobs += c[i].njobs;
        for (size_t j = 0; j < c[i].njobs; j++)
            if (c[i].jobs[j].run_at > now && (!later || c[i].jobs[j].run_at < later))
                later = c[i].jobs[j].run_at;
        wfrun_committed(which[i], &c[i]);
    }
    free(c);
    free(which);
    if (!rc && njobs) queue_jobs_added(w->q, later);
    return rc;
}

/*
 * Commits the transitions of runs[0..n) (see commit_once), then, for runs
 * that left ready steps for later (wfrun_more: a change holds at most
 * WFRUN_CHANGE_JOBS new jobs, so workers start on a wide fan-out while the
 * rest is stored), the next part, until none is left.  On success finished
 * runs leave memory; on failure every run given is dropped (the store is
 * the truth) and a rescan reloads the running ones.
 */
static int commit(workflow *w, wfrun **runs, size_t n, const int64_t *done,
                  size_t ndone)
{
    int rc = commit_once(w, runs, n, done, ndone);
    wfrun **more = xmalloc((n ? n : 1) * sizeof *more);
    while (!rc) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (wfrun_more(runs[i])) {
                wfrun_resume(runs[i], fs_now(&w->clk));
                more[k++] = runs[i];
            }
        if (!k) break;
        rc = commit_once(w, more, k, NULL, 0);
    }
    free(more);
    if (rc) {
        /* A conflict is routine with several processes on one database
         * (another engine moved the run on first): not worth a warning. */
        log_event(rc == FS_ECONFLICT ? LOG_DEBUG : LOG_WARN, NULL, 0,
                  "workflow: commit failed (%s); reloading %zu run(s)",
                  fs_strerror(rc), n);
        for (size_t i = 0; i < n; i++) run_drop(w, runs[i]);
        w->rescan = true;
    } else {
        for (size_t i = 0; i < n; i++)
            if (wfrun_finished(runs[i])) run_drop(w, runs[i]);
    }
    return rc;
}

/* Loads every running run missing from memory and resumes it. */
static int rescan(workflow *w)
{
    store_run_filter f = { .state = RUN_RUNNING, .limit = RESCAN_PAGE };
    int rc = 0;
    w->rescan = false;
    for (;;) {
        fs_run *page;
        size_t n;
        if ((rc = store_run_list(w->st, &f, &page, &n))) break;
        for (size_t i = 0; i < n && !rc; i++) {
            wfrun *r;
            if (run_find(w, page[i].id)) continue;
            int lrc = run_load(w, page[i].id, true, &r);
            if (lrc) {
                log_error("workflow: run %lld cannot be loaded: %s",
                          (long long)page[i].id, fs_strerror(lrc));
                continue;
            }
            if (!r) continue;
            run_insert(w, r);
            wfrun_resume(r, fs_now(&w->clk));
            rc = commit(w, &r, 1, NULL, 0);
        }
        int64_t last = n ? page[n - 1].id : 0;
        fs_runs_free(page, n);
        if (rc || n < (size_t)f.limit) break;
        f.before_id = last;
    }
    if (rc) w->rescan = true;
    return rc;
}

/* --- the engine ------------------------------------------------------------------ */

typedef struct sig_ref {
    int64_t run_id;
    size_t i;
} sig_ref;

static int cmp_sig(const void *a, const void *b)
{
    const sig_ref *x = a, *y = b;
    if (x->run_id != y->run_id) return x->run_id < y->run_id ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* Applies one batch of signals.  OUT: *n, how many there were. */
static int apply_signals(workflow *w, size_t *n)
{
    store_job_signal *sig;
    int rc = store_job_signals(w->st, 0, SIGNAL_BATCH, &sig, n);
    if (rc || *n == 0) return rc;
    sig_ref *order = xmalloc(*n * sizeof *order);
    int64_t *done = xmalloc(*n * sizeof *done);
    wfrun **touched = xmalloc(*n * sizeof *touched);
    size_t nt = 0, nd = 0;
    for (size_t i = 0; i < *n; i++) order[i] = (sig_ref){ sig[i].run_id, i };
    qsort(order, *n, sizeof *order, cmp_sig);
    int64_t now = fs_now(&w->clk), unread = 0;
    int load_rc = 0;
    for (size_t i = 0; i < *n; i++) {
        store_job_signal *s = &sig[order[i].i];
        wfrun *r = run_find(w, s->run_id);
        if (!r && (i == 0 || order[i - 1].run_id != s->run_id)) {
            int lrc = run_load(w, s->run_id, true, &r);
            if (lrc && lrc != FS_ENOTFOUND) {
                log_error("workflow: run %lld cannot be loaded: %s",
                          (long long)s->run_id, fs_strerror(lrc));
                if (lrc != FS_ECORRUPT) { /* the store failed: keep them */
                    unread = s->run_id;
                    load_rc = lrc;
                }
            }
            if (r) run_insert(w, r);
        }
        if (s->run_id == unread) continue;
        done[nd++] = s->id;
        if (!r || !s->job.id) continue;
        wfrun_job(r, &s->job, now);
        /* The signal is deleted with this commit, so the commit must check
         * the run's rev even when wfrun_job changed nothing: a copy left
         * behind by another engine's commit (another process on the same
         * database) knows no job of a later step and would ignore, and so
         * lose, that job's signal.  A conflict reloads the run instead. */
        wfrun_touch(r);
        if (!nt || touched[nt - 1] != r) touched[nt++] = r;
    }
    rc = commit(w, touched, nt, done, nd);
    if (!rc) rc = load_rc; /* what was kept waits for the next round */
    free(order);
    free(done);
    free(touched);
    store_job_signals_free(sig, *n);
    return rc;
}

/* Times out what is due; OUT: *next, the next deadline (0 = none). */
static int apply_deadlines(workflow *w, int64_t *next)
{
    int64_t now = fs_now(&w->clk);
    wfrun **due = xmalloc((w->nruns ? w->nruns : 1) * sizeof *due);
    size_t nd = 0;
    *next = 0;
    for (size_t i = 0; i < w->nruns; i++) {
        int64_t d = wfrun_next_deadline(w->runs[i]);
        if (d && d <= now) {
            wfrun_tick(w->runs[i], now);
            due[nd++] = w->runs[i];
            d = wfrun_next_deadline(w->runs[i]);
        }
        if (d && (!*next || d < *next)) *next = d;
    }
    int rc = commit(w, due, nd, NULL, 0);
    free(due);
    return rc;
}

/* One round under w->lock.  OUT: *next deadline. */
static int process_locked(workflow *w, int64_t *next)
{
    int rc = 0;
    if (w->rescan) rc = rescan(w);
    size_t n = SIGNAL_BATCH;
    while (!rc && n == SIGNAL_BATCH) rc = apply_signals(w, &n);
    if (!rc) rc = apply_deadlines(w, next);
    return rc;
}

int workflow_process(workflow *w)
{
    int64_t next;
    pthread_mutex_lock(&w->lock);
    int rc = process_locked(w, &next);
    pthread_mutex_unlock(&w->lock);
    return rc;
}

/* Finished jobs wake the engine at once; started ones within
 * STARTED_DELAY_MS, so a short step's start and finish make one commit. */
static void listener(void *ctx, bool urgent)
{
    workflow *w = ctx;
    if (!atomic_load(&w->nactive)) return; /* the sweep covers the rest */
    pthread_mutex_lock(&w->sig_lock);
    if (urgent) {
        w->signalled = true;
        pthread_cond_signal(&w->wake);
    } else if (!w->lazy_at) {
        w->lazy_at = fs_mono_ms() + STARTED_DELAY_MS;
        pthread_cond_signal(&w->wake);
    }
    pthread_mutex_unlock(&w->sig_lock);
}

static void kick(workflow *w)
{
    pthread_mutex_lock(&w->sig_lock);
    w->signalled = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->sig_lock);
}

/* Sleeps until signalled, the lazy wake-up or wake_at (monotonic ms).
 * Returns false when the service is stopping. */
static bool engine_wait(workflow *w, int64_t wake_at)
{
    pthread_mutex_lock(&w->sig_lock);
    for (;;) {
        int64_t now = fs_mono_ms();
        if (w->stop || w->signalled || (w->lazy_at && now >= w->lazy_at) ||
            now >= wake_at)
            break;
        fs_cond_wait_until(&w->wake, &w->sig_lock,
                           w->lazy_at && w->lazy_at < wake_at ? w->lazy_at : wake_at);
    }
    bool go = !w->stop;
    w->signalled = false;
    w->lazy_at = 0;
    pthread_mutex_unlock(&w->sig_lock);
    return go;
}

static void *engine_main(void *arg)
{
    workflow *w = arg;
    int64_t wake_at = 0, adopt_at = fs_mono_ms() + ADOPT_EVERY_MS;
    while (engine_wait(w, wake_at)) {
        int64_t next = 0;
        pthread_mutex_lock(&w->lock);
        if (fs_mono_ms() >= adopt_at) {
            w->rescan = true;
            adopt_at = fs_mono_ms() + ADOPT_EVERY_MS;
        }
        int rc = process_locked(w, &next);
        pthread_mutex_unlock(&w->lock);
        int64_t now = fs_now(&w->clk), wait = w->cfg.sweep_ms;
        if (rc && rc != FS_ECONFLICT)
            log_warn("workflow: engine: %s", fs_strerror(rc));
        else if (next && next - now < wait) wait = next > now ? next - now : 0;
        wake_at = fs_mono_ms() + wait;
    }
    return NULL;
}

/* --- runs: start, cancel, retry ----------------------------------------------- */

int workflow_start(workflow *w, const char *name, int version,
                   const json_t *inputs, fs_run *out, char *err,
                   size_t errlen)
{
    const wfdef *def;
    json_t *in;
    pthread_mutex_lock(&w->lock);
    int rc = def_lookup(w, name, version, &def);
    if (!rc) rc = wfdef_resolve_inputs(def, inputs, &in, err, errlen);
    if (rc) goto out;
    wfrun *r = wfrun_new(def, in, &w->rcfg, fs_now(&w->clk));
    rc = commit(w, &r, 1, NULL, 0); /* the run, its steps pending: an id */
    if (rc) goto out;               /* (commit dropped r) */
    int64_t id = wfrun_record(r)->id;
    run_insert(w, r);
    wfrun_start(r, fs_now(&w->clk));
    if (commit(w, &r, 1, NULL, 0)) kick(w); /* stored; the rescan starts it */
    rc = store_run_get(w->st, id, out, NULL, NULL);
out:
    pthread_mutex_unlock(&w->lock);
    return rc;
}

/* Applies op (cancel or retry) to run id and commits it. */
static int run_op(workflow *w, int64_t id, int (*op)(wfrun *, int64_t),
                  fs_run *out)
{
    pthread_mutex_lock(&w->lock);
    wfrun *r = run_find(w, id);
    int rc = 0;
    if (!r && !(rc = run_load(w, id, false, &r))) run_insert(w, r);
    if (!rc) rc = op(r, fs_now(&w->clk));
    if (rc == FS_ESTATE && wfrun_finished(r)) run_drop(w, r);
    if (!rc) rc = commit(w, &r, 1, NULL, 0);
    if (!rc && out) rc = store_run_get(w->st, id, out, NULL, NULL);
    pthread_mutex_unlock(&w->lock);
    return rc;
}

int workflow_cancel(workflow *w, int64_t id, fs_run *out)
{
    return run_op(w, id, wfrun_cancel, out);
}

int workflow_retry(workflow *w, int64_t id, fs_run *out)
{
    return run_op(w, id, wfrun_retry, out);
}

/* --- open / close ------------------------------------------------------------ */

int workflow_open(workflow **out, store *st, queue *q, const fs_clock *clk,
                  const workflow_config *cfg)
{
    workflow *w = xcalloc(1, sizeof *w);
    w->st = st;
    w->q = q;
    w->clk = clk ? *clk : fs_clock_real;
    w->cfg = cfg ? *cfg : (workflow_config){ .thread = true };
    if (w->cfg.lease_ms <= 0) w->cfg.lease_ms = 30000;
    if (w->cfg.sweep_ms <= 0) w->cfg.sweep_ms = 1000;
    w->rcfg = (wfrun_config){ .lease_ms = w->cfg.lease_ms, .rnd01 = fs_rand01 };
    pthread_mutex_init(&w->lock, NULL);
    pthread_mutex_init(&w->sig_lock, NULL);
    fs_cond_init(&w->wake);
    w->rescan = true;
    int rc = workflow_process(w); /* runs a crash interrupted carry on */
    if (rc) log_warn("workflow: resuming runs: %s", fs_strerror(rc));
    queue_set_listener(q, listener, w);
    if (w->cfg.thread) {
        if (pthread_create(&w->thread, NULL, engine_main, w)) {
            workflow_close(w);
            return FS_EIO;
        }
        w->thread_running = true;
    }
    *out = w;
    return 0;
}

void workflow_close(workflow *w)
{
    if (!w) return;
    queue_set_listener(w->q, NULL, NULL);
    if (w->thread_running) {
        pthread_mutex_lock(&w->sig_lock);
        w->stop = true;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->sig_lock);
        pthread_join(w->thread, NULL);
    }
    for (size_t i = 0; i < w->nruns; i++) wfrun_free(w->runs[i]);
    free(w->runs);
    for (size_t i = 0; i < w->ndefs; i++) {
        free(w->defs[i].name);
        wfdef_free(w->defs[i].def);
    }
    free(w->defs);
    pthread_mutex_destroy(&w->lock);
    pthread_mutex_destroy(&w->sig_lock);
    pthread_cond_destroy(&w->wake);
    free(w);
}
