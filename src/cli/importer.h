/*
 * importer.h - turns one file (JSONL, CSV or text) into memory documents
 * for `flowstate import`, one at a time, without any network: the bodies
 * POST /v1/memory takes, or a reason a record was skipped.
 *
 *   imp_reader *r;
 *   imp_open(&r, f, IMP_CSV, "leads.csv", &opts);
 *   imp_item it;
 *   while ((rc = imp_next(r, &it)) == 1) {
 *       if (it.doc) ...send it (the item owns it: json_incref to keep)...
 *       else        ...skipped: it.why, it.line, it.detail...
 *       imp_item_clear(&it);
 *   }
 *   imp_close(r);
 *
 * Formats:
 *   JSONL  one JSON object per line (empty lines ignored).  The content is
 *          --content-field when given; else "content"; else "text", with
 *          "title" in front ("title\n\ntext") when both exist, as in BEIR
 *          corpus.jsonl files.  The fields of our own document format keep
 *          their meaning: "kind", "agent" (strings; they win over --kind
 *          and --agent), "importance" (0..1), "tags" (strings, added to
 *          --tag's), "metadata" (an object, merged), "embedding" (numbers,
 *          passed on).  Every other string or number field becomes a
 *          metadata entry ("_id": "4983"); other values are ignored.
 *   CSV    RFC 4180 (csv.h) with a header row.  The content is the column
 *          --content-field names; else the first of the columns named
 *          content, text, notes, description (in that order of
 *          preference, any case); else every column as "name: value"
 *          lines (empty values left out).  The other columns (all of them
 *          in the last case) become string metadata, empty values left
 *          out.  A row with another number of fields than the header is
 *          skipped.
 *   text   the whole file is one document (.txt, .md).
 * Every document also gets metadata "source" (the name given to
 * imp_open) unless the record has its own, and a CSV or JSONL document
 * "line" (where its record starts), so a document can be traced back.
 *
 * What is skipped, with a reason: lines that are not JSON objects, records
 * without content or whose content is only blanks, content over
 * MEMORY_MAX_CONTENT bytes, text that is not UTF-8, ill-typed document
 * fields, malformed CSV rows, and a whole file whose header lacks
 * --content-field (IMP_SKIP_FILE, then the end).
 */
#ifndef IMPORTER_H
#define IMPORTER_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define IMP_MAX_NAME 200 /* kind, agent, a tag: as the server allows */
#define IMP_MAX_TAGS 64
#define IMP_MAX_LINE (24u << 20) /* a JSONL line or CSV record, bytes */

typedef enum imp_format {
    IMP_AUTO, /* from the file name (imp_format_of) */
    IMP_JSONL,
    IMP_CSV,
    IMP_TEXT,
} imp_format;

/* Why a record was skipped: the summary counts them by kind. */
typedef enum imp_skip {
    IMP_SKIP_NONE,
    IMP_SKIP_JSON,       /* not JSON, or not a JSON object */
    IMP_SKIP_FIELDS,     /* CSV: field count differs from the header */
    IMP_SKIP_MALFORMED,  /* CSV: unterminated quote */
    IMP_SKIP_NO_CONTENT, /* no content field, or it is not a string */
    IMP_SKIP_EMPTY,      /* content is empty or blanks only */
    IMP_SKIP_TOO_LONG,   /* content, line or record too long */
    IMP_SKIP_UTF8,       /* not valid UTF-8 */
    IMP_SKIP_BAD_FIELD,  /* kind/agent/tags/importance/metadata ill-typed */
    IMP_SKIP_FILE,       /* the whole file: unreadable or unusable */
    IMP_SKIP_SERVER,     /* refused by the server (set by the caller) */
    IMP_SKIP_NKINDS
} imp_skip;

typedef struct imp_opts {
    const char *content_field; /* NULL: the format's own choice */
    const char *kind, *agent;  /* for every document; NULL: none */
    const char *const *tags;   /* ntags tags for every document */
    size_t ntags;
} imp_opts;

typedef struct imp_reader imp_reader;

typedef struct imp_item {
    json_t *doc;      /* a document object, owned by the item; or NULL */
    uint64_t line;    /* where the record starts (1-based); 0: whole file */
    imp_skip why;     /* when doc is NULL */
    char detail[200]; /* when doc is NULL: the reason in words */
} imp_item;

/* The format a file name implies: .jsonl/.ndjson -> JSONL, .csv -> CSV,
 * .txt/.md/.markdown -> TEXT (any case); IMP_AUTO when none. */
imp_format imp_format_of(const char *path);
/* "auto", "jsonl", "csv", "text" -> OUT: *out; false for anything else. */
bool imp_format_parse(const char *s, imp_format *out);
const char *imp_format_name(imp_format f);
/* A few words for a skip kind ("not a JSON object", ...). */
const char *imp_skip_name(imp_skip why);

/*
 * A reader of f (borrowed, read from its current position; the caller
 * closes it after imp_close()) in format fmt (not IMP_AUTO).  source names
 * the file in metadata and is copied; opts (copied, its strings borrowed
 * for the reader's life) may be NULL.  Returns 0 and OUT: *out, or
 * FS_EINVAL for IMP_AUTO.
 */
int imp_open(imp_reader **out, FILE *f, imp_format fmt, const char *source,
             const imp_opts *opts);
void imp_close(imp_reader *r);

/*
 * The next document or skipped record into OUT: *it (clear it with
 * imp_item_clear()).  Returns 1 when there is one, 0 at the end of the
 * file, FS_EIO when reading failed.
 */
int imp_next(imp_reader *r, imp_item *it);
void imp_item_clear(imp_item *it);

/* Bytes of the file consumed so far (for progress and ETA). */
uint64_t imp_offset(const imp_reader *r);

#endif
