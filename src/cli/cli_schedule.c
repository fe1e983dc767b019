/*
 * cli_schedule.c - `flowstate schedule add|list|rm` (see cli.h): periodic
 * jobs on a server (POST, GET and DELETE /v1/schedules).
 *
 * Design: the three steps of cli_job.c.  add checks everything it can
 * before a request, the cron expression with the server's own parser
 * (queue/cron.h), so a typo exits 2 with the same message the server
 * would give; then one request; then the answer, as the server's JSON
 * with --json or a line or a table.  Times in the table are relative
 * ("in 4m", "2h ago"); the server reasons in UTC.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/clifmt.h"
#include "cli/cliopt.h"
#include "cli/table.h"
#include "core/clock.h"
#include "core/xmem.h"
#include "queue/cron.h"
#include "queue/queue.h"
#include "queue/sched.h"

typedef struct add_args {
    const char *type, *target, *payload;
    cliopt_num priority, max_attempts, timeout;
    bool disabled;
} add_args;

/* NAME as a server would take it; prints why not. */
static bool check_name(const cliopt_ctx *ctx, const char *name)
{
    if (sched_name_ok(name)) return true;
    cliopt_fail(ctx, "NAME '%s' must be 1-%d letters, digits, '.', '_' or "
                "'-'", name, SCHED_MAX_NAME);
    return false;
}

/* --type and --target: given and within the queue's limit. */
static bool check_job_names(const cliopt_ctx *ctx, const add_args *a)
{
    const struct {
        const char *flag, *value, *what;
    } names[] = { { "--type", a->type, "TYPE (the job type)" },
                  { "--target", a->target, "AGENT (an agent type or id)" } };
    for (size_t i = 0; i < 2; i++) {
        if (!names[i].value || !*names[i].value) {
            cliopt_fail(ctx, "missing %s %s", names[i].flag, names[i].what);
            return false;
        }
        if (strlen(names[i].value) > QUEUE_MAX_NAME) {
            cliopt_fail(ctx, "%s is longer than %d bytes", names[i].flag,
                        QUEUE_MAX_NAME);
            return false;
        }
    }
    return true;
}

/* The "job" object of the request.  NULL after printing the problem. */
static json_t *job_object(const cliopt_ctx *ctx, const add_args *a)
{
    json_t *payload = NULL;
    if (!check_job_names(ctx, a)) return NULL;
    if (a->payload) {
        payload = json_loads(a->payload, JSON_DECODE_ANY, NULL);
        if (!json_is_object(payload)) {
            cliopt_fail(ctx, "--payload must be a JSON object, like "
                        "{\"window\": \"1h\"}");
            json_decref(payload);
            return NULL;
        }
    }
    json_t *job = json_pack("{s:s,s:s}", "type", a->type, "target_agent",
                            a->target);
    if (payload) json_object_set_new(job, "payload", payload);
    if (a->priority.set)
        json_object_set_new(job, "priority", json_integer(a->priority.v));
    if (a->max_attempts.set)
        json_object_set_new(job, "max_attempts",
                            json_integer(a->max_attempts.v));
    if (a->timeout.set)
        json_object_set_new(job, "timeout_ms",
                            json_integer(a->timeout.v * 1000));
    return job;
}

/* The POST /v1/schedules body, or NULL after printing the problem. */
static json_t *add_body(const cliopt_ctx *ctx, const char *name,
                        const char *expr, const add_args *a)
{
    cron *c;
    char err[256];
    if (!check_name(ctx, name)) return NULL;
    if (cron_parse(expr, &c, err, sizeof err)) {
        cliopt_fail(ctx, "CRON '%s': %s", expr, err);
        return NULL;
    }
    cron_free(c);
    json_t *job = job_object(ctx, a);
    if (!job) return NULL;
    return json_pack("{s:s,s:s,s:o,s:b}", "name", name, "cron", expr, "job",
                     job, "enabled", !a->disabled);
}

/* add's line: what was stored and when it fires next. */
static void print_added(const json_t *s, bool replaced)
{
    json_t *job = json_object_get(s, "job");
    json_t *next = json_object_get(s, "next_fire_at");
    char when[CLIFMT_CELL];
    printf("%s schedule %s (%s): %s for %s", replaced ? "replaced" : "added",
           clifmt_str(s, "name"), clifmt_str(s, "cron"),
           clifmt_str(job, "type"), clifmt_str(job, "target_agent"));
    if (json_is_string(next))
        printf(", next at %s (%s)\n", json_string_value(next),
               clifmt_age(next, fs_now(&fs_clock_real), when, sizeof when));
    else
        printf(", disabled\n");
}

static int schedule_add(const cliopt_ctx *ctx, int argc, char **argv)
{
    cliopt_common common = {0};
    add_args a = {0};
    const char *args[2];
    const cliopt opts[] = {
        {"type", CLIOPT_STR, &a.type},
        {"target", CLIOPT_STR, &a.target},
        {"payload", CLIOPT_STR, &a.payload},
        {"priority", CLIOPT_INT, &a.priority, -QUEUE_MAX_PRIORITY,
         QUEUE_MAX_PRIORITY},
        {"max-attempts", CLIOPT_INT, &a.max_attempts, 1, QUEUE_MAX_ATTEMPTS},
        {"timeout", CLIOPT_INT, &a.timeout, 1, QUEUE_MAX_LEASE_MS / 1000},
        {"disabled", CLIOPT_FLAG, &a.disabled},
        {NULL},
    };
    int code;
    if (!cliopt_parse(ctx, opts, argc, argv, &common, args, &code))
        return code;
    json_t *body = add_body(ctx, args[0], args[1], &a);
    if (!body) return CLI_EXIT_USAGE;
    client *c;
    code = CLI_EXIT_USAGE;
    if (client_open(&c, &common.conn) != 0) goto free_body;
    client_resp r;
    code = CLI_EXIT_UNREACHABLE;
    if (client_request(c, "POST", "/v1/schedules", body, &r) != 0)
        goto close_client;
    code = client_report(&r);
    if (code == CLI_EXIT_OK && !json_is_object(r.json)) {
        fprintf(stderr, "flowstate: the server's answer is not a schedule\n");
        code = CLI_EXIT_UNREACHABLE;
    }
    if (code == CLI_EXIT_OK && common.json) clifmt_json(stdout, r.json);
    else if (code == CLI_EXIT_OK) print_added(r.json, r.status == 200);
    client_resp_clear(&r);
close_client:
    client_close(c);
free_body:
    json_decref(body);
    return code;
}

enum { COL_NAME, COL_CRON, COL_JOB, COL_ON, COL_NEXT, COL_LAST, NCOLS };

static void print_schedules(const json_t *list)
{
    static const char *const headers[NCOLS] = {
        "NAME", "CRON", "JOB", "ENABLED", "NEXT FIRE", "LAST FIRE",
    };
    table *t = table_new(NCOLS, headers);
    table_set_max(t, COL_JOB, 48);
    int64_t now = fs_now(&fs_clock_real);
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s)
    {
        json_t *job = json_object_get(s, "job");
        char next[CLIFMT_CELL], last[CLIFMT_CELL];
        char *what = xasprintf("%s -> %s", clifmt_str(job, "type"),
                               clifmt_str(job, "target_agent"));
        const char *row[NCOLS] = {
            clifmt_str(s, "name"),
            clifmt_str(s, "cron"),
            what,
            json_is_true(json_object_get(s, "enabled")) ? "yes" : "no",
            clifmt_age(json_object_get(s, "next_fire_at"), now, next,
                       sizeof next),
            clifmt_age(json_object_get(s, "last_fire_at"), now, last,
                       sizeof last),
        };
        table_add(t, row);
        free(what);
    }
    table_print(t, stdout, table_style_for(stdout));
    table_free(t);
}

static int schedule_list(const cliopt_ctx *ctx, int argc, char **argv)
{
    return cliopt_show_list(ctx, argc, argv, "/v1/schedules", "schedules",
                            "no schedules", print_schedules);
}

static int schedule_rm(const cliopt_ctx *ctx, int argc, char **argv)
{
    cliopt_common common = {0};
    const char *name;
    int code;
    if (!cliopt_parse(ctx, NULL, argc, argv, &common, &name, &code))
        return code;
    if (!check_name(ctx, name)) return CLI_EXIT_USAGE;
    client *c;
    if (client_open(&c, &common.conn) != 0) return CLI_EXIT_USAGE;
    char *path = xasprintf("/v1/schedules/%s", name); /* nothing to escape */
    client_resp r;
    code = CLI_EXIT_UNREACHABLE;
    if (client_request(c, "DELETE", path, NULL, &r) == 0) {
        code = client_report(&r);
        if (code == CLI_EXIT_OK) printf("removed schedule %s\n", name);
        client_resp_clear(&r);
    }
    free(path);
    client_close(c);
    return code;
}

static const cliopt_cmd schedule_cmds[] = {
    {"add", schedule_add, "NAME CRON --type TYPE --target AGENT [options]",
     "Add the schedule NAME, or replace it (its last fire is kept): each\n"
     "time CRON comes due (UTC) the server enqueues a job of TYPE for\n"
     "AGENT.  After downtime only the latest missed fire is made up.\n"
     "\n"
     "CRON is five fields, minute hour day-of-month month day-of-week\n"
     "(each *, N, A-B, a list A,B and a step /N; JAN-DEC and SUN-SAT\n"
     "names), a shortcut @hourly @daily @weekly @monthly @yearly, or\n"
     "@every with a period of 30s, 5m, 2h or 1d style.\n"
     "\n"
     "options:\n"
     "  --type TYPE           the job type (required)\n"
     "  --target AGENT        who runs it: an agent type or id (required)\n"
     "  --payload JSON        the job's input, a JSON object (default {})\n"
     "  --priority N          higher runs first (default 0)\n"
     "  --max-attempts N      give up after N attempts (server default)\n"
     "  --timeout SECONDS     lease length for each attempt\n"
     "  --disabled            store it without firing it\n"
     "\n"
     "examples:\n"
     "  flowstate schedule add nightly-report \"0 2 * * *\" \\\n"
     "      --type report.build --target reporter\n"
     "  flowstate schedule add monitor \"*/5 * * * MON-FRI\" \\\n"
     "      --type monitor.check --target monitor --payload '{\"window\":"
     "\"5m\"}'\n"
     "  flowstate schedule add learn \"@every 30m\" --type learn.cycle \\\n"
     "      --target learner\n",
     "NAME CRON"},
    {"list", schedule_list, "[--json]",
     "List the schedules by name with their next and last fire times.\n",
     NULL},
    {"rm", schedule_rm, "NAME",
     "Remove a schedule (the jobs it enqueued stay).\n", "NAME"},
};

int cli_schedule_main(int argc, char **argv)
{
    return cliopt_dispatch("schedule",
                           "Add, list and remove periodic jobs (cron "
                           "schedules) on a flowstate server.",
                           schedule_cmds,
                           sizeof schedule_cmds / sizeof *schedule_cmds, argc,
                           argv);
}
