/*
 * sqlite_fts.c - the `flowstate` FTS5 tokenizer (see sqlite_fts.h).
 *
 * FTS5 asks a tokenizer object to split text (documents when indexed,
 * queries when matched); ours hands each token's stemmed term to FTS5 with
 * the token's byte offsets.  One text_tokenizer per FTS5 tokenizer object:
 * FTS5 uses an object from one connection, and a connection from one thread
 * at a time, which is the stemmer's rule too.
 */
#include "store/sqlite_fts.h"

#include <stdbool.h>

#include "core/fs.h"
#include "memory/text.h"

typedef struct emit_ctx {
    void *fts_ctx;
    int (*token)(void *ctx, int flags, const char *tok, int n, int start,
                 int end);
    int rc;
} emit_ctx;

static int fts_create(void *unused, const char **argv, int argc,
                      Fts5Tokenizer **out)
{
    (void)unused;
    (void)argv;
    (void)argc;
    text_tokenizer *t;
    if (text_tokenizer_open(&t, "english")) return SQLITE_ERROR;
    *out = (Fts5Tokenizer *)t;
    return SQLITE_OK;
}

static void fts_delete(Fts5Tokenizer *t)
{
    text_tokenizer_close((text_tokenizer *)t);
}

static bool emit(void *ctx, const text_token *t)
{
    emit_ctx *e = ctx;
    e->rc = e->token(e->fts_ctx, 0, t->term, (int)t->len, (int)t->start,
                     (int)t->end);
    return e->rc == SQLITE_OK;
}

static int fts_tokenize(Fts5Tokenizer *t, void *ctx, int flags,
                        const char *text, int len,
                        int (*token)(void *, int, const char *, int, int, int))
{
    (void)flags;
    emit_ctx e = { ctx, token, SQLITE_OK };
    if (len > 0)
        text_tokenize((text_tokenizer *)t, text, (size_t)len, emit, &e);
    return e.rc;
}

static fts5_api *fts5_of(sqlite3 *db)
{
    fts5_api *api = NULL;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &s, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_pointer(s, 1, (void *)&api, "fts5_api_ptr", NULL);
    sqlite3_step(s);
    sqlite3_finalize(s);
    return api;
}

int sqlfts_register(sqlite3 *db)
{
    static fts5_tokenizer tok = { fts_create, fts_delete, fts_tokenize };
    fts5_api *api = fts5_of(db);
    if (!api || api->iVersion < 2) return FS_EIO;
    return api->xCreateTokenizer(api, "flowstate", NULL, &tok, NULL) ==
                   SQLITE_OK
               ? 0
               : FS_EIO;
}
