/*
 * clidoc.c - flag checks and one-line text for the memory commands (see
 * clidoc.h).
 *
 * Design: each checker validates everything before building anything, so
 * a false return leaves nothing allocated; the JSON they build is exactly
 * the shape the request body takes (an array of tags, an object of
 * strings), so the commands only attach it.
 */
#include "cli/clidoc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"

bool clidoc_name(const cliopt_ctx *ctx, const char *flag, const char *s)
{
    if (!s) return true;
    if (!*s) {
        cliopt_fail(ctx, "%s is empty", flag);
        return false;
    }
    if (strlen(s) > CLIDOC_MAX_NAME) {
        cliopt_fail(ctx, "%s is longer than %d bytes", flag, CLIDOC_MAX_NAME);
        return false;
    }
    return true;
}

bool clidoc_tags(const cliopt_ctx *ctx, const cliopt_list *tags, json_t **out)
{
    *out = NULL;
    for (size_t i = 0; i < tags->n; i++)
        if (!clidoc_name(ctx, "--tag", tags->v[i])) return false;
    if (tags->n == 0) return true;
    json_t *arr = json_array();
    for (size_t i = 0; i < tags->n; i++) {
        json_t *t = json_string(tags->v[i]);
        if (!t) {
            json_decref(arr);
            cliopt_fail(ctx, "--tag '%s' is not UTF-8", tags->v[i]);
            return false;
        }
        json_array_append_new(arr, t);
    }
    *out = arr;
    return true;
}

bool clidoc_meta(const cliopt_ctx *ctx, const cliopt_list *meta, bool filter,
                 json_t **out)
{
    *out = NULL;
    if (filter && meta->n > CLIDOC_MAX_META_FILTER) {
        cliopt_fail(ctx, "at most %d --meta filters", CLIDOC_MAX_META_FILTER);
        return false;
    }
    for (size_t i = 0; i < meta->n; i++) {
        const char *kv = meta->v[i], *eq = strchr(kv, '=');
        if (!eq || eq == kv) {
            cliopt_fail(ctx, "--meta: '%s' is not key=value", kv);
            return false;
        }
        if (filter && strcspn(kv, "\"\\") < (size_t)(eq - kv)) {
            cliopt_fail(ctx,
                        "--meta: the key of '%s' may not hold quotes or "
                        "backslashes",
                        kv);
            return false;
        }
    }
    if (meta->n == 0) return true;
    json_t *obj = json_object();
    for (size_t i = 0; i < meta->n; i++) {
        const char *kv = meta->v[i], *eq = strchr(kv, '=');
        char *key = xstrndup(kv, (size_t)(eq - kv));
        json_t *v = json_string(eq + 1);
        bool ok = v && json_object_set_new(obj, key, v) == 0;
        free(key);
        if (!ok) {
            json_decref(obj);
            cliopt_fail(ctx, "--meta: '%s' is not UTF-8", kv);
            return false;
        }
    }
    *out = obj;
    return true;
}

bool clidoc_id(const cliopt_ctx *ctx, const char *what, const char *s,
               int64_t *id)
{
    if (cliopt_int(s, 1, INT64_MAX, id)) return true;
    cliopt_fail(ctx, "%s: '%s' is not a document id (a positive whole number)",
                what, s);
    return false;
}

char *clidoc_oneline(const char *s)
{
    char *out = xmalloc(strlen(s) + 1), *p = out;
    bool space = false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isspace(c) || c < 0x20 || c == 0x7f) {
            space = p != out;
            continue;
        }
        if (space) *p++ = ' ';
        space = false;
        *p++ = (char)c;
    }
    *p = '\0';
    return out;
}
