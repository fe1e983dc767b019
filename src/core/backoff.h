/*
 * backoff.h - retry delays: exponential with a cap, plus random jitter.
 *
 * delay(n) = min(max_ms, base_ms * 2^(n-1)) * (1 + jitter * u), u in [0,1)
 * where n is the number of attempts made so far (n >= 1).
 */
#ifndef BACKOFF_H
#define BACKOFF_H
#include <stdint.h>

typedef struct fs_backoff {
    int64_t base_ms; /* delay after the first failed attempt */
    int64_t max_ms;  /* cap before jitter */
    double jitter;   /* 0 = none; 0.2 = up to 20% more */
} fs_backoff;

#define FS_BACKOFF_DEFAULT ((fs_backoff){ 1000, 3600 * 1000, 0.2 })

/* u is the random draw in [0,1), passed in so callers can test exactly. */
int64_t fs_backoff_delay(const fs_backoff *b, int attempts, double u);

#endif
