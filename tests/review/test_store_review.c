/*
 * test_store_review.c - defects found in review of the SQLite store
 * (src/store/store_sqlite.c), each shown by a test that failed before its
 * fix:
 *  - a lease filtered on job types holding control characters failed with
 *    FS_EIO (the type list is handed to SQLite as JSON text);
 *  - when an op made SQLite roll back the whole group-commit transaction,
 *    the ops after it in the same batch ran outside any transaction and
 *    were committed one by one, yet reported as failed.
 * The second test injects the fault with a trigger on the test database,
 * so it is specific to the SQLite backend.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/fs.h"
#include "support/testdb.h"

static tdb T;
static void setup(void) { tdb_open(&T); }
static void teardown(void) { tdb_close(&T); }

TestSuite(store_review, .init = setup, .fini = teardown, .timeout = 60);

static fs_job mk(const char *type, const char *target)
{
    return (fs_job){ .type = strdup(type), .target_agent = strdup(target),
                     .max_attempts = 3, .timeout_ms = 1000 };
}

Test(store_review, lease_type_filter_takes_any_string)
{
    const char *types[] = { "a\x01" "b", "c\nd", "e\"f\\", "g\x1f" };
    fs_job v[4];
    for (int i = 0; i < 4; i++) v[i] = mk(types[i], "w");
    cr_assert_eq(store_job_enqueue(T.st, v, 4, 1000, NULL), 0);
    for (int i = 0; i < 4; i++) fs_job_clear(&v[i]);
    store_lease r = { .agent_id = "ag_1", .agent_type = "w", .types = types,
                      .ntypes = 4, .max = 10 };
    fs_job *got = NULL;
    size_t n = 0;
    int rc = store_job_lease(T.st, &r, 2000, &got, &n);
    cr_assert_eq(rc, 0, "lease: %s", fs_strerror(rc));
    cr_assert_eq(n, 4);
    fs_jobs_free(got, n);
}

/* --- group commit: an op that aborts the whole transaction ---------------- */

typedef struct enq_arg {
    const char *type;
    int rc;
    int64_t ms;
} enq_arg;

static void *enqueue_thread(void *p)
{
    enq_arg *a = p;
    fs_job j = mk(a->type, "w");
    int64_t t0 = fs_mono_ms();
    a->rc = store_job_enqueue(T.st, &j, 1, 1000, NULL);
    a->ms = fs_mono_ms() - t0;
    fs_job_clear(&j);
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static size_t count_type(const char *type)
{
    store_job_filter f = { .state = -1, .type = type, .limit = 10 };
    fs_job *v = NULL;
    size_t n = 0;
    cr_assert_eq(store_job_list(T.st, &f, &v, &n), 0);
    fs_jobs_free(v, n);
    return n;
}

Test(store_review, an_op_that_aborts_the_transaction_fails_its_whole_batch)
{
    /* Fault injection: 'slow' holds the writer for a while so that 'boom'
     * and 'ok' queue up and share the next batch; 'boom' rolls back the
     * whole transaction, as SQLite does on I/O errors, a full disk or out
     * of memory. */
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(T.url, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db,
        "CREATE TRIGGER slow BEFORE INSERT ON jobs WHEN NEW.type='slow' BEGIN"
        " SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL"
        " SELECT x+1 FROM c WHERE x<4000000) SELECT x FROM c); END;"
        "CREATE TRIGGER boom BEFORE INSERT ON jobs WHEN NEW.type='boom' BEGIN"
        " SELECT RAISE(ROLLBACK,'injected fault'); END;",
        NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    enq_arg a[3] = { { "slow" }, { "boom" }, { "ok" } };
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        pthread_create(&th[i], NULL, enqueue_thread, &a[i]);
        sleep_ms(60); /* 'boom' joins the queue before 'ok' */
    }
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    cr_assert_eq(a[0].rc, 0);
    cr_assert_gt(a[0].ms, 200, "the slow op must outlast the set-up (%lld ms)",
                 (long long)a[0].ms);
    cr_assert_neq(a[1].rc, 0, "the faulting op fails");
    /* Nothing half-written: an acknowledged op is stored, a failed one not. */
    size_t ok = count_type("ok");
    cr_assert_eq(ok, a[2].rc == 0 ? 1u : 0u,
                 "'ok' returned %s but %zu row(s) are stored",
                 fs_strerror(a[2].rc), ok);
    cr_assert_eq(count_type("boom"), 0);
    /* The store still works afterwards. */
    enq_arg after = { "after" };
    enqueue_thread(&after);
    cr_assert_eq(after.rc, 0);
    cr_assert_eq(count_type("after"), 1);
}
