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

#endif
