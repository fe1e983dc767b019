/* json.c - compact JSON text with the shortest exact reals (json.h). */
#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>

/* Fewest %g digits (1..17) that read back as exactly d. */
static int real_digits(double d)
{
    char buf[40];
    for (int p = 1; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, d);
        if (strtod(buf, NULL) == d) return p;
    }
    return 17;
}

/* The most digits any real in v needs (0 when there is none). */
static int max_digits(const json_t *v)
{
    int most = 0, d;
    size_t i;
    const char *k;
    json_t *item;
    if (json_is_real(v)) return real_digits(json_real_value(v));
    if (json_is_array(v))
        json_array_foreach((json_t *)v, i, item)
            if ((d = max_digits(item)) > most) most = d;
    if (json_is_object(v))
        json_object_foreach((json_t *)v, k, item)
            if ((d = max_digits(item)) > most) most = d;
    return most;
}

char *fs_json_dump(const json_t *v, size_t flags)
{
    int digits = max_digits(v);
    if (digits) flags |= JSON_REAL_PRECISION(digits);
    return json_dumps(v, JSON_COMPACT | flags);
}
