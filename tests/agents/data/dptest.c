/* dptest.c - helpers of the data_processor tests (see dptest.h). */
#include "agents/data/dptest.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

json_t *dpt_json(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &err);
    cr_assert_not_null(v, "bad JSON in the test: %s: %s", err.text, text);
    return v;
}

void dpt_expect(const json_t *got, const char *want, const char *what)
{
    json_t *w = dpt_json(want);
    if (!json_equal((json_t *)got, w)) {
        char *g =
            json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        char *x =
            json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        cr_expect(0, "%s:\n got  %s\n want %s", what, g ? g : "NULL", x);
        free(g);
        free(x);
    }
    json_decref(w);
}

const char *dpt_leads_path(void)
{
    static char path[1024];
    const char *dir = getenv("FLOWSTATE_DATA_DIR");
    snprintf(path, sizeof path, "%s/crm/datablist/leads-10000.csv",
             dir && *dir ? dir : "../shared/data");
    return access(path, R_OK) == 0 ? path : NULL;
}
