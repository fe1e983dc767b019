/*
 * runtime.c - the agent runtime (see runtime.h for the threads and their
 * loops).
 *
 * Each worker thread owns a slot: the job it is handling, the lease token,
 * when the keeper should next extend the lease, and the job's
 * cancellation flag.  The slot's mutex guards the token and timing against
 * the keeper; the flags are atomics the handler polls.
 */
#include "agents/runtime.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/llm.h"
#include "core/clock.h"
#include "core/cond.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/xmem.h"

#define LEASE_WAIT_MS 1000  /* long-poll; a stop is seen within this */
#define RETRY_PAUSE_MS 500  /* after a host error */
#define MAX_CONCURRENCY 64

typedef struct slot {
    agent_runtime *rt;
    pthread_mutex_t m;
    fs_job job;              /* while busy */
    int64_t lease_ms;        /* the lease length we keep extending */
    int64_t next_beat;       /* monotonic ms */
    bool busy;
    atomic_bool cancelled;
} slot;

struct agent_ctx {
    agent_runtime *rt;
    slot *s;
    char error[1024];
    bool final;
};

struct agent_runtime {
    agent_host *host;
    const agent_def *def;
    agent_config cfg;
    void *state;
    char *id;
    slot *slots;
    pthread_t *workers, keeper;
    int nworkers;
    bool keeper_running;
    atomic_bool stop;
    pthread_mutex_t lock;    /* guards active and the waits below */
    pthread_cond_t wake;     /* keeper naps; agent_stop waits for workers */
    int active;              /* worker threads still in their loop */
    _Atomic uint64_t leased, completed, failed, lost;
};

void agent_host_close(agent_host *h)
{
    if (h) h->ops->close(h);
}

/* --- the handler's context ------------------------------------------------ */

void *agent_state(agent_ctx *c) { return c->rt->state; }
const fs_job *agent_job(agent_ctx *c) { return &c->s->job; }
const char *agent_self(agent_ctx *c) { return c->rt->id; }

bool agent_cancelled(agent_ctx *c)
{
    return atomic_load(&c->s->cancelled) || atomic_load(&c->rt->stop);
}

static int set_error(agent_ctx *c, bool final, const char *fmt, va_list ap)
{
    vsnprintf(c->error, sizeof c->error, fmt, ap);
    c->final = final;
    return FS_EINVAL;
}

int agent_error(agent_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = set_error(c, false, fmt, ap);
    va_end(ap);
    return rc;
}

int agent_error_final(agent_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = set_error(c, true, fmt, ap);
    va_end(ap);
    return rc;
}

void agent_log(agent_ctx *c, log_level lv, const char *fmt, ...)
{
    if (!log_enabled(lv)) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_event(lv, NULL, c->s->job.id, "%s %s: %s", c->rt->def->type, c->rt->id, msg);
}

void agent_progress(agent_ctx *c, double done, const char *note)
{
    agent_log(c, LOG_INFO, "progress %.0f%%%s%s", done * 100, note ? ": " : "",
              note ? note : "");
    pthread_mutex_lock(&c->s->m);
    c->s->next_beat = fs_mono_ms(); /* the keeper extends the lease now */
    pthread_mutex_unlock(&c->s->m);
    pthread_cond_signal(&c->rt->wake);
}

int agent_memory_add(agent_ctx *c, const char *kind, const char *content,
                     const char *metadata, int64_t *id)
{
    int64_t got = 0;
    int rc = c->rt->host->ops->memory_add(c->rt->host, c->rt->id, kind, content,
                                          metadata, &got);
    if (!rc && id) *id = got;
    return rc;
}

int agent_memory_search(agent_ctx *c, const char *query, size_t limit,
                        json_t **results)
{
    return c->rt->host->ops->memory_search(c->rt->host, query, limit, results);
}

int agent_job_create(agent_ctx *c, const char *type, const char *target,
                     const json_t *payload, int64_t *id)
{
    fs_job j = { .type = xstrdup(type), .target_agent = xstrdup(target),
                 .payload = payload ? fs_json_dump(payload, 0) : NULL,
                 .parent_id = c->s->job.id };
    int rc = c->rt->host->ops->job_create(c->rt->host, &j);
    if (!rc && id) *id = j.id;
    fs_job_clear(&j);
    return rc;
}

int agent_state_get(agent_ctx *c, json_t **state, int64_t *version)
{
    return c->rt->host->ops->state_get(c->rt->host, c->rt->id, state, version);
}

int agent_state_put(agent_ctx *c, const json_t *state, int64_t expected_version,
                    int64_t *version)
{
    return c->rt->host->ops->state_put(c->rt->host, c->rt->id, state,
                                       expected_version, version);
}

int agent_job_get(agent_ctx *c, int64_t id, fs_job *out)
{
    return c->rt->host->ops->job_get(c->rt->host, id, out);
}

int agent_workflows(agent_ctx *c, json_t **list)
{
    return c->rt->host->ops->workflows(c->rt->host, list);
}

int agent_agents(agent_ctx *c, json_t **list)
{
    return c->rt->host->ops->agents(c->rt->host, list);
}

int agent_report(agent_ctx *c, json_t **out)
{
    return c->rt->host->ops->report(c->rt->host, out);
}

int agent_recall_check(agent_ctx *c, size_t samples, int ef, double *recall)
{
    return c->rt->host->ops->recall_check(c->rt->host, samples, ef, recall);
}

int agent_evolution_propose(agent_ctx *c, const json_t *proposal, json_t **out)
{
    json_t *p = json_deep_copy(proposal);
    if (!json_is_object(p)) {
        json_decref(p);
        return FS_EINVAL;
    }
    if (!json_object_get(p, "proposed_by"))
        json_object_set_new(p, "proposed_by", json_string(c->rt->cfg.name));
    int rc = c->rt->host->ops->evolution_propose(c->rt->host, p, out);
    json_decref(p);
    return rc;
}

int agent_evolution_step(agent_ctx *c, int64_t id, const char *step,
                         const json_t *body, json_t **out)
{
    json_t *entry = NULL;
    int rc = c->rt->host->ops->evolution_step(c->rt->host, id, step, body, &entry);
    if (!rc && out) *out = entry;
    else json_decref(entry);
    return rc;
}

int agent_evolution_list(agent_ctx *c, const char *status,
                         const char *component, json_t **out)
{
    return c->rt->host->ops->evolution_list(c->rt->host, status, component, out);
}

int agent_evolution_settings(agent_ctx *c, json_t **out)
{
    return c->rt->host->ops->evolution_settings(c->rt->host, out);
}

int agent_run_start(agent_ctx *c, const char *workflow, const json_t *inputs,
                    int64_t *run_id)
{
    return c->rt->host->ops->run_start(c->rt->host, workflow, inputs, run_id);
}

int agent_llm(agent_ctx *c, const char *system, const char *prompt,
              char **answer)
{
    char err[512];
    *answer = NULL;
    if (!c->rt->cfg.llm)
        return agent_error(c, "no LLM is configured (set FLOWSTATE_LLM_URL)");
    int rc = llm_chat(c->rt->cfg.llm, system, prompt, answer, err, sizeof err);
    if (rc == FS_ETOOBIG) agent_error_final(c, "%s", err);
    else if (rc) agent_error(c, "%s", err);
    return rc;
}

/* --- workers ---------------------------------------------------------------- */

/* Runs the handler on the slot's job; hands the outcome to the host. */
static void run_job(agent_runtime *rt, slot *s)
{
    agent_ctx ctx = { .rt = rt, .s = s };
    json_t *payload = json_loads(s->job.payload ? s->job.payload : "{}",
                                 JSON_DECODE_ANY, NULL), *result = NULL;
    int rc = payload ? rt->def->handle(&ctx, payload, &result)
                     : agent_error_final(&ctx, "the payload is not JSON");
    json_decref(payload);
    pthread_mutex_lock(&s->m);
    s->busy = false; /* the keeper leaves the lease alone from here */
    pthread_mutex_unlock(&s->m);
    agent_host *h = rt->host;
    if (!rc) {
        char *text = result ? fs_json_dump(result, JSON_ENCODE_ANY) : NULL;
        rc = h->ops->complete(h, s->job.id, s->job.lease_token, text);
        free(text);
        atomic_fetch_add(rc ? &rt->lost : &rt->completed, 1);
    } else {
        const char *why = ctx.error[0] ? ctx.error : fs_strerror(rc);
        rc = h->ops->fail(h, s->job.id, s->job.lease_token, why, !ctx.final);
        atomic_fetch_add(rc ? &rt->lost : &rt->failed, 1);
    }
    if (rc && rc != FS_ELEASE && rc != FS_ENOTFOUND)
        log_warn("agent %s: job %lld: cannot report the outcome: %s", rt->id,
                 (long long)s->job.id, fs_strerror(rc));
    json_decref(result);
}

/* Takes the leased job into the slot. */
static void slot_take(agent_runtime *rt, slot *s, fs_job *job)
{
    pthread_mutex_lock(&s->m);
    s->job = *job;
    s->lease_ms = rt->cfg.lease_ms ? rt->cfg.lease_ms : job->timeout_ms;
    if (s->lease_ms <= 0) s->lease_ms = 30000;
    s->next_beat = fs_mono_ms() + s->lease_ms / 3;
    s->busy = true;
    atomic_store(&s->cancelled, false);
    pthread_mutex_unlock(&s->m);
    atomic_fetch_add(&rt->leased, 1);
    pthread_mutex_lock(&rt->lock);
    pthread_cond_broadcast(&rt->wake); /* the keeper plans the first beat */
    pthread_mutex_unlock(&rt->lock);
}

static void nap(agent_runtime *rt, int64_t ms)
{
    pthread_mutex_lock(&rt->lock);
    if (!atomic_load(&rt->stop))
        fs_cond_wait_until(&rt->wake, &rt->lock, fs_mono_ms() + ms);
    pthread_mutex_unlock(&rt->lock);
}

static void *worker_main(void *arg)
{
    slot *s = arg;
    agent_runtime *rt = s->rt;
    agent_host *h = rt->host;
    while (!atomic_load(&rt->stop)) {
        fs_job *jobs = NULL;
        size_t n = 0;
        int rc = h->ops->lease(h, rt->id, rt->def->type, rt->def->job_types,
                               rt->cfg.lease_ms, LEASE_WAIT_MS, &jobs, &n);
        if (rc) {
            if (rc != FS_ESHUTDOWN)
                log_warn("agent %s: lease: %s", rt->id, fs_strerror(rc));
            free(jobs);
            nap(rt, RETRY_PAUSE_MS);
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            slot_take(rt, s, &jobs[i]);
            run_job(rt, s);
            fs_job_clear(&s->job);
        }
        free(jobs);
    }
    pthread_mutex_lock(&rt->lock);
    rt->active--;
    pthread_cond_broadcast(&rt->wake);
    pthread_mutex_unlock(&rt->lock);
    return NULL;
}

/* --- the keeper ------------------------------------------------------------- */

/* Extends the lease of s's job if due; a lost lease cancels the job.
 * OUT: *next, when it is next due (monotonic ms). */
static void keep_lease(agent_runtime *rt, slot *s, int64_t now, int64_t *next)
{
    pthread_mutex_lock(&s->m);
    if (!s->busy || atomic_load(&s->cancelled)) {
        pthread_mutex_unlock(&s->m);
        return;
    }
    if (s->next_beat <= now) {
        int rc = rt->host->ops->job_heartbeat(rt->host, s->job.id,
                                              s->job.lease_token, s->lease_ms);
        if (rc == FS_ELEASE || rc == FS_ENOTFOUND) {
            atomic_store(&s->cancelled, true);
            log_warn("agent %s: job %lld: lease lost (cancelled or timed out)",
                     rt->id, (long long)s->job.id);
        }
        s->next_beat = now + s->lease_ms / 3;
    }
    if (s->next_beat < *next) *next = s->next_beat;
    pthread_mutex_unlock(&s->m);
}

static void *keeper_main(void *arg)
{
    agent_runtime *rt = arg;
    int64_t next_agent = 0;
    while (!atomic_load(&rt->stop)) {
        int64_t now = fs_mono_ms();
        if (now >= next_agent) {
            int rc = rt->host->ops->agent_heartbeat(rt->host, rt->id);
            if (rc) log_warn("agent %s: heartbeat: %s", rt->id, fs_strerror(rc));
            next_agent = now + rt->cfg.agent_heartbeat_ms;
        }
        int64_t next = next_agent;
        for (int i = 0; i < rt->nworkers; i++) keep_lease(rt, &rt->slots[i], now, &next);
        nap(rt, next - fs_mono_ms());
    }
    return NULL;
}

/* --- start and stop ------------------------------------------------------------ */

static int check(const agent_def *def, agent_config *cfg)
{
    if (!def || !def->type || !def->handle || !def->job_types || !def->job_types[0])
        return FS_EINVAL;
    if (!cfg->name) cfg->name = def->type;
    if (cfg->concurrency == 0) cfg->concurrency = 1;
    if (cfg->agent_heartbeat_ms <= 0) cfg->agent_heartbeat_ms = 5000;
    if (cfg->grace_ms <= 0) cfg->grace_ms = 10000;
    if (cfg->concurrency < 1 || cfg->concurrency > MAX_CONCURRENCY || cfg->lease_ms < 0)
        return FS_EINVAL;
    return 0;
}

static int start_threads(agent_runtime *rt)
{
    if (pthread_create(&rt->keeper, NULL, keeper_main, rt)) return FS_EIO;
    rt->keeper_running = true;
    for (int i = 0; i < rt->cfg.concurrency; i++) {
        if (pthread_create(&rt->workers[i], NULL, worker_main, &rt->slots[i]))
            return FS_EIO;
        pthread_mutex_lock(&rt->lock);
        rt->nworkers++;
        rt->active++;
        pthread_mutex_unlock(&rt->lock);
    }
    return 0;
}

int agent_start(agent_runtime **out, agent_host *host, const agent_def *def,
                const agent_config *cfg)
{
    agent_config c = cfg ? *cfg : (agent_config){ 0 };
    int rc = check(def, &c);
    if (rc) return rc;
    agent_runtime *rt = xcalloc(1, sizeof *rt);
    rt->host = host;
    rt->def = def;
    rt->cfg = c;
    pthread_mutex_init(&rt->lock, NULL);
    fs_cond_init(&rt->wake);
    rt->slots = xcalloc((size_t)c.concurrency, sizeof *rt->slots);
    rt->workers = xcalloc((size_t)c.concurrency, sizeof *rt->workers);
    for (int i = 0; i < c.concurrency; i++) {
        rt->slots[i].rt = rt;
        pthread_mutex_init(&rt->slots[i].m, NULL);
    }
    rc = host->ops->register_agent(host, c.name, def->type, def->job_types, &rt->id);
    if (!rc && def->init) rc = def->init(&rt->state);
    if (!rc) rc = start_threads(rt);
    if (rc) {
        agent_stop(rt);
        return rc;
    }
    log_info("agent %s (%s) started: %d worker(s)", rt->id, def->type, c.concurrency);
    *out = rt;
    return 0;
}

/* Fails the jobs of handlers still running after the grace period, with
 * retry, so they go back to the queue now. */
static void hand_back(agent_runtime *rt)
{
    for (int i = 0; i < rt->nworkers; i++) {
        slot *s = &rt->slots[i];
        pthread_mutex_lock(&s->m);
        if (s->busy) {
            rt->host->ops->fail(rt->host, s->job.id, s->job.lease_token,
                                "worker shutting down", true);
            s->busy = false;
            log_warn("agent %s: job %lld handed back unfinished", rt->id,
                     (long long)s->job.id);
        }
        pthread_mutex_unlock(&s->m);
    }
}

void agent_stop(agent_runtime *rt)
{
    if (!rt) return;
    pthread_mutex_lock(&rt->lock);
    atomic_store(&rt->stop, true);
    for (int i = 0; i < rt->nworkers; i++) atomic_store(&rt->slots[i].cancelled, true);
    pthread_cond_broadcast(&rt->wake);
    int64_t until = fs_mono_ms() + rt->cfg.grace_ms;
    while (rt->active > 0 && fs_mono_ms() < until)
        fs_cond_wait_until(&rt->wake, &rt->lock, until);
    pthread_mutex_unlock(&rt->lock);
    hand_back(rt);
    if (rt->keeper_running) pthread_join(rt->keeper, NULL);
    for (int i = 0; i < rt->nworkers; i++) pthread_join(rt->workers[i], NULL);
    if (rt->def->shutdown && rt->state) rt->def->shutdown(rt->state);
    for (int i = 0; i < rt->cfg.concurrency; i++) pthread_mutex_destroy(&rt->slots[i].m);
    free(rt->slots);
    free(rt->workers);
    free(rt->id);
    pthread_mutex_destroy(&rt->lock);
    pthread_cond_destroy(&rt->wake);
    free(rt);
}

const char *agent_id(const agent_runtime *rt) { return rt->id; }

void agent_counters_get(const agent_runtime *rt, agent_counters *out)
{
    agent_runtime *r = (agent_runtime *)rt;
    *out = (agent_counters){ atomic_load(&r->leased), atomic_load(&r->completed),
                             atomic_load(&r->failed), atomic_load(&r->lost) };
}
