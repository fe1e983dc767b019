/*
 * model.h - the records Flowstate keeps: jobs, agents, agent state versions,
 * memory documents, workflows and their runs, schedules.
 *
 * These are plain structs passed between the store, the services and the
 * HTTP layer.  JSON fields (payload, result, metadata, state, job_types) are
 * held as compact JSON text, validated once at the edge (HTTP / C API) and
 * stored verbatim.  Every char * field is owned by the struct: free it with
 * the matching *_clear(); a NULL field means "absent".  Times are int64 ms
 * since the Unix epoch; 0 means "not set".
 */
#ifndef MODEL_H
#define MODEL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    JOB_PENDING,   /* ready to be leased */
    JOB_SCHEDULED, /* waiting for run_at (first run or retry backoff) */
    JOB_RUNNING,   /* leased; lease_token/lease_expires set */
    JOB_COMPLETED, /* done, result stored */
    JOB_FAILED,    /* dead-lettered: attempts exhausted or retry=false */
    JOB_CANCELLED,
    JOB_NSTATES
} job_state;

const char *job_state_name(job_state s);
/* false when the name is unknown. */
bool job_state_parse(const char *name, job_state *out);

typedef struct fs_job {
    int64_t id;
    char *type;
    char *target_agent; /* an agent type, or one agent's id */
    char *payload;      /* JSON text, never NULL once stored ("{}" default) */
    int priority;       /* higher runs first */
    int64_t run_at;
    int attempts;       /* leases taken so far */
    int max_attempts;
    int64_t timeout_ms; /* default lease length for this job */
    char *unique_key;
    job_state state;
    char *result;       /* JSON text */
    char *last_error;
    int64_t parent_id;  /* 0 = none */
    char *lease_token;  /* set while running */
    char *lease_owner;  /* agent id holding the lease */
    int64_t lease_expires;
    int64_t started_at;  /* when the current/last lease was taken */
    int64_t created_at, updated_at, finished_at;
    int64_t run_id;     /* the workflow run this job is a step of, 0 = none */
} fs_job;

void fs_job_clear(fs_job *j);
void fs_jobs_free(fs_job *jobs, size_t n);
/* Deep copy of src into dst (dst is overwritten, not cleared). */
void fs_job_copy(fs_job *dst, const fs_job *src);

typedef struct fs_agent {
    char *id;        /* "ag_" + 16 hex */
    char *name;
    char *type;
    char *job_types; /* JSON array of strings */
    char *metadata;  /* JSON object */
    int64_t created_at;
    int64_t last_heartbeat;
    int64_t state_version; /* latest state version, 0 = none yet */
} fs_agent;

void fs_agent_clear(fs_agent *a);
void fs_agents_free(fs_agent *a, size_t n);

typedef struct fs_agent_state {
    char *agent_id;
    int64_t version; /* 1, 2, 3 ... */
    char *state;     /* JSON text */
    int64_t created_at;
} fs_agent_state;

void fs_agent_state_clear(fs_agent_state *s);
void fs_agent_states_free(fs_agent_state *s, size_t n);

/* A memory document (or a chunk of one: parent_id set). */
typedef struct fs_doc {
    int64_t id;
    int64_t parent_id;   /* 0 = none */
    int parent_ref;      /* in only: index in the same add batch of the
                            parent (< this index), or -1 */
    int chunk_index;     /* position among its parent's chunks, -1 = none */
    char *agent;         /* owner agent, NULL = none */
    char *kind;          /* NULL = none */
    char *content;
    char *metadata;      /* JSON object text ("{}" default) */
    char *tags;          /* JSON array of strings ("[]" default) */
    double importance;   /* 0..1 */
    float *embedding;    /* dims floats, or NULL */
    size_t dims;
    char *embedder;      /* who made the embedding, NULL = none */
    char *embedder_version;
    int64_t created_at, updated_at;
} fs_doc;

void fs_doc_clear(fs_doc *d);
void fs_docs_free(fs_doc *d, size_t n);

/* A registered workflow definition (one row per name and version). */
typedef struct fs_workflow {
    char *name;
    int version;
    char *description;
    char *definition;    /* canonical JSON text */
    int64_t created_at;
} fs_workflow;

void fs_workflow_clear(fs_workflow *w);
void fs_workflows_free(fs_workflow *w, size_t n);

typedef enum {
    RUN_RUNNING,
    RUN_COMPLETED,
    RUN_FAILED,
    RUN_CANCELLED,
    RUN_NSTATES
} run_state;

const char *run_state_name(run_state s);
bool run_state_parse(const char *name, run_state *out);

typedef struct fs_run {
    int64_t id;
    char *workflow;
    int version;         /* of the workflow definition the run uses */
    run_state state;
    char *inputs;        /* JSON object, defaults applied */
    char *error;         /* why it failed, NULL otherwise */
    int64_t rev;         /* bumped by every commit (optimistic locking) */
    int64_t deadline;    /* workflow timeout, 0 = none */
    int64_t created_at, updated_at, finished_at;
} fs_run;

void fs_run_clear(fs_run *r);
void fs_runs_free(fs_run *r, size_t n);

typedef enum {
    TASK_PENDING,   /* waiting for its dependencies */
    TASK_SCHEDULED, /* its job is queued (first attempt or retry backoff) */
    TASK_RUNNING,   /* its job is leased */
    TASK_COMPLETED,
    TASK_FAILED,
    TASK_SKIPPED,   /* `when` was false, or an upstream step was skipped */
    TASK_CANCELLED,
    TASK_NSTATES
} task_state;

const char *task_state_name(task_state s);
bool task_state_parse(const char *name, task_state *out);

/* One step of a run, or one item of a for_each step (item >= 0). */
typedef struct fs_run_task {
    int64_t run_id;
    int step;            /* index in the definition's steps */
    int item;            /* -1 = the step itself; else the for_each item */
    task_state state;
    int attempts;        /* jobs started so far */
    int64_t job_id;      /* the current attempt's job, 0 = none */
    int job_ref;         /* in only (store_run_commit): index of the new job
                            in the same change that becomes job_id, or -1 */
    int items;           /* for_each step: number of items, -1 = not yet */
    char *output;        /* JSON text */
    char *error;
    int64_t deadline;    /* the current attempt times out at, 0 = none */
    int64_t started_at, finished_at;
} fs_run_task;

void fs_run_task_clear(fs_run_task *t);
void fs_run_tasks_free(fs_run_task *t, size_t n);

/* One entry of a run's history. */
typedef struct fs_run_event {
    int64_t run_id;
    int64_t seq;         /* 1, 2, 3 ... per run */
    int64_t at;
    char *type;          /* run_started, step_scheduled, step_started, ... */
    char *step;          /* step id, NULL for run events */
    int item;            /* -1 = none */
    int attempt;         /* 0 = none */
    char *error;
    char *data;          /* JSON object with anything else, or NULL */
} fs_run_event;

void fs_run_event_clear(fs_run_event *e);
void fs_run_events_free(fs_run_event *e, size_t n);

/* A periodic job: when its cron expression comes due, the scheduler
 * (queue/sched.h) enqueues the job it describes. */
typedef struct fs_schedule {
    char *name;          /* [A-Za-z0-9._-], 1..100 bytes */
    char *cron;          /* the expression as given (queue/cron.h) */
    char *job;           /* JSON object: type, target_agent and optionally
                            payload, priority, max_attempts, timeout_ms */
    bool enabled;
    int64_t last_fire;   /* the fire time last enqueued, 0 = never */
    int64_t created_at, updated_at;
} fs_schedule;

void fs_schedule_clear(fs_schedule *s);
void fs_schedules_free(fs_schedule *s, size_t n);

/* One entry of the evolution log (evolution/evolution.h says how it moves
 * and what data holds). */
typedef struct fs_evolution {
    int64_t id;
    char *type;          /* parameter_tuning, knowledge_acquisition, ... */
    char *component;     /* what it changes, e.g. "memory.ef_search" */
    char *description;
    char *proposed_by;
    char *status;        /* proposed, validated, applied, rolled_back,
                            rejected */
    char *data;          /* JSON object: change, metrics, monitor, history */
    int64_t rev;         /* bumped by each update (optimistic concurrency) */
    int64_t created_at, updated_at;
    int64_t applied_at;  /* 0 = never applied */
} fs_evolution;

void fs_evolution_clear(fs_evolution *e);
void fs_evolutions_free(fs_evolution *e, size_t n);

#endif
