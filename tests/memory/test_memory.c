/*
 * test_memory.c - the memory service end to end over a real store and the
 * local embedder: search finds what shares the query's words, long content
 * is chunked and reported as its parent, filters restrict, deletes remove
 * every piece, a restart rebuilds the same index, bad input stores nothing.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/fs.h"
#include "memory/memory.h"
#include "support/testdb.h"

#define D 256

static tdb T;
static embedder *E;
static memory *M;
static mem_space SP = { D, VEC_COSINE, "local" };

static void open_memory(void)
{
    memory_config mc = { .chunk_size = 300, .chunk_overlap = 50 };
    cr_assert_eq(memory_open(&M, T.st, E, &SP, &mc), 0);
}

static void setup(void)
{
    tdb_open(&T);
    cr_assert_eq(embed_local_open(&E, D, NULL), 0);
    open_memory();
}

static void teardown(void)
{
    memory_close(M);
    embed_close(E);
    tdb_close(&T);
}

TestSuite(memory, .init = setup, .fini = teardown, .timeout = 60);

static int64_t add(const char *content, const char *agent)
{
    fs_doc d = { .content = (char *)content, .agent = (char *)agent,
                 .metadata = "{}", .tags = "[]", .importance = 0.5 };
    cr_assert_eq(memory_add(M, &d, 1, NULL), 0);
    return d.id;
}

static memory_hit *search(const char *text, size_t limit,
                          const store_doc_filter *f, size_t *n)
{
    memory_query q = { .text = text, .limit = limit, .threshold = -INFINITY,
                       .filter = f };
    memory_hit *h;
    cr_assert_eq(memory_search(M, &q, &h, n, NULL), 0);
    return h;
}

/* A small CRM corpus: the query's words appear in exactly one document. */
static int64_t corpus(int64_t ids[4])
{
    ids[0] = add("Acme Corp asked for a refund of invoice 1042", "ag_billing");
    ids[1] = add("Schedule the onboarding call with Globex next Tuesday",
                 "ag_sales");
    ids[2] = add("Initech renewed the enterprise licence for three years",
                 "ag_sales");
    ids[3] = add("Quarterly pipeline review: twelve open opportunities",
                 "ag_sales");
    return ids[0];
}

Test(memory, text_search_finds_the_document_sharing_the_words)
{
    int64_t ids[4];
    corpus(ids);
    size_t n;
    memory_hit *h = search("refund for the Acme invoice", 4, NULL, &n);
    cr_assert_eq(n, 4);
    cr_assert_eq(h[0].doc.id, ids[0], "the refund document first");
    cr_assert(h[0].score > h[1].score);
    cr_assert_eq(h[0].chunk, -1);
    memory_hits_free(h, n);
    h = search("when is the Globex onboarding call", 1, NULL, &n);
    cr_assert_eq(n, 1);
    cr_assert_eq(h[0].doc.id, ids[1]);
    memory_hits_free(h, n);
}

Test(memory, filters_restrict_even_when_others_match_better)
{
    int64_t ids[4];
    corpus(ids);
    store_doc_filter f = { .agent = "ag_sales" };
    size_t n;
    memory_hit *h = search("refund for the Acme invoice", 10, &f, &n);
    cr_assert_eq(n, 3, "only ag_sales documents");
    for (size_t i = 0; i < n; i++) cr_assert_str_eq(h[i].doc.agent, "ag_sales");
    memory_hits_free(h, n);
}

Test(memory, long_content_is_chunked_and_reported_as_its_parent)
{
    char text[4096] = "";
    for (int i = 0; i < 30; i++) {
        char s[128];
        snprintf(s, sizeof s, "Section %d discusses topic number %d in detail. ",
                 i, i);
        strcat(text, s);
    }
    strcat(text, "The warranty covers water damage on the pump. ");
    for (int i = 30; i < 50; i++) {
        char s[128];
        snprintf(s, sizeof s, "Section %d discusses topic number %d in detail. ",
                 i, i);
        strcat(text, s);
    }
    size_t before = memory_indexed(M);
    int64_t id = add(text, "ag_docs");
    add("An unrelated note about lunch", "ag_docs");
    size_t chunks = memory_indexed(M) - before - 1;
    cr_assert(chunks >= strlen(text) / 300, "%zu chunks", chunks);
    size_t n;
    memory_hit *h = search("does the warranty cover water damage", 1, NULL, &n);
    cr_assert_eq(n, 1);
    cr_assert_eq(h[0].doc.id, id, "the parent is reported");
    cr_assert_str_eq(h[0].doc.content, text, "with its whole content");
    cr_assert_geq(h[0].chunk, 0);
    cr_assert_not_null(strstr(h[0].matched, "warranty"), "and the chunk");
    memory_hits_free(h, n);
    cr_assert_eq(memory_delete(M, id), 0);
    cr_assert_eq(memory_indexed(M), before + 1, "every chunk left the index");
    h = search("warranty water damage", 5, NULL, &n);
    for (size_t i = 0; i < n; i++) cr_assert_neq(h[i].doc.id, id);
    memory_hits_free(h, n);
}

Test(memory, restart_rebuilds_the_same_index)
{
    int64_t ids[4];
    corpus(ids);
    size_t n1, n2, count = memory_indexed(M);
    memory_hit *a = search("licence renewal", 4, NULL, &n1);
    memory_close(M);
    tdb_reopen(&T);
    open_memory();
    cr_assert_eq(memory_indexed(M), count);
    memory_hit *b = search("licence renewal", 4, NULL, &n2);
    cr_assert_eq(n1, n2);
    for (size_t i = 0; i < n1; i++) {
        cr_assert_eq(a[i].doc.id, b[i].doc.id);
        cr_assert_float_eq(a[i].score, b[i].score, 1e-6);
    }
    memory_hits_free(a, n1);
    memory_hits_free(b, n2);
}

Test(memory, own_vectors_and_bad_input)
{
    float v[D] = { 0 };
    v[3] = 1;
    fs_doc d = { .content = "brought my own vector", .metadata = "{}",
                 .tags = "[]", .importance = 0.5, .embedding = v, .dims = D };
    cr_assert_eq(memory_add(M, &d, 1, NULL), 0);
    memory_query q = { .vector = v, .dims = D, .limit = 1,
                       .threshold = 0.99 };
    memory_hit *h;
    size_t n;
    cr_assert_eq(memory_search(M, &q, &h, &n, NULL), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(h[0].doc.id, d.id);
    memory_hits_free(h, n);

    size_t before = memory_indexed(M);
    fs_doc bad[2] = { { .content = "fine", .metadata = "{}", .tags = "[]" },
                      { .content = "", .metadata = "{}", .tags = "[]" } };
    cr_assert_eq(memory_add(M, bad, 2, NULL), FS_EINVAL, "empty content");
    bad[1].content = "wrong dims";
    bad[1].embedding = v;
    bad[1].dims = D - 1;
    cr_assert_eq(memory_add(M, bad, 2, NULL), FS_EINVAL);
    v[0] = NAN;
    bad[1].dims = D;
    cr_assert_eq(memory_add(M, bad, 2, NULL), FS_EINVAL, "NaN");
    bad[1].embedding = NULL;
    bad[1].importance = 2;
    cr_assert_eq(memory_add(M, bad, 2, NULL), FS_EINVAL, "importance");
    cr_assert_eq(memory_indexed(M), before, "nothing half-stored");
    q.dims = D - 1;
    cr_assert_eq(memory_search(M, &q, &h, &n, NULL), FS_EINVAL);
}

static memory_hit *hybrid(const char *text, size_t limit, double wv, double wt,
                          size_t *n)
{
    memory_query q = { .text = text, .limit = limit };
    memory_hybrid_opts o = { .rrf_k = 60, .w_vector = wv, .w_text = wt };
    memory_hit *h;
    cr_assert_eq(memory_hybrid(M, &q, &o, &h, n, NULL), 0);
    return h;
}

Test(memory, hybrid_fuses_both_rankings_by_reciprocal_rank)
{
    int64_t ids[4];
    corpus(ids);
    size_t n;
    memory_hit *h = hybrid("refund of the Acme invoice", 4, 0, 0, &n);
    cr_assert_eq(n, 4);
    cr_assert_eq(h[0].doc.id, ids[0], "first in both rankings, first fused");
    cr_assert_eq(h[0].vector_rank, 1);
    cr_assert_eq(h[0].text_rank, 1);
    cr_assert_float_eq(h[0].score, 2.0 / 61, 1e-12);
    for (size_t i = 0; i < n; i++) {
        double want = (h[i].vector_rank ? 1.0 / (60 + h[i].vector_rank) : 0) +
                      (h[i].text_rank ? 1.0 / (60 + h[i].text_rank) : 0);
        cr_assert_float_eq(h[i].score, want, 1e-12, "result %zu", i);
        if (i) cr_assert_geq(h[i - 1].score, h[i].score, "best first");
    }
    memory_hits_free(h, n);
}

Test(memory, hybrid_convex_fusion_adds_normalised_scores)
{
    int64_t ids[4];
    corpus(ids);
    memory_query q = { .text = "refund of the Acme invoice", .limit = 4 };
    memory_hybrid_opts o = { .fusion = FUSION_CONVEX };
    memory_hit *h;
    size_t n;
    cr_assert_eq(memory_hybrid(M, &q, &o, &h, &n, NULL), 0);
    cr_assert_eq(n, 4);
    cr_assert_eq(h[0].doc.id, ids[0], "first in both rankings, first fused");
    cr_assert_float_eq(h[0].score, 1.0, 1e-12, "the best of both scales to 1 on each");
    for (size_t i = 1; i < n; i++) {
        cr_assert_geq(h[i - 1].score, h[i].score, "best first");
        cr_assert(h[i].score >= 0 && h[i].score <= 1, "a mean of two [0, 1] scores");
    }
    memory_hits_free(h, n);
    o.w_text = 0; /* the semantic side alone: its order */
    o.w_vector = 1;
    memory_hit *s;
    size_t ns;
    cr_assert_eq(memory_hybrid(M, &q, &o, &h, &n, NULL), 0);
    s = search(q.text, 4, NULL, &ns);
    cr_assert_eq(n, ns);
    for (size_t i = 0; i < n; i++) cr_assert_eq(h[i].doc.id, s[i].doc.id);
    memory_hits_free(h, n);
    memory_hits_free(s, ns);
}

Test(memory, hybrid_with_text_weight_zero_is_the_semantic_order)
{
    int64_t ids[4];
    corpus(ids);
    size_t n1, n2;
    memory_hit *a = hybrid("licence renewal call", 4, 1, 0, &n1);
    memory_hit *b = search("licence renewal call", 4, NULL, &n2);
    cr_assert_eq(n1, n2);
    for (size_t i = 0; i < n1; i++) cr_assert_eq(a[i].doc.id, b[i].doc.id);
    memory_hits_free(a, n1);
    memory_hits_free(b, n2);
}

Test(memory, similar_and_recommend_never_return_their_examples)
{
    int64_t a = add("Acme asked for a refund of invoice 1042", NULL);
    int64_t b = add("Globex wants a refund for invoice 77", NULL);
    int64_t c = add("Initech renewed the enterprise licence", NULL);
    int64_t d = add("Umbrella renewed its support licence", NULL);
    memory_query q = { .limit = 3, .threshold = -INFINITY };
    memory_hit *h;
    size_t n;
    cr_assert_eq(memory_similar(M, &q, a, &h, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(h[0].doc.id, b, "the other refund is most similar");
    for (size_t i = 0; i < n; i++) cr_assert_neq(h[i].doc.id, a);
    memory_hits_free(h, n);
    /* Like the licence renewals, unlike refunds. */
    int64_t pos[1] = { c }, neg[1] = { a };
    cr_assert_eq(memory_recommend(M, &q, pos, 1, neg, 1, &h, &n), 0);
    cr_assert_eq(n, 2, "four documents minus the two examples");
    cr_assert_eq(h[0].doc.id, d);
    cr_assert_eq(h[1].doc.id, b);
    memory_hits_free(h, n);
    int64_t missing[1] = { 424242 };
    cr_assert_eq(memory_recommend(M, &q, missing, 1, NULL, 0, &h, &n), FS_ENOTFOUND);
    cr_assert_eq(memory_recommend(M, &q, NULL, 0, neg, 1, &h, &n), FS_EINVAL);
}

Test(memory, a_chunked_document_is_represented_by_its_chunks)
{
    char text[2048] = "";
    for (int i = 0; i < 12; i++)
        strcat(text, "Renewal terms for the enterprise licence and support. ");
    int64_t big = add(text, NULL);
    int64_t other = add("Renewal of the enterprise licence", NULL);
    add("Lunch menu for Friday", NULL);
    float v[D];
    cr_assert_eq(memory_vector_of(M, big, v), 0);
    cr_assert_float_eq(vec_dot(v, v, D), 1.0f, 0.05f);
    memory_query q = { .limit = 1, .threshold = -INFINITY };
    memory_hit *h;
    size_t n;
    cr_assert_eq(memory_similar(M, &q, big, &h, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(h[0].doc.id, other);
    memory_hits_free(h, n);
}

/* --- the index file ------------------------------------------------------ */

static char IDX[300];

static void reopen_with_file(void)
{
    memory_close(M);
    snprintf(IDX, sizeof IDX, "%s/test.vidx", T.dir[0] ? T.dir : "/tmp");
    memory_config mc = { .chunk_size = 300, .chunk_overlap = 50,
                         .index_path = IDX };
    cr_assert_eq(memory_open(&M, T.st, E, &SP, &mc), 0);
}

static void same_results(memory_hit *a, size_t na, memory_hit *b, size_t nb)
{
    cr_assert_eq(na, nb);
    for (size_t i = 0; i < na; i++) {
        cr_assert_eq(a[i].doc.id, b[i].doc.id);
        cr_assert_float_eq(a[i].score, b[i].score, 1e-6);
    }
}

Test(memory, a_clean_restart_loads_the_index_file)
{
    reopen_with_file();
    int64_t ids[4];
    corpus(ids);
    size_t n1, n2;
    memory_hit *a = search("licence renewal", 4, NULL, &n1);
    reopen_with_file(); /* close saves, open loads */
    cr_assert(memory_index_loaded(M), "no rebuild after a clean close");
    memory_hit *b = search("licence renewal", 4, NULL, &n2);
    same_results(a, n1, b, n2);
    memory_hits_free(a, n1);
    memory_hits_free(b, n2);
}

/* Writes to the store behind the index's back: the file is then stale. */
Test(memory, a_stale_or_damaged_file_is_rebuilt_from_the_store)
{
    reopen_with_file();
    int64_t ids[4];
    corpus(ids);
    reopen_with_file();
    cr_assert(memory_index_loaded(M));
    /* Like a crash after a write: the store moves on, the file does not. */
    fs_doc d = { .content = "written after the last save", .metadata = "{}",
                 .tags = "[]", .parent_ref = -1, .chunk_index = -1 };
    char saved[700];
    snprintf(saved, sizeof saved, "cp %s %s.bak", IDX, IDX);
    cr_assert_eq(system(saved), 0);
    cr_assert_eq(memory_add(M, &d, 1, NULL), 0);
    memory_close(M);
    snprintf(saved, sizeof saved, "cp %s.bak %s", IDX, IDX);
    cr_assert_eq(system(saved), 0);
    memory_config mc = { .chunk_size = 300, .chunk_overlap = 50, .index_path = IDX };
    cr_assert_eq(memory_open(&M, T.st, E, &SP, &mc), 0);
    cr_assert_not(memory_index_loaded(M), "an older file is not trusted");
    cr_assert_eq(memory_indexed(M), 5, "the new document is searchable");
    /* Damaged: one byte flipped in the middle, then a truncated file. */
    const char *damage[] = {
        "printf '\\xff' | dd of=%s bs=1 seek=2000 conv=notrunc status=none",
        "truncate -s 1000 %s",
    };
    for (int i = 0; i < 2; i++) {
        memory_close(M); /* saves a good file */
        char cmd[700];
        snprintf(cmd, sizeof cmd, damage[i], IDX);
        cr_assert_eq(system(cmd), 0);
        cr_assert_eq(memory_open(&M, T.st, E, &SP, &mc), 0);
        cr_assert_not(memory_index_loaded(M), "damage %d detected", i);
        cr_assert_eq(memory_indexed(M), 5);
        size_t n;
        memory_hit *h = search("written after the last save", 1, NULL, &n);
        cr_assert_eq(n, 1);
        cr_assert_eq(h[0].doc.id, d.id);
        memory_hits_free(h, n);
    }
}

/* --- clusters ------------------------------------------------------------ */

Test(memory, clusters_follow_the_topics_and_are_labelled_by_them)
{
    const char *topics[3][4] = {
        { "Refund requested for invoice 1042 overcharge",
          "Customer wants a refund, invoice was overcharged",
          "Overcharge on the invoice, refund issued",
          "Refund the duplicate invoice charge" },
        { "Onboarding call scheduled for Tuesday morning",
          "Schedule the onboarding kickoff call",
          "Onboarding workshop call moved to Tuesday",
          "Kickoff call for onboarding the new team" },
        { "Licence renewal for the enterprise plan",
          "Enterprise licence renewal signed for three years",
          "Renewal quote for enterprise licence seats",
          "Licence seats added at renewal of enterprise plan" },
    };
    int64_t ids[3][4];
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < 4; i++) ids[t][i] = add(topics[t][i], NULL);
    memory_cluster *c;
    size_t n;
    double sil;
    cr_assert_eq(memory_cluster_docs(M, NULL, 0, 0, &c, &n, &sil), 0);
    cr_assert_eq(n, 3, "k = 3 chosen by silhouette");
    cr_assert_gt(sil, 0.0);
    const char *expect[3] = { "refund", "onboarding", "licence" };
    for (size_t g = 0; g < n; g++) {
        cr_assert_eq(c[g].nmembers, 4);
        int t = 0; /* which topic holds the first member */
        while (t < 3 && ids[t][0] != c[g].members[0] && ids[t][1] != c[g].members[0] &&
               ids[t][2] != c[g].members[0] && ids[t][3] != c[g].members[0])
            t++;
        cr_assert_lt(t, 3);
        for (size_t i = 0; i < 4; i++) {
            bool in = false;
            for (int j = 0; j < 4; j++) in |= c[g].members[i] == ids[t][j];
            cr_assert(in, "cluster %zu mixes topics", g);
        }
        bool named = false;
        for (size_t j = 0; j < c[g].nterms; j++) named |= !strcmp(c[g].terms[j], expect[t]);
        cr_assert(named, "cluster of '%s' labelled '%s'", expect[t], c[g].label);
    }
    memory_clusters_free(c, n);
    cr_assert_eq(memory_cluster_docs(M, NULL, 2, 0, &c, &n, &sil), 0);
    cr_assert_eq(n, 2, "a given k is used");
    memory_clusters_free(c, n);
    cr_assert_eq(memory_cluster_docs(M, NULL, 100000, 0, &c, &n, &sil), FS_EINVAL);
}

/* --- memory ranking ------------------------------------------------------ */

static int64_t CLOCK_NOW;
static fs_clock MANUAL = { fs_clock_manual_now, &CLOCK_NOW };

Test(memory, ranking_adds_importance_and_recency)
{
    memory_close(M);
    CLOCK_NOW = 1000LL * 3600 * 1000; /* hour 1000 */
    memory_config mc = { .clk = &MANUAL };
    cr_assert_eq(memory_open(&M, T.st, E, &SP, &mc), 0);
    fs_doc old = { .content = "Meeting notes: pricing discussion", .metadata = "{}",
                   .tags = "[]", .importance = 0.2 };
    cr_assert_eq(memory_add(M, &old, 1, NULL), 0);
    CLOCK_NOW += 48LL * 3600 * 1000; /* two days later */
    fs_doc fresh = { .content = "Meeting notes: pricing discussion", .metadata = "{}",
                     .tags = "[]", .importance = 0.2 };
    fs_doc vital = { .content = "Meeting notes: pricing discussion", .metadata = "{}",
                     .tags = "[]", .importance = 1.0 };
    cr_assert_eq(memory_add(M, &fresh, 1, NULL), 0);
    CLOCK_NOW -= 48LL * 3600 * 1000;
    cr_assert_eq(memory_add(M, &vital, 1, NULL), 0); /* as old as `old` */
    CLOCK_NOW += 48LL * 3600 * 1000;
    /* Same text: equal relevance.  Recency alone puts `fresh` first. */
    memory_query q = { .text = "pricing meeting", .limit = 3,
                       .threshold = -INFINITY, .w_recency = 1,
                       .half_life_hours = 24 };
    memory_hit *h;
    size_t n;
    cr_assert_eq(memory_search(M, &q, &h, &n, NULL), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(h[0].doc.id, fresh.id);
    cr_assert_float_eq(h[0].score - h[0].relevance, 1.0, 1e-9, "age 0: full recency");
    cr_assert_float_eq(h[1].score - h[1].relevance, 0.25, 1e-9, "two half-lives");
    memory_hits_free(h, n);
    /* Importance outweighing recency puts `vital` first. */
    q.w_importance = 2;
    cr_assert_eq(memory_search(M, &q, &h, &n, NULL), 0);
    cr_assert_eq(h[0].doc.id, vital.id);
    memory_hits_free(h, n);
}

/* --- updates --------------------------------------------------------------- */

Test(memory, updates_change_fields_and_reembed_new_content)
{
    int64_t ids[4];
    corpus(ids);
    fs_doc d;
    cr_assert_eq(store_doc_get(T.st, ids[0], false, &d), 0);
    int64_t e0;
    cr_assert_eq(store_memory_epoch(T.st, &e0), 0);
    free(d.tags);
    d.tags = strdup("[\"escalated\"]");
    d.importance = 0.9;
    cr_assert_eq(memory_update(M, &d, false, NULL), 0);
    int64_t e1;
    cr_assert_eq(store_memory_epoch(T.st, &e1), 0);
    cr_assert_eq(e1, e0, "fields alone leave the vectors (and the epoch) be");
    fs_doc got;
    cr_assert_eq(store_doc_get(T.st, ids[0], false, &got), 0);
    cr_assert_str_eq(got.tags, "[\"escalated\"]");
    fs_doc_clear(&got);

    free(d.content);
    d.content = strdup("Warehouse inventory count for pallets");
    int urc = memory_update(M, &d, true, NULL);
    cr_assert_eq(urc, 0, "update: %s", fs_strerror(urc));
    size_t n;
    memory_hit *h = search("pallets inventory in the warehouse", 1, NULL, &n);
    cr_assert_eq(h[0].doc.id, ids[0], "found by its new content");
    memory_hits_free(h, n);
    h = search("refund for the Acme invoice", 4, NULL, &n);
    cr_assert_neq(h[0].doc.id, ids[0], "no longer by its old content");
    memory_hits_free(h, n);

    /* Growing past the chunk size: chunks replace the single vector. */
    char big[2000] = "";
    for (int i = 0; i < 20; i++) strcat(big, "Pallet audit and warehouse inventory. ");
    free(d.content);
    d.content = strdup(big);
    size_t before = memory_indexed(M);
    cr_assert_eq(memory_update(M, &d, true, NULL), 0);
    cr_assert_gt(memory_indexed(M), before, "chunks indexed, the old vector gone");
    free(d.content);
    d.content = strdup("short again");
    cr_assert_eq(memory_update(M, &d, true, NULL), 0);
    cr_assert_eq(memory_indexed(M), before, "chunks dropped with their vectors");
    fs_doc_clear(&d);
    d = (fs_doc){ .id = 987654, .content = "x", .metadata = "{}", .tags = "[]" };
    cr_assert_eq(memory_update(M, &d, false, NULL), FS_ENOTFOUND);
}

/* --- consolidation ------------------------------------------------------- */

Test(memory, consolidation_merges_near_duplicates_into_the_older)
{
    fs_doc a = { .content = "Acme asked for a refund of invoice 1042",
                 .metadata = "{\"source\":\"email\"}", .tags = "[\"billing\"]",
                 .importance = 0.3 };
    fs_doc b = { .content = "Acme asked for a refund of invoice 1042.",
                 .metadata = "{\"source\":\"call\",\"rep\":\"ana\"}",
                 .tags = "[\"vip\"]", .importance = 0.8 };
    fs_doc c = { .content = "Initech renewed the enterprise licence",
                 .metadata = "{}", .tags = "[]", .importance = 0.5 };
    cr_assert_eq(memory_add(M, &a, 1, NULL), 0);
    cr_assert_eq(memory_add(M, &b, 1, NULL), 0);
    cr_assert_eq(memory_add(M, &c, 1, NULL), 0);
    memory_merge *mg;
    size_t n;
    cr_assert_eq(memory_consolidate(M, NULL, 0.95, true, &mg, &n), 0);
    cr_assert_eq(n, 1, "only the near-duplicate pair");
    cr_assert_eq(mg[0].survivor, a.id);
    cr_assert_eq(mg[0].merged, b.id);
    cr_assert_geq(mg[0].similarity, 0.95);
    free(mg);
    cr_assert_eq(memory_indexed(M), 3, "a dry run changes nothing");
    cr_assert_eq(memory_consolidate(M, NULL, 0.95, false, &mg, &n), 0);
    cr_assert_eq(n, 1);
    free(mg);
    fs_doc got;
    cr_assert_eq(store_doc_get(T.st, b.id, false, &got), FS_ENOTFOUND);
    cr_assert_eq(store_doc_get(T.st, a.id, false, &got), 0);
    cr_assert_str_eq(got.tags, "[\"billing\",\"vip\"]");
    cr_assert_str_eq(got.metadata, "{\"source\":\"email\",\"rep\":\"ana\"}",
                     "the survivor's keys win, new keys are added");
    cr_assert_float_eq(got.importance, 0.8, 1e-9);
    fs_doc_clear(&got);
    cr_assert_eq(memory_indexed(M), 2);
    cr_assert_eq(memory_consolidate(M, NULL, 2, true, &mg, &n), FS_EINVAL);
}
