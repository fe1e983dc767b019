/*
 * cli.h - the client commands of `flowstate`: they talk to a running server
 * over HTTP (--url / FLOWSTATE_URL, default http://127.0.0.1:8080) with the
 * admin key from --key / FLOWSTATE_API_KEY or the key file
 * (--key-file / FLOWSTATE_KEY_FILE, default ./flowstate.key).
 *
 * Each *_main gets argv starting at the command name ("job", ...) and
 * returns the exit code:
 *   0 ok, 1 server said no (4xx), 2 usage error, 3 cannot reach server or
 *   server error (5xx), 4 not found.
 */
#ifndef CLI_H
#define CLI_H

/* The exit codes every client command returns (a script's contract). */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_REJECTED = 1,    /* the server answered 4xx (other than 404) */
    CLI_EXIT_USAGE = 2,       /* bad flag, number, JSON, or missing key */
    CLI_EXIT_UNREACHABLE = 3, /* no connection, timeout, or a 5xx answer */
    CLI_EXIT_NOTFOUND = 4,    /* the server answered 404 */
};

int cli_job_main(int argc, char **argv);
int cli_agent_main(int argc, char **argv);
int cli_queue_main(int argc, char **argv);
/* The shared memory: `flowstate memory add|get|rm|list`, `flowstate
 * search`, `flowstate import` (cli_memory.c, cli_search.c,
 * cli_import.c). */
int cli_memory_main(int argc, char **argv);
int cli_search_main(int argc, char **argv);
int cli_import_main(int argc, char **argv);
/* Workflows: `flowstate workflow validate|register|list|show|run|status|
 * runs|cancel|retry|graph` (cli_workflow.c); validate and graph of a
 * file need no server.  Following a run exits 0 when it completed, 1
 * when it failed or was cancelled. */
int cli_workflow_main(int argc, char **argv);
/* Periodic jobs: `flowstate schedule add|list|rm` (cli_schedule.c). */
int cli_schedule_main(int argc, char **argv);
/* The evolution log: `flowstate evolution list|show|settings|approve|
 * reject|rollback` (cli_evolution.c). */
int cli_evolution_main(int argc, char **argv);
/* `flowstate migrate --from DB --to DB`: a whole database copied into an
 * empty one and verified, no server (cli_migrate.c); its help lists its
 * exit codes (5: copied, but the verification found a difference). */
int cli_migrate_main(int argc, char **argv);
/* `flowstate demo`: the whole system on a new embedded database
 * (cli_demo.c); exit 0, or 1 when a step failed. */
int cli_demo_main(int argc, char **argv);
/* `flowstate bench vectors` runs in-process, no server (cli_bench.c);
 * exit 0 ok, 1 bad or missing data files, 2 usage. */
int cli_bench_main(int argc, char **argv);

#endif
