/*
 * code_rank.c - hot spots of an analysis (see code_rank.h for the score).
 *
 * Every function of every file becomes a candidate (pointers into the
 * analysis, which stays borrowed); the candidates are sorted by score and
 * the first `top` turned into JSON with their reason.
 */
#include "agents/code/code_rank.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/code/code_checks.h"
#include "core/fs.h"
#include "core/xmem.h"

#define DEFAULT_TOP 10

typedef struct cand {
    const json_t *file, *func;
    uint32_t complexity, length, nesting, dups, line;
    double score;
} cand;

double code_rank_score(uint32_t complexity, uint32_t length,
                       uint32_t nesting, uint32_t duplicates)
{
    double deep = nesting > 2 ? 0.25 * (nesting - 2) : 0;
    return complexity * log2(1.0 + length) * (1 + deep) *
           (1 + 0.5 * duplicates);
}

static uint32_t get(const json_t *o, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(o, key));
    return v > 0 && v < UINT32_MAX ? (uint32_t)v : 0;
}

/* The duplicate findings of file overlapping lines [first, last]. */
static uint32_t dups_in(const json_t *file, uint32_t first, uint32_t last)
{
    uint32_t n = 0;
    size_t i;
    json_t *f;
    json_array_foreach (json_object_get(file, "findings"), i, f) {
        const char *rule = json_string_value(json_object_get(f, "rule"));
        if (!rule || strcmp(rule, "duplicate")) continue;
        if (get(f, "line") <= last && get(f, "end_line") >= first) n++;
    }
    return n;
}

static int by_score(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    int c = strcmp(json_string_value(json_object_get(x->file, "path")),
                   json_string_value(json_object_get(y->file, "path")));
    if (c) return c;
    return (x->line > y->line) - (x->line < y->line);
}

/* All functions of analysis as candidates.  OUT: *n. */
static cand *candidates(const json_t *files, size_t *n)
{
    cand *v = NULL;
    size_t cap = 0, i, j;
    json_t *file, *fn;
    *n = 0;
    json_array_foreach (files, i, file) {
        if (!json_is_string(json_object_get(file, "path"))) continue;
        json_array_foreach (json_object_get(file, "functions"), j, fn) {
            if (*n == cap) v = xrealloc(v, (cap = cap ? 2 * cap : 64) *
                                               sizeof *v);
            cand *c = &v[(*n)++];
            *c = (cand){ .file = file, .func = fn,
                         .complexity = get(fn, "complexity"),
                         .length = get(fn, "length"),
                         .nesting = get(fn, "nesting"),
                         .line = get(fn, "line") };
            c->dups = dups_in(file, c->line, c->line + c->length - 1);
            c->score = code_rank_score(c->complexity, c->length, c->nesting,
                                       c->dups);
        }
    }
    return v;
}

/* "complexity 23, 140 lines, nesting 6: split it, flatten the nesting" */
static void reason(const cand *c, char *buf, size_t cap)
{
    const char *acts[3];
    size_t na = 0;
    if (c->complexity > CODE_MAX_COMPLEXITY ||
        c->length > CODE_MAX_FUNC_LINES)
        acts[na++] = "split it into smaller functions";
    if (c->nesting > CODE_MAX_NESTING)
        acts[na++] = "flatten the nesting (early returns, helpers)";
    if (c->dups) acts[na++] = "factor out the repeated lines";
    int w = snprintf(buf, cap, "complexity %u, %u lines, nesting %u",
                     c->complexity, c->length, c->nesting);
    if (c->dups)
        w += snprintf(buf + w, cap - (size_t)w, ", %u duplicated block%s",
                      c->dups, c->dups > 1 ? "s" : "");
    if (!na) snprintf(buf + w, cap - (size_t)w, ": within the limits");
    for (size_t k = 0; k < na && (size_t)w < cap; k++)
        w += snprintf(buf + w, cap - (size_t)w, "%s%s", k ? ", " : ": ",
                      acts[k]);
}

static json_t *hotspot(const cand *c)
{
    char why[256];
    reason(c, why, sizeof why);
    return json_pack("{s:O,s:O?,s:I,s:I,s:I,s:I,s:I,s:f,s:s}", "path",
                     json_object_get(c->file, "path"), "name",
                     json_object_get(c->func, "name"), "line",
                     (json_int_t)c->line, "length", (json_int_t)c->length,
                     "complexity", (json_int_t)c->complexity, "nesting",
                     (json_int_t)c->nesting, "duplicates",
                     (json_int_t)c->dups, "score",
                     round(c->score * 10) / 10, "reason", why);
}

int code_rank_hotspots(const json_t *analysis, size_t top, json_t **out)
{
    const json_t *files = json_object_get(analysis, "files");
    if (!json_is_array(files)) return FS_EINVAL;
    size_t n;
    cand *v = candidates(files, &n);
    if (n) qsort(v, n, sizeof *v, by_score);
    json_t *list = json_array();
    for (size_t i = 0; i < n && i < (top ? top : DEFAULT_TOP); i++)
        json_array_append_new(list, hotspot(&v[i]));
    free(v);
    *out = json_pack("{s:o,s:I}", "hotspots", list, "functions",
                     (json_int_t)n);
    return 0;
}
