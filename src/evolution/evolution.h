/*
 * evolution.h - the evolution log: the changes Flowstate makes to itself
 * (a tuned parameter, a learned lesson, an answer to an anomaly, a changed
 * workflow), each proposed, validated, applied, watched and, when it
 * hurts, rolled back - every step recorded in the entry's history.
 *
 *                    validate: more data            check: horizon passed
 *                      +----+                         +----+ (stays applied,
 *                      v    |                         v    |  monitor "keep")
 *   propose --> [proposed] -+-- clears the margin --> [applied] --+
 *      |            |  \     (unless manual)            ^    check: regressed,
 *      |            |   +--- not shown to clear it      |    or rollback
 *      |            |        --> [validated] --approve--+         |
 *      |            |                 |                 |         v
 *      |            +-----------------+--approve--------+   [rolled_back]
 *      |            |  reject or confidently no better
 *      |            +--------------------------------------> [rejected]
 *      +-- no "change" (a record of something done) -------> [applied]
 *
 * Validation.  A proposal may carry metrics_before (the control: the
 * setting as it is) and metrics_after (the candidate) as samples -
 * {"successes":k,"trials":n} for a rate or {"n","mean","var"} for any
 * metric, higher being better - and learn_evolve_decide judges the lift
 * against the configured margin and confidence.  With "require":{"min":x}
 * the rule is instead that the candidate's mean reaches x (a target such
 * as recall@10 >= 0.95).  With no metrics it waits for approval.
 *
 * Settings.  A change is {"from":v0,"to":v1} on its component; the value
 * of a component is the "to" of its latest applied change, or none (the
 * default).  Applying checks that the value is still "from" (else the
 * proposal is stale: FS_ECONFLICT); only the latest applied change of a
 * component can be rolled back, and that restores the value before it.
 * Each change of a value calls the configured on_change, so the process
 * can act on it (serve sets the vector index's ef_search); with
 * refresh_ms a thread also reads the settings that often, so a change
 * made by another process on the same database reaches this one within
 * refresh_ms.
 *
 * Watching.  Applying starts a learn_evolve monitor (a CUSUM) over the
 * baseline (the control; the candidate under a "require" rule).  Anyone
 * may observe the applied setting's outcomes (observe: count and sum);
 * check feeds what was observed since the last check to the monitor and
 * rolls the change back when it says the metric regressed - the
 * monitoring agent runs check on every watched change.
 *
 * Concurrency: every step reads the entry, computes, and writes it back
 * at the rev it read, again on a conflict, so servers and agents may act
 * on one log at once.
 */
#ifndef EVOLUTION_H
#define EVOLUTION_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "agents/learn/evolve.h"
#include "core/clock.h"
#include "store/store.h"

#define EVOLUTION_MAX_COMPONENT 128
#define EVOLUTION_MAX_TEXT 4000  /* description, note, reason: bytes */
#define EVOLUTION_MAX_VALUE 4096 /* a change's from or to, as JSON */

typedef struct evolution evolution;

typedef struct evolution_config {
    learn_evolve_policy policy;       /* margin, confidence, min_n */
    learn_evolve_monitor_cfg monitor; /* tolerance, alpha, horizon */
    bool manual;                      /* never apply by itself */
    /* After a component's value changed: value is the new one, NULL when
     * it is back to its default.  Optional. */
    void (*on_change)(void *ctx, const char *component, const json_t *value);
    /* Whether value can be a value of component: 0, or non-zero with why
     * (a proposal to set it is refused).  Optional. */
    int (*check)(void *ctx, const char *component, const json_t *value,
                 char *why, size_t len);
    void *ctx;
    /* > 0: a thread reads the settings this often and calls on_change
     * for each value another process changed (serve: 2000). */
    int64_t refresh_ms;
} evolution_config;

evolution_config evolution_config_default(void);

/* What was wrong with a request: the field (may be "") and why. */
typedef struct evolution_err {
    char field[32];
    char msg[256];
} evolution_err;

/* Calls on_change for every component with a value (at start), and
 * remembers them for the refresh.  Errors: the store's. */
int evolution_apply_all(evolution *ev);

/* Errors: FS_EINVAL (cfg out of range).  OUT: *out (borrows st and clk). */
int evolution_open(evolution **out, store *st, const fs_clock *clk,
                   const evolution_config *cfg);
void evolution_close(evolution *ev);

/*
 * Logs a proposal {"type","component","description","proposed_by",
 * "change"?,"metrics_before"?,"metrics_after"?,"require"?} and validates
 * it at once (header comment); one that clears the margin but whose
 * "from" is stale is logged as rejected, saying so.  Errors: FS_EINVAL
 * (*err says what), FS_EIO.  OUT: *entry (JSON, caller owns).
 */
int evolution_propose(evolution *ev, const json_t *proposal, json_t **entry,
                      evolution_err *err);

/* Validates a proposed entry again on fresh samples
 * {"metrics_before","metrics_after"}.  Errors: FS_EINVAL, FS_ENOTFOUND,
 * FS_ESTATE (not proposed).  OUT: *entry. */
int evolution_validate(evolution *ev, int64_t id, const json_t *samples,
                       json_t **entry, evolution_err *err);

/* approve: proposed|validated -> applied (FS_ECONFLICT when stale);
 * reject: proposed|validated -> rejected; rollback: applied ->
 * rolled_back (FS_ESTATE unless it is its component's latest applied
 * change).  by: who (an agent or "api"); note: why (may be NULL).
 * Errors: FS_ENOTFOUND, FS_ESTATE (*err says why), FS_EINVAL.  OUT:
 * *entry. */
int evolution_approve(evolution *ev, int64_t id, const char *by,
                      const char *note, json_t **entry, evolution_err *err);
int evolution_reject(evolution *ev, int64_t id, const char *by,
                     const char *note, json_t **entry, evolution_err *err);
int evolution_rollback(evolution *ev, int64_t id, const char *by,
                       const char *note, json_t **entry, evolution_err *err);

/* Adds count outcomes summing to sum (each in [0, 1] for a rate) to an
 * applied entry.  Errors: FS_ESTATE (not applied), FS_EINVAL. */
int evolution_observe(evolution *ev, int64_t id, double sum, double count,
                      json_t **entry, evolution_err *err);
/* Feeds the outcomes observed since the last check to the monitor and
 * rolls the change back (by `by`) when it regressed; an entry with
 * nothing to watch is returned as it is.  OUT: *entry. */
int evolution_check(evolution *ev, int64_t id, const char *by,
                    json_t **entry, evolution_err *err);

/* Errors: FS_ENOTFOUND.  OUT: *entry. */
int evolution_get(evolution *ev, int64_t id, json_t **entry);
/* Entries matching f, newest first.  OUT: *list (array), *next_cursor
 * (the id to pass as before_id for the next page, 0 = no more). */
int evolution_list(evolution *ev, const store_evolution_filter *f,
                   json_t **list, int64_t *next_cursor);
/* Every component with a value: {"component":{"value","event",
 * "applied_at"}}.  OUT: *out. */
int evolution_settings(evolution *ev, json_t **out);

/* Whether s names an entry type / status the log knows. */
bool evolution_type_ok(const char *s);
bool evolution_status_ok(const char *s);

#endif
