/*
 * test_dp_validate.c - the `validate` job: hand-made records with planted
 * bad values against the schema of the issue, every error of every record
 * (in schema order), the schema-less mode of the data_processing workflow,
 * enum/pattern/length rules, the error cap, and malformed schemas.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "agents/data/dp_validate.h"
#include "agents/data/dptest.h"
#include "core/fs.h"

/* The schema of the issue; fields are checked in this order. */
static const char *const SCHEMA =
    "{\"fields\":{"
    "\"email\":{\"type\":\"email\",\"required\":true},"
    "\"phone\":{\"type\":\"phone\"},"
    "\"signup\":{\"type\":\"date\"},"
    "\"age\":{\"type\":\"integer\",\"min\":0,\"max\":150},"
    "\"name\":{\"type\":\"string\",\"required\":true,\"max_length\":200}}}";

static json_t *run(const char *records, const char *schema)
{
    json_t *r = dpt_json(records), *s = schema ? dpt_json(schema) : NULL, *out;
    cr_assert_eq(dp_validate(r, s, &out), 0);
    json_decref(r);
    json_decref(s);
    return out;
}

Test(dp_validate, planted_bad_rows_each_error_reported)
{
    json_t *out = run(
        "["
        /* 0: all good (age as text, as CSV gives it) */
        "{\"email\":\"alice@example.com\",\"name\":\"Alice\",\"age\":\"34\","
        " \"phone\":\"(555) 123-4567\",\"signup\":\"2024-03-05\"},"
        /* 1: a cut-off address and an age over 150: two errors */
        "{\"email\":\"bob@\",\"name\":\"Bob\",\"age\":\"200\"},"
        /* 2: no email, a blank name (missing), age not a number: three */
        "{\"name\":\"  \",\"age\":\"x\"},"
        /* 3: a 2-digit phone and February 30th: two */
        "{\"email\":\"carol@example.com\",\"name\":\"Carol\",\"phone\":\"12\","
        " \"signup\":\"2024-02-30\"},"
        /* 4: good: blanks around the address are fine, JSON 42, a US date */
        "{\"email\":\" dave@example.com \",\"name\":\"Dave\",\"age\":42,"
        " \"signup\":\"Mar 5, 2024\"},"
        /* 5: not an object */
        "\"not an object\","
        /* 6: 41.5 is a number but not an integer; name is a number */
        "{\"email\":\"eve@example.com\",\"name\":7,\"age\":41.5}"
        "]",
        SCHEMA);
    dpt_expect(out,
               "{\"valid\":2,\"invalid\":5,"
               "\"records_with_errors\":[1,2,3,5,6],"
               "\"errors_truncated\":false,"
               "\"errors_by_field\":{\"email\":2,\"age\":3,\"name\":2,"
               "                     \"phone\":1,\"signup\":1},"
               "\"errors\":["
               "{\"record\":1,\"field\":\"email\",\"code\":\"format\","
               " \"message\":\"not an e-mail address: 'bob@'\"},"
               "{\"record\":1,\"field\":\"age\",\"code\":\"range\","
               " \"message\":\"more than the maximum 150: '200'\"},"
               "{\"record\":2,\"field\":\"email\",\"code\":\"required\","
               " \"message\":\"missing required field\"},"
               "{\"record\":2,\"field\":\"age\",\"code\":\"type\","
               " \"message\":\"not an integer: 'x'\"},"
               "{\"record\":2,\"field\":\"name\",\"code\":\"required\","
               " \"message\":\"missing required field\"},"
               "{\"record\":3,\"field\":\"phone\",\"code\":\"format\","
               " \"message\":\"not a phone number: '12'\"},"
               "{\"record\":3,\"field\":\"signup\",\"code\":\"format\","
               " \"message\":\"not a date: '2024-02-30'\"},"
               "{\"record\":5,\"field\":null,\"code\":\"type\","
               " \"message\":\"record is not an object\"},"
               "{\"record\":6,\"field\":\"age\",\"code\":\"type\","
               " \"message\":\"not an integer: 41.5\"},"
               "{\"record\":6,\"field\":\"name\",\"code\":\"type\","
               " \"message\":\"not a string: 7\"}"
               "]}",
               "validate result");
    json_decref(out);
}

Test(dp_validate, schema_less_workflow_input)
{
    /* The data_processing workflow passes its input as the schema:
     * "source" is ignored, email is required, and every field is typed
     * by its name.  Errors come in spec order: email (from "required"),
     * then fields as first met: Phone, created_at (record 0), website
     * (record 2). */
    json_t *out =
        run("["
            /* 0: created_at is not a date */
            "{\"email\":\"a@x.com\",\"Phone\":\"555-123-4567\","
            " \"created_at\":\"yesterday\",\"notes\":\"anything\"},"
            /* 1: no email; Phone is letters */
            "{\"Phone\":\"abc\"},"
            /* 2: a bad address and a URL without its colon */
            "{\"email\":\"nope\",\"website\":\"ftp//bad\"},"
            /* 3: fine: types come from names, and "notes" is anything */
            "{\"email\":\"b@x.com\",\"notes\":12}"
            "]",
            "{\"source\":\"leads.csv\",\"required\":[\"email\"]}");
    dpt_expect(json_object_get(out, "errors"),
               "["
               "{\"record\":0,\"field\":\"created_at\",\"code\":\"format\","
               " \"message\":\"not a date: 'yesterday'\"},"
               "{\"record\":1,\"field\":\"email\",\"code\":\"required\","
               " \"message\":\"missing required field\"},"
               "{\"record\":1,\"field\":\"Phone\",\"code\":\"format\","
               " \"message\":\"not a phone number: 'abc'\"},"
               "{\"record\":2,\"field\":\"email\",\"code\":\"format\","
               " \"message\":\"not an e-mail address: 'nope'\"},"
               "{\"record\":2,\"field\":\"website\",\"code\":\"format\","
               " \"message\":\"not a URL: 'ftp//bad'\"}"
               "]",
               "errors");
    dpt_expect(json_object_get(out, "records_with_errors"), "[0,1,2]",
               "records_with_errors");
    json_decref(out);
}

Test(dp_validate, no_schema_checks_formats_only)
{
    /* NULL schema: nothing required, types by name. */
    json_t *out =
        run("[{\"email\":\"x\"},{},{\"signup_date\":\"5 March 2024\"}]", NULL);
    cr_expect_eq(json_integer_value(json_object_get(out, "valid")), 2);
    dpt_expect(json_object_get(out, "records_with_errors"), "[0]", "bad");
    json_decref(out);
}

Test(dp_validate, boolean_number_enum_pattern_length)
{
    json_t *out = run(
        "["
        "{\"ok\":\"yes\",\"score\":\"4.5e1\",\"stage\":\"won\",\"code\":"
        "\"ABC12\","
        " \"bio\":\"h\\u00e9llo\"}," /* fine; 5 characters though 6 bytes */
        "{\"ok\":\"maybe\",\"score\":\"1,5\",\"stage\":\"Won\",\"code\":"
        "\"abc\","
        " \"bio\":\"hi\"}"
        "]",
        "{\"fields\":{"
        "\"ok\":\"boolean\","
        "\"score\":{\"type\":\"number\",\"max\":100},"
        "\"stage\":{\"type\":\"string\",\"enum\":[\"new\",\"won\",\"lost\"]},"
        "\"code\":{\"type\":\"string\",\"pattern\":\"^[A-Z]{3}[0-9]+$\"},"
        "\"bio\":{\"type\":\"string\",\"min_length\":3,\"max_length\":5}}}");
    dpt_expect(json_object_get(out, "errors"),
               "["
               "{\"record\":1,\"field\":\"ok\",\"code\":\"type\","
               " \"message\":\"not a boolean: 'maybe'\"},"
               "{\"record\":1,\"field\":\"score\",\"code\":\"type\","
               " \"message\":\"not a number: '1,5'\"},"
               "{\"record\":1,\"field\":\"stage\",\"code\":\"enum\","
               " \"message\":\"not one of the allowed values: 'Won'\"},"
               "{\"record\":1,\"field\":\"code\",\"code\":\"pattern\","
               " \"message\":\"does not match the pattern '^[A-Z]{3}[0-9]+$': "
               "'abc'\"},"
               "{\"record\":1,\"field\":\"bio\",\"code\":\"length\","
               " \"message\":\"shorter than 3 characters (2)\"}"
               "]",
               "errors");
    json_decref(out);
}

Test(dp_validate, error_cap_keeps_counts_exact)
{
    /* 5 records, 2 errors each, at most 3 listed: the counts still see
     * all 10 and every record is invalid. */
    json_t *out = run("[{},{},{},{},{}]",
                      "{\"required\":[\"a\",\"b\"],\"max_errors\":3}");
    cr_expect_eq(json_array_size(json_object_get(out, "errors")), 3);
    cr_expect(json_is_true(json_object_get(out, "errors_truncated")));
    cr_expect_eq(json_integer_value(json_object_get(out, "invalid")), 5);
    dpt_expect(json_object_get(out, "errors_by_field"), "{\"a\":5,\"b\":5}",
               "by field");
    json_decref(out);
}

static void expect_bad(const char *records, const char *schema, const char *why)
{
    json_t *r = dpt_json(records), *s = schema ? dpt_json(schema) : NULL, *out;
    cr_expect_eq(dp_validate(r, s, &out), FS_EINVAL, "%s", why);
    cr_expect_str_eq(json_string_value(json_object_get(out, "error")), why);
    json_decref(out);
    json_decref(r);
    json_decref(s);
}

Test(dp_validate, malformed_schemas)
{
    expect_bad("{}", NULL, "records is not an array");
    expect_bad("[]", "[]", "schema is not an object");
    expect_bad("[]", "{\"fields\":{\"age\":{\"type\":\"int\"}}}",
               "field 'age': unknown type 'int'");
    expect_bad("[]",
               "{\"fields\":{\"a\":{\"type\":\"string\",\"pattern\":\"(\"}}}",
               "field 'a': bad pattern '('");
    expect_bad("[]", "{\"fields\":{\"a\":{\"min\":\"0\"}}}",
               "field 'a': min and max must be numbers");
    expect_bad("[]", "{\"required\":\"email\"}", "required is not an array");
    expect_bad("[]", "{\"date_order\":\"ymd\"}",
               "date_order must be \"mdy\" or \"dmy\"");
    expect_bad("[]", "{\"default_country\":\"Mars\"}", "bad default_country");
}

Test(dp_validate, default_country_and_date_order)
{
    /* Under +44 a UK national number is a phone; under DMY 31/12/2024 is
     * a date, and so is 12/31/2024 (31 can only be the day), but not
     * 31/31/2024. */
    json_t *out = run("[{\"phone\":\"020 7946 0958\",\"date\":\"31/12/2024\"},"
                      " {\"date\":\"12/31/2024\"}]",
                      "{\"default_country\":\"GB\",\"date_order\":\"dmy\"}");
    dpt_expect(json_object_get(out, "records_with_errors"), "[]", "bad");
    json_decref(out);
    out = run("[{\"date\":\"31/31/2024\"}]", "{\"date_order\":\"dmy\"}");
    dpt_expect(json_object_get(out, "records_with_errors"), "[0]", "bad");
    json_decref(out);
}
