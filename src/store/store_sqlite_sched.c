/*
 * store_sqlite_sched.c - the schedule part of the SQLite backend (see
 * store.h for the contract): definitions, and the fire that enqueues a
 * schedule's job and moves its last_fire in one group-commit op.
 *
 * A fire is guarded twice.  Its UPDATE of last_fire matches only a
 * fire_at newer than the one stored (SQ_SCHED_FIRE), and writers are
 * serialised (one write connection here, SQLite's write lock between
 * processes), so of two schedulers firing the same instant the second
 * matches nothing and enqueues nothing.  The job also carries the unique
 * key "cron:NAME:FIRE_AT", so even a schedule deleted and created again
 * under the same name cannot enqueue an instant twice.
 */
#include <stdlib.h>

#include "core/fs.h"
#include "core/xmem.h"
#include "store/sqlite_conn.h"
#include "store/store.h"
#include "store/store_sqlite.h"

typedef struct sched_arg {
    const fs_schedule *in;
    const char *name;
    int64_t now, fire_at;
    fs_schedule *rows;     /* get: the record; list: every record */
    size_t n;
    bool found;            /* put: a definition was there */
    int64_t last_fire, created_at; /* put: what the stored one had */
    bool fired;
    enqueue_arg e;         /* fire: the job */
} sched_arg;

static void row_schedule(sqlite3_stmt *s, void *r) { sqlc_read_schedule(s, r); }

/* Reads schedule name into *out (may be NULL: only whether it exists).
 * 0, FS_ENOTFOUND or an error. */
static int read_one(sqlc *c, const char *name, fs_schedule *out)
{
    sqlite3_stmt *s = sqlc_stmt(c, SQ_SCHED_GET);
    if (!s) return FS_EIO;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && out) sqlc_read_schedule(s, out);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW) return 0;
    return rc == SQLITE_DONE ? FS_ENOTFOUND : sqlc_err(c, rc, "schedule");
}

/* Notes what was stored before (kept: last_fire, created_at), then
 * inserts or replaces the definition. */
static int put_fn(sqlc *c, void *arg)
{
    sched_arg *a = arg;
    fs_schedule old = { 0 };
    int rc = read_one(c, a->in->name, &old);
    if (rc && rc != FS_ENOTFOUND) return rc;
    a->found = rc == 0;
    a->last_fire = old.last_fire;
    a->created_at = a->found ? old.created_at : a->now;
    fs_schedule_clear(&old);
    sqlite3_stmt *s = sqlc_stmt(c, SQ_SCHED_PUT);
    if (!s) return FS_EIO;
    sqlite3_bind_text(s, 1, a->in->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, a->in->cron, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, a->in->job, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 4, a->in->enabled);
    sqlite3_bind_int64(s, 5, a->now);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : sqlc_err(c, rc, "schedule put");
}

int sqs_schedule_put(store *st, fs_schedule *sc, int64_t now, bool *existed)
{
    if (!sc->name || !sc->cron || !sc->job) return FS_EINVAL;
    sched_arg a = { .in = sc, .now = now };
    int rc = sqs_write(st, put_fn, &a);
    if (rc) return rc;
    sc->last_fire = a.last_fire;
    sc->created_at = a.created_at;
    sc->updated_at = now;
    if (existed) *existed = a.found;
    return 0;
}

static int get_fn(sqlc *c, void *arg)
{
    sched_arg *a = arg;
    return read_one(c, a->name, a->rows);
}

int sqs_schedule_get(store *st, const char *name, fs_schedule *out)
{
    if (!name) return FS_EINVAL;
    sched_arg a = { .name = name, .rows = out };
    return sqs_read(st, get_fn, &a);
}

static int list_fn(sqlc *c, void *arg)
{
    sched_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_SCHED_LIST);
    if (!s) return FS_EIO;
    return sqs_collect(c, s, sizeof(fs_schedule), row_schedule,
                       (void **)&a->rows, &a->n);
}

int sqs_schedule_list(store *st, fs_schedule **out, size_t *n)
{
    sched_arg a = { 0 };
    int rc = sqs_read(st, list_fn, &a);
    if (rc) {
        fs_schedules_free(a.rows, a.n);
        return rc;
    }
    *out = a.rows;
    *n = a.n;
    return 0;
}

static int delete_fn(sqlc *c, void *arg)
{
    sched_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_SCHED_DELETE);
    if (!s) return FS_EIO;
    sqlite3_bind_text(s, 1, a->name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return sqlc_err(c, rc, "schedule delete");
    return sqlite3_changes(c->db) ? 0 : FS_ENOTFOUND;
}

int sqs_schedule_delete(store *st, const char *name)
{
    if (!name) return FS_EINVAL;
    sched_arg a = { .name = name };
    return sqs_write(st, delete_fn, &a);
}

/* Moves last_fire to fire_at if that is newer, and only then enqueues. */
static int fire_fn(sqlc *c, void *arg)
{
    sched_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_SCHED_FIRE);
    if (!s) return FS_EIO;
    sqlite3_bind_text(s, 1, a->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, a->fire_at);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return sqlc_err(c, rc, "schedule fire");
    if (sqlite3_changes(c->db) == 0) /* disabled, fired already, or gone */
        return read_one(c, a->name, NULL);
    rc = sqs_enqueue_one(c, &a->e, 0);
    a->fired = rc == 0 && !a->e.found[0];
    return rc;
}

int sqs_schedule_fire(store *st, const char *name, int64_t fire_at,
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
    int rc = sqs_write(st, fire_fn, &a);
    if (!rc && a.fired) sqs_enqueue_result(&a.e, job, 0, NULL);
    fs_job_clear(&existing); /* filled only when the key was taken */
    *fired = rc == 0 && a.fired;
    return rc;
}
