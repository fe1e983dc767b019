/* testdb.c - per-test stores on the backend chosen by FLOWSTATE_TEST_DB. */
#include "support/testdb.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

void tdb_open(tdb *t)
{
    memset(t, 0, sizeof *t);
    log_setup(LOG_WARN, false);
    const char *url = getenv("FLOWSTATE_TEST_DB");
    if (url && *url) {
        snprintf(t->url, sizeof t->url, "%s", url);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(t->dir, sizeof t->dir, "%s/fs-test-XXXXXX", tmp ? tmp : "/tmp");
        cr_assert_not_null(mkdtemp(t->dir), "mkdtemp");
        snprintf(t->url, sizeof t->url, "%s/test.db", t->dir);
    }
    cr_assert_eq(store_open(&t->st, t->url, NULL), 0, "store_open %s", t->url);
}

void tdb_reopen(tdb *t)
{
    store_close(t->st);
    cr_assert_eq(store_open(&t->st, t->url, NULL), 0, "store reopen");
}

void tdb_close(tdb *t)
{
    store_close(t->st);
    t->st = NULL;
    if (t->dir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
        if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", t->dir);
    }
}
