/*
 * store_sqlite_evo.c - the evolution log and the document change log of
 * the SQLite backend (see store.h for the contracts).  An evolution update
 * matches the row only at the rev it was read at, so two processes moving
 * one entry cannot both win.  Change rows carry the origin of the writer
 * connection that wrote them; a read leaves out this handle's own.
 */
#include <stdlib.h>

#include "core/fs.h"
#include "core/xmem.h"
#include "store/sqlite_conn.h"
#include "store/store.h"
#include "store/store_sqlite.h"

typedef struct evo_arg {
    fs_evolution *e;
    int64_t id, now;
    const store_evolution_filter *f;
    fs_evolution *rows;
    size_t n;
} evo_arg;

static void row_evolution(sqlite3_stmt *s, void *r) { sqlc_read_evolution(s, r); }

/* Reads entry id into *out (may be NULL: only whether it exists). */
static int read_one(sqlc *c, int64_t id, fs_evolution *out)
{
    sqlite3_stmt *s = sqlc_stmt(c, SQ_EVO_GET);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && out) sqlc_read_evolution(s, out);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW) return 0;
    return rc == SQLITE_DONE ? FS_ENOTFOUND : sqlc_err(c, rc, "evolution");
}

static int add_fn(sqlc *c, void *arg)
{
    evo_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_EVO_INSERT);
    if (!s) return FS_EIO;
    sqlite3_bind_text(s, 1, a->e->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, a->e->component, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, a->e->description, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, a->e->proposed_by, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, a->e->status, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, a->e->data, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, a->now);
    sqlc_bind_time(s, 8, a->e->applied_at);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) a->id = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : sqlc_err(c, rc, "evolution add");
}

int sqs_evolution_add(store *st, fs_evolution *e, int64_t now)
{
    if (!store_evolution_complete(e)) return FS_EINVAL;
    evo_arg a = { .e = e, .now = now };
    int rc = sqs_write(st, add_fn, &a);
    if (rc) return rc;
    e->id = a.id;
    e->rev = 1;
    e->created_at = e->updated_at = now;
    return 0;
}

static int get_fn(sqlc *c, void *arg)
{
    evo_arg *a = arg;
    return read_one(c, a->id, a->e);
}

int sqs_evolution_get(store *st, int64_t id, fs_evolution *out)
{
    evo_arg a = { .id = id, .e = out };
    return sqs_read(st, get_fn, &a);
}

static int list_fn(sqlc *c, void *arg)
{
    evo_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_EVO_LIST);
    if (!s) return FS_EIO;
    sqlc_bind_text(s, 1, a->f->status);
    sqlc_bind_text(s, 2, a->f->type);
    sqlc_bind_text(s, 3, a->f->component);
    sqlite3_bind_int64(s, 4, a->f->before_id);
    sqlite3_bind_int(s, 5, a->f->limit);
    return sqs_collect(c, s, sizeof(fs_evolution), row_evolution,
                       (void **)&a->rows, &a->n);
}

int sqs_evolution_list(store *st, const store_evolution_filter *f,
                       fs_evolution **out, size_t *n)
{
    if (f->limit < 1 || f->limit > 1001) return FS_EINVAL;
    evo_arg a = { .f = f };
    int rc = sqs_read(st, list_fn, &a);
    if (rc) {
        fs_evolutions_free(a.rows, a.n);
        return rc;
    }
    *out = a.rows;
    *n = a.n;
    return 0;
}

static int update_fn(sqlc *c, void *arg)
{
    evo_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_EVO_UPDATE);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, a->e->id);
    sqlite3_bind_text(s, 2, a->e->status, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, a->e->description, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, a->e->data, -1, SQLITE_STATIC);
    sqlc_bind_time(s, 5, a->e->applied_at);
    sqlite3_bind_int64(s, 6, a->now);
    sqlite3_bind_int64(s, 7, a->e->rev);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return sqlc_err(c, rc, "evolution update");
    if (sqlite3_changes(c->db)) return 0;
    rc = read_one(c, a->e->id, NULL);
    return rc ? rc : FS_ECONFLICT;
}

int sqs_evolution_update(store *st, fs_evolution *e, int64_t now)
{
    if (!store_evolution_complete(e)) return FS_EINVAL;
    evo_arg a = { .e = e, .now = now };
    int rc = sqs_write(st, update_fn, &a);
    if (rc) return rc;
    e->rev++;
    e->updated_at = now;
    return 0;
}

/* --- the document change log ---------------------------------------------- */

typedef struct change_arg {
    const char *origin; /* the handle's: its writer connection's */
    int64_t after, head, before;
    int limit;
    store_doc_change *rows;
    size_t n, cap, pruned;
} change_arg;

static int head_of(sqlc *c, int64_t *head)
{
    sqlite3_stmt *s = sqlc_stmt(c, SQ_CHANGE_HEAD);
    if (!s) return FS_EIO;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *head = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : sqlc_err(c, rc, "doc change head");
}

static int changes_fn(sqlc *c, void *arg)
{
    change_arg *a = arg;
    if (a->limit == 0) return head_of(c, &a->head);
    sqlite3_stmt *s = sqlc_stmt(c, SQ_CHANGE_LIST);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, a->after);
    sqlite3_bind_int(s, 2, a->limit);
    sqlite3_bind_text(s, 3, a->origin, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        a->head = sqlite3_column_int64(s, 0);
        if (sqlite3_column_int(s, 3)) continue; /* this handle wrote it */
        if (a->n == a->cap) {
            a->cap = a->cap ? 2 * a->cap : 64;
            a->rows = xrealloc(a->rows, a->cap * sizeof *a->rows);
        }
        a->rows[a->n++] = (store_doc_change){ a->head, sqlite3_column_int64(s, 1),
                                              sqlite3_column_int(s, 2) != 0 };
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : sqlc_err(c, rc, "doc changes");
}

int sqs_doc_changes(store *st, int64_t after, int limit, store_doc_change **out,
                    size_t *n, int64_t *head)
{
    if (limit < 0 || limit > 10000) return FS_EINVAL;
    change_arg a = { .origin = sqs_origin(st), .after = after, .head = after,
                     .limit = limit };
    int rc = sqs_read(st, changes_fn, &a);
    if (rc) {
        free(a.rows);
        return rc;
    }
    *out = a.rows;
    *n = a.n;
    *head = a.head;
    return 0;
}

static int prune_fn(sqlc *c, void *arg)
{
    change_arg *a = arg;
    sqlite3_stmt *s = sqlc_stmt(c, SQ_CHANGE_PRUNE);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, a->before);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return sqlc_err(c, rc, "doc changes prune");
    a->pruned = (size_t)sqlite3_changes(c->db);
    return 0;
}

int sqs_doc_changes_prune(store *st, int64_t before, size_t *n)
{
    change_arg a = { .before = before };
    int rc = sqs_write(st, prune_fn, &a);
    if (!rc) *n = a.pruned;
    return rc;
}
