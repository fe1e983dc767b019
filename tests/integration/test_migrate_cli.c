/*
 * test_migrate_cli.c - `flowstate migrate` end to end: the real binary
 * copies a SQLite database holding every kind of record into PostgreSQL
 * and back into a new SQLite file, and the copy compares equal to the
 * original table by table, byte for byte in content (every cell of every
 * row, read through store_dump_rows), including the id counters; both
 * copies work afterwards (text search finds the same documents, a new
 * job gets an id the source never handed out).  And the refusals: a
 * non-empty target, a bad or unknown URL, a missing source, one database
 * as both ends; and a difference the verification finds (a counter
 * behind its table, which the copy raises) exits 5.
 *
 * PostgreSQL: FLOWSTATE_TEST_DB when it is a postgres:// URL, else a
 * throwaway cluster of the test's own (scripts/pg.sh, so the test runs
 * from the repository's root, as run-tests.sh does).  Without
 * PostgreSQL's binaries the round trip skips itself, saying so.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/log.h"
#include "core/rand.h"
#include "store/store.h"

#define NOW 1700000000000LL
#define DIMS 8

/* ---- the binary ---------------------------------------------------------- */

typedef struct run_out {
    int code;
    char *out, *err;
} run_out;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strdup(buf);
}

/* Runs `flowstate migrate ARGS...` (NULL-terminated), output captured. */
static run_out migrate(const char *dir, const char *const *args)
{
    const char *bin = getenv("FLOWSTATE_BIN");
    cr_assert_not_null(bin, "FLOWSTATE_BIN");
    char out[300], err[300];
    snprintf(out, sizeof out, "%s/stdout", dir);
    snprintf(err, sizeof err, "%s/stderr", dir);
    const char *argv[16] = { bin, "migrate" };
    int n = 2;
    for (; args[n - 2]; n++) argv[n] = args[n - 2];
    argv[n] = NULL;
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(o, 1);
        dup2(e, 2);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    return (run_out){ WIFEXITED(status) ? WEXITSTATUS(status) : 128,
                      slurp(out), slurp(err) };
}

#define MIGRATE(dir, ...)                                                     \
    migrate((dir), (const char *const[]){ __VA_ARGS__, NULL })

static void run_free(run_out *r)
{
    free(r->out);
    free(r->err);
}

#define assert_exit(r, want)                                                  \
    cr_assert_eq((r).code, (want),                                            \
                 "exit %d, want %d\nstdout:\n%s\nstderr:\n%s", (r).code,     \
                 (want), (r).out, (r).err)

/* ---- PostgreSQL ---------------------------------------------------------- */

typedef struct pg {
    char cluster[300]; /* our own cluster's folder, or "" */
    char admin[300];   /* a URL to create databases through */
} pg;

/* A PostgreSQL server: the run's, or a cluster started here.  false when
 * there is none to be had (no binaries). */
static bool pg_start(pg *p, const char *dir)
{
    const char *url = getenv("FLOWSTATE_TEST_DB");
    if (url && (!strncmp(url, "postgres://", 11) ||
                !strncmp(url, "postgresql://", 13))) {
        snprintf(p->admin, sizeof p->admin, "%s", url);
        return true;
    }
    const char *bindir = getenv("PG_BINDIR");
    char initdb[300];
    snprintf(initdb, sizeof initdb, "%s/initdb",
             bindir ? bindir : "/usr/lib/postgresql/15/bin");
    if (access(initdb, X_OK) != 0) return false;
    cr_assert_eq(access("scripts/pg.sh", X_OK), 0,
                 "run from the repository's root (scripts/pg.sh)");
    /* a folder of its own: pg.sh hands it to the cluster's user */
    const char *tmp = getenv("TMPDIR");
    snprintf(p->cluster, sizeof p->cluster, "%s/fs-migrate-pg-XXXXXX",
             tmp ? tmp : "/tmp");
    cr_assert_not_null(mkdtemp(p->cluster));
    char cmd[700], url_file[300];
    snprintf(url_file, sizeof url_file, "%s/pg.url", dir);
    snprintf(cmd, sizeof cmd, "scripts/pg.sh start '%s' > '%s'", p->cluster,
             url_file);
    cr_assert_eq(system(cmd), 0, "scripts/pg.sh start");
    char *text = slurp(url_file);
    text[strcspn(text, "\n")] = '\0';
    snprintf(p->admin, sizeof p->admin, "%s", text);
    free(text);
    return true;
}

static void pg_stop(pg *p)
{
    if (!p->cluster[0]) return;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "scripts/pg.sh stop '%s'", p->cluster);
    if (system(cmd) != 0) fprintf(stderr, "pg.sh stop failed\n");
}

static void pg_exec(const pg *p, const char *sql)
{
    PGconn *c = PQconnectdb(p->admin);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s: %s", sql,
                 PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* A new database (name made here).  OUT: url, name. */
static void pg_create(const pg *p, char *url, size_t len, char *name)
{
    char hex[17], sql[80];
    fs_random_hex(hex, 8);
    snprintf(name, 32, "fs_mig_%s", hex);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    pg_exec(p, sql);
    const char *path = strrchr(p->admin, '/');
    const char *query = strchr(path, '?');
    snprintf(url, len, "%.*s/%s%s", (int)(path - p->admin), p->admin, name,
             query ? query : "");
}

/* Drops a database made by pg_create (from a fini: no assertion). */
static void pg_drop(const pg *p, const char *name)
{
    char sql[80];
    snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", name);
    PGconn *c = PQconnectdb(p->admin);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* ---- every kind of record ------------------------------------------------ */

static store *open_store(const char *url)
{
    store *st;
    cr_assert_eq(store_open(&st, url, NULL), 0, "store_open %s", url);
    return st;
}

static int64_t enqueue(store *st, const char *type, const char *target,
                       const char *payload, int64_t run_at, int64_t now)
{
    fs_job j = { .type = strdup(type), .target_agent = strdup(target),
                 .payload = strdup(payload), .priority = -5, .run_at = run_at,
                 .max_attempts = 3, .timeout_ms = 30000 };
    cr_assert_eq(store_job_enqueue(st, &j, 1, now, NULL), 0);
    int64_t id = j.id;
    fs_job_clear(&j);
    return id;
}

/* Leases up to max jobs for target (OUT: their ids and tokens). */
static size_t lease(store *st, const char *target, int max, int64_t now,
                    int64_t *ids, char (*tokens)[64])
{
    store_lease req = { .agent_id = "ag_0001", .agent_type = target,
                        .max = max };
    fs_job *got;
    size_t n;
    cr_assert_eq(store_job_lease(st, &req, now, &got, &n), 0);
    for (size_t i = 0; i < n; i++) {
        ids[i] = got[i].id;
        snprintf(tokens[i], 64, "%s", got[i].lease_token);
    }
    fs_jobs_free(got, n);
    return n;
}

static void complete(store *st, int64_t id, const char *token,
                     const char *result, int64_t now)
{
    store_completion c = { .id = id, .lease_token = token, .result = result };
    cr_assert_eq(store_job_complete(st, &c, 1, now), 0);
    cr_assert_eq(c.rc, 0);
}

static void put_agents_and_keys(store *st)
{
    fs_agent a = { .id = "ag_0001", .name = "mailer-1", .type = "mailer",
                   .job_types = "[\"send_email\"]",
                   .metadata = "{\"zone\":\"eu\"}", .created_at = NOW,
                   .last_heartbeat = NOW + 5 };
    cr_assert_eq(store_agent_create(st, &a, "hash-one"), 0);
    a.id = "ag_0002";
    a.name = "scorer";
    cr_assert_eq(store_agent_create(st, &a, "hash-two"), 0);
    for (int v = 1; v <= 3; v++) {
        char json[64];
        snprintf(json, sizeof json, "{\"w\":[0.1,%d.25],\"n\":%d}", v, v);
        fs_agent_state s;
        cr_assert_eq(store_state_put(st, v < 3 ? "ag_0001" : "ag_0002", json,
                                     -1, NOW + v, &s), 0);
        fs_agent_state_clear(&s);
    }
    cr_assert_eq(store_key_add(st, "admin", "aa11", "admin", NOW), 0);
    cr_assert_eq(store_key_add(st, "worker", "bb22", "agent", NOW + 1), 0);
}

/* Jobs in every state, with results, errors, leases and a unique key. */
static void put_jobs(store *st)
{
    enqueue(st, "send_email", "mailer",
            "{\"note\":\"quote \\\" backslash \\\\ tab\\t "
            "\xc3\xa9 \xe6\x97\xa5\"}",
            0, NOW);
    enqueue(st, "send_email", "mailer", "{}", NOW + 3600000, NOW);
    fs_job u = { .type = strdup("score"), .target_agent = strdup("scorer"),
                 .payload = strdup("{\"lead\":42}"), .max_attempts = 5,
                 .timeout_ms = 1000, .unique_key = strdup("lead-42"),
                 .parent_id = 1 };
    cr_assert_eq(store_job_enqueue(st, &u, 1, NOW, NULL), 0);
    fs_job_clear(&u);
    for (int i = 0; i < 4; i++) enqueue(st, "work", "w", "{\"i\":1}", 0, NOW);
    int64_t ids[8];
    char tokens[8][64];
    cr_assert_eq(lease(st, "w", 4, NOW + 10, ids, tokens), 4);
    complete(st, ids[0], tokens[0], "{\"sent\":true,\"score\":0.1}", NOW + 20);
    fs_backoff bo = FS_BACKOFF_DEFAULT;
    cr_assert_eq(store_job_fail(st, ids[1], tokens[1], "smtp down", true, &bo,
                                NOW + 21, NULL), 0);
    cr_assert_eq(store_job_fail(st, ids[2], tokens[2], "bad address", false,
                                &bo, NOW + 22, NULL), 0);
    fs_job j;
    cr_assert_eq(store_job_cancel(st, 2, NOW + 23, &j), 0);
    fs_job_clear(&j);
}

/* The newest job, completed and pruned: the jobs counter passes the
 * largest id left. */
static void prune_newest_job(store *st)
{
    int64_t ids[1];
    char tokens[1][64];
    int64_t tmp = enqueue(st, "tmp", "gone", "{}", 0, NOW);
    cr_assert_eq(lease(st, "gone", 1, NOW, ids, tokens), 1);
    cr_assert_eq(ids[0], tmp);
    complete(st, tmp, tokens[0], NULL, NOW + 1);
    size_t pruned;
    cr_assert_eq(store_job_prune(st, NOW + 2, &pruned), 0);
    cr_assert_eq(pruned, 1);
}

static float *vector(float seed)
{
    float *v = malloc(DIMS * sizeof *v);
    for (int i = 0; i < DIMS; i++) v[i] = seed / (float)(i + 3) - 0.5f;
    return v;
}

/* A parent with two chunks, embeddings, metadata and tags; a bare
 * document; one deleted (the documents counter passes the largest id). */
static void put_documents(store *st)
{
    fs_doc d[4] = {
        { .content = strdup("Acme asked for a refund of invoice 1042"),
          .agent = strdup("billing"), .kind = strdup("email"),
          .metadata = strdup("{\"stage\":\"won\",\"n\":3}"),
          .tags = strdup("[\"vip\",\"refund\"]"), .importance = 0.1,
          .embedding = vector(1), .dims = DIMS, .embedder = strdup("local"),
          .embedder_version = strdup("1"), .parent_ref = -1,
          .chunk_index = -1 },
        { .content = strdup("first chunk: refund"), .parent_ref = 0,
          .chunk_index = 0, .embedding = vector(2), .dims = DIMS },
        { .content = strdup("second chunk: invoice"), .parent_ref = 0,
          .chunk_index = 1, .embedding = vector(3), .dims = DIMS },
        { .content = strdup("a note with no owner \xe2\x9c\x93"),
          .parent_ref = -1, .chunk_index = -1, .importance = 1.0 / 3 },
    };
    cr_assert_eq(store_doc_add(st, d, 4, NOW + 30), 0);
    for (int i = 0; i < 4; i++) fs_doc_clear(&d[i]);
    fs_doc gone = { .content = strdup("deleted soon"), .parent_ref = -1,
                    .chunk_index = -1 };
    cr_assert_eq(store_doc_add(st, &gone, 1, NOW + 31), 0);
    int64_t *ids;
    size_t n;
    cr_assert_eq(store_doc_delete(st, gone.id, &ids, &n), 0);
    free(ids);
    fs_doc_clear(&gone);
    uint8_t hashes[3][32];
    float vecs[3 * DIMS];
    for (int i = 0; i < 3; i++) {
        memset(hashes[i], 0x10 * (i + 1), 32);
        hashes[i][31] = 0; /* a zero byte inside a key */
        for (int k = 0; k < DIMS; k++) vecs[i * DIMS + k] = (float)(i - k) / 7;
    }
    cr_assert_eq(store_cache_put(st, "local:1", (const uint8_t(*)[32])hashes,
                                 3, DIMS, vecs, NOW), 0);
    cr_assert_eq(store_cache_put(st, "Local:2", (const uint8_t(*)[32])hashes,
                                 2, DIMS, vecs, NOW), 0); /* sorts first */
    char *stored;
    cr_assert_eq(store_setting_init(st, "memory.dims", "8", &stored), 0);
    free(stored);
}

/* Two workflow versions; a run with tasks, events and jobs (one completed:
 * a pending job signal); a second run, failed. */
static void put_workflows(store *st)
{
    for (int v = 1; v <= 2; v++) {
        fs_workflow w = { .name = strdup("lead_flow"), .version = v,
                          .description = v == 1 ? NULL : strdup("second"),
                          .definition = strdup("{\"steps\":[]}") };
        cr_assert_eq(store_workflow_put(st, &w, NOW + v), 0);
        fs_workflow_clear(&w);
    }
    fs_run r = { .workflow = strdup("lead_flow"), .version = 2,
                 .state = RUN_RUNNING, .inputs = strdup("{\"x\":1}") };
    fs_job jobs[2] = { { .type = strdup("step"), .target_agent = strdup("w2"),
                         .max_attempts = 2, .timeout_ms = 1000 },
                       { .type = strdup("step"), .target_agent = strdup("w2"),
                         .max_attempts = 2, .timeout_ms = 1000 } };
    fs_run_task t[2] = { { .step = 0, .item = -1, .job_ref = 0,
                           .state = TASK_SCHEDULED, .items = -1,
                           .attempts = 1 },
                         { .step = 1, .item = 2, .job_ref = 1,
                           .state = TASK_RUNNING, .items = 3,
                           .output = strdup("{\"o\":[1,2]}") } };
    fs_run_event e[2] = { { .type = strdup("run_started"), .item = -1 },
                          { .type = strdup("step_scheduled"),
                            .step = strdup("fetch"), .item = 2, .attempt = 1,
                            .data = strdup("{\"why\":\"go\"}") } };
    store_run_change c = { .run = &r, .tasks = t, .ntasks = 2, .events = e,
                           .nevents = 2, .jobs = jobs, .njobs = 2 };
    cr_assert_eq(store_run_commit(st, &c, 1, NULL, 0, NOW + 40), 0);
    int64_t ids[2];
    char tokens[2][64];
    cr_assert(lease(st, "w2", 1, NOW + 41, ids, tokens) == 1);
    complete(st, ids[0], tokens[0], "{\"ok\":1}", NOW + 42);
    fs_run failed = { .workflow = strdup("lead_flow"), .version = 1,
                      .state = RUN_RUNNING, .inputs = strdup("{}") };
    store_run_change c2 = { .run = &failed };
    cr_assert_eq(store_run_commit(st, &c2, 1, NULL, 0, NOW + 43), 0);
    failed.state = RUN_FAILED;
    failed.error = strdup("step fetch failed");
    failed.finished_at = NOW + 44;
    cr_assert_eq(store_run_commit(st, &c2, 1, NULL, 0, NOW + 44), 0);
    fs_run_clear(&r);
    fs_run_clear(&failed);
    for (int i = 0; i < 2; i++) {
        fs_job_clear(&jobs[i]);
        fs_run_task_clear(&t[i]);
        fs_run_event_clear(&e[i]);
    }
}

static void put_schedules_and_evolution(store *st)
{
    const char *names[2] = { "nightly", "paused" };
    for (int i = 0; i < 2; i++) {
        fs_schedule s = {
            .name = strdup(names[i]), .cron = strdup("0 3 * * *"),
            .job = strdup("{\"type\":\"report\",\"target_agent\":\"w\"}"),
            .enabled = i == 0 };
        cr_assert_eq(store_schedule_put(st, &s, NOW, NULL), 0);
        fs_schedule_clear(&s);
    }
    fs_job j = { .type = strdup("report"), .target_agent = strdup("w"),
                 .max_attempts = 3, .timeout_ms = 1000 };
    bool fired;
    cr_assert_eq(store_schedule_fire(st, "nightly", NOW + 50, &j, NOW + 50,
                                     &fired), 0);
    cr_assert(fired);
    fs_job_clear(&j);
    fs_evolution e = { .type = strdup("parameter_tuning"),
                       .component = strdup("memory.ef_search"),
                       .description = strdup("64 -> 16"),
                       .proposed_by = strdup("monitoring"),
                       .status = strdup("proposed"),
                       .data = strdup("{\"change\":{\"to\":16}}") };
    cr_assert_eq(store_evolution_add(st, &e, NOW + 60), 0);
    free(e.status);
    e.status = strdup("applied");
    e.applied_at = NOW + 61;
    cr_assert_eq(store_evolution_update(st, &e, NOW + 61), 0);
    fs_evolution_clear(&e);
}

static void populate(const char *url)
{
    store *st = open_store(url);
    put_agents_and_keys(st);
    put_jobs(st);
    put_documents(st);
    put_workflows(st);
    put_schedules_and_evolution(st);
    prune_newest_job(st);
    store_close(st);
}

/* ---- comparing two databases --------------------------------------------- */

static void assert_same_cell(const store_table *t, size_t row, size_t j,
                             const store_cell *a, const store_cell *b)
{
    cr_assert_eq(a->null, b->null, "%s row %zu column %zu: NULL on one side",
                 t->name, row, j);
    if (a->null) return;
    char type = t->types[j];
    if (type == 'i')
        cr_assert_eq(a->i, b->i, "%s row %zu column %zu", t->name, row, j);
    else if (type == 'r')
        cr_assert_eq(memcmp(&a->r, &b->r, sizeof a->r), 0,
                     "%s row %zu column %zu: %.17g vs %.17g", t->name, row, j,
                     a->r, b->r);
    else
        cr_assert(a->len == b->len && (!a->len || !memcmp(a->p, b->p, a->len)),
                  "%s row %zu column %zu: bytes differ", t->name, row, j);
}

/* Every table of a and b holds the same rows, cell for cell.  Returns
 * the number of rows compared. */
static size_t assert_same(store *a, store *b)
{
    store_table_rows *ta, *tb;
    size_t na, nb, rows = 0;
    cr_assert_eq(store_dump_tables(a, &ta, &na), 0);
    cr_assert_eq(store_dump_tables(b, &tb, &nb), 0);
    cr_assert_eq(na, nb);
    for (size_t i = 0; i < na; i++) {
        const store_table *t = ta[i].table;
        cr_assert_str_eq(t->name, tb[i].table->name);
        cr_assert_eq(ta[i].rows, tb[i].rows, "%s: row counts", t->name);
        store_rows ra, rb;
        cr_assert_eq(store_dump_rows(a, t, NULL, 10000, &ra), 0);
        cr_assert_eq(store_dump_rows(b, tb[i].table, NULL, 10000, &rb), 0);
        cr_assert_eq(ra.n, rb.n, "%s: rows", t->name);
        cr_assert_eq(ra.n, (size_t)ta[i].rows);
        for (size_t k = 0; k < ra.n; k++)
            for (size_t j = 0; j < ra.ncols; j++)
                assert_same_cell(t, k, j, &ra.cells[k * ra.ncols + j],
                                 &rb.cells[k * rb.ncols + j]);
        rows += ra.n;
        store_rows_free(&ra);
        store_rows_free(&rb);
    }
    free(ta);
    free(tb);
    return rows;
}

static int hit_cmp(const void *x, const void *y)
{
    const store_hit *a = x, *b = y;
    return (a->id > b->id) - (a->id < b->id);
}

/* The copy works: BM25 finds the same documents, and a new job's id is
 * past every id the source handed out (the pruned one included). */
static void assert_usable(store *orig, store *copy)
{
    store_doc_filter f = { .with_chunks = true, .limit = 10 };
    store_hit *h1, *h2;
    size_t n1, n2;
    const char *q = "refund invoice";
    cr_assert_eq(store_doc_text_search(orig, q, &f, &h1, &n1), 0);
    cr_assert_eq(store_doc_text_search(copy, q, &f, &h2, &n2), 0);
    cr_assert_eq(n1, 3, "the parent and both chunks match");
    cr_assert_eq(n2, n1);
    qsort(h1, n1, sizeof *h1, hit_cmp); /* equal scores: any order */
    qsort(h2, n2, sizeof *h2, hit_cmp);
    for (size_t i = 0; i < n1; i++) cr_assert_eq(h1[i].id, h2[i].id);
    free(h1);
    free(h2);
    int64_t id = enqueue(copy, "after", "w", "{}", 0, NOW + 100);
    cr_assert_eq(id, 12, "jobs 1-11 were handed out by the source (11 pruned)");
}

/* ---- the tests ----------------------------------------------------------- */

/* What a test leaves to its fini, which runs even when it fails: its
 * folder, a cluster of its own, a database on a shared server. */
static struct {
    char dir[256];
    pg p;
    char db[32];
} S;

static void setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(S.dir, sizeof S.dir, "%s/fs-migrate-XXXXXX", tmp ? tmp : "/tmp");
    cr_assert_not_null(mkdtemp(S.dir));
    log_setup(LOG_WARN, false);
}

static void teardown(void)
{
    if (S.db[0] && !S.p.cluster[0]) pg_drop(&S.p, S.db);
    pg_stop(&S.p); /* the cluster, its databases with it */
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", S.dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", S.dir);
}

TestSuite(migrate_cli, .timeout = 300);

Test(migrate_cli, round_trips_every_kind_of_record_through_postgres,
     .init = setup, .fini = teardown)
{
    const char *dir = S.dir;
    char a[300], b[300], pgurl[400];
    if (!pg_start(&S.p, dir))
        cr_skip_test("no PostgreSQL binaries (apt-get install postgresql-15)");
    pg_create(&S.p, pgurl, sizeof pgurl, S.db);
    snprintf(a, sizeof a, "%s/a.db", dir);
    snprintf(b, sizeof b, "%s/b.db", dir);
    populate(a);

    run_out r = MIGRATE(dir, "--from", a, "--to", pgurl, "--batch", "2");
    assert_exit(r, 0);
    cr_assert(strstr(r.out, "every table matches"), "%s", r.out);
    cr_assert(strstr(r.out, "jobs "), "the table lists jobs:\n%s", r.out);
    run_free(&r);
    r = MIGRATE(dir, "--from", pgurl, "--to", b, "--json", "--batch", "2");
    assert_exit(r, 0);
    json_t *doc = json_loads(r.out, 0, NULL);
    cr_assert_not_null(doc, "--json prints JSON:\n%s", r.out);
    cr_assert(json_is_true(json_object_get(doc, "verified")));
    json_t *tables = json_object_get(doc, "tables");
    cr_assert_eq(json_array_size(tables), 15);
    json_t *seq = json_array_get(tables, 14);
    cr_assert_str_eq(json_string_value(json_object_get(seq, "table")),
                     "sequences");
    cr_assert_str_eq(json_string_value(json_object_get(seq, "source_sha256")),
                     json_string_value(json_object_get(seq, "target_sha256")));
    json_decref(doc);
    run_free(&r);

    store *sa = open_store(a), *sp = open_store(pgurl), *sb = open_store(b);
    size_t rows = assert_same(sa, sb);
    cr_assert_geq(rows, 40, "%zu rows compared", rows);
    assert_same(sa, sp);
    assert_usable(sa, sp);
    assert_usable(sa, sb);
    store_close(sa);
    store_close(sp);
    store_close(sb);

    r = MIGRATE(dir, "--from", a, "--to", pgurl);
    assert_exit(r, 1);
    cr_assert(strstr(r.err, "is not empty"), "%s", r.err);
    cr_assert(strstr(r.err, "nothing was copied"), "%s", r.err);
    run_free(&r);
}

Test(migrate_cli, refuses_what_it_cannot_do_with_clear_errors,
     .init = setup, .fini = teardown)
{
    const char *dir = S.dir;
    char a[300], b[300], missing[300];
    snprintf(a, sizeof a, "%s/a.db", dir);
    snprintf(b, sizeof b, "%s/b.db", dir);
    snprintf(missing, sizeof missing, "%s/none.db", dir);
    populate(a);

    run_out r = MIGRATE(dir, "--from", a, "--to",
                        "postgres://nobody:secret@127.0.0.1:1/none");
    assert_exit(r, 3);
    cr_assert(strstr(r.err, "cannot open the target"), "%s", r.err);
    cr_assert(strstr(r.err, "nobody:***@"), "password hidden:\n%s", r.err);
    cr_assert_null(strstr(r.err, "secret"), "%s", r.err);
    run_free(&r);

    r = MIGRATE(dir, "--from", a, "--to", "mysql://x/y");
    assert_exit(r, 2);
    cr_assert(strstr(r.err, "neither a file path nor a postgres:// URL"), "%s",
              r.err);
    run_free(&r);

    r = MIGRATE(dir, "--from", missing, "--to", b);
    assert_exit(r, 4);
    cr_assert(strstr(r.err, "no database at"), "%s", r.err);
    cr_assert_neq(access(missing, F_OK), 0, "the source is never created");
    run_free(&r);

    r = MIGRATE(dir, "--from", a, "--to", a);
    assert_exit(r, 1);
    cr_assert(strstr(r.err, "the same database"), "%s", r.err);
    run_free(&r);

    r = MIGRATE(dir, "--from", a);
    assert_exit(r, 2);
    run_free(&r);

    r = MIGRATE(dir, "--help");
    assert_exit(r, 0);
    cr_assert(strstr(r.out, "Rebuilt, not copied") &&
              strstr(r.out, "5 copied, but the") && !strstr(r.out, "--url"),
              "%s", r.out);
    run_free(&r);

    /* a target holding records: refused, and left as it was */
    populate(b);
    store *st = open_store(b);
    store_table_rows *before, *after;
    size_t n;
    cr_assert_eq(store_dump_tables(st, &before, &n), 0);
    store_close(st);
    r = MIGRATE(dir, "--from", a, "--to", b);
    assert_exit(r, 1);
    cr_assert(strstr(r.err, "is not empty: jobs (10 rows)"), "%s", r.err);
    run_free(&r);
    st = open_store(b);
    cr_assert_eq(store_dump_tables(st, &after, &n), 0);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(after[i].rows, before[i].rows, "%s",
                     after[i].table->name);
    free(before);
    free(after);
    store_close(st);
}

Test(migrate_cli, a_difference_found_by_the_verification_exits_5,
     .init = setup, .fini = teardown)
{
    const char *dir = S.dir;
    char a[300], b[300];
    snprintf(a, sizeof a, "%s/a.db", dir);
    snprintf(b, sizeof b, "%s/b.db", dir);
    populate(a);
    /* a counter behind its table: the copy raises it to the largest id,
     * so the two sides differ in "sequences" and nowhere else */
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(a, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "UPDATE sqlite_sequence SET seq=1 WHERE "
                              "name='jobs'", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    run_out r = MIGRATE(dir, "--from", a, "--to", b);
    assert_exit(r, 5);
    cr_assert(strstr(r.out, "TABLES DIFFER"), "%s", r.out);
    const char *line = strstr(r.out, "\nsequences");
    cr_assert(line && strstr(line, "DIFFERS"), "%s", r.out);
    cr_assert_eq(strstr(r.out, "DIFFERS"), strstr(line, "DIFFERS"),
                 "only sequences differs:\n%s", r.out);
    run_free(&r);
}
