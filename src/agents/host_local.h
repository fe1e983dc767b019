/*
 * host_local.h - the agent host for agents running inside `flowstate
 * serve` (threads beside the HTTP server): the queue, the registry, the
 * memory, the workflows and the evolution log, called directly.
 */
#ifndef AGENTS_HOST_LOCAL_H
#define AGENTS_HOST_LOCAL_H
#include "agents/registry.h"
#include "agents/runtime.h"
#include "evolution/evolution.h"
#include "memory/memory.h"
#include "queue/queue.h"
#include "workflow/workflow.h"

/* The services are borrowed and must outlive the host; mem, wf and evo
 * may be NULL (their calls then fail with FS_EINVAL).  Close with
 * agent_host_close. */
agent_host *host_local_open(queue *q, registry *reg, memory *mem, workflow *wf,
                            evolution *evo);

#endif
