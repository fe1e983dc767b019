/*
 * test_serve_start.c - `flowstate serve` refuses to start on settings that
 * could never work, with a message and a non-zero exit, instead of running
 * a server nobody can use.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

/* Runs serve with the given environment prefix; returns the exit code. */
static int serve_with(const char *env)
{
    char dir[] = "/tmp/fs-start-XXXXXX", cmd[1024];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd,
             "%s timeout 20 '%s' serve --db %s/t.db --port 0 --log-level off "
             ">/dev/null 2>&1; rc=$?; rm -rf %s; exit $rc",
             env, getenv("FLOWSTATE_BIN"), dir, dir);
    int st = system(cmd);
    cr_assert(WIFEXITED(st));
    return WEXITSTATUS(st);
}

Test(serve_start, unusable_env_admin_keys_are_refused, .timeout = 60)
{
    cr_assert_eq(serve_with("FLOWSTATE_API_KEY=fsa_looks_like_an_agent_token"), 1);
    cr_assert_eq(serve_with("FLOWSTATE_API_KEY='has blanks in it'"), 1);
    char env[400] = "FLOWSTATE_API_KEY=";
    for (int i = 0; i < 300; i++) env[18 + i] = 'k';
    env[318] = '\0';
    cr_assert_eq(serve_with(env), 1, "a 300-character key can never be sent");
}

Test(serve_start, another_vector_space_is_refused, .timeout = 60)
{
    char dir[] = "/tmp/fs-space-XXXXXX", cmd[1024];
    cr_assert_not_null(mkdtemp(dir));
    const char *bin = getenv("FLOWSTATE_BIN");
    /* First start records 768-d l2 (it runs until the timeout: 124). */
    snprintf(cmd, sizeof cmd, "timeout 3 '%s' serve --db %s/t.db --port 0 "
             "--dims 768 --metric l2 --log-level off >/dev/null 2>&1", bin, dir);
    int st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 124, "first start runs");
    snprintf(cmd, sizeof cmd, "timeout 20 '%s' serve --db %s/t.db --port 0 "
             "--dims 1536 --log-level off 2>%s/err >/dev/null", bin, dir, dir);
    st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "refused, not started");
    snprintf(cmd, sizeof cmd, "grep -q 'dims 768' %s/err", dir);
    cr_assert_eq(system(cmd), 0, "the message names the recorded space");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}
