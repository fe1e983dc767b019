/* store.c - opens the backend named by a URL (see store.h). */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include "core/fs.h"

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

int store_open(store **out, const char *url, const store_options *opt)
{
    static const store_options defaults = { false, 5000 };
    if (!opt) opt = &defaults;
    if (!url || !*url) return FS_EINVAL;
    if (has_prefix(url, "postgres://") || has_prefix(url, "postgresql://"))
        return store_pg_open(out, url, opt);
    if (has_prefix(url, "sqlite:")) url += strlen("sqlite:");
    else if (has_prefix(url, "file:")) url += strlen("file:");
    return store_sqlite_open(out, url, opt);
}

void store_close(store *st)
{
    if (st) st->ops->close(st);
}

const char *store_backend(const store *st) { return st->ops->name; }

void store_stats_free(store_stat *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) free(rows[i].type);
    free(rows);
}

void store_job_signals_free(store_job_signal *s, size_t n)
{
    for (size_t i = 0; i < n; i++) fs_job_clear(&s[i].job);
    free(s);
}
