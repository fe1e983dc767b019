/*
 * bench_code.c - the code_analyzer's speed on a source tree (Flowstate's
 * own src/ by default): every pass runs the whole analysis (lexing,
 * functions with complexity and nesting, our checks, duplicated blocks,
 * the JSON result), repeated until at least --seconds have passed.
 *
 *   from disk   code_analyze_path: the walk, reading each file, analysis;
 *   in memory   the same files read once beforehand and fed to a
 *               code_batch, so only the analysis is timed;
 *   lex only    code_lex over the same buffers, for scale.
 *
 * Prints lines/s, files/s and MB/s for each.
 *
 * usage: bench_code [--path DIR] [--seconds S]
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/code/code_analyze.h"
#include "agents/code/code_lexer.h"
#include "core/clock.h"
#include "core/fs.h"
#include "core/xmem.h"

typedef struct source {
    char *path, *text;
    size_t len;
} source;

typedef struct sources {
    source *v;
    size_t n, lines, bytes;
} sources;

static void die(const char *what)
{
    fprintf(stderr, "bench_code: %s\n", what);
    exit(1);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) die(path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = xmalloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    fclose(f);
    return buf;
}

/* The files one analysis of dir reads, loaded. */
static sources load(const char *dir)
{
    json_t *r;
    if (code_analyze_path(dir, 0, 0, &r)) die("cannot analyse the path");
    sources s = { 0 };
    json_t *files = json_object_get(r, "files"), *f;
    size_t i;
    s.v = xcalloc(json_array_size(files) + 1, sizeof *s.v);
    json_array_foreach (files, i, f) {
        if (json_object_get(f, "error")) continue;
        source *src = &s.v[s.n++];
        src->path = xstrdup(json_string_value(json_object_get(f, "path")));
        src->text = slurp(src->path, &src->len);
        s.bytes += src->len;
    }
    s.lines = (size_t)json_integer_value(
        json_object_get(json_object_get(r, "summary"), "lines"));
    json_decref(r);
    return s;
}

static void pass_disk(const char *dir, const sources *s)
{
    (void)s;
    json_t *r;
    if (code_analyze_path(dir, 0, 0, &r)) die("analysis failed");
    json_decref(r);
}

static void pass_memory(const char *dir, const sources *s)
{
    (void)dir;
    code_batch *b = code_batch_new(NULL);
    for (size_t i = 0; i < s->n; i++)
        code_batch_add(b, s->v[i].path, s->v[i].text, s->v[i].len);
    json_decref(code_batch_finish(b));
}

static void pass_lex(const char *dir, const sources *s)
{
    (void)dir;
    for (size_t i = 0; i < s->n; i++) {
        code_lexed lx;
        if (!code_lex(code_lang_of(s->v[i].path), s->v[i].text, s->v[i].len,
                      &lx))
            code_lex_free(&lx);
    }
}

static void run(const char *name, void (*pass)(const char *, const sources *),
                const char *dir, const sources *s, double seconds)
{
    int64_t t0 = fs_mono_ns(), t;
    size_t passes = 0;
    do {
        pass(dir, s);
        passes++;
        t = fs_mono_ns() - t0;
    } while (t < seconds * 1e9);
    double secs = t / 1e9;
    printf("%-10s %7zu %12.0f %10.1f %8.1f %10.2f\n", name, passes,
           s->lines * passes / secs, s->n * passes / secs,
           s->bytes * passes / secs / 1e6, secs * 1e3 / passes);
}

int main(int argc, char **argv)
{
    const char *dir = "src";
    double seconds = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--path") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else die("usage: bench_code [--path DIR] [--seconds S]");
    }
    sources s = load(dir);
    printf("code_analyzer on %s: %zu files, %zu lines, %.1f MB\n", dir, s.n,
           s.lines, s.bytes / 1e6);
    printf("%-10s %7s %12s %10s %8s %10s\n", "pass", "passes", "lines/s",
           "files/s", "MB/s", "ms/pass");
    run("from disk", pass_disk, dir, &s, seconds);
    run("in memory", pass_memory, dir, &s, seconds);
    run("lex only", pass_lex, dir, &s, seconds);
    for (size_t i = 0; i < s.n; i++) {
        free(s.v[i].path);
        free(s.v[i].text);
    }
    free(s.v);
    return 0;
}
