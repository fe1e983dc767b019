/*
 * queue.c - the job queue service: rules, wake-ups, housekeeping, metrics.
 * The state diagram and the delivery guarantees are in queue.h.
 *
 * Wake-ups.  q->gen counts "work may have appeared" events.  A leasing
 * worker reads gen, tries the store, and only if it found nothing sleeps on
 * q->avail until gen moves, its wait ends or the queue shuts down.  Because
 * gen is read before the store is asked, an enqueue that lands between the
 * empty answer and the sleep is never missed.
 *
 * Other processes' jobs: with cfg.watch a watcher thread waits on the
 * store (store_jobs_wait: a NOTIFY on PostgreSQL, the newest id polled on
 * SQLite) and moves gen when another process added jobs.
 *
 * The ticker thread sleeps until the earliest of: the next scheduled run_at,
 * the next lease expiry, or tick_max_ms; an enqueue of a job due sooner than
 * the planned wake-up signals it early.  Each tick promotes due jobs,
 * rescues expired leases and (every PRUNE_EVERY_MS) prunes finished jobs
 * past retention.
 */
#include "queue/queue.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/cond.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/xmem.h"

#define PRUNE_EVERY_MS 10000

struct queue {
    store *st;
    fs_clock clk;
    queue_config cfg;

    pthread_mutex_t lock;    /* guards everything below but the atomics */
    pthread_cond_t avail;    /* broadcast when gen moves or on shutdown */
    uint64_t gen;
    bool shutdown;
    uint64_t waiters;

    pthread_t ticker, watcher;
    bool ticker_running, ticker_stop, watcher_running;
    pthread_cond_t tick;     /* wakes the ticker early */
    int64_t next_tick;       /* wall ms of the ticker's planned wake-up;
                                INT64_MAX while it is planning */
    bool kicked;             /* a job came due sooner than planned */
    int64_t last_prune;

    struct {
        _Atomic uint64_t enqueued, leased, completed, failed, retried, dead,
            rescued, cancelled, requeued, pruned;
    } c;
    fs_histogram wait_hist, run_hist;
    void (*listener)(void *ctx, bool urgent); /* jobs changed state */
    void *listener_ctx;
};

queue_config queue_config_default(void)
{
    return (queue_config){
        .default_lease_ms = 30000,
        .default_max_attempts = 25,
        .backoff = FS_BACKOFF_DEFAULT,
        .retention_ms = 7LL * 24 * 3600 * 1000,
        .tick_max_ms = 1000,
        .ticker = true,
    };
}

static void wake_workers(queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->gen++;
    pthread_cond_broadcast(&q->avail);
    pthread_mutex_unlock(&q->lock);
}

/* Tells the listener that jobs changed state (any: only a hint; urgent:
 * they finished, rather than started). */
static void changed(queue *q, bool any, bool urgent)
{
    if (any && q->listener) q->listener(q->listener_ctx, urgent);
}

static bool any_of_run(const fs_job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (jobs[i].run_id) return true;
    return false;
}

static void add(_Atomic uint64_t *ctr, uint64_t n)
{
    atomic_fetch_add_explicit(ctr, n, memory_order_relaxed);
}

static void log_job(const fs_job *j, const char *what)
{
    if (!log_enabled(LOG_INFO)) return;
    log_event(LOG_INFO, NULL, j->id, "job %s type=%s target=%s state=%s "
              "attempts=%d", what, j->type, j->target_agent,
              job_state_name(j->state), j->attempts);
}

/* --- validation -------------------------------------------------------- */

static bool name_ok(const char *s, bool required)
{
    if (!s) return !required;
    size_t n = strlen(s);
    return n > 0 && n <= QUEUE_MAX_NAME;
}

/* Checks j and fills its defaults. */
static int prepare_job(queue *q, fs_job *j, int64_t now)
{
    if (!name_ok(j->type, true) || !name_ok(j->target_agent, true) ||
        !name_ok(j->unique_key, false))
        return FS_EINVAL;
    if (j->priority > QUEUE_MAX_PRIORITY || j->priority < -QUEUE_MAX_PRIORITY)
        return FS_EINVAL;
    if (j->max_attempts == 0) j->max_attempts = q->cfg.default_max_attempts;
    if (j->max_attempts < 1 || j->max_attempts > QUEUE_MAX_ATTEMPTS)
        return FS_EINVAL;
    if (j->timeout_ms == 0) j->timeout_ms = q->cfg.default_lease_ms;
    if (j->timeout_ms < 1 || j->timeout_ms > QUEUE_MAX_LEASE_MS)
        return FS_EINVAL;
    if (j->run_at == 0) j->run_at = now;
    if (j->parent_id < 0) return FS_EINVAL;
    if (!j->payload) j->payload = xstrdup("{}");
    return 0;
}

/* --- ticker ------------------------------------------------------------ */

/*
 * Sleeps until the next thing due.  While the plan is being made next_tick
 * is INT64_MAX, so a job enqueued meanwhile sets `kicked` (see kick_ticker)
 * and the ticker skips its sleep instead of missing that job.
 */
static void plan_next_tick(queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->next_tick = INT64_MAX;
    pthread_mutex_unlock(&q->lock);
    int64_t now = fs_now(&q->clk), run_at = 0, expiry = 0;
    int64_t wake = now + q->cfg.tick_max_ms;
    if (store_job_next_due(q->st, &run_at, &expiry) == 0) {
        if (run_at && run_at < wake) wake = run_at;
        if (expiry && expiry + 1 < wake) wake = expiry + 1;
    }
    if (wake < now + 1) wake = now + 1;
    pthread_mutex_lock(&q->lock);
    q->next_tick = wake;
    if (!q->ticker_stop && !q->kicked)
        fs_cond_wait_until(&q->tick, &q->lock, fs_mono_ms() + (wake - now));
    q->kicked = false;
    pthread_mutex_unlock(&q->lock);
}

/* A job becomes due at run_at: wake the ticker if that is sooner than it
 * planned (or while it is planning). */
static void kick_ticker(queue *q, int64_t run_at)
{
    pthread_mutex_lock(&q->lock);
    if (run_at < q->next_tick) {
        q->kicked = true;
        pthread_cond_signal(&q->tick);
    }
    pthread_mutex_unlock(&q->lock);
}

static void *ticker_main(void *arg)
{
    queue *q = arg;
    for (;;) {
        pthread_mutex_lock(&q->lock);
        bool stop = q->ticker_stop;
        pthread_mutex_unlock(&q->lock);
        if (stop) break;
        int rc = queue_tick(q);
        if (rc && rc != FS_ESHUTDOWN)
            log_warn("queue: housekeeping failed: %s", fs_strerror(rc));
        plan_next_tick(q);
    }
    return NULL;
}

int queue_tick(queue *q)
{
    int64_t now = fs_now(&q->clk);
    size_t promoted = 0, rescued = 0, pruned = 0;
    int rc = store_job_promote(q->st, now, &promoted);
    if (!rc) rc = store_job_rescue(q->st, now, &rescued);
    if (!rc && now - q->last_prune >= PRUNE_EVERY_MS) {
        rc = store_job_prune(q->st, now - q->cfg.retention_ms, &pruned);
        q->last_prune = now;
    }
    add(&q->c.rescued, rescued);
    add(&q->c.pruned, pruned);
    if (rescued) log_warn("queue: %zu expired lease(s) returned", rescued);
    if (pruned) log_info("queue: pruned %zu finished job(s)", pruned);
    if (promoted || rescued) wake_workers(q);
    changed(q, rescued > 0, true);
    return rc;
}

/* --- open / close ------------------------------------------------------ */

#define WATCH_WAIT_MS 250 /* a stop waits at most this for the watcher */

/* Wakes the waiting leases (and the listener) whenever the store says
 * jobs were added, by this process or another. */
static void *watcher_main(void *arg)
{
    queue *q = arg;
    int64_t mark = 0;
    for (;;) {
        pthread_mutex_lock(&q->lock);
        bool stop = q->shutdown;
        pthread_mutex_unlock(&q->lock);
        if (stop) break;
        bool woke = false;
        int rc = store_jobs_wait(q->st, &mark, WATCH_WAIT_MS, &woke);
        if (rc && rc != FS_EIO) {
            log_error("queue: cannot watch for new jobs: %s", fs_strerror(rc));
            break;
        }
        if (woke) {
            wake_workers(q);
            changed(q, true, false);
        }
    }
    return NULL;
}

int queue_open(queue **out, store *st, const fs_clock *clk,
               const queue_config *cfg)
{
    queue *q = xcalloc(1, sizeof *q);
    q->st = st;
    q->clk = clk ? *clk : fs_clock_real;
    q->cfg = cfg ? *cfg : queue_config_default();
    if (q->cfg.tick_max_ms <= 0) q->cfg.tick_max_ms = 1000;
    q->last_prune = fs_now(&q->clk);
    pthread_mutex_init(&q->lock, NULL);
    fs_cond_init(&q->avail);
    fs_cond_init(&q->tick);
    if (q->cfg.ticker) {
        if (pthread_create(&q->ticker, NULL, ticker_main, q) != 0) {
            queue_close(q);
            return FS_EIO;
        }
        q->ticker_running = true;
    }
    if (q->cfg.watch) {
        if (pthread_create(&q->watcher, NULL, watcher_main, q) != 0) {
            queue_close(q);
            return FS_EIO;
        }
        q->watcher_running = true;
    }
    *out = q;
    return 0;
}

void queue_shutdown(queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->shutdown = true;
    q->ticker_stop = true;
    pthread_cond_broadcast(&q->avail);
    pthread_cond_signal(&q->tick);
    pthread_mutex_unlock(&q->lock);
}

void queue_close(queue *q)
{
    if (!q) return;
    queue_shutdown(q);
    if (q->ticker_running) pthread_join(q->ticker, NULL);
    if (q->watcher_running) pthread_join(q->watcher, NULL);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->avail);
    pthread_cond_destroy(&q->tick);
    free(q);
}

/* --- producers --------------------------------------------------------- */

int queue_enqueue(queue *q, fs_job *jobs, size_t n, bool *existed)
{
    if (n == 0 || n > QUEUE_MAX_BATCH) return FS_EINVAL;
    int64_t now = fs_now(&q->clk);
    for (size_t i = 0; i < n; i++) {
        int rc = prepare_job(q, &jobs[i], now);
        if (rc) return rc;
    }
    bool *ex = existed ? existed : xcalloc(n, sizeof *ex);
    int rc = store_job_enqueue(q->st, jobs, n, now, ex);
    if (rc) goto out;
    bool ready = false;
    int64_t soonest = 0;
    for (size_t i = 0; i < n; i++) {
        if (ex[i]) continue;
        add(&q->c.enqueued, 1);
        log_job(&jobs[i], "enqueued");
        if (jobs[i].state == JOB_PENDING) ready = true;
        else if (!soonest || jobs[i].run_at < soonest) soonest = jobs[i].run_at;
    }
    if (ready) wake_workers(q);
    if (soonest) kick_ticker(q, soonest);
out:
    if (!existed) free(ex);
    return rc;
}

/* --- consumers --------------------------------------------------------- */

static int check_lease_req(const queue_lease_req *r)
{
    if (r->max < 1 || r->max > QUEUE_MAX_BATCH) return FS_EINVAL;
    if (r->lease_ms < 0 || r->lease_ms > QUEUE_MAX_LEASE_MS) return FS_EINVAL;
    if (r->wait_ms < 0 || r->wait_ms > QUEUE_MAX_WAIT_MS) return FS_EINVAL;
    if (!r->agent_id && !r->agent_type) return FS_EINVAL;
    return 0;
}

static void note_leased(queue *q, const fs_job *jobs, size_t n)
{
    add(&q->c.leased, n);
    for (size_t i = 0; i < n; i++) {
        int64_t ready = jobs[i].run_at > jobs[i].created_at ? jobs[i].run_at
                                                            : jobs[i].created_at;
        fs_hist_observe(&q->wait_hist,
                        (double)(jobs[i].started_at - ready) / 1000.0);
        log_job(&jobs[i], "leased");
    }
}

/* Blocks until work may have appeared (gen moved), shutdown, the deadline,
 * or the next liveness check is due. */
static void wait_for_work(queue *q, uint64_t gen, int64_t deadline,
                          bool check_alive)
{
    int64_t until = deadline;
    if (check_alive && fs_mono_ms() + QUEUE_ALIVE_CHECK_MS < until)
        until = fs_mono_ms() + QUEUE_ALIVE_CHECK_MS;
    pthread_mutex_lock(&q->lock);
    q->waiters++;
    while (gen == q->gen && !q->shutdown && fs_mono_ms() < until)
        fs_cond_wait_until(&q->avail, &q->lock, until);
    q->waiters--;
    pthread_mutex_unlock(&q->lock);
}

int queue_lease(queue *q, const queue_lease_req *r, fs_job **out, size_t *n)
{
    int rc = check_lease_req(r);
    if (rc) return rc;
    store_lease sl = { r->agent_id, r->agent_type, r->types, r->ntypes,
                       r->max, r->lease_ms };
    int64_t deadline = fs_mono_ms() + r->wait_ms;
    for (bool waited = false;; waited = true) {
        pthread_mutex_lock(&q->lock);
        uint64_t gen = q->gen;
        bool down = q->shutdown;
        pthread_mutex_unlock(&q->lock);
        if (down) return FS_ESHUTDOWN;
        if (waited && r->still_wanted && !r->still_wanted(r->ctx)) {
            *out = NULL;
            *n = 0;
            return 0;
        }
        rc = store_job_lease(q->st, &sl, fs_now(&q->clk), out, n);
        if (rc || *n > 0) {
            if (!rc) {
                note_leased(q, *out, *n);
                changed(q, any_of_run(*out, *n), false);
            }
            return rc;
        }
        free(*out);
        *out = NULL;
        if (fs_mono_ms() >= deadline) return 0;
        wait_for_work(q, gen, deadline, r->still_wanted != NULL);
    }
}

int queue_heartbeat(queue *q, int64_t id, const char *token, int64_t lease_ms,
                    int64_t *expires)
{
    if (!token || lease_ms < 0 || lease_ms > QUEUE_MAX_LEASE_MS)
        return FS_EINVAL;
    int64_t e = 0;
    int rc = store_job_heartbeat(q->st, id, token, lease_ms, fs_now(&q->clk),
                                 &e);
    if (!rc && expires) *expires = e;
    return rc;
}

int queue_complete(queue *q, store_completion *items, size_t n)
{
    if (n == 0 || n > QUEUE_MAX_BATCH) return FS_EINVAL;
    int64_t now = fs_now(&q->clk);
    int rc = store_job_complete(q->st, items, n, now);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        if (items[i].rc) continue;
        add(&q->c.completed, 1);
        fs_hist_observe(&q->run_hist,
                        (double)(now - items[i].started_at) / 1000.0);
        if (log_enabled(LOG_INFO))
            log_event(LOG_INFO, NULL, items[i].id, "job completed");
    }
    changed(q, true, true);
    return 0;
}

int queue_fail(queue *q, int64_t id, const char *token, const char *error,
               bool retry, fs_job *out)
{
    if (!token) return FS_EINVAL;
    fs_job j = { 0 };
    int64_t now = fs_now(&q->clk);
    int rc = store_job_fail(q->st, id, token, error, retry, &q->cfg.backoff,
                            now, &j);
    if (rc) return rc;
    add(&q->c.failed, 1);
    add(j.state == JOB_SCHEDULED ? &q->c.retried : &q->c.dead, 1);
    fs_hist_observe(&q->run_hist, (double)(now - j.started_at) / 1000.0);
    log_job(&j, j.state == JOB_SCHEDULED ? "failed, will retry"
                                         : "failed, dead-lettered");
    if (j.state == JOB_SCHEDULED) kick_ticker(q, j.run_at);
    changed(q, j.run_id != 0, true);
    if (out) *out = j;
    else fs_job_clear(&j);
    return 0;
}

int queue_cancel(queue *q, int64_t id, fs_job *out)
{
    fs_job j = { 0 };
    int rc = store_job_cancel(q->st, id, fs_now(&q->clk), &j);
    if (rc) return rc;
    add(&q->c.cancelled, 1);
    log_job(&j, "cancelled");
    changed(q, j.run_id != 0, true);
    if (out) *out = j;
    else fs_job_clear(&j);
    return 0;
}

int queue_retry(queue *q, int64_t id, fs_job *out)
{
    fs_job j = { 0 };
    int rc = store_job_retry(q->st, id, fs_now(&q->clk), &j);
    if (rc) return rc;
    add(&q->c.requeued, 1);
    log_job(&j, "re-queued");
    wake_workers(q);
    if (out) *out = j;
    else fs_job_clear(&j);
    return 0;
}

void queue_set_listener(queue *q, void (*fn)(void *ctx, bool urgent),
                        void *ctx)
{
    q->listener = fn;
    q->listener_ctx = ctx;
}

int queue_job_prepare(queue *q, fs_job *j)
{
    return prepare_job(q, j, fs_now(&q->clk));
}

void queue_jobs_added(queue *q, int64_t earliest_run_at)
{
    wake_workers(q);
    if (earliest_run_at > fs_now(&q->clk)) kick_ticker(q, earliest_run_at);
}

/* --- reads ------------------------------------------------------------- */

int queue_get(queue *q, int64_t id, fs_job *out)
{
    return store_job_get(q->st, id, out);
}

int queue_list(queue *q, const store_job_filter *f, fs_job **out, size_t *n)
{
    /* One row past a full page is allowed: pagers use it to see more. */
    if (f->limit < 1 || f->limit > QUEUE_MAX_BATCH + 1) return FS_EINVAL;
    return store_job_list(q->st, f, out, n);
}

int queue_stats(queue *q, store_stat **rows, size_t *n)
{
    return store_job_stats(q->st, rows, n);
}

void queue_counters_get(queue *q, queue_counters *o)
{
    o->enqueued = atomic_load(&q->c.enqueued);
    o->leased = atomic_load(&q->c.leased);
    o->completed = atomic_load(&q->c.completed);
    o->failed = atomic_load(&q->c.failed);
    o->retried = atomic_load(&q->c.retried);
    o->dead = atomic_load(&q->c.dead);
    o->rescued = atomic_load(&q->c.rescued);
    o->cancelled = atomic_load(&q->c.cancelled);
    o->requeued = atomic_load(&q->c.requeued);
    o->pruned = atomic_load(&q->c.pruned);
    pthread_mutex_lock(&q->lock);
    o->waiters = q->waiters;
    pthread_mutex_unlock(&q->lock);
}

fs_histogram *queue_wait_histogram(queue *q) { return &q->wait_hist; }
fs_histogram *queue_run_histogram(queue *q) { return &q->run_hist; }
