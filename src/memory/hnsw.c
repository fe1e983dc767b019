/*
 * hnsw.c - HNSW graph index (see hnsw.h), written from the paper's
 * algorithms: INSERT (Alg. 1), SEARCH-LAYER (Alg. 2), the neighbour
 * selection heuristic (Alg. 4) and K-NN-SEARCH (Alg. 5).
 *
 * Layout (no pointers inside link data, so it serialises as arrays):
 *   vecs[slot * dims]         the vectors, contiguous, in insertion order
 *   ids[slot], level[slot], deleted[slot]
 *   links0[slot * (M0 + 1)]   layer 0: count, then up to M0 = 2M slot numbers
 *   upper[slot]               layers 1..level: level * (M + 1) uint32s
 *                             (count, then up to M slots) or NULL at level 0
 *   map                       open addressing (linear probing, backward-shift
 *                             delete) from live id to slot; holds slots only,
 *                             the key is ids[slot]
 * A node's level is floor(-ln(U) * mL) with mL = 1 / ln(M), U uniform in
 * (0, 1] from a splitmix64 generator seeded by params.seed, so one thread
 * inserting the same vectors builds the same graph.
 *
 * Search: greedy descent (beam 1) from the entry point through the upper
 * layers, then a beam search of width ef at layer 0 with two binary heaps
 * (candidates: min-heap; results: max-heap bounded by ef) and a visited set
 * of uint16 epochs (a new search bumps the epoch; the array is cleared only
 * when the epoch wraps, once per 65535 searches).  Visited arrays and heaps
 * live in scratch objects kept in a small pool, so concurrent searches each
 * take their own.
 *
 * Filters and deletions.  Every node is traversed; only admitted nodes (live
 * and kept by the filter) enter the results.  While fewer than ef results
 * are admitted the beam keeps widening (every neighbour becomes a
 * candidate), so the search keeps going until it has ef matches or has seen
 * every node reachable from the entry point.  Two guards make the answer
 * complete:
 *   - up front, the fraction f of admitted nodes is estimated (exactly for
 *     deletions alone, else by asking the filter about HNSW_FILTER_SAMPLE
 *     fixed pseudo-random slots).  A graph search must expand about ef / f
 *     nodes before its beam holds ef matches, an exact scan computes about
 *     f * n distances (and calls the filter n times); when
 *     f * f * n < SCAN_FACTOR * ef (or no sampled node is admitted, or
 *     k >= live count) the exact scan runs;
 *   - after a graph search that returned fewer than k, the exact scan runs
 *     (the graph may not reach every node).
 * So a search returns min(k, matching) results.
 *
 * Deleted nodes keep their links and stay linked from their neighbours:
 * searches and inserts walk through them as waypoints, so removing nodes
 * never disconnects the graph.  The price is link slots spent on dead nodes;
 * hnsw_deleted() tells the owner when a rebuild is worth it (say, beyond
 * 20% of the nodes).
 *
 * Known limit: the heuristic drops a neighbour as covered by a closer one
 * that need not link to it.  On heavy duplicates (exact copies, or tight
 * groups that all lie off to one side of the rest) some nodes end with no
 * in-link even in one thread, and only an exact scan finds them;
 * hnsw_reach_get counts them.  hnswlib shares this (its issue #352); keep
 * exact duplicates out of the index.
 *
 * Threads.  Searches only read the graph (the scratch pool has a mutex).
 * hnsw_add_batch inserts in parallel as hnswlib does: a striped mutex per
 * node guards its link lists (read as a copy under the lock, written under
 * it; a back-link that overflows a list re-runs the heuristic on that list
 * as it is under the lock, never on an older copy), and a global mutex
 * guards the entry point and top level; a node whose level exceeds the
 * current top holds the global mutex for its whole insertion.  Vectors,
 * levels and ids of the batch are written before the threads start and are
 * read-only while they run.  One thread takes no locks.
 *
 * No one reads or extends a list its owner has yet to write.  An insertion
 * of s works down from its top layer; at each layer it searches, then
 * writes s's list (set_links, which replaces the list), then links the
 * neighbours back to s.  Another insertion t can reach s at layer l before
 * s has written its layer-l list: t's descent ends on s at layer l + 1,
 * where s is already linked, and goes on from s at layer l.  t would find
 * s's list empty, take s as its only neighbour, add the back-link s -> t,
 * and s's set_links would then overwrite it: t has no in-link and no search
 * finds it (nor anything only t leads to).  So during a parallel batch
 * pending[s] = L says that s's lists below layer L are unwritten, and
 * whoever reads or extends such a list waits on the stripe's condition
 * variable until s writes it (hnswlib gets the same by holding the new
 * node's mutex through its insertion).  Waits cannot cycle: t waits only
 * while searching some layer l, on an s it reached from layer l + 1, whose
 * list there s wrote after its own pass over l + 1 ended and before t's
 * ended; along a chain of waits those ends strictly go back in time.
 * Nodes of earlier batches have pending 0.
 *
 * Insertions at the same time must still meet.  In one thread an insertion
 * can find every node inserted before it.  Two running at once may miss
 * each other (neither is in the graph when the other searches), and near
 * duplicates inserted in order then link to their group but not to each
 * other; the heuristic, trusting the group to lead to both, soon prunes
 * the last outside link to one of them.  So during a parallel batch every
 * node, once linked at layer 0, joins a list (joined, under join_lock); an
 * insertion adds to its layer-0 candidates every node that joined while it
 * searched (offer_joined), and after joining links itself both ways with
 * every node that joined between that and its own joining, if within the
 * candidates' reach (join).  Of two insertions that overlap, the one that
 * joins second thus considers the first, as in one thread.
 */
#include "memory/hnsw.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/xmem.h"

#define NONE UINT32_MAX
#define MAX_LEVEL 32
#define LOCK_STRIPES 1024 /* power of two */
/* Exact scan when f * f * n < SCAN_FACTOR * ef (see the top).  Measured
 * on siftsmall (10k x 128, cheap filter): the graph and the scan cost the
 * same at f ~ 0.14 (ef 16), 0.22 (ef 64), 0.4 (ef 256), i.e. a factor of
 * 6 to 13. */
#ifndef SCAN_FACTOR
#define SCAN_FACTOR 8.0
#endif
#define MAX_DIMS 65536
#define MAX_EF 100000

typedef struct cand {
    float d;
    uint32_t s;
} cand;

typedef struct heap {
    cand *v;
    size_t n, cap;
} heap;

/* Per-search (or per-inserting-thread) working memory. */
typedef struct scratch {
    struct scratch *next; /* in the pool */
    uint16_t *visited;    /* visited[slot] == epoch: seen this search */
    size_t vcap;
    uint16_t epoch;
    heap cand, res;
    uint32_t *links; /* a copy of one link list, M0 + 1 */
    uint32_t *fresh; /* unvisited neighbours of one node, M0 */
    cand *shrink;    /* re-selecting a full neighbour list, M0 + 1 */
    cand *sel;       /* results in ascending order */
    size_t selcap;
    float *q; /* the normalised query, dims */
} scratch;

struct hnsw {
    size_t dims;
    vec_metric metric;
    int M, M0, efc, efs;
    double mL;
    uint64_t rng;

    size_t n, cap, n_deleted;
    float *vecs;
    int64_t *ids;
    uint8_t *level, *deleted;
    uint32_t *links0;
    uint32_t **upper;
    size_t upper_bytes;

    uint32_t *map; /* slots; NONE is empty; map_cap is a power of two */
    size_t map_cap, map_n;

    uint32_t entry; /* NONE while empty */
    int max_level;

    pthread_mutex_t pool_lock;
    scratch *pool;
    pthread_mutex_t global; /* entry, max_level during hnsw_add_batch */
    pthread_mutex_t *locks; /* LOCK_STRIPES, made by the first batch */
    pthread_cond_t *written; /* LOCK_STRIPES: a pending list was written */
    /* During a parallel batch (see the top), else NULL and 0: */
    uint8_t *pending;          /* per slot */
    uint32_t *joined;          /* slots in the order they joined layer 0 */
    size_t njoined;            /* under join_lock, as joined */
    pthread_mutex_t join_lock;

    _Atomic uint64_t st_searches, st_graph, st_scan_sel, st_scan_fb;
};

/* ---- small helpers ---------------------------------------------------- */

static uint64_t splitmix(uint64_t *st)
{
    uint64_t z = (*st += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t mix(int64_t id)
{
    uint64_t x = (uint64_t)id;
    return splitmix(&x);
}

static inline const float *vecp(const hnsw *h, uint32_t s)
{
    return h->vecs + (size_t)s * h->dims;
}

/* vec_distance, one call shallower on the hot path. */
static inline float dist(const hnsw *h, const float *a, const float *b)
{
    switch (h->metric) {
    case VEC_L2: return vec_l2sq(a, b, h->dims);
    case VEC_COSINE: return 1.0f - vec_dot(a, b, h->dims);
    case VEC_IP: return -vec_dot(a, b, h->dims);
    }
    return 0;
}

static inline uint32_t *links_of(const hnsw *h, uint32_t s, int layer)
{
    if (layer == 0) return h->links0 + (size_t)s * (size_t)(h->M0 + 1);
    return h->upper[s] + (size_t)(layer - 1) * (size_t)(h->M + 1);
}

/* Asks for the first PF_LINES cache lines of a vector (prefetching past
 * a short vector's end is harmless: prefetches never fault). */
#ifndef PF_LINES
#define PF_LINES 2
#endif
static inline void prefetch_vec(const hnsw *h, uint32_t s)
{
    const char *p = (const char *)vecp(h, s);
    __builtin_prefetch(p);
#if PF_LINES > 1
    __builtin_prefetch(p + 64);
#endif
#if PF_LINES > 2
    __builtin_prefetch(p + 128);
    __builtin_prefetch(p + 192);
#endif
#if PF_LINES > 4
    __builtin_prefetch(p + 256);
    __builtin_prefetch(p + 320);
    __builtin_prefetch(p + 384);
    __builtin_prefetch(p + 448);
#endif
}

static inline pthread_mutex_t *node_lock(const hnsw *h, uint32_t s)
{
    return &h->locks[s & (LOCK_STRIPES - 1)];
}

/* Takes s's lock once s has written its list at layer (see the top). */
static void lock_written(const hnsw *h, uint32_t s, int layer)
{
    pthread_mutex_t *mu = node_lock(h, s);
    pthread_mutex_lock(mu);
    while (layer < h->pending[s])
        pthread_cond_wait(&h->written[s & (LOCK_STRIPES - 1)], mu);
}

/* ---- heaps: candidates (min by d), results (max by d, then slot) -------- */

static inline bool after(cand a, cand b)
{
    return a.d > b.d || (a.d == b.d && a.s > b.s);
}

static void heap_grow(heap *hp)
{
    hp->cap = hp->cap ? hp->cap * 2 : 256;
    hp->v = xrealloc(hp->v, hp->cap * sizeof *hp->v);
}

static inline void minh_push(heap *hp, cand c)
{
    if (hp->n == hp->cap) heap_grow(hp);
    size_t i = hp->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (hp->v[p].d <= c.d) break;
        hp->v[i] = hp->v[p];
        i = p;
    }
    hp->v[i] = c;
}

static inline cand minh_pop(heap *hp)
{
    cand top = hp->v[0], last = hp->v[--hp->n];
    size_t i = 0, n = hp->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && hp->v[c + 1].d < hp->v[c].d) c++;
        if (last.d <= hp->v[c].d) break;
        hp->v[i] = hp->v[c];
        i = c;
    }
    if (n) hp->v[i] = last;
    return top;
}

static inline void maxh_sift_down(heap *hp, size_t i, cand c)
{
    size_t n = hp->n;
    for (;;) {
        size_t k = 2 * i + 1;
        if (k >= n) break;
        if (k + 1 < n && after(hp->v[k + 1], hp->v[k])) k++;
        if (!after(hp->v[k], c)) break;
        hp->v[i] = hp->v[k];
        i = k;
    }
    hp->v[i] = c;
}

static inline void maxh_push(heap *hp, cand c)
{
    if (hp->n == hp->cap) heap_grow(hp);
    size_t i = hp->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!after(c, hp->v[p])) break;
        hp->v[i] = hp->v[p];
        i = p;
    }
    hp->v[i] = c;
}

/* Replaces the largest element by c. */
static inline void maxh_replace_top(heap *hp, cand c)
{
    maxh_sift_down(hp, 0, c);
}

static inline cand maxh_pop(heap *hp)
{
    cand top = hp->v[0], last = hp->v[--hp->n];
    if (hp->n) maxh_sift_down(hp, 0, last);
    return top;
}

/* ---- scratch pool ----------------------------------------------------- */

static void scratch_free(scratch *s)
{
    free(s->visited);
    free(s->cand.v);
    free(s->res.v);
    free(s->links);
    free(s->fresh);
    free(s->shrink);
    free(s->sel);
    free(s->q);
    free(s);
}

/* A scratch whose visited array covers every slot.  Locks: pool_lock. */
static scratch *scratch_get(hnsw *h)
{
    pthread_mutex_lock(&h->pool_lock);
    scratch *s = h->pool;
    if (s) h->pool = s->next;
    pthread_mutex_unlock(&h->pool_lock);
    if (!s) {
        s = xcalloc(1, sizeof *s);
        s->links = xmalloc((size_t)(h->M0 + 1) * sizeof *s->links);
        s->fresh = xmalloc((size_t)h->M0 * sizeof *s->fresh);
        s->shrink = xmalloc((size_t)(h->M0 + 1) * sizeof *s->shrink);
        s->q = xmalloc(h->dims * sizeof *s->q);
    }
    if (s->vcap < h->cap) {
        free(s->visited);
        s->visited = xcalloc(h->cap, sizeof *s->visited);
        s->vcap = h->cap;
        s->epoch = 0;
    }
    return s;
}

static void scratch_put(hnsw *h, scratch *s)
{
    pthread_mutex_lock(&h->pool_lock);
    s->next = h->pool;
    h->pool = s;
    pthread_mutex_unlock(&h->pool_lock);
}

static void sel_reserve(scratch *s, size_t n)
{
    if (s->selcap >= n) return;
    s->selcap = n;
    s->sel = xrealloc(s->sel, n * sizeof *s->sel);
}

static inline void visit_begin(scratch *s)
{
    if (++s->epoch == 0) {
        memset(s->visited, 0, s->vcap * sizeof *s->visited);
        s->epoch = 1;
    }
}

/* ---- id map ----------------------------------------------------------- */

static uint32_t map_find(const hnsw *h, int64_t id)
{
    size_t mask = h->map_cap - 1;
    for (size_t i = mix(id) & mask;; i = (i + 1) & mask) {
        uint32_t s = h->map[i];
        if (s == NONE || h->ids[s] == id) return s;
    }
}

static void map_place(uint32_t *map, size_t cap, const int64_t *ids,
                      uint32_t slot)
{
    size_t mask = cap - 1, i = mix(ids[slot]) & mask;
    while (map[i] != NONE) i = (i + 1) & mask;
    map[i] = slot;
}

/* Adds slot (whose id is not in the map), growing to keep load <= 1/2. */
static void map_put(hnsw *h, uint32_t slot)
{
    if ((h->map_n + 1) * 2 > h->map_cap) {
        size_t cap = h->map_cap * 2;
        uint32_t *m = xmalloc(cap * sizeof *m);
        memset(m, 0xff, cap * sizeof *m);
        for (size_t i = 0; i < h->map_cap; i++)
            if (h->map[i] != NONE) map_place(m, cap, h->ids, h->map[i]);
        free(h->map);
        h->map = m;
        h->map_cap = cap;
    }
    map_place(h->map, h->map_cap, h->ids, slot);
    h->map_n++;
}

/* Removes id (present) and shifts back the entries that probed past it. */
static void map_del(hnsw *h, int64_t id)
{
    size_t mask = h->map_cap - 1, i = mix(id) & mask;
    while (h->ids[h->map[i]] != id) i = (i + 1) & mask;
    for (size_t j = i;;) {
        j = (j + 1) & mask;
        if (h->map[j] == NONE) break;
        size_t home = mix(h->ids[h->map[j]]) & mask;
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays) continue;
        h->map[i] = h->map[j];
        i = j;
    }
    h->map[i] = NONE;
    h->map_n--;
}

/* ---- open / close / storage ------------------------------------------- */

int hnsw_open(hnsw **out, size_t dims, vec_metric m, const hnsw_params *params)
{
    hnsw_params p = params ? *params : (hnsw_params){ 0 };
    if (!p.M) p.M = 16;
    if (!p.ef_construction) p.ef_construction = 200;
    if (!p.ef_search) p.ef_search = 64;
    if (!p.seed) p.seed = 42;
    if (dims < 1 || dims > MAX_DIMS || (unsigned)m > VEC_L2 || p.M < 2 ||
        p.M > 255 || p.ef_construction < 1 || p.ef_construction > MAX_EF ||
        p.ef_search < 1 || p.ef_search > MAX_EF)
        return FS_EINVAL;
    hnsw *h = xcalloc(1, sizeof *h);
    h->dims = dims;
    h->metric = m;
    h->M = p.M;
    h->M0 = 2 * p.M;
    h->efc = p.ef_construction;
    h->efs = p.ef_search;
    h->mL = 1.0 / log((double)p.M);
    h->rng = p.seed;
    h->entry = NONE;
    h->map_cap = 16;
    h->map = xmalloc(h->map_cap * sizeof *h->map);
    memset(h->map, 0xff, h->map_cap * sizeof *h->map);
    pthread_mutex_init(&h->pool_lock, NULL);
    pthread_mutex_init(&h->global, NULL);
    pthread_mutex_init(&h->join_lock, NULL);
    *out = h;
    return 0;
}

void hnsw_close(hnsw *h)
{
    if (!h) return;
    for (size_t i = 0; i < h->n; i++) free(h->upper[i]);
    while (h->pool) {
        scratch *s = h->pool;
        h->pool = s->next;
        scratch_free(s);
    }
    if (h->locks) {
        for (int i = 0; i < LOCK_STRIPES; i++) {
            pthread_mutex_destroy(&h->locks[i]);
            pthread_cond_destroy(&h->written[i]);
        }
        free(h->locks);
        free(h->written);
    }
    pthread_mutex_destroy(&h->pool_lock);
    pthread_mutex_destroy(&h->global);
    pthread_mutex_destroy(&h->join_lock);
    free(h->vecs);
    free(h->ids);
    free(h->level);
    free(h->deleted);
    free(h->links0);
    free(h->upper);
    free(h->map);
    free(h);
}

void hnsw_reserve(hnsw *h, size_t n)
{
    if (n <= h->cap) return;
    h->vecs = xrealloc(h->vecs, n * h->dims * sizeof *h->vecs);
    h->ids = xrealloc(h->ids, n * sizeof *h->ids);
    h->level = xrealloc(h->level, n * sizeof *h->level);
    h->deleted = xrealloc(h->deleted, n * sizeof *h->deleted);
    h->links0 =
        xrealloc(h->links0, n * (size_t)(h->M0 + 1) * sizeof *h->links0);
    h->upper = xrealloc(h->upper, n * sizeof *h->upper);
    h->cap = n;
}

/* FS_EINVAL unless vec has the index's dims, is finite and (cosine) has a
 * usable norm. */
static int check_vec(const hnsw *h, const float *vec, size_t dims)
{
    if (!vec || dims != h->dims || !vec_finite(vec, dims)) return FS_EINVAL;
    if (h->metric == VEC_COSINE) {
        float nn = vec_dot(vec, vec, dims);
        if (!(nn > 0) || !isfinite(nn)) return FS_EINVAL;
    }
    return 0;
}

static int random_level(hnsw *h)
{
    double u = (double)((splitmix(&h->rng) >> 11) + 1) * 0x1.0p-53;
    int l = (int)(-log(u) * h->mL);
    return l > MAX_LEVEL ? MAX_LEVEL : l;
}

/* Stores vec under id in the next slot (capacity reserved), unlinked, and
 * maps id to it.  Returns the slot. */
static uint32_t slot_new(hnsw *h, int64_t id, const float *vec)
{
    uint32_t s = (uint32_t)h->n++;
    float *dst = h->vecs + (size_t)s * h->dims;
    memcpy(dst, vec, h->dims * sizeof *dst);
    if (h->metric == VEC_COSINE) vec_normalize(dst, h->dims);
    h->ids[s] = id;
    h->deleted[s] = 0;
    int lvl = random_level(h);
    h->level[s] = (uint8_t)lvl;
    links_of(h, s, 0)[0] = 0;
    h->upper[s] = NULL;
    if (lvl > 0) {
        size_t bytes = (size_t)lvl * (size_t)(h->M + 1) * sizeof(uint32_t);
        h->upper[s] = xcalloc(1, bytes);
        h->upper_bytes += bytes;
    }
    map_put(h, s);
    return s;
}

/* ---- graph search ----------------------------------------------------- */

typedef struct admit {
    hnsw_keep_fn keep;
    void *ctx;
    bool live_only;
} admit;

/* May slot s enter the results?  a == NULL admits every node. */
static inline bool admitted(const hnsw *h, const admit *a, uint32_t s)
{
    if (!a) return true;
    if (a->live_only && h->deleted[s]) return false;
    return !a->keep || a->keep(h->ids[s], a->ctx);
}

/* The link list of s at layer: the live array, or (locked) a copy taken
 * under the node's lock, once written (see the top), into sc->links. */
static inline const uint32_t *read_links(const hnsw *h, scratch *sc,
                                         uint32_t s, int layer, bool locked)
{
    const uint32_t *ll = links_of(h, s, layer);
    if (!locked) return ll;
    lock_written(h, s, layer);
    memcpy(sc->links, ll, (ll[0] + 1) * sizeof *ll);
    pthread_mutex_unlock(node_lock(h, s));
    return sc->links;
}

/* Greedy walk (beam 1) at one layer from ep towards q.  *d is q's distance
 * to ep on entry, to the returned node on exit. */
static uint32_t greedy(const hnsw *h, scratch *sc, const float *q, uint32_t ep,
                       float *d, int layer, bool locked)
{
    for (bool moved = true; moved;) {
        moved = false;
        const uint32_t *ll = read_links(h, sc, ep, layer, locked);
        uint32_t cnt = ll[0];
        for (uint32_t j = 1; j <= cnt; j++) {
            float nd = dist(h, q, vecp(h, ll[j]));
            if (nd < *d) {
                *d = nd;
                ep = ll[j];
                moved = true;
            }
        }
    }
    return ep;
}

/*
 * SEARCH-LAYER: beam search of width ef at layer from ep (at distance
 * ep_d).  Leaves the (at most ef) nearest admitted nodes in sc->res, a
 * max-heap.  While fewer than ef are admitted, every neighbour seen is
 * explored (see the top).  locked: read link lists under node locks.
 */
static void search_layer(const hnsw *h, scratch *sc, const float *q,
                         uint32_t ep, float ep_d, int layer, size_t ef,
                         const admit *a, bool locked)
{
    heap *C = &sc->cand, *W = &sc->res;
    uint16_t *vis = sc->visited;
    uint32_t *fresh = sc->fresh;
    C->n = W->n = 0;
    visit_begin(sc);
    uint16_t epoch = sc->epoch;
    vis[ep] = epoch;
    minh_push(C, (cand){ ep_d, ep });
    if (admitted(h, a, ep)) maxh_push(W, (cand){ ep_d, ep });
    float bound = W->n ? W->v[0].d : INFINITY;
    while (C->n) {
        cand c = minh_pop(C);
        if (W->n >= ef && c.d > bound) break;
        if (C->n) __builtin_prefetch(links_of(h, C->v[0].s, layer));
        const uint32_t *ll = read_links(h, sc, c.s, layer, locked);
        uint32_t cnt = ll[0], nf = 0;
        for (uint32_t j = 1; j <= cnt; j++) {
            uint32_t nb = ll[j];
            if (vis[nb] == epoch) continue;
            vis[nb] = epoch;
            fresh[nf++] = nb;
            prefetch_vec(h, nb);
        }
        for (uint32_t j = 0; j < nf; j++) {
            uint32_t nb = fresh[j];
            float d = dist(h, q, vecp(h, nb));
            if (W->n >= ef && d >= bound) continue;
            minh_push(C, (cand){ d, nb });
            if (!admitted(h, a, nb)) continue;
            if (W->n < ef)
                maxh_push(W, (cand){ d, nb });
            else
                maxh_replace_top(W, (cand){ d, nb });
            bound = W->v[0].d;
        }
    }
}

static size_t drain_sorted(scratch *sc);

/* The k smallest of the max-heap sc->res into sc->sel, ascending.  Small
 * k: insertion into a sorted prefix (O(n k), no heap pops); else heap
 * pops (O(n log n)).  Empties res.  Returns the count, min(k, res.n). */
static size_t take_sorted(scratch *sc, size_t k)
{
    if (k > 32 || k >= sc->res.n) {
        while (sc->res.n > k) maxh_pop(&sc->res);
        return drain_sorted(sc);
    }
    const cand *v = sc->res.v;
    size_t n = sc->res.n, m = 0;
    sel_reserve(sc, k < n ? k : n);
    cand *out = sc->sel;
    for (size_t i = 0; i < n; i++) {
        cand c = v[i];
        if (m == k && !after(out[m - 1], c)) continue;
        size_t j = m < k ? m++ : m - 1;
        for (; j > 0 && after(out[j - 1], c); j--) out[j] = out[j - 1];
        out[j] = c;
    }
    sc->res.n = 0;
    return m;
}

/* Empties the max-heap sc->res into sc->sel in ascending order.  Returns
 * the count. */
static size_t drain_sorted(scratch *sc)
{
    size_t m = sc->res.n;
    sel_reserve(sc, m);
    for (size_t i = m; i-- > 0;) sc->sel[i] = maxh_pop(&sc->res);
    return m;
}

/*
 * SELECT-NEIGHBORS-HEURISTIC (Alg. 4, without extendCandidates or
 * keepPrunedConnections): c[0..n) sorted ascending by distance to the
 * base; keeps, in place and in order, each candidate closer to the base
 * than to every one kept before it, at most m.  Returns the count.
 */
static size_t select_heuristic(const hnsw *h, cand *c, size_t n, size_t m)
{
    if (n <= m) return n;
    size_t out = 0;
    for (size_t i = 0; i < n && out < m; i++) {
        const float *vi = vecp(h, c[i].s);
        bool good = true;
        for (size_t j = 0; j < out && good; j++)
            good = dist(h, vi, vecp(h, c[j].s)) >= c[i].d;
        if (good) c[out++] = c[i];
    }
    return out;
}

/* ---- insertion -------------------------------------------------------- */

/* Makes sel[0..n) the links of s at layer, which nobody has touched yet
 * (see the top).  locked: under s's lock, then wakes whoever waits for
 * the list. */
static void set_links(hnsw *h, uint32_t s, int layer, const cand *sel,
                      size_t n, bool locked)
{
    if (locked) pthread_mutex_lock(node_lock(h, s));
    uint32_t *ll = links_of(h, s, layer);
    assert(ll[0] == 0);
    ll[0] = (uint32_t)n;
    for (size_t i = 0; i < n; i++) ll[1 + i] = sel[i].s;
    if (locked) {
        assert(layer < h->pending[s]);
        h->pending[s] = (uint8_t)layer;
        pthread_cond_broadcast(&h->written[s & (LOCK_STRIPES - 1)]);
        pthread_mutex_unlock(node_lock(h, s));
    }
}

/* Adds the link e -> nw at layer; when e's list is full, re-selects its
 * neighbours from the old ones plus nw with the heuristic.  locked: all
 * under e's lock, once e's list is written. */
static void add_link(hnsw *h, scratch *sc, uint32_t e, uint32_t nw,
                     int layer, bool locked)
{
    uint32_t mmax = (uint32_t)(layer ? h->M : h->M0);
    if (locked) lock_written(h, e, layer);
    uint32_t *ll = links_of(h, e, layer);
    uint32_t cnt = ll[0];
    bool present = false;
    for (uint32_t j = 1; j <= cnt && !present; j++) present = ll[j] == nw;
    if (present) {
        /* a concurrent insert already linked them */
    } else if (cnt < mmax) {
        ll[1 + cnt] = nw;
        ll[0] = cnt + 1;
    } else {
        const float *ve = vecp(h, e);
        cand *c = sc->shrink;
        for (uint32_t j = 0; j < cnt; j++)
            c[j] = (cand){ dist(h, ve, vecp(h, ll[1 + j])), ll[1 + j] };
        c[cnt] = (cand){ dist(h, ve, vecp(h, nw)), nw };
        for (uint32_t i = 1; i <= cnt; i++) { /* insertion sort, <= M0+1 */
            cand x = c[i];
            uint32_t j = i;
            for (; j > 0 && c[j - 1].d > x.d; j--) c[j] = c[j - 1];
            c[j] = x;
        }
        size_t k = select_heuristic(h, c, cnt + 1, mmax);
        ll[0] = (uint32_t)k;
        for (size_t i = 0; i < k; i++) ll[1 + i] = c[i].s;
    }
    if (locked) pthread_mutex_unlock(node_lock(h, e));
}

/* How many slots have joined layer 0 in this batch (see the top). */
static size_t joined_count(hnsw *h)
{
    pthread_mutex_lock(&h->join_lock);
    size_t n = h->njoined;
    pthread_mutex_unlock(&h->join_lock);
    return n;
}

/* After a layer-0 search towards q (results in sc->res, at most ef) that
 * began when `from` slots had joined: offers it every slot that has joined
 * since and that it did not see.  Returns the joined count it went to. */
static size_t offer_joined(hnsw *h, scratch *sc, const float *q, size_t from,
                           size_t ef)
{
    size_t to = joined_count(h);
    heap *W = &sc->res;
    for (size_t i = from; i < to; i++) {
        uint32_t t = h->joined[i]; /* written before njoined passed i */
        if (sc->visited[t] == sc->epoch) continue;
        sc->visited[t] = sc->epoch;
        cand c = { dist(h, q, vecp(h, t)), t };
        if (W->n < ef)
            maxh_push(W, c);
        else if (after(W->v[0], c))
            maxh_replace_top(W, c);
    }
    return to;
}

/* Adds s, linked at layer 0, to the joined slots, then links s and each
 * slot that joined after offer_joined looked (position `to` on) both ways
 * when it lies within `reach` of s: neither saw the other. */
static void join(hnsw *h, scratch *sc, uint32_t s, size_t to, float reach)
{
    pthread_mutex_lock(&h->join_lock);
    size_t me = h->njoined++;
    h->joined[me] = s;
    pthread_mutex_unlock(&h->join_lock);
    for (size_t i = to; i < me; i++) {
        uint32_t t = h->joined[i];
        if (dist(h, vecp(h, s), vecp(h, t)) > reach) continue;
        add_link(h, sc, s, t, 0, true);
        add_link(h, sc, t, s, 0, true);
    }
}

/*
 * INSERT (Alg. 1) of slot s, whose vector and level are stored.
 * locked: other threads insert concurrently (see the top); takes node
 * locks one at a time and the global lock to read (or, when s becomes the
 * new top, to hold through) the entry point.
 */
static void insert_slot(hnsw *h, scratch *sc, uint32_t s, bool locked)
{
    int lvl = h->level[s];
    const float *q = vecp(h, s);
    if (locked) pthread_mutex_lock(&h->global);
    uint32_t ep = h->entry;
    int top = h->max_level;
    bool new_top = ep == NONE || lvl > top;
    if (ep == NONE) {
        h->entry = s;
        h->max_level = lvl;
        if (locked) {
            h->pending[s] = 0; /* read by others after the global lock */
            pthread_mutex_unlock(&h->global);
        }
        return;
    }
    if (locked && !new_top) pthread_mutex_unlock(&h->global);

    float d = dist(h, q, vecp(h, ep));
    for (int l = top; l > lvl; l--) ep = greedy(h, sc, q, ep, &d, l, locked);
    size_t efc = (size_t)h->efc;
    for (int l = lvl < top ? lvl : top; l >= 0; l--) {
        bool joins = locked && l == 0;
        size_t from = joins ? joined_count(h) : 0;
        search_layer(h, sc, q, ep, d, l, efc, NULL, locked);
        size_t to = joins ? offer_joined(h, sc, q, from, efc) : 0;
        size_t k = drain_sorted(sc);
        float reach = k == efc ? sc->sel[k - 1].d : INFINITY;
        for (size_t i = 0; i < k; i++) /* unlinked at l yet (see the top) */
            assert(sc->sel[i].s != s);
        k = select_heuristic(h, sc->sel, k, (size_t)h->M);
        set_links(h, s, l, sc->sel, k, locked);
        for (size_t i = 0; i < k; i++)
            add_link(h, sc, sc->sel[i].s, s, l, locked);
        if (joins) join(h, sc, s, to, reach);
        if (k) {
            ep = sc->sel[0].s;
            d = sc->sel[0].d;
        }
    }
    if (new_top) {
        h->entry = s;
        h->max_level = lvl;
        if (locked) pthread_mutex_unlock(&h->global);
    }
}

int hnsw_add(hnsw *h, int64_t id, const float *vec, size_t dims)
{
    int rc = check_vec(h, vec, dims);
    if (rc) return rc;
    if (map_find(h, id) != NONE) return FS_ECONFLICT;
    if (h->n >= NONE - 1) return FS_ELIMIT;
    if (h->n == h->cap) hnsw_reserve(h, h->cap < 64 ? 64 : h->cap * 3 / 2);
    uint32_t s = slot_new(h, id, vec);
    scratch *sc = scratch_get(h);
    insert_slot(h, sc, s, false);
    scratch_put(h, sc);
    return 0;
}

typedef struct batch {
    hnsw *h;
    size_t first, n;
    _Atomic size_t next;
} batch;

static void *batch_worker(void *arg)
{
    batch *b = arg;
    scratch *sc = scratch_get(b->h);
    for (;;) {
        size_t i = atomic_fetch_add_explicit(&b->next, 1, memory_order_relaxed);
        if (i >= b->n) break;
        insert_slot(b->h, sc, (uint32_t)(b->first + i), true);
    }
    scratch_put(b->h, sc);
    return NULL;
}

/* Undoes slot_new for slots [first, h->n). */
static void slots_rollback(hnsw *h, size_t first, uint64_t rng)
{
    while (h->n > first) {
        uint32_t s = (uint32_t)--h->n;
        map_del(h, h->ids[s]);
        if (h->upper[s])
            h->upper_bytes -=
                (size_t)h->level[s] * (size_t)(h->M + 1) * sizeof(uint32_t);
        free(h->upper[s]);
    }
    h->rng = rng;
}

int hnsw_add_batch(hnsw *h, const int64_t *ids, const float *vecs,
                   size_t dims, size_t n, int threads)
{
    if (n == 0) return 0;
    if (!ids || !vecs || dims != h->dims) return FS_EINVAL;
    if (n >= NONE - 1 - h->n) return FS_ELIMIT;
    size_t first = h->n;
    uint64_t rng = h->rng;
    hnsw_reserve(h, first + n);
    for (size_t i = 0; i < n; i++) {
        const float *v = vecs + i * dims;
        int rc = check_vec(h, v, dims);
        if (!rc && map_find(h, ids[i]) != NONE) rc = FS_ECONFLICT;
        if (rc) {
            slots_rollback(h, first, rng);
            return rc;
        }
        slot_new(h, ids[i], v);
    }
    if (threads <= 1) {
        scratch *sc = scratch_get(h);
        for (size_t i = 0; i < n; i++)
            insert_slot(h, sc, (uint32_t)(first + i), false);
        scratch_put(h, sc);
        return 0;
    }
    if (threads > 64) threads = 64;
    if (!h->locks) {
        h->locks = xmalloc(LOCK_STRIPES * sizeof *h->locks);
        h->written = xmalloc(LOCK_STRIPES * sizeof *h->written);
        for (int i = 0; i < LOCK_STRIPES; i++) {
            pthread_mutex_init(&h->locks[i], NULL);
            pthread_cond_init(&h->written[i], NULL);
        }
    }
    h->pending = xcalloc(h->n, 1);
    for (size_t i = first; i < h->n; i++)
        h->pending[i] = (uint8_t)(h->level[i] + 1);
    h->joined = xmalloc(n * sizeof *h->joined);
    h->njoined = 0;
    batch b = { .h = h, .first = first, .n = n };
    pthread_t tid[64];
    int started = 0;
    for (int t = 1; t < threads; t++)
        if (pthread_create(&tid[started], NULL, batch_worker, &b) == 0)
            started++;
    batch_worker(&b);
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
    free(h->pending);
    free(h->joined);
    h->pending = NULL;
    h->joined = NULL;
    return 0;
}

int hnsw_remove(hnsw *h, int64_t id)
{
    uint32_t s = map_find(h, id);
    if (s == NONE) return FS_ENOTFOUND;
    map_del(h, id);
    h->deleted[s] = 1;
    h->n_deleted++;
    return 0;
}

/* ---- search ----------------------------------------------------------- */

/* Should this search skip the graph for an exact scan?  See the top. */
static bool too_selective(const hnsw *h, const admit *a, size_t ef)
{
    double n = (double)h->n, f;
    if (!a->keep) {
        f = (double)(h->n - h->n_deleted) / n;
    } else {
        uint64_t st = 0x5EED;
        size_t kept = 0;
        for (int i = 0; i < HNSW_FILTER_SAMPLE; i++) {
            uint32_t s = (uint32_t)(((splitmix(&st) >> 32) * h->n) >> 32);
            kept += admitted(h, a, s);
        }
        if (kept == 0) return true;
        f = (double)kept / HNSW_FILTER_SAMPLE;
    }
    return f * f * n < SCAN_FACTOR * (double)ef;
}

/* The k nearest admitted nodes by brute force, into sc->res. */
static void exact_scan(const hnsw *h, scratch *sc, const float *q, size_t k,
                       const admit *a)
{
    heap *W = &sc->res;
    W->n = 0;
    for (uint32_t s = 0; s < h->n; s++) {
        if (!admitted(h, a, s)) continue;
        cand c = { dist(h, q, vecp(h, s)), s };
        if (W->n < k)
            maxh_push(W, c);
        else if (after(W->v[0], c))
            maxh_replace_top(W, c);
    }
}

static void graph_search(const hnsw *h, scratch *sc, const float *q, size_t ef,
                         const admit *a)
{
    uint32_t ep = h->entry;
    float d = dist(h, q, vecp(h, ep));
    for (int l = h->max_level; l > 0; l--)
        ep = greedy(h, sc, q, ep, &d, l, false);
    search_layer(h, sc, q, ep, d, 0, ef, a, false);
}

static inline void bump(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* hnsw_search, or (exact) hnsw_search_exact. */
static int search(hnsw *h, const float *query, size_t dims, size_t k, int ef,
                  hnsw_keep_fn keep, void *ctx, int64_t *out_ids,
                  float *out_dists, size_t *n, bool exact)
{
    *n = 0;
    if (k == 0 || !out_ids || !query || dims != h->dims ||
        !vec_finite(query, dims))
        return FS_EINVAL;
    scratch *sc = scratch_get(h);
    const float *q = query;
    if (h->metric == VEC_COSINE) {
        memcpy(sc->q, query, dims * sizeof *sc->q);
        float norm = vec_normalize(sc->q, dims);
        if (!(norm > 0) || !isfinite(norm)) {
            scratch_put(h, sc);
            return FS_EINVAL;
        }
        q = sc->q;
    }
    size_t live = h->n - h->n_deleted;
    if (live == 0) {
        scratch_put(h, sc);
        return 0;
    }
    bump(&h->st_searches);
    size_t efq = ef > 0 ? (size_t)ef : (size_t)h->efs;
    if (efq < k) efq = k;
    if (efq > h->n) efq = h->n;
    admit a = { keep, ctx, h->n_deleted > 0 };
    const admit *ap = keep || h->n_deleted ? &a : NULL;
    bool scan = exact || k >= live || (ap && too_selective(h, ap, efq));
    if (scan) {
        bump(&h->st_scan_sel);
    } else {
        graph_search(h, sc, q, efq, ap);
        scan = sc->res.n < k;
        bump(scan ? &h->st_scan_fb : &h->st_graph);
    }
    if (scan) exact_scan(h, sc, q, k, ap);
    size_t m = take_sorted(sc, k);
    for (size_t i = 0; i < m; i++) {
        out_ids[i] = h->ids[sc->sel[i].s];
        if (out_dists) out_dists[i] = sc->sel[i].d;
    }
    *n = m;
    scratch_put(h, sc);
    return 0;
}

int hnsw_search(hnsw *h, const float *query, size_t dims, size_t k, int ef,
                hnsw_keep_fn keep, void *ctx, int64_t *out_ids,
                float *out_dists, size_t *n)
{
    return search(h, query, dims, k, ef, keep, ctx, out_ids, out_dists, n, false);
}

int hnsw_search_exact(hnsw *h, const float *query, size_t dims, size_t k,
                      int64_t *out_ids, float *out_dists, size_t *n)
{
    return search(h, query, dims, k, 0, NULL, NULL, out_ids, out_dists, n, true);
}

/* ---- accessors -------------------------------------------------------- */

int hnsw_get(hnsw *h, int64_t id, float *out, size_t dims)
{
    if (dims != h->dims) return FS_EINVAL;
    uint32_t s = map_find(h, id);
    if (s == NONE) return FS_ENOTFOUND;
    memcpy(out, vecp(h, s), dims * sizeof *out);
    return 0;
}

bool hnsw_contains(hnsw *h, int64_t id)
{
    return map_find(h, id) != NONE;
}

size_t hnsw_count(hnsw *h)
{
    return h->n - h->n_deleted;
}

size_t hnsw_deleted(hnsw *h)
{
    return h->n_deleted;
}

size_t hnsw_dims(hnsw *h)
{
    return h->dims;
}

vec_metric hnsw_metric(hnsw *h)
{
    return h->metric;
}

size_t hnsw_memory_bytes(hnsw *h)
{
    size_t per_slot = h->dims * sizeof(float) +
                      (size_t)(h->M0 + 1) * sizeof(uint32_t) +
                      sizeof(int64_t) + 2 + sizeof(uint32_t *);
    return h->cap * per_slot + h->upper_bytes +
           h->map_cap * sizeof(uint32_t);
}

void hnsw_stats_get(hnsw *h, hnsw_stats *st)
{
    st->searches = atomic_load_explicit(&h->st_searches, memory_order_relaxed);
    st->graph = atomic_load_explicit(&h->st_graph, memory_order_relaxed);
    st->scan_selective =
        atomic_load_explicit(&h->st_scan_sel, memory_order_relaxed);
    st->scan_fallback =
        atomic_load_explicit(&h->st_scan_fb, memory_order_relaxed);
}

/* Orphans: live nodes without a layer-0 in-link.  Unreachable: live nodes
 * outside the set a search can walk, built layer by layer from the top:
 * the nodes reached so far, then every node their links at this layer
 * lead to (they all have the layer: they were reached above it or are in
 * one of its lists). */
void hnsw_reach_get(hnsw *h, hnsw_reach *r)
{
    *r = (hnsw_reach){ 0 };
    if (h->n == 0) return;
    uint8_t *seen = xcalloc(h->n, 1); /* bit 0: reached; bit 1: in-link */
    uint32_t *reached = xmalloc(h->n * sizeof *reached);
    size_t nr = 1;
    reached[0] = h->entry;
    seen[h->entry] = 1;
    for (int l = h->max_level; l >= 0; l--)
        for (size_t i = 0; i < nr; i++) {
            uint32_t s = reached[i];
            if (h->level[s] < l) continue;
            const uint32_t *ll = links_of(h, s, l);
            for (uint32_t j = 1; j <= ll[0]; j++)
                if (!(seen[ll[j]] & 1)) {
                    seen[ll[j]] |= 1;
                    reached[nr++] = ll[j];
                }
        }
    for (uint32_t s = 0; s < h->n; s++) {
        const uint32_t *ll = links_of(h, s, 0);
        for (uint32_t j = 1; j <= ll[0]; j++) seen[ll[j]] |= 2;
    }
    for (uint32_t s = 0; s < h->n; s++) {
        if (h->deleted[s]) continue;
        r->orphans += !(seen[s] & 2) && s != h->entry;
        r->unreachable += !(seen[s] & 1);
    }
    free(reached);
    free(seen);
}

/* ---- persistence ------------------------------------------------------ */

#define FILE_MAGIC 0x57534e48u /* "HNSW" */
#define FILE_VERSION 1u

typedef struct file_head {
    uint32_t magic, version;
    uint64_t dims;
    uint32_t metric;
    int32_t M, M0, efc, efs, max_level;
    double mL;
    uint64_t rng, n, n_deleted;
    uint32_t entry, pad;
} file_head;

static bool put(FILE *f, const void *p, size_t bytes)
{
    return bytes == 0 || fwrite(p, 1, bytes, f) == bytes;
}

static bool get(FILE *f, void *p, size_t bytes)
{
    return bytes == 0 || fread(p, 1, bytes, f) == bytes;
}

int hnsw_save(hnsw *h, FILE *f)
{
    file_head hd = { FILE_MAGIC, FILE_VERSION, h->dims, (uint32_t)h->metric,
                     h->M, h->M0, h->efc, h->efs, h->max_level, h->mL, h->rng,
                     h->n, h->n_deleted, h->entry, 0 };
    size_t n = h->n;
    bool ok = put(f, &hd, sizeof hd) &&
              put(f, h->vecs, n * h->dims * sizeof *h->vecs) &&
              put(f, h->ids, n * sizeof *h->ids) &&
              put(f, h->level, n * sizeof *h->level) &&
              put(f, h->deleted, n * sizeof *h->deleted) &&
              put(f, h->links0, n * (size_t)(h->M0 + 1) * sizeof *h->links0);
    for (size_t s = 0; ok && s < n; s++)
        if (h->level[s])
            ok = put(f, h->upper[s],
                     (size_t)h->level[s] * (size_t)(h->M + 1) * sizeof(uint32_t));
    return ok ? 0 : FS_EIO;
}

/* Every link count within bounds and every link a real slot. */
static bool links_ok(const hnsw *h, const uint32_t *l, int max)
{
    if (l[0] > (uint32_t)max) return false;
    for (uint32_t i = 1; i <= l[0]; i++)
        if (l[i] >= h->n) return false;
    return true;
}

static bool head_ok(const file_head *hd)
{
    return hd->magic == FILE_MAGIC && hd->version == FILE_VERSION &&
           hd->dims >= 1 && hd->dims <= MAX_DIMS && hd->metric <= VEC_L2 &&
           hd->M >= 2 && hd->M <= 255 && hd->M0 == 2 * hd->M &&
           hd->efc >= 1 && hd->efc <= MAX_EF && hd->efs >= 1 &&
           hd->efs <= MAX_EF && hd->max_level >= 0 &&
           hd->max_level <= MAX_LEVEL && hd->n < NONE &&
           hd->n_deleted <= hd->n && (hd->n ? hd->entry < hd->n
                                            : hd->entry == NONE);
}

/* Reads the per-node arrays and link lists of an index opened from hd. */
static bool load_nodes(hnsw *h, FILE *f)
{
    size_t n = h->n;
    if (!get(f, h->vecs, n * h->dims * sizeof *h->vecs) ||
        !get(f, h->ids, n * sizeof *h->ids) ||
        !get(f, h->level, n * sizeof *h->level) ||
        !get(f, h->deleted, n * sizeof *h->deleted) ||
        !get(f, h->links0, n * (size_t)(h->M0 + 1) * sizeof *h->links0))
        return false;
    for (size_t s = 0; s < n; s++) {
        h->upper[s] = NULL;
        if (h->level[s] > h->max_level || !links_ok(h, links_of(h, s, 0), h->M0))
            return false;
        if (!h->level[s]) continue;
        size_t bytes = (size_t)h->level[s] * (size_t)(h->M + 1) * sizeof(uint32_t);
        h->upper[s] = xmalloc(bytes);
        h->upper_bytes += bytes;
        if (!get(f, h->upper[s], bytes)) return false;
        for (int l = 1; l <= h->level[s]; l++)
            if (!links_ok(h, links_of(h, (uint32_t)s, l), h->M)) return false;
    }
    /* A link at layer l must lead to a node that has layer l. */
    for (size_t s = 0; s < n; s++)
        for (int l = 1; l <= h->level[s]; l++) {
            const uint32_t *lk = links_of(h, (uint32_t)s, l);
            for (uint32_t i = 1; i <= lk[0]; i++)
                if (h->level[lk[i]] < l) return false;
        }
    return true;
}

/* The id map from the live slots; false on a repeated id. */
static bool load_map(hnsw *h)
{
    size_t deleted = 0;
    for (size_t s = 0; s < h->n; s++) {
        if (h->deleted[s]) {
            deleted++;
            continue;
        }
        if (map_find(h, h->ids[s]) != NONE) return false;
        map_put(h, (uint32_t)s);
    }
    return deleted == h->n_deleted;
}

int hnsw_load(hnsw **out, FILE *f)
{
    file_head hd;
    if (!get(f, &hd, sizeof hd) || !head_ok(&hd)) return FS_ECORRUPT;
    hnsw_params p = { hd.M, hd.efc, hd.efs, 1 };
    hnsw *h;
    if (hnsw_open(&h, hd.dims, (vec_metric)hd.metric, &p)) return FS_ECORRUPT;
    h->mL = hd.mL;
    h->rng = hd.rng;
    h->max_level = hd.max_level;
    h->entry = hd.entry;
    h->n_deleted = hd.n_deleted;
    hnsw_reserve(h, hd.n ? hd.n : 1);
    h->n = hd.n;
    memset(h->upper, 0, h->n * sizeof *h->upper);
    if (!load_nodes(h, f) || !load_map(h) ||
        (h->n && h->level[h->entry] != h->max_level)) {
        hnsw_close(h);
        return FS_ECORRUPT;
    }
    *out = h;
    return 0;
}
