/*
 * clitest.h - what the client-command tests in tests/cli/ share: running a
 * command in-process with stdout and stderr captured, and a canned HTTP
 * responder on loopback that stands in for the server.
 *
 *   RUN("memory", "get", "7")            // exit code; output in CAP
 *   responder_start(2, (char *[]){answer(201, "{\"id\":1}"), ...});
 *   ...run commands: FLOWSTATE_URL points at the responder...
 *   responder_stop();                    // RESP.requests[i]: what came
 *
 * Each Criterion test runs in its own process, so tests freely set the
 * environment and redirect stdin/stdout/stderr.  These helpers call
 * cr_assert: use them from the test's own thread only.
 */
#ifndef CLITEST_H
#define CLITEST_H
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>

typedef struct capture {
    int saved_out, saved_err;
    FILE *out, *err;
    char *out_text, *err_text; /* what the last capture caught */
} capture;

extern capture CAP;

void capture_begin(void);
void capture_end(void);

/* Runs `flowstate <argv...>` (argv[0] is the command: job, agent, queue,
 * memory, search, import, schedule) captured and returns its exit code. */
int run(char **argv);
#define RUN(...) run((char *[]){__VA_ARGS__, NULL})

#define assert_has(text, needle)                                               \
    cr_assert(strstr((text), (needle)), "expected \"%s\" in:\n%s", (needle),   \
              (text))

/* Suite init/fini: no settings leak in from the environment running the
 * tests (FLOWSTATE_URL, keys, FLOWSTATE_DB unset; NO_COLOR set), and the
 * captured text is freed. */
void setup(void);
void teardown(void);

#define MAX_EXCHANGES 16
#define REQUEST_CAP (1u << 20)

typedef struct responder {
    int fd, port;
    pthread_t thread;
    size_t n;                           /* exchanges to serve */
    const char *answers[MAX_EXCHANGES]; /* whole responses; NULL: silence */
    char *requests[MAX_EXCHANGES];      /* what came (REQUEST_CAP bytes) */
} responder;

extern responder RESP;

/* A whole HTTP response with a JSON body (freed by responder_stop). */
char *answer(int status, const char *body);

/* Starts serving the given answers, one connection each; sets
 * FLOWSTATE_URL to it. */
void responder_start(size_t n, char **answers);
/* Waits for every exchange and frees the answers (requests stay until
 * the next responder_start). */
void responder_stop(void);

#endif
