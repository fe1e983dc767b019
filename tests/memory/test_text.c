/*
 * test_text.c - the tokeniser: word boundaries, apostrophes, UTF-8 case
 * folding, invalid bytes, stemming, token cut-off and offsets.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "core/fs.h"
#include "memory/text.h"

typedef struct got {
    char terms[64][TEXT_MAX_TOKEN * 2 + 1];
    char words[64][TEXT_MAX_TOKEN + 1];
    size_t start[64], end[64];
    size_t n;
} got;

static bool collect(void *ctx, const text_token *t)
{
    got *g = ctx;
    cr_assert_lt(g->n, 64);
    cr_assert_eq(strlen(t->term), t->len);
    strcpy(g->terms[g->n], t->term);
    strcpy(g->words[g->n], t->word);
    g->start[g->n] = t->start;
    g->end[g->n] = t->end;
    cr_assert_eq(t->index, g->n);
    g->n++;
    return true;
}

static got run(const char *lang, const char *text, size_t len)
{
    text_tokenizer *t;
    cr_assert_eq(text_tokenizer_open(&t, lang), 0);
    got g = { .n = 0 };
    size_t n = text_tokenize(t, text, len, collect, &g);
    cr_assert_eq(n, g.n);
    text_tokenizer_close(t);
    return g;
}

static void expect(const char *lang, const char *text, const char **terms,
                   size_t n)
{
    got g = run(lang, text, strlen(text));
    cr_assert_eq(g.n, n, "'%s': %zu tokens, want %zu", text, g.n, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(g.terms[i], terms[i], "'%s' token %zu", text, i);
}

Test(text, splits_on_punctuation_and_spaces_and_lowercases)
{
    const char *want[] = { "state", "of", "the", "art", "crm", "v2", "42" };
    expect(NULL, "State-of-the-ART  CRM,v2\t(42)!", want, 7);
}

Test(text, stems_english_but_not_numbers)
{
    const char *want[] = { "the", "run", "dog", "owner", "ran", "quick",
                           "2024s" };
    expect("english", "The Running dogs' owners ran quickly 2024s", want, 7);
}

Test(text, apostrophes_inside_words_stay)
{
    const char *want[] = { "don't", "o'brien", "rock", "n", "roll" };
    expect(NULL, "Don\xE2\x80\x99t O'Brien 'rock' n' roll", want, 5);
}

Test(text, folds_case_beyond_ascii)
{
    const char *want[] = { "école", "ünïcödé", "straße", "αθήνα", "москва",
                           "東京" };
    expect(NULL, "ÉCOLE ÜNÏCÖDÉ Straße ΑΘΉΝΑ МОСКВА 東京", want, 6);
}

Test(text, symbols_and_cjk_punctuation_separate)
{
    const char *want[] = { "price", "10", "café", "ok", "done" };
    expect(NULL, "price€10 café—ok\xE3\x80\x82" "done\xF0\x9F\x98\x80", want, 5);
}

Test(text, invalid_utf8_is_a_separator_never_passed_through)
{
    const char bad[] = "ab\xFF" "cd\xC0\xAF" "ef\xED\xA0\x80gh\xE2\x82";
    got g = run(NULL, bad, sizeof bad - 1);
    const char *want[] = { "ab", "cd", "ef", "gh" };
    cr_assert_eq(g.n, 4);
    for (size_t i = 0; i < 4; i++) cr_assert_str_eq(g.terms[i], want[i]);
}

Test(text, long_tokens_are_cut_at_a_character_boundary)
{
    char text[300];
    for (int i = 0; i < 100; i++) memcpy(text + 2 * i, "é", 2);
    text[200] = '\0';
    got g = run(NULL, text, 200);
    cr_assert_eq(g.n, 1);
    cr_assert_eq(strlen(g.words[0]), TEXT_MAX_TOKEN);
    cr_assert_eq(g.end[0], 200, "the offsets still cover the whole word");
}

Test(text, offsets_point_at_the_original_bytes)
{
    const char *s = "  Héllo, world";
    got g = run(NULL, s, strlen(s));
    cr_assert_eq(g.n, 2);
    cr_assert_eq(g.start[0], 2);
    cr_assert_eq(g.end[0], 8);
    cr_assert_eq(g.start[1], 10);
    cr_assert_eq(g.end[1], 15);
}

Test(text, empty_and_separator_only_text_gives_no_tokens)
{
    cr_assert_eq(run(NULL, "", 0).n, 0);
    cr_assert_eq(run(NULL, " ,.;!? -- ", 10).n, 0);
}

Test(text, unknown_language_is_refused)
{
    text_tokenizer *t;
    cr_assert_eq(text_tokenizer_open(&t, "klingon"), FS_EINVAL);
}

static bool stop_after_two(void *ctx, const text_token *t)
{
    (void)t;
    return ++*(int *)ctx < 2;
}

Test(text, callback_can_stop_early)
{
    text_tokenizer *t;
    cr_assert_eq(text_tokenizer_open(&t, NULL), 0);
    int seen = 0;
    cr_assert_eq(text_tokenize(t, "a b c d", 7, stop_after_two, &seen), 2);
    text_tokenizer_close(t);
}
