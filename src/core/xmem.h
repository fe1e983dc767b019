/*
 * xmem.h - allocation that never returns NULL.
 *
 * Out-of-memory is decided once, here: the process prints a message and
 * aborts.  Ordinary code therefore never checks these results.
 */
#ifndef XMEM_H
#define XMEM_H
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
/* xstrdup(NULL) returns NULL. */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a fresh string; the caller frees it. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
