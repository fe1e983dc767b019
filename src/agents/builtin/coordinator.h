/*
 * coordinator.h - the built-in `coordinator` agent type (jobs plan,
 * delegate, aggregate; see coordinator.c).
 */
#ifndef AGENTS_COORDINATOR_H
#define AGENTS_COORDINATOR_H
#include "agents/runtime.h"

extern const agent_def coordinator_agent;

#endif
