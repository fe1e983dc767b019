/*
 * store.h - the storage interface: every byte Flowstate keeps goes through it.
 *
 * A store is a struct of function pointers (store_ops) behind an opaque
 * handle, one backend per file: store_sqlite.c, store_pg.c.  All
 * SQL lives in the backends; services call the store_* wrappers below and
 * never see a statement.  Store tests run against any backend.
 *
 * Rules every backend keeps:
 *  - Each call is one atomic transaction: it happens whole or not at all.
 *  - A call that returns 0 for a write has made it durable (per the
 *    configured sync mode) before returning.
 *  - Time is never read inside a backend: callers pass `now` (ms), so
 *    tests can drive time by hand.
 *  - Calls are thread-safe; backends serialise writes as they need.
 *  - OUT records are owned by the caller (free with the model.h helpers).
 *    Input strings are borrowed for the duration of the call.
 *
 * Job state transitions made here (the queue service documents the
 * whole machine in queue.h):
 *   enqueue:  -> pending (run_at <= now) | scheduled (run_at > now)
 *   promote:  scheduled -> pending            when run_at <= now
 *   lease:    pending -> running              attempts+1, new lease token
 *   heartbeat:running -> running              lease_expires extended
 *   complete: running -> completed            token must match
 *   fail:     running -> scheduled (backoff)  retry && attempts < max
 *             running -> failed               otherwise (dead letter)
 *   rescue:   running -> pending | failed     lease expired (attempts left?)
 *   cancel:   pending|scheduled|running -> cancelled
 *   retry:    failed|cancelled -> pending     attempts reset to 0
 *   prune:    completed|cancelled older than a cut-off -> deleted
 */
#ifndef STORE_H
#define STORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/backoff.h"
#include "core/model.h"

typedef struct store store;

typedef struct store_options {
    bool sync_normal;      /* opt-in synchronous=NORMAL; default FULL */
    int busy_timeout_ms;   /* 0 = 5000 */
} store_options;

typedef struct store_job_filter {
    int state;                /* a job_state, or -1 for any */
    const char *type;         /* NULL = any */
    const char *target_agent; /* NULL = any */
    int64_t parent_id;        /* 0 = any */
    int64_t before_id;        /* cursor: only ids < this; 0 = from newest */
    int limit;                /* 1..1000 */
} store_job_filter;

typedef struct store_lease {
    const char *agent_id;     /* lease owner; may be NULL for anonymous */
    const char *agent_type;   /* jobs targeted at this type ... */
    /* ... or at agent_id itself. At least one of the two is set. */
    const char *const *types; /* job types accepted; ntypes 0 = any */
    size_t ntypes;
    int max;                  /* 1..1000 */
    int64_t lease_ms;         /* 0 = each job's own timeout_ms */
} store_lease;

typedef struct store_completion {
    int64_t id;
    const char *lease_token;
    const char *result;       /* JSON text, may be NULL */
    int rc;                   /* OUT: 0, FS_ENOTFOUND or FS_ELEASE */
    int64_t started_at;       /* OUT: when the lease began (rc == 0) */
} store_completion;

typedef struct store_stat {
    char *type;
    job_state state;
    int64_t count;
    int64_t oldest_run_at;    /* min(run_at) of the group */
} store_stat;

void store_stats_free(store_stat *rows, size_t n);

typedef struct store_doc_filter {
    const char *agent;            /* NULL = any */
    const char *kind;             /* NULL = any */
    const char *const *tags;      /* every one must be present; 0 = any */
    size_t ntags;
    const char *const *meta_keys; /* metadata key = value (text form), all */
    const char *const *meta_values;
    size_t nmeta;
    int64_t since, until;         /* created_at in [since, until); 0 = open */
    bool with_chunks;             /* false: top-level documents only */
    int64_t parent_id;            /* only the chunks of this document; 0 = any */
    int64_t before_id;            /* cursor: ids < this; 0 = from newest */
    int limit;                    /* 1..1000 */
} store_doc_filter;

typedef struct store_hit {
    int64_t id;
    double score; /* higher is better */
} store_hit;

/* One run's part of a workflow commit (store_run_commit). */
typedef struct store_run_change {
    fs_run *run;            /* id 0: a new run (OUT: id, rev 1); else written
                               only if run->rev is the stored rev (OUT: rev+1) */
    fs_run_task *tasks;     /* upserted by (run, step, item); job_ref >= 0
                               takes the id of jobs[job_ref] */
    size_t ntasks;
    fs_run_event *events;   /* appended in order (OUT: run_id, seq) */
    size_t nevents;
    fs_job *jobs;           /* enqueued with run_id = the run (OUT: as
                               store_job_enqueue) */
    size_t njobs;
    const int64_t *cancel;  /* jobs to cancel if not finished yet */
    size_t ncancel;
} store_run_change;

typedef struct store_run_filter {
    const char *workflow;   /* NULL = any */
    int state;              /* a run_state, or -1 for any */
    int64_t before_id;      /* cursor: ids < this; 0 = from newest */
    int limit;              /* 1..1001 (a page and one more) */
} store_run_filter;

/* A state change of a workflow job, waiting for the engine: the trigger on
 * jobs writes one row per change of a job with a run_id, in the same
 * transaction as the change. */
typedef struct store_job_signal {
    int64_t id;             /* the signal row (ascending) */
    int64_t run_id;
    fs_job job;             /* the job as it is now (payload not loaded) */
} store_job_signal;

void store_job_signals_free(store_job_signal *s, size_t n);

/* A write of a document's vectors (see store_doc_changes). */
typedef struct store_doc_change {
    int64_t seq;     /* ascending */
    int64_t doc_id;
    bool deleted;    /* removed (else added, or its content changed) */
} store_doc_change;

typedef struct store_evolution_filter {
    const char *status;     /* NULL = any */
    const char *type;       /* NULL = any */
    const char *component;  /* NULL = any */
    int64_t before_id;      /* cursor: ids < this; 0 = from newest */
    int limit;              /* 1..1001 */
} store_evolution_filter;

/*
 * What `flowstate migrate` copies (the wrappers at the end of this file).
 * Every backend describes its tables alike: one logical schema, so rows
 * dumped from one backend load into any other.  columns: the names in
 * dump order, comma-separated; types: one letter per column:
 *   'i' integer (int64; booleans as 0/1)   't' text (UTF-8, no NUL byte)
 *   'r' real (double)                      'b' bytes (embeddings, hashes)
 * The first nkey columns are the key, and rows come out in key order:
 * numbers by value, text and bytes byte by byte, the same order on every
 * backend.  seeded: a new database already holds rows here, which a load
 * replaces and which do not make a database non-empty (memory_settings:
 * the epoch; sequences: one row per id counter).
 */
typedef struct store_table {
    const char *name;
    const char *columns;
    const char *types;
    int nkey;
    bool seeded;
} store_table;

/* A table of the catalogue, and how many rows it holds. */
typedef struct store_table_rows {
    const store_table *table; /* static: lives as long as the program */
    int64_t rows;
} store_table_rows;

/* One value of a dumped row; the column's type says which member holds
 * it.  p is owned by the store_rows holding the cell. */
typedef struct store_cell {
    bool null;
    int64_t i;    /* 'i' */
    double r;     /* 'r' */
    char *p;      /* 't' (NUL-terminated) and 'b' (may be NULL when len 0) */
    size_t len;   /* 't' and 'b': bytes */
} store_cell;

/* n rows of ncols cells, row after row: row k, column j is
 * cells[k * ncols + j].  Free with store_rows_free. */
typedef struct store_rows {
    size_t ncols, n;
    store_cell *cells;
} store_rows;

typedef struct store_ops {
    const char *name;
    void (*close)(store *st);

    int (*job_enqueue)(store *st, fs_job *jobs, size_t n, int64_t now,
                       bool *existed);
    int (*job_get)(store *st, int64_t id, fs_job *out);
    int (*job_list)(store *st, const store_job_filter *f, fs_job **out,
                    size_t *n);
    int (*job_lease)(store *st, const store_lease *req, int64_t now,
                     fs_job **out, size_t *n);
    int (*job_heartbeat)(store *st, int64_t id, const char *token,
                         int64_t lease_ms, int64_t now, int64_t *expires);
    int (*job_complete)(store *st, store_completion *items, size_t n,
                        int64_t now);
    int (*job_fail)(store *st, int64_t id, const char *token,
                    const char *error, bool retry, const fs_backoff *bo,
                    int64_t now, fs_job *out);
    int (*job_cancel)(store *st, int64_t id, int64_t now, fs_job *out);
    int (*job_retry)(store *st, int64_t id, int64_t now, fs_job *out);
    int (*job_promote)(store *st, int64_t now, size_t *n);
    int (*job_rescue)(store *st, int64_t now, size_t *n);
    int (*job_prune)(store *st, int64_t before, size_t *n);
    int (*job_next_due)(store *st, int64_t *next_run_at,
                        int64_t *next_expiry);
    int (*job_stats)(store *st, store_stat **rows, size_t *n);
    int (*jobs_wait)(store *st, int64_t *mark, int timeout_ms, bool *woke);

    int (*agent_create)(store *st, const fs_agent *a, const char *token_hash);
    int (*agent_get)(store *st, const char *id, fs_agent *out);
    int (*agent_by_token)(store *st, const char *token_hash, fs_agent *out);
    int (*agent_list)(store *st, fs_agent **out, size_t *n);
    int (*agent_heartbeat)(store *st, const char *id, int64_t now);
    int (*state_get)(store *st, const char *agent_id, int64_t version,
                     fs_agent_state *out);
    int (*state_put)(store *st, const char *agent_id, const char *json,
                     int64_t expected_version, int64_t now,
                     fs_agent_state *out);
    int (*state_versions)(store *st, const char *agent_id,
                          fs_agent_state **out, size_t *n);

    int (*key_add)(store *st, const char *name, const char *hash,
                   const char *role, int64_t now);
    int (*key_lookup)(store *st, const char *hash, char **role);
    int (*key_count)(store *st, const char *role, int64_t *n);

    int (*doc_add)(store *st, fs_doc *docs, size_t n, int64_t now);
    int (*doc_get)(store *st, int64_t id, bool with_embedding, fs_doc *out);
    int (*doc_update)(store *st, const fs_doc *d, bool content, fs_doc *chunks,
                      size_t n, int64_t now, int64_t **removed,
                      size_t *nremoved);
    int (*doc_delete)(store *st, int64_t id, int64_t **ids, size_t *n);
    int (*doc_list)(store *st, const store_doc_filter *f, bool with_embedding,
                    fs_doc **out, size_t *n);
    int (*memory_epoch)(store *st, int64_t *epoch);
    int (*setting_init)(store *st, const char *key, const char *value,
                        char **stored);
    int (*doc_text_search)(store *st, const char *query,
                           const store_doc_filter *f, store_hit **out,
                           size_t *n);
    int (*term_stats)(store *st, const char *term, int64_t *df,
                      int64_t *ndocs);
    int (*cache_get)(store *st, const char *embedder,
                     const uint8_t (*hashes)[32], size_t n, size_t dims,
                     float *out, bool *found);
    int (*cache_put)(store *st, const char *embedder,
                     const uint8_t (*hashes)[32], size_t n, size_t dims,
                     const float *vecs, int64_t now);

    int (*workflow_put)(store *st, fs_workflow *w, int64_t now);
    int (*workflow_get)(store *st, const char *name, int version,
                        fs_workflow *out);
    int (*workflow_list)(store *st, fs_workflow **out, size_t *n);
    int (*run_commit)(store *st, store_run_change *c, size_t n,
                      const int64_t *signals_done, size_t nsignals,
                      int64_t now);
    int (*run_get)(store *st, int64_t id, fs_run *out, fs_run_task **tasks,
                   size_t *ntasks);
    int (*run_list)(store *st, const store_run_filter *f, fs_run **out,
                    size_t *n);
    int (*run_events)(store *st, int64_t run_id, int64_t after_seq,
                      int limit, fs_run_event **out, size_t *n);
    int (*job_signals)(store *st, int64_t after_id, int limit,
                       store_job_signal **out, size_t *n);

    int (*schedule_put)(store *st, fs_schedule *s, int64_t now,
                        bool *existed);
    int (*schedule_get)(store *st, const char *name, fs_schedule *out);
    int (*schedule_list)(store *st, fs_schedule **out, size_t *n);
    int (*schedule_delete)(store *st, const char *name);
    int (*schedule_fire)(store *st, const char *name, int64_t fire_at,
                         fs_job *job, int64_t now, bool *fired);

    int (*doc_changes)(store *st, int64_t after, int limit,
                       store_doc_change **out, size_t *n, int64_t *head);
    int (*doc_changes_prune)(store *st, int64_t before, size_t *n);

    int (*evolution_add)(store *st, fs_evolution *e, int64_t now);
    int (*evolution_get)(store *st, int64_t id, fs_evolution *out);
    int (*evolution_list)(store *st, const store_evolution_filter *f,
                          fs_evolution **out, size_t *n);
    int (*evolution_update)(store *st, fs_evolution *e, int64_t now);

    int (*dump_tables)(store *st, store_table_rows **out, size_t *n);
    int (*dump_rows)(store *st, const store_table *t, const store_rows *after,
                     int limit, store_rows *out);
    int (*load_rows)(store *st, const store_table *t, const store_rows *rows);
} store_ops;

/* Every backend's handle starts with this. */
struct store {
    const store_ops *ops;
};

/*
 * Opens the store named by url and applies pending schema migrations.
 * url: "sqlite:PATH", "file:PATH" or a plain PATH -> SQLite;
 *      "postgres://..." / "postgresql://..." -> PostgreSQL (a libpq
 *      connection URI; the database must exist, the user needs to create
 *      tables in it the first time).
 * Errors: FS_EINVAL (unknown scheme), FS_EIO (cannot open or migrate).
 * OUT: *out, closed with store_close().
 */
int store_open(store **out, const char *url, const store_options *opt);
void store_close(store *st);
const char *store_backend(const store *st);

/* For the backends: the argument checks they share, so both refuse the
 * same input the same way.  FS_EINVAL for what the schema would refuse
 * less clearly (a run change without its run, a task naming a job out of
 * range, an event or a job missing a required field). */
int store_run_change_check(const store_run_change *ch);
/* Every field store_evolution_add/update needs is there. */
bool store_evolution_complete(const fs_evolution *e);
/* The unique key of a schedule's fire: "cron:NAME:FIRE_AT" (caller frees). */
char *store_cron_key(const char *name, int64_t fire_at);

/* Backend constructors, called by store_open. */
int store_sqlite_open(store **out, const char *path, const store_options *opt);
int store_pg_open(store **out, const char *url, const store_options *opt);

/* --- Jobs ------------------------------------------------------------- */

/*
 * Inserts n jobs atomically.  In: type, target_agent, payload (NULL = "{}"),
 * priority, run_at (0 = now), max_attempts, timeout_ms, unique_key,
 * parent_id.  OUT: each job's id, state, attempts, created_at/updated_at.
 * When a unique_key already exists, jobs[i] is replaced by the stored job
 * and existed[i] set (existed may be NULL).  Errors: FS_EIO.
 */
static inline int store_job_enqueue(store *st, fs_job *jobs, size_t n,
                                    int64_t now, bool *existed)
{ return st->ops->job_enqueue(st, jobs, n, now, existed); }

/* Errors: FS_ENOTFOUND. */
static inline int store_job_get(store *st, int64_t id, fs_job *out)
{ return st->ops->job_get(st, id, out); }

/* Newest first (id descending).  OUT: *out array of *n jobs. */
static inline int store_job_list(store *st, const store_job_filter *f,
                                 fs_job **out, size_t *n)
{ return st->ops->job_list(st, f, out, n); }

/*
 * Promotes due scheduled jobs, then leases up to req->max pending jobs for
 * the agent: highest priority first, then earliest run_at, then lowest id.
 * Each leased job gets attempts+1, a fresh lease_token, lease_owner and
 * lease_expires.  Also records an agent heartbeat for req->agent_id.
 * OUT: *out (may be empty, *n = 0).
 */
static inline int store_job_lease(store *st, const store_lease *req,
                                  int64_t now, fs_job **out, size_t *n)
{ return st->ops->job_lease(st, req, now, out, n); }

/* Extends a lease to now + lease_ms (0 = job's timeout_ms).
 * Errors: FS_ENOTFOUND, FS_ELEASE (not running, or not this token). */
static inline int store_job_heartbeat(store *st, int64_t id, const char *token,
                                      int64_t lease_ms, int64_t now,
                                      int64_t *expires)
{ return st->ops->job_heartbeat(st, id, token, lease_ms, now, expires); }

/* Completes a batch; each item's rc says how it went.  Returns 0 when the
 * batch was committed (even if some items failed), or FS_EIO. */
static inline int store_job_complete(store *st, store_completion *items,
                                     size_t n, int64_t now)
{ return st->ops->job_complete(st, items, n, now); }

/* Fails a running job: retry with backoff or dead-letter (see top).
 * Errors: FS_ENOTFOUND, FS_ELEASE.  out may be NULL. */
static inline int store_job_fail(store *st, int64_t id, const char *token,
                                 const char *error, bool retry,
                                 const fs_backoff *bo, int64_t now, fs_job *out)
{ return st->ops->job_fail(st, id, token, error, retry, bo, now, out); }

/* Errors: FS_ENOTFOUND, FS_ESTATE (already finished).  out may be NULL. */
static inline int store_job_cancel(store *st, int64_t id, int64_t now,
                                   fs_job *out)
{ return st->ops->job_cancel(st, id, now, out); }

/* Re-queues a failed or cancelled job with attempts reset.
 * Errors: FS_ENOTFOUND, FS_ESTATE.  out may be NULL. */
static inline int store_job_retry(store *st, int64_t id, int64_t now,
                                  fs_job *out)
{ return st->ops->job_retry(st, id, now, out); }

/* scheduled -> pending for run_at <= now.  OUT: *n promoted. */
static inline int store_job_promote(store *st, int64_t now, size_t *n)
{ return st->ops->job_promote(st, now, n); }

/* Expired leases (lease_expires < now): back to pending, or failed when no
 * attempts are left; last_error = "lease expired".  OUT: *n rescued. */
static inline int store_job_rescue(store *st, int64_t now, size_t *n)
{ return st->ops->job_rescue(st, now, n); }

/* Deletes completed and cancelled jobs finished before `before`. */
static inline int store_job_prune(store *st, int64_t before, size_t *n)
{ return st->ops->job_prune(st, before, n); }

/* OUT: earliest run_at of scheduled jobs and earliest lease expiry of
 * running jobs; 0 when there is none. */
static inline int store_job_next_due(store *st, int64_t *next_run_at,
                                     int64_t *next_expiry)
{ return st->ops->job_next_due(st, next_run_at, next_expiry); }

/* One row per (type, state) with its count and oldest run_at. */
static inline int store_job_stats(store *st, store_stat **rows, size_t *n)
{ return st->ops->job_stats(st, rows, n); }

/* --- Agents and their versioned state ---------------------------------- */

/* In: id, name, type, job_types, metadata, created_at, last_heartbeat.
 * token_hash is the hex SHA-256 of the agent's token.  FS_ECONFLICT on a
 * duplicate id. */
static inline int store_agent_create(store *st, const fs_agent *a,
                                     const char *token_hash)
{ return st->ops->agent_create(st, a, token_hash); }

static inline int store_agent_get(store *st, const char *id, fs_agent *out)
{ return st->ops->agent_get(st, id, out); }

static inline int store_agent_by_token(store *st, const char *token_hash,
                                       fs_agent *out)
{ return st->ops->agent_by_token(st, token_hash, out); }

/* Oldest first. */
static inline int store_agent_list(store *st, fs_agent **out, size_t *n)
{ return st->ops->agent_list(st, out, n); }

static inline int store_agent_heartbeat(store *st, const char *id, int64_t now)
{ return st->ops->agent_heartbeat(st, id, now); }

/* version 0 = latest.  FS_ENOTFOUND when the agent or version is absent
 * (an agent with no state yet has no latest version). */
static inline int store_state_get(store *st, const char *agent_id,
                                  int64_t version, fs_agent_state *out)
{ return st->ops->state_get(st, agent_id, version, out); }

/* Appends version latest+1 holding json.  expected_version -1 = no check;
 * otherwise it must equal the latest version (0 when none yet) or the
 * call fails with FS_ECONFLICT.  FS_ENOTFOUND for an unknown agent. */
static inline int store_state_put(store *st, const char *agent_id,
                                  const char *json, int64_t expected_version,
                                  int64_t now, fs_agent_state *out)
{ return st->ops->state_put(st, agent_id, json, expected_version, now, out); }

/* All versions, oldest first (state included). */
static inline int store_state_versions(store *st, const char *agent_id,
                                       fs_agent_state **out, size_t *n)
{ return st->ops->state_versions(st, agent_id, out, n); }

/* --- API keys (stored as hex SHA-256) ---------------------------------- */

static inline int store_key_add(store *st, const char *name, const char *hash,
                                const char *role, int64_t now)
{ return st->ops->key_add(st, name, hash, role, now); }

/* OUT: *role (caller frees).  FS_ENOTFOUND when unknown. */
static inline int store_key_lookup(store *st, const char *hash, char **role)
{ return st->ops->key_lookup(st, hash, role); }

static inline int store_key_count(store *st, const char *role, int64_t *n)
{ return st->ops->key_count(st, role, n); }

/* --- Memory documents --------------------------------------------------- */

/*
 * Inserts n documents atomically and bumps the memory epoch.  In: every
 * field but id/created_at/updated_at; a chunk names its parent by
 * parent_id, or by parent_ref (an earlier index in the same batch).
 * OUT: ids and times.  Errors: FS_EINVAL (bad parent_ref), FS_EIO.
 */
static inline int store_doc_add(store *st, fs_doc *docs, size_t n, int64_t now)
{ return st->ops->doc_add(st, docs, n, now); }

/* Errors: FS_ENOTFOUND. */
static inline int store_doc_get(store *st, int64_t id, bool with_embedding,
                                fs_doc *out)
{ return st->ops->doc_get(st, id, with_embedding, out); }

/*
 * Updates document d->id: kind, agent, metadata, tags and importance from
 * d; when content is true also its content, embedding and embedder, and
 * its chunks are replaced by chunks[0..n) (their parent_id is set here),
 * bumping the epoch.  One transaction.  OUT: *removed (caller frees), the
 * ids of the chunks dropped; chunks[i].id.  Errors: FS_ENOTFOUND.
 */
static inline int store_doc_update(store *st, const fs_doc *d, bool content,
                                   fs_doc *chunks, size_t n, int64_t now,
                                   int64_t **removed, size_t *nremoved)
{ return st->ops->doc_update(st, d, content, chunks, n, now, removed, nremoved); }

/* Deletes a document with its chunks and bumps the epoch.  OUT: the ids
 * removed (caller frees), so every index can drop them.  FS_ENOTFOUND. */
static inline int store_doc_delete(store *st, int64_t id, int64_t **ids,
                                   size_t *n)
{ return st->ops->doc_delete(st, id, ids, n); }

/* Newest first.  Errors: FS_EINVAL (a metadata key holding '"' or '\'). */
static inline int store_doc_list(store *st, const store_doc_filter *f,
                                 bool with_embedding, fs_doc **out, size_t *n)
{ return st->ops->doc_list(st, f, with_embedding, out, n); }

/* A counter bumped by every document write: an index built at epoch E
 * covers the store exactly while the epoch is still E. */
static inline int store_memory_epoch(store *st, int64_t *epoch)
{ return st->ops->memory_epoch(st, epoch); }

/*
 * The change log of document vectors.  Every add, content update and
 * delete of a document (chunks included) appends one row per document in
 * the same transaction, tagged with the store handle that wrote it; a
 * memory index in another process catches up by reading the rows after
 * the last it saw.  Rows with seq > after, at most limit read, of which
 * OUT: *out (caller frees) those other handles wrote, *n, and *head the
 * seq read up to (after when none).  limit 0: no rows, *head = the
 * newest seq.  Errors: FS_EINVAL (limit outside 0..10000), FS_EIO.
 */
static inline int store_doc_changes(store *st, int64_t after, int limit,
                                    store_doc_change **out, size_t *n,
                                    int64_t *head)
{ return st->ops->doc_changes(st, after, limit, out, n, head); }

/* Drops the change rows written before `before` (ms).  OUT: *n dropped. */
static inline int store_doc_changes_prune(store *st, int64_t before, size_t *n)
{ return st->ops->doc_changes_prune(st, before, n); }

/* BM25 over document content: the query's words (text.h) OR-ed, ranked
 * best first, filtered by f (f->limit results at most; f->before_id is
 * ignored by callers that rank).  OUT: *out (caller frees), *n. */
static inline int store_doc_text_search(store *st, const char *query,
                                        const store_doc_filter *f,
                                        store_hit **out, size_t *n)
{ return st->ops->doc_text_search(st, query, f, out, n); }

/* How many documents contain the stemmed term (term NULL: skip; *df 0),
 * and how many documents there are (ndocs NULL: skip, as counting reads
 * the whole table).  df may be NULL too. */
static inline int store_term_stats(store *st, const char *term, int64_t *df,
                                   int64_t *ndocs)
{ return st->ops->term_stats(st, term, df, ndocs); }

/* Embedding cache, keyed by (embedder "name:version", SHA-256 of the
 * text).  get fills out[i * dims ...] and found[i] for each hit (a stored
 * vector of another length counts as a miss); put keeps the first vector
 * stored for a key. */
static inline int store_cache_get(store *st, const char *embedder,
                                  const uint8_t (*hashes)[32], size_t n,
                                  size_t dims, float *out, bool *found)
{ return st->ops->cache_get(st, embedder, hashes, n, dims, out, found); }

static inline int store_cache_put(store *st, const char *embedder,
                                  const uint8_t (*hashes)[32], size_t n,
                                  size_t dims, const float *vecs, int64_t now)
{ return st->ops->cache_put(st, embedder, hashes, n, dims, vecs, now); }

/* Stores key = value unless key is set already.  OUT: *stored, the value in
 * force (caller frees), so a caller can refuse a mismatch. */
static inline int store_setting_init(store *st, const char *key,
                                     const char *value, char **stored)
{ return st->ops->setting_init(st, key, value, stored); }

/* --- Workflows and their runs ------------------------------------------ */

/* Registers a definition under (w->name, w->version).  Registering the same
 * definition again is a no-op (OUT: the stored record's created_at);
 * another definition under a taken version is FS_ECONFLICT. */
static inline int store_workflow_put(store *st, fs_workflow *w, int64_t now)
{ return st->ops->workflow_put(st, w, now); }

/* version 0 = the latest.  Errors: FS_ENOTFOUND. */
static inline int store_workflow_get(store *st, const char *name, int version,
                                     fs_workflow *out)
{ return st->ops->workflow_get(st, name, version, out); }

/* The latest version of every workflow, by name. */
static inline int store_workflow_list(store *st, fs_workflow **out, size_t *n)
{ return st->ops->workflow_list(st, out, n); }

/*
 * One atomic workflow transition over n runs: each change's run row is
 * inserted or updated (optimistic: a stored rev other than run->rev fails
 * the whole commit with FS_ECONFLICT and writes nothing), its tasks
 * upserted, events appended, jobs enqueued (pending or scheduled by
 * run_at, with run_id set) and jobs in `cancel` cancelled; the given job
 * signals are deleted.  An update keeps the run's workflow and version,
 * and its inputs when run->inputs is NULL; an event's at 0 means now.
 * Cancelling a job of a run signals it like any other state change.
 * n may be 0 to delete signals only.  Errors: FS_EINVAL (nothing to do,
 * a NULL run, a new run without workflow, a job_ref out of range, an
 * event without type, a job without type or target), FS_ECONFLICT (also
 * for an unknown run id), FS_EIO.  After an error nothing is stored and
 * no OUT field of c may be used.
 */
static inline int store_run_commit(store *st, store_run_change *c, size_t n,
                                   const int64_t *signals_done,
                                   size_t nsignals, int64_t now)
{ return st->ops->run_commit(st, c, n, signals_done, nsignals, now); }

/* A run and (tasks not NULL) its tasks ordered by (step, item).
 * Errors: FS_ENOTFOUND. */
static inline int store_run_get(store *st, int64_t id, fs_run *out,
                                fs_run_task **tasks, size_t *ntasks)
{ return st->ops->run_get(st, id, out, tasks, ntasks); }

/* Newest first. */
static inline int store_run_list(store *st, const store_run_filter *f,
                                 fs_run **out, size_t *n)
{ return st->ops->run_list(st, f, out, n); }

/* Events with seq > after_seq, oldest first, at most limit (1..10000). */
static inline int store_run_events(store *st, int64_t run_id,
                                   int64_t after_seq, int limit,
                                   fs_run_event **out, size_t *n)
{ return st->ops->run_events(st, run_id, after_seq, limit, out, n); }

/* Pending job signals with id > after_id, oldest first, at most limit
 * (1..10000).  A signal whose job was pruned since has job.id 0.
 * OUT: *out, freed with store_job_signals_free. */
static inline int store_job_signals(store *st, int64_t after_id, int limit,
                                    store_job_signal **out, size_t *n)
{ return st->ops->job_signals(st, after_id, limit, out, n); }

/*
 * Waits up to timeout_ms (1..10000) for jobs to be added by any process
 * since *mark, the backend's position (0: none yet; the first call only
 * takes one, *woke false).  *woke says whether jobs may have been added
 * (then *mark moved).  SQLite checks the newest job id every 50 ms;
 * PostgreSQL waits for a NOTIFY on channel flowstate_jobs, sent once per
 * INSERT statement on jobs (a batch enqueue is one notification, and a
 * transaction's are folded into one), on a connection of its own: one
 * caller at a time.  Errors: FS_EINVAL, FS_EIO (after the timeout: the
 * caller may simply call again).
 */
static inline int store_jobs_wait(store *st, int64_t *mark, int timeout_ms,
                                  bool *woke)
{ return st->ops->jobs_wait(st, mark, timeout_ms, woke); }

/* --- Schedules (periodic jobs; the scheduler is queue/sched.h) ---------- */

/*
 * Stores s->name's definition (cron, job, enabled), inserting it or
 * replacing the one stored: a replacement keeps last_fire and created_at.
 * updated_at becomes now (the scheduler fires only times after it).
 * OUT: s->last_fire, created_at, updated_at; *existed (may be NULL): a
 * definition was replaced.  Errors: FS_EINVAL (a NULL field), FS_EIO.
 */
static inline int store_schedule_put(store *st, fs_schedule *s, int64_t now,
                                     bool *existed)
{ return st->ops->schedule_put(st, s, now, existed); }

/* Errors: FS_ENOTFOUND. */
static inline int store_schedule_get(store *st, const char *name,
                                     fs_schedule *out)
{ return st->ops->schedule_get(st, name, out); }

/* Every schedule, by name.  OUT: *out (fs_schedules_free), *n. */
static inline int store_schedule_list(store *st, fs_schedule **out, size_t *n)
{ return st->ops->schedule_list(st, out, n); }

/* Errors: FS_ENOTFOUND.  Jobs it enqueued stay. */
static inline int store_schedule_delete(store *st, const char *name)
{ return st->ops->schedule_delete(st, name); }

/*
 * Fires schedule `name` at fire_at, in one transaction: when it is enabled
 * and its last_fire < fire_at, enqueues *job (as store_job_enqueue) with
 * unique_key "cron:NAME:FIRE_AT" and sets last_fire = fire_at (updated_at
 * stays).  Two processes firing the same instant therefore enqueue one
 * job: the second finds last_fire moved, or failing that the key taken.
 * job->unique_key is replaced by that key first.  OUT: *fired, a new job
 * was enqueued (then *job is it, with its id); false when the schedule is
 * disabled, already fired at or after fire_at, or its job existed.
 * Errors: FS_ENOTFOUND (no such schedule), FS_EINVAL, FS_EIO.
 */
static inline int store_schedule_fire(store *st, const char *name,
                                      int64_t fire_at, fs_job *job,
                                      int64_t now, bool *fired)
{ return st->ops->schedule_fire(st, name, fire_at, job, now, fired); }

/* --- The evolution log (evolution/evolution.h) -------------------------- */

/*
 * Appends an entry.  In: type, component, description, proposed_by,
 * status, data (JSON text), applied_at.  OUT: e->id, e->rev = 1,
 * created_at = updated_at = now.  Errors: FS_EINVAL (a field missing),
 * FS_EIO.
 */
static inline int store_evolution_add(store *st, fs_evolution *e, int64_t now)
{ return st->ops->evolution_add(st, e, now); }

/* Errors: FS_ENOTFOUND.  OUT: *out (fs_evolution_clear). */
static inline int store_evolution_get(store *st, int64_t id, fs_evolution *out)
{ return st->ops->evolution_get(st, id, out); }

/* Entries matching f, newest (highest id) first.  OUT: *out
 * (fs_evolutions_free), *n. */
static inline int store_evolution_list(store *st,
                                       const store_evolution_filter *f,
                                       fs_evolution **out, size_t *n)
{ return st->ops->evolution_list(st, f, out, n); }

/*
 * Writes e's status, description, data and applied_at if the stored rev
 * is still e->rev; then e->rev is one more and updated_at = now.  Errors:
 * FS_ECONFLICT (someone updated it first: read it again), FS_ENOTFOUND.
 */
static inline int store_evolution_update(store *st, fs_evolution *e,
                                         int64_t now)
{ return st->ops->evolution_update(st, e, now); }

/* --- Whole-database copy (flowstate migrate) ---------------------------- */

/*
 * The tables a copy moves, in the order to load them (a row's references
 * come before it), each with its row count now.  The catalogue is the
 * logical schema of store_table: the same on every backend at one schema
 * version, and it covers every record table.  Derived data is not in it:
 * a backend rebuilds it as rows load (SQLite's FTS index, PostgreSQL's
 * tsvector and document totals), and schema_migrations and the document
 * change log belong to each database.  "sequences" is not a table but
 * the id counters (table_name, last_id: the last id handed out, 0 when
 * none), loaded last, so a copy never hands out an id its source did.
 * Errors: FS_ECORRUPT (the database holds a table or a column the
 * catalogue does not know: copying would drop it; logged), FS_EIO.
 * OUT: *out (free()), *n.
 */
static inline int store_dump_tables(store *st, store_table_rows **out,
                                    size_t *n)
{ return st->ops->dump_tables(st, out, n); }

/*
 * Reads up to limit (1..10000) rows of table t (one of this backend's
 * catalogue, or one with the same name) in key order: the first ones when
 * after is NULL or empty, else those whose key comes after the key of
 * after's last row (after: the previous page).  Fewer than limit rows:
 * the table is done.  Values come as stored, byte for byte.  Errors:
 * FS_EINVAL (unknown table, bad limit, after of other columns),
 * FS_ECORRUPT (a stored value is not of its column's type), FS_EIO.
 * OUT: *out (store_rows_free), empty on error.
 */
static inline int store_dump_rows(store *st, const store_table *t,
                                  const store_rows *after, int limit,
                                  store_rows *out)
{ return st->ops->dump_rows(st, t, after, limit, out); }

/*
 * Inserts rows (as store_dump_rows gives them: keys, times, states and
 * bytes as they are) into table t, in one transaction, building the
 * derived data on the way.  A key already present fails the whole call
 * with FS_ECONFLICT, except in a seeded table, where the row is
 * replaced; loading "sequences" sets each counter (never below the
 * largest id its table holds).  Errors: FS_EINVAL (unknown table, rows
 * of other columns, a NULL where none may be, a reference to a missing
 * row, an unknown counter), FS_ECONFLICT, FS_EIO.
 */
static inline int store_load_rows(store *st, const store_table *t,
                                  const store_rows *rows)
{ return st->ops->load_rows(st, t, rows); }

/* Frees the cells of r and empties it. */
static inline void store_rows_free(store_rows *r)
{
    for (size_t k = 0; k < r->n * r->ncols; k++) free(r->cells[k].p);
    free(r->cells);
    *r = (store_rows){ 0 };
}

#endif
