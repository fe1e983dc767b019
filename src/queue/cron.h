/*
 * cron.h - cron expressions: when a periodic job fires.  All times UTC.
 *
 * Accepted (cron_parse):
 *   five fields   "minute hour day-of-month month day-of-week", each a
 *                 comma list of items: "*", "N", "A-B", any of them with
 *                 "/STEP" ("10-50/10"; a star with "/15" is every 15th;
 *                 "N/STEP" means N-max/STEP)
 *                 minute 0-59, hour 0-23, day-of-month 1-31, month 1-12
 *                 or JAN-DEC, day-of-week 0-7 or SUN-SAT (0 and 7 are
 *                 both Sunday); names are case-insensitive
 *   shortcuts     @yearly (@annually) "0 0 1 1 *", @monthly "0 0 1 * *",
 *                 @weekly "0 0 * * 0", @daily (@midnight) "0 0 * * *",
 *                 @hourly "0 * * * *"
 *   @every D      every D seconds since the Unix epoch, D written as
 *                 "30s", "5m", "2h" or "1d" (1 s to 366 days); fire times
 *                 are multiples of D, so every process agrees on them
 *
 * The day rule of Vixie cron: when both day-of-month and day-of-week are
 * restricted (neither field starts with "*"), a day matches if EITHER
 * does ("0 0 13 * FRI": every 13th and every Friday); otherwise both must.
 *
 * A parsed cron is immutable: share it between threads freely.
 */
#ifndef CRON_H
#define CRON_H
#include <stddef.h>
#include <stdint.h>

typedef struct cron cron;

/* How far cron_next and cron_prev look before giving up. */
#define CRON_HORIZON_MS (5LL * 366 * 86400 * 1000)

/*
 * Parses expr.  Errors: FS_EINVAL with a message in err (errlen bytes,
 * may be 0) naming the field and the problem, like "field 2 (hour): 25
 * is out of 0-23".  OUT: *out, freed with cron_free.
 */
int cron_parse(const char *expr, cron **out, char *err, size_t errlen);
void cron_free(cron *c);

/* The first fire time strictly after after_ms (ms since the epoch), or 0
 * when there is none within CRON_HORIZON_MS ("0 0 30 2 *"). */
int64_t cron_next(const cron *c, int64_t after_ms);
/* The last fire time at or before at_ms, or 0 when there is none within
 * CRON_HORIZON_MS. */
int64_t cron_prev(const cron *c, int64_t at_ms);

#endif
