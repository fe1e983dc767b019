/*
 * auth.c - admin keys and agent tokens (see auth.h).
 *
 * Secrets never stay in memory longer than a request and are never logged:
 * auth_check hashes the presented secret and compares hashes.  Admin key
 * hashes found in the store are remembered in a small cache (keys cannot be
 * revoked through the API yet), so the hot path costs one SHA-256 and no
 * database round trip.  Agent tokens always go to the registry.
 */
#include "http/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/sha256.h"
#include "core/xmem.h"

#define AUTH_CACHE 8
#define ADMIN_PREFIX "fsk_"
#define ADMIN_HEX 48

struct auth {
    store *st;
    registry *reg;
    bool has_env;
    char env_hash[65];
    pthread_mutex_t lock; /* guards cache */
    char cache[AUTH_CACHE][65];
    int ncache, next;
};

/* True when s is "fsk_" followed by exactly 48 lower-case hex digits. */
static bool is_admin_key(const char *s)
{
    if (strncmp(s, ADMIN_PREFIX, 4) != 0) return false;
    s += 4;
    for (int i = 0; i < ADMIN_HEX; i++)
        if (!s[i] || !strchr("0123456789abcdef", s[i])) return false;
    return s[ADMIN_HEX] == '\0';
}

/*
 * Reads an existing key file into key (>= 64 bytes) when it holds a
 * well-formed admin key and is private: a regular file (not a symlink)
 * owned by this user that nobody else may read or write.  A key others can
 * read is no secret, and one they can write (or planted) is theirs.
 * false otherwise, with *why saying what is wrong.
 */
static bool read_key_file(const char *path, char *key, size_t cap,
                          const char **why)
{
    struct stat st;
    *why = "holds no admin key";
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP) *why = "is a symbolic link";
        return false;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_uid != geteuid() || (st.st_mode & 077)) {
        *why = "is not a private file (it must be a regular file of this "
               "user with mode 0600)";
        close(fd);
        return false;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return false;
    }
    bool ok = fgets(key, (int)cap, f) != NULL;
    fclose(f);
    if (!ok) return false;
    key[strcspn(key, "\r\n")] = '\0';
    return is_admin_key(key);
}

/*
 * Writes key + "\n" to a new file at path with mode 0600.  Never
 * overwrites: FS_ECONFLICT when the file exists.  Errors: FS_EIO (the
 * partial file is removed).
 */
static int write_key_file(const char *path, const char *key)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST) return FS_ECONFLICT;
        log_error("auth: cannot create key file %s: %s", path, strerror(errno));
        return FS_EIO;
    }
    char line[80];
    int n = snprintf(line, sizeof line, "%s\n", key);
    int rc = 0;
    if (write(fd, line, (size_t)n) != n || fsync(fd) != 0) {
        log_error("auth: cannot write key file %s: %s", path, strerror(errno));
        rc = FS_EIO;
    }
    if (close(fd) != 0 && rc == 0) rc = FS_EIO;
    if (rc) unlink(path);
    return rc;
}

/* Stores the hash of key as an admin key. */
static int store_admin(auth *a, const char *key)
{
    char hash[65];
    sha256_hex(key, hash);
    return store_key_add(a->st, "admin", hash, "admin",
                         fs_now(&fs_clock_real));
}

/*
 * No env key and no stored admin key: create one and write it to the key
 * file, or adopt the key an existing key file holds.  The hash is stored
 * only after the file is safely written, so a failure leaves no key that
 * nobody can read.  OUT: *source.
 */
static int bootstrap_key(auth *a, const char *key_file, auth_key_source *source)
{
    char key[4 + ADMIN_HEX + 1] = ADMIN_PREFIX;
    fs_random_hex(key + 4, ADMIN_HEX / 2);
    int rc = write_key_file(key_file, key);
    if (rc == FS_ECONFLICT) {
        char old[128];
        const char *why;
        if (!read_key_file(key_file, old, sizeof old, &why)) {
            fprintf(stderr,
                    "flowstate: warning: key file %s exists and %s; not "
                    "using or overwriting it. Fix or remove it, or set "
                    "FLOWSTATE_API_KEY.\n", key_file, why);
            rc = FS_EIO;
            goto wipe;
        }
        fprintf(stderr,
                "flowstate: warning: key file %s exists already; not "
                "overwriting it, its key is now the admin key\n", key_file);
        rc = store_admin(a, old);
        memset(old, 0, sizeof old);
        if (rc == 0) *source = AUTH_KEY_ADOPTED;
        goto wipe;
    }
    if (rc) goto wipe;
    rc = store_admin(a, key);
    if (rc) {
        unlink(key_file);
        goto wipe;
    }
    *source = AUTH_KEY_CREATED;
wipe:
    memset(key, 0, sizeof key);
    return rc;
}

/* Could a client ever present key as a Bearer admin key?  (See
 * bearer_token: 1..256 characters, no blanks; "fsa_" marks agent tokens.) */
static bool usable_admin_key(const char *key)
{
    size_t len = strlen(key);
    if (len == 0 || len > 256 || strncmp(key, "fsa_", 4) == 0) {
        log_error("auth: FLOWSTATE_API_KEY must be 1 to 256 characters and "
                  "must not start with fsa_ (agent tokens do)");
        return false;
    }
    for (const char *p = key; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            log_error("auth: FLOWSTATE_API_KEY must not contain blanks or "
                      "control characters");
            return false;
        }
    return true;
}

int auth_open(auth **out, store *st, registry *reg, const auth_config *cfg,
              auth_key_source *source)
{
    auth *a = xcalloc(1, sizeof *a);
    a->st = st;
    a->reg = reg;
    pthread_mutex_init(&a->lock, NULL);
    int rc = 0;
    if (cfg->env_key) {
        if (!usable_admin_key(cfg->env_key)) {
            rc = FS_EINVAL;
            goto fail;
        }
        if (strlen(cfg->env_key) < 16)
            log_warn("auth: FLOWSTATE_API_KEY is short; use 32+ random chars");
        sha256_hex(cfg->env_key, a->env_hash);
        a->has_env = true;
        *source = AUTH_KEY_ENV;
        *out = a;
        return 0;
    }
    int64_t n = 0;
    rc = store_key_count(st, "admin", &n);
    if (rc) goto fail;
    if (n > 0) {
        *source = AUTH_KEY_EXISTING;
        *out = a;
        return 0;
    }
    rc = bootstrap_key(a, cfg->key_file, source);
    if (rc) goto fail;
    *out = a;
    return 0;
fail:
    auth_close(a);
    return rc;
}

void auth_close(auth *a)
{
    if (!a) return;
    pthread_mutex_destroy(&a->lock);
    memset(a, 0, sizeof *a);
    free(a);
}

static bool cache_has(auth *a, const char *hash)
{
    bool hit = false;
    pthread_mutex_lock(&a->lock);
    for (int i = 0; i < a->ncache && !hit; i++)
        hit = fs_ct_equal(a->cache[i], hash, 64);
    pthread_mutex_unlock(&a->lock);
    return hit;
}

static void cache_add(auth *a, const char *hash)
{
    pthread_mutex_lock(&a->lock);
    memcpy(a->cache[a->next], hash, 65);
    a->next = (a->next + 1) % AUTH_CACHE;
    if (a->ncache < AUTH_CACHE) a->ncache++;
    pthread_mutex_unlock(&a->lock);
}

/* Admin check of a non-agent secret: env key, cache, then the store. */
static int check_admin(auth *a, const char *secret)
{
    char hash[65];
    sha256_hex(secret, hash);
    if (a->has_env && fs_ct_equal(hash, a->env_hash, 64)) return 0;
    if (cache_has(a, hash)) return 0;
    char *role = NULL;
    int rc = store_key_lookup(a->st, hash, &role);
    if (rc == FS_ENOTFOUND) return FS_EAUTH;
    if (rc) return rc;
    rc = strcmp(role, "admin") == 0 ? 0 : FS_EAUTH;
    free(role);
    if (rc == 0) cache_add(a, hash);
    return rc;
}

/*
 * Extracts the token of "Bearer <token>" (scheme case-insensitive).
 * OUT: *tok points into header.  false when malformed.
 */
static bool bearer_token(const char *header, const char **tok)
{
    if (!header || strncasecmp(header, "Bearer", 6) != 0) return false;
    const char *p = header + 6;
    if (*p != ' ' && *p != '\t') return false;
    while (*p == ' ' || *p == '\t') p++;
    size_t len = strcspn(p, " \t");
    if (len == 0 || len > 256 || p[len] != '\0') return false;
    *tok = p;
    return true;
}

int auth_check(auth *a, const char *authorization, auth_principal *p)
{
    const char *tok;
    memset(p, 0, sizeof *p);
    if (!bearer_token(authorization, &tok)) return FS_EAUTH;
    if (strncmp(tok, "fsa_", 4) == 0) {
        int rc = registry_authenticate(a->reg, tok, &p->agent);
        if (rc) return rc == FS_ENOTFOUND ? FS_EAUTH : rc;
        p->role = AUTH_AGENT;
        return 0;
    }
    int rc = check_admin(a, tok);
    if (rc == 0) p->role = AUTH_ADMIN;
    return rc;
}

void auth_principal_clear(auth_principal *p)
{
    fs_agent_clear(&p->agent);
    p->role = AUTH_ANON;
}

bool auth_may_act_as(const auth_principal *p, const char *agent_id)
{
    if (p->role == AUTH_ADMIN) return true;
    return p->role == AUTH_AGENT && p->agent.id && agent_id &&
           strcmp(p->agent.id, agent_id) == 0;
}
