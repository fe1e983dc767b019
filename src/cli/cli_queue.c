/*
 * cli_queue.c - `flowstate queue stats` (see cli.h).
 *
 * Design: one GET /v1/queue/stats, printed as a table with a row per job
 * type (counts per state and the age of the oldest pending job), a rule,
 * and a TOTAL row taken from the server's "states" object (not summed here,
 * so it stays right even if the server ever lists only some types).  The
 * server's "counters" follow as name/value lines.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/clifmt.h"
#include "cli/cliopt.h"
#include "cli/table.h"
#include "core/xmem.h"

static const char *const states[] = {
    "pending", "scheduled", "running", "completed", "failed", "cancelled",
};
#define NSTATES (sizeof states / sizeof *states)
#define NCOLS (NSTATES + 2) /* TYPE, the states, OLDEST PENDING */

/*
 * Appends a row: label, obj's count for each state, then last.  The counts
 * are shown as the server sent them ("-" when absent).
 */
static void add_counts(table *t, const char *label, const json_t *obj,
                       const char *last)
{
    char *counts[NSTATES];
    const char *row[NCOLS];
    row[0] = label;
    for (size_t i = 0; i < NSTATES; i++) {
        counts[i] = clifmt_value(json_object_get(obj, states[i]));
        row[1 + i] = counts[i];
    }
    row[NCOLS - 1] = last;
    table_add(t, row);
    for (size_t i = 0; i < NSTATES; i++)
        free(counts[i]);
}

static int print_stats(const json_t *doc, void *arg)
{
    (void)arg;
    const char *headers[NCOLS] = {
        "TYPE",      "PENDING", "SCHEDULED", "RUNNING",
        "COMPLETED", "FAILED",  "CANCELLED", "OLDEST PENDING",
    };
    table *t = table_new(NCOLS, headers);
    for (size_t i = 1; i < NCOLS; i++)
        table_set_align(t, i, TABLE_RIGHT);
    table_set_max(t, 0, 40);
    size_t i;
    json_t *type;
    json_array_foreach(json_object_get(doc, "types"), i, type)
    {
        char oldest[CLIFMT_CELL] = "-";
        json_t *age = json_object_get(type, "oldest_pending_age_ms");
        if (json_is_integer(age) && json_integer_value(age) > 0)
            clifmt_span(json_integer_value(age), oldest, sizeof oldest);
        add_counts(t, clifmt_str(type, "type"), type, oldest);
    }
    if (table_rows(t)) table_add_rule(t);
    add_counts(t, "TOTAL", json_object_get(doc, "states"), "");
    table_print(t, stdout, table_style_for(stdout));
    table_free(t);

    json_t *counters = json_object_get(doc, "counters");
    if (json_object_size(counters) == 0) return CLI_EXIT_OK;
    table *ct = table_new(2, NULL);
    table_set_align(ct, 1, TABLE_RIGHT);
    const char *name;
    json_t *v;
    json_object_foreach(counters, name, v)
    {
        char *val = clifmt_value(v);
        table_add(ct, (const char *[]){name, val});
        free(val);
    }
    printf("\ncounters since start:\n");
    table_print(ct, stdout, (table_style){0});
    table_free(ct);
    return CLI_EXIT_OK;
}

static int queue_stats(const cliopt_ctx *ctx, int argc, char **argv)
{
    return cliopt_show(ctx, argc, argv, "/v1/queue/stats", print_stats, NULL);
}

static const cliopt_cmd queue_cmds[] = {
    {"stats", queue_stats, "[--json]",
     "Show how many jobs are in each state, per job type and in total,\n"
     "the age of the oldest pending job of each type, and the queue's\n"
     "counters since the server started.\n",
     NULL},
};

int cli_queue_main(int argc, char **argv)
{
    return cliopt_dispatch("queue",
                           "Look at the job queue of a flowstate "
                           "server.",
                           queue_cmds, sizeof queue_cmds / sizeof *queue_cmds,
                           argc, argv);
}
