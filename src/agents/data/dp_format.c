/*
 * dp_format.c - field kinds, e-mail and URL checks, phone numbers to
 * E.164, dates to ISO 8601, numbers and booleans in text (see
 * dp_format.h for what each accepts).
 *
 * Phone numbers: one pass collects the digits (and where a "(0)" trunk
 * mark sat) up to an extension marker, whose digits go apart; then the
 * international prefix (+, 00, 011 under +1) decides between keeping the
 * country code written and adding the default one.
 *
 * Dates: a small tokenizer turns the date part into at most three tokens,
 * N (a number, with its digit count) or M (a month name), skipping
 * separators, weekday names, "of" and ordinal suffixes; it stops where a
 * time starts (a number followed by ':', or 'T' before a digit).  The
 * token pattern (NNN, NMN, MNN, or one 8-digit N) says which number is
 * the year, month and day; the time, if any, is parsed after.
 */
#include "agents/data/dp_format.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/fs.h"

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool in_list(const char *w, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(w, *list)) return true;
    return false;
}

/* ---- field kinds ---------------------------------------------------- */

#define MAX_WORDS 16
#define WORD_LEN 24

typedef struct words {
    char w[MAX_WORDS][WORD_LEN];
    size_t n;
} words;

/* Splits a field name into lower-case words (see dp_format.h). */
static void split_words(const char *s, words *ws)
{
    size_t len = 0;
    ws->n = 0;
    for (char prev = 0; *s; prev = *s++) {
        bool alnum = is_alpha(*s) || is_digit(*s);
        bool camel = prev >= 'a' && prev <= 'z' && *s >= 'A' && *s <= 'Z';
        if (len && (!alnum || camel)) {
            ws->w[ws->n++][len] = '\0';
            len = 0;
            if (ws->n == MAX_WORDS) return;
        }
        if (alnum && len < WORD_LEN - 1)
            ws->w[ws->n][len++] = (char)tolower((unsigned char)*s);
    }
    if (len) ws->w[ws->n++][len] = '\0';
}

static bool any_word(const words *ws, const char *const *list)
{
    for (size_t i = 0; i < ws->n; i++)
        if (in_list(ws->w[i], list)) return true;
    return false;
}

dp_kind dp_kind_guess(const char *field)
{
    static const char *const email[] = {"email", "mail", NULL};
    static const char *const phone[] = {"phone", "telephone", "tel", "mobile",
                                        "cell",  "fax",       NULL};
    static const char *const date[] = {"date", "dob", "birthday", "birthdate",
                                       NULL};
    static const char *const url[] = {"url", "website", "homepage",
                                      "web", "site",    NULL};
    static const char *const name[] = {
        "name",     "first",     "last",       "full",      "given",
        "family",   "middle",    "surname",    "firstname", "lastname",
        "fullname", "givenname", "familyname", NULL};
    static const char *const not_person[] = {
        "company", "account",  "product",      "user",         "file",
        "domain",  "host",     "organization", "organisation", "org",
        "brand",   "business", "team",         "project",      NULL};
    static const char *const id[] = {"id", "uuid", "guid", "key", NULL};
    words ws;
    split_words(field, &ws);
    if (any_word(&ws, email)) return DP_KIND_EMAIL;
    if (any_word(&ws, phone)) return DP_KIND_PHONE;
    if (any_word(&ws, date)) return DP_KIND_DATE;
    if (ws.n > 1 &&
        (!strcmp(ws.w[ws.n - 1], "at") || !strcmp(ws.w[ws.n - 1], "on")))
        return DP_KIND_DATE;
    if (any_word(&ws, url)) return DP_KIND_URL;
    if (any_word(&ws, name) && !any_word(&ws, not_person)) return DP_KIND_NAME;
    if (any_word(&ws, id)) return DP_KIND_ID;
    return DP_KIND_TEXT;
}

bool dp_field_has_word(const char *field, const char *const *list)
{
    words ws;
    split_words(field, &ws);
    return any_word(&ws, list);
}

const char *dp_kind_name(dp_kind k)
{
    static const char *const names[] = {"text", "email", "phone", "date",
                                        "url",  "name",  "id"};
    return (size_t)k < sizeof names / sizeof names[0] ? names[k] : "text";
}

/* ---- settings ------------------------------------------------------- */

int dp_country_code(const char *s, char cc[DP_COUNTRY_MAX])
{
    static const struct {
        const char *iso, *code;
    } table[] = {
        {"US", "1"},  {"CA", "1"},   {"GB", "44"},  {"UK", "44"}, {"IE", "353"},
        {"DE", "49"}, {"FR", "33"},  {"ES", "34"},  {"IT", "39"}, {"NL", "31"},
        {"BE", "32"}, {"CH", "41"},  {"AT", "43"},  {"SE", "46"}, {"NO", "47"},
        {"DK", "45"}, {"FI", "358"}, {"PT", "351"}, {"PL", "48"}, {"AU", "61"},
        {"NZ", "64"}, {"IN", "91"},  {"JP", "81"},  {"CN", "86"}, {"BR", "55"},
        {"MX", "52"}, {"ZA", "27"},  {"SG", "65"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcasecmp(s, table[i].iso)) continue;
        strcpy(cc, table[i].code);
        return 0;
    }
    if (*s == '+')
        s++;
    else if (s[0] == '0' && s[1] == '0')
        s += 2;
    size_t n = strspn(s, "0123456789");
    if (n < 1 || n > 3 || s[n] || s[0] == '0') return FS_EINVAL;
    memcpy(cc, s, n + 1);
    return 0;
}

int dp_date_order_parse(const char *s, dp_date_order *order)
{
    if (!strcasecmp(s, "mdy") || !strcasecmp(s, "us")) {
        *order = DP_DATE_MDY;
        return 0;
    }
    if (!strcasecmp(s, "dmy") || !strcasecmp(s, "eu")) {
        *order = DP_DATE_DMY;
        return 0;
    }
    return FS_EINVAL;
}

/* ---- phone numbers -------------------------------------------------- */

/* The length of the extension marker at s, or 0. */
static size_t ext_marker(const char *s)
{
    static const char *const marks[] = {";ext=", "extension", "ext.", "ext",
                                        "x",     "#",         NULL};
    for (const char *const *m = marks; *m; m++)
        if (!strncasecmp(s, *m, strlen(*m))) return strlen(*m);
    return 0;
}

/* Reads the extension digits at s to the end into ext.  Returns 0 or
 * FS_EINVAL. */
static int read_ext(const char *s, char ext[DP_EXT_MAX])
{
    while (is_blank(*s) || *s == '.' || *s == ':' || *s == '-')
        s++;
    size_t n = strspn(s, "0123456789");
    if (n < 1 || n > DP_EXT_MAX - 1) return FS_EINVAL;
    for (const char *p = s + n; *p; p++)
        if (!is_blank(*p)) return FS_EINVAL;
    memcpy(ext, s, n);
    ext[n] = '\0';
    return 0;
}

typedef struct phone_digits {
    char d[32];
    size_t n;
    bool plus;
    int zero_at; /* index in d of a "(0)" digit, or -1 */
} phone_digits;

/* Collects the digits of s up to an extension (see the top comment). */
static int collect_digits(const char *s, phone_digits *pd, char *ext)
{
    while (is_blank(*s))
        s++;
    pd->plus = *s == '+';
    if (pd->plus) s++;
    pd->n = 0;
    pd->zero_at = -1;
    for (; *s; s++) {
        if (is_digit(*s)) {
            if (pd->n == sizeof pd->d - 1) return FS_EINVAL;
            pd->d[pd->n++] = *s;
        } else if (!strncmp(s, "(0)", 3) && pd->n) {
            pd->zero_at = (int)pd->n;
            pd->d[pd->n++] = '0';
            s += 2;
        } else if (strchr(" \t-.()/", *s)) {
            continue;
        } else {
            size_t m = pd->n ? ext_marker(s) : 0;
            return m ? read_ext(s + m, ext) : FS_EINVAL;
        }
    }
    return pd->n ? 0 : FS_EINVAL;
}

int dp_phone_e164(const char *s, const char *cc, char e164[DP_PHONE_MAX],
                  char ext[DP_EXT_MAX])
{
    char xbuf[DP_EXT_MAX] = "";
    phone_digits pd;
    if (!cc) cc = "1";
    bool nanp = !strcmp(cc, "1");
    if (collect_digits(s, &pd, xbuf)) return FS_EINVAL;
    const char *d = pd.d;
    size_t n = pd.n, skip = 0;
    bool intl = pd.plus;
    if (!intl && n > 2 && !memcmp(d, "00", 2)) skip = 2;
    if (!intl && nanp && n > 3 && !memcmp(d, "011", 3)) skip = 3;
    intl |= skip > 0;
    if (intl && pd.zero_at >= (int)skip) {
        memmove(pd.d + pd.zero_at, pd.d + pd.zero_at + 1, n - pd.zero_at - 1);
        n--;
    }
    d += skip, n -= skip;
    if (intl) {
        if (d[0] == '0' || n < 8 || n > 15 || (d[0] == '1' && n != 11))
            return FS_EINVAL;
        snprintf(e164, DP_PHONE_MAX, "+%.*s", (int)n, d);
    } else if (nanp) {
        if (n == 11 && d[0] == '1') d++, n--;
        if (n != 10) return FS_EINVAL;
        snprintf(e164, DP_PHONE_MAX, "+1%.*s", (int)n, d);
    } else {
        if (d[0] == '0') d++, n--;
        size_t total = strlen(cc) + n;
        if (total < 8 || total > 15) return FS_EINVAL;
        snprintf(e164, DP_PHONE_MAX, "+%s%.*s", cc, (int)n, d);
    }
    if (ext) strcpy(ext, xbuf);
    return 0;
}

/* ---- dates ---------------------------------------------------------- */

typedef struct date_toks {
    char kind[4]; /* "NNN", "NMN", ... */
    int val[3];
    int digits[3]; /* of an N */
    size_t n;
    const char *time; /* where the time starts, or NULL */
} date_toks;

/* 1..12 for an English month name or abbreviation, 0 for none. */
static int month_of(const char *w)
{
    static const char *const months[] = {
        "january", "february", "march",     "april",   "may",      "june",
        "july",    "august",   "september", "october", "november", "december"};
    if (!strcmp(w, "sept")) return 9;
    for (int i = 0; i < 12; i++)
        if (!strcmp(w, months[i]) ||
            (strlen(w) == 3 && !strncmp(w, months[i], 3)))
            return i + 1;
    return 0;
}

static bool is_skip_word(const char *w)
{
    static const char *const skip[] = {
        "monday",   "tuesday", "wednesday", "thursday", "friday",
        "saturday", "sunday",  "mon",       "tue",      "tues",
        "wed",      "thu",     "thur",      "thurs",    "fri",
        "sat",      "sun",     "of",        NULL};
    return in_list(w, skip);
}

/* Reads a number token at *p (and an ordinal suffix); false if too long
 * or the start of a time. */
static bool read_num(const char **p, date_toks *t)
{
    const char *s = *p;
    size_t nd = strspn(s, "0123456789");
    if (nd > 8) return false;
    if (s[nd] == ':') {
        t->time = s;
        return true;
    }
    if (t->n == 3) return false;
    t->kind[t->n] = 'N';
    t->val[t->n] = atoi(s);
    t->digits[t->n++] = (int)nd;
    s += nd;
    static const char *const ord[] = {"st", "nd", "rd", "th"};
    for (size_t i = 0; i < 4; i++)
        if (!strncasecmp(s, ord[i], 2) && !is_alpha(s[2])) s += 2;
    *p = s;
    return true;
}

/* Reads a word token at *p (a month, or a word to skip). */
static bool read_word(const char **p, date_toks *t)
{
    const char *s = *p;
    char w[16];
    size_t n = 0;
    if ((*s == 'T' || *s == 't') && is_digit(s[1])) {
        t->time = s + 1;
        return true;
    }
    while (is_alpha(*s)) {
        if (n == sizeof w - 1) return false;
        w[n++] = (char)tolower((unsigned char)*s++);
    }
    w[n] = '\0';
    *p = s;
    if (is_skip_word(w)) return true;
    int m = month_of(w);
    if (!m || t->n == 3) return false;
    t->kind[t->n] = 'M';
    t->val[t->n++] = m;
    return true;
}

static bool tokenize_date(const char *s, date_toks *t)
{
    memset(t, 0, sizeof *t);
    while (*s && !t->time) {
        if (is_blank(*s) || strchr(",/-.", *s)) {
            s++;
        } else if (is_digit(*s)) {
            if (!read_num(&s, t)) return false;
        } else if (is_alpha(*s)) {
            if (!read_word(&s, t)) return false;
        } else {
            return false;
        }
    }
    return t->n > 0;
}

static bool year_of(int v, int digits, int *y)
{
    if (digits == 2) {
        *y = v < 70 ? 2000 + v : 1900 + v;
        return true;
    }
    *y = v;
    return digits == 4 && v >= 1000;
}

/* Year, month and day from the token pattern; false if none fits. */
static bool assign_ymd(const date_toks *t, dp_date_order order, int *y, int *m,
                       int *d)
{
    const int *v = t->val, *nd = t->digits;
    if (!strcmp(t->kind, "N") && nd[0] == 8) {
        *y = v[0] / 10000, *m = v[0] / 100 % 100, *d = v[0] % 100;
        return *y >= 1000;
    }
    if (!strcmp(t->kind, "NNN") && nd[0] == 4) {
        *y = v[0], *m = v[1], *d = v[2];
        return nd[1] <= 2 && nd[2] <= 2;
    }
    if (!strcmp(t->kind, "NNN")) {
        if (nd[0] > 2 || nd[1] > 2) return false;
        bool mdy = order == DP_DATE_MDY;
        if (v[mdy ? 0 : 1] > 12 && v[mdy ? 1 : 0] <= 12) mdy = !mdy;
        *m = mdy ? v[0] : v[1], *d = mdy ? v[1] : v[0];
        return year_of(v[2], nd[2], y);
    }
    if (!strcmp(t->kind, "NMN") && nd[0] == 4) {
        *y = v[0], *m = v[1], *d = v[2];
        return nd[2] <= 2;
    }
    if (!strcmp(t->kind, "NMN")) {
        *d = v[0], *m = v[1];
        return nd[0] <= 2 && year_of(v[2], nd[2], y);
    }
    if (!strcmp(t->kind, "MNN")) {
        *m = v[0], *d = v[1];
        return nd[1] <= 2 && year_of(v[2], nd[2], y);
    }
    return false;
}

static bool date_exists(int y, int m, int d)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1000 || y > 9999 || m < 1 || m > 12 || d < 1) return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[m - 1] + (m == 2 && leap);
}

/* Reads exactly n digits at *p into *v. */
static bool digits_n(const char **p, size_t n, int *v)
{
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit((*p)[i])) return false;
        *v = *v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return true;
}

static const char *skip_blanks(const char *s)
{
    while (is_blank(*s))
        s++;
    return s;
}

/* An AM/PM mark at *p: 1 for AM, 2 for PM (and *p moves past it), or 0. */
static int am_pm(const char **p)
{
    static const char *const marks[] = {"a.m.", "p.m.", "am", "pm"};
    for (int i = 0; i < 4; i++) {
        size_t n = strlen(marks[i]);
        if (strncasecmp(*p, marks[i], n) || is_alpha((*p)[n])) continue;
        *p += n;
        return i % 2 + 1;
    }
    return 0;
}

#define ZONE_MAX 32 /* "+HH:MM" with room for what the compiler fears */

/* A time zone at s to the end, written to zone ("", "Z", "+HH:MM"). */
static bool read_zone(const char *s, char zone[ZONE_MAX])
{
    int hh, mm = 0;
    zone[0] = '\0';
    if (!*s) return true;
    if (!strcasecmp(s, "Z") || !strcasecmp(s, "UTC") || !strcasecmp(s, "GMT"))
        return strcpy(zone, "Z"), true;
    char sign = *s++;
    if ((sign != '+' && sign != '-') || !digits_n(&s, 2, &hh)) return false;
    if (*s == ':') s++;
    if (*s && !digits_n(&s, 2, &mm)) return false;
    if (*s || hh > 23 || mm > 59) return false;
    snprintf(zone, ZONE_MAX, "%c%02d:%02d", sign, hh, mm);
    return true;
}

/* The time at s to the end, appended to iso as "THH:MM:SS[.f][zone]". */
static bool read_time(const char *s, char *iso, size_t cap)
{
    int h, mi, sec = 0;
    size_t hn = strspn(s, "0123456789");
    if (hn < 1 || hn > 2 || !digits_n(&s, hn, &h) || *s++ != ':' ||
        !digits_n(&s, 2, &mi))
        return false;
    if (*s == ':' && (s++, !digits_n(&s, 2, &sec))) return false;
    const char *frac = NULL;
    size_t fn = 0;
    if ((*s == '.' || *s == ',') && is_digit(s[1])) {
        frac = ++s;
        fn = strspn(s, "0123456789");
        s += fn;
        if (fn > 9) return false;
    }
    s = skip_blanks(s);
    int ap = am_pm(&s);
    if (ap && (h < 1 || h > 12)) return false;
    if (ap) h = h % 12 + (ap == 2 ? 12 : 0);
    char zone[ZONE_MAX];
    if (h > 23 || mi > 59 || sec > 60 || !read_zone(skip_blanks(s), zone))
        return false;
    size_t len = strlen(iso);
    snprintf(iso + len, cap - len, "T%02d:%02d:%02d%s%.*s%s", h, mi, sec,
             frac ? "." : "", (int)fn, frac ? frac : "", zone);
    return true;
}

int dp_date_iso(const char *s, dp_date_order order, char iso[DP_DATE_MAX])
{
    date_toks t;
    int y, m, d;
    if (!tokenize_date(s, &t) || !assign_ymd(&t, order, &y, &m, &d) ||
        !date_exists(y, m, d))
        return FS_EINVAL;
    snprintf(iso, DP_DATE_MAX, "%04d-%02d-%02d", y, m, d);
    if (t.time && !read_time(t.time, iso, DP_DATE_MAX)) return FS_EINVAL;
    return 0;
}

/* ---- e-mail addresses and URLs -------------------------------------- */

static bool email_local_ok(const char *s, size_t n)
{
    if (n < 1 || n > 64 || s[0] == '.' || s[n - 1] == '.') return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.' && s[i + 1] == '.') return false;
        if (!(c >= 0x80 || is_alpha((char)c) || is_digit((char)c) ||
              strchr("!#$%&'*+/=?^_`{|}~.-", c)))
            return false;
    }
    return true;
}

static bool label_ok(const char *s, size_t n, bool last)
{
    if (n < 1 || n > 63 || s[0] == '-' || s[n - 1] == '-') return false;
    bool letters = true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(c >= 0x80 || is_alpha((char)c) || is_digit((char)c) || c == '-'))
            return false;
        letters &= is_alpha((char)c) || c >= 0x80;
    }
    if (!last) return true;
    return (letters && n >= 2) || (n > 4 && !strncasecmp(s, "xn--", 4));
}

static bool domain_ok(const char *s)
{
    size_t labels = 0;
    for (;;) {
        size_t n = strcspn(s, ".");
        bool last = s[n] == '\0';
        if (!label_ok(s, n, last)) return false;
        labels++;
        if (last) return labels >= 2;
        s += n + 1;
    }
}

bool dp_email_ok(const char *s)
{
    const char *at = strchr(s, '@');
    if (!at || strchr(at + 1, '@') || strlen(s) > 254) return false;
    return email_local_ok(s, (size_t)(at - s)) && domain_ok(at + 1);
}

static bool host_ok(const char *h, size_t n)
{
    const char *at = memchr(h, '@', n);
    if (at) n -= (size_t)(at + 1 - h), h = at + 1;
    if (n && h[0] == '[') return memchr(h, ']', n) != NULL;
    const char *colon = memchr(h, ':', n);
    if (colon) {
        size_t pn = n - (size_t)(colon + 1 - h);
        if (strspn(colon + 1, "0123456789") < pn) return false;
        n = (size_t)(colon - h);
    }
    if (n == 9 && !strncasecmp(h, "localhost", 9)) return true;
    const char *dot = memchr(h, '.', n);
    return n > 2 && dot && dot != h && h[n - 1] != '.';
}

bool dp_url_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7F) return false;
    const char *host = s;
    if (strncasecmp(s, "www.", 4)) {
        if (!is_alpha(*s)) return false;
        size_t n = 1 + strspn(s + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL"
                                     "MNOPQRSTUVWXYZ0123456789+.-");
        if (strncmp(s + n, "://", 3)) return false;
        host = s + n + 3;
    }
    return host_ok(host, strcspn(host, "/?#"));
}

/* ---- numbers and booleans ------------------------------------------- */

/* s without blanks around, copied into buf (false if it does not fit or
 * is empty). */
static bool trimmed(const char *s, char *buf, size_t cap)
{
    s = skip_blanks(s);
    size_t n = strlen(s);
    while (n && is_blank(s[n - 1]))
        n--;
    if (!n || n >= cap) return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return true;
}

bool dp_parse_int(const char *s, long long *v)
{
    char buf[32];
    if (!trimmed(s, buf, sizeof buf)) return false;
    const char *p = buf + (buf[0] == '+' || buf[0] == '-');
    if (!*p || strspn(p, "0123456789") != strlen(p)) return false;
    errno = 0;
    *v = strtoll(buf, NULL, 10);
    return errno == 0;
}

bool dp_parse_number(const char *s, double *v)
{
    char buf[64], *end;
    if (!trimmed(s, buf, sizeof buf)) return false;
    const char *p = buf + (buf[0] == '+' || buf[0] == '-');
    if (!is_digit(*p) && !(*p == '.' && is_digit(p[1]))) return false;
    if (strpbrk(buf, "xXpP")) return false;
    *v = strtod(buf, &end);
    return !*end && isfinite(*v);
}

bool dp_parse_bool(const char *s, bool *v)
{
    static const char *const yes[] = {"true", "yes", "y", "1", NULL};
    static const char *const no[] = {"false", "no", "n", "0", NULL};
    char buf[8];
    if (!trimmed(s, buf, sizeof buf)) return false;
    for (char *p = buf; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (in_list(buf, yes)) return *v = true, true;
    if (in_list(buf, no)) return *v = false, true;
    return false;
}
