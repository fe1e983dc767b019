/*
 * fvecs.c - .fvecs / .ivecs reader and writer (see fvecs.h).
 *
 * One reader serves both formats: both store 4-byte values, so the file is
 * read as 32-bit words and only the caller's pointer type differs.  The
 * first header fixes d; the file size (fstat) must then be a multiple of
 * the record size, which catches truncation before anything is allocated
 * for a bogus count.  Values are copied straight into the output array,
 * record by record, and each header is checked against d on the way.
 * Big-endian hosts swap the words after reading; little-endian ones never
 * store through the uint32_t type, so the bytes fread wrote are read as
 * float or int32 by the caller without aliasing trouble.
 */
#include "memory/fvecs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fs.h"
#include "core/xmem.h"

static int fail(char *why, size_t whycap, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *why, size_t whycap, int err, const char *fmt, ...)
{
    if (why && whycap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whycap, fmt, ap);
        va_end(ap);
    }
    return err;
}

static uint32_t le32(uint32_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return __builtin_bswap32(v);
#else
    return v;
#endif
}

/*
 * Reads the records of f (already open, size bytes) into *out.
 * OUT: *out (caller frees), *n, *d.  Errors as fvecs_read.
 */
static int read_records(FILE *f, const char *path, long long size, size_t max_n,
                        uint32_t **out, size_t *n, size_t *d, char *why,
                        size_t whycap)
{
    *out = NULL;
    *n = *d = 0;
    if (size == 0) return 0;
    int32_t dim;
    if (size < 4 || fread(&dim, 4, 1, f) != 1)
        return fail(why, whycap, FS_ECORRUPT,
                    "%s: truncated: %lld bytes, not even one record header",
                    path, size);
    dim = (int32_t)le32((uint32_t)dim);
    if (dim <= 0 || dim > FVECS_MAX_DIMS)
        return fail(why, whycap, FS_ECORRUPT,
                    "%s: record 0 at byte 0: dimension %d is not in 1..%d",
                    path, dim, FVECS_MAX_DIMS);
    long long rec = 4 + 4 * (long long)dim;
    if (size % rec != 0)
        return fail(why, whycap, FS_ECORRUPT,
                    "%s: truncated or not this format: %lld bytes is not a "
                    "whole number of %lld-byte records (d = %d); the last "
                    "record has %lld bytes",
                    path, size, rec, dim, size % rec);
    size_t count = (size_t)(size / rec);
    if (max_n > 0 && count > max_n) count = max_n;
    uint32_t *data = xmalloc(count * (size_t)dim * 4);
    for (size_t i = 0; i < count; i++) {
        int32_t h = dim;
        if (i > 0 && fread(&h, 4, 1, f) != 1) goto short_read;
        h = (int32_t)le32((uint32_t)h);
        if (h != dim) {
            free(data);
            return fail(why, whycap, FS_ECORRUPT,
                        "%s: record %zu at byte %lld: dimension %d differs "
                        "from the first record's %d",
                        path, i, (long long)i * rec, h, dim);
        }
        if (fread(data + i * (size_t)dim, 4, (size_t)dim, f) != (size_t)dim)
            goto short_read;
    }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (size_t i = 0; i < count * (size_t)dim; i++)
        data[i] = le32(data[i]);
#endif
    *out = data;
    *n = count;
    *d = (size_t)dim;
    return 0;

short_read:
    free(data);
    if (ferror(f))
        return fail(why, whycap, FS_EIO, "%s: read error: %s", path,
                    strerror(errno));
    return fail(why, whycap, FS_ECORRUPT,
                "%s: truncated while reading (the file shrank?)", path);
}

static int read_file(const char *path, size_t max_n, uint32_t **out, size_t *n,
                     size_t *d, char *why, size_t whycap)
{
    *out = NULL;
    *n = *d = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(why, whycap, errno == ENOENT ? FS_ENOTFOUND : FS_EIO,
                    "%s: %s", path, strerror(errno));
    struct stat st;
    int rc;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
        rc = fail(why, whycap, FS_EIO, "%s: not a regular file", path);
    else
        rc = read_records(f, path, (long long)st.st_size, max_n, out, n, d, why,
                          whycap);
    fclose(f);
    return rc;
}

int fvecs_read(const char *path, size_t max_n, float **data, size_t *n,
               size_t *d, char *why, size_t whycap)
{
    uint32_t *w;
    int rc = read_file(path, max_n, &w, n, d, why, whycap);
    *data = (float *)w;
    return rc;
}

int ivecs_read(const char *path, size_t max_n, int32_t **data, size_t *n,
               size_t *d, char *why, size_t whycap)
{
    uint32_t *w;
    int rc = read_file(path, max_n, &w, n, d, why, whycap);
    *data = (int32_t *)w;
    return rc;
}

int fvecs_write(const char *path, const float *data, size_t n, size_t d)
{
    if (d == 0 || d > FVECS_MAX_DIMS) return FS_EINVAL;
    FILE *f = fopen(path, "wb");
    if (!f) return FS_EIO;
    uint32_t *rec = xmalloc(4 + 4 * d);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rec[0] = le32((uint32_t)d);
        memcpy(rec + 1, data + i * d, 4 * d);
        for (size_t j = 1; j <= d; j++)
            rec[j] = le32(rec[j]);
        if (fwrite(rec, 4, d + 1, f) != d + 1) rc = FS_EIO;
    }
    free(rec);
    if (fclose(f) != 0) rc = FS_EIO;
    return rc;
}
