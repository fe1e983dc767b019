/*
 * test_dp_format.c - value formats: phone numbers to E.164 (national and
 * international forms, trunk zeros, extensions, failures), dates to ISO
 * 8601 (each accepted shape, MDY and DMY, impossible dates, times and
 * zones), e-mail addresses, URLs, field kinds from names, country codes,
 * and numbers and booleans in text.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "agents/data/dp_format.h"
#include "core/fs.h"

typedef struct phone_case {
    const char *in, *cc, *e164, *ext; /* e164 NULL: must fail */
} phone_case;

Test(dp_format, phone_e164)
{
    static const phone_case cases[] = {
        /* the +1 countries: 10 digits, or 11 with the leading 1 */
        {"(555) 123-4567", "1", "+15551234567", ""},
        {"555.123.4567", "1", "+15551234567", ""},
        {"555-123-4567", NULL, "+15551234567", ""},
        {"1-555-123-4567", "1", "+15551234567", ""},
        {"+1 (555) 123-4567", "1", "+15551234567", ""},
        {"001-555-123-4567", "1", "+15551234567", ""},     /* 00 prefix */
        {"011 44 20 7946 0958", "1", "+442079460958", ""}, /* 011 prefix */
        /* international */
        {"+44 20 7946 0958", "1", "+442079460958", ""},
        {"+44 (0)20 7946 0958", "1", "+442079460958", ""}, /* trunk mark */
        {"0044 20 7946 0958", "1", "+442079460958", ""},
        /* another default country: its trunk 0 goes */
        {"020 7946 0958", "44", "+442079460958", ""},
        {"07946 095 800", "44", "+447946095800", ""},
        {"030 1234567", "49", "+49301234567", ""},
        /* extensions */
        {"917-584-0243x4606", "1", "+19175840243", "4606"},
        {"917-584-0243 ext. 4606", "1", "+19175840243", "4606"},
        {"917-584-0243 Ext 12", "1", "+19175840243", "12"},
        {"917-584-0243 extension 7", "1", "+19175840243", "7"},
        {"917-584-0243 #4606", "1", "+19175840243", "4606"},
        {"+1-369-329-6963x2671", "1", "+13693296963", "2671"},
        /* not numbers */
        {"555-1234", "1", NULL, NULL}, /* 7 digits under +1 */
        {"123", "1", NULL, NULL},
        {"", "1", NULL, NULL},
        {"1-800-FLOWERS", "1", NULL, NULL},      /* letters */
        {"x123", "1", NULL, NULL},               /* an extension only */
        {"555-123-4567 x", "1", NULL, NULL},     /* a marker, no digits */
        {"+44 20", "1", NULL, NULL},             /* too short */
        {"+1 555 123 45678", "1", NULL, NULL},   /* +1 with 11 digits after */
        {"+0 123 456 789", "1", NULL, NULL},     /* no country code 0 */
        {"+12345678901234567", "1", NULL, NULL}, /* over 15 digits */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const phone_case *c = &cases[i];
        char e164[DP_PHONE_MAX], ext[DP_EXT_MAX];
        int rc = dp_phone_e164(c->in, c->cc, e164, ext);
        if (!c->e164) {
            cr_expect_eq(rc, FS_EINVAL, "'%s' should fail, got %s", c->in,
                         rc ? "" : e164);
            continue;
        }
        cr_expect_eq(rc, 0, "'%s' should parse", c->in);
        if (rc) continue;
        cr_expect_str_eq(e164, c->e164, "'%s'", c->in);
        cr_expect_str_eq(ext, c->ext, "'%s' extension", c->in);
    }
}

typedef struct date_case {
    const char *in;
    dp_date_order order;
    const char *iso; /* NULL: must fail */
} date_case;

Test(dp_format, date_iso)
{
    static const date_case cases[] = {
        {"2024-03-05", DP_DATE_MDY, "2024-03-05"},
        {"2024/3/5", DP_DATE_MDY, "2024-03-05"},
        {"20240305", DP_DATE_MDY, "2024-03-05"},
        /* all numbers: the order decides, unless one is over 12 */
        {"03/05/2024", DP_DATE_MDY, "2024-03-05"},
        {"03/05/2024", DP_DATE_DMY, "2024-05-03"},
        {"3-5-2024", DP_DATE_MDY, "2024-03-05"},
        {"05.03.2024", DP_DATE_DMY, "2024-03-05"},
        {"13/05/2024", DP_DATE_MDY, "2024-05-13"},
        {"05/13/2024", DP_DATE_DMY, "2024-05-13"},
        {"12/31/99", DP_DATE_MDY, "1999-12-31"}, /* two-digit years */
        {"1/2/03", DP_DATE_MDY, "2003-01-02"},
        /* month names */
        {"5 March 2024", DP_DATE_MDY, "2024-03-05"},
        {"5th of March, 2024", DP_DATE_DMY, "2024-03-05"},
        {"05-Mar-2024", DP_DATE_MDY, "2024-03-05"},
        {"Mar 5, 2024", DP_DATE_MDY, "2024-03-05"},
        {"Mar. 5 2024", DP_DATE_DMY, "2024-03-05"},
        {"Sept 30, 2024", DP_DATE_MDY, "2024-09-30"},
        {"Tuesday, March 5th 2024", DP_DATE_MDY, "2024-03-05"},
        {"2024 Mar 5", DP_DATE_MDY, "2024-03-05"},
        /* times and zones */
        {"2024-03-05T10:00:00Z", DP_DATE_MDY, "2024-03-05T10:00:00Z"},
        {"2024-03-05 10:00", DP_DATE_MDY, "2024-03-05T10:00:00"},
        {"03/05/2024 10:00 PM", DP_DATE_MDY, "2024-03-05T22:00:00"},
        {"2024-03-05 12:30 am", DP_DATE_MDY, "2024-03-05T00:30:00"},
        {"2024-03-05T10:00:00.5+0200", DP_DATE_MDY,
         "2024-03-05T10:00:00.5+02:00"},
        {"2024-03-05T23:59:60-05:00", DP_DATE_MDY, "2024-03-05T23:59:60-05:00"},
        {"2024-03-05 10:00 UTC", DP_DATE_MDY, "2024-03-05T10:00:00Z"},
        /* leap years */
        {"2024-02-29", DP_DATE_MDY, "2024-02-29"},
        {"2000-02-29", DP_DATE_MDY, "2000-02-29"},
        {"1900-02-29", DP_DATE_MDY, NULL},
        {"2023-02-29", DP_DATE_MDY, NULL},
        /* not dates */
        {"2024-02-30", DP_DATE_MDY, NULL},
        {"31/04/2024", DP_DATE_DMY, NULL},
        {"13/13/2024", DP_DATE_MDY, NULL},
        {"March 2024", DP_DATE_MDY, NULL},
        {"2024", DP_DATE_MDY, NULL},
        {"42", DP_DATE_MDY, NULL},
        {"someday", DP_DATE_MDY, NULL},
        {"", DP_DATE_MDY, NULL},
        {"2024-03-05 25:00", DP_DATE_MDY, NULL},
        {"2024-03-05 13:00 PM", DP_DATE_MDY, NULL},
        {"2024-03-05T10:00:00Q", DP_DATE_MDY, NULL},
        {"0999-01-01", DP_DATE_MDY, NULL},
        {"1/2/3", DP_DATE_MDY, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const date_case *c = &cases[i];
        char iso[DP_DATE_MAX];
        int rc = dp_date_iso(c->in, c->order, iso);
        if (!c->iso) {
            cr_expect_eq(rc, FS_EINVAL, "'%s' should fail, got %s", c->in,
                         rc ? "" : iso);
            continue;
        }
        cr_expect_eq(rc, 0, "'%s' should parse", c->in);
        if (!rc) cr_expect_str_eq(iso, c->iso, "'%s'", c->in);
    }
}

Test(dp_format, email)
{
    static const char *const good[] = {
        "alice@example.com",
        "a.b+tag@sub.example.co.uk",
        "x_y-z@a-b.io",
        "o'neil@example.ie",
        "j\xc3\xb6rg@b\xc3\xbc"
        "cher.de",
        "a@xn--bcher-kva.example",
    };
    static const char *const bad[] = {
        "bob@",     "@example.com", "alice",     "a@b",
        "a@b.c",    "a@@b.com",     "a@b@c.com", ".a@b.com",
        "a.@b.com", "a..b@c.com",   "a b@c.com", "a@-b.com",
        "a@b-.com", "a@b..com",     "a@b.c0m",   "",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_expect(dp_email_ok(good[i]), "'%s' is an address", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect(!dp_email_ok(bad[i]), "'%s' is not an address", bad[i]);
}

Test(dp_format, url)
{
    static const char *const good[] = {
        "https://black.com/",           "http://a.b.org/x?y=1#z",
        "ftp://files.example.net",      "www.example.com",
        "http://localhost:8080/health", "https://user@host.example.com:443/p",
    };
    static const char *const bad[] = {
        "example",         "https://", "http://nodot/", "ftp//bad.com",
        "https://a b.com", "://x.com", "1http://x.com", "http://x.com:80a/",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_expect(dp_url_ok(good[i]), "'%s' is a URL", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect(!dp_url_ok(bad[i]), "'%s' is not a URL", bad[i]);
}

Test(dp_format, kind_from_field_name)
{
    static const struct {
        const char *field;
        dp_kind kind;
    } cases[] = {
        {"email", DP_KIND_EMAIL},
        {"Email 1", DP_KIND_EMAIL},
        {"e-mail", DP_KIND_EMAIL},
        {"workEmail", DP_KIND_EMAIL},
        {"Phone 2", DP_KIND_PHONE},
        {"mobile_number", DP_KIND_PHONE},
        {"signup", DP_KIND_TEXT},
        {"signupDate", DP_KIND_DATE},
        {"close_date", DP_KIND_DATE},
        {"created_at", DP_KIND_DATE},
        {"updated", DP_KIND_TEXT},
        {"candidate", DP_KIND_TEXT},
        {"Website", DP_KIND_URL},
        {"homepage_url", DP_KIND_URL},
        {"First Name", DP_KIND_NAME},
        {"lastname", DP_KIND_NAME},
        {"name", DP_KIND_NAME},
        {"company_name", DP_KIND_TEXT},
        {"username", DP_KIND_TEXT},
        {"Account Id", DP_KIND_ID},
        {"opportunity_id", DP_KIND_ID},
        {"Company", DP_KIND_TEXT},
        {"", DP_KIND_TEXT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_expect_eq(dp_kind_guess(cases[i].field), cases[i].kind,
                     "'%s' is %s, not %s", cases[i].field,
                     dp_kind_name(cases[i].kind),
                     dp_kind_name(dp_kind_guess(cases[i].field)));
}

Test(dp_format, country_codes_and_date_orders)
{
    static const char *const cases[][2] = {
        {"US", "1"},  {"+1", "1"},   {"1", "1"},     {"uk", "44"},
        {"GB", "44"}, {"+44", "44"}, {"0049", "49"}, {"358", "358"},
    };
    char cc[DP_COUNTRY_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_expect_eq(dp_country_code(cases[i][0], cc), 0, "'%s'", cases[i][0]);
        cr_expect_str_eq(cc, cases[i][1], "'%s'", cases[i][0]);
    }
    static const char *const bad[] = {"X", "+0", "1234", "", "+", "Mars"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(dp_country_code(bad[i], cc), FS_EINVAL, "'%s'", bad[i]);
    dp_date_order o;
    cr_expect(!dp_date_order_parse("DMY", &o) && o == DP_DATE_DMY);
    cr_expect(!dp_date_order_parse("us", &o) && o == DP_DATE_MDY);
    cr_expect(!dp_date_order_parse("eu", &o) && o == DP_DATE_DMY);
    cr_expect_eq(dp_date_order_parse("ymd", &o), FS_EINVAL);
}

Test(dp_format, numbers_and_booleans_in_text)
{
    long long i;
    double x;
    bool b;
    cr_expect(dp_parse_int(" 42 ", &i) && i == 42);
    cr_expect(dp_parse_int("-7", &i) && i == -7);
    cr_expect(!dp_parse_int("4.0", &i));
    cr_expect(!dp_parse_int("1,000", &i));
    cr_expect(!dp_parse_int("99999999999999999999", &i)); /* overflows */
    cr_expect(!dp_parse_int("", &i));
    cr_expect(dp_parse_number("4.5e1", &x) && x == 45.0);
    cr_expect(dp_parse_number(".5", &x) && x == 0.5);
    cr_expect(!dp_parse_number("1,5", &x));
    cr_expect(!dp_parse_number("0x10", &x));
    cr_expect(!dp_parse_number("nan", &x));
    cr_expect(!dp_parse_number("inf", &x));
    cr_expect(!dp_parse_number("1e999", &x)); /* not finite */
    cr_expect(dp_parse_bool("Yes", &b) && b);
    cr_expect(dp_parse_bool(" FALSE ", &b) && !b);
    cr_expect(dp_parse_bool("0", &b) && !b);
    cr_expect(!dp_parse_bool("maybe", &b));
}
