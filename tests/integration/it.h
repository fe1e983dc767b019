/*
 * it.h - small helpers shared by the black-box guarantee tests in
 * tests/integration/ (crash safety, multi-process workers, the CLI end to
 * end, metrics and logs).  They sit on top of the harness
 * (support/harness.h), which runs the real `flowstate serve`.
 *
 * Two kinds of helper:
 *   it_*      may call cr_assert: only from the Criterion test's own
 *             thread, never from a worker thread or a forked child.
 *   it_try_*  never assert: safe in threads and in forked children (they
 *             only use libcurl, jansson and malloc); failures come back as
 *             a status or NULL.
 */
#ifndef IT_H
#define IT_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "support/harness.h"

/* Monotonic milliseconds. */
int64_t it_mono_ms(void);
void it_sleep_ms(long ms);

/* A JSON request body from a json_pack format (aborts on a bad format).
 * Caller frees. */
char *it_body(const char *fmt, ...);

/*
 * One request whose status must be `expect`; returns the parsed JSON body
 * (caller decrefs; an empty or non-JSON body fails the test).
 */
json_t *it_call(th_server *s, const char *method, const char *path,
                const char *body, const char *key, int expect);

/* A registered agent: id and its one-time token. */
typedef struct it_agent {
    char id[128];
    char token[256];
} it_agent;

/* Registers an agent of `type` accepting job_type (NULL: any type). */
void it_register(th_server *s, const char *name, const char *type,
                 const char *job_type, it_agent *out);

/* GET /v1/queue/stats states.<state> (admin key). */
int64_t it_state_count(th_server *s, const char *state);

/* The request never asserts: JSON or NULL, *status as th_http sets it. */
json_t *it_try_json(th_server *s, const char *method, const char *path,
                    const char *body, const char *key, int *status);

/* How many lines of text (split on '\n') contain needle. */
size_t it_count_lines(const char *text, const char *needle);

/* --- the real CLI ($FLOWSTATE_BIN, fork + exec) -------------------------- */

typedef struct it_cli_out {
    int code;  /* exit code, or 128 + signal */
    char *out; /* stdout */
    char *err; /* stderr */
} it_cli_out;

/*
 * Runs `flowstate ARGS... --key-file KEY` with FLOWSTATE_URL = the server,
 * NO_COLOR set, and stdin from the file stdin_path (NULL: /dev/null).
 * args is NULL-terminated.  Returns the exit code and the output.
 */
it_cli_out it_cli(th_server *s, const char *stdin_path, const char *const *args);
void it_cli_free(it_cli_out *r);
/* The JSON printed by a --json command (fails the test if it is not). */
json_t *it_cli_json(const it_cli_out *r);
/* A file under the server's folder (removed with it); caller frees the
 * path. */
char *it_server_file(th_server *s, const char *name, const char *text);

#define IT_CLI(s, ...) it_cli((s), NULL, (const char *const[]){__VA_ARGS__, NULL})
#define IT_CLI_IN(s, in, ...)                                                  \
    it_cli((s), (in), (const char *const[]){__VA_ARGS__, NULL})
#define it_assert_exit(r, want, what)                                          \
    cr_assert_eq((r).code, (want),                                             \
                 "%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", (what),   \
                 (r).code, (want), (r).out, (r).err)

#endif
