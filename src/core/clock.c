/* clock.c - real and manual clocks, RFC 3339 formatting and parsing. */
#include "core/clock.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int64_t real_now(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const fs_clock fs_clock_real = { real_now, NULL };

int64_t fs_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t fs_mono_ms(void) { return fs_mono_ns() / 1000000; }

int64_t fs_clock_manual_now(void *ctx) { return *(int64_t *)ctx; }

void fs_time_format(int64_t ms, char *buf, size_t len)
{
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)secs * 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool expect(const char **p, const char *set)
{
    if (**p && strchr(set, **p)) {
        (*p)++;
        return true;
    }
    return false;
}

static int days_in_month(int y, int m)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30,
                                31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

bool fs_time_parse(const char *s, int64_t *out_ms)
{
    int Y, M, D, h, m, sec, ms = 0;
    const char *p = s;
    if (!digits(&p, 4, &Y) || !expect(&p, "-") || !digits(&p, 2, &M) ||
        !expect(&p, "-") || !digits(&p, 2, &D) || !expect(&p, "Tt ") ||
        !digits(&p, 2, &h) || !expect(&p, ":") || !digits(&p, 2, &m) ||
        !expect(&p, ":") || !digits(&p, 2, &sec))
        return false;
    if (M < 1 || M > 12 || D < 1 || D > days_in_month(Y, M) || h > 23 ||
        m > 59 || sec > 60)
        return false;
    if (*p == '.') {
        p++;
        int n = 0, scale = 100;
        while (isdigit((unsigned char)*p)) {
            if (n++ < 3) ms += (*p - '0') * scale, scale /= 10;
            p++;
        }
        if (n == 0) return false;
    }
    int offset = 0;
    if (expect(&p, "Zz")) {
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (!digits(&p, 2, &oh) || !expect(&p, ":") || !digits(&p, 2, &om) ||
            oh > 23 || om > 59)
            return false;
        offset = sign * (oh * 60 + om);
    } else {
        return false;
    }
    if (*p) return false;
    struct tm tm = { .tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D,
                     .tm_hour = h, .tm_min = m, .tm_sec = sec };
    time_t t = timegm(&tm);
    *out_ms = ((int64_t)t - (int64_t)offset * 60) * 1000 + ms;
    return true;
}
