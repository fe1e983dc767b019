/*
 * cli_migrate.c - `flowstate migrate --from A --to B`: a whole database
 * copied into an empty one, SQLite to PostgreSQL or back (or alike), and
 * verified.  No server: both databases are opened here (store.h), and
 * every row goes through the store's dump and load ops, nothing else.
 *
 * Design, in three steps:
 *   1. check  both open (a SQLite source must exist: migrate never creates
 *             its source); their catalogues (store_dump_tables) are the
 *             same tables, columns and types in the same order; the target
 *             holds no record (rows of a seeded table do not count).
 *             Otherwise exit 1, nothing written.
 *   2. copy   table by table in catalogue order (referenced rows first,
 *             the id counters last), pages of --batch rows in key order
 *             (checked, row by row: a page that does not move forward
 *             stops the copy rather than loop), each page one load: one
 *             transaction on the target.  A
 *             progress line (stderr, a terminal only) counts rows against
 *             the source's total.  A failure stops here (exit 3) and says
 *             the target holds a partial copy.
 *   3. verify every table of both databases read again from its start
 *             (the progress line again, against twice the rows copied):
 *             rows counted, and each row encoded canonically and chained
 *             into a SHA-256 per table; a table of counts and digests side
 *             by side; any difference exits 5.
 *
 * The canonical encoding of a cell is a tag byte, then: nothing for NULL
 * (0), the value as 8 bytes big-endian for an integer (1, two's
 * complement) or a real (2, IEEE-754 bits), the length as 8 bytes
 * big-endian and the bytes for text (3) or bytes (4).  A row is its cells
 * in column order.  A table's digest: H0 = SHA-256("name\ncolumns\ntypes"),
 * Hk = SHA-256(Hk-1 || row k), over the rows in key order; the digest is
 * Hn.  The same rows in the same order give the same digest on every
 * backend, and any difference in a value, a row or the order changes it.
 *
 * What is not copied is rebuilt or belongs to each database: the text
 * index (FTS5 on SQLite, tsvector and document totals on PostgreSQL) is
 * rebuilt by the target as documents load, schema_migrations and the
 * document change log stay each database's own, and the vector index is
 * rebuilt from the documents by the first server started on the copy.
 * The source is read page by page: stop every server and worker on it
 * first (a write during the copy shows up as a difference at the end).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/clifmt.h"
#include "cli/cliopt.h"
#include "cli/progress.h"
#include "cli/table.h"
#include "core/clock.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/sha256.h"
#include "core/xmem.h"
#include "store/store.h"

#define BATCH_DEFAULT 1000
#define BATCH_MAX 10000
#define EXIT_DIFFERS 5 /* copied, but the verification found a difference */
#define DRAW_MS 100
#define BAR 20

/* One database: as given, as shown (no password) and opened. */
typedef struct side {
    const char *what;  /* "source" or "target" */
    const char *arg;   /* --from / --to */
    char *shown;
    store *st;
    store_table_rows *tables;
    size_t n;
} side;

/* What the verification found for one table, source [0] and target [1]. */
typedef struct table_check {
    const char *name;
    int64_t rows[2];
    uint8_t digest[2][32];
} table_check;

/* The progress line of one step: rows done out of total. */
typedef struct meter {
    bool tty;                /* draw on stderr (a terminal) */
    bool drawn;              /* a line is on screen */
    uint64_t total, done;
    int64_t start_ms, drawn_ms;
} meter;

typedef struct migrate {
    side from, to;
    int batch;
    bool json;
    meter bar;
    uint64_t copied;         /* rows */
    double copy_secs, verify_secs;
    table_check *checks;     /* one per table of the catalogue */
} migrate;

/* ---- locations ---------------------------------------------------------- */

static bool is_postgres(const char *s)
{
    return !strncmp(s, "postgres://", 11) || !strncmp(s, "postgresql://", 13);
}

/* The file a SQLite location names (after "sqlite:" or "file:"). */
static const char *sqlite_path(const char *s)
{
    if (!strncmp(s, "sqlite:", 7)) return s + 7;
    if (!strncmp(s, "file:", 5)) return s + 5;
    return s;
}

/* Replaces the n bytes at s + at with "***". */
static char *mask(char *s, size_t at, size_t n)
{
    char *out = xasprintf("%.*s***%s", (int)at, s, s + at + n);
    free(s);
    return out;
}

/* A URL as it may be printed: its password (in the user part or a
 * password= parameter) replaced by ***.  Caller frees. */
static char *shown_location(const char *s)
{
    char *out = xstrdup(s);
    if (!is_postgres(out)) return out;
    char *auth = strstr(out, "://") + 3;
    size_t end = strcspn(auth, "/?");
    char *at = memrchr(auth, '@', end);
    char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon)
        out = mask(out, (size_t)(colon + 1 - out), (size_t)(at - colon - 1));
    char *pw = strstr(out, "password=");
    if (pw) {
        size_t from = (size_t)(pw - out) + 9;
        out = mask(out, from, strcspn(out + from, "&"));
    }
    return out;
}

/* Checks --from/--to: a postgres:// URL or a file path.  Prints why not. */
static bool check_location(const cliopt_ctx *ctx, const char *flag,
                           const char *s)
{
    if (!s || !*s) {
        cliopt_fail(ctx, "missing %s (a SQLite file or a postgres:// URL)",
                    flag);
        return false;
    }
    if (strstr(s, "://") && !is_postgres(s)) {
        cliopt_fail(ctx, "%s '%.*s...' is neither a file path nor a "
                    "postgres:// URL", flag, (int)(strstr(s, "://") - s), s);
        return false;
    }
    if (!is_postgres(s) && !*sqlite_path(s)) {
        cliopt_fail(ctx, "%s names no file", flag);
        return false;
    }
    if (!is_postgres(s) && (strstr(s, "host=") || strstr(s, "dbname="))) {
        cliopt_fail(ctx, "%s looks like libpq keywords: give a postgres:// "
                    "URL", flag);
        return false;
    }
    return true;
}

/* --from and --to name one database (then the copy cannot happen). */
static bool same_database(const char *a, const char *b)
{
    if (!strcmp(a, b)) return true;
    if (is_postgres(a) || is_postgres(b)) return false;
    char ra[PATH_MAX], rb[PATH_MAX];
    return realpath(sqlite_path(a), ra) && realpath(sqlite_path(b), rb) &&
           !strcmp(ra, rb);
}

/* ---- progress ----------------------------------------------------------- */

static void meter_start(meter *b, uint64_t total)
{
    b->total = total;
    b->done = 0;
    b->start_ms = fs_mono_ms();
    b->drawn_ms = b->start_ms - DRAW_MS;
}

/* Counts n more rows and redraws (at most every DRAW_MS unless force):
 *   [#######-------------]  35%  38,500/110,006 rows  21313 rows/s  ETA 3s
 *   jobs  (one line) */
static void meter_add(meter *b, uint64_t n, const char *what, bool force)
{
    b->done += n;
    int64_t now = fs_mono_ms();
    if (!b->tty || (!force && now - b->drawn_ms < DRAW_MS)) return;
    b->drawn_ms = now;
    double secs = (double)(now - b->start_ms) / 1000.0;
    double share = b->total && b->done < b->total
                       ? (double)b->done / (double)b->total : 1.0;
    char bar[BAR + 1], done[32], total[32], eta[32] = "--";
    for (int i = 0; i < BAR; i++) bar[i] = i < (int)(share * BAR) ? '#' : '-';
    bar[BAR] = '\0';
    progress_count(done, sizeof done, b->done);
    progress_count(total, sizeof total, b->total);
    if (b->done && secs >= 0.5)
        progress_span(eta, sizeof eta, secs * (1 - share) / share);
    fprintf(stderr, "\r\033[K[%s] %3d%%  %s/%s rows  %.0f rows/s  ETA %s  %s",
            bar, (int)(share * 100), done, total,
            secs > 0 ? (double)b->done / secs : 0.0, eta, what);
    fflush(stderr);
    b->drawn = true;
}

static void meter_erase(meter *b)
{
    if (!b->drawn) return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    b->drawn = false;
}

/* ---- step 1: open and check --------------------------------------------- */

/* Opens one side.  Returns CLI_EXIT_OK or the exit code, after saying
 * why. */
static int open_side(side *s, bool must_exist)
{
    struct stat sb;
    if (must_exist && !is_postgres(s->arg) &&
        stat(sqlite_path(s->arg), &sb) != 0) {
        fprintf(stderr, "flowstate migrate: no database at %s: %s\n",
                s->shown, strerror(errno));
        return CLI_EXIT_NOTFOUND;
    }
    int rc = store_open(&s->st, s->arg, NULL);
    if (rc == 0) rc = store_dump_tables(s->st, &s->tables, &s->n);
    if (rc == 0) return CLI_EXIT_OK;
    if (rc == FS_ECORRUPT) {
        fprintf(stderr, "flowstate migrate: the %s %s holds a table migrate "
                "cannot copy (above): nothing was copied\n", s->what,
                s->shown);
        return CLI_EXIT_REJECTED;
    }
    fprintf(stderr, "flowstate migrate: cannot open the %s %s: %s\n",
            s->what, s->shown, fs_strerror(rc));
    return CLI_EXIT_UNREACHABLE;
}

static bool same_table(const store_table *a, const store_table *b)
{
    return !strcmp(a->name, b->name) && !strcmp(a->columns, b->columns) &&
           !strcmp(a->types, b->types) && a->nkey == b->nkey &&
           a->seeded == b->seeded;
}

/* The two catalogues describe the same tables, in the same order. */
static int check_catalogues(const migrate *m)
{
    for (size_t i = 0; i < m->from.n || i < m->to.n; i++) {
        if (i < m->from.n && i < m->to.n &&
            same_table(m->from.tables[i].table, m->to.tables[i].table))
            continue;
        const char *name = i < m->from.n ? m->from.tables[i].table->name
                                         : m->to.tables[i].table->name;
        fprintf(stderr, "flowstate migrate: the two databases describe table "
                "%s differently (one flowstate binary must serve both "
                "backends): nothing was copied\n", name);
        return CLI_EXIT_REJECTED;
    }
    return CLI_EXIT_OK;
}

/* The target holds no record: every table empty but the seeded ones. */
static int check_empty(const migrate *m)
{
    fs_buf busy = { 0 };
    for (size_t i = 0; i < m->to.n; i++) {
        const store_table_rows *t = &m->to.tables[i];
        if (t->table->seeded || t->rows == 0) continue;
        fs_buf_printf(&busy, "%s%s (%lld row%s)", busy.len ? ", " : "",
                      t->table->name, (long long)t->rows,
                      t->rows == 1 ? "" : "s");
    }
    if (!busy.len) return CLI_EXIT_OK;
    fprintf(stderr, "flowstate migrate: the target %s is not empty: %s.\n"
            "migrate copies into an empty database only (a new SQLite file, "
            "or a new PostgreSQL database): nothing was copied\n",
            m->to.shown, busy.data);
    fs_buf_free(&busy);
    return CLI_EXIT_REJECTED;
}

static int check(migrate *m)
{
    if (same_database(m->from.arg, m->to.arg)) {
        fprintf(stderr, "flowstate migrate: --from and --to name the same "
                "database\n");
        return CLI_EXIT_REJECTED;
    }
    int code = open_side(&m->from, true);
    if (code == CLI_EXIT_OK) code = open_side(&m->to, false);
    if (code == CLI_EXIT_OK) code = check_catalogues(m);
    if (code == CLI_EXIT_OK) code = check_empty(m);
    return code;
}

/* ---- step 2: copy ------------------------------------------------------- */

/* Compares the keys (the first t->nkey cells) of two rows: numbers by
 * value, text and bytes byte by byte, as store.h orders them. */
static int key_cmp(const store_table *t, const store_cell *a,
                   const store_cell *b)
{
    for (int k = 0; k < t->nkey; k++) {
        int c;
        if (t->types[k] == 'i') {
            c = (a[k].i > b[k].i) - (a[k].i < b[k].i);
        } else {
            size_t n = a[k].len < b[k].len ? a[k].len : b[k].len;
            c = n ? memcmp(a[k].p, b[k].p, n) : 0;
            if (!c) c = (a[k].len > b[k].len) - (a[k].len < b[k].len);
        }
        if (c) return c;
    }
    return 0;
}

/* Every row of page comes after the one before it (prev's last row
 * before its first).  FS_ECORRUPT, said, otherwise. */
static int check_order(const store_table *t, const store_rows *prev,
                       const store_rows *page)
{
    const store_cell *last =
        prev->n ? &prev->cells[(prev->n - 1) * prev->ncols] : NULL;
    for (size_t k = 0; k < page->n; k++) {
        const store_cell *row = &page->cells[k * page->ncols];
        if (last && key_cmp(t, last, row) >= 0) {
            fprintf(stderr, "flowstate migrate: %s: rows come out of key "
                    "order\n", t->name);
            return FS_ECORRUPT;
        }
        last = row;
    }
    return 0;
}

/*
 * Replaces *page (empty: none read yet) by the next page of t, checking
 * the key order: a store that broke it would make a loop over the pages
 * run forever, or a digest depend on the backend.  Errors: the dump's,
 * FS_ECORRUPT.
 */
static int next_page(store *st, const store_table *t, int batch,
                     store_rows *page)
{
    store_rows next;
    int rc = store_dump_rows(st, t, page, batch, &next);
    if (!rc) rc = check_order(t, page, &next);
    store_rows_free(page);
    *page = next;
    return rc;
}

/* Copies one table, page by page.  0 or the failing op's FS_E*. */
static int copy_table(migrate *m, size_t i)
{
    const store_table *src = m->from.tables[i].table;
    const store_table *dst = m->to.tables[i].table;
    store_rows page = { 0 };
    int rc;
    do {
        rc = next_page(m->from.st, src, m->batch, &page);
        if (!rc) rc = store_load_rows(m->to.st, dst, &page);
        if (!rc) m->copied += page.n;
        meter_add(&m->bar, rc ? 0 : page.n, src->name, false);
    } while (!rc && page.n == (size_t)m->batch);
    store_rows_free(&page);
    return rc;
}

static int copy(migrate *m)
{
    uint64_t total = 0;
    for (size_t i = 0; i < m->from.n; i++) total += m->from.tables[i].rows;
    meter_start(&m->bar, total);
    for (size_t i = 0; i < m->from.n; i++) {
        int rc = copy_table(m, i);
        if (rc == 0) continue;
        meter_erase(&m->bar);
        fprintf(stderr, "flowstate migrate: copying %s failed after %llu "
                "rows: %s.\nThe target now holds a partial copy: remove it "
                "(delete the SQLite file, or drop and create the PostgreSQL "
                "database) before running migrate again\n",
                m->from.tables[i].table->name, (unsigned long long)m->copied,
                fs_strerror(rc));
        return CLI_EXIT_UNREACHABLE;
    }
    meter_add(&m->bar, 0, "copied", true);
    meter_erase(&m->bar);
    m->copy_secs = (double)(fs_mono_ms() - m->bar.start_ms) / 1000.0;
    return CLI_EXIT_OK;
}

/* ---- step 3: verify ----------------------------------------------------- */

typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
} bytes;

static void put(bytes *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = 2 * (b->len + n);
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void put_u64(bytes *b, uint8_t tag, uint64_t v)
{
    uint8_t be[9] = { tag };
    for (int k = 0; k < 8; k++) be[1 + k] = (uint8_t)(v >> (56 - 8 * k));
    put(b, be, sizeof be);
}

/* Appends the canonical encoding of a cell (see the top of the file). */
static void encode_cell(bytes *b, char type, const store_cell *c)
{
    uint64_t bits;
    if (c->null) put(b, "\0", 1);
    else if (type == 'i') put_u64(b, 1, (uint64_t)c->i);
    else if (type == 'r') {
        memcpy(&bits, &c->r, sizeof bits);
        put_u64(b, 2, bits);
    } else {
        put_u64(b, type == 't' ? 3 : 4, (uint64_t)c->len);
        if (c->len) put(b, c->p, c->len);
    }
}

/* Chains the rows of a page into digest. */
static void digest_page(const store_table *t, const store_rows *r,
                        uint8_t digest[32], bytes *buf)
{
    for (size_t k = 0; k < r->n; k++) {
        buf->len = 0;
        put(buf, digest, 32);
        for (size_t j = 0; j < r->ncols; j++)
            encode_cell(buf, t->types[j], &r->cells[k * r->ncols + j]);
        sha256(buf->p, buf->len, digest);
    }
}

/* Reads table i of one side from its start: its rows and digest. */
static int digest_table(migrate *m, side *s, size_t i, int64_t *rows,
                        uint8_t digest[32])
{
    const store_table *t = s->tables[i].table;
    char *head = xasprintf("%s\n%s\n%s", t->name, t->columns, t->types);
    sha256(head, strlen(head), digest);
    free(head);
    store_rows page = { 0 };
    bytes buf = { 0 };
    char what[80];
    snprintf(what, sizeof what, "checking %s (%s)", t->name, s->what);
    int rc;
    *rows = 0;
    do {
        rc = next_page(s->st, t, m->batch, &page);
        if (!rc) {
            digest_page(t, &page, digest, &buf);
            *rows += (int64_t)page.n;
            meter_add(&m->bar, page.n, what, false);
        }
    } while (!rc && page.n == (size_t)m->batch);
    store_rows_free(&page);
    free(buf.p);
    return rc;
}

static int verify(migrate *m)
{
    meter_start(&m->bar, 2 * m->copied); /* both sides, as copied */
    m->checks = xcalloc(m->from.n, sizeof *m->checks);
    side *sides[2] = { &m->from, &m->to };
    for (size_t i = 0; i < m->from.n; i++) {
        table_check *c = &m->checks[i];
        c->name = m->from.tables[i].table->name;
        for (int s = 0; s < 2; s++) {
            int rc = digest_table(m, sides[s], i, &c->rows[s], c->digest[s]);
            if (rc == 0) continue;
            meter_erase(&m->bar);
            fprintf(stderr, "flowstate migrate: verifying: cannot read %s "
                    "from the %s: %s\n", c->name, sides[s]->what,
                    fs_strerror(rc));
            return CLI_EXIT_UNREACHABLE;
        }
    }
    meter_erase(&m->bar);
    m->verify_secs = (double)(fs_mono_ms() - m->bar.start_ms) / 1000.0;
    return CLI_EXIT_OK;
}

/* ---- the report --------------------------------------------------------- */

static bool matches(const table_check *c)
{
    return c->rows[0] == c->rows[1] &&
           !memcmp(c->digest[0], c->digest[1], 32);
}

static void hex(const uint8_t d[32], char out[65])
{
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static size_t differing(const migrate *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->from.n; i++) n += !matches(&m->checks[i]);
    return n;
}

static double rate(const migrate *m)
{
    return m->copy_secs > 0 ? (double)m->copied / m->copy_secs : 0;
}

static void print_json(const migrate *m)
{
    json_t *list = json_array();
    for (size_t i = 0; i < m->from.n; i++) {
        const table_check *c = &m->checks[i];
        char a[65], b[65];
        hex(c->digest[0], a);
        hex(c->digest[1], b);
        json_array_append_new(
            list, json_pack("{s:s,s:I,s:I,s:s,s:s,s:b}", "table", c->name,
                            "source_rows", (json_int_t)c->rows[0],
                            "target_rows", (json_int_t)c->rows[1],
                            "source_sha256", a, "target_sha256", b, "match",
                            matches(c)));
    }
    json_t *doc = json_pack(
        "{s:s,s:s,s:I,s:f,s:f,s:f,s:b,s:o}", "from", m->from.shown, "to",
        m->to.shown, "rows", (json_int_t)m->copied, "copy_seconds",
        m->copy_secs,
        "rows_per_second", rate(m), "verify_seconds", m->verify_secs,
        "verified", differing(m) == 0, "tables", list);
    clifmt_json(stdout, doc);
    json_decref(doc);
}

static void add_check_row(table *t, const table_check *c)
{
    char rows[2][32], d[2][65];
    for (int s = 0; s < 2; s++) {
        progress_count(rows[s], sizeof rows[s], (uint64_t)c->rows[s]);
        hex(c->digest[s], d[s]);
        d[s][16] = '\0'; /* the first 64 bits are enough to read */
    }
    table_add(t, (const char *[]){ c->name, rows[0], rows[1], d[0], d[1],
                                   matches(c) ? "ok" : "DIFFERS" });
}

static void print_table(const migrate *m)
{
    table *t = table_new(6, (const char *[]){ "TABLE", "SOURCE ROWS",
                                              "TARGET ROWS", "SOURCE SHA-256",
                                              "TARGET SHA-256", "CHECK" });
    table_set_align(t, 1, TABLE_RIGHT);
    table_set_align(t, 2, TABLE_RIGHT);
    for (size_t i = 0; i < m->from.n; i++) add_check_row(t, &m->checks[i]);
    table_print(t, stdout, table_style_for(stdout));
    table_free(t);
    char count[32];
    progress_count(count, sizeof count, m->copied);
    size_t bad = differing(m);
    printf("copied %s rows from %s to %s in %.1f s (%.0f rows/s); verified "
           "in %.1f s: %s\n", count, m->from.shown, m->to.shown, m->copy_secs,
           rate(m), m->verify_secs,
           bad ? "TABLES DIFFER (see CHECK)" : "every table matches");
}

/* ---- the command -------------------------------------------------------- */

static void migrate_free(migrate *m)
{
    side *sides[2] = { &m->from, &m->to };
    for (int s = 0; s < 2; s++) {
        store_close(sides[s]->st);
        free(sides[s]->tables);
        free(sides[s]->shown);
    }
    free(m->checks);
}

static int run(migrate *m)
{
    int code = check(m);
    if (code == CLI_EXIT_OK && !m->json)
        printf("copying %s -> %s\n", m->from.shown, m->to.shown);
    if (code == CLI_EXIT_OK) code = copy(m);
    if (code == CLI_EXIT_OK) code = verify(m);
    if (code != CLI_EXIT_OK) return code;
    if (m->json) print_json(m);
    else print_table(m);
    return differing(m) ? EXIT_DIFFERS : CLI_EXIT_OK;
}

/* --help or -h before any "--": migrate's own help, without the client
 * commands' global options and exit codes (it talks to no server). */
static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return true;
    return false;
}

static int migrate_main_run(const cliopt_ctx *ctx, int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        printf("usage: flowstate migrate %s\n\n%s", ctx->cmd->synopsis,
               ctx->cmd->help);
        return CLI_EXIT_OK;
    }
    cliopt_common common = { 0 };
    const char *from = NULL, *to = NULL;
    cliopt_num batch = { 0 };
    const cliopt opts[] = {
        { "from", CLIOPT_STR, &from },
        { "to", CLIOPT_STR, &to },
        { "batch", CLIOPT_INT, &batch, 1, BATCH_MAX },
        { NULL },
    };
    int code;
    if (!cliopt_parse(ctx, opts, argc, argv, &common, NULL, &code))
        return code;
    if (common.conn.url || common.conn.key || common.conn.key_file)
        return cliopt_fail(ctx, "--url, --key and --key-file are for "
                           "commands that talk to a server; migrate opens "
                           "the databases itself");
    if (!check_location(ctx, "--from", from) ||
        !check_location(ctx, "--to", to))
        return CLI_EXIT_USAGE;
    log_setup(LOG_WARN, false);
    migrate m = {
        .from = { "source", from, shown_location(from) },
        .to = { "target", to, shown_location(to) },
        .batch = batch.set ? (int)batch.v : BATCH_DEFAULT,
        .json = common.json,
        .bar = { .tty = isatty(STDERR_FILENO) },
    };
    code = run(&m);
    migrate_free(&m);
    return code;
}

static const cliopt_cmd migrate_cmd = {
    "migrate",
    migrate_main_run,
    "--from DB --to DB [options]",
    "Copy a whole database into an empty one: SQLite to PostgreSQL, back,\n"
    "or alike.  DB is a SQLite file (PATH, sqlite:PATH) or a postgres://\n"
    "URL; a new SQLite file is created, a PostgreSQL database must exist.\n"
    "Stop every server and worker on the source first.\n"
    "\n"
    "Every record is copied as it is: ids, states, times, JSON text,\n"
    "embeddings and cache entries byte for byte, pending job signals, and\n"
    "the id counters (an id the source handed out is never handed out\n"
    "again).  Rebuilt, not copied: the text index (SQLite FTS5, PostgreSQL\n"
    "tsvector), the vector index (by the first server on the copy); each\n"
    "database keeps its own schema_migrations and document change log.\n"
    "\n"
    "The target must hold no record: migrate refuses anything else, with\n"
    "nothing written (there is no --force: a merge would collide on ids).\n"
    "At the end both databases are read again and each table's rows are\n"
    "counted and hashed (SHA-256 over a canonical encoding of each row);\n"
    "the table shows both sides.\n"
    "\n"
    "exit codes: 0 copied and verified; 1 refused (target not empty,\n"
    "tables that differ), nothing written; 2 usage; 3 a database cannot be\n"
    "opened, read or written (the target may hold a partial copy: remove\n"
    "it before trying again); 4 no source database; 5 copied, but the\n"
    "verification found a difference.\n"
    "\n"
    "options:\n"
    "  --from DB      the database to copy (only read, once it has this\n"
    "                 binary's schema: a pending upgrade is applied first)\n"
    "  --to DB        the empty database to copy into\n"
    "  --batch N      rows per page and per target transaction (1-10000,\n"
    "                 default 1000); lower it for very large documents\n"
    "  --json         print the counts and digests as JSON\n"
    "  -h, --help     show this help\n",
    NULL,
    0 };

int cli_migrate_main(int argc, char **argv)
{
    return cliopt_single(&migrate_cmd, argc, argv);
}
