/*
 * dp_normalize.h - the `normalize` job of the data_processor agent: puts
 * the string values of records in one canonical form per field.
 *
 * Options (every key optional; NULL for all the defaults):
 *   {"default_country": "+1",    calling code of phone numbers written
 *                                without one ("US", "44", "+49" ...)
 *    "date_order": "mdy",        or "dmy": how to read 03/05/2024
 *    "extensions": "field",      a phone extension goes to the field
 *                                "<field>_ext" ("drop": it is dropped)
 *    "fields": {"Lead Owner": "name", "Notes": "keep"},   a rule per field
 *    "infer": true}              other fields get a rule from their name
 *
 * Rules:
 *   text   trimmed, each inner run of white space one space (dp_text_clean)
 *   name   text, then name case when all one case (dp_text_name_case):
 *          "JOHN VAN DER BERG" -> "John van der Berg"
 *   email  text, a "mailto:" prefix dropped, lower-cased (ASCII)
 *   phone  E.164 (dp_phone_e164): "(555) 123-4567" -> "+15551234567"
 *   date   ISO 8601 (dp_date_iso): "Mar 5, 2024" -> "2024-03-05"
 *   lower, upper   text, then ASCII letters lower- or upper-cased
 *   keep   untouched
 * A field of "fields" may also hold a dp_validate field spec, so one
 * schema serves both jobs: {"type": "email"|"phone"|"date"} gives that
 * rule, any other type text.
 * With "infer" (the default), a field not in "fields" gets email, phone,
 * date or name from dp_kind_guess() of its name, else text; without it,
 * text.  Only strings change: numbers, booleans, null, arrays and objects
 * (and records that are not objects) are copied as they are.
 *
 * A phone or date value that does not parse, or an e-mail address that
 * dp_email_ok() rejects, is kept cleaned (trimmed, collapsed; e-mail also
 * lower-cased) and listed in "unparsed"; an empty one (after cleaning)
 * is not listed: it is missing, not malformed.  Extensions: with "field" an
 * extension is written to "<field>_ext" unless the record already has a
 * non-empty value there (then that value stays).
 *
 * Result:
 *   {"records": [...],           one per input record, same order
 *    "changes": 12,              values that changed (extensions count)
 *    "changes_by_field": {"email": 3, ...},
 *    "unparsed": [{"record": 4, "field": "phone", "value": "12",
 *                  "rule": "phone"}, ...]}
 * Keys keep their order; an extension field comes after the others.
 *
 * No global state: calls may run on several threads at once.
 */
#ifndef DP_NORMALIZE_H
#define DP_NORMALIZE_H
#include <jansson.h>

/*
 * Normalizes records (an array; borrowed) under options (borrowed; may
 * be NULL).  Returns 0 and OUT: *out, the result above (its records may
 * share unchanged values with the input); or FS_EINVAL (records is not an
 * array, or an option is malformed) with OUT: *out {"error": "why"}.
 * Either way the caller json_decref()s *out.
 */
int dp_normalize(const json_t *records, const json_t *options, json_t **out);

#endif
