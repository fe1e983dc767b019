/*
 * llm.c - chat completions from an OpenAI-compatible endpoint (see llm.h).
 *
 * One call is one core/oai.h POST of
 *   {"model","messages":[{"role":"system",...},{"role":"user",...}],
 *    "temperature","max_tokens"}
 * to {url}/chat/completions (oai_post retries, times out and describes
 * HTTP errors), then choices[0].message.content is the answer.  Nothing
 * changes after llm_open, which is what makes llm_chat thread-safe.
 */
#include "agents/llm.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/json.h"
#include "core/oai.h"
#include "core/xmem.h"

#define WHAT "LLM endpoint"

struct llm {
    char *url, *model, *key; /* owned copies */
    double temperature;
    int max_tokens;
    oai_endpoint ep;         /* over the copies */
};

int llm_open(llm **out, const llm_config *cfg)
{
    if (!cfg->url || !*cfg->url || !cfg->model || !*cfg->model ||
        cfg->timeout_ms < 0 || cfg->max_backoff_ms < 0 || cfg->max_tokens < 0)
        return FS_EINVAL;
    llm *l = xcalloc(1, sizeof *l);
    l->url = xstrdup(cfg->url);
    l->model = xstrdup(cfg->model);
    l->key = xstrdup(cfg->key);
    l->temperature = cfg->temperature;
    l->max_tokens = cfg->max_tokens;
    l->ep = (oai_endpoint){ l->url, l->key, WHAT,
                            cfg->timeout_ms ? cfg->timeout_ms : 120000,
                            cfg->max_retries < 0 ? 3 : cfg->max_retries,
                            cfg->max_backoff_ms ? cfg->max_backoff_ms : 30000 };
    *out = l;
    return 0;
}

int llm_from_env(llm **out, char *err, size_t errlen)
{
    const char *url = getenv("FLOWSTATE_LLM_URL");
    const char *model = getenv("FLOWSTATE_LLM_MODEL");
    const char *key = getenv("FLOWSTATE_LLM_KEY");
    *out = NULL;
    if (!url || !*url) return 0;
    if (!model || !*model) {
        snprintf(err, errlen, "FLOWSTATE_LLM_URL is set but FLOWSTATE_LLM_MODEL "
                 "is not (e.g. gpt-4o-mini, llama3.1)");
        return FS_EINVAL;
    }
    llm_config c = { .url = url, .model = model, .key = key && *key ? key : NULL,
                     .max_retries = -1 };
    return llm_open(out, &c);
}

/* The request's JSON text (the caller frees); NULL when a text is not
 * UTF-8. */
static char *request_body(const llm *l, const char *system, const char *user)
{
    json_t *sys = system ? json_pack("{s:s,s:s}", "role", "system", "content",
                                     system)
                         : NULL;
    json_t *usr = json_pack("{s:s,s:s}", "role", "user", "content", user);
    if ((system && !sys) || !usr) {
        json_decref(sys);
        json_decref(usr);
        return NULL;
    }
    json_t *msgs = json_array();
    if (sys) json_array_append_new(msgs, sys);
    json_array_append_new(msgs, usr);
    json_t *req = json_pack("{s:s,s:o}", "model", l->model, "messages", msgs);
    if (l->temperature >= 0)
        json_object_set_new(req, "temperature", json_real(l->temperature));
    if (l->max_tokens > 0)
        json_object_set_new(req, "max_tokens", json_integer(l->max_tokens));
    char *body = fs_json_dump(req, 0);
    json_decref(req);
    return body;
}

/* Reads choices[0].message of an answer.  OUT: *answer. */
static int read_answer(json_t *root, char **answer, char *err, size_t errlen)
{
    json_t *choices = json_object_get(root, "choices");
    json_t *msg = json_object_get(json_array_get(choices, 0), "message");
    if (!json_is_array(choices) || json_array_size(choices) == 0) {
        snprintf(err, errlen, WHAT ": the answer has no \"choices\"");
        return FS_EIO;
    }
    if (!json_is_object(msg)) {
        snprintf(err, errlen, WHAT ": choices[0] has no \"message\"");
        return FS_EIO;
    }
    json_t *content = json_object_get(msg, "content");
    const char *refusal = json_string_value(json_object_get(msg, "refusal"));
    if (refusal && *refusal) {
        snprintf(err, errlen, WHAT ": the model refused: %.200s", refusal);
        return FS_EIO;
    }
    if (content && !json_is_null(content) && !json_is_string(content)) {
        snprintf(err, errlen, WHAT ": choices[0].message.content is not a string");
        return FS_EIO;
    }
    *answer = xstrdup(content ? json_string_value(content) : NULL);
    if (!*answer) *answer = xstrdup("");
    return 0;
}

int llm_chat(llm *l, const char *system, const char *user, char **answer,
             char *err, size_t errlen)
{
    *answer = NULL;
    if (!user) {
        snprintf(err, errlen, "no prompt for the LLM");
        return FS_EINVAL;
    }
    size_t size = strlen(user) + (system ? strlen(system) : 0);
    if (size > LLM_MAX_PROMPT) {
        snprintf(err, errlen, "the prompt for the LLM is %zu bytes, over the "
                 "limit of %u", size, LLM_MAX_PROMPT);
        return FS_ETOOBIG;
    }
    char *body = request_body(l, system, user);
    if (!body) {
        snprintf(err, errlen, "the prompt for the LLM is not valid UTF-8");
        return FS_EINVAL;
    }
    json_t *root;
    int rc = oai_post(&l->ep, "/chat/completions", body, &root, err, errlen);
    if (!rc) rc = read_answer(root, answer, err, errlen);
    json_decref(root);
    free(body);
    return rc;
}

void llm_close(llm *l)
{
    if (!l) return;
    free(l->url);
    free(l->model);
    if (l->key) memset(l->key, 0, strlen(l->key));
    free(l->key);
    free(l);
}
