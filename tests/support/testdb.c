/*
 * testdb.c - per-test stores on the backend chosen by FLOWSTATE_TEST_DB.
 *
 * On PostgreSQL each test gets an isolated database: CREATE DATABASE
 * fs_t_<16 hex> over a connection to the URL given, the store opened on
 * the same server with that database name instead, and DROP DATABASE ...
 * WITH (FORCE) at the end.  Names are made here, never from input.
 */
#include "support/testdb.h"

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/rand.h"

bool tdb_is_postgres(void)
{
    const char *url = getenv("FLOWSTATE_TEST_DB");
    return url && (!strncmp(url, "postgres://", 11) ||
                   !strncmp(url, "postgresql://", 13));
}

/* Runs one administrative command on the server's own database. */
static bool admin_exec(const tdb *t, const char *sql)
{
    PGconn *c = PQconnectdb(t->admin);
    bool ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
        PGresult *r = PQexec(c, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) fprintf(stderr, "testdb: %s: %s", sql, PQerrorMessage(c));
        PQclear(r);
    } else {
        fprintf(stderr, "testdb: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return ok;
}

/* t->url: the admin URL with its database replaced by t->db. */
static void pg_url(tdb *t)
{
    const char *auth = strstr(t->admin, "://") + 3;
    const char *path = strchr(auth, '/');
    const char *query = strchr(auth, '?');
    if (!path || (query && query < path)) path = query ? query : auth + strlen(auth);
    snprintf(t->url, sizeof t->url, "%.*s/%s%s", (int)(path - t->admin),
             t->admin, t->db, query ? query : "");
}

static void pg_create(tdb *t, const char *url)
{
    snprintf(t->admin, sizeof t->admin, "%s", url);
    char hex[17];
    fs_random_hex(hex, 8);
    snprintf(t->db, sizeof t->db, "fs_t_%s", hex);
    char sql[80];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", t->db);
    cr_assert(admin_exec(t, sql), "cannot create the test database");
    pg_url(t);
}

void tdb_open(tdb *t)
{
    memset(t, 0, sizeof *t);
    log_setup(LOG_WARN, false);
    const char *url = getenv("FLOWSTATE_TEST_DB");
    const char *tmp = getenv("TMPDIR");
    snprintf(t->dir, sizeof t->dir, "%s/fs-test-XXXXXX", tmp ? tmp : "/tmp");
    cr_assert_not_null(mkdtemp(t->dir), "mkdtemp");
    if (tdb_is_postgres())
        pg_create(t, url);
    else if (url && *url)
        snprintf(t->url, sizeof t->url, "%s", url);
    else
        snprintf(t->url, sizeof t->url, "%s/test.db", t->dir);
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
    if (t->db[0]) {
        char sql[80];
        snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", t->db);
        if (!admin_exec(t, sql)) fprintf(stderr, "cannot drop %s\n", t->db);
    }
    if (t->dir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
        if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", t->dir);
    }
}
