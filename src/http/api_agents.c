/*
 * api_agents.c - the agent registry over HTTP: register, list, show,
 * heartbeat, and versioned state (read, optimistic write, history).
 *
 * Admins may act on any agent; an agent token only on its own id
 * (api_require_self, checked before any read or write).  A state write
 * names the version it read either as "expected_version" in the body or
 * as an If-Match header; a stale one gets 409 "version_conflict" with the
 * current version so the client can re-read and retry.
 */
#include "http/api.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/json.h"
#include "core/xmem.h"
#include "http/body.h"
#include "queue/queue.h"

#define MAX_JOB_TYPES 100

/* Reads a registration body (see api.h).  Pure (no store):
 * fuzz/fuzz_body.c drives it. */
bool api_agent_read(json_t *o, http_resp *resp, api_agent_args *out)
{
    body_in in = { o, "", resp };
    *out = (api_agent_args){ 0 };
    return body_str(&in, "name", BODY_REQUIRED, QUEUE_MAX_NAME, &out->name) &&
           body_str(&in, "type", BODY_REQUIRED, QUEUE_MAX_NAME, &out->type) &&
           body_str_array(&in, "job_types", 0, MAX_JOB_TYPES, QUEUE_MAX_NAME,
                          &out->job_types) &&
           body_obj(&in, "metadata", 0, &out->metadata);
}

void api_agent_create(http_req *req, http_resp *resp)
{
    json_t *o = body_parse(req->body, req->body_len, false, resp);
    if (!o) return;
    api_agent_args ag;
    char *types_s = NULL, *meta_s = NULL, *token = NULL;
    fs_agent a = { 0 };
    if (!api_agent_read(o, resp, &ag)) goto out;
    if (ag.job_types) types_s = fs_json_dump(ag.job_types, 0);
    if (ag.metadata) meta_s = fs_json_dump(ag.metadata, 0);
    int rc = registry_register(req->app->reg, ag.name, ag.type, types_s,
                               meta_s, &a, &token);
    if (rc) {
        http_resp_fail(resp, req, rc, "register agent");
        goto out;
    }
    json_t *j = api_agent_json(req->app->reg, &a);
    json_object_set_new(j, "token", json_string(token));
    char *loc = xasprintf("/v1/agents/%s", a.id);
    http_resp_header(resp, "Location", loc);
    free(loc);
    http_resp_json(resp, 201, j);
out:
    if (token) memset(token, 0, strlen(token));
    free(token);
    free(types_s);
    free(meta_s);
    fs_agent_clear(&a);
    json_decref(o);
}

void api_agent_list(http_req *req, http_resp *resp)
{
    fs_agent *list = NULL;
    size_t n = 0;
    int rc = registry_list(req->app->reg, &list, &n);
    if (rc) {
        http_resp_fail(resp, req, rc, "list agents");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, api_agent_json(req->app->reg, &list[i]));
    fs_agents_free(list, n);
    http_resp_json(resp, 200, json_pack("{s:o}", "agents", arr));
}

/* Loads the {id} agent (after the self check); false after a 403/404. */
static bool load_agent(http_req *req, http_resp *resp, fs_agent *a)
{
    const char *id = req->params[0];
    if (!api_require_self(req, resp, id)) return false;
    int rc = registry_get(req->app->reg, id, a);
    if (rc == FS_ENOTFOUND) {
        http_resp_error(resp, 404, "not_found", "no such agent");
        return false;
    }
    if (rc) {
        http_resp_fail(resp, req, rc, "get agent");
        return false;
    }
    return true;
}

void api_agent_get(http_req *req, http_resp *resp)
{
    fs_agent a = { 0 };
    if (!load_agent(req, resp, &a)) return;
    http_resp_json(resp, 200, api_agent_json(req->app->reg, &a));
    fs_agent_clear(&a);
}

void api_agent_heartbeat(http_req *req, http_resp *resp)
{
    const char *id = req->params[0];
    fs_agent a = { 0 };
    if (!api_require_self(req, resp, id)) return;
    int rc = registry_heartbeat(req->app->reg, id);
    if (rc == 0) rc = registry_get(req->app->reg, id, &a);
    if (rc == FS_ENOTFOUND) {
        http_resp_error(resp, 404, "not_found", "no such agent");
        return;
    }
    if (rc) {
        http_resp_fail(resp, req, rc, "agent heartbeat");
        return;
    }
    http_resp_json(resp, 200, api_agent_json(req->app->reg, &a));
    fs_agent_clear(&a);
}

/* {"agent_id","version","state","updated_at"} plus an ETag header. */
static void state_resp(http_resp *resp, const fs_agent_state *s)
{
    char etag[32];
    snprintf(etag, sizeof etag, "\"%lld\"", (long long)s->version);
    http_resp_header(resp, "ETag", etag);
    http_resp_json(resp, 200,
                   json_pack("{s:s,s:I,s:o,s:o}", "agent_id", s->agent_id,
                             "version", (json_int_t)s->version, "state",
                             api_json_text(s->state), "updated_at",
                             api_time(s->created_at)));
}

void api_state_get(http_req *req, http_resp *resp)
{
    const char *id = req->params[0];
    int64_t version = 0;
    fs_agent_state s = { 0 };
    if (!api_require_self(req, resp, id) ||
        !body_query_int(resp, "version", http_query(req, "version"), 1,
                        INT64_MAX, &version))
        return;
    int rc = registry_state_get(req->app->reg, id, version, &s);
    if (rc == FS_ENOTFOUND) {
        http_resp_error(resp, 404, "not_found",
                        version ? "no such agent or state version"
                                : "no such agent, or no state yet");
        return;
    }
    if (rc) {
        http_resp_fail(resp, req, rc, "get state");
        return;
    }
    state_resp(resp, &s);
    fs_agent_state_clear(&s);
}

/*
 * Reads the expected version from an If-Match value h ("3", "\"3\"",
 * W/"3"; "*" or NULL means no check).  false after a 400.  OUT: *v
 * (untouched when absent).
 */
static bool if_match(const char *h, http_resp *resp, int64_t *v)
{
    if (!h || strcmp(h, "*") == 0) return true;
    char buf[32];
    if (strncmp(h, "W/", 2) == 0) h += 2;
    size_t len = strlen(h);
    if (len >= 2 && h[0] == '"' && h[len - 1] == '"') h++, len -= 2;
    if (len == 0 || len >= sizeof buf) goto bad;
    memcpy(buf, h, len);
    buf[len] = '\0';
    if (strspn(buf, "0123456789") != len) goto bad;
    errno = 0;
    *v = strtoll(buf, NULL, 10);
    if (errno) goto bad;
    return true;
bad:
    http_resp_error(resp, 400, "invalid_field",
                    "If-Match must hold a state version number");
    return false;
}

/* 409 version_conflict carrying the version the agent is at now. */
static void conflict(http_req *req, http_resp *resp, int64_t expected)
{
    fs_agent_state cur = { 0 };
    int64_t current = 0;
    if (registry_state_get(req->app->reg, req->params[0], 0, &cur) == 0)
        current = cur.version;
    fs_agent_state_clear(&cur);
    json_t *err = http_resp_error(resp, 409, "version_conflict",
                                  "expected version %lld but the state is at "
                                  "version %lld",
                                  (long long)expected, (long long)current);
    json_object_set_new(err, "current_version", json_integer(current));
}

/* Reads a state write body (see api.h).  Pure (no store):
 * fuzz/fuzz_body.c drives it. */
bool api_state_read(json_t *o, const char *if_match_value, http_resp *resp,
                    json_t **state, int64_t *expected)
{
    body_in in = { o, "", resp };
    return body_obj(&in, "state", BODY_REQUIRED, state) &&
           if_match(if_match_value, resp, expected) &&
           body_int(&in, "expected_version", 0, 0, INT64_MAX, expected);
}

void api_state_put(http_req *req, http_resp *resp)
{
    const char *id = req->params[0];
    if (!api_require_self(req, resp, id)) return;
    json_t *o = body_parse(req->body, req->body_len, false, resp);
    if (!o) return;
    json_t *state = NULL;
    int64_t expected = -1;
    char *text = NULL;
    fs_agent_state out = { 0 };
    if (!api_state_read(o, http_header(req, "If-Match"), resp, &state,
                        &expected))
        goto out;
    text = fs_json_dump(state, 0);
    int rc = registry_state_put(req->app->reg, id, text, expected, &out);
    if (rc == FS_ECONFLICT) {
        conflict(req, resp, expected);
    } else if (rc == FS_ENOTFOUND) {
        http_resp_error(resp, 404, "not_found", "no such agent");
    } else if (rc) {
        http_resp_fail(resp, req, rc, "put state");
    } else {
        state_resp(resp, &out);
    }
out:
    free(text);
    fs_agent_state_clear(&out);
    json_decref(o);
}

void api_state_versions(http_req *req, http_resp *resp)
{
    fs_agent a = { 0 };
    fs_agent_state *v = NULL;
    size_t n = 0;
    if (!load_agent(req, resp, &a)) return;
    int rc = registry_state_versions(req->app->reg, a.id, &v, &n);
    if (rc) {
        http_resp_fail(resp, req, rc, "state versions");
        goto out;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            arr, json_pack("{s:I,s:o,s:o}", "version", (json_int_t)v[i].version,
                           "state", api_json_text(v[i].state), "created_at",
                           api_time(v[i].created_at)));
    http_resp_json(resp, 200,
                   json_pack("{s:s,s:o}", "agent_id", a.id, "versions", arr));
out:
    fs_agent_states_free(v, n);
    fs_agent_clear(&a);
}
