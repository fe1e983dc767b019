/*
 * code_funcs.c - function definitions and their metrics (see code_funcs.h
 * for what is found and how it is measured).
 *
 * First the brackets are paired (a closer pairs with the nearest opener
 * of its kind within MAX_MISMATCH levels, openers skipped on the way stay
 * unpaired; a closer with none is ignored), so a body is the range from
 * a { to its partner.  C and JavaScript are read by looking back from
 * each {: a stack of the open braces says whether the brace sits where a
 * C function may be defined (file level or a struct/namespace body), and
 * each entry keeps the deepest level reached inside it, which gives a
 * function its nesting when its body closes.  Python is read from
 * each `def`: the body runs until a logical line indented no deeper than
 * the def.  Last, one walk over the tokens counts each decision for the
 * innermost function whose body holds it.
 */
#include "agents/code/code_funcs.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"

#define NONE SIZE_MAX
/* How far down the bracket stack a closer looks for its opener. */
#define MAX_MISMATCH 16
/* How far back the look-back helpers walk, in tokens. */
#define MAX_LOOKBACK 64

static const char ANON[] = "(anonymous)";

typedef struct finder {
    const code_lexed *lx;
    size_t *match; /* per token: the partner bracket, or NONE */
    code_func *f;
    size_t n, cap;
} finder;

typedef struct open_brace {
    size_t tok;
    size_t func;    /* the function whose body it opens, or NONE */
    size_t deepest; /* the deepest stack position reached inside */
    bool scope;     /* file-level-like: C functions may be defined inside */
} open_brace;

static bool is(const finder *F, size_t i, const char *s)
{
    return i != NONE && code_tok_is(F->lx, &F->lx->toks[i], s);
}

static bool is_kind(const finder *F, size_t i, int kind)
{
    return i != NONE && F->lx->toks[i].kind == kind;
}

static bool is_any(const finder *F, size_t i, const char *const *set)
{
    for (; *set; set++)
        if (is(F, i, *set)) return true;
    return false;
}

/* The token before / after i, preprocessor lines skipped; NONE at the
 * ends. */
static size_t prev(const finder *F, size_t i)
{
    while (i != NONE && i-- > 0)
        if (!(F->lx->toks[i].flags & CODE_TOK_PP)) return i;
    return NONE;
}

static size_t next(const finder *F, size_t i)
{
    while (++i < F->lx->ntoks)
        if (!(F->lx->toks[i].flags & CODE_TOK_PP)) return i;
    return NONE;
}

static int bracket(const finder *F, size_t i, bool *open)
{
    const code_tok *t = &F->lx->toks[i];
    if (t->kind != CODE_TOK_PUNCT || t->len != 1 || (t->flags & CODE_TOK_PP))
        return 0;
    char c = F->lx->src[t->off];
    *open = c == '(' || c == '[' || c == '{';
    if (c == '(' || c == ')') return '(';
    if (c == '[' || c == ']') return '[';
    if (c == '{' || c == '}') return '{';
    return 0;
}

static void match_brackets(finder *F)
{
    size_t n = F->lx->ntoks, sp = 0;
    size_t *stack = xmalloc((n + 1) * sizeof *stack);
    F->match = xmalloc((n + 1) * sizeof *F->match);
    for (size_t i = 0; i < n; i++) {
        bool open;
        int b = bracket(F, i, &open);
        F->match[i] = NONE;
        if (!b) continue;
        if (open) {
            stack[sp++] = i;
            continue;
        }
        for (size_t k = sp; k-- > 0 && sp - k <= MAX_MISMATCH;) {
            bool o;
            if (bracket(F, stack[k], &o) != b) continue;
            F->match[stack[k]] = i;
            F->match[i] = stack[k];
            sp = k;
            break;
        }
    }
    free(stack);
}

static size_t add(finder *F, size_t name, size_t name_end, size_t first)
{
    if (F->n == F->cap) {
        F->cap = F->cap ? F->cap * 2 : 16;
        F->f = xrealloc(F->f, F->cap * sizeof *F->f);
    }
    const code_lexed *lx = F->lx;
    code_func *f = &F->f[F->n];
    *f = (code_func){ .name = ANON, .name_len = sizeof ANON - 1,
                      .complexity = 1, .first = first };
    if (name != NONE) {
        const code_tok *a = &lx->toks[name], *b = &lx->toks[name_end];
        f->name = lx->src + a->off;
        f->name_len = b->off + b->len - a->off;
        f->line = a->line;
    } else {
        f->line = lx->toks[first].line;
    }
    size_t last = F->match ? F->match[first] : NONE;
    f->last = last == NONE ? lx->ntoks - 1 : last;
    f->end_line = lx->toks[f->last].end_line;
    return F->n++;
}

/* ---- C and C++ ----------------------------------------------------------- */

static const char *const c_not_names[] = {
    "if", "for", "while", "switch", "return", "sizeof", "catch", "do",
    "else", "case", "_Generic", "__attribute__", "alignof", "_Alignof",
    "decltype", "typeof", "__typeof__", "defined", "_Static_assert",
    "static_assert", "noexcept", "throw", NULL,
};

static const char *const c_qualifiers[] = {
    "const", "noexcept", "override", "final", "volatile", "mutable", "try",
    NULL,
};

static const char *const test_macros[] = {
    "Test", "ParameterizedTest", "TEST", "TEST_F", "TEST_P", NULL,
};

/* From the token before a {, back over C++ qualifiers, attributes and a
 * trailing return type: the ) closing the parameters, or NONE. */
static size_t c_params_end(const finder *F, size_t p)
{
    for (int k = 0; p != NONE && k < 8; k++) {
        if (is_any(F, p, c_qualifiers)) {
            p = prev(F, p);
        } else if (is(F, p, ")") && F->match[p] != NONE &&
                   is_any(F, prev(F, F->match[p]),
                          (const char *const[]){ "noexcept", "throw",
                                                 "__attribute__", NULL })) {
            p = prev(F, prev(F, F->match[p]));
        } else if (is_kind(F, p, CODE_TOK_WORD) &&
                   is(F, prev(F, p), "->")) {
            p = prev(F, prev(F, p));
        } else {
            break;
        }
    }
    return is(F, p, ")") ? p : NONE;
}

/* The name token of the function whose parameters close at p (a ")"),
 * past a constructor's initialiser list (p may then be the "}" of its
 * last `member{...}`); NONE when it is no function. */
static size_t c_name(const finder *F, size_t p)
{
    for (int k = 0; k < MAX_LOOKBACK && p != NONE; k++) {
        if (F->match[p] == NONE) return NONE;
        size_t q = prev(F, F->match[p]), b = prev(F, q);
        if (!is_kind(F, q, CODE_TOK_WORD)) return NONE;
        if (!is(F, b, ":") && !is(F, b, ",")) return is(F, p, ")") ? q : NONE;
        p = prev(F, b); /* a member's initialiser: step over it */
        if (is(F, b, ":")) p = c_params_end(F, p);
        else if (!is(F, p, ")") && !is(F, p, "}")) return NONE;
    }
    return NONE;
}

/* A C function whose body opens at brace b?  Adds it. */
static size_t c_function(finder *F, size_t b)
{
    size_t p = c_params_end(F, prev(F, b));
    if (p == NONE && is(F, prev(F, b), "}")) p = prev(F, b);
    size_t q = p == NONE ? NONE : c_name(F, p);
    if (q == NONE || is_any(F, q, c_not_names)) return NONE;
    size_t end = q, open = next(F, q);
    if (is_any(F, q, test_macros) && is(F, open, "(") &&
        F->match[open] != NONE &&
        F->lx->toks[F->match[open]].off - F->lx->toks[q].off < 100)
        end = F->match[open];
    for (int k = 0; k < MAX_LOOKBACK &&
                    (is(F, prev(F, q), "::") || is(F, prev(F, q), "~"));
         k++) {
        size_t r = prev(F, q);
        q = is(F, r, "~") || !is_kind(F, prev(F, r), CODE_TOK_WORD)
                ? r
                : prev(F, r);
        if (is(F, q, "::")) break;
    }
    return add(F, q, end, b);
}

/* Does the { at b open a struct, class, union, enum, namespace or extern
 * "C" body (where C functions may be defined)? */
static bool c_scope(const finder *F, size_t b)
{
    static const char *const openers[] = {
        "struct", "class", "union", "enum", "namespace", NULL,
    };
    size_t i = prev(F, b);
    for (int k = 0; i != NONE && k < MAX_LOOKBACK; k++, i = prev(F, i)) {
        if (is(F, i, ";") || is(F, i, "{") || is(F, i, "}") || is(F, i, "="))
            return false;
        if (is_any(F, i, openers)) return true;
        if (is_kind(F, i, CODE_TOK_STRING) && is(F, prev(F, i), "extern"))
            return true;
    }
    return false;
}

/* ---- JavaScript and TypeScript ------------------------------------------- */

static const char *const js_not_names[] = {
    "if", "for", "while", "switch", "catch", "with", "return", "typeof",
    "function", "do", "else", "await", "yield", "new", "in", "of", NULL,
};

/* The name an anonymous function starting at s is bound to: the word
 * before `=` or `:` before it (async skipped), or NONE. */
static size_t js_binding(const finder *F, size_t s)
{
    size_t b = prev(F, s);
    if (is(F, b, "async")) b = prev(F, b);
    if (!is(F, b, "=") && !is(F, b, ":")) return NONE;
    size_t w = prev(F, b);
    return is_kind(F, w, CODE_TOK_WORD) || is_kind(F, w, CODE_TOK_STRING)
               ? w
               : NONE;
}

/* TypeScript: from the last token of a return type back to the ) before
 * its `:`, or p itself when there is no return type. */
static size_t ts_skip_type(const finder *F, size_t p)
{
    if (F->lx->lang != CODE_LANG_TS || is(F, p, ")")) return p;
    size_t i = p;
    for (int k = 0; i != NONE && k < MAX_LOOKBACK; k++, i = prev(F, i)) {
        if (is(F, i, ":")) return is(F, prev(F, i), ")") ? prev(F, i) : p;
        if (is(F, i, ")") || is(F, i, "]")) {
            if (F->match[i] == NONE) return p;
            i = F->match[i];
        } else if (is(F, i, ";") || is(F, i, "{") || is(F, i, "}") ||
                   is(F, i, "=") || is(F, i, "(")) {
            return p;
        }
    }
    return p;
}

/* Back over TypeScript type parameters <...> ending at i. */
static size_t ts_skip_generics(const finder *F, size_t i)
{
    if (!is(F, i, ">")) return i;
    int depth = 0;
    for (int k = 0; i != NONE && k < MAX_LOOKBACK; k++, i = prev(F, i)) {
        if (is(F, i, ">")) depth++;
        else if (is(F, i, ">>")) depth += 2;
        else if (is(F, i, "<") && --depth == 0) return prev(F, i);
    }
    return NONE;
}

static size_t js_arrow(finder *F, size_t b, size_t arrow)
{
    size_t a = ts_skip_type(F, prev(F, arrow)), start = a;
    if (is(F, a, ")")) start = F->match[a];
    else if (!is_kind(F, a, CODE_TOK_WORD)) return NONE;
    if (start == NONE) return NONE;
    size_t name = js_binding(F, start);
    if (name != NONE) return add(F, name, name, b);
    size_t i = add(F, NONE, NONE, b);
    F->f[i].line = F->lx->toks[start].line;
    return i;
}

/* A JavaScript function whose body opens at brace b?  Adds it. */
static size_t js_function(finder *F, size_t b)
{
    size_t p = prev(F, b);
    if (is(F, p, "=>")) return js_arrow(F, b, p);
    p = ts_skip_type(F, p);
    if (!is(F, p, ")") || F->match[p] == NONE) return NONE;
    size_t q = ts_skip_generics(F, prev(F, F->match[p])), s = q;
    if (is(F, q, "*")) s = prev(F, q);
    if (is(F, s, "function")) {
        size_t name = js_binding(F, s);
        size_t i = add(F, name, name, b);
        if (name == NONE) F->f[i].line = F->lx->toks[s].line;
        return i;
    }
    if (!is_kind(F, q, CODE_TOK_WORD) || is_any(F, q, js_not_names))
        return NONE;
    return add(F, q, q, b);
}

/* ---- braces (C and JavaScript) ------------------------------------------- */

/* Pops the top of the brace stack: a function's nesting is how much
 * deeper than its body the braces inside went; the parent has been at
 * least as deep. */
static void pop(finder *F, open_brace *stack, size_t *sp)
{
    open_brace *o = &stack[--*sp];
    if (o->func != NONE) F->f[o->func].nesting = (uint32_t)(o->deepest - *sp);
    if (*sp && o->deepest > stack[*sp - 1].deepest)
        stack[*sp - 1].deepest = o->deepest;
}

static void brace_functions(finder *F)
{
    const code_lexed *lx = F->lx;
    bool c = code_lang_is_c(lx->lang);
    open_brace *stack = xmalloc((lx->ntoks + 1) * sizeof *stack);
    size_t sp = 0;
    for (size_t i = next(F, NONE); i != NONE; i = next(F, i)) {
        if (is(F, i, "}") && F->match[i] != NONE) {
            while (sp && stack[sp - 1].tok != F->match[i]) pop(F, stack, &sp);
            if (sp) pop(F, stack, &sp);
            continue;
        }
        if (!is(F, i, "{")) continue;
        bool scope = !sp || stack[sp - 1].scope;
        open_brace o = { .tok = i, .func = NONE, .deepest = sp };
        if (!c) o.func = js_function(F, i);
        else if (scope && (o.func = c_function(F, i)) == NONE)
            o.scope = c_scope(F, i);
        stack[sp++] = o;
    }
    while (sp) pop(F, stack, &sp);
    free(stack);
}

/* ---- Python -------------------------------------------------------------- */

/* The nesting of Python function f: indentation levels of its body's
 * logical lines, the first one being level 0. */
static uint32_t py_nesting(const finder *F, const code_func *f)
{
    uint32_t stack[64], sp = 0, deepest = 0;
    for (size_t i = f->first + 1; i <= f->last; i++) {
        const code_tok *t = &F->lx->toks[i];
        if (!(t->flags & CODE_TOK_BOL)) continue;
        if (!sp) stack[sp++] = t->col;
        while (sp > 1 && t->col < stack[sp - 1]) sp--;
        if (t->col > stack[sp - 1] && sp < 64) stack[sp++] = t->col;
        if (sp - 1 > deepest) deepest = sp - 1;
    }
    return deepest;
}

/* The `:` ending the def header whose parameters open at p. */
static size_t py_colon(const finder *F, size_t p)
{
    size_t i = F->match[p];
    for (int k = 0; i != NONE && k < MAX_LOOKBACK; k++) {
        i = next(F, i);
        if (i == NONE || (F->lx->toks[i].flags & CODE_TOK_BOL)) return NONE;
        if (is(F, i, ":")) return i;
        if (F->match[i] != NONE && F->match[i] > i) i = F->match[i];
    }
    return NONE;
}

static void py_def(finder *F, size_t d)
{
    const code_tok *toks = F->lx->toks;
    size_t head = is(F, prev(F, d), "async") ? prev(F, d) : d;
    if (!(toks[head].flags & CODE_TOK_BOL)) return;
    size_t name = next(F, d), p = next(F, name);
    if (!is_kind(F, name, CODE_TOK_WORD) || !is(F, p, "(") ||
        F->match[p] == NONE)
        return;
    size_t colon = py_colon(F, p);
    if (colon == NONE) return;
    size_t last = colon, i = colon + 1;
    bool one_line = i < F->lx->ntoks && toks[i].line == toks[colon].line;
    for (; i < F->lx->ntoks; i++) {
        bool bol = toks[i].flags & CODE_TOK_BOL;
        if (bol && (one_line || toks[i].col <= toks[head].col)) break;
        last = i;
    }
    size_t k = add(F, name, name, colon);
    code_func *f = &F->f[k];
    f->line = toks[head].line;
    f->last = last;
    f->end_line = toks[last].end_line;
    f->nesting = py_nesting(F, f);
}

static void py_functions(finder *F)
{
    for (size_t i = 0; i < F->lx->ntoks; i++)
        if (is(F, i, "def")) py_def(F, i);
}

/* ---- decisions ----------------------------------------------------------- */

/* The while closing a do { ... } while? */
static bool do_while(const finder *F, size_t w)
{
    size_t c = prev(F, w);
    return is(F, c, "}") && F->match[c] != NONE &&
           is(F, prev(F, F->match[c]), "do");
}

/* A JavaScript ? that is a conditional (not x?: T, (x?) or x?, ...). */
static bool js_conditional(const finder *F, size_t i)
{
    size_t n = next(F, i);
    return !(is(F, n, ":") || is(F, n, ")") || is(F, n, ",") || is(F, n, "="));
}

/* A Python `case` that opens a match arm other than `case _`. */
static bool py_case(const finder *F, size_t i)
{
    const code_tok *t = &F->lx->toks[i];
    size_t n = next(F, i);
    if (!(t->flags & CODE_TOK_BOL) || n == NONE || is(F, n, "_")) return false;
    int kind = F->lx->toks[n].kind;
    return kind != CODE_TOK_PUNCT || is(F, n, "(") || is(F, n, "[") ||
           is(F, n, "{") || is(F, n, "-");
}

static bool decision(const finder *F, size_t i)
{
    static const char *const c_words[] = { "if", "for", "do", "case",
                                           "catch", NULL };
    static const char *const py_words[] = { "if", "elif", "for", "while",
                                            "except", "and", "or", NULL };
    const code_tok *t = &F->lx->toks[i];
    bool py = F->lx->lang == CODE_LANG_PYTHON;
    if (t->kind == CODE_TOK_PUNCT) {
        if (py) return false;
        if (is(F, i, "&&") || is(F, i, "||")) return true;
        return is(F, i, "?") && (code_lang_is_c(F->lx->lang) ||
                                 js_conditional(F, i));
    }
    if (t->kind != CODE_TOK_WORD) return false;
    size_t p = prev(F, i);
    if (is(F, p, ".") || is(F, p, "?.") || is(F, p, "->")) return false;
    if (py)
        return is_any(F, i, py_words) || (is(F, i, "case") && py_case(F, i));
    return is_any(F, i, c_words) || (is(F, i, "while") && !do_while(F, i));
}

static int by_first(const void *a, const void *b)
{
    const code_func *x = a, *y = b;
    return (x->first > y->first) - (x->first < y->first);
}

static void count_decisions(finder *F)
{
    if (!F->n) return;
    size_t *active = xmalloc(F->n * sizeof *active), sp = 0, k = 0;
    qsort(F->f, F->n, sizeof *F->f, by_first);
    for (size_t i = next(F, NONE); i != NONE; i = next(F, i)) {
        while (sp && F->f[active[sp - 1]].last < i) sp--;
        while (k < F->n && F->f[k].first <= i) {
            if (F->f[k].last >= i) active[sp++] = k;
            k++;
        }
        if (sp && decision(F, i)) F->f[active[sp - 1]].complexity++;
    }
    free(active);
}

void code_funcs_find(const code_lexed *lx, code_func **out, size_t *n)
{
    finder F = { .lx = lx };
    *out = NULL;
    *n = 0;
    if (!lx->ntoks) return;
    match_brackets(&F);
    if (lx->lang == CODE_LANG_PYTHON) py_functions(&F);
    else brace_functions(&F);
    count_decisions(&F);
    free(F.match);
    *out = F.f;
    *n = F.n;
}
