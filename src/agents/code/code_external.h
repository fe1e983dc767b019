/*
 * code_external.h - detect_bugs: real analysers where installed
 * (cppcheck, clang-tidy) beside Flowstate's own checks, for C and C++.
 *
 * A tool is used when its binary is on PATH (code_ext_find); it runs in
 * its own process group with stdin from /dev/null, stdout and stderr
 * read together, and is killed with its children once timeout_s pass
 * (what it printed until then is still used).  Its output is parsed into
 * findings:
 *
 *   {"path", "line", "column", "severity", "rule", "message", "tool"}
 *
 *   cppcheck   --enable=warning,style,performance,portability --quiet
 *              --template='{file}\t{line}\t{column}\t{severity}\t{id}\t
 *              {message}' over all the C/C++ files in one run; severity
 *              error -> "error", warning -> "warning", style,
 *              performance and portability -> "info" (the tool's own word
 *              kept as "tool_severity"); "information" lines (missing
 *              system headers ...) are left out.
 *   clang-tidy --quiet FILES -- ARGS, one run for the C files and one for
 *              the C++ ones (at most max_tidy_files files in all): the
 *              `file:line:col: warning|error: message [check]` lines;
 *              notes are left out, and "file not found" errors become
 *              notes of the result (the file was analysed without that
 *              header).
 *
 * Paths in findings are the ones of the request: a {"files"} payload is
 * written to a private temporary folder for the tools (removed after),
 * and its paths are mapped back.  Flowstate's own findings of the rules
 * that point at bugs (unsafe-call, bare-except, mutable-default, eval,
 * eqeqeq) are included with "tool": "flowstate", for every language.
 */
#ifndef CODE_EXTERNAL_H
#define CODE_EXTERNAL_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "agents/code/code_analyze.h"

#define CODE_EXT_TIMEOUT_S 120
#define CODE_EXT_MAX_OUTPUT (8u << 20)
#define CODE_EXT_MAX_TIDY_FILES 50

typedef struct code_ext_options {
    int timeout_s;          /* per tool run; 0: CODE_EXT_TIMEOUT_S */
    size_t max_output;      /* bytes kept per run; 0: CODE_EXT_MAX_OUTPUT */
    size_t max_tidy_files;  /* 0: CODE_EXT_MAX_TIDY_FILES */
    /* Compiler arguments for clang-tidy after "--", NULL-terminated;
     * NULL: -std=c11 (C++: -std=c++17) -D_GNU_SOURCE, and -I for the
     * folder analysed and its src/ and include/. */
    const char *const *tidy_args;
    bool no_cppcheck, no_clang_tidy;
    code_options analyze;   /* limits, root and cancellation of the walk */
} code_ext_options;

/* Is name an executable file in one of PATH's folders?  OUT: its path
 * in out[0..cap) (may be NULL). */
bool code_ext_find(const char *name, char *out, size_t cap);

typedef struct code_ext_limits {
    int timeout_s;     /* 0: CODE_EXT_TIMEOUT_S */
    size_t max_output; /* bytes kept; 0: CODE_EXT_MAX_OUTPUT */
    /* Polled every 100 ms while the tool runs; true kills it. */
    bool (*cancelled)(void *ctx);
    void *ctx;
} code_ext_limits;

typedef struct code_ext_output {
    char *text;     /* stdout and stderr, NUL-terminated; free() it */
    size_t len;
    bool truncated; /* more than max_output bytes were printed */
    bool timed_out; /* killed after timeout_s */
    bool cancelled; /* killed because cancelled() said so */
    int status;     /* exit code, or -signal */
} code_ext_output;

/*
 * Runs argv (argv[0] a path to the binary, NULL-terminated) as described
 * at the top, within l.  OUT: *r (free r->text, whatever is returned).
 * Errors: FS_EIO when it cannot be started (no pipe or fork), which is
 * also when exec fails (status 127 and no output).
 */
int code_ext_run(const char *const *argv, const code_ext_limits *l,
                 code_ext_output *r);

/* Parse a tool's output, appending findings (with "tool") to findings.
 * clang-tidy's "file not found" errors go to notes as {"path", "line",
 * "message"}.  Return how many findings were added.  Lines of other
 * shapes are ignored. */
size_t code_ext_parse_cppcheck(const char *text, size_t len,
                               json_t *findings);
size_t code_ext_parse_clang_tidy(const char *text, size_t len,
                                 json_t *findings, json_t *notes);

/*
 * The detect_bugs job: payload as code_analyze's.  OUT: *out,
 *   {"findings": [...] (by path, line),
 *    "tools": [{"name", "status", "findings", "ms"}],
 *    "summary": {"files", "findings", "errors", "warnings", "infos"},
 *    "notes": [...]}
 * status: "ok", "not installed", "timed out", "cancelled" (o->analyze's
 * cancelled() said so), "failed" (could not start), "skipped" (no C/C++
 * files, or turned off).  o may be NULL.  Errors: as code_analyze (why
 * in err); a tool failing is a status, not an error.
 */
int code_ext_detect(const json_t *payload, const code_ext_options *o,
                    json_t **out, char *err, size_t errlen);

#endif
