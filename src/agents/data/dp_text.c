/*
 * dp_text.c - white space, name case, name keys, Jaro-Winkler, Soundex
 * (see dp_text.h).
 *
 * Name case and name keys work on code points: the text is decoded once
 * into an array, changed there and encoded again.  Case mapping is a few
 * ranges of arithmetic (ASCII, Latin-1, and Latin Extended-A where upper
 * and lower alternate) and accent folding one table over U+00C0..U+017F.
 * Jaro-Winkler marks matches in two flag arrays on the stack, so strings
 * are cut at DP_NAME_MAX code points.
 */
#include "agents/data/dp_text.h"

#include <stdlib.h>
#include <string.h>

#include "core/xmem.h"

#define REPLACEMENT 0xFFFD

/* ---- UTF-8 and case ------------------------------------------------- */

/* Decodes one code point at s (not at its NUL); OUT: *cp.  Returns the
 * bytes used (1 for an invalid byte, read as U+FFFD). */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
    if (s[0] < 0x80) return *cp = s[0], 1;
    size_t n = s[0] >= 0xF0 && s[0] < 0xF5   ? 4
               : s[0] >= 0xE0                ? 3
               : s[0] >= 0xC2 && s[0] < 0xE0 ? 2
                                             : 0;
    if (!n) return *cp = REPLACEMENT, 1;
    uint32_t c = s[0] & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return *cp = REPLACEMENT, 1;
        c = c << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return *cp = REPLACEMENT, 1;
    *cp = c;
    return n;
}

static size_t utf8_put(char *out, uint32_t c)
{
    if (c < 0x80) return out[0] = (char)c, 1;
    if (c < 0x800) {
        out[0] = (char)(0xC0 | c >> 6);
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | c >> 12);
        out[1] = (char)(0x80 | (c >> 6 & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | c >> 18);
    out[1] = (char)(0x80 | (c >> 12 & 0x3F));
    out[2] = (char)(0x80 | (c >> 6 & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

size_t dp_utf8_decode(const char *s, uint32_t *out, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    while (*p && n < max)
        p += utf8_next(p, &out[n++]);
    return n;
}

/* Decodes all of s into a new array; OUT: *n. */
static uint32_t *decode_all(const char *s, size_t *n)
{
    uint32_t *cp = xmalloc((strlen(s) + 1) * sizeof *cp);
    *n = dp_utf8_decode(s, cp, strlen(s) + 1);
    return cp;
}

static char *encode_all(const uint32_t *cp, size_t n)
{
    char *out = xmalloc(4 * n + 1), *p = out;
    for (size_t i = 0; i < n; i++)
        p += utf8_put(p, cp[i]);
    *p = '\0';
    return out;
}

/* In Latin Extended-A, upper and lower alternate: from an even code point
 * in 0100..0137 and 014A..0177, from an odd one in 0139..0148, 0179..017E. */
static bool ext_a_upper(uint32_t c)
{
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
        return c % 2 == 0 && c != 0x130;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
        return c % 2 == 1;
    return false;
}

static bool ext_a_lower(uint32_t c)
{
    return c > 0x100 && ext_a_upper(c - 1);
}

static uint32_t cp_lower(uint32_t c)
{
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
    if (c == 0x130) return 'i';
    if (c == 0x178) return 0xFF;
    return ext_a_upper(c) ? c + 1 : c;
}

static uint32_t cp_upper(uint32_t c)
{
    if (c >= 'a' && c <= 'z') return c - 32;
    if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
    if (c == 0xFF) return 0x178;
    if (c == 0x131) return 'I';
    return ext_a_lower(c) ? c - 1 : c;
}

/* ---- white space ---------------------------------------------------- */

/* The length of the white space at s (0 if none). */
static size_t space_len(const char *s)
{
    if (*s == ' ' || (*s >= '\t' && *s <= '\r')) return 1;
    if ((unsigned char)s[0] == 0xC2 && (unsigned char)s[1] == 0xA0) return 2;
    return 0;
}

char *dp_text_clean(const char *s)
{
    char *out = xmalloc(strlen(s) + 1), *p = out;
    bool pending = false;
    while (*s) {
        size_t sp = space_len(s);
        if (sp) {
            pending = p != out;
            s += sp;
            continue;
        }
        if (pending) *p++ = ' ';
        pending = false;
        *p++ = *s++;
    }
    *p = '\0';
    return out;
}

void dp_text_lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z') *s = (char)(*s + 32);
}

/* ---- name case ------------------------------------------------------ */

static bool word_is(const uint32_t *w, size_t n, const char *const *list)
{
    for (; *list; list++) {
        size_t k = strlen(*list);
        if (k != n) continue;
        size_t i = 0;
        while (i < n && w[i] == (uint32_t)(unsigned char)(*list)[i])
            i++;
        if (i == n) return true;
    }
    return false;
}

static bool is_apostrophe(uint32_t c)
{
    return c == '\'' || c == 0x2019;
}

/* Cases the lower-cased word w[0..n), the index-th of count words. */
static void case_word(uint32_t *w, size_t n, size_t index, size_t count)
{
    static const char *const particles[] = {
        "van", "von", "de", "der", "den", "del", "della", "di", "da",
        "du",  "la",  "le", "dos", "das", "ten", "ter",   NULL};
    static const char *const roman[] = {"ii", "iii", "iv", NULL};
    if (index > 0 && index + 1 < count && word_is(w, n, particles)) return;
    if (index > 0 && word_is(w, n, roman)) {
        for (size_t i = 0; i < n; i++)
            w[i] = cp_upper(w[i]);
        return;
    }
    w[0] = cp_upper(w[0]);
    for (size_t i = 1; i < n; i++)
        if (w[i - 1] == '-' || is_apostrophe(w[i - 1])) w[i] = cp_upper(w[i]);
    if (n > 2 && w[0] == 'M' && w[1] == 'c') w[2] = cp_upper(w[2]);
}

/* True when the letters of cp[0..n) are all upper-case or all lower. */
static bool one_case(const uint32_t *cp, size_t n)
{
    bool upper = false, lower = false;
    for (size_t i = 0; i < n; i++) {
        upper |= cp_lower(cp[i]) != cp[i];
        lower |= cp_upper(cp[i]) != cp[i];
    }
    return !(upper && lower);
}

char *dp_text_name_case(const char *s)
{
    char *clean = dp_text_clean(s);
    size_t n;
    uint32_t *cp = decode_all(clean, &n);
    bool invalid = false;
    for (size_t i = 0; i < n; i++)
        invalid |= cp[i] == REPLACEMENT;
    if (invalid || !one_case(cp, n)) goto keep;
    size_t count = n > 0;
    for (size_t i = 0; i < n; i++) {
        cp[i] = cp_lower(cp[i]);
        count += cp[i] == ' ';
    }
    for (size_t i = 0, w = 0; i < n; w++) {
        size_t j = i;
        while (j < n && cp[j] != ' ')
            j++;
        case_word(cp + i, j - i, w, count);
        i = j + 1;
    }
    free(clean);
    clean = encode_all(cp, n);
keep:
    free(cp);
    return clean;
}

/* ---- name keys ------------------------------------------------------ */

/* ASCII for U+00C0..U+017F (a space for the two signs, x and /). */
static const char FOLD[] = "AAAAAAACEEEEIIII"
                           "DNOOOOO OUUUUYTs"
                           "aaaaaaaceeeeiiii"
                           "dnooooo ouuuuyty"
                           "AaAaAaCcCcCcCcDd"
                           "DdEeEeEeEeEeGgGg"
                           "GgGgHhHhIiIiIiIi"
                           "IiJjJjKkkLlLlLlL"
                           "lLlNnNnNnnNnOoOo"
                           "OoOoRrRrRrSsSsSs"
                           "SsTtTtTtUuUuUuUu"
                           "UuUuWwYyYZzZzZzs";

/* c as it appears in a name key: a lower-case letter or digit, 0 to drop
 * it (apostrophes), or ' ' (punctuation and symbols). */
static uint32_t key_char(uint32_t c)
{
    if (c >= 0xC0 && c <= 0x17F) c = (unsigned char)FOLD[c - 0xC0];
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return c;
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (is_apostrophe(c)) return 0;
    return c >= 0x180 ? c : ' ';
}

static bool is_title(const uint32_t *w, size_t n)
{
    static const char *const drop[] = {"mr",   "mrs", "ms",  "miss", "dr",
                                       "prof", "sir", "jr",  "sr",   "ii",
                                       "iii",  "iv",  "phd", "md",   NULL};
    return word_is(w, n, drop);
}

char *dp_text_name_key(const char *s)
{
    size_t n, m = 0, kept = 0;
    uint32_t *cp = decode_all(s, &n), *out = xmalloc((n + 1) * sizeof *out);
    for (size_t i = 0; i < n; i++) {
        uint32_t c = key_char(cp[i]);
        if (c) cp[m++] = c;
    }
    for (size_t pass = 0; pass < 2 && !kept; pass++) {
        for (size_t i = 0; i < m;) {
            while (i < m && cp[i] == ' ')
                i++;
            size_t j = i;
            while (j < m && cp[j] != ' ')
                j++;
            if (j > i && (pass == 1 || !is_title(cp + i, j - i))) {
                if (kept) out[kept++] = ' ';
                memcpy(out + kept, cp + i, (j - i) * sizeof *out);
                kept += j - i;
            }
            i = j;
        }
    }
    char *key = encode_all(out, kept);
    free(cp);
    free(out);
    return key;
}

/* ---- Jaro-Winkler --------------------------------------------------- */

double dp_jaro_winkler_cp(const uint32_t *a, size_t na, const uint32_t *b,
                          size_t nb)
{
    if (na > DP_NAME_MAX) na = DP_NAME_MAX;
    if (nb > DP_NAME_MAX) nb = DP_NAME_MAX;
    if (!na && !nb) return 1.0;
    if (!na || !nb) return 0.0;
    size_t win = (na > nb ? na : nb) / 2;
    win = win ? win - 1 : 0;
    bool ma[DP_NAME_MAX] = {false}, mb[DP_NAME_MAX] = {false};
    size_t m = 0;
    for (size_t i = 0; i < na; i++) {
        size_t lo = i > win ? i - win : 0, hi = i + win + 1;
        if (hi > nb) hi = nb;
        for (size_t j = lo; j < hi; j++) {
            if (mb[j] || a[i] != b[j]) continue;
            ma[i] = mb[j] = true;
            m++;
            break;
        }
    }
    if (!m) return 0.0;
    size_t half = 0;
    for (size_t i = 0, k = 0; i < na; i++) {
        if (!ma[i]) continue;
        while (!mb[k])
            k++;
        half += a[i] != b[k++];
    }
    double dm = (double)m;
    double jaro = (dm / na + dm / nb + (dm - half / 2.0) / dm) / 3.0;
    if (jaro <= 0.7) return jaro;
    size_t prefix = 0;
    while (prefix < 4 && prefix < na && prefix < nb && a[prefix] == b[prefix])
        prefix++;
    return jaro + 0.1 * (double)prefix * (1.0 - jaro);
}

double dp_jaro_winkler(const char *a, const char *b)
{
    uint32_t ca[DP_NAME_MAX], cb[DP_NAME_MAX];
    size_t na = dp_utf8_decode(a, ca, DP_NAME_MAX);
    size_t nb = dp_utf8_decode(b, cb, DP_NAME_MAX);
    return dp_jaro_winkler_cp(ca, na, cb, nb);
}

/* ---- Soundex -------------------------------------------------------- */

void dp_soundex(const char *word, size_t n, char out[5])
{
    /*                          abcdefghijklmnopqrstuvwxyz */
    static const char code[] = "01230120022455012623010202";
    size_t len = 0;
    char prev = 0;
    memcpy(out, "0000", 5);
    for (size_t i = 0; i < n && len < 4; i++) {
        char c = word[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
        if (c < 'a' || c > 'z') continue;
        char d = code[c - 'a'];
        if (len == 0) {
            out[len++] = (char)(c - 32);
        } else if (c == 'h' || c == 'w') {
            continue;
        } else if (d != '0' && d != prev) {
            out[len++] = d;
        }
        prev = d;
    }
}
