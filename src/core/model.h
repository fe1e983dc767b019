/*
 * model.h - the records Flowstate keeps: jobs, agents, agent state versions.
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

#endif
