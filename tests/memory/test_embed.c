/*
 * test_embed.c - the `local` embedder: deterministic unit vectors, texts
 * sharing words close, unrelated texts far, spelling variants close through
 * character n-grams, and IDF from corpus statistics weighing rare words
 * above common ones.  The thresholds are reasoned from the construction
 * (shared features / all features), not read off the output.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "core/fs.h"
#include "memory/embed.h"
#include "memory/vec.h"

#define D 1536

static float sim(embedder *e, const char *a, const char *b)
{
    const char *t[2] = { a, b };
    size_t l[2] = { strlen(a), strlen(b) };
    float v[2 * D];
    cr_assert_eq(embed_texts(e, t, l, 2, v), 0);
    return vec_dot(v, v + D, D);
}

static embedder *open_local(const embed_stats *st)
{
    embedder *e;
    cr_assert_eq(embed_local_open(&e, D, st), 0);
    cr_assert_str_eq(e->name, "local");
    cr_assert_eq(e->dims, D);
    return e;
}

Test(embed, deterministic_unit_vectors)
{
    embedder *e = open_local(NULL);
    const char *t[3] = { "Refund the invoice", "Refund the invoice", "" };
    size_t l[3] = { 18, 18, 0 };
    float v[3 * D];
    cr_assert_eq(embed_texts(e, t, l, 3, v), 0);
    cr_assert_eq(memcmp(v, v + D, D * sizeof(float)), 0);
    cr_assert_float_eq(vec_dot(v, v, D), 1.0f, 1e-4);
    for (int i = 0; i < D; i++) cr_assert_eq(v[2 * D + i], 0.0f, "empty text");
    embed_close(e);
}

Test(embed, shared_words_close_unrelated_far)
{
    embedder *e = open_local(NULL);
    float dup = sim(e, "The customer asked for a refund on invoice 1042.",
                    "Customer asks for a refund of invoice 1042");
    float para = sim(e, "Schedule a follow-up call with the lead next week",
                     "Next week, call the lead to follow up");
    float none = sim(e, "Quarterly revenue grew in northern regions",
                     "A cat sat on a warm windowsill");
    cr_assert_gt(dup, 0.6f, "near-duplicate: %f", dup);
    cr_assert_gt(para, 0.4f, "paraphrase sharing words: %f", para);
    cr_assert_lt(fabsf(none), 0.15f, "unrelated: %f", none);
    cr_assert_gt(dup, para);
    cr_assert_gt(para, none);
    embed_close(e);
}

Test(embed, spelling_variants_meet_through_character_ngrams)
{
    embedder *e = open_local(NULL);
    float s = sim(e, "organisation", "organization");
    float u = sim(e, "organisation", "windowsill");
    /* 9 of the 12 3-grams (and most 4/5-grams) are shared, and n-grams
     * carry about a third of the vector's energy: about 0.2, far above
     * an unrelated word's ~0. */
    cr_assert_gt(s, 0.15f, "variant: %f", s);
    cr_assert_lt(fabsf(u), 0.15f, "unrelated word: %f", u);
    embed_close(e);
}

/* A tiny corpus: "the" is in every document, "refund" in one. */
static double n_docs(void *ctx)
{
    (void)ctx;
    return 1000;
}

static double df(void *ctx, const char *term, size_t len)
{
    (void)ctx;
    if (len == 3 && !memcmp(term, "the", 3)) return 1000;
    if (len == 6 && !memcmp(term, "refund", 6)) return 1;
    return 100;
}

Test(embed, idf_weighs_rare_words_above_common_ones)
{
    embed_stats st = { n_docs, df, NULL };
    embedder *plain = open_local(NULL), *weighted = open_local(&st);
    const char *a = "the refund", *b = "the banana", *c = "a refund";
    /* Without IDF, sharing "the" or "refund" counts alike. */
    float common0 = sim(plain, a, b), rare0 = sim(plain, a, c);
    float common1 = sim(weighted, a, b), rare1 = sim(weighted, a, c);
    cr_assert_lt(common1, common0, "a shared common word counts less");
    cr_assert_gt(rare1, rare0, "a shared rare word counts more");
    cr_assert_gt(rare1, common1);
    embed_close(plain);
    embed_close(weighted);
}

Test(embed, bad_dimensions_are_refused)
{
    embedder *e;
    cr_assert_eq(embed_local_open(&e, 4, NULL), FS_EINVAL);
}
