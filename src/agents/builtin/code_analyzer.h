/*
 * code_analyzer.h - the built-in `code_analyzer` agent type
 * (analyze_code, detect_bugs, suggest_optimizations; see code_analyzer.c).
 */
#ifndef AGENTS_CODE_ANALYZER_H
#define AGENTS_CODE_ANALYZER_H
#include "agents/runtime.h"

extern const agent_def code_analyzer_agent;

#endif
