/*
 * code_analyzer.c - the `code_analyzer` agent over the analysis library in
 * src/agents/code/:
 *
 *   analyze_code           {"files":[{"path","content"}]} | {"path"} -> the
 *                          per-file metrics, functions and findings (the
 *                          contract of issue 5), duplicates and a summary
 *   detect_bugs            cppcheck and clang-tidy where installed, plus
 *                          our own checks -> findings with file and line
 *   suggest_optimizations  the hot spots of an analysis, ranked ({"top"})
 *
 * A {"path"} is read relative to the agent's root and may not leave it:
 * $FLOWSTATE_CODE_ROOT, else the process's working folder.  Every result
 * is also kept in memory as a short "code_analysis" note, so agents can
 * search what was found.  A long walk stops when the job is cancelled.
 */
#include "agents/builtin/code_analyzer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agents/code/code_analyze.h"
#include "agents/code/code_external.h"
#include "agents/code/code_rank.h"
#include "core/fs.h"
#include "core/xmem.h"

#define DEFAULT_TOP 10

static bool cancelled(void *ctx) { return agent_cancelled(ctx); }

static code_options options(agent_ctx *c)
{
    const char *root = getenv("FLOWSTATE_CODE_ROOT");
    return (code_options){ .root = root && *root ? root : agent_state(c),
                           .cancelled = cancelled, .ctx = c };
}

/* A one-line summary of result in memory (the job still succeeds if
 * memory is unavailable: the result is the job's). */
static void remember(agent_ctx *c, const char *what, const json_t *payload,
                     const json_t *summary)
{
    const char *path = json_string_value(json_object_get(payload, "path"));
    char *s = json_dumps(summary ? summary : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
    char *note = xasprintf("%s of %s: %s", what, path ? path : "the given files",
                           s ? s : "{}");
    int64_t id;
    if (agent_memory_add(c, "code_analysis", note, NULL, &id))
        agent_log(c, LOG_INFO, "no memory note: the result is in the job");
    free(note);
    free(s);
}

static int analyze(agent_ctx *c, const json_t *p, json_t **out)
{
    char err[512] = "";
    code_options o = options(c);
    int rc = code_analyze(p, &o, out, err, sizeof err);
    if (rc == FS_EINVAL || rc == FS_EFORBIDDEN || rc == FS_ENOTFOUND)
        return agent_error_final(c, "%s", err[0] ? err : fs_strerror(rc));
    if (rc) return agent_error(c, "%s", err[0] ? err : fs_strerror(rc));
    return 0;
}

static int handle(agent_ctx *c, const json_t *payload, json_t **result)
{
    const char *type = agent_job(c)->type;
    if (!json_is_object(payload)) return agent_error_final(c, "the payload must be an object");
    int rc;
    if (!strcmp(type, "analyze_code")) {
        if ((rc = analyze(c, payload, result))) return rc;
        remember(c, "analysis", payload, json_object_get(*result, "summary"));
        return 0;
    }
    if (!strcmp(type, "detect_bugs")) {
        char err[512] = "";
        code_ext_options o = { .analyze = options(c) };
        rc = code_ext_detect(payload, &o, result, err, sizeof err);
        if (rc == FS_EINVAL || rc == FS_EFORBIDDEN || rc == FS_ENOTFOUND)
            return agent_error_final(c, "%s", err[0] ? err : fs_strerror(rc));
        if (rc) return agent_error(c, "%s", err[0] ? err : fs_strerror(rc));
        remember(c, "bug check", payload, json_object_get(*result, "summary"));
        return 0;
    }
    if (!strcmp(type, "suggest_optimizations")) {
        json_t *analysis, *top = json_object_get(payload, "top");
        if ((rc = analyze(c, payload, &analysis))) return rc;
        rc = code_rank_hotspots(analysis, json_is_integer(top) && json_integer_value(top) > 0
                                              ? (size_t)json_integer_value(top) : DEFAULT_TOP,
                                result);
        json_decref(analysis);
        if (rc) return agent_error(c, "ranking: %s", fs_strerror(rc));
        remember(c, "hot spots", payload, json_array_get(json_object_get(*result, "hotspots"), 0));
        return 0;
    }
    return agent_error_final(c, "code_analyzer does not take '%s' jobs", type);
}

/* The state is the root: the working folder when the agent started. */
static int init(void **out)
{
    char *cwd = getcwd(NULL, 0);
    if (!cwd) return FS_EIO;
    *out = cwd;
    return 0;
}

static void close_state(void *state) { free(state); }

static const char *const JOB_TYPES[] = { "analyze_code", "detect_bugs",
                                         "suggest_optimizations", NULL };

const agent_def code_analyzer_agent = { "code_analyzer", JOB_TYPES, init, handle,
                                        close_state };
