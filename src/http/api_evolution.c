/*
 * api_evolution.c - the evolution log over HTTP (evolution/evolution.h).
 *
 *   GET  /v1/evolution[?status=&type=&component=&limit=&cursor=]
 *                               {"events":[...],"next_cursor"} newest first
 *   POST /v1/evolution          a proposal -> 201 with the entry as it
 *                               settled (proposed, validated, applied or
 *                               rejected); 400 names the bad field
 *   GET  /v1/evolution/settings {"settings":{component:{"value","event",
 *                               "applied_at"}}}
 *   GET  /v1/evolution/{id}
 *   POST /v1/evolution/{id}/validate  {"metrics_before","metrics_after"}
 *   POST /v1/evolution/{id}/observe   {"count","sum"}
 *   POST /v1/evolution/{id}/check     the monitor looks at what was observed
 *   POST /v1/evolution/{id}/approve|reject|rollback  {"note"?}  admin only
 *
 * Agent tokens may read, propose, validate, observe and check; their
 * proposals are signed with the agent's name whatever proposed_by says.
 * Approving, rejecting and rolling back are a person's: admin keys only,
 * signed "api".  A step the entry's status does not allow is 409
 * invalid_state; approving a stale change (its component moved since it
 * was proposed) is 409 conflict.
 */
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "evolution/evolution.h"
#include "http/api.h"
#include "http/body.h"
#include "serve/app.h"

#define EVOLUTION_DEFAULT 50
#define EVOLUTION_MAX 1000

/* Who acts: the agent's name for an agent token, else "api". */
static const char *caller(const http_req *req)
{
    if (req->principal->role == AUTH_AGENT && req->principal->agent.name)
        return req->principal->agent.name;
    return "api";
}

/* An evolution error as the answer. */
static void evo_fail(http_req *req, http_resp *resp, int rc,
                     const evolution_err *err)
{
    json_t *e;
    switch (rc) {
    case FS_EINVAL:
        e = http_resp_error(resp, 400, "invalid_field", "%s%s%s",
                            err->field, *err->field ? " " : "", err->msg);
        if (*err->field) json_object_set_new(e, "field", json_string(err->field));
        return;
    case FS_ESTATE:
        http_resp_error(resp, 409, "invalid_state", "%s", err->msg);
        return;
    case FS_ECONFLICT:
        http_resp_error(resp, 409, "conflict", "%s", err->msg);
        return;
    case FS_ENOTFOUND:
        http_resp_error(resp, 404, "not_found", "no such evolution entry");
        return;
    default:
        http_resp_fail(resp, req, rc, "evolution");
    }
}

/* A 400 for query parameter name, which must be one of `allowed`. */
static void bad_query(http_resp *resp, const char *name, const char *allowed)
{
    json_t *e = http_resp_error(resp, 400, "invalid_field",
                                "query parameter '%s' must be one of %s", name, allowed);
    json_object_set_new(e, "field", json_string(name));
}

void api_evolution_list(http_req *req, http_resp *resp)
{
    int64_t limit = EVOLUTION_DEFAULT, cursor = 0;
    store_evolution_filter f = { .status = http_query(req, "status"),
                                 .type = http_query(req, "type"),
                                 .component = http_query(req, "component") };
    if (f.status && !evolution_status_ok(f.status)) {
        bad_query(resp, "status", "proposed, validated, applied, rolled_back, rejected");
        return;
    }
    if (f.type && !evolution_type_ok(f.type)) {
        bad_query(resp, "type", "parameter_tuning, knowledge_acquisition, "
                                "anomaly_response, workflow_change");
        return;
    }
    if (!body_query_int(resp, "limit", http_query(req, "limit"), 1,
                        EVOLUTION_MAX, &limit) ||
        !body_query_int(resp, "cursor", http_query(req, "cursor"), 1,
                        INT64_MAX, &cursor))
        return;
    f.limit = (int)limit;
    f.before_id = cursor;
    json_t *list;
    int64_t next;
    int rc = evolution_list(req->app->evo, &f, &list, &next);
    if (rc) {
        http_resp_fail(resp, req, rc, "list evolution");
        return;
    }
    http_resp_json(resp, 200,
                   json_pack("{s:o,s:o}", "events", list, "next_cursor",
                             next ? json_sprintf("%lld", (long long)next)
                                  : json_null()));
}

void api_evolution_propose(http_req *req, http_resp *resp)
{
    json_t *o = body_parse(req->body, req->body_len, false, resp);
    if (!o) return;
    if (req->principal->role == AUTH_AGENT || !json_object_get(o, "proposed_by"))
        json_object_set_new(o, "proposed_by", json_string(caller(req)));
    json_t *entry;
    evolution_err err = { 0 };
    int rc = evolution_propose(req->app->evo, o, &entry, &err);
    if (rc) evo_fail(req, resp, rc, &err);
    else http_resp_json(resp, 201, entry);
    json_decref(o);
}

void api_evolution_settings(http_req *req, http_resp *resp)
{
    json_t *all;
    int rc = evolution_settings(req->app->evo, &all);
    if (rc) http_resp_fail(resp, req, rc, "evolution settings");
    else http_resp_json(resp, 200, json_pack("{s:o}", "settings", all));
}

void api_evolution_get(http_req *req, http_resp *resp)
{
    int64_t id;
    if (!api_path_id(req, resp, "evolution entry", &id)) return;
    json_t *entry;
    evolution_err err = { 0 };
    int rc = evolution_get(req->app->evo, id, &entry);
    if (rc) evo_fail(req, resp, rc, &err);
    else http_resp_json(resp, 200, entry);
}

/* The entry id and the body (an object; empty allowed).  false after an
 * error answer. */
static bool step_args(http_req *req, http_resp *resp, int64_t *id, json_t **o)
{
    if (!api_path_id(req, resp, "evolution entry", id)) return false;
    *o = body_parse(req->body, req->body_len, true, resp);
    return *o != NULL;
}

void api_evolution_validate(http_req *req, http_resp *resp)
{
    int64_t id;
    json_t *o, *entry;
    if (!step_args(req, resp, &id, &o)) return;
    evolution_err err = { 0 };
    int rc = evolution_validate(req->app->evo, id, o, &entry, &err);
    if (rc) evo_fail(req, resp, rc, &err);
    else http_resp_json(resp, 200, entry);
    json_decref(o);
}

void api_evolution_observe(http_req *req, http_resp *resp)
{
    static const char *const known[] = { "count", "sum" };
    int64_t id;
    json_t *o, *entry;
    if (!step_args(req, resp, &id, &o)) return;
    body_in in = { o, "", resp };
    json_t *count = json_object_get(o, "count"), *sum = json_object_get(o, "sum");
    if (!body_only_fields(&in, known, 2)) goto out;
    if (!json_is_number(count) || !json_is_number(sum)) {
        body_field_error(&in, "invalid_field", json_is_number(count) ? "sum" : "count",
                         "is required (a number)");
        goto out;
    }
    evolution_err err = { 0 };
    int rc = evolution_observe(req->app->evo, id, json_number_value(sum),
                               json_number_value(count), &entry, &err);
    if (rc) evo_fail(req, resp, rc, &err);
    else http_resp_json(resp, 200, entry);
out:
    json_decref(o);
}

void api_evolution_check(http_req *req, http_resp *resp)
{
    int64_t id;
    json_t *entry;
    if (!api_path_id(req, resp, "evolution entry", &id)) return;
    evolution_err err = { 0 };
    int rc = evolution_check(req->app->evo, id, caller(req), &entry, &err);
    if (rc) evo_fail(req, resp, rc, &err);
    else http_resp_json(resp, 200, entry);
}

typedef int decide_fn(evolution *ev, int64_t id, const char *by,
                      const char *note, json_t **entry, evolution_err *err);

/* approve, reject, rollback: {"note"?}. */
static void decide(http_req *req, http_resp *resp, decide_fn *fn)
{
    static const char *const known[] = { "note" };
    int64_t id;
    json_t *o, *entry;
    const char *note = NULL;
    if (!step_args(req, resp, &id, &o)) return;
    body_in in = { o, "", resp };
    if (body_only_fields(&in, known, 1) &&
        body_str(&in, "note", 0, EVOLUTION_MAX_TEXT, &note)) {
        evolution_err err = { 0 };
        int rc = fn(req->app->evo, id, caller(req), note, &entry, &err);
        if (rc) evo_fail(req, resp, rc, &err);
        else http_resp_json(resp, 200, entry);
    }
    json_decref(o);
}

void api_evolution_approve(http_req *req, http_resp *resp)
{
    decide(req, resp, evolution_approve);
}

void api_evolution_reject(http_req *req, http_resp *resp)
{
    decide(req, resp, evolution_reject);
}

void api_evolution_rollback(http_req *req, http_resp *resp)
{
    decide(req, resp, evolution_rollback);
}
