/*
 * code_rank.h - suggest_optimizations: the functions of an analysis most
 * worth reworking first (hot spots), each with why and what to do.
 *
 * A function's score grows with its decisions, its size (slowly), deep
 * nesting and duplicated code inside it:
 *
 *   score = complexity * log2(1 + length)
 *           * (1 + 0.25 * max(0, nesting - 2))
 *           * (1 + 0.5 * duplicates)
 *
 * where duplicates counts the "duplicate" findings of its file that
 * overlap its lines.  A 5-line function without branches scores 2.6; one
 * of complexity 23, 140 lines and nesting 6 scores 328.  The advice
 * follows the limits of code_checks.h: over CODE_MAX_COMPLEXITY or
 * CODE_MAX_FUNC_LINES "split it", over CODE_MAX_NESTING "flatten the
 * nesting", any duplicate "factor out the repeated lines".
 */
#ifndef CODE_RANK_H
#define CODE_RANK_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

double code_rank_score(uint32_t complexity, uint32_t length,
                       uint32_t nesting, uint32_t duplicates);

/*
 * Ranks the functions of analysis (a code_analyze result: {"files":
 * [...]}) by score, highest first, ties by path and line.  OUT: *out,
 * {"hotspots": [{"path", "name", "line", "length", "complexity",
 * "nesting", "duplicates", "score", "reason"}] (at most top, 0 for 10),
 * "functions": how many were ranked}, reason reading like "complexity
 * 23, 140 lines, nesting 6: split it, flatten the nesting".  Errors:
 * FS_EINVAL when analysis has no "files" array.
 */
int code_rank_hotspots(const json_t *analysis, size_t top, json_t **out);

#endif
