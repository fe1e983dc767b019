/*
 * table.c - aligned text tables (see table.h).
 *
 * Design: rows are kept as sanitized copies (one line, valid UTF-8), so
 * printing only measures and pads.  table_print() works out each column's
 * width in three steps:
 *   1. the widest of the header and every cell, in code points;
 *   2. capped by the column's table_set_max() limit;
 *   3. when the style gives a total width, the widest cuttable column
 *      (one with a table_set_max() limit: ids, states and counts are never
 *      cut) is narrowed one column at a time until the line fits or every
 *      cuttable column is down to its floor: its header's width, and at
 *      least 4 (so headers are never cut and a cut cell keeps a few
 *      characters).  A table that still does not fit wraps.
 * A cell wider than its column keeps width-1 code points plus "…".  No
 * line ends in blanks: the last column is not padded, and empty cells at
 * the end of a row are not printed at all.
 */
#include "cli/table.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/xmem.h"

#define SEP "  "
#define SEP_WIDTH 2
#define ELLIPSIS "\xe2\x80\xa6" /* U+2026 */

typedef struct column {
    char *header;
    table_align align;
    size_t max; /* 0: no limit */
    table_colour_fn colour;
} column;

struct table {
    size_t ncols;
    bool has_header;
    column *cols;
    char ***rows; /* rows[i] == NULL is a rule */
    size_t nrows, cap;
};

/* Length of the valid UTF-8 sequence starting at s, or 0 when invalid. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n;
    unsigned min;
    unsigned cp;
    if (s[0] < 0x80) return 1;
    if ((s[0] & 0xe0) == 0xc0)
        n = 2, min = 0x80, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        n = 3, min = 0x800, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        n = 4, min = 0x10000, cp = s[0] & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

/* A copy of s fit for one table cell: control characters (and C1
 * controls) become spaces, invalid UTF-8 bytes become '?'. */
static char *sanitize(const char *s)
{
    size_t len = strlen(s);
    char *out = xmalloc(len + 1), *p = out;
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        size_t n = utf8_len(u);
        if (n == 0) {
            *p++ = '?';
            u++;
        } else if (n == 1) {
            *p++ = (*u < 0x20 || *u == 0x7f) ? ' ' : (char)*u;
            u++;
        } else if (n == 2 && u[0] == 0xc2 && u[1] < 0xa0) {
            *p++ = ' '; /* U+0080..U+009F */
            u += 2;
        } else {
            memcpy(p, u, n);
            p += n;
            u += n;
        }
    }
    *p = '\0';
    return out;
}

size_t table_text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80) w++;
    return w;
}

/* Byte length of the first n code points of s (s is valid UTF-8). */
static size_t prefix_bytes(const char *s, size_t n)
{
    size_t i = 0;
    while (s[i] && n > 0) {
        i++;
        while (((unsigned char)s[i] & 0xc0) == 0x80)
            i++;
        n--;
    }
    return i;
}

table *table_new(size_t ncols, const char *const *headers)
{
    assert(ncols > 0);
    table *t = xcalloc(1, sizeof *t);
    t->ncols = ncols;
    t->cols = xcalloc(ncols, sizeof *t->cols);
    t->has_header = headers != NULL;
    for (size_t i = 0; i < ncols; i++)
        t->cols[i].header = sanitize(headers ? headers[i] : "");
    return t;
}

void table_free(table *t)
{
    if (!t) return;
    for (size_t r = 0; r < t->nrows; r++) {
        if (!t->rows[r]) continue;
        for (size_t i = 0; i < t->ncols; i++)
            free(t->rows[r][i]);
        free(t->rows[r]);
    }
    for (size_t i = 0; i < t->ncols; i++)
        free(t->cols[i].header);
    free(t->rows);
    free(t->cols);
    free(t);
}

void table_set_align(table *t, size_t col, table_align align)
{
    assert(col < t->ncols);
    t->cols[col].align = align;
}

void table_set_max(table *t, size_t col, size_t width)
{
    assert(col < t->ncols);
    t->cols[col].max = width;
}

void table_set_colour(table *t, size_t col, table_colour_fn fn)
{
    assert(col < t->ncols);
    t->cols[col].colour = fn;
}

static void push_row(table *t, char **row)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->rows = xrealloc(t->rows, t->cap * sizeof *t->rows);
    }
    t->rows[t->nrows++] = row;
}

void table_add(table *t, const char *const *cells)
{
    char **row = xmalloc(t->ncols * sizeof *row);
    for (size_t i = 0; i < t->ncols; i++)
        row[i] = sanitize(cells[i] ? cells[i] : "-");
    push_row(t, row);
}

void table_add_rule(table *t)
{
    push_row(t, NULL);
}

size_t table_rows(const table *t)
{
    return t->nrows;
}

/* Fills widths[] per the three steps in the design comment. */
static void measure(const table *t, size_t total, size_t *widths)
{
    for (size_t i = 0; i < t->ncols; i++) {
        size_t w = t->has_header ? table_text_width(t->cols[i].header) : 0;
        for (size_t r = 0; r < t->nrows; r++) {
            if (!t->rows[r]) continue;
            size_t cw = table_text_width(t->rows[r][i]);
            if (cw > w) w = cw;
        }
        if (t->cols[i].max && w > t->cols[i].max) w = t->cols[i].max;
        widths[i] = w ? w : 1;
    }
    if (!total) return;
    for (;;) {
        size_t sum = SEP_WIDTH * (t->ncols - 1);
        for (size_t i = 0; i < t->ncols; i++)
            sum += widths[i];
        if (sum <= total) return;
        /* Narrow the widest column that is still wider than its floor. */
        size_t pick = t->ncols;
        for (size_t i = 0; i < t->ncols; i++) {
            size_t floor = table_text_width(t->cols[i].header);
            if (floor < 4) floor = 4;
            if (!t->cols[i].max) continue; /* not declared cuttable */
            if (widths[i] > floor &&
                (pick == t->ncols || widths[i] > widths[pick]))
                pick = i;
        }
        if (pick == t->ncols) return;
        widths[pick]--;
    }
}

static void pad(FILE *out, size_t n)
{
    while (n--)
        fputc(' ', out);
}

/* Prints one cell into a column of width w; last: no trailing pad. */
static void print_cell(FILE *out, const char *cell, size_t w, table_align align,
                       const char *sgr, bool last)
{
    size_t cw = table_text_width(cell), shown = cw, bytes = strlen(cell);
    bool cut = cw > w;
    if (cut) {
        shown = w;
        bytes = prefix_bytes(cell, w - 1);
    }
    if (align == TABLE_RIGHT) pad(out, w - shown);
    if (sgr) fprintf(out, "\033[%sm", sgr);
    fwrite(cell, 1, bytes, out);
    if (cut) fputs(ELLIPSIS, out);
    if (sgr) fputs("\033[0m", out);
    if (align == TABLE_LEFT && !last) pad(out, w - shown);
}

void table_print(const table *t, FILE *out, table_style style)
{
    size_t *widths = xmalloc(t->ncols * sizeof *widths);
    measure(t, style.width, widths);
    if (t->has_header) {
        for (size_t i = 0; i < t->ncols; i++) {
            if (i) fputs(SEP, out);
            print_cell(out, t->cols[i].header, widths[i], t->cols[i].align,
                       style.colour ? "1" : NULL, i + 1 == t->ncols);
        }
        fputc('\n', out);
    }
    for (size_t r = 0; r < t->nrows; r++) {
        char **row = t->rows[r];
        /* Empty cells at the end of a row print nothing: no trailing
         * blanks. */
        size_t n = t->ncols;
        while (row && n > 1 && !row[n - 1][0])
            n--;
        for (size_t i = 0; i < n; i++) {
            if (i) fputs(SEP, out);
            if (!row) {
                for (size_t k = 0; k < widths[i]; k++)
                    fputc('-', out);
                continue;
            }
            const char *sgr = NULL;
            if (style.colour && t->cols[i].colour)
                sgr = t->cols[i].colour(row[i]);
            print_cell(out, row[i], widths[i], t->cols[i].align, sgr,
                       i + 1 == n);
        }
        fputc('\n', out);
    }
    free(widths);
}

table_style table_style_for(FILE *out)
{
    table_style s = {false, 0};
    int fd = fileno(out);
    if (fd < 0 || !isatty(fd)) return s;
    const char *term = getenv("TERM");
    const char *no_colour = getenv("NO_COLOR");
    s.colour = !(no_colour && *no_colour) && !(term && !strcmp(term, "dumb"));
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) s.width = ws.ws_col;
    return s;
}
