/*
 * data_processor.c - the `data_processor` agent over the record library in
 * src/agents/data/.  Every job takes its records as "records" (a list of
 * objects, or the output of an earlier step that holds one) or reads them
 * from "source" (a CSV, TSV or JSONL file under $FLOWSTATE_DATA_ROOT, else
 * the working folder):
 *
 *   validate           {"fields":{…}} | {"required":[…]} -> per-record errors
 *   normalize          trim, case, e-mail, phone to E.164, dates to ISO 8601
 *   dedupe             {"keys":[…]} -> {"groups":[{"survivor","members","reason"}]}
 *   profile            per column: null rate, distinct, min/max, top values
 *   ingest             each record into memory ("kind", default "record")
 *   identify_patterns  clusters of the records (local embedder, k-means, k
 *                      by silhouette unless "k") labelled by their top terms
 *   enrich             {"lead":{…}} -> the lead normalised, with "score"
 *                      kept beside it (a step of lead qualification)
 */
#include "agents/builtin/data_processor.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/data/dp_dedupe.h"
#include "agents/data/dp_normalize.h"
#include "agents/data/dp_profile.h"
#include "agents/data/dp_read.h"
#include "agents/data/dp_validate.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/xmem.h"
#include "memory/cluster.h"
#include "memory/embed.h"
#include "memory/topics.h"

#define MAX_RECORDS 200000
#define MAX_INGEST 10000
#define MAX_PATTERNS 5000
#define DIMS 256

/* A path under the data root, or NULL (outside it, or not there). */
static char *inside_root(const char *path)
{
    const char *env = getenv("FLOWSTATE_DATA_ROOT");
    char *root = realpath(env && *env ? env : ".", NULL), *real = NULL;
    char *joined = path[0] == '/' ? xstrdup(path) : xasprintf("%s/%s", root ? root : ".", path);
    if (root) real = realpath(joined, NULL);
    size_t n = root ? strlen(root) : 0;
    if (real && (strncmp(real, root, n) || (real[n] && real[n] != '/'))) {
        free(real);
        real = NULL;
    }
    free(root);
    free(joined);
    return real;
}

/* The job's records (a new reference), or NULL after agent_error. */
static json_t *records_of(agent_ctx *c, const json_t *p)
{
    json_t *r = json_object_get(p, "records");
    if (json_is_object(r)) r = json_object_get(r, "records"); /* a step's output */
    if (json_is_array(r)) return json_incref(r);
    const char *source = json_string_value(json_object_get(p, "source"));
    if (!source) {
        agent_error_final(c, "give \"records\" (a list of objects) or \"source\" (a file)");
        return NULL;
    }
    char *path = inside_root(source);
    json_t *recs = NULL, *errors = NULL;
    if (!path) {
        agent_error_final(c, "source '%s' is not a file under the data folder", source);
        return NULL;
    }
    int rc = dp_read_records(path, true, MAX_RECORDS, &recs, &errors);
    free(path);
    if (rc) agent_error_final(c, "source '%s': %s", source, fs_strerror(rc));
    json_decref(errors);
    return rc ? NULL : recs;
}

/* Runs a library job: 0, or the library's error text as a final error. */
static int library(agent_ctx *c, int rc, json_t **out)
{
    if (!rc) return 0;
    const char *why = json_string_value(json_object_get(*out, "error"));
    rc = agent_error_final(c, "%s", why ? why : fs_strerror(rc));
    json_decref(*out);
    *out = NULL;
    return rc;
}

static int ingest(agent_ctx *c, const json_t *p, json_t *recs, json_t **out)
{
    const char *kind = json_string_value(json_object_get(p, "kind"));
    if (json_array_size(recs) > MAX_INGEST)
        return agent_error_final(c, "ingest takes at most %d records a job", MAX_INGEST);
    json_t *ids = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(recs, i, r) {
        char *text = fs_json_dump(r, 0);
        int64_t id;
        int rc = agent_memory_add(c, kind ? kind : "record", text, NULL, &id);
        free(text);
        if (rc) {
            json_decref(ids);
            return agent_error(c, "record %zu: %s", i, fs_strerror(rc));
        }
        json_array_append_new(ids, json_integer(id));
        if (agent_cancelled(c)) break;
    }
    *out = json_pack("{s:I,s:o}", "added", (json_int_t)json_array_size(ids), "ids", ids);
    return 0;
}

static int patterns(agent_ctx *c, const json_t *p, json_t *recs, json_t **out)
{
    size_t n = json_array_size(recs), k = 0;
    json_t *kj = json_object_get(p, "k");
    if (n == 0) return agent_error_final(c, "no records to find patterns in");
    if (n > MAX_PATTERNS) n = MAX_PATTERNS;
    if (json_is_integer(kj)) k = (size_t)json_integer_value(kj);
    char **texts = xcalloc(n, sizeof *texts);
    size_t *lens = xcalloc(n, sizeof *lens);
    float *v = xmalloc(n * DIMS * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        texts[i] = fs_json_dump(json_array_get(recs, i), 0);
        lens[i] = strlen(texts[i]);
    }
    cluster_result cr = { 0 };
    topics *t = NULL;
    int rc = embed_texts(agent_state(c), (const char *const *)texts, lens, n, v);
    if (!rc) rc = cluster_kmeans(v, n, DIMS, VEC_COSINE, k, 1, &cr);
    if (!rc) rc = topics_build((const char *const *)texts, cr.assign, n, cr.k, 5, &t);
    if (!rc) {
        json_t *clusters = json_array();
        for (size_t g = 0; g < cr.k; g++) {
            json_t *terms = json_array(), *members = json_array();
            for (size_t j = 0; topics_term(t, g, j); j++)
                json_array_append_new(terms, json_string(topics_term(t, g, j)));
            for (size_t i = 0; i < n; i++)
                if ((size_t)cr.assign[i] == g) json_array_append_new(members, json_integer((json_int_t)i));
            json_array_append_new(clusters, json_pack("{s:o,s:I,s:o}", "terms", terms,
                                  "size", (json_int_t)json_array_size(members), "members", members));
        }
        *out = json_pack("{s:o,s:f,s:I}", "clusters", clusters, "silhouette", cr.silhouette,
                         "records", (json_int_t)n);
    }
    topics_free(t);
    free(cr.assign);
    for (size_t i = 0; i < n; i++) free(texts[i]);
    free(texts);
    free(lens);
    free(v);
    return rc ? agent_error_final(c, "patterns: %s", fs_strerror(rc)) : 0;
}

static int enrich(agent_ctx *c, const json_t *p, json_t **out)
{
    json_t *lead = json_object_get(p, "lead");
    if (!json_is_object(lead)) return agent_error_final(c, "enrich needs a \"lead\" object");
    json_t *one = json_pack("[O]", lead), *norm = NULL;
    int rc = library(c, dp_normalize(one, json_object_get(p, "options"), &norm), &norm);
    json_decref(one);
    if (rc) return rc;
    json_t *enriched = json_deep_copy(json_array_get(json_object_get(norm, "records"), 0));
    json_decref(norm);
    if (json_object_get(p, "score"))
        json_object_set(enriched, "score", json_object_get(p, "score"));
    *out = enriched;
    return 0;
}

static int handle(agent_ctx *c, const json_t *p, json_t **result)
{
    const char *type = agent_job(c)->type;
    if (!json_is_object(p)) return agent_error_final(c, "the payload must be an object");
    if (!strcmp(type, "enrich")) return enrich(c, p, result);
    json_t *recs = records_of(c, p);
    if (!recs) return FS_EINVAL;
    int rc;
    if (!strcmp(type, "validate")) rc = library(c, dp_validate(recs, p, result), result);
    else if (!strcmp(type, "normalize"))
        rc = library(c, dp_normalize(recs, json_object_get(p, "options"), result), result);
    else if (!strcmp(type, "profile")) rc = library(c, dp_profile(recs, result), result);
    else if (!strcmp(type, "dedupe")) {
        dp_dedupe_opts o = { 0 };
        char err[256];
        rc = dp_dedupe_opts_json(p, &o, err, sizeof err)
                 ? agent_error_final(c, "%s", err)
                 : library(c, dp_dedupe(recs, json_object_get(p, "keys"), &o, result), result);
    } else if (!strcmp(type, "ingest")) rc = ingest(c, p, recs, result);
    else if (!strcmp(type, "identify_patterns")) rc = patterns(c, p, recs, result);
    else rc = agent_error_final(c, "data_processor does not take '%s' jobs", type);
    json_decref(recs);
    return rc;
}

static int init(void **out)
{
    embedder *e;
    int rc = embed_local_open(&e, DIMS, NULL);
    if (!rc) *out = e;
    return rc;
}

static void close_state(void *state) { embed_close(state); }

static const char *const JOB_TYPES[] = { "validate", "normalize", "dedupe", "profile",
                                         "ingest", "identify_patterns", "enrich", NULL };

const agent_def data_processor_agent = { "data_processor", JOB_TYPES, init, handle,
                                         close_state };
