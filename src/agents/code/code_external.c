/*
 * code_external.c - cppcheck and clang-tidy beside our own checks (see
 * code_external.h for how they are run and read).
 *
 * code_ext_detect: analyse the payload with code_analyze (our findings,
 * and the list of C/C++ files), turn each C/C++ file into a target (its
 * path on disk, absolute, and the path the request used; a {"files"}
 * payload is written under a mkdtemp folder first), run each tool on the
 * targets, map the paths it prints back, sort, sum up, remove the folder.
 *
 * code_ext_run: fork; the child makes its own process group, takes
 * /dev/null as stdin and the pipe as stdout and stderr, and execs (only
 * async-signal-safe calls between fork and exec, so it is safe from a
 * threaded server).  The parent polls the pipe until EOF, the deadline
 * or a cancellation (checked every POLL_MS), keeping at most max_output
 * bytes but draining the rest, then waits for the child until the
 * deadline; past it, or when cancelled, the whole group gets SIGKILL.
 */
#include "agents/code/code_external.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agents/code/code_checks.h"
#include "core/clock.h"
#include "core/fs.h"
#include "core/xmem.h"

/* Added to the project's checks: this one flags every snprintf. */
#define TIDY_CHECKS                                                            \
    "--checks=-clang-analyzer-security.insecureAPI."                          \
    "DeprecatedOrUnsafeBufferHandling"
/* How often a running tool's cancellation is polled. */
#define POLL_MS 100
#define CPPCHECK_TEMPLATE                                                      \
    "--template={file}\t{line}\t{column}\t{severity}\t{id}\t{message}"

/* ---- finding and running tools ------------------------------------------- */

bool code_ext_find(const char *name, char *out, size_t cap)
{
    const char *path = getenv("PATH");
    if (!path || strchr(name, '/')) return false;
    for (const char *p = path;; p++) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char full[PATH_MAX];
        struct stat st;
        int w = snprintf(full, sizeof full, "%.*s/%s", n ? (int)n : 1,
                         n ? p : ".", name);
        if (w > 0 && (size_t)w < sizeof full && !access(full, X_OK) &&
            !stat(full, &st) && S_ISREG(st.st_mode)) {
            if (out && cap) snprintf(out, cap, "%s", full);
            return true;
        }
        if (!end) return false;
        p = end;
    }
}

static _Noreturn void child(const char *const *argv, int in, int out)
{
    setpgid(0, 0);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) _exit(127);
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

enum { RUN_EOF, RUN_LATE, RUN_CANCELLED };

static bool stop_asked(const code_ext_limits *l)
{
    return l->cancelled && l->cancelled(l->ctx);
}

/* Reads fd into r until EOF, the deadline or a cancellation (which). */
static int collect(code_ext_output *r, int fd, const code_ext_limits *l,
                   int64_t deadline)
{
    char chunk[16384];
    size_t cap = 0, max = l->max_output ? l->max_output : CODE_EXT_MAX_OUTPUT;
    for (;;) {
        int64_t left = deadline - fs_mono_ms();
        if (left <= 0) return RUN_LATE;
        if (stop_asked(l)) return RUN_CANCELLED;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int k = poll(&p, 1, left > POLL_MS ? POLL_MS : (int)left);
        if (k < 0 && errno == EINTR) continue;
        if (k == 0) continue;
        ssize_t n = k < 0 ? -1 : read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return RUN_EOF;
        size_t keep = (size_t)n < max - r->len ? (size_t)n : max - r->len;
        if (keep < (size_t)n) r->truncated = true;
        if (r->len + keep + 1 > cap) {
            cap = (r->len + keep + 1) * 2;
            r->text = xrealloc(r->text, cap);
        }
        memcpy(r->text + r->len, chunk, keep);
        r->len += keep;
    }
}

/* Waits for pid until the deadline, then (or at once when kill_now)
 * kills its group; *late tells whether the deadline did it. */
static int reap(pid_t pid, bool kill_now, int64_t deadline, bool *late)
{
    int st = 0;
    pid_t w = 0;
    while (!kill_now && (w = waitpid(pid, &st, WNOHANG)) == 0) {
        if (fs_mono_ms() >= deadline) {
            *late = true;
            break;
        }
        nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
    }
    if (w == 0) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {}
    }
    if (w < 0) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

int code_ext_run(const char *const *argv, const code_ext_limits *l,
                 code_ext_output *r)
{
    memset(r, 0, sizeof *r);
    int fds[2], rc = FS_EIO;
    if (pipe2(fds, O_CLOEXEC) < 0) return FS_EIO;
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0) goto close_pipe;
    int timeout_s = l->timeout_s > 0 ? l->timeout_s : CODE_EXT_TIMEOUT_S;
    int64_t deadline = fs_mono_ms() + 1000LL * timeout_s;
    pid_t pid = fork();
    if (pid < 0) goto close_null;
    if (pid == 0) child(argv, null, fds[1]);
    setpgid(pid, pid);
    close(fds[1]);
    fds[1] = -1;
    int why = collect(r, fds[0], l, deadline);
    bool late = false;
    r->status = reap(pid, why != RUN_EOF, deadline, &late);
    r->timed_out = why == RUN_LATE || late;
    r->cancelled = why == RUN_CANCELLED;
    r->text = xrealloc(r->text, r->len + 1);
    r->text[r->len] = '\0';
    rc = r->status == 127 && !r->len ? FS_EIO : 0;
close_null:
    close(null);
close_pipe:
    close(fds[0]);
    if (fds[1] >= 0) close(fds[1]);
    return rc;
}

/* ---- parsing their output ------------------------------------------------ */

/* The next line of text[*at..len), NUL-free copy in buf.  false at end. */
static bool next_line(const char *text, size_t len, size_t *at, char *buf,
                      size_t cap)
{
    if (*at >= len) return false;
    const char *nl = memchr(text + *at, '\n', len - *at);
    size_t n = (nl ? (size_t)(nl - text) : len) - *at;
    size_t keep = n < cap - 1 ? n : cap - 1;
    memcpy(buf, text + *at, keep);
    buf[keep] = '\0';
    if (keep && buf[keep - 1] == '\r') buf[keep - 1] = '\0';
    *at += n + 1;
    return true;
}

/* A positive decimal number filling s (NUL-terminated), or 0. */
static long number(const char *s)
{
    char *end;
    long v = *s >= '0' && *s <= '9' ? strtol(s, &end, 10) : 0;
    return v > 0 && !*end ? v : 0;
}

static json_t *tool_finding(const char *path, long line, long col,
                            const char *severity, const char *rule,
                            const char *message, const char *tool)
{
    json_t *f = json_object();
    json_object_set_new(f, "path", code_check_string(path, strlen(path)));
    json_object_set_new(f, "line", json_integer(line));
    json_object_set_new(f, "column", json_integer(col));
    json_object_set_new(f, "severity", json_string(severity));
    json_object_set_new(f, "rule", code_check_string(rule, strlen(rule)));
    json_object_set_new(f, "message",
                        code_check_string(message, strlen(message)));
    json_object_set_new(f, "tool", json_string(tool));
    return f;
}

/* Splits s at its first max-1 tabs into field[].  Returns the count. */
static size_t split_tabs(char *s, char **field, size_t max)
{
    size_t n = 0;
    field[n++] = s;
    while (n < max && (s = strchr(s, '\t'))) {
        *s++ = '\0';
        field[n++] = s;
    }
    return n;
}

static const char *cppcheck_severity(const char *sev)
{
    if (!strcmp(sev, "error")) return "error";
    if (!strcmp(sev, "warning")) return "warning";
    return "info";
}

size_t code_ext_parse_cppcheck(const char *text, size_t len, json_t *findings)
{
    char buf[8192], *field[6];
    size_t at = 0, count = 0;
    while (next_line(text, len, &at, buf, sizeof buf)) {
        if (split_tabs(buf, field, 6) < 6) continue;
        long line = number(field[1]);
        if (!line || !strcmp(field[3], "information")) continue;
        json_t *f = tool_finding(field[0], line, number(field[2]),
                                 cppcheck_severity(field[3]), field[4],
                                 field[5], "cppcheck");
        json_object_set_new(f, "tool_severity",
                            code_check_string(field[3], strlen(field[3])));
        json_array_append_new(findings, f);
        count++;
    }
    return count;
}

/* Splits "path:line:col: kind: message [check]" in place.  false when the
 * line is not a diagnostic. */
static bool tidy_line(char *buf, char **path, long *line, long *col,
                      char **kind, char **msg, char **check)
{
    static const char *const kinds[] = { ": warning: ", ": error: ",
                                         ": note: " };
    char *k = NULL;
    for (size_t i = 0; i < 3 && !k; i++) k = strstr(buf, kinds[i]);
    if (!k) return false;
    *k = '\0';
    *kind = k + 2;
    *msg = strchr(*kind, ':');
    *(*msg)++ = '\0';
    (*msg)++;
    char *c = strrchr(buf, ':');
    if (!c) return false;
    *c = '\0';
    char *l = strrchr(buf, ':');
    if (!l) return false;
    *l = '\0';
    *path = buf;
    *line = number(l + 1);
    *col = number(c + 1);
    *check = NULL;
    size_t n = strlen(*msg);
    char *open = n && (*msg)[n - 1] == ']' ? strrchr(*msg, '[') : NULL;
    if (open && open > *msg && open[-1] == ' ') {
        open[-1] = '\0';
        (*msg)[n - 1] = '\0';
        *check = open + 1;
    }
    return *line > 0 && **path;
}

size_t code_ext_parse_clang_tidy(const char *text, size_t len,
                                 json_t *findings, json_t *notes)
{
    char buf[8192], *path, *kind, *msg, *check;
    long line, col;
    size_t at = 0, count = 0;
    while (next_line(text, len, &at, buf, sizeof buf)) {
        if (!tidy_line(buf, &path, &line, &col, &kind, &msg, &check) ||
            !strcmp(kind, "note"))
            continue;
        if (strstr(msg, "file not found")) {
            json_array_append_new(
                notes, json_pack("{s:o,s:I,s:o}", "path",
                                 code_check_string(path, strlen(path)),
                                 "line", (json_int_t)line, "message",
                                 code_check_string(msg, strlen(msg))));
            continue;
        }
        json_array_append_new(findings,
                              tool_finding(path, line, col, kind,
                                           check ? check : "clang-tidy", msg,
                                           "clang-tidy"));
        count++;
    }
    return count;
}

/* ---- detect_bugs --------------------------------------------------------- */

typedef struct target {
    char *disk;          /* absolute */
    const char *display; /* as the request named it (borrowed) */
    bool cpp;
} target;

typedef struct job {
    const code_ext_options *o;
    target *t;
    size_t n, cap;
    char *tmp;  /* the private folder of a {"files"} payload, or NULL */
    char *base; /* the folder analysed, for -I */
    json_t *findings, *tools, *notes;
} job;

static void add_target(job *J, char *disk, const char *display, bool cpp)
{
    if (J->n == J->cap)
        J->t = xrealloc(J->t, (J->cap = J->cap ? 2 * J->cap : 32) *
                                  sizeof *J->t);
    J->t[J->n++] = (target){ disk, display, cpp };
}

static bool is_c_lang(const char *lang)
{
    return lang && (!strcmp(lang, "c") || !strcmp(lang, "cpp"));
}

/* The targets of a {"path"} request: the C/C++ files analysed. */
static void path_targets(job *J, const json_t *analysis, const char *path)
{
    const char *root = J->o->analyze.root;
    size_t i;
    json_t *f;
    json_array_foreach (json_object_get(analysis, "files"), i, f) {
        const char *lang = json_string_value(json_object_get(f, "language"));
        const char *name = json_string_value(json_object_get(f, "path"));
        if (!is_c_lang(lang) || !name) continue;
        char *p = root ? xasprintf("%s/%s", root, name) : xstrdup(name);
        char *disk = realpath(p, NULL);
        free(p);
        if (disk) add_target(J, disk, name, !strcmp(lang, "cpp"));
    }
    char *p = root ? xasprintf("%s/%s", root, path) : xstrdup(path);
    struct stat st;
    char *slash = strrchr(p, '/');
    if (!stat(p, &st) && !S_ISDIR(st.st_mode)) { /* a file: its folder */
        if (slash) {
            *slash = '\0';
        } else {
            free(p);
            p = xstrdup(".");
        }
    }
    J->base = realpath(p, NULL);
    free(p);
}

/* A relative path inside the private folder for a request's path: its
 * components without "", "." and any "..", or the base name when there
 * was one. */
static char *safe_rel(const char *path, size_t i)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t n = strlen(path);
    bool dotdot = !strcmp(path, "..") || !strncmp(path, "../", 3) ||
                  strstr(path, "/../") ||
                  (n >= 3 && !strcmp(path + n - 3, "/.."));
    if (dotdot || !*base) return xasprintf("f%zu_%s", i, *base ? base : "x");
    while (*path == '/' || (path[0] == '.' && path[1] == '/'))
        path += *path == '/' ? 1 : 2;
    return xstrdup(path);
}

/* Writes content to dir/rel, creating folders; false when it cannot. */
static bool write_file(const char *dir, const char *rel, const json_t *content)
{
    char *full = xasprintf("%s/%s", dir, rel);
    for (char *s = full + strlen(dir) + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        mkdir(full, 0700);
        *s = '/';
    }
    int fd = open(full, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    const char *p = json_string_value(content);
    size_t left = json_string_length(content);
    ssize_t w = 0;
    while (fd >= 0 && left && (w = write(fd, p, left)) > 0) {
        p += w;
        left -= (size_t)w;
    }
    bool ok = fd >= 0 && !left;
    if (fd >= 0) close(fd);
    free(full);
    return ok;
}

/* The targets of a {"files"} request, written under a private folder. */
static void files_targets(job *J, const json_t *files)
{
    const char *tmpdir = getenv("TMPDIR");
    char *tmpl = xasprintf("%s/flowstate-code-XXXXXX",
                           tmpdir && *tmpdir ? tmpdir : "/tmp");
    char *made = mkdtemp(tmpl);
    J->tmp = made ? realpath(made, NULL) : NULL;
    if (made && !J->tmp) rmdir(made);
    free(tmpl);
    if (!J->tmp) {
        json_array_append_new(J->notes, json_string("no temporary folder "
                                                    "for the tools"));
        return;
    }
    J->base = xstrdup(J->tmp);
    size_t i, max = J->o->analyze.max_bytes;
    json_t *f;
    json_array_foreach (files, i, f) {
        const char *name = json_string_value(json_object_get(f, "path"));
        json_t *content = json_object_get(f, "content");
        code_lang lang = name ? code_lang_of(name) : CODE_LANG_UNKNOWN;
        if (!code_lang_is_c(lang) || !json_is_string(content) ||
            i >= J->o->analyze.max_files || json_string_length(content) > max)
            continue;
        char *rel = safe_rel(name, i);
        if (write_file(J->tmp, rel, content))
            add_target(J, xasprintf("%s/%s", J->tmp, rel), name,
                       lang == CODE_LANG_CPP);
        free(rel);
    }
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* The request's name for a path a tool printed. */
static const char *display_of(const job *J, const char *path)
{
    for (size_t i = 0; i < J->n; i++)
        if (!strcmp(J->t[i].disk, path)) return J->t[i].display;
    size_t n = J->tmp ? strlen(J->tmp) : 0;
    if (n && !strncmp(path, J->tmp, n) && path[n] == '/') return path + n + 1;
    return path;
}

/* Moves the tool's findings (and clang-tidy's notes) into the job with
 * the request's paths. */
static void take_findings(job *J, json_t *found, json_t *notes)
{
    size_t i;
    json_t *f;
    json_array_foreach (found, i, f) {
        const char *p = json_string_value(json_object_get(f, "path"));
        json_object_set_new(f, "path", json_string(display_of(J, p)));
        json_array_append(J->findings, f);
    }
    json_array_foreach (notes, i, f) {
        const char *p = json_string_value(json_object_get(f, "path"));
        char *s = xasprintf(
            "clang-tidy: %s:%lld: %s (analysed without it)", display_of(J, p),
            (long long)json_integer_value(json_object_get(f, "line")),
            json_string_value(json_object_get(f, "message")));
        json_array_append_new(J->notes, json_string(s));
        free(s);
    }
}

static void tool_status(job *J, const char *name, const char *status,
                        size_t found, int64_t ms)
{
    json_array_append_new(J->tools,
                          json_pack("{s:s,s:s,s:I,s:I}", "name", name,
                                    "status", status, "findings",
                                    (json_int_t)found, "ms", (json_int_t)ms));
}

typedef size_t (*parse_fn)(const char *, size_t, json_t *, json_t *);

static size_t parse_cppcheck(const char *t, size_t n, json_t *f, json_t *no)
{
    (void)no;
    return code_ext_parse_cppcheck(t, n, f);
}

/* Runs argv (the tool's path first) and reads its output with parse. */
static void run_tool(job *J, const char *name, const char **argv,
                     parse_fn parse)
{
    code_ext_output r;
    int64_t t0 = fs_mono_ms();
    code_ext_limits l = { .timeout_s = J->o->timeout_s,
                          .max_output = J->o->max_output,
                          .cancelled = J->o->analyze.cancelled,
                          .ctx = J->o->analyze.ctx };
    int rc = code_ext_run(argv, &l, &r);
    json_t *found = json_array(), *notes = json_array();
    size_t n = rc ? 0 : parse(r.text, r.len, found, notes);
    take_findings(J, found, notes);
    const char *status = rc            ? "failed"
                         : r.cancelled ? "cancelled"
                         : r.timed_out ? "timed out"
                                       : "ok";
    tool_status(J, name, status, n, fs_mono_ms() - t0);
    if (r.timed_out)
        json_array_append_new(J->notes,
                              json_sprintf("%s timed out after %d s; its "
                                           "findings until then are kept",
                                           name, J->o->timeout_s));
    if (r.truncated)
        json_array_append_new(J->notes, json_sprintf("%s printed more than "
                                                     "%zu bytes; the rest is "
                                                     "left out",
                                                     name, J->o->max_output));
    json_decref(found);
    json_decref(notes);
    free(r.text);
}

static bool cancelled(const job *J)
{
    return J->o->analyze.cancelled &&
           J->o->analyze.cancelled(J->o->analyze.ctx);
}

/* Is the tool wanted and installed?  OUT: bin, its path.  When not, its
 * status is recorded. */
static bool tool_ready(job *J, const char *name, bool off, char *bin,
                       size_t cap, size_t ntargets)
{
    if (off || !ntargets || cancelled(J)) {
        tool_status(J, name, cancelled(J) ? "cancelled" : "skipped", 0, 0);
        return false;
    }
    if (!code_ext_find(name, bin, cap)) {
        tool_status(J, name, "not installed", 0, 0);
        json_array_append_new(J->notes, json_sprintf("%s not installed", name));
        return false;
    }
    return true;
}

static void run_cppcheck(job *J)
{
    char bin[PATH_MAX];
    if (!tool_ready(J, "cppcheck", J->o->no_cppcheck, bin, sizeof bin, J->n))
        return;
    const char **argv = xmalloc((J->n + 6) * sizeof *argv);
    size_t k = 0;
    argv[k++] = bin;
    argv[k++] = "--enable=warning,style,performance,portability";
    argv[k++] = CPPCHECK_TEMPLATE;
    argv[k++] = "--quiet";
    for (size_t i = 0; i < J->n; i++) argv[k++] = J->t[i].disk;
    argv[k] = NULL;
    run_tool(J, "cppcheck", argv, parse_cppcheck);
    free(argv);
}

/* Adds -I<dir> to argv when dir is a folder not added yet. */
static void include(const char **argv, size_t *k, size_t first, char *dir)
{
    struct stat st;
    char *arg = xasprintf("-I%s", dir);
    bool seen = stat(dir, &st) || !S_ISDIR(st.st_mode);
    for (size_t i = first; i < *k && !seen; i++) seen = !strcmp(argv[i], arg);
    if (seen) free(arg);
    else argv[(*k)++] = arg;
    free(dir);
}

/* The default include folders: the one analysed, and up to three levels
 * up, each ancestor that is a src/ or include/ folder or holds one. */
static void default_includes(const job *J, const char **argv, size_t *k)
{
    size_t first = *k;
    char *dir = xstrdup(J->base ? J->base : ".");
    include(argv, k, first, xstrdup(dir));
    for (int up = 0; up < 4; up++) {
        const char *name = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
        if (!strcmp(name, "src") || !strcmp(name, "include"))
            include(argv, k, first, xstrdup(dir));
        include(argv, k, first, xasprintf("%s/src", dir));
        include(argv, k, first, xasprintf("%s/include", dir));
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir) break;
        *slash = '\0';
    }
    free(dir);
}

/* One clang-tidy run over the C (cpp false) or C++ targets, at most max. */
static void tidy_run(job *J, const char *bin, bool cpp, size_t max)
{
    const char **argv = xmalloc((J->n + 40) * sizeof *argv);
    size_t k = 0, files = 0, own;
    argv[k++] = bin;
    argv[k++] = "--quiet";
    argv[k++] = TIDY_CHECKS;
    for (size_t i = 0; i < J->n && files < max; i++) {
        if (J->t[i].cpp != cpp) continue;
        argv[k++] = J->t[i].disk;
        files++;
    }
    argv[k++] = "--";
    if (J->o->tidy_args) {
        for (size_t i = 0; J->o->tidy_args[i] && i < 32; i++)
            argv[k++] = J->o->tidy_args[i];
    } else {
        argv[k++] = cpp ? "-std=c++17" : "-std=c11";
        argv[k++] = "-D_GNU_SOURCE";
    }
    own = k;
    if (!J->o->tidy_args) default_includes(J, argv, &k);
    argv[k] = NULL;
    if (files) run_tool(J, cpp ? "clang-tidy (C++)" : "clang-tidy", argv,
                        code_ext_parse_clang_tidy);
    for (size_t i = own; i < k; i++) free((char *)argv[i]);
    free(argv);
}

static void run_clang_tidy(job *J)
{
    char bin[PATH_MAX];
    if (!tool_ready(J, "clang-tidy", J->o->no_clang_tidy, bin, sizeof bin,
                    J->n))
        return;
    size_t max = J->o->max_tidy_files, nc = 0;
    for (size_t i = 0; i < J->n; i++) nc += !J->t[i].cpp;
    if (J->n > max)
        json_array_append_new(J->notes,
                              json_sprintf("clang-tidy ran on the first %zu "
                                           "of %zu C/C++ files",
                                           max, J->n));
    tidy_run(J, bin, false, max);
    if (nc < max) tidy_run(J, bin, true, max - nc);
}

static bool bug_rule(const char *rule)
{
    static const char *const rules[] = { "unsafe-call", "bare-except",
                                         "mutable-default", "eval",
                                         "eqeqeq", NULL };
    for (size_t i = 0; rule && rules[i]; i++)
        if (!strcmp(rule, rules[i])) return true;
    return false;
}

static void own_findings(job *J, const json_t *analysis)
{
    size_t i, j;
    json_t *file, *f;
    json_array_foreach (json_object_get(analysis, "files"), i, file) {
        json_array_foreach (json_object_get(file, "findings"), j, f) {
            if (!bug_rule(json_string_value(json_object_get(f, "rule"))))
                continue;
            json_t *c = json_copy(f);
            json_object_set(c, "path", json_object_get(file, "path"));
            json_object_set_new(c, "tool", json_string("flowstate"));
            json_array_append_new(J->findings, c);
        }
    }
}

static int cmp_str(const json_t *a, const json_t *b, const char *key)
{
    const char *x = json_string_value(json_object_get(a, key));
    const char *y = json_string_value(json_object_get(b, key));
    return strcmp(x ? x : "", y ? y : "");
}

static int by_place(const void *pa, const void *pb)
{
    const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    int c = cmp_str(a, b, "path");
    if (c) return c;
    json_int_t x = json_integer_value(json_object_get(a, "line"));
    json_int_t y = json_integer_value(json_object_get(b, "line"));
    if (x != y) return (x > y) - (x < y);
    return cmp_str(a, b, "tool");
}

/* The findings sorted, with the summary.  Consumes J's arrays. */
static json_t *result(job *J, const json_t *analysis)
{
    size_t n = json_array_size(J->findings), sev[3] = { 0 };
    json_t **v = xmalloc((n + 1) * sizeof *v), *sorted = json_array();
    for (size_t i = 0; i < n; i++) v[i] = json_array_get(J->findings, i);
    if (n) qsort(v, n, sizeof *v, by_place);
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_object_get(v[i], "severity"));
        sev[!strcmp(s, "error") ? 0 : !strcmp(s, "warning") ? 1 : 2]++;
        json_array_append(sorted, v[i]);
    }
    free(v);
    json_t *files = json_object_get(json_object_get(analysis, "summary"),
                                    "files");
    json_t *out = json_pack(
        "{s:o,s:O,s:{s:O,s:I,s:I,s:I,s:I},s:O}", "findings", sorted, "tools",
        J->tools, "summary", "files", files, "findings", (json_int_t)n,
        "errors", (json_int_t)sev[0], "warnings", (json_int_t)sev[1], "infos",
        (json_int_t)sev[2], "notes", J->notes);
    return out;
}

int code_ext_detect(const json_t *payload, const code_ext_options *o,
                    json_t **out, char *err, size_t errlen)
{
    code_ext_options opt = o ? *o : (code_ext_options){ 0 };
    if (opt.timeout_s <= 0) opt.timeout_s = CODE_EXT_TIMEOUT_S;
    if (!opt.max_output) opt.max_output = CODE_EXT_MAX_OUTPUT;
    if (!opt.max_tidy_files) opt.max_tidy_files = CODE_EXT_MAX_TIDY_FILES;
    if (!opt.analyze.max_files) opt.analyze.max_files = CODE_MAX_FILES;
    if (!opt.analyze.max_bytes) opt.analyze.max_bytes = CODE_MAX_BYTES;
    json_t *analysis;
    int rc = code_analyze(payload, &opt.analyze, &analysis, err, errlen);
    if (rc) return rc;
    job J = { .o = &opt, .findings = json_array(), .tools = json_array(),
              .notes = json_copy(json_object_get(analysis, "notes")) };
    json_t *files = json_object_get(payload, "files");
    if (json_is_array(files)) files_targets(&J, files);
    else path_targets(&J, analysis,
                      json_string_value(json_object_get(payload, "path")));
    own_findings(&J, analysis);
    run_cppcheck(&J);
    run_clang_tidy(&J);
    if (J.tmp) nftw(J.tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    *out = result(&J, analysis);
    for (size_t i = 0; i < J.n; i++) free(J.t[i].disk);
    free(J.t);
    free(J.tmp);
    free(J.base);
    json_decref(J.findings);
    json_decref(J.tools);
    json_decref(J.notes);
    json_decref(analysis);
    return 0;
}
