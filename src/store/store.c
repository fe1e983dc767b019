/* store.c - opens the backend named by a URL, and the checks every
 * backend shares (see store.h). */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/xmem.h"

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

int store_run_change_check(const store_run_change *ch)
{
    const fs_run *r = ch->run;
    if (!r || (!r->id && !r->workflow) || (ch->ntasks && !ch->tasks) ||
        (ch->nevents && !ch->events) || (ch->njobs && !ch->jobs) ||
        (ch->ncancel && !ch->cancel))
        return FS_EINVAL;
    for (size_t k = 0; k < ch->ntasks; k++) {
        int ref = ch->tasks[k].job_ref;
        if (ref >= 0 && (size_t)ref >= ch->njobs) return FS_EINVAL;
    }
    for (size_t k = 0; k < ch->nevents; k++)
        if (!ch->events[k].type) return FS_EINVAL;
    for (size_t k = 0; k < ch->njobs; k++)
        if (!ch->jobs[k].type || !ch->jobs[k].target_agent) return FS_EINVAL;
    return 0;
}

bool store_evolution_complete(const fs_evolution *e)
{
    return e->type && e->component && e->description && e->proposed_by &&
           e->status && e->data;
}

char *store_cron_key(const char *name, int64_t fire_at)
{
    return xasprintf("cron:%s:%lld", name, (long long)fire_at);
}

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
