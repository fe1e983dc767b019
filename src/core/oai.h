/*
 * oai.h - one POST to an OpenAI-compatible HTTP endpoint (OpenAI, Ollama,
 * llama.cpp server, vLLM), shared by the embedder (memory/embed_openai.c)
 * and the LLM client (agents/llm.c).
 *
 * oai_post sends a JSON body with the bearer key and hands back the parsed
 * JSON of a 2xx answer.  A request that fails with 429, a 5xx or a network
 * error (a timeout included) is retried up to max_retries times after an
 * exponential backoff with jitter, or after the server's Retry-After when
 * it gives one; either wait is capped by max_backoff_ms.  Every other
 * failure ends the call with a message naming the endpoint (`what`): the
 * HTTP status and the server's error message or the start of a non-JSON
 * body (an HTML error page).  The key goes only into the Authorization
 * header and never into a message.
 *
 * Stateless: any number of threads may post at once.
 */
#ifndef CORE_OAI_H
#define CORE_OAI_H
#include <jansson.h>
#include <stddef.h>

/* Borrowed strings: they must live as long as the call. */
typedef struct oai_endpoint {
    const char *url;      /* base URL, e.g. "https://api.openai.com/v1"
                             (a trailing '/' is ignored) */
    const char *key;      /* bearer key, NULL for none */
    const char *what;     /* names it in messages: "embedding endpoint" */
    long timeout_ms;      /* per request, > 0 */
    int max_retries;      /* on 429, 5xx and network errors; 0 = none */
    long max_backoff_ms;  /* cap on one wait, Retry-After included */
} oai_endpoint;

/*
 * POSTs body (JSON text) to {e->url}{path} (path like "/embeddings").
 * OUT: *root, the parsed answer (a new reference the caller decrefs) when
 * the final answer is a 2xx with a JSON body; NULL otherwise.
 * Errors (with a message in err, errlen bytes): FS_ETIMEDOUT when the last
 * try timed out, FS_EIO for every other failure (network, HTTP status,
 * non-JSON answer, an answer over 64 MiB).
 */
int oai_post(const oai_endpoint *e, const char *path, const char *body,
             json_t **root, char *err, size_t errlen);

#endif
