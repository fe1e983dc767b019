/*
 * text.h - the one tokeniser of Flowstate's memory: the `local` embedder
 * and the BM25 text index both read text through it, so a word means the
 * same thing to both.
 *
 * A token is a maximal run of word characters:
 *   - ASCII letters and digits, and every non-ASCII code point that is not
 *     punctuation, a symbol, a space or a control (accented letters, Greek,
 *     Cyrillic, CJK ... all count as letters);
 *   - an apostrophe (' or U+2019) between two word characters stays inside
 *     the word ("don't", "o'brien"), written as '.
 * Everything else separates tokens, and so does invalid UTF-8 (never
 * passed through).  Tokens are lower-cased (ASCII, Latin-1, Latin
 * Extended-A, Greek and Cyrillic; other scripts have no case here) and,
 * unless they contain a digit, stemmed with Snowball (libstemmer) in the
 * tokenizer's language.  Tokens longer than TEXT_MAX_TOKEN bytes are cut
 * there (at a character boundary).
 *
 * A tokenizer holds a Snowball stemmer, which is not thread-safe: use one
 * tokenizer per thread.
 */
#ifndef TEXT_H
#define TEXT_H
#include <stdbool.h>
#include <stddef.h>

#define TEXT_MAX_TOKEN 64

typedef struct text_tokenizer text_tokenizer;

/* language: a Snowball algorithm name ("english", "french", ...) or NULL
 * for no stemming.  Errors: FS_EINVAL for an unknown language. */
int text_tokenizer_open(text_tokenizer **out, const char *language);
void text_tokenizer_close(text_tokenizer *t);

typedef struct text_token {
    const char *term;  /* lower-cased and stemmed, NUL-terminated */
    size_t len;
    const char *word;  /* lower-cased, not stemmed, NUL-terminated */
    size_t word_len;
    size_t start, end; /* byte offsets of the token in the input */
    size_t index;      /* 0, 1, 2 ... in order */
} text_token;

/* Called once per token; the strings live until the callback returns.
 * Return false to stop early. */
typedef bool (*text_token_fn)(void *ctx, const text_token *tok);

/* Tokenises len bytes of text, calling fn for each token.  Returns the
 * number of tokens delivered. */
size_t text_tokenize(text_tokenizer *t, const char *text, size_t len,
                     text_token_fn fn, void *ctx);

#endif
