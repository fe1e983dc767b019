/*
 * cli_bench.c - `flowstate bench vectors`: our vector indexes on any
 * fvecs/ivecs set, or on clustered synthetic vectors, with FAISS beside
 * them when its driver is built (see cli.h for the command family).
 *
 * Design: unlike the other client commands this one talks to no server;
 * it runs src/bench/vbench.h in this process.  Steps:
 *   1. the data: --base/--queries[/--truth] files (vbench_load) or
 *      --synthetic NxD (vbench_synthetic);
 *   2. the truth: the file's when it is L2 and the metric is l2, else an
 *      exact scan (vbench_truth);
 *   3. --write-synthetic DIR: the set as DIR/{base,queries}.fvecs and
 *      DIR/truth.ivecs;
 *   4. our rows (vbench_run), one thread per search;
 *   5. FAISS: bench/faiss_bench beside this binary (what `make bench`
 *      builds: build/rel/flowstate and build/rel/bench/faiss_bench) or
 *      --faiss PATH, run as a child process after our rows (so the two
 *      never share the CPU) on the very same files (synthetic sets and a
 *      computed truth are written to a temporary folder first, removed
 *      after); its JSON lines are parsed back into rows;
 *   6. output: two tables, our rows with the FAISS row of closest recall
 *      and the q/s ratio, then the targets of issue 3, each met or missed;
 *      or with --json {"rows":[...]} (plus "faiss_rows" when FAISS ran).
 *
 * Exit codes (cli.h): 0 ok; 1 a file is missing, unreadable, malformed or
 * does not fit the others, a vector is refused, or faiss_bench failed;
 * 2 usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/vbench.h"
#include "cli/cli.h"
#include "cli/cliopt.h"
#include "cli/table.h"
#include "core/xmem.h"

#define MAX_EFS 32

/* What the command line asked for, after checking. */
typedef struct bench_opts {
    const char *base, *queries, *truth;
    const char *write_dir, *faiss;
    bool synthetic, no_faiss, json;
    size_t n, d, nq, clusters;
    uint64_t seed;
    double sigma;
    vec_metric metric;
    int efs[MAX_EFS];
    vbench_params p;
} bench_opts;

static const char vectors_help[] =
    "Measure the vector indexes on one data set and print a table: build\n"
    "seconds, bytes per vector, recall@10, queries/s, p50/p99 latency.\n"
    "Every search runs on one thread, one query at a time.  Rows:\n"
    "  exact        exact scan (float32, AVX2+FMA when the CPU has it)\n"
    "  exact-int8   the flat int8 scan over codes only, re-scoring 4 x 10\n"
    "               candidates exactly (floats fetched as from the store)\n"
    "  hnsw         the HNSW graph, one row per --ef value\n"
    "When bench/faiss_bench sits beside this binary (`make bench` builds\n"
    "it) or --faiss names it, FAISS (IndexFlat, IndexHNSWFlat with the same\n"
    "M and ef_construction) runs on the same files after ours, and each of\n"
    "our rows is compared with the FAISS row of closest recall.\n"
    "\n"
    "data, one of:\n"
    "  --base B.fvecs --queries Q.fvecs [--truth T.ivecs]\n"
    "                     a texmex set; the truth file is taken as L2\n"
    "                     (nearest first); without it, or under ip or\n"
    "                     cosine, the truth is computed by exact scan\n"
    "  --synthetic NxD    N clustered Gaussian vectors of D dimensions,\n"
    "                     truth by exact scan; with --clusters C (100),\n"
    "                     --queries Q (1000, drawn from the same clusters),\n"
    "                     --seed S (1), --sigma X (1.0, noise around each\n"
    "                     N(0,1) centre)\n"
    "  --write-synthetic DIR  also write the set as DIR/base.fvecs,\n"
    "                     DIR/queries.fvecs and DIR/truth.ivecs\n"
    "\n"
    "options:\n"
    "  --metric M         l2, ip or cosine (default l2 for files, cosine\n"
    "                     for --synthetic)\n"
    "  --m M              HNSW links per node (16)\n"
    "  --ef-construction N  HNSW build beam (200)\n"
    "  --ef LIST          ef_search values, comma separated (16,32,64,128)\n"
    "  --threads N        threads for the HNSW builds (ours and FAISS's)\n"
    "                     and the exact truth (1); searches use one\n"
    "  --seconds S        time per row (1): every query once and S seconds,\n"
    "                     at most 5 x S\n"
    "  --faiss PATH       the FAISS driver to run; --no-faiss: none\n"
    "  --json             "
    "{\"rows\":[{\"index\",\"ef_search\",\"recall_at_10\",\n"
    "                     \"qps\",\"p50_us\",\"p99_us\",\"build_s\",\n"
    "                     \"bytes_per_vector\"}]}, plus \"faiss_rows\" in the\n"
    "                     same form when FAISS ran\n"
    "  -h, --help         show this help\n"
    "\n"
    "exit codes: 0 ok, 1 a file is missing or bad (or faiss_bench failed),\n"
    "            2 usage error\n";

/* ---- options ------------------------------------------------------- */

/* "16,32,64": each 1..100000.  false when malformed. */
static bool parse_efs(const char *s, int *efs, size_t *n)
{
    *n = 0;
    while (*s) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || end == s || v < 1 || v > 100000 || *n == MAX_EFS ||
            (*end && *end != ','))
            return false;
        efs[(*n)++] = (int)v;
        s = *end ? end + 1 : end;
        if (*end == ',' && !*s) return false;
    }
    return *n > 0;
}

/* "100000x1536". */
static bool parse_shape(const char *s, size_t *n, size_t *d)
{
    int64_t a, b;
    const char *x = strchr(s, 'x');
    if (!x || x == s) return false;
    char left[32];
    if ((size_t)(x - s) >= sizeof left) return false;
    memcpy(left, s, (size_t)(x - s));
    left[x - s] = '\0';
    if (!cliopt_int(left, VBENCH_K, 100000000, &a) ||
        !cliopt_int(x + 1, 1, 65536, &b) || a * b > (int64_t)1 << 32)
        return false;
    *n = (size_t)a;
    *d = (size_t)b;
    return true;
}

static bool parse_real(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : NAN;
    if (!s || errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return true;
    return false;
}

/*
 * Parses and checks the command line into *o.  Returns true to go on;
 * false with OUT: *code (0 after --help, CLI_EXIT_USAGE after a message).
 */
static bool parse_opts(const cliopt_ctx *ctx, int argc, char **argv,
                       bench_opts *o, int *code)
{
    if (wants_help(argc, argv)) {
        printf("usage: flowstate bench vectors %s\n\n%s", ctx->cmd->synopsis,
               vectors_help);
        *code = CLI_EXIT_OK;
        return false;
    }
    const char *synthetic = NULL, *metric = NULL, *efs = NULL;
    const char *seconds = NULL, *sigma = NULL;
    cliopt_num m = {0}, efc = {0}, threads = {0}, clusters = {0}, seed = {0};
    const cliopt opts[] = {
        {"base", CLIOPT_STR, &o->base},
        {"queries", CLIOPT_STR, &o->queries},
        {"truth", CLIOPT_STR, &o->truth},
        {"synthetic", CLIOPT_STR, &synthetic},
        {"clusters", CLIOPT_INT, &clusters, 1, 1000000},
        {"seed", CLIOPT_INT, &seed, 0, INT64_MAX},
        {"sigma", CLIOPT_STR, &sigma},
        {"write-synthetic", CLIOPT_STR, &o->write_dir},
        {"metric", CLIOPT_STR, &metric},
        {"m", CLIOPT_INT, &m, 2, 255},
        {"ef-construction", CLIOPT_INT, &efc, 1, 100000},
        {"ef", CLIOPT_STR, &efs},
        {"threads", CLIOPT_INT, &threads, 1, 256},
        {"seconds", CLIOPT_STR, &seconds},
        {"faiss", CLIOPT_STR, &o->faiss},
        {"no-faiss", CLIOPT_FLAG, &o->no_faiss},
        {NULL},
    };
    cliopt_common common = {0};
    if (!cliopt_parse(ctx, opts, argc, argv, &common, NULL, code)) return false;
    o->json = common.json;
    *code = CLI_EXIT_USAGE;

    o->synthetic = synthetic != NULL;
    if (o->synthetic) {
        if (o->base || o->truth) {
            cliopt_fail(ctx, "--synthetic and --base/--truth exclude "
                             "each other");
            return false;
        }
        if (!parse_shape(synthetic, &o->n, &o->d)) {
            cliopt_fail(ctx,
                        "--synthetic: '%s' is not NxD (N 10.., D "
                        "1..65536, N*D up to 2^32)",
                        synthetic);
            return false;
        }
        int64_t nq = 1000;
        if (o->queries && !cliopt_int(o->queries, 1, 1000000, &nq)) {
            cliopt_fail(ctx,
                        "--queries: '%s' is not a number of "
                        "queries from 1 to 1000000 (with "
                        "--synthetic)",
                        o->queries);
            return false;
        }
        o->nq = (size_t)nq;
        o->clusters = clusters.set ? (size_t)clusters.v : 100;
        o->seed = seed.set ? (uint64_t)seed.v : 1;
        o->sigma = 1.0;
        if (sigma && !parse_real(sigma, 1e-6, 1e6, &o->sigma)) {
            cliopt_fail(ctx,
                        "--sigma: '%s' is not a number from "
                        "0.000001 to 1000000",
                        sigma);
            return false;
        }
    } else {
        if (!o->base || !o->queries) {
            cliopt_fail(ctx, "give --base and --queries (fvecs "
                             "files), or --synthetic NxD");
            return false;
        }
        if (clusters.set || seed.set || sigma || o->write_dir) {
            cliopt_fail(ctx, "--clusters, --seed, --sigma and "
                             "--write-synthetic go with --synthetic");
            return false;
        }
    }
    o->metric = o->synthetic ? VEC_COSINE : VEC_L2;
    if (metric && !vec_metric_parse(metric, &o->metric)) {
        cliopt_fail(ctx, "--metric: '%s' is not l2, ip or cosine", metric);
        return false;
    }
    if (!parse_efs(efs ? efs : "16,32,64,128", o->efs, &o->p.nefs)) {
        cliopt_fail(ctx,
                    "--ef: '%s' is not a comma-separated list of "
                    "up to %d numbers from 1 to 100000",
                    efs, MAX_EFS);
        return false;
    }
    o->p.seconds = 1.0;
    if (seconds && !parse_real(seconds, 0.001, 3600, &o->p.seconds)) {
        cliopt_fail(ctx,
                    "--seconds: '%s' is not a number from 0.001 "
                    "to 3600",
                    seconds);
        return false;
    }
    if (o->faiss && o->no_faiss) {
        cliopt_fail(ctx, "--faiss and --no-faiss exclude each other");
        return false;
    }
    o->p.M = m.set ? (int)m.v : 16;
    o->p.ef_construction = efc.set ? (int)efc.v : 200;
    o->p.threads = threads.set ? (int)threads.v : 1;
    o->p.efs = o->efs;
    o->p.progress = stderr;
    *code = CLI_EXIT_OK;
    return true;
}

/* ---- FAISS --------------------------------------------------------- */

/* The FAISS driver to run, or NULL: --faiss, else bench/faiss_bench in the
 * folder of this executable.  Caller frees. */
static char *find_faiss(const bench_opts *o)
{
    if (o->no_faiss) return NULL;
    if (o->faiss) return xstrdup(o->faiss);
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return NULL;
    self[len] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash) return NULL;
    *slash = '\0';
    char *p = xasprintf("%s/bench/faiss_bench", self);
    if (access(p, X_OK) == 0) return p;
    free(p);
    return NULL;
}

/* Files handed to faiss_bench, and what to remove afterwards. */
typedef struct faiss_files {
    char *base, *queries, *truth;
    char *tmpdir;   /* created here; removed with its files */
    bool tmp_truth; /* truth written into tmpdir */
    bool tmp_set;   /* base and queries written into tmpdir */
} faiss_files;

static void files_cleanup(faiss_files *f)
{
    if (f->tmp_set) {
        unlink(f->base);
        unlink(f->queries);
    }
    if (f->tmp_truth || f->tmp_set) unlink(f->truth);
    if (f->tmpdir) rmdir(f->tmpdir);
    free(f->base);
    free(f->queries);
    free(f->truth);
    free(f->tmpdir);
    memset(f, 0, sizeof *f);
}

static bool make_tmpdir(faiss_files *f)
{
    if (f->tmpdir) return true;
    const char *t = getenv("TMPDIR");
    f->tmpdir = xasprintf("%s/fs-vbench-XXXXXX", t && *t ? t : "/tmp");
    if (mkdtemp(f->tmpdir)) return true;
    free(f->tmpdir);
    f->tmpdir = NULL;
    return false;
}

/*
 * Finds or writes the files FAISS reads: the user's own when they hold
 * what we measured, else copies in a temporary folder.  false (message
 * printed) when writing fails.
 */
static bool faiss_prepare(const bench_opts *o, const vbench_data *ds,
                          bool truth_from_file, faiss_files *f)
{
    char why[VBENCH_ERRLEN];
    if (o->synthetic && o->write_dir) {
        f->base = xasprintf("%s/base.fvecs", o->write_dir);
        f->queries = xasprintf("%s/queries.fvecs", o->write_dir);
        f->truth = xasprintf("%s/truth.ivecs", o->write_dir);
        return true;
    }
    if (o->synthetic) {
        if (!make_tmpdir(f)) goto io;
        if (vbench_write(ds, f->tmpdir, why, sizeof why) != 0) {
            fprintf(stderr, "flowstate bench vectors: %s\n", why);
            return false;
        }
        f->tmp_set = true;
        f->base = xasprintf("%s/base.fvecs", f->tmpdir);
        f->queries = xasprintf("%s/queries.fvecs", f->tmpdir);
        f->truth = xasprintf("%s/truth.ivecs", f->tmpdir);
        return true;
    }
    f->base = xstrdup(o->base);
    f->queries = xstrdup(o->queries);
    if (truth_from_file) {
        f->truth = xstrdup(o->truth);
        return true;
    }
    if (!make_tmpdir(f)) goto io;
    f->truth = xasprintf("%s/truth.ivecs", f->tmpdir);
    f->tmp_truth = true;
    if (vbench_write_truth(ds, f->truth) == 0) return true;
io:
    fprintf(stderr,
            "flowstate bench vectors: cannot write FAISS's input "
            "files in $TMPDIR: %s\n",
            strerror(errno));
    return false;
}

/* Runs argv[0] with stdout into *out (caller frees).  Returns its exit
 * status, or -1 when it could not run or died of a signal. */
static int run_child(char *const *argv, char **out)
{
    int fd[2];
    *out = NULL;
    if (pipe(fd) != 0) return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        setenv("OPENBLAS_NUM_THREADS", "1", 1);
        execv(argv[0], argv);
        fprintf(stderr, "flowstate bench vectors: cannot run %s: %s\n", argv[0],
                strerror(errno));
        _exit(127);
    }
    close(fd[1]);
    size_t len = 0, cap = 4096;
    char *buf = xmalloc(cap);
    for (;;) {
        if (len + 1 == cap) buf = xrealloc(buf, cap *= 2);
        ssize_t got = read(fd[0], buf + len, cap - len - 1);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        len += (size_t)got;
    }
    buf[len] = '\0';
    close(fd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The rows in faiss_bench's JSON lines.  OUT: *rows (caller frees), *n,
 * version (the "faiss_version" line's, or "?"). */
static void parse_faiss(const char *text, vbench_row **rows, size_t *n,
                        char *version, size_t vlen)
{
    *rows = NULL;
    *n = 0;
    snprintf(version, vlen, "?");
    size_t cap = 0;
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        json_t *v = json_loadb(line, len, 0, NULL);
        line += len + (nl ? 1 : 0);
        if (!v) continue;
        const char *ver =
            json_string_value(json_object_get(v, "faiss_version"));
        if (ver) snprintf(version, vlen, "%s", ver);
        vbench_row r;
        if (vbench_row_parse(v, &r)) {
            if (*n == cap)
                *rows = xrealloc(*rows, (cap = cap ? 2 * cap : 8) * sizeof r);
            (*rows)[(*n)++] = r;
        }
        json_decref(v);
    }
}

/* Runs faiss_bench on f.  Returns 0, or CLI_EXIT_REJECTED (message
 * printed). */
static int faiss_run(const bench_opts *o, const char *bin, const faiss_files *f,
                     vbench_row **rows, size_t *n, char *version, size_t vlen)
{
    char m[16], efc[16], th[16], secs[32], efs[MAX_EFS * 8] = "";
    snprintf(m, sizeof m, "%d", o->p.M);
    snprintf(efc, sizeof efc, "%d", o->p.ef_construction);
    snprintf(th, sizeof th, "%d", o->p.threads);
    snprintf(secs, sizeof secs, "%g", o->p.seconds);
    for (size_t i = 0; i < o->p.nefs; i++)
        snprintf(efs + strlen(efs), sizeof efs - strlen(efs), "%s%d",
                 i ? "," : "", o->efs[i]);
    char *const argv[] = {
        (char *)bin, "--base",   f->base,
        "--queries", f->queries, "--truth",
        f->truth,    "--metric", (char *)vec_metric_name(o->metric),
        "--m",       m,          "--ef-construction",
        efc,         "--ef",     efs,
        "--threads", th,         "--seconds",
        secs,        "--json",   NULL,
    };
    fprintf(stderr, "bench: FAISS: running %s\n", bin);
    char *out;
    int st = run_child(argv, &out);
    if (st != 0) {
        fprintf(stderr, "flowstate bench vectors: %s failed (%s %d)\n", bin,
                st < 0 ? "signal or exec error" : "exit", st);
        free(out);
        return CLI_EXIT_REJECTED;
    }
    parse_faiss(out, rows, n, version, vlen);
    free(out);
    if (*n == 0) {
        fprintf(stderr, "flowstate bench vectors: %s printed no rows\n", bin);
        return CLI_EXIT_REJECTED;
    }
    return CLI_EXIT_OK;
}

/* ---- output -------------------------------------------------------- */

static bool is_hnsw(const vbench_row *r)
{
    return !strcmp(r->index, "hnsw");
}

/* The FAISS row ours compares with: flat for the flat rows; for hnsw,
 * the hnsw row of closest recall (ties: the faster).  NULL when none. */
static const vbench_row *counterpart(const vbench_row *ours,
                                     const vbench_row *f, size_t nf)
{
    const vbench_row *best = NULL;
    for (size_t i = 0; i < nf; i++) {
        if (!is_hnsw(ours)) {
            if (!strcmp(f[i].index, "flat")) return &f[i];
            continue;
        }
        if (!is_hnsw(&f[i])) continue;
        double d = fabs(f[i].recall - ours->recall);
        double bd = best ? fabs(best->recall - ours->recall) : INFINITY;
        if (d < bd - 1e-9 || (fabs(d - bd) <= 1e-9 && f[i].qps > best->qps))
            best = &f[i];
    }
    return best;
}

static void cell(char *buf, size_t len, const char *fmt, double v)
{
    if (isnan(v))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, fmt, v);
}

/* Prints rows as a table; with faiss, two more columns: the counterpart
 * and ours / FAISS q/s. */
static void print_table(const vbench_row *rows, size_t n, const vbench_row *f,
                        size_t nf)
{
    const char *head[] = {
        "INDEX",         "EF",        "RECALL@10",
        "QPS",           "P50 US",    "P99 US",
        "BUILD S",       "BYTES/VEC", "FAISS ROW (CLOSEST RECALL)",
        "QPS OURS/FAISS"};
    size_t ncols = f ? 10 : 8;
    table *t = table_new(ncols, head);
    for (size_t c = 1; c < ncols; c++)
        if (c != 8) table_set_align(t, c, TABLE_RIGHT);
    for (size_t i = 0; i < n; i++) {
        const vbench_row *r = &rows[i];
        char c[10][64];
        snprintf(c[0], 64, "%s", r->index);
        cell(c[1], 64, "%.0f", r->ef > 0 ? r->ef : NAN);
        cell(c[2], 64, "%.4f", r->recall);
        cell(c[3], 64, "%.0f", r->qps);
        cell(c[4], 64, "%.1f", r->p50_us);
        cell(c[5], 64, "%.1f", r->p99_us);
        cell(c[6], 64, "%.3f", r->build_s);
        cell(c[7], 64, "%.0f", r->bytes_per_vector);
        const vbench_row *cp = f ? counterpart(r, f, nf) : NULL;
        snprintf(c[8], 64, "-");
        snprintf(c[9], 64, "-");
        if (cp && cp->ef)
            snprintf(c[8], 64, "%s ef %d (%.4f)", cp->index, cp->ef,
                     cp->recall);
        else if (cp)
            snprintf(c[8], 64, "%s (%.4f)", cp->index, cp->recall);
        if (cp && cp->qps > 0) snprintf(c[9], 64, "%.2fx", r->qps / cp->qps);
        const char *cells[10];
        for (size_t k = 0; k < ncols; k++)
            cells[k] = c[k];
        table_add(t, cells);
    }
    table_print(t, stdout, table_style_for(stdout));
    table_free(t);
}

static const vbench_row *find_row(const vbench_row *r, size_t n,
                                  const char *index)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(r[i].index, index)) return &r[i];
    return NULL;
}

/* The fastest hnsw row reaching recall >= at_least, or NULL. */
static const vbench_row *fastest_at(const vbench_row *r, size_t n,
                                    double at_least)
{
    const vbench_row *best = NULL;
    for (size_t i = 0; i < n; i++)
        if (is_hnsw(&r[i]) && r[i].recall >= at_least &&
            (!best || r[i].qps > best->qps))
            best = &r[i];
    return best;
}

static const char *verdict(bool met)
{
    return met ? "met" : "MISSED";
}

/* The four targets of issue 3, each met or missed, with its numbers. */
static void print_targets(const vbench_row *o, size_t no, const vbench_row *f,
                          size_t nf)
{
    const vbench_row *ex = find_row(o, no, "exact");
    const vbench_row *q8 = find_row(o, no, "exact-int8");
    const vbench_row *ff = f ? find_row(f, nf, "flat") : NULL;
    printf("\ntargets (issue 3):\n");
    if (ex && ff)
        printf("  exact scan q/s >= FAISS flat q/s (one query per call): %s, "
               "%.0f vs %.0f (%.2fx)\n",
               verdict(ex->qps >= ff->qps), ex->qps, ff->qps,
               ex->qps / ff->qps);
    const vbench_row *fh = f ? fastest_at(f, nf, 0.95) : NULL;
    if (f && !fh)
        printf("  HNSW q/s at recall@10 >= 0.95: not judged, FAISS reached "
               "no recall >= 0.95 at these ef values\n");
    if (fh) {
        const vbench_row *oh = fastest_at(o, no, fh->recall);
        if (oh)
            printf("  HNSW q/s at FAISS's recall (its fastest row >= 0.95: "
                   "ef %d, %.4f): %s, ours ef %d (%.4f) %.0f q/s vs %.0f "
                   "(%.2fx)\n",
                   fh->ef, fh->recall, verdict(oh->qps >= fh->qps), oh->ef,
                   oh->recall, oh->qps, fh->qps, oh->qps / fh->qps);
        else
            printf("  HNSW q/s at FAISS's recall (ef %d, %.4f): MISSED, ours "
                   "never reaches that recall at these ef values\n",
                   fh->ef, fh->recall);
    }
    const vbench_row *oh = find_row(o, no, "hnsw");
    const vbench_row *fhb = f ? find_row(f, nf, "hnsw") : NULL;
    if (oh && fhb)
        printf("  HNSW build time <= FAISS's: %s, %.2f s vs %.2f s (%.2fx)\n",
               verdict(oh->build_s <= fhb->build_s), oh->build_s, fhb->build_s,
               oh->build_s / fhb->build_s);
    if (q8 && ex) {
        double ratio = q8->bytes_per_vector / ex->bytes_per_vector;
        printf("  int8 memory <= 1/3 of float at recall@10 >= 0.95: %s, %.0f "
               "vs %.0f bytes/vector (%.2f",
               verdict(ratio <= 1.0 / 3 && q8->recall >= 0.95),
               q8->bytes_per_vector, ex->bytes_per_vector, ratio);
        if (ff)
            printf("; %.2f of FAISS flat's %.0f",
                   q8->bytes_per_vector / ff->bytes_per_vector,
                   ff->bytes_per_vector);
        printf("), recall %.4f\n", q8->recall);
    }
    if (!f) printf("  (the FAISS comparisons need faiss_bench)\n");
}

static void print_json(const vbench_row *o, size_t no, const vbench_row *f,
                       size_t nf)
{
    printf("{\"rows\":[");
    for (size_t i = 0; i < no; i++) {
        printf(i ? ",\n" : "\n");
        vbench_row_json(stdout, &o[i]);
    }
    printf("]");
    if (f) {
        printf(",\n\"faiss_rows\":[");
        for (size_t i = 0; i < nf; i++) {
            printf(i ? ",\n" : "\n");
            vbench_row_json(stdout, &f[i]);
        }
        printf("]");
    }
    printf("}\n");
}

static void print_header(const bench_opts *o, const vbench_data *ds,
                         bool truth_from_file)
{
    if (o->synthetic)
        printf("data: synthetic %zu x %zu, %zu clusters, sigma %g, seed "
               "%llu, %zu queries, %s\n",
               ds->n, ds->d, o->clusters, o->sigma, (unsigned long long)o->seed,
               ds->nq, vec_metric_name(ds->metric));
    else
        printf("data: %s, %zu x %zu, %zu queries (%s), %s\n", o->base, ds->n,
               ds->d, ds->nq, o->queries, vec_metric_name(ds->metric));
    printf("truth: %s; k = %d; HNSW M=%d efC=%d, build threads %d; search "
           "one thread, one query per call; kernels %s\n\n",
           truth_from_file ? o->truth : "exact scan", VBENCH_K, o->p.M,
           o->p.ef_construction, o->p.threads, vec_impl());
}

/* ---- the command --------------------------------------------------- */

/* Steps 1-3 of the top: data, truth, --write-synthetic.  Returns 0 or
 * CLI_EXIT_REJECTED (message printed). */
static int get_data(const bench_opts *o, vbench_data *ds, bool *from_file)
{
    char why[VBENCH_ERRLEN];
    int rc;
    if (o->synthetic) {
        fprintf(stderr, "bench: generating %zu x %zu synthetic vectors\n",
                o->n + o->nq, o->d);
        rc = vbench_synthetic(ds, o->n, o->d, o->nq, o->clusters, o->sigma,
                              o->seed, o->metric);
        if (rc) snprintf(why, sizeof why, "cannot generate that set");
    } else {
        rc = vbench_load(ds, o->base, o->queries, o->truth, o->metric, why,
                         sizeof why);
    }
    if (rc) {
        fprintf(stderr, "flowstate bench vectors: %s\n", why);
        return CLI_EXIT_REJECTED;
    }
    *from_file = ds->truth != NULL;
    if (o->truth && !*from_file)
        fprintf(stderr,
                "bench: %s is taken as L2; under %s the truth is "
                "computed by exact scan\n",
                o->truth, vec_metric_name(o->metric));
    if (!ds->truth) {
        fprintf(stderr, "bench: exact truth for %zu queries (%d thread%s)\n",
                ds->nq, o->p.threads, o->p.threads == 1 ? "" : "s");
        vbench_truth(ds, o->p.threads);
    }
    if (o->write_dir && vbench_write(ds, o->write_dir, why, sizeof why)) {
        fprintf(stderr, "flowstate bench vectors: %s\n", why);
        return CLI_EXIT_REJECTED;
    }
    return CLI_EXIT_OK;
}

static int bench_vectors(const cliopt_ctx *ctx, int argc, char **argv)
{
    bench_opts o = {0};
    int code;
    if (!parse_opts(ctx, argc, argv, &o, &code)) return code;
    char *faiss = find_faiss(&o);
    if (o.faiss && access(o.faiss, X_OK) != 0) {
        fprintf(stderr, "flowstate bench vectors: --faiss %s: %s\n", o.faiss,
                strerror(errno));
        free(faiss);
        return CLI_EXIT_REJECTED;
    }
    vbench_data ds;
    bool from_file = false;
    vbench_row *rows = NULL, *frows = NULL;
    size_t n = 0, nf = 0;
    char why[VBENCH_ERRLEN], version[32] = "?";
    faiss_files files = {0};
    code = get_data(&o, &ds, &from_file);
    if (code) goto out;
    if (vbench_run(&ds, &o.p, &rows, &n, why, sizeof why) != 0) {
        fprintf(stderr, "flowstate bench vectors: %s\n", why);
        code = CLI_EXIT_REJECTED;
        goto free_data;
    }
    if (faiss) {
        code = faiss_prepare(&o, &ds, from_file, &files)
                   ? faiss_run(&o, faiss, &files, &frows, &nf, version,
                               sizeof version)
                   : CLI_EXIT_REJECTED;
        files_cleanup(&files);
    }
    if (o.json) {
        print_json(rows, n, frows, nf);
    } else {
        print_header(&o, &ds, from_file);
        printf("flowstate\n");
        print_table(rows, n, frows, nf);
        if (frows) {
            printf("\nFAISS %s (Debian libfaiss via %s; flat-batch: every "
                   "query in one call through BLAS, for reference)\n",
                   version, faiss);
            print_table(frows, nf, NULL, 0);
        } else {
            printf("\nFAISS: not run (%s)\n",
                   o.no_faiss ? "--no-faiss"
                              : "no bench/faiss_bench beside this binary; "
                                "`make bench` builds it, or give --faiss");
        }
        print_targets(rows, n, frows, nf);
    }
free_data:
    vbench_data_free(&ds);
out:
    free(rows);
    free(frows);
    free(faiss);
    return code;
}

static const cliopt_cmd bench_cmds[] = {
    {.name = "vectors",
     .run = bench_vectors,
     .synopsis = "(--base B.fvecs --queries Q.fvecs [--truth T.ivecs] | "
                 "--synthetic NxD [--queries N]) [--metric l2|ip|cosine] "
                 "[--m 16] [--ef-construction 200] [--ef 16,32,64,128] "
                 "[--threads N] [--json]",
     .help = vectors_help},
};

int cli_bench_main(int argc, char **argv)
{
    return cliopt_dispatch(
        "bench", "Benchmarks run in this process (no server).", bench_cmds,
        sizeof bench_cmds / sizeof *bench_cmds, argc, argv);
}
