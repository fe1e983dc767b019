/*
 * harness.h - black-box test harness: runs the real `flowstate serve` on a
 * free loopback port and talks HTTP to it over a real socket (libcurl).
 *
 * The binary is $FLOWSTATE_BIN (scripts/run-tests.sh sets it).  Each server
 * gets a fresh temporary folder holding its database (t.db), key file
 * (key), port file (port) and logs (stdout.log, stderr.log):
 *
 *   th_server s;
 *   th_server_start(&s, NULL);            // or extra args, see below
 *   int status;
 *   char *body = th_http(&s, "GET", "/v1/jobs", NULL, s.key, &status);
 *   ...
 *   th_server_cleanup(&s);                // stop if running, remove folder
 *
 * Failures to start abort the current Criterion test with the server's
 * stderr in the message.  The server dies with the test process
 * (PR_SET_PDEATHSIG), so a crashed test leaves no server behind.
 */
#ifndef TH_HARNESS_H
#define TH_HARNESS_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct th_server {
    pid_t pid;          /* 0 when not running */
    char dir[256];      /* the temporary folder */
    char db[320], port_file[320], key_file[320];
    int port;
    char key[160];      /* admin key (from the key file or the env arg) */
    char url[64];       /* http://127.0.0.1:PORT */
    char extra[1024];   /* extra args of the last start, for restart */
} th_server;

/*
 * Starts `flowstate serve --db DIR/t.db --port 0 --port-file DIR/port
 * --key-file DIR/key --log-level warn [--agents none] EXTRA` (the built-in
 * agents run only when EXTRA names --agents) with FLOWSTATE_API_KEY,
 * FLOWSTATE_DB and FLOWSTATE_KEY_FILE unset, waits until it listens and
 * reads the admin key.  extra_args (may be NULL) is split on spaces;
 * a word "env:NAME=VALUE" sets that variable for the server instead of
 * being passed as an argument.  Aborts the test on failure.
 */
void th_server_start(th_server *s, const char *extra_args);
/* SIGTERM and wait.  Returns the exit code, or 128 + signal. */
int th_server_stop(th_server *s);
/* SIGKILL and wait (a crash). */
void th_server_kill(th_server *s);
/* Stops (SIGTERM) if running and starts again on the same folder and
 * database with the same extra args (the port changes). */
void th_server_restart(th_server *s);
/* Kills the server if running and removes the folder with every file in
 * it (tests may add their own); TH_KEEP=1 in the environment keeps it.
 * Safe to call twice. */
void th_server_cleanup(th_server *s);
/* The server's stderr so far (caller frees). */
char *th_server_log(const th_server *s);

/*
 * One request.  body may be NULL (no body); key NULL sends no
 * Authorization header.  OUT: *status (0 when the request failed at the
 * socket level).  Returns the response body, NUL-terminated (caller
 * frees; "" when empty).
 */
char *th_http(th_server *s, const char *method, const char *path,
              const char *body, const char *key, int *status);

typedef struct th_request {
    const char *method, *path;
    const char *body;      /* may be NULL */
    size_t body_len;       /* bytes of body (may contain anything) */
    const char *key;       /* may be NULL */
    const char *headers[8];/* extra "Name: value" lines, NULL-terminated */
    bool chunked;          /* send the body with chunked encoding */
} th_request;

typedef struct th_response {
    int status;
    char *body;            /* NUL-terminated, caller frees */
    char *headers;         /* raw header block, caller frees */
} th_response;

/* Full control over the request; fills *out (free with th_response_free). */
void th_http_ex(th_server *s, const th_request *req, th_response *out);
void th_response_free(th_response *r);
/* The value of a response header (case-insensitive), copied into buf;
 * false when absent. */
bool th_header(const th_response *r, const char *name, char *buf, size_t cap);

/* th_http + json_loads: NULL when the body is not JSON. */
json_t *th_json(th_server *s, const char *method, const char *path,
                const char *body, const char *key, int *status);

#endif
