/*
 * main.c - the one `flowstate` binary: dispatches the first argument to a
 * command from a static table (demo, serve, worker, job, agent, queue, memory,
 * search, import, workflow, schedule, evolution, bench, migrate).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/fs.h"
#include "serve/app.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} command;

static const command commands[] = {
    { "demo", cli_demo_main, "see the whole system work, on a new database" },
    { "serve", serve_main, "run the HTTP/JSON API server" },
    { "worker", worker_main, "run built-in agents for a server, over HTTP" },
    { "job", cli_job_main, "enqueue, list, show, cancel and retry jobs" },
    { "agent", cli_agent_main, "list and show registered agents" },
    { "queue", cli_queue_main, "queue statistics" },
    { "memory", cli_memory_main, "add, show, delete and list memory documents" },
    { "search", cli_search_main, "search memory (semantic, hybrid, similar, ...)" },
    { "import", cli_import_main, "import JSONL, CSV and text files into memory" },
    { "workflow", cli_workflow_main, "validate, register, run and watch workflows" },
    { "schedule", cli_schedule_main, "add, list and remove periodic jobs (cron)" },
    { "evolution", cli_evolution_main, "the changes agents make: list, approve, roll back" },
    { "bench", cli_bench_main, "benchmark the vector indexes (FAISS beside)" },
    { "migrate", cli_migrate_main, "copy a whole database (SQLite <-> PostgreSQL)" },
};

static void usage(FILE *out)
{
    fprintf(out, "usage: flowstate <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\n'flowstate <command> --help' describes each command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("flowstate %s\n", FLOWSTATE_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "flowstate: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
