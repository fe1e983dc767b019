/*
 * body.c - JSON request bodies in, field-specific 400s out (see body.h).
 *
 * jansson already rejects malformed and truncated text, invalid UTF-8,
 * "\u0000", integers beyond int64 and reals beyond double.  What it allows
 * and we do not: nesting past BODY_MAX_DEPTH (jansson's own limit is 2048,
 * too deep for handlers that recurse), checked by a scan before parsing,
 * and duplicate keys (ambiguous), refused with JSON_REJECT_DUPLICATES.
 */
#include "http/body.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

int body_depth(const char *data, size_t len, int max)
{
    int depth = 0, deepest = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > deepest) deepest = depth;
            if (deepest > max) break;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return deepest;
}

json_t *body_parse(const char *data, size_t len, bool allow_empty,
                   http_resp *resp)
{
    size_t blank = 0;
    while (blank < len && strchr(" \t\r\n", data[blank]) && data[blank]) blank++;
    if (blank == len) {
        if (allow_empty) return json_object();
        http_resp_error(resp, 400, "invalid_json",
                        "request body must be a JSON object");
        return NULL;
    }
    if (body_depth(data, len, BODY_MAX_DEPTH) > BODY_MAX_DEPTH) {
        http_resp_error(resp, 400, "invalid_json",
                        "JSON nested deeper than %d levels", BODY_MAX_DEPTH);
        return NULL;
    }
    json_error_t err;
    json_t *o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &err);
    if (!o) {
        http_resp_error(resp, 400, "invalid_json",
                        "malformed JSON at line %d column %d: %s", err.line,
                        err.column, err.text);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        http_resp_error(resp, 400, "invalid_json",
                        "request body must be a JSON object");
        return NULL;
    }
    return o;
}

void body_field_error(const body_in *in, const char *code, const char *field,
                      const char *fmt, ...)
{
    char name[160], msg[400];
    snprintf(name, sizeof name, "%s%s", in->where, field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *err = http_resp_error(in->resp, 400, code, "field '%s' %s", name,
                                  msg);
    json_object_set_new(err, "field", json_string(name));
}

/* Looks field up; false with a 400 when required and absent.
 * OUT: *v (NULL when absent or null). */
static bool lookup(const body_in *in, const char *field, unsigned flags,
                   json_t **v)
{
    *v = json_object_get(in->obj, field);
    if (json_is_null(*v)) *v = NULL;
    if (!*v && (flags & BODY_REQUIRED)) {
        body_field_error(in, "missing_field", field, "is required");
        return false;
    }
    return true;
}

bool body_str(const body_in *in, const char *field, unsigned flags,
              size_t maxlen, const char **out)
{
    json_t *v;
    if (!lookup(in, field, flags, &v)) return false;
    if (!v) return true;
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) > maxlen) {
        body_field_error(in, "invalid_field", field,
                         "must be a non-empty string of at most %zu bytes",
                         maxlen);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

bool body_int(const body_in *in, const char *field, unsigned flags,
              int64_t lo, int64_t hi, int64_t *out)
{
    json_t *v;
    if (!lookup(in, field, flags, &v)) return false;
    if (!v) return true;
    if (!json_is_integer(v) || json_integer_value(v) < lo ||
        json_integer_value(v) > hi) {
        body_field_error(in, "invalid_field", field,
                         "must be an integer between %" PRId64 " and %" PRId64,
                         lo, hi);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

bool body_bool(const body_in *in, const char *field, unsigned flags, bool *out)
{
    json_t *v;
    if (!lookup(in, field, flags, &v)) return false;
    if (!v) return true;
    if (!json_is_boolean(v)) {
        body_field_error(in, "invalid_field", field, "must be true or false");
        return false;
    }
    *out = json_is_true(v);
    return true;
}

bool body_obj(const body_in *in, const char *field, unsigned flags,
              json_t **out)
{
    json_t *v;
    if (!lookup(in, field, flags, &v)) return false;
    if (!v) return true;
    if (!json_is_object(v)) {
        body_field_error(in, "invalid_field", field, "must be a JSON object");
        return false;
    }
    *out = v;
    return true;
}

bool body_any(const body_in *in, const char *field, json_t **out)
{
    json_t *v;
    if (!lookup(in, field, 0, &v)) return false;
    *out = v;
    return true;
}

bool body_array(const body_in *in, const char *field, unsigned flags,
                size_t min_items, size_t max_items, json_t **out)
{
    json_t *v;
    if (!lookup(in, field, flags, &v)) return false;
    if (!v) return true;
    if (!json_is_array(v) || json_array_size(v) < min_items ||
        json_array_size(v) > max_items) {
        body_field_error(in, "invalid_field", field,
                         "must be an array of %zu to %zu items", min_items,
                         max_items);
        return false;
    }
    *out = v;
    return true;
}

bool body_str_array(const body_in *in, const char *field, unsigned flags,
                    size_t max_items, size_t maxlen, json_t **out)
{
    json_t *v, *item;
    size_t i;
    if (!lookup(in, field, flags, &v)) return false;
    if (!v) return true;
    bool ok = json_is_array(v) && json_array_size(v) <= max_items;
    json_array_foreach(ok ? v : NULL, i, item)
        if (!json_is_string(item) || json_string_length(item) == 0 ||
            json_string_length(item) > maxlen)
            ok = false;
    if (!ok) {
        body_field_error(in, "invalid_field", field,
                         "must be an array of at most %zu non-empty strings "
                         "of at most %zu bytes", max_items, maxlen);
        return false;
    }
    *out = v;
    return true;
}

bool body_time(const body_in *in, const char *field, unsigned flags,
               int64_t *out)
{
    json_t *v;
    int64_t ms;
    if (!lookup(in, field, flags, &v)) return false;
    if (!v) return true;
    if (!json_is_string(v) || json_string_length(v) > 64 ||
        !fs_time_parse(json_string_value(v), &ms) || ms <= 0) {
        body_field_error(in, "invalid_field", field,
                         "must be an RFC 3339 time such as "
                         "\"2026-01-02T03:04:05Z\"");
        return false;
    }
    *out = ms;
    return true;
}

bool body_query_int(http_resp *resp, const char *name, const char *value,
                    int64_t lo, int64_t hi, int64_t *out)
{
    if (!value) return true;
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (!*value || *end || errno || v < lo || v > hi ||
        strspn(value, "-0123456789") != strlen(value)) {
        json_t *err = http_resp_error(
            resp, 400, "invalid_field",
            "query parameter '%s' must be an integer between %" PRId64
            " and %" PRId64, name, lo, hi);
        json_object_set_new(err, "field", json_string(name));
        return false;
    }
    *out = v;
    return true;
}

bool body_only_fields(const body_in *in, const char *const *known,
                      size_t nknown)
{
    const char *k;
    json_t *v;
    json_object_foreach(in->obj, k, v) {
        size_t i = 0;
        while (i < nknown && strcmp(k, known[i])) i++;
        if (i == nknown) {
            body_field_error(in, "unknown_field", k, "is not a known field");
            return false;
        }
    }
    return true;
}
