/*
 * cli_job.c - `flowstate job enqueue|list|show|cancel|retry` (see cli.h).
 *
 * Design: every subcommand runs the same three steps, in this order:
 *   1. parse and check its input locally (flags, numbers, ids, payload
 *      JSON, times) -- a mistake costs no round trip and exits 2;
 *   2. open a client (URL and key; a missing key also exits 2);
 *   3. one request (or, for `list --all`, one per page), then print the
 *      answer: the server's JSON with --json, a table or a few lines
 *      otherwise.  Server and transport errors were already printed by
 *      client.c; the handler returns the exit code it was given.
 * Local limits mirror the queue's (queue.h) so a value the server would
 * reject is caught with a clearer message; the server still checks all.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/clifmt.h"
#include "cli/cliopt.h"
#include "cli/table.h"
#include "core/clock.h"
#include "core/model.h"
#include "core/xmem.h"
#include "queue/queue.h"

#define MAX_DELAY_S (10LL * 366 * 86400)
#define MAX_PAGE 1000

/* Parses a job id argument; prints why and returns false when it is not
 * one. */
static bool parse_id(const cliopt_ctx *ctx, const char *s, int64_t *id)
{
    if (cliopt_int(s, 1, INT64_MAX, id)) return true;
    cliopt_fail(ctx, "'%s' is not a job id (a positive whole number)", s);
    return false;
}

/*
 * Reads the payload from --payload text or --payload-file (a path, or "-"
 * for stdin) and checks it is a JSON object, as the server requires.
 * Returns a new reference, or NULL after printing the problem (a usage
 * error).  Neither given: {}.
 */
static json_t *load_payload(const cliopt_ctx *ctx, const char *text,
                            const char *file)
{
    json_error_t err;
    json_t *v;
    const char *what = text ? "--payload" : "--payload-file";
    if (text && file) {
        cliopt_fail(ctx, "give --payload or --payload-file, not both");
        return NULL;
    }
    if (!text && !file) return json_object();
    if (text) {
        v = json_loads(text, JSON_DECODE_ANY, &err);
        if (!v) {
            cliopt_fail(ctx,
                        "--payload is not valid JSON: %s (at character "
                        "%d)",
                        err.text, err.position);
            return NULL;
        }
    } else {
        FILE *f = strcmp(file, "-") ? fopen(file, "r") : stdin;
        struct stat st;
        if (f && f != stdin && fstat(fileno(f), &st) == 0 &&
            S_ISDIR(st.st_mode)) {
            fclose(f);
            f = NULL;
            errno = EISDIR;
        }
        if (!f) {
            cliopt_fail(ctx, "--payload-file: cannot open %s: %s", file,
                        strerror(errno));
            return NULL;
        }
        v = json_loadf(f, JSON_DECODE_ANY, &err);
        if (f != stdin) fclose(f);
        if (!v) {
            cliopt_fail(ctx,
                        "--payload-file %s is not valid JSON: %s (line "
                        "%d, column %d)",
                        strcmp(file, "-") ? file : "(stdin)", err.text,
                        err.line, err.column);
            return NULL;
        }
    }
    if (!json_is_object(v)) {
        cliopt_fail(ctx, "%s must be a JSON object, like {\"to\": \"a@b.c\"}",
                    what);
        json_decref(v);
        return NULL;
    }
    return v;
}

/* Checks a name-like value (type, target, unique key) against the queue's
 * limit; prints why and returns false when it is unusable. */
static bool check_name(const cliopt_ctx *ctx, const char *what, const char *s)
{
    if (!*s) {
        cliopt_fail(ctx, "%s is empty", what);
        return false;
    }
    if (strlen(s) > QUEUE_MAX_NAME) {
        cliopt_fail(ctx, "%s is longer than %d bytes", what, QUEUE_MAX_NAME);
        return false;
    }
    return true;
}

typedef struct enqueue_args {
    const char *type, *to, *payload, *payload_file, *run_at, *unique_key;
    cliopt_num priority, delay, max_attempts, timeout, parent;
} enqueue_args;

/*
 * Builds the POST /v1/jobs body from checked arguments.  Returns a new
 * reference, or NULL after printing the problem (a usage error).
 */
static json_t *enqueue_body(const cliopt_ctx *ctx, const enqueue_args *a)
{
    if (!a->to) {
        cliopt_fail(ctx, "missing --to TARGET_AGENT (an agent type or id)");
        return NULL;
    }
    if (!check_name(ctx, "TYPE", a->type) || !check_name(ctx, "--to", a->to) ||
        (a->unique_key && !check_name(ctx, "--unique-key", a->unique_key)))
        return NULL;
    if (a->run_at && a->delay.set) {
        cliopt_fail(ctx, "give --run-at or --delay, not both");
        return NULL;
    }
    int64_t run_at = 0;
    if (a->run_at && !fs_time_parse(a->run_at, &run_at)) {
        cliopt_fail(ctx,
                    "--run-at: '%s' is not an RFC 3339 time "
                    "(like 2026-11-24T09:30:00Z)",
                    a->run_at);
        return NULL;
    }
    if (a->delay.set) run_at = fs_now(&fs_clock_real) + a->delay.v * 1000;
    json_t *payload = load_payload(ctx, a->payload, a->payload_file);
    if (!payload) return NULL;

    json_t *body = json_object();
    json_object_set_new(body, "type", json_string(a->type));
    json_object_set_new(body, "target_agent", json_string(a->to));
    json_object_set_new(body, "payload", payload);
    if (a->priority.set)
        json_object_set_new(body, "priority", json_integer(a->priority.v));
    if (a->run_at || a->delay.set) {
        char buf[32];
        fs_time_format(run_at, buf, sizeof buf);
        json_object_set_new(body, "run_at", json_string(buf));
    }
    if (a->max_attempts.set)
        json_object_set_new(body, "max_attempts",
                            json_integer(a->max_attempts.v));
    if (a->unique_key)
        json_object_set_new(body, "unique_key", json_string(a->unique_key));
    if (a->timeout.set)
        json_object_set_new(body, "timeout_ms",
                            json_integer(a->timeout.v * 1000));
    if (a->parent.set)
        json_object_set_new(body, "parent_id", json_integer(a->parent.v));
    return body;
}

/* enqueue's one line: the new job and its state, or the existing job a
 * unique key matched (HTTP 200 instead of 201). */
static void print_enqueued(const json_t *job, bool existed)
{
    json_int_t id = json_integer_value(json_object_get(job, "id"));
    const char *state = clifmt_str(job, "state");
    char age[CLIFMT_CELL];
    if (existed) {
        printf("job %" JSON_INTEGER_FORMAT " already exists with unique key "
               "'%s': %s\n",
               id, clifmt_str(job, "unique_key"), state);
        return;
    }
    printf("enqueued job %" JSON_INTEGER_FORMAT " (%s for %s): %s", id,
           clifmt_str(job, "type"), clifmt_str(job, "target_agent"), state);
    if (!strcmp(state, "scheduled"))
        printf(", runs at %s (%s)", clifmt_str(job, "run_at"),
               clifmt_age(json_object_get(job, "run_at"),
                          fs_now(&fs_clock_real), age, sizeof age));
    putchar('\n');
}

static int job_enqueue(const cliopt_ctx *ctx, int argc, char **argv)
{
    cliopt_common common = {0};
    enqueue_args a = {0};
    const cliopt opts[] = {
        {"to", CLIOPT_STR, &a.to},
        {"payload", CLIOPT_STR, &a.payload},
        {"payload-file", CLIOPT_STR, &a.payload_file},
        {"priority", CLIOPT_INT, &a.priority, -QUEUE_MAX_PRIORITY,
         QUEUE_MAX_PRIORITY},
        {"run-at", CLIOPT_STR, &a.run_at},
        {"delay", CLIOPT_INT, &a.delay, 0, MAX_DELAY_S},
        {"max-attempts", CLIOPT_INT, &a.max_attempts, 1, QUEUE_MAX_ATTEMPTS},
        {"unique-key", CLIOPT_STR, &a.unique_key},
        {"timeout", CLIOPT_INT, &a.timeout, 1, QUEUE_MAX_LEASE_MS / 1000},
        {"parent", CLIOPT_INT, &a.parent, 1, INT64_MAX},
        {NULL},
    };
    int code;
    if (!cliopt_parse(ctx, opts, argc, argv, &common, &a.type, &code))
        return code;
    json_t *body = enqueue_body(ctx, &a), *job = NULL;
    if (!body) return CLI_EXIT_USAGE;
    client *c;
    if (client_open(&c, &common.conn) != 0) {
        code = CLI_EXIT_USAGE;
        goto free_body;
    }
    client_resp r;
    if (client_request(c, "POST", "/v1/jobs", body, &r) != 0) {
        code = CLI_EXIT_UNREACHABLE;
        goto close_client;
    }
    code = client_report(&r);
    job = r.json;
    if (code == CLI_EXIT_OK && !json_is_object(job)) {
        fprintf(stderr, "flowstate: the server's answer is not a job\n");
        code = CLI_EXIT_UNREACHABLE;
    }
    if (code == CLI_EXIT_OK) {
        if (common.json)
            clifmt_json(stdout, job);
        else
            print_enqueued(job, r.status == 200);
    }
    client_resp_clear(&r);
close_client:
    client_close(c);
free_body:
    json_decref(body);
    return code;
}

/* SGR colours of job states in tables. */
static const char *state_colour(const char *state)
{
    static const struct {
        const char *state, *sgr;
    } colours[] = {
        {"pending", "33"},   {"scheduled", "34"}, {"running", "36"},
        {"completed", "32"}, {"failed", "31"},    {"cancelled", "2"},
    };
    for (size_t i = 0; i < sizeof colours / sizeof *colours; i++)
        if (!strcmp(state, colours[i].state)) return colours[i].sgr;
    return NULL;
}

enum {
    COL_ID,
    COL_STATE,
    COL_TYPE,
    COL_TARGET,
    COL_PRI,
    COL_TRIES,
    COL_RUN_AT,
    COL_UPDATED,
    COL_ERROR,
    NCOLS
};

static table *jobs_table(void)
{
    static const char *const headers[NCOLS] = {
        "ID",    "STATE",  "TYPE",    "TARGET",     "PRI",
        "TRIES", "RUN AT", "UPDATED", "LAST ERROR",
    };
    table *t = table_new(NCOLS, headers);
    table_set_align(t, COL_ID, TABLE_RIGHT);
    table_set_align(t, COL_PRI, TABLE_RIGHT);
    table_set_align(t, COL_TRIES, TABLE_RIGHT);
    table_set_colour(t, COL_STATE, state_colour);
    table_set_max(t, COL_TYPE, 32);
    table_set_max(t, COL_TARGET, 32);
    table_set_max(t, COL_ERROR, 48);
    return t;
}

static void jobs_table_add(table *t, const json_t *job, int64_t now)
{
    char *id = clifmt_value(json_object_get(job, "id"));
    char *pri = clifmt_value(json_object_get(job, "priority"));
    char tries[CLIFMT_CELL], run_at[CLIFMT_CELL], updated[CLIFMT_CELL];
    snprintf(tries, sizeof tries,
             "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(job, "attempts")),
             json_integer_value(json_object_get(job, "max_attempts")));
    clifmt_age(json_object_get(job, "run_at"), now, run_at, sizeof run_at);
    clifmt_age(json_object_get(job, "updated_at"), now, updated,
               sizeof updated);
    const char *err = json_string_value(json_object_get(job, "last_error"));
    const char *row[NCOLS] = {
        id,
        clifmt_str(job, "state"),
        clifmt_str(job, "type"),
        clifmt_str(job, "target_agent"),
        pri,
        tries,
        run_at,
        updated,
        err ? err : "",
    };
    table_add(t, row);
    free(id);
    free(pri);
}

typedef struct list_args {
    const char *state, *type, *target, *cursor;
    cliopt_num limit;
    bool all;
} list_args;

static char *list_path(const list_args *a)
{
    char *path = xstrdup("/v1/jobs");
    char limit[24];
    snprintf(limit, sizeof limit, "%" PRId64, a->limit.v);
    client_query_add(&path, "state", a->state);
    client_query_add(&path, "type", a->type);
    client_query_add(&path, "target_agent", a->target);
    client_query_add(&path, "limit", a->limit.set ? limit : NULL);
    return path;
}

/* One page, or with a->all every page from a->cursor on (client_list). */
static int fetch_jobs(client *c, const list_args *a, json_t **doc)
{
    char *base = list_path(a);
    int code = client_list(c, base, "jobs", a->cursor, a->all, doc);
    free(base);
    return code;
}

static void print_jobs(const json_t *doc)
{
    json_t *jobs = json_object_get(doc, "jobs");
    const char *next = json_string_value(json_object_get(doc, "next_cursor"));
    if (json_array_size(jobs) == 0) {
        printf("no jobs\n");
    } else {
        table *t = jobs_table();
        int64_t now = fs_now(&fs_clock_real);
        size_t i;
        json_t *job;
        json_array_foreach(jobs, i, job) jobs_table_add(t, job, now);
        table_print(t, stdout, table_style_for(stdout));
        table_free(t);
    }
    if (next) printf("more jobs: add --cursor %s (or --all)\n", next);
}

static int job_list(const cliopt_ctx *ctx, int argc, char **argv)
{
    cliopt_common common = {0};
    list_args a = {0};
    const cliopt opts[] = {
        {"state", CLIOPT_STR, &a.state},
        {"type", CLIOPT_STR, &a.type},
        {"target", CLIOPT_STR, &a.target},
        {"limit", CLIOPT_INT, &a.limit, 1, MAX_PAGE},
        {"cursor", CLIOPT_STR, &a.cursor},
        {"all", CLIOPT_FLAG, &a.all},
        {NULL},
    };
    int code;
    job_state st;
    if (!cliopt_parse(ctx, opts, argc, argv, &common, NULL, &code)) return code;
    if (a.state && !job_state_parse(a.state, &st))
        return cliopt_fail(ctx,
                           "--state: '%s' is not one of pending, "
                           "scheduled, running, completed, failed, "
                           "cancelled",
                           a.state);
    client *c;
    if (client_open(&c, &common.conn) != 0) return CLI_EXIT_USAGE;
    json_t *doc;
    code = fetch_jobs(c, &a, &doc);
    if (code == CLI_EXIT_OK) {
        if (common.json)
            clifmt_json(stdout, doc);
        else
            print_jobs(doc);
        json_decref(doc);
    }
    client_close(c);
    return code;
}

/* The scalar fields `job show` lists, in order; times get an age. */
static const struct {
    const char *key;
    bool time;
} show_fields[] = {
    {"id"},
    {"type"},
    {"target_agent"},
    {"state"},
    {"priority"},
    {"attempts"},
    {"max_attempts"},
    {"timeout_ms"},
    {"unique_key"},
    {"parent_id"},
    {"run_at", true},
    {"created_at", true},
    {"updated_at", true},
    {"started_at", true},
    {"finished_at", true},
    {"lease_owner"},
    {"lease_expires_at", true},
};

/* Prints a job in human form: fields, then last_error, payload and result
 * as indented blocks. */
static void print_job(const json_t *job)
{
    table *t = table_new(2, NULL);
    int64_t now = fs_now(&fs_clock_real);
    for (size_t i = 0; i < sizeof show_fields / sizeof *show_fields; i++) {
        json_t *v = json_object_get(job, show_fields[i].key);
        char *val = clifmt_value(v), age[CLIFMT_CELL];
        if (show_fields[i].time && json_is_string(v)) {
            char *with_age =
                xasprintf("%s (%s)", val, clifmt_age(v, now, age, sizeof age));
            free(val);
            val = with_age;
        }
        table_add(t, (const char *[]){show_fields[i].key, val});
        free(val);
    }
    table_print(t, stdout, (table_style){0});
    table_free(t);
    const char *err = json_string_value(json_object_get(job, "last_error"));
    if (err) {
        printf("last_error:\n");
        clifmt_text_block(stdout, err, 2);
    }
    printf("payload:\n");
    clifmt_json_block(stdout, json_object_get(job, "payload"), 2);
    json_t *result = json_object_get(job, "result");
    if (result && !json_is_null(result)) {
        printf("result:\n");
        clifmt_json_block(stdout, result, 2);
    }
}

static int job_show(const cliopt_ctx *ctx, int argc, char **argv)
{
    cliopt_common common = {0};
    const char *arg;
    int64_t id;
    int code;
    if (!cliopt_parse(ctx, NULL, argc, argv, &common, &arg, &code)) return code;
    if (!parse_id(ctx, arg, &id)) return CLI_EXIT_USAGE;
    client *c;
    if (client_open(&c, &common.conn) != 0) return CLI_EXIT_USAGE;
    char *path = xasprintf("/v1/jobs/%" PRId64, id);
    json_t *job;
    code = client_call(c, "GET", path, NULL, &job);
    if (code == CLI_EXIT_OK) {
        if (common.json)
            clifmt_json(stdout, job);
        else
            print_job(job);
        json_decref(job);
    }
    free(path);
    client_close(c);
    return code;
}

/*
 * cancel and retry: POST /v1/jobs/ID/<action>, then "job ID: <state>" (or
 * the job as JSON).
 */
static int job_action(const cliopt_ctx *ctx, int argc, char **argv,
                      const char *action, const char *done)
{
    cliopt_common common = {0};
    const char *arg;
    int64_t id;
    int code;
    if (!cliopt_parse(ctx, NULL, argc, argv, &common, &arg, &code)) return code;
    if (!parse_id(ctx, arg, &id)) return CLI_EXIT_USAGE;
    client *c;
    if (client_open(&c, &common.conn) != 0) return CLI_EXIT_USAGE;
    char *path = xasprintf("/v1/jobs/%" PRId64 "/%s", id, action);
    json_t *job;
    code = client_call(c, "POST", path, NULL, &job);
    if (code == CLI_EXIT_OK) {
        if (common.json)
            clifmt_json(stdout, job);
        else
            printf("%s job %" PRId64 ": %s\n", done, id,
                   clifmt_str(job, "state"));
        json_decref(job);
    }
    free(path);
    client_close(c);
    return code;
}

static int job_cancel(const cliopt_ctx *ctx, int argc, char **argv)
{
    return job_action(ctx, argc, argv, "cancel", "cancelled");
}

static int job_retry(const cliopt_ctx *ctx, int argc, char **argv)
{
    return job_action(ctx, argc, argv, "retry", "re-queued");
}

static const cliopt_cmd job_cmds[] = {
    {"enqueue", job_enqueue, "TYPE --to TARGET_AGENT [options]",
     "Enqueue one job of TYPE for TARGET_AGENT (an agent type, or one\n"
     "agent's id).  Prints the new job's id and state.\n"
     "\n"
     "options:\n"
     "  --to TARGET_AGENT     who may run it (required)\n"
     "  --payload JSON        the job's input, a JSON object (default {})\n"
     "  --payload-file F      read the payload from file F, or - for stdin\n"
     "  --priority N          higher runs first (default 0)\n"
     "  --run-at TIME         run no earlier than TIME (RFC 3339)\n"
     "  --delay SECONDS       run no earlier than SECONDS from now\n"
     "  --max-attempts N      give up after N attempts (default 25)\n"
     "  --unique-key K        if a job with key K exists, return it instead\n"
     "  --timeout SECONDS     lease length for each attempt (default 30)\n"
     "  --parent ID           the parent job (workflows)\n",
     "TYPE"},
    {"list", job_list, "[--state S] [--type T] [--target A] [options]",
     "List jobs, newest first, one page at a time.\n"
     "\n"
     "options:\n"
     "  --state S       pending, scheduled, running, completed, failed or\n"
     "                  cancelled\n"
     "  --type T        only jobs of type T\n"
     "  --target A      only jobs for target agent A\n"
     "  --limit N       jobs per page (1-1000; the server's default "
     "otherwise)\n"
     "  --cursor C      start at the page C from an earlier list\n"
     "  --all           follow the cursors to the last page\n",
     NULL},
    {"show", job_show, "ID [--json]",
     "Show one job: its fields, last error, payload and result.\n", "ID"},
    {"cancel", job_cancel, "ID",
     "Cancel a pending, scheduled or running job.\n", "ID"},
    {"retry", job_retry, "ID",
     "Re-queue a failed or cancelled job with its attempts reset.\n", "ID"},
};

int cli_job_main(int argc, char **argv)
{
    return cliopt_dispatch("job",
                           "Enqueue, list, show, cancel and retry "
                           "jobs on a flowstate server.",
                           job_cmds, sizeof job_cmds / sizeof *job_cmds, argc,
                           argv);
}
