/*
 * testdb.h - a fresh store for each test, on whichever backend the run asks
 * for: FLOWSTATE_TEST_DB=postgres://... selects PostgreSQL (later issue);
 * otherwise a new SQLite file in a temporary folder.  Store and queue tests
 * use only this, so the same suite runs against every backend.
 */
#ifndef TESTDB_H
#define TESTDB_H
#include "store/store.h"

typedef struct tdb {
    store *st;
    char dir[256];
    char url[300];
} tdb;

/* Opens a fresh store; aborts the test on failure. */
void tdb_open(tdb *t);
/* Re-opens the same database (simulates a restart). */
void tdb_reopen(tdb *t);
/* Closes the store and removes its files. */
void tdb_close(tdb *t);

#endif
