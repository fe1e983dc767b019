/*
 * wfrun.c - one workflow run in memory (the state machine is drawn in
 * wfrun.h).
 *
 * Each step has its main task and, once a for_each step fans out, an
 * array of item tasks.  The run keeps a context object
 * {"inputs","steps":{ID:{"output"}},"run":{"id"}} updated as steps are
 * satisfied, so rendering a step's input or testing its `when` costs the
 * size of what it reads, not of the run.  Each step counts its
 * dependencies not yet satisfied; the step is scheduled when that reaches
 * zero.  Every change marks its task dirty and appends events, jobs and
 * cancellations to the pending change.
 */
#include "workflow/wfrun.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/json.h"
#include "core/xmem.h"
#include "workflow/wfexpr.h"

typedef struct task {
    fs_run_task t;
    bool dirty;
} task;

typedef struct step_rt {
    task main;
    task *items;   /* for_each: t.items of them, or NULL */
    int waiting;   /* dependencies not satisfied yet */
    int items_done;
    bool satisfied;
} step_rt;

typedef struct pending_job {
    fs_job job;
    bool dropped;  /* cancelled before it was ever committed */
} pending_job;

struct wfrun {
    const wfdef *def;
    wfrun_config cfg;
    fs_run rec;
    json_t *ctx;           /* inputs, outputs of satisfied steps, run id */
    step_rt *steps;
    size_t nsteps, nflow, satisfied;
    int failed_step;       /* the step being compensated, -1 */
    bool more;             /* ready steps left for the next change */
    int compensating;      /* its compensation step, -1 */
    /* the pending change */
    task **dirty;
    size_t ndirty, capdirty;
    fs_run_event *ev;
    size_t nev, capev;
    pending_job *jobs;
    size_t njobs, capjobs;
    int64_t *cancel;
    size_t ncancel, capcancel;
    fs_run_task *ctasks;   /* handed out by wfrun_change */
    fs_job *cjobs;         /* the jobs moved out of `jobs` for the commit */
    size_t ncjobs;
    bool rec_dirty;
};

static void grow(void **p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap) return;
    *cap = *cap ? 2 * *cap : 16;
    *p = xrealloc(*p, *cap * size);
}

static char *dump(const json_t *v)
{
    return fs_json_dump(v, JSON_ENCODE_ANY);
}

static const wfdef_step *def_step(const wfrun *r, int s)
{
    return wfdef_step_at(r->def, s);
}

static void touch(wfrun *r, task *t)
{
    if (t->dirty) return;
    t->dirty = true;
    grow((void **)&r->dirty, &r->capdirty, r->ndirty, sizeof *r->dirty);
    r->dirty[r->ndirty++] = t;
}

static void set_state(wfrun *r, task *t, task_state st)
{
    t->t.state = st;
    touch(r, t);
}

/* Appends an event; data (may be NULL) is stolen. */
static void event(wfrun *r, const char *type, int step, int item, int attempt,
                  const char *error, json_t *data, int64_t now)
{
    grow((void **)&r->ev, &r->capev, r->nev, sizeof *r->ev);
    r->ev[r->nev++] = (fs_run_event){
        .at = now,
        .type = xstrdup(type),
        .step = step >= 0 ? xstrdup(def_step(r, step)->id) : NULL,
        .item = item,
        .attempt = attempt,
        .error = error ? xstrdup(error) : NULL,
        .data = data ? dump(data) : NULL,
    };
    json_decref(data);
    r->rec_dirty = true;
}

static task *task_of(wfrun *r, int step, int item)
{
    step_rt *s = &r->steps[step];
    if (item < 0) return &s->main;
    return s->items && item < s->main.t.items ? &s->items[item] : NULL;
}

static void set_output(wfrun *r, int step, json_t *out)
{
    json_t *steps = json_object_get(r->ctx, "steps");
    json_object_set_new(steps, def_step(r, step)->id,
                        json_pack("{s:o}", "output", out ? out : json_null()));
}

/* --- finishing the run ---------------------------------------------------- */

/* Cancels the jobs of scheduled and running tasks; their tasks and steps
 * become CANCELLED. */
static void stop_inflight(wfrun *r, int64_t now)
{
    for (size_t s = 0; s < r->nsteps; s++) {
        step_rt *st = &r->steps[s];
        int n = st->items ? st->main.t.items : 0;
        for (int i = -1; i < n; i++) {
            task *t = i < 0 ? &st->main : &st->items[i];
            if (t->t.state != TASK_SCHEDULED && t->t.state != TASK_RUNNING)
                continue;
            if (t->t.job_id) {
                grow((void **)&r->cancel, &r->capcancel, r->ncancel,
                     sizeof *r->cancel);
                r->cancel[r->ncancel++] = t->t.job_id;
            } else if (t->t.job_ref >= 0) {
                r->jobs[t->t.job_ref].dropped = true;
                t->t.job_ref = -1;
            }
            set_state(r, t, TASK_CANCELLED);
            t->t.finished_at = now;
            t->t.deadline = 0;
            if (i < 0) event(r, "step_cancelled", (int)s, -1, t->t.attempts,
                             NULL, NULL, now);
        }
    }
}

static void finish(wfrun *r, run_state st, const char *type,
                   const char *error, int64_t now)
{
    if (st != RUN_COMPLETED) stop_inflight(r, now);
    r->rec.state = st;
    free(r->rec.error);
    r->rec.error = error ? xstrdup(error) : NULL;
    r->rec.finished_at = now;
    r->rec_dirty = true;
    event(r, type, -1, -1, 0, error, NULL, now);
}

/* --- scheduling ---------------------------------------------------------- */

static void schedule(wfrun *r, int s, int64_t now);
static void step_failed(wfrun *r, int s, const char *error, int64_t now);

/* s is satisfied: its dependents may go; the run may be complete. */
static void satisfy(wfrun *r, int s, int64_t now)
{
    step_rt *st = &r->steps[s];
    if (st->satisfied) return;
    st->satisfied = true;
    r->satisfied++;
    const wfdef_step *d = def_step(r, s);
    for (size_t i = 0; i < d->ndependents; i++) {
        int dep = d->dependents[i];
        if (def_step(r, dep)->compensation_only) continue;
        if (--r->steps[dep].waiting == 0 &&
            r->steps[dep].main.t.state == TASK_PENDING &&
            r->rec.state == RUN_RUNNING && r->compensating < 0)
            schedule(r, dep, now);
    }
    if (r->satisfied == r->nflow && r->rec.state == RUN_RUNNING &&
        r->compensating < 0)
        finish(r, RUN_COMPLETED, "run_completed", NULL, now);
}

/* A new attempt of t (step s, item or -1), its job due at run_at. */
static void attempt(wfrun *r, int s, int item, task *t, int64_t run_at,
                    int64_t now)
{
    const wfdef_step *d = def_step(r, s);
    char err[512];
    json_t *in;
    if (item >= 0) {
        json_t *list = wfexpr_lookup(d->for_each, r->ctx);
        json_object_set(r->ctx, "item", json_array_get(list, (size_t)item));
    }
    in = wfexpr_render(d->input, r->ctx, err, sizeof err);
    json_object_del(r->ctx, "item");
    t->t.attempts++;
    t->t.deadline = 0;
    t->t.job_id = 0;
    free(t->t.error);
    t->t.error = NULL;
    if (!in) { /* a reference that is not there: no attempt can succeed */
        set_state(r, t, TASK_FAILED);
        t->t.error = xasprintf("input: %s", err);
        t->t.finished_at = now;
        if (item >= 0)
            event(r, "step_failed", s, item, t->t.attempts, t->t.error, NULL, now);
        step_failed(r, s, t->t.error, now);
        return;
    }
    grow((void **)&r->jobs, &r->capjobs, r->njobs, sizeof *r->jobs);
    pending_job *pj = &r->jobs[r->njobs];
    pj->dropped = false;
    pj->job = (fs_job){
        .type = xstrdup(d->job_type),
        .target_agent = d->agent ? xstrdup(d->agent) : NULL,
        .payload = dump(in),
        .run_at = run_at,
        .max_attempts = 1,
        .timeout_ms = d->timeout_ms ? d->timeout_ms : r->cfg.lease_ms,
        .unique_key = xasprintf("wf/%" PRId64 "/%d/%d/%d/%" PRId64, r->rec.id,
                                s, item, t->t.attempts, r->rec.rev),
        .run_id = r->rec.id,
    };
    json_decref(in);
    t->t.job_ref = (int)r->njobs++;
    set_state(r, t, TASK_SCHEDULED);
}

static void complete_step(wfrun *r, int s, json_t *out, int64_t now);

/* The for_each list of s, or NULL with *why set. */
static json_t *fan_list(wfrun *r, int s, char *why, size_t len)
{
    const wfdef_step *d = def_step(r, s);
    json_t *list = wfexpr_lookup(d->for_each, r->ctx);
    if (!json_is_array(list)) {
        snprintf(why, len, "for_each: %s is %s, not a list", d->for_each,
                 list ? "a JSON value" : "missing");
        return NULL;
    }
    return list;
}

/* Fans s out: one task per element (kept from an earlier try when the
 * run is retried: only the unfinished ones get a new attempt). */
static void fan_out(wfrun *r, int s, int64_t now)
{
    step_rt *st = &r->steps[s];
    char why[256];
    json_t *list = fan_list(r, s, why, sizeof why);
    if (!list) {
        st->main.t.attempts = 1;
        st->main.t.error = xstrdup(why);
        set_state(r, &st->main, TASK_FAILED);
        step_failed(r, s, why, now);
        return;
    }
    int n = (int)json_array_size(list);
    if (!st->items) {
        st->main.t.items = n;
        st->items = xcalloc(n ? (size_t)n : 1, sizeof *st->items);
        for (int i = 0; i < n; i++)
            st->items[i].t = (fs_run_task){ .run_id = r->rec.id, .step = s,
                                            .item = i, .job_ref = -1, .items = -1 };
    }
    set_state(r, &st->main, TASK_SCHEDULED);
    event(r, "step_scheduled", s, -1, 1, NULL, json_pack("{s:i}", "items", n), now);
    if (n == 0) {
        complete_step(r, s, json_array(), now);
        return;
    }
    for (int i = 0; i < n && st->main.t.state == TASK_SCHEDULED; i++)
        if (st->items[i].t.state != TASK_COMPLETED) {
            st->items[i].t.attempts = 0;
            attempt(r, s, i, &st->items[i], now, now);
        }
}

static void schedule(wfrun *r, int s, int64_t now)
{
    const wfdef_step *d = def_step(r, s);
    step_rt *st = &r->steps[s];
    bool run = true;
    char err[256];
    if (r->njobs >= WFRUN_CHANGE_JOBS && !d->compensation_only) {
        r->more = true; /* pending with its dependencies satisfied: later */
        return;
    }
    if (d->when && wfexpr_cond_eval(d->when, r->ctx, &run, err, sizeof err)) {
        st->main.t.error = xasprintf("when: %s", err);
        set_state(r, &st->main, TASK_FAILED);
        step_failed(r, s, st->main.t.error, now);
        return;
    }
    if (!run) {
        set_state(r, &st->main, TASK_SKIPPED);
        st->main.t.finished_at = now;
        event(r, "step_skipped", s, -1, 0, NULL,
              json_pack("{s:s}", "when", d->when), now);
        set_output(r, s, NULL);
        satisfy(r, s, now);
        return;
    }
    if (d->for_each) {
        fan_out(r, s, now);
        return;
    }
    attempt(r, s, -1, &st->main, now, now);
    if (st->main.t.state == TASK_SCHEDULED)
        event(r, "step_scheduled", s, -1, st->main.t.attempts, NULL, NULL, now);
}

/* Schedules every pending flow step whose dependencies are satisfied. */
static void schedule_ready(wfrun *r, int64_t now)
{
    for (size_t s = 0; s < r->nsteps && r->rec.state == RUN_RUNNING; s++)
        if (!def_step(r, (int)s)->compensation_only &&
            r->steps[s].main.t.state == TASK_PENDING && r->steps[s].waiting == 0)
            schedule(r, (int)s, now);
}

/* --- outcomes ------------------------------------------------------------- */

static void compensation_done(wfrun *r, int s, const char *error, int64_t now)
{
    const wfdef_step *failed = def_step(r, r->failed_step);
    char *msg = xasprintf("step %s failed: %s; compensation %s %s%s",
                          failed->id,
                          r->steps[r->failed_step].main.t.error
                              ? r->steps[r->failed_step].main.t.error : "",
                          def_step(r, s)->id, error ? "failed: " : "ran",
                          error ? error : "");
    r->compensating = -1;
    finish(r, RUN_FAILED, "run_failed", msg, now);
    free(msg);
}

static void complete_step(wfrun *r, int s, json_t *out, int64_t now)
{
    step_rt *st = &r->steps[s];
    free(st->main.t.output);
    st->main.t.output = dump(out);
    set_state(r, &st->main, TASK_COMPLETED);
    st->main.t.finished_at = now;
    st->main.t.deadline = 0;
    event(r, "step_completed", s, -1, st->main.t.attempts, NULL, NULL, now);
    if (def_step(r, s)->compensation_only) {
        json_decref(out);
        if (s == r->compensating) compensation_done(r, s, NULL, now);
        return;
    }
    set_output(r, s, out);
    satisfy(r, s, now);
}

/* Step s failed for good (its task's error is set). */
static void step_failed(wfrun *r, int s, const char *error, int64_t now)
{
    step_rt *st = &r->steps[s];
    const wfdef_step *d = def_step(r, s);
    if (st->main.t.state != TASK_FAILED) {
        free(st->main.t.error);
        st->main.t.error = xstrdup(error);
        set_state(r, &st->main, TASK_FAILED);
    }
    st->main.t.finished_at = now;
    st->main.t.deadline = 0;
    event(r, "step_failed", s, -1, st->main.t.attempts, error, NULL, now);
    if (r->rec.state != RUN_RUNNING) return;
    if (s == r->compensating) {
        compensation_done(r, s, error, now);
        return;
    }
    if (d->on_failure == WFDEF_CONTINUE) {
        set_output(r, s, NULL);
        satisfy(r, s, now);
        return;
    }
    char *msg = xasprintf("step %s failed: %s", d->id, error);
    if (d->on_failure == WFDEF_COMPENSATE && r->compensating < 0) {
        stop_inflight(r, now);
        r->failed_step = s;
        r->compensating = d->compensate;
        task *c = &r->steps[d->compensate].main;
        c->t.state = TASK_PENDING;
        c->t.attempts = 0;
        event(r, "step_compensating", s, -1, 0, error,
              json_pack("{s:s}", "compensation", def_step(r, d->compensate)->id),
              now);
        schedule(r, d->compensate, now);
    } else {
        finish(r, RUN_FAILED, "run_failed", msg, now);
    }
    free(msg);
}

/* An attempt of t failed: retry while the step allows, else fail. */
static void attempt_failed(wfrun *r, int s, int item, task *t,
                           const char *error, bool timed_out, int64_t now)
{
    const wfdef_step *d = def_step(r, s);
    t->t.deadline = 0;
    if (timed_out)
        event(r, "step_timed_out", s, item, t->t.attempts, error, NULL, now);
    if (t->t.attempts <= d->retries.max) {
        double rnd = r->cfg.rnd01 ? r->cfg.rnd01() : 0;
        int64_t delay = wfdef_backoff_ms(r->def, s, t->t.attempts, rnd);
        event(r, "step_retried", s, item, t->t.attempts + 1, error,
              json_pack("{s:I}", "delay_ms", (json_int_t)delay), now);
        attempt(r, s, item, t, now + delay, now);
        return;
    }
    free(t->t.error);
    t->t.error = xstrdup(error);
    t->t.finished_at = now;
    set_state(r, t, TASK_FAILED);
    if (item < 0) {
        step_failed(r, s, error, now);
        return;
    }
    event(r, "step_failed", s, item, t->t.attempts, error, NULL, now);
    char *msg = xasprintf("item %d: %s", item, error);
    step_failed(r, s, msg, now);
    free(msg);
}

static void item_completed(wfrun *r, int s, int64_t now)
{
    step_rt *st = &r->steps[s];
    if (++st->items_done < st->main.t.items) return;
    json_t *list = json_array();
    for (int i = 0; i < st->main.t.items; i++) {
        json_t *v = json_loads(st->items[i].t.output ? st->items[i].t.output : "null",
                               JSON_DECODE_ANY, NULL);
        json_array_append_new(list, v ? v : json_null());
    }
    complete_step(r, s, list, now);
}

static void job_started(wfrun *r, int s, int item, task *t, const fs_job *job,
                        int64_t now)
{
    const wfdef_step *d = def_step(r, s);
    set_state(r, t, TASK_RUNNING);
    t->t.started_at = job->started_at ? job->started_at : now;
    t->t.deadline = d->timeout_ms ? t->t.started_at + d->timeout_ms : 0;
    event(r, "step_started", s, item, t->t.attempts, NULL, NULL, now);
    task *m = &r->steps[s].main;
    if (item >= 0 && m->t.state == TASK_SCHEDULED) {
        set_state(r, m, TASK_RUNNING);
        m->t.started_at = t->t.started_at;
    } else if (item < 0) {
        m->t.started_at = t->t.started_at;
    }
}

void wfrun_job(wfrun *r, const fs_job *job, int64_t now)
{
    int64_t run;
    int s, item, n;
    if (!job->unique_key ||
        !wfrun_parse_key(job->unique_key, &run, &s, &item, &n) ||
        run != r->rec.id || s < 0 || (size_t)s >= r->nsteps)
        return;
    task *t = task_of(r, s, item);
    if (!t || t->t.attempts != n || t->t.job_id != job->id ||
        (t->t.state != TASK_SCHEDULED && t->t.state != TASK_RUNNING))
        return; /* an old attempt, or a state already acted on */
    switch (job->state) {
    case JOB_RUNNING:
        if (t->t.state == TASK_SCHEDULED) job_started(r, s, item, t, job, now);
        break;
    case JOB_COMPLETED: {
        if (t->t.state == TASK_SCHEDULED) job_started(r, s, item, t, job, now);
        json_t *out = json_loads(job->result ? job->result : "null",
                                 JSON_DECODE_ANY, NULL);
        if (!out) out = json_null();
        if (item < 0) {
            complete_step(r, s, out, now);
            break;
        }
        free(t->t.output);
        t->t.output = dump(out);
        json_decref(out);
        set_state(r, t, TASK_COMPLETED);
        t->t.finished_at = now;
        t->t.deadline = 0;
        event(r, "step_completed", s, item, t->t.attempts, NULL, NULL, now);
        item_completed(r, s, now);
        break;
    }
    case JOB_FAILED:
    case JOB_CANCELLED: {
        bool late = t->t.deadline && now >= t->t.deadline;
        const char *why = job->last_error ? job->last_error
                          : job->state == JOB_CANCELLED ? "job cancelled"
                                                        : "job failed";
        attempt_failed(r, s, item, t, why, late, now);
        break;
    }
    default:
        break; /* pending or scheduled again (retried by hand): not ours */
    }
}

/* --- deadlines ------------------------------------------------------------ */

static void time_out(wfrun *r, int s, int item, task *t, int64_t now)
{
    if (t->t.job_id) {
        grow((void **)&r->cancel, &r->capcancel, r->ncancel, sizeof *r->cancel);
        r->cancel[r->ncancel++] = t->t.job_id;
    }
    char *msg = xasprintf("timed out after %" PRId64 " ms",
                          def_step(r, s)->timeout_ms);
    attempt_failed(r, s, item, t, msg, true, now);
    free(msg);
}

void wfrun_tick(wfrun *r, int64_t now)
{
    if (r->rec.state != RUN_RUNNING) return;
    if (r->rec.deadline && now >= r->rec.deadline) {
        event(r, "run_timed_out", -1, -1, 0, NULL, NULL, now);
        char *msg = xasprintf("workflow timed out after %" PRId64 " ms",
                              wfdef_timeout_ms(r->def));
        r->compensating = -1;
        finish(r, RUN_FAILED, "run_failed", msg, now);
        free(msg);
        return;
    }
    for (size_t s = 0; s < r->nsteps && r->rec.state == RUN_RUNNING; s++) {
        step_rt *st = &r->steps[s];
        int n = st->items ? st->main.t.items : 0;
        for (int i = -1; i < n && r->rec.state == RUN_RUNNING; i++) {
            task *t = i < 0 ? &st->main : &st->items[i];
            if (i < 0 && st->items) continue; /* its items time out */
            if (t->t.state == TASK_RUNNING && t->t.deadline &&
                now >= t->t.deadline)
                time_out(r, (int)s, i, t, now);
        }
    }
}

int64_t wfrun_next_deadline(const wfrun *r)
{
    if (r->rec.state != RUN_RUNNING) return 0;
    int64_t next = r->rec.deadline;
    for (size_t s = 0; s < r->nsteps; s++) {
        const step_rt *st = &r->steps[s];
        int n = st->items ? st->main.t.items : 0;
        for (int i = -1; i < n; i++) {
            const task *t = i < 0 ? &st->main : &st->items[i];
            if (t->t.state == TASK_RUNNING && t->t.deadline &&
                (!next || t->t.deadline < next))
                next = t->t.deadline;
        }
    }
    return next;
}

/* --- cancel and retry ----------------------------------------------------- */

int wfrun_cancel(wfrun *r, int64_t now)
{
    if (r->rec.state != RUN_RUNNING) return FS_ESTATE;
    r->compensating = -1;
    finish(r, RUN_CANCELLED, "run_cancelled", NULL, now);
    return 0;
}

/* Counts, for every step, its dependencies not satisfied. */
static void count_waiting(wfrun *r)
{
    for (size_t s = 0; s < r->nsteps; s++) {
        const wfdef_step *d = def_step(r, (int)s);
        r->steps[s].waiting = 0;
        for (size_t i = 0; i < d->ndeps; i++)
            r->steps[s].waiting += !r->steps[d->deps[i]].satisfied;
    }
}

static void reset_task(wfrun *r, task *t)
{
    t->t.attempts = 0;
    t->t.job_id = 0;
    t->t.job_ref = -1;
    t->t.deadline = t->t.finished_at = 0;
    free(t->t.error);
    t->t.error = NULL;
    set_state(r, t, TASK_PENDING);
}

int wfrun_retry(wfrun *r, int64_t now)
{
    if (r->rec.state != RUN_FAILED && r->rec.state != RUN_CANCELLED)
        return FS_ESTATE;
    for (size_t s = 0; s < r->nsteps; s++) {
        step_rt *st = &r->steps[s];
        bool comp = def_step(r, (int)s)->compensation_only;
        task_state ms = st->main.t.state;
        if (comp ? ms != TASK_PENDING
                 : (ms == TASK_FAILED || ms == TASK_CANCELLED) && !st->satisfied)
            reset_task(r, &st->main);
        for (int i = 0; st->items && i < st->main.t.items; i++)
            if (st->items[i].t.state == TASK_FAILED ||
                st->items[i].t.state == TASK_CANCELLED)
                reset_task(r, &st->items[i]);
    }
    r->failed_step = r->compensating = -1;
    r->rec.state = RUN_RUNNING;
    free(r->rec.error);
    r->rec.error = NULL;
    r->rec.finished_at = 0;
    int64_t tmo = wfdef_timeout_ms(r->def);
    r->rec.deadline = tmo ? now + tmo : 0;
    event(r, "run_retried", -1, -1, 0, NULL, NULL, now);
    count_waiting(r);
    schedule_ready(r, now);
    return 0;
}

/* --- making and loading --------------------------------------------------- */

static wfrun *alloc_run(const wfdef *def, const wfrun_config *cfg)
{
    wfrun *r = xcalloc(1, sizeof *r);
    r->def = def;
    r->cfg = *cfg;
    r->nsteps = wfdef_nsteps(def);
    r->steps = xcalloc(r->nsteps, sizeof *r->steps);
    r->failed_step = r->compensating = -1;
    for (size_t s = 0; s < r->nsteps; s++) {
        r->steps[s].main.t = (fs_run_task){ .step = (int)s, .item = -1,
                                            .job_ref = -1, .items = -1 };
        r->nflow += !def_step(r, (int)s)->compensation_only;
    }
    return r;
}

static void set_ctx(wfrun *r, json_t *inputs)
{
    r->ctx = json_pack("{s:o,s:{},s:{s:I}}", "inputs", inputs, "steps", "run",
                       "id", (json_int_t)r->rec.id);
}

wfrun *wfrun_new(const wfdef *def, json_t *inputs, const wfrun_config *cfg,
                 int64_t now)
{
    wfrun *r = alloc_run(def, cfg);
    int64_t tmo = wfdef_timeout_ms(def);
    r->rec.workflow = xstrdup(wfdef_name(def));
    r->rec.version = (int)wfdef_version(def);
    r->rec.state = RUN_RUNNING;
    r->rec.inputs = dump(inputs);
    r->rec.deadline = tmo ? now + tmo : 0;
    set_ctx(r, inputs);
    event(r, "run_started", -1, -1, 0, NULL, NULL, now);
    return r; /* pending tasks are not stored: absent = pending */
}

void wfrun_start(wfrun *r, int64_t now)
{
    count_waiting(r);
    wfrun_resume(r, now);
}

/* Puts the loaded task t where it belongs.  false when it fits nowhere. */
static bool place(wfrun *r, fs_run_task *t)
{
    if (t->step < 0 || (size_t)t->step >= r->nsteps) return false;
    step_rt *st = &r->steps[t->step];
    if (t->item < 0) {
        st->main.t = *t;
        st->main.t.job_ref = -1;
        if (t->items >= 0 && !st->items)
            st->items = xcalloc(t->items ? (size_t)t->items : 1, sizeof *st->items);
        return true;
    }
    if (!st->items || t->item >= st->main.t.items) return false;
    st->items[t->item].t = *t;
    st->items[t->item].t.job_ref = -1;
    st->items_done += t->state == TASK_COMPLETED;
    return true;
}

/* Rebuilds satisfied steps, outputs and the compensation in progress. */
static int rebuild(wfrun *r)
{
    for (size_t s = 0; s < r->nsteps; s++) {
        step_rt *st = &r->steps[s];
        const wfdef_step *d = def_step(r, (int)s);
        task_state ms = st->main.t.state;
        if (d->compensation_only) {
            if (ms == TASK_SCHEDULED || ms == TASK_RUNNING) r->compensating = (int)s;
            continue;
        }
        bool ok = ms == TASK_COMPLETED || ms == TASK_SKIPPED ||
                  (ms == TASK_FAILED && d->on_failure == WFDEF_CONTINUE);
        if (!ok) {
            if (ms == TASK_FAILED && d->on_failure == WFDEF_COMPENSATE)
                r->failed_step = (int)s;
            continue;
        }
        json_t *out = NULL;
        if (ms == TASK_COMPLETED && st->main.t.output &&
            !(out = json_loads(st->main.t.output, JSON_DECODE_ANY, NULL)))
            return FS_ECORRUPT;
        set_output(r, (int)s, out);
        st->satisfied = true;
        r->satisfied++;
    }
    if (r->compensating < 0) r->failed_step = -1;
    count_waiting(r);
    return 0;
}

int wfrun_load(const wfdef *def, fs_run *rec, fs_run_task *tasks, size_t n,
               const wfrun_config *cfg, wfrun **out)
{
    wfrun *r = alloc_run(def, cfg);
    int rc = 0;
    r->rec = *rec;
    memset(rec, 0, sizeof *rec);
    json_t *inputs = json_loads(r->rec.inputs ? r->rec.inputs : "", 0, NULL);
    if (!json_is_object(inputs)) {
        json_decref(inputs);
        inputs = json_object();
        rc = FS_ECORRUPT;
    }
    set_ctx(r, inputs);
    /* main tasks first (they size the item arrays); tasks come ordered by
     * (step, item), so each step's main task precedes its items */
    for (size_t i = 0; i < n; i++) {
        if (!rc && !place(r, &tasks[i])) rc = FS_ECORRUPT;
        if (rc) fs_run_task_clear(&tasks[i]);
    }
    free(tasks);
    if (!rc) rc = rebuild(r);
    if (rc) {
        wfrun_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void wfrun_resume(wfrun *r, int64_t now)
{
    r->more = false;
    if (r->rec.state == RUN_RUNNING && r->compensating < 0)
        schedule_ready(r, now);
}

bool wfrun_more(const wfrun *r)
{
    return r->more && r->rec.state == RUN_RUNNING;
}

void wfrun_free(wfrun *r)
{
    if (!r) return;
    for (size_t s = 0; s < r->nsteps; s++) {
        step_rt *st = &r->steps[s];
        for (int i = 0; st->items && i < st->main.t.items; i++)
            fs_run_task_clear(&st->items[i].t);
        free(st->items);
        fs_run_task_clear(&st->main.t);
    }
    free(r->steps);
    for (size_t i = 0; i < r->nev; i++) fs_run_event_clear(&r->ev[i]);
    for (size_t i = 0; i < r->njobs; i++) fs_job_clear(&r->jobs[i].job);
    fs_jobs_free(r->cjobs, r->ncjobs);
    free(r->ev);
    free(r->jobs);
    free(r->dirty);
    free(r->cancel);
    free(r->ctasks);
    json_decref(r->ctx);
    fs_run_clear(&r->rec);
    free(r);
}

/* --- the pending change ---------------------------------------------------- */

const fs_run *wfrun_record(const wfrun *r) { return &r->rec; }
const wfdef *wfrun_def(const wfrun *r) { return r->def; }
bool wfrun_finished(const wfrun *r) { return r->rec.state != RUN_RUNNING; }

bool wfrun_dirty(const wfrun *r)
{
    return r->rec_dirty || r->ndirty || r->nev || r->njobs || r->ncancel;
}

void wfrun_touch(wfrun *r) { r->rec_dirty = true; }

void wfrun_change(wfrun *r, store_run_change *c)
{
    /* the jobs move to cjobs (the store may rewrite them), dropped ones
     * are freed; job_ref indexes are renumbered to match */
    int *moved = xmalloc((r->njobs ? r->njobs : 1) * sizeof *moved);
    fs_jobs_free(r->cjobs, r->ncjobs);
    r->cjobs = xmalloc((r->njobs ? r->njobs : 1) * sizeof *r->cjobs);
    r->ncjobs = 0;
    for (size_t i = 0; i < r->njobs; i++) {
        moved[i] = r->jobs[i].dropped ? -1 : (int)r->ncjobs;
        if (r->jobs[i].dropped) fs_job_clear(&r->jobs[i].job);
        else r->cjobs[r->ncjobs++] = r->jobs[i].job;
    }
    r->njobs = 0;
    free(r->ctasks);
    r->ctasks = xmalloc((r->ndirty ? r->ndirty : 1) * sizeof *r->ctasks);
    for (size_t i = 0; i < r->ndirty; i++) {
        task *t = r->dirty[i];
        if (t->t.job_ref >= 0) t->t.job_ref = moved[t->t.job_ref];
        r->ctasks[i] = t->t; /* shallow: strings stay the run's */
        r->ctasks[i].run_id = r->rec.id;
    }
    free(moved);
    *c = (store_run_change){
        .run = &r->rec,
        .tasks = r->ctasks, .ntasks = r->ndirty,
        .events = r->ev, .nevents = r->nev,
        .jobs = r->cjobs, .njobs = r->ncjobs,
        .cancel = r->cancel, .ncancel = r->ncancel,
    };
}

void wfrun_committed(wfrun *r, const store_run_change *c)
{
    for (size_t i = 0; i < r->ndirty; i++) {
        task *t = r->dirty[i];
        t->dirty = false;
        t->t.run_id = r->rec.id;
        if (t->t.job_ref >= 0) t->t.job_id = c->tasks[i].job_id;
        t->t.job_ref = -1;
    }
    json_object_set_new(json_object_get(r->ctx, "run"), "id",
                        json_integer(r->rec.id));
    for (size_t i = 0; i < r->nev; i++) fs_run_event_clear(&r->ev[i]);
    fs_jobs_free(r->cjobs, r->ncjobs);
    r->cjobs = NULL;
    r->ncjobs = 0;
    r->ndirty = r->nev = r->ncancel = 0;
    r->rec_dirty = false;
}

bool wfrun_parse_key(const char *key, int64_t *run, int *step, int *item,
                     int *attempt)
{
    int64_t rev;
    int used = 0;
    if (sscanf(key, "wf/%" SCNd64 "/%d/%d/%d/%" SCNd64 "%n", run, step, item,
               attempt, &rev, &used) != 5)
        return false;
    return key[used] == '\0';
}
