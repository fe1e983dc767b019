/*
 * vbench.c - data, exact answer and timed rows of `flowstate bench vectors`
 * (see vbench.h for the protocol and the rows).
 *
 * Design notes:
 *   - The exact answer is computed block by block: a block of base vectors
 *     that fits in about 1 MB of cache is compared with every query of a
 *     thread's share before moving on, so the base streams from memory
 *     once per thread instead of once per query (100,000 x 1536 vectors
 *     are 614 MB; 1,000 queries one by one would read 614 GB).  Distances
 *     come from vec_distance_batch on vectors normalised the way the vstore
 *     normalises them, so they equal vstore_search's bit for bit, and ties
 *     go to the smaller id (ids are scanned in order and only a strictly
 *     closer vector displaces one already kept).
 *   - Every row is timed by one function (time_row) around a search
 *     callback, so the three indexes are measured the same way.
 *   - Indexes are built one after another and each is freed before the
 *     next, to keep the peak memory of large sets near two copies of the
 *     base.
 */
#include "bench/vbench.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/fs.h"
#include "core/xmem.h"
#include "memory/fvecs.h"
#include "memory/hnsw.h"
#include "memory/vstore.h"

#define K VBENCH_K

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int fail(char *why, size_t cap, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *why, size_t cap, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (why && cap) vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return rc;
}

static void progress(const vbench_params *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void progress(const vbench_params *p, const char *fmt, ...)
{
    if (!p->progress) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(p->progress, "bench: ");
    vfprintf(p->progress, fmt, ap);
    fputc('\n', p->progress);
    fflush(p->progress);
    va_end(ap);
}

void vbench_data_free(vbench_data *ds)
{
    free(ds->base);
    free(ds->query);
    free(ds->truth);
    memset(ds, 0, sizeof *ds);
}

/* ---- loading ------------------------------------------------------- */

/* fvecs_read's message, or one for a missing file (its own names it). */
static int read_floats(const char *path, float **x, size_t *n, size_t *d,
                       char *why, size_t cap)
{
    char msg[FVECS_ERRLEN];
    int rc = fvecs_read(path, 0, x, n, d, msg, sizeof msg);
    if (rc == FS_ENOTFOUND) return fail(why, cap, rc, "%s: no such file", path);
    if (rc) return fail(why, cap, rc, "%s", msg);
    if (*n == 0) return fail(why, cap, FS_EINVAL, "%s: no vectors", path);
    return 0;
}

/* Reads and checks the truth file into ds->truth (see vbench_load). */
static int load_truth(vbench_data *ds, const char *path, char *why, size_t cap)
{
    char msg[FVECS_ERRLEN];
    int32_t *t;
    size_t nt, kt;
    int rc = ivecs_read(path, 0, &t, &nt, &kt, msg, sizeof msg);
    if (rc == FS_ENOTFOUND) return fail(why, cap, rc, "%s: no such file", path);
    if (rc) return fail(why, cap, rc, "%s", msg);
    if (nt != ds->nq || kt < K) {
        free(t);
        return fail(why, cap, FS_EINVAL,
                    "%s: %zu rows of %zu ids; want %zu rows (one per query) "
                    "of at least %d",
                    path, nt, kt, ds->nq, K);
    }
    ds->truth = xmalloc(ds->nq * K * sizeof *ds->truth);
    for (size_t q = 0; q < ds->nq; q++)
        for (size_t j = 0; j < K; j++) {
            int32_t id = t[q * kt + j];
            if (id < 0 || (size_t)id >= ds->n) {
                free(t);
                return fail(why, cap, FS_EINVAL,
                            "%s: row %zu holds id %d, outside the base "
                            "(0..%zu)",
                            path, q, (int)id, ds->n - 1);
            }
            ds->truth[q * K + j] = id;
        }
    free(t);
    return 0;
}

int vbench_load(vbench_data *ds, const char *base_path, const char *query_path,
                const char *truth_path, vec_metric metric, char *why,
                size_t whycap)
{
    memset(ds, 0, sizeof *ds);
    ds->metric = metric;
    size_t dq;
    int rc = read_floats(base_path, &ds->base, &ds->n, &ds->d, why, whycap);
    if (rc) goto undo;
    rc = read_floats(query_path, &ds->query, &ds->nq, &dq, why, whycap);
    if (rc) goto undo;
    if (dq != ds->d) {
        rc =
            fail(why, whycap, FS_EINVAL, "%s has %zu dimensions but %s has %zu",
                 query_path, dq, base_path, ds->d);
        goto undo;
    }
    if (ds->n < K) {
        rc = fail(why, whycap, FS_EINVAL, "%s: %zu vectors; at least %d needed",
                  base_path, ds->n, K);
        goto undo;
    }
    if (truth_path && metric == VEC_L2) {
        rc = load_truth(ds, truth_path, why, whycap);
        if (rc) goto undo;
    }
    return 0;
undo:
    vbench_data_free(ds);
    return rc;
}

/* ---- synthetic data ------------------------------------------------ */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

/* Fills x[0..n) with N(0, sigma^2): Box-Muller, both outputs used. */
static void gauss_fill(uint64_t *s, float *x, size_t n, double sigma)
{
    for (size_t i = 0; i < n; i += 2) {
        double u = (double)(rng_next(s) >> 11) * 0x1.0p-53;
        double v = (double)(rng_next(s) >> 11) * 0x1.0p-53;
        double r = sigma * sqrt(-2.0 * log(1.0 - u));
        x[i] = (float)(r * cos(2.0 * M_PI * v));
        if (i + 1 < n) x[i + 1] = (float)(r * sin(2.0 * M_PI * v));
    }
}

int vbench_synthetic(vbench_data *ds, size_t n, size_t d, size_t nq,
                     size_t clusters, double sigma, uint64_t seed,
                     vec_metric metric)
{
    memset(ds, 0, sizeof *ds);
    if (n < K || nq == 0 || d == 0 || d > FVECS_MAX_DIMS || clusters == 0 ||
        !(sigma > 0) || !isfinite(sigma))
        return FS_EINVAL;
    /* Two streams of one seed: the centres do not depend on n. */
    uint64_t sc = seed * 2 + 1, sp = seed * 2 + 0x9e3779b97f4a7c15ULL;
    float *centre = xmalloc(clusters * d * sizeof *centre);
    gauss_fill(&sc, centre, clusters * d, 1.0);
    ds->base = xmalloc(n * d * sizeof *ds->base);
    ds->query = xmalloc(nq * d * sizeof *ds->query);
    for (size_t i = 0; i < n + nq; i++) {
        float *x = i < n ? ds->base + i * d : ds->query + (i - n) * d;
        const float *c = centre + (i % clusters) * d;
        gauss_fill(&sp, x, d, sigma);
        for (size_t j = 0; j < d; j++)
            x[j] += c[j];
    }
    free(centre);
    ds->n = n;
    ds->nq = nq;
    ds->d = d;
    ds->metric = metric;
    return 0;
}

/* ---- the exact answer ---------------------------------------------- */

typedef struct truth_job {
    const vbench_data *ds;
    const float *base, *query; /* normalised for cosine */
    size_t q0, q1;
} truth_job;

/* Keeps id when it is among the K closest so far (dists ascending). */
static inline void keep_best(float *td, int64_t *ti, float dist, int64_t id)
{
    if (!(dist < td[K - 1])) return;
    size_t j = K - 1;
    for (; j > 0 && td[j - 1] > dist; j--) {
        td[j] = td[j - 1];
        ti[j] = ti[j - 1];
    }
    td[j] = dist;
    ti[j] = id;
}

static void *truth_worker(void *arg)
{
    truth_job *j = arg;
    const vbench_data *ds = j->ds;
    size_t d = ds->d, nq = j->q1 - j->q0;
    size_t blk = (1u << 20) / (d * sizeof(float));
    if (blk < 16) blk = 16;
    float *dist = xmalloc(blk * sizeof *dist);
    float *td = xmalloc(nq * K * sizeof *td);
    for (size_t i = 0; i < nq * K; i++)
        td[i] = INFINITY;
    int64_t *ti = ds->truth + j->q0 * K;
    for (size_t b0 = 0; b0 < ds->n; b0 += blk) {
        size_t nb = ds->n - b0 < blk ? ds->n - b0 : blk;
        for (size_t q = 0; q < nq; q++) {
            vec_distance_batch(ds->metric, j->query + (j->q0 + q) * d,
                               j->base + b0 * d, nb, d, dist);
            for (size_t i = 0; i < nb; i++)
                keep_best(td + q * K, ti + q * K, dist[i], (int64_t)(b0 + i));
        }
    }
    free(td);
    free(dist);
    return NULL;
}

/* A normalised copy of n x d floats. */
static float *normalised(const float *x, size_t n, size_t d)
{
    float *y = xmalloc(n * d * sizeof *y);
    memcpy(y, x, n * d * sizeof *y);
    for (size_t i = 0; i < n; i++)
        vec_normalize(y + i * d, d);
    return y;
}

void vbench_truth(vbench_data *ds, int threads)
{
    const float *base = ds->base, *query = ds->query;
    float *nbase = NULL, *nquery = NULL;
    if (ds->metric == VEC_COSINE) {
        base = nbase = normalised(ds->base, ds->n, ds->d);
        query = nquery = normalised(ds->query, ds->nq, ds->d);
    }
    free(ds->truth);
    ds->truth = xmalloc(ds->nq * K * sizeof *ds->truth);
    for (size_t i = 0; i < ds->nq * K; i++)
        ds->truth[i] = -1;
    size_t nt = threads < 1 ? 1 : (size_t)threads;
    if (nt > ds->nq) nt = ds->nq;
    truth_job *jobs = xcalloc(nt, sizeof *jobs);
    pthread_t *tid = xcalloc(nt, sizeof *tid);
    for (size_t t = 0; t < nt; t++) {
        jobs[t] = (truth_job){ds, base, query, ds->nq * t / nt,
                              ds->nq * (t + 1) / nt};
        if (t && pthread_create(&tid[t], NULL, truth_worker, &jobs[t]) != 0) {
            truth_worker(&jobs[t]); /* no thread: do its share here */
            tid[t] = 0;
        }
    }
    truth_worker(&jobs[0]);
    for (size_t t = 1; t < nt; t++)
        if (tid[t]) pthread_join(tid[t], NULL);
    free(tid);
    free(jobs);
    free(nbase);
    free(nquery);
}

/* ---- writing ------------------------------------------------------- */

int vbench_write_truth(const vbench_data *ds, const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f) return FS_EIO;
    int32_t dim = K, row[K];
    bool ok = true;
    for (size_t q = 0; q < ds->nq && ok; q++) {
        for (size_t j = 0; j < K; j++)
            row[j] = (int32_t)ds->truth[q * K + j];
        ok = fwrite(&dim, sizeof dim, 1, f) == 1 &&
             fwrite(row, sizeof *row, K, f) == K;
    }
    if (fclose(f) != 0) ok = false;
    return ok ? 0 : FS_EIO;
}

int vbench_write(const vbench_data *ds, const char *dir, char *why,
                 size_t whycap)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return fail(why, whycap, FS_EIO, "%s: %s", dir, strerror(errno));
    char *p = xasprintf("%s/base.fvecs", dir);
    int rc = fvecs_write(p, ds->base, ds->n, ds->d);
    if (!rc) {
        free(p);
        p = xasprintf("%s/queries.fvecs", dir);
        rc = fvecs_write(p, ds->query, ds->nq, ds->d);
    }
    if (!rc) {
        free(p);
        p = xasprintf("%s/truth.ivecs", dir);
        rc = vbench_write_truth(ds, p);
    }
    if (rc) fail(why, whycap, rc, "%s: cannot write (%s)", p, fs_strerror(rc));
    free(p);
    return rc;
}

/* ---- timing -------------------------------------------------------- */

/* One search of query q: OUT ids[0..*n). */
typedef int (*search_fn)(void *ctx, const float *q, int64_t *ids, size_t *n);

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Times one row by the protocol of vbench.h; fills recall, qps, p50/p99
 * and queries.  Errors: the search's. */
static int time_row(const vbench_data *ds, double seconds, search_fn fn,
                    void *ctx, vbench_row *r)
{
    size_t cap = 4096, i = 0;
    double *lat = xmalloc(cap * sizeof *lat), spent = 0, rsum = 0;
    double t0 = now_s();
    int rc = 0;
    for (;; i++) {
        double el = now_s() - t0;
        if ((i >= ds->nq && el >= seconds) || (i > 0 && el >= 5 * seconds))
            break;
        size_t q = i % ds->nq, n = 0;
        int64_t ids[K];
        double a = now_s();
        rc = fn(ctx, ds->query + q * ds->d, ids, &n);
        double b = now_s() - a;
        if (rc) break;
        if (i == cap) lat = xrealloc(lat, (cap *= 2) * sizeof *lat);
        lat[i] = b;
        spent += b;
        if (i >= ds->nq) continue;
        size_t hit = 0;
        for (size_t x = 0; x < n; x++)
            for (size_t y = 0; y < K; y++)
                if (ids[x] == ds->truth[q * K + y]) {
                    hit++;
                    break;
                }
        rsum += (double)hit / K;
    }
    if (!rc) {
        qsort(lat, i, sizeof *lat, cmp_double);
        r->queries = i < ds->nq ? i : ds->nq;
        r->recall = rsum / (double)r->queries;
        r->qps = spent > 0 ? (double)i / spent : 0;
        r->p50_us = lat[i / 2] * 1e6;
        r->p99_us = lat[i * 99 / 100] * 1e6;
    }
    free(lat);
    return rc;
}

typedef struct store_ctx {
    const vstore *s;
    const vbench_data *ds;
    int ef;
    hnsw *h;
} store_ctx;

static int search_exact(void *ctx, const float *q, int64_t *ids, size_t *n)
{
    store_ctx *c = ctx;
    vstore_hit h[K];
    int rc = vstore_search(c->s, q, c->ds->d, K, NULL, NULL, h, n);
    for (size_t i = 0; i < *n; i++)
        ids[i] = h[i].id;
    return rc;
}

/* The re-scoring floats, from the caller's array (the document store's
 * stand-in). */
static int fetch_base(int64_t id, float *out, void *ctx)
{
    const vbench_data *ds = ctx;
    memcpy(out, ds->base + (size_t)id * ds->d, ds->d * sizeof *out);
    return 0;
}

static int search_int8(void *ctx, const float *q, int64_t *ids, size_t *n)
{
    store_ctx *c = ctx;
    vstore_hit h[K];
    int rc = vstore_search_int8(c->s, q, c->ds->d, K, VSTORE_INT8_RESCORE, NULL,
                                NULL, fetch_base, (void *)c->ds, h, n);
    for (size_t i = 0; i < *n; i++)
        ids[i] = h[i].id;
    return rc;
}

static int search_hnsw(void *ctx, const float *q, int64_t *ids, size_t *n)
{
    store_ctx *c = ctx;
    return hnsw_search(c->h, q, c->ds->d, K, c->ef, NULL, NULL, ids, NULL, n);
}

/* ---- the rows ------------------------------------------------------ */

static void name_row(vbench_row *r, const char *index, int ef)
{
    memset(r, 0, sizeof *r);
    snprintf(r->index, sizeof r->index, "%s", index);
    r->ef = ef;
}

/* Builds a vstore of ds (floats, or int8 codes only) and times it. */
static int run_flat(const vbench_data *ds, const vbench_params *p, bool int8,
                    vbench_row *r, char *why, size_t whycap)
{
    name_row(r, int8 ? "exact-int8" : "exact", 0);
    vstore_config cfg = {
        .dims = ds->d, .metric = ds->metric, .no_floats = int8, .int8 = int8};
    vstore *s;
    int rc = vstore_open(&s, &cfg);
    if (rc) return fail(why, whycap, rc, "vstore: bad dimensions %zu", ds->d);
    progress(p, "%s: adding %zu vectors", r->index, ds->n);
    double t0 = now_s();
    vstore_reserve(s, ds->n);
    for (size_t i = 0; i < ds->n && !rc; i++) {
        rc = vstore_add(s, (int64_t)i, ds->base + i * ds->d, ds->d);
        if (rc)
            fail(why, whycap, rc, "base vector %zu refused: %s", i,
                 fs_strerror(rc));
    }
    r->build_s = now_s() - t0;
    if (!rc) {
        r->bytes_per_vector = (double)vstore_memory(s) / (double)ds->n;
        progress(p, "%s: searching (%s kernels)", r->index, vec_impl());
        store_ctx c = {.s = s, .ds = ds};
        rc = time_row(ds, p->seconds, int8 ? search_int8 : search_exact, &c, r);
        if (rc)
            fail(why, whycap, rc, "%s search: %s", r->index, fs_strerror(rc));
    }
    vstore_close(s);
    return rc;
}

/* Builds the HNSW graph once and times a row per ef_search. */
static int run_hnsw(const vbench_data *ds, const vbench_params *p,
                    vbench_row *rows, char *why, size_t whycap)
{
    hnsw_params hp = {.M = p->M, .ef_construction = p->ef_construction};
    hnsw *h;
    int rc = hnsw_open(&h, ds->d, ds->metric, &hp);
    if (rc)
        return fail(why, whycap, rc,
                    "hnsw: M %d or ef_construction %d out of "
                    "range",
                    p->M, p->ef_construction);
    int64_t *ids = xmalloc(ds->n * sizeof *ids);
    for (size_t i = 0; i < ds->n; i++)
        ids[i] = (int64_t)i;
    progress(p, "hnsw: building over %zu vectors (M=%d efC=%d, %d thread%s)",
             ds->n, p->M, p->ef_construction, p->threads,
             p->threads == 1 ? "" : "s");
    double t0 = now_s();
    hnsw_reserve(h, ds->n);
    rc = hnsw_add_batch(h, ids, ds->base, ds->d, ds->n, p->threads);
    double build = now_s() - t0;
    free(ids);
    if (rc) {
        hnsw_close(h);
        return fail(why, whycap, rc,
                    "hnsw build refused the base (%s: a NaN "
                    "or Inf, or an all-zero vector under cosine)",
                    fs_strerror(rc));
    }
    double bpv = (double)hnsw_memory_bytes(h) / (double)ds->n;
    for (size_t e = 0; e < p->nefs && !rc; e++) {
        vbench_row *r = &rows[e];
        name_row(r, "hnsw", p->efs[e]);
        r->build_s = build;
        r->bytes_per_vector = bpv;
        progress(p, "hnsw: searching at ef %d", r->ef);
        store_ctx c = {.ds = ds, .ef = r->ef, .h = h};
        rc = time_row(ds, p->seconds, search_hnsw, &c, r);
        if (rc) fail(why, whycap, rc, "hnsw search: %s", fs_strerror(rc));
    }
    hnsw_close(h);
    return rc;
}

int vbench_run(const vbench_data *ds, const vbench_params *p, vbench_row **rows,
               size_t *nrows, char *why, size_t whycap)
{
    *rows = NULL;
    *nrows = 0;
    if (!ds->truth || p->nefs == 0 || !(p->seconds > 0))
        return fail(why, whycap, FS_EINVAL, "no truth, ef or time to run");
    vbench_row *r = xcalloc(2 + p->nefs, sizeof *r);
    int rc = run_flat(ds, p, false, &r[0], why, whycap);
    if (!rc) rc = run_flat(ds, p, true, &r[1], why, whycap);
    if (!rc) rc = run_hnsw(ds, p, r + 2, why, whycap);
    if (rc) {
        free(r);
        return rc;
    }
    *rows = r;
    *nrows = 2 + p->nefs;
    return 0;
}

/* ---- JSON ---------------------------------------------------------- */

void vbench_row_json(FILE *out, const vbench_row *r)
{
    char ef[16] = "null", p50[32] = "null", p99[32] = "null";
    if (r->ef > 0) snprintf(ef, sizeof ef, "%d", r->ef);
    if (!isnan(r->p50_us)) snprintf(p50, sizeof p50, "%.2f", r->p50_us);
    if (!isnan(r->p99_us)) snprintf(p99, sizeof p99, "%.2f", r->p99_us);
    fprintf(out,
            "{\"index\":\"%s\",\"ef_search\":%s,\"recall_at_10\":%.4f,"
            "\"qps\":%.1f,\"p50_us\":%s,\"p99_us\":%s,\"build_s\":%.3f,"
            "\"bytes_per_vector\":%.1f}",
            r->index, ef, r->recall, r->qps, p50, p99, r->build_s,
            r->bytes_per_vector);
}

/* A number member (integer or real); null gives NaN when nullable. */
static bool num(const json_t *obj, const char *key, bool nullable, double *out)
{
    const json_t *v = json_object_get(obj, key);
    if (nullable && json_is_null(v)) {
        *out = NAN;
        return true;
    }
    if (!json_is_number(v)) return false;
    *out = json_number_value(v);
    return true;
}

bool vbench_row_parse(const json_t *obj, vbench_row *r)
{
    const char *index = json_string_value(json_object_get(obj, "index"));
    const json_t *ef = json_object_get(obj, "ef_search");
    if (!index || !(json_is_null(ef) || json_is_integer(ef))) return false;
    name_row(r, index, json_is_integer(ef) ? (int)json_integer_value(ef) : 0);
    double q = 0;
    bool ok = num(obj, "recall_at_10", false, &r->recall) &&
              num(obj, "qps", false, &r->qps) &&
              num(obj, "p50_us", true, &r->p50_us) &&
              num(obj, "p99_us", true, &r->p99_us) &&
              num(obj, "build_s", false, &r->build_s) &&
              num(obj, "bytes_per_vector", false, &r->bytes_per_vector);
    if (ok && num(obj, "queries", false, &q)) r->queries = (size_t)q;
    return ok;
}
