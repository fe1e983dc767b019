/*
 * test_migrate.c - the whole-database copy ops of store.h (dump_tables,
 * dump_rows, load_rows), backend-agnostic: the store under test comes
 * from tdb_open (SQLite, or PostgreSQL with FLOWSTATE_TEST_DB), and the
 * other end of a copy is a SQLite file in the test's folder.  Values that
 * are easy to bend (doubles, bytes with zeros, empty bytes against NULL,
 * quotes, backslashes, UTF-8, keys whose byte order is not their locale
 * order) go SQLite -> store -> SQLite and come back bit for bit; pages of
 * any size cover a table once, in key order; a load refuses a key twice,
 * a missing reference and rows of another shape; a seeded table and the
 * id counters load over what a new database holds; a table or a column
 * the catalogue does not know makes the dump refuse.  (tests/integration/
 * test_migrate_cli.c copies every kind of record through the real
 * binary.)
 */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "support/testdb.h"

static tdb T;
static void setup(void) { tdb_open(&T); }
static void teardown(void) { tdb_close(&T); }

TestSuite(store_dump, .init = setup, .fini = teardown, .timeout = 120);

#define NOW 1700000000000LL

/* A new SQLite store in the test's folder. */
static store *sqlite_store(const char *name)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", T.dir, name);
    store *st;
    cr_assert_eq(store_open(&st, path, NULL), 0);
    return st;
}

static const store_table *table_of(store *st, const char *name)
{
    store_table_rows *t;
    size_t n;
    const store_table *found = NULL;
    cr_assert_eq(store_dump_tables(st, &t, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].table->name, name)) found = t[i].table;
    free(t);
    cr_assert_not_null(found, "no table %s", name);
    return found;
}

/* Copies every table of from into to, pages of `batch` rows. */
static void copy_all(store *from, store *to, int batch)
{
    store_table_rows *t;
    size_t n;
    cr_assert_eq(store_dump_tables(from, &t, &n), 0);
    for (size_t i = 0; i < n; i++) {
        store_rows page = { 0 }, prev = { 0 };
        do {
            cr_assert_eq(store_dump_rows(from, t[i].table, &prev, batch,
                                         &page), 0);
            cr_assert_eq(store_load_rows(to, table_of(to, t[i].table->name),
                                         &page), 0, "load %s",
                         t[i].table->name);
            store_rows_free(&prev);
            prev = page;
        } while (prev.n == (size_t)batch);
        store_rows_free(&prev);
    }
    free(t);
}

/* Every row of table name, in one page. */
static store_rows all_rows(store *st, const char *name)
{
    store_rows r;
    cr_assert_eq(store_dump_rows(st, table_of(st, name), NULL, 10000, &r), 0);
    return r;
}

static void assert_same_rows(const store_table *t, const store_rows *a,
                             const store_rows *b)
{
    cr_assert_eq(a->n, b->n, "%s: %zu rows vs %zu", t->name, a->n, b->n);
    for (size_t k = 0; k < a->n * a->ncols; k++) {
        const store_cell *x = &a->cells[k], *y = &b->cells[k];
        char type = t->types[k % a->ncols];
        cr_assert_eq(x->null, y->null, "%s cell %zu", t->name, k);
        if (x->null) continue;
        if (type == 'i') cr_assert_eq(x->i, y->i, "%s cell %zu", t->name, k);
        else if (type == 'r')
            cr_assert_eq(memcmp(&x->r, &y->r, sizeof x->r), 0,
                         "%s cell %zu: %.17g vs %.17g", t->name, k, x->r, y->r);
        else
            cr_assert(x->len == y->len &&
                          (!x->len || !memcmp(x->p, y->p, x->len)),
                      "%s cell %zu: bytes differ", t->name, k);
    }
}

/* Both stores hold the same rows in every table. */
static void assert_same(store *a, store *b)
{
    store_table_rows *t;
    size_t n;
    cr_assert_eq(store_dump_tables(a, &t, &n), 0);
    for (size_t i = 0; i < n; i++) {
        store_rows ra = all_rows(a, t[i].table->name);
        store_rows rb = all_rows(b, t[i].table->name);
        assert_same_rows(t[i].table, &ra, &rb);
        store_rows_free(&ra);
        store_rows_free(&rb);
    }
    free(t);
}

/* Documents whose values are easy to bend on the way. */
static void put_awkward_documents(store *st)
{
    static const float emb[4] = { 0.1f, -0.0f, 1e-30f, 3.4e38f };
    fs_doc d[4] = {
        { .content = strdup("quotes \" ' backslash \\ {braces} \"NULL\" \n"
                            "tab\t \xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80"),
          .metadata = strdup("{\"a\":\"\\\"x\\\\\"}"), .importance = 0.1,
          .parent_ref = -1, .chunk_index = -1, .embedder = strdup("") },
        { .content = strdup("NULL"), .importance = 1e-300, .parent_ref = 0,
          .chunk_index = 0, .agent = strdup("a,b") },
        { .content = strdup(""), .importance = 0.30000000000000004,
          .parent_ref = -1, .chunk_index = -1 },
        { .content = strdup("embedded"), .importance = -2.5,
          .parent_ref = -1, .chunk_index = -1 },
    };
    d[3].embedding = malloc(sizeof emb);
    memcpy(d[3].embedding, emb, sizeof emb);
    d[3].dims = 4;
    d[2].embedding = malloc(1); /* no floats: an empty blob, not NULL */
    d[2].dims = 0;
    cr_assert_eq(store_doc_add(st, d, 4, NOW), 0);
    for (int i = 0; i < 4; i++) fs_doc_clear(&d[i]);
}

/* Agents and states whose ids sort differently by bytes and by locale. */
static void put_agents(store *st)
{
    const char *ids[] = { "ag_b", "ag_B", "ag_\xc3\xa9", "ag_a", "ag_Z" };
    for (int i = 0; i < 5; i++) {
        fs_agent a = { .id = (char *)ids[i], .name = "n", .type = "t",
                       .job_types = "[]", .metadata = "{}",
                       .created_at = NOW, .last_heartbeat = NOW };
        char hash[16];
        snprintf(hash, sizeof hash, "h%d", i);
        cr_assert_eq(store_agent_create(st, &a, hash), 0);
        for (int v = 0; v < 2; v++) {
            fs_agent_state s;
            cr_assert_eq(store_state_put(st, ids[i], "{\"v\":1}", -1, NOW,
                                         &s), 0);
            fs_agent_state_clear(&s);
        }
    }
    uint8_t hashes[3][32];
    float vecs[3 * 2] = { 1, 2, 3, 4, 5, 6 };
    for (int i = 0; i < 3; i++) memset(hashes[i], i == 2 ? 0xff : i, 32);
    cr_assert_eq(store_cache_put(st, "E", (const uint8_t(*)[32])hashes, 3, 2,
                                 vecs, NOW), 0);
    cr_assert_eq(store_cache_put(st, "e", (const uint8_t(*)[32])hashes, 1, 2,
                                 vecs, NOW), 0);
}

Test(store_dump, the_catalogue_is_well_formed)
{
    store_table_rows *t;
    size_t n;
    cr_assert_eq(store_dump_tables(T.st, &t, &n), 0);
    cr_assert_geq(n, 15);
    for (size_t i = 0; i < n; i++) {
        const store_table *x = t[i].table;
        size_t commas = 0;
        for (const char *c = x->columns; *c; c++) commas += *c == ',';
        cr_assert_eq(strlen(x->types), commas + 1, "%s", x->name);
        cr_assert(x->nkey >= 1 && (size_t)x->nkey <= commas + 1, "%s", x->name);
        cr_assert_eq(strspn(x->types, "irtb"), strlen(x->types), "%s", x->name);
        cr_assert(t[i].rows == 0 || x->seeded, "%s: a new database", x->name);
    }
    cr_assert_str_eq(t[n - 1].table->name, "sequences", "counters load last");
    free(t);
}

Test(store_dump, awkward_values_come_back_bit_for_bit)
{
    store *src = sqlite_store("src.db"), *back = sqlite_store("back.db");
    put_awkward_documents(src);
    put_agents(src);
    copy_all(src, T.st, 3);
    copy_all(T.st, back, 2);
    assert_same(src, T.st);
    assert_same(src, back);
    store_rows r = all_rows(T.st, "documents");
    cr_assert_eq(r.n, 4);
    cr_assert(r.cells[0 * r.ncols + 9].null, "no embedding: NULL");
    cr_assert(!r.cells[2 * r.ncols + 9].null, "an empty embedding stays");
    cr_assert_eq(r.cells[2 * r.ncols + 9].len, 0);
    cr_assert_eq(r.cells[1 * r.ncols + 8].r, 1e-300);
    store_rows_free(&r);
    store_close(src);
    store_close(back);
}

Test(store_dump, pages_of_any_size_cover_a_table_once_in_byte_order)
{
    put_agents(T.st);
    const char *names[] = { "agents", "agent_states", "embedding_cache" };
    for (int t = 0; t < 3; t++) {
        const store_table *tab = table_of(T.st, names[t]);
        store_rows whole = all_rows(T.st, names[t]);
        cr_assert_geq(whole.n, 4);
        for (size_t k = 1; k < whole.n; k++) { /* keys ascend by bytes */
            const store_cell *a = &whole.cells[(k - 1) * whole.ncols];
            const store_cell *b = &whole.cells[k * whole.ncols];
            size_t m = a->len < b->len ? a->len : b->len;
            int c = memcmp(a->p, b->p, m);
            if (c == 0) c = (a->len > b->len) - (a->len < b->len);
            if (c == 0 && tab->nkey > 1)
                c = tab->types[1] == 'i' ? (a[1].i > b[1].i) - (a[1].i < b[1].i)
                                         : memcmp(a[1].p, b[1].p, 32);
            cr_assert_lt(c, 0, "%s: row %zu is not after row %zu", names[t],
                         k, k - 1);
        }
        for (int limit = 1; limit <= 3; limit++) {
            store_rows page, prev = { 0 };
            size_t seen = 0;
            do {
                cr_assert_eq(
                    store_dump_rows(T.st, tab, &prev, limit, &page), 0);
                cr_assert_leq(page.n, (size_t)limit);
                cr_assert_leq(seen + page.n, whole.n, "rows twice");
                store_rows part = { whole.ncols, page.n,
                                    whole.cells + seen * whole.ncols };
                assert_same_rows(tab, &part, &page);
                seen += page.n;
                store_rows_free(&prev);
                prev = page;
            } while (prev.n == (size_t)limit);
            store_rows_free(&prev);
            cr_assert_eq(seen, whole.n, "%s, pages of %d", names[t], limit);
        }
        store_rows_free(&whole);
    }
}

Test(store_dump, a_load_refuses_taken_keys_missing_references_and_bad_rows)
{
    store *src = sqlite_store("src.db");
    put_agents(src);
    store_rows agents = all_rows(src, "agents");
    store_rows states = all_rows(src, "agent_states");
    const store_table *ta = table_of(T.st, "agents");
    const store_table *ts = table_of(T.st, "agent_states");
    cr_assert_eq(store_load_rows(T.st, ts, &states), FS_EINVAL,
                 "states of agents not there");
    cr_assert_eq(store_load_rows(T.st, ta, &agents), 0);
    cr_assert_eq(store_load_rows(T.st, ta, &agents), FS_ECONFLICT);
    cr_assert_eq(store_load_rows(T.st, ts, &agents), FS_EINVAL,
                 "rows of another table's shape");
    store_table bogus = { "no_such_table", "x", "i", 1, false };
    cr_assert_eq(store_load_rows(T.st, &bogus, &agents), FS_EINVAL);
    store_rows r;
    cr_assert_eq(store_dump_rows(T.st, &bogus, NULL, 10, &r), FS_EINVAL);
    cr_assert_eq(store_dump_rows(T.st, ta, NULL, 0, &r), FS_EINVAL);
    cr_assert_eq(store_load_rows(T.st, ts, &states), 0);
    store_rows got = all_rows(T.st, "agent_states");
    assert_same_rows(ts, &states, &got);
    store_rows_free(&got);
    store_rows_free(&agents);
    store_rows_free(&states);
    store_close(src);
}

Test(store_dump, seeded_tables_and_counters_load_over_a_new_database)
{
    store *src = sqlite_store("src.db");
    fs_doc d[3] = { { .content = strdup("a"), .parent_ref = -1,
                      .chunk_index = -1 },
                    { .content = strdup("b"), .parent_ref = -1,
                      .chunk_index = -1 },
                    { .content = strdup("c"), .parent_ref = -1,
                      .chunk_index = -1 } };
    cr_assert_eq(store_doc_add(src, d, 3, NOW), 0);
    int64_t *ids;
    size_t n;
    cr_assert_eq(store_doc_delete(src, d[2].id, &ids, &n), 0);
    free(ids);
    for (int i = 0; i < 3; i++) fs_doc_clear(&d[i]);
    copy_all(src, T.st, 1000);
    assert_same(src, T.st);
    int64_t epoch;
    cr_assert_eq(store_memory_epoch(T.st, &epoch), 0);
    cr_assert_eq(epoch, 2, "the epoch row of the new database replaced");
    fs_doc next = { .content = strdup("d"), .parent_ref = -1,
                    .chunk_index = -1 };
    cr_assert_eq(store_doc_add(T.st, &next, 1, NOW), 0);
    cr_assert_eq(next.id, 4, "id 3 was handed out by the source");
    fs_doc_clear(&next);

    /* a counter below the largest id is raised to it */
    store_rows seq = all_rows(src, "sequences");
    for (size_t k = 0; k < seq.n; k++) seq.cells[k * 2 + 1].i = 0;
    cr_assert_eq(store_load_rows(T.st, table_of(T.st, "sequences"), &seq), 0);
    store_rows got = all_rows(T.st, "sequences");
    cr_assert_str_eq(got.cells[0].p, "documents");
    cr_assert_eq(got.cells[1].i, 4);
    store_rows_free(&got);
    free(seq.cells[0].p);
    seq.cells[0].p = strdup("nothing");
    seq.cells[0].len = 7;
    cr_assert_eq(store_load_rows(T.st, table_of(T.st, "sequences"), &seq),
                 FS_EINVAL, "no such counter");
    store_rows_free(&seq);
    store_close(src);
}

/* A SQLite database with sql run on it: the dump refuses it. */
static void assert_refused_after(const char *name, const char *sql)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", T.dir, name);
    store *st = sqlite_store(name);
    store_close(st);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    st = sqlite_store(name);
    store_table_rows *t;
    size_t n;
    cr_assert_eq(store_dump_tables(st, &t, &n), FS_ECORRUPT, "%s", sql);
    store_close(st);
}

Test(store_dump, a_table_or_column_the_catalogue_does_not_know_stops_the_dump)
{
    assert_refused_after("table.db", "CREATE TABLE notes(x)");
    assert_refused_after("column.db", "ALTER TABLE jobs ADD COLUMN extra");
    if (!tdb_is_postgres()) return;
    const char *sql[] = { "ALTER TABLE jobs ADD COLUMN extra integer",
                          "ALTER TABLE jobs DROP COLUMN extra",
                          "CREATE TABLE notes(x integer)" };
    for (int i = 0; i < 3; i++) {
        PGconn *c = PQconnectdb(T.url);
        PGresult *r = PQexec(c, sql[i]);
        cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s",
                     PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        store_table_rows *t;
        size_t n;
        int rc = store_dump_tables(T.st, &t, &n);
        cr_assert_eq(rc, i == 1 ? 0 : FS_ECORRUPT, "after %s", sql[i]);
        if (!rc) free(t);
    }
}
