/*
 * test_embed_openai.c - the OpenAI-compatible embedder against a real HTTP
 * server on loopback (a thread in this test) that speaks /v1/embeddings and
 * can be told to misbehave: wrong dimensions, missing fields, an HTML error
 * page, 429 with Retry-After, 5xx, slowness past the timeout.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fs.h"
#include "memory/embed.h"
#include "memory/vec.h"

#define D 8

typedef enum { OK, WRONG_DIMS, NO_DATA, HTML_502, RATE_LIMITED, ERR_500,
               SLOW, BAD_INDEX, NAN_VALUE } mode;

static struct {
    int fd, port;
    pthread_t th;
    mode script[8];  /* one mode per request; past the end: OK */
    int nscript, served;
    char last_body[65536];
    char last_auth[256];
} S;

/* A valid answer for the request body: vector i is (i+1, 0, 0, ...). */
static char *ok_reply(const char *req, int dims, bool bad_index, bool nan)
{
    json_t *r = json_loads(req, 0, NULL);
    size_t n = json_array_size(json_object_get(r, "input"));
    json_decref(r);
    json_t *data = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array();
        for (int k = 0; k < dims; k++)
            json_array_append_new(v, k == 0 ? json_real((double)i + 1)
                                            : json_real(0));
        if (nan) json_array_set_new(v, 1, json_string("NaN"));
        json_array_append_new(data, json_pack("{s:s,s:i,s:o}", "object",
            "embedding", "index", bad_index ? 0 : (int)(n - 1 - i), "embedding", v));
    }
    json_t *out = json_pack("{s:s,s:o,s:s}", "object", "list", "data", data,
                            "model", "m");
    char *s = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    return s;
}

static void respond(int c, mode m, const char *req)
{
    char *body = NULL, head[512];
    const char *status = "200 OK", *type = "application/json", *extra = "";
    switch (m) {
    case OK: body = ok_reply(req, D, false, false); break;
    case WRONG_DIMS: body = ok_reply(req, D - 1, false, false); break;
    case BAD_INDEX: body = ok_reply(req, D, true, false); break;
    case NAN_VALUE: body = ok_reply(req, D, false, true); break;
    case NO_DATA: body = strdup("{\"object\":\"list\"}"); break;
    case HTML_502:
        status = "502 Bad Gateway", type = "text/html";
        body = strdup("<html><body><h1>502 Bad Gateway</h1></body></html>");
        break;
    case RATE_LIMITED:
        status = "429 Too Many Requests", extra = "Retry-After: 1\r\n";
        body = strdup("{\"error\":{\"message\":\"slow down\"}}");
        break;
    case ERR_500:
        status = "500 Internal Server Error";
        body = strdup("{\"error\":{\"message\":\"boom\"}}");
        break;
    case SLOW: sleep(2); body = ok_reply(req, D, false, false); break;
    }
    int n = snprintf(head, sizeof head, "HTTP/1.1 %s\r\nContent-Type: %s\r\n%s"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     status, type, extra, strlen(body));
    if (write(c, head, (size_t)n) < 0 || write(c, body, strlen(body)) < 0) {}
    free(body);
}

/* Reads one request; returns its body in S.last_body. */
static bool read_request(int c)
{
    static char buf[131072];
    size_t len = 0;
    char *end = NULL;
    buf[0] = '\0';
    while (!(end = strstr(buf, "\r\n\r\n"))) {
        ssize_t got = read(c, buf + len, sizeof buf - 1 - len);
        if (got <= 0) return false;
        len += (size_t)got;
        buf[len] = '\0';
    }
    const char *cl = strcasestr(buf, "Content-Length:");
    size_t want = cl ? (size_t)atol(cl + 15) : 0;
    size_t have = len - (size_t)(end + 4 - buf);
    while (have < want) {
        ssize_t got = read(c, buf + len, sizeof buf - 1 - len);
        if (got <= 0) return false;
        len += (size_t)got;
        have += (size_t)got;
        buf[len] = '\0';
    }
    const char *auth = strcasestr(buf, "Authorization:");
    S.last_auth[0] = '\0';
    if (auth) sscanf(auth, "Authorization: %255[^\r]", S.last_auth);
    snprintf(S.last_body, sizeof S.last_body, "%s", end + 4);
    return true;
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(S.fd, NULL, NULL);
        if (c < 0) return NULL;
        if (read_request(c)) {
            mode m = S.served < S.nscript ? S.script[S.served] : OK;
            S.served++;
            respond(c, m, S.last_body);
        }
        close(c);
    }
}

static void start(int n, const mode *script)
{
    memset(&S, 0, sizeof S);
    if (n) memcpy(S.script, script, (size_t)n * sizeof *script);
    S.nscript = n;
    S.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(bind(S.fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(S.fd, (struct sockaddr *)&a, &al);
    S.port = ntohs(a.sin_port);
    listen(S.fd, 16);
    pthread_create(&S.th, NULL, serve, NULL);
}

static embedder *open_at(long timeout_ms, int retries)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/", S.port);
    embed_openai_config c = { .url = url, .model = "test-model",
                              .key = "sk-secret", .dims = D, .batch = 2,
                              .timeout_ms = timeout_ms, .max_retries = retries,
                              .max_backoff_ms = 2000 };
    embedder *e;
    cr_assert_eq(embed_openai_open(&e, &c), 0);
    return e;
}

static int embed3(embedder *e, float *out)
{
    const char *t[3] = { "a", "bb", "ccc" };
    size_t l[3] = { 1, 2, 3 };
    return embed_texts(e, t, l, 3, out);
}

Test(embed_openai, batches_orders_by_index_and_normalises, .timeout = 30)
{
    start(0, NULL);
    embedder *e = open_at(5000, 0);
    float v[3 * D];
    cr_assert_eq(embed3(e, v), 0, "%s", e->error);
    cr_assert_eq(S.served, 2, "3 texts in batches of 2");
    for (int i = 0; i < 3; i++) {
        cr_assert_float_eq(v[i * D], 1.0f, 1e-6, "normalised, in input order");
    }
    cr_assert_str_eq(S.last_auth, "Bearer sk-secret");
    json_t *req = json_loads(S.last_body, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(req, "model")), "test-model");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(req, "input"), 0)), "ccc");
    json_decref(req);
    embed_close(e);
}

Test(embed_openai, malformed_answers_fail_with_a_clear_message, .timeout = 30)
{
    struct { mode m; const char *says; } cases[] = {
        { WRONG_DIMS, "dimensions" }, { NO_DATA, "\"data\"" },
        { HTML_502, "HTTP 502" }, { BAD_INDEX, "index" },
        { NAN_VALUE, "non-number" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        start(1, &cases[i].m);
        embedder *e = open_at(5000, 0);
        float v[3 * D];
        cr_assert_eq(embed3(e, v), FS_EIO, "case %zu", i);
        cr_assert(strstr(e->error, cases[i].says), "case %zu: %s", i, e->error);
        cr_assert_null(strstr(e->error, "sk-secret"), "never the key");
        embed_close(e);
        shutdown(S.fd, SHUT_RDWR);
        close(S.fd);
        pthread_join(S.th, NULL);
    }
}

Test(embed_openai, retries_honour_retry_after_then_succeed, .timeout = 30)
{
    mode script[] = { RATE_LIMITED, ERR_500 };
    start(2, script);
    embedder *e = open_at(5000, 3);
    const char *t[1] = { "x" };
    size_t l[1] = { 1 };
    float v[D];
    int64_t t0 = fs_mono_ms();
    cr_assert_eq(embed_texts(e, t, l, 1, v), 0, "%s", e->error);
    cr_assert_eq(S.served, 3, "429, 500, then the answer");
    cr_assert_geq(fs_mono_ms() - t0, 1000, "waited the Retry-After second");
    embed_close(e);
}

Test(embed_openai, gives_up_after_max_retries, .timeout = 30)
{
    mode script[] = { ERR_500, ERR_500, ERR_500, ERR_500 };
    start(4, script);
    embedder *e = open_at(5000, 2);
    float v[3 * D];
    cr_assert_eq(embed3(e, v), FS_EIO);
    cr_assert_eq(S.served, 3, "one try and two retries");
    cr_assert(strstr(e->error, "HTTP 500"), "%s", e->error);
    embed_close(e);
}

Test(embed_openai, a_slow_endpoint_times_out, .timeout = 30)
{
    mode script[] = { SLOW };
    start(1, script);
    embedder *e = open_at(300, 0);
    float v[3 * D];
    cr_assert_eq(embed3(e, v), FS_ETIMEDOUT, "%s", e->error);
    embed_close(e);
}

Test(embed_openai, unreachable_endpoint_fails_cleanly, .timeout = 30)
{
    start(0, NULL);
    shutdown(S.fd, SHUT_RDWR);
    close(S.fd);
    pthread_join(S.th, NULL);
    embedder *e = open_at(2000, 0);
    float v[3 * D];
    cr_assert_eq(embed3(e, v), FS_EIO);
    cr_assert(strstr(e->error, "embedding endpoint"), "%s", e->error);
    embed_close(e);
}
