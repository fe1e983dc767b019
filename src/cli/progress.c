/*
 * progress.c - one-line progress display (see progress.h).
 *
 * Design: the state is only what redrawing needs (start time, last draw,
 * whether a line is on screen); the numbers come in with each update, so
 * the caller stays the one owner of its counters.  The ETA is
 * elapsed * (total - done) / done: it assumes the rest of the input goes
 * as fast as what was read so far, and is left out ("ETA --") for the
 * first half second and while nothing has been read.
 */
#include "cli/progress.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/xmem.h"

#define BAR 20
#define REDRAW_MS 100
#define WHAT_MAX 28 /* bytes of the file name shown */

struct progress {
    FILE *out;
    bool enabled, drawn;
    uint64_t total;
    int64_t start_ms, last_ms;
};

progress *progress_new(FILE *out, bool enabled, uint64_t total_bytes)
{
    progress *p = xcalloc(1, sizeof *p);
    p->out = out;
    p->enabled = enabled;
    p->total = total_bytes;
    p->start_ms = fs_mono_ms();
    p->last_ms = p->start_ms - REDRAW_MS;
    return p;
}

void progress_free(progress *p)
{
    if (!p) return;
    progress_clear(p);
    free(p);
}

void progress_count(char *buf, size_t len, uint64_t n)
{
    char digits[24];
    int nd = snprintf(digits, sizeof digits, "%" PRIu64, n);
    char out[32], *o = out;
    for (int i = 0; i < nd; i++) {
        if (i && (nd - i) % 3 == 0) *o++ = ',';
        *o++ = digits[i];
    }
    *o = '\0';
    snprintf(buf, len, "%s", out);
}

void progress_span(char *buf, size_t len, double secs)
{
    uint64_t s = secs > 0 ? (uint64_t)(secs + 0.5) : 0;
    if (s < 60)
        snprintf(buf, len, "%" PRIu64 "s", s);
    else if (s < 3600)
        snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
    else
        snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s / 60 % 60);
}

void progress_format(char *buf, size_t len, uint64_t docs, uint64_t done,
                     uint64_t total, double secs, const char *what)
{
    if (done > total) done = total;
    double share = total ? (double)done / (double)total : 1.0;
    int filled = (int)(share * BAR);
    char bar[BAR + 1], count[32], eta[32] = "--";
    for (int i = 0; i < BAR; i++)
        bar[i] = i < filled ? '#' : '-';
    bar[BAR] = '\0';
    progress_count(count, sizeof count, docs);
    if (done > 0 && secs >= 0.5)
        progress_span(eta, sizeof eta,
                      secs * (double)(total - done) / (double)done);
    double rate = secs > 0 ? (double)docs / secs : 0;
    int n = snprintf(buf, len, "[%s] %3d%%  %s docs  %.0f docs/s  ETA %s", bar,
                     (int)(share * 100), count, rate, eta);
    if (what && *what && n > 0 && (size_t)n < len) {
        size_t w = strlen(what), from = w > WHAT_MAX ? w - WHAT_MAX : 0;
        while (from < w && ((unsigned char)what[from] & 0xc0) == 0x80)
            from++; /* not in the middle of a UTF-8 character */
        if (from)
            snprintf(buf + n, len - (size_t)n, "  ...%s", what + from);
        else
            snprintf(buf + n, len - (size_t)n, "  %s", what);
    }
}

void progress_update(progress *p, uint64_t docs, uint64_t done_bytes,
                     const char *what, bool force)
{
    if (!p->enabled) return;
    int64_t now = fs_mono_ms();
    if (!force && now - p->last_ms < REDRAW_MS) return;
    p->last_ms = now;
    char line[160];
    progress_format(line, sizeof line, docs, done_bytes, p->total,
                    (double)(now - p->start_ms) / 1000.0, what);
    fprintf(p->out, "\r\033[K%s", line);
    fflush(p->out);
    p->drawn = true;
}

void progress_clear(progress *p)
{
    if (!p->enabled || !p->drawn) return;
    fputs("\r\033[K", p->out);
    fflush(p->out);
    p->drawn = false;
}
