/*
 * test_memory_sync.c - two processes' memories on one database (two store
 * handles, as two processes have): what one adds, replaces and deletes,
 * chunks included, reaches the other's index by memory_catch_up, its own
 * writes are not applied twice, the sync thread does it unasked within a
 * second (tests/store/test_store_changes.c covers the store's log).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fs.h"
#include "memory/memory.h"
#include "support/testdb.h"

#define D 128

static tdb T;
static store *ST2;      /* the other process's handle */
static embedder *E;
static memory *A, *B;   /* A writes, B follows */
static mem_space SP = { D, VEC_COSINE, "local" };

static void setup(void)
{
    tdb_open(&T);
    cr_assert_eq(store_open(&ST2, T.url, NULL), 0);
    cr_assert_eq(embed_local_open(&E, D, NULL), 0);
    memory_config mc = { .chunk_size = 300, .chunk_overlap = 50 };
    cr_assert_eq(memory_open(&A, T.st, E, &SP, &mc), 0);
    cr_assert_eq(memory_open(&B, ST2, E, &SP, &mc), 0);
}

static void teardown(void)
{
    memory_close(B);
    memory_close(A);
    embed_close(E);
    store_close(ST2);
    tdb_close(&T);
}

TestSuite(memory_sync, .init = setup, .fini = teardown, .timeout = 60);

static int64_t add(memory *m, const char *content)
{
    fs_doc d = { .content = (char *)content, .metadata = "{}", .tags = "[]",
                 .importance = 0.5 };
    cr_assert_eq(memory_add(m, &d, 1, NULL), 0);
    return d.id;
}

/* The best hit's document id for text in m, 0 when none. */
static int64_t top(memory *m, const char *text)
{
    memory_query q = { .text = text, .limit = 1, .threshold = 0.2 };
    memory_hit *h;
    size_t n;
    cr_assert_eq(memory_search(m, &q, &h, &n, NULL), 0);
    int64_t id = n ? h[0].doc.id : 0;
    memory_hits_free(h, n);
    return id;
}

Test(memory_sync, adds_replaces_and_deletes_reach_the_other_index)
{
    int64_t id = add(A, "quarterly pipeline review with the enterprise accounts");
    cr_assert_eq(top(B, "enterprise pipeline review"), 0, "not yet caught up");
    size_t n;
    cr_assert_eq(memory_catch_up(B, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(top(B, "enterprise pipeline review"), id);
    cr_assert_eq(memory_indexed(B), 1);

    fs_doc d = { .id = id, .content = "lunch order for the support team",
                 .metadata = "{}", .tags = "[]", .importance = 0.5 };
    cr_assert_eq(memory_update(A, &d, true, NULL), 0);
    cr_assert_eq(memory_catch_up(B, &n), 0);
    cr_assert_eq(top(B, "lunch order support team"), id);
    cr_assert_eq(memory_indexed(B), 1, "replaced, not added");

    char longer[2000] = "";
    for (int i = 0; i < 30; i++)
        strcat(longer, i % 2 ? "renewal terms for the hospital contract. "
                             : "the customer asked about invoices and refunds. ");
    int64_t big = add(A, longer);
    cr_assert_eq(memory_catch_up(B, &n), 0);
    cr_assert_eq(memory_indexed(B), memory_indexed(A), "every chunk");
    cr_assert_eq(top(B, "hospital contract renewal terms"), big);

    cr_assert_eq(memory_delete(A, big), 0);
    cr_assert_eq(memory_delete(A, id), 0);
    cr_assert_eq(memory_catch_up(B, &n), 0);
    cr_assert_eq(memory_indexed(B), 0);
    cr_assert_eq(top(B, "hospital contract renewal terms"), 0);
}

Test(memory_sync, own_writes_are_not_applied_again)
{
    add(B, "a note written here");
    add(A, "a note written there");
    size_t n;
    cr_assert_eq(memory_catch_up(B, &n), 0);
    cr_assert_eq(n, 1, "only the other's");
    cr_assert_eq(memory_catch_up(B, &n), 0);
    cr_assert_eq(n, 0, "nothing twice");
    cr_assert_eq(memory_indexed(B), 2);
}

Test(memory_sync, the_sync_thread_catches_up_within_a_second)
{
    memory_close(B);
    memory_config mc = { .chunk_size = 300, .chunk_overlap = 50, .sync_ms = 50 };
    cr_assert_eq(memory_open(&B, ST2, E, &SP, &mc), 0);
    int64_t id = add(A, "renewal call with the logistics customer next tuesday");
    int64_t t0 = fs_mono_ms(), found = 0;
    while (!found && fs_mono_ms() - t0 < 1000) {
        found = top(B, "logistics customer renewal call");
        if (!found) usleep(10000);
    }
    cr_assert_eq(found, id, "found through the other within %lld ms",
                 (long long)(fs_mono_ms() - t0));
}
