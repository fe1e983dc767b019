/*
 * faiss_bench.cpp - the FAISS anchor of `flowstate bench vectors`: the same
 * rows as ours, from Debian's libfaiss (1.7.3), on the same fvecs/ivecs files.
 *
 * Rows (k = 10):
 *   flat        IndexFlatL2 / IndexFlatIP, one query per search() call;
 *   flat-batch  the same index, every query in one search() call (FAISS
 *               then goes through BLAS sgemm from 20 queries up): how FAISS
 *               is usually driven, shown for reference; latencies are not
 *               per query, so p50/p99 are null;
 *   hnsw        IndexHNSWFlat (same M, efConstruction), one row per
 *               ef_search, one query per search() call.
 * For cosine the base and the queries are L2-normalised and the index is
 * the inner-product one (what FAISS recommends).
 *
 * Measurement protocol, the same as flowstate's (src/bench/vbench.h): the
 * build runs with --threads OpenMP threads; every search runs on one
 * thread (omp_set_num_threads(1), and OpenBLAS told one thread), one query
 * per call, the queries in order and round robin, each call timed alone;
 * a row stops once every query ran once and --seconds passed, or at
 * 5 x --seconds.  qps = calls / summed call time; recall@10 =
 * |found ∩ truth[:10]| / 10 averaged over the queries that ran (first
 * pass); bytes_per_vector = the index's vectors (and links) / n.
 * Without --truth the exact answer of the flat index is the truth.
 *
 * Output: a table, or with --json one JSON object per line: first
 * {"faiss_version":"1.7.3","kernels":...}, then a row per index in the
 * format of `flowstate bench vectors --json`.
 *
 * usage: faiss_bench --base B.fvecs --queries Q.fvecs [--truth T.ivecs]
 *          [--metric l2|ip|cosine] [--m 16] [--ef-construction 200]
 *          [--ef 16,32,64,128] [--threads 1] [--seconds 1] [--json]
 * exit: 0 ok, 1 a file is missing or bad, 2 usage.
 */
#include <dlfcn.h>
#include <omp.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <faiss/Index.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/utils/distances.h>

namespace
{

constexpr int K = 10;

double now_s()
{
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

[[noreturn]] __attribute__((format(printf, 2, 3))) void
die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    std::fprintf(stderr, "faiss_bench: ");
    std::vfprintf(stderr, fmt, ap);
    std::fputc('\n', stderr);
    va_end(ap);
    std::exit(code);
}

/* Reads a whole .fvecs / .ivecs file (T is float or int32_t): every record
 * an int32 d then d values, all records the same d.  Exits 1 when bad. */
template <typename T>
std::vector<T> read_vecs(const char *path, size_t *n, size_t *d)
{
    FILE *f = std::fopen(path, "rb");
    if (!f) die(1, "%s: %s", path, std::strerror(errno));
    std::fseek(f, 0, SEEK_END);
    long size = std::ftell(f);
    std::rewind(f);
    int32_t d0 = 0;
    if (size <= 0 || std::fread(&d0, 4, 1, f) != 1 || d0 < 1 || d0 > 65536)
        die(1, "%s: empty, or not an fvecs/ivecs file", path);
    size_t rec = 4 + 4 * (size_t)d0;
    if ((size_t)size % rec) die(1, "%s: %s", path, "truncated");
    *n = (size_t)size / rec;
    *d = (size_t)d0;
    std::vector<T> out(*n * *d);
    std::rewind(f);
    for (size_t i = 0; i < *n; i++) {
        int32_t di;
        if (std::fread(&di, 4, 1, f) != 1 || di != d0 ||
            std::fread(&out[i * *d], 4, *d, f) != *d)
            die(1, "%s: %s", path, "inconsistent record");
    }
    std::fclose(f);
    return out;
}

struct Row {
    std::string index;
    int ef = 0; /* 0: not an HNSW row (null in JSON) */
    double recall = 0, qps = 0, p50_us = NAN, p99_us = NAN;
    double build_s = 0, bytes_per_vector = 0;
    size_t queries = 0;
};

struct Data {
    std::vector<float> base, query;
    std::vector<int64_t> truth; /* nq x K */
    size_t n = 0, nq = 0, d = 0;
};

double recall_of(const faiss::Index::idx_t *got, const int64_t *truth)
{
    int hit = 0;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++)
            if (got[i] == truth[j]) {
                hit++;
                break;
            }
    return hit / (double)K;
}

/* One query at a time, one thread (see the top). */
void time_queries(const faiss::Index &index, const Data &ds, double seconds,
                  Row *r)
{
    std::vector<double> lat;
    float dist[K];
    faiss::Index::idx_t got[K];
    double spent = 0, rsum = 0, t0 = now_s();
    size_t i = 0;
    for (;; i++) {
        double el = now_s() - t0;
        if ((i >= ds.nq && el >= seconds) || (i > 0 && el >= 5 * seconds))
            break;
        size_t q = i % ds.nq;
        double a = now_s();
        index.search(1, &ds.query[q * ds.d], K, dist, got);
        double b = now_s() - a;
        lat.push_back(b);
        spent += b;
        if (i < ds.nq) rsum += recall_of(got, &ds.truth[q * K]);
    }
    std::sort(lat.begin(), lat.end());
    r->queries = std::min(i, ds.nq);
    r->recall = rsum / (double)r->queries;
    r->qps = (double)i / spent;
    r->p50_us = lat[i / 2] * 1e6;
    r->p99_us = lat[i * 99 / 100] * 1e6;
}

/* Every query in one call, repeated until --seconds passed. */
void time_batch(const faiss::Index &index, const Data &ds, double seconds,
                Row *r)
{
    std::vector<float> dist(ds.nq * K);
    std::vector<faiss::Index::idx_t> got(ds.nq * K);
    double t0 = now_s();
    size_t calls = 0;
    do {
        index.search((faiss::Index::idx_t)ds.nq, ds.query.data(), K,
                     dist.data(), got.data());
        calls++;
    } while (now_s() - t0 < seconds);
    double spent = now_s() - t0, rsum = 0;
    for (size_t q = 0; q < ds.nq; q++)
        rsum += recall_of(&got[q * K], &ds.truth[q * K]);
    r->queries = ds.nq;
    r->recall = rsum / (double)ds.nq;
    r->qps = (double)(calls * ds.nq) / spent;
}

void print_row(const Row &r, bool json)
{
    char ef[16] = "null", p50[32] = "null", p99[32] = "null";
    if (r.ef) std::snprintf(ef, sizeof ef, "%d", r.ef);
    if (!std::isnan(r.p50_us)) std::snprintf(p50, sizeof p50, "%.2f", r.p50_us);
    if (!std::isnan(r.p99_us)) std::snprintf(p99, sizeof p99, "%.2f", r.p99_us);
    if (json)
        std::printf("{\"index\":\"%s\",\"ef_search\":%s,\"recall_at_10\":%.4f,"
                    "\"qps\":%.1f,\"p50_us\":%s,\"p99_us\":%s,\"build_s\":%.3f,"
                    "\"bytes_per_vector\":%.1f,\"queries\":%zu}\n",
                    r.index.c_str(), ef, r.recall, r.qps, p50, p99, r.build_s,
                    r.bytes_per_vector, r.queries);
    else
        std::printf(
            "%-11s %5s %9.4f %10.0f %9s %9s %9.3f %10.1f\n", r.index.c_str(),
            r.ef ? ef : "-", r.recall, r.qps, r.p50_us == r.p50_us ? p50 : "-",
            r.p99_us == r.p99_us ? p99 : "-", r.build_s, r.bytes_per_vector);
    std::fflush(stdout);
}

/* OpenBLAS, when it is the BLAS in use, on one thread for flat-batch. */
void blas_one_thread()
{
    using set_fn = void (*)(int);
    auto set = (set_fn)dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
    if (set) set(1);
}

struct Opts {
    const char *base = nullptr, *query = nullptr, *truth = nullptr;
    std::string metric = "l2";
    int m = 16, efc = 200, threads = 1;
    std::vector<int> efs{16, 32, 64, 128};
    double seconds = 1.0;
    bool json = false;
};

int to_int(const char *flag, const char *v, int lo, int hi)
{
    char *end;
    long x = std::strtol(v, &end, 10);
    if (*end || end == v || x < lo || x > hi)
        die(2, "%s: bad number '%s'", flag, v);
    return (int)x;
}

Opts parse(int argc, char **argv)
{
    Opts o;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--json") {
            o.json = true;
            continue;
        }
        if (i + 1 >= argc) die(2, "%s needs a value", argv[i]);
        const char *v = argv[++i];
        if (a == "--base")
            o.base = v;
        else if (a == "--queries")
            o.query = v;
        else if (a == "--truth")
            o.truth = v;
        else if (a == "--metric")
            o.metric = v;
        else if (a == "--m")
            o.m = to_int("--m", v, 2, 255);
        else if (a == "--ef-construction")
            o.efc = to_int("--ef-construction", v, 1, 100000);
        else if (a == "--threads")
            o.threads = to_int("--threads", v, 1, 1024);
        else if (a == "--seconds")
            o.seconds = std::atof(v);
        else if (a == "--ef") {
            o.efs.clear();
            std::string s = v;
            for (size_t p = 0; p <= s.size();) {
                size_t c = s.find(',', p);
                if (c == std::string::npos) c = s.size();
                o.efs.push_back(
                    to_int("--ef", s.substr(p, c - p).c_str(), 1, 100000));
                p = c + 1;
            }
        } else
            die(2, "unknown option %s", argv[i - 1]);
    }
    if (!o.base || !o.query)
        die(2, "usage: faiss_bench --base B.fvecs --queries Q.fvecs "
               "[--truth T.ivecs] [--metric l2|ip|cosine] [--m M] "
               "[--ef-construction N] [--ef 16,32,...] [--threads T] "
               "[--seconds S] [--json]");
    if (o.metric != "l2" && o.metric != "ip" && o.metric != "cosine")
        die(2, "--metric: '%s' is not l2, ip or cosine", o.metric.c_str());
    if (!(o.seconds > 0)) o.seconds = 1.0;
    return o;
}

Data load(const Opts &o)
{
    Data ds;
    size_t dq;
    ds.base = read_vecs<float>(o.base, &ds.n, &ds.d);
    ds.query = read_vecs<float>(o.query, &ds.nq, &dq);
    if (dq != ds.d) die(1, "%s: dimensions differ from %s", o.query, o.base);
    if (ds.n < (size_t)K) die(1, "%s: fewer than 10 vectors", o.base);
    if (o.metric == "cosine") {
        faiss::fvec_renorm_L2(ds.d, ds.n, ds.base.data());
        faiss::fvec_renorm_L2(ds.d, ds.nq, ds.query.data());
    }
    if (!o.truth) return ds;
    size_t nt, kt;
    std::vector<int32_t> t = read_vecs<int32_t>(o.truth, &nt, &kt);
    if (nt != ds.nq || kt < (size_t)K)
        die(1, "%s: needs a row of at least 10 ids per query", o.truth);
    ds.truth.resize(ds.nq * K);
    for (size_t q = 0; q < ds.nq; q++)
        for (int j = 0; j < K; j++)
            ds.truth[q * K + j] = t[q * kt + j];
    return ds;
}

size_t hnsw_bytes(const faiss::IndexHNSWFlat &h)
{
    auto *flat = dynamic_cast<const faiss::IndexFlatCodes *>(h.storage);
    size_t b = flat ? flat->codes.size() : h.ntotal * h.d * sizeof(float);
    return b + h.hnsw.neighbors.size() * sizeof(faiss::HNSW::storage_idx_t) +
           h.hnsw.levels.size() * sizeof(int) +
           h.hnsw.offsets.size() * sizeof(size_t);
}

} // namespace

int main(int argc, char **argv)
{
    Opts o = parse(argc, argv);
    Data ds = load(o);
    faiss::MetricType mt =
        o.metric == "l2" ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
    blas_one_thread();

    if (o.json)
        std::printf("{\"faiss_version\":\"%d.%d.%d\",\"n\":%zu,\"d\":%zu,"
                    "\"nq\":%zu,\"metric\":\"%s\",\"build_threads\":%d}\n",
                    FAISS_VERSION_MAJOR, FAISS_VERSION_MINOR,
                    FAISS_VERSION_PATCH, ds.n, ds.d, ds.nq, o.metric.c_str(),
                    o.threads);
    else
        std::printf("FAISS %d.%d.%d: %zu x %zu, %zu queries, %s, M=%d "
                    "efC=%d, build threads %d, search 1 thread\n"
                    "%-11s %5s %9s %10s %9s %9s %9s %10s\n",
                    FAISS_VERSION_MAJOR, FAISS_VERSION_MINOR,
                    FAISS_VERSION_PATCH, ds.n, ds.d, ds.nq, o.metric.c_str(),
                    o.m, o.efc, o.threads, "index", "ef", "recall@10", "qps",
                    "p50_us", "p99_us", "build_s", "bytes/vec");

    /* Flat: the exact answer (the truth when none was given). */
    omp_set_num_threads(o.threads);
    std::unique_ptr<faiss::IndexFlat> flat;
    if (mt == faiss::METRIC_L2)
        flat.reset(new faiss::IndexFlatL2(ds.d));
    else
        flat.reset(new faiss::IndexFlatIP(ds.d));
    double t0 = now_s();
    flat->add((faiss::Index::idx_t)ds.n, ds.base.data());
    Row fr;
    fr.index = "flat";
    fr.build_s = now_s() - t0;
    fr.bytes_per_vector = (double)flat->codes.size() / (double)ds.n;
    if (ds.truth.empty()) {
        std::vector<float> dist(ds.nq * K);
        std::vector<faiss::Index::idx_t> got(ds.nq * K);
        flat->search((faiss::Index::idx_t)ds.nq, ds.query.data(), K,
                     dist.data(), got.data());
        ds.truth.assign(got.begin(), got.end());
    }
    omp_set_num_threads(1);
    time_queries(*flat, ds, o.seconds, &fr);
    print_row(fr, o.json);
    Row br = fr;
    br.index = "flat-batch";
    br.p50_us = br.p99_us = NAN;
    time_batch(*flat, ds, o.seconds, &br);
    print_row(br, o.json);
    flat.reset();

    faiss::IndexHNSWFlat hnsw((int)ds.d, o.m, mt);
    hnsw.hnsw.efConstruction = o.efc;
    omp_set_num_threads(o.threads);
    t0 = now_s();
    hnsw.add((faiss::Index::idx_t)ds.n, ds.base.data());
    double build = now_s() - t0;
    omp_set_num_threads(1);
    for (int ef : o.efs) {
        Row r;
        r.index = "hnsw";
        r.ef = ef;
        r.build_s = build;
        r.bytes_per_vector = (double)hnsw_bytes(hnsw) / (double)ds.n;
        hnsw.hnsw.efSearch = ef;
        time_queries(hnsw, ds, o.seconds, &r);
        print_row(r, o.json);
    }
    return 0;
}
