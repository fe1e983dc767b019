/*
 * test_csv.c - the streaming RFC 4180 reader (src/cli/csv.h): quoted
 * fields with delimiters, quotes and line breaks inside, CRLF/LF/CR line
 * ends, empty lines, the byte order mark, the lenient cases, malformed
 * records (unterminated quote, over max_record) that the reader returns
 * and then reads on after, line numbers, the byte offset, read errors,
 * and a seeded round trip of random fields written the RFC 4180 way
 * through many 64 KiB block boundaries.
 *
 * Records are rendered as text to compare whole files at a glance:
 * "LINE:field|field\n", or "LINE!error\n" for a malformed one, with CR,
 * LF and NUL inside fields shown as \r, \n and \0.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/csv.h"
#include "core/fs.h"

typedef struct sbuf {
    char *s;
    size_t len, cap;
} sbuf;

static void put(sbuf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = realloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void puts_(sbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* Every record of data[0..len) rendered (see the top comment). */
static char *render(const char *data, size_t len, const csv_opts *o)
{
    FILE *f = fmemopen((void *)data, len, "r");
    cr_assert_not_null(f);
    csv_reader *r;
    csv_record rec;
    sbuf b = {0};
    int rc;
    puts_(&b, "");
    csv_open(&r, f, o);
    while ((rc = csv_next(r, &rec)) == 1) {
        char head[48];
        snprintf(head, sizeof head, "%llu%c", (unsigned long long)rec.line,
                 rec.error ? '!' : ':');
        puts_(&b, head);
        if (rec.error) {
            puts_(&b, rec.error);
        } else {
            for (size_t i = 0; i < rec.nfields; i++) {
                if (i) puts_(&b, "|");
                cr_assert_eq(rec.fields[i][rec.lens[i]], '\0');
                for (size_t k = 0; k < rec.lens[i]; k++) {
                    char c = rec.fields[i][k];
                    puts_(&b, c == '\r'   ? "\\r"
                              : c == '\n' ? "\\n"
                              : c == '\0' ? "\\0"
                                          : (char[]){c, 0});
                }
            }
        }
        puts_(&b, "\n");
    }
    cr_assert_eq(rc, 0, "csv_next: %d", rc);
    cr_assert_eq(csv_offset(r), len, "offset %llu of %zu",
                 (unsigned long long)csv_offset(r), len);
    csv_close(r);
    fclose(f);
    return b.s;
}

#define expect(data, want)                                                     \
    do {                                                                       \
        char *got_ = render((data), sizeof(data) - 1, NULL);                   \
        cr_assert_str_eq(got_, (want), "input: %s", (data));                   \
        free(got_);                                                            \
    } while (0)

TestSuite(csv, .timeout = 30);

Test(csv, plain_records)
{
    expect("a,b,c\n1,2,3\n", "1:a|b|c\n2:1|2|3\n");
    expect("a,b", "1:a|b\n");                   /* no final line break */
    expect("a,\n,b\n,\n", "1:a|\n2:|b\n3:|\n"); /* empty fields */
    expect("", "");
    expect("\n\r\n\r", "");
}

Test(csv, quoted_fields_keep_delimiters_quotes_and_line_breaks)
{
    expect("\"Smith, Jane\",\"say \"\"hi\"\"\"\n",
           "1:Smith, Jane|say \"hi\"\n");
    expect("id,note\r\n1,\"line one\r\nline two\"\r\n2,x\r\n",
           "1:id|note\n2:1|line one\\r\\nline two\n4:2|x\n");
    expect("\"\"\n\"\",\"\"\n", "1:\n2:|\n"); /* quoted empty fields count */
    expect("\"a\nb\nc\",d\ne,f\n", "1:a\\nb\\nc|d\n4:e|f\n");
}

Test(csv, crlf_lf_and_lone_cr_end_records_and_lines)
{
    expect("a\r\nb\nc\rd", "1:a\n2:b\n3:c\n4:d\n");
    /* A CRLF inside quotes is one line for the line numbers too. */
    expect("\"x\r\ny\"\r\nz\r\n", "1:x\\r\\ny\n3:z\n");
}

Test(csv, empty_lines_are_not_records)
{
    expect("\n\na\n\n\nb\n\n", "3:a\n6:b\n");
    expect("\r\n\r\na,b\r\n\r\n", "3:a|b\n");
}

Test(csv, byte_order_mark_is_dropped)
{
    expect("\xef\xbb\xbf"
           "name,text\nx,y\n",
           "1:name|text\n2:x|y\n");
    /* Only at the very start. */
    expect("a\n\xef\xbb\xbf"
           "b\n",
           "1:a\n2:\xef\xbb\xbf"
           "b\n");
}

Test(csv, stray_quotes_are_kept_leniently)
{
    expect("5\" screen,x\n", "1:5\" screen|x\n");
    expect("\"a\"b,c\n", "1:ab|c\n");
    expect("a\"\"b\n", "1:a\"\"b\n");
}

Test(csv, unterminated_quote_is_a_malformed_last_record)
{
    expect("h\nok\n\"open,\nrest of file\n",
           "1:h\n2:ok\n3!unterminated quoted field\n");
}

Test(csv, records_over_the_limit_are_reported_and_reading_goes_on)
{
    csv_opts o = {.max_record = 16};
    static const char in[] = "short\n"
                             "0123456789,0123456789\n"
                             "\"quoted and\nlong, very long\",x\n"
                             "ok,1\n"
                             "exactly15bytes!\n"
                             "exactly16bytes!!\n";
    char *got = render(in, sizeof in - 1, &o);
    /* 15 bytes + NUL fit in 16; 16 + NUL do not. */
    cr_assert_str_eq(got, "1:short\n2!record too long\n3!record too long\n"
                          "5:ok|1\n6:exactly15bytes!\n7!record too long\n");
    free(got);
}

Test(csv, fields_may_hold_nul_bytes)
{
    static const char in[] = "a\0b,c\n";
    char *got = render(in, sizeof in - 1, NULL);
    cr_assert_str_eq(got, "1:a\\0b|c\n");
    free(got);
}

Test(csv, another_delimiter)
{
    csv_opts o = {.delim = ';'};
    static const char in[] = "a;\"b;c\";d,e\n";
    char *got = render(in, sizeof in - 1, &o);
    cr_assert_str_eq(got, "1:a|b;c|d,e\n");
    free(got);
}

Test(csv, a_read_error_is_fs_eio)
{
    FILE *f = fopen("/dev/null", "w"); /* reading it fails: EBADF */
    cr_assert_not_null(f);
    csv_reader *r;
    csv_record rec;
    csv_open(&r, f, NULL);
    cr_assert_eq(csv_next(r, &rec), FS_EIO);
    csv_close(r);
    fclose(f);
}

/* One random field: letters, digits and the characters that need care. */
static size_t random_field(unsigned *seed, char *out)
{
    static const char chars[] = "abcXYZ019 ,,\"\"\r\n;\t'";
    size_t n = (size_t)(rand_r(seed) % 12);
    for (size_t i = 0; i < n; i++)
        out[i] = chars[rand_r(seed) % (sizeof chars - 1)];
    return n;
}

/* Appends field f written the RFC 4180 way: quoted when it holds a
 * comma, quote, CR or LF (or is empty, sometimes), quotes doubled. */
static void write_field(sbuf *b, const char *f, size_t n, unsigned *seed)
{
    bool quote = n == 0 ? rand_r(seed) % 2 : strcspn(f, ",\"\r\n") < n;
    if (!quote) {
        put(b, f, n);
        return;
    }
    put(b, "\"", 1);
    for (size_t i = 0; i < n; i++)
        put(b, f[i] == '"' ? "\"\"" : &f[i], f[i] == '"' ? 2 : 1);
    put(b, "\"", 1);
}

Test(csv, random_fields_round_trip_across_block_boundaries)
{
    enum { RECORDS = 20000, FIELDS = 4 };
    unsigned seed = 42;
    sbuf in = {0}, want = {0};
    char field[16];
    for (int r = 0; r < RECORDS; r++) {
        for (int k = 0; k < FIELDS; k++) {
            size_t n = random_field(&seed, field);
            if (k) put(&in, ",", 1);
            write_field(&in, field, n, &seed);
            if (k) put(&want, "|", 1);
            put(&want, field, n);
        }
        put(&in, r % 2 ? "\r\n" : "\n", r % 2 ? 2 : 1);
        put(&want, "\x1e", 1); /* record separator */
    }
    cr_assert_gt(in.len, 4 * 65536, "the input spans several blocks");
    FILE *f = fmemopen(in.s, in.len, "r");
    csv_reader *r;
    csv_record rec;
    sbuf got = {0};
    int n = 0, rc;
    csv_open(&r, f, NULL);
    while ((rc = csv_next(r, &rec)) == 1) {
        cr_assert_null(rec.error, "record %d: %s", n, rec.error);
        cr_assert_eq(rec.nfields, FIELDS, "record %d (line %llu)", n,
                     (unsigned long long)rec.line);
        for (size_t k = 0; k < rec.nfields; k++) {
            if (k) put(&got, "|", 1);
            put(&got, rec.fields[k], rec.lens[k]);
        }
        put(&got, "\x1e", 1);
        n++;
    }
    cr_assert_eq(rc, 0);
    cr_assert_eq(n, RECORDS);
    cr_assert_eq(got.len, want.len);
    cr_assert(!memcmp(got.s, want.s, got.len), "fields differ");
    csv_close(r);
    fclose(f);
    free(in.s);
    free(want.s);
    free(got.s);
}
