/*
 * test_sqlite_busy.c - SQLite-specific: another process holding the write
 * lock.  A write waits up to the busy timeout, then fails with FS_EBUSY and
 * leaves nothing behind; once the lock is released writes succeed again.
 */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/log.h"
#include "store/store.h"
#include "support/testdb.h"

Test(store_sqlite, write_lock_held_elsewhere_gives_ebusy_then_recovers,
     .timeout = 30)
{
    if (tdb_is_postgres())
        cr_skip_test("SQLite's write lock; the PostgreSQL run covers the "
                     "store through testdb");
    log_setup(LOG_OFF, false);
    char dir[] = "/tmp/fs-busy-XXXXXX", path[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/t.db", dir);
    store *st;
    store_options o = { .busy_timeout_ms = 200 };
    cr_assert_eq(store_open(&st, path, &o), 0);

    sqlite3 *other; /* a second writer, as another process would be */
    cr_assert_eq(sqlite3_open(path, &other), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", 0, 0, 0), SQLITE_OK);

    fs_job j = { .type = strdup("t"), .target_agent = strdup("w"),
                 .payload = strdup("{}"), .max_attempts = 1, .timeout_ms = 1000 };
    int64_t t0 = fs_mono_ms();
    cr_assert_eq(store_job_enqueue(st, &j, 1, 1000, NULL), FS_EBUSY);
    cr_assert(fs_mono_ms() - t0 >= 150, "waited for the busy timeout");
    cr_assert_eq(j.id, 0, "the caller's job is untouched");

    cr_assert_eq(sqlite3_exec(other, "ROLLBACK", 0, 0, 0), SQLITE_OK);
    sqlite3_close(other);
    cr_assert_eq(store_job_enqueue(st, &j, 1, 1000, NULL), 0);
    cr_assert_eq(j.id, 1, "the failed attempt left no row and no id behind");
    fs_job_clear(&j);
    store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}
