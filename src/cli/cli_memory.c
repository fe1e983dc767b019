/*
 * cli_memory.c - `flowstate memory add|get|rm|list` (see cli.h): the
 * documents of the shared memory, one at a time.
 *
 * Design: the three steps of cli_job.c (check input locally, open a
 * client, request and print).  `add` takes its content from exactly one
 * of TEXT, "-" (stdin) or --file F, read whole up to MEMORY_MAX_CONTENT
 * and checked (UTF-8, no NUL, not blank) before the request; metadata
 * comes from --meta key=value (string values).  `list` pages with the
 * server's cursor; --all follows it into one document, like `job list
 * --all`.  Human output is a table (list) or fields plus indented
 * metadata and content blocks (get); --json prints the server's JSON.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/clidoc.h"
#include "cli/client.h"
#include "cli/clifmt.h"
#include "cli/cliopt.h"
#include "cli/table.h"
#include "core/clock.h"
#include "core/xmem.h"
#include "memory/memory.h"

/* ---- add -------------------------------------------------------------- */

/*
 * Reads all of f (at most MEMORY_MAX_CONTENT bytes).  Returns the text
 * (caller frees; OUT: *len) or NULL after printing why (what names the
 * source in the message).
 */
static char *read_all(const cliopt_ctx *ctx, FILE *f, const char *what,
                      size_t *len)
{
    size_t n = 0, cap = 0;
    char *buf = NULL;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            if (cap > MEMORY_MAX_CONTENT + 1) cap = MEMORY_MAX_CONTENT + 1;
            buf = xrealloc(buf, cap + 1);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0 || n > MEMORY_MAX_CONTENT) break;
    }
    if (ferror(f)) {
        cliopt_fail(ctx, "cannot read %s: %s", what, strerror(errno));
    } else if (n > MEMORY_MAX_CONTENT) {
        cliopt_fail(ctx, "%s is over %u bytes (the most a document holds)",
                    what, MEMORY_MAX_CONTENT);
    } else {
        buf[n] = '\0';
        *len = n;
        return buf;
    }
    free(buf);
    return NULL;
}

/* The content from TEXT, "-" or --file, as a JSON string; NULL after
 * printing why. */
static json_t *load_content(const cliopt_ctx *ctx, const char *text,
                            const char *file)
{
    char *buf = NULL;
    size_t len = 0;
    const char *what = "TEXT";
    if (text && file) {
        cliopt_fail(ctx, "give TEXT, - or --file F, not more than one");
        return NULL;
    }
    if (!text && !file) {
        cliopt_fail(ctx, "missing TEXT (or - for stdin, or --file F)");
        return NULL;
    }
    if (text && strcmp(text, "-")) {
        buf = xstrdup(text);
        len = strlen(text);
    } else {
        what = file ? file : "(stdin)";
        FILE *f = file ? fopen(file, "rb") : stdin;
        struct stat st;
        if (f && f != stdin && fstat(fileno(f), &st) == 0 &&
            S_ISDIR(st.st_mode)) {
            fclose(f);
            f = NULL;
            errno = EISDIR;
        }
        if (!f) {
            cliopt_fail(ctx, "--file: cannot open %s: %s", file,
                        strerror(errno));
            return NULL;
        }
        buf = read_all(ctx, f, what, &len);
        if (f != stdin) fclose(f);
        if (!buf) return NULL;
    }
    json_t *s = memchr(buf, '\0', len) ? NULL : json_stringn(buf, len);
    char *flat = s ? clidoc_oneline(buf) : NULL;
    if (!s)
        cliopt_fail(ctx, "%s is not UTF-8 text", what);
    else if (!*flat)
        cliopt_fail(ctx, "%s is empty", what);
    if (s && !*flat) {
        json_decref(s);
        s = NULL;
    }
    free(flat);
    free(buf);
    return s;
}

typedef struct add_args {
    const char *text, *file, *kind, *agent;
    cliopt_list tags, meta;
    cliopt_real importance;
} add_args;

/* The POST /v1/memory body; NULL after printing why. */
static json_t *add_body(const cliopt_ctx *ctx, const add_args *a)
{
    json_t *tags = NULL, *meta = NULL;
    if (!clidoc_name(ctx, "--kind", a->kind) ||
        !clidoc_name(ctx, "--agent", a->agent) ||
        !clidoc_tags(ctx, &a->tags, &tags))
        return NULL;
    if (!clidoc_meta(ctx, &a->meta, false, &meta)) {
        json_decref(tags);
        return NULL;
    }
    json_t *content = load_content(ctx, a->text, a->file);
    if (!content) {
        json_decref(tags);
        json_decref(meta);
        return NULL;
    }
    json_t *body = json_pack("{s:o}", "content", content);
    if (a->kind) json_object_set_new(body, "kind", json_string(a->kind));
    if (a->agent) json_object_set_new(body, "agent", json_string(a->agent));
    if (tags) json_object_set_new(body, "tags", tags);
    if (meta) json_object_set_new(body, "metadata", meta);
    if (a->importance.set)
        json_object_set_new(body, "importance", json_real(a->importance.v));
    return body;
}

static int cmd_add(const cliopt_ctx *ctx, int argc, char **argv)
{
    cliopt_common common = {0};
    add_args a = {0};
    const cliopt opts[] = {
        {"file", CLIOPT_STR, &a.file},
        {"kind", CLIOPT_STR, &a.kind},
        {"agent", CLIOPT_STR, &a.agent},
        {"tag", CLIOPT_LIST, &a.tags},
        {"meta", CLIOPT_LIST, &a.meta},
        {"importance", CLIOPT_REAL, &a.importance, 0, 1},
        {NULL},
    };
    int code;
    if (!cliopt_parse(ctx, opts, argc, argv, &common, &a.text, &code))
        return code;
    json_t *body = add_body(ctx, &a), *made;
    if (!body) return CLI_EXIT_USAGE;
    client *c;
    if (client_open(&c, &common.conn) != 0) {
        json_decref(body);
        return CLI_EXIT_USAGE;
    }
    code = client_call(c, "POST", "/v1/memory", body, &made);
    if (code == CLI_EXIT_OK) {
        if (common.json)
            clifmt_json(stdout, made);
        else
            printf("added document %" JSON_INTEGER_FORMAT "\n",
                   json_integer_value(json_object_get(made, "id")));
        json_decref(made);
    }
    client_close(c);
    json_decref(body);
    return code;
}

/* ---- get and rm ------------------------------------------------------- */

static void print_doc(const json_t *doc)
{
    static const struct {
        const char *key;
        bool time;
    } fields[] = {
        {"id"},
        {"agent"},
        {"kind"},
        {"tags"},
        {"importance"},
        {"embedder"},
        {"created_at", true},
        {"updated_at", true},
    };
    table *t = table_new(2, NULL);
    int64_t now = fs_now(&fs_clock_real);
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        json_t *v = json_object_get(doc, fields[i].key);
        char *val = clifmt_value(v), age[CLIFMT_CELL];
        if (fields[i].time && json_is_string(v)) {
            char *with_age =
                xasprintf("%s (%s)", val, clifmt_age(v, now, age, sizeof age));
            free(val);
            val = with_age;
        }
        table_add(t, (const char *[]){fields[i].key, val});
        free(val);
    }
    table_print(t, stdout, (table_style){0});
    table_free(t);
    json_t *meta = json_object_get(doc, "metadata");
    if (json_object_size(meta)) {
        printf("metadata:\n");
        clifmt_json_block(stdout, meta, 2);
    }
    printf("content:\n");
    clifmt_text_block(stdout, clifmt_str(doc, "content"), 2);
}

/* get and rm: METHOD /v1/memory/ID, then print with show(). */
static int doc_request(const cliopt_ctx *ctx, int argc, char **argv,
                       const char *method,
                       void (*show)(const json_t *, int64_t))
{
    cliopt_common common = {0};
    const char *arg;
    int64_t id;
    int code;
    if (!cliopt_parse(ctx, NULL, argc, argv, &common, &arg, &code)) return code;
    if (!clidoc_id(ctx, "ID", arg, &id)) return CLI_EXIT_USAGE;
    client *c;
    if (client_open(&c, &common.conn) != 0) return CLI_EXIT_USAGE;
    char *path = xasprintf("/v1/memory/%" PRId64, id);
    json_t *doc;
    code = client_call(c, method, path, NULL, &doc);
    if (code == CLI_EXIT_OK) {
        if (common.json)
            clifmt_json(stdout, doc);
        else
            show(doc, id);
        json_decref(doc);
    }
    free(path);
    client_close(c);
    return code;
}

static void show_doc(const json_t *doc, int64_t id)
{
    (void)id;
    print_doc(doc);
}

static void show_deleted(const json_t *doc, int64_t id)
{
    (void)doc;
    printf("deleted document %" PRId64 "\n", id);
}

static int cmd_get(const cliopt_ctx *ctx, int argc, char **argv)
{
    return doc_request(ctx, argc, argv, "GET", show_doc);
}

static int cmd_rm(const cliopt_ctx *ctx, int argc, char **argv)
{
    return doc_request(ctx, argc, argv, "DELETE", show_deleted);
}

/* ---- list ------------------------------------------------------------- */

enum { COL_ID, COL_AGENT, COL_KIND, COL_TAGS, COL_CREATED, COL_CONTENT, NCOLS };

static void print_docs(const json_t *docs)
{
    static const char *const headers[NCOLS] = {
        "ID", "AGENT", "KIND", "TAGS", "CREATED", "CONTENT",
    };
    table *t = table_new(NCOLS, headers);
    table_set_align(t, COL_ID, TABLE_RIGHT);
    table_set_max(t, COL_AGENT, 24);
    table_set_max(t, COL_KIND, 16);
    table_set_max(t, COL_TAGS, 24);
    table_set_max(t, COL_CONTENT, 60);
    int64_t now = fs_now(&fs_clock_real);
    size_t i;
    json_t *d;
    json_array_foreach(docs, i, d)
    {
        char *id = clifmt_value(json_object_get(d, "id"));
        char *tags = clifmt_value(json_object_get(d, "tags"));
        char *content = clidoc_oneline(clifmt_str(d, "content"));
        char created[CLIFMT_CELL];
        clifmt_age(json_object_get(d, "created_at"), now, created,
                   sizeof created);
        const char *row[NCOLS] = {
            id,
            clifmt_str(d, "agent"),
            clifmt_str(d, "kind"),
            tags,
            created,
            content,
        };
        table_add(t, row);
        free(id);
        free(tags);
        free(content);
    }
    table_print(t, stdout, table_style_for(stdout));
    table_free(t);
}

typedef struct list_args {
    const char *agent, *kind, *tag, *cursor;
    cliopt_num limit;
    bool all;
} list_args;

static char *list_path(const list_args *a)
{
    char *path = xstrdup("/v1/memory");
    char limit[24];
    snprintf(limit, sizeof limit, "%" PRId64, a->limit.v);
    client_query_add(&path, "agent", a->agent);
    client_query_add(&path, "kind", a->kind);
    client_query_add(&path, "tag", a->tag);
    client_query_add(&path, "limit", a->limit.set ? limit : NULL);
    return path;
}

/* One page, or with a->all every page from a->cursor on (client_list). */
static int fetch_docs(client *c, const list_args *a, json_t **doc)
{
    char *base = list_path(a);
    int code = client_list(c, base, "documents", a->cursor, a->all, doc);
    free(base);
    return code;
}

static int cmd_list(const cliopt_ctx *ctx, int argc, char **argv)
{
    cliopt_common common = {0};
    list_args a = {0};
    const cliopt opts[] = {
        {"agent", CLIOPT_STR, &a.agent},
        {"kind", CLIOPT_STR, &a.kind},
        {"tag", CLIOPT_STR, &a.tag},
        {"limit", CLIOPT_INT, &a.limit, 1, MEMORY_MAX_BATCH},
        {"cursor", CLIOPT_STR, &a.cursor},
        {"all", CLIOPT_FLAG, &a.all},
        {NULL},
    };
    int code;
    if (!cliopt_parse(ctx, opts, argc, argv, &common, NULL, &code)) return code;
    if (!clidoc_name(ctx, "--agent", a.agent) ||
        !clidoc_name(ctx, "--kind", a.kind) ||
        !clidoc_name(ctx, "--tag", a.tag))
        return CLI_EXIT_USAGE;
    client *c;
    if (client_open(&c, &common.conn) != 0) return CLI_EXIT_USAGE;
    json_t *doc;
    code = fetch_docs(c, &a, &doc);
    if (code == CLI_EXIT_OK) {
        json_t *docs = json_object_get(doc, "documents");
        const char *next =
            json_string_value(json_object_get(doc, "next_cursor"));
        if (common.json)
            clifmt_json(stdout, doc);
        else if (json_array_size(docs) == 0)
            printf("no documents\n");
        else
            print_docs(docs);
        if (!common.json && next)
            printf("more documents: add --cursor %s (or --all)\n", next);
        json_decref(doc);
    }
    client_close(c);
    return code;
}

static const cliopt_cmd memory_cmds[] = {
    {"add", cmd_add, "TEXT | - | --file F [options]",
     "Add one document to the shared memory: TEXT itself, - for stdin, or\n"
     "the contents of file F (UTF-8 text, up to 10 MiB).  Long content is\n"
     "split into chunks by the server.  Prints the new document's id.\n"
     "\n"
     "options:\n"
     "  --file F          read the content from file F\n"
     "  --kind K          the kind of document (note, email, ...)\n"
     "  --agent A         the owner agent\n"
     "  --tag T           a tag (repeatable)\n"
     "  --meta KEY=VALUE  a metadata entry, a string (repeatable)\n"
     "  --importance X    0 to 1 (default 0.5)\n",
     "TEXT", CLIOPT_ARG_OPTIONAL},
    {"get", cmd_get, "ID [--json]",
     "Show one document: its fields, metadata and content.\n", "ID"},
    {"rm", cmd_rm, "ID",
     "Delete a document (and its chunks) from memory and every index.\n", "ID"},
    {"list", cmd_list, "[--agent A] [--kind K] [--tag T] [options]",
     "List documents, newest first, one page at a time.\n"
     "\n"
     "options:\n"
     "  --agent A       only documents of owner agent A\n"
     "  --kind K        only documents of kind K\n"
     "  --tag T         only documents tagged T\n"
     "  --limit N       documents per page (1-1000, default 50)\n"
     "  --cursor C      start at the page C from an earlier list\n"
     "  --all           follow the cursors to the last page\n",
     NULL},
};

int cli_memory_main(int argc, char **argv)
{
    return cliopt_dispatch(
        "memory",
        "Add, show, delete and list the documents of a "
        "flowstate server's shared memory.",
        memory_cmds, sizeof memory_cmds / sizeof *memory_cmds, argc, argv);
}
