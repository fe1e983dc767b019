/*
 * sched.h - the scheduler: periodic jobs from cron expressions (the
 * monitoring and learning cycles run this way).
 *
 * A schedule (fs_schedule, kept by the store) pairs a cron expression
 * (queue/cron.h, UTC) with a job.  The scheduler service enqueues that job
 * each time the expression comes due:
 *
 *   sched_open --> thread:
 *     +-> sched_tick   for each enabled schedule: due = the latest fire
 *     |                time <= now; when due > max(last_fire, updated_at)
 *     |                store_schedule_fire(due): the job is enqueued and
 *     |                last_fire = due, one transaction; then
 *     |                queue_jobs_added wakes idle workers
 *     |   sleep        until the earliest next fire time, at most
 *     |                reread_ms (60 s: schedules are re-read then)
 *     +-- wake         at that time, or at once on sched_changed()
 *   sched_close        wakes and joins the thread
 *
 * Missed fires: after downtime (or any sleep that overran) only the most
 * recent missed fire time is enqueued, once; older ones are dropped, so a
 * server that was down for a day does not enqueue 1440 jobs of a
 * per-minute schedule when it comes back.  A schedule that is created,
 * replaced or enabled fires first at its next fire time after that change.
 *
 * Several schedulers (processes, or services sharing a store) may run at
 * once: store_schedule_fire moves last_fire only forwards, in the
 * transaction that enqueues the job under the unique key
 * "cron:NAME:FIRE_AT", so each fire time yields exactly one job whoever
 * comes first.  That job is then the queue's: delivered at least once.
 */
#ifndef SCHED_H
#define SCHED_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/model.h"
#include "queue/queue.h"
#include "store/store.h"

typedef struct sched sched;

typedef struct sched_config {
    int64_t reread_ms; /* longest sleep, schedules re-read after: 60000 */
    bool thread;       /* run the scheduler thread (off in unit tests) */
} sched_config;

sched_config sched_config_default(void);

/* A schedule name: 1..SCHED_MAX_NAME of [A-Za-z0-9._-] (it goes in URL
 * paths and in the jobs' unique keys). */
#define SCHED_MAX_NAME 100
bool sched_name_ok(const char *name);

/*
 * Starts the scheduler over st and q (borrowed; both must outlive it).
 * clk may be NULL for the real clock; cfg NULL for the defaults.
 * Errors: FS_EIO (no thread).  OUT: *out, closed with sched_close().
 */
int sched_open(sched **out, store *st, queue *q, const fs_clock *clk,
               const sched_config *cfg);
/* Stops and joins the thread, frees s.  NULL is a no-op. */
void sched_close(sched *s);
/* Schedules changed (API): the thread re-reads them now.  NULL: no-op. */
void sched_changed(sched *s);

/*
 * One pass: fires every schedule that is due now (see the top).  The
 * thread calls it; tests call it with a manual clock.  A schedule whose
 * cron or job does not parse is logged and skipped.  OUT (each may be
 * NULL): *fired, jobs enqueued; *next_fire, the earliest fire time after
 * now over the enabled schedules (0: none).  Errors: the store's.
 */
int sched_tick(sched *s, size_t *fired, int64_t *next_fire);

/* When sc fires next after now: 0 when it is disabled or its cron does
 * not parse or never fires. */
int64_t sched_next_fire(const fs_schedule *sc, int64_t now);

#endif
