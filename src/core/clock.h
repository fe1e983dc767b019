/*
 * clock.h - an injectable wall clock, and RFC 3339 conversion.
 *
 * Everything that reasons about time (run_at, leases, backoff, heartbeat
 * age) asks an fs_clock instead of calling time() itself, so tests can move
 * time by hand.  Times are int64 milliseconds since the Unix epoch.
 */
#ifndef CLOCK_H
#define CLOCK_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fs_clock {
    int64_t (*now_ms)(void *ctx);
    void *ctx;
} fs_clock;

/* The real clock (CLOCK_REALTIME). */
extern const fs_clock fs_clock_real;

static inline int64_t fs_now(const fs_clock *c) { return c->now_ms(c->ctx); }

/* Monotonic milliseconds and nanoseconds, for timeouts and latency. */
int64_t fs_mono_ms(void);
int64_t fs_mono_ns(void);

/* A manual clock for tests: ctx points at an int64_t holding "now". */
int64_t fs_clock_manual_now(void *ctx);

/* Formats ms as "2026-11-24T09:30:00.123Z" into buf (>= 32 bytes). */
void fs_time_format(int64_t ms, char *buf, size_t len);
/* Parses RFC 3339 (Z or +hh:mm offset, optional fraction).  false on error,
 * including a day the month does not have and an offset past 23:59. */
bool fs_time_parse(const char *s, int64_t *out_ms);

#endif
