/*
 * fuzz_wfdef.c - libFuzzer target: workflow definitions (wfdef_parse, behind
 * POST /v1/workflows and `flowstate workflow validate`), and the templates
 * and conditions inside them (wfexpr).
 *
 * Input: the whole input, cut at a NUL, is JSON text.  Checked (FUZZ_CHECK
 * aborts):
 *  - problems is always an array of {"severity","code","message"} strings;
 *    parsing succeeds exactly when none has severity "error";
 *  - a definition that parses comes back from wfdef_to_json as JSON that
 *    parses again to the same canonical JSON, with the same step count;
 *  - steps are in topological order (every dependency has a lower index);
 *  - the text and DOT graphs exist; every step's `when` evaluates and its
 *    input renders (or fails with a message) against the inputs' defaults.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "workflow/wfdef.h"
#include "workflow/wfexpr.h"

static bool problems_ok(const json_t *problems, bool *errors)
{
    size_t i;
    json_t *p;
    *errors = false;
    if (!json_is_array(problems)) return false;
    json_array_foreach(problems, i, p) {
        const char *sev = json_string_value(json_object_get(p, "severity"));
        if (!sev || !json_is_string(json_object_get(p, "code")) ||
            !json_is_string(json_object_get(p, "message")))
            return false;
        *errors |= !strcmp(sev, "error");
    }
    return true;
}

/* Runs every step's condition and template against the inputs' defaults. */
static void exercise(const wfdef *def)
{
    json_t *inputs = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)wfdef_inputs(def), k, v) {
        json_t *d = json_object_get(v, "default");
        json_object_set(inputs, k, d ? d : json_null());
    }
    json_t *ctx = json_pack("{s:o,s:{},s:{s:i}}", "inputs", inputs, "steps",
                            "run", "id", 1);
    char err[256];
    for (size_t i = 0; i < wfdef_nsteps(def); i++) {
        const wfdef_step *s = wfdef_step_at(def, (int)i);
        for (size_t d = 0; d < s->ndeps; d++) FUZZ_CHECK(s->deps[d] < (int)i);
        bool yes;
        if (s->when) FUZZ_CHECK(wfexpr_cond_eval(s->when, ctx, &yes, err, sizeof err) == 0);
        json_t *out = wfexpr_render(s->input, ctx, err, sizeof err);
        FUZZ_CHECK(out || err[0]);
        json_decref(out);
    }
    json_decref(ctx);
}

int fuzz_wfdef_one(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    json_t *j = json_loads(text, 0, NULL), *problems = NULL;
    free(text);
    if (!j) return 0;
    wfdef *def = NULL;
    bool errors;
    int rc = wfdef_parse(j, NULL, &def, &problems);
    FUZZ_CHECK(problems_ok(problems, &errors));
    FUZZ_CHECK((rc == 0) == !errors && (rc == 0) == (def != NULL));
    if (def) {
        json_t *canon = wfdef_to_json(def), *p2 = NULL;
        wfdef *again = NULL;
        FUZZ_CHECK(wfdef_parse(canon, NULL, &again, &p2) == 0);
        json_t *canon2 = wfdef_to_json(again);
        FUZZ_CHECK(json_equal(canon, canon2));
        FUZZ_CHECK(wfdef_nsteps(again) == wfdef_nsteps(def));
        char *g = wfdef_graph_text(def), *dot = wfdef_graph_dot(def);
        FUZZ_CHECK(g && dot && !strncmp(dot, "digraph", 7));
        free(g);
        free(dot);
        exercise(def);
        json_decref(canon);
        json_decref(canon2);
        json_decref(p2);
        wfdef_free(again);
        wfdef_free(def);
    }
    json_decref(problems);
    json_decref(j);
    return 0;
}

FUZZ_ENTRY(fuzz_wfdef_one)
