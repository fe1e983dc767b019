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

#endif
