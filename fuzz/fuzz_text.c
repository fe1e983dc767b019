/*
 * fuzz_text.c - libFuzzer target: the memory tokeniser (text_tokenize),
 * which reads every document and query, on arbitrary bytes.
 *
 * Input: the first byte picks stemming (odd: english, even: none); the rest
 * is the text.  Checked (FUZZ_CHECK aborts):
 *  - tokens come in order, inside the input, without overlapping;
 *  - a word is at most TEXT_MAX_TOKEN bytes, non-empty, NUL-terminated at
 *    its length, and is itself exactly one token when tokenised again
 *    (so no separator or invalid byte ever leaks into a token);
 *  - a term (stemmed) is non-empty and NUL-terminated at its length.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "memory/text.h"

typedef struct seen {
    text_tokenizer *plain;
    size_t size, last_end, n;
} seen;

static bool count_one(void *ctx, const text_token *t)
{
    (void)t;
    ++*(size_t *)ctx;
    return true;
}

static bool check(void *ctx, const text_token *t)
{
    seen *s = ctx;
    FUZZ_CHECK(t->index == s->n);
    FUZZ_CHECK(t->start >= s->last_end && t->start < t->end &&
               t->end <= s->size);
    FUZZ_CHECK(t->word_len > 0 && t->word_len <= TEXT_MAX_TOKEN);
    FUZZ_CHECK(strlen(t->word) == t->word_len);
    FUZZ_CHECK(t->len > 0 && strlen(t->term) == t->len);
    size_t again = 0;
    text_tokenize(s->plain, t->word, t->word_len, count_one, &again);
    FUZZ_CHECK(again == 1);
    s->last_end = t->end;
    s->n++;
    return true;
}

int fuzz_text_one(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    text_tokenizer *t, *plain;
    if (text_tokenizer_open(&t, data[0] & 1 ? "english" : NULL) ||
        text_tokenizer_open(&plain, NULL))
        abort();
    seen s = { plain, size - 1, 0, 0 };
    size_t n = text_tokenize(t, (const char *)data + 1, size - 1, check, &s);
    FUZZ_CHECK(n == s.n);
    text_tokenizer_close(t);
    text_tokenizer_close(plain);
    return 0;
}

FUZZ_ENTRY(fuzz_text_one)
