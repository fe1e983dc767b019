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

/* Column list matching sqlc_read_job(); use it in every SELECT/RETURNING.
 * SQLC_JOB_COLS_("NULL") leaves the payload out. */
#define SQLC_JOB_COLS_(payload)                                              \
    "id,type,target_agent," payload ",priority,run_at,attempts,"             \
    "max_attempts,timeout_ms,unique_key,state,result,last_error,parent_id,"  \
    "lease_token,lease_owner,lease_expires,started_at,created_at,"           \
    "updated_at,finished_at,run_id"
#define SQLC_JOB_COLS SQLC_JOB_COLS_("payload")
#define SQLC_DOC_COLS                                                        \
    "id,parent_id,chunk_index,agent,kind,content,metadata,tags,importance,"  \
    "embedding,embedder,embedder_version,created_at,updated_at"
#define SQLC_AGENT_COLS                                                      \
    "id,name,type,job_types,metadata,created_at,last_heartbeat,state_version"
#define SQLC_WORKFLOW_COLS "name,version,description,definition,created_at"
#define SQLC_RUN_COLS                                                        \
    "id,workflow,version,state,inputs,error,rev,deadline,created_at,"        \
    "updated_at,finished_at"
#define SQLC_TASK_COLS                                                       \
    "run_id,step,item,state,attempts,job_id,items,output,error,deadline,"    \
    "started_at,finished_at"
#define SQLC_EVENT_COLS "run_id,seq,at,type,step,item,attempt,error,data"
#define SQLC_SCHEDULE_COLS                                                   \
    "name,cron,job,enabled,last_fire,created_at,updated_at"
#define SQLC_EVOLUTION_COLS                                                  \
    "id,type,component,description,proposed_by,status,data,rev,"            \
    "created_at,updated_at,applied_at"

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
    SQ_BEGIN_READ, SQ_WF_INSERT, SQ_WF_GET, SQ_WF_LATEST, SQ_WF_LIST,
    SQ_RUN_INSERT, SQ_RUN_UPDATE, SQ_RUN_GET, SQ_TASK_UPSERT, SQ_TASK_LIST,
    SQ_EVENT_MAX, SQ_EVENT_INSERT, SQ_EVENT_LIST, SQ_SIGNAL_LIST,
    SQ_SIGNAL_DELETE,
    SQ_SCHED_GET, SQ_SCHED_PUT, SQ_SCHED_LIST, SQ_SCHED_DELETE,
    SQ_SCHED_FIRE,
    SQ_EVO_INSERT, SQ_EVO_GET, SQ_EVO_LIST, SQ_EVO_UPDATE,
    SQ_CHANGE_INSERT, SQ_CHANGE_LIST, SQ_CHANGE_HEAD, SQ_CHANGE_PRUNE,
    SQ_JOB_NEWEST,
    SQ__COUNT
} sqlc_stmt_id;

typedef struct sqlc {
    sqlite3 *db;
    sqlite3_stmt *stmt[SQ__COUNT];
    char origin[33]; /* this connection's random id in doc_changes */
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
/* Columns SQLC_WORKFLOW_COLS, SQLC_RUN_COLS, SQLC_TASK_COLS and
 * SQLC_EVENT_COLS from column 0 (job_ref reads as -1). */
void sqlc_read_workflow(sqlite3_stmt *s, fs_workflow *w);
void sqlc_read_run(sqlite3_stmt *s, fs_run *r);
void sqlc_read_task(sqlite3_stmt *s, fs_run_task *t);
void sqlc_read_event(sqlite3_stmt *s, fs_run_event *e);
/* Columns SQLC_SCHEDULE_COLS from column 0. */
void sqlc_read_schedule(sqlite3_stmt *s, fs_schedule *out);
/* Columns SQLC_EVOLUTION_COLS from column 0. */
void sqlc_read_evolution(sqlite3_stmt *s, fs_evolution *out);

/* Records that document id was written (deleted: removed) by this
 * connection, in the same transaction (store.h, doc_changes). */
int sqlc_doc_changed(sqlc *c, int64_t id, bool deleted);

/* Applies pending schema migrations inside transactions.  0 or FS_EIO. */
int sqlc_migrate(sqlc *c, int64_t now);

#endif
