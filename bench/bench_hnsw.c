/*
 * bench_hnsw.c - the HNSW index (src/memory/hnsw.h) on an fvecs/ivecs set,
 * siftsmall by default (L2, the set's own ground truth).
 *
 * Builds the index once (M, ef_construction as given; one thread unless
 * --threads), then for each ef_search in {16, 32, 64, 128} runs every query
 * --reps times on one thread and prints one row:
 *   build s, bytes/vector (hnsw_memory_bytes / count), recall@10 (against
 *   the ground truth's first 10), queries/s, p50 and p99 latency in us.
 * Three more rows at ef 64 run under a filter, recall against the exact
 * filtered answer (brute force): "f33%" keeps ids % 3 == 1 (the graph
 * searches), "f10%" and "f1%" keep ids % 10 == 3 and ids % 100 == 3 (the
 * index chooses an exact scan of the kept ids).
 * The figure to compare: FAISS IndexHNSWFlat (M=16, efC=200, one thread)
 * reaches recall@10 0.961 at about 50,000 queries/s on siftsmall at
 * ef_search 16 on the reference machine.
 *
 * usage: bench_hnsw [--data DIR] [--m M] [--ef-construction N]
 *                   [--threads T] [--reps R] [--quick]
 * DIR is the shared data folder (default $FLOWSTATE_DATA_DIR, else
 * ../shared/data) holding siftsmall/siftsmall_{base,query}.fvecs and
 * siftsmall/siftsmall_groundtruth.ivecs; when missing: says so, exits 0.
 * --quick: one rep, ef 16 only, then two threads searching at once (with
 * and without a filter) must agree with one; with --threads 2 under
 * ThreadSanitizer this checks the parallel build and concurrent searches.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/fs.h"
#include "core/xmem.h"
#include "memory/fvecs.h"
#include "memory/hnsw.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Reads dir/siftsmall/name (.fvecs, or .ivecs when ivecs) whole; exits
 * 0 with a note when it is missing, 1 when it is bad. */
static void *read_set(const char *dir, const char *name, bool ivecs,
                      size_t *n, size_t *d)
{
    char path[1024], why[FVECS_ERRLEN];
    snprintf(path, sizeof path, "%s/siftsmall/%s", dir, name);
    void *data;
    int rc = ivecs ? ivecs_read(path, 0, (int32_t **)&data, n, d, why,
                                sizeof why)
                   : fvecs_read(path, 0, (float **)&data, n, d, why,
                                sizeof why);
    if (rc == FS_ENOTFOUND) {
        printf("bench_hnsw: %s not found; skipped\n", path);
        exit(0);
    }
    if (rc || *n == 0) {
        fprintf(stderr, "bench_hnsw: %s\n", rc ? why : "empty file");
        exit(1);
    }
    return data;
}

static bool keep_3(int64_t id, void *ctx)
{
    (void)ctx;
    return id % 3 == 1;
}

static bool keep_10(int64_t id, void *ctx)
{
    (void)ctx;
    return id % 10 == 3;
}

static bool keep_100(int64_t id, void *ctx)
{
    (void)ctx;
    return id % 100 == 3;
}

/* The exact filtered top 10 of each query, by brute force.  OUT: truth
 * (nq x 10). */
static void exact_truth(const float *base, size_t nb, const float *query,
                        size_t nq, size_t d, hnsw_keep_fn keep,
                        int64_t *truth)
{
    for (size_t q = 0; q < nq; q++) {
        int64_t *t = truth + q * 10;
        float td[10];
        size_t got = 0;
        for (size_t i = 0; i < nb; i++) {
            if (!keep((int64_t)i, NULL)) continue;
            float dd = vec_distance(VEC_L2, query + q * d, base + i * d, d);
            if (got == 10 && dd >= td[9]) continue;
            size_t j = got < 10 ? got++ : 9;
            for (; j > 0 && td[j - 1] > dd; j--) {
                td[j] = td[j - 1];
                t[j] = t[j - 1];
            }
            td[j] = dd;
            t[j] = (int64_t)i;
        }
    }
}

typedef struct row {
    const char *name;
    int ef;
    hnsw_keep_fn keep;
    const int64_t *truth; /* nq x 10 */
} row;

typedef struct run {
    hnsw *h;
    const float *query;
    size_t nq, d;
    int reps;
    double build, bpv;
    double *lat;
} run;

static int cmp_double(const void *a, const void *b);

/* Times every query reps times at r->ef and prints the row. */
static void bench_row(const run *b, const row *r)
{
    size_t hit = 0, k = 0, total = b->nq * (size_t)b->reps;
    double start = now_s();
    for (int rep = 0; rep < b->reps; rep++)
        for (size_t q = 0; q < b->nq; q++) {
            int64_t got[10];
            float gd[10];
            size_t n;
            double s = now_s();
            hnsw_search(b->h, b->query + q * b->d, b->d, 10, r->ef, r->keep,
                        NULL, got, gd, &n);
            b->lat[k++] = now_s() - s;
            if (rep) continue;
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < 10; j++)
                    if (got[i] == r->truth[q * 10 + j]) hit++;
        }
    double secs = now_s() - start;
    qsort(b->lat, total, sizeof *b->lat, cmp_double);
    printf("%-6s %5d %9.2f %9.0f %10.3f %10.0f %9.1f %9.1f\n", r->name,
           r->ef, b->build, b->bpv, (double)hit / (double)(b->nq * 10),
           (double)total / secs, b->lat[total / 2] * 1e6,
           b->lat[total * 99 / 100] * 1e6);
}

typedef struct conc {
    const run *b;
    const int64_t *want; /* 2 x nq x 10: unfiltered, then keep_10 */
    int bad;
} conc;

static void *conc_worker(void *arg)
{
    conc *c = arg;
    const run *b = c->b;
    for (size_t pass = 0; pass < 2; pass++)
        for (size_t q = 0; q < b->nq; q++) {
            int64_t got[10];
            size_t n;
            hnsw_search(b->h, b->query + q * b->d, b->d, 10, 16,
                        pass ? keep_10 : NULL, NULL, got, NULL, &n);
            if (memcmp(got, c->want + (pass * b->nq + q) * 10, sizeof got))
                c->bad++;
        }
    return NULL;
}

/* Two threads search at once; each answer must equal the lone one. */
static int check_concurrent(const run *b)
{
    int64_t *want = xmalloc(2 * b->nq * 10 * sizeof *want);
    for (size_t pass = 0; pass < 2; pass++)
        for (size_t q = 0; q < b->nq; q++) {
            size_t n;
            hnsw_search(b->h, b->query + q * b->d, b->d, 10, 16,
                        pass ? keep_10 : NULL, NULL,
                        want + (pass * b->nq + q) * 10, NULL, &n);
        }
    conc c[2] = { { b, want, 0 }, { b, want, 0 } };
    pthread_t t;
    pthread_create(&t, NULL, conc_worker, &c[1]);
    conc_worker(&c[0]);
    pthread_join(t, NULL);
    free(want);
    printf("concurrent searches (2 threads): %s\n",
           c[0].bad + c[1].bad ? "MISMATCH" : "agree");
    return c[0].bad + c[1].bad ? 1 : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *dir = getenv("FLOWSTATE_DATA_DIR");
    if (!dir || !*dir) dir = "../shared/data";
    hnsw_params p = { .M = 16, .ef_construction = 200 };
    int threads = 1, reps = 20;
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            quick = 1;
            continue;
        }
        if (!v) goto usage;
        i++;
        if (!strcmp(a, "--data")) dir = v;
        else if (!strcmp(a, "--m")) p.M = atoi(v);
        else if (!strcmp(a, "--ef-construction")) p.ef_construction = atoi(v);
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--reps")) reps = atoi(v);
        else goto usage;
    }
    if (quick) reps = 1;
    if (reps < 1) reps = 1;

    size_t nb, nq, nq2, nt, d, d2;
    float *base = read_set(dir, "siftsmall_base.fvecs", false, &nb, &d);
    float *query = read_set(dir, "siftsmall_query.fvecs", false, &nq, &d2);
    int32_t *truth =
        read_set(dir, "siftsmall_groundtruth.ivecs", true, &nq2, &nt);
    if (d2 != d || nq2 != nq || nt < 10) {
        fprintf(stderr, "bench_hnsw: queries or truth do not fit the base\n");
        return 1;
    }
    int64_t *ids = xmalloc(nb * sizeof *ids);
    for (size_t i = 0; i < nb; i++) ids[i] = (int64_t)i;

    hnsw *h;
    if (hnsw_open(&h, d, VEC_L2, &p) != 0) {
        fprintf(stderr, "bench_hnsw: bad parameters\n");
        return 1;
    }
    double t0 = now_s();
    int rc = hnsw_add_batch(h, ids, base, d, nb, threads);
    double build = now_s() - t0;
    if (rc) {
        fprintf(stderr, "bench_hnsw: build: %s\n", fs_strerror(rc));
        return 1;
    }
    double bpv = (double)hnsw_memory_bytes(h) / (double)nb;

    printf("hnsw on %s/siftsmall: %zu x %zu, %zu queries x %d, M=%d efC=%d, "
           "build threads %d, search 1 thread, kernels %s\n",
           dir, nb, d, nq, reps, p.M, p.ef_construction, threads, vec_impl());
    printf("%-6s %5s %9s %9s %10s %10s %9s %9s\n", "filter", "ef", "build_s",
           "bytes/vec", "recall@10", "qps", "p50_us", "p99_us");
    int64_t *t_all = xmalloc(nq * 10 * sizeof *t_all);
    int64_t *t_3 = xmalloc(nq * 10 * sizeof *t_3);
    int64_t *t_10 = xmalloc(nq * 10 * sizeof *t_10);
    int64_t *t_100 = xmalloc(nq * 10 * sizeof *t_100);
    for (size_t q = 0; q < nq; q++)
        for (size_t j = 0; j < 10; j++) t_all[q * 10 + j] = truth[q * nt + j];
    exact_truth(base, nb, query, nq, d, keep_3, t_3);
    exact_truth(base, nb, query, nq, d, keep_10, t_10);
    exact_truth(base, nb, query, nq, d, keep_100, t_100);
    const row rows[] = {
        { "-", 16, NULL, t_all },       { "-", 32, NULL, t_all },
        { "-", 64, NULL, t_all },       { "-", 128, NULL, t_all },
        { "f33%", 64, keep_3, t_3 },    { "f10%", 64, keep_10, t_10 },
        { "f1%", 64, keep_100, t_100 },
    };
    double *lat = xmalloc(nq * (size_t)reps * sizeof *lat);
    run b = { h, query, nq, d, reps, build, bpv, lat };
    for (size_t i = 0; i < (quick ? 1 : sizeof rows / sizeof *rows); i++)
        bench_row(&b, &rows[i]);
    int bad = quick ? check_concurrent(&b) : 0;
    free(t_all);
    free(t_3);
    free(t_10);
    free(t_100);
    free(lat);
    hnsw_close(h);
    free(ids);
    free(base);
    free(query);
    free(truth);
    return bad;
usage:
    fprintf(stderr, "usage: bench_hnsw [--data DIR] [--m M] "
                    "[--ef-construction N] [--threads T] [--reps R] "
                    "[--quick]\n");
    return 2;
}
