/*
 * dptest.h - helpers shared by the data_processor tests (tests/agents/data):
 * JSON literals, whole-value comparison with both sides shown, and where
 * the real CRM data set lives.
 */
#ifndef DPTEST_H
#define DPTEST_H
#include <jansson.h>

/* text parsed as JSON (any value); the test fails if it does not parse.
 * The caller json_decref()s it. */
json_t *dpt_json(const char *text);

/* Fails the test unless got equals the JSON in want (numbers compared
 * exactly, key order ignored); what names the value in the message. */
void dpt_expect(const json_t *got, const char *want, const char *what);

/* The path of leads-10000.csv under $FLOWSTATE_DATA_DIR (default
 * ../shared/data, relative to the source tree where the tests run), or
 * NULL when it is not there.  Static. */
const char *dpt_leads_path(void);

#endif
