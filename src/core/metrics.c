/* metrics.c - histograms and Prometheus text rendering (see metrics.h). */
#include "core/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/xmem.h"

const double fs_hist_bounds[FS_HIST_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25,   0.5,   1,      2.5,   5,    10,    30,    60,
};

void fs_hist_observe(fs_histogram *h, double seconds)
{
    int i = 0;
    while (i < FS_HIST_BUCKETS && seconds > fs_hist_bounds[i]) i++;
    atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    if (seconds > 0)
        atomic_fetch_add_explicit(&h->sum_us, (uint64_t)(seconds * 1e6),
                                  memory_order_relaxed);
}

void fs_buf_printf(fs_buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->data ? b->data + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        b->cap = (b->cap + (size_t)n + 1) * 2;
        b->data = xrealloc(b->data, b->cap);
    }
}

void fs_buf_free(fs_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void fs_hist_render(fs_buf *b, const char *name, const char *help,
                    const char *labels, const fs_histogram *h)
{
    const char *sep = labels[0] ? "," : "";
    uint64_t cum = 0;
    fs_buf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (int i = 0; i <= FS_HIST_BUCKETS; i++) {
        cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        if (i < FS_HIST_BUCKETS)
            fs_buf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels,
                          sep, fs_hist_bounds[i], (unsigned long long)cum);
        else
            fs_buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels,
                          sep, (unsigned long long)cum);
    }
    const char *open = labels[0] ? "{" : "", *close = labels[0] ? "}" : "";
    fs_buf_printf(b, "%s_sum%s%s%s %.6f\n", name, open, labels, close,
                  (double)atomic_load(&h->sum_us) / 1e6);
    fs_buf_printf(b, "%s_count%s%s%s %llu\n", name, open, labels, close,
                  (unsigned long long)atomic_load(&h->count));
}
