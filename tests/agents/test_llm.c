/*
 * test_llm.c - the LLM client (agents/llm.h) against a loopback server
 * (support/fakehttp.h) that speaks /v1/chat/completions and can be told to
 * misbehave: an OpenAI-style 400, an HTML 502, 429 with Retry-After, 5xx
 * past the retries, slowness past the timeout, answers without choices,
 * with non-string content or a refusal, or too big.  Also: the request as sent, the
 * prompt limits, llm_from_env, several threads on one client.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/llm.h"
#include "core/clock.h"
#include "core/fs.h"
#include "support/fakehttp.h"

/* How the server answers (besides fakehttp's FH_* modes). */
enum { ERR_400 = FH_CUSTOM, NO_CHOICES, NUM_CONTENT, REFUSAL, EMPTY, ECHO_KEY,
       HUGE };

static fakehttp S;

/* An answer whose content is `message` (a new reference, NULL for null). */
static char *chat_reply(json_t *message)
{
    json_t *out = json_pack("{s:s,s:s,s:[{s:i,s:o,s:s}]}", "object",
                            "chat.completion", "model", "m", "choices",
                            "index", 0, "message", message, "finish_reason",
                            "stop");
    char *s = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    return s;
}

/* "echo: " and the last message's content. */
static char *echo_reply(const char *req)
{
    json_t *r = json_loads(req, 0, NULL);
    json_t *msgs = json_object_get(r, "messages");
    const char *said = json_string_value(json_object_get(
        json_array_get(msgs, json_array_size(msgs) - 1), "content"));
    char text[256];
    snprintf(text, sizeof text, "echo: %s", said ? said : "?");
    json_decref(r);
    return chat_reply(json_pack("{s:s,s:s,s:n}", "role", "assistant",
                                "content", text, "refusal"));
}

static void respond(fakehttp *s, int mode, const char *req, fh_reply *r)
{
    switch (mode) {
    case ERR_400:
        r->status = 400;
        r->body = strdup("{\"error\":{\"message\":\"The model `nope` does not "
                         "exist\",\"type\":\"invalid_request_error\","
                         "\"code\":\"model_not_found\"}}");
        break;
    case NO_CHOICES:
        r->body = strdup("{\"object\":\"chat.completion\",\"choices\":[]}");
        break;
    case NUM_CONTENT:
        r->body = chat_reply(json_pack("{s:s,s:i}", "role", "assistant",
                                       "content", 42));
        break;
    case REFUSAL:
        r->body = chat_reply(json_pack("{s:s,s:n,s:s}", "role", "assistant",
                                       "content", "refusal",
                                       "I can't help with that."));
        break;
    case EMPTY:
        r->body = chat_reply(json_pack("{s:s,s:s}", "role", "assistant",
                                       "content", ""));
        break;
    case ECHO_KEY:
        r->status = 401;
        if (asprintf(&r->body, "{\"error\":{\"message\":\"Incorrect API key "
                     "provided: %s\"}}", s->last_auth) < 0) r->body = NULL;
        break;
    case HUGE: /* 65 MiB of blanks */
        r->body = malloc((65u << 20) + 1);
        memset(r->body, ' ', 65u << 20);
        r->body[65u << 20] = '\0';
        break;
    default: r->body = echo_reply(req); break;
    }
}

static void start(int n, const int *script)
{
    fh_start(&S, respond, n, script);
}

/* A client of the fake server at /v1/ (a trailing slash on purpose). */
static llm *open_at(long timeout_ms, int retries)
{
    char url[80];
    snprintf(url, sizeof url, "%s/v1/", S.url);
    llm_config c = { .url = url, .model = "test-model", .key = "sk-secret",
                     .timeout_ms = timeout_ms, .max_retries = retries,
                     .max_backoff_ms = 2000, .temperature = 0.2,
                     .max_tokens = 64 };
    llm *l;
    cr_assert_eq(llm_open(&l, &c), 0);
    return l;
}

Test(llm, chat_sends_model_messages_and_key_and_reads_the_answer, .timeout = 30)
{
    start(0, NULL);
    llm *l = open_at(5000, 0);
    char err[256] = "", *answer;
    cr_assert_eq(llm_chat(l, "You are terse.", "Hello", &answer, err, sizeof err),
                 0, "%s", err);
    cr_assert_str_eq(answer, "echo: Hello");
    free(answer);
    cr_assert_str_eq(S.last_path, "/v1/chat/completions");
    cr_assert_str_eq(S.last_auth, "Bearer sk-secret");
    json_t *req = json_loads(S.last_body, 0, NULL);
    cr_assert_not_null(req, "%s", S.last_body);
    cr_assert_str_eq(json_string_value(json_object_get(req, "model")), "test-model");
    json_t *msgs = json_object_get(req, "messages");
    cr_assert_eq(json_array_size(msgs), 2);
    json_t *sys = json_array_get(msgs, 0), *usr = json_array_get(msgs, 1);
    cr_assert_str_eq(json_string_value(json_object_get(sys, "role")), "system");
    cr_assert_str_eq(json_string_value(json_object_get(sys, "content")), "You are terse.");
    cr_assert_str_eq(json_string_value(json_object_get(usr, "role")), "user");
    cr_assert_str_eq(json_string_value(json_object_get(usr, "content")), "Hello");
    cr_assert(strstr(S.last_body, "\"temperature\":0.2"), "shortest form: %s",
              S.last_body);
    cr_assert_eq(json_integer_value(json_object_get(req, "max_tokens")), 64);
    json_decref(req);
    llm_close(l);
}

Test(llm, defaults_send_no_system_key_temperature_or_max_tokens, .timeout = 30)
{
    start(0, NULL);
    llm *l;
    cr_assert_eq(llm_open(&l, &(llm_config){ .url = S.url, .model = "m",
                                             .temperature = -1 }), 0);
    char err[256] = "", *answer;
    cr_assert_eq(llm_chat(l, NULL, "Hi", &answer, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(answer, "echo: Hi");
    free(answer);
    cr_assert_str_eq(S.last_path, "/chat/completions");
    cr_assert_str_eq(S.last_auth, "", "no key, no header");
    json_t *req = json_loads(S.last_body, 0, NULL);
    cr_assert_eq(json_array_size(json_object_get(req, "messages")), 1);
    cr_assert_null(json_object_get(req, "temperature"));
    cr_assert_null(json_object_get(req, "max_tokens"));
    json_decref(req);
    llm_close(l);
}

Test(llm, http_errors_and_malformed_answers_fail_with_a_clear_message, .timeout = 30)
{
    struct { int m; const char *says, *and_says; } cases[] = {
        { ERR_400, "HTTP 400", "The model `nope` does not exist" },
        { FH_HTML_502, "HTTP 502", "<h1>502 Bad Gateway" },
        { NO_CHOICES, "LLM endpoint", "no \"choices\"" },
        { NUM_CONTENT, "LLM endpoint", "content is not a string" },
        { REFUSAL, "refused", "I can't help with that." },
        { ECHO_KEY, "HTTP 401", "Incorrect API key provided: Bearer *********" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        start(1, &cases[i].m);
        llm *l = open_at(5000, 0);
        char err[256] = "", *answer;
        cr_assert_eq(llm_chat(l, "s", "u", &answer, err, sizeof err), FS_EIO,
                     "case %zu", i);
        cr_assert_null(answer);
        cr_assert(strstr(err, cases[i].says), "case %zu: %s", i, err);
        cr_assert(strstr(err, cases[i].and_says), "case %zu: %s", i, err);
        cr_assert_null(strstr(err, "sk-secret"), "never the key: %s", err);
        llm_close(l);
        fh_stop(&S);
    }
}

Test(llm, an_empty_answer_is_an_answer, .timeout = 30)
{
    int script[] = { EMPTY };
    start(1, script);
    llm *l = open_at(5000, 0);
    char err[256] = "", *answer;
    cr_assert_eq(llm_chat(l, NULL, "u", &answer, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(answer, "");
    free(answer);
    llm_close(l);
}

Test(llm, retries_honour_retry_after_then_succeed, .timeout = 30)
{
    int script[] = { FH_RATE_LIMITED, FH_ERR_500 };
    start(2, script);
    llm *l = open_at(5000, 3);
    char err[256] = "", *answer;
    int64_t t0 = fs_mono_ms();
    cr_assert_eq(llm_chat(l, NULL, "again", &answer, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(answer, "echo: again");
    cr_assert_eq(S.served, 3, "429, 500, then the answer");
    cr_assert_geq(fs_mono_ms() - t0, 1000, "waited the Retry-After second");
    free(answer);
    llm_close(l);
}

Test(llm, gives_up_after_max_retries, .timeout = 30)
{
    int script[] = { FH_ERR_500, FH_ERR_500, FH_ERR_500, FH_ERR_500 };
    start(4, script);
    llm *l = open_at(5000, 2);
    char err[256] = "", *answer;
    cr_assert_eq(llm_chat(l, NULL, "u", &answer, err, sizeof err), FS_EIO);
    cr_assert_eq(S.served, 3, "one try and two retries");
    cr_assert(strstr(err, "LLM endpoint answered HTTP 500 with an error: boom"),
              "%s", err);
    llm_close(l);
}

Test(llm, an_answer_over_64_mib_fails_without_retries, .timeout = 60)
{
    int script[] = { HUGE, HUGE, HUGE, HUGE };
    start(4, script);
    llm *l = open_at(20000, 3);
    char err[256] = "", *answer;
    cr_assert_eq(llm_chat(l, NULL, "u", &answer, err, sizeof err), FS_EIO);
    cr_assert(strstr(err, "over 64 MiB"), "%s", err);
    /* Retried, it would be asked 4 times; a connection error before the
     * first answer (a loaded machine) may add one try, no more. */
    cr_assert_leq(S.served, 2, "not worth another try: asked %d times",
                  (int)S.served);
    llm_close(l);
}

Test(llm, a_slow_endpoint_times_out, .timeout = 30)
{
    int script[] = { FH_SLOW };
    start(1, script);
    llm *l = open_at(300, 0);
    char err[256] = "", *answer;
    cr_assert_eq(llm_chat(l, NULL, "u", &answer, err, sizeof err), FS_ETIMEDOUT,
                 "%s", err);
    cr_assert(strstr(err, "LLM endpoint"), "%s", err);
    llm_close(l);
}

Test(llm, prompts_are_checked_before_anything_is_sent, .timeout = 30)
{
    start(0, NULL);
    llm *l = open_at(5000, 0);
    char err[256] = "", *answer;
    cr_assert_eq(llm_chat(l, "s", NULL, &answer, err, sizeof err), FS_EINVAL);
    size_t n = LLM_MAX_PROMPT + 1;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[n] = '\0';
    cr_assert_eq(llm_chat(l, NULL, big, &answer, err, sizeof err), FS_ETOOBIG);
    cr_assert(strstr(err, "over the limit"), "%s", err);
    big[n - 2] = '\0'; /* fits alone, not with the system prompt */
    cr_assert_eq(llm_chat(l, "abc", big, &answer, err, sizeof err), FS_ETOOBIG);
    free(big);
    cr_assert_eq(llm_chat(l, NULL, "caf\xe9", &answer, err, sizeof err), FS_EINVAL);
    cr_assert(strstr(err, "UTF-8"), "%s", err);
    cr_assert_eq(S.served, 0);
    llm_close(l);
    llm *none = NULL;
    cr_assert_eq(llm_open(&none, &(llm_config){ .url = S.url }), FS_EINVAL,
                 "a model is needed");
}

Test(llm, from_env_is_off_by_default_and_reads_the_variables, .timeout = 30)
{
    char err[256] = "";
    llm *l = (llm *)1;
    unsetenv("FLOWSTATE_LLM_URL");
    cr_assert_eq(llm_from_env(&l, err, sizeof err), 0);
    cr_assert_null(l, "no URL: no LLM, not an error");
    setenv("FLOWSTATE_LLM_URL", "", 1);
    cr_assert_eq(llm_from_env(&l, err, sizeof err), 0);
    cr_assert_null(l);

    start(0, NULL);
    setenv("FLOWSTATE_LLM_URL", S.url, 1);
    unsetenv("FLOWSTATE_LLM_MODEL");
    cr_assert_eq(llm_from_env(&l, err, sizeof err), FS_EINVAL);
    cr_assert(strstr(err, "FLOWSTATE_LLM_MODEL"), "%s", err);
    setenv("FLOWSTATE_LLM_MODEL", "env-model", 1);
    setenv("FLOWSTATE_LLM_KEY", "sk-env", 1);
    cr_assert_eq(llm_from_env(&l, err, sizeof err), 0, "%s", err);
    cr_assert_not_null(l);
    char *answer;
    cr_assert_eq(llm_chat(l, NULL, "x", &answer, err, sizeof err), 0, "%s", err);
    free(answer);
    cr_assert_str_eq(S.last_auth, "Bearer sk-env");
    json_t *req = json_loads(S.last_body, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(req, "model")), "env-model");
    json_t *temp = json_object_get(req, "temperature");
    cr_assert(json_is_number(temp) && json_number_value(temp) == 0.0);
    json_decref(req);
    llm_close(l);
}

/* Several threads on one client, each checking it got its own answer. */
static llm *SHARED;

static void *ask_many(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int k = 0; k < 5; k++) {
        char prompt[32], want[48], err[256] = "", *answer;
        snprintf(prompt, sizeof prompt, "t%d-%d", t, k);
        snprintf(want, sizeof want, "echo: %s", prompt);
        if (llm_chat(SHARED, "sys", prompt, &answer, err, sizeof err) ||
            strcmp(answer, want)) {
            free(answer);
            return (void *)1;
        }
        free(answer);
    }
    return NULL;
}

Test(llm, one_client_serves_several_threads, .timeout = 60)
{
    start(0, NULL);
    SHARED = open_at(10000, 0);
    pthread_t th[8];
    for (int t = 0; t < 8; t++)
        cr_assert_eq(pthread_create(&th[t], NULL, ask_many, (void *)(intptr_t)t), 0);
    for (int t = 0; t < 8; t++) {
        void *bad;
        pthread_join(th[t], &bad);
        cr_assert_null(bad, "thread %d got a wrong answer or an error", t);
    }
    cr_assert_eq(S.served, 40);
    llm_close(SHARED);
}
