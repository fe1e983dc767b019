/*
 * api_schedules.c - periodic jobs over HTTP (admin key only).
 *
 *   POST   /v1/schedules         {"name","cron","job":{...},"enabled"}
 *                                -> 201 created, 200 replaced (last_fire
 *                                kept); 400 names the bad field
 *   GET    /v1/schedules         {"schedules":[...]} by name
 *   GET    /v1/schedules/{name}  one schedule, 404 when unknown
 *   DELETE /v1/schedules/{name}  204, 404 when unknown
 *
 * A schedule reads {"name","cron","job","enabled","next_fire_at",
 * "last_fire_at","created_at","updated_at"}; next_fire_at is null when it
 * is disabled.  "job" holds the fields of POST /v1/jobs that make sense
 * for every fire (type, target_agent, payload, priority, max_attempts,
 * timeout_ms), checked by the same reader; it is stored as given and the
 * queue's defaults apply at each fire.  A cron that does not parse gets
 * cron_parse's message ("field 2 (hour): 25 is out of 0-23"), one that
 * never fires ("0 0 30 2 *") is refused too.  Every change wakes the
 * scheduler (sched_changed), so a new schedule's first fire is not late.
 */
#include <stdlib.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/xmem.h"
#include "http/api.h"
#include "http/body.h"
#include "queue/cron.h"
#include "queue/sched.h"
#include "serve/app.h"

#define MAX_CRON 256

static json_t *schedule_json(const fs_schedule *s, int64_t now)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(s->name));
    json_object_set_new(o, "cron", json_string(s->cron));
    json_object_set_new(o, "job", api_json_text(s->job));
    json_object_set_new(o, "enabled", json_boolean(s->enabled));
    json_object_set_new(o, "next_fire_at", api_time(sched_next_fire(s, now)));
    json_object_set_new(o, "last_fire_at", api_time(s->last_fire));
    json_object_set_new(o, "created_at", api_time(s->created_at));
    json_object_set_new(o, "updated_at", api_time(s->updated_at));
    return o;
}

/* The cron field: it parses and fires within the horizon.  false after a
 * 400 naming it. */
static bool cron_check(const body_in *in, const char *expr, int64_t now)
{
    cron *c;
    char err[256];
    if (cron_parse(expr, &c, err, sizeof err)) {
        body_field_error(in, "invalid_field", "cron",
                         "is not a cron expression: %s", err);
        return false;
    }
    int64_t next = cron_next(c, now);
    cron_free(c);
    if (next) return true;
    body_field_error(in, "invalid_field", "cron",
                     "never fires (no such date in the next 5 years)");
    return false;
}

/* The job of a schedule: the fields of POST /v1/jobs that apply to every
 * fire, read (and so checked) by the same reader. */
static bool job_check(json_t *job, http_resp *resp)
{
    static const char *const known[] = { "type",         "target_agent",
                                         "payload",      "priority",
                                         "max_attempts", "timeout_ms" };
    body_in in = { job, "job.", resp };
    fs_job j = { 0 };
    bool ok = body_only_fields(&in, known, sizeof known / sizeof *known) &&
              api_job_read(&in, &j);
    fs_job_clear(&j);
    return ok;
}

/* Reads a POST body into s (strings owned: fs_schedule_clear).  false
 * after a 400. */
static bool schedule_read(json_t *o, http_resp *resp, int64_t now,
                          fs_schedule *s)
{
    static const char *const known[] = { "name", "cron", "job", "enabled" };
    body_in in = { o, "", resp };
    const char *name = NULL, *expr = NULL;
    json_t *job = NULL;
    bool enabled = true;
    if (!body_only_fields(&in, known, sizeof known / sizeof *known) ||
        !body_str(&in, "name", BODY_REQUIRED, SCHED_MAX_NAME, &name))
        return false;
    if (!sched_name_ok(name)) {
        body_field_error(&in, "invalid_field", "name",
                         "may hold only letters, digits, '.', '_' and '-'");
        return false;
    }
    if (!body_str(&in, "cron", BODY_REQUIRED, MAX_CRON, &expr) ||
        !cron_check(&in, expr, now) ||
        !body_obj(&in, "job", BODY_REQUIRED, &job) || !job_check(job, resp) ||
        !body_bool(&in, "enabled", 0, &enabled))
        return false;
    s->name = xstrdup(name);
    s->cron = xstrdup(expr);
    s->job = fs_json_dump(job, 0);
    s->enabled = enabled;
    return true;
}

void api_schedule_put(http_req *req, http_resp *resp)
{
    json_t *o = body_parse(req->body, req->body_len, false, resp);
    if (!o) return;
    int64_t now = fs_now(&req->app->clk);
    fs_schedule s = { 0 };
    bool existed = false;
    if (!schedule_read(o, resp, now, &s)) goto out;
    int rc = store_schedule_put(req->app->st, &s, now, &existed);
    if (rc) {
        http_resp_fail(resp, req, rc, "store schedule");
        goto out;
    }
    sched_changed(req->app->sched);
    http_resp_json(resp, existed ? 200 : 201, schedule_json(&s, now));
out:
    fs_schedule_clear(&s);
    json_decref(o);
}

void api_schedule_list(http_req *req, http_resp *resp)
{
    fs_schedule *all;
    size_t n;
    int rc = store_schedule_list(req->app->st, &all, &n);
    if (rc) {
        http_resp_fail(resp, req, rc, "list schedules");
        return;
    }
    int64_t now = fs_now(&req->app->clk);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, schedule_json(&all[i], now));
    fs_schedules_free(all, n);
    http_resp_json(resp, 200, json_pack("{s:o}", "schedules", arr));
}

/* The {name} path parameter, or NULL after a 404 (a name no schedule can
 * have is not looked up). */
static const char *path_name(http_req *req, http_resp *resp)
{
    const char *name = req->nparams ? req->params[0] : NULL;
    if (sched_name_ok(name)) return name;
    http_resp_error(resp, 404, "not_found", "no such schedule");
    return NULL;
}

/* A store error as the answer: 404 for FS_ENOTFOUND. */
static void schedule_fail(http_req *req, http_resp *resp, int rc,
                          const char *what)
{
    if (rc == FS_ENOTFOUND)
        http_resp_error(resp, 404, "not_found", "no such schedule");
    else
        http_resp_fail(resp, req, rc, "%s schedule", what);
}

void api_schedule_get(http_req *req, http_resp *resp)
{
    const char *name = path_name(req, resp);
    if (!name) return;
    fs_schedule s;
    int rc = store_schedule_get(req->app->st, name, &s);
    if (rc) {
        schedule_fail(req, resp, rc, "get");
        return;
    }
    http_resp_json(resp, 200, schedule_json(&s, fs_now(&req->app->clk)));
    fs_schedule_clear(&s);
}

void api_schedule_delete(http_req *req, http_resp *resp)
{
    const char *name = path_name(req, resp);
    if (!name) return;
    int rc = store_schedule_delete(req->app->st, name);
    if (rc) {
        schedule_fail(req, resp, rc, "delete");
        return;
    }
    sched_changed(req->app->sched);
    http_resp_json(resp, 204, NULL);
}
