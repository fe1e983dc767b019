/*
 * test_demo.c - `flowstate demo` end to end, as a newcomer runs it: the
 * real binary starts its own server, and every step of the story shows
 * in its output with the numbers the generated data makes certain (133
 * rows, 5 invalid, the 8 planted duplicates merged, 120 leads in memory,
 * both workflow runs completed, the learning agent's change and the
 * ef_search change applied); with --dir the database stays there.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(demo, .timeout = 300);

static void assert_has(const char *text, const char *needle)
{
    cr_assert(strstr(text, needle), "no \"%s\" in:\n%s", needle, text);
}

Test(demo, tells_the_whole_story_and_keeps_the_database_with_dir)
{
    const char *bin = getenv("FLOWSTATE_BIN"), *tmp = getenv("TMPDIR");
    cr_assert_not_null(bin);
    char dir[256], cmd[700];
    snprintf(dir, sizeof dir, "%s/fs-demo-XXXXXX", tmp ? tmp : "/tmp");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd, "'%s' demo --dir '%s/db' --rounds 6 2>&1", bin, dir);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    static char out[1 << 16];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int status = pclose(p);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit %d:\n%s", status, out);
    assert_has(out, "workflow data_processing, run 1: completed");
    assert_has(out, "validate: 128 valid, 5 invalid");
    assert_has(out, "dedupe: 8 groups of the same lead merged");
    assert_has(out, "ingest: 120 leads into the shared memory");
    assert_has(out, "it chose workflow lead_qualification");
    assert_has(out, "round 6: call_today chosen");
    assert_has(out, "-> applied");
    assert_has(out, "Summary");
    assert_has(out, "133 rows read, 5 invalid, 8 duplicate groups merged, 120 leads");
    assert_has(out, "lead_qualification run 2: completed");
    assert_has(out, "follow_up -> call_today: applied");
    assert_has(out, "memory.ef_search 64 -> ");
    char db[300];
    struct stat st;
    snprintf(db, sizeof db, "%s/db/demo.db", dir);
    cr_assert_eq(stat(db, &st), 0, "the database stays with --dir");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}
