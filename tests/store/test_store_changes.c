/*
 * test_store_changes.c - the document change log of the store contract
 * (store.h, doc_changes), backend-agnostic through tdb_open and a second
 * handle on the same database (as another process has): every add,
 * content update and delete, chunks included, leaves one row per
 * document; a handle reads only the others' rows, in order, and its
 * cursor moves past its own; metadata-only updates leave none; limit 0
 * gives the head; old rows are pruned by age.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/fs.h"
#include "support/testdb.h"

static tdb T;
static store *OTHER;
static void setup(void)
{
    tdb_open(&T);
    cr_assert_eq(store_open(&OTHER, T.url, NULL), 0);
}
static void teardown(void)
{
    store_close(OTHER);
    tdb_close(&T);
}

TestSuite(store_changes, .init = setup, .fini = teardown, .timeout = 60);

static const float V[4] = { 1, 0, 0, 0 };

/* Adds a document (with n_chunks chunks of it) through st.  Returns its id. */
static int64_t add(store *st, size_t n_chunks)
{
    fs_doc d[4] = { 0 };
    for (size_t i = 0; i <= n_chunks; i++) {
        d[i] = (fs_doc){ .content = "text", .metadata = "{}", .tags = "[]",
                         .importance = 0.5, .parent_ref = i ? 0 : -1,
                         .chunk_index = i ? (int)i - 1 : -1,
                         .embedding = (float *)V, .dims = 4 };
    }
    cr_assert_eq(store_doc_add(st, d, n_chunks + 1, 1000), 0);
    return d[0].id;
}

/* The rows `reader` sees after `after`.  OUT: *head. */
static store_doc_change *read_after(store *reader, int64_t after, size_t *n,
                                    int64_t *head)
{
    store_doc_change *ch = NULL;
    cr_assert_eq(store_doc_changes(reader, after, 100, &ch, n, head), 0);
    return ch;
}

Test(store_changes, every_write_leaves_a_row_the_other_handle_reads)
{
    int64_t a = add(T.st, 0), b = add(T.st, 2);
    size_t n;
    int64_t head;
    store_doc_change *ch = read_after(OTHER, 0, &n, &head);
    cr_assert_eq(n, 4, "a, b and its two chunks");
    cr_assert_eq(ch[0].doc_id, a);
    cr_assert_eq(ch[1].doc_id, b);
    for (size_t i = 0; i < n; i++) {
        cr_assert_not(ch[i].deleted);
        if (i) cr_assert_gt(ch[i].seq, ch[i - 1].seq);
    }
    cr_assert_eq(head, ch[3].seq);
    free(ch);

    fs_doc meta = { .id = a, .metadata = "{\"x\":1}", .tags = "[]", .importance = 0.9 };
    int64_t *removed;
    size_t nrem;
    cr_assert_eq(store_doc_update(T.st, &meta, false, NULL, 0, 2000, &removed, &nrem), 0);
    free(removed);
    ch = read_after(OTHER, head, &n, &head);
    cr_assert_eq(n, 0, "metadata only: the vectors did not change");
    free(ch);

    int64_t *gone;
    size_t ngone;
    cr_assert_eq(store_doc_delete(T.st, b, &gone, &ngone), 0);
    free(gone);
    ch = read_after(OTHER, head, &n, &head);
    cr_assert_eq(n, 3, "b and its chunks");
    for (size_t i = 0; i < n; i++) cr_assert(ch[i].deleted);
    free(ch);
}

Test(store_changes, a_handle_skips_its_own_rows_but_moves_past_them)
{
    add(OTHER, 0);
    int64_t mine = add(T.st, 0);
    add(OTHER, 0);
    size_t n;
    int64_t head;
    store_doc_change *ch = read_after(OTHER, 0, &n, &head);
    cr_assert_eq(n, 1);
    cr_assert_eq(ch[0].doc_id, mine);
    free(ch);
    int64_t newest;
    cr_assert_eq(store_doc_changes(OTHER, 0, 0, &ch, &n, &newest), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(head, newest, "the cursor passed OTHER's own last row");
    free(ch);
    ch = read_after(OTHER, head, &n, &head);
    cr_assert_eq(n, 0);
    cr_assert_eq(head, newest, "nothing newer: the cursor stays");
    free(ch);
    cr_assert_eq(store_doc_changes(OTHER, 0, 10001, &ch, &n, &head), FS_EINVAL);
}

Test(store_changes, old_rows_are_pruned_by_age)
{
    add(T.st, 0);
    add(OTHER, 0);
    size_t pruned;
    int64_t now = fs_now(&fs_clock_real);
    cr_assert_eq(store_doc_changes_prune(T.st, now - 60000, &pruned), 0);
    cr_assert_eq(pruned, 0, "nothing that old");
    cr_assert_eq(store_doc_changes_prune(T.st, now + 60000, &pruned), 0);
    cr_assert_eq(pruned, 2);
}
