/*
 * client.h - the HTTP side of the client commands: connection settings
 * (server URL and API key) and one request function speaking JSON.
 *
 * Settings are resolved once, in client_open(), flags first, then the
 * environment, then defaults:
 *   URL: --url, $FLOWSTATE_URL, http://127.0.0.1:8080
 *   key: --key, --key-file, $FLOWSTATE_API_KEY, $FLOWSTATE_KEY_FILE,
 *        ./flowstate.key, else flowstate.key beside $FLOWSTATE_DB (where
 *        `flowstate serve` writes it); trailing whitespace is stripped
 * A flag always beats the environment, so `--key-file F` wins over an
 * exported FLOWSTATE_API_KEY.
 *
 * A client owns one libcurl handle (kept alive between requests, so paging
 * through `job list --all` reuses the connection).  It is not thread-safe;
 * the CLI is single-threaded.
 */
#ifndef CLIENT_H
#define CLIENT_H
#include <jansson.h>
#include <stdbool.h>

#define CLIENT_DEFAULT_URL "http://127.0.0.1:8080"
#define CLIENT_DEFAULT_KEY_FILE "./flowstate.key"

typedef struct client client;

typedef struct client_opts {
    const char *url; /* NULL: environment, then the default */
    const char *key; /* NULL: see the order above */
    const char *key_file;
    long connect_timeout_ms; /* 0: 5 s */
    long timeout_ms;         /* whole request; 0: 30 s */
} client_opts;

/* What the server answered. */
typedef struct client_resp {
    long status;  /* HTTP status code */
    json_t *json; /* the body parsed as JSON, or NULL (empty, not JSON) */
    char *text;   /* the raw body, NUL-terminated, never NULL */
} client_resp;

/*
 * Resolves the settings and prepares a connection (nothing is sent yet).
 * Returns 0 and OUT: *out, or after printing why to stderr FS_EINVAL (a URL
 * without http:// or https://, no key anywhere, an unreadable or empty key
 * file, a key with blanks) or FS_EIO (libcurl would not start).  Either way
 * the problem is local: commands exit 2.  Close with client_close().
 */
int client_open(client **out, const client_opts *opts);
void client_close(client *c);

/*
 * Sends METHOD URL+path (path starts with "/", query already escaped) with
 * body, when not NULL, as the JSON request body, and waits for the answer.
 * Returns 0 when the server answered, whatever the status, filling OUT: *out
 * (free it with client_resp_clear()); or FS_EIO when no answer came
 * (refused, timed out, name not found, ...), after printing
 * "flowstate: cannot reach flowstate at URL: <why>; ..." to stderr.
 */
int client_request(client *c, const char *method, const char *path,
                   const json_t *body, client_resp *out);
void client_resp_clear(client_resp *r);

/*
 * For an answer that is not 2xx: prints the server's error to stderr as
 * "flowstate: <message> (HTTP 409 lease_lost)" and returns the exit code
 * for the status (see client_exit_code()).  Returns CLI_EXIT_OK, printing
 * nothing, for a 2xx answer.
 */
int client_report(const client_resp *r);

/* 2xx -> 0, 404 -> 4, other 4xx -> 1, everything else -> 3 (cli.h). */
int client_exit_code(long status);

/*
 * client_request() + client_report(), the path of most commands.  Returns a
 * CLI exit code; on CLI_EXIT_OK, OUT: *out is the JSON answer (the caller
 * json_decref()s it; a 2xx answer that is not JSON is reported and gives
 * CLI_EXIT_UNREACHABLE).
 */
int client_call(client *c, const char *method, const char *path,
                const json_t *body, json_t **out);

/*
 * Lists through a paged GET: base is the list's path with its filters,
 * key the list's field ("jobs", "documents", "runs").  From cursor (may be
 * NULL) on, OUT: *doc, one page as the server sent it, or with all every
 * page as one document {key: [...], "next_cursor": null} (the caller
 * json_decref()s it; NULL on failure).  A cursor that comes back unchanged
 * ends the walk instead of looping.  Returns the exit code.
 */
int client_list(client *c, const char *base, const char *key,
                const char *cursor, bool all, json_t **doc);

/* Percent-escapes s for a URL path segment or query value (RFC 3986
 * unreserved characters stay); the caller frees the result. */
char *client_escape(const char *s);

/* Appends "?key=value" (or "&key=value" when *path has a query already)
 * with value escaped, reallocating *path; does nothing when value is NULL. */
void client_query_add(char **path, const char *key, const char *value);

#endif
