/* fakehttp.c - a scripted HTTP server on loopback (see fakehttp.h). */
#include "support/fakehttp.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REQUEST_CAP (1u << 17)

/* Reads one request into buf (cap bytes) and records it in s. */
static bool read_request(fakehttp *s, int c, char *buf, size_t cap)
{
    size_t len = 0;
    char *end = NULL;
    buf[0] = '\0';
    while (!(end = strstr(buf, "\r\n\r\n"))) {
        ssize_t got = read(c, buf + len, cap - 1 - len);
        if (got <= 0) return false;
        len += (size_t)got;
        buf[len] = '\0';
    }
    const char *cl = strcasestr(buf, "Content-Length:");
    size_t want = cl ? (size_t)atol(cl + 15) : 0;
    size_t have = len - (size_t)(end + 4 - buf);
    while (have < want) {
        ssize_t got = read(c, buf + len, cap - 1 - len);
        if (got <= 0) return false;
        len += (size_t)got;
        have += (size_t)got;
        buf[len] = '\0';
    }
    sscanf(buf, "%*s %255s", s->last_path);
    const char *auth = strcasestr(buf, "Authorization:");
    s->last_auth[0] = '\0';
    if (auth) sscanf(auth, "Authorization: %255[^\r]", s->last_auth);
    snprintf(s->last_body, sizeof s->last_body, "%s", end + 4);
    return true;
}

/* The canned modes; false for the handler's. */
static bool canned(int mode, fh_reply *r)
{
    switch (mode) {
    case FH_HTML_502:
        r->status = 502, r->type = "text/html";
        r->body = strdup("<html>\r\n<body><h1>502 Bad Gateway</h1></body></html>");
        return true;
    case FH_RATE_LIMITED:
        r->status = 429, r->headers = "Retry-After: 1\r\n";
        r->body = strdup("{\"error\":{\"message\":\"slow down\"}}");
        return true;
    case FH_ERR_500:
        r->status = 500;
        r->body = strdup("{\"error\":{\"message\":\"boom\"}}");
        return true;
    default:
        return false;
    }
}

static void respond(fakehttp *s, int c, int n)
{
    fh_reply r = { 200, "application/json", NULL, NULL };
    int mode = n < s->nscript ? s->script[n] : FH_OK;
    if (mode == FH_SLOW) {
        sleep(2);
        mode = FH_OK;
    }
    if (!canned(mode, &r)) s->handler(s, mode, s->last_body, &r);
    const char *body = r.body ? r.body : "";
    char head[1024];
    int hl = snprintf(head, sizeof head, "HTTP/1.1 %d Fake\r\nContent-Type: %s"
                      "\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n",
                      r.status, r.type, r.headers ? r.headers : "", strlen(body));
    /* MSG_NOSIGNAL: a client that gave up must not kill the test. */
    if (send(c, head, (size_t)hl, MSG_NOSIGNAL) < 0 ||
        send(c, body, strlen(body), MSG_NOSIGNAL) < 0) {}
    free(r.body);
}

static void *serve(void *arg)
{
    fakehttp *s = arg;
    char *buf = malloc(REQUEST_CAP);
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0) break;
        if (read_request(s, c, buf, REQUEST_CAP))
            respond(s, c, atomic_fetch_add(&s->served, 1));
        close(c);
    }
    free(buf);
    return NULL;
}

void fh_start(fakehttp *s, fh_handler h, int nscript, const int *script)
{
    memset(s, 0, sizeof *s);
    cr_assert_leq(nscript, FH_MAX_SCRIPT);
    s->handler = h;
    s->nscript = nscript;
    if (nscript) memcpy(s->script, script, (size_t)nscript * sizeof *script);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(s->fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert_eq(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(s->fd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
    cr_assert_eq(listen(s->fd, 16), 0);
    cr_assert_eq(pthread_create(&s->thread, NULL, serve, s), 0);
}

void fh_stop(fakehttp *s)
{
    shutdown(s->fd, SHUT_RDWR); /* accept fails from now on */
    pthread_join(s->thread, NULL);
    close(s->fd);
}
