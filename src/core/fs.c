/* fs.c - names for the FS_E* error codes (see fs.h). */
#include "core/fs.h"

const char *fs_strerror(int err)
{
    switch (err) {
    case FS_OK: return "ok";
    case FS_EINVAL: return "invalid argument";
    case FS_ENOTFOUND: return "not found";
    case FS_ECONFLICT: return "conflict";
    case FS_ELEASE: return "lease not held";
    case FS_ESTATE: return "not allowed in the current state";
    case FS_EIO: return "storage error";
    case FS_EBUSY: return "database busy";
    case FS_EAUTH: return "unauthorized";
    case FS_EFORBIDDEN: return "forbidden";
    case FS_ETOOBIG: return "too large";
    case FS_ESHUTDOWN: return "shutting down";
    case FS_ETIMEDOUT: return "timed out";
    case FS_ELIMIT: return "limit reached";
    case FS_ECORRUPT: return "corrupt data";
    }
    return "unknown error";
}
