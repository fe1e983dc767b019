/*
 * test_bench_vectors.c - `flowstate bench vectors` as a user runs it: the
 * real binary ($FLOWSTATE_BIN, fork + exec) on small synthetic sets and
 * files written by it, so every case takes well under a second even under
 * ASan.
 *
 *   json_rows_on_synthetic       --json prints exactly {"rows":[...]}, the
 *                                eight contract fields per row, exact
 *                                recall 1, one hnsw row per ef
 *   table_and_targets            the human table, "FAISS: not run", the
 *                                int8 memory target judged
 *   written_files_read_back      --write-synthetic DIR, then --base/--queries
 *                                /--truth on those files: same recall 1
 *   faiss_rows_beside_ours       a stand-in faiss_bench (a shell script
 *                                printing rows) given by --faiss: its rows,
 *                                the ratios and targets; its input files
 *                                exist during the run and are gone after
 *   failing_faiss_exits_1
 *   bad_flags_exit_2             each with a message naming the command
 *   missing_or_bad_files_exit_1  the message names the file
 *   help_exits_0
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/xmem.h"

TestSuite(bench_vectors, .timeout = 60);

typedef struct run_out {
    int code;
    char *out, *err;
} run_out;

static char *slurp(int fd)
{
    off_t len = lseek(fd, 0, SEEK_END);
    char *buf = xmalloc((size_t)len + 1);
    ssize_t got = pread(fd, buf, (size_t)len, 0);
    buf[got > 0 ? got : 0] = '\0';
    close(fd);
    return buf;
}

static int temp_fd(void)
{
    const char *t = getenv("TMPDIR");
    char path[300];
    snprintf(path, sizeof path, "%s/fs-bv-XXXXXX", t && *t ? t : "/tmp");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
    unlink(path);
    return fd;
}

/* Runs `flowstate bench vectors ARGS...` (args NULL-terminated). */
static run_out bench_v(const char *const *args)
{
    const char *bin = getenv("FLOWSTATE_BIN");
    cr_assert(bin && *bin, "FLOWSTATE_BIN is not set");
    const char *argv[48] = {bin, "bench", "vectors"};
    int argc = 3;
    for (; *args && argc < 47; args++)
        argv[argc++] = *args;
    argv[argc] = NULL;
    int fo = temp_fd(), fe = temp_fd();
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(fo, 1);
        dup2(fe, 2);
        setenv("NO_COLOR", "1", 1);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return (run_out){WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
                     slurp(fo), slurp(fe)};
}

#define BENCH(...) bench_v((const char *const[]){__VA_ARGS__, NULL})

static void run_free(run_out *r)
{
    free(r->out);
    free(r->err);
}

#define assert_exit(r, want)                                                   \
    cr_assert_eq((r).code, (want),                                             \
                 "exit %d, want %d\nstdout:\n%s\nstderr:\n%s", (r).code,       \
                 (want), (r).out, (r).err)

/* A small, fast set: 2000 x 32, 50 queries, a light HNSW build. */
#define SMALL                                                                  \
    "--synthetic", "2000x32", "--queries", "50", "--clusters", "20",           \
        "--ef-construction", "64", "--seconds", "0.01"

static char *tmpdir(void)
{
    const char *t = getenv("TMPDIR");
    char *d = xasprintf("%s/fs-bv-dir-XXXXXX", t && *t ? t : "/tmp");
    cr_assert(mkdtemp(d));
    return d;
}

static void rm_rf(const char *dir)
{
    char *cmd = xasprintf("rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    free(cmd);
}

static const char *const FIELDS[] = {
    "index",  "ef_search", "recall_at_10", "qps",
    "p50_us", "p99_us",    "build_s",      "bytes_per_vector",
};

/* Checks one row's fields and types; returns its index name. */
static const char *check_row(const json_t *row)
{
    cr_assert(json_is_object(row));
    cr_assert_eq(json_object_size(row), 8, "extra or missing fields");
    for (size_t i = 0; i < 8; i++)
        cr_assert(json_object_get(row, FIELDS[i]), "no %s", FIELDS[i]);
    for (size_t i = 2; i < 8; i++)
        cr_assert(json_is_number(json_object_get(row, FIELDS[i])),
                  "%s is not a number", FIELDS[i]);
    const json_t *ef = json_object_get(row, "ef_search");
    cr_assert(json_is_null(ef) || json_is_integer(ef));
    return json_string_value(json_object_get(row, "index"));
}

static double num(const json_t *row, const char *key)
{
    return json_number_value(json_object_get(row, key));
}

Test(bench_vectors, json_rows_on_synthetic)
{
    run_out r = BENCH(SMALL, "--json", "--no-faiss");
    assert_exit(r, 0);
    json_error_t e;
    json_t *doc = json_loads(r.out, 0, &e);
    cr_assert(doc, "not JSON (%s):\n%s", e.text, r.out);
    cr_assert_eq(json_object_size(doc), 1, "only \"rows\" without FAISS");
    json_t *rows = json_object_get(doc, "rows");
    cr_assert_eq(json_array_size(rows), 6);
    const char *want[] = {"exact", "exact-int8", "hnsw",
                          "hnsw",  "hnsw",       "hnsw"};
    const int efs[] = {0, 0, 16, 32, 64, 128};
    for (size_t i = 0; i < 6; i++) {
        json_t *row = json_array_get(rows, i);
        cr_assert_str_eq(check_row(row), want[i]);
        json_t *ef = json_object_get(row, "ef_search");
        if (efs[i])
            cr_assert_eq(json_integer_value(ef), efs[i]);
        else
            cr_assert(json_is_null(ef));
        cr_assert_gt(num(row, "qps"), 0);
        cr_assert_gt(num(row, "bytes_per_vector"), 0);
        cr_assert_leq(num(row, "p50_us"), num(row, "p99_us"));
    }
    cr_assert_eq(num(json_array_get(rows, 0), "recall_at_10"), 1.0);
    cr_assert_geq(num(json_array_get(rows, 1), "recall_at_10"), 0.95);
    cr_assert_geq(num(json_array_get(rows, 5), "recall_at_10"), 0.95);
    cr_assert_lt(num(json_array_get(rows, 1), "bytes_per_vector"),
                 num(json_array_get(rows, 0), "bytes_per_vector"));
    json_decref(doc);
    run_free(&r);
}

Test(bench_vectors, table_and_targets)
{
    run_out r = BENCH(SMALL, "--ef", "8,32", "--metric", "l2", "--no-faiss");
    assert_exit(r, 0);
    cr_assert(strstr(r.out, "synthetic 2000 x 32"), "%s", r.out);
    cr_assert(strstr(r.out, "exact-int8"), "%s", r.out);
    cr_assert(strstr(r.out, "RECALL@10"), "%s", r.out);
    cr_assert(strstr(r.out, "FAISS: not run (--no-faiss)"), "%s", r.out);
    cr_assert(strstr(r.out, "int8 memory <= 1/3"), "%s", r.out);
    cr_assert(!strstr(r.out, "hnsw        128"), "%s", r.out);
    run_free(&r);
}

Test(bench_vectors, written_files_read_back)
{
    char *dir = tmpdir();
    run_out r = BENCH(SMALL, "--metric", "l2", "--write-synthetic", dir,
                      "--no-faiss", "--json", "--ef", "16");
    assert_exit(r, 0);
    run_free(&r);
    char *b = xasprintf("%s/base.fvecs", dir);
    char *q = xasprintf("%s/queries.fvecs", dir);
    char *t = xasprintf("%s/truth.ivecs", dir);
    struct stat st;
    cr_assert_eq(stat(b, &st), 0);
    cr_assert_eq(st.st_size, 2000 * (4 + 32 * 4));
    cr_assert_eq(stat(t, &st), 0);
    cr_assert_eq(st.st_size, 50 * (4 + 10 * 4));
    r = BENCH("--base", b, "--queries", q, "--truth", t, "--seconds", "0.01",
              "--ef-construction", "64", "--ef", "16", "--no-faiss", "--json");
    assert_exit(r, 0);
    json_t *doc = json_loads(r.out, 0, NULL);
    cr_assert(doc, "%s", r.out);
    json_t *rows = json_object_get(doc, "rows");
    cr_assert_eq(json_array_size(rows), 3);
    cr_assert_eq(num(json_array_get(rows, 0), "recall_at_10"), 1.0);
    json_decref(doc);
    run_free(&r);
    free(b);
    free(q);
    free(t);
    rm_rf(dir);
    free(dir);
}

/* A stand-in for bench/faiss_bench: checks its input files exist, logs
 * their paths, prints a version line and two rows (or fails). */
static char *fake_faiss(const char *dir, bool fail)
{
    char *path = xasprintf("%s/faiss_bench", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fprintf(f,
            "#!/bin/sh\n"
            "while [ $# -gt 0 ]; do\n"
            "  case \"$1\" in --base) b=$2;; --queries) q=$2;; "
            "--truth) t=$2;; esac\n"
            "  shift\n"
            "done\n"
            "[ -s \"$b\" ] && [ -s \"$q\" ] && [ -s \"$t\" ] || exit 5\n"
            "echo \"$b $q $t\" > '%s/paths'\n"
            "%s"
            "echo '{\"faiss_version\":\"0.0-test\"}'\n"
            "echo 'not json'\n"
            "echo '{\"index\":\"flat\",\"ef_search\":null,"
            "\"recall_at_10\":1.0,\"qps\":0.5,\"p50_us\":100,\"p99_us\":200,"
            "\"build_s\":0.001,\"bytes_per_vector\":128}'\n"
            "echo '{\"index\":\"hnsw\",\"ef_search\":16,"
            "\"recall_at_10\":0.5,\"qps\":0.5,\"p50_us\":10,\"p99_us\":20,"
            "\"build_s\":1000,\"bytes_per_vector\":300}'\n",
            dir, fail ? "exit 3\n" : "");
    fclose(f);
    chmod(path, 0755);
    return path;
}

Test(bench_vectors, faiss_rows_beside_ours)
{
    char *dir = tmpdir(), *faiss = fake_faiss(dir, false);
    run_out r = BENCH(SMALL, "--faiss", faiss, "--json");
    assert_exit(r, 0);
    json_t *doc = json_loads(r.out, 0, NULL);
    cr_assert(doc, "%s", r.out);
    json_t *fr = json_object_get(doc, "faiss_rows");
    cr_assert_eq(json_array_size(fr), 2, "%s", r.out);
    cr_assert_str_eq(check_row(json_array_get(fr, 0)), "flat");
    cr_assert_str_eq(check_row(json_array_get(fr, 1)), "hnsw");
    cr_assert_eq(json_array_size(json_object_get(doc, "rows")), 6);
    json_decref(doc);
    run_free(&r);

    /* The synthetic set went to a temporary folder, removed after. */
    char *log = xasprintf("%s/paths", dir);
    FILE *f = fopen(log, "r");
    cr_assert(f, "the stand-in did not run");
    char b[512], q[512], t[512];
    cr_assert_eq(fscanf(f, "%511s %511s %511s", b, q, t), 3);
    fclose(f);
    cr_assert_neq(access(b, F_OK), 0, "%s left behind", b);
    cr_assert_neq(access(t, F_OK), 0, "%s left behind", t);

    r = BENCH(SMALL, "--faiss", faiss, "--ef", "16");
    assert_exit(r, 0);
    cr_assert(strstr(r.out, "FAISS 0.0-test"), "%s", r.out);
    cr_assert(strstr(r.out, "flat (1.0000)"), "%s", r.out);
    cr_assert(strstr(r.out, "hnsw ef 16 (0.5000)"), "%s", r.out);
    cr_assert(strstr(r.out, "exact scan q/s >= FAISS flat q/s (one query per "
                            "call): met"),
              "%s", r.out);
    cr_assert(strstr(r.out, "HNSW build time <= FAISS's: met"), "%s", r.out);
    cr_assert(strstr(r.out, "not judged, FAISS reached no recall >= 0.95"),
              "%s", r.out);
    run_free(&r);
    free(log);
    free(faiss);
    rm_rf(dir);
    free(dir);
}

Test(bench_vectors, failing_faiss_exits_1)
{
    char *dir = tmpdir(), *faiss = fake_faiss(dir, true);
    run_out r = BENCH(SMALL, "--faiss", faiss, "--ef", "16");
    assert_exit(r, 1);
    cr_assert(strstr(r.err, "failed"), "%s", r.err);
    run_free(&r);
    free(faiss);
    rm_rf(dir);
    free(dir);
}

Test(bench_vectors, bad_flags_exit_2)
{
    const char *const cases[][8] = {
        {"--synthetic", "100x8", "--bogus", NULL},
        {"--synthetic", "100x", NULL},
        {"--synthetic", "5x8", NULL},
        {"--synthetic", "100x8", "--ef", "16,", NULL},
        {"--synthetic", "100x8", "--ef", "0", NULL},
        {"--synthetic", "100x8", "--metric", "hamming", NULL},
        {"--synthetic", "100x8", "--m", "1", NULL},
        {"--synthetic", "100x8", "--seconds", "0", NULL},
        {"--synthetic", "100x8", "--queries", "q.fvecs", NULL},
        {"--synthetic", "100x8", "--base", "b.fvecs", NULL},
        {"--synthetic", "100x8", "--faiss", "x", "--no-faiss", NULL},
        {"--base", "b.fvecs", NULL},
        {"--base", "b.fvecs", "--queries", "q.fvecs", "--seed", "3", NULL},
        {"--queries", "q.fvecs", NULL},
        {NULL},
    };
    for (size_t i = 0; cases[i][0]; i++) {
        run_out r = bench_v(cases[i]);
        cr_assert_eq(r.code, 2, "case %zu (%s %s %s): exit %d\n%s", i,
                     cases[i][0], cases[i][1], cases[i][2] ? cases[i][2] : "",
                     r.code, r.err);
        cr_assert(strstr(r.err, "flowstate bench vectors: "), "case %zu: %s", i,
                  r.err);
        cr_assert_str_eq(r.out, "");
        run_free(&r);
    }
    run_out r = bench_v((const char *const[]){NULL});
    cr_assert_eq(r.code, 2);
    run_free(&r);
}

Test(bench_vectors, missing_or_bad_files_exit_1)
{
    char *dir = tmpdir();
    char *none = xasprintf("%s/none.fvecs", dir);
    run_out r = BENCH("--base", none, "--queries", none, "--no-faiss");
    assert_exit(r, 1);
    cr_assert(strstr(r.err, none) && strstr(r.err, "no such file"), "%s",
              r.err);
    run_free(&r);

    char *bad = xasprintf("%s/bad.fvecs", dir);
    FILE *f = fopen(bad, "wb");
    int32_t rec[3] = {8, 0, 0}; /* a record of 8 floats, cut short */
    fwrite(rec, sizeof rec, 1, f);
    fclose(f);
    r = BENCH("--base", bad, "--queries", bad, "--no-faiss");
    assert_exit(r, 1);
    cr_assert(strstr(r.err, "bad.fvecs"), "%s", r.err);
    run_free(&r);

    r = BENCH(SMALL, "--faiss", none);
    assert_exit(r, 1);
    cr_assert(strstr(r.err, "--faiss"), "%s", r.err);
    run_free(&r);
    free(none);
    free(bad);
    rm_rf(dir);
    free(dir);
}

Test(bench_vectors, help_exits_0)
{
    run_out r = BENCH("--help");
    assert_exit(r, 0);
    cr_assert(strstr(r.out, "usage: flowstate bench vectors"), "%s", r.out);
    cr_assert(strstr(r.out, "exact-int8"), "%s", r.out);
    cr_assert(strstr(r.out, "--synthetic NxD"), "%s", r.out);
    run_free(&r);
}
