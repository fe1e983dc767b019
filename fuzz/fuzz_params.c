/*
 * fuzz_params.c - libFuzzer target: the small parsers of the request line
 * and headers, through the functions the handlers call.
 *
 * Input: the first byte picks the parser, the rest (cut at a NUL, as
 * libmicrohttpd hands out C strings) is the value.
 *
 *   'q' a query integer (body_query_int) with the bounds of ?limit= and
 *       of ?cursor= / ?parent_id= / ?version=
 *   'i' the {id} path segment of /v1/jobs/{id}/... (api_job_id)
 *   's' ?state= (job_state_parse)
 *   'm' the If-Match header of a state write (api_state_read)
 *
 * Any other byte picks parsers[byte % 4].  Each result is compared with an
 * independent reading of the grammar the header comments promise
 * (FUZZ_CHECK aborts on a difference), so a value accepted by mistake is
 * found as surely as a crash.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "fuzz.h"
#include "http/api.h"
#include "http/body.h"
#include "queue/queue.h"

/*
 * The grammar -?[0-9]+ (sign only when allowed), read without strtoll.
 * OUT: *v.  false when s does not match or overflows int64.
 */
static bool int_grammar(const char *s, size_t len, bool sign, int64_t *v)
{
    bool neg = sign && len > 0 && s[0] == '-';
    size_t i = neg ? 1 : 0;
    if (i == len) return false;
    __int128 acc = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        acc = acc * 10 + (s[i] - '0');
        if (acc > (__int128)INT64_MAX + 1) return false;
    }
    if (neg) acc = -acc;
    if (acc > INT64_MAX || acc < INT64_MIN) return false;
    *v = (int64_t)acc;
    return true;
}

/* The 400 body_query_int writes names the parameter. */
static void check_400(const http_resp *resp, int status, const char *field)
{
    FUZZ_CHECK(resp->status == status && resp->json);
    json_t *err = json_object_get(resp->json, "error");
    FUZZ_CHECK(json_is_string(json_object_get(err, "message")));
    if (field)
        FUZZ_CHECK(
            !strcmp(json_string_value(json_object_get(err, "field")), field));
}

static void query_int(const char *s)
{
    static const struct {
        const char *name;
        int64_t lo, hi;
    } bounds[] = {{"limit", 1, QUEUE_MAX_BATCH},
                  {"cursor", 1, INT64_MAX},
                  {"expected", INT64_MIN, INT64_MAX}};
    for (size_t b = 0; b < sizeof bounds / sizeof *bounds; b++) {
        http_resp resp = {0};
        int64_t v = 42, want = 0;
        bool ok = body_query_int(&resp, bounds[b].name, s, bounds[b].lo,
                                 bounds[b].hi, &v);
        bool good = int_grammar(s, strlen(s), true, &want) &&
                    want >= bounds[b].lo && want <= bounds[b].hi;
        FUZZ_CHECK(ok == good);
        if (ok)
            FUZZ_CHECK(v == want && resp.status == 0);
        else
            check_400(&resp, 400, bounds[b].name);
        http_resp_clear(&resp);
    }
    http_resp resp = {0};
    int64_t v = 42;
    FUZZ_CHECK(body_query_int(&resp, "absent", NULL, 1, 2, &v) && v == 42);
}

static void job_id(const char *s)
{
    http_req req = {.params = {s}, .nparams = 1};
    http_resp resp = {0};
    int64_t id = 0, want = 0;
    bool ok = api_job_id(&req, &resp, &id);
    bool good = int_grammar(s, strlen(s), false, &want) && want > 0;
    FUZZ_CHECK(ok == good);
    if (ok)
        FUZZ_CHECK(id == want && resp.status == 0);
    else
        check_400(&resp, 404, NULL);
    http_resp_clear(&resp);
}

static void state_name(const char *s)
{
    job_state st;
    if (job_state_parse(s, &st)) {
        FUZZ_CHECK(st >= 0 && st < JOB_NSTATES);
        FUZZ_CHECK(!strcmp(job_state_name(st), s));
    }
}

/* If-Match: "*" (no check), or a version: digits, optionally in quotes,
 * optionally weak (W/); at most 31 characters once unwrapped. */
static void if_match(const char *h)
{
    json_t *o = json_pack("{s:{}}", "state"), *state = NULL;
    http_resp resp = {0};
    int64_t expected = -1, want = -1;
    bool ok = api_state_read(o, h, &resp, &state, &expected);
    const char *p = h;
    size_t len = strlen(p);
    bool good = true;
    if (strcmp(h, "*") != 0) {
        if (strncmp(p, "W/", 2) == 0) p += 2, len -= 2;
        if (len >= 2 && p[0] == '"' && p[len - 1] == '"') p++, len -= 2;
        good = len < 32 && int_grammar(p, len, false, &want);
    }
    FUZZ_CHECK(ok == good);
    if (ok)
        FUZZ_CHECK(expected == want && state && resp.status == 0);
    else
        check_400(&resp, 400, NULL);
    http_resp_clear(&resp);
    json_decref(o);
}

static const struct {
    char letter;
    void (*parse)(const char *s);
} parsers[] = {
    {'q', query_int},
    {'i', job_id},
    {'s', state_name},
    {'m', if_match},
};
#define NPARSERS (sizeof parsers / sizeof *parsers)

int fuzz_params_one(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    size_t k = data[0] % NPARSERS;
    for (size_t i = 0; i < NPARSERS; i++)
        if (parsers[i].letter == (char)data[0]) k = i;
    char *s = fuzz_cstr(data + 1, size - 1);
    parsers[k].parse(s);
    free(s);
    return 0;
}

FUZZ_ENTRY(fuzz_params_one)
