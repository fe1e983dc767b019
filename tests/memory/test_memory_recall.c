/*
 * test_memory_recall.c - index health: memory_recall_check measures the
 * graph's recall@10 against the exact scan (1.0 on a tiny index, near 1
 * at a wide beam, no better at a narrow one on a sparse graph), and
 * memory_ef / memory_set_ef change the beam of queries that give none.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "core/fs.h"
#include "memory/memory.h"
#include "support/testdb.h"
#include "support/vecdata.h"

#define D 48

static tdb T;
static embedder *E;
static memory *M;
static mem_space SP = { D, VEC_COSINE, "local" };

static void setup(void)
{
    tdb_open(&T);
    cr_assert_eq(embed_local_open(&E, D, NULL), 0);
    /* A sparse graph (few links, narrow build beam) so ef matters. */
    memory_config mc = { .hnsw = { .M = 4, .ef_construction = 12 } };
    cr_assert_eq(memory_open(&M, T.st, E, &SP, &mc), 0);
}

static void teardown(void)
{
    memory_close(M);
    embed_close(E);
    tdb_close(&T);
}

TestSuite(memory_recall, .init = setup, .fini = teardown, .timeout = 60);

/* n random Gaussian vectors as documents. */
static void fill(size_t n, uint64_t seed)
{
    vd_rng r = { seed };
    float v[D];
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < D; k++) v[k] = (float)vd_gauss(&r);
        fs_doc d = { .content = "v", .metadata = "{}", .tags = "[]",
                     .importance = 0.5, .embedding = v, .dims = D };
        cr_assert_eq(memory_add(M, &d, 1, NULL), 0);
    }
}

Test(memory_recall, a_tiny_index_has_full_recall)
{
    double r = 0;
    cr_assert_eq(memory_recall_check(M, 20, 16, &r), 0);
    cr_assert_eq(r, 1.0);
    fill(8, 7);
    cr_assert_eq(memory_recall_check(M, 20, 16, &r), 0);
    cr_assert_eq(r, 1.0);
}

Test(memory_recall, a_wider_beam_recalls_more)
{
    fill(1500, 11);
    double narrow, wide;
    cr_assert_eq(memory_recall_check(M, 100, 10, &narrow), 0);
    cr_assert_eq(memory_recall_check(M, 100, 1000, &wide), 0);
    cr_assert_geq(wide, 0.97, "recall %.3f at ef 1000", wide);
    cr_assert_lt(narrow, 1.0, "the sparse graph should miss some at ef 10");
    cr_assert_lt(narrow, wide, "ef 10: %.3f, ef 1000: %.3f", narrow, wide);
}

Test(memory_recall, bad_arguments_are_refused)
{
    double r;
    cr_assert_eq(memory_recall_check(M, 10, 0, &r), FS_EINVAL);
    cr_assert_eq(memory_recall_check(M, 10, MEMORY_MAX_EF + 1, &r), FS_EINVAL);
    cr_assert_eq(memory_recall_check(M, MEMORY_MAX_BATCH + 1, 10, &r), FS_EINVAL);
}

Test(memory_recall, set_ef_changes_the_default_beam)
{
    cr_assert_eq(memory_ef(M), 64);
    cr_assert_eq(memory_set_ef(M, 200), 0);
    cr_assert_eq(memory_ef(M), 200);
    cr_assert_eq(memory_set_ef(M, 0), FS_EINVAL);
    cr_assert_eq(memory_set_ef(M, MEMORY_MAX_EF + 1), FS_EINVAL);
    cr_assert_eq(memory_ef(M), 200);
    fill(50, 3);
    float v[D] = { 1 };
    memory_query q = { .vector = v, .dims = D, .limit = 5, .threshold = -INFINITY };
    memory_hit *h;
    size_t n;
    cr_assert_eq(memory_search(M, &q, &h, &n, NULL), 0);
    cr_assert_eq(n, 5);
    memory_hits_free(h, n);
}

Test(memory_recall, the_configured_beam_is_the_default)
{
    memory *m2;
    memory_config mc = { .hnsw = { .ef_search = 40 } };
    cr_assert_eq(memory_open(&m2, T.st, E, &SP, &mc), 0);
    cr_assert_eq(memory_ef(m2), 40);
    memory_close(m2);
}
