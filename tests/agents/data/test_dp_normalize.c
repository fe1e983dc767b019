/*
 * test_dp_normalize.c - the `normalize` job: hand-made messy records and
 * the canonical records expected from them (names, e-mail addresses,
 * phones with extensions, dates, white space), the change count, the
 * values that would not parse, and the options (DMY dates, another
 * default country, dropped extensions, per-field rules).
 */
#include <criterion/criterion.h>

#include "agents/data/dp_normalize.h"
#include "agents/data/dptest.h"
#include "core/fs.h"

static json_t *run(const char *records, const char *options)
{
    json_t *r = dpt_json(records), *o = options ? dpt_json(options) : NULL,
           *out;
    cr_assert_eq(dp_normalize(r, o, &out), 0);
    json_decref(r);
    json_decref(o);
    return out;
}

Test(dp_normalize, messy_records)
{
    json_t *out =
        run("["
            /* 0: five changes: name case with particles, address trimmed and
             * lower-cased, phone to E.164, US date to ISO, notes collapsed */
            "{\"name\":\"  JOHN   VAN DER BERG \",\"email\":\" "
            "John.Berg@Example.COM \","
            " \"phone\":\"(555) 123-4567\",\"signup_date\":\"03/05/2024\","
            " \"notes\":\"  two\\n lines \"},"
            /* 1: two changes: the name is already in mixed case and the
             * address already clean; phone and date change; age is a number
             * and stays */
            "{\"name\":\"Mary O'Neil\",\"email\":\"mary@x.org\","
            " \"phone\":\"+44 20 7946 0958\",\"signup_date\":\"5 March "
            "2024\",\"age\":42},"
            /* 2: three changes: name, phone, and its extension in phone_ext;
             * an ISO timestamp is kept */
            "{\"name\":\"ann-marie mcdonald\",\"phone\":\"555.123.4567 x123\","
            " \"signup_date\":\"2024-03-05T10:00:00Z\"},"
            /* 3: nothing parses; values stay, three entries in unparsed */
            "{\"email\":\"not-an-email\",\"phone\":\"12\",\"signup_date\":"
            "\"someday\"},"
            /* 4: not an object: copied */
            "[1,2]"
            "]",
            NULL);
    dpt_expect(
        json_object_get(out, "records"),
        "["
        "{\"name\":\"John van der Berg\",\"email\":\"john.berg@example.com\","
        " \"phone\":\"+15551234567\",\"signup_date\":\"2024-03-05\","
        " \"notes\":\"two lines\"},"
        "{\"name\":\"Mary O'Neil\",\"email\":\"mary@x.org\","
        " \"phone\":\"+442079460958\",\"signup_date\":\"2024-03-05\",\"age\":"
        "42},"
        "{\"name\":\"Ann-Marie McDonald\",\"phone\":\"+15551234567\","
        " \"signup_date\":\"2024-03-05T10:00:00Z\",\"phone_ext\":\"123\"},"
        "{\"email\":\"not-an-email\",\"phone\":\"12\",\"signup_date\":"
        "\"someday\"},"
        "[1,2]"
        "]",
        "records");
    cr_expect_eq(json_integer_value(json_object_get(out, "changes")), 10);
    dpt_expect(
        json_object_get(out, "changes_by_field"),
        "{\"name\":2,\"email\":1,\"phone\":3,\"signup_date\":2,\"notes\":1,"
        " \"phone_ext\":1}",
        "changes_by_field");
    dpt_expect(json_object_get(out, "unparsed"),
               "["
               "{\"record\":3,\"field\":\"email\",\"value\":\"not-an-email\","
               "\"rule\":\"email\"},"
               "{\"record\":3,\"field\":\"phone\",\"value\":\"12\",\"rule\":"
               "\"phone\"},"
               "{\"record\":3,\"field\":\"signup_date\",\"value\":\"someday\","
               "\"rule\":\"date\"}"
               "]",
               "unparsed");
    json_decref(out);
}

Test(dp_normalize, key_order_is_kept)
{
    json_t *out = run(
        "[{\"z\":\" a \",\"phone\":\"555-123-4567 ext 9\",\"a\":\"b\"}]", NULL);
    json_t *rec = json_array_get(json_object_get(out, "records"), 0);
    const char *want[] = {"z", "phone", "a", "phone_ext"}, *k;
    json_t *v;
    size_t i = 0;
    json_object_foreach(rec, k, v) cr_expect_str_eq(k, want[i++]);
    cr_expect_eq(i, 4);
    json_decref(out);
}

Test(dp_normalize, options)
{
    /* DMY dates, +44 numbers, extensions dropped, and rules per field:
     * notes kept as they are, stage upper-cased, Owner as a name, the
     * address under a name that does not say so. */
    json_t *out =
        run("[{\"date\":\"03/05/2024\",\"phone\":\"020 7946 0958 ext 7\","
            "  \"notes\":\"  keep  me \",\"stage\":\" won "
            "\",\"Owner\":\"SELENA DOYLE\","
            "  \"contact\":\"Bob@X.COM\"}]",
            "{\"date_order\":\"dmy\",\"default_country\":\"44\","
            " \"extensions\":\"drop\","
            " \"fields\":{\"notes\":\"keep\",\"stage\":\"upper\",\"Owner\":"
            "\"name\","
            "            \"contact\":\"email\"}}");
    dpt_expect(json_object_get(out, "records"),
               "[{\"date\":\"2024-05-03\",\"phone\":\"+442079460958\","
               "  \"notes\":\"  keep  me "
               "\",\"stage\":\"WON\",\"Owner\":\"Selena Doyle\","
               "  \"contact\":\"bob@x.com\"}]",
               "records");
    json_decref(out);
}

Test(dp_normalize, validate_schema_as_rules)
{
    /* The schema of dp_validate: "signup" is no date by its name, but its
     * spec says so; an integer spec is text; "Email 1" still inferred. */
    json_t *out =
        run("[{\"signup\":\"Mar 5, 2024\",\"age\":\" 42 \","
            "  \"Email 1\":\"A@B.CO\"}]",
            "{\"fields\":{\"signup\":{\"type\":\"date\",\"required\":true},"
            "            \"age\":{\"type\":\"integer\",\"min\":0}}}");
    dpt_expect(
        json_object_get(out, "records"),
        "[{\"signup\":\"2024-03-05\",\"age\":\"42\",\"Email 1\":\"a@b.co\"}]",
        "records");
    json_decref(out);
}

Test(dp_normalize, without_inference_everything_is_text)
{
    /* infer false: "email" is only trimmed, the phone only collapsed. */
    json_t *out = run("[{\"email\":\" A@B.COM \",\"phone\":\"555  123 4567\"}]",
                      "{\"infer\":false}");
    dpt_expect(json_object_get(out, "records"),
               "[{\"email\":\"A@B.COM\",\"phone\":\"555 123 4567\"}]",
               "records");
    dpt_expect(json_object_get(out, "unparsed"), "[]", "unparsed");
    json_decref(out);
}

Test(dp_normalize, existing_extension_field_wins)
{
    json_t *out = run("[{\"phone_ext\":\"55\",\"phone\":\"555-123-4567 x9\"},"
                      " {\"phone_ext\":\"\",\"phone\":\"555-123-4567 x9\"}]",
                      NULL);
    dpt_expect(json_object_get(out, "records"),
               "[{\"phone_ext\":\"55\",\"phone\":\"+15551234567\"},"
               " {\"phone_ext\":\"9\",\"phone\":\"+15551234567\"}]",
               "records");
    json_decref(out);
}

static void expect_bad(const char *options, const char *why)
{
    json_t *r = dpt_json("[]"), *o = dpt_json(options), *out;
    cr_expect_eq(dp_normalize(r, o, &out), FS_EINVAL, "%s", why);
    cr_expect_str_eq(json_string_value(json_object_get(out, "error")), why);
    json_decref(out);
    json_decref(r);
    json_decref(o);
}

Test(dp_normalize, bad_options)
{
    expect_bad("[]", "options is not an object");
    expect_bad("{\"default_country\":\"Mars\"}", "bad default_country");
    expect_bad("{\"date_order\":1}", "date_order must be \"mdy\" or \"dmy\"");
    expect_bad("{\"extensions\":\"keep\"}",
               "extensions must be \"field\" or \"drop\"");
    expect_bad("{\"fields\":{\"a\":\"shout\"}}", "field 'a': unknown rule");
    expect_bad("{\"fields\":[]}", "fields is not an object");
    expect_bad("{\"fields\":{\"a\":{\"min\":1}}}", "field 'a': unknown rule");
    json_t *out;
    json_t *obj = dpt_json("{}");
    cr_expect_eq(dp_normalize(obj, NULL, &out), FS_EINVAL);
    json_decref(out);
    json_decref(obj);
}
