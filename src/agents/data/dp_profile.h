/*
 * dp_profile.h - the `profile` job of the data_processor agent: what each
 * column of a set of records holds.
 *
 * Columns are the fields of the records that are objects, in the order
 * first met.  A value is missing when the field is absent, null, or a
 * string of only blanks.  For each column:
 *   count, nulls, null_rate   present values, missing ones, and
 *                             nulls / object records
 *   distinct                  distinct present values, exact (values
 *                             compared as text: strings as they are,
 *                             numbers and booleans as JSON)
 *   type, type_ratio          the first of integer, number, boolean,
 *                             date, email, phone, url that at least 95%
 *                             of the present values are (as text too:
 *                             "42" is an integer; formats as dp_format.h
 *                             checks them, trimmed), and the share that
 *                             is; else "string" (ratio 1), "mixed" when
 *                             arrays or objects are among other values,
 *                             "array"/"object" when all are, "empty"
 *                             when nothing is present
 *   min, max                  numbers when every value is a number (as
 *                             text too), with "mean"; the ISO 8601 forms
 *                             when every value is a date; else the
 *                             bytewise least and greatest text
 *   min_length, max_length    in characters, of the text of the values
 *   top                       the DP_PROFILE_TOP most frequent values
 *                             with their counts, most frequent first (ties
 *                             in text order), each value as in the record
 *
 * Result:
 *   {"records": 10, "objects": 10,
 *    "columns": {"email": {"type": "email", "type_ratio": 0.9, "count": 9,
 *                          "nulls": 1, "null_rate": 0.1, "distinct": 8,
 *                          "min": "a@x.com", "max": "z@y.org",
 *                          "min_length": 7, "max_length": 22,
 *                          "top": [{"value": "a@x.com", "count": 2}, ...]},
 *                ...}}
 * Dates are read month first (03/05/2024 is March 5); phone numbers under
 * +1.  Memory: one pointer per present value, plus the text of numbers.
 *
 * No global state: calls may run on several threads at once.
 */
#ifndef DP_PROFILE_H
#define DP_PROFILE_H
#include <jansson.h>

#define DP_PROFILE_TOP 5

/*
 * Profiles records (an array; borrowed).  Returns 0 and OUT: *out, the
 * result above; or FS_EINVAL (records is not an array) with OUT: *out
 * {"error": "why"}.  Either way the caller json_decref()s *out.
 */
int dp_profile(const json_t *records, json_t **out);

#endif
