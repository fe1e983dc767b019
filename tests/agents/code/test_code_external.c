/*
 * test_code_external.c - detect_bugs: cppcheck and clang-tidy output
 * parsed from captured samples (cppcheck 2.10 with our template, and
 * clang-tidy 14 with its notes, source excerpts and a missing header);
 * finding tools on PATH; running a tool (output from both streams, exit
 * status, truncation, a timeout that kills the whole process group, a
 * binary that cannot start, a cancellation); and detect_bugs end to end
 * with fake tools in a temporary folder put first on PATH (paths mapped
 * back from the private copy of a {"files"} payload, our own findings
 * beside, absent tools noted, a tool timing out), plus the real tools
 * when installed.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agents/code/code_external.h"
#include "core/clock.h"
#include "core/fs.h"
#include "core/xmem.h"

TestSuite(code_external, .timeout = 60);

/* cppcheck 2.10 --enable=warning,style,performance,portability --quiet
 * --template='{file}\t{line}\t{column}\t{severity}\t{id}\t{message}', on
 * a file with an off-by-one loop, a strcpy overflow, `if (n = 3)` and a
 * leaked FILE; two lines of another run, a progress line and an
 * information line added. */
static const char CPPCHECK_OUT[] =
    "Checking bad.c ...\n"
    "bad.c\t9\t43\terror\tarrayIndexOutOfBounds\tArray 'buf[10]' accessed "
    "at index 10, which is out of bounds.\n"
    "bad.c\t11\t12\terror\tbufferAccessOutOfBounds\tBuffer is accessed out "
    "of bounds: p\n"
    "bad.c\t12\t11\tstyle\tknownConditionTrueFalse\tCondition 'n=3' is "
    "always true\n"
    "bad.c\t22\t1\terror\tresourceLeak\tResource leak: f\n"
    "bad.c\t7\t9\tstyle\tconstVariable\tVariable 'buf' can be declared as "
    "const array\n"
    "bad.c\t9\t40\terror\tuninitvar\tUninitialized variable: buf\n"
    "bad.c\t9\t43\terror\tlegacyUninitvar\tUninitialized variable: buf[i]\n"
    "bad.c\t12\t11\tstyle\tunreadVariable\tVariable 'n' is assigned a value "
    "that is never used.\n"
    "bad.c\t7\t9\tstyle\tunassignedVariable\tVariable 'buf' is not assigned "
    "a value.\n"
    "nofile\t0\t0\tinformation\tmissingIncludeSystem\tCppcheck cannot find "
    "all the include files (use --check-config for details)\n"
    "src/x.c\t40\t5\tperformance\tpassedByValue\tFunction parameter 'v' "
    "should be passed by const reference.\n"
    "src/x.c\t41\t5\twarning\tinvalidPrintfArgType_sint\t%d in format "
    "string (no. 1) requires 'int' but the argument type is 'long'.\r\n";

/* clang-tidy 14 --quiet bad.c miss.c -- -std=c11 (stdout and stderr), and
 * one diagnostic without a check name. */
static const char TIDY_OUT[] =
    "/tmp/ca-sample/bad.c:9:37: warning: Assigned value is garbage or "
    "undefined [clang-analyzer-core.uninitialized.Assign]\n"
    "    for (int i = 0; i <= 10; i++) s += buf[i];\n"
    "                                    ^  ~~~~~~\n"
    "/tmp/ca-sample/bad.c:9:10: note: 'i' initialized to 0\n"
    "    for (int i = 0; i <= 10; i++) s += buf[i];\n"
    "         ^~~~~\n"
    "/tmp/ca-sample/bad.c:11:5: warning: Call to function 'strcpy' is "
    "insecure as it does not provide bounding of the memory buffer. Replace "
    "unbounded copy functions with analogous functions that support length "
    "arguments such as 'strlcpy'. CWE-119 "
    "[clang-analyzer-security.insecureAPI.strcpy]\n"
    "    strcpy(p, \"hello world, too long\");\n"
    "    ^~~~~~\n"
    "/tmp/ca-sample/bad.c:12:9: warning: Although the value stored to 'n' is "
    "used in the enclosing expression, the value is never actually read from "
    "'n' [clang-analyzer-deadcode.DeadStores]\n"
    "/tmp/ca-sample/bad.c:12:11: warning: using the result of an assignment "
    "as a condition without parentheses [clang-diagnostic-parentheses]\n"
    "    if (n = 3) s++;\n"
    "        ~~^~~\n"
    "/tmp/ca-sample/bad.c:12:11: note: place parentheses around the "
    "assignment to silence this warning\n"
    "/tmp/ca-sample/miss.c:1:10: error: 'nothere.h' file not found "
    "[clang-diagnostic-error]\n"
    "#include <nothere.h>\n"
    "         ^~~~~~~~~~~\n"
    "/src/k.cpp:3:1: error: unknown type name 'foo'\n"
    "4 warnings and 2 errors generated.\n"
    "Error while processing /tmp/ca-sample/miss.c.\n";

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    cr_assert_not_null(s, "no string %s", key);
    return s;
}

static long num(const json_t *o, const char *key)
{
    return (long)json_integer_value(json_object_get(o, key));
}

Test(code_external, parse_cppcheck)
{
    json_t *f = json_array();
    cr_assert_eq(code_ext_parse_cppcheck(CPPCHECK_OUT, strlen(CPPCHECK_OUT),
                                         f),
                 11);
    json_t *a = json_array_get(f, 0);
    cr_expect_str_eq(str(a, "path"), "bad.c");
    cr_expect_eq(num(a, "line"), 9);
    cr_expect_eq(num(a, "column"), 43);
    cr_expect_str_eq(str(a, "severity"), "error");
    cr_expect_str_eq(str(a, "rule"), "arrayIndexOutOfBounds");
    cr_expect_str_eq(str(a, "message"),
                     "Array 'buf[10]' accessed at index 10, which is out of "
                     "bounds.");
    cr_expect_str_eq(str(a, "tool"), "cppcheck");
    json_t *style = json_array_get(f, 2);
    cr_expect_str_eq(str(style, "severity"), "info");
    cr_expect_str_eq(str(style, "tool_severity"), "style");
    json_t *last = json_array_get(f, 10);
    cr_expect_str_eq(str(last, "severity"), "warning");
    cr_expect_str_eq(str(last, "message"),
                     "%d in format string (no. 1) requires 'int' but the "
                     "argument type is 'long'.");
    json_decref(f);
}

Test(code_external, parse_clang_tidy)
{
    json_t *f = json_array(), *notes = json_array();
    cr_assert_eq(code_ext_parse_clang_tidy(TIDY_OUT, strlen(TIDY_OUT), f,
                                           notes),
                 5);
    json_t *a = json_array_get(f, 1);
    cr_expect_str_eq(str(a, "path"), "/tmp/ca-sample/bad.c");
    cr_expect_eq(num(a, "line"), 11);
    cr_expect_eq(num(a, "column"), 5);
    cr_expect_str_eq(str(a, "severity"), "warning");
    cr_expect_str_eq(str(a, "rule"),
                     "clang-analyzer-security.insecureAPI.strcpy");
    cr_expect(!strncmp(str(a, "message"), "Call to function 'strcpy'", 25));
    cr_expect_str_eq(str(a, "tool"), "clang-tidy");
    json_t *e = json_array_get(f, 4);
    cr_expect_str_eq(str(e, "severity"), "error");
    cr_expect_str_eq(str(e, "rule"), "clang-tidy", "no check name");
    cr_expect_str_eq(str(e, "message"), "unknown type name 'foo'");
    cr_assert_eq(json_array_size(notes), 1);
    cr_expect_str_eq(str(json_array_get(notes, 0), "message"),
                     "'nothere.h' file not found");
    json_decref(f);
    json_decref(notes);
}

Test(code_external, parse_ignores_other_lines)
{
    static const char junk[] = "no\ttabs enough\n\t\t\t\t\t\n"
                               "x:y:z: warning: not numbers\n"
                               "a.c:0:1: warning: line zero\n"
                               ": warning: \n\n";
    json_t *f = json_array(), *notes = json_array();
    cr_expect_eq(code_ext_parse_cppcheck(junk, strlen(junk), f), 0);
    cr_expect_eq(code_ext_parse_clang_tidy(junk, strlen(junk), f, notes), 0);
    cr_expect_eq(json_array_size(f), 0);
    json_decref(f);
    json_decref(notes);
}

/* ---- fake tools ---------------------------------------------------------- */

/* A fresh folder under TMPDIR. */
static char *temp_dir(void)
{
    const char *t = getenv("TMPDIR");
    char *d = xasprintf("%s/code-ext-XXXXXX", t && *t ? t : "/tmp");
    cr_assert_not_null(mkdtemp(d));
    return d;
}

static void rm_tree(char *dir)
{
    char *cmd = xasprintf("/bin/rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
    free(cmd);
    free(dir);
}

/* Writes an executable script dir/name. */
static char *script(const char *dir, const char *name, const char *body)
{
    char *p = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fprintf(f, "#!/bin/sh\n%s", body);
    fclose(f);
    cr_assert_eq(chmod(p, 0755), 0);
    return p;
}

static const char FAKE_CPPCHECK[] =
    "for a in \"$@\"; do\n"
    "  case \"$a\" in\n"
    "    -*) ;;\n"
    "    *) printf '%s\\t3\\t5\\terror\\tnullPointer\\tNull pointer "
    "dereference: p\\n' \"$a\" >&2 ;;\n"
    "  esac\n"
    "done\n"
    "printf 'nofile\\t0\\t0\\tinformation\\tmissingIncludeSystem\\tno\\n' "
    ">&2\n";

static const char FAKE_TIDY[] =
    "echo \"$@\" > \"${0%/*}/tidy.args\"\n"
    "files=1\n"
    "for a in \"$@\"; do\n"
    "  [ \"$a\" = \"--\" ] && files=0\n"
    "  if [ $files = 1 ]; then\n"
    "    case \"$a\" in\n"
    "      -*) ;;\n"
    "      *) echo \"$a:4:2: warning: fake finding [bugprone-fake]\"\n"
    "         echo \"$a:4:2: note: a note\"\n"
    "         echo \"    code\" ;;\n"
    "    esac\n"
    "  fi\n"
    "done\n"
    "echo '2 warnings generated.' >&2\n"
    "exit 1\n";

Test(code_external, find_on_path)
{
    char *dir = temp_dir();
    free(script(dir, "mytool", "exit 0\n"));
    char *path = xasprintf("/nonexistent:%s:/bin", dir);
    setenv("PATH", path, 1);
    char out[4096];
    cr_expect(code_ext_find("mytool", out, sizeof out));
    char *want = xasprintf("%s/mytool", dir);
    cr_expect_str_eq(out, want);
    cr_expect_not(code_ext_find("no-such-tool-here", out, sizeof out));
    cr_expect_not(code_ext_find("x/mytool", out, sizeof out));
    char *plain = xasprintf("%s/plain", dir);
    FILE *f = fopen(plain, "w");
    fclose(f);
    cr_expect_not(code_ext_find("plain", NULL, 0), "not executable");
    free(plain);
    free(want);
    free(path);
    rm_tree(dir);
}

Test(code_external, run_collects_both_streams_and_status)
{
    char *dir = temp_dir();
    char *p = script(dir, "t", "echo out; echo err >&2; exit 3\n");
    const char *argv[] = { p, NULL };
    code_ext_output r;
    code_ext_limits l = { .timeout_s = 10 };
    cr_assert_eq(code_ext_run(argv, &l, &r), 0);
    cr_expect_eq(r.status, 3);
    cr_expect_not(r.timed_out);
    cr_expect_not_null(strstr(r.text, "out\n"));
    cr_expect_not_null(strstr(r.text, "err\n"));
    free(r.text);
    free(p);
    rm_tree(dir);
}

Test(code_external, run_truncates_but_drains)
{
    char *dir = temp_dir();
    char *p = script(dir, "t",
                     "i=0\n"
                     "while [ $i -lt 3000 ]; do\n"
                     "  echo 0123456789012345678901234567890123456789\n"
                     "  i=$((i+1))\n"
                     "done\n");
    const char *argv[] = { p, NULL };
    code_ext_output r;
    code_ext_limits l = { .timeout_s = 30, .max_output = 1000 };
    cr_assert_eq(code_ext_run(argv, &l, &r), 0);
    cr_expect_eq(r.len, 1000);
    cr_expect_eq(strlen(r.text), 1000);
    cr_expect(r.truncated);
    cr_expect_not(r.timed_out, "120 kB were read to the end");
    cr_expect_eq(r.status, 0);
    free(r.text);
    free(p);
    rm_tree(dir);
}

/* Is process pid gone (or a zombie nobody reaps)? */
static bool gone(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *close = strrchr(buf, ')');
    return close && close[1] == ' ' && close[2] == 'Z';
}

Test(code_external, run_timeout_kills_the_group)
{
    char *dir = temp_dir();
    char *pidfile = xasprintf("%s/child.pid", dir);
    char *body = xasprintf("echo started\n/bin/sleep 30 &\necho $! > %s\n"
                           "/bin/sleep 30\n",
                           pidfile);
    char *p = script(dir, "t", body);
    const char *argv[] = { p, NULL };
    code_ext_output r;
    code_ext_limits l = { .timeout_s = 1 };
    int64_t t0 = fs_mono_ms();
    cr_assert_eq(code_ext_run(argv, &l, &r), 0);
    int64_t took = fs_mono_ms() - t0;
    cr_expect(r.timed_out);
    cr_expect_eq(r.status, -SIGKILL);
    cr_expect_geq(took, 900);
    cr_expect_lt(took, 5000);
    cr_expect_str_eq(r.text, "started\n", "output until the kill is kept");
    FILE *f = fopen(pidfile, "r");
    cr_assert_not_null(f);
    int bg = 0;
    cr_assert_eq(fscanf(f, "%d", &bg), 1);
    fclose(f);
    for (int i = 0; i < 200 && !gone(bg); i++) usleep(10000);
    cr_expect(gone(bg), "the background sleep died with the group");
    free(r.text);
    free(p);
    free(body);
    free(pidfile);
    rm_tree(dir);
}

Test(code_external, run_that_cannot_start)
{
    const char *argv[] = { "/nonexistent/tool", NULL };
    code_ext_output r;
    code_ext_limits l = { .timeout_s = 5 };
    cr_expect_eq(code_ext_run(argv, &l, &r), FS_EIO);
    free(r.text);
}

static bool third_poll(void *ctx)
{
    return ++*(int *)ctx >= 3;
}

Test(code_external, run_cancelled)
{
    char *dir = temp_dir();
    char *p = script(dir, "t", "/bin/sleep 30\n");
    const char *argv[] = { p, NULL };
    int polls = 0;
    code_ext_limits l = { .timeout_s = 30, .cancelled = third_poll,
                          .ctx = &polls };
    code_ext_output r;
    int64_t t0 = fs_mono_ms();
    cr_assert_eq(code_ext_run(argv, &l, &r), 0);
    cr_expect_lt(fs_mono_ms() - t0, 5000, "polled every 100 ms");
    cr_expect(r.cancelled);
    cr_expect_not(r.timed_out);
    cr_expect_eq(r.status, -SIGKILL);
    free(r.text);
    free(p);
    rm_tree(dir);
}

/* ---- detect_bugs --------------------------------------------------------- */

static json_t *payload(void)
{
    return json_pack(
        "{s:[{s:s,s:s},{s:s,s:s},{s:s,s:s}]}", "files", "path", "lib/a.c",
        "content",
        "#include <string.h>\nvoid f(char *d)\n{\n    strcpy(d, \"x\");\n}\n",
        "path", "../evil/b.c", "content", "int b;\n", "path", "m.py",
        "content", "def f(x=[]):\n    pass\n");
}

/* The finding of detect's result at path and line from tool. */
static json_t *finding(const json_t *r, const char *path, long line,
                       const char *tool)
{
    size_t i;
    json_t *f;
    json_array_foreach (json_object_get(r, "findings"), i, f)
        if (!strcmp(str(f, "path"), path) && num(f, "line") == line &&
            !strcmp(str(f, "tool"), tool))
            return f;
    return NULL;
}

static const char *tool_status(const json_t *r, const char *name)
{
    size_t i;
    json_t *t;
    json_array_foreach (json_object_get(r, "tools"), i, t)
        if (!strcmp(str(t, "name"), name)) return str(t, "status");
    return NULL;
}

Test(code_external, detect_with_fake_tools)
{
    char *dir = temp_dir(), *bin = xasprintf("%s/bin", dir);
    char *tmp = xasprintf("%s/tmp", dir);
    mkdir(bin, 0700);
    mkdir(tmp, 0700);
    free(script(bin, "cppcheck", FAKE_CPPCHECK));
    free(script(bin, "clang-tidy", FAKE_TIDY));
    setenv("PATH", bin, 1);
    setenv("TMPDIR", tmp, 1);
    json_t *p = payload(), *r;
    char err[256];
    cr_assert_eq(code_ext_detect(p, NULL, &r, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(tool_status(r, "cppcheck"), "ok");
    cr_expect_str_eq(tool_status(r, "clang-tidy"), "ok");
    /* The tools saw the private copies; the findings name the request's
     * paths, ../evil/b.c included (written as f1_b.c). */
    json_t *f = finding(r, "lib/a.c", 3, "cppcheck");
    cr_assert_not_null(f);
    cr_expect_str_eq(str(f, "rule"), "nullPointer");
    cr_expect_str_eq(str(f, "severity"), "error");
    cr_expect_not_null(finding(r, "../evil/b.c", 3, "cppcheck"));
    f = finding(r, "lib/a.c", 4, "clang-tidy");
    cr_assert_not_null(f);
    cr_expect_str_eq(str(f, "rule"), "bugprone-fake");
    cr_expect_not_null(finding(r, "../evil/b.c", 4, "clang-tidy"));
    cr_expect_not_null(finding(r, "lib/a.c", 4, "flowstate"), "strcpy");
    cr_expect_not_null(finding(r, "m.py", 1, "flowstate"), "x=[]");
    json_t *sum = json_object_get(r, "summary");
    cr_expect_eq(num(sum, "findings"), 6);
    cr_expect_eq(num(sum, "errors"), 2);
    cr_expect_eq(num(sum, "warnings"), 4);
    cr_expect_eq(num(sum, "files"), 3);
    const char *first = str(json_array_get(json_object_get(r, "findings"), 0),
                            "path");
    cr_expect_str_eq(first, "../evil/b.c", "ordered by path");
    /* clang-tidy got the default arguments, the snprintf check off. */
    char *args = xasprintf("%s/tidy.args", bin);
    FILE *a = fopen(args, "r");
    cr_assert_not_null(a);
    char line[8192] = "";
    cr_expect_not_null(fgets(line, sizeof line, a));
    fclose(a);
    cr_expect_not_null(strstr(line, "--quiet --checks=-clang-analyzer-"
                                    "security.insecureAPI."));
    cr_expect_not_null(strstr(line, " -- -std=c11 -D_GNU_SOURCE -I"));
    cr_expect_not_null(strstr(line, "/f1_b.c"));
    /* The private copy is gone. */
    char *cmd = xasprintf("test -z \"$(/bin/ls -A '%s')\"", tmp);
    cr_expect_eq(system(cmd), 0, "TMPDIR is empty again");
    free(cmd);
    free(args);
    json_decref(r);
    json_decref(p);
    free(bin);
    free(tmp);
    rm_tree(dir);
}

Test(code_external, detect_without_tools)
{
    char *dir = temp_dir();
    setenv("PATH", dir, 1);
    json_t *p = payload(), *r;
    char err[256];
    cr_assert_eq(code_ext_detect(p, NULL, &r, err, sizeof err), 0);
    cr_expect_str_eq(tool_status(r, "cppcheck"), "not installed");
    cr_expect_str_eq(tool_status(r, "clang-tidy"), "not installed");
    json_t *notes = json_object_get(r, "notes");
    size_t i, seen = 0;
    json_t *n;
    json_array_foreach (notes, i, n) {
        const char *s = json_string_value(n);
        seen += !strcmp(s, "cppcheck not installed") ||
                !strcmp(s, "clang-tidy not installed");
    }
    cr_expect_eq(seen, 2);
    cr_expect_eq(num(json_object_get(r, "summary"), "findings"), 2,
                 "our own checks still run");
    json_decref(r);
    json_decref(p);
    p = json_pack("{s:s}", "nothing", "here");
    cr_expect_eq(code_ext_detect(p, NULL, &r, err, sizeof err), FS_EINVAL);
    json_decref(p);
    rm_tree(dir);
}

Test(code_external, detect_tool_timeout)
{
    char *dir = temp_dir();
    free(script(dir, "cppcheck", "echo 'x.c\t1\t1\terror\tid\tearly' >&2\n"
                                 "/bin/sleep 30\n"));
    setenv("PATH", dir, 1);
    code_ext_options o = { .timeout_s = 1, .no_clang_tidy = true };
    json_t *p = payload(), *r;
    char err[256];
    int64_t t0 = fs_mono_ms();
    cr_assert_eq(code_ext_detect(p, &o, &r, err, sizeof err), 0);
    cr_expect_lt(fs_mono_ms() - t0, 10000);
    cr_expect_str_eq(tool_status(r, "cppcheck"), "timed out");
    cr_expect_str_eq(tool_status(r, "clang-tidy"), "skipped");
    cr_expect_not_null(finding(r, "x.c", 1, "cppcheck"),
                       "what it printed before the kill is kept");
    json_decref(r);
    json_decref(p);
    rm_tree(dir);
}

Test(code_external, detect_with_real_tools_when_installed)
{
    if (!code_ext_find("cppcheck", NULL, 0))
        cr_skip_test("cppcheck not installed");
    json_t *p = json_pack("{s:[{s:s,s:s}]}", "files", "path", "src/oob.c",
                          "content",
                          "int sum(void)\n"
                          "{\n"
                          "    int buf[10] = { 0 }, s = 0;\n"
                          "    for (int i = 0; i <= 10; i++) s += buf[i];\n"
                          "    return s;\n"
                          "}\n");
    code_ext_options o = { .no_clang_tidy = true };
    json_t *r;
    char err[256];
    cr_assert_eq(code_ext_detect(p, &o, &r, err, sizeof err), 0);
    cr_expect_str_eq(tool_status(r, "cppcheck"), "ok");
    json_t *f = finding(r, "src/oob.c", 4, "cppcheck");
    cr_assert_not_null(f, "cppcheck sees buf[10]");
    cr_expect_str_eq(str(f, "rule"), "arrayIndexOutOfBounds");
    json_decref(r);
    json_decref(p);
}
