/*
 * cliopt.c - long-option parsing and subcommand dispatch for the client
 * commands (see cliopt.h).
 *
 * Design: one pass over argv.  Every token is either an option ("--name",
 * "--name=value", "-h"), a positional argument (one per word of the
 * command's argname, in order), or an error.  The first error is
 * remembered (not printed) and parsing continues, so that a "--help"
 * anywhere on the line still wins: a user who typed something wrong and
 * then asks for help gets help, not the error.  Option values
 * given as a separate token may not start with "--" (that is almost always
 * a forgotten value: `--to --json`); "--name=--x" passes such a value on
 * purpose.  A command is named in messages as "<group> <cmd>", or just
 * "<cmd>" for a single command (cliopt_single(): group NULL).
 */
#include "cli/cliopt.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/clifmt.h"

#define ERRLEN 256

static const char global_help[] =
    "global options:\n"
    "  --url URL          server address (env FLOWSTATE_URL;\n"
    "                     default http://127.0.0.1:8080)\n"
    "  --key KEY          API key (env FLOWSTATE_API_KEY)\n"
    "  --key-file FILE    file holding the API key (env FLOWSTATE_KEY_FILE;\n"
    "                     default ./flowstate.key, or the one beside\n"
    "                     $FLOWSTATE_DB)\n"
    "  --json             print the server's JSON (one pretty document)\n"
    "  -h, --help         show this help\n"
    "\n"
    "exit codes: 0 ok, 1 rejected by the server, 2 usage error,\n"
    "            3 server unreachable or failing (5xx), 4 not found\n";

bool cliopt_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    /* strtoll alone would take " 5", "+5" and "": whole numbers only. */
    if (!s || !(isdigit((unsigned char)*s) ||
                (*s == '-' && isdigit((unsigned char)s[1]))))
        return false;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max) return false;
    *out = v;
    return true;
}

bool cliopt_real_parse(const char *s, double min, double max, double *out)
{
    char *end;
    /* strtod alone would take " 1", "inf", "nan" and hex floats. */
    if (!s || !(isdigit((unsigned char)*s) || *s == '.' ||
                (*s == '-' && (isdigit((unsigned char)s[1]) || s[1] == '.'))))
        return false;
    if (strpbrk(s, "xXpP")) return false;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < min || v > max) return false;
    *out = v;
    return true;
}

/* "job list", or "search" for a single command. */
static const char *cmd_path(const cliopt_ctx *ctx, char *buf, size_t len)
{
    if (!ctx->group) return ctx->cmd->name;
    snprintf(buf, len, "%s %s", ctx->group, ctx->cmd->name);
    return buf;
}

static void vreport(const cliopt_ctx *ctx, const char *fmt, va_list ap)
{
    char name[128];
    fprintf(stderr, "flowstate %s: ", cmd_path(ctx, name, sizeof name));
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cliopt_fail(const cliopt_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(ctx, fmt, ap);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

void cliopt_usage(const cliopt_ctx *ctx, FILE *out)
{
    char name[128];
    fprintf(out, "usage: flowstate %s %s\n\n%s\n%s",
            cmd_path(ctx, name, sizeof name), ctx->cmd->synopsis,
            ctx->cmd->help, global_help);
}

/* Records the first problem only: later ones are usually its echoes. */
static void note(char *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note(char *err, const char *fmt, ...)
{
    if (*err) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, ERRLEN, fmt, ap);
    va_end(ap);
}

static const cliopt *find(const cliopt *opts, const char *name, size_t len)
{
    for (const cliopt *o = opts; o->name; o++)
        if (strlen(o->name) == len && !strncmp(o->name, name, len)) return o;
    return NULL;
}

/*
 * Applies one option token argv[*i] (already known to start with "--").
 * May consume the next token as the value (advancing *i).  Problems go to
 * err via note().
 */
static void take_option(const cliopt *opts, const cliopt *globals, int argc,
                        char **argv, int *i, char *err)
{
    const char *tok = argv[*i], *name = tok + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const cliopt *o = find(opts, name, len);
    if (!o) o = find(globals, name, len);
    if (!o) {
        note(err, "unknown option '%.*s'", (int)(len + 2), tok);
        return;
    }
    if (o->kind == CLIOPT_FLAG) {
        if (eq)
            note(err, "--%s takes no value", o->name);
        else
            *(bool *)o->out = true;
        return;
    }
    const char *val = NULL;
    if (eq)
        val = eq + 1;
    else if (*i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0)
        val = argv[++*i];
    if (!val) {
        note(err, "--%s needs a value", o->name);
        return;
    }
    if (o->kind == CLIOPT_STR) {
        *(const char **)o->out = val;
        return;
    }
    if (o->kind == CLIOPT_LIST) {
        cliopt_list *list = o->out;
        if (list->n == CLIOPT_LIST_MAX)
            note(err, "--%s is given more than %d times", o->name,
                 CLIOPT_LIST_MAX);
        else
            list->v[list->n++] = val;
        return;
    }
    if (o->kind == CLIOPT_REAL) {
        cliopt_real *real = o->out;
        bool any = o->min == INT64_MIN && o->max == INT64_MAX;
        if (cliopt_real_parse(val, (double)o->min, (double)o->max, &real->v))
            real->set = true;
        else if (any)
            note(err, "--%s: '%s' is not a number", o->name, val);
        else
            note(err, "--%s: '%s' is not a number from %lld to %lld", o->name,
                 val, (long long)o->min, (long long)o->max);
        return;
    }
    cliopt_num *num = o->out;
    if (!cliopt_int(val, o->min, o->max, &num->v)) {
        note(err, "--%s: '%s' is not a whole number from %lld to %lld", o->name,
             val, (long long)o->min, (long long)o->max);
        return;
    }
    num->set = true;
}

/* How many positional arguments argname names (one per word). */
static size_t arg_count(const char *argname)
{
    size_t n = 0;
    for (const char *p = argname; p && *p; n++) {
        p += strspn(p, " ");
        p += strcspn(p, " ");
        p += strspn(p, " ");
    }
    return n;
}

/* Word i of argname, for "missing CRON". */
static void arg_word(const char *argname, size_t i, char *buf, size_t len)
{
    const char *p = argname + strspn(argname, " ");
    for (; i > 0; i--) {
        p += strcspn(p, " ");
        p += strspn(p, " ");
    }
    snprintf(buf, len, "%.*s", (int)strcspn(p, " "), p);
}

bool cliopt_parse(const cliopt_ctx *ctx, const cliopt *opts, int argc,
                  char **argv, cliopt_common *common, const char **arg,
                  int *exit_code)
{
    const cliopt globals[] = {
        {"url", CLIOPT_STR, &common->conn.url},
        {"key", CLIOPT_STR, &common->conn.key},
        {"key-file", CLIOPT_STR, &common->conn.key_file},
        {"json", CLIOPT_FLAG, &common->json},
        {"help", CLIOPT_FLAG, &common->help},
        {NULL},
    };
    const cliopt none[] = {{NULL}};
    const char *argname = ctx->cmd->argname;
    char err[ERRLEN] = "";
    bool options_done = false;
    size_t want = arg ? arg_count(argname) : 0, have = 0;

    if (!opts) opts = none;
    for (size_t k = 0; k < want; k++) arg[k] = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!options_done && !strcmp(a, "--")) {
            options_done = true;
        } else if (!options_done && !strcmp(a, "-h")) {
            common->help = true;
        } else if (!options_done && !strncmp(a, "--", 2)) {
            take_option(opts, globals, argc, argv, &i, err);
        } else if (!options_done && a[0] == '-' && a[1]) {
            note(err, "unknown option '%s' (options are long: --name)", a);
        } else if (have == want) {
            note(err, "unexpected argument '%s'", a);
        } else {
            arg[have++] = a;
        }
    }
    if (common->help) {
        cliopt_usage(ctx, stdout);
        *exit_code = CLI_EXIT_OK;
        return false;
    }
    if (!*err && have < want && !(ctx->cmd->flags & CLIOPT_ARG_OPTIONAL)) {
        char word[64];
        arg_word(argname, have, word, sizeof word);
        note(err, "missing %s", word);
    }
    if (*err) {
        char name[128];
        cliopt_fail(ctx, "%s", err);
        fprintf(stderr, "Try 'flowstate %s --help'.\n",
                cmd_path(ctx, name, sizeof name));
        *exit_code = CLI_EXIT_USAGE;
        return false;
    }
    return true;
}

static void group_usage(const char *group, const char *summary,
                        const cliopt_cmd *cmds, size_t n, FILE *out)
{
    fprintf(out,
            "usage: flowstate %s <subcommand> [options]\n\n%s\n\n"
            "subcommands:\n",
            group, summary);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "  %-8s %s\n", cmds[i].name, cmds[i].synopsis);
    fprintf(out, "\n'flowstate %s <subcommand> --help' describes each one.\n",
            group);
}

int cliopt_dispatch(const char *group, const char *summary,
                    const cliopt_cmd *cmds, size_t n, int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "flowstate %s: missing subcommand\n\n", group);
        group_usage(group, summary, cmds, n, stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") ||
        !strcmp(name, "help")) {
        group_usage(group, summary, cmds, n, stdout);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(name, cmds[i].name)) continue;
        cliopt_ctx ctx = {group, &cmds[i]};
        return cmds[i].run(&ctx, argc - 1, argv + 1);
    }
    if (name[0] == '-')
        fprintf(stderr,
                "flowstate %s: options go after the subcommand "
                "(flowstate %s <subcommand> %s)\n",
                group, group, name);
    else
        fprintf(stderr, "flowstate %s: unknown subcommand '%s'\n", group, name);
    fprintf(stderr, "Try 'flowstate %s --help'.\n", group);
    return CLI_EXIT_USAGE;
}

int cliopt_show(const cliopt_ctx *ctx, int argc, char **argv,
                const char *path, int (*print)(const json_t *doc, void *arg),
                void *arg)
{
    cliopt_common common = {0};
    int code;
    if (!cliopt_parse(ctx, NULL, argc, argv, &common, NULL, &code)) return code;
    client *c;
    if (client_open(&c, &common.conn) != 0) return CLI_EXIT_USAGE;
    json_t *doc;
    code = client_call(c, "GET", path, NULL, &doc);
    client_close(c);
    if (code != CLI_EXIT_OK) return code;
    if (common.json)
        clifmt_json(stdout, doc);
    else
        code = print(doc, arg);
    json_decref(doc);
    return code;
}

typedef struct list_show {
    const char *key, *none;
    void (*print)(const json_t *list);
} list_show;

static int print_list(const json_t *doc, void *arg)
{
    const list_show *ls = arg;
    json_t *list = json_object_get(doc, ls->key);
    if (!json_is_array(list)) {
        fprintf(stderr, "flowstate: the server's answer has no %s list\n",
                ls->key);
        return CLI_EXIT_UNREACHABLE;
    }
    if (json_array_size(list) == 0)
        printf("%s\n", ls->none);
    else
        ls->print(list);
    return CLI_EXIT_OK;
}

int cliopt_show_list(const cliopt_ctx *ctx, int argc, char **argv,
                     const char *path, const char *key, const char *none,
                     void (*print)(const json_t *list))
{
    list_show ls = {key, none, print};
    return cliopt_show(ctx, argc, argv, path, print_list, &ls);
}

int cliopt_single(const cliopt_cmd *cmd, int argc, char **argv)
{
    cliopt_ctx ctx = {NULL, cmd};
    return cmd->run(&ctx, argc, argv);
}
