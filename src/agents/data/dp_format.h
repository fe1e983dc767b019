/*
 * dp_format.h - the value formats of the data_processor library: what a
 * field holds, guessed from its name, and the checks and canonical forms
 * of e-mail addresses, URLs, phone numbers (E.164), dates (ISO 8601),
 * integers, numbers and booleans written as text.
 *
 * Field names.  dp_kind_guess() splits a name into words (at anything
 * not a letter or digit, and at a lower-to-upper change: "signupDate" is
 * "signup date") and looks at the words, case-insensitively:
 *   email   a word email, e-mail (as the words "e" "mail") or mail
 *   phone   phone, telephone, tel, mobile, cell, fax
 *   date    date, dob, birthday, birthdate, or a last word "at"/"on"
 *           (created_at, updated_on)
 *   url     url, website, homepage, web, site
 *   name    name, first/last/full/given/family/middle/surname, unless a
 *           word says it is not a person (company, account, product,
 *           user, file, domain, host, organization/organisation, org,
 *           brand, business, team, project)
 *   id      id, uuid, guid, key (account_id, "Account Id", leadKey)
 *   text    anything else.
 *
 * Phone numbers.  dp_phone_e164() reads a number as people write it and
 * gives "+<country><number>" (at most 15 digits), for example with the
 * default country +1:
 *   "(555) 123-4567", "555.123.4567", "1-555-123-4567"  -> +15551234567
 *   "+44 20 7946 0958", "+44 (0)20 7946 0958", "0044 20 7946 0958"
 *                                                       -> +442079460958
 *   "001-555-123-4567" (00 international prefix)        -> +15551234567
 *   "011 44 20 7946 0958" (011: the +1 countries' international prefix)
 *   "917-584-0243x4606", "... ext. 4606", "... #4606"   -> +19175840243,
 *                                                          extension 4606
 * Allowed between digits: spaces, - . ( ) /.  A number without '+', 00
 * (or 011 under +1) is national: under +1 it must have 10 digits (11 with
 * a leading 1); under another country one trunk '0' is dropped and the
 * whole must come to 8..15 digits, as must an international one (+1
 * numbers: exactly 11).  No other numbering-plan rule is checked
 * (555 numbers pass).  Letters other than an extension marker fail.
 *
 * Dates.  dp_date_iso() gives "YYYY-MM-DD", or with a time
 * "YYYY-MM-DDTHH:MM:SS[.frac][Z|+HH:MM]" (ISO 8601 extended form):
 *   "2024-03-05", "2024/3/5", "20240305"                -> 2024-03-05
 *   "03/05/2024", "3-5-2024", "03.05.24"                -> 2024-03-05 (MDY)
 *                                                       or 2024-05-03 (DMY)
 *   "5 March 2024", "5th of March, 2024", "05-Mar-2024" -> 2024-03-05
 *   "Mar 5, 2024", "Tuesday, March 5th 2024"            -> 2024-03-05
 *   "2024-03-05T10:00:00Z"                              -> kept
 *   "2024-03-05 10:00", "03/05/2024 10:00 PM"           -> ...T10:00:00,
 *                                                          ...T22:00:00
 *   "2024-03-05T10:00:00.5+0200"           -> 2024-03-05T10:00:00.5+02:00
 * Day and month numbers in the order given (MDY, or DMY for Europe)
 * unless one of the two is over 12, which makes it the day.  Two-digit
 * years are 2000..2069 for 00..69, 1900..1999 for 70..99; four-digit
 * years are 1000..9999.  Month names and weekdays are English, in full
 * or three-letter abbreviations (and "Sept"), any case, an optional '.'.
 * The date must exist (2023-02-29 fails); hours 0..23 (1..12 with AM/PM),
 * seconds up to 60 (a leap second).
 *
 * E-mail addresses.  dp_email_ok() is the practical check, not RFC 5322's
 * grammar: one '@'; a local part of 1..64 bytes of letters, digits,
 * !#$%&'*+/=?^_`{|}~.- and UTF-8, with no leading, trailing or double
 * dot; a domain of at least two dot-separated labels of letters, digits,
 * '-' and UTF-8 (no label starting or ending with '-'), the last of two
 * or more letters (or an xn-- label); 254 bytes at most.  No white space.
 *
 * URLs.  dp_url_ok(): a scheme ([A-Za-z][A-Za-z0-9+.-]*) then "://" and a
 * host with a dot (or "localhost"), or a bare "www." host; no white space
 * or control characters anywhere.
 *
 * Pure functions, no global state: safe from any thread.
 */
#ifndef DP_FORMAT_H
#define DP_FORMAT_H
#include <stdbool.h>
#include <stddef.h>

#define DP_PHONE_MAX 17 /* "+" 15 digits NUL */
#define DP_EXT_MAX 11   /* at most 10 digits NUL */
#define DP_DATE_MAX 48
#define DP_COUNTRY_MAX 5 /* calling code: at most 3 digits, no '+', NUL */

typedef enum dp_kind {
    DP_KIND_TEXT,
    DP_KIND_EMAIL,
    DP_KIND_PHONE,
    DP_KIND_DATE,
    DP_KIND_URL,
    DP_KIND_NAME,
    DP_KIND_ID,
} dp_kind;

/* Month and day order of all-number dates such as 03/05/2024. */
typedef enum dp_date_order {
    DP_DATE_MDY, /* US: March 5 (the default) */
    DP_DATE_DMY, /* Europe and most of the world: 3 May */
} dp_date_order;

/* What a field of that name holds (see the top comment). */
dp_kind dp_kind_guess(const char *field);

/* "email", "phone", "date", "url", "name", "id" or "text"; static. */
const char *dp_kind_name(dp_kind k);

/* True when one of the words of field (split as above, lower-case) is in
 * words (NULL-terminated, lower-case). */
bool dp_field_has_word(const char *field, const char *const *words);

/*
 * The calling code of a default country written as "+1", "1", "+44",
 * "0044" or an ISO 3166 code in a small table ("US", "GB", "UK", "DE",
 * "FR" ...) into OUT: cc (digits only).  Returns 0, or FS_EINVAL.
 */
int dp_country_code(const char *s, char cc[DP_COUNTRY_MAX]);

/*
 * Parses the "mdy"/"us" or "dmy"/"eu" order names (any case) into OUT:
 * *order.  Returns 0, or FS_EINVAL.
 */
int dp_date_order_parse(const char *s, dp_date_order *order);

/*
 * The E.164 form of the phone number s (see the top comment) under the
 * default calling code cc (digits, as dp_country_code gives; NULL: "1")
 * into OUT: e164, and its extension, if any, into OUT: ext ("" if none;
 * ext may be NULL).  Returns 0, or FS_EINVAL when s is not a number.
 */
int dp_phone_e164(const char *s, const char *cc, char e164[DP_PHONE_MAX],
                  char ext[DP_EXT_MAX]);

/*
 * The ISO 8601 form of the date (and time) s (see the top comment) into
 * OUT: iso.  Returns 0, or FS_EINVAL when s is not a date.
 */
int dp_date_iso(const char *s, dp_date_order order, char iso[DP_DATE_MAX]);

bool dp_email_ok(const char *s);
bool dp_url_ok(const char *s);

/*
 * Integers, numbers and booleans written as text, blanks around allowed:
 * [+-]digits that fit in a long long; a decimal or exponent number that
 * is finite (no hex, inf or nan); true/false/yes/no/y/n/1/0 in any case.
 * Each returns true and OUT: *v, or false.
 */
bool dp_parse_int(const char *s, long long *v);
bool dp_parse_number(const char *s, double *v);
bool dp_parse_bool(const char *s, bool *v);

#endif
