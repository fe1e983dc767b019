/*
 * space.h - a database's vector space: dimensions, metric and embedder.
 *
 * They are fixed when a database is first opened (from the flags, or the
 * defaults 1536 / cosine / local, matching text-embedding-3-small) and
 * recorded in the store.  Later starts read them back; a flag that
 * disagrees with the recorded value is refused with a message naming both,
 * rather than silently mixing vectors of two spaces.
 */
#ifndef SPACE_H
#define SPACE_H
#include <stddef.h>

#include "memory/vec.h"
#include "store/store.h"

#define SPACE_MAX_DIMS 16384

typedef struct mem_space {
    size_t dims;
    vec_metric metric;
    char embedder[16]; /* "local" or "openai" */
} mem_space;

/* What the user asked for: 0 / NULL = not given. */
typedef struct space_request {
    size_t dims;
    const char *metric;
    const char *embedder;
} space_request;

/*
 * Resolves the space of st against req.  OUT: *out.  On FS_EINVAL (a bad
 * value) or FS_ECONFLICT (a value other than the recorded one) msg holds a
 * sentence for the user.
 */
int space_resolve(store *st, const space_request *req, mem_space *out,
                  char *msg, size_t cap);

/*
 * Opens the space's embedder, behind the store's embedding cache:
 *   local   the offline embedder, with IDF from the store's documents;
 *   openai  an OpenAI-compatible endpoint from the environment:
 *           FLOWSTATE_EMBED_URL (required, e.g. https://api.openai.com/v1),
 *           FLOWSTATE_EMBED_MODEL (text-embedding-3-small),
 *           FLOWSTATE_EMBED_KEY or OPENAI_API_KEY (optional),
 *           FLOWSTATE_EMBED_SEND_DIMS=1 to ask for the space's dimensions.
 * st is borrowed and must outlive the embedder.  On failure msg says why.
 */
struct embedder;
int space_embedder_open(struct embedder **out, const mem_space *sp, store *st,
                        char *msg, size_t cap);

#endif
