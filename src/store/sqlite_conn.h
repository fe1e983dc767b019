/*
 * sqlite_conn.h - SQLite connections for the SQLite store backend: open with
 * the project's pragmas, a per-connection cache of prepared statements, and
 * row <-> record conversion.  Internal to src/store (prefix sqlc_).
 *
 * A connection is used by one thread at a time: the writer thread owns one,
 * readers borrow one from the pool in store_sqlite.c.
 */
#ifndef SQLITE_CONN_H
#define SQLITE_CONN_H
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/model.h"

/* Column list matching sqlc_read_job(); use it in every SELECT/RETURNING. */
#define SQLC_JOB_COLS                                                        \
    "id,type,target_agent,payload,priority,run_at,attempts,max_attempts,"    \
    "timeout_ms,unique_key,state,result,last_error,parent_id,lease_token,"   \
    "lease_owner,lease_expires,started_at,created_at,updated_at,finished_at"
#define SQLC_DOC_COLS                                                        \
    "id,parent_id,chunk_index,agent,kind,content,metadata,tags,importance,"  \
    "embedding,embedder,embedder_version,created_at,updated_at"
#define SQLC_AGENT_COLS                                                      \
    "id,name,type,job_types,metadata,created_at,last_heartbeat,state_version"

/* Statement ids: one SQL text each, prepared on first use per connection. */
typedef enum {
    SQ_BEGIN, SQ_COMMIT, SQ_ROLLBACK, SQ_SAVEPOINT, SQ_RELEASE, SQ_ROLLBACK_TO,
    SQ_JOB_INSERT, SQ_JOB_BY_KEY, SQ_JOB_GET, SQ_JOB_STATE,
    SQ_JOB_PROMOTE, SQ_JOB_LEASE,
    SQ_JOB_HEARTBEAT, SQ_JOB_COMPLETE, SQ_JOB_FAIL_READ, SQ_JOB_FAIL,
    SQ_JOB_CANCEL, SQ_JOB_RETRY, SQ_JOB_RESCUE, SQ_JOB_PRUNE,
    SQ_JOB_NEXT_RUN, SQ_JOB_NEXT_EXPIRY, SQ_JOB_STATS,
    SQ_AGENT_INSERT, SQ_AGENT_GET, SQ_AGENT_BY_TOKEN, SQ_AGENT_LIST,
    SQ_AGENT_HEARTBEAT, SQ_AGENT_VERSION, SQ_AGENT_SET_VERSION,
    SQ_STATE_INSERT, SQ_STATE_GET, SQ_STATE_LATEST, SQ_STATE_LIST,
    SQ_KEY_ADD, SQ_KEY_LOOKUP, SQ_KEY_COUNT,
    SQ_DOC_INSERT, SQ_DOC_GET, SQ_DOC_FAMILY, SQ_DOC_DELETE, SQ_EPOCH_BUMP,
    SQ_SETTING_GET, SQ_SETTING_INIT, SQ_CACHE_GET, SQ_CACHE_PUT,
    SQ_TERM_DF, SQ_DOC_COUNT, SQ_DOC_UPDATE_META, SQ_DOC_UPDATE_CONTENT,
    SQ_DOC_CHUNKS, SQ_DOC_DELETE_CHUNKS,
    SQ__COUNT
} sqlc_stmt_id;

typedef struct sqlc {
    sqlite3 *db;
    sqlite3_stmt *stmt[SQ__COUNT];
} sqlc;

/* Opens path with WAL, the sync mode and busy timeout.  OUT: *out.
 * Errors: FS_EIO (message logged). */
int sqlc_open(sqlc **out, const char *path, bool sync_normal, int busy_ms);
void sqlc_close(sqlc *c);

/* The cached statement, reset and with bindings cleared; NULL on a prepare
 * error (logged). */
sqlite3_stmt *sqlc_stmt(sqlc *c, sqlc_stmt_id id);
/* Runs a cached statement that returns no rows.  0 or FS_EIO/FS_EBUSY. */
int sqlc_exec(sqlc *c, sqlc_stmt_id id);
/* Maps a SQLite result code to FS_E* and logs unexpected errors. */
int sqlc_err(sqlc *c, int rc, const char *what);

/* Binding helpers: NULL strings and 0 times bind SQL NULL where noted. */
void sqlc_bind_text(sqlite3_stmt *s, int i, const char *v);  /* NULL ok */
void sqlc_bind_time(sqlite3_stmt *s, int i, int64_t v);      /* 0 = NULL */

/* Reads the current row (columns SQLC_JOB_COLS from column 0) into *j. */
void sqlc_read_job(sqlite3_stmt *s, fs_job *j);
void sqlc_read_agent(sqlite3_stmt *s, fs_agent *a);
/* Columns SQLC_DOC_COLS; the embedding only when with_embedding. */
void sqlc_read_doc(sqlite3_stmt *s, fs_doc *d, bool with_embedding);

/* Applies pending schema migrations inside transactions.  0 or FS_EIO. */
int sqlc_migrate(sqlc *c, int64_t now);

#endif
