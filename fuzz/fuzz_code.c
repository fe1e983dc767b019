/*
 * fuzz_code.c - libFuzzer target: the code analyser (code_lex, and
 * code_analyze_buffer with functions, checks, duplicates and the JSON
 * result, then code_rank_hotspots on it) on arbitrary bytes.
 *
 * Input: the first byte picks the language (C, C++, Python, JavaScript,
 * TypeScript by its value mod 5); the rest is the source.  Checked
 * (FUZZ_CHECK aborts):
 *  - tokens come in order, inside the input, without overlapping, each
 *    non-empty, with line <= end_line <= the last line;
 *  - comments are inside the input, in order, and overlap no token;
 *  - code + comment + blank lines add up to the lines;
 *  - every function has a name, 1 <= line, length >= 1, complexity >= 1,
 *    and the whole result encodes as JSON (valid UTF-8 throughout).
 */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "agents/code/code_analyze.h"
#include "agents/code/code_lexer.h"
#include "agents/code/code_rank.h"
#include "fuzz.h"

static const char *const paths[] = { "f.c", "f.cpp", "f.py", "f.js", "f.ts" };

static void check_tokens(const code_lexed *lx, size_t size)
{
    size_t end = 0;
    uint32_t line = 1, last = (uint32_t)lx->nlines + 1;
    for (size_t i = 0; i < lx->ntoks; i++) {
        const code_tok *t = &lx->toks[i];
        FUZZ_CHECK(t->len > 0 && t->off >= end && t->off + t->len <= size);
        FUZZ_CHECK(t->line >= line && t->line <= t->end_line &&
                   t->end_line <= last);
        end = t->off + t->len;
        line = t->line;
    }
    size_t c_end = 0, k = 0;
    for (size_t i = 0; i < lx->ncomments; i++) {
        const code_span *c = &lx->comments[i];
        FUZZ_CHECK(c->off >= c_end && c->off + c->len <= size);
        c_end = c->off + c->len;
        while (k < lx->ntoks && lx->toks[k].off + lx->toks[k].len <= c->off)
            k++;
        FUZZ_CHECK(k == lx->ntoks || lx->toks[k].off >= c_end);
    }
}

static void check_result(json_t *o, size_t lines)
{
    size_t loc = json_integer_value(json_object_get(o, "loc"));
    size_t com = json_integer_value(json_object_get(o, "comments"));
    size_t blank = json_integer_value(json_object_get(o, "blank"));
    FUZZ_CHECK(loc + com + blank == lines);
    size_t i;
    json_t *f;
    json_array_foreach (json_object_get(o, "functions"), i, f) {
        FUZZ_CHECK(json_string_length(json_object_get(f, "name")) > 0);
        FUZZ_CHECK(json_integer_value(json_object_get(f, "line")) >= 1);
        FUZZ_CHECK(json_integer_value(json_object_get(f, "length")) >= 1);
        FUZZ_CHECK(json_integer_value(json_object_get(f, "complexity")) >= 1);
    }
    json_t *all = json_pack("{s:[O]}", "files", o), *hot = NULL;
    FUZZ_CHECK(code_rank_hotspots(all, 5, &hot) == 0);
    char *text = json_dumps(all, 0), *text2 = json_dumps(hot, 0);
    FUZZ_CHECK(text && text2);
    free(text);
    free(text2);
    json_decref(hot);
    json_decref(all);
}

int fuzz_code_one(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    const char *path = paths[data[0] % 5];
    const char *src = (const char *)data + 1;
    code_lexed lx;
    FUZZ_CHECK(code_lex(code_lang_of(path), src, size - 1, &lx) == 0);
    check_tokens(&lx, size - 1);
    size_t lines = lx.nlines;
    code_lex_free(&lx);
    json_t *o = NULL;
    FUZZ_CHECK(code_analyze_buffer(path, src, size - 1, &o) == 0);
    FUZZ_CHECK(json_integer_value(json_object_get(o, "lines")) ==
               (json_int_t)lines);
    check_result(o, lines);
    json_decref(o);
    return 0;
}

FUZZ_ENTRY(fuzz_code_one)
