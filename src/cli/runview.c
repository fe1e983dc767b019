/*
 * runview.c - a workflow run in the terminal (see runview.h).
 *
 * Design: each step is summed up in one "core" line that holds everything
 * that counts as a change (state, attempt, items done, error) and nothing
 * that ticks (elapsed time).  The view keeps the last core line of every
 * step, and of the run, in a JSON object keyed by step id: a core line
 * that differs from the kept one is a change.  RUNVIEW_LINES prints
 * exactly those lines, stamped; RUNVIEW_REDRAW renders the header and the
 * table into memory, moves the cursor up over the previous drawing and
 * writes the new one line by line, each after "erase line", then erases
 * whatever the old drawing had below ("\033[J").  Lines never wrap
 * (table_style.width cuts the table to the terminal), so counting '\n'
 * counts the screen lines to go back over.
 */
#include "cli/runview.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/clidoc.h"
#include "cli/clifmt.h"
#include "cli/progress.h"
#include "core/clock.h"
#include "core/xmem.h"

struct runview {
    FILE *out;
    runview_mode mode;
    table_style style;
    json_t *last;       /* step id (or "" for the run) -> its core line */
    size_t drawn_lines; /* RUNVIEW_REDRAW: lines of the drawing on screen */
};

runview *runview_new(FILE *out, runview_mode mode, table_style style)
{
    runview *v = xcalloc(1, sizeof *v);
    v->out = out;
    v->mode = mode;
    v->style = style;
    v->last = json_object();
    return v;
}

void runview_free(runview *v)
{
    if (!v) return;
    json_decref(v->last);
    free(v);
}

/* ---- pieces -------------------------------------------------------------- */

/* SGR colours of run and step states in tables. */
static const char *state_colour(const char *state)
{
    static const struct {
        const char *state, *sgr;
    } colours[] = {
        {"pending", "2"},    {"scheduled", "34"}, {"running", "36"},
        {"completed", "32"}, {"failed", "31"},    {"skipped", "33"},
        {"cancelled", "2"},
    };
    for (size_t i = 0; i < sizeof colours / sizeof *colours; i++)
        if (!strcmp(state, colours[i].state)) return colours[i].sgr;
    return NULL;
}

/* The ms between two RFC 3339 members of obj (to may be absent: then
 * now_ms); false when from is missing or a time does not parse. */
static bool span_ms(const json_t *obj, const char *from, const char *to,
                    int64_t now_ms, int64_t *out)
{
    int64_t a, b = now_ms;
    const char *sa = json_string_value(json_object_get(obj, from));
    const char *sb = json_string_value(json_object_get(obj, to));
    if (!sa || !fs_time_parse(sa, &a) || (sb && !fs_time_parse(sb, &b)))
        return false;
    *out = b > a ? b - a : 0;
    return true;
}

static void span_text(const json_t *obj, const char *from, const char *to,
                      int64_t now_ms, char *buf, size_t len)
{
    int64_t ms;
    if (span_ms(obj, from, to, now_ms, &ms))
        progress_span(buf, len, (double)ms / 1000.0);
    else
        snprintf(buf, len, "-");
}

void runview_took(const json_t *run, int64_t now_ms, char *buf, size_t len)
{
    span_text(run, "created_at", "finished_at", now_ms, buf, len);
}

/* A for_each step's items as "3/10" or "3/10, 1 failed"; "" for a step
 * without items (or before they are known). */
static void items_text(const json_t *step, char *buf, size_t len)
{
    const json_t *items = json_object_get(step, "items");
    *buf = '\0';
    if (!json_is_object(items)) return;
    json_int_t total = json_integer_value(json_object_get(items, "total"));
    json_int_t done = json_integer_value(json_object_get(items, "completed"));
    json_int_t failed = json_integer_value(json_object_get(items, "failed"));
    if (failed)
        snprintf(buf, len,
                 "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT
                 ", %" JSON_INTEGER_FORMAT " failed",
                 done, total, failed);
    else
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
                 done, total);
}

/* The error of obj on one line (blanks squeezed), or NULL; the caller
 * frees it. */
static char *error_line(const json_t *obj)
{
    const char *err = json_string_value(json_object_get(obj, "error"));
    return err ? clidoc_oneline(err) : NULL;
}

/* "score running (attempt 1), items 3/10: boom" (caller frees). */
static char *step_core(const json_t *step)
{
    const char *state = clifmt_str(step, "state");
    json_int_t attempts = json_integer_value(json_object_get(step, "attempts"));
    char items[64], attempt[48] = "";
    items_text(step, items, sizeof items);
    bool show_attempt = !strcmp(state, "scheduled") ||
                        !strcmp(state, "running") || !strcmp(state, "failed") ||
                        attempts > 1;
    if (attempts > 0 && show_attempt)
        snprintf(attempt, sizeof attempt, " (attempt %" JSON_INTEGER_FORMAT ")",
                 attempts);
    char *err = error_line(step);
    char *s = xasprintf("%s %s%s%s%s%s", clifmt_str(step, "id"), state, attempt,
                        *items ? ", items " : "", items, err ? ": " : "");
    if (err) {
        char *with = xasprintf("%s%s", s, err);
        free(s);
        s = with;
    }
    free(err);
    return s;
}

/* "run 42 running", "run 42 completed in 12s", "run 42 failed after 3s:
 * why" (caller frees). */
static char *run_core(const json_t *run, int64_t now_ms)
{
    const char *state = clifmt_str(run, "state");
    json_int_t id = json_integer_value(json_object_get(run, "id"));
    char took[32];
    runview_took(run, now_ms, took, sizeof took);
    if (!strcmp(state, "running"))
        return xasprintf("run %" JSON_INTEGER_FORMAT " running", id);
    char *err = error_line(run);
    char *s = xasprintf("run %" JSON_INTEGER_FORMAT " %s %s %s%s%s", id, state,
                        strcmp(state, "completed") ? "after" : "in", took,
                        err ? ": " : "", err ? err : "");
    free(err);
    return s;
}

/* ---- tables -------------------------------------------------------------- */

enum { S_ID, S_STATE, S_ATTEMPTS, S_ELAPSED, S_ITEMS, S_ERROR, S_NCOLS };

table *runview_steps(const json_t *run, int64_t now_ms)
{
    static const char *const headers[S_NCOLS] = {
        "STEP", "STATE", "ATTEMPTS", "ELAPSED", "ITEMS", "ERROR",
    };
    table *t = table_new(S_NCOLS, headers);
    table_set_align(t, S_ATTEMPTS, TABLE_RIGHT);
    table_set_align(t, S_ELAPSED, TABLE_RIGHT);
    table_set_colour(t, S_STATE, state_colour);
    table_set_max(t, S_ID, 40);
    table_set_max(t, S_ERROR, 60);
    size_t i;
    json_t *step;
    json_array_foreach(json_object_get(run, "steps"), i, step)
    {
        char elapsed[32] = "-", items[64], attempts[24];
        if (json_is_string(json_object_get(step, "started_at")))
            span_text(step, "started_at", "finished_at", now_ms, elapsed,
                      sizeof elapsed);
        items_text(step, items, sizeof items);
        snprintf(attempts, sizeof attempts, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(step, "attempts")));
        char *err = error_line(step);
        const char *row[S_NCOLS] = {
            clifmt_str(step, "id"),
            clifmt_str(step, "state"),
            attempts,
            elapsed,
            *items ? items : "",
            err ? err : "",
        };
        table_add(t, row);
        free(err);
    }
    return t;
}

/* "HH:MM:SS" of ms in local time. */
static void clock_text(int64_t ms, char *buf, size_t len)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (localtime_r(&secs, &tm))
        strftime(buf, len, "%H:%M:%S", &tm);
    else
        snprintf(buf, len, "-");
}

enum { E_TIME, E_SINCE, E_TYPE, E_STEP, E_ATTEMPT, E_ERROR, E_NCOLS };

table *runview_events(const json_t *events)
{
    static const char *const headers[E_NCOLS] = {
        "TIME", "ELAPSED", "EVENT", "STEP", "ATTEMPT", "ERROR",
    };
    table *t = table_new(E_NCOLS, headers);
    table_set_align(t, E_SINCE, TABLE_RIGHT);
    table_set_align(t, E_ATTEMPT, TABLE_RIGHT);
    table_set_max(t, E_ERROR, 60);
    int64_t first = 0;
    bool have_first = false;
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        char when[32] = "-", since[32] = "-", step[128] = "", attempt[24] = "";
        const char *at = json_string_value(json_object_get(ev, "at"));
        int64_t ms;
        if (at && fs_time_parse(at, &ms)) {
            if (!have_first) first = ms;
            have_first = true;
            clock_text(ms, when, sizeof when);
            progress_span(since, sizeof since, (double)(ms - first) / 1000.0);
        }
        const json_t *item = json_object_get(ev, "item");
        if (json_is_string(json_object_get(ev, "step")))
            snprintf(step, sizeof step, "%s", clifmt_str(ev, "step"));
        if (*step && json_is_integer(item))
            snprintf(step + strlen(step), sizeof step - strlen(step),
                     "[%" JSON_INTEGER_FORMAT "]", json_integer_value(item));
        if (json_is_integer(json_object_get(ev, "attempt")))
            snprintf(attempt, sizeof attempt, "%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(ev, "attempt")));
        char *err = error_line(ev);
        const char *row[E_NCOLS] = {
            when, since, clifmt_str(ev, "type"), step, attempt, err ? err : "",
        };
        table_add(t, row);
        free(err);
    }
    return t;
}

void runview_summary(FILE *out, const json_t *run, int64_t now_ms)
{
    const char *state = clifmt_str(run, "state");
    json_int_t id = json_integer_value(json_object_get(run, "id"));
    char took[32];
    runview_took(run, now_ms, took, sizeof took);
    if (!strcmp(state, "running"))
        fprintf(out, "run %" JSON_INTEGER_FORMAT " is running (%s so far)\n",
                id, took);
    else
        fprintf(out, "run %" JSON_INTEGER_FORMAT " %s %s %s\n", id, state,
                strcmp(state, "completed") ? "after" : "in", took);
}

/* ---- the live view ------------------------------------------------------- */

/* Keeps core as key's last line; true when it differs from the one kept
 * (or none was). */
static bool changed(runview *v, const char *key, const char *core)
{
    const char *was = json_string_value(json_object_get(v->last, key));
    if (was && !strcmp(was, core)) return false;
    json_object_set_new(v->last, key, json_string(core));
    return true;
}

/* Prints, stamped, every step and run line that changed.  A step seen
 * for the first time while still pending is kept but not printed. */
static bool update_lines(runview *v, const json_t *run, int64_t now_ms)
{
    char stamp[16];
    bool any = false;
    clock_text(now_ms, stamp, sizeof stamp);
    size_t i;
    json_t *step;
    json_array_foreach(json_object_get(run, "steps"), i, step)
    {
        const char *id = clifmt_str(step, "id");
        bool first = !json_object_get(v->last, id);
        char *core = step_core(step);
        if (changed(v, id, core)) {
            any = true;
            if (!first || strcmp(clifmt_str(step, "state"), "pending"))
                fprintf(v->out, "%s %s\n", stamp, core);
        }
        free(core);
    }
    char *core = run_core(run, now_ms);
    if (changed(v, "", core)) {
        any = true;
        fprintf(v->out, "%s %s\n", stamp, core);
    }
    free(core);
    fflush(v->out);
    return any;
}

/* The drawing: a header line, then the steps table.  Caller frees. */
static char *render(runview *v, const json_t *run, int64_t now_ms)
{
    char *buf = NULL, took[32];
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) abort(); /* out of memory, as xmalloc decides */
    runview_took(run, now_ms, took, sizeof took);
    fprintf(m,
            "run %" JSON_INTEGER_FORMAT "  %s v%" JSON_INTEGER_FORMAT
            "  %s  %s\n",
            json_integer_value(json_object_get(run, "id")),
            clifmt_str(run, "workflow"),
            json_integer_value(json_object_get(run, "version")),
            clifmt_str(run, "state"), took);
    table *t = runview_steps(run, now_ms);
    table_print(t, m, v->style);
    table_free(t);
    fclose(m);
    return buf;
}

static void redraw(runview *v, const char *drawing)
{
    if (v->drawn_lines) fprintf(v->out, "\033[%zuA", v->drawn_lines);
    size_t lines = 0;
    for (const char *p = drawing; *p;) {
        size_t n = strcspn(p, "\n");
        fprintf(v->out, "\r\033[K%.*s\n", (int)n, p);
        lines++;
        p += n + (p[n] == '\n');
    }
    fputs("\033[J", v->out);
    fflush(v->out);
    v->drawn_lines = lines;
}

bool runview_update(runview *v, const json_t *run, int64_t now_ms)
{
    if (v->mode == RUNVIEW_LINES) return update_lines(v, run, now_ms);
    bool any = false;
    size_t i;
    json_t *step;
    json_array_foreach(json_object_get(run, "steps"), i, step)
    {
        char *core = step_core(step);
        any |= changed(v, clifmt_str(step, "id"), core);
        free(core);
    }
    char *core = run_core(run, now_ms);
    any |= changed(v, "", core);
    free(core);
    char *drawing = render(v, run, now_ms);
    redraw(v, drawing);
    free(drawing);
    return any;
}
