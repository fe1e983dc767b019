/*
 * llm.h - the optional LLM client: chat completions from any
 * OpenAI-compatible endpoint (OpenAI, Ollama, llama.cpp server, vLLM).
 *
 * Off by default: llm_from_env gives no client unless FLOWSTATE_LLM_URL is
 * set, and every agent works without one on its deterministic logic.
 * Agents reach it through agent_llm (agents/runtime.h).  A client is
 * immutable once open, so any number of threads may call llm_chat on it
 * at once.
 */
#ifndef AGENTS_LLM_H
#define AGENTS_LLM_H
#include <stddef.h>

typedef struct llm llm;

/* Strings are copied by llm_open. */
typedef struct llm_config {
    const char *url;      /* base URL, e.g. "https://api.openai.com/v1" */
    const char *model;    /* e.g. "gpt-4o-mini", "llama3.1" */
    const char *key;      /* bearer key, NULL for none; never logged */
    long timeout_ms;      /* per request: 0 = 120000 */
    int max_retries;      /* on 429, 5xx and network errors: 0 = none,
                             -1 = default 3 */
    long max_backoff_ms;  /* cap on one wait, Retry-After included: 0 =
                             30000 */
    double temperature;   /* sent as is; < 0: not sent (server default) */
    int max_tokens;       /* > 0: sent as "max_tokens"; 0: not sent */
} llm_config;

/* Errors: FS_EINVAL (missing url or model, a negative timeout or max_tokens). */
int llm_open(llm **out, const llm_config *cfg);

/*
 * A client from FLOWSTATE_LLM_URL, FLOWSTATE_LLM_MODEL and
 * FLOWSTATE_LLM_KEY (optional), temperature 0, other settings default.
 * OUT: *out, NULL when FLOWSTATE_LLM_URL is unset or empty (no LLM: not an
 * error).  Errors: FS_EINVAL with a message in err when the URL is set but
 * the model is not.
 */
int llm_from_env(llm **out, char *err, size_t errlen);

/*
 * Asks the model: POST {url}/chat/completions with a system message
 * (system may be NULL: none) and the user message, and reads
 * choices[0].message.content.  OUT: *answer (the caller frees; "" when the
 * model said nothing and did not refuse).
 * Errors (with a message in err, errlen bytes): FS_EINVAL (user NULL, text
 * not UTF-8), FS_ETOOBIG (system + user over LLM_MAX_PROMPT bytes),
 * FS_ETIMEDOUT, FS_EIO (HTTP errors, an answer without choices or with
 * non-text content, a refusal).  Thread-safe.
 */
#define LLM_MAX_PROMPT (1u << 20)
int llm_chat(llm *l, const char *system, const char *user, char **answer,
             char *err, size_t errlen);

/* NULL is a no-op. */
void llm_close(llm *l);

#endif
