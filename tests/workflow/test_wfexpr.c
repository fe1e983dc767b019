/*
 * test_wfexpr.c - template references (listing, rendering with types and
 * as text, missing values, size limit) and `when` conditions (precedence,
 * comparisons, missing references, truthiness, parse errors with columns,
 * limits).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "core/fs.h"
#include "workflow/wfexpr.h"

/* JSON text with ' for " (and \' for a real '). */
static json_t *J(const char *s)
{
    char buf[8192];
    size_t n = 0;
    for (; *s; s++) {
        cr_assert_lt(n, sizeof buf - 1);
        if (s[0] == '\\' && s[1] == '\'') buf[n++] = *++s;
        else buf[n++] = *s == '\'' ? '"' : *s;
    }
    buf[n] = '\0';
    json_error_t e;
    json_t *j = json_loads(buf, JSON_DECODE_ANY, &e);
    cr_assert_not_null(j, "bad test JSON: %s: %s", e.text, buf);
    return j;
}

static json_t *ctx(void)
{
    return J("{'inputs':{'seg':'smb','n':5,'r':0.1,'b':true,'zero':0,"
             "'empty':'','none':[],'list':[1],'obj':{},'nul':null},"
             "'steps':{'s':{'output':{'top':[10,20],'obj':{'k':true},"
             "'name':'Ann','nul':null,'score':0.75}}},"
             "'item':{'f':'x'},'run':{'id':'run_1'}}");
}

typedef struct seen {
    char text[16][64];
    wfexpr_root root[16];
    size_t nparts[16];
    bool bad[16];
    size_t n;
} seen;

static void collect(void *c, const wfexpr_ref *r)
{
    seen *s = c;
    cr_assert_lt(s->n, 16);
    snprintf(s->text[s->n], 64, "%s", r->text);
    s->bad[s->n] = r->error != NULL;
    if (!r->error) {
        s->root[s->n] = r->root;
        s->nparts[s->n] = r->nparts;
        cr_assert(!strncmp(r->text, r->parts[0], strlen(r->parts[0])));
    }
    s->n++;
}

Test(wfexpr, refs_lists_every_reference_with_its_root)
{
    json_t *t = J("{'a':'{{inputs.x}}','b':['x {{ steps.s1.output.list.0 }} y',"
                  "{'c':'{{item.f}}'}],'d':'{{run.id}}','e':'{{foo.bar}}',"
                  "'{{key}}':'keys are not templates','n':3}");
    seen s = { .n = 0 };
    cr_assert_eq(wfexpr_refs(t, collect, &s), 0);
    cr_assert_eq(s.n, 5);
    cr_assert_str_eq(s.text[0], "inputs.x");
    cr_assert_eq(s.root[0], WFEXPR_ROOT_INPUTS);
    cr_assert_str_eq(s.text[1], "steps.s1.output.list.0");
    cr_assert_eq(s.root[1], WFEXPR_ROOT_STEPS);
    cr_assert_eq(s.nparts[1], 5);
    cr_assert_eq(s.root[2], WFEXPR_ROOT_ITEM);
    cr_assert_eq(s.root[3], WFEXPR_ROOT_RUN);
    cr_assert_eq(s.root[4], WFEXPR_ROOT_OTHER);
    json_decref(t);
}

Test(wfexpr, refs_reports_malformed_references_and_goes_on)
{
    json_t *t = J("['{{ }}','{{a..b}}','{{a b}}','{{a.$}}','{{inputs.ok}}',"
                  "'text {{unterminated']");
    seen s = { .n = 0 };
    cr_assert_eq(wfexpr_refs(t, collect, &s), FS_EINVAL);
    cr_assert_eq(s.n, 6);
    for (int i = 0; i < 6; i++) cr_assert_eq(s.bad[i], i != 4, "ref %d", i);
    json_decref(t);
}

Test(wfexpr, render_keeps_the_type_of_a_whole_string_reference)
{
    json_t *c = ctx();
    json_t *t = J("{'n':'{{inputs.n}}','list':'{{ steps.s.output.top }}',"
                  "'o':'{{steps.s.output.obj}}','nul':'{{steps.s.output.nul}}',"
                  "'second':'{{steps.s.output.top.1}}','b':'{{inputs.b}}',"
                  "'lit':[1,false,null,{'k':'v'}]}");
    char err[256] = "";
    json_t *r = wfexpr_render(t, c, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    json_t *want = J("{'n':5,'list':[10,20],'o':{'k':true},'nul':null,"
                     "'second':20,'b':true,'lit':[1,false,null,{'k':'v'}]}");
    cr_assert(json_equal(r, want));
    /* a copy: changing the result leaves the context alone */
    json_array_append_new(json_object_get(r, "list"), json_integer(3));
    cr_assert_eq(json_array_size(wfexpr_lookup("steps.s.output.top", c)), 2);
    json_decref(want);
    json_decref(r);
    json_decref(t);
    json_decref(c);
}

Test(wfexpr, render_interpolates_text)
{
    json_t *c = ctx();
    json_t *t = J("'seg={{inputs.seg}} n={{inputs.n}} r={{inputs.r}} "
                  "o={{steps.s.output.obj}} b={{inputs.b}} z={{inputs.nul}} "
                  "{{item.f}}/{{run.id}} {{steps.s.output.score}}'");
    char err[256] = "";
    json_t *r = wfexpr_render(t, c, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    cr_assert_str_eq(json_string_value(r),
                     "seg=smb n=5 r=0.1 o={\"k\":true} b=true z=null "
                     "x/run_1 0.75");
    json_decref(r);
    json_decref(t);
    json_decref(c);
}

Test(wfexpr, render_does_not_scan_values_again)
{
    json_t *c = J("{'inputs':{'x':'{{inputs.y}}'}}");
    json_t *t = J("['{{inputs.x}}','a {{inputs.x}}']");
    json_t *r = wfexpr_render(t, c, NULL, 0);
    cr_assert_not_null(r);
    cr_assert_str_eq(json_string_value(json_array_get(r, 0)), "{{inputs.y}}");
    cr_assert_str_eq(json_string_value(json_array_get(r, 1)),
                     "a {{inputs.y}}");
    json_decref(r);
    json_decref(t);
    json_decref(c);
}

static void render_fails(const char *tmpl, const char *want)
{
    json_t *c = ctx();
    json_t *t = J(tmpl);
    char err[256] = "";
    json_t *r = wfexpr_render(t, c, err, sizeof err);
    cr_assert_null(r, "%s rendered", tmpl);
    cr_assert(strstr(err, want), "%s: '%s' lacks '%s'", tmpl, err, want);
    json_decref(t);
    json_decref(c);
}

Test(wfexpr, render_names_a_missing_reference)
{
    render_fails("{'a':'{{inputs.nope}}'}", "{{inputs.nope}}");
    render_fails("['ok','x {{steps.s.output.missing}} y']",
                 "{{steps.s.output.missing}}");
    render_fails("'{{steps.s.output.top.2}}'", "steps.s.output.top.2");
    render_fails("'{{steps.s.output.name.0}}'", "steps.s.output.name.0");
    render_fails("'{{steps.other.output}}'", "steps.other.output");
    render_fails("'a {{inputs.seg'", "'{{' without '}}'");
    render_fails("'{{a b}}'", "blank inside reference");
}

Test(wfexpr, render_stops_past_the_output_limit)
{
    char *big = malloc(600 * 1024 + 1);
    memset(big, 'x', 600 * 1024);
    big[600 * 1024] = '\0';
    json_t *c = json_pack("{s:{s:s}}", "inputs", "big", big);
    char err[256] = "";
    json_t *one = J("{'a':'{{inputs.big}}'}");
    json_t *r = wfexpr_render(one, c, err, sizeof err);
    cr_assert_not_null(r, "600 KiB is under the limit: %s", err);
    json_decref(r);
    json_t *two = J("['{{inputs.big}}','text {{inputs.big}}']");
    cr_assert_null(wfexpr_render(two, c, err, sizeof err));
    cr_assert(strstr(err, "bytes"), "%s", err);
    json_decref(one);
    json_decref(two);
    json_decref(c);
    free(big);
}

Test(wfexpr, lookup_takes_bare_or_braced_references)
{
    json_t *c = ctx();
    cr_assert_eq(json_integer_value(wfexpr_lookup("steps.s.output.top.0", c)),
                 10);
    json_t *v = wfexpr_lookup("  {{ steps.s.output.top }} ", c);
    cr_assert(json_is_array(v));
    cr_assert_null(wfexpr_lookup("steps.s.output.nope", c));
    cr_assert_null(wfexpr_lookup("not a ref", c));
    cr_assert(json_is_null(wfexpr_lookup("inputs.nul", c)),
              "a present null is found");
    json_decref(c);
}

Test(wfexpr, ref_check_accepts_one_reference_only)
{
    seen s = { .n = 0 };
    char err[128];
    cr_assert_eq(wfexpr_ref_check("{{steps.a.output.items}}", collect, &s,
                                  err, sizeof err),
                 0);
    cr_assert_eq(wfexpr_ref_check("inputs.list", collect, &s, err, sizeof err),
                 0);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.text[0], "steps.a.output.items");
    cr_assert_eq(wfexpr_ref_check("{{a}} {{b}}", NULL, NULL, err, sizeof err),
                 FS_EINVAL);
    cr_assert_eq(wfexpr_ref_check("", NULL, NULL, err, sizeof err),
                 FS_EINVAL);
    cr_assert(strstr(err, "empty"), "%s", err);
}

static bool cond(const char *src)
{
    json_t *c = ctx();
    bool r = false;
    char err[256] = "";
    int rc = wfexpr_cond_eval(src, c, &r, err, sizeof err);
    cr_assert_eq(rc, 0, "%s: %s", src, err);
    json_decref(c);
    return r;
}

Test(wfexpr, cond_precedence)
{
    cr_assert(cond("true || false && false"), "&& binds tighter than ||");
    cr_assert(!cond("(true || false) && false"));
    cr_assert(!cond("!(true || false) && true"));
    cr_assert(cond("!false && !false"));
    cr_assert(cond("!1 == 2"), "! applies to the comparison after it");
    cr_assert(cond("inputs.n > 3 && inputs.seg == 'smb' || false"));
    cr_assert(cond("false || inputs.n == 5 && (inputs.b || inputs.zero)"));
}

Test(wfexpr, cond_numbers)
{
    cr_assert(cond("inputs.n == 5"));
    cr_assert(cond("inputs.n == 5.0"), "numbers compare by value");
    cr_assert(cond("inputs.n != 5.5"));
    cr_assert(cond("inputs.r < 0.2 && inputs.r >= 0.1 && inputs.r <= 1e-1"));
    cr_assert(cond("-1 < 0 && 2 > -3.5"));
    cr_assert(cond("steps.s.output.top.1 > steps.s.output.top.0"));
    cr_assert(cond("{{ steps.s.output.score }} >= 0.75"));
}

Test(wfexpr, cond_strings)
{
    cr_assert(cond("inputs.seg == \"smb\""));
    cr_assert(cond("inputs.seg == 'smb'"));
    cr_assert(cond("'it\\'s' == \"it's\""));
    cr_assert(cond("'a\\\\b' != 'a/b'"));
    cr_assert(cond("'abc' < 'abd' && 'b' > 'abc'"));
    cr_assert(!cond("inputs.seg == 'SMB'"));
    cr_assert(!cond("'5' == 5"), "a string is not a number");
    cr_assert(!cond("'5' < 6") && !cond("'5' >= 6"),
              "ordering across types is false");
}

Test(wfexpr, cond_missing_reference_is_null)
{
    cr_assert(cond("inputs.nope == null"));
    cr_assert(cond("steps.zzz.output.x == null"));
    cr_assert(!cond("steps.zzz.output.x > 3"));
    cr_assert(!cond("steps.zzz.output.x < 3"));
    cr_assert(cond("!inputs.nope"));
    cr_assert(cond("inputs.nul == inputs.nope"));
}

Test(wfexpr, cond_truthiness)
{
    cr_assert(!cond("inputs.zero"));
    cr_assert(!cond("inputs.empty"));
    cr_assert(!cond("inputs.none"));
    cr_assert(!cond("inputs.obj"));
    cr_assert(!cond("inputs.nul"));
    cr_assert(!cond("null") && !cond("false") && !cond("0.0"));
    cr_assert(cond("inputs.list") && cond("inputs.seg") && cond("inputs.n"));
    cr_assert(cond("steps.s.output.obj") && cond("'0'"));
    cr_assert(wfexpr_truthy(json_true()));
    cr_assert(!wfexpr_truthy(NULL));
}

static void cond_bad(const char *src, const char *want)
{
    char err[256] = "";
    bool r;
    json_t *c = ctx();
    cr_assert_eq(wfexpr_cond_eval(src, c, &r, err, sizeof err), FS_EINVAL,
                 "%s parsed", src);
    cr_assert(strstr(err, want), "%s: '%s' lacks '%s'", src, err, want);
    cr_assert_eq(wfexpr_cond_check(src, NULL, NULL, err, sizeof err),
                 FS_EINVAL);
    json_decref(c);
}

Test(wfexpr, cond_parse_errors_name_the_column)
{
    cond_bad("", "column 1: empty condition");
    cond_bad("inputs.n ==", "column 12: expected a value");
    cond_bad("(true", "column 6: expected ')'");
    cond_bad("inputs.n = 1", "column 10: '=' alone: use '=='");
    cond_bad("a & b", "column 3: '&' alone");
    cond_bad("'abc", "column 1: unterminated string");
    cond_bad("1 == 1 == 1", "column 8: comparisons do not chain");
    cond_bad("true false", "column 6: expected an operator");
    cond_bad("inputs..x", "column 1: empty part in reference");
    cond_bad("1.2.3 > 0", "column 1: bad number");
    cond_bad("{{inputs.n > 3", "'{{' without '}}'");
    cond_bad("inputs.n > $", "column 12: unexpected character");
    cond_bad("'\\q'", "unknown escape");
}

Test(wfexpr, cond_limits)
{
    char src[WFEXPR_MAX_LEN + 64];
    size_t n = 0;
    for (int i = 0; i < WFEXPR_MAX_DEPTH; i++) src[n++] = '(';
    memcpy(src + n, "true", 4), n += 4;
    for (int i = 0; i < WFEXPR_MAX_DEPTH; i++) src[n++] = ')';
    src[n] = '\0';
    cr_assert(cond(src), "%d levels are allowed", WFEXPR_MAX_DEPTH);
    n = 0;
    for (int i = 0; i <= WFEXPR_MAX_DEPTH; i++) src[n++] = '!';
    memcpy(src + n, "true", 5);
    cond_bad(src, "nested too deep");
    n = 0;
    for (int i = 0; i <= WFEXPR_MAX_DEPTH; i++) src[n++] = '(';
    memcpy(src + n, "true", 5);
    cond_bad(src, "nested too deep");
    memset(src, ' ', WFEXPR_MAX_LEN + 1);
    memcpy(src, "true", 4);
    src[WFEXPR_MAX_LEN + 1] = '\0';
    cond_bad(src, "longer than");
}

Test(wfexpr, cond_long_chains_are_flat)
{
    char src[WFEXPR_MAX_LEN + 1];
    size_t n = 0;
    while (n + 10 < WFEXPR_MAX_LEN) memcpy(src + n, "true && ", 8), n += 8;
    memcpy(src + n, "false", 6);
    cr_assert(!cond(src));
    n = 0;
    while (n + 10 < WFEXPR_MAX_LEN) memcpy(src + n, "0 || ", 5), n += 5;
    memcpy(src + n, "1", 2);
    cr_assert(cond(src));
}

Test(wfexpr, cond_check_lists_references)
{
    seen s = { .n = 0 };
    char err[128];
    cr_assert_eq(wfexpr_cond_check("inputs.a == 1 && {{steps.s.output.x}} > "
                                   "2 || !item",
                                   collect, &s, err, sizeof err),
                 0, "%s", err);
    cr_assert_eq(s.n, 3);
    cr_assert_str_eq(s.text[0], "inputs.a");
    cr_assert_str_eq(s.text[1], "steps.s.output.x");
    cr_assert_eq(s.root[2], WFEXPR_ROOT_ITEM);
}
