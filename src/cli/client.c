/*
 * client.c - settings resolution and JSON-over-HTTP requests with libcurl
 * (see client.h).
 *
 * Design: client_open() does everything that can fail for local reasons
 * (URL shape, finding and reading the key) so that a command can validate
 * its input, open a client and only then touch the network.  One easy
 * handle and one header list (Accept, Content-Type, Authorization) are built
 * once and reused by every request; each request re-sets the method, URL,
 * body and write buffer.  Answers are collected in memory up to
 * MAX_BODY bytes, then parsed as JSON when they are JSON.
 *
 * Errors are printed where they are understood: transport errors in
 * client_request() (only it knows the curl error), server errors in
 * client_report() (only it reads the error object), so commands just
 * return the exit code they are handed.
 */
#include "cli/client.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/fs.h"
#include "core/xmem.h"

#define CONNECT_TIMEOUT_MS 5000L
#define TIMEOUT_MS 30000L
#define MAX_BODY (256u << 20) /* a list page is far smaller; a bound anyway */
#define MAX_KEY_FILE 4096

struct client {
    char *url; /* no trailing slash */
    CURL *curl;
    struct curl_slist *headers; /* holds the key: never printed */
    long timeout_ms;
    char errbuf[CURL_ERROR_SIZE];
};

typedef struct body_buf {
    char *data;
    size_t len, cap;
    bool too_big;
} body_buf;

/* Reads the key from path into a fresh string, trailing whitespace
 * stripped.  Returns NULL after printing why. */
static char *read_key_file(const char *path)
{
    char *key = NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr,
                "flowstate: no API key: cannot read %s (%s); pass --key or "
                "--key-file, or set FLOWSTATE_API_KEY\n",
                path, strerror(errno));
        return NULL;
    }
    char buf[MAX_KEY_FILE + 1];
    size_t n = fread(buf, 1, sizeof buf, f);
    if (ferror(f)) {
        fprintf(stderr, "flowstate: cannot read key file %s: %s\n", path,
                strerror(errno));
        goto close_file;
    }
    if (n > MAX_KEY_FILE) {
        fprintf(stderr, "flowstate: key file %s is too long to be a key\n",
                path);
        goto close_file;
    }
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        n--;
    if (n == 0) {
        fprintf(stderr, "flowstate: key file %s is empty\n", path);
        goto close_file;
    }
    key = xstrndup(buf, n);
close_file:
    fclose(f);
    return key;
}

/*
 * The default key file: ./flowstate.key, or, when that is absent and
 * FLOWSTATE_DB names a SQLite file, the flowstate.key beside it (where
 * `flowstate serve` writes the key by default).  OUT: path in buf.
 */
static const char *default_key_file(char *buf, size_t cap)
{
    const char *db = getenv("FLOWSTATE_DB");
    if (access(CLIENT_DEFAULT_KEY_FILE, F_OK) == 0 || !db || !*db ||
        strstr(db, "://"))
        return CLIENT_DEFAULT_KEY_FILE;
    if (!strncmp(db, "sqlite:", 7)) db += 7;
    else if (!strncmp(db, "file:", 5)) db += 5;
    const char *slash = strrchr(db, '/');
    if (!slash) return CLIENT_DEFAULT_KEY_FILE;
    snprintf(buf, cap, "%.*s/flowstate.key", (int)(slash - db), db);
    return buf;
}

/* The key, resolved in the order client.h gives; NULL after printing why. */
static char *resolve_key(const client_opts *o)
{
    const char *env_key = getenv("FLOWSTATE_API_KEY");
    const char *env_file = getenv("FLOWSTATE_KEY_FILE");
    char *key, beside_db[4096];
    if (o->key)
        key = xstrdup(o->key);
    else if (o->key_file)
        key = read_key_file(o->key_file);
    else if (env_key && *env_key)
        key = xstrdup(env_key);
    else
        key = read_key_file(env_file && *env_file
                                ? env_file
                                : default_key_file(beside_db, sizeof beside_db));
    if (!key) return NULL;
    /* A key goes into a header line: no spaces or control characters. */
    for (const char *p = key; *p; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            fprintf(stderr, "flowstate: the API key contains whitespace or "
                            "control characters\n");
            free(key);
            return NULL;
        }
    }
    if (!*key) {
        fprintf(stderr, "flowstate: the API key is empty\n");
        free(key);
        return NULL;
    }
    return key;
}

/* The URL, resolved and checked; NULL after printing why. */
static char *resolve_url(const client_opts *o)
{
    const char *url = o->url;
    if (!url) url = getenv("FLOWSTATE_URL");
    if (!url || !*url) url = CLIENT_DEFAULT_URL;
    if (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8)) {
        fprintf(stderr,
                "flowstate: bad server URL '%s': it must start with http:// "
                "or https://\n",
                url);
        return NULL;
    }
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    return xstrndup(url, n);
}

int client_open(client **out, const client_opts *opts)
{
    client_opts none = {0};
    if (!opts) opts = &none;
    char *url = resolve_url(opts);
    if (!url) return FS_EINVAL;
    char *key = resolve_key(opts);
    if (!key) {
        free(url);
        return FS_EINVAL;
    }
    /* Not thread-safe, but the CLI is one thread; paired in client_close. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    client *c = xcalloc(1, sizeof *c);
    c->url = url;
    c->curl = curl_easy_init();
    if (!c->curl) {
        fprintf(stderr, "flowstate: cannot start libcurl\n");
        free(key);
        client_close(c);
        return FS_EIO;
    }
    char *auth = xasprintf("Authorization: Bearer %s", key);
    c->headers = curl_slist_append(c->headers, "Accept: application/json");
    c->headers =
        curl_slist_append(c->headers, "Content-Type: application/json");
    c->headers = curl_slist_append(c->headers, auth);
    c->headers = curl_slist_append(c->headers, "Expect:"); /* no 100 wait */
    free(auth);
    free(key);
    c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : TIMEOUT_MS;
    long connect_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms
                                                   : CONNECT_TIMEOUT_MS;
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "flowstate-cli/0.1");
    *out = c;
    return 0;
}

void client_close(client *c)
{
    if (!c) return;
    if (c->curl) curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->headers);
    free(c->url);
    free(c);
    curl_global_cleanup();
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    body_buf *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > MAX_BODY) {
        b->too_big = true;
        return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR */
    }
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->data = xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* Prints the transport failure res in the words a user can act on. */
static void report_transport(const client *c, CURLcode res, bool too_big)
{
    const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(res);
    if (too_big)
        fprintf(stderr, "flowstate: the answer from %s is over %u MiB\n",
                c->url, MAX_BODY >> 20);
    else if (res == CURLE_OPERATION_TIMEDOUT)
        fprintf(stderr, "flowstate: no answer from flowstate at %s: %s\n",
                c->url, why);
    else
        fprintf(stderr,
                "flowstate: cannot reach flowstate at %s: %s; is `flowstate "
                "serve` running?\n",
                c->url, why);
}

int client_request(client *c, const char *method, const char *path,
                   const json_t *body, client_resp *out)
{
    int rc = FS_EIO;
    body_buf buf = {0};
    char *json = NULL;
    char *url = xasprintf("%s%s", c->url, path);
    memset(out, 0, sizeof *out);
    c->errbuf[0] = '\0';

    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L); /* undoes a prior POST */
    if (body || strcmp(method, "GET") != 0) {
        json = body ? json_dumps(body, JSON_COMPACT) : xstrdup("");
        if (!json) json = xstrdup("null");
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, json);
    }
    curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &buf);

    CURLcode res = curl_easy_perform(c->curl);
    if (res != CURLE_OK) {
        report_transport(c, res, buf.too_big);
        goto free_all;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &out->status);
    out->text = buf.data ? buf.data : xstrdup("");
    buf.data = NULL;
    if (buf.len > 0) out->json = json_loadb(out->text, buf.len, 0, NULL);
    rc = 0;
free_all:
    /* The handle must not keep pointers into buffers freed here. */
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, NULL);
    free(buf.data);
    free(json);
    free(url);
    return rc;
}

void client_resp_clear(client_resp *r)
{
    json_decref(r->json);
    free(r->text);
    memset(r, 0, sizeof *r);
}

int client_exit_code(long status)
{
    if (status >= 200 && status < 300) return CLI_EXIT_OK;
    if (status == 404) return CLI_EXIT_NOTFOUND;
    if (status >= 400 && status < 500) return CLI_EXIT_REJECTED;
    return CLI_EXIT_UNREACHABLE;
}

/* Prints at most the first line (up to 200 bytes) of a non-JSON answer. */
static void print_excerpt(const char *text)
{
    size_t n = strcspn(text, "\r\n");
    if (n > 200) n = 200;
    if (n) fprintf(stderr, ": %.*s", (int)n, text);
}

int client_report(const client_resp *r)
{
    int code = client_exit_code(r->status);
    if (code == CLI_EXIT_OK) return code;
    json_t *err = json_object_get(r->json, "error");
    const char *msg = json_string_value(json_object_get(err, "message"));
    const char *ecode = json_string_value(json_object_get(err, "code"));
    if (msg) {
        fprintf(stderr, "flowstate: %s (HTTP %ld%s%s)\n", msg, r->status,
                ecode ? " " : "", ecode ? ecode : "");
    } else {
        fprintf(stderr, "flowstate: the server answered HTTP %ld", r->status);
        print_excerpt(r->text);
        fputc('\n', stderr);
    }
    return code;
}

int client_call(client *c, const char *method, const char *path,
                const json_t *body, json_t **out)
{
    client_resp r;
    *out = NULL;
    if (client_request(c, method, path, body, &r) != 0)
        return CLI_EXIT_UNREACHABLE;
    int code = client_report(&r);
    if (code == CLI_EXIT_OK) {
        if (r.json) {
            *out = r.json;
            r.json = NULL;
        } else {
            fprintf(stderr,
                    "flowstate: the server's answer is not JSON (HTTP %ld)",
                    r.status);
            print_excerpt(r.text);
            fputc('\n', stderr);
            code = CLI_EXIT_UNREACHABLE;
        }
    }
    client_resp_clear(&r);
    return code;
}

char *client_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = xmalloc(strlen(s) * 3 + 1), *p = out;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
            (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
            ch == '~') {
            *p++ = (char)ch;
        } else {
            *p++ = '%';
            *p++ = hex[ch >> 4];
            *p++ = hex[ch & 15];
        }
    }
    *p = '\0';
    return out;
}

void client_query_add(char **path, const char *key, const char *value)
{
    if (!value) return;
    char *v = client_escape(value);
    char *joined =
        xasprintf("%s%c%s=%s", *path, strchr(*path, '?') ? '&' : '?', key, v);
    free(v);
    free(*path);
    *path = joined;
}

int client_list(client *c, const char *base, const char *key,
                const char *cursor, bool all, json_t **doc)
{
    int code;
    char *at = cursor ? xstrdup(cursor) : NULL;
    json_t *every = json_array();
    *doc = NULL;
    do {
        json_t *page;
        char *path = xstrdup(base);
        client_query_add(&path, "cursor", at);
        code = client_call(c, "GET", path, NULL, &page);
        free(path);
        if (code != CLI_EXIT_OK) break;
        json_t *list = json_object_get(page, key);
        const char *next = json_string_value(json_object_get(page, "next_cursor"));
        if (!json_is_array(list)) {
            fprintf(stderr, "flowstate: the server's answer has no %s list\n", key);
            code = CLI_EXIT_UNREACHABLE;
            json_decref(page);
            break;
        }
        bool stuck = next && at && !strcmp(next, at);
        free(at);
        at = next && !stuck ? xstrdup(next) : NULL;
        if (!all) {
            *doc = page;
            break;
        }
        json_array_extend(every, list);
        json_decref(page);
    } while (at);
    if (code == CLI_EXIT_OK && all)
        *doc = json_pack("{s:O,s:n}", key, every, "next_cursor");
    json_decref(every);
    free(at);
    return code;
}
