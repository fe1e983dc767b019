/*
 * vfile.h - the vector index file beside the database (<db>.vidx).
 *
 * Layout: a header {magic "FSVX", format version, the store's memory epoch,
 * dims, metric}, the HNSW index (hnsw_save), then a 64-bit checksum of
 * everything before it.  It is written to a temporary file, fsynced and
 * renamed over the old one, so a crash leaves the old file or the new one,
 * never a torn one.  At start the file is used only if it is intact, of
 * the database's space, and written at the store's current epoch (no
 * document written since); anything else means "rebuild from the store".
 */
#ifndef VFILE_H
#define VFILE_H
#include <stdint.h>

#include "memory/hnsw.h"

/* Errors: FS_EIO (nothing replaced). */
int vfile_save(const char *path, hnsw *h, int64_t epoch);

/* OUT: *out.  Errors: FS_ENOTFOUND (no file), FS_ECORRUPT (damaged or
 * truncated), FS_ECONFLICT (stale epoch or another space). */
int vfile_load(const char *path, int64_t epoch, size_t dims, vec_metric m,
               hnsw **out);

#endif
