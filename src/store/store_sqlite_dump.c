/*
 * store_sqlite_dump.c - the whole-database copy of the SQLite backend
 * (store.h: store_dump_tables, store_dump_rows, store_load_rows): what
 * `flowstate migrate` reads a database through, and writes one with.
 *
 * The catalogue below is the logical schema every backend shares, table
 * for table in load order (store_pg_dump.c holds its twin; migrate
 * refuses two that differ).  The statements are built from it, names
 * from this file and never from input, values bound:
 *
 *   a page:   SELECT cols FROM t [WHERE (key) > (?..)] ORDER BY key LIMIT ?
 *   a batch:  INSERT INTO t(cols) VALUES(?..)
 *             [ON CONFLICT(key) DO UPDATE SET col=excluded.col ...]  (seeded)
 *
 * SQLite orders the keys as the contract wants (integers by value, text
 * and blobs with memcmp).  A page reads on a pooled read connection; a
 * batch is one op of the group commit, so one transaction.  Values keep
 * their storage class: a value of another class than its column's type
 * is FS_ECORRUPT, never converted (but a REAL column may hold a whole
 * number as an integer, as SQLite stores them).  The FTS index follows
 * the documents through their triggers (sqlite_conn.c, migration 3).
 *
 * "sequences" is sqlite_sequence, the AUTOINCREMENT counters; a table
 * never written has no row there (last id 0).  A database holding a table
 * that is neither in the catalogue nor derived (FTS, schema_migrations,
 * the document change log), or a column the catalogue leaves out, cannot
 * be dumped whole: FS_ECORRUPT.  A migration that adds a table or a
 * column adds it here too, on both backends: to the catalogue (copied)
 * or as derived (rebuilt, or each database's own); tests/store/
 * test_migrate.c and migrate itself fail until it does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/xmem.h"
#include "store/sqlite_conn.h"
#include "store/store.h"
#include "store/store_sqlite.h"

#define SEQUENCES "sequences"

static const store_table tables[] = {
    { "jobs",
      "id,type,target_agent,payload,priority,run_at,attempts,max_attempts,"
      "timeout_ms,unique_key,state,result,last_error,parent_id,lease_token,"
      "lease_owner,lease_expires,started_at,created_at,updated_at,"
      "finished_at,run_id",
      "itttiiiiittttittiiiiii", 1, false },
    { "agents",
      "id,name,type,job_types,metadata,token_hash,created_at,"
      "last_heartbeat,state_version",
      "ttttttiii", 1, false },
    { "agent_states", "agent_id,version,state,created_at", "titi", 2, false },
    { "api_keys", "hash,name,role,created_at", "ttti", 1, false },
    { "documents",
      "id,parent_id,chunk_index,agent,kind,content,metadata,tags,importance,"
      "embedding,embedder,embedder_version,created_at,updated_at",
      "iiitttttrbttii", 1, false },
    { "memory_settings", "key,value", "tt", 1, true },
    { "embedding_cache", "embedder,text_hash,vector,created_at", "tbbi", 2,
      false },
    { "workflows", "name,version,description,definition,created_at", "titti",
      2, false },
    { "runs",
      "id,workflow,version,state,inputs,error,rev,deadline,created_at,"
      "updated_at,finished_at",
      "itiittiiiii", 1, false },
    { "run_tasks",
      "run_id,step,item,state,attempts,job_id,items,output,error,deadline,"
      "started_at,finished_at",
      "iiiiiiittiii", 3, false },
    { "run_events", "run_id,seq,at,type,step,item,attempt,error,data",
      "iiittiitt", 2, false },
    { "job_signals", "id,job_id,run_id", "iii", 1, false },
    { "schedules", "name,cron,job,enabled,last_fire,created_at,updated_at",
      "tttiiii", 1, false },
    { "evolution_events",
      "id,type,component,description,proposed_by,status,data,rev,"
      "created_at,updated_at,applied_at",
      "ittttttiiii", 1, false },
    { SEQUENCES, "table_name,last_id", "ti", 1, true },
};
enum { NTABLES = sizeof tables / sizeof *tables };

/* The AUTOINCREMENT tables, in key (byte) order; each counts ids in "id". */
static const char *const counters[] = { "documents", "evolution_events",
                                        "job_signals", "jobs", "runs" };
enum { NCOUNTERS = sizeof counters / sizeof *counters };

/* Tables a database holds that are rebuilt or its own, not copied. */
static const char *const derived[] = { "schema_migrations", "doc_changes",
                                       "documents_vocab" };

static const store_table *find_table(const char *name)
{
    for (size_t i = 0; i < NTABLES; i++)
        if (!strcmp(tables[i].name, name)) return &tables[i];
    return NULL;
}

static bool known_table(const char *name)
{
    if (find_table(name)) return true;
    if (!strncmp(name, "documents_fts", 13)) return true; /* and shadows */
    for (size_t i = 0; i < sizeof derived / sizeof *derived; i++)
        if (!strcmp(derived[i], name)) return true;
    return false;
}

/* The length of the first n names of a column list ("a,b,c", 2: 3). */
static int prefix_len(const char *columns, int n)
{
    const char *p = columns;
    for (int k = 0; k < n && (p = strchr(p, ',')); k++) p++;
    return p ? (int)(p - columns) - 1 : (int)strlen(columns);
}

/* Prepares sql (built here from the catalogue).  OUT: *s. */
static int prepare(sqlc *c, const char *sql, sqlite3_stmt **s)
{
    int rc = sqlite3_prepare_v2(c->db, sql, -1, s, NULL);
    return rc == SQLITE_OK ? 0 : sqlc_err(c, rc, "dump prepare");
}

/* --- the catalogue and its row counts ---------------------------------- */

typedef struct tables_arg {
    store_table_rows *out;
} tables_arg;

/* FS_ECORRUPT when the database holds a table nobody can copy. */
static int check_tables(sqlc *c)
{
    sqlite3_stmt *s;
    int rc = prepare(c, "SELECT name FROM sqlite_master WHERE type='table' "
                        "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'", &s);
    if (rc) return rc;
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        if (name && !known_table(name)) {
            log_error("store: table %s is not one flowstate migrate knows "
                      "how to copy", name);
            rc = FS_ECORRUPT;
        }
    }
    if (step != SQLITE_DONE) rc = sqlc_err(c, step, "dump tables");
    sqlite3_finalize(s);
    return rc;
}

/* name is one of the comma-separated list. */
static bool in_list(const char *list, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = list;; p++) {
        size_t n = strcspn(p, ",");
        if (n == len && !strncmp(p, name, len)) return true;
        p += n;
        if (!*p) return false;
    }
}

/* FS_ECORRUPT when table t has a column the catalogue leaves out (a
 * migration added it and this file was not told). */
static int check_columns(sqlc *c, const store_table *t)
{
    sqlite3_stmt *s;
    int rc = prepare(c, "SELECT name FROM pragma_table_info(?1)", &s);
    if (rc) return rc;
    sqlite3_bind_text(s, 1, t->name, -1, SQLITE_STATIC);
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        const char *col = (const char *)sqlite3_column_text(s, 0);
        if (!col || in_list(t->columns, col)) continue;
        log_error("store: column %s.%s is not one flowstate migrate knows "
                  "how to copy", t->name, col);
        rc = FS_ECORRUPT;
    }
    if (step != SQLITE_DONE) rc = sqlc_err(c, step, "dump columns");
    sqlite3_finalize(s);
    return rc;
}

static int count_rows(sqlc *c, const store_table *t, int64_t *n)
{
    if (!strcmp(t->name, SEQUENCES)) {
        *n = NCOUNTERS;
        return 0;
    }
    char *sql = xasprintf("SELECT count(*) FROM %s", t->name);
    sqlite3_stmt *s;
    int rc = prepare(c, sql, &s);
    free(sql);
    if (rc) return rc;
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW) *n = sqlite3_column_int64(s, 0);
    else rc = sqlc_err(c, step, "dump count");
    sqlite3_finalize(s);
    return rc;
}

static int tables_fn(sqlc *c, void *arg)
{
    tables_arg *a = arg;
    int rc = check_tables(c);
    for (size_t i = 0; !rc && i < NTABLES; i++) {
        a->out[i].table = &tables[i];
        if (strcmp(tables[i].name, SEQUENCES))
            rc = check_columns(c, &tables[i]);
        if (!rc) rc = count_rows(c, &tables[i], &a->out[i].rows);
    }
    return rc;
}

int sqs_dump_tables(store *st, store_table_rows **out, size_t *n)
{
    tables_arg a = { xcalloc(NTABLES, sizeof *a.out) };
    int rc = sqs_read(st, tables_fn, &a);
    if (rc) {
        free(a.out);
        return rc;
    }
    *out = a.out;
    *n = NTABLES;
    return 0;
}

/* --- dump: one page ---------------------------------------------------- */

typedef struct page_arg {
    const store_table *t;
    const store_rows *after; /* NULL: from the first row */
    int limit;
    store_rows *out;
    size_t cap;              /* rows out->cells has room for */
} page_arg;

/* Appends an empty row to a->out.  Returns its first cell. */
static store_cell *add_row(page_arg *a)
{
    store_rows *r = a->out;
    if (r->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 64;
        r->cells = xrealloc(r->cells, a->cap * r->ncols * sizeof *r->cells);
    }
    store_cell *row = &r->cells[r->n++ * r->ncols];
    memset(row, 0, r->ncols * sizeof *row);
    return row;
}

static char *copy_bytes(const void *p, size_t n, bool nul)
{
    if (!n && !nul) return NULL;
    char *b = xmalloc(n + nul);
    if (n) memcpy(b, p, n);
    if (nul) b[n] = '\0';
    return b;
}

/* Column j of the current row of s into cell, as a value of type. */
static int read_cell(sqlite3_stmt *s, int j, char type, store_cell *cell)
{
    int cls = sqlite3_column_type(s, j);
    if (cls == SQLITE_NULL) {
        cell->null = true;
        return 0;
    }
    switch (type) {
    case 'i':
        cell->i = sqlite3_column_int64(s, j);
        return cls == SQLITE_INTEGER ? 0 : FS_ECORRUPT;
    case 'r':
        cell->r = sqlite3_column_double(s, j);
        return cls == SQLITE_FLOAT || cls == SQLITE_INTEGER ? 0 : FS_ECORRUPT;
    case 't': {
        if (cls != SQLITE_TEXT) return FS_ECORRUPT;
        const unsigned char *text = sqlite3_column_text(s, j);
        cell->len = (size_t)sqlite3_column_bytes(s, j);
        cell->p = copy_bytes(text, cell->len, true);
        return 0;
    }
    default: {
        if (cls != SQLITE_BLOB) return FS_ECORRUPT;
        const void *blob = sqlite3_column_blob(s, j);
        cell->len = (size_t)sqlite3_column_bytes(s, j);
        cell->p = copy_bytes(blob, cell->len, false);
        return 0;
    }
    }
}

static int read_row(page_arg *a, sqlite3_stmt *s)
{
    store_cell *row = add_row(a);
    for (int j = 0; j < (int)a->out->ncols; j++) {
        if (read_cell(s, j, a->t->types[j], &row[j]) == 0) continue;
        log_error("store: %s: column %s of a row holds a value of another "
                  "type than its column's", a->t->name,
                  sqlite3_column_name(s, j));
        return FS_ECORRUPT;
    }
    return 0;
}

/* Binds cell as parameter i, a value of type. */
static void bind_cell(sqlite3_stmt *s, int i, char type, const store_cell *c)
{
    if (c->null) sqlite3_bind_null(s, i);
    else if (type == 'i') sqlite3_bind_int64(s, i, c->i);
    else if (type == 'r') sqlite3_bind_double(s, i, c->r);
    else if (type == 't')
        sqlite3_bind_text64(s, i, c->p ? c->p : "", c->len, SQLITE_STATIC,
                            SQLITE_UTF8);
    else if (c->len) sqlite3_bind_blob64(s, i, c->p, c->len, SQLITE_STATIC);
    else sqlite3_bind_zeroblob(s, i, 0); /* empty, not NULL */
}

/* "SELECT cols FROM t [WHERE (key)>(?1..)] ORDER BY key LIMIT ?n". */
static char *page_sql(const store_table *t, bool after)
{
    fs_buf b = { 0 };
    int klen = prefix_len(t->columns, t->nkey);
    fs_buf_printf(&b, "SELECT %s FROM %s", t->columns, t->name);
    if (after) {
        fs_buf_printf(&b, " WHERE (%.*s)>(", klen, t->columns);
        for (int k = 1; k <= t->nkey; k++)
            fs_buf_printf(&b, "%s?%d", k > 1 ? "," : "", k);
        fs_buf_printf(&b, ")");
    }
    fs_buf_printf(&b, " ORDER BY %.*s LIMIT ?%d", klen, t->columns,
                  after ? t->nkey + 1 : 1);
    return b.data;
}

static int page_fn(sqlc *c, void *arg)
{
    page_arg *a = arg;
    char *sql = page_sql(a->t, a->after != NULL);
    sqlite3_stmt *s;
    int rc = prepare(c, sql, &s);
    free(sql);
    if (rc) return rc;
    int k = 0;
    if (a->after) {
        const store_cell *last =
            &a->after->cells[(a->after->n - 1) * a->after->ncols];
        for (; k < a->t->nkey; k++)
            bind_cell(s, k + 1, a->t->types[k], &last[k]);
    }
    sqlite3_bind_int(s, k + 1, a->limit);
    int step = SQLITE_DONE;
    while (!rc && (step = sqlite3_step(s)) == SQLITE_ROW) rc = read_row(a, s);
    if (!rc && step != SQLITE_DONE) rc = sqlc_err(c, step, "dump page");
    sqlite3_finalize(s);
    return rc;
}

/* The last id handed out in counters[i] (0: none). */
static int read_counter(sqlc *c, size_t i, int64_t *out)
{
    sqlite3_stmt *s;
    int rc = prepare(c, "SELECT seq FROM sqlite_sequence WHERE name=?1", &s);
    if (rc) return rc;
    sqlite3_bind_text(s, 1, counters[i], -1, SQLITE_STATIC);
    int step = sqlite3_step(s);
    *out = step == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = sqlc_err(c, step, "dump sequence");
    sqlite3_finalize(s);
    return rc;
}

/* A page of "sequences": the counters named after the cursor. */
static int counters_fn(sqlc *c, void *arg)
{
    page_arg *a = arg;
    const char *from = a->after
        ? a->after->cells[(a->after->n - 1) * a->after->ncols].p : NULL;
    int rc = 0;
    for (size_t i = 0; !rc && i < NCOUNTERS && (int)a->out->n < a->limit;
         i++) {
        if (from && strcmp(counters[i], from) <= 0) continue;
        store_cell *row = add_row(a);
        row[0].len = strlen(counters[i]);
        row[0].p = xstrdup(counters[i]);
        rc = read_counter(c, i, &row[1].i);
    }
    return rc;
}

/* Checks a row set against t: FS_EINVAL when its shape is not t's, or a
 * text or bytes cell lacks its bytes. */
static int check_rows(const store_table *t, const store_rows *r)
{
    if (r->ncols != strlen(t->types) || (r->n && !r->cells)) {
        log_error("store: rows for %s have %zu columns, not %zu", t->name,
                  r->ncols, strlen(t->types));
        return FS_EINVAL;
    }
    for (size_t k = 0; k < r->n * r->ncols; k++) {
        const store_cell *c = &r->cells[k];
        if (c->null || c->p || !c->len || strchr("ir", t->types[k % r->ncols]))
            continue;
        log_error("store: rows for %s: a cell has a length but no bytes",
                  t->name);
        return FS_EINVAL;
    }
    return 0;
}

int sqs_dump_rows(store *st, const store_table *t, const store_rows *after,
                  int limit, store_rows *out)
{
    *out = (store_rows){ 0 };
    const store_table *mine = t ? find_table(t->name) : NULL;
    if (!mine || limit < 1 || limit > 10000) return FS_EINVAL;
    if (after && after->n == 0) after = NULL;
    if (after && check_rows(mine, after)) return FS_EINVAL;
    out->ncols = strlen(mine->types);
    page_arg a = { .t = mine, .after = after, .limit = limit, .out = out };
    int rc = sqs_read(st, strcmp(mine->name, SEQUENCES) ? page_fn
                                                        : counters_fn, &a);
    if (rc) store_rows_free(out);
    return rc;
}

/* --- load: one batch --------------------------------------------------- */

typedef struct load_arg {
    const store_table *t;
    const store_rows *rows;
} load_arg;

/* The INSERT of t, replacing a row with the same key when t is seeded. */
static char *load_sql(const store_table *t)
{
    fs_buf b = { 0 };
    int ncols = (int)strlen(t->types);
    fs_buf_printf(&b, "INSERT INTO %s(%s) VALUES(", t->name, t->columns);
    for (int k = 1; k <= ncols; k++)
        fs_buf_printf(&b, "%s?%d", k > 1 ? "," : "", k);
    fs_buf_printf(&b, ")");
    if (!t->seeded) return b.data;
    int klen = prefix_len(t->columns, t->nkey);
    fs_buf_printf(&b, " ON CONFLICT(%.*s) DO UPDATE SET ", klen, t->columns);
    const char *col = t->columns + klen + 1;
    for (int k = t->nkey; k < ncols; k++) {
        int len = prefix_len(col, 1);
        fs_buf_printf(&b, "%s%.*s=excluded.%.*s", k > t->nkey ? "," : "",
                      len, col, len, col);
        col += len + 1;
    }
    return b.data;
}

/* A failed insert: a key present is FS_ECONFLICT, a broken reference or
 * a NULL where none may be FS_EINVAL. */
static int insert_err(sqlc *c, int step, const char *table)
{
    if (step != SQLITE_CONSTRAINT) return sqlc_err(c, step, "load");
    int ext = sqlite3_extended_errcode(c->db);
    log_error("store: loading %s: %s", table, sqlite3_errmsg(c->db));
    return ext == SQLITE_CONSTRAINT_PRIMARYKEY ||
                   ext == SQLITE_CONSTRAINT_UNIQUE
               ? FS_ECONFLICT : FS_EINVAL;
}

static int load_fn(sqlc *c, void *arg)
{
    load_arg *a = arg;
    char *sql = load_sql(a->t);
    sqlite3_stmt *s;
    int rc = prepare(c, sql, &s);
    free(sql);
    for (size_t k = 0; !rc && k < a->rows->n; k++) {
        const store_cell *row = &a->rows->cells[k * a->rows->ncols];
        sqlite3_reset(s);
        for (size_t j = 0; j < a->rows->ncols; j++)
            bind_cell(s, (int)j + 1, a->t->types[j], &row[j]);
        int step = sqlite3_step(s);
        if (step != SQLITE_DONE) rc = insert_err(c, step, a->t->name);
    }
    sqlite3_finalize(s);
    return rc;
}

/* Sets counters[i] to last, or to the largest id of its table if more. */
static int write_counter(sqlc *c, size_t i, int64_t last)
{
    char *sql = xasprintf("INSERT INTO sqlite_sequence(name,seq) SELECT ?1,"
                          "max(?2,coalesce(max(id),0)) FROM %s", counters[i]);
    sqlite3_stmt *del, *ins = NULL;
    int rc = prepare(c, "DELETE FROM sqlite_sequence WHERE name=?1", &del);
    if (!rc) rc = prepare(c, sql, &ins);
    free(sql);
    int step = SQLITE_DONE;
    if (!rc) {
        sqlite3_bind_text(del, 1, counters[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 1, counters[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 2, last);
        if ((step = sqlite3_step(del)) == SQLITE_DONE) step = sqlite3_step(ins);
    }
    if (!rc && step != SQLITE_DONE) rc = sqlc_err(c, step, "load sequence");
    sqlite3_finalize(del);
    sqlite3_finalize(ins);
    return rc;
}

/* The index in counters of a "sequences" row's table, or -1. */
static int counter_of(const store_cell *row)
{
    for (int i = 0; i < NCOUNTERS && !row[0].null && !row[1].null && row[0].p;
         i++)
        if (!strcmp(counters[i], row[0].p)) return i;
    return -1;
}

static int load_counters_fn(sqlc *c, void *arg)
{
    load_arg *a = arg;
    for (size_t k = 0; k < a->rows->n; k++) {
        const store_cell *row = &a->rows->cells[k * a->rows->ncols];
        int i = counter_of(row);
        if (i < 0) {
            log_error("store: loading sequences: a row names no id counter");
            return FS_EINVAL;
        }
        int rc = write_counter(c, (size_t)i, row[1].i);
        if (rc) return rc;
    }
    return 0;
}

int sqs_load_rows(store *st, const store_table *t, const store_rows *rows)
{
    const store_table *mine = t ? find_table(t->name) : NULL;
    if (!mine || check_rows(mine, rows)) return FS_EINVAL;
    if (rows->n == 0) return 0;
    load_arg a = { mine, rows };
    return sqs_write(st, strcmp(mine->name, SEQUENCES) ? load_fn
                                                       : load_counters_fn, &a);
}
