/*
 * importer.c - files to memory documents (see importer.h).
 *
 * Design: one reader type for the three formats; imp_next() dispatches on
 * the format to a function that reads one record and turns it into a
 * document or a skip.  The work common to every format is in one place,
 * finish_doc(): the --kind/--agent/--tag defaults, "source" and "line"
 * metadata, and the checks the server would make (content size and
 * blanks), so a file is checked the same way whatever its format and most
 * bad records never cost a request.
 *
 * Input is read in blocks (JSONL and text by read_block(), CSV by csv.h),
 * never a whole file and never an unbounded line: a JSONL line over
 * IMP_MAX_LINE is dropped while it is read and reported as too long, and
 * a text file over MEMORY_MAX_CONTENT is not read past the limit.  The
 * byte offset for progress is what the reader consumed.
 *
 * A CSV file's header is read on the first imp_next(); a header that
 * cannot be used (malformed, not UTF-8, without the --content-field
 * column) gives one IMP_SKIP_FILE item and then the end of the file.
 */
#include "cli/importer.h"

#include <ctype.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "cli/csv.h"
#include "core/fs.h"
#include "core/xmem.h"
#include "memory/memory.h"

#define IN_CAP (64u << 10)

struct imp_reader {
    FILE *f;
    imp_format fmt;
    char *source;
    imp_opts o;
    bool done; /* no more items (end, or after an IMP_SKIP_FILE) */
    /* JSONL and text: block input */
    unsigned char *in;
    size_t in_pos, in_len;
    uint64_t read_total;
    bool eof, io_error;
    char *line; /* the current JSONL line */
    size_t line_len, line_cap;
    uint64_t lineno;
    /* CSV */
    csv_reader *csv;
    char **header;
    size_t ncols;
    long content_col; /* -1: every column joined */
};

/* ---- names ------------------------------------------------------------ */

static bool has_ext(const char *path, const char *ext)
{
    size_t n = strlen(path), e = strlen(ext);
    return n > e && !strcasecmp(path + n - e, ext);
}

imp_format imp_format_of(const char *path)
{
    if (has_ext(path, ".jsonl") || has_ext(path, ".ndjson")) return IMP_JSONL;
    if (has_ext(path, ".csv")) return IMP_CSV;
    if (has_ext(path, ".txt") || has_ext(path, ".md") ||
        has_ext(path, ".markdown"))
        return IMP_TEXT;
    return IMP_AUTO;
}

static const char *const format_names[] = {"auto", "jsonl", "csv", "text"};

bool imp_format_parse(const char *s, imp_format *out)
{
    for (size_t i = 0; i < sizeof format_names / sizeof *format_names; i++) {
        if (!strcmp(s, format_names[i])) {
            *out = (imp_format)i;
            return true;
        }
    }
    return false;
}

const char *imp_format_name(imp_format f)
{
    return (unsigned)f < sizeof format_names / sizeof *format_names
               ? format_names[f]
               : "?";
}

const char *imp_skip_name(imp_skip why)
{
    static const char *const names[IMP_SKIP_NKINDS] = {
        [IMP_SKIP_NONE] = "not skipped",
        [IMP_SKIP_JSON] = "not a JSON object",
        [IMP_SKIP_FIELDS] = "wrong number of fields",
        [IMP_SKIP_MALFORMED] = "malformed CSV",
        [IMP_SKIP_NO_CONTENT] = "no content",
        [IMP_SKIP_EMPTY] = "empty content",
        [IMP_SKIP_TOO_LONG] = "too long",
        [IMP_SKIP_UTF8] = "not UTF-8",
        [IMP_SKIP_BAD_FIELD] = "bad field",
        [IMP_SKIP_FILE] = "unusable file",
        [IMP_SKIP_SERVER] = "refused by the server",
    };
    return (unsigned)why < IMP_SKIP_NKINDS ? names[why] : "?";
}

/* ---- open and close --------------------------------------------------- */

int imp_open(imp_reader **out, FILE *f, imp_format fmt, const char *source,
             const imp_opts *opts)
{
    if (fmt != IMP_JSONL && fmt != IMP_CSV && fmt != IMP_TEXT) return FS_EINVAL;
    imp_reader *r = xcalloc(1, sizeof *r);
    r->f = f;
    r->fmt = fmt;
    r->source = xstrdup(source ? source : "");
    if (opts) r->o = *opts;
    if (fmt == IMP_CSV) {
        csv_open(&r->csv, f, &(csv_opts){.max_record = IMP_MAX_LINE});
    } else {
        r->in = xmalloc(IN_CAP);
    }
    *out = r;
    return 0;
}

void imp_close(imp_reader *r)
{
    if (!r) return;
    csv_close(r->csv);
    for (size_t i = 0; i < r->ncols; i++)
        free(r->header[i]);
    free(r->header);
    free(r->in);
    free(r->line);
    free(r->source);
    free(r);
}

void imp_item_clear(imp_item *it)
{
    json_decref(it->doc);
    memset(it, 0, sizeof *it);
}

uint64_t imp_offset(const imp_reader *r)
{
    if (r->csv) return csv_offset(r->csv);
    return r->read_total - (r->in_len - r->in_pos);
}

/* ---- checks shared by every format ------------------------------------ */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned cp, min;
    if (s[0] < 0x80) return 1;
    if ((s[0] & 0xe0) == 0xc0)
        len = 2, min = 0x80, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        len = 3, min = 0x800, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        len = 4, min = 0x10000, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

/* Valid UTF-8 without NUL bytes (JSON strings and SQLite text both
 * need that). */
static bool text_ok(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = u[i] ? utf8_seq(u + i, n - i) : 0;
        if (!k) return false;
        i += k;
    }
    return true;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i])) return false;
    return true;
}

static int skip(imp_item *it, imp_skip why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int skip(imp_item *it, imp_skip why, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->detail, sizeof it->detail, fmt, ap);
    va_end(ap);
    json_decref(it->doc);
    it->doc = NULL;
    it->why = why;
    return 1;
}

static bool has_tag(const json_t *tags, const char *t)
{
    size_t i;
    json_t *v;
    json_array_foreach(tags, i, v)
    {
        if (!strcmp(json_string_value(v), t)) return true;
    }
    return false;
}

/*
 * Completes it->doc, which holds "content" (a checked string) and perhaps
 * fields a JSONL record set: the defaults from the options, tags merged,
 * "source"/"line" metadata.  Returns 1 (the item is ready, a document or
 * a skip).
 */
static int finish_doc(imp_reader *r, imp_item *it)
{
    json_t *doc = it->doc;
    json_t *content = json_object_get(doc, "content");
    size_t n = json_string_length(content);
    if (n > MEMORY_MAX_CONTENT)
        return skip(it, IMP_SKIP_TOO_LONG, "content is %zu bytes, over %u", n,
                    MEMORY_MAX_CONTENT);
    if (blank(json_string_value(content), n))
        return skip(it, IMP_SKIP_EMPTY, "the content is empty");
    if (r->o.kind && !json_object_get(doc, "kind"))
        json_object_set_new(doc, "kind", json_string(r->o.kind));
    if (r->o.agent && !json_object_get(doc, "agent"))
        json_object_set_new(doc, "agent", json_string(r->o.agent));
    json_t *own = json_object_get(doc, "tags");
    if (r->o.ntags || own) {
        json_t *tags = json_array();
        for (size_t i = 0; i < r->o.ntags; i++)
            if (!has_tag(tags, r->o.tags[i]))
                json_array_append_new(tags, json_string(r->o.tags[i]));
        size_t i;
        json_t *v;
        json_array_foreach(own, i, v)
        {
            if (!has_tag(tags, json_string_value(v)))
                json_array_append(tags, v);
        }
        json_object_set_new(doc, "tags", tags);
        if (json_array_size(tags) > IMP_MAX_TAGS)
            return skip(it, IMP_SKIP_BAD_FIELD, "more than %d tags",
                        IMP_MAX_TAGS);
    }
    json_t *meta = json_object_get(doc, "metadata");
    if (!meta) {
        meta = json_object();
        json_object_set_new(doc, "metadata", meta);
    }
    if (*r->source && !json_object_get(meta, "source"))
        json_object_set_new(meta, "source", json_string(r->source));
    if (it->line && !json_object_get(meta, "line"))
        json_object_set_new(meta, "line", json_integer((json_int_t)it->line));
    return 1;
}

/* ---- block input: JSONL lines and text files -------------------------- */

static bool read_block(imp_reader *r)
{
    if (r->eof) return false;
    bool first = r->read_total == 0;
    size_t n = fread(r->in, 1, IN_CAP, r->f);
    r->read_total += n;
    r->in_pos = 0;
    r->in_len = n;
    if (n == 0) {
        r->eof = true;
        r->io_error = ferror(r->f) != 0;
        return false;
    }
    if (first && n >= 3 && !memcmp(r->in, "\xef\xbb\xbf", 3)) r->in_pos = 3;
    return r->in_pos < r->in_len || read_block(r);
}

static void line_append(imp_reader *r, const void *p, size_t n, bool *over)
{
    if (*over) return;
    if (r->line_len + n > IMP_MAX_LINE) {
        *over = true;
        return;
    }
    if (r->line_len + n + 1 > r->line_cap) {
        r->line_cap = (r->line_len + n + 1) * 2;
        if (r->line_cap > IMP_MAX_LINE + 1) r->line_cap = IMP_MAX_LINE + 1;
        r->line = xrealloc(r->line, r->line_cap);
    }
    memcpy(r->line + r->line_len, p, n);
    r->line_len += n;
}

/* The next line into r->line (NUL-terminated, without its LF or CRLF).
 * Returns 1, 0 at the end, FS_EIO.  OUT: *over when the line was longer
 * than IMP_MAX_LINE (then r->line holds its start only). */
static int read_line(imp_reader *r, bool *over)
{
    bool any = false;
    *over = false;
    r->line_len = 0;
    for (;;) {
        if (r->in_pos == r->in_len && !read_block(r)) break;
        any = true;
        const unsigned char *p = r->in + r->in_pos;
        size_t avail = r->in_len - r->in_pos;
        const unsigned char *nl = memchr(p, '\n', avail);
        size_t take = nl ? (size_t)(nl - p) : avail;
        line_append(r, p, take, over);
        r->in_pos += take + (nl != NULL);
        if (nl) break;
    }
    if (r->io_error) return FS_EIO;
    if (!any) return 0;
    r->lineno++;
    if (!*over && r->line_len && r->line[r->line_len - 1] == '\r')
        r->line_len--;
    if (!r->line) r->line = xmalloc(r->line_cap = 1);
    r->line[r->line_len] = '\0';
    return 1;
}

/* ---- JSONL ------------------------------------------------------------ */

/* A string field for the document (kind, agent): 1..IMP_MAX_NAME bytes. */
static bool name_field(json_t *rec, const char *key, json_t *doc)
{
    json_t *v = json_object_get(rec, key);
    if (!v || json_is_null(v)) return true;
    size_t n = json_string_length(v);
    if (!json_is_string(v) || n == 0 || n > IMP_MAX_NAME) return false;
    json_object_set(doc, key, v);
    return true;
}

static bool tags_field(json_t *rec, json_t *doc)
{
    json_t *v = json_object_get(rec, "tags"), *t;
    size_t i;
    if (!v || json_is_null(v)) return true;
    if (!json_is_array(v)) return false;
    json_array_foreach(v, i, t)
    {
        size_t n = json_string_length(t);
        if (!json_is_string(t) || n == 0 || n > IMP_MAX_NAME) return false;
    }
    json_object_set(doc, "tags", v);
    return true;
}

/* The document fields of our own format; false names the bad one in
 * *bad. */
static bool doc_fields(json_t *rec, json_t *doc, const char **bad)
{
    json_t *v;
    if (!name_field(rec, "kind", doc)) return *bad = "kind", false;
    if (!name_field(rec, "agent", doc)) return *bad = "agent", false;
    if (!tags_field(rec, doc)) return *bad = "tags", false;
    v = json_object_get(rec, "importance");
    if (v && !json_is_null(v)) {
        double x = json_number_value(v);
        if (!json_is_number(v) || x < 0 || x > 1)
            return *bad = "importance", false;
        json_object_set(doc, "importance", v);
    }
    v = json_object_get(rec, "embedding");
    if (v && !json_is_null(v)) {
        if (!json_is_array(v)) return *bad = "embedding", false;
        json_object_set(doc, "embedding", v);
    }
    v = json_object_get(rec, "metadata");
    if (v && !json_is_null(v) && !json_is_object(v))
        return *bad = "metadata", false;
    return true;
}

static bool is_doc_field(const char *k)
{
    static const char *const fields[] = {"kind",       "agent",     "tags",
                                         "importance", "embedding", "metadata"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        if (!strcmp(k, fields[i])) return true;
    return false;
}

/*
 * Picks the content of a JSONL record (see importer.h).  Returns the
 * content as a new string reference, or NULL after filling the skip.
 * OUT: used[0..2] the keys it consumed (NULL-padded).
 */
static json_t *jsonl_content(imp_reader *r, json_t *rec, imp_item *it,
                             const char *used[2])
{
    used[0] = used[1] = NULL;
    const char *f = r->o.content_field;
    if (f) {
        json_t *v = json_object_get(rec, f);
        if (!json_is_string(v)) {
            skip(it, IMP_SKIP_NO_CONTENT, "no string field \"%s\"", f);
            return NULL;
        }
        used[0] = f;
        return json_incref(v);
    }
    json_t *content = json_object_get(rec, "content");
    json_t *text = json_object_get(rec, "text");
    json_t *title = json_object_get(rec, "title");
    if (content) {
        used[0] = "content";
        if (json_is_string(content)) return json_incref(content);
        skip(it, IMP_SKIP_NO_CONTENT, "\"content\" is not a string");
        return NULL;
    }
    if (!text) {
        skip(it, IMP_SKIP_NO_CONTENT, "no \"content\" or \"text\" field");
        return NULL;
    }
    if (!json_is_string(text)) {
        skip(it, IMP_SKIP_NO_CONTENT, "\"text\" is not a string");
        return NULL;
    }
    used[0] = "text";
    if (!json_is_string(title) ||
        blank(json_string_value(title), json_string_length(title)))
        return json_incref(text);
    used[1] = "title";
    if (blank(json_string_value(text), json_string_length(text)))
        return json_incref(title);
    size_t nt = json_string_length(title), nx = json_string_length(text);
    char *joined = xmalloc(nt + nx + 3);
    memcpy(joined, json_string_value(title), nt);
    memcpy(joined + nt, "\n\n", 2);
    memcpy(joined + nt + 2, json_string_value(text), nx);
    json_t *s = json_stringn_nocheck(joined, nt + nx + 2);
    free(joined);
    return s;
}

/* A JSONL record (an object) to a document in it->doc. */
static int jsonl_doc(imp_reader *r, json_t *rec, imp_item *it)
{
    const char *used[2], *bad = NULL, *k;
    json_t *content = jsonl_content(r, rec, it, used), *v;
    if (!content) return 1;
    it->doc = json_pack("{s:o}", "content", content);
    if (!doc_fields(rec, it->doc, &bad))
        return skip(it, IMP_SKIP_BAD_FIELD, "field \"%s\" has the wrong type",
                    bad);
    json_t *meta = json_object();
    json_object_foreach(rec, k, v)
    {
        if ((used[0] && !strcmp(k, used[0])) ||
            (used[1] && !strcmp(k, used[1])) || is_doc_field(k))
            continue;
        if (json_is_string(v) || json_is_number(v)) json_object_set(meta, k, v);
    }
    json_object_update(meta, json_object_get(rec, "metadata"));
    json_object_set_new(it->doc, "metadata", meta);
    return finish_doc(r, it);
}

static int jsonl_next(imp_reader *r, imp_item *it)
{
    for (;;) {
        bool over;
        int rc = read_line(r, &over);
        if (rc <= 0) return rc;
        it->line = r->lineno;
        if (over)
            return skip(it, IMP_SKIP_TOO_LONG, "the line is over %u bytes",
                        IMP_MAX_LINE);
        if (blank(r->line, r->line_len)) continue;
        json_error_t err;
        json_t *rec = json_loadb(r->line, r->line_len, 0, &err);
        if (!rec) {
            bool utf8 = !text_ok(r->line, r->line_len);
            return skip(
                it, utf8 ? IMP_SKIP_UTF8 : IMP_SKIP_JSON, "%s: %s (column %d)",
                utf8 ? "not UTF-8" : "not valid JSON", err.text, err.column);
        }
        if (!json_is_object(rec)) {
            json_decref(rec);
            return skip(it, IMP_SKIP_JSON, "not a JSON object");
        }
        rc = jsonl_doc(r, rec, it);
        json_decref(rec);
        return rc;
    }
}

/* ---- CSV -------------------------------------------------------------- */

/* The column index named (any case) name, or -1. */
static long find_col(const imp_reader *r, const char *name)
{
    for (size_t i = 0; i < r->ncols; i++)
        if (!strcmp(r->header[i], name)) return (long)i;
    for (size_t i = 0; i < r->ncols; i++)
        if (!strcasecmp(r->header[i], name)) return (long)i;
    return -1;
}

/* Reads the header row and picks the content column.  Returns 1 with
 * it filled (an IMP_SKIP_FILE) when the file cannot be used, 0 when the
 * header is fine or the file is empty (r->done then), FS_EIO. */
static int csv_header(imp_reader *r, imp_item *it)
{
    static const char *const preferred[] = {"content", "text", "notes",
                                            "description"};
    csv_record rec;
    int rc = csv_next(r->csv, &rec);
    if (rc <= 0) {
        r->done = true;
        return rc;
    }
    it->line = rec.line;
    r->done = true; /* unless the header is usable */
    if (rec.error)
        return skip(it, IMP_SKIP_FILE, "the header row: %s", rec.error);
    r->header = xcalloc(rec.nfields, sizeof *r->header);
    r->ncols = rec.nfields;
    for (size_t i = 0; i < rec.nfields; i++) {
        if (!text_ok(rec.fields[i], rec.lens[i]))
            return skip(it, IMP_SKIP_FILE, "the header row is not UTF-8");
        r->header[i] = rec.lens[i] ? xstrdup(rec.fields[i])
                                   : xasprintf("column_%zu", i + 1);
    }
    r->content_col = -1;
    if (r->o.content_field) {
        r->content_col = find_col(r, r->o.content_field);
        if (r->content_col < 0)
            return skip(it, IMP_SKIP_FILE, "no column \"%s\" in the header",
                        r->o.content_field);
    }
    for (size_t i = 0; r->content_col < 0 && i < 4; i++)
        r->content_col = find_col(r, preferred[i]);
    r->done = false;
    return 0;
}

/* "name: value" lines of every non-empty column. */
static json_t *csv_joined(const imp_reader *r, const csv_record *rec)
{
    size_t len = 1;
    for (size_t i = 0; i < rec->nfields; i++)
        len += strlen(r->header[i]) + rec->lens[i] + 3;
    char *s = xmalloc(len), *p = s;
    for (size_t i = 0; i < rec->nfields; i++) {
        if (blank(rec->fields[i], rec->lens[i])) continue;
        if (p != s) *p++ = '\n';
        p = stpcpy(p, r->header[i]);
        p = stpcpy(p, ": ");
        memcpy(p, rec->fields[i], rec->lens[i]);
        p += rec->lens[i];
    }
    json_t *v = json_stringn_nocheck(s, (size_t)(p - s));
    free(s);
    return v;
}

static int csv_row(imp_reader *r, const csv_record *rec, imp_item *it)
{
    if (rec->error)
        return skip(it, rec->too_long ? IMP_SKIP_TOO_LONG : IMP_SKIP_MALFORMED,
                    "%s", rec->error);
    if (rec->nfields != r->ncols)
        return skip(it, IMP_SKIP_FIELDS, "%zu fields, the header has %zu",
                    rec->nfields, r->ncols);
    for (size_t i = 0; i < rec->nfields; i++)
        if (!text_ok(rec->fields[i], rec->lens[i]))
            return skip(it, IMP_SKIP_UTF8, "column \"%s\" is not UTF-8",
                        r->header[i]);
    long c = r->content_col;
    json_t *meta = json_object();
    it->doc = json_object();
    json_object_set_new(it->doc, "content",
                        c >= 0
                            ? json_stringn_nocheck(rec->fields[c], rec->lens[c])
                            : csv_joined(r, rec));
    json_object_set_new(it->doc, "metadata", meta);
    for (size_t i = 0; i < rec->nfields; i++)
        if ((long)i != c && rec->lens[i])
            json_object_set_new(
                meta, r->header[i],
                json_stringn_nocheck(rec->fields[i], rec->lens[i]));
    return finish_doc(r, it);
}

static int csv_next_item(imp_reader *r, imp_item *it)
{
    int rc;
    if (!r->header && (rc = csv_header(r, it)) != 0) return rc;
    if (r->done) return 0;
    csv_record rec;
    rc = csv_next(r->csv, &rec);
    if (rc <= 0) return rc;
    it->line = rec.line;
    return csv_row(r, &rec, it);
}

/* ---- text ------------------------------------------------------------- */

static int text_next(imp_reader *r, imp_item *it)
{
    char *buf = NULL;
    size_t len = 0;
    bool over = false;
    r->done = true;
    while (r->in_pos < r->in_len || read_block(r)) {
        size_t n = r->in_len - r->in_pos;
        if (len + n > MEMORY_MAX_CONTENT) {
            over = true;
            break;
        }
        buf = xrealloc(buf, len + n + 1);
        memcpy(buf + len, r->in + r->in_pos, n);
        len += n;
        r->in_pos = r->in_len;
    }
    int rc = 1;
    if (r->io_error)
        rc = FS_EIO;
    else if (over)
        skip(it, IMP_SKIP_TOO_LONG, "the file is over %u bytes",
             MEMORY_MAX_CONTENT);
    else if (!text_ok(buf ? buf : "", len))
        skip(it, IMP_SKIP_UTF8, "the file is not UTF-8 text");
    else {
        it->doc = json_object();
        json_object_set_new(it->doc, "content",
                            json_stringn_nocheck(buf ? buf : "", len));
        finish_doc(r, it);
    }
    free(buf);
    return rc;
}

int imp_next(imp_reader *r, imp_item *it)
{
    memset(it, 0, sizeof *it);
    if (r->done) return 0;
    switch (r->fmt) {
    case IMP_JSONL:
        return jsonl_next(r, it);
    case IMP_CSV:
        return csv_next_item(r, it);
    default:
        return text_next(r, it);
    }
}
