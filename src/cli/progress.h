/*
 * progress.h - the one-line progress display of `flowstate import`: a bar,
 * the share of the input read, a count, a rate and an ETA, redrawn in place
 * ("\r" + erase line) on a terminal:
 *
 *   [#######-------------]  35%  1,823 docs  412 docs/s  ETA 8s  corpus.jsonl
 *
 * The share and the ETA come from bytes (the input's total size is known
 * before the first document, the number of documents is not); the rate
 * from documents.  A disabled progress (output not a terminal) draws
 * nothing, so callers need not check.  progress_format() is a pure
 * function of its arguments, for the tests.
 */
#ifndef PROGRESS_H
#define PROGRESS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct progress progress;

/* A display on out (borrowed) for total_bytes of input; enabled false
 * makes every call a no-op.  Free with progress_free(). */
progress *progress_new(FILE *out, bool enabled, uint64_t total_bytes);
void progress_free(progress *p);

/* Redraws with docs done and done_bytes of input read, naming what (a
 * file; may be NULL); at most every 100 ms unless force. */
void progress_update(progress *p, uint64_t docs, uint64_t done_bytes,
                     const char *what, bool force);

/* Erases the line (before printing anything else); the next update draws
 * it again. */
void progress_clear(progress *p);

/* The line progress_update() draws, for secs seconds since the start,
 * into buf (always NUL-terminated). */
void progress_format(char *buf, size_t len, uint64_t docs, uint64_t done,
                     uint64_t total, double secs, const char *what);

/* n with thousands separators: "5,183". */
void progress_count(char *buf, size_t len, uint64_t n);

/* A duration as "8s", "2m05s", "1h02m". */
void progress_span(char *buf, size_t len, double secs);

#endif
