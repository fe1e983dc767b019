/*
 * clifmt.c - formatting helpers of the client commands (see clifmt.h).
 *
 * Design: everything here is a pure function of its arguments (the current
 * time is passed in), so the tests can pin every output.  Ages use one unit,
 * the largest that is at least 1 (s, m, h, then d from 48 h on), rounded
 * down, because a glance at a table needs "3h ago", not "3h 12m 5s ago".
 */
#include "cli/clifmt.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/xmem.h"

#define DUMP_FLAGS (JSON_INDENT(2) | JSON_ENCODE_ANY)

/* Arrays of strings only, or of whole numbers only: "a, b, c", "3, 1";
 * NULL for anything else. */
static char *join_strings(const json_t *arr)
{
    size_t i, len = 1;
    json_t *item;
    bool ints = json_is_integer(json_array_get(arr, 0));
    json_array_foreach(arr, i, item)
    {
        if (ints ? !json_is_integer(item) : !json_is_string(item)) return NULL;
        len += (ints ? 21 : json_string_length(item)) + 2;
    }
    char *out = xmalloc(len), *p = out;
    json_array_foreach(arr, i, item)
    {
        if (i) p = stpcpy(p, ", ");
        if (ints)
            p += sprintf(p, "%" JSON_INTEGER_FORMAT, json_integer_value(item));
        else
            p = stpcpy(p, json_string_value(item));
    }
    *p = '\0';
    return out;
}

char *clifmt_value(const json_t *v)
{
    char *s;
    if (!v || json_is_null(v)) return xstrdup("-");
    if (json_is_string(v)) return xstrdup(json_string_value(v));
    if (json_is_real(v)) return xasprintf("%.6g", json_real_value(v));
    if (json_is_array(v) && json_array_size(v) == 0) return xstrdup("-");
    if (json_is_array(v) && (s = join_strings(v))) return s;
    s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    return s ? s : xstrdup("?");
}

void clifmt_span(int64_t ms, char *buf, size_t len)
{
    int64_t s = ms > 0 ? ms / 1000 : 0;
    if (s < 60)
        snprintf(buf, len, "%" PRId64 "s", s);
    else if (s < 3600)
        snprintf(buf, len, "%" PRId64 "m", s / 60);
    else if (s < 48 * 3600)
        snprintf(buf, len, "%" PRId64 "h", s / 3600);
    else
        snprintf(buf, len, "%" PRId64 "d", s / 86400);
}

const char *clifmt_age(const json_t *v, int64_t now_ms, char *buf, size_t len)
{
    const char *s = json_string_value(v);
    int64_t t;
    char span[CLIFMT_CELL];
    if (!s) {
        snprintf(buf, len, "-");
    } else if (!fs_time_parse(s, &t)) {
        snprintf(buf, len, "%s", s);
    } else if (t > now_ms) {
        clifmt_span(t - now_ms, span, sizeof span);
        snprintf(buf, len, "in %s", span);
    } else {
        clifmt_span(now_ms - t, span, sizeof span);
        snprintf(buf, len, "%s ago", span);
    }
    return buf;
}

const char *clifmt_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "-";
}

void clifmt_json(FILE *out, const json_t *v)
{
    char *s = json_dumps(v, DUMP_FLAGS);
    fprintf(out, "%s\n", s ? s : "null");
    free(s);
}

void clifmt_text_block(FILE *out, const char *text, int indent)
{
    const char *p = text;
    do {
        size_t n = strcspn(p, "\n");
        fprintf(out, "%*s%.*s\n", indent, "", (int)n, p);
        p += n;
    } while (*p && *++p);
}

void clifmt_json_block(FILE *out, const json_t *v, int indent)
{
    char *s = json_dumps(v, DUMP_FLAGS);
    clifmt_text_block(out, s ? s : "null", indent);
    free(s);
}
