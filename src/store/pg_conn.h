/*
 * pg_conn.h - PostgreSQL connections for the PostgreSQL store backend: a
 * small pool, prepared statements by id, transactions with retry, error
 * mapping to FS_E*, row <-> record conversion and the schema migrations.
 * Internal to src/store (prefix pgc_); the store_pg*.c files share it.
 *
 * A connection belongs to one caller at a time: pgc_run() checks one out
 * of the pool, runs the caller's function on it (in a transaction when
 * asked) and checks it back in.  Values only ever travel as parameters
 * ($1, $2 ...) of statements from the table in pg_conn.c.
 */
#ifndef PG_CONN_H
#define PG_CONN_H
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/metrics.h"
#include "core/model.h"
#include "store/store.h"

/* Column list matching pgc_read_job(); use it in every SELECT/RETURNING.
 * PGC_JOB_COLS_("NULL") leaves the payload out. */
#define PGC_JOB_COLS_(payload)                                               \
    "id,type,target_agent," payload ",priority,run_at,attempts,"             \
    "max_attempts,timeout_ms,unique_key,state,result,last_error,parent_id,"  \
    "lease_token,lease_owner,lease_expires,started_at,created_at,"           \
    "updated_at,finished_at,run_id"
#define PGC_JOB_COLS PGC_JOB_COLS_("payload")
#define PGC_DOC_COLS                                                         \
    "id,parent_id,chunk_index,agent,kind,content,metadata,tags,importance,"  \
    "embedding,embedder,embedder_version,created_at,updated_at"
#define PGC_AGENT_COLS                                                       \
    "id,name,type,job_types,metadata,created_at,last_heartbeat,state_version"
#define PGC_WORKFLOW_COLS "name,version,description,definition,created_at"
#define PGC_RUN_COLS                                                         \
    "id,workflow,version,state,inputs,error,rev,deadline,created_at,"        \
    "updated_at,finished_at"
#define PGC_TASK_COLS                                                        \
    "run_id,step,item,state,attempts,job_id,items,output,error,deadline,"    \
    "started_at,finished_at"
#define PGC_EVENT_COLS "run_id,seq,at,type,step,item,attempt,error,data"
#define PGC_SCHEDULE_COLS                                                    \
    "name,cron,job,enabled,last_fire,created_at,updated_at"
#define PGC_EVOLUTION_COLS                                                   \
    "id,type,component,description,proposed_by,status,data,rev,"            \
    "created_at,updated_at,applied_at"

/* Statement ids: one SQL text each (pg_conn.c), prepared on a connection
 * the first time it runs there. */
typedef enum {
    PG_BEGIN, PG_BEGIN_SNAPSHOT, PG_COMMIT, PG_ROLLBACK,
    PG_JOB_INSERT, PG_JOB_IDS, PG_JOB_INSERT_MANY, PG_JOB_BY_KEY,
    PG_JOB_BY_KEYS, PG_JOB_GET, PG_JOB_STATE, PG_JOB_LIST,
    PG_JOB_PROMOTE, PG_JOB_LEASE, PG_JOB_HEARTBEAT, PG_JOB_COMPLETE,
    PG_JOB_FAIL_READ, PG_JOB_FAIL, PG_JOB_CANCEL, PG_JOB_CANCEL_MANY,
    PG_JOB_RETRY,
    PG_JOB_RESCUE, PG_JOB_PRUNE, PG_JOB_NEXT_DUE, PG_JOB_STATS,
    PG_AGENT_INSERT, PG_AGENT_GET, PG_AGENT_BY_TOKEN, PG_AGENT_LIST,
    PG_AGENT_HEARTBEAT, PG_AGENT_VERSION, PG_AGENT_LOCK,
    PG_AGENT_SET_VERSION, PG_STATE_INSERT, PG_STATE_GET, PG_STATE_LATEST,
    PG_STATE_LIST,
    PG_KEY_ADD, PG_KEY_LOOKUP, PG_KEY_COUNT,
    PG_DOC_INSERT, PG_DOC_GET, PG_DOC_DELETE, PG_DOC_LIST, PG_EPOCH_BUMP,
    PG_SETTING_GET, PG_SETTING_INIT, PG_CACHE_GET, PG_CACHE_PUT,
    PG_TERM_DF, PG_DOC_TOTALS, PG_TEXT_SEARCH, PG_DOC_UPDATE_META,
    PG_DOC_UPDATE_CONTENT, PG_DOC_DELETE_CHUNKS,
    PG_WF_INSERT, PG_WF_GET, PG_WF_LATEST, PG_WF_LIST,
    PG_RUN_INSERT, PG_RUN_UPDATE, PG_RUN_GET, PG_RUN_LIST, PG_TASK_UPSERT_MANY,
    PG_TASK_LIST, PG_EVENT_MAX, PG_EVENT_INSERT_MANY, PG_EVENT_LIST,
    PG_SIGNAL_LIST, PG_SIGNAL_DELETE,
    PG_SCHED_GET, PG_SCHED_LOCK, PG_SCHED_PUT, PG_SCHED_LIST,
    PG_SCHED_DELETE, PG_SCHED_FIRE,
    PG_EVO_INSERT, PG_EVO_GET, PG_EVO_LIST, PG_EVO_UPDATE,
    PG_CHANGE_LIST, PG_CHANGE_HEAD, PG_CHANGE_PRUNE,
    PG__COUNT
} pgc_stmt_id;

typedef struct pgc pgc;           /* one connection */
typedef struct pgc_pool pgc_pool; /* up to `size` connections */

/*
 * Opens a pool for url (a libpq connection URI) holding at most size
 * connections, opened on demand; one is opened now to check the URL and
 * the server.  sync_normal turns synchronous_commit off on each
 * connection; busy_ms bounds every wait for a row lock (lock_timeout).
 * Errors: FS_EIO (logged).  OUT: *out, closed with pgc_pool_close().
 */
int pgc_pool_open(pgc_pool **out, const char *url, int size,
                  bool sync_normal, int busy_ms);
/* Closes every connection; no caller may be inside pgc_run(). */
void pgc_pool_close(pgc_pool *p);
/* The pool's random id, set on each of its connections as the session
 * setting flowstate.origin: the documents trigger tags change rows with
 * it (store.h, doc_changes). */
const char *pgc_pool_origin(const pgc_pool *p);

typedef enum {
    PGC_READ,     /* autocommit: each statement sees the latest commits */
    PGC_SNAPSHOT, /* one read-only repeatable-read snapshot */
    PGC_WRITE,    /* one read-committed transaction, committed if fn
                     returns 0 and rolled back otherwise */
} pgc_mode;

typedef int pgc_fn(pgc *c, void *arg);

/*
 * Runs fn(c, arg) on a pooled connection in the given mode and returns its
 * rc (or the transaction's).  A deadlock or serialization failure runs the
 * whole transaction again (a few times, with a short random pause), and so
 * does a lost connection as long as COMMIT was not sent: fn must start
 * from its inputs each time and overwrite (not append to) its outputs.
 * A connection found lost is logged and re-opened on its next use; every
 * idle connection of the pool is checked then too (a server restart
 * drops them all).  Errors: fn's, FS_EIO, FS_EBUSY.
 */
int pgc_run(pgc_pool *p, pgc_mode mode, pgc_fn *fn, void *arg);

/* Up to PGC_MAX_PARAMS parameters in order ($1, $2 ...). */
enum { PGC_MAX_PARAMS = 24 };

typedef struct pgc_params {
    int n;
    const char *value[PGC_MAX_PARAMS];
    int len[PGC_MAX_PARAMS];
    int format[PGC_MAX_PARAMS]; /* 0 text, 1 binary */
    char num[PGC_MAX_PARAMS][32];
} pgc_params;

/* Appends a parameter.  Strings are borrowed until the statement ran. */
void pgc_text(pgc_params *p, const char *s);      /* NULL = SQL NULL */
void pgc_int(pgc_params *p, int64_t v);
void pgc_time(pgc_params *p, int64_t v);          /* 0 = SQL NULL */
void pgc_double(pgc_params *p, double v);
void pgc_bool(pgc_params *p, bool v);
/* Binary (bytea); b NULL = SQL NULL. */
void pgc_bytes(pgc_params *p, const void *b, size_t n);

/* Builds a PostgreSQL array literal (text for a text[] or bigint[]
 * parameter) in b: each call appends one element, '{' comes with the
 * first; add quotes and escapes a string (NULL: a NULL element).
 * pgc_array_end closes it ("{}" when empty) and returns b->data. */
void pgc_array_add(fs_buf *b, const char *s);
void pgc_array_int(fs_buf *b, int64_t v);
const char *pgc_array_end(fs_buf *b);

/*
 * Runs statement id with parameters p (NULL: none).  OUT: *res when res is
 * not NULL (the rows; PQclear it), else the result is dropped.  Errors
 * (logged unless expected): FS_ECONFLICT (unique violation), FS_EINVAL
 * (other constraint or bad data: a missing parent, a NULL in a NOT NULL
 * column), FS_EBUSY (deadlock, serialization failure, lock timeout),
 * FS_EIO (connection lost, anything else).
 */
int pgc_exec(pgc *c, pgc_stmt_id id, const pgc_params *p, PGresult **res);
/* pgc_exec for a statement built at run time from fixed parts (names
 * from a table in the caller, never input), sent unprepared: the
 * whole-database copy's statements (store_pg_dump.c). */
int pgc_exec_sql(pgc *c, const char *sql, const pgc_params *p,
                 PGresult **res);
/* Rows changed by the last statement pgc_exec ran without res. */
int64_t pgc_changes(const pgc *c);

/* Field readers: NULL reads as NULL / 0. */
char *pgc_get_text(const PGresult *r, int row, int col);  /* caller frees */
int64_t pgc_get_int(const PGresult *r, int row, int col);
double pgc_get_double(const PGresult *r, int row, int col);
bool pgc_get_bool(const PGresult *r, int row, int col);
bool pgc_is_null(const PGresult *r, int row, int col);
/* A bytea field.  OUT: *out (malloc'd, caller frees; NULL when SQL NULL),
 * *n bytes. */
void pgc_get_bytes(const PGresult *r, int row, int col, void **out,
                   size_t *n);

/* Reads one record from a row (columns from 0). */
typedef void pgc_row_fn(const PGresult *r, int row, void *rec);
/* Runs statement id and reads every row with rd() into a fresh array of
 * size-byte records.  OUT: *out (NULL when no rows), *n; both untouched
 * on error. */
int pgc_collect(pgc *c, pgc_stmt_id id, const pgc_params *p, size_t size,
                pgc_row_fn *rd, void **out, size_t *n);
/* Runs statement id expecting at most one row.  OUT: *res (PQclear it)
 * when there is one.  Errors: FS_ENOTFOUND (no row), pgc_exec's. */
int pgc_one(pgc *c, pgc_stmt_id id, const pgc_params *p, PGresult **res);

/* Row readers, columns PGC_*_COLS from column `col`. */
void pgc_read_job(const PGresult *r, int row, int col, fs_job *j);
void pgc_read_agent(const PGresult *r, int row, fs_agent *a);
void pgc_read_doc(const PGresult *r, int row, fs_doc *d, bool with_embedding);
void pgc_read_workflow(const PGresult *r, int row, fs_workflow *w);
void pgc_read_run(const PGresult *r, int row, fs_run *out);
void pgc_read_task(const PGresult *r, int row, fs_run_task *t);
void pgc_read_event(const PGresult *r, int row, fs_run_event *e);
void pgc_read_schedule(const PGresult *r, int row, fs_schedule *out);
void pgc_read_evolution(const PGresult *r, int row, fs_evolution *out);

/*
 * Applies pending schema migrations, each in its own transaction holding a
 * transaction-level advisory lock, so processes opening the same database
 * at once apply each migration exactly once.  0 or FS_EIO.
 */
int pgc_migrate(pgc_pool *p, int64_t now);

/* --- shared by the files of the PostgreSQL backend (store_pg*.c) ------- */

typedef struct pgs_enqueue {
    const fs_job *jobs;
    size_t n;
    int64_t now;
    int64_t *ids;      /* OUT: new ids */
    fs_job *existing;  /* OUT: the stored job when a unique key matched */
    bool *found;
    int64_t run_id;    /* the jobs' run; 0 = each job's own run_id */
} pgs_enqueue;

/* Inserts every job of e (or reads the job its unique key names): a lone
 * job in one statement (two when its key was taken), a batch in three at
 * most.  Starts by clearing e's outputs (pgs_enqueue_reset), so a
 * transaction may run it again. */
int pgs_enqueue_all(pgc *c, pgs_enqueue *e);
/* Fills the caller's job i from what pgs_enqueue_all learnt. */
void pgs_enqueue_result(pgs_enqueue *e, fs_job *j, size_t i, bool *existed);
/* Clears what a (failed or retried) transaction left in e's outputs. */
void pgs_enqueue_reset(pgs_enqueue *e);

/* The pool of a PostgreSQL store. */
pgc_pool *pgs_pool(store *st);

/* store_pg_docs.c: memory documents, text search, cache and settings. */
int pgs_doc_add(store *st, fs_doc *docs, size_t n, int64_t now);
int pgs_doc_get(store *st, int64_t id, bool with_embedding, fs_doc *out);
int pgs_doc_update(store *st, const fs_doc *d, bool content, fs_doc *chunks,
                   size_t n, int64_t now, int64_t **removed, size_t *nremoved);
int pgs_doc_delete(store *st, int64_t id, int64_t **ids, size_t *n);
int pgs_doc_list(store *st, const store_doc_filter *f, bool with_embedding,
                 fs_doc **out, size_t *n);
int pgs_memory_epoch(store *st, int64_t *epoch);
int pgs_setting_init(store *st, const char *key, const char *value,
                     char **stored);
int pgs_doc_text_search(store *st, const char *query,
                        const store_doc_filter *f, store_hit **out,
                        size_t *n);
int pgs_term_stats(store *st, const char *term, int64_t *df, int64_t *ndocs);
int pgs_cache_get(store *st, const char *embedder,
                  const uint8_t (*hashes)[32], size_t n, size_t dims,
                  float *out, bool *found);
int pgs_cache_put(store *st, const char *embedder,
                  const uint8_t (*hashes)[32], size_t n, size_t dims,
                  const float *vecs, int64_t now);

/* A document's tsvector literal and token count (store_pg_docs.c).
 * OUT: *tsv (fs_buf_free), *ntokens. */
int pgs_doc_tsv(const char *content, fs_buf *tsv, int *ntokens);

/* store_pg_dump.c: the whole-database copy. */
int pgs_dump_tables(store *st, store_table_rows **out, size_t *n);
int pgs_dump_rows(store *st, const store_table *t, const store_rows *after,
                  int limit, store_rows *out);
int pgs_load_rows(store *st, const store_table *t, const store_rows *rows);

/* store_pg_wf.c: workflows, runs and job signals. */
int pgs_workflow_put(store *st, fs_workflow *w, int64_t now);
int pgs_workflow_get(store *st, const char *name, int version,
                     fs_workflow *out);
int pgs_workflow_list(store *st, fs_workflow **out, size_t *n);
int pgs_run_commit(store *st, store_run_change *c, size_t n,
                   const int64_t *signals_done, size_t nsignals, int64_t now);
int pgs_run_get(store *st, int64_t id, fs_run *out, fs_run_task **tasks,
                size_t *ntasks);
int pgs_run_list(store *st, const store_run_filter *f, fs_run **out,
                 size_t *n);
int pgs_run_events(store *st, int64_t run_id, int64_t after_seq, int limit,
                   fs_run_event **out, size_t *n);
int pgs_job_signals(store *st, int64_t after_id, int limit,
                    store_job_signal **out, size_t *n);

/* store_pg_sched.c: schedules. */
int pgs_schedule_put(store *st, fs_schedule *s, int64_t now, bool *existed);
int pgs_schedule_get(store *st, const char *name, fs_schedule *out);
int pgs_schedule_list(store *st, fs_schedule **out, size_t *n);
int pgs_schedule_delete(store *st, const char *name);
int pgs_schedule_fire(store *st, const char *name, int64_t fire_at,
                      fs_job *job, int64_t now, bool *fired);

/* store_pg_listen.c: jobs_wait over LISTEN flowstate_jobs, on a
 * connection of its own opened by the first wait. */
typedef struct pgs_listener pgs_listener;
pgs_listener *pgs_listener_new(const char *url);
void pgs_listener_free(pgs_listener *l);
int pgs_listener_wait(pgs_listener *l, int64_t *mark, int timeout_ms, bool *woke);

/* store_pg_evo.c: the evolution log and the document change log. */
int pgs_doc_changes(store *st, int64_t after, int limit, store_doc_change **out,
                    size_t *n, int64_t *head);
int pgs_doc_changes_prune(store *st, int64_t before, size_t *n);
int pgs_evolution_add(store *st, fs_evolution *e, int64_t now);
int pgs_evolution_get(store *st, int64_t id, fs_evolution *out);
int pgs_evolution_list(store *st, const store_evolution_filter *f,
                       fs_evolution **out, size_t *n);
int pgs_evolution_update(store *st, fs_evolution *e, int64_t now);

#endif
