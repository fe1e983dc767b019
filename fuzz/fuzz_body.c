/*
 * fuzz_body.c - libFuzzer target: JSON request bodies through the exact
 * parse + validate step the HTTP handlers run (body_parse, then the
 * route's api_*_read reader from api.h), with no server and no store.
 *
 * Input: the first byte picks the request, the rest is the body.
 *
 *   'j' POST /v1/jobs, one job        'b' POST /v1/jobs, a batch
 *   'l' POST /v1/jobs/lease           'c' POST /v1/jobs/complete
 *   'a' POST /v1/agents               's' PUT /v1/agents/{id}/state
 *
 * ('j' and 'b' share a reader, as they share a route: the two letters only
 * keep the corpus readable.)  Any other byte picks kinds[byte % 6], so
 * mutations of the first byte stay useful.
 *
 * Contracts checked (FUZZ_CHECK aborts):
 *  - a reader that fails has written a 400 {"error":{"code","message"}}
 *    with a known code; one that succeeds has written nothing;
 *  - every response serialises (fs_json_dump): otherwise the client
 *    would get a 500 instead of its 400;
 *  - what was accepted is within the documented bounds;
 *  - JSON the handlers store as text (payload, result, job_types,
 *    metadata, state) reads back equal to what was sent, as GET renders
 *    it (api_json_text), and a job renders as its 201 response would.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "core/json.h"
#include "http/api.h"
#include "http/body.h"
#include "queue/queue.h"

/* Limits the handlers document (api_worker.c, api_agents.c). */
#define MAX_TOKEN 128
#define MAX_TYPES 100

/* The stored text of a value reads back as the value itself. */
static void check_stored(const json_t *sent, const char *text)
{
    FUZZ_CHECK(sent && text);
    json_t *back = api_json_text(text);
    FUZZ_CHECK(json_equal((json_t *)sent, back));
    json_decref(back);
}

/* A string accepted by body_str: non-empty, at most max bytes. */
static void check_str(const char *s, size_t max)
{
    FUZZ_CHECK(s && *s && strlen(s) <= max);
}

/* The response serialises, as server.c's send_resp needs. */
static void check_serialises(const json_t *v)
{
    char *text = fs_json_dump(v, 0);
    FUZZ_CHECK(text);
    free(text);
}

/* After a reader: a 400 with a known code, or nothing written. */
static void check_resp(bool ok, const http_resp *resp)
{
    if (ok) {
        FUZZ_CHECK(resp->status == 0 && !resp->json);
        return;
    }
    FUZZ_CHECK(resp->status == 400 && resp->json);
    json_t *err = json_object_get(resp->json, "error");
    const char *code = json_string_value(json_object_get(err, "code"));
    FUZZ_CHECK(code && (!strcmp(code, "invalid_json") ||
                        !strcmp(code, "missing_field") ||
                        !strcmp(code, "invalid_field")));
    FUZZ_CHECK(json_is_string(json_object_get(err, "message")));
    check_serialises(resp->json);
}

static void check_job(const fs_job *j, json_t *sent)
{
    check_str(j->type, QUEUE_MAX_NAME);
    check_str(j->target_agent, QUEUE_MAX_NAME);
    FUZZ_CHECK(j->priority >= -QUEUE_MAX_PRIORITY &&
               j->priority <= QUEUE_MAX_PRIORITY);
    FUZZ_CHECK(j->run_at >= 0);
    FUZZ_CHECK(j->max_attempts >= 0 && j->max_attempts <= QUEUE_MAX_ATTEMPTS);
    FUZZ_CHECK(j->timeout_ms >= 0 && j->timeout_ms <= QUEUE_MAX_LEASE_MS);
    FUZZ_CHECK(j->parent_id >= 0);
    if (j->unique_key) check_str(j->unique_key, QUEUE_MAX_NAME);
    json_t *payload = json_object_get(sent, "payload");
    if (j->payload)
        check_stored(payload, j->payload);
    else
        FUZZ_CHECK(json_is_null(payload) || !payload);
    json_t *shown = api_job_json(j, false);
    check_serialises(shown);
    json_decref(shown);
}

static bool read_jobs(json_t *o, http_resp *resp)
{
    fs_job *jobs;
    size_t n;
    bool batch;
    bool ok = api_jobs_read(o, resp, &jobs, &n, &batch);
    if (ok) {
        json_t *arr = json_object_get(o, "jobs");
        FUZZ_CHECK(batch ? n >= 1 && n <= QUEUE_MAX_BATCH &&
                               n == json_array_size(arr)
                         : n == 1);
        for (size_t i = 0; i < n; i++)
            check_job(&jobs[i], batch ? json_array_get(arr, i) : o);
    }
    fs_jobs_free(jobs, n);
    return ok;
}

static bool read_lease(json_t *o, http_resp *resp)
{
    api_lease_args la;
    if (!api_lease_read(o, resp, &la)) return false;
    if (la.agent_id) check_str(la.agent_id, QUEUE_MAX_NAME);
    FUZZ_CHECK(la.max >= 1 && la.max <= QUEUE_MAX_BATCH);
    FUZZ_CHECK(la.lease_s >= 0 && la.lease_s * 1000 <= QUEUE_MAX_LEASE_MS);
    FUZZ_CHECK(la.wait_ms >= 0 && la.wait_ms <= QUEUE_MAX_WAIT_MS);
    if (la.types) {
        size_t i;
        json_t *t;
        FUZZ_CHECK(json_array_size(la.types) <= MAX_TYPES);
        json_array_foreach(la.types, i, t)
            check_str(json_string_value(t), QUEUE_MAX_NAME);
    }
    return true;
}

static bool read_completions(json_t *o, http_resp *resp)
{
    store_completion *items;
    size_t n;
    bool ok = api_completions_read(o, resp, &items, &n);
    json_t *arr = json_object_get(o, "jobs");
    if (ok) FUZZ_CHECK(n >= 1 && n <= QUEUE_MAX_BATCH);
    for (size_t i = 0; ok && i < n; i++) {
        json_t *sent = json_object_get(json_array_get(arr, i), "result");
        FUZZ_CHECK(items[i].id >= 1 && items[i].rc == 0);
        check_str(items[i].lease_token, MAX_TOKEN);
        if (items[i].result)
            check_stored(sent, items[i].result);
        else
            FUZZ_CHECK(!sent || json_is_null(sent));
    }
    for (size_t i = 0; items && i < n; i++)
        free((char *)items[i].result);
    free(items);
    return ok;
}

static bool read_agent(json_t *o, http_resp *resp)
{
    api_agent_args ag;
    if (!api_agent_read(o, resp, &ag)) return false;
    check_str(ag.name, QUEUE_MAX_NAME);
    check_str(ag.type, QUEUE_MAX_NAME);
    /* The handler stores both as fs_json_dump text. */
    json_t *parts[] = {ag.job_types, ag.metadata};
    for (size_t i = 0; i < 2; i++) {
        if (!parts[i]) continue;
        char *text = fs_json_dump(parts[i], 0);
        check_stored(parts[i], text);
        free(text);
    }
    FUZZ_CHECK(!ag.metadata || json_is_object(ag.metadata));
    return true;
}

static bool read_state(json_t *o, http_resp *resp)
{
    json_t *state = NULL;
    int64_t expected = -1;
    if (!api_state_read(o, NULL, resp, &state, &expected)) return false;
    FUZZ_CHECK(json_is_object(state) && expected >= -1);
    char *text = fs_json_dump(state, 0);
    check_stored(state, text);
    free(text);
    return true;
}

static const struct {
    char letter;
    bool allow_empty; /* as the handler calls body_parse */
    bool (*read)(json_t *o, http_resp *resp);
} kinds[] = {
    {'j', false, read_jobs},  {'b', false, read_jobs},
    {'l', true, read_lease},  {'c', false, read_completions},
    {'a', false, read_agent}, {'s', false, read_state},
};
#define NKINDS (sizeof kinds / sizeof *kinds)

int fuzz_body_one(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    size_t k = data[0] % NKINDS;
    for (size_t i = 0; i < NKINDS; i++)
        if (kinds[i].letter == (char)data[0]) k = i;
    /* The server hands handlers a NUL-terminated copy of the body. */
    size_t len = size - 1;
    char *body = xmalloc(len + 1);
    if (len) memcpy(body, data + 1, len);
    body[len] = '\0';

    http_resp resp = {0};
    json_t *o = body_parse(body, len, kinds[k].allow_empty, &resp);
    if (o) FUZZ_CHECK(json_is_object(o) && resp.status == 0);
    check_resp(o != NULL, &resp);
    if (o) check_resp(kinds[k].read(o, &resp), &resp);
    json_decref(o);
    http_resp_clear(&resp);
    free(body);
    return 0;
}

FUZZ_ENTRY(fuzz_body_one)
