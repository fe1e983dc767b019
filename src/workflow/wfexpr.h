/*
 * wfexpr.h - the two small languages inside a workflow definition:
 * template references in a step's input, and `when` conditions.
 *
 * A reference names a value in the run context, a dotted path of parts
 * made of [A-Za-z0-9_-] (a part of digits also indexes an array):
 *
 *   inputs.NAME               a workflow input
 *   steps.ID.output[.a.b.0]   an upstream step's output, or a part of it
 *   item[.field]              the current element in a for_each step
 *   run.id                    the run's id
 *
 * The context is one JSON object holding exactly that tree:
 *   {"inputs":{...}, "steps":{"ID":{"output":...}}, "item":...,
 *    "run":{"id":...}}
 * A path is missing when some part is absent (a JSON null that is present
 * is not missing).  Which roots and parts are allowed where is the
 * definition's business (wfdef.c); here any root is parsed.
 *
 * Templates.  In a step's input, every string value (not object keys) may
 * hold references in double braces, with blanks allowed inside:
 *   "{{ steps.score.output.top }}"  the whole string is one reference: it
 *                                   becomes that value with its JSON type;
 *   "segment {{inputs.segment}}!"   text around references: each value is
 *                                   written into the text (strings as they
 *                                   are, anything else as compact JSON).
 * A "{{" with no "}}" after it is an error; there is no escape for a
 * literal "{{".  Values put in are never scanned again.
 *
 * Conditions.  A `when` is an expression, parsed to a tree and evaluated:
 *   expr    := and ('||' and)*
 *   and     := unary ('&&' unary)*
 *   unary   := '!' unary | compare
 *   compare := operand (('=='|'!='|'<'|'<='|'>'|'>=') operand)?
 *   operand := reference | '{{' reference '}}' | number | string
 *            | 'true' | 'false' | 'null' | '(' expr ')'
 * Strings are in '...' or "..." with \\ \' \" \n \t escapes; numbers as in
 * JSON.  A missing reference evaluates to null (never an error).  == and
 * != compare JSON values (numbers by value: 1 == 1.0); < <= > >= compare
 * two numbers or two strings (bytewise) and are false for anything else.
 * Truthiness: false, null, 0, "", [] and {} are false; all else is true.
 *
 * Limits: a condition or reference is at most WFEXPR_MAX_LEN bytes, nests
 * '(' and '!' at most WFEXPR_MAX_DEPTH deep, a path has at most
 * WFEXPR_MAX_PARTS parts; templates nest at most WFEXPR_MAX_TMPL_DEPTH
 * deep and render to at most about WFEXPR_MAX_OUTPUT bytes of JSON.
 *
 * Pure functions, no global state: safe from any thread.
 */
#ifndef WFEXPR_H
#define WFEXPR_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define WFEXPR_MAX_LEN 4096
#define WFEXPR_MAX_DEPTH 64
#define WFEXPR_MAX_PARTS 32
#define WFEXPR_MAX_TMPL_DEPTH 128
#define WFEXPR_MAX_OUTPUT (1u << 20)

typedef enum wfexpr_root {
    WFEXPR_ROOT_OTHER, /* none of the names below (an unknown variable) */
    WFEXPR_ROOT_INPUTS,
    WFEXPR_ROOT_STEPS,
    WFEXPR_ROOT_ITEM,
    WFEXPR_ROOT_RUN,
} wfexpr_root;

/* One reference found by wfexpr_refs, wfexpr_ref_check or
 * wfexpr_cond_check.  Every pointer lives until the callback returns. */
typedef struct wfexpr_ref {
    const char *text;         /* as written between the braces, trimmed */
    const char *error;        /* NULL, or why text is not a reference */
    wfexpr_root root;         /* when error is NULL */
    size_t nparts;            /* >= 1 when error is NULL */
    const char *const *parts; /* parts[0] is the root's name */
} wfexpr_ref;

typedef void (*wfexpr_ref_fn)(void *ctx, const wfexpr_ref *ref);

/*
 * Calls fn for every reference in the strings of tmpl, good or malformed
 * (ref->error set; an unterminated "{{" or a template nested too deep is
 * reported that way too, with text holding the start of the string).
 * Returns 0 when every reference parsed, FS_EINVAL otherwise.
 */
int wfexpr_refs(const json_t *tmpl, wfexpr_ref_fn fn, void *ctx);

/*
 * Checks that s is one reference, bare ("steps.a.output") or in braces
 * ("{{ steps.a.output }}"), and calls fn (may be NULL) with it.  Returns
 * 0, or FS_EINVAL with a message in err (errlen bytes, may be 0).
 */
int wfexpr_ref_check(const char *s, wfexpr_ref_fn fn, void *ctx, char *err,
                     size_t errlen);

/*
 * The value s names in ctx, s as for wfexpr_ref_check.  Borrowed from ctx
 * (lives as long as ctx is unchanged); NULL when s is not a reference or
 * the value is missing.
 */
json_t *wfexpr_lookup(const char *s, const json_t *ctx);

/*
 * Renders tmpl against ctx (see Templates above): a new value the caller
 * json_decref()s, sharing nothing with tmpl or ctx.  NULL on error with a
 * message naming the reference in err: a missing value, a malformed
 * reference, or output over WFEXPR_MAX_OUTPUT.
 */
json_t *wfexpr_render(const json_t *tmpl, const json_t *ctx, char *err,
                      size_t errlen);

/*
 * Parses the condition src and, when it parses, calls fn (may be NULL) for
 * each reference in it.  Returns 0, or FS_EINVAL with "column N: why" in
 * err (N counts bytes from 1).
 */
int wfexpr_cond_check(const char *src, wfexpr_ref_fn fn, void *ctx, char *err,
                      size_t errlen);

/*
 * Evaluates the condition src against ctx.  Returns 0 and OUT: *result,
 * or FS_EINVAL (src does not parse; message in err).
 */
int wfexpr_cond_eval(const char *src, const json_t *ctx, bool *result,
                     char *err, size_t errlen);

/* The truthiness of v (NULL, a missing value, is false). */
bool wfexpr_truthy(const json_t *v);

#endif
