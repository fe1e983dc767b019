/*
 * fvecs.h - reading and writing the texmex .fvecs / .ivecs formats (the
 * ANN benchmark sets: SIFT, GIST, ...), for tests, benchmarks and
 * `flowstate bench vectors`.
 *
 * A file is a sequence of records; each record is a little-endian int32
 * dimension d followed by d little-endian float32 (.fvecs) or int32
 * (.ivecs) values.  Every record of a file has the same d.  A whole file
 * is read into one row-major array (n * d values).
 *
 * Validation, before any value is trusted: d must be in 1..FVECS_MAX_DIMS;
 * the file size must be a whole number of records of 4 + 4d bytes (else it
 * is truncated or not this format); each record must repeat the first
 * record's d.  Failures give FS_ECORRUPT with a message naming the file,
 * the record and the byte offset.
 */
#ifndef FVECS_H
#define FVECS_H
#include <stddef.h>
#include <stdint.h>

#define FVECS_MAX_DIMS 65536

/* The room a message needs; a shorter buffer truncates it. */
#define FVECS_ERRLEN 512

/*
 * Reads path (.fvecs): at most max_n records (0: all).  OUT: *data (n * d
 * floats, caller frees; NULL when n is 0), *n, *d.  A file with no records
 * gives n = 0 and d = 0.  Errors: FS_ENOTFOUND (no such file), FS_EIO
 * (cannot open or read), FS_ECORRUPT (see the top); on error nothing is
 * allocated and, when why is not NULL, why holds a one-line message.
 */
int fvecs_read(const char *path, size_t max_n, float **data, size_t *n,
               size_t *d, char *why, size_t whycap);

/* The same for .ivecs (int32 values, e.g. ground-truth neighbour ids). */
int ivecs_read(const char *path, size_t max_n, int32_t **data, size_t *n,
               size_t *d, char *why, size_t whycap);

/*
 * Writes n records of d floats from data (row-major) to path, replacing
 * it.  Errors: FS_EINVAL (d is 0 or over FVECS_MAX_DIMS), FS_EIO.
 */
int fvecs_write(const char *path, const float *data, size_t n, size_t d);

#endif
