/*
 * dp_read.c - CSV, JSON Lines and JSON array input (see dp_read.h).
 *
 * Text is read through a FILE as a file is (fmemopen), so each format has
 * one reader: CSV through cli/csv.h record by record, JSON Lines with
 * getline() line by line, a JSON array with one json_loadf().  The format
 * is chosen from the extension or the first byte that is not white space,
 * after which the stream is rewound.
 */
#include "agents/data/dp_read.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agents/data/dp_text.h"
#include "cli/csv.h"
#include "core/fs.h"
#include "core/xmem.h"

typedef enum format { F_CSV, F_TSV, F_JSONL, F_ARRAY } format;

typedef struct reader {
    size_t max;
    json_t *records, *errors;
} reader;

static void line_error(reader *rd, unsigned long long line, const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));

static void line_error(reader *rd, unsigned long long line, const char *fmt,
                       ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_array_append_new(
        rd->errors,
        json_pack("{s:I, s:s}", "line", (json_int_t)line, "message", msg));
}

/* True (and an error noted) when max records have been read. */
static bool full(reader *rd, unsigned long long line)
{
    if (!rd->max || json_array_size(rd->records) < rd->max) return false;
    line_error(rd, line, "stopped at max_records (%zu): the rest is not read",
               rd->max);
    return true;
}

/* ---- format ---------------------------------------------------------- */

static format sniff(FILE *f)
{
    int c;
    while ((c = fgetc(f)) != EOF && strchr(" \t\r\n", c))
        continue;
    if (c == 0xEF && fgetc(f) == 0xBB && fgetc(f) == 0xBF)
        while ((c = fgetc(f)) != EOF && strchr(" \t\r\n", c))
            continue;
    rewind(f);
    return c == '{' ? F_JSONL : c == '[' ? F_ARRAY : F_CSV;
}

static format format_of(const char *path, FILE *f)
{
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (dot && !strcasecmp(dot, ".csv")) return F_CSV;
    if (dot && !strcasecmp(dot, ".tsv")) return F_TSV;
    if (dot && (!strcasecmp(dot, ".jsonl") || !strcasecmp(dot, ".ndjson")))
        return F_JSONL;
    return sniff(f);
}

/* ---- CSV ------------------------------------------------------------- */

/* A valid UTF-8 JSON string of the field, or NULL. */
static json_t *field_string(const csv_record *rec, size_t i)
{
    if (memchr(rec->fields[i], '\0', rec->lens[i])) return NULL;
    return json_stringn(rec->fields[i], rec->lens[i]);
}

/* The column names from the header record; NULL if it is unusable. */
static json_t *header_names(const csv_record *rec)
{
    json_t *names = json_array(), *seen = json_object();
    for (size_t i = 0; i < rec->nfields; i++) {
        json_t *raw = field_string(rec, i);
        char *name = raw ? dp_text_clean(json_string_value(raw)) : NULL;
        json_decref(raw);
        if (!name) goto bad;
        if (!*name) {
            free(name);
            name = xasprintf("column_%zu", i + 1);
        }
        char *unique = xstrdup(name);
        for (int n = 2; json_object_get(seen, unique); n++) {
            free(unique);
            unique = xasprintf("%s_%d", name, n);
        }
        json_object_set_new(seen, unique, json_true());
        json_array_append_new(names, json_string(unique));
        free(unique);
        free(name);
    }
    json_decref(seen);
    return names;
bad:
    json_decref(seen);
    json_decref(names);
    return NULL;
}

/* The record of one row, or NULL (an error noted, or a blank row). */
static json_t *csv_row(reader *rd, const csv_record *rec, const json_t *names)
{
    size_t want = json_array_size(names), empty = 0;
    unsigned long long line = (unsigned long long)rec->line;
    if (rec->error) return line_error(rd, line, "%s", rec->error), NULL;
    for (size_t i = 0; i < rec->nfields; i++)
        empty += rec->lens[i] == 0;
    if (empty == rec->nfields) return NULL;
    if (rec->nfields != want)
        return line_error(rd, line, "expected %zu fields, got %zu", want,
                          rec->nfields),
               NULL;
    json_t *obj = json_object();
    for (size_t i = 0; i < want; i++) {
        json_t *s = field_string(rec, i);
        const char *col = json_string_value(json_array_get(names, i));
        if (!s) {
            line_error(rd, line, "field '%s' is not UTF-8 text", col);
            json_decref(obj);
            return NULL;
        }
        json_object_set_new(obj, col, s);
    }
    return obj;
}

static int read_csv(reader *rd, FILE *f, char delim)
{
    csv_reader *r;
    csv_record rec;
    csv_opts o = {.delim = delim};
    json_t *names = NULL;
    int rc;
    csv_open(&r, f, &o);
    if ((rc = csv_next(r, &rec)) == 1) {
        names = rec.error ? NULL : header_names(&rec);
        if (!names) {
            line_error(rd, rec.line, "the header row is not usable: %s",
                       rec.error ? rec.error : "not UTF-8 text");
            rc = FS_EINVAL;
            goto close_reader;
        }
    }
    while (rc == 1 && (rc = csv_next(r, &rec)) == 1) {
        if (full(rd, rec.line)) break;
        json_t *obj = csv_row(rd, &rec, names);
        if (obj) json_array_append_new(rd->records, obj);
    }
    if (rc < 0) line_error(rd, 0, "read error: %s", strerror(errno));
close_reader:
    json_decref(names);
    csv_close(r);
    return rc < 0 ? rc : 0;
}

/* ---- JSON ------------------------------------------------------------ */

static int read_jsonl(reader *rd, FILE *f)
{
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    for (unsigned long long line = 1; (n = getline(&buf, &cap, f)) >= 0;
         line++) {
        char *s = buf;
        if (line == 1 && n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3)) s += 3;
        s += strspn(s, " \t\r\n");
        if (!*s) continue;
        if (full(rd, line)) break;
        json_error_t jerr;
        json_t *v = json_loadb(s, (size_t)(n - (s - buf)), 0, &jerr);
        if (!v)
            line_error(rd, line, "not JSON: %s", jerr.text);
        else if (!json_is_object(v))
            line_error(rd, line, "not a JSON object");
        else
            json_array_append(rd->records, v);
        json_decref(v);
    }
    int rc = ferror(f) ? FS_EIO : 0;
    if (rc) line_error(rd, 0, "read error: %s", strerror(errno));
    free(buf);
    return rc;
}

static int read_array(reader *rd, FILE *f)
{
    json_error_t jerr;
    json_t *arr = json_loadf(f, 0, &jerr), *v;
    if (!json_is_array(arr)) {
        line_error(rd, jerr.line > 0 ? (unsigned long long)jerr.line : 0,
                   "not a JSON array: %s", arr ? "another value" : jerr.text);
        json_decref(arr);
        return FS_EINVAL;
    }
    size_t i;
    json_array_foreach(arr, i, v)
    {
        if (full(rd, 0)) break;
        if (json_is_object(v))
            json_array_append(rd->records, v);
        else
            json_array_append_new(
                rd->errors, json_pack("{s:I, s:s}", "index", (json_int_t)i,
                                      "message", "not a JSON object"));
    }
    json_decref(arr);
    return 0;
}

/* ---- entry point ----------------------------------------------------- */

static FILE *open_input(const char *path_or_text, bool is_path)
{
    if (is_path) return fopen(path_or_text, "rb");
    size_t n = strlen(path_or_text);
    /* fmemopen wants a size of at least 1: an empty text reads as "\n" */
    return n ? fmemopen((void *)path_or_text, n, "r") : fmemopen("\n", 1, "r");
}

int dp_read_records(const char *path_or_text, bool is_path, size_t max_records,
                    json_t **records, json_t **errors)
{
    reader rd = {max_records, json_array(), json_array()};
    FILE *f = open_input(path_or_text, is_path);
    int rc = FS_EIO;
    if (!f) {
        line_error(&rd, 0, "cannot open %s: %s",
                   is_path ? path_or_text : "the text", strerror(errno));
        goto fail;
    }
    switch (format_of(is_path ? path_or_text : NULL, f)) {
    case F_CSV:
        rc = read_csv(&rd, f, ',');
        break;
    case F_TSV:
        rc = read_csv(&rd, f, '\t');
        break;
    case F_JSONL:
        rc = read_jsonl(&rd, f);
        break;
    case F_ARRAY:
        rc = read_array(&rd, f);
        break;
    }
    fclose(f);
    if (rc) goto fail;
    *records = rd.records;
    *errors = rd.errors;
    return 0;
fail:
    json_decref(rd.records);
    *records = NULL;
    *errors = json_array();
    json_array_append(
        *errors, json_array_get(rd.errors, json_array_size(rd.errors) - 1));
    json_decref(rd.errors);
    return rc;
}
