/* model.c - names and memory management of the records in model.h. */
#include "core/model.h"

#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"

static const char *state_names[JOB_NSTATES] = {
    "pending", "scheduled", "running", "completed", "failed", "cancelled",
};

const char *job_state_name(job_state s)
{
    return (unsigned)s < JOB_NSTATES ? state_names[s] : "unknown";
}

bool job_state_parse(const char *name, job_state *out)
{
    for (int i = 0; i < JOB_NSTATES; i++)
        if (strcmp(name, state_names[i]) == 0) {
            *out = (job_state)i;
            return true;
        }
    return false;
}

void fs_job_clear(fs_job *j)
{
    free(j->type);
    free(j->target_agent);
    free(j->payload);
    free(j->unique_key);
    free(j->result);
    free(j->last_error);
    free(j->lease_token);
    free(j->lease_owner);
    memset(j, 0, sizeof *j);
}

void fs_jobs_free(fs_job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) fs_job_clear(&jobs[i]);
    free(jobs);
}

void fs_job_copy(fs_job *dst, const fs_job *src)
{
    *dst = *src;
    dst->type = xstrdup(src->type);
    dst->target_agent = xstrdup(src->target_agent);
    dst->payload = xstrdup(src->payload);
    dst->unique_key = xstrdup(src->unique_key);
    dst->result = xstrdup(src->result);
    dst->last_error = xstrdup(src->last_error);
    dst->lease_token = xstrdup(src->lease_token);
    dst->lease_owner = xstrdup(src->lease_owner);
}

void fs_agent_clear(fs_agent *a)
{
    free(a->id);
    free(a->name);
    free(a->type);
    free(a->job_types);
    free(a->metadata);
    memset(a, 0, sizeof *a);
}

void fs_agents_free(fs_agent *a, size_t n)
{
    for (size_t i = 0; i < n; i++) fs_agent_clear(&a[i]);
    free(a);
}

void fs_agent_state_clear(fs_agent_state *s)
{
    free(s->agent_id);
    free(s->state);
    memset(s, 0, sizeof *s);
}

void fs_agent_states_free(fs_agent_state *s, size_t n)
{
    for (size_t i = 0; i < n; i++) fs_agent_state_clear(&s[i]);
    free(s);
}

void fs_doc_clear(fs_doc *d)
{
    free(d->agent);
    free(d->kind);
    free(d->content);
    free(d->metadata);
    free(d->tags);
    free(d->embedding);
    free(d->embedder);
    free(d->embedder_version);
    memset(d, 0, sizeof *d);
}

void fs_docs_free(fs_doc *d, size_t n)
{
    for (size_t i = 0; i < n; i++) fs_doc_clear(&d[i]);
    free(d);
}
