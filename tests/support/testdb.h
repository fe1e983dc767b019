/*
 * testdb.h - a fresh store for each test, on whichever backend the run asks
 * for: FLOWSTATE_TEST_DB=postgres://USER@HOST:PORT/DB selects PostgreSQL
 * (each test gets a database of its own, fs_t_<random>, created on that
 * server through DB and dropped at the end); otherwise a new SQLite file
 * in a temporary folder.  Store and queue tests use only this, so the same
 * suite runs against every backend.
 */
#ifndef TESTDB_H
#define TESTDB_H
#include <stdbool.h>

#include "store/store.h"

typedef struct tdb {
    store *st;
    char dir[256];   /* a temporary folder of the test's own (SQLite: the
                        database file is in it) */
    char url[300];   /* what store_open gets */
    char admin[300]; /* PostgreSQL: the server's URL as given */
    char db[32];     /* PostgreSQL: the test's own database */
} tdb;

/* Opens a fresh store; aborts the test on failure. */
void tdb_open(tdb *t);
/* Re-opens the same database (simulates a restart). */
void tdb_reopen(tdb *t);
/* Closes the store and removes its folder and database. */
void tdb_close(tdb *t);
/* The run is on PostgreSQL (for tests that only make sense on one). */
bool tdb_is_postgres(void);

#endif
