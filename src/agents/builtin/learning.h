/*
 * learning.h - the built-in `learning` agent type (choose_strategy,
 * record_outcome, predict_success, learn_outcome; see learning.c).
 */
#ifndef AGENTS_LEARNING_H
#define AGENTS_LEARNING_H
#include "agents/runtime.h"

extern const agent_def learning_agent;

#endif
