/*
 * store_pg.c - the PostgreSQL backend of store.h: jobs, agents with their
 * versioned state, API keys, and the ops table.
 *
 * Every op is one pgc_run() call (pg_conn.h): reads run in autocommit on a
 * pooled connection, writes in one read-committed transaction, so many
 * processes and threads share the database and each op is atomic.  What
 * SQLite gets from its single writer, PostgreSQL gets from row locks:
 *
 *   lease     one statement claims and marks running the best ready jobs,
 *             FOR UPDATE SKIP LOCKED: concurrent leasers take disjoint
 *             jobs and never wait for each other;
 *   promote,  take only rows nobody else holds (SKIP LOCKED), so several
 *   rescue,   processes may sweep at once: each row moves exactly once;
 *   prune
 *   complete, conditional UPDATEs on (state, lease_token): a rescue or a
 *   heartbeat cancel that got there first makes them match nothing
 *   fail      (the fail reads its job FOR UPDATE before computing backoff);
 *   state_put locks the agent row, so versions are appended one by one.
 *
 * A transaction that deadlocks is run again by pgc_run(), so every op's
 * function starts from its inputs and overwrites its outputs.  The
 * caller's records change only after the commit.  Documents live in
 * store_pg_docs.c, workflows in store_pg_wf.c, schedules in
 * store_pg_sched.c, the evolution log in store_pg_evo.c.
 */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/xmem.h"
#include "store/pg_conn.h"
#include "store/store.h"

/* Connections per store: enough for the queue's workers and the HTTP
 * threads to run side by side; each is opened on first need. */
enum { POOL_SIZE = 8, PRUNE_CHUNK = 5000 };

typedef struct pg_store {
    store base;
    pgc_pool *pool;
    pgs_listener *listen; /* jobs_wait */
} pg_store;

#define P(st) (((pg_store *)(st))->pool)

pgc_pool *pgs_pool(store *st) { return P(st); }

/* --- small helpers ---------------------------------------------------- */

/* Why did a conditional update of job id match nothing?  FS_ENOTFOUND when
 * the job does not exist, else `otherwise`. */
static int why_not(pgc *c, int64_t id, int otherwise)
{
    pgc_params p = { 0 };
    pgc_int(&p, id);
    PGresult *r;
    int rc = pgc_one(c, PG_JOB_STATE, &p, &r);
    if (rc) return rc;
    PQclear(r);
    return otherwise;
}

/* Runs a statement returning one job row into *out (may be NULL). */
static int one_job(pgc *c, pgc_stmt_id id, const pgc_params *p, fs_job *out)
{
    PGresult *r;
    int rc = pgc_one(c, id, p, &r);
    if (rc) return rc;
    if (out) {
        fs_job_clear(out);
        pgc_read_job(r, 0, 0, out);
    }
    PQclear(r);
    return 0;
}

static void row_job(const PGresult *r, int row, void *rec)
{
    pgc_read_job(r, row, 0, rec);
}

/* --- jobs: enqueue ---------------------------------------------------- */

void pgs_enqueue_reset(pgs_enqueue *e)
{
    for (size_t i = 0; i < e->n; i++) {
        if (e->found[i]) fs_job_clear(&e->existing[i]);
        e->found[i] = false;
        e->ids[i] = 0;
    }
}

/* Inserts e's only job in one statement (or reads the job its unique key
 * names). */
static int enqueue_one(pgc *c, pgs_enqueue *e)
{
    const fs_job *j = &e->jobs[0];
    int64_t run_at = j->run_at ? j->run_at : e->now;
    pgc_params p = { 0 };
    pgc_text(&p, j->type);
    pgc_text(&p, j->target_agent);
    pgc_text(&p, j->payload ? j->payload : "{}");
    pgc_int(&p, j->priority);
    pgc_int(&p, run_at);
    pgc_int(&p, j->max_attempts);
    pgc_int(&p, j->timeout_ms);
    pgc_text(&p, j->unique_key);
    pgc_text(&p, run_at > e->now ? "scheduled" : "pending");
    pgc_time(&p, j->parent_id);
    pgc_int(&p, e->now);
    pgc_time(&p, e->run_id ? e->run_id : j->run_id);
    PGresult *r;
    int rc = pgc_exec(c, PG_JOB_INSERT, &p, &r);
    if (rc) return rc;
    bool inserted = PQntuples(r) == 1;
    if (inserted) e->ids[0] = pgc_get_int(r, 0, 0);
    PQclear(r);
    if (inserted) return 0;
    if (!j->unique_key) return FS_EIO;
    p = (pgc_params){ 0 }; /* the key is taken: return that job */
    pgc_text(&p, j->unique_key);
    rc = one_job(c, PG_JOB_BY_KEY, &p, &e->existing[0]);
    if (rc) return rc == FS_ENOTFOUND ? FS_EIO : rc;
    e->found[0] = true;
    return 0;
}

static int id_cmp(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* Takes n fresh ids, ascending, into e->ids. */
static int take_ids(pgc *c, pgs_enqueue *e)
{
    pgc_params p = { 0 };
    pgc_int(&p, (int64_t)e->n);
    PGresult *r;
    int rc = pgc_exec(c, PG_JOB_IDS, &p, &r);
    if (rc) return rc;
    if ((size_t)PQntuples(r) != e->n) rc = FS_EIO;
    for (size_t i = 0; !rc && i < e->n; i++)
        e->ids[i] = pgc_get_int(r, (int)i, 0);
    PQclear(r);
    if (!rc) qsort(e->ids, e->n, sizeof *e->ids, id_cmp);
    return rc;
}

static void array_time(fs_buf *b, int64_t v)
{
    if (v) pgc_array_int(b, v);
    else pgc_array_add(b, NULL);
}

/* The twelve array literals of PG_JOB_INSERT_MANY, as parameters. */
static void bind_jobs(pgc_params *p, fs_buf *cols, const pgs_enqueue *e)
{
    for (size_t i = 0; i < e->n; i++) {
        const fs_job *j = &e->jobs[i];
        int64_t run_at = j->run_at ? j->run_at : e->now;
        pgc_array_int(&cols[0], e->ids[i]);
        pgc_array_add(&cols[1], j->type);
        pgc_array_add(&cols[2], j->target_agent);
        pgc_array_add(&cols[3], j->payload ? j->payload : "{}");
        pgc_array_int(&cols[4], j->priority);
        pgc_array_int(&cols[5], run_at);
        pgc_array_int(&cols[6], j->max_attempts);
        pgc_array_int(&cols[7], j->timeout_ms);
        pgc_array_add(&cols[8], j->unique_key);
        pgc_array_add(&cols[9], run_at > e->now ? "scheduled" : "pending");
        array_time(&cols[10], j->parent_id);
        array_time(&cols[11], e->run_id ? e->run_id : j->run_id);
    }
    for (int k = 0; k < 12; k++) pgc_text(p, pgc_array_end(&cols[k]));
    pgc_int(p, e->now);
}

/* Reads the stored jobs of the batch's keys that were taken (found[i]
 * marks those rows not inserted). */
static int read_taken(pgc *c, pgs_enqueue *e)
{
    fs_buf keys = { 0 };
    for (size_t i = 0; i < e->n; i++)
        if (e->found[i]) pgc_array_add(&keys, e->jobs[i].unique_key);
    pgc_params p = { 0 };
    pgc_text(&p, pgc_array_end(&keys));
    fs_job *rows = NULL;
    size_t n = 0;
    int rc = pgc_collect(c, PG_JOB_BY_KEYS, &p, sizeof(fs_job), row_job,
                         (void **)&rows, &n);
    fs_buf_free(&keys);
    for (size_t i = 0; !rc && i < e->n; i++) {
        if (!e->found[i]) continue;
        size_t k = 0;
        while (k < n && strcmp(rows[k].unique_key, e->jobs[i].unique_key)) k++;
        if (k == n) rc = FS_EIO;
        else fs_job_copy(&e->existing[i], &rows[k]);
    }
    fs_jobs_free(rows, n);
    return rc;
}

/* found[i] for the rows the insert did not return: their key was taken.
 * FS_EIO if a row without a key is missing. */
static int mark_taken(pgs_enqueue *e, const PGresult *r)
{
    size_t got = (size_t)PQntuples(r);
    int64_t *ins = xcalloc(got ? got : 1, sizeof *ins);
    for (size_t k = 0; k < got; k++) ins[k] = pgc_get_int(r, (int)k, 0);
    qsort(ins, got, sizeof *ins, id_cmp);
    bool any = false;
    for (size_t i = 0; i < e->n; i++) {
        e->found[i] = !bsearch(&e->ids[i], ins, got, sizeof *ins, id_cmp);
        any |= e->found[i];
    }
    free(ins);
    for (size_t i = 0; i < e->n; i++)
        if (e->found[i] && !e->jobs[i].unique_key) return FS_EIO;
    return any ? 1 : 0;
}

int pgs_enqueue_all(pgc *c, pgs_enqueue *e)
{
    pgs_enqueue_reset(e);
    if (e->n <= 1) return e->n ? enqueue_one(c, e) : 0;
    int rc = take_ids(c, e);
    if (rc) return rc;
    fs_buf cols[12] = { { 0 } };
    pgc_params p = { 0 };
    bind_jobs(&p, cols, e);
    PGresult *r;
    rc = pgc_exec(c, PG_JOB_INSERT_MANY, &p, &r);
    for (int k = 0; k < 12; k++) fs_buf_free(&cols[k]);
    if (rc) return rc;
    rc = mark_taken(e, r);
    PQclear(r);
    return rc > 0 ? read_taken(c, e) : rc;
}

void pgs_enqueue_result(pgs_enqueue *e, fs_job *j, size_t i, bool *existed)
{
    if (existed) existed[i] = e->found[i];
    if (e->found[i]) {
        fs_job_clear(j);
        *j = e->existing[i];
        e->found[i] = false; /* moved to the caller */
        return;
    }
    j->id = e->ids[i];
    if (e->run_id) j->run_id = e->run_id;
    if (!j->run_at) j->run_at = e->now;
    j->state = j->run_at > e->now ? JOB_SCHEDULED : JOB_PENDING;
    if (!j->payload) j->payload = xstrdup("{}");
    j->attempts = 0;
    j->created_at = j->updated_at = e->now;
}

static int enqueue_fn(pgc *c, void *arg)
{
    return pgs_enqueue_all(c, arg);
}

static int pg_job_enqueue(store *st, fs_job *jobs, size_t n, int64_t now,
                          bool *existed)
{
    size_t m = n ? n : 1;
    pgs_enqueue e = { jobs, n, now, xcalloc(m, sizeof(int64_t)),
                      xcalloc(m, sizeof(fs_job)), xcalloc(m, sizeof(bool)),
                      0 };
    int rc = pgc_run(P(st), PGC_WRITE, enqueue_fn, &e);
    for (size_t i = 0; !rc && i < n; i++)
        pgs_enqueue_result(&e, &jobs[i], i, existed);
    pgs_enqueue_reset(&e);
    free(e.ids);
    free(e.existing);
    free(e.found);
    return rc;
}

/* --- jobs: reads ------------------------------------------------------ */

typedef struct get_arg {
    int64_t id;
    fs_job *out;
} get_arg;

static int get_fn(pgc *c, void *arg)
{
    get_arg *a = arg;
    pgc_params p = { 0 };
    pgc_int(&p, a->id);
    return one_job(c, PG_JOB_GET, &p, a->out);
}

static int pg_job_get(store *st, int64_t id, fs_job *out)
{
    memset(out, 0, sizeof *out);
    get_arg a = { id, out };
    return pgc_run(P(st), PGC_READ, get_fn, &a);
}

typedef struct list_arg {
    const store_job_filter *f;
    fs_job *out;
    size_t n;
} list_arg;

static int list_fn(pgc *c, void *arg)
{
    list_arg *a = arg;
    const store_job_filter *f = a->f;
    pgc_params p = { 0 };
    pgc_text(&p, f->state >= 0 ? job_state_name(f->state) : NULL);
    pgc_text(&p, f->type);
    pgc_text(&p, f->target_agent);
    pgc_time(&p, f->parent_id);
    pgc_time(&p, f->before_id);
    pgc_int(&p, f->limit > 0 ? f->limit : 50);
    return pgc_collect(c, PG_JOB_LIST, &p, sizeof(fs_job), row_job,
                       (void **)&a->out, &a->n);
}

static int pg_job_list(store *st, const store_job_filter *f, fs_job **out,
                       size_t *n)
{
    list_arg a = { f, NULL, 0 };
    int rc = pgc_run(P(st), PGC_READ, list_fn, &a);
    if (!rc) {
        *out = a.out;
        *n = a.n;
    }
    return rc;
}

/* --- jobs: lease ------------------------------------------------------ */

typedef struct lease_arg {
    const store_lease *req;
    const char *types;  /* text[] literal, NULL = any type */
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

static int lease_fn(pgc *c, void *arg)
{
    lease_arg *a = arg;
    const store_lease *r = a->req;
    fs_jobs_free(a->out, a->n);
    a->out = NULL;
    a->n = 0;
    pgc_params p = { 0 };
    pgc_int(&p, a->now);
    int rc = pgc_exec(c, PG_JOB_PROMOTE, &p, NULL);
    if (rc) return rc;
    const char *by_id = r->agent_id;
    if (by_id && r->agent_type && !strcmp(by_id, r->agent_type)) by_id = NULL;
    p = (pgc_params){ 0 };
    pgc_text(&p, r->agent_type);
    pgc_int(&p, r->max);
    pgc_text(&p, r->agent_id);
    pgc_int(&p, a->now);
    pgc_text(&p, by_id);
    pgc_text(&p, a->types);
    pgc_int(&p, r->lease_ms);
    rc = pgc_collect(c, PG_JOB_LEASE, &p, sizeof(fs_job), row_job,
                     (void **)&a->out, &a->n);
    if (rc) return rc;
    if (a->n > 1) qsort(a->out, a->n, sizeof *a->out, lease_cmp);
    if (!r->agent_id || a->n == 0) return 0;
    p = (pgc_params){ 0 };
    pgc_text(&p, r->agent_id);
    pgc_int(&p, a->now);
    return pgc_exec(c, PG_AGENT_HEARTBEAT, &p, NULL);
}

static int pg_job_lease(store *st, const store_lease *req, int64_t now,
                        fs_job **out, size_t *n)
{
    if (req->max < 1 || (!req->agent_id && !req->agent_type)) return FS_EINVAL;
    fs_buf types = { 0 };
    for (size_t i = 0; i < req->ntypes; i++)
        pgc_array_add(&types, req->types[i]);
    lease_arg a = { req, req->ntypes ? pgc_array_end(&types) : NULL, now,
                    NULL, 0 };
    int rc = pgc_run(P(st), PGC_WRITE, lease_fn, &a);
    fs_buf_free(&types);
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

static int heartbeat_fn(pgc *c, void *arg)
{
    hb_arg *a = arg;
    pgc_params p = { 0 };
    pgc_int(&p, a->id);
    pgc_text(&p, a->token);
    pgc_int(&p, a->now);
    pgc_int(&p, a->lease_ms);
    PGresult *r;
    int rc = pgc_one(c, PG_JOB_HEARTBEAT, &p, &r);
    if (rc == FS_ENOTFOUND) return why_not(c, a->id, FS_ELEASE);
    if (rc) return rc;
    a->expires = pgc_get_int(r, 0, 0);
    PQclear(r);
    return 0;
}

static int pg_job_heartbeat(store *st, int64_t id, const char *token,
                            int64_t lease_ms, int64_t now, int64_t *expires)
{
    hb_arg a = { id, token, lease_ms, now, 0 };
    int rc = pgc_run(P(st), PGC_WRITE, heartbeat_fn, &a);
    if (!rc && expires) *expires = a.expires;
    return rc;
}

typedef struct complete_arg {
    store_completion *items;
    size_t n;
    int64_t now;
    const char *ids, *tokens, *results; /* array literals */
} complete_arg;

/* One statement for the batch; per-item outcomes go in items[i].rc. */
static int complete_fn(pgc *c, void *arg)
{
    complete_arg *a = arg;
    pgc_params p = { 0 };
    pgc_text(&p, a->ids);
    pgc_text(&p, a->tokens);
    pgc_text(&p, a->results);
    pgc_int(&p, a->now);
    PGresult *r;
    int rc = pgc_exec(c, PG_JOB_COMPLETE, &p, &r);
    if (rc) return rc;
    if ((size_t)PQntuples(r) != a->n) {
        PQclear(r);
        return FS_EIO;
    }
    for (size_t i = 0; i < a->n; i++) {
        store_completion *it = &a->items[i];
        bool done = pgc_get_bool(r, (int)i, 1);
        it->started_at = done ? pgc_get_int(r, (int)i, 0) : 0;
        it->rc = done ? 0 : pgc_get_bool(r, (int)i, 2) ? FS_ELEASE
                                                       : FS_ENOTFOUND;
    }
    PQclear(r);
    return 0;
}

static int pg_job_complete(store *st, store_completion *items, size_t n,
                           int64_t now)
{
    if (n == 0) return 0;
    fs_buf ids = { 0 }, tokens = { 0 }, results = { 0 };
    for (size_t i = 0; i < n; i++) {
        pgc_array_int(&ids, items[i].id);
        pgc_array_add(&tokens, items[i].lease_token);
        pgc_array_add(&results, items[i].result);
    }
    complete_arg a = { items, n, now, pgc_array_end(&ids),
                       pgc_array_end(&tokens), pgc_array_end(&results) };
    int rc = pgc_run(P(st), PGC_WRITE, complete_fn, &a);
    fs_buf_free(&ids);
    fs_buf_free(&tokens);
    fs_buf_free(&results);
    return rc;
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

/* Reads the job under its row lock, then retries or dead-letters it. */
static int fail_fn(pgc *c, void *arg)
{
    fail_arg *a = arg;
    pgc_params p = { 0 };
    pgc_int(&p, a->id);
    PGresult *r;
    int rc = pgc_one(c, PG_JOB_FAIL_READ, &p, &r);
    if (rc) return rc;
    const char *token = pgc_is_null(r, 0, 1) ? NULL : PQgetvalue(r, 0, 1);
    bool held = !strcmp(PQgetvalue(r, 0, 0), "running") && token &&
                a->token && !strcmp(token, a->token);
    int attempts = (int)pgc_get_int(r, 0, 2);
    int max = (int)pgc_get_int(r, 0, 3);
    PQclear(r);
    if (!held) return FS_ELEASE;
    bool again = a->retry && attempts < max;
    int64_t run_at = again ? a->now + fs_backoff_delay(a->bo, attempts,
                                                       a->jitter_u)
                           : a->now;
    p = (pgc_params){ 0 };
    pgc_int(&p, a->id);
    pgc_text(&p, again ? "scheduled" : "failed");
    pgc_text(&p, a->error);
    pgc_int(&p, run_at);
    pgc_time(&p, again ? 0 : a->now);
    pgc_int(&p, a->now);
    rc = one_job(c, PG_JOB_FAIL, &p, &a->out);
    return rc == FS_ENOTFOUND ? FS_EIO : rc;
}

static int pg_job_fail(store *st, int64_t id, const char *token,
                       const char *error, bool retry, const fs_backoff *bo,
                       int64_t now, fs_job *out)
{
    static const fs_backoff none = { 0, 0, 0 };
    fail_arg a = { id, token, error, retry, bo ? bo : &none, now, fs_rand01(),
                   { 0 } };
    int rc = pgc_run(P(st), PGC_WRITE, fail_fn, &a);
    if (!rc && out) *out = a.out;
    else fs_job_clear(&a.out);
    return rc;
}

/* --- jobs: admin transitions ------------------------------------------ */

typedef struct trans_arg {
    pgc_stmt_id stmt;
    int64_t id, now;
    fs_job out;
} trans_arg;

static int transition_fn(pgc *c, void *arg)
{
    trans_arg *a = arg;
    pgc_params p = { 0 };
    pgc_int(&p, a->id);
    pgc_int(&p, a->now);
    int rc = one_job(c, a->stmt, &p, &a->out);
    return rc == FS_ENOTFOUND ? why_not(c, a->id, FS_ESTATE) : rc;
}

static int transition(store *st, pgc_stmt_id stmt, int64_t id, int64_t now,
                      fs_job *out)
{
    trans_arg a = { stmt, id, now, { 0 } };
    int rc = pgc_run(P(st), PGC_WRITE, transition_fn, &a);
    if (!rc && out) *out = a.out;
    else fs_job_clear(&a.out);
    return rc;
}

static int pg_job_cancel(store *st, int64_t id, int64_t now, fs_job *out)
{
    return transition(st, PG_JOB_CANCEL, id, now, out);
}

static int pg_job_retry(store *st, int64_t id, int64_t now, fs_job *out)
{
    return transition(st, PG_JOB_RETRY, id, now, out);
}

/* --- jobs: housekeeping ----------------------------------------------- */

typedef struct sweep_arg {
    pgc_stmt_id stmt;
    int64_t t;
    size_t n;
} sweep_arg;

static int sweep_fn(pgc *c, void *arg)
{
    sweep_arg *a = arg;
    pgc_params p = { 0 };
    pgc_int(&p, a->t);
    if (a->stmt == PG_JOB_PRUNE) pgc_int(&p, PRUNE_CHUNK);
    int rc = pgc_exec(c, a->stmt, &p, NULL);
    a->n = rc ? 0 : (size_t)pgc_changes(c);
    return rc;
}

static int sweep(store *st, pgc_stmt_id stmt, int64_t t, size_t *n)
{
    sweep_arg a = { stmt, t, 0 };
    int rc = pgc_run(P(st), PGC_WRITE, sweep_fn, &a);
    if (n) *n = rc ? 0 : a.n;
    return rc;
}

static int pg_job_promote(store *st, int64_t now, size_t *n)
{
    return sweep(st, PG_JOB_PROMOTE, now, n);
}

static int pg_job_rescue(store *st, int64_t now, size_t *n)
{
    return sweep(st, PG_JOB_RESCUE, now, n);
}

/* Deletes in chunks so no transaction holds many rows for long. */
static int pg_job_prune(store *st, int64_t before, size_t *n)
{
    size_t total = 0, got;
    int rc;
    do {
        if ((rc = sweep(st, PG_JOB_PRUNE, before, &got))) break;
        total += got;
    } while (got == PRUNE_CHUNK);
    if (n) *n = total;
    return rc;
}

typedef struct due_arg {
    int64_t run_at, expiry;
} due_arg;

static int due_fn(pgc *c, void *arg)
{
    due_arg *a = arg;
    PGresult *r;
    int rc = pgc_one(c, PG_JOB_NEXT_DUE, NULL, &r);
    if (rc) return rc == FS_ENOTFOUND ? FS_EIO : rc;
    a->run_at = pgc_get_int(r, 0, 0);
    a->expiry = pgc_get_int(r, 0, 1);
    PQclear(r);
    return 0;
}

static int pg_job_next_due(store *st, int64_t *next_run_at,
                           int64_t *next_expiry)
{
    due_arg a = { 0, 0 };
    int rc = pgc_run(P(st), PGC_READ, due_fn, &a);
    *next_run_at = a.run_at;
    *next_expiry = a.expiry;
    return rc;
}

static void row_stat(const PGresult *r, int row, void *rec)
{
    store_stat *s = rec;
    s->type = pgc_get_text(r, row, 0);
    if (!job_state_parse(PQgetvalue(r, row, 1), &s->state))
        s->state = JOB_FAILED;
    s->count = pgc_get_int(r, row, 2);
    s->oldest_run_at = pgc_get_int(r, row, 3);
}

typedef struct stats_arg {
    store_stat *rows;
    size_t n;
} stats_arg;

static int stats_fn(pgc *c, void *arg)
{
    stats_arg *a = arg;
    return pgc_collect(c, PG_JOB_STATS, NULL, sizeof(store_stat), row_stat,
                       (void **)&a->rows, &a->n);
}

static int pg_job_stats(store *st, store_stat **rows, size_t *n)
{
    stats_arg a = { NULL, 0 };
    int rc = pgc_run(P(st), PGC_READ, stats_fn, &a);
    if (!rc) {
        *rows = a.rows;
        *n = a.n;
    }
    return rc;
}

/* --- agents ----------------------------------------------------------- */

typedef struct agent_arg {
    const fs_agent *in;
    const char *key; /* id, token hash or (for heartbeat) id */
    pgc_stmt_id stmt;
    int64_t now;
    fs_agent *out;
    size_t n;
} agent_arg;

static int agent_create_fn(pgc *c, void *arg)
{
    agent_arg *a = arg;
    pgc_params p = { 0 };
    pgc_text(&p, a->in->id);
    pgc_text(&p, a->in->name);
    pgc_text(&p, a->in->type);
    pgc_text(&p, a->in->job_types);
    pgc_text(&p, a->in->metadata);
    pgc_text(&p, a->key);
    pgc_int(&p, a->in->created_at);
    pgc_int(&p, a->in->last_heartbeat);
    return pgc_exec(c, PG_AGENT_INSERT, &p, NULL);
}

static int pg_agent_create(store *st, const fs_agent *in, const char *hash)
{
    agent_arg a = { .in = in, .key = hash };
    return pgc_run(P(st), PGC_WRITE, agent_create_fn, &a);
}

static int agent_one_fn(pgc *c, void *arg)
{
    agent_arg *a = arg;
    pgc_params p = { 0 };
    pgc_text(&p, a->key);
    PGresult *r;
    int rc = pgc_one(c, a->stmt, &p, &r);
    if (rc) return rc;
    pgc_read_agent(r, 0, a->out);
    PQclear(r);
    return 0;
}

static int pg_agent_get(store *st, const char *id, fs_agent *out)
{
    agent_arg a = { .key = id, .stmt = PG_AGENT_GET, .out = out };
    return pgc_run(P(st), PGC_READ, agent_one_fn, &a);
}

static int pg_agent_by_token(store *st, const char *hash, fs_agent *out)
{
    agent_arg a = { .key = hash, .stmt = PG_AGENT_BY_TOKEN, .out = out };
    return pgc_run(P(st), PGC_READ, agent_one_fn, &a);
}

static void row_agent(const PGresult *r, int row, void *rec)
{
    pgc_read_agent(r, row, rec);
}

static int agent_list_fn(pgc *c, void *arg)
{
    agent_arg *a = arg;
    return pgc_collect(c, PG_AGENT_LIST, NULL, sizeof(fs_agent), row_agent,
                       (void **)&a->out, &a->n);
}

static int pg_agent_list(store *st, fs_agent **out, size_t *n)
{
    agent_arg a = { 0 };
    int rc = pgc_run(P(st), PGC_READ, agent_list_fn, &a);
    if (!rc) {
        *out = a.out;
        *n = a.n;
    }
    return rc;
}

static int agent_heartbeat_fn(pgc *c, void *arg)
{
    agent_arg *a = arg;
    pgc_params p = { 0 };
    pgc_text(&p, a->key);
    pgc_int(&p, a->now);
    int rc = pgc_exec(c, PG_AGENT_HEARTBEAT, &p, NULL);
    if (rc) return rc;
    return pgc_changes(c) ? 0 : FS_ENOTFOUND;
}

static int pg_agent_heartbeat(store *st, const char *id, int64_t now)
{
    agent_arg a = { .key = id, .now = now };
    return pgc_run(P(st), PGC_WRITE, agent_heartbeat_fn, &a);
}

/* --- agent state versions --------------------------------------------- */

typedef struct state_arg {
    const char *agent_id, *json;
    int64_t version, now;
    int64_t written;         /* put: the version appended */
    fs_agent_state *out;
    size_t n;
} state_arg;

static void row_state(const PGresult *r, int row, void *rec)
{
    fs_agent_state *o = rec;
    o->agent_id = pgc_get_text(r, row, 0);
    o->version = pgc_get_int(r, row, 1);
    o->state = pgc_get_text(r, row, 2);
    o->created_at = pgc_get_int(r, row, 3);
}

/* Latest version of agent_id's state (stmt: PG_AGENT_VERSION, or
 * PG_AGENT_LOCK to hold the agent row).  OUT: *v.  FS_ENOTFOUND. */
static int agent_version(pgc *c, pgc_stmt_id stmt, const char *agent_id,
                         int64_t *v)
{
    pgc_params p = { 0 };
    pgc_text(&p, agent_id);
    PGresult *r;
    int rc = pgc_one(c, stmt, &p, &r);
    if (rc) return rc;
    *v = pgc_get_int(r, 0, 0);
    PQclear(r);
    return 0;
}

static int state_get_fn(pgc *c, void *arg)
{
    state_arg *a = arg;
    pgc_params p = { 0 };
    pgc_text(&p, a->agent_id);
    if (a->version) pgc_int(&p, a->version);
    PGresult *r;
    int rc = pgc_one(c, a->version ? PG_STATE_GET : PG_STATE_LATEST, &p, &r);
    if (rc) return rc;
    row_state(r, 0, a->out);
    PQclear(r);
    return 0;
}

static int pg_state_get(store *st, const char *agent_id, int64_t version,
                        fs_agent_state *out)
{
    memset(out, 0, sizeof *out);
    state_arg a = { .agent_id = agent_id, .version = version, .out = out };
    return pgc_run(P(st), PGC_READ, state_get_fn, &a);
}

static int state_put_fn(pgc *c, void *arg)
{
    state_arg *a = arg;
    int64_t cur;
    int rc = agent_version(c, PG_AGENT_LOCK, a->agent_id, &cur);
    if (rc) return rc;
    if (a->version >= 0 && a->version != cur) return FS_ECONFLICT;
    pgc_params p = { 0 };
    pgc_text(&p, a->agent_id);
    pgc_int(&p, cur + 1);
    pgc_text(&p, a->json);
    pgc_int(&p, a->now);
    if ((rc = pgc_exec(c, PG_STATE_INSERT, &p, NULL))) return rc;
    p = (pgc_params){ 0 };
    pgc_text(&p, a->agent_id);
    pgc_int(&p, cur + 1);
    if ((rc = pgc_exec(c, PG_AGENT_SET_VERSION, &p, NULL))) return rc;
    a->written = cur + 1;
    return 0;
}

static int pg_state_put(store *st, const char *agent_id, const char *json,
                        int64_t expected, int64_t now, fs_agent_state *out)
{
    state_arg a = { .agent_id = agent_id, .json = json,
                    .version = expected, .now = now };
    int rc = pgc_run(P(st), PGC_WRITE, state_put_fn, &a);
    if (!rc && out)
        *out = (fs_agent_state){ xstrdup(agent_id), a.written, xstrdup(json),
                                 now };
    return rc;
}

static int state_list_fn(pgc *c, void *arg)
{
    state_arg *a = arg;
    int64_t cur;
    int rc = agent_version(c, PG_AGENT_VERSION, a->agent_id, &cur);
    if (rc) return rc;
    pgc_params p = { 0 };
    pgc_text(&p, a->agent_id);
    return pgc_collect(c, PG_STATE_LIST, &p, sizeof(fs_agent_state),
                       row_state, (void **)&a->out, &a->n);
}

static int pg_state_versions(store *st, const char *agent_id,
                             fs_agent_state **out, size_t *n)
{
    state_arg a = { .agent_id = agent_id };
    int rc = pgc_run(P(st), PGC_READ, state_list_fn, &a);
    if (!rc) {
        *out = a.out;
        *n = a.n;
    }
    return rc;
}

/* --- API keys --------------------------------------------------------- */

typedef struct key_arg {
    const char *name, *hash, *role;
    int64_t now, count;
    char *role_out;
} key_arg;

static int key_add_fn(pgc *c, void *arg)
{
    key_arg *a = arg;
    pgc_params p = { 0 };
    pgc_text(&p, a->hash);
    pgc_text(&p, a->name);
    pgc_text(&p, a->role);
    pgc_int(&p, a->now);
    return pgc_exec(c, PG_KEY_ADD, &p, NULL);
}

static int pg_key_add(store *st, const char *name, const char *hash,
                      const char *role, int64_t now)
{
    key_arg a = { .name = name, .hash = hash, .role = role, .now = now };
    return pgc_run(P(st), PGC_WRITE, key_add_fn, &a);
}

static int key_lookup_fn(pgc *c, void *arg)
{
    key_arg *a = arg;
    pgc_params p = { 0 };
    pgc_text(&p, a->hash);
    PGresult *r;
    int rc = pgc_one(c, PG_KEY_LOOKUP, &p, &r);
    if (rc) return rc;
    a->role_out = pgc_get_text(r, 0, 0);
    PQclear(r);
    return 0;
}

static int pg_key_lookup(store *st, const char *hash, char **role)
{
    key_arg a = { .hash = hash };
    int rc = pgc_run(P(st), PGC_READ, key_lookup_fn, &a);
    if (!rc) *role = a.role_out;
    return rc;
}

static int key_count_fn(pgc *c, void *arg)
{
    key_arg *a = arg;
    pgc_params p = { 0 };
    pgc_text(&p, a->role);
    PGresult *r;
    int rc = pgc_one(c, PG_KEY_COUNT, &p, &r);
    if (rc) return rc == FS_ENOTFOUND ? FS_EIO : rc;
    a->count = pgc_get_int(r, 0, 0);
    PQclear(r);
    return 0;
}

static int pg_key_count(store *st, const char *role, int64_t *n)
{
    key_arg a = { .role = role };
    int rc = pgc_run(P(st), PGC_READ, key_count_fn, &a);
    if (!rc) *n = a.count;
    return rc;
}

/* --- open / close ----------------------------------------------------- */

static int pg_jobs_wait(store *st, int64_t *mark, int timeout_ms, bool *woke)
{
    return pgs_listener_wait(((pg_store *)st)->listen, mark, timeout_ms, woke);
}

static void pg_close(store *st)
{
    pgs_listener_free(((pg_store *)st)->listen);
    pgc_pool_close(P(st));
    free(st);
}

static const store_ops pg_ops = {
    .name = "postgres",
    .close = pg_close,
    .job_enqueue = pg_job_enqueue,
    .job_get = pg_job_get,
    .job_list = pg_job_list,
    .job_lease = pg_job_lease,
    .job_heartbeat = pg_job_heartbeat,
    .job_complete = pg_job_complete,
    .job_fail = pg_job_fail,
    .job_cancel = pg_job_cancel,
    .job_retry = pg_job_retry,
    .job_promote = pg_job_promote,
    .job_rescue = pg_job_rescue,
    .job_prune = pg_job_prune,
    .job_next_due = pg_job_next_due,
    .job_stats = pg_job_stats,
    .jobs_wait = pg_jobs_wait,
    .agent_create = pg_agent_create,
    .agent_get = pg_agent_get,
    .agent_by_token = pg_agent_by_token,
    .agent_list = pg_agent_list,
    .agent_heartbeat = pg_agent_heartbeat,
    .state_get = pg_state_get,
    .state_put = pg_state_put,
    .state_versions = pg_state_versions,
    .key_add = pg_key_add,
    .key_lookup = pg_key_lookup,
    .key_count = pg_key_count,
    .doc_add = pgs_doc_add,
    .doc_get = pgs_doc_get,
    .doc_update = pgs_doc_update,
    .doc_delete = pgs_doc_delete,
    .doc_list = pgs_doc_list,
    .memory_epoch = pgs_memory_epoch,
    .setting_init = pgs_setting_init,
    .doc_text_search = pgs_doc_text_search,
    .term_stats = pgs_term_stats,
    .cache_get = pgs_cache_get,
    .cache_put = pgs_cache_put,
    .workflow_put = pgs_workflow_put,
    .workflow_get = pgs_workflow_get,
    .workflow_list = pgs_workflow_list,
    .run_commit = pgs_run_commit,
    .run_get = pgs_run_get,
    .run_list = pgs_run_list,
    .run_events = pgs_run_events,
    .job_signals = pgs_job_signals,
    .schedule_put = pgs_schedule_put,
    .schedule_get = pgs_schedule_get,
    .schedule_list = pgs_schedule_list,
    .schedule_delete = pgs_schedule_delete,
    .schedule_fire = pgs_schedule_fire,
    .doc_changes = pgs_doc_changes,
    .doc_changes_prune = pgs_doc_changes_prune,
    .evolution_add = pgs_evolution_add,
    .evolution_get = pgs_evolution_get,
    .evolution_list = pgs_evolution_list,
    .evolution_update = pgs_evolution_update,
    .dump_tables = pgs_dump_tables,
    .dump_rows = pgs_dump_rows,
    .load_rows = pgs_load_rows,
};

int store_pg_open(store **out, const char *url, const store_options *opt)
{
    pg_store *s = xcalloc(1, sizeof *s);
    s->base.ops = &pg_ops;
    int busy = opt->busy_timeout_ms > 0 ? opt->busy_timeout_ms : 5000;
    if (pgc_pool_open(&s->pool, url, POOL_SIZE, opt->sync_normal, busy))
        goto fail;
    if (pgc_migrate(s->pool, fs_now(&fs_clock_real))) goto fail;
    s->listen = pgs_listener_new(url);
    *out = &s->base;
    return 0;
fail:
    pgc_pool_close(s->pool);
    free(s);
    return FS_EIO;
}
