/*
 * api_system.c - GET /v1/health, GET /metrics, GET /v1/queue/stats, and
 * for the monitoring agent over HTTP: GET /v1/system/report (sysreport.h),
 * POST /v1/memory/index/check {"samples","ef"} -> {"recall","samples","ef"}
 * (memory_recall_check) and PUT /v1/memory/index/ef {"ef"} -> {"ef",
 * "evolution"} (logged as an approved change of memory.ef_search).
 *
 * Stats come from one queue_stats() call: rows of (type, state, count,
 * oldest run_at), folded here into per-state totals (every state present,
 * zeros included) and per-type rows.  /metrics renders the same numbers
 * plus the queue counters and the latency histograms in the Prometheus
 * text format 0.0.4.
 */
#include "http/api.h"

#include <stdlib.h>
#include <string.h>

#include "agents/sysreport.h"
#include "core/fs.h"
#include "core/metrics.h"
#include "core/xmem.h"
#include "evolution/evolution.h"
#include "http/body.h"

void api_health(http_req *req, http_resp *resp)
{
    fs_app *app = req->app;
    int64_t up = (fs_now(&app->clk) - app->started_at) / 1000;
    http_resp_json(resp, 200,
                   json_pack("{s:s,s:s,s:s,s:I}", "status", "ok", "version",
                             FLOWSTATE_VERSION, "store",
                             store_backend(app->st), "uptime_s",
                             (json_int_t)(up > 0 ? up : 0)));
}

/* Per-type counts folded from stats rows. */
typedef struct type_row {
    const char *type; /* borrowed from the stats rows */
    int64_t n[JOB_NSTATES];
    int64_t oldest_pending; /* min run_at of pending jobs; 0 = none */
} type_row;

typedef struct stats {
    store_stat *rows;
    size_t nrows;
    int64_t total[JOB_NSTATES];
    type_row *types;
    size_t ntypes;
} stats;

static void stats_free(stats *s)
{
    store_stats_free(s->rows, s->nrows);
    free(s->types);
}

/* Loads and folds queue stats.  Errors: those of queue_stats. */
static int stats_load(fs_app *app, stats *s)
{
    memset(s, 0, sizeof *s);
    int rc = queue_stats(app->q, &s->rows, &s->nrows);
    if (rc) return rc;
    s->types = xcalloc(s->nrows ? s->nrows : 1, sizeof *s->types);
    for (size_t i = 0; i < s->nrows; i++) {
        const store_stat *r = &s->rows[i];
        if ((unsigned)r->state >= JOB_NSTATES) continue;
        s->total[r->state] += r->count;
        size_t t = 0;
        while (t < s->ntypes && strcmp(s->types[t].type, r->type) != 0) t++;
        if (t == s->ntypes) s->types[s->ntypes++].type = r->type;
        s->types[t].n[r->state] += r->count;
        if (r->state == JOB_PENDING && r->count > 0 &&
            (!s->types[t].oldest_pending ||
             r->oldest_run_at < s->types[t].oldest_pending))
            s->types[t].oldest_pending = r->oldest_run_at;
    }
    return 0;
}

void api_queue_stats(http_req *req, http_resp *resp)
{
    stats s;
    int rc = stats_load(req->app, &s);
    if (rc) {
        http_resp_fail(resp, req, rc, "queue stats");
        return;
    }
    int64_t now = fs_now(&req->app->clk);
    json_t *states = json_object(), *types = json_array();
    for (int st = 0; st < JOB_NSTATES; st++)
        json_object_set_new(states, job_state_name((job_state)st),
                            json_integer(s.total[st]));
    for (size_t t = 0; t < s.ntypes; t++) {
        json_t *o = json_pack("{s:s}", "type", s.types[t].type);
        if (!o) continue; /* stored type not UTF-8: cannot happen via API */
        for (int st = 0; st < JOB_NSTATES; st++)
            json_object_set_new(o, job_state_name((job_state)st),
                                json_integer(s.types[t].n[st]));
        int64_t oldest = s.types[t].oldest_pending;
        json_object_set_new(o, "oldest_pending_age_ms",
                            oldest ? json_integer(now > oldest ? now - oldest
                                                               : 0)
                                   : json_null());
        json_array_append_new(types, o);
    }
    queue_counters c;
    queue_counters_get(req->app->q, &c);
    http_resp_json(resp, 200,
                   json_pack("{s:o,s:o,s:o}", "states", states, "types", types,
                             "counters", sysreport_counters(&c)));
    stats_free(&s);
}

/* A Prometheus label value: \, " and newline escaped. */
static void label(fs_buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') fs_buf_printf(b, "\\%c", *s);
        else if (*s == '\n') fs_buf_printf(b, "\\n");
        else fs_buf_printf(b, "%c", *s);
    }
}

static void render_jobs(fs_buf *b, const stats *s)
{
    fs_buf_printf(b, "# HELP flowstate_jobs Jobs by state.\n"
                     "# TYPE flowstate_jobs gauge\n");
    for (int st = 0; st < JOB_NSTATES; st++)
        fs_buf_printf(b, "flowstate_jobs{state=\"%s\"} %lld\n",
                      job_state_name((job_state)st), (long long)s->total[st]);
    fs_buf_printf(b, "# HELP flowstate_jobs_by_type Jobs by type and state.\n"
                     "# TYPE flowstate_jobs_by_type gauge\n");
    for (size_t t = 0; t < s->ntypes; t++)
        for (int st = 0; st < JOB_NSTATES; st++) {
            fs_buf_printf(b, "flowstate_jobs_by_type{type=\"");
            label(b, s->types[t].type);
            fs_buf_printf(b, "\",state=\"%s\"} %lld\n",
                          job_state_name((job_state)st),
                          (long long)s->types[t].n[st]);
        }
    fs_buf_printf(b, "# HELP flowstate_leases_active Jobs leased right now.\n"
                     "# TYPE flowstate_leases_active gauge\n"
                     "flowstate_leases_active %lld\n",
                  (long long)s->total[JOB_RUNNING]);
}

static void render_counters(fs_buf *b, const queue_counters *c)
{
    const struct {
        const char *name;
        uint64_t v;
    } rows[] = {
        { "enqueued", c->enqueued }, { "leased", c->leased },
        { "completed", c->completed }, { "failed", c->failed },
        { "retried", c->retried }, { "dead", c->dead },
        { "rescued", c->rescued }, { "cancelled", c->cancelled },
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        fs_buf_printf(b,
                      "# HELP flowstate_jobs_%s_total Jobs %s since start.\n"
                      "# TYPE flowstate_jobs_%s_total counter\n"
                      "flowstate_jobs_%s_total %llu\n",
                      rows[i].name, rows[i].name, rows[i].name, rows[i].name,
                      (unsigned long long)rows[i].v);
    fs_buf_printf(b, "# HELP flowstate_queue_waiters Workers blocked in a "
                     "long-poll lease.\n"
                     "# TYPE flowstate_queue_waiters gauge\n"
                     "flowstate_queue_waiters %llu\n",
                  (unsigned long long)c->waiters);
}

void api_metrics(http_req *req, http_resp *resp)
{
    stats s;
    int rc = stats_load(req->app, &s);
    if (rc) {
        http_resp_fail(resp, req, rc, "metrics");
        return;
    }
    fs_buf b = { 0 };
    queue_counters c;
    queue_counters_get(req->app->q, &c);
    render_jobs(&b, &s);
    render_counters(&b, &c);
    fs_hist_render(&b, "flowstate_job_wait_seconds",
                   "Time from a job being due to being leased.", "",
                   queue_wait_histogram(req->app->q));
    fs_hist_render(&b, "flowstate_job_run_seconds",
                   "Time from lease to completion or failure.", "",
                   queue_run_histogram(req->app->q));
    http_metrics_render(req->app->http, &b);
    stats_free(&s);
    http_resp_text(resp, 200, "text/plain; version=0.0.4; charset=utf-8",
                   b.data, b.len);
}

void api_system_report(http_req *req, http_resp *resp)
{
    fs_app *app = req->app;
    json_t *out;
    int rc = sysreport_build(app->q, app->reg, app->wf, app->mem, fs_now(&app->clk),
                             &out);
    if (rc) http_resp_fail(resp, req, rc, "system report");
    else http_resp_json(resp, 200, out);
}

void api_index_check(http_req *req, http_resp *resp)
{
    json_t *root = body_parse(req->body, req->body_len, true, resp);
    if (!root) return;
    body_in in = { root, "", resp };
    int64_t samples = 50, ef = memory_ef(req->app->mem);
    double recall;
    if (body_int(&in, "samples", 0, 0, MEMORY_MAX_BATCH, &samples) &&
        body_int(&in, "ef", 0, 1, MEMORY_MAX_EF, &ef)) {
        int rc = memory_recall_check(req->app->mem, (size_t)samples, (int)ef, &recall);
        if (rc) http_resp_fail(resp, req, rc, "index check");
        else http_resp_json(resp, 200, json_pack("{s:f,s:I,s:I}", "recall", recall,
                                                 "samples", (json_int_t)samples,
                                                 "ef", (json_int_t)ef));
    }
    json_decref(root);
}

/* PUT /v1/memory/index/ef: a person's change of ef_search, logged like
 * any other (a proposal approved at once), so it lasts across restarts
 * and can be rolled back. */
void api_index_ef(http_req *req, http_resp *resp)
{
    json_t *root = body_parse(req->body, req->body_len, false, resp);
    if (!root) return;
    body_in in = { root, "", resp };
    int64_t ef;
    json_t *entry = NULL, *applied = NULL;
    evolution_err err = { 0 };
    if (!body_int(&in, "ef", BODY_REQUIRED, 1, MEMORY_MAX_EF, &ef)) goto out;
    int before = memory_ef(req->app->mem);
    json_t *p = json_pack("{s:s,s:s,s:s,s:s,s:{s:i,s:I}}", "type", "parameter_tuning",
                          "component", "memory.ef_search", "description",
                          "ef_search set through PUT /v1/memory/index/ef",
                          "proposed_by", "api", "change", "from", before, "to",
                          (json_int_t)ef);
    int rc = evolution_propose(req->app->evo, p, &entry, &err);
    json_decref(p);
    if (!rc)
        rc = evolution_approve(req->app->evo,
                               json_integer_value(json_object_get(entry, "id")), "api",
                               NULL, &applied, &err);
    if (rc == FS_ECONFLICT || rc == FS_EINVAL)
        http_resp_error(resp, 409, "conflict", "%s", err.msg);
    else if (rc)
        http_resp_fail(resp, req, rc, "set ef");
    else
        http_resp_json(resp, 200, json_pack("{s:i,s:O}", "ef", memory_ef(req->app->mem),
                                            "evolution", json_object_get(applied, "id")));
out:
    json_decref(entry);
    json_decref(applied);
    json_decref(root);
}
