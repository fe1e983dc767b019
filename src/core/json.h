/*
 * json.h - JSON text as Flowstate stores and sends it.
 */
#ifndef CORE_JSON_H
#define CORE_JSON_H
#include <jansson.h>
#include <stddef.h>

/*
 * json_dumps(v, JSON_COMPACT | flags) with every real in its shortest form
 * that reads back to the same double (jansson's default of 17 digits turns
 * 0.1 into 0.10000000000000001).  NULL when v cannot be encoded.  The
 * caller frees.
 */
char *fs_json_dump(const json_t *v, size_t flags);

#endif
