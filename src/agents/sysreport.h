/*
 * sysreport.h - one JSON snapshot of the system's health, for the
 * monitoring agent (agents/builtin/monitoring.c) and GET /v1/system/report.
 *
 *   {"at": now (ms),
 *    "queue": {"types":[{"type","pending","scheduled","running","completed",
 *                        "failed","cancelled","oldest_pending_age_ms"}],
 *              "counters":{"enqueued",…,"rescued",…}},
 *    "agents": [{"id","name","type","status","last_heartbeat_age_ms"}],
 *    "runs": {"running":n, "overdue":[ids of running runs past deadline]},
 *    "memory": {"vectors":n, "ef":default ef_search}}
 *
 * oldest_pending_age_ms is null for a type with no pending job.  "runs"
 * and "memory" are null when the service is not given.  At most
 * SYSREPORT_MAX_OVERDUE run ids are listed ("running" counts them all).
 */
#ifndef AGENTS_SYSREPORT_H
#define AGENTS_SYSREPORT_H
#include <jansson.h>
#include <stdint.h>

#include "agents/registry.h"
#include "memory/memory.h"
#include "queue/queue.h"
#include "workflow/workflow.h"

#define SYSREPORT_MAX_OVERDUE 100

/* Builds the report at time now (ms).  q and reg are required; wf and mem
 * may be NULL.  OUT: *out (a new reference).  Errors: the services'. */
int sysreport_build(queue *q, registry *reg, workflow *wf, memory *mem,
                    int64_t now, json_t **out);

/* The queue counters as JSON (also used by GET /v1/queue/stats). */
json_t *sysreport_counters(const queue_counters *c);

#endif
