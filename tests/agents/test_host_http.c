/*
 * test_host_http.c - the agent runtime over HTTP (agents/host_http.h)
 * against the real server: the agent registers with the admin key and
 * then works with its own token: jobs done and failed, memory added and
 * found, state written twice, a job created for another agent.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "agents/host_http.h"
#include "agents/runtime.h"
#include "core/fs.h"
#include "support/harness.h"

TestSuite(agent_http, .timeout = 60);

static int work(agent_ctx *c, const json_t *payload, json_t **result)
{
    const char *lead = json_string_value(json_object_get(payload, "lead"));
    if (!lead) return agent_error_final(c, "no lead in the payload");
    char note[128];
    int64_t doc, child, v0, v1;
    json_t *hits, *state;
    snprintf(note, sizeof note, "%s wants a demo next week", lead);
    int rc = agent_memory_add(c, "note", note, NULL, &doc);
    if (!rc) rc = agent_memory_search(c, note, 1, &hits);
    if (rc) return agent_error(c, "memory: %s", fs_strerror(rc));
    int64_t top = json_integer_value(json_object_get(json_array_get(hits, 0), "id"));
    json_decref(hits);
    rc = agent_job_create(c, "schedule_demo", "coordinator", payload, &child);
    if (!rc) rc = agent_state_get(c, &state, &v0);
    if (rc) return agent_error(c, "job/state: %s", fs_strerror(rc));
    rc = agent_state_put(c, state, v0, &v1);
    json_decref(state);
    if (rc) return agent_error(c, "state: %s", fs_strerror(rc));
    *result = json_pack("{s:I,s:I,s:I,s:I}", "doc", (json_int_t)doc, "top",
                        (json_int_t)top, "child", (json_int_t)child, "version",
                        (json_int_t)v1);
    return 0;
}

static const char *const TYPES[] = { "enrich", NULL };
static const agent_def DEF = { "enricher", TYPES, NULL, work, NULL };

static json_t *wait_job(th_server *s, long long id, const char *state)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld", id);
    for (int i = 0; i < 500; i++) {
        int st;
        json_t *j = th_json(s, "GET", path, NULL, s->key, &st);
        const char *now = json_string_value(json_object_get(j, "state"));
        if (now && !strcmp(now, state)) return j;
        json_decref(j);
        usleep(20000);
    }
    cr_assert_fail("job %lld never became %s", id, state);
    return NULL;
}

static long long enqueue(th_server *s, const char *payload)
{
    char body[256];
    int st;
    snprintf(body, sizeof body,
             "{\"type\":\"enrich\",\"target_agent\":\"enricher\",\"max_attempts\":1,"
             "\"payload\":%s}", payload);
    json_t *j = th_json(s, "POST", "/v1/jobs", body, s->key, &st);
    cr_assert_eq(st, 201);
    long long id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    return id;
}

Test(agent_http, an_agent_in_another_process_works_through_the_api)
{
    th_server s;
    th_server_start(&s, NULL);
    agent_host *h = host_http_open(s.url, s.key, NULL);
    agent_runtime *rt;
    cr_assert_eq(agent_start(&rt, h, &DEF, NULL), 0);
    long long a = enqueue(&s, "{\"lead\":\"Acme\"}");
    long long b = enqueue(&s, "{\"lead\":\"Globex\"}");
    long long bad = enqueue(&s, "{\"nope\":1}");
    json_t *ja = wait_job(&s, a, "completed"), *jb = wait_job(&s, b, "completed");
    json_t *jbad = wait_job(&s, bad, "failed");
    cr_assert_str_eq(json_string_value(json_object_get(jbad, "last_error")),
                     "no lead in the payload");
    json_t *ra = json_object_get(ja, "result"), *rb = json_object_get(jb, "result");
    cr_assert_eq(json_integer_value(json_object_get(ra, "top")),
                 json_integer_value(json_object_get(ra, "doc")),
                 "the note just added is found first");
    json_int_t va = json_integer_value(json_object_get(ra, "version"));
    json_int_t vb = json_integer_value(json_object_get(rb, "version"));
    cr_assert(va >= 1 && vb >= 1 && va != vb, "two state versions: %lld %lld",
              (long long)va, (long long)vb);
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld",
             (long long)json_integer_value(json_object_get(ra, "child")));
    int st;
    json_t *child = th_json(&s, "GET", path, NULL, s.key, &st);
    cr_assert_eq(json_integer_value(json_object_get(child, "parent_id")), a);
    cr_assert_str_eq(json_string_value(json_object_get(child, "target_agent")),
                     "coordinator");
    json_decref(child);
    json_decref(ja);
    json_decref(jb);
    json_decref(jbad);
    agent_stop(rt);
    agent_host_close(h);
    th_server_cleanup(&s);
}
