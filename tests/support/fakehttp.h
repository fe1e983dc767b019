/*
 * fakehttp.h - a scripted HTTP server on loopback for testing HTTP clients
 * (the OpenAI-compatible embedder and LLM client).
 *
 * One thread accepts a connection at a time, reads one request, answers
 * it with "Connection: close" and closes.  A script says how to answer
 * each request in turn (past its end: FH_OK): the common misbehaviours
 * are canned here, the rest is up to the test's handler, which runs on
 * the server thread:
 *
 *   enum { NO_DATA = FH_CUSTOM };
 *   static void answer(fakehttp *s, int mode, const char *body, fh_reply *r)
 *   { r->body = strdup(mode == NO_DATA ? "{}" : "{\"data\":[]}"); }
 *   static fakehttp S;
 *   fh_start(&S, answer, 2, (int[]){ FH_RATE_LIMITED, NO_DATA });
 *   ... the client under test ...   // S.url is http://127.0.0.1:PORT;
 *                                   // then S.served, S.last_body, ...
 *   fh_stop(&S);                    // optional: the test process ends
 */
#ifndef FH_FAKEHTTP_H
#define FH_FAKEHTTP_H
#include <pthread.h>
#include <stdatomic.h>

/* What the handler fills in; status 200 and JSON unless it says otherwise. */
typedef struct fh_reply {
    int status;
    const char *type;    /* Content-Type */
    const char *headers; /* extra header lines, each ending "\r\n"; NULL */
    char *body;          /* malloc'd (fakehttp frees it); NULL = empty */
} fh_reply;

/* How to answer a request. */
enum {
    FH_OK,           /* the handler answers */
    FH_SLOW,         /* sleeps 2 s, then the handler answers (mode FH_OK) */
    FH_HTML_502,     /* 502 with an HTML page */
    FH_RATE_LIMITED, /* 429, Retry-After: 1, {"error":{"message":...}} */
    FH_ERR_500,      /* 500, {"error":{"message":"boom"}} */
    FH_CUSTOM        /* a test's own modes: the handler answers */
};
#define FH_MAX_SCRIPT 16

typedef struct fakehttp fakehttp;

/* Answers a request whose body is body; mode is FH_OK or >= FH_CUSTOM. */
typedef void (*fh_handler)(fakehttp *s, int mode, const char *body,
                           fh_reply *r);

struct fakehttp {
    int fd, port;
    char url[64];           /* http://127.0.0.1:PORT */
    pthread_t thread;
    fh_handler handler;
    int script[FH_MAX_SCRIPT], nscript;
    atomic_int served;      /* requests answered (or being answered) */
    /* Of the last request, written before its handler runs: */
    char last_path[256];
    char last_auth[256];    /* the Authorization header's value, or "" */
    char last_body[65536];
};

/* Listens on a free loopback port and starts the thread; request i is
 * answered as script[i] says (nscript <= FH_MAX_SCRIPT; script may be NULL
 * when nscript is 0).  Aborts the test on failure.  s is zeroed first. */
void fh_start(fakehttp *s, fh_handler h, int nscript, const int *script);
/* Stops listening and joins the thread (after the handler running, if
 * any, returns); the port then refuses connections. */
void fh_stop(fakehttp *s);

#endif
