/*
 * auth.h - who is calling: admin API keys and agent tokens.
 *
 * Every route but GET /v1/health needs "Authorization: Bearer <secret>".
 *  - Admin keys ("fsk_" + 48 hex) are stored only as hex SHA-256 with role
 *    "admin".  FLOWSTATE_API_KEY, when set, is also an admin key; its hash
 *    is held in memory and compared in constant time.
 *  - Agent tokens ("fsa_" + 48 hex) are issued by the registry; they
 *    authenticate as that agent (role AUTH_AGENT).
 * What an agent may do is decided by the route table (HTTP_AGENT) and the
 * handlers (the agent must act on itself or on jobs it leased).
 *
 * First start (auth_open): with no env key and no stored admin key, a key
 * is created, written once to the key file (mode 0600, O_EXCL; an existing
 * file is never overwritten) and only then its hash is stored.  If the
 * file already exists, is private (a regular file of this user, mode 0600)
 * and holds a well-formed key, that key is adopted; otherwise start fails.
 */
#ifndef HTTP_AUTH_H
#define HTTP_AUTH_H
#include <stdbool.h>

#include "agents/registry.h"
#include "core/model.h"
#include "store/store.h"

typedef struct auth auth;

typedef enum { AUTH_ANON, AUTH_ADMIN, AUTH_AGENT } auth_role;

typedef struct auth_principal {
    auth_role role;
    fs_agent agent; /* AUTH_AGENT: the caller's record (owned) */
} auth_principal;

typedef enum {
    AUTH_KEY_ENV,      /* FLOWSTATE_API_KEY */
    AUTH_KEY_CREATED,  /* new key written to the key file */
    AUTH_KEY_EXISTING, /* an admin key was stored earlier */
    AUTH_KEY_ADOPTED,  /* key file existed; its key is now stored */
} auth_key_source;

typedef struct auth_config {
    const char *env_key;  /* FLOWSTATE_API_KEY or NULL */
    const char *key_file; /* where a new admin key is written */
} auth_config;

/*
 * Sets up admin keys as described above.  st and reg are borrowed.
 * OUT: *out (auth_close), *source.  Errors: FS_EINVAL (empty env key),
 * FS_EIO (key file or store failure; nothing half-written).
 */
int auth_open(auth **out, store *st, registry *reg, const auth_config *cfg,
              auth_key_source *source);
void auth_close(auth *a);

/*
 * Authenticates an Authorization header value (may be NULL).
 * OUT: *p (clear with auth_principal_clear).  Errors: FS_EAUTH (missing,
 * malformed or unknown), FS_EIO.  Thread-safe.
 */
int auth_check(auth *a, const char *authorization, auth_principal *p);
void auth_principal_clear(auth_principal *p);

/* True when p may act for agent_id: an admin, or that agent itself. */
bool auth_may_act_as(const auth_principal *p, const char *agent_id);

#endif
