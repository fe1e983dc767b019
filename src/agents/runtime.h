/*
 * runtime.h - the agent runtime (the blueprint's AgentBase): runs an agent
 * type's handler over the jobs of the queue.
 *
 * An agent type is a struct of callbacks (agent_def).  agent_start
 * registers one agent of that type with the host, then runs `concurrency`
 * worker threads and one keeper thread:
 *
 *   worker:  lease up to 1 job (long-poll, at most 1 s so a stop is seen)
 *            -> handler(ctx, payload) -> complete with its result
 *                                     -> or fail with its error (retry
 *                                        unless the handler said not to)
 *   keeper:  heartbeats the agent every agent_heartbeat_ms, and every
 *            running job's lease at a third of its length; a lease that
 *            is lost (the job was cancelled or timed out) raises that
 *            job's cancellation flag, which handlers poll (agent_cancelled)
 *
 * agent_stop raises every flag, waits up to grace_ms for handlers to
 * return, and hands back the leases of jobs still unfinished (failed with
 * retry, "worker shutting down"), so nothing waits for a lease to expire.
 *
 * The host is where jobs, memory and state live: in the server's own
 * process (host_local.c: the services, for `flowstate serve --agents`) or
 * behind the HTTP API (a later host, for `flowstate worker --url`).
 */
#ifndef AGENTS_RUNTIME_H
#define AGENTS_RUNTIME_H
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"
#include "core/model.h"

typedef struct agent_host agent_host;
typedef struct agent_ctx agent_ctx;
typedef struct agent_runtime agent_runtime;

/* An agent type. */
typedef struct agent_def {
    const char *type;              /* registered agent type, e.g. "monitoring" */
    const char *const *job_types;  /* NULL-terminated; the jobs it takes */
    /* Optional: state shared by every job of this agent (*out). */
    int (*init)(void **out);
    /*
     * Does one job.  payload is the job's JSON; on success *result is set
     * (a new reference; NULL = null) and 0 returned.  On failure return an
     * FS_E* code after agent_error() said why.
     */
    int (*handle)(agent_ctx *c, const json_t *payload, json_t **result);
    void (*shutdown)(void *state); /* optional */
} agent_def;

typedef struct agent_config {
    const char *name;          /* the agent's name (default: its type) */
    int concurrency;           /* worker threads, 1..64 (1) */
    int64_t lease_ms;          /* 0: each job's own timeout */
    int64_t agent_heartbeat_ms;/* 5000 */
    int64_t grace_ms;          /* agent_stop waits this long (10000) */
    struct llm *llm;           /* agents/llm.h, borrowed (must outlive the
                                  runtime); NULL: none, agent_llm fails */
} agent_config;

/* --- the host (where the runtime gets jobs and keeps things) ------------ */

typedef struct agent_host_ops {
    int (*register_agent)(agent_host *h, const char *name, const char *type,
                          const char *const *job_types, char **agent_id);
    int (*agent_heartbeat)(agent_host *h, const char *agent_id);
    int (*lease)(agent_host *h, const char *agent_id, const char *type,
                 const char *const *job_types, int64_t lease_ms,
                 int64_t wait_ms, fs_job **jobs, size_t *n);
    int (*job_heartbeat)(agent_host *h, int64_t id, const char *token,
                         int64_t lease_ms);
    int (*complete)(agent_host *h, int64_t id, const char *token,
                    const char *result);
    int (*fail)(agent_host *h, int64_t id, const char *token,
                const char *error, bool retry);
    int (*job_create)(agent_host *h, fs_job *job);
    int (*memory_add)(agent_host *h, const char *agent_id, const char *kind,
                      const char *content, const char *metadata, int64_t *id);
    int (*memory_search)(agent_host *h, const char *query, size_t limit,
                         json_t **results);
    int (*state_get)(agent_host *h, const char *agent_id, json_t **state,
                     int64_t *version);
    int (*state_put)(agent_host *h, const char *agent_id, const json_t *state,
                     int64_t expected_version, int64_t *version);
    int (*job_get)(agent_host *h, int64_t id, fs_job *out);
    /* [{"name","version","description"}] of the registered workflows. */
    int (*workflows)(agent_host *h, json_t **list);
    /* Starts a run; OUT: *run_id. */
    int (*run_start)(agent_host *h, const char *workflow, const json_t *inputs,
                     int64_t *run_id);
    /* [{"type","job_types":[...],"status"}] of the registered agents. */
    int (*agents)(agent_host *h, json_t **list);
    /* The system report (agents/sysreport.h).  OUT: *out. */
    int (*report)(agent_host *h, json_t **out);
    /* The vector index's health (memory_recall_check).  OUT: *recall. */
    int (*recall_check)(agent_host *h, size_t samples, int ef, double *recall);
    /* The evolution log (evolution/evolution.h): a proposal, a step on an
     * entry ("validate", "observe" or "check", with that call's body), a
     * filtered list (status, component: NULL = any) and the settings.
     * OUT: *out. */
    int (*evolution_propose)(agent_host *h, const json_t *proposal,
                             json_t **out);
    int (*evolution_step)(agent_host *h, int64_t id, const char *step,
                          const json_t *body, json_t **out);
    int (*evolution_list)(agent_host *h, const char *status,
                          const char *component, json_t **out);
    int (*evolution_settings)(agent_host *h, json_t **out);
    void (*close)(agent_host *h);
} agent_host_ops;

/* Every host's handle starts with this. */
struct agent_host {
    const agent_host_ops *ops;
};

void agent_host_close(agent_host *h);

/* --- running agents ------------------------------------------------------- */

/* Registers an agent of def's type with host (borrowed, like def) and
 * starts its threads.  Errors: FS_EINVAL, the host's, FS_EIO. */
int agent_start(agent_runtime **out, agent_host *host, const agent_def *def,
                const agent_config *cfg);
/* Stops (see top) and frees.  NULL is a no-op. */
void agent_stop(agent_runtime *rt);
/* The agent's id once started. */
const char *agent_id(const agent_runtime *rt);

typedef struct agent_counters {
    uint64_t leased, completed, failed, lost; /* lost: lease lost mid-job */
} agent_counters;
void agent_counters_get(const agent_runtime *rt, agent_counters *out);

/* --- what a handler can do (ctx is valid during handle only) -------------- */

void *agent_state(agent_ctx *c);      /* init's state, or NULL */
const fs_job *agent_job(agent_ctx *c);
const char *agent_self(agent_ctx *c); /* this agent's id */
/* True once the job's lease is lost or the agent is stopping: return
 * soon (the result would be refused anyway). */
bool agent_cancelled(agent_ctx *c);
/* Why the job failed (shown in the job and the run); returns FS_EINVAL.
 * agent_error_final: and do not retry it (bad input, not bad luck). */
int agent_error(agent_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int agent_error_final(agent_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A structured log line tagged with the agent and job. */
void agent_log(agent_ctx *c, log_level lv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Progress in [0, 1] with a note (logged; also extends the lease). */
void agent_progress(agent_ctx *c, double done, const char *note);

/* Shared memory, owned by this agent.  metadata: JSON object text or NULL. */
int agent_memory_add(agent_ctx *c, const char *kind, const char *content,
                     const char *metadata, int64_t *id);
/* Semantic search: OUT *results, [{"id","score","content","metadata"}]. */
int agent_memory_search(agent_ctx *c, const char *query, size_t limit,
                        json_t **results);
/* A job for another agent (target: an agent type); the new job's parent is
 * the current one.  OUT: *id (may be NULL). */
int agent_job_create(agent_ctx *c, const char *type, const char *target,
                     const json_t *payload, int64_t *id);
/* A job as it is now (e.g. a child's result).  Errors: FS_ENOTFOUND. */
int agent_job_get(agent_ctx *c, int64_t id, fs_job *out);
/* The registered workflows and agents, as the host ops describe them. */
int agent_workflows(agent_ctx *c, json_t **list);
int agent_agents(agent_ctx *c, json_t **list);
/* Starts a run of workflow (inputs may be NULL).  OUT: *run_id. */
int agent_run_start(agent_ctx *c, const char *workflow, const json_t *inputs,
                    int64_t *run_id);
/* The system report (agents/sysreport.h).  OUT: *out (a new reference). */
int agent_report(agent_ctx *c, json_t **out);
/* Recall@10 of the vector index at beam ef over up to samples queries
 * (memory_recall_check). */
int agent_recall_check(agent_ctx *c, size_t samples, int ef, double *recall);
/* The evolution log (the host ops above).  A proposal without
 * "proposed_by" is signed with this agent's name.  OUT: *out (a new
 * reference): the entry, [entries newest first] or {component:{"value",
 * "event","applied_at"}}; out may be NULL for a step. */
int agent_evolution_propose(agent_ctx *c, const json_t *proposal, json_t **out);
int agent_evolution_step(agent_ctx *c, int64_t id, const char *step,
                         const json_t *body, json_t **out);
int agent_evolution_list(agent_ctx *c, const char *status,
                         const char *component, json_t **out);
int agent_evolution_settings(agent_ctx *c, json_t **out);
/* This agent's versioned state: OUT *state (a new reference; {} when none
 * yet) and *version (0 when none). */
int agent_state_get(agent_ctx *c, json_t **state, int64_t *version);
/* expected_version: the version read (-1: unconditional).  Errors:
 * FS_ECONFLICT when another write came first. */
int agent_state_put(agent_ctx *c, const json_t *state, int64_t expected_version,
                    int64_t *version);
/* Asks the agent's LLM (llm_chat; system may be NULL).  OUT: *answer (the
 * caller frees).  Errors: FS_EINVAL when no LLM is configured, else
 * llm_chat's; either way agent_error() says why (final for FS_ETOOBIG). */
int agent_llm(agent_ctx *c, const char *system, const char *prompt,
              char **answer);

#endif
