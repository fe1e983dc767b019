/*
 * metrics.h - lock-free counters and fixed-bucket histograms, rendered in
 * the Prometheus text exposition format.
 *
 * A histogram has the same latency buckets everywhere (0.5 ms .. 60 s) so
 * dashboards can compare them; observe() is two atomic adds.
 */
#ifndef METRICS_H
#define METRICS_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define FS_HIST_BUCKETS 16

typedef struct fs_histogram {
    _Atomic uint64_t bucket[FS_HIST_BUCKETS + 1]; /* last = +Inf */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_us;
} fs_histogram;

/* Upper bounds in seconds of the finite buckets. */
extern const double fs_hist_bounds[FS_HIST_BUCKETS];

void fs_hist_observe(fs_histogram *h, double seconds);

/* A growable text buffer for rendering. */
typedef struct fs_buf {
    char *data;
    size_t len, cap;
} fs_buf;

void fs_buf_printf(fs_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void fs_buf_free(fs_buf *b);

/* Appends "# HELP/# TYPE" and the _bucket/_sum/_count lines of h.
 * labels is "" or like `route="jobs"` (without braces). */
void fs_hist_render(fs_buf *b, const char *name, const char *help,
                    const char *labels, const fs_histogram *h);

#endif
