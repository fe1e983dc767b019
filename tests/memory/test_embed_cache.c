/*
 * test_embed_cache.c - the embedding cache: a text is embedded once, across
 * calls and across a reopened store; only misses reach the inner embedder;
 * different embedders (or dimensions) never share entries; a failing inner
 * embedder stores nothing.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "core/fs.h"
#include "memory/embed.h"
#include "support/testdb.h"

#define D 16

/* A fake inner embedder that counts the texts it is asked to embed. */
typedef struct counting {
    embedder base;
    size_t texts;
    bool fail;
} counting;

static int count_embed(embedder *e, const char *const *t, const size_t *l,
                       size_t n, float *out)
{
    counting *c = (counting *)e;
    if (c->fail) {
        strcpy(e->error, "inner failed");
        return FS_EIO;
    }
    c->texts += n;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < e->dims; k++)
            out[i * e->dims + k] = (float)(l[i] * 10 + k) + (t[i][0] == 'x');
    return 0;
}

static void count_close(embedder *e) { free(e); }
static const embedder_ops count_ops = { count_embed, count_close };

static counting *fake(const char *version)
{
    counting *c = calloc(1, sizeof *c);
    c->base = (embedder){ &count_ops, "fake", version, D, "" };
    return c;
}

static tdb T;
static void setup(void) { tdb_open(&T); }
static void teardown(void) { tdb_close(&T); }
TestSuite(embed_cache, .init = setup, .fini = teardown, .timeout = 30);

static void run(embedder *e, const char **texts, size_t n, float *out)
{
    size_t lens[8];
    for (size_t i = 0; i < n; i++) lens[i] = strlen(texts[i]);
    cr_assert_eq(embed_texts(e, texts, lens, n, out), 0, "%s", e->error);
}

Test(embed_cache, each_text_is_embedded_once)
{
    counting *inner = fake("v1");
    embedder *e;
    cr_assert_eq(embed_cached_open(&e, &inner->base, T.st), 0);
    const char *a[2] = { "alpha", "beta" }, *b[3] = { "beta", "gamma", "alpha" };
    float v1[2 * D], v2[3 * D];
    run(e, a, 2, v1);
    cr_assert_eq(inner->texts, 2);
    run(e, b, 3, v2);
    cr_assert_eq(inner->texts, 3, "only 'gamma' was new");
    cr_assert_eq(memcmp(v2, v1 + D, D * sizeof(float)), 0, "beta from cache");
    cr_assert_eq(memcmp(v2 + 2 * D, v1, D * sizeof(float)), 0, "alpha too");
    embed_close(e);

    tdb_reopen(&T);
    inner = fake("v1");
    cr_assert_eq(embed_cached_open(&e, &inner->base, T.st), 0);
    run(e, b, 3, v2);
    cr_assert_eq(inner->texts, 0, "a restart keeps the cache");
    embed_close(e);
}

Test(embed_cache, other_versions_do_not_share_entries)
{
    counting *v1 = fake("v1"), *v2 = fake("v2");
    embedder *e1, *e2;
    cr_assert_eq(embed_cached_open(&e1, &v1->base, T.st), 0);
    cr_assert_eq(embed_cached_open(&e2, &v2->base, T.st), 0);
    const char *t[1] = { "same text" };
    float out[D];
    run(e1, t, 1, out);
    run(e2, t, 1, out);
    cr_assert_eq(v1->texts, 1);
    cr_assert_eq(v2->texts, 1, "a new version embeds again");
    embed_close(e1);
    embed_close(e2);
}

Test(embed_cache, a_failing_embedder_stores_nothing)
{
    counting *inner = fake("v1");
    embedder *e;
    cr_assert_eq(embed_cached_open(&e, &inner->base, T.st), 0);
    inner->fail = true;
    const char *t[1] = { "x" };
    size_t l[1] = { 1 };
    float out[D];
    cr_assert_eq(embed_texts(e, t, l, 1, out), FS_EIO);
    cr_assert_str_eq(e->error, "inner failed");
    inner->fail = false;
    run(e, t, 1, out);
    cr_assert_eq(inner->texts, 1, "the failure was not cached");
    embed_close(e);
}
