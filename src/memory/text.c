/*
 * text.c - UTF-8 tokenisation, lower-casing and Snowball stemming (see
 * text.h for what a token is).
 *
 * One pass over the bytes: decode a code point (invalid sequences, overlong
 * forms and surrogates decode as a separator), classify it, lower-case it
 * into the current word buffer, and at each word end stem the word and hand
 * it to the callback.  No allocation per token.
 */
#include "memory/text.h"

#include <libstemmer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/xmem.h"

struct text_tokenizer {
    struct sb_stemmer *stemmer; /* NULL: no stemming */
};

int text_tokenizer_open(text_tokenizer **out, const char *language)
{
    text_tokenizer *t = xcalloc(1, sizeof *t);
    if (language) {
        t->stemmer = sb_stemmer_new(language, "UTF_8");
        if (!t->stemmer) {
            free(t);
            return FS_EINVAL;
        }
    }
    *out = t;
    return 0;
}

void text_tokenizer_close(text_tokenizer *t)
{
    if (!t) return;
    if (t->stemmer) sb_stemmer_delete(t->stemmer);
    free(t);
}

/* Decodes one code point at s[0..n); returns its length in bytes (>= 1)
 * and sets *cp, or -1 as cp for an invalid sequence (length 1). */
static size_t decode(const unsigned char *s, size_t n, int32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    int32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) len = 2, v = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, v = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, v = c & 0x07, min = 0x10000;
    else goto invalid;
    if (len > n) goto invalid;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) goto invalid;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) goto invalid;
    *cp = v;
    return len;
invalid:
    *cp = -1;
    return 1;
}

static size_t encode(int32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Non-ASCII ranges that are punctuation, symbols, spaces or controls. */
static const int32_t not_word[][2] = {
    { 0x80, 0xA9 }, { 0xAB, 0xB4 }, { 0xB6, 0xB9 }, { 0xBB, 0xBF },
    { 0xD7, 0xD7 }, { 0xF7, 0xF7 }, { 0x2000, 0x206F }, { 0x20A0, 0x20CF },
    { 0x2100, 0x214F }, { 0x2190, 0x2BFF }, { 0x2E00, 0x2E7F },
    { 0x3000, 0x303F }, { 0xFE30, 0xFE4F }, { 0xFF00, 0xFF0F },
    { 0xFF1A, 0xFF20 }, { 0xFF3B, 0xFF40 }, { 0xFF5B, 0xFF65 },
    { 0xFFF0, 0xFFFF }, { 0x1F000, 0x1FAFF },
};

static bool is_word(int32_t cp)
{
    if (cp < 0) return false;
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') ||
               (cp >= 'A' && cp <= 'Z');
    for (size_t i = 0; i < sizeof not_word / sizeof *not_word; i++)
        if (cp >= not_word[i][0] && cp <= not_word[i][1]) return false;
    return true;
}

static int32_t lower(int32_t cp)
{
    if (cp >= 'A' && cp <= 'Z') return cp + 32;
    if (cp < 0xC0) return cp;
    if (cp <= 0xDE && cp != 0xD7) return cp + 32;
    if (cp >= 0x100 && cp <= 0x137) return cp | 1;
    if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E))
        return cp & 1 ? cp + 1 : cp;
    if (cp >= 0x14A && cp <= 0x177) return cp | 1;
    if (cp == 0x178) return 0xFF;
    if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) return cp + 32;
    if (cp == 0x386) return 0x3AC; /* Greek capitals with tonos */
    if (cp >= 0x388 && cp <= 0x38A) return cp + 37;
    if (cp == 0x38C) return 0x3CC;
    if (cp == 0x38E || cp == 0x38F) return cp + 63;
    if (cp >= 0x410 && cp <= 0x42F) return cp + 32;
    if (cp >= 0x400 && cp <= 0x40F) return cp + 80;
    return cp;
}

static bool is_apostrophe(int32_t cp) { return cp == '\'' || cp == 0x2019; }

typedef struct word {
    char buf[TEXT_MAX_TOKEN + 1];
    size_t len, start, end;
    bool digit, full;
} word;

static void word_add(word *w, int32_t cp)
{
    char tmp[4];
    size_t n = encode(cp, tmp);
    if (w->full || w->len + n > TEXT_MAX_TOKEN) {
        w->full = true; /* cut at a character boundary */
        return;
    }
    memcpy(w->buf + w->len, tmp, n);
    w->len += n;
    if (cp >= '0' && cp <= '9') w->digit = true;
}

/* Stems w and calls fn; false when fn asked to stop. */
static bool emit(text_tokenizer *t, word *w, size_t index, text_token_fn fn,
                 void *ctx)
{
    w->buf[w->len] = '\0';
    text_token tok = { w->buf, w->len, w->buf, w->len, w->start, w->end,
                       index };
    char stem[TEXT_MAX_TOKEN * 2 + 1];
    if (t->stemmer && !w->digit) {
        const sb_symbol *s = sb_stemmer_stem(t->stemmer,
                                             (const sb_symbol *)w->buf,
                                             (int)w->len);
        int n = s ? sb_stemmer_length(t->stemmer) : 0;
        if (s && n > 0 && (size_t)n < sizeof stem) {
            memcpy(stem, s, (size_t)n);
            stem[n] = '\0';
            tok.term = stem;
            tok.len = (size_t)n;
        }
    }
    return fn(ctx, &tok);
}

size_t text_tokenize(text_tokenizer *t, const char *text, size_t len,
                     text_token_fn fn, void *ctx)
{
    const unsigned char *s = (const unsigned char *)text;
    word w = { .len = 0 };
    size_t count = 0, i = 0;
    bool in_word = false;
    while (i < len) {
        int32_t cp;
        size_t n = decode(s + i, len - i, &cp);
        if (is_word(cp)) {
            if (!in_word) w = (word){ .start = i };
            in_word = true;
            word_add(&w, lower(cp));
            w.end = i + n;
            i += n;
            continue;
        }
        if (in_word && is_apostrophe(cp) && i + n < len) {
            int32_t next;
            decode(s + i + n, len - i - n, &next);
            if (is_word(next)) {
                word_add(&w, '\'');
                i += n;
                continue;
            }
        }
        if (in_word) {
            in_word = false;
            if (!emit(t, &w, count++, fn, ctx)) return count;
        }
        i += n;
    }
    if (in_word) emit(t, &w, count++, fn, ctx);
    return count;
}
