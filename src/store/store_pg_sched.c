/*
 * store_pg_sched.c - the schedule part of the PostgreSQL backend (see
 * store.h for the contract; store_sqlite_sched.c is the same on SQLite):
 * definitions, and the fire that enqueues a schedule's job and moves its
 * last_fire in one transaction.
 *
 * A fire is guarded twice, across any number of processes.  Its UPDATE of
 * last_fire matches only a fire_at newer than the one stored, and the row
 * lock it takes makes a second scheduler firing the same instant wait for
 * the first to commit and then match nothing.  The job also carries the
 * unique key "cron:NAME:FIRE_AT", so even a schedule deleted and created
 * again under the same name cannot enqueue an instant twice.
 */
#include <stdlib.h>

#include "core/fs.h"
#include "core/xmem.h"
#include "store/pg_conn.h"
#include "store/store.h"

typedef struct sched_arg {
    const fs_schedule *in;
    const char *name;
    int64_t now, fire_at;
    fs_schedule *rows;     /* get: the record; list: every record */
    size_t n;
    bool found;            /* put: a definition was there */
    int64_t last_fire, created_at; /* put: what the stored one had */
    bool fired;
    pgs_enqueue e;         /* fire: the job */
} sched_arg;

static void row_schedule(const PGresult *r, int row, void *rec)
{
    pgc_read_schedule(r, row, rec);
}

/* Reads schedule name with stmt (PG_SCHED_GET or PG_SCHED_LOCK) into
 * *out (may be NULL: only whether it exists).  0, FS_ENOTFOUND or an
 * error. */
static int read_one(pgc *c, pgc_stmt_id stmt, const char *name,
                    fs_schedule *out)
{
    pgc_params p = { 0 };
    pgc_text(&p, name);
    PGresult *r;
    int rc = pgc_one(c, stmt, &p, &r);
    if (rc) return rc;
    if (out) pgc_read_schedule(r, 0, out);
    PQclear(r);
    return 0;
}

/* Notes what was stored before (kept: last_fire, created_at) under the
 * row lock, then inserts or replaces the definition. */
static int put_fn(pgc *c, void *arg)
{
    sched_arg *a = arg;
    fs_schedule old = { 0 };
    int rc = read_one(c, PG_SCHED_LOCK, a->in->name, &old);
    if (rc && rc != FS_ENOTFOUND) return rc;
    a->found = rc == 0;
    a->last_fire = old.last_fire;
    a->created_at = a->found ? old.created_at : a->now;
    fs_schedule_clear(&old);
    pgc_params p = { 0 };
    pgc_text(&p, a->in->name);
    pgc_text(&p, a->in->cron);
    pgc_text(&p, a->in->job);
    pgc_bool(&p, a->in->enabled);
    pgc_int(&p, a->now);
    return pgc_exec(c, PG_SCHED_PUT, &p, NULL);
}

int pgs_schedule_put(store *st, fs_schedule *sc, int64_t now, bool *existed)
{
    if (!sc->name || !sc->cron || !sc->job) return FS_EINVAL;
    sched_arg a = { .in = sc, .now = now };
    int rc = pgc_run(pgs_pool(st), PGC_WRITE, put_fn, &a);
    if (rc) return rc;
    sc->last_fire = a.last_fire;
    sc->created_at = a.created_at;
    sc->updated_at = now;
    if (existed) *existed = a.found;
    return 0;
}

static int get_fn(pgc *c, void *arg)
{
    sched_arg *a = arg;
    return read_one(c, PG_SCHED_GET, a->name, a->rows);
}

int pgs_schedule_get(store *st, const char *name, fs_schedule *out)
{
    if (!name) return FS_EINVAL;
    sched_arg a = { .name = name, .rows = out };
    return pgc_run(pgs_pool(st), PGC_READ, get_fn, &a);
}

static int list_fn(pgc *c, void *arg)
{
    sched_arg *a = arg;
    return pgc_collect(c, PG_SCHED_LIST, NULL, sizeof(fs_schedule),
                       row_schedule, (void **)&a->rows, &a->n);
}

int pgs_schedule_list(store *st, fs_schedule **out, size_t *n)
{
    sched_arg a = { 0 };
    int rc = pgc_run(pgs_pool(st), PGC_READ, list_fn, &a);
    if (!rc) {
        *out = a.rows;
        *n = a.n;
    }
    return rc;
}

static int delete_fn(pgc *c, void *arg)
{
    sched_arg *a = arg;
    pgc_params p = { 0 };
    pgc_text(&p, a->name);
    int rc = pgc_exec(c, PG_SCHED_DELETE, &p, NULL);
    if (rc) return rc;
    return pgc_changes(c) ? 0 : FS_ENOTFOUND;
}

int pgs_schedule_delete(store *st, const char *name)
{
    if (!name) return FS_EINVAL;
    sched_arg a = { .name = name };
    return pgc_run(pgs_pool(st), PGC_WRITE, delete_fn, &a);
}

/* Moves last_fire to fire_at if that is newer, and only then enqueues. */
static int fire_fn(pgc *c, void *arg)
{
    sched_arg *a = arg;
    a->fired = false;
    pgc_params p = { 0 };
    pgc_text(&p, a->name);
    pgc_int(&p, a->fire_at);
    int rc = pgc_exec(c, PG_SCHED_FIRE, &p, NULL);
    if (rc) return rc;
    if (pgc_changes(c) == 0) /* disabled, fired already, or gone */
        return read_one(c, PG_SCHED_GET, a->name, NULL);
    rc = pgs_enqueue_all(c, &a->e);
    a->fired = rc == 0 && !a->e.found[0];
    return rc;
}

int pgs_schedule_fire(store *st, const char *name, int64_t fire_at,
                      fs_job *job, int64_t now, bool *fired)
{
    *fired = false;
    if (!name || !job || !job->type || !job->target_agent) return FS_EINVAL;
    free(job->unique_key);
    job->unique_key = store_cron_key(name, fire_at);
    int64_t id = 0;
    fs_job existing = { 0 };
    bool found = false;
    sched_arg a = { .name = name, .fire_at = fire_at, .now = now,
                    .e = { job, 1, now, &id, &existing, &found, 0 } };
    int rc = pgc_run(pgs_pool(st), PGC_WRITE, fire_fn, &a);
    if (!rc && a.fired) pgs_enqueue_result(&a.e, job, 0, NULL);
    pgs_enqueue_reset(&a.e); /* the stored job, when the key was taken */
    *fired = rc == 0 && a.fired;
    return rc;
}
