/*
 * clidoc.h - what the memory commands (`flowstate memory`, `search`,
 * `import`) share: checking document fields given as flags before any
 * request (names, tags, key=value metadata, document ids), and the
 * one-line form of a document's text for tables.
 *
 * The checkers print the problem the way cliopt_fail() does ("flowstate
 * memory add: --tag ...") and return false; the caller then exits
 * CLI_EXIT_USAGE.  Limits mirror the server's (api_memory.c), so a value
 * it would refuse is caught here with a clearer message.
 */
#ifndef CLIDOC_H
#define CLIDOC_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cli/cliopt.h"

#define CLIDOC_MAX_NAME 200       /* kind, agent, one tag, bytes */
#define CLIDOC_MAX_TAGS 64        /* tags of a document or filter */
#define CLIDOC_MAX_META_FILTER 16 /* metadata keys in a search filter */

/* s (may be NULL: fine) is a usable --kind/--agent value: 1..200 bytes. */
bool clidoc_name(const cliopt_ctx *ctx, const char *flag, const char *s);

/*
 * The --tag values as a JSON array of strings (a new reference), or NULL
 * when there are none.  OUT: *out.  false after printing a bad tag.
 */
bool clidoc_tags(const cliopt_ctx *ctx, const cliopt_list *tags, json_t **out);

/*
 * The --meta key=value values as a JSON object of strings (a new
 * reference; a later key wins), or NULL when there are none.  For a
 * search filter (filter true) keys may not hold quotes or backslashes and
 * at most CLIDOC_MAX_META_FILTER are allowed, as the server requires.
 * OUT: *out.  false after printing the first bad one.
 */
bool clidoc_meta(const cliopt_ctx *ctx, const cliopt_list *meta, bool filter,
                 json_t **out);

/* A document id (a positive whole number); false after printing. */
bool clidoc_id(const cliopt_ctx *ctx, const char *what, const char *s,
               int64_t *id);

/* s with every run of white space (and control characters) made one
 * space and the ends trimmed, for a table cell.  The caller frees it. */
char *clidoc_oneline(const char *s);

#endif
