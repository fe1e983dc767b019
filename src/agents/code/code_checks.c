/*
 * code_checks.c - Flowstate's own checks (see code_checks.h for the
 * rules).
 *
 * Three walks: the comments for tags opening a line, the functions
 * against the size limits, and the tokens once, each word or operator
 * looked up in the table of risky calls and operators for its language
 * (Python's default arguments need a small scan of each def's
 * parameters).
 */
#include "agents/code/code_checks.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"

/* Longest TODO text quoted in a finding, in bytes. */
#define MAX_TODO_TEXT 120

typedef enum { LANGS_C, LANGS_PY, LANGS_JS } langs;

/* A word followed by ( (call), or a whole operator token. */
static const struct rule {
    langs langs;
    bool call;
    const char *text, *severity, *rule, *message;
} rules[] = {
    { LANGS_C, true, "gets", "error", "unsafe-call",
      "gets() cannot limit what it reads (removed in C11): use fgets()" },
    { LANGS_C, true, "strcpy", "warning", "unsafe-call",
      "strcpy() does not check the destination size: use a length-checked "
      "copy (snprintf, memcpy with a known length)" },
    { LANGS_C, true, "strcat", "warning", "unsafe-call",
      "strcat() does not check the destination size: track the length and "
      "use snprintf or memcpy" },
    { LANGS_C, true, "sprintf", "warning", "unsafe-call",
      "sprintf() does not check the destination size: use snprintf()" },
    { LANGS_C, true, "vsprintf", "warning", "unsafe-call",
      "vsprintf() does not check the destination size: use vsnprintf()" },
    { LANGS_JS, true, "eval", "warning", "eval",
      "eval() runs arbitrary code: parse the data (JSON.parse) or look the "
      "name up instead" },
    { LANGS_JS, false, "==", "info", "eqeqeq",
      "== converts types before comparing: use ===" },
    { LANGS_JS, false, "!=", "info", "eqeqeq",
      "!= converts types before comparing: use !==" },
};

static langs langs_of(code_lang l)
{
    return code_lang_is_c(l) ? LANGS_C
           : l == CODE_LANG_PYTHON ? LANGS_PY
                                   : LANGS_JS;
}

/* The length of a valid UTF-8 sequence at s[0..n), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    if (c && c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) len = 3;
    else if (c >= 0xF0 && c <= 0xF4) len = 4;
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && s[1] < 0xA0) return 0; /* overlong */
    if (c == 0xED && s[1] > 0x9F) return 0; /* surrogate */
    if (c == 0xF0 && s[1] < 0x90) return 0; /* overlong */
    if (c == 0xF4 && s[1] > 0x8F) return 0; /* past U+10FFFF */
    return len;
}

json_t *code_check_string(const char *s, size_t n)
{
    char *buf = xmalloc(n + 1);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len((const unsigned char *)s + i, n - i);
        if (!k) {
            buf[i++] = '?';
            continue;
        }
        memcpy(buf + i, s + i, k);
        i += k;
    }
    json_t *j = json_stringn(buf, n);
    free(buf);
    return j;
}

static json_t *finding(json_t *findings, uint32_t line, const char *severity,
                       const char *rule, json_t *message)
{
    json_t *f = json_pack("{s:I,s:s,s:o,s:s}", "line", (json_int_t)line,
                          "severity", severity, "message", message, "rule",
                          rule);
    json_array_append_new(findings, f);
    return f;
}

/* ---- tags ---------------------------------------------------------------- */

/* Comment markers and decoration before a tag on its line. */
static bool decoration(char c)
{
    return c == ' ' || c == '\t' || c == '/' || c == '*' || c == '#' ||
           c == '!' || c == '-' || c == '\'' || c == '"';
}

/* The length of the tag at s[i], or 0: TODO, FIXME or XXX followed by the
 * end, a blank, ':', '(' or '!' (not "TODOs" or "TODO-like"). */
static size_t tag_at(const char *s, size_t i, size_t n)
{
    static const char *const tags[] = { "TODO", "FIXME", "XXX" };
    for (size_t k = 0; k < 3; k++) {
        size_t m = strlen(tags[k]);
        if (i + m > n || memcmp(s + i, tags[k], m)) continue;
        char c = i + m < n ? s[i + m] : ' ';
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ':' ||
                       c == '(' || c == '!'
                   ? m
                   : 0;
    }
    return 0;
}

/* The finding for a tag at s[i] on line: the rest of its line without
 * the comment's closing markers. */
static void todo(json_t *findings, const char *s, size_t i, size_t n,
                 uint32_t line)
{
    size_t end = i;
    while (end < n && s[end] != '\n' && s[end] != '\r') end++;
    while (end > i && (decoration(s[end - 1]) && s[end - 1] != '!')) end--;
    if (end - i > MAX_TODO_TEXT) {
        end = i + MAX_TODO_TEXT;
        while (end > i && ((unsigned char)s[end] & 0xC0) == 0x80) end--;
    }
    finding(findings, line, "info", "todo", code_check_string(s + i, end - i));
}

/* Tags that open a line of a comment (after its markers). */
static size_t todos(const code_lexed *lx, json_t *findings)
{
    size_t count = 0;
    for (size_t c = 0; c < lx->ncomments; c++) {
        const char *s = lx->src + lx->comments[c].off;
        size_t n = lx->comments[c].len, i = 0;
        uint32_t line = lx->comments[c].line;
        while (i < n) {
            while (i < n && decoration(s[i])) i++;
            if (tag_at(s, i, n)) {
                todo(findings, s, i, n, line);
                count++;
            }
            while (i < n && s[i] != '\n') i++;
            i++;
            line++;
        }
    }
    return count;
}

/* ---- functions ----------------------------------------------------------- */

/* A finding on f: "<name> <what> (over <max>)". */
static void over(json_t *findings, const code_func *f, const char *rule,
                 const char *what, int max)
{
    int w = f->name_len > 200 ? 200 : (int)f->name_len;
    char msg[320];
    snprintf(msg, sizeof msg, "%.*s %s (over %d)", w, f->name, what, max);
    json_t *j = finding(findings, f->line, "warning", rule,
                        code_check_string(msg, strlen(msg)));
    json_object_set_new(j, "function", code_check_string(f->name, f->name_len));
}

static void function_limits(const code_func *f, json_t *findings)
{
    char what[64];
    uint32_t length = f->end_line - f->line + 1;
    if (length > CODE_MAX_FUNC_LINES) {
        snprintf(what, sizeof what, "has %u lines", length);
        over(findings, f, "long-function", what, CODE_MAX_FUNC_LINES);
    }
    if (f->complexity > CODE_MAX_COMPLEXITY) {
        snprintf(what, sizeof what, "has cyclomatic complexity %u",
                 f->complexity);
        over(findings, f, "complexity", what, CODE_MAX_COMPLEXITY);
    }
    if (f->nesting > CODE_MAX_NESTING) {
        snprintf(what, sizeof what, "nests blocks %u deep", f->nesting);
        over(findings, f, "nesting", what, CODE_MAX_NESTING);
    }
}

/* ---- tokens -------------------------------------------------------------- */

static bool member(const code_lexed *lx, size_t i)
{
    if (!i) return false;
    const code_tok *p = &lx->toks[i - 1];
    return code_tok_is(lx, p, ".") || code_tok_is(lx, p, "->") ||
           code_tok_is(lx, p, "?.");
}

static void token_rules(const code_lexed *lx, size_t i, json_t *findings)
{
    const code_tok *t = &lx->toks[i];
    langs l = langs_of(lx->lang);
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
        if (rules[r].langs != l || !code_tok_is(lx, t, rules[r].text))
            continue;
        if (rules[r].call && (i + 1 >= lx->ntoks || member(lx, i) ||
                              !code_tok_is(lx, &lx->toks[i + 1], "(")))
            continue;
        finding(findings, t->line, rules[r].severity, rules[r].rule,
                json_string(rules[r].message));
    }
}

static bool opener(const code_lexed *lx, const code_tok *t)
{
    return code_tok_is(lx, t, "(") || code_tok_is(lx, t, "[") ||
           code_tok_is(lx, t, "{");
}

static bool closer(const code_lexed *lx, const code_tok *t)
{
    return code_tok_is(lx, t, ")") || code_tok_is(lx, t, "]") ||
           code_tok_is(lx, t, "}");
}

/* Python: a default argument that is a new list, dict or set, in the
 * parameters of the def at d. */
static void mutable_defaults(const code_lexed *lx, size_t d, json_t *findings)
{
    static const char *const makers[] = { "list", "dict", "set" };
    const code_tok *t = lx->toks;
    size_t i = d + 2, n = lx->ntoks;
    if (i >= n || !code_tok_is(lx, &t[i], "(")) return;
    for (int depth = 0; i < n; i++) {
        if (opener(lx, &t[i])) depth++;
        else if (closer(lx, &t[i]) && --depth == 0) return;
        if (depth != 1 || !code_tok_is(lx, &t[i], "=") || i + 1 >= n)
            continue;
        bool bad = code_tok_is(lx, &t[i + 1], "[") ||
                   code_tok_is(lx, &t[i + 1], "{");
        for (size_t k = 0; k < 3 && !bad && i + 2 < n; k++)
            bad = code_tok_is(lx, &t[i + 1], makers[k]) &&
                  code_tok_is(lx, &t[i + 2], "(");
        if (bad)
            finding(findings, t[i].line, "warning", "mutable-default",
                    json_string("a mutable default argument is shared by "
                                "every call: default to None and create "
                                "it inside"));
    }
}

static void python_rules(const code_lexed *lx, size_t i, json_t *findings)
{
    const code_tok *t = &lx->toks[i];
    if (code_tok_is(lx, t, "def")) {
        mutable_defaults(lx, i, findings);
    } else if (code_tok_is(lx, t, "except") && i + 1 < lx->ntoks &&
               code_tok_is(lx, &lx->toks[i + 1], ":")) {
        finding(findings, t->line, "warning", "bare-except",
                json_string("bare except: also catches KeyboardInterrupt "
                            "and SystemExit; name the exceptions"));
    }
}

size_t code_check_run(const code_lexed *lx, const code_func *f, size_t nf,
                      json_t *findings)
{
    size_t count = todos(lx, findings);
    for (size_t i = 0; i < nf; i++) function_limits(&f[i], findings);
    for (size_t i = 0; i < lx->ntoks; i++) {
        const code_tok *t = &lx->toks[i];
        if (t->flags & CODE_TOK_PP || t->kind == CODE_TOK_STRING) continue;
        if (lx->lang == CODE_LANG_PYTHON) python_rules(lx, i, findings);
        else token_rules(lx, i, findings);
    }
    return count;
}
