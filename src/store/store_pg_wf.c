/*
 * store_pg_wf.c - the workflow part of the PostgreSQL backend: definitions,
 * runs with their tasks and events, the atomic run commit, and the job
 * signals the plpgsql trigger on jobs writes (see store.h for the
 * contract; store_sqlite_wf.c is the same on SQLite).
 *
 * A workflow commit is one transaction however many runs it touches.  Each
 * existing run is updated first with "WHERE id AND rev": two engines
 * committing the same run serialise on its row, and the second matches
 * nothing (FS_ECONFLICT), which rolls the whole transaction back, so none
 * of its rows, jobs, events or signal deletions are written.  That row
 * lock also orders the run's event seqs.  The caller's structs are filled
 * only after the commit.
 */
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/xmem.h"
#include "store/pg_conn.h"
#include "store/store.h"

/* --- workflow definitions --------------------------------------------- */

typedef struct wf_arg {
    const fs_workflow *in;
    const char *name;
    int version;
    int64_t now, created_at;
    fs_workflow *out;
    size_t n;
} wf_arg;

/* Inserts, or compares with the definition already under that version. */
static int workflow_put_fn(pgc *c, void *arg)
{
    wf_arg *a = arg;
    const fs_workflow *w = a->in;
    pgc_params p = { 0 };
    pgc_text(&p, w->name);
    pgc_int(&p, w->version);
    pgc_text(&p, w->description);
    pgc_text(&p, w->definition);
    pgc_int(&p, a->now);
    int rc = pgc_exec(c, PG_WF_INSERT, &p, NULL);
    if (rc) return rc;
    a->created_at = a->now;
    if (pgc_changes(c)) return 0;
    p = (pgc_params){ 0 };
    pgc_text(&p, w->name);
    pgc_int(&p, w->version);
    PGresult *r;
    if ((rc = pgc_one(c, PG_WF_GET, &p, &r)))
        return rc == FS_ENOTFOUND ? FS_EIO : rc;
    rc = strcmp(PQgetvalue(r, 0, 3), w->definition) ? FS_ECONFLICT : 0;
    a->created_at = pgc_get_int(r, 0, 4);
    PQclear(r);
    return rc;
}

int pgs_workflow_put(store *st, fs_workflow *w, int64_t now)
{
    if (!w->name || !w->definition || w->version < 1) return FS_EINVAL;
    wf_arg a = { .in = w, .now = now };
    int rc = pgc_run(pgs_pool(st), PGC_WRITE, workflow_put_fn, &a);
    if (!rc) w->created_at = a.created_at;
    return rc;
}

static int workflow_get_fn(pgc *c, void *arg)
{
    wf_arg *a = arg;
    pgc_params p = { 0 };
    pgc_text(&p, a->name);
    if (a->version) pgc_int(&p, a->version);
    PGresult *r;
    int rc = pgc_one(c, a->version ? PG_WF_GET : PG_WF_LATEST, &p, &r);
    if (rc) return rc;
    pgc_read_workflow(r, 0, a->out);
    PQclear(r);
    return 0;
}

int pgs_workflow_get(store *st, const char *name, int version,
                     fs_workflow *out)
{
    if (!name) return FS_EINVAL;
    wf_arg a = { .name = name, .version = version, .out = out };
    return pgc_run(pgs_pool(st), PGC_READ, workflow_get_fn, &a);
}

static void row_workflow(const PGresult *r, int row, void *rec)
{
    pgc_read_workflow(r, row, rec);
}

static void row_run(const PGresult *r, int row, void *rec)
{
    pgc_read_run(r, row, rec);
}

static void row_task(const PGresult *r, int row, void *rec)
{
    pgc_read_task(r, row, rec);
}

static void row_event(const PGresult *r, int row, void *rec)
{
    pgc_read_event(r, row, rec);
}

static int workflow_list_fn(pgc *c, void *arg)
{
    wf_arg *a = arg;
    return pgc_collect(c, PG_WF_LIST, NULL, sizeof(fs_workflow),
                       row_workflow, (void **)&a->out, &a->n);
}

int pgs_workflow_list(store *st, fs_workflow **out, size_t *n)
{
    wf_arg a = { 0 };
    int rc = pgc_run(pgs_pool(st), PGC_READ, workflow_list_fn, &a);
    if (!rc) {
        *out = a.out;
        *n = a.n;
    }
    return rc;
}

/* --- workflow runs: reads --------------------------------------------- */

typedef struct run_arg {
    int64_t id, after;
    int limit;
    const store_run_filter *f;
    fs_run *run;
    void *rows;     /* tasks, runs, events or signals */
    size_t n;
    bool want_rows;
} run_arg;

/* The run and its tasks from one snapshot, so they agree with run->rev. */
static int run_get_fn(pgc *c, void *arg)
{
    run_arg *a = arg;
    pgc_params p = { 0 };
    pgc_int(&p, a->id);
    PGresult *r;
    int rc = pgc_one(c, PG_RUN_GET, &p, &r);
    if (rc) return rc;
    fs_run_clear(a->run);
    pgc_read_run(r, 0, a->run);
    PQclear(r);
    if (!a->want_rows) return 0;
    fs_run_tasks_free(a->rows, a->n);
    a->rows = NULL;
    a->n = 0;
    return pgc_collect(c, PG_TASK_LIST, &p, sizeof(fs_run_task), row_task,
                       &a->rows, &a->n);
}

int pgs_run_get(store *st, int64_t id, fs_run *out, fs_run_task **tasks,
                size_t *ntasks)
{
    fs_run run = { 0 };
    run_arg a = { .id = id, .run = &run, .want_rows = tasks != NULL };
    int rc = pgc_run(pgs_pool(st), PGC_SNAPSHOT, run_get_fn, &a);
    if (rc) {
        fs_run_clear(&run);
        fs_run_tasks_free(a.rows, a.n);
        return rc;
    }
    *out = run;
    if (tasks) {
        *tasks = a.rows;
        *ntasks = a.n;
    }
    return 0;
}

static int run_list_fn(pgc *c, void *arg)
{
    run_arg *a = arg;
    const store_run_filter *f = a->f;
    pgc_params p = { 0 };
    pgc_text(&p, f->workflow);
    if (f->state >= 0) pgc_int(&p, f->state);
    else pgc_text(&p, NULL);
    pgc_time(&p, f->before_id);
    pgc_int(&p, f->limit);
    return pgc_collect(c, PG_RUN_LIST, &p, sizeof(fs_run), row_run, &a->rows,
                       &a->n);
}

int pgs_run_list(store *st, const store_run_filter *f, fs_run **out,
                 size_t *n)
{
    if (f->limit < 1 || f->state < -1 || f->state >= RUN_NSTATES)
        return FS_EINVAL;
    run_arg a = { .f = f };
    int rc = pgc_run(pgs_pool(st), PGC_READ, run_list_fn, &a);
    if (!rc) {
        *out = a.rows;
        *n = a.n;
    }
    return rc;
}

static int run_events_fn(pgc *c, void *arg)
{
    run_arg *a = arg;
    pgc_params p = { 0 };
    pgc_int(&p, a->id);
    pgc_int(&p, a->after);
    pgc_int(&p, a->limit);
    return pgc_collect(c, PG_EVENT_LIST, &p, sizeof(fs_run_event), row_event,
                       &a->rows, &a->n);
}

int pgs_run_events(store *st, int64_t run_id, int64_t after_seq, int limit,
                   fs_run_event **out, size_t *n)
{
    if (limit < 1 || limit > 10000) return FS_EINVAL;
    run_arg a = { .id = run_id, .after = after_seq, .limit = limit };
    int rc = pgc_run(pgs_pool(st), PGC_READ, run_events_fn, &a);
    if (!rc) {
        *out = a.rows;
        *n = a.n;
    }
    return rc;
}

/* Job columns first (PGC_JOB_COLS_), then the signal's id and run. */
static void row_signal(const PGresult *r, int row, void *rec)
{
    store_job_signal *sig = rec;
    pgc_read_job(r, row, 0, &sig->job);
    sig->id = pgc_get_int(r, row, 22);
    sig->run_id = pgc_get_int(r, row, 23);
}

static int job_signals_fn(pgc *c, void *arg)
{
    run_arg *a = arg;
    pgc_params p = { 0 };
    pgc_int(&p, a->after);
    pgc_int(&p, a->limit);
    return pgc_collect(c, PG_SIGNAL_LIST, &p, sizeof(store_job_signal),
                       row_signal, &a->rows, &a->n);
}

int pgs_job_signals(store *st, int64_t after_id, int limit,
                    store_job_signal **out, size_t *n)
{
    if (limit < 1 || limit > 10000) return FS_EINVAL;
    run_arg a = { .after = after_id, .limit = limit };
    int rc = pgc_run(pgs_pool(st), PGC_READ, job_signals_fn, &a);
    if (!rc) {
        *out = a.rows;
        *n = a.n;
    }
    return rc;
}

/* --- workflow runs: the commit ---------------------------------------- */

/* What the commit learnt about one change; it reaches the caller's structs
 * only once the transaction has committed. */
typedef struct change_out {
    int64_t run_id, rev;
    int64_t seq0;      /* the run's last event seq before this commit */
    pgs_enqueue jobs;
} change_out;

typedef struct commit_arg {
    store_run_change *c;
    size_t n;
    const char *done;  /* bigint[] literal of the signals to delete */
    size_t ndone;
    int64_t now;
    change_out *out;
} commit_arg;

static int run_insert(pgc *c, const fs_run *r, int64_t now, change_out *o)
{
    pgc_params p = { 0 };
    pgc_text(&p, r->workflow);
    pgc_int(&p, r->version);
    pgc_int(&p, (int)r->state);
    pgc_text(&p, r->inputs ? r->inputs : "{}");
    pgc_text(&p, r->error);
    pgc_time(&p, r->deadline);
    pgc_int(&p, now);
    pgc_time(&p, r->finished_at);
    PGresult *res;
    int rc = pgc_one(c, PG_RUN_INSERT, &p, &res);
    if (rc) return rc == FS_ENOTFOUND ? FS_EIO : rc;
    o->run_id = pgc_get_int(res, 0, 0);
    o->rev = 1;
    PQclear(res);
    return 0;
}

/* Optimistic: writes only over the rev the caller read. */
static int run_update(pgc *c, const fs_run *r, int64_t now, change_out *o)
{
    pgc_params p = { 0 };
    pgc_int(&p, r->id);
    pgc_int(&p, r->rev);
    pgc_int(&p, (int)r->state);
    pgc_text(&p, r->inputs);
    pgc_text(&p, r->error);
    pgc_time(&p, r->deadline);
    pgc_time(&p, r->finished_at);
    pgc_int(&p, now);
    int rc = pgc_exec(c, PG_RUN_UPDATE, &p, NULL);
    if (rc) return rc;
    if (pgc_changes(c) == 0) return FS_ECONFLICT;
    o->run_id = r->id;
    o->rev = r->rev + 1;
    return 0;
}

/* The id of the change's job k: new, or the stored one its key matched. */
static int64_t job_id_of(const pgs_enqueue *e, size_t k)
{
    return e->found[k] ? e->existing[k].id : e->ids[k];
}

static void array_time(fs_buf *b, int64_t v)
{
    if (v) pgc_array_int(b, v);
    else pgc_array_add(b, NULL);
}

typedef struct task_key {
    int step, item;
    size_t k;          /* position in the change */
} task_key;

/* By (step, item), then position: the last of equals comes last. */
static int task_cmp(const void *x, const void *y)
{
    const task_key *a = x, *b = y;
    if (a->step != b->step) return a->step < b->step ? -1 : 1;
    if (a->item != b->item) return a->item < b->item ? -1 : 1;
    return (a->k > b->k) - (a->k < b->k);
}

/* The tasks to write: each (step, item) once, its last version (as the
 * SQLite backend's row-by-row upserts leave it).  OUT: *n positions. */
static size_t *task_order(const store_run_change *ch, size_t *n)
{
    task_key *keys = xcalloc(ch->ntasks, sizeof *keys);
    for (size_t k = 0; k < ch->ntasks; k++)
        keys[k] = (task_key){ ch->tasks[k].step, ch->tasks[k].item, k };
    qsort(keys, ch->ntasks, sizeof *keys, task_cmp);
    size_t *idx = xcalloc(ch->ntasks, sizeof *idx), m = 0;
    for (size_t k = 0; k < ch->ntasks; k++) {
        bool last = k + 1 == ch->ntasks || keys[k + 1].step != keys[k].step ||
                    keys[k + 1].item != keys[k].item;
        if (last) idx[m++] = keys[k].k;
    }
    free(keys);
    *n = m;
    return idx;
}

/* Upserts the change's tasks in one statement. */
static int task_upsert(pgc *c, const store_run_change *ch,
                       const change_out *o)
{
    size_t n;
    size_t *idx = task_order(ch, &n);
    fs_buf cols[11] = { { 0 } };
    for (size_t k = 0; k < n; k++) {
        const fs_run_task *t = &ch->tasks[idx[k]];
        pgc_array_int(&cols[0], t->step);
        pgc_array_int(&cols[1], t->item);
        pgc_array_int(&cols[2], (int)t->state);
        pgc_array_int(&cols[3], t->attempts);
        array_time(&cols[4], t->job_ref >= 0
                                 ? job_id_of(&o->jobs, (size_t)t->job_ref)
                                 : t->job_id);
        pgc_array_int(&cols[5], t->items);
        pgc_array_add(&cols[6], t->output);
        pgc_array_add(&cols[7], t->error);
        array_time(&cols[8], t->deadline);
        array_time(&cols[9], t->started_at);
        array_time(&cols[10], t->finished_at);
    }
    free(idx);
    pgc_params p = { 0 };
    pgc_int(&p, o->run_id);
    for (int k = 0; k < 11; k++) pgc_text(&p, pgc_array_end(&cols[k]));
    int rc = pgc_exec(c, PG_TASK_UPSERT_MANY, &p, NULL);
    for (int k = 0; k < 11; k++) fs_buf_free(&cols[k]);
    return rc;
}

static int last_seq(pgc *c, int64_t run_id, int64_t *seq)
{
    pgc_params p = { 0 };
    pgc_int(&p, run_id);
    PGresult *r;
    int rc = pgc_one(c, PG_EVENT_MAX, &p, &r);
    if (rc) return rc == FS_ENOTFOUND ? FS_EIO : rc;
    *seq = pgc_get_int(r, 0, 0);
    PQclear(r);
    return 0;
}

/* Appends the change's events in one statement, seqs after o->seq0. */
static int event_insert(pgc *c, const store_run_change *ch,
                        const change_out *o, int64_t now)
{
    fs_buf cols[7] = { { 0 } };
    for (size_t k = 0; k < ch->nevents; k++) {
        const fs_run_event *e = &ch->events[k];
        pgc_array_int(&cols[0], e->at ? e->at : now);
        pgc_array_add(&cols[1], e->type);
        pgc_array_add(&cols[2], e->step);
        pgc_array_int(&cols[3], e->item);
        pgc_array_int(&cols[4], e->attempt);
        pgc_array_add(&cols[5], e->error);
        pgc_array_add(&cols[6], e->data);
    }
    pgc_params p = { 0 };
    pgc_int(&p, o->run_id);
    pgc_int(&p, o->seq0);
    for (int k = 0; k < 7; k++) pgc_text(&p, pgc_array_end(&cols[k]));
    int rc = pgc_exec(c, PG_EVENT_INSERT_MANY, &p, NULL);
    for (int k = 0; k < 7; k++) fs_buf_free(&cols[k]);
    return rc;
}

/* Cancels the change's jobs that are not finished yet (finished or
 * missing jobs match nothing). */
static int cancel_jobs(pgc *c, const store_run_change *ch, int64_t now)
{
    fs_buf ids = { 0 };
    for (size_t k = 0; k < ch->ncancel; k++) pgc_array_int(&ids, ch->cancel[k]);
    pgc_params p = { 0 };
    pgc_text(&p, pgc_array_end(&ids));
    pgc_int(&p, now);
    int rc = pgc_exec(c, PG_JOB_CANCEL_MANY, &p, NULL);
    fs_buf_free(&ids);
    return rc;
}

/* Run row, jobs, tasks, events, cancellations: in that order, as tasks
 * name the new jobs and events follow the run's last seq; each part is one
 * statement. */
static int commit_change(pgc *c, commit_arg *a, size_t i)
{
    store_run_change *ch = &a->c[i];
    change_out *o = &a->out[i];
    pgs_enqueue_reset(&o->jobs);
    int rc = ch->run->id ? run_update(c, ch->run, a->now, o)
                         : run_insert(c, ch->run, a->now, o);
    o->jobs.run_id = o->run_id;
    if (!rc) rc = pgs_enqueue_all(c, &o->jobs);
    if (!rc && ch->ntasks) rc = task_upsert(c, ch, o);
    o->seq0 = 0;
    if (!rc && ch->nevents) rc = last_seq(c, o->run_id, &o->seq0);
    if (!rc && ch->nevents) rc = event_insert(c, ch, o, a->now);
    if (!rc && ch->ncancel) rc = cancel_jobs(c, ch, a->now);
    return rc;
}

/* One transaction: a conflict in any change rolls back all of them. */
static int run_commit_fn(pgc *c, void *arg)
{
    commit_arg *a = arg;
    int rc = 0;
    for (size_t i = 0; !rc && i < a->n; i++) rc = commit_change(c, a, i);
    if (rc || !a->ndone) return rc;
    pgc_params p = { 0 };
    pgc_text(&p, a->done);
    return pgc_exec(c, PG_SIGNAL_DELETE, &p, NULL);
}

/* Fills the caller's change from what the transaction stored. */
static void commit_result(store_run_change *ch, change_out *o, int64_t now)
{
    fs_run *r = ch->run;
    if (!r->id) {
        r->created_at = now;
        if (!r->inputs) r->inputs = xstrdup("{}");
    }
    r->id = o->run_id;
    r->rev = o->rev;
    r->updated_at = now;
    for (size_t k = 0; k < ch->njobs; k++)
        pgs_enqueue_result(&o->jobs, &ch->jobs[k], k, NULL);
    for (size_t k = 0; k < ch->ntasks; k++) {
        fs_run_task *t = &ch->tasks[k];
        t->run_id = o->run_id;
        if (t->job_ref >= 0) t->job_id = ch->jobs[t->job_ref].id;
    }
    for (size_t k = 0; k < ch->nevents; k++) {
        fs_run_event *e = &ch->events[k];
        e->run_id = o->run_id;
        e->seq = o->seq0 + 1 + (int64_t)k;
        if (!e->at) e->at = now;
    }
}

/* The caller's records change only once the transaction has committed:
 * after an error (FS_ECONFLICT included) they are as they were. */
int pgs_run_commit(store *st, store_run_change *c, size_t n,
                   const int64_t *signals_done, size_t nsignals, int64_t now)
{
    if ((n && !c) || (n == 0 && nsignals == 0) || (nsignals && !signals_done))
        return FS_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (store_run_change_check(&c[i])) return FS_EINVAL;
    fs_buf done = { 0 };
    for (size_t k = 0; k < nsignals; k++) pgc_array_int(&done, signals_done[k]);
    commit_arg a = { c, n, pgc_array_end(&done), nsignals, now,
                     xcalloc(n ? n : 1, sizeof(change_out)) };
    for (size_t i = 0; i < n; i++) {
        size_t nj = c[i].njobs ? c[i].njobs : 1;
        a.out[i].jobs = (pgs_enqueue){ c[i].jobs, c[i].njobs, now,
                                       xcalloc(nj, sizeof(int64_t)),
                                       xcalloc(nj, sizeof(fs_job)),
                                       xcalloc(nj, sizeof(bool)), 0 };
    }
    int rc = pgc_run(pgs_pool(st), PGC_WRITE, run_commit_fn, &a);
    for (size_t i = 0; i < n; i++) {
        pgs_enqueue *e = &a.out[i].jobs;
        if (!rc) commit_result(&c[i], &a.out[i], now);
        pgs_enqueue_reset(e);
        free(e->ids);
        free(e->existing);
        free(e->found);
    }
    free(a.out);
    fs_buf_free(&done);
    return rc;
}
