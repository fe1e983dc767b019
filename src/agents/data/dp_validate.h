/*
 * dp_validate.h - the `validate` job of the data_processor agent: checks
 * every record against a schema and reports every problem of every
 * record (it never stops at the first).
 *
 * Schema (every key optional):
 *   {"fields": {
 *      "email":  {"type": "email", "required": true},
 *      "age":    {"type": "integer", "min": 0, "max": 150},
 *      "name":   {"type": "string", "required": true, "max_length": 200},
 *      "stage":  {"type": "string", "enum": ["new", "won", "lost"]},
 *      "code":   {"type": "string", "pattern": "^[A-Z]{3}[0-9]+$"},
 *      "signup": "date"},                  (a bare type name is enough)
 *    "required": ["email", "phone"],       (also required)
 *    "infer": true,                        (see below; default: no "fields")
 *    "default_country": "+1",              (for phone numbers, "US", "44"..)
 *    "date_order": "mdy",                  (or "dmy", for 03/05/2024)
 *    "max_errors": 10000}                  (longest "errors" list)
 *
 * Types: string, integer, number, boolean, email, phone, date, url, and
 * any (no check).  Records read from CSV hold only strings, so numbers
 * and booleans may be text: "42" is an integer, " 4.5 " a number,
 * "yes"/"no"/"true"/"0"/"1" booleans (also JSON 0 and 1); 42.0 is an
 * integer.  The formats are those of dp_format.h, checked on the value
 * without the blanks around it.  min/max bound integers and numbers;
 * min_length/max_length count characters (code points) of a string;
 * enum lists the allowed JSON values; pattern is a POSIX extended regular
 * expression a string must match.  A field is missing when it is absent,
 * null, or a string of only blanks: an error if required, else not
 * checked.
 *
 * Schema-less mode.  Without "fields" (or with "infer": true) every
 * field of every record that the schema does not name gets the type
 * dp_kind_guess() gives its name: email, phone, date or url (a name with
 * "Email", "Phone", "Date", "Website" ... in it), else any.  That is how
 * the data_processing workflow's {"source": ..., "required": [...]}
 * input works as a schema: the required fields must be there, and the
 * e-mail, phone, date and URL fields must hold such values.  Keys the
 * schema does not know ("source") are ignored.
 *
 * Result:
 *   {"valid": 8, "invalid": 2,
 *    "errors": [{"record": 3, "field": "email", "code": "format",
 *                "message": "not an e-mail address: 'bob@'"}, ...],
 *    "records_with_errors": [3, 7],        (ascending)
 *    "errors_by_field": {"email": 1, ...},
 *    "errors_truncated": false}            (true past max_errors)
 * Codes: required, type, format, range, length, enum, pattern; a record
 * that is not an object gives one error with field null, code "type".
 * Values are quoted in messages cut to 60 bytes.
 *
 * No global state: calls may run on several threads at once.
 */
#ifndef DP_VALIDATE_H
#define DP_VALIDATE_H
#include <jansson.h>

#define DP_VALIDATE_MAX_ERRORS 10000

/*
 * Validates records (an array; borrowed) against schema (borrowed; NULL
 * is the schema-less mode with nothing required).
 * Returns 0 and OUT: *out, the result above; or FS_EINVAL (records is
 * not an array, or the schema is malformed) with OUT: *out
 * {"error": "why"}.  Either way the caller json_decref()s *out.
 */
int dp_validate(const json_t *records, const json_t *schema, json_t **out);

#endif
