/*
 * fuzz_dp.c - libFuzzer target: the data_processor library on arbitrary
 * bytes: the value parsers (phone numbers, dates, e-mail addresses, URLs,
 * numbers), the name helpers, and records read from text (CSV, JSON
 * Lines, JSON arrays) through validate, normalize, profile and dedupe.
 *
 * Input: the first byte picks options, the rest is the text:
 *   bit 0     dates day first (DMY)
 *   bit 1     default country +44 instead of +1
 *   bit 2     dedupe with a vector per record (from the record's index)
 * Checked (FUZZ_CHECK aborts):
 *  - a phone number that parses gives "+" and 8..15 digits, an extension
 *    of digits only, and parses again to itself;
 *  - a date that parses gives an ISO 8601 form that parses again to
 *    itself, in either order;
 *  - dp_text_clean and dp_text_name_case are idempotent, a name key has
 *    no blank at either end, Jaro-Winkler is in [0, 1], symmetric, and 1
 *    for a string with itself;
 *  - records read from the text are objects; validate counts them all
 *    (valid + invalid), normalize returns one record per record, profile
 *    and dedupe succeed, every group has 2+ ascending members that
 *    include its survivor, and no record is in two groups.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "agents/data/dp_dedupe.h"
#include "agents/data/dp_format.h"
#include "agents/data/dp_normalize.h"
#include "agents/data/dp_profile.h"
#include "agents/data/dp_read.h"
#include "agents/data/dp_text.h"
#include "agents/data/dp_validate.h"
#include "fuzz.h"

static void check_phone(const char *s, const char *cc)
{
    char e164[DP_PHONE_MAX], ext[DP_EXT_MAX], again[DP_PHONE_MAX];
    if (dp_phone_e164(s, cc, e164, ext)) return;
    size_t n = strlen(e164);
    FUZZ_CHECK(e164[0] == '+' && n >= 9 && n <= 16);
    FUZZ_CHECK(strspn(e164 + 1, "0123456789") == n - 1);
    FUZZ_CHECK(strspn(ext, "0123456789") == strlen(ext));
    FUZZ_CHECK(dp_phone_e164(e164, cc, again, NULL) == 0);
    FUZZ_CHECK(!strcmp(again, e164));
}

static void check_date(const char *s, dp_date_order order)
{
    char iso[DP_DATE_MAX], again[DP_DATE_MAX];
    if (dp_date_iso(s, order, iso)) return;
    for (int o = 0; o < 2; o++) {
        FUZZ_CHECK(dp_date_iso(iso, (dp_date_order)o, again) == 0);
        FUZZ_CHECK(!strcmp(again, iso));
    }
}

static void check_text(const char *s)
{
    char *c = dp_text_clean(s), *c2 = dp_text_clean(c);
    FUZZ_CHECK(!strcmp(c, c2));
    char *n = dp_text_name_case(s), *n2 = dp_text_name_case(n);
    FUZZ_CHECK(!strcmp(n, n2));
    char *k = dp_text_name_key(s);
    size_t kl = strlen(k);
    FUZZ_CHECK(!kl || (k[0] != ' ' && k[kl - 1] != ' '));
    double a = dp_jaro_winkler(s, k), b = dp_jaro_winkler(k, s);
    FUZZ_CHECK(a >= 0 && a <= 1 && a == b);
    FUZZ_CHECK(dp_jaro_winkler(s, s) == 1.0);
    char sx[5];
    dp_soundex(s, strlen(s), sx);
    FUZZ_CHECK(strlen(sx) == 4);
    free(c), free(c2), free(n), free(n2), free(k);
}

static void check_values(const char *s, uint8_t opts)
{
    long long i;
    double x;
    bool b;
    check_phone(s, opts & 2 ? "44" : "1");
    check_date(s, opts & 1 ? DP_DATE_DMY : DP_DATE_MDY);
    check_text(s);
    (void)dp_email_ok(s), (void)dp_url_ok(s), (void)dp_kind_guess(s);
    (void)dp_parse_int(s, &i), (void)dp_parse_number(s, &x);
    (void)dp_parse_bool(s, &b);
}

static void check_groups(const json_t *out, size_t n)
{
    char *seen = xcalloc(n + 1, 1);
    size_t i, j;
    const json_t *g, *m;
    json_array_foreach(json_object_get(out, "groups"), i, g)
    {
        const json_t *members = json_object_get(g, "members");
        json_int_t survivor =
            json_integer_value(json_object_get(g, "survivor"));
        bool has_survivor = false;
        json_int_t prev = -1;
        FUZZ_CHECK(json_array_size(members) >= 2);
        json_array_foreach(members, j, m)
        {
            json_int_t v = json_integer_value(m);
            FUZZ_CHECK(v > prev && (size_t)v < n && !seen[v]);
            seen[v] = 1;
            prev = v;
            has_survivor |= v == survivor;
        }
        FUZZ_CHECK(has_survivor);
    }
    free(seen);
}

/* Vectors of 4 floats from each record's index (some zero). */
static float *vectors_for(size_t n)
{
    float *v = xmalloc((4 * n + 1) * sizeof *v);
    for (size_t i = 0; i < 4 * n; i++)
        v[i] = (float)((i * 7 / 4) % 5) - 2;
    return v;
}

static void check_records(const char *text, uint8_t opts)
{
    json_t *recs, *errs, *out;
    if (dp_read_records(text, false, 500, &recs, &errs)) {
        FUZZ_CHECK(!recs && json_array_size(errs) == 1);
        json_decref(errs);
        return;
    }
    size_t n = json_array_size(recs), i;
    const json_t *r;
    json_array_foreach(recs, i, r) FUZZ_CHECK(json_is_object(r));
    json_t *schema =
        json_pack("{s:s, s:s}", "date_order", opts & 1 ? "dmy" : "mdy",
                  "default_country", opts & 2 ? "44" : "1");
    FUZZ_CHECK(dp_validate(recs, schema, &out) == 0);
    FUZZ_CHECK((size_t)(json_integer_value(json_object_get(out, "valid")) +
                        json_integer_value(json_object_get(out, "invalid"))) ==
               n);
    json_decref(out);
    FUZZ_CHECK(dp_normalize(recs, schema, &out) == 0);
    FUZZ_CHECK(json_array_size(json_object_get(out, "records")) == n);
    json_decref(out);
    FUZZ_CHECK(dp_profile(recs, &out) == 0);
    json_decref(out);
    float *v = opts & 4 ? vectors_for(n) : NULL;
    dp_dedupe_opts o = {.vectors = v,
                        .dims = 4,
                        .merged = true,
                        .default_country = opts & 2 ? "44" : "1"};
    FUZZ_CHECK(dp_dedupe(recs, NULL, &o, &out) == 0);
    check_groups(out, n);
    json_decref(out);
    free(v);
    json_decref(schema);
    json_decref(recs);
    json_decref(errs);
}

int fuzz_dp_one(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    char *s = fuzz_cstr(data + 1, size - 1);
    if (strlen(s) <= 256) check_values(s, data[0]);
    check_records(s, data[0]);
    free(s);
    return 0;
}

FUZZ_ENTRY(fuzz_dp_one)
