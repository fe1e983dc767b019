/*
 * dp_profile.c - column statistics (see dp_profile.h for what is
 * reported).
 *
 * One pass over the records files each present value under its column
 * (a growing array of borrowed json_t pointers, with the value's text:
 * borrowed for strings, made for other values).  Then each column's
 * entries are sorted by text: runs of equal text give the distinct count
 * and the counts the top values are chosen from, and the ends give the
 * text min and max.  Type checks run in order and a type stops being
 * checked once more than 5% of the values failed it, so a text column
 * costs a few parses per type, not one per value.
 */
#include "agents/data/dp_profile.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/data/dp_format.h"
#include "core/fs.h"
#include "core/xmem.h"

#define TYPE_SHARE 0.95

typedef enum ptype {
    P_INTEGER,
    P_NUMBER,
    P_BOOLEAN,
    P_DATE,
    P_EMAIL,
    P_PHONE,
    P_URL,
    P_NTYPES
} ptype;

static const char *const PTYPES[] = {"integer", "number", "boolean", "date",
                                     "email",   "phone",  "url"};

typedef struct entry {
    const json_t *v;
    const char *text;
    bool owned; /* text was made here */
} entry;

typedef struct column {
    entry *e;
    size_t n, cap;
} column;

/* ---- gathering ------------------------------------------------------- */

static bool missing(const json_t *v)
{
    if (!v || json_is_null(v)) return true;
    if (!json_is_string(v)) return false;
    for (const char *s = json_string_value(v); *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') return false;
    return true;
}

static void add_entry(column *c, const json_t *v)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        c->e = xrealloc(c->e, c->cap * sizeof *c->e);
    }
    entry *e = &c->e[c->n++];
    e->v = v;
    e->owned = !json_is_string(v);
    e->text = e->owned ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)
                       : json_string_value(v);
    if (!e->text) e->text = xstrdup("?");
}

/* Files the present values under their columns; OUT: *objects. */
static column *gather(const json_t *records, json_t *names, size_t *objects)
{
    column *cols = NULL;
    size_t ncols = 0, i;
    const json_t *r;
    *objects = 0;
    json_array_foreach(records, i, r)
    {
        if (!json_is_object(r)) continue;
        ++*objects;
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)r, k, v)
        {
            json_t *at = json_object_get(names, k);
            if (!at) {
                cols = xrealloc(cols, (ncols + 1) * sizeof *cols);
                cols[ncols] = (column){0};
                json_object_set_new(names, k,
                                    at = json_integer((json_int_t)ncols++));
            }
            if (!missing(v)) add_entry(&cols[json_integer_value(at)], v);
        }
    }
    return cols;
}

/* ---- types ----------------------------------------------------------- */

static bool is_type(ptype t, const json_t *v)
{
    char buf[DP_DATE_MAX > DP_PHONE_MAX ? DP_DATE_MAX : DP_PHONE_MAX];
    double x;
    long long i;
    bool b;
    if (json_is_integer(v)) return t == P_INTEGER || t == P_NUMBER;
    if (json_is_real(v)) return t == P_NUMBER;
    if (json_is_boolean(v)) return t == P_BOOLEAN;
    if (!json_is_string(v)) return false;
    const char *s = json_string_value(v);
    while (*s == ' ' || *s == '\t')
        s++;
    switch (t) {
    case P_INTEGER:
        return dp_parse_int(s, &i);
    case P_NUMBER:
        return dp_parse_number(s, &x);
    case P_BOOLEAN:
        return dp_parse_bool(s, &b);
    case P_DATE:
        return !dp_date_iso(s, DP_DATE_MDY, buf);
    case P_EMAIL:
        return dp_email_ok(s);
    case P_PHONE:
        return !dp_phone_e164(s, NULL, buf, NULL);
    case P_URL:
        return dp_url_ok(s);
    default:
        return false;
    }
}

/* Counts, per type, the values that fail it (up to just past 5%). */
static void count_fails(const column *c, size_t fails[P_NTYPES])
{
    size_t allowed = (size_t)((1.0 - TYPE_SHARE) * (double)c->n);
    memset(fails, 0, P_NTYPES * sizeof *fails);
    for (size_t i = 0; i < c->n; i++)
        for (int t = 0; t < P_NTYPES; t++)
            if (fails[t] <= allowed && !is_type((ptype)t, c->e[i].v))
                fails[t]++;
}

/* Sets type and type_ratio; returns the fail counts in fails. */
static void infer_type(const column *c, json_t *out, size_t fails[P_NTYPES])
{
    size_t composite = 0;
    for (size_t i = 0; i < c->n; i++)
        composite += json_is_array(c->e[i].v) || json_is_object(c->e[i].v);
    count_fails(c, fails);
    const char *type = "string";
    double ratio = 1.0;
    if (!c->n) type = "empty";
    for (int t = 0; c->n && !composite && t < P_NTYPES; t++) {
        ratio = 1.0 - (double)fails[t] / (double)c->n;
        if (ratio + 1e-9 >= TYPE_SHARE) {
            type = PTYPES[t];
            break;
        }
        ratio = 1.0;
    }
    if (composite)
        type = composite < c->n           ? "mixed"
               : json_is_array(c->e[0].v) ? "array"
                                          : "object";
    json_object_set_new(out, "type", json_string(type));
    json_object_set_new(out, "type_ratio", json_real(ratio));
}

/* ---- statistics ------------------------------------------------------ */

static int entry_cmp(const void *pa, const void *pb)
{
    const entry *a = pa, *b = pb;
    return strcmp(a->text, b->text);
}

static double number_of(const json_t *v)
{
    double x = 0;
    if (json_is_number(v)) return json_number_value(v);
    dp_parse_number(json_string_value(v), &x);
    return x;
}

/* min, max and mean of an all-number column. */
static void numeric_range(const column *c, json_t *out)
{
    double lo = DBL_MAX, hi = -DBL_MAX, sum = 0;
    bool ints = true;
    for (size_t i = 0; i < c->n; i++) {
        double x = number_of(c->e[i].v);
        lo = fmin(lo, x), hi = fmax(hi, x), sum += x;
        ints &= x == floor(x) && fabs(x) < 9e15;
    }
    json_object_set_new(out, "min",
                        ints ? json_integer((json_int_t)lo) : json_real(lo));
    json_object_set_new(out, "max",
                        ints ? json_integer((json_int_t)hi) : json_real(hi));
    json_object_set_new(out, "mean", json_real(sum / (double)c->n));
}

static void date_range(const column *c, json_t *out)
{
    char lo[DP_DATE_MAX] = "", hi[DP_DATE_MAX] = "", iso[DP_DATE_MAX];
    for (size_t i = 0; i < c->n; i++) {
        dp_date_iso(json_string_value(c->e[i].v), DP_DATE_MDY, iso);
        if (!*lo || strcmp(iso, lo) < 0) strcpy(lo, iso);
        if (strcmp(iso, hi) > 0) strcpy(hi, iso);
    }
    json_object_set_new(out, "min", json_string(lo));
    json_object_set_new(out, "max", json_string(hi));
}

/* min and max of a sorted column (see dp_profile.h). */
static void range(const column *c, const size_t fails[P_NTYPES], json_t *out)
{
    if (!c->n) return;
    if (!fails[P_NUMBER]) {
        numeric_range(c, out);
    } else if (!fails[P_DATE]) {
        date_range(c, out);
    } else {
        json_object_set_new(out, "min", json_string(c->e[0].text));
        json_object_set_new(out, "max", json_string(c->e[c->n - 1].text));
    }
}

static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void lengths(const column *c, json_t *out)
{
    size_t lo = SIZE_MAX, hi = 0;
    for (size_t i = 0; i < c->n; i++) {
        size_t n = utf8_len(c->e[i].text);
        if (n < lo) lo = n;
        if (n > hi) hi = n;
    }
    if (!c->n) return;
    json_object_set_new(out, "min_length", json_integer((json_int_t)lo));
    json_object_set_new(out, "max_length", json_integer((json_int_t)hi));
}

typedef struct run {
    size_t start, count;
} run;

static int run_cmp_desc(const run *a, const run *b, const column *c)
{
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return strcmp(c->e[a->start].text, c->e[b->start].text);
}

/* distinct and top of a sorted column. */
static void distinct_top(const column *c, json_t *out)
{
    run top[DP_PROFILE_TOP + 1];
    size_t ntop = 0, distinct = 0;
    for (size_t s = 0, e; s < c->n; s = e) {
        for (e = s + 1; e < c->n && !strcmp(c->e[e].text, c->e[s].text);)
            e++;
        distinct++;
        run r = {s, e - s};
        size_t at = ntop;
        while (at > 0 && run_cmp_desc(&r, &top[at - 1], c) < 0)
            at--;
        if (at >= DP_PROFILE_TOP) continue;
        memmove(top + at + 1, top + at, (ntop - at) * sizeof *top);
        top[at] = r;
        if (ntop < DP_PROFILE_TOP) ntop++;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < ntop; i++)
        json_array_append_new(arr, json_pack("{s:O, s:I}", "value",
                                             c->e[top[i].start].v, "count",
                                             (json_int_t)top[i].count));
    json_object_set_new(out, "distinct", json_integer((json_int_t)distinct));
    json_object_set_new(out, "top", arr);
}

static json_t *profile_column(column *c, size_t objects)
{
    size_t fails[P_NTYPES];
    json_t *out = json_object();
    infer_type(c, out, fails);
    json_object_set_new(out, "count", json_integer((json_int_t)c->n));
    json_object_set_new(out, "nulls",
                        json_integer((json_int_t)(objects - c->n)));
    json_object_set_new(out, "null_rate",
                        json_real((double)(objects - c->n) / (double)objects));
    if (c->n) qsort(c->e, c->n, sizeof *c->e, entry_cmp);
    distinct_top(c, out);
    range(c, fails, out);
    lengths(c, out);
    return out;
}

int dp_profile(const json_t *records, json_t **out)
{
    if (!json_is_array(records)) {
        *out = json_pack("{s:s}", "error", "records is not an array");
        return FS_EINVAL;
    }
    json_t *names = json_object(), *cols_out = json_object();
    size_t objects;
    column *cols = gather(records, names, &objects);
    const char *k;
    json_t *at;
    json_object_foreach(names, k, at)
    {
        column *c = &cols[json_integer_value(at)];
        json_object_set_new(cols_out, k, profile_column(c, objects));
        for (size_t i = 0; i < c->n; i++)
            if (c->e[i].owned) free((char *)c->e[i].text);
        free(c->e);
    }
    free(cols);
    json_decref(names);
    *out = json_pack("{s:I, s:I, s:o}", "records",
                     (json_int_t)json_array_size(records), "objects",
                     (json_int_t)objects, "columns", cols_out);
    return 0;
}
