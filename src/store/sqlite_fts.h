/*
 * sqlite_fts.h - the `flowstate` FTS5 tokenizer: registers text.h's
 * tokeniser with SQLite's full-text engine, so BM25 ranks the same stemmed
 * words the local embedder sees.  Internal to src/store (prefix sqlfts_).
 */
#ifndef SQLITE_FTS_H
#define SQLITE_FTS_H
#include <sqlite3.h>

/* Registers the tokenizer on db (every connection needs it before touching
 * documents_fts).  0 or FS_EIO. */
int sqlfts_register(sqlite3 *db);

#endif
