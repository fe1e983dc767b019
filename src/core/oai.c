/*
 * oai.c - POST JSON to an OpenAI-compatible endpoint over libcurl, with
 * retries (see oai.h for the contract).
 *
 * Each try is one easy handle of its own, so nothing is shared between
 * threads but libcurl's global state, set up once (pthread_once).  A try
 * ends in one of: a network error (status 0), an answer over MAX_REPLY
 * (the transfer is aborted; never retried), a non-2xx status, a 2xx that
 * is not JSON, or the parsed JSON.  Only status 0, 429 and 5xx are worth
 * another try.
 */
#include "core/oai.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/backoff.h"
#include "core/fs.h"
#include "core/metrics.h"
#include "core/rand.h"
#include "core/xmem.h"

#define MAX_REPLY (64u << 20)

typedef struct reply {
    fs_buf body;
    long retry_after_ms; /* -1: none given */
    bool too_big;
} reply;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Blanks every copy of key in s (a server may echo what it was sent). */
static void redact(char *s, const char *key)
{
    size_t kl = key ? strlen(key) : 0;
    if (!kl) return;
    for (char *p = strstr(s, key); p; p = strstr(p, key)) memset(p, '*', kl);
}

__attribute__((format(printf, 4, 5)))
static void fail(const oai_endpoint *e, char *err, size_t errlen,
                 const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    redact(err, e->key);
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    reply *r = ud;
    if (r->body.len + sz * n > MAX_REPLY) {
        r->too_big = true;
        return 0; /* aborts the transfer */
    }
    fs_buf_printf(&r->body, "%.*s", (int)(sz * n), p);
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    reply *r = ud;
    size_t len = sz * n;
    if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        char *end;
        double secs = strtod(p + 12, &end);
        if (end != p + 12 && secs >= 0) r->retry_after_ms = (long)(secs * 1000);
    }
    return len;
}

/* One try.  OUT: *status (0 unless an HTTP answer came whole), r.
 * Returns curl's code. */
static CURLcode post_once(const oai_endpoint *e, const char *url,
                          struct curl_slist *hdr, const char *body,
                          long *status, reply *r)
{
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, e->timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    CURLcode rc = curl_easy_perform(h);
    *status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(h);
    return rc;
}

/* The server's own words in an error body: OpenAI's
 * {"error":{"message":...}} or Ollama's {"error":"..."}; NULL if none. */
static const char *error_message(json_t *j)
{
    json_t *e = json_object_get(j, "error");
    return json_is_string(e) ? json_string_value(e)
                             : json_string_value(json_object_get(e, "message"));
}

/* Describes a non-2xx or non-JSON answer. */
static void describe(const oai_endpoint *e, long status, const reply *r,
                     char *err, size_t errlen)
{
    const char *b = r->body.data ? r->body.data : "";
    json_t *j = json_loadb(b, r->body.len, 0, NULL);
    const char *says = error_message(j);
    char start[201];
    size_t k = 0, cap = says ? 200 : 80;
    if (says) b = says;
    for (; b[k] && k < cap; k++)
        start[k] = (b[k] == '\n' || b[k] == '\r') ? ' ' : b[k];
    start[k] = '\0';
    json_decref(j);
    fail(e, err, errlen, "%s answered HTTP %ld with %s: %s", e->what, status,
         status >= 200 && status < 300 ? "a body that is not JSON" : "an error",
         start);
}

/* Turns one try into a result.  OUT: *root on success. */
static int settle(const oai_endpoint *e, CURLcode net, long status,
                  const reply *r, json_t **root, char *err, size_t errlen)
{
    if (r->too_big) {
        fail(e, err, errlen, "%s %s: the answer is over %u MiB", e->what,
             e->url, MAX_REPLY >> 20);
        return FS_EIO;
    }
    if (net != CURLE_OK) {
        fail(e, err, errlen, "%s %s: %s", e->what, e->url,
             curl_easy_strerror(net));
        return net == CURLE_OPERATION_TIMEDOUT ? FS_ETIMEDOUT : FS_EIO;
    }
    if (status >= 200 && status < 300)
        *root = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0,
                           NULL);
    if (*root) return 0;
    describe(e, status, r, err, errlen);
    return FS_EIO;
}

static bool retryable(long status)
{
    return status == 0 || status == 429 || status >= 500;
}

static struct curl_slist *headers(const oai_endpoint *e)
{
    struct curl_slist *hdr = curl_slist_append(NULL,
                                               "Content-Type: application/json");
    if (e->key) {
        char *auth = xasprintf("Authorization: Bearer %s", e->key);
        hdr = curl_slist_append(hdr, auth);
        memset(auth, 0, strlen(auth));
        free(auth);
    }
    return hdr;
}

int oai_post(const oai_endpoint *endpoint, const char *path, const char *body,
             json_t **root, char *err, size_t errlen)
{
    pthread_once(&curl_once, curl_setup);
    *root = NULL;
    oai_endpoint ep = *endpoint, *e = &ep; /* with the URL trimmed */
    size_t ul = strlen(ep.url);
    while (ul > 0 && ep.url[ul - 1] == '/') ul--;
    char *base = xstrndup(ep.url, ul);
    ep.url = base;
    char *url = xasprintf("%s%s", base, path);
    struct curl_slist *hdr = headers(e);
    fs_backoff bo = { 250, e->max_backoff_ms, 0.5 };
    int rc;
    for (int attempt = 0;; attempt++) {
        reply r = { { 0 }, -1, false };
        long status;
        CURLcode net = post_once(e, url, hdr, body, &status, &r);
        rc = settle(e, net, status, &r, root, err, errlen);
        bool again = rc && !r.too_big && retryable(status) &&
                     attempt < e->max_retries;
        long wait = r.retry_after_ms >= 0
                        ? r.retry_after_ms
                        : (long)fs_backoff_delay(&bo, attempt + 1, fs_rand01());
        if (wait > e->max_backoff_ms) wait = e->max_backoff_ms;
        fs_buf_free(&r.body);
        if (!again) break;
        struct timespec ts = { wait / 1000, (wait % 1000) * 1000000 };
        nanosleep(&ts, NULL);
    }
    curl_slist_free_all(hdr);
    free(url);
    free(base);
    return rc;
}
