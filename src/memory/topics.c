/* topics.c - characteristic words per group (see topics.h).
 *
 * One pass over the texts fills a string-interning hash table (word ->
 * index) with, per word, its document frequency and its count in each
 * group (a dense ngroups-wide row, fine for the small k of clustering);
 * then each group's words are scored and the best nterms kept.
 */
#include "memory/topics.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/xmem.h"
#include "memory/text.h"

typedef struct word {
    char *s;
    size_t df;
    size_t last_doc; /* the last text counted in df, + 1 */
} word;

struct topics {
    word *w;
    size_t nw, cap;
    size_t *slot; /* hash table of word indexes + 1; 0 = empty */
    size_t nslot;
    double *count; /* nw rows of ngroups */
    size_t ngroups, nterms;
    size_t *best;  /* ngroups * nterms word indexes + 1; 0 = none */
};

static uint64_t hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

static void grow(topics *t)
{
    size_t nslot = t->nslot ? 2 * t->nslot : 1024;
    size_t *slot = xcalloc(nslot, sizeof *slot);
    for (size_t i = 0; i < t->nw; i++) {
        size_t j = hash(t->w[i].s) & (nslot - 1);
        while (slot[j]) j = (j + 1) & (nslot - 1);
        slot[j] = i + 1;
    }
    free(t->slot);
    t->slot = slot;
    t->nslot = nslot;
}

/* The index of word s, added when new. */
static size_t intern(topics *t, const char *s)
{
    if (2 * (t->nw + 1) > t->nslot) grow(t);
    size_t j = hash(s) & (t->nslot - 1);
    for (; t->slot[j]; j = (j + 1) & (t->nslot - 1))
        if (!strcmp(t->w[t->slot[j] - 1].s, s)) return t->slot[j] - 1;
    if (t->nw == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 256;
        t->w = xrealloc(t->w, t->cap * sizeof *t->w);
        t->count = xrealloc(t->count, t->cap * t->ngroups * sizeof *t->count);
    }
    t->w[t->nw] = (word){ xstrdup(s), 0, 0 };
    memset(t->count + t->nw * t->ngroups, 0, t->ngroups * sizeof *t->count);
    t->slot[j] = ++t->nw;
    return t->nw - 1;
}

typedef struct pass {
    topics *t;
    size_t doc, group;
    double *group_words;
} pass;

static bool on_word(void *ctx, const text_token *tok)
{
    pass *p = ctx;
    if (tok->word_len < 3 || strspn(tok->word, "0123456789") == tok->word_len)
        return true;
    size_t i = intern(p->t, tok->word);
    word *w = &p->t->w[i];
    if (w->last_doc != p->doc + 1) {
        w->df++;
        w->last_doc = p->doc + 1;
    }
    p->t->count[i * p->t->ngroups + p->group] += 1;
    p->group_words[p->group] += 1;
    return true;
}

/* Keeps the nterms best words of group g. */
static void pick(topics *t, size_t g, size_t ntexts, const double *group_words)
{
    size_t *best = t->best + g * t->nterms;
    double *score = xcalloc(t->nterms, sizeof *score);
    for (size_t i = 0; i < t->nw; i++) {
        double c = t->count[i * t->ngroups + g];
        if (c == 0) continue;
        double s = c / group_words[g] *
                   log(1.0 + (double)ntexts / (double)t->w[i].df);
        size_t j = t->nterms;
        while (j > 0 && (!best[j - 1] || s > score[j - 1] ||
                         (s == score[j - 1] &&
                          strcmp(t->w[i].s, t->w[best[j - 1] - 1].s) < 0)))
            j--;
        if (j == t->nterms) continue;
        memmove(best + j + 1, best + j, (t->nterms - j - 1) * sizeof *best);
        memmove(score + j + 1, score + j, (t->nterms - j - 1) * sizeof *score);
        best[j] = i + 1;
        score[j] = s;
    }
    free(score);
}

int topics_build(const char *const *texts, const int *group, size_t n,
                 size_t ngroups, size_t nterms, topics **out)
{
    if (!ngroups || !nterms) return FS_EINVAL;
    text_tokenizer *tok;
    int rc = text_tokenizer_open(&tok, NULL);
    if (rc) return rc;
    topics *t = xcalloc(1, sizeof *t);
    t->ngroups = ngroups;
    t->nterms = nterms;
    double *group_words = xcalloc(ngroups, sizeof *group_words);
    for (size_t i = 0; i < n; i++) {
        if (group[i] < 0 || (size_t)group[i] >= ngroups) continue;
        pass p = { t, i, (size_t)group[i], group_words };
        text_tokenize(tok, texts[i], strlen(texts[i]), on_word, &p);
    }
    t->best = xcalloc(ngroups * nterms, sizeof *t->best);
    for (size_t g = 0; g < ngroups; g++)
        if (group_words[g] > 0) pick(t, g, n, group_words);
    free(group_words);
    text_tokenizer_close(tok);
    *out = t;
    return 0;
}

const char *topics_term(const topics *t, size_t g, size_t j)
{
    if (g >= t->ngroups || j >= t->nterms) return NULL;
    size_t i = t->best[g * t->nterms + j];
    return i ? t->w[i - 1].s : NULL;
}

void topics_free(topics *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->nw; i++) free(t->w[i].s);
    free(t->w);
    free(t->slot);
    free(t->count);
    free(t->best);
    free(t);
}
