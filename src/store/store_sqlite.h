/*
 * store_sqlite.h - what the files of the SQLite backend share (internal to
 * src/store): the group commit and the reader pool of store_sqlite.c, its
 * job enqueue step (the workflow commit and schedule fires enqueue jobs
 * too), the row collector of store_sqlite_wf.c, and the workflow and
 * schedule operations (store_sqlite_wf.c, store_sqlite_sched.c) that its
 * ops table names.
 */
#ifndef STORE_SQLITE_H
#define STORE_SQLITE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/sqlite_conn.h"
#include "store/store.h"

/* Runs fn in the next group-commit batch (a savepoint of its own) and
 * returns its rc once the batch has committed or failed. */
int sqs_write(store *st, int (*fn)(sqlc *, void *), void *arg);
/* Runs fn on a pooled read connection. */
int sqs_read(store *st, int (*fn)(sqlc *, void *), void *arg);

typedef struct enqueue_arg {
    const fs_job *jobs;
    size_t n;
    int64_t now;
    int64_t *ids;      /* OUT: new ids */
    fs_job *existing;  /* OUT: the stored job when a unique key matched */
    bool *found;
    int64_t run_id;    /* the jobs' run; 0 = each job's own run_id */
} enqueue_arg;

/* Inserts jobs[i] of a (or finds the job its unique key names). */
int sqs_enqueue_one(sqlc *c, enqueue_arg *a, size_t i);
/* Fills the caller's job i from what sqs_enqueue_one learnt. */
void sqs_enqueue_result(enqueue_arg *a, fs_job *j, size_t i, bool *existed);

/* Reads the current row of a statement into the record at rec. */
typedef void sqs_row_fn(sqlite3_stmt *s, void *rec);
/* Steps s to its end, reading each row with rd() into a growing array of
 * size-byte records (store_sqlite_wf.c).  OUT: *out, *n; on error the
 * records read so far stay there for the caller to free. */
int sqs_collect(sqlc *c, sqlite3_stmt *s, size_t size, sqs_row_fn *rd,
                void **out, size_t *n);

/* store_sqlite_wf.c: the workflow ops of store.h. */
int sqs_workflow_put(store *st, fs_workflow *w, int64_t now);
int sqs_workflow_get(store *st, const char *name, int version, fs_workflow *out);
int sqs_workflow_list(store *st, fs_workflow **out, size_t *n);
int sqs_run_commit(store *st, store_run_change *c, size_t n,
                   const int64_t *signals_done, size_t nsignals, int64_t now);
int sqs_run_get(store *st, int64_t id, fs_run *out, fs_run_task **tasks,
                size_t *ntasks);
int sqs_run_list(store *st, const store_run_filter *f, fs_run **out, size_t *n);
int sqs_run_events(store *st, int64_t run_id, int64_t after_seq, int limit,
                   fs_run_event **out, size_t *n);
int sqs_job_signals(store *st, int64_t after_id, int limit,
                    store_job_signal **out, size_t *n);

/* store_sqlite_sched.c: the schedule ops of store.h. */
int sqs_schedule_put(store *st, fs_schedule *s, int64_t now, bool *existed);
int sqs_schedule_get(store *st, const char *name, fs_schedule *out);
int sqs_schedule_list(store *st, fs_schedule **out, size_t *n);
int sqs_schedule_delete(store *st, const char *name);
int sqs_schedule_fire(store *st, const char *name, int64_t fire_at,
                      fs_job *job, int64_t now, bool *fired);

/* The origin id of the handle's writes (doc_changes). */
const char *sqs_origin(store *st);

/* store_sqlite_dump.c: the whole-database copy ops of store.h. */
int sqs_dump_tables(store *st, store_table_rows **out, size_t *n);
int sqs_dump_rows(store *st, const store_table *t, const store_rows *after,
                  int limit, store_rows *out);
int sqs_load_rows(store *st, const store_table *t, const store_rows *rows);

/* store_sqlite_evo.c: the evolution log and document change log ops. */
int sqs_doc_changes(store *st, int64_t after, int limit, store_doc_change **out,
                    size_t *n, int64_t *head);
int sqs_doc_changes_prune(store *st, int64_t before, size_t *n);
int sqs_evolution_add(store *st, fs_evolution *e, int64_t now);
int sqs_evolution_get(store *st, int64_t id, fs_evolution *out);
int sqs_evolution_list(store *st, const store_evolution_filter *f,
                       fs_evolution **out, size_t *n);
int sqs_evolution_update(store *st, fs_evolution *e, int64_t now);

#endif
