/*
 * csv.h - a streaming RFC 4180 reader for `flowstate import`.
 *
 *   csv_reader *r;
 *   csv_open(&r, f, NULL);                 // f: any FILE *, borrowed
 *   csv_record rec;
 *   while ((rc = csv_next(r, &rec)) == 1) {
 *       if (rec.error) ...skip: line rec.line is malformed...
 *       else ...use rec.fields[0..rec.nfields)...
 *   }
 *   // rc == 0: end of input; FS_EIO: the file could not be read
 *   csv_close(r);
 *
 * What it accepts (RFC 4180 plus what real files do):
 *   - fields separated by ',' (or opts.delim); records ended by CRLF, LF
 *     or a lone CR; the last record may lack its line break;
 *   - quoted fields ("a, b"), with "" for a quote and with delimiters, CR
 *     and LF inside kept as they are;
 *   - a UTF-8 byte order mark at the very start is dropped;
 *   - empty lines are not records (a line holding only "" is: one empty
 *     field);
 *   - leniently, like Python's csv module: a quote inside an unquoted
 *     field (5" screen) and text after a closing quote ("a"b) are kept
 *     as literal characters.
 * Fields are bytes: no encoding is checked here (the importer checks
 * UTF-8), and a field may hold NUL bytes (lens[] has the true lengths).
 *
 * Malformed records are returned, not fatal, so a caller can skip them
 * and go on: rec.error says why (a static string) and the fields hold what
 * was read.  Two things make a record malformed:
 *   - a quoted field still open at the end of the input ("unterminated
 *     quoted field"; it swallowed the rest of the file);
 *   - more than opts.max_record bytes of fields (counting one terminator
 *     per field), so memory stays bounded; the reader then keeps parsing
 *     without storing until the record ends, and goes on after it.
 * Field counts are not checked here (a header is the caller's idea).
 *
 * Not thread-safe; one reader per file.
 */
#ifndef CSV_H
#define CSV_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CSV_MAX_RECORD (16u << 20) /* default opts.max_record */

typedef struct csv_reader csv_reader;

typedef struct csv_opts {
    char delim;        /* 0: ',' */
    size_t max_record; /* bytes; 0: CSV_MAX_RECORD */
} csv_opts;

/* One record.  Every pointer is owned by the reader and valid until the
 * next csv_next() or csv_close(). */
typedef struct csv_record {
    size_t nfields;            /* >= 1 */
    const char *const *fields; /* each NUL-terminated (a copy of the bytes) */
    const size_t *lens;        /* byte length of each field */
    uint64_t line;             /* 1-based line where the record starts */
    const char *error;         /* NULL, or why the record is malformed */
    bool too_long;             /* the error is "record too long" */
} csv_record;

/* A reader over f (borrowed; the caller closes it after csv_close()).
 * opts may be NULL.  Returns 0 and OUT: *out; cannot fail otherwise. */
int csv_open(csv_reader **out, FILE *f, const csv_opts *opts);
void csv_close(csv_reader *r);

/*
 * Reads the next record into OUT: *rec.  Returns 1 when there is one
 * (well-formed or with rec->error set), 0 at the end of the input, or
 * FS_EIO when reading failed (errno as fread left it).
 */
int csv_next(csv_reader *r, csv_record *rec);

/* Bytes of the input consumed so far (for progress). */
uint64_t csv_offset(const csv_reader *r);

#endif
