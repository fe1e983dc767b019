/*
 * queue.h - the durable job queue service (the blueprint's JobProcessorService).
 *
 * The queue owns the rules of a job's life; the store owns the bytes.  It
 * validates and defaults new jobs, computes retry backoff, wakes idle
 * workers the moment work arrives, and runs a ticker that promotes
 * scheduled jobs, rescues expired leases and prunes old finished jobs.
 *
 *                    queue_enqueue (run_at > now)
 *        +------------------------------------------------+
 *        |                                                v
 *   queue_enqueue          queue_lease              +-----------+
 *   ------------> PENDING ------------> RUNNING     | SCHEDULED |
 *                  ^  ^  <--------------   |  |     +-----------+
 *                  |  |  tick: rescue      |  |  queue_fail  ^  |
 *                  |  |  (lease expired,   |  |  (retry,     |  |
 *                  |  |   attempts left)   |  |  attempts    |  |
 *                  |  |                    |  |  left) ------+  |
 *                  |  +--------------------|--|-----------------+
 *                  |     tick: promote     |  |   (run_at reached)
 *   queue_retry    |      queue_complete   |  |  queue_fail (no retry or
 *   (attempts=0)   |   +-------------------+  |  no attempts left),
 *                  |   v                      v  tick: rescue (none left)
 *             +-----------+           +--------+
 *             | COMPLETED |           | FAILED | (dead letter, kept)
 *             +-----------+           +--------+
 *                  | tick: prune          |  ^ queue_retry
 *                  v (retention)          +--+---------------+
 *               deleted                                      |
 *   queue_cancel: PENDING | SCHEDULED | RUNNING -> CANCELLED -+
 *
 * Delivery is at-least-once: a job whose lease expires goes back and may
 * run again.  Only the current lease token may heartbeat, complete or fail.
 *
 * Waking: every change that makes work available (enqueue, retry, promote,
 * rescue) bumps a generation counter and broadcasts a condition variable;
 * queue_lease blocks on it for up to wait_ms instead of polling.
 */
#ifndef QUEUE_H
#define QUEUE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/backoff.h"
#include "core/clock.h"
#include "core/model.h"
#include "store/store.h"

typedef struct queue queue;

typedef struct queue_config {
    int64_t default_lease_ms;  /* job timeout_ms when not given: 30000 */
    int default_max_attempts;  /* 25 */
    fs_backoff backoff;        /* FS_BACKOFF_DEFAULT */
    int64_t retention_ms;      /* completed/cancelled kept: 7 days */
    int64_t tick_max_ms;       /* ticker runs at least this often: 1000 */
    bool ticker;               /* run the ticker thread (off in unit tests) */
    bool watch;                /* a thread wakes waiting leases when other
                                  processes add jobs (store_jobs_wait) */
} queue_config;

/* Limits enforced on every job (also used by the HTTP layer's messages). */
enum {
    QUEUE_MAX_NAME = 200,          /* type, target_agent, unique_key */
    QUEUE_MAX_BATCH = 1000,        /* jobs per enqueue / lease / complete */
    QUEUE_MAX_ATTEMPTS = 1000,
    QUEUE_MAX_PRIORITY = 1000000,  /* |priority| bound */
};
#define QUEUE_MAX_LEASE_MS (24LL * 3600 * 1000)
#define QUEUE_MAX_WAIT_MS (60LL * 1000)

queue_config queue_config_default(void);

/* Starts the service over st (borrowed; must outlive the queue).
 * clk may be NULL for the real clock. */
int queue_open(queue **out, store *st, const fs_clock *clk,
               const queue_config *cfg);
/* Stops the ticker, wakes every waiter, frees the queue. */
void queue_close(queue *q);
/* Wakes every blocked queue_lease; later leases return FS_ESHUTDOWN. */
void queue_shutdown(queue *q);

/*
 * Validates, applies defaults (payload "{}", max_attempts, timeout_ms,
 * run_at = now) and stores n jobs atomically; wakes idle workers.
 * existed[i] (may be NULL) is set when a unique_key matched an existing job,
 * whose record then replaces jobs[i].  Errors: FS_EINVAL (with nothing
 * stored), FS_EIO.
 */
int queue_enqueue(queue *q, fs_job *jobs, size_t n, bool *existed);

typedef struct queue_lease_req {
    const char *agent_id;     /* lease owner (registered agent id or NULL) */
    const char *agent_type;   /* matches target_agent == type */
    const char *const *types; /* accepted job types; ntypes 0 = any */
    size_t ntypes;
    int max;                  /* 1..QUEUE_MAX_BATCH */
    int64_t lease_ms;         /* 0 = each job's timeout_ms */
    int64_t wait_ms;          /* long-poll: block up to this when empty */
    /* Optional: asked before each lease attempt that follows a wait, and
     * at least every QUEUE_ALIVE_CHECK_MS while waiting; false ends the
     * wait with no jobs (the caller is gone: leasing would strand jobs
     * until their leases expire). */
    bool (*still_wanted)(void *ctx);
    void *ctx;
} queue_lease_req;

#define QUEUE_ALIVE_CHECK_MS 1000

/* Leases up to r->max jobs, waiting up to r->wait_ms for work to arrive.
 * OUT: *out and *n (n may be 0 when the wait ran out).
 * Errors: FS_EINVAL, FS_ESHUTDOWN, FS_EIO. */
int queue_lease(queue *q, const queue_lease_req *r, fs_job **out, size_t *n);

/* Errors: FS_ENOTFOUND, FS_ELEASE.  OUT: *expires (may be NULL). */
int queue_heartbeat(queue *q, int64_t id, const char *token, int64_t lease_ms,
                    int64_t *expires);
/* Batch completion; per-item rc (see store_completion). */
int queue_complete(queue *q, store_completion *items, size_t n);
/* retry=true: back off and retry while attempts remain; else dead-letter. */
int queue_fail(queue *q, int64_t id, const char *token, const char *error,
               bool retry, fs_job *out);
int queue_cancel(queue *q, int64_t id, fs_job *out);
int queue_retry(queue *q, int64_t id, fs_job *out);
int queue_get(queue *q, int64_t id, fs_job *out);
/* limit 1..QUEUE_MAX_BATCH + 1 (the extra row lets pagers see more). */
int queue_list(queue *q, const store_job_filter *f, fs_job **out, size_t *n);
int queue_stats(queue *q, store_stat **rows, size_t *n);

/*
 * The workflow engine hears of job state changes through a listener,
 * called after a lease (urgent false), completion, failure, cancellation
 * or rescue (urgent true) has been committed, on the thread that made it;
 * it must be quick and must not call back into the queue.  A hint only:
 * the job signals in the store are the truth.  Set it before workers
 * start.
 */
void queue_set_listener(queue *q, void (*fn)(void *ctx, bool urgent),
                        void *ctx);

/* Checks j and fills its defaults exactly as queue_enqueue does, for a
 * job that is stored behind the queue's back (the scheduler's fires).
 * Errors: FS_EINVAL. */
int queue_job_prepare(queue *q, fs_job *j);

/* Jobs were stored behind the queue's back (the engine enqueues a step's
 * jobs in its own transaction): wake idle workers, and the ticker when a
 * job is due later (earliest_run_at, 0 = none later). */
void queue_jobs_added(queue *q, int64_t earliest_run_at);

/* One pass of housekeeping: promote due jobs, rescue expired leases, prune
 * finished jobs past retention; wakes workers when work appeared.  The
 * ticker thread calls it; tests call it directly with a manual clock. */
int queue_tick(queue *q);

/* Counters since start, for /metrics. */
typedef struct queue_counters {
    uint64_t enqueued, leased, completed, failed, retried, dead, rescued,
        cancelled, requeued, pruned;
    uint64_t waiters; /* workers blocked in queue_lease right now */
} queue_counters;
void queue_counters_get(queue *q, queue_counters *out);

struct fs_histogram;
/* Borrowed histograms (seconds): enqueue->lease wait, lease->finish run. */
struct fs_histogram *queue_wait_histogram(queue *q);
struct fs_histogram *queue_run_histogram(queue *q);

#endif
