/* registry.c - agent registration, heartbeats, status and versioned state
 * (see registry.h). */
#include "agents/registry.h"

#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/sha256.h"
#include "core/rand.h"
#include "core/xmem.h"

struct registry {
    store *st;
    fs_clock clk;
    registry_config cfg;
};

registry_config registry_config_default(void)
{
    return (registry_config){ .stale_after_ms = 30000,
                              .offline_after_ms = 120000 };
}

int registry_open(registry **out, store *st, const fs_clock *clk,
                  const registry_config *cfg)
{
    registry *r = xcalloc(1, sizeof *r);
    r->st = st;
    r->clk = clk ? *clk : fs_clock_real;
    r->cfg = cfg ? *cfg : registry_config_default();
    *out = r;
    return 0;
}

void registry_close(registry *r) { free(r); }

int registry_register(registry *r, const char *name, const char *type,
                      const char *job_types, const char *metadata,
                      fs_agent *out, char **token)
{
    if (!name || !*name || !type || !*type) return FS_EINVAL;
    char id[3 + 16 + 1] = "ag_", secret[4 + 48 + 1] = "fsa_", hash[65];
    fs_random_hex(id + 3, 8);
    fs_random_hex(secret + 4, 24);
    sha256_hex(secret, hash);
    int64_t now = fs_now(&r->clk);
    fs_agent a = {
        .id = id, .name = (char *)name, .type = (char *)type,
        .job_types = (char *)(job_types ? job_types : "[]"),
        .metadata = (char *)(metadata ? metadata : "{}"),
        .created_at = now, .last_heartbeat = now,
    };
    int rc = store_agent_create(r->st, &a, hash);
    if (rc) return rc;
    if (out) {
        rc = store_agent_get(r->st, id, out);
        if (rc) return rc;
    }
    *token = xstrdup(secret);
    return 0;
}

int registry_get(registry *r, const char *id, fs_agent *out)
{
    return store_agent_get(r->st, id, out);
}

int registry_list(registry *r, fs_agent **out, size_t *n)
{
    return store_agent_list(r->st, out, n);
}

int registry_heartbeat(registry *r, const char *id)
{
    return store_agent_heartbeat(r->st, id, fs_now(&r->clk));
}

const char *registry_status(registry *r, const fs_agent *a)
{
    int64_t age = fs_now(&r->clk) - a->last_heartbeat;
    if (age < r->cfg.stale_after_ms) return "online";
    if (age < r->cfg.offline_after_ms) return "stale";
    return "offline";
}

int registry_authenticate(registry *r, const char *token, fs_agent *out)
{
    char hash[65];
    if (!token || strncmp(token, "fsa_", 4) != 0) return FS_EAUTH;
    sha256_hex(token, hash);
    int rc = store_agent_by_token(r->st, hash, out);
    return rc == FS_ENOTFOUND ? FS_EAUTH : rc;
}

int registry_state_get(registry *r, const char *agent_id, int64_t version,
                       fs_agent_state *out)
{
    if (version < 0) return FS_EINVAL;
    return store_state_get(r->st, agent_id, version, out);
}

int registry_state_put(registry *r, const char *agent_id, const char *json,
                       int64_t expected_version, fs_agent_state *out)
{
    if (!json || expected_version < -1) return FS_EINVAL;
    return store_state_put(r->st, agent_id, json, expected_version,
                           fs_now(&r->clk), out);
}

int registry_state_versions(registry *r, const char *agent_id,
                            fs_agent_state **out, size_t *n)
{
    return store_state_versions(r->st, agent_id, out, n);
}
