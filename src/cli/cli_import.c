/*
 * cli_import.c - `flowstate import PATH`: a JSONL, CSV or text file, or a
 * folder of them, into memory (see cli.h; formats in importer.h).
 *
 * Design: the steps of every client command (cli_job.c), with the request
 * step repeated per batch:
 *   1. check the flags, then list the files: PATH itself, or every file
 *      named .jsonl, .ndjson, .csv, .txt, .md or .markdown under the
 *      folder PATH (recursively, hidden entries and symbolic links to folders
 * left out, in name order so two runs send the same batches); sum their sizes
 * for the ETA;
 *   2. with --strict, read every file once without sending: any bad
 *      record stops here (exit 2) with nothing imported;
 *   3. read the files in order, turning records into documents
 *      (importer.h), and send them as POST /v1/memory {"documents":[...]}
 *      batches of --batch documents, or fewer when the body would pass
 *      BATCH_BYTES (the server's default body limit is 1 MiB).
 * A batch is all or nothing on the server, so a refused batch is taken
 * apart rather than lost (send_docs()):
 *   400 naming documents[K]  K is skipped with the server's reason; the
 *                            documents before and after K are sent again;
 *   400 naming none, 413     the batch is halved and each half sent; one
 *                            document alone is skipped with the reason;
 *   429, 503                 retried after 0.5, 1, 2, 4, 8 s;
 *   anything else            (401, 403, 5xx, no answer) stops the import
 *                            with the exit code of cli.h.
 * Skipped records are counted by reason, the first SKIPS_PRINTED printed
 * to stderr as they happen ("FILE:LINE: skipped: why") and the first
 * SKIPS_KEPT kept for --json.  They never stop a run without --strict,
 * so the exit code is 0 when every file was read and every batch answered.
 *
 * The summary line (stdout, or the --json document) is printed whatever
 * happens once sending has started, so an interrupted run still says how
 * far it got.  Progress (progress.h) is drawn on stderr when it is a
 * terminal and erased before anything else is printed there.
 */
#include <dirent.h>
#include <errno.h>
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
#include "cli/importer.h"
#include "cli/progress.h"
#include "core/clock.h"
#include "core/xmem.h"
#include "memory/memory.h"

#define BATCH_DEFAULT 100
#define BATCH_BYTES (900u << 10)  /* under the server's default 1 MiB */
#define IMPORT_TIMEOUT_MS 300000L /* a batch waits on the embedder */
#define SKIPS_PRINTED 20
#define SKIPS_KEPT 1000
#define MAX_DEPTH 64
#define RETRIES 5

typedef struct import_args {
    const char *kind, *agent, *format, *content_field;
    cliopt_list tags;
    cliopt_num batch;
    bool strict, dry_run;
} import_args;

typedef struct src_file {
    char *path;   /* to open */
    char *source; /* in metadata and messages: relative to the folder */
    imp_format fmt;
    uint64_t size;
} src_file;

typedef struct pending {
    json_t *doc;
    const char *source; /* borrowed from the src_file */
    uint64_t line;
    size_t bytes; /* compact JSON size */
} pending;

typedef struct import_run {
    const cliopt_ctx *ctx;
    const import_args *a;
    imp_opts opts;
    bool json, sending; /* sending: not the --strict check pass */
    client *c;          /* NULL when nothing is sent */
    src_file *files;
    size_t nfiles, cap_files;
    uint64_t total_bytes, done_bytes; /* done: files finished */
    pending *batch;
    size_t n, cap, bytes;
    uint64_t imported, docs_read, skipped, by_why[IMP_SKIP_NKINDS];
    json_t *skips;
    progress *prog;
    const char *current; /* the file being read */
    int64_t start_ms;
    int code; /* CLI_EXIT_OK until something stops the run */
} import_run;

/* ---- listing the files ------------------------------------------------ */

static void add_file(import_run *r, const char *path, const char *source,
                     imp_format fmt, uint64_t size)
{
    if (r->nfiles == r->cap_files) {
        r->cap_files = r->cap_files ? r->cap_files * 2 : 16;
        r->files = xrealloc(r->files, r->cap_files * sizeof *r->files);
    }
    r->files[r->nfiles++] =
        (src_file){xstrdup(path), xstrdup(source), fmt, size};
    r->total_bytes += size;
}

static int skip_hidden(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

/*
 * Adds the importable files under dir (source names relative to the
 * folder PATH: rel), in name order.  only: the one format to take
 * (IMP_AUTO: all).  Folders that cannot be read are reported and left
 * out.
 */
static void walk(import_run *r, const char *dir, const char *rel,
                 imp_format only, int depth)
{
    struct dirent **names;
    int n = scandir(dir, &names, skip_hidden, alphasort);
    if (n < 0) {
        fprintf(stderr, "flowstate import: cannot read folder %s: %s\n", dir,
                strerror(errno));
        return;
    }
    for (int i = 0; i < n; i++) {
        char *path = xasprintf("%s/%s", dir, names[i]->d_name);
        char *src = *rel ? xasprintf("%s/%s", rel, names[i]->d_name)
                         : xstrdup(names[i]->d_name);
        struct stat st, lst;
        if (lstat(path, &lst) == 0 && stat(path, &st) == 0) {
            imp_format f = imp_format_of(path);
            if (S_ISDIR(st.st_mode) && !S_ISLNK(lst.st_mode) &&
                depth < MAX_DEPTH)
                walk(r, path, src, only, depth + 1);
            else if (S_ISREG(st.st_mode) && f != IMP_AUTO &&
                     (only == IMP_AUTO || f == only))
                add_file(r, path, src, f, (uint64_t)st.st_size);
        }
        free(path);
        free(src);
        free(names[i]);
    }
    free(names);
}

/* Fills r->files from PATH.  Returns CLI_EXIT_OK or, after printing why,
 * CLI_EXIT_USAGE. */
static int list_files(import_run *r, const char *path, imp_format fmt)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return cliopt_fail(r->ctx, "cannot read %s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        walk(r, path, "", fmt, 0);
        if (r->nfiles == 0)
            return cliopt_fail(r->ctx, "no %s files in %s",
                               fmt == IMP_JSONL ? ".jsonl"
                               : fmt == IMP_CSV ? ".csv"
                               : fmt == IMP_TEXT
                                   ? ".txt or .md"
                                   : ".jsonl, .ndjson, .csv, .txt or .md",
                               path);
        return CLI_EXIT_OK;
    }
    if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))
        return cliopt_fail(r->ctx, "%s is not a file or a folder", path);
    if (fmt == IMP_AUTO) fmt = imp_format_of(path);
    if (fmt == IMP_AUTO)
        return cliopt_fail(r->ctx,
                           "cannot tell the format of %s from its name: "
                           "give --format jsonl, csv or text",
                           path);
    const char *base = strrchr(path, '/');
    add_file(r, path, base && base[1] ? base + 1 : path, fmt,
             S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0);
    return CLI_EXIT_OK;
}

/* ---- skips and progress ----------------------------------------------- */

static uint64_t bytes_read(const import_run *r, const imp_reader *rd)
{
    return r->done_bytes + (rd ? imp_offset(rd) : 0);
}

/* Counts, prints (the first few) and keeps (for --json) one skip. */
static void note_skip(import_run *r, const char *source, uint64_t line,
                      imp_skip why, const char *detail)
{
    r->skipped++;
    r->by_why[why]++;
    if (r->skipped <= SKIPS_PRINTED && !r->json) {
        progress_clear(r->prog);
        if (line)
            fprintf(stderr, "flowstate import: %s:%llu: skipped: %s\n", source,
                    (unsigned long long)line, detail);
        else
            fprintf(stderr, "flowstate import: %s: skipped: %s\n", source,
                    detail);
        if (r->skipped == SKIPS_PRINTED)
            fprintf(stderr, "flowstate import: further skipped records are "
                            "counted, not listed\n");
    }
    if (json_array_size(r->skips) < SKIPS_KEPT) {
        json_t *s = json_pack("{s:s,s:s,s:s}", "file", source, "reason",
                              imp_skip_name(why), "detail", detail);
        if (line)
            json_object_set_new(s, "line", json_integer((json_int_t)line));
        json_array_append_new(r->skips, s);
    }
}

/* ---- sending ---------------------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* The K of an error field "documents[K]...", or -1. */
static long doc_index(const json_t *answer)
{
    json_t *err = json_object_get(answer, "error");
    const char *field = json_string_value(json_object_get(err, "field"));
    if (!field || strncmp(field, "documents[", 10)) return -1;
    char *end;
    long k = strtol(field + 10, &end, 10);
    return *end == ']' && k >= 0 ? k : -1;
}

static const char *error_message(const json_t *answer)
{
    const char *m = json_string_value(
        json_object_get(json_object_get(answer, "error"), "message"));
    return m ? m : "refused";
}

/* POSTs docs[0..n) as one batch, retrying while the server is busy.
 * Returns 0 with OUT: *resp, or CLI_EXIT_UNREACHABLE (no answer). */
static int post_batch(import_run *r, pending *docs, size_t n, client_resp *resp)
{
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append(list, docs[i].doc);
    json_t *body = json_pack("{s:o}", "documents", list);
    int code = CLI_EXIT_OK;
    for (int attempt = 0;; attempt++) {
        if (client_request(r->c, "POST", "/v1/memory", body, resp) != 0) {
            code = CLI_EXIT_UNREACHABLE;
            break;
        }
        if ((resp->status != 429 && resp->status != 503) || attempt == RETRIES)
            break;
        client_resp_clear(resp);
        sleep_ms(500L << attempt);
    }
    json_decref(body);
    return code;
}

/*
 * Sends docs[0..n) (n >= 1), taking a refused batch apart as the design
 * comment says.  Returns CLI_EXIT_OK (everything imported or skipped) or
 * the exit code that stops the run (the reason already printed).
 */
static int send_docs(import_run *r, pending *docs, size_t n)
{
    client_resp resp;
    int code = post_batch(r, docs, n, &resp);
    if (code != CLI_EXIT_OK) return code;
    long k = resp.status == 400 ? doc_index(resp.json) : -1;
    if (resp.status >= 200 && resp.status < 300) {
        size_t got = json_array_size(json_object_get(resp.json, "ids"));
        if (got != n) {
            progress_clear(r->prog);
            fprintf(stderr,
                    "flowstate import: the server answered %zu ids "
                    "for %zu documents\n",
                    got, n);
            code = CLI_EXIT_UNREACHABLE;
        } else {
            r->imported += n;
        }
    } else if (resp.status == 400 && k >= 0 && (size_t)k < n) {
        note_skip(r, docs[k].source, docs[k].line, IMP_SKIP_SERVER,
                  error_message(resp.json));
        if (k > 0) code = send_docs(r, docs, (size_t)k);
        if (code == CLI_EXIT_OK && (size_t)k + 1 < n)
            code = send_docs(r, docs + k + 1, n - (size_t)k - 1);
    } else if ((resp.status == 400 || resp.status == 413) && n > 1) {
        code = send_docs(r, docs, n / 2);
        if (code == CLI_EXIT_OK) code = send_docs(r, docs + n / 2, n - n / 2);
    } else if (resp.status == 400 || resp.status == 413) {
        note_skip(r, docs[0].source, docs[0].line, IMP_SKIP_SERVER,
                  resp.status == 413
                      ? "larger than the server accepts (HTTP 413)"
                      : error_message(resp.json));
    } else {
        progress_clear(r->prog);
        code = client_report(&resp);
    }
    client_resp_clear(&resp);
    return code;
}

/* Sends the pending batch (when anything is sent at all) and empties
 * it. */
static void flush(import_run *r, const imp_reader *rd)
{
    if (r->n == 0) return;
    if (r->c && r->code == CLI_EXIT_OK) r->code = send_docs(r, r->batch, r->n);
    if (!r->c) r->imported += r->n; /* --dry-run: would be imported */
    for (size_t i = 0; i < r->n; i++)
        json_decref(r->batch[i].doc);
    r->n = r->bytes = 0;
    progress_update(r->prog, r->imported, bytes_read(r, rd), r->current, false);
}

/* Queues one document (taking its reference), sending first when it
 * would not fit in the batch. */
static void queue_doc(import_run *r, const imp_reader *rd, json_t *doc,
                      const char *source, uint64_t line)
{
    size_t bytes = json_dumpb(doc, NULL, 0, JSON_COMPACT) + 1;
    size_t limit = r->a->batch.set ? (size_t)r->a->batch.v : BATCH_DEFAULT;
    if (r->n > 0 && (r->n == limit || r->bytes + bytes > BATCH_BYTES))
        flush(r, rd);
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->batch = xrealloc(r->batch, r->cap * sizeof *r->batch);
    }
    r->batch[r->n++] = (pending){doc, source, line, bytes};
    r->bytes += bytes;
    if (r->n == limit) flush(r, rd);
}

/* ---- one pass over the files ------------------------------------------ */

/* Reads one file: documents are queued when sending, counted otherwise. */
static void read_file(import_run *r, const src_file *f)
{
    FILE *in = fopen(f->path, "rb");
    if (!in) {
        char why[160];
        snprintf(why, sizeof why, "cannot open: %s", strerror(errno));
        note_skip(r, f->source, 0, IMP_SKIP_FILE, why);
        return;
    }
    imp_reader *rd;
    imp_item it;
    int rc = 0;
    imp_open(&rd, in, f->fmt, f->source, &r->opts);
    r->current = f->source;
    while (r->code == CLI_EXIT_OK && (rc = imp_next(rd, &it)) == 1) {
        if (it.doc) {
            r->docs_read++;
            if (r->sending) {
                queue_doc(r, rd, it.doc, f->source, it.line);
                it.doc = NULL;
            }
        } else {
            note_skip(r, f->source, it.line, it.why, it.detail);
        }
        imp_item_clear(&it);
        if (!r->sending)
            progress_update(r->prog, r->docs_read, bytes_read(r, rd), f->source,
                            false);
    }
    if (r->code == CLI_EXIT_OK && rc < 0) {
        char why[160];
        snprintf(why, sizeof why, "read error: %s", strerror(errno));
        note_skip(r, f->source, 0, IMP_SKIP_FILE, why);
    }
    imp_close(rd);
    fclose(in);
    r->done_bytes += f->size;
}

static void run_pass(import_run *r)
{
    for (size_t i = 0; i < r->nfiles && r->code == CLI_EXIT_OK; i++)
        read_file(r, &r->files[i]);
    flush(r, NULL);
    progress_update(r->prog, r->sending ? r->imported : r->docs_read,
                    r->total_bytes, NULL, true);
    progress_clear(r->prog);
}

/* ---- the summary ------------------------------------------------------ */

static void print_summary(const import_run *r)
{
    double secs = (double)(fs_mono_ms() - r->start_ms) / 1000.0;
    double rate = secs > 0 ? (double)r->imported / secs : 0;
    bool done = r->code == CLI_EXIT_OK;
    if (r->json) {
        json_t *why = json_object();
        for (int k = 1; k < IMP_SKIP_NKINDS; k++)
            if (r->by_why[k])
                json_object_set_new(why, imp_skip_name((imp_skip)k),
                                    json_integer((json_int_t)r->by_why[k]));
        json_t *doc = json_pack(
            "{s:I,s:I,s:I,s:f,s:f,s:b,s:b,s:o,s:O}", "imported",
            (json_int_t)r->imported, "skipped", (json_int_t)r->skipped, "files",
            (json_int_t)r->nfiles, "seconds", secs, "docs_per_second", rate,
            "complete", done, "dry_run", r->a->dry_run, "skipped_by_reason",
            why, "skips", r->skips);
        clifmt_json(stdout, doc);
        json_decref(doc);
        return;
    }
    char count[32];
    progress_count(count, sizeof count, r->imported);
    printf("%s%s %s document%s from %zu file%s in %.1f s (%.*f docs/s)",
           done ? "" : "stopped: ", r->a->dry_run ? "would import" : "imported",
           count, r->imported == 1 ? "" : "s", r->nfiles,
           r->nfiles == 1 ? "" : "s", secs, rate < 10 ? 1 : 0, rate);
    if (r->skipped) {
        progress_count(count, sizeof count, r->skipped);
        printf("; skipped %s:", count);
        bool first = true;
        for (int k = 1; k < IMP_SKIP_NKINDS; k++) {
            if (!r->by_why[k]) continue;
            printf("%s %llu %s", first ? "" : ",",
                   (unsigned long long)r->by_why[k],
                   imp_skip_name((imp_skip)k));
            first = false;
        }
    }
    putchar('\n');
}

/* ---- the command ------------------------------------------------------ */

static bool check_args(const cliopt_ctx *ctx, const import_args *a,
                       imp_format *fmt)
{
    json_t *tags;
    if (!clidoc_name(ctx, "--kind", a->kind) ||
        !clidoc_name(ctx, "--agent", a->agent) ||
        !clidoc_tags(ctx, &a->tags, &tags))
        return false;
    json_decref(tags);
    if (a->content_field && !*a->content_field) {
        cliopt_fail(ctx, "--content-field is empty");
        return false;
    }
    *fmt = IMP_AUTO;
    if (a->format && !imp_format_parse(a->format, fmt)) {
        cliopt_fail(ctx, "--format: '%s' is not one of auto, jsonl, csv, text",
                    a->format);
        return false;
    }
    return true;
}

static void run_free(import_run *r)
{
    for (size_t i = 0; i < r->nfiles; i++) {
        free(r->files[i].path);
        free(r->files[i].source);
    }
    free(r->files);
    free(r->batch);
    json_decref(r->skips);
    progress_free(r->prog);
}

/* --strict: one pass without sending; any skip ends the run (exit 2). */
static int strict_check(import_run *r)
{
    r->sending = false;
    r->prog = progress_new(stderr, isatty(STDERR_FILENO), r->total_bytes);
    run_pass(r);
    progress_free(r->prog);
    r->prog = NULL;
    r->sending = true;
    if (r->skipped == 0) {
        r->docs_read = 0;
        r->done_bytes = 0;
        return CLI_EXIT_OK;
    }
    fprintf(stderr,
            "flowstate import: %llu bad record%s; nothing was imported "
            "(--strict)\n",
            (unsigned long long)r->skipped, r->skipped == 1 ? "" : "s");
    return CLI_EXIT_USAGE;
}

static int import_main_run(const cliopt_ctx *ctx, int argc, char **argv)
{
    cliopt_common common = {0};
    import_args a = {0};
    const cliopt opts[] = {
        {"kind", CLIOPT_STR, &a.kind},
        {"agent", CLIOPT_STR, &a.agent},
        {"tag", CLIOPT_LIST, &a.tags},
        {"batch", CLIOPT_INT, &a.batch, 1, MEMORY_MAX_BATCH},
        {"format", CLIOPT_STR, &a.format},
        {"content-field", CLIOPT_STR, &a.content_field},
        {"strict", CLIOPT_FLAG, &a.strict},
        {"dry-run", CLIOPT_FLAG, &a.dry_run},
        {NULL},
    };
    const char *path;
    imp_format fmt;
    int code;
    if (!cliopt_parse(ctx, opts, argc, argv, &common, &path, &code))
        return code;
    if (!check_args(ctx, &a, &fmt)) return CLI_EXIT_USAGE;
    import_run r = {
        .ctx = ctx,
        .a = &a,
        .opts = {a.content_field, a.kind, a.agent, a.tags.v, a.tags.n},
        .json = common.json,
        .sending = true,
        .skips = json_array(),
    };
    code = list_files(&r, path, fmt);
    if (code == CLI_EXIT_OK && a.strict) code = strict_check(&r);
    if (code == CLI_EXIT_OK && !a.dry_run) {
        if (!common.conn.timeout_ms) common.conn.timeout_ms = IMPORT_TIMEOUT_MS;
        if (client_open(&r.c, &common.conn) != 0) code = CLI_EXIT_USAGE;
    }
    if (code != CLI_EXIT_OK) {
        run_free(&r);
        return code;
    }
    r.start_ms = fs_mono_ms();
    r.prog = progress_new(stderr, isatty(STDERR_FILENO), r.total_bytes);
    run_pass(&r);
    print_summary(&r);
    code = r.code;
    client_close(r.c);
    run_free(&r);
    return code;
}

static const cliopt_cmd import_cmd = {
    "import",
    import_main_run,
    "PATH [options]",
    "Import a JSONL, CSV or text file, or a folder of them (recursively:\n"
    "*.jsonl, *.ndjson, *.csv, and *.txt, *.md as one document per file),\n"
    "into memory, in batches.  Bad records are skipped with a reason and\n"
    "counted; a summary line ends the run.\n"
    "\n"
    "JSONL: one object per line; the content is \"content\", or \"text\"\n"
    "(with \"title\" in front when both exist); kind, agent, tags,\n"
    "importance and metadata keep their meaning; other string and number\n"
    "fields become metadata.\n"
    "CSV: a header row; the content is the column named content, text,\n"
    "notes or description, or all columns as \"name: value\" lines; the\n"
    "other columns become metadata.\n"
    "\n"
    "options:\n"
    "  --kind K             kind of every document (unless a record has one)\n"
    "  --agent A            owner agent (unless a record has one)\n"
    "  --tag T              a tag for every document (repeatable)\n"
    "  --batch N            documents per request (1-1000, default 100)\n"
    "  --format F           auto (by file name), jsonl, csv or text; for a\n"
    "                       folder, import only files of that format\n"
    "  --content-field F    the JSONL field or CSV column holding the content\n"
    "  --strict             check every file first; any bad record: import\n"
    "                       nothing and exit 2\n"
    "  --dry-run            read and check only; send nothing\n"
    "  --json               print the summary as JSON (with the skips)\n",
    "PATH",
    0};

int cli_import_main(int argc, char **argv)
{
    return cliopt_single(&import_cmd, argc, argv);
}
