/*
 * runview.h - how `flowstate workflow` shows a run in the terminal: the
 * steps table, the live view while the run goes on, the one-line summary
 * when it ends, and the events timeline.
 *
 * Everything here reads the server's JSON (GET /v1/runs/{id} and
 * GET /v1/runs/{id}/events, see api_workflows.c) and takes the current
 * time as an argument, so the tests can pin every line.
 *
 * The live view has two forms:
 *   RUNVIEW_REDRAW  (a terminal) a header line and the steps table,
 *                   redrawn in place: cursor up over the last drawing,
 *                   each line rewritten after "erase line", and what the
 *                   old drawing had below erased;
 *   RUNVIEW_LINES   (a pipe or file) only what changed, one line each:
 *                   "12:00:01 score running (attempt 1)".
 * A step's "change" is a change of its state, attempts, items done or
 * error; elapsed times tick without counting as one.
 */
#ifndef RUNVIEW_H
#define RUNVIEW_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/table.h"

typedef struct runview runview;

typedef enum runview_mode {
    RUNVIEW_LINES,
    RUNVIEW_REDRAW,
} runview_mode;

/* A live view drawing on out (borrowed; it must outlive the view) with
 * style for the table (colour, width).  Free with runview_free(). */
runview *runview_new(FILE *out, runview_mode mode, table_style style);
void runview_free(runview *v);

/*
 * Shows run (a GET /v1/runs/{id} answer, borrowed) as of now_ms (wall
 * clock, for elapsed times; RUNVIEW_LINES stamps its lines with it, in
 * local time).  Returns true when a step or the run changed since the
 * last call (always on the first), so a poller can look again sooner.
 */
bool runview_update(runview *v, const json_t *run, int64_t now_ms);

/* The steps of run as a table: STEP, STATE, ATTEMPTS, ELAPSED, ITEMS
 * (done/total of a for_each step), ERROR.  The caller table_free()s it. */
table *runview_steps(const json_t *run, int64_t now_ms);

/* How long run took (created_at to finished_at, or to now_ms while it
 * runs) as "12s", "2m05s" into buf; "-" when the times are missing. */
void runview_took(const json_t *run, int64_t now_ms, char *buf, size_t len);

/* The final line of a run: "run 42 completed in 12s" or "run 42 failed
 * after 3s" ("is running" for one that has not ended). */
void runview_summary(FILE *out, const json_t *run, int64_t now_ms);

/* The events (a JSON array from GET /v1/runs/{id}/events) as a table:
 * TIME (local), ELAPSED since the first, EVENT, STEP (step[item]),
 * ATTEMPT, ERROR.  The caller table_free()s it. */
table *runview_events(const json_t *events);

#endif
