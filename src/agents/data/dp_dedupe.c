/*
 * dp_dedupe.c - duplicate groups (see dp_dedupe.h for the keys, the
 * passes and the result).
 *
 * All passes join records in one union-find (union by size, path
 * halving).  A join that merges two sets is kept as an edge with its
 * reason, so each group's links form a spanning tree of it and its
 * reason says why.  A pair already in one set is never compared again.
 *
 * Pass 1 sorts (pool, value, record) triples and joins runs of equal
 * values.  Pass 2 works per name key: each record's name key is decoded
 * once into code points, each record gets three 12-byte block keys, the
 * (block key, record) pairs are sorted, and each run of equal block keys
 * is one block (see compare_block).  Context values are normalised once
 * per record.  Pass 3 scores vectors exactly or through an HNSW index.
 * The result is built by walking records in order, so groups come out
 * ordered by their first member.
 */
#include "agents/data/dp_dedupe.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agents/data/dp_format.h"
#include "agents/data/dp_text.h"
#include "core/fs.h"
#include "core/xmem.h"
#include "memory/hnsw.h"
#include "memory/vec.h"

#define KEY_FIELDS 8
#define BLOCK_KEY 12

typedef enum match { M_EMAIL, M_PHONE, M_EXACT, M_NAME, M_CONTEXT } match;

static const char *const MATCHES[] = {"email", "phone", "exact", "name",
                                      "context"};

typedef struct key {
    match m;
    const char *fields[KEY_FIELDS]; /* borrowed from keys or a record */
    size_t nfields;
    char *label; /* the fields joined by '+' */
} key;

typedef struct edge {
    size_t a, b;
    char *reason;
} edge;

typedef struct dedupe {
    const json_t *records;
    size_t n;
    dp_dedupe_opts o;
    char cc[DP_COUNTRY_MAX];
    key *keys;
    size_t nkeys;
    size_t *parent, *size;
    edge *edges;
    size_t nedges;
    char **ctx; /* nctx x n normalised context values (NULL: missing) */
    size_t nctx;
    const char **ctx_labels;
} dedupe;

static void dedupe_free(dedupe *d)
{
    for (size_t i = 0; i < d->nkeys; i++)
        free(d->keys[i].label);
    for (size_t i = 0; i < d->nedges; i++)
        free(d->edges[i].reason);
    for (size_t i = 0; i < d->nctx * d->n; i++)
        free(d->ctx[i]);
    free(d->keys);
    free(d->parent);
    free(d->size);
    free(d->edges);
    free(d->ctx);
    free(d->ctx_labels);
}

/* ---- union-find ------------------------------------------------------ */

static size_t find(dedupe *d, size_t x)
{
    while (d->parent[x] != x) {
        d->parent[x] = d->parent[d->parent[x]];
        x = d->parent[x];
    }
    return x;
}

static bool joined(dedupe *d, size_t a, size_t b)
{
    return find(d, a) == find(d, b);
}

/* Joins the sets of a and b; reason (owned, freed here if unused) is
 * kept with the edge when they were apart. */
static void join(dedupe *d, size_t a, size_t b, char *reason)
{
    size_t ra = find(d, a), rb = find(d, b);
    if (ra == rb) {
        free(reason);
        return;
    }
    if (d->size[ra] < d->size[rb]) {
        size_t t = ra;
        ra = rb, rb = t;
    }
    d->parent[rb] = ra;
    d->size[ra] += d->size[rb];
    /* at most n - 1 joins ever merge two sets */
    d->edges[d->nedges++] = (edge){a < b ? a : b, a < b ? b : a, reason};
}

/* ---- keys ------------------------------------------------------------ */

static match match_of(const char *field)
{
    switch (dp_kind_guess(field)) {
    case DP_KIND_EMAIL:
        return M_EMAIL;
    case DP_KIND_PHONE:
        return M_PHONE;
    case DP_KIND_NAME:
        return M_NAME;
    case DP_KIND_ID:
        return M_EXACT;
    default:
        return M_CONTEXT;
    }
}

static key *add_key(dedupe *d, match m)
{
    d->keys = xrealloc(d->keys, (d->nkeys + 1) * sizeof *d->keys);
    key *k = &d->keys[d->nkeys++];
    *k = (key){.m = m};
    return k;
}

static void label_key(key *k)
{
    size_t len = 1;
    for (size_t i = 0; i < k->nfields; i++)
        len += strlen(k->fields[i]) + 1;
    k->label = xcalloc(1, len);
    for (size_t i = 0; i < k->nfields; i++) {
        if (i) strcat(k->label, "+");
        strcat(k->label, k->fields[i]);
    }
}

/* Keys guessed from the fields of the first object record. */
static void guess_keys(dedupe *d)
{
    static const char *const org[] = {"company", "account", "organization",
                                      "organisation", NULL};
    const json_t *first = NULL, *v;
    size_t i;
    json_array_foreach(d->records, i,
                       v) if (json_is_object(v) && (first = v)) break;
    key names_key = {.m = M_NAME};
    const char *f;
    json_object_foreach((json_t *)first, f, v)
    {
        match m = match_of(f);
        if (m == M_NAME && names_key.nfields < KEY_FIELDS)
            names_key.fields[names_key.nfields++] = f;
        else if (m == M_CONTEXT && !dp_field_has_word(f, org))
            continue;
        else if (m != M_NAME) {
            key *k = add_key(d, m);
            k->fields[k->nfields++] = f;
        }
    }
    if (names_key.nfields) *add_key(d, M_NAME) = names_key;
}

static int parse_match(const json_t *m, match *out)
{
    for (size_t i = 0; i < sizeof MATCHES / sizeof MATCHES[0]; i++) {
        if (!json_is_string(m) || strcmp(json_string_value(m), MATCHES[i]))
            continue;
        *out = (match)i;
        return 0;
    }
    return FS_EINVAL;
}

/* One key given as an object. */
static int parse_key_object(dedupe *d, const json_t *k, char *err,
                            size_t errlen)
{
    const json_t *f = json_object_get(k, "field"),
                 *m = json_object_get(k, "match");
    key got = {.m = M_CONTEXT};
    if (json_is_string(f)) {
        got.fields[got.nfields++] = json_string_value(f);
    } else if (json_is_array(f) && json_array_size(f) <= KEY_FIELDS) {
        size_t i;
        const json_t *e;
        json_array_foreach(f, i, e)
        {
            if (!json_is_string(e)) break;
            got.fields[got.nfields++] = json_string_value(e);
        }
    }
    if (!got.nfields ||
        got.nfields != (json_is_array(f) ? json_array_size(f) : 1))
        return snprintf(err, errlen,
                        "a key's field must be a name or 1 to %d names",
                        KEY_FIELDS),
               FS_EINVAL;
    got.m = match_of(got.fields[0]);
    for (size_t i = 1; i < got.nfields; i++)
        if (match_of(got.fields[i]) == M_NAME) got.m = M_NAME;
    if (m && parse_match(m, &got.m))
        return snprintf(err, errlen,
                        "a key's match must be email, phone, "
                        "exact, name or context"),
               FS_EINVAL;
    *add_key(d, got.m) = got;
    return 0;
}

static int parse_keys(dedupe *d, const json_t *keys, char *err, size_t errlen)
{
    if (!keys || (json_is_array(keys) && !json_array_size(keys))) {
        guess_keys(d);
    } else if (!json_is_array(keys)) {
        return snprintf(err, errlen, "keys is not an array"), FS_EINVAL;
    }
    size_t i;
    const json_t *k;
    json_array_foreach(keys, i, k)
    {
        if (json_is_string(k)) {
            key *nk = add_key(d, match_of(json_string_value(k)));
            nk->fields[nk->nfields++] = json_string_value(k);
        } else if (!json_is_object(k)) {
            return snprintf(err, errlen,
                            "a key must be a field name or an "
                            "object"),
                   FS_EINVAL;
        } else if (parse_key_object(d, k, err, errlen)) {
            return FS_EINVAL;
        }
    }
    bool identifying = false;
    for (i = 0; i < d->nkeys; i++)
        identifying |= d->keys[i].m != M_CONTEXT;
    for (i = 0; i < d->nkeys; i++) {
        if (!identifying) d->keys[i].m = M_EXACT;
        label_key(&d->keys[i]);
    }
    return 0;
}

/* ---- values ---------------------------------------------------------- */

/* The text of one field value (strings and numbers), or NULL. */
static char *field_text(const json_t *v)
{
    if (json_is_string(v)) return dp_text_clean(json_string_value(v));
    if (json_is_integer(v))
        return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    if (json_is_real(v)) return xasprintf("%.17g", json_real_value(v));
    return NULL;
}

/* The key's fields of rec, cleaned and joined by spaces; NULL if all are
 * missing. */
static char *key_text(const json_t *rec, const key *k)
{
    char *out = NULL;
    for (size_t i = 0; i < k->nfields; i++) {
        char *t = field_text(json_object_get(rec, k->fields[i]));
        if (t && *t) {
            char *joined_text = out ? xasprintf("%s %s", out, t) : xstrdup(t);
            free(out);
            out = joined_text;
        }
        free(t);
    }
    return out;
}

/* The value compared for an email, phone or exact key (owned), or NULL. */
static char *match_value(const dedupe *d, const json_t *rec, const key *k)
{
    char *t = key_text(rec, k), e164[DP_PHONE_MAX], ext[DP_EXT_MAX];
    if (!t) return NULL;
    if (k->m != M_PHONE) {
        dp_text_lower(t);
        if (k->m == M_EMAIL && !strncmp(t, "mailto:", 7))
            memmove(t, t + 7, strlen(t + 7) + 1);
        if (k->m != M_EMAIL || dp_email_ok(t)) return t;
        free(t);
        return NULL;
    }
    if (!dp_phone_e164(t, d->cc, e164, ext)) {
        free(t);
        return *ext ? xasprintf("%sx%s", e164, ext) : xstrdup(e164);
    }
    size_t n = 0;
    for (const char *p = t; *p; p++)
        if (*p >= '0' && *p <= '9') t[n++] = *p;
    t[n] = '\0';
    if (n >= 7) return t;
    free(t);
    return NULL;
}

/* ---- pass 1: exact values -------------------------------------------- */

typedef struct xent {
    char *val;
    size_t rec, pool;
} xent;

static int xent_cmp(const void *pa, const void *pb)
{
    const xent *a = pa, *b = pb;
    if (a->pool != b->pool) return a->pool < b->pool ? -1 : 1;
    int c = strcmp(a->val, b->val);
    if (c) return c;
    return (a->rec > b->rec) - (a->rec < b->rec);
}

static char *pool_reason(const dedupe *d, size_t pool)
{
    if (pool == 0) return xstrdup("same email");
    if (pool == 1) return xstrdup("same phone");
    return xasprintf("same %s", d->keys[pool - 2].label);
}

static void pass_exact(dedupe *d)
{
    size_t nx = 0, cap = 0;
    xent *xs = NULL;
    for (size_t i = 0; i < d->n; i++) {
        const json_t *rec = json_array_get(d->records, i);
        if (!json_is_object(rec)) continue;
        for (size_t k = 0; k < d->nkeys; k++) {
            const key *kk = &d->keys[k];
            if (kk->m == M_NAME || kk->m == M_CONTEXT) continue;
            char *v = match_value(d, rec, kk);
            if (!v) continue;
            if (nx == cap)
                xs = xrealloc(xs, (cap = cap ? 2 * cap : 1024) * sizeof *xs);
            xs[nx++] = (xent){v, i,
                              kk->m == M_EMAIL   ? 0
                              : kk->m == M_PHONE ? 1
                                                 : k + 2};
        }
    }
    if (nx) qsort(xs, nx, sizeof *xs, xent_cmp);
    for (size_t s = 0, e; s < nx; s = e) {
        for (e = s + 1; e < nx && xs[e].pool == xs[s].pool &&
                        !strcmp(xs[e].val, xs[s].val);
             e++)
            if (!joined(d, xs[s].rec, xs[e].rec))
                join(d, xs[s].rec, xs[e].rec, pool_reason(d, xs[s].pool));
    }
    for (size_t i = 0; i < nx; i++)
        free(xs[i].val);
    free(xs);
}

/* ---- pass 2: names --------------------------------------------------- */

typedef struct person {
    char *key;    /* dp_text_name_key; NULL: none */
    uint32_t *cp; /* key decoded, at most DP_NAME_MAX code points */
    size_t ncp;
    size_t first_len, last_at; /* the first word cp[0..first_len), the
                                  last cp[last_at..ncp) */
} person;

typedef struct bent {
    char k[BLOCK_KEY];
    uint32_t rec;
} bent;

typedef struct names {
    person *v;    /* one per record */
    bent *blocks; /* three per named record */
    size_t nblocks;
} names;

static void load_context(dedupe *d)
{
    for (size_t k = 0; k < d->nkeys; k++)
        d->nctx += d->keys[k].m == M_CONTEXT;
    d->ctx = xcalloc(d->nctx * d->n + 1, sizeof *d->ctx);
    d->ctx_labels = xcalloc(d->nctx + 1, sizeof *d->ctx_labels);
    for (size_t k = 0, c = 0; k < d->nkeys; k++) {
        if (d->keys[k].m != M_CONTEXT) continue;
        d->ctx_labels[c] = d->keys[k].label;
        for (size_t i = 0; i < d->n; i++) {
            const json_t *rec = json_array_get(d->records, i);
            char *t = json_is_object(rec) ? key_text(rec, &d->keys[k]) : NULL;
            if (t) dp_text_lower(t);
            d->ctx[c * d->n + i] = t;
        }
        c++;
    }
}

/*
 * Whether the context of i and j backs a name match: every context key
 * both have is equal and there is at least one (or there are no context
 * keys).  OUT: why, " and same company, city" (or "").
 */
static bool context_agrees(const dedupe *d, size_t i, size_t j, char *why,
                           size_t cap)
{
    size_t agree = 0, len = 0;
    why[0] = '\0';
    for (size_t c = 0; c < d->nctx; c++) {
        const char *a = d->ctx[c * d->n + i], *b = d->ctx[c * d->n + j];
        if (!a || !b) continue;
        if (strcmp(a, b)) return false;
        if (len < cap)
            len +=
                (size_t)snprintf(why + len, cap - len, "%s%s",
                                 agree ? ", " : " and same ", d->ctx_labels[c]);
        agree++;
    }
    return agree > 0 || d->nctx == 0;
}

/* The Jaro-Winkler of two names when their first words and their last
 * words are each at least DP_WORD_THRESHOLD alike, else 0. */
static double name_similarity(const person *a, const person *b)
{
    const uint32_t *al = a->cp + a->last_at, *bl = b->cp + b->last_at;
    if (dp_jaro_winkler_cp(a->cp, a->first_len, b->cp, b->first_len) <
            DP_WORD_THRESHOLD ||
        dp_jaro_winkler_cp(al, a->ncp - a->last_at, bl, b->ncp - b->last_at) <
            DP_WORD_THRESHOLD)
        return 0;
    return dp_jaro_winkler_cp(a->cp, a->ncp, b->cp, b->ncp);
}

static void compare_pair(dedupe *d, const names *nm, size_t i, size_t j)
{
    char why[256];
    if (joined(d, i, j)) return;
    if (context_agrees(d, i, j, why, sizeof why)) {
        const person *a = &nm->v[i], *b = &nm->v[j];
        if (!strcmp(a->key, b->key)) {
            join(d, i, j, xasprintf("same name%s", why));
            return;
        }
        double s = name_similarity(a, b);
        if (s >= d->o.name_threshold) {
            join(d, i, j, xasprintf("similar name (%.2f)%s", s, why));
            return;
        }
    }
    if (!d->o.sim) return;
    double v = d->o.sim(d->o.sim_ctx, i, j);
    if (v >= d->o.sim_threshold) join(d, i, j, xasprintf("similar (%.2f)", v));
}

typedef struct member {
    const char *key, *ctx; /* name key, first context value ("" if none) */
    uint32_t rec;
} member;

static int member_cmp(const void *pa, const void *pb)
{
    const member *a = pa, *b = pb;
    int c = strcmp(a->key, b->key);
    if (!c) c = strcmp(a->ctx, b->ctx);
    return c ? c : (a->rec > b->rec) - (a->rec < b->rec);
}

/* Compares the pairs of one block (see dp_dedupe.h). */
static void compare_block(dedupe *d, const names *nm, const bent *b, size_t n)
{
    if (n <= DP_BLOCK_ALL) {
        for (size_t x = 0; x < n; x++)
            for (size_t y = x + 1; y < n; y++)
                compare_pair(d, nm, b[x].rec, b[y].rec);
        return;
    }
    member *m = xmalloc(n * sizeof *m);
    for (size_t x = 0; x < n; x++) {
        const char *ctx = d->nctx ? d->ctx[b[x].rec] : NULL;
        m[x] = (member){nm->v[b[x].rec].key, ctx ? ctx : "", b[x].rec};
    }
    qsort(m, n, sizeof *m, member_cmp);
    for (size_t x = 0; x < n; x++)
        for (size_t y = x + 1; y < n && y <= x + DP_BLOCK_WINDOW; y++)
            compare_pair(d, nm, m[x].rec, m[y].rec);
    free(m);
}

/* The three block keys of a name key (see dp_dedupe.h). */
static void block_keys(const char *nk, char out[3][BLOCK_KEY])
{
    const char *last = strrchr(nk, ' ');
    size_t flen = strcspn(nk, " ");
    last = last ? last + 1 : nk;
    char sf[5], sl[5];
    dp_soundex(nk, flen, sf);
    dp_soundex(last, strlen(last), sl);
    memset(out, 0, 3 * BLOCK_KEY);
    snprintf(out[0], BLOCK_KEY, "a%c%s", nk[0], sl);
    snprintf(out[1], BLOCK_KEY, "b%s%c", sf, last[0]);
    bool swap = strcmp(sf, sl) > 0;
    snprintf(out[2], BLOCK_KEY, "c%s%s", swap ? sl : sf, swap ? sf : sl);
}

static int bent_cmp(const void *pa, const void *pb)
{
    const bent *a = pa, *b = pb;
    int c = memcmp(a->k, b->k, BLOCK_KEY);
    return c ? c : (a->rec > b->rec) - (a->rec < b->rec);
}

static void load_names(dedupe *d, const key *k, names *nm)
{
    nm->v = xcalloc(d->n, sizeof *nm->v);
    nm->blocks = xmalloc(3 * d->n * sizeof *nm->blocks);
    nm->nblocks = 0;
    for (size_t i = 0; i < d->n; i++) {
        const json_t *rec = json_array_get(d->records, i);
        char *t = json_is_object(rec) ? key_text(rec, k) : NULL;
        char bk[3][BLOCK_KEY];
        uint32_t cp[DP_NAME_MAX];
        if (!t) continue;
        person *v = &nm->v[i];
        v->key = dp_text_name_key(t);
        free(t);
        v->ncp = dp_utf8_decode(v->key, cp, DP_NAME_MAX);
        if (!v->ncp) continue;
        v->cp = xmalloc(v->ncp * sizeof *cp);
        memcpy(v->cp, cp, v->ncp * sizeof *cp);
        while (v->first_len < v->ncp && cp[v->first_len] != ' ')
            v->first_len++;
        for (size_t c = 0; c < v->ncp; c++)
            if (cp[c] == ' ') v->last_at = c + 1;
        block_keys(v->key, bk);
        for (int b = 0; b < 3; b++) {
            memcpy(nm->blocks[nm->nblocks].k, bk[b], BLOCK_KEY);
            nm->blocks[nm->nblocks++].rec = (uint32_t)i;
        }
    }
}

static void pass_names(dedupe *d, const key *k)
{
    names nm;
    load_names(d, k, &nm);
    if (nm.nblocks) qsort(nm.blocks, nm.nblocks, sizeof *nm.blocks, bent_cmp);
    for (size_t s = 0, e; s < nm.nblocks; s = e) {
        for (e = s + 1; e < nm.nblocks; e++)
            if (memcmp(nm.blocks[s].k, nm.blocks[e].k, BLOCK_KEY)) break;
        compare_block(d, &nm, nm.blocks + s, e - s);
    }
    for (size_t i = 0; i < d->n; i++) {
        free(nm.v[i].key);
        free(nm.v[i].cp);
    }
    free(nm.v);
    free(nm.blocks);
}

/* ---- pass 3: embeddings ---------------------------------------------- */

static void join_vec(dedupe *d, size_t i, size_t j, double cos)
{
    if (cos >= d->o.vector_threshold && !joined(d, i, j))
        join(d, i, j, xasprintf("similar embedding (%.2f)", cos));
}

/* OUT: live[i], whether record i is an object with a usable vector. */
static void live_rows(const dedupe *d, bool *live)
{
    size_t dims = d->o.dims;
    for (size_t i = 0; i < d->n; i++) {
        const float *row = d->o.vectors + i * dims;
        live[i] = vec_finite(row, dims) && vec_dot(row, row, dims) > 0 &&
                  json_is_object(json_array_get(d->records, i));
    }
}

static void vectors_exact(dedupe *d, const bool *live)
{
    size_t dims = d->o.dims;
    float *u = xmalloc((d->n * dims + 1) * sizeof *u);
    memcpy(u, d->o.vectors, d->n * dims * sizeof *u);
    for (size_t i = 0; i < d->n; i++)
        if (live[i]) vec_normalize(u + i * dims, dims);
    for (size_t i = 0; i < d->n; i++)
        for (size_t j = i + 1; live[i] && j < d->n; j++)
            if (live[j])
                join_vec(d, i, j, vec_dot(u + i * dims, u + j * dims, dims));
    free(u);
}

/* Each live row's DP_VECTOR_K nearest neighbours through an HNSW index. */
static int vectors_hnsw(dedupe *d, const bool *live)
{
    hnsw *h;
    size_t dims = d->o.dims, got;
    const float *v = d->o.vectors;
    int64_t ids[DP_VECTOR_K + 1];
    float dist[DP_VECTOR_K + 1];
    hnsw_params p = {.M = 16, .ef_construction = 100, .ef_search = 64};
    int rc = hnsw_open(&h, dims, VEC_COSINE, &p);
    if (rc) return rc;
    hnsw_reserve(h, d->n);
    for (size_t i = 0; i < d->n && !rc; i++)
        if (live[i]) rc = hnsw_add(h, (int64_t)i, v + i * dims, dims);
    for (size_t i = 0; i < d->n && !rc; i++) {
        if (!live[i]) continue;
        rc = hnsw_search(h, v + i * dims, dims, DP_VECTOR_K + 1, 0, NULL, NULL,
                         ids, dist, &got);
        for (size_t x = 0; !rc && x < got; x++)
            if ((size_t)ids[x] != i)
                join_vec(d, i, (size_t)ids[x], vec_score(VEC_COSINE, dist[x]));
    }
    hnsw_close(h);
    return rc;
}

static int pass_vectors(dedupe *d)
{
    bool *live = xmalloc(d->n + 1);
    int rc = 0;
    live_rows(d, live);
    if (d->n <= DP_ALL_PAIRS)
        vectors_exact(d, live);
    else
        rc = vectors_hnsw(d, live);
    free(live);
    return rc;
}

/* The callback on every pair, for small sets without a name key. */
static void pass_sim_all(dedupe *d)
{
    for (size_t i = 0; i < d->n; i++) {
        if (!json_is_object(json_array_get(d->records, i))) continue;
        for (size_t j = i + 1; j < d->n; j++) {
            if (!json_is_object(json_array_get(d->records, j)) ||
                joined(d, i, j))
                continue;
            double v = d->o.sim(d->o.sim_ctx, i, j);
            if (v >= d->o.sim_threshold)
                join(d, i, j, xasprintf("similar (%.2f)", v));
        }
    }
}

/* ---- result ---------------------------------------------------------- */

static bool missing(const json_t *v)
{
    if (!v || json_is_null(v)) return true;
    if (!json_is_string(v)) return false;
    for (const char *s = json_string_value(v); *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') return false;
    return true;
}

static size_t completeness(const json_t *rec)
{
    size_t n = 0;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)rec, k, v) n += !missing(v);
    return n;
}

/* The survivor with its missing fields filled from the other members. */
static json_t *merge_group(const dedupe *d, const json_t *members,
                           size_t survivor)
{
    json_t *m = json_deep_copy(json_array_get(d->records, survivor)), *mv;
    size_t i;
    json_array_foreach(members, i, mv)
    {
        const char *k;
        json_t *v;
        json_t *rec =
            json_array_get(d->records, (size_t)json_integer_value(mv));
        json_object_foreach(rec, k, v) if (missing(json_object_get(m, k)) &&
                                           !missing(v))
            json_object_set(m, k, v);
    }
    return m;
}

static void add_reason(json_t *reasons, const char *r)
{
    size_t i;
    json_t *v;
    json_array_foreach(reasons, i,
                       v) if (!strcmp(json_string_value(v), r)) return;
    json_array_append_new(reasons, json_string(r));
}

static char *join_reasons(const json_t *reasons)
{
    size_t i, len = 1;
    json_t *v;
    json_array_foreach(reasons, i, v) len += strlen(json_string_value(v)) + 2;
    char *s = xcalloc(1, len);
    json_array_foreach(reasons, i, v)
    {
        if (i) strcat(s, "; ");
        strcat(s, json_string_value(v));
    }
    return s;
}

/* Members of each group, in record order; OUT: gid[root] group index. */
static json_t *collect_groups(dedupe *d, size_t *gid)
{
    json_t *groups = json_array();
    for (size_t i = 0; i < d->n; i++)
        gid[i] = SIZE_MAX;
    for (size_t i = 0; i < d->n; i++) {
        size_t r = find(d, i);
        if (d->size[r] < 2) continue;
        if (gid[r] == SIZE_MAX) {
            gid[r] = json_array_size(groups);
            json_array_append_new(
                groups, json_pack("{s:n, s:[], s:n, s:[], s:[]}", "survivor",
                                  "members", "reason", "links", "reasons"));
        }
        json_t *g = json_array_get(groups, gid[r]);
        json_array_append_new(json_object_get(g, "members"),
                              json_integer((json_int_t)i));
    }
    return groups;
}

/* Fills survivor, reason and merged of group g; returns its size - 1. */
static size_t finish_group(const dedupe *d, json_t *g)
{
    json_t *members = json_object_get(g, "members"), *mv;
    size_t i, best = 0, best_n = 0;
    json_array_foreach(members, i, mv)
    {
        size_t r = (size_t)json_integer_value(mv);
        size_t c = completeness(json_array_get(d->records, r));
        if (i == 0 || c > best_n) best = r, best_n = c;
    }
    char *reason = join_reasons(json_object_get(g, "reasons"));
    json_object_del(g, "reasons");
    json_object_set_new(g, "survivor", json_integer((json_int_t)best));
    json_object_set_new(g, "reason", json_string(reason));
    free(reason);
    if (d->o.merged)
        json_object_set_new(g, "merged", merge_group(d, members, best));
    return json_array_size(members) - 1;
}

static json_t *build_result(dedupe *d)
{
    size_t *gid = xmalloc((d->n + 1) * sizeof *gid), dups = 0;
    json_t *groups = collect_groups(d, gid), *g;
    for (size_t e = 0; e < d->nedges; e++) {
        const edge *ed = &d->edges[e];
        g = json_array_get(groups, gid[find(d, ed->a)]);
        json_array_append_new(
            json_object_get(g, "links"),
            json_pack("{s:I, s:I, s:s}", "a", (json_int_t)ed->a, "b",
                      (json_int_t)ed->b, "reason", ed->reason));
        add_reason(json_object_get(g, "reasons"), ed->reason);
    }
    size_t i;
    json_array_foreach(groups, i, g) dups += finish_group(d, g);
    free(gid);
    return json_pack("{s:o, s:I, s:I}", "groups", groups, "records",
                     (json_int_t)d->n, "duplicates", (json_int_t)dups);
}

/* ---- entry points ---------------------------------------------------- */

static int check_threshold(const json_t *p, const char *name, double *out,
                           char *err, size_t errlen)
{
    const json_t *v = json_object_get(p, name);
    if (!v) return 0;
    double x = json_number_value(v);
    if (!json_is_number(v) || !(x > 0 && x <= 1))
        return snprintf(err, errlen, "%s must be a number in (0, 1]", name),
               FS_EINVAL;
    *out = x;
    return 0;
}

int dp_dedupe_opts_json(const json_t *payload, dp_dedupe_opts *o, char *err,
                        size_t errlen)
{
    const json_t *cc = json_object_get(payload, "default_country");
    const json_t *merged = json_object_get(payload, "merged");
    if (check_threshold(payload, "name_threshold", &o->name_threshold, err,
                        errlen) ||
        check_threshold(payload, "vector_threshold", &o->vector_threshold, err,
                        errlen) ||
        check_threshold(payload, "sim_threshold", &o->sim_threshold, err,
                        errlen))
        return FS_EINVAL;
    if (cc && !json_is_string(cc))
        return snprintf(err, errlen, "default_country must be a string"),
               FS_EINVAL;
    if (merged && !json_is_boolean(merged))
        return snprintf(err, errlen, "merged must be true or false"), FS_EINVAL;
    if (cc) o->default_country = json_string_value(cc);
    if (merged) o->merged = json_is_true(merged);
    return 0;
}

/* Fills d from the arguments; FS_EINVAL with a message in err. */
static int setup(dedupe *d, const json_t *records, const json_t *keys,
                 const dp_dedupe_opts *o, char *err, size_t errlen)
{
    if (o) d->o = *o;
    if (!d->o.name_threshold) d->o.name_threshold = DP_NAME_THRESHOLD;
    if (!d->o.vector_threshold) d->o.vector_threshold = DP_VECTOR_THRESHOLD;
    if (!d->o.sim_threshold) d->o.sim_threshold = DP_SIM_THRESHOLD;
    if (!json_is_array(records))
        return snprintf(err, errlen, "records is not an array"), FS_EINVAL;
    d->records = records;
    d->n = json_array_size(records);
    assert(d->n < UINT32_MAX);
    if (d->o.vectors && !d->o.dims)
        return snprintf(err, errlen, "vectors without dims"), FS_EINVAL;
    if (dp_country_code(d->o.default_country ? d->o.default_country : "1",
                        d->cc))
        return snprintf(err, errlen, "bad default_country"), FS_EINVAL;
    d->parent = xmalloc((d->n + 1) * sizeof *d->parent);
    d->size = xmalloc((d->n + 1) * sizeof *d->size);
    d->edges = xmalloc((d->n + 1) * sizeof *d->edges);
    for (size_t i = 0; i < d->n; i++)
        d->parent[i] = i, d->size[i] = 1;
    return parse_keys(d, keys, err, errlen);
}

int dp_dedupe(const json_t *records, const json_t *keys,
              const dp_dedupe_opts *o, json_t **out)
{
    char err[256];
    dedupe d = {0};
    int rc = setup(&d, records, keys, o, err, sizeof err);
    if (rc) goto fail;
    bool any_name = false;
    pass_exact(&d);
    load_context(&d);
    for (size_t k = 0; k < d.nkeys; k++) {
        if (d.keys[k].m != M_NAME) continue;
        pass_names(&d, &d.keys[k]);
        any_name = true;
    }
    if (d.o.sim && !any_name && d.n <= DP_ALL_PAIRS) pass_sim_all(&d);
    if (d.o.vectors && (rc = pass_vectors(&d))) {
        snprintf(err, sizeof err, "vectors: %s", fs_strerror(rc));
        goto fail;
    }
    *out = build_result(&d);
    dedupe_free(&d);
    return 0;
fail:
    dedupe_free(&d);
    *out = json_pack("{s:s}", "error", err);
    return rc;
}
