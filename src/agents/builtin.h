/*
 * builtin.h - the agent types that ship inside Flowstate, and starting a
 * set of them on a host: `flowstate serve --agents` runs them as threads
 * of the server, `flowstate worker` in a process of their own.
 */
#ifndef AGENTS_BUILTIN_H
#define AGENTS_BUILTIN_H
#include <stddef.h>

#include "agents/runtime.h"
#include "store/store.h"

typedef struct builtin_set builtin_set;

/* The built-in agent type called type, or NULL. */
const agent_def *builtin_find(const char *type);
/* Their names, comma-separated (for help texts and messages). */
const char *builtin_names(void);

/* The agent types list names ("all" or names separated by commas), in
 * table order: OUT names[0..*n) (static strings).  Errors: FS_EINVAL (an
 * unknown name, said in err). */
int builtin_names_of(const char *list, const char **names, size_t cap, size_t *n,
                     char *err, size_t errlen);

/* Checks a list as builtin_start reads it.  Errors: FS_EINVAL (an unknown
 * name, said in err). */
int builtin_check(const char *list, char *err, size_t errlen);

/*
 * Starts the agents named in list ("all", "none", or names separated by
 * commas) on host (borrowed), each with concurrency worker threads and the
 * language model llm (borrowed; NULL = none, see agents/llm.h).
 * Errors: FS_EINVAL (an unknown name, said in err), an agent's start
 * error (the ones started are stopped again).  OUT: *out (NULL for
 * "none"), stopped with builtin_stop.
 */
int builtin_start(builtin_set **out, agent_host *host, const char *list,
                  int concurrency, struct llm *llm, char *err, size_t errlen);
void builtin_stop(builtin_set *set);

/*
 * The monitoring and learning cycles: for each agent of list ("all",
 * "none" or names) with a default schedule - monitoring.health_check
 * every minute, monitoring.check_metrics every 5 minutes, learning.evolve
 * every 10 minutes - stores it the first time this database sees it (a
 * setting remembers that), so a schedule changed or removed later stays
 * so.  OUT: *added.  Errors: the store's.
 */
int builtin_schedules(store *st, const char *list, int64_t now, size_t *added);

#endif
