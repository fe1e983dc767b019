/*
 * sysreport.c - the system report (see sysreport.h): queue stats folded
 * per job type, the registry's agents with their heartbeat ages, the
 * workflow runs still running (paged through the store) and the memory
 * index's size and beam.
 */
#include "agents/sysreport.h"

#include <string.h>

#include "core/fs.h"

#define RUN_PAGE 1000

json_t *sysreport_counters(const queue_counters *c)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
                     "enqueued", (json_int_t)c->enqueued, "leased",
                     (json_int_t)c->leased, "completed",
                     (json_int_t)c->completed, "failed", (json_int_t)c->failed,
                     "retried", (json_int_t)c->retried, "dead",
                     (json_int_t)c->dead, "rescued", (json_int_t)c->rescued,
                     "cancelled", (json_int_t)c->cancelled, "requeued",
                     (json_int_t)c->requeued, "pruned", (json_int_t)c->pruned,
                     "waiters", (json_int_t)c->waiters);
}

/* The row of type in byname (created with zero counts when new). */
static json_t *type_row(json_t *byname, json_t *types, const char *type)
{
    json_t *o = json_object_get(byname, type);
    if (o) return o;
    o = json_pack("{s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:n}", "type", type, "pending", 0,
                  "scheduled", 0, "running", 0, "completed", 0, "failed", 0,
                  "cancelled", 0, "oldest_pending_age_ms");
    json_object_set_new(byname, type, o);
    json_array_append(types, o);
    return o;
}

static int queue_part(queue *q, int64_t now, json_t **out)
{
    store_stat *rows;
    size_t n;
    int rc = queue_stats(q, &rows, &n);
    if (rc) return rc;
    json_t *byname = json_object(), *types = json_array();
    for (size_t i = 0; i < n; i++) {
        const store_stat *r = &rows[i];
        json_t *o = r->type && (unsigned)r->state < JOB_NSTATES
                        ? type_row(byname, types, r->type) : NULL;
        if (!o) continue; /* a stored type that is not UTF-8 */
        const char *key = job_state_name(r->state);
        json_object_set_new(o, key, json_integer(json_integer_value(
                                        json_object_get(o, key)) + r->count));
        if (r->state != JOB_PENDING || r->count <= 0) continue;
        int64_t age = now > r->oldest_run_at ? now - r->oldest_run_at : 0;
        json_t *old = json_object_get(o, "oldest_pending_age_ms");
        if (json_is_null(old) || age > json_integer_value(old))
            json_object_set_new(o, "oldest_pending_age_ms", json_integer(age));
    }
    store_stats_free(rows, n);
    json_decref(byname);
    queue_counters c;
    queue_counters_get(q, &c);
    *out = json_pack("{s:o,s:o}", "types", types, "counters", sysreport_counters(&c));
    return 0;
}

static int agents_part(registry *reg, int64_t now, json_t **out)
{
    fs_agent *a;
    size_t n;
    int rc = registry_list(reg, &a, &n);
    if (rc) return rc;
    *out = json_array();
    for (size_t i = 0; i < n; i++) {
        int64_t age = now > a[i].last_heartbeat ? now - a[i].last_heartbeat : 0;
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:I}", "id", a[i].id, "name",
                              a[i].name ? a[i].name : "", "type", a[i].type,
                              "status", registry_status(reg, &a[i]),
                              "last_heartbeat_age_ms", (json_int_t)age);
        if (o) json_array_append_new(*out, o);
    }
    fs_agents_free(a, n);
    return 0;
}

static int runs_part(workflow *wf, int64_t now, json_t **out)
{
    store_run_filter f = { .state = RUN_RUNNING, .limit = RUN_PAGE };
    json_t *overdue = json_array();
    int64_t running = 0;
    int rc;
    for (;;) {
        fs_run *r;
        size_t n;
        if ((rc = workflow_runs(wf, &f, &r, &n))) break;
        for (size_t i = 0; i < n; i++)
            if (r[i].deadline && r[i].deadline < now &&
                json_array_size(overdue) < SYSREPORT_MAX_OVERDUE)
                json_array_append_new(overdue, json_integer(r[i].id));
        running += (int64_t)n;
        if (n) f.before_id = r[n - 1].id;
        fs_runs_free(r, n);
        if (n < RUN_PAGE) break;
    }
    if (rc) {
        json_decref(overdue);
        return rc;
    }
    *out = json_pack("{s:I,s:o}", "running", (json_int_t)running, "overdue", overdue);
    return 0;
}

int sysreport_build(queue *q, registry *reg, workflow *wf, memory *mem,
                    int64_t now, json_t **out)
{
    json_t *qp = NULL, *ap = NULL, *rp = NULL;
    int rc = queue_part(q, now, &qp);
    if (!rc) rc = agents_part(reg, now, &ap);
    if (!rc && wf) rc = runs_part(wf, now, &rp);
    if (rc) goto fail;
    json_t *mp = mem ? json_pack("{s:I,s:i}", "vectors", (json_int_t)memory_indexed(mem),
                                 "ef", memory_ef(mem))
                     : json_null();
    *out = json_pack("{s:I,s:o,s:o,s:o,s:o}", "at", (json_int_t)now, "queue", qp,
                     "agents", ap, "runs", rp ? rp : json_null(), "memory", mp);
    return 0;
fail:
    json_decref(qp);
    json_decref(ap);
    return rc;
}
