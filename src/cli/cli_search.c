/*
 * cli_search.c - `flowstate search ["QUERY"] [--mode M] ...` (see cli.h):
 * one POST /v1/search/<mode>, printed as a ranked table or the server's
 * JSON.
 *
 * Design: the modes differ only in what names the target of the search,
 * so a static table (search_modes) says which inputs each takes and the
 * rest is shared: one check of the flags against the table (QUERY for
 * semantic and hybrid, --id for similar, --like/--unlike for recommend,
 * --k for cluster; any other is a usage error naming the mode it belongs
 * to), one body builder (limit, threshold, filter), one request.
 *
 * Results are a table of RANK, SCORE, ID and the content on one line;
 * when the best match was a chunk of a long document, the chunk is shown
 * instead of the document's start ("[chunk 3] ..."); hybrid adds the two
 * ranks it fused.  Cluster search prints one row per cluster; a server
 * without it (404/405: the route is not there yet) gets a clear message
 * and the exit code of its status.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/clidoc.h"
#include "cli/client.h"
#include "cli/clifmt.h"
#include "cli/cliopt.h"
#include "cli/table.h"
#include "core/clock.h"
#include "core/xmem.h"
#include "memory/cluster.h"
#include "memory/memory.h"

#define MAX_EXAMPLES MEMORY_MAX_BATCH

/* What a mode takes (bits). */
enum { TAKES_QUERY = 1, TAKES_ID = 2, TAKES_EXAMPLES = 4, TAKES_K = 8, TAKES_FUSION = 16 };

typedef struct search_mode {
    const char *name;
    unsigned takes, needs;
} search_mode;

static const search_mode search_modes[] = {
    {"semantic", TAKES_QUERY, TAKES_QUERY},
    {"hybrid", TAKES_QUERY | TAKES_FUSION, TAKES_QUERY},
    {"similar", TAKES_ID, TAKES_ID},
    {"recommend", TAKES_EXAMPLES, TAKES_EXAMPLES},
    {"cluster", TAKES_K, 0},
};

typedef struct search_args {
    const char *query, *mode, *agent, *kind, *since, *until, *id, *fusion;
    cliopt_list tags, meta, like, unlike;
    cliopt_num limit, k;
    cliopt_real threshold;
} search_args;

static const search_mode *find_mode(const char *name)
{
    for (size_t i = 0; i < sizeof search_modes / sizeof *search_modes; i++)
        if (!strcmp(search_modes[i].name, name)) return &search_modes[i];
    return NULL;
}

/* Checks the inputs given against what mode m takes and needs. */
static bool check_mode(const cliopt_ctx *ctx, const search_mode *m,
                       const search_args *a)
{
    static const struct {
        unsigned bit;
        const char *flag, *mode;
    } inputs[] = {
        {TAKES_QUERY, "QUERY", "semantic or hybrid"},
        {TAKES_ID, "--id", "similar"},
        {TAKES_EXAMPLES, "--like/--unlike", "recommend"},
        {TAKES_K, "--k", "cluster"},
        {TAKES_FUSION, "--fusion", "hybrid"},
    };
    unsigned given = (a->query ? TAKES_QUERY : 0) | (a->id ? TAKES_ID : 0) |
                     (a->like.n || a->unlike.n ? TAKES_EXAMPLES : 0) |
                     (a->k.set ? TAKES_K : 0) | (a->fusion ? TAKES_FUSION : 0);
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) {
        if ((given & inputs[i].bit) && !(m->takes & inputs[i].bit)) {
            cliopt_fail(ctx, "%s is for --mode %s, not %s", inputs[i].flag,
                        inputs[i].mode, m->name);
            return false;
        }
    }
    if ((m->needs & TAKES_QUERY) && !a->query) {
        cliopt_fail(ctx, "missing QUERY (the text to search for)");
        return false;
    }
    if ((m->needs & TAKES_ID) && !a->id) {
        cliopt_fail(ctx, "--mode similar needs --id ID (the example "
                         "document)");
        return false;
    }
    if ((m->needs & TAKES_EXAMPLES) && !a->like.n) {
        cliopt_fail(ctx, "--mode recommend needs at least one --like ID");
        return false;
    }
    if (a->fusion && strcmp(a->fusion, "rrf") && strcmp(a->fusion, "convex")) {
        cliopt_fail(ctx, "--fusion: '%s' is not one of rrf, convex", a->fusion);
        return false;
    }
    if (a->query && !*a->query) {
        cliopt_fail(ctx, "QUERY is empty");
        return false;
    }
    return true;
}

/* --like/--unlike values ("3", "3,4,5") as a JSON array of ids into
 * body[key]. */
static bool add_ids(const cliopt_ctx *ctx, const char *flag,
                    const cliopt_list *l, json_t *body, const char *key)
{
    json_t *ids = json_array();
    for (size_t i = 0; i < l->n; i++) {
        char *copy = xstrdup(l->v[i]), *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            int64_t id;
            if (!clidoc_id(ctx, flag, tok, &id) ||
                json_array_size(ids) == MAX_EXAMPLES) {
                if (json_array_size(ids) == MAX_EXAMPLES)
                    cliopt_fail(ctx, "%s: more than %d ids", flag,
                                MAX_EXAMPLES);
                free(copy);
                json_decref(ids);
                return false;
            }
            json_array_append_new(ids, json_integer(id));
        }
        free(copy);
    }
    json_object_set_new(body, key, ids);
    return true;
}

/* The "filter" object, or NULL when no filter flag was given; OUT: *out.
 * false after printing why. */
static bool build_filter(const cliopt_ctx *ctx, const search_args *a,
                         json_t **out)
{
    json_t *tags, *meta;
    int64_t ms;
    *out = NULL;
    if (!clidoc_name(ctx, "--agent", a->agent) ||
        !clidoc_name(ctx, "--kind", a->kind))
        return false;
    const char *times[2][2] = {{"--since", a->since}, {"--until", a->until}};
    for (int i = 0; i < 2; i++) {
        if (times[i][1] && !fs_time_parse(times[i][1], &ms)) {
            cliopt_fail(ctx,
                        "%s: '%s' is not an RFC 3339 time (like "
                        "2026-01-02T03:04:05Z)",
                        times[i][0], times[i][1]);
            return false;
        }
    }
    if (!clidoc_tags(ctx, &a->tags, &tags)) return false;
    if (!clidoc_meta(ctx, &a->meta, true, &meta)) {
        json_decref(tags);
        return false;
    }
    if (!a->agent && !a->kind && !a->since && !a->until && !tags && !meta)
        return true;
    json_t *f = json_object();
    if (a->agent) json_object_set_new(f, "agent", json_string(a->agent));
    if (a->kind) json_object_set_new(f, "kind", json_string(a->kind));
    if (tags) json_object_set_new(f, "tags", tags);
    if (meta) json_object_set_new(f, "metadata", meta);
    if (a->since) json_object_set_new(f, "since", json_string(a->since));
    if (a->until) json_object_set_new(f, "until", json_string(a->until));
    *out = f;
    return true;
}

/* The request body for mode m; NULL after printing why. */
static json_t *search_body(const cliopt_ctx *ctx, const search_mode *m,
                           const search_args *a)
{
    json_t *filter, *body;
    int64_t id = 0;
    if (!check_mode(ctx, m, a) ||
        (a->id && !clidoc_id(ctx, "--id", a->id, &id)))
        return NULL;
    if (!build_filter(ctx, a, &filter)) return NULL;
    body = json_object();
    if (filter) json_object_set_new(body, "filter", filter);
    if (a->query) json_object_set_new(body, "query", json_string(a->query));
    if (a->id) json_object_set_new(body, "id", json_integer(id));
    if (a->k.set) json_object_set_new(body, "k", json_integer(a->k.v));
    if (a->fusion) json_object_set_new(body, "fusion", json_string(a->fusion));
    if (a->limit.set)
        json_object_set_new(body, "limit", json_integer(a->limit.v));
    if (a->threshold.set)
        json_object_set_new(body, "threshold", json_real(a->threshold.v));
    if ((m->takes & TAKES_EXAMPLES) &&
        (!add_ids(ctx, "--like", &a->like, body, "positive") ||
         !add_ids(ctx, "--unlike", &a->unlike, body, "negative"))) {
        json_decref(body);
        return NULL;
    }
    if (a->query && !json_object_get(body, "query")) {
        json_decref(body);
        cliopt_fail(ctx, "QUERY is not UTF-8 text");
        return NULL;
    }
    return body;
}

/* ---- printing --------------------------------------------------------- */

/* The content cell: the matched chunk when there is one. */
static char *content_cell(const json_t *hit)
{
    const char *matched = json_string_value(json_object_get(hit, "matched"));
    json_t *chunk = json_object_get(hit, "chunk");
    if (!matched) return clidoc_oneline(clifmt_str(hit, "content"));
    char *flat = clidoc_oneline(matched);
    char *cell = xasprintf("[chunk %" JSON_INTEGER_FORMAT "] %s",
                           json_integer_value(chunk), flat);
    free(flat);
    return cell;
}

static void print_results(const json_t *results, bool hybrid)
{
    static const char *const headers[] = {"RANK",   "SCORE",  "ID",
                                          "V.RANK", "T.RANK", "CONTENT"};
    size_t ncols = hybrid ? 6 : 4;
    const char *h[6] = {headers[0], headers[1],
                        headers[2], hybrid ? headers[3] : headers[5],
                        headers[4], headers[5]};
    table *t = table_new(ncols, h);
    for (size_t c = 0; c + 1 < ncols; c++)
        table_set_align(t, c, TABLE_RIGHT);
    table_set_max(t, ncols - 1, 100);
    size_t i;
    json_t *hit;
    json_array_foreach(results, i, hit)
    {
        char rank[24], score[32];
        snprintf(rank, sizeof rank, "%zu", i + 1);
        snprintf(score, sizeof score, "%.4f",
                 json_number_value(json_object_get(hit, "score")));
        char *id = clifmt_value(json_object_get(hit, "id"));
        char *vr = clifmt_value(json_object_get(hit, "vector_rank"));
        char *tr = clifmt_value(json_object_get(hit, "text_rank"));
        char *content = content_cell(hit);
        const char *row[6] = {rank, score,  id, hybrid ? vr : content,
                              tr,   content};
        table_add(t, row);
        free(id);
        free(vr);
        free(tr);
        free(content);
    }
    table_print(t, stdout, table_style_for(stdout));
    table_free(t);
}

static void print_clusters(const json_t *clusters)
{
    static const char *const headers[] = {"CLUSTER", "SIZE", "LABEL", "TERMS",
                                          "MEMBERS"};
    table *t = table_new(5, headers);
    table_set_align(t, 0, TABLE_RIGHT);
    table_set_align(t, 1, TABLE_RIGHT);
    table_set_max(t, 2, 40);
    table_set_max(t, 3, 40);
    table_set_max(t, 4, 40);
    size_t i;
    json_t *cl;
    json_array_foreach(clusters, i, cl)
    {
        char n[24], size[24];
        json_t *members = json_object_get(cl, "members");
        snprintf(n, sizeof n, "%zu", i + 1);
        json_t *sz = json_object_get(cl, "size");
        snprintf(size, sizeof size, "%" JSON_INTEGER_FORMAT,
                 json_is_integer(sz) ? json_integer_value(sz)
                                     : (json_int_t)json_array_size(members));
        char *terms = clifmt_value(json_object_get(cl, "terms"));
        char *ids = clifmt_value(members);
        const char *row[5] = {n, size, clifmt_str(cl, "label"), terms, ids};
        table_add(t, row);
        free(terms);
        free(ids);
    }
    table_print(t, stdout, table_style_for(stdout));
    table_free(t);
}

/* Prints a successful answer; CLI_EXIT_UNREACHABLE when it is not the
 * shape the mode promises. */
static int print_answer(const search_mode *m, const json_t *doc, bool json)
{
    bool cluster = !strcmp(m->name, "cluster");
    const char *key = cluster ? "clusters" : "results";
    json_t *list = json_object_get(doc, key);
    if (!json_is_array(list)) {
        fprintf(stderr, "flowstate: the server's answer has no %s list\n", key);
        return CLI_EXIT_UNREACHABLE;
    }
    if (json)
        clifmt_json(stdout, doc);
    else if (json_array_size(list) == 0)
        printf("no %s\n", cluster ? "clusters" : "results");
    else if (cluster) {
        print_clusters(list);
        json_t *sil = json_object_get(doc, "silhouette");
        if (json_is_number(sil))
            printf("k = %zu, silhouette %.3f\n", json_array_size(list),
                   json_number_value(sil));
    } else
        print_results(list, !strcmp(m->name, "hybrid"));
    return CLI_EXIT_OK;
}

static int search_run(const cliopt_ctx *ctx, int argc, char **argv)
{
    cliopt_common common = {0};
    search_args a = {0};
    const cliopt opts[] = {
        {"mode", CLIOPT_STR, &a.mode},
        {"limit", CLIOPT_INT, &a.limit, 1, MEMORY_MAX_BATCH},
        {"threshold", CLIOPT_REAL, &a.threshold, INT64_MIN, INT64_MAX},
        {"agent", CLIOPT_STR, &a.agent},
        {"kind", CLIOPT_STR, &a.kind},
        {"tag", CLIOPT_LIST, &a.tags},
        {"meta", CLIOPT_LIST, &a.meta},
        {"since", CLIOPT_STR, &a.since},
        {"until", CLIOPT_STR, &a.until},
        {"id", CLIOPT_STR, &a.id},
        {"like", CLIOPT_LIST, &a.like},
        {"unlike", CLIOPT_LIST, &a.unlike},
        {"k", CLIOPT_INT, &a.k, 1, CLUSTER_MAX_K},
        {"fusion", CLIOPT_STR, &a.fusion},
        {NULL},
    };
    int code;
    if (!cliopt_parse(ctx, opts, argc, argv, &common, &a.query, &code))
        return code;
    const search_mode *m = find_mode(a.mode ? a.mode : "semantic");
    if (!m)
        return cliopt_fail(ctx,
                           "--mode: '%s' is not one of semantic, hybrid, "
                           "similar, recommend, cluster",
                           a.mode);
    json_t *body = search_body(ctx, m, &a);
    if (!body) return CLI_EXIT_USAGE;
    client *c;
    if (client_open(&c, &common.conn) != 0) {
        json_decref(body);
        return CLI_EXIT_USAGE;
    }
    char *path = xasprintf("/v1/search/%s", m->name);
    client_resp r;
    if (client_request(c, "POST", path, body, &r) != 0) {
        code = CLI_EXIT_UNREACHABLE;
        goto free_all;
    }
    if (!strcmp(m->name, "cluster") && (r.status == 404 || r.status == 405)) {
        fprintf(stderr,
                "flowstate search: --mode cluster is not available "
                "on this server yet (POST %s answered %ld)\n",
                path, r.status);
        code = client_exit_code(r.status);
    } else if ((code = client_report(&r)) == CLI_EXIT_OK) {
        code = print_answer(m, r.json, common.json);
    }
    client_resp_clear(&r);
free_all:
    free(path);
    client_close(c);
    json_decref(body);
    return code;
}

static const cliopt_cmd search_cmd = {
    "search",
    search_run,
    "[\"QUERY\"] [--mode M] [options]",
    "Search the shared memory.  Prints the best documents first: rank,\n"
    "score, id and the content (the best matching chunk of a long\n"
    "document), or with --json the server's answer.\n"
    "\n"
    "modes (--mode, default semantic):\n"
    "  semantic    by meaning: QUERY is embedded and compared\n"
    "  hybrid      meaning and keywords (BM25) fused; QUERY\n"
    "  similar     documents like --id ID\n"
    "  recommend   like the --like documents, unlike the --unlike ones\n"
    "  cluster     groups of similar documents, each labelled by its\n"
    "              characteristic words (--k N, or k chosen by the server)\n"
    "\n"
    "options:\n"
    "  --limit N         results (1-1000, default 10)\n"
    "  --threshold X     leave out results scoring under X\n"
    "  --agent A         only documents of owner agent A\n"
    "  --kind K          only documents of kind K\n"
    "  --tag T           only documents with tag T (repeatable: all of them)\n"
    "  --meta KEY=VALUE  only documents with this metadata (repeatable)\n"
    "  --since TIME      only documents created at or after TIME (RFC 3339)\n"
    "  --until TIME      only documents created before TIME\n"
    "  --id ID           similar: the example document\n"
    "  --like ID         recommend: a liked document (repeatable; or 1,2,3)\n"
    "  --unlike ID       recommend: a disliked document (repeatable)\n"
    "  --k N             cluster: the number of clusters (1-256)\n"
    "  --fusion F        hybrid: rrf (by rank, the default) or convex (by\n"
    "                    normalised score)\n",
    "QUERY",
    CLIOPT_ARG_OPTIONAL};

int cli_search_main(int argc, char **argv)
{
    return cliopt_single(&search_cmd, argc, argv);
}
