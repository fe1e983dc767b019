/*
 * test_vbench.c - the engine of `flowstate bench vectors` (src/bench/
 * vbench.h) on small sets, so it runs in well under a second under ASan:
 *
 *   synthetic_is_deterministic   same seed, same bytes; another seed differs;
 *                                queries continue the round robin
 *   truth_equals_vstore          the blocked exact scan (1 and 3 threads)
 *                                equals vstore_search, for l2, ip, cosine
 *   write_then_load_round_trip   DIR/{base,queries}.fvecs + truth.ivecs
 *                                read back equal; an ip load skips the truth
 *   load_errors_name_the_file    missing, truncated, mismatched dimensions,
 *                                a truth of the wrong shape or out-of-range
 *                                ids: FS_E* codes and messages
 *   run_gives_the_rows           exact recall 1, exact-int8 >= 0.95, one
 *                                hnsw row per ef, bytes: int8 < float
 *   json_round_trip              vbench_row_json -> vbench_row_parse, NaN
 *                                latencies as null, missing fields refused
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/vbench.h"
#include "core/fs.h"
#include "core/xmem.h"
#include "memory/vstore.h"

TestSuite(vbench, .timeout = 60);

static char *tmpdir(void)
{
    const char *t = getenv("TMPDIR");
    char *d = xasprintf("%s/fs-vbench-test-XXXXXX", t && *t ? t : "/tmp");
    cr_assert(mkdtemp(d), "mkdtemp");
    return d;
}

static void rmdir_files(const char *dir)
{
    const char *names[] = {"base.fvecs", "queries.fvecs", "truth.ivecs",
                           "bad.fvecs", "bad.ivecs"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char *p = xasprintf("%s/%s", dir, names[i]);
        unlink(p);
        free(p);
    }
    rmdir(dir);
}

Test(vbench, synthetic_is_deterministic)
{
    vbench_data a, b, c;
    cr_assert_eq(vbench_synthetic(&a, 300, 24, 20, 7, 0.5, 9, VEC_L2), 0);
    cr_assert_eq(vbench_synthetic(&b, 300, 24, 20, 7, 0.5, 9, VEC_L2), 0);
    cr_assert_eq(vbench_synthetic(&c, 300, 24, 20, 7, 0.5, 10, VEC_L2), 0);
    cr_assert_eq(a.n, 300);
    cr_assert_eq(a.nq, 20);
    cr_assert_eq(a.d, 24);
    cr_assert_null(a.truth);
    cr_assert(!memcmp(a.base, b.base, 300 * 24 * sizeof(float)));
    cr_assert(!memcmp(a.query, b.query, 20 * 24 * sizeof(float)));
    cr_assert(memcmp(a.base, c.base, 300 * 24 * sizeof(float)));
    /* Points of one cluster are closer to each other than to others':
     * base 0 and 7 share centre 0, base 1 has centre 1 (sigma 0.5). */
    float same = vec_l2sq(a.base, a.base + 7 * 24, 24);
    float other = vec_l2sq(a.base, a.base + 1 * 24, 24);
    cr_assert_lt(same, other);
    /* Query 0 is point 300, whose cluster is 300 % 7 = 6, as base 6's. */
    cr_assert_lt(vec_l2sq(a.query, a.base + 6 * 24, 24),
                 vec_l2sq(a.query, a.base + 5 * 24, 24));
    vbench_data bad;
    cr_assert_eq(vbench_synthetic(&bad, 5, 24, 20, 7, 0.5, 9, VEC_L2),
                 FS_EINVAL);
    cr_assert_eq(vbench_synthetic(&bad, 300, 24, 20, 0, 0.5, 9, VEC_L2),
                 FS_EINVAL);
    cr_assert_eq(vbench_synthetic(&bad, 300, 24, 20, 7, 0, 9, VEC_L2),
                 FS_EINVAL);
    vbench_data_free(&a);
    vbench_data_free(&b);
    vbench_data_free(&c);
}

Test(vbench, truth_equals_vstore)
{
    const vec_metric ms[] = {VEC_L2, VEC_IP, VEC_COSINE};
    for (size_t m = 0; m < 3; m++) {
        vbench_data ds;
        cr_assert_eq(vbench_synthetic(&ds, 700, 20, 15, 5, 1.0, 3, ms[m]), 0);
        /* Two identical base vectors: the tie goes to the smaller id. */
        memcpy(ds.base + 650 * 20, ds.base + 40 * 20, 20 * sizeof(float));
        memcpy(ds.query, ds.base + 40 * 20, 20 * sizeof(float));
        vbench_truth(&ds, 3);
        int64_t *three = xmalloc(15 * VBENCH_K * sizeof *three);
        memcpy(three, ds.truth, 15 * VBENCH_K * sizeof *three);
        vbench_truth(&ds, 1);
        cr_assert(!memcmp(three, ds.truth, 15 * VBENCH_K * sizeof *three),
                  "%s: 3 threads differ from 1", vec_metric_name(ms[m]));
        free(three);

        vstore *s;
        vstore_config cfg = {.dims = 20, .metric = ms[m]};
        cr_assert_eq(vstore_open(&s, &cfg), 0);
        for (size_t i = 0; i < ds.n; i++)
            cr_assert_eq(vstore_add(s, (int64_t)i, ds.base + i * 20, 20), 0);
        for (size_t q = 0; q < ds.nq; q++) {
            vstore_hit h[VBENCH_K];
            size_t n;
            cr_assert_eq(vstore_search(s, ds.query + q * 20, 20, VBENCH_K, NULL,
                                       NULL, h, &n),
                         0);
            cr_assert_eq(n, VBENCH_K);
            for (size_t j = 0; j < VBENCH_K; j++)
                cr_assert_eq(ds.truth[q * VBENCH_K + j], h[j].id,
                             "%s: query %zu rank %zu: %lld vs %lld",
                             vec_metric_name(ms[m]), q, j,
                             (long long)ds.truth[q * VBENCH_K + j],
                             (long long)h[j].id);
        }
        if (ms[m] != VEC_IP) { /* (under ip a longer vector may beat it) */
            cr_assert_eq(ds.truth[0], 40);
            cr_assert_eq(ds.truth[1], 650);
        }
        vstore_close(s);
        vbench_data_free(&ds);
    }
}

Test(vbench, write_then_load_round_trip)
{
    char *dir = tmpdir(), why[VBENCH_ERRLEN];
    vbench_data ds, back, ip;
    cr_assert_eq(vbench_synthetic(&ds, 200, 8, 12, 4, 1.0, 1, VEC_L2), 0);
    vbench_truth(&ds, 1);
    cr_assert_eq(vbench_write(&ds, dir, why, sizeof why), 0, "%s", why);
    char *b = xasprintf("%s/base.fvecs", dir);
    char *q = xasprintf("%s/queries.fvecs", dir);
    char *t = xasprintf("%s/truth.ivecs", dir);
    cr_assert_eq(vbench_load(&back, b, q, t, VEC_L2, why, sizeof why), 0, "%s",
                 why);
    cr_assert_eq(back.n, 200);
    cr_assert_eq(back.nq, 12);
    cr_assert_eq(back.d, 8);
    cr_assert(!memcmp(back.base, ds.base, 200 * 8 * sizeof(float)));
    cr_assert(!memcmp(back.query, ds.query, 12 * 8 * sizeof(float)));
    cr_assert(!memcmp(back.truth, ds.truth, 12 * VBENCH_K * sizeof(int64_t)));
    /* The truth file is L2: under ip it is not used. */
    cr_assert_eq(vbench_load(&ip, b, q, t, VEC_IP, why, sizeof why), 0);
    cr_assert_null(ip.truth);
    vbench_data_free(&ip);
    vbench_data_free(&back);
    vbench_data_free(&ds);
    free(b);
    free(q);
    free(t);
    rmdir_files(dir);
    free(dir);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

Test(vbench, load_errors_name_the_file)
{
    char *dir = tmpdir(), why[VBENCH_ERRLEN];
    vbench_data ds;
    cr_assert_eq(vbench_synthetic(&ds, 50, 4, 3, 2, 1.0, 1, VEC_L2), 0);
    vbench_truth(&ds, 1);
    cr_assert_eq(vbench_write(&ds, dir, why, sizeof why), 0, "%s", why);
    char *b = xasprintf("%s/base.fvecs", dir);
    char *q = xasprintf("%s/queries.fvecs", dir);
    char *t = xasprintf("%s/truth.ivecs", dir);
    char *bad = xasprintf("%s/bad.fvecs", dir);
    char *badi = xasprintf("%s/bad.ivecs", dir);
    char *none = xasprintf("%s/none.fvecs", dir);
    vbench_data x;

    cr_assert_eq(vbench_load(&x, none, q, NULL, VEC_L2, why, sizeof why),
                 FS_ENOTFOUND);
    cr_assert(strstr(why, "none.fvecs") && strstr(why, "no such file"), "%s",
              why);
    cr_assert_null(x.base);

    /* Truncated: a record of 4 dimensions cut short. */
    int32_t rec[3] = {4, 0, 0};
    write_file(bad, rec, sizeof rec);
    cr_assert_eq(vbench_load(&x, bad, q, NULL, VEC_L2, why, sizeof why),
                 FS_ECORRUPT);
    cr_assert(strstr(why, "bad.fvecs"), "%s", why);

    /* Queries of another dimension. */
    float v[3] = {1, 2, 3};
    int32_t three = 3;
    FILE *f = fopen(bad, "wb");
    fwrite(&three, 4, 1, f);
    fwrite(v, 4, 3, f);
    fclose(f);
    cr_assert_eq(vbench_load(&x, b, bad, NULL, VEC_L2, why, sizeof why),
                 FS_EINVAL);
    cr_assert(strstr(why, "dimensions"), "%s", why);

    /* A truth with too few rows, then one with an id past the base. */
    int32_t row[11] = {10, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    write_file(badi, row, sizeof row);
    cr_assert_eq(vbench_load(&x, b, q, badi, VEC_L2, why, sizeof why),
                 FS_EINVAL);
    cr_assert(strstr(why, "bad.ivecs") && strstr(why, "one per query"), "%s",
              why);
    int32_t rows[33];
    for (int r = 0; r < 3; r++)
        memcpy(rows + r * 11, row, sizeof row);
    rows[5] = 50;
    write_file(badi, rows, sizeof rows);
    cr_assert_eq(vbench_load(&x, b, q, badi, VEC_L2, why, sizeof why),
                 FS_EINVAL);
    cr_assert(strstr(why, "outside the base"), "%s", why);
    rows[5] = 4;
    write_file(badi, rows, sizeof rows);
    cr_assert_eq(vbench_load(&x, b, q, badi, VEC_L2, why, sizeof why), 0, "%s",
                 why);
    vbench_data_free(&x);

    vbench_data_free(&ds);
    free(b);
    free(q);
    free(t);
    free(bad);
    free(badi);
    free(none);
    rmdir_files(dir);
    free(dir);
}

Test(vbench, run_gives_the_rows)
{
    vbench_data ds;
    cr_assert_eq(vbench_synthetic(&ds, 1000, 16, 30, 10, 1.0, 2, VEC_COSINE),
                 0);
    vbench_truth(&ds, 2);
    const int efs[] = {16, 64};
    vbench_params p = {.M = 8,
                       .ef_construction = 64,
                       .efs = efs,
                       .nefs = 2,
                       .threads = 2,
                       .seconds = 0.01};
    vbench_row *rows;
    size_t n;
    char why[VBENCH_ERRLEN];
    cr_assert_eq(vbench_run(&ds, &p, &rows, &n, why, sizeof why), 0, "%s", why);
    cr_assert_eq(n, 4);
    cr_assert_str_eq(rows[0].index, "exact");
    cr_assert_str_eq(rows[1].index, "exact-int8");
    cr_assert_str_eq(rows[2].index, "hnsw");
    cr_assert_str_eq(rows[3].index, "hnsw");
    cr_assert_eq(rows[0].ef, 0);
    cr_assert_eq(rows[2].ef, 16);
    cr_assert_eq(rows[3].ef, 64);
    cr_assert_float_eq(rows[0].recall, 1.0, 1e-12);
    cr_assert_geq(rows[1].recall, 0.95);
    cr_assert_geq(rows[3].recall, 0.9);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(rows[i].queries, 30);
        cr_assert_gt(rows[i].qps, 0);
        cr_assert_leq(rows[i].p50_us, rows[i].p99_us);
        cr_assert_gt(rows[i].bytes_per_vector, 0);
    }
    cr_assert_lt(rows[1].bytes_per_vector, rows[0].bytes_per_vector);
    cr_assert_eq(rows[2].build_s, rows[3].build_s);
    free(rows);

    /* A vector the index refuses: named in the error. */
    ds.base[5 * 16 + 3] = NAN;
    cr_assert_eq(vbench_run(&ds, &p, &rows, &n, why, sizeof why), FS_EINVAL);
    cr_assert(strstr(why, "base vector 5"), "%s", why);
    cr_assert_null(rows);
    vbench_data_free(&ds);
}

Test(vbench, json_round_trip)
{
    vbench_row r = {.index = "hnsw",
                    .ef = 32,
                    .recall = 0.9876,
                    .qps = 1234.5,
                    .p50_us = 12.25,
                    .p99_us = 40.5,
                    .build_s = 1.5,
                    .bytes_per_vector = 680};
    vbench_row e = {.index = "exact",
                    .recall = 1,
                    .qps = 10,
                    .p50_us = NAN,
                    .p99_us = NAN,
                    .build_s = 0.001,
                    .bytes_per_vector = 512};
    char *buf;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    vbench_row_json(f, &r);
    fputc('\n', f);
    vbench_row_json(f, &e);
    fclose(f);
    char *nl = strchr(buf, '\n');
    json_t *a = json_loadb(buf, (size_t)(nl - buf), 0, NULL);
    json_t *b = json_loads(nl + 1, 0, NULL);
    cr_assert(a && b, "not JSON: %s", buf);
    cr_assert_eq(json_object_size(a), 8, "%s", buf);
    cr_assert(json_is_null(json_object_get(b, "ef_search")));
    cr_assert(json_is_null(json_object_get(b, "p50_us")));
    vbench_row back;
    cr_assert(vbench_row_parse(a, &back));
    cr_assert_str_eq(back.index, "hnsw");
    cr_assert_eq(back.ef, 32);
    cr_assert_float_eq(back.recall, 0.9876, 1e-9);
    cr_assert_float_eq(back.qps, 1234.5, 1e-9);
    cr_assert_float_eq(back.p99_us, 40.5, 1e-9);
    cr_assert(vbench_row_parse(b, &back));
    cr_assert_eq(back.ef, 0);
    cr_assert(isnan(back.p50_us));
    json_object_del(a, "qps");
    cr_assert(!vbench_row_parse(a, &back));
    json_decref(a);
    json_decref(b);
    free(buf);
}
