/*
 * wfexpr.c - template references and `when` conditions (see wfexpr.h for
 * the languages).
 *
 * References: ref_parse() splits "a.b.0" into parts held in one buffer
 * (the dotted text, NUL, then each part NUL-terminated), so a wfexpr_ref
 * can point into it.  Templates: a scanner walks a string piece by piece
 * (literal text, or the inside of one {{...}}); wfexpr_refs() and
 * wfexpr_render() both use it over a recursive walk of the JSON, bounded
 * by WFEXPR_MAX_TMPL_DEPTH.  Render keeps a running count of the bytes it
 * has produced (literal strings, keys, and the compact JSON size of each
 * value put in) and stops past WFEXPR_MAX_OUTPUT before copying anything
 * large.
 *
 * Conditions: a one-token-lookahead lexer and a recursive-descent parser
 * build a tree in an array of nodes (&& and || are n-ary, so a long chain
 * is flat); recursion is bounded because '(' and '!' count towards
 * WFEXPR_MAX_DEPTH.  Evaluation walks the tree; operands are borrowed from
 * the literal nodes or the context, logical results are jansson's static
 * true/false.
 */
#include "workflow/wfexpr.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/xmem.h"

static void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_part_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* The length of s[0..n) cut to at most max bytes at a UTF-8 character
 * boundary, for quoting user text in messages ("%.*s"). */
static int cut(const char *s, size_t n, size_t max)
{
    if (n <= max) return (int)n;
    while (max && ((unsigned char)s[max] & 0xC0) == 0x80) max--;
    return (int)max;
}

/* ---- references ------------------------------------------------------ */

typedef struct ref {
    char *buf; /* "a.b.c\0a\0b\0c\0" */
    const char *parts[WFEXPR_MAX_PARTS];
    size_t nparts;
    wfexpr_root root;
} ref;

static void ref_free(ref *r)
{
    free(r->buf);
    r->buf = NULL;
}

static wfexpr_root root_of(const char *name)
{
    static const struct {
        const char *name;
        wfexpr_root root;
    } roots[] = {
        { "inputs", WFEXPR_ROOT_INPUTS },
        { "steps", WFEXPR_ROOT_STEPS },
        { "item", WFEXPR_ROOT_ITEM },
        { "run", WFEXPR_ROOT_RUN },
    };
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++)
        if (!strcmp(name, roots[i].name)) return roots[i].root;
    return WFEXPR_ROOT_OTHER;
}

/*
 * Parses s[0..n), blanks around allowed, as a dotted path into OUT: *r
 * (ref_free() it).  Returns NULL, or a static reason when it is not one
 * (then nothing is allocated).
 */
static const char *ref_parse(const char *s, size_t n, ref *r)
{
    while (n && is_blank(*s)) s++, n--;
    while (n && is_blank(s[n - 1])) n--;
    if (!n) return "empty reference";
    if (n > WFEXPR_MAX_LEN) return "reference too long";
    size_t nparts = 1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (i == 0 || i == n - 1 || s[i + 1] == '.')
                return "empty part in reference";
            nparts++;
        } else if (!is_part_char(s[i])) {
            return is_blank(s[i]) ? "blank inside reference"
                                  : "bad character in reference";
        }
    }
    if (nparts > WFEXPR_MAX_PARTS) return "too many parts in reference";
    r->buf = xmalloc(2 * n + 2);
    memcpy(r->buf, s, n);
    r->buf[n] = '\0';
    char *p = r->buf + n + 1;
    memcpy(p, s, n);
    p[n] = '\0';
    r->nparts = 0;
    for (char *part = p;; part++) {
        r->parts[r->nparts++] = part;
        part = strchr(part, '.');
        if (!part) break;
        *part = '\0';
    }
    r->root = root_of(r->parts[0]);
    return NULL;
}

/* Reports a parsed reference, or s[0..n) with error, to fn. */
static void report(wfexpr_ref_fn fn, void *ctx, const ref *r, const char *s,
                   size_t n, const char *error)
{
    if (!fn) return;
    wfexpr_ref out = { 0 };
    char *text = NULL;
    if (error) {
        while (n && is_blank(*s)) s++, n--;
        while (n && is_blank(s[n - 1])) n--;
        text = xstrndup(s, n);
        out.text = text;
        out.error = error;
    } else {
        out.text = r->buf;
        out.root = r->root;
        out.nparts = r->nparts;
        out.parts = r->parts;
    }
    fn(ctx, &out);
    free(text);
}

/* True when part is a decimal array index; OUT: *idx. */
static bool part_index(const char *part, size_t *idx)
{
    size_t v = 0;
    if (!*part || strlen(part) > 9) return false;
    for (const char *c = part; *c; c++) {
        if (*c < '0' || *c > '9') return false;
        v = v * 10 + (size_t)(*c - '0');
    }
    *idx = v;
    return true;
}

/* The value at r in ctx (borrowed), or NULL when missing. */
static json_t *ref_lookup(const ref *r, const json_t *ctx)
{
    json_t *v = (json_t *)ctx;
    for (size_t i = 0; v && i < r->nparts; i++) {
        size_t idx;
        if (json_is_object(v)) v = json_object_get(v, r->parts[i]);
        else if (json_is_array(v) && part_index(r->parts[i], &idx))
            v = json_array_get(v, idx);
        else v = NULL;
    }
    return v;
}

/* s as one reference: "{{ x }}" or bare "x".  Returns a reason or NULL. */
static const char *single_ref(const char *s, ref *r)
{
    size_t n = strlen(s);
    while (n && is_blank(*s)) s++, n--;
    while (n && is_blank(s[n - 1])) n--;
    if (n >= 4 && !strncmp(s, "{{", 2) && !strncmp(s + n - 2, "}}", 2)) {
        s += 2;
        n -= 4;
    }
    return ref_parse(s, n, r);
}

int wfexpr_ref_check(const char *s, wfexpr_ref_fn fn, void *ctx, char *err,
                     size_t errlen)
{
    ref r;
    const char *why = single_ref(s, &r);
    if (why) {
        errf(err, errlen, "%s: '%.*s'", why, cut(s, strlen(s), 200), s);
        return FS_EINVAL;
    }
    report(fn, ctx, &r, NULL, 0, NULL);
    ref_free(&r);
    return 0;
}

json_t *wfexpr_lookup(const char *s, const json_t *ctx)
{
    ref r;
    if (single_ref(s, &r)) return NULL;
    json_t *v = ref_lookup(&r, ctx);
    ref_free(&r);
    return v;
}

/* ---- templates ------------------------------------------------------- */

/* One piece of a template string: literal text or the inside of {{ }}. */
typedef enum { PIECE_END, PIECE_TEXT, PIECE_REF, PIECE_UNTERMINATED } piece;

typedef struct scanner {
    const char *s;
    size_t n, pos;
} scanner;

/* OUT: *a, *len (the text, or the inside of the braces). */
static piece scan_next(scanner *sc, const char **a, size_t *len)
{
    if (sc->pos >= sc->n) return PIECE_END;
    const char *s = sc->s + sc->pos;
    size_t left = sc->n - sc->pos;
    const char *open = memmem(s, left, "{{", 2);
    if (open != s) {
        *a = s;
        *len = open ? (size_t)(open - s) : left;
        sc->pos += *len;
        return PIECE_TEXT;
    }
    const char *close = memmem(s + 2, left - 2, "}}", 2);
    if (!close) {
        *a = s;
        *len = left;
        sc->pos = sc->n;
        return PIECE_UNTERMINATED;
    }
    *a = s + 2;
    *len = (size_t)(close - s - 2);
    sc->pos = (size_t)(close + 2 - sc->s);
    return PIECE_REF;
}

typedef struct refs_walk {
    wfexpr_ref_fn fn;
    void *ctx;
    int bad;
} refs_walk;

static void refs_string(refs_walk *w, const char *s, size_t n)
{
    scanner sc = { s, n, 0 };
    const char *a;
    size_t len;
    piece p;
    while ((p = scan_next(&sc, &a, &len)) != PIECE_END) {
        if (p == PIECE_TEXT) continue;
        if (p == PIECE_UNTERMINATED) {
            report(w->fn, w->ctx, NULL, a, (size_t)cut(a, len, 64),
                   "'{{' without '}}'");
            w->bad++;
            continue;
        }
        ref r;
        const char *why = ref_parse(a, len, &r);
        report(w->fn, w->ctx, &r, a, len, why);
        if (why) w->bad++;
        else ref_free(&r);
    }
}

static void refs_value(refs_walk *w, const json_t *t, int depth)
{
    if (depth > WFEXPR_MAX_TMPL_DEPTH) {
        report(w->fn, w->ctx, NULL, "", 0, "template nested too deep");
        w->bad++;
        return;
    }
    const char *key;
    json_t *v;
    size_t i;
    switch (json_typeof(t)) {
    case JSON_STRING:
        refs_string(w, json_string_value(t), json_string_length(t));
        break;
    case JSON_OBJECT:
        json_object_foreach ((json_t *)t, key, v) refs_value(w, v, depth + 1);
        break;
    case JSON_ARRAY:
        json_array_foreach (t, i, v) refs_value(w, v, depth + 1);
        break;
    default:
        break;
    }
}

int wfexpr_refs(const json_t *tmpl, wfexpr_ref_fn fn, void *ctx)
{
    refs_walk w = { fn, ctx, 0 };
    refs_value(&w, tmpl, 0);
    return w.bad ? FS_EINVAL : 0;
}

typedef struct render {
    const json_t *ctx;
    char *err;
    size_t errlen;
    size_t total; /* bytes produced so far */
} render;

static bool spend(render *rc, size_t n)
{
    if (n > WFEXPR_MAX_OUTPUT - rc->total) {
        errf(rc->err, rc->errlen, "rendered input over %u bytes",
             WFEXPR_MAX_OUTPUT);
        return false;
    }
    rc->total += n;
    return true;
}

/* The value of the reference inside s[0..n) (borrowed), or NULL. */
static json_t *render_ref(render *rc, const char *s, size_t n)
{
    ref r;
    const char *why = ref_parse(s, n, &r);
    if (why) {
        errf(rc->err, rc->errlen, "%s: '{{%.*s}}'", why, cut(s, n, 200), s);
        return NULL;
    }
    json_t *v = ref_lookup(&r, rc->ctx);
    if (!v) errf(rc->err, rc->errlen, "no value for {{%s}}", r.buf);
    ref_free(&r);
    if (v && !spend(rc, json_dumpb(v, NULL, 0,
                                   JSON_COMPACT | JSON_ENCODE_ANY)))
        return NULL;
    return v;
}

/* Shortest "%.*g" of d that reads back the same. */
static void format_real(double d, char *buf, size_t len)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, d);
        if (strtod(buf, NULL) == d) return;
    }
}

static void append(char **buf, size_t *len, size_t *cap, const char *s,
                   size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = xrealloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, n);
    *len += n;
}

/* Appends v as text: strings raw, scalars plainly, else compact JSON. */
static void append_value(char **buf, size_t *len, size_t *cap,
                         const json_t *v)
{
    char num[40];
    if (json_is_string(v)) {
        append(buf, len, cap, json_string_value(v), json_string_length(v));
    } else if (json_is_integer(v)) {
        int n = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
                         json_integer_value(v));
        append(buf, len, cap, num, (size_t)n);
    } else if (json_is_real(v)) {
        format_real(json_real_value(v), num, sizeof num);
        append(buf, len, cap, num, strlen(num));
    } else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        append(buf, len, cap, s, strlen(s));
        free(s);
    }
}

static json_t *render_string(render *rc, const char *s, size_t n)
{
    if (!memmem(s, n, "{{", 2)) {
        if (!spend(rc, n)) return NULL;
        return json_stringn(s, n);
    }
    scanner sc = { s, n, 0 };
    const char *a;
    size_t len;
    piece p = scan_next(&sc, &a, &len);
    if (p == PIECE_REF && sc.pos == n) {
        json_t *v = render_ref(rc, a, len);
        return v ? json_deep_copy(v) : NULL;
    }
    size_t blen = 0, cap = n + 16;
    char *buf = xmalloc(cap);
    json_t *out = NULL;
    for (; p != PIECE_END; p = scan_next(&sc, &a, &len)) {
        json_t *v = NULL;
        if (p == PIECE_UNTERMINATED) {
            errf(rc->err, rc->errlen, "'{{' without '}}' in '%.*s'",
                 cut(a, len, 64), a);
            goto done;
        }
        if (p == PIECE_REF && !(v = render_ref(rc, a, len))) goto done;
        if (p == PIECE_TEXT) {
            if (!spend(rc, len)) goto done;
            append(&buf, &blen, &cap, a, len);
        } else {
            append_value(&buf, &blen, &cap, v);
        }
    }
    out = json_stringn(buf, blen);
done:
    free(buf);
    return out;
}

static json_t *render_value(render *rc, const json_t *t, int depth)
{
    if (depth > WFEXPR_MAX_TMPL_DEPTH) {
        errf(rc->err, rc->errlen, "template nested deeper than %d",
             WFEXPR_MAX_TMPL_DEPTH);
        return NULL;
    }
    const char *key;
    json_t *v, *out;
    size_t i;
    switch (json_typeof(t)) {
    case JSON_STRING:
        return render_string(rc, json_string_value(t), json_string_length(t));
    case JSON_OBJECT:
        out = json_object();
        json_object_foreach ((json_t *)t, key, v) {
            json_t *r = spend(rc, strlen(key) + 4)
                            ? render_value(rc, v, depth + 1)
                            : NULL;
            if (!r) goto fail;
            json_object_set_new(out, key, r);
        }
        return out;
    case JSON_ARRAY:
        out = json_array();
        json_array_foreach (t, i, v) {
            json_t *r = spend(rc, 1) ? render_value(rc, v, depth + 1) : NULL;
            if (!r) goto fail;
            json_array_append_new(out, r);
        }
        return out;
    default:
        return spend(rc, 8) ? json_deep_copy(t) : NULL;
    }
fail:
    json_decref(out);
    return NULL;
}

json_t *wfexpr_render(const json_t *tmpl, const json_t *ctx, char *err,
                      size_t errlen)
{
    render rc = { ctx, err, errlen, 0 };
    return render_value(&rc, tmpl, 0);
}

/* ---- conditions: lexer ----------------------------------------------- */

typedef enum tok {
    T_END, T_LP, T_RP, T_NOT, T_AND, T_OR,
    T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE,
    T_LIT, T_REF, T_ERR,
} tok;

typedef enum nkind { N_LIT, N_REF, N_NOT, N_AND, N_OR, N_CMP } nkind;

typedef struct node {
    nkind kind;
    tok op;          /* N_CMP: T_EQ .. T_GE */
    int a, b;        /* N_NOT: a; N_CMP: a, b; N_AND/N_OR: first child a */
    int next;        /* next child of an N_AND/N_OR, or -1 */
    json_t *lit;     /* N_LIT, owned */
    ref r;           /* N_REF, owned */
} node;

typedef struct parser {
    const char *src;
    size_t pos;      /* next byte to lex */
    tok t;           /* current token */
    size_t at;       /* where it starts */
    json_t *lit;     /* T_LIT value, owned until taken */
    ref r;           /* T_REF, owned until taken */
    const char *why; /* T_ERR reason */
    node *nodes;
    int n, cap;
    int depth;
    char *err;
    size_t errlen;
    bool failed;
} parser;

static void fail(parser *p, size_t at, const char *why)
{
    if (p->failed) return;
    p->failed = true;
    errf(p->err, p->errlen, "column %zu: %s", at + 1, why);
}

static void drop_token(parser *p)
{
    json_decref(p->lit);
    p->lit = NULL;
    ref_free(&p->r);
}

static tok lex_string(parser *p)
{
    const char *s = p->src;
    char q = s[p->pos++];
    size_t cap = 16, len = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        char c = s[p->pos];
        if (!c) {
            free(buf);
            p->why = "unterminated string";
            return T_ERR;
        }
        p->pos++;
        if (c == q) break;
        if (c == '\\') {
            char e = s[p->pos];
            if (e == 'n') c = '\n';
            else if (e == 't') c = '\t';
            else if (e == '\\' || e == '\'' || e == '"') c = e;
            else {
                free(buf);
                p->why = "unknown escape in string";
                return T_ERR;
            }
            p->pos++;
        }
        if (len + 1 >= cap) buf = xrealloc(buf, cap *= 2);
        buf[len++] = c;
    }
    p->lit = json_stringn(buf, len);
    free(buf);
    if (!p->lit) {
        p->why = "string is not UTF-8";
        return T_ERR;
    }
    return T_LIT;
}

static size_t digits(const char *s, size_t i)
{
    while (s[i] >= '0' && s[i] <= '9') i++;
    return i;
}

static tok lex_number(parser *p)
{
    const char *s = p->src;
    size_t i = p->pos + (s[p->pos] == '-'), start = i;
    bool real = false;
    i = digits(s, i);
    if (i == start) goto bad;
    if (s[i] == '.') {
        size_t f = i + 1;
        i = digits(s, f);
        if (i == f) goto bad;
        real = true;
    }
    if (s[i] == 'e' || s[i] == 'E') {
        size_t e = i + 1 + (s[i + 1] == '+' || s[i + 1] == '-');
        i = digits(s, e);
        if (i == e) goto bad;
        real = true;
    }
    if (is_part_char(s[i]) || s[i] == '.') goto bad;
    char *text = xstrndup(s + p->pos, i - p->pos);
    errno = 0;
    long long v = real ? 0 : strtoll(text, NULL, 10);
    if (real || errno == ERANGE) {
        double d = strtod(text, NULL);
        p->lit = isfinite(d) ? json_real(d) : NULL;
    } else {
        p->lit = json_integer(v);
    }
    free(text);
    if (!p->lit) goto bad;
    p->pos = i;
    return T_LIT;
bad:
    p->why = "bad number";
    return T_ERR;
}

/* A bare word: a keyword or a reference. */
static tok lex_word(parser *p, size_t start, size_t end)
{
    static const char *const words[] = { "true", "false", "null" };
    size_t n = end - start;
    const char *s = p->src + start;
    p->pos = end;
    for (size_t i = 0; i < 3; i++)
        if (n == strlen(words[i]) && !strncmp(s, words[i], n)) {
            p->lit = i == 0 ? json_true() : i == 1 ? json_false() : json_null();
            return T_LIT;
        }
    p->why = ref_parse(s, n, &p->r);
    return p->why ? T_ERR : T_REF;
}

/* Lexes the token at p->pos into p->t (p->at is where it starts). */
static void lex(parser *p)
{
    static const struct {
        const char *text;
        tok t;
    } ops[] = {
        { "&&", T_AND }, { "||", T_OR }, { "==", T_EQ }, { "!=", T_NE },
        { "<=", T_LE },  { ">=", T_GE }, { "<", T_LT },  { ">", T_GT },
        { "!", T_NOT },  { "(", T_LP },  { ")", T_RP },
    };
    const char *s = p->src;
    while (is_blank(s[p->pos])) p->pos++;
    p->at = p->pos;
    char c = s[p->pos];
    if (!c) {
        p->t = T_END;
        return;
    }
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        size_t n = strlen(ops[i].text);
        if (!strncmp(s + p->pos, ops[i].text, n)) {
            p->pos += n;
            p->t = ops[i].t;
            return;
        }
    }
    if (c == '\'' || c == '"') {
        p->t = lex_string(p);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        p->t = lex_number(p);
    } else if (c == '{' && s[p->pos + 1] == '{') {
        const char *close = strstr(s + p->pos + 2, "}}");
        if (!close) {
            p->why = "'{{' without '}}'";
            p->t = T_ERR;
            return;
        }
        p->t = T_REF;
        p->why = ref_parse(s + p->pos + 2, (size_t)(close - s - p->pos - 2),
                           &p->r);
        if (p->why) p->t = T_ERR;
        p->pos = (size_t)(close + 2 - s);
    } else if (is_part_char(c)) {
        size_t end = p->pos;
        while (is_part_char(s[end]) || s[end] == '.') end++;
        p->t = lex_word(p, p->pos, end);
    } else {
        p->why = c == '=' ? "'=' alone: use '==' to compare"
                 : c == '&' ? "'&' alone: use '&&'"
                 : c == '|' ? "'|' alone: use '||'"
                            : "unexpected character";
        p->t = T_ERR;
    }
}

/* ---- conditions: parser ---------------------------------------------- */

static int add_node(parser *p, nkind kind)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 16;
        p->nodes = xrealloc(p->nodes, (size_t)p->cap * sizeof *p->nodes);
    }
    p->nodes[p->n] = (node){ .kind = kind, .a = -1, .b = -1, .next = -1 };
    return p->n++;
}

static int parse_or(parser *p);

static int parse_operand(parser *p)
{
    int id;
    switch (p->t) {
    case T_LIT:
        id = add_node(p, N_LIT);
        p->nodes[id].lit = p->lit;
        p->lit = NULL;
        break;
    case T_REF:
        id = add_node(p, N_REF);
        p->nodes[id].r = p->r;
        p->r.buf = NULL;
        break;
    case T_LP:
        if (++p->depth > WFEXPR_MAX_DEPTH) {
            fail(p, p->at, "nested too deep");
            return -1;
        }
        lex(p);
        id = parse_or(p);
        if (id < 0) return -1;
        if (p->t != T_RP) {
            fail(p, p->at, "expected ')'");
            return -1;
        }
        p->depth--;
        break;
    case T_ERR:
        fail(p, p->at, p->why);
        return -1;
    default:
        fail(p, p->at, "expected a value");
        return -1;
    }
    lex(p);
    return id;
}

static bool is_cmp(tok t)
{
    return t >= T_EQ && t <= T_GE;
}

static int parse_compare(parser *p)
{
    int a = parse_operand(p);
    if (a < 0 || !is_cmp(p->t)) return a;
    tok op = p->t;
    lex(p);
    int b = parse_operand(p);
    if (b < 0) return -1;
    if (is_cmp(p->t)) {
        fail(p, p->at, "comparisons do not chain: use && or parentheses");
        return -1;
    }
    int id = add_node(p, N_CMP);
    p->nodes[id].op = op;
    p->nodes[id].a = a;
    p->nodes[id].b = b;
    return id;
}

static int parse_unary(parser *p)
{
    if (p->t != T_NOT) return parse_compare(p);
    if (++p->depth > WFEXPR_MAX_DEPTH) {
        fail(p, p->at, "nested too deep");
        return -1;
    }
    lex(p);
    int a = parse_unary(p);
    p->depth--;
    if (a < 0) return -1;
    int id = add_node(p, N_NOT);
    p->nodes[id].a = a;
    return id;
}

/* child (op child)* as one n-ary node, or the single child. */
static int parse_list(parser *p, tok op, nkind kind, int (*child)(parser *))
{
    int first = child(p);
    if (first < 0 || p->t != op) return first;
    int id = add_node(p, kind), last = first;
    p->nodes[id].a = first;
    while (p->t == op) {
        lex(p);
        int c = child(p);
        if (c < 0) return -1;
        p->nodes[last].next = c;
        last = c;
    }
    return id;
}

static int parse_and(parser *p)
{
    return parse_list(p, T_AND, N_AND, parse_unary);
}

static int parse_or(parser *p)
{
    return parse_list(p, T_OR, N_OR, parse_and);
}

static void parser_free(parser *p)
{
    drop_token(p);
    for (int i = 0; i < p->n; i++) {
        json_decref(p->nodes[i].lit);
        ref_free(&p->nodes[i].r);
    }
    free(p->nodes);
}

/* Parses p->src; returns the root node or -1 (message in p->err). */
static int parse(parser *p, const char *src, char *err, size_t errlen)
{
    *p = (parser){ .src = src, .err = err, .errlen = errlen };
    size_t n = strlen(src);
    if (n > WFEXPR_MAX_LEN) {
        errf(err, errlen, "condition longer than %d bytes", WFEXPR_MAX_LEN);
        return -1;
    }
    lex(p);
    if (p->t == T_END) {
        fail(p, 0, "empty condition");
        return -1;
    }
    int root = parse_or(p);
    if (root >= 0 && p->t != T_END) {
        fail(p, p->at,
             p->t == T_ERR ? p->why : "expected an operator or the end");
        return -1;
    }
    return root;
}

/* ---- conditions: evaluation ------------------------------------------ */

static bool eval(const parser *p, int id, const json_t *ctx);

static const json_t *value(const parser *p, int id, const json_t *ctx)
{
    const node *nd = &p->nodes[id];
    if (nd->kind == N_LIT) return nd->lit;
    if (nd->kind == N_REF) {
        const json_t *v = ref_lookup(&nd->r, ctx);
        return v ? v : json_null();
    }
    return eval(p, id, ctx) ? json_true() : json_false();
}

/* -1, 0, 1 for two numbers or two strings; OUT: false when unordered. */
static bool order(const json_t *a, const json_t *b, int *cmp)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        *cmp = (x > y) - (x < y);
        return true;
    }
    if (json_is_number(a) && json_is_number(b)) {
        double x = json_number_value(a), y = json_number_value(b);
        *cmp = (x > y) - (x < y);
        return true;
    }
    if (json_is_string(a) && json_is_string(b)) {
        int c = strcmp(json_string_value(a), json_string_value(b));
        *cmp = (c > 0) - (c < 0);
        return true;
    }
    return false;
}

static bool compare(tok op, const json_t *a, const json_t *b)
{
    int c = 0;
    bool ordered = order(a, b, &c);
    bool numbers = json_is_number(a) && json_is_number(b);
    switch (op) {
    case T_EQ:
        return numbers ? c == 0 : json_equal(a, b);
    case T_NE:
        return numbers ? c != 0 : !json_equal(a, b);
    case T_LT:
        return ordered && c < 0;
    case T_LE:
        return ordered && c <= 0;
    case T_GT:
        return ordered && c > 0;
    default:
        return ordered && c >= 0;
    }
}

static bool eval(const parser *p, int id, const json_t *ctx)
{
    const node *nd = &p->nodes[id];
    switch (nd->kind) {
    case N_NOT:
        return !eval(p, nd->a, ctx);
    case N_AND:
        for (int c = nd->a; c >= 0; c = p->nodes[c].next)
            if (!eval(p, c, ctx)) return false;
        return true;
    case N_OR:
        for (int c = nd->a; c >= 0; c = p->nodes[c].next)
            if (eval(p, c, ctx)) return true;
        return false;
    case N_CMP:
        return compare(nd->op, value(p, nd->a, ctx), value(p, nd->b, ctx));
    default:
        return wfexpr_truthy(value(p, id, ctx));
    }
}

bool wfexpr_truthy(const json_t *v)
{
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_TRUE:
        return true;
    case JSON_INTEGER:
    case JSON_REAL:
        return json_number_value(v) != 0;
    case JSON_STRING:
        return json_string_length(v) > 0;
    case JSON_ARRAY:
        return json_array_size(v) > 0;
    case JSON_OBJECT:
        return json_object_size(v) > 0;
    default:
        return false;
    }
}

int wfexpr_cond_check(const char *src, wfexpr_ref_fn fn, void *ctx, char *err,
                      size_t errlen)
{
    parser p;
    int root = parse(&p, src, err, errlen);
    for (int i = 0; root >= 0 && i < p.n; i++)
        if (p.nodes[i].kind == N_REF)
            report(fn, ctx, &p.nodes[i].r, NULL, 0, NULL);
    parser_free(&p);
    return root >= 0 ? 0 : FS_EINVAL;
}

int wfexpr_cond_eval(const char *src, const json_t *ctx, bool *result,
                     char *err, size_t errlen)
{
    parser p;
    int root = parse(&p, src, err, errlen);
    if (root >= 0) *result = eval(&p, root, ctx);
    parser_free(&p);
    return root >= 0 ? 0 : FS_EINVAL;
}
