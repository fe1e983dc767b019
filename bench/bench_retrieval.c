/*
 * bench_retrieval.c - retrieval quality of BM25, the local embedder and
 * hybrid search on a collection with relevance judgements, through the
 * real memory service.  Two formats: BEIR (corpus.jsonl, queries.jsonl,
 * qrels/test.tsv: SciFact, the default) and SMART (.I/.T/.W records and a
 * "qid docid" judgement file: CISI, CACM).
 *
 * The corpus (title + text per document) is added to a fresh store with
 * memory_add in batches, exactly as `POST /v1/memory` would; then every
 * judged query is run four ways (BM25 via the store's FTS5 index,
 * semantic via memory_search, hybrid via memory_hybrid fused by RRF k = 60
 * and by convex combination) and scored with nDCG@10 and MAP over the top
 * 100 (binary relevance).  Prints a table.
 *
 * usage: bench_retrieval [--data DIR] [--dims N]
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <strings.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/xmem.h"
#include "memory/embed.h"
#include "memory/memory.h"
#include "store/store.h"

typedef struct pair {
    char *id, *text; /* a document or a query; for qrels: query id, doc id */
} pair;

typedef struct pairs {
    pair *v;
    size_t n, cap;
} pairs;

static char *DATA = "../shared/data/scifact";
static size_t DIMS = 1536;
#define DEPTH 100 /* results scored per query (MAP@100) */

/* our document id -> collection document id */
static char **CID;
static size_t NCID;

static void push(pairs *p, char *id, char *text)
{
    if (p->n == p->cap) p->v = xrealloc(p->v, (p->cap = p->cap ? 2 * p->cap : 256) * sizeof *p->v);
    p->v[p->n++] = (pair){ id, text };
}

static void set_cid(int64_t id, const char *cid)
{
    if ((size_t)id >= NCID) {
        size_t n = (size_t)id * 2 + 16;
        CID = xrealloc(CID, n * sizeof *CID);
        memset(CID + NCID, 0, (n - NCID) * sizeof *CID);
        NCID = n;
    }
    CID[id] = xstrdup(cid);
}

static FILE *open_data(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", DATA, name);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_retrieval: cannot open %s\n", path);
        exit(1);
    }
    return f;
}

/* --- BEIR: corpus.jsonl, queries.jsonl, qrels/test.tsv ------------------ */

static void beir_jsonl(const char *name, pairs *out, bool with_title)
{
    FILE *f = open_data(name);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        const char *id = json_string_value(json_object_get(o, "_id"));
        const char *title = json_string_value(json_object_get(o, "title"));
        const char *text = json_string_value(json_object_get(o, "text"));
        if (id && text)
            push(out, xstrdup(id), with_title ? xasprintf("%s\n%s", title ? title : "", text)
                                              : xstrdup(text));
        json_decref(o);
    }
    free(line);
    fclose(f);
}

static void beir_qrels(pairs *out)
{
    FILE *f = open_data("qrels/test.tsv");
    char q[64], c[64], line[256];
    int score;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%63s %63s %d", q, c, &score) == 3 && score > 0)
            push(out, xstrdup(q), xstrdup(c));
    fclose(f);
}

/* --- SMART (CISI, CACM): .I id, then fields .T .W .A .B ...; the title
 * (.T) and text (.W) make a record's text.  Ids are numbers ("01" = 1). */

static char *num_id(const char *s)
{
    return xasprintf("%ld", strtol(s, NULL, 10));
}

static void smart_records(const char *name, pairs *out)
{
    FILE *f = open_data(name);
    char *line = NULL, *id = NULL;
    size_t cap = 0;
    fs_buf text = { 0 };
    bool keep = false;
    for (;;) {
        ssize_t len = getline(&line, &cap, f);
        bool start = len > 0 && !strncmp(line, ".I", 2) && (line[2] == ' ' || line[2] == '\n');
        if ((len <= 0 || start) && id) {
            push(out, id, xstrdup(text.data ? text.data : ""));
            id = NULL;
            text.len = 0;
            if (text.data) text.data[0] = 0;
        }
        if (len <= 0) break;
        if (start) id = num_id(line + 3);
        else if (line[0] == '.' && len >= 2 && line[1] >= 'A' && line[1] <= 'Z' &&
                 (line[2] == '\n' || line[2] == ' '))
            keep = line[1] == 'T' || line[1] == 'W';
        else if (keep && id)
            fs_buf_printf(&text, "%s", line);
    }
    free(text.data);
    free(line);
    fclose(f);
}

static void smart_qrels(const char *name, pairs *out)
{
    FILE *f = open_data(name);
    char q[64], c[64], line[256];
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%63s %63s", q, c) == 2) push(out, num_id(q), num_id(c));
    fclose(f);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcasecmp(s + a - b, suffix);
}

/* The collection in DATA: BEIR when it has corpus.jsonl, else SMART files
 * found by name (*.all, *.qry or query.text, *.rel or qrels.text). */
static void load_collection(pairs *docs, pairs *queries, pairs *qrels)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/corpus.jsonl", DATA);
    if (access(path, R_OK) == 0) {
        beir_jsonl("corpus.jsonl", docs, true);
        beir_jsonl("queries.jsonl", queries, false);
        beir_qrels(qrels);
        return;
    }
    DIR *d = opendir(DATA);
    if (!d) {
        fprintf(stderr, "bench_retrieval: cannot open %s\n", DATA);
        exit(1);
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (ends_with(e->d_name, ".all")) smart_records(e->d_name, docs);
        else if (ends_with(e->d_name, ".qry") || !strcmp(e->d_name, "query.text"))
            smart_records(e->d_name, queries);
        else if (ends_with(e->d_name, ".rel") || !strcmp(e->d_name, "qrels.text"))
            smart_qrels(e->d_name, qrels);
    }
    closedir(d);
    if (!docs->n || !queries->n || !qrels->n) {
        fprintf(stderr, "bench_retrieval: %s has no BEIR or SMART collection\n", DATA);
        exit(1);
    }
}

static void flush(memory *m, fs_doc *batch, char **cids, size_t *n)
{
    const char *why;
    if (*n && memory_add(m, batch, *n, &why) != 0) {
        fprintf(stderr, "bench_retrieval: add failed: %s\n", why ? why : "");
        exit(1);
    }
    for (size_t i = 0; i < *n; i++) set_cid(batch[i].id, cids[i]);
    *n = 0;
}

static void add_corpus(memory *m, const pairs *docs)
{
    fs_doc batch[100];
    char *cids[100];
    size_t n = 0;
    for (size_t i = 0; i < docs->n; i++) {
        batch[n] = (fs_doc){ .content = docs->v[i].text, .metadata = "{}", .tags = "[]",
                             .importance = 0.5 };
        cids[n++] = docs->v[i].id;
        if (n == 100) flush(m, batch, cids, &n);
    }
    flush(m, batch, cids, &n);
}

static bool relevant(const pairs *r, const char *qid, const char *cid)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->v[i].id, qid) && cid && !strcmp(r->v[i].text, cid)) return true;
    return false;
}

static size_t count_relevant(const pairs *r, const char *qid)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++) n += !strcmp(r->v[i].id, qid);
    return n;
}

/* nDCG@10 (binary relevance) and average precision over the top DEPTH. */
static void score(const pairs *r, const char *qid, const int64_t *ids, size_t n,
                  double *ndcg, double *ap)
{
    size_t nrel = count_relevant(r, qid), hits = 0;
    double dcg = 0, idcg = 0, sum = 0;
    for (size_t i = 0; i < n && i < DEPTH; i++)
        if ((size_t)ids[i] < NCID && relevant(r, qid, CID[ids[i]])) {
            if (i < 10) dcg += 1 / log2((double)i + 2);
            sum += (double)++hits / (double)(i + 1);
        }
    for (size_t i = 0; i < nrel && i < 10; i++) idcg += 1 / log2((double)i + 2);
    *ndcg += idcg > 0 ? dcg / idcg : 0;
    *ap += nrel ? sum / (double)nrel : 0;
}

/* BM25 ids, chunks mapped to their parents, best first. */
static size_t bm25(store *st, const char *q, int64_t *out)
{
    store_doc_filter f = { .with_chunks = true, .limit = 2 * DEPTH };
    store_hit *h;
    size_t n, k = 0;
    if (store_doc_text_search(st, q, &f, &h, &n)) return 0;
    for (size_t i = 0; i < n && k < DEPTH; i++) {
        fs_doc d;
        if (store_doc_get(st, h[i].id, false, &d)) continue;
        int64_t id = d.parent_id ? d.parent_id : d.id;
        fs_doc_clear(&d);
        bool dup = false;
        for (size_t j = 0; j < k; j++) dup |= out[j] == id;
        if (!dup) out[k++] = id;
    }
    free(h);
    return k;
}

static size_t hits_ids(memory_hit *h, size_t n, int64_t *out)
{
    for (size_t i = 0; i < n; i++) out[i] = h[i].doc.id;
    memory_hits_free(h, n);
    return n;
}

static const char *query_of(const pairs *queries, const char *qid)
{
    for (size_t i = 0; i < queries->n; i++)
        if (!strcmp(queries->v[i].id, qid)) return queries->v[i].text;
    return NULL;
}

#define METHODS 4

/* One query every way; adds to ndcg[], ap[], secs[]. */
static void run_query(store *st, memory *m, const pairs *qrels, const char *qid,
                      const char *q, double *ndcg, double *ap, double *secs)
{
    static const memory_hybrid_opts fusions[2] = { { .fusion = FUSION_RRF },
                                                   { .fusion = FUSION_CONVEX } };
    int64_t ids[2 * DEPTH];
    memory_query mq = { .text = q, .limit = DEPTH, .threshold = -INFINITY };
    memory_hit *h;
    size_t n = 0;
    for (int k = 0; k < METHODS; k++) {
        int64_t t = fs_mono_ns();
        if (k == 0) n = bm25(st, q, ids);
        else if (k == 1) n = memory_search(m, &mq, &h, &n, NULL) ? 0 : hits_ids(h, n, ids);
        else n = memory_hybrid(m, &mq, &fusions[k - 2], &h, &n, NULL) ? 0 : hits_ids(h, n, ids);
        secs[k] += (double)(fs_mono_ns() - t) / 1e9;
        score(qrels, qid, ids, n, &ndcg[k], &ap[k]);
    }
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc) DATA = argv[++i];
        else if (!strcmp(argv[i], "--dims") && i + 1 < argc) DIMS = (size_t)atol(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_retrieval [--data DIR] [--dims N]\n");
            return 2;
        }
    }
    log_setup(LOG_WARN, false);
    pairs docs = { 0 }, queries = { 0 }, qrels = { 0 };
    load_collection(&docs, &queries, &qrels);
    char path[] = "/tmp/fs-retrieval-XXXXXX";
    if (!mkdtemp(path)) return 1;
    char *db = xasprintf("%s/r.db", path);
    store *st;
    if (store_open(&st, db, &(store_options){ .sync_normal = true })) return 1;
    mem_space sp = { DIMS, VEC_COSINE, "local" };
    char msg[256];
    embedder *emb;
    memory *m;
    if (space_embedder_open(&emb, &sp, st, msg, sizeof msg) ||
        memory_open(&m, st, emb, &sp, NULL)) {
        fprintf(stderr, "bench_retrieval: %s\n", msg);
        return 1;
    }
    int64_t t0 = fs_mono_ms();
    add_corpus(m, &docs);
    double load_s = (double)(fs_mono_ms() - t0) / 1000;
    double ndcg[METHODS] = { 0 }, ap[METHODS] = { 0 }, secs[METHODS] = { 0 };
    size_t nq = 0;
    for (size_t i = 0; i < qrels.n; i++) {
        const char *qid = qrels.v[i].id;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) seen = !strcmp(qrels.v[j].id, qid);
        const char *q = seen ? NULL : query_of(&queries, qid);
        if (!q) continue;
        run_query(st, m, &qrels, qid, q, ndcg, ap, secs);
        nq++;
    }
    printf("retrieval quality on %s: %zu documents (added in %.1f s, %.0f docs/s),"
           " %zu judged queries, local embedder %zu-d\n\n",
           DATA, docs.n, load_s, (double)docs.n / load_s, nq, DIMS);
    printf("%-34s %10s %10s %12s\n", "method", "nDCG@10", "MAP@100", "queries/s");
    const char *names[METHODS] = { "BM25 (FTS5, our tokeniser)", "semantic (local embedder)",
                                   "hybrid (RRF, k = 60)", "hybrid (convex, weights 1:1)" };
    for (int k = 0; k < METHODS; k++)
        printf("%-34s %10.4f %10.4f %12.0f\n", names[k], ndcg[k] / (double)nq,
               ap[k] / (double)nq, (double)nq / secs[k]);
    memory_close(m);
    embed_close(emb);
    store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", path);
    return system(cmd) == 0 ? 0 : 1;
}
