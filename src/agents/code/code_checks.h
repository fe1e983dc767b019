/*
 * code_checks.h - Flowstate's own checks on a lexed file, as findings
 * {"line", "severity", "message", "rule"} (severity "info", "warning" or
 * "error"):
 *
 *   rule             severity  what
 *   todo             info      TODO, FIXME or XXX opening a comment line
 *   long-function    warning   a function over CODE_MAX_FUNC_LINES lines
 *   complexity       warning   McCabe complexity over CODE_MAX_COMPLEXITY
 *   nesting          warning   blocks nested over CODE_MAX_NESTING deep
 *   unsafe-call      error     C: gets(
 *                    warning   C: strcpy( strcat( sprintf( vsprintf(
 *   bare-except      warning   Python: `except:`
 *   mutable-default  warning   Python: def f(x=[]), ={...}, =list() ...
 *   eval             warning   JavaScript: eval(
 *   eqeqeq           info      JavaScript: == or != (not === or !==)
 *
 * A tag opens a comment line when only comment markers and blanks (/ * #
 * ! - and quotes) come before it, and a blank, ':', '(' or '!' after it
 * ("TODO(ann): x", not "a TODO list" nor "TODOs").  Function findings
 * also carry "function" (its name).  Calls are words
 * followed by ( that are not members (after . or ->); preprocessor lines
 * are not checked.
 */
#ifndef CODE_CHECKS_H
#define CODE_CHECKS_H
#include <jansson.h>
#include <stddef.h>

#include "agents/code/code_funcs.h"
#include "agents/code/code_lexer.h"

#define CODE_MAX_FUNC_LINES 60
#define CODE_MAX_COMPLEXITY 10
#define CODE_MAX_NESTING 4

/*
 * Appends the findings of lx and its functions f[0..nf) to the array
 * findings, in no particular order.  Returns how many are "todo".
 */
size_t code_check_run(const code_lexed *lx, const code_func *f, size_t nf,
                      json_t *findings);

/* A new JSON string of s[0..n) with each byte of invalid UTF-8 (and each
 * NUL) written as '?'.  Never NULL. */
json_t *code_check_string(const char *s, size_t n);

#endif
