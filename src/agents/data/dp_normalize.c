/*
 * dp_normalize.c - record normalization (see dp_normalize.h for the
 * options, rules and result).
 *
 * Each field name gets its rule once per call (from "fields", else
 * guessed from the name), cached in a JSON object.  A record is rebuilt
 * key by key: a string under a rule other than keep goes through
 * apply(), which gives a new string and says whether it parsed; a value
 * that comes out the same is shared with the input instead of copied.
 */
#include "agents/data/dp_normalize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agents/data/dp_format.h"
#include "agents/data/dp_text.h"
#include "core/fs.h"
#include "core/xmem.h"

typedef enum rule {
    R_KEEP,
    R_TEXT,
    R_NAME,
    R_EMAIL,
    R_PHONE,
    R_DATE,
    R_LOWER,
    R_UPPER,
} rule;

static const char *const RULES[] = {
    [R_KEEP] = "keep",   [R_TEXT] = "text",   [R_NAME] = "name",
    [R_EMAIL] = "email", [R_PHONE] = "phone", [R_DATE] = "date",
    [R_LOWER] = "lower", [R_UPPER] = "upper",
};

typedef struct normalizer {
    const json_t *fields; /* the "fields" option, or NULL */
    json_t *rules;        /* field name -> rule, filled as names are met */
    bool infer, drop_ext;
    char cc[DP_COUNTRY_MAX];
    dp_date_order order;
    size_t changes;
    json_t *by_field, *unparsed;
} normalizer;

static bool rule_parse(const char *s, rule *r)
{
    for (size_t i = 0; i < sizeof RULES / sizeof RULES[0]; i++) {
        if (strcmp(s, RULES[i])) continue;
        *r = (rule)i;
        return true;
    }
    return false;
}

static rule rule_of_kind(dp_kind k)
{
    switch (k) {
    case DP_KIND_EMAIL:
        return R_EMAIL;
    case DP_KIND_PHONE:
        return R_PHONE;
    case DP_KIND_DATE:
        return R_DATE;
    case DP_KIND_NAME:
        return R_NAME;
    default:
        return R_TEXT;
    }
}

static rule rule_for(normalizer *nz, const char *field)
{
    json_t *r = json_object_get(nz->rules, field);
    if (r) return (rule)json_integer_value(r);
    rule got = nz->infer ? rule_of_kind(dp_kind_guess(field)) : R_TEXT;
    json_object_set_new(nz->rules, field, json_integer(got));
    return got;
}

/* Reads options into nz; FS_EINVAL with a message in err. */
static int parse_options(normalizer *nz, const json_t *o, char *err,
                         size_t errlen)
{
    if (!o) return 0;
    const json_t *cc = json_object_get(o, "default_country");
    const json_t *order = json_object_get(o, "date_order");
    const json_t *ext = json_object_get(o, "extensions");
    const json_t *infer = json_object_get(o, "infer");
    const char *why = NULL;
    if (!json_is_object(o))
        why = "options is not an object";
    else if (cc && (!json_is_string(cc) ||
                    dp_country_code(json_string_value(cc), nz->cc)))
        why = "bad default_country";
    else if (order &&
             (!json_is_string(order) ||
              dp_date_order_parse(json_string_value(order), &nz->order)))
        why = "date_order must be \"mdy\" or \"dmy\"";
    else if (ext && !json_is_string(ext))
        why = "extensions must be \"field\" or \"drop\"";
    else if (infer && !json_is_boolean(infer))
        why = "infer must be true or false";
    if (!why && ext) {
        nz->drop_ext = !strcmp(json_string_value(ext), "drop");
        if (!nz->drop_ext && strcmp(json_string_value(ext), "field"))
            why = "extensions must be \"field\" or \"drop\"";
    }
    if (why) return snprintf(err, errlen, "%s", why), FS_EINVAL;
    if (infer) nz->infer = json_is_true(infer);
    nz->fields = json_object_get(o, "fields");
    return 0;
}

/* The rule of a dp_validate field spec {"type": ...}: email, phone and
 * date types keep their rule, the others are text. */
static bool rule_of_spec(const json_t *spec, rule *r)
{
    const char *type = json_string_value(json_object_get(spec, "type"));
    if (!type) return false;
    if (!rule_parse(type, r) ||
        (*r != R_EMAIL && *r != R_PHONE && *r != R_DATE))
        *r = R_TEXT;
    return true;
}

/* Puts the "fields" option into the rule cache. */
static int parse_fields(normalizer *nz, char *err, size_t errlen)
{
    const char *name;
    const json_t *v;
    if (nz->fields && !json_is_object(nz->fields))
        return snprintf(err, errlen, "fields is not an object"), FS_EINVAL;
    json_object_foreach((json_t *)nz->fields, name, v)
    {
        rule r;
        bool ok = json_is_string(v) ? rule_parse(json_string_value(v), &r)
                                    : rule_of_spec(v, &r);
        if (!ok)
            return snprintf(err, errlen, "field '%s': unknown rule", name),
                   FS_EINVAL;
        json_object_set_new(nz->rules, name, json_integer(r));
    }
    return 0;
}

/* ---- rules ----------------------------------------------------------- */

static void ascii_upper(char *s)
{
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z') *s = (char)(*s - 32);
}

/*
 * s under rule r: a new string.  OUT: *ok false when s did not parse
 * (phone, date, email); OUT: ext the phone extension ("" if none).
 */
static char *apply(const normalizer *nz, rule r, const char *s,
                   char ext[DP_EXT_MAX], bool *ok)
{
    char buf[DP_DATE_MAX > DP_PHONE_MAX ? DP_DATE_MAX : DP_PHONE_MAX];
    char *t = r == R_NAME ? dp_text_name_case(s) : dp_text_clean(s);
    *ok = true;
    ext[0] = '\0';
    switch (r) {
    case R_EMAIL:
        if (!strncasecmp(t, "mailto:", 7)) memmove(t, t + 7, strlen(t + 7) + 1);
        dp_text_lower(t);
        *ok = dp_email_ok(t);
        break;
    case R_PHONE:
        *ok = !dp_phone_e164(t, nz->cc, buf, ext);
        break;
    case R_DATE:
        *ok = !dp_date_iso(t, nz->order, buf);
        break;
    case R_LOWER:
        dp_text_lower(t);
        break;
    case R_UPPER:
        ascii_upper(t);
        break;
    default:
        break;
    }
    if (*ok && (r == R_PHONE || r == R_DATE)) {
        free(t);
        t = xstrdup(buf);
    }
    return t;
}

static void count_change(normalizer *nz, const char *field)
{
    json_t *c = json_object_get(nz->by_field, field);
    nz->changes++;
    json_object_set_new(nz->by_field, field,
                        json_integer(c ? json_integer_value(c) + 1 : 1));
}

/* Writes ext under "<field>_ext" in out unless a value is there. */
static void put_ext(normalizer *nz, json_t *out, const char *field,
                    const char *ext)
{
    char *key = xasprintf("%s_ext", field);
    const json_t *have = json_object_get(out, key);
    if (!json_is_string(have) || !*json_string_value(have)) {
        json_object_set_new(out, key, json_string(ext));
        count_change(nz, key);
    }
    free(key);
}

/* The normalized value of field k (value v) of record rec. */
static json_t *normalize_value(normalizer *nz, size_t rec, const char *k,
                               json_t *v, char ext[DP_EXT_MAX])
{
    rule r = json_is_string(v) ? rule_for(nz, k) : R_KEEP;
    ext[0] = '\0';
    if (r == R_KEEP) return json_incref(v);
    bool ok;
    char *s = apply(nz, r, json_string_value(v), ext, &ok);
    json_t *nv;
    if (!strcmp(s, json_string_value(v))) {
        nv = json_incref(v);
    } else {
        nv = json_string(s);
        count_change(nz, k);
    }
    if (!ok && *s)
        json_array_append_new(nz->unparsed,
                              json_pack("{s:I, s:s, s:O, s:s}", "record",
                                        (json_int_t)rec, "field", k, "value", v,
                                        "rule", RULES[r]));
    free(s);
    return nv;
}

static json_t *normalize_record(normalizer *nz, size_t rec, json_t *r)
{
    if (!json_is_object(r)) return json_incref(r);
    json_t *out = json_object(), *exts = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(r, k, v)
    {
        char ext[DP_EXT_MAX];
        json_object_set_new(out, k, normalize_value(nz, rec, k, v, ext));
        if (*ext && !nz->drop_ext)
            json_object_set_new(exts, k, json_string(ext));
    }
    json_object_foreach(exts, k, v) put_ext(nz, out, k, json_string_value(v));
    json_decref(exts);
    return out;
}

int dp_normalize(const json_t *records, const json_t *options, json_t **out)
{
    char err[256];
    normalizer nz = {.rules = json_object(),
                     .infer = true,
                     .by_field = json_object(),
                     .unparsed = json_array()};
    strcpy(nz.cc, "1");
    int rc = FS_EINVAL;
    if (!json_is_array(records)) {
        snprintf(err, sizeof err, "records is not an array");
        goto fail;
    }
    if ((rc = parse_options(&nz, options, err, sizeof err))) goto fail;
    if ((rc = parse_fields(&nz, err, sizeof err))) goto fail;
    json_t *recs = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(records, i, r)
        json_array_append_new(recs, normalize_record(&nz, i, r));
    *out = json_pack("{s:o, s:I, s:o, s:o}", "records", recs, "changes",
                     (json_int_t)nz.changes, "changes_by_field", nz.by_field,
                     "unparsed", nz.unparsed);
    json_decref(nz.rules);
    return 0;
fail:
    json_decref(nz.rules);
    json_decref(nz.by_field);
    json_decref(nz.unparsed);
    *out = json_pack("{s:s}", "error", err);
    return rc;
}
