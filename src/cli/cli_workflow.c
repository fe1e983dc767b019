/*
 * cli_workflow.c - `flowstate workflow validate|register|list|show|run|
 * status|runs|cancel|retry|graph` (see cli.h): workflow definitions and
 * their runs.
 *
 * Usage:
 *   flowstate workflow validate nightly.json            # local, no server
 *   flowstate workflow validate nightly.json --server   # agent types too
 *   flowstate workflow register nightly.json
 *   flowstate workflow list
 *   flowstate workflow show nightly-scoring --version 2
 *   flowstate workflow graph nightly.json --dot | dot -Tsvg > nightly.svg
 *   flowstate workflow graph nightly-scoring            # the registered one
 *   flowstate workflow run nightly-scoring --input segment=smb \
 *       --input limit=100 --wait --timeout 600
 *   flowstate workflow run nightly-scoring --inputs @inputs.json --watch
 *   flowstate workflow status 42 --events
 *   flowstate workflow status 42 --watch
 *   flowstate workflow runs --workflow nightly-scoring --state failed
 *   flowstate workflow cancel 42
 *   flowstate workflow retry 42 --wait
 *
 * Exit codes are cli.h's; in addition `validate` exits 1 when the
 * definition has errors, and following a run (--wait, --watch) exits 0
 * when it completed, 1 when it failed or was cancelled, and 3 when the
 * server went away or --timeout ran out (the run goes on either way).
 *
 * Design: the three steps of cli_job.c (check input locally, open a
 * client, request and print).  A definition FILE ("-" for stdin) is read
 * and parsed here, so bad JSON costs no round trip and exits 2 with the
 * line and column.  `validate` and `graph FILE` need no server at all:
 * they run wfdef_parse() in-process (without the registered agent types,
 * so unknown_agent warnings are left to `validate --server`).  Problems
 * print one per line, "error    step 'b'  cycle: a -> b -> a", the same
 * for a local check, the server's validation and a refused `register`.
 *
 * Following a run polls GET /v1/runs/{id}: at once, then after 100 ms,
 * doubling up to 1 s, and back to 100 ms whenever the run changed
 * ($FLOWSTATE_POLL_MS sets one fixed interval, for tests).  The live view
 * (runview.h) is on with --watch, or with --wait when stdout is a
 * terminal: redrawn in place on a terminal, changed lines only otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/clidoc.h"
#include "cli/client.h"
#include "cli/clifmt.h"
#include "cli/cliopt.h"
#include "cli/runview.h"
#include "cli/table.h"
#include "core/clock.h"
#include "core/model.h"
#include "core/xmem.h"
#include "workflow/wfdef.h"

#define POLL_MIN_MS 100
#define POLL_MAX_MS 1000
#define MAX_PAGE 1000
#define EVENTS_PAGE 1000
#define MAX_WAIT_S (30LL * 24 * 3600) /* the longest a workflow may run */

/* ---- definitions: reading and problems ---------------------------------- */

/* "nightly.json", or "(stdin)" for "-". */
static const char *source_name(const char *path)
{
    return strcmp(path, "-") ? path : "(stdin)";
}

/*
 * Reads the JSON document in path ("-": stdin).  Returns a new reference,
 * or NULL after printing why (a missing or unreadable file, bad JSON with
 * line and column): a usage error.
 */
static json_t *load_json(const cliopt_ctx *ctx, const char *path)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    struct stat st;
    if (f && f != stdin && fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        f = NULL;
        errno = EISDIR;
    }
    if (!f) {
        cliopt_fail(ctx, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    json_error_t err;
    json_t *v = json_loadf(f, JSON_DECODE_ANY, &err);
    if (f != stdin) fclose(f);
    if (!v)
        cliopt_fail(ctx, "%s is not valid JSON: %s (line %d, column %d)",
                    source_name(path), err.text, err.line, err.column);
    return v;
}

/* Reads a definition: a JSON object.  NULL after printing why. */
static json_t *load_definition(const cliopt_ctx *ctx, const char *path)
{
    json_t *v = load_json(ctx, path);
    if (v && !json_is_object(v)) {
        cliopt_fail(ctx,
                    "%s is not a workflow definition (a JSON object with "
                    "\"name\" and \"steps\")",
                    source_name(path));
        json_decref(v);
        return NULL;
    }
    return v;
}

static bool is_warning(const json_t *p)
{
    const char *sev = json_string_value(json_object_get(p, "severity"));
    return sev && !strcmp(sev, "warning");
}

/*
 * Prints each problem on one line: severity, the step (unless the message
 * already names it) and the message.  OUT: *errors, *warnings, counted.
 */
static void print_problems(FILE *out, const json_t *problems, size_t *errors,
                           size_t *warnings)
{
    size_t i;
    json_t *p;
    *errors = *warnings = 0;
    json_array_foreach(problems, i, p)
    {
        const char *step = json_string_value(json_object_get(p, "step"));
        const char *msg = clifmt_str(p, "message");
        char named[WFDEF_MAX_ID + 8] = "";
        if (step) snprintf(named, sizeof named, "'%s'", step);
        bool warning = is_warning(p);
        fprintf(out, "%-7s  ", warning ? "warning" : "error");
        if (step && !strstr(msg, named)) fprintf(out, "step %s  ", named);
        fprintf(out, "%s\n", msg);
        ++*(warning ? warnings : errors);
    }
}

/* "2 errors, 1 warning". */
static void counts_text(size_t errors, size_t warnings, char *buf, size_t len)
{
    snprintf(buf, len, "%zu error%s, %zu warning%s", errors,
             errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s");
}

/* validate's last line: "nightly.json: valid: workflow nightly version 1,
 * 5 steps, 1 warning" or "nightly.json: not valid: 2 errors, 0 warnings". */
static void print_verdict(const char *path, const json_t *doc, size_t errors,
                          size_t warnings)
{
    char counts[64];
    counts_text(errors, warnings, counts, sizeof counts);
    if (errors) {
        printf("%s: not valid: %s\n", source_name(path), counts);
        return;
    }
    json_t *v = json_object_get(doc, "version");
    size_t steps = json_array_size(json_object_get(doc, "steps"));
    printf("%s: valid: workflow %s version %" JSON_INTEGER_FORMAT
           ", %zu step%s",
           source_name(path), clifmt_str(doc, "name"),
           json_is_integer(v) ? json_integer_value(v) : 1, steps,
           steps == 1 ? "" : "s");
    if (warnings) printf(", %zu warning%s", warnings, warnings == 1 ? "" : "s");
    putchar('\n');
}

/* The problems of a local check: wfdef_parse() without agent types
 * (every agent would draw an unknown_agent warning, which says nothing
 * here).  A new array. */
static json_t *local_problems(const json_t *doc)
{
    wfdef *def;
    json_t *all, *kept = json_array();
    wfdef_parse(doc, NULL, &def, &all);
    wfdef_free(def);
    size_t i;
    json_t *p;
    json_array_foreach(all, i, p)
    {
        const char *code = json_string_value(json_object_get(p, "code"));
        if (!code || strcmp(code, "unknown_agent")) json_array_append(kept, p);
    }
    json_decref(all);
    return kept;
}

/* ---- validate ------------------------------------------------------------ */

/* Asks the server; OUT: *problems (new).  Returns the exit code. */
static int server_problems(const cliopt_common *common, const json_t *doc,
                           json_t **problems)
{
    client *c;
    json_t *answer;
    *problems = NULL;
    if (client_open(&c, &common->conn) != 0) return CLI_EXIT_USAGE;
    int code = client_call(c, "POST", "/v1/workflows/validate", doc, &answer);
    client_close(c);
    if (code != CLI_EXIT_OK) return code;
    json_t *p = json_object_get(answer, "problems");
    if (!json_is_array(p)) {
        fprintf(stderr, "flowstate: the server's answer has no problems "
                        "list\n");
        json_decref(answer);
        return CLI_EXIT_UNREACHABLE;
    }
    *problems = json_incref(p);
    json_decref(answer);
    return CLI_EXIT_OK;
}

static int wf_validate(const cliopt_ctx *ctx, int argc, char **argv)
{
    cliopt_common common = {0};
    const char *path;
    bool server = false;
    const cliopt opts[] = {
        {"server", CLIOPT_FLAG, &server},
        {NULL},
    };
    int code;
    if (!cliopt_parse(ctx, opts, argc, argv, &common, &path, &code))
        return code;
    json_t *doc = load_definition(ctx, path), *problems;
    if (!doc) return CLI_EXIT_USAGE;
    if (server) {
        code = server_problems(&common, doc, &problems);
        if (code != CLI_EXIT_OK) goto free_doc;
    } else {
        problems = local_problems(doc);
    }
    size_t errors = 0, warnings = 0;
    if (common.json) {
        json_t *p;
        size_t i;
        json_array_foreach(problems, i, p) errors += !is_warning(p);
        json_t *j =
            json_pack("{s:b,s:O}", "valid", errors == 0, "problems", problems);
        clifmt_json(stdout, j);
        json_decref(j);
    } else {
        print_problems(stdout, problems, &errors, &warnings);
        print_verdict(path, doc, errors, warnings);
    }
    code = errors ? CLI_EXIT_REJECTED : CLI_EXIT_OK;
    json_decref(problems);
free_doc:
    json_decref(doc);
    return code;
}

/* ---- register ------------------------------------------------------------ */

/* A 400 invalid_workflow answer: its problems printed to stderr.  true
 * when r was one. */
static bool report_invalid(const cliopt_ctx *ctx, const client_resp *r,
                           const char *path)
{
    json_t *err = json_object_get(r->json, "error");
    json_t *problems = json_object_get(err, "problems");
    const char *code = json_string_value(json_object_get(err, "code"));
    if (r->status != 400 || !code || strcmp(code, "invalid_workflow") ||
        !json_is_array(problems))
        return false;
    size_t errors, warnings;
    char counts[64];
    print_problems(stderr, problems, &errors, &warnings);
    counts_text(errors, warnings, counts, sizeof counts);
    cliopt_fail(ctx, "%s was refused: %s", source_name(path), counts);
    return true;
}

static void print_registered(const json_t *w)
{
    size_t errors, warnings;
    printf("registered %s version %" JSON_INTEGER_FORMAT "\n",
           clifmt_str(w, "name"),
           json_integer_value(json_object_get(w, "version")));
    print_problems(stderr, json_object_get(w, "warnings"), &errors, &warnings);
}

static int wf_register(const cliopt_ctx *ctx, int argc, char **argv)
{
    cliopt_common common = {0};
    const char *path;
    int code;
    if (!cliopt_parse(ctx, NULL, argc, argv, &common, &path, &code))
        return code;
    json_t *doc = load_definition(ctx, path);
    if (!doc) return CLI_EXIT_USAGE;
    client *c;
    client_resp r;
    if (client_open(&c, &common.conn) != 0) {
        code = CLI_EXIT_USAGE;
        goto free_doc;
    }
    if (client_request(c, "POST", "/v1/workflows", doc, &r) != 0) {
        code = CLI_EXIT_UNREACHABLE;
        goto close_client;
    }
    if (report_invalid(ctx, &r, path))
        code = CLI_EXIT_REJECTED;
    else
        code = client_report(&r);
    if (code == CLI_EXIT_OK && !json_is_object(r.json)) {
        fprintf(stderr, "flowstate: the server's answer is not a workflow\n");
        code = CLI_EXIT_UNREACHABLE;
    }
    if (code == CLI_EXIT_OK) {
        if (common.json)
            clifmt_json(stdout, r.json);
        else
            print_registered(r.json);
    }
    client_resp_clear(&r);
close_client:
    client_close(c);
free_doc:
    json_decref(doc);
    return code;
}

/* ---- list and show ------------------------------------------------------- */

static int wf_list(const cliopt_ctx *ctx, int argc, char **argv)
{
    cliopt_common common = {0};
    int code;
    if (!cliopt_parse(ctx, NULL, argc, argv, &common, NULL, &code)) return code;
    client *c;
    json_t *doc;
    if (client_open(&c, &common.conn) != 0) return CLI_EXIT_USAGE;
    code = client_call(c, "GET", "/v1/workflows", NULL, &doc);
    client_close(c);
    if (code != CLI_EXIT_OK) return code;
    json_t *list = json_object_get(doc, "workflows");
    if (common.json) {
        clifmt_json(stdout, doc);
    } else if (json_array_size(list) == 0) {
        printf("no workflows\n");
    } else {
        table *t = table_new(
            4, (const char *[]){"NAME", "VERSION", "CREATED", "DESCRIPTION"});
        table_set_align(t, 1, TABLE_RIGHT);
        table_set_max(t, 3, 60);
        int64_t now = fs_now(&fs_clock_real);
        size_t i;
        json_t *w;
        json_array_foreach(list, i, w)
        {
            char *version = clifmt_value(json_object_get(w, "version"));
            char age[CLIFMT_CELL];
            clifmt_age(json_object_get(w, "created_at"), now, age, sizeof age);
            const char *desc =
                json_string_value(json_object_get(w, "description"));
            table_add(t, (const char *[]){clifmt_str(w, "name"), version, age,
                                          desc ? desc : ""});
            free(version);
        }
        table_print(t, stdout, table_style_for(stdout));
        table_free(t);
    }
    json_decref(doc);
    return CLI_EXIT_OK;
}

/* GET /v1/workflows/NAME[?version=N] into OUT: *w.  Returns the exit
 * code. */
static int fetch_workflow(client *c, const char *name,
                          const cliopt_num *version, json_t **w)
{
    char *esc = client_escape(name), v[24];
    char *path = xasprintf("/v1/workflows/%s", esc);
    snprintf(v, sizeof v, "%" PRId64, version->v);
    client_query_add(&path, "version", version->set ? v : NULL);
    int code = client_call(c, "GET", path, NULL, w);
    free(path);
    free(esc);
    return code;
}

static int wf_show(const cliopt_ctx *ctx, int argc, char **argv)
{
    cliopt_common common = {0};
    cliopt_num version = {0};
    const char *name;
    const cliopt opts[] = {
        {"version", CLIOPT_INT, &version, 1, INT32_MAX},
        {NULL},
    };
    int code;
    if (!cliopt_parse(ctx, opts, argc, argv, &common, &name, &code))
        return code;
    client *c;
    json_t *w;
    if (client_open(&c, &common.conn) != 0) return CLI_EXIT_USAGE;
    code = fetch_workflow(c, name, &version, &w);
    client_close(c);
    if (code != CLI_EXIT_OK) return code;
    if (common.json) {
        clifmt_json(stdout, w);
    } else {
        int64_t now = fs_now(&fs_clock_real);
        char age[CLIFMT_CELL];
        char *ver = clifmt_value(json_object_get(w, "version"));
        char *desc = clifmt_value(json_object_get(w, "description"));
        char *created = xasprintf(
            "%s (%s)", clifmt_str(w, "created_at"),
            clifmt_age(json_object_get(w, "created_at"), now, age, sizeof age));
        table *t = table_new(2, NULL);
        table_add(t, (const char *[]){"name", clifmt_str(w, "name")});
        table_add(t, (const char *[]){"version", ver});
        table_add(t, (const char *[]){"description", desc});
        table_add(t, (const char *[]){"created_at", created});
        table_print(t, stdout, (table_style){0});
        table_free(t);
        printf("definition:\n");
        clifmt_json_block(stdout, json_object_get(w, "definition"), 2);
        free(ver);
        free(desc);
        free(created);
    }
    json_decref(w);
    return CLI_EXIT_OK;
}

/* ---- following a run ----------------------------------------------------- */

typedef struct follow_args {
    bool wait, watch;
    cliopt_num timeout; /* seconds; implies wait */
} follow_args;

static bool following(const follow_args *f)
{
    return f->wait || f->watch || f->timeout.set;
}

static bool run_ended(const json_t *run)
{
    const char *state = clifmt_str(run, "state");
    return !strcmp(state, "completed") || !strcmp(state, "failed") ||
           !strcmp(state, "cancelled");
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* The poll interval bounds: 100 ms to 1 s, or $FLOWSTATE_POLL_MS both. */
static void poll_bounds(int64_t *min, int64_t *max)
{
    int64_t v;
    *min = POLL_MIN_MS;
    *max = POLL_MAX_MS;
    if (cliopt_int(getenv("FLOWSTATE_POLL_MS"), 1, 60000, &v)) *min = *max = v;
}

/* Whether following shows the live view, and OUT: *mode, which kind. */
static bool live_view(const follow_args *f, bool json, runview_mode *mode)
{
    bool tty = isatty(STDOUT_FILENO);
    *mode = tty ? RUNVIEW_REDRAW : RUNVIEW_LINES;
    return !json && (f->watch || tty);
}

/*
 * Polls run id until it ends (see the top comment), showing the live view
 * when f or a terminal asks for it.  Returns 0 with OUT: *final, the
 * ended run (the caller json_decref()s it); or 3 when the server went
 * away or f->timeout ran out, 4 when the run is gone, after saying so.
 */
static int follow_run(client *c, json_int_t id, const follow_args *f, bool json,
                      json_t **final)
{
    runview_mode mode;
    runview *view = live_view(f, json, &mode)
                        ? runview_new(stdout, mode, table_style_for(stdout))
                        : NULL;
    int64_t min, max, interval, start = fs_mono_ms();
    poll_bounds(&min, &max);
    interval = min;
    char *path = xasprintf("/v1/runs/%" JSON_INTEGER_FORMAT, id);
    char *updated = NULL;
    int code;
    *final = NULL;
    for (;;) {
        json_t *run;
        code = client_call(c, "GET", path, NULL, &run);
        if (code != CLI_EXIT_OK) {
            fprintf(stderr,
                    "flowstate: stopped following run %" JSON_INTEGER_FORMAT
                    " (see 'flowstate workflow status %" JSON_INTEGER_FORMAT
                    "')\n",
                    id, id);
            break;
        }
        const char *up = clifmt_str(run, "updated_at");
        bool changed = !updated || strcmp(updated, up);
        if (view) changed |= runview_update(view, run, fs_now(&fs_clock_real));
        free(updated);
        updated = xstrdup(up);
        if (run_ended(run)) {
            *final = run;
            break;
        }
        json_decref(run);
        int64_t waited = fs_mono_ms() - start;
        if (f->timeout.set && waited >= f->timeout.v * 1000) {
            fprintf(stderr,
                    "flowstate: run %" JSON_INTEGER_FORMAT " is still "
                    "running after %" PRId64 "s; stopped waiting (it goes "
                    "on: 'flowstate workflow status %" JSON_INTEGER_FORMAT
                    "')\n",
                    id, f->timeout.v, id);
            code = CLI_EXIT_UNREACHABLE;
            break;
        }
        interval = changed ? min : (interval * 2 > max ? max : interval * 2);
        int64_t left = f->timeout.set ? f->timeout.v * 1000 - waited : interval;
        sleep_ms(interval < left ? interval : left);
    }
    free(updated);
    free(path);
    runview_free(view);
    return code;
}

/*
 * Reports the end of a followed run: its JSON, or the steps table and the
 * summary line unless the live view showed them, and for a run that did
 * not complete its error on stderr.  Returns 0 for a completed run,
 * CLI_EXIT_REJECTED otherwise.
 */
static int report_end(const json_t *run, const follow_args *f, bool json)
{
    int64_t now = fs_now(&fs_clock_real);
    runview_mode mode;
    bool live = live_view(f, json, &mode);
    const char *state = clifmt_str(run, "state");
    if (json) {
        clifmt_json(stdout, run);
    } else if (!live) {
        table *t = runview_steps(run, now);
        table_print(t, stdout, table_style_for(stdout));
        table_free(t);
        runview_summary(stdout, run, now);
    } else if (mode == RUNVIEW_REDRAW) {
        runview_summary(stdout, run, now); /* LINES printed it already */
    }
    if (!strcmp(state, "completed")) return CLI_EXIT_OK;
    const char *err = json_string_value(json_object_get(run, "error"));
    char *line = err ? clidoc_oneline(err) : NULL;
    fprintf(stderr, "flowstate: run %" JSON_INTEGER_FORMAT " %s%s%s\n",
            json_integer_value(json_object_get(run, "id")), state,
            line ? ": " : "", line ? line : "");
    free(line);
    return CLI_EXIT_REJECTED;
}

/* follow_run() then report_end(). */
static int follow_and_report(client *c, json_int_t id, const follow_args *f,
                             bool json)
{
    json_t *run;
    int code = follow_run(c, id, f, json, &run);
    if (code != CLI_EXIT_OK) return code;
    code = report_end(run, f, json);
    json_decref(run);
    return code;
}

/* ---- run ----------------------------------------------------------------- */

/* The value of --input key=VALUE: JSON when it parses as JSON (42, true,
 * {"a":1}, "quoted"), else the text itself.  NULL when it is not UTF-8. */
static json_t *input_value(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    return v ? v : json_string(text);
}

/*
 * The run's inputs: --inputs (JSON text, or @FILE with "@-" for stdin)
 * first, then each --input key=value over it.  Returns a new object, or
 * NULL after printing the problem (a usage error).
 */
static json_t *build_inputs(const cliopt_ctx *ctx, const char *inputs,
                            const cliopt_list *input)
{
    json_t *obj;
    if (inputs && inputs[0] == '@') {
        obj = load_json(ctx, inputs + 1);
    } else if (inputs) {
        json_error_t err;
        obj = json_loads(inputs, JSON_DECODE_ANY, &err);
        if (!obj)
            cliopt_fail(ctx, "--inputs is not valid JSON: %s (at character %d)",
                        err.text, err.position);
    } else {
        obj = json_object();
    }
    if (!obj) return NULL;
    if (!json_is_object(obj)) {
        cliopt_fail(ctx, "--inputs must be a JSON object, like "
                         "{\"segment\": \"smb\"}");
        goto fail;
    }
    for (size_t i = 0; i < input->n; i++) {
        const char *eq = strchr(input->v[i], '=');
        if (!eq || eq == input->v[i]) {
            cliopt_fail(ctx, "--input: '%s' is not key=value", input->v[i]);
            goto fail;
        }
        json_t *v = input_value(eq + 1);
        char *key = xstrndup(input->v[i], (size_t)(eq - input->v[i]));
        if (!v || json_object_set_new(obj, key, v) != 0) {
            cliopt_fail(ctx, "--input: '%s' is not UTF-8 text", input->v[i]);
            free(key);
            goto fail;
        }
        free(key);
    }
    return obj;
fail:
    json_decref(obj);
    return NULL;
}

typedef struct run_args {
    const char *name, *inputs;
    cliopt_list input;
    cliopt_num version;
    follow_args f;
} run_args;

static void print_started(const json_t *run)
{
    printf("started run %" JSON_INTEGER_FORMAT " of %s version "
           "%" JSON_INTEGER_FORMAT ": %s\n",
           json_integer_value(json_object_get(run, "id")),
           clifmt_str(run, "workflow"),
           json_integer_value(json_object_get(run, "version")),
           clifmt_str(run, "state"));
    fflush(stdout);
}

/* Checks an answer that should be a run; prints why not. */
static bool is_run(const json_t *run)
{
    if (json_is_integer(json_object_get(run, "id"))) return true;
    fprintf(stderr, "flowstate: the server's answer is not a run\n");
    return false;
}

static int wf_run(const cliopt_ctx *ctx, int argc, char **argv)
{
    cliopt_common common = {0};
    run_args a = {0};
    const cliopt opts[] = {
        {"input", CLIOPT_LIST, &a.input},
        {"inputs", CLIOPT_STR, &a.inputs},
        {"version", CLIOPT_INT, &a.version, 1, INT32_MAX},
        {"wait", CLIOPT_FLAG, &a.f.wait},
        {"watch", CLIOPT_FLAG, &a.f.watch},
        {"timeout", CLIOPT_INT, &a.f.timeout, 1, MAX_WAIT_S},
        {NULL},
    };
    int code;
    if (!cliopt_parse(ctx, opts, argc, argv, &common, &a.name, &code))
        return code;
    if (!*a.name) return cliopt_fail(ctx, "NAME is empty");
    json_t *inputs = build_inputs(ctx, a.inputs, &a.input), *run;
    if (!inputs) return CLI_EXIT_USAGE;
    json_t *body = json_pack("{s:o}", "inputs", inputs);
    if (a.version.set)
        json_object_set_new(body, "version", json_integer(a.version.v));
    client *c;
    if (client_open(&c, &common.conn) != 0) {
        json_decref(body);
        return CLI_EXIT_USAGE;
    }
    char *esc = client_escape(a.name);
    char *path = xasprintf("/v1/workflows/%s/runs", esc);
    code = client_call(c, "POST", path, body, &run);
    if (code == CLI_EXIT_OK && !is_run(run)) code = CLI_EXIT_UNREACHABLE;
    if (code == CLI_EXIT_OK) {
        if (!common.json) print_started(run);
        if (following(&a.f))
            code = follow_and_report(
                c, json_integer_value(json_object_get(run, "id")), &a.f,
                common.json);
        else if (common.json)
            clifmt_json(stdout, run);
    }
    json_decref(run);
    free(path);
    free(esc);
    client_close(c);
    json_decref(body);
    return code;
}

/* ---- status -------------------------------------------------------------- */

/* Parses a run id argument; prints why and returns false when it is not
 * one. */
static bool parse_run_id(const cliopt_ctx *ctx, const char *s, int64_t *id)
{
    if (cliopt_int(s, 1, INT64_MAX, id)) return true;
    cliopt_fail(ctx, "'%s' is not a run id (a positive whole number)", s);
    return false;
}

/*
 * Every event of run id, paging with ?after=.  Returns the exit code and
 * OUT: *events (a new array; NULL on failure).
 */
static int fetch_events(client *c, int64_t id, json_t **events)
{
    json_t *all = json_array();
    int64_t after = 0;
    int code;
    *events = NULL;
    for (;;) {
        json_t *page;
        char *path =
            xasprintf("/v1/runs/%" PRId64 "/events?after=%" PRId64 "&limit=%d",
                      id, after, EVENTS_PAGE);
        code = client_call(c, "GET", path, NULL, &page);
        free(path);
        if (code != CLI_EXIT_OK) break;
        json_t *list = json_object_get(page, "events");
        json_t *last = json_array_get(list, json_array_size(list) - 1);
        int64_t seq = json_integer_value(json_object_get(last, "seq"));
        bool more = json_array_size(list) == EVENTS_PAGE && seq > after;
        json_array_extend(all, list);
        json_decref(page);
        if (!more) break;
        after = seq;
    }
    if (code == CLI_EXIT_OK)
        *events = all;
    else
        json_decref(all);
    return code;
}

/* The run's fields (a label and value per line), then its steps. */
static void print_run(const json_t *run)
{
    int64_t now = fs_now(&fs_clock_real);
    static const char *const times[][2] = {
        {"created", "created_at"},
        {"finished", "finished_at"},
        {"deadline", "deadline"},
    };
    char *id = clifmt_value(json_object_get(run, "id"));
    char *wf = xasprintf("%s (version %" JSON_INTEGER_FORMAT ")",
                         clifmt_str(run, "workflow"),
                         json_integer_value(json_object_get(run, "version")));
    char *inputs = clifmt_value(json_object_get(run, "inputs"));
    char took[32];
    runview_took(run, now, took, sizeof took);
    table *t = table_new(2, NULL);
    table_add(t, (const char *[]){"run", id});
    table_add(t, (const char *[]){"workflow", wf});
    table_add(t, (const char *[]){"state", clifmt_str(run, "state")});
    for (size_t i = 0; i < sizeof times / sizeof *times; i++) {
        json_t *v = json_object_get(run, times[i][1]);
        char age[CLIFMT_CELL];
        char *cell = json_is_string(v)
                         ? xasprintf("%s (%s)", json_string_value(v),
                                     clifmt_age(v, now, age, sizeof age))
                         : xstrdup("-");
        table_add(t, (const char *[]){times[i][0], cell});
        free(cell);
    }
    table_add(t, (const char *[]){"took", took});
    table_add(t, (const char *[]){"inputs", inputs});
    table_print(t, stdout, (table_style){0});
    table_free(t);
    const char *err = json_string_value(json_object_get(run, "error"));
    if (err) {
        printf("error:\n");
        clifmt_text_block(stdout, err, 2);
    }
    putchar('\n');
    t = runview_steps(run, now);
    table_print(t, stdout, table_style_for(stdout));
    table_free(t);
    free(id);
    free(wf);
    free(inputs);
}

static void print_events(const json_t *events)
{
    if (json_array_size(events) == 0) {
        printf("no events\n");
        return;
    }
    table *t = runview_events(events);
    table_print(t, stdout, table_style_for(stdout));
    table_free(t);
}

static int wf_status(const cliopt_ctx *ctx, int argc, char **argv)
{
    cliopt_common common = {0};
    follow_args f = {0};
    bool with_events = false;
    const char *arg;
    const cliopt opts[] = {
        {"watch", CLIOPT_FLAG, &f.watch},
        {"events", CLIOPT_FLAG, &with_events},
        {NULL},
    };
    int64_t id;
    int code;
    if (!cliopt_parse(ctx, opts, argc, argv, &common, &arg, &code)) return code;
    if (!parse_run_id(ctx, arg, &id)) return CLI_EXIT_USAGE;
    client *c;
    json_t *run, *events = NULL;
    if (client_open(&c, &common.conn) != 0) return CLI_EXIT_USAGE;
    if (f.watch) {
        code = follow_run(c, id, &f, common.json, &run);
    } else {
        char *path = xasprintf("/v1/runs/%" PRId64, id);
        code = client_call(c, "GET", path, NULL, &run);
        free(path);
    }
    if (code != CLI_EXIT_OK) goto close_client;
    if (with_events && (code = fetch_events(c, id, &events)) != CLI_EXIT_OK)
        goto free_run;
    if (events && common.json) json_object_set(run, "events", events);
    if (f.watch)
        code = report_end(run, &f, common.json);
    else if (common.json)
        clifmt_json(stdout, run);
    else
        print_run(run);
    if (events && !common.json) {
        putchar('\n');
        print_events(events);
    }
    json_decref(events);
free_run:
    json_decref(run);
close_client:
    client_close(c);
    return code;
}

/* ---- runs ---------------------------------------------------------------- */

typedef struct runs_args {
    const char *workflow, *state, *cursor;
    cliopt_num limit;
    bool all;
} runs_args;

static char *runs_path(const runs_args *a)
{
    char *path = xstrdup("/v1/runs");
    char limit[24];
    snprintf(limit, sizeof limit, "%" PRId64, a->limit.v);
    client_query_add(&path, "workflow", a->workflow);
    client_query_add(&path, "state", a->state);
    client_query_add(&path, "limit", a->limit.set ? limit : NULL);
    return path;
}

/* One page, or with a->all every page from a->cursor on (client_list). */
static int fetch_runs(client *c, const runs_args *a, json_t **doc)
{
    char *base = runs_path(a);
    int code = client_list(c, base, "runs", a->cursor, a->all, doc);
    free(base);
    return code;
}

static void print_runs(const json_t *doc)
{
    json_t *runs = json_object_get(doc, "runs");
    const char *next = json_string_value(json_object_get(doc, "next_cursor"));
    if (json_array_size(runs) == 0) {
        printf("no runs\n");
    } else {
        table *t =
            table_new(7, (const char *[]){"ID", "WORKFLOW", "VERSION", "STATE",
                                          "CREATED", "TOOK", "ERROR"});
        table_set_align(t, 0, TABLE_RIGHT);
        table_set_align(t, 2, TABLE_RIGHT);
        table_set_align(t, 5, TABLE_RIGHT);
        table_set_max(t, 1, 40);
        table_set_max(t, 6, 60);
        int64_t now = fs_now(&fs_clock_real);
        size_t i;
        json_t *run;
        json_array_foreach(runs, i, run)
        {
            char *id = clifmt_value(json_object_get(run, "id"));
            char *ver = clifmt_value(json_object_get(run, "version"));
            char age[CLIFMT_CELL], took[32];
            clifmt_age(json_object_get(run, "created_at"), now, age,
                       sizeof age);
            runview_took(run, now, took, sizeof took);
            const char *err = json_string_value(json_object_get(run, "error"));
            table_add(t, (const char *[]){id, clifmt_str(run, "workflow"), ver,
                                          clifmt_str(run, "state"), age, took,
                                          err ? err : ""});
            free(id);
            free(ver);
        }
        table_print(t, stdout, table_style_for(stdout));
        table_free(t);
    }
    if (next) printf("more runs: add --cursor %s (or --all)\n", next);
}

static int wf_runs(const cliopt_ctx *ctx, int argc, char **argv)
{
    cliopt_common common = {0};
    runs_args a = {0};
    const cliopt opts[] = {
        {"workflow", CLIOPT_STR, &a.workflow},
        {"state", CLIOPT_STR, &a.state},
        {"limit", CLIOPT_INT, &a.limit, 1, MAX_PAGE},
        {"cursor", CLIOPT_STR, &a.cursor},
        {"all", CLIOPT_FLAG, &a.all},
        {NULL},
    };
    int code;
    run_state st;
    if (!cliopt_parse(ctx, opts, argc, argv, &common, NULL, &code)) return code;
    if (a.state && !run_state_parse(a.state, &st))
        return cliopt_fail(ctx,
                           "--state: '%s' is not one of running, completed, "
                           "failed, cancelled",
                           a.state);
    client *c;
    json_t *doc;
    if (client_open(&c, &common.conn) != 0) return CLI_EXIT_USAGE;
    code = fetch_runs(c, &a, &doc);
    client_close(c);
    if (code != CLI_EXIT_OK) return code;
    if (common.json)
        clifmt_json(stdout, doc);
    else
        print_runs(doc);
    json_decref(doc);
    return CLI_EXIT_OK;
}

/* ---- cancel and retry ---------------------------------------------------- */

/* POST /v1/runs/ID/<action>, then "<done> run ID: <state>" (or the run
 * as JSON), and with f following the run. */
static int run_action(const cliopt_ctx *ctx, int argc, char **argv,
                      const char *action, const char *done, follow_args *f)
{
    cliopt_common common = {0};
    const char *arg;
    const cliopt opts[] = {
        {"wait", CLIOPT_FLAG, f ? &f->wait : NULL},
        {"watch", CLIOPT_FLAG, f ? &f->watch : NULL},
        {"timeout", CLIOPT_INT, f ? &f->timeout : NULL, 1, MAX_WAIT_S},
        {NULL},
    };
    int64_t id;
    int code;
    if (!cliopt_parse(ctx, f ? opts : NULL, argc, argv, &common, &arg, &code))
        return code;
    if (!parse_run_id(ctx, arg, &id)) return CLI_EXIT_USAGE;
    client *c;
    json_t *run;
    if (client_open(&c, &common.conn) != 0) return CLI_EXIT_USAGE;
    char *path = xasprintf("/v1/runs/%" PRId64 "/%s", id, action);
    code = client_call(c, "POST", path, NULL, &run);
    free(path);
    if (code == CLI_EXIT_OK) {
        bool follow = f && following(f);
        if (!common.json)
            printf("%s run %" PRId64 ": %s\n", done, id,
                   clifmt_str(run, "state"));
        else if (!follow)
            clifmt_json(stdout, run);
        fflush(stdout);
        if (follow) code = follow_and_report(c, id, f, common.json);
        json_decref(run);
    }
    client_close(c);
    return code;
}

static int wf_cancel(const cliopt_ctx *ctx, int argc, char **argv)
{
    return run_action(ctx, argc, argv, "cancel", "cancelled", NULL);
}

static int wf_retry(const cliopt_ctx *ctx, int argc, char **argv)
{
    follow_args f = {0};
    return run_action(ctx, argc, argv, "retry", "retried", &f);
}

/* ---- graph --------------------------------------------------------------- */

/* A FILE argument rather than a workflow NAME: "-", or a path holding
 * '/' or '.', which names never do (wfdef.h). */
static bool is_path(const char *arg)
{
    return !strcmp(arg, "-") || strpbrk(arg, "/.");
}

/* The definition of the registered workflow name (OUT: *doc, new).
 * Returns the exit code. */
static int server_definition(const cliopt_common *common, const char *name,
                             const cliopt_num *version, json_t **doc)
{
    client *c;
    json_t *w;
    *doc = NULL;
    if (client_open(&c, &common->conn) != 0) return CLI_EXIT_USAGE;
    int code = fetch_workflow(c, name, version, &w);
    client_close(c);
    if (code != CLI_EXIT_OK) return code;
    json_t *def = json_object_get(w, "definition");
    if (json_is_object(def)) {
        *doc = json_incref(def);
    } else {
        fprintf(stderr, "flowstate: the server's answer has no definition\n");
        code = CLI_EXIT_UNREACHABLE;
    }
    json_decref(w);
    return code;
}

static int wf_graph(const cliopt_ctx *ctx, int argc, char **argv)
{
    cliopt_common common = {0};
    cliopt_num version = {0};
    bool dot = false;
    const char *arg;
    const cliopt opts[] = {
        {"dot", CLIOPT_FLAG, &dot},
        {"version", CLIOPT_INT, &version, 1, INT32_MAX},
        {NULL},
    };
    int code;
    if (!cliopt_parse(ctx, opts, argc, argv, &common, &arg, &code)) return code;
    if (common.json)
        return cliopt_fail(ctx, "--json: the graph is text or, with --dot, "
                                "Graphviz DOT");
    bool local = is_path(arg);
    if (local && version.set)
        return cliopt_fail(ctx, "--version is for a registered workflow, "
                                "not a file");
    json_t *doc = NULL, *problems;
    if (local) {
        doc = load_definition(ctx, arg);
        code = doc ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    } else {
        code = server_definition(&common, arg, &version, &doc);
    }
    if (code != CLI_EXIT_OK) return code;
    wfdef *def;
    if (wfdef_parse(doc, NULL, &def, &problems) != 0) {
        size_t errors, warnings;
        print_problems(stderr, problems, &errors, &warnings);
        cliopt_fail(ctx, "%s is not a valid workflow: %zu error%s",
                    local ? source_name(arg) : arg, errors,
                    errors == 1 ? "" : "s");
        code = CLI_EXIT_REJECTED;
    } else {
        char *text = dot ? wfdef_graph_dot(def) : wfdef_graph_text(def);
        fputs(text, stdout);
        free(text);
        wfdef_free(def);
    }
    json_decref(problems);
    json_decref(doc);
    return code;
}

/* ---- the command table --------------------------------------------------- */

#define FOLLOW_HELP                                                            \
    "  --wait                wait for the run to end; exit 0 if it\n"          \
    "                        completed, 1 if it failed or was cancelled\n"     \
    "  --watch               wait, showing the steps as they change (a\n"      \
    "                        table redrawn in place on a terminal, one line\n" \
    "                        per change otherwise); --wait does this too on\n" \
    "                        a terminal\n"                                     \
    "  --timeout SECONDS     stop waiting after SECONDS (exit 3; the run\n"    \
    "                        goes on); implies --wait\n"

static const cliopt_cmd wf_cmds[] = {
    {"validate", wf_validate, "FILE [--server] [--json]",
     "Check the workflow definition in FILE (- for stdin) and print every\n"
     "problem, one per line:\n"
     "  error    step 'b'  cycle: a -> b -> a\n"
     "Exit 0 when it is valid (warnings allowed), 1 when it has errors,\n"
     "2 when FILE cannot be read or is not JSON.  The check runs here,\n"
     "without a server, unless --server is given.  The format is in\n"
     "docs/workflow-definition.md.\n"
     "\n"
     "options:\n"
     "  --server    ask the server instead, which also warns about agent\n"
     "              types nobody registered\n"
     "\n"
     "examples:\n"
     "  flowstate workflow validate nightly.json\n"
     "  generate-flow | flowstate workflow validate - --json\n",
     "FILE"},
    {"register", wf_register, "FILE [--json]",
     "Register the workflow definition in FILE (- for stdin) under its\n"
     "name and version.  A definition with errors is refused: its problems\n"
     "are printed as by validate and the exit code is 1.  Registering the\n"
     "same definition again is harmless; a different one under a version\n"
     "already taken is refused (HTTP 409): raise \"version\".\n"
     "\n"
     "example:\n"
     "  flowstate workflow register nightly.json\n",
     "FILE"},
    {"list", wf_list, "[--json]",
     "List the registered workflows (the latest version of each).\n", NULL},
    {"show", wf_show, "NAME [--version N] [--json]",
     "Show a registered workflow and its definition.\n"
     "\n"
     "options:\n"
     "  --version N   that version (default: the latest)\n"
     "\n"
     "example:\n"
     "  flowstate workflow show nightly-scoring --version 2\n",
     "NAME"},
    {"run", wf_run, "NAME [--input KEY=VALUE ...] [--wait|--watch] [options]",
     "Start a run of workflow NAME and print its id.\n"
     "\n"
     "options:\n"
     "  --input KEY=VALUE     one input (repeatable); VALUE is taken as JSON\n"
     "                        when it is JSON (42, true, [1,2], {\"a\":1},\n"
     "                        \"quoted\"), else as text\n"
     "  --inputs JSON|@FILE   inputs as a JSON object, or read from FILE\n"
     "                        (@- for stdin); --input values go over them\n"
     "  --version N           run that version (default: the "
     "latest)\n" FOLLOW_HELP "\n"
     "Following a run polls the server (every 100 ms at first, then up to\n"
     "every second; FLOWSTATE_POLL_MS sets a fixed interval).  With --json\n"
     "the run's JSON is printed: the new run, or with --wait the ended one.\n"
     "\n"
     "examples:\n"
     "  flowstate workflow run nightly-scoring --input segment=smb\n"
     "  flowstate workflow run nightly-scoring --inputs @in.json --wait\n"
     "  flowstate workflow run nightly-scoring --watch --timeout 600\n",
     "NAME"},
    {"status", wf_status, "RUN_ID [--events] [--watch] [--json]",
     "Show a run: its state, inputs and error, and a table of its steps\n"
     "(state, attempts, elapsed time, for_each items done/total, error).\n"
     "\n"
     "options:\n"
     "  --events    also print the run's timeline: time, event, step[item],\n"
     "              attempt, error\n"
     "  --watch     follow the run until it ends, as run --watch (exit 0 if\n"
     "              it completed, 1 if it failed or was cancelled)\n"
     "\n"
     "examples:\n"
     "  flowstate workflow status 42 --events\n"
     "  flowstate workflow status 42 --watch\n",
     "RUN_ID"},
    {"runs", wf_runs,
     "[--workflow NAME] [--state S] [--limit N] [--all] [--json]",
     "List runs, newest first, one page at a time.\n"
     "\n"
     "options:\n"
     "  --workflow NAME   only runs of workflow NAME\n"
     "  --state S         running, completed, failed or cancelled\n"
     "  --limit N         runs per page (1-1000; the server's default "
     "otherwise)\n"
     "  --cursor C        start at the page C from an earlier list\n"
     "  --all             follow the cursors to the last page\n"
     "\n"
     "example:\n"
     "  flowstate workflow runs --workflow nightly-scoring --state failed\n",
     NULL},
    {"cancel", wf_cancel, "RUN_ID [--json]",
     "Cancel a running run: its running steps' jobs are cancelled and no\n"
     "step starts any more.\n",
     "RUN_ID"},
    {"retry", wf_retry, "RUN_ID [--wait] [--watch] [--timeout SECONDS]",
     "Run a failed, cancelled or timed-out run again from where it stopped:\n"
     "completed steps keep their outputs.\n"
     "\n"
     "options:\n" FOLLOW_HELP "\n"
     "example:\n"
     "  flowstate workflow retry 42 --wait\n",
     "RUN_ID"},
    {"graph", wf_graph, "FILE|NAME [--dot] [--version N]",
     "Print a workflow's steps as a graph: by level, with each step's\n"
     "agent, job type and dependencies, or with --dot in Graphviz DOT.\n"
     "FILE is a definition file (- for stdin; a path holding '/' or '.',\n"
     "so write ./flow for a file named flow); anything else is the NAME\n"
     "of a registered workflow, fetched from the server.\n"
     "\n"
     "options:\n"
     "  --dot         Graphviz DOT instead of text\n"
     "  --version N   that version of a registered workflow\n"
     "\n"
     "examples:\n"
     "  flowstate workflow graph nightly.json\n"
     "  flowstate workflow graph nightly-scoring --dot | dot -Tsvg > g.svg\n",
     "FILE|NAME"},
};

int cli_workflow_main(int argc, char **argv)
{
    return cliopt_dispatch("workflow",
                           "Validate, register and graph workflow "
                           "definitions; start, follow, cancel\nand retry "
                           "their runs.",
                           wf_cmds, sizeof wf_cmds / sizeof *wf_cmds, argc,
                           argv);
}
