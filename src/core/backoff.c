/* backoff.c - exponential backoff with cap and jitter (see backoff.h). */
#include "core/backoff.h"

int64_t fs_backoff_delay(const fs_backoff *b, int attempts, double u)
{
    int64_t d = b->base_ms > 0 ? b->base_ms : 0;
    for (int i = 1; i < attempts && d < b->max_ms; i++) d *= 2;
    if (d > b->max_ms) d = b->max_ms;
    return d + (int64_t)((double)d * b->jitter * u);
}
