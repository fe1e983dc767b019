/*
 * fuzz.h - what the libFuzzer targets in fuzz/ share.
 *
 * Each target fuzz/fuzz_X.c is one parser of untrusted input driven
 * through the project's own code (never a copy of it), with no network,
 * no database and no files.  It defines a plain entry point
 *
 *     int fuzz_X_one(const uint8_t *data, size_t size);   always returns 0
 *
 * and, through FUZZ_ENTRY, libFuzzer's LLVMFuzzerTestOneInput calling it.
 * Two builds use the same source:
 *
 *   make fuzz     clang -fsanitize=fuzzer,address,undefined: one fuzzer
 *                 binary per target, seeded from fuzz/corpus/fuzz_X/
 *   make test     gcc -DFUZZ_REPLAY (no LLVMFuzzerTestOneInput): the
 *                 targets linked into the Criterion binary, where
 *                 tests/fuzz/test_corpus.c replays every corpus file
 *
 * Beyond "no crash, no leak, no undefined behaviour", targets check the
 * contracts callers rely on with FUZZ_CHECK, which aborts (so libFuzzer
 * saves the input and the replay test fails) naming the broken condition.
 */
#ifndef FUZZ_FUZZ_H
#define FUZZ_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"

#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: contract broken: %s\n", __FILE__,          \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

#ifdef FUZZ_REPLAY
#define FUZZ_ENTRY(one)
#else
#define FUZZ_ENTRY(one)                                                        \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);              \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)               \
    {                                                                          \
        return one(data, size);                                                \
    }
#endif

/* data as a fresh NUL-terminated string, cut at the first NUL (as C
 * strings from headers, query strings and JSON reach the parsers).
 * The caller frees it. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    size_t n = size;
    const void *nul = memchr(data, 0, size);
    if (nul) n = (size_t)((const uint8_t *)nul - data);
    char *s = xmalloc(n + 1);
    if (n) memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

/* The entry points, for the replay test. */
int fuzz_body_one(const uint8_t *data, size_t size);
int fuzz_params_one(const uint8_t *data, size_t size);
int fuzz_time_one(const uint8_t *data, size_t size);
int fuzz_text_one(const uint8_t *data, size_t size);
int fuzz_csv_one(const uint8_t *data, size_t size);
int fuzz_wfdef_one(const uint8_t *data, size_t size);
int fuzz_cron_one(const uint8_t *data, size_t size);
int fuzz_code_one(const uint8_t *data, size_t size);
int fuzz_dp_one(const uint8_t *data, size_t size);

#endif
