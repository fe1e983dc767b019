/* model.c - names and memory management of the records in model.h. */
#include "core/model.h"

#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"

static const char *const state_names[JOB_NSTATES] = {
    "pending", "scheduled", "running", "completed", "failed", "cancelled",
};

static bool parse_name(const char *const *names, int n, const char *name,
                       int *out)
{
    for (int i = 0; i < n; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = i;
            return true;
        }
    return false;
}

const char *job_state_name(job_state s)
{
    return (unsigned)s < JOB_NSTATES ? state_names[s] : "unknown";
}

bool job_state_parse(const char *name, job_state *out)
{
    int i;
    if (!parse_name(state_names, JOB_NSTATES, name, &i)) return false;
    *out = (job_state)i;
    return true;
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

static const char *const run_names[RUN_NSTATES] = {
    "running", "completed", "failed", "cancelled"
};
static const char *const task_names[TASK_NSTATES] = {
    "pending", "scheduled", "running", "completed", "failed", "skipped",
    "cancelled"
};


const char *run_state_name(run_state s)
{
    return (unsigned)s < RUN_NSTATES ? run_names[s] : "unknown";
}

bool run_state_parse(const char *name, run_state *out)
{
    int i;
    if (!parse_name(run_names, RUN_NSTATES, name, &i)) return false;
    *out = (run_state)i;
    return true;
}

const char *task_state_name(task_state s)
{
    return (unsigned)s < TASK_NSTATES ? task_names[s] : "unknown";
}

bool task_state_parse(const char *name, task_state *out)
{
    int i;
    if (!parse_name(task_names, TASK_NSTATES, name, &i)) return false;
    *out = (task_state)i;
    return true;
}

void fs_workflow_clear(fs_workflow *w)
{
    free(w->name);
    free(w->description);
    free(w->definition);
    memset(w, 0, sizeof *w);
}

void fs_workflows_free(fs_workflow *w, size_t n)
{
    for (size_t i = 0; i < n; i++) fs_workflow_clear(&w[i]);
    free(w);
}

void fs_run_clear(fs_run *r)
{
    free(r->workflow);
    free(r->inputs);
    free(r->error);
    memset(r, 0, sizeof *r);
}

void fs_runs_free(fs_run *r, size_t n)
{
    for (size_t i = 0; i < n; i++) fs_run_clear(&r[i]);
    free(r);
}

void fs_run_task_clear(fs_run_task *t)
{
    free(t->output);
    free(t->error);
    memset(t, 0, sizeof *t);
}

void fs_run_tasks_free(fs_run_task *t, size_t n)
{
    for (size_t i = 0; i < n; i++) fs_run_task_clear(&t[i]);
    free(t);
}

void fs_run_event_clear(fs_run_event *e)
{
    free(e->type);
    free(e->step);
    free(e->error);
    free(e->data);
    memset(e, 0, sizeof *e);
}

void fs_run_events_free(fs_run_event *e, size_t n)
{
    for (size_t i = 0; i < n; i++) fs_run_event_clear(&e[i]);
    free(e);
}

void fs_schedule_clear(fs_schedule *s)
{
    free(s->name);
    free(s->cron);
    free(s->job);
    memset(s, 0, sizeof *s);
}

void fs_schedules_free(fs_schedule *s, size_t n)
{
    for (size_t i = 0; i < n; i++) fs_schedule_clear(&s[i]);
    free(s);
}

void fs_evolution_clear(fs_evolution *e)
{
    free(e->type);
    free(e->component);
    free(e->description);
    free(e->proposed_by);
    free(e->status);
    free(e->data);
    memset(e, 0, sizeof *e);
}

void fs_evolutions_free(fs_evolution *e, size_t n)
{
    for (size_t i = 0; i < n; i++) fs_evolution_clear(&e[i]);
    free(e);
}
