/*
 * cli_evolution.c - `flowstate evolution list|show|settings|approve|reject|
 * rollback` (see cli.h): the evolution log of a server (/v1/evolution).
 *
 * Design: the steps of cli_job.c.  Arguments are checked before a request
 * (an id is a positive number, a status or type one the log knows), then
 * one request (list pages with client_list), then the answer: the server's
 * JSON with --json, else a table, a summary with its history, or a line.
 * approve, reject and rollback print the entry's new status, and exit 1
 * (with the server's message) when the log refuses the step.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/clifmt.h"
#include "cli/cliopt.h"
#include "cli/table.h"
#include "core/clock.h"
#include "core/xmem.h"
#include "evolution/evolution.h"

#define MAX_PAGE 1000

/* "from -> to" of an entry's change, or "" for a record (caller frees). */
static char *change_text(const json_t *e)
{
    json_t *ch = json_object_get(e, "change");
    if (!ch) return xstrdup("");
    char *from = clifmt_value(json_object_get(ch, "from"));
    char *to = clifmt_value(json_object_get(ch, "to"));
    char *s = xasprintf("%s -> %s", from, to);
    free(from);
    free(to);
    return s;
}

/* ---- list ---------------------------------------------------------------- */

typedef struct list_args {
    const char *status, *type, *component, *cursor;
    cliopt_num limit;
    bool all;
} list_args;

static void print_list(const json_t *doc)
{
    json_t *events = json_object_get(doc, "events");
    const char *next = json_string_value(json_object_get(doc, "next_cursor"));
    if (json_array_size(events) == 0) {
        printf("no evolution entries\n");
        return;
    }
    table *t = table_new(7, (const char *[]){ "ID", "STATUS", "TYPE", "COMPONENT",
                                              "CHANGE", "BY", "UPDATED" });
    table_set_align(t, 0, TABLE_RIGHT);
    table_set_max(t, 3, 32);
    table_set_max(t, 4, 40);
    int64_t now = fs_now(&fs_clock_real);
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e) {
        char *id = clifmt_value(json_object_get(e, "id")), *ch = change_text(e);
        char age[CLIFMT_CELL];
        clifmt_age(json_object_get(e, "updated_at"), now, age, sizeof age);
        table_add(t, (const char *[]){ id, clifmt_str(e, "status"), clifmt_str(e, "type"),
                                       clifmt_str(e, "component"), ch,
                                       clifmt_str(e, "proposed_by"), age });
        free(id);
        free(ch);
    }
    table_print(t, stdout, table_style_for(stdout));
    table_free(t);
    if (next) printf("more entries: add --cursor %s (or --all)\n", next);
}

static int evo_list(const cliopt_ctx *ctx, int argc, char **argv)
{
    cliopt_common common = { 0 };
    list_args a = { 0 };
    const cliopt opts[] = {
        { "status", CLIOPT_STR, &a.status },
        { "type", CLIOPT_STR, &a.type },
        { "component", CLIOPT_STR, &a.component },
        { "limit", CLIOPT_INT, &a.limit, 1, MAX_PAGE },
        { "cursor", CLIOPT_STR, &a.cursor },
        { "all", CLIOPT_FLAG, &a.all },
        { NULL },
    };
    int code;
    if (!cliopt_parse(ctx, opts, argc, argv, &common, NULL, &code)) return code;
    if (a.status && !evolution_status_ok(a.status))
        return cliopt_fail(ctx, "--status: '%s' is not one of proposed, validated, "
                           "applied, rolled_back, rejected", a.status);
    if (a.type && !evolution_type_ok(a.type))
        return cliopt_fail(ctx, "--type: '%s' is not one of parameter_tuning, "
                           "knowledge_acquisition, anomaly_response, "
                           "workflow_change", a.type);
    char *path = xstrdup("/v1/evolution"), limit[24];
    snprintf(limit, sizeof limit, "%" PRId64, a.limit.v);
    client_query_add(&path, "status", a.status);
    client_query_add(&path, "type", a.type);
    client_query_add(&path, "component", a.component);
    client_query_add(&path, "limit", a.limit.set ? limit : NULL);
    client *c;
    json_t *doc = NULL;
    code = CLI_EXIT_USAGE;
    if (client_open(&c, &common.conn) == 0) {
        code = client_list(c, path, "events", a.cursor, a.all, &doc);
        client_close(c);
    }
    free(path);
    if (code != CLI_EXIT_OK) return code;
    if (common.json) clifmt_json(stdout, doc);
    else print_list(doc);
    json_decref(doc);
    return CLI_EXIT_OK;
}

/* ---- show ---------------------------------------------------------------- */

static bool parse_id(const cliopt_ctx *ctx, const char *arg, int64_t *id)
{
    if (cliopt_int(arg, 1, INT64_MAX, id)) return true;
    cliopt_fail(ctx, "ID '%s' must be a positive whole number", arg);
    return false;
}

static void print_sample(const char *label, const json_t *s)
{
    if (!s) return;
    if (json_object_get(s, "trials"))
        printf("%-16s %.0f of %.0f (%.1f%%)\n", label,
               json_number_value(json_object_get(s, "successes")),
               json_number_value(json_object_get(s, "trials")),
               100.0 * json_number_value(json_object_get(s, "mean")));
    else
        printf("%-16s mean %g over %g (variance %g)\n", label,
               json_number_value(json_object_get(s, "mean")),
               json_number_value(json_object_get(s, "n")),
               json_number_value(json_object_get(s, "var")));
}

static double num(const json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

/* The verdict and the numbers behind it, in a line. */
static void print_validation(const json_t *v)
{
    const char *rule = json_string_value(json_object_get(v, "rule"));
    if (!v) return;
    printf("%-16s %s", "validation", clifmt_str(v, "verdict"));
    if (rule && !strcmp(rule, "min"))
        printf(": %.4g against the required %.4g\n", num(v, "value"), num(v, "min"));
    else if (rule)
        printf(": lift %+.4g, its %g%% bounds %.4g..%.4g, margin %.4g\n", num(v, "lift"),
               100 * num(v, "confidence"), num(v, "lo"), num(v, "hi"), num(v, "margin"));
    else
        printf(": %s\n", clifmt_str(v, "reason"));
}

static void print_entry(const json_t *e)
{
    char *ch = change_text(e), *id = clifmt_value(json_object_get(e, "id"));
    printf("entry %s: %s\n", id, clifmt_str(e, "status"));
    free(id);
    printf("%-16s %s\n", "type", clifmt_str(e, "type"));
    printf("%-16s %s\n", "component", clifmt_str(e, "component"));
    if (*ch) printf("%-16s %s\n", "change", ch);
    printf("%-16s %s\n", "proposed by", clifmt_str(e, "proposed_by"));
    print_sample("before", json_object_get(e, "metrics_before"));
    print_sample("after", json_object_get(e, "metrics_after"));
    print_validation(json_object_get(e, "validation"));
    json_t *m = json_object_get(e, "monitor"), *o = json_object_get(e, "observed");
    if (m)
        printf("%-16s %s after %.0f outcomes (mean %.4g; rolls back near %.4g)\n",
               "monitor", clifmt_str(m, "verdict"), num(o, "n"),
               num(o, "n") > 0 ? num(o, "sum") / num(o, "n") : 0.0, num(m, "regressed"));
    if (json_object_get(e, "reason")) printf("%-16s %s\n", "reason", clifmt_str(e, "reason"));
    printf("\n");
    clifmt_text_block(stdout, clifmt_str(e, "description"), 2);
    printf("\nhistory:\n");
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(e, "history"), i, h) {
        const char *note = json_string_value(json_object_get(h, "note"));
        printf("  %s  %-11s by %s%s%s\n", clifmt_str(h, "at"), clifmt_str(h, "status"),
               clifmt_str(h, "by"), note ? ": " : "", note ? note : "");
    }
    free(ch);
}

/* GET or POST path with body (NULL: GET), then the entry: JSON or the
 * printout, or (line) "<line> entry ID: <status>". */
static int entry_call(const cliopt_common *common, const char *method,
                      const char *path, json_t *body, const char *line)
{
    client *c;
    if (client_open(&c, &common->conn) != 0) {
        json_decref(body);
        return CLI_EXIT_USAGE;
    }
    client_resp r;
    int code = CLI_EXIT_UNREACHABLE;
    if (client_request(c, method, path, body, &r) == 0) {
        code = client_report(&r);
        if (code == CLI_EXIT_OK && common->json) clifmt_json(stdout, r.json);
        else if (code == CLI_EXIT_OK && line)
            printf("%s entry %" PRId64 ": %s\n", line,
                   (int64_t)json_integer_value(json_object_get(r.json, "id")),
                   clifmt_str(r.json, "status"));
        else if (code == CLI_EXIT_OK) print_entry(r.json);
        client_resp_clear(&r);
    }
    json_decref(body);
    client_close(c);
    return code;
}

static int evo_show(const cliopt_ctx *ctx, int argc, char **argv)
{
    cliopt_common common = { 0 };
    const char *arg;
    int64_t id;
    int code;
    if (!cliopt_parse(ctx, NULL, argc, argv, &common, &arg, &code)) return code;
    if (!parse_id(ctx, arg, &id)) return CLI_EXIT_USAGE;
    char path[64];
    snprintf(path, sizeof path, "/v1/evolution/%" PRId64, id);
    return entry_call(&common, "GET", path, NULL, NULL);
}

/* ---- settings ------------------------------------------------------------ */

static int print_settings(const json_t *doc, void *arg)
{
    (void)arg;
    json_t *all = json_object_get(doc, "settings");
    if (json_object_size(all) == 0) {
        printf("no settings changed: every component has its default\n");
        return CLI_EXIT_OK;
    }
    table *t = table_new(4, (const char *[]){ "COMPONENT", "VALUE", "ENTRY", "APPLIED" });
    int64_t now = fs_now(&fs_clock_real);
    const char *k;
    json_t *v;
    json_object_foreach(all, k, v) {
        char *val = clifmt_value(json_object_get(v, "value"));
        char *id = clifmt_value(json_object_get(v, "event"));
        char age[CLIFMT_CELL];
        clifmt_age(json_object_get(v, "applied_at"), now, age, sizeof age);
        table_add(t, (const char *[]){ k, val, id, age });
        free(val);
        free(id);
    }
    table_print(t, stdout, table_style_for(stdout));
    table_free(t);
    return CLI_EXIT_OK;
}

static int evo_settings(const cliopt_ctx *ctx, int argc, char **argv)
{
    return cliopt_show(ctx, argc, argv, "/v1/evolution/settings", print_settings, NULL);
}

/* ---- approve, reject, rollback ------------------------------------------- */

static int evo_step(const cliopt_ctx *ctx, int argc, char **argv, const char *step,
                    const char *done)
{
    cliopt_common common = { 0 };
    const char *arg, *note = NULL;
    const cliopt opts[] = { { "note", CLIOPT_STR, &note }, { NULL } };
    int64_t id;
    int code;
    if (!cliopt_parse(ctx, opts, argc, argv, &common, &arg, &code)) return code;
    if (!parse_id(ctx, arg, &id)) return CLI_EXIT_USAGE;
    if (note && strlen(note) > EVOLUTION_MAX_TEXT)
        return cliopt_fail(ctx, "--note is longer than %d bytes", EVOLUTION_MAX_TEXT);
    char path[96];
    snprintf(path, sizeof path, "/v1/evolution/%" PRId64 "/%s", id, step);
    json_t *body = note ? json_pack("{s:s}", "note", note) : json_object();
    return entry_call(&common, "POST", path, body, done);
}

static int evo_approve(const cliopt_ctx *ctx, int argc, char **argv)
{
    return evo_step(ctx, argc, argv, "approve", "approved");
}

static int evo_reject(const cliopt_ctx *ctx, int argc, char **argv)
{
    return evo_step(ctx, argc, argv, "reject", "rejected");
}

static int evo_rollback(const cliopt_ctx *ctx, int argc, char **argv)
{
    return evo_step(ctx, argc, argv, "rollback", "rolled back");
}

static const cliopt_cmd evolution_cmds[] = {
    { "list", evo_list,
      "[--status S] [--type T] [--component C] [--limit N] [--cursor C] [--all]",
      "List the log's entries, newest first: what each changes, who proposed\n"
      "it and where it stands (proposed, validated, applied, rolled_back,\n"
      "rejected).\n"
      "\n"
      "options:\n"
      "  --status S        only entries in status S\n"
      "  --type T          only parameter_tuning, knowledge_acquisition,\n"
      "                    anomaly_response or workflow_change\n"
      "  --component C     only changes of C (e.g. memory.ef_search)\n"
      "  --limit N         entries per page (server default 50)\n"
      "  --cursor C        start after a page (from \"more entries\")\n"
      "  --all             every page\n",
      NULL },
    { "show", evo_show, "ID",
      "Show one entry: its change, the metrics before and after, the\n"
      "validation verdict, the monitor watching it and its history.\n",
      "ID" },
    { "settings", evo_settings, "",
      "Show each component's value as the log has set it (the latest applied\n"
      "change); components not listed have their defaults.\n",
      NULL },
    { "approve", evo_approve, "ID [--note TEXT]",
      "Apply a proposed or validated change (admin key).  Refused when the\n"
      "component has moved since it was proposed.\n",
      "ID" },
    { "reject", evo_reject, "ID [--note TEXT]",
      "Reject a proposed or validated change (admin key).\n", "ID" },
    { "rollback", evo_rollback, "ID [--note TEXT]",
      "Roll back an applied change (admin key): the component gets the value\n"
      "it had before.  Only a component's latest change can be rolled back.\n",
      "ID" },
};

int cli_evolution_main(int argc, char **argv)
{
    return cliopt_dispatch("evolution",
                           "The evolution log: changes the system proposes to itself, "
                           "and your say over them.",
                           evolution_cmds, sizeof evolution_cmds / sizeof *evolution_cmds,
                           argc, argv);
}
