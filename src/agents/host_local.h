/*
 * host_local.h - the agent host for agents running inside `flowstate
 * serve` (threads beside the HTTP server): the queue, the registry and the
 * memory service, called directly.
 */
#ifndef AGENTS_HOST_LOCAL_H
#define AGENTS_HOST_LOCAL_H
#include "agents/registry.h"
#include "agents/runtime.h"
#include "memory/memory.h"
#include "queue/queue.h"
#include "workflow/workflow.h"

/* The services are borrowed and must outlive the host; mem and wf may be
 * NULL (their calls then fail with FS_EINVAL).  Close with
 * agent_host_close. */
agent_host *host_local_open(queue *q, registry *reg, memory *mem, workflow *wf);

#endif
