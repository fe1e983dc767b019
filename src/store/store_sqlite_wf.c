/*
 * store_sqlite_wf.c - the workflow part of the SQLite backend: definitions,
 * runs with their tasks and events, the atomic run commit, and the job
 * signals the trigger on jobs writes (see store.h for the contract).
 *
 * A workflow commit (run_commit) is one group-commit op however many runs
 * it touches: an optimistic rev mismatch in any of them rolls back its
 * savepoint, so none of its rows, jobs, events or signal deletions are
 * written, and the caller's structs are filled only after the commit.
 */
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/metrics.h"
#include "core/xmem.h"
#include "store/sqlite_conn.h"
#include "store/store.h"
#include "store/store_sqlite.h"

/* --- workflow definitions --------------------------------------------- */

typedef struct wf_arg {
    const fs_workflow *in;
    const char *name;
    int version;
    int64_t now, created_at;
    fs_workflow *out;
    size_t n;
} wf_arg;

/* Steps s expecting one workflow row: 0, FS_ENOTFOUND or an error. */
static int step_workflow(sqlc *c, sqlite3_stmt *s, fs_workflow *out)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) sqlc_read_workflow(s, out);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW) return 0;
    return rc == SQLITE_DONE ? FS_ENOTFOUND : sqlc_err(c, rc, "workflow");
}

/* Inserts, or compares with the definition already under that version. */
static int workflow_put_fn(sqlc *c, void *arg)
{
    wf_arg *a = arg;
    const fs_workflow *w = a->in;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_WF_INSERT);
    if (!s) return FS_EIO;
    sqlite3_bind_text(s, 1, w->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, w->version);
    sqlc_bind_text(s, 3, w->description);
    sqlite3_bind_text(s, 4, w->definition, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, a->now);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return sqlc_err(c, rc, "workflow insert");
    a->created_at = a->now;
    if (sqlite3_changes(c->db)) return 0;
    if (!(s = sqlc_stmt(c, SQ_WF_GET))) return FS_EIO;
    sqlite3_bind_text(s, 1, w->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, w->version);
    fs_workflow old;
    if ((rc = step_workflow(c, s, &old)))
        return rc == FS_ENOTFOUND ? FS_EIO : rc;
    rc = strcmp(old.definition, w->definition) ? FS_ECONFLICT : 0;
    a->created_at = old.created_at;
    fs_workflow_clear(&old);
    return rc;
}

int sqs_workflow_put(store *st, fs_workflow *w, int64_t now)
{
    if (!w->name || !w->definition || w->version < 1) return FS_EINVAL;
    wf_arg a = { .in = w, .now = now };
    int rc = sqs_write(st, workflow_put_fn, &a);
    if (!rc) w->created_at = a.created_at;
    return rc;
}

static int workflow_get_fn(sqlc *c, void *arg)
{
    wf_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, a->version ? SQ_WF_GET : SQ_WF_LATEST);
    if (!s) return FS_EIO;
    sqlite3_bind_text(s, 1, a->name, -1, SQLITE_STATIC);
    if (a->version) sqlite3_bind_int(s, 2, a->version);
    return step_workflow(c, s, a->out);
}

int sqs_workflow_get(store *st, const char *name, int version,
                           fs_workflow *out)
{
    if (!name) return FS_EINVAL;
    wf_arg a = { .name = name, .version = version, .out = out };
    return sqs_read(st, workflow_get_fn, &a);
}

/* --- workflow runs: reads --------------------------------------------- */

static void row_workflow(sqlite3_stmt *s, void *r) { sqlc_read_workflow(s, r); }
static void row_run(sqlite3_stmt *s, void *r) { sqlc_read_run(s, r); }
static void row_task(sqlite3_stmt *s, void *r) { sqlc_read_task(s, r); }
static void row_event(sqlite3_stmt *s, void *r) { sqlc_read_event(s, r); }

/* Shared with store_sqlite_sched.c (see store_sqlite.h). */
int sqs_collect(sqlc *c, sqlite3_stmt *s, size_t size, sqs_row_fn *rd,
                void **out, size_t *n)
{
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *out = xrealloc(*out, cap * size);
        }
        rd(s, (char *)*out + (*n)++ * size);
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : sqlc_err(c, rc, "rows");
}

static int workflow_list_fn(sqlc *c, void *arg)
{
    wf_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_WF_LIST);
    if (!s) return FS_EIO;
    return sqs_collect(c, s, sizeof *a->out, row_workflow, (void **)&a->out,
                       &a->n);
}

int sqs_workflow_list(store *st, fs_workflow **out, size_t *n)
{
    wf_arg a = { 0 };
    int rc = sqs_read(st, workflow_list_fn, &a);
    if (rc) {
        fs_workflows_free(a.out, a.n);
        return rc;
    }
    *out = a.out;
    *n = a.n;
    return 0;
}

typedef struct run_arg {
    int64_t id, after;
    int limit;
    const store_run_filter *f;
    fs_run *run;
    void *rows;     /* tasks, runs, events or signals */
    size_t n;
    bool want_rows;
} run_arg;

static int run_read(sqlc *c, run_arg *a)
{
    sqlite3_stmt *s = sqlc_stmt(c, SQ_RUN_GET);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, a->id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) sqlc_read_run(s, a->run);
    sqlite3_reset(s);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? FS_ENOTFOUND : sqlc_err(c, rc, "run");
    if (!a->want_rows) return 0;
    if (!(s = sqlc_stmt(c, SQ_TASK_LIST))) return FS_EIO;
    sqlite3_bind_int64(s, 1, a->id);
    return sqs_collect(c, s, sizeof(fs_run_task), row_task, &a->rows, &a->n);
}

/* The run and its tasks from one snapshot, so they agree with run->rev. */
static int run_get_fn(sqlc *c, void *arg)
{
    int rc = sqlc_exec(c, SQ_BEGIN_READ);
    if (rc) return rc;
    rc = run_read(c, arg);
    sqlc_exec(c, SQ_ROLLBACK); /* read only: ends the snapshot */
    return rc;
}

int sqs_run_get(store *st, int64_t id, fs_run *out, fs_run_task **tasks,
                      size_t *ntasks)
{
    fs_run run = { 0 };
    run_arg a = { .id = id, .run = &run, .want_rows = tasks != NULL };
    int rc = sqs_read(st, run_get_fn, &a);
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

/* Built per call like job listings; only bound parameters carry values. */
static int run_list_fn(sqlc *c, void *arg)
{
    run_arg *a = arg;
    const store_run_filter *f = a->f;
    fs_buf sql = { 0 };
    fs_buf_printf(&sql, "SELECT " SQLC_RUN_COLS " FROM runs WHERE 1");
    if (f->workflow) fs_buf_printf(&sql, " AND workflow=?1");
    if (f->state >= 0) fs_buf_printf(&sql, " AND state=?2");
    if (f->before_id) fs_buf_printf(&sql, " AND id<?3");
    fs_buf_printf(&sql, " ORDER BY id DESC LIMIT ?4");
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(c->db, sql.data, -1, &s, NULL);
    fs_buf_free(&sql);
    if (rc != SQLITE_OK) return sqlc_err(c, rc, "list runs");
    if (f->workflow) sqlite3_bind_text(s, 1, f->workflow, -1, SQLITE_STATIC);
    if (f->state >= 0) sqlite3_bind_int(s, 2, f->state);
    if (f->before_id) sqlite3_bind_int64(s, 3, f->before_id);
    sqlite3_bind_int(s, 4, f->limit);
    rc = sqs_collect(c, s, sizeof(fs_run), row_run, &a->rows, &a->n);
    sqlite3_finalize(s);
    return rc;
}

int sqs_run_list(store *st, const store_run_filter *f, fs_run **out,
                       size_t *n)
{
    if (f->limit < 1 || f->state < -1 || f->state >= RUN_NSTATES)
        return FS_EINVAL;
    run_arg a = { .f = f };
    int rc = sqs_read(st, run_list_fn, &a);
    if (rc) {
        fs_runs_free(a.rows, a.n);
        return rc;
    }
    *out = a.rows;
    *n = a.n;
    return 0;
}

static int run_events_fn(sqlc *c, void *arg)
{
    run_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_EVENT_LIST);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, a->id);
    sqlite3_bind_int64(s, 2, a->after);
    sqlite3_bind_int(s, 3, a->limit);
    return sqs_collect(c, s, sizeof(fs_run_event), row_event, &a->rows,
                       &a->n);
}

int sqs_run_events(store *st, int64_t run_id, int64_t after_seq,
                         int limit, fs_run_event **out, size_t *n)
{
    if (limit < 1 || limit > 10000) return FS_EINVAL;
    run_arg a = { .id = run_id, .after = after_seq, .limit = limit };
    int rc = sqs_read(st, run_events_fn, &a);
    if (rc) {
        fs_run_events_free(a.rows, a.n);
        return rc;
    }
    *out = a.rows;
    *n = a.n;
    return 0;
}

/* Job columns first (SQLC_JOB_COLS_), then the signal's id and run. */
static void row_signal(sqlite3_stmt *s, void *rec)
{
    store_job_signal *sig = rec;
    sqlc_read_job(s, &sig->job);
    sig->id = sqlite3_column_int64(s, 22);
    sig->run_id = sqlite3_column_int64(s, 23);
}

static int job_signals_fn(sqlc *c, void *arg)
{
    run_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_SIGNAL_LIST);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, a->after);
    sqlite3_bind_int(s, 2, a->limit);
    return sqs_collect(c, s, sizeof(store_job_signal), row_signal, &a->rows,
                       &a->n);
}

int sqs_job_signals(store *st, int64_t after_id, int limit,
                          store_job_signal **out, size_t *n)
{
    if (limit < 1 || limit > 10000) return FS_EINVAL;
    run_arg a = { .after = after_id, .limit = limit };
    int rc = sqs_read(st, job_signals_fn, &a);
    if (rc) {
        store_job_signals_free(a.rows, a.n);
        return rc;
    }
    *out = a.rows;
    *n = a.n;
    return 0;
}

/* --- workflow runs: the commit ---------------------------------------- */

/* What the commit learnt about one change; it reaches the caller's structs
 * only once the batch has committed. */
typedef struct change_out {
    int64_t run_id, rev;
    int64_t seq0;      /* the run's last event seq before this commit */
    enqueue_arg jobs;
} change_out;

typedef struct commit_arg {
    store_run_change *c;
    size_t n;
    const int64_t *done;
    size_t ndone;
    int64_t now;
    change_out *out;
} commit_arg;

static int run_insert(sqlc *c, const fs_run *r, int64_t now, change_out *o)
{
    sqlite3_stmt *s = sqlc_stmt(c, SQ_RUN_INSERT);
    if (!s) return FS_EIO;
    sqlite3_bind_text(s, 1, r->workflow, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, r->version);
    sqlite3_bind_int(s, 3, (int)r->state);
    sqlite3_bind_text(s, 4, r->inputs ? r->inputs : "{}", -1, SQLITE_STATIC);
    sqlc_bind_text(s, 5, r->error);
    sqlc_bind_time(s, 6, r->deadline);
    sqlite3_bind_int64(s, 7, now);
    sqlc_bind_time(s, 8, r->finished_at);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) o->run_id = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    o->rev = 1;
    return rc == SQLITE_ROW ? 0 : sqlc_err(c, rc, "run insert");
}

/* Optimistic: writes only over the rev the caller read. */
static int run_update(sqlc *c, const fs_run *r, int64_t now, change_out *o)
{
    sqlite3_stmt *s = sqlc_stmt(c, SQ_RUN_UPDATE);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, r->id);
    sqlite3_bind_int64(s, 2, r->rev);
    sqlite3_bind_int(s, 3, (int)r->state);
    sqlc_bind_text(s, 4, r->inputs);
    sqlc_bind_text(s, 5, r->error);
    sqlc_bind_time(s, 6, r->deadline);
    sqlc_bind_time(s, 7, r->finished_at);
    sqlite3_bind_int64(s, 8, now);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return sqlc_err(c, rc, "run update");
    if (sqlite3_changes(c->db) == 0) return FS_ECONFLICT;
    o->run_id = r->id;
    o->rev = r->rev + 1;
    return 0;
}

/* The id of the change's job k: new, or the stored one its key matched. */
static int64_t job_id_of(const enqueue_arg *e, size_t k)
{
    return e->found[k] ? e->existing[k].id : e->ids[k];
}

static int task_upsert(sqlc *c, const fs_run_task *t, const change_out *o)
{
    sqlite3_stmt *s = sqlc_stmt(c, SQ_TASK_UPSERT);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, o->run_id);
    sqlite3_bind_int(s, 2, t->step);
    sqlite3_bind_int(s, 3, t->item);
    sqlite3_bind_int(s, 4, (int)t->state);
    sqlite3_bind_int(s, 5, t->attempts);
    sqlc_bind_time(s, 6, t->job_ref >= 0
                             ? job_id_of(&o->jobs, (size_t)t->job_ref)
                             : t->job_id);
    sqlite3_bind_int(s, 7, t->items);
    sqlc_bind_text(s, 8, t->output);
    sqlc_bind_text(s, 9, t->error);
    sqlc_bind_time(s, 10, t->deadline);
    sqlc_bind_time(s, 11, t->started_at);
    sqlc_bind_time(s, 12, t->finished_at);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : sqlc_err(c, rc, "task upsert");
}

static int last_seq(sqlc *c, int64_t run_id, int64_t *seq)
{
    sqlite3_stmt *s = sqlc_stmt(c, SQ_EVENT_MAX);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, run_id);
    int rc = sqlite3_step(s);
    *seq = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : sqlc_err(c, rc, "event seq");
}

static int event_insert(sqlc *c, const fs_run_event *e, int64_t run_id,
                        int64_t seq, int64_t now)
{
    sqlite3_stmt *s = sqlc_stmt(c, SQ_EVENT_INSERT);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, run_id);
    sqlite3_bind_int64(s, 2, seq);
    sqlite3_bind_int64(s, 3, e->at ? e->at : now);
    sqlite3_bind_text(s, 4, e->type, -1, SQLITE_STATIC);
    sqlc_bind_text(s, 5, e->step);
    sqlite3_bind_int(s, 6, e->item);
    sqlite3_bind_int(s, 7, e->attempt);
    sqlc_bind_text(s, 8, e->error);
    sqlc_bind_text(s, 9, e->data);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : sqlc_err(c, rc, "event insert");
}

/* Runs a one-id statement (?1 = id, ?2 = now) whose rows are not needed:
 * job cancel (finished or missing jobs match nothing), signal delete. */
static int by_id(sqlc *c, sqlc_stmt_id id, int64_t key, int64_t now)
{
    sqlite3_stmt *s = sqlc_stmt(c, id);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, key);
    if (id == SQ_JOB_CANCEL) sqlite3_bind_int64(s, 2, now);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sqlc_err(c, rc, "by id");
}

/* Run row, jobs, tasks, events, cancellations: in that order, as tasks
 * name the new jobs and events follow the run's last seq. */
static int commit_change(sqlc *c, commit_arg *a, size_t i)
{
    store_run_change *ch = &a->c[i];
    change_out *o = &a->out[i];
    int rc = ch->run->id ? run_update(c, ch->run, a->now, o)
                         : run_insert(c, ch->run, a->now, o);
    o->jobs.run_id = o->run_id;
    for (size_t k = 0; !rc && k < ch->njobs; k++)
        rc = sqs_enqueue_one(c, &o->jobs, k);
    for (size_t k = 0; !rc && k < ch->ntasks; k++)
        rc = task_upsert(c, &ch->tasks[k], o);
    if (!rc && ch->nevents) rc = last_seq(c, o->run_id, &o->seq0);
    for (size_t k = 0; !rc && k < ch->nevents; k++)
        rc = event_insert(c, &ch->events[k], o->run_id,
                          o->seq0 + 1 + (int64_t)k, a->now);
    for (size_t k = 0; !rc && k < ch->ncancel; k++)
        rc = by_id(c, SQ_JOB_CANCEL, ch->cancel[k], a->now);
    return rc;
}

/* One op, one savepoint: a conflict in any change rolls back all of them. */
static int run_commit_fn(sqlc *c, void *arg)
{
    commit_arg *a = arg;
    int rc = 0;
    for (size_t i = 0; !rc && i < a->n; i++) rc = commit_change(c, a, i);
    for (size_t k = 0; !rc && k < a->ndone; k++)
        rc = by_id(c, SQ_SIGNAL_DELETE, a->done[k], 0);
    return rc;
}

/* Fills the caller's change from what the batch stored. */
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
        sqs_enqueue_result(&o->jobs, &ch->jobs[k], k, NULL);
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

/* The caller's records change only once the batch has committed: after an
 * error (FS_ECONFLICT included) they are as they were. */
int sqs_run_commit(store *st, store_run_change *c, size_t n,
                         const int64_t *signals_done, size_t nsignals,
                         int64_t now)
{
    if ((n && !c) || (n == 0 && nsignals == 0) || (nsignals && !signals_done))
        return FS_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (store_run_change_check(&c[i])) return FS_EINVAL;
    commit_arg a = { c, n, signals_done, nsignals, now,
                     xcalloc(n, sizeof(change_out)) };
    for (size_t i = 0; i < n; i++) {
        size_t nj = c[i].njobs ? c[i].njobs : 1;
        a.out[i].jobs = (enqueue_arg){ c[i].jobs, c[i].njobs, now,
                                       xcalloc(nj, sizeof(int64_t)),
                                       xcalloc(nj, sizeof(fs_job)),
                                       xcalloc(nj, sizeof(bool)), 0 };
    }
    int rc = sqs_write(st, run_commit_fn, &a);
    for (size_t i = 0; i < n; i++) {
        enqueue_arg *e = &a.out[i].jobs;
        if (!rc) commit_result(&c[i], &a.out[i], now);
        for (size_t k = 0; rc && k < c[i].njobs; k++)
            fs_job_clear(&e->existing[k]);
        free(e->ids);
        free(e->existing);
        free(e->found);
    }
    free(a.out);
    return rc;
}

