/*
 * fuzz_time.c - libFuzzer target: RFC 3339 times (fs_time_parse, behind
 * every "run_at" a client sends) against fs_time_format.
 *
 * Input: the whole input, cut at a NUL, is the string to parse.  Checked
 * (FUZZ_CHECK aborts):
 *  - parse(s) succeeds only for a real calendar date (no 31 February) and
 *    an offset of at most 23:59, as RFC 3339 section 5.7 requires;
 *  - where it succeeds and the instant is in years 0000..9999,
 *    format(ms) parses back to ms, and for a "Z" time below second 60
 *    format(ms) shows the same date and time of day;
 *  - the first 8 bytes, read as a time in years 0000..9999, round-trip
 *    format -> parse exactly.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "fuzz.h"

/* 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z. */
#define MIN_MS (-62167219200000LL)
#define MAX_MS 253402300799999LL

static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* s was accepted: check what RFC 3339 adds to the shape the parser read
 * ("YYYY-MM-DDThh:mm:ss", then an optional fraction and an offset). */
static void check_accepted(const char *s, int64_t ms)
{
    FUZZ_CHECK(strlen(s) >= 20);
    int y = num(s, 4), mo = num(s + 5, 2), d = num(s + 8, 2);
    FUZZ_CHECK(mo >= 1 && mo <= 12 && d >= 1 && d <= days_in_month(y, mo));
    const char *p = s + 19;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++) {
        }
    bool utc = *p == 'Z' || *p == 'z';
    if (!utc) FUZZ_CHECK(num(p + 1, 2) <= 23 && num(p + 4, 2) <= 59);
    if (ms < MIN_MS || ms > MAX_MS) return;

    char buf[40];
    int64_t back = 0;
    fs_time_format(ms, buf, sizeof buf);
    FUZZ_CHECK(strlen(buf) == 24);
    FUZZ_CHECK(fs_time_parse(buf, &back) && back == ms);
    if (utc && num(s + 17, 2) < 60) {
        FUZZ_CHECK(memcmp(buf, s, 10) == 0 && memcmp(buf + 11, s + 11, 8) == 0);
    }
}

int fuzz_time_one(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    int64_t ms = 0;
    if (fs_time_parse(s, &ms)) check_accepted(s, ms);
    free(s);

    if (size >= 8) {
        uint64_t raw;
        memcpy(&raw, data, 8);
        int64_t t = MIN_MS + (int64_t)(raw % (uint64_t)(MAX_MS - MIN_MS + 1));
        char buf[40];
        int64_t back = 0;
        fs_time_format(t, buf, sizeof buf);
        FUZZ_CHECK(fs_time_parse(buf, &back) && back == t);
    }
    return 0;
}

FUZZ_ENTRY(fuzz_time_one)
