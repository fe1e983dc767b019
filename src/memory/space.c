/* space.c - record or check a database's vector space (see space.h). */
#include "memory/space.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "memory/embed.h"

/* Records want under key unless set; compares when the user gave it. */
static int settle(store *st, const char *key, const char *want, bool given,
                  char *got, size_t gotcap, char *msg, size_t cap)
{
    char *stored = NULL;
    int rc = store_setting_init(st, key, want, &stored);
    if (rc) {
        snprintf(msg, cap, "cannot read the database's %s: %s", key,
                 fs_strerror(rc));
        return rc;
    }
    if (given && strcmp(stored, want) != 0) {
        snprintf(msg, cap, "this database holds vectors with %s %s; it cannot "
                 "be opened with --%s %s (use a new database for another "
                 "space)", key, stored, key, want);
        free(stored);
        return FS_ECONFLICT;
    }
    snprintf(got, gotcap, "%s", stored);
    free(stored);
    return 0;
}

static int check_request(const space_request *req, char *msg, size_t cap)
{
    vec_metric m;
    if (req->dims > SPACE_MAX_DIMS) {
        snprintf(msg, cap, "--dims must be 1..%d", SPACE_MAX_DIMS);
        return FS_EINVAL;
    }
    if (req->metric && !vec_metric_parse(req->metric, &m)) {
        snprintf(msg, cap, "--metric must be cosine, l2 or ip");
        return FS_EINVAL;
    }
    if (req->embedder && strcmp(req->embedder, "local") &&
        strcmp(req->embedder, "openai")) {
        snprintf(msg, cap, "--embedder must be local or openai");
        return FS_EINVAL;
    }
    return 0;
}

int space_resolve(store *st, const space_request *req, mem_space *out,
                  char *msg, size_t cap)
{
    int rc = check_request(req, msg, cap);
    if (rc) return rc;
    char dims[24], metric[16];
    snprintf(dims, sizeof dims, "%zu", req->dims ? req->dims : 1536);
    if ((rc = settle(st, "dims", dims, req->dims != 0, dims, sizeof dims, msg,
                     cap)) ||
        (rc = settle(st, "metric", req->metric ? req->metric : "cosine",
                     req->metric != NULL, metric, sizeof metric, msg, cap)) ||
        (rc = settle(st, "embedder", req->embedder ? req->embedder : "local",
                     req->embedder != NULL, out->embedder,
                     sizeof out->embedder, msg, cap)))
        return rc;
    out->dims = (size_t)strtoull(dims, NULL, 10);
    if (!vec_metric_parse(metric, &out->metric) || out->dims == 0 ||
        out->dims > SPACE_MAX_DIMS) {
        snprintf(msg, cap, "the database's recorded vector space is corrupt");
        return FS_ECORRUPT;
    }
    return 0;
}

static double stats_docs(void *ctx)
{
    int64_t n = 0;
    return store_term_stats(ctx, NULL, NULL, &n) == 0 ? (double)n : 0;
}

static double stats_df(void *ctx, const char *term, size_t len)
{
    char t[128];
    int64_t df = 0;
    if (len >= sizeof t) return 0;
    memcpy(t, term, len);
    t[len] = '\0';
    return store_term_stats(ctx, t, &df, NULL) == 0 ? (double)df : 0;
}

static int open_openai(embedder **out, const mem_space *sp, char *msg,
                       size_t cap)
{
    const char *url = getenv("FLOWSTATE_EMBED_URL");
    const char *model = getenv("FLOWSTATE_EMBED_MODEL");
    const char *key = getenv("FLOWSTATE_EMBED_KEY");
    const char *dims = getenv("FLOWSTATE_EMBED_SEND_DIMS");
    if (!key || !*key) key = getenv("OPENAI_API_KEY");
    if (!url || !*url) {
        snprintf(msg, cap, "the openai embedder needs FLOWSTATE_EMBED_URL "
                 "(e.g. https://api.openai.com/v1)");
        return FS_EINVAL;
    }
    embed_openai_config c = {
        .url = url, .model = model && *model ? model : "text-embedding-3-small",
        .key = key && *key ? key : NULL, .dims = sp->dims,
        .send_dimensions = dims && !strcmp(dims, "1"), .max_retries = -1,
    };
    int rc = embed_openai_open(out, &c);
    if (rc) snprintf(msg, cap, "cannot set up the openai embedder");
    return rc;
}

int space_embedder_open(embedder **out, const mem_space *sp, store *st,
                        char *msg, size_t cap)
{
    embedder *inner;
    int rc;
    if (!strcmp(sp->embedder, "openai")) {
        rc = open_openai(&inner, sp, msg, cap);
    } else {
        embed_stats stats = { stats_docs, stats_df, st };
        rc = embed_local_open(&inner, sp->dims, &stats);
        if (rc) snprintf(msg, cap, "cannot set up the local embedder");
    }
    if (rc) return rc;
    return embed_cached_open(out, inner, st);
}
