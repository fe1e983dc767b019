/*
 * workflow.h - the workflow service (the blueprint's
 * WorkflowOrchestrationService): definitions, runs and the engine that
 * drives them over the job queue.
 *
 * Durability.  Every transition of a run (wfrun.h draws them) is one
 * store transaction that also enqueues the jobs of the steps it starts
 * and cancels the jobs it stops.  A job's own state changes reach the
 * engine as job signals, rows a trigger writes in the same transaction as
 * the change, so nothing a worker did is lost if any process dies: the
 * engine applies a batch of signals to the runs they concern and commits
 * the runs' transitions together with the deletion of those signals.  A
 * crash before that commit replays the signals; after it, they are gone.
 * Hence a finished step is never re-run, a step never has two live jobs,
 * and no step's job runs more often than its retries allow (each job has
 * max_attempts 1: an expired lease fails the attempt instead of re-running
 * it behind the engine's back).
 *
 * Reacting, not polling.  The queue calls a listener after every job
 * state change it commits; the engine thread wakes, reads the signals and
 * sleeps again until the next signal, the next step or workflow deadline,
 * or the sweep interval (default 1 s), which only matters for jobs changed
 * by another process on the same database (`flowstate worker --db`).
 *
 * The engine keeps every running run in memory (reloaded from the store
 * at start: runs interrupted by a crash carry on; and every 10 s it loads
 * running runs it does not hold, so runs another process on the same
 * database was driving when it died carry on too).  Each commit checks the
 * run's rev (optimistic locking); a failed commit drops the runs it
 * touched from memory, and they are reloaded from the store.
 */
#ifndef WORKFLOW_H
#define WORKFLOW_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/model.h"
#include "queue/queue.h"
#include "store/store.h"

typedef struct workflow workflow;

typedef struct workflow_config {
    int64_t lease_ms;   /* a step job's lease when the step sets no timeout
                           (0 = 30000) */
    int64_t sweep_ms;   /* look for signals at least this often (0 = 1000) */
    bool thread;        /* run the engine thread (off in unit tests, which
                           call workflow_process) */
} workflow_config;

/* Opens the service over st and q (borrowed; they must outlive it),
 * loads the running runs and starts the engine.  clk may be NULL. */
int workflow_open(workflow **out, store *st, queue *q, const fs_clock *clk,
                  const workflow_config *cfg);
void workflow_close(workflow *w);

/*
 * Validates the definition def (see wfdef.h).  known_agents: the agent
 * types registered (NULL-terminated), or NULL.  OUT: *problems, always
 * (a JSON array; the caller json_decref()s).  Returns 0 or FS_EINVAL.
 */
int workflow_validate(const json_t *def, const char *const *known_agents,
                      json_t **problems);

/*
 * Validates and registers a definition.  OUT: *problems as above; *out
 * (may be NULL) the stored record.  Errors: FS_EINVAL (problems),
 * FS_ECONFLICT (that name and version hold another definition), FS_EIO.
 */
int workflow_register(workflow *w, const json_t *def,
                      const char *const *known_agents, fs_workflow *out,
                      json_t **problems);

/*
 * Registers the templates that ship with Flowstate (templates.h) that
 * are not registered yet.  A stored definition that differs under a
 * template's name and version is kept (and logged).  Returns how many
 * were newly registered, or a negative FS_E* code.
 */
int workflow_install_templates(workflow *w);

/* version 0 = the latest.  Errors: FS_ENOTFOUND. */
int workflow_get(workflow *w, const char *name, int version, fs_workflow *out);
int workflow_list(workflow *w, fs_workflow **out, size_t *n);

/*
 * Starts a run of workflow `name` (version 0 = the latest) with inputs (an
 * object or NULL: the defaults).  Returns once the run and its first
 * jobs are stored.  OUT: *out, the run.  Errors: FS_ENOTFOUND (no such
 * workflow), FS_EINVAL (inputs; why in err), FS_ECORRUPT (the stored
 * definition no longer parses), FS_EIO.
 */
int workflow_start(workflow *w, const char *name, int version,
                   const json_t *inputs, fs_run *out, char *err,
                   size_t errlen);

/* Errors: FS_ENOTFOUND, FS_ESTATE (the run has finished / is not failed
 * or cancelled), FS_EIO.  OUT: *out (may be NULL). */
int workflow_cancel(workflow *w, int64_t id, fs_run *out);
int workflow_retry(workflow *w, int64_t id, fs_run *out);

/* The parsed definition (version 0 = the latest), cached for the life of
 * the service.  Errors: FS_ENOTFOUND, FS_ECORRUPT. */
struct wfdef;
int workflow_def(workflow *w, const char *name, int version,
                 const struct wfdef **out);

/* Reads, as the store's (store.h): a run with its tasks, runs, events. */
int workflow_run_get(workflow *w, int64_t id, fs_run *out,
                     fs_run_task **tasks, size_t *ntasks);
int workflow_runs(workflow *w, const store_run_filter *f, fs_run **out,
                  size_t *n);
int workflow_events(workflow *w, int64_t run_id, int64_t after_seq,
                    int limit, fs_run_event **out, size_t *n);

/* Applies the job signals waiting and the deadlines due, once (the engine
 * thread's loop body; tests with thread = false call it). */
int workflow_process(workflow *w);

#endif
