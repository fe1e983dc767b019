/*
 * code_lexer.c - the tokenizer-lite behind the code analyser (see
 * code_lexer.h for what it recognises).
 *
 * One pass over the bytes with a little state: the current line and where
 * it starts, whether the next token begins a line, whether we are inside a
 * C preprocessor directive, Python's bracket depth (newlines inside
 * brackets do not end a logical line) and, for JavaScript, a stack of open
 * template-string ${...} expressions with the brace depth inside each.
 * Every newline is counted by newline(), continuation() or span(), so a
 * token knows the lines it starts and ends on.
 *
 * Two passes after it: Python strings that stand alone as a statement
 * move from the tokens to the comments (docstrings), then the per-line
 * flags are set from the tokens and the comments.
 */
#include "agents/code/code_lexer.h"

#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/xmem.h"

/* Deeper template nesting than this is read as plain template text. */
#define MAX_TMPL 64
/* A JavaScript regular expression literal is at most this long (bounds
 * the work of a / that starts none). */
#define MAX_REGEX 512

typedef struct lexer {
    code_lexed *lx;
    const char *s;
    size_t n, pos;
    uint32_t line;
    size_t line_start;
    size_t tcap, ccap;
    bool bol;   /* the next token starts a line */
    bool pp;    /* inside a preprocessor directive */
    int depth;  /* Python bracket depth */
    uint32_t tmpl[MAX_TMPL];
    size_t ntmpl;
} lexer;

static const struct {
    const char *ext;
    code_lang lang;
} exts[] = {
    { "c", CODE_LANG_C },        { "h", CODE_LANG_C },
    { "cc", CODE_LANG_CPP },     { "cpp", CODE_LANG_CPP },
    { "cxx", CODE_LANG_CPP },    { "hpp", CODE_LANG_CPP },
    { "hh", CODE_LANG_CPP },     { "py", CODE_LANG_PYTHON },
    { "js", CODE_LANG_JS },      { "mjs", CODE_LANG_JS },
    { "cjs", CODE_LANG_JS },     { "jsx", CODE_LANG_JS },
    { "ts", CODE_LANG_TS },      { "tsx", CODE_LANG_TS },
    { "mts", CODE_LANG_TS },     { "cts", CODE_LANG_TS },
};

code_lang code_lang_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base) return CODE_LANG_UNKNOWN;
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (!strcmp(dot + 1, exts[i].ext)) return exts[i].lang;
    return CODE_LANG_UNKNOWN;
}

const char *code_lang_name(code_lang lang)
{
    static const char *const names[] = {
        [CODE_LANG_C] = "c",          [CODE_LANG_CPP] = "cpp",
        [CODE_LANG_PYTHON] = "python", [CODE_LANG_JS] = "javascript",
        [CODE_LANG_TS] = "typescript",
    };
    if (lang <= CODE_LANG_UNKNOWN || lang > CODE_LANG_TS) return NULL;
    return names[lang];
}

bool code_tok_is(const code_lexed *lx, const code_tok *t, const char *s)
{
    const char *p = lx->src + t->off;
    if (!t->len || *p != *s) return false; /* most calls end here */
    size_t n = strlen(s);
    return t->len == n && !memcmp(p, s, n);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_word_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           c == '$' || (unsigned char)c >= 0x80;
}

static bool is_word_char(char c)
{
    return is_word_start(c) || (c >= '0' && c <= '9');
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static char at(const lexer *L, size_t i) { return i < L->n ? L->s[i] : '\0'; }

static void newline(lexer *L)
{
    L->pos++;
    L->line++;
    L->line_start = L->pos;
    L->pp = false;
    if (L->lx->lang != CODE_LANG_PYTHON || L->depth == 0) L->bol = true;
}

/* Counts the newlines of s[from..to) into the line number. */
static void span(lexer *L, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        if (L->s[i] != '\n') continue;
        L->line++;
        L->line_start = i + 1;
    }
}

/* The visual column of offset off on the current line (tabs to 8). */
static uint32_t column(const lexer *L, size_t off)
{
    uint32_t col = 0;
    for (size_t i = L->line_start; i < off; i++)
        col = L->s[i] == '\t' ? (col / 8 + 1) * 8 : col + 1;
    return col;
}

/* Emits s[start..end) as a token and moves past it. */
static void emit(lexer *L, int kind, size_t start, size_t end)
{
    code_lexed *lx = L->lx;
    if (lx->ntoks == L->tcap) {
        L->tcap = L->tcap ? L->tcap * 2 : 256;
        lx->toks = xrealloc(lx->toks, L->tcap * sizeof *lx->toks);
    }
    code_tok *t = &lx->toks[lx->ntoks++];
    *t = (code_tok){ .off = (uint32_t)start, .len = (uint32_t)(end - start),
                     .line = L->line, .kind = (uint8_t)kind };
    if (L->bol) {
        t->flags |= CODE_TOK_BOL;
        t->col = column(L, start);
        L->bol = false;
    }
    if (L->pp) t->flags |= CODE_TOK_PP;
    span(L, start, end);
    t->end_line = L->line;
    L->pos = end;
}

static void add_comment(lexer *L, size_t start, size_t end)
{
    code_lexed *lx = L->lx;
    if (lx->ncomments == L->ccap) {
        L->ccap = L->ccap ? L->ccap * 2 : 64;
        lx->comments = xrealloc(lx->comments, L->ccap * sizeof *lx->comments);
    }
    lx->comments[lx->ncomments++] = (code_span){
        .off = (uint32_t)start, .len = (uint32_t)(end - start),
        .line = L->line
    };
    uint32_t before = L->line;
    span(L, start, end);
    if (L->line != before && !L->pp) L->bol = true;
    L->pos = end;
}

/* A comment at pos?  Consumes it. */
static bool comment(lexer *L)
{
    char c = L->s[L->pos], d = at(L, L->pos + 1);
    size_t end;
    if (L->lx->lang == CODE_LANG_PYTHON ? c == '#' : c == '/' && d == '/') {
        const char *nl = memchr(L->s + L->pos, '\n', L->n - L->pos);
        end = nl ? (size_t)(nl - L->s) : L->n;
    } else if (L->lx->lang != CODE_LANG_PYTHON && c == '/' && d == '*') {
        end = L->pos + 2;
        while (end < L->n && !(L->s[end] == '*' && at(L, end + 1) == '/'))
            end++;
        end = end < L->n ? end + 2 : L->n;
    } else {
        return false;
    }
    add_comment(L, L->pos, end);
    return true;
}

/* The end of a string quoted by q starting at i (just past the opening
 * quote): past the closing quote, or at the newline (or end) when
 * unclosed and one-line. */
static size_t quoted_end(const lexer *L, size_t i, char q, bool multiline)
{
    while (i < L->n) {
        char c = L->s[i];
        if (c == '\\') i += 2;
        else if (c == q) return i + 1;
        else if (c == '\n' && !multiline) return i;
        else i++;
    }
    return L->n;
}

/* Python '''...''' or """...""" from i (past the opening quotes). */
static size_t triple_end(const lexer *L, size_t i, char q)
{
    while (i < L->n) {
        if (L->s[i] == '\\') i += 2;
        else if (L->s[i] == q && at(L, i + 1) == q && at(L, i + 2) == q)
            return i + 3;
        else i++;
    }
    return L->n;
}

/* C++ R"delim( ... )delim" from q (the opening quote). */
static size_t raw_end(const lexer *L, size_t q)
{
    size_t open = q + 1;
    while (open < L->n && open - q <= 17 && L->s[open] != '(' &&
           L->s[open] != '\n')
        open++;
    if (open >= L->n || L->s[open] != '(') return quoted_end(L, q + 1, '"', 0);
    size_t dlen = open - q - 1;
    for (size_t i = open + 1; i < L->n; i++) {
        if (L->s[i] == ')' && i + 1 + dlen < L->n &&
            !memcmp(L->s + i + 1, L->s + q + 1, dlen) &&
            L->s[i + 1 + dlen] == '"')
            return i + dlen + 2;
    }
    return L->n;
}

/* A string whose opening quote is at q, its token starting at start
 * (before any prefix). */
static void string_at(lexer *L, size_t start, size_t q, bool raw)
{
    char c = L->s[q];
    size_t end;
    if (raw) end = raw_end(L, q);
    else if (L->lx->lang == CODE_LANG_PYTHON && at(L, q + 1) == c &&
             at(L, q + 2) == c)
        end = triple_end(L, q + 3, c);
    else end = quoted_end(L, q + 1, c, false);
    emit(L, CODE_TOK_STRING, start, end);
}

/* A JavaScript template string from start (a backquote, or the } closing
 * a ${...}): up to and with the closing backquote, or with the ${ that
 * opens an expression (pushed on the template stack). */
static void template_at(lexer *L, size_t start)
{
    size_t i = start + 1;
    while (i < L->n) {
        char c = L->s[i];
        if (c == '\\') {
            i += 2;
        } else if (c == '`') {
            emit(L, CODE_TOK_STRING, start, i + 1);
            return;
        } else if (c == '$' && at(L, i + 1) == '{' && L->ntmpl < MAX_TMPL) {
            L->tmpl[L->ntmpl++] = 0;
            emit(L, CODE_TOK_STRING, start, i + 2);
            return;
        } else {
            i++;
        }
    }
    emit(L, CODE_TOK_STRING, start, L->n);
}

/* Whether a JavaScript / here starts a regular expression. */
static bool regex_allowed(const lexer *L)
{
    static const char *const before[] = {
        "return", "typeof", "instanceof", "in",    "of",    "new",  "delete",
        "void",   "throw",  "case",       "do",    "else",  "yield", "await",
    };
    const code_lexed *lx = L->lx;
    if (!lx->ntoks) return true;
    const code_tok *t = &lx->toks[lx->ntoks - 1];
    if (t->kind == CODE_TOK_PUNCT)
        return !(code_tok_is(lx, t, ")") || code_tok_is(lx, t, "]") ||
                 code_tok_is(lx, t, "}") || code_tok_is(lx, t, "++") ||
                 code_tok_is(lx, t, "--"));
    if (t->kind != CODE_TOK_WORD) return false;
    for (size_t i = 0; i < sizeof before / sizeof before[0]; i++)
        if (code_tok_is(lx, t, before[i])) return true;
    return false;
}

/* A regular expression literal at pos, if it is one on this line. */
static bool regex(lexer *L)
{
    bool cls = false;
    size_t i = L->pos + 1, end = L->n - L->pos > MAX_REGEX ? L->pos + MAX_REGEX
                                                            : L->n;
    for (; i < end && L->s[i] != '\n'; i++) {
        char c = L->s[i];
        if (c == '\\') i++;
        else if (c == '[') cls = true;
        else if (c == ']') cls = false;
        else if (c == '/' && !cls) break;
    }
    if (i >= end || L->s[i] != '/') return false;
    for (i++; i < L->n && is_word_char(L->s[i]); i++) {}
    emit(L, CODE_TOK_STRING, L->pos, i);
    return true;
}

/* A string starting at pos (no prefix)?  Consumes it. */
static bool string(lexer *L)
{
    char c = L->s[L->pos];
    if (c == '"' || c == '\'') {
        string_at(L, L->pos, L->pos, false);
        return true;
    }
    if (!code_lang_is_js(L->lx->lang)) return false;
    if (c == '`') {
        template_at(L, L->pos);
        return true;
    }
    if (L->ntmpl && c == '}' && L->tmpl[L->ntmpl - 1] == 0) {
        L->ntmpl--;
        template_at(L, L->pos);
        return true;
    }
    return c == '/' && regex_allowed(L) && regex(L);
}

/* Is word w[0..n) a string prefix in this language?  OUT: *raw. */
static bool string_prefix(const lexer *L, const char *w, size_t n, bool *raw)
{
    static const char *const c_pre[] = { "L", "u", "U", "u8" };
    static const char *const c_raw[] = { "R", "LR", "uR", "UR", "u8R" };
    *raw = false;
    if (L->lx->lang == CODE_LANG_PYTHON) {
        if (n > 2) return false;
        for (size_t i = 0; i < n; i++)
            if (!strchr("rRbBuUfF", w[i])) return false;
        return true;
    }
    if (!code_lang_is_c(L->lx->lang)) return false;
    for (size_t i = 0; i < sizeof c_raw / sizeof c_raw[0]; i++)
        if (strlen(c_raw[i]) == n && !memcmp(w, c_raw[i], n))
            return *raw = true;
    for (size_t i = 0; i < sizeof c_pre / sizeof c_pre[0]; i++)
        if (strlen(c_pre[i]) == n && !memcmp(w, c_pre[i], n)) return true;
    return false;
}

static void word(lexer *L)
{
    size_t start = L->pos, i = start + 1;
    while (i < L->n && is_word_char(L->s[i])) i++;
    char q = at(L, i);
    bool raw;
    if ((q == '"' || q == '\'') &&
        string_prefix(L, L->s + start, i - start, &raw) && (!raw || q == '"'))
        string_at(L, start, i, raw);
    else emit(L, CODE_TOK_WORD, start, i);
}

static void number(lexer *L)
{
    size_t i = L->pos + 1;
    while (i < L->n) {
        char c = L->s[i], p = L->s[i - 1];
        if (is_word_char(c) || c == '.') i++;
        else if ((c == '+' || c == '-') &&
                 (p == 'e' || p == 'E' || p == 'p' || p == 'P'))
            i++;
        else if (c == '\'' && code_lang_is_c(L->lx->lang) &&
                 is_word_char(at(L, i + 1)))
            i++;
        else break;
    }
    emit(L, CODE_TOK_NUMBER, L->pos, i);
}

/* The characters that can follow the first one of an operator. */
static const bool op_tail[256] = {
    ['='] = 1, ['&'] = 1, ['|'] = 1, [':'] = 1, ['>'] = 1,
    ['?'] = 1, ['.'] = 1, ['<'] = 1, ['+'] = 1, ['-'] = 1,
    ['*'] = 1, ['/'] = 1, ['%'] = 1, ['^'] = 1, ['#'] = 1,
};

/* The length of the operator at p[0..left). */
static size_t op_len(const char *p, size_t left)
{
    static const struct {
        char text[4];
        size_t len;
    } multi[] = {
        { "===", 3 }, { "!==", 3 }, { "...", 3 }, { "?\?=", 3 }, { "&&=", 3 },
        { "||=", 3 }, { "**=", 3 }, { ">>>", 3 }, { "<<=", 3 }, { ">>=", 3 },
        { "&&", 2 },  { "||", 2 },  { "::", 2 },  { "->", 2 },  { "=>", 2 },
        { "==", 2 },  { "!=", 2 },  { "?.", 2 },  { "??", 2 },  { "<=", 2 },
        { ">=", 2 },  { "<<", 2 },  { ">>", 2 },  { "++", 2 },  { "--", 2 },
        { "+=", 2 },  { "-=", 2 },  { "*=", 2 },  { "/=", 2 },  { "%=", 2 },
        { "&=", 2 },  { "|=", 2 },  { "^=", 2 },  { "**", 2 },  { "//", 2 },
        { ":=", 2 },  { "##", 2 },
    };
    if (left < 2 || !op_tail[(unsigned char)p[1]]) return 1;
    for (size_t i = 0; i < sizeof multi / sizeof multi[0]; i++) {
        size_t m = multi[i].len;
        if (m > left || memcmp(p, multi[i].text, m)) continue;
        /* a?.5:1 is a conditional */
        return m == 2 && p[0] == '?' && p[1] == '.' && left > 2 &&
                       is_digit(p[2])
                   ? 1
                   : m;
    }
    return 1;
}

/* What a one-character punctuator changes: Python's bracket depth, the
 * start of a directive, the braces inside a template's ${...}. */
static void track(lexer *L, char c)
{
    bool open = c == '(' || c == '[' || c == '{';
    bool close = c == ')' || c == ']' || c == '}';
    if (L->lx->lang == CODE_LANG_PYTHON && open) L->depth++;
    if (L->lx->lang == CODE_LANG_PYTHON && close && L->depth > 0) L->depth--;
    if (c == '#' && L->bol && code_lang_is_c(L->lx->lang)) L->pp = true;
    if (L->ntmpl && c == '{') L->tmpl[L->ntmpl - 1]++;
    if (L->ntmpl && c == '}') L->tmpl[L->ntmpl - 1]--;
}

static void punct(lexer *L)
{
    size_t len = op_len(L->s + L->pos, L->n - L->pos);
    if (len == 1) track(L, L->s[L->pos]);
    emit(L, CODE_TOK_PUNCT, L->pos, L->pos + len);
}

/* A backslash before a newline: the line goes on. */
static bool continuation(lexer *L)
{
    size_t i = L->pos + 1;
    if (at(L, i) == '\r') i++;
    if (at(L, i) != '\n') return false;
    L->pos = i + 1;
    L->line++;
    L->line_start = L->pos;
    return true;
}

static void scan(lexer *L)
{
    while (L->pos < L->n) {
        char c = L->s[L->pos];
        if (c == '\n') newline(L);
        else if (is_space(c)) L->pos++;
        else if (c == '\\' && continuation(L)) continue;
        else if (comment(L) || string(L)) continue;
        else if (is_word_start(c)) word(L);
        else if (is_digit(c) || (c == '.' && is_digit(at(L, L->pos + 1))))
            number(L);
        else punct(L);
    }
}

static int by_offset(const void *a, const void *b)
{
    const code_span *x = a, *y = b;
    return (x->off > y->off) - (x->off < y->off);
}

/* Python strings standing alone as a statement become comments. */
static void docstrings(lexer *L)
{
    code_lexed *lx = L->lx;
    size_t kept = 0, moved = 0;
    for (size_t i = 0; i < lx->ntoks; i++) {
        code_tok t = lx->toks[i];
        bool alone = t.kind == CODE_TOK_STRING && (t.flags & CODE_TOK_BOL) &&
                     (i + 1 == lx->ntoks ||
                      (lx->toks[i + 1].flags & CODE_TOK_BOL));
        if (!alone) {
            lx->toks[kept++] = t;
            continue;
        }
        if (lx->ncomments == L->ccap) {
            L->ccap = L->ccap ? L->ccap * 2 : 64;
            lx->comments =
                xrealloc(lx->comments, L->ccap * sizeof *lx->comments);
        }
        lx->comments[lx->ncomments++] =
            (code_span){ .off = t.off, .len = t.len, .line = t.line };
        moved++;
    }
    lx->ntoks = kept;
    if (moved) qsort(lx->comments, lx->ncomments, sizeof *lx->comments,
                     by_offset);
}

/* Sets flag on each line of src[off..off+len) (from line) that holds a
 * non-blank character. */
static void mark(code_lexed *lx, uint32_t off, uint32_t len, uint32_t line,
                 uint8_t flag)
{
    bool seen = false;
    for (const char *p = lx->src + off, *end = p + len; p < end; p++) {
        if (*p == '\n') {
            if (seen) lx->lines[line] |= flag;
            line++;
            seen = false;
        } else if (!is_space(*p)) {
            seen = true;
        }
    }
    if (seen) lx->lines[line] |= flag;
}

static void mark_lines(code_lexed *lx, uint32_t last_line)
{
    lx->nlines = lx->len && lx->src[lx->len - 1] != '\n' ? last_line
                                                         : last_line - 1;
    lx->lines = xcalloc(last_line + 2, 1);
    for (size_t i = 0; i < lx->ntoks; i++) {
        const code_tok *t = &lx->toks[i];
        if (t->line == t->end_line) lx->lines[t->line] |= CODE_LINE_CODE;
        else mark(lx, t->off, t->len, t->line, CODE_LINE_CODE);
    }
    for (size_t i = 0; i < lx->ncomments; i++) {
        const code_span *c = &lx->comments[i];
        mark(lx, c->off, c->len, c->line, CODE_LINE_COMMENT);
    }
}

int code_lex(code_lang lang, const char *src, size_t len, code_lexed *out)
{
    memset(out, 0, sizeof *out);
    if (!code_lang_name(lang)) return FS_EINVAL;
    if (len >= UINT32_MAX) return FS_ETOOBIG;
    out->lang = lang;
    out->src = src;
    out->len = len;
    lexer L = { .lx = out, .s = src, .n = len, .line = 1, .bol = true };
    scan(&L);
    if (lang == CODE_LANG_PYTHON) docstrings(&L);
    mark_lines(out, L.line);
    return 0;
}

void code_lex_free(code_lexed *lx)
{
    if (!lx) return;
    free(lx->toks);
    free(lx->comments);
    free(lx->lines);
    memset(lx, 0, sizeof *lx);
}
