/*
 * data_processor.h - the built-in `data_processor` agent type (validate,
 * normalize, dedupe, profile, ingest, identify_patterns, enrich; see
 * data_processor.c).
 */
#ifndef AGENTS_DATA_PROCESSOR_H
#define AGENTS_DATA_PROCESSOR_H
#include "agents/runtime.h"

extern const agent_def data_processor_agent;

#endif
