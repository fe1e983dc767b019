/*
 * registry.h - the agent registry (the blueprint's AgentService over
 * agent_states).
 *
 * An agent registers with a name, a type, the job types it accepts and
 * free-form metadata; it gets an id ("ag_" + 16 hex) and a secret token
 * ("fsa_" + 48 hex) that is shown once and stored only as a SHA-256 hash.
 * Its status is derived from the age of its last heartbeat:
 *   age < stale_after_ms -> "online";  < offline_after_ms -> "stale";
 *   otherwise "offline".
 * Each agent has persistent JSON state kept as numbered versions: a write
 * appends version latest+1 and never overwrites; a write may require the
 * version it read (optimistic concurrency, FS_ECONFLICT when stale).
 */
#ifndef REGISTRY_H
#define REGISTRY_H
#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/model.h"
#include "store/store.h"

typedef struct registry registry;

typedef struct registry_config {
    int64_t stale_after_ms;   /* 30000 */
    int64_t offline_after_ms; /* 120000 */
} registry_config;

registry_config registry_config_default(void);

/* st and clk are borrowed (clk NULL = real clock). */
int registry_open(registry **out, store *st, const fs_clock *clk,
                  const registry_config *cfg);
void registry_close(registry *r);

/*
 * Registers an agent.  job_types: JSON array of strings (NULL = "[]");
 * metadata: JSON object (NULL = "{}"); both already validated.
 * OUT: *out (the stored record), *token (caller frees; shown once).
 * Errors: FS_EINVAL, FS_EIO.
 */
int registry_register(registry *r, const char *name, const char *type,
                      const char *job_types, const char *metadata,
                      fs_agent *out, char **token);
int registry_get(registry *r, const char *id, fs_agent *out);
int registry_list(registry *r, fs_agent **out, size_t *n);
/* Errors: FS_ENOTFOUND. */
int registry_heartbeat(registry *r, const char *id);
/* "online", "stale" or "offline" (static strings). */
const char *registry_status(registry *r, const fs_agent *a);
/* Finds the agent owning token.  Errors: FS_EAUTH. */
int registry_authenticate(registry *r, const char *token, fs_agent *out);

/* version 0 = latest.  FS_ENOTFOUND when absent. */
int registry_state_get(registry *r, const char *agent_id, int64_t version,
                       fs_agent_state *out);
/* expected_version -1 = unconditional.  Errors: FS_ENOTFOUND (agent),
 * FS_ECONFLICT (stale expected_version), FS_EINVAL. */
int registry_state_put(registry *r, const char *agent_id, const char *json,
                       int64_t expected_version, fs_agent_state *out);
int registry_state_versions(registry *r, const char *agent_id,
                            fs_agent_state **out, size_t *n);

#endif
