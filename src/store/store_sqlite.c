/*
 * store_sqlite.c - the embedded SQLite backend of store.h, with group commit.
 *
 * One write connection, many read connections (WAL mode).  Writes use
 * leader-based group commit (as in LevelDB's write queue):
 *
 *   wsubmit(op): append op to the queue
 *     if another thread is leading:  wait until op is done -> return its rc
 *     else become the leader:        take EVERY queued op
 *                                    BEGIN IMMEDIATE
 *                                    for each op: SAVEPOINT; op->fn();
 *                                                 RELEASE | ROLLBACK TO
 *                                    COMMIT (one fsync for all)
 *                                    mark them done, wake their threads
 *
 * Writes that arrive while a commit is in flight queue up and share the
 * next transaction and its single fsync, so an acknowledged write is durable
 * with synchronous=FULL and throughput grows with concurrency instead of
 * being capped at one fsync per write.  The leader runs the batch on its own
 * thread: a lone writer pays no thread hand-off at all.  Each op runs in its
 * own savepoint: a failing op rolls back alone, the rest of the batch still
 * commits.  If the COMMIT itself fails, or an error makes SQLite roll back
 * the whole transaction (I/O, full disk, out of memory), every op of the
 * batch not already failed fails with it and the rest of the batch does not
 * run: callers discard their outputs whenever rc != 0.
 *
 * Reads borrow a connection from a small pool (opened on demand); WAL lets
 * them run beside the writer and see every committed batch.
 *
 * The workflow operations live in store_sqlite_wf.c, the schedule ones in
 * store_sqlite_sched.c, the evolution log and the document change log in
 * store_sqlite_evo.c; they reach the group commit and the reader pool
 * through store_sqlite.h.
 */
#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/rand.h"
#include "core/xmem.h"
#include "memory/text.h"
#include "store/sqlite_conn.h"
#include "store/store.h"
#include "store/store_sqlite.h"

typedef struct wop {
    int (*fn)(sqlc *c, void *arg);
    void *arg;
    int rc;
    bool done;
    struct wop *next;
} wop;

typedef struct rconn {
    sqlc *c;
    struct rconn *next;
} rconn;

typedef struct sqlite_store {
    store base;
    char *path;
    store_options opt;
    sqlc *w;                 /* write connection, used by the leader only */
    pthread_mutex_t lock;    /* guards head/tail/leading/closed, op->done */
    pthread_cond_t done;     /* followers wait for their op or a turn */
    wop *head, *tail;
    bool leading;            /* a thread is running a batch */
    bool closed;
    pthread_mutex_t rlock;   /* guards the reader pool */
    rconn *readers;
} sqlite_store;

#define S(st) ((sqlite_store *)(st))

const char *sqs_origin(store *st) { return S(st)->w->origin; }

/* --- group commit ---------------------------------------------------- */

/*
 * Runs a batch in one transaction (see the top of the file).  An op that
 * fails rolls back to its savepoint and keeps its own rc.  Some errors (I/O,
 * a full disk, out of memory) make SQLite roll back the whole transaction
 * instead: then the ops before it are gone and the ops after it must not
 * run, since each savepoint would then commit on its own.  Every op whose
 * work did not commit gets the batch's error.
 */
static void run_batch(sqlite_store *s, wop *batch)
{
    sqlite3 *db = s->w->db;
    int rc = sqlc_exec(s->w, SQ_BEGIN);
    for (wop *o = batch; o && !rc; o = o->next) {
        if ((o->rc = sqlc_exec(s->w, SQ_SAVEPOINT)) == 0) {
            o->rc = o->fn(s->w, o->arg);
            if (o->rc && !sqlite3_get_autocommit(db))
                sqlc_exec(s->w, SQ_ROLLBACK_TO);
            if (!sqlite3_get_autocommit(db)) sqlc_exec(s->w, SQ_RELEASE);
        }
        if (sqlite3_get_autocommit(db)) /* SQLite rolled it all back */
            rc = o->rc ? o->rc : FS_EIO;
    }
    if (!rc && (rc = sqlc_exec(s->w, SQ_COMMIT))) sqlc_exec(s->w, SQ_ROLLBACK);
    if (rc)
        for (wop *o = batch; o; o = o->next)
            if (o->rc == 0) o->rc = rc;
}

/* Runs fn(write connection, arg) inside the next group-commit batch and
 * returns its rc once that batch is committed (or failed). */
static int wsubmit(sqlite_store *s, int (*fn)(sqlc *, void *), void *arg)
{
    wop op = { .fn = fn, .arg = arg };
    pthread_mutex_lock(&s->lock);
    if (s->closed) {
        pthread_mutex_unlock(&s->lock);
        return FS_ESHUTDOWN;
    }
    if (s->tail) s->tail->next = &op;
    else s->head = &op;
    s->tail = &op;
    while (!op.done && s->leading) pthread_cond_wait(&s->done, &s->lock);
    if (op.done) {
        pthread_mutex_unlock(&s->lock);
        return op.rc;
    }
    s->leading = true; /* our op is still queued: lead the next batch */
    wop *batch = s->head;
    s->head = s->tail = NULL;
    pthread_mutex_unlock(&s->lock);
    run_batch(s, batch);
    pthread_mutex_lock(&s->lock);
    for (wop *o = batch; o; o = o->next) o->done = true;
    s->leading = false;
    pthread_cond_broadcast(&s->done);
    pthread_mutex_unlock(&s->lock);
    return op.rc;
}

/* --- readers ---------------------------------------------------------- */

static sqlc *reader_get(sqlite_store *s)
{
    pthread_mutex_lock(&s->rlock);
    rconn *r = s->readers;
    if (r) s->readers = r->next;
    pthread_mutex_unlock(&s->rlock);
    if (r) {
        sqlc *c = r->c;
        free(r);
        return c;
    }
    sqlc *c;
    if (sqlc_open(&c, s->path, s->opt.sync_normal, s->opt.busy_timeout_ms))
        return NULL;
    return c;
}

static void reader_put(sqlite_store *s, sqlc *c)
{
    rconn *r = xmalloc(sizeof *r);
    r->c = c;
    pthread_mutex_lock(&s->rlock);
    r->next = s->readers;
    s->readers = r;
    pthread_mutex_unlock(&s->rlock);
}

/* Runs fn on a pooled read connection. */
static int rrun(sqlite_store *s, int (*fn)(sqlc *, void *), void *arg)
{
    sqlc *c = reader_get(s);
    if (!c) return FS_EIO;
    int rc = fn(c, arg);
    reader_put(s, c);
    return rc;
}

int sqs_write(store *st, int (*fn)(sqlc *, void *), void *arg)
{
    return wsubmit(S(st), fn, arg);
}

int sqs_read(store *st, int (*fn)(sqlc *, void *), void *arg)
{
    return rrun(S(st), fn, arg);
}

/* --- small statement helpers ----------------------------------------- */

/* Steps s expecting one job row: 0, FS_ENOTFOUND or an error. */
static int step_job(sqlc *c, sqlite3_stmt *s, fs_job *out)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (out) sqlc_read_job(s, out);
        sqlite3_reset(s);
        return 0;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? FS_ENOTFOUND : sqlc_err(c, rc, "job");
}

/* Why did a conditional update of job id match nothing?  FS_ENOTFOUND when
 * the job does not exist, else `otherwise`. */
static int why_not(sqlc *c, int64_t id, int otherwise)
{
    sqlite3_stmt *s = sqlc_stmt(c, SQ_JOB_STATE);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW) return otherwise;
    return rc == SQLITE_DONE ? FS_ENOTFOUND : sqlc_err(c, rc, "job state");
}

/* Collects all job rows of s into a growing array. */
static int collect_jobs(sqlc *c, sqlite3_stmt *s, fs_job **out, size_t *n)
{
    size_t cap = 0;
    int rc;
    *out = NULL;
    *n = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *out = xrealloc(*out, cap * sizeof **out);
        }
        sqlc_read_job(s, &(*out)[(*n)++]);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        fs_jobs_free(*out, *n);
        *out = NULL;
        *n = 0;
        return sqlc_err(c, rc, "jobs");
    }
    return 0;
}

/* --- jobs: enqueue ---------------------------------------------------- */


int sqs_enqueue_one(sqlc *c, enqueue_arg *a, size_t i)
{
    const fs_job *j = &a->jobs[i];
    sqlite3_stmt *s = sqlc_stmt(c, SQ_JOB_INSERT);
    if (!s) return FS_EIO;
    int64_t run_at = j->run_at ? j->run_at : a->now;
    sqlite3_bind_text(s, 1, j->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, j->target_agent, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, j->payload ? j->payload : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 4, j->priority);
    sqlite3_bind_int64(s, 5, run_at);
    sqlite3_bind_int(s, 6, j->max_attempts);
    sqlite3_bind_int64(s, 7, j->timeout_ms);
    sqlc_bind_text(s, 8, j->unique_key);
    sqlite3_bind_text(s, 9, run_at > a->now ? "scheduled" : "pending", -1,
                      SQLITE_STATIC);
    sqlc_bind_time(s, 10, j->parent_id);
    sqlite3_bind_int64(s, 11, a->now);
    sqlc_bind_time(s, 12, a->run_id ? a->run_id : j->run_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) a->ids[i] = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW) return 0;
    if (rc != SQLITE_DONE || !j->unique_key) return sqlc_err(c, rc, "enqueue");
    s = sqlc_stmt(c, SQ_JOB_BY_KEY); /* the key is taken: return that job */
    if (!s) return FS_EIO;
    sqlite3_bind_text(s, 1, j->unique_key, -1, SQLITE_STATIC);
    rc = step_job(c, s, &a->existing[i]);
    if (rc) return rc == FS_ENOTFOUND ? FS_EIO : rc;
    a->found[i] = true;
    return 0;
}

static int enqueue_fn(sqlc *c, void *arg)
{
    enqueue_arg *a = arg;
    for (size_t i = 0; i < a->n; i++) {
        int rc = sqs_enqueue_one(c, a, i);
        if (rc) return rc;
    }
    return 0;
}

/* Fills the caller's job i from what the batch stored. */
void sqs_enqueue_result(enqueue_arg *a, fs_job *j, size_t i, bool *existed)
{
    if (existed) existed[i] = a->found[i];
    if (a->found[i]) {
        fs_job_clear(j);
        *j = a->existing[i];
        return;
    }
    j->id = a->ids[i];
    if (a->run_id) j->run_id = a->run_id;
    if (!j->run_at) j->run_at = a->now;
    j->state = j->run_at > a->now ? JOB_SCHEDULED : JOB_PENDING;
    if (!j->payload) j->payload = xstrdup("{}");
    j->attempts = 0;
    j->created_at = j->updated_at = a->now;
}

/* The caller's jobs change only once the batch has committed. */
static int sq_job_enqueue(store *st, fs_job *jobs, size_t n, int64_t now,
                          bool *existed)
{
    enqueue_arg a = { jobs, n, now, xcalloc(n, sizeof(int64_t)),
                      xcalloc(n, sizeof(fs_job)), xcalloc(n, sizeof(bool)) };
    int rc = wsubmit(S(st), enqueue_fn, &a);
    for (size_t i = 0; i < n; i++) {
        if (!rc) sqs_enqueue_result(&a, &jobs[i], i, existed);
        else fs_job_clear(&a.existing[i]);
    }
    free(a.ids);
    free(a.existing);
    free(a.found);
    return rc;
}

/* --- jobs: reads ------------------------------------------------------ */

typedef struct get_arg {
    int64_t id;
    fs_job *out;
} get_arg;

static int get_fn(sqlc *c, void *arg)
{
    get_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_JOB_GET);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, a->id);
    return step_job(c, s, a->out);
}

static int sq_job_get(store *st, int64_t id, fs_job *out)
{
    get_arg a = { id, out };
    return rrun(S(st), get_fn, &a);
}

typedef struct list_arg {
    const store_job_filter *f;
    fs_job **out;
    size_t *n;
} list_arg;

/* Filtered listings are built per call (they are not a hot path); only
 * bound parameters carry values. */
static int list_fn(sqlc *c, void *arg)
{
    list_arg *a = arg;
    const store_job_filter *f = a->f;
    char sql[512];
    int len = snprintf(sql, sizeof sql, "SELECT " SQLC_JOB_COLS
                       " FROM jobs WHERE 1");
    if (f->state >= 0) len += snprintf(sql + len, sizeof sql - len, " AND state=?1");
    if (f->type) len += snprintf(sql + len, sizeof sql - len, " AND type=?2");
    if (f->target_agent)
        len += snprintf(sql + len, sizeof sql - len, " AND target_agent=?3");
    if (f->parent_id) len += snprintf(sql + len, sizeof sql - len, " AND parent_id=?4");
    if (f->before_id) len += snprintf(sql + len, sizeof sql - len, " AND id<?5");
    snprintf(sql + len, sizeof sql - len, " ORDER BY id DESC LIMIT ?6");
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK)
        return sqlc_err(c, SQLITE_ERROR, "list jobs");
    if (f->state >= 0)
        sqlite3_bind_text(s, 1, job_state_name(f->state), -1, SQLITE_STATIC);
    if (f->type) sqlite3_bind_text(s, 2, f->type, -1, SQLITE_STATIC);
    if (f->target_agent) sqlite3_bind_text(s, 3, f->target_agent, -1, SQLITE_STATIC);
    if (f->parent_id) sqlite3_bind_int64(s, 4, f->parent_id);
    if (f->before_id) sqlite3_bind_int64(s, 5, f->before_id);
    sqlite3_bind_int(s, 6, f->limit > 0 ? f->limit : 50);
    int rc = collect_jobs(c, s, a->out, a->n);
    sqlite3_finalize(s);
    return rc;
}

static int sq_job_list(store *st, const store_job_filter *f, fs_job **out,
                       size_t *n)
{
    list_arg a = { f, out, n };
    return rrun(S(st), list_fn, &a);
}

/* --- jobs: lease ------------------------------------------------------ */

typedef struct lease_arg {
    const store_lease *req;
    const char *types_json; /* NULL = any type */
    int64_t now;
    fs_job *out;
    size_t n;
} lease_arg;

/* Lease order: priority descending, then run_at, then id. */
static int lease_cmp(const void *x, const void *y)
{
    const fs_job *a = x, *b = y;
    if (a->priority != b->priority) return a->priority > b->priority ? -1 : 1;
    if (a->run_at != b->run_at) return a->run_at < b->run_at ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

static int lease_fn(sqlc *c, void *arg)
{
    lease_arg *a = arg;
    const store_lease *r = a->req;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_JOB_PROMOTE);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, a->now);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return sqlc_err(c, rc, "promote");
    if (!(s = sqlc_stmt(c, SQ_JOB_LEASE))) return FS_EIO;
    const char *by_id = r->agent_id;
    if (by_id && r->agent_type && !strcmp(by_id, r->agent_type)) by_id = NULL;
    sqlc_bind_text(s, 1, r->agent_type);
    sqlite3_bind_int(s, 2, r->max);
    sqlc_bind_text(s, 3, r->agent_id);
    sqlite3_bind_int64(s, 4, a->now);
    sqlc_bind_text(s, 5, by_id);
    sqlc_bind_text(s, 6, a->types_json);
    sqlite3_bind_int64(s, 7, r->lease_ms);
    if ((rc = collect_jobs(c, s, &a->out, &a->n))) return rc;
    if (a->n > 1) qsort(a->out, a->n, sizeof *a->out, lease_cmp);
    if (r->agent_id && a->n > 0) {
        if (!(s = sqlc_stmt(c, SQ_AGENT_HEARTBEAT))) return FS_EIO;
        sqlite3_bind_text(s, 1, r->agent_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, a->now);
        rc = sqlite3_step(s);
        sqlite3_reset(s);
        rc = rc == SQLITE_DONE ? 0 : sqlc_err(c, rc, "agent heartbeat");
    }
    return rc;
}

/* JSON array text of the accepted types, for json_each(); NULL = any.
 * Type names are any non-empty strings: '"' and '\\' are escaped, and so
 * are control characters (raw, they make SQLite reject the whole text). */
static char *types_json(const store_lease *r)
{
    if (r->ntypes == 0) return NULL;
    size_t len = 3;
    for (size_t i = 0; i < r->ntypes; i++) len += 6 * strlen(r->types[i]) + 3;
    char *out = xmalloc(len), *p = out;
    *p++ = '[';
    for (size_t i = 0; i < r->ntypes; i++) {
        if (i) *p++ = ',';
        *p++ = '"';
        for (const unsigned char *t = (const unsigned char *)r->types[i]; *t;
             t++) {
            if (*t < 0x20) {
                p += sprintf(p, "\\u%04x", *t);
                continue;
            }
            if (*t == '"' || *t == '\\') *p++ = '\\';
            *p++ = (char)*t;
        }
        *p++ = '"';
    }
    *p++ = ']';
    *p = '\0';
    return out;
}

static int sq_job_lease(store *st, const store_lease *req, int64_t now,
                        fs_job **out, size_t *n)
{
    if (req->max < 1 || (!req->agent_id && !req->agent_type)) return FS_EINVAL;
    lease_arg a = { req, types_json(req), now, NULL, 0 };
    int rc = wsubmit(S(st), lease_fn, &a);
    free((char *)a.types_json);
    if (rc) {
        fs_jobs_free(a.out, a.n);
        return rc;
    }
    *out = a.out;
    *n = a.n;
    return 0;
}

/* --- jobs: lease holder operations ------------------------------------ */

typedef struct hb_arg {
    int64_t id;
    const char *token;
    int64_t lease_ms, now, expires;
} hb_arg;

static int heartbeat_fn(sqlc *c, void *arg)
{
    hb_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_JOB_HEARTBEAT);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, a->id);
    sqlite3_bind_text(s, 2, a->token, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, a->now);
    sqlite3_bind_int64(s, 4, a->lease_ms);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) a->expires = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW) return 0;
    if (rc != SQLITE_DONE) return sqlc_err(c, rc, "heartbeat");
    return why_not(c, a->id, FS_ELEASE);
}

static int sq_job_heartbeat(store *st, int64_t id, const char *token,
                            int64_t lease_ms, int64_t now, int64_t *expires)
{
    hb_arg a = { id, token, lease_ms, now, 0 };
    int rc = wsubmit(S(st), heartbeat_fn, &a);
    if (!rc && expires) *expires = a.expires;
    return rc;
}

typedef struct complete_arg {
    store_completion *items;
    size_t n;
    int64_t now;
} complete_arg;

static int complete_one(sqlc *c, store_completion *it, int64_t now)
{
    sqlite3_stmt *s = sqlc_stmt(c, SQ_JOB_COMPLETE);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, it->id);
    sqlc_bind_text(s, 2, it->lease_token);
    if (it->result) sqlite3_bind_text(s, 3, it->result, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, now);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) it->started_at = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW) return 0;
    if (rc != SQLITE_DONE) return sqlc_err(c, rc, "complete");
    return why_not(c, it->id, FS_ELEASE);
}

/* Per-item outcomes go in items[i].rc; only a storage error fails the op. */
static int complete_fn(sqlc *c, void *arg)
{
    complete_arg *a = arg;
    for (size_t i = 0; i < a->n; i++) {
        int rc = complete_one(c, &a->items[i], a->now);
        if (rc != 0 && rc != FS_ENOTFOUND && rc != FS_ELEASE) return rc;
        a->items[i].rc = rc;
    }
    return 0;
}

static int sq_job_complete(store *st, store_completion *items, size_t n,
                           int64_t now)
{
    complete_arg a = { items, n, now };
    return wsubmit(S(st), complete_fn, &a);
}

typedef struct fail_arg {
    int64_t id;
    const char *token, *error;
    bool retry;
    const fs_backoff *bo;
    int64_t now;
    double jitter_u;
    fs_job out;
} fail_arg;

static int fail_fn(sqlc *c, void *arg)
{
    fail_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_JOB_FAIL_READ);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, a->id);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(s);
        return rc == SQLITE_DONE ? FS_ENOTFOUND : sqlc_err(c, rc, "fail");
    }
    const char *state = (const char *)sqlite3_column_text(s, 0);
    const char *token = (const char *)sqlite3_column_text(s, 1);
    bool held = state && !strcmp(state, "running") && token && a->token &&
                !strcmp(token, a->token);
    int attempts = sqlite3_column_int(s, 2), max = sqlite3_column_int(s, 3);
    sqlite3_reset(s);
    if (!held) return FS_ELEASE;
    bool again = a->retry && attempts < max;
    int64_t run_at = again ? a->now + fs_backoff_delay(a->bo, attempts,
                                                       a->jitter_u)
                           : a->now;
    s = sqlc_stmt(c, SQ_JOB_FAIL);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, a->id);
    sqlite3_bind_text(s, 2, again ? "scheduled" : "failed", -1, SQLITE_STATIC);
    sqlc_bind_text(s, 3, a->error);
    sqlite3_bind_int64(s, 4, run_at);
    sqlc_bind_time(s, 5, again ? 0 : a->now);
    sqlite3_bind_int64(s, 6, a->now);
    rc = step_job(c, s, &a->out);
    return rc == FS_ENOTFOUND ? FS_EIO : rc;
}

static int sq_job_fail(store *st, int64_t id, const char *token,
                       const char *error, bool retry, const fs_backoff *bo,
                       int64_t now, fs_job *out)
{
    static const fs_backoff none = { 0, 0, 0 };
    fail_arg a = { id, token, error, retry, bo ? bo : &none, now, fs_rand01(),
                   { 0 } };
    int rc = wsubmit(S(st), fail_fn, &a);
    if (!rc && out) *out = a.out;
    else fs_job_clear(&a.out);
    return rc;
}

/* --- jobs: admin transitions ------------------------------------------ */

typedef struct trans_arg {
    sqlc_stmt_id stmt;
    int64_t id, now;
    fs_job out;
} trans_arg;

static int transition_fn(sqlc *c, void *arg)
{
    trans_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, a->stmt);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, a->id);
    sqlite3_bind_int64(s, 2, a->now);
    int rc = step_job(c, s, &a->out);
    return rc == FS_ENOTFOUND ? why_not(c, a->id, FS_ESTATE) : rc;
}

static int transition(store *st, sqlc_stmt_id stmt, int64_t id, int64_t now,
                      fs_job *out)
{
    trans_arg a = { stmt, id, now, { 0 } };
    int rc = wsubmit(S(st), transition_fn, &a);
    if (!rc && out) *out = a.out;
    else fs_job_clear(&a.out);
    return rc;
}

static int sq_job_cancel(store *st, int64_t id, int64_t now, fs_job *out)
{
    return transition(st, SQ_JOB_CANCEL, id, now, out);
}

static int sq_job_retry(store *st, int64_t id, int64_t now, fs_job *out)
{
    return transition(st, SQ_JOB_RETRY, id, now, out);
}

/* --- jobs: housekeeping ----------------------------------------------- */

typedef struct sweep_arg {
    sqlc_stmt_id stmt;
    int64_t t;
    size_t n;
} sweep_arg;

enum { PRUNE_CHUNK = 5000 };

static int sweep_fn(sqlc *c, void *arg)
{
    sweep_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, a->stmt);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, a->t);
    if (a->stmt == SQ_JOB_PRUNE) sqlite3_bind_int(s, 2, PRUNE_CHUNK);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return sqlc_err(c, rc, "sweep");
    a->n = (size_t)sqlite3_changes(c->db);
    return 0;
}

static int sweep(store *st, sqlc_stmt_id stmt, int64_t t, size_t *n)
{
    sweep_arg a = { stmt, t, 0 };
    int rc = wsubmit(S(st), sweep_fn, &a);
    if (n) *n = rc ? 0 : a.n;
    return rc;
}

static int sq_job_promote(store *st, int64_t now, size_t *n)
{
    return sweep(st, SQ_JOB_PROMOTE, now, n);
}

static int sq_job_rescue(store *st, int64_t now, size_t *n)
{
    return sweep(st, SQ_JOB_RESCUE, now, n);
}

/* Deletes in chunks so the writer is never held for long. */
static int sq_job_prune(store *st, int64_t before, size_t *n)
{
    size_t total = 0, got;
    int rc;
    do {
        if ((rc = sweep(st, SQ_JOB_PRUNE, before, &got))) break;
        total += got;
    } while (got == PRUNE_CHUNK);
    if (n) *n = total;
    return rc;
}

typedef struct due_arg {
    int64_t run_at, expiry;
} due_arg;

static int min_of(sqlc *c, sqlc_stmt_id id, int64_t *out)
{
    sqlite3_stmt *s = sqlc_stmt(c, id);
    if (!s) return FS_EIO;
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : sqlc_err(c, rc, "min");
}

static int due_fn(sqlc *c, void *arg)
{
    due_arg *a = arg;
    int rc = min_of(c, SQ_JOB_NEXT_RUN, &a->run_at);
    return rc ? rc : min_of(c, SQ_JOB_NEXT_EXPIRY, &a->expiry);
}

static int sq_job_next_due(store *st, int64_t *next_run_at,
                           int64_t *next_expiry)
{
    due_arg a = { 0, 0 };
    int rc = rrun(S(st), due_fn, &a);
    *next_run_at = a.run_at;
    *next_expiry = a.expiry;
    return rc;
}

typedef struct stats_arg {
    store_stat *rows;
    size_t n;
} stats_arg;

static int stats_fn(sqlc *c, void *arg)
{
    stats_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_JOB_STATS);
    if (!s) return FS_EIO;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (a->n == cap) {
            cap = cap ? 2 * cap : 16;
            a->rows = xrealloc(a->rows, cap * sizeof *a->rows);
        }
        store_stat *r = &a->rows[a->n++];
        r->type = xstrdup((const char *)sqlite3_column_text(s, 0));
        const char *state = (const char *)sqlite3_column_text(s, 1);
        if (!state || !job_state_parse(state, &r->state)) r->state = JOB_FAILED;
        r->count = sqlite3_column_int64(s, 2);
        r->oldest_run_at = sqlite3_column_int64(s, 3);
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : sqlc_err(c, rc, "stats");
}

static int sq_job_stats(store *st, store_stat **rows, size_t *n)
{
    stats_arg a = { NULL, 0 };
    int rc = rrun(S(st), stats_fn, &a);
    if (rc) {
        store_stats_free(a.rows, a.n);
        return rc;
    }
    *rows = a.rows;
    *n = a.n;
    return 0;
}

/* --- agents ----------------------------------------------------------- */

typedef struct agent_arg {
    const fs_agent *in;
    const char *key; /* id, token hash or (for heartbeat) id */
    sqlc_stmt_id stmt;
    int64_t now;
    fs_agent *out;
    size_t n;
} agent_arg;

static int agent_create_fn(sqlc *c, void *arg)
{
    agent_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_AGENT_INSERT);
    if (!s) return FS_EIO;
    sqlite3_bind_text(s, 1, a->in->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, a->in->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, a->in->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, a->in->job_types, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, a->in->metadata, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, a->key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, a->in->created_at);
    sqlite3_bind_int64(s, 8, a->in->last_heartbeat);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_CONSTRAINT) return FS_ECONFLICT;
    return rc == SQLITE_DONE ? 0 : sqlc_err(c, rc, "agent insert");
}

static int sq_agent_create(store *st, const fs_agent *in, const char *hash)
{
    agent_arg a = { .in = in, .key = hash };
    return wsubmit(S(st), agent_create_fn, &a);
}

static int agent_one_fn(sqlc *c, void *arg)
{
    agent_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, a->stmt);
    if (!s) return FS_EIO;
    sqlite3_bind_text(s, 1, a->key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) sqlc_read_agent(s, a->out);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW) return 0;
    return rc == SQLITE_DONE ? FS_ENOTFOUND : sqlc_err(c, rc, "agent");
}

static int sq_agent_get(store *st, const char *id, fs_agent *out)
{
    agent_arg a = { .key = id, .stmt = SQ_AGENT_GET, .out = out };
    return rrun(S(st), agent_one_fn, &a);
}

static int sq_agent_by_token(store *st, const char *hash, fs_agent *out)
{
    agent_arg a = { .key = hash, .stmt = SQ_AGENT_BY_TOKEN, .out = out };
    return rrun(S(st), agent_one_fn, &a);
}

static int agent_list_fn(sqlc *c, void *arg)
{
    agent_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_AGENT_LIST);
    if (!s) return FS_EIO;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (a->n == cap) {
            cap = cap ? 2 * cap : 16;
            a->out = xrealloc(a->out, cap * sizeof *a->out);
        }
        sqlc_read_agent(s, &a->out[a->n++]);
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : sqlc_err(c, rc, "agents");
}

static int sq_agent_list(store *st, fs_agent **out, size_t *n)
{
    agent_arg a = { 0 };
    int rc = rrun(S(st), agent_list_fn, &a);
    if (rc) {
        fs_agents_free(a.out, a.n);
        return rc;
    }
    *out = a.out;
    *n = a.n;
    return 0;
}

static int agent_heartbeat_fn(sqlc *c, void *arg)
{
    agent_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_AGENT_HEARTBEAT);
    if (!s) return FS_EIO;
    sqlite3_bind_text(s, 1, a->key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, a->now);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return sqlc_err(c, rc, "agent heartbeat");
    return sqlite3_changes(c->db) ? 0 : FS_ENOTFOUND;
}

static int sq_agent_heartbeat(store *st, const char *id, int64_t now)
{
    agent_arg a = { .key = id, .now = now };
    return wsubmit(S(st), agent_heartbeat_fn, &a);
}

/* --- agent state versions --------------------------------------------- */

typedef struct state_arg {
    const char *agent_id, *json;
    int64_t version, now;
    fs_agent_state *out;
    size_t n;
} state_arg;

static void read_state(sqlite3_stmt *s, fs_agent_state *o)
{
    o->agent_id = xstrdup((const char *)sqlite3_column_text(s, 0));
    o->version = sqlite3_column_int64(s, 1);
    o->state = xstrdup((const char *)sqlite3_column_text(s, 2));
    o->created_at = sqlite3_column_int64(s, 3);
}

/* Latest version of agent_id's state: >= 0, or FS_ENOTFOUND / error. */
static int64_t agent_version(sqlc *c, const char *agent_id)
{
    sqlite3_stmt *s = sqlc_stmt(c, SQ_AGENT_VERSION);
    if (!s) return FS_EIO;
    sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (rc == SQLITE_ROW) return v;
    return rc == SQLITE_DONE ? FS_ENOTFOUND : sqlc_err(c, rc, "agent version");
}

static int state_get_fn(sqlc *c, void *arg)
{
    state_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, a->version ? SQ_STATE_GET : SQ_STATE_LATEST);
    if (!s) return FS_EIO;
    sqlite3_bind_text(s, 1, a->agent_id, -1, SQLITE_STATIC);
    if (a->version) sqlite3_bind_int64(s, 2, a->version);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) read_state(s, a->out);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW) return 0;
    return rc == SQLITE_DONE ? FS_ENOTFOUND : sqlc_err(c, rc, "state");
}

static int sq_state_get(store *st, const char *agent_id, int64_t version,
                        fs_agent_state *out)
{
    state_arg a = { .agent_id = agent_id, .version = version, .out = out };
    return rrun(S(st), state_get_fn, &a);
}

static int state_put_fn(sqlc *c, void *arg)
{
    state_arg *a = arg;
    int64_t cur = agent_version(c, a->agent_id);
    if (cur < 0) return (int)cur;
    if (a->version >= 0 && a->version != cur) return FS_ECONFLICT;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_STATE_INSERT);
    if (!s) return FS_EIO;
    sqlite3_bind_text(s, 1, a->agent_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, cur + 1);
    sqlite3_bind_text(s, 3, a->json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, a->now);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return sqlc_err(c, rc, "state insert");
    s = sqlc_stmt(c, SQ_AGENT_SET_VERSION);
    if (!s) return FS_EIO;
    sqlite3_bind_text(s, 1, a->agent_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, cur + 1);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return sqlc_err(c, rc, "state version");
    a->out->agent_id = xstrdup(a->agent_id);
    a->out->version = cur + 1;
    a->out->state = xstrdup(a->json);
    a->out->created_at = a->now;
    return 0;
}

static int sq_state_put(store *st, const char *agent_id, const char *json,
                        int64_t expected, int64_t now, fs_agent_state *out)
{
    fs_agent_state tmp = { 0 };
    state_arg a = { agent_id, json, expected, now, &tmp, 0 };
    int rc = wsubmit(S(st), state_put_fn, &a);
    if (!rc && out) *out = tmp;
    else fs_agent_state_clear(&tmp);
    return rc;
}

static int state_list_fn(sqlc *c, void *arg)
{
    state_arg *a = arg;
    int64_t cur = agent_version(c, a->agent_id);
    if (cur < 0) return (int)cur;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_STATE_LIST);
    if (!s) return FS_EIO;
    sqlite3_bind_text(s, 1, a->agent_id, -1, SQLITE_STATIC);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (a->n == cap) {
            cap = cap ? 2 * cap : 8;
            a->out = xrealloc(a->out, cap * sizeof *a->out);
        }
        read_state(s, &a->out[a->n++]);
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : sqlc_err(c, rc, "states");
}

static int sq_state_versions(store *st, const char *agent_id,
                             fs_agent_state **out, size_t *n)
{
    state_arg a = { .agent_id = agent_id };
    int rc = rrun(S(st), state_list_fn, &a);
    if (rc) {
        fs_agent_states_free(a.out, a.n);
        return rc;
    }
    *out = a.out;
    *n = a.n;
    return 0;
}

/* --- API keys --------------------------------------------------------- */

typedef struct key_arg {
    const char *name, *hash, *role;
    int64_t now, count;
    char *role_out;
} key_arg;

static int key_add_fn(sqlc *c, void *arg)
{
    key_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_KEY_ADD);
    if (!s) return FS_EIO;
    sqlite3_bind_text(s, 1, a->hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, a->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, a->role, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, a->now);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_CONSTRAINT) return FS_ECONFLICT;
    return rc == SQLITE_DONE ? 0 : sqlc_err(c, rc, "key insert");
}

static int sq_key_add(store *st, const char *name, const char *hash,
                      const char *role, int64_t now)
{
    key_arg a = { .name = name, .hash = hash, .role = role, .now = now };
    return wsubmit(S(st), key_add_fn, &a);
}

static int key_lookup_fn(sqlc *c, void *arg)
{
    key_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_KEY_LOOKUP);
    if (!s) return FS_EIO;
    sqlite3_bind_text(s, 1, a->hash, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        a->role_out = xstrdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_reset(s);
    if (rc == SQLITE_ROW) return 0;
    return rc == SQLITE_DONE ? FS_ENOTFOUND : sqlc_err(c, rc, "key");
}

static int sq_key_lookup(store *st, const char *hash, char **role)
{
    key_arg a = { .hash = hash };
    int rc = rrun(S(st), key_lookup_fn, &a);
    if (!rc) *role = a.role_out;
    return rc;
}

static int key_count_fn(sqlc *c, void *arg)
{
    key_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_KEY_COUNT);
    if (!s) return FS_EIO;
    sqlite3_bind_text(s, 1, a->role, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) a->count = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : sqlc_err(c, rc, "key count");
}

static int sq_key_count(store *st, const char *role, int64_t *n)
{
    key_arg a = { .role = role };
    int rc = rrun(S(st), key_count_fn, &a);
    if (!rc) *n = a.count;
    return rc;
}

/* --- memory documents ------------------------------------------------- */

typedef struct doc_arg {
    fs_doc *docs;
    size_t n;
    int64_t now, id;
    bool with_embedding;
    const store_doc_filter *f;
    int64_t *ids;
    size_t nids;
    fs_doc *out;
} doc_arg;

static int bump_epoch(sqlc *c)
{
    return sqlc_exec(c, SQ_EPOCH_BUMP);
}

static int doc_insert(sqlc *c, doc_arg *a, size_t i)
{
    fs_doc *d = &a->docs[i];
    int64_t parent = d->parent_id;
    if (d->parent_ref >= 0) {
        if ((size_t)d->parent_ref >= i) return FS_EINVAL;
        parent = a->ids[d->parent_ref];
    }
    sqlite3_stmt *s = sqlc_stmt(c, SQ_DOC_INSERT);
    if (!s) return FS_EIO;
    sqlc_bind_time(s, 1, parent);
    if (d->chunk_index >= 0) sqlite3_bind_int(s, 2, d->chunk_index);
    sqlc_bind_text(s, 3, d->agent);
    sqlc_bind_text(s, 4, d->kind);
    sqlite3_bind_text(s, 5, d->content ? d->content : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, d->metadata ? d->metadata : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 7, d->tags ? d->tags : "[]", -1, SQLITE_STATIC);
    sqlite3_bind_double(s, 8, d->importance);
    if (d->embedding)
        sqlite3_bind_blob(s, 9, d->embedding, (int)(d->dims * sizeof(float)),
                          SQLITE_STATIC);
    sqlc_bind_text(s, 10, d->embedder);
    sqlc_bind_text(s, 11, d->embedder_version);
    sqlite3_bind_int64(s, 12, a->now);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) a->ids[i] = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (rc == SQLITE_CONSTRAINT) return FS_EINVAL; /* no such parent */
    return rc == SQLITE_ROW ? 0 : sqlc_err(c, rc, "doc insert");
}

static int doc_add_fn(sqlc *c, void *arg)
{
    doc_arg *a = arg;
    for (size_t i = 0; i < a->n; i++) {
        int rc = doc_insert(c, a, i);
        if (!rc) rc = sqlc_doc_changed(c, a->ids[i], false);
        if (rc) return rc;
    }
    return bump_epoch(c);
}

static int sq_doc_add(store *st, fs_doc *docs, size_t n, int64_t now)
{
    doc_arg a = { .docs = docs, .n = n, .now = now,
                  .ids = xcalloc(n ? n : 1, sizeof(int64_t)) };
    int rc = wsubmit(S(st), doc_add_fn, &a);
    for (size_t i = 0; !rc && i < n; i++) {
        docs[i].id = a.ids[i];
        if (docs[i].parent_ref >= 0)
            docs[i].parent_id = a.ids[docs[i].parent_ref];
        docs[i].created_at = docs[i].updated_at = now;
    }
    free(a.ids);
    return rc;
}

typedef struct update_arg {
    const fs_doc *d;
    bool content;
    fs_doc *chunks;
    size_t n;
    int64_t now;
    int64_t *removed;
    size_t nremoved;
} update_arg;

static int update_meta(sqlc *c, const fs_doc *d, int64_t now)
{
    sqlite3_stmt *s = sqlc_stmt(c, SQ_DOC_UPDATE_META);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, d->id);
    sqlc_bind_text(s, 2, d->kind);
    sqlc_bind_text(s, 3, d->agent);
    sqlite3_bind_text(s, 4, d->metadata ? d->metadata : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, d->tags ? d->tags : "[]", -1, SQLITE_STATIC);
    sqlite3_bind_double(s, 6, d->importance);
    sqlite3_bind_int64(s, 7, now);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return sqlc_err(c, rc, "doc update");
    return sqlite3_changes(c->db) ? 0 : FS_ENOTFOUND;
}

/* Collects the ids of d's chunks, then deletes them. */
static int drop_chunks(sqlc *c, update_arg *a)
{
    sqlite3_stmt *s = sqlc_stmt(c, SQ_DOC_CHUNKS);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, a->d->id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (a->nremoved == cap) {
            cap = cap ? 2 * cap : 8;
            a->removed = xrealloc(a->removed, cap * sizeof *a->removed);
        }
        a->removed[a->nremoved++] = sqlite3_column_int64(s, 0);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return sqlc_err(c, rc, "doc chunks");
    if (!(s = sqlc_stmt(c, SQ_DOC_DELETE_CHUNKS))) return FS_EIO;
    sqlite3_bind_int64(s, 1, a->d->id);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : sqlc_err(c, rc, "doc chunks delete");
}

static int update_content(sqlc *c, update_arg *a)
{
    const fs_doc *d = a->d;
    int rc = drop_chunks(c, a);
    if (rc) return rc;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_DOC_UPDATE_CONTENT);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, d->id);
    sqlite3_bind_text(s, 2, d->content ? d->content : "", -1, SQLITE_STATIC);
    if (d->embedding)
        sqlite3_bind_blob(s, 3, d->embedding, (int)(d->dims * sizeof(float)),
                          SQLITE_STATIC);
    sqlc_bind_text(s, 4, d->embedder);
    sqlc_bind_text(s, 5, d->embedder_version);
    sqlite3_bind_int64(s, 6, a->now);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return sqlc_err(c, rc, "doc content");
    rc = 0;
    doc_arg ins = { .docs = a->chunks, .n = a->n, .now = a->now,
                    .ids = xcalloc(a->n ? a->n : 1, sizeof(int64_t)) };
    for (size_t i = 0; i < a->nremoved && !rc; i++)
        rc = sqlc_doc_changed(c, a->removed[i], true);
    if (!rc) rc = sqlc_doc_changed(c, d->id, false);
    for (size_t i = 0; i < a->n && !rc; i++) {
        a->chunks[i].parent_id = d->id;
        a->chunks[i].parent_ref = -1;
        rc = doc_insert(c, &ins, i);
        a->chunks[i].id = ins.ids[i];
        if (!rc) rc = sqlc_doc_changed(c, ins.ids[i], false);
    }
    free(ins.ids);
    return rc ? rc : bump_epoch(c);
}

static int doc_update_fn(sqlc *c, void *arg)
{
    update_arg *a = arg;
    int rc = update_meta(c, a->d, a->now);
    if (!rc && a->content) rc = update_content(c, a);
    return rc;
}

static int sq_doc_update(store *st, const fs_doc *d, bool content,
                         fs_doc *chunks, size_t n, int64_t now,
                         int64_t **removed, size_t *nremoved)
{
    update_arg a = { d, content, chunks, n, now, NULL, 0 };
    int rc = wsubmit(S(st), doc_update_fn, &a);
    if (rc) {
        free(a.removed);
        return rc;
    }
    *removed = a.removed;
    *nremoved = a.nremoved;
    return 0;
}

static int doc_get_fn(sqlc *c, void *arg)
{
    doc_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_DOC_GET);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, a->id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) sqlc_read_doc(s, a->out, a->with_embedding);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW) return 0;
    return rc == SQLITE_DONE ? FS_ENOTFOUND : sqlc_err(c, rc, "doc");
}

static int sq_doc_get(store *st, int64_t id, bool with_embedding, fs_doc *out)
{
    doc_arg a = { .id = id, .with_embedding = with_embedding, .out = out };
    return rrun(S(st), doc_get_fn, &a);
}

static int doc_delete_fn(sqlc *c, void *arg)
{
    doc_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_DOC_FAMILY);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, a->id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (a->nids == cap) {
            cap = cap ? 2 * cap : 8;
            a->ids = xrealloc(a->ids, cap * sizeof *a->ids);
        }
        a->ids[a->nids++] = sqlite3_column_int64(s, 0);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return sqlc_err(c, rc, "doc family");
    if (a->nids == 0) return FS_ENOTFOUND;
    if (!(s = sqlc_stmt(c, SQ_DOC_DELETE))) return FS_EIO;
    sqlite3_bind_int64(s, 1, a->id);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return sqlc_err(c, rc, "doc delete");
    for (size_t i = 0; i < a->nids; i++)
        if ((rc = sqlc_doc_changed(c, a->ids[i], true))) return rc;
    return bump_epoch(c);
}

static int sq_doc_delete(store *st, int64_t id, int64_t **ids, size_t *n)
{
    doc_arg a = { .id = id };
    int rc = wsubmit(S(st), doc_delete_fn, &a);
    if (rc) {
        free(a.ids);
        return rc;
    }
    *ids = a.ids;
    *n = a.nids;
    return 0;
}

/* A JSON path for metadata key k ('$."k"'), or false when k cannot be
 * quoted safely. */
static bool meta_path(const char *k, char *buf, size_t cap)
{
    if (strpbrk(k, "\"\\") || strlen(k) + 5 > cap) return false;
    snprintf(buf, cap, "$.\"%s\"", k);
    return true;
}

enum { DOC_FILTER_MAX = 16 };

/* Appends the filter's conditions (" AND ..." on documents' columns) with
 * anonymous parameters, in the order doc_bind_filter binds them. */
static int doc_where(const store_doc_filter *f, fs_buf *sql)
{
    if (f->ntags > DOC_FILTER_MAX || f->nmeta > DOC_FILTER_MAX) return FS_EINVAL;
    if (!f->with_chunks) fs_buf_printf(sql, " AND parent_id IS NULL");
    if (f->agent) fs_buf_printf(sql, " AND agent=?");
    if (f->kind) fs_buf_printf(sql, " AND kind=?");
    for (size_t i = 0; i < f->ntags; i++)
        fs_buf_printf(sql, " AND EXISTS (SELECT 1 FROM json_each(tags) "
                           "WHERE value=?)");
    for (size_t i = 0; i < f->nmeta; i++)
        fs_buf_printf(sql, " AND CAST(json_extract(metadata,?) AS TEXT)=?");
    if (f->parent_id) fs_buf_printf(sql, " AND parent_id=?");
    if (f->since) fs_buf_printf(sql, " AND created_at>=?");
    if (f->until) fs_buf_printf(sql, " AND created_at<?");
    if (f->before_id) fs_buf_printf(sql, " AND id<?");
    return 0;
}

/* Binds the filter's values from parameter i on.  OUT: *next, the first
 * parameter after them. */
static int doc_bind_filter(sqlite3_stmt *s, const store_doc_filter *f, int i,
                           int *next)
{
    char path[256];
    if (f->agent) sqlite3_bind_text(s, i++, f->agent, -1, SQLITE_STATIC);
    if (f->kind) sqlite3_bind_text(s, i++, f->kind, -1, SQLITE_STATIC);
    for (size_t k = 0; k < f->ntags; k++)
        sqlite3_bind_text(s, i++, f->tags[k], -1, SQLITE_STATIC);
    for (size_t k = 0; k < f->nmeta; k++) {
        if (!meta_path(f->meta_keys[k], path, sizeof path)) return FS_EINVAL;
        sqlite3_bind_text(s, i++, path, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, i++, f->meta_values[k], -1, SQLITE_STATIC);
    }
    if (f->parent_id) sqlite3_bind_int64(s, i++, f->parent_id);
    if (f->since) sqlite3_bind_int64(s, i++, f->since);
    if (f->until) sqlite3_bind_int64(s, i++, f->until);
    if (f->before_id) sqlite3_bind_int64(s, i++, f->before_id);
    *next = i;
    return 0;
}

static int doc_list_fn(sqlc *c, void *arg)
{
    doc_arg *a = arg;
    fs_buf sql = { 0 };
    fs_buf_printf(&sql, "SELECT " SQLC_DOC_COLS " FROM documents WHERE 1");
    int rc = doc_where(a->f, &sql);
    if (rc) goto free_sql;
    fs_buf_printf(&sql, " ORDER BY id DESC LIMIT ?");
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(c->db, sql.data, -1, &s, NULL) != SQLITE_OK) {
        rc = sqlc_err(c, SQLITE_ERROR, "list docs");
        goto free_sql;
    }
    int last;
    if ((rc = doc_bind_filter(s, a->f, 1, &last))) goto finalize;
    sqlite3_bind_int(s, last, a->f->limit > 0 ? a->f->limit : 50);
    size_t cap = 0;
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (a->n == cap) {
            cap = cap ? 2 * cap : 16;
            a->out = xrealloc(a->out, cap * sizeof *a->out);
        }
        sqlc_read_doc(s, &a->out[a->n++], a->with_embedding);
    }
    if (step != SQLITE_DONE) rc = sqlc_err(c, step, "docs");
finalize:
    sqlite3_finalize(s);
free_sql:
    fs_buf_free(&sql);
    return rc;
}

static int sq_doc_list(store *st, const store_doc_filter *f,
                       bool with_embedding, fs_doc **out, size_t *n)
{
    doc_arg a = { .f = f, .with_embedding = with_embedding };
    int rc = rrun(S(st), doc_list_fn, &a);
    if (rc) {
        fs_docs_free(a.out, a.n);
        return rc;
    }
    *out = a.out;
    *n = a.n;
    return 0;
}

/* --- BM25 text search and term statistics ---------------------------- */

enum { TEXT_QUERY_TERMS = 64 };

typedef struct match_build {
    fs_buf *q;
    size_t n;
} match_build;

/* Each query word becomes a quoted FTS5 string (words never hold '"'),
 * OR-ed together: user text can never inject FTS5 syntax. */
static bool add_match_word(void *ctx, const text_token *t)
{
    match_build *m = ctx;
    fs_buf_printf(m->q, "%s\"%s\"", m->n ? " OR " : "", t->word);
    return ++m->n < TEXT_QUERY_TERMS;
}

typedef struct text_arg {
    const char *query;
    const store_doc_filter *f;
    store_hit *out;
    size_t n;
    int64_t df, ndocs;
} text_arg;

static int run_text_search(sqlc *c, text_arg *a, const char *match)
{
    fs_buf sql = { 0 };
    fs_buf_printf(&sql, "SELECT d.id,-bm25(documents_fts) FROM documents_fts "
                        "JOIN documents d ON d.id=documents_fts.rowid "
                        "WHERE documents_fts MATCH ?");
    int rc = doc_where(a->f, &sql);
    if (rc) goto free_sql;
    fs_buf_printf(&sql, " ORDER BY bm25(documents_fts) LIMIT ?");
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(c->db, sql.data, -1, &s, NULL) != SQLITE_OK) {
        rc = sqlc_err(c, SQLITE_ERROR, "text search");
        goto free_sql;
    }
    sqlite3_bind_text(s, 1, match, -1, SQLITE_STATIC);
    int last;
    if ((rc = doc_bind_filter(s, a->f, 2, &last))) goto finalize;
    int limit = a->f->limit > 0 ? a->f->limit : 50;
    sqlite3_bind_int(s, last, limit);
    a->out = xcalloc((size_t)limit, sizeof *a->out);
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW && a->n < (size_t)limit)
        a->out[a->n++] = (store_hit){ sqlite3_column_int64(s, 0),
                                      sqlite3_column_double(s, 1) };
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        rc = sqlc_err(c, step, "text search");
finalize:
    sqlite3_finalize(s);
free_sql:
    fs_buf_free(&sql);
    return rc;
}

static int text_search_fn(sqlc *c, void *arg)
{
    text_arg *a = arg;
    text_tokenizer *t;
    if (text_tokenizer_open(&t, NULL)) return FS_EIO;
    fs_buf match = { 0 };
    match_build m = { &match, 0 };
    text_tokenize(t, a->query, strlen(a->query), add_match_word, &m);
    text_tokenizer_close(t);
    int rc = m.n ? run_text_search(c, a, match.data) : 0;
    fs_buf_free(&match);
    return rc;
}

static int sq_doc_text_search(store *st, const char *query,
                              const store_doc_filter *f, store_hit **out,
                              size_t *n)
{
    text_arg a = { .query = query, .f = f };
    int rc = rrun(S(st), text_search_fn, &a);
    if (rc) {
        free(a.out);
        return rc;
    }
    *out = a.out;
    *n = a.n;
    return 0;
}

static int int_query(sqlc *c, sqlc_stmt_id id, const char *arg, int64_t *out)
{
    sqlite3_stmt *s = sqlc_stmt(c, id);
    if (!s) return FS_EIO;
    if (arg) sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sqlc_err(c, rc, "stats");
}

/* term NULL: no document frequency; a->ndocs < 0: no count (a count
 * reads the whole table: callers ask once per batch, not per word). */
static int term_stats_fn(sqlc *c, void *arg)
{
    text_arg *a = arg;
    int rc = a->query ? int_query(c, SQ_TERM_DF, a->query, &a->df) : 0;
    if (rc || a->ndocs < 0) return rc;
    return int_query(c, SQ_DOC_COUNT, NULL, &a->ndocs);
}

static int sq_term_stats(store *st, const char *term, int64_t *df,
                         int64_t *ndocs)
{
    text_arg a = { .query = term, .ndocs = ndocs ? 0 : -1 };
    int rc = rrun(S(st), term_stats_fn, &a);
    if (!rc) {
        if (df) *df = a.df;
        if (ndocs) *ndocs = a.ndocs;
    }
    return rc;
}

/* --- embedding cache -------------------------------------------------- */

typedef struct cache_arg {
    const char *embedder;
    const uint8_t (*hashes)[32];
    size_t n, dims;
    float *out;
    const float *in;
    bool *found;
    int64_t now;
} cache_arg;

static int cache_get_fn(sqlc *c, void *arg)
{
    cache_arg *a = arg;
    size_t bytes = a->dims * sizeof(float);
    for (size_t i = 0; i < a->n; i++) {
        sqlite3_stmt *s = sqlc_stmt(c, SQ_CACHE_GET);
        if (!s) return FS_EIO;
        sqlite3_bind_text(s, 1, a->embedder, -1, SQLITE_STATIC);
        sqlite3_bind_blob(s, 2, a->hashes[i], 32, SQLITE_STATIC);
        int rc = sqlite3_step(s);
        a->found[i] = rc == SQLITE_ROW &&
                      (size_t)sqlite3_column_bytes(s, 0) == bytes;
        if (a->found[i])
            memcpy(a->out + i * a->dims, sqlite3_column_blob(s, 0), bytes);
        sqlite3_reset(s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return sqlc_err(c, rc, "cache get");
    }
    return 0;
}

static int sq_cache_get(store *st, const char *embedder,
                        const uint8_t (*hashes)[32], size_t n, size_t dims,
                        float *out, bool *found)
{
    cache_arg a = { embedder, hashes, n, dims, out, NULL, found, 0 };
    return rrun(S(st), cache_get_fn, &a);
}

static int cache_put_fn(sqlc *c, void *arg)
{
    cache_arg *a = arg;
    for (size_t i = 0; i < a->n; i++) {
        sqlite3_stmt *s = sqlc_stmt(c, SQ_CACHE_PUT);
        if (!s) return FS_EIO;
        sqlite3_bind_text(s, 1, a->embedder, -1, SQLITE_STATIC);
        sqlite3_bind_blob(s, 2, a->hashes[i], 32, SQLITE_STATIC);
        sqlite3_bind_blob(s, 3, a->in + i * a->dims,
                          (int)(a->dims * sizeof(float)), SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, a->now);
        int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE) return sqlc_err(c, rc, "cache put");
    }
    return 0;
}

static int sq_cache_put(store *st, const char *embedder,
                        const uint8_t (*hashes)[32], size_t n, size_t dims,
                        const float *vecs, int64_t now)
{
    cache_arg a = { embedder, hashes, n, dims, NULL, vecs, NULL, now };
    return wsubmit(S(st), cache_put_fn, &a);
}

typedef struct setting_arg {
    const char *key, *value;
    char *stored;
} setting_arg;

static int setting_read(sqlc *c, setting_arg *a)
{
    sqlite3_stmt *s = sqlc_stmt(c, SQ_SETTING_GET);
    if (!s) return FS_EIO;
    sqlite3_bind_text(s, 1, a->key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        a->stored = xstrdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_reset(s);
    if (rc == SQLITE_ROW) return 0;
    return rc == SQLITE_DONE ? FS_ENOTFOUND : sqlc_err(c, rc, "setting");
}

static int epoch_fn(sqlc *c, void *arg)
{
    return setting_read(c, arg);
}

static int sq_memory_epoch(store *st, int64_t *epoch)
{
    setting_arg a = { .key = "epoch" };
    int rc = rrun(S(st), epoch_fn, &a);
    if (!rc) *epoch = strtoll(a.stored, NULL, 10);
    free(a.stored);
    return rc;
}

static int setting_init_fn(sqlc *c, void *arg)
{
    setting_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_SETTING_INIT);
    if (!s) return FS_EIO;
    sqlite3_bind_text(s, 1, a->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, a->value, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return sqlc_err(c, rc, "setting init");
    return setting_read(c, a);
}

static int sq_setting_init(store *st, const char *key, const char *value,
                           char **stored)
{
    setting_arg a = { .key = key, .value = value };
    int rc = wsubmit(S(st), setting_init_fn, &a);
    if (rc) {
        free(a.stored);
        return rc;
    }
    *stored = a.stored;
    return 0;
}

/* --- open / close ----------------------------------------------------- */

/* --- jobs added by other processes ------------------------------------ */

#define NEWEST_POLL_MS 50

static int newest_fn(sqlc *c, void *arg)
{
    sqlite3_stmt *s = sqlc_stmt(c, SQ_JOB_NEWEST);
    if (!s) return FS_EIO;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *(int64_t *)arg = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : sqlc_err(c, rc, "newest job");
}

/* The position is the newest job id (-1 for none): it moves with every
 * insert. */
static int newest_pos(sqlite_store *s, int64_t *pos)
{
    int64_t newest = 0;
    int rc = rrun(s, newest_fn, &newest);
    *pos = newest ? newest : -1;
    return rc;
}

static int sq_jobs_wait(store *st, int64_t *mark, int timeout_ms, bool *woke)
{
    *woke = false;
    if (timeout_ms < 1 || timeout_ms > 10000) return FS_EINVAL;
    int64_t pos, until = fs_mono_ms() + timeout_ms;
    bool first = *mark == 0;
    int rc = newest_pos(S(st), &pos);
    while (!rc && !first && pos == *mark && fs_mono_ms() < until) {
        struct timespec ts = { 0, NEWEST_POLL_MS * 1000000L };
        nanosleep(&ts, NULL);
        rc = newest_pos(S(st), &pos);
    }
    if (rc) return rc;
    *woke = !first && pos != *mark;
    *mark = pos;
    return 0;
}

static void sq_close(store *st)
{
    sqlite_store *s = S(st);
    pthread_mutex_lock(&s->lock);
    s->closed = true; /* callers must have stopped writing by now */
    while (s->leading) pthread_cond_wait(&s->done, &s->lock);
    pthread_mutex_unlock(&s->lock);
    for (rconn *r = s->readers, *next; r; r = next) {
        next = r->next;
        sqlc_close(r->c);
        free(r);
    }
    sqlc_close(s->w);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->rlock);
    pthread_cond_destroy(&s->done);
    free(s->path);
    free(s);
}

static const store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .job_enqueue = sq_job_enqueue,
    .job_get = sq_job_get,
    .job_list = sq_job_list,
    .job_lease = sq_job_lease,
    .job_heartbeat = sq_job_heartbeat,
    .job_complete = sq_job_complete,
    .job_fail = sq_job_fail,
    .job_cancel = sq_job_cancel,
    .job_retry = sq_job_retry,
    .job_promote = sq_job_promote,
    .job_rescue = sq_job_rescue,
    .job_prune = sq_job_prune,
    .job_next_due = sq_job_next_due,
    .job_stats = sq_job_stats,
    .jobs_wait = sq_jobs_wait,
    .agent_create = sq_agent_create,
    .agent_get = sq_agent_get,
    .agent_by_token = sq_agent_by_token,
    .agent_list = sq_agent_list,
    .agent_heartbeat = sq_agent_heartbeat,
    .state_get = sq_state_get,
    .state_put = sq_state_put,
    .state_versions = sq_state_versions,
    .key_add = sq_key_add,
    .key_lookup = sq_key_lookup,
    .key_count = sq_key_count,
    .doc_add = sq_doc_add,
    .doc_get = sq_doc_get,
    .doc_update = sq_doc_update,
    .doc_delete = sq_doc_delete,
    .doc_list = sq_doc_list,
    .memory_epoch = sq_memory_epoch,
    .setting_init = sq_setting_init,
    .doc_text_search = sq_doc_text_search,
    .term_stats = sq_term_stats,
    .cache_get = sq_cache_get,
    .cache_put = sq_cache_put,
    .workflow_put = sqs_workflow_put,
    .workflow_get = sqs_workflow_get,
    .workflow_list = sqs_workflow_list,
    .run_commit = sqs_run_commit,
    .run_get = sqs_run_get,
    .run_list = sqs_run_list,
    .run_events = sqs_run_events,
    .job_signals = sqs_job_signals,
    .schedule_put = sqs_schedule_put,
    .schedule_get = sqs_schedule_get,
    .schedule_list = sqs_schedule_list,
    .schedule_delete = sqs_schedule_delete,
    .schedule_fire = sqs_schedule_fire,
    .doc_changes = sqs_doc_changes,
    .doc_changes_prune = sqs_doc_changes_prune,
    .evolution_add = sqs_evolution_add,
    .evolution_get = sqs_evolution_get,
    .evolution_list = sqs_evolution_list,
    .evolution_update = sqs_evolution_update,
    .dump_tables = sqs_dump_tables,
    .dump_rows = sqs_dump_rows,
    .load_rows = sqs_load_rows,
};

/* Process-wide SQLite settings, before first use: no memory statistics
 * (they take a global mutex on every allocation). */
static void configure_sqlite(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int store_sqlite_open(store **out, const char *path, const store_options *opt)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, configure_sqlite);
    sqlite_store *s = xcalloc(1, sizeof *s);
    s->base.ops = &sqlite_ops;
    s->path = xstrdup(path);
    s->opt = *opt;
    if (s->opt.busy_timeout_ms <= 0) s->opt.busy_timeout_ms = 5000;
    if (sqlc_open(&s->w, path, s->opt.sync_normal, s->opt.busy_timeout_ms))
        goto fail;
    if (sqlc_migrate(s->w, fs_now(&fs_clock_real))) goto fail;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->rlock, NULL);
    pthread_cond_init(&s->done, NULL);
    *out = &s->base;
    return 0;
fail:
    sqlc_close(s->w);
    free(s->path);
    free(s);
    return FS_EIO;
}
