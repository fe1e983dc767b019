/*
 * test_code_analyze.c - analyze_code on hand-made sources with known
 * counts: McCabe complexity and nesting of C, Python and JavaScript/
 * TypeScript functions (each expected value reasoned out beside its
 * source), line counts, function finding (C++ classes and initialiser
 * lists, Criterion tests, arrow functions, methods), our own checks,
 * duplicated blocks within and across files, the batch limits and
 * payloads, folder walks, hot-spot ranking, and Flowstate's own src/.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agents/code/code_analyze.h"
#include "agents/code/code_rank.h"
#include "core/fs.h"
#include "core/xmem.h"

TestSuite(code_analyze, .timeout = 60);

static json_t *analyze(const char *path, const char *src)
{
    json_t *o = NULL;
    cr_assert_eq(code_analyze_buffer(path, src, strlen(src), &o), 0);
    return o;
}

/* The function named name in file object o. */
static json_t *func(const json_t *o, const char *name)
{
    size_t i;
    json_t *f;
    json_array_foreach (json_object_get(o, "functions"), i, f)
        if (!strcmp(json_string_value(json_object_get(f, "name")), name))
            return f;
    cr_assert_fail("no function %s", name);
    return NULL;
}

static long num(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    cr_assert(json_is_integer(v), "no integer %s", key);
    return (long)json_integer_value(v);
}

/* How many findings of o have rule (and, when line > 0, that line). */
static size_t rule_count(const json_t *o, const char *rule, long line)
{
    size_t i, n = 0;
    json_t *f;
    json_array_foreach (json_object_get(o, "findings"), i, f)
        if (!strcmp(json_string_value(json_object_get(f, "rule")), rule) &&
            (line <= 0 || num(f, "line") == line))
            n++;
    return n;
}

static void expect_func(const json_t *o, const char *name, long line,
                        long length, long complexity, long nesting)
{
    json_t *f = func(o, name);
    cr_expect_eq(num(f, "line"), line, "%s line", name);
    cr_expect_eq(num(f, "length"), length, "%s length", name);
    cr_expect_eq(num(f, "complexity"), complexity, "%s complexity", name);
    cr_expect_eq(num(f, "nesting"), nesting, "%s nesting", name);
}

/* ---- C ------------------------------------------------------------------- */

static const char C_SRC[] =
    "/* TODO: more cases */\n"                         /* 1 */
    "#include <string.h>\n"                            /* 2 */
    "\n"                                               /* 3 */
    "int mixed(int a, int b, const char *s)\n"         /* 4 */
    "{\n"                                              /* 5 */
    "    int r = 0;\n"                                 /* 6 */
    "    const char *t = \"if (a) while (b)\";\n"      /* 7 */
    "    // while we are here: for, case, &&\n"        /* 8 */
    "    if (a > 0 && b > 0)\n"                        /* 9 */
    "        r = 1;\n"                                 /* 10 */
    "    if (a < 0 || s == t)\n"                       /* 11 */
    "        r = 2;\n"                                 /* 12 */
    "    for (int i = 0; i < a; i++) {\n"              /* 13 */
    "        while (b > i) {\n"                        /* 14 */
    "            b--;\n"                               /* 15 */
    "        }\n"                                      /* 16 */
    "    }\n"                                          /* 17 */
    "    switch (b) {\n"                               /* 18 */
    "    case 1: r += 1; break;\n"                     /* 19 */
    "    case 2: r += 2; break;\n"                     /* 20 */
    "    case 3: r += 3; break;\n"                     /* 21 */
    "    default: break;\n"                            /* 22 */
    "    }\n"                                          /* 23 */
    "    return r > 1 ? r : -r;\n"                     /* 24 */
    "}\n"                                              /* 25 */
    "\n"                                               /* 26 */
    "static void copy(char *d, const char *s)\n"       /* 27 */
    "{\n"                                              /* 28 */
    "    strcpy(d, s); /* strcpy( in a comment */\n"   /* 29 */
    "    sprintf(d, \"%s\", \"strcpy(\");\n"           /* 30 */
    "    snprintf(d, 4, \"%s\", s);\n"                 /* 31 */
    "    do { d++; } while (*d);\n"                    /* 32 */
    "}\n"                                              /* 33 */
    "int proto(int a);\n"                              /* 34 */
    "struct point { int x, y; };\n"                    /* 35 */
    "static int one(void) { return proto(1) ? 1 : 0; }\n"; /* 36 */

Test(code_analyze, c_complexity_as_mccabe)
{
    json_t *o = analyze("src/counts.c", C_SRC);
    cr_expect_str_eq(json_string_value(json_object_get(o, "language")), "c");
    /*
     * mixed: 1 + if (9) + && (9) + if (11) + || (11) + for (13) +
     * while (14) + case x3 (19-21; default not counted) + ?: (24) = 11.
     * The "if (" and "while (" in the string (7) and the while, for,
     * case and && in the comment (8) do not count.  Header at 4, closing
     * brace at 25: 22 lines.  The for and while bodies are braces inside
     * braces: nesting 2.
     */
    expect_func(o, "mixed", 4, 22, 11, 2);
    /* copy: 1 + do (32; its closing while is the same decision) = 2. */
    expect_func(o, "copy", 27, 7, 2, 1);
    /* one: 1 + ?: = 2, on one line; proto (a prototype) and point (a
     * struct) are no functions. */
    expect_func(o, "one", 36, 1, 2, 0);
    cr_expect_eq(json_array_size(json_object_get(o, "functions")), 3);
    json_decref(o);
}

Test(code_analyze, c_lines_and_findings)
{
    json_t *o = analyze("src/counts.c", C_SRC);
    /* 36 lines: comment-only 1 and 8, blank 3 and 26, the rest code. */
    cr_expect_eq(num(o, "lines"), 36);
    cr_expect_eq(num(o, "loc"), 32);
    cr_expect_eq(num(o, "comments"), 2);
    cr_expect_eq(num(o, "blank"), 2);
    cr_expect_eq(num(o, "todos"), 1);
    cr_expect_eq(rule_count(o, "todo", 1), 1);
    cr_expect_eq(rule_count(o, "unsafe-call", 29), 1, "strcpy");
    cr_expect_eq(rule_count(o, "unsafe-call", 30), 1, "sprintf, once");
    cr_expect_eq(rule_count(o, "unsafe-call", 0), 2, "not snprintf");
    cr_expect_eq(rule_count(o, "complexity", 4), 1, "11 is over 10");
    json_t *f = json_array_get(json_object_get(o, "findings"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(f, "message")),
                     "TODO: more cases");
    cr_expect_str_eq(json_string_value(json_object_get(f, "severity")),
                     "info");
    long last = 0;
    size_t i;
    json_array_foreach (json_object_get(o, "findings"), i, f) {
        cr_expect_geq(num(f, "line"), last, "findings ordered by line");
        last = num(f, "line");
    }
    json_decref(o);
}

Test(code_analyze, c_gets_is_an_error_members_are_not_calls)
{
    json_t *o = analyze("g.c", "void f(char *b, struct io *io)\n"
                               "{\n"
                               "    gets(b);\n"
                               "    io->gets(b);\n"
                               "    io.strcpy(b);\n"
                               "}\n");
    cr_expect_eq(rule_count(o, "unsafe-call", 0), 1);
    json_t *f = json_array_get(json_object_get(o, "findings"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(f, "severity")),
                     "error");
    json_decref(o);
}

Test(code_analyze, c_nesting_length_and_limits)
{
    /* deep: braces 5 deep inside the body (if/for/while/if/{ }), and a
     * body of 70 statements: 1 + 74 + 1 lines. */
    char src[8192] = "int deep(int a)\n{\n"
                     "    if (a) {\n"
                     "        for (;;) {\n"
                     "            while (a) {\n"
                     "                if (a > 1) {\n"
                     "                    { a--; }\n"
                     "                }\n"
                     "            }\n"
                     "        }\n"
                     "    }\n";
    for (int i = 0; i < 65; i++) strcat(src, "    a++;\n");
    strcat(src, "    return a;\n}\n");
    json_t *o = analyze("deep.c", src);
    /* 1 + if + for + while + if = 5; 2 + 9 + 65 + 2 = 78 lines. */
    expect_func(o, "deep", 1, 78, 5, 5);
    cr_expect_eq(rule_count(o, "nesting", 1), 1);
    cr_expect_eq(rule_count(o, "long-function", 1), 1);
    cr_expect_eq(rule_count(o, "complexity", 0), 0);
    json_decref(o);
}

Test(code_analyze, c_preprocessor_and_scopes)
{
    json_t *o = analyze(
        "p.c", "#define BLOCK(x) do { if (x) { } } while (0)\n" /* 1 */
               "#if FEATURE\n"                                 /* 2 */
               "#endif\n"                                      /* 3 */
               "extern \"C\" {\n"                              /* 4 */
               "static int\n"                                  /* 5 */
               "gnu_style(int a)\n"                            /* 6 */
               "{\n"                                           /* 7 */
               "#ifdef X\n"                                    /* 8 */
               "    if (a) return 1;\n"                        /* 9 */
               "#endif\n"                                      /* 10 */
               "    return 0;\n"                               /* 11 */
               "}\n"                                           /* 12 */
               "}\n"                                           /* 13 */
               "static const int table[] = { 1, 2 };\n"        /* 14 */
               "Test(suite, name, .timeout = 1)\n"             /* 15 */
               "{\n"                                           /* 16 */
               "    cr_assert(1 && 2);\n"                      /* 17 */
               "}\n");                                         /* 18 */
    /* The macro's if/do/while are not in any function. */
    expect_func(o, "gnu_style", 6, 7, 2, 0);
    expect_func(o, "Test(suite, name, .timeout = 1)", 15, 4, 2, 0);
    cr_expect_eq(json_array_size(json_object_get(o, "functions")), 2);
    json_decref(o);
}

Test(code_analyze, cpp_classes_and_initialiser_lists)
{
    json_t *o = analyze("k.cpp",
                        "namespace n {\n"                               /* 1 */
                        "class K : public B {\n"                        /* 2 */
                        "  public:\n"                                   /* 3 */
                        "    int get() const { return v_ ? 1 : 0; }\n" /* 4 */
                        "    K(int v) : B(v), v_{v} {\n"               /* 5 */
                        "        try { f(); } catch (...) { }\n"       /* 6 */
                        "    }\n"                                      /* 7 */
                        "  private:\n"                                 /* 8 */
                        "    int v_;\n"                                /* 9 */
                        "};\n"                                         /* 10 */
                        "K::~K() noexcept {\n"                         /* 11 */
                        "    auto l = [](int x) { return x && 1; };\n" /* 12 */
                        "}\n"                                          /* 13 */
                        "}\n");                                        /* 14 */
    expect_func(o, "get", 4, 1, 2, 0);
    expect_func(o, "K", 5, 3, 2, 1);
    /* The lambda stays part of the destructor: && counts there. */
    expect_func(o, "K::~K", 11, 3, 2, 1);
    cr_expect_eq(json_array_size(json_object_get(o, "functions")), 3);
    json_decref(o);
}

/* ---- Python -------------------------------------------------------------- */

static const char PY_SRC[] =
    "\"\"\"FIXME: rounding of orders\"\"\"\n"               /* 1 */
    "import os\n"                                          /* 2 */
    "\n"                                                   /* 3 */
    "\n"                                                   /* 4 */
    "def total(items, seen=[], opts={}, ok=None):\n"       /* 5 */
    "    \"\"\"Sum if and while.\"\"\"\n"                  /* 6 */
    "    s = 0\n"                                          /* 7 */
    "    try:\n"                                           /* 8 */
    "        for it in items:\n"                           /* 9 */
    "            if it.a and it.b or it.c:\n"              /* 10 */
    "                s += it.n\n"                          /* 11 */
    "            elif it.d:\n"                             /* 12 */
    "                s -= 1\n"                             /* 13 */
    "    except ValueError:\n"                             /* 14 */
    "        pass\n"                                       /* 15 */
    "    except:\n"                                        /* 16 */
    "        raise\n"                                      /* 17 */
    "    evens = [i for i in items if i % 2 == 0]  # if\n" /* 18 */
    "    return s if s else len(evens)\n"                  /* 19 */
    "\n"                                                   /* 20 */
    "\n"                                                   /* 21 */
    "class Box:\n"                                         /* 22 */
    "    @property\n"                                      /* 23 */
    "    def size(self): return 1\n"                       /* 24 */
    "\n"                                                   /* 25 */
    "    async def outer(self, x=list()):\n"               /* 26 */
    "        def inner(y):\n"                              /* 27 */
    "            while y:\n"                               /* 28 */
    "                y -= 1\n"                             /* 29 */
    "            return y\n"                               /* 30 */
    "        match x:\n"                                   /* 31 */
    "            case [a]:\n"                              /* 32 */
    "                return a\n"                           /* 33 */
    "            case _:\n"                                /* 34 */
    "                return inner(x)\n";                   /* 35 */

Test(code_analyze, python_functions)
{
    json_t *o = analyze("orders.py", PY_SRC);
    /*
     * total: 1 + for (9) + if, and, or (10) + elif (12) + except (14) +
     * except (16) + comprehension for and if (18) + conditional if (19)
     * = 11; the docstring's "if" and "while" and the comment's "if" do
     * not count.  def at 5, last line 19: 15 lines.  Indentation levels
     * below the body: try / for / if / s += : nesting 3.
     */
    expect_func(o, "total", 5, 15, 11, 3);
    expect_func(o, "size", 24, 1, 1, 0);
    /* outer: 1 + case [a] (32; case _ is the default) = 2; the while is
     * inner's (1 + while = 2).  outer's body goes two levels below its
     * first line (def inner / while / y -= 1, match / case / return). */
    expect_func(o, "outer", 26, 10, 2, 2);
    expect_func(o, "inner", 27, 4, 2, 1);
    cr_expect_eq(num(o, "comments"), 2, "the two docstrings");
    cr_expect_eq(num(o, "blank"), 5);
    cr_expect_eq(num(o, "loc"), 28);
    cr_expect_eq(rule_count(o, "todo", 1), 1);
    cr_expect_eq(rule_count(o, "mutable-default", 5), 2, "[] and {}");
    cr_expect_eq(rule_count(o, "mutable-default", 26), 1, "list()");
    cr_expect_eq(rule_count(o, "bare-except", 16), 1);
    cr_expect_eq(rule_count(o, "bare-except", 0), 1);
    cr_expect_eq(rule_count(o, "complexity", 5), 1);
    json_decref(o);
}

/* ---- JavaScript and TypeScript ------------------------------------------- */

static const char JS_SRC[] =
    "// shop.js\n"                                            /* 1 */
    "import { api } from './api.js';\n"                       /* 2 */
    "\n"                                                      /* 3 */
    "function price(a, b) {\n"                                /* 4 */
    "  if (a == b) { return 0; }\n"                           /* 5 */
    "  const t = `if (${a ? 'x' : 'y'}) while`;\n"            /* 6 */
    "  const r = /for|while/.test(t);\n"                      /* 7 */
    "  return a && b || r;\n"                                 /* 8 */
    "}\n"                                                     /* 9 */
    "\n"                                                      /* 10 */
    "const total = async (items) => {\n"                      /* 11 */
    "  let s = 0;\n"                                          /* 12 */
    "  for (const it of items) {\n"                           /* 13 */
    "    s += it.n > 0 ? it.n : 0;\n"                         /* 14 */
    "  }\n"                                                   /* 15 */
    "  return items.map(x => x ? 1 : 2), s;\n"                /* 16 */
    "};\n"                                                    /* 17 */
    "\n"                                                      /* 18 */
    "class Cart extends Base {\n"                             /* 19 */
    "  add(item) {\n"                                         /* 20 */
    "    try { this.items.push(item); } catch (e) { }\n"      /* 21 */
    "    return eval(item.code) != null;\n"                   /* 22 */
    "  }\n"                                                   /* 23 */
    "  get size() { return this.items?.length ?? 0; }\n"      /* 24 */
    "}\n"                                                     /* 25 */
    "\n"                                                      /* 26 */
    "module.exports.run = function () {\n"                    /* 27 */
    "  setTimeout(() => {\n"                                  /* 28 */
    "    do { api.poll(); } while (api.busy);\n"              /* 29 */
    "  }, 10);\n"                                             /* 30 */
    "};\n";                                                   /* 31 */

Test(code_analyze, javascript_functions)
{
    json_t *o = analyze("shop.js", JS_SRC);
    /* price: 1 + if (5) + ?: inside the template's ${} (6) + && and ||
     * (8) = 5; the template text "if (" / "while" and the regex are not
     * code. */
    expect_func(o, "price", 4, 6, 5, 1);
    /* total: 1 + for (13) + ?: (14) + ?: of the expression arrow (16,
     * which is no function of its own) = 4. */
    expect_func(o, "total", 11, 7, 4, 1);
    /* add: 1 + catch = 2; size: ?. and ?? are no decisions. */
    expect_func(o, "add", 20, 4, 2, 1);
    expect_func(o, "size", 24, 1, 1, 0);
    /* run: its arrow callback has the do (the while closing it is the
     * same decision), run itself none. */
    expect_func(o, "run", 27, 5, 1, 2);
    expect_func(o, "(anonymous)", 28, 3, 2, 1);
    cr_expect_eq(json_array_size(json_object_get(o, "functions")), 6);
    cr_expect_eq(rule_count(o, "eqeqeq", 5), 1);
    cr_expect_eq(rule_count(o, "eqeqeq", 22), 1, "!=");
    cr_expect_eq(rule_count(o, "eqeqeq", 0), 2);
    cr_expect_eq(rule_count(o, "eval", 22), 1);
    cr_expect_eq(num(o, "comments"), 1);
    cr_expect_eq(num(o, "blank"), 4);
    json_decref(o);
}

Test(code_analyze, typescript_functions)
{
    json_t *o = analyze(
        "svc.ts", "interface Opt { a?: number; f?(x: number): void }\n" /* 1 */
                  "export function pick<T>(xs: T[], o?: Opt): T {\n"   /* 2 */
                  "  return o?.a ? xs[o.a] : xs[0];\n"                 /* 3 */
                  "}\n"                                                /* 4 */
                  "export const later = async (n: number): "
                  "Promise<number> => {\n"                             /* 5 */
                  "  switch (n) { case 1: return 1; default: return 0; }\n"
                  "};\n"                                               /* 7 */
                  "class Svc {\n"                                      /* 8 */
                  "  private run(x: string, y?: number): void {\n"     /* 9 */
                  "    if (x === 'a' && y) { }\n"                      /* 10 */
                  "  }\n"                                              /* 11 */
                  "}\n");                                              /* 12 */
    /* pick: 1 + ?: (the ?. and the optional parameter are not) = 2. */
    expect_func(o, "pick", 2, 3, 2, 0);
    expect_func(o, "later", 5, 3, 2, 1);
    expect_func(o, "run", 9, 3, 3, 1);
    cr_expect_eq(json_array_size(json_object_get(o, "functions")), 3);
    cr_expect_eq(rule_count(o, "eqeqeq", 0), 0, "=== is fine");
    json_decref(o);
}

Test(code_analyze, todo_tags_open_comment_lines)
{
    json_t *o = analyze("t.py",
                        "# TODO: one\n"                                  /* 1 */
                        "# todo, TODOS, XXXL and a TODO in prose: no\n" /* 2 */
                        "x = 'TODO in a string'\n"                      /* 3 */
                        "\'\'\'FIXME(ann): two\n"                       /* 4 */
                        "XXX three */\'\'\'\n"                          /* 5 */
                        "y = 1  # XXX: a trailing comment\n"            /* 6 */
                        "#TODO-like\n");                                /* 7 */
    cr_expect_eq(num(o, "todos"), 4);
    cr_expect_eq(rule_count(o, "todo", 1), 1);
    cr_expect_eq(rule_count(o, "todo", 4), 1);
    cr_expect_eq(rule_count(o, "todo", 5), 1);
    cr_expect_eq(rule_count(o, "todo", 6), 1);
    json_t *f = json_array_get(json_object_get(o, "findings"), 2);
    cr_expect_str_eq(json_string_value(json_object_get(f, "message")),
                     "XXX three", "the rest of the line, markers cut");
    json_decref(o);
}

Test(code_analyze, unknown_language_and_invalid_utf8)
{
    json_t *o = NULL;
    cr_expect_eq(code_analyze_buffer("notes.txt", "x", 1, &o), FS_EINVAL);
    o = analyze("u.c", "int f\xff(void) { return 0; } // TODO \xc3\n");
    const char *name = json_string_value(
        json_object_get(json_array_get(json_object_get(o, "functions"), 0),
                        "name"));
    cr_expect_str_eq(name, "f?");
    char *text = json_dumps(o, 0);
    cr_expect_not_null(text, "always valid JSON");
    free(text);
    json_decref(o);
}

/* ---- duplicates ---------------------------------------------------------- */

/* Six statements, braces and a lone `else` around them that do not count,
 * spaced as given. */
#define DUP_BODY(sp)                                                           \
    "    total" sp "+= item->price;\n"                                         \
    "    count++;\n"                                                           \
    "    if (total > limit) {\n"                                               \
    "        flag = 1;\n"                                                      \
    "    } else {\n"                                                           \
    "        flag = 0;\n"                                                      \
    "    }\n"                                                                  \
    "    log_total(total, count);\n"                                           \
    "    /* a comment */ update(item);\n"

Test(code_analyze, duplicates_across_files)
{
    code_batch *b = code_batch_new(NULL);
    const char *a = "void a(void)\n{\n" DUP_BODY(" ") "}\n";   /* 3-11 */
    const char *c = "int x;\n\nvoid c(void)\n{\n"
                    "    other();\n" DUP_BODY("   ") "}\n"; /* 6-14 */
    const char *d = "void d(void)\n{\n    total += 1;\n    count++;\n}\n";
    cr_assert_eq(code_batch_add(b, "lib/a.c", a, strlen(a)), 0);
    cr_assert_eq(code_batch_add(b, "lib/c.c", c, strlen(c)), 0);
    cr_assert_eq(code_batch_add(b, "lib/d.c", d, strlen(d)), 0);
    json_t *r = code_batch_finish(b);
    json_t *dups = json_object_get(r, "duplicates");
    cr_assert_eq(json_array_size(dups), 1);
    json_t *p = json_array_get(dups, 0);
    json_t *copy = json_object_get(p, "copy");
    json_t *orig = json_object_get(p, "original");
    /* 7 lines with content: total, count, if, flag, flag, log, update
     * (the "} else {" and "}" are left out). */
    cr_expect_eq(num(p, "lines"), 7);
    cr_expect_str_eq(json_string_value(json_object_get(copy, "path")),
                     "lib/c.c");
    cr_expect_eq(num(copy, "line"), 6);
    cr_expect_eq(num(copy, "end_line"), 14);
    cr_expect_str_eq(json_string_value(json_object_get(orig, "path")),
                     "lib/a.c");
    cr_expect_eq(num(orig, "line"), 3);
    cr_expect_eq(num(orig, "end_line"), 11);
    json_t *fa = json_array_get(json_object_get(r, "files"), 0);
    json_t *fc = json_array_get(json_object_get(r, "files"), 1);
    cr_expect_eq(rule_count(fa, "duplicate", 3), 1);
    cr_expect_eq(rule_count(fc, "duplicate", 6), 1);
    json_t *f = json_array_get(json_object_get(fa, "findings"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(f, "message")),
                     "lines 3-11 repeat lib/c.c:6-14");
    f = json_array_get(json_object_get(fc, "findings"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(f, "message")),
                     "lines 6-14 repeat lib/a.c:3-11");
    json_t *sum = json_object_get(r, "summary");
    cr_expect_eq(num(sum, "duplicates"), 1);
    cr_expect_eq(num(sum, "files"), 3);
    cr_expect_eq(num(sum, "findings"), 2);
    json_decref(r);
}

Test(code_analyze, short_or_trivial_runs_are_no_duplicates)
{
    /* Five equal statements, then one that differs; and runs of braces
     * and #includes. */
    const char *a = "#include <a.h>\n#include <b.h>\n#include <c.h>\n"
                    "#include <d.h>\n#include <e.h>\n#include <f.h>\n"
                    "void f(void)\n{\n    a();\n    b();\n    c();\n"
                    "    d();\n    e();\n    {\n    }\n    {\n    }\n"
                    "    x();\n}\n";
    const char *b2 = "#include <a.h>\n#include <b.h>\n#include <c.h>\n"
                     "#include <d.h>\n#include <e.h>\n#include <f.h>\n"
                     "void g(void)\n{\n    a();\n    b();\n    c();\n"
                     "    d();\n    e();\n    {\n    }\n    {\n    }\n"
                     "    y();\n}\n";
    code_batch *b = code_batch_new(NULL);
    code_batch_add(b, "a.c", a, strlen(a));
    code_batch_add(b, "b.c", b2, strlen(b2));
    json_t *r = code_batch_finish(b);
    cr_expect_eq(json_array_size(json_object_get(r, "duplicates")), 0);
    json_decref(r);
}

Test(code_analyze, duplicates_within_one_buffer)
{
    char src[2048] = "";
    for (int k = 0; k < 2; k++)
        strcat(src, "def f():\n    a = 1\n    b = 2\n    c = a + b\n"
                    "    print(c)\n    return c\n\n");
    /* Each copy: def, a, b, c, print, return = 6 lines (1-6, 8-13). */
    json_t *o = analyze("twice.py", src);
    cr_expect_eq(rule_count(o, "duplicate", 1), 1);
    cr_expect_eq(rule_count(o, "duplicate", 8), 1);
    json_decref(o);
}

/* ---- batches, payloads and folders --------------------------------------- */

Test(code_analyze, batch_limits_and_skips)
{
    code_options opt = { .max_files = 2, .max_bytes = 100 };
    code_batch *b = code_batch_new(&opt);
    char big[200];
    memset(big, 'x', sizeof big);
    cr_expect_eq(code_batch_add(b, "README.md", "# hi", 4), 0,
                 "skipped, not counted");
    cr_expect_eq(code_batch_add(b, "big.c", big, sizeof big), 0);
    cr_expect_eq(code_batch_add(b, "bin.c", "a\0b", 3), 0);
    cr_expect_eq(code_batch_add(b, "ok.c", "int x;", 6), FS_ELIMIT,
                 "the third file is over max_files");
    json_t *r = code_batch_finish(b);
    json_t *sum = json_object_get(r, "summary");
    cr_expect_eq(num(sum, "files"), 0);
    cr_expect_eq(num(sum, "errors"), 2);
    cr_expect_eq(num(sum, "skipped"), 1);
    json_t *f = json_array_get(json_object_get(r, "files"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(f, "path")), "big.c");
    cr_expect_str_eq(json_string_value(json_object_get(f, "error")),
                     "200 bytes, over the limit of 100");
    f = json_array_get(json_object_get(r, "files"), 1);
    cr_expect_str_eq(json_string_value(json_object_get(f, "error")),
                     "binary content (NUL bytes)");
    json_t *notes = json_object_get(r, "notes");
    cr_assert_eq(json_array_size(notes), 2);
    cr_expect_str_eq(json_string_value(json_array_get(notes, 1)),
                     "stopped at the limit of 2 files");
    json_decref(r);
}

static bool cancel_now(void *ctx)
{
    return ++*(int *)ctx > 1;
}

Test(code_analyze, payloads)
{
    char err[256] = "";
    json_t *out = NULL;
    json_t *p = json_pack("{s:[{s:s,s:s},{s:s,s:s}]}", "files", "path",
                          "a.py", "content", "def f():\n    return 1\n",
                          "path", "b.js", "content", "let x = 1;\n");
    cr_assert_eq(code_analyze(p, NULL, &out, err, sizeof err), 0);
    cr_expect_eq(num(json_object_get(out, "summary"), "files"), 2);
    cr_expect_eq(num(json_object_get(out, "summary"), "functions"), 1);
    json_decref(out);
    json_decref(p);

    int calls = 0;
    code_options o = { .cancelled = cancel_now, .ctx = &calls };
    p = json_pack("{s:[{s:s,s:s},{s:s,s:s}]}", "files", "path", "a.c",
                  "content", "", "path", "b.c", "content", "");
    cr_assert_eq(code_analyze(p, &o, &out, err, sizeof err), 0);
    cr_expect_eq(num(json_object_get(out, "summary"), "files"), 1);
    cr_expect_str_eq(json_string_value(
                         json_array_get(json_object_get(out, "notes"), 0)),
                     "cancelled after 1 files");
    json_decref(out);
    json_decref(p);

    p = json_pack("{s:[{s:s}]}", "files", "path", "a.c");
    cr_expect_eq(code_analyze(p, NULL, &out, err, sizeof err), FS_EINVAL);
    cr_expect_str_eq(err, "files[0]: needs \"path\" and \"content\" strings");
    json_decref(p);
    p = json_pack("{s:i}", "path", 3);
    cr_expect_eq(code_analyze(p, NULL, &out, err, sizeof err), FS_EINVAL);
    json_decref(p);
    p = json_pack("{s:s}", "path", "/no/such/place");
    cr_expect_eq(code_analyze(p, NULL, &out, err, sizeof err), FS_ENOTFOUND);
    cr_expect_str_eq(err, "/no/such/place: not found");
    json_decref(p);
}

/* Writes s to dir/rel, making the folders. */
static void put(const char *dir, const char *rel, const char *s)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    for (char *c = path + strlen(dir) + 1; (c = strchr(c, '/')); c++) {
        *c = '\0';
        mkdir(path, 0700);
        *c = '/';
    }
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(s, f);
    fclose(f);
}

static char *tree(void)
{
    char *dir = xasprintf("%s/code-walk-XXXXXX",
                          getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    cr_assert_not_null(mkdtemp(dir));
    put(dir, "proj/src/b.c", "int b(void) { return 1; }\n");
    put(dir, "proj/src/a.py", "def a():\n    pass\n");
    put(dir, "proj/src/sub/c.ts", "const c = () => { return 1; };\n");
    put(dir, "proj/README.md", "# readme\n");
    put(dir, "proj/.git/x.c", "int hidden;\n");
    put(dir, "proj/build/gen.c", "int gen;\n");
    put(dir, "proj/node_modules/m/i.js", "var x;\n");
    put(dir, "outside.c", "int outside;\n");
    char *link = xasprintf("%s/proj/src/loop", dir);
    cr_assert_eq(symlink("..", link), 0);
    free(link);
    return dir;
}

static void rm_tree(char *dir)
{
    char *cmd = xasprintf("/bin/rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
    free(cmd);
    free(dir);
}

Test(code_analyze, folder_walk)
{
    char *dir = tree();
    char *proj = xasprintf("%s/proj", dir);
    json_t *out;
    cr_assert_eq(code_analyze_path(proj, 0, 0, &out), 0);
    json_t *files = json_object_get(out, "files");
    cr_assert_eq(json_array_size(files), 3, "hidden, build, node_modules "
                                           "and the symlink are skipped");
    const char *want[] = { "src/a.py", "src/b.c", "src/sub/c.ts" };
    for (size_t i = 0; i < 3; i++) {
        const char *p = json_string_value(
            json_object_get(json_array_get(files, i), "path"));
        cr_expect_str_eq(p + strlen(proj) + 1, want[i]);
    }
    cr_expect_eq(num(json_object_get(out, "summary"), "skipped"), 1);
    cr_expect_eq(num(json_object_get(out, "summary"), "functions"), 3);
    json_decref(out);
    cr_expect_eq(code_analyze_path(proj, 2, 0, &out), 0);
    cr_expect_eq(json_array_size(json_object_get(out, "files")), 2);
    json_decref(out);
    free(proj);
    rm_tree(dir);
}

Test(code_analyze, root_keeps_paths_inside)
{
    char *dir = tree();
    char *root = xasprintf("%s/proj", dir);
    code_options o = { .root = root };
    char err[256];
    json_t *out, *p = json_pack("{s:s}", "path", "src");
    cr_assert_eq(code_analyze(p, &o, &out, err, sizeof err), 0);
    const char *first = json_string_value(json_object_get(
        json_array_get(json_object_get(out, "files"), 0), "path"));
    cr_expect_str_eq(first, "src/a.py", "shown relative to the root");
    json_decref(out);
    json_decref(p);
    p = json_pack("{s:s}", "path", "../outside.c");
    cr_expect_eq(code_analyze(p, &o, &out, err, sizeof err), FS_EFORBIDDEN);
    cr_expect_str_eq(err, "../outside.c: outside the root");
    json_decref(p);
    p = json_pack("{s:s}", "path", "src/loop/../outside.c");
    cr_expect_eq(code_analyze(p, &o, &out, err, sizeof err), FS_EFORBIDDEN);
    json_decref(p);
    free(root);
    rm_tree(dir);
}

/* ---- hot spots ----------------------------------------------------------- */

Test(code_analyze, rank_score)
{
    cr_expect_float_eq(code_rank_score(1, 5, 0, 0), log2(6), 1e-9);
    /* 23 * log2(141) * (1 + 0.25 * 4) */
    cr_expect_float_eq(code_rank_score(23, 140, 6, 0), 23 * log2(141) * 2,
                       1e-9);
    cr_expect_float_eq(code_rank_score(2, 3, 1, 2), 2 * 2 * 2.0, 1e-9);
}

Test(code_analyze, rank_hotspots)
{
    json_t *a = json_pack(
        "{s:[{s:s,s:[{s:s,s:i,s:i,s:i,s:i},{s:s,s:i,s:i,s:i,s:i}],"
        "s:[{s:s,s:i,s:i}]},{s:s,s:s}]}",
        "files", "path", "a.c", "functions", "name", "small", "line", 1,
        "length", 5, "complexity", 1, "nesting", 0, "name", "big", "line",
        10, "length", 140,
        "complexity", 23, "nesting", 6, "findings", "rule", "duplicate",
        "line", 100, "end_line", 120, "path", "bad.c", "error", "x");
    json_t *out;
    cr_assert_eq(code_rank_hotspots(a, 1, &out), 0);
    cr_expect_eq(num(out, "functions"), 2);
    json_t *h = json_object_get(out, "hotspots");
    cr_assert_eq(json_array_size(h), 1);
    json_t *top = json_array_get(h, 0);
    cr_expect_str_eq(json_string_value(json_object_get(top, "name")), "big");
    cr_expect_eq(num(top, "duplicates"), 1);
    cr_expect_str_eq(json_string_value(json_object_get(top, "reason")),
                     "complexity 23, 140 lines, nesting 6, 1 duplicated "
                     "block: split it into smaller functions, flatten the "
                     "nesting (early returns, helpers), factor out the "
                     "repeated lines");
    json_decref(out);
    cr_assert_eq(code_rank_hotspots(a, 0, &out), 0);
    top = json_array_get(json_object_get(out, "hotspots"), 1);
    cr_expect_str_eq(json_string_value(json_object_get(top, "reason")),
                     "complexity 1, 5 lines, nesting 0: within the limits");
    json_decref(out);
    json_decref(a);
    a = json_object();
    cr_expect_eq(code_rank_hotspots(a, 0, &out), FS_EINVAL);
    json_decref(a);
}

/* ---- Flowstate itself ---------------------------------------------------- */

Test(code_analyze, flowstate_own_source_tree)
{
    json_t *out;
    cr_assert_eq(code_analyze_path("src", 0, 0, &out), 0);
    json_t *sum = json_object_get(out, "summary");
    cr_expect_gt(num(sum, "files"), 50);
    cr_expect_gt(num(sum, "loc"), 10000);
    cr_expect_gt(num(sum, "comments"), 1000);
    cr_expect_gt(num(sum, "functions"), 500);
    cr_expect_eq(num(sum, "errors"), 0);
    size_t i;
    json_t *f, *xmem = NULL;
    json_array_foreach (json_object_get(out, "files"), i, f) {
        cr_expect_null(json_object_get(f, "error"));
        if (!strcmp(json_string_value(json_object_get(f, "path")),
                    "src/core/xmem.c"))
            xmem = f;
    }
    cr_assert_not_null(xmem);
    const char *names[] = { "xmalloc", "xcalloc", "xrealloc", "xstrdup",
                            "xstrndup", "xasprintf" };
    for (size_t k = 0; k < 6; k++) {
        json_t *fn = func(xmem, names[k]);
        cr_expect_geq(num(fn, "complexity"), 1);
        cr_expect_geq(num(fn, "length"), 3);
    }
    json_t *hot;
    cr_assert_eq(code_rank_hotspots(out, 5, &hot), 0);
    cr_expect_eq(json_array_size(json_object_get(hot, "hotspots")), 5);
    json_decref(hot);
    json_decref(out);
}
