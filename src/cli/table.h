/*
 * table.h - aligned text tables for the human-readable output of the
 * client commands (`job list`, `agent list`, `queue stats`, `job show`).
 *
 *   table *t = table_new(3, (const char *[]){ "ID", "STATE", "TYPE" });
 *   table_set_max(t, 2, 30);
 *   table_add(t, (const char *[]){ "42", "running", "email.send" });
 *   table_print(t, stdout, table_style_for(stdout));
 *   table_free(t);
 *
 * Column widths come from the content.  Widths count UTF-8 code points
 * (every code point as one column: wide CJK characters and combining marks
 * are not measured specially).  Cells are copied when added; control
 * characters become spaces and invalid UTF-8 bytes become '?', so one cell
 * is always one line of the table.  A cell wider than its column's limit is
 * cut and ends in an ellipsis ("…").  Columns are separated by two spaces;
 * the last column is not padded and empty cells ending a row are left out,
 * so no line ends in blanks.
 */
#ifndef TABLE_H
#define TABLE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct table table;

typedef enum { TABLE_LEFT, TABLE_RIGHT } table_align;

/* The SGR colour ("32", "1;31") to draw a cell in, or NULL for none. */
typedef const char *(*table_colour_fn)(const char *cell);

typedef struct table_style {
    bool colour;  /* ANSI colours: bold header, per-column colour_fn */
    size_t width; /* fit within this many columns by cutting the widest
                     columns that have a table_set_max() limit, never
                     below their header's width nor 4; 0: no limit */
} table_style;

/* A table of ncols columns; headers (ncols strings, copied) may be NULL for
 * a table without a header line.  Free with table_free(). */
table *table_new(size_t ncols, const char *const *headers);
void table_free(table *t);

void table_set_align(table *t, size_t col, table_align align);
/* Cells wider than width (>= 1) are cut with an ellipsis; 0: no limit. */
void table_set_max(table *t, size_t col, size_t width);
void table_set_colour(table *t, size_t col, table_colour_fn fn);

/* Appends a row of ncols cells (copied); a NULL cell shows as "-". */
void table_add(table *t, const char *const *cells);
/* Appends a horizontal rule (dashes under every column), e.g. above a
 * totals line. */
void table_add_rule(table *t);
size_t table_rows(const table *t);

/* Prints the header (when any) and the rows to out. */
void table_print(const table *t, FILE *out, table_style style);

/* Colour when out is a terminal, NO_COLOR is unset and TERM is not "dumb";
 * width is the terminal's when out is one, else 0. */
table_style table_style_for(FILE *out);

/* The display width of s as table measures it (code points). */
size_t table_text_width(const char *s);

#endif
