/*
 * csv.c - streaming RFC 4180 reader (see csv.h).
 *
 * Design: one byte at a time through a four-state machine, reading the
 * file in IN_CAP blocks; nothing is ever pushed back.
 *
 *   START ──'"'──> QUOTED ──'"'──> QUOTE ──'"' (an escaped quote)──> QUOTED
 *     │ other         │ other,            │ delim: field ends ─> START
 *     v               │ CR, LF: kept      │ CR/LF: record ends
 *   UNQUOTED <────────┼───────────────────┘ other: kept (lenient) ─> UNQUOTED
 *     │ delim: field ends ─> START; CR/LF: record ends
 *
 * In START a delimiter ends an empty field and CR/LF ends the record.  A
 * record "starts" at its first byte that is not a line break; line breaks
 * met before that (empty lines, the LF of a CRLF that ended the previous
 * record) are skipped, which is how empty lines stop being records.
 *
 * The fields of the record being read live in one growing buffer, each
 * followed by a NUL; starts[]/lens[] index it and ptrs[] is rebuilt for
 * the caller when the record ends (the buffer may move while growing).
 * Bytes stored per record (including the NULs) are capped at max_record:
 * past it the record is marked "over" and bytes are parsed but dropped.
 *
 * Lines are counted as the bytes go by: LF, CR and CRLF each end one line,
 * also inside quoted fields, so rec.line is the line a text editor shows.
 */
#include "cli/csv.h"

#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/xmem.h"

#define IN_CAP (64u << 10)

enum state { START, UNQUOTED, QUOTED, QUOTE };

struct csv_reader {
    FILE *f;
    char delim;
    size_t max;
    unsigned char *in;
    size_t in_pos, in_len;
    uint64_t read_total; /* bytes fread so far */
    bool eof, io_error;
    uint64_t line; /* line of the next byte */
    bool after_cr; /* the last byte was a CR: an LF now ends no line */
    /* the record being read */
    char *buf;
    size_t len, cap;
    size_t *starts, *lens, nfields, fcap;
    const char **ptrs;
    bool over;
};

int csv_open(csv_reader **out, FILE *f, const csv_opts *opts)
{
    csv_reader *r = xcalloc(1, sizeof *r);
    r->f = f;
    r->delim = opts && opts->delim ? opts->delim : ',';
    r->max = opts && opts->max_record ? opts->max_record : CSV_MAX_RECORD;
    r->in = xmalloc(IN_CAP);
    r->line = 1;
    *out = r;
    return 0;
}

void csv_close(csv_reader *r)
{
    if (!r) return;
    free(r->in);
    free(r->buf);
    free(r->starts);
    free(r->lens);
    free(r->ptrs);
    free(r);
}

uint64_t csv_offset(const csv_reader *r)
{
    return r->read_total - (r->in_len - r->in_pos);
}

/* Reads the next block; false at the end of the input or on an error
 * (r->io_error).  Drops a UTF-8 byte order mark at the very start. */
static bool refill(csv_reader *r)
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
    return r->in_pos < r->in_len || refill(r);
}

static void append(csv_reader *r, char c)
{
    if (r->over) return;
    if (r->len + 1 > r->max) {
        r->over = true;
        return;
    }
    if (r->len == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        if (r->cap > r->max) r->cap = r->max;
        r->buf = xrealloc(r->buf, r->cap);
    }
    r->buf[r->len++] = c;
}

/* Ends the current field: its terminator counts against max_record. */
static void end_field(csv_reader *r, size_t start)
{
    size_t flen = r->len - start;
    append(r, '\0');
    if (r->over) return;
    if (r->nfields == r->fcap) {
        r->fcap = r->fcap ? r->fcap * 2 : 16;
        r->starts = xrealloc(r->starts, r->fcap * sizeof *r->starts);
        r->lens = xrealloc(r->lens, r->fcap * sizeof *r->lens);
        r->ptrs = xrealloc(r->ptrs, r->fcap * sizeof *r->ptrs);
    }
    r->starts[r->nfields] = start;
    r->lens[r->nfields++] = flen;
}

/* Hands the finished record to the caller; returns 1. */
static int finish(csv_reader *r, csv_record *rec, uint64_t line,
                  const char *error)
{
    if (r->over) {
        /* Nothing usable was kept: one empty field stands for it. */
        static const char *const empty[] = {""};
        static const size_t zero[] = {0};
        *rec = (csv_record){1, empty, zero, line, "record too long", true};
        return 1;
    }
    for (size_t i = 0; i < r->nfields; i++)
        r->ptrs[i] = r->buf + r->starts[i];
    *rec = (csv_record){r->nfields, r->ptrs, r->lens, line, error, false};
    return 1;
}

int csv_next(csv_reader *r, csv_record *rec)
{
    enum state st = START;
    bool started = false;
    uint64_t line = 0;
    size_t field = 0; /* where the current field starts in buf */
    r->len = r->nfields = 0;
    r->over = false;
    for (;;) {
        if (r->in_pos == r->in_len && !refill(r)) break;
        char c = (char)r->in[r->in_pos++];
        uint64_t at = r->line;
        if (c == '\r') {
            r->line++;
            r->after_cr = true;
        } else {
            if (c == '\n' && !r->after_cr) r->line++;
            r->after_cr = false;
        }
        bool eol = c == '\r' || c == '\n';
        switch (st) {
        case START:
            if (!started && eol) continue; /* an empty line */
            if (!started) line = at;
            started = true;
            if (c == '"') {
                st = QUOTED;
            } else if (c == r->delim) {
                end_field(r, field);
                field = r->len;
            } else if (eol) {
                end_field(r, field);
                return finish(r, rec, line, NULL);
            } else {
                append(r, c);
                st = UNQUOTED;
            }
            break;
        case QUOTE:
            if (c == '"') {
                append(r, c);
                st = QUOTED;
                break;
            }
            st = UNQUOTED; /* text after a closing quote: kept (lenient) */
            /* fall through */
        case UNQUOTED:
            if (c == r->delim) {
                end_field(r, field);
                field = r->len;
                st = START;
            } else if (eol) {
                end_field(r, field);
                return finish(r, rec, line, NULL);
            } else {
                append(r, c);
            }
            break;
        case QUOTED:
            if (c == '"')
                st = QUOTE;
            else
                append(r, c);
            break;
        }
    }
    if (r->io_error) return FS_EIO;
    if (!started) return 0;
    end_field(r, field);
    return finish(r, rec, line,
                  st == QUOTED ? "unterminated quoted field" : NULL);
}
