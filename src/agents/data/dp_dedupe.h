/*
 * dp_dedupe.h - the `dedupe` job of the data_processor agent: finds the
 * records that are the same entity and gives merge groups, each with a
 * survivor.
 *
 * Payload {"records": [...], "keys": ["email", "name", "company"]}: keys
 * say what to compare.  A key is a field name, or an object:
 *   {"field": "Email 2", "match": "email"}
 *   {"field": ["First Name", "Last Name"], "match": "name"}  (values
 *                                                 joined with a space)
 * Matches:
 *   email    equal addresses, trimmed and lower-cased; only values that
 *            dp_email_ok() accepts count, so placeholders ("n/a", "-")
 *            join nothing.  All email keys share one pool: Email 1 of a
 *            record may meet Email 2 of another.  Reason "same email".
 *   phone    equal E.164 numbers with their extensions (dp_phone_e164
 *            under default_country; a number that does not parse is
 *            compared on its digits, if 7 or more).  One pool.  Reason
 *            "same phone".
 *   exact    equal values, trimmed, collapsed, lower-cased; per key.
 *            Reason "same <field>".
 *   name     Jaro-Winkler of the dp_text_name_key()s at least
 *            name_threshold, and of their first words and their last
 *            words each at least DP_WORD_THRESHOLD, so a long shared
 *            first name does not carry another surname ("sherry chen" /
 *            "sherry crane" is 0.93 whole, 0.63 on the last word).
 *            Reason "similar name (0.95)", or "same name" for equal
 *            keys.
 *   context  does not match alone: when there are context keys, a name
 *            match also needs every context key both records have to be
 *            equal (as for exact), and at least one of them: "similar
 *            name (0.95) and same company".
 * A key given as a name gets its match from dp_kind_guess(): email,
 * phone, name, exact for an id, context otherwise ("company", "city").
 * When no key is email, phone, exact or name, context keys match as
 * exact.  With keys NULL or [] they are guessed from the fields of the
 * first record that is an object: every email and phone field, every id
 * field (exact), the name fields joined into one name key, and fields
 * with a word company, account, organization or organisation (context).
 *
 * The passes, each joining records in one union-find:
 *   1. exact (email, phone, exact keys): sort (pool, value) pairs, join
 *      runs of equal values;
 *   2. names: each record goes into three blocks, keyed by
 *      (first letter of the first word, Soundex of the last word),
 *      (Soundex of the first word, first letter of the last word) and
 *      the two Soundex codes in sorted order; so a typo may spoil one
 *      key and the pair still meets.  Pairs are compared within a block:
 *      all of them in a block of up to DP_BLOCK_ALL records, else each
 *      record with the DP_BLOCK_WINDOW next in the order of name key,
 *      then first context value (sorted neighbourhood), so a common
 *      name costs no O(n^2) and its same-company copies stay adjacent;
 *   3. embeddings, if given: with opts->vectors, the cosine of every
 *      pair when n <= DP_ALL_PAIRS, else of each record's DP_VECTOR_K
 *      nearest neighbours in an HNSW index (memory/hnsw.h), at least
 *      vector_threshold: "similar embedding (0.97)"; with opts->sim, the
 *      callback on every pair compared in pass 2 that it did not join
 *      (every pair when n <= DP_ALL_PAIRS and there is no name key), at
 *      least sim_threshold: "similar (0.93)".
 *
 * Result:
 *   {"groups": [{"survivor": 7, "members": [3, 7],
 *                "reason": "same email; similar name (0.95) and same company",
 *                "links": [{"a": 3, "b": 7, "reason": "same email"}],
 *                "merged": {...}},                  (with opts->merged)
 *               ...],
 *    "records": 10, "duplicates": 1}
 * Indexes are into records.  A group has two or more members, ascending;
 * groups are ordered by their first member.  links are the joins that
 * made the group (members - 1 of them, in the order found); reason is
 * their distinct reasons joined by "; ".  The survivor is the most
 * complete member: the most fields that are not missing (absent, null,
 * blank string); ties go to the lowest index.  merged is the survivor
 * with its missing fields filled from the other members, lowest index
 * first.  duplicates counts the records that are not survivors.
 * Records that are not objects are never in a group.
 *
 * No global state: calls may run on several threads at once (each calls
 * its sim callback on its own thread).
 */
#ifndef DP_DEDUPE_H
#define DP_DEDUPE_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define DP_NAME_THRESHOLD 0.92
#define DP_WORD_THRESHOLD 0.85
#define DP_VECTOR_THRESHOLD 0.95
#define DP_SIM_THRESHOLD 0.9
#define DP_BLOCK_ALL 256
#define DP_BLOCK_WINDOW 32
#define DP_ALL_PAIRS 2000
#define DP_VECTOR_K 10

/* The similarity of records i and j, higher is closer (compared with
 * sim_threshold).  Called from the calling thread only. */
typedef double (*dp_sim_fn)(void *ctx, size_t i, size_t j);

/* Zero fields take the defaults. */
typedef struct dp_dedupe_opts {
    double name_threshold;       /* Jaro-Winkler; 0: DP_NAME_THRESHOLD */
    const char *default_country; /* for phone keys; NULL: "+1" */
    const float *vectors;        /* n x dims, row i for records[i] (an all-zero
                                    row: no vector); borrowed; NULL: none */
    size_t dims;
    double vector_threshold; /* cosine; 0: DP_VECTOR_THRESHOLD */
    dp_sim_fn sim;           /* NULL: none */
    void *sim_ctx;
    double sim_threshold; /* 0: DP_SIM_THRESHOLD */
    bool merged;          /* add "merged" to each group */
} dp_dedupe_opts;

/*
 * Reads "name_threshold", "vector_threshold", "sim_threshold" (numbers in
 * (0, 1]), "default_country" (a string) and "merged" (a boolean) from
 * payload into o (other fields untouched; default_country borrowed from
 * payload).  Returns 0, or FS_EINVAL naming the bad one in err.
 */
int dp_dedupe_opts_json(const json_t *payload, dp_dedupe_opts *o, char *err,
                        size_t errlen);

/*
 * Groups the duplicates among records (an array; borrowed) by keys (an
 * array as above, or NULL; borrowed).  o may be NULL (all defaults).
 * Returns 0 and OUT: *out, the result above; or FS_EINVAL (records not an
 * array, a malformed key, a bad option, or vectors with dims 0) with OUT:
 * *out {"error": "why"}.  Either way the caller json_decref()s *out.
 */
int dp_dedupe(const json_t *records, const json_t *keys,
              const dp_dedupe_opts *o, json_t **out);

#endif
