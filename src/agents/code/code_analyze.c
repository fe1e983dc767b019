/*
 * code_analyze.c - analyze_code over buffers, files and folders (see
 * code_analyze.h for the result).
 *
 * A file goes lexer -> functions -> checks -> its JSON object; the batch
 * keeps the objects of the files analysed and hands each file's lines to
 * the duplicate finder, which runs once all files are in
 * (code_batch_finish), adding its findings to both sides before each
 * file's findings are sorted by line and the summary is summed.
 *
 *   code_batch_new -> code_batch_add / code_batch_add_path ... -> finish
 *                         (FS_ELIMIT once full or cancelled)
 */
#include "agents/code/code_analyze.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agents/code/code_checks.h"
#include "agents/code/code_dup.h"
#include "agents/code/code_funcs.h"
#include "agents/code/code_lexer.h"
#include "core/fs.h"
#include "core/xmem.h"

/* Folders deeper than this below the one asked for are not walked. */
#define MAX_DEPTH 32

struct code_batch {
    code_options opt;
    json_t *files, *notes;
    code_dup *dup;
    json_t **analysed; /* by duplicate-finder index: the file objects */
    size_t nanalysed, cap;
    size_t taken, skipped, errors, bytes;
    size_t strip; /* leading bytes of disk paths not shown (the root/) */
    bool stopped; /* full or cancelled (noted) */
};

static void set_int(json_t *o, const char *key, size_t v)
{
    json_object_set_new(o, key, json_integer((json_int_t)v));
}

/* Cuts the array o[key] to CODE_MAX_LISTED, keeping its full length as
 * o[key_total]. */
static void trim(json_t *o, const char *key, const char *key_total)
{
    json_t *a = json_object_get(o, key);
    size_t n = json_array_size(a);
    if (n <= CODE_MAX_LISTED) return;
    set_int(o, key_total, n);
    while (json_array_size(a) > CODE_MAX_LISTED)
        json_array_remove(a, json_array_size(a) - 1);
}

/* The full length of o[key] (see trim). */
static size_t total(const json_t *o, const char *key, const char *key_total)
{
    json_t *t = json_object_get(o, key_total);
    return t ? (size_t)json_integer_value(t)
             : json_array_size(json_object_get(o, key));
}

static json_t *functions_json(const code_func *f, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "name",
                            code_check_string(f[i].name, f[i].name_len));
        set_int(o, "line", f[i].line);
        set_int(o, "length", f[i].end_line - f[i].line + 1);
        set_int(o, "complexity", f[i].complexity);
        set_int(o, "nesting", f[i].nesting);
        json_array_append_new(a, o);
    }
    return a;
}

static int by_line(const void *a, const void *b)
{
    const code_func *x = a, *y = b;
    if (x->line != y->line) return (x->line > y->line) - (x->line < y->line);
    return (x->first > y->first) - (x->first < y->first);
}

/* The file object of lx (see code_analyze.h), findings not yet sorted. */
static json_t *file_json(const char *path, const code_lexed *lx)
{
    code_func *f;
    size_t nf, counts[3] = { 0 };
    code_funcs_find(lx, &f, &nf);
    if (nf) qsort(f, nf, sizeof *f, by_line);
    for (size_t i = 1; i <= lx->nlines; i++)
        counts[lx->lines[i] & CODE_LINE_CODE      ? 0
               : lx->lines[i] & CODE_LINE_COMMENT ? 1
                                                  : 2]++;
    json_t *findings = json_array();
    size_t todos = code_check_run(lx, f, nf, findings);
    json_t *o = json_pack("{s:s,s:s}", "path", "", "language",
                          code_lang_name(lx->lang));
    json_object_set_new(o, "path", code_check_string(path, strlen(path)));
    set_int(o, "lines", lx->nlines);
    set_int(o, "loc", counts[0]);
    set_int(o, "comments", counts[1]);
    set_int(o, "blank", counts[2]);
    json_object_set_new(o, "functions", functions_json(f, nf));
    json_object_set_new(o, "findings", findings);
    set_int(o, "todos", todos);
    trim(o, "functions", "functions_total");
    free(f);
    return o;
}

typedef struct ordered {
    json_t *finding;
    size_t index;
} ordered;

static int by_finding_line(const void *a, const void *b)
{
    const ordered *x = a, *y = b;
    json_int_t l = json_integer_value(json_object_get(x->finding, "line"));
    json_int_t m = json_integer_value(json_object_get(y->finding, "line"));
    if (l != m) return (l > m) - (l < m);
    return (x->index > y->index) - (x->index < y->index);
}

/* Orders the findings of file object o by line (stable). */
static void sort_findings(json_t *o)
{
    json_t *a = json_object_get(o, "findings");
    size_t n = json_array_size(a);
    if (n < 2) return;
    ordered *v = xmalloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (ordered){ json_incref(json_array_get(a, i)), i };
    qsort(v, n, sizeof *v, by_finding_line);
    json_array_clear(a);
    for (size_t i = 0; i < n; i++) json_array_append_new(a, v[i].finding);
    free(v);
}

/* ---- duplicates ---------------------------------------------------------- */

static json_t *range_json(json_t *file, uint32_t first, uint32_t last)
{
    return json_pack("{s:O,s:I,s:I}", "path", json_object_get(file, "path"),
                     "line", (json_int_t)first, "end_line", (json_int_t)last);
}

/* The finding on one side of a duplicate, naming the other side. */
static void dup_finding(json_t *file, const code_dup_range *self,
                        json_t *other_file, const code_dup_range *other)
{
    char msg[PATH_MAX + 96];
    snprintf(msg, sizeof msg, "lines %u-%u repeat %s:%u-%u", self->first,
             self->last, json_string_value(json_object_get(other_file, "path")),
             other->first, other->last);
    json_t *f = json_pack("{s:I,s:I,s:s,s:s,s:s,s:o}", "line",
                          (json_int_t)self->first, "end_line",
                          (json_int_t)self->last, "severity", "info", "rule",
                          "duplicate", "message", msg, "other",
                          range_json(other_file, other->first, other->last));
    json_array_append_new(json_object_get(file, "findings"), f);
}

/* Reports the duplicates among the batch's files.  Returns the list. */
static json_t *duplicates(code_batch *b)
{
    code_dup_pair *p;
    size_t n;
    json_t *list = json_array();
    code_dup_find(b->dup, &p, &n);
    for (size_t i = 0; i < n && i < CODE_MAX_DUPLICATES; i++) {
        json_t *copy = b->analysed[p[i].copy.file];
        json_t *orig = b->analysed[p[i].orig.file];
        dup_finding(copy, &p[i].copy, orig, &p[i].orig);
        dup_finding(orig, &p[i].orig, copy, &p[i].copy);
        json_array_append_new(
            list, json_pack("{s:I,s:o,s:o}", "lines", (json_int_t)p[i].lines,
                            "copy",
                            range_json(copy, p[i].copy.first, p[i].copy.last),
                            "original",
                            range_json(orig, p[i].orig.first,
                                       p[i].orig.last)));
    }
    if (n > CODE_MAX_DUPLICATES)
        code_batch_note(b, "%zu duplicated blocks, the first %d listed", n,
                        CODE_MAX_DUPLICATES);
    free(p);
    return list;
}

/* ---- one buffer ---------------------------------------------------------- */

int code_analyze_buffer(const char *path, const char *content, size_t len,
                        json_t **out)
{
    code_lexed lx;
    int rc = code_lex(code_lang_of(path), content, len, &lx);
    if (rc) return rc;
    json_t *o = file_json(path, &lx);
    code_dup *d = code_dup_new(0);
    code_dup_add(d, &lx);
    code_lex_free(&lx);
    code_dup_pair *p;
    size_t n;
    code_dup_find(d, &p, &n);
    for (size_t i = 0; i < n; i++) {
        dup_finding(o, &p[i].copy, o, &p[i].orig);
        dup_finding(o, &p[i].orig, o, &p[i].copy);
    }
    free(p);
    code_dup_free(d);
    sort_findings(o);
    trim(o, "findings", "findings_total");
    *out = o;
    return 0;
}

/* ---- the batch ----------------------------------------------------------- */

code_batch *code_batch_new(const code_options *o)
{
    code_batch *b = xcalloc(1, sizeof *b);
    if (o) b->opt = *o;
    if (!b->opt.max_files) b->opt.max_files = CODE_MAX_FILES;
    if (!b->opt.max_bytes) b->opt.max_bytes = CODE_MAX_BYTES;
    if (!b->opt.max_total) b->opt.max_total = CODE_MAX_TOTAL;
    b->files = json_array();
    b->notes = json_array();
    b->dup = code_dup_new(0);
    return b;
}

void code_batch_free(code_batch *b)
{
    if (!b) return;
    json_decref(b->files);
    json_decref(b->notes);
    code_dup_free(b->dup);
    free(b->analysed);
    free(b);
}

void code_batch_note(code_batch *b, const char *fmt, ...)
{
    char buf[PATH_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    json_array_append_new(b->notes, code_check_string(buf, strlen(buf)));
}

static void file_error(code_batch *b, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void file_error(code_batch *b, const char *path, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    json_array_append_new(
        b->files, json_pack("{s:o,s:s}", "path",
                            code_check_string(path, strlen(path)), "error",
                            buf));
    b->errors++;
}

/* Takes one more file, or says why not (FS_ELIMIT). */
static int take(code_batch *b)
{
    if (b->stopped) return FS_ELIMIT;
    if (b->opt.cancelled && b->opt.cancelled(b->opt.ctx)) {
        code_batch_note(b, "cancelled after %zu files", b->taken);
        b->stopped = true;
    } else if (b->taken >= b->opt.max_files) {
        code_batch_note(b, "stopped at the limit of %zu files",
                        b->opt.max_files);
        b->stopped = true;
    }
    if (b->stopped) return FS_ELIMIT;
    b->taken++;
    return 0;
}

int code_batch_add(code_batch *b, const char *path, const char *content,
                   size_t len)
{
    code_lang lang = code_lang_of(path);
    if (lang == CODE_LANG_UNKNOWN) {
        code_batch_note(b, "%s: skipped (not C, C++, Python, JavaScript or "
                           "TypeScript by its extension)", path);
        b->skipped++;
        return 0;
    }
    int rc = take(b);
    if (rc) return rc;
    if (len > b->opt.max_bytes) {
        file_error(b, path, "%zu bytes, over the limit of %zu", len,
                   b->opt.max_bytes);
        return 0;
    }
    if (memchr(content, '\0', len)) {
        file_error(b, path, "binary content (NUL bytes)");
        return 0;
    }
    if (len > b->opt.max_total - b->bytes) {
        code_batch_note(b, "stopped before %s: over %zu bytes in all", path,
                        b->opt.max_total);
        b->stopped = true;
        return FS_ELIMIT;
    }
    b->bytes += len;
    code_lexed lx;
    code_lex(lang, content, len, &lx);
    json_t *o = file_json(path, &lx);
    json_array_append_new(b->files, o);
    if (b->nanalysed == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->analysed = xrealloc(b->analysed, b->cap * sizeof *b->analysed);
    }
    b->analysed[b->nanalysed++] = o;
    code_dup_add(b->dup, &lx);
    code_lex_free(&lx);
    return 0;
}

/* ---- files and folders --------------------------------------------------- */

/* Reads the file opened as fd and adds it as name. */
static int add_fd(code_batch *b, const char *name, int fd, off_t size)
{
    if ((size_t)size > b->opt.max_bytes) {
        int rc = take(b);
        if (!rc)
            file_error(b, name, "%lld bytes, over the limit of %zu",
                       (long long)size, b->opt.max_bytes);
        return rc;
    }
    char *buf = xmalloc((size_t)size + 1);
    size_t got = 0;
    ssize_t r = 1;
    while (got < (size_t)size &&
           ((r = read(fd, buf + got, (size_t)size - got)) > 0 ||
            (r < 0 && errno == EINTR)))
        if (r > 0) got += (size_t)r;
    int rc = 0;
    if (r < 0) {
        if (!(rc = take(b))) file_error(b, name, "read: %s", strerror(errno));
    } else {
        rc = code_batch_add(b, name, buf, got);
    }
    free(buf);
    return rc;
}

static int add_file(code_batch *b, const char *path)
{
    const char *name = strlen(path) > b->strip ? path + b->strip : path;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int rc = take(b);
        if (!rc) file_error(b, name, "open: %s", strerror(errno));
        if (fd >= 0) close(fd);
        return rc;
    }
    int rc = add_fd(b, name, fd, st.st_size);
    close(fd);
    return rc;
}

static bool skipped_dir(const char *name)
{
    return name[0] == '.' || !strcmp(name, "build") ||
           !strcmp(name, "node_modules") || !strcmp(name, "__pycache__");
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir, sorted, hidden ones left out.  OUT: *n. */
static char **list_dir(DIR *dir, size_t *n)
{
    char **names = NULL;
    size_t cap = 0;
    struct dirent *e;
    *n = 0;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.') continue;
        if (*n == cap) names = xrealloc(names, (cap = cap ? 2 * cap : 32) *
                                                   sizeof *names);
        names[(*n)++] = xstrdup(e->d_name);
    }
    if (*n) qsort(names, *n, sizeof *names, by_name);
    return names;
}

static int walk(code_batch *b, const char *dir, int depth);

/* One entry of a folder being walked. */
static int walk_entry(code_batch *b, const char *path, const char *name,
                      int depth)
{
    struct stat st;
    if (lstat(path, &st) < 0) return 0;
    if (S_ISDIR(st.st_mode)) {
        if (skipped_dir(name) || depth >= MAX_DEPTH) return 0;
        return walk(b, path, depth + 1);
    }
    if (!S_ISREG(st.st_mode)) return 0;
    if (code_lang_of(name) == CODE_LANG_UNKNOWN) {
        b->skipped++;
        return 0;
    }
    return add_file(b, path);
}

static int walk(code_batch *b, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d) {
        code_batch_note(b, "%s: %s", dir, strerror(errno));
        return 0;
    }
    size_t n;
    char **names = list_dir(d, &n);
    closedir(d);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char *path = xasprintf("%s%s%s", dir,
                               dir[strlen(dir) - 1] == '/' ? "" : "/",
                               names[i]);
        if (!rc) rc = walk_entry(b, path, names[i], depth);
        free(path);
        free(names[i]);
    }
    free(names);
    return rc;
}

int code_batch_add_path(code_batch *b, const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) return FS_ENOTFOUND;
    if (S_ISDIR(st.st_mode)) return walk(b, path, 0);
    if (!S_ISREG(st.st_mode)) return FS_EINVAL;
    return add_file(b, path);
}

json_t *code_batch_finish(code_batch *b)
{
    json_t *dups = duplicates(b);
    size_t sums[7] = { 0 };
    static const char *const keys[] = { "lines", "loc", "comments", "blank",
                                        "todos" };
    for (size_t i = 0; i < b->nanalysed; i++) {
        json_t *o = b->analysed[i];
        sort_findings(o);
        trim(o, "findings", "findings_total");
        for (size_t k = 0; k < 5; k++)
            sums[k] += (size_t)json_integer_value(json_object_get(o, keys[k]));
        sums[5] += total(o, "functions", "functions_total");
        sums[6] += total(o, "findings", "findings_total");
    }
    json_t *summary = json_object();
    set_int(summary, "files", b->nanalysed);
    for (size_t k = 0; k < 4; k++) set_int(summary, keys[k], sums[k]);
    set_int(summary, "functions", sums[5]);
    set_int(summary, "findings", sums[6]);
    set_int(summary, "todos", sums[4]);
    set_int(summary, "duplicates", json_array_size(dups));
    set_int(summary, "skipped", b->skipped);
    set_int(summary, "errors", b->errors);
    json_t *out = json_pack("{s:O,s:o,s:o,s:O}", "files", b->files,
                            "duplicates", dups, "summary", summary, "notes",
                            b->notes);
    code_batch_free(b);
    return out;
}

/* ---- requests ------------------------------------------------------------ */

int code_analyze_path(const char *path, size_t max_files, size_t max_bytes,
                      json_t **out)
{
    code_options o = { .max_files = max_files, .max_bytes = max_bytes };
    code_batch *b = code_batch_new(&o);
    int rc = code_batch_add_path(b, path);
    if (rc && rc != FS_ELIMIT) {
        code_batch_free(b);
        return rc;
    }
    *out = code_batch_finish(b);
    return 0;
}

static void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* The payload's positive integer at key when below cap, else cap. */
static size_t limit(const json_t *payload, const char *key, size_t cap)
{
    json_t *v = json_object_get(payload, key);
    json_int_t n = json_integer_value(v);
    return json_is_integer(v) && n > 0 && (size_t)n < cap ? (size_t)n : cap;
}

static int add_files(code_batch *b, const json_t *files, char *err,
                     size_t errlen)
{
    size_t i;
    json_t *f;
    json_array_foreach (files, i, f) {
        const char *path = json_string_value(json_object_get(f, "path"));
        json_t *content = json_object_get(f, "content");
        if (!path || !json_is_string(content)) {
            errf(err, errlen, "files[%zu]: needs \"path\" and \"content\" "
                              "strings", i);
            return FS_EINVAL;
        }
        if (code_batch_add(b, path, json_string_value(content),
                           json_string_length(content)))
            break;
    }
    return 0;
}

/* Adds path, read under root when there is one (and refused when it
 * resolves outside), shown relative to root. */
static int add_rooted(code_batch *b, const char *root, const char *path,
                      char *err, size_t errlen)
{
    if (!root) return code_batch_add_path(b, path);
    char *joined = xasprintf("%s/%s", root, path);
    char *real = realpath(joined, NULL), *top = realpath(root, NULL);
    size_t n = top ? strlen(top) : 0;
    int rc = 0;
    if (!real || !top) rc = FS_ENOTFOUND;
    else if (strncmp(real, top, n) || (real[n] != '/' && real[n] != '\0' &&
                                       strcmp(top, "/")))
        rc = FS_EFORBIDDEN;
    if (rc == FS_EFORBIDDEN) errf(err, errlen, "%s: outside the root", path);
    if (!rc) {
        b->strip = strlen(root) + 1;
        rc = code_batch_add_path(b, joined);
    }
    free(joined);
    free(real);
    free(top);
    return rc;
}

int code_analyze(const json_t *payload, const code_options *o, json_t **out,
                 char *err, size_t errlen)
{
    code_options opt = o ? *o : (code_options){ 0 };
    json_t *files = json_object_get(payload, "files");
    const char *path = json_string_value(json_object_get(payload, "path"));
    if (!json_is_array(files) && !path) {
        errf(err, errlen, "needs \"files\" ([{\"path\",\"content\"}]) or "
                          "\"path\" (a file or folder)");
        return FS_EINVAL;
    }
    opt.max_files = limit(payload, "max_files",
                          opt.max_files ? opt.max_files : CODE_MAX_FILES);
    opt.max_bytes = limit(payload, "max_bytes",
                          opt.max_bytes ? opt.max_bytes : CODE_MAX_BYTES);
    code_batch *b = code_batch_new(&opt);
    int rc = json_is_array(files) ? add_files(b, files, err, errlen)
                   : add_rooted(b, opt.root, path, err, errlen);
    if (rc == FS_ENOTFOUND) errf(err, errlen, "%s: not found", path);
    else if (rc == FS_EINVAL && !json_is_array(files))
        errf(err, errlen, "%s: neither a file nor a folder", path);
    if (rc && rc != FS_ELIMIT) {
        code_batch_free(b);
        return rc;
    }
    *out = code_batch_finish(b);
    return 0;
}
