/*
 * test_dp_text.c - the string helpers of the data_processor library:
 * Jaro-Winkler against the published reference values, Soundex against
 * the US National Archives examples, white space, name case and name
 * keys.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "agents/data/dp_text.h"

static void expect_jw(const char *a, const char *b, double want)
{
    double got = dp_jaro_winkler(a, b);
    cr_expect(got > want - 0.0005 && got < want + 0.0005,
              "JW(%s, %s) = %.4f, want %.3f", a, b, got, want);
    double back = dp_jaro_winkler(b, a);
    cr_expect(got == back, "JW(%s, %s) is not symmetric", a, b);
}

Test(dp_text, jaro_winkler_reference_values)
{
    /* Winkler (1990) and the usual textbook examples. */
    expect_jw("MARTHA", "MARHTA", 0.961);
    expect_jw("DWAYNE", "DUANE", 0.840);
    expect_jw("DIXON", "DICKSONX", 0.813);
    /* Equal strings, empty ones, nothing in common. */
    expect_jw("SMITH", "SMITH", 1.0);
    expect_jw("", "", 1.0);
    expect_jw("ABC", "", 0.0);
    expect_jw("ABC", "XYZ", 0.0);
}

Test(dp_text, jaro_winkler_counts_code_points)
{
    /* "José" and "Jose" are 4 code points each, 3 matching (é is 2 bytes
     * but one character): Jaro = (3/4 + 3/4 + 1) / 3 = 0.8333, common
     * prefix 3: 0.8333 + 0.3 * 0.1667 = 0.8833.  Counted in bytes it
     * would be lower. */
    expect_jw("Jos\xc3\xa9", "Jose", 0.8833);
}

Test(dp_text, soundex)
{
    static const char *const cases[][2] = {
        {"Robert", "R163"},   {"Rupert", "R163"},  {"Rubin", "R150"},
        {"Ashcraft", "A261"}, {"Tymczak", "T522"}, {"Pfister", "P236"},
        {"Honeyman", "H555"}, {"Lee", "L000"},     {"", "0000"},
        {"o'hara", "O600"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char got[5];
        dp_soundex(cases[i][0], strlen(cases[i][0]), got);
        cr_expect_str_eq(got, cases[i][1], "soundex(%s)", cases[i][0]);
    }
}

static void expect_str(char *got, const char *want, const char *in)
{
    cr_expect_str_eq(got, want, "input '%s'", in);
    free(got);
}

Test(dp_text, clean_trims_and_collapses_white_space)
{
    expect_str(dp_text_clean("  a \t b\r\n\nc  "), "a b c", "blanks");
    expect_str(dp_text_clean("a\xc2\xa0\xc2\xa0"
                             "b"),
               "a b", "no-break spaces");
    expect_str(dp_text_clean("   "), "", "only blanks");
    expect_str(dp_text_clean("caf\xc3\xa9"), "caf\xc3\xa9", "UTF-8 kept");
}

Test(dp_text, name_case)
{
    static const char *const cases[][2] = {
        {"JOHN VAN DER BERG", "John van der Berg"}, /* particles inside */
        {"van morrison", "Van Morrison"},           /* ... not first */
        {"ludwig van", "Ludwig Van"},               /* ... nor last */
        {"anne-marie o'neil", "Anne-Marie O'Neil"}, /* after - and ' */
        {"MCDONALD", "McDonald"},
        {"john smith iii", "John Smith III"},
        {"  JOS\xc3\x89   GARC\xc3\x8d"
         "A ",
         "Jos\xc3\xa9 Garc\xc3\xad"
         "a"},
        {"\xc5\x81UKASZ \xc5\xbbUREK", "\xc5\x81ukasz \xc5\xbburek"},
        {"McKenzie", "McKenzie"},            /* mixed case: left alone */
        {"DeShawn  Jones", "DeShawn Jones"}, /* ... only cleaned */
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_str(dp_text_name_case(cases[i][0]), cases[i][1], cases[i][0]);
}

Test(dp_text, name_key)
{
    static const char *const cases[][2] = {
        {"Dr. Jos\xc3\xa9  Garc\xc3\xad"
         "a-L\xc3\xb3pez, Jr.",
         "jose garcia lopez"},
        {"O'Brien", "obrien"},
        {"O\xe2\x80\x99"
         "Brien",
         "obrien"}, /* typographic apostrophe */
        {"SMITH,  John", "smith john"},
        {"Mr", "mr"}, /* only a title: kept rather than emptied */
        {"\xc5\x81UKASZ \xc3\x9f", "lukasz s"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_str(dp_text_name_key(cases[i][0]), cases[i][1], cases[i][0]);
}
