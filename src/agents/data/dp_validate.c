/*
 * dp_validate.c - record validation (see dp_validate.h for the schema
 * and the result).
 *
 * The schema is compiled once into an array of field specs (type,
 * bounds, enum, compiled pattern) with a JSON object mapping each name
 * to its index.  Each record is checked against every spec in order; in
 * the schema-less mode a record's fields that no spec names get a spec on
 * first sight, typed by dp_kind_guess(), so each field name is guessed
 * once per call.  Names are borrowed from the schema or the records,
 * which outlive the call.
 */
#include "agents/data/dp_validate.h"

#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/data/dp_format.h"
#include "core/fs.h"
#include "core/xmem.h"

#define QUOTE_MAX 60

typedef enum vtype {
    T_ANY,
    T_STRING,
    T_INTEGER,
    T_NUMBER,
    T_BOOLEAN,
    T_EMAIL,
    T_PHONE,
    T_DATE,
    T_URL,
} vtype;

static const struct {
    const char *name;
    vtype type;
} TYPES[] = {
    {"any", T_ANY},       {"string", T_STRING},   {"integer", T_INTEGER},
    {"number", T_NUMBER}, {"boolean", T_BOOLEAN}, {"email", T_EMAIL},
    {"phone", T_PHONE},   {"date", T_DATE},       {"url", T_URL},
};

typedef struct spec {
    const char *name;
    vtype type;
    bool required;
    bool has_min, has_max, has_re;
    double min, max;
    json_int_t min_len, max_len; /* -1: none */
    const json_t *allowed;       /* enum array, or NULL */
    const char *pattern;
    regex_t re;
} spec;

typedef struct validator {
    spec *specs;
    size_t n, cap;
    json_t *index; /* name -> index in specs */
    bool infer;
    char cc[DP_COUNTRY_MAX];
    dp_date_order order;
    size_t max_errors;
    json_t *errors, *by_field;
    size_t count; /* errors found, also those past max_errors */
    bool truncated;
} validator;

static void validator_free(validator *vd)
{
    for (size_t i = 0; i < vd->n; i++)
        if (vd->specs[i].has_re) regfree(&vd->specs[i].re);
    free(vd->specs);
    json_decref(vd->index);
    json_decref(vd->errors);
    json_decref(vd->by_field);
}

static vtype type_of_kind(dp_kind k)
{
    switch (k) {
    case DP_KIND_EMAIL:
        return T_EMAIL;
    case DP_KIND_PHONE:
        return T_PHONE;
    case DP_KIND_DATE:
        return T_DATE;
    case DP_KIND_URL:
        return T_URL;
    default:
        return T_ANY;
    }
}

/* The spec of name, added (typed by its name) if there is none. */
static spec *spec_get(validator *vd, const char *name)
{
    json_t *at = json_object_get(vd->index, name);
    if (at) return &vd->specs[json_integer_value(at)];
    if (vd->n == vd->cap) {
        vd->cap = vd->cap ? 2 * vd->cap : 16;
        vd->specs = xrealloc(vd->specs, vd->cap * sizeof *vd->specs);
    }
    spec *s = &vd->specs[vd->n];
    *s = (spec){.name = name, .min_len = -1, .max_len = -1};
    s->type = type_of_kind(dp_kind_guess(name));
    json_object_set_new(vd->index, name, json_integer((json_int_t)vd->n++));
    return s;
}

/* ---- schema ---------------------------------------------------------- */

static int schema_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int schema_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return FS_EINVAL;
}

static int parse_type(spec *s, const json_t *t, char *err, size_t errlen)
{
    if (!json_is_string(t))
        return schema_err(err, errlen, "field '%s': type is not a string",
                          s->name);
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++) {
        if (strcmp(json_string_value(t), TYPES[i].name)) continue;
        s->type = TYPES[i].type;
        return 0;
    }
    return schema_err(err, errlen, "field '%s': unknown type '%s'", s->name,
                      json_string_value(t));
}

static int parse_bounds(spec *s, const json_t *f, char *err, size_t errlen)
{
    const json_t *min = json_object_get(f, "min"),
                 *max = json_object_get(f, "max");
    const json_t *minl = json_object_get(f, "min_length");
    const json_t *maxl = json_object_get(f, "max_length");
    if ((min && !json_is_number(min)) || (max && !json_is_number(max)))
        return schema_err(err, errlen,
                          "field '%s': min and max must be numbers", s->name);
    if ((minl && (!json_is_integer(minl) || json_integer_value(minl) < 0)) ||
        (maxl && (!json_is_integer(maxl) || json_integer_value(maxl) < 0)))
        return schema_err(err, errlen,
                          "field '%s': min_length and max_length must be "
                          "integers >= 0",
                          s->name);
    s->has_min = min, s->has_max = max;
    if (min) s->min = json_number_value(min);
    if (max) s->max = json_number_value(max);
    if (minl) s->min_len = json_integer_value(minl);
    if (maxl) s->max_len = json_integer_value(maxl);
    return 0;
}

static int parse_match(spec *s, const json_t *f, char *err, size_t errlen)
{
    const json_t *allowed = json_object_get(f, "enum");
    const json_t *pattern = json_object_get(f, "pattern");
    if (allowed && !json_is_array(allowed))
        return schema_err(err, errlen, "field '%s': enum must be an array",
                          s->name);
    s->allowed = allowed;
    if (!pattern) return 0;
    if (!json_is_string(pattern))
        return schema_err(err, errlen, "field '%s': pattern must be a string",
                          s->name);
    s->pattern = json_string_value(pattern);
    if (regcomp(&s->re, s->pattern, REG_EXTENDED | REG_NOSUB))
        return schema_err(err, errlen, "field '%s': bad pattern '%s'", s->name,
                          s->pattern);
    s->has_re = true;
    return 0;
}

static int parse_field(validator *vd, const char *name, const json_t *f,
                       char *err, size_t errlen)
{
    spec *s = spec_get(vd, name);
    if (json_is_string(f)) return parse_type(s, f, err, errlen);
    if (!json_is_object(f))
        return schema_err(err, errlen, "field '%s': not an object", name);
    const json_t *type = json_object_get(f, "type");
    const json_t *req = json_object_get(f, "required");
    int rc = type ? parse_type(s, type, err, errlen) : 0;
    if (!rc) rc = parse_bounds(s, f, err, errlen);
    if (!rc) rc = parse_match(s, f, err, errlen);
    if (req && !json_is_boolean(req))
        return schema_err(err, errlen,
                          "field '%s': required must be true or "
                          "false",
                          name);
    s->required = json_is_true(req);
    return rc;
}

static int parse_settings(validator *vd, const json_t *schema, char *err,
                          size_t errlen)
{
    const json_t *cc = json_object_get(schema, "default_country");
    const json_t *order = json_object_get(schema, "date_order");
    const json_t *max = json_object_get(schema, "max_errors");
    const json_t *infer = json_object_get(schema, "infer");
    if (cc &&
        (!json_is_string(cc) || dp_country_code(json_string_value(cc), vd->cc)))
        return schema_err(err, errlen, "bad default_country");
    if (order && (!json_is_string(order) ||
                  dp_date_order_parse(json_string_value(order), &vd->order)))
        return schema_err(err, errlen, "date_order must be \"mdy\" or \"dmy\"");
    if (max && (!json_is_integer(max) || json_integer_value(max) < 0))
        return schema_err(err, errlen, "max_errors must be an integer >= 0");
    if (max) vd->max_errors = (size_t)json_integer_value(max);
    if (infer && !json_is_boolean(infer))
        return schema_err(err, errlen, "infer must be true or false");
    vd->infer =
        infer ? json_is_true(infer) : !json_object_get(schema, "fields");
    return 0;
}

static int parse_schema(validator *vd, const json_t *schema, char *err,
                        size_t errlen)
{
    if (!schema) return 0;
    if (!json_is_object(schema))
        return schema_err(err, errlen, "schema is not an object");
    int rc = parse_settings(vd, schema, err, errlen);
    const json_t *fields = json_object_get(schema, "fields");
    const json_t *req = json_object_get(schema, "required");
    if (!rc && fields && !json_is_object(fields))
        return schema_err(err, errlen, "fields is not an object");
    const char *name;
    const json_t *f;
    json_object_foreach((json_t *)fields, name, f)
    {
        if (rc) break;
        rc = parse_field(vd, name, f, err, errlen);
    }
    if (rc || !req) return rc;
    if (!json_is_array(req))
        return schema_err(err, errlen, "required is not an array");
    size_t i;
    json_array_foreach(req, i, f)
    {
        if (!json_is_string(f))
            return schema_err(err, errlen, "required holds a non-string");
        spec_get(vd, json_string_value(f))->required = true;
    }
    return 0;
}

/* ---- checks ---------------------------------------------------------- */

/* v quoted for a message: 'text' cut to QUOTE_MAX bytes, or JSON. */
static char *quote(const json_t *v)
{
    if (!json_is_string(v)) {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        char *q = xasprintf("%.*s", QUOTE_MAX, s ? s : "?");
        free(s);
        return q;
    }
    const char *s = json_string_value(v);
    size_t n = strlen(s);
    if (n <= QUOTE_MAX) return xasprintf("'%s'", s);
    n = QUOTE_MAX;
    while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return xasprintf("'%.*s...'", (int)n, s);
}

static void report(validator *vd, size_t rec, const char *field,
                   const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void report(validator *vd, size_t rec, const char *field,
                   const char *code, const char *fmt, ...)
{
    vd->count++;
    if (field) {
        json_t *c = json_object_get(vd->by_field, field);
        json_object_set_new(vd->by_field, field,
                            json_integer(c ? json_integer_value(c) + 1 : 1));
    }
    if (json_array_size(vd->errors) >= vd->max_errors) {
        vd->truncated = true;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_array_append_new(vd->errors,
                          json_pack("{s:I, s:s?, s:s, s:s}", "record",
                                    (json_int_t)rec, "field", field, "code",
                                    code, "message", msg));
}

/* The string s without blanks around it, in buf (cut to cap). */
static const char *trim_into(const char *s, char *buf, size_t cap)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
                 s[n - 1] == '\n'))
        n--;
    if (n >= cap) n = cap - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

static bool is_missing(const json_t *v)
{
    if (!v || json_is_null(v)) return true;
    if (!json_is_string(v)) return false;
    char buf[2];
    return !*trim_into(json_string_value(v), buf, sizeof buf);
}

/* The value of v as a number if it is one (text allowed); integral says
 * whether it is an integer. */
static bool numeric(const json_t *v, double *x, bool *integral)
{
    long long i;
    if (json_is_integer(v)) {
        *x = (double)json_integer_value(v);
        *integral = true;
        return true;
    }
    if (json_is_real(v)) {
        *x = json_real_value(v);
        *integral = *x == floor(*x) && fabs(*x) < 9.2e18;
        return true;
    }
    if (!json_is_string(v)) return false;
    if (dp_parse_int(json_string_value(v), &i)) {
        *x = (double)i;
        *integral = true;
        return true;
    }
    *integral = false;
    return dp_parse_number(json_string_value(v), x);
}

static void check_range(validator *vd, const spec *s, size_t rec, double x,
                        const json_t *v)
{
    char *q = NULL;
    if (s->has_min && x < s->min) {
        q = quote(v);
        report(vd, rec, s->name, "range", "less than the minimum %g: %s",
               s->min, q);
    } else if (s->has_max && x > s->max) {
        q = quote(v);
        report(vd, rec, s->name, "range", "more than the maximum %g: %s",
               s->max, q);
    }
    free(q);
}

/* Checks an integer, number or boolean; false if v is not one. */
static bool check_scalar(validator *vd, const spec *s, size_t rec,
                         const json_t *v)
{
    double x;
    bool integral, b;
    if (s->type == T_BOOLEAN) {
        if (json_is_boolean(v)) return true;
        if (json_is_integer(v))
            return json_integer_value(v) == 0 || json_integer_value(v) == 1;
        return json_is_string(v) && dp_parse_bool(json_string_value(v), &b);
    }
    if (!numeric(v, &x, &integral) || (s->type == T_INTEGER && !integral))
        return false;
    check_range(vd, s, rec, x, v);
    return true;
}

/* Checks a string format; false if v is not of it. */
static bool check_format(validator *vd, const spec *s, const json_t *v)
{
    char buf[1024], out[DP_DATE_MAX];
    if (!json_is_string(v)) return false;
    const char *t = trim_into(json_string_value(v), buf, sizeof buf);
    switch (s->type) {
    case T_EMAIL:
        return dp_email_ok(t);
    case T_PHONE:
        return !dp_phone_e164(t, vd->cc, out, NULL);
    case T_DATE:
        return !dp_date_iso(t, vd->order, out);
    case T_URL:
        return dp_url_ok(t);
    default:
        return true;
    }
}

static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void check_string(validator *vd, const spec *s, size_t rec,
                         const json_t *v)
{
    const char *str = json_string_value(v);
    json_int_t len = (json_int_t)utf8_len(str);
    if (s->max_len >= 0 && len > s->max_len)
        report(vd, rec, s->name, "length",
               "longer than %" JSON_INTEGER_FORMAT
               " characters (%" JSON_INTEGER_FORMAT ")",
               s->max_len, len);
    if (s->min_len >= 0 && len < s->min_len)
        report(vd, rec, s->name, "length",
               "shorter than %" JSON_INTEGER_FORMAT
               " characters (%" JSON_INTEGER_FORMAT ")",
               s->min_len, len);
    if (s->has_re && regexec(&s->re, str, 0, NULL, 0)) {
        char *q = quote(v);
        report(vd, rec, s->name, "pattern",
               "does not match the pattern '%s': %s", s->pattern, q);
        free(q);
    }
}

static bool allowed(const spec *s, const json_t *v)
{
    size_t i;
    const json_t *a;
    json_array_foreach(s->allowed, i,
                       a) if (json_equal((json_t *)a, (json_t *)v)) return true;
    return false;
}

static const char *type_message(vtype t)
{
    static const char *const msgs[] = {
        [T_STRING] = "not a string",
        [T_INTEGER] = "not an integer",
        [T_NUMBER] = "not a number",
        [T_BOOLEAN] = "not a boolean",
        [T_EMAIL] = "not an e-mail address",
        [T_PHONE] = "not a phone number",
        [T_DATE] = "not a date",
        [T_URL] = "not a URL",
    };
    return msgs[t];
}

static void check_value(validator *vd, const spec *s, size_t rec,
                        const json_t *v)
{
    if (is_missing(v)) {
        if (s->required)
            report(vd, rec, s->name, "required", "missing required field");
        return;
    }
    bool ok = true;
    if (s->type == T_STRING) ok = json_is_string(v);
    if (s->type == T_INTEGER || s->type == T_NUMBER || s->type == T_BOOLEAN)
        ok = check_scalar(vd, s, rec, v);
    if (s->type >= T_EMAIL) ok = check_format(vd, s, v);
    if (!ok) {
        char *q = quote(v);
        report(vd, rec, s->name, s->type >= T_EMAIL ? "format" : "type",
               "%s: %s", type_message(s->type), q);
        free(q);
        return;
    }
    if (json_is_string(v)) check_string(vd, s, rec, v);
    if (s->allowed && !allowed(s, v)) {
        char *q = quote(v);
        report(vd, rec, s->name, "enum", "not one of the allowed values: %s",
               q);
        free(q);
    }
}

/* Checks record rec; true if it had no error. */
static bool check_record(validator *vd, size_t rec, const json_t *r)
{
    size_t before = vd->count;
    if (!json_is_object(r)) {
        report(vd, rec, NULL, "type", "record is not an object");
        return false;
    }
    for (size_t i = 0; i < vd->n; i++)
        check_value(vd, &vd->specs[i], rec,
                    json_object_get(r, vd->specs[i].name));
    if (vd->infer) {
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)r, k, v)
        {
            if (json_object_get(vd->index, k)) continue;
            check_value(vd, spec_get(vd, k), rec, v);
        }
    }
    return vd->count == before;
}

int dp_validate(const json_t *records, const json_t *schema, json_t **out)
{
    char err[256];
    validator vd = {.index = json_object(),
                    .max_errors = DP_VALIDATE_MAX_ERRORS,
                    .errors = json_array(),
                    .by_field = json_object(),
                    .infer = true};
    strcpy(vd.cc, "1");
    int rc = FS_EINVAL;
    if (!json_is_array(records)) {
        snprintf(err, sizeof err, "records is not an array");
        goto fail;
    }
    if ((rc = parse_schema(&vd, schema, err, sizeof err))) goto fail;
    json_t *bad = json_array();
    size_t i, valid = 0;
    const json_t *r;
    json_array_foreach(records, i, r)
    {
        if (check_record(&vd, i, r))
            valid++;
        else
            json_array_append_new(bad, json_integer((json_int_t)i));
    }
    *out = json_pack("{s:I, s:I, s:O, s:o, s:O, s:b}", "valid",
                     (json_int_t)valid, "invalid",
                     (json_int_t)(json_array_size(records) - valid), "errors",
                     vd.errors, "records_with_errors", bad, "errors_by_field",
                     vd.by_field, "errors_truncated", vd.truncated);
    validator_free(&vd);
    return 0;
fail:
    validator_free(&vd);
    *out = json_pack("{s:s}", "error", err);
    return rc;
}
