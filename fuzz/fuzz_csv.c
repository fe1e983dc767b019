/*
 * fuzz_csv.c - libFuzzer target: the RFC 4180 reader (csv.h) and the
 * importer's file-to-document mapping (importer.h) that `flowstate import`
 * runs on files from anywhere, on arbitrary bytes.
 *
 * Input: the first byte picks options, the rest is the file (read from
 * memory with fmemopen, never from disk):
 *   bits 0-1  csv max_record: 8, 64, 4096 bytes or the default
 *   bit 2     delimiter ';' instead of ','
 *   bit 3     importer --content-field "text"
 * Checked (FUZZ_CHECK aborts):
 *  - every record has at least one field, each field NUL-terminated at
 *    its length; line numbers start at 1 and never go back; the offset
 *    never goes back and ends at the input's size;
 *  - round trip: the well-formed records written back the RFC 4180 way
 *    (every field quoted, quotes doubled, CRLF) read back as the very
 *    same fields;
 *  - the importer, reading the bytes as CSV, JSONL and text, yields only
 *    documents with a non-blank string "content" of at most
 *    MEMORY_MAX_CONTENT bytes and an object "metadata", or skips with a
 *    known reason and a non-empty detail, at lines that never go back.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli/csv.h"
#include "cli/importer.h"
#include "fuzz.h"
#include "memory/memory.h"

typedef struct buf {
    char *s;
    size_t len, cap;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 16;
        b->s = xrealloc(b->s, b->cap);
    }
    if (n) memcpy(b->s + b->len, p, n);
    b->len += n;
}

/* One record's fields as "len:bytes" pieces, to compare two readings. */
static void flatten(buf *b, const csv_record *r)
{
    char head[32];
    int n = snprintf(head, sizeof head, "%zu|", r->nfields);
    put(b, head, (size_t)n);
    for (size_t i = 0; i < r->nfields; i++) {
        n = snprintf(head, sizeof head, "%zu:", r->lens[i]);
        put(b, head, (size_t)n);
        put(b, r->fields[i], r->lens[i]);
    }
}

/* Writes r back as RFC 4180 with delimiter d. */
static void encode(buf *b, const csv_record *r, char d)
{
    for (size_t i = 0; i < r->nfields; i++) {
        if (i) put(b, &d, 1);
        put(b, "\"", 1);
        for (size_t k = 0; k < r->lens[i]; k++) {
            if (r->fields[i][k] == '"') put(b, "\"", 1);
            put(b, &r->fields[i][k], 1);
        }
        put(b, "\"", 1);
    }
    put(b, "\r\n", 2);
}

/* Reads data as CSV; OUT: the well-formed records flattened and
 * re-encoded (either may be NULL). */
static void read_csv(const char *data, size_t size, const csv_opts *o,
                     buf *flat, buf *again)
{
    FILE *f = fmemopen((void *)data, size, "r");
    if (!f) abort();
    csv_reader *r;
    csv_record rec;
    uint64_t line = 1, offset = 0;
    int rc;
    csv_open(&r, f, o);
    while ((rc = csv_next(r, &rec)) == 1) {
        FUZZ_CHECK(rec.nfields >= 1);
        FUZZ_CHECK(rec.line >= line);
        line = rec.line;
        FUZZ_CHECK(csv_offset(r) >= offset && csv_offset(r) <= size);
        offset = csv_offset(r);
        for (size_t i = 0; i < rec.nfields; i++)
            FUZZ_CHECK(rec.fields[i][rec.lens[i]] == '\0');
        if (rec.error) continue;
        if (flat) flatten(flat, &rec);
        if (again) encode(again, &rec, o->delim ? o->delim : ',');
    }
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(csv_offset(r) == size);
    csv_close(r);
    fclose(f);
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i])) return false;
    return true;
}

static void import_as(imp_format fmt, const char *data, size_t size,
                      const imp_opts *o)
{
    FILE *f = fmemopen((void *)data, size, "r");
    if (!f) abort();
    imp_reader *r;
    imp_item it;
    uint64_t line = 0;
    FUZZ_CHECK(imp_open(&r, f, fmt, "fuzz", o) == 0);
    while (imp_next(r, &it) == 1) {
        FUZZ_CHECK(it.line >= line);
        line = it.line;
        if (it.doc) {
            json_t *c = json_object_get(it.doc, "content");
            FUZZ_CHECK(json_is_string(c));
            FUZZ_CHECK(json_string_length(c) <= MEMORY_MAX_CONTENT);
            FUZZ_CHECK(!blank(json_string_value(c), json_string_length(c)));
            FUZZ_CHECK(json_is_object(json_object_get(it.doc, "metadata")));
            char *dump = json_dumps(it.doc, JSON_COMPACT);
            FUZZ_CHECK(dump != NULL);
            free(dump);
        } else {
            FUZZ_CHECK(it.why > IMP_SKIP_NONE && it.why < IMP_SKIP_NKINDS);
            FUZZ_CHECK(it.detail[0] != '\0');
        }
        imp_item_clear(&it);
    }
    imp_close(r);
    fclose(f);
}

int fuzz_csv_one(const uint8_t *data, size_t size)
{
    static const size_t limits[] = {8, 64, 4096, 0};
    if (size < 2) return 0; /* fmemopen needs a byte to read */
    csv_opts o = {.delim = data[0] & 4 ? ';' : ',',
                  .max_record = limits[data[0] & 3]};
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    buf flat = {0}, again = {0}, flat2 = {0};
    read_csv(text, n, &o, &flat, &again);
    if (again.len) {
        read_csv(again.s, again.len, &o, &flat2, NULL);
        FUZZ_CHECK(flat.len == flat2.len);
        FUZZ_CHECK(!memcmp(flat.s, flat2.s, flat.len));
    }
    free(flat.s);
    free(flat2.s);
    free(again.s);

    const char *tags[] = {"fuzz"};
    imp_opts io = {.content_field = data[0] & 8 ? "text" : NULL,
                   .kind = "k",
                   .tags = tags,
                   .ntags = 1};
    import_as(IMP_CSV, text, n, &io);
    import_as(IMP_JSONL, text, n, &io);
    import_as(IMP_TEXT, text, n, &io);
    return 0;
}

FUZZ_ENTRY(fuzz_csv_one)
