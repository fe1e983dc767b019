/*
 * wfrun.h - one workflow run in memory: its state machine.
 *
 * A run holds one task per step of its definition, plus one task per item
 * of a for_each step once the step fans out.  Transitions never touch the
 * store: each appends to the run's pending change (dirty tasks, new
 * events, jobs to enqueue, jobs to cancel), which the workflow service
 * commits in one store transaction (store_run_commit) and then marks
 * committed, or throws away with the run on failure (the run is reloaded
 * from the store and the job signals that caused the change are replayed).
 *
 * A task's life (attempts count the jobs made for it; each job runs at
 * most once: max_attempts 1, so retries are the engine's):
 *
 *                 deps satisfied,            job leased
 *   PENDING ----- `when` true --> SCHEDULED ------------> RUNNING
 *     |  |                          ^   |                  |  |  |
 *     |  | `when` false             |   | cancel/timeout   |  |  | job completed
 *     |  +----------> SKIPPED       |   v                  |  |  +--> COMPLETED
 *     |                             | (attempt failed)  <--+  |
 *     |                             |   | retries left:       | job failed, cancelled,
 *     |                             +---+ new job, backoff    | lease lost, or timeout
 *     |                                 | none left           |
 *     |  run cancelled / failed         v                     |
 *     +-----------------------------> FAILED / CANCELLED <----+
 *
 * A step is satisfied (its dependents may go) when it is COMPLETED,
 * SKIPPED, or FAILED with on_failure "continue"; a skipped or failed
 * step's output reads as null.  A for_each step makes one task per item
 * (each with its own job and retries); it completes when every item has,
 * its output the list of the items' outputs in order, and fails when one
 * item fails for good (the others are cancelled).
 *
 * The run:
 *   RUNNING --every step satisfied--> COMPLETED
 *   RUNNING --a step failed (fail_workflow), or after its compensation
 *             step ran (compensate), or the workflow timed out--> FAILED
 *   RUNNING --cancel--> CANCELLED;  FAILED|CANCELLED --retry--> RUNNING
 * Cancel and failure cancel the jobs of scheduled and running tasks;
 * retry puts failed and cancelled tasks back to PENDING (attempts from 0)
 * and keeps every completed output.
 *
 * Jobs carry unique_key "wf/RUN/STEP/ITEM/ATTEMPT/REV" (REV: the run's rev
 * when the job was made, so keys stay unique across retries of the run),
 * which leads a job signal to its task; a signal for another job than the
 * task's current one (an old attempt) is ignored.
 */
#ifndef WFRUN_H
#define WFRUN_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/model.h"
#include "store/store.h"
#include "workflow/wfdef.h"

typedef struct wfrun wfrun;

/* Limits and defaults the service passes in. */
typedef struct wfrun_config {
    int64_t lease_ms;  /* a step job's lease when the step has no timeout */
    double (*rnd01)(void); /* backoff jitter; NULL = none (the full delay) */
} wfrun_config;

/*
 * A new run of def (borrowed: must outlive the run) with inputs resolved
 * (wfdef_resolve_inputs; moved in), started at now (its deadline set, the
 * run_started event pending).  Once committed (it then has an id),
 * wfrun_start schedules its first steps.
 */
wfrun *wfrun_new(const wfdef *def, json_t *inputs, const wfrun_config *cfg,
                 int64_t now);

/*
 * A run as stored: rec and tasks are moved in (the arrays are freed
 * here, the caller keeps nothing).  Errors: FS_ECORRUPT (inputs or an
 * output is not JSON, a task names a step the definition lacks).
 */
int wfrun_load(const wfdef *def, fs_run *rec, fs_run_task *tasks, size_t n,
               const wfrun_config *cfg, wfrun **out);
void wfrun_free(wfrun *r);

/* Schedules the steps whose dependencies are all satisfied but which are
 * not scheduled yet: after wfrun_load (a start or retry cut short), and
 * when wfrun_more says a change left some for the next. */
void wfrun_resume(wfrun *r, int64_t now);

/* A change makes at most WFRUN_CHANGE_JOBS new jobs; steps that became
 * ready beyond that stay pending until wfrun_resume (after the commit). */
#define WFRUN_CHANGE_JOBS 1000
bool wfrun_more(const wfrun *r);

const fs_run *wfrun_record(const wfrun *r);
const wfdef *wfrun_def(const wfrun *r);
bool wfrun_finished(const wfrun *r);

/* Every step without dependencies is scheduled (or skipped). */
void wfrun_start(wfrun *r, int64_t now);

/*
 * A job of this run changed state (a job signal): the task it belongs to
 * follows.  Jobs of old attempts and repeats of a state already seen
 * change nothing.
 */
void wfrun_job(wfrun *r, const fs_job *job, int64_t now);

/* Deadlines: attempts running past their step's timeout and the
 * workflow's own timeout. */
void wfrun_tick(wfrun *r, int64_t now);

/* The next time wfrun_tick has something to do, 0 = none. */
int64_t wfrun_next_deadline(const wfrun *r);

/* Errors: FS_ESTATE when the run has finished already. */
int wfrun_cancel(wfrun *r, int64_t now);

/* From the failed (or cancelled) steps on.  Errors: FS_ESTATE unless the
 * run is failed or cancelled. */
int wfrun_retry(wfrun *r, int64_t now);

/* True when transitions are waiting to be committed. */
bool wfrun_dirty(const wfrun *r);

/* Makes the next commit write the run's record even if nothing changed:
 * the commit then checks the run's rev (FS_ECONFLICT when another process
 * moved the run on meanwhile). */
void wfrun_touch(wfrun *r);

/*
 * The pending change, for store_run_commit: its arrays are the run's own
 * (valid until wfrun_committed or wfrun_free); the run record is r's.
 */
void wfrun_change(wfrun *r, store_run_change *c);

/* After store_run_commit succeeded with c: keeps the new job ids and the
 * run's rev, and clears the pending change. */
void wfrun_committed(wfrun *r, const store_run_change *c);

/* The parts of a job's unique key (see top).  false when it is not one. */
bool wfrun_parse_key(const char *key, int64_t *run, int *step, int *item,
                     int *attempt);

#endif
