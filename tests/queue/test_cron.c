/*
 * test_cron.c - cron expressions (queue/cron.h), data-driven: each case
 * is an expression, a time and the fire time worked out by hand with a
 * calendar (leap years, month ends, the day-of-month / day-of-week rule,
 * steps, names, shortcuts, @every), then every parse error with its
 * exact message.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "core/clock.h"
#include "core/fs.h"
#include "queue/cron.h"

TestSuite(cron, .timeout = 30);

static int64_t at(const char *rfc3339)
{
    int64_t ms = 0;
    cr_assert(fs_time_parse(rfc3339, &ms), "bad time in test: %s", rfc3339);
    return ms;
}

static cron *parse(const char *expr)
{
    cron *c = NULL;
    char err[256] = "";
    cr_assert_eq(cron_parse(expr, &c, err, sizeof err), 0, "%s: %s", expr,
                 err);
    return c;
}

typedef struct fire_case {
    const char *expr, *from, *want; /* want NULL: never (0) */
} fire_case;

/* Runs cases through next (true: cron_next) or cron_prev. */
static void check(const fire_case *cases, size_t n, bool next)
{
    for (size_t i = 0; i < n; i++) {
        cron *c = parse(cases[i].expr);
        int64_t from = at(cases[i].from);
        int64_t got = next ? cron_next(c, from) : cron_prev(c, from);
        int64_t want = cases[i].want ? at(cases[i].want) : 0;
        char buf[40] = "never";
        if (got) fs_time_format(got, buf, sizeof buf);
        cr_expect_eq(got, want, "%s %s %s: got %s, want %s", cases[i].expr,
                     next ? "after" : "at or before", cases[i].from, buf,
                     cases[i].want ? cases[i].want : "never");
        cron_free(c);
    }
}

Test(cron, next_fire_times)
{
    static const fire_case cases[] = {
        /* steps and ranges */
        { "*/15 * * * *", "2024-01-01T00:07:00Z", "2024-01-01T00:15:00Z" },
        { "*/15 * * * *", "2024-01-01T00:15:00Z", "2024-01-01T00:30:00Z" },
        { "*/15 * * * *", "2024-01-01T00:14:59.999Z", "2024-01-01T00:15:00Z" },
        { "10-50/10 * * * *", "2024-01-01T00:50:00Z", "2024-01-01T01:10:00Z" },
        { "5/20 * * * *", "2024-01-01T00:46:00Z", "2024-01-01T01:05:00Z" },
        { "0 9-17/4 * * *", "2024-01-01T13:00:00Z", "2024-01-01T17:00:00Z" },
        { "0 9-17/4 * * *", "2024-01-01T17:00:00Z", "2024-01-02T09:00:00Z" },
        { "1,2,58 * * * *", "2024-01-01T00:02:00Z", "2024-01-01T00:58:00Z" },
        /* month ends, year ends, leap years */
        { "0 0 * * *", "2024-02-28T12:00:00Z", "2024-02-29T00:00:00Z" },
        { "0 0 * * *", "2023-02-28T12:00:00Z", "2023-03-01T00:00:00Z" },
        { "0 0 29 2 *", "2023-03-01T00:00:00Z", "2024-02-29T00:00:00Z" },
        { "0 0 29 2 *", "2024-02-29T00:00:00Z", "2028-02-29T00:00:00Z" },
        { "0 0 31 * *", "2024-04-01T00:00:00Z", "2024-05-31T00:00:00Z" },
        { "59 23 31 12 *", "2024-12-31T23:59:00Z", "2025-12-31T23:59:00Z" },
        { "0 0 1 * *", "2024-12-31T23:59:59.999Z", "2025-01-01T00:00:00Z" },
        /* never: no such day (within the 5-year horizon) */
        { "0 0 30 2 *", "2024-01-01T00:00:00Z", NULL },
        { "0 0 31 4,6,9,11 *", "2024-01-01T00:00:00Z", NULL },
        /* the day rule: both restricted -> either; one a star -> both */
        { "0 0 13 * MON", "2024-09-01T00:00:00Z", "2024-09-02T00:00:00Z" },
        { "0 0 13 * MON", "2024-09-09T00:00:00Z", "2024-09-13T00:00:00Z" },
        { "0 0 13 * *", "2024-09-01T00:00:00Z", "2024-09-13T00:00:00Z" },
        { "0 0 * * MON", "2024-09-02T00:00:00Z", "2024-09-09T00:00:00Z" },
        /* a star with a step is still a star: odd day AND Monday */
        { "0 0 */2 * MON", "2024-09-02T00:00:00Z", "2024-09-09T00:00:00Z" },
        { "0 0 1-31/2 * MON", "2024-09-02T00:00:00Z", "2024-09-03T00:00:00Z" },
        { "0 0 */10 * *", "2024-09-01T00:00:00Z", "2024-09-11T00:00:00Z" },
        { "30 9 * * 1-5", "2024-09-06T10:00:00Z", "2024-09-09T09:30:00Z" },
        /* 0 and 7 are Sunday; names in any case */
        { "0 0 * * 7", "2024-09-02T00:00:00Z", "2024-09-08T00:00:00Z" },
        { "0 0 * * 0", "2024-09-02T00:00:00Z", "2024-09-08T00:00:00Z" },
        { "0 0 * * 5-7", "2024-09-02T00:00:00Z", "2024-09-06T00:00:00Z" },
        { "0 0 * * sun", "2024-09-02T00:00:00Z", "2024-09-08T00:00:00Z" },
        { "0 0 1 JAN,jul *", "2024-02-01T00:00:00Z", "2024-07-01T00:00:00Z" },
        { "0 0 1 Mar-May *", "2024-05-02T00:00:00Z", "2025-03-01T00:00:00Z" },
        /* shortcuts */
        { "@hourly", "2024-01-01T00:00:00.001Z", "2024-01-01T01:00:00Z" },
        { "@daily", "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z" },
        { "@midnight", "2024-01-01T23:00:00Z", "2024-01-02T00:00:00Z" },
        { "@weekly", "2024-09-02T00:00:00Z", "2024-09-08T00:00:00Z" },
        { "@monthly", "2024-01-31T23:59:59Z", "2024-02-01T00:00:00Z" },
        { "@yearly", "2024-06-01T00:00:00Z", "2025-01-01T00:00:00Z" },
        { "@annually", "2024-06-01T00:00:00Z", "2025-01-01T00:00:00Z" },
        { "  @DAILY  ", "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z" },
        /* @every: multiples of the period since the epoch */
        { "@every 30s", "2024-01-01T00:00:10Z", "2024-01-01T00:00:30Z" },
        { "@every 30s", "2024-01-01T00:00:30Z", "2024-01-01T00:01:00Z" },
        { "@every 1s", "2024-01-01T00:00:10.5Z", "2024-01-01T00:00:11Z" },
        { "@every 5m", "2024-01-01T00:07:00Z", "2024-01-01T00:10:00Z" },
        { "@every 2h", "2024-01-01T01:00:00Z", "2024-01-01T02:00:00Z" },
        { "@every 1d", "2024-01-01T01:00:00Z", "2024-01-02T00:00:00Z" },
    };
    check(cases, sizeof cases / sizeof *cases, true);
}

Test(cron, previous_fire_times)
{
    static const fire_case cases[] = {
        { "*/15 * * * *", "2024-01-01T00:15:00Z", "2024-01-01T00:15:00Z" },
        { "*/15 * * * *", "2024-01-01T00:14:59.999Z", "2024-01-01T00:00:00Z" },
        { "*/15 * * * *", "2024-01-01T00:00:30Z", "2024-01-01T00:00:00Z" },
        { "0 0 29 2 *", "2024-06-01T00:00:00Z", "2024-02-29T00:00:00Z" },
        { "0 0 29 2 *", "2024-02-28T23:59:00Z", "2020-02-29T00:00:00Z" },
        { "0 0 31 * *", "2024-05-15T00:00:00Z", "2024-03-31T00:00:00Z" },
        { "0 0 13 * MON", "2024-09-12T00:00:00Z", "2024-09-09T00:00:00Z" },
        { "0 0 13 * MON", "2024-09-15T00:00:00Z", "2024-09-13T00:00:00Z" },
        { "0 9-17/4 * * *", "2024-01-02T08:59:00Z", "2024-01-01T17:00:00Z" },
        { "59 23 31 12 *", "2025-06-01T00:00:00Z", "2024-12-31T23:59:00Z" },
        { "@every 30s", "2024-01-01T00:00:45Z", "2024-01-01T00:00:30Z" },
        { "@every 30s", "2024-01-01T00:00:30Z", "2024-01-01T00:00:30Z" },
        { "0 0 30 2 *", "2024-01-01T00:00:00Z", NULL },
    };
    check(cases, sizeof cases / sizeof *cases, false);
}

/* next and prev agree minute by minute over four days of a busy
 * expression: next never skips a fire, prev is always the last one. */
Test(cron, next_and_prev_agree_minute_by_minute)
{
    cron *c = parse("*/7 1-3,22 * * MON,WED");
    int64_t t = at("2024-09-01T00:00:00Z");
    int64_t next = cron_next(c, t), last = cron_prev(c, t);
    cr_assert_eq(last, at("2024-08-28T22:56:00Z"));
    for (int64_t m = t; m < t + 4LL * 86400000; m += 60000) {
        cr_assert_leq(m, next, "a fire time was skipped");
        if (m == next) {
            last = m;
            next = cron_next(c, m);
        }
        cr_assert_eq(cron_prev(c, m), last);
    }
    cr_assert_eq(last, at("2024-09-04T22:56:00Z"));
    cron_free(c);
}

Test(cron, parse_errors_name_the_field_and_the_problem)
{
    static const struct {
        const char *expr, *msg;
    } cases[] = {
        { "0 25 * * *", "field 2 (hour): 25 is out of 0-23" },
        { "60 * * * *", "field 1 (minute): 60 is out of 0-59" },
        { "* * 0 * *", "field 3 (day-of-month): 0 is out of 1-31" },
        { "* * 32 * *", "field 3 (day-of-month): 32 is out of 1-31" },
        { "* * * 13 *", "field 4 (month): 13 is out of 1-12" },
        { "* * * * 8", "field 5 (day-of-week): 8 is out of 0-7" },
        { "* * * 99999 *", "field 4 (month): 99999 is out of 1-12" },
        { "* * * FOO *", "field 4 (month): 'FOO' is not a number or a name" },
        { "* * * * MONDAY",
          "field 5 (day-of-week): 'MONDAY' is not a number or a name" },
        { "a * * * *", "field 1 (minute): 'a' is not a number" },
        { "* JAN * * *", "field 2 (hour): 'JAN' is not a number" },
        { "5-1 * * * *", "field 1 (minute): range 5-1 goes backwards" },
        { "1- * * * *", "field 1 (minute): '' is not a number" },
        { "*/0 * * * *",
          "field 1 (minute): step '0' is not a whole number of at least 1" },
        { "*/x * * * *",
          "field 1 (minute): step 'x' is not a whole number of at least 1" },
        { "1/ * * * *",
          "field 1 (minute): step '' is not a whole number of at least 1" },
        { "/5 * * * *",
          "field 1 (minute): '/5' has no range before its step" },
        { "1,,2 * * * *", "field 1 (minute): empty item in '1,,2'" },
        { "* * * * 1,", "field 5 (day-of-week): empty item in '1,'" },
        { "* * * *", "expected 5 fields (minute hour day-of-month month "
                     "day-of-week), got 4" },
        { "* * * * * *", "expected 5 fields (minute hour day-of-month month "
                         "day-of-week), got 6" },
        { "", "expected 5 fields (minute hour day-of-month month "
              "day-of-week), got 0" },
        { "@every 0s", "@every 0s: the period must be from 1s to 366d" },
        { "@every 367d", "@every 367d: the period must be from 1s to 366d" },
        { "@every 5", "@every needs a period like 30s, 5m, 2h or 1d, not '5'" },
        { "@every", "@every needs a period like 30s, 5m, 2h or 1d, not ''" },
        { "@every 1.5h",
          "@every needs a period like 30s, 5m, 2h or 1d, not '1.5h'" },
        { "@every 5 m",
          "@every needs a period like 30s, 5m, 2h or 1d, not '5 m'" },
        { "@fortnightly", "unknown shortcut '@fortnightly' (use @yearly, "
                          "@monthly, @weekly, @daily, @hourly or @every)" },
        { "@daily 1", "@daily takes no fields" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cron *c = NULL;
        char err[256] = "";
        cr_expect_eq(cron_parse(cases[i].expr, &c, err, sizeof err), FS_EINVAL,
                     "'%s' parsed", cases[i].expr);
        cr_expect_str_eq(err, cases[i].msg, "'%s'", cases[i].expr);
        cr_expect_null(c);
    }
    cron *c = NULL;
    cr_assert_eq(cron_parse("0 25 * * *", &c, NULL, 0), FS_EINVAL,
                 "no message buffer is fine");
}

Test(cron, whitespace_between_fields_is_free)
{
    cron *c = parse(" \t0\t 12  *   * \n* ");
    cr_assert_eq(cron_next(c, at("2024-01-01T00:00:00Z")),
                 at("2024-01-01T12:00:00Z"));
    cron_free(c);
}
