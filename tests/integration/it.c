/* it.c - helpers for the integration tests (see it.h). */
#include "integration/it.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int64_t it_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void it_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

char *it_body(const char *fmt, ...)
{
    json_error_t err;
    va_list ap;
    va_start(ap, fmt);
    json_t *v = json_vpack_ex(&err, 0, fmt, ap);
    va_end(ap);
    cr_assert(v, "it_body: bad json_pack format '%s': %s", fmt, err.text);
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    return text;
}

json_t *it_call(th_server *s, const char *method, const char *path,
                const char *body, const char *key, int expect)
{
    int status;
    char *text = th_http(s, method, path, body, key, &status);
    if (status != expect) {
        /* No answer or a 5xx: the server's own words (a sanitizer report,
         * an error line) are the useful part of the failure. */
        char *log = th_server_log(s);
        size_t len = strlen(log);
        cr_assert_fail("%s %s: expected %d, got %d: %s\n"
                       "server stderr (last 3000 bytes):\n%s",
                       method, path, expect, status, text,
                       log + (len > 3000 ? len - 3000 : 0));
    }
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    cr_assert(v, "%s %s: the body is not JSON: %s", method, path, text);
    free(text);
    return v;
}

void it_register(th_server *s, const char *name, const char *type,
                 const char *job_type, it_agent *out)
{
    char *body = job_type ? it_body("{s:s,s:s,s:[s]}", "name", name, "type",
                                    type, "job_types", job_type)
                          : it_body("{s:s,s:s}", "name", name, "type", type);
    json_t *a = it_call(s, "POST", "/v1/agents", body, s->key, 201);
    const char *id = json_string_value(json_object_get(a, "id"));
    const char *tok = json_string_value(json_object_get(a, "token"));
    cr_assert(id && tok, "register: no id or token");
    snprintf(out->id, sizeof out->id, "%s", id);
    snprintf(out->token, sizeof out->token, "%s", tok);
    json_decref(a);
    free(body);
}

int64_t it_state_count(th_server *s, const char *state)
{
    json_t *st = it_call(s, "GET", "/v1/queue/stats", NULL, s->key, 200);
    json_t *v = json_object_get(json_object_get(st, "states"), state);
    cr_assert(json_is_integer(v), "stats: no states.%s", state);
    int64_t n = json_integer_value(v);
    json_decref(st);
    return n;
}

json_t *it_try_json(th_server *s, const char *method, const char *path,
                    const char *body, const char *key, int *status)
{
    char *text = th_http(s, method, path, body, key, status);
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    free(text);
    return v;
}

size_t it_count_lines(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *hit = strstr(p, needle);
        if (hit && hit < p + len) n++;
        p = nl ? nl + 1 : NULL;
    }
    return n;
}

/* --- the real CLI ----------------------------------------------------------- */

static char *read_fd(int fd)
{
    off_t len = lseek(fd, 0, SEEK_END);
    char *buf = malloc((size_t)len + 1);
    ssize_t got = pread(fd, buf, (size_t)len, 0);
    buf[got > 0 ? got : 0] = '\0';
    close(fd);
    return buf;
}

static int temp_fd(void)
{
    const char *tmp = getenv("TMPDIR");
    char path[300];
    snprintf(path, sizeof path, "%s/fs-cli-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
    unlink(path);
    return fd;
}

it_cli_out it_cli(th_server *s, const char *stdin_path, const char *const *args)
{
    const char *bin = getenv("FLOWSTATE_BIN");
    cr_assert(bin && *bin, "FLOWSTATE_BIN is not set");
    const char *argv[48];
    int argc = 0;
    argv[argc++] = bin;
    for (; *args && argc < 44; args++)
        argv[argc++] = *args;
    argv[argc++] = "--key-file";
    argv[argc++] = s->key_file;
    argv[argc] = NULL;
    int fo = temp_fd(), fe = temp_fd();
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(fo, 1);
        dup2(fe, 2);
        int in = open(stdin_path ? stdin_path : "/dev/null", O_RDONLY);
        if (in >= 0) dup2(in, 0);
        setenv("FLOWSTATE_URL", s->url, 1);
        setenv("NO_COLOR", "1", 1);
        unsetenv("FLOWSTATE_API_KEY");
        unsetenv("FLOWSTATE_KEY_FILE");
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    it_cli_out r = {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
                    read_fd(fo), read_fd(fe)};
    return r;
}

void it_cli_free(it_cli_out *r)
{
    free(r->out);
    free(r->err);
}

json_t *it_cli_json(const it_cli_out *r)
{
    json_error_t e;
    json_t *v = json_loads(r->out, JSON_DECODE_ANY, &e);
    cr_assert(v, "--json output is not JSON (%s):\n%s", e.text, r->out);
    return v;
}

char *it_server_file(th_server *s, const char *name, const char *text)
{
    char *path;
    cr_assert(asprintf(&path, "%s/%s", s->dir, name) > 0);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    mkdir(path, 0755);
    *slash = '/';
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
    return path;
}
