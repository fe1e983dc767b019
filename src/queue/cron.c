/*
 * cron.c - parsing cron expressions and finding their fire times (see
 * cron.h for the language).
 *
 * A parsed expression is one bit set per field (bit v set: value v
 * matches; day-of-week 7 is folded onto 0) plus two flags for the day
 * rule, or, for @every, a period in ms.
 *
 * Fire times are searched minute by minute in UTC, skipping whole units
 * that cannot match: a month not in the set jumps to the next month (or,
 * searching backwards, to the last minute of the one before), a day that
 * fails the day rule to the next day, an hour to the next hour.  A match
 * is therefore found in at most about 12 + 31 + 24 + 60 steps per year
 * searched; an expression that never matches ("0 0 30 2 *") stops at
 * CRON_HORIZON_MS.
 */
#include "queue/cron.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/fs.h"
#include "core/xmem.h"

enum { F_MINUTE, F_HOUR, F_DOM, F_MONTH, F_DOW, NFIELDS };

struct cron {
    uint64_t bits[NFIELDS];
    bool dom_star, dow_star; /* the field starts with "*" (day rule) */
    int64_t every_ms;        /* @every: the period; 0 for five fields */
};

static const char *const month_names[] = { "JAN", "FEB", "MAR", "APR",
                                           "MAY", "JUN", "JUL", "AUG",
                                           "SEP", "OCT", "NOV", "DEC" };
static const char *const day_names[] = { "SUN", "MON", "TUE", "WED",
                                         "THU", "FRI", "SAT" };

static const struct field_def {
    const char *name;
    int lo, hi;
    const char *const *names; /* names[i] is lo + i; NULL: numbers only */
    int nnames;
} fields[NFIELDS] = {
    { "minute", 0, 59, NULL, 0 },
    { "hour", 0, 23, NULL, 0 },
    { "day-of-month", 1, 31, NULL, 0 },
    { "month", 1, 12, month_names, 12 },
    { "day-of-week", 0, 7, day_names, 7 },
};

static const struct {
    const char *name, *expr;
} shortcuts[] = {
    { "@yearly", "0 0 1 1 *" },  { "@annually", "0 0 1 1 *" },
    { "@monthly", "0 0 1 * *" }, { "@weekly", "0 0 * * 0" },
    { "@daily", "0 0 * * *" },   { "@midnight", "0 0 * * *" },
    { "@hourly", "0 * * * *" },
};

#define MAX_EVERY_MS (366LL * 86400 * 1000)

/* Writes the message into err and returns FS_EINVAL. */
static int fail(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t len, const char *fmt, ...)
{
    if (len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
    }
    return FS_EINVAL;
}

/* --- the five fields --------------------------------------------------- */

typedef struct field_in {
    int idx;            /* F_* */
    char *err;
    size_t errlen;
} field_in;

/* One value of field f: a number or a name, s[0..n).  OUT: *v. */
static int parse_value(const field_in *f, const char *s, size_t n, int *v)
{
    const struct field_def *d = &fields[f->idx];
    for (int i = 0; i < d->nnames; i++)
        if (n == 3 && !strncasecmp(s, d->names[i], 3)) {
            *v = d->lo + i;
            return 0;
        }
    if (n == 0 || strspn(s, "0123456789") < n)
        return fail(f->err, f->errlen, "field %d (%s): '%.*s' is not a %s",
                    f->idx + 1, d->name, (int)n, s,
                    d->names ? "number or a name" : "number");
    long x = n > 4 ? 100000 : strtol(s, NULL, 10);
    if (x < d->lo || x > d->hi)
        return fail(f->err, f->errlen, "field %d (%s): %.*s is out of %d-%d",
                    f->idx + 1, d->name, (int)n, s, d->lo, d->hi);
    *v = (int)x;
    return 0;
}

/* One list item s[0..n): "*", "N" or "A-B", with an optional "/STEP".
 * Sets its bits in *bits. */
static int parse_item(const field_in *f, const char *s, size_t n,
                      uint64_t *bits)
{
    const struct field_def *d = &fields[f->idx];
    const char *slash = memchr(s, '/', n);
    size_t rn = slash ? (size_t)(slash - s) : n;
    int lo = d->lo, hi = d->hi, step = 1, rc;
    if (rn == 0)
        return fail(f->err, f->errlen, "field %d (%s): '%.*s' has no range "
                    "before its step", f->idx + 1, d->name, (int)n, s);
    if (!(rn == 1 && s[0] == '*')) {
        const char *dash = memchr(s, '-', rn);
        size_t an = dash ? (size_t)(dash - s) : rn;
        if ((rc = parse_value(f, s, an, &lo))) return rc;
        hi = lo;
        if (dash && (rc = parse_value(f, dash + 1, rn - an - 1, &hi)))
            return rc;
        if (!dash && slash) hi = d->hi; /* "N/STEP": N to the end */
        if (hi < lo)
            return fail(f->err, f->errlen, "field %d (%s): range %.*s goes "
                        "backwards", f->idx + 1, d->name, (int)rn, s);
    }
    if (slash) {
        size_t sn = n - rn - 1;
        if (sn == 0 || sn > 4 || strspn(slash + 1, "0123456789") < sn ||
            (step = atoi(slash + 1)) < 1)
            return fail(f->err, f->errlen, "field %d (%s): step '%.*s' is "
                        "not a whole number of at least 1", f->idx + 1,
                        d->name, (int)sn, slash + 1);
    }
    for (int v = lo; v <= hi; v += step) *bits |= 1ULL << v;
    return 0;
}

/* One field s[0..n): items separated by commas. */
static int parse_field(cron *c, const field_in *f, const char *s, size_t n)
{
    uint64_t bits = 0;
    for (size_t at = 0; at <= n;) {
        const char *comma = memchr(s + at, ',', n - at);
        size_t len = comma ? (size_t)(comma - (s + at)) : n - at;
        if (len == 0)
            return fail(f->err, f->errlen, "field %d (%s): empty item in "
                        "'%.*s'", f->idx + 1, fields[f->idx].name, (int)n, s);
        int rc = parse_item(f, s + at, len, &bits);
        if (rc) return rc;
        at += len + 1;
    }
    if (f->idx == F_DOW && (bits & (1ULL << 7))) bits = (bits | 1) & 0x7f;
    c->bits[f->idx] = bits;
    if (f->idx == F_DOM) c->dom_star = s[0] == '*';
    if (f->idx == F_DOW) c->dow_star = s[0] == '*';
    return 0;
}

static int parse_fields(cron *c, const char *expr, char *err, size_t errlen)
{
    const char *p = expr;
    int n = 0;
    for (;;) {
        while (isspace((unsigned char)*p)) p++;
        if (!*p) break;
        size_t len = strcspn(p, " \t\r\n\v\f");
        if (n < NFIELDS) {
            field_in f = { n, err, errlen };
            int rc = parse_field(c, &f, p, len);
            if (rc) return rc;
        }
        n++;
        p += len;
    }
    if (n != NFIELDS)
        return fail(err, errlen, "expected 5 fields (minute hour "
                    "day-of-month month day-of-week), got %d", n);
    return 0;
}

/* --- shortcuts ---------------------------------------------------------- */

/* "@every D": D is a whole number and one unit of s, m, h or d. */
static int parse_every(cron *c, const char *d, char *err, size_t errlen)
{
    static const struct {
        char unit;
        int64_t ms;
    } units[] = { { 's', 1000 }, { 'm', 60000 }, { 'h', 3600000 },
                  { 'd', 86400000 } };
    while (isspace((unsigned char)*d)) d++;
    size_t digits = strspn(d, "0123456789"), tail = strlen(d);
    while (tail > digits && isspace((unsigned char)d[tail - 1])) tail--;
    for (size_t i = 0; digits && digits <= 9 && tail == digits + 1 &&
                       i < sizeof units / sizeof *units; i++) {
        if (d[digits] != units[i].unit) continue;
        c->every_ms = strtoll(d, NULL, 10) * units[i].ms;
        if (c->every_ms < 1000 || c->every_ms > MAX_EVERY_MS)
            return fail(err, errlen, "@every %.*s: the period must be from "
                        "1s to 366d", (int)tail, d);
        return 0;
    }
    return fail(err, errlen, "@every needs a period like 30s, 5m, 2h or 1d, "
                "not '%.*s'", (int)tail, d);
}

static int parse_shortcut(cron *c, const char *expr, char *err, size_t errlen)
{
    size_t len = strcspn(expr, " \t\r\n\v\f");
    if (len == 6 && !strncasecmp(expr, "@every", 6))
        return parse_every(c, expr + 6, err, errlen);
    for (size_t i = 0; i < sizeof shortcuts / sizeof *shortcuts; i++) {
        if (strlen(shortcuts[i].name) != len ||
            strncasecmp(expr, shortcuts[i].name, len))
            continue;
        if (expr[len + strspn(expr + len, " \t\r\n\v\f")])
            return fail(err, errlen, "%s takes no fields", shortcuts[i].name);
        return parse_fields(c, shortcuts[i].expr, err, errlen);
    }
    return fail(err, errlen, "unknown shortcut '%.*s' (use @yearly, "
                "@monthly, @weekly, @daily, @hourly or @every)", (int)len,
                expr);
}

int cron_parse(const char *expr, cron **out, char *err, size_t errlen)
{
    if (!expr) return fail(err, errlen, "no expression");
    while (isspace((unsigned char)*expr)) expr++;
    cron *c = xcalloc(1, sizeof *c);
    int rc = *expr == '@' ? parse_shortcut(c, expr, err, errlen)
                          : parse_fields(c, expr, err, errlen);
    if (rc) {
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void cron_free(cron *c) { free(c); }

/* --- searching fire times ------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return q * b > a ? q - 1 : q;
}

/* The minute (since the epoch) that starts month mon0 (0-11, or 12 for
 * January of the next year) of year. */
static int64_t month_start(int year, int mon0)
{
    struct tm tm = { .tm_year = year - 1900, .tm_mon = mon0, .tm_mday = 1 };
    return (int64_t)timegm(&tm) / 60;
}

static bool has(const cron *c, int field, int v)
{
    return (c->bits[field] >> v) & 1;
}

static bool day_ok(const cron *c, const struct tm *tm)
{
    bool dom = has(c, F_DOM, tm->tm_mday), dow = has(c, F_DOW, tm->tm_wday);
    if (c->dom_star || c->dow_star) return dom && dow;
    return dom || dow;
}

/* Past a unit [start, start + len) that cannot match: forwards its end,
 * backwards the minute before it. */
static int64_t skip(int64_t start, int64_t len, int dir)
{
    return dir > 0 ? start + len : start - 1;
}

/* The first matching minute from m on in direction dir (+1 or -1), not
 * past limit; -1 when none. */
static int64_t search(const cron *c, int64_t m, int64_t limit, int dir)
{
    while (dir > 0 ? m <= limit : m >= limit) {
        time_t secs = (time_t)(m * 60);
        struct tm tm;
        gmtime_r(&secs, &tm);
        int64_t day = m - tm.tm_hour * 60 - tm.tm_min;
        int64_t hour = m - tm.tm_min;
        if (!has(c, F_MONTH, tm.tm_mon + 1)) {
            int y = tm.tm_year + 1900;
            m = dir > 0 ? month_start(y, tm.tm_mon + 1)
                        : month_start(y, tm.tm_mon) - 1;
        } else if (!day_ok(c, &tm)) {
            m = skip(day, 1440, dir);
        } else if (!has(c, F_HOUR, tm.tm_hour)) {
            m = skip(hour, 60, dir);
        } else if (!has(c, F_MINUTE, tm.tm_min)) {
            m += dir;
        } else {
            return m;
        }
    }
    return -1;
}

int64_t cron_next(const cron *c, int64_t after_ms)
{
    if (c->every_ms)
        return (floor_div(after_ms, c->every_ms) + 1) * c->every_ms;
    int64_t m = floor_div(after_ms, 60000) + 1;
    int64_t hit = search(c, m, m + CRON_HORIZON_MS / 60000, 1);
    return hit < 0 ? 0 : hit * 60000;
}

int64_t cron_prev(const cron *c, int64_t at_ms)
{
    if (c->every_ms) return floor_div(at_ms, c->every_ms) * c->every_ms;
    int64_t m = floor_div(at_ms, 60000);
    int64_t hit = search(c, m, m - CRON_HORIZON_MS / 60000, -1);
    return hit < 0 ? 0 : hit * 60000;
}
