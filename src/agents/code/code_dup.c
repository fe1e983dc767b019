/*
 * code_dup.c - duplicated blocks by rolling hash (see code_dup.h for what
 * a duplicate is).
 *
 * Each file becomes an array of its kept lines, each a 64-bit FNV-1a hash
 * of the normalised text and its line number.  A window is min_lines
 * consecutive kept lines; its hash is the polynomial sum of the line
 * hashes, rolled along each file in O(1) per line.  find() builds an
 * open-addressing table from window hash to the window's first
 * occurrence, then walks every file: where a window also occurs earlier,
 * the run is checked line by line (hashes can collide) and grown as far
 * as both copies agree, reported, and skipped over.  Time and memory are
 * linear in the number of lines.
 */
#include "agents/code/code_dup.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"

#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL
#define ROLL_BASE 1000003ULL

typedef struct kept {
    uint64_t hash;
    uint32_t line;
} kept;

typedef struct dfile {
    kept *lines;
    size_t n;
} dfile;

struct code_dup {
    size_t min_lines;
    dfile *files;
    size_t nfiles, cap;
};

typedef struct slot {
    uint64_t hash;
    size_t file, at; /* file == SIZE_MAX: empty */
} slot;

code_dup *code_dup_new(size_t min_lines)
{
    code_dup *d = xcalloc(1, sizeof *d);
    d->min_lines = min_lines ? min_lines : CODE_DUP_MIN_LINES;
    return d;
}

void code_dup_free(code_dup *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->nfiles; i++) free(d->files[i].lines);
    free(d->files);
    free(d);
}

static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * FNV_PRIME;
    return h;
}

/* Does the line of tokens t[0..n) say nothing on its own? */
static bool trivial(const code_lexed *lx, const code_tok *t, size_t n)
{
    static const char *const lone[] = {
        "else", "break", "continue", "return", "pass", "try", "finally",
        "default", "do", "end", "except", NULL,
    };
    const code_tok *word = NULL;
    size_t words = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i].kind == CODE_TOK_PUNCT) continue;
        word = &t[i];
        words++;
    }
    if (!words) return true;
    if (words > 1) {
        bool import = code_tok_is(lx, &t[0], "import") ||
                      (code_tok_is(lx, &t[0], "#") &&
                       code_tok_is(lx, &t[1], "include"));
        return import || (lx->lang == CODE_LANG_PYTHON &&
                          code_tok_is(lx, &t[0], "from"));
    }
    for (size_t i = 0; lone[i]; i++)
        if (code_tok_is(lx, word, lone[i])) return true;
    return code_tok_is(lx, word, "import");
}

size_t code_dup_add(code_dup *d, const code_lexed *lx)
{
    if (d->nfiles == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->files = xrealloc(d->files, d->cap * sizeof *d->files);
    }
    dfile *f = &d->files[d->nfiles];
    *f = (dfile){ .lines = xmalloc((lx->nlines + 1) * sizeof *f->lines) };
    for (size_t i = 0; i < lx->ntoks;) {
        size_t j = i;
        uint64_t h = FNV_OFFSET;
        while (j < lx->ntoks && lx->toks[j].line == lx->toks[i].line) {
            const code_tok *t = &lx->toks[j++];
            h = fnv(fnv(h, lx->src + t->off, t->len), " ", 1);
        }
        if (!trivial(lx, &lx->toks[i], j - i))
            f->lines[f->n++] = (kept){ .hash = h, .line = lx->toks[i].line };
        i = j;
    }
    return d->nfiles++;
}

/* The hash of the window of w lines at l. */
static uint64_t window(const kept *l, size_t w)
{
    uint64_t h = 0;
    for (size_t k = 0; k < w; k++) h = h * ROLL_BASE + l[k].hash;
    return h;
}

/* The table slot for hash h: where it is, or the empty one it goes in. */
static slot *lookup(slot *table, size_t mask, uint64_t h)
{
    size_t i = (size_t)(h ^ (h >> 29)) & mask;
    while (table[i].file != SIZE_MAX && table[i].hash != h) i = (i + 1) & mask;
    return &table[i];
}

/* Calls fn(ctx, file, at, hash) for each window of each file, in order. */
static void windows(const code_dup *d, void (*fn)(void *, size_t, size_t,
                                                  uint64_t),
                    void *ctx)
{
    size_t w = d->min_lines;
    uint64_t top = 1; /* ROLL_BASE^(w-1) */
    for (size_t k = 1; k < w; k++) top *= ROLL_BASE;
    for (size_t f = 0; f < d->nfiles; f++) {
        const kept *l = d->files[f].lines;
        size_t n = d->files[f].n;
        if (n < w) continue;
        uint64_t h = window(l, w);
        for (size_t i = 0;; i++) {
            fn(ctx, f, i, h);
            if (i + w >= n) break;
            h = (h - l[i].hash * top) * ROLL_BASE + l[i + w].hash;
        }
    }
}

typedef struct finder {
    const code_dup *d;
    slot *table;
    size_t mask;
    code_dup_pair *pairs;
    size_t n, cap;
    size_t skip_file, skip_to; /* windows inside the last run reported */
} finder;

static void insert(void *ctx, size_t f, size_t i, uint64_t h)
{
    finder *F = ctx;
    slot *s = lookup(F->table, F->mask, h);
    if (s->file == SIZE_MAX) *s = (slot){ .hash = h, .file = f, .at = i };
}

/* How many lines agree from copy[i] and orig[j] on, the copy staying
 * past the original when they are in the same file. */
static size_t agree(const dfile *a, size_t i, const dfile *b, size_t j,
                    bool same)
{
    size_t len = 0;
    while (i + len < a->n && j + len < b->n &&
           a->lines[i + len].hash == b->lines[j + len].hash &&
           (!same || j + len < i))
        len++;
    return len;
}

static void report(void *ctx, size_t f, size_t i, uint64_t h)
{
    finder *F = ctx;
    if (f == F->skip_file && i < F->skip_to) return;
    const slot *s = lookup(F->table, F->mask, h);
    if (s->file == f && s->at == i) return;
    const dfile *a = &F->d->files[f], *b = &F->d->files[s->file];
    size_t len = agree(a, i, b, s->at, s->file == f);
    if (len < F->d->min_lines) return;
    if (F->n == F->cap) {
        F->cap = F->cap ? F->cap * 2 : 16;
        F->pairs = xrealloc(F->pairs, F->cap * sizeof *F->pairs);
    }
    F->pairs[F->n++] = (code_dup_pair){
        .copy = { f, a->lines[i].line, a->lines[i + len - 1].line },
        .orig = { s->file, b->lines[s->at].line,
                  b->lines[s->at + len - 1].line },
        .lines = len,
    };
    F->skip_file = f;
    F->skip_to = i + len;
}

void code_dup_find(const code_dup *d, code_dup_pair **pairs, size_t *n)
{
    size_t total = 0, size = 16;
    for (size_t f = 0; f < d->nfiles; f++) total += d->files[f].n;
    while (size < 2 * total) size *= 2;
    finder F = { .d = d, .table = xmalloc(size * sizeof(slot)),
                 .mask = size - 1, .skip_file = SIZE_MAX };
    for (size_t i = 0; i < size; i++) F.table[i].file = SIZE_MAX;
    windows(d, insert, &F);
    windows(d, report, &F);
    free(F.table);
    *pairs = F.pairs;
    *n = F.n;
}
