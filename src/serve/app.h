/*
 * app.h - the process-wide state of `flowstate serve`, in one named struct.
 *
 * serve.c builds it from flags and environment, opens each service in
 * order (store -> queue -> registry -> auth -> http) and closes them in
 * reverse.  HTTP handlers receive a borrowed pointer to it.
 */
#ifndef APP_H
#define APP_H
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agents/registry.h"
#include "core/clock.h"
#include "core/log.h"
#include "memory/space.h"
#include "queue/queue.h"
#include "store/store.h"

struct auth;
struct http_server;

typedef struct fs_app {
    store *st;
    queue *q;
    registry *reg;
    struct auth *auth;
    struct http_server *http;
    fs_clock clk;
    mem_space space;          /* the database's vector space */
    struct embedder *emb;     /* the space's embedder (cached) */
    struct memory *mem;       /* documents and semantic search */
    struct workflow *wf;      /* workflow definitions, runs, the engine */
    struct sched *sched;      /* periodic jobs (queue/sched.h), or NULL */
    struct evolution *evo;    /* the evolution log (evolution/evolution.h) */
    int default_ef;           /* the index's ef_search with no change applied */
    struct agent_host *agent_host; /* the built-in agents' way in */
    struct builtin_set *agents;    /* the built-in agents running (--agents) */
    struct llm *llm;               /* FLOWSTATE_LLM_*, or NULL */
    char *index_path;         /* the vector index file */
    size_t body_limit;        /* bytes; default 1 MiB */
    int64_t started_at;       /* ms */
    atomic_bool stopping;     /* set on SIGTERM/SIGINT: new requests get 503 */
} fs_app;

/* `flowstate serve ...`: returns the process exit code. */
int serve_main(int argc, char **argv);
/* `flowstate worker`: built-in agents over HTTP (worker.c). */
int worker_main(int argc, char **argv);
/* `flowstate worker --db`: built-in agents on the database itself, as
 * `serve` runs them but without HTTP or the scheduler (serve.c); returns
 * the exit code after SIGTERM/SIGINT. */
int serve_direct_main(const char *db, const char *agents, int concurrency,
                      log_level level);

#endif
