/*
 * wfdef.h - workflow definitions: parsed, validated, read-only.
 *
 * A definition is JSON (docs/workflow-definition.md is the user's
 * reference):
 *
 *   {"name":"nightly", "version":1, "description":"...",
 *    "inputs":{"segment":{"default":"smb", "description":"..."}},
 *    "timeout_ms":3600000,
 *    "steps":[{"id":"score", "agent":"scorer", "job_type":"score",
 *              "input":{"segment":"{{inputs.segment}}"},
 *              "depends_on":["fetch"],
 *              "retries":{"max":3, "backoff":"exponential",
 *                         "initial_ms":1000, "max_ms":60000},
 *              "timeout_ms":60000, "when":"inputs.segment != 'none'",
 *              "for_each":"{{steps.fetch.output.accounts}}",
 *              "on_failure":"fail_workflow"}, ...]}
 *
 * wfdef_parse() checks everything before anything runs and names every
 * problem at once (codes below); a definition that parses is a DAG whose
 * steps are numbered 0..n-1 in a stable topological order: among the
 * steps whose dependencies are all placed, the one listed first in the
 * definition comes next.  Every step index in this API is such a
 * position.
 *
 * Compensation.  on_failure "compensate" names another step of the list
 * (`"on_failure":"compensate","compensate":"undo"` or
 * `"on_failure":{"compensate":"undo"}`).  A step named that way is
 * compensation-only: the normal flow never schedules it.  It runs when a
 * step naming it has failed for good (retries spent); then the workflow
 * fails as with "fail_workflow".  Rules checked here: no step may depend
 * on a compensation-only step; a compensation-only step cannot have a
 * compensation of its own; a step cannot compensate itself; and every
 * depends_on of a compensation step must be upstream of each step it
 * compensates, so the outputs it reads exist when it runs.
 *
 * Problem codes (each problem is {"severity":"error"|"warning",
 * "step":id|null, "code":..., "message":...}; only unknown_agent is a
 * warning):
 *   missing_field, unknown_field, bad_value, too_many_steps, duplicate_id,
 *   unknown_dependency, cycle, bad_retries, bad_timeout, bad_on_failure,
 *   unknown_compensation, bad_compensation, bad_template, bad_condition,
 *   bad_for_each, unknown_variable, not_upstream, unknown_agent.
 *
 * Cost: O(steps + edges) plus, for each step whose references reach past
 * its direct depends_on, one backward search of its upstream steps.
 *
 * A wfdef never changes after parsing: share it between threads freely.
 */
#ifndef WFDEF_H
#define WFDEF_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WFDEF_MAX_STEPS 10000
#define WFDEF_MAX_ID 64    /* step ids and input names: [A-Za-z0-9_-] */
#define WFDEF_MAX_NAME 128 /* the workflow's name: [A-Za-z0-9_-] */
#define WFDEF_MAX_RETRIES 100
#define WFDEF_MAX_STEP_MS (24LL * 3600 * 1000)       /* = the queue's */
#define WFDEF_MAX_WORKFLOW_MS (30LL * 24 * 3600 * 1000)

typedef struct wfdef wfdef;

typedef enum wfdef_backoff {
    WFDEF_BACKOFF_FIXED,
    WFDEF_BACKOFF_EXPONENTIAL, /* the default */
} wfdef_backoff;

typedef enum wfdef_on_failure {
    WFDEF_FAIL_WORKFLOW, /* the default */
    WFDEF_CONTINUE,      /* the failure is recorded, the workflow goes on */
    WFDEF_COMPENSATE,    /* run step `compensate`, then fail the workflow */
} wfdef_on_failure;

typedef struct wfdef_retries {
    int max;               /* retries after the first attempt: 0..100 (0) */
    wfdef_backoff backoff; /* exponential */
    int64_t initial_ms;    /* 1000 */
    int64_t max_ms;        /* the larger of 60000 and initial_ms */
} wfdef_retries;

/* One step, read-only; every pointer lives as long as the wfdef. */
typedef struct wfdef_step {
    const char *id;
    const char *agent;      /* the agent type that runs it */
    const char *job_type;
    const json_t *input;    /* the template (wfexpr.h); {} when absent */
    const int *deps;        /* its depends_on, ascending */
    size_t ndeps;
    const int *dependents;  /* steps depending on it, ascending (may
                               include compensation-only ones) */
    size_t ndependents;
    wfdef_retries retries;
    int64_t timeout_ms;     /* per attempt; 0 = none set */
    const char *when;       /* a condition (wfexpr.h), or NULL */
    const char *for_each;   /* a reference to a list, or NULL */
    wfdef_on_failure on_failure;
    int compensate;         /* WFDEF_COMPENSATE: the step to run; else -1 */
    bool compensation_only; /* never scheduled by the normal flow */
    int level;              /* 0 without deps, else 1 + the deepest dep's */
} wfdef_step;

/*
 * Parses and validates the definition j (not modified, not kept).
 * known_agents: NULL-terminated agent types, or NULL when none are
 * registered; a step whose agent is not among them draws one
 * unknown_agent warning per agent type.
 * OUT: *problems, always: a new JSON array (empty when all is well) the
 * caller json_decref()s; *out, on success: the definition (wfdef_free()).
 * Returns 0 (there may be warnings), or FS_EINVAL when there are errors
 * (*out is then NULL).
 */
int wfdef_parse(const json_t *j, const char *const *known_agents,
                wfdef **out, json_t **problems);
void wfdef_free(wfdef *def);

/* The definition back as JSON, normalised: every default written out,
 * steps in the order given, on_failure as a string.  Parsing it gives the
 * same definition.  A new value: the caller json_decref()s it. */
json_t *wfdef_to_json(const wfdef *def);

const char *wfdef_name(const wfdef *def);
int64_t wfdef_version(const wfdef *def);      /* >= 1 */
const char *wfdef_description(const wfdef *def); /* NULL when none */
int64_t wfdef_timeout_ms(const wfdef *def);   /* 0 = none */
/* {"NAME":{"default":..., "description":...}, ...}; borrowed. */
const json_t *wfdef_inputs(const wfdef *def);
size_t wfdef_nsteps(const wfdef *def);
/* 0 <= i < wfdef_nsteps(). */
const wfdef_step *wfdef_step_at(const wfdef *def, int i);
/* The index of the step with this id, or -1. */
int wfdef_step_index(const wfdef *def, const char *id);
/* 1 + the highest level of any step. */
int wfdef_nlevels(const wfdef *def);

/*
 * The inputs of a run: given (an object, or NULL) over the defaults.
 * OUT: *out, a new object with a value for every declared input.
 * Errors: FS_EINVAL with every problem in err (an input that is not
 * declared, a declared one without default that is not given).
 */
int wfdef_resolve_inputs(const wfdef *def, const json_t *given, json_t **out,
                         char *err, size_t errlen);

/*
 * The delay in ms before retry number `attempt` (1 = the first retry) of
 * step i, rnd01 a uniform draw in [0,1) from the caller:
 *   fixed:       initial_ms
 *   exponential: d = min(max_ms, initial_ms * 2^(attempt-1)), then
 *                "equal jitter": d - floor(rnd01 * floor(d/2)), so the
 *                delay lies in [d - d/2, d] and rnd01 = 0 gives d.
 */
int64_t wfdef_backoff_ms(const wfdef *def, int i, int attempt, double rnd01);

/* The graph for people: steps by level with their agent, job type,
 * dependencies and options, then the compensation-only steps.  A new
 * string: the caller frees it. */
char *wfdef_graph_text(const wfdef *def);

/* The graph as Graphviz DOT: one box per step labelled id, agent / job
 * type (and `when`), an edge from each dependency, a dashed edge to each
 * compensation and dashed boxes for compensation-only steps.  A new
 * string: the caller frees it. */
char *wfdef_graph_dot(const wfdef *def);

#endif
