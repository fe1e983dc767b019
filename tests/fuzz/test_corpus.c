/*
 * test_corpus.c - replays the in-tree fuzz corpora through the fuzz
 * targets, so every seed and every input a fuzzer ever crashed on stays a
 * regression test without clang.
 *
 * The targets' sources (every .c in fuzz/) are built into this binary with
 * -DFUZZ_REPLAY (see fuzz/fuzz.h and the Makefile), which leaves out their
 * LLVMFuzzerTestOneInput; each test feeds every file of
 * fuzz/corpus/<target>/ (relative to the source tree, where
 * scripts/run-tests.sh runs) to the target's fuzz_<name>_one().  Under
 * `make test` ASan and UBSan turn a memory error or undefined behaviour
 * into a failed test, LeakSanitizer a leak, and a broken contract aborts
 * (FUZZ_CHECK); the path of the input being replayed is printed first.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../fuzz/fuzz.h"

#define CORPUS "fuzz/corpus"

/* The input being replayed, named when the process dies. */
static char current[512];

static void on_fatal(int sig)
{
    static const char pre[] = "\nfuzz replay: died while replaying ";
    ssize_t r = write(STDERR_FILENO, pre, sizeof pre - 1);
    r = write(STDERR_FILENO, current, strlen(current));
    r = write(STDERR_FILENO, "\n", 1);
    (void)r;
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ASan and UBSan end in abort(); ASan keeps its own SIGSEGV handler. */
static void name_crashes(void)
{
    signal(SIGABRT, on_fatal);
#ifndef __SANITIZE_ADDRESS__
    signal(SIGSEGV, on_fatal);
    signal(SIGBUS, on_fatal);
    signal(SIGFPE, on_fatal);
#endif
}

/* Reads a whole file.  OUT: *size.  NULL when it cannot be read. */
static uint8_t *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0, got;
    do {
        if (len == cap) buf = xrealloc(buf, cap = cap ? cap * 2 : 4096);
        got = fread(buf + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    bool err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return NULL;
    }
    *size = len;
    return buf;
}

/* Feeds every file of fuzz/corpus/<target>/ to one, in name order. */
static void replay(const char *target, int (*one)(const uint8_t *, size_t))
{
    char dir[256];
    struct dirent **names;
    snprintf(dir, sizeof dir, "%s/%s", CORPUS, target);
    int n = scandir(dir, &names, NULL, alphasort);
    cr_assert_geq(n, 0, "cannot read %s (run from the source tree)", dir);
    size_t replayed = 0;
    name_crashes();
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            size_t size = 0;
            snprintf(current, sizeof current, "%s/%s", dir, names[i]->d_name);
            uint8_t *data = slurp(current, &size);
            cr_assert_not_null(data, "cannot read %s", current);
            cr_assert_eq(one(data, size), 0, "%s", current);
            free(data);
            replayed++;
        }
        free(names[i]);
    }
    free(names);
    cr_assert_gt(replayed, 0, "%s is empty", dir);
}

TestSuite(fuzz, .timeout = 120);

Test(fuzz, body)
{
    replay("fuzz_body", fuzz_body_one);
}

Test(fuzz, params)
{
    replay("fuzz_params", fuzz_params_one);
}

Test(fuzz, time)
{
    replay("fuzz_time", fuzz_time_one);
}

Test(fuzz, text)
{
    replay("fuzz_text", fuzz_text_one);
}

Test(fuzz, csv)
{
    replay("fuzz_csv", fuzz_csv_one);
}

Test(fuzz, wfdef)
{
    replay("fuzz_wfdef", fuzz_wfdef_one);
}

Test(fuzz, cron)
{
    replay("fuzz_cron", fuzz_cron_one);
}

Test(fuzz, code)
{
    replay("fuzz_code", fuzz_code_one);
}

Test(fuzz, dp)
{
    replay("fuzz_dp", fuzz_dp_one);
}
