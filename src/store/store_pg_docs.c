/*
 * store_pg_docs.c - the memory part of the PostgreSQL backend (see store.h
 * for the contract): documents and their chunks, the memory epoch and
 * settings, BM25 text search, term statistics and the embedding cache.
 *
 * Text search reads words exactly as the SQLite backend and the local
 * embedder do: text.h tokenises and stems here, in C, and a document's
 * tsv column holds the result as a tsvector literal ('term':pos,...) made
 * before its transaction starts; PostgreSQL's own parsers never see the
 * text.  A query becomes 'term' | 'term' ... (quoted, so user text cannot
 * inject tsquery syntax), matched through the GIN index and ranked by
 * PG_TEXT_SEARCH's BM25 (the counts it needs are kept in
 * documents_totals).  Limits of tsvector apply: positions past 16383 read
 * as 16383, a term keeps at most 256 of them (term frequencies in very
 * long documents are capped) and an entry stays under 1 MB (pgs_doc_tsv).
 *
 * Embeddings are bytea holding float32 little-endian, the bytes SQLite
 * keeps; the cache is read and written in one statement per batch.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/xmem.h"
#include "memory/text.h"
#include "store/pg_conn.h"
#include "store/store.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "embeddings are stored as float32 little-endian");

enum {
    DOC_FILTER_MAX = 16,
    TEXT_QUERY_TERMS = 64,
    MAX_POS = 16383,        /* tsvector's largest position */
    MAX_TERM_POS = 256,     /* and positions per term */
    TSV_BUDGET = 900000,    /* bytes of one tsvector (the limit is 1 MB) */
};

/* --- terms: tsvector and tsquery literals ------------------------------ */

typedef struct term_pos {
    char term[TEXT_MAX_TOKEN + 8];
    int pos;
} term_pos;

typedef struct term_list {
    term_pos *v;
    size_t n, cap;
    bool stemmed; /* collect terms (documents) or words (queries) */
} term_list;

static bool collect_term(void *ctx, const text_token *t)
{
    term_list *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    term_pos *tp = &l->v[l->n++];
    snprintf(tp->term, sizeof tp->term, "%s", l->stemmed ? t->term : t->word);
    tp->pos = t->index + 1 < MAX_POS ? (int)t->index + 1 : MAX_POS;
    return true;
}

static int term_cmp(const void *x, const void *y)
{
    const term_pos *a = x, *b = y;
    int c = strcmp(a->term, b->term);
    return c ? c : a->pos - b->pos;
}

/* Appends 'term' to b, quoted for tsvector/tsquery input. */
static void put_lexeme(fs_buf *b, const char *term)
{
    fs_buf_printf(b, "'");
    for (const char *s = term; *s; s++)
        fs_buf_printf(b, "%s%c", *s == '\'' || *s == '\\' ? "\\" : "", *s);
    fs_buf_printf(b, "'");
}

/* The stemmed terms of text (sorted, with positions).  OUT: *l. */
static int tokenize(const char *text, term_list *l)
{
    text_tokenizer *t;
    if (text_tokenizer_open(&t, "english")) return FS_EIO;
    l->stemmed = true;
    text_tokenize(t, text, strlen(text), collect_term, l);
    text_tokenizer_close(t);
    if (l->n > 1) qsort(l->v, l->n, sizeof *l->v, term_cmp);
    return 0;
}

/* A document's index entry.  A term keeps at most MAX_TERM_POS positions
 * and terms stop once the entry would pass TSV_BUDGET bytes (PostgreSQL
 * refuses a tsvector of 1 MB): only pathological texts (a megabyte of
 * distinct words) lose the tail of their index.  OUT: *tsv (a tsvector
 * literal, caller frees with fs_buf_free), *ntokens. */
int pgs_doc_tsv(const char *content, fs_buf *tsv, int *ntokens)
{
    term_list l = { 0 };
    int rc = tokenize(content ? content : "", &l);
    fs_buf_printf(tsv, "%s", "");
    size_t bytes = 0; /* the stored size, as tsvector lays it out */
    int npos = 0;
    for (size_t i = 0; !rc && i < l.n; i++) {
        bool first = i == 0 || strcmp(l.v[i].term, l.v[i - 1].term);
        if (first) {
            bytes += 10 + strlen(l.v[i].term); /* entry, lexeme, a pos */
            if (bytes > TSV_BUDGET) break;
            if (i) fs_buf_printf(tsv, " ");
            put_lexeme(tsv, l.v[i].term);
            fs_buf_printf(tsv, ":%d", l.v[i].pos);
            npos = 1;
        } else if (l.v[i].pos != l.v[i - 1].pos && npos < MAX_TERM_POS) {
            if ((bytes += 2) > TSV_BUDGET) break;
            fs_buf_printf(tsv, ",%d", l.v[i].pos);
            npos++;
        }
    }
    *ntokens = (int)l.n;
    free(l.v);
    return rc;
}

/* --- documents: add ---------------------------------------------------- */

typedef struct doc_arg {
    fs_doc *docs;
    size_t n;
    int64_t now, id;
    bool with_embedding;
    const store_doc_filter *f;
    fs_buf *tsv;        /* per doc */
    int *ntokens;
    int64_t *ids;
    size_t nids;
    fs_doc *out;
} doc_arg;

static int bump_epoch(pgc *c)
{
    return pgc_exec(c, PG_EPOCH_BUMP, NULL, NULL);
}

/* Inserts docs[i] with parent `parent` (0 = none).  OUT: ids[i]. */
static int doc_insert(pgc *c, doc_arg *a, size_t i, int64_t parent)
{
    const fs_doc *d = &a->docs[i];
    pgc_params p = { 0 };
    pgc_time(&p, parent);
    if (d->chunk_index >= 0) pgc_int(&p, d->chunk_index);
    else pgc_text(&p, NULL);
    pgc_text(&p, d->agent);
    pgc_text(&p, d->kind);
    pgc_text(&p, d->content ? d->content : "");
    pgc_text(&p, d->metadata ? d->metadata : "{}");
    pgc_text(&p, d->tags ? d->tags : "[]");
    pgc_double(&p, d->importance);
    pgc_bytes(&p, d->embedding, d->dims * sizeof(float));
    pgc_text(&p, d->embedder);
    pgc_text(&p, d->embedder_version);
    pgc_int(&p, a->now);
    pgc_text(&p, a->tsv[i].data);
    pgc_int(&p, a->ntokens[i]);
    PGresult *r;
    int rc = pgc_one(c, PG_DOC_INSERT, &p, &r);
    if (rc) return rc == FS_ENOTFOUND ? FS_EIO : rc;
    a->ids[i] = pgc_get_int(r, 0, 0);
    PQclear(r);
    return 0;
}

static int doc_add_fn(pgc *c, void *arg)
{
    doc_arg *a = arg;
    for (size_t i = 0; i < a->n; i++) {
        const fs_doc *d = &a->docs[i];
        int64_t parent = d->parent_ref >= 0 ? a->ids[d->parent_ref]
                                            : d->parent_id;
        int rc = doc_insert(c, a, i, parent);
        if (rc) return rc;
    }
    return bump_epoch(c);
}

/* The index entries of docs[0..n), made before any transaction. */
static int index_docs(doc_arg *a)
{
    a->tsv = xcalloc(a->n ? a->n : 1, sizeof *a->tsv);
    a->ntokens = xcalloc(a->n ? a->n : 1, sizeof *a->ntokens);
    for (size_t i = 0; i < a->n; i++) {
        int rc = pgs_doc_tsv(a->docs[i].content, &a->tsv[i], &a->ntokens[i]);
        if (rc) return rc;
    }
    return 0;
}

static void index_free(doc_arg *a)
{
    for (size_t i = 0; a->tsv && i < a->n; i++) fs_buf_free(&a->tsv[i]);
    free(a->tsv);
    free(a->ntokens);
}

int pgs_doc_add(store *st, fs_doc *docs, size_t n, int64_t now)
{
    for (size_t i = 0; i < n; i++)
        if (docs[i].parent_ref >= 0 && (size_t)docs[i].parent_ref >= i)
            return FS_EINVAL;
    doc_arg a = { .docs = docs, .n = n, .now = now,
                  .ids = xcalloc(n ? n : 1, sizeof(int64_t)) };
    int rc = index_docs(&a);
    if (!rc) rc = pgc_run(pgs_pool(st), PGC_WRITE, doc_add_fn, &a);
    for (size_t i = 0; !rc && i < n; i++) {
        docs[i].id = a.ids[i];
        if (docs[i].parent_ref >= 0)
            docs[i].parent_id = a.ids[docs[i].parent_ref];
        docs[i].created_at = docs[i].updated_at = now;
    }
    index_free(&a);
    free(a.ids);
    return rc;
}

/* --- documents: update ------------------------------------------------- */

typedef struct update_arg {
    const fs_doc *d;
    bool content;
    doc_arg chunks;     /* the new chunks, indexed */
    fs_buf tsv;         /* d's own index entry */
    int ntokens;
    int64_t now;
    int64_t *removed;
    size_t nremoved;
} update_arg;

static int update_meta(pgc *c, const fs_doc *d, int64_t now)
{
    pgc_params p = { 0 };
    pgc_int(&p, d->id);
    pgc_text(&p, d->kind);
    pgc_text(&p, d->agent);
    pgc_text(&p, d->metadata ? d->metadata : "{}");
    pgc_text(&p, d->tags ? d->tags : "[]");
    pgc_double(&p, d->importance);
    pgc_int(&p, now);
    int rc = pgc_exec(c, PG_DOC_UPDATE_META, &p, NULL);
    if (rc) return rc;
    return pgc_changes(c) ? 0 : FS_ENOTFOUND;
}

static void row_id(const PGresult *r, int row, void *rec)
{
    *(int64_t *)rec = pgc_get_int(r, row, 0);
}

static int id_cmp(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* Drops d's chunks (OUT: a->removed), rewrites its content, inserts the
 * new chunks. */
static int update_content(pgc *c, update_arg *a)
{
    const fs_doc *d = a->d;
    pgc_params p = { 0 };
    pgc_int(&p, d->id);
    int rc = pgc_collect(c, PG_DOC_DELETE_CHUNKS, &p, sizeof(int64_t), row_id,
                         (void **)&a->removed, &a->nremoved);
    if (rc) return rc;
    p = (pgc_params){ 0 };
    pgc_int(&p, d->id);
    pgc_text(&p, d->content ? d->content : "");
    pgc_bytes(&p, d->embedding, d->dims * sizeof(float));
    pgc_text(&p, d->embedder);
    pgc_text(&p, d->embedder_version);
    pgc_int(&p, a->now);
    pgc_text(&p, a->tsv.data);
    pgc_int(&p, a->ntokens);
    if ((rc = pgc_exec(c, PG_DOC_UPDATE_CONTENT, &p, NULL))) return rc;
    for (size_t i = 0; !rc && i < a->chunks.n; i++)
        rc = doc_insert(c, &a->chunks, i, d->id);
    return rc ? rc : bump_epoch(c);
}

static int doc_update_fn(pgc *c, void *arg)
{
    update_arg *a = arg;
    free(a->removed);
    a->removed = NULL;
    a->nremoved = 0;
    int rc = update_meta(c, a->d, a->now);
    if (!rc && a->content) rc = update_content(c, a);
    return rc;
}

int pgs_doc_update(store *st, const fs_doc *d, bool content, fs_doc *chunks,
                   size_t n, int64_t now, int64_t **removed, size_t *nremoved)
{
    update_arg a = { .d = d, .content = content, .now = now };
    a.chunks = (doc_arg){ .docs = chunks, .n = content ? n : 0, .now = now,
                          .ids = xcalloc(n ? n : 1, sizeof(int64_t)) };
    int rc = index_docs(&a.chunks);
    if (!rc && content) rc = pgs_doc_tsv(d->content, &a.tsv, &a.ntokens);
    if (!rc) rc = pgc_run(pgs_pool(st), PGC_WRITE, doc_update_fn, &a);
    for (size_t i = 0; !rc && i < a.chunks.n; i++) {
        chunks[i].id = a.chunks.ids[i];
        chunks[i].parent_id = d->id;
        chunks[i].parent_ref = -1;
    }
    index_free(&a.chunks);
    free(a.chunks.ids);
    fs_buf_free(&a.tsv);
    if (rc) {
        free(a.removed);
        return rc;
    }
    if (a.nremoved > 1)
        qsort(a.removed, a.nremoved, sizeof *a.removed, id_cmp);
    *removed = a.removed;
    *nremoved = a.nremoved;
    return 0;
}

/* --- documents: read and delete ---------------------------------------- */

static int doc_get_fn(pgc *c, void *arg)
{
    doc_arg *a = arg;
    pgc_params p = { 0 };
    pgc_int(&p, a->id);
    PGresult *r;
    int rc = pgc_one(c, PG_DOC_GET, &p, &r);
    if (rc) return rc;
    pgc_read_doc(r, 0, a->out, a->with_embedding);
    PQclear(r);
    return 0;
}

int pgs_doc_get(store *st, int64_t id, bool with_embedding, fs_doc *out)
{
    doc_arg a = { .id = id, .with_embedding = with_embedding, .out = out };
    return pgc_run(pgs_pool(st), PGC_READ, doc_get_fn, &a);
}

static int doc_delete_fn(pgc *c, void *arg)
{
    doc_arg *a = arg;
    free(a->ids);
    a->ids = NULL;
    a->nids = 0;
    pgc_params p = { 0 };
    pgc_int(&p, a->id);
    int rc = pgc_collect(c, PG_DOC_DELETE, &p, sizeof(int64_t), row_id,
                         (void **)&a->ids, &a->nids);
    if (rc) return rc;
    if (a->nids == 0) return FS_ENOTFOUND;
    return bump_epoch(c);
}

int pgs_doc_delete(store *st, int64_t id, int64_t **ids, size_t *n)
{
    doc_arg a = { .id = id };
    int rc = pgc_run(pgs_pool(st), PGC_WRITE, doc_delete_fn, &a);
    if (rc) {
        free(a.ids);
        return rc;
    }
    qsort(a.ids, a.nids, sizeof *a.ids, id_cmp);
    *ids = a.ids;
    *n = a.nids;
    return 0;
}

/* --- documents: filters ------------------------------------------------ */

/* The literals a filter binds (tags, metadata keys and values). */
typedef struct filter_lits {
    fs_buf tags, keys, values;
} filter_lits;

static void filter_lits_free(filter_lits *l)
{
    fs_buf_free(&l->tags);
    fs_buf_free(&l->keys);
    fs_buf_free(&l->values);
}

/*
 * Binds f as parameters $1-$10 of DOC_FILTER (pg_conn.c) and the limit as
 * $11.  Errors: FS_EINVAL (too many tags or keys, a metadata key holding
 * '"' or '\', refused as by the SQLite backend).
 */
static int bind_filter(pgc_params *p, const store_doc_filter *f,
                       filter_lits *l)
{
    if (f->ntags > DOC_FILTER_MAX || f->nmeta > DOC_FILTER_MAX)
        return FS_EINVAL;
    for (size_t i = 0; i < f->ntags; i++) pgc_array_add(&l->tags, f->tags[i]);
    for (size_t i = 0; i < f->nmeta; i++) {
        if (strpbrk(f->meta_keys[i], "\"\\")) return FS_EINVAL;
        pgc_array_add(&l->keys, f->meta_keys[i]);
        pgc_array_add(&l->values, f->meta_values[i]);
    }
    pgc_bool(p, f->with_chunks);
    pgc_text(p, f->agent);
    pgc_text(p, f->kind);
    pgc_text(p, f->ntags ? pgc_array_end(&l->tags) : NULL);
    pgc_text(p, f->nmeta ? pgc_array_end(&l->keys) : NULL);
    pgc_text(p, f->nmeta ? pgc_array_end(&l->values) : NULL);
    pgc_time(p, f->parent_id);
    pgc_time(p, f->since);
    pgc_time(p, f->until);
    pgc_time(p, f->before_id);
    pgc_int(p, f->limit > 0 ? f->limit : 50);
    return 0;
}

static void row_doc(const PGresult *r, int row, void *rec)
{
    pgc_read_doc(r, row, rec, false);
}

static void row_doc_embedding(const PGresult *r, int row, void *rec)
{
    pgc_read_doc(r, row, rec, true);
}

static int doc_list_fn(pgc *c, void *arg)
{
    doc_arg *a = arg;
    filter_lits l = { 0 };
    pgc_params p = { 0 };
    int rc = bind_filter(&p, a->f, &l);
    if (!rc)
        rc = pgc_collect(c, PG_DOC_LIST, &p, sizeof(fs_doc),
                         a->with_embedding ? row_doc_embedding : row_doc,
                         (void **)&a->out, &a->n);
    filter_lits_free(&l);
    return rc;
}

int pgs_doc_list(store *st, const store_doc_filter *f, bool with_embedding,
                 fs_doc **out, size_t *n)
{
    doc_arg a = { .f = f, .with_embedding = with_embedding };
    int rc = pgc_run(pgs_pool(st), PGC_READ, doc_list_fn, &a);
    if (!rc) {
        *out = a.out;
        *n = a.n;
    }
    return rc;
}

/* --- BM25 text search and term statistics ------------------------------ */

typedef struct text_arg {
    const store_doc_filter *f;
    const char *terms, *queries, *any; /* text[], tsquery[], tsquery */
    store_hit *out;
    size_t n;
    const char *term;                  /* term_stats: the tsquery */
    int64_t df, ndocs;
} text_arg;

static void row_hit(const PGresult *r, int row, void *rec)
{
    store_hit *h = rec;
    h->id = pgc_get_int(r, row, 0);
    h->score = pgc_get_double(r, row, 1);
}

static int text_search_fn(pgc *c, void *arg)
{
    text_arg *a = arg;
    filter_lits l = { 0 };
    pgc_params p = { 0 };
    int rc = bind_filter(&p, a->f, &l);
    if (!rc) {
        pgc_text(&p, a->terms);
        pgc_text(&p, a->queries);
        pgc_text(&p, a->any);
        rc = pgc_collect(c, PG_TEXT_SEARCH, &p, sizeof(store_hit), row_hit,
                         (void **)&a->out, &a->n);
    }
    filter_lits_free(&l);
    return rc;
}

/* The query's distinct stemmed terms (at most TEXT_QUERY_TERMS) as the
 * three literals PG_TEXT_SEARCH takes.  OUT: the buffers; false when the
 * query has no word. */
static int query_terms(const char *query, fs_buf *terms, fs_buf *queries,
                       fs_buf *any, bool *some)
{
    term_list l = { 0 };
    int rc = tokenize(query, &l);
    size_t used = 0;
    for (size_t i = 0; !rc && i < l.n && used < TEXT_QUERY_TERMS; i++) {
        if (i && !strcmp(l.v[i].term, l.v[i - 1].term)) continue;
        fs_buf one = { 0 };
        put_lexeme(&one, l.v[i].term);
        pgc_array_add(terms, l.v[i].term);
        pgc_array_add(queries, one.data);
        fs_buf_printf(any, "%s%s", used ? " | " : "", one.data);
        fs_buf_free(&one);
        used++;
    }
    free(l.v);
    *some = used > 0;
    return rc;
}

int pgs_doc_text_search(store *st, const char *query,
                        const store_doc_filter *f, store_hit **out, size_t *n)
{
    fs_buf terms = { 0 }, queries = { 0 }, any = { 0 };
    bool some = false;
    text_arg a = { .f = f };
    int rc = query_terms(query, &terms, &queries, &any, &some);
    if (!rc && some) {
        a.terms = pgc_array_end(&terms);
        a.queries = pgc_array_end(&queries);
        a.any = any.data;
        rc = pgc_run(pgs_pool(st), PGC_READ, text_search_fn, &a);
    }
    fs_buf_free(&terms);
    fs_buf_free(&queries);
    fs_buf_free(&any);
    if (rc) return rc;
    *out = a.out;
    *n = a.n;
    return 0;
}

static int count_of(pgc *c, pgc_stmt_id id, const char *arg, int64_t *out)
{
    pgc_params p = { 0 };
    if (arg) pgc_text(&p, arg);
    PGresult *r;
    int rc = pgc_one(c, id, &p, &r);
    if (rc) return rc == FS_ENOTFOUND ? FS_EIO : rc;
    *out = pgc_get_int(r, 0, 0);
    PQclear(r);
    return 0;
}

/* term NULL: no document frequency; a->ndocs < 0: no count. */
static int term_stats_fn(pgc *c, void *arg)
{
    text_arg *a = arg;
    int rc = a->term ? count_of(c, PG_TERM_DF, a->term, &a->df) : 0;
    if (rc || a->ndocs < 0) return rc;
    return count_of(c, PG_DOC_TOTALS, NULL, &a->ndocs);
}

int pgs_term_stats(store *st, const char *term, int64_t *df, int64_t *ndocs)
{
    fs_buf q = { 0 };
    if (term && *term) put_lexeme(&q, term);
    text_arg a = { .term = q.data, .ndocs = ndocs ? 0 : -1 };
    int rc = pgc_run(pgs_pool(st), PGC_READ, term_stats_fn, &a);
    fs_buf_free(&q);
    if (!rc) {
        if (df) *df = a.df;
        if (ndocs) *ndocs = a.ndocs;
    }
    return rc;
}

/* --- settings and the memory epoch ------------------------------------- */

typedef struct setting_arg {
    const char *key, *value;
    char *stored;
} setting_arg;

static int setting_read(pgc *c, setting_arg *a)
{
    pgc_params p = { 0 };
    pgc_text(&p, a->key);
    PGresult *r;
    int rc = pgc_one(c, PG_SETTING_GET, &p, &r);
    if (rc) return rc;
    free(a->stored);
    a->stored = pgc_get_text(r, 0, 0);
    PQclear(r);
    return 0;
}

static int epoch_fn(pgc *c, void *arg) { return setting_read(c, arg); }

int pgs_memory_epoch(store *st, int64_t *epoch)
{
    setting_arg a = { .key = "epoch" };
    int rc = pgc_run(pgs_pool(st), PGC_READ, epoch_fn, &a);
    if (!rc) *epoch = strtoll(a.stored, NULL, 10);
    free(a.stored);
    return rc;
}

static int setting_init_fn(pgc *c, void *arg)
{
    setting_arg *a = arg;
    pgc_params p = { 0 };
    pgc_text(&p, a->key);
    pgc_text(&p, a->value);
    int rc = pgc_exec(c, PG_SETTING_INIT, &p, NULL);
    return rc ? rc : setting_read(c, a);
}

int pgs_setting_init(store *st, const char *key, const char *value,
                     char **stored)
{
    setting_arg a = { .key = key, .value = value };
    int rc = pgc_run(pgs_pool(st), PGC_WRITE, setting_init_fn, &a);
    if (rc) {
        free(a.stored);
        return rc;
    }
    *stored = a.stored;
    return 0;
}

/* --- embedding cache --------------------------------------------------- */

static void put_hex(fs_buf *b, const void *bytes, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *hex = xmalloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[((const uint8_t *)bytes)[i] >> 4];
        hex[2 * i + 1] = digits[((const uint8_t *)bytes)[i] & 15];
    }
    hex[2 * n] = '\0';
    pgc_array_add(b, hex);
    free(hex);
}

typedef struct cache_arg {
    const char *embedder;
    const char *hashes, *vecs; /* text[] literals of hex */
    size_t n, dims;
    float *out;
    bool *found;
    int64_t now;
} cache_arg;

static int cache_get_fn(pgc *c, void *arg)
{
    cache_arg *a = arg;
    pgc_params p = { 0 };
    pgc_text(&p, a->embedder);
    pgc_text(&p, a->hashes);
    PGresult *r;
    int rc = pgc_exec(c, PG_CACHE_GET, &p, &r);
    if (rc) return rc;
    size_t bytes = a->dims * sizeof(float);
    memset(a->found, 0, a->n * sizeof *a->found);
    for (int row = 0; row < PQntuples(r); row++) {
        int64_t i = pgc_get_int(r, row, 0) - 1;
        void *v;
        size_t len;
        pgc_get_bytes(r, row, 1, &v, &len);
        if (i >= 0 && (size_t)i < a->n && len == bytes) {
            memcpy(a->out + (size_t)i * a->dims, v, bytes);
            a->found[i] = true;
        }
        free(v);
    }
    PQclear(r);
    return 0;
}

int pgs_cache_get(store *st, const char *embedder,
                  const uint8_t (*hashes)[32], size_t n, size_t dims,
                  float *out, bool *found)
{
    if (n == 0) return 0;
    fs_buf h = { 0 };
    for (size_t i = 0; i < n; i++) put_hex(&h, hashes[i], 32);
    cache_arg a = { embedder, pgc_array_end(&h), NULL, n, dims, out, found,
                    0 };
    int rc = pgc_run(pgs_pool(st), PGC_READ, cache_get_fn, &a);
    fs_buf_free(&h);
    return rc;
}

static int cache_put_fn(pgc *c, void *arg)
{
    cache_arg *a = arg;
    pgc_params p = { 0 };
    pgc_text(&p, a->embedder);
    pgc_text(&p, a->hashes);
    pgc_text(&p, a->vecs);
    pgc_int(&p, a->now);
    return pgc_exec(c, PG_CACHE_PUT, &p, NULL);
}

int pgs_cache_put(store *st, const char *embedder,
                  const uint8_t (*hashes)[32], size_t n, size_t dims,
                  const float *vecs, int64_t now)
{
    if (n == 0) return 0;
    fs_buf h = { 0 }, v = { 0 };
    for (size_t i = 0; i < n; i++) {
        put_hex(&h, hashes[i], 32);
        put_hex(&v, vecs + i * dims, dims * sizeof(float));
    }
    cache_arg a = { embedder, pgc_array_end(&h), pgc_array_end(&v), n, dims,
                    NULL, NULL, now };
    int rc = pgc_run(pgs_pool(st), PGC_WRITE, cache_put_fn, &a);
    fs_buf_free(&h);
    fs_buf_free(&v);
    return rc;
}
