/*
 * wfdef.c - parsing and validating workflow definitions (see wfdef.h).
 *
 * wfdef_parse() keeps a deep copy of the JSON so every string of the
 * result borrows from it, then works in passes over the steps in the
 * order they are listed ("definition index"), each adding problems and
 * going on, so one call names them all:
 *
 *   1. parse_top, parse_step: fields, types, ranges, unknown fields; step
 *      ids go into an open-addressing hash map (id -> definition index).
 *   2. link: depends_on and compensate names resolved through the map
 *      into one pool of edges (unknown and repeated names reported).
 *   3. order: Kahn's algorithm with a min-heap of definition indices gives
 *      the stable topological order; steps left over lie on or after a
 *      cycle, and an iterative DFS over them prints each cycle once.
 *   4. check_refs: templates, conditions and for_each references, each
 *      step-reference tested against the step's upstream set (direct deps
 *      by a stamp array; past those, one backward search per step).
 *   5. check_compensation: the rules in wfdef.h.
 *   6. build: steps renumbered in topological order, deps and dependents
 *      as ascending lists in one int pool.
 * Nothing recurses over the graph, so a 10,000-step chain is fine.
 */
#include "workflow/wfdef.h"

#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/xmem.h"
#include "queue/queue.h"
#include "workflow/wfexpr.h"

_Static_assert(WFDEF_MAX_STEP_MS == QUEUE_MAX_LEASE_MS,
               "a step's timeout must fit a job's lease");

#define DEFAULT_INITIAL_MS 1000
#define DEFAULT_MAX_MS 60000
#define MAX_CYCLES 100 /* cycles reported per definition */

/* ---- small helpers ---------------------------------------------------- */

typedef struct sbuf {
    char *s;
    size_t len, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->len + (size_t)n + 1 > b->cap) {
        b->cap = 2 * (b->len + (size_t)n + 1);
        b->s = xrealloc(b->s, b->cap);
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* strlen(s) cut to at most max bytes at a UTF-8 boundary, for "%.*s". */
static int cut(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max) return (int)n;
    while (max && ((unsigned char)s[max] & 0xC0) == 0x80) max--;
    return (int)max;
}

static bool valid_ident(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return n >= 1 && n <= max;
}

/* Edit distance of a and b, or 99 when either is long. */
static int distance(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    int row[33];
    if (na > 32 || nb > 32) return 99;
    for (size_t j = 0; j <= nb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

/* ---- id map: open addressing, keys borrowed --------------------------- */

typedef struct idmap {
    const char **keys;
    int *vals;
    size_t mask;
} idmap;

static void idmap_init(idmap *m, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    m->keys = xcalloc(cap, sizeof *m->keys);
    m->vals = xmalloc(cap * sizeof *m->vals);
    m->mask = cap - 1;
}

static void idmap_free(idmap *m)
{
    free(m->keys);
    free(m->vals);
}

static size_t idmap_slot(const idmap *m, const char *key)
{
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    size_t i = (size_t)h & m->mask;
    while (m->keys[i] && strcmp(m->keys[i], key)) i = (i + 1) & m->mask;
    return i;
}

static int idmap_get(const idmap *m, const char *key)
{
    size_t i = idmap_slot(m, key);
    return m->keys[i] ? m->vals[i] : -1;
}

/* Adds key -> val unless key is there; returns the value now held. */
static int idmap_put(idmap *m, const char *key, int val)
{
    size_t i = idmap_slot(m, key);
    if (!m->keys[i]) {
        m->keys[i] = key;
        m->vals[i] = val;
    }
    return m->vals[i];
}

/* ---- the definition --------------------------------------------------- */

struct wfdef {
    json_t *src;   /* deep copy of the definition; strings borrow from it */
    json_t *empty; /* {} for steps without input, and for no inputs */
    const char *name, *description;
    int64_t version, timeout_ms;
    const json_t *inputs;
    size_t n;
    wfdef_step *steps; /* topological order */
    int *by_def;       /* definition index -> topological index */
    int *pool;         /* every deps and dependents list */
    int nlevels;
    idmap ids;         /* id -> definition index */
};

/* Parse-time state of one step, by definition index. */
typedef struct pstep {
    const json_t *j;    /* the step object, or NULL when it is not one */
    const char *id;     /* NULL when missing or malformed */
    const char *agent, *job_type, *when, *for_each, *comp_name;
    const json_t *input;
    wfdef_retries retries;
    int64_t timeout_ms;
    wfdef_on_failure on_failure;
    int comp;          /* definition index of the compensation, or -1 */
    int comp_of;       /* some step it compensates, or -1 */
    int dep0, ndeps;   /* its deps: pc->deps[dep0 .. dep0 + ndeps) */
} pstep;

typedef struct pctx {
    wfdef *def;
    json_t *problems;
    int errors;
    const char *const *known_agents;
    size_t n;
    pstep *ps;
    int *deps;              /* every step's resolved deps */
    size_t ndeps, capdeps;
    int *out0, *out;        /* dependents, CSR by definition index */
    int *order;             /* definition indices in topological order */
    bool *placed;           /* placed by Kahn (not on or after a cycle) */
    int *dstamp, dstamp_for; /* direct deps of one step */
    int *astamp, astamp_for; /* all upstream steps of one step */
    int *queue;
} pctx;

static void problem(pctx *pc, bool warning, const char *step,
                    const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void problem(pctx *pc, bool warning, const char *step,
                    const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg;
    if (vasprintf(&msg, fmt, ap) < 0) abort();
    va_end(ap);
    json_t *m = json_string(msg); /* user text is cut at UTF-8 bounds */
    assert(m);
    free(msg);
    json_array_append_new(
        pc->problems,
        json_pack("{s:s, s:o, s:s, s:o}", "severity",
                  warning ? "warning" : "error", "step",
                  step ? json_string(step) : json_null(), "code", code,
                  "message", m));
    if (!warning) pc->errors++;
}

/* "step 'id'" or "steps[i]" for messages. */
static const char *label(const pctx *pc, int i, char *buf, size_t len)
{
    if (pc->ps[i].id) snprintf(buf, len, "step '%s'", pc->ps[i].id);
    else snprintf(buf, len, "steps[%d]", i);
    return buf;
}

#define LABEL(i) label(pc, (i), lbuf, sizeof lbuf)

/* Reports every key of obj not in known (NULL-terminated). */
static void unknown_fields(pctx *pc, const json_t *obj,
                           const char *const *known, const char *step,
                           const char *where)
{
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *)obj, key, v) {
        const char *near = NULL;
        bool found = false;
        for (const char *const *k = known; *k && !found; k++) {
            found = !strcmp(key, *k);
            if (!near && strlen(key) >= 3 && distance(key, *k) <= 2)
                near = *k;
        }
        if (found) continue;
        if (near)
            problem(pc, false, step, "unknown_field",
                    "%sunknown field '%.*s' (did you mean '%s'?)", where,
                    cut(key, 64), key, near);
        else
            problem(pc, false, step, "unknown_field",
                    "%sunknown field '%.*s'", where, cut(key, 64), key);
    }
}

/* An integer field in [min, max]: 1 and OUT: *out when good, 0 when
 * absent, -1 when bad (not reported: the caller words that). */
static int int_field(const json_t *obj, const char *key, int64_t min,
                     int64_t max, int64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v) return 0;
    if (!json_is_integer(v)) return -1;
    json_int_t x = json_integer_value(v);
    if (x < min || x > max) return -1;
    *out = x;
    return 1;
}

/* A string field: 1 and OUT: *out, 0 when absent, -1 when not a string. */
static int str_field(const json_t *obj, const char *key, const char **out)
{
    json_t *v = json_object_get(obj, key);
    if (!v) return 0;
    if (!json_is_string(v)) return -1;
    *out = json_string_value(v);
    return 1;
}

/* ---- pass 1: fields --------------------------------------------------- */

static const char *const TOP_FIELDS[] = { "name",   "version",    "description",
                                          "inputs", "timeout_ms", "steps",
                                          NULL };
static const char *const STEP_FIELDS[] = {
    "id",      "agent",      "job_type", "input",    "depends_on",
    "retries", "timeout_ms", "when",     "for_each", "on_failure",
    "compensate", NULL
};
static const char *const RETRY_FIELDS[] = { "max", "backoff", "initial_ms",
                                            "max_ms", NULL };
static const char *const INPUT_FIELDS[] = { "default", "description", NULL };

static void parse_inputs(pctx *pc, const json_t *inputs)
{
    if (!inputs) return;
    if (!json_is_object(inputs)) {
        problem(pc, false, NULL, "bad_value",
                "inputs must be an object of {\"NAME\":{\"default\":...}}");
        return;
    }
    pc->def->inputs = inputs;
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *)inputs, key, v) {
        char where[WFDEF_MAX_ID + 32];
        if (!valid_ident(key, WFDEF_MAX_ID))
            problem(pc, false, NULL, "bad_value",
                    "input name '%.*s' must be 1-%d characters of "
                    "A-Z a-z 0-9 _ -",
                    cut(key, 80), key, WFDEF_MAX_ID);
        if (!json_is_object(v)) {
            problem(pc, false, NULL, "bad_value",
                    "input '%.*s' must be an object like {\"default\":...}",
                    cut(key, 80), key);
            continue;
        }
        snprintf(where, sizeof where, "input '%.*s': ", cut(key, WFDEF_MAX_ID),
                 key);
        unknown_fields(pc, v, INPUT_FIELDS, NULL, where);
        json_t *d = json_object_get(v, "description");
        if (d && !json_is_string(d))
            problem(pc, false, NULL, "bad_value",
                    "input '%.*s': description must be a string",
                    cut(key, 80), key);
    }
}

/* Returns the steps array when it is usable, else NULL. */
static const json_t *parse_top(pctx *pc, const json_t *j)
{
    wfdef *def = pc->def;
    unknown_fields(pc, j, TOP_FIELDS, NULL, "");
    int rc = str_field(j, "name", &def->name);
    if (rc == 0)
        problem(pc, false, NULL, "missing_field", "the workflow has no name");
    else if (rc < 0 || !valid_ident(def->name, WFDEF_MAX_NAME))
        problem(pc, false, NULL, "bad_value",
                "name must be 1-%d characters of A-Z a-z 0-9 _ -",
                WFDEF_MAX_NAME);
    def->version = 1;
    if (int_field(j, "version", 1, INT32_MAX, &def->version) < 0)
        problem(pc, false, NULL, "bad_value",
                "version must be a positive integer");
    if (str_field(j, "description", &def->description) < 0)
        problem(pc, false, NULL, "bad_value", "description must be a string");
    if (int_field(j, "timeout_ms", 1, WFDEF_MAX_WORKFLOW_MS,
                  &def->timeout_ms) < 0)
        problem(pc, false, NULL, "bad_timeout",
                "the workflow's timeout_ms must be an integer from 1 to "
                "%lld",
                (long long)WFDEF_MAX_WORKFLOW_MS);
    parse_inputs(pc, json_object_get(j, "inputs"));

    const json_t *steps = json_object_get(j, "steps");
    if (!steps) {
        problem(pc, false, NULL, "missing_field", "the workflow has no steps");
        return NULL;
    }
    if (!json_is_array(steps)) {
        problem(pc, false, NULL, "bad_value", "steps must be a list");
        return NULL;
    }
    if (json_array_size(steps) == 0) {
        problem(pc, false, NULL, "missing_field",
                "steps must list at least one step");
        return NULL;
    }
    if (json_array_size(steps) > WFDEF_MAX_STEPS) {
        problem(pc, false, NULL, "too_many_steps",
                "%zu steps: a workflow has at most %d",
                json_array_size(steps), WFDEF_MAX_STEPS);
        return NULL;
    }
    return steps;
}

/* A required string field of at most max bytes. */
static const char *required_str(pctx *pc, int i, const char *key,
                                size_t max)
{
    char lbuf[96];
    const char *s = NULL;
    const pstep *p = &pc->ps[i];
    int rc = str_field(p->j, key, &s);
    if (rc == 0)
        problem(pc, false, p->id, "missing_field", "%s has no %s", LABEL(i),
                key);
    else if (rc < 0 || !*s || strlen(s) > max)
        problem(pc, false, p->id, "bad_value",
                "%s: %s must be a string of 1-%zu bytes", LABEL(i), key, max);
    else return s;
    return NULL;
}

static void parse_id(pctx *pc, int i)
{
    pstep *p = &pc->ps[i];
    const char *id = NULL;
    int rc = str_field(p->j, "id", &id);
    if (rc == 0) {
        problem(pc, false, NULL, "missing_field", "steps[%d] has no id", i);
        return;
    }
    if (rc < 0) {
        problem(pc, false, NULL, "bad_value", "steps[%d]: id must be a string",
                i);
        return;
    }
    if (!valid_ident(id, WFDEF_MAX_ID)) {
        problem(pc, false, NULL, "bad_value",
                "steps[%d]: id '%.*s' must be 1-%d characters of "
                "A-Z a-z 0-9 _ -",
                i, cut(id, 80), id, WFDEF_MAX_ID);
        return;
    }
    p->id = id;
    int first = idmap_put(&pc->def->ids, id, i);
    if (first != i)
        problem(pc, false, id, "duplicate_id",
                "duplicate step id '%s' (steps[%d] and steps[%d])", id, first,
                i);
}

static void parse_retries(pctx *pc, int i)
{
    char lbuf[96];
    pstep *p = &pc->ps[i];
    wfdef_retries *r = &p->retries;
    *r = (wfdef_retries){ 0, WFDEF_BACKOFF_EXPONENTIAL, DEFAULT_INITIAL_MS,
                          DEFAULT_MAX_MS };
    const json_t *rj = json_object_get(p->j, "retries");
    if (!rj) return;
    if (!json_is_object(rj)) {
        problem(pc, false, p->id, "bad_retries",
                "%s: retries must be an object like {\"max\":3}", LABEL(i));
        return;
    }
    char where[128];
    snprintf(where, sizeof where, "%s: retries: ", LABEL(i));
    unknown_fields(pc, rj, RETRY_FIELDS, p->id, where);
    int64_t max = 0;
    if (int_field(rj, "max", 0, WFDEF_MAX_RETRIES, &max) < 0)
        problem(pc, false, p->id, "bad_retries",
                "%s: retries.max must be an integer from 0 to %d", LABEL(i),
                WFDEF_MAX_RETRIES);
    r->max = (int)max;
    const char *b = NULL;
    int rc = str_field(rj, "backoff", &b);
    if (rc > 0 && !strcmp(b, "fixed")) r->backoff = WFDEF_BACKOFF_FIXED;
    else if (rc != 0 && (rc < 0 || strcmp(b, "exponential")))
        problem(pc, false, p->id, "bad_retries",
                "%s: unknown backoff '%.*s' (fixed or exponential)", LABEL(i),
                rc < 0 ? 0 : cut(b, 64), rc < 0 ? "" : b);
    if (int_field(rj, "initial_ms", 0, WFDEF_MAX_STEP_MS, &r->initial_ms) < 0)
        problem(pc, false, p->id, "bad_retries",
                "%s: retries.initial_ms must be an integer from 0 to %lld",
                LABEL(i), (long long)WFDEF_MAX_STEP_MS);
    if (r->initial_ms > r->max_ms) r->max_ms = r->initial_ms;
    rc = int_field(rj, "max_ms", 0, WFDEF_MAX_STEP_MS, &r->max_ms);
    if (rc < 0)
        problem(pc, false, p->id, "bad_retries",
                "%s: retries.max_ms must be an integer from 0 to %lld",
                LABEL(i), (long long)WFDEF_MAX_STEP_MS);
    else if (rc > 0 && r->max_ms < r->initial_ms)
        problem(pc, false, p->id, "bad_retries",
                "%s: retries.max_ms %lld is below initial_ms %lld", LABEL(i),
                (long long)r->max_ms, (long long)r->initial_ms);
}

static void parse_on_failure(pctx *pc, int i)
{
    char lbuf[96];
    pstep *p = &pc->ps[i];
    const json_t *of = json_object_get(p->j, "on_failure");
    const char *s = json_string_value(of);
    int rc = str_field(p->j, "compensate", &p->comp_name);
    if (rc < 0)
        problem(pc, false, p->id, "bad_value",
                "%s: compensate must be a step id", LABEL(i));
    if (s && !strcmp(s, "compensate")) {
        p->on_failure = WFDEF_COMPENSATE;
        if (rc == 0)
            problem(pc, false, p->id, "missing_field",
                    "%s: on_failure is compensate but no \"compensate\" "
                    "step is named",
                    LABEL(i));
    } else if (json_is_object(of) && json_object_size(of) == 1 &&
               json_is_string(json_object_get(of, "compensate"))) {
        p->on_failure = WFDEF_COMPENSATE;
        const char *c = json_string_value(json_object_get(of, "compensate"));
        if (rc > 0 && strcmp(c, p->comp_name))
            problem(pc, false, p->id, "bad_on_failure",
                    "%s: two compensation steps named ('%.*s' and '%.*s')",
                    LABEL(i), cut(c, 80), c, cut(p->comp_name, 80),
                    p->comp_name);
        p->comp_name = c;
    } else if (!of || (s && (!strcmp(s, "fail_workflow") ||
                             !strcmp(s, "continue")))) {
        p->on_failure = of && !strcmp(s, "continue") ? WFDEF_CONTINUE
                                                      : WFDEF_FAIL_WORKFLOW;
        if (rc > 0)
            problem(pc, false, p->id, "bad_on_failure",
                    "%s: \"compensate\" is only read with "
                    "\"on_failure\":\"compensate\"",
                    LABEL(i));
        p->comp_name = NULL;
    } else {
        problem(pc, false, p->id, "bad_on_failure",
                "%s: unknown on_failure%s%.*s%s: use fail_workflow, "
                "continue, compensate or {\"compensate\":\"STEP\"}",
                LABEL(i), s ? " '" : "", s ? cut(s, 64) : 0, s ? s : "",
                s ? "'" : "");
        p->comp_name = NULL;
    }
}

static void parse_step(pctx *pc, int i, const json_t *sj)
{
    char lbuf[96];
    pstep *p = &pc->ps[i];
    p->comp = p->comp_of = -1;
    if (!json_is_object(sj)) {
        problem(pc, false, NULL, "bad_value", "steps[%d] is not an object", i);
        return;
    }
    p->j = sj;
    parse_id(pc, i);
    char where[128];
    snprintf(where, sizeof where, "%s: ", LABEL(i));
    unknown_fields(pc, sj, STEP_FIELDS, p->id, where);
    p->agent = required_str(pc, i, "agent", QUEUE_MAX_NAME);
    p->job_type = required_str(pc, i, "job_type", QUEUE_MAX_NAME);
    p->input = json_object_get(sj, "input");
    if (!p->input) p->input = pc->def->empty;
    const json_t *deps = json_object_get(sj, "depends_on");
    if (deps && !json_is_array(deps))
        problem(pc, false, p->id, "bad_value",
                "%s: depends_on must be a list of step ids", LABEL(i));
    parse_retries(pc, i);
    if (int_field(sj, "timeout_ms", 1, WFDEF_MAX_STEP_MS, &p->timeout_ms) < 0)
        problem(pc, false, p->id, "bad_timeout",
                "%s: timeout_ms must be an integer from 1 to %lld", LABEL(i),
                (long long)WFDEF_MAX_STEP_MS);
    if (str_field(sj, "when", &p->when) < 0)
        problem(pc, false, p->id, "bad_value",
                "%s: when must be a condition string", LABEL(i));
    if (str_field(sj, "for_each", &p->for_each) < 0)
        problem(pc, false, p->id, "bad_for_each",
                "%s: for_each must be a reference string like "
                "\"{{steps.ID.output.list}}\"",
                LABEL(i));
    parse_on_failure(pc, i);
}

/* ---- pass 2: names to indices ----------------------------------------- */

static void push_dep(pctx *pc, int t)
{
    if (pc->ndeps == pc->capdeps) {
        pc->capdeps = pc->capdeps ? 2 * pc->capdeps : 64;
        pc->deps = xrealloc(pc->deps, pc->capdeps * sizeof *pc->deps);
    }
    pc->deps[pc->ndeps++] = t;
}

static void link_deps(pctx *pc, int i, int *seen)
{
    char lbuf[96];
    pstep *p = &pc->ps[i];
    const json_t *deps = json_object_get(p->j, "depends_on");
    size_t k;
    json_t *d;
    json_array_foreach (deps, k, d) {
        const char *name = json_string_value(d);
        int t = name ? idmap_get(&pc->def->ids, name) : -1;
        if (!name)
            problem(pc, false, p->id, "bad_value",
                    "%s: depends_on[%zu] is not a step id", LABEL(i), k);
        else if (t < 0)
            problem(pc, false, p->id, "unknown_dependency",
                    "%s depends on unknown step '%.*s'", LABEL(i),
                    cut(name, 80), name);
        else if (seen[t] == i + 1)
            problem(pc, false, p->id, "bad_value",
                    "%s lists '%s' twice in depends_on", LABEL(i), name);
        else {
            seen[t] = i + 1;
            push_dep(pc, t);
            p->ndeps++;
        }
    }
}

static void link_compensation(pctx *pc, int i)
{
    char lbuf[96];
    pstep *p = &pc->ps[i];
    if (!p->comp_name) return;
    int t = idmap_get(&pc->def->ids, p->comp_name);
    if (t < 0)
        problem(pc, false, p->id, "unknown_compensation",
                "%s: compensation step '%.*s' does not exist", LABEL(i),
                cut(p->comp_name, 80), p->comp_name);
    else if (t == i)
        problem(pc, false, p->id, "bad_compensation",
                "%s names itself as its compensation", LABEL(i));
    else {
        p->comp = t;
        if (pc->ps[t].comp_of < 0) pc->ps[t].comp_of = i;
    }
}

static void link_steps(pctx *pc)
{
    int *seen = xcalloc(pc->n, sizeof *seen);
    for (size_t i = 0; i < pc->n; i++) {
        pc->ps[i].dep0 = (int)pc->ndeps;
        if (!pc->ps[i].j) continue;
        link_deps(pc, (int)i, seen);
        link_compensation(pc, (int)i);
    }
    free(seen);
}

/* ---- pass 3: topological order and cycles ----------------------------- */

static void heap_push(int *h, size_t *n, int v)
{
    size_t i = (*n)++;
    for (; i && h[(i - 1) / 2] > v; i = (i - 1) / 2) h[i] = h[(i - 1) / 2];
    h[i] = v;
}

static int heap_pop(int *h, size_t *n)
{
    int top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1] < h[c]) c++;
        if (h[c] >= last) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

/* Reports the cycle cyc[0..len) (each depends on the one before, the first
 * on the last), starting from its earliest-listed step. */
static void report_cycle(pctx *pc, const int *cyc, size_t len)
{
    size_t first = 0;
    for (size_t k = 1; k < len; k++)
        if (cyc[k] < cyc[first]) first = k;
    sbuf b = { 0 };
    char lbuf[96];
    sb_printf(&b, "cycle: ");
    for (size_t k = 0; k < len; k++) {
        if (len > 50 && k == 25) {
            sb_printf(&b, "... (%zu more) -> ", len - 50);
            k = len - 25;
        }
        int s = cyc[(first + k) % len];
        sb_printf(&b, "%s -> ", pc->ps[s].id ? pc->ps[s].id : LABEL(s));
    }
    int s0 = cyc[first];
    sb_printf(&b, "%s", pc->ps[s0].id ? pc->ps[s0].id : LABEL(s0));
    problem(pc, false, pc->ps[s0].id, "cycle", "%s", b.s);
    free(b.s);
}

/* An iterative DFS over the steps Kahn could not place, along
 * dependency -> dependent edges; each back edge closes a cycle, reported
 * unless its target is already in one reported. */
static void report_cycles(pctx *pc)
{
    size_t n = pc->n, sp = 0, ncycles = 0;
    char *color = xcalloc(n, 1); /* 0 new, 1 on the stack, 2 done */
    bool *reported = xcalloc(n, sizeof *reported);
    int *stack = xmalloc(n * sizeof *stack), *pos = xmalloc(n * sizeof *pos);
    int *next = xmalloc(n * sizeof *next);
    for (size_t r = 0; r < n && ncycles < MAX_CYCLES; r++) {
        if (pc->placed[r] || color[r]) continue;
        color[r] = 1, pos[r] = 0, next[r] = pc->out0[r], stack[sp++] = (int)r;
        while (sp && ncycles < MAX_CYCLES) {
            int u = stack[sp - 1];
            if (next[u] == pc->out0[u + 1]) {
                color[u] = 2;
                sp--;
                continue;
            }
            int v = pc->out[next[u]++];
            if (pc->placed[v] || color[v] == 2) continue;
            if (color[v] == 0) {
                color[v] = 1, pos[v] = (int)sp, next[v] = pc->out0[v];
                stack[sp++] = v;
            } else if (!reported[v]) {
                size_t len = sp - (size_t)pos[v];
                report_cycle(pc, stack + pos[v], len);
                for (size_t k = 0; k < len; k++)
                    reported[stack[pos[v] + k]] = 1;
                ncycles++;
            }
        }
        sp = 0;
    }
    free(color);
    free(reported);
    free(stack);
    free(pos);
    free(next);
}

static void order_steps(pctx *pc)
{
    size_t n = pc->n, nh = 0, k = 0;
    pc->out0 = xcalloc(n + 1, sizeof *pc->out0);
    pc->out = xmalloc((pc->ndeps + 1) * sizeof *pc->out);
    for (size_t e = 0; e < pc->ndeps; e++) pc->out0[pc->deps[e] + 1]++;
    for (size_t i = 0; i < n; i++) pc->out0[i + 1] += pc->out0[i];
    int *fill = xmalloc(n * sizeof *fill), *indeg = fill;
    memcpy(fill, pc->out0, n * sizeof *fill);
    for (size_t i = 0; i < n; i++)
        for (int e = 0; e < pc->ps[i].ndeps; e++)
            pc->out[fill[pc->deps[pc->ps[i].dep0 + e]]++] = (int)i;

    int *heap = xmalloc(n * sizeof *heap);
    pc->order = xmalloc(n * sizeof *pc->order);
    pc->placed = xcalloc(n, sizeof *pc->placed);
    for (size_t i = 0; i < n; i++) {
        indeg[i] = pc->ps[i].ndeps;
        if (!indeg[i]) heap_push(heap, &nh, (int)i);
    }
    while (nh) {
        int u = heap_pop(heap, &nh);
        pc->order[k++] = u;
        pc->placed[u] = true;
        for (int e = pc->out0[u]; e < pc->out0[u + 1]; e++)
            if (!--indeg[pc->out[e]]) heap_push(heap, &nh, pc->out[e]);
    }
    free(heap);
    free(fill);
    if (k < n) report_cycles(pc);
}

/* ---- pass 4: references ----------------------------------------------- */

/* Whether step t is upstream of step s (reachable through depends_on). */
static bool is_upstream(pctx *pc, int s, int t)
{
    int nd = pc->ps[s].ndeps;
    const int *deps = nd ? pc->deps + pc->ps[s].dep0 : NULL; /* none: NULL */
    if (pc->dstamp_for != s) {
        for (int e = 0; e < nd; e++) pc->dstamp[deps[e]] = s + 1;
        pc->dstamp_for = s;
    }
    if (pc->dstamp[t] == s + 1) return true;
    if (pc->astamp_for != s) {
        size_t qn = 0;
        for (int e = 0; e < nd; e++)
            if (pc->astamp[deps[e]] != s + 1)
                pc->astamp[deps[e]] = s + 1, pc->queue[qn++] = deps[e];
        for (size_t q = 0; q < qn; q++) {
            const pstep *u = &pc->ps[pc->queue[q]];
            for (int e = 0; e < u->ndeps; e++) {
                int d = pc->deps[u->dep0 + e];
                if (pc->astamp[d] != s + 1)
                    pc->astamp[d] = s + 1, pc->queue[qn++] = d;
            }
        }
        pc->astamp_for = s;
    }
    return pc->astamp[t] == s + 1;
}

typedef struct refck {
    pctx *pc;
    int step;
    const char *where; /* "input", "when", "for_each" */
    bool item_ok;
} refck;

static void check_step_ref(refck *ck, const wfexpr_ref *r)
{
    pctx *pc = ck->pc;
    int s = ck->step;
    char lbuf[96];
    const char *id = pc->ps[s].id;
    if (r->nparts < 3 || strcmp(r->parts[2], "output")) {
        problem(pc, false, id, "unknown_variable",
                "%s: %s uses {{%s}}: a step's value is "
                "{{steps.ID.output}}",
                LABEL(s), ck->where, r->text);
        return;
    }
    int t = idmap_get(&pc->def->ids, r->parts[1]);
    if (t < 0)
        problem(pc, false, id, "unknown_variable",
                "%s: %s uses {{%s}}, but there is no step '%s'", LABEL(s),
                ck->where, r->text, r->parts[1]);
    else if (t == s)
        problem(pc, false, id, "not_upstream",
                "%s: %s uses its own output {{%s}}", LABEL(s), ck->where,
                r->text);
    else if (!is_upstream(pc, s, t))
        problem(pc, false, id, "not_upstream",
                "%s: %s uses {{%s}}, but '%s' is not upstream of it (add "
                "'%s' to depends_on)",
                LABEL(s), ck->where, r->text, r->parts[1], r->parts[1]);
}

static void check_ref(void *ctx, const wfexpr_ref *r)
{
    refck *ck = ctx;
    pctx *pc = ck->pc;
    int s = ck->step;
    char lbuf[96];
    const char *id = pc->ps[s].id;
    if (r->error) { /* an unterminated "{{" comes with its braces */
        bool braced = !strncmp(r->text, "{{", 2);
        problem(pc, false, id, "bad_template",
                "%s: %s: bad reference '%s%.*s%s': %s", LABEL(s), ck->where,
                braced ? "" : "{{", cut(r->text, 120), r->text,
                braced ? "" : "}}", r->error);
        return;
    }
    switch (r->root) {
    case WFEXPR_ROOT_INPUTS:
        if (r->nparts >= 2 && !json_object_get(pc->def->inputs, r->parts[1]))
            problem(pc, false, id, "unknown_variable",
                    "%s: %s uses {{%s}}, but no input '%s' is declared",
                    LABEL(s), ck->where, r->text, r->parts[1]);
        break;
    case WFEXPR_ROOT_STEPS:
        check_step_ref(ck, r);
        break;
    case WFEXPR_ROOT_ITEM:
        if (!ck->item_ok)
            problem(pc, false, id, "unknown_variable",
                    "%s: %s uses {{%s}}, which only exists in the input of "
                    "a for_each step",
                    LABEL(s), ck->where, r->text);
        break;
    case WFEXPR_ROOT_RUN:
        if (r->nparts != 2 || strcmp(r->parts[1], "id"))
            problem(pc, false, id, "unknown_variable",
                    "%s: %s uses unknown variable {{%s}} (run.id is the "
                    "only one under run)",
                    LABEL(s), ck->where, r->text);
        break;
    default:
        problem(pc, false, id, "unknown_variable",
                "%s: %s uses unknown variable {{%s}} (a reference starts "
                "with inputs., steps., item or run.)",
                LABEL(s), ck->where, r->text);
    }
}

static void check_for_each_ref(void *ctx, const wfexpr_ref *r)
{
    refck *ck = ctx;
    char lbuf[96];
    pctx *pc = ck->pc;
    if (r->root != WFEXPR_ROOT_STEPS && r->root != WFEXPR_ROOT_INPUTS) {
        problem(pc, false, pc->ps[ck->step].id, "bad_for_each",
                "%s: for_each '%s' must name a list in an upstream step's "
                "output ({{steps.ID.output...}}) or in an input",
                LABEL(ck->step), r->text);
        return;
    }
    check_ref(ctx, r);
}

static void check_refs(pctx *pc)
{
    char lbuf[96], err[256];
    pc->dstamp = xcalloc(pc->n, sizeof *pc->dstamp);
    pc->astamp = xcalloc(pc->n, sizeof *pc->astamp);
    pc->queue = xmalloc(pc->n * sizeof *pc->queue);
    pc->dstamp_for = pc->astamp_for = -1;
    for (size_t i = 0; i < pc->n; i++) {
        const pstep *p = &pc->ps[i];
        if (!p->j) continue;
        refck ck = { pc, (int)i, "input", p->for_each != NULL };
        wfexpr_refs(p->input, check_ref, &ck);
        ck.item_ok = false;
        ck.where = "when";
        if (p->when && wfexpr_cond_check(p->when, check_ref, &ck, err,
                                         sizeof err))
            problem(pc, false, p->id, "bad_condition", "%s: when: %s",
                    LABEL((int)i), err);
        ck.where = "for_each";
        if (p->for_each && wfexpr_ref_check(p->for_each, check_for_each_ref,
                                            &ck, err, sizeof err))
            problem(pc, false, p->id, "bad_for_each",
                    "%s: for_each must be one reference like "
                    "{{steps.ID.output.list}}: %s",
                    LABEL((int)i), err);
    }
}

/* ---- pass 5: compensation and agents ---------------------------------- */

static void check_compensation(pctx *pc)
{
    char lbuf[96], lbuf2[96];
    for (size_t i = 0; i < pc->n; i++) {
        const pstep *p = &pc->ps[i];
        if (p->comp_of >= 0 && p->on_failure == WFDEF_COMPENSATE)
            problem(pc, false, p->id, "bad_compensation",
                    "%s only runs as a compensation (of %s) and cannot "
                    "have a compensation of its own",
                    LABEL((int)i),
                    label(pc, p->comp_of, lbuf2, sizeof lbuf2));
        for (int e = 0; e < p->ndeps; e++) {
            int d = pc->deps[p->dep0 + e];
            if (pc->ps[d].comp_of >= 0)
                problem(pc, false, p->id, "bad_compensation",
                        "%s depends on '%s', which only runs as a "
                        "compensation (of %s)",
                        LABEL((int)i), pc->ps[d].id,
                        label(pc, pc->ps[d].comp_of, lbuf2, sizeof lbuf2));
        }
        if (p->comp < 0) continue;
        const pstep *c = &pc->ps[p->comp];
        for (int e = 0; e < c->ndeps; e++) {
            int d = pc->deps[c->dep0 + e];
            if (!is_upstream(pc, (int)i, d))
                problem(pc, false, c->id, "bad_compensation",
                        "compensation step '%s' depends on '%s', which is "
                        "not upstream of %s: it may not have run when %s "
                        "fails",
                        c->id, pc->ps[d].id, LABEL((int)i),
                        label(pc, (int)i, lbuf2, sizeof lbuf2));
        }
    }
}

static bool agent_known(const char *const *known, const char *agent)
{
    for (; known && *known; known++)
        if (!strcmp(*known, agent)) return true;
    return false;
}

/* One unknown_agent warning per agent type nobody registered. */
static void check_agents(pctx *pc)
{
    char lbuf[96];
    idmap seen;
    idmap_init(&seen, pc->n);
    for (size_t i = 0; i < pc->n; i++) {
        const char *agent = pc->ps[i].agent;
        if (!agent || idmap_put(&seen, agent, (int)i) != (int)i) continue;
        if (!agent_known(pc->known_agents, agent))
            problem(pc, true, pc->ps[i].id, "unknown_agent",
                    "no agent registered for type '%s' (first used by %s)",
                    agent, LABEL((int)i));
    }
    idmap_free(&seen);
}

/* ---- pass 6: the definition in topological order ---------------------- */

static void build(pctx *pc)
{
    wfdef *def = pc->def;
    size_t n = pc->n, ne = pc->ndeps;
    def->n = n;
    def->steps = xcalloc(n, sizeof *def->steps);
    def->by_def = xmalloc(n * sizeof *def->by_def);
    def->pool = xmalloc((2 * ne + 1) * sizeof *def->pool);
    size_t *dfill = xmalloc(n * sizeof *dfill);
    size_t *ofill = xmalloc(n * sizeof *ofill);
    for (size_t t = 0; t < n; t++) def->by_def[pc->order[t]] = (int)t;
    size_t dat = 0, oat = ne;
    for (size_t t = 0; t < n; t++) {
        int u = pc->order[t];
        const pstep *p = &pc->ps[u];
        def->steps[t] = (wfdef_step){
            .id = p->id, .agent = p->agent, .job_type = p->job_type,
            .input = p->input, .deps = def->pool + dat,
            .ndeps = (size_t)p->ndeps, .dependents = def->pool + oat,
            .ndependents = (size_t)(pc->out0[u + 1] - pc->out0[u]),
            .retries = p->retries, .timeout_ms = p->timeout_ms,
            .when = p->when, .for_each = p->for_each,
            .on_failure = p->on_failure,
            .compensate = p->comp >= 0 ? def->by_def[p->comp] : -1,
            .compensation_only = p->comp_of >= 0,
        };
        dfill[t] = dat;
        ofill[t] = oat;
        dat += def->steps[t].ndeps;
        oat += def->steps[t].ndependents;
    }
    /* Filled in topological order, so every list comes out ascending. */
    for (size_t t = 0; t < n; t++) {
        int u = pc->order[t];
        for (int e = pc->out0[u]; e < pc->out0[u + 1]; e++)
            def->pool[dfill[def->by_def[pc->out[e]]]++] = (int)t;
        for (int e = 0; e < pc->ps[u].ndeps; e++)
            def->pool[ofill[def->by_def[pc->deps[pc->ps[u].dep0 + e]]]++] =
                (int)t;
        wfdef_step *st = &def->steps[t];
        for (size_t e = 0; e < st->ndeps; e++)
            if (def->steps[st->deps[e]].level + 1 > st->level)
                st->level = def->steps[st->deps[e]].level + 1;
        if (st->level + 1 > def->nlevels) def->nlevels = st->level + 1;
    }
    free(dfill);
    free(ofill);
}

static void pctx_free(pctx *pc)
{
    free(pc->ps);
    free(pc->deps);
    free(pc->out0);
    free(pc->out);
    free(pc->order);
    free(pc->placed);
    free(pc->dstamp);
    free(pc->astamp);
    free(pc->queue);
}

int wfdef_parse(const json_t *j, const char *const *known_agents,
                wfdef **out, json_t **problems)
{
    pctx pc = { .known_agents = known_agents, .problems = json_array() };
    wfdef *def = pc.def = xcalloc(1, sizeof *def);
    *out = NULL;
    *problems = pc.problems;
    def->src = j ? json_deep_copy(j) : NULL;
    def->empty = json_object();
    def->inputs = def->empty;
    if (!json_is_object(def->src)) {
        problem(&pc, false, NULL, "bad_value",
                "a workflow definition is a JSON object");
        goto fail;
    }
    const json_t *steps = parse_top(&pc, def->src);
    if (!steps) goto fail;
    pc.n = json_array_size(steps);
    pc.ps = xcalloc(pc.n, sizeof *pc.ps);
    idmap_init(&def->ids, pc.n);
    for (size_t i = 0; i < pc.n; i++)
        parse_step(&pc, (int)i, json_array_get(steps, i));
    link_steps(&pc);
    order_steps(&pc);
    check_refs(&pc);
    check_compensation(&pc);
    check_agents(&pc);
    if (pc.errors) goto fail;
    build(&pc);
    pctx_free(&pc);
    *out = def;
    return 0;
fail:
    pctx_free(&pc);
    wfdef_free(def);
    return FS_EINVAL;
}

void wfdef_free(wfdef *def)
{
    if (!def) return;
    json_decref(def->src);
    json_decref(def->empty);
    free(def->steps);
    free(def->by_def);
    free(def->pool);
    idmap_free(&def->ids);
    free(def);
}

/* ---- accessors -------------------------------------------------------- */

const char *wfdef_name(const wfdef *def)
{
    return def->name;
}

int64_t wfdef_version(const wfdef *def)
{
    return def->version;
}

const char *wfdef_description(const wfdef *def)
{
    return def->description;
}

int64_t wfdef_timeout_ms(const wfdef *def)
{
    return def->timeout_ms;
}

const json_t *wfdef_inputs(const wfdef *def)
{
    return def->inputs;
}

size_t wfdef_nsteps(const wfdef *def)
{
    return def->n;
}

const wfdef_step *wfdef_step_at(const wfdef *def, int i)
{
    assert(i >= 0 && (size_t)i < def->n);
    return &def->steps[i];
}

int wfdef_step_index(const wfdef *def, const char *id)
{
    int d = idmap_get(&def->ids, id);
    return d < 0 ? -1 : def->by_def[d];
}

int wfdef_nlevels(const wfdef *def)
{
    return def->nlevels;
}

static const char *on_failure_name(wfdef_on_failure f)
{
    return f == WFDEF_CONTINUE     ? "continue"
           : f == WFDEF_COMPENSATE ? "compensate"
                                   : "fail_workflow";
}

static json_t *step_json(const wfdef *def, const wfdef_step *st)
{
    json_t *deps = json_array();
    for (size_t e = 0; e < st->ndeps; e++)
        json_array_append_new(deps, json_string(def->steps[st->deps[e]].id));
    const wfdef_retries *r = &st->retries;
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:o, s:o, s:{s:i, s:s, s:I, s:I}, s:s}", "id",
        st->id, "agent", st->agent, "job_type", st->job_type, "input",
        json_deep_copy(st->input), "depends_on", deps, "retries", "max",
        r->max, "backoff",
        r->backoff == WFDEF_BACKOFF_FIXED ? "fixed" : "exponential",
        "initial_ms", (json_int_t)r->initial_ms, "max_ms",
        (json_int_t)r->max_ms, "on_failure", on_failure_name(st->on_failure));
    if (st->compensate >= 0)
        json_object_set_new(o, "compensate",
                            json_string(def->steps[st->compensate].id));
    if (st->timeout_ms)
        json_object_set_new(o, "timeout_ms", json_integer(st->timeout_ms));
    if (st->when) json_object_set_new(o, "when", json_string(st->when));
    if (st->for_each)
        json_object_set_new(o, "for_each", json_string(st->for_each));
    return o;
}

json_t *wfdef_to_json(const wfdef *def)
{
    json_t *o = json_pack("{s:s, s:I, s:o}", "name", def->name, "version",
                          (json_int_t)def->version, "inputs",
                          json_deep_copy(def->inputs));
    if (def->description)
        json_object_set_new(o, "description", json_string(def->description));
    if (def->timeout_ms)
        json_object_set_new(o, "timeout_ms", json_integer(def->timeout_ms));
    json_t *steps = json_array();
    for (size_t d = 0; d < def->n; d++) {
        json_array_append_new(steps,
                              step_json(def, &def->steps[def->by_def[d]]));
    }
    json_object_set_new(o, "steps", steps);
    return o;
}

int wfdef_resolve_inputs(const wfdef *def, const json_t *given, json_t **out,
                         char *err, size_t errlen)
{
    if (given && !json_is_object(given)) {
        snprintf(err, errlen, "inputs must be an object");
        return FS_EINVAL;
    }
    sbuf msg = { 0 };
    json_t *res = json_object(), *v;
    const char *key;
    json_object_foreach ((json_t *)given, key, v) {
        if (json_object_get(def->inputs, key))
            json_object_set_new(res, key, json_deep_copy(v));
        else
            sb_printf(&msg, "%sunknown input '%.*s'", msg.len ? "; " : "",
                      cut(key, 80), key);
    }
    json_object_foreach ((json_t *)def->inputs, key, v) {
        json_t *d = json_object_get(v, "default");
        if (json_object_get(res, key)) continue;
        if (d) json_object_set_new(res, key, json_deep_copy(d));
        else
            sb_printf(&msg, "%smissing input '%s' (it has no default)",
                      msg.len ? "; " : "", key);
    }
    if (msg.len) {
        if (errlen) snprintf(err, errlen, "%s", msg.s);
        free(msg.s);
        json_decref(res);
        return FS_EINVAL;
    }
    *out = res;
    return 0;
}

int64_t wfdef_backoff_ms(const wfdef *def, int i, int attempt, double rnd01)
{
    const wfdef_retries *r = &wfdef_step_at(def, i)->retries;
    if (r->backoff == WFDEF_BACKOFF_FIXED) return r->initial_ms;
    int64_t d = r->initial_ms;
    for (int k = 1; k < attempt && d > 0 && d < r->max_ms; k++) d *= 2;
    if (d > r->max_ms) d = r->max_ms;
    if (!(rnd01 > 0)) rnd01 = 0; /* NaN too */
    if (rnd01 > 1) rnd01 = 1;
    return d - (int64_t)(rnd01 * (double)(d / 2));
}

/* ---- graphs ----------------------------------------------------------- */

/* " after a, b (and 3 more)" */
static void text_deps(sbuf *b, const wfdef *def, const wfdef_step *st)
{
    if (!st->ndeps) return;
    sb_printf(b, "  after ");
    for (size_t e = 0; e < st->ndeps && e < 8; e++)
        sb_printf(b, "%s%s", e ? ", " : "", def->steps[st->deps[e]].id);
    if (st->ndeps > 8) sb_printf(b, " (and %zu more)", st->ndeps - 8);
}

static void text_step(sbuf *b, const wfdef *def, const wfdef_step *st,
                      int idw, int aw)
{
    int n = (int)strlen(st->agent) + 3 + (int)strlen(st->job_type);
    sb_printf(b, "  %-*s  %s / %s%*s", idw, st->id, st->agent, st->job_type,
              aw - n, "");
    text_deps(b, def, st);
    if (st->for_each) sb_printf(b, "  [for each %s]", st->for_each);
    if (st->when) sb_printf(b, "  [when %s]", st->when);
    if (st->retries.max)
        sb_printf(b, "  [retries %d, %s]", st->retries.max,
                  st->retries.backoff == WFDEF_BACKOFF_FIXED ? "fixed"
                                                             : "exponential");
    if (st->timeout_ms)
        sb_printf(b, "  [timeout %lld ms]", (long long)st->timeout_ms);
    if (st->on_failure == WFDEF_CONTINUE)
        sb_printf(b, "  [on failure continue]");
    if (st->compensate >= 0)
        sb_printf(b, "  [on failure compensate with %s]",
                  def->steps[st->compensate].id);
    /* trailing blanks of the padding go when nothing follows */
    while (b->len && b->s[b->len - 1] == ' ') b->s[--b->len] = '\0';
    sb_printf(b, "\n");
}

char *wfdef_graph_text(const wfdef *def)
{
    sbuf b = { 0 };
    int idw = 0, aw = 0, levels = 0;
    size_t ncomp = 0;
    int *count = xcalloc((size_t)def->nlevels + 1, sizeof *count);
    for (size_t t = 0; t < def->n; t++) {
        const wfdef_step *st = &def->steps[t];
        int n = (int)strlen(st->agent) + 3 + (int)strlen(st->job_type);
        if ((int)strlen(st->id) > idw) idw = (int)strlen(st->id);
        if (n > aw) aw = n;
        if (st->compensation_only) ncomp++;
        else if (st->level + 1 > levels) levels = st->level + 1;
        if (!st->compensation_only) count[st->level + 1]++;
    }
    /* counting sort by level, topological order kept within a level */
    for (int l = 0; l < def->nlevels; l++) count[l + 1] += count[l];
    int *bylevel = xmalloc((def->n + 1) * sizeof *bylevel);
    for (size_t t = 0; t < def->n; t++)
        if (!def->steps[t].compensation_only)
            bylevel[count[def->steps[t].level]++] = (int)t;
    sb_printf(&b, "workflow %s (version %lld): %zu step%s in %d level%s\n",
              def->name, (long long)def->version, def->n,
              def->n == 1 ? "" : "s", levels, levels == 1 ? "" : "s");
    for (size_t k = 0; k < def->n - ncomp; k++) {
        const wfdef_step *st = &def->steps[bylevel[k]];
        if (k == 0 || def->steps[bylevel[k - 1]].level != st->level)
            sb_printf(&b, "level %d:\n", st->level);
        text_step(&b, def, st, idw, aw);
    }
    if (ncomp) sb_printf(&b, "compensation only:\n");
    for (size_t t = 0; t < def->n; t++)
        if (def->steps[t].compensation_only)
            text_step(&b, def, &def->steps[t], idw, aw);
    free(count);
    free(bylevel);
    return b.s;
}

/* s as the inside of a DOT string: \ and " escaped, newlines as \n. */
static void dot_str(sbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') sb_printf(b, "\\%c", *s);
        else if (*s == '\n') sb_printf(b, "\\n");
        else if (*s != '\r') sb_printf(b, "%c", *s);
    }
}

char *wfdef_graph_dot(const wfdef *def)
{
    sbuf b = { 0 };
    sb_printf(&b, "digraph \"");
    dot_str(&b, def->name);
    sb_printf(&b, "\" {\n  rankdir=TB;\n  node [shape=box];\n");
    for (size_t t = 0; t < def->n; t++) {
        const wfdef_step *st = &def->steps[t];
        sb_printf(&b, "  \"%s\" [label=\"%s\\n", st->id, st->id);
        dot_str(&b, st->agent);
        sb_printf(&b, " / ");
        dot_str(&b, st->job_type);
        if (st->for_each) {
            sb_printf(&b, "\\nfor each ");
            dot_str(&b, st->for_each);
        }
        if (st->when) {
            sb_printf(&b, "\\nwhen ");
            dot_str(&b, st->when);
        }
        sb_printf(&b, "\"%s];\n", st->compensation_only ? ", style=dashed"
                                                        : "");
    }
    for (size_t t = 0; t < def->n; t++) {
        const wfdef_step *st = &def->steps[t];
        for (size_t e = 0; e < st->ndependents; e++)
            sb_printf(&b, "  \"%s\" -> \"%s\";\n", st->id,
                      def->steps[st->dependents[e]].id);
        if (st->compensate >= 0)
            sb_printf(&b,
                      "  \"%s\" -> \"%s\" [style=dashed, label=\"on "
                      "failure\"];\n",
                      st->id, def->steps[st->compensate].id);
    }
    sb_printf(&b, "}\n");
    return b.s;
}
