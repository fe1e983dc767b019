/*
 * sched.c - the scheduler service (the design, the catch-up rule and the
 * no-duplicates argument are in sched.h).
 *
 * The thread keeps no copy of the schedules: every pass lists them from
 * the store, so a change made by another process is seen within
 * reread_ms, and one made through this process's API at once
 * (sched_changed bumps `gen`, which ends the sleep; a change that lands
 * while a pass runs is caught because gen is read before the pass).
 */
#include "queue/sched.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/cond.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/xmem.h"
#include "queue/cron.h"

#define RETRY_MS 1000 /* sleep after a failed pass */

struct sched {
    store *st;
    queue *q;
    fs_clock clk;
    sched_config cfg;
    pthread_mutex_t lock;  /* guards gen and stop */
    pthread_cond_t wake;
    uint64_t gen;          /* bumped by sched_changed */
    bool stop;
    pthread_t thread;
    bool running;
};

sched_config sched_config_default(void)
{
    return (sched_config){ .reread_ms = 60000, .thread = true };
}

bool sched_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    return n > 0 && n <= SCHED_MAX_NAME &&
           strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        "0123456789._-") == n;
}

static int64_t base_of(const fs_schedule *sc)
{
    return sc->last_fire > sc->updated_at ? sc->last_fire : sc->updated_at;
}

int64_t sched_next_fire(const fs_schedule *sc, int64_t now)
{
    cron *c;
    if (!sc->enabled || cron_parse(sc->cron, &c, NULL, 0)) return 0;
    int64_t base = base_of(sc);
    int64_t next = cron_next(c, base > now ? base : now);
    cron_free(c);
    return next;
}

/* The stored job JSON (validated by the API) as a job.  FS_EINVAL when it
 * lacks type or target_agent. */
static int job_from_json(const char *text, fs_job *j)
{
    json_t *o = json_loads(text, 0, NULL);
    const char *type = json_string_value(json_object_get(o, "type"));
    const char *target = json_string_value(json_object_get(o, "target_agent"));
    json_t *payload = json_object_get(o, "payload");
    int rc = type && target ? 0 : FS_EINVAL;
    if (!rc) {
        j->type = xstrdup(type);
        j->target_agent = xstrdup(target);
        j->payload = payload ? fs_json_dump(payload, 0) : NULL;
        j->priority = (int)json_integer_value(json_object_get(o, "priority"));
        j->max_attempts =
            (int)json_integer_value(json_object_get(o, "max_attempts"));
        j->timeout_ms = json_integer_value(json_object_get(o, "timeout_ms"));
    }
    json_decref(o);
    return rc;
}

/* Enqueues sc's job for fire time due (a no-op when another scheduler
 * was first).  OUT: *fired counts a job enqueued. */
static int fire(sched *s, const fs_schedule *sc, int64_t due, int64_t now,
                size_t *fired)
{
    fs_job j = { 0 };
    bool done = false;
    int rc = job_from_json(sc->job, &j);
    j.run_at = due; /* due already: pending, and first among its equals */
    if (!rc) rc = queue_job_prepare(s->q, &j);
    if (rc) { /* stored behind the API's back: skip it, keep the rest */
        log_warn("schedule %s: its job is not valid; not fired", sc->name);
        rc = 0;
        goto out;
    }
    rc = store_schedule_fire(s->st, sc->name, due, &j, now, &done);
    if (rc == FS_ENOTFOUND) rc = 0; /* deleted since the listing */
    if (!done) goto out;
    (*fired)++;
    queue_jobs_added(s->q, 0);
    char at[40];
    fs_time_format(due, at, sizeof at);
    log_event(LOG_INFO, NULL, j.id, "schedule %s fired for %s: %s for %s",
              sc->name, at, j.type, j.target_agent);
out:
    fs_job_clear(&j);
    return rc;
}

/* Fires sc if due; lowers *next to its next fire time after now. */
static int tick_one(sched *s, const fs_schedule *sc, int64_t now,
                    size_t *fired, int64_t *next)
{
    cron *c;
    char err[256];
    if (cron_parse(sc->cron, &c, err, sizeof err)) {
        log_warn("schedule %s: bad cron '%s': %s", sc->name, sc->cron, err);
        return 0;
    }
    int64_t base = base_of(sc), first = cron_next(c, base);
    int rc = 0;
    if (first && first <= now) rc = fire(s, sc, cron_prev(c, now), now, fired);
    int64_t after = cron_next(c, base > now ? base : now);
    if (after && (!*next || after < *next)) *next = after;
    cron_free(c);
    return rc;
}

int sched_tick(sched *s, size_t *fired, int64_t *next_fire)
{
    fs_schedule *all = NULL;
    size_t n = 0, nfired = 0;
    int64_t next = 0, now = fs_now(&s->clk);
    int rc = store_schedule_list(s->st, &all, &n);
    for (size_t i = 0; i < n; i++) { /* one failing does not stop the rest */
        int one = all[i].enabled ? tick_one(s, &all[i], now, &nfired, &next)
                                 : 0;
        if (!rc) rc = one;
    }
    fs_schedules_free(all, n);
    if (fired) *fired = nfired;
    if (next_fire) *next_fire = next;
    return rc;
}

/* Passes, each followed by a sleep until the next fire time (at most
 * reread_ms), a change or the stop. */
static void *sched_main(void *arg)
{
    sched *s = arg;
    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        uint64_t gen = s->gen;
        pthread_mutex_unlock(&s->lock);
        int64_t next = 0, wait = s->cfg.reread_ms;
        int rc = sched_tick(s, NULL, &next);
        if (rc) {
            log_warn("scheduler: pass failed: %s", fs_strerror(rc));
            wait = RETRY_MS;
        }
        int64_t now = fs_now(&s->clk);
        if (next && next - now < wait) wait = next - now;
        int64_t deadline = fs_mono_ms() + (wait > 1 ? wait : 1);
        pthread_mutex_lock(&s->lock);
        while (!s->stop && gen == s->gen && fs_mono_ms() < deadline)
            fs_cond_wait_until(&s->wake, &s->lock, deadline);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int sched_open(sched **out, store *st, queue *q, const fs_clock *clk,
               const sched_config *cfg)
{
    sched *s = xcalloc(1, sizeof *s);
    s->st = st;
    s->q = q;
    s->clk = clk ? *clk : fs_clock_real;
    s->cfg = cfg ? *cfg : sched_config_default();
    if (s->cfg.reread_ms <= 0) s->cfg.reread_ms = 60000;
    pthread_mutex_init(&s->lock, NULL);
    fs_cond_init(&s->wake);
    if (s->cfg.thread) {
        if (pthread_create(&s->thread, NULL, sched_main, s) != 0) {
            sched_close(s);
            return FS_EIO;
        }
        s->running = true;
    }
    *out = s;
    return 0;
}

void sched_changed(sched *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->lock);
    s->gen++;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

void sched_close(sched *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    if (s->running) pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    free(s);
}
