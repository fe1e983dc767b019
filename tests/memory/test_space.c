/*
 * test_space.c - a database's vector space is recorded on first use and
 * defended afterwards: flags that disagree are refused with a message,
 * omitted flags take the recorded values.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "core/fs.h"
#include "memory/space.h"
#include "support/testdb.h"

static tdb T;
static void setup(void) { tdb_open(&T); }
static void teardown(void) { tdb_close(&T); }
TestSuite(space, .init = setup, .fini = teardown, .timeout = 30);

Test(space, defaults_then_recorded_values_win)
{
    mem_space sp;
    char msg[256];
    space_request none = { 0 };
    cr_assert_eq(space_resolve(T.st, &none, &sp, msg, sizeof msg), 0);
    cr_assert_eq(sp.dims, 1536);
    cr_assert_eq(sp.metric, VEC_COSINE);
    cr_assert_str_eq(sp.embedder, "local");
    space_request same = { 1536, "cosine", "local" };
    cr_assert_eq(space_resolve(T.st, &same, &sp, msg, sizeof msg), 0);
}

Test(space, a_different_space_is_refused_by_name)
{
    mem_space sp;
    char msg[256];
    space_request first = { 768, "l2", "openai" };
    cr_assert_eq(space_resolve(T.st, &first, &sp, msg, sizeof msg), 0);
    space_request none = { 0 };
    cr_assert_eq(space_resolve(T.st, &none, &sp, msg, sizeof msg), 0);
    cr_assert_eq(sp.dims, 768, "omitted flags take the recorded values");
    cr_assert_eq(sp.metric, VEC_L2);
    cr_assert_str_eq(sp.embedder, "openai");
    space_request dims = { 1536, NULL, NULL };
    cr_assert_eq(space_resolve(T.st, &dims, &sp, msg, sizeof msg), FS_ECONFLICT);
    cr_assert(strstr(msg, "768") && strstr(msg, "1536"), "%s", msg);
    space_request metric = { 0, "cosine", NULL };
    cr_assert_eq(space_resolve(T.st, &metric, &sp, msg, sizeof msg), FS_ECONFLICT);
    cr_assert(strstr(msg, "metric l2"), "%s", msg);
}

Test(space, bad_values_are_refused_before_anything_is_recorded)
{
    mem_space sp;
    char msg[256];
    space_request bad = { 0, "hamming", NULL };
    cr_assert_eq(space_resolve(T.st, &bad, &sp, msg, sizeof msg), FS_EINVAL);
    space_request big = { SPACE_MAX_DIMS + 1, NULL, NULL };
    cr_assert_eq(space_resolve(T.st, &big, &sp, msg, sizeof msg), FS_EINVAL);
    space_request none = { 0 };
    cr_assert_eq(space_resolve(T.st, &none, &sp, msg, sizeof msg), 0);
    cr_assert_eq(sp.dims, 1536, "nothing was recorded by the bad calls");
}
