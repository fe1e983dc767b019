/* agentq.c - queue helpers of the agent tests (agentq.h). */
#include "support/agentq.h"

#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"

#define WAIT_MS 30000
#define POLL_US 2000

int64_t aq_enqueue(queue *q, const char *type, const char *target,
                   const char *payload)
{
    fs_job j = { .type = strdup(type), .target_agent = strdup(target),
                 .payload = payload ? strdup(payload) : NULL, .max_attempts = 1 };
    cr_assert_eq(queue_enqueue(q, &j, 1, NULL), 0);
    int64_t id = j.id;
    fs_job_clear(&j);
    return id;
}

fs_job aq_finished(queue *q, int64_t id)
{
    fs_job j = { 0 };
    for (int64_t until = fs_mono_ms() + WAIT_MS; fs_mono_ms() < until;) {
        fs_job_clear(&j);
        cr_assert_eq(queue_get(q, id, &j), 0);
        if (j.state == JOB_COMPLETED || j.state == JOB_FAILED) return j;
        usleep(POLL_US);
    }
    cr_assert_fail("job %lld did not finish", (long long)id);
    return j;
}
