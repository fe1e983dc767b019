/*
 * body.h - reading JSON request bodies with field-specific 400 errors.
 *
 * Every helper either succeeds (returns true) or writes the 400 response
 * itself and returns false, so handlers read fields in a straight line:
 *
 *     body_in in = { obj, "", resp };
 *     if (!body_str(&in, "type", BODY_REQUIRED, QUEUE_MAX_NAME, &type) ||
 *         !body_int(&in, "priority", 0, -1000000, 1000000, &prio))
 *         goto out;
 *
 * Error bodies: {"error":{"code":"missing_field"|"invalid_field",
 * "message":"field 'priority' must be ...","field":"priority"}}.  Inside
 * a batch, `where` prefixes the field ("jobs[3].priority").  A JSON null
 * counts as absent.  Optional absent fields leave *out untouched, so set
 * defaults first.  Pointers handed out borrow from the json_t.
 */
#ifndef HTTP_BODY_H
#define HTTP_BODY_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/server.h"

#define BODY_MAX_DEPTH 64

enum { BODY_REQUIRED = 1 };

typedef struct body_in {
    json_t *obj;        /* the object read from (borrowed) */
    const char *where;  /* field prefix for messages: "" or "jobs[3]." */
    http_resp *resp;    /* receives the 400 */
} body_in;

/*
 * Parses data as a JSON object: malformed, truncated, invalid UTF-8,
 * duplicate keys, numbers out of range, nesting deeper than
 * BODY_MAX_DEPTH, or a non-object -> 400 "invalid_json" and NULL.
 * allow_empty: an empty body parses as {}.  OUT: new reference.
 */
json_t *body_parse(const char *data, size_t len, bool allow_empty,
                   http_resp *resp);
/* Nesting depth of JSON text (strings skipped); stops counting past max. */
int body_depth(const char *data, size_t len, int max);

/* A non-empty string of at most maxlen bytes. */
bool body_str(const body_in *in, const char *field, unsigned flags,
              size_t maxlen, const char **out);
/* An integer (not a real, not a boolean) in [lo, hi]. */
bool body_int(const body_in *in, const char *field, unsigned flags,
              int64_t lo, int64_t hi, int64_t *out);
bool body_bool(const body_in *in, const char *field, unsigned flags,
               bool *out);
/* A JSON object (borrowed). */
bool body_obj(const body_in *in, const char *field, unsigned flags,
              json_t **out);
/* Any JSON value (borrowed; absent and null leave *out NULL). */
bool body_any(const body_in *in, const char *field, json_t **out);
/* An array of 1..max_items elements (borrowed); min_items may be 0. */
bool body_array(const body_in *in, const char *field, unsigned flags,
                size_t min_items, size_t max_items, json_t **out);
/* An array of at most max_items non-empty strings of <= maxlen bytes. */
bool body_str_array(const body_in *in, const char *field, unsigned flags,
                    size_t max_items, size_t maxlen, json_t **out);
/* An RFC 3339 time string, as ms since the epoch. */
bool body_time(const body_in *in, const char *field, unsigned flags,
               int64_t *out);

/* false (with a 400 unknown_field naming it) when in's object has a field
 * outside known. */
bool body_only_fields(const body_in *in, const char *const *known,
                      size_t nknown);

/* A query parameter holding an integer in [lo, hi] (NULL value = absent,
 * *out untouched).  400 invalid_field naming the parameter otherwise. */
bool body_query_int(http_resp *resp, const char *name, const char *value,
                    int64_t lo, int64_t hi, int64_t *out);

/* Writes a 400 naming where+field with code and message "field '…' …". */
void body_field_error(const body_in *in, const char *code, const char *field,
                      const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
