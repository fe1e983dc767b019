/*
 * templates.h - the workflow templates that ship with Flowstate: the
 * JSON files in workflows/, compiled in by scripts/embed-templates.sh (the
 * Makefile generates BUILD/gen/templates.c).  `flowstate serve` registers
 * each at start (workflow_install_templates); a template is versioned like
 * any definition, and a run records the version it used.
 */
#ifndef TEMPLATES_H
#define TEMPLATES_H
#include <stddef.h>

typedef struct wf_template {
    const char *name; /* the file name without .json */
    const char *json; /* the definition */
} wf_template;

extern const wf_template wf_templates[];
extern const size_t wf_ntemplates;

#endif
