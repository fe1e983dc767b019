/*
 * test_code_lexer.c - the code analyser's tokenizer: languages by
 * extension; strings, characters and comments stripped in C (raw strings,
 * prefixes, the preprocessor), Python (docstrings as comments, prefixes,
 * logical lines) and JavaScript (template strings with nested ${},
 * regular expressions against division); code/comment/blank lines; and
 * malformed input.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "agents/code/code_lexer.h"
#include "core/fs.h"

TestSuite(code_lexer, .timeout = 30);

static code_lexed lex(code_lang lang, const char *src)
{
    code_lexed lx;
    cr_assert_eq(code_lex(lang, src, strlen(src), &lx), 0);
    return lx;
}

/* The tokens of lx as "text|text|..." with strings shown as S. */
static void joined(const code_lexed *lx, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < lx->ntoks; i++) {
        const code_tok *t = &lx->toks[i];
        int w = t->kind == CODE_TOK_STRING
                    ? snprintf(buf + n, cap - n, "%sS", i ? "|" : "")
                    : snprintf(buf + n, cap - n, "%s%.*s", i ? "|" : "",
                               (int)t->len, lx->src + t->off);
        cr_assert_lt((size_t)w, cap - n);
        n += (size_t)w;
    }
}

static void counts(const code_lexed *lx, size_t *code, size_t *comment,
                   size_t *blank)
{
    *code = *comment = *blank = 0;
    for (size_t i = 1; i <= lx->nlines; i++) {
        if (lx->lines[i] & CODE_LINE_CODE) (*code)++;
        else if (lx->lines[i] & CODE_LINE_COMMENT) (*comment)++;
        else (*blank)++;
    }
}

Test(code_lexer, language_by_extension)
{
    static const struct {
        const char *path;
        code_lang lang;
    } cases[] = {
        { "a.c", CODE_LANG_C },          { "dir.x/b.h", CODE_LANG_C },
        { "x.cc", CODE_LANG_CPP },       { "x.cpp", CODE_LANG_CPP },
        { "x.hpp", CODE_LANG_CPP },      { "p/m.py", CODE_LANG_PYTHON },
        { "a.js", CODE_LANG_JS },        { "a.mjs", CODE_LANG_JS },
        { "a.cjs", CODE_LANG_JS },       { "a.jsx", CODE_LANG_JS },
        { "a.ts", CODE_LANG_TS },        { "a.tsx", CODE_LANG_TS },
        { "README.md", CODE_LANG_UNKNOWN }, { "Makefile", CODE_LANG_UNKNOWN },
        { "src.c/notes", CODE_LANG_UNKNOWN }, { ".c", CODE_LANG_UNKNOWN },
        { "a.C", CODE_LANG_UNKNOWN },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_expect_eq(code_lang_of(cases[i].path), cases[i].lang, "%s",
                     cases[i].path);
    cr_expect_str_eq(code_lang_name(CODE_LANG_TS), "typescript");
    cr_expect_null(code_lang_name(CODE_LANG_UNKNOWN));
    code_lexed lx;
    cr_expect_eq(code_lex(CODE_LANG_UNKNOWN, "x", 1, &lx), FS_EINVAL);
}

Test(code_lexer, c_strings_chars_and_comments_are_not_code)
{
    code_lexed lx = lex(CODE_LANG_C,
                        "a = \"if (x) /* no */ \\\" while\"; // for (;;)\n"
                        "c = '\"'; /* if\n while */ b = L\"x\" u8\"y\";\n"
                        "r = R\"d(if ( )\" )d\";\n");
    char buf[256];
    joined(&lx, buf, sizeof buf);
    cr_expect_str_eq(buf, "a|=|S|;|c|=|S|;|b|=|S|S|;|r|=|S|;");
    cr_expect_eq(lx.ncomments, 2);
    cr_expect_eq(lx.comments[1].line, 2);
    cr_expect_eq(lx.toks[8].line, 3, "b is on line 3, after the comment");
    code_lex_free(&lx);
}

Test(code_lexer, c_line_kinds)
{
    /* 1 comment, 2 blank, 3 code + comment = code, 4-6 a block comment
     * with a blank line inside (5 is blank), 7 code, 8 without newline. */
    code_lexed lx = lex(CODE_LANG_C, "// top\n"
                                     "\n"
                                     "int x; /* why */\n"
                                     "/* one\n"
                                     "\n"
                                     "   two */\n"
                                     "int y;\n"
                                     "   ");
    size_t code, comment, blank;
    counts(&lx, &code, &comment, &blank);
    cr_expect_eq(lx.nlines, 8);
    cr_expect_eq(code, 2);
    cr_expect_eq(comment, 3);
    cr_expect_eq(blank, 3);
    code_lex_free(&lx);
}

Test(code_lexer, c_preprocessor_lines_are_flagged)
{
    code_lexed lx = lex(CODE_LANG_C, "#define OPEN(x) { \\\n"
                                     "    if (x)\n"
                                     "int a; # not at the start\n");
    size_t pp = 0;
    for (size_t i = 0; i < lx.ntoks; i++)
        if (lx.toks[i].flags & CODE_TOK_PP) pp++;
    /* # define OPEN ( x ) { if ( x ) */
    cr_expect_eq(pp, 11);
    cr_expect_not(lx.toks[11].flags & CODE_TOK_PP, "int");
    cr_expect_eq(lx.toks[11].line, 3);
    cr_expect_not(lx.toks[14].flags & CODE_TOK_PP, "the second #");
    code_lex_free(&lx);
}

Test(code_lexer, python_docstrings_are_comments)
{
    code_lexed lx = lex(CODE_LANG_PYTHON,
                        "\"\"\"Module.\n"       /* 1 */
                        "\n"                    /* 2 blank inside */
                        "if: nothing\"\"\"\n"   /* 3 */
                        "def f(a):\n"           /* 4 */
                        "    '''Doc.'''\n"      /* 5 */
                        "    s = \"\"\"text\n"  /* 6 */
                        "    more\"\"\"\n"      /* 7 */
                        "    # if x\n"          /* 8 */
                        "    return rb'x' + f\"{a}\"\n"); /* 9 */
    size_t code, comment, blank;
    counts(&lx, &code, &comment, &blank);
    cr_expect_eq(code, 4, "lines 4, 6, 7 and 9; got %zu", code);
    cr_expect_eq(comment, 4, "lines 1, 3, 5 and 8");
    cr_expect_eq(blank, 1, "line 2, inside the module docstring");
    char buf[256];
    joined(&lx, buf, sizeof buf);
    cr_expect_str_eq(buf, "def|f|(|a|)|:|s|=|S|return|S|+|S");
    code_lex_free(&lx);
}

Test(code_lexer, python_logical_lines)
{
    code_lexed lx = lex(CODE_LANG_PYTHON, "x = (1,\n"
                                          "     2)\n"
                                          "y = 1 + \\\n"
                                          "    2\n"
                                          "\tz = 3\n");
    size_t bol = 0;
    for (size_t i = 0; i < lx.ntoks; i++) {
        if (!(lx.toks[i].flags & CODE_TOK_BOL)) continue;
        bol++;
        cr_expect(code_tok_is(&lx, &lx.toks[i], "x") ||
                  code_tok_is(&lx, &lx.toks[i], "y") ||
                  code_tok_is(&lx, &lx.toks[i], "z"));
    }
    cr_expect_eq(bol, 3);
    cr_expect_eq(lx.toks[lx.ntoks - 3].col, 8, "a tab is 8 columns");
    code_lex_free(&lx);
}

Test(code_lexer, js_template_strings_nest)
{
    code_lexed lx = lex(CODE_LANG_JS,
                        "t = `a ${b ? `in ${c}` : 'd'} if (`;\n"
                        "u = `x\n"
                        "y`;\n");
    char buf[256];
    joined(&lx, buf, sizeof buf);
    /* `a ${ | b ? | `in ${ | c | }` | : 'd' | } if (` */
    cr_expect_str_eq(buf, "t|=|S|b|?|S|c|S|:|S|S|;|u|=|S|;");
    cr_expect_eq(lx.toks[14].line, 2);
    cr_expect_eq(lx.toks[14].end_line, 3);
    size_t code, comment, blank;
    counts(&lx, &code, &comment, &blank);
    cr_expect_eq(code, 3);
    code_lex_free(&lx);
}

Test(code_lexer, js_regex_or_division)
{
    code_lexed lx = lex(CODE_LANG_JS, "a = b / c / d;\n"
                                      "r = /if\\/[/]x/gi.test(s);\n"
                                      "return /while/;\n"
                                      "e = (x) / 2; // /not/\n");
    char buf[256];
    joined(&lx, buf, sizeof buf);
    cr_expect_str_eq(buf, "a|=|b|/|c|/|d|;|r|=|S|.|test|(|s|)|;|return|S|;|"
                          "e|=|(|x|)|/|2|;");
    code_lex_free(&lx);
}

Test(code_lexer, js_operators)
{
    code_lexed lx = lex(CODE_LANG_TS, "a?.b ?? c === d !== e => f?.5:1");
    char buf[256];
    joined(&lx, buf, sizeof buf);
    cr_expect_str_eq(buf, "a|?.|b|??|c|===|d|!==|e|=>|f|?|.5|:|1");
    code_lex_free(&lx);
}

Test(code_lexer, malformed_input_ends_cleanly)
{
    static const char *const srcs[] = {
        "\"unclosed\nx", "/* never closed", "R\"x(raw", "'", "\\", "",
        "a = `${ `${ `", "\"\"\"open", "#define X \\",
    };
    code_lang langs[] = { CODE_LANG_C, CODE_LANG_PYTHON, CODE_LANG_JS };
    for (size_t l = 0; l < 3; l++)
        for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
            code_lexed lx = lex(langs[l], srcs[i]);
            for (size_t k = 0; k < lx.ntoks; k++)
                cr_assert_leq(lx.toks[k].off + lx.toks[k].len,
                              strlen(srcs[i]));
            code_lex_free(&lx);
        }
    code_lexed lx = lex(CODE_LANG_C, "\"unclosed\nx");
    cr_expect_eq(lx.ntoks, 2, "the string ends at the newline");
    cr_expect_eq(lx.nlines, 2);
    code_lex_free(&lx);
}
