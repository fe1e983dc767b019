/*
 * test_dp_dedupe.c - the `dedupe` job: hand-made records with planted
 * duplicates of each kind (same address after lower-casing, same phone
 * after E.164, a misspelt name at the same company, the same name at
 * another company), the survivor rule, merged records, keys given as
 * objects or guessed, the similarity callback and vectors (exact and
 * through HNSW), a common name bigger than a block, and 50 variants
 * planted in the real leads-10000.csv.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/data/dp_dedupe.h"
#include "agents/data/dp_read.h"
#include "agents/data/dptest.h"
#include "core/fs.h"

static json_t *run(const char *records, const char *keys,
                   const dp_dedupe_opts *o)
{
    json_t *r = dpt_json(records), *k = keys ? dpt_json(keys) : NULL, *out;
    int rc = dp_dedupe(r, k, o, &out);
    cr_assert_eq(rc, 0, "dedupe: %s",
                 json_string_value(json_object_get(out, "error")));
    json_decref(r);
    json_decref(k);
    return out;
}

/* The groups without their links (checked apart). */
static json_t *groups_only(json_t *out)
{
    json_t *g = json_deep_copy(json_object_get(out, "groups")), *v;
    size_t i;
    json_array_foreach(g, i, v) json_object_del(v, "links");
    return g;
}

static const char *const PEOPLE =
    "["
    /* 0 */ "{\"name\":\"Alice "
    "Smith\",\"email\":\"alice@x.com\",\"company\":\"Acme\"},"
    /* 1 */ "{\"name\":\"Bob "
    "Jones\",\"email\":\"bob@y.com\",\"phone\":\"555-123-4567\","
    " \"company\":\"Initech\"},"
    /* 2 */ "{\"name\":\"Carol "
    "White\",\"email\":\"carol@z.com\",\"company\":\"Globex\"},"
    /* 3 */ "{\"name\":\"alice smith\",\"email\":\"ALICE@X.COM "
    "\",\"company\":\"Acme\"},"
    /* 4 */ "{\"name\":\"Robert "
    "Jones\",\"email\":\"rj@y.com\",\"phone\":\"(555) 123-4567\","
    " \"company\":\"Initech\"},"
    /* 5 */ "{\"name\":\"Carol "
    "Whyte\",\"email\":\"cwhite@globex.com\",\"company\":\"globex\","
    " \"phone\":\"555-999-0000\"},"
    /* 6 */ "{\"name\":\"Carol "
    "Whyte\",\"email\":\"carol.w@other.com\",\"company\":\"Other "
    "Inc\"},"
    /* 7 */ "{\"name\":\"Alice "
    "Smith\",\"email\":\"alice@x.com\",\"phone\":\"555-222-3333\","
    " \"company\":\"Acme\"}"
    "]";

Test(dp_dedupe, planted_duplicates)
{
    /*
     * - 0, 3 and 7 share alice@x.com once 3's is trimmed and lower-cased:
     *   one group; the exact pass joins the run 0-3, 0-7.  Survivor 7: it
     *   has 4 fields, the others 3.
     * - 1 and 4 write 555-123-4567 two ways, both +15551234567: "same
     *   phone"; both have 4 fields, so the lower index, 1, survives.
     * - 2 and 5: "carol white" / "carol whyte" share 10 of 11 letters in
     *   place, Jaro 0.9394, common prefix 4: 0.9394 + 0.4 * 0.0606 =
     *   0.9636; Globex equals globex as context.  Survivor 5 (4 fields).
     * - 6 has 5's very name but another company: the context disagrees,
     *   so it stays alone.
     */
    json_t *out =
        run(PEOPLE, "[\"email\",\"phone\",\"name\",\"company\"]", NULL);
    json_t *g = groups_only(out);
    dpt_expect(g,
               "["
               "{\"survivor\":7,\"members\":[0,3,7],\"reason\":\"same email\"},"
               "{\"survivor\":1,\"members\":[1,4],\"reason\":\"same phone\"},"
               "{\"survivor\":5,\"members\":[2,5],"
               " \"reason\":\"similar name (0.96) and same company\"}"
               "]",
               "groups");
    dpt_expect(json_object_get(
                   json_array_get(json_object_get(out, "groups"), 0), "links"),
               "[{\"a\":0,\"b\":3,\"reason\":\"same email\"},"
               " {\"a\":0,\"b\":7,\"reason\":\"same email\"}]",
               "links of the first group");
    cr_expect_eq(json_integer_value(json_object_get(out, "duplicates")), 4);
    cr_expect_eq(json_integer_value(json_object_get(out, "records")), 8);
    json_decref(g);
    json_decref(out);
}

Test(dp_dedupe, name_alone_without_context)
{
    /* Keys ["name"]: no context, so names decide alone.  0, 3, 7 are the
     * same name; 2, 5, 6 are Carol White/Whyte: the block holding all
     * three is walked in record order, 2-5 and 2-6 join them (0.96 each)
     * and 5-6 is then already inside.  "bob jones" / "robert jones" share
     * no block (B + J520, R + J520 ...), so they are never compared. */
    json_t *out = run(PEOPLE, "[\"name\"]", NULL);
    json_t *g = groups_only(out);
    dpt_expect(g,
               "["
               "{\"survivor\":7,\"members\":[0,3,7],\"reason\":\"same name\"},"
               "{\"survivor\":5,\"members\":[2,5,6],"
               " \"reason\":\"similar name (0.96)\"}"
               "]",
               "groups");
    json_decref(g);
    json_decref(out);
}

Test(dp_dedupe, both_name_words_must_be_alike)
{
    /* All at one company.  Whole-name Jaro-Winkler passes 0.92 for each
     * pair below, but only 0-1 has both words alike: "jon"/"john" 0.93,
     * "smith" equal.  2-3: the last words "chen"/"crane" are 0.63;
     * 4-5: "daniels"/"davis" 0.83; 6-7: the first words "marie"/"marc"
     * 0.85 - just under DP_WORD_THRESHOLD (0.8483). */
    json_t *out = run("[{\"n\":\"Jon Smith\"},{\"n\":\"John Smith\"},"
                      " {\"n\":\"Sherry Chen\"},{\"n\":\"Sherry Crane\"},"
                      " {\"n\":\"Vickie Daniels\"},{\"n\":\"Vicki Davis\"},"
                      " {\"n\":\"Marie Mayo\"},{\"n\":\"Marc Mayo\"}]",
                      "[{\"field\":\"n\",\"match\":\"name\"}]", NULL);
    json_t *g = groups_only(out);
    dpt_expect(g,
               "[{\"survivor\":0,\"members\":[0,1],"
               "  \"reason\":\"similar name (0.97)\"}]",
               "groups");
    json_decref(g);
    json_decref(out);
}

Test(dp_dedupe, reasons_accumulate_and_merged_record)
{
    /* 0-1 same email; 1-2 same phone: one group of three, both reasons.
     * The survivor is 2 (3 fields); merged fills its missing name from 0
     * (the lowest index that has one) and keeps its own values. */
    dp_dedupe_opts o = {.merged = true};
    /* 3 and 4 share a placeholder address, which joins nothing. */
    json_t *out =
        run("[{\"email\":\"a@x.com\",\"name\":\"Ann\"},"
            " {\"email\":\"A@x.com\",\"phone\":\"555 123 4567\",\"name\":\"\"},"
            " {\"phone\":\"+1 555 123 4567\",\"city\":\"Oslo\",\"name\":null,"
            "  \"zip\":\"0150\"},"
            " {\"email\":\"n/a\"},{\"email\":\"N/A\"}]",
            "[\"email\",\"phone\"]", &o);
    json_t *g = groups_only(out);
    dpt_expect(g,
               "[{\"survivor\":2,\"members\":[0,1,2],"
               "  \"reason\":\"same email; same phone\","
               "  \"merged\":{\"phone\":\"+1 555 123 4567\",\"city\":\"Oslo\","
               "             "
               "\"name\":\"Ann\",\"zip\":\"0150\",\"email\":\"a@x.com\"}}]",
               "groups");
    json_decref(g);
    json_decref(out);
}

Test(dp_dedupe, key_objects_and_pooled_emails)
{
    /* A name split over two fields, and two e-mail fields in one pool:
     * 0's work address is 1's only address. */
    json_t *out = run(
        "[{\"first\":\"Jaime\",\"last\":\"Hayes\",\"email\":\"j@a.com\","
        "\"work\":\"jh@b.com\"},"
        " {\"first\":\"Cody\",\"last\":\"Salinas\",\"email\":\"JH@b.com\"},"
        " {\"first\":\"Jaime\",\"last\":\"Hayse\",\"email\":\"other@c.com\"}]",
        "[\"email\",{\"field\":\"work\",\"match\":\"email\"},"
        " {\"field\":[\"first\",\"last\"],\"match\":\"name\"}]",
        NULL);
    /* "jaime hayes" / "jaime hayse": Jaro 0.9697 (one transposition),
     * prefix 4: 0.9818. */
    json_t *g = groups_only(out);
    dpt_expect(g,
               "[{\"survivor\":0,\"members\":[0,1,2],"
               "  \"reason\":\"same email; similar name (0.98)\"}]",
               "groups");
    json_decref(g);
    json_decref(out);
}

Test(dp_dedupe, guessed_keys)
{
    /* No keys: Email and Phone fields match exactly, the name fields
     * make one name key, Company is context, "Account Id" exact.  0 and 1
     * are the same person at the same company; 2 the same name elsewhere;
     * 3 shares only 0's account id. */
    json_t *out = run(
        "[{\"Account Id\":\"A1\",\"First Name\":\"Cody\",\"Last "
        "Name\":\"Salinas\","
        "  \"Company\":\"Blankenship Inc\",\"Email\":\"c@s.com\"},"
        " {\"Account Id\":\"A2\",\"First Name\":\"Cody\",\"Last "
        "Name\":\"Salinsa\","
        "  \"Company\":\"BLANKENSHIP INC\"},"
        " {\"Account Id\":\"A3\",\"First Name\":\"Cody\",\"Last "
        "Name\":\"Salinas\","
        "  \"Company\":\"Mays Inc\"},"
        " {\"Account Id\":\"a1 \",\"First Name\":\"Zed\",\"Last Name\":\"Q\"}]",
        NULL, NULL);
    json_t *g = groups_only(out);
    dpt_expect(g,
               "[{\"survivor\":0,\"members\":[0,1,3],"
               "  \"reason\":\"same Account Id; similar name (0.98) and same "
               "Company\"}]",
               "groups");
    json_decref(g);
    json_decref(out);
}

Test(dp_dedupe, context_only_keys_match_exactly)
{
    /* Only a context key: it is matched as an exact one. */
    json_t *out = run("[{\"company\":\"Acme "
                      "\"},{\"company\":\"ACME\"},{\"company\":\"Beta\"}]",
                      "[\"company\"]", NULL);
    json_t *g = groups_only(out);
    dpt_expect(
        g, "[{\"survivor\":0,\"members\":[0,1],\"reason\":\"same company\"}]",
        "groups");
    json_decref(g);
    json_decref(out);
}

static double sim_0_2(void *ctx, size_t i, size_t j)
{
    ++*(int *)ctx;
    return (i == 0 && j == 2) ? 0.95 : 0.1;
}

Test(dp_dedupe, similarity_callback)
{
    /* No name key and n <= DP_ALL_PAIRS: the callback sees every pair
     * (3 of them) and joins the one it scores 0.95. */
    int calls = 0;
    dp_dedupe_opts o = {.sim = sim_0_2, .sim_ctx = &calls};
    json_t *out =
        run("[{\"id\":\"a\"},{\"id\":\"b\"},{\"id\":\"c\"}]", "[\"id\"]", &o);
    json_t *g = groups_only(out);
    dpt_expect(
        g, "[{\"survivor\":0,\"members\":[0,2],\"reason\":\"similar (0.95)\"}]",
        "groups");
    cr_expect_eq(calls, 3);
    json_decref(g);
    json_decref(out);
}

Test(dp_dedupe, vectors_exact)
{
    /* cos(r0, r1) = 0.99 / sqrt(0.99^2 + 0.1^2) = 0.9949; r2 is
     * orthogonal; r3 has no vector (zeros); r4 is not an object. */
    float v[] = {1, 0, 0.99f, 0.1f, 0, 1, 0, 0, 1, 0};
    dp_dedupe_opts o = {.vectors = v, .dims = 2};
    json_t *out =
        run("[{\"x\":1},{\"x\":2},{\"x\":3},{\"x\":4},5]", "[\"x\"]", &o);
    json_t *g = groups_only(out);
    dpt_expect(g,
               "[{\"survivor\":0,\"members\":[0,1],"
               "  \"reason\":\"similar embedding (0.99)\"}]",
               "groups");
    json_decref(g);
    json_decref(out);
}

/* A deterministic generator for the bigger cases. */
static unsigned long long rng = 88172645463325252ULL;
static double uniform(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

Test(dp_dedupe, vectors_through_hnsw)
{
    /* 2,400 random 32-d vectors (random pairs have a cosine near 0) and
     * 10 near copies of rows 100, 200, ... 1000 (noise 0.01 per
     * component): over DP_ALL_PAIRS, so neighbours come from HNSW; each
     * copy must be found, nothing else joined. */
    enum { N = 2400, D = 32, COPIES = 10 };
    float *v = malloc(sizeof(float) * (N + COPIES) * D);
    json_t *recs = json_array();
    for (size_t i = 0; i < N + COPIES; i++) {
        for (size_t d = 0; d < D; d++)
            v[i * D + d] = i < N ? (float)(uniform() * 2 - 1)
                                 : v[(100 * (i - N + 1)) * D + d] +
                                       (float)(uniform() - 0.5) * 0.02f;
        json_array_append_new(recs, json_pack("{s:I}", "n", (json_int_t)i));
    }
    dp_dedupe_opts o = {.vectors = v, .dims = D};
    json_t *keys = dpt_json("[\"n\"]"), *out;
    cr_assert_eq(dp_dedupe(recs, keys, &o, &out), 0);
    json_t *g = json_object_get(out, "groups");
    cr_assert_eq(json_array_size(g), COPIES);
    for (size_t c = 0; c < COPIES; c++) {
        char want[64];
        snprintf(want, sizeof want, "[%zu,%zu]", 100 * (c + 1), N + c);
        dpt_expect(json_object_get(json_array_get(g, c), "members"), want,
                   "members");
    }
    json_decref(out);
    json_decref(keys);
    json_decref(recs);
    free(v);
}

Test(dp_dedupe, common_name_bigger_than_a_block)
{
    /* 600 Mary Jones at 600 companies put all of them in the same three
     * blocks (over DP_BLOCK_ALL): the sorted neighbourhood is used.  The
     * 601st, Mary Jones at company 7, sorts next to company 7's Mary
     * (by name, then context) and is found; no one else is joined. */
    json_t *recs = json_array();
    for (int i = 0; i < 600; i++) {
        char co[16];
        snprintf(co, sizeof co, "Co %03d", i);
        json_array_append_new(
            recs, json_pack("{s:s, s:s}", "name", "Mary Jones", "company", co));
    }
    json_array_append_new(recs, json_pack("{s:s, s:s}", "name", "MARY JONES",
                                          "company", "co 007"));
    json_t *keys = dpt_json("[\"name\",\"company\"]"), *out;
    cr_assert_eq(dp_dedupe(recs, keys, NULL, &out), 0);
    json_t *g = groups_only(out);
    dpt_expect(g,
               "[{\"survivor\":7,\"members\":[7,600],"
               "  \"reason\":\"same name and same company\"}]",
               "groups");
    json_decref(g);
    json_decref(out);
    json_decref(keys);
    json_decref(recs);
}

static void expect_bad(const char *keys, const dp_dedupe_opts *o,
                       const char *why)
{
    json_t *r = dpt_json("[{}]"), *k = dpt_json(keys), *out;
    cr_expect_eq(dp_dedupe(r, k, o, &out), FS_EINVAL, "%s", why);
    cr_expect_str_eq(json_string_value(json_object_get(out, "error")), why);
    json_decref(out);
    json_decref(r);
    json_decref(k);
}

Test(dp_dedupe, bad_arguments)
{
    expect_bad("{}", NULL, "keys is not an array");
    expect_bad("[1]", NULL, "a key must be a field name or an object");
    expect_bad("[{\"field\":[]}]", NULL,
               "a key's field must be a name or 1 to 8 names");
    expect_bad("[{\"field\":\"a\",\"match\":\"fuzzy\"}]", NULL,
               "a key's match must be email, phone, exact, name or context");
    float v[1] = {1};
    dp_dedupe_opts o = {.vectors = v};
    expect_bad("[\"a\"]", &o, "vectors without dims");
    dp_dedupe_opts cc = {.default_country = "Mars"};
    expect_bad("[\"a\"]", &cc, "bad default_country");

    char err[128];
    dp_dedupe_opts p = {0};
    json_t *payload = dpt_json("{\"name_threshold\":0.85,\"merged\":true,"
                               "\"default_country\":\"GB\"}");
    cr_expect_eq(dp_dedupe_opts_json(payload, &p, err, sizeof err), 0);
    cr_expect(p.name_threshold == 0.85 && p.merged);
    cr_expect_str_eq(p.default_country, "GB");
    json_decref(payload);
    payload = dpt_json("{\"name_threshold\":1.5}");
    cr_expect_eq(dp_dedupe_opts_json(payload, &p, err, sizeof err), FS_EINVAL);
    cr_expect_str_eq(err, "name_threshold must be a number in (0, 1]");
    json_decref(payload);
}

/* ---- leads-10000.csv with planted variants ---------------------------- */

/* Sets field k of rec to a new string. */
static void put(json_t *rec, const char *k, const char *v)
{
    json_object_set_new(rec, k, json_string(v));
}

static char *upper(const char *s)
{
    char *u = strdup(s);
    for (char *p = u; *p; p++)
        if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 32);
    return u;
}

/*
 * A variant of lead src, of one of five kinds, each findable only one
 * way (the other keys are blanked or changed):
 *   0  Email 1 upper-cased with blanks around   -> same email
 *   1  Phone 1 from digits to (AAA) EEE-NNNN    -> same phone
 *   2  two letters of the last name swapped     -> similar name, company
 *   3  extra blanks in the name and company     -> same name, company
 *   4  name and company upper-cased             -> same name, company
 */
static json_t *variant(const json_t *src, int kind)
{
    json_t *v = json_deep_copy(src);
    const char *email = json_string_value(json_object_get(src, "Email 1"));
    const char *last = json_string_value(json_object_get(src, "Last Name"));
    char buf[256];
    put(v, "Email 2", "");
    put(v, "Phone 2", "");
    if (kind != 0) put(v, "Email 1", "");
    if (kind != 1) put(v, "Phone 1", "");
    if (kind == 0) {
        char *u = upper(email);
        snprintf(buf, sizeof buf, "  %s ", u);
        put(v, "Email 1", buf);
        free(u);
    } else if (kind == 1) {
        /* Phone 1 is in any of the file's forms: its digits before an
         * 'x', without a leading 001 or 1, rewritten; an extension kept
         * (a number with another extension is another line). */
        const char *p = json_string_value(json_object_get(src, "Phone 1"));
        char d[32];
        size_t n = 0;
        for (; *p && *p != 'x' && n < sizeof d - 1; p++)
            if (*p >= '0' && *p <= '9') d[n++] = *p;
        d[n] = '\0';
        const char *t = n == 13 ? d + 3 : n == 11 ? d + 1 : d;
        snprintf(buf, sizeof buf, "(%.3s) %.3s-%.4s%s%s", t, t + 3, t + 6,
                 *p ? " ext. " : "", *p ? p + 1 : "");
        put(v, "Phone 1", buf);
    } else if (kind == 2) {
        snprintf(buf, sizeof buf, "%s", last);
        if (strlen(buf) > 3) {
            char c = buf[1];
            buf[1] = buf[2], buf[2] = c;
        }
        put(v, "Last Name", buf);
    } else if (kind == 3) {
        snprintf(buf, sizeof buf, "  %s  ",
                 json_string_value(json_object_get(src, "First Name")));
        put(v, "First Name", buf);
        snprintf(buf, sizeof buf, "%s ",
                 json_string_value(json_object_get(src, "Company")));
        for (char *s = buf; *s; s++)
            if (*s == ' ') {
                memmove(s + 1, s, strlen(s) + 1);
                s++;
            }
        put(v, "Company", buf);
    } else {
        char *u = upper(json_string_value(json_object_get(src, "First Name")));
        put(v, "First Name", u);
        free(u);
        u = upper(json_string_value(json_object_get(src, "Company")));
        put(v, "Company", u);
        free(u);
    }
    return v;
}

Test(dp_dedupe, leads_10000_with_planted_variants, .timeout = 120)
{
    const char *path = dpt_leads_path();
    if (!path)
        cr_skip_test("leads-10000.csv not found (set FLOWSTATE_DATA_DIR)");
    json_t *recs, *errs;
    cr_assert_eq(dp_read_records(path, true, 0, &recs, &errs), 0);
    cr_assert_eq(json_array_size(recs), 10000);
    /* 50 sources spread over the file (every 199th row from 17): the
     * variants are rows 10000..10049, variant k of source src(k). */
    enum { PLANTED = 50 };
    for (size_t k = 0; k < PLANTED; k++)
        json_array_append_new(
            recs, variant(json_array_get(recs, 17 + 199 * k), (int)(k % 5)));
    json_t *keys = dpt_json("[\"Email 1\",\"Email 2\",\"Phone 1\",\"Phone 2\","
                            " {\"field\":[\"First Name\",\"Last "
                            "Name\"],\"match\":\"name\"},\"Company\"]");
    json_t *out;
    cr_assert_eq(dp_dedupe(recs, keys, NULL, &out), 0);
    json_t *g = json_object_get(out, "groups");
    /* The file has no duplicates of its own (82 names repeat, but at
     * other companies): exactly the planted pairs come back, in source
     * order, each with its source as survivor (a variant has blanks). */
    cr_expect_eq(json_array_size(g), PLANTED, "%zu groups, want %d",
                 json_array_size(g), PLANTED);
    size_t found = 0;
    for (size_t k = 0; k < PLANTED && k < json_array_size(g); k++) {
        json_t *grp = json_array_get(g, k);
        char want[64];
        snprintf(want, sizeof want, "[%zu,%zu]", 17 + 199 * k, 10000 + k);
        json_t *w = dpt_json(want);
        if (json_equal(json_object_get(grp, "members"), w) &&
            json_integer_value(json_object_get(grp, "survivor")) ==
                (json_int_t)(17 + 199 * k))
            found++;
        else
            dpt_expect(grp, want, "planted group");
        json_decref(w);
    }
    cr_expect_eq(found, PLANTED, "%zu of %d planted variants found", found,
                 PLANTED);
    json_decref(out);
    json_decref(keys);
    json_decref(recs);
    json_decref(errs);
}
