/*
 * code_dup.h - duplicated blocks: runs of at least CODE_DUP_MIN_LINES
 * identical code lines, within a file or across files.
 *
 * Lines are compared normalised: their tokens joined by one space (so
 * spacing and comments do not matter, string contents do).  Lines that
 * say nothing on their own are left out of the runs: lines of brackets
 * and punctuation only (`}`, `});`), a lone keyword (`else`, `break;`,
 * `pass`, `return;`) and imports (#include, import, from ... import), so
 * a run of 6 is 6 lines with content, possibly spanning more.
 *
 * Each run is reported once, against the earliest copy (in the order the
 * files were added): three copies make two pairs, both naming the first.
 * A copy never overlaps the copy it repeats.
 */
#ifndef CODE_DUP_H
#define CODE_DUP_H
#include <stddef.h>
#include <stdint.h>

#include "agents/code/code_lexer.h"

#define CODE_DUP_MIN_LINES 6

typedef struct code_dup code_dup;

typedef struct code_dup_range {
    size_t file;          /* the index code_dup_add() returned */
    uint32_t first, last; /* lines, inclusive */
} code_dup_range;

typedef struct code_dup_pair {
    code_dup_range copy;  /* the later copy */
    code_dup_range orig;  /* the earliest copy */
    size_t lines;         /* normalised lines in common (>= min_lines) */
} code_dup_pair;

/* min_lines: the shortest run reported; 0 for CODE_DUP_MIN_LINES. */
code_dup *code_dup_new(size_t min_lines);
void code_dup_free(code_dup *d);

/* Keeps a hash of each line of lx (lx may be freed afterwards).  Returns
 * the file's index: 0, 1, 2 ... in the order of the calls. */
size_t code_dup_add(code_dup *d, const code_lexed *lx);

/* Finds the runs among the files added.  OUT: *pairs (free() it; NULL
 * when none) and *n, ordered by the later copy's file and line. */
void code_dup_find(const code_dup *d, code_dup_pair **pairs, size_t *n);

#endif
