/*
 * test_store_evolution.c - the evolution log part of the store contract
 * (store.h, "The evolution log"), backend-agnostic through tdb_open: add
 * and get keep every field, list filters and pages newest first, an
 * update needs the rev it read (a stale one is a conflict and changes
 * nothing), and missing fields or entries are errors.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "support/testdb.h"

static tdb T;
static void setup(void) { tdb_open(&T); }
static void teardown(void) { tdb_close(&T); }

TestSuite(store_evolution, .init = setup, .fini = teardown, .timeout = 60);

static int64_t add(const char *type, const char *component, const char *status,
                   int64_t now)
{
    fs_evolution e = { .type = strdup(type), .component = strdup(component),
                       .description = strdup("a change"),
                       .proposed_by = strdup("learning"),
                       .status = strdup(status),
                       .data = strdup("{\"change\":{\"from\":1,\"to\":2}}") };
    cr_assert_eq(store_evolution_add(T.st, &e, now), 0);
    cr_assert_eq(e.rev, 1);
    cr_assert_eq(e.created_at, now);
    int64_t id = e.id;
    fs_evolution_clear(&e);
    return id;
}

Test(store_evolution, add_then_get_keeps_every_field)
{
    int64_t id = add("parameter_tuning", "memory.ef_search", "proposed", 1000);
    cr_assert_gt(id, 0);
    fs_evolution e = { 0 };
    cr_assert_eq(store_evolution_get(T.st, id, &e), 0);
    cr_assert_str_eq(e.type, "parameter_tuning");
    cr_assert_str_eq(e.component, "memory.ef_search");
    cr_assert_str_eq(e.description, "a change");
    cr_assert_str_eq(e.proposed_by, "learning");
    cr_assert_str_eq(e.status, "proposed");
    cr_assert_str_eq(e.data, "{\"change\":{\"from\":1,\"to\":2}}");
    cr_assert_eq(e.rev, 1);
    cr_assert_eq(e.created_at, 1000);
    cr_assert_eq(e.updated_at, 1000);
    cr_assert_eq(e.applied_at, 0);
    fs_evolution_clear(&e);
    cr_assert_eq(store_evolution_get(T.st, id + 1, &e), FS_ENOTFOUND);
}

Test(store_evolution, a_missing_field_is_refused)
{
    fs_evolution e = { .type = "parameter_tuning", .component = "x",
                       .description = "d", .proposed_by = "p",
                       .status = "proposed" };
    cr_assert_eq(store_evolution_add(T.st, &e, 1), FS_EINVAL);
}

Test(store_evolution, update_needs_the_rev_it_read)
{
    int64_t id = add("parameter_tuning", "learning.follow_up", "proposed", 10);
    fs_evolution a = { 0 }, b = { 0 };
    cr_assert_eq(store_evolution_get(T.st, id, &a), 0);
    cr_assert_eq(store_evolution_get(T.st, id, &b), 0);
    free(a.status);
    a.status = strdup("applied");
    a.applied_at = 20;
    cr_assert_eq(store_evolution_update(T.st, &a, 20), 0);
    cr_assert_eq(a.rev, 2);
    free(b.status);
    b.status = strdup("rejected");
    cr_assert_eq(store_evolution_update(T.st, &b, 21), FS_ECONFLICT);
    fs_evolution c = { 0 };
    cr_assert_eq(store_evolution_get(T.st, id, &c), 0);
    cr_assert_str_eq(c.status, "applied");
    cr_assert_eq(c.applied_at, 20);
    cr_assert_eq(c.updated_at, 20);
    cr_assert_eq(c.rev, 2);
    b.id = id + 100;
    cr_assert_eq(store_evolution_update(T.st, &b, 22), FS_ENOTFOUND);
    fs_evolution_clear(&a);
    fs_evolution_clear(&b);
    fs_evolution_clear(&c);
}

Test(store_evolution, list_filters_and_pages_newest_first)
{
    int64_t ids[6];
    ids[0] = add("parameter_tuning", "memory.ef_search", "applied", 1);
    ids[1] = add("knowledge_acquisition", "memory", "applied", 2);
    ids[2] = add("parameter_tuning", "learning.follow_up", "proposed", 3);
    ids[3] = add("parameter_tuning", "memory.ef_search", "rolled_back", 4);
    ids[4] = add("anomaly_response", "queue", "applied", 5);
    ids[5] = add("parameter_tuning", "memory.ef_search", "proposed", 6);
    fs_evolution *rows = NULL;
    size_t n = 0;
    store_evolution_filter f = { .limit = 100 };
    cr_assert_eq(store_evolution_list(T.st, &f, &rows, &n), 0);
    cr_assert_eq(n, 6);
    for (size_t i = 0; i < n; i++) cr_assert_eq(rows[i].id, ids[5 - i]);
    fs_evolutions_free(rows, n);

    f = (store_evolution_filter){ .component = "memory.ef_search", .limit = 100 };
    cr_assert_eq(store_evolution_list(T.st, &f, &rows, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(rows[0].id, ids[5]);
    cr_assert_eq(rows[2].id, ids[0]);
    fs_evolutions_free(rows, n);

    f = (store_evolution_filter){ .status = "applied", .type = "parameter_tuning",
                                  .limit = 100 };
    cr_assert_eq(store_evolution_list(T.st, &f, &rows, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(rows[0].id, ids[0]);
    fs_evolutions_free(rows, n);

    f = (store_evolution_filter){ .before_id = ids[3], .limit = 2 };
    cr_assert_eq(store_evolution_list(T.st, &f, &rows, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(rows[0].id, ids[2]);
    cr_assert_eq(rows[1].id, ids[1]);
    fs_evolutions_free(rows, n);

    f.limit = 0;
    cr_assert_eq(store_evolution_list(T.st, &f, &rows, &n), FS_EINVAL);
}
