/* vfile.c - the checksummed, atomically replaced index file (see vfile.h). */
#include "memory/vfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/log.h"
#include "core/xmem.h"

#define MAGIC 0x58565346u /* "FSVX" */
#define VERSION 1u
#define CHUNK 65536

typedef struct vhead {
    uint32_t magic, version;
    int64_t epoch;
    uint64_t dims;
    uint32_t metric, pad;
} vhead;

/* 64-bit multiply-xor hash over 8-byte words, chunk by chunk. */
static uint64_t hash_bytes(uint64_t h, const unsigned char *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    for (; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

/* Hashes the first len bytes of f from its start.  false on a short read. */
static bool hash_file(FILE *f, long len, uint64_t *out)
{
    unsigned char *buf = xmalloc(CHUNK);
    uint64_t h = 0xcbf29ce484222325ULL;
    bool ok = fseek(f, 0, SEEK_SET) == 0;
    for (long done = 0; ok && done < len;) {
        size_t want = (size_t)(len - done < CHUNK ? len - done : CHUNK);
        ok = fread(buf, 1, want, f) == want;
        h = hash_bytes(h, buf, want);
        done += (long)want;
    }
    free(buf);
    *out = h;
    return ok;
}

static int sync_dir(const char *path)
{
    char *copy = xstrdup(path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    free(copy);
    if (fd < 0) return FS_EIO;
    int rc = fsync(fd) == 0 ? 0 : FS_EIO;
    close(fd);
    return rc;
}

int vfile_save(const char *path, hnsw *h, int64_t epoch)
{
    char *tmp = xasprintf("%s.tmp", path);
    FILE *f = fopen(tmp, "w+b");
    int rc = FS_EIO;
    if (!f) goto out;
    vhead hd = { MAGIC, VERSION, epoch, hnsw_dims(h), (uint32_t)hnsw_metric(h), 0 };
    uint64_t sum;
    if (fwrite(&hd, sizeof hd, 1, f) != 1 || hnsw_save(h, f) != 0 ||
        fflush(f) != 0)
        goto close_file;
    long len = ftell(f);
    if (len < 0 || !hash_file(f, len, &sum) || fseek(f, 0, SEEK_END) != 0 ||
        fwrite(&sum, sizeof sum, 1, f) != 1 || fflush(f) != 0 ||
        fsync(fileno(f)) != 0)
        goto close_file;
    rc = 0;
close_file:
    if (f && fclose(f) != 0) rc = FS_EIO;
    if (!rc && rename(tmp, path) != 0) rc = FS_EIO;
    if (!rc) rc = sync_dir(path);
    if (rc) {
        log_warn("memory: cannot write the index file %s: %s", path,
                 strerror(errno));
        unlink(tmp);
    }
out:
    free(tmp);
    return rc;
}

/* Checks size and checksum, then the header.  Leaves f after the header. */
static int check(FILE *f, int64_t epoch, size_t dims, vec_metric m)
{
    vhead hd;
    uint64_t sum, want;
    if (fseek(f, 0, SEEK_END) != 0) return FS_ECORRUPT;
    long size = ftell(f);
    if (size < (long)(sizeof hd + sizeof sum)) return FS_ECORRUPT;
    long body = size - (long)sizeof sum;
    if (!hash_file(f, body, &sum) || fread(&want, sizeof want, 1, f) != 1 ||
        sum != want)
        return FS_ECORRUPT;
    if (fseek(f, 0, SEEK_SET) != 0 || fread(&hd, sizeof hd, 1, f) != 1 ||
        hd.magic != MAGIC || hd.version != VERSION)
        return FS_ECORRUPT;
    if (hd.epoch != epoch || hd.dims != dims || hd.metric != (uint32_t)m)
        return FS_ECONFLICT;
    return 0;
}

int vfile_load(const char *path, int64_t epoch, size_t dims, vec_metric m,
               hnsw **out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return errno == ENOENT ? FS_ENOTFOUND : FS_EIO;
    int rc = check(f, epoch, dims, m);
    if (!rc) rc = hnsw_load(out, f);
    if (!rc && (hnsw_dims(*out) != dims || hnsw_metric(*out) != m)) {
        hnsw_close(*out);
        rc = FS_ECORRUPT;
    }
    fclose(f);
    return rc;
}
