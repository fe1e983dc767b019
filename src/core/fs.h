/*
 * fs.h - the one error convention of Flowstate.
 *
 * Actions return int: 0 on success or a negative FS_E* code; fs_strerror()
 * names it.  Predicates return bool; functions returning pointers return NULL
 * on failure.  Every layer (store, queue, registry, http, cli) speaks these
 * codes; the HTTP layer maps them to status codes in one table.
 */
#ifndef FS_H
#define FS_H

#define FLOWSTATE_VERSION "0.1.0"

enum fs_err {
    FS_OK = 0,
    FS_EINVAL = -1,     /* bad argument or input */
    FS_ENOTFOUND = -2,  /* no such record */
    FS_ECONFLICT = -3,  /* version or uniqueness conflict */
    FS_ELEASE = -4,     /* lease token wrong, or lease lost */
    FS_ESTATE = -5,     /* transition not allowed from the current state */
    FS_EIO = -6,        /* storage or I/O failure */
    FS_EBUSY = -7,      /* database busy/locked past the timeout */
    FS_EAUTH = -8,      /* missing or wrong credentials */
    FS_EFORBIDDEN = -9, /* credentials valid but not allowed */
    FS_ETOOBIG = -10,   /* input over a size limit */
    FS_ESHUTDOWN = -11, /* the process is shutting down */
    FS_ETIMEDOUT = -12, /* a wait ran out */
    FS_ELIMIT = -13,    /* a rate or count limit was hit */
    FS_ECORRUPT = -14,  /* stored data is not what it should be */
};

/* Static, never NULL. */
const char *fs_strerror(int err);

#endif
