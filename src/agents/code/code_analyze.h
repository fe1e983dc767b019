/*
 * code_analyze.h - analyze_code: line counts, functions with their size,
 * McCabe complexity and nesting, Flowstate's own checks and duplicated
 * blocks for C/C++, Python and JavaScript/TypeScript sources given as
 * buffers, files or folders.
 *
 * One file's object (code_analyze_buffer, and each element of "files"):
 *
 *   {"path": "src/x.c", "language": "c",
 *    "lines": 120,                     physical lines
 *    "loc": 90, "comments": 20, "blank": 10,   (see code_lexer.h)
 *    "functions": [{"name", "line", "length", "complexity", "nesting"}],
 *    "findings": [{"line", "severity", "message", "rule", ...}],
 *    "todos": 2}
 *
 * length is in lines from the function's header to its closing brace (or
 * its last body line in Python); complexity, nesting and the rules are
 * described in code_funcs.h and code_checks.h.  Findings are ordered by
 * line.  A file that could not be analysed is {"path", "error"}.  Past
 * CODE_MAX_LISTED functions or findings, the list is cut there and the
 * full count given as "functions_total" or "findings_total" (the summary
 * counts them all).
 *
 * Several files (code_analyze_path, code_analyze, a code_batch):
 *
 *   {"files": [...],
 *    "duplicates": [{"lines": 8, "copy": {"path", "line", "end_line"},
 *                    "original": {"path", "line", "end_line"}}],
 *    "summary": {"files", "lines", "loc", "comments", "blank",
 *                "functions", "findings", "todos", "duplicates",
 *                "skipped", "errors"},
 *    "notes": ["..."]}
 *
 * and each duplicate is also a finding on both sides: {"rule":
 * "duplicate", "severity": "info", "line", "end_line", "message": "lines
 * 40-52 repeat src/b.c:10-22", "other": {"path", "line", "end_line"}}
 * (code_dup.h says what a duplicate is).  summary.files counts the files
 * analysed, skipped the files of no known language, errors the files
 * that could not be read or were over the size limit.
 *
 * Folders are walked recursively in name order, without following
 * symbolic links, skipping hidden entries (.git ...), build/,
 * node_modules/ and __pycache__/; only files of a known language
 * (code_lang_of) are read.
 */
#ifndef CODE_ANALYZE_H
#define CODE_ANALYZE_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Defaults: files per request, bytes per file and in all. */
#define CODE_MAX_FILES 5000
#define CODE_MAX_BYTES (2u << 20)
#define CODE_MAX_TOTAL (64u << 20)
/* Duplicates listed per request, functions and findings per file. */
#define CODE_MAX_DUPLICATES 1000
#define CODE_MAX_LISTED 2000

typedef struct code_options {
    size_t max_files;  /* 0: CODE_MAX_FILES; a payload may ask for fewer */
    size_t max_bytes;  /* per file; 0: CODE_MAX_BYTES; idem */
    size_t max_total;  /* bytes in all; 0: CODE_MAX_TOTAL */
    /* When set, {"path"} payloads are read relative to root and must
     * stay inside it (checked on the resolved path). */
    const char *root;
    /* Polled between files; true stops the walk (noted in "notes"). */
    bool (*cancelled)(void *ctx);
    void *ctx;
} code_options;

/*
 * Analyses one file's content, its language taken from path's extension.
 * OUT: *out, the file object (the caller owns it).  Errors: FS_EINVAL
 * for an unknown language, FS_ETOOBIG for 4 GiB or more.
 */
int code_analyze_buffer(const char *path, const char *content, size_t len,
                        json_t **out);

/*
 * Analyses a file or a folder (see top), at most max_files files of at
 * most max_bytes each (0: the defaults).  OUT: *out.  Errors:
 * FS_ENOTFOUND when path does not exist, FS_EINVAL when it is neither a
 * file nor a folder; a file that cannot be read is an error in its own
 * entry, never a failure of the whole.
 */
int code_analyze_path(const char *path, size_t max_files, size_t max_bytes,
                      json_t **out);

/*
 * The analyze_code job: payload {"files": [{"path", "content"}]} or
 * {"path": "file or folder"}, optionally with "max_files" and
 * "max_bytes" (capped by o's).  o may be NULL.  OUT: *out.  Errors:
 * FS_EINVAL for a payload of neither shape (why in err), FS_ENOTFOUND
 * and FS_EINVAL as code_analyze_path, FS_EFORBIDDEN for a path outside
 * o->root.
 */
int code_analyze(const json_t *payload, const code_options *o, json_t **out,
                 char *err, size_t errlen);

/* ---- building a result file by file -------------------------------------- */

typedef struct code_batch code_batch;

/* o is copied (its ctx borrowed); NULL for the defaults. */
code_batch *code_batch_new(const code_options *o);
/* Frees a batch not finished. */
void code_batch_free(code_batch *b);

/*
 * Analyses content as file path.  A file of no known language is
 * skipped with a note, one over the size limit or holding NUL bytes gets
 * an error entry.  Returns 0, or FS_ELIMIT once max_files files were
 * taken, max_total bytes read, or the batch was cancelled (noted once;
 * every later call returns FS_ELIMIT too).
 */
int code_batch_add(code_batch *b, const char *path, const char *content,
                   size_t len);
/* Reads and adds a file, or walks a folder (see top); errors as
 * code_analyze_path (FS_ELIMIT too). */
int code_batch_add_path(code_batch *b, const char *path);
/* Adds a line to "notes". */
void code_batch_note(code_batch *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Finds the duplicates, sorts findings, sums up.  Frees b.  Returns the
 * result (see top); the caller owns it. */
json_t *code_batch_finish(code_batch *b);

#endif
