/*
 * store_pg_evo.c - the evolution log and the document change log of the
 * PostgreSQL backend (see store.h for the contracts; store_sqlite_evo.c is
 * the same on SQLite).  An evolution update matches the row only at the
 * rev it was read at, so two processes moving one entry cannot both win:
 * the second waits for the first's row lock, then matches nothing.  Change
 * rows are written by a trigger on documents (pg_conn.c, migration 8) with
 * the writer connection's flowstate.origin; a read leaves out this pool's.
 */
#include <stdlib.h>

#include "core/fs.h"
#include "core/xmem.h"
#include "store/pg_conn.h"
#include "store/store.h"

typedef struct evo_arg {
    fs_evolution *e;
    int64_t id, now;
    const store_evolution_filter *f;
    fs_evolution *rows;
    size_t n;
} evo_arg;

static void row_evolution(const PGresult *r, int row, void *rec)
{
    pgc_read_evolution(r, row, rec);
}

/* Reads entry id into *out (may be NULL: only whether it exists). */
static int read_one(pgc *c, int64_t id, fs_evolution *out)
{
    pgc_params p = { 0 };
    pgc_int(&p, id);
    PGresult *r;
    int rc = pgc_one(c, PG_EVO_GET, &p, &r);
    if (rc) return rc;
    if (out) pgc_read_evolution(r, 0, out);
    PQclear(r);
    return 0;
}

static int add_fn(pgc *c, void *arg)
{
    evo_arg *a = arg;
    pgc_params p = { 0 };
    pgc_text(&p, a->e->type);
    pgc_text(&p, a->e->component);
    pgc_text(&p, a->e->description);
    pgc_text(&p, a->e->proposed_by);
    pgc_text(&p, a->e->status);
    pgc_text(&p, a->e->data);
    pgc_int(&p, a->now);
    pgc_time(&p, a->e->applied_at);
    PGresult *r;
    int rc = pgc_one(c, PG_EVO_INSERT, &p, &r);
    if (rc) return rc == FS_ENOTFOUND ? FS_EIO : rc;
    a->id = pgc_get_int(r, 0, 0);
    PQclear(r);
    return 0;
}

int pgs_evolution_add(store *st, fs_evolution *e, int64_t now)
{
    if (!store_evolution_complete(e)) return FS_EINVAL;
    evo_arg a = { .e = e, .now = now };
    int rc = pgc_run(pgs_pool(st), PGC_WRITE, add_fn, &a);
    if (rc) return rc;
    e->id = a.id;
    e->rev = 1;
    e->created_at = e->updated_at = now;
    return 0;
}

static int get_fn(pgc *c, void *arg)
{
    evo_arg *a = arg;
    return read_one(c, a->id, a->e);
}

int pgs_evolution_get(store *st, int64_t id, fs_evolution *out)
{
    evo_arg a = { .id = id, .e = out };
    return pgc_run(pgs_pool(st), PGC_READ, get_fn, &a);
}

static int list_fn(pgc *c, void *arg)
{
    evo_arg *a = arg;
    pgc_params p = { 0 };
    pgc_text(&p, a->f->status);
    pgc_text(&p, a->f->type);
    pgc_text(&p, a->f->component);
    pgc_int(&p, a->f->before_id);
    pgc_int(&p, a->f->limit);
    return pgc_collect(c, PG_EVO_LIST, &p, sizeof(fs_evolution),
                       row_evolution, (void **)&a->rows, &a->n);
}

int pgs_evolution_list(store *st, const store_evolution_filter *f,
                       fs_evolution **out, size_t *n)
{
    if (f->limit < 1 || f->limit > 1001) return FS_EINVAL;
    evo_arg a = { .f = f };
    int rc = pgc_run(pgs_pool(st), PGC_READ, list_fn, &a);
    if (!rc) {
        *out = a.rows;
        *n = a.n;
    }
    return rc;
}

static int update_fn(pgc *c, void *arg)
{
    evo_arg *a = arg;
    pgc_params p = { 0 };
    pgc_int(&p, a->e->id);
    pgc_text(&p, a->e->status);
    pgc_text(&p, a->e->description);
    pgc_text(&p, a->e->data);
    pgc_time(&p, a->e->applied_at);
    pgc_int(&p, a->now);
    pgc_int(&p, a->e->rev);
    int rc = pgc_exec(c, PG_EVO_UPDATE, &p, NULL);
    if (rc) return rc;
    if (pgc_changes(c)) return 0;
    rc = read_one(c, a->e->id, NULL);
    return rc ? rc : FS_ECONFLICT;
}

int pgs_evolution_update(store *st, fs_evolution *e, int64_t now)
{
    if (!store_evolution_complete(e)) return FS_EINVAL;
    evo_arg a = { .e = e, .now = now };
    int rc = pgc_run(pgs_pool(st), PGC_WRITE, update_fn, &a);
    if (rc) return rc;
    e->rev++;
    e->updated_at = now;
    return 0;
}

/* --- the document change log ---------------------------------------------- */

typedef struct change_arg {
    const char *origin;
    int64_t after, head, before;
    int limit;
    store_doc_change *rows;
    size_t n, pruned;
} change_arg;

static int changes_fn(pgc *c, void *arg)
{
    change_arg *a = arg;
    PGresult *r;
    free(a->rows); /* a retried run starts again */
    a->rows = NULL;
    a->n = 0;
    a->head = a->after;
    if (a->limit == 0) {
        int rc = pgc_one(c, PG_CHANGE_HEAD, NULL, &r);
        if (rc) return rc;
        a->head = pgc_get_int(r, 0, 0);
        PQclear(r);
        return 0;
    }
    pgc_params p = { 0 };
    pgc_int(&p, a->after);
    pgc_int(&p, a->limit);
    pgc_text(&p, a->origin);
    int rc = pgc_exec(c, PG_CHANGE_LIST, &p, &r);
    if (rc) return rc;
    int rows = PQntuples(r);
    a->rows = xmalloc((rows ? (size_t)rows : 1) * sizeof *a->rows);
    for (int i = 0; i < rows; i++) {
        a->head = pgc_get_int(r, i, 0);
        if (pgc_get_bool(r, i, 3)) continue; /* this pool wrote it */
        a->rows[a->n++] = (store_doc_change){ a->head, pgc_get_int(r, i, 1),
                                              pgc_get_bool(r, i, 2) };
    }
    PQclear(r);
    return 0;
}

int pgs_doc_changes(store *st, int64_t after, int limit, store_doc_change **out,
                    size_t *n, int64_t *head)
{
    if (limit < 0 || limit > 10000) return FS_EINVAL;
    change_arg a = { .origin = pgc_pool_origin(pgs_pool(st)), .after = after,
                     .limit = limit };
    int rc = pgc_run(pgs_pool(st), PGC_READ, changes_fn, &a);
    if (rc) {
        free(a.rows);
        return rc;
    }
    *out = a.rows;
    *n = a.n;
    *head = a.head;
    return 0;
}

static int prune_fn(pgc *c, void *arg)
{
    change_arg *a = arg;
    pgc_params p = { 0 };
    pgc_int(&p, a->before);
    int rc = pgc_exec(c, PG_CHANGE_PRUNE, &p, NULL);
    if (!rc) a->pruned = (size_t)pgc_changes(c);
    return rc;
}

int pgs_doc_changes_prune(store *st, int64_t before, size_t *n)
{
    change_arg a = { .before = before };
    int rc = pgc_run(pgs_pool(st), PGC_WRITE, prune_fn, &a);
    if (!rc) *n = a.pruned;
    return rc;
}
