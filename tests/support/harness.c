/*
 * harness.c - spawn `flowstate serve`, speak HTTP to it (see harness.h).
 *
 * The server is a child process (fork + execv) with stdout and stderr in
 * files of its folder; readiness is the port file appearing (the server
 * writes it atomically once it listens).  Requests use a fresh libcurl easy
 * handle each, so tests never share connection state.
 */
#include "support/harness.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_TIMEOUT_MS 30000
#define MAX_ARGS 64

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return strdup("");
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    fclose(f);
    return buf;
}

char *th_server_log(const th_server *s)
{
    char path[400];
    snprintf(path, sizeof path, "%s/stderr.log", s->dir);
    return slurp(path);
}

/* Child side: redirect output, set the environment, exec the server. */
static void child_exec(const th_server *s, const char *bin)
{
    char *argv[MAX_ARGS], extra[sizeof s->extra];
    int argc = 0;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    char out[400], err[400];
    snprintf(out, sizeof out, "%s/stdout.log", s->dir);
    snprintf(err, sizeof err, "%s/stderr.log", s->dir);
    int fo = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
    int fe = open(err, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fo >= 0) dup2(fo, 1);
    if (fe >= 0) dup2(fe, 2);
    unsetenv("FLOWSTATE_API_KEY");
    unsetenv("FLOWSTATE_DB");
    unsetenv("FLOWSTATE_KEY_FILE");
    argv[argc++] = (char *)bin;
    argv[argc++] = "serve";
    argv[argc++] = "--db";
    argv[argc++] = (char *)s->db;
    argv[argc++] = "--port";
    argv[argc++] = "0";
    argv[argc++] = "--port-file";
    argv[argc++] = (char *)s->port_file;
    argv[argc++] = "--key-file";
    argv[argc++] = (char *)s->key_file;
    argv[argc++] = "--log-level";
    argv[argc++] = "warn";
    if (!strstr(s->extra, "--agents")) { /* built-in agents: only when asked */
        argv[argc++] = "--agents";
        argv[argc++] = "none";
    }
    memcpy(extra, s->extra, sizeof extra);
    for (char *save, *w = strtok_r(extra, " ", &save); w && argc < MAX_ARGS - 1;
         w = strtok_r(NULL, " ", &save)) {
        if (strncmp(w, "env:", 4) == 0) putenv(w + 4);
        else argv[argc++] = w;
    }
    argv[argc] = NULL;
    execv(bin, argv);
    fprintf(stderr, "harness: cannot exec %s: %s\n", bin, strerror(errno));
    _exit(127);
}

/* The FLOWSTATE_API_KEY the extra args set, copied into out ("" if none). */
static void env_key(const char *extra, char *out, size_t cap)
{
    const char *p = strstr(extra, "env:FLOWSTATE_API_KEY=");
    out[0] = '\0';
    if (!p) return;
    p += strlen("env:FLOWSTATE_API_KEY=");
    size_t n = strcspn(p, " ");
    if (n >= cap) n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

/* Spawns the server on s->dir and waits for its port file. */
static void spawn(th_server *s)
{
    const char *bin = getenv("FLOWSTATE_BIN");
    cr_assert(bin && *bin, "FLOWSTATE_BIN is not set (use scripts/run-tests.sh)");
    unlink(s->port_file);
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) child_exec(s, bin);
    s->pid = pid;
    for (int waited = 0;; waited += 10) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = 0;
            char *log = th_server_log(s);
            cr_assert_fail("server exited during start (status %d):\n%s", st, log);
        }
        char *port = slurp(s->port_file);
        s->port = atoi(port);
        free(port);
        if (s->port > 0) break;
        if (waited > START_TIMEOUT_MS) {
            th_server_kill(s);
            char *log = th_server_log(s);
            cr_assert_fail("server did not start in time:\n%s", log);
        }
        sleep_ms(10);
    }
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
    env_key(s->extra, s->key, sizeof s->key);
    if (!s->key[0]) {
        char *key = slurp(s->key_file);
        key[strcspn(key, "\r\n")] = '\0';
        snprintf(s->key, sizeof s->key, "%s", key);
        free(key);
    }
}

void th_server_start(th_server *s, const char *extra_args)
{
    memset(s, 0, sizeof *s);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *tmp = getenv("TMPDIR");
    snprintf(s->dir, sizeof s->dir, "%s/fs-http-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    cr_assert(mkdtemp(s->dir), "mkdtemp: %s", strerror(errno));
    snprintf(s->db, sizeof s->db, "%s/t.db", s->dir);
    snprintf(s->port_file, sizeof s->port_file, "%s/port", s->dir);
    snprintf(s->key_file, sizeof s->key_file, "%s/key", s->dir);
    snprintf(s->extra, sizeof s->extra, "%s", extra_args ? extra_args : "");
    spawn(s);
}

/* Waits for the child; exit code or 128 + signal. */
static int reap(th_server *s)
{
    int st = 0;
    if (s->pid <= 0) return -1;
    while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR) {}
    s->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int th_server_stop(th_server *s)
{
    if (s->pid <= 0) return -1;
    kill(s->pid, SIGTERM);
    return reap(s);
}

void th_server_kill(th_server *s)
{
    if (s->pid <= 0) return;
    kill(s->pid, SIGKILL);
    reap(s);
}

void th_server_restart(th_server *s)
{
    if (s->pid > 0) th_server_stop(s);
    spawn(s);
}

void th_server_cleanup(th_server *s)
{
    if (s->pid > 0) th_server_kill(s);
    if (!s->dir[0]) return;
    if (getenv("TH_KEEP")) return;
    DIR *d = opendir(s->dir);
    struct dirent *e;
    char path[600];
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", s->dir, e->d_name);
        unlink(path); /* the folder holds plain files only */
    }
    if (d) closedir(d);
    rmdir(s->dir);
    s->dir[0] = '\0';
}

/* --- HTTP ------------------------------------------------------------------ */

typedef struct grow {
    char *data;
    size_t len, cap;
} grow;

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    grow *g = ud;
    size_t add = size * n;
    if (g->len + add + 1 > g->cap) {
        g->cap = (g->len + add + 1) * 2;
        g->data = realloc(g->data, g->cap);
    }
    memcpy(g->data + g->len, p, add);
    g->len += add;
    g->data[g->len] = '\0';
    return add;
}

typedef struct upload {
    const char *data;
    size_t len, off;
} upload;

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    upload *u = ud;
    size_t room = size * n, left = u->len - u->off;
    if (room > left) room = left;
    memcpy(buf, u->data + u->off, room);
    u->off += room;
    return room;
}

void th_http_ex(th_server *s, const th_request *req, th_response *out)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    grow body = { 0 }, head = { 0 };
    upload up = { req->body, req->body_len, 0 };
    char url[1200], auth[300];
    snprintf(url, sizeof url, "%s%s", s->url, req->path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &head);
    if (req->key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", req->key);
        hdrs = curl_slist_append(hdrs, auth);
    }
    if (req->body) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        if (req->chunked) {
            hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
            curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(c, CURLOPT_READDATA, &up);
        } else {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)req->body_len);
        }
    }
    for (int i = 0; i < 8 && req->headers[i]; i++)
        hdrs = curl_slist_append(hdrs, req->headers[i]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    out->status = (int)code;
    out->body = body.data ? body.data : strdup("");
    out->headers = head.data ? head.data : strdup("");
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
}

void th_response_free(th_response *r)
{
    free(r->body);
    free(r->headers);
    r->body = r->headers = NULL;
}

bool th_header(const th_response *r, const char *name, char *buf, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = r->headers; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            p += nl + 1;
            while (*p == ' ') p++;
            size_t n = strcspn(p, "\r\n");
            if (n >= cap) n = cap - 1;
            memcpy(buf, p, n);
            buf[n] = '\0';
            return true;
        }
    }
    return false;
}

char *th_http(th_server *s, const char *method, const char *path,
              const char *body, const char *key, int *status)
{
    th_request req = { .method = method, .path = path, .body = body,
                       .body_len = body ? strlen(body) : 0, .key = key };
    th_response r;
    th_http_ex(s, &req, &r);
    *status = r.status;
    free(r.headers);
    return r.body;
}

json_t *th_json(th_server *s, const char *method, const char *path,
                const char *body, const char *key, int *status)
{
    char *text = th_http(s, method, path, body, key, status);
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    free(text);
    return v;
}
