/*
 * fuzz_cron.c - libFuzzer target: cron expressions (cron_parse, behind the
 * "cron" of POST /v1/schedules and `flowstate schedule add`) and the fire
 * times found for them.
 *
 * Input: the whole input, cut at a NUL, is the expression.  Checked
 * (FUZZ_CHECK aborts):
 *  - a refused expression comes with a message and no cron, an accepted
 *    one with a cron;
 *  - for an accepted one and a few instants t (fixed ones around leap days
 *    and year ends, and one from the input's bytes): next = cron_next(t)
 *    is 0 or after t, prev = cron_prev(t) is 0 or at most t; both are
 *    fire times (prev of a fire time is itself); and when both exist and
 *    lie well within the horizon, nothing fires between them: the next
 *    fire after prev is next.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "queue/cron.h"

/* 1970-01-01, 2000-02-29 12:00, 2024-12-31 23:59:30, 2100-02-28 23:59. */
static const int64_t fixed[] = { 0, 951825600000LL, 1735689570000LL,
                                 4107542340000LL };

static void check_at(const cron *c, int64_t t)
{
    int64_t next = cron_next(c, t), prev = cron_prev(c, t);
    FUZZ_CHECK(next == 0 || next > t);
    FUZZ_CHECK(prev == 0 || prev <= t);
    if (next) FUZZ_CHECK(cron_prev(c, next) == next);
    if (prev) FUZZ_CHECK(cron_prev(c, prev) == prev);
    if (next && prev && next - prev < CRON_HORIZON_MS / 2)
        FUZZ_CHECK(cron_next(c, prev) == next);
}

int fuzz_cron_one(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    char err[256] = "";
    cron *c = NULL;
    int rc = cron_parse(s, &c, err, sizeof err);
    FUZZ_CHECK(rc ? err[0] != '\0' && c == NULL : c != NULL);
    if (!rc) {
        for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
            check_at(c, fixed[i]);
        uint64_t raw = 0;
        memcpy(&raw, data, size < 8 ? size : 8);
        check_at(c, (int64_t)(raw % 4102444800000ULL)); /* up to 2100 */
        cron_free(c);
    }
    free(s);
    return 0;
}

FUZZ_ENTRY(fuzz_cron_one)
