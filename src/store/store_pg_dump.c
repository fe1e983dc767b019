/*
 * store_pg_dump.c - the whole-database copy of the PostgreSQL backend
 * (store.h: store_dump_tables, store_dump_rows, store_load_rows): what
 * `flowstate migrate` reads a database through, and writes one with.
 *
 * The catalogue below is the twin of store_sqlite_dump.c's, table for
 * table (migrate refuses two that differ), with what PostgreSQL needs on
 * top: which columns are boolean (0/1 in the logical schema) and whether
 * loading makes a tsvector.  The statements are built from it, names from
 * this file and never from input, values as parameters:
 *
 *   a page:   SELECT cols FROM t [WHERE (key) > ($1..)] ORDER BY key LIMIT $n
 *   a batch:  INSERT INTO t(cols) SELECT ... FROM unnest($1::type[], ...)
 *             [ON CONFLICT(key) DO UPDATE SET col=excluded.col ...]  (seeded)
 *
 * Text keys are compared and sorted COLLATE "C" (byte order, as SQLite
 * and the contract want, whatever the database's locale); a key led by a
 * text column pages by equality on it first, so its index serves every
 * page whatever the column's collation (page_by_prefix).  A batch is one
 * statement, each column one array parameter built before the
 * transaction, so a retried transaction sends the same: numbers and text
 * as array literals (reals in %.17g, which reads back bit for bit), bytes
 * as a binary bytea[] (embeddings are most of a copy's volume: no hex, no
 * escaping).  A page reads reals as float8send() bytes, so no setting of
 * the server's (extra_float_digits) can round them.
 * Documents get their tsv and ntokens from pgs_doc_tsv(), as doc_add
 * makes them; the triggers keep documents_totals and doc_changes.
 *
 * "sequences" are the identity sequences of the id columns: the last
 * value handed out (pg_sequence_last_value, NULL before the first: 0),
 * set with setval().  A database whose schema holds a table that is
 * neither in the catalogue nor derived, or a column the catalogue leaves
 * out, cannot be dumped whole: FS_ECORRUPT.  A migration that adds a
 * table or a column adds it here too, on both backends: to the catalogue
 * (copied) or as derived (rebuilt, or each database's own); tests/store/
 * test_migrate.c and migrate itself fail until it does.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/xmem.h"
#include "store/pg_conn.h"
#include "store/store.h"

#define SEQUENCES "sequences"

typedef struct pgd_table {
    store_table t;
    const char *booleans; /* the boolean columns, "a,b"; NULL: none */
    bool tsv;             /* loading fills tsv and ntokens from content */
} pgd_table;

static const pgd_table tables[] = {
    { { "jobs",
        "id,type,target_agent,payload,priority,run_at,attempts,max_attempts,"
        "timeout_ms,unique_key,state,result,last_error,parent_id,lease_token,"
        "lease_owner,lease_expires,started_at,created_at,updated_at,"
        "finished_at,run_id",
        "itttiiiiittttittiiiiii", 1, false }, NULL, false },
    { { "agents",
        "id,name,type,job_types,metadata,token_hash,created_at,"
        "last_heartbeat,state_version",
        "ttttttiii", 1, false }, NULL, false },
    { { "agent_states", "agent_id,version,state,created_at", "titi", 2,
        false }, NULL, false },
    { { "api_keys", "hash,name,role,created_at", "ttti", 1, false }, NULL,
      false },
    { { "documents",
        "id,parent_id,chunk_index,agent,kind,content,metadata,tags,"
        "importance,embedding,embedder,embedder_version,created_at,"
        "updated_at",
        "iiitttttrbttii", 1, false }, NULL, true },
    { { "memory_settings", "key,value", "tt", 1, true }, NULL, false },
    { { "embedding_cache", "embedder,text_hash,vector,created_at", "tbbi", 2,
        false }, NULL, false },
    { { "workflows", "name,version,description,definition,created_at",
        "titti", 2, false }, NULL, false },
    { { "runs",
        "id,workflow,version,state,inputs,error,rev,deadline,created_at,"
        "updated_at,finished_at",
        "itiittiiiii", 1, false }, NULL, false },
    { { "run_tasks",
        "run_id,step,item,state,attempts,job_id,items,output,error,deadline,"
        "started_at,finished_at",
        "iiiiiiittiii", 3, false }, NULL, false },
    { { "run_events", "run_id,seq,at,type,step,item,attempt,error,data",
        "iiittiitt", 2, false }, NULL, false },
    { { "job_signals", "id,job_id,run_id", "iii", 1, false }, NULL, false },
    { { "schedules", "name,cron,job,enabled,last_fire,created_at,updated_at",
        "tttiiii", 1, false }, "enabled", false },
    { { "evolution_events",
        "id,type,component,description,proposed_by,status,data,rev,"
        "created_at,updated_at,applied_at",
        "ittttttiiii", 1, false }, NULL, false },
    { { SEQUENCES, "table_name,last_id", "ti", 1, true }, NULL, false },
};
enum { NTABLES = sizeof tables / sizeof *tables };

/* The tables whose "id" is an identity column, in key (byte) order. */
static const char *const counters[] = { "documents", "evolution_events",
                                        "job_signals", "jobs", "runs" };
enum { NCOUNTERS = sizeof counters / sizeof *counters };

/* Tables a database holds that are rebuilt or its own, not copied. */
static const char *const derived[] = { "schema_migrations",
                                       "documents_totals", "doc_changes" };

static const pgd_table *find_table(const char *name)
{
    for (size_t i = 0; i < NTABLES; i++)
        if (!strcmp(tables[i].t.name, name)) return &tables[i];
    return NULL;
}

static bool known_table(const char *name)
{
    if (find_table(name)) return true;
    for (size_t i = 0; i < sizeof derived / sizeof *derived; i++)
        if (!strcmp(derived[i], name)) return true;
    return false;
}

/* --- columns ----------------------------------------------------------- */

/* Column j of a comma-separated list.  OUT: *len.  Returns its start. */
static const char *column(const char *list, int j, int *len)
{
    for (; j > 0; j--) list = strchr(list, ',') + 1;
    *len = (int)strcspn(list, ",");
    return list;
}

/* Column j of t is boolean here (0/1 in the logical schema). */
static bool is_boolean(const pgd_table *t, int j)
{
    int len, blen;
    const char *name = column(t->t.columns, j, &len);
    if (!t->booleans) return false;
    for (const char *b = t->booleans; *b; b += blen + (b[blen] == ',')) {
        blen = (int)strcspn(b, ",");
        if (blen == len && !strncmp(b, name, (size_t)len)) return true;
    }
    return false;
}

/* Appends key column k to b (after a comma unless first), COLLATE "C"
 * for text. */
static void key_column(fs_buf *b, const store_table *t, int k, bool first)
{
    int len;
    const char *name = column(t->columns, k, &len);
    fs_buf_printf(b, "%s%.*s%s", first ? "" : ",", len, name,
                  t->types[k] == 't' ? " COLLATE \"C\"" : "");
}

/* --- the catalogue and its row counts ---------------------------------- */

typedef struct tables_arg {
    store_table_rows *out;
} tables_arg;

/* FS_ECORRUPT when the schema holds a table nobody can copy. */
static int check_tables(pgc *c)
{
    PGresult *r;
    int rc = pgc_exec_sql(c, "SELECT tablename FROM pg_tables WHERE "
                             "schemaname=current_schema()", NULL, &r);
    if (rc) return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *name = PQgetvalue(r, i, 0);
        if (known_table(name)) continue;
        log_error("store: table %s is not one flowstate migrate knows how "
                  "to copy", name);
        rc = FS_ECORRUPT;
    }
    PQclear(r);
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
 * migration added it and this file was not told); tsv and ntokens are
 * derived where t->tsv. */
static int check_columns(pgc *c, const pgd_table *t)
{
    pgc_params p = { 0 };
    pgc_text(&p, t->t.name);
    PGresult *r;
    int rc = pgc_exec_sql(c, "SELECT column_name::text FROM "
                             "information_schema.columns WHERE "
                             "table_schema=current_schema() AND "
                             "table_name=$1", &p, &r);
    if (rc) return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *col = PQgetvalue(r, i, 0);
        if (in_list(t->t.columns, col) ||
            (t->tsv && in_list("tsv,ntokens", col)))
            continue;
        log_error("store: column %s.%s is not one flowstate migrate knows "
                  "how to copy", t->t.name, col);
        rc = FS_ECORRUPT;
    }
    PQclear(r);
    return rc;
}

static int count_rows(pgc *c, const store_table *t, int64_t *n)
{
    if (!strcmp(t->name, SEQUENCES)) {
        *n = NCOUNTERS;
        return 0;
    }
    char *sql = xasprintf("SELECT count(*) FROM %s", t->name);
    PGresult *r;
    int rc = pgc_exec_sql(c, sql, NULL, &r);
    free(sql);
    if (rc) return rc;
    *n = pgc_get_int(r, 0, 0);
    PQclear(r);
    return 0;
}

static int tables_fn(pgc *c, void *arg)
{
    tables_arg *a = arg;
    int rc = check_tables(c);
    for (size_t i = 0; !rc && i < NTABLES; i++) {
        a->out[i].table = &tables[i].t;
        if (strcmp(tables[i].t.name, SEQUENCES))
            rc = check_columns(c, &tables[i]);
        if (!rc) rc = count_rows(c, &tables[i].t, &a->out[i].rows);
    }
    return rc;
}

int pgs_dump_tables(store *st, store_table_rows **out, size_t *n)
{
    tables_arg a = { xcalloc(NTABLES, sizeof *a.out) };
    int rc = pgc_run(pgs_pool(st), PGC_SNAPSHOT, tables_fn, &a);
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
    const pgd_table *t;
    const store_rows *after; /* NULL: from the first row */
    int limit;
    store_rows *out;
} page_arg;

/* A real selected as float8send(col): its IEEE-754 bits, big-endian,
 * exact whatever extra_float_digits says. */
static double read_real(const PGresult *r, int row, int j)
{
    void *b;
    size_t n;
    pgc_get_bytes(r, row, j, &b, &n);
    uint64_t bits = 0;
    for (size_t k = 0; k < n && k < 8; k++)
        bits = bits << 8 | ((const uint8_t *)b)[k];
    free(b);
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* Field (row, j) of r into cell, as a value of type. */
static void read_cell(const PGresult *r, int row, int j, char type,
                      store_cell *cell)
{
    if ((cell->null = pgc_is_null(r, row, j))) return;
    if (type == 'i') cell->i = pgc_get_int(r, row, j);
    else if (type == 'r') cell->r = read_real(r, row, j);
    else if (type == 't') {
        cell->len = (size_t)PQgetlength(r, row, j);
        cell->p = xstrndup(PQgetvalue(r, row, j), cell->len);
    } else {
        void *b;
        pgc_get_bytes(r, row, j, &b, &cell->len);
        cell->p = b;
    }
}

/* Appends cell (a key: never NULL) as a parameter of type. */
static void key_param(pgc_params *p, char type, const store_cell *cell)
{
    if (type == 'i') pgc_int(p, cell->i);
    else if (type == 't') pgc_text(p, cell->p ? cell->p : "");
    else pgc_bytes(p, cell->p ? cell->p : "", cell->len);
}

/* Appends the rows of r to a->out. */
static void read_rows(page_arg *a, const PGresult *r)
{
    store_rows *out = a->out;
    size_t ncols = out->ncols, from = out->n, n = (size_t)PQntuples(r);
    out->cells = xrealloc(out->cells,
                          ((from + n) * ncols + 1) * sizeof *out->cells);
    memset(&out->cells[from * ncols], 0, n * ncols * sizeof *out->cells);
    for (size_t k = 0; k < n; k++)
        for (size_t j = 0; j < ncols; j++)
            read_cell(r, (int)k, (int)j, a->t->t.types[j],
                      &out->cells[(from + k) * ncols + j]);
    out->n += n;
}

/* Empties a->out (what a retried transaction left there). */
static void reset_page(page_arg *a)
{
    size_t ncols = a->out->ncols;
    store_rows_free(a->out);
    a->out->ncols = ncols;
}

/* Appends "(k_from,...)>($first,...)" to b. */
static void after_keys(fs_buf *b, const store_table *t, int from, int first)
{
    fs_buf_printf(b, "(");
    for (int k = from; k < t->nkey; k++) key_column(b, t, k, k == from);
    fs_buf_printf(b, ")>(");
    for (int k = from; k < t->nkey; k++)
        fs_buf_printf(b, "%s$%d", k > from ? "," : "", first + k - from);
    fs_buf_printf(b, ")");
}

/* "SELECT cols FROM t WHERE <where> ORDER BY <keys from `from`> LIMIT
 * $limit" (where "": no condition). */
static char *page_sql(const pgd_table *t, const char *where, int from,
                      int limit)
{
    fs_buf b = { 0 };
    fs_buf_printf(&b, "SELECT ");
    for (int j = 0; t->t.types[j]; j++) {
        int len;
        const char *name = column(t->t.columns, j, &len);
        if (t->t.types[j] == 'r')
            fs_buf_printf(&b, "%sfloat8send(%.*s)", j ? "," : "", len, name);
        else
            fs_buf_printf(&b, "%s%.*s%s", j ? "," : "", len, name,
                          is_boolean(t, j) ? "::integer" : "");
    }
    fs_buf_printf(&b, " FROM %s%s%s ORDER BY ", t->t.name, *where ? " WHERE "
                  : "", where);
    for (int k = from; k < t->t.nkey; k++) key_column(&b, &t->t, k, k == from);
    fs_buf_printf(&b, " LIMIT $%d", limit);
    return b.data;
}

/* Runs a page statement with the cursor's first nkeys keys as $1.. and
 * limit as the last parameter, appending its rows to a->out. */
static int run_page(pgc *c, page_arg *a, char *sql, int nkeys, int limit)
{
    pgc_params p = { 0 };
    const store_cell *last =
        a->after ? &a->after->cells[(a->after->n - 1) * a->after->ncols]
                 : NULL;
    for (int k = 0; k < nkeys; k++) key_param(&p, a->t->t.types[k], &last[k]);
    pgc_int(&p, limit);
    PGresult *r;
    int rc = pgc_exec_sql(c, sql, &p, &r);
    free(sql);
    if (rc) return rc;
    read_rows(a, r);
    PQclear(r);
    return 0;
}

/*
 * The page after a cursor whose key starts with a text column, in two
 * steps that an index on the key serves whatever the column's collation
 * (a byte-order sort of the whole table per page would make a copy
 * quadratic): the rest of the rows with the cursor's first key (equality
 * is byte equality), then, if the page is not full, the rows of the
 * following first keys in byte order (a sort, once per first key).
 */
static int page_by_prefix(pgc *c, page_arg *a)
{
    const store_table *t = &a->t->t;
    fs_buf where = { 0 };
    int len;
    const char *k0 = column(t->columns, 0, &len);
    fs_buf_printf(&where, "%.*s=$1 AND ", len, k0);
    after_keys(&where, t, 1, 2);
    int rc = run_page(c, a, page_sql(a->t, where.data, 1, t->nkey + 1),
                      t->nkey, a->limit);
    where.len = 0;
    fs_buf_printf(&where, "%.*s COLLATE \"C\">$1", len, k0);
    if (!rc && a->out->n < (size_t)a->limit)
        rc = run_page(c, a, page_sql(a->t, where.data, 0, 2), 1,
                      a->limit - (int)a->out->n);
    fs_buf_free(&where);
    return rc;
}

static int page_fn(pgc *c, void *arg)
{
    page_arg *a = arg;
    const store_table *t = &a->t->t;
    reset_page(a);
    if (!a->after) return run_page(c, a, page_sql(a->t, "", 0, 1), 0, a->limit);
    if (t->nkey > 1 && t->types[0] == 't') return page_by_prefix(c, a);
    fs_buf where = { 0 };
    after_keys(&where, t, 0, 1);
    int rc = run_page(c, a, page_sql(a->t, where.data, 0, t->nkey + 1),
                      t->nkey, a->limit);
    fs_buf_free(&where);
    return rc;
}

/* A page of "sequences": the counters named after the cursor. */
static int counters_fn(pgc *c, void *arg)
{
    page_arg *a = arg;
    const char *from = a->after
        ? a->after->cells[(a->after->n - 1) * a->after->ncols].p : NULL;
    fs_buf names = { 0 };
    for (size_t i = 0; i < NCOUNTERS; i++)
        if (!from || strcmp(counters[i], from) > 0)
            pgc_array_add(&names, counters[i]);
    pgc_params p = { 0 };
    pgc_text(&p, pgc_array_end(&names));
    pgc_int(&p, a->limit);
    PGresult *r;
    int rc = pgc_exec_sql(
        c, "SELECT t,coalesce(pg_sequence_last_value("
           "pg_get_serial_sequence(t,'id')::regclass),0) FROM "
           "unnest($1::text[]) AS u(t) ORDER BY t COLLATE \"C\" LIMIT $2",
        &p, &r);
    fs_buf_free(&names);
    if (rc) return rc;
    reset_page(a);
    read_rows(a, r);
    PQclear(r);
    return 0;
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

int pgs_dump_rows(store *st, const store_table *t, const store_rows *after,
                  int limit, store_rows *out)
{
    *out = (store_rows){ 0 };
    const pgd_table *mine = t ? find_table(t->name) : NULL;
    if (!mine || limit < 1 || limit > 10000) return FS_EINVAL;
    if (after && after->n == 0) after = NULL;
    if (after && check_rows(&mine->t, after)) return FS_EINVAL;
    out->ncols = strlen(mine->t.types);
    page_arg a = { mine, after, limit, out };
    int rc = pgc_run(pgs_pool(st), PGC_READ,
                     strcmp(mine->t.name, SEQUENCES) ? page_fn : counters_fn,
                     &a);
    if (rc) store_rows_free(out);
    return rc;
}

/* --- load: one batch --------------------------------------------------- */

/* The statement and its parameters, made before the transaction. */
typedef struct load_arg {
    const pgd_table *t;
    char *sql;
    fs_buf arrays[PGC_MAX_PARAMS];
    int narrays;
} load_arg;

/* Appends n raw bytes to b. */
static void put_raw(fs_buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = 2 * (b->len + n);
        b->data = xrealloc(b->data, b->cap);
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_be32(fs_buf *b, uint32_t v)
{
    uint8_t be[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
                      (uint8_t)(v >> 8), (uint8_t)v };
    put_raw(b, be, 4);
}

/* Column j of rows, bytes, as a bytea[] in PostgreSQL's binary array
 * format: dimensions, lower bound 1, then each element's length (-1:
 * NULL) and bytes; no escaping, no hex. */
static void bytes_array(fs_buf *b, const store_rows *rows, size_t j)
{
    enum { BYTEA_OID = 17 };
    put_be32(b, 1);         /* one dimension */
    put_be32(b, 1);         /* may hold NULLs */
    put_be32(b, BYTEA_OID);
    put_be32(b, (uint32_t)rows->n);
    put_be32(b, 1);         /* lower bound */
    for (size_t k = 0; k < rows->n; k++) {
        const store_cell *cell = &rows->cells[k * rows->ncols + j];
        put_be32(b, cell->null ? UINT32_MAX : (uint32_t)cell->len);
        if (!cell->null) put_raw(b, cell->p, cell->len);
    }
}

/* Appends cell, a number or text, to the array literal b.  FS_EINVAL for
 * text PostgreSQL cannot hold (a NUL byte). */
static int put_cell(fs_buf *b, char type, const store_cell *cell)
{
    char num[40];
    if (cell->null) pgc_array_add(b, NULL);
    else if (type == 'i') pgc_array_int(b, cell->i);
    else if (type == 'r') {
        snprintf(num, sizeof num, "%.17g", cell->r);
        pgc_array_add(b, num);
    } else if (cell->p && memchr(cell->p, 0, cell->len)) return FS_EINVAL;
    else pgc_array_add(b, cell->p ? cell->p : "");
    return 0;
}

/* Column j of rows as one array parameter into a->arrays[j]. */
static int column_array(load_arg *a, const store_rows *rows, size_t j)
{
    fs_buf *b = &a->arrays[j];
    if (a->t->t.types[j] == 'b') {
        bytes_array(b, rows, j);
        return 0;
    }
    for (size_t k = 0; k < rows->n; k++)
        if (put_cell(b, a->t->t.types[j], &rows->cells[k * rows->ncols + j])) {
            log_error("store: loading %s: a text value of column %zu holds "
                      "a NUL byte", a->t->t.name, j + 1);
            return FS_EINVAL;
        }
    pgc_array_end(b);
    return 0;
}

/* The tsv and ntokens arrays of a documents batch (content: column 5). */
static int tsv_arrays(load_arg *a, const store_rows *rows)
{
    fs_buf *tsv = &a->arrays[a->narrays], *ntok = &a->arrays[a->narrays + 1];
    int rc = 0;
    for (size_t k = 0; !rc && k < rows->n; k++) {
        const store_cell *content = &rows->cells[k * rows->ncols + 5];
        fs_buf one = { 0 };
        int n = 0;
        rc = pgs_doc_tsv(content->null ? "" : content->p, &one, &n);
        pgc_array_add(tsv, one.data ? one.data : "");
        pgc_array_int(ntok, n);
        fs_buf_free(&one);
    }
    pgc_array_end(tsv);
    pgc_array_end(ntok);
    a->narrays += 2;
    return rc;
}

/* Appends "ON CONFLICT(key) DO UPDATE SET col=excluded.col,...". */
static void upsert_sql(fs_buf *b, const store_table *t)
{
    fs_buf_printf(b, " ON CONFLICT(");
    for (int k = 0; k < t->nkey; k++) {
        int len;
        const char *name = column(t->columns, k, &len);
        fs_buf_printf(b, "%s%.*s", k ? "," : "", len, name);
    }
    fs_buf_printf(b, ") DO UPDATE SET ");
    for (int j = t->nkey; t->types[j]; j++) {
        int len;
        const char *name = column(t->columns, j, &len);
        fs_buf_printf(b, "%s%.*s=excluded.%.*s", j > t->nkey ? "," : "", len,
                      name, len, name);
    }
}

/* The unnest column u.cJ as a value of column j. */
static void load_expr(fs_buf *b, const pgd_table *t, int j)
{
    if (is_boolean(t, j)) fs_buf_printf(b, "u.c%d<>0", j);
    else fs_buf_printf(b, "u.c%d", j);
}

static const char *array_type(char type)
{
    return type == 'i' ? "bigint" : type == 'r' ? "float8"
                       : type == 'b' ? "bytea" : "text";
}

/* INSERT INTO t(cols) SELECT exprs FROM unnest($1::T[],...) AS u(c0,...). */
static char *load_sql(const pgd_table *t)
{
    fs_buf b = { 0 };
    int ncols = (int)strlen(t->t.types);
    fs_buf_printf(&b, "INSERT INTO %s(%s%s) SELECT ", t->t.name, t->t.columns,
                  t->tsv ? ",tsv,ntokens" : "");
    for (int j = 0; j < ncols; j++) {
        if (j) fs_buf_printf(&b, ",");
        load_expr(&b, t, j);
    }
    fs_buf_printf(&b, "%s FROM unnest(", t->tsv ? ",u.tsv::tsvector,u.nt" : "");
    for (int j = 0; j < ncols; j++)
        fs_buf_printf(&b, "%s$%d::%s[]", j ? "," : "", j + 1,
                      array_type(t->t.types[j]));
    if (t->tsv)
        fs_buf_printf(&b, ",$%d::text[],$%d::integer[]", ncols + 1, ncols + 2);
    fs_buf_printf(&b, ") AS u(");
    for (int j = 0; j < ncols; j++) fs_buf_printf(&b, "%sc%d", j ? "," : "", j);
    fs_buf_printf(&b, "%s)", t->tsv ? ",tsv,nt" : "");
    if (t->t.seeded) upsert_sql(&b, &t->t);
    return b.data;
}

static int load_fn(pgc *c, void *arg)
{
    load_arg *a = arg;
    pgc_params p = { 0 };
    for (int j = 0; j < a->narrays; j++) {
        if (j < (int)strlen(a->t->t.types) && a->t->t.types[j] == 'b')
            pgc_bytes(&p, a->arrays[j].data, a->arrays[j].len);
        else pgc_text(&p, a->arrays[j].data);
    }
    return pgc_exec_sql(c, a->sql, &p, NULL);
}

/* The index in counters of a "sequences" row's table, or -1. */
static int counter_of(const store_cell *row)
{
    for (int i = 0; i < NCOUNTERS && !row[0].null && !row[1].null && row[0].p;
         i++)
        if (!strcmp(counters[i], row[0].p)) return i;
    return -1;
}

/* Sets counters[i] to last, or to the largest id of its table if more. */
static int write_counter(pgc *c, int i, int64_t last)
{
    char *sql = xasprintf(
        "SELECT setval(pg_get_serial_sequence($1,'id'),greatest($2,m,1),"
        "greatest($2,m)>0) FROM (SELECT coalesce(max(id),0) AS m FROM %s) x",
        counters[i]);
    pgc_params p = { 0 };
    pgc_text(&p, counters[i]);
    pgc_int(&p, last);
    int rc = pgc_exec_sql(c, sql, &p, NULL);
    free(sql);
    return rc;
}

typedef struct counters_arg {
    const store_rows *rows;
} counters_arg;

static int load_counters_fn(pgc *c, void *arg)
{
    counters_arg *a = arg;
    for (size_t k = 0; k < a->rows->n; k++) {
        const store_cell *row = &a->rows->cells[k * a->rows->ncols];
        int i = counter_of(row);
        if (i < 0) {
            log_error("store: loading sequences: a row names no id counter");
            return FS_EINVAL;
        }
        int rc = write_counter(c, i, row[1].i);
        if (rc) return rc;
    }
    return 0;
}

static int load_table(store *st, const pgd_table *t, const store_rows *rows)
{
    load_arg a = { .t = t, .narrays = (int)rows->ncols };
    assert(a.narrays + 2 <= PGC_MAX_PARAMS); /* a catalogue invariant */
    int rc = 0;
    for (size_t j = 0; !rc && j < rows->ncols; j++)
        rc = column_array(&a, rows, j);
    if (!rc && t->tsv) rc = tsv_arrays(&a, rows);
    if (!rc) {
        a.sql = load_sql(t);
        rc = pgc_run(pgs_pool(st), PGC_WRITE, load_fn, &a);
    }
    for (int j = 0; j < PGC_MAX_PARAMS; j++) fs_buf_free(&a.arrays[j]);
    free(a.sql);
    return rc;
}

int pgs_load_rows(store *st, const store_table *t, const store_rows *rows)
{
    const pgd_table *mine = t ? find_table(t->name) : NULL;
    if (!mine || check_rows(&mine->t, rows)) return FS_EINVAL;
    if (rows->n == 0) return 0;
    if (strcmp(mine->t.name, SEQUENCES)) return load_table(st, mine, rows);
    counters_arg a = { rows };
    return pgc_run(pgs_pool(st), PGC_WRITE, load_counters_fn, &a);
}
