/*
 * dp_read.h - records from CSV, JSON Lines or a JSON array, for the
 * `ingest` job of the data_processor agent (and for the other jobs when
 * a payload names a source file).
 *
 * The format: by a path's extension (.csv, .tsv, .jsonl, .ndjson), else
 * by the first byte that is not white space: '{' JSON Lines, '[' a JSON
 * array, anything else CSV.
 *
 *   CSV (cli/csv.h: RFC 4180, CRLF or LF, quoted fields, a BOM dropped;
 *   tab-separated for .tsv): the first record is the header.  Column
 *   names are trimmed; a blank one becomes "column_N" (N from 1) and a
 *   repeated one "name_2", "name_3" ...  Each later row is an object of
 *   strings (never converted: "42" stays a string, as dp_validate
 *   expects), in header order.  A row with a different number of fields,
 *   a malformed row (unterminated quote, over 16 MiB), or a field that is
 *   not UTF-8 or holds a NUL byte is skipped with an error; a row whose
 *   fields are all empty is skipped silently.
 *   JSON Lines: one JSON object per line; blank lines are skipped, a line
 *   that does not parse or is not an object is skipped with an error.
 *   A JSON array (the whole input): its objects are the records, anything
 *   else in it is skipped with an error naming its index.
 *
 * Errors are [{"line": 7, "message": "expected 14 fields, got 13"}, ...]
 * (1-based lines; "index" instead of "line" for a JSON array).  When
 * max_records records have been read the rest is not read, and a last
 * error says where reading stopped.
 *
 * No global state: calls may run on several threads at once.
 */
#ifndef DP_READ_H
#define DP_READ_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * Reads the records of the file at path_or_text (is_path) or of the text
 * itself.  max_records 0 means no limit.
 * Returns 0 and OUT: *records (an array of objects) and *errors (an
 * array, see above).  Or FS_EIO (the file cannot be opened or read) or
 * FS_EINVAL (no usable CSV header, or a JSON array that does not parse),
 * with *records NULL and *errors holding one error that says why.  The
 * caller json_decref()s what it gets.
 */
int dp_read_records(const char *path_or_text, bool is_path, size_t max_records,
                    json_t **records, json_t **errors);

#endif
