/*
 * coordinator.c - the `coordinator` agent: turns goals into workflow runs,
 * routes tasks to the agent able to take them, and gathers results.
 *
 *   plan       {"goal":"…","inputs":{…}[,"workflow":"name"]}
 *              -> {"workflow","run_id","score","candidates":[{"name","score"}]}
 *              The goal is compared with each registered workflow's name and
 *              description by the local embedder (cosine of hashed words,
 *              word pairs and character n-grams): the best match above
 *              PLAN_MIN_SCORE is started with the inputs.
 *   delegate   {"task":"job type or words","payload":{…}, …}
 *              -> {"target","job_type","job_id","score"}
 *              An agent type whose job types include task takes it; else
 *              the task's words are matched against each agent type's job
 *              types the same way.  The job carries "payload" (or, without
 *              it, the other fields of the request).
 *   aggregate  {"job_ids":[…]} -> {"count","completed","failed","pending",
 *              "results":[{"job_id","state","result","error"}],"summary"}
 */
#include "agents/builtin/coordinator.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/xmem.h"
#include "memory/embed.h"
#include "memory/vec.h"

#define DIMS 512
#define PLAN_MIN_SCORE 0.10
#define DELEGATE_MIN_SCORE 0.15
#define MAX_AGGREGATE 1000

/* Cosine of a and b under the local embedder (the agent's state). */
static double similarity(embedder *e, const char *a, const char *b)
{
    const char *texts[2] = { a, b };
    size_t lens[2] = { strlen(a), strlen(b) };
    float v[2 * DIMS];
    if (embed_texts(e, texts, lens, 2, v)) return 0;
    return vec_dot(v, v + DIMS, DIMS);
}

/* "code_review" -> "code review" (so its words match a goal's). */
static char *words(const char *name)
{
    char *s = xstrdup(name);
    for (char *p = s; *p; p++)
        if (*p == '_' || *p == '-') *p = ' ';
    return s;
}

static int plan(agent_ctx *c, const json_t *p, json_t **result)
{
    const char *goal = json_string_value(json_object_get(p, "goal"));
    const char *fixed = json_string_value(json_object_get(p, "workflow"));
    json_t *inputs = json_object_get(p, "inputs"), *list = NULL;
    if (!goal && !fixed) return agent_error_final(c, "plan needs a \"goal\"");
    if (inputs && !json_is_object(inputs))
        return agent_error_final(c, "\"inputs\" must be an object");
    int rc = agent_workflows(c, &list);
    if (rc) return agent_error(c, "cannot list workflows: %s", fs_strerror(rc));
    json_t *cands = json_array();
    const char *best = NULL;
    double best_score = -1;
    size_t i;
    json_t *w;
    json_array_foreach(list, i, w) {
        const char *name = json_string_value(json_object_get(w, "name"));
        const char *desc = json_string_value(json_object_get(w, "description"));
        char *n = words(name), *text = xasprintf("%s: %s", n, desc ? desc : "");
        double s = fixed ? !strcmp(fixed, name) : similarity(agent_state(c), goal, text);
        free(n);
        free(text);
        json_array_append_new(cands, json_pack("{s:s,s:f}", "name", name, "score", s));
        if (s > best_score) {
            best_score = s;
            best = name;
        }
    }
    if (!best || best_score < (fixed ? 1 : PLAN_MIN_SCORE)) {
        rc = fixed ? agent_error_final(c, "no workflow named '%s'", fixed)
                   : agent_error_final(c, "no workflow matches the goal (best score %.2f)",
                                       best_score < 0 ? 0 : best_score);
        goto out;
    }
    int64_t run;
    if ((rc = agent_run_start(c, best, inputs, &run))) {
        rc = agent_error(c, "cannot start %s: %s", best, fs_strerror(rc));
        goto out;
    }
    agent_log(c, LOG_INFO, "goal matched %s (%.2f): run %lld", best, best_score,
              (long long)run);
    *result = json_pack("{s:s,s:I,s:f,s:O}", "workflow", best, "run_id",
                        (json_int_t)run, "score", best_score, "candidates", cands);
out:
    json_decref(cands);
    json_decref(list);
    return rc;
}

/* The agent type and job type for task: exact job type, else by words. */
static bool route(agent_ctx *c, const json_t *agents, const char *task,
                  const char **target, const char **job_type, double *score)
{
    size_t i, k;
    json_t *a, *t;
    *score = -1;
    json_array_foreach(agents, i, a) {
        json_array_foreach(json_object_get(a, "job_types"), k, t) {
            const char *jt = json_string_value(t);
            double s = !strcmp(jt, task) ? 2.0 : 0;
            if (s == 0) {
                char *w = words(jt), *aw = words(json_string_value(json_object_get(a, "type")));
                char *text = xasprintf("%s %s", aw, w);
                s = similarity(agent_state(c), task, text);
                free(w);
                free(aw);
                free(text);
            }
            if (s > *score) {
                *score = s;
                *target = json_string_value(json_object_get(a, "type"));
                *job_type = jt;
            }
        }
    }
    return *score >= DELEGATE_MIN_SCORE;
}

static int delegate(agent_ctx *c, const json_t *p, json_t **result)
{
    const char *task = json_string_value(json_object_get(p, "task"));
    if (!task) return agent_error_final(c, "delegate needs a \"task\"");
    json_t *agents = NULL, *payload = json_object_get(p, "payload");
    int rc = agent_agents(c, &agents);
    if (rc) return agent_error(c, "cannot list agents: %s", fs_strerror(rc));
    const char *target = NULL, *job_type = NULL;
    double score;
    if (!route(c, agents, task, &target, &job_type, &score)) {
        rc = agent_error_final(c, "no registered agent takes '%s'", task);
        goto out;
    }
    json_t *body = payload ? json_incref(payload) : json_deep_copy(p);
    if (!payload) json_object_del(body, "task");
    int64_t id;
    rc = agent_job_create(c, job_type, target, body, &id);
    json_decref(body);
    if (rc) {
        rc = agent_error(c, "cannot enqueue %s for %s: %s", job_type, target,
                         fs_strerror(rc));
        goto out;
    }
    *result = json_pack("{s:s,s:s,s:I,s:f}", "target", target, "job_type", job_type,
                        "job_id", (json_int_t)id, "score", score > 1 ? 1.0 : score);
out:
    json_decref(agents);
    return rc;
}

static json_t *part(agent_ctx *c, int64_t id, int *counts)
{
    fs_job j = { 0 };
    int rc = agent_job_get(c, id, &j);
    const char *state = rc ? "missing" : job_state_name(j.state);
    counts[rc ? 2 : j.state == JOB_COMPLETED ? 0
                  : j.state == JOB_FAILED || j.state == JOB_CANCELLED ? 1 : 2]++;
    json_t *res = j.result ? json_loads(j.result, JSON_DECODE_ANY, NULL) : NULL;
    json_t *o = json_pack("{s:I,s:s,s:o,s:o}", "job_id", (json_int_t)id, "state", state,
                          "result", res ? res : json_null(), "error",
                          j.last_error ? json_string(j.last_error) : json_null());
    fs_job_clear(&j);
    return o;
}

static int aggregate(agent_ctx *c, const json_t *p, json_t **result)
{
    json_t *ids = json_object_get(p, "job_ids");
    if (!json_is_array(ids) || json_array_size(ids) > MAX_AGGREGATE)
        return agent_error_final(c, "aggregate needs \"job_ids\" (at most %d)",
                                 MAX_AGGREGATE);
    int counts[3] = { 0 }; /* completed, failed, pending */
    json_t *parts = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) {
        if (!json_is_integer(v)) {
            json_decref(parts);
            return agent_error_final(c, "job_ids[%zu] is not a job id", i);
        }
        json_array_append_new(parts, part(c, json_integer_value(v), counts));
    }
    char summary[160];
    snprintf(summary, sizeof summary, "%d of %zu parts completed, %d failed, %d not done",
             counts[0], json_array_size(ids), counts[1], counts[2]);
    *result = json_pack("{s:I,s:i,s:i,s:i,s:o,s:s}", "count",
                        (json_int_t)json_array_size(ids), "completed", counts[0],
                        "failed", counts[1], "pending", counts[2], "results", parts,
                        "summary", summary);
    return 0;
}

static int handle(agent_ctx *c, const json_t *payload, json_t **result)
{
    const char *type = agent_job(c)->type;
    if (!json_is_object(payload)) return agent_error_final(c, "the payload must be an object");
    if (!strcmp(type, "plan")) return plan(c, payload, result);
    if (!strcmp(type, "delegate")) return delegate(c, payload, result);
    if (!strcmp(type, "aggregate")) return aggregate(c, payload, result);
    return agent_error_final(c, "coordinator does not take '%s' jobs", type);
}

static int init(void **out)
{
    embedder *e;
    int rc = embed_local_open(&e, DIMS, NULL);
    if (!rc) *out = e;
    return rc;
}

static void close_state(void *state) { embed_close(state); }

static const char *const JOB_TYPES[] = { "plan", "delegate", "aggregate", NULL };

const agent_def coordinator_agent = { "coordinator", JOB_TYPES, init, handle, close_state };
