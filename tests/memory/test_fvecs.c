/*
 * test_fvecs.c - the .fvecs/.ivecs reader: the real siftsmall files, a
 * round trip, max_n, and clear FS_ECORRUPT errors on truncated files,
 * bad dimensions and records that disagree; FS_ENOTFOUND for no file.
 * (Suite vec_fvecs, so --filter 'vec*' runs it with the kernels.)
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fs.h"
#include "memory/fvecs.h"
#include "support/vecdata.h"

static char dir[256];

static void setup(void)
{
    snprintf(dir, sizeof dir, "%s/fs-fvecs-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(vec_fvecs, .init = setup, .fini = teardown, .timeout = 60);

static const char *path(const char *name)
{
    static char p[320];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static void write_raw(const char *name, const void *buf, size_t n)
{
    FILE *f = fopen(path(name), "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(buf, 1, n, f), n);
    fclose(f);
}

Test(vec_fvecs, siftsmall)
{
    vd_sift s;
    vd_sift_load(&s); /* checks counts and dimensions */
    /* First base vector of SIFT10K: whole numbers 0..255. */
    for (size_t i = 0; i < s.nb * s.d; i++)
        cr_assert(s.base[i] >= 0 && s.base[i] <= 255 &&
                  s.base[i] == (float)(int)s.base[i]);
    for (size_t i = 0; i < s.nq * s.nt; i++)
        cr_assert(s.truth[i] >= 0 && s.truth[i] < 10000);
    vd_sift_free(&s);
}

Test(vec_fvecs, round_trip_and_max_n)
{
    float v[3 * 5];
    for (int i = 0; i < 15; i++)
        v[i] = (float)i * 0.5f - 3;
    cr_assert_eq(fvecs_write(path("a.fvecs"), v, 3, 5), 0);
    float *got;
    size_t n, d;
    char why[FVECS_ERRLEN];
    cr_assert_eq(fvecs_read(path("a.fvecs"), 0, &got, &n, &d, why, sizeof why),
                 0, "%s", why);
    cr_assert_eq(n, 3);
    cr_assert_eq(d, 5);
    cr_assert_arr_eq(got, v, sizeof v);
    free(got);
    cr_assert_eq(fvecs_read(path("a.fvecs"), 2, &got, &n, &d, why, sizeof why),
                 0);
    cr_assert_eq(n, 2);
    cr_assert_arr_eq(got, v, 2 * 5 * sizeof *v);
    free(got);
    /* The same bytes read as ivecs give the float bits. */
    int32_t *iv;
    cr_assert_eq(ivecs_read(path("a.fvecs"), 0, &iv, &n, &d, why, sizeof why),
                 0);
    cr_assert_eq(memcmp(iv, v, sizeof v), 0);
    free(iv);
    cr_assert_eq(fvecs_write(path("b.fvecs"), v, 1, 0), FS_EINVAL);
}

Test(vec_fvecs, empty_file_has_no_records)
{
    write_raw("e.fvecs", "", 0);
    float *got = (float *)1;
    size_t n = 9, d = 9;
    cr_assert_eq(fvecs_read(path("e.fvecs"), 0, &got, &n, &d, NULL, 0), 0);
    cr_assert_null(got);
    cr_assert_eq(n, 0);
    cr_assert_eq(d, 0);
}

Test(vec_fvecs, missing_file)
{
    float *got;
    size_t n, d;
    char why[FVECS_ERRLEN];
    cr_assert_eq(
        fvecs_read(path("none.fvecs"), 0, &got, &n, &d, why, sizeof why),
        FS_ENOTFOUND);
    cr_assert_null(got);
    cr_assert(strstr(why, "none.fvecs") != NULL, "%s", why);
    /* A folder is not a vectors file. */
    cr_assert_eq(fvecs_read(dir, 0, &got, &n, &d, why, sizeof why), FS_EIO);
}

static void expect_corrupt(const char *name, const char *needle)
{
    float *got;
    size_t n, d;
    char why[FVECS_ERRLEN] = "";
    cr_assert_eq(fvecs_read(path(name), 0, &got, &n, &d, why, sizeof why),
                 FS_ECORRUPT, "%s: %s", name, why);
    cr_assert_null(got);
    cr_assert(strstr(why, needle) != NULL, "%s: message '%s' lacks '%s'", name,
              why, needle);
}

Test(vec_fvecs, truncated_files)
{
    float v[4 * 8] = {0};
    cr_assert_eq(fvecs_write(path("t.fvecs"), v, 4, 8), 0);
    /* cut inside the last record, inside a header, and to 2 bytes */
    cr_assert_eq(truncate(path("t.fvecs"), 4 * 36 - 5), 0);
    expect_corrupt("t.fvecs", "truncated");
    cr_assert_eq(truncate(path("t.fvecs"), 3 * 36 + 2), 0);
    expect_corrupt("t.fvecs", "truncated");
    cr_assert_eq(truncate(path("t.fvecs"), 2), 0);
    expect_corrupt("t.fvecs", "truncated");
}

Test(vec_fvecs, bad_dimensions)
{
    int32_t zero[2] = {0, 0};
    write_raw("z.fvecs", zero, sizeof zero);
    expect_corrupt("z.fvecs", "dimension 0");
    int32_t neg[2] = {-4, 0};
    write_raw("n.fvecs", neg, sizeof neg);
    expect_corrupt("n.fvecs", "dimension -4");
    int32_t huge[2] = {1 << 30, 0};
    write_raw("h.fvecs", huge, sizeof huge);
    expect_corrupt("h.fvecs", "not in 1..");
    /* Two records of d = 2, then one claiming d = 3 with the same size
     * (so only the header check can catch it). */
    int32_t mixed[9] = {2, 0, 0, 2, 0, 0, 3, 0, 0};
    write_raw("m.fvecs", mixed, sizeof mixed);
    expect_corrupt("m.fvecs", "record 2 at byte 24: dimension 3 differs");
}
