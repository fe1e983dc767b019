/*
 * monitoring.h - the built-in `monitoring` agent type (jobs health_check,
 * check_metrics, optimize_performance; see monitoring.c).
 */
#ifndef AGENTS_MONITORING_H
#define AGENTS_MONITORING_H
#include "agents/runtime.h"

extern const agent_def monitoring_agent;

#endif
