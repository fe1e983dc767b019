/*
 * cliopt.h - the option parser and subcommand dispatcher shared by the
 * client commands (`flowstate job|agent|queue|memory ...`, `flowstate
 * search`, `flowstate import`).
 *
 * A command group is a static table of cliopt_cmd {name, run, synopsis,
 * help, argname, flags}; cliopt_dispatch() picks the entry named by
 * argv[1].  A command without subcommands (`search`) is one cliopt_cmd run
 * by cliopt_single().  A (sub)command describes its own options as a
 * static array of cliopt (long names only, "--name VALUE" or
 * "--name=VALUE"; a CLIOPT_LIST option may repeat) and calls
 * cliopt_parse(), which also accepts the global options every command
 * shares (--url, --key, --key-file, --json, --help) into a cliopt_common.
 *
 * Errors are the user's: cliopt_parse() prints one line naming the command
 * and the problem, then a hint to run --help, and the caller returns
 * CLI_EXIT_USAGE.  Nothing here allocates; every string handed back points
 * into argv and lives as long as it does.  cliopt_show() and
 * cliopt_show_list() are whole commands made of one GET (`queue stats`,
 * `agent list`, `schedule list`).
 */
#ifndef CLIOPT_H
#define CLIOPT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/client.h"

typedef enum {
    CLIOPT_FLAG, /* out: bool *, set true when present */
    CLIOPT_STR,  /* out: const char **, borrowed from argv */
    CLIOPT_INT,  /* out: cliopt_num *, whole number within [min, max] */
    CLIOPT_REAL, /* out: cliopt_real *, finite decimal within [min, max] */
    CLIOPT_LIST, /* out: cliopt_list *, every value in order (repeatable) */
} cliopt_kind;

typedef struct cliopt_num {
    bool set;
    int64_t v;
} cliopt_num;

typedef struct cliopt_real {
    bool set;
    double v;
} cliopt_real;

/* A repeatable option's values, borrowed from argv; more than
 * CLIOPT_LIST_MAX is a usage error (the server's own limits are lower:
 * 64 tags, 16 metadata filters). */
#define CLIOPT_LIST_MAX 64
typedef struct cliopt_list {
    const char *v[CLIOPT_LIST_MAX];
    size_t n;
} cliopt_list;

typedef struct cliopt {
    const char *name; /* without the dashes: "state" for --state */
    cliopt_kind kind;
    void *out;
    int64_t min, max; /* CLIOPT_INT and CLIOPT_REAL, inclusive; a REAL
                         option with INT64_MIN..INT64_MAX takes any
                         finite number */
} cliopt;

/* The options every client command accepts. */
typedef struct cliopt_common {
    client_opts conn; /* --url, --key, --key-file (timeouts stay 0) */
    bool json;        /* --json */
    bool help;        /* --help / -h */
} cliopt_common;

typedef struct cliopt_cmd cliopt_cmd;

/* What a subcommand handler sees: its group ("job"; NULL for a single
 * command run by cliopt_single()), its table entry and argv starting at
 * the subcommand name. */
typedef struct cliopt_ctx {
    const char *group;
    const cliopt_cmd *cmd;
} cliopt_ctx;

/* cliopt_cmd.flags */
#define CLIOPT_ARG_OPTIONAL 1u /* the positional arguments may be absent */

struct cliopt_cmd {
    const char *name; /* "enqueue" */
    int (*run)(const cliopt_ctx *ctx, int argc, char **argv);
    const char *synopsis; /* after "flowstate job enqueue ": "TYPE --to ..." */
    const char *help;     /* description and option lines, ends in '\n' */
    const char *argname;  /* the positional arguments, one word each
                             ("ID", "NAME CRON"), or NULL */
    unsigned flags;       /* CLIOPT_ARG_OPTIONAL */
};

/*
 * Parses argv[1..argc) (argv[0] is the subcommand name) against opts (an
 * array ended by an entry with name NULL) and the global options.  The
 * positional arguments, one per word of ctx->cmd->argname ("ID", or
 * "NAME CRON"), must each appear once (with CLIOPT_ARG_OPTIONAL they may
 * be absent and stay NULL) and are stored in order in arg[0], arg[1], ...
 * (arg NULL: none taken); a lone "-" is positional, "--" ends options.
 *
 * Returns true when the command should go on.  Returns false with
 * OUT: *exit_code = 0 after printing the usage to stdout for --help (which
 * wins over every other problem on the line), or CLI_EXIT_USAGE after
 * printing the first problem to stderr.
 */
bool cliopt_parse(const cliopt_ctx *ctx, const cliopt *opts, int argc,
                  char **argv, cliopt_common *common, const char **arg,
                  int *exit_code);

/* Parses a whole decimal number within [min, max]; false otherwise. */
bool cliopt_int(const char *s, int64_t min, int64_t max, int64_t *out);

/* Prints the full usage of one subcommand (with the global options). */
void cliopt_usage(const cliopt_ctx *ctx, FILE *out);

/* Parses a finite decimal number ("0.5", "-1", "1e-3") within [min, max];
 * false otherwise (also for "", " 1", "nan", "inf"). */
bool cliopt_real_parse(const char *s, double min, double max, double *out);

/* Prints "flowstate <group> <cmd>: <message>\n" (or "flowstate <cmd>: "
 * for a single command) to stderr and returns CLI_EXIT_USAGE, for checks
 * the handler makes after parsing. */
int cliopt_fail(const cliopt_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Runs the subcommand named by argv[1] from cmds[0..n).  With no subcommand,
 * or "--help"/"-h"/"help", prints the group's usage (summary plus a line per
 * subcommand) and returns 2 or 0 respectively.  An unknown name returns 2.
 */
int cliopt_dispatch(const char *group, const char *summary,
                    const cliopt_cmd *cmds, size_t n, int argc, char **argv);

/*
 * The whole of a command that shows one GET (`queue stats`): parses argv
 * with the global options only, GETs path and prints the answer: the
 * server's JSON with --json, else print(doc, arg), whose exit code it
 * returns.
 */
int cliopt_show(const cliopt_ctx *ctx, int argc, char **argv,
                const char *path, int (*print)(const json_t *doc, void *arg),
                void *arg);

/* cliopt_show for a list (`agent list`, `schedule list`): the answer's
 * member key must be an array (else CLI_EXIT_UNREACHABLE); `none` and a
 * newline are printed when it is empty, print(array) otherwise. */
int cliopt_show_list(const cliopt_ctx *ctx, int argc, char **argv,
                     const char *path, const char *key, const char *none,
                     void (*print)(const json_t *list));

/* Runs a command that has no subcommands (argv[0] is its name, as
 * main() passes it): cmd->run with a context whose group is NULL, so
 * messages and usage read "flowstate search ...". */
int cliopt_single(const cliopt_cmd *cmd, int argc, char **argv);

#endif
