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
