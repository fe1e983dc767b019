/*
 * builtin.c - the table of built-in agent types and a started set of them
 * (see builtin.h).
 */
#include "agents/builtin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/builtin/code_analyzer.h"
#include "agents/builtin/coordinator.h"
#include "agents/builtin/data_processor.h"
#include "agents/builtin/learning.h"
#include "agents/builtin/monitoring.h"
#include "core/fs.h"
#include "core/xmem.h"

static const agent_def *const AGENTS[] = { &coordinator_agent, &learning_agent,
                                             &code_analyzer_agent,
                                             &data_processor_agent,
                                             &monitoring_agent };
#define NAGENTS (sizeof AGENTS / sizeof *AGENTS)

struct builtin_set {
    agent_runtime *rt[NAGENTS];
    size_t n;
};

const agent_def *builtin_find(const char *type)
{
    for (size_t i = 0; i < NAGENTS; i++)
        if (!strcmp(AGENTS[i]->type, type)) return AGENTS[i];
    return NULL;
}

const char *builtin_names(void)
{
    static char names[256];
    if (!names[0])
        for (size_t i = 0; i < NAGENTS; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                     i ? "," : "", AGENTS[i]->type);
    return names;
}

/* The chosen agents, in table order: want[i] for AGENTS[i]. */
static int choose(const char *list, bool *want, char *err, size_t errlen)
{
    bool all = !strcmp(list, "all");
    for (size_t i = 0; i < NAGENTS; i++) want[i] = all;
    if (all || !strcmp(list, "none")) return 0;
    char *copy = xstrdup(list), *save = NULL;
    int rc = 0;
    for (char *t = strtok_r(copy, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save)) {
        size_t i = 0;
        while (i < NAGENTS && strcmp(AGENTS[i]->type, t)) i++;
        if (i == NAGENTS) {
            snprintf(err, errlen, "no built-in agent '%s' (there are: %s)", t,
                     builtin_names());
            rc = FS_EINVAL;
        } else {
            want[i] = true;
        }
    }
    free(copy);
    return rc;
}

int builtin_names_of(const char *list, const char **names, size_t cap, size_t *n,
                     char *err, size_t errlen)
{
    bool want[NAGENTS];
    int rc = choose(list, want, err, errlen);
    *n = 0;
    for (size_t i = 0; !rc && i < NAGENTS; i++)
        if (want[i] && *n < cap) names[(*n)++] = AGENTS[i]->type;
    return rc;
}

int builtin_check(const char *list, char *err, size_t errlen)
{
    bool want[NAGENTS];
    return choose(list, want, err, errlen);
}

int builtin_start(builtin_set **out, agent_host *host, const char *list,
                  int concurrency, struct llm *llm, char *err, size_t errlen)
{
    bool want[NAGENTS];
    *out = NULL;
    int rc = choose(list, want, err, errlen);
    if (rc) return rc;
    builtin_set *set = xcalloc(1, sizeof *set);
    agent_config cfg = { .concurrency = concurrency, .llm = llm };
    for (size_t i = 0; i < NAGENTS && !rc; i++) {
        if (!want[i]) continue;
        rc = agent_start(&set->rt[set->n], host, AGENTS[i], &cfg);
        if (rc) snprintf(err, errlen, "cannot start the %s agent: %s", AGENTS[i]->type,
                         fs_strerror(rc));
        else set->n++;
    }
    if (rc || set->n == 0) {
        builtin_stop(set);
        return rc;
    }
    *out = set;
    return 0;
}

void builtin_stop(builtin_set *set)
{
    if (!set) return;
    for (size_t i = 0; i < set->n; i++) agent_stop(set->rt[i]);
    free(set);
}

static const struct {
    const char *agent, *name, *cron, *job;
} SCHEDULES[] = {
    { "monitoring", "monitoring.health_check", "@every 1m",
      "{\"type\":\"health_check\",\"target_agent\":\"monitoring\","
      "\"timeout_ms\":60000}" },
    { "monitoring", "monitoring.check_metrics", "@every 5m",
      "{\"type\":\"check_metrics\",\"target_agent\":\"monitoring\","
      "\"timeout_ms\":60000}" },
    { "learning", "learning.evolve", "@every 10m",
      "{\"type\":\"evolve\",\"target_agent\":\"learning\","
      "\"timeout_ms\":60000}" },
};

/* Stores schedule i unless this database had it once.  OUT: *added. */
static int schedule_once(store *st, size_t i, int64_t now, bool *added)
{
    char key[96], *stored = NULL, *mark = xasprintf("installed %lld", (long long)now);
    snprintf(key, sizeof key, "default_schedule:%s", SCHEDULES[i].name);
    int rc = store_setting_init(st, key, mark, &stored);
    *added = !rc && !strcmp(stored, mark);
    if (*added) {
        fs_schedule s = { .name = (char *)SCHEDULES[i].name,
                          .cron = (char *)SCHEDULES[i].cron,
                          .job = (char *)SCHEDULES[i].job, .enabled = true };
        bool existed;
        rc = store_schedule_put(st, &s, now, &existed);
    }
    free(stored);
    free(mark);
    return rc;
}

int builtin_schedules(store *st, const char *list, int64_t now, size_t *added)
{
    const char *names[NAGENTS];
    size_t n;
    char err[128];
    *added = 0;
    int rc = builtin_names_of(list, names, NAGENTS, &n, err, sizeof err);
    for (size_t i = 0; !rc && i < sizeof SCHEDULES / sizeof *SCHEDULES; i++) {
        bool runs = false, one;
        for (size_t k = 0; k < n; k++) runs |= !strcmp(names[k], SCHEDULES[i].agent);
        if (runs && !(rc = schedule_once(st, i, now, &one))) *added += one;
    }
    return rc;
}
