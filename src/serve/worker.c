/*
 * worker.c - `flowstate worker`: built-in agents in a process of their own,
 * working for a server over its HTTP API (agents/host_http.c), or with
 * --db on the database itself (serve_direct_main in serve.c).
 *
 *   parse flags (usage error -> exit 2)
 *   register each agent with the admin key, start its threads
 *     (the server unreachable or refusing -> exit 1)
 *   sigwait(SIGTERM | SIGINT)
 *   stop the agents: handlers finish or hand their jobs back -> exit 0
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/builtin.h"
#include "agents/host_http.h"
#include "agents/llm.h"
#include "core/fs.h"
#include "core/log.h"
#include "serve/app.h"

#define MAX_AGENTS 16

typedef struct worker_opts {
    const char *url, *key, *key_file, *agents, *db;
    int concurrency;
    log_level level;
} worker_opts;

static void usage(FILE *out)
{
    fprintf(out,
        "usage: flowstate worker [options]\n"
        "\n"
        "Runs built-in agents in this process, taking their jobs from a\n"
        "Flowstate server over HTTP.  Stops on SIGTERM or Ctrl-C, handing\n"
        "unfinished jobs back.\n"
        "\n"
        "options:\n"
        "  --url URL            the server (env FLOWSTATE_URL; %s)\n"
        "  --db PATH|URL        or work on the database directly, beside the\n"
        "                       servers that use it (no HTTP)\n"
        "  --key KEY            admin key, to register the agents (env\n"
        "                       FLOWSTATE_API_KEY)\n"
        "  --key-file PATH      or read it from PATH (./flowstate.key)\n"
        "  --agents LIST        all, or names separated by commas (all): %s\n"
        "  --concurrency N      worker threads per agent (2)\n"
        "  --log-level debug|info|warn|error   (info)\n"
        "  --help               this text\n"
        "\n"
        "environment: FLOWSTATE_LLM_URL, FLOWSTATE_LLM_MODEL, FLOWSTATE_LLM_KEY\n"
        "give the agents a language model (off by default).\n",
        "http://127.0.0.1:8080", builtin_names());
}

/* Returns -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, worker_opts *o)
{
    static const struct option longs[] = {
        { "url", required_argument, NULL, 'u' },
        { "db", required_argument, NULL, 'd' },
        { "key", required_argument, NULL, 'k' },
        { "key-file", required_argument, NULL, 'f' },
        { "agents", required_argument, NULL, 'a' },
        { "concurrency", required_argument, NULL, 'c' },
        { "log-level", required_argument, NULL, 'l' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    *o = (worker_opts){ .agents = "all", .concurrency = 2, .level = LOG_INFO };
    optind = 1;
    int c;
    char why[256];
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'u': o->url = optarg; break;
        case 'd': o->db = optarg; break;
        case 'k': o->key = optarg; break;
        case 'f': o->key_file = optarg; break;
        case 'a':
            if (builtin_check(optarg, why, sizeof why)) {
                fprintf(stderr, "flowstate worker: --agents: %s\n", why);
                return 2;
            }
            o->agents = optarg;
            break;
        case 'c':
            o->concurrency = (int)strtol(optarg, &end, 10);
            if (*end || o->concurrency < 1 || o->concurrency > 64) {
                fprintf(stderr, "flowstate worker: --concurrency: '%s' is not 1-64\n",
                        optarg);
                return 2;
            }
            break;
        case 'l':
            if (!log_level_parse(optarg, &o->level)) {
                fprintf(stderr, "flowstate worker: bad --log-level '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "flowstate worker: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (o->db && o->url) {
        fprintf(stderr, "flowstate worker: give --url or --db, not both\n");
        return 2;
    }
    if (!strcmp(o->agents, "none")) {
        fprintf(stderr, "flowstate worker: --agents none leaves nothing to run\n");
        return 2;
    }
    return -1;
}

int worker_main(int argc, char **argv)
{
    worker_opts o;
    int code = parse_args(argc, argv, &o);
    if (code >= 0) return code;
    if (o.db) return serve_direct_main(o.db, o.agents, o.concurrency, o.level);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    log_setup(o.level, false);
    /* each agent its own host: a host holds one agent's token */
    const char *names[MAX_AGENTS];
    agent_host *hosts[MAX_AGENTS] = { 0 };
    builtin_set *sets[MAX_AGENTS] = { 0 };
    size_t n = 0, started = 0;
    llm *model = NULL;
    char why[256] = "";
    int rc = builtin_names_of(o.agents, names, MAX_AGENTS, &n, why, sizeof why);
    if (!rc) rc = llm_from_env(&model, why, sizeof why);
    for (; !rc && started < n; started++) {
        hosts[started] = host_http_open(o.url, o.key, o.key_file);
        rc = builtin_start(&sets[started], hosts[started], names[started],
                           o.concurrency, model, why, sizeof why);
    }
    if (rc) {
        fprintf(stderr, "flowstate worker: %s\n", why);
        code = 1;
    } else {
        fprintf(stderr, "flowstate worker: running %s; Ctrl-C stops\n", o.agents);
        int sig = 0;
        sigwait(&set, &sig);
        log_info("signal %d: stopping the agents", sig);
        code = 0;
    }
    for (size_t i = 0; i < started; i++) {
        builtin_stop(sets[i]);
        agent_host_close(hosts[i]);
    }
    llm_close(model);
    return code;
}
