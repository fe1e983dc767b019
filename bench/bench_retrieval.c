/*
 * bench_retrieval.c - retrieval quality of BM25, the local embedder and
 * hybrid search on a BEIR-format collection with relevance judgements
 * (default: ../shared/data/scifact), through the real memory service.
 *
 * The corpus (title + text per document) is added to a fresh store with
 * memory_add in batches, exactly as `POST /v1/memory` would; then every
 * judged test query is run three ways (BM25 via the store's FTS5 index,
 * semantic via memory_search, hybrid via memory_hybrid with RRF k = 60)
 * and scored with nDCG@10 (binary relevance).  Prints a table.
 *
 * usage: bench_retrieval [--data DIR] [--dims N]
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/xmem.h"
#include "memory/embed.h"
#include "memory/memory.h"
#include "store/store.h"

typedef struct qrel {
    char *qid, *cid;
} qrel;

static char *DATA = "../shared/data/scifact";
static size_t DIMS = 1536;

/* our document id -> corpus id */
static char **CID;
static size_t NCID;

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

static void flush(memory *m, fs_doc *batch, char **cids, size_t *n)
{
    const char *why;
    if (*n && memory_add(m, batch, *n, &why) != 0) {
        fprintf(stderr, "bench_retrieval: add failed: %s\n", why ? why : "");
        exit(1);
    }
    for (size_t i = 0; i < *n; i++) {
        set_cid(batch[i].id, cids[i]);
        free(cids[i]);
        free(batch[i].content);
    }
    *n = 0;
}

static size_t load_corpus(memory *m)
{
    FILE *f = open_data("corpus.jsonl");
    char *line = NULL;
    size_t cap = 0, n = 0, total = 0;
    fs_doc batch[100];
    char *cids[100];
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        const char *id = json_string_value(json_object_get(o, "_id"));
        const char *title = json_string_value(json_object_get(o, "title"));
        const char *text = json_string_value(json_object_get(o, "text"));
        if (id && text) {
            batch[n] = (fs_doc){ .content = xasprintf("%s\n%s", title ? title : "", text),
                                 .metadata = "{}", .tags = "[]", .importance = 0.5 };
            cids[n++] = xstrdup(id);
            total++;
            if (n == 100) flush(m, batch, cids, &n);
        }
        json_decref(o);
    }
    flush(m, batch, cids, &n);
    free(line);
    fclose(f);
    return total;
}

static qrel *load_qrels(size_t *n)
{
    FILE *f = open_data("qrels/test.tsv");
    char q[64], c[64];
    int score;
    qrel *v = NULL;
    size_t cap = 0;
    *n = 0;
    char line[256];
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%63s %63s %d", q, c, &score) == 3 && score > 0) {
            if (*n == cap) v = xrealloc(v, (cap = cap ? 2 * cap : 256) * sizeof *v);
            v[(*n)++] = (qrel){ xstrdup(q), xstrdup(c) };
        }
    fclose(f);
    return v;
}

static char *query_text(const char *qid)
{
    FILE *f = open_data("queries.jsonl");
    char *line = NULL, *out = NULL;
    size_t cap = 0;
    while (!out && getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        if (!strcmp(json_string_value(json_object_get(o, "_id")) ?: "", qid))
            out = xstrdup(json_string_value(json_object_get(o, "text")));
        json_decref(o);
    }
    free(line);
    fclose(f);
    return out;
}

static bool relevant(const qrel *r, size_t nr, const char *qid, const char *cid)
{
    for (size_t i = 0; i < nr; i++)
        if (!strcmp(r[i].qid, qid) && cid && !strcmp(r[i].cid, cid)) return true;
    return false;
}

static double ndcg10(const qrel *r, size_t nr, const char *qid,
                     const int64_t *ids, size_t n)
{
    size_t nrel = 0;
    for (size_t i = 0; i < nr; i++) nrel += !strcmp(r[i].qid, qid);
    double dcg = 0, idcg = 0;
    for (size_t i = 0; i < n && i < 10; i++)
        if ((size_t)ids[i] < NCID && relevant(r, nr, qid, CID[ids[i]]))
            dcg += 1 / log2((double)i + 2);
    for (size_t i = 0; i < nrel && i < 10; i++) idcg += 1 / log2((double)i + 2);
    return idcg > 0 ? dcg / idcg : 0;
}

/* BM25 ids, chunks mapped to their parents, best first. */
static size_t bm25(store *st, const char *q, int64_t *out)
{
    store_doc_filter f = { .with_chunks = true, .limit = 40 };
    store_hit *h;
    size_t n, k = 0;
    if (store_doc_text_search(st, q, &f, &h, &n)) return 0;
    for (size_t i = 0; i < n && k < 10; i++) {
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
    size_t ndocs = load_corpus(m);
    double load_s = (double)(fs_mono_ms() - t0) / 1000;
    size_t nr;
    qrel *r = load_qrels(&nr);
    double sum[3] = { 0 }, secs[3] = { 0 };
    size_t nq = 0;
    for (size_t i = 0; i < nr; i++) {
        if (i && !strcmp(r[i].qid, r[i - 1].qid)) continue;
        char *q = query_text(r[i].qid);
        if (!q) continue;
        int64_t ids[40];
        memory_query mq = { .text = q, .limit = 10, .threshold = -INFINITY };
        memory_hit *h;
        size_t n;
        int64_t a = fs_mono_ns();
        n = bm25(st, q, ids);
        int64_t b = fs_mono_ns();
        sum[0] += ndcg10(r, nr, r[i].qid, ids, n);
        n = memory_search(m, &mq, &h, &n, NULL) ? 0 : hits_ids(h, n, ids);
        int64_t c = fs_mono_ns();
        sum[1] += ndcg10(r, nr, r[i].qid, ids, n);
        n = memory_hybrid(m, &mq, NULL, &h, &n, NULL) ? 0 : hits_ids(h, n, ids);
        int64_t d = fs_mono_ns();
        sum[2] += ndcg10(r, nr, r[i].qid, ids, n);
        secs[0] += (double)(b - a) / 1e9;
        secs[1] += (double)(c - b) / 1e9;
        secs[2] += (double)(d - c) / 1e9;
        nq++;
        free(q);
    }
    printf("retrieval quality on %s: %zu documents (added in %.1f s, %.0f docs/s),"
           " %zu judged queries, local embedder %zu-d\n\n",
           DATA, ndocs, load_s, (double)ndocs / load_s, nq, DIMS);
    printf("%-28s %10s %12s\n", "method", "nDCG@10", "queries/s");
    const char *names[3] = { "BM25 (FTS5, our tokeniser)", "semantic (local embedder)",
                             "hybrid (RRF, k = 60)" };
    for (int k = 0; k < 3; k++)
        printf("%-28s %10.4f %12.0f\n", names[k], sum[k] / (double)nq,
               (double)nq / secs[k]);
    memory_close(m);
    embed_close(emb);
    store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", path);
    return system(cmd) == 0 ? 0 : 1;
}
