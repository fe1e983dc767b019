/*
 * test_wfdef.c - workflow definitions: defaults, the stable topological
 * order, every validation problem (code, and a message naming the thing),
 * all problems at once, compensation rules, 10,000-step chains and
 * fan-outs, canonical JSON, run inputs, backoff arithmetic and the two
 * graph renderings.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "workflow/wfdef.h"

static const char *const AGENTS[] = { "crm", "scorer", "writer", NULL };

/* JSON text with ' for " (and \' for a real '). */
static json_t *J(const char *s)
{
    size_t cap = strlen(s) + 1, n = 0;
    char *buf = malloc(cap);
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] == '\'') buf[n++] = *++s;
        else buf[n++] = *s == '\'' ? '"' : *s;
    }
    buf[n] = '\0';
    json_error_t e;
    json_t *j = json_loads(buf, JSON_DECODE_ANY, &e);
    cr_assert_not_null(j, "bad test JSON: %s: %s", e.text, buf);
    free(buf);
    return j;
}

/* Parses j (consumed) with AGENTS; OUT: *def (may be NULL). Returns the
 * problems (caller frees). */
static json_t *parse_j(json_t *j, wfdef **def)
{
    json_t *problems = NULL;
    wfdef *d = NULL;
    int rc = wfdef_parse(j, AGENTS, &d, &problems);
    cr_assert_not_null(problems);
    cr_assert_eq(rc == 0, d != NULL);
    json_decref(j);
    if (def) *def = d;
    else wfdef_free(d);
    return problems;
}

static json_t *parse_s(const char *s, wfdef **def)
{
    return parse_j(J(s), def);
}

static wfdef *parse_ok(const char *s)
{
    wfdef *def;
    json_t *p = parse_s(s, &def);
    char *text = json_dumps(p, JSON_INDENT(1));
    cr_assert_not_null(def, "did not parse: %s", text);
    cr_assert_eq(json_array_size(p), 0, "problems: %s", text);
    free(text);
    json_decref(p);
    return def;
}

static size_t count_errors(const json_t *problems)
{
    size_t i, n = 0;
    json_t *p;
    json_array_foreach (problems, i, p)
        n += !strcmp(json_string_value(json_object_get(p, "severity")),
                     "error");
    return n;
}

/* The problem with this code whose message holds want (and whose step is
 * step, when step is not NULL); asserts there is one. */
static const json_t *find(const json_t *problems, const char *code,
                          const char *step, const char *want)
{
    size_t i;
    json_t *p;
    json_array_foreach (problems, i, p) {
        const char *msg = json_string_value(json_object_get(p, "message"));
        const char *st = json_string_value(json_object_get(p, "step"));
        if (strcmp(json_string_value(json_object_get(p, "code")), code))
            continue;
        if (step && (!st || strcmp(st, step))) continue;
        if (!want || strstr(msg, want)) return p;
    }
    char *text = json_dumps(problems, JSON_INDENT(1));
    cr_assert_fail("no %s problem%s%s with '%s' in %s", code,
                   step ? " of step " : "", step ? step : "",
                   want ? want : "", text);
    free(text);
    return NULL;
}

/* Parses s, which must fail with a problem (code, step, want). */
static void expect(const char *s, const char *code, const char *step,
                   const char *want)
{
    wfdef *def;
    json_t *p = parse_s(s, &def);
    cr_assert_null(def, "%s parsed", s);
    const json_t *hit = find(p, code, step, want);
    cr_assert_str_eq(
        json_string_value(json_object_get(hit, "severity")), "error");
    json_decref(p);
}

#define ONE(extra)                                                          \
    "{'name':'w','steps':[{'id':'a','agent':'crm','job_type':'t'" extra "}]}"
#define TWO(extra_b)                                                        \
    "{'name':'w','inputs':{'seg':{'default':'smb'}},'steps':["               \
    "{'id':'a','agent':'crm','job_type':'t'},"                               \
    "{'id':'b','agent':'crm','job_type':'t'" extra_b "}]}"

Test(wfdef, minimal_definition_and_defaults)
{
    wfdef *def = parse_ok(ONE(""));
    cr_assert_str_eq(wfdef_name(def), "w");
    cr_assert_eq(wfdef_version(def), 1);
    cr_assert_null(wfdef_description(def));
    cr_assert_eq(wfdef_timeout_ms(def), 0);
    cr_assert_eq(json_object_size(wfdef_inputs(def)), 0);
    cr_assert_eq(wfdef_nsteps(def), 1);
    const wfdef_step *s = wfdef_step_at(def, 0);
    cr_assert_str_eq(s->id, "a");
    cr_assert_str_eq(s->agent, "crm");
    cr_assert_str_eq(s->job_type, "t");
    cr_assert(json_is_object(s->input) && json_object_size(s->input) == 0);
    cr_assert_eq(s->ndeps, 0);
    cr_assert_eq(s->ndependents, 0);
    cr_assert_eq(s->retries.max, 0);
    cr_assert_eq(s->retries.backoff, WFDEF_BACKOFF_EXPONENTIAL);
    cr_assert_eq(s->retries.initial_ms, 1000);
    cr_assert_eq(s->retries.max_ms, 60000);
    cr_assert_eq(s->timeout_ms, 0);
    cr_assert_null(s->when);
    cr_assert_null(s->for_each);
    cr_assert_eq(s->on_failure, WFDEF_FAIL_WORKFLOW);
    cr_assert_eq(s->compensate, -1);
    cr_assert(!s->compensation_only);
    cr_assert_eq(s->level, 0);
    cr_assert_eq(wfdef_nlevels(def), 1);
    wfdef_free(def);
}

Test(wfdef, every_field_read)
{
    wfdef *def = parse_ok(
        "{'name':'full-flow_2','version':7,'description':'d',"
        "'timeout_ms':3600000,'inputs':{'seg':{'default':'smb',"
        "'description':'which'},'n':{}},'steps':["
        "{'id':'fetch','agent':'crm','job_type':'fetch','input':{'s':"
        "'{{inputs.seg}}','r':'{{run.id}}'}},"
        "{'id':'score','agent':'scorer','job_type':'score',"
        "'depends_on':['fetch'],'for_each':'{{steps.fetch.output.items}}',"
        "'input':{'x':'{{item.x}}','n':'{{inputs.n}}'},"
        "'retries':{'max':3,'backoff':'fixed','initial_ms':120000},"
        "'timeout_ms':5000,'when':'inputs.seg != \\'none\\'',"
        "'on_failure':'continue'}]}");
    cr_assert_eq(wfdef_version(def), 7);
    cr_assert_str_eq(wfdef_description(def), "d");
    cr_assert_eq(wfdef_timeout_ms(def), 3600000);
    cr_assert_eq(json_object_size(wfdef_inputs(def)), 2);
    const wfdef_step *s = wfdef_step_at(def, wfdef_step_index(def, "score"));
    cr_assert_eq(s->retries.max, 3);
    cr_assert_eq(s->retries.backoff, WFDEF_BACKOFF_FIXED);
    cr_assert_eq(s->retries.initial_ms, 120000);
    cr_assert_eq(s->retries.max_ms, 120000, "max_ms follows a big initial");
    cr_assert_eq(s->timeout_ms, 5000);
    cr_assert_str_eq(s->when, "inputs.seg != 'none'");
    cr_assert_str_eq(s->for_each, "{{steps.fetch.output.items}}");
    cr_assert_eq(s->on_failure, WFDEF_CONTINUE);
    wfdef_free(def);
}

Test(wfdef, diamond_order_is_topological_and_stable)
{
    wfdef *def = parse_ok(
        "{'name':'w','steps':["
        "{'id':'d','agent':'crm','job_type':'t','depends_on':['b','c']},"
        "{'id':'c','agent':'crm','job_type':'t','depends_on':['a']},"
        "{'id':'b','agent':'crm','job_type':'t','depends_on':['a']},"
        "{'id':'a','agent':'crm','job_type':'t'}]}");
    const char *want[] = { "a", "c", "b", "d" };
    int level[] = { 0, 1, 1, 2 };
    for (int i = 0; i < 4; i++) {
        cr_assert_str_eq(wfdef_step_at(def, i)->id, want[i]);
        cr_assert_eq(wfdef_step_index(def, want[i]), i);
        cr_assert_eq(wfdef_step_at(def, i)->level, level[i]);
    }
    cr_assert_eq(wfdef_step_index(def, "zz"), -1);
    const wfdef_step *a = wfdef_step_at(def, 0), *d = wfdef_step_at(def, 3);
    cr_assert_eq(a->ndependents, 2);
    cr_assert_eq(a->dependents[0], 1);
    cr_assert_eq(a->dependents[1], 2);
    cr_assert_eq(d->ndeps, 2);
    cr_assert_eq(d->deps[0], 1);
    cr_assert_eq(d->deps[1], 2);
    cr_assert_eq(wfdef_nlevels(def), 3);
    wfdef_free(def);
}

Test(wfdef, cycles_are_printed)
{
    expect("{'name':'w','steps':["
           "{'id':'a','agent':'crm','job_type':'t','depends_on':['b']},"
           "{'id':'b','agent':'crm','job_type':'t','depends_on':['a']}]}",
           "cycle", "a", "cycle: a -> b -> a");
    expect("{'name':'w','steps':["
           "{'id':'c','agent':'crm','job_type':'t','depends_on':['b']},"
           "{'id':'a','agent':'crm','job_type':'t','depends_on':['c']},"
           "{'id':'b','agent':'crm','job_type':'t','depends_on':['a']}]}",
           "cycle", "c", "cycle: c -> a -> b -> c");
    expect(ONE(",'depends_on':['a']"), "cycle", "a", "cycle: a -> a");
}

Test(wfdef, separate_cycles_each_reported_once)
{
    json_t *p = parse_s(
        "{'name':'w','steps':["
        "{'id':'r','agent':'crm','job_type':'t'},"
        "{'id':'a','agent':'crm','job_type':'t','depends_on':['r','b']},"
        "{'id':'b','agent':'crm','job_type':'t','depends_on':['a']},"
        "{'id':'x','agent':'crm','job_type':'t','depends_on':['y']},"
        "{'id':'y','agent':'crm','job_type':'t','depends_on':['x']},"
        "{'id':'after','agent':'crm','job_type':'t','depends_on':['b']}]}",
        NULL);
    find(p, "cycle", "a", "cycle: a -> b -> a");
    find(p, "cycle", "x", "cycle: x -> y -> x");
    cr_assert_eq(json_array_size(p), 2, "a step after a cycle is no cycle");
    json_decref(p);
}

Test(wfdef, unknown_dependency)
{
    expect(TWO(",'depends_on':['a','nope']"), "unknown_dependency", "b",
           "'nope'");
    expect(TWO(",'depends_on':'a'"), "bad_value", "b",
           "depends_on must be a list");
    expect(TWO(",'depends_on':['a',3]"), "bad_value", "b", "depends_on[1]");
    expect(TWO(",'depends_on':['a','a']"), "bad_value", "b", "'a' twice");
}

Test(wfdef, duplicate_id)
{
    expect("{'name':'w','steps':[{'id':'a','agent':'crm','job_type':'t'},"
           "{'id':'b','agent':'crm','job_type':'t'},"
           "{'id':'a','agent':'crm','job_type':'u'}]}",
           "duplicate_id", "a", "'a' (steps[0] and steps[2])");
}

Test(wfdef, references_must_be_upstream)
{
    const char *sib = "{'name':'w','steps':["
                      "{'id':'a','agent':'crm','job_type':'t'},"
                      "{'id':'b','agent':'crm','job_type':'t',"
                      "'depends_on':['a'],'input':'{{steps.c.output}}'},"
                      "{'id':'c','agent':'crm','job_type':'t',"
                      "'depends_on':['a']}]}";
    expect(sib, "not_upstream", "b",
           "input uses {{steps.c.output}}, but 'c' is not upstream");
    expect(TWO(",'when':'steps.a.output.ok'"), "not_upstream", "b",
           "when uses {{steps.a.output.ok}}");
    expect(TWO(",'for_each':'steps.a.output.list'"), "not_upstream", "b",
           "for_each uses {{steps.a.output.list}}");
    expect(ONE(",'input':{'x':'{{steps.a.output}}'}"), "not_upstream", "a",
           "its own output");
    /* upstream through another step is fine */
    wfdef *def = parse_ok(
        "{'name':'w','steps':["
        "{'id':'a','agent':'crm','job_type':'t'},"
        "{'id':'b','agent':'crm','job_type':'t','depends_on':['a']},"
        "{'id':'c','agent':'crm','job_type':'t','depends_on':['b'],"
        "'input':'{{steps.a.output}} {{steps.b.output}}',"
        "'when':'steps.a.output.go'}]}");
    wfdef_free(def);
}

Test(wfdef, unknown_variables)
{
    expect(TWO(",'input':{'x':'{{inputs.nope}}'}"), "unknown_variable", "b",
           "{{inputs.nope}}, but no input 'nope'");
    expect(TWO(",'input':['{{foo.bar}}']"), "unknown_variable", "b",
           "unknown variable {{foo.bar}}");
    expect(TWO(",'input':'{{steps.zzz.output}}'"), "unknown_variable", "b",
           "no step 'zzz'");
    expect(TWO(",'depends_on':['a'],'input':'{{steps.a.result}}'"),
           "unknown_variable", "b", "{{steps.a.result}}");
    expect(TWO(",'input':'{{run.when}}'"), "unknown_variable", "b",
           "{{run.when}}");
    expect(TWO(",'input':'{{item}}'"), "unknown_variable", "b",
           "only exists in the input of a for_each step");
    expect(TWO(",'when':'inputs.nope == 1'"), "unknown_variable", "b",
           "when uses {{inputs.nope}}");
}

Test(wfdef, bad_templates_and_conditions)
{
    expect(TWO(",'input':{'x':'{{inputs.seg'}"), "bad_template", "b",
           "bad reference '{{inputs.seg': '{{' without '}}'");
    expect(TWO(",'input':{'x':'{{inputs. seg}}'}"), "bad_template", "b",
           "blank inside reference");
    expect(TWO(",'when':'inputs.seg =='"), "bad_condition", "b",
           "when: column 14: expected a value");
    expect(TWO(",'when':5"), "bad_value", "b", "when must be");
}

Test(wfdef, unknown_agent_is_a_warning)
{
    json_t *problems;
    wfdef *def;
    json_t *j = J("{'name':'w','steps':["
                  "{'id':'a','agent':'crm','job_type':'t'},"
                  "{'id':'b','agent':'crm','job_type':'t'},"
                  "{'id':'c','agent':'mystery','job_type':'t'}]}");
    cr_assert_eq(wfdef_parse(j, NULL, &def, &problems), 0);
    cr_assert_not_null(def);
    cr_assert_eq(json_array_size(problems), 2, "one warning per agent type");
    const json_t *w =
        find(problems, "unknown_agent", "a", "no agent registered for type "
                                             "'crm'");
    cr_assert_str_eq(json_string_value(json_object_get(w, "severity")),
                     "warning");
    find(problems, "unknown_agent", "c", "'mystery'");
    json_decref(problems);
    wfdef_free(def);

    cr_assert_eq(wfdef_parse(j, AGENTS, &def, &problems), 0);
    cr_assert_eq(json_array_size(problems), 1);
    find(problems, "unknown_agent", "c", "'mystery'");
    json_decref(problems);
    wfdef_free(def);
    json_decref(j);
}

Test(wfdef, bad_retries)
{
    expect(ONE(",'retries':{'max':-1}"), "bad_retries", "a", "retries.max");
    expect(ONE(",'retries':{'max':101}"), "bad_retries", "a", "0 to 100");
    expect(ONE(",'retries':{'max':1.5}"), "bad_retries", "a", "retries.max");
    expect(ONE(",'retries':{'initial_ms':2000,'max_ms':1000}"), "bad_retries",
           "a", "max_ms 1000 is below initial_ms 2000");
    expect(ONE(",'retries':{'backoff':'linear'}"), "bad_retries", "a",
           "unknown backoff 'linear'");
    expect(ONE(",'retries':{'initial_ms':-5}"), "bad_retries", "a",
           "retries.initial_ms");
    expect(ONE(",'retries':{'max_ms':-5}"), "bad_retries", "a",
           "retries.max_ms");
    expect(ONE(",'retries':3"), "bad_retries", "a", "must be an object");
    expect(ONE(",'retries':{'maxx':3}"), "unknown_field", "a",
           "'maxx' (did you mean 'max'?)");
}

Test(wfdef, bad_timeouts)
{
    expect(ONE(",'timeout_ms':0"), "bad_timeout", "a", "timeout_ms");
    expect(ONE(",'timeout_ms':-1"), "bad_timeout", "a", "timeout_ms");
    expect(ONE(",'timeout_ms':'5s'"), "bad_timeout", "a", "timeout_ms");
    expect(ONE(",'timeout_ms':86400001"), "bad_timeout", "a", "86400000");
    expect("{'name':'w','timeout_ms':0,'steps':[{'id':'a','agent':'crm',"
           "'job_type':'t'}]}",
           "bad_timeout", NULL, "the workflow's timeout_ms");
}

Test(wfdef, missing_fields)
{
    expect("{'steps':[{'id':'a','agent':'crm','job_type':'t'}]}",
           "missing_field", NULL, "no name");
    expect("{'name':'w'}", "missing_field", NULL, "no steps");
    expect("{'name':'w','steps':[]}", "missing_field", NULL,
           "at least one step");
    expect("{'name':'w','steps':[{'agent':'crm','job_type':'t'}]}",
           "missing_field", NULL, "steps[0] has no id");
    expect("{'name':'w','steps':[{'id':'a','agent':'crm'}]}",
           "missing_field", "a", "step 'a' has no job_type");
    expect("{'name':'w','steps':[{'id':'a','job_type':'t'}]}",
           "missing_field", "a", "step 'a' has no agent");
}

Test(wfdef, bad_values)
{
    expect("{'name':'w','steps':[{'id':'a b','agent':'crm','job_type':'t'}]}",
           "bad_value", NULL, "steps[0]: id 'a b'");
    char long_id[200];
    snprintf(long_id, sizeof long_id,
             "{'name':'w','steps':[{'id':'%065d','agent':'crm',"
             "'job_type':'t'}]}",
             0);
    expect(long_id, "bad_value", NULL, "1-64 characters");
    expect("{'name':'w','steps':[{'id':7,'agent':'crm','job_type':'t'}]}",
           "bad_value", NULL, "id must be a string");
    expect("{'name':'my flow','steps':[{'id':'a','agent':'crm',"
           "'job_type':'t'}]}",
           "bad_value", NULL, "name must be 1-128");
    char long_name[400];
    snprintf(long_name, sizeof long_name,
             "{'name':'%0129d','steps':[{'id':'a','agent':'crm',"
             "'job_type':'t'}]}",
             0);
    expect(long_name, "bad_value", NULL, "name must be 1-128");
    expect("{'name':'w','version':0,'steps':[{'id':'a','agent':'crm',"
           "'job_type':'t'}]}",
           "bad_value", NULL, "version must be a positive integer");
    expect("{'name':'w','version':'2','steps':[{'id':'a','agent':'crm',"
           "'job_type':'t'}]}",
           "bad_value", NULL, "version");
    expect(ONE(",'job_type':''"), "bad_value", NULL, "job_type");
    expect("{'name':'w','steps':[3]}", "bad_value", NULL,
           "steps[0] is not an object");
    expect("[1]", "bad_value", NULL, "JSON object");
    expect("{'name':'w','steps':{}}", "bad_value", NULL,
           "steps must be a list");
    expect("{'name':'w','inputs':[],'steps':[{'id':'a','agent':'crm',"
           "'job_type':'t'}]}",
           "bad_value", NULL, "inputs must be an object");
    expect("{'name':'w','inputs':{'a b':{}},'steps':[{'id':'a','agent':'crm',"
           "'job_type':'t'}]}",
           "bad_value", NULL, "input name 'a b'");
    expect("{'name':'w','inputs':{'x':'dflt'},'steps':[{'id':'a',"
           "'agent':'crm','job_type':'t'}]}",
           "bad_value", NULL, "input 'x' must be an object");
    expect("{'name':'w','inputs':{'x':{'defualt':1}},'steps':[{'id':'a',"
           "'agent':'crm','job_type':'t'}]}",
           "unknown_field", NULL, "input 'x': unknown field 'defualt'");
}

Test(wfdef, null_definition_is_refused)
{
    json_t *problems;
    wfdef *def;
    cr_assert_eq(wfdef_parse(NULL, AGENTS, &def, &problems), FS_EINVAL);
    cr_assert_null(def);
    find(problems, "bad_value", NULL, "JSON object");
    json_decref(problems);
}

Test(wfdef, unknown_fields_catch_typos)
{
    expect(TWO(",'depend_on':['a']"), "unknown_field", "b",
           "step 'b': unknown field 'depend_on' (did you mean "
           "'depends_on'?)");
    expect("{'name':'w','stepz':[],'steps':[{'id':'a','agent':'crm',"
           "'job_type':'t'}]}",
           "unknown_field", NULL, "'stepz' (did you mean 'steps'?)");
    expect(ONE(",'zzzzzzzz':1"), "unknown_field", "a",
           "unknown field 'zzzzzzzz'");
}

Test(wfdef, on_failure_forms)
{
    const char *fmt = "{'name':'w','steps':["
                      "{'id':'a','agent':'crm','job_type':'t',%s},"
                      "{'id':'undo','agent':'crm','job_type':'u'}]}";
    const char *forms[] = { "'on_failure':'compensate','compensate':'undo'",
                            "'on_failure':{'compensate':'undo'}" };
    for (int f = 0; f < 2; f++) {
        char src[512];
        snprintf(src, sizeof src, fmt, forms[f]);
        wfdef *def = parse_ok(src);
        const wfdef_step *a = wfdef_step_at(def, wfdef_step_index(def, "a"));
        int u = wfdef_step_index(def, "undo");
        cr_assert_eq(a->on_failure, WFDEF_COMPENSATE);
        cr_assert_eq(a->compensate, u);
        cr_assert(wfdef_step_at(def, u)->compensation_only);
        cr_assert(!a->compensation_only);
        wfdef_free(def);
    }
    expect(ONE(",'on_failure':'retry'"), "bad_on_failure", "a",
           "unknown on_failure 'retry'");
    expect(ONE(",'on_failure':{'undo':'x'}"), "bad_on_failure", "a",
           "unknown on_failure");
    expect(ONE(",'on_failure':'compensate'"), "missing_field", "a",
           "no \"compensate\" step");
    expect(ONE(",'on_failure':'compensate','compensate':'nope'"),
           "unknown_compensation", "a", "'nope' does not exist");
    expect(ONE(",'on_failure':{'compensate':'nope'}"), "unknown_compensation",
           "a", "'nope'");
    expect(ONE(",'on_failure':'continue','compensate':'a'"),
           "bad_on_failure", "a", "only read with");
    expect(ONE(",'on_failure':'compensate','compensate':'a'"),
           "bad_compensation", "a", "names itself");
}

Test(wfdef, compensation_rules)
{
    /* a normal step may not wait for a compensation-only one */
    expect("{'name':'w','steps':["
           "{'id':'a','agent':'crm','job_type':'t','on_failure':"
           "{'compensate':'undo'}},"
           "{'id':'undo','agent':'crm','job_type':'u'},"
           "{'id':'b','agent':'crm','job_type':'t','depends_on':['undo']}]}",
           "bad_compensation", "b",
           "depends on 'undo', which only runs as a compensation (of step "
           "'a')");
    /* no compensation of a compensation */
    expect("{'name':'w','steps':["
           "{'id':'a','agent':'crm','job_type':'t','on_failure':"
           "{'compensate':'undo'}},"
           "{'id':'undo','agent':'crm','job_type':'u','on_failure':"
           "{'compensate':'undo2'}},"
           "{'id':'undo2','agent':'crm','job_type':'u'}]}",
           "bad_compensation", "undo", "cannot have a compensation");
    /* its deps must be upstream of the step it compensates */
    expect("{'name':'w','steps':["
           "{'id':'r','agent':'crm','job_type':'t'},"
           "{'id':'other','agent':'crm','job_type':'t'},"
           "{'id':'a','agent':'crm','job_type':'t','depends_on':['r'],"
           "'on_failure':{'compensate':'undo'}},"
           "{'id':'undo','agent':'crm','job_type':'u','depends_on':"
           "['other']}]}",
           "bad_compensation", "undo",
           "'undo' depends on 'other', which is not upstream of step 'a'");
    /* the good case: undo reads the output of a step before a */
    wfdef *def = parse_ok(
        "{'name':'w','steps':["
        "{'id':'reserve','agent':'crm','job_type':'t'},"
        "{'id':'charge','agent':'crm','job_type':'t','depends_on':"
        "['reserve'],'on_failure':{'compensate':'release'}},"
        "{'id':'release','agent':'crm','job_type':'u','depends_on':"
        "['reserve'],'input':'{{steps.reserve.output.id}}'},"
        "{'id':'ship','agent':'crm','job_type':'t','depends_on':['charge']}]}");
    const wfdef_step *rel =
        wfdef_step_at(def, wfdef_step_index(def, "release"));
    cr_assert(rel->compensation_only);
    cr_assert_eq(rel->ndeps, 1);
    wfdef_free(def);
}

Test(wfdef, for_each_must_name_a_list)
{
    expect(TWO(",'depends_on':['a'],'for_each':'every item'"),
           "bad_for_each", "b", "for_each must be one reference");
    expect(TWO(",'depends_on':['a'],'for_each':'{{run.id}}'"),
           "bad_for_each", "b", "must name a list");
    expect(TWO(",'depends_on':['a'],'for_each':['x']"), "bad_for_each", "b",
           "for_each must be a reference string");
    expect(TWO(",'depends_on':['a'],'for_each':'steps.a.output.x',"
               "'when':'item.ok'"),
           "unknown_variable", "b", "when uses {{item.ok}}");
    wfdef *def = parse_ok(TWO(",'depends_on':['a'],"
                              "'for_each':'{{ steps.a.output.rows }}',"
                              "'input':{'row':'{{item}}','f':'{{item.f}}'}}"
                              ",{'id':'c','agent':'crm','job_type':'t',"
                              "'for_each':'inputs.seg'"));
    wfdef_free(def);
}

Test(wfdef, every_problem_at_once)
{
    wfdef *def;
    json_t *p = parse_s(
        "{'version':-3,'color':'red','steps':["
        "{'id':'a','agent':'crm','job_type':'t','depends_on':['c']},"
        "{'id':'c','agent':'crm','job_type':'t','depends_on':['a']},"
        "{'id':'a','agent':'crm','job_type':'t'},"
        "{'id':'d','agent':'crm','job_type':'t','depends_on':['ghost'],"
        "'retries':{'max':500},'timeout_ms':-1,'on_failure':'explode',"
        "'input':'{{inputs.none}} {{steps.c.output}}'},"
        "{'id':'e','agent':'crm'}]}",
        &def);
    cr_assert_null(def);
    find(p, "missing_field", NULL, "no name");
    find(p, "bad_value", NULL, "version");
    find(p, "unknown_field", NULL, "'color'");
    find(p, "cycle", "a", "a -> c -> a");
    find(p, "duplicate_id", "a", "'a'");
    find(p, "unknown_dependency", "d", "'ghost'");
    find(p, "bad_retries", "d", "retries.max");
    find(p, "bad_timeout", "d", "timeout_ms");
    find(p, "bad_on_failure", "d", "'explode'");
    find(p, "unknown_variable", "d", "{{inputs.none}}");
    find(p, "not_upstream", "d", "{{steps.c.output}}");
    find(p, "missing_field", "e", "no job_type");
    cr_assert_eq(count_errors(p), 12);
    json_decref(p);
}

/* A definition of n steps s0..s{n-1}; deps(i) fills step i. */
static json_t *generated(int n, void (*deps)(json_t *step, int i, int n))
{
    json_t *steps = json_array();
    for (int i = 0; i < n; i++) {
        char id[16];
        snprintf(id, sizeof id, "s%d", i);
        json_t *s = json_pack("{s:s, s:s, s:s}", "id", id, "agent", "crm",
                              "job_type", "t");
        deps(s, i, n);
        json_array_append_new(steps, s);
    }
    return json_pack("{s:s, s:o}", "name", "big", "steps", steps);
}

static json_t *ids(int from, int to)
{
    json_t *a = json_array();
    char id[16];
    for (int i = from; i < to; i++) {
        snprintf(id, sizeof id, "s%d", i);
        json_array_append_new(a, json_string(id));
    }
    return a;
}

static void chain(json_t *s, int i, int n)
{
    (void)n;
    if (i) json_object_set_new(s, "depends_on", ids(i - 1, i));
}

static void chain_using_first(json_t *s, int i, int n)
{
    chain(s, i, n);
    if (i) json_object_set_new(s, "input", json_string("{{steps.s0.output}}"));
}

static void ring(json_t *s, int i, int n)
{
    json_object_set_new(s, "depends_on", ids(i ? i - 1 : n - 1, i ? i : n));
}

static void fan(json_t *s, int i, int n)
{
    if (i == n - 1) {
        json_object_set_new(s, "depends_on", ids(1, n - 1));
        json_object_set_new(s, "input",
                            json_pack("[s,s]", "{{steps.s1.output}}",
                                      "{{steps.s0.output}}"));
    } else if (i) {
        json_object_set_new(s, "depends_on", ids(0, 1));
    }
}

Test(wfdef, ten_thousand_step_chain)
{
    wfdef *def;
    json_t *p = parse_j(generated(WFDEF_MAX_STEPS, chain), &def);
    cr_assert_eq(json_array_size(p), 0);
    cr_assert_eq(wfdef_nsteps(def), WFDEF_MAX_STEPS);
    cr_assert_eq(wfdef_nlevels(def), WFDEF_MAX_STEPS);
    const wfdef_step *last = wfdef_step_at(def, WFDEF_MAX_STEPS - 1);
    cr_assert_str_eq(last->id, "s9999");
    cr_assert_eq(last->level, WFDEF_MAX_STEPS - 1);
    char *text = wfdef_graph_text(def), *dot = wfdef_graph_dot(def);
    cr_assert(strstr(text, "level 9999:\n  s9999"));
    cr_assert(strstr(dot, "\"s9998\" -> \"s9999\";"));
    free(text);
    free(dot);
    wfdef_free(def);
    json_decref(p);
}

Test(wfdef, chain_referencing_its_first_step)
{
    wfdef *def;
    json_t *p = parse_j(generated(1000, chain_using_first), &def);
    cr_assert_eq(json_array_size(p), 0);
    cr_assert_not_null(def);
    wfdef_free(def);
    json_decref(p);
}

Test(wfdef, ten_thousand_step_ring_is_one_cycle)
{
    json_t *p = parse_j(generated(WFDEF_MAX_STEPS, ring), NULL);
    cr_assert_eq(json_array_size(p), 1);
    find(p, "cycle", "s0", "cycle: s0 -> s1 -> ");
    find(p, "cycle", "s0", "(9950 more) -> s9975 -> ");
    find(p, "cycle", "s0", "-> s9999 -> s0");
    json_decref(p);
}

Test(wfdef, ten_thousand_step_fan_out_and_in)
{
    wfdef *def;
    json_t *p = parse_j(generated(WFDEF_MAX_STEPS, fan), &def);
    cr_assert_eq(json_array_size(p), 0);
    const wfdef_step *root = wfdef_step_at(def, 0);
    const wfdef_step *sink = wfdef_step_at(def, WFDEF_MAX_STEPS - 1);
    cr_assert_eq(root->ndependents, WFDEF_MAX_STEPS - 2);
    cr_assert_eq(sink->ndeps, WFDEF_MAX_STEPS - 2);
    cr_assert_eq(sink->level, 2);
    for (size_t e = 1; e < sink->ndeps; e++)
        cr_assert_lt(sink->deps[e - 1], sink->deps[e]);
    wfdef_free(def);
    json_decref(p);
}

Test(wfdef, too_many_steps)
{
    json_t *p = parse_j(generated(WFDEF_MAX_STEPS + 1, chain), NULL);
    find(p, "too_many_steps", NULL, "10001 steps");
    json_decref(p);
}

Test(wfdef, canonical_json_round_trips)
{
    wfdef *def = parse_ok(
        "{'name':'w','description':'x','inputs':{'seg':{'default':'a'}},"
        "'steps':["
        "{'id':'b','agent':'crm','job_type':'t','depends_on':['a'],"
        "'on_failure':{'compensate':'undo'},'when':'inputs.seg == \\'a\\'',"
        "'retries':{'max':2},'timeout_ms':100},"
        "{'id':'a','agent':'crm','job_type':'t',"
        "'input':{'k':[1,'{{run.id}}']}},"
        "{'id':'undo','agent':'crm','job_type':'u'}]}");
    json_t *j = wfdef_to_json(def);
    json_t *want = J(
        "{'name':'w','version':1,'description':'x','inputs':{'seg':"
        "{'default':'a'}},'steps':["
        "{'id':'b','agent':'crm','job_type':'t','input':{},"
        "'depends_on':['a'],'retries':{'max':2,'backoff':'exponential',"
        "'initial_ms':1000,'max_ms':60000},'on_failure':'compensate',"
        "'compensate':'undo','timeout_ms':100,"
        "'when':'inputs.seg == \\'a\\''},"
        "{'id':'a','agent':'crm','job_type':'t','input':{'k':[1,'{{run.id}}']},"
        "'depends_on':[],'retries':{'max':0,'backoff':'exponential',"
        "'initial_ms':1000,'max_ms':60000},'on_failure':'fail_workflow'},"
        "{'id':'undo','agent':'crm','job_type':'u','input':{},"
        "'depends_on':[],'retries':{'max':0,'backoff':'exponential',"
        "'initial_ms':1000,'max_ms':60000},'on_failure':'fail_workflow'}]}");
    char *got = json_dumps(j, JSON_SORT_KEYS);
    cr_assert(json_equal(j, want), "got %s", got);
    free(got);
    wfdef *again;
    json_t *p = parse_j(json_incref(j), &again);
    cr_assert_eq(json_array_size(p), 0);
    json_t *j2 = wfdef_to_json(again);
    cr_assert(json_equal(j, j2));
    json_decref(j2);
    json_decref(p);
    json_decref(want);
    json_decref(j);
    wfdef_free(again);
    wfdef_free(def);
}

Test(wfdef, resolve_inputs)
{
    wfdef *def = parse_ok(
        "{'name':'w','inputs':{'seg':{'default':'smb'},'n':{},"
        "'opt':{'default':null}},'steps':[{'id':'a','agent':'crm',"
        "'job_type':'t'}]}");
    json_t *given = J("{'n':3}"), *out = NULL;
    char err[256] = "";
    cr_assert_eq(wfdef_resolve_inputs(def, given, &out, err, sizeof err), 0,
                 "%s", err);
    json_t *want = J("{'seg':'smb','n':3,'opt':null}");
    cr_assert(json_equal(out, want));
    json_decref(out);
    json_decref(want);
    json_decref(given);
    given = J("{'seg':'ent','nope':1}");
    cr_assert_eq(wfdef_resolve_inputs(def, given, &out, err, sizeof err),
                 FS_EINVAL);
    cr_assert(strstr(err, "unknown input 'nope'"), "%s", err);
    cr_assert(strstr(err, "missing input 'n'"), "%s", err);
    cr_assert_eq(wfdef_resolve_inputs(def, NULL, &out, err, sizeof err),
                 FS_EINVAL);
    json_decref(given);
    wfdef_free(def);
}

Test(wfdef, backoff_arithmetic)
{
    wfdef *def = parse_ok(
        "{'name':'w','steps':["
        "{'id':'f','agent':'crm','job_type':'t','retries':{'max':5,"
        "'backoff':'fixed','initial_ms':500}},"
        "{'id':'e','agent':'crm','job_type':'t','retries':{'max':100,"
        "'initial_ms':1000,'max_ms':60000}},"
        "{'id':'z','agent':'crm','job_type':'t','retries':{'max':3,"
        "'initial_ms':0}}]}");
    int f = wfdef_step_index(def, "f"), e = wfdef_step_index(def, "e");
    int z = wfdef_step_index(def, "z");
    for (int a = 1; a <= 10; a++)
        cr_assert_eq(wfdef_backoff_ms(def, f, a, 0.9), 500, "no jitter");
    int64_t want[] = { 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000 };
    for (int a = 1; a <= 8; a++)
        cr_assert_eq(wfdef_backoff_ms(def, e, a, 0.0), want[a - 1],
                     "attempt %d", a);
    cr_assert_eq(wfdef_backoff_ms(def, e, 1000000, 0.0), 60000);
    cr_assert_eq(wfdef_backoff_ms(def, e, 3, 0.5), 4000 - 1000);
    cr_assert_eq(wfdef_backoff_ms(def, e, 7, 0.5), 60000 - 15000);
    for (int k = 0; k < 1000; k++) {
        double r = (double)k / 1000;
        for (int a = 1; a <= 8; a++) {
            int64_t d = wfdef_backoff_ms(def, e, a, r);
            cr_assert(d >= want[a - 1] - want[a - 1] / 2 && d <= want[a - 1],
                      "attempt %d r %f: %lld", a, r, (long long)d);
        }
    }
    cr_assert_eq(wfdef_backoff_ms(def, e, 2, 7.0), 1000, "r clamped to 1");
    cr_assert_eq(wfdef_backoff_ms(def, e, 2, -1.0), 2000);
    cr_assert_eq(wfdef_backoff_ms(def, z, 2000000000, 0.3), 0);
    wfdef_free(def);
}

static const char *TEN =
    "{'name':'report','steps':["
    "{'id':'fetch','agent':'crm','job_type':'fetch_accounts'},"
    "{'id':'enrich','agent':'crm','job_type':'enrich','depends_on':['fetch']},"
    "{'id':'score','agent':'scorer','job_type':'score','depends_on':['fetch'],"
    "'for_each':'steps.fetch.output.accounts'},"
    "{'id':'rank','agent':'scorer','job_type':'rank','depends_on':"
    "['score','enrich'],'when':'steps.score.output != null'},"
    "{'id':'draft','agent':'writer','job_type':'draft','depends_on':['rank'],"
    "'retries':{'max':3}},"
    "{'id':'review','agent':'writer','job_type':'review','depends_on':"
    "['draft'],'timeout_ms':60000},"
    "{'id':'publish','agent':'writer','job_type':'publish','depends_on':"
    "['review'],'on_failure':{'compensate':'unpublish'}},"
    "{'id':'notify','agent':'crm','job_type':'notify','depends_on':"
    "['publish'],'on_failure':'continue'},"
    "{'id':'archive','agent':'crm','job_type':'archive','depends_on':"
    "['fetch']},"
    "{'id':'unpublish','agent':'writer','job_type':'we\\\"ird\\\\\\\\name',"
    "'depends_on':['review']}]}";

Test(wfdef, graph_text_lists_levels)
{
    wfdef *def = parse_ok(TEN);
    char *text = wfdef_graph_text(def);
    const char *want[] = {
        "workflow report (version 1): 10 steps in 7 levels\n",
        "level 0:\n  fetch      crm / fetch_accounts\n",
        "level 1:\n  enrich     crm / enrich",
        "  score      scorer / score         after fetch  [for each "
        "steps.fetch.output.accounts]\n",
        "  archive    crm / archive          after fetch\n",
        "after enrich, score  [when steps.score.output != null]\n",
        "[retries 3, exponential]\n",
        "[timeout 60000 ms]\n",
        "[on failure compensate with unpublish]\n",
        "[on failure continue]\n",
        "compensation only:\n  unpublish  writer / we\"ird\\\\name",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert(strstr(text, want[i]), "no '%s' in\n%s", want[i], text);
    free(text);
    wfdef_free(def);
}

Test(wfdef, graph_dot_is_escaped)
{
    wfdef *def = parse_ok(TEN);
    char *dot = wfdef_graph_dot(def);
    const char *want[] = {
        "digraph \"report\" {\n",
        "  \"fetch\" [label=\"fetch\\ncrm / fetch_accounts\"];\n",
        "  \"fetch\" -> \"enrich\";\n",
        "  \"score\" -> \"rank\";\n",
        "\\nfor each steps.fetch.output.accounts\"",
        "  \"unpublish\" [label=\"unpublish\\nwriter / "
        "we\\\"ird\\\\\\\\name\", "
        "style=dashed];\n",
        "  \"publish\" -> \"unpublish\" [style=dashed, "
        "label=\"on failure\"];\n",
        "  \"review\" -> \"unpublish\";\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert(strstr(dot, want[i]), "no '%s' in\n%s", want[i], dot);
    size_t len = strlen(dot);
    cr_assert_str_eq(dot + len - 2, "}\n");
    free(dot);
    wfdef_free(def);
}
