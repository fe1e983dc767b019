/*
 * clifmt.h - small formatting helpers shared by the client commands: JSON
 * values as table cells, RFC 3339 times as ages ("3s ago", "in 5m"), pretty
 * JSON documents and indented JSON blocks.
 *
 * Cells are written into caller buffers or returned as fresh strings, as
 * each function says; nothing here keeps state.
 */
#ifndef CLIFMT_H
#define CLIFMT_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CLIFMT_CELL 64 /* a buffer big enough for any age or number cell */

/*
 * A JSON value as one table cell: strings as they are, whole numbers and
 * booleans in JSON spelling, other numbers with 6 significant digits
 * (0.8, not 0.80000000000000004), null, absent or an empty array as "-",
 * arrays of strings or of whole numbers joined with ", ", other arrays and
 * objects as compact JSON.  The caller frees it.
 */
char *clifmt_value(const json_t *v);

/* A span of ms as "12s", "5m", "3h", "2d" (rounded down; negative as 0s). */
void clifmt_span(int64_t ms, char *buf, size_t len);

/*
 * An RFC 3339 time v relative to now_ms: "3s ago", "in 5m", "-" when v is
 * null or absent, v itself when it does not parse.  Returns buf.
 */
const char *clifmt_age(const json_t *v, int64_t now_ms, char *buf, size_t len);

/* The string member key of obj, or "-" when absent, null or not a string.
 * Borrowed from obj. */
const char *clifmt_str(const json_t *obj, const char *key);

/* Prints v as one pretty JSON document (2-space indent) and a newline. */
void clifmt_json(FILE *out, const json_t *v);

/* Prints v pretty, every line indented by indent spaces. */
void clifmt_json_block(FILE *out, const json_t *v, int indent);

/* Prints text with every line indented by indent spaces, ending in a
 * newline. */
void clifmt_text_block(FILE *out, const char *text, int indent);

#endif
