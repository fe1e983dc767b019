/*
 * vstore.c - flat vector storage and exact / quantised top-k (see
 * vstore.h for the contract).
 *
 * Layout, all arrays indexed by slot 0..n-1 (capacity cap):
 *     ids[slot]            the external id
 *     vecs[slot * d ..]    float32 vector (normalised for cosine), or NULL
 *     codes[slot * d ..]   int8 codes, scales[slot], and for l2 norm2[slot]
 *                          (exact |x|^2), or NULL
 *     table[tcap]          open-addressing hash map id -> slot, linear
 *                          probing, entry = slot or EMPTY; the key is
 *                          read back from ids[slot], so an entry is 4
 *                          bytes.  tcap is a power of two >= 2 * cap.
 * Invariant: for every slot s < n, table holds s exactly once, at a
 * position reachable from hash(ids[s]) without crossing an EMPTY.  Removal
 * keeps it with backward-shift deletion (no tombstones in the table
 * either).
 *
 * Search: distances are computed a block of slots at a time with the batch
 * kernels (vec_distance_batch, quant_distance_batch) into a stack buffer;
 * a bounded max-heap of size k (the worst kept hit on top) takes a slot
 * only when it beats the top, so the filter is asked only about those.
 * Exactness: the heap holds the k smallest (dist, id) pairs among the
 * accepted slots seen so far; after the last block, those of the store.
 */
#include "memory/vstore.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/xmem.h"
#include "memory/quant.h"

#define EMPTY UINT32_MAX
#define MAX_SLOTS ((size_t)UINT32_MAX - 1)
#define BLOCK 256 /* slots per batch-kernel call */

struct vstore {
    size_t d;
    vec_metric metric;
    bool floats, int8; /* the forms kept */
    size_t n, cap;
    int64_t *ids;
    float *vecs;
    int8_t *codes;
    float *scales, *norm2;
    uint32_t *table;
    size_t tcap;
};

/* ---- id -> slot --------------------------------------------------- */

static size_t hash_id(int64_t id)
{
    uint64_t x = (uint64_t)id; /* splitmix64's finaliser */
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return (size_t)(x ^ (x >> 31));
}

/* The table position holding id, or of the EMPTY entry ending its probe. */
static size_t table_find(const vstore *s, int64_t id)
{
    size_t mask = s->tcap - 1, i = hash_id(id) & mask;
    while (s->table[i] != EMPTY && s->ids[s->table[i]] != id)
        i = (i + 1) & mask;
    return i;
}

static void table_rebuild(vstore *s, size_t tcap)
{
    free(s->table);
    s->tcap = tcap;
    s->table = xmalloc(tcap * sizeof *s->table);
    memset(s->table, 0xff, tcap * sizeof *s->table); /* all EMPTY */
    for (size_t slot = 0; slot < s->n; slot++)
        s->table[table_find(s, s->ids[slot])] = (uint32_t)slot;
}

/* Empties table position i, shifting back later entries of the run that
 * would otherwise become unreachable. */
static void table_delete(vstore *s, size_t i)
{
    size_t mask = s->tcap - 1, j = i;
    s->table[i] = EMPTY;
    for (;;) {
        j = (j + 1) & mask;
        if (s->table[j] == EMPTY) return;
        size_t home = hash_id(s->ids[s->table[j]]) & mask;
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays) continue;
        s->table[i] = s->table[j];
        s->table[j] = EMPTY;
        i = j;
    }
}

/* ---- life --------------------------------------------------------- */

int vstore_open(vstore **out, const vstore_config *cfg)
{
    *out = NULL;
    if (cfg->dims == 0 || cfg->dims > VSTORE_MAX_DIMS) return FS_EINVAL;
    if ((unsigned)cfg->metric > VEC_L2) return FS_EINVAL;
    if (cfg->no_floats && !cfg->int8) return FS_EINVAL;
    vstore *s = xcalloc(1, sizeof *s);
    s->d = cfg->dims;
    s->metric = cfg->metric;
    s->floats = !cfg->no_floats;
    s->int8 = cfg->int8;
    table_rebuild(s, 16);
    *out = s;
    return 0;
}

void vstore_close(vstore *s)
{
    if (!s) return;
    free(s->ids);
    free(s->vecs);
    free(s->codes);
    free(s->scales);
    free(s->norm2);
    free(s->table);
    free(s);
}

size_t vstore_dims(const vstore *s)
{
    return s->d;
}

vec_metric vstore_metric(const vstore *s)
{
    return s->metric;
}

size_t vstore_count(const vstore *s)
{
    return s->n;
}

bool vstore_contains(const vstore *s, int64_t id)
{
    return s->table[table_find(s, id)] != EMPTY;
}

void vstore_reserve(vstore *s, size_t n)
{
    if (n <= s->cap) return;
    size_t d = s->d;
    s->ids = xrealloc(s->ids, n * sizeof *s->ids);
    if (s->floats) s->vecs = xrealloc(s->vecs, n * d * sizeof *s->vecs);
    if (s->int8) {
        s->codes = xrealloc(s->codes, n * d);
        s->scales = xrealloc(s->scales, n * sizeof *s->scales);
        if (s->metric == VEC_L2)
            s->norm2 = xrealloc(s->norm2, n * sizeof *s->norm2);
    }
    s->cap = n;
    size_t tcap = s->tcap;
    while (tcap < 2 * n)
        tcap *= 2;
    if (tcap != s->tcap) table_rebuild(s, tcap);
}

/* ---- add / remove / get ------------------------------------------- */

/* A vector the store accepts: finite, and |v|^2 finite too, so distances
 * between stored vectors cannot overflow into NaN. */
static bool acceptable(const float *v, size_t d)
{
    return vec_finite(v, d) && isfinite(vec_dot(v, v, d));
}

int vstore_add(vstore *s, int64_t id, const float *v, size_t d)
{
    if (d != s->d || !acceptable(v, d)) return FS_EINVAL;
    size_t pos = table_find(s, id);
    if (s->table[pos] != EMPTY) return FS_ECONFLICT;
    if (s->n >= MAX_SLOTS) return FS_ELIMIT;
    if (s->n == s->cap) {
        size_t want = s->cap < 16 ? 16 : s->cap * 2;
        vstore_reserve(s, want < MAX_SLOTS ? want : MAX_SLOTS);
        pos = table_find(s, id); /* the table may have been rebuilt */
    }
    size_t slot = s->n;
    float *tmp = NULL;
    const float *x = v; /* the vector as stored */
    if (s->metric == VEC_COSINE) {
        float *dst = s->floats ? s->vecs + slot * d : (tmp = xmalloc(d * 4));
        memcpy(dst, v, d * sizeof *v);
        vec_normalize(dst, d);
        x = dst;
    } else if (s->floats) {
        memcpy(s->vecs + slot * d, v, d * sizeof *v);
    }
    if (s->int8) {
        s->scales[slot] = quant_encode(x, d, s->codes + slot * d);
        if (s->norm2) s->norm2[slot] = vec_dot(x, x, d);
    }
    free(tmp);
    s->ids[slot] = id;
    s->table[pos] = (uint32_t)slot;
    s->n++;
    return 0;
}

/* Copies slot `from` over slot `to` (every form). */
static void move_slot(vstore *s, size_t to, size_t from)
{
    size_t d = s->d;
    s->ids[to] = s->ids[from];
    if (s->floats) memcpy(s->vecs + to * d, s->vecs + from * d, d * 4);
    if (s->int8) {
        memcpy(s->codes + to * d, s->codes + from * d, d);
        s->scales[to] = s->scales[from];
    }
    if (s->norm2) s->norm2[to] = s->norm2[from];
}

int vstore_remove(vstore *s, int64_t id)
{
    size_t pos = table_find(s, id);
    if (s->table[pos] == EMPTY) return FS_ENOTFOUND;
    size_t slot = s->table[pos], last = s->n - 1;
    table_delete(s, pos);
    if (slot != last) {
        size_t lpos = table_find(s, s->ids[last]);
        assert(s->table[lpos] == last);
        s->table[lpos] = (uint32_t)slot;
        move_slot(s, slot, last);
    }
    s->n--;
    return 0;
}

const float *vstore_get(const vstore *s, int64_t id)
{
    uint32_t slot = s->table[table_find(s, id)];
    if (slot == EMPTY || !s->floats) return NULL;
    return s->vecs + (size_t)slot * s->d;
}

int64_t vstore_id_at(const vstore *s, size_t slot)
{
    assert(slot < s->n);
    return s->ids[slot];
}

const float *vstore_vector_at(const vstore *s, size_t slot)
{
    assert(slot < s->n);
    return s->floats ? s->vecs + slot * s->d : NULL;
}

size_t vstore_memory(const vstore *s)
{
    size_t per = sizeof *s->ids;
    if (s->floats) per += quant_float_bytes_per_vector(s->d);
    if (s->int8) per += quant_bytes_per_vector(s->metric, s->d);
    return sizeof *s + s->cap * per + s->tcap * sizeof *s->table;
}

/* ---- top k -------------------------------------------------------- */

/* A bounded max-heap of hits ordered by (dist, id): h[0] is the worst. */
typedef struct topk {
    vstore_hit *h;
    size_t n, k;
} topk;

static inline bool worse(float da, int64_t ia, float db, int64_t ib)
{
    return da > db || (da == db && ia > ib);
}

/* Would (dist, id) be among the k best so far? */
static inline bool topk_wants(const topk *t, float dist, int64_t id)
{
    return t->n < t->k || worse(t->h[0].dist, t->h[0].id, dist, id);
}

/* Adds a hit topk_wants accepted, evicting the worst when full. */
static void topk_push(topk *t, int64_t id, float dist)
{
    vstore_hit *h = t->h;
    size_t i;
    if (t->n < t->k) { /* sift up from the new leaf */
        i = t->n++;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (!worse(dist, id, h[p].dist, h[p].id)) break;
            h[i] = h[p];
            i = p;
        }
    } else { /* replace the root, sift down */
        i = 0;
        for (;;) {
            size_t c = 2 * i + 1;
            if (c >= t->n) break;
            if (c + 1 < t->n &&
                worse(h[c + 1].dist, h[c + 1].id, h[c].dist, h[c].id))
                c++;
            if (!worse(h[c].dist, h[c].id, dist, id)) break;
            h[i] = h[c];
            i = c;
        }
    }
    h[i] = (vstore_hit){id, dist};
}

static int cmp_hit(const void *a, const void *b)
{
    const vstore_hit *x = a, *y = b;
    if (worse(x->dist, x->id, y->dist, y->id)) return 1;
    if (worse(y->dist, y->id, x->dist, x->id)) return -1;
    return 0;
}

/* Offers one scored slot: NaN counts as +Inf; keep is asked last. */
static inline void offer(topk *t, int64_t id, float dist, vstore_keep_fn keep,
                         void *ctx)
{
    if (dist != dist) dist = INFINITY;
    if (!topk_wants(t, dist, id)) return;
    if (keep && !keep(id, ctx)) return;
    topk_push(t, id, dist);
}

/* ---- search ------------------------------------------------------- */

/* Validates a query; OUT: *qs, a copy as stored (normalised for cosine),
 * caller frees. */
static int prepare_query(const vstore *s, const float *q, size_t d, size_t k,
                         float **qs)
{
    *qs = NULL;
    if (k == 0 || d != s->d || !vec_finite(q, d)) return FS_EINVAL;
    *qs = xmalloc(d * sizeof *q);
    memcpy(*qs, q, d * sizeof *q);
    if (s->metric == VEC_COSINE) vec_normalize(*qs, d);
    return 0;
}

/* The exact scan of every slot into t. */
static void scan_floats(const vstore *s, const float *q, topk *t,
                        vstore_keep_fn keep, void *ctx)
{
    float dist[BLOCK];
    for (size_t b = 0; b < s->n; b += BLOCK) {
        size_t nb = s->n - b < BLOCK ? s->n - b : BLOCK;
        vec_distance_batch(s->metric, q, s->vecs + b * s->d, nb, s->d, dist);
        for (size_t i = 0; i < nb; i++)
            offer(t, s->ids[b + i], dist[i], keep, ctx);
    }
}

int vstore_search(const vstore *s, const float *q, size_t d, size_t k,
                  vstore_keep_fn keep, void *keep_ctx, vstore_hit *out,
                  size_t *nout)
{
    *nout = 0;
    if (!s->floats) return FS_EINVAL;
    float *qs;
    int rc = prepare_query(s, q, d, k, &qs);
    if (rc) return rc;
    topk t = {out, 0, k < s->n ? k : s->n};
    if (t.k == 0) goto done;
    scan_floats(s, qs, &t, keep, keep_ctx);
    qsort(t.h, t.n, sizeof *t.h, cmp_hit);
    *nout = t.n;
done:
    free(qs);
    return 0;
}

/* The approximate scan of every slot's codes into t. */
static void scan_codes(const vstore *s, const float *q, topk *t,
                       vstore_keep_fn keep, void *ctx)
{
    size_t d = s->d;
    int8_t *qcode = xmalloc(d);
    quant_query qq = {qcode, quant_encode(q, d, qcode), vec_dot(q, q, d)};
    float dist[BLOCK];
    for (size_t b = 0; b < s->n; b += BLOCK) {
        size_t nb = s->n - b < BLOCK ? s->n - b : BLOCK;
        quant_distance_batch(s->metric, &qq, s->codes + b * d, s->scales + b,
                             s->norm2 ? s->norm2 + b : NULL, nb, d, dist);
        for (size_t i = 0; i < nb; i++)
            offer(t, s->ids[b + i], dist[i], keep, ctx);
    }
    free(qcode);
}

/* The exact distance from q (as stored) to id, from the floats or fetch. */
static int exact_distance(const vstore *s, const float *q, int64_t id,
                          vstore_fetch_fn fetch, void *fetch_ctx, float *buf,
                          float *dist)
{
    const float *x = vstore_get(s, id);
    if (!x) {
        int rc = fetch(id, buf, fetch_ctx);
        if (rc) return rc;
        if (s->metric == VEC_COSINE) vec_normalize(buf, s->d);
        x = buf;
    }
    *dist = vec_distance(s->metric, q, x, s->d);
    return 0;
}

int vstore_search_int8(const vstore *s, const float *q, size_t d, size_t k,
                       size_t rescore, vstore_keep_fn keep, void *keep_ctx,
                       vstore_fetch_fn fetch, void *fetch_ctx, vstore_hit *out,
                       size_t *nout)
{
    *nout = 0;
    if (!s->int8 || (rescore > 0 && !s->floats && !fetch)) return FS_EINVAL;
    float *qs;
    int rc = prepare_query(s, q, d, k, &qs);
    if (rc) return rc;
    size_t kk = k < s->n ? k : s->n;
    if (kk == 0) {
        free(qs);
        return 0;
    }
    if (rescore == 0) {
        topk t = {out, 0, kk};
        scan_codes(s, qs, &t, keep, keep_ctx);
        qsort(t.h, t.n, sizeof *t.h, cmp_hit);
        *nout = t.n;
        free(qs);
        return 0;
    }
    size_t kc = kk > s->n / rescore ? s->n : kk * rescore;
    topk cand = {xmalloc(kc * sizeof(vstore_hit)), 0, kc};
    scan_codes(s, qs, &cand, keep, keep_ctx);
    float *buf = s->floats ? NULL : xmalloc(d * sizeof *buf);
    topk t = {out, 0, kk};
    for (size_t i = 0; i < cand.n; i++) {
        float dist;
        rc = exact_distance(s, qs, cand.h[i].id, fetch, fetch_ctx, buf, &dist);
        if (rc) goto out;
        if (dist != dist) dist = INFINITY;
        if (topk_wants(&t, dist, cand.h[i].id))
            topk_push(&t, cand.h[i].id, dist);
    }
    qsort(t.h, t.n, sizeof *t.h, cmp_hit);
    *nout = t.n;
out:
    free(buf);
    free(cand.h);
    free(qs);
    return rc;
}
