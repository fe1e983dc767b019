/*
 * memory.c - the MemoryService (see memory.h for the rules).
 *
 * Ownership inside memory_add: the records handed to the store borrow the
 * caller's strings; only chunk texts and the freshly computed vectors are
 * allocated here, in `pieces`, and freed at the end.
 */
#include "memory/memory.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/cond.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/rand.h"
#include "core/xmem.h"
#include "memory/cluster.h"
#include "memory/hnsw.h"
#include "memory/topics.h"
#include "memory/vfile.h"

#define REBUILD_PAGE 1000
#define CHANGE_PAGE 1000
#define CHANGE_KEEP_MS (3600 * 1000) /* change rows older are dropped */
#define PRUNE_EVERY_MS (600 * 1000)
#define MAX_FILTER_IDS 1000000
#define RECALL_K 10

struct memory {
    store *st;
    embedder *emb;
    mem_space sp;
    memory_config cfg;
    pthread_rwlock_t lock; /* guards idx */
    hnsw *idx;
    _Atomic int ef;        /* beam width of a query that gives none */
    bool loaded;           /* the index came from the file */
    bool ready;            /* open finished: the index matches the store */
    const fs_clock *clk;
    pthread_mutex_t sync;  /* one catch-up at a time; guards seq, stop */
    int64_t seq;           /* the change log read up to */
    pthread_cond_t wake;   /* the sync thread's nap */
    pthread_t syncer;
    bool syncing, stop;
};

/* --- open: the index from the store ----------------------------------- */

/* Can v go into the index?  (Cosine needs a non-zero vector.) */
static bool usable(const memory *m, const float *v, size_t dims)
{
    if (!v || dims != m->sp.dims || !vec_finite(v, dims)) return false;
    return m->sp.metric != VEC_COSINE || vec_dot(v, v, dims) > 0;
}

/* Builds the index from every stored vector, a page at a time, inserting
 * each page with the build threads. */
static int rebuild(memory *m)
{
    store_doc_filter f = { .with_chunks = true, .limit = REBUILD_PAGE };
    size_t d = m->sp.dims;
    int64_t *ids = xmalloc(REBUILD_PAGE * sizeof *ids);
    float *vecs = xmalloc(REBUILD_PAGE * d * sizeof *vecs);
    int rc;
    for (;;) {
        fs_doc *docs;
        size_t n, k = 0;
        if ((rc = store_doc_list(m->st, &f, true, &docs, &n))) break;
        for (size_t i = 0; i < n; i++)
            if (usable(m, docs[i].embedding, docs[i].dims)) {
                ids[k] = docs[i].id;
                memcpy(vecs + k++ * d, docs[i].embedding, d * sizeof *vecs);
            }
        if (n) f.before_id = docs[n - 1].id;
        fs_docs_free(docs, n);
        if (k && (rc = hnsw_add_batch(m->idx, ids, vecs, d, k,
                                      m->cfg.build_threads)))
            break;
        if (n < REBUILD_PAGE) break;
    }
    free(ids);
    free(vecs);
    return rc;
}

/* Loads the index file when it is current, else rebuilds from the store. */
static int load_index(memory *m)
{
    int64_t epoch = 0;
    int rc = store_memory_epoch(m->st, &epoch);
    if (rc) return rc;
    if (m->cfg.index_path) {
        hnsw *h;
        rc = vfile_load(m->cfg.index_path, epoch, m->sp.dims, m->sp.metric, &h);
        if (!rc) {
            m->idx = h;
            m->loaded = true;
            return 0;
        }
        if (rc != FS_ENOTFOUND)
            log_warn("memory: index file %s is %s; rebuilding from the store",
                     m->cfg.index_path,
                     rc == FS_ECONFLICT ? "stale" : "damaged");
    }
    if ((rc = hnsw_open(&m->idx, m->sp.dims, m->sp.metric, &m->cfg.hnsw)))
        return rc;
    return rebuild(m);
}

/* --- other processes' writes ------------------------------------------- */

/* One change: the document's vector replaced, or removed when it was
 * deleted, has none (chunked) or is gone already. */
static int apply_change(memory *m, const store_doc_change *c)
{
    fs_doc d = { 0 };
    int rc = c->deleted ? FS_ENOTFOUND : store_doc_get(m->st, c->doc_id, true, &d);
    if (rc && rc != FS_ENOTFOUND) return rc;
    bool add = !rc && usable(m, d.embedding, d.dims);
    pthread_rwlock_wrlock(&m->lock);
    hnsw_remove(m->idx, c->doc_id); /* absent: fine */
    if (add) rc = hnsw_add(m->idx, c->doc_id, d.embedding, d.dims);
    pthread_rwlock_unlock(&m->lock);
    fs_doc_clear(&d);
    return add ? rc : 0;
}

int memory_catch_up(memory *m, size_t *applied)
{
    size_t done = 0;
    int rc = 0;
    pthread_mutex_lock(&m->sync);
    for (;;) {
        store_doc_change *ch;
        size_t n;
        int64_t head;
        if ((rc = store_doc_changes(m->st, m->seq, CHANGE_PAGE, &ch, &n, &head))) break;
        for (size_t i = 0; i < n && !rc; i++, done++) rc = apply_change(m, &ch[i]);
        free(ch);
        if (rc || head == m->seq) break;
        m->seq = head;
    }
    pthread_mutex_unlock(&m->sync);
    if (applied) *applied = done;
    return rc;
}

/* Catches up whenever the memory epoch moved; prunes old change rows. */
static void *sync_main(void *arg)
{
    memory *m = arg;
    int64_t seen = -1, pruned = fs_mono_ms();
    pthread_mutex_lock(&m->sync);
    while (!m->stop) {
        fs_cond_wait_until(&m->wake, &m->sync, fs_mono_ms() + m->cfg.sync_ms);
        if (m->stop) break;
        pthread_mutex_unlock(&m->sync);
        int64_t epoch;
        size_t n;
        int rc = store_memory_epoch(m->st, &epoch);
        if (!rc && epoch != seen && !(rc = memory_catch_up(m, &n))) {
            seen = epoch;
            if (n) log_debug("memory: %zu change(s) of other processes applied", n);
        }
        if (!rc && fs_mono_ms() - pruned > PRUNE_EVERY_MS) {
            rc = store_doc_changes_prune(m->st, fs_now(&fs_clock_real) - CHANGE_KEEP_MS, &n);
            pruned = fs_mono_ms();
        }
        if (rc) log_warn("memory: catching up with other processes: %s", fs_strerror(rc));
        pthread_mutex_lock(&m->sync);
    }
    pthread_mutex_unlock(&m->sync);
    return NULL;
}

int memory_open(memory **out, store *st, embedder *emb, const mem_space *sp,
                const memory_config *cfg)
{
    memory *m = xcalloc(1, sizeof *m);
    m->st = st;
    m->emb = emb;
    m->sp = *sp;
    if (cfg) m->cfg = *cfg;
    if (!m->cfg.chunk_size) m->cfg.chunk_size = 2000;
    if (!m->cfg.chunk_overlap) m->cfg.chunk_overlap = 200;
    if (m->cfg.chunk_overlap >= m->cfg.chunk_size)
        m->cfg.chunk_overlap = m->cfg.chunk_size / 4;
    if (m->cfg.build_threads < 1) m->cfg.build_threads = 2;
    m->clk = m->cfg.clk ? m->cfg.clk : &fs_clock_real;
    atomic_init(&m->ef, m->cfg.hnsw.ef_search > 0 ? m->cfg.hnsw.ef_search : 64);
    pthread_rwlock_init(&m->lock, NULL);
    pthread_mutex_init(&m->sync, NULL);
    fs_cond_init(&m->wake);
    store_doc_change *none;
    size_t nnone;
    /* the head before the index is read: what comes after is caught up */
    int rc = store_doc_changes(st, 0, 0, &none, &nnone, &m->seq);
    if (!rc) rc = load_index(m);
    if (rc) {
        memory_close(m);
        return rc;
    }
    m->ready = true;
    if (m->cfg.sync_ms > 0 && pthread_create(&m->syncer, NULL, sync_main, m) == 0)
        m->syncing = true;
    log_info("memory: %zu vectors indexed (%zu dims, %s), %s",
             hnsw_count(m->idx), sp->dims, vec_metric_name(sp->metric),
             m->loaded ? "loaded from the index file" : "built from the store");
    *out = m;
    return 0;
}

/* The epoch the index matches: with other processes writing, the one
 * before a final catch-up that saw no new write (else *ok is false). */
static int epoch_of_index(memory *m, int64_t *epoch, bool *ok)
{
    int rc = store_memory_epoch(m->st, epoch);
    *ok = rc == 0;
    if (rc || !m->syncing) return rc;
    int64_t after;
    if ((rc = memory_catch_up(m, NULL)) || (rc = store_memory_epoch(m->st, &after)))
        return rc;
    *ok = after == *epoch;
    return 0;
}

void memory_close(memory *m)
{
    if (!m) return;
    if (m->syncing) {
        pthread_mutex_lock(&m->sync);
        m->stop = true;
        pthread_cond_signal(&m->wake);
        pthread_mutex_unlock(&m->sync);
        pthread_join(m->syncer, NULL);
    }
    int64_t epoch;
    bool ok = false;
    if (m->ready && m->cfg.index_path && epoch_of_index(m, &epoch, &ok) == 0 && ok)
        vfile_save(m->cfg.index_path, m->idx, epoch);
    hnsw_close(m->idx);
    pthread_rwlock_destroy(&m->lock);
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->sync);
    free(m);
}

bool memory_index_loaded(memory *m) { return m->loaded; }

size_t memory_indexed(memory *m)
{
    pthread_rwlock_rdlock(&m->lock);
    size_t n = hnsw_count(m->idx);
    pthread_rwlock_unlock(&m->lock);
    return n;
}

int memory_ef(memory *m) { return atomic_load(&m->ef); }

int memory_set_ef(memory *m, int ef)
{
    if (ef < 1 || ef > MEMORY_MAX_EF) return FS_EINVAL;
    atomic_store(&m->ef, ef);
    return 0;
}

/* Recall@RECALL_K of the graph at beam ef for the query vector of id:
 * adds the hits shared with the exact scan to *hits, the exact ones to
 * *want.  Takes the read lock; an id removed meanwhile adds nothing. */
static void recall_one(memory *m, int64_t id, int ef, float *q, size_t *hits,
                       size_t *want)
{
    int64_t got[RECALL_K], truth[RECALL_K];
    size_t ng = 0, nt = 0, d = m->sp.dims;
    pthread_rwlock_rdlock(&m->lock);
    if (!hnsw_get(m->idx, id, q, d) &&
        !hnsw_search(m->idx, q, d, RECALL_K, ef, NULL, NULL, got, NULL, &ng))
        hnsw_search_exact(m->idx, q, d, RECALL_K, truth, NULL, &nt);
    pthread_rwlock_unlock(&m->lock);
    for (size_t i = 0; i < nt; i++)
        for (size_t j = 0; j < ng; j++)
            if (truth[i] == got[j]) {
                ++*hits;
                break;
            }
    *want += nt;
}

int memory_recall_check(memory *m, size_t samples, int ef, double *recall)
{
    *recall = 1.0;
    if (ef < 1 || ef > MEMORY_MAX_EF || samples > MEMORY_MAX_BATCH) return FS_EINVAL;
    size_t d = m->sp.dims, n = 0, hits = 0, want = 0;
    float *q = xcalloc(d, sizeof *q);
    q[0] = 1; /* any query: the exact scan of every vector lists their ids */
    pthread_rwlock_rdlock(&m->lock);
    size_t live = hnsw_count(m->idx);
    int64_t *ids = xmalloc((live ? live : 1) * sizeof *ids);
    int rc = live > RECALL_K ? hnsw_search_exact(m->idx, q, d, live, ids, NULL, &n) : 0;
    pthread_rwlock_unlock(&m->lock);
    for (size_t i = 0; !rc && i < samples && i < n; i++) {
        size_t j = i + (size_t)(fs_rand01() * (double)(n - i));
        if (j >= n) j = n - 1;
        int64_t t = ids[i];
        ids[i] = ids[j];
        ids[j] = t;
        recall_one(m, ids[i], ef, q, &hits, &want);
    }
    if (want) *recall = (double)hits / (double)want;
    free(ids);
    free(q);
    return rc;
}

/* --- add -------------------------------------------------------------- */

/* The end of the chunk of s[0..len) starting at start: at most size bytes,
 * preferably just after whitespace in the window's second half, never
 * inside a UTF-8 sequence. */
static size_t chunk_end(const char *s, size_t len, size_t start, size_t size)
{
    if (len - start <= size) return len;
    size_t end = start + size;
    for (size_t i = end; i > start + size / 2; i--)
        if (isspace((unsigned char)s[i - 1])) return i;
    while (end > start + 1 && ((unsigned char)s[end] & 0xC0) == 0x80) end--;
    return end;
}

/* Where the next chunk starts: overlap bytes back, on a character start,
 * always after start. */
static size_t chunk_next(const char *s, size_t start, size_t end,
                         size_t overlap)
{
    size_t next = end > start + overlap ? end - overlap : end;
    while (next < end && ((unsigned char)s[next] & 0xC0) == 0x80) next++;
    return next > start ? next : end;
}

typedef struct batch {
    fs_doc *rec;    /* store records (strings borrowed or in owned[]) */
    size_t n, cap;
    int *source;    /* rec -> index of the caller's document */
    const char **texts; /* pieces to embed, and the rec each goes to */
    size_t *lens, *target, nt;
    char **owned;   /* chunk texts */
    size_t nowned;
} batch;

static size_t push(batch *b, const fs_doc *d, int src)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 16;
        b->rec = xrealloc(b->rec, b->cap * sizeof *b->rec);
        b->source = xrealloc(b->source, b->cap * sizeof *b->source);
        b->texts = xrealloc(b->texts, b->cap * sizeof *b->texts);
        b->lens = xrealloc(b->lens, b->cap * sizeof *b->lens);
        b->target = xrealloc(b->target, b->cap * sizeof *b->target);
        b->owned = xrealloc(b->owned, b->cap * sizeof *b->owned);
    }
    b->rec[b->n] = *d;
    b->rec[b->n].parent_ref = -1;
    b->rec[b->n].chunk_index = -1;
    b->rec[b->n].embedding = d->embedding;
    b->source[b->n] = src;
    return b->n++;
}

static void want_vector(batch *b, size_t rec, const char *text, size_t len)
{
    b->texts[b->nt] = text;
    b->lens[b->nt] = len;
    b->target[b->nt++] = rec;
}

/* Adds caller document d (index src) as records: whole, or parent +
 * chunks. */
static void plan_doc(memory *m, batch *b, const fs_doc *d, int src)
{
    size_t len = strlen(d->content);
    size_t r = push(b, d, src);
    if (d->embedding) return;
    if (len <= m->cfg.chunk_size) {
        want_vector(b, r, d->content, len);
        return;
    }
    int index = 0;
    for (size_t start = 0; start < len;) {
        size_t end = chunk_end(d->content, len, start, m->cfg.chunk_size);
        char *text = xstrndup(d->content + start, end - start);
        b->owned[b->nowned++] = text;
        fs_doc c = *d;
        c.content = text;
        c.embedding = NULL;
        size_t k = push(b, &c, src);
        b->rec[k].parent_ref = (int)r;
        b->rec[k].chunk_index = index++;
        want_vector(b, k, text, end - start);
        if (end == len) break;
        start = chunk_next(d->content, start, end, m->cfg.chunk_overlap);
    }
}

static int check_doc(memory *m, const fs_doc *d)
{
    if (!d->content || !*d->content) return FS_EINVAL;
    if (strlen(d->content) > MEMORY_MAX_CONTENT) return FS_ETOOBIG;
    if (!(d->importance >= 0 && d->importance <= 1)) return FS_EINVAL;
    if (d->embedding &&
        (d->dims != m->sp.dims || !vec_finite(d->embedding, d->dims)))
        return FS_EINVAL;
    return 0;
}

static void batch_free(batch *b)
{
    for (size_t i = 0; i < b->nowned; i++) free(b->owned[i]);
    free(b->rec);
    free(b->source);
    free(b->texts);
    free(b->lens);
    free(b->target);
    free(b->owned);
}

/* Puts the stored records' vectors into the index. */
static void index_batch(memory *m, const batch *b)
{
    pthread_rwlock_wrlock(&m->lock);
    for (size_t i = 0; i < b->n; i++)
        if (b->rec[i].embedding &&
            (!usable(m, b->rec[i].embedding, m->sp.dims) ||
             hnsw_add(m->idx, b->rec[i].id, b->rec[i].embedding,
                      m->sp.dims) != 0))
            log_warn("memory: could not index document %lld",
                     (long long)b->rec[i].id);
    pthread_rwlock_unlock(&m->lock);
}

/* Points each record at its vector: the caller's ("user") or the one the
 * embedder made in vecs. */
static void attach_vectors(memory *m, batch *b, float *vecs)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->rec[i].embedding) {
            b->rec[i].embedder = "user";
            b->rec[i].embedder_version = "user";
        }
    for (size_t t = 0; t < b->nt; t++) {
        fs_doc *r = &b->rec[b->target[t]];
        r->embedding = vecs + t * m->sp.dims;
        r->dims = m->sp.dims;
        r->embedder = (char *)m->emb->name;
        r->embedder_version = (char *)m->emb->version;
    }
}

int memory_add(memory *m, fs_doc *docs, size_t n, const char **why)
{
    if (why) *why = NULL;
    if (n == 0 || n > MEMORY_MAX_BATCH) return FS_EINVAL;
    for (size_t i = 0; i < n; i++) {
        int rc = check_doc(m, &docs[i]);
        if (rc) return rc;
    }
    batch b = { 0 };
    for (size_t i = 0; i < n; i++) plan_doc(m, &b, &docs[i], (int)i);
    size_t d = m->sp.dims;
    float *vecs = xmalloc((b.nt ? b.nt : 1) * d * sizeof *vecs);
    int rc = b.nt ? embed_texts(m->emb, b.texts, b.lens, b.nt, vecs) : 0;
    if (rc) {
        if (why) *why = m->emb->error;
        goto out;
    }
    attach_vectors(m, &b, vecs);
    if ((rc = store_doc_add(m->st, b.rec, b.n, fs_now(m->clk))))
        goto out;
    index_batch(m, &b);
    for (size_t i = 0; i < b.n; i++)
        if (b.rec[i].parent_ref < 0) {
            docs[b.source[i]].id = b.rec[i].id;
            docs[b.source[i]].created_at = b.rec[i].created_at;
            docs[b.source[i]].updated_at = b.rec[i].updated_at;
        }
out:
    free(vecs);
    batch_free(&b);
    return rc;
}

/* Swaps the index's vectors of an updated document. */
static void reindex(memory *m, int64_t id, const int64_t *removed, size_t nrem,
                    const batch *b)
{
    pthread_rwlock_wrlock(&m->lock);
    hnsw_remove(m->idx, id); /* absent when it was chunked: fine */
    for (size_t i = 0; i < nrem; i++) hnsw_remove(m->idx, removed[i]);
    pthread_rwlock_unlock(&m->lock);
    index_batch(m, b);
}

int memory_update(memory *m, fs_doc *d, bool content, const char **why)
{
    if (why) *why = NULL;
    int rc = check_doc(m, d);
    int64_t now = fs_now(m->clk), *removed = NULL;
    size_t nrem = 0;
    if (rc || !content)
        return rc ? rc : store_doc_update(m->st, d, false, NULL, 0, now,
                                          &removed, &nrem);
    batch b = { 0 };
    plan_doc(m, &b, d, 0);
    size_t dims = m->sp.dims;
    float *vecs = xmalloc((b.nt ? b.nt : 1) * dims * sizeof *vecs);
    rc = b.nt ? embed_texts(m->emb, b.texts, b.lens, b.nt, vecs) : 0;
    if (rc) {
        if (why) *why = m->emb->error;
        goto out;
    }
    attach_vectors(m, &b, vecs);
    b.rec[0].id = d->id;
    if ((rc = store_doc_update(m->st, &b.rec[0], true, b.rec + 1, b.n - 1, now,
                               &removed, &nrem)))
        goto out;
    reindex(m, d->id, removed, nrem, &b);
    free(removed);
out:
    free(vecs);
    batch_free(&b);
    return rc;
}

int memory_delete(memory *m, int64_t id)
{
    int64_t *ids;
    size_t n;
    int rc = store_doc_delete(m->st, id, &ids, &n);
    if (rc) return rc;
    pthread_rwlock_wrlock(&m->lock);
    for (size_t i = 0; i < n; i++) hnsw_remove(m->idx, ids[i]);
    pthread_rwlock_unlock(&m->lock);
    free(ids);
    return 0;
}

/* --- search ----------------------------------------------------------- */

typedef struct idset {
    int64_t *ids; /* ascending */
    size_t n;
} idset;

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static bool in_set(int64_t id, void *ctx)
{
    idset *s = ctx;
    return bsearch(&id, s->ids, s->n, sizeof id, cmp_id) != NULL;
}

static bool filter_empty(const store_doc_filter *f)
{
    return !f || (!f->agent && !f->kind && !f->ntags && !f->nmeta &&
                  !f->since && !f->until);
}

/* The ids (documents and chunks) that pass f. */
static int filter_ids(memory *m, const store_doc_filter *f, idset *s)
{
    store_doc_filter page = *f;
    page.with_chunks = true;
    page.before_id = 0;
    page.limit = REBUILD_PAGE;
    size_t cap = 0;
    for (;;) {
        fs_doc *docs;
        size_t n;
        int rc = store_doc_list(m->st, &page, false, &docs, &n);
        if (rc) return rc;
        for (size_t i = 0; i < n && s->n < MAX_FILTER_IDS; i++) {
            if (s->n == cap) {
                cap = cap ? 2 * cap : 256;
                s->ids = xrealloc(s->ids, cap * sizeof *s->ids);
            }
            s->ids[s->n++] = docs[i].id;
        }
        if (n) page.before_id = docs[n - 1].id;
        fs_docs_free(docs, n);
        if (n < REBUILD_PAGE || s->n >= MAX_FILTER_IDS) break;
    }
    if (s->n > 1) qsort(s->ids, s->n, sizeof *s->ids, cmp_id);
    return 0;
}

/* The query vector (embedded, or checked).  OUT: *v (caller frees). */
static int query_vector(memory *m, const memory_query *q, float **v,
                        const char **why)
{
    size_t d = m->sp.dims;
    *v = xmalloc(d * sizeof **v);
    if (q->vector) {
        if (q->dims != d || !vec_finite(q->vector, d)) return FS_EINVAL;
        memcpy(*v, q->vector, d * sizeof **v);
        return 0;
    }
    if (!q->text || !*q->text) return FS_EINVAL;
    size_t len = strlen(q->text);
    int rc = embed_texts(m->emb, &q->text, &len, 1, *v);
    if (rc && why) *why = m->emb->error;
    return rc;
}

/* Appends hit h as a result unless its document is already there. */
static bool excluded(const memory_query *q, int64_t id)
{
    for (size_t i = 0; i < q->nexclude; i++)
        if (q->exclude[i] == id) return true;
    return false;
}

static void collect_hit(memory *m, const memory_query *q, int64_t id,
                        float dist, memory_hit *res, size_t *nres)
{
    double score = vec_score(m->sp.metric, dist);
    if (score < q->threshold) return;
    fs_doc piece;
    if (store_doc_get(m->st, id, false, &piece) != 0) return; /* raced */
    int64_t key = piece.parent_id ? piece.parent_id : piece.id;
    if (excluded(q, key)) {
        fs_doc_clear(&piece);
        return;
    }
    for (size_t i = 0; i < *nres; i++)
        if (res[i].doc.id == key) {
            fs_doc_clear(&piece);
            return;
        }
    memory_hit *r = &res[*nres];
    memset(r, 0, sizeof *r);
    r->score = r->relevance = score;
    r->chunk = -1;
    if (piece.parent_id) {
        if (store_doc_get(m->st, piece.parent_id, false, &r->doc) != 0) {
            fs_doc_clear(&piece);
            return;
        }
        r->chunk = piece.chunk_index;
        r->matched = piece.content;
        piece.content = NULL;
        fs_doc_clear(&piece);
    } else {
        r->doc = piece;
    }
    (*nres)++;
}

static int cmp_hit_score(const void *a, const void *b)
{
    const memory_hit *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->doc.id > y->doc.id) - (x->doc.id < y->doc.id);
}

/* Memory ranking: relevance + w_importance * importance
 * + w_recency * 0.5^(age / half-life), best first, cut to q->limit. */
static size_t rerank(memory *m, const memory_query *q, memory_hit *h,
                     size_t n)
{
    double half = q->half_life_hours > 0 ? q->half_life_hours : 24;
    int64_t now = q->now ? q->now : fs_now(m->clk);
    for (size_t i = 0; i < n; i++) {
        double age_h = (double)(now - h[i].doc.created_at) / 3600000.0;
        h[i].relevance = h[i].score;
        h[i].score += q->w_importance * h[i].doc.importance +
                      q->w_recency * pow(0.5, (age_h > 0 ? age_h : 0) / half);
    }
    qsort(h, n, sizeof *h, cmp_hit_score);
    for (size_t i = q->limit; i < n; i++) {
        fs_doc_clear(&h[i].doc);
        free(h[i].matched);
    }
    return n < q->limit ? n : q->limit;
}

int memory_search(memory *m, const memory_query *q, memory_hit **out,
                  size_t *n, const char **why)
{
    if (why) *why = NULL;
    *out = NULL;
    *n = 0;
    if (q->limit < 1 || q->limit > MEMORY_MAX_BATCH) return FS_EINVAL;
    float *v;
    int rc = query_vector(m, q, &v, why);
    idset set = { 0 };
    if (!rc && !filter_empty(q->filter)) rc = filter_ids(m, q->filter, &set);
    if (rc) goto out;
    size_t k = (q->limit + q->nexclude) * 4, nh = 0;
    int64_t *ids = xmalloc(k * sizeof *ids);
    float *dists = xmalloc(k * sizeof *dists);
    pthread_rwlock_rdlock(&m->lock);
    if (m->sp.metric != VEC_COSINE || vec_dot(v, v, m->sp.dims) > 0)
        rc = hnsw_search(m->idx, v, m->sp.dims, k, q->ef > 0 ? q->ef : memory_ef(m),
                         filter_empty(q->filter) ? NULL : in_set, &set, ids,
                         dists, &nh);
    pthread_rwlock_unlock(&m->lock);
    bool rank = q->w_importance > 0 || q->w_recency > 0;
    size_t want = rank ? k : q->limit; /* re-ranking looks further */
    memory_hit *res = xcalloc(want, sizeof *res);
    size_t nres = 0;
    for (size_t i = 0; !rc && i < nh && nres < want; i++)
        collect_hit(m, q, ids[i], dists[i], res, &nres);
    free(ids);
    free(dists);
    if (rc) {
        memory_hits_free(res, nres);
        goto out;
    }
    if (rank) nres = rerank(m, q, res, nres);
    *out = res;
    *n = nres;
out:
    free(set.ids);
    free(v);
    return rc;
}

/* --- documents as queries ------------------------------------------- */

int memory_vector_of(memory *m, int64_t id, float *out)
{
    size_t d = m->sp.dims;
    pthread_rwlock_rdlock(&m->lock);
    int found = hnsw_get(m->idx, id, out, d);
    pthread_rwlock_unlock(&m->lock);
    if (found == 0) return 0;
    fs_doc doc;
    int rc = store_doc_get(m->st, id, false, &doc);
    if (rc) return rc;
    fs_doc_clear(&doc);
    store_doc_filter f = { .with_chunks = true, .parent_id = id,
                           .limit = MEMORY_MAX_BATCH };
    fs_doc *chunks;
    size_t n, used = 0;
    if ((rc = store_doc_list(m->st, &f, true, &chunks, &n))) return rc;
    memset(out, 0, d * sizeof *out);
    for (size_t i = 0; i < n; i++) {
        float *c = chunks[i].embedding;
        if (!c || chunks[i].dims != d) continue;
        if (m->sp.metric == VEC_COSINE) vec_normalize(c, d);
        for (size_t k = 0; k < d; k++) out[k] += c[k];
        used++;
    }
    fs_docs_free(chunks, n);
    if (!used) return FS_EINVAL;
    for (size_t k = 0; k < d; k++) out[k] /= (float)used;
    return 0;
}

/* out = sum of the vectors of ids times w (added into out). */
static int add_vectors(memory *m, const int64_t *ids, size_t n, float w,
                       float *out)
{
    size_t d = m->sp.dims;
    float *v = xmalloc(d * sizeof *v);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        if (!(rc = memory_vector_of(m, ids[i], v)))
            for (size_t k = 0; k < d; k++) out[k] += w * v[k] / (float)n;
    free(v);
    return rc;
}

int memory_recommend(memory *m, const memory_query *q, const int64_t *pos,
                     size_t npos, const int64_t *neg, size_t nneg,
                     memory_hit **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (npos == 0 || npos + nneg > MEMORY_MAX_BATCH) return FS_EINVAL;
    size_t d = m->sp.dims;
    float *v = xcalloc(d, sizeof *v);
    int rc = add_vectors(m, pos, npos, 1.0f, v);
    if (!rc) rc = add_vectors(m, neg, nneg, -0.5f, v);
    int64_t *ex = xmalloc((npos + nneg) * sizeof *ex);
    memcpy(ex, pos, npos * sizeof *ex);
    if (nneg) memcpy(ex + npos, neg, nneg * sizeof *ex);
    if (!rc) {
        memory_query rq = *q;
        rq.text = NULL;
        rq.vector = v;
        rq.dims = d;
        rq.exclude = ex;
        rq.nexclude = npos + nneg;
        rc = memory_search(m, &rq, out, n, NULL);
    }
    free(ex);
    free(v);
    return rc;
}

/* --- hybrid ----------------------------------------------------------- */

typedef struct fused {
    int64_t id;
    int vrank, trank;
    double score, vscore, tscore; /* fused; semantic, BM25 (if ranked) */
    const memory_hit *vhit; /* borrowed from the vector results, or NULL */
} fused;

static fused *fused_find(fused *f, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (f[i].id == id) return &f[i];
    return NULL;
}

static int cmp_fused(const void *a, const void *b)
{
    const fused *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Adds the BM25 ranking (chunks as their parents) to f. */
static int text_ranks(memory *m, const memory_query *q, size_t cand, fused *f,
                      size_t *nf)
{
    store_doc_filter tf = q->filter ? *q->filter : (store_doc_filter){ 0 };
    tf.with_chunks = true;
    tf.before_id = 0;
    tf.limit = (int)cand;
    store_hit *h;
    size_t nh;
    int rc = store_doc_text_search(m->st, q->text, &tf, &h, &nh);
    if (rc) return rc;
    int rank = 0;
    for (size_t i = 0; i < nh; i++) {
        fs_doc d;
        if (store_doc_get(m->st, h[i].id, false, &d) != 0) continue;
        int64_t key = d.parent_id ? d.parent_id : d.id;
        fs_doc_clear(&d);
        fused *e = fused_find(f, *nf, key);
        if (e && e->trank) continue; /* a better chunk already ranked it */
        if (!e) {
            e = &f[(*nf)++];
            *e = (fused){ .id = key };
        }
        e->trank = ++rank;
        e->tscore = h[i].score;
    }
    free(h);
    return 0;
}

/* The results: the top `limit` of f, each with its document. */
static memory_hit *fused_hits(memory *m, fused *f, size_t nf, size_t limit,
                              size_t *n)
{
    memory_hit *res = xcalloc(limit, sizeof *res);
    *n = 0;
    for (size_t i = 0; i < nf && *n < limit; i++) {
        memory_hit *r = &res[*n];
        memset(r, 0, sizeof *r);
        r->chunk = -1;
        if (f[i].vhit) {
            r->chunk = f[i].vhit->chunk;
            r->matched = xstrdup(f[i].vhit->matched);
        }
        if (store_doc_get(m->st, f[i].id, false, &r->doc) != 0) {
            free(r->matched);
            r->matched = NULL;
            continue; /* deleted meanwhile */
        }
        r->score = f[i].score;
        r->vector_rank = f[i].vrank;
        r->text_rank = f[i].trank;
        (*n)++;
    }
    return res;
}

/* The min-max normalised semantic (which 0) or BM25 (which 1) score of
 * each candidate ranked by that side, in [0, 1]; 0 when unranked. */
static void normalise(fused *f, size_t nf, int which, double *out)
{
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < nf; i++) {
        if (!(which ? f[i].trank : f[i].vrank)) continue;
        double s = which ? f[i].tscore : f[i].vscore;
        lo = s < lo ? s : lo;
        hi = s > hi ? s : hi;
    }
    for (size_t i = 0; i < nf; i++) {
        double s = which ? f[i].tscore : f[i].vscore;
        bool ranked = which ? f[i].trank : f[i].vrank;
        out[i] = !ranked ? 0 : hi > lo ? (s - lo) / (hi - lo) : 1;
    }
}

static void fuse(fused *f, size_t nf, const memory_hybrid_opts *o)
{
    double k = o && o->rrf_k > 0 ? o->rrf_k : 60;
    double wv = o ? o->w_vector : 0, wt = o ? o->w_text : 0;
    if (wv <= 0 && wt <= 0) wv = wt = 1;
    if (o && o->fusion == FUSION_CONVEX) {
        double *v = xmalloc(2 * nf * sizeof *v), *t = v + nf;
        normalise(f, nf, 0, v);
        normalise(f, nf, 1, t);
        for (size_t i = 0; i < nf; i++) f[i].score = (wv * v[i] + wt * t[i]) / (wv + wt);
        free(v);
        return;
    }
    for (size_t i = 0; i < nf; i++)
        f[i].score = (f[i].vrank ? wv / (k + f[i].vrank) : 0) +
                     (f[i].trank ? wt / (k + f[i].trank) : 0);
}

int memory_hybrid(memory *m, const memory_query *q,
                  const memory_hybrid_opts *o, memory_hit **out, size_t *n,
                  const char **why)
{
    *out = NULL;
    *n = 0;
    if (!q->text || !*q->text || q->limit < 1 || q->limit > MEMORY_MAX_BATCH)
        return FS_EINVAL;
    size_t cand = q->limit * 4 < 40 ? 40 : q->limit * 4;
    if (cand > MEMORY_MAX_BATCH) cand = MEMORY_MAX_BATCH;
    memory_query vq = *q;
    vq.limit = cand;
    vq.threshold = -INFINITY;
    memory_hit *vh;
    size_t nv;
    int rc = memory_search(m, &vq, &vh, &nv, why);
    if (rc) return rc;
    fused *f = xcalloc(2 * cand, sizeof *f);
    size_t nf = 0;
    for (size_t i = 0; i < nv; i++)
        f[nf++] = (fused){ .id = vh[i].doc.id, .vrank = (int)i + 1,
                           .vscore = vh[i].score, .vhit = &vh[i] };
    rc = text_ranks(m, q, cand, f, &nf);
    if (!rc) {
        fuse(f, nf, o);
        qsort(f, nf, sizeof *f, cmp_fused);
        *out = fused_hits(m, f, nf, q->limit, n);
    }
    free(f);
    memory_hits_free(vh, nv);
    return rc;
}

void memory_hits_free(memory_hit *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fs_doc_clear(&h[i].doc);
        free(h[i].matched);
    }
    free(h);
}

/* --- clusters ---------------------------------------------------------- */

/* The documents to cluster, with their vectors.  OUT: docs (caller frees
 * with fs_docs_free), vecs (caller frees), *n with a vector. */
static int cluster_inputs(memory *m, const store_doc_filter *f, size_t max,
                          fs_doc **docs, float **vecs, size_t *n)
{
    store_doc_filter page = f ? *f : (store_doc_filter){ 0 };
    page.with_chunks = false;
    page.before_id = 0;
    page.limit = (int)(max < REBUILD_PAGE ? max : REBUILD_PAGE);
    size_t d = m->sp.dims, cap = 0;
    *docs = NULL;
    *vecs = NULL;
    *n = 0;
    while (*n < max) {
        fs_doc *got;
        size_t ng;
        int rc = store_doc_list(m->st, &page, false, &got, &ng);
        if (rc) return rc;
        for (size_t i = 0; i < ng && *n < max; i++) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 64;
                *docs = xrealloc(*docs, cap * sizeof **docs);
                *vecs = xrealloc(*vecs, cap * d * sizeof **vecs);
            }
            if (memory_vector_of(m, got[i].id, *vecs + *n * d) == 0) {
                (*docs)[(*n)++] = got[i];
                memset(&got[i], 0, sizeof got[i]);
            }
        }
        if (ng) page.before_id = got[ng - 1].id;
        fs_docs_free(got, ng);
        if (ng < (size_t)page.limit) break;
    }
    return 0;
}

static void cluster_clear(memory_cluster *c)
{
    free(c->label);
    for (size_t j = 0; j < c->nterms; j++) free(c->terms[j]);
    free(c->terms);
    free(c->members);
}

static int cmp_cluster_size(const void *a, const void *b)
{
    const memory_cluster *x = a, *y = b;
    return (x->nmembers < y->nmembers) - (x->nmembers > y->nmembers);
}

/* Fills cluster g's terms, label and members. */
static void describe(memory_cluster *c, size_t g, const topics *tp,
                     const fs_doc *docs, const int *assign, size_t n)
{
    c->terms = xcalloc(MEMORY_CLUSTER_TERMS, sizeof *c->terms);
    fs_buf label = { 0 };
    for (size_t j = 0; j < MEMORY_CLUSTER_TERMS; j++) {
        const char *t = topics_term(tp, g, j);
        if (!t) break;
        c->terms[c->nterms++] = xstrdup(t);
        if (j < 3) fs_buf_printf(&label, "%s%s", j ? ", " : "", t);
    }
    c->label = label.data ? label.data : xstrdup("");
    c->members = xmalloc(n * sizeof *c->members);
    for (size_t i = 0; i < n; i++)
        if (assign[i] == (int)g) c->members[c->nmembers++] = docs[i].id;
}

int memory_cluster_docs(memory *m, const store_doc_filter *f, size_t k,
                        size_t max_docs, memory_cluster **out, size_t *n,
                        double *silhouette)
{
    *out = NULL;
    *n = 0;
    *silhouette = 0;
    if (k > CLUSTER_MAX_K) return FS_EINVAL;
    if (!max_docs || max_docs > MEMORY_CLUSTER_MAX_DOCS)
        max_docs = MEMORY_CLUSTER_MAX_DOCS;
    fs_doc *docs;
    float *vecs;
    size_t nd;
    int rc = cluster_inputs(m, f, max_docs, &docs, &vecs, &nd);
    cluster_result cr = { 0 };
    if (rc || nd == 0) goto out;
    if ((rc = cluster_kmeans(vecs, nd, m->sp.dims, m->sp.metric, k, 42, &cr)))
        goto out;
    const char **texts = xmalloc(nd * sizeof *texts);
    for (size_t i = 0; i < nd; i++) texts[i] = docs[i].content;
    topics *tp;
    rc = topics_build(texts, cr.assign, nd, cr.k, MEMORY_CLUSTER_TERMS, &tp);
    free(texts);
    if (rc) goto out;
    *out = xcalloc(cr.k, sizeof **out);
    for (size_t g = 0; g < cr.k; g++) describe(&(*out)[g], g, tp, docs, cr.assign, nd);
    topics_free(tp);
    *n = cr.k;
    for (size_t g = 0; g < *n;) /* drop empty clusters */
        if ((*out)[g].nmembers == 0) {
            cluster_clear(&(*out)[g]);
            (*out)[g] = (*out)[--*n];
        } else {
            g++;
        }
    qsort(*out, *n, sizeof **out, cmp_cluster_size);
    *silhouette = cr.silhouette;
out:
    free(cr.assign);
    fs_docs_free(docs, nd);
    free(vecs);
    return rc;
}

void memory_clusters_free(memory_cluster *c, size_t n)
{
    for (size_t i = 0; i < n; i++) cluster_clear(&c[i]);
    free(c);
}

/* --- consolidation ---------------------------------------------------- */

/* JSON text of the union of two tag arrays (a's order, then b's new). */
static char *merge_tags(const char *a, const char *b)
{
    json_t *ja = json_loads(a ? a : "[]", 0, NULL);
    json_t *jb = json_loads(b ? b : "[]", 0, NULL);
    if (!json_is_array(ja)) ja = (json_decref(ja), json_array());
    size_t i, j;
    json_t *v, *w;
    json_array_foreach(jb, i, v) {
        bool seen = false;
        json_array_foreach(ja, j, w) seen |= json_equal(v, w);
        if (!seen) json_array_append(ja, v);
    }
    char *out = json_dumps(ja, JSON_COMPACT);
    json_decref(ja);
    json_decref(jb);
    return out ? out : xstrdup("[]");
}

/* JSON text of a's metadata with b's keys that a lacks. */
static char *merge_meta(const char *a, const char *b)
{
    json_t *ja = json_loads(a ? a : "{}", 0, NULL);
    json_t *jb = json_loads(b ? b : "{}", 0, NULL);
    if (!json_is_object(ja)) ja = (json_decref(ja), json_object());
    if (json_is_object(jb)) json_object_update_missing(ja, jb);
    char *out = json_dumps(ja, JSON_COMPACT);
    json_decref(ja);
    json_decref(jb);
    return out ? out : xstrdup("{}");
}

/* Folds document `gone` into `keep` and deletes it. */
static int merge_into(memory *m, int64_t keep, int64_t gone)
{
    fs_doc k, g;
    int rc = store_doc_get(m->st, keep, false, &k);
    if (rc) return rc;
    if ((rc = store_doc_get(m->st, gone, false, &g))) {
        fs_doc_clear(&k);
        return rc;
    }
    char *tags = merge_tags(k.tags, g.tags), *meta = merge_meta(k.metadata, g.metadata);
    free(k.tags);
    free(k.metadata);
    k.tags = tags;
    k.metadata = meta;
    if (g.importance > k.importance) k.importance = g.importance;
    rc = memory_update(m, &k, false, NULL);
    if (!rc) rc = memory_delete(m, gone);
    fs_doc_clear(&k);
    fs_doc_clear(&g);
    return rc;
}

static bool merged_already(const memory_merge *v, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].merged == id) return true;
    return false;
}

int memory_consolidate(memory *m, const store_doc_filter *f, double threshold,
                       bool dry_run, memory_merge **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!(threshold >= 0 && threshold <= 1)) return FS_EINVAL;
    fs_doc *docs;
    float *vecs;
    size_t nd, cap = 0;
    int rc = cluster_inputs(m, f, MEMORY_CLUSTER_MAX_DOCS, &docs, &vecs, &nd);
    for (size_t i = nd; !rc && i-- > 0;) { /* oldest first: survivors */
        if (merged_already(*out, *n, docs[i].id)) continue;
        memory_query q = { .vector = vecs + i * m->sp.dims, .dims = m->sp.dims,
                           .limit = 10, .threshold = threshold,
                           .filter = f, .exclude = &docs[i].id, .nexclude = 1 };
        memory_hit *h;
        size_t nh;
        if ((rc = memory_search(m, &q, &h, &nh, NULL))) break;
        for (size_t j = 0; j < nh && !rc; j++) {
            int64_t other = h[j].doc.id;
            if (other < docs[i].id || merged_already(*out, *n, other)) continue;
            if (*n == cap) {
                cap = cap ? 2 * cap : 16;
                *out = xrealloc(*out, cap * sizeof **out);
            }
            (*out)[(*n)++] = (memory_merge){ docs[i].id, other, h[j].relevance };
            if (!dry_run) rc = merge_into(m, docs[i].id, other);
        }
        memory_hits_free(h, nh);
    }
    fs_docs_free(docs, nd);
    free(vecs);
    if (rc) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}
