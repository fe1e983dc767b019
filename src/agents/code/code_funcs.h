/*
 * code_funcs.h - function definitions in a lexed file, with their length,
 * McCabe complexity and nesting depth.
 *
 * Where a function is:
 *   - C/C++: at file level, or inside struct/class/union/namespace/extern
 *     "C" braces, a name and a parenthesised list followed by { (C++
 *     qualifiers such as const or noexcept, and constructor initialiser
 *     lists, may come between).  Criterion and GoogleTest cases
 *     (Test(suite, name) { ... }) are named with their arguments.
 *   - JavaScript/TypeScript: anywhere, `function [name](...) {`, a method
 *     `name(...) {` (TypeScript: with a return type), and arrow functions
 *     with a block body `(...) => {`; anonymous ones take the name they
 *     are bound to (`const f = ...`, `f: ...`) or "(anonymous)".  Arrow
 *     functions with an expression body belong to the function around.
 *   - Python: `def name(...):` (and `async def`), the body being the
 *     following lines indented deeper than the def.
 * Preprocessor directives are skipped.
 *
 * Complexity is 1 + the decisions inside the body, each counted for the
 * innermost function only: if, for, while, do, each case label (not
 * default), catch, &&, || and ?: (C, JavaScript), and if, elif, for,
 * while, except, and, or, case (Python; `case _` is the default).  The
 * while that closes a `do { } while` is not a second decision.  Nesting is
 * the deepest block inside the body counted from 0: braces in C and
 * JavaScript (a nested function's braces count for the outer one too),
 * indentation levels in Python.
 */
#ifndef CODE_FUNCS_H
#define CODE_FUNCS_H
#include <stddef.h>
#include <stdint.h>

#include "agents/code/code_lexer.h"

typedef struct code_func {
    const char *name;    /* borrowed: into the source, or static */
    size_t name_len;
    uint32_t line;       /* of the name (Python: of the def) */
    uint32_t end_line;   /* of the closing brace or the body's last line */
    uint32_t complexity; /* 1 + decisions */
    uint32_t nesting;    /* deepest block inside; 0 when flat */
    size_t first, last;  /* the body's token range in lx->toks */
} code_func;

/*
 * Finds the functions of lx.  OUT: *out (free() it; NULL when none) and
 * *n, ordered by where their bodies start.  Names borrow lx->src.
 */
void code_funcs_find(const code_lexed *lx, code_func **out, size_t *n);

#endif
