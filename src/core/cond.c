/* cond.c - monotonic condition variable waits (see cond.h). */
#include "core/cond.h"

#include <time.h>

void fs_cond_init(pthread_cond_t *c)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
}

void fs_cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m,
                        int64_t deadline_ms)
{
    struct timespec ts = { .tv_sec = deadline_ms / 1000,
                           .tv_nsec = (deadline_ms % 1000) * 1000000 };
    pthread_cond_timedwait(c, m, &ts);
}
