/*
 * test_store_review.c - defects found in review of the SQLite store
 * (src/store/store_sqlite.c), each shown by a test that failed before its
 * fix:
 *  - a lease filtered on job types holding control characters failed with
 *    FS_EIO (the type list is handed to SQLite as JSON text).
 */
#include <criterion/criterion.h>
#include <string.h>

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
