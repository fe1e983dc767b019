/*
 * dp_text.h - string helpers of the data_processor library: white space,
 * case for person names, the comparison key of a name, Jaro-Winkler and
 * Soundex.
 *
 * Strings are UTF-8.  Case mapping and accent folding know ASCII,
 * Latin-1 and Latin Extended-A (U+0000..U+017F), which covers the names
 * of western and central European languages; any other code point is
 * kept as it is.  Invalid UTF-8 bytes are read as U+FFFD (a "letter"
 * with no case); dp_text_name_case only cleans a string holding any.
 *
 * Pure functions, no global state: safe from any thread.
 */
#ifndef DP_TEXT_H
#define DP_TEXT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Names longer than this (in code points) are compared on their start. */
#define DP_NAME_MAX 128

/*
 * s trimmed, with each inner run of white space (ASCII blanks, CR, LF,
 * tab, vertical tab, form feed and U+00A0 no-break space) made one ASCII
 * space.  A new string; the caller frees it.
 */
char *dp_text_clean(const char *s);

/* Lower-cases s in place (ASCII letters only; other bytes untouched). */
void dp_text_lower(char *s);

/*
 * s cleaned (dp_text_clean) and, when all its cased letters are of one
 * case ("JOHN SMITH", "anne-marie o'neil"), put in name case: each word
 * capitalised, also after '-' and an apostrophe (O'Neil, Anne-Marie), Mc
 * names as McDonald, the roman numerals II, III, IV upper-case, and the
 * particles van, von, de, der, den, del, della, di, da, du, la, le, dos,
 * das, ten, ter lower-case except as the first or last word ("Ludwig van
 * Beethoven", but "Van Morrison").  A name already in mixed case
 * ("McKenzie", "DeShawn") is only cleaned.  A new string; the caller
 * frees it.
 */
char *dp_text_name_case(const char *s);

/*
 * The key two spellings of a person's name are compared on: lower-case,
 * accents folded to ASCII (é -> e, ł -> l, ß -> s), punctuation made
 * white space, the titles mr, mrs, ms, miss, dr, prof, sir and the
 * suffixes jr, sr, ii, iii, iv, phd, md dropped, white space collapsed.
 * "Dr. José  García-López, Jr." -> "jose garcia lopez".  A new string;
 * the caller frees it.
 */
char *dp_text_name_key(const char *s);

/*
 * Decodes UTF-8 s into at most max code points in out (invalid bytes
 * become U+FFFD).  Returns how many were written.
 */
size_t dp_utf8_decode(const char *s, uint32_t *out, size_t max);

/*
 * The Jaro-Winkler similarity of two code point strings, 0..1 (1 when
 * equal, also when both are empty): Jaro with a match window of
 * max(len)/2 - 1, plus the Winkler bonus 0.1 per common prefix character
 * (at most 4) when the Jaro similarity is above 0.7.
 * MARTHA/MARHTA = 0.961, DWAYNE/DUANE = 0.84, DIXON/DICKSONX = 0.813.
 * Only the first DP_NAME_MAX code points of each count.
 */
double dp_jaro_winkler_cp(const uint32_t *a, size_t na, const uint32_t *b,
                          size_t nb);

/* The same on two UTF-8 strings (compared as code points). */
double dp_jaro_winkler(const char *a, const char *b);

/*
 * American Soundex of the ASCII letters of word[0..n) (others skipped)
 * into out: a capital letter and three digits ("Robert" -> "R163",
 * "Tymczak" -> "T522", "Pfister" -> "P236"), "0000" when there is no
 * letter.
 */
void dp_soundex(const char *word, size_t n, char out[5]);

#endif
