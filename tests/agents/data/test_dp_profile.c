/*
 * test_dp_profile.c - the `profile` job: a hand-made table with blanks,
 * a bad number, mixed date forms and a null-only column, each statistic
 * reasoned from it; type inference at the 95% line; ties among top
 * values; and a JSON-typed column.
 */
#include <criterion/criterion.h>

#include "agents/data/dp_profile.h"
#include "agents/data/dptest.h"
#include "core/fs.h"

static json_t *run(const char *records)
{
    json_t *r = dpt_json(records), *out;
    cr_assert_eq(dp_profile(r, &out), 0);
    json_decref(r);
    return out;
}

Test(dp_profile, hand_made_table)
{
    json_t *out =
        run("["
            "{\"id\":\"1\",\"email\":\"a@x.com\",\"age\":\"30\",\"joined\":"
            "\"2024-01-05\",\"tag\":\"red\"},"
            "{\"id\":\"2\",\"email\":\"b@x.com\",\"age\":\"40\",\"joined\":"
            "\"03/05/2024\",\"tag\":\"blue\"},"
            "{\"id\":\"3\",\"email\":\" "
            "\",\"age\":\"x\",\"joined\":\"2023-12-31\",\"tag\":\"red\"},"
            "{\"id\":\"4\",\"email\":\"a@x.com\",\"age\":50,\"tag\":\"red\","
            "\"extra\":null},"
            "\"junk\""
            "]");
    /* 5 records, 4 objects (the string is skipped); null_rate is over 4. */
    cr_expect_eq(json_integer_value(json_object_get(out, "records")), 5);
    cr_expect_eq(json_integer_value(json_object_get(out, "objects")), 4);
    json_t *c = json_object_get(out, "columns");
    /* id: four distinct integers written as text: numeric min/max/mean;
     * all counts 1, so the top is in text order. */
    dpt_expect(
        json_object_get(c, "id"),
        "{\"type\":\"integer\",\"type_ratio\":1.0,\"count\":4,\"nulls\":0,"
        " \"null_rate\":0.0,\"distinct\":4,\"min\":1,\"max\":4,\"mean\":2.5,"
        " \"min_length\":1,\"max_length\":1,"
        " \"top\":[{\"value\":\"1\",\"count\":1},{\"value\":\"2\",\"count\":1},"
        "         "
        "{\"value\":\"3\",\"count\":1},{\"value\":\"4\",\"count\":1}]}",
        "id");
    /* email: the blank one is missing (1 of 4); a@x.com twice. */
    dpt_expect(json_object_get(c, "email"),
               "{\"type\":\"email\",\"type_ratio\":1.0,\"count\":3,\"nulls\":1,"
               " \"null_rate\":0.25,\"distinct\":2,\"min\":\"a@x.com\",\"max\":"
               "\"b@x.com\","
               " \"min_length\":7,\"max_length\":7,"
               " \"top\":[{\"value\":\"a@x.com\",\"count\":2},{\"value\":\"b@x."
               "com\",\"count\":1}]}",
               "email");
    /* age: "x" makes 1 of 4 not a number (75% < 95%): a string column,
     * so min/max are by text: "30" < "40" < "50" < "x"; JSON 50 counts
     * as the text 50 and keeps its type in the top list. */
    dpt_expect(
        json_object_get(c, "age"),
        "{\"type\":\"string\",\"type_ratio\":1.0,\"count\":4,\"nulls\":0,"
        " \"null_rate\":0.0,\"distinct\":4,\"min\":\"30\",\"max\":\"x\","
        " \"min_length\":1,\"max_length\":2,"
        " \"top\":[{\"value\":\"30\",\"count\":1},{\"value\":\"40\",\"count\":"
        "1},"
        "         {\"value\":50,\"count\":1},{\"value\":\"x\",\"count\":1}]}",
        "age");
    /* joined: three dates in two forms; the range is on the ISO forms
     * (2024-03-05 is the greatest though "03/05/2024" sorts first). */
    json_t *j = json_object_get(c, "joined");
    cr_expect_str_eq(json_string_value(json_object_get(j, "type")), "date");
    cr_expect_str_eq(json_string_value(json_object_get(j, "min")),
                     "2023-12-31");
    cr_expect_str_eq(json_string_value(json_object_get(j, "max")),
                     "2024-03-05");
    cr_expect_eq(json_integer_value(json_object_get(j, "nulls")), 1);
    /* tag: red 3, blue 1. */
    dpt_expect(
        json_object_get(json_object_get(c, "tag"), "top"),
        "[{\"value\":\"red\",\"count\":3},{\"value\":\"blue\",\"count\":1}]",
        "tag top");
    /* extra: present only as null: empty. */
    dpt_expect(json_object_get(c, "extra"),
               "{\"type\":\"empty\",\"type_ratio\":1.0,\"count\":0,\"nulls\":4,"
               " \"null_rate\":1.0,\"distinct\":0,\"top\":[]}",
               "extra");
    /* Columns in the order first met. */
    const char *want[] = {"id", "email", "age", "joined", "tag", "extra"}, *k;
    json_t *v;
    size_t i = 0;
    json_object_foreach(c, k, v) cr_expect_str_eq(k, want[i++]);
    json_decref(out);
}

Test(dp_profile, type_at_95_percent_and_top_five)
{
    /* 20 values: 19 phone numbers and one "n/a": 95% -> phone, ratio
     * 0.95.  With 21 and two bad ones (90%) it would be a string.
     * Top five: the number written 4 times first, then counts of 1 in
     * text order. */
    json_t *recs = json_array();
    for (int i = 0; i < 19; i++) {
        char p[32];
        snprintf(p, sizeof p, "555-123-%04d", i < 4 ? 0 : i);
        json_array_append_new(recs, json_pack("{s:s}", "phone", p));
    }
    json_array_append_new(recs, json_pack("{s:s}", "phone", "n/a"));
    json_t *out;
    cr_assert_eq(dp_profile(recs, &out), 0);
    json_t *p = json_object_get(json_object_get(out, "columns"), "phone");
    cr_expect_str_eq(json_string_value(json_object_get(p, "type")), "phone");
    cr_expect_float_eq(json_real_value(json_object_get(p, "type_ratio")), 0.95,
                       1e-9);
    dpt_expect(json_object_get(p, "top"),
               "[{\"value\":\"555-123-0000\",\"count\":4},"
               " {\"value\":\"555-123-0004\",\"count\":1},"
               " {\"value\":\"555-123-0005\",\"count\":1},"
               " {\"value\":\"555-123-0006\",\"count\":1},"
               " {\"value\":\"555-123-0007\",\"count\":1}]",
               "top");
    cr_expect_eq(json_integer_value(json_object_get(p, "distinct")), 17);
    json_decref(out);
    json_array_append_new(recs, json_pack("{s:s}", "phone", "unknown"));
    cr_assert_eq(dp_profile(recs, &out), 0);
    p = json_object_get(json_object_get(out, "columns"), "phone");
    cr_expect_str_eq(json_string_value(json_object_get(p, "type")), "string");
    json_decref(out);
    json_decref(recs);
}

Test(dp_profile, json_typed_values)
{
    /* Real numbers (not all integers: mean and reals), booleans, and a
     * column mixing an object with a string. */
    json_t *out = run("[{\"x\":1.5,\"b\":true,\"m\":{\"a\":1}},"
                      " {\"x\":-2,\"b\":false,\"m\":\"s\"},"
                      " {\"x\":3,\"b\":\"yes\"}]");
    json_t *c = json_object_get(out, "columns");
    json_t *x = json_object_get(c, "x");
    cr_expect_str_eq(json_string_value(json_object_get(x, "type")), "number");
    cr_expect_float_eq(json_real_value(json_object_get(x, "min")), -2.0, 1e-12);
    cr_expect_float_eq(json_real_value(json_object_get(x, "max")), 3.0, 1e-12);
    cr_expect_float_eq(json_real_value(json_object_get(x, "mean")), 2.5 / 3,
                       1e-12);
    cr_expect_str_eq(
        json_string_value(json_object_get(json_object_get(c, "b"), "type")),
        "boolean");
    cr_expect_str_eq(
        json_string_value(json_object_get(json_object_get(c, "m"), "type")),
        "mixed");
    json_decref(out);
}

Test(dp_profile, not_an_array)
{
    json_t *r = dpt_json("{}"), *out;
    cr_expect_eq(dp_profile(r, &out), FS_EINVAL);
    cr_expect_str_eq(json_string_value(json_object_get(out, "error")),
                     "records is not an array");
    json_decref(out);
    json_decref(r);
}
