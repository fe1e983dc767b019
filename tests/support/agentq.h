/*
 * agentq.h - what the agent tests do to the queue: hand an agent a job and
 * wait for it to end.  They call from the Criterion thread only (these
 * assert).
 */
#ifndef TESTS_AGENTQ_H
#define TESTS_AGENTQ_H
#include <stdint.h>

#include "core/model.h"
#include "queue/queue.h"

/* Enqueues one job of type for target (max_attempts 1; payload NULL =
 * {}).  Returns its id. */
int64_t aq_enqueue(queue *q, const char *type, const char *target,
                   const char *payload);
/* Waits (up to 30 s, else the test fails) for job id to be completed or
 * failed; returns it (fs_job_clear it). */
fs_job aq_finished(queue *q, int64_t id);

#endif
