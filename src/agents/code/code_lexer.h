/*
 * code_lexer.h - a tokenizer-lite for C/C++, Python and JavaScript/
 * TypeScript, enough to count lines, find function definitions and their
 * braces or indentation, and spot decision keywords.
 *
 * The token stream holds words (identifiers and keywords), numbers,
 * strings and punctuators, each with its line; comments are not tokens
 * but spans beside them.  What counts as a comment:
 *   - C/C++ and JavaScript/TypeScript: // to the end of the line, and
 *     block comments from slash-star to star-slash;
 *   - Python: # and a string that is a statement by itself (a docstring).
 * Strings keep their quotes and contents as one token, so "if (" inside a
 * string is never a keyword: C/C++ "..." '...' with L u U u8 prefixes and
 * R"delim(...)delim" raw strings; Python '...' "..." and triple quotes
 * with any prefix; JavaScript '...' "..." and template strings, whose
 * ${...} expressions are tokens again (the text between is STRING
 * tokens, the ${ and } are dropped).  A JavaScript / starts a regular
 * expression (one STRING token, closed on its line within 512 bytes, else
 * the / is division) where an operand is expected: at the start, after a
 * punctuator other than ) ] } ++ --, or after return, typeof, case and
 * the like.  One-quote strings end at a newline when unclosed.
 *
 * Lines are numbered from 1.  A line is code when a token has a
 * non-blank character on it, else comment when a comment does, else
 * blank (a blank line inside a block comment is blank).
 */
#ifndef CODE_LEXER_H
#define CODE_LEXER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum code_lang {
    CODE_LANG_UNKNOWN = 0,
    CODE_LANG_C,
    CODE_LANG_CPP,
    CODE_LANG_PYTHON,
    CODE_LANG_JS,
    CODE_LANG_TS,
} code_lang;

/* The language of a file by its extension: .c .h -> C; .cc .cpp .cxx
 * .hpp .hh -> C++; .py -> Python; .js .mjs .cjs .jsx -> JavaScript; .ts
 * .tsx .mts .cts -> TypeScript; anything else CODE_LANG_UNKNOWN. */
code_lang code_lang_of(const char *path);
/* "c", "cpp", "python", "javascript", "typescript"; NULL for unknown. */
const char *code_lang_name(code_lang lang);
/* C and C++ share the brace rules, JavaScript and TypeScript too. */
static inline bool code_lang_is_c(code_lang l)
{
    return l == CODE_LANG_C || l == CODE_LANG_CPP;
}
static inline bool code_lang_is_js(code_lang l)
{
    return l == CODE_LANG_JS || l == CODE_LANG_TS;
}

enum code_tok_kind {
    CODE_TOK_WORD,
    CODE_TOK_NUMBER,
    CODE_TOK_STRING,
    CODE_TOK_PUNCT,
};

enum code_tok_flag {
    /* The first token of a line: a physical line in C and JavaScript, a
     * logical line in Python (outside brackets, after no backslash). */
    CODE_TOK_BOL = 1,
    /* Inside a C/C++ preprocessor directive (#include, #define ...). */
    CODE_TOK_PP = 2,
};

enum code_line_flag {
    CODE_LINE_CODE = 1,
    CODE_LINE_COMMENT = 2,
};

typedef struct code_tok {
    uint32_t off, len;   /* bytes of the source */
    uint32_t line;       /* of the first byte */
    uint32_t end_line;   /* of the last byte (strings may span lines) */
    uint32_t col;        /* visual column (tabs to 8), BOL tokens only */
    uint8_t kind, flags; /* enum code_tok_kind, enum code_tok_flag */
} code_tok;

typedef struct code_span {
    uint32_t off, len, line;
} code_span;

typedef struct code_lexed {
    code_lang lang;
    const char *src;      /* borrowed: the caller's buffer */
    size_t len;
    code_tok *toks;       /* in source order */
    size_t ntoks;
    code_span *comments;  /* in source order */
    size_t ncomments;
    uint8_t *lines;       /* [1..nlines]: enum code_line_flag bits */
    size_t nlines;
} code_lexed;

/*
 * Tokenizes src[0..len) as lang.  OUT: *out, which borrows src (keep it
 * alive and unchanged while *out is used); free with code_lex_free().
 * Never fails on malformed source (unclosed strings and comments end at
 * the end of the input).  Errors: FS_EINVAL for CODE_LANG_UNKNOWN,
 * FS_ETOOBIG for 4 GiB or more.
 */
int code_lex(code_lang lang, const char *src, size_t len, code_lexed *out);
void code_lex_free(code_lexed *lx);

/* True when token t's text is exactly s. */
bool code_tok_is(const code_lexed *lx, const code_tok *t, const char *s);

#endif
