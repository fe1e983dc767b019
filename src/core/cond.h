/*
 * cond.h - condition variables timed on the monotonic clock, so a wall
 * clock step never stretches or cuts a wait.
 */
#ifndef COND_H
#define COND_H
#include <pthread.h>
#include <stdint.h>

/* pthread_cond_init with CLOCK_MONOTONIC. */
void fs_cond_init(pthread_cond_t *c);

/* Waits on c (m held) until signalled or the monotonic time deadline_ms
 * (fs_mono_ms()); may wake early, as every condition wait may. */
void fs_cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m,
                        int64_t deadline_ms);

#endif
